//! Activation functions on tensors: an [`Expr`] compiled to libtorch ops, one function per
//! op mirroring `actfn_expr::ops` exactly, with two ways to differentiate it and two
//! ways to run the symbolic one.
//!
//! Compilation first applies rewrites that keep every value bit for bit (`-(-a)`,
//! `(-a) * (-b)`, clamps that cannot bind such as `max(|x|, 0)`: [`actfn_expr::simplify`]),
//! then turns `f` (and, in
//! [`ActivationMode::SymbolicGrad`] and [`ActivationMode::Fused`], its symbolic derivative
//! `f'` from
//! [`Expr::derivative`]) into one small program: a DAG with shared subexpressions merged
//! and constant subtrees folded in f64 (`cos(1)` is a scalar, `zero(x)` is the constant 0).
//! Running it costs one libtorch kernel per remaining op. In `f'`, a product of a branch
//! selector (`step`, `sign`, the weights of `max`/`min`) with a factor that may be
//! infinite has a strong zero, as autograd's masked backward rules do: `sqrt(relu(x))`
//! has slope 0, not NaN, for `x <= 0`.
//!
//! The modes differ in how `f` and `f'` are computed, and Autograd from the others only
//! in training (when the input requires a gradient):
//!
//! - [`ActivationMode::Autograd`] runs the ops out of place and lets autograd record them:
//!   every intermediate is kept for the backward pass.
//! - [`ActivationMode::SymbolicGrad`] runs `f` and `f'` under `no_grad`, in place where an
//!   intermediate is not needed again (on the CPU over cache-sized slices), and returns
//!   what `f.detach() + (x - x.detach()) * f'.detach()` would: exactly the value `f`,
//!   the exact derivative `f'`, and a single saved tensor (`f'`) per activation instead
//!   of the whole op tree.
//! - [`ActivationMode::Fused`] is the same, but on the CPU (f32) the whole program runs
//!   element by element in one pass over memory (`fused.rs`, elementary functions in
//!   `vmath.rs`), on `tch::get_num_threads()` threads; the values agree with the op-by-op
//!   ones to a few f32 ulps (the transcendental functions are other approximations), not
//!   bit for bit. On other devices it runs op by op.
//!
//! `relu(x)` (or `max(x, 0)`) always takes the fast path `Tensor::relu`.
//!
//! The compiler is `program.rs` (the DAG and how it runs), the tensor function of each op
//! `kernels.rs`, the fused CPU kernel `fused.rs`.

use std::fmt;
use std::str::FromStr;

use actfn_expr::{simplify, Expr, UnaryOp};
use serde::{Deserialize, Serialize};
use tch::{TchError, Tensor};

use fused::Fused;
use program::{Program, Ref};

mod fused;
mod kernels;
mod lanes;
mod program;
mod team;
#[cfg(test)]
mod tests;
mod vmath;

/// How an activation's gradient is computed in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationMode {
    /// Autograd through every op of `f`: simple, but stores every intermediate.
    Autograd,
    /// `f` and its symbolic derivative computed without autograd, op by op with libtorch
    /// kernels; stores only `f'`. Faster and much leaner than
    /// [`ActivationMode::Autograd`] (`actfn bench step` measures both).
    #[default]
    #[serde(rename = "symbolic")]
    SymbolicGrad,
    /// As [`ActivationMode::SymbolicGrad`], but on the CPU `f` and `f'` come from one
    /// fused pass over memory (`fused.rs`): the same values to f32 rounding of the
    /// transcendental functions, not bit for bit. On other devices, op by op.
    Fused,
}

impl ActivationMode {
    /// The name used on the command line and in configs: `autograd` or `symbolic`.
    pub fn name(self) -> &'static str {
        match self {
            ActivationMode::Autograd => "autograd",
            ActivationMode::SymbolicGrad => "symbolic",
            ActivationMode::Fused => "fused",
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
            "fused" => Ok(ActivationMode::Fused),
            other => Err(format!(
                "unknown activation mode {other:?} (expected autograd, symbolic or fused)"
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
        /// In fused mode, the CPU kernels for `f` alone and for `f` with `f'`.
        fused: Option<Box<FusedPair>>,
    },
}

/// The fused kernels of a program (see `fused.rs`).
#[derive(Debug, Clone)]
struct FusedPair {
    value: Fused,
    /// `f` and `f'`; `None` without a symbolic derivative.
    both: Option<Fused>,
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
                ActivationMode::SymbolicGrad | ActivationMode::Fused => {
                    simple.derivative().ok().map(|d| program.add_derivative(&d))
                }
            };
            let fused = (mode == ActivationMode::Fused).then(|| {
                Box::new(FusedPair {
                    value: Fused::new(&program, &[f]),
                    both: df.map(|df| Fused::new(&program, &[f, df])),
                })
            });
            Plan::Program {
                program,
                f,
                df,
                fused,
            }
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
            Plan::Program {
                program, f, fused, ..
            } => match fused {
                Some(k) if Fused::accepts(x) => Ok(k.value.run(x)?.pop().expect("one output")),
                _ => Ok(program.run_chunked(x, &[*f])?.pop().expect("one output")),
            },
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
            Plan::Program {
                program,
                f,
                df,
                fused,
            } => match (needs_grad, df) {
                (true, Some(df)) => {
                    let both = fused.as_ref().and_then(|k| k.both.as_ref());
                    let p = if dropout { p } else { 0.0 };
                    return symbolic_grad(program, both, x, *f, *df, p);
                }
                // Autograd mode: out of place, so that autograd may keep what it needs.
                (true, None) => program.run(x.tensor(), &[*f], false)?.remove(0),
                // No gradient wanted: the value only, in place where possible.
                (false, _) => {
                    let _guard = tch::no_grad_guard();
                    match fused {
                        Some(k) if Fused::accepts(x.tensor()) => k.value.run(x.tensor())?.remove(0),
                        _ => program.run_chunked(x.tensor(), &[*f])?.remove(0),
                    }
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
    fused: Option<&Fused>,
    x: Input<'_>,
    f: Ref,
    df: Ref,
    p: f64,
) -> Result<Tensor, TchError> {
    let (value, slope) = {
        let _guard = tch::no_grad_guard();
        let mut outs = match fused {
            Some(k) if Fused::accepts(x.tensor()) => k.run(x.tensor())?,
            _ => program.run_chunked(x.tensor(), &[f, df])?,
        };
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
