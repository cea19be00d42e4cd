//! Data movement and small flag instructions: MOV MOVZX MOVSX(D) LEA XCHG CMOVcc SETcc
//! BSWAP CBW…CQO XADD CMPXCHG CMPXCHG8B/16B LAHF SAHF CLC STC CMC CLD STD XLAT, NOPs.

use super::operand::{
    ea, gpr_of, mem_addr, op_size, read, read_gpr, read_op, read_op_sized, write, write_gpr,
    write_op, Gpr, Mem, Opnd,
};
use super::{arith_flags, cond, set_eflags, set_flags};
use crate::emit::{Cmp, Emitter, Sem};
use crate::exception::Fault;
use crate::flags::{mask, sext, CcKind, Cond};
use crate::state::{fl, reg};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// A GPR, memory or immediate operand (MOV of segment and control registers belongs
/// to other groups).
pub fn is_plain(i: &Instruction, n: u32) -> bool {
    match i.op_kind(n) {
        OpKind::Register => i.op_register(n).is_gpr(),
        _ => true,
    }
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Mov if is_plain(i, 0) && is_plain(i, 1) => mov(e, &Opnd::of(i, 0), &Opnd::of(i, 1))?,
        Movzx => mov(e, &Opnd::of(i, 0), &Opnd::of(i, 1))?,
        Movsx | Movsxd => movsx(e, &Opnd::of(i, 0), &Opnd::of(i, 1), op_size(i, 1))?,
        Lea => lea(e, &Opnd::of(i, 0), &Mem::of(i))?,
        Xchg => {
            let a = read_op(e, i, 0)?;
            let b = read_op(e, i, 1)?;
            if i.op_kind(0) == OpKind::Memory {
                write_op(e, i, 0, b)?;
                write_op(e, i, 1, a)?;
            } else {
                write_op(e, i, 1, a)?;
                write_op(e, i, 0, b)?;
            }
        }
        Cmovo | Cmovno | Cmovb | Cmovae | Cmove | Cmovne | Cmovbe | Cmova | Cmovs | Cmovns
        | Cmovp | Cmovnp | Cmovl | Cmovge | Cmovle | Cmovg => {
            cmov(e, condition(i), &Opnd::of(i, 0), &Opnd::of(i, 1))?
        }
        Seto | Setno | Setb | Setae | Sete | Setne | Setbe | Seta | Sets | Setns | Setp | Setnp
        | Setl | Setge | Setle | Setg => setcc(e, condition(i), &Opnd::of(i, 0))?,
        Bswap => {
            let s = op_size(i, 0);
            let v = read_op(e, i, 0)?;
            let r = e.bswap(v);
            let r = if s == 4 {
                let sh = e.imm(32);
                e.shr(r, sh)
            } else {
                r
            };
            write_op(e, i, 0, r)?;
        }
        Cbw | Cwde | Cdqe => {
            let to = match i.mnemonic() {
                Cbw => 2,
                Cwde => 4,
                _ => 8,
            };
            let g = Gpr {
                idx: reg::RAX,
                size: to / 2,
                high8: false,
            };
            let v = read_gpr(e, g);
            let v = sext(e, v, to / 2);
            write_gpr(e, Gpr { size: to, ..g }, v);
        }
        Cwd | Cdq | Cqo => {
            let s = match i.mnemonic() {
                Cwd => 2,
                Cdq => 4,
                _ => 8,
            };
            let a = e.gpr(reg::RAX);
            let a = sext(e, a, s);
            let sh = e.imm(63);
            let d = e.sar(a, sh);
            write_gpr(
                e,
                Gpr {
                    idx: reg::RDX,
                    size: s,
                    high8: false,
                },
                d,
            );
        }
        Xadd => {
            let s = op_size(i, 0);
            let a = read_op(e, i, 0)?;
            let b = read_op(e, i, 1)?;
            let r = e.add(a, b);
            // DEST gets the sum last, so `xadd r, r` leaves the sum; a memory
            // destination is written first (memory before registers).
            if i.op_kind(0) == OpKind::Memory {
                write_op(e, i, 0, r)?;
                write_op(e, i, 1, a)?;
            } else {
                write_op(e, i, 1, a)?;
                write_op(e, i, 0, r)?;
            }
            set_flags(e, CcKind::Add, s, r, a, b);
        }
        Cmpxchg => cmpxchg(e, i)?,
        Cmpxchg8b | Cmpxchg16b => cmpxchg_wide(e, i)?,
        Lahf => {
            let f = arith_flags(e)?;
            let m = e.imm(0xd5);
            let f = e.and(f, m);
            let two = e.imm(2);
            let f = e.or(f, two);
            write_gpr(e, ah(), f);
        }
        Sahf => {
            let ahv = read_gpr(e, ah());
            let m = e.imm(0xd5);
            let low = e.and(ahv, m);
            let f = arith_flags(e)?;
            let keep = e.imm(fl::OF);
            let of = e.and(f, keep);
            let v = e.or(low, of);
            set_eflags(e, v);
        }
        Clc | Stc | Cmc => {
            let f = arith_flags(e)?;
            let cf = e.imm(fl::CF);
            let v = match i.mnemonic() {
                Clc => {
                    let n = e.not(cf);
                    e.and(f, n)
                }
                Stc => e.or(f, cf),
                _ => e.xor(f, cf),
            };
            set_eflags(e, v);
        }
        Cld | Std => {
            let s = e.rflags_sys();
            let df = e.imm(fl::DF);
            let v = if i.mnemonic() == Cld {
                let n = e.not(df);
                e.and(s, n)
            } else {
                e.or(s, df)
            };
            e.set_rflags_sys(v);
        }
        Xlatb => {
            // iced-x86 decodes XLAT's operand as [rBX + AL] (AL as the index), so
            // `mem_addr` already includes AL; add it only if a decoder did not.
            let base = mem_addr(e, i);
            let a = if i.memory_index() == iced_x86::Register::AL {
                base
            } else {
                let al = e.gpr(reg::RAX);
                let al = mask(e, al, 1);
                e.add(base, al)
            };
            let v = e.load(a, 1)?;
            write_gpr(
                e,
                Gpr {
                    idx: reg::RAX,
                    size: 1,
                    high8: false,
                },
                v,
            );
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// MOV and MOVZX: `dst = src` (zero-extended by the read).
#[inline(always)]
pub fn mov<E: Emitter>(e: &mut E, dst: &Opnd, src: &Opnd) -> Sem {
    let v = read(e, src)?;
    write(e, dst, v)
}

/// MOVSX / MOVSXD from a `from`-byte source.
#[inline(always)]
pub fn movsx<E: Emitter>(e: &mut E, dst: &Opnd, src: &Opnd, from: u8) -> Sem {
    let v = read(e, src)?;
    let v = sext(e, v, from);
    write(e, dst, v)
}

#[inline(always)]
pub fn lea<E: Emitter>(e: &mut E, dst: &Opnd, m: &Mem) -> Sem {
    let a = ea(e, m);
    write(e, dst, a)
}

/// CMOVcc: both operands are read whatever the condition (a memory source faults
/// even when the move does not happen) and the destination is always written.
#[inline(always)]
pub fn cmov<E: Emitter>(e: &mut E, c: Cond, dst: &Opnd, src: &Opnd) -> Sem {
    let c = cond(e, c)?;
    cmov_if(e, c, dst, src)
}

/// [`cmov`] with the condition already evaluated to `c` (0 or 1; the interpreter's
/// pre-decoded forms evaluate it from their stored flag record). Evaluating it first
/// changes nothing a guest can see: a condition reads the flags and nothing else.
#[inline(always)]
pub fn cmov_if<E: Emitter>(e: &mut E, c: E::V, dst: &Opnd, src: &Opnd) -> Sem {
    let s = read(e, src)?;
    let old = read(e, dst)?;
    let v = e.select(c, s, old);
    write(e, dst, v)
}

#[inline(always)]
pub fn setcc<E: Emitter>(e: &mut E, c: Cond, dst: &Opnd) -> Sem {
    let c = cond(e, c)?;
    setcc_if(e, c, dst)
}

/// [`setcc`] with the condition already evaluated to `c` (see [`cmov_if`]).
#[inline(always)]
pub fn setcc_if<E: Emitter>(e: &mut E, c: E::V, dst: &Opnd) -> Sem {
    write(e, dst, c)
}

fn ah() -> Gpr {
    Gpr {
        idx: reg::RAX,
        size: 1,
        high8: true,
    }
}

/// The condition of a Jcc/SETcc/CMOVcc.
pub fn condition(i: &Instruction) -> Cond {
    Cond::from_iced(i.condition_code()).unwrap_or(Cond::O)
}

fn cmpxchg<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let s = op_size(i, 0);
    let dst = read_op(e, i, 0)?;
    let src = read_op(e, i, 1)?;
    let acc_g = Gpr {
        idx: reg::RAX,
        size: s,
        high8: false,
    };
    let acc = read_gpr(e, acc_g);
    let eq = e.cmp(Cmp::Eq, acc, dst);
    let dst_reg = match i.op_kind(0) {
        OpKind::Register => gpr_of(i.op_register(0)),
        _ => None,
    };
    // A memory destination is always written (and first). A register destination is
    // written only on success: on failure a 32-bit register keeps its upper half.
    if dst_reg.is_none() {
        let new_dst = e.select(eq, src, dst);
        write_op(e, i, 0, new_dst)?;
    }
    // The accumulator is written only on failure (so `cmpxchg eax, ecx`, whose
    // comparison always succeeds, leaves RAX to the destination write below).
    if s >= 4 {
        let full = e.gpr(reg::RAX);
        let v = e.select(eq, full, dst);
        e.set_gpr(reg::RAX, v);
    } else {
        let v = e.select(eq, acc, dst);
        write_gpr(e, acc_g, v);
    }
    if let Some(g) = dst_reg {
        if s == 4 {
            let old = e.gpr(g.idx);
            let v = e.select(eq, src, old);
            e.set_gpr(g.idx, v);
        } else {
            let old = read_gpr(e, g);
            let v = e.select(eq, src, old);
            write_gpr(e, g, v);
        }
    }
    let r = e.sub(acc, dst);
    set_flags(e, CcKind::Sub, s, r, acc, dst);
    Ok(())
}

fn cmpxchg_wide<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let wide = i.mnemonic() == Mnemonic::Cmpxchg16b;
    let a = mem_addr(e, i);
    let half = if wide { 8 } else { 4 };
    if wide {
        let m = e.imm(15);
        let low = e.and(a, m);
        let z = e.imm(0);
        let mis = e.cmp(Cmp::Ne, low, z);
        e.raise_if(mis, Fault::gp0())?;
    }
    let (lo, hi) = if wide {
        let lo = e.load(a, 8)?;
        let eight = e.imm(8);
        let a8 = e.add(a, eight);
        let hi = e.load(a8, 8)?;
        (lo, hi)
    } else {
        let v = e.load(a, 8)?;
        let lo = mask(e, v, 4);
        let sh = e.imm(32);
        let hi = e.shr(v, sh);
        (lo, hi)
    };
    let g = |idx| Gpr {
        idx,
        size: half,
        high8: false,
    };
    let ax = read_gpr(e, g(reg::RAX));
    let dx = read_gpr(e, g(reg::RDX));
    let bx = read_gpr(e, g(reg::RBX));
    let cx = read_gpr(e, g(reg::RCX));
    let e1 = e.cmp(Cmp::Eq, ax, lo);
    let e2 = e.cmp(Cmp::Eq, dx, hi);
    let eq = e.and(e1, e2);
    let new_lo = e.select(eq, bx, lo);
    let new_hi = e.select(eq, cx, hi);
    if wide {
        e.store(a, new_lo, 8)?;
        let eight = e.imm(8);
        let a8 = e.add(a, eight);
        e.store(a8, new_hi, 8)?;
    } else {
        let sh = e.imm(32);
        let h = e.shl(new_hi, sh);
        let v = e.or(h, new_lo);
        e.store(a, v, 8)?;
    }
    // On failure EDX:EAX (RDX:RAX) receive the memory value; on success they stay.
    let full_a = e.gpr(reg::RAX);
    let full_d = e.gpr(reg::RDX);
    let va = e.select(eq, full_a, lo);
    let vd = e.select(eq, full_d, hi);
    e.set_gpr(reg::RAX, va);
    e.set_gpr(reg::RDX, vd);
    let f = arith_flags(e)?;
    let zmask = e.imm(!fl::ZF);
    let f = e.and(f, zmask);
    let six = e.imm(6);
    let z = e.shl(eq, six);
    let f = e.or(f, z);
    set_eflags(e, f);
    let _ = read_op_sized::<E>;
    Ok(())
}

/// Instructions that do nothing architecturally visible here (hints, fences,
/// prefetches, all NOP forms). Tried last.
pub fn emit_misc<E: Emitter>(_e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Nop | Pause | Endbr64 | Endbr32 | Lfence | Sfence | Mfence | Prefetch | Prefetchw
        | Prefetchnta | Prefetcht0 | Prefetcht1 | Prefetcht2 | Clflush | Clflushopt => Ok(Some(())),
        _ => {
            let _ = gpr_of;
            Ok(None)
        }
    }
}
