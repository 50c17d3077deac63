//! MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen 2018) for 32x32 images: the
//! ImageNet network's layers, with the first convolution and the second stage at stride 1
//! instead of 2 (a 32x32 image then ends as a 4x4 map, as a 224x224 one ends as 7x7), and
//! no dropout before the classifier. An inverted residual block is a 1x1 expansion by `t`
//! (left out when `t = 1`), batch norm and the activation; a depthwise 3x3 convolution,
//! batch norm and the activation; a 1x1 projection and batch norm with no activation (the
//! linear bottleneck); plus the input when the stride is 1 and the channels stay. The
//! activation takes the place of ReLU6. Convolutions have no bias.

use std::sync::Arc;

use tch::nn;
use tch::Tensor;

use super::init::ConvInit;
use super::layers::{
    activate, batch_norm, conv, global_average, linear, BatchNorm, Conv, ConvShape, Linear,
};
use crate::activation::Activation;
use crate::error::WrnError;

/// The stages: expansion `t`, output channels `c`, blocks `n`, stride of the first `s`.
pub const STAGES: [(i64, i64, i64, i64); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// Channels of the first convolution and of the last.
const STEM: i64 = 32;
const HEAD: i64 = 1280;

/// A convolution with batch norm.
type ConvBn = (Conv, BatchNorm);

fn conv_bn(p: nn::Path, shape: ConvShape, init: ConvInit) -> Result<ConvBn, tch::TchError> {
    Ok((
        conv(&p / "conv", shape, init)?,
        batch_norm(&p / "bn", shape.c_out)?,
    ))
}

fn forward(layer: &ConvBn, xs: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
    layer.1.f_forward_t(&layer.0.f_forward(xs)?, train)
}

#[derive(Debug)]
struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    fn new(
        p: nn::Path,
        c_in: i64,
        c_out: i64,
        stride: i64,
        t: i64,
        init: ConvInit,
    ) -> Result<InvertedResidual, tch::TchError> {
        let hidden = c_in * t;
        let expand = if t != 1 {
            Some(conv_bn(
                &p / "expand",
                ConvShape::new(c_in, hidden, 1, 1),
                init,
            )?)
        } else {
            None
        };
        let dw = ConvShape::new(hidden, hidden, 3, stride).grouped(hidden);
        Ok(InvertedResidual {
            expand,
            depthwise: conv_bn(&p / "depthwise", dw, init)?,
            project: conv_bn(&p / "project", ConvShape::new(hidden, c_out, 1, 1), init)?,
            residual: stride == 1 && c_in == c_out,
        })
    }

    fn f_forward_t(&self, xs: &Tensor, act: &Activation, train: bool) -> Result<Tensor, WrnError> {
        let mut h = xs.shallow_clone();
        if let Some(expand) = &self.expand {
            h = activate(act, forward(expand, &h, train)?, 0.0, train)?;
        }
        h = activate(act, forward(&self.depthwise, &h, train)?, 0.0, train)?;
        let mut y = forward(&self.project, &h, train)?;
        if self.residual {
            let _ = y.f_add_(xs)?;
        }
        Ok(y)
    }
}

/// MobileNetV2 (see the module).
#[derive(Debug)]
pub struct MobileNetV2 {
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    head: ConvBn,
    fc: Linear,
    act: Arc<Activation>,
}

impl MobileNetV2 {
    /// Logits `[N, classes]` of images `xs` `[N, C, H, W]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = activate(&self.act, forward(&self.stem, xs, train)?, 0.0, train)?;
        for block in &self.blocks {
            h = block.f_forward_t(&h, &self.act, train)?;
        }
        let h = activate(&self.act, forward(&self.head, &h, train)?, 0.0, train)?;
        Ok(self.fc.f_forward(&global_average(&h)?)?)
    }
}

/// Builds MobileNetV2's parameters under `p` for `in_channels`-channel images.
pub fn mobilenet_v2(
    p: &nn::Path,
    in_channels: i64,
    classes: i64,
    init: ConvInit,
    act: &Arc<Activation>,
) -> Result<MobileNetV2, WrnError> {
    let stem = conv_bn(p / "stem", ConvShape::new(in_channels, STEM, 3, 1), init)?;
    let mut blocks = Vec::new();
    let mut c_in = STEM;
    for (t, c, n, s) in STAGES {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let bp = p / "blocks" / blocks.len();
            blocks.push(InvertedResidual::new(bp, c_in, c, stride, t, init)?);
            c_in = c;
        }
    }
    let head = conv_bn(p / "head", ConvShape::new(c_in, HEAD, 1, 1), init)?;
    let fc = linear(p / "fc", HEAD, classes)?;
    Ok(MobileNetV2 {
        stem,
        blocks,
        head,
        fc,
        act: act.clone(),
    })
}
