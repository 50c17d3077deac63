//! The paper's reference numbers and functions, printed beside the reproduced ones.

use super::paper_notation;

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
