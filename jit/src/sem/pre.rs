//! Pre-decoded forms of the most frequent integer instructions and SSE moves,
//! logic and arithmetic.
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
use super::sse::{self, logic::Op as LogicOp, XOpnd};
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
    /// SSE 128-bit move `a = b` (MOVAPS … MOVDQU); `aligned`: a memory operand must
    /// be 16-byte aligned.
    XMov {
        aligned: bool,
    },
    /// MOVSS / MOVSD (`size` 4 / 8) between XMM registers, from or to memory.
    XMovScalar,
    /// SSE bitwise logic (and PADDQ/PSUBQ) on XMM `a` with `b`.
    XLogic(LogicOp),
    /// An SSE operation the SSE helper computes into XMM `a` from `b`: `target` holds
    /// the helper's packed operation, `imm` the immediate.
    XHelper,
    /// [`Kind::XHelper`] for an arithmetic form the helper may compute without MXCSR
    /// (its index in `sse::fast`, as a constant in the interpreter's handler).
    XArith(u8),
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
    /// SSE kinds: `a` and `b` XMM registers (`ra`, `rb`); `a` an XMM register and
    /// `b` memory; `a` memory and `b` an XMM register. Memory is 64-bit code's,
    /// `size` bytes. The SSE kinds have no other shape.
    Xx,
    Xm,
    Mx,
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
    /// The parts of the memory operand (`a`'s or `b`'s), for the memory shapes.
    pub disp: u64,
    pub base: u8,
    pub index: u8,
    pub scale: u8,
    /// `b`'s value when it is an immediate.
    pub imm: u64,
}

impl Pre {
    /// A placeholder (a NOP without operands) for instructions that have no form.
    pub const EMPTY: Pre = Pre {
        kind: Kind::Nop,
        shape: Shape::Any,
        ra: 0,
        rb: 0,
        a: Opnd::Other,
        b: Opnd::Other,
        size: 0,
        stk: LONG_STACK,
        target: 0,
        next: 0,
        disp: 0,
        base: NO_REG,
        index: NO_REG,
        scale: 0,
        imm: 0,
    };

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
        for o in [p.a, p.b] {
            if let Opnd::Mem(m) = o {
                (p.disp, p.base, p.index, p.scale) = (m.disp, m.base, m.index, m.shift);
            }
        }
        if let Opnd::Imm(v) = p.b {
            p.imm = v;
        }
        Some(p)
    }

    /// The specialised shape `self` fits, if any.
    fn shape_of(&self) -> Shape {
        use Shape::*;
        if self.kind.is_sse() {
            // Set by `of_sse`.
            return self.shape;
        }
        // Kinds whose `size` is not the operands' size, or whose operands differ in
        // size, stay generic; so do far-from-hot ones.
        if let (Kind::Lea, Opnd::Gpr(g), Opnd::Mem(m)) = (self.kind, self.a, self.b) {
            return if g.size == 8 && !g.high8 && plain_mem64(&m) {
                Rm64
            } else {
                Any
            };
        }
        let two = match self.kind {
            Kind::Binary(_) | Kind::Imul | Kind::Imul3 | Kind::Mov | Kind::Cmov(_) => true,
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
            stk: Stk::of(i),
            next: i.next_ip(),
            ..Pre::EMPTY
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
            _ => return Self::of_sse(i, p),
        }
        Some(p)
    }

    /// The SSE forms: the moves, logic and helper-computed operations the SSE group
    /// handles the same way (`sse::emit` tries `mov`, `logic`, `lanes`, then the
    /// helper), with XMM and plain 64-bit memory operands only.
    fn of_sse(i: &Instruction, mut p: Pre) -> Option<Pre> {
        use Mnemonic::*;
        let m = i.mnemonic();
        let (a, b) = (XOpnd::of(i, 0)?, XOpnd::of(i, 1)?);
        let two = i.op_count() == 2;
        let imm3 = i.op_count() == 3 && !matches!(i.op_kind(2), OpKind::Register | OpKind::Memory);
        let to_xmm = matches!(a, XOpnd::Xmm(_));
        p.kind = match m {
            Movaps | Movapd | Movdqa | Movups | Movupd | Movdqu | Lddqu | Movntps | Movntpd
            | Movntdq
                if two =>
            {
                Kind::XMov {
                    aligned: !sse::unaligned_ok(i),
                }
            }
            Movss | Movsd if two => Kind::XMovScalar,
            _ if two && to_xmm && sse::logic::op_of(m).is_some() => {
                Kind::XLogic(sse::logic::op_of(m)?)
            }
            _ if to_xmm && two && sse::fast::form_index(m) != 0 => {
                Kind::XArith(sse::fast::form_index(m))
            }
            _ if to_xmm && (two || imm3) && sse::computed_into_xmm(m) => Kind::XHelper,
            _ => return None,
        };
        // Only the moves write memory; every form here that reads it needs alignment
        // unless it is an unaligned move.
        if !matches!(p.kind, Kind::XMov { .. }) && sse::unaligned_ok(i) {
            return None;
        }
        let plain = |o: &XOpnd| match o {
            XOpnd::Mem(mm) if plain_mem64(mm) => Some(*mm),
            _ => None,
        };
        let mem = match (a, b) {
            (XOpnd::Xmm(x), XOpnd::Xmm(y)) => {
                (p.shape, p.ra, p.rb) = (Shape::Xx, x as u8, y as u8);
                None
            }
            (XOpnd::Xmm(x), _) => {
                (p.shape, p.ra) = (Shape::Xm, x as u8);
                Some(plain(&b)?)
            }
            (_, XOpnd::Xmm(y)) if matches!(p.kind, Kind::XMov { .. } | Kind::XMovScalar) => {
                (p.shape, p.rb) = (Shape::Mx, y as u8);
                Some(plain(&a)?)
            }
            _ => return None,
        };
        p.size = match (p.kind, m, mem) {
            (Kind::XMovScalar, Movss, _) => 4,
            (Kind::XMovScalar, _, _) => 8,
            (_, _, Some(mm)) => mm.size,
            _ => 16,
        };
        if let Some(mm) = mem {
            if mm.size != p.size {
                return None;
            }
            (p.disp, p.base, p.index, p.scale) = (mm.disp, mm.base, mm.index, mm.shift);
        }
        if matches!(p.kind, Kind::XHelper | Kind::XArith(_)) {
            p.target = sse::pack_op(m, p.ra as usize, 0);
            p.imm = if imm3 { i.immediate(2) } else { 0 };
        }
        Some(p)
    }
}

impl Kind {
    /// True for the SSE kinds (shapes `Xx`, `Xm`, `Mx`).
    #[inline(always)]
    pub fn is_sse(self) -> bool {
        matches!(
            self,
            Kind::XMov { .. }
                | Kind::XMovScalar
                | Kind::XLogic(_)
                | Kind::XHelper
                | Kind::XArith(_)
        )
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

/// The memory operand of `p` (which [`plain_mem64`] accepted) with the fixed parts as
/// constants and the rest from `p`'s copies of them.
#[inline(always)]
fn m64(p: &Pre, size: u8) -> Mem {
    Mem {
        disp: p.disp,
        base: p.base,
        index: p.index,
        shift: p.scale,
        base_size: 8,
        index_size: 8,
        asize: 8,
        seg: crate::state::seg::DS as u8,
        size,
        long: true,
    }
}

/// [`m64`] as an operand.
#[inline(always)]
fn mem64(p: &Pre, size: u8) -> Opnd {
    Opnd::Mem(m64(p, size))
}

/// Evaluates `$body` with `$a`, `$b` (operand references) and `$sz` (the operation
/// size) bound to constants of shape `$shape` where it has one.
macro_rules! shaped {
    ($p:expr, $shape:expr, |$sz:ident, $a:ident, $b:ident| $body:expr) => {{
        let p = $p;
        match $shape {
            Shape::Rr64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &reg(p.rb, 8));
                $body
            }
            Shape::Rr32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &reg(p.rb, 4));
                $body
            }
            Shape::Ri64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &Opnd::Imm(p.imm));
                $body
            }
            Shape::Ri32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &Opnd::Imm(p.imm));
                $body
            }
            Shape::Rm64 => {
                let ($sz, $a, $b) = (8u8, &reg(p.ra, 8), &mem64(p, 8));
                $body
            }
            Shape::Rm32 => {
                let ($sz, $a, $b) = (4u8, &reg(p.ra, 4), &mem64(p, 4));
                $body
            }
            Shape::Mr64 => {
                let ($sz, $a, $b) = (8u8, &mem64(p, 8), &reg(p.rb, 8));
                $body
            }
            Shape::Mr32 => {
                let ($sz, $a, $b) = (4u8, &mem64(p, 4), &reg(p.rb, 4));
                $body
            }
            Shape::Mi64 => {
                let ($sz, $a, $b) = (8u8, &mem64(p, 8), &Opnd::Imm(p.imm));
                $body
            }
            Shape::Mi32 => {
                let ($sz, $a, $b) = (4u8, &mem64(p, 4), &Opnd::Imm(p.imm));
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
    ($p:expr, $shape:expr, |$sz:ident, $a:ident, $k:ident| $body:expr) => {{
        let p = $p;
        match $shape {
            Shape::R64 => {
                let ($sz, $a, $k) = (8u8, &reg(p.ra, 8), LONG_STACK);
                $body
            }
            Shape::R32 => {
                let ($sz, $a, $k) = (4u8, &reg(p.ra, 4), p.stk);
                $body
            }
            Shape::M64 => {
                let ($sz, $a, $k) = (8u8, &mem64(p, 8), LONG_STACK);
                $body
            }
            _ => {
                let ($sz, $a, $k) = (p.size, &p.a, p.stk);
                $body
            }
        }
    }};
}

/// Evaluates `$body` with `$a` and `$b` bound to the SSE operands of shape `$shape`.
macro_rules! xshaped {
    ($p:expr, $shape:expr, |$a:ident, $b:ident| $body:expr) => {{
        let p = $p;
        let xa = XOpnd::Xmm(p.ra as usize & 15);
        let xb = XOpnd::Xmm(p.rb as usize & 15);
        match $shape {
            Shape::Xx => {
                let ($a, $b) = (&xa, &xb);
                $body
            }
            Shape::Xm => {
                let ($a, $b) = (&xa, &XOpnd::Mem(m64(p, p.size)));
                $body
            }
            Shape::Mx => {
                let ($a, $b) = (&XOpnd::Mem(m64(p, p.size)), &xb);
                $body
            }
            // `of_sse` gives SSE kinds no other shape.
            _ => Ok(()),
        }
    }};
}

/// The SSE kinds, through the SSE group's semantic functions.
#[inline(always)]
fn exec_sse<E: PreEmitter>(e: &mut E, p: &Pre, kind: Kind, shape: Shape) -> Sem {
    match kind {
        Kind::XMov { aligned } => xshaped!(p, shape, |a, b| sse::mov::full(e, a, b, aligned)),
        Kind::XMovScalar => {
            xshaped!(p, shape, |a, b| sse::mov::scalar(e, p.size, a, b)
                .map(|_| ()))
        }
        // Logic and helper operations with a memory source always require alignment
        // (`of_sse` takes no unaligned form of them).
        Kind::XLogic(op) => {
            xshaped!(p, shape, |_a, b| sse::logic::apply(
                e,
                op,
                p.ra as usize & 15,
                b,
                true
            ))
        }
        Kind::XHelper => xshaped!(p, shape, |_a, b| sse::helper_to_xmm(
            e, p.target, b, true, p.imm
        )),
        // The helper call of `XHelper`, unless the emitter computes the form at once.
        Kind::XArith(form) => xshaped!(p, shape, |_a, b| {
            let (lo, hi) = sse::read_helper_src(e, b, true)?;
            if e.sse_fast(form, p.ra as usize & 15, lo, hi) {
                Ok(())
            } else {
                sse::call_to_xmm(e, p.target, lo, hi, p.imm)
            }
        }),
        _ => Ok(()),
    }
}

/// The emitter pre-decoded forms run on: an [`Emitter`] that may evaluate a condition
/// from its own flag record faster than [`super::cond`], giving the same value (the
/// interpreter, from `CpuState`'s record through [`crate::flags::cond_concrete`]).
pub trait PreEmitter: Emitter + Sized {
    #[inline(always)]
    fn cond_fast(&mut self, c: Cond) -> Sem<Self::V> {
        super::cond(self, c)
    }

    /// The SSE helper's MXCSR-free arithmetic ([`sse::fast_into`]) done at once: true
    /// when done, false to call the helper (which tries the same path first).
    #[inline(always)]
    fn sse_fast(&mut self, form: u8, dst: usize, lo: Self::V, hi: Self::V) -> bool {
        let _ = (form, dst, lo, hi);
        false
    }
}

/// Executes a pre-decoded instruction through the shared semantic functions.
#[inline(always)]
pub fn exec<E: PreEmitter>(e: &mut E, p: &Pre) -> Sem {
    exec_as(e, p, p.kind, p.shape)
}

/// [`exec`] with the kind and shape given separately: called with constants (as the
/// interpreter's per-form handlers do), every test on them folds away, leaving only
/// the register numbers, memory operand parts and immediates read from `p`. `kind`
/// and `shape` must be `p`'s.
#[inline(always)]
pub fn exec_as<E: PreEmitter>(e: &mut E, p: &Pre, kind: Kind, shape: Shape) -> Sem {
    match kind {
        Kind::Mov => shaped!(p, shape, |_sz, a, b| data::mov(e, a, b)),
        Kind::Binary(op) => shaped!(p, shape, |sz, a, b| alu::binary(e, op, sz, a, b)),
        Kind::Shift(k) => shaped!(p, shape, |sz, a, b| shift::shift_ops(e, k, sz, a, b)),
        Kind::Imul => shaped!(p, shape, |sz, a, b| muldiv::imul(e, sz, a, a, b)),
        Kind::Imul3 => shaped!(p, shape, |sz, a, b| muldiv::imul(
            e,
            sz,
            a,
            b,
            &Opnd::Imm(p.target)
        )),
        Kind::Cmov(c) => {
            let c = e.cond_fast(c)?;
            shaped!(p, shape, |_sz, a, b| data::cmov_if(e, c, a, b))
        }
        Kind::Inc => shaped1!(p, shape, |sz, a, _k| alu::inc_dec(e, true, sz, a)),
        Kind::Dec => shaped1!(p, shape, |sz, a, _k| alu::inc_dec(e, false, sz, a)),
        Kind::Neg => shaped1!(p, shape, |sz, a, _k| alu::neg(e, sz, a)),
        Kind::Not => shaped1!(p, shape, |_sz, a, _k| alu::not(e, a)),
        Kind::Push => shaped1!(p, shape, |sz, a, k| stack::push_op(e, k, a, sz)),
        Kind::Pop => shaped1!(p, shape, |sz, a, k| stack::pop_op(e, k, a, sz)),
        Kind::JmpIndirect => shaped1!(p, shape, |_sz, a, _k| control::jmp_indirect(e, a)),
        Kind::CallIndirect => shaped1!(p, shape, |sz, a, k| control::call(
            e,
            k,
            &Target::Indirect(*a),
            sz,
            p.next
        )),
        Kind::Setcc(c) => {
            let c = e.cond_fast(c)?;
            data::setcc_if(e, c, &p.a)
        }
        Kind::Jcc(c) => {
            let c = e.cond_fast(c)?;
            control::jcc_if(e, c, p.target, p.next);
            Ok(())
        }
        Kind::Jmp => {
            e.jump_to(p.target);
            Ok(())
        }
        Kind::Lea => match (shape, &p.b) {
            (Shape::Rm64, _) => data::lea(e, &reg(p.ra, 8), &m64(p, 0)),
            (_, Opnd::Mem(m)) => data::lea(e, &p.a, m),
            _ => Ok(()),
        },
        Kind::Nop => Ok(()),
        Kind::Call if p.stk == LONG_STACK && p.size == 8 => {
            control::call(e, LONG_STACK, &Target::Direct(p.target), 8, p.next)
        }
        Kind::Ret if p.stk == LONG_STACK && p.size == 8 => control::ret(e, LONG_STACK, 8, p.target),
        Kind::XMov { .. }
        | Kind::XMovScalar
        | Kind::XLogic(_)
        | Kind::XHelper
        | Kind::XArith(_) => exec_sse(e, p, kind, shape),
        _ => exec_any(e, p),
    }
}

/// [`exec`] for the kinds and shapes without a specialised copy.
#[inline(never)]
fn exec_any<E: PreEmitter>(e: &mut E, p: &Pre) -> Sem {
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
        Kind::XMov { .. }
        | Kind::XMovScalar
        | Kind::XLogic(_)
        | Kind::XHelper
        | Kind::XArith(_) => exec_sse(e, p, p.kind, p.shape),
    }
}
