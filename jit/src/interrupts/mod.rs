//! Delivering exceptions and interrupts, and returning from them (IRET).
//!
//! One entry point, [`deliver`], picks the mechanism from the mode:
//! * real mode ([`legacy::deliver_real`]): the interrupt vector table at IDTR.base,
//!   4-byte `offset:segment` entries, a FLAGS/CS/IP frame;
//! * protected mode ([`legacy::deliver_protected`]): 8-byte interrupt and trap gates
//!   (32- and 16-bit), a stack switch from the 32- or 16-bit TSS on a privilege change,
//!   an [SS, ESP,] EFLAGS, CS, EIP[, error code] frame;
//! * long mode ([`long::deliver`]): 16-byte gates, a stack switch from the 64-bit TSS on
//!   a privilege change or to an IST stack, an SS:RSP/RFLAGS/CS:RIP frame aligned to 16
//!   bytes.
//!
//! A fault while delivering an exception is handled as the SDM's double-fault table
//! says: two contributory faults, or a page fault followed by a contributory fault or a
//! page fault, become #DF; a fault while delivering #DF is a triple fault, which the
//! caller reports. Faults raised while delivering an event that did not come from
//! INT n / INT3 / INTO carry the EXT bit in their error code.
//!
//! Interruptibility lives in `CpuState::interrupt_shadow`, with the bit layout of the
//! VMX guest interruptibility state: [`SHADOW_STI`], [`SHADOW_MOV_SS`] (no external
//! interrupt or NMI before the next instruction retires) and [`NMI_BLOCKED`] (from NMI
//! delivery until the next IRET).

mod desc;
mod iret;
mod legacy;
mod long;

pub use desc::Desc;
pub use iret::iret;

use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{CR0_PE, EFER_LMA};

/// Interrupt shadow after STI (set only when STI changed IF from 0 to 1).
pub const SHADOW_STI: u64 = 1;
/// Interrupt shadow after MOV SS / POP SS.
pub const SHADOW_MOV_SS: u64 = 2;
/// Both shadow kinds.
pub const SHADOW: u64 = SHADOW_STI | SHADOW_MOV_SS;
/// NMIs are blocked: an NMI handler runs and has not executed IRET yet.
pub const NMI_BLOCKED: u64 = 8;

/// Delivery failed even through #DF: the machine must reset or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripleFault {
    /// The exception that started it all (raised by an instruction).
    pub original: Fault,
    /// The exception whose delivery failed last.
    pub fault: Fault,
}

/// Where an event comes from, which decides the pushed RIP, the gate DPL check and the
/// EXT bit of error codes raised while delivering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An exception (also INT1/ICEBP, whose RIP the caller already advanced): RIP is
    /// the one in state.
    Exception,
    /// INT n / INT3 / INTO: RIP is the next instruction; gate DPL is checked.
    Software,
    /// An external interrupt or NMI.
    External,
}

impl Source {
    /// The EXT bit for error codes of faults raised during delivery.
    pub fn ext(self) -> u32 {
        (self != Source::Software) as u32
    }
}

fn contributory(v: u8) -> bool {
    matches!(v, vec::DE | vec::TS | vec::NP | vec::SS | vec::GP)
}

/// Delivers `fault`, escalating to #DF and triple fault as the SDM prescribes.
pub fn deliver_exception(ctx: &mut Ctx, fault: Fault) -> Result<(), TripleFault> {
    if fault.vector == vec::PF {
        ctx.state.cr2 = fault.address;
    }
    let Err(second) = deliver(ctx, fault.vector, fault.error_code, Source::Exception) else {
        return Ok(());
    };
    if fault.vector == vec::DF {
        return Err(TripleFault {
            original: fault,
            fault: second,
        });
    }
    let escalate = (contributory(fault.vector) && contributory(second.vector))
        || (fault.vector == vec::PF && (contributory(second.vector) || second.vector == vec::PF));
    if escalate {
        if let Err(third) = deliver(ctx, vec::DF, Some(0), Source::Exception) {
            return Err(TripleFault {
                original: fault,
                fault: third,
            });
        }
        return Ok(());
    }
    deliver_exception(ctx, second).map_err(|t| TripleFault {
        original: fault,
        fault: t.fault,
    })
}

/// Delivers an external interrupt or NMI with vector `v`. A fault while delivering it
/// is delivered in turn (an interrupt is benign: no double fault from it alone).
pub fn deliver_external(ctx: &mut Ctx, v: u8) -> Result<(), TripleFault> {
    match deliver(ctx, v, None, Source::External) {
        Ok(()) => Ok(()),
        Err(f) => deliver_exception(ctx, f),
    }
}

/// Delivers vector `v` in the current mode. On failure returns the fault that delivery
/// itself raised (nothing is changed in that case except accessed and dirty bits in
/// page tables). On success the interrupt shadow is gone and the CPU is not halted.
pub fn deliver(ctx: &mut Ctx, v: u8, code: Option<u32>, src: Source) -> Result<(), Fault> {
    let st = &ctx.state;
    if st.efer & EFER_LMA != 0 {
        long::deliver(ctx, v, code, src)?;
    } else if st.cr0 & CR0_PE != 0 {
        legacy::deliver_protected(ctx, v, code, src)?;
    } else {
        legacy::deliver_real(ctx, v, src)?;
    }
    ctx.state.interrupt_shadow &= !SHADOW;
    ctx.state.halted = 0;
    Ok(())
}

/// RFLAGS bits an event clears on the way into its handler (IF too for interrupt
/// gates, and always in real mode).
pub(crate) fn clear_on_entry(interrupt_gate: bool) -> u64 {
    use crate::state::fl;
    let mut m = fl::TF | fl::NT | fl::RF | fl::VM;
    if interrupt_gate {
        m |= fl::IF;
    }
    m
}
