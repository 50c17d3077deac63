//! Activation functions as expressions: the op set and search spaces of evolutionary
//! activation-function search (Bingham, Macke and Miikkulainen, GECCO 2020), with
//! parsing, printing, f64 evaluation and symbolic derivatives.
//!
//! This crate knows nothing of tensors or training; it is pure and builds in seconds.
//!
//! ```
//! use actfn_expr::{fingerprint, Expr, SearchSpace, Style};
//!
//! let f: Expr = "tanh(x) * min(x, 0)".parse()?;
//! assert_eq!(f.styled(Style::Paper).to_string(), "tanh(x) * min{x, 0}");
//! assert_eq!(f.eval(-1.0), (-1f64).tanh() * -1.0);
//! assert_eq!(f.derivative()?.to_string(), "(1 - tanh(x)^2) * min(x, 0) + tanh(x) * (0.5 * (1 - sign(x)))");
//!
//! let s1 = SearchSpace::paper(1);
//! assert_eq!(s1.size(), 3_456u32.into());
//! let member = s1.recognize(&f).expect("an S_1 member");
//! assert_eq!(member.to_string(), "mul(tanh(x), min0(x))".parse::<Expr>()?.to_string());
//! assert_eq!(fingerprint(&member), fingerprint(&f));
//! # Ok::<(), actfn_expr::ExprError>(())
//! ```

pub mod ast;
pub mod derivative;
pub mod distance;
pub mod error;
pub mod hash;
pub mod limits;
pub mod ops;
pub mod paper;
pub mod parse;
pub mod print;
pub mod probe;
pub mod rewrite;
pub mod space;

pub use ast::{Expr, Literal};
pub use distance::{distance, expr_distance, ProbeValues, DEFAULT_DIVERSITY};
pub use error::ExprError;
pub use hash::{stable_hash, StableHasher};
pub use limits::{MAX_HEIGHT, MAX_NESTING, MAX_NODES, MAX_SPACE_DEPTH};
pub use ops::{BinaryOp, UnaryOp, EPS};
pub use paper::PAPER_FUNCTIONS;
pub use print::{Style, Styled};
pub use probe::{degeneracy, fingerprint, Degeneracy, Fingerprint};
pub use rewrite::simplify;
pub use space::SearchSpace;
