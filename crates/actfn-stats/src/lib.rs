//! Small, dependable statistics for comparing repeated training runs.
//!
//! `actfn-stats` holds the numbers a paper's results tables are made of: the mean, the
//! sample standard deviation, the median (and the "median of k runs" that Bingham et al.
//! report), a [`Summary`] of a sample, and two-sample t-tests, both Student's
//! pooled-variance test ([`student_t_test`]) and Welch's unequal-variance test
//! ([`welch_t_test`]), with two-sided p-values from the Student t distribution of
//! [`statrs`]. [`two_sided_p`] turns a published t statistic and its degrees of freedom
//! back into a p-value, so that a reported table can be checked.
//!
//! Every function validates its input and returns a [`StatsError`] instead of
//! panicking or quietly returning `NaN`: non-finite values, too few samples and
//! degenerate data (both groups constant) are errors that name the offending value.
//! Values of any finite magnitude, from subnormals to `f64::MAX`, are handled without
//! intermediate overflow or underflow; only a result that itself exceeds `f64::MAX` is
//! an error ([`StatsError::Overflow`]).
//!
//! ```
//! use actfn_stats::{student_t_test, welch_t_test, Summary};
//!
//! let relu = [71.0, 70.8, 71.3, 70.9, 71.1];
//! let evolved = [72.4, 72.0, 72.6, 72.1, 72.3];
//!
//! let s = Summary::of(&evolved)?;
//! assert_eq!(s.median, 72.3);
//!
//! let student = student_t_test(&evolved, &relu)?;
//! assert_eq!(student.df, 8.0);
//! assert!(student.t > 0.0 && student.p < 1e-4);
//!
//! let welch = welch_t_test(&evolved, &relu)?;
//! assert!(welch.df <= 8.0);
//! # Ok::<(), actfn_stats::StatsError>(())
//! ```
//!
//! This crate knows nothing about neural networks or activation functions; it depends
//! only on `statrs`, `serde` and `thiserror`.

#![warn(missing_docs)]

use std::fmt;

mod correction;
mod rank;
mod summary;
mod ttest;

pub use correction::holm;

pub use rank::{average_ranks, spearman, RankCorrelation};

pub use summary::{mean, median, median_of_k, sample_sd, sample_variance, Summary};
pub use ttest::{
    student_t_test, two_sided_p, welch_interval, welch_satterthwaite_df, welch_t_test, TTest,
    LARGE_DF,
};

/// Which of the two samples of a two-sample test an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// The first sample (`a` in [`student_t_test`]`(a, b)`).
    A,
    /// The second sample (`b` in [`student_t_test`]`(a, b)`).
    B,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Group::A => "a",
            Group::B => "b",
        })
    }
}

/// Formats the optional group of an error as a suffix: `""` or `" in group a"`.
fn in_group(group: &Option<Group>) -> String {
    match group {
        Some(g) => format!(" in group {g}"),
        None => String::new(),
    }
}

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase and name the offending value, so that a caller can print them
/// as they are (`"non-finite value NaN at index 3 in group b"`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The sample is shorter than the statistic needs (for example one value for a
    /// standard deviation, or fewer than `k` values for [`median_of_k`]).
    #[error("too few samples{}: need at least {needed}, got {got}", in_group(.group))]
    TooFewSamples {
        /// The sample concerned, for two-sample functions.
        group: Option<Group>,
        /// The smallest length that would have been accepted.
        needed: usize,
        /// The length that was given.
        got: usize,
    },
    /// A value is `NaN` or infinite.
    #[error("non-finite value {value} at index {index}{}", in_group(.group))]
    NonFinite {
        /// The sample concerned, for two-sample functions.
        group: Option<Group>,
        /// The position of the first non-finite value.
        index: usize,
        /// The value itself (`NaN`, `inf` or `-inf`).
        value: f64,
    },
    /// Both samples of a t-test are constant, so the standard error is zero and the t
    /// statistic is undefined.
    #[error(
        "zero variance in both groups (each sample is constant): the t statistic is undefined"
    )]
    ZeroVariance,
    /// `k` was zero in [`median_of_k`].
    #[error("k must be at least 1, got {k}")]
    InvalidK {
        /// The rejected `k`.
        k: usize,
    },
    /// A p-value passed to [`holm`] is outside `[0, 1]` or `NaN`.
    #[error("p-value {value} at index {index} is not in [0, 1]")]
    InvalidP {
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },

    /// A confidence level outside (0, 1).
    #[error("confidence level {level} is not in (0, 1)")]
    InvalidConfidence {
        /// The level.
        level: f64,
    },

    /// A t statistic passed to [`two_sided_p`] is `NaN`.
    #[error("t statistic is not a number: {t}")]
    InvalidT {
        /// The rejected statistic.
        t: f64,
    },
    /// Degrees of freedom that are not finite and strictly positive.
    #[error("degrees of freedom must be finite and positive, got {df}")]
    InvalidDf {
        /// The rejected degrees of freedom.
        df: f64,
    },
    /// A variance passed to [`welch_satterthwaite_df`] is negative or not finite.
    #[error("variance must be finite and non-negative, got {variance}{}", in_group(.group))]
    InvalidVariance {
        /// The sample the variance belongs to.
        group: Option<Group>,
        /// The rejected variance.
        variance: f64,
    },
    /// The two samples of a paired statistic differ in length.
    #[error("paired samples differ in length: {a} and {b}")]
    LengthMismatch {
        /// The length of the first sample.
        a: usize,
        /// The length of the second sample.
        b: usize,
    },
    /// A sample is constant, so a correlation with it is undefined.
    #[error("the sample is constant in group {group}: its correlation is undefined")]
    Constant {
        /// The constant sample.
        group: Group,
    },
    /// A result does not fit in an `f64` (for example the standard deviation of
    /// `[-f64::MAX, f64::MAX]`).
    #[error("{what} overflows f64")]
    Overflow {
        /// The quantity that overflowed, such as `"standard deviation"`.
        what: &'static str,
    },
}

impl StatsError {
    /// Attaches `group` to errors that concern one sample; other errors are unchanged.
    fn in_group(self, group: Group) -> Self {
        match self {
            StatsError::TooFewSamples { needed, got, .. } => StatsError::TooFewSamples {
                group: Some(group),
                needed,
                got,
            },
            StatsError::NonFinite { index, value, .. } => StatsError::NonFinite {
                group: Some(group),
                index,
                value,
            },
            StatsError::InvalidVariance { variance, .. } => StatsError::InvalidVariance {
                group: Some(group),
                variance,
            },
            other => other,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_lowercase_and_name_the_value() {
        let e = StatsError::NonFinite {
            group: Some(Group::B),
            index: 3,
            value: f64::NAN,
        };
        assert_eq!(e.to_string(), "non-finite value NaN at index 3 in group b");
        let e = StatsError::TooFewSamples {
            group: None,
            needed: 2,
            got: 1,
        };
        assert_eq!(e.to_string(), "too few samples: need at least 2, got 1");
        let e = StatsError::InvalidDf { df: -1.0 };
        assert_eq!(
            e.to_string(),
            "degrees of freedom must be finite and positive, got -1"
        );
        for e in [
            StatsError::ZeroVariance,
            StatsError::InvalidK { k: 0 },
            StatsError::InvalidT { t: f64::NAN },
            StatsError::Overflow {
                what: "standard deviation",
            },
        ] {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        }
    }

    #[test]
    fn in_group_tags_only_per_sample_errors() {
        let e = StatsError::TooFewSamples {
            group: None,
            needed: 2,
            got: 0,
        }
        .in_group(Group::A);
        assert_eq!(
            e.to_string(),
            "too few samples in group a: need at least 2, got 0"
        );
        assert_eq!(
            StatsError::ZeroVariance.in_group(Group::A),
            StatsError::ZeroVariance
        );
    }
}
