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
//! `--step` trains nothing either: it times one training step of each `--arch` with each
//! `--threads` on random data, `actfn bench step` against `experiments/parity/step.py`
//! (the same step in PyTorch eager, also written from the recipe), the two sides
//! alternating process by process, and writes `step.md` and appends to `step-runs.csv`.
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
    "allcnn-c-nobn",
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

/// The networks `--step` times when `--arch` names none.
pub const STEP_ARCHS: [&str; 3] = ["wrn-10-1", "wrn-16-4", "resnet-20"];

/// Options of `cargo xtask parity --step`.
#[derive(Debug, Clone)]
pub struct StepOptions {
    pub archs: Vec<String>,
    /// Every network is timed with each of these thread counts.
    pub threads: Vec<usize>,
    pub batch: usize,
    /// Timed steps in each process.
    pub steps: usize,
    /// Untimed steps first in each process.
    pub warmup: usize,
    /// Processes per side for each network and thread count.
    pub rounds: usize,
    pub out: PathBuf,
}

/// What the comparison reads of the JSON line that `actfn bench step --json` and
/// `step.py` print (both print more).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct StepLine {
    network: String,
    batch_size: usize,
    threads: usize,
    parameters: u64,
    steps: usize,
    /// The median of the process's timed steps.
    median_seconds: f64,
    /// Absent where the OS does not report it.
    peak_rss_bytes: Option<u64>,
}

/// One process's measurement: a row of step-runs.csv.
#[derive(Debug, Clone, Serialize)]
struct StepRun<'a> {
    side: &'a str,
    arch: &'a str,
    threads: usize,
    round: usize,
    median_seconds: f64,
    peak_rss_bytes: Option<u64>,
    // The settings, since the file collects the rows of every invocation.
    batch: usize,
    steps: usize,
    warmup: usize,
}

/// The one JSON line of a side's output.
fn parse_step_line(text: &str) -> anyhow::Result<StepLine> {
    let mut lines = text.lines().filter(|l| l.trim_start().starts_with('{'));
    let (Some(line), None) = (lines.next(), lines.next()) else {
        bail!("expected one JSON line, got: {text:?}");
    };
    serde_json::from_str(line).with_context(|| format!("not a step measurement: {line:?}"))
}

/// Fails unless a side measured what it was asked to.
fn check_step_line(
    line: &StepLine,
    arch: &str,
    threads: usize,
    options: &StepOptions,
) -> anyhow::Result<()> {
    let asked = (arch, threads, options.batch, options.steps);
    let got = (
        line.network.as_str(),
        line.threads,
        line.batch_size,
        line.steps,
    );
    ensure!(
        got == asked,
        "measured (network, threads, batch, steps) = {got:?} instead of {asked:?}"
    );
    ensure!(
        line.median_seconds.is_finite() && line.median_seconds > 0.0,
        "median step time {} is not a positive time",
        line.median_seconds
    );
    Ok(())
}

/// The median of `values`; `None` for none.
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
    }
}

/// The rounds of one network and thread count, each side's in order.
#[derive(Debug)]
struct StepRow {
    arch: String,
    threads: usize,
    actfn: Vec<StepLine>,
    pytorch: Vec<StepLine>,
}

/// A side's seconds per step: the median over its rounds of each round's median.
fn side_seconds(rounds: &[StepLine]) -> Option<f64> {
    median(&rounds.iter().map(|l| l.median_seconds).collect::<Vec<_>>())
}

/// A side's peak memory: the largest of its rounds' peaks.
fn side_peak_bytes(rounds: &[StepLine]) -> Option<u64> {
    rounds.iter().filter_map(|l| l.peak_rss_bytes).max()
}

impl StepRow {
    /// actfn's seconds per step over PyTorch's.
    fn ratio(&self) -> Option<f64> {
        Some(side_seconds(&self.actfn)? / side_seconds(&self.pytorch)?)
    }
}

/// The step table as Markdown.
fn step_markdown(options: &StepOptions, rows: &[StepRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Training step time: actfn vs PyTorch eager\n\nOne training step of each network with ReLU and 10 classes on random data (forward in train mode, mean cross-entropy, zeroed gradients, backward, SGD with lr 0.01, Nesterov momentum 0.9 and weight decay 5e-4, the loss read), batch {}. Each process times {} steps after {} warm-up steps and reports their median; a side's s/step is the median over its {} rounds (one process each). `actfn bench step` and `experiments/parity/step.py` alternate process by process in one invocation (actfn, then PyTorch, in every round), so that changes in the machine's load touch both. Peak MB: the largest peak resident memory of a side's processes, libraries included (10^6 bytes).\n",
        options.batch, options.steps, options.warmup, options.rounds,
    );
    let _ = writeln!(
        md,
        "| arch | threads | actfn s/step | PyTorch s/step | ratio actfn/PyTorch | actfn peak MB | PyTorch peak MB |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    // A side that lost rounds says how many it kept.
    let secs = |rounds: &[StepLine]| match side_seconds(rounds) {
        None => "—".to_owned(),
        Some(s) if rounds.len() == options.rounds => format!("{s:.4}"),
        Some(s) => format!("{s:.4} ({} of {} rounds)", rounds.len(), options.rounds),
    };
    let mb = |rounds: &[StepLine]| {
        side_peak_bytes(rounds).map_or("—".into(), |b| format!("{:.0}", b as f64 / 1e6))
    };
    for row in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.arch,
            row.threads,
            secs(&row.actfn),
            secs(&row.pytorch),
            row.ratio().map_or("—".into(), |r| format!("{r:.2}")),
            mb(&row.actfn),
            mb(&row.pytorch),
        );
    }
    md
}

/// Times the training step of both sides (see the module documentation), writes `step.md`
/// into `options.out` and appends every process's measurement to `step-runs.csv` there.
pub fn step(root: &Path, options: &StepOptions) -> anyhow::Result<()> {
    let python = reference_python()?;
    let actfn = build_actfn(root)?;
    let script = root.join("experiments/parity/step.py");
    compare_steps(&actfn, &python, &script, options)
}

/// [`step`] with the programs given: `actfn bench step --arch A ... --json` and
/// `python script --arch A ...`.
fn compare_steps(
    actfn: &Path,
    python: &Path,
    script: &Path,
    options: &StepOptions,
) -> anyhow::Result<()> {
    ensure!(
        options.steps > 0 && options.rounds > 0 && options.batch > 0,
        "--steps, --rounds and --batch must be at least 1"
    );
    ensure!(
        !options.archs.is_empty() && !options.threads.is_empty(),
        "no network or no thread count to time"
    );
    ensure!(
        options.threads.iter().all(|&t| t > 0),
        "--threads must be at least 1"
    );
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let runs_path = options.out.join("step-runs.csv");
    let (batch, steps, warmup) = (
        options.batch.to_string(),
        options.steps.to_string(),
        options.warmup.to_string(),
    );
    let mut rows = Vec::new();
    let mut failed = 0;
    for arch in &options.archs {
        for &threads in &options.threads {
            let threads_arg = threads.to_string();
            let mut row = StepRow {
                arch: arch.clone(),
                threads,
                actfn: Vec::new(),
                pytorch: Vec::new(),
            };
            for round in 0..options.rounds {
                for side in ["actfn", "pytorch"] {
                    let common = [
                        "--arch",
                        arch,
                        "--batch",
                        &batch,
                        "--steps",
                        &steps,
                        "--warmup",
                        &warmup,
                        "--threads",
                        &threads_arg,
                    ];
                    let mut cmd = if side == "actfn" {
                        let mut cmd = Command::new(actfn);
                        cmd.args(["bench", "step", "--activation", "relu(x)", "--json"]);
                        cmd
                    } else {
                        let mut cmd = Command::new(python);
                        cmd.arg(script);
                        cmd
                    };
                    cmd.args(common);
                    let label = format!(
                        "{side} {arch}, {threads} threads, round {} of {}",
                        round + 1,
                        options.rounds
                    );
                    // A failed process is logged and left out, so that the other
                    // measurements still make a table; the command fails at the end.
                    let line = match capture(&mut cmd).and_then(|text| {
                        let line = parse_step_line(&text)?;
                        check_step_line(&line, arch, threads, options)?;
                        Ok(line)
                    }) {
                        Ok(line) => line,
                        Err(e) => {
                            eprintln!("xtask parity: {label}: {e:#}");
                            failed += 1;
                            continue;
                        }
                    };
                    eprintln!(
                        "xtask parity: {label}: {:.4} s/step, peak {}",
                        line.median_seconds,
                        line.peak_rss_bytes
                            .map_or("not reported".into(), |b| format!(
                                "{:.0} MB",
                                b as f64 / 1e6
                            ))
                    );
                    append(
                        &runs_path,
                        &StepRun {
                            side,
                            arch,
                            threads,
                            round,
                            median_seconds: line.median_seconds,
                            peak_rss_bytes: line.peak_rss_bytes,
                            batch: options.batch,
                            steps: options.steps,
                            warmup: options.warmup,
                        },
                    )?;
                    if side == "actfn" {
                        row.actfn.push(line);
                    } else {
                        row.pytorch.push(line);
                    }
                }
            }
            if let (Some(a), Some(p)) = (row.actfn.first(), row.pytorch.first()) {
                if a.parameters != p.parameters {
                    eprintln!(
                        "xtask parity: warning: {arch} has {} parameters in actfn and {} in PyTorch, so the two time different networks",
                        a.parameters, p.parameters
                    );
                }
            }
            rows.push(row);
        }
    }
    let table = step_markdown(options, &rows);
    let path = options.out.join("step.md");
    std::fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    print!("{table}");
    let total = 2 * options.rounds * options.archs.len() * options.threads.len();
    ensure!(
        failed == 0,
        "{failed} of {total} step measurements failed (see above; {} has the rest)",
        path.display()
    );
    Ok(())
}

/// Appends `row` to the CSV file at `path`, with a header first when the file is new.
fn append(path: &Path, row: &impl Serialize) -> anyhow::Result<()> {
    let exists = path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(!exists)
        .from_writer(file);
    writer.serialize(row)?;
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
    capture(Command::new(actfn).args(crate::actfn_args::data_fetch(dataset, data_dir))).map(drop)
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

    /// An executable `/bin/sh` script `dir/name` running `body`, standing in for a program.
    #[cfg(unix)]
    fn shell_script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Both sides as shell scripts: actfn counts 7 for every network; the "python" counts
    /// 8 for vgg-16 and fails for mobilenetv2 (its arguments are `script --count A ...`).
    #[cfg(unix)]
    #[test]
    fn counts_run_both_sides_write_the_table_and_fail_on_a_difference() {
        let dir = std::env::temp_dir().join(format!("xtask-counts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = |name: &str, body: &str| shell_script(&dir, name, body);
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

    const ACTFN_STEP: &str = r#"{"activation":"max(x, 0)","mode":"symbolic","relu_fast_path":true,"network":"resnet-8","batch_size":128,"threads":1,"parameters":75290,"steps":20,"median_seconds":0.25,"min_seconds":0.2,"max_seconds":0.3,"median_cpu_seconds":0.24,"peak_rss_bytes":300000000}"#;
    const PYTORCH_STEP: &str = r#"{"network": "resnet-8", "batch_size": 128, "threads": 1, "parameters": 75290, "steps": 20, "median_seconds": 0.2, "min_seconds": 0.19, "max_seconds": 0.4, "peak_rss_bytes": 800000000, "torch": "2.13.0"}"#;

    fn step_options(rounds: usize) -> StepOptions {
        StepOptions {
            archs: vec!["resnet-8".into()],
            threads: vec![1],
            batch: 128,
            steps: 20,
            warmup: 3,
            rounds,
            out: PathBuf::new(),
        }
    }

    fn step_line(seconds: f64, peak: Option<u64>) -> StepLine {
        StepLine {
            median_seconds: seconds,
            peak_rss_bytes: peak,
            ..parse_step_line(PYTORCH_STEP).unwrap()
        }
    }

    #[test]
    fn both_sides_step_lines_are_read_and_checked() {
        let ours = parse_step_line(&format!("{ACTFN_STEP}\n")).unwrap();
        assert_eq!(ours.network, "resnet-8");
        assert_eq!((ours.threads, ours.parameters), (1, 75_290));
        assert_eq!(ours.peak_rss_bytes, Some(300_000_000));
        let theirs = parse_step_line(&format!("a warning\n{PYTORCH_STEP}\n")).unwrap();
        assert_eq!(theirs.median_seconds, 0.2);
        let without_peak = parse_step_line(
            r#"{"network":"resnet-8","batch_size":128,"threads":1,"parameters":1,"steps":20,"median_seconds":0.1}"#,
        )
        .unwrap();
        assert_eq!(without_peak.peak_rss_bytes, None);

        let options = step_options(3);
        check_step_line(&ours, "resnet-8", 1, &options).unwrap();
        let err = check_step_line(&ours, "resnet-8", 2, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("instead of"), "{err}");
        assert!(check_step_line(&ours, "resnet-20", 1, &options).is_err());
        assert!(check_step_line(&step_line(f64::NAN, None), "resnet-8", 1, &options).is_err());

        let err = parse_step_line("no json\n").unwrap_err().to_string();
        assert!(err.contains("one JSON line"), "{err}");
        assert!(parse_step_line(&format!("{ACTFN_STEP}\n{ACTFN_STEP}")).is_err());
        assert!(parse_step_line(r#"{"network": "resnet-8"}"#).is_err());
    }

    #[test]
    fn a_side_is_its_median_round_and_its_largest_peak() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let rounds = [
            step_line(0.3, Some(5)),
            step_line(0.1, None),
            step_line(0.2, Some(7)),
        ];
        assert_eq!(side_seconds(&rounds), Some(0.2));
        assert_eq!(side_peak_bytes(&rounds), Some(7));
        assert_eq!(side_peak_bytes(&rounds[1..2]), None);
        let row = StepRow {
            arch: "resnet-8".into(),
            threads: 2,
            actfn: rounds.to_vec(),
            pytorch: vec![step_line(0.1, Some(2_500_000)), step_line(0.05, None)],
        };
        assert!((row.ratio().unwrap() - 0.2 / 0.075).abs() < 1e-12);
        let empty = StepRow {
            pytorch: Vec::new(),
            ..row
        };
        assert_eq!(empty.ratio(), None);
    }

    #[test]
    fn the_step_table_has_a_row_per_network_and_thread_count() {
        let options = step_options(2);
        let rows = [
            StepRow {
                arch: "resnet-8".into(),
                threads: 1,
                actfn: vec![
                    step_line(0.25, Some(300_000_000)),
                    step_line(0.35, Some(310_000_000)),
                ],
                pytorch: vec![step_line(0.2, Some(800_400_000)), step_line(0.2, None)],
            },
            StepRow {
                arch: "resnet-8".into(),
                threads: 2,
                actfn: vec![step_line(0.5, None)],
                pytorch: Vec::new(),
            },
        ];
        let md = step_markdown(&options, &rows);
        assert!(
            md.contains("batch 128. Each process times 20 steps after 3 warm-up steps"),
            "{md}"
        );
        assert!(md.contains("over its 2 rounds"), "{md}");
        assert!(md.contains("alternate process by process"), "{md}");
        assert!(
            md.contains("| resnet-8 | 1 | 0.3000 | 0.2000 | 1.50 | 310 | 800 |"),
            "{md}"
        );
        assert!(
            md.contains("| resnet-8 | 2 | 0.5000 (1 of 2 rounds) | — | — | — | — |"),
            "{md}"
        );
    }

    /// Both sides as shell scripts that log their calls and print a step line; "python"
    /// fails for vgg-11.
    #[cfg(unix)]
    #[test]
    fn steps_alternate_sides_append_runs_and_fail_on_a_failed_process() {
        let dir = std::env::temp_dir().join(format!("xtask-step-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls.log");
        let script = |name: &str, body: &str| shell_script(&dir, name, body);
        // actfn: bench step --activation relu(x) --json --arch A --batch B --steps N
        // --warmup W --threads T; python: step.py --arch A ... --threads T.
        let actfn = script(
            "actfn",
            &format!(
                r#"[ "$1 $2 $4 $5" = "bench step relu(x) --json" ] || exit 3
echo "actfn $7 ${{15}}" >> {log}
echo '{{"network":"'$7'","batch_size":'$9',"threads":'${{15}}',"parameters":10,"steps":'${{11}}',"median_seconds":0.5,"peak_rss_bytes":2000000}}'"#,
                log = log.display()
            ),
        );
        let python = script(
            "python",
            &format!(
                r#"echo "pytorch $3 ${{11}}" >> {log}
[ "$3" = vgg-11 ] && exit 1
echo '{{"network":"'$3'","batch_size":'$5',"threads":'${{11}}',"parameters":10,"steps":'$7',"median_seconds":0.25,"peak_rss_bytes":4000000}}'"#,
                log = log.display()
            ),
        );
        let step_py = dir.join("step.py");
        let mut options = step_options(2);
        options.threads = vec![1, 2];
        options.out = dir.join("out");
        compare_steps(&actfn, &python, &step_py, &options).unwrap();
        let md = std::fs::read_to_string(options.out.join("step.md")).unwrap();
        assert!(
            md.contains("| resnet-8 | 1 | 0.5000 | 0.2500 | 2.00 | 2 | 4 |"),
            "{md}"
        );
        assert!(
            md.contains("| resnet-8 | 2 | 0.5000 | 0.2500 | 2.00 |"),
            "{md}"
        );
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            calls,
            "actfn resnet-8 1\npytorch resnet-8 1\nactfn resnet-8 1\npytorch resnet-8 1\n\
             actfn resnet-8 2\npytorch resnet-8 2\nactfn resnet-8 2\npytorch resnet-8 2\n"
        );

        options.archs = vec!["vgg-11".into()];
        options.threads = vec![1];
        options.rounds = 1;
        let err = compare_steps(&actfn, &python, &step_py, &options)
            .unwrap_err()
            .to_string();
        let md = std::fs::read_to_string(options.out.join("step.md")).unwrap();
        let runs = std::fs::read_to_string(options.out.join("step-runs.csv")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("1 of 2 step measurements failed"), "{err}");
        assert!(
            md.contains("| vgg-11 | 1 | 0.5000 | — | — | 2 | — |"),
            "{md}"
        );
        let rows: Vec<&str> = runs.lines().collect();
        assert_eq!(rows.len(), 1 + 8 + 1, "{runs}");
        assert_eq!(
            rows[0],
            "side,arch,threads,round,median_seconds,peak_rss_bytes,batch,steps,warmup"
        );
        assert_eq!(rows[2], "pytorch,resnet-8,1,0,0.25,4000000,128,20,3");
        assert_eq!(rows[4], "pytorch,resnet-8,1,1,0.25,4000000,128,20,3");
        assert_eq!(rows[9], "actfn,vgg-11,1,0,0.5,2000000,128,20,3");
    }

    #[test]
    fn the_drop_comes_after_three_quarters() {
        assert_eq!(milestone(4), 3);
        assert_eq!(milestone(8), 6);
        assert_eq!(milestone(1), 1);
    }
}
