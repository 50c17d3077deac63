//! The functional distance of two activation functions, read off their values on the
//! probe points of [`crate::probe`]: how far apart two candidates are, so that a search
//! can keep near-equal functions (`atan(x)` and `1.0001 * atan(x)`) out of one population.
//!
//! The distance is the largest difference over [`PROBE_POINTS`], measured at each point
//! relative to the larger magnitude of the two values there, but never relative to less
//! than 1:
//!
//! ```text
//! d(f, g) = max over probe points p of |f(p) - g(p)| / max(1, |f(p)|, |g(p)|)
//! ```
//!
//! Where both values are at most 1 in magnitude (around the origin, where a network's
//! batch-normalised pre-activations mostly fall, and where bounded functions live) this is
//! their absolute difference; where they are large it is their relative difference, so
//! that tails of exponential size neither dominate (as in an RMS over the probes) nor
//! vanish. A maximum, not a mean: two functions are near only if they agree at every
//! probe point, so `x^3` and `x^3 + tanh(x)` (equal tails, different shapes near 0) are
//! far apart.
//!
//! Non-finite values: a point where both are NaN, or both the same infinity, adds
//! nothing; a point where only one is finite, or the infinities differ, makes the
//! distance infinite. (A search trains only functions finite on every probe point.)
//!
//! Values: 0 for functions equal on the probes; `d(c f, f) = |c - 1| / max(1, c)` for a
//! large `f` and at most that for any `f`; `tanh` and `erf` are 0.081 apart, `tanh` and
//! `atan` 0.32, `tanh` and `2 tanh` 0.5, `x^3` and `x^3 + tanh(x)` 0.60.

use crate::ast::Expr;
use crate::probe::{probe_values, PROBE_POINTS};

/// The distance up to which a search with diversity counts two functions as near-equal
/// by default: 1%, so that a constant factor within 1% of 1, an added constant below
/// 0.01, or an agreement to two decimals everywhere is "the same function", while
/// functions that differ as much as `tanh` and `erf` (0.081) stay distinct. Among the
/// 1,734 functionally distinct, non-degenerate members of the paper's `S_1`, 76 have a
/// neighbour this near: mostly variants through the ops' `EPS` (`f / one(x)` next to
/// `zero(x) + f`, 0.001 apart), and a few such as `max(x^2, atan(x))` next to
/// `max(x^2, tanh(x))` (0.006); the next pairs (`x^3 + atan(x)` and `x^3 + tanh(x)`,
/// 0.018) already differ visibly.
pub const DEFAULT_DIVERSITY: f64 = 0.01;

/// A function's values on [`PROBE_POINTS`], the input of [`distance`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeValues(pub [f64; PROBE_POINTS.len()]);

impl ProbeValues {
    /// The values of `e`.
    pub fn of(e: &Expr) -> ProbeValues {
        ProbeValues(probe_values(e))
    }
}

/// The distance of two functions given by their probe values (see the module).
pub fn distance(f: &ProbeValues, g: &ProbeValues) -> f64 {
    f.0.iter()
        .zip(&g.0)
        .map(|(&a, &b)| point_distance(a, b))
        .fold(0.0, f64::max)
}

/// The distance of two values at one probe point.
fn point_distance(a: f64, b: f64) -> f64 {
    if a.is_finite() && b.is_finite() {
        return (a - b).abs() / 1f64.max(a.abs()).max(b.abs());
    }
    let same_nan = a.is_nan() && b.is_nan();
    // Two infinities of the same sign compare equal; anything else non-finite is apart.
    if same_nan || a == b {
        0.0
    } else {
        f64::INFINITY
    }
}

/// The distance of two expressions (see the module).
pub fn expr_distance(f: &Expr, g: &Expr) -> f64 {
    distance(&ProbeValues::of(f), &ProbeValues::of(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(f: &str, g: &str) -> f64 {
        expr_distance(&f.parse().unwrap(), &g.parse().unwrap())
    }

    #[test]
    fn near_equal_functions_are_near() {
        assert_eq!(d("tanh(x) + sin(x)", "sin(x) + tanh(x)"), 0.0);
        let scaled = d("atan(x)", "atan(x) * 1.0001");
        assert!(scaled > 0.0 && scaled <= 1e-4 + 1e-12, "{scaled}");
        let shifted = d("erf(x)", "erf(x) + 0.005");
        assert!((shifted - 0.005).abs() < 1e-12, "{shifted}");
        // Large values compare relatively: a 0.5% change of exp is 0.005 away.
        let exp = d("exp(x)", "exp(x) * 1.005");
        assert!((exp - 0.005 / 1.005).abs() < 1e-9, "{exp}");
        for (f, g) in [
            ("atan(x)", "atan(x) * 1.0001"),
            ("erf(x)", "erf(x) + 0.005"),
            ("relu(x)", "relu(x) + 0.001 * sin(x)"),
        ] {
            assert!(d(f, g) < DEFAULT_DIVERSITY, "{f} vs {g}: {}", d(f, g));
        }
    }

    #[test]
    fn different_functions_are_not_near() {
        for (f, g, at_least) in [
            ("tanh(x)", "erf(x)", 0.08),
            ("tanh(x)", "atan(x)", 0.3),
            ("tanh(x)", "2 * tanh(x)", 0.5),
            ("x", "relu(x)", 1.0),
            ("x^3", "x^3 + tanh(x)", 0.6),
            ("x", "-x", 2.0),
            ("x^3 + atan(x)", "x^3 + tanh(x)", 0.0178),
            ("atan(x)", "atan(x) * 1.02", 0.0196),
        ] {
            let got = d(f, g);
            assert!(got >= at_least, "{f} vs {g}: {got}");
            assert!(got > DEFAULT_DIVERSITY, "{f} vs {g}: {got}");
            assert_eq!(got, d(g, f), "symmetric");
        }
        assert!((d("tanh(x)", "erf(x)") - 0.0811).abs() < 1e-4);
    }

    #[test]
    fn non_finite_values() {
        assert_eq!(point_distance(f64::NAN, f64::NAN), 0.0);
        assert_eq!(point_distance(f64::INFINITY, f64::INFINITY), 0.0);
        assert_eq!(
            point_distance(f64::INFINITY, f64::NEG_INFINITY),
            f64::INFINITY
        );
        assert_eq!(point_distance(f64::NAN, 1.0), f64::INFINITY);
        assert_eq!(point_distance(2.0, f64::NEG_INFINITY), f64::INFINITY);
        // sqrt(x) is NaN on the negative probes; so is sqrt(x) + tiny.
        assert!(d("sqrt(x)", "sqrt(x) * 1.0001") < 1e-3);
        assert_eq!(d("sqrt(x)", "sqrt(abs(x))"), f64::INFINITY);
    }
}
