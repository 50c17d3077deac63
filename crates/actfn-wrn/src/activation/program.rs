//! The compiled form of an activation: a straight-line program over the input, with
//! shared subexpressions merged, constants folded, strong-zero products in derivatives, and
//! a runner that reuses intermediates in place.

use std::collections::HashMap;

use actfn_expr::{BinaryOp, Expr, UnaryOp};
use tch::{TchError, Tensor};

use super::kernels::{binary, masked_mul, unary, Arg};

/// Elements per slice of a chunked CPU run: 16 MiB of f32, below glibc's mmap threshold
/// (32 MiB), so that intermediates come from the allocator's free lists instead of fresh
/// pages. Smaller slices fit the cache better but pay libtorch's per-op threading
/// overhead more often, which costs more than it saves (measured on WRN-16-4 with 1 and 2
/// threads: 2^22 was the fastest of 2^18..2^22 and whole tensors, and by far the least
/// hurt by a busy machine; 2^20 keeps the peak memory lower, 1.04x ReLU's against 1.27x).
pub(super) const CHUNK: i64 = 1 << 22;

/// A reference to a value of the program: the input, a folded constant, or a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ref {
    X,
    Const(f64),
    Node(usize),
}

/// One op of the program over earlier values; never both operands constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Node {
    Unary(UnaryOp, Ref),
    Binary(BinaryOp, Ref, Ref),
    /// `selector * other` with a strong zero: 0 wherever the selector is 0, even where
    /// `other` is infinite or NaN. Only derivatives use it (see [`Program::add_derivative`]).
    Masked(Ref, Ref),
}

/// Hash key of a node: constants by their bits, so that identical subtrees merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    X,
    Const(u64),
    Node(usize),
}

impl From<Ref> for Key {
    fn from(r: Ref) -> Key {
        match r {
            Ref::X => Key::X,
            Ref::Const(c) => Key::Const(c.to_bits()),
            Ref::Node(i) => Key::Node(i),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NodeKey {
    Unary(UnaryOp, Key),
    Binary(BinaryOp, Key, Key),
    Masked(Key, Key),
}

/// A straight-line program in topological order (operands precede their users).
#[derive(Debug, Clone, Default)]
pub(super) struct Program {
    pub(super) nodes: Vec<Node>,
    index: HashMap<NodeKey, usize>,
}

impl Program {
    /// Adds `expr`, merging it with what is already there; returns its value.
    pub(super) fn add(&mut self, expr: &Expr) -> Ref {
        self.add_with(expr, false)
    }

    /// Adds a derivative expression. Its products of a *selector* (a factor made of
    /// `step`/`sign` that is exactly 0 where a branch is inactive: `relu'`, the weights of
    /// `max`/`min`) with a factor that may be infinite or NaN become strong-zero products,
    /// as autograd's masked backward rules (`threshold_backward`, `maximum`'s) are: the
    /// derivative of `sqrt(relu(x))` is 0, not `inf * 0 = NaN`, for `x <= 0`.
    pub(super) fn add_derivative(&mut self, expr: &Expr) -> Ref {
        self.add_with(expr, true)
    }

    fn add_with(&mut self, expr: &Expr, derivative: bool) -> Ref {
        match expr {
            Expr::X => Ref::X,
            Expr::Const(c) => Ref::Const(c.0),
            Expr::Unary(op, a) => {
                let a = self.add_with(a, derivative);
                self.unary(*op, a)
            }
            Expr::Binary(op, a, b) => {
                let a = self.add_with(a, derivative);
                let b = self.add_with(b, derivative);
                if derivative && *op == BinaryOp::Mul {
                    if self.is_selector(a) && self.may_blow_up(b) {
                        return self.push(Node::Masked(a, b));
                    }
                    if self.is_selector(b) && self.may_blow_up(a) {
                        return self.push(Node::Masked(b, a));
                    }
                }
                self.binary(*op, a, b)
            }
        }
    }

    /// Whether `r` is built from `step`/`sign` by negation and affine maps with constants,
    /// so that it is exactly 0 on whole regions.
    fn is_selector(&self, r: Ref) -> bool {
        let Ref::Node(i) = r else { return false };
        match self.nodes[i] {
            Node::Unary(UnaryOp::Step | UnaryOp::Sign, _) => true,
            Node::Unary(UnaryOp::Neg, a) => self.is_selector(a),
            Node::Binary(BinaryOp::Mul | BinaryOp::Add | BinaryOp::Sub, a, Ref::Const(_))
            | Node::Binary(BinaryOp::Mul | BinaryOp::Add | BinaryOp::Sub, Ref::Const(_), a) => {
                self.is_selector(a)
            }
            Node::Masked(a, b) => self.is_selector(a) && self.is_selector(b),
            _ => false,
        }
    }

    /// For node `j = c + n` (either order) with a constant `c > 0` and `n >= 0` (or NaN):
    /// `n`.
    fn positive_shift(&self, j: usize) -> Option<Ref> {
        let (c, n) = match self.nodes[j] {
            Node::Binary(BinaryOp::Add, Ref::Const(c), n)
            | Node::Binary(BinaryOp::Add, n, Ref::Const(c)) => (c, n),
            _ => return None,
        };
        let Ref::Node(k) = n else { return None };
        let nonneg = matches!(self.nodes[k], Node::Unary(op, _) if op.is_nonnegative());
        (c > 0.0 && nonneg).then_some(n)
    }

    /// Whether `r` may be infinite or NaN for a finite `x`.
    fn may_blow_up(&self, r: Ref) -> bool {
        match r {
            Ref::X => false,
            Ref::Const(c) => !c.is_finite(),
            Ref::Node(i) => match self.nodes[i] {
                // 1 / (c + n) with c > 0 and n >= 0 stays finite (or NaN with n).
                Node::Unary(UnaryOp::Recip, Ref::Node(j)) if self.positive_shift(j).is_some() => {
                    self.may_blow_up(self.positive_shift(j).expect("checked"))
                }
                Node::Unary(op, a) => match op {
                    UnaryOp::Sqrt
                    | UnaryOp::Exp
                    | UnaryOp::Sinh
                    | UnaryOp::Cosh
                    | UnaryOp::LogAbs
                    | UnaryOp::Atanh
                    | UnaryOp::Recip => true,
                    _ => self.may_blow_up(a),
                },
                Node::Binary(BinaryOp::Div, ..) => true,
                Node::Binary(_, a, b) | Node::Masked(a, b) => {
                    self.may_blow_up(a) || self.may_blow_up(b)
                }
            },
        }
    }

    fn unary(&mut self, op: UnaryOp, a: Ref) -> Ref {
        match (op, a) {
            // Constant ops ignore their argument, whatever it is (even NaN), as in f64.
            (UnaryOp::Zero, _) => Ref::Const(0.0),
            (UnaryOp::One, _) => Ref::Const(1.0),
            (UnaryOp::Identity, a) => a,
            (op, Ref::Const(c)) => Ref::Const(op.eval(c)),
            // -(-a) = a exactly.
            (UnaryOp::Neg, Ref::Node(i))
                if matches!(self.nodes[i], Node::Unary(UnaryOp::Neg, _)) =>
            {
                match self.nodes[i] {
                    Node::Unary(_, inner) => inner,
                    _ => unreachable!("matched above"),
                }
            }
            (op, a) => self.push(Node::Unary(op, a)),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: Ref, b: Ref) -> Ref {
        match (op, a, b) {
            (op, Ref::Const(x), Ref::Const(y)) => Ref::Const(op.eval(x, y)),
            // Exact identities only: a + 0, a - 0, a * 1, 1 * a. (a * 0 is not 0 for
            // infinite a, so it stays.)
            (BinaryOp::Add, a, Ref::Const(c)) | (BinaryOp::Add, Ref::Const(c), a) if c == 0.0 => a,
            (BinaryOp::Sub, a, Ref::Const(0.0)) => a,
            (BinaryOp::Mul, a, Ref::Const(c)) | (BinaryOp::Mul, Ref::Const(c), a) if c == 1.0 => a,
            (BinaryOp::Mul, a, Ref::Const(c)) | (BinaryOp::Mul, Ref::Const(c), a) if c == -1.0 => {
                self.unary(UnaryOp::Neg, a)
            }
            (op, a, b) => self.push(Node::Binary(op, a, b)),
        }
    }

    fn push(&mut self, node: Node) -> Ref {
        let key = match node {
            Node::Unary(op, a) => NodeKey::Unary(op, a.into()),
            Node::Binary(op, a, b) => NodeKey::Binary(op, a.into(), b.into()),
            Node::Masked(a, b) => NodeKey::Masked(a.into(), b.into()),
        };
        if let Some(&i) = self.index.get(&key) {
            return Ref::Node(i);
        }
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.index.insert(key, i);
        Ref::Node(i)
    }

    /// Whether `r` is `relu(x)`, `max(x, 0)` or `max(0, x)`.
    pub(super) fn is_relu(&self, r: Ref) -> bool {
        let Ref::Node(i) = r else { return false };
        match self.nodes[i] {
            Node::Unary(UnaryOp::Relu, Ref::X) => true,
            Node::Binary(BinaryOp::Max, Ref::X, Ref::Const(c))
            | Node::Binary(BinaryOp::Max, Ref::Const(c), Ref::X) => c == 0.0,
            _ => false,
        }
    }

    /// [`Program::run`] without autograd, in place; on the CPU, over slices of
    /// [`CHUNK`] elements, so that the intermediates stay in cache and come from the
    /// allocator's free lists instead of fresh pages (a whole-tensor pass over a large
    /// activation costs several times more).
    pub(super) fn run_chunked(&self, x: &Tensor, outputs: &[Ref]) -> Result<Vec<Tensor>, TchError> {
        let n = x.numel() as i64;
        if x.device() != tch::Device::Cpu || n < 2 * CHUNK {
            return self.run(x, outputs, true);
        }
        let shape = x.size();
        let flat = x.f_contiguous()?.f_view([-1])?;
        let whole: Vec<Tensor> = outputs
            .iter()
            .map(|_| flat.f_empty_like())
            .collect::<Result<_, _>>()?;
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let part = self.run(&flat.f_narrow(0, start, len)?, outputs, true)?;
            for (dst, src) in whole.iter().zip(&part) {
                dst.f_narrow(0, start, len)?.f_copy_(src)?;
            }
            start += len;
        }
        whole
            .into_iter()
            .map(|t| t.f_view(shape.as_slice()))
            .collect()
    }

    /// Evaluates `outputs` at `x`. With `in_place`, an intermediate is overwritten by the
    /// op that reads it last (only sound without autograd). `x` is never modified, and the
    /// outputs are distinct tensors that share no storage with `x` or with each other.
    pub(super) fn run(
        &self,
        x: &Tensor,
        outputs: &[Ref],
        in_place: bool,
    ) -> Result<Vec<Tensor>, TchError> {
        // Remaining reads of each node, from the nodes needed and from the outputs.
        let mut needed = vec![false; self.nodes.len()];
        for r in outputs {
            if let Ref::Node(i) = r {
                needed[*i] = true;
            }
        }
        let mut reads = vec![0usize; self.nodes.len()];
        for i in (0..self.nodes.len()).rev() {
            if !needed[i] {
                continue;
            }
            let mut mark = |r: Ref| {
                if let Ref::Node(j) = r {
                    needed[j] = true;
                    reads[j] += 1;
                }
            };
            match self.nodes[i] {
                Node::Unary(_, a) => mark(a),
                Node::Binary(_, a, b) | Node::Masked(a, b) => {
                    mark(a);
                    mark(b);
                }
            }
        }
        for r in outputs {
            if let Ref::Node(i) = r {
                reads[*i] += 1;
            }
        }

        let mut values: Vec<Option<Tensor>> = (0..self.nodes.len()).map(|_| None).collect();
        for i in 0..self.nodes.len() {
            if !needed[i] {
                continue;
            }
            // An operand read for the last time may be overwritten, unless the node reads
            // it twice (`x * x`): then both reads share it.
            let (a, b) = match self.nodes[i] {
                Node::Unary(_, a) => (a, None),
                Node::Binary(_, a, b) | Node::Masked(a, b) => (a, Some(b)),
            };
            let twice = Some(a) == b;
            let mut arg = |r: Ref| -> Arg {
                match r {
                    Ref::X => Arg::Shared(x.shallow_clone()),
                    Ref::Const(c) => Arg::Scalar(c),
                    Ref::Node(j) => {
                        reads[j] -= 1;
                        let value = &mut values[j];
                        if in_place && reads[j] == 0 && !twice {
                            Arg::Owned(value.take().expect("operand computed"))
                        } else {
                            let shared = value.as_ref().expect("operand computed").shallow_clone();
                            if reads[j] == 0 {
                                *value = None;
                            }
                            Arg::Shared(shared)
                        }
                    }
                }
            };
            let value = match self.nodes[i] {
                Node::Unary(op, a) => unary(op, arg(a).tensor())?,
                Node::Binary(op, a, b) => {
                    let a = arg(a);
                    let b = arg(b);
                    binary(op, a, b)?
                }
                Node::Masked(s, g) => {
                    let s = arg(s);
                    let g = arg(g);
                    masked_mul(s, g)?
                }
            };
            values[i] = Some(value);
        }

        let mut out = Vec::with_capacity(outputs.len());
        let mut given: Vec<Ref> = Vec::with_capacity(outputs.len());
        for &r in outputs {
            // Without autograd the caller may overwrite the outputs: give copies where
            // they would alias `x` or each other. With autograd nothing is overwritten.
            let t = match r {
                Ref::X if in_place => x.f_detach_copy()?,
                Ref::X => x.shallow_clone(),
                Ref::Const(c) => x.f_full_like(c)?,
                Ref::Node(i) => {
                    let shared = given.contains(&r);
                    given.push(r);
                    reads[i] -= 1;
                    if shared && in_place {
                        values[i]
                            .as_ref()
                            .expect("output computed")
                            .f_detach_copy()?
                    } else if reads[i] == 0 {
                        values[i].take().expect("output computed")
                    } else {
                        values[i].as_ref().expect("output computed").shallow_clone()
                    }
                }
            };
            out.push(t);
        }
        Ok(out)
    }
}
