//! Hot paths of actfn-expr: f64 evaluation of random `S_2` functions (points/s), parsing
//! canonical text (bytes/s) and fingerprinting (functions/s).

use std::hint::black_box;

use actfn_expr::{fingerprint, Expr, SearchSpace};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn s2_sample(n: usize) -> Vec<Expr> {
    let mut rng = ChaCha8Rng::seed_from_u64(2020);
    let s2 = SearchSpace::paper(2);
    (0..n).map(|_| s2.sample(&mut rng)).collect()
}

fn eval(c: &mut Criterion) {
    let functions = s2_sample(100);
    let points: Vec<f64> = (0..1_000).map(|i| -5.0 + 0.01 * f64::from(i)).collect();
    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(
        (functions.len() * points.len()) as u64,
    ));
    group.bench_function("s2_100x1000_points", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for f in &functions {
                for &x in &points {
                    sum += f.eval(black_box(x));
                }
            }
            sum
        })
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let texts: Vec<String> = s2_sample(100).iter().map(ToString::to_string).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("s2_100_canonical", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(Expr::parse(black_box(t)).unwrap());
            }
        })
    });
    group.finish();
}

fn fingerprints(c: &mut Criterion) {
    let functions = s2_sample(100);
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(functions.len() as u64));
    group.bench_function("s2_100", |b| {
        b.iter(|| {
            functions
                .iter()
                .map(|f| fingerprint(black_box(f)).0)
                .fold(0, u64::wrapping_add)
        })
    });
    group.finish();
}

criterion_group!(benches, eval, parse, fingerprints);
criterion_main!(benches);
