//! Shifts and rotates: SHL/SAL SHR SAR (here), ROL ROR RCL RCR ([`rotate`]), SHLD SHRD
//! ([`double`]), at 8/16/32/64 bits on registers and memory.
//!
//! Counts are masked to 5 bits (6 for 64-bit operands). A masked count of zero changes
//! neither the flags nor the destination's value, but the destination is still written
//! back: a 32-bit register destination therefore has its upper half cleared, which is
//! what Intel CPUs do (`shl eax, cl` with CL = 0 zero-extends EAX into RAX, as any
//! 32-bit register write does), and a memory destination needs write permission.
//!
//! Flags the SDM leaves undefined get a fixed, cheap choice: AF is cleared by every
//! shift with a non-zero count; OF for counts other than 1 uses the count-1 formula
//! applied to the result (SHL: MSB(result) ^ CF, SHR: the two top bits of the result
//! XORed, SAR: 0); CF for 8/16-bit SHL/SHR counts beyond the operand width is the bit
//! a wide shifter would produce (0 for SHL/SHR, the sign for SAR).
//!
//! SHL/SHR/SAR record their flags lazily ([`crate::flags::CcKind::Shl`] and siblings:
//! the result and the last bit shifted out); the other shifts build them eagerly.

pub mod double;
pub mod flagbits;
pub mod rotate;

use super::operand::{op_size, read, read_gpr, write, Opnd};
use super::{arith_flags, set_eflags, set_flags};
use crate::emit::{Cmp, Emitter, Sem};
use crate::flags::{mask, sext, CcKind, CcOp, LazyFlags};
use flagbits::bit;
use iced_x86::{Instruction, Mnemonic};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Shl | Sal | Shr | Sar => shift(e, i)?,
        Rol | Ror => rotate::rol_ror(e, i)?,
        Rcl | Rcr => rotate::rcl_rcr(e, i)?,
        Shld | Shrd => double::shld_shrd(e, i)?,
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// A shift count after masking: known at translation time when it is an immediate.
#[derive(Clone, Copy, Debug)]
pub enum Count<V> {
    Static(u64),
    Dyn(V),
}

impl<V: Copy> Count<V> {
    /// True when the count is statically zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, Count::Static(0))
    }
    pub fn value<E: Emitter<V = V>>(&self, e: &mut E) -> V {
        match *self {
            Count::Static(c) => e.imm(c),
            Count::Dyn(v) => v,
        }
    }
}

/// Reads count operand `n` of an instruction with a `size`-byte destination, masked.
pub fn count<E: Emitter>(e: &mut E, i: &Instruction, n: u32, size: u8) -> Count<E::V> {
    count_of(e, &Opnd::of(i, n), size)
}

/// [`count`] from a resolved operand (an immediate or a register).
#[inline]
pub fn count_of<E: Emitter>(e: &mut E, o: &Opnd, size: u8) -> Count<E::V> {
    let cm = if size == 8 { 63 } else { 31 };
    match o {
        Opnd::Imm(v) => Count::Static(v & cm),
        Opnd::Gpr(g) => {
            let v = read_gpr(e, *g);
            let m = e.imm(cm);
            Count::Dyn(e.and(v, m))
        }
        _ => {
            let v = e.imm(0);
            let m = e.imm(cm);
            Count::Dyn(e.and(v, m))
        }
    }
}

/// Writes the destination (operand 0) and the explicit arithmetic flags. With a
/// run-time count, a zero count keeps the old value and the old flags (`old_flags`
/// when the caller already has them).
#[allow(clippy::too_many_arguments)]
pub fn commit<E: Emitter>(
    e: &mut E,
    i: &Instruction,
    c: Count<E::V>,
    dst: E::V,
    res: E::V,
    flags: E::V,
    old_flags: Option<E::V>,
) -> Sem {
    commit_to(e, &Opnd::of(i, 0), c, dst, res, flags, old_flags)
}

/// [`commit`] to a resolved destination.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn commit_to<E: Emitter>(
    e: &mut E,
    to: &Opnd,
    c: Count<E::V>,
    dst: E::V,
    res: E::V,
    flags: E::V,
    old_flags: Option<E::V>,
) -> Sem {
    match c {
        Count::Static(_) => {
            write(e, to, res)?;
            set_eflags(e, flags);
        }
        Count::Dyn(cv) => {
            let z = e.imm(0);
            let nz = e.cmp(Cmp::Ne, cv, z);
            let v = e.select(nz, res, dst);
            write(e, to, v)?;
            let old = match old_flags {
                Some(o) => o,
                None => arith_flags(e)?,
            };
            let f = e.select(nz, flags, old);
            set_eflags(e, f);
        }
    }
    Ok(())
}

/// SHL/SAL, SHR and SAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftKind {
    Shl,
    Shr,
    Sar,
}

impl ShiftKind {
    pub fn of(m: Mnemonic) -> Option<ShiftKind> {
        match m {
            Mnemonic::Shl | Mnemonic::Sal => Some(ShiftKind::Shl),
            Mnemonic::Shr => Some(ShiftKind::Shr),
            Mnemonic::Sar => Some(ShiftKind::Sar),
            _ => None,
        }
    }
}

fn shift<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let k = ShiftKind::of(i.mnemonic()).unwrap_or(ShiftKind::Shl);
    shift_ops(e, k, op_size(i, 0), &Opnd::of(i, 0), &Opnd::of(i, 1))
}

/// `to` shifted by `count` (`size`-byte destination).
#[inline(always)]
pub fn shift_ops<E: Emitter>(e: &mut E, k: ShiftKind, size: u8, to: &Opnd, count: &Opnd) -> Sem {
    let bits = size as u32 * 8;
    let dst = read(e, to)?;
    let c = count_of(e, count, size);
    if c.is_zero() {
        return write(e, to, dst);
    }
    let cv = c.value(e);
    let one = e.imm(1);
    // Shift by count-1 first: the bit that falls out last is then at the edge.
    let cm1 = e.sub(cv, one);
    let (res, cf, kind) = match k {
        ShiftKind::Shr => {
            let t = e.shr(dst, cm1);
            let cf = e.and(t, one);
            let r = e.shr(t, one);
            (r, cf, CcKind::Shr)
        }
        ShiftKind::Sar => {
            let s = sext(e, dst, size);
            let t = e.sar(s, cm1);
            let cf = e.and(t, one);
            let r = e.sar(t, one);
            let r = mask(e, r, size);
            (r, cf, CcKind::Sar)
        }
        ShiftKind::Shl => {
            let t = e.shl(dst, cm1);
            let cf = bit(e, t, bits - 1);
            let r = e.shl(t, one);
            let r = mask(e, r, size);
            (r, cf, CcKind::Shl)
        }
    };
    commit_lazy(e, to, c, dst, res, kind, size, cf)
}

/// Writes the destination and records the flags lazily as `kind` (result `res`,
/// last bit out `cf`). With a run-time count, a zero count keeps the old value and the
/// old flag record (the record's four fields are selected, so the operation kind is
/// then only known at run time).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn commit_lazy<E: Emitter>(
    e: &mut E,
    to: &Opnd,
    c: Count<E::V>,
    dst: E::V,
    res: E::V,
    kind: CcKind,
    size: u8,
    cf: E::V,
) -> Sem {
    let z = e.imm(0);
    match c {
        Count::Static(_) => {
            write(e, to, res)?;
            set_flags(e, kind, size, res, cf, z);
        }
        Count::Dyn(cv) => {
            let nz = e.cmp(Cmp::Ne, cv, z);
            let v = e.select(nz, res, dst);
            write(e, to, v)?;
            let old = e.flags();
            let op = CcOp::new(kind, size);
            let new_op = e.imm(op.encode());
            let dyn_op = e.select(nz, new_op, old.dyn_op);
            let r = e.select(nz, res, old.res);
            let s1 = e.select(nz, cf, old.s1);
            let s2 = e.select(nz, z, old.s2);
            e.set_flags(LazyFlags {
                op: None,
                dyn_op,
                res: r,
                s1,
                s2,
            });
        }
    }
    Ok(())
}
