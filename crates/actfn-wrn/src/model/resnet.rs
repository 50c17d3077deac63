//! The CIFAR ResNet-N of He et al. 2016 ("Deep Residual Learning for Image Recognition",
//! section 4.2), N = 6n + 2: a 3x3 convolution to 16 channels, batch norm and the
//! activation; three stages of `n` basic blocks with 16, 32 and 64 channels and strides 1,
//! 2, 2; global average pooling and a linear layer. A block is
//! `conv3x3 -> BN -> act -> conv3x3 -> BN`, plus the shortcut, then the activation. The
//! shortcut is the paper's parameter-free option A: the input itself, or where a stage
//! halves the size and doubles the channels, every second pixel of it with the new
//! channels zero. Convolutions have no bias.

use std::sync::Arc;

use tch::nn;
use tch::{TchError, Tensor};

use super::init::ConvInit;
use super::layers::{
    activate, batch_norm, conv, global_average, linear, BatchNorm, Conv, ConvShape, Linear,
};
use crate::activation::Activation;
use crate::error::WrnError;

/// The channels of the three stages.
pub const STAGE_WIDTHS: [i64; 3] = [16, 32, 64];

/// Blocks per stage of ResNet-`depth`, `n = (depth - 2) / 6`, or an error naming the depth.
pub fn blocks_per_stage(depth: i64) -> Result<i64, WrnError> {
    if depth < 8 || (depth - 2) % 6 != 0 {
        return Err(WrnError::InvalidModel(format!(
            "ResNet depth {depth} is not 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...)"
        )));
    }
    Ok((depth - 2) / 6)
}

/// A post-activation basic block.
#[derive(Debug)]
struct BasicBlock {
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    /// Option A: subsample by `stride` and pad the channels from `c_in` to `c_out`.
    stride: i64,
    pad_channels: (i64, i64),
}

impl BasicBlock {
    fn new(
        p: nn::Path,
        c_in: i64,
        c_out: i64,
        stride: i64,
        init: ConvInit,
    ) -> Result<BasicBlock, TchError> {
        let extra = c_out - c_in;
        Ok(BasicBlock {
            conv1: conv(&p / "conv1", ConvShape::new(c_in, c_out, 3, stride), init)?,
            bn1: batch_norm(&p / "bn1", c_out)?,
            conv2: conv(&p / "conv2", ConvShape::new(c_out, c_out, 3, 1), init)?,
            bn2: batch_norm(&p / "bn2", c_out)?,
            stride,
            pad_channels: (extra / 2, extra - extra / 2),
        })
    }

    fn shortcut(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        option_a_shortcut(xs, self.stride, self.pad_channels)
    }

    fn f_forward_t(&self, xs: &Tensor, act: &Activation, train: bool) -> Result<Tensor, WrnError> {
        let h = self.bn1.f_forward_t(&self.conv1.f_forward(xs)?, train)?;
        let h = activate(act, h, 0.0, train)?;
        let mut y = self.bn2.f_forward_t(&self.conv2.f_forward(&h)?, train)?;
        // Batch norm keeps its input, not its output, for backward: add in place.
        let _ = y.f_add_(&self.shortcut(xs)?)?;
        activate(act, y, 0.0, train)
    }
}

/// The parameter-free shortcut: every `stride`-th pixel of `xs`, with `(front, back)`
/// zero channels added before and after.
pub fn option_a_shortcut(
    xs: &Tensor,
    stride: i64,
    (front, back): (i64, i64),
) -> Result<Tensor, TchError> {
    let mut s = xs.shallow_clone();
    if stride > 1 {
        s = s.f_slice(2, 0, None, stride)?.f_slice(3, 0, None, stride)?;
    }
    if (front, back) != (0, 0) {
        s = s.f_constant_pad_nd([0, 0, 0, 0, front, back])?;
    }
    Ok(s)
}

/// ResNet-N (see the module).
#[derive(Debug)]
pub struct ResNet {
    conv: Conv,
    bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: Linear,
    act: Arc<Activation>,
}

impl ResNet {
    /// Logits `[N, classes]` of images `xs` `[N, C, H, W]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let h = self.bn.f_forward_t(&self.conv.f_forward(xs)?, train)?;
        let mut h = activate(&self.act, h, 0.0, train)?;
        for block in &self.blocks {
            h = block.f_forward_t(&h, &self.act, train)?;
        }
        Ok(self.fc.f_forward(&global_average(&h)?)?)
    }
}

/// Builds ResNet-`depth`'s parameters under `p` for `in_channels`-channel images.
pub fn resnet(
    p: &nn::Path,
    depth: i64,
    in_channels: i64,
    classes: i64,
    init: ConvInit,
    act: &Arc<Activation>,
) -> Result<ResNet, WrnError> {
    let n = blocks_per_stage(depth)?;
    let conv0 = conv(p / "conv", ConvShape::new(in_channels, 16, 3, 1), init)?;
    let bn = batch_norm(p / "bn", 16)?;
    let mut blocks = Vec::new();
    let mut c_in = 16;
    for (stage, (c_out, stride)) in STAGE_WIDTHS.into_iter().zip([1, 2, 2]).enumerate() {
        let sp = p / format!("stage{}", stage + 1);
        for i in 0..n {
            let s = if i == 0 { stride } else { 1 };
            blocks.push(BasicBlock::new(&sp / i, c_in, c_out, s, init)?);
            c_in = c_out;
        }
    }
    let fc = linear(p / "fc", c_in, classes)?;
    Ok(ResNet {
        conv: conv0,
        bn,
        blocks,
        fc,
        act: act.clone(),
    })
}
