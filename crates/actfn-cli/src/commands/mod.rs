//! The subcommands of `actfn`: one module each, with an `Args` struct and a `run` function.

pub mod bench;
pub mod compare;
pub mod data;
pub mod evaluate;
pub mod expr;
pub mod model;
pub mod plot;
pub mod precheck;
pub mod report;
pub mod search;
pub mod stats;
pub mod train;
