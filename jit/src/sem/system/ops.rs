//! The system helper: one entry point for both tiers, dispatching on [`super::op`].

use super::op;
use crate::ctx::{exit, Ctx};
use crate::exception::Fault;
use crate::msr::WriteEffect;
use crate::state::{fl, reg, CR0_PE, CR4_TSD};

/// Operations that raise #GP(0) above CPL 0.
fn needs_cpl0(code: u64) -> bool {
    matches!(
        code,
        op::PRIVILEGED
            | op::LGDT
            | op::LIDT
            | op::RDMSR
            | op::WRMSR
            | op::READ_CR
            | op::WRITE_CR
            | op::INVLPG
            | op::READ_DR
            | op::WRITE_DR
            | op::CLTS
            | op::LMSW
            | op::LTR
            | op::LLDT
            | op::INVD
    )
}

/// Asks the loop to look at the state again after this instruction (mode, CPL or CS
/// changed; an interrupt may have become deliverable).
pub fn request_resync(ctx: &mut Ctx) {
    if ctx.exit == exit::NONE {
        ctx.exit = exit::RESYNC;
    }
}

fn system(ctx: &mut Ctx, packed: u64, a: u64, b: u64, c: u64) -> Result<u64, Fault> {
    let code = packed & 0xffff;
    let param = packed >> 16;
    if needs_cpl0(code) && ctx.state.cpl() != 0 {
        return Err(Fault::gp0());
    }
    let st = &mut ctx.state;
    match code {
        op::PRIVILEGED | op::INVD => Ok(0),
        op::CLI | op::STI => {
            let iopl = ((st.rflags_sys & fl::IOPL) >> 12) as u8;
            if st.cr0 & CR0_PE != 0 && st.cpl() > iopl {
                return Err(Fault::gp0());
            }
            if code == op::CLI {
                st.rflags_sys &= !fl::IF;
            } else {
                // The STI shadow is recorded by `interp::step`, which runs STI.
                st.rflags_sys |= fl::IF;
            }
            Ok(0)
        }
        op::LGDT | op::LIDT => {
            let limit = crate::mmu::read(ctx, a, 2)? as u32;
            let size = if b == 8 { 8 } else { 4 };
            let mut base = crate::mmu::read(ctx, a.wrapping_add(2), size)?;
            if b == 3 {
                base &= 0xff_ffff;
            }
            let t = if code == op::LGDT {
                &mut ctx.state.gdtr
            } else {
                &mut ctx.state.idtr
            };
            t.base = base;
            t.limit = limit & 0xffff;
            Ok(0)
        }
        op::SGDT | op::SIDT => {
            let t = if code == op::SGDT {
                ctx.state.gdtr
            } else {
                ctx.state.idtr
            };
            let size = if b == 8 { 8 } else { 4 };
            let base = if b == 3 { t.base & 0xff_ffff } else { t.base };
            crate::mmu::translate(ctx, a, crate::mmu::Access::Write)?;
            crate::mmu::translate(ctx, a.wrapping_add(1 + size), crate::mmu::Access::Write)?;
            crate::mmu::write(ctx, a, 2, t.limit as u64)?;
            crate::mmu::write(ctx, a.wrapping_add(2), size as u8, base)?;
            Ok(0)
        }
        op::RDMSR => {
            let idx = st.gpr[reg::RCX] as u32;
            let v = crate::msr::read(ctx, idx).ok_or(Fault::gp0())?;
            let st = &mut ctx.state;
            st.gpr[reg::RAX] = v & 0xffff_ffff;
            st.gpr[reg::RDX] = v >> 32;
            Ok(v)
        }
        op::WRMSR => {
            let idx = st.gpr[reg::RCX] as u32;
            let v = (st.gpr[reg::RDX] << 32) | (st.gpr[reg::RAX] & 0xffff_ffff);
            match crate::msr::write(ctx, idx, v).ok_or(Fault::gp0())? {
                WriteEffect::FlushTlb => ctx.flush_tlb(),
                WriteEffect::BusStop => ctx.exit = exit::BUS_STOP,
                WriteEffect::None => {}
            }
            // WRMSR leaves compiled code: an interrupt may have become deliverable.
            request_resync(ctx);
            Ok(0)
        }
        op::RDTSC => {
            if st.cr4 & CR4_TSD != 0 && st.cpl() != 0 {
                return Err(Fault::gp0());
            }
            Ok(ctx.virtual_tsc().wrapping_add(ctx.state.msr.tsc_offset))
        }
        op::TSC_AUX => Ok(st.msr.tsc_aux),
        op::READ_CR | op::WRITE_CR | op::READ_DR | op::WRITE_DR | op::CLTS | op::LMSW => {
            super::cr::control(ctx, code, a, b)
        }
        op::SMSW => Ok(st.cr0 & 0xffff_ffff),
        op::XGETBV | op::XSETBV | op::XSAVE | op::XRSTOR => super::xsave::xsave(ctx, code, a),
        op::INVLPG => {
            crate::mmu::invalidate_page(ctx, a);
            Ok(0)
        }
        op::STAC | op::CLAC => {
            if st.cpl() != 0 {
                return Err(Fault::ud());
            }
            if code == op::STAC {
                st.rflags_sys |= fl::AC;
            } else {
                st.rflags_sys &= !fl::AC;
            }
            Ok(0)
        }
        op::LTR
        | op::LLDT
        | op::STR
        | op::SLDT
        | op::PROBE
        | op::LOAD_SEG
        | op::READ_SEL
        | op::FAR_JMP
        | op::FAR_CALL
        | op::FAR_RET => super::super::far::helper(ctx, code, param, a, b, c),
        op::SYSCALL
        | op::SYSRET
        | op::SYSENTER
        | op::SYSEXIT
        | op::SWAPGS
        | op::RDBASE
        | op::WRBASE => super::super::syscall::helper(ctx, code, param, a, b),
        _ => Err(Fault::ud()),
    }
}

/// `helper_system(ctx, op, a, b, c)`: see [`super::op`].
pub extern "C" fn helper_system(ctx: *mut Ctx, code: u64, a: u64, b: u64, c: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    match system(ctx, code, a, b, c) {
        Ok(v) => v,
        Err(f) => {
            ctx.set_fault(f);
            0
        }
    }
}
