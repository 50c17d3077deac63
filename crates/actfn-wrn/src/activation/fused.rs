//! The fused CPU kernel: a compiled [`Program`] run element by element over f32 slices,
//! all of its ops (`f` and `f'` together) on one small cache-resident chunk before the
//! next, in parallel on libtorch's own threads (`team.rs`).
//!
//! Op by op, every node of a program is a pass over the whole activation tensor (tens of
//! MB for a WRN layer): memory traffic, one allocation and one libtorch dispatch per op.
//! Fused, the input is read once and `f` and `f'` are written once; the intermediates of
//! a chunk of [`LANES`] elements live in a small scratch buffer that stays in the L1
//! cache. Each op is a tight loop over the chunk's vectors of [`WIDTH`] lanes (see
//! `lanes.rs`), compiled for AVX2 with FMA and for the baseline and chosen at run time.
//! The C library's scalar transcendental functions would cost more than the memory
//! passes saved, so `vmath.rs` evaluates them on whole vectors, accurate to a few ulps
//! like libtorch's vectorised kernels.
//!
//! Each op mirrors the tensor function of `kernels.rs` (and thereby `actfn_expr::ops`):
//! the same formulas in the same f32 order, the same EPS (rounded to f32, as the scalar
//! torch sees), the same NaN and domain handling. The result of every element depends on
//! that element only, so chunking and threading never change a bit: the output is the
//! same for any thread count.

use actfn_expr::{BinaryOp, UnaryOp, EPS};
use tch::{Device, Kind, TchError, Tensor};

use std::mem::MaybeUninit;

use super::lanes::{Lanes, WIDTH};
use super::program::{Node, Program, Ref};
use super::team;
use super::vmath::{self, splat};

/// Elements per chunk of the inner loop: the scratch buffer is one chunk per node
/// (512 bytes each), so a program of a few dozen nodes stays within the L1 cache. Each op
/// still runs over eight vectors at a time, so that its dispatch is amortised; measured
/// (one thread, 2M elements, `f` and `f'`), 128 beat 256, 512 and 1,024 by 5-10%.
pub(super) const LANES: usize = 128;

/// Below this many elements a single thread does the work (waking a team costs more).
const PARALLEL_MIN: usize = 65_536;

/// Shares per thread of a parallel call: small enough that a thread slowed down by
/// something else on its core leaves its last shares to the others.
const SHARES_PER_THREAD: usize = 4;

/// The f32 EPS of the protected ops, as libtorch sees the f64 scalar on an f32 tensor.
const EPS32: f32 = EPS as f32;

/// An operand of a fused op: the input, a node's chunk, or a constant.
#[derive(Debug, Clone, Copy)]
enum Src {
    X,
    Node(usize),
    Const(f32),
}

impl From<Ref> for Src {
    fn from(r: Ref) -> Src {
        match r {
            Ref::X => Src::X,
            Ref::Const(c) => Src::Const(c as f32),
            Ref::Node(i) => Src::Node(i),
        }
    }
}

/// One op of the fused program, writing the chunk of its node.
#[derive(Debug, Clone, Copy)]
enum Op {
    Unary(UnaryOp, Src),
    Binary(BinaryOp, Src, Src),
    /// `selector * other`, 0 wherever the selector is 0 (see `Node::Masked`).
    Masked(Src, Src),
    /// Two unary ops of one operand that share their costly part, written to the nodes
    /// `[first, second]` (see [`Pair`]); stands at the first of the two nodes.
    Pair(Pair, Src, [usize; 2]),
}

/// Unary ops whose values share an elementary function, as an op and its derivative
/// often do: computed together, each from one evaluation of it, with the same bits as
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    /// `sin` and `cos`: one `sin_cos`.
    SinCos,
    /// `sinh` and `cosh`: one `e^|x|`.
    SinhCosh,
    /// `erf` and the Gaussian (erf's derivative up to a constant): one `e^(-x^2)`.
    ErfGaussian,
    /// `sinc` and its derivative: one `sin_cos`.
    SincDSinc,
    /// `softplus` and the sigmoid (softplus' derivative): one `e^x`.
    SoftplusSigmoid,
}

impl Pair {
    const ALL: [Pair; 5] = [
        Pair::SinCos,
        Pair::SinhCosh,
        Pair::ErfGaussian,
        Pair::SincDSinc,
        Pair::SoftplusSigmoid,
    ];

    /// The two ops, in the order of the pair's nodes.
    fn ops(self) -> [UnaryOp; 2] {
        match self {
            Pair::SinCos => [UnaryOp::Sin, UnaryOp::Cos],
            Pair::SinhCosh => [UnaryOp::Sinh, UnaryOp::Cosh],
            Pair::ErfGaussian => [UnaryOp::Erf, UnaryOp::Gaussian],
            Pair::SincDSinc => [UnaryOp::Sinc, UnaryOp::DSinc],
            Pair::SoftplusSigmoid => [UnaryOp::Softplus, UnaryOp::Sigmoid],
        }
    }

    /// The pair `op` belongs to, its partner op, and whether `op` is the pair's first.
    fn of(op: UnaryOp) -> Option<(Pair, UnaryOp, bool)> {
        Pair::ALL.into_iter().find_map(|pair| match pair.ops() {
            [p, q] if p == op => Some((pair, q, true)),
            [p, q] if q == op => Some((pair, p, false)),
            _ => None,
        })
    }
}

/// A program ready for fused evaluation of some of its values.
#[derive(Debug, Clone)]
pub(super) struct Fused {
    /// `(node, op)` for every node the outputs need, in topological order.
    ops: Vec<(usize, Op)>,
    /// Number of nodes of the program (the scratch buffer holds one chunk per node).
    nodes: usize,
    outputs: Vec<Src>,
}

/// One thread's part of a call: a range of the input and the same range of each output.
type Share<'a> = (&'a [f32], Vec<&'a mut [MaybeUninit<f32>]>);

/// A chunk operand resolved against the buffers: lanes or a scalar.
#[derive(Clone, Copy)]
enum Val<'a> {
    Slice(&'a [Lanes]),
    Scalar(f32),
}

/// `out = body(v)` for every vector `v` of `a`. A macro, not a function taking a closure:
/// the body must be compiled inside the instruction-set entry point of `Fused`, and a
/// function item passed as a closure may be called through an out-of-line shim compiled
/// for the baseline.
macro_rules! map1 {
    ($a:expr, $out:expr, |$v:ident| $body:expr) => {
        for (o, &$v) in $out.iter_mut().zip($a) {
            *o = $body;
        }
    };
}

/// `out = body(u, v)` lane-wise over two operands, specialised on which is a scalar.
macro_rules! map2 {
    ($a:expr, $b:expr, $out:expr, |$u:ident, $v:ident| $body:expr) => {
        match ($a, $b) {
            (Val::Slice(a), Val::Slice(b)) => {
                for ((o, &$u), &$v) in $out.iter_mut().zip(a).zip(b) {
                    *o = $body;
                }
            }
            (Val::Slice(a), Val::Scalar(c)) => {
                let $v = splat(c);
                map1!(a, $out, |$u| $body)
            }
            (Val::Scalar(c), Val::Slice(b)) => {
                let $u = splat(c);
                map1!(b, $out, |$v| $body)
            }
            (Val::Scalar(c), Val::Scalar(d)) => {
                let ($u, $v) = (splat(c), splat(d));
                $out.fill($body)
            }
        }
    };
}

impl Fused {
    /// Compiles the values `outputs` of `program`.
    pub(super) fn new(program: &Program, outputs: &[Ref]) -> Fused {
        Fused::compile(program, outputs, true)
    }

    /// [`Fused::new`] with every op on its own, no [`Pair`]s: what pairs must equal.
    #[cfg(test)]
    pub(super) fn unpaired(program: &Program, outputs: &[Ref]) -> Fused {
        Fused::compile(program, outputs, false)
    }

    /// Number of [`Op::Pair`]s.
    #[cfg(test)]
    pub(super) fn pairs(&self) -> usize {
        self.ops
            .iter()
            .filter(|(_, op)| matches!(op, Op::Pair(..)))
            .count()
    }

    fn compile(program: &Program, outputs: &[Ref], pairs: bool) -> Fused {
        let n = program.nodes.len();
        let mut needed = vec![false; n];
        for r in outputs {
            if let Ref::Node(i) = r {
                needed[*i] = true;
            }
        }
        for i in (0..n).rev() {
            if !needed[i] {
                continue;
            }
            let mut mark = |r: Ref| {
                if let Ref::Node(j) = r {
                    needed[j] = true;
                }
            };
            match program.nodes[i] {
                Node::Unary(_, a) => mark(a),
                Node::Binary(_, a, b) | Node::Masked(a, b) => {
                    mark(a);
                    mark(b);
                }
            }
        }
        let mut ops: Vec<(usize, Op)> = (0..n)
            .filter(|&i| needed[i])
            .map(|i| {
                let op = match program.nodes[i] {
                    Node::Unary(op, a) => Op::Unary(op, a.into()),
                    Node::Binary(op, a, b) => Op::Binary(op, a.into(), constant_operand(op, b)),
                    Node::Masked(s, g) => Op::Masked(s.into(), g.into()),
                };
                (i, op)
            })
            .collect();
        if pairs {
            pair_up(&mut ops, program);
        }
        Fused {
            ops,
            nodes: n,
            outputs: outputs.iter().map(|&r| r.into()).collect(),
        }
    }

    /// Whether `x` can take the fused path: a CPU f32 tensor.
    pub(super) fn accepts(x: &Tensor) -> bool {
        x.device() == Device::Cpu && x.kind() == Kind::Float
    }

    /// The outputs at `x` (a CPU f32 tensor, see [`Fused::accepts`]), as new tensors of
    /// `x`'s shape, without autograd. Runs on `tch::get_num_threads()` threads.
    pub(super) fn run(&self, x: &Tensor) -> Result<Vec<Tensor>, TchError> {
        let shape = x.size();
        let n = x.numel();
        let flat = x.f_detach()?.f_contiguous()?.f_view([-1])?;
        let mut outs: Vec<Tensor> = self
            .outputs
            .iter()
            .map(|_| Tensor::f_empty([n as i64], (Kind::Float, Device::Cpu)))
            .collect::<Result<_, _>>()?;
        if n > 0 {
            let input = f32_data(&flat);
            let outputs: Vec<&mut [MaybeUninit<f32>]> = outs.iter_mut().map(f32_data_mut).collect();
            let threads =
                (tch::get_num_threads().max(1) as usize).min(n.div_ceil(PARALLEL_MIN).max(1));
            if threads <= 1 {
                let mut outputs = outputs;
                self.run_slices(input, &mut outputs);
            } else {
                // Contiguous ranges, a few per thread (taken by whichever thread is
                // free), cut at chunk boundaries; every element is computed the same
                // wherever the cuts fall.
                let per = n.div_ceil(threads * SHARES_PER_THREAD).div_ceil(LANES) * LANES;
                let mut parts: Vec<Share<'_>> =
                    input.chunks(per).map(|x| (x, Vec::new())).collect();
                for out in outputs {
                    for (part, piece) in parts.iter_mut().zip(out.chunks_mut(per)) {
                        part.1.push(piece);
                    }
                }
                team::run_shares(threads, parts, |(x, mut ys)| self.run_slices(x, &mut ys));
            }
        }
        outs.into_iter()
            .map(|t| t.f_view(shape.as_slice()))
            .collect()
    }

    /// Computes the outputs at `x` into `ys` (each as long as `x`) with the widest
    /// instruction set this CPU has.
    fn run_slices(&self, x: &[f32], ys: &mut [&mut [MaybeUninit<f32>]]) {
        self.run_slices_on(Isa::detected(), x, ys)
    }

    /// The outputs at `x` computed with `isa` (which this CPU must have), as bits.
    #[cfg(test)]
    #[allow(unsafe_code)]
    pub(super) fn run_on_slice(&self, isa: Isa, x: &[f32]) -> Vec<Vec<u32>> {
        let mut outs: Vec<Vec<MaybeUninit<f32>>> = self
            .outputs
            .iter()
            .map(|_| vec![MaybeUninit::uninit(); x.len()])
            .collect();
        let mut slices: Vec<&mut [MaybeUninit<f32>]> =
            outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        self.run_slices_on(isa, x, &mut slices);
        outs.into_iter()
            // SAFETY: `run_slices_on` wrote every element.
            .map(|o| {
                o.into_iter()
                    .map(|v| unsafe { v.assume_init() }.to_bits())
                    .collect()
            })
            .collect()
    }

    /// [`Fused::run_slices`] on the instruction set `isa`, which this CPU must have.
    #[allow(unsafe_code)]
    pub(super) fn run_slices_on(&self, isa: Isa, x: &[f32], ys: &mut [&mut [MaybeUninit<f32>]]) {
        assert!(isa.is_available(), "{isa:?} is not available on this CPU");
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            Isa::Avx2 => unsafe { self.run_slices_avx2(x, ys) },
            Isa::Baseline => self.run_slices_inline(x, ys),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_slices_avx2(&self, x: &[f32], ys: &mut [&mut [MaybeUninit<f32>]]) {
        self.run_slices_inline(x, ys)
    }

    /// The chunk loop, inlined into each instruction set's entry point above so that the
    /// lane loops of `lanes.rs` compile to that set's vector instructions.
    #[inline(always)]
    fn run_slices_inline(&self, x: &[f32], ys: &mut [&mut [MaybeUninit<f32>]]) {
        const W: usize = LANES / WIDTH;
        let zero = splat(0.0);
        let mut xs = vec![zero; W];
        let mut scratch = vec![zero; self.nodes.max(1) * W];
        for (c, xc) in x.chunks(LANES).enumerate() {
            let len = xc.len();
            let m = len.div_ceil(WIDTH);
            // A short last chunk computes a few padding lanes too; they are not copied out.
            for (k, v) in xs[..m].iter_mut().enumerate() {
                let part = &xc[k * WIDTH..len.min((k + 1) * WIDTH)];
                v.0[..part.len()].copy_from_slice(part);
                v.0[part.len()..].fill(0.0);
            }
            let xv = &xs[..m];
            self.chunk(xv, &mut scratch);
            for (src, y) in self.outputs.iter().zip(ys.iter_mut()) {
                let y = &mut y[c * LANES..c * LANES + len];
                match *src {
                    Src::X => write(y, xc),
                    Src::Const(v) => y.iter_mut().for_each(|d| {
                        d.write(v);
                    }),
                    Src::Node(i) => {
                        for (k, d) in y.chunks_mut(WIDTH).enumerate() {
                            write(d, &scratch[i * W + k].0[..d.len()]);
                        }
                    }
                }
            }
        }
    }

    /// Runs every op on one chunk `x` (at most [`LANES`] elements).
    #[inline(always)]
    fn chunk(&self, x: &[Lanes], scratch: &mut [Lanes]) {
        const W: usize = LANES / WIDTH;
        let m = x.len();
        for &(i, op) in &self.ops {
            // Operands are earlier nodes: below node i in the buffer.
            let (done, rest) = scratch.split_at_mut(i * W);
            let val = |s: Src| -> Val<'_> {
                match s {
                    Src::X => Val::Slice(x),
                    Src::Const(c) => Val::Scalar(c),
                    Src::Node(j) => Val::Slice(&done[j * W..j * W + m]),
                }
            };
            match op {
                Op::Unary(op, a) => match val(a) {
                    Val::Slice(a) => {
                        unary(op, a, &mut rest[..m]);
                    }
                    // Unary ops of constants are folded; kept total.
                    Val::Scalar(c) => {
                        let v = unary(op, &[splat(c)], &mut [splat(0.0)]);
                        rest[..m].fill(v);
                    }
                },
                Op::Binary(op, a, b) => binary(op, val(a), val(b), &mut rest[..m]),
                Op::Masked(s, g) => {
                    let (s, g) = (val(s), val(g));
                    let out = &mut rest[..m];
                    map2!(s, g, out, |s, g| s.eq(splat(0.0)).select(s, s * g));
                }
                Op::Pair(pair, a, [first, second]) => {
                    // Both nodes are at or after node i: `rest` holds them.
                    let Val::Slice(a) = val(a) else {
                        unreachable!("pairs are only formed over X or a node");
                    };
                    let (lo, hi) = rest.split_at_mut((first.max(second) - i) * W);
                    let (p, q) = (&mut lo[(first.min(second) - i) * W..][..m], &mut hi[..m]);
                    let (p, q) = if first < second { (p, q) } else { (q, p) };
                    pair_values(pair, a, p, q);
                }
            }
        }
    }
}

/// The elements of a contiguous CPU f32 tensor with at least one element.
#[allow(unsafe_code)]
fn f32_data(t: &Tensor) -> &[f32] {
    assert!(t.is_contiguous() && t.kind() == Kind::Float && t.device() == Device::Cpu);
    let n = t.numel();
    assert!(n > 0);
    // SAFETY: the tensor is a contiguous CPU f32 tensor of `n > 0` elements, so
    // `data_ptr` (storage offset included) is non-null, aligned for f32 and valid for `n`
    // reads. The slice borrows `t`, which keeps the storage alive; nothing writes it
    // meanwhile: the fused kernel only reads its input, and libtorch runs no op on it
    // while this call, which holds the tensor, is running.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, n) }
}

/// Copies `src` into `dst` (of the same length).
#[inline(always)]
fn write(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
}

/// The (possibly uninitialised) elements of a contiguous CPU f32 tensor with at least
/// one element that nothing else refers to (a fresh `Tensor::empty`), for writing.
#[allow(unsafe_code)]
fn f32_data_mut(t: &mut Tensor) -> &mut [MaybeUninit<f32>] {
    assert!(t.is_contiguous() && t.kind() == Kind::Float && t.device() == Device::Cpu);
    let n = t.numel();
    assert!(n > 0);
    // SAFETY: as in `f32_data`, the pointer is valid and aligned for `n` f32s. The tensor
    // was just allocated by `Fused::run` and no other handle or view of its storage
    // exists, so this exclusive borrow is the only access until it ends. The memory is
    // allocated but not initialised, hence `MaybeUninit`: it is only written.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut MaybeUninit<f32>, n) }
}

/// The right operand of `op` as a fused source: a constant divisor is `c + EPS` folded
/// in f64 and rounded once, as `div_scalar(c + EPS)` hands it to libtorch.
fn constant_operand(op: BinaryOp, b: Ref) -> Src {
    match (op, b) {
        (BinaryOp::Div, Ref::Const(c)) => Src::Const((c + EPS) as f32),
        (_, b) => b.into(),
    }
}

/// Replaces each two unary ops of [`Pair`] over the same operand (the input or a node)
/// by one [`Op::Pair`] at the earlier node.
fn pair_up(ops: &mut Vec<(usize, Op)>, program: &Program) {
    let unary_of = |node: usize| match program.nodes[node] {
        Node::Unary(op, a @ (Ref::X | Ref::Node(_))) => Some((op, a)),
        _ => None,
    };
    let mut paired = vec![false; program.nodes.len()];
    let mut replaced = Vec::new();
    for (k, &(i, _)) in ops.iter().enumerate() {
        let Some((op, a)) = unary_of(i) else { continue };
        if paired[i] {
            continue;
        }
        let Some((pair, partner_op, first)) = Pair::of(op) else {
            continue;
        };
        let partner = ops[k + 1..]
            .iter()
            .map(|&(j, _)| j)
            .find(|&j| !paired[j] && unary_of(j) == Some((partner_op, a)));
        if let Some(j) = partner {
            paired[i] = true;
            paired[j] = true;
            let nodes = if first { [i, j] } else { [j, i] };
            replaced.push((k, Op::Pair(pair, a.into(), nodes)));
        }
    }
    for (k, op) in replaced {
        ops[k].1 = op;
    }
    // The later node of each pair is written by the pair's op.
    ops.retain(|(i, op)| !paired[*i] || matches!(op, Op::Pair(..)));
}

/// The two values of `pair` at `a`, into `p` and `q` (the pair's nodes in order).
#[inline(always)]
fn pair_values(pair: Pair, a: &[Lanes], p: &mut [Lanes], q: &mut [Lanes]) {
    let outs = p.iter_mut().zip(q.iter_mut()).zip(a);
    match pair {
        Pair::SinCos => {
            for ((p, q), &v) in outs {
                (*p, *q) = vmath::sin_cos(v);
            }
        }
        Pair::SinhCosh => {
            for ((p, q), &v) in outs {
                let e = vmath::exp(v.abs());
                (*p, *q) = (vmath::sinh_of(v, e), vmath::cosh_of(v, e));
            }
        }
        Pair::ErfGaussian => {
            for ((p, q), &v) in outs {
                let g = vmath::gaussian(v);
                (*p, *q) = (vmath::erf_of(v, g), g);
            }
        }
        Pair::SincDSinc => {
            for ((p, q), &v) in outs {
                let sc = vmath::sin_cos(v.eq(splat(0.0)).select(splat(1.0), v));
                (*p, *q) = (sinc_of(v, sc), dsinc_of(v, sc));
            }
        }
        Pair::SoftplusSigmoid => {
            for ((p, q), &v) in outs {
                let e = vmath::exp(v);
                (*p, *q) = (vmath::softplus_of(v, e), vmath::sigmoid_of(v, e));
            }
        }
    }
}

/// Lanes where either operand is NaN get NaN, as `maximum`/`minimum`/`clamp` give.
#[inline(always)]
fn nan_of(a: Lanes, b: Lanes, y: Lanes) -> Lanes {
    (a.is_nan() | b.is_nan()).select(splat(f32::NAN), y)
}

/// `sin(x) / x`, 1 at 0.
#[inline(always)]
fn sinc(v: Lanes) -> Lanes {
    sinc_of(v, vmath::sin_cos(v.eq(splat(0.0)).select(splat(1.0), v)))
}

/// [`sinc`] from `sin_cos` of `v` with its zero lanes set to 1 (shared with [`dsinc_of`]).
#[inline(always)]
fn sinc_of(v: Lanes, (sn, _): (Lanes, Lanes)) -> Lanes {
    let zero = v.eq(splat(0.0));
    let safe = zero.select(splat(1.0), v);
    zero.select(splat(1.0), sn / safe)
}

/// `(cos(x) - sin(x) / x) / x`, by its Taylor series below `|x| = 0.5`, as `kernels::dsinc`.
#[inline(always)]
fn dsinc(v: Lanes) -> Lanes {
    dsinc_of(v, vmath::sin_cos(v.eq(splat(0.0)).select(splat(1.0), v)))
}

/// [`dsinc`] from `sin_cos` of `v` with its zero lanes set to 1 (only the lanes of
/// magnitude 0.5 and above use it).
#[inline(always)]
fn dsinc_of(v: Lanes, (sn, cs): (Lanes, Lanes)) -> Lanes {
    let small = v.abs().lt(splat(0.5));
    let safe = small.select(splat(1.0), v);
    let d = (cs - sn / safe) / safe;
    let x2 = v * v;
    let s = x2 * splat((1.0 / 45360.0f64) as f32) + splat((-1.0 / 840.0f64) as f32);
    let s = s * x2 + splat((1.0 / 30.0f64) as f32);
    let s = (s * x2 + splat((-1.0 / 3.0f64) as f32)) * v;
    small.select(s, d)
}

/// `sign(x)` in `{-1, 0, 1}`, NaN kept.
#[inline(always)]
fn sign(v: Lanes) -> Lanes {
    let y = v
        .gt(splat(0.0))
        .select(splat(1.0), v.lt(splat(0.0)).select(splat(-1.0), splat(0.0)));
    v.is_nan().select(v, y)
}

/// `1` for `x > 0`, else `0`, NaN kept.
#[inline(always)]
fn step(v: Lanes) -> Lanes {
    let y = v.gt(splat(0.0)).select(splat(1.0), splat(0.0));
    v.is_nan().select(v, y)
}

/// `max(x, 0)`, NaN kept.
#[inline(always)]
fn relu(v: Lanes) -> Lanes {
    (v.gt(splat(0.0)) | v.is_nan()).select(v, splat(0.0))
}

/// `min(x, 0)`, NaN kept.
#[inline(always)]
fn min_zero(v: Lanes) -> Lanes {
    (v.lt(splat(0.0)) | v.is_nan()).select(v, splat(0.0))
}

/// `op(a)` lane-wise, as the tensor function of `kernels.rs`. Returns the first lane's
/// value of the first output vector, for constant operands.
#[inline(always)]
fn unary(op: UnaryOp, a: &[Lanes], out: &mut [Lanes]) -> Lanes {
    match op {
        UnaryOp::Zero => out.fill(splat(0.0)),
        UnaryOp::One => out.fill(splat(1.0)),
        UnaryOp::Identity => out.copy_from_slice(a),
        UnaryOp::Neg => map1!(a, out, |v| vmath::neg(v)),
        UnaryOp::Abs => map1!(a, out, |v| v.abs()),
        UnaryOp::Square => map1!(a, out, |v| v * v),
        UnaryOp::Cube => map1!(a, out, |v| v * v * v),
        UnaryOp::Sqrt => map1!(a, out, |v| v.sqrt()),
        UnaryOp::Exp => map1!(a, out, |v| vmath::exp(v)),
        UnaryOp::Gaussian => map1!(a, out, |v| vmath::gaussian(v)),
        UnaryOp::Softplus => map1!(a, out, |v| vmath::softplus(v)),
        UnaryOp::LogAbs => map1!(a, out, |v| vmath::ln((v + splat(EPS32)).abs())),
        UnaryOp::Sin => map1!(a, out, |v| vmath::sin_cos(v).0),
        UnaryOp::Sinh => map1!(a, out, |v| vmath::sinh(v)),
        UnaryOp::Asinh => map1!(a, out, |v| vmath::asinh(v)),
        UnaryOp::Cos => map1!(a, out, |v| vmath::sin_cos(v).1),
        UnaryOp::Cosh => map1!(a, out, |v| vmath::cosh(v)),
        UnaryOp::Tanh => map1!(a, out, |v| vmath::tanh(v)),
        UnaryOp::Atan => map1!(a, out, |v| vmath::atan(v)),
        UnaryOp::Atanh => map1!(a, out, |v| vmath::atanh(v)),
        UnaryOp::Relu => map1!(a, out, |v| relu(v)),
        UnaryOp::MinZero => map1!(a, out, |v| min_zero(v)),
        UnaryOp::Sigmoid => map1!(a, out, |v| vmath::sigmoid(v)),
        UnaryOp::Erf => map1!(a, out, |v| vmath::erf(v)),
        UnaryOp::Sinc => map1!(a, out, |v| sinc(v)),
        UnaryOp::Sign => map1!(a, out, |v| sign(v)),
        UnaryOp::Step => map1!(a, out, |v| step(v)),
        UnaryOp::Recip => map1!(a, out, |v| splat(1.0) / v),
        UnaryOp::DSinc => map1!(a, out, |v| dsinc(v)),
    }
    out[0]
}

/// `op(a, b)` lane-wise, as the tensor function of `kernels.rs`. A constant divisor
/// arrives with EPS already added (see [`constant_operand`]).
#[inline(always)]
fn binary(op: BinaryOp, a: Val<'_>, b: Val<'_>, out: &mut [Lanes]) {
    match op {
        BinaryOp::Add => map2!(a, b, out, |u, v| u + v),
        BinaryOp::Sub => map2!(a, b, out, |u, v| u - v),
        BinaryOp::Mul => map2!(a, b, out, |u, v| u * v),
        BinaryOp::Div => match b {
            Val::Scalar(_) => map2!(a, b, out, |u, d| u / d),
            Val::Slice(_) => map2!(a, b, out, |u, v| u / (v + splat(EPS32))),
        },
        BinaryOp::Max => map2!(a, b, out, |u, v| nan_of(u, v, u.gt(v).select(u, v))),
        BinaryOp::Min => map2!(a, b, out, |u, v| nan_of(u, v, u.lt(v).select(u, v))),
    }
}

/// The instruction sets the fused chunk loop is compiled for. Each gives the same bits
/// (see `lanes.rs`); the widest one the CPU has is used.
///
/// There is no AVX-512 entry: compiled for `avx512f` at opt-level 3 (rustc 1.95), the
/// chunk loop gave wrong values (`sinh(-0.777)` as `-4e-40`, subnormal garbage in
/// `atan(min(x, 0))` that also slowed every later op by microcode assists), while the same
/// loop at opt-level 1 and the AVX2 and baseline loops at 3 agree bit for bit; the test
/// `fused_instruction_sets_give_identical_bits` checks each entry against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isa {
    /// 256-bit vectors and fused multiply-adds (x86-64 with AVX2 and FMA: every AVX2
    /// processor of Intel's and AMD's).
    Avx2,
    /// What the target guarantees: SSE2 on x86-64, plain code elsewhere.
    Baseline,
}

impl Isa {
    /// Every instruction set, widest first.
    pub(super) const ALL: [Isa; 2] = [Isa::Avx2, Isa::Baseline];

    /// The widest instruction set this CPU has (`is_x86_feature_detected!` caches the
    /// CPU's answer).
    pub(super) fn detected() -> Isa {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Baseline)
    }

    /// Whether this CPU can run the loop compiled for `self`.
    pub(super) fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
            Isa::Baseline => true,
        }
    }
}
