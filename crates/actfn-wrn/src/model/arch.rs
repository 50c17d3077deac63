//! [`Arch`]: which network trains a candidate, by the name users type (`wrn-28-10`,
//! `resnet-20`, `vgg-16`, `allcnn-c`, `allcnn-c-nobn`, `mlp-512-3`, `mobilenetv2`). The name is
//! also how configurations store it, so that a configuration file reads as the command
//! line did.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::WrnError;

/// A network family and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Arch {
    /// WRN-depth-width, Zagoruyko and Komodakis 2016 ([`super::wrn`]).
    Wrn { depth: i64, width: i64 },
    /// He et al. 2016's CIFAR ResNet-depth ([`super::resnet`]).
    ResNet { depth: i64 },
    /// VGG-depth with batch norm, CIFAR variant ([`super::vgg`]).
    Vgg { depth: i64 },
    /// All-CNN-C, Springenberg et al. 2015, with or without batch norm ([`super::allcnn`]).
    AllCnnC { batch_norm: bool },
    /// `depth` hidden layers of `width` units ([`super::mlp`]).
    Mlp { width: i64, depth: i64 },
    /// MobileNetV2, CIFAR variant ([`super::mobilenet`]).
    MobileNetV2,
}

/// The forms of every name, for help texts and errors.
pub const ARCH_FORMS: &str =
    "wrn-D-K, resnet-N (N = 6n+2), vgg-11|13|16|19, allcnn-c, allcnn-c-nobn, mlp-W-D, mobilenetv2";

/// The largest depth or unit count a name may ask for: far beyond any network that trains,
/// and small enough that a typo cannot build a network layer by layer until memory runs
/// out. (A WRN too wide to allocate fails at its first convolution, as a failed run.)
const MAX_DEPTH: i64 = 2_000;
const MAX_MLP_WIDTH: i64 = 1 << 16;

impl Arch {
    /// Checks the size: a depth the family has, widths in range. The error names the value.
    pub fn check(&self) -> Result<(), WrnError> {
        let bad = |what: String| Err(WrnError::InvalidModel(format!("{self}: {what}")));
        match *self {
            Arch::Wrn { depth, width } => {
                if depth < 10 || (depth - 4) % 6 != 0 || depth > MAX_DEPTH {
                    return bad(format!(
                        "depth {depth} is not 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...) up to {MAX_DEPTH}"
                    ));
                }
                if width < 1 {
                    return bad(format!("width {width} is not a positive integer"));
                }
            }
            Arch::ResNet { depth } => {
                if depth < 8 || (depth - 2) % 6 != 0 || depth > MAX_DEPTH {
                    return bad(format!(
                        "depth {depth} is not 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...) up to {MAX_DEPTH}"
                    ));
                }
            }
            Arch::Vgg { depth } => {
                if ![11, 13, 16, 19].contains(&depth) {
                    return bad(format!("depth {depth} is not one of 11, 13, 16, 19"));
                }
            }
            Arch::Mlp { width, depth } => {
                if !(1..=MAX_MLP_WIDTH).contains(&width) {
                    return bad(format!("width {width} is not in 1..={MAX_MLP_WIDTH}"));
                }
                if !(1..=MAX_DEPTH).contains(&depth) {
                    return bad(format!("depth {depth} is not in 1..={MAX_DEPTH}"));
                }
            }
            Arch::AllCnnC { .. } | Arch::MobileNetV2 => {}
        }
        Ok(())
    }

    /// Whether the network has the WRN's dropout (the only one whose original has it).
    pub fn has_dropout(&self) -> bool {
        matches!(self, Arch::Wrn { .. })
    }

    /// The smallest height and width of an image the network can take (its poolings and
    /// strides must leave at least one pixel).
    pub fn min_image_size(&self) -> i64 {
        match self {
            Arch::Vgg { .. } => 32,
            Arch::AllCnnC { .. } => 9,
            Arch::Mlp { .. } => 1,
            Arch::Wrn { .. } | Arch::ResNet { .. } | Arch::MobileNetV2 => 4,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::Wrn { depth, width } => write!(f, "wrn-{depth}-{width}"),
            Arch::ResNet { depth } => write!(f, "resnet-{depth}"),
            Arch::Vgg { depth } => write!(f, "vgg-{depth}"),
            Arch::AllCnnC { batch_norm: true } => f.write_str("allcnn-c"),
            Arch::AllCnnC { batch_norm: false } => f.write_str("allcnn-c-nobn"),
            Arch::Mlp { width, depth } => write!(f, "mlp-{width}-{depth}"),
            Arch::MobileNetV2 => f.write_str("mobilenetv2"),
        }
    }
}

impl FromStr for Arch {
    type Err = WrnError;

    /// Parses a name and checks its size.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown =
            || WrnError::InvalidModel(format!("network `{s}` is not one of: {ARCH_FORMS}"));
        let number = |text: &str| -> Result<i64, WrnError> {
            // Digits only: no sign, no blanks; at most 9 of them, so the value fits.
            if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(unknown());
            }
            text.parse().map_err(|_| unknown())
        };
        let parts: Vec<&str> = s.split('-').collect();
        let arch = match parts.as_slice() {
            ["wrn", d, k] => Arch::Wrn {
                depth: number(d)?,
                width: number(k)?,
            },
            ["resnet", n] => Arch::ResNet { depth: number(n)? },
            ["vgg", n] => Arch::Vgg { depth: number(n)? },
            ["allcnn", "c"] => Arch::AllCnnC { batch_norm: true },
            ["allcnn", "c", "nobn"] => Arch::AllCnnC { batch_norm: false },
            ["mlp", w, d] => Arch::Mlp {
                width: number(w)?,
                depth: number(d)?,
            },
            ["mobilenetv2"] => Arch::MobileNetV2,
            _ => return Err(unknown()),
        };
        arch.check()?;
        Ok(arch)
    }
}

impl From<Arch> for String {
    fn from(arch: Arch) -> String {
        arch.to_string()
    }
}

impl TryFrom<String> for Arch {
    type Error = WrnError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "wrn-28-10",
            "wrn-10-1",
            "resnet-20",
            "resnet-110",
            "vgg-11",
            "vgg-19",
            "allcnn-c",
            "allcnn-c-nobn",
            "mlp-512-3",
            "mobilenetv2",
        ] {
            let arch: Arch = name.parse().unwrap();
            assert_eq!(arch.to_string(), name);
            let ron_text = ron::to_string(&arch).unwrap();
            assert_eq!(ron_text, format!("\"{name}\""));
            assert_eq!(ron::from_str::<Arch>(&ron_text).unwrap(), arch);
        }
    }

    #[test]
    fn bad_names_and_sizes_are_named() {
        for (name, says) in [
            ("resnet", "not one of"),
            ("resnet-21", "6n + 2"),
            ("resnet-+20", "not one of"),
            ("resnet-99999999999999999999", "not one of"),
            ("wrn-11-1", "6n + 4"),
            ("wrn-600004-1", "6n + 4"),
            ("wrn-10-0", "width 0"),
            ("vgg-15", "11, 13, 16, 19"),
            ("mlp-0-3", "width 0"),
            ("mlp-100-0", "depth 0"),
            ("ResNet-20", "not one of"),
            ("allcnn-d", "not one of"),
            ("", "not one of"),
        ] {
            let err = name.parse::<Arch>().unwrap_err().to_string();
            assert!(err.contains(says), "{name}: {err}");
        }
        assert!(ron::from_str::<Arch>("\"resnet-21\"").is_err());
    }
}
