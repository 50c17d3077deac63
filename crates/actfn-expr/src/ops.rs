//! The op set: every unary and binary operation an activation function is built from,
//! and the exact numeric meaning of each (domain, epsilon, special values).
//!
//! This module is the single source of truth for what an op computes. The tensor backend
//! in `actfn-wrn` mirrors [`UnaryOp::eval`] and [`BinaryOp::eval`] op by op, and a test
//! there pins the two together on a dense grid.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ExprError;

/// The epsilon of the paper's protected operations `log(|x + EPS|)` and
/// `x1 / (x2 + EPS)`.
///
/// The paper does not give its value. `1e-3` keeps the poles close to where the paper
/// places them (`x = -EPS`) while staying far above f32 rounding, so the f64 evaluator and
/// the f32 tensor backend agree everywhere except in a tiny neighbourhood of the pole.
pub const EPS: f64 = 1e-3;

/// A unary operation `f(x)`.
///
/// Out-of-domain behaviour follows IEEE arithmetic, as torch and numpy do: `sqrt` of a
/// negative number is NaN, `atanh` is NaN outside `[-1, 1]` and infinite at `±1`,
/// `log(|x + EPS|)` is `-inf` at `x = -EPS`. Such values make a candidate *degenerate*
/// (see the fingerprint module); the search never trains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryOp {
    /// The constant 0.
    Zero,
    /// The constant 1.
    One,
    /// The identity `x`.
    Identity,
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `x^2`.
    Square,
    /// `x^3`.
    Cube,
    /// `sqrt(x)`; NaN for `x < 0`.
    Sqrt,
    /// `e^x`.
    Exp,
    /// `e^(-x^2)`.
    Gaussian,
    /// `log(1 + e^x)`, computed without overflow.
    Softplus,
    /// `log(|x + EPS|)`.
    LogAbs,
    /// `sin(x)`.
    Sin,
    /// `sinh(x)`.
    Sinh,
    /// `arcsinh(x)`.
    Asinh,
    /// `cos(x)`.
    Cos,
    /// `cosh(x)`.
    Cosh,
    /// `tanh(x)`.
    Tanh,
    /// `arctan(x)`: not in the paper's printed op list, but used by every function it reports.
    Atan,
    /// `arctanh(x)`: in the paper's printed op list; NaN outside `[-1, 1]`.
    Atanh,
    /// `max{x, 0}`.
    Relu,
    /// `min{x, 0}`.
    MinZero,
    /// `sigma(x) = 1 / (1 + e^-x)`.
    Sigmoid,
    /// `erf(x)`.
    Erf,
    /// `sinc(x) = sin(x) / x`, with `sinc(0) = 1` (unnormalised; not torch's `sin(pi x)/(pi x)`).
    Sinc,
    /// Derivative helper, never in a search space: `sign(x)` in `{-1, 0, 1}`, with
    /// `sign(0) = 0` (so `|x|' = 0` at 0, as in torch); NaN stays NaN.
    Sign,
    /// Derivative helper, never in a search space: the step `1` for `x > 0`, else `0`,
    /// with `step(0) = 0` (so `relu'(0) = 0`, as in torch); NaN stays NaN.
    Step,
    /// Derivative helper, never in a search space: the plain reciprocal `1 / x`
    /// (unprotected: infinite at 0).
    Recip,
    /// Derivative helper, never in a search space: `sinc'(x) = (cos(x) - sinc(x)) / x`,
    /// with `sinc'(0) = 0`.
    DSinc,
}

/// A binary operation `f(x1, x2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinaryOp {
    /// `x1 + x2`.
    Add,
    /// `x1 - x2`.
    Sub,
    /// `x1 * x2`.
    Mul,
    /// The paper's protected division `x1 / (x2 + EPS)`.
    Div,
    /// `max{x1, x2}`.
    Max,
    /// `min{x1, x2}`.
    Min,
}

impl UnaryOp {
    /// Every unary op a search space may use, `Atanh` included, in declaration order.
    /// The derivative helpers ([`UnaryOp::AUX`]) are not in it.
    pub const ALL: [UnaryOp; 25] = [
        UnaryOp::Zero,
        UnaryOp::One,
        UnaryOp::Identity,
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Square,
        UnaryOp::Cube,
        UnaryOp::Sqrt,
        UnaryOp::Exp,
        UnaryOp::Gaussian,
        UnaryOp::Softplus,
        UnaryOp::LogAbs,
        UnaryOp::Sin,
        UnaryOp::Sinh,
        UnaryOp::Asinh,
        UnaryOp::Cos,
        UnaryOp::Cosh,
        UnaryOp::Tanh,
        UnaryOp::Atan,
        UnaryOp::Atanh,
        UnaryOp::Relu,
        UnaryOp::MinZero,
        UnaryOp::Sigmoid,
        UnaryOp::Erf,
        UnaryOp::Sinc,
    ];

    /// The paper's 24 unary ops with `arctan` in place of `arctanh`: the default search set,
    /// so that `|S1| = 6 * 24 * 24 = 3,456`.
    pub const PAPER: [UnaryOp; 24] = [
        UnaryOp::Zero,
        UnaryOp::One,
        UnaryOp::Identity,
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Square,
        UnaryOp::Cube,
        UnaryOp::Sqrt,
        UnaryOp::Exp,
        UnaryOp::Gaussian,
        UnaryOp::Softplus,
        UnaryOp::LogAbs,
        UnaryOp::Sin,
        UnaryOp::Sinh,
        UnaryOp::Asinh,
        UnaryOp::Cos,
        UnaryOp::Cosh,
        UnaryOp::Tanh,
        UnaryOp::Atan,
        UnaryOp::Relu,
        UnaryOp::MinZero,
        UnaryOp::Sigmoid,
        UnaryOp::Erf,
        UnaryOp::Sinc,
    ];

    /// The derivative helpers: ops that symbolic derivatives need but that are not part
    /// of the paper's op set and may not appear in a [`crate::SearchSpace`].
    pub const AUX: [UnaryOp; 4] = [UnaryOp::Sign, UnaryOp::Step, UnaryOp::Recip, UnaryOp::DSinc];

    /// Every unary op, derivative helpers included: [`UnaryOp::ALL`] then [`UnaryOp::AUX`].
    pub fn every() -> impl Iterator<Item = UnaryOp> {
        UnaryOp::ALL.into_iter().chain(UnaryOp::AUX)
    }

    /// The op with this canonical [`name`](UnaryOp::name) (`"min0"`, `"logabs"`, ...).
    pub fn from_name(name: &str) -> Option<UnaryOp> {
        UnaryOp::every().find(|op| op.name() == name)
    }

    /// Whether this is a derivative helper ([`UnaryOp::AUX`]).
    pub fn is_auxiliary(self) -> bool {
        UnaryOp::AUX.contains(&self)
    }

    /// The canonical name, used by the canonical printer and accepted by the parser as a
    /// function call: `relu(x)`, `min0(x)`, `gauss(x)`, `logabs(x)`, ...
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Zero => "zero",
            UnaryOp::One => "one",
            UnaryOp::Identity => "id",
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Square => "square",
            UnaryOp::Cube => "cube",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Exp => "exp",
            UnaryOp::Gaussian => "gauss",
            UnaryOp::Softplus => "softplus",
            UnaryOp::LogAbs => "logabs",
            UnaryOp::Sin => "sin",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Asinh => "asinh",
            UnaryOp::Cos => "cos",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Atan => "atan",
            UnaryOp::Atanh => "atanh",
            UnaryOp::Relu => "relu",
            UnaryOp::MinZero => "min0",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Erf => "erf",
            UnaryOp::Sinc => "sinc",
            UnaryOp::Sign => "sign",
            UnaryOp::Step => "step",
            UnaryOp::Recip => "recip",
            UnaryOp::DSinc => "dsinc",
        }
    }

    /// `f(x)` in f64, with the semantics documented on each variant.
    #[inline]
    pub fn eval(self, x: f64) -> f64 {
        match self {
            UnaryOp::Zero => 0.0,
            UnaryOp::One => 1.0,
            UnaryOp::Identity => x,
            UnaryOp::Neg => -x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Square => x * x,
            UnaryOp::Cube => x * x * x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Gaussian => (-x * x).exp(),
            UnaryOp::Softplus => softplus(x),
            UnaryOp::LogAbs => (x + EPS).abs().ln(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Sinh => x.sinh(),
            UnaryOp::Asinh => x.asinh(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Cosh => x.cosh(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Atan => x.atan(),
            UnaryOp::Atanh => x.atanh(),
            UnaryOp::Relu => relu(x),
            UnaryOp::MinZero => min_zero(x),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Erf => libm::erf(x),
            UnaryOp::Sinc => {
                if x == 0.0 {
                    1.0
                } else {
                    x.sin() / x
                }
            }
            UnaryOp::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x * 0.0 // 0 for ±0, NaN for NaN
                }
            }
            UnaryOp::Step => {
                if x > 0.0 {
                    1.0
                } else if x.is_nan() {
                    x
                } else {
                    0.0
                }
            }
            UnaryOp::Recip => 1.0 / x,
            UnaryOp::DSinc => {
                if x == 0.0 {
                    0.0
                } else {
                    (x.cos() - x.sin() / x) / x
                }
            }
        }
    }

    /// Whether the op ignores its argument (`0` and `1`).
    pub fn is_constant(self) -> bool {
        matches!(self, UnaryOp::Zero | UnaryOp::One)
    }

    /// Whether the op, not a constant, is never negative: its value is `>= 0` (or NaN)
    /// for every argument. Simplifiers use it to drop `relu` of such a value.
    pub fn is_nonnegative(self) -> bool {
        matches!(
            self,
            UnaryOp::Abs
                | UnaryOp::Square
                | UnaryOp::Sqrt
                | UnaryOp::Exp
                | UnaryOp::Gaussian
                | UnaryOp::Softplus
                | UnaryOp::Cosh
                | UnaryOp::Relu
                | UnaryOp::Sigmoid
                | UnaryOp::Step
        )
    }
}

impl BinaryOp {
    /// Every binary op, in declaration order; also the paper's search set.
    pub const ALL: [BinaryOp; 6] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
    ];

    /// The op with this canonical [`name`](BinaryOp::name).
    pub fn from_name(name: &str) -> Option<BinaryOp> {
        BinaryOp::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The canonical name: `add`, `sub`, `mul`, `div`, `max`, `min`.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
        }
    }

    /// `f(a, b)` in f64. `max`/`min` propagate NaN (unlike `f64::max`), as torch's
    /// `maximum`/`minimum` do, so a NaN is never silently hidden.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / (b + EPS),
            BinaryOp::Max => maximum(a, b),
            BinaryOp::Min => minimum(a, b),
        }
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UnaryOp {
    type Err = ExprError;

    /// Reads a canonical name, as in `--unary-ops tanh,relu`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnaryOp::from_name(s.trim()).ok_or_else(|| ExprError::UnknownOp {
            kind: "unary",
            name: s.to_owned(),
        })
    }
}

impl FromStr for BinaryOp {
    type Err = ExprError;

    /// Reads a canonical name, as in `--binary-ops add,mul`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BinaryOp::from_name(s.trim()).ok_or_else(|| ExprError::UnknownOp {
            kind: "binary",
            name: s.to_owned(),
        })
    }
}

/// Ops serialize as their canonical names, so configs read `["tanh", "relu"]`.
impl Serialize for UnaryOp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for UnaryOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(D::Error::custom)
    }
}

impl Serialize for BinaryOp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for BinaryOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(D::Error::custom)
    }
}

fn softplus(x: f64) -> f64 {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact and overflow-free for any x.
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

// `f64::max`/`min` may return either zero for `max(-0, +0)`; these pick one, so that
// `relu(x)` and `max(x, 0)` agree bit for bit (a later `1/x` turns the sign of a zero into
// the sign of an infinity).
fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        // Equal: only the zeros' signs can differ; +0 wins.
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        // Equal: only the zeros' signs can differ; -0 wins.
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

fn relu(x: f64) -> f64 {
    maximum(x, 0.0)
}

fn min_zero(x: f64) -> f64 {
    minimum(x, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_set_swaps_atanh_for_atan() {
        assert_eq!(UnaryOp::PAPER.len(), 24);
        assert!(UnaryOp::PAPER.contains(&UnaryOp::Atan));
        assert!(!UnaryOp::PAPER.contains(&UnaryOp::Atanh));
    }

    #[test]
    fn special_values() {
        assert_eq!(UnaryOp::Sinc.eval(0.0), 1.0);
        assert!((UnaryOp::Sinc.eval(1.0) - 1f64.sin()).abs() < 1e-15);
        assert!(UnaryOp::Sqrt.eval(-1.0).is_nan());
        assert!(UnaryOp::Atanh.eval(2.0).is_nan());
        assert_eq!(UnaryOp::LogAbs.eval(-EPS), f64::NEG_INFINITY);
        assert!((UnaryOp::Softplus.eval(1000.0) - 1000.0).abs() < 1e-12);
        assert!(UnaryOp::Softplus.eval(-1000.0) >= 0.0);
        assert_eq!(UnaryOp::Sigmoid.eval(-1000.0), 0.0);
        assert!(BinaryOp::Max.eval(f64::NAN, 1.0).is_nan());
        assert!((BinaryOp::Div.eval(1.0, 0.0) - 1.0 / EPS).abs() < 1e-9);
        assert_eq!(UnaryOp::Sign.eval(0.0), 0.0);
        assert_eq!(UnaryOp::Sign.eval(-3.0), -1.0);
        assert!(UnaryOp::Sign.eval(f64::NAN).is_nan());
        assert_eq!(UnaryOp::Step.eval(0.0), 0.0);
        assert_eq!(UnaryOp::Step.eval(2.0), 1.0);
        assert_eq!(UnaryOp::DSinc.eval(0.0), 0.0);
        assert_eq!(UnaryOp::Recip.eval(0.0), f64::INFINITY);
    }

    #[test]
    fn names_round_trip() {
        for op in UnaryOp::every() {
            assert_eq!(UnaryOp::from_name(op.name()), Some(op));
            assert_eq!(op.name().parse::<UnaryOp>().unwrap(), op);
        }
        for op in BinaryOp::ALL {
            assert_eq!(op.name().parse::<BinaryOp>().unwrap(), op);
        }
        assert!(UnaryOp::AUX.iter().all(|op| !UnaryOp::ALL.contains(op)));
        assert_eq!(
            "foo".parse::<UnaryOp>().unwrap_err().to_string(),
            "unknown unary op \"foo\""
        );
        let json = serde_json::to_string(&[UnaryOp::MinZero, UnaryOp::LogAbs]).unwrap();
        assert_eq!(json, r#"["min0","logabs"]"#);
        let back: Vec<UnaryOp> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [UnaryOp::MinZero, UnaryOp::LogAbs]);
    }
}
