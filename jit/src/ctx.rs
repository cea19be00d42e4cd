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
    /// Size minus one of the guest page the entry came from (0xfff for 4 KiB pages,
    /// more for 2 MiB / 4 MiB / 1 GiB pages): INVLPG drops the entry when its
    /// address falls anywhere in that page.
    pub span_mask: u64,
    /// The page is global (CR4.PGE and PTE.G): a CR3 write keeps the entry.
    pub global: bool,
}

impl ItlbEntry {
    pub const EMPTY: ItlbEntry = ItlbEntry {
        page: TLB_INVALID,
        addend: 0,
        span_mask: 0xfff,
        global: false,
    };
}

pub const JMP_CACHE_BITS: u32 = 12;
pub const JMP_CACHE_SIZE: usize = 1 << JMP_CACHE_BITS;
/// The jump cache is split into groups of `1 << JMP_GROUP_BITS` entries; all RIPs of one
/// 4 KiB page land in the same group, so forgetting a page touches one group only.
pub const JMP_GROUP_BITS: u32 = 6;
const JMP_GROUP_SIZE: usize = 1 << JMP_GROUP_BITS;
/// One jump-cache table per CPL: a ring switch needs no flush, because compiled code
/// knows its block's CPL and probes that table only.
pub const JMP_CACHE_TABLES: usize = 4;
/// Bytes of one jump-cache table (generated code adds `cpl * JMP_TABLE_BYTES`).
pub const JMP_TABLE_BYTES: usize = JMP_CACHE_SIZE * std::mem::size_of::<JmpEntry>();
/// Large pages whose code the jump cache may hold, tracked one by one up to this many
/// (beyond it any INVLPG flushes the whole jump cache).
const JMP_LARGE_MAX: usize = 8;

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

    /// Slot index for a RIP (generated code computes the same): the group comes from
    /// page-number bits 12..23, the slot within it from offset bits 0..11.
    pub fn index(rip: u64) -> usize {
        let slot = (rip ^ (rip >> JMP_GROUP_BITS)) & (JMP_GROUP_SIZE as u64 - 1);
        let group = ((rip >> JMP_GROUP_BITS) ^ (rip >> 12)) & Self::GROUP_MASK;
        (slot | group) as usize
    }

    /// The index bits that select the group (the page's part of [`JmpEntry::index`]).
    pub const GROUP_MASK: u64 = (JMP_CACHE_SIZE - JMP_GROUP_SIZE) as u64;

    /// The slots any RIP on the 4 KiB page `page` can occupy.
    pub fn group_of_page(page: u64) -> std::ops::Range<usize> {
        let first = Self::index(page & !0xfff) & Self::GROUP_MASK as usize;
        first..first + JMP_GROUP_SIZE
    }
}

/// The jump-cache tables, one per CPL (see [`JMP_CACHE_TABLES`]).
pub type JmpTables = [[JmpEntry; JMP_CACHE_SIZE]; JMP_CACHE_TABLES];

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
    /// A compiled block left just before an instruction whose memory access needs the
    /// slow path's full treatment (a device, a page holding code): the dispatcher runs
    /// that one instruction in the interpreter.
    pub const STEP: u64 = 7;
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
    /// Indirect-jump cache for compiled code: RIP -> entry point (see [`JmpEntry`]),
    /// one table per CPL.
    pub jmp_cache: Box<JmpTables>,
    /// The mode key, CPL bits left out, the jump cache was filled under.
    pub jmp_cache_mode: u32,
    /// Bumped whenever the jump cache is flushed or loses a page: the interpreter's
    /// chaining table (`cpu/chain.rs`), keyed by virtual RIP like the jump cache,
    /// trusts only entries filled under the current epoch.
    pub jmp_epoch: u64,
    /// Large guest pages (linear base, size - 1) that code in the jump cache came from;
    /// `None` once more than a few were seen (then every INVLPG flushes it all).
    pub jmp_large: Option<Vec<(u64, u64)>>,
    /// Largest page-size shift of any large-page data-TLB entry filled since the TLB
    /// was last emptied (0: none), which bounds what INVLPG must scan.
    pub tlb_large_shift: u32,
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
    /// The arguments and result of a compiled block's memory slow path, passed in
    /// memory (see `cl/thunks.rs`): the linear address, and the value stored or loaded.
    pub slow_addr: u64,
    pub slow_result: u64,
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
            jmp_cache: Box::new([[JmpEntry::EMPTY; JMP_CACHE_SIZE]; JMP_CACHE_TABLES]),
            jmp_cache_mode: 0,
            jmp_epoch: 0,
            jmp_large: Some(Vec::new()),
            tlb_large_shift: 0,
            code_pages: vec![0; ram_size.div_ceil(4096) as usize],
            smc_pages: Vec::new(),
            bus: None,
            link_slot: 0,
            icount_shift: 3,
            reported_ud: Default::default(),
            slow_addr: 0,
            slow_result: 0,
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
        self.tlb_large_shift = 0;
        self.flush_jmp_cache();
    }

    /// Empties every jump-cache table.
    pub fn flush_jmp_cache(&mut self) {
        self.jmp_epoch = self.jmp_epoch.wrapping_add(1);
        for t in self.jmp_cache.iter_mut() {
            t.fill(JmpEntry::EMPTY);
        }
        self.jmp_large = Some(Vec::new());
    }

    /// Records that the jump cache holds code from the large page `(base, mask)`.
    pub fn note_jmp_large(&mut self, base: u64, mask: u64) {
        let Some(list) = self.jmp_large.as_mut() else {
            return;
        };
        if list.contains(&(base, mask)) {
            return;
        }
        if list.len() >= JMP_LARGE_MAX {
            self.jmp_large = None;
        } else {
            list.push((base, mask));
        }
    }

    /// Forgets the jump-cache entries (all CPLs) whose RIP is on the 4 KiB page
    /// `page`. The caller knows RIP pages and linear pages coincide.
    pub fn invalidate_jmp_page(&mut self, page: u64) {
        self.jmp_epoch = self.jmp_epoch.wrapping_add(1);
        let page = page & !0xfff;
        let group = JmpEntry::group_of_page(page);
        for t in self.jmp_cache.iter_mut() {
            for e in t[group.clone()].iter_mut() {
                if e.rip & !0xfff == page {
                    *e = JmpEntry::EMPTY;
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rip_of_a_page_indexes_into_the_page_group() {
        for page in [
            0u64,
            0x1000,
            0x40_3000,
            0x7fff_ffff_f000,
            0xffff_8000_0012_3000,
        ] {
            let g = JmpEntry::group_of_page(page);
            assert_eq!(g.len(), 64);
            assert!(g.end <= JMP_CACHE_SIZE);
            for off in 0..0x1000 {
                assert!(
                    g.contains(&JmpEntry::index(page + off)),
                    "{page:#x}+{off:#x}"
                );
            }
        }
        // Neighbouring pages use different groups.
        assert_ne!(
            JmpEntry::group_of_page(0x1000),
            JmpEntry::group_of_page(0x2000)
        );
    }

    #[test]
    fn invalidating_a_page_keeps_other_pages_and_reaches_every_cpl() {
        let mut ctx = Ctx::new(std::ptr::null_mut(), 0x1000);
        // Two RIPs on different pages that share a group.
        let a = 0x40_0010u64;
        let b = (1..)
            .map(|k: u64| a + (k << 12) + 0x10)
            .find(|&b| JmpEntry::group_of_page(b) == JmpEntry::group_of_page(a))
            .unwrap();
        assert_eq!(JmpEntry::group_of_page(a), JmpEntry::group_of_page(b));
        let (ia, ib) = (JmpEntry::index(a), JmpEntry::index(b));
        assert_ne!(ia, ib);
        for t in ctx.jmp_cache.iter_mut() {
            t[ia] = JmpEntry { rip: a, code: 1 };
            t[ib] = JmpEntry { rip: b, code: 2 };
        }
        ctx.invalidate_jmp_page(a);
        for t in ctx.jmp_cache.iter() {
            assert_eq!(t[ia].rip, JmpEntry::EMPTY.rip);
            assert_eq!(t[ib].rip, b);
        }
    }

    #[test]
    fn too_many_large_pages_give_up_tracking() {
        let mut ctx = Ctx::new(std::ptr::null_mut(), 0x1000);
        for k in 0..JMP_LARGE_MAX as u64 {
            ctx.note_jmp_large(k << 21, (1 << 21) - 1);
            ctx.note_jmp_large(k << 21, (1 << 21) - 1);
        }
        assert_eq!(ctx.jmp_large.as_ref().map(Vec::len), Some(JMP_LARGE_MAX));
        ctx.note_jmp_large(1 << 40, (1 << 30) - 1);
        assert!(ctx.jmp_large.is_none());
        ctx.flush_jmp_cache();
        assert_eq!(ctx.jmp_large.as_ref().map(Vec::len), Some(0));
    }
}
