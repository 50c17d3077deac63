//! `actfn bench`: time one training step of a network with an activation, and its peak
//! memory.

use actfn_expr::Expr;
use actfn_wrn::activation::Activation;
use actfn_wrn::activation::ActivationMode;
use actfn_wrn::bench::{bench_steps, StepBenchConfig};
use actfn_wrn::model::NetworkConfig;
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::options::training::NetworkArgs;

/// Arguments of `actfn bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Median seconds per training step (forward, backward, SGD update) on random data,
    /// and the process's peak resident memory. Several activations and modes are measured
    /// side by side, one step of each in turn (the peak is then the whole process's).
    // A step benchmark defaults to WRN-16-4, small enough to measure on a CPU; `--depth`
    // and `--width` are the former spellings (see `options::training`).
    #[command(
        mut_arg("wrn_depth", |a| a.default_value(STEP_DEFAULT_DEPTH).alias("depth")),
        mut_arg("wrn_width", |a| a.default_value(STEP_DEFAULT_WIDTH).alias("width"))
    )]
    Step(StepArgs),
}

/// WRN depth of `bench step` when none is given.
const STEP_DEFAULT_DEPTH: &str = "16";
/// WRN width of `bench step` when none is given.
const STEP_DEFAULT_WIDTH: &str = "4";

/// Arguments of `actfn bench step`.
#[derive(Debug, Args)]
struct StepArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// The activation, e.g. `relu(x)` or `tanh(x) * min(x, 0)`; repeat to compare.
    #[arg(long, default_value = "relu(x)")]
    activation: Vec<String>,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: i64,
    /// Measured steps.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Unmeasured steps first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// How the activation's gradient is computed: `symbolic`, `fused` or `autograd`;
    /// repeat to compare (ReLU runs once, its fast path is the same in every mode).
    #[arg(long, default_value = "symbolic")]
    mode: Vec<ActivationMode>,
    /// Number of classes.
    #[arg(long, default_value_t = 10)]
    classes: i64,
    /// libtorch threads (default: libtorch's choice).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `actfn bench ...`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Step(StepArgs {
            network,
            activation,
            batch,
            steps,
            warmup,
            mode,
            classes,
            threads,
            json,
        }) => {
            let mut configs = Vec::new();
            for text in &activation {
                let expr: Expr = text
                    .parse()
                    .with_context(|| format!("cannot read the activation {text:?}"))?;
                for (i, &mode) in mode.iter().enumerate() {
                    if i > 0 && Activation::new(&expr, mode).is_relu() {
                        continue;
                    }
                    configs.push(StepBenchConfig {
                        activation: expr.clone(),
                        mode,
                        model: NetworkConfig::cifar(network.arch(), classes),
                        batch_size: batch,
                        steps,
                        warmup,
                        threads,
                        device: None,
                    });
                }
            }
            let results = bench_steps(&configs).context("benchmark failed")?;
            let baseline = results.first().map(|b| b.median_seconds);
            for b in results {
                print_bench(&b, json, baseline)?;
            }
            Ok(())
        }
    }
}

/// Prints one measurement; `baseline` is the first configuration's median step time.
fn print_bench(
    b: &actfn_wrn::bench::StepBench,
    json: bool,
    baseline: Option<f64>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(&b)?);
    } else {
        println!(
            "{} batch {} ({} parameters), {} threads",
            b.network, b.batch_size, b.parameters, b.threads
        );
        println!(
            "activation: {} ({}{})",
            b.activation,
            b.mode,
            if b.relu_fast_path {
                ", relu fast path"
            } else {
                ""
            }
        );
        println!(
            "step: median {:.4} s (min {:.4}, max {:.4}) over {} steps{}",
            b.median_seconds,
            b.min_seconds,
            b.max_seconds,
            b.steps,
            baseline.map_or_else(String::new, |t| format!(
                ", {:.2}x the first",
                b.median_seconds / t
            ))
        );
        if let Some(cpu) = b.median_cpu_seconds {
            println!("step CPU time: median {cpu:.4} s over all threads");
        }
        match b.peak_rss_bytes {
            Some(bytes) => println!("peak memory: {:.1} MB", bytes as f64 / 1e6),
            None => println!("peak memory: not reported by this OS"),
        }
    }
    Ok(())
}
