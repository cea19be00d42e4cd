//! The emitter interface: the vocabulary in which instruction semantics are written.
//!
//! Every instruction is defined once, in `sem/`, as a function generic over
//! [`Emitter`]. The interpreter's emitter ([`crate::interp`]) evaluates each operation on
//! the spot; the Cranelift emitter ([`crate::cl`]) lowers it to IR. Values are 64-bit
//! integers (`Self::V`); narrower operands are zero-extended and the semantics mask.
//!
//! Rule for semantics that can fault: do every memory access of an instruction before
//! writing any register, flag or RIP, so that a fault leaves the instruction undone in
//! both tiers (string instructions, which must make partial progress, are helpers).

use crate::exception::Fault;
use crate::flags::LazyFlags;
use crate::helpers::Helper;

/// Integer comparisons (on full 64-bit values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Ult,
    Ule,
    Slt,
    Sle,
}

/// Why a block ends other than by a jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// HLT: wait for an interrupt.
    Halt,
    /// Something changed that the translation depends on (mode, CR0/CR4/EFER, GDT…),
    /// or a device access that must be followed by a trip to the machine loop.
    Resync,
}

/// The processor mode a translation was made for: facts the semantics may use
/// statically because they are part of the block key (changing any of them ends the
/// block and selects another translation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// 16, 32 or 64.
    pub bitness: u32,
    pub cpl: u8,
    pub cr0_mp: bool,
    pub cr0_em: bool,
    pub cr0_ts: bool,
    pub cr4_osfxsr: bool,
}

impl Mode {
    pub fn of(st: &crate::state::CpuState) -> Mode {
        use crate::state::*;
        Mode {
            bitness: st.code_bitness(),
            cpl: st.cpl(),
            cr0_mp: st.cr0 & CR0_MP != 0,
            cr0_em: st.cr0 & CR0_EM != 0,
            cr0_ts: st.cr0 & CR0_TS != 0,
            cr4_osfxsr: st.cr4 & CR4_OSFXSR != 0,
        }
    }
    /// The CPL bits of [`Mode::key`].
    pub const KEY_CPL_MASK: u32 = 3 << 8;
    /// Packs into the block key.
    pub fn key(self) -> u32 {
        self.bitness
            | (self.cpl as u32) << 8
            | (self.cr0_mp as u32) << 10
            | (self.cr0_em as u32) << 11
            | (self.cr0_ts as u32) << 12
            | (self.cr4_osfxsr as u32) << 13
    }
    pub fn from_key(k: u32) -> Mode {
        Mode {
            bitness: k & 0xff,
            cpl: ((k >> 8) & 3) as u8,
            cr0_mp: k & 1 << 10 != 0,
            cr0_em: k & 1 << 11 != 0,
            cr0_ts: k & 1 << 12 != 0,
            cr4_osfxsr: k & 1 << 13 != 0,
        }
    }
    /// The fault an SSE instruction raises in this mode, if any.
    pub fn sse_fault(self) -> Option<Fault> {
        if self.cr0_em || !self.cr4_osfxsr {
            Some(Fault::ud())
        } else if self.cr0_ts {
            Some(Fault::new(crate::exception::vec::NM))
        } else {
            None
        }
    }
}

/// The result of a semantic function or emitter operation that may stop the instruction.
pub type Sem<T = ()> = Result<T, Fault>;

/// Pure 64-bit integer operations: all that flag computations need.
pub trait Alu {
    type V: Copy;

    fn imm(&mut self, v: u64) -> Self::V;
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn and(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn or(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn xor(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// High 64 bits of the unsigned / signed 128-bit product.
    fn umulh(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn smulh(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// Divisions; the caller guarantees a non-zero divisor and no signed overflow.
    fn udiv(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn urem(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sdiv(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn srem(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn not(&mut self, a: Self::V) -> Self::V;
    fn neg(&mut self, a: Self::V) -> Self::V;
    /// Shifts by `n & 63`.
    fn shl(&mut self, a: Self::V, n: Self::V) -> Self::V;
    fn shr(&mut self, a: Self::V, n: Self::V) -> Self::V;
    fn sar(&mut self, a: Self::V, n: Self::V) -> Self::V;
    fn rotl(&mut self, a: Self::V, n: Self::V) -> Self::V;
    fn rotr(&mut self, a: Self::V, n: Self::V) -> Self::V;
    fn clz(&mut self, a: Self::V) -> Self::V;
    fn ctz(&mut self, a: Self::V) -> Self::V;
    fn popcnt(&mut self, a: Self::V) -> Self::V;
    fn bswap(&mut self, a: Self::V) -> Self::V;
    /// 1 if the comparison holds, else 0.
    fn cmp(&mut self, c: Cmp, a: Self::V, b: Self::V) -> Self::V;
    /// `c != 0 ? a : b`.
    fn select(&mut self, c: Self::V, a: Self::V, b: Self::V) -> Self::V;
    /// The low `size` (1, 2 or 4) bytes of `v`, zero-extended.
    fn zext(&mut self, v: Self::V, size: u8) -> Self::V {
        let m = self.imm(crate::flags::size_mask(size));
        self.and(v, m)
    }
    /// The low `size` (1, 2 or 4) bytes of `v`, sign-extended.
    fn sext(&mut self, v: Self::V, size: u8) -> Self::V {
        let sh = self.imm(64 - size as u64 * 8);
        let t = self.shl(v, sh);
        self.sar(t, sh)
    }
}

pub trait Emitter: Alu {
    /// The mode this code runs in (static: part of the translation key).
    fn mode(&self) -> Mode;

    /// [`Emitter::helper`] for a helper whose only architectural state access is XMM
    /// register `xmm`, MXCSR and the mode's CR0/CR4 bits (plus recording a fault):
    /// [`Helper::syncs_only_xmm`]. An emitter that caches guest state may write back
    /// and reload just that register around the call.
    fn helper_on_xmm(&mut self, h: Helper, xmm: usize, args: &[Self::V]) -> Sem<Self::V> {
        let _ = xmm;
        self.helper(h, args)
    }

    /// The fault an SSE instruction takes in this mode ([`Mode::sse_fault`]); an
    /// emitter may answer without working out the whole mode.
    fn sse_fault(&self) -> Option<crate::exception::Fault> {
        self.mode().sse_fault()
    }

    /// Full 64-bit general-purpose register.
    fn gpr(&mut self, r: usize) -> Self::V;
    fn set_gpr(&mut self, r: usize, v: Self::V);
    /// Half (0 = low, 1 = high 64 bits) of an XMM register.
    fn xmm(&mut self, r: usize, half: usize) -> Self::V;
    fn set_xmm(&mut self, r: usize, half: usize, v: Self::V);
    fn seg_base(&mut self, s: usize) -> Self::V;
    fn flags(&mut self) -> LazyFlags<Self::V>;
    fn set_flags(&mut self, f: LazyFlags<Self::V>);
    /// RFLAGS without the arithmetic flags.
    fn rflags_sys(&mut self) -> Self::V;
    fn set_rflags_sys(&mut self, v: Self::V);

    /// Load `size` bytes (1, 2, 4, 8) from a linear address, zero-extended.
    fn load(&mut self, addr: Self::V, size: u8) -> Sem<Self::V>;
    fn store(&mut self, addr: Self::V, v: Self::V, size: u8) -> Sem;

    /// Call a helper (a Rust function shared by both tiers) with up to three arguments.
    /// Helpers that can fault report it through the context; the emitter checks.
    fn helper(&mut self, h: Helper, args: &[Self::V]) -> Sem<Self::V>;

    /// Raise an exception if `cond` is non-zero.
    fn raise_if(&mut self, cond: Self::V, f: Fault) -> Sem;

    /// End the block: continue at a computed address.
    fn jump(&mut self, target: Self::V);
    /// End the block: continue at a constant address.
    fn jump_to(&mut self, target: u64);
    /// Conditional branch: if `cond` is non-zero the block ends and execution continues
    /// at `taken`; otherwise execution falls through to `not_taken`, which is the next
    /// instruction (blocks extend past conditional branches).
    fn branch(&mut self, cond: Self::V, taken: u64, not_taken: u64);
    /// End the block after this instruction and return to the machine loop.
    fn exit(&mut self, kind: ExitKind);
}
