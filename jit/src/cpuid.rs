//! The one fixed virtual CPU model that CPUID reports, identical on every host (a log
//! recorded on one machine replays on any other x86-64 host).
//!
//! Only features the CPU implements are reported. Two bits follow guest state, as on
//! hardware: leaf 1 ECX.OSXSAVE mirrors CR4.OSXSAVE and leaf 1 EDX.APIC mirrors the
//! global enable bit of IA32_APIC_BASE (see [`cpuid_for`]).

use crate::ctx::Ctx;
use crate::state::{reg, CpuState, CR4_OSXSAVE};

/// "GenuineIntel": the layouts below are Intel's, and kernels key quirks on the vendor.
const VENDOR: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];

/// Highest basic leaf.
pub const MAX_BASIC: u32 = 0x16;
/// Highest extended leaf.
pub const MAX_EXT: u32 = 0x8000_0008;

/// Feature bits of leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE,
/// CMOV, PAT, CLFSH, MMX, FXSR, SSE, SSE2.
pub const LEAF1_EDX: u32 = (1 << 0)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 8)
    | (1 << 9)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 15)
    | (1 << 16)
    | (1 << 19)
    | (1 << 23)
    | (1 << 24)
    | (1 << 25)
    | (1 << 26);
pub const LEAF1_EDX_APIC: u32 = 1 << 9;
/// Leaf 1 ECX: CX16 (13), x2APIC (21), POPCNT (23), TSC-deadline (24), XSAVE (26),
/// hypervisor (31). (SSE3+ come when they are implemented.)
/// CX16, x2APIC, POPCNT, TSC-deadline, XSAVE, RDRAND, hypervisor.
pub const LEAF1_ECX: u32 =
    (1 << 13) | (1 << 21) | (1 << 23) | (1 << 24) | (1 << 26) | (1 << 30) | (1 << 31);
pub const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
/// Extended leaf 0x8000_0001 EDX: SYSCALL (11), NX (20), 1 GiB pages (26), RDTSCP
/// (27), LM (29); ECX: LAHF/SAHF (0), ABM/LZCNT (5).
pub const EXT1_EDX: u32 = (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29);
pub const EXT1_ECX: u32 = 1 | (1 << 5);
/// Leaf 7 EBX: FSGSBASE (0), BMI1 (3) for TZCNT, SMEP (7), SMAP (20).
pub const LEAF7_EBX: u32 = 1 | (1 << 3) | (1 << 7) | (1 << 18) | (1 << 20);
/// Leaf 7 ECX: RDPID (22).
pub const LEAF7_ECX: u32 = 1 << 22;
/// XCR0 bits the model supports: x87 and SSE.
pub const XCR0_SUPPORTED: u64 = 3;
/// XSAVE area size for x87 + SSE: the 512-byte legacy region and the 64-byte header.
pub const XSAVE_SIZE: u32 = 576;
/// TSC and crystal: the virtual TSC runs at 1 GHz = 25 MHz crystal * 40 / 1.
pub const CRYSTAL_HZ: u32 = 25_000_000;

/// The fixed model: the answer for `leaf`/`sub` before state-dependent bits.
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    match leaf {
        0 => [MAX_BASIC, VENDOR[0], VENDOR[2], VENDOR[1]],
        // Family 6, model 0x55 stepping 4; APIC ID 0, one logical CPU, CLFLUSH 64 bytes.
        1 => [0x0005_0654, 0x0001_0800, LEAF1_ECX, LEAF1_EDX],
        // Thermal/power: ARAT (the APIC timer keeps running in deep C-states).
        6 => [1 << 2, 0, 0, 0],
        7 if sub == 0 => [0, LEAF7_EBX, LEAF7_ECX, 0],
        // Topology: one thread per core (SMT level), one core per package.
        0xb => match sub {
            0 => [0, 1, 1 << 8, 0],
            1 => [0, 1, 2 << 8 | 1, 0],
            _ => [0, 0, sub & 0xff, 0],
        },
        0xd => match sub {
            0 => [XCR0_SUPPORTED as u32, XSAVE_SIZE, XSAVE_SIZE, 0],
            // XSAVEOPT.
            1 => [1, 0, 0, 0],
            _ => [0, 0, 0, 0],
        },
        0x15 => [1, 40, CRYSTAL_HZ, 0],
        // Base / maximum / bus frequency in MHz.
        0x16 => [1000, 1000, 100, 0],
        // Hypervisor leaves: "ReproVirtCPU".
        0x4000_0000 => [
            0x4000_0000,
            u32::from_le_bytes(*b"Repr"),
            u32::from_le_bytes(*b"oVir"),
            u32::from_le_bytes(*b"tCPU"),
        ],
        0x8000_0000 => [MAX_EXT, 0, 0, 0],
        0x8000_0001 => [0, 0, EXT1_ECX, EXT1_EDX],
        0x8000_0002..=0x8000_0004 => {
            let name = b"reprise virtual x86-64 CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
            let off = ((leaf - 0x8000_0002) * 16) as usize;
            let w = |k: usize| {
                let mut b = [0u8; 4];
                for (j, x) in b.iter_mut().enumerate() {
                    *x = name.get(off + k * 4 + j).copied().unwrap_or(0);
                }
                u32::from_le_bytes(b)
            };
            [w(0), w(1), w(2), w(3)]
        }
        // L1d/L1i/L2 descriptors are not reported; cache line 64 bytes, L2 256 KiB.
        0x8000_0006 => [0, 0, 256 << 16 | 6 << 12 | 64, 0],
        // Invariant TSC.
        0x8000_0007 => [0, 0, 0, 1 << 8],
        // 48 physical, 48 virtual address bits.
        0x8000_0008 => [0x3030, 0, 0, 0],
        _ => [0, 0, 0, 0],
    }
}

/// The answer with the bits that follow guest state.
pub fn cpuid_for(st: &CpuState, leaf: u32, sub: u32) -> [u32; 4] {
    let mut r = cpuid(leaf, sub);
    if leaf == 1 {
        if st.cr4 & CR4_OSXSAVE != 0 {
            r[2] |= LEAF1_ECX_OSXSAVE;
        }
        if st.msr.apic_base & (1 << 11) == 0 {
            r[3] &= !LEAF1_EDX_APIC;
        }
    }
    r
}

pub extern "C" fn helper_cpuid(ctx: *mut Ctx, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let r = cpuid_for(st, st.gpr[reg::RAX] as u32, st.gpr[reg::RCX] as u32);
    st.gpr[reg::RAX] = r[0] as u64;
    st.gpr[reg::RBX] = r[1] as u64;
    st.gpr[reg::RCX] = r[2] as u64;
    st.gpr[reg::RDX] = r[3] as u64;
    0
}
