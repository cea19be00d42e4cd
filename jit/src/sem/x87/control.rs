//! Control and state instructions: FXCH, FINCSTP/FDECSTP, FFREE, FLDCW/FNSTCW, FNSTSW,
//! FNCLEX, FNINIT, WAIT, FNSTENV/FLDENV, FNSAVE/FRSTOR, FXSAVE/FXRSTOR, FCMOVcc.

use super::fpu::{sw, Fpu, INDEFINITE};
use super::{Effects, Ins};
use crate::ctx::Ctx;
use crate::exception::Fault;
use crate::mmu::{self, Access};
use crate::state::fl;
use iced_x86::Mnemonic;

/// Writes `bytes` at `addr`, probing every page first so that a fault writes nothing.
pub(super) fn write_bytes(ctx: &mut Ctx, addr: u64, bytes: &[u8]) -> Result<(), Fault> {
    let len = bytes.len() as u64;
    if len == 0 {
        return Ok(());
    }
    let mut page = addr & !0xfff;
    let last = addr.wrapping_add(len - 1) & !0xfff;
    loop {
        let probe = if page < addr { addr } else { page };
        mmu::translate(ctx, probe, Access::Write)?;
        if page == last {
            break;
        }
        page = page.wrapping_add(0x1000);
    }
    for (k, c) in bytes.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        mmu::write(
            ctx,
            addr.wrapping_add(8 * k as u64),
            c.len() as u8,
            u64::from_le_bytes(b),
        )?;
    }
    Ok(())
}

fn read_bytes(ctx: &mut Ctx, addr: u64, len: usize) -> Result<Vec<u8>, Fault> {
    let mut out = Vec::with_capacity(len);
    let mut k = 0;
    while k < len {
        let n = (len - k).min(8);
        let v = mmu::read(ctx, addr.wrapping_add(k as u64), n as u8)?;
        out.extend_from_slice(&v.to_le_bytes()[..n]);
        k += n;
    }
    Ok(out)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}
fn le32(b: &[u8], at: usize) -> u32 {
    le16(b, at) as u32 | (le16(b, at + 2) as u32) << 16
}
fn le64(b: &[u8], at: usize) -> u64 {
    le32(b, at) as u64 | (le32(b, at + 4) as u64) << 32
}

/// The 28-byte protected-mode environment (FNSTENV/FNSAVE layout).
fn env_bytes(f: &Fpu) -> Vec<u8> {
    let mut b = vec![0u8; 28];
    let s = &f.s;
    b[0..2].copy_from_slice(&s.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&[0xff, 0xff]);
    b[4..6].copy_from_slice(&f.fsw().to_le_bytes());
    b[6..8].copy_from_slice(&[0xff, 0xff]);
    b[8..10].copy_from_slice(&f.full_tags().to_le_bytes());
    b[10..12].copy_from_slice(&[0xff, 0xff]);
    b[12..16].copy_from_slice(&(s.fip as u32).to_le_bytes());
    // FCS selector 0, FOP in bits 16..27.
    b[16..20].copy_from_slice(&((s.fop as u32 & 0x7ff) << 16).to_le_bytes());
    b[20..24].copy_from_slice(&(s.fdp as u32).to_le_bytes());
    b[24..28].copy_from_slice(&[0, 0, 0xff, 0xff]);
    b
}

fn load_env(f: &mut Fpu, b: &[u8]) {
    f.s.fcw = le16(b, 0) | 0x40;
    f.set_fsw(le16(b, 4));
    f.s.fip = le32(b, 12) as u64;
    f.s.fop = ((le32(b, 16) >> 16) & 0x7ff) as u16;
    f.s.fdp = le32(b, 20) as u64;
    f.load_tags(le16(b, 8));
}

fn cmov_cond(m: Mnemonic, rflags: u64) -> bool {
    use Mnemonic::*;
    let (cf, zf, pf) = (
        rflags & fl::CF != 0,
        rflags & fl::ZF != 0,
        rflags & fl::PF != 0,
    );
    match m {
        Fcmovb => cf,
        Fcmove => zf,
        Fcmovbe => cf || zf,
        Fcmovu => pf,
        Fcmovnb => !cf,
        Fcmovne => !zf,
        Fcmovnbe => !cf && !zf,
        _ => !pf,
    }
}

pub(super) fn exec(ctx: &mut Ctx, f: &mut Fpu, i: &Ins, fx: &mut Effects) -> Result<bool, Fault> {
    use Mnemonic::*;
    if i.mem && matches!(i.msize, 14 | 94) {
        // The 16-bit (operand-size prefixed) environment layouts are not implemented:
        // refuse rather than store the 32-bit layout over the guest's memory.
        return Err(Fault::ud());
    }
    match i.m {
        Wait | Fnop => {}
        Fxch => {
            let k = i.r1.or(i.r0.filter(|&r| r != 0)).unwrap_or(1);
            let (e0, ek) = (f.empty(0), f.empty(k));
            if e0 || ek {
                if !f.stack_fault(false) {
                    return Ok(true);
                }
            } else {
                f.set_c1(false);
            }
            let a = if e0 { INDEFINITE } else { f.get(0) };
            let b = if ek { INDEFINITE } else { f.get(k) };
            f.set(0, b);
            f.set(k, a);
        }
        Fincstp | Fdecstp => {
            f.s.top = if i.m == Fincstp {
                (f.s.top + 1) & 7
            } else {
                (f.s.top + 7) & 7
            };
            f.set_c1(false);
        }
        Ffree | Ffreep => {
            let p = f.phys(i.r0.unwrap_or(0));
            f.set_tag_phys(p, super::fpu::TAG_EMPTY);
            if i.m == Ffreep {
                f.pop();
            }
        }
        Fldcw => {
            f.s.fcw = super::arith::read_mem(ctx, i)? as u16 | 0x40;
        }
        Fnstcw | Fstcw => fx.store = Some(f.s.fcw.to_le_bytes().to_vec()),
        Fnstsw | Fstsw => {
            if i.mem {
                fx.store = Some(f.fsw().to_le_bytes().to_vec());
            } else {
                fx.ax = Some(f.fsw());
            }
        }
        Fnclex | Fclex => f.s.fsw &= !(sw::EXC | sw::SF | sw::ES | sw::B),
        Fninit | Finit => f.init(),
        Fnstenv | Fstenv => {
            fx.store = Some(env_bytes(f));
            f.s.fcw |= 0x3f;
        }
        Fldenv => {
            let b = read_bytes(ctx, i.addr, 28)?;
            load_env(f, &b);
        }
        Fnsave | Fsave => {
            let mut b = env_bytes(f);
            for k in 0..8 {
                b.extend_from_slice(&f.get(k));
            }
            fx.store = Some(b);
            f.init();
        }
        Frstor => {
            let b = read_bytes(ctx, i.addr, 108)?;
            let mut regs = [[0u8; 10]; 8];
            for (k, r) in regs.iter_mut().enumerate() {
                r.copy_from_slice(&b[28 + 10 * k..38 + 10 * k]);
            }
            f.set_fsw(le16(&b, 4));
            for (k, r) in regs.iter().enumerate() {
                let p = f.phys(k);
                f.s.st[p] = [0; 16];
                f.s.st[p][..10].copy_from_slice(r);
            }
            load_env(f, &b);
        }
        Fxsave | Fxsave64 => {
            if i.addr & 15 != 0 {
                return Err(Fault::gp0());
            }
            fx.store = Some(fxsave_image(ctx, f));
        }
        Fxrstor | Fxrstor64 => {
            if i.addr & 15 != 0 {
                return Err(Fault::gp0());
            }
            let b = read_bytes(ctx, i.addr, 512)?;
            let mxcsr = le32(&b, 24);
            if mxcsr & !MXCSR_MASK != 0 {
                return Err(Fault::gp0());
            }
            f.s.fcw = le16(&b, 0);
            f.set_fsw(le16(&b, 2));
            let abridged = b.get(4).copied().unwrap_or(0);
            f.s.fop = le16(&b, 6) & 0x7ff;
            f.s.fip = le64(&b, 8);
            f.s.fdp = le64(&b, 16);
            for k in 0..8 {
                let p = f.phys(k);
                f.s.st[p] = [0; 16];
                f.s.st[p][..10].copy_from_slice(&b[32 + 16 * k..42 + 16 * k]);
            }
            let mut tags = 0u16;
            for p in 0..8 {
                if abridged & (1 << p) == 0 {
                    tags |= 3 << (2 * p);
                }
            }
            f.load_tags(tags);
            ctx.state.mxcsr = mxcsr;
            for (r, x) in ctx.state.xmm.iter_mut().enumerate() {
                *x = [le64(&b, 160 + 16 * r), le64(&b, 168 + 16 * r)];
            }
        }
        Fcmovb | Fcmove | Fcmovbe | Fcmovu | Fcmovnb | Fcmovne | Fcmovnbe | Fcmovnu => {
            let k = i.r1.unwrap_or(1);
            if f.empty(0) || f.empty(k) {
                if f.stack_fault(false) {
                    f.set(0, INDEFINITE);
                }
            } else {
                f.set_c1(false);
                if cmov_cond(i.m, ctx.state.rflags()) {
                    let v = f.get(k);
                    f.set(0, v);
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// MXCSR bits FXRSTOR/LDMXCSR accept (DAZ supported).
pub const MXCSR_MASK: u32 = 0xffff;

fn fxsave_image(ctx: &Ctx, f: &Fpu) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    let s = &f.s;
    b[0..2].copy_from_slice(&s.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&f.fsw().to_le_bytes());
    let mut abridged = 0u8;
    for p in 0..8 {
        if f.tag_phys(p) != super::fpu::TAG_EMPTY {
            abridged |= 1 << p;
        }
    }
    b[4] = abridged;
    b[6..8].copy_from_slice(&(s.fop & 0x7ff).to_le_bytes());
    b[8..16].copy_from_slice(&s.fip.to_le_bytes());
    b[16..24].copy_from_slice(&s.fdp.to_le_bytes());
    b[24..28].copy_from_slice(&ctx.state.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
    for k in 0..8 {
        b[32 + 16 * k..42 + 16 * k].copy_from_slice(&f.get(k));
    }
    for (r, x) in ctx.state.xmm.iter().enumerate() {
        b[160 + 16 * r..168 + 16 * r].copy_from_slice(&x[0].to_le_bytes());
        b[168 + 16 * r..176 + 16 * r].copy_from_slice(&x[1].to_le_bytes());
    }
    b
}
