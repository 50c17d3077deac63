//! The optimizer: SGD with (Nesterov) momentum and weight decay, with momentum buffers a
//! checkpoint can save and restore.

use std::collections::HashMap;

use tch::{nn, TchError, Tensor};

use crate::error::{Result, WrnError};

/// SGD with momentum, Nesterov and weight decay, as `torch.optim.SGD`.
///
/// Not tch's `nn::Sgd`: tch does not expose its momentum buffers, which a checkpoint saves.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
}

impl Sgd {
    /// An optimizer over the trainable variables of `vs`.
    pub fn new(vs: &nn::VarStore, momentum: f64, nesterov: bool, weight_decay: f64) -> Sgd {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|_| None).collect();
        Sgd {
            params,
            buffers,
            momentum,
            nesterov,
            weight_decay,
        }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the current gradients.
    pub fn step(&mut self, lr: f64) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        for ((_, p), buf) in self.params.iter_mut().zip(&mut self.buffers) {
            let g = p.f_grad()?;
            if !g.defined() {
                continue;
            }
            // d = g + wd * p
            let mut d = p.f_mul_scalar(self.weight_decay)?;
            let _ = d.f_add_(&g)?;
            if self.momentum != 0.0 {
                match buf {
                    None => *buf = Some(d.f_detach_copy()?),
                    Some(b) => {
                        let _ = b.f_mul_scalar_(self.momentum)?;
                        let _ = b.f_add_(&d)?;
                    }
                }
                let b = buf.as_ref().expect("set above");
                if self.nesterov {
                    let _ = d.f_add_(&b.f_mul_scalar(self.momentum)?)?;
                } else {
                    d = b.f_detach_copy()?;
                }
            }
            let _ = p.f_sub_(&d.f_mul_scalar_(lr)?)?;
        }
        Ok(())
    }

    /// The Euclidean norm of all current gradients (0 without any), summed in f64 so that
    /// large finite gradients do not overflow to infinity.
    pub fn grad_norm(&self) -> Result<f64, TchError> {
        let _guard = tch::no_grad_guard();
        let mut sum = 0.0;
        for (_, p) in &self.params {
            let g = p.f_grad()?;
            if g.defined() {
                sum += g
                    .f_square()?
                    .f_sum(tch::Kind::Double)?
                    .f_double_value(&[])?;
            }
        }
        Ok(sum.sqrt())
    }

    /// The momentum buffers by parameter name.
    pub fn momentum_buffers(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), b)| b.as_ref().map(|b| (name.clone(), b.shallow_clone())))
            .collect()
    }

    /// Restores momentum buffers saved by [`Sgd::momentum_buffers`].
    pub fn set_momentum_buffers(&mut self, saved: Vec<(String, Tensor)>) -> Result<()> {
        let saved: HashMap<String, Tensor> = saved.into_iter().collect();
        for ((name, p), buf) in self.params.iter().zip(&mut self.buffers) {
            *buf = match saved.get(name) {
                Some(t) if t.size() == p.size() => Some(t.f_to(p.device())?),
                Some(t) => {
                    return Err(WrnError::Checkpoint(format!(
                        "momentum of {name} has shape {:?}, the parameter {:?}",
                        t.size(),
                        p.size()
                    )))
                }
                None => None,
            };
        }
        Ok(())
    }
}
