//! Property tests of the text forms: no input makes the parser panic, canonical text
//! reads back to the identical tree, and the paper notation reads back to the same
//! function.

use actfn_expr::{
    fingerprint, BinaryOp, Expr, ExprError, SearchSpace, Style, UnaryOp, MAX_HEIGHT,
    PAPER_FUNCTIONS,
};
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

/// Whatever parses is accepted, and round-trips: see [`check_round_trip`].
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    if let Ok(e) = Expr::parse(text) {
        prop_assert!(
            e.check_printable().is_ok(),
            "{} parsed to a tree past the limits",
            text
        );
        check_round_trip(&e)?;
    }
    Ok(())
}

/// The invariant of `actfn_expr::limits` for an accepted tree: canonical text reads back
/// to the same tree, the paper notations to the same values, and the derivative is
/// accepted and round-trips too, or is refused with a size error.
fn check_round_trip(e: &Expr) -> Result<(), TestCaseError> {
    let canonical = e.to_string();
    let back = Expr::parse(&canonical);
    prop_assert_eq!(back.as_ref(), Ok(e), "{}", canonical);
    for style in [Style::Paper, Style::PaperAscii] {
        let text = e.styled(style).to_string();
        let back =
            Expr::parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert!(same_values(&back, e), "{} -> {} -> {}", e, text, back);
    }
    match e.derivative() {
        Ok(d) => {
            prop_assert!(d.check_printable().is_ok());
            let text = d.to_string();
            let back = Expr::parse(&text);
            prop_assert_eq!(back.as_ref(), Ok(&d), "{}", text);
        }
        Err(err) => prop_assert!(
            matches!(err, ExprError::TooTall { .. } | ExprError::TooLarge { .. }),
            "{}: {}",
            e,
            err
        ),
    }
    Ok(())
}

/// One level of a tall tree: an op over the level below, with a small side operand.
fn level() -> impl Strategy<Value = (Option<UnaryOp>, BinaryOp, bool, f64)> {
    let unary: Vec<UnaryOp> = UnaryOp::every().collect();
    (
        prop::option::weighted(0.7, prop::sample::select(unary)),
        prop::sample::select(BinaryOp::ALL.to_vec()),
        any::<bool>(),
        literal(),
    )
}

/// Trees up to the height limit, one op per level: the shapes on which the printers
/// nest deepest (`-(-(...`, `e^(e^(...`, `e^(-(...)^2)`, `log(1 + e^(...`, quotients).
fn tall() -> impl Strategy<Value = Expr> {
    prop::collection::vec(level(), 0..=MAX_HEIGHT).prop_map(|levels| {
        levels
            .into_iter()
            .fold(Expr::X, |below, (unary, binary, left, c)| match unary {
                Some(op) => Expr::unary(op, below),
                None if left => Expr::binary(binary, below, Expr::constant(c)),
                None => Expr::binary(binary, Expr::X, below),
            })
    })
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
    fn accepted_trees_round_trip_with_their_derivatives(e in expr()) {
        check_round_trip(&e)?;
    }

    #[test]
    fn serde_round_trips(e in expr()) {
        let json = serde_json::to_string(&e).unwrap();
        prop_assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), e);
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn trees_up_to_the_height_limit_round_trip(e in tall()) {
        prop_assert!(e.height() <= MAX_HEIGHT);
        check_round_trip(&e)?;
    }
}

#[test]
fn every_op_chained_to_the_height_limit_round_trips() {
    // The tallest accepted chain of each op, and one level more, which every reader of
    // the text refuses with a size error rather than a crash.
    for op in UnaryOp::every() {
        let mut e = Expr::X;
        for _ in 0..MAX_HEIGHT {
            e = Expr::unary(op, e);
        }
        check_round_trip(&e).unwrap_or_else(|err| panic!("{op}: {err}"));
        let e = Expr::unary(op, e);
        for style in [Style::Canonical, Style::Paper, Style::PaperAscii] {
            let text = e.styled(style).to_string();
            match Expr::parse(&text) {
                // Shorthand like `id(E)` printing as `E` can make the text shorter.
                Ok(back) => assert!(back.height() <= MAX_HEIGHT, "{op} {style:?}"),
                Err(err) => assert!(
                    matches!(err, ExprError::TooTall { .. }),
                    "{op} {style:?}: {err}"
                ),
            }
        }
    }
    // Every pair of unary ops alternating: the printers' nesting per level depends on
    // the op and on what it wraps.
    for a in UnaryOp::every() {
        for b in UnaryOp::every() {
            let mut e = Expr::X;
            for i in 0..MAX_HEIGHT {
                e = Expr::unary(if i % 2 == 0 { a } else { b }, e);
            }
            check_round_trip(&e).unwrap_or_else(|err| panic!("{a} {b}: {err}"));
        }
    }
    for op in BinaryOp::ALL {
        let (mut left, mut right) = (Expr::X, Expr::X);
        for _ in 0..MAX_HEIGHT {
            left = Expr::binary(op, left, Expr::X);
            right = Expr::binary(op, Expr::X, right);
        }
        check_round_trip(&left).unwrap_or_else(|err| panic!("{op}: {err}"));
        check_round_trip(&right).unwrap_or_else(|err| panic!("{op}: {err}"));
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

#[test]
fn reported_inputs_are_refused_up_front_or_read_back() {
    let tall = |e: Result<Expr, ExprError>| matches!(e, Err(ExprError::TooTall { .. }));
    // 129 to 255 prefix minus signs used to parse, and their canonical text (two levels
    // of nesting per minus) did not read back.
    for n in [1, 2, MAX_HEIGHT - 1, MAX_HEIGHT] {
        let e = Expr::parse(&format!("{}x", "-".repeat(n))).unwrap();
        check_round_trip(&e).unwrap_or_else(|err| panic!("{n}: {err}"));
    }
    for n in [MAX_HEIGHT + 1, 129, 200, 255] {
        assert!(tall(Expr::parse(&format!("{}x", "-".repeat(n)))), "{n}");
    }
    // Deeper still, the nesting limit stops the parser before it builds anything.
    for n in [256, 10_000] {
        let e = Expr::parse(&format!("{}x", "-".repeat(n)));
        assert!(matches!(e, Err(ExprError::TooDeep { .. })), "{n}");
    }
    // The paper notation's `e^(e^(...` and `log(1 + e^(log(1 + e^(...`.
    for text in ["e^", "exp(", "softplus(", "gauss("] {
        let open = |n: usize| {
            format!(
                "{}x{}",
                text.repeat(n),
                if text.ends_with('(') {
                    ")".repeat(n)
                } else {
                    String::new()
                }
            )
        };
        let e = Expr::parse(&open(MAX_HEIGHT)).unwrap();
        check_round_trip(&e).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert!(tall(Expr::parse(&open(MAX_HEIGHT + 1))), "{text}");
    }
    // A product of 250 `x`: refused as text; a shorter one whose derivative is too tall
    // gives a size error from `derivative`, never a tree that does not read back.
    assert!(tall(Expr::parse(&vec!["x"; 250].join(" * "))));
    let product = Expr::parse(&vec!["x"; MAX_HEIGHT].join(" * ")).unwrap();
    assert!(matches!(
        product.derivative(),
        Err(ExprError::TooTall { .. })
    ));
}
