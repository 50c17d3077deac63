//! The cheap analogue of the paper's figure 3: evolution with loss-based fitness,
//! evolution with accuracy-based fitness and random search in `S_2`, each run with 20
//! seeds on the `fit` task (MSE to a target member of `S_2` on 1000 points in [-5, 5]),
//! printing the mean (and median) best-so-far MSE per generation and at equal numbers of
//! trainings.
//!
//! ```text
//! cargo run --release -p actfn-evo --example figure3_fit [-- --paper-exact] [--seeds N] [--target EXPR]
//! ```

use actfn_evo::{
    run_search, FitConfig, FitEvaluator, FitnessMetric, Journal, Record, SearchConfig, Strategy,
};
use actfn_expr::{Expr, SearchSpace};

/// A member of `S_2` in the spirit of the paper's best functions:
/// `tanh(arctan(x) * min{x, 0}) * e^(erf(x) - max{x, 0})`.
const TARGET: &str = "mul(tanh(mul(atan(x), min0(x))), exp(sub(erf(x), relu(x))))";

struct Run {
    /// Best-so-far MSE after each generation.
    per_generation: Vec<f64>,
    /// Trainings done after each generation.
    trained: Vec<usize>,
    /// Best-so-far MSE after each training, in evaluation order.
    per_training: Vec<f64>,
}

fn run(strategy: &Strategy, seed: u64, target: &Expr, replace_wasted: bool) -> Run {
    let config = SearchConfig {
        replace_wasted,
        ..SearchConfig::new(strategy.clone(), seed, SearchSpace::paper(2))
    };
    let mut evaluator = FitEvaluator::new(FitConfig::new(target.clone())).expect("a valid target");
    let outcome = run_search(
        &config,
        &mut Journal::in_memory(),
        &mut evaluator,
        &mut |_| {},
    )
    .expect("an in-memory search does not fail");
    let per_generation = outcome
        .summary
        .generations
        .iter()
        .map(|g| g.best_so_far_val_loss.unwrap_or(f64::INFINITY))
        .collect();
    let trained = outcome
        .summary
        .generations
        .iter()
        .map(|g| g.trained_so_far)
        .collect();
    let mut best = f64::INFINITY;
    let per_training = outcome
        .records
        .iter()
        .filter(|r: &&Record| r.trained())
        .map(|r| {
            if r.is_ok() {
                best = best.min(r.val_loss.unwrap_or(f64::INFINITY));
            }
            best
        })
        .collect();
    Run {
        per_generation,
        trained,
        per_training,
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let paper_exact = args.iter().any(|a| a == "--paper-exact");
    let seeds: u64 = value("--seeds").map_or(20, |s| s.parse().expect("--seeds N"));
    let target: Expr = value("--target")
        .unwrap_or_else(|| TARGET.to_string())
        .parse()
        .expect("--target EXPR");
    assert!(
        SearchSpace::paper(2).contains(&target),
        "the target should be a member of S_2"
    );

    let strategies = [
        (
            "evolution, loss fitness",
            Strategy::paper_evolution(FitnessMetric::Loss),
        ),
        (
            "evolution, accuracy fitness",
            Strategy::paper_evolution(FitnessMetric::Accuracy),
        ),
        ("random search", Strategy::paper_random()),
    ];
    println!(
        "target {target}; {seeds} seeds; S_2; fit on 1000 points in [-5, 5]; {}",
        if paper_exact {
            "paper-exact (duplicates and degenerate draws keep their places)"
        } else {
            "duplicates and degenerate draws replaced"
        }
    );
    let runs: Vec<Vec<Run>> = strategies
        .iter()
        .map(|(_, s)| {
            (0..seeds)
                .map(|seed| run(s, seed, &target, !paper_exact))
                .collect()
        })
        .collect();

    println!();
    println!("Best-so-far validation MSE per generation, mean over seeds (median) [mean trainings so far]");
    print!("{:>3}", "gen");
    for (name, _) in &strategies {
        print!("  {name:>38}");
    }
    println!();
    for g in 0..10 {
        print!("{g:>3}");
        for rs in &runs {
            let v: Vec<f64> = rs.iter().map(|r| r.per_generation[g]).collect();
            let t: Vec<f64> = rs.iter().map(|r| r.trained[g] as f64).collect();
            print!(
                "  {:>38}",
                format!("{:.5} ({:.5}) [{:.0}]", mean(&v), median(&v), mean(&t))
            );
        }
        println!();
    }

    println!();
    println!("Best-so-far validation MSE at equal numbers of trainings, mean over seeds (median)");
    print!("{:>9}", "trainings");
    for (name, _) in &strategies {
        print!("  {name:>28}");
    }
    println!();
    for n in (50..=500).step_by(50) {
        print!("{n:>9}");
        for rs in &runs {
            let v: Vec<f64> = rs
                .iter()
                .filter_map(|r| r.per_training.get(n - 1).copied())
                .collect();
            if v.len() == rs.len() {
                print!("  {:>28}", format!("{:.5} ({:.5})", mean(&v), median(&v)));
            } else {
                print!("  {:>28}", format!("- ({} of {} runs)", v.len(), rs.len()));
            }
        }
        println!();
    }
    println!();
    for ((name, _), rs) in strategies.iter().zip(&runs) {
        let exact = rs
            .iter()
            .filter(|r| r.per_generation.last() == Some(&0.0))
            .count();
        println!(
            "{name}: {exact} of {} runs found the target exactly (MSE 0)",
            rs.len()
        );
    }
}
