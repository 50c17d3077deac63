//! The networks a candidate activation is trained in, each a plain function over
//! `nn::Path` with the activation at every nonlinearity of the original network:
//! [`wrn`] (the paper's WRN-d-k), [`resnet`] (He et al.'s CIFAR ResNet), [`vgg`] (VGG with
//! batch norm), [`allcnn`] (All-CNN-C), [`mlp`] (for vector data) and [`mobilenet`]
//! (MobileNetV2). [`Arch`] names one; [`build`] builds it as a [`Network`].
//!
//! Common to all: convolutions initialised as [`ConvInit`] says, batch norm at weight 1 and
//! bias 0, linear layers with PyTorch's default weight initialisation and bias 0, and a
//! forward pass that returns errors instead of panicking, so that a candidate activation
//! that fails is a failed run.

use std::sync::Arc;

use tch::nn;
use tch::Tensor;

use crate::activation::Activation;
use crate::error::WrnError;

pub mod allcnn;
mod arch;
mod init;
mod layers;
pub mod mlp;
pub mod mobilenet;
pub mod resnet;
pub mod vgg;
pub mod wrn;

pub use arch::{Arch, ARCH_FORMS};
pub use init::ConvInit;
pub use wrn::{expected_parameter_count, Wrn, WrnConfig};

/// The shape of one input: channels, height and width of an image; a vector of `n` values
/// is `(n, 1, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    pub channels: i64,
    pub height: i64,
    pub width: i64,
}

impl InputShape {
    /// A 32x32 RGB image, as in CIFAR.
    pub const CIFAR: InputShape = InputShape {
        channels: 3,
        height: 32,
        width: 32,
    };

    /// The shape of the items of a batch `[N, C, H, W]` (or `[N, F]`).
    pub fn of_batch(size: &[i64]) -> Result<InputShape, WrnError> {
        match *size {
            [_, channels, height, width] => Ok(InputShape {
                channels,
                height,
                width,
            }),
            [_, features] => Ok(InputShape {
                channels: features,
                height: 1,
                width: 1,
            }),
            _ => Err(WrnError::InvalidModel(format!(
                "inputs of shape {size:?} are neither images [N, C, H, W] nor vectors [N, F]"
            ))),
        }
    }

    /// Values per input.
    pub fn features(&self) -> i64 {
        self.channels * self.height * self.width
    }
}

/// Everything that decides a network's shape and initial weights (besides the seed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkConfig {
    pub arch: Arch,
    pub classes: i64,
    pub input: InputShape,
    /// Dropout of the WRN's blocks; the other networks have none.
    pub dropout: f64,
    pub init: ConvInit,
}

impl NetworkConfig {
    /// `arch` for CIFAR-shaped images and `classes` classes, with the paper's WRN dropout
    /// 0.3 and the default initialisation.
    pub fn cifar(arch: Arch, classes: i64) -> NetworkConfig {
        NetworkConfig {
            arch,
            classes,
            input: InputShape::CIFAR,
            dropout: 0.3,
            init: ConvInit::default(),
        }
    }

    /// Checks what can be checked before building: the size, the classes, the dropout,
    /// and that the input is large enough for the network's strides and poolings.
    pub fn check(&self) -> Result<(), WrnError> {
        self.arch.check()?;
        check_head(self.classes, self.dropout)?;
        let InputShape {
            channels,
            height,
            width,
        } = self.input;
        if channels < 1 || height < 1 || width < 1 {
            return Err(WrnError::InvalidModel(format!(
                "input shape {channels}x{height}x{width} has an empty dimension"
            )));
        }
        let min = self.arch.min_image_size();
        if !matches!(self.arch, Arch::Mlp { .. }) && (height < min || width < min) {
            return Err(WrnError::InvalidModel(format!(
                "{} needs images of at least {min}x{min} pixels, not {height}x{width}",
                self.arch
            )));
        }
        Ok(())
    }

    /// The WRN shape, for a WRN.
    fn wrn(&self, depth: i64, width: i64) -> WrnConfig {
        WrnConfig {
            depth,
            width,
            classes: self.classes,
            dropout: self.dropout,
            init: self.init,
        }
    }
}

/// Checks what every network shares: at least one class, a dropout probability below 1.
pub(crate) fn check_head(classes: i64, dropout: f64) -> Result<(), WrnError> {
    if classes < 1 {
        return Err(WrnError::InvalidModel(format!(
            "class count {classes} is not positive"
        )));
    }
    if !(0.0..1.0).contains(&dropout) {
        return Err(WrnError::InvalidModel(format!(
            "dropout {dropout} is not in [0, 1)"
        )));
    }
    Ok(())
}

/// A built network of any family.
#[derive(Debug)]
pub enum Network {
    Wrn(wrn::Wrn),
    ResNet(resnet::ResNet),
    Vgg(vgg::Vgg),
    AllCnnC(allcnn::AllCnnC),
    Mlp(mlp::Mlp),
    MobileNetV2(mobilenet::MobileNetV2),
}

impl Network {
    /// Logits `[N, classes]` of a batch of inputs, in train mode (batch statistics,
    /// dropout) or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        match self {
            Network::Wrn(n) => n.f_forward_t(xs, train),
            Network::ResNet(n) => n.f_forward_t(xs, train),
            Network::Vgg(n) => n.f_forward_t(xs, train),
            Network::AllCnnC(n) => n.f_forward_t(xs, train),
            Network::Mlp(n) => n.f_forward_t(xs, train),
            Network::MobileNetV2(n) => n.f_forward_t(xs, train),
        }
    }
}

/// Builds the network of `cfg` under `p` with `act` at every nonlinearity. A shape that
/// does not exist is [`WrnError::InvalidModel`]; parameters libtorch cannot create (too
/// large to allocate) are [`WrnError::Torch`]. A WRN's parameters sit at the root of `p`,
/// where they always were, so that checkpoints written before other networks existed
/// still load.
pub fn build(
    p: &nn::Path,
    cfg: &NetworkConfig,
    act: &Arc<Activation>,
) -> Result<Network, WrnError> {
    cfg.check()?;
    let (c, init, classes) = (cfg.input.channels, cfg.init, cfg.classes);
    Ok(match cfg.arch {
        Arch::Wrn { depth, width } => Network::Wrn(wrn::wrn(p, &cfg.wrn(depth, width), c, act)?),
        Arch::ResNet { depth } => Network::ResNet(resnet::resnet(p, depth, c, classes, init, act)?),
        Arch::Vgg { depth } => Network::Vgg(vgg::vgg(p, depth, c, classes, init, act)?),
        Arch::AllCnnC { batch_norm } => {
            Network::AllCnnC(allcnn::allcnn_c(p, batch_norm, c, classes, init, act)?)
        }
        Arch::Mlp { width, depth } => Network::Mlp(mlp::mlp(
            p,
            width,
            depth,
            cfg.input.features(),
            classes,
            act,
        )?),
        Arch::MobileNetV2 => {
            Network::MobileNetV2(mobilenet::mobilenet_v2(p, c, classes, init, act)?)
        }
    })
}

/// Number of trainable parameters in a var store (batch-norm running statistics are
/// buffers, not parameters).
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// Builds the network of `cfg` on the CPU and counts its trainable parameters.
pub fn count_parameters(cfg: &NetworkConfig) -> Result<i64, WrnError> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _net = build(&vs.root(), cfg, &Arc::new(Activation::relu()))?;
    Ok(parameter_count(&vs))
}

#[cfg(test)]
mod tests;
