//! The `actfn` binary: a thin router from subcommands to the library crates.
//!
//! Every subcommand lives in its own module with an `Args` struct and a `run` function;
//! this file only dispatches and turns errors into one line on stderr and exit code 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_cmd;
mod data_cmd;
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
#[derive(Debug, Parser)]
#[command(name = "actfn", version, about)]
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
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("actfn: {err:#}");
            ExitCode::from(2)
        }
    }
}
