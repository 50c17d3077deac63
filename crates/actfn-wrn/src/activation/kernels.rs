//! One tensor function per op, mirroring `actfn_expr::ops` exactly (a test pins the two
//! together on a dense grid), in place on an operand nobody reads again.

use actfn_expr::{BinaryOp, UnaryOp, EPS};
use tch::{TchError, Tensor};

/// An operand: a tensor we may overwrite, a tensor read by others, or a scalar.
pub(super) enum Arg {
    Owned(Tensor),
    Shared(Tensor),
    Scalar(f64),
}

/// A tensor operand of a unary op (unary ops of constants are folded at compile time).
pub(super) enum TArg {
    Owned(Tensor),
    Shared(Tensor),
}

impl Arg {
    pub(super) fn tensor(self) -> TArg {
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
pub(super) fn unary(op: UnaryOp, a: TArg) -> TResult {
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
pub(super) fn masked_mul(selector: Arg, other: Arg) -> TResult {
    let zero = match &selector {
        Arg::Owned(t) | Arg::Shared(t) => t.f_eq(0.0)?,
        Arg::Scalar(_) => unreachable!("a selector is a node"),
    };
    let mut product = mul(selector, other)?;
    product.f_masked_fill_(&zero, 0.0)
}

/// `op(a, b)` with the semantics of [`BinaryOp::eval`].
pub(super) fn binary(op: BinaryOp, a: Arg, b: Arg) -> TResult {
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
