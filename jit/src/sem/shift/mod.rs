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

pub mod double;
pub mod flagbits;
pub mod rotate;

use super::operand::{op_size, read_op, read_reg, write_op};
use super::{arith_flags, set_eflags};
use crate::emit::{Cmp, Emitter, Sem};
use crate::flags::{mask, sext, sign_bit};
use flagbits::{bit, szp, with_cf_of};
use iced_x86::{Instruction, Mnemonic, OpKind};

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
    let cm = if size == 8 { 63 } else { 31 };
    match i.op_kind(n) {
        OpKind::Register => {
            let v = read_reg(e, i.op_register(n));
            let m = e.imm(cm);
            Count::Dyn(e.and(v, m))
        }
        _ => Count::Static(i.immediate(n) & cm),
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
    match c {
        Count::Static(_) => {
            write_op(e, i, 0, res)?;
            set_eflags(e, flags);
        }
        Count::Dyn(cv) => {
            let z = e.imm(0);
            let nz = e.cmp(Cmp::Ne, cv, z);
            let v = e.select(nz, res, dst);
            write_op(e, i, 0, v)?;
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

fn shift<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    use Mnemonic::*;
    let size = op_size(i, 0);
    let bits = size as u32 * 8;
    let dst = read_op(e, i, 0)?;
    let c = count(e, i, 1, size);
    if c.is_zero() {
        return write_op(e, i, 0, dst);
    }
    let cv = c.value(e);
    let one = e.imm(1);
    // Shift by count-1 first: the bit that falls out last is then at the edge.
    let cm1 = e.sub(cv, one);
    let (res, cf, of) = match i.mnemonic() {
        Shr => {
            let t = e.shr(dst, cm1);
            let cf = e.and(t, one);
            let r = e.shr(t, one);
            let r2 = e.shl(r, one);
            let x = e.xor(r, r2);
            let of = bit(e, x, bits - 1);
            (r, cf, of)
        }
        Sar => {
            let s = sext(e, dst, size);
            let t = e.sar(s, cm1);
            let cf = e.and(t, one);
            let r = e.sar(t, one);
            let r = mask(e, r, size);
            let of = e.imm(0);
            (r, cf, of)
        }
        _ => {
            let t = e.shl(dst, cm1);
            let cf = bit(e, t, bits - 1);
            let r = e.shl(t, one);
            let r = mask(e, r, size);
            let s = sign_bit(e, r, size);
            let of = e.xor(s, cf);
            (r, cf, of)
        }
    };
    let f = szp(e, res, size);
    let f = with_cf_of(e, f, cf, of);
    commit(e, i, c, dst, res, f, None)
}
