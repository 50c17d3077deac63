//! CIFAR-10/100: the data sets and their files, the balanced validation split, and the
//! whole pipeline from the files to the tensors a run trains on.
//!
//! - [`cifar`]: the two data sets ([`Cifar`]) and their release layout;
//! - [`dataset`]: labelled images as bytes ([`Dataset`]);
//! - [`files`]: reading the binary release, refusing incomplete files;
//! - [`split`](mod@split): the seeded, balanced train/validation split;
//! - [`prepare`](mod@prepare): load, split, whiten ([`TrainData`]).

pub mod cifar;
pub mod dataset;
pub mod files;
pub mod prepare;
pub mod split;
#[cfg(test)]
pub(crate) mod synthetic;

pub use cifar::Cifar;
pub use dataset::{Dataset, IMAGE_BYTES, IMAGE_SHAPE};
pub use files::{dataset_dir, is_present, load, read_complete_file, read_file, CifarData};
pub use prepare::{
    prepare, prepare_search_data, prepare_with_test_size, DataConfig, Prepared, SearchData,
    TrainData,
};
pub use split::{split, split_indices, Split, SplitConfig, SplitIndices};
