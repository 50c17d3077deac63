//! Diversity of a population: with [`SearchConfig::diversity`](crate::SearchConfig) set,
//! a drawn candidate within that [distance](actfn_expr::distance) of a member already
//! placed in its generation's population is a near-duplicate: it is recorded as rejected
//! (never trained) and a fresh random member of the space is drawn for its place, so a
//! generation does not spend trainings on functions that behave alike.

use actfn_expr::{distance, Expr, ProbeValues};

/// The members placed so far in the population being planned, with their probe values.
#[derive(Debug, Default)]
pub(crate) struct Placed {
    members: Vec<(ProbeValues, String)>,
}

impl Placed {
    /// Adds a member.
    pub(crate) fn add(&mut self, expr: &Expr, text: &str) {
        self.members.push((ProbeValues::of(expr), text.to_string()));
    }

    /// Why `expr` is a near-duplicate of a placed member (the nearest, the first of equals),
    /// if any is within `threshold`.
    pub(crate) fn near_duplicate(&self, expr: &Expr, threshold: f64) -> Option<String> {
        let values = ProbeValues::of(expr);
        let (d, text) = self
            .members
            .iter()
            .map(|(v, text)| (distance(&values, v), text))
            .fold(None, |best: Option<(f64, &String)>, (d, text)| match best {
                Some((b, _)) if b <= d => best,
                _ => Some((d, text)),
            })?;
        (d <= threshold).then(|| {
            format!("near-duplicate of `{text}` in the population (distance {d:.3e}, at most {threshold})")
        })
    }
}
