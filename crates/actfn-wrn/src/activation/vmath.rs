//! Elementary functions on [`WIDTH`](super::lanes::WIDTH) f32 lanes at once, for the
//! fused kernel.
//!
//! The C library's scalar `expf`, `atanf`, ... cost 5-40 ns an element, several times
//! libtorch's vectorised kernels, which would make a fused pass slower than the op-by-op
//! one it replaces. These are the classic Cephes polynomial approximations (the ones
//! libtorch's vector kernels also descend from), accurate to a few f32 ulps, with the
//! special values spelled out: `exp` overflows to infinity and underflows to 0,
//! `ln(0) = -inf`, `ln` of a negative number is NaN, NaN stays NaN, and each function's
//! domain edges (`atanh(±1) = ±inf`) are those of IEEE arithmetic, as in
//! `actfn_expr::ops`. Polynomials are evaluated by Horner's rule in fused multiply-adds
//! (one rounding each, the same bits on every instruction set: see `lanes.rs`).

// The polynomial coefficients are written as published (Cephes, Numerical Recipes), with
// more digits than an f32 holds.
#![allow(clippy::excessive_precision)]

use super::lanes::Lanes;

/// `v` in every lane.
#[inline(always)]
pub(super) fn splat(v: f32) -> Lanes {
    Lanes::splat(v)
}

/// Lanes where `x` is NaN get NaN, the others `y`.
#[inline(always)]
fn keep_nan(x: Lanes, y: Lanes) -> Lanes {
    x.is_nan().select(x, y)
}

/// Horner's rule in fused multiply-adds, highest coefficient first.
#[inline(always)]
fn poly(x: Lanes, coeffs: &[f32]) -> Lanes {
    let mut acc = splat(coeffs[0]);
    for &c in &coeffs[1..] {
        acc = acc.mul_add(x, splat(c));
    }
    acc
}

/// `a + a z p(z)` for `z = a^2` and `p` the polynomial of `coeffs`: the odd series of
/// the small-argument branches.
#[inline(always)]
fn odd_series(a: Lanes, z: Lanes, coeffs: &[f32]) -> Lanes {
    (poly(z, coeffs) * z).mul_add(a, a)
}

/// `e^x`: infinite above `ln(f32::MAX)`, gradually 0 below `-87.3`.
#[inline(always)]
pub(super) fn exp(x: Lanes) -> Lanes {
    // NaN lanes and lanes below -104 compute e^0 (their result is NaN or 0 below):
    // clamped to -104 instead, they would produce subnormal intermediates, which cost
    // the whole vector instruction a microcode assist, and such lanes are common: a
    // diverged network is all NaN, and `e^(-u^2)` of a large `u` underflows.
    let xc = (x.is_nan() | x.lt(splat(-104.0))).select(splat(0.0), x);
    let xc = xc.min(splat(89.0));
    let r = (xc * splat(std::f32::consts::LOG2_E)).round();
    let t = xc - r * splat(0.693_359_4);
    let t = t - r * splat(-2.121_944_4e-4);
    let p = poly(
        t,
        &[
            1.0 / 5040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
        ],
    );
    let z = p.mul_add(t * t, t) + splat(1.0);
    // 2^r in two factors, each a normal number, so that results near the overflow and
    // in the subnormal range come out right.
    let half = (r * splat(0.5)).round();
    let y = z * half.pow2i() * (r - half).pow2i();
    let y = x.gt(splat(88.722_84)).select(splat(f32::INFINITY), y);
    let y = x.lt(splat(-104.0)).select(splat(0.0), y);
    keep_nan(x, y)
}

/// Natural logarithm: `-inf` at ±0, NaN below 0, `inf` at `inf`.
#[inline(always)]
pub(super) fn ln(x: Lanes) -> Lanes {
    // Subnormals are scaled into the normal range first.
    let sub = x.lt(splat(f32::MIN_POSITIVE));
    let xs = sub.select(x * splat(8_388_608.0), x);
    let e = xs.exponent() - sub.select(splat(23.0), splat(0.0));
    // Mantissa in [1, 2), then in [sqrt(1/2), sqrt(2)).
    let m = xs.mantissa();
    let big = m.gt(splat(std::f32::consts::SQRT_2));
    let m = big.select(m * splat(0.5), m);
    let e = big.select(e + splat(1.0), e);
    let t = m - splat(1.0);
    let p = poly(
        t,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_5e-1,
            -2.499_999_4e-1,
            3.333_333e-1,
        ],
    );
    let t2 = t * t;
    let y = t2 * t * p;
    let y = e * splat(-2.121_944_4e-4) + y;
    let y = y + (t - t2 * splat(0.5));
    let y = e * splat(0.693_359_4) + y;
    let y = x.eq(splat(0.0)).select(splat(f32::NEG_INFINITY), y);
    let y = x.lt(splat(0.0)).select(splat(f32::NAN), y);
    let y = x.eq(splat(f32::INFINITY)).select(x, y);
    keep_nan(x, y)
}

/// `ln(1 + u)`, accurate for small `u` (Goldberg's correction of `ln(w) / (w - 1)`).
#[inline(always)]
pub(super) fn ln_1p(u: Lanes) -> Lanes {
    let w = u + splat(1.0);
    let d = w - splat(1.0);
    let y = ln(w) * (u / d);
    let y = d.eq(splat(0.0)).select(u, y);
    let y = w.eq(splat(f32::INFINITY)).select(w, y);
    keep_nan(u, y)
}

/// `-x` by flipping the sign bit (see [`Lanes::neg`]).
#[inline(always)]
pub(super) fn neg(x: Lanes) -> Lanes {
    x.neg()
}

/// Above this magnitude the three-constant reduction modulo `pi/2` of the vector
/// `sin_cos` loses accuracy; such lanes (rare: they come from `e^x`, `x^3`, ... of large
/// inputs) take the C library's exactly reduced `sinf`/`cosf`.
const TRIG_REDUCTION_LIMIT: f32 = 8192.0;

/// `(sin x, cos x)`; NaN for infinite or NaN `x`.
///
/// Cephes' `sinf`/`cosf`: `x = q pi/2 + r` with `q` the nearest integer and `r` in
/// `[-pi/4, pi/4]`, reduced in three parts of `pi/2` whose products with `q` are exact
/// below the reduction limit, then the sine and cosine polynomials of `r`, swapped and
/// negated by `q mod 4`.
#[inline(always)]
pub(super) fn sin_cos(x: Lanes) -> (Lanes, Lanes) {
    if x.any_abs_above(TRIG_REDUCTION_LIMIT) {
        return (x.map(f32::sin), x.map(f32::cos));
    }
    let bad = !x.is_finite();
    let xf = bad.select(splat(0.0), x);
    let q = (xf * splat(std::f32::consts::FRAC_2_PI)).round();
    let r = xf - q * splat(1.570_312_5);
    let r = r - q * splat(4.837_512_969_970_703_125e-4);
    let r = r - q * splat(7.549_789_954_891_882_16e-8);
    let z = r * r;
    let sin_r = odd_series(
        r,
        z,
        &[-1.951_529_589_1e-4, 8.332_160_873_6e-3, -1.666_665_461_1e-1],
    );
    let cos_r = poly(
        z,
        &[
            2.443_315_711_809_948e-5,
            -1.388_731_625_493_765e-3,
            4.166_664_568_298_827e-2,
        ],
    ) * z
        * z
        - splat(0.5) * z
        + splat(1.0);
    // q mod 4: sin x is sin r, cos r, -sin r, -cos r; cos x is cos r, -sin r, -cos r, sin r.
    let (odd, half_turn) = (q.int_bit(0), q.int_bit(1));
    let s = odd.select(cos_r, sin_r);
    let c = odd.select(sin_r, cos_r);
    let s = half_turn.select(s.neg(), s);
    let c = (odd ^ half_turn).select(c.neg(), c);
    // sin(±0) = ±0: the polynomial's `poly * z * r + r` turns -0 into +0.
    let s = x.eq(splat(0.0)).select(x, s);
    (
        bad.select(splat(f32::NAN), s),
        bad.select(splat(f32::NAN), c),
    )
}

/// `atan(x)`: Cephes' `atanf`, the argument reduced by `tan(pi/8)` and `tan(3 pi/8)`
/// (`atan x = pi/2 + atan(-1/x)`, `pi/4 + atan((x - 1)/(x + 1))`).
#[inline(always)]
pub(super) fn atan(x: Lanes) -> Lanes {
    let a = x.abs();
    let big = a.gt(splat(2.414_213_562_373_095));
    let mid = a.gt(splat(0.414_213_562_373_095));
    let num = big.select(splat(-1.0), mid.select(a - splat(1.0), a));
    let den = big.select(a, mid.select(a + splat(1.0), splat(1.0)));
    let t = num / den;
    let offset = big.select(
        splat(std::f32::consts::FRAC_PI_2),
        mid.select(splat(std::f32::consts::FRAC_PI_4), splat(0.0)),
    );
    let z = t * t;
    let p = odd_series(
        t,
        z,
        &[
            8.053_744_495_38e-2,
            -1.387_768_560_32e-1,
            1.997_771_064_78e-1,
            -3.333_294_915_39e-1,
        ],
    );
    keep_nan(x, (offset + p).copysign(x))
}

/// `tanh(x)`: odd polynomial below 0.625, `1 - 2 / (e^2|x| + 1)` above.
#[inline(always)]
pub(super) fn tanh(x: Lanes) -> Lanes {
    let a = x.abs();
    let z = x * x;
    let small = odd_series(
        a,
        z,
        &[
            -5.704_988_7e-3,
            2.063_908_9e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328_2e-1,
        ],
    );
    let large = splat(1.0) - splat(2.0) / (exp(a + a) + splat(1.0));
    let y = a.lt(splat(0.625)).select(small, large);
    keep_nan(x, y.copysign(x))
}

/// Above this magnitude `e^|x|` overflows (from 88.72) while `sinh` and `cosh` are
/// finite up to 89.4; lanes beyond it (rare) take `(e^(|x|/2) / 2) e^(|x|/2)`.
const HYPERBOLIC_OVERFLOW: f32 = 88.0;

/// `e^|x| / 2` where `|x|` exceeds [`HYPERBOLIC_OVERFLOW`] in some lane, with a halved
/// exponent (exact) so that it stays finite wherever the result is; `None` otherwise.
#[inline(always)]
fn half_exp_near_overflow(x: Lanes) -> Option<Lanes> {
    x.any_abs_above(HYPERBOLIC_OVERFLOW).then(|| {
        let h = exp(x.abs() * splat(0.5));
        (splat(0.5) * h) * h
    })
}

/// `sinh(x)`: odd polynomial below 1, `(e^|x| - e^-|x|) / 2` above.
#[inline(always)]
pub(super) fn sinh(x: Lanes) -> Lanes {
    sinh_of(x, exp(x.abs()))
}

/// [`sinh`] with `e = e^|x|` given (shared with [`cosh_of`]).
#[inline(always)]
pub(super) fn sinh_of(x: Lanes, e: Lanes) -> Lanes {
    let a = x.abs();
    let z = x * x;
    let small = odd_series(a, z, &[2.037_219_1e-4, 8.330_283_8e-3, 1.666_671_6e-1]);
    let large = splat(0.5) * e - splat(0.5) / e;
    let large = match half_exp_near_overflow(x) {
        Some(h) => a.gt(splat(HYPERBOLIC_OVERFLOW)).select(h, large),
        None => large,
    };
    let y = a.lt(splat(1.0)).select(small, large);
    keep_nan(x, y.copysign(x))
}

/// `cosh(x) = (e^|x| + e^-|x|) / 2`.
#[inline(always)]
pub(super) fn cosh(x: Lanes) -> Lanes {
    cosh_of(x, exp(x.abs()))
}

/// [`cosh`] from `e = e^|x|`.
#[inline(always)]
pub(super) fn cosh_of(x: Lanes, e: Lanes) -> Lanes {
    let y = splat(0.5) * e + splat(0.5) / e;
    match half_exp_near_overflow(x) {
        Some(h) => x.abs().gt(splat(HYPERBOLIC_OVERFLOW)).select(h, y),
        None => y,
    }
}

/// `e^(-x^2)`, the Gaussian.
#[inline(always)]
pub(super) fn gaussian(x: Lanes) -> Lanes {
    exp(neg(x * x))
}

/// `asinh(x)`: odd polynomial below 0.5, `ln(|x| + sqrt(x^2 + 1))` up to 1500,
/// `ln|x| + ln 2` above (where `x^2` could overflow).
#[inline(always)]
pub(super) fn asinh(x: Lanes) -> Lanes {
    let a = x.abs();
    let z = x * x;
    let small = odd_series(
        a,
        z,
        &[
            2.012_200_3e-2,
            -4.269_934e-2,
            7.484_758_6e-2,
            -1.666_628_8e-1,
        ],
    );
    // One logarithm for both large branches: `ln(a) + ln 2` above 1500, `ln(..) + 0`
    // (the same bits: the logarithm of a number >= 1 is not -0) below.
    let huge = a.gt(splat(1500.0));
    let large = ln(huge.select(a, a + (z + splat(1.0)).sqrt()))
        + huge.select(splat(std::f32::consts::LN_2), splat(0.0));
    let y = a.lt(splat(0.5)).select(small, large);
    keep_nan(x, y.copysign(x))
}

/// `atanh(x)`: odd polynomial below 0.5, `ln((1 + |x|) / (1 - |x|)) / 2` above; infinite
/// at ±1, NaN beyond.
#[inline(always)]
pub(super) fn atanh(x: Lanes) -> Lanes {
    let a = x.abs();
    let z = x * x;
    let small = odd_series(
        a,
        z,
        &[
            1.817_400_8e-1,
            8.243_703e-2,
            1.466_914_3e-1,
            1.997_821_6e-1,
            3.333_373e-1,
        ],
    );
    let large = splat(0.5) * ln((splat(1.0) + a) / (splat(1.0) - a));
    let y = a.lt(splat(0.5)).select(small, large);
    keep_nan(x, y.copysign(x))
}

/// `erf(x)`: odd polynomial below 1 (Cephes), `1 - erfc(|x|)` above, with
/// `erfc(a) = erfcx(a) e^(-a^2)`: the Gaussian factor is the one erf's derivative needs,
/// so that a pair shares it, and the scaled `erfcx` is smooth enough for a polynomial.
#[inline(always)]
pub(super) fn erf(x: Lanes) -> Lanes {
    erf_of(x, gaussian(x))
}

/// [`erf`] with `g = e^(-x^2)` given (shared with the Gaussian, erf's derivative).
#[inline(always)]
pub(super) fn erf_of(x: Lanes, g: Lanes) -> Lanes {
    let a = x.abs();
    let z = x * x;
    let small = a * poly(
        z,
        &[
            7.853_861_4e-5,
            -8.010_193_6e-4,
            5.188_327_7e-3,
            -2.685_381_2e-2,
            1.128_358_5e-1,
            -3.761_262_6e-1,
            std::f32::consts::FRAC_2_SQRT_PI,
        ],
    );
    // `erfcx(a) = e^(a^2) erfc(a)` on [1, 4] as a degree-8 polynomial of
    // `s = (a - 2.5) / 1.5` in [-1, 1]: weighted minimax (Lawson's iteration) of the error
    // in `erfc`, 2.4e-9 at most, a twentieth of erf's ulp there; erf's error is at most
    // 1.02 ulp (against f64 erf, f32 arithmetic, 400,000 points in [1, 4.5]). Above 4,
    // `erfc < 1.6e-8` rounds away next to 1: the clamp only keeps the polynomial finite.
    let s = (a.min(splat(4.0)) - splat(2.5)) * splat(1.0 / 1.5);
    let erfcx = poly(
        s,
        &[
            2.738_058_6e-3,
            3.844_637_2e-3,
            6.187_744_4e-3,
            -5.020_898_8e-3,
            1.165_644_7e-2,
            -2.744_622_9e-2,
            5.605_794_5e-2,
            -1.115_132_8e-1,
            2.108_076e-1,
        ],
    );
    let large = splat(1.0) - erfcx * g;
    let y = a.lt(splat(1.0)).select(small, large);
    keep_nan(x, y.copysign(x))
}

/// The sigmoid `1 / (1 + e^-x)`, computed as `e^x / (1 + e^x)` (1 above 20, where
/// `e^-x` is below half an ulp of 1) so that it shares `e^x` with [`softplus`], whose
/// derivative it is; within 3 ulps of the exact sigmoid (tested).
#[inline(always)]
pub(super) fn sigmoid(x: Lanes) -> Lanes {
    sigmoid_of(x, exp(x))
}

/// [`sigmoid`] with `e = e^x` given (shared with [`softplus_of`]).
#[inline(always)]
pub(super) fn sigmoid_of(x: Lanes, e: Lanes) -> Lanes {
    // NaN stays NaN: `x > 20` is false there and `e` is NaN.
    x.gt(splat(20.0)).select(splat(1.0), e / (splat(1.0) + e))
}

/// torch's `softplus` (beta 1, threshold 20): `x` above 20, else `log1p(e^x)`.
#[inline(always)]
pub(super) fn softplus(x: Lanes) -> Lanes {
    softplus_of(x, exp(x))
}

/// [`softplus`] with `e = e^x` given (shared with [`sigmoid_of`]).
#[inline(always)]
pub(super) fn softplus_of(x: Lanes, e: Lanes) -> Lanes {
    x.gt(splat(20.0)).select(x, ln_1p(e))
}
