//! Two-sample t-tests (Student's pooled-variance test and Welch's unequal-variance
//! test) and the two-sided p-value of a t statistic.
//!
//! Both tests compare the mean of sample `a` with the mean of sample `b`; `t` is
//! positive when `a`'s mean is larger. The p-value is two-sided, computed as
//! `2 * F(-|t|)` with `F` the CDF of Student's t distribution (from `statrs`), which
//! keeps full relative precision for very small p-values (`1 - F(|t|)` would round to
//! zero below about `1e-16`).
//!
//! Bingham et al.'s Table 2 p-values follow from their t statistics with Student's
//! degrees of freedom `n1 + n2 - 2`; see the tests at the end of this file.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::beta;

use crate::summary::{check_finite, check_len, common_scale, max_abs, Moments};
use crate::{Group, Result, StatsError};

/// The outcome of a two-sample t-test.
///
/// Serializes to `{"t": .., "df": .., "p": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TTest {
    /// The t statistic: difference of the means (`a` minus `b`) over its standard error.
    pub t: f64,
    /// Degrees of freedom: an integer for Student's test, generally fractional for
    /// Welch's.
    pub df: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub p: f64,
}

/// Two-sided p-value of a t statistic with `df` degrees of freedom:
/// `P(|T| >= |t|)` for `T` Student-t distributed with `df` degrees of freedom.
///
/// Use it to check a published result from its t statistic and degrees of freedom.
/// Infinite `t` gives `p = 0`; `df` may be fractional (as from Welch's test).
///
/// Up to [`LARGE_DF`] degrees of freedom the p-value is the regularized incomplete
/// beta function of `statrs` (relative error against SciPy below `1e-10`, about
/// `1e-13` for `df <= 1000`). Above it, where that function loses digits, Hill's
/// normalizing transformation is used instead (G. W. Hill, "Algorithm 395: Student's
/// t-distribution", *Comm. ACM* 13(10), 1970), accurate to about `1e-12` there.
///
/// # Errors
///
/// [`StatsError::InvalidT`] if `t` is `NaN`, [`StatsError::InvalidDf`] unless `df` is
/// finite and positive.
///
/// ```
/// // Bingham et al., Table 2: t = 4.51 comparing 15 runs with 50 runs.
/// let p = actfn_stats::two_sided_p(4.51, (15 + 50 - 2) as f64)?;
/// assert!((p - 2.886691923885993e-05).abs() < 1e-15);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn two_sided_p(t: f64, df: f64) -> Result<f64> {
    if t.is_nan() {
        return Err(StatsError::InvalidT { t });
    }
    if !(df.is_finite() && df > 0.0) {
        return Err(StatsError::InvalidDf { df });
    }
    if t.is_infinite() {
        return Ok(0.0);
    }
    if df > LARGE_DF {
        return Ok(hill_two_sided_p(t, df));
    }
    let dist = StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::InvalidDf { df })?;
    let mut p = 2.0 * dist.cdf(-t.abs());
    if p > 0.5 {
        // Near p = 1 the CDF's incomplete beta at x = df / (df + t^2) ~ 1 loses
        // digits (relative error ~1e-7 at df = 1e5); the complement
        // P(|T| < |t|) = I_{t^2 / (df + t^2)}(1/2, df/2) has a small argument and is
        // accurate, and subtracting it from 1 costs nothing when p > 0.5.
        let x = t * t / (df + t * t);
        p = 1.0 - beta::beta_reg(0.5, 0.5 * df, x);
    }
    // Guard against a NaN from the special functions; clamp rounding above 1.
    if p.is_nan() {
        return Err(StatsError::InvalidDf { df });
    }
    Ok(p.clamp(0.0, 1.0))
}

/// Degrees of freedom above which [`two_sided_p`] switches from `statrs`'s incomplete
/// beta function (whose relative error grows roughly in proportion to `df`, to about
/// `1e-6` at `df = 1e9`) to Hill's transformation.
pub const LARGE_DF: f64 = 1e5;

/// Two-sided p-value for large `df` by Hill's (1970) transformation of `t` to an
/// approximately standard normal deviate `z`, then `p = erfc(z / sqrt(2))`.
fn hill_two_sided_p(t: f64, df: f64) -> f64 {
    let a = df - 0.5;
    let b = 48.0 * a * a;
    let z = a * ((t / df.sqrt()).powi(2)).ln_1p();
    // erfc(sqrt(1e4 / 2)) underflows to 0; this also catches z = inf for huge t.
    if z.is_nan() || z > 1e4 {
        return 0.0;
    }
    let z = (((((-0.4 * z - 3.3) * z - 24.0) * z - 85.5) / (0.8 * z * z + 100.0 + b) + z + 3.0)
        / b
        + 1.0)
        * z.sqrt();
    statrs::function::erf::erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Welch–Satterthwaite degrees of freedom for two samples with sample variances
/// `var_a`, `var_b` and sizes `n_a`, `n_b`:
///
/// `(va + vb)^2 / (va^2 / (n_a - 1) + vb^2 / (n_b - 1))` with `va = var_a / n_a`,
/// `vb = var_b / n_b`.
///
/// The result lies between `min(n_a, n_b) - 1` and `n_a + n_b - 2`; it reaches the
/// upper end, Student's degrees of freedom, only when
/// `var_a / var_b = n_a (n_a - 1) / (n_b (n_b - 1))` (equal variances when
/// `n_a == n_b`).
///
/// # Errors
///
/// [`StatsError::TooFewSamples`] if a size is below 2, [`StatsError::InvalidVariance`]
/// for a negative or non-finite variance, [`StatsError::ZeroVariance`] if both are 0.
///
/// ```
/// let df = actfn_stats::welch_satterthwaite_df(1.0, 10, 1.0, 10)?;
/// assert!((df - 18.0).abs() < 1e-12);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn welch_satterthwaite_df(var_a: f64, n_a: usize, var_b: f64, n_b: usize) -> Result<f64> {
    for (group, var, n) in [(Group::A, var_a, n_a), (Group::B, var_b, n_b)] {
        if n < 2 {
            return Err(StatsError::TooFewSamples {
                group: Some(group),
                needed: 2,
                got: n,
            });
        }
        if !(var.is_finite() && var >= 0.0) {
            return Err(StatsError::InvalidVariance {
                group: Some(group),
                variance: var,
            });
        }
    }
    let se_a = var_a.sqrt() / (n_a as f64).sqrt();
    let se_b = var_b.sqrt() / (n_b as f64).sqrt();
    welch_df_from_se(se_a, n_a, se_b, n_b)
}

/// Welch–Satterthwaite degrees of freedom from the standard errors of the two means
/// (`sd / sqrt(n)`), computed through their ratio so nothing overflows or underflows.
fn welch_df_from_se(se_a: f64, n_a: usize, se_b: f64, n_b: usize) -> Result<f64> {
    let (big, n_big, small, n_small) = if se_a >= se_b {
        (se_a, n_a, se_b, n_b)
    } else {
        (se_b, n_b, se_a, n_a)
    };
    if big == 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    // r = (small / big)^2 in [0, 1]; df = (1 + r)^2 / (1/(n_big-1) + r^2/(n_small-1)).
    let r = (small / big).powi(2);
    let df = (1.0 + r).powi(2) / (1.0 / (n_big as f64 - 1.0) + r * r / (n_small as f64 - 1.0));
    // Rounding can push df a hair outside its exact bounds; keep it within them.
    let lo = (n_a.min(n_b) - 1) as f64;
    let hi = (n_a + n_b - 2) as f64;
    Ok(df.clamp(lo, hi))
}

/// The moments of both samples, validated and on a common scale.
fn two_samples(a: &[f64], b: &[f64]) -> Result<(Moments, Moments)> {
    for (group, xs) in [(Group::A, a), (Group::B, b)] {
        check_finite(xs).map_err(|e| e.in_group(group))?;
        check_len(xs, 2).map_err(|e| e.in_group(group))?;
    }
    // t and the Welch df are scale-invariant, so one power-of-two factor for both
    // samples keeps every sum finite without changing the result.
    let c = common_scale(max_abs(a).max(max_abs(b)), a.len().max(b.len()));
    let moments = |xs: &[f64]| {
        if c == 1.0 {
            Moments::of_scaled(xs)
        } else {
            Moments::of_scaled(&xs.iter().map(|v| v * c).collect::<Vec<_>>())
        }
    };
    let (ma, mb) = (moments(a), moments(b));
    if ma.sd == 0.0 && mb.sd == 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    Ok((ma, mb))
}

/// `(mean_a - mean_b) / se` without overflow in the difference, and a finite result.
fn t_statistic(a: &Moments, b: &Moments, se: f64) -> Result<f64> {
    let t = (a.mean - b.mean) / se;
    if t.is_finite() {
        Ok(t)
    } else {
        Err(StatsError::Overflow {
            what: "t statistic",
        })
    }
}

/// Student's two-sample t-test, assuming equal variances (pooled variance).
///
/// `t = (mean_a - mean_b) / (s_p * sqrt(1/n_a + 1/n_b))` with the pooled standard
/// deviation `s_p^2 = ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)`, and
/// `df = n_a + n_b - 2`. This is `scipy.stats.ttest_ind(a, b)` and the test whose
/// p-values Bingham et al. report in Table 2.
///
/// # Errors
///
/// [`StatsError::NonFinite`] or [`StatsError::TooFewSamples`] (fewer than two values)
/// naming the group, [`StatsError::ZeroVariance`] if both samples are constant,
/// [`StatsError::Overflow`] if `t` is too large for an `f64`.
///
/// ```
/// let r = actfn_stats::student_t_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0])?;
/// assert_eq!(r.df, 4.0);
/// assert!((r.t - -3.6742346141747673).abs() < 1e-12);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn student_t_test(a: &[f64], b: &[f64]) -> Result<TTest> {
    let (ma, mb) = two_samples(a, b)?;
    let (na, nb) = (ma.n as f64, mb.n as f64);
    let df = na + nb - 2.0;
    // s_p = hypot(sqrt(n_a - 1) s_a, sqrt(n_b - 1) s_b) / sqrt(df), without squaring.
    let sp = ((na - 1.0).sqrt() * ma.sd).hypot((nb - 1.0).sqrt() * mb.sd) / df.sqrt();
    let se = sp * (1.0 / na + 1.0 / nb).sqrt();
    let t = t_statistic(&ma, &mb, se)?;
    Ok(TTest {
        t,
        df,
        p: two_sided_p(t, df)?,
    })
}

/// Welch's two-sample t-test, not assuming equal variances.
///
/// `t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b)` with the
/// Welch–Satterthwaite degrees of freedom (see [`welch_satterthwaite_df`]). This is
/// `scipy.stats.ttest_ind(a, b, equal_var=False)`. One constant sample is allowed.
///
/// # Errors
///
/// As [`student_t_test`].
///
/// ```
/// let r = actfn_stats::welch_t_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 9.0])?;
/// assert!(r.df < 4.0 && r.t < 0.0);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Result<TTest> {
    let (ma, mb) = two_samples(a, b)?;
    let se_a = ma.sd / (ma.n as f64).sqrt();
    let se_b = mb.sd / (mb.n as f64).sqrt();
    let se = se_a.hypot(se_b);
    let t = t_statistic(&ma, &mb, se)?;
    let df = welch_df_from_se(se_a, ma.n, se_b, mb.n)?;
    Ok(TTest {
        t,
        df,
        p: two_sided_p(t, df)?,
    })
}

/// The two-sided `confidence` interval (0.95 for 95%) of `mean_a - mean_b` from Welch's
/// standard error and degrees of freedom: `diff ± q * se` with `q` the `(1 + confidence) /
/// 2` quantile of Student's t. This is SciPy's `ttest_ind(a, b,
/// equal_var=False).confidence_interval(confidence)`.
///
/// # Errors
///
/// As [`welch_t_test`], and [`StatsError::InvalidConfidence`] outside `(0, 1)`.
///
/// ```
/// // SciPy: ttest_ind([1, 2, 3], [4, 5, 9], equal_var=False).confidence_interval(0.95)
/// // gives (-9.740656389274683, 1.740656389274684).
/// let (lo, hi) = actfn_stats::welch_interval(&[1.0, 2.0, 3.0], &[4.0, 5.0, 9.0], 0.95)?;
/// assert!((lo - -9.740656389274683).abs() < 1e-9 && (hi - 1.740656389274684).abs() < 1e-9);
/// # Ok::<(), actfn_stats::StatsError>(())
/// ```
pub fn welch_interval(a: &[f64], b: &[f64], confidence: f64) -> Result<(f64, f64)> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::InvalidConfidence { level: confidence });
    }
    let (ma, mb) = two_samples(a, b)?;
    // Both samples were scaled by the same factor; undo it on the way out.
    let c = common_scale(max_abs(a).max(max_abs(b)), a.len().max(b.len()));
    let se_a = ma.sd / (ma.n as f64).sqrt();
    let se_b = mb.sd / (mb.n as f64).sqrt();
    let se = se_a.hypot(se_b);
    let df = welch_df_from_se(se_a, ma.n, se_b, mb.n)?;
    let dist = StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::InvalidDf { df })?;
    let q = dist.inverse_cdf(0.5 + confidence / 2.0);
    let diff = ma.mean - mb.mean;
    let (lo, hi) = ((diff - q * se) / c, (diff + q * se) / c);
    if lo.is_finite() && hi.is_finite() {
        Ok((lo, hi))
    } else {
        Err(StatsError::Overflow {
            what: "confidence interval",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rel_close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs()
    }

    const A: [f64; 7] = [94.1, 93.8, 94.3, 94.0, 93.9, 94.2, 94.05];
    const B: [f64; 5] = [93.7, 93.9, 93.6, 94.0, 93.8];
    const C: [f64; 12] = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
    ];
    const D: [f64; 8] = [20.5, 21.0, 19.5, 22.0, 20.0, 23.5, 18.0, 21.5];
    const E: [f64; 4] = [0.1, 0.2, 0.15, 0.12];
    const F: [f64; 11] = [5.0, 9.0, -3.0, 12.0, 0.5, 7.5, 2.0, 15.0, -6.0, 4.0, 8.0];

    /// Reference values from SciPy 1.17.1: `scipy.stats.ttest_ind(x, y)` (Student) and
    /// `ttest_ind(x, y, equal_var=False)` (Welch), fields `statistic`, `df`, `pvalue`,
    /// printed with `repr(float(...))`.
    #[allow(clippy::type_complexity)]
    const SCIPY: [(&[f64], &[f64], [f64; 3], [f64; 3]); 4] = [
        (
            &A,
            &B,
            [2.5746432527220326, 10.0, 0.02766940398060168],
            [2.6111648393353035, 9.189873417721426, 0.027752104109645726],
        ),
        (
            &C,
            &D,
            [-10.39070590627842, 18.0, 4.935730333773202e-09],
            [
                -11.910005577170518,
                16.52500391910958,
                1.5760130033678989e-09,
            ],
        ),
        (
            &E,
            &F,
            [-1.480245752943067, 13.0, 0.16263140921108013],
            [-2.513925084483336, 10.002630837120297, 0.03069976612669535],
        ),
        (
            &A,
            &F,
            [37.07889230368626, 16.0, 6.054281088863884e-17],
            [46.9892505973751, 10.023173732092687, 4.3599135796181294e-13],
        ),
    ];

    #[test]
    fn student_matches_scipy() {
        for (x, y, [t, df, p], _) in SCIPY {
            let r = student_t_test(x, y).unwrap();
            assert!(rel_close(r.t, t, 1e-12), "{r:?} vs t = {t}");
            assert_eq!(r.df, df);
            assert!(rel_close(r.p, p, 1e-9), "{r:?} vs p = {p}");
        }
    }

    #[test]
    fn welch_matches_scipy() {
        for (x, y, _, [t, df, p]) in SCIPY {
            let r = welch_t_test(x, y).unwrap();
            assert!(rel_close(r.t, t, 1e-12), "{r:?} vs t = {t}");
            assert!(rel_close(r.df, df, 1e-12), "{r:?} vs df = {df}");
            assert!(rel_close(r.p, p, 1e-9), "{r:?} vs p = {p}");
        }
    }

    /// `2 * scipy.stats.t.sf(abs(t), df)` from SciPy 1.17.1.
    #[test]
    fn two_sided_p_matches_scipy() {
        let cases = [
            (0.0, 10.0, 1.0),
            (1.0, 1.0, 0.5000000000000001),
            (2.0, 5.0, 0.10193947882985835),
            (-2.5, 30.0, 0.01811564906806669),
            (12.0, 4.0, 0.000276428548502973),
            (40.0, 100.0, 2.462107602140071e-63),
            (1.5, 0.5, 0.5079017906481084),
            (0.5, 1e-3, 0.9965514940938403),
            (3.0, 1e6, 0.0026998625414218),
            // Near p = 1, where the complement is used.
            (1.5113269644751401e-5, 1e5, 0.9999879413856342),
            (1e-3, 5e4, 0.9992021195615927),
            (0.3, 9e4, 0.7641778484755949),
            (0.05, 1e5, 0.9601224881831361),
            (1e-8, 30.0, 0.9999999920873563),
            (0.2, 2.0, 0.8599719915971991),
            (0.7, 1e4, 0.4839435881801167),
        ];
        for (t, df, p) in cases {
            let got = two_sided_p(t, df).unwrap();
            assert!(rel_close(got, p, 1e-9), "t = {t}, df = {df}: {got} vs {p}");
        }
        // Above LARGE_DF (Hill's transformation).
        for (t, df, p) in [
            (2.0, 2e5, 0.04550161367372689),
            (1.959963984540054, 1e9, 0.05000000027729512),
            (8.0, 1e12, 1.2441921161679538e-15),
            (37.0, 1e7, 1.2001212322636956e-299),
            (0.01, 1e15, 0.9920212873707368),
            (25.0, 1e12, 6.113394011684949e-138),
        ] {
            let got = two_sided_p(t, df).unwrap();
            assert!(rel_close(got, p, 1e-10), "t = {t}, df = {df}: {got} vs {p}");
        }
        assert_eq!(two_sided_p(1e200, 1e9).unwrap(), 0.0);
        assert_eq!(two_sided_p(f64::INFINITY, 3.0).unwrap(), 0.0);
        assert_eq!(two_sided_p(f64::NEG_INFINITY, 3.0).unwrap(), 0.0);
    }

    #[test]
    fn two_sided_p_rejects_bad_arguments() {
        assert!(matches!(
            two_sided_p(f64::NAN, 3.0),
            Err(StatsError::InvalidT { .. })
        ));
        for df in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(two_sided_p(1.0, df), Err(StatsError::InvalidDf { .. })),
                "{df}"
            );
        }
    }

    /// The rows of Bingham et al. (GECCO 2020), Table 2: t statistic, the sizes of the
    /// two groups (15 runs of the best S2 function, 50 of the best S1 function, 50 of
    /// ReLU, 25 of Swish, as stated in Section 5.1 and the table caption) and the
    /// reported p-value.
    const TABLE2: [(&str, f64, usize, usize, f64); 4] = [
        ("best S2 vs ReLU", 4.51, 15, 50, 2.91e-5),
        ("best S2 vs Swish", 3.17, 15, 25, 2.98e-3),
        ("best S1 vs ReLU", 9.73, 50, 50, 4.64e-16),
        ("best S1 vs Swish", 5.91, 50, 25, 9.91e-8),
    ];

    /// The range of two-sided p-values consistent with a t statistic printed to two
    /// decimals: `t` lies in `[t - 0.005, t + 0.005]` and p decreases with |t|.
    fn p_range(t: f64, df: f64) -> (f64, f64) {
        (
            two_sided_p(t + 0.005, df).unwrap(),
            two_sided_p(t - 0.005, df).unwrap(),
        )
    }

    #[test]
    fn table2_p_values_follow_from_student_df() {
        for (name, t, n1, n2, reported) in TABLE2 {
            let df = (n1 + n2 - 2) as f64;
            let (lo, hi) = p_range(t, df);
            assert!(
                lo <= reported && reported <= hi,
                "{name}: reported p = {reported} outside [{lo}, {hi}] for df = {df}"
            );
        }
        // The first row's value as computed here (SciPy: 2.886691923885993e-05).
        let p = two_sided_p(4.51, 63.0).unwrap();
        assert!(rel_close(p, 2.886691923885993e-05, 1e-9), "{p}");
    }

    /// Welch's df is not determined by t and the sizes alone, so test the two natural
    /// candidates: the df Welch's test gives for equal sample variances, and its lower
    /// bound min(n1, n2) - 1. At the lower bound no row is reproduced. With equal
    /// variances the three rows with unequal group sizes are not reproduced; for
    /// 50 vs 50 runs Welch's df equals Student's 98, so that row cannot tell the tests
    /// apart. (Welch's df reaches n1 + n2 - 2 only at the variance ratio
    /// n1 (n1 - 1) / (n2 (n2 - 1)), e.g. a standard deviation ratio of 0.29 for 15 vs
    /// 50 runs.)
    #[test]
    fn table2_p_values_do_not_follow_from_welch_df() {
        for (name, t, n1, n2, reported) in TABLE2 {
            let lower = (n1.min(n2) - 1) as f64;
            let (lo, hi) = p_range(t, lower);
            assert!(
                !(lo <= reported && reported <= hi),
                "{name}: Welch lower-bound df {lower} reproduces p"
            );

            let equal_var_df = welch_satterthwaite_df(1.0, n1, 1.0, n2).unwrap();
            let (lo, hi) = p_range(t, equal_var_df);
            let reproduced = lo <= reported && reported <= hi;
            assert_eq!(
                reproduced,
                n1 == n2,
                "{name}: Welch df {equal_var_df} gives p in [{lo}, {hi}], reported {reported}"
            );
        }
        // SciPy 1.17.1 values for the first row with Welch's equal-variance df
        // (23.066852367688025): p = 1.569167324728388e-4, five times the reported one.
        let df = welch_satterthwaite_df(1.0, 15, 1.0, 50).unwrap();
        assert!(rel_close(df, 23.066852367688025, 1e-12), "{df}");
        let p = two_sided_p(4.51, df).unwrap();
        assert!(rel_close(p, 1.569167324728388e-4, 1e-9), "{p}");
    }

    #[test]
    fn welch_df_reaches_student_df_at_the_stated_ratio() {
        let (n1, n2) = (15usize, 50usize);
        let ratio = (n1 * (n1 - 1)) as f64 / (n2 * (n2 - 1)) as f64;
        let df = welch_satterthwaite_df(ratio, n1, 1.0, n2).unwrap();
        assert!((df - 63.0).abs() < 1e-9, "{df}");
    }

    #[test]
    fn errors_name_the_group() {
        let e = student_t_test(&[1.0, 2.0], &[1.0, f64::NAN, 3.0]).unwrap_err();
        assert_eq!(e.to_string(), "non-finite value NaN at index 1 in group b");
        let e = welch_t_test(&[1.0], &[1.0, 2.0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "too few samples in group a: need at least 2, got 1"
        );
        assert_eq!(
            student_t_test(&[1.0, 1.0], &[2.0, 2.0, 2.0]),
            Err(StatsError::ZeroVariance)
        );
        assert_eq!(
            welch_t_test(&[3.0, 3.0], &[3.0, 3.0]),
            Err(StatsError::ZeroVariance)
        );
        assert!(matches!(
            welch_satterthwaite_df(-1.0, 3, 1.0, 3),
            Err(StatsError::InvalidVariance {
                group: Some(Group::A),
                ..
            })
        ));
        assert_eq!(
            welch_satterthwaite_df(0.0, 3, 0.0, 3),
            Err(StatsError::ZeroVariance)
        );
    }

    #[test]
    fn one_constant_group_is_fine() {
        let r = welch_t_test(&[5.0, 5.0, 5.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(r.df, 3.0);
        assert!(r.t > 0.0);
        let s = student_t_test(&[5.0, 5.0, 5.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.df, 5.0);
    }

    #[test]
    fn extreme_magnitudes() {
        // Scale invariance holds out to the ends of f64's range.
        let base = student_t_test(&A, &B).unwrap();
        for scale in [1e-300, 1e300, f64::MAX / 100.0] {
            let a: Vec<f64> = A.iter().map(|x| x * scale).collect();
            let b: Vec<f64> = B.iter().map(|x| x * scale).collect();
            let r = student_t_test(&a, &b).unwrap();
            assert!(rel_close(r.t, base.t, 1e-9), "{scale}: {r:?} vs {base:?}");
            let w = welch_t_test(&a, &b).unwrap();
            assert!(w.t.is_finite() && w.df.is_finite() && w.p.is_finite());
        }
        let r = welch_t_test(&[-f64::MAX, f64::MAX], &[f64::MAX, f64::MAX]).unwrap();
        assert!(r.t < 0.0 && (0.0..=1.0).contains(&r.p));
        // A t beyond f64's range is an error, not an infinity.
        assert_eq!(
            student_t_test(&[1e300, 1e300], &[0.0, 1e-300]),
            Err(StatsError::Overflow {
                what: "t statistic"
            })
        );
    }

    #[test]
    fn serializes_as_t_df_p() {
        let json = serde_json::to_value(TTest {
            t: 1.5,
            df: 3.0,
            p: 0.25,
        })
        .unwrap();
        assert_eq!(json, serde_json::json!({"t": 1.5, "df": 3.0, "p": 0.25}));
    }

    fn sample() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(-1e6f64..1e6, 2..30)
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(
            a in prop::collection::vec(any::<f64>(), 0..8),
            b in prop::collection::vec(any::<f64>(), 0..8),
            t in any::<f64>(),
            df in any::<f64>(),
        ) {
            let _ = student_t_test(&a, &b);
            let _ = welch_t_test(&a, &b);
            let _ = two_sided_p(t, df);
        }

        #[test]
        fn results_are_finite_and_p_is_a_probability(a in sample(), b in sample()) {
            for r in [student_t_test(&a, &b), welch_t_test(&a, &b)] {
                match r {
                    Ok(r) => {
                        prop_assert!(r.t.is_finite() && r.df > 0.0, "{r:?}");
                        prop_assert!((0.0..=1.0).contains(&r.p), "{r:?}");
                    }
                    Err(e) => prop_assert_eq!(e, StatsError::ZeroVariance),
                }
            }
        }

        #[test]
        fn swapping_groups_negates_t(a in sample(), b in sample()) {
            if let (Ok(ab), Ok(ba)) = (student_t_test(&a, &b), student_t_test(&b, &a)) {
                prop_assert_eq!(ab.t, -ba.t);
                prop_assert_eq!(ab.df, ba.df);
                prop_assert_eq!(ab.p, ba.p);
            }
            if let (Ok(ab), Ok(ba)) = (welch_t_test(&a, &b), welch_t_test(&b, &a)) {
                prop_assert_eq!(ab.t, -ba.t);
                prop_assert!((ab.df - ba.df).abs() <= 1e-12 * ab.df);
                prop_assert!((ab.p - ba.p).abs() <= 1e-12);
            }
        }

        #[test]
        fn degrees_of_freedom_bounds(a in sample(), b in sample()) {
            let (n1, n2) = (a.len() as f64, b.len() as f64);
            if let Ok(s) = student_t_test(&a, &b) {
                prop_assert_eq!(s.df, n1 + n2 - 2.0);
            }
            if let Ok(w) = welch_t_test(&a, &b) {
                prop_assert!(w.df >= n1.min(n2) - 1.0 && w.df <= n1 + n2 - 2.0, "{w:?}");
            }
        }

        #[test]
        fn equal_sizes_give_equal_t(a in sample(), shift in -10.0f64..10.0) {
            // With n1 == n2 the pooled and unpooled standard errors coincide.
            let b: Vec<f64> = a.iter().rev().map(|x| x * 0.5 + shift).collect();
            if let (Ok(s), Ok(w)) = (student_t_test(&a, &b), welch_t_test(&a, &b)) {
                prop_assert!((s.t - w.t).abs() <= 1e-9 * (1.0 + s.t.abs()), "{s:?} {w:?}");
            }
        }

        #[test]
        fn t_is_shift_and_scale_invariant(
            a in sample(),
            b in sample(),
            shift in -1e3f64..1e3,
            scale in 0.1f64..10.0,
        ) {
            let f = |xs: &[f64]| xs.iter().map(|x| x * scale + shift).collect::<Vec<_>>();
            if let (Ok(r), Ok(r2)) = (welch_t_test(&a, &b), welch_t_test(&f(&a), &f(&b))) {
                prop_assert!((r.t - r2.t).abs() <= 1e-6 * (1.0 + r.t.abs()), "{r:?} {r2:?}");
            }
        }

        #[test]
        fn p_is_continuous_at_large_df(t in 0.0f64..30.0) {
            let below = two_sided_p(t, LARGE_DF).unwrap();
            let above = two_sided_p(t, LARGE_DF * (1.0 + 1e-12)).unwrap();
            prop_assert!((below - above).abs() <= 1e-9 * below, "{below} {above}");
        }

        #[test]
        fn p_decreases_with_abs_t(t1 in 0.0f64..50.0, dt in 0.0f64..10.0, df in 0.5f64..1e9) {
            let p1 = two_sided_p(t1, df).unwrap();
            let p2 = two_sided_p(t1 + dt, df).unwrap();
            prop_assert!((0.0..=1.0).contains(&p1));
            prop_assert!(p2 <= p1 * (1.0 + 1e-12), "{p1} {p2}");
            prop_assert_eq!(two_sided_p(-t1, df).unwrap(), p1);
        }
    }
}
