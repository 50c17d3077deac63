//! Wide residual networks on CIFAR through libtorch: data, preprocessing, models, training.
//!
//! Data side: [`data`] reads the CIFAR binary formats and makes the balanced validation
//! split, [`fetch`] downloads and unpacks the data sets, [`zca`] fits featurewise centring
//! and ZCA whitening on the training split (cached on disk), [`augment`] flips and crops
//! batches.

pub mod activation;
pub mod augment;
pub mod bench;
pub mod checkpoint;
pub mod data;
mod error;
pub mod evaluator;
pub mod fetch;
pub mod model;
pub mod train;
pub mod zca;

pub use error::WrnError;
