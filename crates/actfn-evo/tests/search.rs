//! The strategies end to end with the `fit` evaluator and synthetic evaluators: what
//! they find, determinism, the no-waste policy, failure handling, and exact resume after
//! an interruption at every possible moment.

use std::collections::HashSet;
use std::path::Path;

use actfn_evo::{
    create_dir, open_dir, run_search, Evaluation, Evaluator, EvoError, EvolutionConfig, FitConfig,
    FitEvaluator, FitnessMetric, Job, Journal, Origin, Record, RecordStatus, SearchConfig,
    SearchOutcome, Status, StoredConfig, Strategy,
};
use actfn_expr::{fingerprint, Expr, SearchSpace};

fn expr(s: &str) -> Expr {
    s.parse().unwrap()
}

fn fit(target: &str, grid_points: usize) -> FitEvaluator {
    FitEvaluator::new(FitConfig {
        grid_points,
        ..FitConfig::new(expr(target))
    })
    .unwrap()
}

fn evolution(
    population: usize,
    elites: usize,
    random: usize,
    generations: usize,
    fitness: FitnessMetric,
) -> Strategy {
    Strategy::Evolution(EvolutionConfig {
        population,
        elites,
        random,
        generations,
        fitness,
    })
}

fn run(config: &SearchConfig, evaluator: &mut dyn Evaluator) -> SearchOutcome {
    run_search(config, &mut Journal::in_memory(), evaluator, &mut |_| {}).unwrap()
}

/// Records without timings, for comparing runs.
fn timeless(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| Record {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

const S2_TARGET: &str = "mul(tanh(mul(atan(x), min0(x))), exp(sub(erf(x), relu(x))))";

#[test]
fn exhaustive_s1_finds_sigmoid_times_erf_with_zero_mse() {
    let config = SearchConfig::new(Strategy::Exhaustive { batch: 50 }, 0, SearchSpace::paper(1));
    let out = run(&config, &mut fit("mul(sigmoid(x), erf(x))", 1000));
    assert_eq!(out.records.len(), 3456);
    assert_eq!(out.populations.len(), 70);
    let best = &out.top()[0];
    assert_eq!(best.val_loss, 0.0, "{best:?}");
    assert_eq!(best.val_acc, 1.0);
    assert_eq!(
        fingerprint(&expr(&best.expr)),
        fingerprint(&expr("mul(sigmoid(x), erf(x))"))
    );
    // Every member was evaluated, reused or rejected exactly once.
    let s = &out.summary;
    assert_eq!(s.trained + s.duplicates + s.rejected, 3456);
    assert_eq!(s.trainings_saved, s.duplicates + s.rejected);
    assert!(s.duplicates > 100 && s.rejected > 100, "{s:?}");
    // No function was trained twice.
    let trained: Vec<&Record> = out.records.iter().filter(|r| r.trained()).collect();
    let distinct: HashSet<&str> = trained.iter().map(|r| r.fingerprint.as_str()).collect();
    assert_eq!(distinct.len(), trained.len());
}

#[test]
fn exhaustive_over_an_op_subset() {
    let space = SearchSpace::new(
        1,
        vec![
            actfn_expr::UnaryOp::Identity,
            actfn_expr::UnaryOp::Tanh,
            actfn_expr::UnaryOp::Erf,
        ],
        vec![actfn_expr::BinaryOp::Add, actfn_expr::BinaryOp::Mul],
    )
    .unwrap();
    let config = SearchConfig::new(Strategy::Exhaustive { batch: 4 }, 0, space);
    let out = run(&config, &mut fit("mul(tanh(x), erf(x))", 200));
    assert_eq!(out.records.len(), 18);
    assert_eq!(out.populations.len(), 5);
    assert_eq!(out.top()[0].val_loss, 0.0);
}

#[test]
fn strategies_are_deterministic_and_seeded() {
    for strategy in [
        Strategy::Random {
            population: 20,
            generations: 3,
        },
        evolution(20, 3, 4, 4, FitnessMetric::Loss),
        evolution(20, 3, 4, 4, FitnessMetric::Accuracy),
    ] {
        let config = SearchConfig::new(strategy, 42, SearchSpace::paper(2));
        let a = run(&config, &mut fit(S2_TARGET, 100));
        let b = run(&config, &mut fit(S2_TARGET, 100));
        assert_eq!(timeless(&a.records), timeless(&b.records));
        assert_eq!(a.summary.top, b.summary.top);
        let other = SearchConfig { seed: 43, ..config };
        let c = run(&other, &mut fit(S2_TARGET, 100));
        assert_ne!(
            a.records.iter().map(|r| &r.expr).collect::<Vec<_>>(),
            c.records.iter().map(|r| &r.expr).collect::<Vec<_>>()
        );
    }
}

#[test]
fn evolution_generations_have_the_papers_composition() {
    let space = SearchSpace::paper(2);
    let config = SearchConfig::new(
        evolution(50, 5, 10, 5, FitnessMetric::Loss),
        3,
        space.clone(),
    );
    let out = run(&config, &mut fit(S2_TARGET, 200));
    assert_eq!(out.populations.len(), 5);
    let by_id = |id| out.records.iter().find(|r| r.id() == id).unwrap();
    let mut trained_fps = HashSet::new();
    for (g, population) in out.populations.iter().enumerate() {
        assert_eq!(population.len(), 50);
        let origins: Vec<Origin> = population.iter().map(|&id| by_id(id).origin).collect();
        let count = |o| origins.iter().filter(|&&x| x == o).count();
        if g == 0 {
            assert_eq!(count(Origin::Random), 50);
        } else {
            assert_eq!(count(Origin::Elite), 5);
            assert_eq!(count(Origin::Random), 10);
            assert_eq!(count(Origin::Child), 35);
            // The elites are the previous generation's five best by loss, not retrained.
            let mut previous: Vec<&Record> = out.populations[g - 1]
                .iter()
                .map(|&id| by_id(id))
                .filter(|r| r.is_ok())
                .collect();
            previous.sort_by(|a, b| a.val_loss.unwrap().total_cmp(&b.val_loss.unwrap()));
            let best: Vec<f64> = previous
                .iter()
                .take(5)
                .map(|r| r.val_loss.unwrap())
                .collect();
            let elites: Vec<f64> = population[..5]
                .iter()
                .map(|&id| by_id(id).val_loss.unwrap())
                .collect();
            assert_eq!(elites, best);
            for &id in &population[..5] {
                assert!(!by_id(id).trained() && by_id(id).duplicate_of.is_some());
            }
        }
        for &id in population {
            let r = by_id(id);
            assert!(space.contains(&expr(&r.expr)), "{}", r.expr);
            if r.trained() {
                // With waste replaced, nothing is trained twice.
                assert!(
                    trained_fps.insert(r.fingerprint.clone()),
                    "{} trained twice",
                    r.expr
                );
                assert_ne!(r.status, RecordStatus::Rejected);
            }
        }
    }
    // Best-so-far loss never gets worse (elites carry it) and evolution improves on
    // generation 0.
    let best: Vec<f64> = out
        .summary
        .generations
        .iter()
        .map(|g| g.best_val_loss.unwrap())
        .collect();
    assert!(best.windows(2).all(|w| w[1] <= w[0]), "{best:?}");
}

#[test]
fn paper_exact_keeps_wasted_draws_in_place() {
    let space = SearchSpace::paper(1);
    let strategy = Strategy::Random {
        population: 60,
        generations: 4,
    };
    let exact = SearchConfig {
        replace_wasted: false,
        ..SearchConfig::new(strategy.clone(), 9, space.clone())
    };
    let out = run(&exact, &mut fit("x", 100));
    assert_eq!(out.records.len(), 240);
    assert!(out.records.iter().all(|r| r.slot.is_some()));
    assert!(
        out.summary.rejected > 0 && out.summary.duplicates > 0,
        "{:?}",
        out.summary
    );
    let replaced = run(&SearchConfig::new(strategy, 9, space), &mut fit("x", 100));
    assert_eq!(replaced.summary.trained, 240);
    assert!(replaced
        .records
        .iter()
        .filter(|r| r.slot.is_none())
        .all(|r| !r.trained()));
    // The draws are the same random stream: the first draw of each generation agrees.
    assert_eq!(out.records[0].expr, replaced.records[0].expr);
}

/// Panics on candidates that use `sin`, returns NaN for those that use `cos`, and
/// otherwise scores by the fit evaluator.
struct Flaky(FitEvaluator);

impl Evaluator for Flaky {
    fn config_hash(&self) -> String {
        "flaky".into()
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        for (i, job) in jobs.iter().enumerate() {
            let c = &job.candidate;
            let text = c.expr.to_string();
            if text.contains("sin(") {
                panic!("simulated crash on {text}");
            }
            let mut e = self.0.score(&c.expr);
            if text.contains("cos(") {
                e.val_loss = f64::NAN;
            }
            sink(i, e)?;
        }
        Ok(())
    }
}

#[test]
fn panics_and_nans_are_recorded_failures_and_the_search_goes_on() {
    let config = SearchConfig::new(
        evolution(30, 3, 5, 3, FitnessMetric::Loss),
        5,
        SearchSpace::paper(2),
    );
    let out = run(&config, &mut Flaky(fit(S2_TARGET, 50)));
    let failed = out
        .records
        .iter()
        .filter(|r| r.status == RecordStatus::Failed)
        .count();
    let diverged = out
        .records
        .iter()
        .filter(|r| {
            r.trained()
                && r.status == RecordStatus::Diverged
                && r.reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("non-finite validation loss")
        })
        .count();
    assert!(failed > 0 && diverged > 0, "{:?}", out.summary);
    for r in out
        .records
        .iter()
        .filter(|r| r.status == RecordStatus::Failed && r.trained())
    {
        assert!(r.expr.contains("sin("), "{}", r.expr);
        assert!(r.reason.as_deref().unwrap().contains("simulated crash"));
    }
    assert_eq!(out.populations.len(), 3);
    assert!(out
        .top()
        .iter()
        .all(|t| !t.expr.contains("sin(") && !t.expr.contains("cos(")));
}

/// Scores by the fit evaluator, but stops with an error after `budget` evaluations, like
/// a process killed mid-search.
struct Interrupted {
    inner: FitEvaluator,
    budget: usize,
}

impl Evaluator for Interrupted {
    fn config_hash(&self) -> String {
        self.inner.config_hash()
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
            sink(i, self.inner.score(&jobs[i].candidate.expr))?;
        }
        Ok(())
    }
}

fn stored(config: &SearchConfig, evaluator: &FitEvaluator) -> StoredConfig<FitConfig> {
    StoredConfig {
        search: config.clone(),
        task: evaluator.config().clone(),
        config_hash: evaluator.config_hash(),
    }
}

#[test]
fn resume_after_an_interruption_at_any_moment_matches_the_uninterrupted_run() {
    let paper = SearchConfig::new(
        evolution(12, 2, 3, 4, FitnessMetric::Loss),
        21,
        SearchSpace::paper(2),
    );
    // Without and with diversity (a distance large enough to replace several draws).
    for config in [
        paper.clone(),
        SearchConfig {
            diversity: Some(0.05),
            ..paper
        },
    ] {
        resume_at_any_moment(&config);
    }
}

fn resume_at_any_moment(config: &SearchConfig) {
    let config = config.clone();
    let reference = run(&config, &mut fit(S2_TARGET, 100));
    let trainings = reference.summary.trained;
    assert!(trainings >= 12 + 3 * 10);
    let tmp = tempfile::tempdir().unwrap();
    for budget in 0..=trainings {
        let dir = tmp.path().join(format!("b{budget}"));
        let ev = fit(S2_TARGET, 100);
        let mut journal = create_dir(&dir, &stored(&config, &ev)).unwrap();
        let mut first = Interrupted {
            inner: ev.clone(),
            budget,
        };
        let result = run_search(&config, &mut journal, &mut first, &mut |_| {});
        assert_eq!(result.is_err(), budget < trainings, "budget {budget}");
        drop(journal);
        let (back, mut journal): (StoredConfig<FitConfig>, _) = open_dir(&dir).unwrap();
        assert_eq!(back, stored(&config, &ev));
        assert_eq!(journal.records().len(), count_lines(&dir));
        let mut counting = Counting(ev, 0);
        let resumed = run_search(&config, &mut journal, &mut counting, &mut |_| {}).unwrap();
        assert_eq!(
            counting.1,
            trainings - budget.min(trainings),
            "nothing recorded is re-evaluated"
        );
        assert_eq!(
            timeless(&resumed.records),
            timeless(&reference.records),
            "budget {budget}"
        );
        assert_eq!(resumed.summary.top, reference.summary.top);
        assert_eq!(resumed.populations, reference.populations);
    }
}

fn count_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .count()
}

/// Counts the candidates it evaluates.
struct Counting(FitEvaluator, usize);

impl Evaluator for Counting {
    fn config_hash(&self) -> String {
        self.0.config_hash()
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        self.1 += jobs.len();
        self.0.evaluate(jobs, sink)
    }
}

#[test]
fn foreign_records_and_configurations_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let config = SearchConfig::new(
        evolution(8, 1, 2, 2, FitnessMetric::Accuracy),
        1,
        SearchSpace::paper(2),
    );
    let ev = fit(S2_TARGET, 50);
    let mut journal = create_dir(&dir, &stored(&config, &ev)).unwrap();
    run_search(&config, &mut journal, &mut ev.clone(), &mut |_| {}).unwrap();
    drop(journal);

    // The same configuration continues (nothing to do); another is refused by name.
    create_dir(&dir, &stored(&config, &ev)).unwrap();
    let other = SearchConfig {
        top_k: 5,
        ..config.clone()
    };
    let err = create_dir(&dir, &stored(&other, &ev))
        .unwrap_err()
        .to_string();
    assert!(err.contains("search.top_k: 3 -> 5"), "{err}");
    let ev2 = fit(S2_TARGET, 60);
    let err = create_dir(&dir, &stored(&config, &ev2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task.grid_points: 50 -> 60") && err.contains("config_hash"),
        "{err}"
    );

    // Records of another evaluator configuration.
    let (_, mut journal): (StoredConfig<FitConfig>, _) = open_dir(&dir).unwrap();
    let err = run_search(&config, &mut journal, &mut ev2.clone(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, EvoError::ForeignRecord { line: 1, .. }),
        "{err}"
    );
    // Records of another plan (another seed, same evaluator).
    let reseeded = SearchConfig {
        seed: 2,
        ..config.clone()
    };
    let err = run_search(&reseeded, &mut journal, &mut ev.clone(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("seed 1 differs"), "{err}");
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    let edited = text.replacen("\"seed\":1", "\"seed\":2", usize::MAX);
    std::fs::write(dir.join("records.jsonl"), edited).unwrap();
    let (_, mut journal): (StoredConfig<FitConfig>, _) = open_dir(&dir).unwrap();
    let err = run_search(&reseeded, &mut journal, &mut ev.clone(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("but this search plans"), "{err}");
}

/// Reports a candidate twice.
struct Chatty;

impl Evaluator for Chatty {
    fn config_hash(&self) -> String {
        "chatty".into()
    }

    fn evaluate(
        &mut self,
        _jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        let e = Evaluation {
            val_acc: 0.5,
            val_loss: 1.0,
            status: Status::Ok,
            epochs: 1,
            seconds: 0.0,
            worker: None,
        };
        sink(0, e.clone())?;
        sink(0, e)
    }
}

#[test]
fn evaluator_protocol_violations_stop_the_search() {
    let config = SearchConfig::new(
        Strategy::Random {
            population: 3,
            generations: 1,
        },
        1,
        SearchSpace::paper(2),
    );
    let err = run_search(&config, &mut Journal::in_memory(), &mut Chatty, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}
