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
use super::operand::{op_size, Gpr, Mem, Opnd, NO_REG};
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

/// The operand shapes [`exec`] has specialised copies of the semantic functions for:
/// with the operand kinds and sizes known when the Rust code is compiled, the
/// functions' tests on them fold away and only the register numbers, displacement and
/// immediate are read at run time. Memory shapes are 64-bit code with 64-bit
/// addresses and no FS/GS override (no segment base); register shapes exclude
/// AH/CH/DH/BH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Nothing specialised: the operands as in `a` and `b`, `size` as stored.
    Any,
    /// `a` and `b` both registers of 8 (or 4) bytes.
    Rr64,
    Rr32,
    /// `a` a register, `b` an immediate.
    Ri64,
    Ri32,
    /// `a` a register, `b` memory, both of the size.
    Rm64,
    Rm32,
    /// `a` memory, `b` a register.
    Mr64,
    Mr32,
    /// `a` memory, `b` an immediate.
    Mi64,
    Mi32,
    /// One operand (`a`) only, a register / memory.
    R64,
    R32,
    M64,
}

/// One instruction, pre-decoded.
#[derive(Clone, Copy, Debug)]
pub struct Pre {
    pub kind: Kind,
    pub shape: Shape,
    /// Register numbers of `a` and `b` when they are registers.
    pub ra: u8,
    pub rb: u8,
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
        let mut p = Self::of_any(i)?;
        p.shape = p.shape_of();
        if let Opnd::Gpr(g) = p.a {
            p.ra = g.idx as u8;
        }
        if let Opnd::Gpr(g) = p.b {
            p.rb = g.idx as u8;
        }
        Some(p)
    }

    /// The specialised shape `self` fits, if any.
    fn shape_of(&self) -> Shape {
        use Shape::*;
        // Kinds whose `size` is not the operands' size, or whose operands differ in
        // size, stay generic; so do far-from-hot ones.
        let two = match self.kind {
            Kind::Binary(_) | Kind::Imul | Kind::Mov | Kind::Cmov(_) => true,
            Kind::Shift(_) => matches!(self.b, Opnd::Imm(_)),
            Kind::Inc | Kind::Dec | Kind::Neg | Kind::Not | Kind::Push | Kind::Pop => false,
            Kind::JmpIndirect | Kind::CallIndirect | Kind::Setcc(_) => false,
            _ => return Any,
        };
        let reg = |o: &Opnd| match o {
            Opnd::Gpr(g) if !g.high8 && matches!(g.size, 4 | 8) => Some(g.size),
            _ => None,
        };
        let mem = |o: &Opnd| match o {
            Opnd::Mem(m) if plain_mem64(m) && matches!(m.size, 4 | 8) => Some(m.size),
            _ => None,
        };
        let imm = matches!(self.b, Opnd::Imm(_));
        let fits = |sz: u8, a: Shape, b: Shape| {
            if self.size != 0 && self.size != sz {
                Any
            } else if sz == 8 {
                a
            } else {
                b
            }
        };
        if !two {
            // Stack operations specialise only for 64-bit code with 8-byte pushes.
            let stack = matches!(self.kind, Kind::Push | Kind::Pop | Kind::CallIndirect);
            if stack && (self.stk != LONG_STACK || self.size != 8) {
                return Any;
            }
            return match (reg(&self.a), mem(&self.a)) {
                (Some(8), _) => fits(8, R64, Any),
                (Some(4), _) if !stack && !matches!(self.kind, Kind::JmpIndirect) => {
                    fits(4, Any, R32)
                }
                (_, Some(8)) if !matches!(self.kind, Kind::Setcc(_)) => fits(8, M64, Any),
                _ => Any,
            };
        }
        match (reg(&self.a), mem(&self.a), reg(&self.b), mem(&self.b)) {
            (Some(x), _, Some(y), _) if x == y => fits(x, Rr64, Rr32),
            (Some(x), _, _, Some(y)) if x == y => fits(x, Rm64, Rm32),
            (_, Some(x), Some(y), _) if x == y => fits(x, Mr64, Mr32),
            (Some(x), _, _, _) if imm => fits(x, Ri64, Ri32),
            (_, Some(x), _, _) if imm => fits(x, Mi64, Mi32),
            _ => Any,
        }
    }

    /// [`Pre::of`] before the shape is worked out.
    fn of_any(i: &Instruction) -> Option<Pre> {
        use Mnemonic::*;
        let m = i.mnemonic();
        let mut p = Pre {
            kind: Kind::Nop,
            shape: Shape::Any,
            ra: 0,
            rb: 0,
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

/// 64-bit code's stack.
const LONG_STACK: Stk = Stk {
    width: 8,
    long: true,
};

/// A memory operand of the shape the specialised paths expect: 64-bit code and
/// address, 8-byte base and index registers, no FS/GS base.
fn plain_mem64(m: &Mem) -> bool {
    m.long
        && m.asize == 8
        && m.base_size == 8
        && m.index_size == 8
        && m.seg != crate::state::seg::FS as u8
        && m.seg != crate::state::seg::GS as u8
}

/// A register operand of `size` bytes (not AH..BH).
#[inline(always)]
fn reg(idx: u8, size: u8) -> Opnd {
    Opnd::Gpr(Gpr {
        idx: idx as usize,
        size,
        high8: false,
    })
}

/// The memory operand in `o` (which [`plain_mem64`] accepted) with the fixed parts
/// as constants.
#[inline(always)]
fn mem64(o: &Opnd, size: u8) -> Opnd {
    let (disp, base, index, shift) = match o {
        Opnd::Mem(m) => (m.disp, m.base, m.index, m.shift),
        _ => (0, NO_REG, NO_REG, 0),
    };
    Opnd::Mem(Mem {
        disp,
        base,
        index,
        shift,
        base_size: 8,
        index_size: 8,
        asize: 8,
        seg: crate::state::seg::DS as u8,
        size,
        long: true,
    })
}

/// The immediate in `o`.
#[inline(always)]
fn imm(o: &Opnd) -> Opnd {
    match o {
        Opnd::Imm(v) => Opnd::Imm(*v),
        _ => Opnd::Imm(0),
    }
}

/// Evaluates `$body` with `$a`, `$b` (operand references) and `$sz` (the operation
/// size) bound to constants of `$p`'s shape where it has one.
macro_rules! shaped {
    ($p:expr, |$sz:ident, $a:ident, $b:ident| $body:expr) => {{
        let p = $p;
        match p.shape {
            Shape::Rr64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &reg(p.rb, 8));
                $body
            }
            Shape::Rr32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &reg(p.rb, 4));
                $body
            }
            Shape::Ri64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &imm(&p.b));
                $body
            }
            Shape::Ri32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &imm(&p.b));
                $body
            }
            Shape::Rm64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &mem64(&p.b, 8));
                $body
            }
            Shape::Rm32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &mem64(&p.b, 4));
                $body
            }
            Shape::Mr64 => {
                let ($sz, $a, $b) = (8u8, &mem64(&p.a, 8), &reg(p.rb, 8));
                $body
            }
            Shape::Mr32 => {
                let ($sz, $a, $b) = (4u8, &mem64(&p.a, 4), &reg(p.rb, 4));
                $body
            }
            Shape::Mi64 => {
                let ($sz, $a, $b) = (8u8, &mem64(&p.a, 8), &imm(&p.b));
                $body
            }
            Shape::Mi32 => {
                let ($sz, $a, $b) = (4u8, &mem64(&p.a, 4), &imm(&p.b));
                $body
            }
            _ => {
                let ($sz, $a, $b) = (p.size, &p.a, &p.b);
                $body
            }
        }
    }};
}

/// [`shaped`] for one-operand kinds (`$k` the stack, constant in the 64-bit shapes).
macro_rules! shaped1 {
    ($p:expr, |$sz:ident, $a:ident, $k:ident| $body:expr) => {{
        let p = $p;
        match p.shape {
            Shape::R64 => {
                let ($sz, $a, $k) = (8u8, &reg(p.ra, 8), LONG_STACK);
                $body
            }
            Shape::R32 => {
                let ($sz, $a, $k) = (4u8, &reg(p.ra, 4), p.stk);
                $body
            }
            Shape::M64 => {
                let ($sz, $a, $k) = (8u8, &mem64(&p.a, 8), LONG_STACK);
                $body
            }
            _ => {
                let ($sz, $a, $k) = (p.size, &p.a, p.stk);
                $body
            }
        }
    }};
}

/// Executes a pre-decoded instruction through the shared semantic functions.
#[inline(always)]
pub fn exec<E: Emitter>(e: &mut E, p: &Pre) -> Sem {
    match p.kind {
        Kind::Mov => shaped!(p, |_sz, a, b| data::mov(e, a, b)),
        Kind::Binary(op) => shaped!(p, |sz, a, b| alu::binary(e, op, sz, a, b)),
        Kind::Shift(k) => shaped!(p, |sz, a, b| shift::shift_ops(e, k, sz, a, b)),
        Kind::Imul => shaped!(p, |sz, a, b| muldiv::imul(e, sz, a, a, b)),
        Kind::Cmov(c) => shaped!(p, |_sz, a, b| data::cmov(e, c, a, b)),
        Kind::Inc => shaped1!(p, |sz, a, _k| alu::inc_dec(e, true, sz, a)),
        Kind::Dec => shaped1!(p, |sz, a, _k| alu::inc_dec(e, false, sz, a)),
        Kind::Push => shaped1!(p, |sz, a, k| stack::push_op(e, k, a, sz)),
        Kind::Pop => shaped1!(p, |sz, a, k| stack::pop_op(e, k, a, sz)),
        Kind::JmpIndirect => shaped1!(p, |_sz, a, _k| control::jmp_indirect(e, a)),
        Kind::Jcc(c) => control::jcc(e, c, p.target, p.next),
        Kind::Jmp => {
            e.jump_to(p.target);
            Ok(())
        }
        Kind::Lea => match &p.b {
            Opnd::Mem(m) => data::lea(e, &p.a, m),
            _ => Ok(()),
        },
        Kind::Nop => Ok(()),
        Kind::Call if p.stk == LONG_STACK && p.size == 8 => {
            control::call(e, LONG_STACK, &Target::Direct(p.target), 8, p.next)
        }
        Kind::Ret if p.stk == LONG_STACK && p.size == 8 => control::ret(e, LONG_STACK, 8, p.target),
        _ => exec_any(e, p),
    }
}

/// [`exec`] for the kinds and shapes without a specialised copy.
#[inline(never)]
fn exec_any<E: Emitter>(e: &mut E, p: &Pre) -> Sem {
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
