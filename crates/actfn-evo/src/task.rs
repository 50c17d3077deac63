//! [`TaskConfig`]: what evaluating a candidate means, as a search directory's `config.ron`
//! stores it (its `task` field).
//!
//! The fit task is defined here; the CIFAR task's configuration (data, split,
//! preprocessing, training schedule) belongs to the crate that trains, which this crate
//! does not know, so it is the type parameter `C`. The `actfn` binary stores
//! `TaskConfig<actfn's CifarTask>`; a program without torch reads any search directory
//! with [`AnyTask`], which keeps the CIFAR part as a RON value.

use serde::{Deserialize, Serialize};

use crate::fit::FitConfig;

/// A task's configuration, as stored in `config.ron`. The variant names are part of the
/// stored text: renaming one makes existing search directories unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskConfig<C> {
    /// Fit a target function.
    Fit(FitConfig),
    /// Train a network on CIFAR-10 or CIFAR-100, configured by the training crate.
    Cifar(C),
}

/// A task read without the training crate's types: the CIFAR configuration as a RON
/// value (maps, strings and numbers; enum values such as the data set lose their name).
/// For reading a search directory; an evaluator cannot be rebuilt from it.
pub type AnyTask = TaskConfig<ron::Value>;

impl<C> TaskConfig<C> {
    /// The CIFAR task's configuration, if this is one.
    pub fn cifar(&self) -> Option<&C> {
        match self {
            TaskConfig::Cifar(c) => Some(c),
            TaskConfig::Fit(_) => None,
        }
    }

    /// The CIFAR task's configuration, mutable, if this is one.
    pub fn cifar_mut(&mut self) -> Option<&mut C> {
        match self {
            TaskConfig::Cifar(c) => Some(c),
            TaskConfig::Fit(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoredConfig;

    /// The head and task of a `config.ron` that `actfn search --task cifar10` wrote.
    const CIFAR_CONFIG: &str = r#"(
    search: (
        strategy: Random(population: 4, generations: 2),
        seed: 3,
        space: (depth: 1, unary: ["id", "tanh"], binary: ["add"]),
        top_k: 3,
        replace_wasted: true,
        max_redraws: 100,
    ),
    task: Cifar((
        data_dir: "data",
        data: (
            dataset: cifar10,
            split: (val_per_class: 10, train_size: Some(512), seed: 0),
            preprocess: (center: true, zca: true, zca_epsilon: 0.01),
        ),
        train: (depth: 10, width: 1, epochs: 1, milestones: [], seed: 3, threads: Some(1)),
    )),
    config_hash: "87070d0c33727129",
)"#;

    #[test]
    fn a_cifar_search_reads_without_the_training_types() {
        let stored: StoredConfig<AnyTask> = ron::from_str(CIFAR_CONFIG).unwrap();
        assert_eq!(stored.search.seed, 3);
        assert_eq!(stored.config_hash, "87070d0c33727129");
        let ron::Value::Map(task) = stored.task.cifar().unwrap() else {
            panic!("the CIFAR task reads as a map");
        };
        let key = |k: &str| ron::Value::String(k.to_owned());
        let data_dir = task.iter().find(|(k, _)| **k == key("data_dir"));
        assert_eq!(data_dir.map(|(_, v)| v), Some(&key("data")));
    }

    #[test]
    fn a_fit_task_reads_as_fit() {
        let text = CIFAR_CONFIG.replace(
            &CIFAR_CONFIG[CIFAR_CONFIG.find("task:").unwrap()..CIFAR_CONFIG.find("config_hash").unwrap()],
            "task: Fit((target: \"tanh(x)\", grid_points: 10, lo: -5.0, hi: 5.0, tolerance: 0.05, delay_ms: 0, timeout_ms: None)),\n    ",
        );
        let stored: StoredConfig<AnyTask> = ron::from_str(&text).unwrap();
        assert!(matches!(stored.task, TaskConfig::Fit(ref f) if f.grid_points == 10));
        assert!(stored.task.cifar().is_none());
    }
}
