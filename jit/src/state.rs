//! The architectural state of one x86-64 vCPU.
//!
//! `CpuState` is `#[repr(C)]` because generated code addresses its fields by offset
//! (see [`offsets`]). Arithmetic flags are kept lazily (QEMU's `cc_op` idea): the last
//! flag-setting operation and its operands are stored, and flags are computed only when
//! something reads them. Every other RFLAGS bit lives in `rflags_sys`.

use serde::{Deserialize, Serialize};

/// General-purpose register numbers, in the encoding order.
pub mod reg {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const RBX: usize = 3;
    pub const RSP: usize = 4;
    pub const RBP: usize = 5;
    pub const RSI: usize = 6;
    pub const RDI: usize = 7;
}

/// Segment register numbers, in the encoding order.
pub mod seg {
    pub const ES: usize = 0;
    pub const CS: usize = 1;
    pub const SS: usize = 2;
    pub const DS: usize = 3;
    pub const FS: usize = 4;
    pub const GS: usize = 5;
}

/// RFLAGS bits.
pub mod fl {
    pub const CF: u64 = 1 << 0;
    pub const FIXED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
    pub const ID: u64 = 1 << 21;
    /// The six arithmetic flags, kept lazily.
    pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
}

/// A segment register with its hidden (descriptor-cache) part.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub selector: u64,
    pub base: u64,
    pub limit: u32,
    /// Descriptor attribute bits 40..56 of the descriptor, shifted down by 40
    /// (type, S, DPL, P in bits 0..8; AVL, L, D/B, G in bits 12..16).
    pub attr: u32,
}

impl Segment {
    pub const ATTR_L: u32 = 1 << 13;
    pub const ATTR_DB: u32 = 1 << 14;
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }
}

/// GDTR / IDTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescTable {
    pub base: u64,
    pub limit: u32,
    pub _pad: u32,
}

/// The x87 FPU. Registers are stored physically (index = physical register number) in
/// the 80-bit extended format, little endian, padded to 16 bytes as FXSAVE does.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct X87State {
    pub st: [[u8; 16]; 8],
    pub fcw: u16,
    /// Status word without TOP (TOP lives in `top`).
    pub fsw: u16,
    /// Full (two bits per register) tag word: 00 valid, 01 zero, 10 special, 11 empty.
    pub ftw: u16,
    pub fop: u16,
    pub top: u8,
    pub _pad: [u8; 7],
    pub fip: u64,
    pub fdp: u64,
}

impl Default for X87State {
    fn default() -> Self {
        X87State {
            st: [[0; 16]; 8],
            fcw: 0x037f,
            fsw: 0,
            ftw: 0xffff,
            fop: 0,
            top: 0,
            _pad: [0; 7],
            fip: 0,
            fdp: 0,
        }
    }
}

/// Model-specific registers that the CPU keeps (others live in the machine).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msrs {
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub tsc_aux: u64,
    pub apic_base: u64,
    pub pat: u64,
    pub misc_enable: u64,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    /// IA32_TSC writes: RDTSC returns the virtual TSC plus this (wrapping).
    pub tsc_offset: u64,
    pub mtrr_def_type: u64,
    /// IA32_MTRR_PHYSBASE0/PHYSMASK0 … 7, in MSR order (base, mask, base, mask …).
    pub mtrr_var: [u64; 16],
    /// The eleven fixed-range MTRRs (0x250, 0x258, 0x259, 0x268..=0x26F).
    pub mtrr_fixed: [u64; 11],
}

/// The whole architectural state of a vCPU.
#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuState {
    pub gpr: [u64; 16],
    pub rip: u64,
    /// Lazy arithmetic flags: the operation (a [`crate::flags::CcOp`] as u64) …
    pub cc_op: u64,
    /// … its result, first and second operands.
    pub cc_res: u64,
    pub cc_src1: u64,
    pub cc_src2: u64,
    /// RFLAGS without the six arithmetic flags (bit 1 always set).
    pub rflags_sys: u64,
    /// Instructions retired since reset: the machine's clock.
    pub icount: u64,
    /// Generated code and the interpreter stop before `icount` would pass this.
    pub icount_deadline: u64,
    pub segs: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescTable,
    pub idtr: DescTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub xcr0: u64,
    pub msr: Msrs,
    pub mxcsr: u32,
    pub _pad0: u32,
    pub xmm: [[u64; 2]; 16],
    pub fpu: X87State,
    /// Set when STI or MOV SS delays interrupt recognition by one instruction.
    pub interrupt_shadow: u64,
    /// Virtual nanoseconds added to `icount << icount_shift` by clock warps (time that
    /// passed while the CPU was halted). Guest-visible through RDTSC and the timers.
    pub clock_bias_ns: u64,
    /// Non-zero while the CPU sits in HLT waiting for an interrupt.
    pub halted: u64,
    /// Debug registers DR0–DR7 (stored and read back; breakpoints are not raised).
    pub dr: [u64; 8],
}

impl Default for CpuState {
    fn default() -> Self {
        CpuState {
            gpr: [0; 16],
            rip: 0xfff0,
            cc_op: 0,
            cc_res: 0,
            cc_src1: 0,
            cc_src2: 0,
            rflags_sys: fl::FIXED1,
            icount: 0,
            icount_deadline: u64::MAX,
            segs: [Segment::default(); 6],
            ldtr: Segment::default(),
            tr: Segment::default(),
            gdtr: DescTable::default(),
            idtr: DescTable::default(),
            cr0: 0x6000_0010,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            efer: 0,
            xcr0: 1,
            msr: Msrs {
                apic_base: 0xfee0_0900,
                pat: 0x0007_0406_0007_0406,
                misc_enable: 1,
                ..Msrs::default()
            },
            mxcsr: 0x1f80,
            _pad0: 0,
            xmm: [[0; 2]; 16],
            fpu: X87State::default(),
            interrupt_shadow: 0,
            clock_bias_ns: 0,
            halted: 0,
            dr: [0, 0, 0, 0, 0, 0, 0xffff_0ff0, 0x400],
        }
    }
}

pub const CR0_PE: u64 = 1 << 0;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_PG: u64 = 1 << 31;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_AM: u64 = 1 << 18;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR4_VME: u64 = 1 << 0;
pub const CR4_PVI: u64 = 1 << 1;
pub const CR4_TSD: u64 = 1 << 2;
pub const CR4_DE: u64 = 1 << 3;
pub const CR4_PSE: u64 = 1 << 4;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_MCE: u64 = 1 << 6;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub const CR4_FSGSBASE: u64 = 1 << 16;
pub const CR4_OSXSAVE: u64 = 1 << 18;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;
pub const EFER_SCE: u64 = 1 << 0;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
pub const EFER_NXE: u64 = 1 << 11;

impl CpuState {
    /// The full RFLAGS value, arithmetic flags computed from the lazy state.
    pub fn rflags(&self) -> u64 {
        crate::flags::eflags_concrete(self.cc_op, self.cc_res, self.cc_src1, self.cc_src2)
            | self.rflags_sys
    }

    /// Set RFLAGS; the arithmetic flags become explicit.
    pub fn set_rflags(&mut self, v: u64) {
        self.cc_op = crate::flags::CcOp::EFLAGS.encode();
        self.cc_res = v & fl::ARITH;
        self.cc_src1 = 0;
        self.cc_src2 = 0;
        self.rflags_sys = (v & !fl::ARITH) | fl::FIXED1;
    }

    /// Current privilege level (always 0 in real mode).
    #[inline]
    pub fn cpl(&self) -> u8 {
        if self.cr0 & CR0_PE == 0 {
            return 0;
        }
        (self.segs[seg::CS].selector & 3) as u8
    }

    /// True in 64-bit mode (long mode and a code segment with L set).
    pub fn long_mode(&self) -> bool {
        self.efer & EFER_LMA != 0 && self.segs[seg::CS].attr & Segment::ATTR_L != 0
    }

    /// The code size the decoder should use: 64, 32 or 16.
    pub fn code_bitness(&self) -> u32 {
        if self.long_mode() {
            64
        } else if self.cr0 & CR0_PE != 0 && self.segs[seg::CS].attr & Segment::ATTR_DB != 0 {
            32
        } else {
            16
        }
    }

    /// A digest of the architectural state (registers only; RAM is hashed by the caller).
    pub fn digest_into(&self, h: &mut crate::digest::Digest) {
        for r in self.gpr {
            h.write_u64(r);
        }
        h.write_u64(self.rip);
        h.write_u64(self.rflags());
        for s in &self.segs {
            h.write_u64(s.selector);
            h.write_u64(s.base);
        }
        for v in [self.cr0, self.cr3, self.cr4, self.efer] {
            h.write_u64(v);
        }
        for x in self.xmm {
            h.write_u64(x[0]);
            h.write_u64(x[1]);
        }
        h.write_u64(self.mxcsr as u64);
        for st in self.fpu.st {
            h.write(&st[..10]);
        }
        h.write_u64(self.fpu.fcw as u64);
        h.write_u64(self.fpu.fsw as u64 | (self.fpu.top as u64) << 11);
        h.write_u64(self.icount);
        h.write_u64(self.clock_bias_ns);
    }
}

/// Byte offsets of fields, for generated code.
pub mod offsets {
    use super::CpuState;
    use std::mem::offset_of;
    pub const fn gpr(r: usize) -> i32 {
        (offset_of!(CpuState, gpr) + r * 8) as i32
    }
    pub const RIP: i32 = offset_of!(CpuState, rip) as i32;
    pub const CC_OP: i32 = offset_of!(CpuState, cc_op) as i32;
    pub const CC_RES: i32 = offset_of!(CpuState, cc_res) as i32;
    pub const CC_SRC1: i32 = offset_of!(CpuState, cc_src1) as i32;
    pub const CC_SRC2: i32 = offset_of!(CpuState, cc_src2) as i32;
    pub const RFLAGS_SYS: i32 = offset_of!(CpuState, rflags_sys) as i32;
    pub const ICOUNT: i32 = offset_of!(CpuState, icount) as i32;
    pub const ICOUNT_DEADLINE: i32 = offset_of!(CpuState, icount_deadline) as i32;
    pub const fn seg_base(s: usize) -> i32 {
        (offset_of!(CpuState, segs) + s * std::mem::size_of::<super::Segment>() + 8) as i32
    }
    pub const fn xmm(r: usize, half: usize) -> i32 {
        (offset_of!(CpuState, xmm) + r * 16 + half * 8) as i32
    }
}
