//! Chaining interpreted blocks: after a block that ended with nothing pending, the next
//! block is found in a small RIP-indexed table and run at once, without going back
//! through the dispatcher (interrupt check, compile installation, linking, exit
//! handling), as compiled blocks chain to each other.
//!
//! A chain goes on only while none of the dispatcher's work can be due:
//! - `ctx.exit` is clear and no code page was written (a fault, HLT, a device access,
//!   a store to code, a state change that asks to resync all set an exit);
//! - the block did not end with an instruction after which the dispatcher must look
//!   at interrupts ([`crate::sem::interrupt::leaves_to_dispatcher`]: STI, CLI, POPF,
//!   IRET, INT n, port I/O, WRMSR, HLT …), exactly the blocks the compiled tier does not
//!   chain either, and neither an interrupt shadow nor RFLAGS.TF is in force;
//! - the next block fits the instruction budget whole (the dispatcher runs a partial
//!   block instruction by instruction);
//! - in the tiered configuration, the next block has no compiled code and no compile
//!   under way (the dispatcher enters compiled code and installs finished compiles).
//!
//! Interrupt lines change only through device accesses (which set an exit) or between
//! calls of [`super::Cpu::run`], and RFLAGS.IF only through instructions that leave to
//! the dispatcher, so no interrupt can become deliverable inside a chain.
//!
//! The table maps a virtual RIP to a block id under a mode key. It is filled from the
//! dispatcher's full lookups (which translate RIP through the paging structures), and
//! an entry is trusted only under the jump-cache epoch it was filled in
//! ([`crate::ctx::Ctx::jmp_epoch`], bumped whenever the jump cache of compiled code is
//! flushed or loses a page: CR3/CR0/CR4 writes, INVLPG, CS base changes), and only if
//! the block still exists with the same serial. That is the rule the compiled tier's
//! jump cache follows, so both tiers see the same translations at the same points.

use super::Cpu;
use crate::interp;
use crate::state::fl;

/// Entries in the chaining table (a power of two).
const CHAIN_SIZE: usize = 4096;

/// One chaining-table entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChainEntry {
    rip: u64,
    serial: u64,
    epoch: u64,
    id: u32,
    mode: u32,
}

impl ChainEntry {
    const EMPTY: ChainEntry = ChainEntry {
        rip: u64::MAX,
        serial: 0,
        epoch: u64::MAX,
        id: u32::MAX,
        mode: 0,
    };
}

/// The RIP-indexed table of blocks an interpreted block may chain to.
pub(super) struct ChainTable {
    entries: Vec<ChainEntry>,
}

impl Default for ChainTable {
    fn default() -> Self {
        ChainTable {
            entries: vec![ChainEntry::EMPTY; CHAIN_SIZE],
        }
    }
}

#[inline(always)]
fn slot(rip: u64) -> usize {
    ((rip ^ (rip >> 12)) as usize) & (CHAIN_SIZE - 1)
}

impl ChainTable {
    /// Forgets every entry.
    pub(super) fn clear(&mut self) {
        self.entries.fill(ChainEntry::EMPTY);
    }
}

impl Cpu {
    /// Remembers that block `id` is what the dispatcher found for its RIP now.
    #[inline]
    fn chain_note(&mut self, id: usize) {
        let Some(b) = self.cache.blocks.get(id) else {
            return;
        };
        let Ok(id32) = u32::try_from(id) else {
            return;
        };
        if let Some(e) = self.chain.entries.get_mut(slot(b.key.rip)) {
            *e = ChainEntry {
                rip: b.key.rip,
                serial: b.serial,
                epoch: self.ctx.jmp_epoch,
                id: id32,
                mode: b.key.mode,
            };
        }
    }

    /// The block to chain to at RIP `rip` under mode key `mode`, if the table knows
    /// one that is still valid and that the interpreter should run, with its length.
    #[inline]
    fn chain_next(&self, rip: u64, mode: u32) -> Option<(usize, u64)> {
        let tiered = self.jit.is_some();
        next_in(
            &self.chain,
            &self.cache,
            self.ctx.jmp_epoch,
            rip,
            mode,
            tiered,
        )
    }

    /// Runs block `id` (found by the dispatcher, fitting the budget `limit` whole) and
    /// the blocks it chains to, until one of them needs the dispatcher.
    ///
    /// Every block of a chain has the first one's mode key: the table is asked for
    /// that mode, and an instruction that changes the mode asks the dispatcher to run.
    pub(super) fn interpret_chain(&mut self, id: usize, limit: u64) {
        self.chain_note(id);
        let Some(mode) = self.cache.blocks.get(id).map(|b| b.key.mode) else {
            return;
        };
        let chained = if self.jit.is_some() {
            self.chain_tiered(id, limit, mode)
        } else {
            self.chain_interpreted(id, limit, mode)
        };
        self.stats.blocks_interpreted += chained + 1;
        self.stats.blocks_chained += chained;
    }

    /// [`Cpu::interpret_chain`] in the interpreter-only configuration: one
    /// [`interp::Interp`] serves the whole chain. Returns the number of blocks chained.
    fn chain_interpreted(&mut self, mut id: usize, limit: u64, mode: u32) -> u64 {
        let Cpu {
            ctx, cache, chain, ..
        } = self;
        let mut it = interp::Interp::for_block(ctx);
        let mut chained = 0;
        while let Some(b) = cache.blocks.get_mut(id) {
            if !interp::run_insns(&mut it, &b.insns, &mut b.hints, usize::MAX) {
                break;
            }
            let ctx = &*it.ctx;
            let st = &ctx.state;
            if must_stop_after(st) {
                break;
            }
            let Some((next, n)) = next_in(chain, cache, ctx.jmp_epoch, st.rip, mode, false) else {
                break;
            };
            if st.icount + n > limit {
                break;
            }
            chained += 1;
            id = next;
        }
        chained
    }

    /// [`Cpu::interpret_chain`] in the tiered configuration (each block may get hot
    /// and be compiled). Returns the number of blocks chained.
    fn chain_tiered(&mut self, mut id: usize, limit: u64, mode: u32) -> u64 {
        let mut chained = 0;
        while let Some(b) = self.cache.blocks.get_mut(id) {
            let n = b.insns.len();
            let go = interp::run_block(&mut self.ctx, &b.insns, &mut b.hints, n);
            self.maybe_compile(id);
            if !go {
                break;
            }
            let st = &self.ctx.state;
            if must_stop_after(st) {
                break;
            }
            let Some((next, n)) = self.chain_next(st.rip, mode) else {
                break;
            };
            if st.icount + n > limit {
                break;
            }
            chained += 1;
            id = next;
        }
        chained
    }
}

/// The block to chain to at RIP `rip` under mode key `mode` and jump-cache epoch
/// `epoch`, if `chain` knows one that is still valid in `cache` and that the
/// interpreter should run (`tiered`: one without compiled code or a compile under
/// way), with its length.
#[inline(always)]
fn next_in(
    chain: &ChainTable,
    cache: &crate::cache::BlockCache,
    epoch: u64,
    rip: u64,
    mode: u32,
    tiered: bool,
) -> Option<(usize, u64)> {
    let e = chain.entries.get(slot(rip))?;
    if e.rip != rip || e.epoch != epoch || e.mode != mode {
        return None;
    }
    let id = e.id as usize;
    let b = cache.blocks.get(id)?;
    if !b.valid || b.serial != e.serial {
        return None;
    }
    if tiered && (b.code.is_some() || b.compiling) {
        return None;
    }
    Some((id, b.insns.len() as u64))
}

/// True when the dispatcher must run before the next block: an interrupt shadow to
/// expire, or single-stepping (TF).
#[inline(always)]
fn must_stop_after(st: &crate::state::CpuState) -> bool {
    st.interrupt_shadow & crate::interrupts::SHADOW != 0 || st.rflags_sys & fl::TF != 0
}

#[cfg(test)]
mod tests {
    use crate::{boot, Cpu, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit, Tier};
    use iced_x86::code_asm::*;

    const CODE: u64 = 0x10_0000;

    /// A loop that calls a function (direct CALL, RET to a dynamic target) and stores
    /// into its own code page every few rounds (self-modifying-code invalidation).
    fn program() -> Result<Vec<u8>, IcedError> {
        let mut a = CodeAssembler::new(64)?;
        let mut top = a.create_label();
        let mut func = a.create_label();
        let mut skip = a.create_label();
        let mut patch = a.create_label();
        a.xor(rax, rax)?;
        a.mov(rcx, 300u64)?;
        a.set_label(&mut top)?;
        a.call(func)?;
        a.test(rcx, 7i32)?;
        a.jnz(skip)?;
        a.lea(rdx, ptr(patch))?;
        a.mov(byte_ptr(rdx), 0x90i32)?;
        a.set_label(&mut skip)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.add(rax, rcx)?;
        a.shl(rax, 3i32)?;
        a.xor(rax, rcx)?;
        a.set_label(&mut patch)?;
        a.nop()?;
        a.ret()?;
        a.assemble(CODE)
    }

    fn cpu() -> Cpu {
        let bytes = program().expect("assembles");
        let mut ram = GuestRam::new(4).expect("RAM");
        assert!(ram.write_at(CODE, &bytes));
        let mut state = CpuState::default();
        boot::enter_long_mode(&mut ram, &mut state, CODE);
        state.gpr[4] = 0x8_0000;
        let cfg = CpuConfig {
            tier: Tier::Interpreter,
            ..Default::default()
        };
        let mut cpu = Cpu::new(ram, cfg).expect("CPU");
        *cpu.state_mut() = state;
        cpu
    }

    #[test]
    fn chained_blocks_keep_instruction_counts_exact() {
        let mut whole = cpu();
        let r = whole.run(&mut EmptyBus, u64::MAX);
        assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
        let s = whole.stats();
        assert!(
            s.blocks_chained * 2 > s.blocks_interpreted,
            "most blocks chain: {s:?}"
        );
        assert!(s.smc_invalidations > 0, "the program rewrites its code");
        for step in [1u64, 2, 5, 13, 64] {
            let mut c = cpu();
            let mut limit = 0;
            loop {
                limit += step;
                match c.run(&mut EmptyBus, limit) {
                    RunExit::IcountLimit => assert_eq!(c.state().icount, limit),
                    RunExit::Halted { .. } => break,
                    r => panic!("step {step}: {r:?}"),
                }
            }
            // Everything but the deadline, which is the last `run`'s limit.
            let (mut a, mut b) = (c.state().clone(), whole.state().clone());
            (a.icount_deadline, b.icount_deadline) = (0, 0);
            assert_eq!(a, b, "step {step}");
            assert_eq!(c.digest(), whole.digest(), "step {step}");
        }
    }
}
