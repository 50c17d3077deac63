//! Elementary functions on eight f32 lanes at once, for the fused kernel.
//!
//! The C library's scalar `expf`, `atanf`, ... cost 5-40 ns an element, several times
//! libtorch's vectorised kernels, which would make a fused pass slower than the op-by-op
//! one it replaces. These are the classic Cephes/VCL polynomial approximations (the ones
//! libtorch's and `wide`'s vector kernels also descend from), accurate to a few f32 ulps,
//! with the special values spelled out: `exp` overflows to infinity and underflows to 0,
//! `ln(0) = -inf`, `ln` of a negative number is NaN, NaN stays NaN, and each function's
//! domain edges (`atanh(±1) = ±inf`) are those of IEEE arithmetic, as in
//! `actfn_expr::ops`.

// The polynomial coefficients are written as published (Cephes, Numerical Recipes), with
// more digits than an f32 holds.
#![allow(clippy::excessive_precision)]

use bytemuck::cast;
use wide::{f32x8, i32x8, CmpEq, CmpGt, CmpLt};

/// `v` in every lane.
#[inline(always)]
pub(super) fn splat(v: f32) -> f32x8 {
    f32x8::splat(v)
}

/// Lanes where `x` is NaN get NaN, the others `y`.
#[inline(always)]
fn keep_nan(x: f32x8, y: f32x8) -> f32x8 {
    x.is_nan().blend(x, y)
}

/// `2^n` for integral `n` in `[-126, 127]`.
#[inline(always)]
fn pow2i(n: f32x8) -> f32x8 {
    let bits: i32x8 = (n.round_int() + i32x8::splat(127)) << 23;
    cast(bits)
}

/// Horner's rule, highest coefficient first.
#[inline(always)]
fn poly(x: f32x8, coeffs: &[f32]) -> f32x8 {
    let mut acc = splat(coeffs[0]);
    for &c in &coeffs[1..] {
        acc = acc.mul_add(x, splat(c));
    }
    acc
}

/// `e^x`: infinite above `ln(f32::MAX)`, gradually 0 below `-87.3`.
#[inline(always)]
pub(super) fn exp(x: f32x8) -> f32x8 {
    // NaN lanes compute e^0 (their result is NaN again below): clamped to -104 instead,
    // they would take the slow subnormal path, and a diverged network is all NaN.
    let xc = x.is_nan().blend(splat(0.0), x);
    let xc = xc.max(splat(-104.0)).min(splat(89.0));
    let r = (xc * splat(std::f32::consts::LOG2_E)).round();
    let t = r.mul_neg_add(splat(0.693_359_4), xc);
    let t = r.mul_neg_add(splat(-2.121_944_4e-4), t);
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
    let y = z * pow2i(half) * pow2i(r - half);
    let y = x.cmp_gt(splat(88.722_84)).blend(splat(f32::INFINITY), y);
    let y = x.cmp_lt(splat(-104.0)).blend(splat(0.0), y);
    keep_nan(x, y)
}

/// Natural logarithm: `-inf` at ±0, NaN below 0, `inf` at `inf`.
#[inline(always)]
pub(super) fn ln(x: f32x8) -> f32x8 {
    // Subnormals are scaled into the normal range first.
    let sub = x.cmp_lt(splat(f32::MIN_POSITIVE));
    let xs = sub.blend(x * splat(8_388_608.0), x);
    let bits: i32x8 = cast(xs);
    let e = f32x8::from_i32x8(((bits >> 23) & i32x8::splat(0xff)) - i32x8::splat(127));
    let e = e - sub.blend(splat(23.0), splat(0.0));
    // Mantissa in [1, 2), then in [sqrt(1/2), sqrt(2)).
    let m: f32x8 = cast((bits & i32x8::splat(0x007f_ffff)) | i32x8::splat(0x3f80_0000));
    let big = m.cmp_gt(splat(std::f32::consts::SQRT_2));
    let m = big.blend(m * splat(0.5), m);
    let e = big.blend(e + splat(1.0), e);
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
    let y = e.mul_add(splat(-2.121_944_4e-4), y);
    let y = y + t2.mul_neg_add(splat(0.5), t);
    let y = e.mul_add(splat(0.693_359_4), y);
    let y = x.cmp_eq(splat(0.0)).blend(splat(f32::NEG_INFINITY), y);
    let y = x.cmp_lt(splat(0.0)).blend(splat(f32::NAN), y);
    let y = x.cmp_eq(splat(f32::INFINITY)).blend(x, y);
    keep_nan(x, y)
}

/// `ln(1 + u)`, accurate for small `u` (Goldberg's correction of `ln(w) / (w - 1)`).
#[inline(always)]
pub(super) fn ln_1p(u: f32x8) -> f32x8 {
    let w = u + splat(1.0);
    let d = w - splat(1.0);
    let y = ln(w) * (u / d);
    let y = d.cmp_eq(splat(0.0)).blend(u, y);
    let y = w.cmp_eq(splat(f32::INFINITY)).blend(w, y);
    keep_nan(u, y)
}

/// `-x` by flipping the sign bit, as IEEE negation (`0 - x` would turn -0 into +0, and
/// `1 / -0` is `-inf`).
#[inline(always)]
pub(super) fn neg(x: f32x8) -> f32x8 {
    x ^ splat(-0.0)
}

/// Above this magnitude the three-constant reduction modulo `pi/2` of the vector
/// `sin_cos` loses accuracy; such lanes (rare: they come from `e^x`, `x^3`, ... of large
/// inputs) take the C library's exactly reduced `sinf`/`cosf`.
const TRIG_REDUCTION_LIMIT: f32 = 8192.0;

/// `(sin x, cos x)`; NaN for infinite or NaN `x`.
#[inline(always)]
pub(super) fn sin_cos(x: f32x8) -> (f32x8, f32x8) {
    if x.abs().cmp_gt(splat(TRIG_REDUCTION_LIMIT)).any() {
        let a = x.to_array();
        return (f32x8::from(a.map(f32::sin)), f32x8::from(a.map(f32::cos)));
    }
    let (s, c) = x.sin_cos();
    let bad = !x.is_finite();
    (bad.blend(splat(f32::NAN), s), bad.blend(splat(f32::NAN), c))
}

/// `atan(x)`.
#[inline(always)]
pub(super) fn atan(x: f32x8) -> f32x8 {
    keep_nan(x, x.atan())
}

/// `tanh(x)`: odd polynomial below 0.625, `1 - 2 / (e^2|x| + 1)` above.
#[inline(always)]
pub(super) fn tanh(x: f32x8) -> f32x8 {
    let a = x.abs();
    let z = x * x;
    let small = poly(
        z,
        &[
            -5.704_988_7e-3,
            2.063_908_9e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328_2e-1,
        ],
    ) * z
        * a
        + a;
    let large = splat(1.0) - splat(2.0) / (exp(a + a) + splat(1.0));
    let y = a.cmp_lt(splat(0.625)).blend(small, large);
    keep_nan(x, y.copysign(x))
}

/// `sinh(x)`: odd polynomial below 1, `(e^|x| - e^-|x|) / 2` above.
#[inline(always)]
pub(super) fn sinh(x: f32x8) -> f32x8 {
    let a = x.abs();
    let z = x * x;
    let small = poly(z, &[2.037_219_1e-4, 8.330_283_8e-3, 1.666_671_6e-1]) * z * a + a;
    let e = exp(a);
    let large = splat(0.5) * e - splat(0.5) / e;
    let y = a.cmp_lt(splat(1.0)).blend(small, large);
    keep_nan(x, y.copysign(x))
}

/// `cosh(x) = (e^|x| + e^-|x|) / 2`.
#[inline(always)]
pub(super) fn cosh(x: f32x8) -> f32x8 {
    let e = exp(x.abs());
    splat(0.5) * e + splat(0.5) / e
}

/// `asinh(x)`: odd polynomial below 0.5, `ln(|x| + sqrt(x^2 + 1))` up to 1500,
/// `ln|x| + ln 2` above (where `x^2` could overflow).
#[inline(always)]
pub(super) fn asinh(x: f32x8) -> f32x8 {
    let a = x.abs();
    let z = x * x;
    let small = poly(
        z,
        &[
            2.012_200_3e-2,
            -4.269_934e-2,
            7.484_758_6e-2,
            -1.666_628_8e-1,
        ],
    ) * z
        * a
        + a;
    let mid = ln(a + (z + splat(1.0)).sqrt());
    let large = ln(a) + splat(std::f32::consts::LN_2);
    let y = a
        .cmp_lt(splat(0.5))
        .blend(small, a.cmp_gt(splat(1500.0)).blend(large, mid));
    keep_nan(x, y.copysign(x))
}

/// `atanh(x)`: odd polynomial below 0.5, `ln((1 + |x|) / (1 - |x|)) / 2` above; infinite
/// at ±1, NaN beyond.
#[inline(always)]
pub(super) fn atanh(x: f32x8) -> f32x8 {
    let a = x.abs();
    let z = x * x;
    let small = poly(
        z,
        &[
            1.817_400_8e-1,
            8.243_703e-2,
            1.466_914_3e-1,
            1.997_821_6e-1,
            3.333_373e-1,
        ],
    ) * z
        * a
        + a;
    let large = splat(0.5) * ln((splat(1.0) + a) / (splat(1.0) - a));
    let y = a.cmp_lt(splat(0.5)).blend(small, large);
    keep_nan(x, y.copysign(x))
}

/// `erf(x)`: odd polynomial below 1 (Cephes), `1 - erfc(|x|)` above with Numerical
/// Recipes' `erfc` (relative error below 1.2e-7).
#[inline(always)]
pub(super) fn erf(x: f32x8) -> f32x8 {
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
    let t = splat(1.0) / (splat(1.0) + splat(0.5) * a);
    let q = poly(
        t,
        &[
            0.170_872_77,
            -0.822_152_23,
            1.488_515_9,
            -1.135_203_98,
            0.278_868_07,
            -0.186_288_06,
            0.096_784_18,
            0.374_091_96,
            1.000_023_7,
            -1.265_512_2,
        ],
    );
    let erfc = t * exp(q - z);
    let large = splat(1.0) - erfc;
    let y = a.cmp_lt(splat(1.0)).blend(small, large);
    let y = a.cmp_gt(splat(10.0)).blend(splat(1.0), y);
    keep_nan(x, y.copysign(x))
}

/// `1 / (1 + e^-x)`, as libtorch's kernel computes it.
#[inline(always)]
pub(super) fn sigmoid(x: f32x8) -> f32x8 {
    splat(1.0) / (splat(1.0) + exp(neg(x)))
}

/// torch's `softplus` (beta 1, threshold 20): `x` above 20, else `log1p(e^x)`.
#[inline(always)]
pub(super) fn softplus(x: f32x8) -> f32x8 {
    x.cmp_gt(splat(20.0)).blend(x, ln_1p(exp(x)))
}
