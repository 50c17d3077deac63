//! Labelled samples for training, from the formats people keep their data in: image
//! folders in torchvision's `ImageFolder` layout ([`folder`]), NumPy `.npz` archives
//! ([`npz`]) and IDX files, MNIST's and Fashion-MNIST's format ([`idx`]). Every reader
//! gives [`Loaded`]: training and test [`Samples`] (images `C x H x W` or vectors, as
//! bytes or f32) and the class names. Decoding a folder of images is slow, so [`cache`]
//! keeps what was decoded under a key of the files' content.
//!
//! Bad data are refused with one [`DataError`] line that names the file: a class folder
//! without images, an unreadable or truncated image, mixed sizes without an
//! [`ImageSize`], labels out of range, samples and labels of different lengths, an empty
//! split, a missing array.
//!
//! The crate knows nothing of tensors or training; `actfn-wrn` preprocesses and trains.

pub mod cache;
pub mod error;
pub mod folder;
pub mod idx;
pub mod image_size;
pub mod npz;
mod progress;
pub mod samples;
pub mod testing;

pub use error::{DataError, Result};
pub use idx::IdxSet;
pub use image_size::ImageSize;
pub use samples::{numbered_classes, Loaded, Samples, Values};

/// Reads the image folder at `root` ([`folder`]), resized to `size` when given, through
/// the decode cache in `cache_dir`: decoded once, read back by every later call.
pub fn read_folder(
    root: &std::path::Path,
    size: Option<ImageSize>,
    cache_dir: &std::path::Path,
) -> Result<Loaded> {
    let files = folder::list(root)?;
    let key = files.content_key(size)?;
    cache::cached(cache_dir, &key, || files.decode(size))
}
