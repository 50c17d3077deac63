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

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{TchError, Tensor};

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

/// How convolution weights are initialised.
///
/// With batch norm after every convolution the scale of the weights does not change what
/// the network computes, but it sets the effective learning rate: weights `r` times larger
/// move `r^2` times more slowly under the same step. `he` weights are about 2.45x larger
/// than `uniform` ones (for 3x3 convolutions of equal width), which acts like a ~6x smaller
/// learning rate early on: it matters over a few hundred steps, hardly over 200 epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvInit {
    /// `N(0, 2 / (k * k * c_out))`: He's fan-out initialisation, as in the WRN reference
    /// implementation the paper's code descends from.
    He,
    /// `U(-b, b)` with `b = 1 / sqrt(k * k * c_in)`: PyTorch's default for `nn.Conv2d`
    /// (Kaiming-uniform with `a = sqrt(5)`). The default: it learns faster at small budgets.
    #[default]
    Uniform,
}

impl ConvInit {
    /// Every initialisation, for help texts and errors.
    pub const ALL: [ConvInit; 2] = [ConvInit::He, ConvInit::Uniform];

    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            ConvInit::He => "he",
            ConvInit::Uniform => "uniform",
        }
    }

    /// What runs written before the choice existed used (for reading their configs).
    pub fn before_choice() -> ConvInit {
        ConvInit::He
    }

    /// Whether this is [`ConvInit::before_choice`].
    pub fn is_before_choice(&self) -> bool {
        *self == ConvInit::before_choice()
    }

    /// The initialisation of a `k x k` convolution from `c_in` to `c_out` channels.
    fn init(self, ksize: i64, c_in: i64, c_out: i64) -> nn::Init {
        match self {
            ConvInit::He => nn::Init::Randn {
                mean: 0.0,
                stdev: (2.0 / (ksize * ksize * c_out) as f64).sqrt(),
            },
            ConvInit::Uniform => {
                let bound = 1.0 / ((ksize * ksize * c_in) as f64).sqrt();
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                }
            }
        }
    }
}

impl fmt::Display for ConvInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ConvInit {
    type Err = WrnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConvInit::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| {
                WrnError::InvalidModel(format!("initialisation `{s}` is not one of: he, uniform"))
            })
    }
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
        if self.depth < 10 || (self.depth - 4) % 6 != 0 {
            return Err(WrnError::InvalidModel(format!(
                "depth {} is not 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...)",
                self.depth
            )));
        }
        if self.width < 1 {
            return Err(WrnError::InvalidModel(format!(
                "width {} is not a positive integer",
                self.width
            )));
        }
        if self.classes < 1 {
            return Err(WrnError::InvalidModel(format!(
                "class count {} is not positive",
                self.classes
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(WrnError::InvalidModel(format!(
                "dropout {} is not in [0, 1)",
                self.dropout
            )));
        }
        Ok((self.depth - 4) / 6)
    }

    /// The channel widths of the three groups: `16k`, `32k`, `64k`.
    pub fn widths(&self) -> [i64; 3] {
        [16 * self.width, 32 * self.width, 64 * self.width]
    }
}

/// A 3x3 or 1x1 convolution without bias, as `nn::conv2d` makes it (a `weight` variable),
/// with a forward pass that returns errors.
#[derive(Debug)]
struct Conv {
    ws: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv {
    fn f_forward(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        xs.f_conv2d(
            &self.ws,
            None::<&Tensor>,
            [self.stride; 2],
            [self.padding; 2],
            [1, 1],
            1,
        )
    }
}

fn conv(
    p: nn::Path,
    c_in: i64,
    c_out: i64,
    ksize: i64,
    stride: i64,
    init: ConvInit,
) -> Result<Conv, TchError> {
    Ok(Conv {
        ws: p.f_var(
            "weight",
            &[c_out, c_in, ksize, ksize],
            init.init(ksize, c_in, c_out),
        )?,
        stride,
        padding: ksize / 2,
    })
}

/// Batch norm as `nn::batch_norm2d` makes it (weight 1, bias 0, running statistics), with
/// tch's default momentum and epsilon.
#[derive(Debug)]
struct BatchNorm {
    ws: Tensor,
    bs: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNorm {
    fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
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

fn batch_norm(p: nn::Path, channels: i64) -> Result<BatchNorm, TchError> {
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

/// The classifier: PyTorch's default weight initialisation, bias 0.
#[derive(Debug)]
struct Linear {
    ws: Tensor,
    bs: Tensor,
}

impl Linear {
    fn f_forward(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        xs.f_linear(&self.ws, Some(&self.bs))
    }
}

fn linear(p: nn::Path, c_in: i64, c_out: i64) -> Result<Linear, TchError> {
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

/// Applies the activation to a fresh tensor; an error names the activation.
fn activate(act: &Activation, x: Tensor, dropout: f64, train: bool) -> Result<Tensor, WrnError> {
    act.f_forward_consume_dropout(x, dropout, train)
        .map_err(|error| WrnError::Activation {
            expr: act.expr().to_string(),
            error,
        })
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
            conv1: conv(&p / "conv1", c_in, c_out, 3, stride, init)?,
            bn2: batch_norm(&p / "bn2", c_out)?,
            conv2: conv(&p / "conv2", c_out, c_out, 3, 1, init)?,
            shortcut: if c_in != c_out {
                Some(conv(&p / "shortcut", c_in, c_out, 1, stride, init)?)
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

/// WRN-d-k for 32x32 RGB images (see the module). Its forward pass returns errors
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
    /// Logits `[N, classes]` of images `xs` `[N, 3, 32, 32]`, in train mode or not.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = self.conv.f_forward(xs)?;
        for block in self.groups.iter().flatten() {
            h = block.f_forward_t(&h, train)?;
        }
        let h = activate(&self.act, self.bn.f_forward_t(&h, train)?, 0.0, train)?
            .f_adaptive_avg_pool2d([1, 1])?;
        let h = h.f_view((h.size()[0], -1))?;
        Ok(self.fc.f_forward(&h)?)
    }
}

/// Builds WRN-d-k's parameters under `p`. A shape that does not exist is
/// [`WrnError::InvalidModel`]; parameters libtorch cannot create (too large to allocate)
/// are [`WrnError::Torch`].
pub fn wrn(p: &nn::Path, cfg: &WrnConfig, act: &Arc<Activation>) -> Result<Wrn, WrnError> {
    let n = cfg.blocks_per_group()?;
    let [w1, w2, w3] = cfg.widths();
    let conv0 = conv(p / "conv", 3, 16, 3, 1, cfg.init)?;
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

/// Number of trainable parameters in a var store (batch-norm running statistics are
/// buffers, not parameters).
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// Builds WRN-d-k on the CPU and counts its trainable parameters.
pub fn count_parameters(cfg: &WrnConfig) -> Result<i64, WrnError> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _net = wrn(&vs.root(), cfg, &Arc::new(Activation::relu()))?;
    Ok(parameter_count(&vs))
}

/// The trainable parameter count of WRN-d-k, computed without building it.
pub fn expected_parameter_count(cfg: &WrnConfig) -> Result<i64, WrnError> {
    let n = cfg.blocks_per_group()?;
    let conv = |c_in: i64, c_out: i64, k: i64| c_in * c_out * k * k;
    let bn = |c: i64| 2 * c;
    let mut total = conv(3, 16, 3);
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
    use tch::{nn::VarStore, Device, Kind};

    fn count(depth: i64, width: i64, classes: i64) -> i64 {
        let vs = VarStore::new(Device::Cpu);
        let act = Arc::new(Activation::relu());
        let _net = wrn(&vs.root(), &WrnConfig::new(depth, width, classes), &act).unwrap();
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
            let expected = expected_parameter_count(&cfg).unwrap();
            if d * k <= 64 {
                assert_eq!(count(d, k, c), expected, "WRN-{d}-{k}");
            }
        }
        assert_eq!(
            expected_parameter_count(&WrnConfig::new(28, 10, 10)).unwrap(),
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
            let net = wrn(&vs.root(), &cfg, &act).unwrap();
            match &first {
                Some(weights) => vs.copy(weights).unwrap(),
                None => {
                    let mut copy = VarStore::new(Device::Cpu);
                    let _ = wrn(&copy.root(), &cfg, &act).unwrap();
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
        let net = wrn(&vs.root(), &WrnConfig::new(10, 1, 7), &act).unwrap();
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
        let _net = wrn(&vs.root(), &cfg, &Arc::new(Activation::relu())).unwrap();
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

    #[test]
    fn init_names_round_trip_and_unknown_ones_are_refused() {
        for init in ConvInit::ALL {
            assert_eq!(init.name().parse::<ConvInit>().unwrap(), init);
            assert_eq!(init.to_string(), init.name());
        }
        let err = "kaiming".parse::<ConvInit>().unwrap_err().to_string();
        assert!(
            err.contains("`kaiming`") && err.contains("he, uniform"),
            "{err}"
        );
    }
}
