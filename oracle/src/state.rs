//! The architectural state the oracle compares: GPRs, RFLAGS, MXCSR, XMM registers and
//! the scratch data area.

use crate::layout::DATA_LEN;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineState {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub mxcsr: u32,
    pub xmm: [[u64; 2]; 16],
    pub data: [u8; DATA_LEN],
}

impl Default for MachineState {
    fn default() -> Self {
        MachineState {
            gpr: [0; 16],
            rflags: 2,
            mxcsr: 0x1f80,
            xmm: [[0; 2]; 16],
            data: [0; DATA_LEN],
        }
    }
}

/// How one execution of a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The instruction completed; the state after it.
    Done(Box<MachineState>),
    /// The instruction raised exception `vector` (host: mapped from the signal).
    Fault { vector: u8 },
}

pub const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
