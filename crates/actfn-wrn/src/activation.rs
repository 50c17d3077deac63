//! Activation functions on tensors: an [`Expr`] compiled to libtorch ops, one function per
//! op mirroring `actfn_expr::ops` exactly, with two ways to differentiate it.
//!
//! Compilation first applies rewrites that keep every value bit for bit (`-(-a)`,
//! `(-a) * (-b)`, clamps that cannot bind such as `max(|x|, 0)`), then turns `f` (and, in
//! [`ActivationMode::SymbolicGrad`], its symbolic derivative `f'` from
//! [`Expr::derivative`]) into one small program: a DAG with shared subexpressions merged
//! and constant subtrees folded in f64 (`cos(1)` is a scalar, `zero(x)` is the constant 0).
//! Running it costs one libtorch kernel per remaining op. In `f'`, a product of a branch
//! selector (`step`, `sign`, the weights of `max`/`min`) with a factor that may be
//! infinite has a strong zero, as autograd's masked backward rules do: `sqrt(relu(x))`
//! has slope 0, not NaN, for `x <= 0`.
//!
//! The two modes differ only in training (when the input requires a gradient):
//!
//! - [`ActivationMode::Autograd`] runs the ops out of place and lets autograd record them:
//!   every intermediate is kept for the backward pass.
//! - [`ActivationMode::SymbolicGrad`] runs `f` and `f'` under `no_grad`, in place where an
//!   intermediate is not needed again (on the CPU over cache-sized slices), and returns
//!   what `f.detach() + (x - x.detach()) * f'.detach()` would: exactly the value `f`,
//!   the exact derivative `f'`, and a single saved tensor (`f'`) per activation instead
//!   of the whole op tree.
//!
//! `relu(x)` (or `max(x, 0)`) always takes the fast path `Tensor::relu`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use actfn_expr::{BinaryOp, Expr, UnaryOp, EPS};
use serde::{Deserialize, Serialize};
use tch::{TchError, Tensor};

/// How an activation's gradient is computed in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationMode {
    /// Autograd through every op of `f`: simple, but stores every intermediate.
    Autograd,
    /// `f` and its symbolic derivative computed without autograd; stores only `f'`.
    /// Faster and much leaner than [`ActivationMode::Autograd`] (`actfn bench step`
    /// measures both), hence the default.
    #[default]
    #[serde(rename = "symbolic")]
    SymbolicGrad,
}

impl ActivationMode {
    /// The name used on the command line and in configs: `autograd` or `symbolic`.
    pub fn name(self) -> &'static str {
        match self {
            ActivationMode::Autograd => "autograd",
            ActivationMode::SymbolicGrad => "symbolic",
        }
    }
}

impl fmt::Display for ActivationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ActivationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "autograd" => Ok(ActivationMode::Autograd),
            "symbolic" | "symbolic-grad" => Ok(ActivationMode::SymbolicGrad),
            other => Err(format!(
                "unknown activation mode {other:?} (expected autograd or symbolic)"
            )),
        }
    }
}

/// A compiled activation function, shared by every layer of a model.
#[derive(Debug, Clone)]
pub struct Activation {
    expr: Expr,
    mode: ActivationMode,
    plan: Plan,
}

#[derive(Debug, Clone)]
enum Plan {
    /// `relu(x)`: `Tensor::relu`, in place on a consumed input.
    Relu,
    /// Anything else: `f` (and `f'` in symbolic mode) over one program.
    Program {
        program: Program,
        f: Ref,
        df: Option<Ref>,
    },
}

impl Activation {
    /// Compiles `expr` for `mode`. In [`ActivationMode::SymbolicGrad`] this also
    /// differentiates it symbolically.
    pub fn new(expr: &Expr, mode: ActivationMode) -> Activation {
        let simple = simplify(expr);
        let mut program = Program::default();
        let f = program.add(&simple);
        let plan = if program.is_relu(f) {
            Plan::Relu
        } else {
            let df = match mode {
                ActivationMode::Autograd => None,
                // A derivative past actfn-expr's size limits is refused; the gradient
                // then comes from autograd, as without a symbolic derivative.
                ActivationMode::SymbolicGrad => {
                    simple.derivative().ok().map(|d| program.add_derivative(&d))
                }
            };
            Plan::Program { program, f, df }
        };
        Activation {
            expr: expr.clone(),
            mode,
            plan,
        }
    }

    /// ReLU, the baseline.
    pub fn relu() -> Activation {
        Activation::new(
            &Expr::unary(UnaryOp::Relu, Expr::X),
            ActivationMode::default(),
        )
    }

    /// The expression this activation computes.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// How its gradient is computed.
    pub fn mode(&self) -> ActivationMode {
        self.mode
    }

    /// Whether this is ReLU (and runs as `Tensor::relu`).
    pub fn is_relu(&self) -> bool {
        matches!(self.plan, Plan::Relu)
    }

    /// Number of tensor ops in the compiled program (`f` and, in symbolic mode, `f'`,
    /// shared subexpressions counted once); 1 for ReLU.
    pub fn op_count(&self) -> usize {
        match &self.plan {
            Plan::Relu => 1,
            Plan::Program { program, .. } => program.nodes.len(),
        }
    }

    /// `f(x)` for a borrowed input, which is left untouched; differentiable in both modes.
    pub fn f_forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        self.f_forward_dropout(x, 0.0, false)
    }

    /// `f(x)` for an input nobody else reads: its storage may be reused for the output
    /// (in-place ReLU; the zero tensor of the symbolic-gradient trick). Pass a fresh
    /// tensor such as a batch-norm output, never one that is read again.
    pub fn f_forward_consume(&self, x: Tensor) -> Result<Tensor, TchError> {
        self.forward_impl(Input::Owned(x), 0.0, false)
    }

    /// `dropout(f(x), p, train)`. In symbolic mode the dropout mask is folded into `f` and
    /// `f'` so that training stores one tensor less.
    pub fn f_forward_dropout(&self, x: &Tensor, p: f64, train: bool) -> Result<Tensor, TchError> {
        self.forward_impl(Input::Borrowed(x), p, train)
    }

    /// [`Activation::f_forward_dropout`] for an input nobody else reads (see
    /// [`Activation::f_forward_consume`]).
    pub fn f_forward_consume_dropout(
        &self,
        x: Tensor,
        p: f64,
        train: bool,
    ) -> Result<Tensor, TchError> {
        self.forward_impl(Input::Owned(x), p, train)
    }

    /// `f(x)` computed without autograd, for any tensor: the value only.
    pub fn f_value(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let _guard = tch::no_grad_guard();
        match &self.plan {
            Plan::Relu => x.f_relu(),
            Plan::Program { program, f, .. } => {
                Ok(program.run_chunked(x, &[*f])?.pop().expect("one output"))
            }
        }
    }

    fn forward_impl(&self, x: Input<'_>, p: f64, train: bool) -> Result<Tensor, TchError> {
        let dropout = train && p > 0.0;
        let needs_grad = x.tensor().requires_grad();
        let y = match &self.plan {
            Plan::Relu => match x {
                Input::Owned(mut t) if !(needs_grad && t.is_leaf()) => t.f_relu_()?,
                other => other.tensor().f_relu()?,
            },
            Plan::Program { program, f, df } => match (needs_grad, df) {
                (true, Some(df)) => {
                    return symbolic_grad(program, x, *f, *df, if dropout { p } else { 0.0 })
                }
                // Autograd mode: out of place, so that autograd may keep what it needs.
                (true, None) => program.run(x.tensor(), &[*f], false)?.remove(0),
                // No gradient wanted: the value only, in place where possible.
                (false, _) => {
                    let _guard = tch::no_grad_guard();
                    program.run_chunked(x.tensor(), &[*f])?.remove(0)
                }
            },
        };
        if dropout {
            y.f_dropout(p, true)
        } else {
            Ok(y)
        }
    }
}

/// An activation input, borrowed (read-only) or owned (storage reusable).
enum Input<'a> {
    Borrowed(&'a Tensor),
    Owned(Tensor),
}

impl Input<'_> {
    fn tensor(&self) -> &Tensor {
        match self {
            Input::Borrowed(t) => t,
            Input::Owned(t) => t,
        }
    }
}

/// The derivative trick: `f + (x - x.detach()) * f'`, with `f` and `f'` from `no_grad`
/// and, when `p > 0`, both multiplied by one dropout mask (`dropout(f)` and its exact
/// derivative).
fn symbolic_grad(
    program: &Program,
    x: Input<'_>,
    f: Ref,
    df: Ref,
    p: f64,
) -> Result<Tensor, TchError> {
    let (value, slope) = {
        let _guard = tch::no_grad_guard();
        let mut outs = program.run_chunked(x.tensor(), &[f, df])?;
        let slope = outs.pop().expect("two outputs");
        let value = outs.pop().expect("two outputs");
        if p > 0.0 {
            let mut value = value;
            let mut slope = slope;
            let mut mask = value.f_empty_like()?;
            let _ = mask.f_bernoulli_float_(1.0 - p)?;
            let _ = mask.f_div_scalar_(1.0 - p)?;
            let _ = value.f_mul_(&mask)?;
            let _ = slope.f_mul_(&mask)?;
            (value, slope)
        } else {
            (value, slope)
        }
    };
    // `x * f'` records the backward `grad * f'` (autograd saves f' only); its value is
    // then replaced by `f`, as `f.detach() + (x - x.detach()) * f'.detach()` would give,
    // but in one pass, and exactly `f` even where `f'` is infinite. In place on an input
    // that is ours (a leaf that requires a gradient may not be written in place).
    let mut out = match x {
        Input::Owned(mut t) if !t.is_leaf() => t.f_mul_(&slope)?,
        other => other.tensor().f_mul(&slope)?,
    };
    out.f_set_data(&value)?;
    Ok(out)
}

/// Rewrites that keep every value bit for bit (NaN included) and remove work: double
/// negations, negations of products (`-(a * c)` is `a * (-c)`, `(-a) * (-b)` is `a * b`),
/// and clamps that cannot bind (`max(|x|, 0)` is `|x|`, `relu(e^x)` is `e^x`). Their
/// derivatives agree too, except where a clamp ties with a function at its minimum,
/// where both are that function's slope there (0 where it is differentiable).
fn simplify(e: &Expr) -> Expr {
    match e {
        Expr::X | Expr::Const(_) => e.clone(),
        Expr::Unary(op, a) => {
            let a = simplify(a);
            match (op, a) {
                (UnaryOp::Neg, Expr::Unary(UnaryOp::Neg, inner)) => *inner,
                (UnaryOp::Neg, Expr::Binary(BinaryOp::Mul, p, q)) => match (*p, *q) {
                    (p, Expr::Const(c)) | (Expr::Const(c), p) => {
                        Expr::binary(BinaryOp::Mul, p, Expr::constant(-c.0))
                    }
                    (p, q) => Expr::unary(UnaryOp::Neg, Expr::binary(BinaryOp::Mul, p, q)),
                },
                (UnaryOp::Relu, a) if sign_of(&a) == 1 => a,
                (UnaryOp::MinZero, a) if sign_of(&a) == -1 => a,
                (op, a) => Expr::unary(*op, a),
            }
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (simplify(a), simplify(b));
            match (op, a, b) {
                (BinaryOp::Mul, Expr::Unary(UnaryOp::Neg, p), Expr::Unary(UnaryOp::Neg, q)) => {
                    Expr::binary(BinaryOp::Mul, *p, *q)
                }
                (BinaryOp::Max, a, Expr::Const(c)) | (BinaryOp::Max, Expr::Const(c), a)
                    if c.0 <= 0.0 && sign_of(&a) == 1 =>
                {
                    a
                }
                (BinaryOp::Min, a, Expr::Const(c)) | (BinaryOp::Min, Expr::Const(c), a)
                    if c.0 >= 0.0 && sign_of(&a) == -1 =>
                {
                    a
                }
                (op, a, b) => Expr::binary(*op, a, b),
            }
        }
    }
}

/// What is known of an expression's sign for every `x`: 1 for `>= 0` (or NaN), -1 for
/// `<= 0` (or NaN), 0 for nothing known.
fn sign_of(e: &Expr) -> i8 {
    match e {
        Expr::Const(c) if c.0 >= 0.0 => 1,
        Expr::Const(c) if c.0 <= 0.0 => -1,
        Expr::Unary(op, _) if op.is_nonnegative() => 1,
        Expr::Unary(UnaryOp::MinZero, _) => -1,
        Expr::Unary(UnaryOp::Neg, a) => -sign_of(a),
        _ => 0,
    }
}

/// Elements per slice of a chunked CPU run: 16 MiB of f32, below glibc's mmap threshold
/// (32 MiB), so that intermediates come from the allocator's free lists instead of fresh
/// pages. Smaller slices fit the cache better but pay libtorch's per-op threading
/// overhead more often, which costs more than it saves (measured on WRN-16-4 with 1 and 2
/// threads: 2^22 was the fastest of 2^18..2^22 and whole tensors, and by far the least
/// hurt by a busy machine; 2^20 keeps the peak memory lower, 1.04x ReLU's against 1.27x).
const CHUNK: i64 = 1 << 22;

/// A reference to a value of the program: the input, a folded constant, or a node.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ref {
    X,
    Const(f64),
    Node(usize),
}

/// One op of the program over earlier values; never both operands constant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
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
struct Program {
    nodes: Vec<Node>,
    index: HashMap<NodeKey, usize>,
}

impl Program {
    /// Adds `expr`, merging it with what is already there; returns its value.
    fn add(&mut self, expr: &Expr) -> Ref {
        self.add_with(expr, false)
    }

    /// Adds a derivative expression. Its products of a *selector* (a factor made of
    /// `step`/`sign` that is exactly 0 where a branch is inactive: `relu'`, the weights of
    /// `max`/`min`) with a factor that may be infinite or NaN become strong-zero products,
    /// as autograd's masked backward rules (`threshold_backward`, `maximum`'s) are: the
    /// derivative of `sqrt(relu(x))` is 0, not `inf * 0 = NaN`, for `x <= 0`.
    fn add_derivative(&mut self, expr: &Expr) -> Ref {
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
    fn is_relu(&self, r: Ref) -> bool {
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
    fn run_chunked(&self, x: &Tensor, outputs: &[Ref]) -> Result<Vec<Tensor>, TchError> {
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
    fn run(&self, x: &Tensor, outputs: &[Ref], in_place: bool) -> Result<Vec<Tensor>, TchError> {
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

/// An operand: a tensor we may overwrite, a tensor read by others, or a scalar.
enum Arg {
    Owned(Tensor),
    Shared(Tensor),
    Scalar(f64),
}

/// A tensor operand of a unary op (unary ops of constants are folded at compile time).
enum TArg {
    Owned(Tensor),
    Shared(Tensor),
}

impl Arg {
    fn tensor(self) -> TArg {
        match self {
            Arg::Owned(t) => TArg::Owned(t),
            Arg::Shared(t) => TArg::Shared(t),
            Arg::Scalar(_) => unreachable!("unary ops of constants are folded"),
        }
    }
}

impl TArg {
    fn get(&self) -> &Tensor {
        match self {
            TArg::Owned(t) | TArg::Shared(t) => t,
        }
    }
}

type TResult = Result<Tensor, TchError>;

/// Applies a pointwise op in place on an owned operand, out of place on a shared one.
macro_rules! pointwise {
    ($a:expr, $in_place:ident, $out_of_place:ident $(, $arg:expr)*) => {
        match $a {
            TArg::Owned(mut t) => t.$in_place($($arg),*),
            TArg::Shared(t) => t.$out_of_place($($arg),*),
        }
    };
}

/// `op(a)` with the semantics of [`UnaryOp::eval`].
fn unary(op: UnaryOp, a: TArg) -> TResult {
    match op {
        UnaryOp::Zero => zero(a),
        UnaryOp::One => one(a),
        UnaryOp::Identity => identity(a),
        UnaryOp::Neg => neg(a),
        UnaryOp::Abs => abs(a),
        UnaryOp::Square => square(a),
        UnaryOp::Cube => cube(a),
        UnaryOp::Sqrt => sqrt(a),
        UnaryOp::Exp => exp(a),
        UnaryOp::Gaussian => gaussian(a),
        UnaryOp::Softplus => softplus(a),
        UnaryOp::LogAbs => log_abs(a),
        UnaryOp::Sin => sin(a),
        UnaryOp::Sinh => sinh(a),
        UnaryOp::Asinh => asinh(a),
        UnaryOp::Cos => cos(a),
        UnaryOp::Cosh => cosh(a),
        UnaryOp::Tanh => tanh(a),
        UnaryOp::Atan => atan(a),
        UnaryOp::Atanh => atanh(a),
        UnaryOp::Relu => relu(a),
        UnaryOp::MinZero => min_zero(a),
        UnaryOp::Sigmoid => sigmoid(a),
        UnaryOp::Erf => erf(a),
        UnaryOp::Sinc => sinc(a),
        UnaryOp::Sign => sign(a),
        UnaryOp::Step => step(a),
        UnaryOp::Recip => recip(a),
        UnaryOp::DSinc => dsinc(a),
    }
}

/// `0` (folded at compile time; here for completeness).
fn zero(a: TArg) -> TResult {
    a.get().f_zeros_like()
}

/// `1` (folded at compile time; here for completeness).
fn one(a: TArg) -> TResult {
    a.get().f_ones_like()
}

/// `x` (folded at compile time; here for completeness). A shared operand is copied
/// (differentiably) so that the result may be overwritten.
fn identity(a: TArg) -> TResult {
    match a {
        TArg::Owned(t) => Ok(t),
        TArg::Shared(t) => t.f_mul_scalar(1.0),
    }
}

/// `-x`.
fn neg(a: TArg) -> TResult {
    pointwise!(a, f_neg_, f_neg)
}

/// `|x|`.
fn abs(a: TArg) -> TResult {
    pointwise!(a, f_abs_, f_abs)
}

/// `x * x`.
fn square(a: TArg) -> TResult {
    pointwise!(a, f_square_, f_square)
}

/// `x * x * x`: torch's `pow(x, 3)` multiplies in the same order, `(x * x) * x`.
fn cube(a: TArg) -> TResult {
    pointwise!(a, f_pow_, f_pow_tensor_scalar, 3)
}

/// `sqrt(x)`, NaN below 0.
fn sqrt(a: TArg) -> TResult {
    pointwise!(a, f_sqrt_, f_sqrt)
}

/// `e^x`.
fn exp(a: TArg) -> TResult {
    pointwise!(a, f_exp_, f_exp)
}

/// `e^(-x^2)`.
fn gaussian(a: TArg) -> TResult {
    let mut t = square(a)?;
    let _ = t.f_neg_()?;
    t.f_exp_()
}

/// `log(1 + e^x)` without overflow: torch's softplus returns `x` above 20 and
/// `log1p(e^x)` below, which agrees with `max(x, 0) + log1p(e^-|x|)` to f32 rounding.
fn softplus(a: TArg) -> TResult {
    match a {
        TArg::Owned(t) => t.f_softplus_out(&t),
        TArg::Shared(t) => t.f_softplus(),
    }
}

/// `log(|x + EPS|)`.
fn log_abs(a: TArg) -> TResult {
    let mut t = pointwise!(a, f_add_scalar_, f_add_scalar, EPS)?;
    let _ = t.f_abs_()?;
    t.f_log_()
}

/// `sin(x)`.
fn sin(a: TArg) -> TResult {
    pointwise!(a, f_sin_, f_sin)
}

/// `sinh(x)`.
fn sinh(a: TArg) -> TResult {
    pointwise!(a, f_sinh_, f_sinh)
}

/// `asinh(x)`.
fn asinh(a: TArg) -> TResult {
    pointwise!(a, f_asinh_, f_asinh)
}

/// `cos(x)`.
fn cos(a: TArg) -> TResult {
    pointwise!(a, f_cos_, f_cos)
}

/// `cosh(x)`.
fn cosh(a: TArg) -> TResult {
    pointwise!(a, f_cosh_, f_cosh)
}

/// `tanh(x)`.
fn tanh(a: TArg) -> TResult {
    pointwise!(a, f_tanh_, f_tanh)
}

/// `atan(x)`.
fn atan(a: TArg) -> TResult {
    pointwise!(a, f_atan_, f_atan)
}

/// `atanh(x)`, NaN outside `[-1, 1]`.
fn atanh(a: TArg) -> TResult {
    pointwise!(a, f_atanh_, f_atanh)
}

/// `max(x, 0)`, NaN kept.
fn relu(a: TArg) -> TResult {
    pointwise!(a, f_relu_, f_relu)
}

/// `min(x, 0)`, NaN kept (`clamp` propagates NaN).
fn min_zero(a: TArg) -> TResult {
    pointwise!(a, f_clamp_max_, f_clamp_max, 0.0)
}

/// `1 / (1 + e^-x)`.
fn sigmoid(a: TArg) -> TResult {
    pointwise!(a, f_sigmoid_, f_sigmoid)
}

/// `erf(x)`.
fn erf(a: TArg) -> TResult {
    pointwise!(a, f_erf_, f_erf)
}

/// `sin(x) / x` with `sinc(0) = 1` (unnormalised: not `torch.sinc`). The division runs on
/// a copy of `x` with 0 replaced by 1, so that autograd sees no `0 / 0` either.
fn sinc(a: TArg) -> TResult {
    let t = a.get();
    let at_zero = t.f_eq(0.0)?;
    let safe = t.f_masked_fill(&at_zero, 1.0)?;
    drop(a);
    let mut s = safe.f_sin()?;
    let _ = s.f_div_(&safe)?;
    s.f_masked_fill_(&at_zero, 1.0)
}

/// Derivative helper: `(cos(x) - sin(x) / x) / x` with `0` at 0. Below `|x| = 0.5` the
/// difference cancels badly in f32, so there it is the Taylor series
/// `-x/3 + x^3/30 - x^5/840 + x^7/45360` (truncation error below 1e-9 relative).
fn dsinc(a: TArg) -> TResult {
    let t = a.get();
    let small = t.f_abs()?.f_lt(0.5)?;
    let safe = t.f_masked_fill(&small, 1.0)?;
    let mut q = safe.f_sin()?;
    let _ = q.f_div_(&safe)?;
    let mut d = safe.f_cos()?;
    let _ = d.f_sub_(&q)?;
    let _ = d.f_div_(&safe)?;
    // Horner in x^2: x * (-1/3 + x^2 * (1/30 + x^2 * (-1/840 + x^2 / 45360))).
    let x2 = t.f_square()?;
    let mut s = x2.f_mul_scalar(1.0 / 45360.0)?;
    let _ = s.f_add_scalar_(-1.0 / 840.0)?;
    let _ = s.f_mul_(&x2)?;
    let _ = s.f_add_scalar_(1.0 / 30.0)?;
    let _ = s.f_mul_(&x2)?;
    let _ = s.f_add_scalar_(-1.0 / 3.0)?;
    let _ = s.f_mul_(t)?;
    drop(a);
    s.f_where_self(&small, &d)
}

/// Derivative helper: `sign(x)` in `{-1, 0, 1}`, NaN kept (torch's `sign(NaN)` is 0).
fn sign(a: TArg) -> TResult {
    let nan = a.get().f_isnan()?;
    let mut s = a.get().f_sign()?;
    s.f_masked_fill_(&nan, f64::NAN)
}

/// Derivative helper: `1` for `x > 0`, else `0`, NaN kept.
fn step(a: TArg) -> TResult {
    let t = a.get();
    let nan = t.f_isnan()?;
    let mut s = t.f_gt(0.0)?.f_to_kind(t.kind())?;
    s.f_masked_fill_(&nan, f64::NAN)
}

/// Derivative helper: the unprotected reciprocal `1 / x`.
fn recip(a: TArg) -> TResult {
    pointwise!(a, f_reciprocal_, f_reciprocal)
}

/// `selector * other`, 0 wherever the selector is 0.
fn masked_mul(selector: Arg, other: Arg) -> TResult {
    let zero = match &selector {
        Arg::Owned(t) | Arg::Shared(t) => t.f_eq(0.0)?,
        Arg::Scalar(_) => unreachable!("a selector is a node"),
    };
    let mut product = mul(selector, other)?;
    product.f_masked_fill_(&zero, 0.0)
}

/// `op(a, b)` with the semantics of [`BinaryOp::eval`].
fn binary(op: BinaryOp, a: Arg, b: Arg) -> TResult {
    match op {
        BinaryOp::Add => add(a, b),
        BinaryOp::Sub => sub(a, b),
        BinaryOp::Mul => mul(a, b),
        BinaryOp::Div => div(a, b),
        BinaryOp::Max => max(a, b),
        BinaryOp::Min => min(a, b),
    }
}

/// `a + b`.
fn add(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(mut t), Arg::Owned(u) | Arg::Shared(u))
        | (Arg::Shared(u), Arg::Owned(mut t)) => t.f_add_(&u),
        (Arg::Shared(t), Arg::Shared(u)) => t.f_add(&u),
        (Arg::Owned(mut t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Owned(mut t)) => {
            t.f_add_scalar_(c)
        }
        (Arg::Shared(t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Shared(t)) => t.f_add_scalar(c),
        (Arg::Scalar(_), Arg::Scalar(_)) => unreachable!("folded"),
    }
}

/// `a - b`.
fn sub(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(mut t), Arg::Owned(u) | Arg::Shared(u)) => t.f_sub_(&u),
        (Arg::Shared(t), Arg::Owned(u) | Arg::Shared(u)) => t.f_sub(&u),
        (Arg::Owned(mut t), Arg::Scalar(c)) => t.f_sub_scalar_(c),
        (Arg::Shared(t), Arg::Scalar(c)) => t.f_sub_scalar(c),
        // c - u = -u + c exactly.
        (Arg::Scalar(c), Arg::Owned(mut u)) => {
            let _ = u.f_neg_()?;
            u.f_add_scalar_(c)
        }
        (Arg::Scalar(c), Arg::Shared(u)) => u.f_rsub_scalar(c),
        (Arg::Scalar(_), Arg::Scalar(_)) => unreachable!("folded"),
    }
}

/// `a * b`.
fn mul(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(mut t), Arg::Owned(u) | Arg::Shared(u))
        | (Arg::Shared(u), Arg::Owned(mut t)) => t.f_mul_(&u),
        (Arg::Shared(t), Arg::Shared(u)) => t.f_mul(&u),
        (Arg::Owned(mut t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Owned(mut t)) => {
            t.f_mul_scalar_(c)
        }
        (Arg::Shared(t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Shared(t)) => t.f_mul_scalar(c),
        (Arg::Scalar(_), Arg::Scalar(_)) => unreachable!("folded"),
    }
}

/// The protected division `a / (b + EPS)`.
fn div(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(mut t), Arg::Scalar(c)) => t.f_div_scalar_(c + EPS),
        (Arg::Shared(t), Arg::Scalar(c)) => t.f_div_scalar(c + EPS),
        (a, b) => {
            let den = match b {
                Arg::Owned(mut u) => u.f_add_scalar_(EPS)?,
                Arg::Shared(u) => u.f_add_scalar(EPS)?,
                Arg::Scalar(_) => unreachable!("handled above"),
            };
            match a {
                Arg::Owned(mut t) => t.f_div_(&den),
                Arg::Shared(t) => t.f_div(&den),
                // c / den, correctly rounded: a 0-dim tensor does not promote the kind.
                Arg::Scalar(c) => Tensor::from(c).f_to_device(den.device())?.f_div(&den),
            }
        }
    }
}

/// `max(a, b)`, NaN propagated (`maximum` and `clamp_min` both propagate it).
fn max(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(t) | Arg::Shared(t), Arg::Owned(u) | Arg::Shared(u)) => t.f_maximum(&u),
        (Arg::Owned(t) | Arg::Shared(t), Arg::Scalar(c))
        | (Arg::Scalar(c), Arg::Owned(t) | Arg::Shared(t))
            if c.is_nan() =>
        {
            t.f_full_like(f64::NAN)
        }
        (Arg::Owned(mut t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Owned(mut t)) => {
            t.f_clamp_min_(c)
        }
        (Arg::Shared(t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Shared(t)) => t.f_clamp_min(c),
        (Arg::Scalar(_), Arg::Scalar(_)) => unreachable!("folded"),
    }
}

/// `min(a, b)`, NaN propagated.
fn min(a: Arg, b: Arg) -> TResult {
    match (a, b) {
        (Arg::Owned(t) | Arg::Shared(t), Arg::Owned(u) | Arg::Shared(u)) => t.f_minimum(&u),
        (Arg::Owned(t) | Arg::Shared(t), Arg::Scalar(c))
        | (Arg::Scalar(c), Arg::Owned(t) | Arg::Shared(t))
            if c.is_nan() =>
        {
            t.f_full_like(f64::NAN)
        }
        (Arg::Owned(mut t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Owned(mut t)) => {
            t.f_clamp_max_(c)
        }
        (Arg::Shared(t), Arg::Scalar(c)) | (Arg::Scalar(c), Arg::Shared(t)) => t.f_clamp_max(c),
        (Arg::Scalar(_), Arg::Scalar(_)) => unreachable!("folded"),
    }
}

/// `f(x)` and `f'(x)` at `points`, computed through the tensor backend in f32 (the path
/// training uses), for comparing with actfn-expr's f64 evaluator: `actfn expr eval
/// --backend torch`. The derivative comes from a backward pass in `mode`.
pub fn values_and_gradients(
    expr: &Expr,
    mode: ActivationMode,
    points: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), TchError> {
    let activation = Activation::new(expr, mode);
    let x = Tensor::f_from_slice(points)?
        .f_to_kind(tch::Kind::Float)?
        .set_requires_grad(true);
    let y = activation.f_forward(&x)?;
    let values = Vec::<f64>::try_from(&y.f_to_kind(tch::Kind::Double)?.detach())?;
    y.f_sum(tch::Kind::Float)?.f_backward()?;
    let grads = Vec::<f64>::try_from(&x.grad().f_to_kind(tch::Kind::Double)?)?;
    Ok((values, grads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actfn_expr::{SearchSpace, PAPER_FUNCTIONS};
    use rand::SeedableRng;
    use tch::{Device, Kind};

    const F32_EPS: f64 = EPS as f32 as f64;

    fn r32(v: f64) -> f64 {
        v as f32 as f64
    }

    fn fmax(m: f64, v: f64) -> f64 {
        if v.is_finite() {
            m.max(v.abs())
        } else {
            m
        }
    }

    fn parts(act: &Activation) -> (&Program, Ref, Option<Ref>) {
        match &act.plan {
            Plan::Program { program, f, df } => (program, *f, *df),
            Plan::Relu => panic!("relu has no program"),
        }
    }

    /// The program evaluated in f64 at `x`, op by op with `UnaryOp::eval`/`BinaryOp::eval`.
    /// With `round`, it models the f32 tensor backend: every result and every constant
    /// meeting a tensor rounded to f32, and the protected ops' EPS the f32 scalar torch
    /// sees. Returns each output's value and the largest finite intermediate magnitude.
    fn mirror(p: &Program, outs: &[Ref], x: f64, round: bool) -> Vec<(f64, f64)> {
        mirror_perturbed(p, outs, x, round, 0.0)
    }

    /// [`mirror`] with every rounded result scaled by `1 + wobble` (alternating in sign
    /// from node to node when `wobble < 0`): how much a few ulps of error in the
    /// intermediates move the outputs at this `x`.
    fn mirror_perturbed(
        p: &Program,
        outs: &[Ref],
        x: f64,
        round: bool,
        wobble: f64,
    ) -> Vec<(f64, f64)> {
        let node = std::cell::Cell::new(0usize);
        let rd = |v: f64| {
            if !round {
                return v;
            }
            let w = if wobble < 0.0 && node.get() % 2 == 1 {
                wobble
            } else {
                wobble.abs()
            };
            r32(r32(v) * (1.0 + w))
        };
        let eps = if round { F32_EPS } else { EPS };
        let mut vals: Vec<(f64, f64)> = vec![(f64::NAN, 0.0); p.nodes.len()];
        let get = |vals: &[(f64, f64)], r: Ref| match r {
            Ref::X => (x, x.abs(), false),
            Ref::Const(c) => (c, 0.0, true),
            Ref::Node(i) => (vals[i].0, vals[i].1, false),
        };
        for i in 0..p.nodes.len() {
            node.set(i);
            let (out, m) = match p.nodes[i] {
                Node::Unary(op, a) => {
                    let (v, m, _) = get(&vals, a);
                    let out = match op {
                        UnaryOp::LogAbs => rd(rd(v + eps).abs().ln()),
                        UnaryOp::Gaussian => rd(rd(-rd(v * v)).exp()),
                        _ => rd(op.eval(v)),
                    };
                    (out, m)
                }
                Node::Binary(op, a, b) => {
                    let (va, ma, ka) = get(&vals, a);
                    let (vb, mb, kb) = get(&vals, b);
                    let out = match op {
                        BinaryOp::Div if kb => rd(va / rd(vb + EPS)),
                        BinaryOp::Div => rd(if ka { rd(va) } else { va } / rd(vb + eps)),
                        _ => {
                            let va = if ka { rd(va) } else { va };
                            let vb = if kb { rd(vb) } else { vb };
                            rd(op.eval(va, vb))
                        }
                    };
                    (out, ma.max(mb))
                }
                Node::Masked(s, g) => {
                    let (vs, ms, _) = get(&vals, s);
                    let (vg, mg, kg) = get(&vals, g);
                    let vg = if kg { rd(vg) } else { vg };
                    (if vs == 0.0 { 0.0 } else { rd(vs * vg) }, ms.max(mg))
                }
            };
            vals[i] = (out, fmax(m, out));
        }
        outs.iter()
            .map(|&r| {
                let (v, m, _) = get(&vals, r);
                (v, m)
            })
            .collect()
    }

    /// 20001 points on [-10, 10], plus 0, the f32 neighbours of the protected ops' pole
    /// and of ±1, and tiny and large values.
    fn grid() -> Vec<f64> {
        let mut xs: Vec<f64> = (0..=20_000).map(|i| r32(-10.0 + i as f64 * 1e-3)).collect();
        for base in [0.0f32, -(EPS as f32), EPS as f32, 1.0, -1.0] {
            xs.push(base as f64);
            let (mut lo, mut hi) = (base as f64, base as f64);
            for _ in 0..3 {
                lo = next_f32(lo, -1.0);
                hi = next_f32(hi, 1.0);
                xs.extend([lo, hi]);
            }
        }
        xs.extend([
            1e-7, -1e-7, 1e-30, -1e-30, 20.0, -20.0, 50.0, -50.0, 100.0, -100.0,
        ]);
        xs
    }

    /// The f32 next to `v` towards `dir`.
    fn next_f32(v: f64, dir: f64) -> f64 {
        let f = v as f32;
        let up = dir > 0.0;
        let n = if f == 0.0 {
            if up {
                f32::from_bits(1)
            } else {
                -f32::from_bits(1)
            }
        } else if (f > 0.0) == up {
            f32::from_bits(f.to_bits() + 1)
        } else {
            f32::from_bits(f.to_bits() - 1)
        };
        n as f64
    }

    /// Values (and, with `grad`, the input gradient of their sum) on the tensor backend.
    fn run_tensor(act: &Activation, xs: &[f64], grad: bool) -> (Vec<f64>, Option<Vec<f64>>) {
        let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let x = Tensor::from_slice(&x32).set_requires_grad(grad);
        let y = act.f_forward(&x).unwrap();
        let values = Vec::<f64>::try_from(y.to_kind(Kind::Double)).unwrap();
        let grads = grad.then(|| {
            if !y.requires_grad() {
                // A constant activation in autograd mode: no graph, zero gradient.
                return vec![0.0; xs.len()];
            }
            y.sum(Kind::Float).backward();
            Vec::<f64>::try_from(x.grad().to_kind(Kind::Double)).unwrap()
        });
        (values, grads)
    }

    fn same(t: f64, r: f64, m: f64) -> bool {
        if r.is_nan() || t.is_nan() {
            r.is_nan() && t.is_nan()
        } else if r.is_infinite() || t.is_infinite() {
            r == t
        } else {
            (t - r).abs() <= 1e-4 * r.abs() + 1e-5 * m.max(1e-2)
        }
    }

    /// Points where the tensor value differs from the rounded mirror of `r`.
    ///
    /// Where they differ, the value is still accepted if it lies within the envelope of
    /// the mirror at `x` and its neighbouring f32s (one rounding may move a kink or a tie
    /// by an ulp of `x`) with its intermediates perturbed by 8 ulps (torch's f32 kernels
    /// are within a few ulps, which ill-conditioned expressions such as `cos(e^x)` for
    /// large `x` amplify), or, for an infinite or NaN value, if one of those is too.
    fn mismatches(p: &Program, r: Ref, xs: &[f64], got: &[f64]) -> Vec<String> {
        const WOBBLE: f64 = 4.76837158203125e-7; // 2^-21
        xs.iter()
            .zip(got)
            .filter_map(|(&x, &t)| {
                let (v, m) = mirror(p, &[r], x, true)[0];
                if same(t, r32(v), m) {
                    return None;
                }
                let mut candidates = Vec::new();
                for x in [x, next_f32(x, 1.0), next_f32(x, -1.0)] {
                    for w in [0.0, WOBBLE, -WOBBLE] {
                        candidates.push(mirror_perturbed(p, &[r], x, true, w)[0].0);
                    }
                }
                // Near f32's limit, torch's kernels (cosh = e^|x| / 2, ...) overflow a
                // little earlier or later than the correctly rounded value.
                let near_overflow =
                    |a: f64, b: f64| a.signum() == b.signum() && a.abs().min(b.abs()) >= 1e38;
                let ok = if t.is_finite() {
                    let finite: Vec<f64> = candidates
                        .iter()
                        .copied()
                        .filter(|c| c.is_finite())
                        .collect();
                    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let tol = 1e-4 * t.abs() + 1e-5 * m.max(1e-2);
                    (!finite.is_empty() && t >= lo - tol && t <= hi + tol)
                        || candidates
                            .iter()
                            .any(|&c| c.is_infinite() && near_overflow(c, t))
                } else {
                    candidates
                        .iter()
                        .any(|&c| c == t || (c.is_nan() && t.is_nan()) || near_overflow(c, t))
                };
                (!ok).then(|| format!("x = {x:e}: tensor {t:e}, mirror {:e}", r32(v)))
            })
            .collect()
    }

    fn bits_equal(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    /// Pins `e` on the grid: the compiled program is `Expr::eval` exactly (in f64), the
    /// tensor values match the program op by op (f32), in both modes, with and without
    /// gradient; in symbolic mode the gradient is `Expr::derivative` wherever that is a
    /// number, and matches the program's derivative op by op.
    fn check(e: &Expr, xs: &[f64]) {
        // `dsinc` is itself a derivative; its derivative (a second derivative of sinc)
        // is not used in training, and its f64 form is unreliable near 0.
        let mut second = false;
        e.visit(&mut |n| second |= matches!(n, Expr::Unary(UnaryOp::DSinc, _)));
        let d = e
            .derivative()
            .expect("test functions are within the limits");
        for mode in [ActivationMode::SymbolicGrad, ActivationMode::Autograd] {
            let act = Activation::new(e, mode);
            if act.is_relu() {
                continue;
            }
            let (p, f, df) = parts(&act);
            for &x in xs {
                let (v, _) = mirror(p, &[f], x, false)[0];
                assert!(
                    bits_equal(v, e.eval(x)),
                    "{e}: program {v} != eval {} at {x}",
                    e.eval(x)
                );
                if let (Some(df), false) = (df, second) {
                    let (dv, _) = mirror(p, &[df], x, false)[0];
                    let want = d.eval(x);
                    assert!(
                        want.is_nan() || bits_equal(dv, want),
                        "{e}: d/dx {dv} != {want} at {x}"
                    );
                }
            }
            for grad in [false, true] {
                if grad && second && df.is_some() {
                    continue;
                }
                let (got, grads) = run_tensor(&act, xs, grad);
                let mut bad = mismatches(p, f, xs, &got);
                if let (Some(df), true) = (df, grad) {
                    bad.extend(mismatches(p, df, xs, grads.as_ref().unwrap()));
                }
                assert!(
                    bad.is_empty(),
                    "{e} ({mode}, grad {grad}): {} mismatches, e.g. {:?}",
                    bad.len(),
                    &bad[..bad.len().min(5)]
                );
            }
        }
    }

    #[test]
    fn every_unary_op_agrees_with_ops_on_a_dense_grid() {
        let xs = grid();
        for op in UnaryOp::every() {
            check(&Expr::unary(op, Expr::X), &xs);
            // And on an intermediate (overwritten in place in no-grad runs).
            check(&Expr::unary(op, Expr::unary(UnaryOp::Neg, Expr::X)), &xs);
        }
    }

    #[test]
    fn every_binary_op_agrees_with_ops_on_a_dense_grid() {
        let xs = grid();
        let operands = [
            Expr::X,
            Expr::unary(UnaryOp::Sin, Expr::X),
            Expr::unary(UnaryOp::Neg, Expr::X),
            Expr::constant(0.0),
            Expr::constant(-0.5),
            Expr::constant(f64::NAN),
            Expr::unary(UnaryOp::Cos, Expr::constant(1.0)),
        ];
        for op in BinaryOp::ALL {
            for a in &operands {
                for b in &operands {
                    check(&Expr::binary(op, a.clone(), b.clone()), &xs);
                }
            }
        }
    }

    #[test]
    fn random_s2_members_and_paper_functions_agree_on_a_dense_grid() {
        let xs = grid();
        let space = SearchSpace::paper(2);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut exprs: Vec<Expr> = (0..40).map(|_| space.sample(&mut rng)).collect();
        exprs.extend(
            PAPER_FUNCTIONS
                .iter()
                .map(|(_, t)| t.parse::<Expr>().unwrap()),
        );
        for e in &exprs {
            check(e, &xs);
        }
    }

    #[test]
    fn special_values_match_the_op_definitions() {
        let act = |s: &str| Activation::new(&s.parse().unwrap(), ActivationMode::SymbolicGrad);
        let at = |a: &Activation, x: f32| {
            a.f_value(&Tensor::from_slice(&[x]))
                .unwrap()
                .double_value(&[0])
        };
        assert_eq!(at(&act("sinc(x)"), 0.0), 1.0);
        assert!((at(&act("sinc(x)"), 1.0) - 1f64.sin()).abs() < 1e-6);
        assert!(at(&act("sqrt(x)"), -1.0).is_nan());
        assert_eq!(at(&act("logabs(x)"), -(EPS as f32)), f64::NEG_INFINITY);
        assert!(at(&act("x / x"), 0.0).abs() < 1e-12);
        assert!((at(&act("1 / x"), 0.0) - 1.0 / EPS).abs() < 1e-2);
        assert_eq!(at(&act("softplus(x)"), 1000.0), 1000.0);
        assert_eq!(at(&act("softplus(x)"), -1000.0), 0.0);
        assert!(at(&act("max(x, sqrt(x))"), -1.0).is_nan());
        assert!(at(&act("min(sqrt(x), x)"), -1.0).is_nan());
        assert_eq!(at(&act("zero(sqrt(x))"), -1.0), 0.0);
        assert_eq!(at(&act("one(x)"), 5.0), 1.0);
        assert!(at(&act("sign(sqrt(x))"), -1.0).is_nan());
        assert!(at(&act("step(sqrt(x))"), -1.0).is_nan());
        assert_eq!(at(&act("dsinc(x)"), 0.0), 0.0);
    }

    /// Autograd agrees with the symbolic derivative wherever the function is smooth.
    #[test]
    fn autograd_and_symbolic_gradients_agree() {
        let xs: Vec<f64> = (0..=4000)
            .map(|i| r32(-10.0 + i as f64 * 5e-3 + 1.3e-4))
            .collect();
        let space = SearchSpace::paper(2);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut exprs: Vec<Expr> = (0..30).map(|_| space.sample(&mut rng)).collect();
        exprs.extend(
            PAPER_FUNCTIONS
                .iter()
                .map(|(_, t)| t.parse::<Expr>().unwrap()),
        );
        for e in &exprs {
            let sym = Activation::new(e, ActivationMode::SymbolicGrad);
            let auto = Activation::new(e, ActivationMode::Autograd);
            let (v_sym, g_sym) = run_tensor(&sym, &xs, true);
            let (v_auto, g_auto) = run_tensor(&auto, &xs, true);
            let (g_sym, g_auto) = (g_sym.unwrap(), g_auto.unwrap());
            let disagree = (0..xs.len())
                .filter(|&i| {
                    let (s, a) = (g_sym[i], g_auto[i]);
                    v_sym[i].is_finite()
                        && v_auto[i].is_finite()
                        && s.is_finite()
                        && a.is_finite()
                        && (s - a).abs() > 1e-3 * (1.0 + s.abs())
                })
                .count();
            assert!(disagree <= 4, "{e}: gradients differ at {disagree} points");
        }
    }

    #[test]
    fn derivative_zeros_are_strong_where_a_branch_is_inactive() {
        // sqrt(relu(x)): autograd's relu backward masks sqrt's infinite slope at 0.
        let e: Expr = "sqrt(relu(x))".parse().unwrap();
        let xs = [-2.0, -0.5, 0.0, 0.25, 4.0];
        for mode in [ActivationMode::SymbolicGrad, ActivationMode::Autograd] {
            let (v, g) = run_tensor(&Activation::new(&e, mode), &xs, true);
            assert_eq!(v, [0.0, 0.0, 0.0, 0.5, 2.0], "{mode}");
            let g = g.unwrap();
            assert_eq!(g[..2], [0.0, 0.0], "{mode}");
            assert_eq!(g[3], 1.0, "{mode}");
            assert_eq!(g[4], 0.25, "{mode}");
        }
    }

    #[test]
    fn symbolic_gradient_keeps_the_exact_value() {
        let e: Expr = "atan(x) * min(x, 0) + sinc(x)".parse().unwrap();
        let xs: Vec<f64> = (0..1000).map(|i| r32(-5.0 + i as f64 * 1e-2)).collect();
        let act = Activation::new(&e, ActivationMode::SymbolicGrad);
        assert_eq!(
            run_tensor(&act, &xs, false).0,
            run_tensor(&act, &xs, true).0
        );
    }

    #[test]
    fn relu_takes_the_fast_path() {
        for s in ["relu(x)", "max(x, 0)", "max(0, x)"] {
            let act = Activation::new(&s.parse().unwrap(), ActivationMode::SymbolicGrad);
            assert!(act.is_relu(), "{s}");
        }
        let act = Activation::new(&"max(x, 1)".parse().unwrap(), ActivationMode::SymbolicGrad);
        assert!(!act.is_relu());
        // In place on a consumed input, gradient 0 or 1.
        let x = Tensor::from_slice(&[-1.0f32, 0.0, 2.0]).set_requires_grad(true);
        let y = Activation::relu().f_forward_consume(&x * 1.0).unwrap();
        y.sum(Kind::Float).backward();
        assert_eq!(Vec::<f32>::try_from(&y).unwrap(), [0.0, 0.0, 2.0]);
        assert_eq!(Vec::<f32>::try_from(x.grad()).unwrap(), [0.0, 0.0, 1.0]);
    }

    #[test]
    fn consume_and_dropout_paths_match_the_plain_forward() {
        let e: Expr = "tanh(x) * min(x, 0) + x".parse().unwrap();
        let act = Activation::new(&e, ActivationMode::SymbolicGrad);
        let x = Tensor::randn([4, 8, 5, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let plain = act.f_forward(&x).unwrap();
        let consumed = act.f_forward_consume(&x * 1.0).unwrap();
        assert_eq!(plain, consumed);
        // Dropout folded into f and f': outputs are f / (1 - p) or 0, and the gradient
        // follows the same mask.
        tch::manual_seed(3);
        let y = act.f_forward_consume_dropout(&x * 1.0, 0.5, true).unwrap();
        let kept = y.ne(0.0);
        let expected = plain.detach() * 2.0;
        assert!(y
            .masked_select(&kept)
            .allclose(&expected.masked_select(&kept), 1e-6, 1e-6, false));
        let frac = kept
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!((0.3..0.7).contains(&frac), "{frac}");
        y.sum(Kind::Float).backward();
        let dropped = x.grad().masked_select(&kept.logical_not());
        assert_eq!(dropped.abs().max().double_value(&[]), 0.0);
        // Eval mode: no dropout.
        assert_eq!(act.f_forward_dropout(&x, 0.5, false).unwrap(), plain);
    }

    #[test]
    fn chunked_runs_equal_whole_tensor_runs() {
        // Over 2 * CHUNK elements (and not a multiple of CHUNK): run in slices.
        let e: Expr = "atan(x) * min(x, 0) + sinc(x) / (x^2 + 1)".parse().unwrap();
        let act = Activation::new(&e, ActivationMode::SymbolicGrad);
        let (p, f, df) = parts(&act);
        let x = Tensor::randn([2, CHUNK / 64 + 3, 8, 8], (Kind::Float, Device::Cpu)) * 3.0;
        let _guard = tch::no_grad_guard();
        let whole = p.run(&x, &[f, df.unwrap()], true).unwrap();
        let chunked = p.run_chunked(&x, &[f, df.unwrap()]).unwrap();
        for (a, b) in whole.iter().zip(&chunked) {
            assert_eq!(a.size(), x.size());
            assert!(a.equal(b));
        }
        assert!(act.f_value(&x).unwrap().equal(&whole[0]));
    }

    #[test]
    fn shared_subexpressions_are_computed_once() {
        // exp(x) and its derivative exp(x) are one node.
        let act = Activation::new(&"exp(x)".parse().unwrap(), ActivationMode::SymbolicGrad);
        assert_eq!(act.op_count(), 1);
        let act = Activation::new(
            &"sin(x) * sin(x)".parse().unwrap(),
            ActivationMode::Autograd,
        );
        assert_eq!(act.op_count(), 2);
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [ActivationMode::Autograd, ActivationMode::SymbolicGrad] {
            assert_eq!(m.to_string().parse::<ActivationMode>().unwrap(), m);
        }
        assert!("fast".parse::<ActivationMode>().is_err());
    }
}
