//! The REP / port-I/O string helper (see the module doc of `sem::string`).

use super::{op, rep, StrOp};
use crate::ctx::{exit, Ctx};
use crate::exception::Fault;
use crate::flags::{size_mask, CcKind, CcOp};
use crate::mmu::{self, Access};
use crate::state::{fl, reg, seg};

const PAGE: u64 = 0x1000;

/// Helper entry point: `code` is a packed [`StrOp`], `ip` the instruction's address and
/// `next_ip` the following one. Returns the RIP to continue at.
pub extern "C" fn helper_string(ctx: *mut Ctx, code: u64, ip: u64, next_ip: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    let s = StrOp::decode(code);
    let start = ctx.state.icount;
    let mut r = Run {
        s,
        done: 0,
        amask: size_mask(s.asize),
    };
    match r.run(ctx, start, ip, next_ip) {
        Ok(rip) => {
            ctx.state.icount = start + r.done.saturating_sub(1);
            rip
        }
        Err(f) => {
            // Completed iterations retired; the faulting one did not.
            ctx.state.icount = start + r.done;
            ctx.set_fault(f);
            ip
        }
    }
}

/// The helper contract (`crate::helpers`): `ctx` is the live, exclusive context.
fn ctx_mut<'a>(ctx: *mut Ctx) -> &'a mut Ctx {
    // SAFETY: both tiers pass the context they were entered with, valid and unaliased
    // for the duration of the helper call.
    unsafe { &mut *ctx }
}

struct Run {
    s: StrOp,
    /// Iterations completed.
    done: u64,
    amask: u64,
}

impl Run {
    fn reg(&self, ctx: &Ctx, r: usize) -> u64 {
        ctx.state.gpr[r] & self.amask
    }

    /// Writes rSI/rDI/rCX with the address-size rules.
    fn set_reg(&self, ctx: &mut Ctx, r: usize, v: u64) {
        let g = &mut ctx.state.gpr[r];
        *g = match self.s.asize {
            8 => v,
            4 => v & 0xffff_ffff,
            _ => (*g & !0xffff) | (v & 0xffff),
        };
    }

    fn linear(&self, ctx: &Ctx, sg: usize, off: u64) -> u64 {
        if self.s.long {
            if sg == seg::FS || sg == seg::GS {
                off.wrapping_add(ctx.state.segs[sg].base)
            } else {
                off
            }
        } else {
            off.wrapping_add(ctx.state.segs[sg].base) & 0xffff_ffff
        }
    }

    fn df(ctx: &Ctx) -> bool {
        ctx.state.rflags_sys & fl::DF != 0
    }

    fn uses_src(&self) -> bool {
        matches!(self.s.op, op::MOVS | op::LODS | op::CMPS | op::OUTS)
    }

    fn uses_dst(&self) -> bool {
        matches!(
            self.s.op,
            op::MOVS | op::STOS | op::CMPS | op::SCAS | op::INS
        )
    }

    fn run(&mut self, ctx: &mut Ctx, start: u64, ip: u64, next_ip: u64) -> Result<u64, Fault> {
        if self.s.rep == rep::NONE {
            // INS/OUTS without REP: exactly one iteration, rCX untouched.
            self.step(ctx, start)?;
            self.done = 1;
            return Ok(next_ip);
        }
        let budget = ctx.state.icount_deadline.saturating_sub(start).max(1);
        loop {
            let count = self.reg(ctx, reg::RCX);
            if count == 0 {
                return Ok(next_ip);
            }
            if self.done >= budget || (self.done > 0 && ctx.exit != exit::NONE) {
                // Budget spent, or a store hit translated code / a device asked to
                // stop: resume this instruction later.
                return Ok(ip);
            }
            let left = count.min(budget - self.done);
            if left > 1 && !Self::df(ctx) && matches!(self.s.op, op::MOVS | op::STOS) {
                let n = self.fast_chunk(ctx, left);
                if n > 0 {
                    self.advance(ctx, n);
                    self.set_reg(ctx, reg::RCX, count - n);
                    self.done += n;
                    continue;
                }
            }
            let eq = self.step(ctx, start + self.done)?;
            self.set_reg(ctx, reg::RCX, count - 1);
            self.done += 1;
            let stop = match (self.s.op, self.s.rep) {
                (op::CMPS | op::SCAS, rep::REPE) => !eq,
                (op::CMPS | op::SCAS, rep::REPNE) => eq,
                _ => false,
            };
            if stop {
                return Ok(next_ip);
            }
        }
    }

    /// Moves rSI/rDI past `n` elements in the direction of DF.
    fn advance(&self, ctx: &mut Ctx, n: u64) {
        let bytes = n.wrapping_mul(self.s.size as u64);
        let delta = if Self::df(ctx) {
            bytes.wrapping_neg()
        } else {
            bytes
        };
        if self.uses_src() {
            let v = self.reg(ctx, reg::RSI).wrapping_add(delta);
            self.set_reg(ctx, reg::RSI, v);
        }
        if self.uses_dst() {
            let v = self.reg(ctx, reg::RDI).wrapping_add(delta);
            self.set_reg(ctx, reg::RDI, v);
        }
    }

    /// One iteration through the MMU. Every access that can fault happens before any
    /// register changes. Returns "equal" for CMPS/SCAS.
    fn step(&mut self, ctx: &mut Ctx, icount: u64) -> Result<bool, Fault> {
        let size = self.s.size;
        let src = self.linear(ctx, self.s.seg, self.reg(ctx, reg::RSI));
        let dst = self.linear(ctx, seg::ES, self.reg(ctx, reg::RDI));
        let acc = ctx.state.gpr[reg::RAX] & size_mask(size);
        let mut eq = false;
        match self.s.op {
            op::MOVS => {
                let v = mmu::read(ctx, src, size)?;
                mmu::write(ctx, dst, size, v)?;
            }
            op::STOS => mmu::write(ctx, dst, size, acc)?,
            op::LODS => {
                let v = mmu::read(ctx, src, size)?;
                let r = &mut ctx.state.gpr[reg::RAX];
                *r = match size {
                    4 => v,
                    8 => v,
                    _ => (*r & !size_mask(size)) | v,
                };
            }
            op::CMPS | op::SCAS => {
                let a = if self.s.op == op::CMPS {
                    mmu::read(ctx, src, size)?
                } else {
                    acc
                };
                let b = mmu::read(ctx, dst, size)?;
                let res = a.wrapping_sub(b);
                let st = &mut ctx.state;
                st.cc_op = CcOp::new(CcKind::Sub, size).encode();
                st.cc_res = res;
                st.cc_src1 = a;
                st.cc_src2 = b;
                eq = res & size_mask(size) == 0;
            }
            op::INS => {
                let port = ctx.state.gpr[reg::RDX] as u16;
                crate::sem::system::check_io_permission(ctx, port, size)?;
                // Probe the destination first so that a fault does not lose the byte
                // read from the device.
                probe_write(ctx, dst, size)?;
                let v = ctx
                    .with_bus(|b| b.port_in(port, size, icount) as u64)
                    .unwrap_or(size_mask(size));
                mmu::write(ctx, dst, size, v & size_mask(size))?;
            }
            _ => {
                // OUTS
                let port = ctx.state.gpr[reg::RDX] as u16;
                crate::sem::system::check_io_permission(ctx, port, size)?;
                let v = mmu::read(ctx, src, size)?;
                let action = ctx.with_bus(|b| b.port_out(port, size, v as u32, icount));
                if action == Some(crate::bus::BusAction::Stop) {
                    ctx.exit = exit::BUS_STOP;
                }
            }
        }
        self.advance(ctx, 1);
        Ok(eq)
    }

    /// Up to `max` iterations of `rep movs` / `rep stos` (DF = 0) on host memory,
    /// limited to one page of source and destination. Returns the number done (0: take
    /// the slow path, which also raises any fault at the exact element).
    fn fast_chunk(&self, ctx: &mut Ctx, max: u64) -> u64 {
        let size = self.s.size as u64;
        let si = self.reg(ctx, reg::RSI);
        let di = self.reg(ctx, reg::RDI);
        // Elements before the offsets wrap at the address size.
        let wrap = |off: u64| ((self.amask as u128 - off as u128 + 1) / size as u128) as u64;
        let dst = self.linear(ctx, seg::ES, di);
        let mut n = max.min(wrap(di)).min((PAGE - (dst & (PAGE - 1))) / size);
        let movs = self.s.op == op::MOVS;
        let src = self.linear(ctx, self.s.seg, si);
        if movs {
            n = n.min(wrap(si)).min((PAGE - (src & (PAGE - 1))) / size);
        }
        if n == 0 {
            return 0;
        }
        let bytes = n * size;
        // Source first: the element-by-element definition reads before it writes.
        let psrc = if movs {
            match ram_page(ctx, src, bytes, Access::Read) {
                Some(p) => p,
                None => return 0,
            }
        } else {
            0
        };
        let Some(pdst) = ram_page(ctx, dst, bytes, Access::Write) else {
            return 0;
        };
        let base = ctx.ram_base;
        if movs {
            if pdst <= psrc || pdst >= psrc + bytes {
                // SAFETY: both ranges lie inside RAM (checked by `ram_page`); `copy`
                // allows overlap, and for these positions a forward element copy and a
                // memmove give the same bytes.
                unsafe {
                    std::ptr::copy(
                        base.add(psrc as usize),
                        base.add(pdst as usize),
                        bytes as usize,
                    )
                };
            } else {
                // The destination overlaps the source ahead of it: element by element.
                for k in 0..n {
                    let (s, d) = ((psrc + k * size) as usize, (pdst + k * size) as usize);
                    let mut b = [0u8; 8];
                    // SAFETY: both elements lie inside the checked RAM ranges.
                    unsafe {
                        std::ptr::copy_nonoverlapping(base.add(s), b.as_mut_ptr(), size as usize);
                        std::ptr::copy_nonoverlapping(b.as_ptr(), base.add(d), size as usize);
                    }
                }
            }
        } else {
            let acc = ctx.state.gpr[reg::RAX].to_le_bytes();
            if size == 1 {
                // SAFETY: the destination range lies inside RAM (checked by `ram_page`).
                unsafe { std::ptr::write_bytes(base.add(pdst as usize), acc[0], bytes as usize) };
            } else {
                for k in 0..n {
                    let d = (pdst + k * size) as usize;
                    // SAFETY: the element lies inside the checked RAM range.
                    unsafe {
                        std::ptr::copy_nonoverlapping(acc.as_ptr(), base.add(d), size as usize)
                    };
                }
            }
        }
        n
    }
}

/// Physical address of `[vaddr, vaddr + bytes)` (within one page) when it is RAM that
/// holds no translated code; `None` sends the caller to the slow path.
fn ram_page(ctx: &mut Ctx, vaddr: u64, bytes: u64, access: Access) -> Option<u64> {
    let pa = mmu::translate(ctx, vaddr, access).ok()?;
    if pa.checked_add(bytes)? > ctx.ram_size {
        return None;
    }
    if access == Access::Write && *ctx.code_pages.get((pa >> 12) as usize)? != 0 {
        return None;
    }
    Some(pa)
}

/// Checks that a write of `size` bytes at `vaddr` would not fault.
fn probe_write(ctx: &mut Ctx, vaddr: u64, size: u8) -> Result<(), Fault> {
    mmu::translate(ctx, vaddr, Access::Write)?;
    let last = vaddr.wrapping_add(size as u64 - 1);
    if last & !(PAGE - 1) != vaddr & !(PAGE - 1) {
        mmu::translate(ctx, last, Access::Write)?;
    }
    Ok(())
}
