//! Floating-point arithmetic without touching MXCSR, for the operands where the
//! result alone proves which exceptions occurred.
//!
//! Reading the host MXCSR after an operation (STMXCSR) waits for every floating-point
//! operation in flight, which makes each guest instruction pay the full latency of
//! the one before it. But when the guest's MXCSR holds the control the emulator's
//! threads run with (round to nearest, no DAZ/FTZ, every exception masked) and its
//! inexact flag is already set (numeric code sets it almost at once), the only thing
//! an ADD/SUB/MUL/DIV/SQRT/MIN/MAX can still change in MXCSR is one of the other five
//! flags, and none of those can occur when every input is zero or normal and every
//! result is normal (or an exact zero):
//! - invalid needs a NaN or infinite input, or produces a NaN (0/0, sqrt of a
//!   negative number);
//! - denormal needs a denormal input; divide-by-zero produces an infinity;
//! - overflow produces an infinity (round to nearest);
//! - underflow (masked) needs a result that is tiny after rounding: denormal or zero.
//!   A zero is exact, so raises nothing, when it is a sum or difference (Sterbenz), or
//!   a product or quotient with a zero input.
//!
//! In that case the operation runs as plain Rust arithmetic (which is IEEE 754 under
//! the host's default MXCSR, the same instruction) and MXCSR is left alone. Every
//! other case falls back to running the instruction under the guest MXCSR
//! ([`super::mxcsr::run_csr`]).

use iced_x86::Mnemonic;

/// Guest MXCSR bits that must be exactly [`FAST_CSR`]: control, masks and PE.
const FAST_MASK: u32 = 0xffe0;
/// Round to nearest, no DAZ/FTZ, all exceptions masked, inexact already raised.
const FAST_CSR: u32 = 0x1fa0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Sqrt,
    Min,
    Max,
}

/// `x op y` (`sqrt y`) as x86 computes it for inputs that are not NaN: MIN and MAX
/// return the source `y` unless `x` is strictly less / greater (so a pair of zeros
/// gives the source's).
macro_rules! compute {
    ($op:expr, $x:expr, $y:expr) => {
        match $op {
            Op::Add => $x + $y,
            Op::Sub => $x - $y,
            Op::Mul => $x * $y,
            Op::Div => $x / $y,
            Op::Sqrt => $y.sqrt(),
            Op::Min => {
                if $x < $y {
                    $x
                } else {
                    $y
                }
            }
            Op::Max => {
                if $x > $y {
                    $x
                } else {
                    $y
                }
            }
        }
    };
}

/// The forms computed here: mnemonic, operation, lane width in bits, lanes computed.
/// A form is named by its position plus one ([`form_index`]), which the SSE helper's
/// packed operation carries so that the helper finds it without a mnemonic match.
const FORMS: [(Mnemonic, Op, u32, u32); 28] = {
    use Mnemonic::*;
    [
        (Addsd, Op::Add, 64, 1),
        (Subsd, Op::Sub, 64, 1),
        (Mulsd, Op::Mul, 64, 1),
        (Divsd, Op::Div, 64, 1),
        (Sqrtsd, Op::Sqrt, 64, 1),
        (Minsd, Op::Min, 64, 1),
        (Maxsd, Op::Max, 64, 1),
        (Addpd, Op::Add, 64, 2),
        (Subpd, Op::Sub, 64, 2),
        (Mulpd, Op::Mul, 64, 2),
        (Divpd, Op::Div, 64, 2),
        (Sqrtpd, Op::Sqrt, 64, 2),
        (Minpd, Op::Min, 64, 2),
        (Maxpd, Op::Max, 64, 2),
        (Addss, Op::Add, 32, 1),
        (Subss, Op::Sub, 32, 1),
        (Mulss, Op::Mul, 32, 1),
        (Divss, Op::Div, 32, 1),
        (Sqrtss, Op::Sqrt, 32, 1),
        (Minss, Op::Min, 32, 1),
        (Maxss, Op::Max, 32, 1),
        (Addps, Op::Add, 32, 4),
        (Subps, Op::Sub, 32, 4),
        (Mulps, Op::Mul, 32, 4),
        (Divps, Op::Div, 32, 4),
        (Sqrtps, Op::Sqrt, 32, 4),
        (Minps, Op::Min, 32, 4),
        (Maxps, Op::Max, 32, 4),
    ]
};

/// The form index (1..=28) of `m`, or 0 if it has none.
pub fn form_index(m: Mnemonic) -> u8 {
    FORMS
        .iter()
        .position(|f| f.0 == m)
        .map_or(0, |k| k as u8 + 1)
}

/// The new destination of form `index` ([`form_index`]; destination `d`, source `s`)
/// under guest MXCSR `csr`, if it can be computed without MXCSR (see the module doc):
/// then the guest MXCSR does not change.
#[inline(always)]
pub fn run_form(index: u8, d: u128, s: u128, csr: u32) -> Option<u128> {
    if csr & FAST_MASK != FAST_CSR {
        return None;
    }
    let &(_, op, w, n) = FORMS.get(usize::from(index).checked_sub(1)?)?;
    match (w, n) {
        (64, 1) => Some(d & !(u64::MAX as u128) | lane64(op, d as u64, s as u64)? as u128),
        (64, 2) => {
            let lo = lane64(op, d as u64, s as u64)?;
            let hi = lane64(op, (d >> 64) as u64, (s >> 64) as u64)?;
            Some(lo as u128 | (hi as u128) << 64)
        }
        (32, 1) => Some(d & !(u32::MAX as u128) | lane32(op, d as u32, s as u32)? as u128),
        _ => {
            let mut out = 0u128;
            for k in 0..4 {
                let r = lane32(op, (d >> (32 * k)) as u32, (s >> (32 * k)) as u32)?;
                out |= (r as u128) << (32 * k);
            }
            Some(out)
        }
    }
}

/// [`run_form`] by mnemonic.
pub fn run(m: Mnemonic, d: u128, s: u128, csr: u32) -> Option<u128> {
    run_form(form_index(m), d, s, csr)
}

/// One 64-bit lane: `a op b` (`sqrt b`), if it raises nothing but inexact.
#[inline(always)]
fn lane64(op: Op, a: u64, b: u64) -> Option<u64> {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    let r = compute!(op, x, y).to_bits();
    // The common case first: every value normal (biased exponent 1..=0x7fe).
    let normal = |v: u64| (v << 1).wrapping_sub(1 << 53) < 0x7fe << 53;
    if (normal(a) || op == Op::Sqrt) && normal(b) && normal(r) {
        return Some(r);
    }
    let class = |v: u64| Class::of(v >> 52 & 0x7ff, 0x7ff, v << 1 == 0);
    quiet(op, class(a), class(b), class(r)).then_some(r)
}

/// One 32-bit lane, as [`lane64`].
#[inline(always)]
fn lane32(op: Op, a: u32, b: u32) -> Option<u32> {
    let (x, y) = (f32::from_bits(a), f32::from_bits(b));
    let r = compute!(op, x, y).to_bits();
    let normal = |v: u32| (v << 1).wrapping_sub(1 << 24) < 0xfe << 24;
    if (normal(a) || op == Op::Sqrt) && normal(b) && normal(r) {
        return Some(r);
    }
    let class = |v: u32| Class::of(u64::from(v >> 23 & 0xff), 0xff, v << 1 == 0);
    quiet(op, class(a), class(b), class(r)).then_some(r)
}

/// What matters of a value here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Zero,
    Normal,
    /// Denormal, infinite or NaN.
    Other,
}

impl Class {
    /// From the biased exponent field (`max` when all ones) and whether the value is ±0.
    #[inline(always)]
    fn of(exp: u64, max: u64, zero: bool) -> Class {
        if zero {
            Class::Zero
        } else if exp == 0 || exp == max {
            Class::Other
        } else {
            Class::Normal
        }
    }
}

/// True when `op` with inputs `a` (the destination; unused by SQRT) and `b` and
/// result `r` of these classes raises no exception but inexact (see the module doc).
#[inline(always)]
fn quiet(op: Op, a: Class, b: Class, r: Class) -> bool {
    let a = if op == Op::Sqrt { Class::Zero } else { a };
    if a == Class::Other || b == Class::Other {
        return false;
    }
    match r {
        Class::Normal => true,
        Class::Other => false,
        Class::Zero => match op {
            Op::Add | Op::Sub | Op::Min | Op::Max => true,
            Op::Mul => a == Class::Zero || b == Class::Zero,
            Op::Div => a == Class::Zero,
            Op::Sqrt => b == Class::Zero,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (xorshift).
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// A 64-bit lane pattern that often sits where exceptions start: zeros, the
    /// smallest and largest normals, values whose products or quotients underflow or
    /// overflow, denormals, infinities, NaNs, and plain random bits.
    fn lane64(s: &mut u64) -> u64 {
        let r = next(s);
        let sign = r & (1 << 63);
        let frac = next(s) & ((1 << 52) - 1);
        let exp = match r % 8 {
            0 => 0,
            1 => 1 + (r >> 8) % 4,
            2 => 0x7fe - (r >> 8) % 4,
            3 => 0x7ff,
            4 => 0x3ff + (r >> 8) % 3,
            _ => return next(s),
        };
        sign | exp << 52 | if r % 16 == 8 { 0 } else { frac }
    }

    fn lane32(s: &mut u64) -> u64 {
        let r = next(s);
        let sign = (r as u32) & (1 << 31);
        let frac = next(s) as u32 & ((1 << 23) - 1);
        let exp = match r % 8 {
            0 => 0,
            1 => 1 + (r >> 8) as u32 % 4,
            2 => 0xfe - (r >> 8) as u32 % 4,
            3 => 0xff,
            4 => 0x7f + (r >> 8) as u32 % 3,
            _ => return next(s),
        };
        u64::from(sign | exp << 23 | if r % 16 == 8 { 0 } else { frac })
    }

    fn value(s: &mut u64, w: u32) -> u128 {
        let l = |s: &mut u64| if w == 64 { lane64(s) } else { lane32(s) };
        if w == 64 {
            u128::from(l(s)) | u128::from(l(s)) << 64
        } else {
            (0..4).fold(0u128, |v, k| v | u128::from(l(s)) << (32 * k))
        }
    }

    /// Wherever the MXCSR-free path answers, the host instruction run under the guest
    /// MXCSR gives the same destination and raises nothing but inexact.
    #[test]
    fn matches_the_host_instruction_where_it_answers() {
        use Mnemonic::*;
        let all = [
            Addsd, Subsd, Mulsd, Divsd, Sqrtsd, Minsd, Maxsd, Addpd, Subpd, Mulpd, Divpd, Sqrtpd,
            Minpd, Maxpd, Addss, Subss, Mulss, Divss, Sqrtss, Minss, Maxss, Addps, Subps, Mulps,
            Divps, Sqrtps, Minps, Maxps,
        ];
        let mut s = 0x1234_5678_9abc_def1u64;
        for m in all {
            let w = FORMS[usize::from(form_index(m)) - 1].2;
            let (mut answered, mut declined) = (0, 0);
            for _ in 0..20_000 {
                let (d, src) = (value(&mut s, w), value(&mut s, w));
                let Some(v) = run(m, d, src, FAST_CSR) else {
                    declined += 1;
                    continue;
                };
                answered += 1;
                let host = super::super::float::run(m, d, src, 0, FAST_CSR);
                let super::super::mxcsr::Value::Xmm(want) = host.value else {
                    panic!("{m:?} gives an XMM result");
                };
                assert_eq!(v, want, "{m:?} {d:#034x} {src:#034x}");
                assert_eq!(host.flags & 0x1f, 0, "{m:?} {d:#034x} {src:#034x}");
            }
            assert!(
                answered > 300 && declined > 1000,
                "{m:?}: {answered}/{declined}"
            );
        }
        // Any other control, or inexact not yet raised: always declined.
        for csr in [0x1f80, 0x3fa0, 0x1fe0, 0x9fa0, 0x1da0] {
            assert_eq!(run(Addsd, 1, 2, csr), None, "{csr:#x}");
        }
    }
}
