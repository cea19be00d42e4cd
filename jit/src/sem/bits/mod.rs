//! Bit operations: BT BTS BTR BTC (here), BSF BSR TZCNT LZCNT POPCNT ([`scan`]) and the
//! BMI1 group ANDN BEXTR BLSI BLSMSK BLSR ([`bmi`], reported by CPUID leaf 7).
//!
//! BT*: CF receives the selected bit; ZF is unaffected and OF/SF/AF/PF (undefined) are
//! kept as they were. With a register bit offset and a memory operand, the offset is a
//! signed number that may address bits outside the operand: the access moves by
//! `(offset >> log2(bits)) * bytes` and the bit is `offset mod bits`. Immediate offsets
//! and register destinations take the offset modulo the operand width.

pub mod bmi;
pub mod scan;

use super::arith_flags;
use super::operand::write_op;
use super::operand::{address_size, effective_address, linear, mem_segment, op_size, read_op};
use super::set_eflags;
use super::shift::flagbits::replace;
use crate::emit::{Emitter, Sem};
use crate::flags::{mask, sext};
use crate::state::fl;
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Bt | Bts | Btr | Btc => bit_test(e, i)?,
        Bsf | Bsr | Tzcnt | Lzcnt | Popcnt => scan::emit(e, i)?,
        Andn | Bextr | Blsi | Blsmsk | Blsr => bmi::emit(e, i)?,
        _ => return Ok(None),
    }
    Ok(Some(()))
}

fn bit_test<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    use Mnemonic::*;
    let size = op_size(i, 0);
    let bits = size as u64 * 8;
    let off = read_op(e, i, 1)?;
    let far = i.op_kind(0) == OpKind::Memory && i.op_kind(1) == OpKind::Register;
    // For a far memory operand, the address of the operand-sized unit holding the bit.
    let addr = if far {
        let so = sext(e, off, size);
        let sh = e.imm(bits.trailing_zeros() as u64);
        let q = e.sar(so, sh);
        let bsh = e.imm(size.trailing_zeros() as u64);
        let disp = e.shl(q, bsh);
        let ea = effective_address(e, i);
        let ea = e.add(ea, disp);
        let ea = mask(e, ea, address_size(i));
        Some(linear(e, i, mem_segment(i), ea))
    } else {
        None
    };
    let v = match addr {
        Some(a) => e.load(a, size)?,
        None => read_op(e, i, 0)?,
    };
    let m = e.imm(bits - 1);
    let n = e.and(off, m);
    let t = e.shr(v, n);
    let one = e.imm(1);
    let cf = e.and(t, one);
    let sel = e.shl(one, n);
    let nv = match i.mnemonic() {
        Bts => Some(e.or(v, sel)),
        Btr => {
            let ns = e.not(sel);
            Some(e.and(v, ns))
        }
        Btc => Some(e.xor(v, sel)),
        _ => None,
    };
    if let Some(nv) = nv {
        match addr {
            Some(a) => e.store(a, nv, size)?,
            None => write_op(e, i, 0, nv)?,
        }
    }
    let old = arith_flags(e)?;
    let f = replace(e, old, fl::CF, cf);
    set_eflags(e, f);
    Ok(())
}
