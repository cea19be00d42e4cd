//! The execution context handed to generated code and helpers: the CPU state followed
//! by everything a memory access needs (TLB, RAM base, the bus).

use crate::bus::Bus;
use crate::exception::Fault;
use crate::state::CpuState;

pub const TLB_BITS: u32 = 10;
pub const TLB_SIZE: usize = 1 << TLB_BITS;
/// A tag that no page-aligned address matches.
pub const TLB_INVALID: u64 = u64::MAX;

/// One software-TLB entry. A tag is the page-aligned virtual address for which the
/// access kind is allowed; `host = vaddr + addend`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TlbEntry {
    pub read: u64,
    pub write: u64,
    pub addend: u64,
    pub _pad: u64,
}

impl TlbEntry {
    pub const EMPTY: TlbEntry = TlbEntry {
        read: TLB_INVALID,
        write: TLB_INVALID,
        addend: 0,
        _pad: 0,
    };
}

pub const ITLB_SIZE: usize = 64;

/// Instruction-fetch TLB entry (used by the dispatcher only, kept apart so code and
/// data pages that share a data-TLB index do not evict each other).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ItlbEntry {
    pub page: u64,
    pub addend: u64,
}

impl ItlbEntry {
    pub const EMPTY: ItlbEntry = ItlbEntry {
        page: TLB_INVALID,
        addend: 0,
    };
}

pub const JMP_CACHE_BITS: u32 = 12;
pub const JMP_CACHE_SIZE: usize = 1 << JMP_CACHE_BITS;

/// One jump-cache entry: compiled code for a virtual RIP under the current mode.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct JmpEntry {
    pub rip: u64,
    pub code: u64,
}

impl JmpEntry {
    pub const EMPTY: JmpEntry = JmpEntry {
        rip: u64::MAX,
        code: 0,
    };

    /// Slot index for a RIP (generated code computes the same).
    pub fn index(rip: u64) -> usize {
        ((rip ^ (rip >> JMP_CACHE_BITS)) as usize) & (JMP_CACHE_SIZE - 1)
    }
}

/// What ended a helper or a JIT block other than normal flow (`Ctx::exit`).
pub mod exit {
    pub const NONE: u64 = 0;
    /// An exception is pending in `Ctx::fault`.
    pub const FAULT: u64 = 1;
    /// A store hit a page holding translated code.
    pub const SMC: u64 = 2;
    /// The bus asked the loop to stop.
    pub const BUS_STOP: u64 = 3;
    /// HLT.
    pub const HALT: u64 = 4;
    /// State the translation depends on changed; return to the loop.
    pub const RESYNC: u64 = 5;
    /// Instruction fetch from an address that is not RAM.
    pub const FETCH_NOT_RAM: u64 = 6;
}

#[repr(C)]
pub struct Ctx {
    pub state: CpuState,
    /// Two TLBs: index 0 for CPL 0-2, 1 for CPL 3.
    pub tlb: [[TlbEntry; TLB_SIZE]; 2],
    pub itlb: [[ItlbEntry; ITLB_SIZE]; 2],
    pub ram_base: *mut u8,
    pub ram_size: u64,
    /// Why the last helper or block stopped ([`exit`]); cleared by the loop.
    pub exit: u64,
    /// The pending exception when `exit == exit::FAULT` (packed, see [`Fault::pack`]).
    pub fault: u64,
    pub fault_addr: u64,
    /// Scratch for 128-bit memory operands of SSE helpers.
    pub tmp128: [u64; 2],
    /// Indirect-jump cache for compiled code: RIP -> entry point (see [`JmpEntry`]).
    pub jmp_cache: Box<[JmpEntry; JMP_CACHE_SIZE]>,
    /// The mode key (bitness, CPL) the jump cache was filled under.
    pub jmp_cache_mode: u32,
    /// Per physical page: non-zero while translated code exists from that page.
    pub code_pages: Vec<u8>,
    /// Code pages written since the loop last looked.
    pub smc_pages: Vec<u64>,
    /// The bus, set only while [`crate::Cpu::run`] runs.
    pub bus: Option<*mut (dyn Bus + 'static)>,
    /// Set by generated code before it leaves through a direct jump that could be
    /// chained: the address of the jump's link slot (0 otherwise).
    pub link_slot: u64,
    /// Virtual nanoseconds per instruction: `1 << icount_shift`.
    pub icount_shift: u32,
    /// Guest addresses of unimplemented instructions already reported.
    pub reported_ud: std::collections::BTreeSet<u64>,
}

impl Ctx {
    pub fn new(ram_base: *mut u8, ram_size: u64) -> Box<Ctx> {
        Box::new(Ctx {
            state: CpuState::default(),
            tlb: [[TlbEntry::EMPTY; TLB_SIZE]; 2],
            itlb: [[ItlbEntry::EMPTY; ITLB_SIZE]; 2],
            ram_base,
            ram_size,
            exit: exit::NONE,
            fault: 0,
            fault_addr: 0,
            tmp128: [0; 2],
            jmp_cache: Box::new([JmpEntry::EMPTY; JMP_CACHE_SIZE]),
            jmp_cache_mode: 0,
            code_pages: vec![0; ram_size.div_ceil(4096) as usize],
            smc_pages: Vec::new(),
            bus: None,
            link_slot: 0,
            icount_shift: 3,
            reported_ud: Default::default(),
        })
    }

    pub fn set_fault(&mut self, f: Fault) {
        self.exit = exit::FAULT;
        self.fault = f.pack();
        self.fault_addr = f.address;
    }

    pub fn take_fault(&mut self) -> Fault {
        Fault::unpack(self.fault, self.fault_addr)
    }

    /// Forgets all translations of virtual addresses: both TLBs and the jump cache
    /// (whose entries are keyed by virtual RIP).
    pub fn flush_tlb(&mut self) {
        for t in self.tlb.iter_mut() {
            t.fill(TlbEntry::EMPTY);
        }
        for t in self.itlb.iter_mut() {
            t.fill(ItlbEntry::EMPTY);
        }
        self.flush_jmp_cache();
    }

    pub fn flush_jmp_cache(&mut self) {
        self.jmp_cache.fill(JmpEntry::EMPTY);
    }

    /// The virtual clock: `icount << icount_shift` plus the time warped over while
    /// halted.
    pub fn virtual_ns(&self) -> u64 {
        (self.state.icount << self.icount_shift).wrapping_add(self.state.clock_bias_ns)
    }

    /// The time-stamp counter: virtual nanoseconds (a 1 GHz TSC).
    pub fn virtual_tsc(&self) -> u64 {
        self.virtual_ns()
    }

    /// Runs `f` with the bus, if one is attached.
    pub fn with_bus<R>(&mut self, f: impl FnOnce(&mut dyn Bus) -> R) -> Option<R> {
        let bus = self.bus?;
        // SAFETY: `bus` is set by `Cpu::run` from a `&mut dyn Bus` that outlives the
        // run and is cleared before `run` returns; nothing else aliases it meanwhile.
        Some(f(unsafe { &mut *bus }))
    }
}
