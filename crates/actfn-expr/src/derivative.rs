//! Symbolic derivatives `d/dx`, built from the op set plus the derivative helpers
//! ([`UnaryOp::AUX`]), with light simplification so the trees stay small.
//!
//! The tensor backend differentiates activations through these trees, so each rule below
//! fixes what the gradient is where the function has a kink, a pole or a removable
//! singularity, following torch where torch defines one:
//!
//! | op | derivative | at the special point |
//! |----|------------|----------------------|
//! | `abs(u)` | `sign(u) u'` | 0 at `u = 0` (torch) |
//! | `relu(u)` | `step(u) u'` | 0 at `u = 0` (torch) |
//! | `min0(u)` | `step(-u) u'` | 0 at `u = 0`, mirroring relu |
//! | `max(a, b)` | `a'` where `a > b`, `b'` where `a < b` | `(a' + b') / 2` at ties (torch's `maximum`) |
//! | `min(a, b)` | `a'` where `a < b`, `b'` where `a > b` | `(a' + b') / 2` at ties (torch's `minimum`) |
//! | `sqrt(u)` | `u' / (2 sqrt(u))` | `inf` at `u = 0`, NaN below (torch) |
//! | `sinc(u)` | `dsinc(u) u'` | 0 at `u = 0` |
//! | `logabs(u)` | `u' / (u + EPS)`, i.e. `div(u', u)` | pole at `u = -EPS` |
//! | `a / (b + EPS)` | `a' / (b + EPS) - a b' / (b + EPS)^2` | pole at `b = -EPS` |
//! | `sign`, `step` | 0 | (the jump at 0 is ignored) |
//! | `dsinc(u)` | `-(sinc(u) + 2 dsinc(u) / u) u'` | NaN at `u = 0` (a second derivative; unused by training) |
//!
//! # Limits
//!
//! [`Expr::derivative`] refuses, with [`ExprError::TooTall`] or [`ExprError::TooLarge`],
//! a function that is not accepted (see [`crate::limits`]) and a derivative that would
//! not be: the product rule and the quotient rule copy subtrees, so a derivative can be
//! taller (up to four levels per level of `f`, for nested quotients) and much larger than
//! `f`. Building stops as soon as the nodes it has made pass twice [`MAX_NODES`], so a
//! refused derivative costs bounded time and memory.
//!
//! The simplifications (`0 * a = 0`, `1 * a = a`, `a + 0 = a`, `--a = a`, folding ops
//! on literals) assume finite values: `d/dx zero(sqrt(x))` is `0` everywhere, although
//! evaluating the unsimplified product would give NaN for `x < 0`.

use std::cell::Cell;
use std::f64::consts::PI;

use crate::ast::Expr;
use crate::error::ExprError;
use crate::limits::{check_size, subject, MAX_NODES};
use crate::ops::{BinaryOp, UnaryOp};

impl Expr {
    /// The symbolic derivative `d/dx`; see the [module docs](crate::derivative) for the
    /// rules at kinks and poles, and for the limits: the result is always accepted
    /// ([`Expr::check_printable`]), or this is an error naming the limit.
    pub fn derivative(&self) -> Result<Expr, ExprError> {
        self.check_printable()?;
        let what = || format!("the derivative of {}", subject(self));
        let deriver = Deriver { made: Cell::new(0) };
        let d = deriver
            .derive(self)
            .map_err(|Exhausted| ExprError::TooLarge {
                subject: format!("{} (counting the nodes made while building it)", what()),
                nodes: deriver.made.get(),
                limit: MAX_NODES,
            })?;
        check_size(d.size(), what)?;
        Ok(d)
    }

    /// `f'(x)` in f64: [`Expr::derivative`] evaluated at `x`. Build the derivative once
    /// with [`Expr::derivative`] when evaluating at many points.
    pub fn derivative_at(&self, x: f64) -> Result<f64, ExprError> {
        Ok(self.derivative()?.eval(x))
    }
}

/// Building stopped: it made more than [`BUDGET`] nodes.
struct Exhausted;

/// The most nodes building a derivative may make (copies and new nodes, whether kept or
/// simplified away) before it stops: twice the limit of the result.
const BUDGET: usize = 2 * MAX_NODES;

/// The most new nodes (besides copies of subtrees) one rule below makes.
const NEW_PER_RULE: usize = 16;

/// Counts the nodes a derivative makes, so that building stops early on a derivative
/// that could never be accepted (`x * x * ... * x` has one quadratic in the factors).
struct Deriver {
    made: Cell<usize>,
}

impl Deriver {
    fn spend(&self, nodes: usize) -> Result<(), Exhausted> {
        self.made.set(self.made.get().saturating_add(nodes));
        if self.made.get() > BUDGET {
            Err(Exhausted)
        } else {
            Ok(())
        }
    }

    /// A counted copy of `e`.
    fn copy(&self, e: &Expr) -> Expr {
        self.made
            .set(self.made.get().saturating_add(e.node_count()));
        e.clone()
    }

    /// Recurses once per level of `e`, which is accepted, so at most `MAX_HEIGHT` deep.
    fn derive(&self, e: &Expr) -> Result<Expr, Exhausted> {
        self.spend(NEW_PER_RULE)?;
        let d = self.rule(e)?;
        // Copies made by the rule are counted by `copy`; check them here.
        self.spend(0)?;
        Ok(d)
    }

    fn rule(&self, e: &Expr) -> Result<Expr, Exhausted> {
        Ok(match e {
            Expr::X => c(1.0),
            Expr::Const(_) => c(0.0),
            Expr::Unary(op, a) => {
                if op.is_constant() || matches!(op, UnaryOp::Sign | UnaryOp::Step) {
                    return Ok(c(0.0));
                }
                let da = self.derive(a)?;
                if is(&da, 0.0) {
                    return Ok(c(0.0));
                }
                self.chain(*op, a, da)
            }
            Expr::Binary(op, a, b) => {
                let (da, db) = (self.derive(a)?, self.derive(b)?);
                let (a, b) = (&**a, &**b);
                self.binary_rule(*op, a, b, da, db)
            }
        })
    }

    fn binary_rule(&self, op: BinaryOp, a: &Expr, b: &Expr, da: Expr, db: Expr) -> Expr {
        let copy = |e: &Expr| self.copy(e);
        match op {
            BinaryOp::Add => add(da, db),
            BinaryOp::Sub => sub(da, db),
            BinaryOp::Mul => add(mul(da, copy(b)), mul(copy(a), db)),
            BinaryOp::Div => {
                let quotient = div(da, copy(b));
                let correction = div(div(mul(copy(a), db), copy(b)), copy(b));
                sub(quotient, correction)
            }
            BinaryOp::Max | BinaryOp::Min => {
                // Weights (1 ± sign(a - b)) / 2 are exactly 1, 1/2 or 0.
                let s = un(UnaryOp::Sign, sub(copy(a), copy(b)));
                let high = mul(c(0.5), add(c(1.0), copy(&s)));
                let low = mul(c(0.5), sub(c(1.0), s));
                let (wa, wb) = if op == BinaryOp::Max {
                    (high, low)
                } else {
                    (low, high)
                };
                add(mul(da, wa), mul(db, wb))
            }
        }
    }

    /// `d/dx op(a)` given `da = a'`.
    fn chain(&self, op: UnaryOp, a: &Expr, da: Expr) -> Expr {
        let a = || self.copy(a);
        let outer = match op {
            UnaryOp::Zero | UnaryOp::One | UnaryOp::Sign | UnaryOp::Step => return c(0.0),
            UnaryOp::Identity => return da,
            UnaryOp::Neg => return neg(da),
            UnaryOp::LogAbs => return div(da, a()),
            UnaryOp::Abs => un(UnaryOp::Sign, a()),
            UnaryOp::Square => mul(c(2.0), a()),
            UnaryOp::Cube => mul(c(3.0), un(UnaryOp::Square, a())),
            UnaryOp::Sqrt => mul(c(0.5), un(UnaryOp::Recip, un(UnaryOp::Sqrt, a()))),
            UnaryOp::Exp => un(UnaryOp::Exp, a()),
            UnaryOp::Gaussian => mul(mul(c(-2.0), a()), un(UnaryOp::Gaussian, a())),
            UnaryOp::Softplus => un(UnaryOp::Sigmoid, a()),
            UnaryOp::Sin => un(UnaryOp::Cos, a()),
            UnaryOp::Cos => neg(un(UnaryOp::Sin, a())),
            UnaryOp::Sinh => un(UnaryOp::Cosh, a()),
            UnaryOp::Cosh => un(UnaryOp::Sinh, a()),
            UnaryOp::Asinh => un(
                UnaryOp::Recip,
                un(UnaryOp::Sqrt, add(c(1.0), un(UnaryOp::Square, a()))),
            ),
            UnaryOp::Tanh => sub(c(1.0), un(UnaryOp::Square, un(UnaryOp::Tanh, a()))),
            UnaryOp::Atan => un(UnaryOp::Recip, add(c(1.0), un(UnaryOp::Square, a()))),
            UnaryOp::Atanh => un(UnaryOp::Recip, sub(c(1.0), un(UnaryOp::Square, a()))),
            UnaryOp::Relu => un(UnaryOp::Step, a()),
            UnaryOp::MinZero => un(UnaryOp::Step, neg(a())),
            UnaryOp::Sigmoid => {
                let s = un(UnaryOp::Sigmoid, a());
                mul(self.copy(&s), sub(c(1.0), s))
            }
            UnaryOp::Erf => mul(c(2.0 / PI.sqrt()), un(UnaryOp::Gaussian, a())),
            UnaryOp::Sinc => un(UnaryOp::DSinc, a()),
            UnaryOp::Recip => neg(un(UnaryOp::Square, un(UnaryOp::Recip, a()))),
            UnaryOp::DSinc => {
                let ratio = mul(un(UnaryOp::DSinc, a()), un(UnaryOp::Recip, a()));
                neg(add(un(UnaryOp::Sinc, a()), mul(c(2.0), ratio)))
            }
        };
        mul(outer, da)
    }
}

fn c(v: f64) -> Expr {
    Expr::constant(v)
}

fn is(e: &Expr, v: f64) -> bool {
    matches!(e, Expr::Const(k) if k.0 == v)
}

fn literal(e: &Expr) -> Option<f64> {
    match e {
        Expr::Const(k) => Some(k.0),
        _ => None,
    }
}

fn un(op: UnaryOp, a: Expr) -> Expr {
    match literal(&a) {
        Some(v) => c(op.eval(v)),
        None if op == UnaryOp::Neg => neg(a),
        None => Expr::unary(op, a),
    }
}

fn neg(a: Expr) -> Expr {
    match a {
        Expr::Const(k) => c(-k.0),
        Expr::Unary(UnaryOp::Neg, inner) => *inner,
        a => Expr::unary(UnaryOp::Neg, a),
    }
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    match (literal(&a), literal(&b)) {
        (Some(x), Some(y)) => c(op.eval(x, y)),
        _ => Expr::binary(op, a, b),
    }
}

fn add(a: Expr, b: Expr) -> Expr {
    if is(&a, 0.0) {
        b
    } else if is(&b, 0.0) {
        a
    } else {
        bin(BinaryOp::Add, a, b)
    }
}

fn sub(a: Expr, b: Expr) -> Expr {
    if is(&b, 0.0) {
        a
    } else if is(&a, 0.0) {
        neg(b)
    } else {
        bin(BinaryOp::Sub, a, b)
    }
}

fn mul(a: Expr, b: Expr) -> Expr {
    if is(&a, 0.0) || is(&b, 0.0) {
        c(0.0)
    } else if is(&a, 1.0) {
        b
    } else if is(&b, 1.0) {
        a
    } else if is(&a, -1.0) {
        neg(b)
    } else if is(&b, -1.0) {
        neg(a)
    } else {
        bin(BinaryOp::Mul, a, b)
    }
}

fn div(a: Expr, b: Expr) -> Expr {
    if is(&a, 0.0) {
        c(0.0)
    } else {
        bin(BinaryOp::Div, a, b)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::ops::EPS;
    use crate::space::SearchSpace;

    fn p(text: &str) -> Expr {
        Expr::parse(text).unwrap()
    }

    /// Compares `f'` with central differences on a grid, skipping points where the
    /// difference quotient is not converging (kinks, poles) or values are not finite.
    /// Returns how many points were checked.
    fn check(f: &Expr) -> usize {
        let df = f.derivative().unwrap();
        let mut checked = 0;
        for i in 0..=400 {
            let x = -5.0 + 0.025 * i as f64 + 0.0031;
            let quotient = |h: f64| (f.eval(x + h) - f.eval(x - h)) / (2.0 * h);
            let (coarse, fine) = (quotient(1e-4), quotient(1e-5));
            let exact = df.eval(x);
            let scale = 1.0 + fine.abs();
            // Rounding error of the quotient: large when |f| dwarfs its slope.
            let noise = 1e-15 * (1.0 + f.eval(x).abs()) / 1e-5;
            if !(coarse.is_finite() && fine.is_finite() && exact.is_finite())
                || fine.abs() > 1e6
                || noise > 1e-4 * scale
                || (coarse - fine).abs() > 1e-4 * scale + 10.0 * noise
            {
                continue;
            }
            assert!(
                (exact - fine).abs() <= 1e-5 * scale + 10.0 * noise,
                "f = {f}, f' = {df}, x = {x}: symbolic {exact}, numeric {fine}"
            );
            checked += 1;
        }
        checked
    }

    #[test]
    fn every_unary_op_matches_central_differences() {
        for op in UnaryOp::every() {
            // Compose with a non-trivial inner function to exercise the chain rule.
            let inner = p("0.7 * x + 0.2");
            let f = Expr::unary(op, inner);
            let checked = check(&f);
            let expected = match op {
                UnaryOp::Sqrt => 150,
                UnaryOp::Atanh => 80,
                _ => 300,
            };
            assert!(checked >= expected, "{op}: only {checked} points checked");
        }
    }

    #[test]
    fn every_binary_op_matches_central_differences() {
        for op in BinaryOp::ALL {
            let f = Expr::binary(op, p("sin(2 * x)"), p("0.3 * x^2 - 1"));
            assert!(check(&f) > 350, "{op}");
        }
    }

    #[test]
    fn random_s2_members_match_central_differences() {
        let s2 = SearchSpace::paper(2);
        let mut rng = ChaCha8Rng::seed_from_u64(2020);
        let mut total = 0;
        for _ in 0..300 {
            total += check(&s2.sample(&mut rng));
        }
        assert!(total > 300 * 150, "{total}");
    }

    #[test]
    fn values_at_kinks_follow_torch() {
        let at0 = |text: &str| p(text).derivative_at(0.0).unwrap();
        assert_eq!(at0("relu(x)"), 0.0);
        assert_eq!(at0("abs(x)"), 0.0);
        assert_eq!(at0("min0(x)"), 0.0);
        assert_eq!(at0("max(x, 0)"), 0.5);
        assert_eq!(at0("min(x, 0)"), 0.5);
        assert_eq!(at0("max(2 * x, x)"), 1.5);
        assert_eq!(at0("sinc(x)"), 0.0);
        assert_eq!(at0("sqrt(x)"), f64::INFINITY);
        assert!(p("sqrt(x)").derivative_at(-1.0).unwrap().is_nan());
        assert_eq!(
            p("logabs(x)").derivative_at(1.0).unwrap(),
            1.0 / (1.0 + EPS)
        );
        assert_eq!(p("max(x, 0)").derivative_at(3.0).unwrap(), 1.0);
        assert_eq!(p("max(x, 0)").derivative_at(-3.0).unwrap(), 0.0);
    }

    #[test]
    fn simplification_keeps_trees_small() {
        assert_eq!(p("x").derivative().unwrap(), c(1.0));
        assert_eq!(p("relu(x)").derivative().unwrap().to_string(), "step(x)");
        assert_eq!(p("x^2").derivative().unwrap().to_string(), "2 * x");
        assert_eq!(p("sin(x)").derivative().unwrap().to_string(), "cos(x)");
        assert_eq!(
            p("tanh(x) * min0(x)").derivative().unwrap().to_string(),
            "(1 - tanh(x)^2) * min0(x) + tanh(x) * step(-x)"
        );
        assert_eq!(p("zero(sqrt(x)) + 3").derivative().unwrap(), c(0.0));
        assert_eq!(
            p("max(x, 0)").derivative().unwrap().to_string(),
            "0.5 * (1 + sign(x))"
        );
        let s2 = SearchSpace::paper(2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let e = s2.sample(&mut rng);
            let d = e.derivative().unwrap();
            assert!(d.node_count() < 40 * e.node_count(), "{e} -> {d}");
            assert_eq!(Expr::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn derivatives_past_the_limits_are_errors() {
        use crate::limits::{MAX_HEIGHT, MAX_NODES};
        // x * x * ... * x: each factor adds two levels to the derivative.
        let product = p(&vec!["x"; MAX_HEIGHT].join(" * "));
        let err = product.derivative().unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::TooTall {
                    limit: MAX_HEIGHT,
                    ..
                }
            ),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("the derivative of \"x * x * x"),
            "{message}"
        );
        assert!(message.ends_with("more than the limit of 60"), "{message}");
        let short = p(&vec!["x"; 20].join(" * "));
        short.derivative().unwrap().check_printable().unwrap();
        // A wide function whose derivative copies it many times over stops early.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let wide = SearchSpace::new(13, vec![UnaryOp::Sin], vec![BinaryOp::Div])
            .unwrap()
            .sample(&mut rng);
        let err = wide.derivative().unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::TooLarge {
                    limit: MAX_NODES,
                    ..
                } | ExprError::TooTall { .. }
            ),
            "{err}"
        );
    }
}
