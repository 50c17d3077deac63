//! The `actfn` binary: a thin router from subcommands to the library crates.
//!
//! Every subcommand lives in its own module with an `Args` struct and a `run` function;
//! this file only dispatches; `exit.rs` turns the outcome into one line on stderr and the
//! exit code (0 ok, 1 job failed, 2 bad input).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod execution;
mod exit;
mod options;
mod output;
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
    Expr(commands::expr::ExprArgs),
    /// Fetch a data set into the data folder, show a split, export a data set as an image
    /// folder or an npz.
    Data(commands::data::DataArgs),
    /// Summary statistics and t-tests over files of numbers.
    Stats(commands::stats::StatsArgs),
    /// Draw activation functions (PNG or SVG), or a scatter of two CSV columns.
    Plot(commands::plot::PlotArgs),
    /// Run or resume an activation-function search (exhaustive, random or evolution).
    Search(Box<commands::search::SearchArgs>),
    /// Summarize a search directory: top functions, per-generation bests, counts.
    Report(commands::report::ReportArgs),
    /// Facts about the networks: shape and parameter count.
    Model(commands::model::ModelArgs),
    /// Train a network (WRN by default, --arch for another) with one activation on a data
    /// set (CIFAR-10 by default, --dataset for another); report validation and test
    /// accuracy.
    ///
    /// Exit codes: 0 when the training ran to its end or diverged (a diverged training is
    /// a result, reported with status `diverged`); 1 when it failed (an error during
    /// training, e.g. out of memory); 2 on bad input.
    // `--depth` and `--width` are the former spellings (see `options::training`).
    #[command(
        mut_arg("wrn_depth", |a| a.alias("depth")),
        mut_arg("wrn_width", |a| a.alias("width"))
    )]
    Train(commands::train::TrainArgs),
    /// Time a training step of a network with an activation, and its peak memory.
    Bench(commands::bench::BenchArgs),
    /// Train several functions --runs times each with the same recipe and test them
    /// against a baseline (t-tests, Holm's correction); resumable, on any executor.
    ///
    /// Exit codes: 0 when every run has a result (ok, diverged or failed: each is a
    /// result); 1 when some runs could not be carried out; 2 on bad input.
    #[command(
        mut_arg("wrn_depth", |a| a.alias("depth")),
        mut_arg("wrn_width", |a| a.alias("width"))
    )]
    Compare(Box<commands::compare::CompareArgs>),
    /// Worker of `search --executor local|slurm`: train one planned candidate and publish
    /// its result (see ARCHITECTURE.md).
    #[command(hide = true)]
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Run the divergence pre-check on every candidate recorded searches trained, and
    /// compare its verdicts with what happened in their training.
    #[command(hide = true)]
    Precheck(commands::precheck::PrecheckCmdArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Expr(args) => commands::expr::run(args),
        Command::Data(args) => commands::data::run(args),
        Command::Stats(args) => commands::stats::run(args),
        Command::Plot(args) => commands::plot::run(args),
        Command::Search(args) => commands::search::run(*args),
        Command::Report(args) => commands::report::run(args),
        Command::Model(args) => commands::model::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Compare(args) => commands::compare::run(*args),
        Command::Evaluate(args) => commands::evaluate::run(args),
        Command::Precheck(args) => commands::precheck::run(args),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("actfn").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// `train` and `bench step` took `--depth` and `--width` before the training options
    /// were declared once as `--wrn-depth` and `--wrn-width`; both spellings parse alike.
    #[test]
    fn old_spellings_of_the_network_still_parse() {
        let train = |args: &[&str]| match parse(args).command {
            Command::Train(t) => format!("{t:?}"),
            other => panic!("{other:?}"),
        };
        let base = ["train", "--activation", "relu(x)", "--epochs", "3"];
        let new = [&base[..], &["--wrn-depth", "16", "--wrn-width", "4"]].concat();
        let old = [&base[..], &["--depth", "16", "--width", "4"]].concat();
        assert_eq!(train(&new), train(&old));
        assert!(
            train(&new).contains("wrn_depth: 16, wrn_width: 4"),
            "{}",
            train(&new)
        );

        let bench = |args: &[&str]| format!("{:?}", parse(args).command);
        assert_eq!(
            bench(&["bench", "step", "--wrn-depth", "10", "--wrn-width", "2"]),
            bench(&["bench", "step", "--depth", "10", "--width", "2"])
        );
        // bench step keeps its own smaller default network.
        assert!(bench(&["bench", "step"]).contains("wrn_depth: 16, wrn_width: 4"));
        assert!(train(&base).contains("wrn_depth: 28, wrn_width: 10"));
    }

    /// `search --depth` is the search space's depth, never the network's.
    #[test]
    fn search_depth_is_the_space_and_wrn_depth_the_network() {
        let Command::Search(s) = parse(&[
            "search",
            "--task",
            "cifar10",
            "--strategy",
            "random",
            "--seed",
            "1",
            "--out",
            "x",
            "--depth",
            "2",
            "--wrn-depth",
            "10",
            "--wrn-width",
            "1",
            "--test-size",
            "5",
        ])
        .command
        else {
            panic!("not a search");
        };
        assert_eq!(s.depth, Some(2));
        assert_eq!(
            (s.training.network.wrn_depth, s.training.network.wrn_width),
            (10, 1)
        );
    }

    /// `--diversity` alone is actfn-expr's default distance; the options of the pre-check
    /// reach the training configuration.
    #[test]
    fn diversity_and_precheck_options() {
        let search = |extra: &[&str]| {
            let base = [
                "search",
                "--task",
                "cifar10",
                "--strategy",
                "random",
                "--seed",
                "1",
                "--out",
                "x",
            ];
            match parse(&[&base[..], extra].concat()).command {
                Command::Search(s) => s,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(search(&[]).diversity, None);
        assert_eq!(
            search(&["--diversity"]).diversity,
            Some(actfn_expr::DEFAULT_DIVERSITY)
        );
        assert_eq!(search(&["--diversity", "0.2"]).diversity, Some(0.2));
        let s = search(&["--precheck", "--precheck-steps", "2"]);
        let config = s.training.precheck.config().unwrap().unwrap();
        assert_eq!(config.steps, 2);
        assert_eq!(
            config.loss_factor,
            actfn_wrn::train::PrecheckConfig::default().loss_factor
        );
        assert_eq!(search(&[]).training.precheck.config().unwrap(), None);
        let err = search(&["--precheck-steps", "2"])
            .training
            .precheck
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("need --precheck"), "{err}");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
