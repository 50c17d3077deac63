//! The evolution operators of the paper (sections 3.2 to 3.4): mutation, crossover,
//! softmax fitness and fitness-proportional selection.

use actfn_expr::{Expr, SearchSpace};
use rand::Rng;

use crate::EvoError;

/// Mutation (paper, section 3.2 and figure 1): one op node, chosen uniformly among the
/// op nodes of `expr` (leaves are not ops), gets a different op of the same arity, chosen
/// uniformly from `space`'s ops of that arity.
///
/// Nodes whose arity has no alternative in `space` (a space with a single binary op, say)
/// are not eligible; if no node is, `expr` is returned unchanged. Otherwise the child
/// differs from `expr` in exactly one op.
///
/// Refuses an `expr` that is not within actfn-expr's size limits
/// ([`Expr::check_printable`]), before any recursion; the child has the parent's shape,
/// so it is within them too. Linear in the size of `expr`.
pub fn mutate(expr: &Expr, space: &SearchSpace, rng: &mut impl Rng) -> Result<Expr, EvoError> {
    expr.check_printable()?;
    let unary = space.unary_ops();
    let binary = space.binary_ops();
    let eligible: Vec<usize> = expr
        .preorder()
        .into_iter()
        .enumerate()
        .filter(|(_, node)| match node {
            Expr::Unary(op, _) => unary.iter().any(|u| u != op),
            Expr::Binary(op, _, _) => binary.iter().any(|b| b != op),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mut child = expr.clone();
    if eligible.is_empty() {
        return Ok(child);
    }
    let index = eligible[rng.gen_range(0..eligible.len())];
    match child.node_mut(index) {
        Some(Expr::Unary(op, _)) => {
            let others: Vec<_> = unary.iter().copied().filter(|u| u != op).collect();
            *op = others[rng.gen_range(0..others.len())];
        }
        Some(Expr::Binary(op, _, _)) => {
            let others: Vec<_> = binary.iter().copied().filter(|b| b != op).collect();
            *op = others[rng.gen_range(0..others.len())];
        }
        _ => unreachable!("eligible nodes are op nodes"),
    }
    Ok(child)
}

/// Crossover (paper, section 3.3 and figure 2): a subtree of `a`, chosen uniformly among
/// its non-root op nodes whose height also occurs in `b`, is replaced by a subtree of `b`
/// of the same height, chosen uniformly. The one child is returned.
///
/// In `S_d` a node's height fixes its role and its shape, so the child of two members of
/// `S_d` is a member of `S_d`. If no subtree qualifies, the child is a copy of `a`.
///
/// Refuses parents that are not within actfn-expr's size limits
/// ([`Expr::check_printable`]), and a child that is not: it has the height of `a`, but
/// can have more nodes. Linear in the size of the parents.
pub fn crossover(a: &Expr, b: &Expr, rng: &mut impl Rng) -> Result<Expr, EvoError> {
    a.check_printable()?;
    b.check_printable()?;
    let heights = |e: &Expr| -> Vec<(usize, usize)> {
        e.heights()
            .into_iter()
            .enumerate()
            .filter(|&(_, h)| h >= 1)
            .collect()
    };
    let in_a = heights(a);
    let in_b = heights(b);
    // Which heights occur in `b`, for a linear filter.
    let mut in_b_height = vec![false; b.height() + 1];
    for &(_, h) in &in_b {
        in_b_height[h] = true;
    }
    let eligible: Vec<(usize, usize)> = in_a
        .into_iter()
        .filter(|&(i, h)| i != 0 && in_b_height.get(h).copied().unwrap_or(false))
        .collect();
    let mut child = a.clone();
    if eligible.is_empty() {
        return Ok(child);
    }
    let (ia, h) = eligible[rng.gen_range(0..eligible.len())];
    let donors: Vec<usize> = in_b
        .iter()
        .filter(|&&(_, hb)| hb == h)
        .map(|&(i, _)| i)
        .collect();
    let ib = donors[rng.gen_range(0..donors.len())];
    let subtree = b.node(ib).expect("donor index is a node of b").clone();
    *child.node_mut(ia).expect("eligible index is a node of a") = subtree;
    child.check_printable()?;
    Ok(child)
}

/// Softmax fitness (paper, equation 2): `p_i = e^{L_i} / sum_j e^{L_j}` over the
/// candidates that have a finite score `L_i` (validation accuracy, or negative validation
/// loss). A candidate without one (`None`, NaN or infinite: failed, diverged or rejected)
/// gets fitness 0. If no candidate has a score, every candidate gets `1 / n`.
///
/// Numerically stable for any spread of scores: the maximum is subtracted before
/// exponentiating, so the best candidate's term is exactly 1 and nothing overflows.
pub fn softmax_fitness(scores: &[Option<f64>]) -> Vec<f64> {
    let finite = |s: &Option<f64>| s.filter(|v| v.is_finite());
    let max = scores
        .iter()
        .filter_map(finite)
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        let n = scores.len().max(1) as f64;
        return vec![1.0 / n; scores.len()];
    }
    let weights: Vec<f64> = scores
        .iter()
        .map(|s| finite(s).map_or(0.0, |v| (v - max).exp()))
        .collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// Fitness-proportional selection with replacement: index `i` with probability
/// `weights[i] / sum(weights)`. `weights` must be non-negative with a positive sum.
pub fn select(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
    assert!(
        total > 0.0 && total.is_finite(),
        "selection weights must have a positive finite sum"
    );
    let mut r = rng.gen::<f64>() * total;
    for (i, &w) in weights.iter().enumerate() {
        if r < w {
            return i;
        }
        r -= w;
    }
    // Rounding left `r` just above the last weight: take the last candidate that can win.
    weights
        .iter()
        .rposition(|&w| w > 0.0)
        .expect("a positive sum has a positive weight")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actfn_expr::{BinaryOp, UnaryOp};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// The ops at each pre-order position (`None` for leaves).
    fn ops(e: &Expr) -> Vec<Option<String>> {
        let mut out = Vec::new();
        e.visit(&mut |n| {
            out.push(match n {
                Expr::Unary(op, _) => Some(format!("u:{op}")),
                Expr::Binary(op, _, _) => Some(format!("b:{op}")),
                _ => None,
            })
        });
        out
    }

    fn space(depth: usize) -> SearchSpace {
        SearchSpace::paper(depth)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutation_changes_exactly_one_op_of_the_same_arity(seed in any::<u64>(), depth in 1usize..4) {
            let space = space(depth);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let parent = space.sample(&mut rng);
            let child = mutate(&parent, &space, &mut rng).unwrap();
            prop_assert!(space.contains(&child));
            let (p, c) = (ops(&parent), ops(&child));
            prop_assert_eq!(p.len(), c.len());
            let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != c[i]).collect();
            prop_assert_eq!(changed.len(), 1);
            let i = changed[0];
            let (pa, ca) = (p[i].as_ref().unwrap(), c[i].as_ref().unwrap());
            prop_assert_eq!(&pa[..2], &ca[..2], "arity kept");
        }

        #[test]
        fn crossover_child_stays_in_the_parents_space(seed in any::<u64>(), depth in 1usize..4) {
            let space = space(depth);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = space.sample(&mut rng);
            let b = space.sample(&mut rng);
            let child = crossover(&a, &b, &mut rng).unwrap();
            prop_assert!(space.contains(&child), "{} x {} -> {}", a, b, child);
            let mutated = mutate(&child, &space, &mut rng).unwrap();
            prop_assert!(space.contains(&mutated));
        }

        #[test]
        fn crossover_takes_a_subtree_of_each_parent(seed in any::<u64>()) {
            // Parents with disjoint unary ops: every node of the child comes from one of
            // them, and unless the subtree is a whole child of the root, both contribute.
            let sa = SearchSpace::new(2, vec![UnaryOp::Sin, UnaryOp::Cos], vec![BinaryOp::Add]).unwrap();
            let sb = SearchSpace::new(2, vec![UnaryOp::Exp, UnaryOp::Tanh], vec![BinaryOp::Add]).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = sa.sample(&mut rng);
            let b = sb.sample(&mut rng);
            let child = crossover(&a, &b, &mut rng).unwrap();
            let oc = ops(&child);
            let has = |names: [&str; 2]| oc.iter().flatten().filter(|o| names.iter().any(|n| o.as_str() == format!("u:{n}"))).count();
            let (from_a, from_b) = (has(["sin", "cos"]), has(["exp", "tanh"]));
            prop_assert!(from_a > 0 && from_b > 0, "{} x {} -> {}", a, b, child);
            prop_assert_eq!(from_a + from_b, 6);
            prop_assert!(sa.contains(&child) || sb.contains(&child) || SearchSpace::new(2, vec![UnaryOp::Sin, UnaryOp::Cos, UnaryOp::Exp, UnaryOp::Tanh], vec![BinaryOp::Add]).unwrap().contains(&child));
        }

        #[test]
        fn fitness_is_a_distribution_for_any_spread(losses in prop::collection::vec(1e-3f64..1e6, 1..60)) {
            let scores: Vec<Option<f64>> = losses.iter().map(|l| Some(-l)).collect();
            let p = softmax_fitness(&scores);
            prop_assert!(p.iter().all(|v| v.is_finite() && *v >= 0.0));
            prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
            let ib = losses.iter().position(|&l| l == best).unwrap();
            prop_assert!(p.iter().all(|&v| v <= p[ib]));
        }
    }

    #[test]
    fn fitness_extremes() {
        // The paper's examples: e^0.9 / e^0.1 ~ 2.2 and e^-0.01 / e^-10 ~ 21807.
        let p = softmax_fitness(&[Some(0.9), Some(0.1)]);
        assert!((p[0] / p[1] - (0.8f64).exp()).abs() < 1e-12);
        let p = softmax_fitness(&[Some(-0.01), Some(-10.0)]);
        assert!((p[0] / p[1] - 21807.2).abs() < 0.1);
        // Losses spread over nine orders of magnitude, and a failure.
        let p = softmax_fitness(&[Some(-1e-3), Some(-1e6), None, Some(f64::NAN), Some(-2e-3)]);
        assert_eq!(p[2], 0.0);
        assert_eq!(p[3], 0.0);
        assert_eq!(p[1], 0.0);
        assert!((p[0] + p[4] - 1.0).abs() < 1e-15 && p[0] > p[4]);
        // Only failures: uniform.
        assert_eq!(
            softmax_fitness(&[None, None, Some(f64::INFINITY), None]),
            vec![0.25; 4]
        );
        assert!(softmax_fitness(&[]).is_empty());
        // Huge accuracies-like scores do not overflow either.
        let p = softmax_fitness(&[Some(1e300), Some(1e300)]);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn selection_follows_the_weights() {
        let weights = [0.5, 0.0, 0.3, 0.2];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 200_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[select(&weights, &mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (c, w) in counts.iter().zip(weights) {
            let freq = *c as f64 / n as f64;
            // Binomial sd is at most 0.0012 here; allow five of them.
            assert!((freq - w).abs() < 0.006, "{counts:?}");
        }
        // Unnormalised weights and a single positive weight.
        assert_eq!(select(&[0.0, 0.0, 3.0], &mut rng), 2);
    }

    #[test]
    fn mutation_without_alternatives_is_identity() {
        let space = SearchSpace::new(1, vec![UnaryOp::Sin], vec![BinaryOp::Add]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let e = space.sample(&mut rng);
        assert_eq!(mutate(&e, &space, &mut rng).unwrap(), e);
        // With a second binary op, only the root can change.
        let space =
            SearchSpace::new(1, vec![UnaryOp::Sin], vec![BinaryOp::Add, BinaryOp::Mul]).unwrap();
        let m = mutate(&e, &space, &mut rng).unwrap();
        assert!(matches!(m, Expr::Binary(BinaryOp::Mul, _, _)));
    }

    #[test]
    fn mutation_picks_nodes_uniformly() {
        // S1 has three op nodes: the root and two unary nodes.
        let space = space(1);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let e = space.sample(&mut rng);
        let mut counts = [0usize; 3];
        let n = 30_000;
        for _ in 0..n {
            let c = mutate(&e, &space, &mut rng).unwrap();
            let (p, q) = (ops(&e), ops(&c));
            let i = (0..p.len()).find(|&i| p[i] != q[i]).unwrap();
            counts[match i {
                0 => 0,
                1 => 1,
                _ => 2,
            }] += 1;
        }
        for c in counts {
            assert!(
                (c as f64 / n as f64 - 1.0 / 3.0).abs() < 0.015,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn operators_refuse_trees_past_the_limits() {
        use actfn_expr::{ExprError, MAX_HEIGHT, MAX_NODES};
        let space = space(1);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut tall = Expr::X;
        for _ in 0..=MAX_HEIGHT {
            tall = Expr::unary(UnaryOp::Sin, tall);
        }
        let err = mutate(&tall, &space, &mut rng).unwrap_err();
        assert!(
            matches!(err, EvoError::Expr(ExprError::TooTall { height: 61, .. })),
            "{err}"
        );
        let member = space.sample(&mut rng);
        assert!(crossover(&member, &tall, &mut rng).is_err());
        assert!(crossover(&tall, &member, &mut rng).is_err());
        // Two accepted trees whose child is not: a big subtree of `b` replaces a small
        // one of `a` of the same height.
        let balanced = |levels: usize| {
            let mut e = Expr::X;
            for _ in 0..levels {
                e = Expr::binary(BinaryOp::Add, e.clone(), e);
            }
            e
        };
        let mut thin = Expr::X;
        for _ in 0..19 {
            thin = Expr::unary(UnaryOp::Sin, thin);
        }
        // `b` has exactly MAX_NODES nodes; `a` is small, and the crossover that puts all
        // of `b` but its root in place of `thin` (one in 19) gives a child two nodes over.
        let a = Expr::binary(BinaryOp::Add, Expr::X, thin);
        let b = Expr::unary(UnaryOp::Sin, balanced(19));
        assert_eq!(b.node_count(), MAX_NODES);
        a.check_printable().unwrap();
        b.check_printable().unwrap();
        let refused = (0..400).find_map(|_| crossover(&a, &b, &mut rng).err());
        let err = refused.expect("some crossover puts the big subtree of `b` in place of `thin`");
        assert!(
            matches!(
                err,
                EvoError::Expr(ExprError::TooLarge {
                    limit: MAX_NODES,
                    ..
                })
            ),
            "{err}"
        );
    }
}
