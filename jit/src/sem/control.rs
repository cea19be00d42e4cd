//! Control transfer: JMP Jcc CALL RET LOOP/LOOPE/LOOPNE JRCXZ/JECXZ/JCXZ.
//! Each ends the block through the emitter's jump primitives.

use super::cond;
use super::data::condition;
use super::operand::{op_size, read, read_gpr, write_gpr, Gpr, Opnd};
use super::stack::{pop_load_s, push_store_s, set_sp_s, Stk};
use crate::emit::{Cmp as C, Emitter, Sem};
use crate::flags::{mask, Cond};
use crate::state::reg;
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn is_near_direct(i: &Instruction) -> bool {
    matches!(
        i.op_kind(0),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

/// Width of RIP in this code: 8, 4 or 2.
pub fn ip_size(i: &Instruction) -> u8 {
    match i.code_size() {
        iced_x86::CodeSize::Code64 => 8,
        iced_x86::CodeSize::Code16 => 2,
        _ => 4,
    }
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Jmp if is_near_direct(i) => e.jump_to(i.near_branch_target()),
        Jmp if matches!(i.op_kind(0), OpKind::Register | OpKind::Memory) => {
            jmp_indirect(e, &Opnd::of(i, 0))?
        }
        Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle | Jg => {
            jcc(e, condition(i), i.near_branch_target(), i.next_ip())?
        }
        Call if is_near_direct(i) || matches!(i.op_kind(0), OpKind::Register | OpKind::Memory) => {
            let (target, size) = if is_near_direct(i) {
                (Target::Direct(i.near_branch_target()), ip_size(i))
            } else {
                (Target::Indirect(Opnd::of(i, 0)), op_size(i, 0))
            };
            call(e, Stk::of(i), &target, size, i.next_ip())?
        }
        Ret => {
            let imm = if i.op_count() > 0 {
                i.immediate(0) & 0xffff
            } else {
                0
            };
            ret(e, Stk::of(i), op_size_ret(i), imm)?
        }
        Loop | Loope | Loopne | Jrcxz | Jecxz | Jcxz => {
            // The counter width is the address size (RCX, ECX or CX).
            let csize = match i.mnemonic() {
                Jecxz => 4,
                Jcxz => 2,
                Jrcxz => 8,
                _ => loop_counter_size(i),
            };
            let g = Gpr {
                idx: reg::RCX,
                size: csize,
                high8: false,
            };
            let c = read_gpr(e, g);
            let z = e.imm(0);
            let taken = match i.mnemonic() {
                Jrcxz | Jecxz | Jcxz => e.cmp(C::Eq, c, z),
                m => {
                    let one = e.imm(1);
                    let c1 = e.sub(c, one);
                    let c1 = mask(e, c1, csize);
                    let nz = e.cmp(C::Ne, c1, z);
                    let t = match m {
                        Loope => {
                            let zf = cond(e, Cond::E)?;
                            e.and(nz, zf)
                        }
                        Loopne => {
                            let nzf = cond(e, Cond::Ne)?;
                            e.and(nz, nzf)
                        }
                        _ => nz,
                    };
                    write_gpr(e, g, c1);
                    t
                }
            };
            e.branch(taken, i.near_branch_target(), i.next_ip());
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// Where a near CALL goes.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Direct(u64),
    Indirect(Opnd),
}

/// JMP through a register or memory operand.
#[inline(always)]
pub fn jmp_indirect<E: Emitter>(e: &mut E, src: &Opnd) -> Sem {
    let t = read(e, src)?;
    e.jump(t);
    Ok(())
}

/// Jcc: to `target` if `c` holds, else on to `next`.
#[inline(always)]
pub fn jcc<E: Emitter>(e: &mut E, c: Cond, target: u64, next: u64) -> Sem {
    let c = cond(e, c)?;
    jcc_if(e, c, target, next);
    Ok(())
}

/// [`jcc`] with the condition already evaluated to `c` (see
/// [`super::data::cmov_if`]).
#[inline(always)]
pub fn jcc_if<E: Emitter>(e: &mut E, c: E::V, target: u64, next: u64) {
    e.branch(c, target, next);
}

/// Near CALL: pushes `next` (`size` bytes) and jumps. An indirect target is read
/// before the push.
#[inline(always)]
pub fn call<E: Emitter>(e: &mut E, k: Stk, target: &Target, size: u8, next: u64) -> Sem {
    let t = match target {
        Target::Direct(t) => e.imm(*t),
        Target::Indirect(o) => read(e, o)?,
    };
    let ret = e.imm(next);
    let sp = push_store_s(e, k, ret, size)?;
    set_sp_s(e, k, sp);
    match target {
        Target::Direct(t) => e.jump_to(*t),
        Target::Indirect(_) => e.jump(t),
    }
    Ok(())
}

/// Near RET popping `size` bytes, then `imm` more bytes of stack.
#[inline(always)]
pub fn ret<E: Emitter>(e: &mut E, k: Stk, size: u8, imm: u64) -> Sem {
    let (t, sp) = pop_load_s(e, k, size)?;
    let sp = if imm != 0 {
        let n = e.imm(imm);
        e.add(sp, n)
    } else {
        sp
    };
    set_sp_s(e, k, sp);
    e.jump(t);
    Ok(())
}

pub fn op_size_ret(i: &Instruction) -> u8 {
    match i.code() {
        iced_x86::Code::Retnw | iced_x86::Code::Retnw_imm16 => 2,
        iced_x86::Code::Retnd | iced_x86::Code::Retnd_imm16 => 4,
        _ => 8,
    }
}

fn loop_counter_size(i: &Instruction) -> u8 {
    match i.code() {
        iced_x86::Code::Loop_rel8_16_CX
        | iced_x86::Code::Loop_rel8_32_CX
        | iced_x86::Code::Loope_rel8_16_CX
        | iced_x86::Code::Loope_rel8_32_CX
        | iced_x86::Code::Loopne_rel8_16_CX
        | iced_x86::Code::Loopne_rel8_32_CX => 2,
        iced_x86::Code::Loop_rel8_16_ECX
        | iced_x86::Code::Loop_rel8_32_ECX
        | iced_x86::Code::Loop_rel8_64_ECX
        | iced_x86::Code::Loope_rel8_16_ECX
        | iced_x86::Code::Loope_rel8_32_ECX
        | iced_x86::Code::Loope_rel8_64_ECX
        | iced_x86::Code::Loopne_rel8_16_ECX
        | iced_x86::Code::Loopne_rel8_32_ECX
        | iced_x86::Code::Loopne_rel8_64_ECX => 4,
        _ => 8,
    }
}
