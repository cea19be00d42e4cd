//! Pre-decoded forms of the most frequent integer instructions.
//!
//! An interpreter that executes the same decoded instruction many times should not ask
//! iced-x86 for its mnemonic, operand kinds, registers and sizes every time. [`Pre::of`]
//! resolves them once into a small descriptor; [`exec`] runs it by calling the very
//! semantic functions the instruction groups use (`alu::binary`, `data::mov`,
//! `control::jcc`, `stack::push_op` …), which the groups also call for the same
//! instructions coming from iced-x86. So there is still one definition of each
//! instruction, and the Cranelift tier, which goes through [`super::translate`], lowers
//! exactly what the interpreter evaluates.
//!
//! Only the forms below are covered; everything else (and every instruction whose
//! handling has a subtlety, like MOV to a segment register or far branches) returns
//! `None` and keeps going through the groups.

use super::alu::{self, Bin};
use super::control::{self, Target};
use super::data::{self, condition, is_plain};
use super::muldiv;
use super::operand::{op_size, Mem, Opnd};
use super::shift::{self, ShiftKind};
use super::stack::{self, push_pop_plain, Stk};
use crate::emit::{Emitter, Sem};
use crate::flags::Cond;
use iced_x86::{Instruction, Mnemonic, OpKind};

/// What a pre-decoded instruction does.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// MOV / MOVZX `a = b`.
    Mov,
    /// MOVSX / MOVSXD from `size` bytes.
    Movsx,
    /// LEA `a = ea(b)` (`b` is memory).
    Lea,
    Binary(Bin),
    /// SHL/SHR/SAR `a` by `b`.
    Shift(ShiftKind),
    /// Two-operand IMUL `a *= b`.
    Imul,
    /// Three-operand IMUL `a = b * target` (the immediate).
    Imul3,
    Inc,
    Dec,
    Neg,
    Not,
    Jcc(Cond),
    Jmp,
    JmpIndirect,
    Call,
    CallIndirect,
    /// RET (`target` holds the immediate).
    Ret,
    Push,
    Pop,
    Setcc(Cond),
    Cmov(Cond),
    Nop,
}

/// One instruction, pre-decoded.
#[derive(Clone, Copy, Debug)]
pub struct Pre {
    pub kind: Kind,
    pub a: Opnd,
    pub b: Opnd,
    /// Operation size in bytes (the source size for MOVSX).
    pub size: u8,
    pub stk: Stk,
    /// Branch target (direct JMP/CALL/Jcc), RET's immediate or IMUL's third operand.
    pub target: u64,
    /// The address of the next instruction.
    pub next: u64,
}

impl Pre {
    /// The pre-decoded form of `i`, if it has one.
    pub fn of(i: &Instruction) -> Option<Pre> {
        use Mnemonic::*;
        let m = i.mnemonic();
        let mut p = Pre {
            kind: Kind::Nop,
            a: Opnd::Other,
            b: Opnd::Other,
            size: 0,
            stk: Stk::of(i),
            target: 0,
            next: i.next_ip(),
        };
        let ops = |p: &mut Pre| {
            p.a = Opnd::of(i, 0);
            p.b = Opnd::of(i, 1);
        };
        let gpr_or_mem = |n: u32| matches!(i.op_kind(n), OpKind::Register | OpKind::Memory);
        if let Some(op) = Bin::of(m) {
            p.kind = Kind::Binary(op);
            p.size = op_size(i, 0);
            ops(&mut p);
            return Some(p);
        }
        if let Some(k) = ShiftKind::of(m) {
            p.kind = Kind::Shift(k);
            p.size = op_size(i, 0);
            ops(&mut p);
            return Some(p);
        }
        match m {
            Imul if i.op_count() == 2 => {
                p.kind = Kind::Imul;
                p.size = op_size(i, 0);
                ops(&mut p);
            }
            Imul if i.op_count() == 3
                && !matches!(i.op_kind(2), OpKind::Register | OpKind::Memory) =>
            {
                p.kind = Kind::Imul3;
                p.size = op_size(i, 0);
                ops(&mut p);
                p.target = i.immediate(2);
            }
            // Same guards as the groups (data::emit first, then the others in order).
            Mov if is_plain(i, 0) && is_plain(i, 1) => {
                p.kind = Kind::Mov;
                ops(&mut p);
            }
            Movzx => {
                p.kind = Kind::Mov;
                ops(&mut p);
            }
            Movsx | Movsxd => {
                p.kind = Kind::Movsx;
                p.size = op_size(i, 1);
                ops(&mut p);
            }
            Lea => {
                p.kind = Kind::Lea;
                p.a = Opnd::of(i, 0);
                p.b = Opnd::Mem(Mem::of(i));
            }
            Inc | Dec | Neg | Not => {
                p.kind = match m {
                    Inc => Kind::Inc,
                    Dec => Kind::Dec,
                    Neg => Kind::Neg,
                    _ => Kind::Not,
                };
                p.size = op_size(i, 0);
                p.a = Opnd::of(i, 0);
            }
            Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle
            | Jg => {
                p.kind = Kind::Jcc(condition(i));
                p.target = i.near_branch_target();
            }
            Setb | Setae | Sete | Setne | Setbe | Seta | Sets | Setns | Setl | Setge | Setle
            | Setg | Seto | Setno | Setp | Setnp => {
                p.kind = Kind::Setcc(condition(i));
                p.a = Opnd::of(i, 0);
            }
            Cmovo | Cmovno | Cmovb | Cmovae | Cmove | Cmovne | Cmovbe | Cmova | Cmovs | Cmovns
            | Cmovp | Cmovnp | Cmovl | Cmovge | Cmovle | Cmovg => {
                p.kind = Kind::Cmov(condition(i));
                ops(&mut p);
            }
            // Far transfers are tried before the near ones.
            Jmp | Call if super::far::is_far_branch(i) => return None,
            Jmp if control::is_near_direct(i) => {
                p.kind = Kind::Jmp;
                p.target = i.near_branch_target();
            }
            Jmp if gpr_or_mem(0) => {
                p.kind = Kind::JmpIndirect;
                p.a = Opnd::of(i, 0);
            }
            Call if control::is_near_direct(i) => {
                p.kind = Kind::Call;
                p.target = i.near_branch_target();
                p.size = control::ip_size(i);
            }
            Call if gpr_or_mem(0) => {
                p.kind = Kind::CallIndirect;
                p.a = Opnd::of(i, 0);
                p.size = op_size(i, 0);
            }
            Ret => {
                p.kind = Kind::Ret;
                p.size = control::op_size_ret(i);
                p.target = if i.op_count() > 0 {
                    i.immediate(0) & 0xffff
                } else {
                    0
                };
            }
            // Segment-register PUSH/POP belong to the far group, tried earlier.
            Push | Pop if push_pop_plain(i) => {
                p.kind = if m == Push { Kind::Push } else { Kind::Pop };
                p.size = op_size(i, 0);
                p.a = Opnd::of(i, 0);
            }
            Nop | Pause | Endbr64 | Endbr32 => p.kind = Kind::Nop,
            _ => return None,
        }
        Some(p)
    }
}

/// Executes a pre-decoded instruction through the shared semantic functions.
#[inline]
pub fn exec<E: Emitter>(e: &mut E, p: &Pre) -> Sem {
    match p.kind {
        Kind::Mov => data::mov(e, &p.a, &p.b),
        Kind::Movsx => data::movsx(e, &p.a, &p.b, p.size),
        Kind::Lea => match &p.b {
            Opnd::Mem(m) => data::lea(e, &p.a, m),
            _ => Ok(()),
        },
        Kind::Binary(op) => alu::binary(e, op, p.size, &p.a, &p.b),
        Kind::Shift(k) => shift::shift_ops(e, k, p.size, &p.a, &p.b),
        Kind::Imul => muldiv::imul(e, p.size, &p.a, &p.a, &p.b),
        Kind::Imul3 => muldiv::imul(e, p.size, &p.a, &p.b, &Opnd::Imm(p.target)),
        Kind::Inc => alu::inc_dec(e, true, p.size, &p.a),
        Kind::Dec => alu::inc_dec(e, false, p.size, &p.a),
        Kind::Neg => alu::neg(e, p.size, &p.a),
        Kind::Not => alu::not(e, &p.a),
        Kind::Jcc(c) => control::jcc(e, c, p.target, p.next),
        Kind::Jmp => {
            e.jump_to(p.target);
            Ok(())
        }
        Kind::JmpIndirect => control::jmp_indirect(e, &p.a),
        Kind::Call => control::call(e, p.stk, &Target::Direct(p.target), p.size, p.next),
        Kind::CallIndirect => control::call(e, p.stk, &Target::Indirect(p.a), p.size, p.next),
        Kind::Ret => control::ret(e, p.stk, p.size, p.target),
        Kind::Push => stack::push_op(e, p.stk, &p.a, p.size),
        Kind::Pop => stack::pop_op(e, p.stk, &p.a, p.size),
        Kind::Setcc(c) => data::setcc(e, c, &p.a),
        Kind::Cmov(c) => data::cmov(e, c, &p.a, &p.b),
        Kind::Nop => Ok(()),
    }
}
