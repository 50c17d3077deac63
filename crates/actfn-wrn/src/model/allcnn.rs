//! All-CNN-C (Springenberg, Dosovitskiy, Brox and Riedmiller 2015, "Striving for
//! Simplicity: The All Convolutional Net", table 2): nine convolutions, with bias, each
//! followed by the activation: 3x3 to 96, 3x3 to 96, 3x3 to 96 with stride 2, 3x3 to 192,
//! 3x3 to 192, 3x3 to 192 with stride 2, 3x3 to 192 unpadded, 1x1 to 192, 1x1 to the
//! classes; then global average pooling gives the logits. The paper's dropout is left out
//! (actfn's networks keep dropout only where the WRN reference has it).
//!
//! `allcnn-c` puts batch norm between each convolution and its activation; `allcnn-c-nobn`
//! is the network as published. Batch norm is the default because without it the network
//! does not train under actfn's recipe (SGD at 0.1, PyTorch's default initialisation): with
//! ReLU, 2,000 CIFAR-10 images and 4 epochs, its loss stayed at ln 10 and its accuracy at
//! chance (10.3% on 1,000 test images; with batch norm 47.9%), where a search would score
//! every candidate alike.

use std::sync::Arc;

use tch::nn;
use tch::Tensor;

use super::init::ConvInit;
use super::layers::{activate, batch_norm, conv, global_average, BatchNorm, Conv, ConvShape};
use crate::activation::Activation;
use crate::error::WrnError;

/// All-CNN-C (see the module).
#[derive(Debug)]
pub struct AllCnnC {
    layers: Vec<(Conv, Option<BatchNorm>)>,
    act: Arc<Activation>,
}

impl AllCnnC {
    /// Logits `[N, classes]` of images `xs` `[N, C, H, W]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = xs.shallow_clone();
        for (conv, bn) in &self.layers {
            let mut y = conv.f_forward(&h)?;
            if let Some(bn) = bn {
                y = bn.f_forward_t(&y, train)?;
            }
            h = activate(&self.act, y, 0.0, train)?;
        }
        Ok(global_average(&h)?)
    }
}

/// Builds All-CNN-C's parameters under `p` for `in_channels`-channel images, with batch
/// norm after each convolution or without.
pub fn allcnn_c(
    p: &nn::Path,
    batch_norm_layers: bool,
    in_channels: i64,
    classes: i64,
    init: ConvInit,
    act: &Arc<Activation>,
) -> Result<AllCnnC, WrnError> {
    let shapes = [
        ConvShape::new(in_channels, 96, 3, 1),
        ConvShape::new(96, 96, 3, 1),
        ConvShape::new(96, 96, 3, 2),
        ConvShape::new(96, 192, 3, 1),
        ConvShape::new(192, 192, 3, 1),
        ConvShape::new(192, 192, 3, 2),
        ConvShape::new(192, 192, 3, 1).unpadded(),
        ConvShape::new(192, 192, 1, 1),
        ConvShape::new(192, classes, 1, 1),
    ];
    let mut layers = Vec::with_capacity(shapes.len());
    for (i, shape) in shapes.into_iter().enumerate() {
        let lp = p / "layers" / i;
        let c = conv(&lp / "conv", shape.with_bias(), init)?;
        let bn = if batch_norm_layers {
            Some(batch_norm(&lp / "bn", shape.c_out)?)
        } else {
            None
        };
        layers.push((c, bn));
    }
    Ok(AllCnnC {
        layers,
        act: act.clone(),
    })
}
