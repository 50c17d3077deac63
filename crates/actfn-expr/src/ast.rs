//! The expression tree of an activation function, with node addressing in pre-order
//! (the evolution operators pick nodes uniformly by index) and f64 evaluation.

use std::hash::{Hash, Hasher};

use crate::ops::{BinaryOp, UnaryOp};

/// A numeric literal in an expression (`cos(1)`, `max(x, 0)`), compared and hashed by its
/// bits so that expressions can be map keys.
#[derive(Debug, Clone, Copy)]
pub struct Literal(pub f64);

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Literal {}

impl Hash for Literal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// An activation function `f(x)` as a tree.
///
/// Members of the search spaces `S_d` use only [`Expr::X`], [`Expr::Unary`] and
/// [`Expr::Binary`]; [`Expr::Const`] exists so that any function written in ordinary math
/// (`max(x, 0)`, `cos(1)`) can be parsed, trained and compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// The input `x`.
    X,
    /// A numeric literal.
    Const(Literal),
    /// A unary op applied to a subtree.
    Unary(UnaryOp, Box<Expr>),
    /// A binary op applied to two subtrees.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// `op(arg)`.
    pub fn unary(op: UnaryOp, arg: Expr) -> Expr {
        Expr::Unary(op, Box::new(arg))
    }

    /// `op(lhs, rhs)`.
    pub fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Binary(op, Box::new(lhs), Box::new(rhs))
    }

    /// A literal.
    pub fn constant(value: f64) -> Expr {
        Expr::Const(Literal(value))
    }

    /// The paper's core unit `binary(unary1(x), unary2(x))` over given arguments.
    pub fn core_unit(b: BinaryOp, u1: UnaryOp, u2: UnaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::binary(b, Expr::unary(u1, lhs), Expr::unary(u2, rhs))
    }

    /// `f(x)` in f64. Recurses once per level: for accepted trees
    /// ([`Expr::check_printable`]).
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Expr::X => x,
            Expr::Const(c) => c.0,
            Expr::Unary(op, a) => op.eval(a.eval(x)),
            Expr::Binary(op, a, b) => op.eval(a.eval(x), b.eval(x)),
        }
    }

    /// Number of nodes (ops, `x` leaves and literals). Does not recurse.
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        self.visit(&mut |_| count += 1);
        count
    }

    /// Number of op nodes (unary and binary), i.e. the nodes a mutation may change.
    /// Does not recurse.
    pub fn op_count(&self) -> usize {
        let mut count = 0;
        self.visit(&mut |e| count += usize::from(!matches!(e, Expr::X | Expr::Const(_))));
        count
    }

    /// Height of the tree: a leaf has height 0. Does not recurse.
    pub fn height(&self) -> usize {
        self.size().height
    }

    /// The node at pre-order index `index` (the root is 0), if any.
    pub fn node(&self, index: usize) -> Option<&Expr> {
        let mut remaining = index;
        self.find(&mut remaining)
    }

    /// The node at pre-order index `index`, mutably.
    pub fn node_mut(&mut self, index: usize) -> Option<&mut Expr> {
        let mut remaining = index;
        self.find_mut(&mut remaining)
    }

    fn find(&self, remaining: &mut usize) -> Option<&Expr> {
        if *remaining == 0 {
            return Some(self);
        }
        *remaining -= 1;
        match self {
            Expr::X | Expr::Const(_) => None,
            Expr::Unary(_, a) => a.find(remaining),
            Expr::Binary(_, a, b) => a.find(remaining).or_else(|| b.find(remaining)),
        }
    }

    fn find_mut(&mut self, remaining: &mut usize) -> Option<&mut Expr> {
        if *remaining == 0 {
            return Some(self);
        }
        *remaining -= 1;
        match self {
            Expr::X | Expr::Const(_) => None,
            Expr::Unary(_, a) => a.find_mut(remaining),
            Expr::Binary(_, a, b) => match a.find_mut(remaining) {
                Some(found) => Some(found),
                None => b.find_mut(remaining),
            },
        }
    }

    /// Visits every node in pre-order. Does not recurse, so that the size checks built on
    /// it are safe on any tree.
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        for e in self.preorder() {
            f(e);
        }
    }

    /// The operands of this node, left to right.
    fn operands(&self) -> [Option<&Expr>; 2] {
        match self {
            Expr::X | Expr::Const(_) => [None, None],
            Expr::Unary(_, a) => [Some(a), None],
            Expr::Binary(_, a, b) => [Some(a), Some(b)],
        }
    }

    /// Every node in pre-order, so that `preorder()[i]` is [`Expr::node`]`(i)`. Does not
    /// recurse.
    pub fn preorder(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            // Right operand pushed first, so the left one is visited first.
            stack.extend(e.operands().into_iter().rev().flatten());
        }
        out
    }

    /// The height of every node, in pre-order (the order of [`Expr::node`]). Does not
    /// recurse.
    pub fn heights(&self) -> Vec<usize> {
        // Pre-order positions, then heights filled in reverse pre-order, where every
        // node's children come before it.
        let nodes = self.preorder();
        let mut heights = vec![0; nodes.len()];
        let mut sizes = vec![1usize; nodes.len()];
        for i in (0..nodes.len()).rev() {
            match nodes[i] {
                Expr::X | Expr::Const(_) => {}
                Expr::Unary(..) => {
                    heights[i] = heights[i + 1] + 1;
                    sizes[i] = sizes[i + 1] + 1;
                }
                Expr::Binary(..) => {
                    let right = i + 1 + sizes[i + 1];
                    heights[i] = heights[i + 1].max(heights[right]) + 1;
                    sizes[i] = sizes[i + 1] + sizes[right] + 1;
                }
            }
        }
        heights
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_figure1() -> Expr {
        // (min{1, cosh(x)})^3 * sigma(e^x + arctan(x))
        Expr::binary(
            BinaryOp::Mul,
            Expr::unary(
                UnaryOp::Cube,
                Expr::core_unit(BinaryOp::Min, UnaryOp::One, UnaryOp::Cosh, Expr::X, Expr::X),
            ),
            Expr::unary(
                UnaryOp::Sigmoid,
                Expr::core_unit(BinaryOp::Add, UnaryOp::Exp, UnaryOp::Atan, Expr::X, Expr::X),
            ),
        )
    }

    #[test]
    fn evaluates_figure1() {
        let e = paper_figure1();
        let x: f64 = 0.7;
        let expected = 1f64.min(x.cosh()).powi(3) * (1.0 / (1.0 + (-(x.exp() + x.atan())).exp()));
        assert!((e.eval(x) - expected).abs() < 1e-14);
    }

    #[test]
    fn preorder_addressing() {
        let e = paper_figure1();
        assert_eq!(e.node_count(), 13);
        assert_eq!(e.op_count(), 9);
        assert_eq!(e.height(), 4);
        assert_eq!(e.node(0), Some(&e));
        assert!(matches!(e.node(1), Some(Expr::Unary(UnaryOp::Cube, _))));
        assert!(matches!(e.node(3), Some(Expr::Unary(UnaryOp::One, _))));
        assert_eq!(e.node(4), Some(&Expr::X));
        assert!(e.node(13).is_none());
        let mut m = e.clone();
        *m.node_mut(3).unwrap() = Expr::unary(UnaryOp::Zero, Expr::X);
        assert_ne!(m, e);
        let mut count = 0;
        e.visit(&mut |_| count += 1);
        assert_eq!(count, 13);
        let heights = e.heights();
        assert_eq!(heights.len(), 13);
        for (i, h) in heights.iter().enumerate() {
            assert_eq!(*h, e.node(i).unwrap().height(), "node {i}");
        }
    }
}
