//! Every activation function printed in the paper, transcribed to plain text that
//! [`Expr::parse`] reads, for the table-reproduction code and the parser's tests.
//!
//! The transcription follows the paper's notation closely: `e^(...)` for `e^{...}`,
//! `log(1 + e^E)` for softplus, `log(|E + eps|)` for the protected logarithm,
//! `a / (b + eps)` for protected division, `max(E, 0)` for `max{E, 0}`. Notes on the
//! few places where the source text is damaged are on [`PAPER_FUNCTIONS`].

use crate::ast::Expr;

/// `(label, text)` of every function the paper prints: Table 1's twelve discovered
/// functions (three per search strategy) and its two baselines, Table 3's specialised
/// function, and the functions of Figure 1. Tables 2 and 3 and Figure 6 reuse Table 1's
/// functions under these labels (Table 2: `exhaustive-1` and `evo-loss-3`; Table 3:
/// `wrn-40-4`, `exhaustive-2`, `swish`, `relu`); `evo-loss-3-table2` is Table 2's
/// caption's differently bracketed print of `evo-loss-3`.
///
/// Transcription notes:
/// * `evo-loss-1`: Table 1 prints `(e^{min{erf(x), 0}} - max{x, 0}) * ...`; Figure 6
///   prints `(e^{(min{erf(x), 0}) - (max{x, 0})}) * ...` with the whole difference in the
///   exponent, which is the shape of `evo-loss-2`; this follows Figure 6.
/// * `evo-acc-3`: Table 1's text `max{max{log(|min{x, 0} + ε|)} * (σ(erf(x))), 0}, 0}`
///   has one closing brace too many; it is read as
///   `max{max{log(|min{x, 0} + ε|) * σ(erf(x)), 0}, 0}`.
/// * Bars lost in the source (`log( (x) + ε )`) are restored as `log(|x + ε|)`, the op.
pub const PAPER_FUNCTIONS: &[(&str, &str)] = &[
    // Table 1, evolution with loss-based fitness (S_2).
    (
        "evo-loss-1",
        "e^(min(erf(x), 0) - max(x, 0)) * min(arctan(x^3) * max(|x|, 0), 0)",
    ),
    (
        "evo-loss-2",
        "e^(max(min(erf(x), 0), max(x, 0))) * min(arctan(x^3) * max(|x|, 0), 0)",
    ),
    (
        "evo-loss-3",
        "(-(arctan(x^3) * cos(1))) * (-(arctan(min(x, 0)) * max(|x|, 0)))",
    ),
    // Table 1, evolution with accuracy-based fitness (S_2).
    (
        "evo-acc-1",
        "min(e^(-(min((sinh(x))^2, (0)^2))^2), min(min(erf(log(1 + e^x)), arcsinh(x)), 0))",
    ),
    (
        "evo-acc-2",
        "min(cos(max(min(x, 0), log(1 + e^1))), e^(-((max(x, 0)) + (e^(sigma(x))))^2))",
    ),
    (
        "evo-acc-3",
        "max(max(log(|min(x, 0) + eps|) * sigma(erf(x)), 0), 0)",
    ),
    // Table 1, random search (S_2).
    (
        "random-1",
        "min(max((log(|x + eps|))^3, -(log(|x + eps|))), 0) \
         + (e^(min(tanh(x), 0)) + log(|max(x, 0) + eps|))",
    ),
    (
        "random-2",
        "arctan(min(sinh(sin(x)), arctan(max(x, 0)))) * (tanh(-sin(x)) * arcsinh(x))",
    ),
    (
        "random-3",
        "max(min(x^3, 0) / (max(sin(x), 0) + eps), 0) - min(x^2, max(x, 0))",
    ),
    // Table 1, exhaustive search (S_1).
    ("exhaustive-1", "arctan(x) * min(x, 0)"),
    ("exhaustive-2", "tanh(x) * min(x, 0)"),
    ("exhaustive-3", "min(x, 0) * erf(x)"),
    // Table 1, baselines.
    ("relu", "relu(x)"),
    ("swish", "x * sigmoid(x)"),
    // Table 3: discovered for WRN-40-4 on CIFAR-100.
    ("wrn-40-4", "sigmoid(x) * erf(x)"),
    // Table 2's caption.
    (
        "evo-loss-3-table2",
        "(-arctan(x^3)) * (cos(1)) * (-arctan(min(x, 0))) * (max(|x|, 0))",
    ),
    // Figure 1: an S_2 member before and after mutation.
    ("figure-1", "(min(1, cosh(x)))^3 * σ(e^x + arctan(x))"),
    (
        "figure-1-mutated",
        "(min(1, cosh(x)))^3 * |e^x + arctan(x)|",
    ),
];

/// The parsed function with this label of [`PAPER_FUNCTIONS`], if there is one.
pub fn paper_function(label: &str) -> Option<Expr> {
    PAPER_FUNCTIONS
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, text)| text.parse().expect("PAPER_FUNCTIONS parse (tested)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::EPS;
    use crate::print::Style;
    use crate::probe::{degeneracy, fingerprint};
    use crate::space::SearchSpace;

    #[test]
    fn every_paper_function_parses_and_round_trips() {
        for (label, text) in PAPER_FUNCTIONS {
            let e = Expr::parse(text).unwrap_or_else(|err| panic!("{label}: {err}"));
            assert_eq!(Expr::parse(&e.to_string()).unwrap(), e, "{label}");
            for style in [Style::Paper, Style::PaperAscii] {
                let again = Expr::parse(&e.styled(style).to_string()).unwrap();
                assert_eq!(fingerprint(&again), fingerprint(&e), "{label} {style:?}");
            }
        }
        let labels: std::collections::HashSet<_> = PAPER_FUNCTIONS.iter().map(|(l, _)| l).collect();
        assert_eq!(labels.len(), PAPER_FUNCTIONS.len());
    }

    #[test]
    fn values_match_the_formulas() {
        let x: f64 = -0.8;
        let f = |label| paper_function(label).unwrap().eval(x);
        assert_eq!(f("exhaustive-2"), x.tanh() * x.min(0.0));
        assert_eq!(f("swish"), x * (1.0 / (1.0 + (-x).exp())));
        let expected = (-((x.powi(3)).atan() * 1f64.cos())) * (-(x.min(0.0).atan() * x.abs()));
        assert!((f("evo-loss-3") - expected).abs() < 1e-15);
        assert!((f("evo-loss-3-table2") - expected).abs() < 1e-15);
        let expected =
            (x.powi(3).min(0.0) / (x.sin().max(0.0) + EPS)).max(0.0) - x.powi(2).min(x.max(0.0));
        assert!((f("random-3") - expected).abs() < 1e-15);
        let softplus1 = (1.0 + 1f64.exp()).ln();
        let expected = x
            .min(0.0)
            .max(softplus1)
            .cos()
            .min((-(x.max(0.0) + (1.0 / (1.0 + (-x).exp())).exp()).powi(2)).exp());
        assert!((f("evo-acc-2") - expected).abs() < 1e-15);
    }

    #[test]
    fn search_space_membership() {
        let s1 = SearchSpace::paper(1);
        let s2 = SearchSpace::paper(2);
        for label in [
            "exhaustive-1",
            "exhaustive-2",
            "exhaustive-3",
            "wrn-40-4",
            "swish",
        ] {
            let e = paper_function(label).unwrap();
            assert!(s1.recognize(&e).is_some(), "{label}");
        }
        for label in ["figure-1", "figure-1-mutated"] {
            let member = s2.recognize(&paper_function(label).unwrap()).expect(label);
            assert!(s2.contains(&member) && member.height() == 4);
        }
        // As the paper notes, the discovered S_2 functions are printed simplified.
        assert!(s2
            .recognize(&paper_function("evo-loss-3").unwrap())
            .is_none());
        for (label, _) in PAPER_FUNCTIONS {
            assert_eq!(degeneracy(&paper_function(label).unwrap()), None, "{label}");
        }
    }
}
