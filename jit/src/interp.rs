//! The interpreter tier: evaluates instruction semantics on the spot, over blocks of
//! instructions decoded once and cached.

use crate::ctx::{exit, Ctx};
use crate::emit::{Alu, Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::flags::{CcOp, LazyFlags};
use crate::helpers::{self, Helper};
use crate::sem::pre::Pre;
use crate::sem::{self, Outcome};
use iced_x86::Instruction;

/// How an instruction ended when it did not simply fall through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Jump(u64),
    /// A conditional branch not taken: continue with the next instruction.
    FallThrough(u64),
    Exit(ExitKind),
}

pub struct Interp<'a> {
    pub ctx: &'a mut Ctx,
    pub end: Option<End>,
}

impl Alu for Interp<'_> {
    type V = u64;
    crate::alu_u64_impl!();
}

impl Emitter for Interp<'_> {
    fn mode(&self) -> crate::emit::Mode {
        crate::emit::Mode::of(&self.ctx.state)
    }
    #[inline]
    fn gpr(&mut self, r: usize) -> u64 {
        self.ctx.state.gpr[r & 15]
    }
    #[inline]
    fn set_gpr(&mut self, r: usize, v: u64) {
        self.ctx.state.gpr[r & 15] = v
    }
    fn xmm(&mut self, r: usize, half: usize) -> u64 {
        self.ctx.state.xmm[r & 15][half & 1]
    }
    fn set_xmm(&mut self, r: usize, half: usize, v: u64) {
        self.ctx.state.xmm[r & 15][half & 1] = v
    }
    fn seg_base(&mut self, s: usize) -> u64 {
        self.ctx.state.segs[s % 6].base
    }
    #[inline]
    fn flags(&mut self) -> LazyFlags<u64> {
        let st = &self.ctx.state;
        LazyFlags {
            op: Some(CcOp::decode(st.cc_op)),
            dyn_op: st.cc_op,
            res: st.cc_res,
            s1: st.cc_src1,
            s2: st.cc_src2,
        }
    }
    #[inline]
    fn set_flags(&mut self, f: LazyFlags<u64>) {
        let st = &mut self.ctx.state;
        st.cc_op = f.op.map(CcOp::encode).unwrap_or(f.dyn_op);
        st.cc_res = f.res;
        st.cc_src1 = f.s1;
        st.cc_src2 = f.s2;
    }
    fn rflags_sys(&mut self) -> u64 {
        self.ctx.state.rflags_sys
    }
    fn set_rflags_sys(&mut self, v: u64) {
        self.ctx.state.rflags_sys = v | crate::state::fl::FIXED1;
    }
    #[inline]
    fn load(&mut self, addr: u64, size: u8) -> Sem<u64> {
        let ctx = &mut *self.ctx;
        let e = &ctx.tlb[crate::mmu::tlb_set(ctx)][crate::mmu::tlb_index(addr)];
        if e.read == addr & !0xfff && (addr & 0xfff) + size as u64 <= 0x1000 {
            let p = addr.wrapping_add(e.addend) as *const u8;
            // SAFETY: a TLB read tag is installed only for RAM pages (mmu.rs), and the
            // access does not cross the page, so `p..p+size` lies inside guest RAM.
            return Ok(unsafe { load_host(p, size) });
        }
        let v = crate::mmu::read(ctx, addr, size)?;
        note_device_access(ctx, addr, false);
        Ok(v)
    }
    #[inline]
    fn store(&mut self, addr: u64, v: u64, size: u8) -> Sem {
        let ctx = &mut *self.ctx;
        let e = &ctx.tlb[crate::mmu::tlb_set(ctx)][crate::mmu::tlb_index(addr)];
        if e.write == addr & !0xfff && (addr & 0xfff) + size as u64 <= 0x1000 {
            let p = addr.wrapping_add(e.addend) as *mut u8;
            // SAFETY: write tags are installed only for RAM pages that hold no
            // translated code (mmu.rs), and the access does not cross the page.
            unsafe { store_host(p, size, v) };
            return Ok(());
        }
        crate::mmu::write(ctx, addr, size, v)?;
        note_device_access(ctx, addr, true);
        Ok(())
    }
    fn helper(&mut self, h: Helper, args: &[u64]) -> Sem<u64> {
        let v = helpers::call(self.ctx, h, args);
        if self.ctx.exit == exit::FAULT {
            self.ctx.exit = exit::NONE;
            return Err(self.ctx.take_fault());
        }
        Ok(v)
    }
    fn raise_if(&mut self, cond: u64, f: Fault) -> Sem {
        if cond != 0 {
            Err(f)
        } else {
            Ok(())
        }
    }
    fn jump(&mut self, target: u64) {
        self.end = Some(End::Jump(target));
    }
    fn jump_to(&mut self, target: u64) {
        self.end = Some(End::Jump(target));
    }
    fn branch(&mut self, cond: u64, taken: u64, not_taken: u64) {
        if cond != 0 {
            self.end = Some(End::Jump(taken));
        } else {
            // Falls through: the instruction retires and the block goes on (RIP is
            // set to `not_taken`, the next instruction).
            self.end = Some(End::FallThrough(not_taken));
        }
    }
    fn exit(&mut self, kind: ExitKind) {
        self.end = Some(End::Exit(kind));
    }
}

/// The result of interpreting one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Retired; RIP updated. `Some` when the instruction ended the block's flow.
    Retired(Option<End>),
    /// Raised an exception; nothing retired, RIP still at the instruction.
    Fault(Fault),
}

/// After a memory access that succeeded: if it did not hit RAM through the TLB it went
/// to a device (MMIO, or nothing), which may have changed the interrupt lines. Ask the
/// dispatcher to run after this instruction (`ctx.exit = RESYNC` unless something else
/// is pending already).
#[inline]
pub fn note_device_access(ctx: &mut Ctx, vaddr: u64, write: bool) {
    let e = &ctx.tlb[crate::mmu::tlb_set(ctx)][crate::mmu::tlb_index(vaddr)];
    let tag = if write { e.write } else { e.read };
    if tag != vaddr & !0xfff && ctx.exit == exit::NONE {
        ctx.exit = exit::RESYNC;
    }
}

/// Reads 1, 2, 4 or 8 bytes (little endian) at a host address.
///
/// # Safety
/// `size` bytes at `p` must be readable.
#[inline(always)]
unsafe fn load_host(p: *const u8, size: u8) -> u64 {
    // SAFETY: the caller guarantees `size` readable bytes at `p`; unaligned reads.
    unsafe {
        match size {
            1 => *p as u64,
            2 => (p as *const u16).read_unaligned() as u64,
            4 => (p as *const u32).read_unaligned() as u64,
            _ => (p as *const u64).read_unaligned(),
        }
    }
}

/// Writes the low 1, 2, 4 or 8 bytes of `v` (little endian) at a host address.
///
/// # Safety
/// `size` bytes at `p` must be writable.
#[inline(always)]
unsafe fn store_host(p: *mut u8, size: u8, v: u64) {
    // SAFETY: the caller guarantees `size` writable bytes at `p`; unaligned writes.
    unsafe {
        match size {
            1 => *p = v as u8,
            2 => (p as *mut u16).write_unaligned(v as u16),
            4 => (p as *mut u32).write_unaligned(v as u32),
            _ => (p as *mut u64).write_unaligned(v),
        }
    }
}

/// What the interpreter learnt about one decoded instruction the first time it ran it
/// (kept next to the instruction in its block, [`crate::cache::Block::hints`]).
#[derive(Clone, Copy, Debug)]
pub struct Hint {
    /// False until the first execution fills the rest in.
    prepared: bool,
    /// STI, MOV SS or POP SS (interrupt-shadow bookkeeping).
    shadow: bool,
    /// The semantic group that handled it last ([`sem::NO_HINT`] if none yet).
    group: u8,
    /// The pre-decoded form, for the instructions that have one.
    pre: Option<Pre>,
}

impl Hint {
    /// Nothing known yet.
    pub const NEW: Hint = Hint {
        prepared: false,
        shadow: false,
        group: sem::NO_HINT,
        pre: None,
    };

    fn prepare(&mut self, i: &Instruction) {
        self.shadow = sem::interrupt::interpreter_only(i);
        self.pre = if self.shadow { None } else { Pre::of(i) };
        self.prepared = true;
    }
}

impl Default for Hint {
    fn default() -> Self {
        Hint::NEW
    }
}

/// Interprets one instruction: on success RIP advances and `icount` counts it.
///
/// STI, MOV SS and POP SS run only here (the compiled tier leaves them to the
/// interpreter): this is where their interrupt shadow is recorded, keeping the NMI
/// blocking bit whatever the instruction's own semantics wrote.
#[inline]
pub fn step(ctx: &mut Ctx, i: &Instruction, hint: &mut Hint) -> Step {
    if !hint.prepared {
        hint.prepare(i);
    }
    if let Some(p) = &hint.pre {
        let mut it = Interp { ctx, end: None };
        return match sem::pre::exec(&mut it, p) {
            Ok(()) => {
                let end = it.end;
                let st = &mut it.ctx.state;
                st.rip = match end {
                    Some(End::Jump(t)) | Some(End::FallThrough(t)) => t,
                    _ => p.next,
                };
                st.icount += 1;
                Step::Retired(end)
            }
            Err(f) => Step::Fault(f),
        };
    }
    step_slow(ctx, i, hint)
}

/// [`step`] for instructions without a pre-decoded form: through the groups.
#[inline(never)]
fn step_slow(ctx: &mut Ctx, i: &Instruction, hint: &mut Hint) -> Step {
    let shadow_insn = hint.shadow;
    let pre_shadow = ctx.state.interrupt_shadow;
    let pre_if = ctx.state.rflags_sys & crate::state::fl::IF;
    let mut it = Interp { ctx, end: None };
    let r = sem::translate_hinted(&mut it, i, &mut hint.group);
    if shadow_insn {
        let st = &mut it.ctx.state;
        let mut shadow = pre_shadow & !crate::interrupts::SHADOW;
        if matches!(r, Ok(Outcome::Done)) {
            if sem::interrupt::sets_mov_ss_shadow(i) {
                shadow |= crate::interrupts::SHADOW_MOV_SS;
            } else if pre_if == 0 && st.rflags_sys & crate::state::fl::IF != 0 {
                shadow |= crate::interrupts::SHADOW_STI;
            }
        }
        st.interrupt_shadow = shadow;
    }
    match r {
        Ok(Outcome::Done) => {
            let end = it.end;
            let st = &mut it.ctx.state;
            st.rip = match end {
                Some(End::Jump(t)) | Some(End::FallThrough(t)) => t,
                _ => i.next_ip(),
            };
            st.icount += 1;
            Step::Retired(end)
        }
        Ok(Outcome::Unsupported) => {
            report_unsupported(it.ctx, i);
            Step::Fault(Fault::ud())
        }
        Err(f) => Step::Fault(f),
    }
}

/// Reports an unimplemented instruction once per guest address (on stderr: the guest
/// sees #UD, the user learns which instruction is missing).
pub fn report_unsupported(ctx: &mut Ctx, i: &Instruction) {
    if i.code() == iced_x86::Code::INVALID {
        return;
    }
    if ctx.reported_ud.len() < 256 && ctx.reported_ud.insert(i.ip()) {
        let mut bytes = [0u8; 15];
        let n = crate::mmu::fetch(ctx, i.ip(), &mut bytes[..i.len()]).unwrap_or(0);
        let hex: Vec<String> = bytes[..n].iter().map(|b| format!("{b:02x}")).collect();
        eprintln!(
            "reprise: unimplemented instruction `{i}` ({}) at {:#x}: raising #UD in the guest",
            hex.join(" "),
            i.ip()
        );
    }
}
