//! The architectural state the oracle compares: GPRs, RFLAGS, MXCSR, XMM registers and
//! the scratch data area.

use crate::layout::DATA_LEN;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineState {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub mxcsr: u32,
    pub xmm: [[u64; 2]; 16],
    pub x87: X87,
    pub data: [u8; DATA_LEN],
}

/// The x87 state in FXSAVE terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X87 {
    pub fcw: u16,
    /// Status word including TOP (bits 11-13).
    pub fsw: u16,
    /// Abridged tag word: bit `p` set when physical register `p` is not empty.
    pub tags: u8,
    /// ST(0)..ST(7) in stack order, 80-bit little endian.
    pub st: [[u8; 10]; 8],
}

impl Default for X87 {
    fn default() -> Self {
        X87 {
            fcw: 0x037f,
            fsw: 0,
            tags: 0,
            st: [[0; 10]; 8],
        }
    }
}

impl X87 {
    pub fn top(&self) -> usize {
        ((self.fsw >> 11) & 7) as usize
    }
    /// True when ST(i) is not empty.
    pub fn valid(&self, i: usize) -> bool {
        self.tags & (1 << ((self.top() + i) & 7)) != 0
    }
}

impl Default for MachineState {
    fn default() -> Self {
        MachineState {
            gpr: [0; 16],
            rflags: 2,
            mxcsr: 0x1f80,
            xmm: [[0; 2]; 16],
            x87: X87::default(),
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
