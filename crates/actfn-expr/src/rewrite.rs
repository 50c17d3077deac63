//! Rewrites of an expression that keep every value bit for bit and remove work: what the
//! tensor backend compiles instead of the expression as written.
//!
//! They follow from what the ops mean (a negation of a negation, a clamp that cannot bind
//! because its argument's sign is known), which is why they live beside the op set.

use crate::ast::Expr;
use crate::ops::{BinaryOp, UnaryOp};

/// Rewrites that keep every value bit for bit (NaN included) and remove work: double
/// negations, negations of products (`-(a * c)` is `a * (-c)`, `(-a) * (-b)` is `a * b`),
/// and clamps that cannot bind (`max(|x|, 0)` is `|x|`, `relu(e^x)` is `e^x`). Their
/// derivatives agree too, except where a clamp ties with a function at its minimum,
/// where both are that function's slope there (0 where it is differentiable).
pub fn simplify(e: &Expr) -> Expr {
    match e {
        Expr::X | Expr::Const(_) => e.clone(),
        Expr::Unary(op, a) => {
            let a = simplify(a);
            match (op, a) {
                (UnaryOp::Neg, Expr::Unary(UnaryOp::Neg, inner)) => *inner,
                (UnaryOp::Neg, Expr::Binary(BinaryOp::Mul, p, q)) => match (*p, *q) {
                    (p, Expr::Const(c)) | (Expr::Const(c), p) => {
                        Expr::binary(BinaryOp::Mul, p, Expr::constant(-c.0))
                    }
                    (p, q) => Expr::unary(UnaryOp::Neg, Expr::binary(BinaryOp::Mul, p, q)),
                },
                (UnaryOp::Relu, a) if sign_of(&a) == 1 => a,
                (UnaryOp::MinZero, a) if sign_of(&a) == -1 => a,
                (op, a) => Expr::unary(*op, a),
            }
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (simplify(a), simplify(b));
            match (op, a, b) {
                (BinaryOp::Mul, Expr::Unary(UnaryOp::Neg, p), Expr::Unary(UnaryOp::Neg, q)) => {
                    Expr::binary(BinaryOp::Mul, *p, *q)
                }
                (BinaryOp::Max, a, Expr::Const(c)) | (BinaryOp::Max, Expr::Const(c), a)
                    if c.0 <= 0.0 && sign_of(&a) == 1 =>
                {
                    a
                }
                (BinaryOp::Min, a, Expr::Const(c)) | (BinaryOp::Min, Expr::Const(c), a)
                    if c.0 >= 0.0 && sign_of(&a) == -1 =>
                {
                    a
                }
                (op, a, b) => Expr::binary(*op, a, b),
            }
        }
    }
}

/// What is known of an expression's sign for every `x`: 1 for `>= 0` (or NaN), -1 for
/// `<= 0` (or NaN), 0 for nothing known.
fn sign_of(e: &Expr) -> i8 {
    match e {
        Expr::Const(c) if c.0 >= 0.0 => 1,
        Expr::Const(c) if c.0 <= 0.0 => -1,
        Expr::Unary(op, _) if op.is_nonnegative() => 1,
        Expr::Unary(UnaryOp::MinZero, _) => -1,
        Expr::Unary(UnaryOp::Neg, a) => -sign_of(a),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::paper::PAPER_FUNCTIONS;
    use crate::space::SearchSpace;

    fn e(text: &str) -> Expr {
        text.parse().unwrap()
    }

    #[test]
    fn rewrites_remove_negations_and_clamps_that_cannot_bind() {
        for (before, after) in [
            ("neg(neg(x))", "x"),
            ("neg(mul(sin(x), cos(x)))", "neg(mul(sin(x), cos(x)))"),
            ("mul(neg(x), neg(sin(x)))", "mul(x, sin(x))"),
            ("relu(exp(x))", "exp(x)"),
            ("max(abs(x), 0)", "abs(x)"),
            ("max(-1, square(x))", "square(x)"),
            ("min(neg(abs(x)), 0)", "neg(abs(x))"),
            ("min0(neg(cosh(x)))", "neg(cosh(x))"),
            // Not provably signed: kept.
            ("relu(sin(x))", "relu(sin(x))"),
            ("max(abs(x), 1)", "max(abs(x), 1)"),
        ] {
            assert_eq!(simplify(&e(before)), e(after), "{before}");
        }
        // A negated product with a constant takes the sign into the constant.
        assert_eq!(
            simplify(&e("neg(mul(x, 2))")),
            Expr::binary(BinaryOp::Mul, Expr::X, Expr::constant(-2.0))
        );
    }

    fn same_bits(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn rewrites_keep_every_value() {
        let space = SearchSpace::paper(2);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut exprs: Vec<Expr> = (0..200).map(|_| space.sample(&mut rng)).collect();
        exprs.extend(PAPER_FUNCTIONS.iter().map(|(_, t)| e(t)));
        let xs: Vec<f64> = (0..=4000)
            .map(|i| -20.0 + i as f64 * 0.01)
            .chain([
                0.0,
                -0.0,
                1e-30,
                -1e-30,
                700.0,
                -700.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ])
            .collect();
        for expr in &exprs {
            let simple = simplify(expr);
            for &x in &xs {
                let (a, b) = (expr.eval(x), simple.eval(x));
                assert!(same_bits(a, b), "{expr} -> {simple} at {x}: {a} vs {b}");
            }
        }
    }
}
