//! Control transfer: JMP Jcc CALL RET LOOP/LOOPE/LOOPNE JRCXZ/JECXZ/JCXZ.
//! Each ends the block through the emitter's jump primitives.

use super::cond;
use super::data::condition;
use super::operand::{op_size, read_gpr, read_op, stack_size, write_gpr, Gpr};
use super::stack::{pop_load, push_store};
use crate::emit::{Cmp as C, Emitter, Sem};
use crate::flags::{mask, Cond};
use crate::state::reg;
use iced_x86::{Instruction, Mnemonic, OpKind};

fn commit_sp<E: Emitter>(e: &mut E, i: &Instruction, sp: E::V) {
    let w = stack_size(i);
    write_gpr(
        e,
        Gpr {
            idx: reg::RSP,
            size: w,
            high8: false,
        },
        sp,
    );
}

fn is_near_direct(i: &Instruction) -> bool {
    matches!(
        i.op_kind(0),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

/// Width of RIP in this code: 8, 4 or 2.
fn ip_size(i: &Instruction) -> u8 {
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
            let t = read_op(e, i, 0)?;
            e.jump(t);
        }
        Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle | Jg => {
            let c = cond(e, condition(i))?;
            e.branch(c, i.near_branch_target(), i.next_ip());
        }
        Call if is_near_direct(i) || matches!(i.op_kind(0), OpKind::Register | OpKind::Memory) => {
            let target = if is_near_direct(i) {
                e.imm(i.near_branch_target())
            } else {
                read_op(e, i, 0)?
            };
            let size = if is_near_direct(i) {
                ip_size(i)
            } else {
                op_size(i, 0)
            };
            let ret = e.imm(i.next_ip());
            let sp = push_store(e, i, ret, size)?;
            commit_sp(e, i, sp);
            if is_near_direct(i) {
                e.jump_to(i.near_branch_target());
            } else {
                e.jump(target);
            }
        }
        Ret => {
            let size = op_size_ret(i);
            let (t, sp) = pop_load(e, i, size)?;
            let sp = if i.op_count() > 0 {
                let n = e.imm(i.immediate(0) & 0xffff);
                e.add(sp, n)
            } else {
                sp
            };
            commit_sp(e, i, sp);
            e.jump(t);
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

fn op_size_ret(i: &Instruction) -> u8 {
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
