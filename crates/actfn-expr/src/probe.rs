//! Functional fingerprints and degeneracy checks: what an expression computes, read off
//! its values on a fixed set of probe points.
//!
//! Two trees that compute the same function (`add(tanh(x), sin(x))` and
//! `add(sin(x), tanh(x))`, `x * x` and `x^2`) get the same [`Fingerprint`], so a search
//! can skip functions it has already trained. A candidate that is non-finite on a probe
//! or constant over all of them is [degenerate](Degeneracy) and is never trained.
//!
//! "Non-finite on the probes" means rejected. For example `sqrt(x)` is NaN for `x < 0`,
//! so every `S_1` member that applies `sqrt` directly to `x` (and is not rescued by an
//! op that ignores its argument) is rejected; this is intended and matches torch, where
//! such a network would produce NaN on the first negative pre-activation.

use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ast::Expr;
use crate::hash::StableHasher;

/// The probe points, sorted: the odd tenths `-4.9, -4.7, ..., 4.9` spread over
/// `[-5, 5]` (none of them a pole at `-EPS` or `EPS`), plus `0`, `±0.01`, `±0.05`, the
/// integers `±1` to `±4`, and `±10` for the tails.
pub const PROBE_POINTS: [f64; 65] = [
    -10.0, -4.9, -4.7, -4.5, -4.3, -4.1, -4.0, -3.9, -3.7, -3.5, -3.3, -3.1, -3.0, -2.9, -2.7,
    -2.5, -2.3, -2.1, -2.0, -1.9, -1.7, -1.5, -1.3, -1.1, -1.0, -0.9, -0.7, -0.5, -0.3, -0.1,
    -0.05, -0.01, 0.0, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.5, 1.7, 1.9, 2.0, 2.1,
    2.3, 2.5, 2.7, 2.9, 3.0, 3.1, 3.3, 3.5, 3.7, 3.9, 4.0, 4.1, 4.3, 4.5, 4.7, 4.9, 10.0,
];

/// Values below this magnitude count as exactly 0 in a fingerprint, so that cancellation
/// noise (`1e-17` where exact arithmetic gives 0) does not split a function from itself.
pub const FINGERPRINT_ZERO: f64 = 1e-12;

/// Relative tolerance of [`degeneracy`]'s constant check: values within
/// `CONSTANT_TOLERANCE * max(1, |f(p_0)|)` of the first probe value count as equal.
pub const CONSTANT_TOLERANCE: f64 = 1e-9;

/// A 64-bit hash of what a function computes on [`PROBE_POINTS`]; stable across
/// platforms, Rust releases and runs. Displays (and parses) as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = std::num::ParseIntError;

    /// Reads the 16 hex digits that [`Fingerprint`]'s `Display` writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

/// The values of `e` on [`PROBE_POINTS`].
pub fn probe_values(e: &Expr) -> [f64; 65] {
    PROBE_POINTS.map(|x| e.eval(x))
}

/// The fingerprint of `e`: its value at each probe point, rounded to 8 significant
/// decimal digits (exactly, through Rust's correctly rounded `{:.7e}` formatting), with
/// magnitudes below [`FINGERPRINT_ZERO`] read as 0 and NaN, `inf` and `-inf` as fixed
/// tokens, hashed in order with 64-bit FNV-1a.
///
/// Rounding absorbs the last-bit differences of reassociated arithmetic; two values that
/// straddle a rounding boundary can still split a function, which costs a search one
/// duplicate evaluation, never a wrong result.
pub fn fingerprint(e: &Expr) -> Fingerprint {
    let mut hasher = StableHasher::new();
    for x in PROBE_POINTS {
        let v = e.eval(x);
        let token = if v.is_nan() {
            Token::Str("nan")
        } else if v.is_infinite() {
            Token::Str(if v > 0.0 { "inf" } else { "-inf" })
        } else if v.abs() < FINGERPRINT_ZERO {
            Token::Str("0")
        } else {
            Token::Value(v)
        };
        match token {
            Token::Str(s) => hasher.write(s.as_bytes()),
            Token::Value(v) => {
                use fmt::Write as _;
                write!(hasher, "{v:.7e}").expect("hashing cannot fail");
            }
        }
        hasher.write(b";");
    }
    Fingerprint(hasher.finish())
}

enum Token {
    Str(&'static str),
    Value(f64),
}

/// Why a candidate is not worth training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Degeneracy {
    /// NaN or infinite at probe point `at` (the first such, in [`PROBE_POINTS`] order).
    NonFinite {
        /// The probe point.
        at: f64,
    },
    /// The same value, within [`CONSTANT_TOLERANCE`], on every probe point.
    Constant {
        /// The value at the first probe point.
        value: f64,
    },
}

impl fmt::Display for Degeneracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Degeneracy::NonFinite { at } => write!(f, "non-finite at x = {at}"),
            Degeneracy::Constant { value } => write!(f, "constant {value} on every probe"),
        }
    }
}

/// Whether `e` is degenerate on [`PROBE_POINTS`]: non-finite at any of them (checked
/// first), or constant over all of them. `None` means fit to train.
pub fn degeneracy(e: &Expr) -> Option<Degeneracy> {
    let values = probe_values(e);
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Some(Degeneracy::NonFinite {
            at: PROBE_POINTS[i],
        });
    }
    let first = values[0];
    let tolerance = CONSTANT_TOLERANCE * first.abs().max(1.0);
    values
        .iter()
        .all(|v| (v - first).abs() <= tolerance)
        .then_some(Degeneracy::Constant { value: first })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{BinaryOp, UnaryOp, EPS};
    use crate::space::SearchSpace;

    fn p(text: &str) -> Expr {
        text.parse().unwrap()
    }

    #[test]
    fn probes_avoid_the_poles() {
        assert!(PROBE_POINTS.windows(2).all(|w| w[0] < w[1]));
        assert!(!PROBE_POINTS.contains(&-EPS) && !PROBE_POINTS.contains(&EPS));
        assert!(PROBE_POINTS.contains(&0.0));
    }

    #[test]
    fn equal_functions_collide() {
        assert_eq!(
            fingerprint(&p("tanh(x) + sin(x)")),
            fingerprint(&p("sin(x) + tanh(x)"))
        );
        assert_eq!(fingerprint(&p("x * x")), fingerprint(&p("x^2")));
        assert_eq!(fingerprint(&p("max(x, 0)")), fingerprint(&p("relu(x)")));
        assert_eq!(
            fingerprint(&p("(sin(x) + tanh(x)) + exp(x)")),
            fingerprint(&p("sin(x) + (tanh(x) + exp(x))"))
        );
        assert_ne!(fingerprint(&p("tanh(x)")), fingerprint(&p("sin(x)")));
        assert_ne!(fingerprint(&p("x")), fingerprint(&p("-x")));
    }

    #[test]
    fn fingerprint_is_stable() {
        // Pinned: a change here silently invalidates every stored search record.
        assert_eq!(fingerprint(&p("x")).to_string(), "3cb4187d4f155222");
        let f = fingerprint(&p("tanh(x) * min(x, 0)"));
        assert_eq!(f.to_string().parse::<Fingerprint>().unwrap(), f);
        assert_eq!(f.to_string().len(), 16);
    }

    #[test]
    fn s1_has_many_distinct_functions() {
        let s1 = SearchSpace::paper(1);
        let prints: std::collections::HashSet<_> =
            s1.enumerate().map(|e| fingerprint(&e)).collect();
        // Commutative duplicates and constant-folding collapse the 3,456 trees a lot.
        assert!(
            prints.len() > 1_000 && prints.len() < 3_456,
            "{}",
            prints.len()
        );
    }

    #[test]
    fn degeneracy_verdicts() {
        assert_eq!(
            degeneracy(&p("sqrt(x) + x")),
            Some(Degeneracy::NonFinite { at: -10.0 })
        );
        assert_eq!(
            degeneracy(&p("sin(x) - sin(x)")),
            Some(Degeneracy::Constant { value: 0.0 })
        );
        assert_eq!(
            degeneracy(&Expr::core_unit(
                BinaryOp::Add,
                UnaryOp::One,
                UnaryOp::Zero,
                Expr::X,
                Expr::X
            )),
            Some(Degeneracy::Constant { value: 1.0 })
        );
        assert_eq!(
            degeneracy(&p("sin(x)^2 + cos(x)^2")),
            Some(Degeneracy::Constant { value: 1.0 })
        );
        assert_eq!(
            degeneracy(&p("exp(exp(exp(x)))")),
            Some(Degeneracy::NonFinite { at: 1.9 })
        );
        assert_eq!(degeneracy(&p("tanh(x) * min(x, 0)")), None);
        assert_eq!(degeneracy(&p("relu(x)")), None);
        assert_eq!(
            Degeneracy::NonFinite { at: -10.0 }.to_string(),
            "non-finite at x = -10"
        );
    }
}
