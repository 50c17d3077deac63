//! Population diversity with the `fit` evaluator: with a diversity distance, no
//! generation holds two candidates within it, near-duplicates are recorded as rejected
//! and replaced by random draws, the search stays reproducible, and without it the search
//! is the paper's, unchanged.

use actfn_evo::{
    run_search, EvolutionConfig, FitConfig, FitEvaluator, FitnessMetric, Journal, Origin, Record,
    RecordId, RecordStatus, SearchConfig, SearchOutcome, Strategy,
};
use actfn_expr::{expr_distance, Expr, SearchSpace};

const S2_TARGET: &str = "mul(tanh(mul(atan(x), min0(x))), exp(sub(erf(x), relu(x))))";

fn run(config: &SearchConfig) -> SearchOutcome {
    let mut evaluator = FitEvaluator::new(FitConfig {
        grid_points: 100,
        ..FitConfig::new(S2_TARGET.parse().unwrap())
    })
    .unwrap();
    run_search(
        config,
        &mut Journal::in_memory(),
        &mut evaluator,
        &mut |_| {},
    )
    .unwrap()
}

fn strategies() -> [Strategy; 2] {
    [
        Strategy::Random {
            population: 30,
            generations: 3,
        },
        Strategy::Evolution(EvolutionConfig {
            population: 30,
            elites: 4,
            random: 4,
            generations: 5,
            fitness: FitnessMetric::Loss,
        }),
    ]
}

/// S_2 over a few similar ops, where near-equal functions are frequent (`tanh` and `erf`
/// are 0.081 apart, so within the distance the tests use).
fn space() -> SearchSpace {
    use actfn_expr::{BinaryOp, UnaryOp};
    SearchSpace::new(
        2,
        vec![
            UnaryOp::Identity,
            UnaryOp::Tanh,
            UnaryOp::Erf,
            UnaryOp::Atan,
            UnaryOp::Sigmoid,
            UnaryOp::MinZero,
        ],
        vec![BinaryOp::Add, BinaryOp::Mul],
    )
    .unwrap()
}

const DISTANCE: f64 = 0.1;

fn record(out: &SearchOutcome, id: RecordId) -> &Record {
    out.records.iter().find(|r| r.id() == id).unwrap()
}

#[test]
fn no_generation_holds_two_candidates_within_the_distance() {
    let threshold = DISTANCE;
    for strategy in strategies() {
        let config = SearchConfig {
            diversity: Some(threshold),
            ..SearchConfig::new(strategy.clone(), 8, space())
        };
        let out = run(&config);
        for (g, population) in out.populations.iter().enumerate() {
            let exprs: Vec<Expr> = population
                .iter()
                .map(|&id| record(&out, id).expr.parse().unwrap())
                .collect();
            for (i, a) in exprs.iter().enumerate() {
                for b in &exprs[i + 1..] {
                    let d = expr_distance(a, b);
                    assert!(
                        d > threshold,
                        "generation {g}: `{a}` and `{b}` are {d} apart"
                    );
                }
            }
        }
        // Near-duplicates were drawn, recorded as rejected without a place, and their
        // places went to random draws.
        let near: Vec<&Record> = out
            .records
            .iter()
            .filter(|r| {
                r.reason
                    .as_deref()
                    .is_some_and(|w| w.starts_with("near-duplicate of `"))
            })
            .collect();
        assert!(!near.is_empty(), "{strategy:?}: no near-duplicate drawn");
        for r in &near {
            assert_eq!(r.status, RecordStatus::Rejected);
            assert_eq!(r.slot, None);
            assert!(!r.trained());
            let next = record(
                &out,
                RecordId {
                    generation: r.generation,
                    index: r.index + 1,
                },
            );
            assert_eq!(
                next.origin,
                Origin::Random,
                "the replacement of `{}`",
                r.expr
            );
        }

        // Reproducible from the seed, and another seed draws otherwise.
        assert_eq!(timeless(&run(&config).records), timeless(&out.records));
        let other = run(&SearchConfig { seed: 9, ..config });
        assert_ne!(exprs(&other), exprs(&out));
    }
}

#[test]
fn without_diversity_the_search_is_unchanged() {
    for strategy in strategies() {
        let paper = SearchConfig::new(strategy, 8, space());
        assert_eq!(paper.diversity, None);
        let out = run(&paper);
        // The option does change the plan where near-duplicates are drawn.
        let on = run(&SearchConfig {
            diversity: Some(DISTANCE),
            ..paper.clone()
        });
        assert_ne!(exprs(&on), exprs(&out));
        assert!(out.records.iter().all(|r| !r
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("near-duplicate")));
        for (a, b) in on.populations.iter().zip(&out.populations) {
            assert_eq!(a.len(), b.len());
        }
        // Without the option, config.ron's text has no trace of it.
        let text = ron::ser::to_string_pretty(&paper, ron::ser::PrettyConfig::default()).unwrap();
        assert!(!text.contains("diversity"), "{text}");
        let back: SearchConfig = ron::from_str(&text).unwrap();
        assert_eq!(back, paper);
    }
}

#[test]
fn diversity_is_checked() {
    let base = SearchConfig::new(
        Strategy::Random {
            population: 4,
            generations: 1,
        },
        1,
        SearchSpace::paper(1),
    );
    for (config, message) in [
        (
            SearchConfig {
                diversity: Some(-0.1),
                ..base.clone()
            },
            "finite and at least 0",
        ),
        (
            SearchConfig {
                diversity: Some(f64::NAN),
                ..base.clone()
            },
            "finite and at least 0",
        ),
        (
            SearchConfig {
                diversity: Some(0.01),
                replace_wasted: false,
                ..base.clone()
            },
            "paper-exact",
        ),
        (
            SearchConfig {
                diversity: Some(0.01),
                strategy: Strategy::Exhaustive { batch: 10 },
                ..base.clone()
            },
            "exhaustive",
        ),
    ] {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
    let ok = SearchConfig {
        diversity: Some(0.01),
        ..base
    };
    ok.validate().unwrap();
    let text = ron::to_string(&ok).unwrap();
    assert!(text.contains("diversity:Some(0.01)"), "{text}");
    assert_eq!(ron::from_str::<SearchConfig>(&text).unwrap(), ok);
}

fn exprs(out: &SearchOutcome) -> Vec<String> {
    out.records.iter().map(|r| r.expr.clone()).collect()
}

fn timeless(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| Record {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}
