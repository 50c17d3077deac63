//! How far ZCA whitening shifts held-out images away from the training images' scale.
//!
//! For each training-set size, fits the centring and the covariance `Σ = U diag(λ) Uᵀ` on
//! a balanced CIFAR-10 training subset (the split `actfn train` uses, seed 0) and prints,
//! for several ε, the mean square of whitened held-out images (the 1,000 validation images
//! and the first 2,000 test images) over that of whitened training images. A whitened image
//! is `W (x - μ)` with `W = U diag(1 / sqrt(λ + ε)) Uᵀ`, so its square norm is
//! `Σ_i y_i² / (λ_i + ε)` with `y = Uᵀ (x - μ)`: one eigendecomposition serves every ε.
//!
//! `cargo run --release -p actfn-wrn --example zca_shift -- [DATA_DIR] [SIZES]`
//! (defaults: `data`, `3000,5000,45000`).

use std::path::PathBuf;

use actfn_wrn::data::{self, Cifar, SplitConfig};
use tch::{Kind, Tensor};

const EPSILONS: [f64; 6] = [1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

fn rows(set: &data::Dataset) -> Tensor {
    data::values_tensor(set)
        .to_kind(Kind::Double)
        .view([-1, data::IMAGE_BYTES as i64])
        / 255.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().unwrap_or_else(|| "data".into()));
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "3000,5000,45000".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let loaded = data::load(Cifar::Cifar10, &data_dir, false)?;
    let test = loaded.test.subset(&(0..2000).collect::<Vec<_>>());
    print!("| training images |");
    for eps in EPSILONS {
        print!(" ε = {eps:e} |");
    }
    println!(" eigenvalues < 1e-6 (= 0) |");
    println!("|---|{}---|", "---|".repeat(EPSILONS.len()));
    for size in sizes {
        let split = data::split(
            &loaded.train,
            &SplitConfig {
                val_per_class: 100,
                train_size: Some(size),
                seed: 0,
            },
        )?;
        let x = rows(&split.train);
        let n = x.size()[0] as f64;
        let mean = x.mean_dim(0, false, Kind::Double);
        let centred = &x - &mean;
        let cov = centred.tr().matmul(&centred) / n;
        let (lambda, u) = cov.linalg_eigh("L");
        let lambda = lambda.clamp_min(0.0);
        let held_out = Tensor::cat(&[rows(&split.val), rows(&test)], 0) - &mean;
        // Mean over images of y_i², per eigen-direction.
        let projected_sq = |z: &Tensor| z.matmul(&u).square().mean_dim(0, false, Kind::Double);
        let train_sq = projected_sq(&centred);
        let held_sq = projected_sq(&held_out);
        print!("| {size} |");
        for eps in EPSILONS {
            let scale = (&lambda + eps).reciprocal();
            let ms_train = (&train_sq * &scale).sum(Kind::Double).double_value(&[]);
            let ms_held = (&held_sq * &scale).sum(Kind::Double).double_value(&[]);
            print!(" {:.2} |", ms_held / ms_train);
        }
        let tiny = lambda.lt(1e-6).sum(Kind::Int64).int64_value(&[]);
        let zero = lambda.lt(1e-12).sum(Kind::Int64).int64_value(&[]);
        println!(" {tiny} ({zero}) |");
    }
    Ok(())
}
