//! Training networks on CIFAR through libtorch: data, preprocessing, models, training.
//!
//! Data side: [`data`] reads the CIFAR binary formats, makes the balanced validation
//! split and runs the pipeline to tensors, [`fetch`] downloads and unpacks the data sets,
//! [`zca`] fits featurewise centring and ZCA whitening on the training split (cached on
//! disk), [`augment`] flips and crops batches.
//!
//! Model side: [`activation`] compiles a candidate expression to tensor ops, [`model`]
//! builds a network around it (WRN-d-k, the paper's, or a ResNet, VGG, All-CNN-C, MLP or
//! MobileNetV2), [`train`] trains it ([`checkpoint`] saves and restores a run),
//! and [`evaluator`] is the search's view of all this.

pub mod activation;
pub mod augment;
pub mod bench;
pub mod checkpoint;
pub mod data;
mod error;
pub mod evaluator;
pub mod fetch;
pub mod model;
mod stale;
pub mod train;
pub mod zca;

pub use error::WrnError;
