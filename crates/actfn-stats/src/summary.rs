//! Descriptive statistics of one sample: mean, sample variance and standard deviation,
//! median, median of the first k values, and a serializable [`Summary`].
//!
//! All functions reject non-finite values and compute without intermediate overflow or
//! underflow: values are rescaled by an exact power of two before summing, and
//! deviations from the mean are rescaled again before squaring.

use serde::Serialize;

use crate::{Result, StatsError};

/// `2^e` for `-1022 <= e <= 1023`, exactly.
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// The power of two `2^e` with `2^e <= x < 2^(e+1)`, for finite `x > 0` (subnormals
/// give the smallest normal exponent, which is all the scaling below needs).
fn exponent_of(x: f64) -> i32 {
    let biased = ((x.to_bits() >> 52) & 0x7ff) as i32;
    biased.max(1) - 1023
}

/// Returns an error naming the first non-finite value, if any.
pub(crate) fn check_finite(values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            group: None,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Returns an error unless `values` holds at least `needed` values.
pub(crate) fn check_len(values: &[f64], needed: usize) -> Result<()> {
    if values.len() < needed {
        Err(StatsError::TooFewSamples {
            group: None,
            needed,
            got: values.len(),
        })
    } else {
        Ok(())
    }
}

/// The largest absolute value (0 for an empty slice).
pub(crate) fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m: f64, v| m.max(v.abs()))
}

/// A power of two `c <= 1` such that `n` values of magnitude at most `max_abs`, each
/// multiplied by `c`, sum to at most `2^1000` in magnitude. Usually exactly 1.
pub(crate) fn common_scale(max_abs: f64, n: usize) -> f64 {
    // `n as f64` is at most 2^64, so `limit` is at least 2^936.
    let limit = pow2(1000) / (n.max(1) as f64);
    if max_abs <= limit {
        1.0
    } else {
        // limit / max_abs lies in [2^-88, 1).
        pow2(exponent_of(limit / max_abs))
    }
}

/// Mean and standard deviation of one sample, in the units of the (scaled) input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    /// Number of values.
    pub(crate) n: usize,
    /// Arithmetic mean.
    pub(crate) mean: f64,
    /// Sample standard deviation (n - 1 denominator); 0 when `n < 2` or constant.
    pub(crate) sd: f64,
}

impl Moments {
    /// Computes the moments of finite, non-empty `values` scaled so that their sum
    /// cannot overflow (see [`common_scale`]).
    pub(crate) fn of_scaled(values: &[f64]) -> Moments {
        let n = values.len();
        debug_assert!(n > 0);
        let first = values[0];
        if values.iter().all(|&v| v == first) {
            // Exact for constant samples, where summation could round.
            return Moments {
                n,
                mean: first,
                sd: 0.0,
            };
        }
        let nf = n as f64;
        // Two-pass mean: the second pass corrects the rounding error of the first.
        let rough = values.iter().sum::<f64>() / nf;
        let mean = rough + values.iter().map(|v| v - rough).sum::<f64>() / nf;
        let sd = if n < 2 {
            0.0
        } else {
            // Rescale deviations so the largest lies in [1, 2): squares neither
            // overflow nor underflow to zero.
            let max_dev = values.iter().fold(0.0, |m: f64, v| m.max((v - mean).abs()));
            if max_dev == 0.0 {
                0.0
            } else {
                let f = pow2(exponent_of(max_dev));
                let ss: f64 = values.iter().map(|v| ((v - mean) / f).powi(2)).sum();
                f * (ss / (nf - 1.0)).sqrt()
            }
        };
        Moments { n, mean, sd }
    }

    /// Validates `values` (finite, at least `needed` of them) and computes their moments
    /// in original units, returning `Overflow` if the standard deviation does not fit.
    fn of(values: &[f64], needed: usize) -> Result<Moments> {
        check_len(values, needed.max(1))?;
        check_finite(values)?;
        let c = common_scale(max_abs(values), values.len());
        let m = if c == 1.0 {
            Moments::of_scaled(values)
        } else {
            let scaled: Vec<f64> = values.iter().map(|v| v * c).collect();
            let m = Moments::of_scaled(&scaled);
            Moments {
                n: m.n,
                mean: m.mean / c,
                sd: m.sd / c,
            }
        };
        if !m.sd.is_finite() {
            return Err(StatsError::Overflow {
                what: "standard deviation",
            });
        }
        Ok(m)
    }
}

/// Arithmetic mean of `values`.
///
/// # Errors
///
/// [`StatsError::TooFewSamples`] for an empty slice, [`StatsError::NonFinite`] if any
/// value is `NaN` or infinite.
///
/// ```
/// assert_eq!(actfn_stats::mean(&[1.0, 2.0, 6.0])?, 3.0);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn mean(values: &[f64]) -> Result<f64> {
    Ok(Moments::of(values, 1)?.mean)
}

/// Sample variance of `values`, with the unbiased `n - 1` denominator.
///
/// # Errors
///
/// [`StatsError::TooFewSamples`] for fewer than two values, [`StatsError::NonFinite`]
/// for a `NaN` or infinite value, [`StatsError::Overflow`] if the variance exceeds
/// `f64::MAX` (only for values near `f64::MAX` in magnitude).
///
/// ```
/// assert_eq!(actfn_stats::sample_variance(&[1.0, 2.0, 3.0])?, 1.0);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn sample_variance(values: &[f64]) -> Result<f64> {
    let sd = Moments::of(values, 2)?.sd;
    let var = sd * sd;
    if var.is_finite() {
        Ok(var)
    } else {
        Err(StatsError::Overflow { what: "variance" })
    }
}

/// Sample standard deviation of `values` (square root of [`sample_variance`]).
///
/// # Errors
///
/// As [`sample_variance`]: fewer than two values, a non-finite value, or a result
/// beyond `f64::MAX`.
///
/// ```
/// let sd = actfn_stats::sample_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])?;
/// assert!((sd - 2.138089935299395).abs() < 1e-15);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn sample_sd(values: &[f64]) -> Result<f64> {
    Ok(Moments::of(values, 2)?.sd)
}

/// Median of `values`: the middle value of the sorted sample, or the mean of the two
/// middle values when the length is even. The input need not be sorted and is not
/// modified.
///
/// # Errors
///
/// [`StatsError::TooFewSamples`] for an empty slice, [`StatsError::NonFinite`] for a
/// `NaN` or infinite value.
///
/// ```
/// assert_eq!(actfn_stats::median(&[3.0, 1.0, 2.0])?, 2.0);
/// assert_eq!(actfn_stats::median(&[4.0, 1.0, 3.0, 2.0])?, 2.5);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn median(values: &[f64]) -> Result<f64> {
    check_len(values, 1)?;
    check_finite(values)?;
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        Ok(sorted[n / 2])
    } else {
        let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
        let sum = a + b;
        Ok(if sum.is_finite() {
            sum / 2.0
        } else {
            a / 2.0 + b / 2.0
        })
    }
}

/// Median of the **first `k`** values of `values`, in the order given.
///
/// This is the statistic Bingham et al. report for final training ("median test
/// accuracy of five runs", `k = 5`): pass the runs in the order they were made, and any
/// runs beyond the first `k` (for example extra runs made for a t-test) are ignored and
/// not inspected. With an even `k` the two middle values are averaged, as in
/// [`median`].
///
/// # Errors
///
/// [`StatsError::InvalidK`] if `k == 0`, [`StatsError::TooFewSamples`] if fewer than
/// `k` values are given, [`StatsError::NonFinite`] if one of the first `k` values is
/// `NaN` or infinite.
///
/// ```
/// let runs = [94.0, 94.3, 93.9, 94.1, 94.2, 90.0];
/// assert_eq!(actfn_stats::median_of_k(&runs, 5)?, 94.1);
/// assert!(actfn_stats::median_of_k(&runs[..3], 5).is_err());
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn median_of_k(values: &[f64], k: usize) -> Result<f64> {
    if k == 0 {
        return Err(StatsError::InvalidK { k });
    }
    check_len(values, k)?;
    median(&values[..k])
}

/// Descriptive statistics of one sample, as printed by `actfn stats summary`.
///
/// Serializes to a JSON object with the field names below; `sd` is `null` for a
/// single value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 denominator); `None` when `n == 1`.
    pub sd: Option<f64>,
    /// Median (mean of the two middle values for even `n`).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarizes `values`.
    ///
    /// # Errors
    ///
    /// [`StatsError::TooFewSamples`] for an empty slice, [`StatsError::NonFinite`] for
    /// a `NaN` or infinite value, [`StatsError::Overflow`] if the standard deviation
    /// exceeds `f64::MAX`.
    ///
    /// ```
    /// let s = actfn_stats::Summary::of(&[3.0, 1.0, 2.0])?;
    /// assert_eq!((s.n, s.mean, s.sd, s.median, s.min, s.max), (3, 2.0, Some(1.0), 2.0, 1.0, 3.0));
    /// # Ok::<(), actfn_stats::StatsError>(())
    /// ```
    pub fn of(values: &[f64]) -> Result<Summary> {
        let m = Moments::of(values, 1)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(Summary {
            n: m.n,
            mean: m.mean,
            sd: (m.n >= 2).then_some(m.sd),
            median: median(values)?,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Relative closeness with an absolute floor of `tol` near zero.
    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    // Reference values from Python 3 with NumPy 2.4.6 (`x.mean()`, `x.std(ddof=1)`,
    // `np.median(x)`), printed with `repr(float(...))`.
    const A: [f64; 7] = [94.1, 93.8, 94.3, 94.0, 93.9, 94.2, 94.05];
    const E: [f64; 4] = [0.1, 0.2, 0.15, 0.12];
    const F: [f64; 11] = [5.0, 9.0, -3.0, 12.0, 0.5, 7.5, 2.0, 15.0, -6.0, 4.0, 8.0];

    #[test]
    fn matches_numpy_reference_values() {
        let cases: [(&[f64], f64, f64, f64); 3] = [
            (&A, 94.05, 0.17078251276599263, 94.05),
            (&E, 0.14250000000000002, 0.04349329450233296, 0.135),
            (&F, 4.909090909090909, 6.288156255287323, 5.0),
        ];
        for (xs, m, sd, med) in cases {
            assert!(close(mean(xs).unwrap(), m, 1e-14), "{xs:?}");
            assert!(close(sample_sd(xs).unwrap(), sd, 1e-13), "{xs:?}");
            assert!(
                close(sample_variance(xs).unwrap(), sd * sd, 1e-13),
                "{xs:?}"
            );
            assert_eq!(median(xs).unwrap(), med, "{xs:?}");
        }
    }

    #[test]
    fn median_of_k_uses_the_first_k_values() {
        let runs = [94.0, 94.3, 93.9, 94.1, 94.2, 10.0, f64::NAN];
        assert_eq!(median_of_k(&runs, 5).unwrap(), 94.1);
        assert_eq!(median_of_k(&runs, 1).unwrap(), 94.0);
        assert_eq!(median_of_k(&runs, 4).unwrap(), 94.05);
        assert_eq!(median_of_k(&runs, 0), Err(StatsError::InvalidK { k: 0 }));
        assert_eq!(
            median_of_k(&runs[..3], 5),
            Err(StatsError::TooFewSamples {
                group: None,
                needed: 5,
                got: 3
            })
        );
        assert!(matches!(
            median_of_k(&runs, 7),
            Err(StatsError::NonFinite { index: 6, .. })
        ));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            mean(&[]),
            Err(StatsError::TooFewSamples {
                group: None,
                needed: 1,
                got: 0
            })
        );
        assert_eq!(
            sample_sd(&[1.0]),
            Err(StatsError::TooFewSamples {
                group: None,
                needed: 2,
                got: 1
            })
        );
        let e = median(&[1.0, 2.0, f64::INFINITY]).unwrap_err();
        assert_eq!(e.to_string(), "non-finite value inf at index 2");
        assert!(Summary::of(&[]).is_err());
    }

    #[test]
    fn extreme_magnitudes_do_not_overflow() {
        let big = [f64::MAX, f64::MAX, f64::MAX / 2.0];
        let m = mean(&big).unwrap();
        assert!(close(m, f64::MAX * (2.5 / 3.0), 1e-15));
        assert!(sample_sd(&big).unwrap().is_finite());
        assert_eq!(median(&[f64::MAX, f64::MAX]).unwrap(), f64::MAX);
        assert_eq!(median(&[-f64::MAX, f64::MAX]).unwrap(), 0.0);
        assert_eq!(
            sample_sd(&[-f64::MAX, f64::MAX]),
            Err(StatsError::Overflow {
                what: "standard deviation"
            })
        );
        assert_eq!(
            sample_variance(&[0.0, 1e200]),
            Err(StatsError::Overflow { what: "variance" })
        );

        let tiny = f64::from_bits(1); // smallest subnormal
        assert_eq!(mean(&[tiny, tiny]).unwrap(), tiny);
        assert!(sample_sd(&[0.0, tiny, 2.0 * tiny]).unwrap() > 0.0);
        // Deviations of order 1e-170 square to 1e-340, below f64's range.
        let sd = sample_sd(&[1e-170, 2e-170, 3e-170]).unwrap();
        assert!(close(sd / 1e-170, 1.0, 1e-15), "{sd}");
    }

    #[test]
    fn constant_samples_have_exact_mean_and_zero_sd() {
        let xs = [0.1; 7];
        assert_eq!(mean(&xs).unwrap(), 0.1);
        assert_eq!(sample_sd(&xs).unwrap(), 0.0);
    }

    #[test]
    fn summary_serializes_with_named_fields() {
        let s = Summary::of(&[2.0, 1.0, 4.0, 3.0]).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["n"], 4);
        assert_eq!(json["mean"], 2.5);
        let one = serde_json::to_value(Summary::of(&[5.0]).unwrap()).unwrap();
        assert!(one["sd"].is_null());
    }

    #[test]
    fn helpers_are_exact() {
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(-3), 0.125);
        assert_eq!(pow2(1000), 2f64.powi(1000));
        assert_eq!(exponent_of(1.0), 0);
        assert_eq!(exponent_of(3.0), 1);
        assert_eq!(exponent_of(0.3), -2);
        assert_eq!(exponent_of(f64::MAX), 1023);
        assert_eq!(exponent_of(f64::from_bits(1)), -1022);
        assert_eq!(common_scale(1e6, 10), 1.0);
        let c = common_scale(f64::MAX, 1 << 20);
        assert!(f64::MAX * c * (1u64 << 20) as f64 <= pow2(1000));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(xs in prop::collection::vec(any::<f64>(), 0..12), k in 0usize..14) {
            let _ = mean(&xs);
            let _ = sample_variance(&xs);
            let _ = sample_sd(&xs);
            let _ = median(&xs);
            let _ = median_of_k(&xs, k);
            let _ = Summary::of(&xs);
        }

        #[test]
        fn results_lie_within_the_data(xs in prop::collection::vec(-1e300f64..1e300, 1..40)) {
            let s = Summary::of(&xs).unwrap();
            prop_assert!(s.min <= s.mean && s.mean <= s.max, "{s:?}");
            prop_assert!(s.min <= s.median && s.median <= s.max, "{s:?}");
            if let Some(sd) = s.sd {
                prop_assert!(sd >= 0.0 && sd <= (s.max - s.min), "{s:?}");
            }
        }

        #[test]
        fn sd_is_shift_and_scale_equivariant(
            xs in prop::collection::vec(-1e3f64..1e3, 2..30),
            shift in -1e3f64..1e3,
            scale in 0.01f64..100.0,
        ) {
            let sd = sample_sd(&xs).unwrap();
            let moved: Vec<f64> = xs.iter().map(|x| x * scale + shift).collect();
            let sd2 = sample_sd(&moved).unwrap();
            prop_assert!((sd2 - sd * scale).abs() <= 1e-9 * (1.0 + sd * scale), "{sd} {sd2}");
        }

        #[test]
        fn median_ignores_order(mut xs in prop::collection::vec(-1e6f64..1e6, 1..30)) {
            let m = median(&xs).unwrap();
            xs.reverse();
            prop_assert_eq!(median(&xs).unwrap(), m);
        }
    }
}
