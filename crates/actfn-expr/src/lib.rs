//! Activation functions as expressions: the op set and search spaces of evolutionary
//! activation-function search (Bingham, Macke and Miikkulainen, GECCO 2020), with
//! parsing, printing, f64 evaluation and symbolic derivatives.
//!
//! This crate knows nothing of tensors or training; it is pure and builds in seconds.

pub mod ast;
pub mod ops;

pub use ast::{Expr, Literal};
pub use ops::{BinaryOp, UnaryOp, EPS};
