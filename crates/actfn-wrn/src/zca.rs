//! Featurewise centring and ZCA whitening, or per-channel normalisation, fitted on the
//! training split; ZCA fits are cached on disk.
//!
//! Per-channel normalisation (the default for data other than CIFAR) subtracts each
//! channel's mean over the training images and divides by its standard deviation, as
//! torchvision's `Normalize` with statistics of the training set; vectors are normalised
//! feature by feature. ZCA is refused above [`MAX_ZCA_FEATURES`] features.
//!
//! As Keras' `ImageDataGenerator(featurewise_center=True, zca_whitening=True)`, which the
//! paper's TensorFlow setup most likely used: pixels are scaled to `[0, 1]`, the per-feature
//! mean over the 3072 features is subtracted, and with `Σ = XᵀX / N = U diag(λ) Uᵀ` the
//! whitening matrix is `W = U diag(1 / sqrt(λ + ε)) Uᵀ`; an image `x` becomes `(x - μ) W`.
//! Σ is accumulated and decomposed (`linalg_eigh`) in f64; μ and W are then kept and
//! applied in f32.
//!
//! ε defaults to [`DEFAULT_ZCA_EPSILON`] = 1e-2, not Keras' 1e-6 ([`KERAS_ZCA_EPSILON`]).
//! With about as many training images as the 3,072 features, 1e-6 whitens the training
//! images' noise: hundreds of eigenvalues lie below it (dozens exactly zero), their
//! directions are scaled by up to 1,000, and held-out images come out with several times
//! the mean square of training images, so a model sees a shifted input at evaluation.
//! `cargo run --release -p actfn-wrn --example zca_shift` measures that ratio.
//! 1e-2 keeps it near 1 from 3,000 to 45,000 images while still decorrelating pixels.
//!
//! A fit over 45,000 images takes a while on a CPU, so [`Whitening::fit_cached`] stores it in
//! `<cache_dir>/whitening-<hash>.safetensors`, keyed by a SHA-256 of the training images
//! and the configuration.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::data::dataset::{batch_shape, flat_values, Dataset, Values};
use crate::error::{Result, WrnError};
use crate::stale::remove_stale_temporaries;

/// Keras' default `zca_epsilon`, for pixels scaled to `[0, 1]`.
pub const KERAS_ZCA_EPSILON: f64 = 1e-6;

/// The default ε (see the module): held-out images keep about the training images' scale
/// from a few thousand to 50,000 training images.
pub const DEFAULT_ZCA_EPSILON: f64 = 1e-2;

/// Rows handled at once when fitting and applying (keeps f64 copies small).
const CHUNK: i64 = 4096;

/// The most features ZCA whitening accepts: 4,096 (64x64 grey, or 36x36 colour) needs a
/// 134 MB covariance in f64 and an eigendecomposition of a few minutes on two cores; the
/// cost grows with the cube of the features, so 96x96 colour images would take hours.
pub const MAX_ZCA_FEATURES: i64 = 4096;

/// Which preprocessing to fit on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Subtract the per-feature training mean.
    pub center: bool,
    /// ZCA-whiten (after centring, when `center`).
    pub zca: bool,
    /// ε added to the covariance eigenvalues; pixels are in `[0, 1]`.
    pub zca_epsilon: f64,
    /// Subtract each channel's mean and divide by its standard deviation (for vectors:
    /// each feature's). Left out when false, so that configurations written before it
    /// existed keep their text and hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub normalize: bool,
}

impl PreprocessConfig {
    /// Per-channel normalisation alone.
    pub fn normalize() -> Self {
        PreprocessConfig {
            center: false,
            zca: false,
            zca_epsilon: DEFAULT_ZCA_EPSILON,
            normalize: true,
        }
    }

    /// No preprocessing besides scaling bytes to `[0, 1]`.
    pub fn none() -> Self {
        PreprocessConfig {
            normalize: false,
            ..Self::normalize()
        }
    }
}

impl Default for PreprocessConfig {
    /// Featurewise centring and ZCA with ε = [`DEFAULT_ZCA_EPSILON`].
    fn default() -> Self {
        PreprocessConfig {
            center: true,
            zca: true,
            zca_epsilon: DEFAULT_ZCA_EPSILON,
            normalize: false,
        }
    }
}

/// A fitted preprocessing: `x -> ((s x - mean) * inverse_std) W`, where `s` brings bytes
/// to `[0, 1]`, `inverse_std` is 1 without normalisation and W = I without ZCA.
#[derive(Debug)]
pub struct Whitening {
    mean: Tensor,
    inverse_std: Option<Tensor>,
    matrix: Option<Tensor>,
}

impl Whitening {
    /// Fits `config` on the samples of `train` (normalisation per channel of an image, per
    /// feature of a vector).
    pub fn fit(train: &Dataset, config: &PreprocessConfig) -> Result<Self> {
        let channels = if train.is_image() {
            train.shape[0] as i64
        } else {
            train.features() as i64
        };
        fit_rows(&flat_values(train), train.values.scale(), channels, config)
    }

    /// As [`Whitening::fit`], but read from `cache_dir` when this fit was made before, and
    /// stored there otherwise. Centring alone is cheap and is never cached.
    pub fn fit_cached(
        train: &Dataset,
        config: &PreprocessConfig,
        cache_dir: &Path,
    ) -> Result<Self> {
        if !config.zca {
            return Self::fit(train, config);
        }
        cached(cache_dir, &cache_key(train, config), || {
            Self::fit(train, config)
        })
    }

    /// The feature mean subtracted, f32 `[D]` (zeros without centring).
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The whitening matrix, f32 `[D, D]`, if ZCA is on.
    pub fn matrix(&self) -> Option<&Tensor> {
        self.matrix.as_ref()
    }

    /// Preprocesses `data`: f32 `[N, C, H, W]` (or `[N, D]`) on the CPU.
    pub fn apply(&self, data: &Dataset) -> Result<Tensor> {
        let flat = self.apply_matrix(&flat_values(data), data.values.scale())?;
        Ok(flat.view(batch_shape(data).as_slice()))
    }

    /// Preprocesses rows of features `x` (`[N, D]`, any numeric kind) times `scale`.
    pub fn apply_matrix(&self, x: &Tensor, scale: f64) -> Result<Tensor> {
        let (n, d) = matrix_dims(x)?;
        if d != self.mean.size()[0] {
            return Err(WrnError::Shape(format!(
                "{d} features, but the preprocessing was fitted on {}",
                self.mean.size()[0]
            )));
        }
        let out = Tensor::f_empty([n, d], (Kind::Float, Device::Cpu))?;
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            let rows = x.f_narrow(0, start, len)?.f_to_kind(Kind::Float)? * scale - &self.mean;
            let rows = match &self.inverse_std {
                Some(s) => rows * s,
                None => rows,
            };
            let rows = match &self.matrix {
                Some(w) => rows.f_matmul(w)?,
                None => rows,
            };
            out.f_narrow(0, start, len)?.f_copy_(&rows)?;
        }
        Ok(out)
    }

    fn save(&self, path: &Path, key: &[u8; 32]) -> Result<()> {
        let key = Tensor::from_slice(key);
        let mut named = vec![("mean", &self.mean), ("key", &key)];
        if let Some(s) = &self.inverse_std {
            named.push(("inverse_std", s));
        }
        if let Some(w) = &self.matrix {
            named.push(("zca", w));
        }
        // Written under another name and renamed: a crash leaves no half-written cache,
        // and a failed write (a full disk) leaves no partial file behind.
        let tmp = path.with_extension(format!("{TMP_PREFIX}{}", std::process::id()));
        let written = Tensor::write_safetensors(&named, &tmp)
            .map_err(WrnError::from)
            .and_then(|()| std::fs::rename(&tmp, path).map_err(WrnError::io(path)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// The cached fit at `path` if it is there, readable and made for `key`.
    fn load(path: &Path, key: &[u8; 32]) -> Option<Self> {
        let tensors = Tensor::read_safetensors(path).ok()?;
        let get = |name: &str| tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let stored = get("key")?;
        let mut stored_key = [0u8; 32];
        stored.f_copy_data(&mut stored_key, 32).ok()?;
        if &stored_key != key {
            return None;
        }
        Some(Whitening {
            mean: get("mean")?.shallow_clone(),
            inverse_std: get("inverse_std").map(Tensor::shallow_clone),
            matrix: Some(get("zca")?.shallow_clone()),
        })
    }
}

/// The fit stored in `cache_dir` under `key`, else `fit()`, then stored there.
fn cached(
    cache_dir: &Path,
    key: &[u8; 32],
    fit: impl FnOnce() -> Result<Whitening>,
) -> Result<Whitening> {
    let path = cache_path(cache_dir, key);
    if let Some(found) = Whitening::load(&path, key) {
        return Ok(found);
    }
    remove_stale_temporaries(cache_dir, cache_writer_pid);
    let fitted = fit()?;
    // The cache only saves time: a read-only or full disk must not sink a run whose fit is
    // already in memory.
    let stored = std::fs::create_dir_all(cache_dir)
        .map_err(WrnError::io(cache_dir))
        .and_then(|()| fitted.save(&path, key));
    if let Err(err) = stored {
        eprintln!(
            "actfn: warning: the whitening was not cached ({err}); the run goes on without it"
        );
    }
    Ok(fitted)
}

/// The extension of a cache file being written, followed by the writer's process id.
const TMP_PREFIX: &str = "tmp-";

/// The process id in the name of a cache file being written
/// (`whitening-<key>.tmp-<pid>`).
fn cache_writer_pid(name: &str) -> Option<u32> {
    let (_, pid) = name
        .strip_prefix("whitening-")?
        .rsplit_once(&format!(".{TMP_PREFIX}"))?;
    pid.parse().ok()
}

/// Where fits are cached for data in `data_dir`: `$ACTFN_CACHE/whitening` when
/// `ACTFN_CACHE` is set (a cache apart from a read-only or shared data folder), else
/// `<data_dir>/cache`.
pub fn cache_dir_for(data_dir: &Path) -> PathBuf {
    match std::env::var_os("ACTFN_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("whitening"),
        None => data_dir.join("cache"),
    }
}

fn matrix_dims(x: &Tensor) -> Result<(i64, i64)> {
    match x.size()[..] {
        [n, d] if d > 0 => Ok((n, d)),
        ref other => Err(WrnError::Shape(format!(
            "expected [rows, features], got {other:?}"
        ))),
    }
}

/// Fits on rows of features `x` (`[N, D]`, any numeric kind) times `scale`; normalisation,
/// if asked for, is per feature.
pub fn fit_matrix(x: &Tensor, scale: f64, config: &PreprocessConfig) -> Result<Whitening> {
    let (_, d) = matrix_dims(x)?;
    fit_rows(x, scale, d, config)
}

/// [`fit_matrix`] with the features in `channels` equal runs (channel-major images), each
/// normalised as one.
fn fit_rows(x: &Tensor, scale: f64, channels: i64, config: &PreprocessConfig) -> Result<Whitening> {
    let (n, d) = matrix_dims(x)?;
    if n == 0 {
        return Err(WrnError::Preprocess("cannot fit on 0 images".into()));
    }
    if config.zca && d > MAX_ZCA_FEATURES {
        return Err(WrnError::Preprocess(format!(
            "ZCA whitening of {d} features needs a {d} x {d} covariance ({:.1} GB) and its \
             eigendecomposition, beyond the limit of {MAX_ZCA_FEATURES} features; use \
             --preprocess normalize, or a smaller --image-size",
            (d * d * 8) as f64 / 1e9
        )));
    }
    if channels <= 0 || d % channels != 0 {
        return Err(WrnError::Preprocess(format!(
            "{d} features do not split into {channels} channels"
        )));
    }
    let f64_rows = |start: i64, len: i64| -> Result<Tensor> {
        Ok(x.f_narrow(0, start, len)?.f_to_kind(Kind::Double)? * scale)
    };
    let mut mean = Tensor::f_zeros([d], (Kind::Double, Device::Cpu))?;
    let mut inverse_std = None;
    if config.normalize {
        // Sums of x and x² per channel, over every image and position, in f64.
        let per_channel = d / channels;
        let mut sum = Tensor::f_zeros([channels], (Kind::Double, Device::Cpu))?;
        let mut squares = Tensor::f_zeros([channels], (Kind::Double, Device::Cpu))?;
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            let rows = f64_rows(start, len)?.f_view([len, channels, per_channel])?;
            sum += rows.f_sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Double)?;
            squares +=
                rows.f_square()?
                    .f_sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Double)?;
        }
        let count = (n * per_channel) as f64;
        let channel_mean = &sum / count;
        let variance = (&squares / count - channel_mean.f_square()?).f_clamp_min(0.0)?;
        // A constant channel (variance 0) is centred but not scaled.
        let std = variance.f_sqrt()?;
        let std = std.f_where_scalarother(&std.f_gt(0.0)?, 1.0)?;
        let spread = |t: &Tensor| -> Result<Tensor> {
            Ok(t.f_unsqueeze(1)?
                .f_expand([channels, per_channel], false)?
                .f_reshape([d])?)
        };
        mean = spread(&channel_mean)?;
        inverse_std = Some(spread(&std.f_reciprocal()?)?.f_to_kind(Kind::Float)?);
    } else if config.center {
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            mean += f64_rows(start, len)?.f_sum_dim_intlist(0, false, Kind::Double)?;
        }
        mean /= n as f64;
    }
    let matrix = if config.zca {
        if !(config.zca_epsilon >= 0.0 && config.zca_epsilon.is_finite()) {
            return Err(WrnError::Preprocess(format!(
                "zca epsilon {} must be finite and at least 0",
                config.zca_epsilon
            )));
        }
        let mut cov = Tensor::f_zeros([d, d], (Kind::Double, Device::Cpu))?;
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            let rows = f64_rows(start, len)? - &mean;
            let rows = match &inverse_std {
                Some(s) => rows * s.f_to_kind(Kind::Double)?,
                None => rows,
            };
            cov += rows.f_tr()?.f_matmul(&rows)?;
        }
        cov /= n as f64;
        let (eigenvalues, eigenvectors) = cov.f_linalg_eigh("L")?;
        // Round-off can leave tiny negative eigenvalues: clamp them to 0.
        let scale = (eigenvalues.f_clamp_min(0.0)? + config.zca_epsilon).f_rsqrt()?;
        let w = (&eigenvectors * scale.f_unsqueeze(0)?).f_matmul(&eigenvectors.f_tr()?)?;
        Some(w.f_to_kind(Kind::Float)?)
    } else {
        None
    };
    Ok(Whitening {
        mean: mean.f_to_kind(Kind::Float)?,
        inverse_std,
        matrix,
    })
}

/// SHA-256 of the configuration and the training images: names a cached fit.
pub fn cache_key(train: &Dataset, config: &PreprocessConfig) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"actfn whitening v1\0");
    h.update([config.center as u8, config.zca as u8]);
    h.update(config.zca_epsilon.to_le_bytes());
    h.update((train.len() as u64).to_le_bytes());
    // What keys other than CIFAR's bytes add, only when present: CIFAR fits made before
    // keep their key.
    if config.normalize {
        h.update(b"normalize");
    }
    if let Values::F32(_) = train.values {
        h.update(b"f32");
    }
    if train.shape[..] != [3, 32, 32] {
        h.update(format!("{:?}", train.shape).as_bytes());
    }
    h.update(train.value_bytes());
    h.finalize().into()
}

fn cache_path(cache_dir: &Path, key: &[u8; 32]) -> PathBuf {
    let hex: String = key[..8].iter().map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("whitening-{hex}.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{synthetic, Cifar};

    /// Correlated Gaussian rows: `[n, d]` f64 with a random mixing matrix.
    fn correlated(n: i64, d: i64) -> Tensor {
        tch::manual_seed(7);
        let z = Tensor::randn([n, d], (Kind::Double, Device::Cpu));
        let mix = Tensor::randn([d, d], (Kind::Double, Device::Cpu));
        z.matmul(&mix) + 3.0
    }

    fn covariance(y: &Tensor) -> Tensor {
        let y = y.to_kind(Kind::Double);
        let yc = &y - y.mean_dim(0, true, Kind::Double);
        yc.tr().matmul(&yc) / y.size()[0] as f64
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn whitened_data_has_identity_covariance() {
        let (n, d) = (5000, 24);
        let x = correlated(n, d);
        let config = PreprocessConfig {
            zca_epsilon: 0.0,
            ..PreprocessConfig::default()
        };
        let w = fit_matrix(&x, 1.0, &config).unwrap();
        let y = w.apply_matrix(&x, 1.0).unwrap();
        let cov = covariance(&y);
        let eye = Tensor::eye(d, (Kind::Double, Device::Cpu));
        assert!(
            max_abs(&(&cov - &eye)) < 1e-3,
            "{}",
            max_abs(&(&cov - &eye))
        );
        assert!(max_abs(&y.mean_dim(0, false, Kind::Double)) < 1e-4);
        // ZCA, unlike PCA whitening, is symmetric.
        let m = w.matrix().unwrap();
        assert!(max_abs(&(m - m.tr())) < 1e-4);
    }

    #[test]
    fn epsilon_shrinks_low_variance_directions() {
        let x = correlated(2000, 8);
        let strong = PreprocessConfig {
            zca_epsilon: 1e3,
            ..PreprocessConfig::default()
        };
        let y = fit_matrix(&x, 1.0, &strong)
            .unwrap()
            .apply_matrix(&x, 1.0)
            .unwrap();
        let var = covariance(&y).diag(0);
        assert!(var.max().double_value(&[]) < 0.9, "{var}");
    }

    #[test]
    fn centring_only_and_errors() {
        let x = correlated(100, 5);
        let config = PreprocessConfig {
            zca: false,
            ..PreprocessConfig::default()
        };
        let w = fit_matrix(&x, 2.0, &config).unwrap();
        assert!(w.matrix().is_none());
        let y = w.apply_matrix(&x, 2.0).unwrap();
        assert!(max_abs(&y.mean_dim(0, false, Kind::Double)) < 1e-4);
        let err = w.apply_matrix(&correlated(3, 4), 1.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad tensor: 4 features, but the preprocessing was fitted on 5"
        );
        let bad = PreprocessConfig {
            zca_epsilon: -1.0,
            ..PreprocessConfig::default()
        };
        let err = fit_matrix(&x, 1.0, &bad).unwrap_err();
        assert!(err.to_string().contains("zca epsilon -1"), "{err}");
    }

    #[test]
    fn fits_are_cached_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let x = correlated(300, 6);
        let config = PreprocessConfig::default();
        let key = [7u8; 32];
        let first = cached(tmp.path(), &key, || fit_matrix(&x, 1.0, &config)).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        let second = cached(tmp.path(), &key, || panic!("not read from the cache")).unwrap();
        assert!(first.matrix().unwrap().equal(second.matrix().unwrap()));
        assert!(first.mean().equal(second.mean()));
        // A file under the same name but made for another key is not used.
        let other = [8u8; 32];
        std::fs::rename(cache_path(tmp.path(), &key), cache_path(tmp.path(), &other)).unwrap();
        let refit = cached(tmp.path(), &other, || fit_matrix(&x, 2.0, &config)).unwrap();
        assert!(!refit.mean().equal(first.mean()));
    }

    #[test]
    fn a_cache_that_cannot_be_written_does_not_sink_the_fit() {
        let tmp = tempfile::tempdir().unwrap();
        let x = correlated(300, 6);
        let config = PreprocessConfig::default();
        // The cache folder is a file: nothing can be written under it.
        let blocked = tmp.path().join("blocked");
        std::fs::write(&blocked, b"not a folder").unwrap();
        let fitted = cached(&blocked, &[1u8; 32], || fit_matrix(&x, 1.0, &config)).unwrap();
        assert!(fitted.matrix().is_some());
        // A writable cache with a temporary left by a writer that is gone (a kill during
        // the write) and one of a live writer (this process): the first is swept.
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        let dead = dir.join(format!("whitening-00.{TMP_PREFIX}{}", u32::MAX - 1));
        let live = dir.join(format!("whitening-01.{TMP_PREFIX}{}", std::process::id()));
        std::fs::write(&dead, b"partial").unwrap();
        std::fs::write(&live, b"partial").unwrap();
        cached(&dir, &[2u8; 32], || fit_matrix(&x, 1.0, &config)).unwrap();
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists(), "a dead writer's temporary is swept");
        }
        assert!(live.exists(), "a live writer's temporary is kept");
        assert!(cache_path(&dir, &[2u8; 32]).is_file());
    }

    #[test]
    fn images_are_centred_and_shaped() {
        let tmp = tempfile::tempdir().unwrap();
        synthetic::write_dir(Cifar::Cifar10, 3, tmp.path());
        let data = crate::data::load(Cifar::Cifar10, tmp.path(), true).unwrap();
        let config = PreprocessConfig {
            zca: false,
            ..PreprocessConfig::default()
        };
        let w = Whitening::fit_cached(&data.train, &config, &tmp.path().join("cache")).unwrap();
        let y = w.apply(&data.train).unwrap();
        assert_eq!(y.size(), vec![data.train.len() as i64, 3, 32, 32]);
        assert_eq!(y.kind(), Kind::Float);
        assert!(max_abs(&y.mean_dim(0, false, Kind::Double)) < 1e-5);
        let Values::U8(v) = &data.train.values else {
            panic!()
        };
        let px = v[4 * 3072 + 1024 + 33] as f64 / 255.0;
        let mean = w.mean().double_value(&[1024 + 33]);
        assert!((y.double_value(&[4, 1, 1, 1]) - (px - mean)).abs() < 1e-6);
        let key = cache_key(&data.train, &PreprocessConfig::default());
        let other = PreprocessConfig {
            zca_epsilon: 0.2,
            ..PreprocessConfig::default()
        };
        assert_ne!(cache_key(&data.train, &other), key);
    }
}
