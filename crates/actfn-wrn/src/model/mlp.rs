//! MLP-W-D, for vector data (and images, flattened): `D` hidden layers of `W` units, each
//! linear (with bias), batch norm and the activation, then a linear layer to the classes.

use std::sync::Arc;

use tch::nn;
use tch::Tensor;

use super::layers::{activate, batch_norm, linear, BatchNorm, Linear};
use crate::activation::Activation;
use crate::error::WrnError;

/// MLP-W-D (see the module).
#[derive(Debug)]
pub struct Mlp {
    hidden: Vec<(Linear, BatchNorm)>,
    out: Linear,
    act: Arc<Activation>,
}

impl Mlp {
    /// Logits `[N, classes]` of inputs `[N, ...]`, flattened to `[N, features]`.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, WrnError> {
        let mut h = xs.f_flatten(1, -1)?;
        for (lin, bn) in &self.hidden {
            let y = bn.f_forward_t(&lin.f_forward(&h)?, train)?;
            h = activate(&self.act, y, 0.0, train)?;
        }
        Ok(self.out.f_forward(&h)?)
    }
}

/// Builds MLP-`width`-`depth`'s parameters under `p` for inputs of `features` values.
pub fn mlp(
    p: &nn::Path,
    width: i64,
    depth: i64,
    features: i64,
    classes: i64,
    act: &Arc<Activation>,
) -> Result<Mlp, WrnError> {
    let mut hidden = Vec::new();
    let mut c_in = features;
    for i in 0..depth {
        let lp = p / "hidden" / i;
        hidden.push((
            linear(&lp / "linear", c_in, width)?,
            batch_norm(&lp / "bn", width)?,
        ));
        c_in = width;
    }
    let out = linear(p / "out", c_in, classes)?;
    Ok(Mlp {
        hidden,
        out,
        act: act.clone(),
    })
}
