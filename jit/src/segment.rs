//! Descriptor tables and segment loads: reading a selector's descriptor from the GDT or
//! LDT, the checks an OS relies on (SDM vol. 3 ch. 5, vol. 2 MOV/POP/LSS/JMP/CALL/RET/
//! LTR/LLDT), and loading the hidden part of a segment register.
//!
//! Error codes follow the SDM: a bad selector faults with the selector's index and TI
//! bits (RPL cleared); a not-present segment raises #NP (#SS for SS) with the same code.
//! Descriptor-table reads are implicit supervisor accesses (they work from CPL 3).

use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{seg, Segment, CR0_PE, EFER_LMA};

/// Descriptor attribute bits (in [`Segment::attr`] layout: descriptor bits 40..56).
pub mod attr {
    pub const ACCESSED: u32 = 1;
    /// Code: readable; data: writable.
    pub const RW: u32 = 2;
    /// Code: conforming; data: expand-down.
    pub const CONFORMING: u32 = 4;
    pub const CODE: u32 = 8;
    /// S: code or data (not a system descriptor).
    pub const S: u32 = 0x10;
    pub const P: u32 = 0x80;
    pub const L: u32 = 1 << 13;
    pub const DB: u32 = 1 << 14;
    pub const G: u32 = 1 << 15;
}

/// System descriptor types.
pub mod sys {
    pub const LDT: u32 = 2;
    pub const TSS_AVAIL: u32 = 9;
    pub const TSS_BUSY: u32 = 0xb;
    pub const TSS16_AVAIL: u32 = 1;
}

/// The fault for a bad selector: `vector` with the selector (RPL cleared) as code.
pub fn sel_fault(vector: u8, sel: u16) -> Fault {
    Fault::with_code(vector, (sel & !3) as u32)
}

pub fn gp_sel(sel: u16) -> Fault {
    sel_fault(vec::GP, sel)
}

/// A descriptor as read from a table, with where it lives (to set bits in it).
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    pub raw: u64,
    /// The upper 8 bytes of a 16-byte system descriptor (long mode), else 0.
    pub high: u64,
    pub addr: u64,
}

impl Desc {
    pub fn attr(&self) -> u32 {
        ((self.raw >> 40) & 0xf0ff) as u32
    }
    pub fn dpl(&self) -> u8 {
        ((self.raw >> 45) & 3) as u8
    }
    pub fn present(&self) -> bool {
        self.attr() & attr::P != 0
    }
    pub fn is_system(&self) -> bool {
        self.attr() & attr::S == 0
    }
    pub fn is_code(&self) -> bool {
        !self.is_system() && self.attr() & attr::CODE != 0
    }
    pub fn typ(&self) -> u32 {
        self.attr() & 0xf
    }
    pub fn limit(&self) -> u32 {
        let l = ((self.raw & 0xffff) | ((self.raw >> 32) & 0xf_0000)) as u32;
        if self.attr() & attr::G != 0 {
            l << 12 | 0xfff
        } else {
            l
        }
    }
    pub fn base(&self) -> u64 {
        ((self.raw >> 16) & 0xff_ffff) | ((self.raw >> 56) << 24)
    }
    /// The hidden part a segment register gets from this descriptor.
    pub fn segment(&self, sel: u16) -> Segment {
        Segment {
            selector: sel as u64,
            base: self.base(),
            limit: self.limit(),
            attr: self.attr(),
        }
    }
}

fn long_mode_active(ctx: &Ctx) -> bool {
    ctx.state.efer & EFER_LMA != 0
}

/// Reads the 8-byte descriptor for `sel` (and the next 8 bytes when `wide`). Returns
/// `Err(#GP(sel))` when the selector is outside its table (or names an unusable LDT).
pub fn read_desc(ctx: &mut Ctx, sel: u16, wide: bool) -> Result<Desc, Fault> {
    let (base, limit) = if sel & 4 != 0 {
        let l = ctx.state.ldtr;
        if l.selector & !3 == 0 || l.attr & attr::P == 0 {
            return Err(gp_sel(sel));
        }
        (l.base, l.limit)
    } else {
        (ctx.state.gdtr.base, ctx.state.gdtr.limit)
    };
    let off = (sel & !7) as u64;
    let size = if wide { 15 } else { 7 };
    if off + size > limit as u64 {
        return Err(gp_sel(sel));
    }
    let addr = base.wrapping_add(off);
    let raw = crate::mmu::read_sys(ctx, addr, 8)?;
    let high = if wide {
        crate::mmu::read_sys(ctx, addr.wrapping_add(8), 8)?
    } else {
        0
    };
    Ok(Desc { raw, high, addr })
}

/// Sets the accessed bit of a code or data descriptor (a locked write in hardware).
pub fn set_accessed(ctx: &mut Ctx, d: &Desc) -> Result<(), Fault> {
    if d.attr() & attr::ACCESSED == 0 {
        let b = ((d.raw >> 40) as u8) | attr::ACCESSED as u8;
        crate::mmu::write_sys(ctx, d.addr.wrapping_add(5), 1, b as u64)?;
    }
    Ok(())
}

fn protected(ctx: &Ctx) -> bool {
    ctx.state.cr0 & CR0_PE != 0
}

/// A real-mode (or virtual-8086) segment: base = selector << 4, other hidden fields kept.
fn real_mode_load(ctx: &mut Ctx, s: usize, sel: u16) {
    let r = &mut ctx.state.segs[s];
    r.selector = sel as u64;
    r.base = (sel as u64) << 4;
    if r.attr == 0 {
        // Registers that never held a descriptor behave as 64 KiB read/write data.
        r.limit = 0xffff;
        r.attr = attr::P | attr::S | attr::RW | attr::ACCESSED;
    }
    if s == seg::CS {
        ctx.flush_jmp_cache();
    }
}

/// The checked segment for a data-segment register (DS, ES, FS, GS) load, without
/// changing state.
pub fn check_data_seg(ctx: &mut Ctx, sel: u16) -> Result<(Segment, Option<Desc>), Fault> {
    if sel & !3 == 0 {
        // Null selector: loads fine, faults on use (not modelled; 64-bit code ignores
        // the DS/ES bases anyway).
        return Ok((
            Segment {
                selector: sel as u64,
                base: 0,
                limit: 0,
                attr: 0,
            },
            None,
        ));
    }
    let d = read_desc(ctx, sel, false)?;
    let a = d.attr();
    let cpl = ctx.state.cpl();
    let rpl = (sel & 3) as u8;
    // Data, or readable code.
    if d.is_system() || (a & attr::CODE != 0 && a & attr::RW == 0) {
        return Err(gp_sel(sel));
    }
    // Data and non-conforming code: DPL must be >= both CPL and RPL.
    let conforming_code = a & attr::CODE != 0 && a & attr::CONFORMING != 0;
    if !conforming_code && (rpl > d.dpl() || cpl > d.dpl()) {
        return Err(gp_sel(sel));
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel));
    }
    Ok((d.segment(sel), Some(d)))
}

/// The checked segment for an SS load.
pub fn check_stack_seg(ctx: &mut Ctx, sel: u16) -> Result<(Segment, Option<Desc>), Fault> {
    let cpl = ctx.state.cpl();
    check_stack_seg_at(ctx, sel, cpl)
}

/// [`check_stack_seg`] for the privilege level `cpl` (a far return to an outer level).
pub fn check_stack_seg_at(
    ctx: &mut Ctx,
    sel: u16,
    cpl: u8,
) -> Result<(Segment, Option<Desc>), Fault> {
    let rpl = (sel & 3) as u8;
    if sel & !3 == 0 {
        // A null SS is allowed only in 64-bit mode below CPL 3, with RPL = CPL.
        if long_mode_active(ctx) && cpl < 3 && rpl == cpl {
            return Ok((
                Segment {
                    selector: sel as u64,
                    base: 0,
                    limit: 0,
                    attr: (cpl as u32) << 5,
                },
                None,
            ));
        }
        return Err(Fault::gp0());
    }
    let d = read_desc(ctx, sel, false)?;
    let a = d.attr();
    if rpl != cpl || d.is_system() || a & attr::CODE != 0 || a & attr::RW == 0 || d.dpl() != cpl {
        return Err(gp_sel(sel));
    }
    if !d.present() {
        return Err(sel_fault(vec::SS, sel));
    }
    Ok((d.segment(sel), Some(d)))
}

/// Loads a data-segment register or SS (MOV/POP Sreg, LDS/LES/LFS/LGS/LSS).
pub fn load_seg(ctx: &mut Ctx, s: usize, sel: u16) -> Result<(), Fault> {
    if s == seg::CS {
        return Err(Fault::ud());
    }
    if !protected(ctx) {
        real_mode_load(ctx, s, sel);
        return Ok(());
    }
    let (mut seg_new, desc) = if s == seg::SS {
        check_stack_seg(ctx, sel)?
    } else {
        check_data_seg(ctx, sel)?
    };
    if let Some(d) = desc {
        set_accessed(ctx, &d)?;
        seg_new.attr |= attr::ACCESSED;
    }
    // Any selector load (null included) writes the base from the descriptor (0 for
    // null), as Intel CPUs do; 64-bit FS/GS bases come from the MSRs or WRFSBASE.
    ctx.state.segs[s] = seg_new;
    Ok(())
}

/// Checks a code-segment selector for a far JMP/CALL (or a far RET to the same
/// privilege, `ret = true`): returns the new CS (RPL set to CPL) or the fault.
/// Call gates, task gates and TSS selectors are not supported: #GP(selector).
pub fn check_far_target(ctx: &mut Ctx, sel: u16, ret: bool) -> Result<(Segment, Desc), Fault> {
    if sel & !3 == 0 {
        return Err(Fault::gp0());
    }
    let d = read_desc(ctx, sel, false)?;
    let cpl = ctx.state.cpl();
    let rpl = (sel & 3) as u8;
    if !d.is_code() {
        return Err(gp_sel(sel));
    }
    let conforming = d.attr() & attr::CONFORMING != 0;
    let ok = if ret {
        // RET: RPL is the privilege returned to (checked by the caller for outer
        // returns); conforming needs DPL <= RPL, non-conforming DPL == RPL.
        if conforming {
            d.dpl() <= rpl
        } else {
            d.dpl() == rpl
        }
    } else if conforming {
        d.dpl() <= cpl
    } else {
        rpl <= cpl && d.dpl() == cpl
    };
    if !ok {
        return Err(gp_sel(sel));
    }
    // L and D both set is reserved in long mode.
    if long_mode_active(ctx) && d.attr() & attr::L != 0 && d.attr() & attr::DB != 0 {
        return Err(gp_sel(sel));
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel));
    }
    let new_cpl = if ret { rpl } else { cpl };
    let mut cs = d.segment((sel & !3) | new_cpl as u16);
    cs.attr |= attr::ACCESSED;
    Ok((cs, d))
}

/// Installs a checked CS (after every other part of the instruction succeeded).
pub fn commit_cs(ctx: &mut Ctx, cs: Segment, d: Option<&Desc>) -> Result<(), Fault> {
    if let Some(d) = d {
        set_accessed(ctx, d)?;
    }
    let old = ctx.state.segs[seg::CS];
    ctx.state.segs[seg::CS] = cs;
    // The jump cache is keyed by RIP with one table per CPL: only a new base makes
    // its entries wrong.
    if old.base != cs.base {
        ctx.flush_jmp_cache();
    }
    Ok(())
}

/// Real-mode far transfer: CS = selector, base = selector << 4.
pub fn real_mode_cs(ctx: &mut Ctx, sel: u16) {
    real_mode_load(ctx, seg::CS, sel);
}

/// True when segment loads follow real-mode rules.
pub fn is_real_mode(ctx: &Ctx) -> bool {
    !protected(ctx)
}

/// LTR: loads the task register from an available TSS descriptor in the GDT and
/// marks it busy.
pub fn ltr(ctx: &mut Ctx, sel: u16) -> Result<(), Fault> {
    if sel & !3 == 0 {
        return Err(Fault::gp0());
    }
    if sel & 4 != 0 {
        return Err(gp_sel(sel));
    }
    let wide = long_mode_active(ctx);
    let d = read_desc(ctx, sel, wide)?;
    let t = d.typ();
    let ok_type = t == sys::TSS_AVAIL || (!wide && t == sys::TSS16_AVAIL);
    if !d.is_system() || !ok_type {
        return Err(gp_sel(sel));
    }
    if wide && (d.high >> 40) & 0x1f != 0 {
        return Err(gp_sel(sel));
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel));
    }
    let mut s = d.segment(sel);
    if wide {
        s.base |= (d.high & 0xffff_ffff) << 32;
    }
    // Busy bit (type bit 1).
    let b = ((d.raw >> 40) as u8) | 2;
    crate::mmu::write_sys(ctx, d.addr.wrapping_add(5), 1, b as u64)?;
    s.attr |= 2;
    ctx.state.tr = s;
    Ok(())
}

/// LLDT: loads the LDT register (a null selector makes the LDT unusable).
pub fn lldt(ctx: &mut Ctx, sel: u16) -> Result<(), Fault> {
    if sel & !3 == 0 {
        ctx.state.ldtr = Segment {
            selector: sel as u64,
            ..Segment::default()
        };
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(gp_sel(sel));
    }
    let wide = long_mode_active(ctx);
    let d = read_desc(ctx, sel, wide)?;
    if !d.is_system() || d.typ() != sys::LDT {
        return Err(gp_sel(sel));
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel));
    }
    let mut s = d.segment(sel);
    if wide {
        s.base |= (d.high & 0xffff_ffff) << 32;
    }
    ctx.state.ldtr = s;
    Ok(())
}

/// What LAR/LSL/VERR/VERW ask about a selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Lar,
    Lsl,
    Verr,
    Verw,
}

/// LAR/LSL/VERR/VERW: `Some(value)` (ZF = 1) when the selector passes the checks for
/// the instruction, `None` (ZF = 0) otherwise. The value is the access-rights word
/// (LAR), the limit (LSL), or 0.
pub fn probe(ctx: &mut Ctx, sel: u16, what: Probe) -> Result<Option<u64>, Fault> {
    if sel & !3 == 0 {
        return Ok(None);
    }
    let d = match read_desc(ctx, sel, false) {
        Ok(d) => d,
        Err(f) if f.vector == vec::GP => return Ok(None),
        Err(f) => return Err(f),
    };
    let cpl = ctx.state.cpl();
    let rpl = (sel & 3) as u8;
    let a = d.attr();
    let conforming_code = d.is_code() && a & attr::CONFORMING != 0;
    if !conforming_code && (d.dpl() < cpl || d.dpl() < rpl) {
        return Ok(None);
    }
    let long = long_mode_active(ctx);
    let system_ok = |t: u32| match what {
        // LDT, available and busy TSS (and 16-bit TSS/call gates outside long mode).
        Probe::Lar => matches!(t, 2 | 9 | 0xb | 0xc) || (!long && matches!(t, 1 | 3 | 4 | 5)),
        Probe::Lsl => matches!(t, 2 | 9 | 0xb) || (!long && matches!(t, 1 | 3)),
        _ => false,
    };
    let ok = if d.is_system() {
        system_ok(d.typ())
    } else {
        match what {
            Probe::Lar | Probe::Lsl => true,
            Probe::Verr => !d.is_code() || a & attr::RW != 0,
            Probe::Verw => !d.is_code() && a & attr::RW != 0,
        }
    };
    if !ok {
        return Ok(None);
    }
    Ok(Some(match what {
        Probe::Lar => (d.raw >> 32) & 0x00f0_ff00,
        Probe::Lsl => d.limit() as u64,
        _ => 0,
    }))
}
