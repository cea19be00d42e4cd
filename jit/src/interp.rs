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

mod handlers;

pub use handlers::Handler;

/// How an instruction ended when it did not simply fall through (a conditional branch
/// not taken falls through).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Jump(u64),
    Exit(ExitKind),
}

pub struct Interp<'a> {
    pub ctx: &'a mut Ctx,
    pub end: Option<End>,
    /// The exception a pre-decoded handler raised ([`handlers::Handler`]).
    pub fault: Option<Fault>,
    /// Set with `end`, and when a memory access or helper left something in
    /// `ctx.exit`: the block loop must look before going on (one test per
    /// instruction instead of two).
    pub stop: bool,
    /// The TLB set of the current privilege level, or [`EACH_ACCESS`]: look it up at
    /// every access (an instruction may change CPL half-way, a far CALL for one).
    set: usize,
}

/// [`Interp::set`]: no TLB set fixed.
const EACH_ACCESS: usize = usize::MAX;

impl<'a> Interp<'a> {
    /// An interpreter that looks the TLB set up at every memory access.
    #[inline(always)]
    pub fn new(ctx: &'a mut Ctx) -> Self {
        Interp {
            ctx,
            end: None,
            fault: None,
            stop: false,
            set: EACH_ACCESS,
        }
    }

    /// An interpreter for the pre-decoded forms of one block, or of a chain of blocks
    /// of one mode: none of them changes CPL, and an instruction that does ends the
    /// block and asks the dispatcher to run (far transfers, SYSCALL/SYSRET, IRET
    /// exit or leave to it; the mode key holds CPL), so the TLB set stays that of the
    /// start.
    #[inline(always)]
    pub fn for_block(ctx: &'a mut Ctx) -> Self {
        let set = crate::mmu::tlb_set(ctx);
        Interp {
            ctx,
            end: None,
            fault: None,
            stop: false,
            set,
        }
    }

    /// The TLB set to use for an access now.
    #[inline(always)]
    fn tlb_set(&self) -> usize {
        if self.set == EACH_ACCESS {
            crate::mmu::tlb_set(self.ctx)
        } else {
            self.set
        }
    }
}

impl sem::pre::PreEmitter for Interp<'_> {
    #[inline(always)]
    fn sse_fast(&mut self, form: u8, dst: usize, lo: u64, hi: u64) -> bool {
        sem::sse::fast_into(self.ctx, form, dst, lo, hi)
    }

    /// The condition straight from the stored flag record
    /// ([`crate::flags::cond_concrete`], the shared `cond_static` with the common
    /// recorded operations as constants).
    #[inline(always)]
    fn cond_fast(&mut self, c: crate::flags::Cond) -> Sem<u64> {
        let st = &self.ctx.state;
        Ok(crate::flags::cond_concrete(
            st.cc_op, st.cc_res, st.cc_src1, st.cc_src2, c,
        ))
    }
}

impl Alu for Interp<'_> {
    type V = u64;
    crate::alu_u64_impl!();
}

impl Emitter for Interp<'_> {
    fn mode(&self) -> crate::emit::Mode {
        crate::emit::Mode::of(&self.ctx.state)
    }
    #[inline(always)]
    fn sse_fault(&self) -> Option<Fault> {
        // `Mode::sse_fault` on the two control registers it looks at.
        use crate::state::{CR0_EM, CR0_TS, CR4_OSFXSR};
        let st = &self.ctx.state;
        if (st.cr0 & (CR0_EM | CR0_TS)) == 0 && st.cr4 & CR4_OSFXSR != 0 {
            return None;
        }
        crate::emit::Mode::of(st).sse_fault()
    }
    #[inline]
    fn gpr(&mut self, r: usize) -> u64 {
        self.ctx.state.gpr[r & 15]
    }
    #[inline]
    fn set_gpr(&mut self, r: usize, v: u64) {
        self.ctx.state.gpr[r & 15] = v
    }
    #[inline]
    fn xmm(&mut self, r: usize, half: usize) -> u64 {
        self.ctx.state.xmm[r & 15][half & 1]
    }
    #[inline]
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
    #[inline(always)]
    fn load(&mut self, addr: u64, size: u8) -> Sem<u64> {
        let set = self.tlb_set();
        let ctx = &mut *self.ctx;
        let e = &ctx.tlb[set & 1][crate::mmu::tlb_index(addr)];
        if e.read == addr & !0xfff && (addr & 0xfff) + size as u64 <= 0x1000 {
            let p = addr.wrapping_add(e.addend) as *const u8;
            // SAFETY: a TLB read tag is installed only for RAM pages (mmu.rs), and the
            // access does not cross the page, so `p..p+size` lies inside guest RAM.
            return Ok(unsafe { crate::mmu::load_host(p, size) });
        }
        let r = load_slow(ctx, addr, size);
        self.stop |= self.ctx.exit != exit::NONE;
        r
    }
    #[inline(always)]
    fn store(&mut self, addr: u64, v: u64, size: u8) -> Sem {
        let set = self.tlb_set();
        let ctx = &mut *self.ctx;
        let e = &ctx.tlb[set & 1][crate::mmu::tlb_index(addr)];
        if e.write == addr & !0xfff && (addr & 0xfff) + size as u64 <= 0x1000 {
            let p = addr.wrapping_add(e.addend) as *mut u8;
            // SAFETY: write tags are installed only for RAM pages that hold no
            // translated code (mmu.rs), and the access does not cross the page.
            unsafe { crate::mmu::store_host(p, size, v) };
            return Ok(());
        }
        let r = store_slow(ctx, addr, v, size);
        self.stop |= self.ctx.exit != exit::NONE;
        r
    }
    #[inline]
    fn helper(&mut self, h: Helper, args: &[u64]) -> Sem<u64> {
        let v = helpers::call(self.ctx, h, args);
        if self.ctx.exit == exit::FAULT {
            self.ctx.exit = exit::NONE;
            return Err(self.ctx.take_fault());
        }
        self.stop |= self.ctx.exit != exit::NONE;
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
        self.stop = true;
    }
    fn jump_to(&mut self, target: u64) {
        self.end = Some(End::Jump(target));
        self.stop = true;
    }
    fn branch(&mut self, cond: u64, taken: u64, not_taken: u64) {
        // Not taken, it falls through: the instruction retires and the block goes on
        // with the next instruction, `not_taken`.
        let _ = not_taken;
        if cond != 0 {
            self.end = Some(End::Jump(taken));
            self.stop = true;
        }
    }
    fn exit(&mut self, kind: ExitKind) {
        self.end = Some(End::Exit(kind));
        self.stop = true;
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

/// [`Interp::load`] past a TLB miss, a page-crossing access or a device.
#[inline(never)]
fn load_slow(ctx: &mut Ctx, addr: u64, size: u8) -> Sem<u64> {
    let v = crate::mmu::read(ctx, addr, size)?;
    note_device_access(ctx, addr, false);
    Ok(v)
}

/// [`Interp::store`] past a TLB miss, a page-crossing access, code or a device.
#[inline(never)]
fn store_slow(ctx: &mut Ctx, addr: u64, v: u64, size: u8) -> Sem {
    crate::mmu::write(ctx, addr, size, v)?;
    note_device_access(ctx, addr, true);
    Ok(())
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

/// What the interpreter learnt about one decoded instruction the first time it ran it
/// (kept next to the instruction in its block, [`crate::cache::Block::hints`]).
#[derive(Clone, Copy, Debug)]
pub struct Hint {
    /// False until the first execution fills the rest in.
    prepared: bool,
    /// STI, MOV SS or POP SS (interrupt-shadow bookkeeping).
    shadow: bool,
    /// The dispatcher must run after this instruction (see
    /// [`sem::interrupt::leaves_to_dispatcher`]): a block ending with it does not chain.
    leave: bool,
    /// The semantic group that handled it last ([`sem::NO_HINT`] if none yet).
    group: u8,
    /// The handler of the pre-decoded form, for the instructions that have one.
    run: Option<Handler>,
    /// The pre-decoded form when `run` is set ([`Pre::EMPTY`] otherwise).
    pre: Pre,
}

impl Hint {
    /// Nothing known yet.
    pub const NEW: Hint = Hint {
        prepared: false,
        shadow: false,
        leave: false,
        group: sem::NO_HINT,
        run: None,
        pre: Pre::EMPTY,
    };

    fn prepare(&mut self, i: &Instruction) {
        self.shadow = sem::interrupt::interpreter_only(i);
        self.leave = sem::interrupt::leaves_to_dispatcher(i);
        let pre = if self.shadow { None } else { Pre::of(i) };
        self.run = pre.as_ref().map(handlers::of);
        self.pre = pre.unwrap_or(Pre::EMPTY);
        self.prepared = true;
    }
}

impl Hint {
    /// The pre-decoded form, once the instruction has run and if it has one.
    #[inline(always)]
    pub fn pre(&self) -> Option<&Pre> {
        self.run.map(|_| &self.pre)
    }

    /// True if the dispatcher must run after this instruction (once it has run).
    #[inline(always)]
    pub fn leaves_to_dispatcher(&self) -> bool {
        self.leave
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
    if let Some(run) = hint.run {
        return step_pre(ctx, run, &hint.pre);
    }
    step_slow(ctx, i, hint)
}

/// [`step`] through a pre-decoded form's handler.
fn step_pre(ctx: &mut Ctx, run: Handler, p: &Pre) -> Step {
    let mut it = Interp::new(ctx);
    run(&mut it, p);
    if let Some(f) = it.fault {
        return Step::Fault(f);
    }
    let end = it.end;
    let st = &mut it.ctx.state;
    st.rip = match end {
        Some(End::Jump(t)) => t,
        _ => p.next,
    };
    st.icount += 1;
    Step::Retired(end)
}

/// Runs the instructions of a block from its first, at most `max` of them, until one
/// ends the block's flow, faults or leaves something pending in `ctx.exit`. Returns
/// true when the next block may follow at once: the run ended with nothing pending
/// (`ctx.exit` clear, no code page written) and its last instruction is not one after
/// which the dispatcher must run ([`Hint::leaves_to_dispatcher`]).
///
/// RIP and the instruction count are exact whenever something outside the
/// instruction's own semantics can look at them: the count is kept in `ctx.state`
/// after every instruction (devices read the virtual clock during MMIO accesses);
/// RIP, which no semantic function of a pre-decoded form reads, is written when the
/// run stops, at a fault (the faulting instruction's address), and before any
/// instruction that goes through the groups.
#[inline]
pub fn run_block(ctx: &mut Ctx, insns: &[Instruction], hints: &mut [Hint], max: usize) -> bool {
    run_insns(&mut Interp::for_block(ctx), insns, hints, max)
}

/// [`run_block`] on an interpreter made by [`Interp::for_block`], which may serve a
/// chain of blocks of one mode (see `cpu/chain.rs`). `it` has no end or fault
/// pending when this returns.
#[inline(always)]
pub fn run_insns(it: &mut Interp, insns: &[Instruction], hints: &mut [Hint], max: usize) -> bool {
    let n = max.min(insns.len()).min(hints.len());
    let (Some(insns), Some(hints)) = (insns.get(..n), hints.get_mut(..n)) else {
        return false;
    };
    for (h, i) in hints.iter_mut().zip(insns) {
        if let Some(run) = h.run {
            if run(it, &h.pre) {
                it.ctx.state.icount += 1;
                continue;
            }
            it.stop = false;
            if let Some(f) = it.fault {
                it.fault = None;
                it.ctx.state.rip = i.ip();
                it.ctx.set_fault(f);
                return false;
            }
            let st = &mut it.ctx.state;
            st.icount += 1;
            let end = it.end;
            it.end = None;
            match end {
                Some(End::Jump(t)) => {
                    st.rip = t;
                    return quiet(it.ctx, h);
                }
                Some(End::Exit(kind)) => {
                    st.rip = h.pre.next;
                    exited(it.ctx, kind);
                    return false;
                }
                None => {
                    // A device access or a store to code: the dispatcher runs next.
                    st.rip = h.pre.next;
                    if it.ctx.exit != exit::NONE {
                        return false;
                    }
                    continue;
                }
            }
        }
        it.ctx.state.rip = i.ip();
        match step(it.ctx, i, h) {
            Step::Retired(None) => {
                if it.ctx.exit != exit::NONE {
                    return false;
                }
            }
            Step::Retired(Some(End::Jump(_))) => return quiet(it.ctx, h),
            Step::Retired(Some(End::Exit(kind))) => {
                exited(it.ctx, kind);
                return false;
            }
            Step::Fault(f) => {
                it.ctx.set_fault(f);
                return false;
            }
        }
    }
    // Cut by the size or page limit (or `max`): on with the next instruction.
    let (Some(h), Some(i)) = (hints.last(), insns.last()) else {
        return false;
    };
    it.ctx.state.rip = i.next_ip();
    quiet(it.ctx, h)
}

/// After instruction `last` retired and ended a run: may the next block follow
/// without the dispatcher?
#[inline(always)]
fn quiet(ctx: &Ctx, last: &Hint) -> bool {
    ctx.exit == exit::NONE && !last.leave && ctx.smc_pages.is_empty()
}

/// After an instruction that retired with [`End::Exit`]: tells the dispatcher why.
fn exited(ctx: &mut Ctx, kind: ExitKind) {
    if kind == ExitKind::Halt {
        ctx.exit = exit::HALT;
    } else if ctx.exit == exit::NONE {
        ctx.exit = exit::RESYNC;
    }
}

/// [`step`] for instructions without a pre-decoded form: through the groups.
#[inline(never)]
fn step_slow(ctx: &mut Ctx, i: &Instruction, hint: &mut Hint) -> Step {
    let shadow_insn = hint.shadow;
    let pre_shadow = ctx.state.interrupt_shadow;
    let pre_if = ctx.state.rflags_sys & crate::state::fl::IF;
    let mut it = Interp::new(ctx);
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
                Some(End::Jump(t)) => t,
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

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    /// 64-bit encodings of the forms the pre-decoded path covers (and some it must not).
    const CASES: &[&[u8]] = &[
        &[0x48, 0x89, 0xd8],                         // mov rax, rbx
        &[0x88, 0xe3],                               // mov bl, ah
        &[0x66, 0x89, 0xc8],                         // mov ax, cx
        &[0x8b, 0x44, 0x8b, 0x08],                   // mov eax, [rbx+rcx*4+8]
        &[0x48, 0x89, 0x43, 0x10],                   // mov [rbx+16], rax
        &[0xc6, 0x03, 0x7f],                         // mov byte [rbx], 0x7f
        &[0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff], // mov rax, -1
        &[0x48, 0x0f, 0xb6, 0xc3],                   // movzx rax, bl
        &[0x0f, 0xbf, 0x03],                         // movsx eax, word [rbx]
        &[0x48, 0x63, 0xc1],                         // movsxd rax, ecx
        &[0x48, 0x8d, 0x44, 0x4b, 0xf0],             // lea rax, [rbx+rcx*2-16]
        &[0x8d, 0x04, 0x09],                         // lea eax, [rcx+rcx]
        &[0x67, 0x8d, 0x04, 0x0b],                   // lea eax, [ebx+ecx]
        &[0x48, 0x01, 0xd8],                         // add rax, rbx
        &[0x11, 0xd8],                               // adc eax, ebx
        &[0x48, 0x29, 0x03],                         // sub [rbx], rax
        &[0x19, 0xc8],                               // sbb eax, ecx
        &[0x21, 0xc8],                               // and eax, ecx
        &[0x08, 0xe0],                               // or al, ah
        &[0x31, 0xc0],                               // xor eax, eax
        &[0x48, 0x83, 0xf9, 0x05],                   // cmp rcx, 5
        &[0x84, 0xc0],                               // test al, al
        &[0x66, 0x85, 0x0b],                         // test [rbx], cx
        &[0x48, 0xff, 0xc0],                         // inc rax
        &[0xff, 0x0b],                               // dec dword [rbx]
        &[0x48, 0xf7, 0xd8],                         // neg rax
        &[0xf6, 0xd4],                               // not ah
        &[0x74, 0x10],                               // je +16
        &[0x0f, 0x8c, 0x00, 0x01, 0x00, 0x00],       // jl +256
        &[0x77, 0xfe],                               // ja self
        &[0xeb, 0x05],                               // jmp +5
        &[0xff, 0xe0],                               // jmp rax
        &[0xff, 0x23],                               // jmp [rbx]
        &[0xe8, 0x00, 0x01, 0x00, 0x00],             // call +256
        &[0xff, 0xd0],                               // call rax
        &[0xff, 0x13],                               // call [rbx]
        &[0xc3],                                     // ret
        &[0xc2, 0x10, 0x00],                         // ret 16
        &[0x55],                                     // push rbp
        &[0x66, 0x55],                               // push bp
        &[0x6a, 0xf0],                               // push -16
        &[0xff, 0x33],                               // push qword [rbx]
        &[0x5d],                                     // pop rbp
        &[0x8f, 0x03],                               // pop qword [rbx]
        &[0x8f, 0x44, 0x24, 0x08],                   // pop qword [rsp+8]
        &[0x0f, 0x94, 0xc0],                         // sete al
        &[0x0f, 0x9c, 0x03],                         // setl byte [rbx]
        &[0x0f, 0x4f, 0xc1],                         // cmovg eax, ecx
        &[0x48, 0x0f, 0x42, 0x03],                   // cmovb rax, [rbx]
        &[0x48, 0xc1, 0xe0, 0x0d],                   // shl rax, 13
        &[0xc1, 0xfa, 0x03],                         // sar edx, 3
        &[0x48, 0x0f, 0xaf, 0xc3],                   // imul rax, rbx
        &[0x0f, 0xaf, 0x03],                         // imul eax, [rbx]
        &[0x69, 0xdb, 0x6d, 0x4e, 0xc6, 0x41],       // imul ebx, ebx, 0x41c64e6d
        &[0x48, 0x6b, 0x43, 0x08, 0xfd],             // imul rax, [rbx+8], -3
        &[0x48, 0x83, 0x7c, 0x24, 0x08, 0x00],       // cmp qword [rsp+8], 0
        &[0x83, 0x03, 0x05],                         // add dword [rbx], 5
        &[0x89, 0xc1],                               // mov ecx, eax
        &[0xb9, 0x78, 0x56, 0x34, 0x12],             // mov ecx, 0x12345678
        &[0x89, 0x04, 0x8b],                         // mov [rbx+rcx*4], eax
        &[0x48, 0x0f, 0x4f, 0xc3],                   // cmovg rax, rbx
        &[0x48, 0xff, 0x03],                         // inc qword [rbx]
        &[0xff, 0xc8],                               // dec eax
        &[0x48, 0xf7, 0xdb],                         // neg rbx
        &[0x41, 0x54],                               // push r12
        &[0x41, 0x5c],                               // pop r12
        &[0x90],                                     // nop
        &[0x0f, 0x1f, 0x44, 0x00, 0x00],             // nop dword [rax+rax]
        &[0xd7],                                     // xlatb (groups only)
        &[0x0f, 0xa0],                               // push fs (groups only)
        &[0x8e, 0xd8],                               // mov ds, eax (groups only)
        &[0xff, 0x1b],                               // call far [rbx] (groups only)
        &[0xfb],                                     // sti (groups only)
    ];

    fn decode(bytes: &[u8]) -> Instruction {
        let mut d = Decoder::with_ip(64, bytes, 0x1000, DecoderOptions::NONE);
        d.decode()
    }

    /// A tiny deterministic generator (xorshift).
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    #[derive(Debug, PartialEq)]
    struct After {
        r: Result<Option<End>, Fault>,
        gpr: [u64; 16],
        flags: u64,
        xmm: [[u64; 2]; 16],
        mxcsr: u32,
        ram: Vec<u8>,
    }

    /// Which route [`run`] takes.
    #[derive(Clone, Copy)]
    enum How {
        /// The pre-decoded form's handler, as the block loop calls it.
        Handler,
        /// `sem::pre::exec` on the pre-decoded form.
        Exec,
        /// The instruction groups on iced-x86's `Instruction`.
        Groups,
    }

    /// Runs `i` from a seeded state, through the route `how`.
    fn run(i: &Instruction, seed: u64, how: How) -> After {
        let mut ram = vec![0u8; 0x10000];
        let mut s = seed | 1;
        for b in ram.iter_mut() {
            *b = next(&mut s) as u8;
        }
        let mut ctx = Ctx::new(ram.as_mut_ptr(), ram.len() as u64);
        // 64-bit code needs a long-mode CS, but paging off keeps addresses physical:
        // the semantics only look at the decoded instruction's code size.
        for r in 0..16 {
            let v = next(&mut s);
            // Pointers (RBX, RSP, RAX for `nop [rax+rax]`) inside RAM, away from its ends.
            ctx.state.gpr[r] = if matches!(r, 0 | 3 | 4) {
                0x4000 + (v & 0x3ff8)
            } else if v & 3 == 0 {
                v & 0xff
            } else {
                v
            };
        }
        // A flag record of a kind and size picked by the seed (the conditions of Jcc,
        // SETcc and CMOVcc have fast paths per kind); SUB's operands consistent.
        use crate::flags::{CcKind::*, CcOp};
        let kinds = [Sub, Add, Logic, Inc, Dec, Shl, Shr, Sar, Adc, Sbb, Eflags];
        let kind = kinds[(seed as usize / 7) % kinds.len()];
        let size = [8u8, 4, 1, 2][(seed as usize / 3) % 4];
        ctx.state.cc_op = CcOp::new(kind, size).encode();
        ctx.state.cc_res = next(&mut s);
        ctx.state.cc_src1 = next(&mut s);
        ctx.state.cc_src2 = if kind == Sub {
            ctx.state.cc_src1.wrapping_sub(ctx.state.cc_res)
        } else {
            next(&mut s) >> (seed % 64)
        };
        // SSE state: random XMM bits (NaNs, denormals and infinities included) and a
        // random MXCSR: rounding, DAZ/FTZ, flags already set, and sometimes an
        // unmasked exception (#XM).
        ctx.state.cr4 |= crate::state::CR4_OSFXSR | crate::state::CR4_OSXMMEXCPT;
        for x in ctx.state.xmm.iter_mut() {
            *x = [next(&mut s), next(&mut s)];
        }
        let r = next(&mut s);
        let unmask = if r & 0x300 == 0 {
            (r >> 10) as u32 & 0x3f
        } else {
            0
        };
        ctx.state.mxcsr = (0x1f80 & !(unmask << 7)) | (r as u32 & 0x3f) | (r as u32 & 0x6000);
        ctx.state.mxcsr |= (r as u32 & 0x8040) * u32::from(r & 0x1000 != 0);
        let mut it = Interp::new(&mut ctx);
        let r = match how {
            How::Handler => {
                let p = Pre::of(i).expect("pre-decoded form");
                let run = handlers::of(&p);
                let clean = run(&mut it, &p);
                let r = it.fault.map_or(Ok(()), Err);
                let quiet = it.ctx.exit == exit::NONE;
                assert_eq!(clean, r.is_ok() && it.end.is_none() && quiet, "`{i}`");
                r
            }
            How::Exec => {
                let p = Pre::of(i).expect("pre-decoded form");
                sem::pre::exec(&mut it, &p)
            }
            How::Groups => match sem::translate(&mut it, i) {
                Ok(Outcome::Done) => Ok(()),
                Ok(Outcome::Unsupported) => panic!("no semantics for {i}"),
                Err(f) => Err(f),
            },
        };
        let end = it.end;
        let mut e = Interp::new(&mut ctx);
        let flags = sem::rflags(&mut e).unwrap_or(0);
        let (gpr, xmm, mxcsr) = (ctx.state.gpr, ctx.state.xmm, ctx.state.mxcsr);
        drop(ctx);
        After {
            r: r.map(|()| end),
            gpr,
            flags,
            xmm,
            mxcsr,
            ram,
        }
    }

    #[test]
    fn pre_decoded_path_matches_the_groups() {
        let mut covered = 0;
        for bytes in CASES {
            let i = decode(bytes);
            assert_eq!(i.len(), bytes.len(), "{bytes:02x?} decodes as {i}");
            if Pre::of(&i).is_none() {
                continue;
            }
            covered += 1;
            for seed in 1..200u64 {
                let want = run(&i, seed * 0x9e37_79b9, How::Groups);
                let a = run(&i, seed * 0x9e37_79b9, How::Handler);
                assert_eq!(a, want, "`{i}` seed {seed}, handler");
                let b = run(&i, seed * 0x9e37_79b9, How::Exec);
                assert_eq!(b, want, "`{i}` seed {seed}, exec");
            }
        }
        assert_eq!(
            covered,
            CASES.len() - 5,
            "every common form has a pre-decoded path"
        );
    }

    /// SSE forms: the ones with a pre-decoded path, then (the last five) ones that go
    /// through the groups.
    const SSE_CASES: &[&[u8]] = &[
        &[0x66, 0x0f, 0x28, 0xca],                      // movapd xmm1, xmm2
        &[0x0f, 0x28, 0x03],                            // movaps xmm0, [rbx]
        &[0x0f, 0x10, 0x43, 0x01],                      // movups xmm0, [rbx+1]
        &[0xf3, 0x0f, 0x7f, 0x5b, 0x08],                // movdqu [rbx+8], xmm3
        &[0x66, 0x0f, 0x7f, 0x1b],                      // movdqa [rbx], xmm3
        &[0xf2, 0x0f, 0x10, 0xca],                      // movsd xmm1, xmm2
        &[0xf3, 0x0f, 0x10, 0xca],                      // movss xmm1, xmm2
        &[0xf2, 0x44, 0x0f, 0x10, 0x6b, 0x10],          // movsd xmm13, [rbx+0x10]
        &[0xf3, 0x0f, 0x10, 0x03],                      // movss xmm0, [rbx]
        &[0xf2, 0x44, 0x0f, 0x11, 0x7b, 0x08],          // movsd [rbx+8], xmm15
        &[0xf3, 0x0f, 0x11, 0x0b],                      // movss [rbx], xmm1
        &[0xf2, 0x0f, 0x10, 0x04, 0x25, 0, 0x40, 0, 0], // movsd xmm0, [0x4000]
        &[0x66, 0x0f, 0xef, 0xc0],                      // pxor xmm0, xmm0
        &[0x66, 0x0f, 0x57, 0xcb],                      // xorpd xmm1, xmm3
        &[0x0f, 0x54, 0x13],                            // andps xmm2, [rbx]
        &[0x66, 0x0f, 0xd4, 0xca],                      // paddq xmm1, xmm2
        &[0xf2, 0x45, 0x0f, 0x59, 0xf0],                // mulsd xmm14, xmm8
        &[0xf2, 0x44, 0x0f, 0x58, 0x43, 0x10],          // addsd xmm8, [rbx+0x10]
        &[0xf2, 0x0f, 0x5c, 0xca],                      // subsd xmm1, xmm2
        &[0xf2, 0x45, 0x0f, 0x5e, 0xca],                // divsd xmm9, xmm10
        &[0xf2, 0x45, 0x0f, 0x51, 0xd1],                // sqrtsd xmm10, xmm9
        &[0x0f, 0x58, 0x03],                            // addps xmm0, [rbx]
        &[0x66, 0x0f, 0x59, 0xca],                      // mulpd xmm1, xmm2
        &[0xf3, 0x0f, 0x5d, 0xca],                      // minss xmm1, xmm2
        &[0xf2, 0x0f, 0x5f, 0x0b],                      // maxsd xmm1, [rbx]
        &[0xf2, 0x0f, 0xc2, 0xca, 0x01],                // cmpltsd xmm1, xmm2
        &[0x0f, 0xc2, 0x03, 0x04],                      // cmpneqps xmm0, [rbx]
        &[0xf2, 0x0f, 0x5a, 0xc1],                      // cvtsd2ss xmm0, xmm1
        &[0xf3, 0x0f, 0x5a, 0x03],                      // cvtss2sd xmm0, [rbx]
        &[0x66, 0x0f, 0xe6, 0xc1],                      // cvttpd2dq xmm0, xmm1
        &[0x66, 0x0f, 0xf4, 0xc1],                      // pmuludq xmm0, xmm1
        &[0x0f, 0xc6, 0xc1, 0x1b],                      // shufps xmm0, xmm1, 0x1b
        &[0x66, 0x0f, 0x60, 0x03],                      // punpcklbw xmm0, [rbx]
        &[0xf3, 0x0f, 0x53, 0xc1],                      // rcpss xmm0, xmm1
        &[0xf2, 0x0f, 0x2a, 0xc0],                      // cvtsi2sd xmm0, eax (groups)
        &[0x66, 0x48, 0x0f, 0x7e, 0xc0],                // movq rax, xmm0 (groups)
        &[0x66, 0x0f, 0x74, 0xc1],                      // pcmpeqb xmm0, xmm1 (groups)
        &[0x66, 0x0f, 0x2f, 0xc1],                      // comisd xmm0, xmm1 (groups)
        &[0x64, 0xf2, 0x0f, 0x10, 0x03],                // movsd xmm0, fs:[rbx] (groups)
    ];

    #[test]
    fn sse_pre_decoded_path_matches_the_groups() {
        use crate::sem::pre::Shape;
        let (pre, groups) = SSE_CASES.split_at(SSE_CASES.len() - 5);
        for bytes in groups {
            let i = decode(bytes);
            assert_eq!(i.len(), bytes.len(), "{bytes:02x?} decodes as {i}");
            assert!(Pre::of(&i).is_none(), "`{i}` must go through the groups");
        }
        let mut faults = 0;
        for bytes in pre {
            let i = decode(bytes);
            assert_eq!(i.len(), bytes.len(), "{bytes:02x?} decodes as {i}");
            let p = Pre::of(&i).unwrap_or_else(|| panic!("`{i}` has no pre-decoded form"));
            assert!(
                matches!(p.shape, Shape::Xx | Shape::Xm | Shape::Mx),
                "`{i}`: {:?}",
                p.shape
            );
            for seed in 1..400u64 {
                let want = run(&i, seed * 0x9e37_79b9, How::Groups);
                faults += usize::from(want.r.is_err());
                let a = run(&i, seed * 0x9e37_79b9, How::Handler);
                assert_eq!(a, want, "`{i}` seed {seed}, handler");
                let b = run(&i, seed * 0x9e37_79b9, How::Exec);
                assert_eq!(b, want, "`{i}` seed {seed}, exec");
            }
        }
        // Misaligned 16-byte operands and unmasked exceptions were among the cases.
        assert!(faults > 100, "only {faults} faulting runs");
    }

    #[test]
    fn hot_forms_get_a_specialised_shape() {
        use crate::sem::pre::Shape;
        let cases: &[(&[u8], Shape)] = &[
            (&[0x48, 0x01, 0xd8], Shape::Rr64),
            (&[0x11, 0xd8], Shape::Rr32),
            (&[0x48, 0x83, 0xf9, 0x05], Shape::Ri64),
            (&[0x8b, 0x44, 0x8b, 0x08], Shape::Rm32),
            (&[0x48, 0x89, 0x43, 0x10], Shape::Mr64),
            (&[0x48, 0x83, 0x7c, 0x24, 0x08, 0x00], Shape::Mi64),
            (&[0x69, 0xdb, 0x6d, 0x4e, 0xc6, 0x41], Shape::Rr32),
            (&[0x48, 0x6b, 0x43, 0x08, 0xfd], Shape::Rm64),
            (&[0x48, 0x8d, 0x44, 0x4b, 0xf0], Shape::Rm64),
            (&[0x48, 0xc1, 0xe0, 0x0d], Shape::Ri64),
            (&[0x55], Shape::R64),
            (&[0xff, 0x33], Shape::M64),
            // Narrow, high-byte, zero-extending and FS-based forms stay generic.
            (&[0x08, 0xe0], Shape::Any),
            (&[0x66, 0x89, 0xc8], Shape::Any),
            (&[0x48, 0x0f, 0xb6, 0xc3], Shape::Any),
            (&[0x64, 0x48, 0x8b, 0x03], Shape::Any),
            (&[0x66, 0x55], Shape::Any),
        ];
        for (bytes, shape) in cases {
            let i = decode(bytes);
            let p = Pre::of(&i).expect("pre-decoded form");
            assert_eq!(p.shape, *shape, "`{i}`");
        }
    }

    #[test]
    fn special_forms_stay_with_the_groups() {
        for bytes in &CASES[CASES.len() - 5..] {
            let i = decode(bytes);
            assert!(Pre::of(&i).is_none(), "`{i}` must go through the groups");
        }
        let mut h = Hint::NEW;
        h.prepare(&decode(&[0xfb]));
        assert!(
            h.shadow && h.pre().is_none(),
            "STI keeps its interrupt-shadow path"
        );
    }

    #[test]
    fn xlat_index_is_zero_extended_al() {
        let m = sem::operand::Mem::of(&decode(&[0xd7]));
        assert_eq!((m.index, m.index_size, m.base_size), (0, 1, 8));
    }
}
