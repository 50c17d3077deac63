//! Successive halving end to end with a synthetic evaluator that trains in epochs: who
//! goes on, what the records say, that the last rung's results are the full run's, and
//! exact resume after an interruption at every possible moment.

use std::collections::HashMap;
use std::path::Path;

use actfn_evo::{
    create_dir, open_dir, run_search, Candidate, Evaluation, Evaluator, EvoError, EvolutionConfig,
    FitConfig, FitEvaluator, FitnessMetric, HalvingConfig, Job, Journal, Record, RecordId,
    RecordStatus, SearchConfig, SearchOutcome, Status, StoredConfig, Strategy,
};
use actfn_expr::SearchSpace;

const TARGET: &str = "mul(tanh(mul(atan(x), min0(x))), exp(sub(erf(x), relu(x))))";
const BUDGET: u32 = 9;

/// "Trains" in epochs: after `e` epochs a candidate's loss is its fit error plus `1 / e`
/// and its accuracy the fit's minus `0.1 / e`, so it improves with epochs and its final
/// value depends only on the candidate. It remembers how far each record has trained,
/// refuses to go backwards, and counts the epochs it trains; it stops with an error once
/// `budget` reports are spent, like a process killed mid-rung.
struct Epochal {
    fit: FitEvaluator,
    trained: HashMap<RecordId, u32>,
    epochs_trained: u64,
    budget: usize,
}

impl Epochal {
    fn new(budget: usize) -> Epochal {
        Epochal {
            fit: FitEvaluator::new(FitConfig {
                grid_points: 100,
                ..FitConfig::new(TARGET.parse().unwrap())
            })
            .unwrap(),
            trained: HashMap::new(),
            epochs_trained: 0,
            budget,
        }
    }

    fn after(&self, candidate: &Candidate, epochs: u32) -> Evaluation {
        let mut e = self.fit.score(&candidate.expr);
        if e.status == Status::Ok {
            e.val_loss += 1.0 / f64::from(epochs);
            e.val_acc -= 0.1 / f64::from(epochs);
        }
        e.epochs = epochs;
        e.seconds = 1.0;
        e
    }
}

impl Evaluator for Epochal {
    fn config_hash(&self) -> String {
        self.fit.config_hash()
    }

    fn halving_budget(&self) -> Option<u32> {
        Some(BUDGET)
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        // Out of order, as a parallel evaluator would report.
        for i in (0..jobs.len()).rev() {
            if self.budget == 0 {
                return Err(EvoError::Evaluator("interrupted".into()));
            }
            self.budget -= 1;
            let job = &jobs[i];
            let epochs = job.until_epoch.unwrap_or(BUDGET);
            let done = self.trained.entry(job.id).or_insert(0);
            assert!(
                *done <= epochs,
                "{:?} went back from {done} to {epochs}",
                job.id
            );
            self.epochs_trained += u64::from(epochs - *done);
            *done = epochs;
            let e = self.after(&job.candidate, epochs);
            sink(i, e)?;
        }
        Ok(())
    }
}

fn config(halving: Option<HalvingConfig>) -> SearchConfig {
    SearchConfig {
        halving,
        ..SearchConfig::new(
            Strategy::Evolution(EvolutionConfig {
                population: 12,
                elites: 2,
                random: 3,
                generations: 3,
                fitness: FitnessMetric::Loss,
            }),
            21,
            SearchSpace::paper(2),
        )
    }
}

const HALVING: HalvingConfig = HalvingConfig {
    eta: 3,
    min_epochs: 1,
};

fn timeless(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| Record {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

fn run(config: &SearchConfig, evaluator: &mut Epochal) -> SearchOutcome {
    run_search(config, &mut Journal::in_memory(), evaluator, &mut |_| {}).unwrap()
}

#[test]
fn rungs_promote_a_third_and_the_last_rung_is_the_full_run() {
    let mut full_ev = Epochal::new(usize::MAX);
    let full = run(&config(None), &mut full_ev);
    let mut halved_ev = Epochal::new(usize::MAX);
    let halved = run(&config(Some(HALVING)), &mut halved_ev);
    assert!(halved_ev.epochs_trained < full_ev.epochs_trained / 2);
    assert_eq!(
        halved.summary.epochs_trained, halved_ev.epochs_trained,
        "the records count every epoch trained"
    );
    // Without halving no record carries a rung.
    assert!(full.records.iter().all(|r| r.rung.is_none()));

    // Generation 0 is the same random draw: each candidate that reached the last rung
    // (9 epochs) has exactly the full run's record.
    let gen0 = |o: &SearchOutcome| -> Vec<Record> {
        o.records
            .iter()
            .filter(|r| r.generation == 0 && r.trained())
            .cloned()
            .collect()
    };
    let (h0, f0) = (gen0(&halved), gen0(&full));
    assert_eq!(h0.len(), f0.len());
    let at_rung = |k: usize| h0.iter().filter(|r| r.rung >= Some(k)).count();
    let n = h0.len();
    // Rungs of 1, 3 and 9 epochs; the best third of the ok ones goes on.
    let ok0 = h0.iter().filter(|r| r.status == RecordStatus::Ok).count();
    assert!(ok0 >= n.div_ceil(3), "{ok0} of {n}");
    assert_eq!(at_rung(1), n.div_ceil(3));
    assert_eq!(at_rung(2), n.div_ceil(3).div_ceil(3));
    for (h, f) in h0.iter().zip(&f0) {
        assert_eq!(h.expr, f.expr);
        let rung = h.rung.expect("halving records their rung");
        assert_eq!(h.epochs, [1, 3, 9][rung]);
        if rung == 2 {
            assert_eq!(h.val_loss.map(f64::to_bits), f.val_loss.map(f64::to_bits));
            assert_eq!(h.val_acc.map(f64::to_bits), f.val_acc.map(f64::to_bits));
        }
    }
    // Every candidate that went on beat every ok one that stopped at its rung (compared
    // by fit error, which is what the loss at any one rung orders by).
    for k in 0..2 {
        let went_on = h0.iter().filter(|r| r.rung > Some(k));
        let worst_on = went_on
            .map(|r| r.val_loss.unwrap() - 1.0 / f64::from(r.epochs))
            .fold(f64::NEG_INFINITY, f64::max);
        for r in h0.iter().filter(|r| r.rung == Some(k) && r.is_ok()) {
            let e = f64::from([1, 3, 9][k]);
            assert!(r.val_loss.unwrap() - 1.0 / e >= worst_on - 1e-12, "{r:?}");
        }
    }
    // Elites and the top k are candidates trained to the end.
    let by_id: HashMap<RecordId, &Record> = halved.records.iter().map(|r| (r.id(), r)).collect();
    for r in halved.records.iter().filter(|r| r.generation > 0) {
        if r.origin == actfn_evo::Origin::Elite {
            assert_eq!(r.rung, Some(2), "elite {r:?}");
            assert_eq!(by_id[&r.duplicate_of.unwrap()].rung, Some(2));
        }
    }
    for t in &halved.summary.top {
        assert_eq!(t.epochs, BUDGET, "{t:?}");
    }
}

fn stored(config: &SearchConfig, evaluator: &Epochal) -> StoredConfig<FitConfig> {
    StoredConfig {
        search: config.clone(),
        task: evaluator.fit.config().clone(),
        config_hash: evaluator.config_hash(),
    }
}

fn count_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn resume_mid_rung_at_any_moment_matches_the_uninterrupted_run() {
    let config = config(Some(HALVING));
    let tmp = tempfile::tempdir().unwrap();
    // The reference runs on disk too, so that it keeps its rung results where a resumed
    // search finds them.
    let mut reference_ev = Epochal::new(usize::MAX);
    let mut journal = create_dir(&tmp.path().join("ref"), &stored(&config, &reference_ev)).unwrap();
    let reference = run_search(&config, &mut journal, &mut reference_ev, &mut |_| {}).unwrap();
    let reports = usize::MAX - reference_ev.budget;
    assert!(
        reports > reference.summary.trained,
        "rungs report more than once"
    );
    for budget in 0..=reports {
        let dir = tmp.path().join(format!("b{budget}"));
        let mut first = Epochal::new(budget);
        let mut journal = create_dir(&dir, &stored(&config, &first)).unwrap();
        let result = run_search(&config, &mut journal, &mut first, &mut |_| {});
        assert_eq!(result.is_err(), budget < reports, "budget {budget}");
        drop(journal);
        let (_, mut journal): (StoredConfig<FitConfig>, _) = open_dir(&dir).unwrap();
        assert_eq!(journal.records().len(), count_lines(&dir));
        // The resumed run continues the same trainings (it keeps how far each got).
        let mut second = Epochal {
            budget: usize::MAX,
            ..first
        };
        let resumed = run_search(&config, &mut journal, &mut second, &mut |_| {}).unwrap();
        assert_eq!(
            usize::MAX - second.budget,
            reports - budget,
            "budget {budget}: nothing reported before is evaluated again"
        );
        assert_eq!(
            timeless(&resumed.records),
            timeless(&reference.records),
            "budget {budget}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("records.jsonl"))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Record>(l).unwrap())
                .map(|r| Record { seconds: 0.0, ..r })
                .collect::<Vec<_>>(),
            timeless(journal_lines(&tmp.path().join("ref")).as_slice()),
            "budget {budget}: the file, line for line"
        );
    }
}

fn journal_lines(dir: &Path) -> Vec<Record> {
    Journal::read(&dir.join("records.jsonl"))
        .unwrap()
        .records()
        .to_vec()
}

#[test]
fn a_task_without_epochs_is_refused() {
    let mut fit = FitEvaluator::new(FitConfig::new(TARGET.parse().unwrap())).unwrap();
    let err = run_search(
        &config(Some(HALVING)),
        &mut Journal::in_memory(),
        &mut fit,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("halving needs a task that trains for epochs"),
        "{err}"
    );
    let mut over = Epochal::new(usize::MAX);
    let err = run_search(
        &config(Some(HalvingConfig {
            eta: 2,
            min_epochs: BUDGET + 1,
        })),
        &mut Journal::in_memory(),
        &mut over,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("first rung (10 epochs) is above the full budget of 9"),
        "{err}"
    );
}
