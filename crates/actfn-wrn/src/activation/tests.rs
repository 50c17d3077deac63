//! The tensor backend against actfn-expr's f64 evaluator, op by op on a dense grid, and
//! the two gradient modes against each other.

use super::program::{Node, Program, Ref, CHUNK};
use super::*;
use actfn_expr::{BinaryOp, SearchSpace, EPS, PAPER_FUNCTIONS};
use rand::SeedableRng;
use tch::{Device, Kind};

const F32_EPS: f64 = EPS as f32 as f64;

fn r32(v: f64) -> f64 {
    v as f32 as f64
}

fn fmax(m: f64, v: f64) -> f64 {
    if v.is_finite() {
        m.max(v.abs())
    } else {
        m
    }
}

fn parts(act: &Activation) -> (&Program, Ref, Option<Ref>) {
    match &act.plan {
        Plan::Program { program, f, df, .. } => (program, *f, *df),
        Plan::Relu => panic!("relu has no program"),
    }
}

/// The program evaluated in f64 at `x`, op by op with `UnaryOp::eval`/`BinaryOp::eval`.
/// With `round`, it models the f32 tensor backend: every result and every constant
/// meeting a tensor rounded to f32, and the protected ops' EPS the f32 scalar torch
/// sees. Returns each output's value and the largest finite intermediate magnitude.
fn mirror(p: &Program, outs: &[Ref], x: f64, round: bool) -> Vec<(f64, f64)> {
    mirror_perturbed(p, outs, x, round, 0.0)
}

/// [`mirror`] with every rounded result scaled by `1 + wobble` (alternating in sign
/// from node to node when `wobble < 0`): how much a few ulps of error in the
/// intermediates move the outputs at this `x`.
fn mirror_perturbed(
    p: &Program,
    outs: &[Ref],
    x: f64,
    round: bool,
    wobble: f64,
) -> Vec<(f64, f64)> {
    let node = std::cell::Cell::new(0usize);
    let rd = |v: f64| {
        if !round {
            return v;
        }
        let w = if wobble < 0.0 && node.get() % 2 == 1 {
            wobble
        } else {
            wobble.abs()
        };
        r32(r32(v) * (1.0 + w))
    };
    let eps = if round { F32_EPS } else { EPS };
    let mut vals: Vec<(f64, f64)> = vec![(f64::NAN, 0.0); p.nodes.len()];
    let get = |vals: &[(f64, f64)], r: Ref| match r {
        Ref::X => (x, x.abs(), false),
        Ref::Const(c) => (c, 0.0, true),
        Ref::Node(i) => (vals[i].0, vals[i].1, false),
    };
    for i in 0..p.nodes.len() {
        node.set(i);
        let (out, m) = match p.nodes[i] {
            Node::Unary(op, a) => {
                let (v, m, _) = get(&vals, a);
                let out = match op {
                    UnaryOp::LogAbs => rd(rd(v + eps).abs().ln()),
                    UnaryOp::Gaussian => rd(rd(-rd(v * v)).exp()),
                    _ => rd(op.eval(v)),
                };
                (out, m)
            }
            Node::Binary(op, a, b) => {
                let (va, ma, ka) = get(&vals, a);
                let (vb, mb, kb) = get(&vals, b);
                let out = match op {
                    BinaryOp::Div if kb => rd(va / rd(vb + EPS)),
                    BinaryOp::Div => rd(if ka { rd(va) } else { va } / rd(vb + eps)),
                    _ => {
                        let va = if ka { rd(va) } else { va };
                        let vb = if kb { rd(vb) } else { vb };
                        rd(op.eval(va, vb))
                    }
                };
                (out, ma.max(mb))
            }
            Node::Masked(s, g) => {
                let (vs, ms, _) = get(&vals, s);
                let (vg, mg, kg) = get(&vals, g);
                let vg = if kg { rd(vg) } else { vg };
                (if vs == 0.0 { 0.0 } else { rd(vs * vg) }, ms.max(mg))
            }
        };
        vals[i] = (out, fmax(m, out));
    }
    outs.iter()
        .map(|&r| {
            let (v, m, _) = get(&vals, r);
            (v, m)
        })
        .collect()
}

/// 20001 points on [-10, 10], plus 0, the f32 neighbours of the protected ops' pole
/// and of ±1, and tiny and large values.
fn grid() -> Vec<f64> {
    let mut xs: Vec<f64> = (0..=20_000).map(|i| r32(-10.0 + i as f64 * 1e-3)).collect();
    for base in [0.0f32, -(EPS as f32), EPS as f32, 1.0, -1.0] {
        xs.push(base as f64);
        let (mut lo, mut hi) = (base as f64, base as f64);
        for _ in 0..3 {
            lo = next_f32(lo, -1.0);
            hi = next_f32(hi, 1.0);
            xs.extend([lo, hi]);
        }
    }
    xs.extend([
        1e-7, -1e-7, 1e-30, -1e-30, 20.0, -20.0, 50.0, -50.0, 100.0, -100.0,
    ]);
    xs
}

/// The f32 next to `v` towards `dir`.
fn next_f32(v: f64, dir: f64) -> f64 {
    let f = v as f32;
    let up = dir > 0.0;
    let n = if f == 0.0 {
        if up {
            f32::from_bits(1)
        } else {
            -f32::from_bits(1)
        }
    } else if (f > 0.0) == up {
        f32::from_bits(f.to_bits() + 1)
    } else {
        f32::from_bits(f.to_bits() - 1)
    };
    n as f64
}

/// Values (and, with `grad`, the input gradient of their sum) on the tensor backend.
fn run_tensor(act: &Activation, xs: &[f64], grad: bool) -> (Vec<f64>, Option<Vec<f64>>) {
    let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let x = Tensor::from_slice(&x32).set_requires_grad(grad);
    let y = act.f_forward(&x).unwrap();
    let values = Vec::<f64>::try_from(y.to_kind(Kind::Double)).unwrap();
    let grads = grad.then(|| {
        if !y.requires_grad() {
            // A constant activation in autograd mode: no graph, zero gradient.
            return vec![0.0; xs.len()];
        }
        y.sum(Kind::Float).backward();
        Vec::<f64>::try_from(x.grad().to_kind(Kind::Double)).unwrap()
    });
    (values, grads)
}

fn same(t: f64, r: f64, m: f64) -> bool {
    if r.is_nan() || t.is_nan() {
        r.is_nan() && t.is_nan()
    } else if r.is_infinite() || t.is_infinite() {
        r == t
    } else {
        (t - r).abs() <= 1e-4 * r.abs() + 1e-5 * m.max(1e-2)
    }
}

/// Points where the tensor value differs from the rounded mirror of `r`.
///
/// Where they differ, the value is still accepted if it lies within the envelope of
/// the mirror at `x` and its neighbouring f32s (one rounding may move a kink or a tie
/// by an ulp of `x`) with its intermediates perturbed by 8 ulps (torch's f32 kernels
/// are within a few ulps, which ill-conditioned expressions such as `cos(e^x)` for
/// large `x` amplify), or, for an infinite or NaN value, if one of those is too.
fn mismatches(p: &Program, r: Ref, xs: &[f64], got: &[f64]) -> Vec<String> {
    const WOBBLE: f64 = 4.76837158203125e-7; // 2^-21
    xs.iter()
        .zip(got)
        .filter_map(|(&x, &t)| {
            let (v, m) = mirror(p, &[r], x, true)[0];
            if same(t, r32(v), m) {
                return None;
            }
            let mut candidates = Vec::new();
            for x in [x, next_f32(x, 1.0), next_f32(x, -1.0)] {
                for w in [0.0, WOBBLE, -WOBBLE] {
                    candidates.push(mirror_perturbed(p, &[r], x, true, w)[0].0);
                }
            }
            // Near f32's limit, torch's kernels (cosh = e^|x| / 2, ...) overflow a
            // little earlier or later than the correctly rounded value.
            let near_overflow =
                |a: f64, b: f64| a.signum() == b.signum() && a.abs().min(b.abs()) >= 1e38;
            let ok = if t.is_finite() {
                let finite: Vec<f64> = candidates
                    .iter()
                    .copied()
                    .filter(|c| c.is_finite())
                    .collect();
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let tol = 1e-4 * t.abs() + 1e-5 * m.max(1e-2);
                (!finite.is_empty() && t >= lo - tol && t <= hi + tol)
                    || candidates
                        .iter()
                        .any(|&c| c.is_infinite() && near_overflow(c, t))
            } else {
                candidates
                    .iter()
                    .any(|&c| c == t || (c.is_nan() && t.is_nan()) || near_overflow(c, t))
            };
            (!ok).then(|| format!("x = {x:e}: tensor {t:e}, mirror {:e}", r32(v)))
        })
        .collect()
}

fn bits_equal(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Pins `e` on the grid: the compiled program is `Expr::eval` exactly (in f64), the
/// tensor values match the program op by op (f32), in both modes, with and without
/// gradient; in symbolic mode the gradient is `Expr::derivative` wherever that is a
/// number, and matches the program's derivative op by op.
fn check(e: &Expr, xs: &[f64]) {
    // `dsinc` is itself a derivative; its derivative (a second derivative of sinc)
    // is not used in training, and its f64 form is unreliable near 0.
    let mut second = false;
    e.visit(&mut |n| second |= matches!(n, Expr::Unary(UnaryOp::DSinc, _)));
    let d = e
        .derivative()
        .expect("test functions are within the limits");
    for mode in [
        ActivationMode::SymbolicGrad,
        ActivationMode::Fused,
        ActivationMode::Autograd,
    ] {
        let act = Activation::new(e, mode);
        if act.is_relu() {
            continue;
        }
        let (p, f, df) = parts(&act);
        for &x in xs {
            let (v, _) = mirror(p, &[f], x, false)[0];
            assert!(
                bits_equal(v, e.eval(x)),
                "{e}: program {v} != eval {} at {x}",
                e.eval(x)
            );
            if let (Some(df), false) = (df, second) {
                let (dv, _) = mirror(p, &[df], x, false)[0];
                let want = d.eval(x);
                assert!(
                    want.is_nan() || bits_equal(dv, want),
                    "{e}: d/dx {dv} != {want} at {x}"
                );
            }
        }
        for grad in [false, true] {
            if grad && second && df.is_some() {
                continue;
            }
            let (got, grads) = run_tensor(&act, xs, grad);
            let mut bad = mismatches(p, f, xs, &got);
            if let (Some(df), true) = (df, grad) {
                bad.extend(mismatches(p, df, xs, grads.as_ref().unwrap()));
            }
            assert!(
                bad.is_empty(),
                "{e} ({mode}, grad {grad}): {} mismatches, e.g. {:?}",
                bad.len(),
                &bad[..bad.len().min(5)]
            );
        }
    }
}

#[test]
fn every_unary_op_agrees_with_ops_on_a_dense_grid() {
    let xs = grid();
    for op in UnaryOp::every() {
        check(&Expr::unary(op, Expr::X), &xs);
        // And on an intermediate (overwritten in place in no-grad runs).
        check(&Expr::unary(op, Expr::unary(UnaryOp::Neg, Expr::X)), &xs);
    }
}

#[test]
fn every_binary_op_agrees_with_ops_on_a_dense_grid() {
    let xs = grid();
    let operands = [
        Expr::X,
        Expr::unary(UnaryOp::Sin, Expr::X),
        Expr::unary(UnaryOp::Neg, Expr::X),
        Expr::constant(0.0),
        Expr::constant(-0.5),
        Expr::constant(f64::NAN),
        Expr::unary(UnaryOp::Cos, Expr::constant(1.0)),
    ];
    for op in BinaryOp::ALL {
        for a in &operands {
            for b in &operands {
                check(&Expr::binary(op, a.clone(), b.clone()), &xs);
            }
        }
    }
}

#[test]
fn random_s2_members_and_paper_functions_agree_on_a_dense_grid() {
    let xs = grid();
    let space = SearchSpace::paper(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut exprs: Vec<Expr> = (0..40).map(|_| space.sample(&mut rng)).collect();
    exprs.extend(
        PAPER_FUNCTIONS
            .iter()
            .map(|(_, t)| t.parse::<Expr>().unwrap()),
    );
    for e in &exprs {
        check(e, &xs);
    }
}

#[test]
fn special_values_match_the_op_definitions() {
    let act = |s: &str| Activation::new(&s.parse().unwrap(), ActivationMode::SymbolicGrad);
    let at = |a: &Activation, x: f32| {
        a.f_value(&Tensor::from_slice(&[x]))
            .unwrap()
            .double_value(&[0])
    };
    assert_eq!(at(&act("sinc(x)"), 0.0), 1.0);
    assert!((at(&act("sinc(x)"), 1.0) - 1f64.sin()).abs() < 1e-6);
    assert!(at(&act("sqrt(x)"), -1.0).is_nan());
    assert_eq!(at(&act("logabs(x)"), -(EPS as f32)), f64::NEG_INFINITY);
    assert!(at(&act("x / x"), 0.0).abs() < 1e-12);
    assert!((at(&act("1 / x"), 0.0) - 1.0 / EPS).abs() < 1e-2);
    assert_eq!(at(&act("softplus(x)"), 1000.0), 1000.0);
    assert_eq!(at(&act("softplus(x)"), -1000.0), 0.0);
    assert!(at(&act("max(x, sqrt(x))"), -1.0).is_nan());
    assert!(at(&act("min(sqrt(x), x)"), -1.0).is_nan());
    assert_eq!(at(&act("zero(sqrt(x))"), -1.0), 0.0);
    assert_eq!(at(&act("one(x)"), 5.0), 1.0);
    assert!(at(&act("sign(sqrt(x))"), -1.0).is_nan());
    assert!(at(&act("step(sqrt(x))"), -1.0).is_nan());
    assert_eq!(at(&act("dsinc(x)"), 0.0), 0.0);
}

/// Autograd agrees with the symbolic derivative wherever the function is smooth.
#[test]
fn autograd_and_symbolic_gradients_agree() {
    let xs: Vec<f64> = (0..=4000)
        .map(|i| r32(-10.0 + i as f64 * 5e-3 + 1.3e-4))
        .collect();
    let space = SearchSpace::paper(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut exprs: Vec<Expr> = (0..30).map(|_| space.sample(&mut rng)).collect();
    exprs.extend(
        PAPER_FUNCTIONS
            .iter()
            .map(|(_, t)| t.parse::<Expr>().unwrap()),
    );
    for e in &exprs {
        let sym = Activation::new(e, ActivationMode::SymbolicGrad);
        let auto = Activation::new(e, ActivationMode::Autograd);
        let (v_sym, g_sym) = run_tensor(&sym, &xs, true);
        let (v_auto, g_auto) = run_tensor(&auto, &xs, true);
        let (g_sym, g_auto) = (g_sym.unwrap(), g_auto.unwrap());
        let disagree = (0..xs.len())
            .filter(|&i| {
                let (s, a) = (g_sym[i], g_auto[i]);
                v_sym[i].is_finite()
                    && v_auto[i].is_finite()
                    && s.is_finite()
                    && a.is_finite()
                    && (s - a).abs() > 1e-3 * (1.0 + s.abs())
            })
            .count();
        assert!(disagree <= 4, "{e}: gradients differ at {disagree} points");
    }
}

#[test]
fn derivative_zeros_are_strong_where_a_branch_is_inactive() {
    // sqrt(relu(x)): autograd's relu backward masks sqrt's infinite slope at 0.
    let e: Expr = "sqrt(relu(x))".parse().unwrap();
    let xs = [-2.0, -0.5, 0.0, 0.25, 4.0];
    for mode in [ActivationMode::SymbolicGrad, ActivationMode::Autograd] {
        let (v, g) = run_tensor(&Activation::new(&e, mode), &xs, true);
        assert_eq!(v, [0.0, 0.0, 0.0, 0.5, 2.0], "{mode}");
        let g = g.unwrap();
        assert_eq!(g[..2], [0.0, 0.0], "{mode}");
        assert_eq!(g[3], 1.0, "{mode}");
        assert_eq!(g[4], 0.25, "{mode}");
    }
}

#[test]
fn symbolic_gradient_keeps_the_exact_value() {
    let e: Expr = "atan(x) * min(x, 0) + sinc(x)".parse().unwrap();
    let xs: Vec<f64> = (0..1000).map(|i| r32(-5.0 + i as f64 * 1e-2)).collect();
    let act = Activation::new(&e, ActivationMode::SymbolicGrad);
    assert_eq!(
        run_tensor(&act, &xs, false).0,
        run_tensor(&act, &xs, true).0
    );
}

#[test]
fn relu_takes_the_fast_path() {
    for s in ["relu(x)", "max(x, 0)", "max(0, x)"] {
        let act = Activation::new(&s.parse().unwrap(), ActivationMode::SymbolicGrad);
        assert!(act.is_relu(), "{s}");
    }
    let act = Activation::new(&"max(x, 1)".parse().unwrap(), ActivationMode::SymbolicGrad);
    assert!(!act.is_relu());
    // In place on a consumed input, gradient 0 or 1.
    let x = Tensor::from_slice(&[-1.0f32, 0.0, 2.0]).set_requires_grad(true);
    let y = Activation::relu().f_forward_consume(&x * 1.0).unwrap();
    y.sum(Kind::Float).backward();
    assert_eq!(Vec::<f32>::try_from(&y).unwrap(), [0.0, 0.0, 2.0]);
    assert_eq!(Vec::<f32>::try_from(x.grad()).unwrap(), [0.0, 0.0, 1.0]);
}

#[test]
fn consume_and_dropout_paths_match_the_plain_forward() {
    let e: Expr = "tanh(x) * min(x, 0) + x".parse().unwrap();
    let act = Activation::new(&e, ActivationMode::SymbolicGrad);
    let x = Tensor::randn([4, 8, 5, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let plain = act.f_forward(&x).unwrap();
    let consumed = act.f_forward_consume(&x * 1.0).unwrap();
    assert_eq!(plain, consumed);
    // Dropout folded into f and f': outputs are f / (1 - p) or 0, and the gradient
    // follows the same mask.
    tch::manual_seed(3);
    let y = act.f_forward_consume_dropout(&x * 1.0, 0.5, true).unwrap();
    let kept = y.ne(0.0);
    let expected = plain.detach() * 2.0;
    assert!(y
        .masked_select(&kept)
        .allclose(&expected.masked_select(&kept), 1e-6, 1e-6, false));
    let frac = kept
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((0.3..0.7).contains(&frac), "{frac}");
    y.sum(Kind::Float).backward();
    let dropped = x.grad().masked_select(&kept.logical_not());
    assert_eq!(dropped.abs().max().double_value(&[]), 0.0);
    // Eval mode: no dropout.
    assert_eq!(act.f_forward_dropout(&x, 0.5, false).unwrap(), plain);
}

#[test]
fn chunked_runs_equal_whole_tensor_runs() {
    // Over 2 * CHUNK elements (and not a multiple of CHUNK): run in slices.
    let e: Expr = "atan(x) * min(x, 0) + sinc(x) / (x^2 + 1)".parse().unwrap();
    let act = Activation::new(&e, ActivationMode::SymbolicGrad);
    let (p, f, df) = parts(&act);
    let x = Tensor::randn([2, CHUNK / 64 + 3, 8, 8], (Kind::Float, Device::Cpu)) * 3.0;
    let _guard = tch::no_grad_guard();
    let whole = p.run(&x, &[f, df.unwrap()], true).unwrap();
    let chunked = p.run_chunked(&x, &[f, df.unwrap()]).unwrap();
    for (a, b) in whole.iter().zip(&chunked) {
        assert_eq!(a.size(), x.size());
        assert!(a.equal(b));
    }
    assert!(act.f_value(&x).unwrap().equal(&whole[0]));
}

#[test]
fn shared_subexpressions_are_computed_once() {
    // exp(x) and its derivative exp(x) are one node.
    let act = Activation::new(&"exp(x)".parse().unwrap(), ActivationMode::SymbolicGrad);
    assert_eq!(act.op_count(), 1);
    let act = Activation::new(
        &"sin(x) * sin(x)".parse().unwrap(),
        ActivationMode::Autograd,
    );
    assert_eq!(act.op_count(), 2);
}

#[test]
fn modes_parse_and_print() {
    for m in [
        ActivationMode::Autograd,
        ActivationMode::SymbolicGrad,
        ActivationMode::Fused,
    ] {
        assert_eq!(m.to_string().parse::<ActivationMode>().unwrap(), m);
    }
    assert!("fast".parse::<ActivationMode>().is_err());
}

/// Points of a realistic activation input (batch-norm outputs, about N(0, 2^2)) and the
/// edge values: ±0, tiny, the protected ops' pole and its neighbours, large.
fn realistic_and_edge_points() -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let normal = rand_distr_normal(&mut rng, 20_000);
    let mut xs: Vec<f64> = normal.into_iter().map(|v| r32(2.0 * v)).collect();
    let eps = EPS as f32 as f64;
    for base in [0.0, eps, -eps, 1.0, -1.0] {
        xs.extend([base, next_f32(base, 1.0), next_f32(base, -1.0)]);
    }
    xs.extend([
        -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 20.0, -20.0, 50.0, -50.0, 100.0, -100.0, 1e4, -1e4,
    ]);
    xs
}

/// `n` standard normal draws (Box-Muller), so that no distribution crate is needed.
fn rand_distr_normal(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<f64> {
    use rand::Rng;
    (0..n)
        .map(|_| {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            let v: f64 = rng.gen();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect()
}

/// The fused kernel against the op-by-op path, values and gradients: equal within
/// `1e-5 * max(1, |op-by-op|)` (1e-5 absolute up to magnitude 1, relative above), NaN
/// where it is NaN and the same infinity, at every point where the function is not
/// ill-conditioned. A point is ill-conditioned where a relative error of 2^-21 in the
/// intermediates (a few f32 ulps, what any two f32 implementations of `exp`, `sin`, ...
/// may differ by) moves the exact result by more than the tolerance: `cos(e^x)` at
/// `x = 10`, say. Those points are counted, and must be few.
#[test]
fn fused_equals_op_by_op_on_random_s2_and_paper_functions() {
    const WOBBLE: f64 = 4.76837158203125e-7; // 2^-21
    let xs = realistic_and_edge_points();
    let space = SearchSpace::paper(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2020);
    let mut exprs: Vec<Expr> = (0..40).map(|_| space.sample(&mut rng)).collect();
    exprs.extend(
        PAPER_FUNCTIONS
            .iter()
            .map(|(_, t)| t.parse::<Expr>().unwrap()),
    );
    let tol = |b: f64| 1e-5 * b.abs().max(1.0);
    let (mut compared, mut skipped) = (0usize, 0usize);
    for e in &exprs {
        let op = Activation::new(e, ActivationMode::SymbolicGrad);
        let fused = Activation::new(e, ActivationMode::Fused);
        if op.is_relu() {
            continue;
        }
        let (v_op, g_op) = run_tensor(&op, &xs, true);
        let (v_fu, g_fu) = run_tensor(&fused, &xs, true);
        let (p, f, df) = parts(&fused);
        let outputs = [(f, v_op, v_fu), (df.unwrap(), g_op.unwrap(), g_fu.unwrap())];
        for (r, want, got) in &outputs {
            for (i, &x) in xs.iter().enumerate() {
                let (a, b) = (got[i], want[i]);
                if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
                    // Near f32's overflow one approximation may overflow a little sooner.
                    let near = a.signum() == b.signum() && a.abs().min(b.abs()) >= 1e38;
                    let nan_near_overflow = (a.is_nan() || b.is_nan())
                        && [x, next_f32(x, 1.0), next_f32(x, -1.0)]
                            .iter()
                            .any(|&x| !mirror(p, &[*r], x, true)[0].0.is_finite());
                    assert!(
                        bits_equal(a, b) || a == b || near || nan_near_overflow,
                        "{e}: fused {a:e}, op by op {b:e} at x = {x:e}"
                    );
                    continue;
                }
                if (a - b).abs() <= tol(b) {
                    compared += 1;
                    continue;
                }
                let exact = mirror(p, &[*r], x, true)[0].0;
                let spread = [WOBBLE, -WOBBLE]
                    .iter()
                    .map(|&w| (mirror_perturbed(p, &[*r], x, true, w)[0].0 - exact).abs())
                    .fold(0.0, f64::max);
                assert!(
                    spread.is_nan() || spread > tol(b),
                    "{e}: fused {a:e}, op by op {b:e} at x = {x:e} (well-conditioned)"
                );
                skipped += 1;
            }
        }
    }
    assert!(
        skipped * 1000 < compared,
        "{skipped} ill-conditioned points of {compared}"
    );
}

/// Chunk and thread boundaries never change a fused result.
#[test]
fn fused_output_is_independent_of_the_thread_count() {
    let e: Expr = "erf(atan(x) * sinh(x)) / softplus(x) + sinc(x)"
        .parse()
        .unwrap();
    let act = Activation::new(&e, ActivationMode::Fused);
    // Not a multiple of the chunk size, and large enough to be split across threads.
    let x = Tensor::randn([3, 7, 101, 97], (Kind::Float, Device::Cpu)) * 3.0;
    let before = tch::get_num_threads();
    let runs: Vec<Tensor> = [1, 2, 3]
        .iter()
        .map(|&t| {
            tch::set_num_threads(t);
            act.f_value(&x).unwrap()
        })
        .collect();
    tch::set_num_threads(before);
    assert!(runs[0].equal(&runs[1]) && runs[0].equal(&runs[2]));
    // And the value is the op-by-op one.
    let op = Activation::new(&e, ActivationMode::SymbolicGrad)
        .f_value(&x)
        .unwrap();
    assert!(runs[0].allclose(&op, 1e-5, 1e-5, true));
}

/// Realistic and edge inputs for the bit-for-bit checks of the fused kernel: NaN,
/// infinities, subnormals and a lane above the trigonometric reduction limit included.
fn bit_check_points() -> Vec<f32> {
    let mut xs: Vec<f32> = realistic_and_edge_points()
        .iter()
        .map(|&v| v as f32)
        .collect();
    xs.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 4.0,
        -1e-40,
        9000.0,
    ]);
    xs
}

/// Every op as a function, then `count` random S2 functions drawn with `seed`.
fn ops_and_random_s2(count: usize, seed: u64) -> Vec<Expr> {
    let mut exprs: Vec<Expr> = UnaryOp::every()
        .map(|op| Expr::unary(op, Expr::X))
        .collect();
    let space = SearchSpace::paper(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    exprs.extend((0..count).map(|_| space.sample(&mut rng)));
    exprs
}

/// Asserts that two fused runs (outputs as bits) agree, NaN's sign and payload aside.
fn assert_same_bits(what: &str, xs: &[f32], want: &[Vec<u32>], got: &[Vec<u32>]) {
    for (k, (want, got)) in want.iter().zip(got).enumerate() {
        for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
            let both_nan = f32::from_bits(w).is_nan() && f32::from_bits(g).is_nan();
            assert!(
                w == g || both_nan,
                "{what}: output {k} at x = {:e}: {:e} ({g:#x}) against {:e} ({w:#x})",
                xs[i],
                f32::from_bits(g),
                f32::from_bits(w)
            );
        }
    }
}

/// Every instruction set the fused loop is compiled for gives the same bits (NaN's sign
/// and payload aside), values and derivatives, for every op and for random S2 functions, on realistic and edge inputs.
#[test]
fn fused_instruction_sets_give_identical_bits() {
    let xs = bit_check_points();
    let mut exprs = ops_and_random_s2(60, 13);
    exprs.extend(
        PAPER_FUNCTIONS
            .iter()
            .map(|(_, t)| t.parse::<Expr>().unwrap()),
    );
    let isas: Vec<fused::Isa> = fused::Isa::ALL
        .into_iter()
        .filter(|isa| isa.is_available())
        .collect();
    let mut checked = 0;
    for e in &exprs {
        let act = Activation::new(e, ActivationMode::Fused);
        let Plan::Program {
            fused: Some(pair), ..
        } = &act.plan
        else {
            continue;
        };
        let kernel = pair.both.as_ref().unwrap_or(&pair.value);
        let runs: Vec<Vec<Vec<u32>>> = isas
            .iter()
            .map(|&isa| kernel.run_on_slice(isa, &xs))
            .collect();
        for (isa, run) in isas.iter().zip(&runs).skip(1) {
            let what = format!("{e}: {isa:?} against {:?}", isas[0]);
            assert_same_bits(&what, &xs, &runs[0], run);
        }
        checked += 1;
    }
    assert!(checked > 60, "only {checked} functions had a fused kernel");
}

/// Ops computed as a pair (`sin` with `cos`, `erf` with its Gaussian, ...) give the same
/// bits as each op on its own, for every op's derivative and random S2 functions.
#[test]
fn fused_pairs_give_the_bits_of_separate_ops() {
    let xs = bit_check_points();
    let exprs = ops_and_random_s2(80, 17);
    let isa = fused::Isa::detected();
    let mut pairs = 0;
    for e in &exprs {
        let act = Activation::new(e, ActivationMode::Fused);
        if act.is_relu() {
            continue;
        }
        let (program, f, df) = parts(&act);
        let outputs: Vec<Ref> = std::iter::once(f).chain(df).collect();
        let paired = Fused::new(program, &outputs);
        let apart = Fused::unpaired(program, &outputs);
        pairs += paired.pairs();
        let what = format!("{e}: paired against apart");
        let (want, got) = (apart.run_on_slice(isa, &xs), paired.run_on_slice(isa, &xs));
        assert_same_bits(&what, &xs, &want, &got);
    }
    // sin, cos, sinh, cosh, erf, sinc and softplus each pair with their derivative.
    assert!(pairs >= 7, "only {pairs} pairs formed");
}

/// The distance from `got` to `want` in units of the last place of `want` as an f32,
/// with the unit floored at that of the smallest normal f32 (subnormal results count
/// absolutely); infinite where one overflows f32 and the other not.
fn ulps(got: f64, want: f64) -> f64 {
    let unit = |v: f64| {
        let v = (v.abs() as f32).max(f32::MIN_POSITIVE);
        f64::from(f32::from_bits(v.to_bits() + 1) - v)
    };
    let rounded = f64::from(want as f32);
    if got == rounded || (got.is_nan() && want.is_nan()) {
        0.0
    } else if rounded.is_infinite() || got.is_infinite() {
        f64::INFINITY
    } else {
        (got - want).abs() / unit(want)
    }
}

/// The fused elementary functions against actfn-expr's f64 ones (libm), in f32 ulps of
/// the exact result at each f32 input: the bounds state how accurate each is, so that
/// an approximation that is only absolutely accurate (erf near 0) cannot slip in.
#[test]
fn fused_elementary_functions_are_within_a_few_ulps() {
    // Every thousandth in [-12, 12], magnitudes 2^-30 .. 2^7 and their negatives, and
    // the edge of overflow (sinh and cosh are finite up to 89.4, e^x up to 88.7).
    let mut xs: Vec<f32> = (-12_000..=12_000).map(|k| k as f32 / 1000.0).collect();
    for e in -30..7 {
        for m in 0..64 {
            let v = (1.0 + m as f32 / 64.0) * (e as f32).exp2();
            xs.extend([v, -v]);
        }
    }
    xs.extend((0..=200).flat_map(|k| [87.5 + k as f32 / 100.0, -87.5 - k as f32 / 100.0]));
    let x = Tensor::from_slice(&xs);
    let mut failures = Vec::new();
    for (op, bound) in [
        (UnaryOp::Exp, 2.0),
        (UnaryOp::Gaussian, 3.0),
        (UnaryOp::Erf, 3.0),
        (UnaryOp::Sigmoid, 3.0),
        (UnaryOp::Softplus, 3.0),
        (UnaryOp::Tanh, 3.0),
        (UnaryOp::Atan, 3.0),
        (UnaryOp::Asinh, 3.0),
        (UnaryOp::Sinh, 3.0),
        (UnaryOp::Cosh, 3.0),
    ] {
        let act = Activation::new(&Expr::unary(op, Expr::X), ActivationMode::Fused);
        let got = Vec::<f32>::try_from(&act.f_value(&x).unwrap()).unwrap();
        // The Gaussian's square is rounded to f32 in every backend (64 ulps of `e^-86`
        // at x = 9.27): what is measured is the rest.
        let exact = |x: f32| match op {
            UnaryOp::Gaussian => (-f64::from(x * x)).exp(),
            _ => op.eval(f64::from(x)),
        };
        let (worst, at) = xs
            .iter()
            .zip(&got)
            .map(|(&x, &y)| (ulps(f64::from(y), exact(x)), x))
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        if worst > bound {
            failures.push(format!(
                "{op:?}: {worst:.2} ulps at x = {at:e} (bound {bound})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
