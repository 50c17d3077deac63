//! Command-line options shared by several subcommands, each declared once: the training
//! recipe, the data and preprocessing, the executor, the divergence pre-check.

pub mod executor;
pub mod input;
pub mod precheck;
pub mod training;
