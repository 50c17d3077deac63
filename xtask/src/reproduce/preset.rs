//! The presets of `experiments/table{1,2,3}.ron`: what each table trains, and how.
//!
//! [`Training`] and [`SearchPlan`] are hashed (as RON text) into the names of search and
//! final-run directories, so their fields, order and serde names are part of every stored
//! run's key: changing them orphans existing runs (the tests below pin a few keys).

use std::collections::BTreeMap;
use std::path::Path;

use actfn_expr::stable_hash;
use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Training settings shared by searches and final runs of a preset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Training {
    pub dataset: String,
    pub depth: usize,
    pub width: usize,
    pub epochs: usize,
    pub milestones: Vec<usize>,
    pub train_size: Option<usize>,
    /// Validation images per class (`None`: the paper's 500 for CIFAR-10, 50 for CIFAR-100).
    pub val_per_class: Option<usize>,
    /// Test images evaluated (`Some(0)`: none, `None`: the whole test set).
    pub test_size: Option<usize>,
    pub batch: usize,
    /// ZCA ε (`--zca-epsilon`). Every preset names it: it is part of the run keys, so runs
    /// made with another preprocessing are never reused.
    pub zca_epsilon: f64,
    /// Convolution initialisation (`--init`: `he` or `uniform`), part of the run keys.
    pub init: String,
}

impl Training {
    /// A short stable key of these settings, naming the directory of their final runs.
    pub(crate) fn key(&self) -> String {
        let text = ron::to_string(self).expect("plain data serializes");
        format!(
            "{}-wrn{}-{}-e{}-{:08x}",
            self.dataset,
            self.depth,
            self.width,
            self.epochs,
            stable_hash(text.as_bytes()) as u32
        )
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "WRN-{}-{} on {}, {} epochs",
            self.depth, self.width, self.dataset, self.epochs
        )
    }
}

/// The folder name of a search: the plan's name and a hash of plan and training
/// settings, so that a search made with other settings is never continued.
pub(crate) fn search_dir_name(plan: &SearchPlan, training: &Training) -> String {
    let text = ron::to_string(&(plan, training)).expect("plain data serializes");
    format!("{}-{:08x}", plan.name, stable_hash(text.as_bytes()) as u32)
}

/// One search of a preset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchPlan {
    pub name: String,
    pub strategy: String,
    #[serde(default)]
    pub fitness: Option<String>,
    pub depth: usize,
    #[serde(default)]
    pub unary: Vec<String>,
    #[serde(default)]
    pub binary: Vec<String>,
    #[serde(default)]
    pub population: Option<usize>,
    #[serde(default)]
    pub elites: Option<usize>,
    #[serde(default)]
    pub random: Option<usize>,
    #[serde(default)]
    pub generations: Option<usize>,
}

/// A preset of Table 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table1 {
    pub about: String,
    pub search_training: Training,
    pub searches: Vec<SearchPlan>,
    pub top_k: usize,
    /// The final training on each data set of the table (CIFAR-10, then CIFAR-100): one
    /// settings each, so that a small preset can give CIFAR-100 the images it needs.
    pub final_trainings: Vec<Training>,
    pub final_runs: usize,
}

/// Run counts of Table 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2Runs {
    pub relu: usize,
    pub swish: usize,
    pub best_s1: usize,
    pub best_s2: usize,
}

/// A preset of Table 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2 {
    pub about: String,
    pub training: Training,
    pub runs: Table2Runs,
}

/// A preset of Table 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table3 {
    pub about: String,
    pub search_training: Training,
    pub search: SearchPlan,
    pub final_training: Training,
    pub final_runs: usize,
}

/// The preset used when none is given: `paper` where a CUDA GPU is visible, `cpu` otherwise.
pub(super) fn default_preset() -> String {
    if super::executor::cuda_gpu_visible() {
        "paper"
    } else {
        "cpu"
    }
    .to_owned()
}

pub(crate) fn load_preset<T: for<'de> Deserialize<'de>>(
    root: &Path,
    table: &str,
    preset: &str,
) -> anyhow::Result<T> {
    let path = root.join("experiments").join(format!("{table}.ron"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut presets: BTreeMap<String, T> = ron::from_str(&text)
        .with_context(|| format!("{}: not a valid preset file", path.display()))?;
    let names = presets.keys().cloned().collect::<Vec<_>>().join(", ");
    presets
        .remove(preset)
        .with_context(|| format!("{}: no preset {preset:?} (have: {names})", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn every_preset_of_every_table_loads() {
        for preset in ["smoke", "cpu", "paper"] {
            let t1: Table1 = load_preset(&root(), "table1", preset).unwrap();
            assert_eq!(t1.searches.len(), 4);
            let _: Table2 = load_preset(&root(), "table2", preset).unwrap();
            let _: Table3 = load_preset(&root(), "table3", preset).unwrap();
        }
        let err = load_preset::<Table1>(&root(), "table1", "nope").unwrap_err();
        assert!(format!("{err:#}").contains("no preset \"nope\""));
    }

    #[test]
    fn paper_preset_is_the_paper() {
        let t1: Table1 = load_preset(&root(), "table1", "paper").unwrap();
        assert_eq!(
            (t1.search_training.depth, t1.search_training.width),
            (28, 10)
        );
        assert_eq!(t1.search_training.epochs, 50);
        assert_eq!(t1.search_training.milestones, vec![25, 40, 45]);
        assert_eq!(t1.search_training.val_per_class, Some(500));
        for t in &t1.final_trainings {
            assert_eq!(t.epochs, 200);
            assert_eq!(t.milestones, vec![60, 120, 160]);
            assert_eq!((t.train_size, t.test_size), (None, None));
        }
        let datasets: Vec<&str> = t1
            .final_trainings
            .iter()
            .map(|t| t.dataset.as_str())
            .collect();
        assert_eq!(datasets, ["cifar10", "cifar100"]);
        assert_eq!(t1.final_runs, 5);
        let evo = &t1.searches[2];
        assert_eq!(
            (evo.population, evo.elites, evo.random, evo.generations),
            (Some(50), Some(5), Some(10), Some(10))
        );
        assert!(
            t1.searches[0].unary.is_empty(),
            "the paper's exhaustive search covers all of S1"
        );
        let t2: Table2 = load_preset(&root(), "table2", "paper").unwrap();
        assert_eq!(
            (
                t2.runs.relu,
                t2.runs.swish,
                t2.runs.best_s1,
                t2.runs.best_s2
            ),
            (50, 25, 50, 15)
        );
        let t3: Table3 = load_preset(&root(), "table3", "paper").unwrap();
        assert_eq!((t3.final_training.depth, t3.final_training.width), (40, 4));
    }

    #[test]
    fn training_keys_differ_when_settings_do() {
        let t1: Table1 = load_preset(&root(), "table1", "cpu").unwrap();
        let a = t1.final_trainings[0].clone();
        assert_eq!(a.key(), a.clone().key());
        let other_data = Training {
            dataset: "cifar100".into(),
            ..a.clone()
        };
        assert_ne!(a.key(), other_data.key());
        let mut b = a.clone();
        b.epochs += 1;
        assert_ne!(a.key(), b.key());
        // Runs made with another preprocessing or initialisation are never reused.
        let mut c = a.clone();
        c.zca_epsilon = 1e-6;
        assert_ne!(a.key(), c.key());
        let mut d = a.clone();
        d.init = "he".into();
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn cpu_table2_shares_table1s_cifar100_final_runs() {
        let t1: Table1 = load_preset(&root(), "table1", "cpu").unwrap();
        let t2: Table2 = load_preset(&root(), "table2", "cpu").unwrap();
        assert_eq!(t2.training.key(), t1.final_trainings[1].key());
    }

    #[test]
    fn paper_presets_pin_the_papers_preprocessing_and_init() {
        let t1: Table1 = load_preset(&root(), "table1", "paper").unwrap();
        let t2: Table2 = load_preset(&root(), "table2", "paper").unwrap();
        let t3: Table3 = load_preset(&root(), "table3", "paper").unwrap();
        for t in [
            &t1.search_training,
            &t1.final_trainings[0],
            &t1.final_trainings[1],
            &t2.training,
            &t3.search_training,
            &t3.final_training,
        ] {
            assert_eq!((t.zca_epsilon, t.init.as_str()), (1e-6, "he"), "{t:?}");
        }
        let args = crate::actfn_args::training_settings(&t1.final_trainings[0]);
        assert!(args.contains(&"--zca-epsilon=1e-6".to_owned()), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--init", "he"]), "{args:?}");
        // One spelling for `search` and `train`, and nothing that `search` would ignore.
        assert!(
            args.windows(2).any(|w| w == ["--wrn-depth", "28"]),
            "{args:?}"
        );
        assert!(
            !args.iter().any(|a| a == "--depth" || a == "--test-size"),
            "{args:?}"
        );
    }

    /// Keys of the smoke preset's runs as made before the xtask was split: the folder
    /// names under `runs/smoke/`. A change here orphans every stored run.
    #[test]
    fn smoke_keys_are_pinned() {
        let t1: Table1 = load_preset(&root(), "table1", "smoke").unwrap();
        assert_eq!(t1.final_trainings[0].key(), "cifar10-wrn10-1-e1-bbeda03a");
        let names: Vec<String> = t1
            .searches
            .iter()
            .map(|plan| search_dir_name(plan, &t1.search_training))
            .collect();
        assert_eq!(
            names,
            [
                "exhaustive-s1-f5f6f78c",
                "random-s2-45cfaa82",
                "evolution-loss-s2-15997498",
                "evolution-accuracy-s2-6080c7b8"
            ]
        );
    }
}
