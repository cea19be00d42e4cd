//! One handler function per pre-decoded (kind, operand shape): the interpreter's block
//! loop calls the handler stored in each instruction's [`super::Hint`] through a
//! function pointer, instead of matching the kind and the shape of every instruction
//! in one large function.
//!
//! Each handler is [`sem::pre::exec_as`] with the kind and shape as constants, so its
//! body is the shared semantic function for that form (`alu::binary`, `data::mov` …)
//! specialised to those operand kinds and sizes: still one definition of every
//! instruction, which the Cranelift tier lowers through the groups. Forms without a
//! specialised handler get the generic one ([`sem::pre::exec`]).

use super::Interp;
use crate::emit::Sem;
use crate::flags::Cond;
use crate::sem;
use crate::sem::alu::Bin;
use crate::sem::pre::{exec_as, Kind, Pre, Shape};
use crate::sem::shift::ShiftKind;

/// Runs one pre-decoded instruction. True when it retired and nothing needs the block
/// loop's attention (no jump, exit, fault or pending `ctx.exit`: [`Interp::stop`]
/// clear); otherwise the loop looks at [`Interp::fault`], [`Interp::end`] and
/// `ctx.exit`. RIP and the instruction count are the loop's business.
pub type Handler = for<'a, 'b, 'c> fn(&'a mut Interp<'b>, &'c Pre) -> bool;

/// The handler's verdict on a semantic function's result.
#[inline(always)]
fn done(e: &mut Interp<'_>, r: Sem) -> bool {
    match r {
        Ok(()) => !e.stop,
        Err(f) => {
            e.fault = Some(f);
            false
        }
    }
}

/// The generic handler: any kind, any shape.
fn generic(e: &mut Interp<'_>, p: &Pre) -> bool {
    let r = sem::pre::exec(e, p);
    done(e, r)
}

/// A handler for kind `$k` and shape `$s` (both constants).
macro_rules! h {
    ($k:expr, $s:expr) => {{
        fn run(e: &mut Interp<'_>, p: &Pre) -> bool {
            let r = exec_as(e, p, $k, $s);
            done(e, r)
        }
        run as Handler
    }};
}

/// The handlers of a two-operand kind, by shape.
macro_rules! two {
    ($k:expr, $shape:expr) => {
        match $shape {
            Shape::Rr64 => h!($k, Shape::Rr64),
            Shape::Rr32 => h!($k, Shape::Rr32),
            Shape::Ri64 => h!($k, Shape::Ri64),
            Shape::Ri32 => h!($k, Shape::Ri32),
            Shape::Rm64 => h!($k, Shape::Rm64),
            Shape::Rm32 => h!($k, Shape::Rm32),
            Shape::Mr64 => h!($k, Shape::Mr64),
            Shape::Mr32 => h!($k, Shape::Mr32),
            Shape::Mi64 => h!($k, Shape::Mi64),
            Shape::Mi32 => h!($k, Shape::Mi32),
            _ => h!($k, Shape::Any),
        }
    };
}

/// The handlers of a one-operand kind, by shape.
macro_rules! one {
    ($k:expr, $shape:expr) => {
        match $shape {
            Shape::R64 => h!($k, Shape::R64),
            Shape::R32 => h!($k, Shape::R32),
            Shape::M64 => h!($k, Shape::M64),
            _ => h!($k, Shape::Any),
        }
    };
}

/// The handlers of an SSE kind, by shape.
macro_rules! sse {
    ($k:expr, $shape:expr) => {
        match $shape {
            Shape::Xx => h!($k, Shape::Xx),
            Shape::Xm => h!($k, Shape::Xm),
            Shape::Mx => h!($k, Shape::Mx),
            _ => generic,
        }
    };
}

/// The handlers of `Kind::XArith(form)`, with the form index (one of `$n`) a constant.
macro_rules! arith {
    ($form:expr, $shape:expr, [$($n:literal),*]) => {
        match $form {
            $($n => sse!(Kind::XArith($n), $shape),)*
            _ => generic,
        }
    };
}

/// `$m!(kind(Cond::X), shape)` for the condition `$c`.
macro_rules! by_cond {
    ($c:expr, $m:ident, $kind:path, $shape:expr) => {
        match $c {
            Cond::O => $m!($kind(Cond::O), $shape),
            Cond::No => $m!($kind(Cond::No), $shape),
            Cond::B => $m!($kind(Cond::B), $shape),
            Cond::Ae => $m!($kind(Cond::Ae), $shape),
            Cond::E => $m!($kind(Cond::E), $shape),
            Cond::Ne => $m!($kind(Cond::Ne), $shape),
            Cond::Be => $m!($kind(Cond::Be), $shape),
            Cond::A => $m!($kind(Cond::A), $shape),
            Cond::S => $m!($kind(Cond::S), $shape),
            Cond::Ns => $m!($kind(Cond::Ns), $shape),
            Cond::P => $m!($kind(Cond::P), $shape),
            Cond::Np => $m!($kind(Cond::Np), $shape),
            Cond::L => $m!($kind(Cond::L), $shape),
            Cond::Ge => $m!($kind(Cond::Ge), $shape),
            Cond::Le => $m!($kind(Cond::Le), $shape),
            Cond::G => $m!($kind(Cond::G), $shape),
        }
    };
}

/// The handler for `p`.
pub fn of(p: &Pre) -> Handler {
    use Bin::*;
    let s = p.shape;
    match p.kind {
        Kind::Mov => two!(Kind::Mov, s),
        Kind::Binary(op) => match op {
            Add => two!(Kind::Binary(Add), s),
            Adc => two!(Kind::Binary(Adc), s),
            Sub => two!(Kind::Binary(Sub), s),
            Sbb => two!(Kind::Binary(Sbb), s),
            And => two!(Kind::Binary(And), s),
            Or => two!(Kind::Binary(Or), s),
            Xor => two!(Kind::Binary(Xor), s),
            Cmp => two!(Kind::Binary(Cmp), s),
            Test => two!(Kind::Binary(Test), s),
        },
        Kind::Shift(k) => match k {
            ShiftKind::Shl => two!(Kind::Shift(ShiftKind::Shl), s),
            ShiftKind::Shr => two!(Kind::Shift(ShiftKind::Shr), s),
            ShiftKind::Sar => two!(Kind::Shift(ShiftKind::Sar), s),
        },
        Kind::Imul => two!(Kind::Imul, s),
        Kind::Imul3 => two!(Kind::Imul3, s),
        Kind::Cmov(c) => by_cond!(c, two, Kind::Cmov, s),
        Kind::Inc => one!(Kind::Inc, s),
        Kind::Dec => one!(Kind::Dec, s),
        Kind::Neg => one!(Kind::Neg, s),
        Kind::Not => one!(Kind::Not, s),
        Kind::Push => one!(Kind::Push, s),
        Kind::Pop => one!(Kind::Pop, s),
        Kind::JmpIndirect => one!(Kind::JmpIndirect, s),
        Kind::CallIndirect => one!(Kind::CallIndirect, s),
        Kind::Jcc(c) => by_cond!(c, h, Kind::Jcc, Shape::Any),
        Kind::Setcc(c) => by_cond!(c, h, Kind::Setcc, Shape::Any),
        Kind::Jmp => h!(Kind::Jmp, Shape::Any),
        Kind::Lea => match s {
            Shape::Rm64 => h!(Kind::Lea, Shape::Rm64),
            _ => h!(Kind::Lea, Shape::Any),
        },
        Kind::Nop => h!(Kind::Nop, Shape::Any),
        Kind::Call => h!(Kind::Call, Shape::Any),
        Kind::Ret => h!(Kind::Ret, Shape::Any),
        Kind::Movsx => generic,
        Kind::XMov { aligned: true } => sse!(Kind::XMov { aligned: true }, s),
        Kind::XMov { aligned: false } => sse!(Kind::XMov { aligned: false }, s),
        Kind::XMovScalar => sse!(Kind::XMovScalar, s),
        Kind::XLogic(op) => {
            use sem::sse::logic::Op;
            match op {
                Op::And => sse!(Kind::XLogic(Op::And), s),
                Op::AndNot => sse!(Kind::XLogic(Op::AndNot), s),
                Op::Or => sse!(Kind::XLogic(Op::Or), s),
                Op::Xor => sse!(Kind::XLogic(Op::Xor), s),
                Op::Add => sse!(Kind::XLogic(Op::Add), s),
                Op::Sub => sse!(Kind::XLogic(Op::Sub), s),
            }
        }
        Kind::XHelper => sse!(Kind::XHelper, s),
        Kind::XArith(form) => arith!(
            form,
            s,
            [
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24, 25, 26, 27, 28
            ]
        ),
    }
}
