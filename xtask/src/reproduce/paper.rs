//! The paper's reference numbers and functions, printed beside the reproduced ones.

use super::paper_notation;

/// The baselines of Tables 1 to 3, by name, with their expressions.
pub(super) const BASELINES: [(&str, &str); 2] = [("ReLU", "relu(x)"), ("Swish", "x * sigmoid(x)")];

/// The paper's Table 1 accuracies (CIFAR-10, CIFAR-100) where its text attributes them to a
/// row unambiguously; `None` where the extracted table lost the row.
pub(super) fn paper_table1(
    search: &str,
    rank: usize,
) -> (Option<&'static str>, Option<&'static str>) {
    match (search, rank) {
        ("evolution-loss-s2", 1) => (Some("94.1"), Some("73.9")),
        ("random-s2", 1) => (Some("93.8 (*)"), Some("73.9 (*)")),
        ("random-s2", 2) => (Some("93.3"), Some("72.1")),
        ("random-s2", 3) => (Some("93.9"), Some("73.2")),
        ("exhaustive-s1", 1) => (Some("94.0"), Some("74.5")),
        ("exhaustive-s1", 2) => (Some("94.1"), Some("74.3")),
        ("exhaustive-s1", 3) => (Some("94.0"), Some("74.2")),
        ("baseline", 1) => (Some("94.0"), Some("73.3")),
        ("baseline", 2) => (Some("93.8"), Some("71.1")),
        _ => (None, None),
    }
}

/// The paper's function at a Table 1 row, in its notation (from actfn-expr's transcription).
pub(super) fn paper_function_at(search: &str, rank: usize) -> Option<String> {
    let label = match search {
        "evolution-loss-s2" => format!("evo-loss-{rank}"),
        "evolution-accuracy-s2" => format!("evo-acc-{rank}"),
        "random-s2" => format!("random-{rank}"),
        "exhaustive-s1" => format!("exhaustive-{rank}"),
        _ => return None,
    };
    actfn_expr::paper::paper_function(&label).map(|e| paper_notation(&e))
}

/// Table 2's pairs as the paper reports them: (function, baseline, t, p, runs of the
/// function, runs of the baseline).
pub(super) const TABLE2_PAIRS: [(&str, &str, f64, f64, usize, usize); 4] = [
    ("best S2", "ReLU", 4.51, 2.91e-5, 15, 50),
    ("best S2", "Swish", 3.17, 2.98e-3, 15, 25),
    ("best S1", "ReLU", 9.73, 4.64e-16, 50, 50),
    ("best S1", "Swish", 5.91, 9.91e-8, 50, 25),
];

/// The paper's Table 3 accuracy (%, WRN-40-4 on CIFAR-100) of a row, by role.
pub(super) fn table3_paper(role: &str) -> Option<&'static str> {
    match role {
        "specialized" => Some("72.6"),
        "transferred" => Some("72.1"),
        "Swish" => Some("71.1"),
        "ReLU" => Some("71.0"),
        _ => None,
    }
}
