//! The data sets, the balanced validation split, and the whole pipeline from the files to
//! the tensors a run trains on.
//!
//! - [`source`]: which data ([`DataSource`]: CIFAR, MNIST, an image folder, an npz), read
//!   through actfn-data for every format but CIFAR's;
//! - [`cifar`]: the two CIFAR data sets ([`Cifar`]) and their release layout;
//! - [`dataset`]: labelled samples as stored ([`Dataset`]) and their tensors;
//! - [`files`]: reading CIFAR's binary release, refusing incomplete files;
//! - [`split`](mod@split): the seeded, balanced train/validation split;
//! - [`prepare`](mod@prepare): load, split, whiten ([`TrainData`]).

pub mod cifar;
pub mod dataset;
pub mod files;
pub mod prepare;
pub mod source;
pub mod split;
#[cfg(test)]
pub(crate) mod synthetic;

pub use actfn_data::{ImageSize, Loaded};
pub use cifar::Cifar;
pub use dataset::{labels_tensor, values_tensor, Dataset, Values, IMAGE_BYTES, IMAGE_SHAPE};
pub use files::{dataset_dir, is_present, load, read_complete_file, read_file};
pub use prepare::{
    decoded_cache_dir, prepare, prepare_search_data, prepare_with_test_size, DataConfig, Prepared,
    SearchData, TrainData,
};
pub use source::{default_val_per_class, DataSource};
pub use split::{split, split_indices, Split, SplitConfig, SplitIndices};
