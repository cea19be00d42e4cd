//! RCPPS/RCPSS/RSQRTPS/RSQRTSS in software. The hardware results are approximations
//! that differ between vendors, so running them on the host would make a recording
//! depend on the CPU that made it. Here the result is the exact value rounded to single
//! precision (relative error at most 2^-24, well inside the documented 1.5 * 2^-12),
//! with the hardware's special cases: denormal inputs count as zero, tiny results are
//! flushed to zero, no MXCSR flags, MXCSR not consulted.

use iced_x86::Mnemonic;

pub fn handles(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(m, Rcpps | Rcpss | Rsqrtps | Rsqrtss)
}

const SIGN: u32 = 0x8000_0000;
const INF: u32 = 0x7f80_0000;
const QNAN_BIT: u32 = 0x0040_0000;
/// The QNaN floating-point indefinite.
const INDEFINITE: u32 = 0xffc0_0000;

fn is_nan(x: u32) -> bool {
    x & 0x7fff_ffff > INF
}

/// Zero or denormal: the exponent field is 0.
fn is_zeroish(x: u32) -> bool {
    x & INF == 0
}

/// Flushes a denormal result to a zero of the same sign.
fn flush_tiny(r: f32) -> u32 {
    let b = r.to_bits();
    if is_zeroish(b) {
        b & SIGN
    } else {
        b
    }
}

/// Approximate reciprocal of a single-precision value (as bits).
pub fn rcp(x: u32) -> u32 {
    let sign = x & SIGN;
    if is_nan(x) {
        return x | QNAN_BIT;
    }
    if is_zeroish(x) {
        return sign | INF;
    }
    if x & 0x7fff_ffff == INF {
        return sign;
    }
    let v = f32::from_bits(x) as f64;
    flush_tiny((1.0 / v) as f32)
}

/// Approximate reciprocal square root of a single-precision value (as bits).
pub fn rsqrt(x: u32) -> u32 {
    let sign = x & SIGN;
    if is_nan(x) {
        return x | QNAN_BIT;
    }
    if is_zeroish(x) {
        return sign | INF;
    }
    if sign != 0 {
        return INDEFINITE;
    }
    if x == INF {
        return 0;
    }
    let v = f32::from_bits(x) as f64;
    flush_tiny((1.0 / v.sqrt()) as f32)
}

fn lanes(v: u128, f: fn(u32) -> u32, n: u32, keep: u128) -> u128 {
    let mut r = keep;
    for k in 0..n {
        let sh = 32 * k;
        let x = (v >> sh) as u32;
        r = (r & !(0xffff_ffffu128 << sh)) | (f(x) as u128) << sh;
    }
    r
}

pub fn run(m: Mnemonic, d: u128, s: u128) -> Option<u128> {
    use Mnemonic::*;
    Some(match m {
        Rcpps => lanes(s, rcp, 4, 0),
        Rcpss => lanes(s, rcp, 1, d),
        Rsqrtps => lanes(s, rsqrt, 4, 0),
        Rsqrtss => lanes(s, rsqrt, 1, d),
        _ => return None,
    })
}
