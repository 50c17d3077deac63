//! Wide residual networks WRN-d-k (Zagoruyko and Komodakis, 2016) with a pluggable
//! activation: every ReLU of the reference network is the candidate activation.
//!
//! The layout and initialisation follow the reference PyTorch implementation
//! (`WideResNet` of xternalz/WideResNet-pytorch, which the paper's code descends from):
//! a 3x3 convolution to 16 channels, three groups of `n = (d - 4) / 6` pre-activation basic
//! blocks of widths `16k`, `32k`, `64k` with strides 1, 2, 2, then batch norm, activation,
//! global average pooling and a linear layer. A block is
//! `BN -> act -> conv3x3 -> BN -> act -> dropout -> conv3x3`, plus the input (or, where
//! the channel count changes, a 1x1 convolution of the first activation's output).
//! Convolutions have no bias and are initialised as [`ConvInit`] says: `he`,
//! `N(0, 2 / (k * k * c_out))` as in the reference, or `uniform`, PyTorch's default for
//! `nn.Conv2d`; batch norm starts at weight 1, bias 0; the linear layer has PyTorch's
//! default weight initialisation and bias 0.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{TchError, Tensor};

use super::init::ConvInit;
use super::layers::{
    activate, batch_norm, conv, global_average, linear, BatchNorm, Conv, ConvShape, Linear,
};
use super::{check_head, Arch};
use crate::activation::Activation;
use crate::error::WrnError;

/// The shape of a WRN-d-k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WrnConfig {
    /// Depth `d = 6n + 4`.
    pub depth: i64,
    /// Widening factor `k`.
    pub width: i64,
    /// Number of classes.
    pub classes: i64,
    /// Dropout probability between the two convolutions of a block (0.3 in the paper).
    pub dropout: f64,
    /// How convolution weights are initialised.
    pub init: ConvInit,
}

impl WrnConfig {
    /// WRN-`depth`-`width` for `classes` classes with the paper's dropout 0.3.
    pub fn new(depth: i64, width: i64, classes: i64) -> WrnConfig {
        WrnConfig {
            depth,
            width,
            classes,
            dropout: 0.3,
            init: ConvInit::default(),
        }
    }

    /// Blocks per group, `n = (d - 4) / 6`, or an error naming the depth.
    pub fn blocks_per_group(&self) -> Result<i64, WrnError> {
        Arch::Wrn {
            depth: self.depth,
            width: self.width,
        }
        .check()?;
        check_head(self.classes, self.dropout)?;
        Ok((self.depth - 4) / 6)
    }

    /// The channel widths of the three groups: `16k`, `32k`, `64k`.
    pub fn widths(&self) -> [i64; 3] {
        [16 * self.width, 32 * self.width, 64 * self.width]
    }
}

/// A pre-activation basic block from `c_in` to `c_out` channels.
#[derive(Debug)]
pub struct Block {
    bn1: BatchNorm,
    conv1: Conv,
    bn2: BatchNorm,
    conv2: Conv,
    shortcut: Option<Conv>,
    dropout: f64,
    act: Arc<Activation>,
}

impl Block {
    /// Builds the block's parameters under `p`.
    pub fn new(
        p: nn::Path,
        c_in: i64,
        c_out: i64,
        stride: i64,
        dropout: f64,
        init: ConvInit,
        act: Arc<Activation>,
    ) -> Result<Block, TchError> {
        // Fields in creation order: the parameters are drawn in this order.
        Ok(Block {
            bn1: batch_norm(&p / "bn1", c_in)?,
            conv1: conv(&p / "conv1", ConvShape::new(c_in, c_out, 3, stride), init)?,
            bn2: batch_norm(&p / "bn2", c_out)?,
            conv2: conv(&p / "conv2", ConvShape::new(c_out, c_out, 3, 1), init)?,
            shortcut: if c_in != c_out {
                Some(conv(
                    &p / "shortcut",
                    ConvShape::new(c_in, c_out, 1, stride),
                    init,
                )?)
            } else {
                None
            },
            dropout,
            act,
        })
    }

    /// The block applied to `xs`, in train mode (batch statistics, dropout) or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let o = activate(&self.act, self.bn1.f_forward_t(xs, train)?, 0.0, train)?;
        let h = self.bn2.f_forward_t(&self.conv1.f_forward(&o)?, train)?;
        let mut y = self
            .conv2
            .f_forward(&activate(&self.act, h, self.dropout, train)?)?;
        // The convolution does not keep its output for backward: add in place.
        let _ = match &self.shortcut {
            None => y.f_add_(xs)?,
            Some(sc) => y.f_add_(&sc.f_forward(&o)?)?,
        };
        Ok(y)
    }
}

/// A group of `n` blocks, the first changing width and stride; dropout and initialisation
/// from `cfg`.
pub fn group(
    p: nn::Path,
    c_in: i64,
    c_out: i64,
    stride: i64,
    n: i64,
    cfg: &WrnConfig,
    act: &Arc<Activation>,
) -> Result<Vec<Block>, TchError> {
    let (dropout, init) = (cfg.dropout, cfg.init);
    let mut blocks = vec![Block::new(
        &p / "0",
        c_in,
        c_out,
        stride,
        dropout,
        init,
        act.clone(),
    )?];
    for i in 1..n {
        blocks.push(Block::new(
            &p / i.to_string().as_str(),
            c_out,
            c_out,
            1,
            dropout,
            init,
            act.clone(),
        )?);
    }
    Ok(blocks)
}

/// WRN-d-k (see the module). Its forward pass returns errors
/// instead of panicking, so that a candidate activation that fails is a failed run.
#[derive(Debug)]
pub struct Wrn {
    conv: Conv,
    groups: [Vec<Block>; 3],
    bn: BatchNorm,
    fc: Linear,
    act: Arc<Activation>,
}

impl Wrn {
    /// Logits `[N, classes]` of images `xs` `[N, C, H, W]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = self.conv.f_forward(xs)?;
        for block in self.groups.iter().flatten() {
            h = block.f_forward_t(&h, train)?;
        }
        let h = activate(&self.act, self.bn.f_forward_t(&h, train)?, 0.0, train)?;
        Ok(self.fc.f_forward(&global_average(&h)?)?)
    }
}

/// Builds WRN-d-k's parameters under `p` for images of `in_channels` channels. A shape
/// that does not exist is [`WrnError::InvalidModel`]; parameters libtorch cannot create
/// (too large to allocate) are [`WrnError::Torch`].
pub fn wrn(
    p: &nn::Path,
    cfg: &WrnConfig,
    in_channels: i64,
    act: &Arc<Activation>,
) -> Result<Wrn, WrnError> {
    let n = cfg.blocks_per_group()?;
    let [w1, w2, w3] = cfg.widths();
    let conv0 = conv(p / "conv", ConvShape::new(in_channels, 16, 3, 1), cfg.init)?;
    let group1 = group(p / "group1", 16, w1, 1, n, cfg, act)?;
    let group2 = group(p / "group2", w1, w2, 2, n, cfg, act)?;
    let group3 = group(p / "group3", w2, w3, 2, n, cfg, act)?;
    let bn = batch_norm(p / "bn", w3)?;
    let fc = linear(p / "fc", w3, cfg.classes)?;
    Ok(Wrn {
        conv: conv0,
        groups: [group1, group2, group3],
        bn,
        fc,
        act: act.clone(),
    })
}

/// The trainable parameter count of WRN-d-k, computed without building it.
pub fn expected_parameter_count(cfg: &WrnConfig, in_channels: i64) -> Result<i64, WrnError> {
    let n = cfg.blocks_per_group()?;
    let conv = |c_in: i64, c_out: i64, k: i64| c_in * c_out * k * k;
    let bn = |c: i64| 2 * c;
    let mut total = conv(in_channels, 16, 3);
    let mut c_in = 16;
    for c_out in cfg.widths() {
        for i in 0..n {
            let c = if i == 0 { c_in } else { c_out };
            total += bn(c) + conv(c, c_out, 3) + bn(c_out) + conv(c_out, c_out, 3);
            if c != c_out {
                total += conv(c, c_out, 1);
            }
        }
        c_in = c_out;
    }
    Ok(total + bn(c_in) + c_in * cfg.classes + cfg.classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::ActivationMode;
    use crate::model::parameter_count;
    use tch::{nn::VarStore, Device, Kind};

    fn count(depth: i64, width: i64, classes: i64) -> i64 {
        let vs = VarStore::new(Device::Cpu);
        let act = Arc::new(Activation::relu());
        let _net = wrn(&vs.root(), &WrnConfig::new(depth, width, classes), 3, &act).unwrap();
        parameter_count(&vs)
    }

    #[test]
    fn wrn_28_10_has_the_reference_parameter_count() {
        assert_eq!(count(28, 10, 10), 36_479_194);
    }

    #[test]
    fn wrn_40_4_has_the_reference_parameter_count() {
        assert_eq!(count(40, 4, 10), 8_949_210);
    }

    #[test]
    fn closed_form_count_matches_built_models() {
        for (d, k, c) in [
            (10, 1, 10),
            (16, 4, 100),
            (28, 10, 10),
            (40, 4, 10),
            (22, 2, 100),
        ] {
            let cfg = WrnConfig::new(d, k, c);
            let expected = expected_parameter_count(&cfg, 3).unwrap();
            if d * k <= 64 {
                assert_eq!(count(d, k, c), expected, "WRN-{d}-{k}");
            }
        }
        assert_eq!(
            expected_parameter_count(&WrnConfig::new(28, 10, 10), 3).unwrap(),
            36_479_194
        );
    }

    /// The derivative trick gives the same parameter gradients as autograd, through
    /// every layer, dropout included (both draw the same Bernoulli masks).
    #[test]
    fn activation_modes_give_the_same_gradients() {
        let e: actfn_expr::Expr = "x * sigmoid(x) + atan(min(x, 0))".parse().unwrap();
        // libtorch's generator is global and tests run in parallel threads: both networks
        // get the first one's weights and the same input, and no dropout draws numbers.
        let cfg = WrnConfig {
            dropout: 0.0,
            ..WrnConfig::new(10, 1, 10)
        };
        let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu));
        let mut first: Option<VarStore> = None;
        let mut grads = Vec::new();
        for mode in [ActivationMode::Autograd, ActivationMode::SymbolicGrad] {
            let mut vs = VarStore::new(Device::Cpu);
            let act = Arc::new(Activation::new(&e, mode));
            let net = wrn(&vs.root(), &cfg, 3, &act).unwrap();
            match &first {
                Some(weights) => vs.copy(weights).unwrap(),
                None => {
                    let mut copy = VarStore::new(Device::Cpu);
                    let _ = wrn(&copy.root(), &cfg, 3, &act).unwrap();
                    copy.copy(&vs).unwrap();
                    first = Some(copy);
                }
            }
            net.f_forward_t(&x, true)
                .unwrap()
                .sum(Kind::Float)
                .backward();
            let vars = vs.variables();
            let mut g: Vec<(String, Tensor)> = vars
                .iter()
                .filter(|(_, v)| v.requires_grad())
                .map(|(n, v)| (n.clone(), v.grad()))
                .collect();
            g.sort_by(|a, b| a.0.cmp(&b.0));
            grads.push(g);
        }
        for ((name, a), (_, b)) in grads[0].iter().zip(&grads[1]) {
            let scale = a.abs().max().double_value(&[]).max(1e-6);
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff <= 1e-4 * scale, "{name}: {diff} vs scale {scale}");
        }
    }

    #[test]
    fn rejects_depths_that_are_not_6n_plus_4() {
        for d in [0, 4, 9, 11, 29] {
            let err = WrnConfig::new(d, 1, 10).blocks_per_group().unwrap_err();
            assert!(err.to_string().contains(&format!("depth {d}")), "{err}");
        }
    }

    #[test]
    fn forward_shapes_and_initialisation() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let act = Arc::new(Activation::relu());
        let net = wrn(&vs.root(), &WrnConfig::new(10, 1, 7), 3, &act).unwrap();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(net.f_forward_t(&x, true).unwrap().size(), [4, 7]);
        assert_eq!(
            tch::no_grad(|| net.f_forward_t(&x, false)).unwrap().size(),
            [4, 7]
        );
        let vars = vs.variables();
        let w = &vars["group1.0.bn1.weight"];
        assert_eq!(w.min().double_value(&[]), 1.0);
        assert_eq!(vars["fc.bias"].abs().max().double_value(&[]), 0.0);
        assert!(vars.contains_key("group2.0.shortcut.weight"));
        assert!(!vars.contains_key("group1.0.shortcut.weight"));
    }

    /// The weights of `group2.0.conv1` (3x3, 16 -> 32 channels) under `init`.
    fn conv_weights(init: ConvInit) -> Tensor {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let cfg = WrnConfig {
            init,
            ..WrnConfig::new(10, 2, 10)
        };
        let _net = wrn(&vs.root(), &cfg, 3, &Arc::new(Activation::relu())).unwrap();
        let w = vs.variables()["group2.0.conv1.weight"].shallow_clone();
        assert_eq!(w.size(), [64, 32, 3, 3]);
        w
    }

    #[test]
    fn he_init_is_normal_with_fan_out_variance() {
        let w = conv_weights(ConvInit::He);
        // std sqrt(2 / (9 * 64)) ~ 0.059 over 18,432 weights; a normal's tails pass 3 std.
        let expected = (2.0f64 / (9.0 * 64.0)).sqrt();
        let std = w.std(true).double_value(&[]);
        assert!((std / expected - 1.0).abs() < 0.03, "{std} vs {expected}");
        assert!(w.abs().max().double_value(&[]) > 3.0 * expected);
    }

    #[test]
    fn uniform_init_is_pytorchs_conv_default() {
        let w = conv_weights(ConvInit::Uniform);
        // U(-b, b), b = 1 / sqrt(9 * 32) ~ 0.059: std b / sqrt(3), nothing beyond b.
        let bound = 1.0 / (9.0f64 * 32.0).sqrt();
        let std = w.std(true).double_value(&[]);
        assert!((std / (bound / 3f64.sqrt()) - 1.0).abs() < 0.03, "{std}");
        let max = w.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.99 * bound, "{max} vs {bound}");
    }
}
