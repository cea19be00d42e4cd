//! String instructions: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS at 1/2/4/8 bytes, with
//! REP / REPE / REPNE, DF = 0 and DF = 1, address sizes 64/32/16 (RSI/RDI/RCX vs
//! ESI/EDI/ECX vs SI/DI/CX) and a segment override on the source (DS default; the
//! ES:rDI destination cannot be overridden).
//!
//! # Counting contract
//!
//! A REP-prefixed instruction retires one instruction per iteration (as QEMU's icount
//! does); with a zero count it retires one. So `rep movsb` with RCX = 5 advances
//! `icount` by 5, and with RCX = 0 by 1.
//!
//! # Implementation
//!
//! - Non-REP MOVS/STOS/LODS/CMPS/SCAS are inline emitter semantics (both tiers): the
//!   direction comes from DF at run time (`select`), all memory accesses happen before
//!   any register or flag is written.
//! - REP forms, and INS/OUTS with or without REP, call [`helper_string`]
//!   (`Helper::StringOp`) and then jump to the RIP it returns, which ends the block
//!   (see [`ends_block`]). The helper performs up to
//!   `max(1, icount_deadline - icount)` iterations (and at most the count register),
//!   updates rSI/rDI/rCX and, for CMPS/SCAS, the lazy flags of the last comparison,
//!   adds `iterations - 1` to `icount` (the caller counts the last one), and returns
//!   the instruction's own address while iterations remain, else the next one.
//!   A fault stops with the state of the faulting iteration (registers updated for the
//!   completed iterations, which are counted in `icount`); the fault is raised with
//!   RIP at the instruction, as on hardware.
//! - `rep movs` / `rep stos` with DF = 0 take a fast path that works a page at a time
//!   on host slices when source and destination are RAM without translated code;
//!   overlapping copies keep the element-by-element result.
//! - Segment limits are not checked (flat segments are assumed outside 64-bit mode).

mod helper;

pub use helper::helper_string;

use super::operand::{linear, write_gpr, Gpr};
use super::set_flags;
use crate::emit::{Emitter, Sem};
use crate::flags::{mask, CcKind};
use crate::helpers::Helper;
use crate::state::{fl, reg, seg};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// The string operations, as encoded in bits 0..4 of the helper's first argument.
pub mod op {
    pub const MOVS: u64 = 1;
    pub const STOS: u64 = 2;
    pub const LODS: u64 = 3;
    pub const CMPS: u64 = 4;
    pub const SCAS: u64 = 5;
    pub const INS: u64 = 6;
    pub const OUTS: u64 = 7;
}

/// Repeat kinds, bits 16..18 of the helper's first argument.
pub mod rep {
    pub const NONE: u64 = 0;
    /// REP (MOVS/STOS/LODS/INS/OUTS) or REPE (CMPS/SCAS).
    pub const REPE: u64 = 1;
    pub const REPNE: u64 = 2;
}

/// The decoded form of a string instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrOp {
    pub op: u64,
    pub size: u8,
    /// Address size in bytes: 8, 4 or 2.
    pub asize: u8,
    /// Source segment (DS unless overridden).
    pub seg: usize,
    pub rep: u64,
    /// 64-bit code: only FS/GS bases apply.
    pub long: bool,
}

impl StrOp {
    /// Packs the operation into the helper's first argument.
    pub fn encode(&self) -> u64 {
        self.op
            | (self.size as u64) << 4
            | (self.asize as u64) << 8
            | (self.seg as u64) << 12
            | self.rep << 16
            | (self.long as u64) << 20
    }
    pub fn decode(v: u64) -> StrOp {
        let size = match (v >> 4) & 15 {
            1 => 1,
            2 => 2,
            4 => 4,
            _ => 8,
        };
        let asize = match (v >> 8) & 15 {
            2 => 2,
            4 => 4,
            _ => 8,
        };
        StrOp {
            op: v & 15,
            size,
            asize,
            seg: ((v >> 12) & 7) as usize % 6,
            rep: (v >> 16) & 3,
            long: (v >> 20) & 1 != 0,
        }
    }
}

/// Recognises a string instruction (not the SSE MOVSD/CMPSD that share mnemonics).
pub fn decode(i: &Instruction) -> Option<StrOp> {
    use Mnemonic::*;
    let (op, size) = match i.mnemonic() {
        Movsb => (op::MOVS, 1),
        Movsw => (op::MOVS, 2),
        Movsd => (op::MOVS, 4),
        Movsq => (op::MOVS, 8),
        Stosb => (op::STOS, 1),
        Stosw => (op::STOS, 2),
        Stosd => (op::STOS, 4),
        Stosq => (op::STOS, 8),
        Lodsb => (op::LODS, 1),
        Lodsw => (op::LODS, 2),
        Lodsd => (op::LODS, 4),
        Lodsq => (op::LODS, 8),
        Cmpsb => (op::CMPS, 1),
        Cmpsw => (op::CMPS, 2),
        Cmpsd => (op::CMPS, 4),
        Cmpsq => (op::CMPS, 8),
        Scasb => (op::SCAS, 1),
        Scasw => (op::SCAS, 2),
        Scasd => (op::SCAS, 4),
        Scasq => (op::SCAS, 8),
        Insb => (op::INS, 1),
        Insw => (op::INS, 2),
        Insd => (op::INS, 4),
        Outsb => (op::OUTS, 1),
        Outsw => (op::OUTS, 2),
        Outsd => (op::OUTS, 4),
        _ => return None,
    };
    let mut asize = None;
    for n in 0..i.op_count() {
        asize = asize.or(match i.op_kind(n) {
            OpKind::MemorySegRSI | OpKind::MemoryESRDI => Some(8),
            OpKind::MemorySegESI | OpKind::MemoryESEDI => Some(4),
            OpKind::MemorySegSI | OpKind::MemoryESDI => Some(2),
            _ => None,
        });
    }
    // SSE MOVSD/CMPSD have register/memory operands, never the string kinds.
    let asize = asize?;
    let cmp = op == op::CMPS || op == op::SCAS;
    let rep = if i.has_repne_prefix() {
        if cmp {
            rep::REPNE
        } else {
            rep::REPE
        }
    } else if i.has_rep_prefix() || i.has_repe_prefix() {
        rep::REPE
    } else {
        rep::NONE
    };
    let seg = if matches!(op, op::MOVS | op::LODS | op::CMPS | op::OUTS) {
        super::operand::mem_segment(i)
    } else {
        seg::ES
    };
    Some(StrOp {
        op,
        size,
        asize,
        seg,
        rep,
        long: i.code_size() == iced_x86::CodeSize::Code64,
    })
}

/// String instructions that go through the helper end their block (REP forms and port
/// I/O): the helper decides the next RIP at run time.
pub fn ends_block(i: &Instruction) -> bool {
    decode(i).is_some_and(|s| s.rep != rep::NONE || matches!(s.op, op::INS | op::OUTS))
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    let Some(s) = decode(i) else {
        return Ok(None);
    };
    if s.rep != rep::NONE || matches!(s.op, op::INS | op::OUTS) {
        let code = e.imm(s.encode());
        let ip = e.imm(i.ip());
        let next = e.imm(i.next_ip());
        let rip = e.helper(Helper::StringOp, &[code, ip, next])?;
        e.jump(rip);
        return Ok(Some(()));
    }
    inline(e, i, s)?;
    Ok(Some(()))
}

/// rSI or rDI truncated to the address size.
fn index_reg<E: Emitter>(e: &mut E, r: usize, asize: u8) -> E::V {
    let v = e.gpr(r);
    mask(e, v, asize)
}

/// Writes an index register with the address-size rules (32-bit writes zero-extend,
/// 16-bit writes keep the upper bits).
fn set_index<E: Emitter>(e: &mut E, r: usize, asize: u8, v: E::V) {
    write_gpr(
        e,
        Gpr {
            idx: r,
            size: asize,
            high8: false,
        },
        v,
    );
}

fn inline<E: Emitter>(e: &mut E, i: &Instruction, s: StrOp) -> Sem {
    let size = s.size;
    // delta = DF ? -size : +size
    let sys = e.rflags_sys();
    let dfm = e.imm(fl::DF);
    let df = e.and(sys, dfm);
    let up = e.imm(size as u64);
    let down = e.imm((size as u64).wrapping_neg());
    let delta = e.select(df, down, up);

    let uses_src = matches!(s.op, op::MOVS | op::LODS | op::CMPS);
    let uses_dst = matches!(s.op, op::MOVS | op::STOS | op::CMPS | op::SCAS);
    let si = index_reg(e, reg::RSI, s.asize);
    let di = index_reg(e, reg::RDI, s.asize);
    let src = linear(e, i, s.seg, si);
    let dst = linear(e, i, seg::ES, di);
    let rax = e.gpr(reg::RAX);
    let acc = mask(e, rax, size);

    match s.op {
        op::MOVS => {
            let v = e.load(src, size)?;
            e.store(dst, v, size)?;
        }
        op::STOS => e.store(dst, acc, size)?,
        op::LODS => {
            let v = e.load(src, size)?;
            write_gpr(
                e,
                Gpr {
                    idx: reg::RAX,
                    size,
                    high8: false,
                },
                v,
            );
        }
        op::CMPS => {
            let a = e.load(src, size)?;
            let b = e.load(dst, size)?;
            let r = e.sub(a, b);
            set_flags(e, CcKind::Sub, size, r, a, b);
        }
        _ => {
            // SCAS
            let b = e.load(dst, size)?;
            let r = e.sub(acc, b);
            set_flags(e, CcKind::Sub, size, r, acc, b);
        }
    }
    if uses_src {
        let n = e.add(si, delta);
        set_index(e, reg::RSI, s.asize, n);
    }
    if uses_dst {
        let n = e.add(di, delta);
        set_index(e, reg::RDI, s.asize, n);
    }
    Ok(())
}
