//! The evaluator of a real search: trains a WRN with each candidate activation on a CIFAR
//! training split and scores it on the validation split.
//!
//! [`WrnEvaluator::new`] prepares the data once for the whole search (load, balanced
//! split, featurewise centring and ZCA fitted on the training split and cached on disk; no
//! test set), then [`Evaluator::evaluate`] trains one candidate after another with
//! [`train::train`] and the candidate's seed. A candidate that diverges, fails or panics is
//! reported as a status; only an error of the setup stops the search. The data preparation
//! itself is [`crate::data::prepare_search_data`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use actfn_evo::{
    guarded, stable_hash, Candidate, Evaluation, Evaluator, EvoError, Job, RecordId, Status,
};
use serde::Serialize;
use tch::Device;

pub use crate::data::{prepare_search_data, SearchData};
use crate::data::{DataConfig, TrainData};
use crate::error::Result;
use crate::train::{
    self, PrecheckConfig, PrecheckReport, RunOptions, TrainConfig, TrainOutcome, TrainStatus,
};

/// The version of this evaluator, part of its configuration hash. Bump it when a change
/// of the code changes the outcome of an evaluation.
pub const EVALUATOR_VERSION: &str = "actfn-wrn/search-evaluator/v1";

/// A one-line progress message, called after each candidate.
pub type LogFn = Box<dyn FnMut(&str)>;

/// Trains WRN-d-k on a CIFAR split with each candidate activation (see the module).
pub struct WrnEvaluator {
    data: TrainData,
    data_config: DataConfig,
    train: TrainConfig,
    fingerprint: u64,
    prepare_seconds: f64,
    device: Option<Device>,
    log: Option<LogFn>,
    /// Halving: the run folder of each record, where its rungs continue one another.
    run_folder: Option<RunFolderFn>,
}

/// The run folder of a record (see [`WrnEvaluator::with_run_folders`]).
pub type RunFolderFn = Box<dyn Fn(RecordId) -> PathBuf>;

impl fmt::Debug for WrnEvaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrnEvaluator")
            .field("data_config", &self.data_config)
            .field("train", &self.train)
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .field("train_images", &self.data.train_images.size())
            .field("val_images", &self.data.val_images.size())
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What the configuration hash covers.
#[derive(Serialize)]
struct HashKey<'a> {
    version: &'a str,
    data_fingerprint: String,
    data: &'a DataConfig,
    train: TrainConfig,
}

/// The configuration hash of an evaluator of `data` and `train` over data with
/// `fingerprint`: everything that decides an outcome besides candidate and seed.
/// `threads` and `eval_batch_size` do not change results, and the seed is the
/// candidate's, so those are left out.
pub fn config_hash(data: &DataConfig, train: &TrainConfig, fingerprint: u64) -> String {
    let key = HashKey {
        version: EVALUATOR_VERSION,
        data_fingerprint: format!("{fingerprint:016x}"),
        data,
        train: TrainConfig {
            threads: None,
            eval_batch_size: 0,
            seed: 0,
            ..train.clone()
        },
    };
    let text = ron::to_string(&key).expect("plain configuration data serializes");
    format!("{:016x}", stable_hash(text.as_bytes()))
}

impl WrnEvaluator {
    /// Checks `train`, sets libtorch's thread count (`train.threads`) and prepares the data
    /// from `data_dir` once ([`prepare_search_data`]). `train.seed` is ignored: every
    /// candidate is trained with its own seed.
    pub fn new(data_dir: &Path, data_config: DataConfig, train: TrainConfig) -> Result<Self> {
        train.validate()?;
        if let Some(t) = train.threads {
            train::set_threads(t);
        }
        let start = Instant::now();
        let SearchData { data, fingerprint } = prepare_search_data(data_dir, &data_config)?;
        Ok(WrnEvaluator {
            data,
            data_config,
            train,
            fingerprint,
            prepare_seconds: start.elapsed().as_secs_f64(),
            device: None,
            log: None,
            run_folder: None,
        })
    }

    /// An evaluator over data prepared elsewhere (`data.fingerprint` identifies the data in
    /// the configuration hash; `data_config` should be what the data were prepared with).
    pub fn from_data(
        data: SearchData,
        data_config: DataConfig,
        train: TrainConfig,
    ) -> Result<Self> {
        train.validate()?;
        if let Some(t) = train.threads {
            train::set_threads(t);
        }
        Ok(WrnEvaluator {
            data: data.data,
            data_config,
            train,
            fingerprint: data.fingerprint,
            prepare_seconds: 0.0,
            device: None,
            log: None,
            run_folder: None,
        })
    }

    /// Trains on `device` instead of CUDA-if-available.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// Calls `log` with a one-line summary after each candidate.
    pub fn with_log(mut self, log: impl FnMut(&str) + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// The data configuration.
    pub fn data_config(&self) -> &DataConfig {
        &self.data_config
    }

    /// The training configuration (its seed is replaced by each candidate's).
    pub fn train_config(&self) -> &TrainConfig {
        &self.train
    }

    /// The prepared data.
    pub fn data(&self) -> &TrainData {
        &self.data
    }

    /// Seconds [`WrnEvaluator::new`] spent loading, splitting and whitening.
    pub fn prepare_seconds(&self) -> f64 {
        self.prepare_seconds
    }

    /// Trains one candidate. `Err` only for a failure of the setup, which would fail every
    /// candidate alike. A panic (a bug: training reports errors as values) becomes
    /// [`Status::Failed`]; this is the one place where the trainer's panics are caught.
    pub fn evaluate_one(&self, candidate: &Candidate) -> Result<Evaluation, EvoError> {
        self.train_candidate(
            candidate,
            RunOptions {
                device: self.device,
                ..RunOptions::default()
            },
        )
    }

    /// [`evaluate_one`](Self::evaluate_one) with the run's files in `run_dir` and a
    /// checkpoint at every epoch end: a worker killed or requeued mid-training and started
    /// again on the same folder resumes from its last epoch, with the same result as an
    /// uninterrupted run.
    ///
    /// With `until`, the training stops after that epoch of the full schedule (a rung of
    /// successive halving) and a later call with a larger `until`, or none, continues it
    /// from its checkpoint: the evaluation after the last epoch is the same, bit for bit,
    /// as one uninterrupted training's.
    pub fn evaluate_in(
        &self,
        candidate: &Candidate,
        run_dir: &Path,
        until: Option<u32>,
    ) -> Result<Evaluation, EvoError> {
        self.train_candidate(
            candidate,
            RunOptions {
                out_dir: Some(run_dir.to_path_buf()),
                checkpoint: true,
                resume: true,
                device: self.device,
                stop_after: until.map(|e| e as usize),
                ..RunOptions::default()
            },
        )
    }

    /// Runs the divergence pre-check of `candidate` as its training with `check` would
    /// (this evaluator's training settings, the candidate's seed), without training.
    pub fn precheck(
        &self,
        candidate: &Candidate,
        check: &PrecheckConfig,
    ) -> Result<PrecheckReport> {
        let config = TrainConfig {
            seed: candidate.seed,
            ..self.train.clone()
        };
        if let Some(t) = config.threads {
            train::set_threads(t);
        }
        let device = self.device.unwrap_or_else(Device::cuda_if_available);
        train::precheck(&candidate.expr, &self.data, &config, check, device)
    }

    /// Trains the candidates of a halving search in run folders named by their record
    /// (`folder(id)`), so that a rung continues where the previous one stopped; without
    /// it, a [`Job`] with an `until_epoch` is refused.
    pub fn with_run_folders(mut self, folder: impl Fn(RecordId) -> PathBuf + 'static) -> Self {
        self.run_folder = Some(Box::new(folder));
        self
    }

    fn train_candidate(
        &self,
        candidate: &Candidate,
        options: RunOptions,
    ) -> Result<Evaluation, EvoError> {
        let config = TrainConfig {
            seed: candidate.seed,
            ..self.train.clone()
        };
        guarded(|| {
            train::train(&candidate.expr, &self.data, &config, &options)
                .map(evaluation)
                .map_err(|e| EvoError::Evaluator(Box::new(e)))
        })
    }
}

/// The search's view of a training run.
fn evaluation(outcome: TrainOutcome) -> Evaluation {
    let status = match outcome.status {
        TrainStatus::Ok => Status::Ok,
        TrainStatus::Diverged { reason, .. } => Status::Diverged { reason },
        TrainStatus::Failed { reason } => Status::Failed { reason },
    };
    Evaluation {
        val_acc: outcome.val_acc,
        val_loss: outcome.val_loss,
        status,
        epochs: u32::try_from(outcome.epochs_run).unwrap_or(u32::MAX),
        seconds: outcome.seconds,
        worker: None,
    }
    .sanitized()
}

/// One line about a finished candidate.
fn summary_line(i: usize, n: usize, candidate: &Candidate, e: &Evaluation) -> String {
    let what = match &e.status {
        Status::Ok => format!("ok  val_acc {:.4}  val_loss {:.4}", e.val_acc, e.val_loss),
        Status::Diverged { reason } => format!("diverged ({reason})"),
        Status::Failed { reason } => format!("failed ({reason})"),
    };
    format!(
        "candidate {}/{n}: {}: {what}  [{} epochs, {:.1} s]",
        i + 1,
        candidate.expr,
        e.epochs,
        e.seconds
    )
}

impl Evaluator for WrnEvaluator {
    fn config_hash(&self) -> String {
        config_hash(&self.data_config, &self.train, self.fingerprint)
    }

    fn halving_budget(&self) -> Option<u32> {
        u32::try_from(self.train.epochs).ok()
    }

    /// A full evaluation trains in memory ([`evaluate_one`](Self::evaluate_one)); a rung
    /// of halving trains in the job's run folder ([`evaluate_in`](Self::evaluate_in)),
    /// where the next rung continues it.
    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        if self.run_folder.is_none() && jobs.iter().any(|job| job.until_epoch.is_some()) {
            return Err(EvoError::Protocol(
                "a halving search needs run folders to continue its rungs in".into(),
            ));
        }
        for (i, job) in jobs.iter().enumerate() {
            let candidate = &job.candidate;
            let evaluation = match (job.until_epoch, &self.run_folder) {
                (Some(epochs), Some(folder)) => {
                    let run_dir = folder(job.id);
                    std::fs::create_dir_all(&run_dir).map_err(|e| {
                        EvoError::Evaluator(
                            format!("cannot create {}: {e}", run_dir.display()).into(),
                        )
                    })?;
                    self.evaluate_in(candidate, &run_dir, Some(epochs))?
                }
                _ => self.evaluate_one(candidate)?,
            };
            if let Some(log) = &mut self.log {
                log(&summary_line(i, jobs.len(), candidate, &evaluation));
            }
            sink(i, evaluation)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use actfn_evo::{
        create_dir, open_dir, run_search, EvolutionConfig, FitnessMetric, RecordStatus,
        SearchConfig, StoredConfig, Strategy,
    };
    use actfn_expr::{Expr, SearchSpace};

    use super::*;
    use crate::data::{synthetic, Cifar, SplitConfig};
    use crate::zca::PreprocessConfig;

    /// Synthetic CIFAR-10 in the official layout: 20 training images per class.
    fn synthetic_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        synthetic::write_dir(Cifar::Cifar10, 4, tmp.path());
        tmp
    }

    fn data_config(zca: bool) -> DataConfig {
        DataConfig {
            dataset: Cifar::Cifar10.into(),
            image_size: None,
            split: SplitConfig {
                val_per_class: 2,
                train_size: Some(60),
                seed: 0,
            },
            preprocess: PreprocessConfig {
                zca,
                ..PreprocessConfig::default()
            },
            // 40 records per file instead of 10,000.
            allow_partial: true,
        }
    }

    /// WRN-10-1, one epoch.
    fn tiny() -> TrainConfig {
        TrainConfig {
            depth: 10,
            width: 1,
            epochs: 1,
            milestones: vec![],
            batch_size: 32,
            ..TrainConfig::search()
        }
    }

    fn candidate(text: &str) -> Candidate {
        Candidate {
            expr: text.parse::<Expr>().unwrap(),
            seed: 1,
        }
    }

    /// Full evaluations of `batch`, as records 0, 1, ... of generation 0.
    fn jobs(batch: &[Candidate]) -> Vec<Job> {
        batch
            .iter()
            .enumerate()
            .map(|(index, candidate)| Job {
                id: RecordId {
                    generation: 0,
                    index,
                },
                candidate: candidate.clone(),
                until_epoch: None,
            })
            .collect()
    }

    #[test]
    fn hash_covers_what_changes_results_only() {
        let d = data_config(true);
        let t = tiny();
        let h = config_hash(&d, &t, 7);
        assert_eq!(h.len(), 16);
        let same = TrainConfig {
            threads: Some(3),
            eval_batch_size: 17,
            seed: 99,
            ..t.clone()
        };
        assert_eq!(config_hash(&d, &same, 7), h);
        assert_ne!(config_hash(&d, &t, 8), h);
        assert_ne!(
            config_hash(
                &d,
                &TrainConfig {
                    epochs: 2,
                    ..t.clone()
                },
                7
            ),
            h
        );
        assert_ne!(
            config_hash(
                &d,
                &TrainConfig {
                    milestones: vec![1],
                    ..t.clone()
                },
                7
            ),
            h
        );
        assert_ne!(config_hash(&data_config(false), &t, 7), h);
        let he = TrainConfig {
            init: crate::model::ConvInit::He,
            ..t.clone()
        };
        assert_ne!(t.init, he.init);
        assert_ne!(config_hash(&d, &he, 7), h);
        let mut other_epsilon = d.clone();
        other_epsilon.preprocess.zca_epsilon *= 10.0;
        assert_ne!(config_hash(&other_epsilon, &t, 7), h);
        let mut other_split = d.clone();
        other_split.split.train_size = Some(50);
        assert_ne!(config_hash(&other_split, &t, 7), h);
    }

    #[test]
    fn prepares_splits_without_a_test_set_and_reports_missing_data() {
        let tmp = synthetic_dir();
        let prepared = prepare_search_data(tmp.path(), &data_config(false)).unwrap();
        let d = &prepared.data;
        assert_eq!(d.train_images.size(), vec![60, 3, 32, 32]);
        assert_eq!(d.val_images.size(), vec![20, 3, 32, 32]);
        assert!(d.test.is_none());
        assert_eq!(d.num_classes, 10);
        let again = prepare_search_data(tmp.path(), &data_config(false)).unwrap();
        assert_eq!(again.fingerprint, prepared.fingerprint);

        let empty = tempfile::tempdir().unwrap();
        let err = WrnEvaluator::new(empty.path(), data_config(false), tiny()).unwrap_err();
        assert!(
            err.to_string().contains("actfn data fetch cifar10"),
            "{err}"
        );
        let bad = TrainConfig {
            depth: 11,
            ..tiny()
        };
        assert!(WrnEvaluator::new(tmp.path(), data_config(false), bad).is_err());
    }

    #[test]
    fn a_diverging_candidate_is_a_status_and_every_candidate_is_reported() {
        let tmp = synthetic_dir();
        let lines = Rc::new(RefCell::new(Vec::<String>::new()));
        let log = Rc::clone(&lines);
        let mut ev = WrnEvaluator::new(tmp.path(), data_config(false), tiny())
            .unwrap()
            .with_device(Device::Cpu)
            .with_log(move |l| log.borrow_mut().push(l.to_owned()));
        let batch = [
            candidate("relu(x)"),
            candidate("exp(exp(exp(x)))"),
            candidate("mul(x, sigmoid(x))"),
        ];
        let mut got: Vec<Option<Evaluation>> = vec![None; batch.len()];
        ev.evaluate(&jobs(&batch), &mut |i, e| {
            assert!(got[i].is_none(), "candidate {i} reported twice");
            got[i] = Some(e);
            Ok(())
        })
        .unwrap();
        let got: Vec<Evaluation> = got.into_iter().map(Option::unwrap).collect();
        for i in [0, 2] {
            assert_eq!(got[i].status, Status::Ok, "{:?}", got[i]);
            assert_eq!(got[i].epochs, 1);
            assert!((0.0..=1.0).contains(&got[i].val_acc));
            assert!(got[i].val_loss.is_finite());
        }
        assert!(
            matches!(&got[1].status, Status::Diverged { reason } if reason.contains("loss")),
            "{:?}",
            got[1]
        );
        assert!(got[1].val_acc.is_nan());
        {
            let lines = lines.borrow();
            assert_eq!(lines.len(), 3);
            assert!(
                lines[1].starts_with("candidate 2/3: exp(exp(exp(x))): diverged"),
                "{}",
                lines[1]
            );
        }

        // A failing sink stops the evaluation with its error.
        let mut calls = 0;
        let err = ev
            .evaluate(&jobs(&batch[..2]), &mut |_, _| {
                calls += 1;
                Err(EvoError::Protocol("disk full".into()))
            })
            .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(calls, 1);
    }

    /// Counts the candidates an inner evaluator is given.
    struct Counting<'a> {
        inner: &'a mut WrnEvaluator,
        trained: usize,
    }

    impl Evaluator for Counting<'_> {
        fn config_hash(&self) -> String {
            self.inner.config_hash()
        }

        fn evaluate(
            &mut self,
            jobs: &[Job],
            sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
        ) -> Result<(), EvoError> {
            self.trained += jobs.len();
            self.inner.evaluate(jobs, sink)
        }
    }

    /// A tiny evolution (population 3, 2 generations) end to end on synthetic data:
    /// records are written, and running it again trains nothing. (Centring only: a ZCA
    /// fit over 3072 features takes half a minute on two cores; the CLI's test of
    /// `actfn search --task cifar10` runs the default pipeline with ZCA.)
    #[test]
    fn tiny_evolution_records_everything_and_resumes_without_training() {
        let data = synthetic_dir();
        let out = tempfile::tempdir().unwrap();
        let search = SearchConfig::new(
            Strategy::Evolution(EvolutionConfig {
                population: 3,
                elites: 1,
                random: 1,
                generations: 2,
                fitness: FitnessMetric::Loss,
            }),
            5,
            SearchSpace::paper(2),
        );
        let task = (data_config(false), tiny());
        let mut ev = WrnEvaluator::new(data.path(), task.0.clone(), task.1.clone())
            .unwrap()
            .with_device(Device::Cpu);
        let stored = StoredConfig {
            search: search.clone(),
            task: task.clone(),
            config_hash: ev.config_hash(),
        };
        let mut journal = create_dir(out.path(), &stored).unwrap();
        let mut counting = Counting {
            inner: &mut ev,
            trained: 0,
        };
        let first = run_search(&search, &mut journal, &mut counting, &mut |_| {}).unwrap();
        assert!(counting.trained >= 3, "{}", counting.trained);
        // Three places in each of two generations (replaced draws have a record too).
        let placed = first.records.iter().filter(|r| r.slot.is_some()).count();
        assert_eq!(placed, 6);
        assert!(first
            .records
            .iter()
            .all(|r| r.config_hash == stored.config_hash));
        let trained = first.records.iter().filter(|r| r.trained()).count();
        assert_eq!(trained, counting.trained);
        for r in &first.records {
            assert_ne!(r.status, RecordStatus::Failed, "{r:?}");
        }
        let text = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
        assert_eq!(text.lines().count(), first.records.len());

        // Resume: a new evaluator from the same configuration, the same hash, nothing
        // trained again.
        let (stored2, mut journal2): (StoredConfig<(DataConfig, TrainConfig)>, _) =
            open_dir(out.path()).unwrap();
        assert_eq!(stored2, stored);
        let mut ev2 =
            WrnEvaluator::new(data.path(), stored2.task.0.clone(), stored2.task.1.clone())
                .unwrap()
                .with_device(Device::Cpu);
        stored2.check_evaluator(&ev2).unwrap();
        let mut counting = Counting {
            inner: &mut ev2,
            trained: 0,
        };
        let again = run_search(&search, &mut journal2, &mut counting, &mut |_| {}).unwrap();
        assert_eq!(counting.trained, 0);
        let key = |rs: &[actfn_evo::Record]| -> Vec<(usize, usize, String, RecordStatus)> {
            rs.iter()
                .map(|r| (r.generation, r.index, r.expr.clone(), r.status))
                .collect()
        };
        assert_eq!(key(&again.records), key(&first.records));
        assert_eq!(
            std::fs::read_to_string(out.path().join("records.jsonl")).unwrap(),
            text
        );
    }
}
