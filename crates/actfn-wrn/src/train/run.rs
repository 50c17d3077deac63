//! The training loop: [`train`] builds the model, resumes from a checkpoint, runs the
//! epochs (seeded shuffles and flips, SGD steps, validation) and reports how the run ended.
//!
//! Errors travel as `Result`s: a libtorch error in an epoch, the validation or the test
//! becomes [`TrainStatus::Failed`], a non-finite loss [`TrainStatus::Diverged`]. Nothing
//! here catches panics; the search's evaluator does that, once, as the last guard.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use actfn_expr::Expr;
use tch::Device;

use super::config::TrainConfig;
use super::outcome::{EpochMetrics, TrainOutcome, TrainStatus};
use super::precheck::precheck;
use super::run_dir::{save_ron, write_metrics_csv, CheckpointState, RunRecord};
use super::trainer::{build_trainer, evaluate, EpochEnd};
use crate::checkpoint;
use crate::data::TrainData;
use crate::error::{Result, WrnError};

/// Where and how a run writes, and on what device.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run's folder: `config.ron`, `metrics.csv`, `outcome.ron`, `checkpoint/`.
    /// Nothing is written without one.
    pub out_dir: Option<PathBuf>,
    /// Write a checkpoint at every epoch end (needs `out_dir`).
    pub checkpoint: bool,
    /// Resume from the checkpoint in `out_dir` if there is one of the same run.
    pub resume: bool,
    /// Show a progress bar per epoch (on a terminal).
    pub progress: bool,
    /// Device; `None` picks CUDA when available.
    pub device: Option<Device>,
    /// Stop after this many epochs of the configured schedule (successive halving's
    /// rungs): the learning-rate schedule stays the full run's, so with `checkpoint` a
    /// later run with a larger stop, or none, continues exactly where a run without a
    /// stop would be. The outcome's metrics are those after the stop's epoch, also when
    /// the checkpoint resumed from is already past it. `None` trains all epochs.
    pub stop_after: Option<usize>,
}

/// Sets libtorch's intra-op thread count (as `TrainConfig::threads` does for a run).
pub fn set_threads(threads: usize) {
    tch::set_num_threads(threads.max(1) as i32);
}

/// CUDA devices this process sees (0 without CUDA): how many workers a machine can give
/// one GPU each.
pub fn cuda_device_count() -> usize {
    usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
}

/// Trains the network of `config` (`config.arch()`) with `activation` on `data`.
///
/// Returns `Err` only for problems of the setup (an invalid configuration, malformed data,
/// an unwritable output folder). A candidate whose loss turns NaN or infinite comes back
/// as [`TrainStatus::Diverged`], one whose training raises an error (libtorch's, the
/// activation's) as [`TrainStatus::Failed`]; the process goes on either way. A panic is a
/// bug and is left to the caller's guard (the search's evaluator catches it). With an
/// output folder, the outcome is written to `outcome.ron` whatever the status.
pub fn train(
    activation: &Expr,
    data: &TrainData,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<TrainOutcome> {
    let outcome = train_run(activation, data, config, options)?;
    if let Some(dir) = &options.out_dir {
        save_ron(&dir.join("outcome.ron"), &outcome)?;
    }
    Ok(outcome)
}

fn train_run(
    activation: &Expr,
    data: &TrainData,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    config.validate()?;
    data.check()?;
    if let Some(t) = config.threads {
        set_threads(t);
    }
    let device = options.device.unwrap_or_else(Device::cuda_if_available);
    let act_name = activation.to_string();
    if let Some(dir) = &options.out_dir {
        fs::create_dir_all(dir).map_err(WrnError::io(dir))?;
        let record = RunRecord {
            activation: act_name.clone(),
            config,
            device: format!("{device:?}"),
        };
        save_ron(&dir.join("config.ron"), &record)?;
    }

    let fail = |reason: String, history: Vec<EpochMetrics>, epochs_run: usize| TrainOutcome {
        val_acc: f64::NAN,
        val_loss: f64::NAN,
        test_acc: None,
        test_loss: None,
        status: TrainStatus::Failed { reason },
        epochs_run,
        seconds: started.elapsed().as_secs_f64(),
        history,
    };

    // The pre-check, on a network of its own, unless this run continues from a checkpoint
    // (it passed then). It leaves nothing behind that the run below reads: the network is
    // built again from the seed and every epoch seeds its own randomness.
    let continues = options.resume
        && options
            .out_dir
            .as_deref()
            .and_then(checkpoint::find)
            .is_some();
    if let (Some(check), false) = (&config.precheck, continues) {
        match precheck(activation, data, config, check, device) {
            Ok(report) => {
                if let Some(reason) = report.diverged {
                    return Ok(TrainOutcome {
                        status: TrainStatus::Diverged {
                            epoch: 1,
                            reason: format!("pre-check: {reason}"),
                        },
                        ..fail(String::new(), vec![], 0)
                    });
                }
            }
            Err(WrnError::Torch(e)) => return Ok(fail(format!("pre-check: {e}"), vec![], 0)),
            Err(e) => return Err(e),
        }
    }

    // Build the model (its parameters, drawn from the seeded generator).
    let (mut vs, mut trainer) =
        match build_trainer(activation, data, config, device, options.progress)? {
            Ok(built) => built,
            Err(reason) => return Ok(fail(reason, vec![], 0)),
        };

    // Resume.
    let mut history: Vec<EpochMetrics> = Vec::new();
    let mut first_epoch = 0;
    let mut steps = 0u64;
    if let (true, Some(dir)) = (options.resume, &options.out_dir) {
        if let Some(ck) = checkpoint::find(dir) {
            let state: CheckpointState = checkpoint::read_state(&ck)?;
            // The thread count changes the last bits of CPU sums, not which run this
            // is: a run continued on another machine or share of it is the same run.
            let recorded = TrainConfig {
                threads: config.threads,
                ..state.config.clone()
            };
            if recorded != *config || state.activation != act_name {
                return Err(WrnError::Checkpoint(format!(
                    "{} holds a checkpoint of another run ({} with another configuration); \
                     use another output folder or delete it",
                    ck.display(),
                    state.activation
                )));
            }
            if let Some(momentum) = checkpoint::load(&ck, &mut vs)? {
                trainer.sgd.set_momentum_buffers(momentum)?;
            }
            history = state.history;
            first_epoch = state.epochs_done;
            steps = state.steps;
            // Always said, progress bars or not: a worker's log must show that a retried
            // or requeued training continued instead of starting over.
            eprintln!(
                "resuming from the checkpoint in {} after epoch {first_epoch} of {}",
                dir.display(),
                config.epochs
            );
        }
    }

    let end = options
        .stop_after
        .map_or(config.epochs, |stop| stop.min(config.epochs));
    for epoch in first_epoch..end {
        let epoch_start = Instant::now();
        let end = match trainer.epoch(epoch) {
            Ok(end) => end,
            Err(e) => return Ok(fail(format!("training: {e}"), history, epoch)),
        };
        let (loss, acc, epoch_steps) = match end {
            EpochEnd::Done { loss, acc, steps } => (loss, acc, steps),
            EpochEnd::Diverged(reason) => {
                return Ok(TrainOutcome {
                    status: TrainStatus::Diverged {
                        epoch: epoch + 1,
                        reason,
                    },
                    ..fail(String::new(), history, epoch)
                })
            }
        };
        steps += epoch_steps;
        let (val_loss, val_acc) = match evaluate(
            &trainer.net,
            &data.val_images,
            &data.val_labels,
            config.eval_batch_size,
            device,
        ) {
            Ok(v) => v,
            Err(e) => return Ok(fail(format!("validation: {e}"), history, epoch + 1)),
        };
        history.push(EpochMetrics {
            epoch: epoch + 1,
            lr: config.lr_at(epoch),
            train_loss: loss,
            train_acc: acc,
            val_loss,
            val_acc,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if options.progress {
            eprintln!(
                "epoch {}/{}: loss {loss:.4} acc {acc:.4} val_loss {val_loss:.4} val_acc {val_acc:.4} ({:.1}s)",
                epoch + 1,
                config.epochs,
                epoch_start.elapsed().as_secs_f64()
            );
        }
        if let Some(dir) = &options.out_dir {
            write_metrics_csv(&dir.join("metrics.csv"), &history)?;
            if options.checkpoint {
                let state = CheckpointState {
                    activation: act_name.clone(),
                    config: config.clone(),
                    epochs_done: epoch + 1,
                    steps,
                    history: history.clone(),
                };
                checkpoint::save(dir, &vs, &trainer.sgd.momentum_buffers(), &state)?;
            }
        }
        if !val_loss.is_finite() {
            return Ok(TrainOutcome {
                status: TrainStatus::Diverged {
                    epoch: epoch + 1,
                    reason: format!("validation loss is {val_loss} after epoch {}", epoch + 1),
                },
                ..fail(String::new(), history, epoch + 1)
            });
        }
    }

    let (epochs_run, last) = match options.stop_after {
        None => (config.epochs.max(first_epoch), history.last()),
        // A checkpoint past the stop: the metrics of the stop's epoch, from its history.
        Some(_) => (end, end.checked_sub(1).and_then(|e| history.get(e))),
    };
    let (val_loss, val_acc) = match last {
        Some(m) => (m.val_loss, m.val_acc),
        // Zero epochs: evaluate the initial network.
        None => match evaluate(
            &trainer.net,
            &data.val_images,
            &data.val_labels,
            config.eval_batch_size,
            device,
        ) {
            Ok(v) => v,
            Err(e) => return Ok(fail(format!("validation: {e}"), history, 0)),
        },
    };
    let (test_loss, test_acc) = match &data.test {
        None => (None, None),
        Some((x, y)) => match evaluate(&trainer.net, x, y, config.eval_batch_size, device) {
            Ok((l, a)) => (Some(l), Some(a)),
            Err(e) => return Ok(fail(format!("test: {e}"), history, epochs_run)),
        },
    };
    Ok(TrainOutcome {
        val_acc,
        val_loss,
        test_acc,
        test_loss,
        status: TrainStatus::Ok,
        epochs_run,
        seconds: started.elapsed().as_secs_f64(),
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::ActivationMode;
    use crate::train::PrecheckConfig;
    use actfn_expr::{BinaryOp, UnaryOp};
    use tch::{Kind, Tensor};

    /// Synthetic images: noise plus a per-class colour shift (class c brightens channel
    /// c, the last class darkens all three). Separable, but a network must learn it.
    fn synthetic(classes: i64, per_class: i64, seed: i64) -> (Tensor, Tensor) {
        assert!(classes <= 4);
        tch::manual_seed(seed);
        let n = classes * per_class;
        let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(classes);
        let means = Tensor::from_slice(&[
            0.5f32, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5, -0.5, -0.5, -0.5,
        ])
        .view([4, 3, 1, 1]);
        let images = Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu))
            + means.index_select(0, &labels);
        (images, labels)
    }

    fn data(classes: i64) -> TrainData {
        let (train_images, train_labels) = synthetic(classes, 64, 1);
        let (val_images, val_labels) = synthetic(classes, 10, 2);
        let (test_x, test_y) = synthetic(classes, 10, 3);
        TrainData {
            train_images,
            train_labels,
            val_images,
            val_labels,
            test: Some((test_x, test_y)),
            num_classes: classes,
        }
    }

    fn tiny() -> TrainConfig {
        TrainConfig {
            depth: 10,
            width: 1,
            epochs: 3,
            milestones: vec![2],
            batch_size: 32,
            eval_batch_size: 100,
            threads: None,
            ..TrainConfig::search()
        }
    }

    /// libtorch's random generator is global to the process, and the test harness runs
    /// tests in parallel threads: a test that checks bitwise reproducibility runs itself
    /// again, alone, in a child process. Returns true in the parent (after the child
    /// passed), false in the child, which then runs the test body.
    fn rerun_alone(name: &str) -> bool {
        if std::env::var_os("ACTFN_WRN_ALONE").is_some() {
            return false;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env("ACTFN_WRN_ALONE", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{name} failed alone:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        true
    }

    #[test]
    fn seeded_training_learns_separable_data() {
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let out = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();
        assert_eq!(out.status, TrainStatus::Ok, "{out:?}");
        assert_eq!(out.epochs_run, 3);
        assert_eq!(out.history.len(), 3);
        // Chance is 0.25.
        assert!(out.val_acc >= 0.7, "validation accuracy {}", out.val_acc);
        assert!(out.test_acc.unwrap() >= 0.7, "{out:?}");
    }

    #[test]
    fn same_seed_same_run() {
        if rerun_alone("train::run::tests::same_seed_same_run") {
            return;
        }
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let cfg = TrainConfig {
            epochs: 2,
            ..tiny()
        };
        let a = train(&relu, &data, &cfg, &RunOptions::default()).unwrap();
        let b = train(&relu, &data, &cfg, &RunOptions::default()).unwrap();
        assert_eq!((a.val_acc, a.val_loss), (b.val_acc, b.val_loss));
        assert_eq!(a.history[1].train_loss, b.history[1].train_loss);
        let c = train(
            &relu,
            &data,
            &TrainConfig { seed: 1, ..cfg },
            &RunOptions::default(),
        );
        assert_ne!(c.unwrap().history[0].train_loss, a.history[0].train_loss);
    }

    #[test]
    fn symbolic_activation_trains_too() {
        let data = data(4);
        // x * sigmoid(x) (swish), through the symbolic-gradient path.
        let swish = Expr::binary(
            BinaryOp::Mul,
            Expr::X,
            Expr::unary(UnaryOp::Sigmoid, Expr::X),
        );
        let out = train(&swish, &data, &tiny(), &RunOptions::default()).unwrap();
        assert_eq!(out.status, TrainStatus::Ok, "{out:?}");
        assert!(out.val_acc >= 0.7, "validation accuracy {}", out.val_acc);
    }

    #[test]
    fn diverging_activation_is_reported_not_fatal() {
        let data = data(4);
        // exp(exp(x^3)) overflows to inf for x > ~1.6: the loss turns NaN at once.
        let blowup = Expr::unary(
            UnaryOp::Exp,
            Expr::unary(UnaryOp::Exp, Expr::unary(UnaryOp::Cube, Expr::X)),
        );
        for mode in [ActivationMode::SymbolicGrad, ActivationMode::Autograd] {
            let cfg = TrainConfig { mode, ..tiny() };
            let dir = tempfile::tempdir().unwrap();
            let options = RunOptions {
                out_dir: Some(dir.path().to_path_buf()),
                ..RunOptions::default()
            };
            let out = train(&blowup, &data, &cfg, &options).unwrap();
            let recorded = fs::read_to_string(dir.path().join("outcome.ron")).unwrap();
            assert!(
                recorded.contains("Diverged") || recorded.contains("diverged"),
                "{recorded}"
            );
            match &out.status {
                TrainStatus::Diverged { epoch, reason } => {
                    assert_eq!(*epoch, 1);
                    assert!(reason.contains("loss"), "{reason}");
                }
                other => panic!("expected divergence, got {other:?}"),
            }
            assert!(out.val_acc.is_nan());
            assert_eq!(out.test_acc, None);
        }
    }

    #[test]
    fn precheck_stops_a_diverging_run_and_leaves_a_passing_one_bit_for_bit() {
        if rerun_alone("train::run::tests::precheck_stops_a_diverging_run_and_leaves_a_passing_one_bit_for_bit") {
            return;
        }
        let data = data(4);
        let checked = TrainConfig {
            precheck: Some(PrecheckConfig::default()),
            ..tiny()
        };
        let swish: Expr = "x * sigmoid(x)".parse().unwrap();
        let plain = train(&swish, &data, &tiny(), &RunOptions::default()).unwrap();
        let with = train(&swish, &data, &checked, &RunOptions::default()).unwrap();
        assert_eq!(with.status, TrainStatus::Ok);
        for (a, b) in plain.history.iter().zip(&with.history) {
            assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits());
            assert_eq!(a.val_loss.to_bits(), b.val_loss.to_bits());
        }
        assert_eq!(plain.val_acc.to_bits(), with.val_acc.to_bits());

        let blowup: Expr = "exp(exp(x^3))".parse().unwrap();
        let out = train(&blowup, &data, &checked, &RunOptions::default()).unwrap();
        match &out.status {
            TrainStatus::Diverged { epoch: 1, reason } => {
                assert!(reason.starts_with("pre-check: training loss "), "{reason}")
            }
            other => panic!("expected the pre-check to stop it, got {other:?}"),
        }
        assert_eq!(out.epochs_run, 0);
        assert!(out.history.is_empty());
        let report = precheck(
            &blowup,
            &data,
            &tiny(),
            &PrecheckConfig::default(),
            Device::Cpu,
        )
        .unwrap();
        assert!(
            report.diverged.is_some() && report.losses.len() <= 3,
            "{report:?}"
        );
    }

    #[test]
    fn a_libtorch_error_in_training_is_a_failed_run() {
        // Labels past the class count: the loss raises an error in the first step.
        let mut data = data(4);
        data.num_classes = 3;
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let out = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();
        match &out.status {
            TrainStatus::Failed { reason } => {
                assert!(reason.starts_with("training: libtorch: "), "{reason}")
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(out.epochs_run, 0);
    }

    #[test]
    fn checkpoint_resume_continues_the_same_run() {
        if rerun_alone("train::run::tests::checkpoint_resume_continues_the_same_run") {
            return;
        }
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let full = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();

        // A run killed after epoch 2 of 3: train 2 epochs (same schedule so far) with
        // checkpoints, then relabel the checkpoint as the 3-epoch run's.
        let dir = tempfile::tempdir().unwrap();
        let options = RunOptions {
            out_dir: Some(dir.path().to_path_buf()),
            checkpoint: true,
            resume: true,
            ..RunOptions::default()
        };
        let two = TrainConfig {
            epochs: 2,
            ..tiny()
        };
        train(&relu, &data, &two, &options).unwrap();
        for file in ["config.ron", "metrics.csv", "outcome.ron"] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        let ck = checkpoint::find(dir.path()).unwrap();
        let mut state: CheckpointState = checkpoint::read_state(&ck).unwrap();
        assert_eq!(state.epochs_done, 2);
        state.config = tiny();
        let text = ron::ser::to_string_pretty(&state, Default::default()).unwrap();
        fs::write(ck.join("state.ron"), text).unwrap();

        let resumed = train(&relu, &data, &tiny(), &options).unwrap();
        assert_eq!(resumed.status, TrainStatus::Ok);
        assert_eq!(resumed.epochs_run, 3);
        assert_eq!(resumed.history.len(), 3);
        for (r, f) in resumed.history.iter().zip(&full.history) {
            assert_eq!((r.train_loss, r.val_loss), (f.train_loss, f.val_loss));
        }
        assert_eq!(resumed.val_acc, full.val_acc);
        let csv = fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);

        // Another configuration in the same folder is refused, not silently mixed.
        let other = TrainConfig { seed: 9, ..tiny() };
        let err = train(&relu, &data, &other, &options).unwrap_err();
        assert!(err.to_string().contains("another run"), "{err}");
        // Another thread count is the same run: it continues (here: nothing left to do).
        let one_thread = TrainConfig {
            threads: Some(1),
            ..tiny()
        };
        let again = train(&relu, &data, &one_thread, &options).unwrap();
        assert_eq!((again.epochs_run, again.val_acc), (3, full.val_acc));
    }

    #[test]
    fn rungs_stop_early_and_continue_to_the_full_runs_bits() {
        if rerun_alone("train::run::tests::rungs_stop_early_and_continue_to_the_full_runs_bits") {
            return;
        }
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        // 3 epochs, the learning rate cut at epoch 2: the rungs keep that schedule.
        let full = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let until = |stop: Option<usize>| RunOptions {
            out_dir: Some(dir.path().to_path_buf()),
            checkpoint: true,
            resume: true,
            stop_after: stop,
            ..RunOptions::default()
        };
        let first = train(&relu, &data, &tiny(), &until(Some(1))).unwrap();
        assert_eq!(
            (first.status.clone(), first.epochs_run),
            (TrainStatus::Ok, 1)
        );
        assert_eq!(first.val_loss.to_bits(), full.history[0].val_loss.to_bits());
        let second = train(&relu, &data, &tiny(), &until(Some(2))).unwrap();
        assert_eq!(second.epochs_run, 2);
        assert_eq!(second.val_acc.to_bits(), full.history[1].val_acc.to_bits());
        let last = train(&relu, &data, &tiny(), &until(Some(3))).unwrap();
        assert_eq!(last.epochs_run, 3);
        assert_eq!(last.val_loss.to_bits(), full.val_loss.to_bits());
        assert_eq!(last.val_acc.to_bits(), full.val_acc.to_bits());
        // Asked again for an earlier rung, past which the checkpoint already is: that
        // rung's metrics, nothing trained.
        let again = train(&relu, &data, &tiny(), &until(Some(1))).unwrap();
        assert_eq!(again.epochs_run, 1);
        assert_eq!(again.val_loss.to_bits(), first.val_loss.to_bits());
        assert_eq!(
            checkpoint::find(dir.path()).map(|ck| {
                checkpoint::read_state::<CheckpointState>(&ck)
                    .unwrap()
                    .epochs_done
            }),
            Some(3)
        );
    }
}
