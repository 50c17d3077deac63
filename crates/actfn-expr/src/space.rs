//! The search spaces `S_d` of the paper: balanced trees of core units
//! `binary(unary1(.), unary2(.))`, with exact sizes, membership, uniform sampling and
//! lazy enumeration.
//!
//! `S_0 = {x}` and `S_d = { b(u1(f), u2(g)) : b binary, u1, u2 unary, f, g in S_{d-1} }`.
//! Every member of `S_d` has the same shape, of height `2d`; a node's height tells its
//! role: height 0 is `x`, odd heights are unary ops and even heights above 0 are the
//! binary roots of core units. Swapping two subtrees of equal height therefore keeps a
//! tree inside `S_d` (crossover relies on this).
//!
//! Members are ordered by their op slots read in pre-order (the order of
//! [`Expr::node`]), compared lexicographically, each op ranked by its position in the
//! space's op lists. [`SearchSpace::enumerate`] yields this order and
//! [`SearchSpace::member`] is its inverse index.

use num_bigint::BigUint;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ast::Expr;
use crate::error::ExprError;
use crate::limits::MAX_SPACE_DEPTH;
use crate::ops::{BinaryOp, UnaryOp};

/// A search space `S_d` over chosen unary and binary ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSearchSpace")]
pub struct SearchSpace {
    depth: usize,
    unary: Vec<UnaryOp>,
    binary: Vec<BinaryOp>,
}

/// The unchecked serde form of a [`SearchSpace`]; deserialization validates it.
#[derive(Deserialize)]
struct RawSearchSpace {
    depth: usize,
    unary: Vec<UnaryOp>,
    binary: Vec<BinaryOp>,
}

impl TryFrom<RawSearchSpace> for SearchSpace {
    type Error = ExprError;

    fn try_from(raw: RawSearchSpace) -> Result<Self, Self::Error> {
        SearchSpace::new(raw.depth, raw.unary, raw.binary)
    }
}

/// The kind of one op slot of an `S_d` tree, in pre-order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Binary,
    Unary,
}

impl SearchSpace {
    /// The paper's space `S_depth`: the 24 unary ops of [`UnaryOp::PAPER`] (arctan in place
    /// of arctanh) and the 6 of [`BinaryOp::ALL`].
    ///
    /// # Panics
    ///
    /// If `depth` is 0 or above [`MAX_SPACE_DEPTH`]; for a depth from outside, use
    /// [`SearchSpace::new`] with these ops.
    pub fn paper(depth: usize) -> SearchSpace {
        SearchSpace::new(depth, UnaryOp::PAPER.to_vec(), BinaryOp::ALL.to_vec())
            .expect("depth must be from 1 to MAX_SPACE_DEPTH")
    }

    /// `S_depth` over the given ops, in the given order (which fixes the enumeration order).
    ///
    /// Fails on depth 0, a depth above [`MAX_SPACE_DEPTH`] (whose members would pass
    /// [`crate::limits::MAX_NODES`]), an empty op list, an op listed twice, or a
    /// derivative helper ([`UnaryOp::AUX`]). Checked here, before any member is built, so
    /// that sampling and enumeration only build accepted trees.
    pub fn new(
        depth: usize,
        unary: Vec<UnaryOp>,
        binary: Vec<BinaryOp>,
    ) -> Result<SearchSpace, ExprError> {
        if depth == 0 {
            return Err(ExprError::ZeroDepth { depth });
        }
        if depth > MAX_SPACE_DEPTH {
            return Err(ExprError::SpaceTooDeep {
                depth,
                limit: MAX_SPACE_DEPTH,
                nodes: member_nodes(MAX_SPACE_DEPTH),
            });
        }
        if unary.is_empty() {
            return Err(ExprError::EmptyOpSet { kind: "unary" });
        }
        if binary.is_empty() {
            return Err(ExprError::EmptyOpSet { kind: "binary" });
        }
        for (i, op) in unary.iter().enumerate() {
            if op.is_auxiliary() {
                return Err(ExprError::AuxiliaryOp { name: op.name() });
            }
            if unary[..i].contains(op) {
                return Err(ExprError::DuplicateOp {
                    kind: "unary",
                    name: op.name(),
                });
            }
        }
        for (i, op) in binary.iter().enumerate() {
            if binary[..i].contains(op) {
                return Err(ExprError::DuplicateOp {
                    kind: "binary",
                    name: op.name(),
                });
            }
        }
        Ok(SearchSpace {
            depth,
            unary,
            binary,
        })
    }

    /// The same ops at another depth; fails as [`SearchSpace::new`] does on the depth.
    pub fn with_depth(&self, depth: usize) -> Result<SearchSpace, ExprError> {
        SearchSpace::new(depth, self.unary.clone(), self.binary.clone())
    }

    /// The depth `d` of `S_d`: the number of core-unit levels.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The unary ops, in enumeration order.
    pub fn unary_ops(&self) -> &[UnaryOp] {
        &self.unary
    }

    /// The binary ops, in enumeration order.
    pub fn binary_ops(&self) -> &[BinaryOp] {
        &self.binary
    }

    /// The exact number of members: `|S_0| = 1`, `|S_d| = B * (U * |S_{d-1}|)^2`.
    ///
    /// For the paper's ops, `|S_1| = 3,456` and `|S_2| = 41,278,242,816`.
    pub fn size(&self) -> BigUint {
        let u = BigUint::from(self.unary.len());
        let b = BigUint::from(self.binary.len());
        let mut size = BigUint::from(1u32);
        for _ in 0..self.depth {
            let branch = &u * &size;
            size = &b * &branch * &branch;
        }
        size
    }

    /// The number of op nodes of every member: `k_d = 3 + 2 k_{d-1}`, i.e. `3 (2^d - 1)`
    /// (3, 9, 21, ...).
    pub fn op_slots(&self) -> usize {
        3 * ((1usize << self.depth) - 1)
    }

    /// Whether `e` is a member: exactly the shape of `S_d`, with ops from this space.
    pub fn contains(&self, e: &Expr) -> bool {
        self.contains_at(e, self.depth)
    }

    fn contains_at(&self, e: &Expr, depth: usize) -> bool {
        if depth == 0 {
            return *e == Expr::X;
        }
        let Expr::Binary(b, lhs, rhs) = e else {
            return false;
        };
        self.binary.contains(b)
            && [lhs, rhs].into_iter().all(|side| match &**side {
                Expr::Unary(u, arg) => self.unary.contains(u) && self.contains_at(arg, depth - 1),
                _ => false,
            })
    }

    /// The member equal to `e` once the shorthand the paper prints is read back into core
    /// units, if there is one; `e` itself when it is already a member.
    ///
    /// At a unary position of the tree this accepts, besides a unary op: `max(f, 0)` as
    /// `relu(f)` and `min(f, 0)` as `min0(f)` (either argument order); and, where the
    /// unary op's argument would be `x`, the leaves `x`, `0` and `1` as `id(x)`,
    /// `zero(x)` and `one(x)`. So `tanh(x) * min(x, 0)` is recognised as the `S_1` member
    /// `mul(tanh(x), min0(x))`, and Figure 1's `min(1, cosh(x))^3 * sigmoid(exp(x) +
    /// atan(x))` as an `S_2` member.
    pub fn recognize(&self, e: &Expr) -> Option<Expr> {
        let found = self.recognize_at(e, self.depth)?;
        self.contains(&found).then_some(found)
    }

    fn recognize_at(&self, e: &Expr, depth: usize) -> Option<Expr> {
        if depth == 0 {
            return (*e == Expr::X).then_some(Expr::X);
        }
        let Expr::Binary(b, lhs, rhs) = e else {
            return None;
        };
        let lhs = self.recognize_unary(lhs, depth - 1)?;
        let rhs = self.recognize_unary(rhs, depth - 1)?;
        Some(Expr::binary(*b, lhs, rhs))
    }

    /// Reads `e` as `u(f)` with `f` in `S_{depth}`.
    fn recognize_unary(&self, e: &Expr, depth: usize) -> Option<Expr> {
        let zero = Expr::constant(0.0);
        match e {
            Expr::Unary(u, arg) => Some(Expr::unary(*u, self.recognize_at(arg, depth)?)),
            Expr::Binary(op @ (BinaryOp::Max | BinaryOp::Min), a, b) => {
                let u = if *op == BinaryOp::Max {
                    UnaryOp::Relu
                } else {
                    UnaryOp::MinZero
                };
                let arg = if **b == zero {
                    a
                } else if **a == zero {
                    b
                } else {
                    return None;
                };
                Some(Expr::unary(u, self.recognize_at(arg, depth)?))
            }
            Expr::X if depth == 0 => Some(Expr::unary(UnaryOp::Identity, Expr::X)),
            Expr::Const(c) if depth == 0 && (c.0 == 0.0 || c.0 == 1.0) => {
                let u = if c.0 == 0.0 {
                    UnaryOp::Zero
                } else {
                    UnaryOp::One
                };
                Some(Expr::unary(u, Expr::X))
            }
            _ => None,
        }
    }

    /// A uniformly random member: every op drawn uniformly and independently, which is
    /// uniform over `S_d` because all members share one shape.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Expr {
        self.sample_at(rng, self.depth)
    }

    fn sample_at<R: Rng + ?Sized>(&self, rng: &mut R, depth: usize) -> Expr {
        if depth == 0 {
            return Expr::X;
        }
        // Pre-order: the binary op, then each unary op before its subtree.
        let b = self.binary[rng.gen_range(0..self.binary.len())];
        let u1 = self.unary[rng.gen_range(0..self.unary.len())];
        let lhs = self.sample_at(rng, depth - 1);
        let u2 = self.unary[rng.gen_range(0..self.unary.len())];
        let rhs = self.sample_at(rng, depth - 1);
        Expr::core_unit(b, u1, u2, lhs, rhs)
    }

    /// Every member, lazily, in the documented order (see the module docs): for `S_1`,
    /// `add(zero(x), zero(x))`, `add(zero(x), one(x))`, ... with the last unary op varying
    /// fastest. Works at any depth; only the first few of a deep space are ever reachable.
    pub fn enumerate(&self) -> Members {
        let slots = self.slots();
        Members {
            space: self.clone(),
            digits: vec![0; slots.len()],
            slots,
            done: false,
        }
    }

    /// The member at position `index` of [`SearchSpace::enumerate`]'s order, if
    /// `index < size()`.
    pub fn member(&self, index: &BigUint) -> Option<Expr> {
        if *index >= self.size() {
            return None;
        }
        let slots = self.slots();
        let mut rest = index.clone();
        let mut digits = vec![0; slots.len()];
        for (digit, slot) in digits.iter_mut().zip(&slots).rev() {
            let radix = BigUint::from(self.radix(*slot));
            let d = &rest % &radix;
            *digit = usize::try_from(&d).expect("digit below radix");
            rest /= radix;
        }
        Some(self.build(&digits))
    }

    /// The position of a member in [`SearchSpace::enumerate`]'s order; `None` for a
    /// non-member.
    pub fn index_of(&self, e: &Expr) -> Option<BigUint> {
        if !self.contains(e) {
            return None;
        }
        let mut index = BigUint::from(0u32);
        e.visit(&mut |node| {
            let (radix, digit) = match node {
                Expr::Binary(b, ..) => (self.binary.len(), self.binary_position(*b)),
                Expr::Unary(u, _) => (self.unary.len(), self.unary_position(*u)),
                _ => return,
            };
            index = &index * BigUint::from(radix) + BigUint::from(digit);
        });
        Some(index)
    }

    fn binary_position(&self, op: BinaryOp) -> usize {
        self.binary
            .iter()
            .position(|b| *b == op)
            .expect("member op")
    }

    fn unary_position(&self, op: UnaryOp) -> usize {
        self.unary.iter().position(|u| *u == op).expect("member op")
    }

    fn radix(&self, slot: Slot) -> usize {
        match slot {
            Slot::Binary => self.binary.len(),
            Slot::Unary => self.unary.len(),
        }
    }

    /// The op slots of an `S_d` tree in pre-order.
    fn slots(&self) -> Vec<Slot> {
        fn push(depth: usize, out: &mut Vec<Slot>) {
            if depth == 0 {
                return;
            }
            out.push(Slot::Binary);
            out.push(Slot::Unary);
            push(depth - 1, out);
            out.push(Slot::Unary);
            push(depth - 1, out);
        }
        let mut out = Vec::new();
        push(self.depth, &mut out);
        out
    }

    /// The member whose pre-order op slots hold these op positions.
    fn build(&self, digits: &[usize]) -> Expr {
        fn go(space: &SearchSpace, depth: usize, digits: &mut std::slice::Iter<'_, usize>) -> Expr {
            if depth == 0 {
                return Expr::X;
            }
            let b = space.binary[*digits.next().expect("slot")];
            let u1 = space.unary[*digits.next().expect("slot")];
            let lhs = go(space, depth - 1, digits);
            let u2 = space.unary[*digits.next().expect("slot")];
            let rhs = go(space, depth - 1, digits);
            Expr::core_unit(b, u1, u2, lhs, rhs)
        }
        go(self, self.depth, &mut digits.iter())
    }
}

/// The node count of every member of `S_depth`: `4 * 2^depth - 3`.
fn member_nodes(depth: usize) -> usize {
    4 * (1usize << depth) - 3
}

/// The lazy iterator of [`SearchSpace::enumerate`].
#[derive(Clone, Debug)]
pub struct Members {
    space: SearchSpace,
    slots: Vec<Slot>,
    digits: Vec<usize>,
    done: bool,
}

impl Iterator for Members {
    type Item = Expr;

    fn next(&mut self) -> Option<Expr> {
        if self.done {
            return None;
        }
        let item = self.space.build(&self.digits);
        // Odometer step: the last slot varies fastest.
        self.done = true;
        for (digit, slot) in self.digits.iter_mut().zip(&self.slots).rev() {
            *digit += 1;
            if *digit < self.space.radix(*slot) {
                self.done = false;
                break;
            }
            *digit = 0;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn sizes_match_the_paper() {
        assert_eq!(SearchSpace::paper(1).size(), BigUint::from(3_456u32));
        assert_eq!(
            SearchSpace::paper(2).size(),
            BigUint::from(41_278_242_816u64)
        );
        let s2 = BigUint::from(41_278_242_816u64);
        let branch = BigUint::from(24u32) * &s2;
        assert_eq!(
            SearchSpace::paper(3).size(),
            BigUint::from(6u32) * &branch * &branch
        );
        assert_eq!(SearchSpace::paper(3).op_slots(), 21);
    }

    #[test]
    fn new_validates() {
        assert_eq!(
            SearchSpace::new(0, vec![UnaryOp::Tanh], vec![BinaryOp::Add]),
            Err(ExprError::ZeroDepth { depth: 0 })
        );
        assert!(SearchSpace::new(1, vec![], vec![BinaryOp::Add]).is_err());
        for depth in [MAX_SPACE_DEPTH + 1, 300, 100_000, usize::MAX] {
            let err =
                SearchSpace::new(depth, vec![UnaryOp::Tanh], vec![BinaryOp::Add]).unwrap_err();
            assert_eq!(
                err,
                ExprError::SpaceTooDeep {
                    depth,
                    limit: MAX_SPACE_DEPTH,
                    nodes: 524_285
                }
            );
            assert!(err.to_string().starts_with(&format!(
                "search-space depth {depth} is more than the limit of 17: "
            )));
        }
        let deepest =
            SearchSpace::new(MAX_SPACE_DEPTH, vec![UnaryOp::Relu], vec![BinaryOp::Add]).unwrap();
        assert_eq!(
            deepest.op_slots() + (1 << MAX_SPACE_DEPTH),
            member_nodes(MAX_SPACE_DEPTH)
        );
        assert!(deepest.with_depth(MAX_SPACE_DEPTH + 1).is_err());
        let member = deepest.sample(&mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(member.node_count(), member_nodes(MAX_SPACE_DEPTH));
        member.check_printable().unwrap();
        let text = member.styled(crate::Style::Paper).to_string();
        assert_eq!(Expr::parse(&text).unwrap().height(), 2 * MAX_SPACE_DEPTH);
        assert!(SearchSpace::new(1, vec![UnaryOp::Tanh], vec![]).is_err());
        assert_eq!(
            SearchSpace::new(1, vec![UnaryOp::Tanh, UnaryOp::Tanh], vec![BinaryOp::Add]),
            Err(ExprError::DuplicateOp {
                kind: "unary",
                name: "tanh"
            })
        );
        assert!(SearchSpace::new(1, vec![UnaryOp::Sign], vec![BinaryOp::Add]).is_err());
        let ok = SearchSpace::new(2, vec![UnaryOp::Tanh, UnaryOp::Sin], vec![BinaryOp::Mul]);
        assert_eq!(ok.unwrap().size(), BigUint::from(64u32));
    }

    #[test]
    fn enumerates_s1_exactly_once_in_order() {
        let s1 = SearchSpace::paper(1);
        let all: Vec<Expr> = s1.enumerate().collect();
        assert_eq!(all.len(), 3_456);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 3_456);
        assert!(all.iter().all(|e| s1.contains(e)));
        let first = Expr::core_unit(
            BinaryOp::Add,
            UnaryOp::Zero,
            UnaryOp::Zero,
            Expr::X,
            Expr::X,
        );
        let second = Expr::core_unit(BinaryOp::Add, UnaryOp::Zero, UnaryOp::One, Expr::X, Expr::X);
        assert_eq!(all[0], first);
        assert_eq!(all[1], second);
        for (i, e) in all.iter().enumerate().step_by(97) {
            assert_eq!(s1.member(&BigUint::from(i)).as_ref(), Some(e));
            assert_eq!(s1.index_of(e), Some(BigUint::from(i)));
        }
        assert_eq!(s1.member(&BigUint::from(3_456u32)), None);
    }

    #[test]
    fn enumeration_is_lazy_at_depth_3() {
        let s3 = SearchSpace::paper(3);
        let first: Vec<Expr> = s3.enumerate().take(3).collect();
        assert!(first.iter().all(|e| s3.contains(e) && e.height() == 6));
        assert_eq!(s3.index_of(&first[2]), Some(BigUint::from(2u32)));
        let last = &s3.size() - 1u32;
        let e = s3.member(&last).unwrap();
        assert_eq!(s3.index_of(&e), Some(last));
    }

    #[test]
    fn samples_are_members_and_cover_ops() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let s2 = SearchSpace::paper(2);
        let mut seen = HashSet::new();
        for _ in 0..2_000 {
            let e = s2.sample(&mut rng);
            assert!(s2.contains(&e));
            assert_eq!(e.height(), 4);
            e.visit(&mut |n| {
                if let Expr::Unary(u, _) = n {
                    seen.insert(*u);
                }
            });
        }
        assert_eq!(seen.len(), 24);
    }

    #[test]
    fn sampling_is_uniform_on_a_small_space() {
        // |S_1| = 2 * 3 * 3 = 18 members; 18,000 draws, about 1,000 each.
        let space = SearchSpace::new(
            1,
            vec![UnaryOp::Sin, UnaryOp::Tanh, UnaryOp::Abs],
            vec![BinaryOp::Add, BinaryOp::Max],
        )
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..18_000 {
            *counts.entry(space.sample(&mut rng)).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 18);
        assert!(
            counts.values().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn contains_rejects_other_shapes_and_ops() {
        let s1 = SearchSpace::paper(1);
        let tanh_x = Expr::unary(UnaryOp::Tanh, Expr::X);
        assert!(!s1.contains(&tanh_x));
        let atanh = Expr::core_unit(
            BinaryOp::Add,
            UnaryOp::Atanh,
            UnaryOp::Sin,
            Expr::X,
            Expr::X,
        );
        assert!(!s1.contains(&atanh));
        let s2 = SearchSpace::paper(2);
        let member = s1.enumerate().nth(100).unwrap();
        assert!(!s2.contains(&member));
    }

    #[test]
    fn recognizes_printed_shorthand() {
        let s1 = SearchSpace::paper(1);
        let printed = Expr::binary(
            BinaryOp::Mul,
            Expr::unary(UnaryOp::Tanh, Expr::X),
            Expr::binary(BinaryOp::Min, Expr::X, Expr::constant(0.0)),
        );
        let member = Expr::core_unit(
            BinaryOp::Mul,
            UnaryOp::Tanh,
            UnaryOp::MinZero,
            Expr::X,
            Expr::X,
        );
        assert_eq!(s1.recognize(&printed), Some(member.clone()));
        assert_eq!(s1.recognize(&member), Some(member));
        let with_id = Expr::binary(BinaryOp::Max, Expr::X, Expr::constant(1.0));
        assert_eq!(
            s1.recognize(&with_id),
            Some(Expr::core_unit(
                BinaryOp::Max,
                UnaryOp::Identity,
                UnaryOp::One,
                Expr::X,
                Expr::X
            ))
        );
        assert_eq!(s1.recognize(&Expr::X), None);
    }

    #[test]
    fn serde_validates() {
        let s = SearchSpace::paper(2);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"min0\""));
        assert_eq!(serde_json::from_str::<SearchSpace>(&json).unwrap(), s);
        let bad = r#"{"depth":0,"unary":["tanh"],"binary":["add"]}"#;
        assert!(serde_json::from_str::<SearchSpace>(bad).is_err());
        let ron_text = ron::to_string(&s).unwrap();
        assert_eq!(ron::from_str::<SearchSpace>(&ron_text).unwrap(), s);
    }
}
