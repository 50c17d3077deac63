//! Spearman's rank correlation, as `scipy.stats.spearmanr` computes it: the Pearson
//! correlation of the average ranks (ties share the mean of their positions), with the
//! two-sided p-value of `t = rho * sqrt((n - 2) / (1 - rho^2))` under Student's t with
//! `n - 2` degrees of freedom.

use serde::{Deserialize, Serialize};

use crate::summary::{check_finite, check_len};
use crate::ttest::two_sided_p;
use crate::{Group, Result, StatsError};

/// A rank correlation and its test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankCorrelation {
    /// Spearman's rho, in `[-1, 1]`.
    pub rho: f64,
    /// Two-sided p-value of rho = 0 (t approximation, as SciPy).
    pub p: f64,
    /// Number of pairs.
    pub n: usize,
}

/// The average ranks (1-based) of `values`; tied values share the mean of their ranks.
pub fn average_ranks(values: &[f64]) -> Result<Vec<f64>> {
    check_finite(values)?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the rank of their mean, 1-based.
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    Ok(ranks)
}

/// Spearman's rank correlation of paired samples `a` and `b` (at least 3 pairs, neither
/// sample constant).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<RankCorrelation> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch {
            a: a.len(),
            b: b.len(),
        });
    }
    check_len(a, 3)?;
    let ra = average_ranks(a).map_err(|e| e.in_group(Group::A))?;
    let rb = average_ranks(b).map_err(|e| e.in_group(Group::B))?;
    let n = a.len() as f64;
    let mean = (n + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - mean) * (y - mean);
        saa += (x - mean) * (x - mean);
        sbb += (y - mean) * (y - mean);
    }
    for (ss, group) in [(saa, Group::A), (sbb, Group::B)] {
        if ss == 0.0 {
            return Err(StatsError::Constant { group });
        }
    }
    let rho = (sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0);
    let df = n - 2.0;
    let p = if rho.abs() == 1.0 {
        0.0
    } else {
        two_sided_p(rho * (df / ((1.0 - rho) * (1.0 + rho))).sqrt(), df)?
    };
    Ok(RankCorrelation { rho, p, n: a.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]).unwrap(),
            vec![4.0, 1.0, 4.0, 2.0, 4.0]
        );
    }

    /// Reference values from SciPy 1.17.1, `scipy.stats.spearmanr(a, b)`.
    #[test]
    fn matches_scipy() {
        let cases: [(&[f64], &[f64], f64, f64); 3] = [
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                &[2.0, 1.0, 4.0, 3.0, 6.0, 5.0],
                0.8285714285714287,
                0.04156268221574335,
            ),
            (
                &[17.9, 22.1, 24.1, 18.8, 11.2, 19.4, 22.1],
                &[37.3, 38.9, 40.6, 29.9, 35.1, 26.6, 33.6],
                0.37839373433213486,
                0.4026022019217553,
            ),
            (
                &[0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.1],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                -0.8916309815169778,
                0.002928680906134818,
            ),
        ];
        for (a, b, rho, p) in cases {
            let r = spearman(a, b).unwrap();
            assert!(
                (r.rho - rho).abs() < 1e-12,
                "{a:?} {b:?}: rho {} vs {rho}",
                r.rho
            );
            assert!(
                (r.p - p).abs() < 1e-9 * p.max(1e-3),
                "{a:?}: p {} vs {p}",
                r.p
            );
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]),
            Err(StatsError::LengthMismatch { a: 3, b: 2 })
        ));
        assert!(matches!(
            spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            Err(StatsError::Constant { group: Group::A })
        ));
        assert!(matches!(
            spearman(&[1.0, 2.0, 3.0], &[1.0, f64::NAN, 3.0]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert!(spearman(&[1.0, 2.0], &[1.0, 2.0]).is_err());
    }
}
