//! The search driver: plans each generation from the records of the previous ones,
//! hands the candidates that need training to the evaluator, records every outcome
//! durably, and resumes a killed search exactly.
//!
//! Generation `g` is *planned* by a pure function of the configuration and the records of
//! generations `< g`: its randomness is the ChaCha8 stream `g` of the search seed, and
//! which draws are duplicates or degenerate depends only on the candidates. Running a
//! search and resuming one are therefore the same loop: plan `g`, check the records that
//! already exist for it against the plan, evaluate what has no record, record the rest.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use actfn_expr::{degeneracy, fingerprint, Expr, Fingerprint};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{differences, FitnessMetric, SearchConfig, StoredConfig, Strategy};
use crate::diversity::Placed;
use crate::evaluator::{panic_message, Candidate, Evaluation, Evaluator, Job, Status};
use crate::halving::{promoted, ranking_metric, HalvingConfig};
use crate::operators::{crossover, mutate, select, softmax_fitness};
use crate::record::{Journal, Origin, Record, RecordId, RecordStatus};
use crate::rung_state::{rungs_path, RungState};
use crate::summary::{summarize, Summary, TopEntry};
use crate::EvoError;

/// The search configuration file of a search directory.
pub const CONFIG_FILE: &str = "config.ron";
/// The records file of a search directory.
pub const RECORDS_FILE: &str = "records.jsonl";

/// Progress of a running search, for a progress bar or a log.
#[derive(Debug)]
pub enum Event<'a> {
    /// A generation was planned and is about to be evaluated.
    Generation {
        /// The generation.
        generation: usize,
        /// The number of generations of the search.
        generations: usize,
        /// Candidates planned (replaced draws included).
        planned: usize,
        /// Candidates the evaluator will train now (planned trainings without a record).
        to_train: usize,
    },
    /// A record was written.
    Recorded(&'a Record),
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Every record, ordered by generation and index.
    pub records: Vec<Record>,
    /// For each generation, the records holding its population's places, in place order.
    pub populations: Vec<Vec<RecordId>>,
    /// Counts, per-generation bests and the top k by validation accuracy over all
    /// generations.
    pub summary: Summary,
}

impl SearchOutcome {
    /// The best functions by validation accuracy.
    pub fn top(&self) -> &[TopEntry] {
        &self.summary.top
    }
}

impl<T> StoredConfig<T> {
    /// Refuses an evaluator whose configuration hash differs from the stored one.
    pub fn check_evaluator(&self, evaluator: &dyn Evaluator) -> Result<(), EvoError> {
        let hash = evaluator.config_hash();
        if hash == self.config_hash {
            Ok(())
        } else {
            Err(EvoError::ConfigHashMismatch {
                stored: self.config_hash.clone(),
                evaluator: hash,
            })
        }
    }
}

/// Creates the search directory `dir` for `stored` (writing `config.ron` atomically) and
/// opens its records. If `dir` already holds a search with the same configuration, that
/// search is opened to be continued; one with another configuration is refused with an
/// error naming the differing fields.
pub fn create_dir<T: Serialize + DeserializeOwned>(
    dir: &Path,
    stored: &StoredConfig<T>,
) -> Result<Journal, EvoError> {
    stored.search.validate()?;
    let config_path = dir.join(CONFIG_FILE);
    let records_path = dir.join(RECORDS_FILE);
    if config_path.exists() {
        let existing: StoredConfig<T> = read_config(&config_path)?;
        let to_value = |c: &StoredConfig<T>| {
            serde_json::to_value(c).map_err(|e| EvoError::Serialize(e.to_string()))
        };
        let diff = differences(&to_value(&existing)?, &to_value(stored)?);
        if !diff.is_empty() {
            return Err(EvoError::ConfigMismatch {
                path: dir.to_path_buf(),
                differences: diff.join("; "),
            });
        }
        return Journal::open(&records_path);
    }
    if records_path.exists() {
        return Err(EvoError::ConfigParse {
            path: config_path,
            message: format!("missing, but {} exists", records_path.display()),
        });
    }
    // Checked before the directory is made: a config that would not read back is refused.
    let text = stored.to_ron()?;
    fs::create_dir_all(dir).map_err(|e| EvoError::io(dir, e))?;
    let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write().map_err(|e| EvoError::io(&tmp, e))?;
    fs::rename(&tmp, &config_path).map_err(|e| EvoError::io(&config_path, e))?;
    let journal = Journal::open(&records_path)?;
    sync_dir(dir)?;
    Ok(journal)
}

/// Opens the search in `dir` to continue it: its configuration and its records (a
/// truncated last line is cut off the file, with a warning in the journal).
pub fn open_dir<T: DeserializeOwned>(dir: &Path) -> Result<(StoredConfig<T>, Journal), EvoError> {
    let stored = read_config(&dir.join(CONFIG_FILE))?;
    let journal = Journal::open(&dir.join(RECORDS_FILE))?;
    Ok((stored, journal))
}

/// Reads the search in `dir` without changing anything.
pub fn read_dir<T: DeserializeOwned>(dir: &Path) -> Result<(StoredConfig<T>, Journal), EvoError> {
    let stored = read_config(&dir.join(CONFIG_FILE))?;
    let journal = Journal::read(&dir.join(RECORDS_FILE))?;
    Ok((stored, journal))
}

fn read_config<T: DeserializeOwned>(path: &Path) -> Result<StoredConfig<T>, EvoError> {
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            // The configuration is written once the evaluator is ready: a search killed
            // while preparing its data has none, and nothing to continue.
            EvoError::ConfigMissing {
                path: path.to_path_buf(),
            }
        } else {
            EvoError::io(path, e)
        }
    })?;
    ron::from_str(&text).map_err(|e| EvoError::ConfigParse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn sync_dir(dir: &Path) -> Result<(), EvoError> {
    // Makes the new directory entries durable (a no-op where directories cannot be opened).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Runs (or continues) a search: for every generation, plans it, checks the records
/// `journal` already holds for it, evaluates the candidates without a record and records
/// every outcome. Returns the whole history and the top k.
///
/// Resuming is calling this again with the journal of the killed search: nothing that has
/// a record is evaluated again, and for a deterministic evaluator the outcome is the one
/// of an uninterrupted run. Records of another evaluator configuration or another plan
/// are refused.
pub fn run_search(
    config: &SearchConfig,
    journal: &mut Journal,
    evaluator: &mut dyn Evaluator,
    observer: &mut dyn FnMut(Event<'_>),
) -> Result<SearchOutcome, EvoError> {
    config.validate()?;
    let hash = evaluator.config_hash();
    // The rungs, when halving: they need the evaluator's full budget.
    let halving = match &config.halving {
        None => None,
        Some(h) => {
            let Some(budget) = evaluator.halving_budget() else {
                return Err(EvoError::InvalidConfig(
                    "halving needs a task that trains for epochs (cifar10, cifar100); this \
                     task's evaluations have no epochs to stop after"
                        .into(),
                ));
            };
            Some((*h, h.rungs(budget)?))
        }
    };
    let search_dir = journal.path().and_then(Path::parent).map(Path::to_path_buf);
    let path = journal
        .path()
        .map_or_else(|| PathBuf::from(RECORDS_FILE), Path::to_path_buf);
    let foreign = |line: usize, message: String| EvoError::ForeignRecord {
        path: path.clone(),
        line,
        message,
    };

    // The records already there, by address.
    let mut existing: HashMap<RecordId, usize> = HashMap::new();
    for (pos, r) in journal.records().iter().enumerate() {
        if r.config_hash != hash {
            return Err(foreign(
                pos + 1,
                format!(
                    "evaluator configuration hash {} differs from this search's {hash}",
                    r.config_hash
                ),
            ));
        }
        if r.seed != config.eval_seed() {
            return Err(foreign(
                pos + 1,
                format!(
                    "seed {} differs from this search's {}",
                    r.seed,
                    config.eval_seed()
                ),
            ));
        }
        if existing.insert(r.id(), pos).is_some() {
            return Err(foreign(
                pos + 1,
                format!(
                    "a second record for generation {} index {}",
                    r.generation, r.index
                ),
            ));
        }
    }

    let generations = config.generations();
    let mut state = State {
        config,
        known: HashMap::new(),
        exprs: HashMap::new(),
        records: HashMap::new(),
        populations: Vec::new(),
    };
    let mut matched = 0usize;
    for g in 0..generations {
        let (plan, new_known) = plan_generation(&state, g);
        if plan.is_empty() {
            break;
        }
        for (i, e) in plan.iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if let Some(&pos) = existing.get(&id) {
                let r = &journal.records()[pos];
                if r.expr != e.text || r.slot != e.slot || r.origin != e.origin {
                    return Err(foreign(
                        pos + 1,
                        format!(
                            "generation {g} index {i} holds {} `{}` (slot {:?}), but this search plans {} `{}` (slot {:?}): the records belong to another search configuration or version",
                            r.origin.name(), r.expr, r.slot, e.origin.name(), e.text, e.slot
                        ),
                    ));
                }
                state.records.insert(id, r.clone());
                matched += 1;
            }
        }
        let pending: Vec<usize> = (0..plan.len())
            .filter(|&i| {
                matches!(plan[i].kind, Kind::Train)
                    && !state.records.contains_key(&RecordId {
                        generation: g,
                        index: i,
                    })
            })
            .collect();
        observer(Event::Generation {
            generation: g,
            generations,
            planned: plan.len(),
            to_train: pending.len(),
        });
        match &halving {
            Some((h, rungs)) if !pending.is_empty() => {
                let mut halver = Halver {
                    generation: g,
                    plan: &plan,
                    seed: config.eval_seed(),
                    hash: &hash,
                    journal: &mut *journal,
                    records: &mut state.records,
                    observer: &mut *observer,
                    halving: *h,
                    metric: ranking_metric(&config.strategy),
                    rungs,
                    state_path: search_dir.as_deref().map(|d| rungs_path(d, g)),
                };
                halver.run(evaluator)?;
            }
            _ => {
                let mut recorder = Recorder {
                    generation: g,
                    plan: &plan,
                    pending: &pending,
                    done: vec![false; pending.len()],
                    seed: config.eval_seed(),
                    hash: &hash,
                    journal: &mut *journal,
                    records: &mut state.records,
                    observer: &mut *observer,
                    epochs: None,
                    rung: None,
                    rung_state: None,
                    earlier_seconds: Vec::new(),
                };
                recorder.evaluate(evaluator)?;
            }
        }
        // Records of the candidates not trained, now that every original is recorded.
        for (i, e) in plan.iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if state.records.contains_key(&id) {
                continue;
            }
            let record = match &e.kind {
                Kind::Train => unreachable!("every training was recorded"),
                Kind::Reuse(of) => {
                    let original = &state.records[of];
                    Record {
                        val_acc: original.val_acc,
                        val_loss: original.val_loss,
                        status: original.status,
                        reason: original.reason.clone(),
                        duplicate_of: Some(*of),
                        rung: original.rung,
                        ..base_record(g, i, e, config.eval_seed(), &hash)
                    }
                }
                Kind::Rejected(why) => Record {
                    status: RecordStatus::Rejected,
                    reason: Some(why.clone()),
                    ..base_record(g, i, e, config.eval_seed(), &hash)
                },
            };
            let written = journal.append(&record)?;
            observer(Event::Recorded(written));
            state.records.insert(id, written.clone());
        }
        // The generation is complete: it becomes history.
        let mut population: Vec<(usize, RecordId)> = Vec::new();
        for (i, e) in plan.into_iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if let Some(slot) = e.slot {
                population.push((slot, id));
            }
            state.exprs.insert(id, e.expr);
        }
        population.sort();
        state
            .populations
            .push(population.into_iter().map(|(_, id)| id).collect());
        state.known.extend(new_known);
    }
    if matched < existing.len() {
        let (_, &pos) = existing
            .iter()
            .filter(|(id, _)| !state.records.contains_key(id))
            .min_by_key(|(_, &pos)| pos)
            .expect("an unmatched record exists");
        let r = &journal.records()[pos];
        return Err(foreign(
            pos + 1,
            format!(
                "generation {} index {} is not part of this search's plan",
                r.generation, r.index
            ),
        ));
    }

    let mut records: Vec<Record> = state.records.into_values().collect();
    records.sort_by_key(Record::id);
    let summary = summarize(&records, config.top_k);
    Ok(SearchOutcome {
        records,
        populations: state.populations,
        summary,
    })
}

/// The history a plan is made from.
struct State<'c> {
    config: &'c SearchConfig,
    /// The first evaluation of every function seen, by fingerprint.
    known: HashMap<Fingerprint, RecordId>,
    /// The candidates of the completed generations.
    exprs: HashMap<RecordId, Expr>,
    /// The records, of completed generations and of the current one so far.
    records: HashMap<RecordId, Record>,
    /// The population of each completed generation.
    populations: Vec<Vec<RecordId>>,
}

/// What to do with a planned candidate.
#[derive(Debug, Clone)]
enum Kind {
    /// Evaluate it.
    Train,
    /// Reuse this (trained) record: a duplicate, or an elite.
    Reuse(RecordId),
    /// Degenerate: record as rejected, never train.
    Rejected(String),
}

/// One planned candidate.
#[derive(Debug, Clone)]
struct Entry {
    expr: Expr,
    text: String,
    fingerprint: Fingerprint,
    origin: Origin,
    slot: Option<usize>,
    kind: Kind,
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
fn plan_generation<'s>(
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

/// The fields every record of `entry` shares.
fn base_record(g: usize, i: usize, entry: &Entry, seed: u64, hash: &str) -> Record {
    Record {
        generation: g,
        index: i,
        slot: entry.slot,
        origin: entry.origin,
        expr: entry.text.clone(),
        fingerprint: entry.fingerprint.to_string(),
        seed,
        config_hash: hash.to_string(),
        val_acc: None,
        val_loss: None,
        status: RecordStatus::Rejected,
        reason: None,
        epochs: 0,
        seconds: 0.0,
        duplicate_of: None,
        worker: None,
        rung: None,
    }
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

/// The record of an evaluation the evaluator performed.
#[allow(clippy::too_many_arguments)]
fn evaluated_record(
    g: usize,
    index: usize,
    entry: &Entry,
    seed: u64,
    hash: &str,
    ev: Evaluation,
    rung: Option<usize>,
    earlier_seconds: f64,
) -> Record {
    let (status, reason) = match ev.status {
        Status::Ok => (RecordStatus::Ok, None),
        Status::Diverged { reason } => (RecordStatus::Diverged, Some(reason)),
        Status::Failed { reason } => (RecordStatus::Failed, Some(reason)),
    };
    let finite = |v: f64| v.is_finite().then_some(v);
    Record {
        val_acc: finite(ev.val_acc),
        val_loss: finite(ev.val_loss),
        status,
        reason,
        epochs: ev.epochs,
        seconds: finite(ev.seconds).unwrap_or(0.0) + earlier_seconds,
        worker: ev.worker,
        rung,
        ..base_record(g, index, entry, seed, hash)
    }
}

/// Runs one generation's trainings with successive halving: each rung below the last is
/// evaluated into the rung state (what is already there is not evaluated again), its
/// candidates that do not go on are recorded, in plan order, and the last rung's are
/// recorded as they are reported, as without halving.
struct Halver<'a> {
    generation: usize,
    plan: &'a [Entry],
    seed: u64,
    hash: &'a str,
    journal: &'a mut Journal,
    records: &'a mut HashMap<RecordId, Record>,
    observer: &'a mut dyn FnMut(Event<'_>),
    halving: HalvingConfig,
    metric: FitnessMetric,
    rungs: &'a [u32],
    state_path: Option<PathBuf>,
}

impl Halver<'_> {
    fn run(&mut self, evaluator: &mut dyn Evaluator) -> Result<(), EvoError> {
        let g = self.generation;
        let (below, last) = self.rungs.split_at(self.rungs.len() - 1);
        let mut state = RungState::open(self.state_path.clone(), below)?;
        let mut current: Vec<usize> = (0..self.plan.len())
            .filter(|&i| matches!(self.plan[i].kind, Kind::Train))
            .collect();
        let mut seconds: HashMap<usize, f64> = HashMap::new();
        let recorded = |records: &HashMap<RecordId, Record>, index: usize| {
            records.contains_key(&RecordId {
                generation: g,
                index,
            })
        };
        for (k, &epochs) in below.iter().enumerate() {
            let mut missing = Vec::new();
            for &i in &current {
                if state.get(k, i, &self.plan[i].text)?.is_none() {
                    missing.push(i);
                }
            }
            if !missing.is_empty() {
                let mut recorder = self.recorder(&missing, epochs, k, Some(&mut state), &seconds);
                recorder.evaluate(evaluator)?;
            }
            let mut results = Vec::with_capacity(current.len());
            for &i in &current {
                let e = state.get(k, i, &self.plan[i].text)?.ok_or_else(|| {
                    EvoError::Protocol(format!("no result for index {i} at rung {k}"))
                })?;
                *seconds.entry(i).or_default() += if e.seconds.is_finite() {
                    e.seconds
                } else {
                    0.0
                };
                results.push((i, e));
            }
            let refs: Vec<(usize, &Evaluation)> = results.iter().map(|(i, e)| (*i, e)).collect();
            let next = promoted(&refs, self.halving.eta, self.metric);
            for (i, e) in results {
                if next.contains(&i) || recorded(self.records, i) {
                    continue;
                }
                let record = evaluated_record(
                    g,
                    i,
                    &self.plan[i],
                    self.seed,
                    self.hash,
                    e.sanitized(),
                    Some(k),
                    0.0,
                );
                let record = Record {
                    seconds: seconds.get(&i).copied().unwrap_or(0.0),
                    ..record
                };
                let written = self.journal.append(&record)?;
                (self.observer)(Event::Recorded(written));
                self.records.insert(written.id(), written.clone());
            }
            current = next;
        }
        let pending: Vec<usize> = current
            .into_iter()
            .filter(|&i| !recorded(self.records, i))
            .collect();
        if !pending.is_empty() {
            let mut recorder =
                self.recorder(&pending, last[0], self.rungs.len() - 1, None, &seconds);
            recorder.evaluate(evaluator)?;
        }
        Ok(())
    }

    fn recorder<'r>(
        &'r mut self,
        pending: &'r [usize],
        epochs: u32,
        rung: usize,
        rung_state: Option<&'r mut RungState>,
        seconds: &HashMap<usize, f64>,
    ) -> Recorder<'r> {
        Recorder {
            generation: self.generation,
            plan: self.plan,
            pending,
            done: vec![false; pending.len()],
            seed: self.seed,
            hash: self.hash,
            journal: &mut *self.journal,
            records: &mut *self.records,
            observer: &mut *self.observer,
            epochs: Some(epochs),
            rung: Some(rung),
            rung_state,
            earlier_seconds: pending
                .iter()
                .map(|i| seconds.get(i).copied().unwrap_or(0.0))
                .collect(),
        }
    }
}

/// Turns the evaluator's reports into durable records.
struct Recorder<'a> {
    generation: usize,
    plan: &'a [Entry],
    /// Plan indices of the jobs handed to the evaluator.
    pending: &'a [usize],
    done: Vec<bool>,
    seed: u64,
    hash: &'a str,
    journal: &'a mut Journal,
    records: &'a mut HashMap<RecordId, Record>,
    observer: &'a mut dyn FnMut(Event<'_>),
    /// Halving: the rung's epochs (the evaluator is asked to stop there).
    epochs: Option<u32>,
    /// Halving: the rung's index, for the records.
    rung: Option<usize>,
    /// Halving, below the last rung: results go here instead of the records.
    rung_state: Option<&'a mut RungState>,
    /// Halving: seconds the candidates of `pending` spent at earlier rungs.
    earlier_seconds: Vec<f64>,
}

impl Recorder<'_> {
    fn record(&mut self, i: usize, evaluation: Evaluation) -> Result<(), EvoError> {
        if i >= self.pending.len() {
            return Err(EvoError::Protocol(format!(
                "reported candidate {i} of a batch of {}",
                self.pending.len()
            )));
        }
        if self.done[i] {
            return Err(EvoError::Protocol(format!("reported candidate {i} twice")));
        }
        let index = self.pending[i];
        let entry = &self.plan[index];
        let ev = evaluation.sanitized();
        if let (Some(state), Some(rung)) = (&mut self.rung_state, self.rung) {
            state.put(rung, index, &entry.text, &ev)?;
            self.done[i] = true;
            return Ok(());
        }
        let record = evaluated_record(
            self.generation,
            index,
            entry,
            self.seed,
            self.hash,
            ev,
            self.rung,
            self.earlier_seconds.get(i).copied().unwrap_or(0.0),
        );
        let written = self.journal.append(&record)?;
        (self.observer)(Event::Recorded(written));
        self.records.insert(written.id(), written.clone());
        self.done[i] = true;
        Ok(())
    }

    fn evaluate(&mut self, evaluator: &mut dyn Evaluator) -> Result<(), EvoError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let jobs: Vec<Job> = self
            .pending
            .iter()
            .map(|&index| Job {
                id: RecordId {
                    generation: self.generation,
                    index,
                },
                candidate: Candidate {
                    expr: self.plan[index].expr.clone(),
                    seed: self.seed,
                },
                until_epoch: self.epochs,
            })
            .collect();
        let result = caught(|| evaluator.evaluate(&jobs, &mut |i, ev| self.record(i, ev)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                // Which job panicked is unknown: evaluate the unreported ones one at a
                // time, and record the one that panics again as failed.
                for i in 0..jobs.len() {
                    if self.done[i] {
                        continue;
                    }
                    let result = caught(|| {
                        evaluator.evaluate(&jobs[i..=i], &mut |j, ev| {
                            if j != 0 {
                                return Err(EvoError::Protocol(format!(
                                    "reported candidate {j} of a batch of 1"
                                )));
                            }
                            self.record(i, ev)
                        })
                    });
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(message) if !self.done[i] => self.record(
                            i,
                            Evaluation::failed(format!("evaluator panicked: {message}"), 0.0),
                        )?,
                        Err(_) => {}
                    }
                }
            }
        }
        if let Some(i) = self.done.iter().position(|d| !d) {
            return Err(EvoError::Protocol(format!(
                "the evaluator returned without reporting candidate {i} (`{}`)",
                jobs[i].candidate.expr
            )));
        }
        Ok(())
    }
}

/// Runs a call into the evaluator, turning a panic into its message: the search's one
/// guard against an evaluator that lets a panic escape (evaluators catch their own with
/// [`crate::evaluator::guarded`]).
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}
