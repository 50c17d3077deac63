//! Slurm job arrays: options, batch scripts, splitting, queries, the intent journal and
//! the runner that ties them together.

pub mod array;
pub mod journal;
pub mod options;
pub mod query;
pub mod reachable;
pub mod script;
pub mod split;
