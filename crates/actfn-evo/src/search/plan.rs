//! Planning a generation: a pure function of the configuration and the records of the
//! earlier generations, which draws the candidates, classifies each (train, reuse a
//! record, reject) and, with the no-waste policy, redraws the wasted ones.

use std::collections::HashMap;

use actfn_expr::{degeneracy, fingerprint, Expr, Fingerprint};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{FitnessMetric, SearchConfig, Strategy};
use crate::diversity::Placed;
use crate::operators::{crossover, mutate, select, softmax_fitness};
use crate::record::{Origin, Record, RecordId};

/// The history a plan is made from.
pub(super) struct State<'c> {
    pub(super) config: &'c SearchConfig,
    /// The first evaluation of every function seen, by fingerprint.
    pub(super) known: HashMap<Fingerprint, RecordId>,
    /// The candidates of the completed generations.
    pub(super) exprs: HashMap<RecordId, Expr>,
    /// The records, of completed generations and of the current one so far.
    pub(super) records: HashMap<RecordId, Record>,
    /// The population of each completed generation.
    pub(super) populations: Vec<Vec<RecordId>>,
}

/// What to do with a planned candidate.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// Evaluate it.
    Train,
    /// Reuse this (trained) record: a duplicate, or an elite.
    Reuse(RecordId),
    /// Degenerate: record as rejected, never train.
    Rejected(String),
}

/// One planned candidate.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) expr: Expr,
    pub(super) text: String,
    pub(super) fingerprint: Fingerprint,
    pub(super) origin: Origin,
    pub(super) slot: Option<usize>,
    pub(super) kind: Kind,
}

struct Planner<'s> {
    state: &'s State<'s>,
    generation: usize,
    rng: ChaCha8Rng,
    entries: Vec<Entry>,
    new_known: HashMap<Fingerprint, RecordId>,
    /// The members placed so far, kept only when the search asks for diversity.
    placed: Option<Placed>,
}

impl Planner<'_> {
    fn classify(&self, expr: &Expr) -> (Fingerprint, Kind) {
        let fp = fingerprint(expr);
        if let Some(d) = degeneracy(expr) {
            return (fp, Kind::Rejected(d.to_string()));
        }
        match self
            .state
            .known
            .get(&fp)
            .or_else(|| self.new_known.get(&fp))
        {
            Some(&id) => (fp, Kind::Reuse(id)),
            None => (fp, Kind::Train),
        }
    }

    fn push(
        &mut self,
        slot: Option<usize>,
        origin: Origin,
        expr: Expr,
        fp: Fingerprint,
        kind: Kind,
    ) {
        let id = RecordId {
            generation: self.generation,
            index: self.entries.len(),
        };
        if matches!(kind, Kind::Train) {
            self.new_known.insert(fp, id);
        }
        if let (Some(placed), Some(_)) = (&mut self.placed, slot) {
            placed.add(&expr, &expr.to_string());
        }
        self.entries.push(Entry {
            text: expr.to_string(),
            expr,
            fingerprint: fp,
            origin,
            slot,
            kind,
        });
    }

    /// Draws a candidate for `slot`; with `replace_wasted`, a degenerate or duplicate draw
    /// is recorded without a place and drawn again, at most `max_redraws` times. With
    /// diversity, a draw near a member already placed is recorded as rejected too, and the
    /// place's later draws are fresh random members of the space. The last draw keeps the
    /// place whatever it is.
    fn fill(&mut self, slot: usize, origin: Origin, draw: &mut dyn FnMut(&mut ChaCha8Rng) -> Expr) {
        let config = self.state.config;
        let attempts = if config.replace_wasted {
            config.max_redraws + 1
        } else {
            1
        };
        let mut origin = origin;
        let mut redraw_at_random = false;
        for attempt in 1..=attempts {
            let expr = if redraw_at_random {
                config.space.sample(&mut self.rng)
            } else {
                draw(&mut self.rng)
            };
            let (fp, kind) = self.classify(&expr);
            let last = attempt == attempts;
            let near = match (&kind, config.diversity, &self.placed) {
                (Kind::Train, Some(threshold), Some(placed)) if !last => {
                    placed.near_duplicate(&expr, threshold)
                }
                _ => None,
            };
            if let Some(why) = near {
                self.push(None, origin, expr, fp, Kind::Rejected(why));
                redraw_at_random = true;
                origin = Origin::Random;
                continue;
            }
            if matches!(kind, Kind::Train) || last {
                self.push(Some(slot), origin, expr, fp, kind);
                return;
            }
            self.push(None, origin, expr, fp, kind);
        }
    }
}

/// Plans generation `g` from the completed generations `< g`. Returns the plan and the
/// fingerprints it trains; an empty plan means the search is over.
pub(super) fn plan_generation<'s>(
    state: &'s State<'s>,
    g: usize,
) -> (Vec<Entry>, HashMap<Fingerprint, RecordId>) {
    let config = state.config;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(g as u64);
    let mut p = Planner {
        state,
        generation: g,
        rng,
        entries: Vec::new(),
        new_known: HashMap::new(),
        placed: config.diversity.map(|_| Placed::default()),
    };
    let space = &config.space;
    match &config.strategy {
        Strategy::Exhaustive { batch } => {
            for (slot, expr) in space.enumerate().skip(g * batch).take(*batch).enumerate() {
                let (fp, kind) = p.classify(&expr);
                p.push(Some(slot), Origin::Enumerated, expr, fp, kind);
            }
        }
        Strategy::Random { population, .. } => {
            for slot in 0..*population {
                p.fill(slot, Origin::Random, &mut |rng| space.sample(rng));
            }
        }
        Strategy::Evolution(e) if g == 0 => {
            for slot in 0..e.population {
                p.fill(slot, Origin::Random, &mut |rng| space.sample(rng));
            }
        }
        Strategy::Evolution(e) => {
            let previous: Vec<RecordId> = state.populations[g - 1].clone();
            let records: Vec<&Record> = previous.iter().map(|id| &state.records[id]).collect();
            let parents: Vec<&Expr> = previous.iter().map(|id| &state.exprs[id]).collect();
            let score = |r: &Record| -> Option<f64> {
                if !r.is_ok() {
                    return None;
                }
                match e.fitness {
                    FitnessMetric::Loss => r.val_loss.map(|l| -l),
                    FitnessMetric::Accuracy => r.val_acc,
                }
            };
            let scores: Vec<Option<f64>> = records.iter().map(|r| score(r)).collect();

            // Elites: the best E distinct functions of the previous generation by the
            // fitness metric (ties: earlier place first); carried over, not trained again.
            let mut order: Vec<usize> = (0..records.len())
                .filter(|&i| scores[i].is_some())
                .collect();
            // Halving: a candidate stopped at a lower rung ranks below every one that went
            // further (without halving every record has the same progress).
            order.sort_by(|&a, &b| {
                let (sa, sb) = (scores[a].unwrap_or(f64::NAN), scores[b].unwrap_or(f64::NAN));
                let (pa, pb) = (records[a].progress(), records[b].progress());
                pb.cmp(&pa).then(sb.total_cmp(&sa)).then(a.cmp(&b))
            });
            let mut seen = Vec::new();
            let mut slot = 0;
            for i in order {
                if slot == e.elites {
                    break;
                }
                if seen.contains(&records[i].fingerprint) {
                    continue;
                }
                seen.push(records[i].fingerprint.clone());
                let original = records[i].duplicate_of.unwrap_or(previous[i]);
                let expr = parents[i].clone();
                let fp = fingerprint(&expr);
                p.push(Some(slot), Origin::Elite, expr, fp, Kind::Reuse(original));
                slot += 1;
            }
            for _ in 0..e.random {
                p.fill(slot, Origin::Random, &mut |rng| space.sample(rng));
                slot += 1;
            }
            // Children: two parents by fitness-proportional selection with replacement,
            // crossover, then mutation.
            let weights = softmax_fitness(&capped_by_progress(&records, &scores));
            while slot < e.population {
                p.fill(slot, Origin::Child, &mut |rng| {
                    let a = select(&weights, rng);
                    let b = select(&weights, rng);
                    // Members of the space stay within the size limits under both
                    // operators; a parent that is not (an edited records file) is
                    // carried over instead.
                    crossover(parents[a], parents[b], rng)
                        .and_then(|child| mutate(&child, space, rng))
                        .unwrap_or_else(|_| parents[a].clone())
                });
                slot += 1;
            }
        }
    }
    (p.entries, p.new_known)
}

/// The selection scores with each one capped at the lowest score of the candidates that
/// went further (halving): a candidate stopped early never weighs more in
/// fitness-proportional selection than one trained longer. Without halving every record
/// has the same progress and the scores come back unchanged.
fn capped_by_progress(records: &[&Record], scores: &[Option<f64>]) -> Vec<Option<f64>> {
    use std::collections::BTreeMap;
    // The lowest score at each progress, then the lowest over everything further.
    let mut lowest: BTreeMap<usize, f64> = BTreeMap::new();
    for (r, s) in records.iter().zip(scores) {
        if let Some(s) = s {
            let e = lowest.entry(r.progress()).or_insert(*s);
            *e = e.min(*s);
        }
    }
    let mut cap_above: BTreeMap<usize, f64> = BTreeMap::new();
    let mut cap = f64::INFINITY;
    for (&progress, &low) in lowest.iter().rev() {
        cap_above.insert(progress, cap);
        cap = cap.min(low);
    }
    records
        .iter()
        .zip(scores)
        .map(|(r, s)| {
            s.map(|s| match cap_above.get(&r.progress()) {
                Some(&cap) if cap < s => cap,
                _ => s,
            })
        })
        .collect()
}
