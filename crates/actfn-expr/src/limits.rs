//! The size limits every tree built from outside input obeys, and the one rule they make.
//!
//! # The round-trip invariant
//!
//! A tree is *accepted* when it is at most [`MAX_HEIGHT`] levels tall and has at most
//! [`MAX_NODES`] nodes, also counting each `relu` and `min0` twice (the paper notation
//! writes them `max{E, 0}` and `min{E, 0}`, one node more). [`Expr::check_printable`]
//! tells whether a tree is accepted. Every way this crate and actfn-evo build a tree
//! from outside input refuses, with an [`ExprError`] naming the value and the limit, to
//! build one that is not:
//!
//! * [`Expr::parse`] (and so serde and every file that stores expressions);
//! * [`SearchSpace::new`](crate::SearchSpace::new) refuses depths above
//!   [`MAX_SPACE_DEPTH`], so that sampling and enumeration build accepted trees;
//! * [`Expr::derivative`] refuses a derivative that is not accepted, before building
//!   more than [`MAX_NODES`] nodes;
//! * actfn-evo's mutation and crossover check their parents and children.
//!
//! For every accepted tree, the text of every printer parses back: the canonical text to
//! the identical tree, the paper notation (Unicode and ASCII) to a tree with the same
//! values. This holds because the printers nest brackets at most
//! [`NESTING_PER_LEVEL`] deep per tree level, and the parser allows
//! [`MAX_NESTING`]` = NESTING_PER_LEVEL * MAX_HEIGHT + 16`, and because reading the paper
//! notation back never builds a taller tree, nor more nodes than the count above.
//!
//! # The stack
//!
//! Every recursive function of the crate (parser, printers, evaluation, derivative,
//! sampling, enumeration, fingerprint) recurses at most once per tree level, or per
//! bracket level of the text, so on accepted trees and text within [`MAX_NESTING`] it
//! stays far from the end of the stack: the parser, the deepest, needs under 2 MiB at
//! [`MAX_NESTING`] with any optimisation (the tests run in 2 MiB threads) and about
//! 4 MiB unoptimised. [`Expr::check_printable`], [`Expr::height`] and
//! [`Expr::node_count`] do not recurse, so they are safe on any tree.

use crate::ast::Expr;
use crate::error::{shorten, ExprError};
use crate::ops::UnaryOp;

/// The tallest accepted tree. The paper's spaces `S_1` to `S_3` have height 2 to 6, and
/// their symbolic derivatives stay under 40; the limit is what keeps the parser's
/// recursion, which is [`NESTING_PER_LEVEL`] times deeper than the tree, within a small
/// stack.
pub const MAX_HEIGHT: usize = 60;

/// The most bracket levels any printer writes per tree level: the paper notation's
/// Gaussian, `e^(-(E)^2)`, opens four (`e^`, `(`, `-`, `(`).
pub const NESTING_PER_LEVEL: usize = 4;

/// The tallest tree the printers write; they recurse once per level. Four times the
/// limit of accepted trees, so that error messages can show a refused derivative.
pub(crate) const PRINT_HEIGHT: usize = 4 * MAX_HEIGHT;

/// The deepest nesting of brackets, calls, prefix minus signs and exponents the parser
/// reads: room for every printer's text of an accepted tree, and a little more.
pub const MAX_NESTING: usize = NESTING_PER_LEVEL * MAX_HEIGHT + 16;

/// The most nodes of an accepted tree: 2^20, about 32 MiB as a tree. Evaluating such a
/// tree on a training batch is already far slower than any activation worth searching.
pub const MAX_NODES: usize = 1 << 20;

/// The deepest search space `S_d`: every member of `S_d` has `4 * 2^d - 3` nodes, of which
/// up to `2 * (2^d - 1)` can be `relu` or `min0`; `S_17` members have 524,285 nodes, which
/// with those counted twice stays under [`MAX_NODES`], while `S_18` would not.
pub const MAX_SPACE_DEPTH: usize = 17;

/// The sizes that decide whether a tree is accepted; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// [`Expr::height`].
    pub height: usize,
    /// [`Expr::node_count`].
    pub nodes: usize,
    /// Nodes of the tree the paper notation reads back to, at most: `nodes` plus one for
    /// each `relu` and `min0`.
    pub paper_nodes: usize,
}

impl Size {
    /// The larger of the two node counts, the one held to [`MAX_NODES`].
    pub fn counted_nodes(&self) -> usize {
        self.nodes.max(self.paper_nodes)
    }
}

impl Expr {
    /// Height and node counts, without recursion (safe on any tree).
    pub fn size(&self) -> Size {
        let mut size = Size {
            height: 0,
            nodes: 0,
            paper_nodes: 0,
        };
        let mut stack: Vec<(&Expr, usize)> = vec![(self, 0)];
        while let Some((e, level)) = stack.pop() {
            size.nodes += 1;
            size.paper_nodes += 1;
            size.height = size.height.max(level);
            match e {
                Expr::X | Expr::Const(_) => {}
                Expr::Unary(op, a) => {
                    if matches!(op, UnaryOp::Relu | UnaryOp::MinZero) {
                        size.paper_nodes += 1;
                    }
                    stack.push((a, level + 1));
                }
                Expr::Binary(_, a, b) => {
                    stack.push((b, level + 1));
                    stack.push((a, level + 1));
                }
            }
        }
        size
    }

    /// Whether the tree is accepted (see the [module docs](self)): every printer's text
    /// of it parses back. Does not recurse, so it is safe on any tree.
    ///
    /// The error names the expression (shortened) and the limit crossed.
    pub fn check_printable(&self) -> Result<(), ExprError> {
        check_size(self.size(), || subject(self))
    }
}

/// Checks `size` against the limits; `what` describes the tree for the message.
pub(crate) fn check_size(size: Size, what: impl FnOnce() -> String) -> Result<(), ExprError> {
    if size.height > MAX_HEIGHT {
        return Err(ExprError::TooTall {
            subject: what(),
            height: size.height,
            limit: MAX_HEIGHT,
        });
    }
    if size.counted_nodes() > MAX_NODES {
        return Err(ExprError::TooLarge {
            subject: what(),
            nodes: size.counted_nodes(),
            limit: MAX_NODES,
        });
    }
    Ok(())
}

/// The expression, quoted and shortened, for an error message. Printing recurses once per
/// level, so a tree too tall to print safely is described by its root op only.
pub(crate) fn subject(e: &Expr) -> String {
    if e.height() <= PRINT_HEIGHT {
        shorten(&e.to_string())
    } else {
        match e {
            Expr::Unary(op, _) => format!("an expression {}(...)", op.name()),
            Expr::Binary(op, ..) => format!("an expression {}(..., ...)", op.name()),
            _ => "an expression".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::BinaryOp;

    fn chain(op: UnaryOp, n: usize) -> Expr {
        let mut e = Expr::X;
        for _ in 0..n {
            e = Expr::unary(op, e);
        }
        e
    }

    #[test]
    fn size_counts_without_recursion() {
        // Far taller than any recursion could follow; dropped without recursion as well.
        let e = chain(UnaryOp::Relu, 100_000);
        let size = e.size();
        assert_eq!(size.height, 100_000);
        assert_eq!(size.nodes, 100_001);
        assert_eq!(size.paper_nodes, 200_001);
        let err = e.check_printable().unwrap_err().to_string();
        assert_eq!(
            err,
            "an expression relu(...) is 100000 levels tall, more than the limit of 60"
        );
        drop_iteratively(e);
    }

    #[test]
    fn limits_name_the_value() {
        let ok = chain(UnaryOp::Sin, MAX_HEIGHT);
        ok.check_printable().unwrap();
        let tall = chain(UnaryOp::Sin, MAX_HEIGHT + 1);
        let err = tall.check_printable().unwrap_err().to_string();
        assert!(err.starts_with("\"sin(sin("), "{err}");
        assert!(
            err.ends_with("is 61 levels tall, more than the limit of 60"),
            "{err}"
        );
        // A balanced sum of 2^20 - 1 nodes is accepted; two of them, one under a relu
        // (counted twice), are not.
        let mut wide = Expr::X;
        for _ in 0..19 {
            wide = Expr::binary(BinaryOp::Add, wide.clone(), wide);
        }
        assert_eq!(wide.node_count(), (1 << 20) - 1);
        wide.check_printable().unwrap();
        let wider = Expr::binary(
            BinaryOp::Add,
            wide.clone(),
            Expr::unary(UnaryOp::Relu, wide),
        );
        let err = wider.check_printable().unwrap_err();
        assert!(matches!(
            err,
            ExprError::TooLarge {
                nodes: 2_097_153,
                limit: MAX_NODES,
                ..
            }
        ));
        assert!(err.to_string().contains("2097153 nodes"), "{err}");
    }

    /// Takes a chain apart from the top so that dropping it does not recurse.
    fn drop_iteratively(mut e: Expr) {
        while let Expr::Unary(_, a) = e {
            e = *a;
        }
    }
}
