//! [`ConvInit`]: how convolution weights are drawn, for every network.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::nn;

use crate::error::WrnError;

/// How convolution weights are initialised.
///
/// With batch norm after every convolution the scale of the weights does not change what
/// the network computes, but it sets the effective learning rate: weights `r` times larger
/// move `r^2` times more slowly under the same step. `he` weights are about 2.45x larger
/// than `uniform` ones (for 3x3 convolutions of equal width), which acts like a ~6x smaller
/// learning rate early on: it matters over a few hundred steps, hardly over 200 epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvInit {
    /// `N(0, 2 / (k * k * c_out))`: He's fan-out initialisation, as in the WRN reference
    /// implementation the paper's code descends from.
    He,
    /// `U(-b, b)` with `b = 1 / sqrt(k * k * c_in)`: PyTorch's default for `nn.Conv2d`
    /// (Kaiming-uniform with `a = sqrt(5)`). The default: it learns faster at small budgets.
    #[default]
    Uniform,
}

impl ConvInit {
    /// Every initialisation, for help texts and errors.
    pub const ALL: [ConvInit; 2] = [ConvInit::He, ConvInit::Uniform];

    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            ConvInit::He => "he",
            ConvInit::Uniform => "uniform",
        }
    }

    /// What runs written before the choice existed used (for reading their configs).
    pub fn before_choice() -> ConvInit {
        ConvInit::He
    }

    /// Whether this is [`ConvInit::before_choice`].
    pub fn is_before_choice(&self) -> bool {
        *self == ConvInit::before_choice()
    }

    /// The initialisation of a `k x k` convolution from `c_in` to `c_out` channels.
    pub(crate) fn init(self, ksize: i64, c_in: i64, c_out: i64) -> nn::Init {
        match self {
            ConvInit::He => nn::Init::Randn {
                mean: 0.0,
                stdev: (2.0 / (ksize * ksize * c_out) as f64).sqrt(),
            },
            ConvInit::Uniform => {
                let bound = 1.0 / ((ksize * ksize * c_in) as f64).sqrt();
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                }
            }
        }
    }
}

impl ConvInit {
    /// The initialisation of the bias of a convolution whose weight is drawn by `self`
    /// (`c_in` input channels per group): PyTorch's default `U(-b, b)`,
    /// `b = 1 / sqrt(k * k * c_in)`, with `uniform`, and 0 with `he`, as the WRN reference
    /// zeroes every bias it does not draw.
    pub(crate) fn bias_init(self, ksize: i64, c_in: i64) -> nn::Init {
        match self {
            ConvInit::He => nn::Init::Const(0.0),
            ConvInit::Uniform => {
                let bound = 1.0 / ((ksize * ksize * c_in) as f64).sqrt();
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                }
            }
        }
    }
}

impl fmt::Display for ConvInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ConvInit {
    type Err = WrnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConvInit::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| {
                WrnError::InvalidModel(format!("initialisation `{s}` is not one of: he, uniform"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_names_round_trip_and_unknown_ones_are_refused() {
        for init in ConvInit::ALL {
            assert_eq!(init.name().parse::<ConvInit>().unwrap(), init);
            assert_eq!(init.to_string(), init.name());
        }
        let err = "kaiming".parse::<ConvInit>().unwrap_err().to_string();
        assert!(
            err.contains("`kaiming`") && err.contains("he, uniform"),
            "{err}"
        );
    }
}
