//! Model-specific registers the CPU implements. Unknown MSRs read and write as #GP,
//! as on hardware; the local APIC's MSRs (x2APIC range, TSC deadline) go to the bus.
//!
//! `read`/`write` return `None` for "raise #GP(0)".

use crate::ctx::Ctx;
use crate::state::{seg, CpuState, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE};

pub const IA32_TSC: u32 = 0x10;
pub const IA32_APIC_BASE: u32 = 0x1b;
pub const IA32_FEATURE_CONTROL: u32 = 0x3a;
pub const IA32_BIOS_SIGN_ID: u32 = 0x8b;
pub const IA32_MTRRCAP: u32 = 0xfe;
pub const IA32_SYSENTER_CS: u32 = 0x174;
pub const IA32_SYSENTER_ESP: u32 = 0x175;
pub const IA32_SYSENTER_EIP: u32 = 0x176;
pub const IA32_MISC_ENABLE: u32 = 0x1a0;
pub const IA32_MTRR_PHYSBASE0: u32 = 0x200;
pub const IA32_MTRR_FIX64K_00000: u32 = 0x250;
pub const IA32_MTRR_FIX16K_80000: u32 = 0x258;
pub const IA32_MTRR_FIX16K_A0000: u32 = 0x259;
pub const IA32_MTRR_FIX4K_C0000: u32 = 0x268;
pub const IA32_PAT: u32 = 0x277;
pub const IA32_MTRR_DEF_TYPE: u32 = 0x2ff;
pub const IA32_TSC_DEADLINE: u32 = 0x6e0;
pub const X2APIC_FIRST: u32 = 0x800;
pub const X2APIC_LAST: u32 = 0x8ff;
pub const IA32_EFER: u32 = 0xc000_0080;
pub const IA32_STAR: u32 = 0xc000_0081;
pub const IA32_LSTAR: u32 = 0xc000_0082;
pub const IA32_CSTAR: u32 = 0xc000_0083;
pub const IA32_FMASK: u32 = 0xc000_0084;
pub const IA32_FS_BASE: u32 = 0xc000_0100;
pub const IA32_GS_BASE: u32 = 0xc000_0101;
pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
pub const IA32_TSC_AUX: u32 = 0xc000_0103;

/// FEATURE_CONTROL: locked, VMX and SMX off (the firmware's final word).
pub const FEATURE_CONTROL_VALUE: u64 = 1;

/// MTRRcap: 8 variable ranges, fixed ranges supported, write-combining supported.
pub const MTRRCAP_VALUE: u64 = 8 | 1 << 8 | 1 << 10;
/// MISC_ENABLE bits the guest may change: fast strings (0); the others read as set
/// by the model (bit 11 BTS unavailable, bit 12 PEBS unavailable).
const MISC_ENABLE_FIXED: u64 = 1 << 11 | 1 << 12;
/// APIC_BASE: BSP (8), x2APIC enable (10), global enable (11), base bits 12..48.
const APIC_BASE_WRITABLE: u64 = 1 << 10 | 1 << 11 | 0x0000_ffff_ffff_f000;
const PHYS_MASK: u64 = 0x0000_ffff_ffff_ffff;

fn canonical(v: u64) -> bool {
    ((v as i64) << 16 >> 16) as u64 == v
}

/// Memory types valid in the PAT and MTRRs: UC, WC, WT, WP, WB (and UC- for the PAT).
fn valid_type(t: u64, pat: bool) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6) || (pat && t == 7)
}

/// Index into `Msrs::mtrr_fixed` for a fixed-range MTRR.
fn fixed_index(idx: u32) -> Option<usize> {
    match idx {
        IA32_MTRR_FIX64K_00000 => Some(0),
        IA32_MTRR_FIX16K_80000 => Some(1),
        IA32_MTRR_FIX16K_A0000 => Some(2),
        IA32_MTRR_FIX4K_C0000..=0x26f => Some(3 + (idx - IA32_MTRR_FIX4K_C0000) as usize),
        _ => None,
    }
}

/// Reads an MSR the CPU state holds (no devices, no clock).
pub fn read_state(st: &CpuState, idx: u32) -> Option<u64> {
    let m = &st.msr;
    Some(match idx {
        IA32_APIC_BASE => m.apic_base,
        IA32_FEATURE_CONTROL => FEATURE_CONTROL_VALUE,
        // Microcode revision 0 (EDX); kernels write 0 here before CPUID and read it.
        IA32_BIOS_SIGN_ID => 0,
        IA32_MTRRCAP => MTRRCAP_VALUE,
        IA32_MISC_ENABLE => m.misc_enable | MISC_ENABLE_FIXED,
        IA32_PAT => m.pat,
        IA32_MTRR_DEF_TYPE => m.mtrr_def_type,
        0x200..=0x20f => m.mtrr_var[(idx - IA32_MTRR_PHYSBASE0) as usize],
        IA32_SYSENTER_CS => m.sysenter_cs,
        IA32_SYSENTER_ESP => m.sysenter_esp,
        IA32_SYSENTER_EIP => m.sysenter_eip,
        IA32_EFER => st.efer,
        IA32_STAR => m.star,
        IA32_LSTAR => m.lstar,
        IA32_CSTAR => m.cstar,
        IA32_FMASK => m.sfmask,
        IA32_FS_BASE => st.segs[seg::FS].base,
        IA32_GS_BASE => st.segs[seg::GS].base,
        IA32_KERNEL_GS_BASE => m.kernel_gs_base,
        IA32_TSC_AUX => m.tsc_aux,
        _ => m.mtrr_fixed[fixed_index(idx)?],
    })
}

/// RDMSR.
pub fn read(ctx: &mut Ctx, idx: u32) -> Option<u64> {
    match idx {
        IA32_TSC => Some(ctx.virtual_tsc().wrapping_add(ctx.state.msr.tsc_offset)),
        IA32_TSC_DEADLINE | X2APIC_FIRST..=X2APIC_LAST => {
            let icount = ctx.state.icount;
            ctx.with_bus(|b| b.msr_read(idx, icount)).flatten()
        }
        _ => read_state(&ctx.state, idx),
    }
}

/// What a successful WRMSR asks of the CPU beyond storing the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteEffect {
    None,
    /// Translation-relevant state changed (EFER.NXE …): flush the TLB.
    FlushTlb,
    /// A device asked the loop to stop.
    BusStop,
}

/// WRMSR. `None`: #GP(0), nothing changed.
pub fn write(ctx: &mut Ctx, idx: u32, v: u64) -> Option<WriteEffect> {
    let icount = ctx.state.icount;
    match idx {
        IA32_TSC => {
            ctx.state.msr.tsc_offset = v.wrapping_sub(ctx.virtual_tsc());
            return Some(WriteEffect::None);
        }
        IA32_TSC_DEADLINE | X2APIC_FIRST..=X2APIC_LAST => {
            let r = ctx.with_bus(|b| b.msr_write(idx, v, icount)).flatten()?;
            return Some(if r == crate::bus::BusAction::Stop {
                WriteEffect::BusStop
            } else {
                WriteEffect::None
            });
        }
        IA32_APIC_BASE => {
            if v & !(APIC_BASE_WRITABLE | 1 << 8) != 0 {
                return None;
            }
            // x2APIC enabled with the APIC globally disabled is invalid.
            if v & (1 << 10) != 0 && v & (1 << 11) == 0 {
                return None;
            }
            let st = &mut ctx.state;
            st.msr.apic_base = (v & APIC_BASE_WRITABLE) | (st.msr.apic_base & (1 << 8));
            let nv = st.msr.apic_base;
            ctx.with_bus(|b| b.msr_write(IA32_APIC_BASE, nv, icount));
            return Some(WriteEffect::None);
        }
        _ => {}
    }
    let st = &mut ctx.state;
    let m = &mut st.msr;
    let mut effect = WriteEffect::None;
    match idx {
        IA32_MISC_ENABLE => m.misc_enable = v & !MISC_ENABLE_FIXED,
        // Writes are accepted and change nothing.
        IA32_BIOS_SIGN_ID => {}
        IA32_PAT => {
            if (0..8).any(|k| !valid_type((v >> (8 * k)) & 0xff, true)) {
                return None;
            }
            m.pat = v;
        }
        IA32_MTRR_DEF_TYPE => {
            // Type (bits 0..8), FE (10), E (11).
            if v & !0xcff != 0 || !valid_type(v & 0xff, false) {
                return None;
            }
            m.mtrr_def_type = v;
        }
        0x200..=0x20f => {
            let k = (idx - IA32_MTRR_PHYSBASE0) as usize;
            let ok = if k.is_multiple_of(2) {
                v & !(PHYS_MASK & !0xf00) == 0 && valid_type(v & 0xff, false)
            } else {
                // PHYSMASK: valid bit 11, mask bits 12.. .
                v & !(PHYS_MASK & !0x7ff) == 0
            };
            if !ok {
                return None;
            }
            m.mtrr_var[k] = v;
        }
        IA32_SYSENTER_CS => m.sysenter_cs = v & 0xffff,
        IA32_SYSENTER_ESP | IA32_SYSENTER_EIP | IA32_LSTAR | IA32_CSTAR | IA32_KERNEL_GS_BASE
            if !canonical(v) =>
        {
            return None
        }
        IA32_SYSENTER_ESP => m.sysenter_esp = v,
        IA32_SYSENTER_EIP => m.sysenter_eip = v,
        IA32_EFER => {
            let writable = EFER_SCE | EFER_LME | EFER_NXE;
            if v & !(writable | EFER_LMA) != 0 {
                return None;
            }
            // LME cannot change while paging is on.
            let paging = st.cr0 & crate::state::CR0_PG != 0;
            if paging && (v ^ st.efer) & EFER_LME != 0 {
                return None;
            }
            st.efer = (st.efer & EFER_LMA) | (v & writable);
            effect = WriteEffect::FlushTlb;
        }
        IA32_STAR => m.star = v,
        IA32_LSTAR => m.lstar = v,
        IA32_CSTAR => m.cstar = v,
        IA32_FMASK => m.sfmask = v & 0xffff_ffff,
        IA32_FS_BASE | IA32_GS_BASE if !canonical(v) => return None,
        IA32_FS_BASE => st.segs[seg::FS].base = v,
        IA32_GS_BASE => st.segs[seg::GS].base = v,
        IA32_KERNEL_GS_BASE => m.kernel_gs_base = v,
        IA32_TSC_AUX => {
            if v >> 32 != 0 {
                return None;
            }
            m.tsc_aux = v
        }
        _ => {
            let k = fixed_index(idx)?;
            if (0..8).any(|b| !valid_type((v >> (8 * b)) & 0xff, false)) {
                return None;
            }
            m.mtrr_fixed[k] = v;
        }
    }
    Some(effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_mtrr_indices_cover_all_eleven() {
        let idx: Vec<usize> = [
            0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d,
        ]
        .iter()
        .chain([0x26e, 0x26f].iter())
        .map(|&m| fixed_index(m).unwrap())
        .collect();
        assert_eq!(idx, (0..11).collect::<Vec<_>>());
        assert_eq!(fixed_index(0x251), None);
    }
}
