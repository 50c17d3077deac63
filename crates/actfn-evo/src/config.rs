//! The search configuration: strategy, seed, search space and the no-waste policy, and
//! the form in which it is stored beside the records (`config.ron`).

use actfn_expr::SearchSpace;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::EvoError;

/// Which validation metric the evolution's fitness is the softmax of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FitnessMetric {
    /// Softmax of the negative validation loss (the paper's better strategy).
    Loss,
    /// Softmax of the validation accuracy.
    Accuracy,
}

/// The evolution strategy's parameters (paper, section 4.2.3: 50, 5, 10, 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionConfig {
    /// Population size N.
    pub population: usize,
    /// E: the best E functions of a generation (by the fitness metric) are carried over.
    pub elites: usize,
    /// M: fresh random functions in every new generation.
    pub random: usize,
    /// Number of generations, the random generation 0 included.
    pub generations: usize,
    /// The fitness metric.
    pub fitness: FitnessMetric,
}

/// A search strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Every member of the search space, in enumeration order, in generations of `batch`.
    Exhaustive {
        /// Candidates handed to the evaluator at once.
        batch: usize,
    },
    /// `population * generations` random members of the space.
    Random {
        /// Candidates per generation.
        population: usize,
        /// Number of generations.
        generations: usize,
    },
    /// Evolution: elites, fresh random functions and children by selection, crossover and
    /// mutation.
    Evolution(EvolutionConfig),
}

impl Strategy {
    /// The paper's evolution: N = 50, E = 5, M = 10, 10 generations.
    pub fn paper_evolution(fitness: FitnessMetric) -> Strategy {
        Strategy::Evolution(EvolutionConfig {
            population: 50,
            elites: 5,
            random: 10,
            generations: 10,
            fitness,
        })
    }

    /// The paper's random search: 500 functions in 10 generations of 50.
    pub fn paper_random() -> Strategy {
        Strategy::Random {
            population: 50,
            generations: 10,
        }
    }
}

/// The most candidates in one generation (population, or exhaustive batch): every one is
/// planned, held and handed to the evaluator at once, and the paper uses 50.
pub const MAX_GENERATION_SIZE: usize = 100_000;

/// The most redraws of one place: each costs a sample and a fingerprint.
pub const MAX_REDRAWS: usize = 100_000;

/// Everything that determines a search, apart from the evaluator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// The strategy.
    pub strategy: Strategy,
    /// The seed of all randomness of the search; also the training seed of every candidate.
    pub seed: u64,
    /// The search space candidates are drawn from.
    pub space: SearchSpace,
    /// How many functions the search returns (paper: 3).
    pub top_k: usize,
    /// Replace a degenerate or duplicate draw by a fresh one (a new random member, or a
    /// new child), so every generation trains distinct, non-degenerate candidates. `false`
    /// keeps the paper's exact behaviour: the draw keeps its place, with the duplicated
    /// record's metrics, or with the worst fitness if degenerate; it is never trained.
    pub replace_wasted: bool,
    /// At most this many redraws per place; the last draw then keeps the place.
    pub max_redraws: usize,
    /// Population diversity: a drawn candidate within this
    /// [distance](actfn_expr::distance) of a member already placed in its generation is a
    /// near-duplicate, recorded as rejected and replaced by a fresh random member of the
    /// space (see `diversity.rs`). `None` (the paper): only functionally equal candidates
    /// are caught. Left out of `config.ron` when `None`, so that searches without it keep
    /// their text. Needs `replace_wasted`; not for the exhaustive strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<f64>,
    /// Successive halving inside each generation (see [`HalvingConfig`]); `None` trains
    /// every candidate for the full budget, as the paper does. Absent from `config.ron`
    /// when off, so a search without it keeps the text (and the comparison on resume) of
    /// the searches written before the option existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halving: Option<HalvingConfig>,
}

impl SearchConfig {
    /// A configuration with the defaults: top 3, waste replaced, at most 100 redraws.
    pub fn new(strategy: Strategy, seed: u64, space: SearchSpace) -> SearchConfig {
        SearchConfig {
            strategy,
            seed,
            space,
            top_k: 3,
            replace_wasted: true,
            max_redraws: 100,
            diversity: None,
            halving: None,
        }
    }

    /// The evaluation seed of every candidate.
    pub fn eval_seed(&self) -> u64 {
        self.seed
    }

    /// Checks the parameters fit together and stay within the limits
    /// ([`MAX_GENERATION_SIZE`], [`MAX_REDRAWS`], and through [`SearchSpace::new`] the
    /// space's depth), before any work starts.
    pub fn validate(&self) -> Result<(), EvoError> {
        let bad = |m: String| Err(EvoError::InvalidConfig(m));
        let size = match &self.strategy {
            Strategy::Exhaustive { batch } => ("exhaustive batch", *batch),
            Strategy::Random { population, .. } => ("population", *population),
            Strategy::Evolution(e) => ("population", e.population),
        };
        if size.1 > MAX_GENERATION_SIZE {
            return bad(format!(
                "the {} must be at most {MAX_GENERATION_SIZE} (a generation's candidates are planned and evaluated together), got {}",
                size.0, size.1
            ));
        }
        if self.max_redraws > MAX_REDRAWS {
            return bad(format!(
                "max_redraws must be at most {MAX_REDRAWS} (each redraw samples and fingerprints a candidate), got {}",
                self.max_redraws
            ));
        }
        if let Some(d) = self.diversity {
            if !(d >= 0.0 && d.is_finite()) {
                return bad(format!(
                    "the diversity distance must be finite and at least 0, got {d}"
                ));
            }
            if matches!(self.strategy, Strategy::Exhaustive { .. }) {
                return bad("diversity needs a random or evolution search: the exhaustive search draws nothing to replace a near-duplicate with".into());
            }
            if !self.replace_wasted {
                return bad("diversity replaces near-duplicates by fresh draws, which the paper-exact policy (no replaced draws) excludes".into());
            }
        }
        match &self.strategy {
            Strategy::Exhaustive { batch } => {
                if *batch == 0 {
                    return bad("the exhaustive batch must be at least 1".into());
                }
                // Refuse spaces that cannot be enumerated in any reasonable time.
                if self.space.size().bits() > 32 {
                    return bad(format!(
                        "exhaustive search of a space of {} functions is not feasible",
                        self.space.size()
                    ));
                }
            }
            Strategy::Random { population, .. } => {
                if *population == 0 {
                    return bad("the population must be at least 1".into());
                }
            }
            Strategy::Evolution(e) => {
                if e.population == 0 {
                    return bad("the population must be at least 1".into());
                }
                if e.elites + e.random > e.population {
                    return bad(format!(
                        "elites ({}) + random ({}) exceed the population ({})",
                        e.elites, e.random, e.population
                    ));
                }
            }
        }
        if let Some(halving) = &self.halving {
            halving.validate(&self.strategy)?;
        }
        Ok(())
    }

    /// Number of generations the search has.
    pub fn generations(&self) -> usize {
        match &self.strategy {
            Strategy::Exhaustive { batch } => {
                let digits = self.space.size().to_u64_digits();
                let size = match digits.as_slice() {
                    [] => 0,
                    [d] => usize::try_from(*d).unwrap_or(usize::MAX),
                    _ => usize::MAX,
                };
                size.div_ceil(*batch)
            }
            Strategy::Random { generations, .. } => *generations,
            Strategy::Evolution(e) => e.generations,
        }
    }
}

/// The successive-halving settings of a search (absent from `config.ron` when off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalvingConfig {
    /// At each rung, the best `ceil(n / eta)` of the `n` candidates go on; at least 2.
    pub eta: u32,
    /// Epochs of the first rung; the next rungs are `min_epochs * eta^k`, capped at the
    /// full budget, which is always the last rung.
    pub min_epochs: u32,
}

impl HalvingConfig {
    /// Checks the settings that do not depend on the training budget.
    pub fn validate(&self, strategy: &Strategy) -> Result<(), EvoError> {
        let bad = |m: String| Err(EvoError::InvalidConfig(m));
        if self.eta < 2 {
            return bad(format!(
                "halving needs eta of at least 2 (the best 1/eta go on at each rung), got {}",
                self.eta
            ));
        }
        if self.min_epochs == 0 {
            return bad("halving's first rung must train at least 1 epoch, got 0".into());
        }
        if matches!(strategy, Strategy::Exhaustive { .. }) {
            return bad(
                "halving needs a population to select from; the exhaustive search trains \
                 every function of the space to the end, in batches that are not populations"
                    .into(),
            );
        }
        Ok(())
    }

    /// The rungs for a full budget of `budget` epochs: `min_epochs * eta^k` below the
    /// budget, then the budget. Refuses a first rung above the budget.
    pub fn rungs(&self, budget: u32) -> Result<Vec<u32>, EvoError> {
        if self.min_epochs > budget {
            return Err(EvoError::InvalidConfig(format!(
                "halving's first rung ({} epochs) is above the full budget of {budget} epochs",
                self.min_epochs
            )));
        }
        let mut rungs = Vec::new();
        let mut epochs = u64::from(self.min_epochs);
        while epochs < u64::from(budget) {
            rungs.push(epochs as u32);
            epochs *= u64::from(self.eta);
        }
        rungs.push(budget);
        Ok(rungs)
    }
}

/// The content of `config.ron`: the search configuration, the task (evaluator)
/// configuration `T` the caller defines, and the evaluator's configuration hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig<T> {
    /// The search.
    pub search: SearchConfig,
    /// The task, as the caller (the CLI) defines it; it rebuilds the evaluator on resume.
    pub task: T,
    /// [`Evaluator::config_hash`](crate::Evaluator::config_hash) of the task's evaluator.
    pub config_hash: String,
}

impl<T: Serialize + DeserializeOwned> StoredConfig<T> {
    /// The text of `config.ron`, refused unless it reads back to this same configuration:
    /// a search is only started if it can be resumed. (An expression past actfn-expr's
    /// size limits in the task, say, fails here, before anything is written.)
    pub fn to_ron(&self) -> Result<String, EvoError> {
        let text = ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .map_err(|e| EvoError::Serialize(e.to_string()))?;
        let unreadable = |why: String| {
            Err(EvoError::InvalidConfig(format!(
                "its config.ron would not read back ({why}), so the search could not be resumed"
            )))
        };
        let back: StoredConfig<T> = match ron::from_str(&text) {
            Ok(back) => back,
            Err(e) => return unreadable(e.to_string()),
        };
        let value = |c: &StoredConfig<T>| {
            serde_json::to_value(c).map_err(|e| EvoError::Serialize(e.to_string()))
        };
        let diff = differences(&value(self)?, &value(&back)?);
        if !diff.is_empty() {
            return unreadable(diff.join("; "));
        }
        Ok(text)
    }
}

/// The fields in which two serialized values differ, as `path: a -> b`.
pub(crate) fn differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(ma), Value::Object(mb)) => {
                let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (ma.get(k), mb.get(k)) {
                        (Some(x), Some(y)) => walk(&p, x, y, out),
                        (x, y) => out.push(format!("{p}: {} -> {}", show(x), show(y))),
                    }
                }
            }
            (Value::Array(va), Value::Array(vb)) if va.len() == vb.len() => {
                for (i, (x, y)) in va.iter().zip(vb).enumerate() {
                    walk(&format!("{path}[{i}]"), x, y, out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    fn show(v: Option<&serde_json::Value>) -> String {
        v.map_or_else(|| "(absent)".to_string(), |v| v.to_string())
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        let space = SearchSpace::paper(2);
        let ok = SearchConfig::new(
            Strategy::paper_evolution(FitnessMetric::Loss),
            1,
            space.clone(),
        );
        ok.validate().unwrap();
        assert_eq!(ok.generations(), 10);
        let mut bad = ok.clone();
        bad.strategy = Strategy::Evolution(EvolutionConfig {
            population: 10,
            elites: 5,
            random: 6,
            generations: 3,
            fitness: FitnessMetric::Loss,
        });
        assert!(bad.validate().unwrap_err().to_string().contains("exceed"));
        let s2 = SearchConfig::new(Strategy::Exhaustive { batch: 50 }, 1, space);
        assert!(s2.validate().is_err());
        let s1 = SearchConfig::new(Strategy::Exhaustive { batch: 50 }, 1, SearchSpace::paper(1));
        s1.validate().unwrap();
        let mut huge = s1.clone();
        huge.strategy = Strategy::Random {
            population: 1 << 40,
            generations: 1,
        };
        assert_eq!(
            huge.validate().unwrap_err().to_string(),
            "invalid search configuration: the population must be at most 100000 (a \
             generation's candidates are planned and evaluated together), got 1099511627776"
        );
        let mut redraws = s1.clone();
        redraws.max_redraws = usize::MAX;
        assert!(redraws
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_redraws must be at most 100000"));
        // A space past the depth limit cannot even be read from a config file.
        let text = ron::to_string(&s1).unwrap().replace("depth:1", "depth:300");
        assert!(text.contains("depth:300"), "{text}");
        let err = ron::from_str::<SearchConfig>(&text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("search-space depth 300 is more than the limit of 17"),
            "{err}"
        );
        assert_eq!(s1.generations(), 3456usize.div_ceil(50));
    }

    #[test]
    fn refuses_a_config_that_would_not_read_back() {
        let space = SearchSpace::paper(1);
        let search = SearchConfig::new(Strategy::Exhaustive { batch: 50 }, 1, space);
        let stored = |task: actfn_expr::Expr| StoredConfig {
            search: search.clone(),
            task,
            config_hash: "h".into(),
        };
        let ok = stored("tanh(x) * min0(x)".parse().unwrap());
        let text = ok.to_ron().unwrap();
        assert_eq!(
            ron::from_str::<StoredConfig<actfn_expr::Expr>>(&text).unwrap(),
            ok
        );
        let mut tall = actfn_expr::Expr::X;
        for _ in 0..=actfn_expr::MAX_HEIGHT {
            tall = actfn_expr::Expr::unary(actfn_expr::UnaryOp::Neg, tall);
        }
        let err = stored(tall).to_ron().unwrap_err().to_string();
        assert!(
            err.contains("is 61 levels tall, more than the limit of 60"),
            "{err}"
        );
    }

    #[test]
    fn round_trips_through_ron_and_names_differences() {
        let c = SearchConfig::new(
            Strategy::paper_evolution(FitnessMetric::Accuracy),
            7,
            SearchSpace::paper(2),
        );
        let text = ron::ser::to_string_pretty(&c, ron::ser::PrettyConfig::default()).unwrap();
        let back: SearchConfig = ron::from_str(&text).unwrap();
        assert_eq!(back, c);
        let mut d = c.clone();
        d.seed = 8;
        d.strategy = Strategy::paper_evolution(FitnessMetric::Loss);
        let diff = differences(
            &serde_json::to_value(&c).unwrap(),
            &serde_json::to_value(&d).unwrap(),
        );
        assert_eq!(
            diff,
            vec![
                "seed: 7 -> 8".to_string(),
                "strategy.Evolution.fitness: \"Accuracy\" -> \"Loss\"".to_string()
            ]
        );
    }

    fn halving(eta: u32, min_epochs: u32) -> HalvingConfig {
        HalvingConfig { eta, min_epochs }
    }

    #[test]
    fn rungs_grow_by_eta_and_end_at_the_budget() {
        assert_eq!(halving(3, 1).rungs(4).unwrap(), vec![1, 3, 4]);
        assert_eq!(halving(2, 1).rungs(8).unwrap(), vec![1, 2, 4, 8]);
        assert_eq!(halving(3, 2).rungs(50).unwrap(), vec![2, 6, 18, 50]);
        assert_eq!(halving(2, 4).rungs(4).unwrap(), vec![4]);
        // No overflow however large eta is.
        assert_eq!(
            halving(u32::MAX, 1).rungs(u32::MAX).unwrap(),
            vec![1, u32::MAX]
        );
        let err = halving(2, 5).rungs(4).unwrap_err().to_string();
        assert!(
            err.contains("first rung (5 epochs) is above the full budget of 4"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_settings() {
        let evolution = Strategy::Evolution(EvolutionConfig {
            population: 4,
            elites: 1,
            random: 1,
            generations: 2,
            fitness: FitnessMetric::Loss,
        });
        halving(2, 1).validate(&evolution).unwrap();
        let err = halving(1, 1).validate(&evolution).unwrap_err().to_string();
        assert!(err.contains("eta of at least 2"), "{err}");
        let err = halving(3, 0).validate(&evolution).unwrap_err().to_string();
        assert!(err.contains("at least 1 epoch"), "{err}");
        let err = halving(3, 1)
            .validate(&Strategy::Exhaustive { batch: 5 })
            .unwrap_err()
            .to_string();
        assert!(err.contains("exhaustive"), "{err}");
    }
}
