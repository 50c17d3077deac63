//! VGG-11, -13, -16 and -19 (Simonyan and Zisserman 2015) in the variant commonly trained on
//! CIFAR: the convolutional layers of configurations A, B, D and E, each a 3x3 convolution
//! with bias followed by batch norm and the activation, 2x2 max-pooling after each of the
//! five groups, then global average pooling (which leaves the 1x1 map of a 32x32 image as
//! it is) and one linear layer from 512 features to the classes, in place of the
//! ImageNet network's three fully connected layers.

use std::sync::Arc;

use tch::nn;
use tch::Tensor;

use super::init::ConvInit;
use super::layers::{
    activate, batch_norm, conv, global_average, linear, BatchNorm, Conv, ConvShape, Linear,
};
use crate::activation::Activation;
use crate::error::WrnError;

/// The output channels of each 3x3 convolution, a pooling after each group.
pub fn groups(depth: i64) -> Result<[&'static [i64]; 5], WrnError> {
    Ok(match depth {
        11 => [&[64], &[128], &[256, 256], &[512, 512], &[512, 512]],
        13 => [
            &[64, 64],
            &[128, 128],
            &[256, 256],
            &[512, 512],
            &[512, 512],
        ],
        16 => [
            &[64, 64],
            &[128, 128],
            &[256, 256, 256],
            &[512, 512, 512],
            &[512, 512, 512],
        ],
        19 => [
            &[64, 64],
            &[128, 128],
            &[256, 256, 256, 256],
            &[512, 512, 512, 512],
            &[512, 512, 512, 512],
        ],
        _ => {
            return Err(WrnError::InvalidModel(format!(
                "VGG depth {depth} is not one of 11, 13, 16, 19"
            )))
        }
    })
}

/// VGG-N (see the module).
#[derive(Debug)]
pub struct Vgg {
    /// Convolutions with their batch norms, group by group.
    groups: Vec<Vec<(Conv, BatchNorm)>>,
    fc: Linear,
    act: Arc<Activation>,
}

impl Vgg {
    /// Logits `[N, classes]` of images `xs` `[N, C, H, W]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = xs.shallow_clone();
        for group in &self.groups {
            for (conv, bn) in group {
                let y = bn.f_forward_t(&conv.f_forward(&h)?, train)?;
                h = activate(&self.act, y, 0.0, train)?;
            }
            h = h.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?;
        }
        Ok(self.fc.f_forward(&global_average(&h)?)?)
    }
}

/// Builds VGG-`depth`'s parameters under `p` for `in_channels`-channel images.
pub fn vgg(
    p: &nn::Path,
    depth: i64,
    in_channels: i64,
    classes: i64,
    init: ConvInit,
    act: &Arc<Activation>,
) -> Result<Vgg, WrnError> {
    let mut c_in = in_channels;
    let mut built = Vec::new();
    let mut index = 0;
    for widths in groups(depth)? {
        let mut group = Vec::new();
        for &c_out in widths {
            let lp = p / "features" / index;
            let shape = ConvShape::new(c_in, c_out, 3, 1).with_bias();
            group.push((
                conv(&lp / "conv", shape, init)?,
                batch_norm(&lp / "bn", c_out)?,
            ));
            c_in = c_out;
            index += 1;
        }
        built.push(group);
    }
    let fc = linear(p / "fc", c_in, classes)?;
    Ok(Vgg {
        groups: built,
        fc,
        act: act.clone(),
    })
}
