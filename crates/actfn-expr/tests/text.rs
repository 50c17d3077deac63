//! Property tests of the text forms: no input makes the parser panic, canonical text
//! reads back to the identical tree, and the paper notation reads back to the same
//! function.

use actfn_expr::{fingerprint, BinaryOp, Expr, SearchSpace, Style, UnaryOp, PAPER_FUNCTIONS};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn config(cases: u32) -> Config {
    // No regression files: a failure prints its minimal input.
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Equal as functions on a grid: equal values (`0 == -0`: `f64::max` may return either
/// zero) or both NaN.
fn same_values(a: &Expr, b: &Expr) -> bool {
    (-40..=40).map(|i| f64::from(i) * 0.123).all(|x| {
        let (u, v) = (a.eval(x), b.eval(x));
        u == v || (u.is_nan() && v.is_nan())
    })
}

fn literal() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_map(|v| if v.is_nan() { f64::NAN } else { v }),
        (-5i32..=5).prop_map(f64::from),
        Just(0.001),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

/// Any tree over every op (derivative helpers included), `x` and literals.
fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![3 => Just(Expr::X), 1 => literal().prop_map(Expr::constant)];
    leaf.prop_recursive(8, 64, 2, |inner| {
        let unary: Vec<UnaryOp> = UnaryOp::every().collect();
        prop_oneof![
            (prop::sample::select(unary), inner.clone()).prop_map(|(op, a)| Expr::unary(op, a)),
            (
                prop::sample::select(BinaryOp::ALL.to_vec()),
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b)| Expr::binary(op, a, b)),
        ]
    })
}

/// Texts worth mutating: the paper's functions and their canonical and paper forms.
fn corpus() -> Vec<String> {
    let mut texts = Vec::new();
    for (_, text) in PAPER_FUNCTIONS {
        let e = Expr::parse(text).unwrap();
        texts.push((*text).to_owned());
        texts.push(e.to_string());
        texts.push(e.styled(Style::Paper).to_string());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for depth in 1..=2 {
        for _ in 0..10 {
            texts.push(SearchSpace::paper(depth).sample(&mut rng).to_string());
        }
    }
    texts
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let alphabet: Vec<char> = "x0123456789.eE+-*/^(){}|, σε√·−_aélogmin".chars().collect();
    prop_oneof![
        (any::<usize>(), 1usize..6).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), prop::sample::select(alphabet)).prop_map(|(at, c)| Edit::Insert(at, c)),
        (any::<usize>(), 1usize..12).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match *e {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Edit::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Edit::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                let piece: Vec<char> = chars.get(at..end).unwrap_or_default().to_vec();
                chars.splice(at..at, piece);
            }
        }
    }
    chars.into_iter().collect()
}

/// Whatever parses must print canonically and read back to the same tree.
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    if let Ok(e) = Expr::parse(text) {
        let canonical = e.to_string();
        let back = Expr::parse(&canonical);
        prop_assert_eq!(back.as_ref(), Ok(&e), "{} -> {}", text, canonical);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(40_000))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_parse(&text)?;
    }
}

proptest! {
    #![proptest_config(config(40_000))]

    #[test]
    fn grammar_soup_never_panics(text in "[x0-9eE.+*/^(){}|, σε−-]{0,40}|[a-z0-9()x,+*|-]{0,30}") {
        check_parse(&text)?;
    }
}

proptest! {
    #![proptest_config(config(30_000))]

    #[test]
    fn mutated_valid_strings_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let corpus = corpus_cached();
        let text = apply(index.get::<String>(corpus), &edits);
        check_parse(&text)?;
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn canonical_text_round_trips(e in expr()) {
        let text = e.to_string();
        let back = Expr::parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&e), "{}", text);
    }

    #[test]
    fn paper_text_computes_the_same_function(e in expr()) {
        for style in [Style::Paper, Style::PaperAscii] {
            let text = e.styled(style).to_string();
            let back = Expr::parse(&text).map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert!(same_values(&back, &e), "{} -> {} -> {}", e, text, back);
        }
        // LaTeX has no reader; it must at least be non-empty and balanced.
        let latex = e.styled(Style::Latex).to_string();
        prop_assert_eq!(latex.matches('{').count(), latex.matches('}').count());
    }

    #[test]
    fn serde_round_trips(e in expr()) {
        let json = serde_json::to_string(&e).unwrap();
        prop_assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), e);
    }
}

fn corpus_cached() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(corpus)
}

#[test]
fn sampled_members_round_trip_in_every_style() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for depth in 1..=3 {
        let space = SearchSpace::paper(depth);
        for _ in 0..2_000 {
            let e = space.sample(&mut rng);
            assert_eq!(Expr::parse(&e.to_string()).unwrap(), e);
            let paper = Expr::parse(&e.styled(Style::Paper).to_string()).unwrap();
            assert!(same_values(&paper, &e), "{e}");
            assert_eq!(fingerprint(&paper), fingerprint(&e));
            if depth == 1 {
                // Above depth 1, `id(f)` prints as bare `f`, which no longer reads as a
                // core unit; at depth 1 every shorthand is recognised.
                assert_eq!(space.recognize(&paper).as_ref(), Some(&e));
            }
        }
    }
}
