//! `actfn expr`: count, sample and enumerate search spaces; parse, print, evaluate,
//! differentiate and check single activation expressions.
//!
//! Output is plain lines for scripts: `eval` and `grad` print one value per line and
//! nothing else, `sample` and `enumerate` one canonical expression per line.

use std::io::{self, BufWriter, Write as _};

use actfn_expr::{degeneracy, fingerprint, BinaryOp, Expr, SearchSpace, Style, UnaryOp};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Arguments of `actfn expr`.
#[derive(Debug, Args)]
pub struct ExprArgs {
    #[command(subcommand)]
    command: ExprCommand,
}

#[derive(Debug, Subcommand)]
enum ExprCommand {
    /// Print the exact number of functions in the search space S_D.
    Count(SpaceArgs),
    /// Print f(x) at each point, one value per line.
    Eval(PointsArgs),
    /// Print the derivative f'(x) at each point, one value per line.
    Grad(PointsArgs),
    /// Print an expression in canonical, paper or LaTeX notation.
    Print {
        /// The expression, e.g. "tanh(x) * min(x, 0)".
        #[arg(allow_hyphen_values = true)]
        expr: String,
        /// The notation.
        #[arg(long, value_enum, default_value_t = StyleArg::Canonical)]
        style: StyleArg,
    },
    /// Print COUNT uniformly random members of S_D, one per line.
    Sample {
        #[command(flatten)]
        space: SpaceArgs,
        /// How many to draw (with replacement).
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Seed of the ChaCha8 generator: the same seed gives the same list.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print the members of S_D in their canonical order, one per line.
    Enumerate {
        #[command(flatten)]
        space: SpaceArgs,
        /// Stop after this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Print an expression's fingerprint, degeneracy verdict and search-space membership.
    Check {
        /// The expression.
        #[arg(allow_hyphen_values = true)]
        expr: String,
    },
}

/// A search space on the command line.
#[derive(Debug, Args)]
struct SpaceArgs {
    /// Depth d of S_d (core-unit levels; the paper searches S_1 and S_2).
    #[arg(long)]
    depth: usize,
    /// Comma-separated unary ops (canonical names); default: the paper's 24.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    unary_ops: Option<Vec<UnaryOp>>,
    /// Comma-separated binary ops (add,sub,mul,div,max,min); default: all six.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    binary_ops: Option<Vec<BinaryOp>>,
}

impl SpaceArgs {
    fn space(&self) -> anyhow::Result<SearchSpace> {
        let unary = self
            .unary_ops
            .clone()
            .unwrap_or_else(|| UnaryOp::PAPER.to_vec());
        let binary = self
            .binary_ops
            .clone()
            .unwrap_or_else(|| BinaryOp::ALL.to_vec());
        Ok(SearchSpace::new(self.depth, unary, binary)?)
    }
}

#[derive(Debug, Args)]
struct PointsArgs {
    /// The expression.
    #[arg(allow_hyphen_values = true)]
    expr: String,
    /// Comma-separated points x (inf, -inf and NaN allowed).
    #[arg(
        long,
        required = true,
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    at: Vec<f64>,
    /// `f64`: actfn-expr's evaluator; `torch`: the f32 tensor path training uses (the
    /// gradient by a backward pass).
    #[arg(long, value_enum, default_value_t = Backend::F64)]
    backend: Backend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    F64,
    Torch,
}

/// Values (or derivatives, with `grad`) of `p.expr` at `p.at` on the chosen backend.
fn points(p: &PointsArgs, grad: bool) -> anyhow::Result<Vec<f64>> {
    let f = Expr::parse(&p.expr)?;
    match p.backend {
        Backend::F64 => {
            let g = if grad { f.derivative()? } else { f };
            Ok(p.at.iter().map(|&x| g.eval(x)).collect())
        }
        Backend::Torch => {
            let (values, grads) = actfn_wrn::activation::values_and_gradients(
                &f,
                actfn_wrn::activation::ActivationMode::Autograd,
                &p.at,
            )
            .context("the torch backend failed")?;
            Ok(if grad { grads } else { values })
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StyleArg {
    /// Reads back to the identical tree.
    Canonical,
    /// The paper's notation, with σ and ε.
    Paper,
    /// The paper's notation in ASCII.
    PaperAscii,
    /// LaTeX math.
    Latex,
}

impl From<StyleArg> for Style {
    fn from(s: StyleArg) -> Style {
        match s {
            StyleArg::Canonical => Style::Canonical,
            StyleArg::Paper => Style::Paper,
            StyleArg::PaperAscii => Style::PaperAscii,
            StyleArg::Latex => Style::Latex,
        }
    }
}

/// Runs `actfn expr`.
pub fn run(args: ExprArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.command {
        ExprCommand::Count(space) => writeln!(out, "{}", space.space()?.size())?,
        ExprCommand::Eval(p) => {
            for v in points(&p, false)? {
                writeln!(out, "{v}")?;
            }
        }
        ExprCommand::Grad(p) => {
            for v in points(&p, true)? {
                writeln!(out, "{v}")?;
            }
        }
        ExprCommand::Print { expr, style } => {
            writeln!(out, "{}", Expr::parse(&expr)?.styled(style.into()))?;
        }
        ExprCommand::Sample { space, count, seed } => {
            let space = space.space()?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..count {
                writeln!(out, "{}", space.sample(&mut rng))?;
            }
        }
        ExprCommand::Enumerate { space, limit } => {
            let members = space.space()?.enumerate().take(limit.unwrap_or(usize::MAX));
            for e in members {
                if let Err(err) = writeln!(out, "{e}") {
                    // `actfn expr enumerate --depth 2 | head` is normal use.
                    if err.kind() == io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(err.into());
                }
            }
        }
        ExprCommand::Check { expr } => check(&Expr::parse(&expr)?, &mut out)?,
    }
    match out.flush() {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// The `check` report: one `key: value` line each.
fn check(e: &Expr, out: &mut impl io::Write) -> anyhow::Result<()> {
    writeln!(out, "canonical: {e}")?;
    writeln!(out, "paper: {}", e.styled(Style::Paper))?;
    writeln!(out, "fingerprint: {}", fingerprint(e))?;
    match degeneracy(e) {
        None => writeln!(out, "degenerate: no")?,
        Some(d) => writeln!(out, "degenerate: {d}")?,
    }
    // Shorthand like `x` for `id(x)` can lower the height, so try every depth nearby.
    let membership = (1..=e.height().clamp(1, 8))
        .map(SearchSpace::paper)
        .find_map(|space| {
            if space.contains(e) {
                Some(format!("S_{}", space.depth()))
            } else {
                let member = space.recognize(e)?;
                Some(format!("S_{} as {member}", space.depth()))
            }
        })
        .unwrap_or_else(|| "none".to_owned());
    writeln!(out, "search space: {membership}")?;
    Ok(())
}
