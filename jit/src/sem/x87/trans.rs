//! Transcendental instructions, computed in software so that results do not depend on
//! the host CPU's vendor: F2XM1 FYL2X FYL2XP1 FPTAN FPATAN FSIN FCOS FSINCOS.
//!
//! Accuracy: operands are rounded to double precision (IEEE conversion on the host x87,
//! which is exact and vendor-independent), the function is evaluated with the pure-Rust
//! `libm` crate (results within about 1 ulp of double precision) and widened back to 80
//! bits exactly. So results carry about 52 correct bits instead of hardware's ~63, PE is
//! always reported for finite non-trivial results, and C1 (round-up) is reported as 0.
//! The range rules are hardware's: FSIN/FCOS/FSINCOS/FPTAN leave ST(0) unchanged and set
//! C2 when |ST(0)| >= 2^63; infinities give the invalid-operation response.

use super::fpu::{self, sw, Fpu, F80, INDEFINITE, ZERO};
use super::host;
use super::Ins;
use crate::exception::Fault;
use iced_x86::Mnemonic;

/// Round-to-nearest, all exceptions masked, 64-bit precision.
const FCW_NEAREST: u16 = 0x037f;

fn to_f64(v: F80) -> f64 {
    let r = host::run(host::st_m64, FCW_NEAREST, v, ZERO, 0);
    f64::from_bits(r.result_u64())
}

fn from_f64(x: f64) -> F80 {
    host::run(host::ld_m64, FCW_NEAREST, ZERO, ZERO, x.to_bits()).result()
}

fn is_nan(v: &F80) -> bool {
    fpu::exp(v) == 0x7fff && fpu::mant(v) << 1 != 0
}

/// The NaN result of an operation with a NaN operand: the (quieted) NaN, with IE for a
/// signalling one. Returns false when IE is unmasked (no result).
fn nan_result(f: &mut Fpu, v: F80) -> Option<F80> {
    let m = fpu::mant(&v);
    if m & (1 << 62) == 0 {
        f.s.fsw |= sw::IE;
        if !f.masked(sw::IE) {
            return None;
        }
    }
    Some(fpu::make(fpu::sign(&v), 0x7fff, m | 3 << 62))
}

fn invalid(f: &mut Fpu) -> Option<F80> {
    f.s.fsw |= sw::IE;
    f.masked(sw::IE).then_some(INDEFINITE)
}

/// Wraps a computed double: PE unless exact special values.
fn finish(f: &mut Fpu, r: f64) -> F80 {
    if r.is_finite() && r != 0.0 {
        f.s.fsw |= sw::PE;
    }
    f.set_c1(false);
    from_f64(r)
}

pub(super) fn exec(f: &mut Fpu, i: &Ins) -> Result<bool, Fault> {
    use Mnemonic::*;
    match i.m {
        F2xm1 | Fsin | Fcos | Fptan | Fsincos => {
            if f.empty(0) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                    if matches!(i.m, Fptan | Fsincos) {
                        f.push_unchecked(INDEFINITE);
                    }
                }
                return Ok(true);
            }
            let v = f.get(0);
            let pushes = matches!(i.m, Fptan | Fsincos);
            if pushes && !f.empty(7) {
                if f.stack_fault(true) {
                    f.set(0, INDEFINITE);
                    f.push_unchecked(INDEFINITE);
                }
                return Ok(true);
            }
            f.s.fsw &= !sw::C2;
            let x = to_f64(v);
            let (r, r2) = if is_nan(&v) {
                let n = nan_result(f, v);
                (n, n)
            } else if x.is_infinite() && i.m != F2xm1 {
                (invalid(f), invalid(f))
            } else if i.m != F2xm1 && fpu::exp(&v) >= 0x3fff + 63 {
                // Out of range: C2 = 1, operand unchanged.
                f.s.fsw |= sw::C2;
                return Ok(true);
            } else {
                match i.m {
                    F2xm1 => {
                        if x == f64::NEG_INFINITY {
                            (Some(from_f64(-1.0)), None)
                        } else if x.is_infinite() || x == 0.0 {
                            (Some(v), None)
                        } else {
                            let r = libm::expm1(x * core::f64::consts::LN_2);
                            (Some(finish(f, r)), None)
                        }
                    }
                    Fsin if x == 0.0 => (Some(v), None),
                    Fsin => (Some(finish(f, libm::sin(x))), None),
                    Fcos => (Some(finish(f, libm::cos(x))), None),
                    Fptan => {
                        let t = if x == 0.0 { v } else { finish(f, libm::tan(x)) };
                        (Some(t), Some(from_f64(1.0)))
                    }
                    _ => {
                        let s = if x == 0.0 { v } else { finish(f, libm::sin(x)) };
                        (Some(s), Some(finish(f, libm::cos(x))))
                    }
                }
            };
            let Some(r) = r else { return Ok(true) };
            f.set(0, r);
            if pushes {
                if let Some(r2) = r2 {
                    f.push(r2);
                }
            }
        }
        Fyl2x | Fyl2xp1 | Fpatan => {
            if f.empty(0) || f.empty(1) {
                if f.stack_fault(false) {
                    f.set(1, INDEFINITE);
                    f.pop();
                }
                return Ok(true);
            }
            let (xv, yv) = (f.get(0), f.get(1));
            let r = if is_nan(&xv) || is_nan(&yv) {
                // The NaN with the larger significand (both quieted), as for arithmetic.
                let n = if is_nan(&xv) && is_nan(&yv) {
                    if fpu::mant(&xv) << 1 > fpu::mant(&yv) << 1 {
                        xv
                    } else {
                        yv
                    }
                } else if is_nan(&xv) {
                    xv
                } else {
                    yv
                };
                let other = if n == xv { yv } else { xv };
                if is_nan(&other) && fpu::mant(&other) & (1 << 62) == 0 {
                    f.s.fsw |= sw::IE;
                }
                nan_result(f, n)
            } else {
                let (x, y) = (to_f64(xv), to_f64(yv));
                match i.m {
                    Fpatan => Some(finish(f, libm::atan2(y, x))),
                    Fyl2x => {
                        if x < 0.0 || (x == 0.0 && y == 0.0) || (x == 1.0 && y.is_infinite()) {
                            invalid(f)
                        } else {
                            if x == 0.0 {
                                f.s.fsw |= sw::ZE;
                            }
                            Some(finish(f, y * libm::log2(x)))
                        }
                    }
                    _ => {
                        if x < -1.0 {
                            invalid(f)
                        } else {
                            let l = libm::log1p(x) / core::f64::consts::LN_2;
                            Some(finish(f, y * l))
                        }
                    }
                }
            };
            if let Some(r) = r {
                f.set(1, r);
                f.pop();
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}
