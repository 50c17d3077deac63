//! Data augmentation of training batches: seeded random horizontal flips and padded crops.
//!
//! Randomness comes from a ChaCha8 generator owned by the [`Augmenter`], not from libtorch's
//! global generator, so a run is reproducible from its seed whatever else draws numbers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::{Result, WrnError};

/// Which augmentations to apply to training batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Flip each image left-right with probability 1/2 (the paper: on).
    pub flip: bool,
    /// Zero-pad by this many pixels and crop back at a random offset (the paper: off;
    /// Zagoruyko and Komodakis use 4). Zero is the mean after featurewise centring.
    pub crop_padding: Option<i64>,
}

impl Default for AugmentConfig {
    /// The paper's augmentation: horizontal flips only.
    fn default() -> Self {
        AugmentConfig {
            flip: true,
            crop_padding: None,
        }
    }
}

/// Applies an [`AugmentConfig`] to batches with its own seeded generator.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    rng: ChaCha8Rng,
}

impl Augmenter {
    /// An augmenter whose random choices are fixed by `seed`.
    pub fn new(config: AugmentConfig, seed: u64) -> Self {
        Augmenter {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Augments a batch `[B, C, H, W]` (any device), drawing fresh choices every call.
    pub fn apply(&mut self, batch: &Tensor) -> Result<Tensor> {
        let [b, _, h, w] = batch_dims(batch)?;
        let mut out = batch.shallow_clone();
        if let Some(pad) = self.config.crop_padding.filter(|&p| p > 0) {
            let offsets: Vec<(i64, i64)> = (0..b)
                .map(|_| {
                    (
                        self.rng.gen_range(0..=2 * pad),
                        self.rng.gen_range(0..=2 * pad),
                    )
                })
                .collect();
            out = random_crop(&out, pad, &offsets)?;
        }
        if self.config.flip {
            let mask: Vec<bool> = (0..b).map(|_| self.rng.gen_bool(0.5)).collect();
            out = flip_horizontal(&out, &mask)?;
        }
        debug_assert_eq!(out.size()[2..], [h, w]);
        Ok(out)
    }
}

fn batch_dims(batch: &Tensor) -> Result<[i64; 4]> {
    match batch.size()[..] {
        [b, c, h, w] => Ok([b, c, h, w]),
        ref other => Err(WrnError::Shape(format!(
            "expected a batch [B, C, H, W], got {other:?}"
        ))),
    }
}

/// Flips left-right the images of `batch` (`[B, C, H, W]`) whose `mask` entry is true.
pub fn flip_horizontal(batch: &Tensor, mask: &[bool]) -> Result<Tensor> {
    let [b, ..] = batch_dims(batch)?;
    if mask.len() as i64 != b {
        return Err(WrnError::Shape(format!(
            "{} flip choices for a batch of {b}",
            mask.len()
        )));
    }
    let mask = Tensor::from_slice(mask)
        .f_to_device(batch.device())?
        .f_view([b, 1, 1, 1])?;
    Ok(batch.f_flip([3])?.f_where_self(&mask, batch)?)
}

/// Zero-pads `batch` by `pad` pixels on every side and crops image `i` back to its size at
/// offset `offsets[i] = (row, column)`, each in `0..=2 * pad`.
pub fn random_crop(batch: &Tensor, pad: i64, offsets: &[(i64, i64)]) -> Result<Tensor> {
    let [b, _, h, w] = batch_dims(batch)?;
    if offsets.len() as i64 != b {
        return Err(WrnError::Shape(format!(
            "{} crop offsets for a batch of {b}",
            offsets.len()
        )));
    }
    if let Some(&bad) = offsets
        .iter()
        .find(|&&(y, x)| !(0..=2 * pad).contains(&y) || !(0..=2 * pad).contains(&x))
    {
        return Err(WrnError::Shape(format!(
            "crop offset {bad:?} outside 0..={}",
            2 * pad
        )));
    }
    let padded = batch.f_constant_pad_nd([pad, pad, pad, pad])?;
    let crops = offsets
        .iter()
        .enumerate()
        .map(|(i, &(y, x))| padded.f_get(i as i64)?.f_narrow(1, y, h)?.f_narrow(2, x, w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::f_stack(&crops, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn batch(b: i64) -> Tensor {
        Tensor::arange(b * 2 * 4 * 5, (Kind::Float, Device::Cpu)).view([b, 2, 4, 5])
    }

    #[test]
    fn flips_only_the_chosen_images() {
        let x = batch(3);
        let y = flip_horizontal(&x, &[true, false, true]).unwrap();
        assert!(y.get(0).equal(&x.get(0).flip([2])));
        assert!(y.get(1).equal(&x.get(1)));
        assert!(y.get(2).equal(&x.get(2).flip([2])));
        assert_eq!(y.double_value(&[0, 1, 2, 0]), x.double_value(&[0, 1, 2, 4]));
        assert!(flip_horizontal(&x, &[true]).is_err());
    }

    #[test]
    fn crops_shift_and_pad_with_zeros() {
        let x = batch(2);
        let centre = random_crop(&x, 2, &[(2, 2), (2, 2)]).unwrap();
        assert!(centre.equal(&x));
        let y = random_crop(&x, 2, &[(0, 4), (2, 2)]).unwrap();
        assert_eq!(y.size(), x.size());
        // Shifted down by 2 and left by 2: the top rows are padding.
        assert_eq!(y.double_value(&[0, 0, 0, 0]), 0.0);
        assert_eq!(y.double_value(&[0, 0, 2, 0]), x.double_value(&[0, 0, 0, 2]));
        assert!(random_crop(&x, 2, &[(0, 5), (0, 0)]).is_err());
    }

    #[test]
    fn augmenter_is_seeded_and_flips_about_half() {
        let x = batch(400);
        let config = AugmentConfig::default();
        let a = Augmenter::new(config.clone(), 9).apply(&x).unwrap();
        let b = Augmenter::new(config.clone(), 9).apply(&x).unwrap();
        assert!(a.equal(&b));
        let mut aug = Augmenter::new(config, 10);
        let c = aug.apply(&x).unwrap();
        assert!(!a.equal(&c));
        let flipped = (0..400).filter(|&i| !c.get(i).equal(&x.get(i))).count();
        assert!((150..250).contains(&flipped), "{flipped}");
        // A second call draws new choices.
        assert!(!aug.apply(&x).unwrap().equal(&c));

        let crop = AugmentConfig {
            flip: false,
            crop_padding: Some(4),
        };
        let d = Augmenter::new(crop, 1).apply(&x).unwrap();
        assert_eq!(d.size(), x.size());
        assert!(!d.equal(&x));
        assert!(batch_dims(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu))).is_err());
    }
}
