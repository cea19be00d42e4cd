//! Control and debug registers: MOV to/from CR0/CR2/CR3/CR4/CR8 with the #GP checks
//! for reserved bits and invalid combinations, the paging-mode switches (CR0.PG with
//! EFER.LME activates long mode), CLTS, LMSW, MOV DRn.
//!
//! TLB effects: a change of CR0.PG/WP/PE or of the CR4 paging bits flushes everything
//! (global pages included); a CR3 write keeps global pages (CR4.PGE). Translated code
//! is never dropped: blocks are keyed by physical address.

use super::op;
use crate::ctx::Ctx;
use crate::exception::Fault;
use crate::state::*;

/// CR4 bits this CPU lets the guest set: VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE,
/// OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE, SMEP, SMAP.
pub const CR4_SUPPORTED: u64 = CR4_VME
    | CR4_PVI
    | CR4_TSD
    | CR4_DE
    | CR4_PSE
    | CR4_PAE
    | CR4_MCE
    | CR4_PGE
    | (1 << 8)
    | CR4_OSFXSR
    | CR4_OSXMMEXCPT
    | CR4_FSGSBASE
    | CR4_OSXSAVE
    | CR4_SMEP
    | CR4_SMAP;

/// CR4 bits whose change invalidates every cached translation.
const CR4_PAGING: u64 = CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP;
/// CR0 bits whose change invalidates every cached translation.
const CR0_PAGING: u64 = CR0_PG | CR0_WP | CR0_PE;

/// The checked new CR0 (bit 4, ET, always reads as 1); applies the LMA change.
fn write_cr0(ctx: &mut Ctx, v: u64) -> Result<(), Fault> {
    let st = &mut ctx.state;
    if v >> 32 != 0 {
        return Err(Fault::gp0());
    }
    let v = v | 0x10;
    if v & CR0_PG != 0 && v & CR0_PE == 0 {
        return Err(Fault::gp0());
    }
    if v & CR0_NW != 0 && v & CR0_CD == 0 {
        return Err(Fault::gp0());
    }
    let enabling_paging = v & CR0_PG != 0 && st.cr0 & CR0_PG == 0;
    let disabling_paging = v & CR0_PG == 0 && st.cr0 & CR0_PG != 0;
    if enabling_paging && st.efer & EFER_LME != 0 && st.cr4 & CR4_PAE == 0 {
        return Err(Fault::gp0());
    }
    // Paging cannot be turned off from 64-bit code (compatibility mode may).
    if disabling_paging && st.long_mode() {
        return Err(Fault::gp0());
    }
    // Clearing PE with paging on is caught above (PG without PE).
    let changed = st.cr0 ^ v;
    st.cr0 = v;
    if enabling_paging && st.efer & EFER_LME != 0 {
        st.efer |= EFER_LMA;
    }
    if disabling_paging {
        st.efer &= !EFER_LMA;
    }
    if changed & CR0_PAGING != 0 {
        ctx.flush_tlb();
    }
    Ok(())
}

fn write_cr4(ctx: &mut Ctx, v: u64) -> Result<(), Fault> {
    let st = &mut ctx.state;
    if v & !CR4_SUPPORTED != 0 {
        return Err(Fault::gp0());
    }
    if st.efer & EFER_LMA != 0 && v & CR4_PAE == 0 {
        return Err(Fault::gp0());
    }
    let changed = st.cr4 ^ v;
    st.cr4 = v;
    if changed & CR4_PAGING != 0 {
        ctx.flush_tlb();
    }
    Ok(())
}

fn write_cr3(ctx: &mut Ctx, v: u64) -> Result<(), Fault> {
    let st = &mut ctx.state;
    // Bits above the 52-bit physical address are reserved in long mode (no PCID).
    if st.efer & EFER_LMA != 0 && v >> 52 != 0 {
        return Err(Fault::gp0());
    }
    st.cr3 = if st.efer & EFER_LMA != 0 {
        v
    } else {
        v & 0xffff_ffff
    };
    crate::mmu::flush_nonglobal(ctx);
    Ok(())
}

fn dr_index(ctx: &Ctx, n: u64) -> Result<usize, Fault> {
    match n {
        0..=3 | 6 | 7 => Ok(n as usize),
        // DR4/DR5 alias DR6/DR7 unless CR4.DE makes them undefined.
        4 | 5 if ctx.state.cr4 & CR4_DE == 0 => Ok(n as usize + 2),
        _ => Err(Fault::ud()),
    }
}

/// The pseudo-MSR through which CR8 reaches the local APIC on the bus (the x2APIC TPR
/// register 0x808 holds TPR = CR8 << 4; this index carries the CR8 value itself).
pub const CR8_ALIAS: u32 = 0xffff_0008;

/// MOV CRn/DRn, CLTS, LMSW (CPL already checked).
pub fn control(ctx: &mut Ctx, code: u64, a: u64, b: u64) -> Result<u64, Fault> {
    match code {
        op::READ_CR => {
            if a == 8 {
                // CR8 is the local APIC's task priority (TPR bits 7:4).
                let icount = ctx.state.icount;
                if let Some(v) = ctx.with_bus(|b| b.msr_read(CR8_ALIAS, icount)).flatten() {
                    ctx.state.cr8 = v & 0xf;
                }
            }
            let st = &ctx.state;
            Ok(match a {
                0 => st.cr0,
                2 => st.cr2,
                3 => st.cr3,
                4 => st.cr4,
                8 => st.cr8,
                _ => return Err(Fault::ud()),
            })
        }
        op::WRITE_CR => {
            match a {
                0 => write_cr0(ctx, b)?,
                2 => ctx.state.cr2 = b,
                3 => write_cr3(ctx, b)?,
                4 => write_cr4(ctx, b)?,
                8 => {
                    if b >> 4 != 0 {
                        return Err(Fault::gp0());
                    }
                    ctx.state.cr8 = b;
                    let icount = ctx.state.icount;
                    let _ = ctx.with_bus(|bus| bus.msr_write(CR8_ALIAS, b, icount));
                }
                _ => return Err(Fault::ud()),
            }
            Ok(0)
        }
        op::READ_DR => {
            let k = dr_index(ctx, a)?;
            Ok(ctx.state.dr.get(k).copied().unwrap_or(0))
        }
        op::WRITE_DR => {
            let k = dr_index(ctx, a)?;
            if k >= 6 && b >> 32 != 0 {
                return Err(Fault::gp0());
            }
            let v = match k {
                // Reserved bits of DR6 read as 1, DR7 bit 10 reads as 1.
                6 => b | 0xffff_0ff0,
                7 => (b | 0x400) & !(0x3 << 14),
                _ => b,
            };
            if let Some(d) = ctx.state.dr.get_mut(k) {
                *d = v;
            }
            Ok(0)
        }
        op::CLTS => {
            ctx.state.cr0 &= !CR0_TS;
            Ok(0)
        }
        op::LMSW => {
            // Loads PE, MP, EM, TS; cannot clear PE.
            let cr0 = ctx.state.cr0;
            let new = (cr0 & !0xe) | (b & 0xf) | (cr0 & CR0_PE);
            write_cr0(ctx, new)?;
            Ok(0)
        }
        _ => Err(Fault::ud()),
    }
}
