//! The layers every network is made of: convolution, batch norm, linear, and the
//! activation. Each is created under an `nn::Path` with tch's variable names (`weight`,
//! `bias`, `running_mean`, `running_var`) and runs with a forward pass that returns errors
//! instead of panicking, so that a candidate activation that fails is a failed run.

use tch::nn;
use tch::{TchError, Tensor};

use super::init::ConvInit;
use crate::activation::Activation;
use crate::error::WrnError;

/// A 2-D convolution as `nn::conv2d` makes it (`weight`, then `bias` when it has one).
#[derive(Debug)]
pub(crate) struct Conv {
    ws: Tensor,
    bs: Option<Tensor>,
    stride: i64,
    padding: i64,
    groups: i64,
}

/// The shape of a convolution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvShape {
    pub c_in: i64,
    pub c_out: i64,
    pub ksize: i64,
    pub stride: i64,
    pub padding: i64,
    /// Channel groups (`c_in` for a depthwise convolution).
    pub groups: i64,
    pub bias: bool,
}

impl ConvShape {
    /// A `ksize x ksize` convolution without bias, padded to keep the size ("same" at stride
    /// 1), in one group.
    pub fn new(c_in: i64, c_out: i64, ksize: i64, stride: i64) -> ConvShape {
        ConvShape {
            c_in,
            c_out,
            ksize,
            stride,
            padding: ksize / 2,
            groups: 1,
            bias: false,
        }
    }

    /// The same with a bias.
    pub fn with_bias(self) -> ConvShape {
        ConvShape { bias: true, ..self }
    }

    /// The same without padding ("valid").
    pub fn unpadded(self) -> ConvShape {
        ConvShape { padding: 0, ..self }
    }

    /// The same in `groups` groups.
    pub fn grouped(self, groups: i64) -> ConvShape {
        ConvShape { groups, ..self }
    }
}

impl Conv {
    pub fn f_forward(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        xs.f_conv2d(
            &self.ws,
            self.bs.as_ref(),
            [self.stride; 2],
            [self.padding; 2],
            [1, 1],
            self.groups,
        )
    }
}

/// Creates a convolution's parameters under `p`, drawn as `init` says.
pub(crate) fn conv(p: nn::Path, shape: ConvShape, init: ConvInit) -> Result<Conv, TchError> {
    let ConvShape {
        c_in,
        c_out,
        ksize,
        groups,
        ..
    } = shape;
    let per_group = c_in / groups.max(1);
    let ws = p.f_var(
        "weight",
        &[c_out, per_group, ksize, ksize],
        init.init(ksize, per_group, c_out),
    )?;
    let bs = if shape.bias {
        Some(p.f_var("bias", &[c_out], init.bias_init(ksize, per_group))?)
    } else {
        None
    };
    Ok(Conv {
        ws,
        bs,
        stride: shape.stride,
        padding: shape.padding,
        groups,
    })
}

/// Batch norm as `nn::batch_norm2d` makes it (weight 1, bias 0, running statistics), with
/// tch's default momentum and epsilon; over the channels of `[N, C, H, W]` or the
/// features of `[N, C]` alike.
#[derive(Debug)]
pub(crate) struct BatchNorm {
    ws: Tensor,
    bs: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNorm {
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let defaults = nn::BatchNormConfig::default();
        xs.f_batch_norm(
            Some(&self.ws),
            Some(&self.bs),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            defaults.momentum,
            defaults.eps,
            defaults.cudnn_enabled,
        )
    }
}

pub(crate) fn batch_norm(p: nn::Path, channels: i64) -> Result<BatchNorm, TchError> {
    // In `nn::batch_norm2d`'s order, so that variables are created as they always were.
    let ws = p.f_var("weight", &[channels], nn::Init::Const(1.0))?;
    let bs = p.f_var("bias", &[channels], nn::Init::Const(0.0))?;
    Ok(BatchNorm {
        running_mean: p.f_zeros_no_train("running_mean", &[channels])?,
        running_var: p.f_ones_no_train("running_var", &[channels])?,
        ws,
        bs,
    })
}

/// A linear layer: PyTorch's default weight initialisation, bias 0.
#[derive(Debug)]
pub(crate) struct Linear {
    ws: Tensor,
    bs: Tensor,
}

impl Linear {
    pub fn f_forward(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        xs.f_linear(&self.ws, Some(&self.bs))
    }
}

pub(crate) fn linear(p: nn::Path, c_in: i64, c_out: i64) -> Result<Linear, TchError> {
    let bound = 1.0 / (c_in as f64).sqrt();
    // Bias first, as `nn::linear` creates them.
    let bs = p.f_var("bias", &[c_out], nn::Init::Const(0.0))?;
    let ws = p.f_var(
        "weight",
        &[c_out, c_in],
        nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Linear { ws, bs })
}

/// Applies the activation to a fresh tensor, then dropout with probability `dropout` in
/// train mode; an error names the activation.
pub(crate) fn activate(
    act: &Activation,
    x: Tensor,
    dropout: f64,
    train: bool,
) -> Result<Tensor, WrnError> {
    act.f_forward_consume_dropout(x, dropout, train)
        .map_err(|error| WrnError::Activation {
            expr: act.expr().to_string(),
            error,
        })
}

/// Global average pooling to `[N, C]`.
pub(crate) fn global_average(xs: &Tensor) -> Result<Tensor, TchError> {
    let h = xs.f_adaptive_avg_pool2d([1, 1])?;
    h.f_flatten(1, -1)
}
