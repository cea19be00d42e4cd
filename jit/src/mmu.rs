//! Address translation (segmentation is flat in 64-bit mode; paging walks) and the
//! software TLB's slow paths. Generated code inlines the TLB hit path and calls
//! [`read_slow`] / [`write_slow`] on a miss.

use crate::ctx::{exit, Ctx, ItlbEntry, TlbEntry, TLB_BITS, TLB_SIZE};
use crate::exception::Fault;
use crate::state::{
    fl, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, CR4_SMAP, CR4_SMEP, EFER_LMA, EFER_NXE,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// Page-fault error code bits.
mod pfec {
    pub const P: u32 = 1;
    pub const W: u32 = 2;
    pub const U: u32 = 4;
    pub const RSVD: u32 = 8;
    pub const I: u32 = 16;
}

const PTE_P: u64 = 1;
const PTE_W: u64 = 2;
const PTE_U: u64 = 4;
const PTE_A: u64 = 1 << 5;
const PTE_D: u64 = 1 << 6;
const PTE_PS: u64 = 1 << 7;
const PTE_G: u64 = 1 << 8;
const PTE_NX: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

pub fn tlb_index(vaddr: u64) -> usize {
    ((vaddr >> 12) as usize) & (TLB_SIZE - 1)
}

pub fn itlb_index(vaddr: u64) -> usize {
    ((vaddr >> 12) as usize) & (crate::ctx::ITLB_SIZE - 1)
}

/// TLB set used for the current privilege level.
pub fn tlb_set(ctx: &Ctx) -> usize {
    (ctx.state.cpl() == 3) as usize
}

/// Marks in `TlbEntry::_pad`: the entry maps a global page (survives CR3 writes) …
pub const TLB_GLOBAL: u64 = 1;
/// … or part of a 2 MiB / 4 MiB / 1 GiB page, whose size shift is kept in the bits at
/// [`TLB_SHIFT_POS`] (INVLPG anywhere in that page drops it).
pub const TLB_LARGE: u64 = 2;
pub const TLB_SHIFT_POS: u32 = 8;

/// Who makes an access: the privilege the paging checks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Who {
    /// A CPL 3 access.
    pub user: bool,
    /// An implicit supervisor access (descriptor tables, TSS): SMAP applies whatever
    /// RFLAGS.AC says.
    pub implicit: bool,
}

impl Who {
    pub fn of(ctx: &Ctx) -> Who {
        Who {
            user: ctx.state.cpl() == 3,
            implicit: false,
        }
    }
    pub const SYSTEM: Who = Who {
        user: false,
        implicit: true,
    };
}

/// The result of a successful walk.
struct Walk {
    paddr: u64,
    writable: bool,
    executable: bool,
    /// The page is user-accessible (U/S set at every level).
    user_page: bool,
    global: bool,
    /// log2 of the page size (12, 21, 22 or 30).
    shift: u32,
}

fn phys_read_u64(ctx: &Ctx, pa: u64) -> Option<u64> {
    if pa.checked_add(8)? > ctx.ram_size {
        return None;
    }
    // SAFETY: pa + 8 <= ram_size, so the read is inside the RAM mapping.
    Some(unsafe { (ctx.ram_base.add(pa as usize) as *const u64).read_unaligned() })
}

fn phys_write_u64(ctx: &mut Ctx, pa: u64, v: u64) {
    if pa.checked_add(8).is_some_and(|e| e <= ctx.ram_size) {
        // SAFETY: bounds checked above.
        unsafe { (ctx.ram_base.add(pa as usize) as *mut u64).write_unaligned(v) }
    }
}

/// Walks the page tables for `vaddr`. Page tables outside RAM fault with RSVD set, which
/// a guest sees as a reserved-bit page fault rather than reading host memory.
fn walk(ctx: &mut Ctx, vaddr: u64, access: Access, who: Who) -> Result<Walk, Fault> {
    let st = &ctx.state;
    let user = who.user;
    let wp = st.cr0 & CR0_WP != 0;
    let nxe = st.efer & EFER_NXE != 0;
    let smep = st.cr4 & CR4_SMEP != 0;
    let smap = st.cr4 & CR4_SMAP != 0;
    let ac = st.rflags_sys & fl::AC != 0;
    let pge = st.cr4 & CR4_PGE != 0;
    let mut code = match access {
        Access::Write => pfec::W,
        Access::Exec if nxe || smep => pfec::I,
        _ => 0,
    };
    if user {
        code |= pfec::U;
    }
    let (levels, entry_bytes, root) = if st.efer & EFER_LMA != 0 {
        // Canonical check: a non-canonical address is #GP, not #PF.
        if ((vaddr as i64) << 16 >> 16) as u64 != vaddr {
            return Err(Fault::gp0());
        }
        (4u32, 8u64, st.cr3 & ADDR_MASK)
    } else if st.cr4 & CR4_PAE != 0 {
        (3, 8, st.cr3 & 0xffff_ffe0)
    } else {
        (2, 4, st.cr3 & 0xffff_f000)
    };
    let mut table = root;
    let mut writable = true;
    let mut usr = true;
    let mut exec = true;
    let mut level = levels;
    loop {
        let (shift, bits) = if entry_bytes == 8 {
            (
                12 + 9 * (level - 1),
                if levels == 3 && level == 3 { 2 } else { 9 },
            )
        } else {
            (12 + 10 * (level - 1), 10)
        };
        let idx = (vaddr >> shift) & ((1 << bits) - 1);
        let pte_addr = table + idx * entry_bytes;
        let Some(raw) = phys_read_u64(ctx, pte_addr) else {
            return Err(Fault::page(vaddr, code | pfec::RSVD | pfec::P));
        };
        let pte = if entry_bytes == 4 {
            raw & 0xffff_ffff
        } else {
            raw
        };
        if pte & PTE_P == 0 {
            return Err(Fault::page(vaddr, code));
        }
        if levels == 3 && level == 3 {
            // PAE PDPTEs carry no permissions.
            table = pte & ADDR_MASK;
            level -= 1;
            continue;
        }
        writable &= pte & PTE_W != 0;
        usr &= pte & PTE_U != 0;
        if nxe && entry_bytes == 8 {
            exec &= pte & PTE_NX == 0;
        }
        if pte & PTE_A == 0 {
            phys_write_u64(ctx, pte_addr, raw | PTE_A);
        }
        // PS makes a large page at the PD (and, 4-level, PDPT) level; 32-bit paging
        // honours it only with CR4.PSE.
        let ps_ok = entry_bytes == 8 || ctx.state.cr4 & CR4_PSE != 0;
        let leaf = level == 1 || (pte & PTE_PS != 0 && level <= 3 && ps_ok);
        if leaf {
            let page_size_shift = shift;
            let base = if entry_bytes == 4 && level == 2 {
                // 4 MiB page (PSE): bits 13..21 hold physical address bits 32..40.
                (pte & 0xffc0_0000) | ((pte >> 13) & 0xff) << 32
            } else {
                pte & ADDR_MASK & !((1u64 << page_size_shift) - 1)
            };
            let offset = vaddr & ((1u64 << page_size_shift) - 1);
            let prot = code | pfec::P;
            if user && !usr {
                return Err(Fault::page(vaddr, prot));
            }
            // Supervisor writes ignore R/W unless CR0.WP is set.
            let may_write = if user { writable } else { writable || !wp };
            if access == Access::Write && !may_write {
                return Err(Fault::page(vaddr, prot));
            }
            if access == Access::Exec && !exec {
                return Err(Fault::page(vaddr, prot));
            }
            if !user && usr {
                // SMEP: no supervisor fetches from user pages. SMAP: no supervisor
                // data accesses to user pages unless AC is set (never for implicit
                // accesses).
                let blocked = if access == Access::Exec {
                    smep
                } else {
                    smap && (who.implicit || !ac)
                };
                if blocked {
                    return Err(Fault::page(vaddr, prot));
                }
            }
            let mut pte_new = pte | PTE_A;
            if access == Access::Write {
                pte_new |= PTE_D;
            }
            if pte_new != pte {
                let v = if entry_bytes == 4 {
                    (raw & !0xffff_ffff) | pte_new
                } else {
                    pte_new
                };
                phys_write_u64(ctx, pte_addr, v);
            }
            return Ok(Walk {
                paddr: base + offset,
                // Only a dirty page may take writes from the TLB without a walk.
                writable: may_write && pte_new & PTE_D != 0,
                executable: exec,
                user_page: usr,
                global: pge && pte & PTE_G != 0,
                shift: page_size_shift,
            });
        }
        table = pte & ADDR_MASK;
        level -= 1;
    }
}

/// Translates a linear address to a physical one, filling the TLB when the page is RAM.
pub fn translate(ctx: &mut Ctx, vaddr: u64, access: Access) -> Result<u64, Fault> {
    let who = Who::of(ctx);
    translate_as(ctx, vaddr, access, who)
}

/// [`translate`] with an explicit privilege (implicit supervisor accesses).
pub fn translate_as(ctx: &mut Ctx, vaddr: u64, access: Access, who: Who) -> Result<u64, Fault> {
    let (paddr, writable, executable, mark, cacheable, shift) = if ctx.state.cr0 & CR0_PG == 0 {
        let a = vaddr & 0xffff_ffff;
        (a, true, true, 0, true, 12)
    } else {
        let w = walk(ctx, vaddr, access, who)?;
        let large = if w.shift > 12 {
            TLB_LARGE | (w.shift as u64) << TLB_SHIFT_POS
        } else {
            0
        };
        let mark = if w.global { TLB_GLOBAL } else { 0 } | large;
        // With SMAP on, supervisor entries for user pages are not cached: every such
        // access takes the walk, which looks at RFLAGS.AC.
        let smap_sensitive = !who.user && w.user_page && ctx.state.cr4 & CR4_SMAP != 0;
        (
            w.paddr,
            w.writable,
            w.executable,
            mark,
            !(smap_sensitive && access != Access::Exec),
            w.shift,
        )
    };
    let page = paddr & !0xfff;
    if page < ctx.ram_size && cacheable {
        let vpage = vaddr & !0xfff;
        let set = who.user as usize;
        let addend = (ctx.ram_base as u64).wrapping_add(page).wrapping_sub(vpage);
        if access == Access::Exec {
            if executable {
                ctx.itlb[set][itlb_index(vaddr)] = ItlbEntry {
                    page: vpage,
                    addend,
                    span_mask: (1u64 << shift) - 1,
                    global: mark & TLB_GLOBAL != 0,
                };
            }
        } else {
            let is_code = ctx.code_pages[(page >> 12) as usize] != 0;
            let e = &mut ctx.tlb[set][tlb_index(vaddr)];
            if e.addend != addend || (e.read != vpage && e.read != crate::ctx::TLB_INVALID) {
                *e = TlbEntry::EMPTY;
                e.addend = addend;
            }
            e._pad = mark;
            if shift > 12 {
                ctx.tlb_large_shift = ctx.tlb_large_shift.max(shift);
            }
            e.read = vpage;
            if writable && !is_code {
                e.write = vpage;
            }
        }
    }
    Ok(paddr)
}

/// Physical address of an instruction fetch at `vaddr` if the TLB already allows it.
#[inline]
pub fn exec_tlb_hit(ctx: &Ctx, vaddr: u64) -> Option<u64> {
    let e = &ctx.itlb[tlb_set(ctx)][itlb_index(vaddr)];
    if e.page == vaddr & !0xfff {
        Some(
            vaddr
                .wrapping_add(e.addend)
                .wrapping_sub(ctx.ram_base as u64),
        )
    } else {
        None
    }
}

/// Removes write permission for `paddr`'s page from both TLBs (it now holds code).
pub fn protect_code_page(ctx: &mut Ctx, ppage: u64) {
    for set in ctx.tlb.iter_mut() {
        for e in set.iter_mut() {
            if e.write != crate::ctx::TLB_INVALID
                && e.write
                    .wrapping_add(e.addend)
                    .wrapping_sub(ctx.ram_base as u64)
                    == ppage
            {
                e.write = crate::ctx::TLB_INVALID;
            }
        }
    }
}

fn ram_ptr(ctx: &Ctx, paddr: u64, size: u8) -> Option<*mut u8> {
    if paddr.checked_add(size as u64)? <= ctx.ram_size {
        // SAFETY: in bounds of the RAM mapping, checked above.
        Some(unsafe { ctx.ram_base.add(paddr as usize) })
    } else {
        None
    }
}

fn phys_read(ctx: &mut Ctx, paddr: u64, size: u8) -> u64 {
    if let Some(p) = ram_ptr(ctx, paddr, size) {
        let mut b = [0u8; 8];
        // SAFETY: `p` points at `size` (<= 8) readable bytes inside RAM.
        unsafe { std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), size as usize) };
        return u64::from_le_bytes(b);
    }
    let icount = ctx.state.icount;
    ctx.with_bus(|b| b.mmio_read(paddr, size, icount))
        .unwrap_or(crate::flags::size_mask(size))
}

fn phys_write(ctx: &mut Ctx, paddr: u64, size: u8, v: u64) {
    if let Some(p) = ram_ptr(ctx, paddr, size) {
        let page = paddr >> 12;
        let last = (paddr + size as u64 - 1) >> 12;
        for pg in [page, last] {
            if ctx.code_pages[pg as usize] != 0 {
                ctx.code_pages[pg as usize] = 0;
                ctx.smc_pages.push(pg << 12);
                ctx.exit = exit::SMC;
            }
        }
        let b = v.to_le_bytes();
        // SAFETY: `p` points at `size` (<= 8) writable bytes inside RAM.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), p, size as usize) };
        return;
    }
    let icount = ctx.state.icount;
    let action = ctx.with_bus(|b| b.mmio_write(paddr, size, v, icount));
    if action == Some(crate::bus::BusAction::Stop) {
        ctx.exit = exit::BUS_STOP;
    }
}

/// Reads 1, 2, 4 or 8 bytes (little endian) at a host address.
///
/// # Safety
/// `p..p+size` must be readable.
#[inline(always)]
pub(crate) unsafe fn load_host(p: *const u8, size: u8) -> u64 {
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

/// Writes 1, 2, 4 or 8 bytes (little endian) at a host address.
///
/// # Safety
/// `p..p+size` must be writable.
#[inline(always)]
pub(crate) unsafe fn store_host(p: *mut u8, size: u8, v: u64) {
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

/// Reads `size` bytes at a linear address.
#[inline]
pub fn read(ctx: &mut Ctx, vaddr: u64, size: u8) -> Result<u64, Fault> {
    let e = &ctx.tlb[tlb_set(ctx)][tlb_index(vaddr)];
    if e.read == vaddr & !0xfff && (vaddr & 0xfff) + size as u64 <= 0x1000 {
        let p = vaddr.wrapping_add(e.addend) as *const u8;
        // SAFETY: a TLB read tag is installed only for RAM pages, and the access does
        // not cross the page, so `p..p+size` lies inside the RAM mapping.
        return Ok(unsafe { load_host(p, size) });
    }
    let who = Who::of(ctx);
    read_slow_inner(ctx, vaddr, size, who)
}

/// Reads with supervisor privilege (descriptor tables, the TSS), whatever the CPL.
pub fn read_sys(ctx: &mut Ctx, vaddr: u64, size: u8) -> Result<u64, Fault> {
    let e = &ctx.tlb[0][tlb_index(vaddr)];
    if e.read == vaddr & !0xfff && (vaddr & 0xfff) + size as u64 <= 0x1000 {
        let p = vaddr.wrapping_add(e.addend) as *const u8;
        // SAFETY: as in `read`: a read tag maps a RAM page and the access stays in it.
        return Ok(unsafe { load_host(p, size) });
    }
    read_slow_inner(ctx, vaddr, size, Who::SYSTEM)
}

/// Writes with supervisor privilege (accessed and busy bits in descriptors).
pub fn write_sys(ctx: &mut Ctx, vaddr: u64, size: u8, v: u64) -> Result<(), Fault> {
    write_slow_inner(ctx, vaddr, size, v, Who::SYSTEM)
}

fn read_slow_inner(ctx: &mut Ctx, vaddr: u64, size: u8, who: Who) -> Result<u64, Fault> {
    let first = 0x1000 - (vaddr & 0xfff);
    if first >= size as u64 {
        let pa = translate_as(ctx, vaddr, Access::Read, who)?;
        return Ok(phys_read(ctx, pa, size));
    }
    // Crosses a page: translate both pages before reading anything.
    let pa0 = translate_as(ctx, vaddr, Access::Read, who)?;
    let pa1 = translate_as(ctx, vaddr.wrapping_add(first), Access::Read, who)?;
    let mut v = 0u64;
    for i in 0..size as u64 {
        let pa = if i < first {
            pa0 + i
        } else {
            pa1 + (i - first)
        };
        v |= phys_read(ctx, pa, 1) << (8 * i);
    }
    Ok(v)
}

/// Writes `size` bytes at a linear address. A write to a page holding translated code
/// sets `ctx.exit = SMC` (the write itself completes).
#[inline]
pub fn write(ctx: &mut Ctx, vaddr: u64, size: u8, v: u64) -> Result<(), Fault> {
    let e = &ctx.tlb[tlb_set(ctx)][tlb_index(vaddr)];
    if e.write == vaddr & !0xfff && (vaddr & 0xfff) + size as u64 <= 0x1000 {
        let p = vaddr.wrapping_add(e.addend) as *mut u8;
        // SAFETY: write tags are installed only for RAM pages without code, and the
        // access does not cross the page.
        unsafe { store_host(p, size, v) };
        return Ok(());
    }
    let who = Who::of(ctx);
    write_slow_inner(ctx, vaddr, size, v, who)
}

fn write_slow_inner(ctx: &mut Ctx, vaddr: u64, size: u8, v: u64, who: Who) -> Result<(), Fault> {
    let first = 0x1000 - (vaddr & 0xfff);
    if first >= size as u64 {
        let pa = translate_as(ctx, vaddr, Access::Write, who)?;
        phys_write(ctx, pa, size, v);
        return Ok(());
    }
    let pa0 = translate_as(ctx, vaddr, Access::Write, who)?;
    let pa1 = translate_as(ctx, vaddr.wrapping_add(first), Access::Write, who)?;
    for i in 0..size as u64 {
        let pa = if i < first {
            pa0 + i
        } else {
            pa1 + (i - first)
        };
        phys_write(ctx, pa, 1, (v >> (8 * i)) & 0xff);
    }
    Ok(())
}

/// Whether an access of `size` bytes at `vaddr` would touch only RAM (and, for a
/// write, no page holding translated code): what compiled code may do without leaving
/// the block. Translates every page the access covers (filling the TLB, setting
/// accessed and dirty bits as the access itself would); a fault is returned as such.
pub fn plain_ram(ctx: &mut Ctx, vaddr: u64, size: u8, write: bool) -> Result<bool, Fault> {
    let who = Who::of(ctx);
    let access = if write { Access::Write } else { Access::Read };
    let first = 0x1000 - (vaddr & 0xfff);
    let mut pages = [(vaddr, size as u64), (0, 0)];
    if first < size as u64 {
        pages = [
            (vaddr, first),
            (vaddr.wrapping_add(first), size as u64 - first),
        ];
    }
    let mut phys = [0u64; 2];
    for (k, &(va, len)) in pages.iter().enumerate() {
        if len > 0 {
            phys[k] = translate_as(ctx, va, access, who)?;
        }
    }
    for (k, &(_, len)) in pages.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let pa = phys[k];
        if ram_ptr(ctx, pa, len as u8).is_none() {
            return Ok(false);
        }
        if write
            && ctx
                .code_pages
                .get((pa >> 12) as usize)
                .is_some_and(|&c| c != 0)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Slow path called by generated code on a TLB miss. On a fault it records it in the
/// context (`exit = FAULT`) and returns 0.
pub extern "C" fn read_slow(ctx: *mut Ctx, vaddr: u64, size: u64, _: u64, _: u64) -> u64 {
    // SAFETY: generated code passes the context pointer it was entered with.
    let ctx = unsafe { &mut *ctx };
    let who = Who::of(ctx);
    match read_slow_inner(ctx, vaddr, size as u8, who) {
        Ok(v) => v,
        Err(f) => {
            ctx.set_fault(f);
            0
        }
    }
}

/// Slow path for stores; see [`read_slow`]. Returns `ctx.exit` (non-zero: leave the block).
pub extern "C" fn write_slow(ctx: *mut Ctx, vaddr: u64, size: u64, v: u64, _: u64) -> u64 {
    // SAFETY: generated code passes the context pointer it was entered with.
    let ctx = unsafe { &mut *ctx };
    let who = Who::of(ctx);
    if let Err(f) = write_slow_inner(ctx, vaddr, size as u8, v, who) {
        ctx.set_fault(f);
    }
    ctx.exit
}

/// Reads instruction bytes for the decoder: up to `buf.len()` bytes at `vaddr`, stopping
/// early at a page that cannot be fetched (returns how many bytes were read, or the
/// fault if not even the first byte can be).
pub fn fetch(ctx: &mut Ctx, vaddr: u64, buf: &mut [u8]) -> Result<usize, (Fault, bool)> {
    let mut n = 0;
    while n < buf.len() {
        let va = vaddr.wrapping_add(n as u64);
        let pa = match translate(ctx, va, Access::Exec) {
            Ok(pa) => pa,
            Err(f) if n == 0 => return Err((f, false)),
            Err(_) => break,
        };
        let in_page = (0x1000 - (va & 0xfff)) as usize;
        let take = in_page.min(buf.len() - n);
        if pa.checked_add(take as u64).is_none_or(|e| e > ctx.ram_size) {
            if n == 0 {
                return Err((Fault::gp0(), true));
            }
            break;
        }
        // SAFETY: pa..pa+take is inside RAM (checked above).
        let src = unsafe { std::slice::from_raw_parts(ctx.ram_base.add(pa as usize), take) };
        buf[n..n + take].copy_from_slice(src);
        n += take;
    }
    Ok(n)
}

pub const TLB_INDEX_BITS: u32 = TLB_BITS;

/// A CR3 write: forgets every translation except global pages (CR4.PGE), in both
/// TLBs. The jump cache (keyed by virtual RIP, without a record of which entries came
/// from global pages) is emptied; decoded and compiled blocks stay, since they are
/// keyed by physical address.
pub fn flush_nonglobal(ctx: &mut Ctx) {
    for set in ctx.tlb.iter_mut() {
        for e in set.iter_mut() {
            if e._pad & TLB_GLOBAL == 0 {
                *e = TlbEntry::EMPTY;
            }
        }
    }
    for t in ctx.itlb.iter_mut() {
        for e in t.iter_mut() {
            if !e.global {
                *e = ItlbEntry::EMPTY;
            }
        }
    }
    ctx.flush_jmp_cache();
}

/// INVLPG: forgets the translation of `vaddr`'s page (global or not) in both TLBs and
/// the jump cache; for a large page, every entry that came from the large page that
/// covers `vaddr`. Other translations stay.
pub fn invalidate_page(ctx: &mut Ctx, vaddr: u64) {
    let vpage = vaddr & !0xfff;
    let idx = tlb_index(vaddr);
    // Data TLB: the entry at `vaddr`'s index, and large-page entries (which sit at
    // the indices of the 4 KiB pages they were filled for) whose page covers `vaddr`.
    let window = match ctx.tlb_large_shift {
        0 => None,
        // Entries of a 2 MiB page covering `vaddr` are in one run of 512 indices.
        21 => Some((idx & !511, 512)),
        _ => Some((0, TLB_SIZE)),
    };
    for set in ctx.tlb.iter_mut() {
        if let Some(e) = set.get_mut(idx) {
            if e.read == vpage || e.write == vpage {
                *e = TlbEntry::EMPTY;
            }
        }
        let Some((first, len)) = window else {
            continue;
        };
        for e in set.iter_mut().skip(first).take(len) {
            if e._pad & TLB_LARGE != 0 {
                let shift = ((e._pad >> TLB_SHIFT_POS) & 0x3f) as u32;
                if (e.read ^ vaddr) >> shift == 0 {
                    *e = TlbEntry::EMPTY;
                }
            }
        }
    }
    let mut large_code = false;
    for t in ctx.itlb.iter_mut() {
        for e in t.iter_mut() {
            if (e.page ^ vaddr) & !e.span_mask == 0 {
                large_code |= e.span_mask > 0xfff;
                *e = ItlbEntry::EMPTY;
            }
        }
    }
    // The jump cache is keyed by RIP: its page is the linear page unless a CS base
    // (outside 64-bit mode) shifts code; then, or when `vaddr` may be in a large
    // page that code in the jump cache came from, forget it all.
    let cs_base = if ctx.state.long_mode() {
        0
    } else {
        ctx.state.segs[crate::state::seg::CS].base
    };
    let in_large = match ctx.jmp_large.as_ref() {
        Some(list) => list.iter().any(|&(b, m)| (vaddr & !m) == b),
        None => true,
    };
    if cs_base != 0 || in_large || large_code {
        ctx.flush_jmp_cache();
    } else {
        ctx.invalidate_jmp_page(vpage);
    }
}
