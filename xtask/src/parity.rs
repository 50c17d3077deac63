//! `cargo xtask parity`: actfn's training side by side with a PyTorch eager reference of the
//! same recipe, on the same images, schedules and seeds.
//!
//! The reference (`experiments/parity/reference.py`) is written from the recipe, not from
//! actfn's code; it runs in a virtual environment with PyTorch 2.13.0 from PyPI that is
//! made once in the user cache (`<cache>/reference-venv`, next to libtorch). Both sides
//! train WRN-d-k with ReLU on the split that `actfn data split` prints, with the same ZCA ε
//! and convolution initialisation, and are tested on the same first N test images. Each
//! finished run is appended to `runs.csv` in the output folder, so a killed comparison
//! continues where it stopped; `parity.md` holds the table of means.
//!
//! Not run by CI: one comparison at the default budgets takes about an hour on 2 cores.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use actfn_evo::TrainResult;
use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};

use crate::libtorch::TORCH_VERSION;
use crate::reproduce::build_actfn;
use crate::tarballs::fetch_args;

/// The marker written last into a finished reference environment.
const VENV_MARKER: &str = ".actfn-reference";

/// Options of `cargo xtask parity`.
#[derive(Debug, Clone)]
pub struct Options {
    pub datasets: Vec<String>,
    /// (training images, epochs) pairs.
    pub budgets: Vec<(usize, usize)>,
    pub seeds: usize,
    pub threads: usize,
    pub zca_epsilon: f64,
    pub init: String,
    pub test_size: usize,
    pub out: PathBuf,
}

/// One finished run of one side.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run {
    side: String,
    dataset: String,
    train_size: usize,
    epochs: usize,
    seed: u64,
    zca_epsilon: f64,
    init: String,
    val_acc: Option<f64>,
    test_acc: Option<f64>,
    seconds: Option<f64>,
}

impl Run {
    fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{:e}/{}",
            self.side,
            self.dataset,
            self.train_size,
            self.epochs,
            self.seed,
            self.zca_epsilon,
            self.init
        )
    }
}

/// A side's result: the reference's printed JSON line, or what parity keeps of
/// `actfn train`'s `--json-out` file.
#[derive(Debug, Deserialize)]
struct Printed {
    val_acc: Option<f64>,
    test_acc: Option<f64>,
    seconds: Option<f64>,
}

/// `WxE` budgets, e.g. `5000x4,10000x8`.
pub fn parse_budgets(text: &str) -> anyhow::Result<Vec<(usize, usize)>> {
    text.split(',')
        .map(|item| {
            let (n, e) = item
                .split_once('x')
                .with_context(|| format!("budget {item:?} is not IMAGESxEPOCHS"))?;
            let n: usize = n
                .trim()
                .parse()
                .with_context(|| format!("budget {item:?}"))?;
            let e: usize = e
                .trim()
                .parse()
                .with_context(|| format!("budget {item:?}"))?;
            ensure!(n > 0 && e > 0, "budget {item:?} has a zero");
            Ok((n, e))
        })
        .collect()
}

/// The learning-rate drop of a budget: x0.2 once, after three quarters of the epochs
/// (epoch 3 of 4, as the audit that this comparison answers used).
fn milestone(epochs: usize) -> usize {
    ((3 * epochs) as f64 / 4.0).round().max(1.0) as usize
}

/// Validation images per class: 100 for CIFAR-10, 10 for CIFAR-100 (whose shipped
/// subset has only 115-173 training images per class).
fn val_per_class(dataset: &str) -> usize {
    if dataset == "cifar100" {
        10
    } else {
        100
    }
}

/// Runs the comparison.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let python = reference_python()?;
    let actfn = build_actfn(root)?;
    let data_dir = root.join("data");
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let runs_path = options.out.join("runs.csv");
    let mut done: BTreeMap<String, Run> = BTreeMap::new();
    if runs_path.exists() {
        let mut reader = csv::Reader::from_path(&runs_path)
            .with_context(|| format!("cannot read {}", runs_path.display()))?;
        for row in reader.deserialize() {
            let run: Run = row.with_context(|| format!("in {}", runs_path.display()))?;
            done.insert(run.key(), run);
        }
    }
    let script = root.join("experiments/parity/reference.py");
    for dataset in &options.datasets {
        fetch(&actfn, &data_dir, dataset)?;
        for &(train_size, epochs) in &options.budgets {
            // The split is re-derived on every run (it is cheap) and kept out of results.
            let split_dir = root.join("runs").join("parity");
            std::fs::create_dir_all(&split_dir)
                .with_context(|| format!("cannot create {}", split_dir.display()))?;
            let split_path = split_dir.join(format!("split-{dataset}-{train_size}.json"));
            let split = capture(Command::new(&actfn).args([
                "data",
                "split",
                dataset,
                "--train-size",
                &train_size.to_string(),
                "--val-per-class",
                &val_per_class(dataset).to_string(),
                "--data-dir",
                &data_dir.display().to_string(),
            ]))?;
            std::fs::write(&split_path, split)?;
            for seed in 0..options.seeds as u64 {
                for side in ["actfn", "pytorch"] {
                    let mut run = Run {
                        side: side.into(),
                        dataset: dataset.clone(),
                        train_size,
                        epochs,
                        seed,
                        zca_epsilon: options.zca_epsilon,
                        init: options.init.clone(),
                        val_acc: None,
                        test_acc: None,
                        seconds: None,
                    };
                    if done.contains_key(&run.key()) {
                        continue;
                    }
                    eprintln!("xtask parity: {}", run.key());
                    let common = [
                        "--dataset".to_owned(),
                        dataset.clone(),
                        "--data-dir".into(),
                        data_dir.display().to_string(),
                        "--epochs".into(),
                        epochs.to_string(),
                        "--milestones".into(),
                        milestone(epochs).to_string(),
                        "--test-size".into(),
                        options.test_size.to_string(),
                        format!("--zca-epsilon={:e}", options.zca_epsilon),
                        "--init".into(),
                        options.init.clone(),
                        "--seed".into(),
                        seed.to_string(),
                        "--threads".into(),
                        options.threads.to_string(),
                    ];
                    let printed = if side == "actfn" {
                        let json_path = split_dir.join("actfn-result.json");
                        capture(
                            Command::new(&actfn)
                                .args(["train", "--activation", "relu(x)", "--json"])
                                .arg("--json-out")
                                .arg(&json_path)
                                .args(["--wrn-depth", "10", "--wrn-width", "1"])
                                .args(&common)
                                .args([
                                    "--train-size",
                                    &train_size.to_string(),
                                    "--val-per-class",
                                    &val_per_class(dataset).to_string(),
                                ]),
                        )?;
                        let text = std::fs::read_to_string(&json_path)
                            .with_context(|| format!("cannot read {}", json_path.display()))?;
                        let result: TrainResult =
                            serde_json::from_str(&text).with_context(|| {
                                format!("{}: not a train result", json_path.display())
                            })?;
                        Printed {
                            val_acc: result.val_acc,
                            test_acc: result.test_acc,
                            seconds: Some(result.seconds),
                        }
                    } else {
                        let out = capture(
                            Command::new(&python)
                                .arg(&script)
                                .args(["--depth", "10", "--width", "1"])
                                .args(&common)
                                .arg("--split")
                                .arg(&split_path),
                        )?;
                        // The reference prints its result as the last JSON line.
                        let line = out
                            .lines()
                            .rev()
                            .find(|l| l.trim_start().starts_with('{'))
                            .with_context(|| format!("{side} printed no JSON line: {out}"))?;
                        serde_json::from_str(line)
                            .with_context(|| format!("cannot read {side}'s output {line:?}"))?
                    };
                    run.val_acc = printed.val_acc;
                    run.test_acc = printed.test_acc;
                    run.seconds = printed.seconds;
                    eprintln!(
                        "xtask parity: {side} test acc {:?}, {:.0?} s",
                        run.test_acc, run.seconds
                    );
                    append(&runs_path, &run)?;
                    done.insert(run.key(), run);
                }
            }
        }
    }
    let table = markdown(options, &done);
    std::fs::write(options.out.join("parity.md"), &table)?;
    print!("{table}");
    Ok(())
}

/// The table of means over seeds, one row per data set and budget.
fn markdown(options: &Options, done: &BTreeMap<String, Run>) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Training parity: actfn vs the PyTorch reference\n\nWRN-10-1, ReLU, batch 128, lr 0.1 (x0.2 after 3/4 of the epochs), ZCA ε = {:e}, init `{}`, {} threads, test on the first {} test images; mean over seeds (each side's own runs listed in runs.csv).\n",
        options.zca_epsilon, options.init, options.threads, options.test_size
    );
    let _ = writeln!(
        md,
        "| data set | images x epochs | seeds | actfn val % | PyTorch val % | actfn test % | PyTorch test % | test difference | actfn s/run | PyTorch s/run |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for dataset in &options.datasets {
        for &(n, e) in &options.budgets {
            let side = |s: &str| -> Vec<&Run> {
                done.values()
                    .filter(|r| {
                        r.side == s
                            && &r.dataset == dataset
                            && r.train_size == n
                            && r.epochs == e
                            && r.zca_epsilon == options.zca_epsilon
                            && r.init == options.init
                    })
                    .collect()
            };
            let (ours, theirs) = (side("actfn"), side("pytorch"));
            let mean = |runs: &[&Run], f: fn(&Run) -> Option<f64>| -> Option<f64> {
                let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty() && v.len() == runs.len())
                    .then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", 100.0 * v));
            let secs = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
            let (ot, tt) = (mean(&ours, |r| r.test_acc), mean(&theirs, |r| r.test_acc));
            let _ = writeln!(
                md,
                "| {dataset} | {n} x {e} | {}/{} | {} | {} | {} | {} | {} | {} | {} |",
                ours.len(),
                theirs.len(),
                pct(mean(&ours, |r| r.val_acc)),
                pct(mean(&theirs, |r| r.val_acc)),
                pct(ot),
                pct(tt),
                match (ot, tt) {
                    (Some(a), Some(b)) => format!("{:+.1}", 100.0 * (a - b)),
                    _ => "—".into(),
                },
                secs(mean(&ours, |r| r.seconds)),
                secs(mean(&theirs, |r| r.seconds)),
            );
        }
    }
    md
}

fn append(path: &Path, run: &Run) -> anyhow::Result<()> {
    let exists = path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(!exists)
        .from_writer(file);
    writer.serialize(run)?;
    writer.flush()?;
    Ok(())
}

/// Runs a command with its stderr shown and returns its stdout.
fn capture(cmd: &mut Command) -> anyhow::Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed ({})", output.status);
    }
    String::from_utf8(output.stdout).context("non-UTF-8 output")
}

/// Puts a data set into `data_dir` (from the tarball in `ACTFN_DATA_TARBALLS` when there
/// is one).
fn fetch(actfn: &Path, data_dir: &Path, dataset: &str) -> anyhow::Result<()> {
    capture(Command::new(actfn).args(fetch_args(dataset, data_dir))).map(drop)
}

/// The Python of the reference environment, made on first use: a virtual environment with
/// torch (the version libtorch is assembled from) and numpy.
fn reference_python() -> anyhow::Result<PathBuf> {
    let venv = crate::libtorch::cache_dir()?.join("reference-venv");
    let python = venv.join("bin").join("python3");
    if venv.join(VENV_MARKER).is_file() {
        return Ok(python);
    }
    eprintln!(
        "xtask parity: making the reference environment in {} (torch {TORCH_VERSION} from PyPI, several GB, once)",
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3 -m venv")?;
    ensure!(status.success(), "python3 -m venv failed ({status})");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .arg(format!("torch=={TORCH_VERSION}"))
        .arg("numpy")
        .status()
        .context("cannot run pip in the reference environment")?;
    ensure!(
        status.success(),
        "pip install torch=={TORCH_VERSION} failed ({status})"
    );
    std::fs::write(venv.join(VENV_MARKER), format!("torch {TORCH_VERSION}\n"))?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_budgets("5000x4,10000x8").unwrap(),
            vec![(5000, 4), (10000, 8)]
        );
        let err = parse_budgets("5000x4,10000").unwrap_err().to_string();
        assert!(err.contains("\"10000\""), "{err}");
        assert!(parse_budgets("0x4").is_err());
    }

    #[test]
    fn the_drop_comes_after_three_quarters() {
        assert_eq!(milestone(4), 3);
        assert_eq!(milestone(8), 6);
        assert_eq!(milestone(1), 1);
    }
}
