//! [`WIDTH`] f32 lanes for the fused kernel, as plain per-lane loops over an array.
//!
//! Each op is a fixed-length loop of one IEEE operation per lane, which the compiler
//! turns into SIMD instructions of the width the calling function is compiled for:
//! `fused.rs` compiles its chunk loop for AVX2 with FMA and for the x86-64 baseline
//! (SSE2), and picks one at run time. A library of vector types with a compile-time choice
//! of instructions would be stuck at the baseline in a portable binary.
//!
//! Every op is exactly rounded IEEE arithmetic: a multiply-add is fused only where it is
//! written as [`Lanes::mul_add`] (one rounding: the FMA instruction where the set has it,
//! the C library's correctly rounded `fmaf` elsewhere), no reciprocal is approximated, and
//! rounding to an integer uses the exact `2^23` trick. So each lane's result has the same
//! bits whatever the instruction set: a run gives the same numbers on every x86-64
//! machine.

use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Not, Sub};

/// Lanes per vector: two AVX2 registers, four SSE2 ones (so that each op's dependency
/// chains interleave).
pub(super) const WIDTH: usize = 16;

/// [`WIDTH`] f32 values.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Lanes(pub(super) [f32; WIDTH]);

/// A lane-wise condition: every lane all ones (true) or all zeros (false), so that
/// [`Mask::select`] is a bitwise blend.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Mask([u32; WIDTH]);

const SIGN: u32 = 0x8000_0000;

/// Adding and subtracting `1.5 * 2^23` rounds an f32 below `2^22` in magnitude to the
/// nearest integer, ties to even.
const ROUNDER: f32 = 12_582_912.0;

impl Lanes {
    /// `v` in every lane.
    #[inline(always)]
    pub(super) fn splat(v: f32) -> Lanes {
        Lanes([v; WIDTH])
    }

    /// `f` of every lane.
    #[inline(always)]
    pub(super) fn map(self, f: impl Fn(f32) -> f32) -> Lanes {
        let mut r = [0.0; WIDTH];
        for (r, &a) in r.iter_mut().zip(&self.0) {
            *r = f(a);
        }
        Lanes(r)
    }

    /// `f` of every pair of lanes.
    #[inline(always)]
    pub(super) fn zip(self, other: Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
        let mut r = [0.0; WIDTH];
        for ((r, &a), &b) in r.iter_mut().zip(&self.0).zip(&other.0) {
            *r = f(a, b);
        }
        Lanes(r)
    }

    /// `f` of every lane's bits.
    #[inline(always)]
    fn map_bits(self, f: impl Fn(u32) -> u32) -> Lanes {
        self.map(|a| f32::from_bits(f(a.to_bits())))
    }

    /// The lanes where `f` of the two lanes holds.
    #[inline(always)]
    fn test(self, other: Lanes, f: impl Fn(f32, f32) -> bool) -> Mask {
        let mut r = [0u32; WIDTH];
        for ((r, &a), &b) in r.iter_mut().zip(&self.0).zip(&other.0) {
            *r = u32::from(f(a, b)).wrapping_neg();
        }
        Mask(r)
    }

    /// `self < other` (false where either is NaN).
    #[inline(always)]
    pub(super) fn lt(self, other: Lanes) -> Mask {
        self.test(other, |a, b| a < b)
    }

    /// `self > other` (false where either is NaN).
    #[inline(always)]
    pub(super) fn gt(self, other: Lanes) -> Mask {
        self.test(other, |a, b| a > b)
    }

    /// `self == other` (`-0 == 0`; false where either is NaN).
    #[inline(always)]
    pub(super) fn eq(self, other: Lanes) -> Mask {
        self.test(other, |a, b| a == b)
    }

    /// The NaN lanes.
    #[inline(always)]
    pub(super) fn is_nan(self) -> Mask {
        self.test(self, |a, b| a != b)
    }

    /// The lanes that are neither infinite nor NaN.
    #[inline(always)]
    pub(super) fn is_finite(self) -> Mask {
        self.abs().lt(Lanes::splat(f32::INFINITY))
    }

    /// `|x|`, by clearing the sign bit (NaN stays NaN).
    #[inline(always)]
    pub(super) fn abs(self) -> Lanes {
        self.map_bits(|b| b & !SIGN)
    }

    /// `-x`, by flipping the sign bit, as IEEE negation (`0 - x` would turn -0 into +0,
    /// and `1 / -0` is `-inf`).
    #[inline(always)]
    pub(super) fn neg(self) -> Lanes {
        self.map_bits(|b| b ^ SIGN)
    }

    /// `|self|` with the sign of `sign`.
    #[inline(always)]
    pub(super) fn copysign(self, sign: Lanes) -> Lanes {
        let mut r = [0.0; WIDTH];
        for ((r, &a), &s) in r.iter_mut().zip(&self.0).zip(&sign.0) {
            *r = f32::from_bits((a.to_bits() & !SIGN) | (s.to_bits() & SIGN));
        }
        Lanes(r)
    }

    /// `self * b + c` with one rounding (a fused multiply-add). Polynomials are a chain
    /// of these: half the instructions of a product and a sum, and more accurate.
    #[inline(always)]
    pub(super) fn mul_add(self, b: Lanes, c: Lanes) -> Lanes {
        let mut r = [0.0; WIDTH];
        for (((r, &a), &b), &c) in r.iter_mut().zip(&self.0).zip(&b.0).zip(&c.0) {
            *r = a.mul_add(b, c);
        }
        Lanes(r)
    }

    /// The correctly rounded square root, NaN below 0.
    #[inline(always)]
    pub(super) fn sqrt(self) -> Lanes {
        self.map(f32::sqrt)
    }

    /// The smaller lane of the two; `other` where either is NaN (callers pass no NaN).
    #[inline(always)]
    pub(super) fn min(self, other: Lanes) -> Lanes {
        self.zip(other, |a, b| if a < b { a } else { b })
    }

    /// The nearest integer, ties to even, for lanes below `2^22` in magnitude.
    #[inline(always)]
    pub(super) fn round(self) -> Lanes {
        self.map(|a| (a + ROUNDER) - ROUNDER)
    }

    /// `2^n` for integral lanes `n` in `[-126, 127]`: `n + 127` as the exponent field.
    #[inline(always)]
    pub(super) fn pow2i(self) -> Lanes {
        // After adding ROUNDER + 127 the low mantissa bits hold n + 127 in [1, 254]; the
        // shift moves them into the exponent field and drops everything above.
        self.map(|n| f32::from_bits((n + (ROUNDER + 127.0)).to_bits() << 23))
    }

    /// The unbiased binary exponent of each (normal, positive) lane, as an f32.
    #[inline(always)]
    pub(super) fn exponent(self) -> Lanes {
        self.map(|a| (((a.to_bits() >> 23) & 0xff) as i32 - 127) as f32)
    }

    /// The mantissa of each (normal, positive) lane scaled into `[1, 2)`.
    #[inline(always)]
    pub(super) fn mantissa(self) -> Lanes {
        self.map_bits(|b| (b & 0x007f_ffff) | 0x3f80_0000)
    }

    /// The lanes whose integer value (integral lanes below `2^22` in magnitude) has bit
    /// `k` set, in two's complement: `int_bit(0)` of -3 holds, `int_bit(1)` of -3 not.
    #[inline(always)]
    pub(super) fn int_bit(self, k: u32) -> Mask {
        // The low mantissa bits of n + 1.5 * 2^23 hold 2^22 + n, which is n modulo 2^22.
        let mut r = [0u32; WIDTH];
        for (r, &a) in r.iter_mut().zip(&self.0) {
            *r = (((a + ROUNDER).to_bits() >> k) & 1).wrapping_neg();
        }
        Mask(r)
    }

    /// Whether any lane's magnitude exceeds `limit` (infinite lanes do, NaN lanes not).
    #[inline(always)]
    pub(super) fn any_abs_above(self, limit: f32) -> bool {
        self.abs().gt(Lanes::splat(limit)).any()
    }
}

macro_rules! lanewise {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for Lanes {
            type Output = Lanes;
            #[inline(always)]
            fn $method(self, other: Lanes) -> Lanes {
                self.zip(other, |a, b| a $op b)
            }
        }
    };
}

lanewise!(Add, add, +);
lanewise!(Sub, sub, -);
lanewise!(Mul, mul, *);
lanewise!(Div, div, /);

impl Mask {
    /// `then` in the lanes where the mask holds, `otherwise` elsewhere.
    #[inline(always)]
    pub(super) fn select(self, then: Lanes, otherwise: Lanes) -> Lanes {
        let mut r = [0.0; WIDTH];
        for (((r, &m), &t), &o) in r.iter_mut().zip(&self.0).zip(&then.0).zip(&otherwise.0) {
            *r = f32::from_bits((m & t.to_bits()) | (!m & o.to_bits()));
        }
        Lanes(r)
    }

    /// Whether the mask holds in any lane.
    #[inline(always)]
    pub(super) fn any(self) -> bool {
        self.0.iter().fold(0, |acc, &m| acc | m) != 0
    }
}

macro_rules! maskwise {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for Mask {
            type Output = Mask;
            #[inline(always)]
            fn $method(self, other: Mask) -> Mask {
                let mut r = self.0;
                for (r, &b) in r.iter_mut().zip(&other.0) {
                    *r $op b;
                }
                Mask(r)
            }
        }
    };
}

maskwise!(BitOr, bitor, |=);
maskwise!(BitAnd, bitand, &=);
maskwise!(BitXor, bitxor, ^=);

impl Not for Mask {
    type Output = Mask;
    #[inline(always)]
    fn not(self) -> Mask {
        let mut r = self.0;
        for r in &mut r {
            *r = !*r;
        }
        Mask(r)
    }
}
