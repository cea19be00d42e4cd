//! Instruction semantics, written once and generic over [`Emitter`].
//!
//! [`translate`] dispatches on the mnemonic to one of the instruction-group modules.
//! Operand access (registers with their partial-write rules, effective addresses,
//! immediates) lives in [`operand`].

pub mod alu;
pub mod bits;
pub mod control;
pub mod data;
pub mod far;
pub mod interrupt;
pub mod muldiv;
pub mod operand;
pub mod pre;
pub mod shift;
pub mod sse;
pub mod stack;
pub mod string;
pub mod syscall;
pub mod system;
pub mod x87;

use crate::emit::{Emitter, Sem};
use iced_x86::Instruction;

/// What `translate` did with an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Semantics emitted.
    Done,
    /// No semantics for this instruction: the caller raises #UD and reports it.
    Unsupported,
}

/// Emits the semantics of one instruction. Groups are tried in turn; each answers
/// `Ok(Some(()))` for instructions it owns.
pub fn translate<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Outcome> {
    let mut hint = NO_HINT;
    translate_hinted(e, i, &mut hint)
}

const GROUPS: u8 = 13;

/// The instruction groups, in the order they are tried.
#[inline(always)]
fn group<E: Emitter>(k: u8, e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    match k {
        0 => data::emit(e, i),
        1 => alu::emit(e, i),
        // Far transfers first: control's near CALL/JMP would take their memory forms.
        2 => match far::emit(e, i)? {
            Some(()) => Ok(Some(())),
            None => control::emit(e, i),
        },
        3 => stack::emit(e, i),
        4 => shift::emit(e, i),
        5 => muldiv::emit(e, i),
        6 => bits::emit(e, i),
        7 => string::emit(e, i),
        8 => sse::emit(e, i),
        9 => x87::emit(e, i),
        10 => system::emit(e, i),
        11 => data::emit_misc(e, i),
        12 => interrupt::emit(e, i),
        _ => Ok(None),
    }
}

/// No group known yet for an instruction (see [`translate_hinted`]).
pub const NO_HINT: u8 = u8::MAX;

/// [`translate`] that remembers in `hint` which group handled the instruction, so an
/// interpreter executing the same decoded instruction again goes straight to it.
pub fn translate_hinted<E: Emitter>(e: &mut E, i: &Instruction, hint: &mut u8) -> Sem<Outcome> {
    if *hint != NO_HINT && group(*hint, e, i)?.is_some() {
        return Ok(Outcome::Done);
    }
    for k in 0..GROUPS {
        if group(k, e, i)?.is_some() {
            *hint = k;
            return Ok(Outcome::Done);
        }
    }
    Ok(Outcome::Unsupported)
}

/// True for instructions after which a block must end even though they do not branch
/// (the semantics call `Emitter::exit` or change state translation depends on).
pub fn ends_block(i: &Instruction) -> bool {
    use iced_x86::FlowControl;
    !matches!(i.flow_control(), FlowControl::Next)
        || system::is_block_ending(i)
        || interrupt::ends_block(i)
}

use crate::flags::{cond_static, eflags_static, CcKind, CcOp, Cond, LazyFlags};
use crate::helpers::Helper;

/// Records a flag-setting operation.
#[inline(always)]
pub fn set_flags<E: Emitter>(e: &mut E, kind: CcKind, size: u8, res: E::V, s1: E::V, s2: E::V) {
    let dyn_op = e.imm(CcOp::new(kind, size).encode());
    e.set_flags(LazyFlags {
        op: Some(CcOp::new(kind, size)),
        dyn_op,
        res,
        s1,
        s2,
    });
}

/// Records explicit arithmetic flags (bits in RFLAGS positions).
pub fn set_eflags<E: Emitter>(e: &mut E, flags: E::V) {
    let z = e.imm(0);
    set_flags(e, CcKind::Eflags, 8, flags, z, z);
}

/// The lazy flag state with a statically known operation, materialising explicit
/// flags (through a helper) when the operation is only known at run time.
#[inline(always)]
pub fn known_flags<E: Emitter>(e: &mut E) -> Sem<(CcOp, LazyFlags<E::V>)> {
    let f = e.flags();
    if let Some(op) = f.op {
        return Ok((op, f));
    }
    let v = e.helper(Helper::ComputeEflags, &[f.dyn_op, f.res, f.s1, f.s2])?;
    set_eflags(e, v);
    Ok((CcOp::EFLAGS, e.flags()))
}

/// Evaluates a condition code to 0 or 1.
#[inline(always)]
pub fn cond<E: Emitter>(e: &mut E, c: Cond) -> Sem<E::V> {
    let (op, f) = known_flags(e)?;
    Ok(cond_static(e, op, &f, c))
}

/// The six arithmetic flags in RFLAGS positions.
pub fn arith_flags<E: Emitter>(e: &mut E) -> Sem<E::V> {
    let (op, f) = known_flags(e)?;
    Ok(eflags_static(e, op, &f))
}

/// The carry flag as 0 or 1.
pub fn carry<E: Emitter>(e: &mut E) -> Sem<E::V> {
    cond(e, Cond::B)
}

/// The full RFLAGS value.
pub fn rflags<E: Emitter>(e: &mut E) -> Sem<E::V> {
    let a = arith_flags(e)?;
    let s = e.rflags_sys();
    Ok(e.or(a, s))
}
