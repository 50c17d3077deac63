//! The command lines of the `actfn` binary, built in one place from the xtask's typed
//! settings: a search from its plan, training settings and executor, a final run's
//! `train`, a search's `report`, a scatter plot, `data fetch`, and the trainings of
//! `bench-executors`. Each function returns the arguments after the program name.
//!
//! `parity.rs` builds its own `data split`, `train`, `model summary` and `bench step` lines
//! (only its `data fetch` comes from here): their options are shared, flag for flag, with
//! the PyTorch reference script's command lines, and are built beside them so that the two
//! sides stay alike.

use std::ffi::OsString;
use std::path::Path;

use crate::bench_executors;
use crate::reproduce::{Executor, SearchPlan, Training};
use crate::tarballs::local_tarball;

/// `actfn data fetch`, putting `dataset` into `data_dir`: from its local tarball when there
/// is one (see [`crate::tarballs`]), else from the official URL.
pub(crate) fn data_fetch(dataset: &str, data_dir: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["data".into(), "fetch".into(), dataset.into()];
    args.extend(["--data-dir".into(), data_dir.as_os_str().to_owned()]);
    if let Some(local) = local_tarball(dataset) {
        args.extend(["--from".into(), local.into_os_string()]);
    }
    args
}

/// `actfn search` of `plan` under `training`, seeded `seed`, in the search directory `out`,
/// trained where `executor` trains.
pub(crate) fn search(
    plan: &SearchPlan,
    training: &Training,
    seed: u64,
    out: &Path,
    data_dir: &Path,
    threads: Option<usize>,
    executor: &Executor,
) -> Vec<String> {
    let mut args = vec![
        "search".to_owned(),
        "--task".into(),
        training.dataset.clone(),
        "--strategy".into(),
        plan.strategy.clone(),
        "--depth".into(),
        plan.depth.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--out".into(),
        out.display().to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    if let Some(f) = &plan.fitness {
        args.extend(["--fitness".into(), f.clone()]);
    }
    if !plan.unary.is_empty() {
        args.extend(["--unary".into(), plan.unary.join(",")]);
    }
    if !plan.binary.is_empty() {
        args.extend(["--binary".into(), plan.binary.join(",")]);
    }
    for (flag, value) in [
        ("--population", plan.population),
        ("--elites", plan.elites),
        ("--random", plan.random),
        ("--generations", plan.generations),
    ] {
        if let Some(v) = value {
            args.extend([flag.to_owned(), v.to_string()]);
        }
    }
    args.extend(training_settings(training));
    args.extend(threads_option(threads));
    args.extend(executor_options(executor));
    args
}

/// `actfn train` of the activation `canonical` under `training`, seeded `seed`, in the
/// run folder `out`, publishing its result to `json_out`.
pub(crate) fn train(
    canonical: &str,
    training: &Training,
    seed: u64,
    out: &Path,
    json_out: &Path,
    data_dir: &Path,
    threads: Option<usize>,
) -> Vec<String> {
    let mut args = vec![
        "train".to_owned(),
        // `=`: a canonical expression may start with `-`.
        format!("--activation={canonical}"),
        "--dataset".into(),
        training.dataset.clone(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--seed".into(),
        seed.to_string(),
        "--out".into(),
        out.display().to_string(),
        // Machine mode: one line on stdout and per-epoch lines on stderr instead
        // of progress bars; the result itself is read from `--json-out`.
        "--json".into(),
        "--json-out".into(),
        json_out.display().to_string(),
    ];
    args.extend(training_settings(training));
    if let Some(n) = training.test_size {
        args.extend(["--test-size".into(), n.to_string()]);
    }
    args.extend(threads_option(threads));
    args
}

/// `actfn report` of the search in `dir` with its `top` best functions [default: the
/// search's top k], written to `json_out`.
pub(crate) fn report(dir: &Path, top: Option<usize>, json_out: &Path) -> Vec<String> {
    let mut args = vec!["report".to_owned(), dir.display().to_string()];
    if let Some(top) = top {
        args.extend(["--top".into(), top.to_string()]);
    }
    args.extend(["--json-out".into(), json_out.display().to_string()]);
    args
}

/// One axis of a scatter plot: its CSV column and its label.
pub(crate) struct Axis<'a> {
    pub(crate) column: &'a str,
    pub(crate) label: &'a str,
}

/// `actfn plot --scatter` of the CSV file `csv`, written to `out`.
pub(crate) fn scatter_plot(csv: &Path, x: Axis, y: Axis, title: &str, out: &Path) -> Vec<String> {
    vec![
        "plot".into(),
        "--scatter".into(),
        csv.display().to_string(),
        "--x".into(),
        x.column.into(),
        "--y".into(),
        y.column.into(),
        "--x-label".into(),
        x.label.into(),
        "--y-label".into(),
        y.label.into(),
        "--title".into(),
        title.into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

/// `actfn train` of `activation` as `bench-executors` times it: `options`' network and
/// images, no test images, `threads` threads, in the run folder `out`, publishing its
/// result to `json_out`.
pub(crate) fn bench_train(
    activation: &str,
    options: &bench_executors::Options,
    threads: usize,
    out: &Path,
    json_out: &Path,
) -> Vec<String> {
    vec![
        "train".into(),
        format!("--activation={activation}"),
        format!("--wrn-depth={}", options.wrn_depth),
        format!("--wrn-width={}", options.wrn_width),
        format!("--epochs={}", options.epochs),
        format!("--train-size={}", options.train_size),
        "--val-per-class=10".into(),
        "--test-size=0".into(),
        format!("--threads={threads}"),
        "--json".into(),
        format!("--json-out={}", json_out.display()),
        format!("--out={}", out.display()),
    ]
}

/// The options of `training` that `actfn train` and `actfn search --task cifar*` share
/// (`actfn`'s `TrainingArgs`). The test size is `train`'s alone (a search never tests), so
/// [`train`] adds it.
pub(crate) fn training_settings(training: &Training) -> Vec<String> {
    let mut args = vec![
        "--wrn-depth".to_owned(),
        training.depth.to_string(),
        "--wrn-width".into(),
        training.width.to_string(),
        "--epochs".into(),
        training.epochs.to_string(),
        "--milestones".into(),
        training
            .milestones
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        "--batch".into(),
        training.batch.to_string(),
        format!("--zca-epsilon={:e}", training.zca_epsilon),
        "--init".into(),
        training.init.clone(),
    ];
    if let Some(n) = training.val_per_class {
        args.extend(["--val-per-class".into(), n.to_string()]);
    }
    if let Some(n) = training.train_size {
        args.extend(["--train-size".into(), n.to_string()]);
    }
    args
}

/// `--threads N`, or nothing for libtorch's choice.
fn threads_option(threads: Option<usize>) -> Vec<String> {
    match threads {
        Some(t) => vec!["--threads".into(), t.to_string()],
        None => Vec::new(),
    }
}

/// The executor options of `actfn search` that give a search the executor of the final
/// runs.
pub(crate) fn executor_options(executor: &Executor) -> Vec<String> {
    let mut args = vec!["--executor".to_owned(), executor.kind().name().into()];
    match executor {
        Executor::Inline => {}
        Executor::Local(jobs) => args.extend(["--jobs".into(), jobs.to_string()]),
        Executor::Slurm { jobs, file, .. } => {
            if let Some(jobs) = jobs {
                args.extend(["--jobs".into(), jobs.to_string()]);
            }
            if let Some(path) = file {
                args.extend(["--slurm-options".into(), path.display().to_string()]);
            }
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use actfn_cluster::SlurmOptions;

    use super::*;
    use crate::reproduce::{load_preset, Table1, Table2, Table3};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The executor and thread count of the pinned lists: three local jobs of one thread.
    const LOCAL: Executor = Executor::Local(3);
    const THREADS: Option<usize> = Some(1);

    /// The searches of the smoke preset (Table 1's four, then Table 3's), as the reproduce
    /// commands ran them before their arguments were built here.
    #[test]
    fn smoke_search_arguments_are_pinned() {
        let t1: Table1 = load_preset(&root(), "table1", "smoke").unwrap();
        let t3: Table3 = load_preset(&root(), "table3", "smoke").unwrap();
        let mut got = Vec::new();
        for (i, plan) in t1.searches.iter().enumerate() {
            let out = Path::new("runs/smoke/table1")
                .join(crate::reproduce::search_dir_name(plan, &t1.search_training));
            got.push(search(
                plan,
                &t1.search_training,
                1 + i as u64,
                &out,
                Path::new("data"),
                THREADS,
                &LOCAL,
            ));
        }
        let out = Path::new("runs/smoke/table3").join(crate::reproduce::search_dir_name(
            &t3.search,
            &t3.search_training,
        ));
        got.push(search(
            &t3.search,
            &t3.search_training,
            31,
            &out,
            Path::new("data"),
            THREADS,
            &LOCAL,
        ));
        let want: [&[&str]; 5] = [
            &[
                "search",
                "--task",
                "cifar10",
                "--strategy",
                "exhaustive",
                "--depth",
                "1",
                "--seed",
                "1",
                "--out",
                "runs/smoke/table1/exhaustive-s1-f5f6f78c",
                "--data-dir",
                "data",
                "--unary",
                "tanh,atan,min0",
                "--binary",
                "mul,add",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "512",
                "--threads",
                "1",
                "--executor",
                "local",
                "--jobs",
                "3",
            ],
            &[
                "search",
                "--task",
                "cifar10",
                "--strategy",
                "random",
                "--depth",
                "2",
                "--seed",
                "2",
                "--out",
                "runs/smoke/table1/random-s2-45cfaa82",
                "--data-dir",
                "data",
                "--population",
                "4",
                "--generations",
                "2",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "512",
                "--threads",
                "1",
                "--executor",
                "local",
                "--jobs",
                "3",
            ],
            &[
                "search",
                "--task",
                "cifar10",
                "--strategy",
                "evolution",
                "--depth",
                "2",
                "--seed",
                "3",
                "--out",
                "runs/smoke/table1/evolution-loss-s2-15997498",
                "--data-dir",
                "data",
                "--fitness",
                "loss",
                "--population",
                "4",
                "--elites",
                "1",
                "--random",
                "1",
                "--generations",
                "2",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "512",
                "--threads",
                "1",
                "--executor",
                "local",
                "--jobs",
                "3",
            ],
            &[
                "search",
                "--task",
                "cifar10",
                "--strategy",
                "evolution",
                "--depth",
                "2",
                "--seed",
                "4",
                "--out",
                "runs/smoke/table1/evolution-accuracy-s2-6080c7b8",
                "--data-dir",
                "data",
                "--fitness",
                "accuracy",
                "--population",
                "4",
                "--elites",
                "1",
                "--random",
                "1",
                "--generations",
                "2",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "512",
                "--threads",
                "1",
                "--executor",
                "local",
                "--jobs",
                "3",
            ],
            &[
                "search",
                "--task",
                "cifar100",
                "--strategy",
                "exhaustive",
                "--depth",
                "1",
                "--seed",
                "31",
                "--out",
                "runs/smoke/table3/exhaustive-s1-202bc740",
                "--data-dir",
                "data",
                "--unary",
                "tanh,atan,min0",
                "--binary",
                "mul,add",
                "--wrn-depth",
                "16",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "1",
                "--train-size",
                "512",
                "--threads",
                "1",
                "--executor",
                "local",
                "--jobs",
                "3",
            ],
        ];
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(want) {
            assert_eq!(got, want);
        }
    }

    /// The final runs of the smoke preset (Table 1's CIFAR-10 and CIFAR-100 trainings,
    /// Table 2's, Table 3's): run 0 of ReLU, in the folders the run cache keys.
    #[test]
    fn smoke_train_arguments_are_pinned() {
        let t1: Table1 = load_preset(&root(), "table1", "smoke").unwrap();
        let t2: Table2 = load_preset(&root(), "table2", "smoke").unwrap();
        let t3: Table3 = load_preset(&root(), "table3", "smoke").unwrap();
        let trainings = [
            &t1.final_trainings[0],
            &t1.final_trainings[1],
            &t2.training,
            &t3.final_training,
        ];
        let want: [&[&str]; 4] = [
            &[
                "train",
                "--activation=relu(x)",
                "--dataset",
                "cifar10",
                "--data-dir",
                "data",
                "--seed",
                "1000",
                "--out",
                "runs/smoke/final/cifar10-wrn10-1-e1-bbeda03a/ca47f1151711f396/run-0",
                "--json",
                "--json-out",
                "runs/smoke/final/cifar10-wrn10-1-e1-bbeda03a/ca47f1151711f396/run-0/train.json",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "1024",
                "--test-size",
                "1000",
                "--threads",
                "1",
            ],
            &[
                "train",
                "--activation=relu(x)",
                "--dataset",
                "cifar100",
                "--data-dir",
                "data",
                "--seed",
                "1000",
                "--out",
                "runs/smoke/final/cifar100-wrn10-1-e1-a094a340/ca47f1151711f396/run-0",
                "--json",
                "--json-out",
                "runs/smoke/final/cifar100-wrn10-1-e1-a094a340/ca47f1151711f396/run-0/train.json",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "10",
                "--train-size",
                "1024",
                "--test-size",
                "1000",
                "--threads",
                "1",
            ],
            &[
                "train",
                "--activation=relu(x)",
                "--dataset",
                "cifar100",
                "--data-dir",
                "data",
                "--seed",
                "1000",
                "--out",
                "runs/smoke/final/cifar100-wrn10-1-e1-cf72bdb6/ca47f1151711f396/run-0",
                "--json",
                "--json-out",
                "runs/smoke/final/cifar100-wrn10-1-e1-cf72bdb6/ca47f1151711f396/run-0/train.json",
                "--wrn-depth",
                "10",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "1",
                "--train-size",
                "1024",
                "--test-size",
                "1000",
                "--threads",
                "1",
            ],
            &[
                "train",
                "--activation=relu(x)",
                "--dataset",
                "cifar100",
                "--data-dir",
                "data",
                "--seed",
                "1000",
                "--out",
                "runs/smoke/final/cifar100-wrn16-1-e1-74a13474/ca47f1151711f396/run-0",
                "--json",
                "--json-out",
                "runs/smoke/final/cifar100-wrn16-1-e1-74a13474/ca47f1151711f396/run-0/train.json",
                "--wrn-depth",
                "16",
                "--wrn-width",
                "1",
                "--epochs",
                "1",
                "--milestones",
                "",
                "--batch",
                "128",
                "--zca-epsilon=1e-2",
                "--init",
                "uniform",
                "--val-per-class",
                "1",
                "--train-size",
                "1024",
                "--test-size",
                "1000",
                "--threads",
                "1",
            ],
        ];
        for (training, want) in trainings.into_iter().zip(want) {
            let dir = Path::new("runs/smoke/final")
                .join(training.key())
                .join("ca47f1151711f396")
                .join("run-0");
            let got = train(
                "relu(x)",
                training,
                1000,
                &dir,
                &dir.join("train.json"),
                Path::new("data"),
                THREADS,
            );
            assert_eq!(got, want);
        }
    }

    #[test]
    fn executor_options_are_pinned() {
        assert_eq!(
            executor_options(&Executor::Inline),
            ["--executor", "inline"]
        );
        assert_eq!(
            executor_options(&LOCAL),
            ["--executor", "local", "--jobs", "3"]
        );
        let slurm = |file: Option<&str>, jobs| Executor::Slurm {
            options: Box::new(SlurmOptions::default()),
            file: file.map(PathBuf::from),
            jobs,
        };
        assert_eq!(
            executor_options(&slurm(None, None)),
            ["--executor", "slurm"]
        );
        assert_eq!(
            executor_options(&slurm(Some("experiments/slurm.ron"), Some(2))),
            [
                "--executor",
                "slurm",
                "--jobs",
                "2",
                "--slurm-options",
                "experiments/slurm.ron"
            ]
        );
    }

    #[test]
    fn report_plot_and_bench_arguments_are_pinned() {
        let dir = Path::new("runs/smoke/table1/exhaustive-s1-f5f6f78c");
        assert_eq!(
            report(
                dir,
                Some(50),
                &dir.with_file_name("exhaustive-s1-f5f6f78c.report-top50.json")
            ),
            [
                "report",
                "runs/smoke/table1/exhaustive-s1-f5f6f78c",
                "--top",
                "50",
                "--json-out",
                "runs/smoke/table1/exhaustive-s1-f5f6f78c.report-top50.json"
            ]
        );
        assert_eq!(
            report(dir, None, Path::new("r.json")),
            [
                "report",
                "runs/smoke/table1/exhaustive-s1-f5f6f78c",
                "--json-out",
                "r.json"
            ]
        );
        assert_eq!(
            scatter_plot(
                Path::new("results/smoke/figure5.csv"),
                Axis {
                    column: "table1_val_acc",
                    label: "Table 1 (%)"
                },
                Axis {
                    column: "table3_val_acc",
                    label: "Table 3 (%)"
                },
                "Figure 5",
                Path::new("results/smoke/figure5.png"),
            ),
            [
                "plot",
                "--scatter",
                "results/smoke/figure5.csv",
                "--x",
                "table1_val_acc",
                "--y",
                "table3_val_acc",
                "--x-label",
                "Table 1 (%)",
                "--y-label",
                "Table 3 (%)",
                "--title",
                "Figure 5",
                "--out",
                "results/smoke/figure5.png"
            ]
        );
        let options = bench_executors::Options {
            activations: vec!["x * sigmoid(x)".into()],
            train_size: 2000,
            epochs: 1,
            wrn_depth: 10,
            wrn_width: 1,
            jobs: 2,
            out: PathBuf::from("OUT"),
        };
        assert_eq!(
            bench_train(
                "x * sigmoid(x)",
                &options,
                2,
                Path::new("OUT/inline/run-1/run"),
                Path::new("OUT/inline/run-1/train.json"),
            ),
            [
                "train",
                "--activation=x * sigmoid(x)",
                "--wrn-depth=10",
                "--wrn-width=1",
                "--epochs=1",
                "--train-size=2000",
                "--val-per-class=10",
                "--test-size=0",
                "--threads=2",
                "--json",
                "--json-out=OUT/inline/run-1/train.json",
                "--out=OUT/inline/run-1/run"
            ]
        );
    }
}
