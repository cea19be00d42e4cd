//! Stack instructions: PUSH POP PUSHF POPF ENTER LEAVE, and the push/pop primitives
//! that CALL and RET use.

use super::operand::{op_size, read, stack_size, write, Opnd};
use super::{rflags, set_eflags};
use crate::emit::{Emitter, Sem};
use crate::flags::mask;
use crate::state::{fl, reg, seg};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// The stack as an instruction sees it: the stack pointer's width and whether the
/// code is 64-bit (SS has no base then). Resolved once per instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stk {
    pub width: u8,
    pub long: bool,
}

impl Stk {
    pub fn of(i: &Instruction) -> Stk {
        Stk {
            width: stack_size(i),
            long: i.code_size() == iced_x86::CodeSize::Code64,
        }
    }
}

/// Linear address of a stack slot.
fn stack_linear<E: Emitter>(e: &mut E, i: &Instruction, sp: E::V) -> E::V {
    stack_linear_s(e, Stk::of(i), sp)
}

#[inline(always)]
fn stack_linear_s<E: Emitter>(e: &mut E, k: Stk, sp: E::V) -> E::V {
    super::operand::linear_in(e, k.long, seg::SS, sp)
}

/// Writes the stack pointer at the stack width.
fn set_sp<E: Emitter>(e: &mut E, i: &Instruction, v: E::V) {
    set_sp_s(e, Stk::of(i), v)
}

/// Writes the stack pointer at the stack width.
#[inline(always)]
pub fn set_sp_s<E: Emitter>(e: &mut E, k: Stk, v: E::V) {
    if k.width == 8 {
        e.set_gpr(reg::RSP, v)
    } else {
        super::operand::write_gpr(
            e,
            super::operand::Gpr {
                idx: reg::RSP,
                size: k.width,
                high8: false,
            },
            v,
        )
    }
}

/// Stores `v` (`size` bytes) below the stack pointer; returns the new stack pointer
/// without writing it (the caller commits it after any other memory access).
pub fn push_store<E: Emitter>(e: &mut E, i: &Instruction, v: E::V, size: u8) -> Sem<E::V> {
    push_store_s(e, Stk::of(i), v, size)
}

/// [`push_store`] on a resolved stack.
#[inline(always)]
pub fn push_store_s<E: Emitter>(e: &mut E, k: Stk, v: E::V, size: u8) -> Sem<E::V> {
    let sp = e.gpr(reg::RSP);
    let n = e.imm(size as u64);
    let sp = e.sub(sp, n);
    let sp = mask(e, sp, k.width);
    let a = stack_linear_s(e, k, sp);
    e.store(a, v, size)?;
    Ok(sp)
}

pub fn push<E: Emitter>(e: &mut E, i: &Instruction, v: E::V, size: u8) -> Sem {
    push_s(e, Stk::of(i), v, size)
}

#[inline(always)]
pub fn push_s<E: Emitter>(e: &mut E, k: Stk, v: E::V, size: u8) -> Sem {
    let sp = push_store_s(e, k, v, size)?;
    set_sp_s(e, k, sp);
    Ok(())
}

/// Loads `size` bytes from the top of the stack; returns (value, new stack pointer),
/// the pointer not yet written.
pub fn pop_load<E: Emitter>(e: &mut E, i: &Instruction, size: u8) -> Sem<(E::V, E::V)> {
    pop_load_s(e, Stk::of(i), size)
}

/// [`pop_load`] on a resolved stack.
#[inline(always)]
pub fn pop_load_s<E: Emitter>(e: &mut E, k: Stk, size: u8) -> Sem<(E::V, E::V)> {
    let sp = e.gpr(reg::RSP);
    let sp = mask(e, sp, k.width);
    let a = stack_linear_s(e, k, sp);
    let v = e.load(a, size)?;
    let n = e.imm(size as u64);
    let sp = e.add(sp, n);
    Ok((v, sp))
}

/// PUSH of a GPR, memory or immediate operand of `size` bytes.
#[inline(always)]
pub fn push_op<E: Emitter>(e: &mut E, k: Stk, src: &Opnd, size: u8) -> Sem {
    let v = read(e, src)?;
    push_s(e, k, v, size)
}

/// POP into a GPR or memory operand of `size` bytes.
#[inline(always)]
pub fn pop_op<E: Emitter>(e: &mut E, k: Stk, dst: &Opnd, size: u8) -> Sem {
    let (v, sp) = pop_load_s(e, k, size)?;
    if dst.is_mem() {
        // POP to memory computes the address with the incremented RSP.
        let old = e.gpr(reg::RSP);
        set_sp_s(e, k, sp);
        if let Err(f) = write(e, dst, v) {
            e.set_gpr(reg::RSP, old);
            return Err(f);
        }
    } else {
        set_sp_s(e, k, sp);
        write(e, dst, v)?;
    }
    Ok(())
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Push if push_pop_plain(i) => push_op(e, Stk::of(i), &Opnd::of(i, 0), op_size(i, 0))?,
        Pop if push_pop_plain(i) => pop_op(e, Stk::of(i), &Opnd::of(i, 0), op_size(i, 0))?,
        Pushf | Pushfd | Pushfq => {
            let size = match i.mnemonic() {
                Pushf => 2,
                Pushfd => 4,
                _ => 8,
            };
            let f = rflags(e)?;
            // VM and RF are pushed as zero.
            let m = e.imm(!(fl::VM | fl::RF));
            let f = e.and(f, m);
            push(e, i, f, size)?;
        }
        Popf | Popfd | Popfq => {
            let size = match i.mnemonic() {
                Popf => 2,
                Popfd => 4,
                _ => 8,
            };
            let (v, sp) = pop_load(e, i, size)?;
            set_sp(e, i, sp);
            popf_commit(e, v, size);
        }
        Leave => {
            let w = stack_size(i);
            let size = frame_size(i);
            let bp = e.gpr(reg::RBP);
            let bp = mask(e, bp, w);
            let a = stack_linear(e, i, bp);
            let v = e.load(a, size)?;
            let n = e.imm(size as u64);
            let sp = e.add(bp, n);
            set_sp(e, i, sp);
            super::operand::write_gpr(
                e,
                super::operand::Gpr {
                    idx: reg::RBP,
                    size,
                    high8: false,
                },
                v,
            );
        }
        Enter => enter(e, i)?,
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// PUSH and POP forms this group handles (segment registers are elsewhere).
pub fn push_pop_plain(i: &Instruction) -> bool {
    i.op_kind(0) != OpKind::Register || i.op_register(0).is_gpr()
}

/// Commits a popped RFLAGS image. At CPL 0 every writable flag changes; above it IOPL
/// keeps its value and IF changes only when CPL <= IOPL (otherwise it keeps its value
/// silently, as the SDM specifies for POPF). VM and RF are never written.
fn popf_commit<E: Emitter>(e: &mut E, v: E::V, size: u8) {
    let arith = e.imm(fl::ARITH);
    let a = e.and(v, arith);
    set_eflags(e, a);
    let narrow = |m: u64| if size == 2 { m & 0xffff } else { m };
    let old = e.rflags_sys();
    let cpl = e.mode().cpl;
    let writable = if cpl == 0 {
        e.imm(narrow(
            fl::TF | fl::IF | fl::DF | fl::IOPL | fl::NT | fl::AC | fl::ID,
        ))
    } else {
        let base = e.imm(narrow(fl::TF | fl::DF | fl::NT | fl::AC | fl::ID));
        let sh = e.imm(12);
        let iopl = e.shr(old, sh);
        let three = e.imm(3);
        let iopl = e.and(iopl, three);
        let c = e.imm(cpl as u64);
        let if_ok = e.cmp(crate::emit::Cmp::Ule, c, iopl);
        let with_if = e.imm(narrow(fl::TF | fl::IF | fl::DF | fl::NT | fl::AC | fl::ID));
        e.select(if_ok, with_if, base)
    };
    let all = e.imm(u64::MAX);
    let keep = e.xor(writable, all);
    let old = e.and(old, keep);
    let new = e.and(v, writable);
    let s = e.or(old, new);
    e.set_rflags_sys(s);
}

/// Operand size of ENTER/LEAVE: what is pushed or popped as the frame pointer (a 66h
/// prefix selects 16 bits even in 64-bit mode; the stack pointer keeps its width).
fn frame_size(i: &Instruction) -> u8 {
    use iced_x86::Code;
    match i.code() {
        Code::Leavew | Code::Enterw_imm16_imm8 => 2,
        Code::Leaved | Code::Enterd_imm16_imm8 => 4,
        _ => 8,
    }
}

fn enter<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let alloc = i.immediate(0) & 0xffff;
    let level = i.immediate(1) & 31;
    let size = frame_size(i);
    let bp = e.gpr(reg::RBP);
    let sp0 = push_store(e, i, bp, size)?;
    let frame = sp0;
    let mut sp = sp0;
    if level > 0 {
        let n = e.imm(size as u64);
        let mut bpp = bp;
        for _ in 1..level {
            bpp = e.sub(bpp, n);
            let a = stack_linear(e, i, bpp);
            let v = e.load(a, size)?;
            sp = e.sub(sp, n);
            let a2 = stack_linear(e, i, sp);
            e.store(a2, v, size)?;
        }
        sp = e.sub(sp, n);
        let a2 = stack_linear(e, i, sp);
        e.store(a2, frame, size)?;
    }
    let al = e.imm(alloc);
    let sp = e.sub(sp, al);
    super::operand::write_gpr(
        e,
        super::operand::Gpr {
            idx: reg::RBP,
            size,
            high8: false,
        },
        frame,
    );
    set_sp(e, i, sp);
    Ok(())
}
