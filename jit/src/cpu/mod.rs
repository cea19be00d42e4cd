//! The vCPU: the dispatch loop that runs blocks in the interpreter or as compiled code,
//! counts instructions exactly, and delivers exceptions.

use crate::bus::Bus;
use crate::cache::{BlockCache, LookupError};
use crate::cl::Jit;
use crate::ctx::{exit, Ctx};
use crate::exception::Fault;
use crate::interp;
use crate::interrupts;
use crate::ram::GuestRam;
use crate::state::{fl, CpuState};
use std::time::Duration;

/// DR6.BS: the #DB was a single-step trap.
const DR6_BS: u64 = 1 << 14;

mod chain;
mod events;
mod region;

/// Which tiers run guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Everything in the interpreter.
    Interpreter,
    /// Interpreter for cold blocks, Cranelift for hot ones.
    Tiered,
}

#[derive(Clone, Debug)]
pub struct CpuConfig {
    pub tier: Tier,
    /// Executions after which a block is compiled.
    pub hot_threshold: u32,
    /// Bytes of generated code kept before the code cache is flushed.
    pub code_cache_bytes: usize,
    /// Compile on a background thread while the interpreter keeps running the block
    /// (off: compile on the spot, which makes compile points reproducible for tests).
    pub background_compile: bool,
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            tier: Tier::Tiered,
            hot_threshold: 64,
            code_cache_bytes: 64 << 20,
            background_compile: false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct CpuStats {
    /// Block executions in the interpreter.
    pub blocks_interpreted: u64,
    /// Of those, blocks entered straight from the previous one without the
    /// dispatcher (see `cpu/chain.rs`).
    pub blocks_chained: u64,
    /// Blocks compiled by Cranelift.
    pub blocks_compiled: u64,
    /// Entries into compiled code from the dispatcher.
    pub jit_entries: u64,
    pub compile_time: Duration,
    pub cache_flushes: u64,
    pub smc_invalidations: u64,
}

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction count reached the limit given to `run`.
    IcountLimit,
    /// The CPU sits in HLT (`CpuState::halted`; RIP is past the HLT) and nothing
    /// deliverable is pending. `interrupts_enabled` tells whether an external interrupt
    /// (INTR) could wake it; an NMI always can. Calling `run` again returns at once
    /// until the bus has an interrupt to deliver.
    Halted { interrupts_enabled: bool },
    /// A device asked to stop (for instance the debug-exit port).
    BusStop,
    /// An exception could not be delivered even as a double fault.
    TripleFault {
        /// The exception an instruction raised first.
        original: Fault,
        /// The exception whose delivery (as a double fault) failed.
        fault: Fault,
        rip: u64,
    },
    /// RIP points at memory that is not RAM.
    ExecNotRam { rip: u64 },
}

pub struct Cpu {
    ctx: Box<Ctx>,
    ram: GuestRam,
    cache: BlockCache,
    jit: Option<Jit>,
    cfg: CpuConfig,
    stats: CpuStats,
    /// Where interpreted blocks chain to (see [`chain`]).
    chain: chain::ChainTable,
    /// A compiled block left before the instruction at RIP for the interpreter to run
    /// it (`exit::STEP`). Only a hint of which tier runs it: not guest state.
    step_one: bool,
}

impl Cpu {
    pub fn new(mut ram: GuestRam, cfg: CpuConfig) -> Result<Cpu, crate::cl::JitError> {
        let ctx = Ctx::new(ram.base_ptr(), ram.len());
        let jit = match cfg.tier {
            Tier::Tiered => Some(Jit::new(cfg.background_compile)?),
            Tier::Interpreter => None,
        };
        Ok(Cpu {
            ctx,
            ram,
            cache: BlockCache::default(),
            jit,
            cfg,
            stats: CpuStats::default(),
            chain: chain::ChainTable::default(),
            step_one: false,
        })
    }

    pub fn state(&self) -> &CpuState {
        &self.ctx.state
    }
    /// Changing state from outside invalidates cached translations of it (TLB), and
    /// wakes a CPU that sits in HLT (callers that set up a new RIP expect it to run;
    /// set `halted` again through the returned reference to keep it waiting).
    pub fn state_mut(&mut self) -> &mut CpuState {
        self.ctx.flush_tlb();
        self.ctx.state.halted = 0;
        &mut self.ctx.state
    }
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }
    /// Writing RAM from outside drops translations of the written code.
    pub fn ram_mut(&mut self) -> &mut GuestRam {
        self.flush_code_cache();
        &mut self.ram
    }
    pub fn stats(&self) -> CpuStats {
        let mut s = self.stats.clone();
        if let Some(j) = self.jit.as_ref() {
            s.compile_time = j.compile_time();
        }
        s
    }
    pub fn config(&self) -> &CpuConfig {
        &self.cfg
    }
    /// Puts the CPU in the 64-bit entry state at `entry`, with the boot GDT and page
    /// tables written into its RAM (see [`crate::boot::enter_long_mode`]).
    pub fn enter_long_mode(&mut self, entry: u64) {
        self.flush_code_cache();
        crate::boot::enter_long_mode(&mut self.ram, &mut self.ctx.state, entry);
        self.ctx.flush_tlb();
    }

    /// Puts the CPU in the Multiboot entry state: 32-bit flat protected mode, paging
    /// off, EAX/EBX as given (see [`crate::boot::enter_protected_mode_flat`]).
    pub fn enter_protected_mode_flat(&mut self, entry: u32, eax: u32, ebx: u32) {
        self.flush_code_cache();
        let st = &mut self.ctx.state;
        crate::boot::enter_protected_mode_flat(&mut self.ram, st, entry, eax, ebx);
        self.ctx.flush_tlb();
    }

    /// Nanoseconds of virtual time per instruction is `1 << shift`.
    pub fn set_icount_shift(&mut self, shift: u32) {
        self.ctx.icount_shift = shift.min(10);
    }
    pub fn icount_shift(&self) -> u32 {
        self.ctx.icount_shift
    }

    /// The virtual clock in nanoseconds: `icount << icount_shift` plus warps.
    pub fn virtual_ns(&self) -> u64 {
        self.ctx.virtual_ns()
    }

    /// Moves the virtual clock forward by `ns` without retiring instructions (the
    /// machine does this while the CPU is halted, up to the next timer deadline).
    pub fn warp_clock(&mut self, ns: u64) {
        self.ctx.state.clock_bias_ns = self.ctx.state.clock_bias_ns.wrapping_add(ns);
    }

    /// The first instruction count at which the virtual clock reaches `ns` (the
    /// count to run to for a timer deadline); the current count if it already has.
    pub fn icount_at_ns(&self, ns: u64) -> u64 {
        let now = self.virtual_ns();
        if ns <= now {
            return self.ctx.state.icount;
        }
        let step = 1u64 << self.ctx.icount_shift;
        self.ctx
            .state
            .icount
            .saturating_add((ns - now).div_ceil(step))
    }

    /// Digest of the architectural registers only (cheap: for frequent checks).
    pub fn state_digest(&self) -> u64 {
        let mut h = crate::digest::Digest::default();
        self.ctx.state.digest_into(&mut h);
        h.finish()
    }

    /// Digest of registers and RAM.
    pub fn digest(&self) -> u64 {
        let mut h = crate::digest::Digest::default();
        self.ctx.state.digest_into(&mut h);
        self.ram.digest_into(&mut h);
        h.finish()
    }

    /// Something other than the CPU (a device's DMA) wrote the physical pages at
    /// `pages` (page-aligned addresses): drops the translations of code on them, as a
    /// guest store would. Pages without translated code cost nothing.
    pub fn invalidate_code_pages(&mut self, pages: &[u64]) {
        for &p in pages {
            let idx = (p >> 12) as usize;
            if let Some(flag) = self.ctx.code_pages.get_mut(idx) {
                if *flag != 0 {
                    *flag = 0;
                    self.ctx.smc_pages.push(p & !0xfff);
                }
            }
        }
        self.drop_written_code();
    }

    /// Drops all translations (decoded and compiled).
    pub fn flush_code_cache(&mut self) {
        self.cache.clear(&mut self.ctx);
        self.chain.clear();
        if let Some(j) = self.jit.as_mut() {
            j.flush(&mut self.ctx);
        }
        self.stats.cache_flushes += 1;
    }

    /// Runs guest code until `icount_limit` instructions have retired in total, or
    /// something stops the CPU. Pending interrupts (NMI, or INTR when RFLAGS.IF = 1 and
    /// no interrupt shadow) are delivered at every instruction boundary the loop sees,
    /// the first one included, even when `icount_limit` has already been reached.
    pub fn run(&mut self, bus: &mut dyn Bus, icount_limit: u64) -> RunExit {
        let bus_ptr: *mut (dyn Bus + '_) = bus;
        // SAFETY: the pointer is only dereferenced (in `Ctx::with_bus`) during this call,
        // while `bus` is mutably borrowed by it; it is cleared before returning. The
        // transmute only erases the lifetime.
        self.ctx.bus = Some(unsafe {
            std::mem::transmute::<*mut (dyn Bus + '_), *mut (dyn Bus + 'static)>(bus_ptr)
        });
        // The SSE semantics compute with the host's default MXCSR control.
        crate::sem::sse::mxcsr::normalize_host();
        let r = self.run_loop(icount_limit);
        self.ctx.bus = None;
        r
    }

    fn run_loop(&mut self, limit: u64) -> RunExit {
        loop {
            // Every pass through here is an instruction boundary: take a pending NMI or
            // external interrupt first (also before anything runs, and to wake HLT).
            if let Err(t) = self.take_interrupt() {
                return self.triple(t);
            }
            if self.ctx.state.halted != 0 {
                return RunExit::Halted {
                    interrupts_enabled: self.ctx.state.rflags_sys & fl::IF != 0,
                };
            }
            if self.ctx.state.icount >= limit {
                return RunExit::IcountLimit;
            }
            self.ctx.state.icount_deadline = limit;
            self.install_finished_compiles();
            let id = match self.cache.lookup(&mut self.ctx) {
                Ok(id) => id,
                Err(LookupError::Fault(f)) => {
                    if let Err(t) = interrupts::deliver_exception(&mut self.ctx, f) {
                        return self.triple(t);
                    }
                    self.after_delivery();
                    continue;
                }
                Err(LookupError::NotRam) => {
                    return RunExit::ExecNotRam {
                        rip: self.ctx.state.rip,
                    }
                }
            };
            self.maybe_link(id);
            if self.ctx.state.rflags_sys & fl::TF != 0 {
                // Single-step: one instruction in the interpreter, then a #DB trap.
                if let Some(r) = self.single_step(id) {
                    return r;
                }
                continue;
            }
            let step_one = std::mem::take(&mut self.step_one);
            if step_one || self.ctx.state.interrupt_shadow & interrupts::SHADOW != 0 {
                // The instruction after STI / MOV SS runs alone; interrupts are looked
                // at again once it has retired. So does one that compiled code left to
                // the interpreter (a device or code-page access, `exit::STEP`).
                self.ctx.state.interrupt_shadow &= !interrupts::SHADOW;
                self.ctx.link_slot = 0;
                self.stats.blocks_interpreted += 1;
                self.interpret(id, 1);
                if let Some(r) = self.handle_exit() {
                    return r;
                }
                continue;
            }
            let n = self.cache.blocks[id].insns.len() as u64;
            let fits = self.ctx.state.icount + n <= limit;
            if let (Some(code), true) = (self.cache.blocks[id].code, fits) {
                self.stats.jit_entries += 1;
                if let Some(j) = self.jit.as_mut() {
                    j.execute(&mut self.ctx, code);
                }
            } else if fits {
                self.ctx.link_slot = 0;
                self.interpret_chain(id, limit);
            } else {
                self.ctx.link_slot = 0;
                self.stats.blocks_interpreted += 1;
                self.interpret(id, (limit - self.ctx.state.icount) as usize);
                self.maybe_compile(id);
            }
            if let Some(r) = self.handle_exit() {
                return r;
            }
        }
    }

    fn interpret(&mut self, id: usize, max: usize) {
        let b = &mut self.cache.blocks[id];
        interp::run_block(&mut self.ctx, &b.insns, &mut b.hints, max);
    }

    /// Acts on `ctx.exit` after a block; returns `Some` when `run` must return.
    fn handle_exit(&mut self) -> Option<RunExit> {
        let reason = std::mem::replace(&mut self.ctx.exit, exit::NONE);
        // Code pages written: drop their translations (also when the store faulted).
        self.drop_written_code();
        match reason {
            exit::FAULT => {
                let f = self.ctx.take_fault();
                if let Err(t) = interrupts::deliver_exception(&mut self.ctx, f) {
                    return Some(self.triple(t));
                }
                self.after_delivery();
                None
            }
            // HLT retired (RIP is past it): wait in `run` until an interrupt comes.
            exit::HALT => {
                self.ctx.state.halted = 1;
                None
            }
            exit::BUS_STOP => Some(RunExit::BusStop),
            exit::STEP => {
                self.step_one = true;
                None
            }
            _ => None,
        }
    }

    /// RFLAGS.TF was set at the start of the instruction at RIP: runs it alone and, if
    /// it completed (no fault, no exit that delivered an event of its own), raises the
    /// single-step #DB trap after it with DR6.BS set. The trap's frame points at the
    /// next instruction; the handler is entered with TF clear.
    fn single_step(&mut self, id: usize) -> Option<RunExit> {
        self.ctx.state.interrupt_shadow &= !interrupts::SHADOW;
        self.ctx.link_slot = 0;
        self.stats.blocks_interpreted += 1;
        let before = self.ctx.state.icount;
        self.interpret(id, 1);
        let completed = self.ctx.state.icount != before && self.ctx.exit != exit::FAULT;
        // An INT n or a SYSCALL that cleared TF on its way into a handler traps no more.
        let still_stepping = self.ctx.state.rflags_sys & fl::TF != 0
            || !matches!(
                self.cache.blocks[id].insns.first().map(|i| i.mnemonic()),
                Some(
                    iced_x86::Mnemonic::Int
                        | iced_x86::Mnemonic::Int3
                        | iced_x86::Mnemonic::Into
                        | iced_x86::Mnemonic::Syscall
                        | iced_x86::Mnemonic::Sysenter
                )
            );
        if let Some(r) = self.handle_exit() {
            return Some(r);
        }
        if completed && still_stepping && self.ctx.state.halted == 0 {
            self.ctx.state.dr[6] |= DR6_BS;
            let f = Fault::new(crate::exception::vec::DB);
            if let Err(t) = interrupts::deliver_exception(&mut self.ctx, f) {
                return Some(self.triple(t));
            }
            self.after_delivery();
        }
        None
    }

    fn triple(&mut self, t: interrupts::TripleFault) -> RunExit {
        RunExit::TripleFault {
            original: t.original,
            fault: t.fault,
            rip: self.ctx.state.rip,
        }
    }

    fn maybe_compile(&mut self, id: usize) {
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        let b = &mut self.cache.blocks[id];
        b.exec_count = b.exec_count.saturating_add(1);
        if b.exec_count < self.cfg.hot_threshold || b.code.is_some() || b.uncompilable {
            return;
        }
        if b.compiling {
            return;
        }
        if jit.code_bytes() > self.cfg.code_cache_bytes {
            self.flush_code_cache();
            return;
        }
        b.compiling = true;
        let region = self.region_of(id);
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        if let Some(done) = jit.request(id, &self.cache.blocks[id], region) {
            self.install(done);
        }
    }

    fn install_finished_compiles(&mut self) {
        if let Some(j) = self.jit.as_mut() {
            for done in j.finished() {
                self.install(done);
            }
        }
    }

    /// Attaches compiled code to its block, unless the block changed meanwhile.
    fn install(&mut self, done: crate::cl::Installed) {
        let Some(b) = self.cache.blocks.get_mut(done.id) else {
            return;
        };
        if !b.valid || b.serial != done.serial {
            return;
        }
        b.compiling = false;
        match done.code {
            Some(code) => {
                b.code = Some(code);
                self.stats.blocks_compiled += 1;
            }
            // Stays in the interpreter (for instance: an instruction without
            // semantics, which the interpreter turns into #UD).
            None => b.uncompilable = true,
        }
    }

    /// Chains the block that just exited through a direct jump to block `id`.
    fn maybe_link(&mut self, id: usize) {
        let slot = std::mem::replace(&mut self.ctx.link_slot, 0);
        let key = self.cache.blocks[id].key;
        // One table per CPL: only other mode changes (bitness, CR0/CR4 bits) flush.
        let rest = key.mode & !crate::emit::Mode::KEY_CPL_MASK;
        if rest != self.ctx.jmp_cache_mode {
            self.ctx.flush_jmp_cache();
            self.ctx.jmp_cache_mode = rest;
        }
        if let (Some(j), Some(code)) = (self.jit.as_mut(), self.cache.blocks[id].code) {
            let cpl = crate::emit::Mode::from_key(key.mode).cpl as usize;
            let lin = crate::cache::code_linear(&self.ctx, key.rip);
            let set = crate::mmu::tlb_set(&self.ctx);
            let span = match self.ctx.itlb[set].get(crate::mmu::itlb_index(lin)) {
                Some(e) if e.page == lin & !0xfff => e.span_mask,
                // Not in the ITLB (cannot happen right after the lookup): assume the
                // largest page, so any INVLPG in it forgets the jump cache.
                _ => u64::MAX,
            };
            if span > 0xfff {
                self.ctx.note_jmp_large(lin & !span, span);
            }
            if let Some(e) = self
                .ctx
                .jmp_cache
                .get_mut(cpl)
                .and_then(|t| t.get_mut(crate::ctx::JmpEntry::index(key.rip)))
            {
                e.rip = key.rip;
                e.code = code as u64;
            }
            if slot != 0 {
                j.link(slot, code);
            }
        }
    }
}
