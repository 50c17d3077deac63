//! [`Dataset`]: labelled samples as stored (actfn-data's [`Samples`]), the CIFAR image
//! layout, and the tensors of samples.
//!
//! Samples stay in their stored kind (bytes for images) until preprocessing turns them
//! into f32 tensors: 50,000 CIFAR images are 150 MB as bytes, 600 MB as f32.

pub use actfn_data::{Samples, Values};
use tch::{Kind, Tensor};

/// Labelled samples: images `[C, H, W]` or vectors `[D]`, bytes or f32.
pub type Dataset = Samples;

/// Channels, height and width of a CIFAR image.
pub const IMAGE_SHAPE: [i64; 3] = [3, 32, 32];
/// Bytes (= features) of one CIFAR image: 3 x 32 x 32.
pub const IMAGE_BYTES: usize = 3072;

/// The values as a tensor `[N, D]` of their stored kind (u8 or f32), on the CPU.
pub fn flat_values(data: &Dataset) -> Tensor {
    let rows = [data.len() as i64, data.features() as i64];
    match &data.values {
        Values::U8(v) => Tensor::from_slice(v).view(rows),
        Values::F32(v) => Tensor::from_slice(v).view(rows),
    }
}

/// The shape of a tensor of all samples: `[N, C, H, W]` or `[N, D]`.
pub fn batch_shape(data: &Dataset) -> Vec<i64> {
    std::iter::once(data.len() as i64)
        .chain(data.shape.iter().map(|&d| d as i64))
        .collect()
}

/// The samples as a tensor `[N, C, H, W]` (or `[N, D]`) of their stored kind.
pub fn values_tensor(data: &Dataset) -> Tensor {
    flat_values(data).view(batch_shape(data).as_slice())
}

/// The labels as an i64 tensor `[N]`.
pub fn labels_tensor(data: &Dataset) -> Tensor {
    let labels: Vec<i64> = data.labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_slice(&labels).to_kind(Kind::Int64)
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
        let x = values_tensor(&d);
        assert_eq!(x.size(), vec![10, 3, 32, 32]);
        assert_eq!(x.kind(), Kind::Uint8);
        let Values::U8(v) = &d.values else { panic!() };
        assert_eq!(x.int64_value(&[2, 1, 0, 5]), v[2 * 3072 + 1024 + 5] as i64);
        let y = labels_tensor(&d);
        assert_eq!((y.size(), y.kind()), (vec![10], Kind::Int64));
        assert_eq!(y.int64_value(&[7]), 7);
    }
}
