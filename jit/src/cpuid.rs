//! The one fixed virtual CPU model that CPUID reports, identical on every host (a log
//! recorded on one machine replays on any other x86-64 host).

use crate::ctx::Ctx;
use crate::state::reg;

/// Vendor string "ReproducibleX" padded: we report GenuineIntel-compatible layouts but
/// our own vendor would confuse kernels, so the vendor is "GenuineIntel".
const VENDOR: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];

/// Feature bits of leaf 1 EDX: FPU, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE, CMOV,
/// PAT, CLFSH, MMX, FXSR, SSE, SSE2.
pub const LEAF1_EDX: u32 = (1 << 0)
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
/// Leaf 1 ECX: CX16 (13), POPCNT (23). (SSE3+ come when they are implemented.)
pub const LEAF1_ECX: u32 = (1 << 13) | (1 << 23);
/// Extended leaf 0x8000_0001 EDX: SYSCALL (11), NX (20), LM (29); ECX: LAHF/SAHF (0), ABM/LZCNT (5).
pub const EXT1_EDX: u32 = (1 << 11) | (1 << 20) | (1 << 29);
pub const EXT1_ECX: u32 = 1 | (1 << 5);
/// Leaf 7 EBX: BMI1 (3) for TZCNT.
pub const LEAF7_EBX: u32 = 1 << 3;

pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let _ = sub;
    match leaf {
        0 => [0xd, VENDOR[0], VENDOR[2], VENDOR[1]],
        // Family 6, model 0x55 stepping 4; CLFLUSH line 8*8 bytes; one logical CPU.
        1 => [0x0005_0654, 0x0001_0800, LEAF1_ECX, LEAF1_EDX],
        7 if sub == 0 => [0, LEAF7_EBX, 0, 0],
        0x8000_0000 => [0x8000_0008, 0, 0, 0],
        0x8000_0001 => [0, 0, EXT1_ECX, EXT1_EDX],
        0x8000_0002..=0x8000_0004 => {
            let name = b"reprise virtual x86-64 CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
            let off = ((leaf - 0x8000_0002) * 16) as usize;
            let w = |k: usize| {
                u32::from_le_bytes([
                    name[off + k * 4],
                    name[off + k * 4 + 1],
                    name[off + k * 4 + 2],
                    name[off + k * 4 + 3],
                ])
            };
            [w(0), w(1), w(2), w(3)]
        }
        // 48 physical, 48 virtual address bits.
        0x8000_0008 => [0x3030, 0, 0, 0],
        _ => [0, 0, 0, 0],
    }
}

pub extern "C" fn helper_cpuid(ctx: *mut Ctx, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let r = cpuid(st.gpr[reg::RAX] as u32, st.gpr[reg::RCX] as u32);
    st.gpr[reg::RAX] = r[0] as u64;
    st.gpr[reg::RBX] = r[1] as u64;
    st.gpr[reg::RCX] = r[2] as u64;
    st.gpr[reg::RDX] = r[3] as u64;
    0
}
