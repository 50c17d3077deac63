//! `cargo xtask fuzz`: a fuzzer for the expression language that runs on stable Rust.
//!
//! The parent generates cases (random bytes, grammar-shaped token soups with long runs of
//! one token, and edits of valid expressions, deep ones included) and hands them in
//! batches to a child process, the same binary with [`CHILD_ENV`] set, which reads one
//! hex-encoded case per line from stdin and writes one line per case. For each case the
//! child parses the text and, if it parses, checks the round-trip invariant of
//! `actfn_expr::limits`: the tree is accepted, every printer's text parses back (the
//! canonical one to the same tree, the paper notation to the same values), evaluation,
//! the derivative (printable, or a size error), the fingerprint and the degeneracy check
//! all complete. A child that dies (stack overflow, abort, panic) or hangs marks the case
//! it was on as a crash; the case is saved under `target/fuzz/` and the rest of the batch
//! goes to a fresh child. So a crash cannot take the fuzzer down with it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actfn_expr::{degeneracy, fingerprint, Expr, ExprError, SearchSpace, Style, PAPER_FUNCTIONS};
use anyhow::{bail, Context};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Set (to anything) in the child's environment.
const CHILD_ENV: &str = "ACTFN_FUZZ_CHILD";

/// Cases per child process.
const BATCH: usize = 2_000;

/// A case still running after this long counts as a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the fuzzer for `seconds` (or, in the child, checks the cases on stdin).
pub fn run(root: &Path, seconds: u64, seed: u64) -> anyhow::Result<()> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    let out_dir = root.join("target").join("fuzz");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let corpus = corpus();
    let mut rng = SplitMix(seed);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let (mut cases, mut crashes, mut failures) = (0usize, 0usize, 0usize);
    let mut next_report = start + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut batch: Vec<Vec<u8>> = (0..BATCH).map(|_| generate(&mut rng, &corpus)).collect();
        while !batch.is_empty() {
            let outcome = run_batch(&exe, &batch)?;
            for (i, message) in &outcome.failures {
                failures += 1;
                let path = out_dir.join(format!("roundtrip-{seed}-{}.txt", cases + i));
                std::fs::write(&path, &batch[*i])?;
                eprintln!(
                    "fuzz: round-trip failure, input saved to {}: {message}",
                    path.display()
                );
            }
            cases += outcome.done;
            match outcome.crash {
                None => batch.clear(),
                Some(reason) => {
                    crashes += 1;
                    cases += 1;
                    let path = out_dir.join(format!("crash-{seed}-{cases}.txt"));
                    std::fs::write(&path, &batch[outcome.done])?;
                    eprintln!("fuzz: crash ({reason}), input saved to {}", path.display());
                    batch.drain(..=outcome.done);
                }
            }
        }
        if Instant::now() >= next_report {
            eprintln!(
                "fuzz: {cases} cases in {:.0} s, {crashes} crashes, {failures} round-trip failures",
                start.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(60);
        }
    }
    println!(
        "fuzz: {cases} cases in {:.0} s (seed {seed}): {crashes} crashes, {failures} round-trip failures",
        start.elapsed().as_secs_f64()
    );
    if crashes + failures > 0 {
        bail!("the fuzzer found {crashes} crashes and {failures} round-trip failures; inputs are in {}", out_dir.display());
    }
    Ok(())
}

/// What a child made of a batch.
struct Outcome {
    /// Cases completed, in order.
    done: usize,
    /// Round-trip failures among them: index and message.
    failures: Vec<(usize, String)>,
    /// Why the child stopped at case `done`, if it did not finish the batch.
    crash: Option<String>,
}

fn run_batch(exe: &Path, batch: &[Vec<u8>]) -> anyhow::Result<Outcome> {
    let mut child = Command::new(exe)
        .args(["fuzz", "--seconds", "0"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the fuzz child")?;
    // Written from a thread: the child answers while it reads, and neither pipe may fill.
    let mut stdin = child.stdin.take().context("child stdin")?;
    let input: String = batch.iter().map(|case| hex(case) + "\n").collect();
    let writer = std::thread::spawn(move || {
        // A child that dies early closes the pipe; the crash is reported from its status.
        let _ = stdin.write_all(input.as_bytes());
    });
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().context("child stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut outcome = Outcome {
        done: 0,
        failures: Vec::new(),
        crash: None,
    };
    while outcome.done < batch.len() {
        match rx.recv_timeout(CASE_TIMEOUT) {
            Ok(line) => {
                if let Some(message) = line.strip_prefix("fail ") {
                    outcome.failures.push((outcome.done, message.to_owned()));
                }
                outcome.done += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                outcome.crash = Some(format!("no answer within {} s", CASE_TIMEOUT.as_secs()));
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().context("cannot wait for the fuzz child")?;
    let _ = writer.join();
    let stderr = errors.join().unwrap_or_default();
    if outcome.crash.is_none() && outcome.done < batch.len() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        outcome.crash = Some(format!("child exited with {status}: {last}"));
    }
    Ok(outcome)
}

/// The child: checks each hex-encoded case on stdin, answering `ok` or `fail MESSAGE`.
fn child() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let bytes = unhex(&line?).context("bad case encoding")?;
        let text = String::from_utf8_lossy(&bytes);
        match check(&text) {
            Ok(()) => writeln!(out, "ok")?,
            Err(message) => writeln!(out, "fail {}", message.replace('\n', " "))?,
        }
        // One line per finished case, at once: the parent counts them to find a crash.
        out.flush()?;
    }
    Ok(())
}

/// Equal values on a grid (`0 == -0`, NaN equals NaN).
fn same_values(a: &Expr, b: &Expr) -> bool {
    (-40..=40).map(|i| f64::from(i) * 0.123).all(|x| {
        let (u, v) = (a.eval(x), b.eval(x));
        u == v || (u.is_nan() && v.is_nan())
    })
}

/// The round-trip invariant for one input text.
fn check(text: &str) -> Result<(), String> {
    let Ok(e) = Expr::parse(text) else {
        return Ok(());
    };
    e.check_printable()
        .map_err(|err| format!("parsed {text:?} but the tree is not accepted: {err}"))?;
    for style in [Style::Canonical, Style::Paper, Style::PaperAscii] {
        let printed = e.styled(style).to_string();
        let back = Expr::parse(&printed)
            .map_err(|err| format!("{style:?} text of {text:?} does not parse back: {err}"))?;
        let same = if style == Style::Canonical {
            back == e
        } else {
            same_values(&back, &e)
        };
        if !same {
            return Err(format!(
                "{style:?} text of {text:?} reads back to {back}, not {e}"
            ));
        }
    }
    let _ = e.styled(Style::Latex).to_string();
    let _ = fingerprint(&e);
    let _ = degeneracy(&e);
    match e.derivative() {
        Ok(d) => {
            d.check_printable()
                .map_err(|err| format!("the derivative of {text:?} is not accepted: {err}"))?;
            let back = Expr::parse(&d.to_string())
                .map_err(|err| format!("the derivative of {text:?} does not parse back: {err}"))?;
            if back != d {
                return Err(format!(
                    "the derivative of {text:?} reads back to {back}, not {d}"
                ));
            }
            let _ = d.eval(0.5);
        }
        Err(ExprError::TooTall { .. } | ExprError::TooLarge { .. }) => {}
        Err(other) => return Err(format!("the derivative of {text:?} failed: {other}")),
    }
    Ok(())
}

/// Valid texts to edit: the paper's functions in every notation, sampled members, and
/// shapes at and just past the size limits.
fn corpus() -> Vec<String> {
    let mut texts = Vec::new();
    for (_, text) in PAPER_FUNCTIONS {
        if let Ok(e) = Expr::parse(text) {
            texts.push((*text).to_owned());
            for style in [Style::Canonical, Style::Paper, Style::PaperAscii] {
                texts.push(e.styled(style).to_string());
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for depth in 1..=3 {
        let space = SearchSpace::paper(depth);
        for _ in 0..10 {
            let e = space.sample(&mut rng);
            texts.push(e.to_string());
            texts.push(e.styled(Style::Paper).to_string());
        }
    }
    let h = actfn_expr::MAX_HEIGHT;
    for n in [h - 1, h, h + 1] {
        texts.push(format!("{}x", "-".repeat(n)));
        texts.push(format!("{}x", "e^".repeat(n)));
        texts.push(vec!["x"; n].join(" * "));
        texts.push(format!(
            "{}x{}",
            "log(1 + e^(".repeat(n / 2),
            "))".repeat(n / 2)
        ));
        texts.push(format!(
            "{}x{}",
            "e^(-(".repeat(n / 2),
            ")^2)".repeat(n / 2)
        ));
        texts.push(format!("{}x{}", "x / (".repeat(n), " + eps)".repeat(n)));
    }
    texts
}

/// Tokens for the grammar soup: operators, brackets, names, and the shapes the printers
/// write.
const TOKENS: &[&str] = &[
    "x",
    "x",
    "x",
    "1",
    "2",
    "3",
    "0",
    "0.5",
    ".5",
    "1e-3",
    "1e308",
    "inf",
    "nan",
    "e",
    "eps",
    "ε",
    "σ",
    "√",
    "-",
    "−",
    "+",
    "*",
    "·",
    "/",
    "^",
    "^2",
    "^3",
    "(",
    ")",
    "{",
    "}",
    "|",
    ",",
    " ",
    "sin(",
    "tanh(",
    "max(",
    "min{",
    "relu(",
    "min0(",
    "log(",
    "log(1 + e^",
    "log(|",
    " + eps|)",
    " + ε)",
    "e^(-",
    ")^2)",
    "swish(",
    "sigmoid(",
    "abs(",
    "exp(",
    "gauss(",
    "id(",
    "zero(",
    "one(",
    "dsinc(",
    "recip(",
    "add(",
    "mul(",
    "div(",
    "-(",
    "e^e^",
    "x / (",
];

fn generate(rng: &mut SplitMix, corpus: &[String]) -> Vec<u8> {
    match rng.below(3) {
        0 => {
            let n = rng.below(120);
            (0..n).map(|_| rng.next() as u8).collect()
        }
        1 => {
            let mut text = String::new();
            for _ in 0..rng.below(40) {
                let token = TOKENS[rng.below(TOKENS.len())];
                // Long runs of one token reach the nesting and height limits.
                let times = if rng.below(8) == 0 { rng.below(400) } else { 1 };
                text.push_str(&token.repeat(times));
            }
            text.into_bytes()
        }
        _ => {
            let mut chars: Vec<char> = corpus[rng.below(corpus.len())].chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len() + 1);
                match rng.below(4) {
                    0 => {
                        let end = (at + 1 + rng.below(6)).min(chars.len());
                        chars.drain(at.min(end)..end);
                    }
                    1 => {
                        let token = TOKENS[rng.below(TOKENS.len())];
                        for (k, c) in token.chars().enumerate() {
                            chars.insert(at + k, c);
                        }
                    }
                    2 => {
                        let end = (at + 1 + rng.below(12)).min(chars.len());
                        let piece: Vec<char> = chars[at.min(end)..end].to_vec();
                        chars.splice(at..at, piece);
                    }
                    _ => {
                        // A span repeated many times: deep nesting from valid pieces.
                        let end = (at + 1 + rng.below(8)).min(chars.len());
                        let piece: Vec<char> = chars[at.min(end)..end].to_vec();
                        let times = rng.below(300);
                        let run: Vec<char> = piece
                            .iter()
                            .copied()
                            .cycle()
                            .take(piece.len() * times)
                            .collect();
                        chars.splice(at..at, run);
                    }
                }
            }
            chars.into_iter().collect::<String>().into_bytes()
        }
    }
}

/// SplitMix64: small, seedable, good enough to draw cases.
pub struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // Two digits a byte (a bit test: `is_multiple_of` is newer than the MSRV).
    if text.len() & 1 == 1 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_checks_accept_the_corpus() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("abc"), None);
        for text in corpus() {
            check(&text).unwrap_or_else(|m| panic!("{m}"));
        }
        let mut rng = SplitMix(1);
        let corpus = corpus();
        for _ in 0..500 {
            let case = generate(&mut rng, &corpus);
            check(&String::from_utf8_lossy(&case)).unwrap_or_else(|m| panic!("{m}"));
        }
    }
}
