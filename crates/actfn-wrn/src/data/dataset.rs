//! [`Dataset`]: labelled CIFAR images as bytes, and the image layout.
//!
//! Images stay as bytes (`N x 3072`, channel-major 3x32x32 as in the files) until
//! preprocessing turns them into f32 tensors: 50,000 images are 150 MB as bytes, 600 MB as
//! f32.

use std::fmt;

use tch::{Kind, Tensor};

/// Channels, height and width of a CIFAR image.
pub const IMAGE_SHAPE: [i64; 3] = [3, 32, 32];
/// Bytes (= features) of one image: 3 x 32 x 32.
pub const IMAGE_BYTES: usize = 3072;

/// Labelled images as bytes: image `i` is `images[i * 3072..(i + 1) * 3072]`, 3x32x32.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixel bytes, `len() * IMAGE_BYTES` of them, channel-major as in the CIFAR files.
    pub images: Vec<u8>,
    /// One label a record, in `0..num_classes` (the fine label for CIFAR-100).
    pub labels: Vec<u8>,
    /// Number of classes.
    pub num_classes: usize,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl Dataset {
    /// An empty data set of `num_classes` classes.
    pub fn empty(num_classes: usize) -> Self {
        Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            num_classes,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            images,
            labels,
            num_classes: self.num_classes,
        }
    }

    /// Appends the images of `other`.
    pub fn extend(&mut self, other: &Dataset) {
        self.images.extend_from_slice(&other.images);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The images as a u8 tensor `[N, 3, 32, 32]`.
    pub fn images_tensor(&self) -> Tensor {
        Tensor::from_slice(&self.images).view([self.len() as i64, 3, 32, 32])
    }

    /// The labels as an i64 tensor `[N]`.
    pub fn labels_tensor(&self) -> Tensor {
        Tensor::from_slice(&self.labels).to_kind(Kind::Int64)
    }
}
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::files::parse_records;
    use crate::data::{synthetic, Cifar};

    #[test]
    fn tensors_have_the_right_shape() {
        let bytes = synthetic::records(Cifar::Cifar10, 1, 0);
        let d = parse_records(&bytes, Cifar::Cifar10, Path::new("x")).unwrap();
        let x = d.images_tensor();
        assert_eq!(x.size(), vec![10, 3, 32, 32]);
        assert_eq!(x.kind(), Kind::Uint8);
        assert_eq!(x.int64_value(&[2, 1, 0, 5]), d.image(2)[1024 + 5] as i64);
        let y = d.labels_tensor();
        assert_eq!((y.size(), y.kind()), (vec![10], Kind::Int64));
        assert_eq!(y.int64_value(&[7]), 7);
    }
}
