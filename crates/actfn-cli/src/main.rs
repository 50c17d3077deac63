//! The `actfn` binary: a thin router from subcommands to the library crates.
//!
//! Every subcommand lives in its own module with an `Args` struct and a `run` function;
//! this file only dispatches; `exit.rs` turns the outcome into one line on stderr and the
//! exit code (0 ok, 1 job failed, 2 bad input).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_cmd;
mod data_cmd;
mod exit;
mod expr_cmd;
mod figures;
mod input_args;
mod model_cmd;
mod plot_cmd;
mod report_cmd;
mod search_cmd;
mod stats_cmd;
mod train_cmd;

/// Discover, train and compare neural-network activation functions.
///
/// Every command exits with 0 when its job succeeded, 1 when the job ran and failed, and 2
/// on bad input (arguments, expressions, files or data), after one line on stderr.
#[derive(Debug, Parser)]
#[command(name = "actfn", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, print, evaluate, differentiate and enumerate activation expressions.
    Expr(expr_cmd::ExprArgs),
    /// Fetch the CIFAR data sets into the data folder.
    Data(data_cmd::DataArgs),
    /// Summary statistics and t-tests over files of numbers.
    Stats(stats_cmd::StatsArgs),
    /// Draw activation functions (PNG or SVG), or a scatter of two CSV columns.
    Plot(plot_cmd::PlotArgs),
    /// Run or resume an activation-function search (exhaustive, random or evolution).
    Search(search_cmd::SearchArgs),
    /// Summarize a search directory: top functions, per-generation bests, counts.
    Report(report_cmd::ReportArgs),
    /// Facts about WRN-d-k networks: shape and parameter count.
    Model(model_cmd::ModelArgs),
    /// Train a WRN with one activation on CIFAR-10/100; report validation and test accuracy.
    ///
    /// Exit codes: 0 when the training ran to its end or diverged (a diverged training is
    /// a result, reported with status `diverged`); 1 when it failed (an error during
    /// training, e.g. out of memory); 2 on bad input.
    Train(train_cmd::TrainArgs),
    /// Time a training step of a WRN with an activation, and its peak memory.
    Bench(bench_cmd::BenchArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Expr(args) => expr_cmd::run(args),
        Command::Data(args) => data_cmd::run(args),
        Command::Stats(args) => stats_cmd::run(args),
        Command::Plot(args) => plot_cmd::run(args),
        Command::Search(args) => search_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Model(args) => model_cmd::run(args),
        Command::Train(args) => train_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exit::bad_arguments(err),
    };
    exit::install_panic_hook();
    exit::run_to_exit_code(|| run(cli))
}
