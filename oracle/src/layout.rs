//! Fixed addresses shared by the native runner and the guest.
//!
//! Everything lives in one 64 KiB region at [`BASE`]. The host maps it with
//! `MAP_FIXED_NOREPLACE`; in the guest the same addresses are identity-mapped RAM, so
//! the very same instruction bytes (including RIP-relative and absolute memory operands)
//! address the same data in both.

/// Start of the region (256 MiB: inside a 512 MiB guest, free in a Linux process).
pub const BASE: u64 = 0x1000_0000;
/// Size of the host mapping.
pub const REGION_LEN: usize = 0x1_0000;

/// Native prologue/epilogue code (host only).
pub const NATIVE_CODE: u64 = BASE;
/// Where the instruction under test is placed, in both worlds.
pub const TEST_IP: u64 = BASE + 0x1000;
/// Guest exception handlers: vector `v` halts at `HANDLERS + v * 16`.
pub const HANDLERS: u64 = BASE + 0x1800;
/// The guest IDT (32 gates).
pub const IDT: u64 = BASE + 0x1c00;
/// Scratch data that memory operands point into.
pub const DATA: u64 = BASE + 0x2000;
pub const DATA_LEN: usize = 256;
/// Input register block (host only).
pub const IN_BLOCK: u64 = BASE + 0x3000;
/// Output register block (host only).
pub const OUT_BLOCK: u64 = BASE + 0x4000;
/// Host registers saved across a native run, and the fault slot.
pub const SAVE: u64 = BASE + 0x5000;
/// RSP while the instruction runs (the stack itself is pages 6 and 7).
pub const STACK_TOP: u64 = BASE + 0x8000;

/// Offsets inside the input/output blocks.
pub mod block {
    pub const GPR: u64 = 0;
    pub const RFLAGS: u64 = 0x80;
    pub const MXCSR: u64 = 0x88;
    pub const XMM: u64 = 0x100;
    /// A 512-byte FXSAVE image (x87 state; its MXCSR and XMM mirror the fields above).
    pub const FX: u64 = 0x200;
}
/// Offsets inside the save area.
pub mod save {
    pub const RSP: u64 = 0;
    pub const MXCSR: u64 = 8;
    /// Signal number of a fault taken by the instruction under test (0: none).
    pub const SIGNAL: u64 = 0x10;
    /// The host's FXSAVE image (x87 state, MXCSR, XMM).
    pub const FX: u64 = 0x200;
}
