//! Descriptors, implicit supervisor accesses and stack frames: the pieces delivery and
//! IRET share in every mode.

use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::mmu;
use crate::state::{seg, Segment};

/// A raw 8-byte segment or gate descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc(pub u64);

impl Desc {
    /// Attribute bits as kept in [`Segment::attr`].
    pub fn attr(self) -> u32 {
        ((self.0 >> 40) & 0xf0ff) as u32
    }
    pub fn present(self) -> bool {
        self.0 & (1 << 47) != 0
    }
    pub fn dpl(self) -> u8 {
        ((self.0 >> 45) & 3) as u8
    }
    /// S = 1: a code or data segment (not a system descriptor).
    pub fn is_segment(self) -> bool {
        self.0 & (1 << 44) != 0
    }
    /// The 4-bit type field.
    pub fn typ(self) -> u8 {
        ((self.0 >> 40) & 0xf) as u8
    }
    pub fn is_code(self) -> bool {
        self.is_segment() && self.typ() & 8 != 0
    }
    pub fn conforming(self) -> bool {
        self.is_code() && self.typ() & 4 != 0
    }
    pub fn writable_data(self) -> bool {
        self.is_segment() && self.typ() & 8 == 0 && self.typ() & 2 != 0
    }
    pub fn base(self) -> u64 {
        ((self.0 >> 16) & 0xff_ffff) | ((self.0 >> 56) & 0xff) << 24
    }
    pub fn limit(self) -> u32 {
        let raw = ((self.0 & 0xffff) | ((self.0 >> 32) & 0xf_0000)) as u32;
        if self.0 & (1 << 55) != 0 {
            raw << 12 | 0xfff
        } else {
            raw
        }
    }
    /// The hidden part a segment register gets from this descriptor.
    pub fn segment(self, selector: u16) -> Segment {
        Segment {
            selector: selector as u64,
            base: self.base(),
            limit: self.limit(),
            attr: self.attr(),
        }
    }
}

/// Runs `f` with the privilege of `cpl` for memory accesses (the MMU takes the
/// privilege from CS.RPL): implicit supervisor accesses to the IDT, GDT and TSS, and the
/// pushes of a frame onto an inner stack.
pub fn with_cpl<R>(ctx: &mut Ctx, cpl: u8, f: impl FnOnce(&mut Ctx) -> R) -> R {
    let saved = ctx.state.segs[seg::CS].selector;
    ctx.state.segs[seg::CS].selector = (saved & !3) | cpl as u64;
    let r = f(ctx);
    ctx.state.segs[seg::CS].selector = saved;
    r
}

/// A supervisor read of a system structure (IDT, GDT, LDT, TSS).
pub fn read_sys(ctx: &mut Ctx, addr: u64, size: u8) -> Result<u64, Fault> {
    let addr = if crate::state::EFER_LMA & ctx.state.efer == 0 {
        addr & 0xffff_ffff
    } else {
        addr
    };
    mmu::read_sys(ctx, addr, size)
}

/// Reads the descriptor `sel` names (GDT, or LDT when TI is set). `limit_fault` is
/// raised when the selector points past the table's limit.
pub fn read_desc(ctx: &mut Ctx, sel: u16, limit_fault: Fault) -> Result<Desc, Fault> {
    let (base, limit) = if sel & 4 != 0 {
        let l = ctx.state.ldtr;
        // An unusable (null) LDT has no entries.
        if l.selector & !3 == 0 {
            return Err(limit_fault);
        }
        (l.base, l.limit)
    } else {
        (ctx.state.gdtr.base, ctx.state.gdtr.limit)
    };
    let off = (sel & !7) as u64;
    if off + 7 > limit as u64 {
        return Err(limit_fault);
    }
    read_sys(ctx, base.wrapping_add(off), 8).map(Desc)
}

/// A fault with a selector error code: index and TI of `sel`, plus EXT.
pub fn sel_fault(vector: u8, sel: u16, ext: u32) -> Fault {
    Fault::with_code(vector, (sel as u32 & 0xfffc) | ext)
}

/// The code segment an interrupt or trap gate names, checked as delivery requires.
/// Returns the descriptor and the new CPL.
pub fn gate_code_segment(ctx: &mut Ctx, sel: u16, ext: u32, cpl: u8) -> Result<(Desc, u8), Fault> {
    if sel & !3 == 0 {
        return Err(Fault::with_code(vec::GP, ext));
    }
    let gp = sel_fault(vec::GP, sel, ext);
    let d = read_desc(ctx, sel, gp)?;
    if !d.is_code() || d.dpl() > cpl {
        return Err(gp);
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel, ext));
    }
    let new_cpl = if d.conforming() { cpl } else { d.dpl() };
    Ok((d, new_cpl))
}

/// Where a frame goes or comes from.
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    pub seg: Segment,
    /// The full stack pointer register (only the low `width` bytes move).
    pub sp: u64,
    /// Stack address size in bytes: 2, 4 or 8 (8 = 64-bit mode, flat).
    pub width: u8,
    /// Check offsets against the segment limit (protected mode only).
    pub limits: bool,
}

impl Stack {
    /// The stack as the current mode sees it.
    pub fn current(ctx: &Ctx) -> Stack {
        let st = &ctx.state;
        let ss = st.segs[seg::SS];
        let width = if st.long_mode() {
            8
        } else if st.cr0 & crate::state::CR0_PE != 0 && ss.attr & Segment::ATTR_DB != 0 {
            4
        } else {
            2
        };
        Stack {
            seg: ss,
            sp: st.gpr[4],
            width,
            limits: width != 8 && st.cr0 & crate::state::CR0_PE != 0,
        }
    }

    fn mask(&self) -> u64 {
        crate::flags::size_mask(self.width)
    }

    /// The stack pointer register after moving its low `width` bytes to `off`.
    pub fn sp_with(&self, off: u64) -> u64 {
        (self.sp & !self.mask()) | (off & self.mask())
    }

    /// True when `size` bytes at offset `off` lie inside the segment (legacy modes).
    fn in_limit(&self, off: u64, size: u8) -> bool {
        if !self.limits {
            return true;
        }
        let last = off + size as u64 - 1;
        let s = self.seg;
        let expand_down = s.attr & 0x1c == 0x14;
        if expand_down {
            let top = if s.attr & Segment::ATTR_DB != 0 {
                0xffff_ffff
            } else {
                0xffff
            };
            off > s.limit as u64 && last <= top
        } else {
            last <= s.limit as u64
        }
    }

    fn linear(&self, off: u64) -> u64 {
        if self.width == 8 {
            off
        } else {
            self.seg.base.wrapping_add(off) & 0xffff_ffff
        }
    }

    /// Addresses of `n` slots of `size` bytes pushed from the top, highest first, and
    /// the final offset; `fault` if any slot falls outside the segment.
    fn push_slots(&self, n: usize, size: u8, fault: Fault) -> Result<(Vec<u64>, u64), Fault> {
        let mut off = self.sp & self.mask();
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            off = off.wrapping_sub(size as u64) & self.mask();
            if !self.in_limit(off, size) {
                return Err(fault);
            }
            let lin = self.linear(off);
            if self.width == 8 && !is_canonical(lin) {
                return Err(fault);
            }
            addrs.push(lin);
        }
        Ok((addrs, off))
    }
}

pub fn is_canonical(a: u64) -> bool {
    ((a as i64) << 16 >> 16) as u64 == a
}

/// Pushes `vals` (first value at the highest address) as `size`-byte slots with the
/// privilege of `cpl`. Every slot is checked before any is written, so a fault leaves
/// memory and registers as they were. Returns the new stack pointer register.
pub fn push_frame(
    ctx: &mut Ctx,
    stack: &Stack,
    vals: &[u64],
    size: u8,
    cpl: u8,
    fault: Fault,
) -> Result<u64, Fault> {
    let (addrs, off) = stack.push_slots(vals.len(), size, fault)?;
    with_cpl(ctx, cpl, |c| {
        for &a in &addrs {
            mmu::translate(c, a, mmu::Access::Write)?;
            let end = a.wrapping_add(size as u64 - 1);
            if end & !0xfff != a & !0xfff {
                mmu::translate(c, end, mmu::Access::Write)?;
            }
        }
        for (&v, &a) in vals.iter().zip(&addrs) {
            mmu::write(c, a, size, v)?;
        }
        Ok(())
    })?;
    Ok(stack.sp_with(off))
}

/// Pops `n` slots of `size` bytes (first value from the lowest address) with the
/// current privilege. Returns the values and the stack pointer register after them.
pub fn pop_frame(
    ctx: &mut Ctx,
    stack: &Stack,
    n: usize,
    size: u8,
    fault: Fault,
) -> Result<(Vec<u64>, u64), Fault> {
    let mut off = stack.sp & stack.mask();
    let mut vals = Vec::with_capacity(n);
    for _ in 0..n {
        if !stack.in_limit(off, size) {
            return Err(fault);
        }
        let lin = stack.linear(off);
        if stack.width == 8 && !is_canonical(lin) {
            return Err(fault);
        }
        vals.push(mmu::read(ctx, lin, size)?);
        off = off.wrapping_add(size as u64) & stack.mask();
    }
    Ok((vals, stack.sp_with(off)))
}
