//! MXCSR: running host SSE instructions under the guest's control bits, folding the
//! exception flags back into the guest MXCSR, and LDMXCSR / STMXCSR.

use super::{guard, pack_op};
use crate::ctx::Ctx;
use crate::emit::{Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::helpers::Helper;
use crate::state::CR4_OSXMMEXCPT;
use iced_x86::{Instruction, Mnemonic};

/// Exception flag bits (IE DE ZE OE UE PE).
pub const FLAGS: u32 = 0x3f;
/// Pre-computation exception flags: IE, DE, ZE.
pub const PRE: u32 = 0x7;
/// Exception mask bits.
pub const MASKS: u32 = 0x3f << 7;
/// Bits the host MXCSR takes from the guest's: rounding control, DAZ, FTZ.
pub const CONTROL: u32 = (3 << 13) | (1 << 6) | (1 << 15);
/// Writable MXCSR bits (MXCSR_MASK with DAZ supported).
pub const WRITABLE: u32 = 0xffff;

/// What a host-computed operation produced.
pub struct Computed {
    pub value: Value,
    /// Exception flags raised (MXCSR bits 0..6).
    pub flags: u32,
}

pub enum Value {
    /// The new destination register.
    Xmm(u128),
    /// A GPR or RFLAGS result.
    Scalar(u64),
}

/// The host MXCSR to run a guest operation under: the guest's rounding and
/// denormal control, every exception masked, no flags.
pub fn host_csr(guest: u32) -> u32 {
    let mut c = guest & CONTROL;
    if guest & UM == 0 {
        // FTZ applies only while underflow is masked.
        c &= !FTZ;
    }
    c | MASKS
}

/// The MXCSR a host operation runs under ([`under_guest_csr!`]): [`host_csr`], plus the
/// guest's exception flags when the guest masks every exception.
///
/// With every exception masked, an operation's only effect on the guest MXCSR is to
/// OR the flags it raises into it, so the flags may start at the guest's instead of
/// at zero: the flags read after the operation are then the guest's new flags, and the
/// host MXCSR can stay as it is until the next operation. When the guest's rounding
/// and denormal control are the host's (round to nearest, no DAZ/FTZ: what the
/// emulator's threads run with, Rust never changes it), nothing but STMXCSR is
/// executed around the operation in the steady state, instead of two LDMXCSR.
/// Otherwise the operation starts with no flags, and the flags read are exactly the
/// ones it raised (needed to tell which unmasked exception occurred).
#[inline(always)]
pub fn run_csr(guest: u32) -> u32 {
    let c = host_csr(guest);
    if guest & MASKS == MASKS {
        c | (guest & FLAGS)
    } else {
        c
    }
}

/// Runs host SSE instructions (the template pieces `$insn`) under the MXCSR
/// [`run_csr`] gives for the guest's, as one asm block (so the compiler cannot move
/// other floating-point work into or out of it). `$csr` names a `u32` holding that
/// value on entry and the MXCSR after the instructions on exit; `$save` a scratch
/// `u32`. The host MXCSR is loaded only when it differs from the wanted one, and
/// restored afterwards only when its control bits (rounding, DAZ, FTZ, masks)
/// differ from the host's; its exception flags are left as the guest operation
/// set them (nothing on the host reads them). `$rest` are further asm operands.
macro_rules! under_guest_csr {
    ($csr:ident, $save:ident, [$($insn:expr),+ $(,)?], $($rest:tt)*) => {
        core::arch::asm!(
            "stmxcsr [{save}]",
            "mov {csr_t:e}, [{save}]",
            "cmp {csr_t:e}, [{csr}]",
            "je 2f",
            "ldmxcsr [{csr}]",
            "2:",
            $($insn,)+
            "stmxcsr [{csr}]",
            "mov {csr_t:e}, [{csr}]",
            "xor {csr_t:e}, [{save}]",
            "test {csr_t:e}, -64",
            "jz 3f",
            "ldmxcsr [{save}]",
            "3:",
            csr = in(reg) &mut $csr,
            save = in(reg) &mut $save,
            csr_t = out(reg) _,
            $($rest)*
        )
    };
}
pub(crate) use under_guest_csr;

/// The MXCSR control (round to nearest, no DAZ/FTZ, all exceptions masked) the
/// emulator's threads compute with: the x86-64 ABI's initial value, which Rust never
/// changes. [`super::fast`] relies on it.
pub const HOST_CONTROL: u32 = 0x1f80;

/// Puts the host MXCSR's control bits back to [`HOST_CONTROL`] if something in the
/// process changed them (its exception flags are left as they are).
pub fn normalize_host() {
    let mut v: u32 = 0;
    // SAFETY: STMXCSR writes the four bytes of the local it is given.
    unsafe { core::arch::asm!("stmxcsr [{p}]", p = in(reg) &mut v, options(nostack)) };
    if v & !FLAGS != HOST_CONTROL {
        v = HOST_CONTROL | (v & FLAGS);
        // SAFETY: LDMXCSR reads the local; the value has no reserved bit set.
        unsafe { core::arch::asm!("ldmxcsr [{p}]", p = in(reg) &v, options(nostack)) };
    }
}

const UM: u32 = 1 << 11;
const FTZ: u32 = 1 << 15;
const UE: u32 = 1 << 4;

/// With underflow unmasked, a tiny result raises UE even when it is exact (the masked
/// host run only reports inexact tiny results). A tiny exact result is a non-zero
/// denormal in one of the lanes the instruction produced.
pub fn unmasked_underflow(m: Mnemonic, guest: u32, c: &Computed) -> u32 {
    use Mnemonic::*;
    if guest & UM != 0 {
        return 0;
    }
    let Value::Xmm(v) = c.value else {
        return 0;
    };
    // (lane width, lanes produced)
    let (w, n) = match m {
        Addps | Subps | Mulps | Divps => (32, 4),
        Addss | Subss | Mulss | Divss | Cvtsd2ss => (32, 1),
        Cvtpd2ps => (32, 2),
        Addpd | Subpd | Mulpd | Divpd => (64, 2),
        Addsd | Subsd | Mulsd | Divsd => (64, 1),
        _ => return 0,
    };
    let tiny = (0..n).any(|k| {
        let x = (v >> (k * w)) as u64;
        if w == 32 {
            let x = x as u32;
            x & 0x7f80_0000 == 0 && x & 0x007f_ffff != 0
        } else {
            x & 0x7ff0_0000_0000_0000 == 0 && x & 0x000f_ffff_ffff_ffff != 0
        }
    });
    if tiny {
        UE
    } else {
        0
    }
}

/// Folds raised exception flags into the guest MXCSR. When one of them is unmasked,
/// raises #XM (or #UD without CR4.OSXMMEXCPT); the caller then leaves the destination
/// unchanged.
pub fn commit(ctx: &mut Ctx, flags: u32) -> Result<(), Fault> {
    let mut flags = flags & FLAGS;
    let st = &mut ctx.state;
    let unmasked = flags & !(st.mxcsr >> 7) & FLAGS;
    if unmasked & PRE != 0 {
        // An unmasked pre-computation exception (invalid, denormal, divide by zero)
        // aborts the instruction before the post-computation ones are detected.
        flags &= PRE;
    }
    st.mxcsr |= flags;
    if unmasked != 0 {
        return Err(if st.cr4 & CR4_OSXMMEXCPT != 0 {
            Fault::new(vec::XM)
        } else {
            Fault::ud()
        });
    }
    Ok(())
}

/// LDMXCSR's helper side: #GP(0) on reserved bits.
pub fn ldmxcsr_helper(ctx: &mut Ctx, v: u32) -> Result<(), Fault> {
    if v & !WRITABLE != 0 {
        return Err(Fault::gp0());
    }
    ctx.state.mxcsr = v;
    Ok(())
}

/// LDMXCSR m32 / STMXCSR m32.
pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    guard(e)?;
    let a = super::super::operand::mem_addr(e, i);
    let z = e.imm(0);
    match i.mnemonic() {
        Mnemonic::Ldmxcsr => {
            let v = e.load(a, 4)?;
            let op = e.imm(pack_op(Mnemonic::Ldmxcsr, 0, 0));
            e.helper(Helper::Sse, &[op, v, z, z])?;
        }
        _ => {
            let op = e.imm(pack_op(Mnemonic::Stmxcsr, 0, 0));
            let v = e.helper(Helper::Sse, &[op, z, z, z])?;
            e.store(a, v, 4)?;
        }
    }
    Ok(Some(()))
}
