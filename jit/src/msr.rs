//! Model-specific registers the CPU implements. Unknown MSRs read and write as #GP,
//! as on hardware.

use crate::state::{CpuState, EFER_LMA};

pub const IA32_TSC: u32 = 0x10;
pub const IA32_APIC_BASE: u32 = 0x1b;
pub const IA32_MISC_ENABLE: u32 = 0x1a0;
pub const IA32_PAT: u32 = 0x277;
pub const IA32_SYSENTER_CS: u32 = 0x174;
pub const IA32_SYSENTER_ESP: u32 = 0x175;
pub const IA32_SYSENTER_EIP: u32 = 0x176;
pub const IA32_EFER: u32 = 0xc000_0080;
pub const IA32_STAR: u32 = 0xc000_0081;
pub const IA32_LSTAR: u32 = 0xc000_0082;
pub const IA32_CSTAR: u32 = 0xc000_0083;
pub const IA32_FMASK: u32 = 0xc000_0084;
pub const IA32_FS_BASE: u32 = 0xc000_0100;
pub const IA32_GS_BASE: u32 = 0xc000_0101;
pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
pub const IA32_TSC_AUX: u32 = 0xc000_0103;

pub fn read(st: &CpuState, idx: u32) -> Option<u64> {
    let m = &st.msr;
    Some(match idx {
        IA32_APIC_BASE => m.apic_base,
        IA32_MISC_ENABLE => m.misc_enable,
        IA32_PAT => m.pat,
        IA32_SYSENTER_CS => m.sysenter_cs,
        IA32_SYSENTER_ESP => m.sysenter_esp,
        IA32_SYSENTER_EIP => m.sysenter_eip,
        IA32_EFER => st.efer,
        IA32_STAR => m.star,
        IA32_LSTAR => m.lstar,
        IA32_CSTAR => m.cstar,
        IA32_FMASK => m.sfmask,
        IA32_FS_BASE => st.segs[crate::state::seg::FS].base,
        IA32_GS_BASE => st.segs[crate::state::seg::GS].base,
        IA32_KERNEL_GS_BASE => m.kernel_gs_base,
        IA32_TSC_AUX => m.tsc_aux,
        _ => return None,
    })
}

pub fn write(st: &mut CpuState, idx: u32, v: u64) -> Option<()> {
    let m = &mut st.msr;
    match idx {
        IA32_APIC_BASE => m.apic_base = v,
        IA32_MISC_ENABLE => m.misc_enable = v,
        IA32_PAT => m.pat = v,
        IA32_SYSENTER_CS => m.sysenter_cs = v,
        IA32_SYSENTER_ESP => m.sysenter_esp = v,
        IA32_SYSENTER_EIP => m.sysenter_eip = v,
        IA32_EFER => {
            // LMA is read-only; SCE, LME, NXE writable.
            let writable = 1 | (1 << 8) | (1 << 11);
            if v & !(writable | EFER_LMA) != 0 {
                return None;
            }
            st.efer = (st.efer & EFER_LMA) | (v & writable);
        }
        IA32_STAR => m.star = v,
        IA32_LSTAR => m.lstar = v,
        IA32_CSTAR => m.cstar = v,
        IA32_FMASK => m.sfmask = v,
        IA32_FS_BASE => st.segs[crate::state::seg::FS].base = v,
        IA32_GS_BASE => st.segs[crate::state::seg::GS].base = v,
        IA32_KERNEL_GS_BASE => m.kernel_gs_base = v,
        IA32_TSC_AUX => m.tsc_aux = v & 0xffff_ffff,
        _ => return None,
    }
    Some(())
}
