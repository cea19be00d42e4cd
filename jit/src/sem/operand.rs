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
    GPRS.get(r as usize).copied().flatten()
}

/// [`gpr_of`] as a table (a lookup instead of a chain of range tests: it runs for
/// every register operand the groups decode).
const GPRS: [Option<Gpr>; 69] = gpr_table();

const fn gpr_table() -> [Option<Gpr>; 69] {
    let mut t = [None; 69];
    let mut n = 1;
    while n < 69 {
        let (idx, size, high8) = match n {
            1..=4 => (n - 1, 1, false),
            5..=8 => (n - 5, 1, true),
            9..=20 => (n - 5, 1, false),
            21..=36 => (n - 21, 2, false),
            37..=52 => (n - 37, 4, false),
            _ => (n - 53, 8, false),
        };
        t[n] = Some(Gpr { idx, size, high8 });
        n += 1;
    }
    t
}

/// Reads a general-purpose register, zero-extended.
#[inline(always)]
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
#[inline(always)]
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

/// No register (in [`Mem::base`] / [`Mem::index`]).
pub const NO_REG: u8 = u8::MAX;

/// A memory operand resolved once from iced-x86's accessors: everything the effective
/// and linear address computations need. RIP-relative operands come with the absolute
/// address in `disp` (iced-x86 resolves them) and no base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    pub disp: u64,
    /// GPR number of the base, or [`NO_REG`].
    pub base: u8,
    /// GPR number of the index, or [`NO_REG`].
    pub index: u8,
    /// log2 of the index scale.
    pub shift: u8,
    /// Size in bytes of the base and index registers (XLAT's index, AL, is narrower
    /// than the address: it is zero-extended first).
    pub base_size: u8,
    pub index_size: u8,
    /// Address size in bytes (8, 4 or 2).
    pub asize: u8,
    /// Segment register index.
    pub seg: u8,
    /// Access size in bytes (iced-x86's memory size).
    pub size: u8,
    /// 64-bit code (only FS and GS have bases).
    pub long: bool,
}

impl Mem {
    /// The memory operand of `i`.
    pub fn of(i: &Instruction) -> Mem {
        Mem::sized(i, i.memory_size().size() as u8)
    }

    /// The memory operand of `i` with access size `size` (0 where only the address
    /// is wanted).
    #[inline]
    pub fn sized(i: &Instruction, size: u8) -> Mem {
        let base = i.memory_base();
        let index = i.memory_index();
        let code = i.code_size();
        let long = code == iced_x86::CodeSize::Code64;
        let seg = mem_segment(i) as u8;
        let asize = address_size_of(base, index, code);
        if base == Register::RIP || base == Register::EIP {
            let a = i.memory_displacement64();
            return Mem {
                disp: if base == Register::EIP {
                    a & 0xffff_ffff
                } else {
                    a
                },
                base: NO_REG,
                index: NO_REG,
                shift: 0,
                base_size: 8,
                index_size: 8,
                asize,
                seg,
                size,
                long,
            };
        }
        let num = |r: Register| match gpr_of(r) {
            Some(g) if !g.high8 => (g.idx as u8, g.size),
            _ => (NO_REG, 8),
        };
        let (b, base_size) = num(base);
        let (x, index_size) = num(index);
        Mem {
            disp: i.memory_displacement64(),
            base: b,
            index: x,
            shift: i.memory_index_scale().trailing_zeros() as u8,
            base_size,
            index_size,
            asize,
            seg,
            size,
            long,
        }
    }
}

/// An operand resolved once: a general-purpose register, memory, an immediate (already
/// sign-extended as iced-x86 reports it), or something else (reads as 0, writes are
/// dropped, as [`read_reg`] / [`write_reg`] do for registers that are not GPRs).
#[derive(Clone, Copy, Debug)]
pub enum Opnd {
    Gpr(Gpr),
    Mem(Mem),
    Imm(u64),
    Other,
}

impl Opnd {
    /// Operand `n` of `i`.
    pub fn of(i: &Instruction, n: u32) -> Opnd {
        match i.op_kind(n) {
            OpKind::Register => match gpr_of(i.op_register(n)) {
                Some(g) => Opnd::Gpr(g),
                None => Opnd::Other,
            },
            OpKind::Memory => Opnd::Mem(Mem::of(i)),
            _ => Opnd::Imm(i.immediate(n)),
        }
    }
    pub fn is_mem(&self) -> bool {
        matches!(self, Opnd::Mem(_))
    }
}

/// The effective address (offset within the segment) of a memory operand, as LEA
/// computes it, truncated to the address size.
#[inline(always)]
pub fn ea<E: Emitter>(e: &mut E, m: &Mem) -> E::V {
    let mut a = e.imm(m.disp);
    // Registers as wide as the address need no masking of their own: the sum is
    // truncated to the address size at the end.
    if m.base != NO_REG {
        let b = e.gpr(m.base as usize);
        let b = if m.base_size < m.asize {
            mask(e, b, m.base_size)
        } else {
            b
        };
        a = e.add(a, b);
    }
    if m.index != NO_REG {
        let x = e.gpr(m.index as usize);
        let x = if m.index_size < m.asize {
            mask(e, x, m.index_size)
        } else {
            x
        };
        let x = if m.shift > 0 {
            let sh = e.imm(m.shift as u64);
            e.shl(x, sh)
        } else {
            x
        };
        a = e.add(a, x);
    }
    mask(e, a, m.asize)
}

/// The linear address of a memory operand.
#[inline(always)]
pub fn mem_linear<E: Emitter>(e: &mut E, m: &Mem) -> E::V {
    let off = ea(e, m);
    linear_in(e, m.long, m.seg as usize, off)
}

/// Reads an operand, zero-extended from its size.
#[inline(always)]
pub fn read<E: Emitter>(e: &mut E, o: &Opnd) -> Sem<E::V> {
    Ok(match o {
        Opnd::Gpr(g) => read_gpr(e, *g),
        Opnd::Mem(m) => {
            let a = mem_linear(e, m);
            e.load(a, m.size)?
        }
        Opnd::Imm(v) => e.imm(*v),
        Opnd::Other => e.imm(0),
    })
}

/// Writes an operand (a register or memory; other kinds are ignored).
#[inline(always)]
pub fn write<E: Emitter>(e: &mut E, o: &Opnd, v: E::V) -> Sem {
    match o {
        Opnd::Gpr(g) => {
            write_gpr(e, *g, v);
            Ok(())
        }
        Opnd::Mem(m) => {
            let a = mem_linear(e, m);
            e.store(a, v, m.size)
        }
        _ => Ok(()),
    }
}

/// The effective address (offset within the segment) of the memory operand, as LEA
/// computes it, truncated to the address size.
pub fn effective_address<E: Emitter>(e: &mut E, i: &Instruction) -> E::V {
    ea(e, &Mem::sized(i, 0))
}

/// Address size in bytes (8, 4 or 2).
pub fn address_size(i: &Instruction) -> u8 {
    address_size_of(i.memory_base(), i.memory_index(), i.code_size())
}

#[inline]
fn address_size_of(base: Register, index: Register, code: iced_x86::CodeSize) -> u8 {
    let r = if base != Register::None { base } else { index };
    if r != Register::None && r != Register::RIP && r != Register::EIP {
        return r.size() as u8;
    }
    if base == Register::EIP {
        return 4;
    }
    match code {
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
    linear_in(e, i.code_size() == iced_x86::CodeSize::Code64, s, offset)
}

/// [`linear`] for code known to be 64-bit (`long`) or not.
#[inline(always)]
pub fn linear_in<E: Emitter>(e: &mut E, long: bool, s: usize, offset: E::V) -> E::V {
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
    mem_linear(e, &Mem::sized(i, 0))
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
    read(e, &Opnd::of(i, n))
}

/// Reads operand `n` at an explicit size (for memory operands whose iced-x86 memory
/// size is not the access size).
pub fn read_op_sized<E: Emitter>(e: &mut E, i: &Instruction, n: u32, size: u8) -> Sem<E::V> {
    if i.op_kind(n) == OpKind::Memory {
        read(e, &Opnd::Mem(Mem::sized(i, size)))
    } else {
        read(e, &Opnd::of(i, n))
    }
}

/// Writes operand `n` (a register or memory).
#[inline]
pub fn write_op<E: Emitter>(e: &mut E, i: &Instruction, n: u32, v: E::V) -> Sem {
    write(e, &Opnd::of(i, n), v)
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
