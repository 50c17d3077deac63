//! [`ImageSize`]: the size every image of a folder is resized to (`--image-size`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest side accepted: a typo such as `--image-size 32000` would otherwise ask for
/// gigabytes per image before anything is trained.
pub const MAX_IMAGE_SIDE: u32 = 1024;

/// Height and width, in pixels, that images are resized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSize {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.height == self.width {
            write!(f, "{}", self.height)
        } else {
            write!(f, "{}x{}", self.height, self.width)
        }
    }
}

impl FromStr for ImageSize {
    type Err = String;

    /// `N` (square) or `HxW`, each side in `1..=1024`.
    fn from_str(text: &str) -> Result<Self, String> {
        let side = |s: &str| -> Result<u32, String> {
            let n: u32 = s
                .trim()
                .parse()
                .map_err(|_| format!("image size `{text}`: expected N or HxW, e.g. 32 or 28x28"))?;
            if n == 0 || n > MAX_IMAGE_SIDE {
                return Err(format!(
                    "image size `{text}`: each side must be in 1..={MAX_IMAGE_SIDE}"
                ));
            }
            Ok(n)
        };
        let (height, width) = match text.split_once(['x', 'X']) {
            Some((h, w)) => (side(h)?, side(w)?),
            None => {
                let n = side(text)?;
                (n, n)
            }
        };
        Ok(ImageSize { height, width })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_square_and_rectangles_and_refuses_nonsense() {
        let s: ImageSize = "32".parse().unwrap();
        assert_eq!((s.height, s.width, s.to_string()), (32, 32, "32".into()));
        let s: ImageSize = "24x40".parse().unwrap();
        assert_eq!((s.height, s.width, s.to_string()), (24, 40, "24x40".into()));
        for bad in ["", "0", "x", "32x", "5000", "-3", "2.5"] {
            assert!(bad.parse::<ImageSize>().is_err(), "{bad}");
        }
    }
}
