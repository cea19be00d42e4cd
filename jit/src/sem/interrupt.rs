//! Software interrupts and returns from interrupts: INT n, INT3, INTO, INT1 (ICEBP),
//! IRET / IRETD / IRETQ.
//!
//! Each is one call to [`helper_interrupt`], which delivers the event (or performs the
//! return) on the architectural state and answers the new RIP; the instruction then
//! ends the block there. A fault while delivering is reported on the instruction itself
//! (RIP at INT n, as the SDM specifies for software interrupts).

use crate::ctx::Ctx;
use crate::emit::{Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::helpers::Helper;
use crate::interrupts::{self, Source, NMI_BLOCKED};
use crate::state::fl;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// Operation codes passed as the first argument of [`helper_interrupt`].
pub mod op {
    pub const INT: u64 = 1;
    pub const INTO: u64 = 2;
    pub const INT1: u64 = 3;
    pub const IRET: u64 = 4;
}

/// Instructions after which the dispatcher must run before anything else executes:
/// interrupts may have become deliverable, or the interrupt shadow starts.
pub fn leaves_to_dispatcher(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(
        i.mnemonic(),
        Sti | Cli
            | Popf
            | Popfd
            | Popfq
            | Iret
            | Iretd
            | Iretq
            | Int
            | Int3
            | Into
            | Int1
            | In
            | Out
            | Insb
            | Insw
            | Insd
            | Outsb
            | Outsw
            | Outsd
            | Wrmsr
            | Hlt
    ) || sets_mov_ss_shadow(i)
}

/// MOV SS / POP SS: interrupts wait until the next instruction has retired.
pub fn sets_mov_ss_shadow(i: &Instruction) -> bool {
    matches!(i.mnemonic(), Mnemonic::Mov | Mnemonic::Pop)
        && i.op_kind(0) == OpKind::Register
        && i.op_register(0) == Register::SS
}

/// Instructions the compiled tier leaves to the interpreter, because they start an
/// interrupt shadow (which the interpreter records exactly, see `interp::step`).
pub fn interpreter_only(i: &Instruction) -> bool {
    i.mnemonic() == Mnemonic::Sti || sets_mov_ss_shadow(i)
}

/// Block ends that the other groups do not already imply.
pub fn ends_block(i: &Instruction) -> bool {
    sets_mov_ss_shadow(i)
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let (code, a) = match i.mnemonic() {
        Int => (op::INT, i.immediate8() as u64),
        Int3 => (op::INT, vec::BP as u64),
        Into => (op::INTO, 0),
        Int1 => (op::INT1, 0),
        Iret => (op::IRET, 2),
        Iretd => (op::IRET, 4),
        Iretq => (op::IRET, 8),
        _ => return Ok(None),
    };
    let args = [e.imm(code), e.imm(a), e.imm(i.next_ip())];
    let target = e.helper(Helper::Interrupt, &args)?;
    e.jump(target);
    Ok(Some(()))
}

fn run(ctx: &mut Ctx, code: u64, a: u64, next_ip: u64) -> Result<u64, Fault> {
    let at = ctx.state.rip;
    let soft = |ctx: &mut Ctx, v: u8, src: Source| {
        ctx.state.rip = next_ip;
        match interrupts::deliver(ctx, v, None, src) {
            Ok(()) => Ok(ctx.state.rip),
            Err(f) => {
                ctx.state.rip = at;
                Err(f)
            }
        }
    };
    match code {
        op::INT => soft(ctx, a as u8, Source::Software),
        op::INTO => {
            if ctx.state.rflags() & fl::OF == 0 {
                return Ok(next_ip);
            }
            soft(ctx, vec::OF, Source::Software)
        }
        // ICEBP: a debug trap that ignores the gate DPL and counts as external.
        op::INT1 => soft(ctx, vec::DB, Source::Exception),
        op::IRET => {
            interrupts::iret(ctx, a as u8)?;
            ctx.state.interrupt_shadow &= !NMI_BLOCKED;
            Ok(ctx.state.rip)
        }
        _ => Err(Fault::ud()),
    }
}

/// `helper_interrupt(ctx, op, a, next_ip, _)`: see [`op`]; returns the new RIP.
pub extern "C" fn helper_interrupt(ctx: *mut Ctx, code: u64, a: u64, next: u64, _: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    match run(ctx, code, a, next) {
        Ok(rip) => rip,
        Err(f) => {
            ctx.set_fault(f);
            0
        }
    }
}
