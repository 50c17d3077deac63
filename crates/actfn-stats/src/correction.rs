//! Holm's step-down correction of several p-values for multiple comparisons.

use crate::{Result, StatsError};

/// Holm-adjusted p-values (S. Holm, "A simple sequentially rejective multiple test
/// procedure", *Scand. J. Statist.* 6(2), 1979), in the order given.
///
/// With the `m` p-values sorted ascending, `p_(1) <= ... <= p_(m)`, the adjusted value of
/// `p_(i)` is `max_{j <= i} min(1, (m - j + 1) p_(j))`. Rejecting every hypothesis whose
/// adjusted value is below `alpha` keeps the family-wise error rate at `alpha`. Ties keep
/// their input order. This is `statsmodels.stats.multitest.multipletests(p,
/// method="holm")[1]`.
///
/// # Errors
///
/// [`StatsError::InvalidP`] for a value outside `[0, 1]` or `NaN`, naming its index.
///
/// ```
/// let adjusted = actfn_stats::holm(&[0.01, 0.04, 0.03])?;
/// assert_eq!(adjusted, vec![0.03, 0.06, 0.06]);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn holm(p: &[f64]) -> Result<Vec<f64>> {
    if let Some((index, &value)) = p
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(StatsError::InvalidP { index, value });
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    // Stable: equal p-values keep their order, as statsmodels' mergesort does.
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: statsmodels 0.14 `multipletests(p, method="holm")[1]`, and the rule
    /// applied by hand.
    #[test]
    fn matches_the_step_down_rule() {
        let p = [0.01, 0.04, 0.03, 0.005];
        // Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04
        // -> kept at the running maximum 0.06).
        let got = holm(&p).unwrap();
        let want = [0.03, 0.06, 0.06, 0.02];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]).unwrap(), vec![1.0, 1.0]);
        assert_eq!(holm(&[0.2]).unwrap(), vec![0.2]);
        assert!(holm(&[]).unwrap().is_empty());
    }

    #[test]
    fn refuses_values_that_are_not_probabilities() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = holm(&[0.1, bad]).unwrap_err();
            assert!(err.to_string().contains("index 1"), "{err}");
        }
    }
}
