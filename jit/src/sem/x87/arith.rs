//! Loads, stores, arithmetic, comparisons and the other IEEE-specified operations.

use super::fpu::{self, sw, Fpu, F80, INDEFINITE, ZERO};
use super::host::{self, Frame};
use super::{Effects, Ins};
use crate::ctx::Ctx;
use crate::exception::Fault;
use crate::mmu;
use crate::state::fl;
use iced_x86::Mnemonic;

type HostFn = fn(&mut Frame);

/// Reads the memory operand (up to 8 bytes) zero-extended.
pub(super) fn read_mem(ctx: &mut Ctx, i: &Ins) -> Result<u64, Fault> {
    mmu::read(ctx, i.addr, i.msize.min(8) as u8)
}

pub(super) fn read_m80(ctx: &mut Ctx, addr: u64) -> Result<F80, Fault> {
    let lo = mmu::read(ctx, addr, 8)?;
    let hi = mmu::read(ctx, addr.wrapping_add(8), 2)?;
    let mut r = [0u8; 10];
    r[..8].copy_from_slice(&lo.to_le_bytes());
    r[8..].copy_from_slice(&(hi as u16).to_le_bytes());
    Ok(r)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Sub,
    Subr,
    Mul,
    Div,
    Divr,
}

fn mem_fn(k: Kind, int: bool, size: usize) -> Option<HostFn> {
    use host::*;
    Some(match (int, size, k) {
        (false, 4, Kind::Add) => add_m32,
        (false, 4, Kind::Sub) => sub_m32,
        (false, 4, Kind::Subr) => subr_m32,
        (false, 4, Kind::Mul) => mul_m32,
        (false, 4, Kind::Div) => div_m32,
        (false, 4, Kind::Divr) => divr_m32,
        (false, 8, Kind::Add) => add_m64,
        (false, 8, Kind::Sub) => sub_m64,
        (false, 8, Kind::Subr) => subr_m64,
        (false, 8, Kind::Mul) => mul_m64,
        (false, 8, Kind::Div) => div_m64,
        (false, 8, Kind::Divr) => divr_m64,
        (true, 2, Kind::Add) => add_i16,
        (true, 2, Kind::Sub) => sub_i16,
        (true, 2, Kind::Subr) => subr_i16,
        (true, 2, Kind::Mul) => mul_i16,
        (true, 2, Kind::Div) => div_i16,
        (true, 2, Kind::Divr) => divr_i16,
        (true, 4, Kind::Add) => add_i32,
        (true, 4, Kind::Sub) => sub_i32,
        (true, 4, Kind::Subr) => subr_i32,
        (true, 4, Kind::Mul) => mul_i32,
        (true, 4, Kind::Div) => div_i32,
        (true, 4, Kind::Divr) => divr_i32,
        _ => return None,
    })
}

/// Runs the instruction if it belongs here; `Ok(false)` otherwise.
pub(super) fn exec(ctx: &mut Ctx, f: &mut Fpu, i: &Ins, fx: &mut Effects) -> Result<bool, Fault> {
    use Mnemonic::*;
    let fcw = f.s.fcw;
    match i.m {
        Fadd | Faddp | Fiadd => arith(ctx, f, i, Kind::Add)?,
        Fsub | Fsubp | Fisub => arith(ctx, f, i, Kind::Sub)?,
        Fsubr | Fsubrp | Fisubr => arith(ctx, f, i, Kind::Subr)?,
        Fmul | Fmulp | Fimul => arith(ctx, f, i, Kind::Mul)?,
        Fdiv | Fdivp | Fidiv => arith(ctx, f, i, Kind::Div)?,
        Fdivr | Fdivrp | Fidivr => arith(ctx, f, i, Kind::Divr)?,
        Fcom | Fcomp | Fcompp | Ficom | Ficomp | Fucom | Fucomp | Fucompp | Fcomi | Fcomip
        | Fucomi | Fucomip => compare(ctx, f, i, fx)?,
        Ftst => {
            if f.empty(0) {
                if f.stack_fault(false) {
                    f.set_cc(sw::C0 | sw::C2 | sw::C3);
                }
            } else {
                let r = host::run_cc(host::tst, fcw, f.s.fsw, f.get(0), ZERO, 0);
                f.merge(r.fsw, true);
            }
        }
        Fld if i.mem && i.msize == 10 => {
            let v = read_m80(ctx, i.addr)?;
            // C1 is cleared unless the push overflows the stack (which sets it).
            f.set_c1(false);
            f.push(v);
        }
        Fld | Fild if i.mem => {
            let m = read_mem(ctx, i)?;
            if !f.empty(7) {
                // Stack overflow: the load is not performed, so the source raises
                // nothing else (no denormal flag, say).
                if f.stack_fault(true) {
                    f.push_unchecked(INDEFINITE);
                }
                return Ok(true);
            }
            let op: HostFn = match (i.m, i.msize) {
                (Fld, 4) => host::ld_m32,
                (Fld, _) => host::ld_m64,
                (_, 2) => host::ld_i16,
                (_, 4) => host::ld_i32,
                _ => host::ld_i64,
            };
            let r = host::run_cc(op, fcw, f.s.fsw, ZERO, ZERO, m);
            if f.merge(r.fsw, false) {
                f.push(r.result());
            }
        }
        Fld => {
            let k = i.r0.unwrap_or(0);
            if f.empty(k) {
                // Underflow wins over a full stack; the masked response pushes
                // without raising a second (overflow) fault.
                if f.stack_fault(false) {
                    f.push_unchecked(INDEFINITE);
                }
            } else {
                let v = f.get(k);
                f.set_c1(false);
                f.push(v);
            }
        }
        Fld1 | Fldz | Fldpi | Fldl2e | Fldl2t | Fldlg2 | Fldln2 => {
            let op: HostFn = match i.m {
                Fld1 => host::ld1,
                Fldz => host::ldz,
                Fldpi => host::ldpi,
                Fldl2e => host::ldl2e,
                Fldl2t => host::ldl2t,
                Fldlg2 => host::ldlg2,
                _ => host::ldln2,
            };
            let r = host::run_cc(op, fcw, f.s.fsw, ZERO, ZERO, 0);
            f.set_c1(false);
            f.push(r.result());
        }
        Fst | Fstp | Fist | Fistp | Fisttp => store(f, i, fx),
        Fchs | Fabs => {
            if f.empty(0) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                }
            } else {
                let mut v = f.get(0);
                v[9] = if i.m == Fchs {
                    v[9] ^ 0x80
                } else {
                    v[9] & 0x7f
                };
                f.set_c1(false);
                f.set(0, v);
            }
        }
        Fsqrt | Frndint => {
            if f.empty(0) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                }
            } else {
                let op: HostFn = if i.m == Fsqrt {
                    host::sqrt
                } else {
                    host::rndint
                };
                let r = host::run_cc(op, fcw, f.s.fsw, f.get(0), ZERO, 0);
                if f.merge(r.fsw, false) {
                    f.set(0, r.result());
                }
            }
        }
        Fscale | Fprem | Fprem1 => {
            if f.empty(0) || f.empty(1) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                }
            } else {
                let op: HostFn = match i.m {
                    Fscale => host::scale,
                    Fprem => host::prem,
                    _ => host::prem1,
                };
                let r = host::run_cc(op, fcw, f.s.fsw, f.get(0), f.get(1), 0);
                if f.merge(r.fsw, i.m != Fscale) {
                    f.set(0, r.result());
                }
            }
        }
        Fxtract => {
            // Underflow is checked first; a masked response pushes without a second
            // (overflow) fault.
            if f.empty(0) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                    f.push_unchecked(INDEFINITE);
                }
            } else if !f.empty(7) {
                if f.stack_fault(true) {
                    f.set(0, INDEFINITE);
                    f.push_unchecked(INDEFINITE);
                }
            } else {
                let r = host::run_cc(host::xtract, fcw, f.s.fsw, f.get(0), ZERO, 0);
                if f.merge(r.fsw, false) {
                    f.set(0, r.result2());
                    f.push(r.result());
                }
            }
        }
        Fxam => fxam(f),
        _ => return Ok(false),
    }
    Ok(true)
}

fn pops(m: Mnemonic) -> usize {
    use Mnemonic::*;
    match m {
        Faddp | Fsubp | Fsubrp | Fmulp | Fdivp | Fdivrp | Fcomp | Ficomp | Fucomp | Fcomip
        | Fucomip | Fstp | Fistp | Fisttp => 1,
        Fcompp | Fucompp => 2,
        _ => 0,
    }
}

fn arith(ctx: &mut Ctx, f: &mut Fpu, i: &Ins, k: Kind) -> Result<(), Fault> {
    let fcw = f.s.fcw;
    if i.mem {
        let int = matches!(
            i.m,
            Mnemonic::Fiadd
                | Mnemonic::Fisub
                | Mnemonic::Fisubr
                | Mnemonic::Fimul
                | Mnemonic::Fidiv
                | Mnemonic::Fidivr
        );
        let m = read_mem(ctx, i)?;
        let Some(op) = mem_fn(k, int, i.msize) else {
            return Err(Fault::ud());
        };
        if f.empty(0) {
            if f.stack_fault(false) {
                f.set(0, INDEFINITE);
            }
            return Ok(());
        }
        let r = host::run_cc(op, fcw, f.s.fsw, f.get(0), ZERO, m);
        if f.merge(r.fsw, false) {
            f.set(0, r.result());
        }
        return Ok(());
    }
    // Register forms: dest = dest op src.
    let (d, s) = match (i.r0, i.r1) {
        (Some(d), Some(s)) => (d, s),
        (Some(s), None) => (0, s),
        _ => (1, 0),
    };
    let pop = pops(i.m) == 1;
    if f.empty(d) || f.empty(s) {
        if f.stack_fault(false) {
            f.set(d, INDEFINITE);
            if pop {
                f.pop();
            }
        }
        return Ok(());
    }
    let (dv, sv) = (f.get(d), f.get(s));
    let (op, a, b): (HostFn, F80, F80) = match k {
        Kind::Add => (host::add, dv, sv),
        Kind::Sub => (host::sub, dv, sv),
        Kind::Subr => (host::sub, sv, dv),
        Kind::Mul => (host::mul, dv, sv),
        Kind::Div => (host::div, dv, sv),
        Kind::Divr => (host::div, sv, dv),
    };
    let r = host::run_cc(op, fcw, f.s.fsw, a, b, 0);
    if f.merge(r.fsw, false) {
        f.set(d, r.result());
        if pop {
            f.pop();
        }
    }
    Ok(())
}

fn compare(ctx: &mut Ctx, f: &mut Fpu, i: &Ins, fx: &mut Effects) -> Result<(), Fault> {
    use Mnemonic::*;
    let fcw = f.s.fcw;
    let to_eflags = matches!(i.m, Fcomi | Fcomip | Fucomi | Fucomip);
    let m = if i.mem { read_mem(ctx, i)? } else { 0 };
    let other = i.r1.or(i.r0.filter(|&r| r != 0)).unwrap_or(1);
    let underflow = f.empty(0) || (!i.mem && f.empty(other));
    let mut ok = true;
    let hfsw = if underflow {
        if !f.stack_fault(false) {
            return Ok(());
        }
        sw::C0 | sw::C2 | sw::C3
    } else {
        let op: HostFn = match (i.m, i.msize) {
            (Ficom | Ficomp, 2) => host::com_i16,
            (Ficom | Ficomp, _) => host::com_i32,
            (_, 4) if i.mem => host::com_m32,
            (_, _) if i.mem => host::com_m64,
            (Fucom | Fucomp | Fucompp | Fucomi | Fucomip, _) => host::ucom,
            _ => host::com,
        };
        let r = host::run_cc(op, fcw, f.s.fsw, f.get(0), f.get(other), m);
        let saved = f.s.fsw & sw::CC;
        ok = f.merge(r.fsw, true);
        if to_eflags {
            // FCOMI leaves C0/C2/C3 alone and clears C1.
            f.s.fsw = (f.s.fsw & !sw::CC) | (saved & !sw::C1);
        }
        // FCOMI writes EFLAGS even when the exception is unmasked (unordered on an
        // invalid operation); FCOM leaves CC as the host did.
        if to_eflags && r.fsw & sw::IE != 0 {
            sw::C0 | sw::C2 | sw::C3
        } else if !ok && !to_eflags {
            return Ok(());
        } else {
            r.fsw
        }
    };
    if to_eflags {
        let mut e = 0;
        if hfsw & sw::C3 != 0 {
            e |= fl::ZF;
        }
        if hfsw & sw::C2 != 0 {
            e |= fl::PF;
        }
        if hfsw & sw::C0 != 0 {
            e |= fl::CF;
        }
        fx.eflags = Some(e);
        f.set_c1(false);
    } else {
        f.set_cc(hfsw & (sw::C0 | sw::C2 | sw::C3));
    }
    if !ok {
        // Unmasked exception: EFLAGS written, but no pop.
        return Ok(());
    }
    for _ in 0..pops(i.m) {
        f.pop();
    }
    Ok(())
}

/// FST/FSTP/FIST/FISTP/FISTTP to memory or ST(i).
fn store(f: &mut Fpu, i: &Ins, fx: &mut Effects) {
    use Mnemonic::*;
    let pop = pops(i.m) == 1;
    if !i.mem {
        let d = i.r0.unwrap_or(0);
        if f.empty(0) {
            if !f.stack_fault(false) {
                return;
            }
            f.set(d, INDEFINITE);
        } else {
            let v = f.get(0);
            f.set_c1(false);
            f.set(d, v);
        }
        if pop {
            f.pop();
        }
        return;
    }
    let size = i.msize;
    let bytes: Vec<u8> = if f.empty(0) {
        if !f.stack_fault(false) {
            return;
        }
        let v: u64 = match (i.m, size) {
            (Fst | Fstp, 4) => 0xffc0_0000,
            (Fst | Fstp, 8) => 0xfff8_0000_0000_0000,
            (Fst | Fstp, _) => {
                fx.store = Some(INDEFINITE.to_vec());
                if pop {
                    f.pop();
                }
                return;
            }
            (_, 2) => 0x8000,
            (_, 4) => 0x8000_0000,
            _ => 0x8000_0000_0000_0000,
        };
        v.to_le_bytes()[..size.min(8)].to_vec()
    } else if matches!(i.m, Fst | Fstp) && size == 10 {
        f.set_c1(false);
        f.get(0).to_vec()
    } else {
        let op: HostFn = match (i.m, size) {
            (Fst | Fstp, 4) => host::st_m32,
            (Fst | Fstp, _) => host::st_m64,
            (Fisttp, 2) => host::istt_i16,
            (Fisttp, 4) => host::istt_i32,
            (Fisttp, _) => host::istt_i64,
            (_, 2) => host::ist_i16,
            (_, 4) => host::ist_i32,
            _ => host::ist_i64,
        };
        let r = host::run_cc(op, f.s.fcw, f.s.fsw, f.get(0), ZERO, 0);
        f.merge(r.fsw, false);
        // Unmasked invalid/denormal/overflow/underflow: nothing is stored.
        if r.fsw & (sw::IE | sw::DE | sw::OE | sw::UE) & !f.s.fcw != 0 {
            return;
        }
        r.result_u64().to_le_bytes()[..size.min(8)].to_vec()
    };
    fx.store = Some(bytes);
    if pop {
        f.pop();
    }
}

/// FXAM: classifies ST(0) into C3/C2/C0, sign in C1.
fn fxam(f: &mut Fpu) {
    let v = f.get(0);
    let (e, m) = (fpu::exp(&v), fpu::mant(&v));
    let c1 = if fpu::sign(&v) { sw::C1 } else { 0 };
    let class = if f.empty(0) {
        sw::C3 | sw::C0
    } else if e == 0x7fff {
        if m >> 63 == 0 {
            0 // unsupported
        } else if m << 1 == 0 {
            sw::C2 | sw::C0 // infinity
        } else {
            sw::C0 // NaN
        }
    } else if e == 0 {
        if m == 0 {
            sw::C3
        } else {
            sw::C3 | sw::C2 // denormal
        }
    } else if m >> 63 == 0 {
        0 // unnormal
    } else {
        sw::C2
    };
    f.s.fsw = (f.s.fsw & !sw::CC) | class | c1;
}
