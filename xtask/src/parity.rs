//! `cargo xtask parity`: actfn's training side by side with a PyTorch eager reference of the
//! same recipe, on the same images, schedules and seeds.
//!
//! The reference (`experiments/parity/reference.py`) is written from the recipe, not from
//! actfn's code; it runs in a virtual environment with PyTorch 2.13.0 from PyPI that is
//! made once in the user cache (`<cache>/reference-venv`, next to libtorch). Both sides
//! train the network `--arch` names (default WRN-10-1; the PyTorch definitions are in
//! `experiments/parity/networks.py`) with ReLU on the split that `actfn data split` prints,
//! with the same ZCA ε and convolution initialisation, and are tested on the same first N
//! test images. Each finished run is appended to `runs.csv` in the output folder, so a
//! killed comparison continues where it stopped; `parity.md` holds the table of means of
//! the last `--arch` compared.
//!
//! `--counts` trains nothing: it compares the trainable parameter counts of both sides'
//! networks ([`COUNT_ARCHS`], 10 and 100 classes) and writes `counts.md`, a cheap first
//! check that both sides build the same network.
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

/// The network of runs recorded before runs.csv had an `arch` column.
const DEFAULT_ARCH: &str = "wrn-10-1";

/// The networks `--counts` compares, each with 10 and 100 classes.
pub const COUNT_ARCHS: [&str; 9] = [
    "resnet-20",
    "resnet-56",
    "vgg-16",
    "allcnn-c",
    "allcnn-c-bn",
    "mlp-512-3",
    "mobilenetv2",
    "wrn-10-1",
    "wrn-28-10",
];

/// Options of `cargo xtask parity`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The network both sides train, e.g. `wrn-10-1`, `resnet-20`.
    pub arch: String,
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
    #[serde(default = "default_arch")]
    arch: String,
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
            "{}/{}/{}/{}/{}/{}/{:e}/{}",
            self.side,
            self.arch,
            self.dataset,
            self.train_size,
            self.epochs,
            self.seed,
            self.zca_epsilon,
            self.init
        )
    }
}

fn default_arch() -> String {
    DEFAULT_ARCH.into()
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
        let file = std::fs::File::open(&runs_path)
            .with_context(|| format!("cannot read {}", runs_path.display()))?;
        let (runs, current) =
            read_runs(file).with_context(|| format!("in {}", runs_path.display()))?;
        if !current {
            // New rows are appended without a header, so an older file gets today's
            // columns first.
            write_runs(&runs_path, &runs)?;
        }
        for run in runs {
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
                        arch: options.arch.clone(),
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
                                .args(["--arch", &options.arch])
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
                                .args(["--arch", &options.arch])
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

/// The table of means over seeds of `options.arch`, one row per data set and budget.
fn markdown(options: &Options, done: &BTreeMap<String, Run>) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Training parity of {arch}: actfn vs the PyTorch reference\n\n{arch}, ReLU, batch 128, lr 0.1 (x0.2 after 3/4 of the epochs), ZCA ε = {:e}, init `{}`, {} threads, test on the first {} test images; mean over seeds (each side's own runs listed in runs.csv).\n",
        options.zca_epsilon,
        options.init,
        options.threads,
        options.test_size,
        arch = options.arch,
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
                            && r.arch == options.arch
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

/// The runs of a runs.csv, in file order, and whether its header has every column of
/// [`Run`] (rows from before a column was added read with the column's default).
fn read_runs(reader: impl std::io::Read) -> anyhow::Result<(Vec<Run>, bool)> {
    let mut reader = csv::Reader::from_reader(reader);
    let current = reader.headers()?.iter().any(|h| h == "arch");
    let runs = reader
        .deserialize()
        .collect::<Result<Vec<Run>, _>>()
        .context("not a runs.csv row")?;
    Ok((runs, current))
}

/// Replaces `path` with `runs` under today's header.
fn write_runs(path: &Path, runs: &[Run]) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let mut writer =
        csv::Writer::from_path(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    for run in runs {
        writer.serialize(run)?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(writer);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The number on the `parameters: N` line of `actfn model summary` or
/// `networks.py --count`.
fn parse_parameters(text: &str) -> anyhow::Result<u64> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("parameters:"))
        .with_context(|| format!("no `parameters:` line in {text:?}"))?;
    value
        .trim()
        .parse()
        .with_context(|| format!("`parameters:{value}` is not a count"))
}

/// One network's trainable parameters on both sides; `None` where a side failed.
struct Count {
    arch: &'static str,
    classes: usize,
    actfn: Option<u64>,
    pytorch: Option<u64>,
}

impl Count {
    fn equal(&self) -> bool {
        self.actfn.is_some() && self.actfn == self.pytorch
    }
}

/// The count table as Markdown.
fn counts_markdown(counts: &[Count]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Parameter counts: actfn vs the PyTorch reference\n\nTrainable parameters of `actfn model summary --arch A --classes C` and `experiments/parity/networks.py --count A --classes C`; 3 input channels, 32x32 images.\n"
    );
    let _ = writeln!(md, "| arch | classes | actfn | PyTorch | equal? |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    let cell = |v: Option<u64>| v.map_or("failed".into(), |v| v.to_string());
    for c in counts {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.arch,
            c.classes,
            cell(c.actfn),
            cell(c.pytorch),
            if c.equal() { "yes" } else { "**no**" }
        );
    }
    md
}

/// Compares the parameter counts of [`COUNT_ARCHS`] on both sides, writes `counts.md` into
/// `out` and fails when any differ or could not be counted.
pub fn counts(root: &Path, out: &Path) -> anyhow::Result<()> {
    let python = reference_python()?;
    let actfn = build_actfn(root)?;
    let script = root.join("experiments/parity/networks.py");
    compare_counts(&actfn, &python, &script, &COUNT_ARCHS, out)
}

/// [`counts`] with the programs given: `actfn model summary --arch A --classes C` and
/// `python script --count A --classes C`.
fn compare_counts(
    actfn: &Path,
    python: &Path,
    script: &Path,
    archs: &[&'static str],
    out: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut counts = Vec::new();
    for &arch in archs {
        for classes in [10, 100] {
            let classes_arg = classes.to_string();
            // A side that cannot build the network is a row of the table, not the end of
            // the comparison: the other networks still say something.
            let side = |name: &str, cmd: &mut Command| -> Option<u64> {
                match capture(cmd).and_then(|text| parse_parameters(&text)) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        eprintln!("xtask parity: {name} {arch} {classes} classes: {e:#}");
                        None
                    }
                }
            };
            let actfn_count = side(
                "actfn",
                Command::new(actfn).args([
                    "model",
                    "summary",
                    "--arch",
                    arch,
                    "--classes",
                    &classes_arg,
                ]),
            );
            let pytorch_count = side(
                "pytorch",
                Command::new(python)
                    .arg(script)
                    .args(["--count", arch, "--classes", &classes_arg]),
            );
            counts.push(Count {
                arch,
                classes,
                actfn: actfn_count,
                pytorch: pytorch_count,
            });
        }
    }
    let table = counts_markdown(&counts);
    let path = out.join("counts.md");
    std::fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    print!("{table}");
    let bad = counts.iter().filter(|c| !c.equal()).count();
    ensure!(
        bad == 0,
        "{bad} of {} parameter counts differ or failed (see {})",
        counts.len(),
        path.display()
    );
    Ok(())
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
    fn the_parameters_line_is_read_and_its_absence_named() {
        assert_eq!(
            parse_parameters("arch: resnet-20\nparameters: 272474\nlayers: 20\n").unwrap(),
            272_474
        );
        assert_eq!(parse_parameters("  parameters:  83700  ").unwrap(), 83_700);
        let err = parse_parameters("layers: 20\n").unwrap_err().to_string();
        assert!(err.contains("no `parameters:` line"), "{err}");
        assert!(parse_parameters("parameters: many").is_err());
    }

    #[test]
    fn counts_are_equal_only_when_both_sides_counted_the_same() {
        let count = |actfn, pytorch| Count {
            arch: "resnet-20",
            classes: 10,
            actfn,
            pytorch,
        };
        assert!(count(Some(5), Some(5)).equal());
        assert!(!count(Some(5), Some(6)).equal());
        assert!(!count(None, None).equal());
        let md = counts_markdown(&[count(Some(5), Some(6)), count(None, Some(5))]);
        assert!(md.contains("| resnet-20 | 10 | 5 | 6 | **no** |"), "{md}");
        assert!(
            md.contains("| resnet-20 | 10 | failed | 5 | **no** |"),
            "{md}"
        );
    }

    const OLD_RUNS: &str =
        "side,dataset,train_size,epochs,seed,zca_epsilon,init,val_acc,test_acc,seconds\n\
        actfn,cifar10,5000,4,0,0.01,uniform,0.41,0.4,120.5\n\
        pytorch,cifar10,5000,4,0,0.01,uniform,0.42,,\n";

    #[test]
    fn runs_without_an_arch_column_are_wrn_10_1() {
        let (runs, current) = read_runs(OLD_RUNS.as_bytes()).unwrap();
        assert!(!current);
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r.arch == "wrn-10-1"));
        assert_eq!(runs[1].test_acc, None);
        assert_eq!(
            runs[0].key(),
            "actfn/wrn-10-1/cifar10/5000/4/0/1e-2/uniform"
        );
    }

    #[test]
    fn an_old_runs_csv_is_rewritten_with_the_arch_and_takes_new_rows() {
        let dir = std::env::temp_dir().join(format!("xtask-parity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runs.csv");
        std::fs::write(&path, OLD_RUNS).unwrap();
        let (mut runs, _) = read_runs(std::fs::File::open(&path).unwrap()).unwrap();
        write_runs(&path, &runs).unwrap();
        let mut new = runs[0].clone();
        new.arch = "resnet-20".into();
        append(&path, &new).unwrap();
        runs.push(new);
        let (again, current) = read_runs(std::fs::File::open(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(current);
        let keys = |v: &[Run]| v.iter().map(Run::key).collect::<Vec<_>>();
        assert_eq!(keys(&again), keys(&runs));
        assert_eq!(again[2].arch, "resnet-20");
    }

    /// Both sides as shell scripts: actfn counts 7 for every network; the "python" counts
    /// 8 for vgg-16 and fails for mobilenetv2 (its arguments are `script --count A ...`).
    #[cfg(unix)]
    #[test]
    fn counts_run_both_sides_write_the_table_and_fail_on_a_difference() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-counts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let actfn = script(
            "actfn",
            r#"[ "$1 $2 $3" = "model summary --arch" ] || exit 3; echo "arch: $4"; echo "parameters: 7""#,
        );
        let python = script(
            "python",
            r#"case "$3" in vgg-16) echo "parameters: 8";; mobilenetv2) exit 1;; *) echo "parameters: 7";; esac"#,
        );
        let networks = dir.join("networks.py");
        let out = dir.join("out");
        compare_counts(&actfn, &python, &networks, &["resnet-20"], &out).unwrap();
        let md = std::fs::read_to_string(out.join("counts.md")).unwrap();
        assert!(md.contains("| resnet-20 | 100 | 7 | 7 | yes |"), "{md}");
        let err = compare_counts(
            &actfn,
            &python,
            &networks,
            &["resnet-20", "vgg-16", "mobilenetv2"],
            &out,
        )
        .unwrap_err()
        .to_string();
        let md = std::fs::read_to_string(out.join("counts.md")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("4 of 6 parameter counts"), "{err}");
        assert!(md.contains("| vgg-16 | 10 | 7 | 8 | **no** |"), "{md}");
        assert!(
            md.contains("| mobilenetv2 | 100 | 7 | failed | **no** |"),
            "{md}"
        );
        assert!(md.contains("| resnet-20 | 10 | 7 | 7 | yes |"), "{md}");
    }

    #[test]
    fn the_drop_comes_after_three_quarters() {
        assert_eq!(milestone(4), 3);
        assert_eq!(milestone(8), 6);
        assert_eq!(milestone(1), 1);
    }
}
