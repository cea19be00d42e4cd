//! Operand access shared by all instruction groups.

use crate::emit::{Emitter, Sem};
use crate::flags::{mask, size_mask};
use crate::state::seg;
use iced_x86::{Instruction, OpKind, Register};

/// A general-purpose register operand: which register, how wide, and whether it is one
/// of AH/CH/DH/BH.
#[derive(Clone, Copy, Debug)]
pub struct Gpr {
    pub idx: usize,
    pub size: u8,
    pub high8: bool,
}

/// Decodes a general-purpose register from iced-x86's register numbering (AL..R15L,
/// AX..R15W, EAX..R15D, RAX..R15 are contiguous; the unit test checks this against
/// iced-x86's own tables).
#[inline]
pub fn gpr_of(r: Register) -> Option<Gpr> {
    let n = r as usize;
    let (idx, size, high8) = match n {
        1..=4 => (n - 1, 1, false),
        5..=8 => (n - 5, 1, true),
        9..=20 => (n - 5, 1, false),
        21..=36 => (n - 21, 2, false),
        37..=52 => (n - 37, 4, false),
        53..=68 => (n - 53, 8, false),
        _ => return None,
    };
    Some(Gpr { idx, size, high8 })
}

/// Reads a general-purpose register, zero-extended.
#[inline]
pub fn read_gpr<E: Emitter>(e: &mut E, g: Gpr) -> E::V {
    let v = e.gpr(g.idx);
    if g.high8 {
        let sh = e.imm(8);
        let t = e.shr(v, sh);
        mask(e, t, 1)
    } else {
        mask(e, v, g.size)
    }
}

/// Writes a general-purpose register with x86's partial-write rules: 32-bit writes
/// zero the upper half, 8- and 16-bit writes keep the other bits.
#[inline]
pub fn write_gpr<E: Emitter>(e: &mut E, g: Gpr, v: E::V) {
    match (g.size, g.high8) {
        (8, _) => e.set_gpr(g.idx, v),
        (4, _) => {
            let m = mask(e, v, 4);
            e.set_gpr(g.idx, m)
        }
        (_, true) => {
            let old = e.gpr(g.idx);
            let keep = e.imm(!0xff00);
            let old = e.and(old, keep);
            let low = mask(e, v, 1);
            let sh = e.imm(8);
            let new = e.shl(low, sh);
            let r = e.or(old, new);
            e.set_gpr(g.idx, r)
        }
        (s, false) => {
            let old = e.gpr(g.idx);
            let keep = e.imm(!size_mask(s));
            let old = e.and(old, keep);
            let low = mask(e, v, s);
            let r = e.or(old, low);
            e.set_gpr(g.idx, r)
        }
    }
}

#[inline]
pub fn read_reg<E: Emitter>(e: &mut E, r: Register) -> E::V {
    match gpr_of(r) {
        Some(g) => read_gpr(e, g),
        None => e.imm(0),
    }
}

#[inline]
pub fn write_reg<E: Emitter>(e: &mut E, r: Register, v: E::V) {
    if let Some(g) = gpr_of(r) {
        write_gpr(e, g, v)
    }
}

/// The effective address (offset within the segment) of the memory operand, as LEA
/// computes it, truncated to the address size.
pub fn effective_address<E: Emitter>(e: &mut E, i: &Instruction) -> E::V {
    let base = i.memory_base();
    if base == Register::RIP || base == Register::EIP {
        // iced-x86 resolves RIP-relative operands to the absolute address.
        let a = i.memory_displacement64();
        let a = if base == Register::EIP {
            a & 0xffff_ffff
        } else {
            a
        };
        return e.imm(a);
    }
    let mut a = e.imm(i.memory_displacement64());
    if base != Register::None {
        let b = read_reg(e, base);
        a = e.add(a, b);
    }
    let index = i.memory_index();
    if index != Register::None {
        let x = read_reg(e, index);
        let scale = i.memory_index_scale();
        let x = if scale > 1 {
            let sh = e.imm(scale.trailing_zeros() as u64);
            e.shl(x, sh)
        } else {
            x
        };
        a = e.add(a, x);
    }
    let asize = address_size(i);
    mask(e, a, asize)
}

/// Address size in bytes (8, 4 or 2).
pub fn address_size(i: &Instruction) -> u8 {
    let base = i.memory_base();
    let index = i.memory_index();
    let r = if base != Register::None { base } else { index };
    if r != Register::None && r != Register::RIP && r != Register::EIP {
        return r.size() as u8;
    }
    if base == Register::EIP {
        return 4;
    }
    match i.code_size() {
        iced_x86::CodeSize::Code16 => 2,
        iced_x86::CodeSize::Code32 => 4,
        _ => 8,
    }
}

/// Segment register index for the memory operand.
pub fn mem_segment(i: &Instruction) -> usize {
    seg_index(i.memory_segment())
}

pub fn seg_index(r: Register) -> usize {
    match r {
        Register::ES => seg::ES,
        Register::CS => seg::CS,
        Register::SS => seg::SS,
        Register::FS => seg::FS,
        Register::GS => seg::GS,
        _ => seg::DS,
    }
}

/// Adds the segment base to an offset. In 64-bit mode only FS and GS have bases.
pub fn linear<E: Emitter>(e: &mut E, i: &Instruction, s: usize, offset: E::V) -> E::V {
    let long = i.code_size() == iced_x86::CodeSize::Code64;
    if long && s != seg::FS && s != seg::GS {
        return offset;
    }
    let b = e.seg_base(s);
    let a = e.add(offset, b);
    if long {
        a
    } else {
        mask(e, a, 4)
    }
}

/// Linear address of the instruction's memory operand.
pub fn mem_addr<E: Emitter>(e: &mut E, i: &Instruction) -> E::V {
    let ea = effective_address(e, i);
    linear(e, i, mem_segment(i), ea)
}

/// Size in bytes of operand `n`.
pub fn op_size(i: &Instruction, n: u32) -> u8 {
    match i.op_kind(n) {
        OpKind::Register => i.op_register(n).size() as u8,
        OpKind::Memory => i.memory_size().size() as u8,
        OpKind::Immediate8 => 1,
        OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
        OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
        _ => 8,
    }
}

/// Reads operand `n`, zero-extended from its size (immediates come sign-extended to
/// the operation size as iced-x86 reports them).
#[inline]
pub fn read_op<E: Emitter>(e: &mut E, i: &Instruction, n: u32) -> Sem<E::V> {
    Ok(match i.op_kind(n) {
        OpKind::Register => read_reg(e, i.op_register(n)),
        OpKind::Memory => {
            let a = mem_addr(e, i);
            e.load(a, i.memory_size().size() as u8)?
        }
        _ => e.imm(i.immediate(n)),
    })
}

/// Reads operand `n` at an explicit size (for memory operands whose iced-x86 memory
/// size is not the access size).
pub fn read_op_sized<E: Emitter>(e: &mut E, i: &Instruction, n: u32, size: u8) -> Sem<E::V> {
    Ok(match i.op_kind(n) {
        OpKind::Register => read_reg(e, i.op_register(n)),
        OpKind::Memory => {
            let a = mem_addr(e, i);
            e.load(a, size)?
        }
        _ => e.imm(i.immediate(n)),
    })
}

/// Writes operand `n` (a register or memory).
#[inline]
pub fn write_op<E: Emitter>(e: &mut E, i: &Instruction, n: u32, v: E::V) -> Sem {
    match i.op_kind(n) {
        OpKind::Register => {
            write_reg(e, i.op_register(n), v);
            Ok(())
        }
        OpKind::Memory => {
            let a = mem_addr(e, i);
            e.store(a, v, i.memory_size().size() as u8)
        }
        _ => Ok(()),
    }
}

/// Stack pointer width: 8 in 64-bit mode, else by SS.B (approximated by code size).
pub fn stack_size(i: &Instruction) -> u8 {
    match i.code_size() {
        iced_x86::CodeSize::Code64 => 8,
        iced_x86::CodeSize::Code16 => 2,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpr_table_matches_iced() {
        for n in 0..256u32 {
            let Ok(r) = Register::try_from(n as usize) else {
                continue;
            };
            match gpr_of(r) {
                Some(g) => {
                    assert!(r.is_gpr(), "{r:?}");
                    assert_eq!(g.size as usize, r.size(), "{r:?}");
                    assert_eq!(g.idx, r.full_register().number(), "{r:?}");
                    let high =
                        matches!(r, Register::AH | Register::CH | Register::DH | Register::BH);
                    assert_eq!(g.high8, high, "{r:?}");
                }
                None => assert!(!r.is_gpr(), "{r:?}"),
            }
        }
    }
}
