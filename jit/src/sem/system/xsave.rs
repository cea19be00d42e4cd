//! XGETBV/XSETBV and XSAVE/XSAVEOPT/XRSTOR (standard form) for the state components
//! CPUID leaf 0xD reports: x87 (bit 0) and SSE (bit 1). The area is the 512-byte
//! FXSAVE-layout legacy region followed by the 64-byte XSAVE header.
//!
//! XSAVEOPT is XSAVE here (it may always write every requested component). XSAVE
//! reports every requested component as in use (XSTATE_BV bit set), which the SDM
//! allows.

use super::op;
use crate::cpuid::{XCR0_SUPPORTED, XSAVE_SIZE};
use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{reg, X87State, CR0_TS, CR4_OSXSAVE};

/// MXCSR bits that may be set (DAZ included), as FXRSTOR accepts.
const MXCSR_MASK: u32 = 0xffff;

fn rfbm(ctx: &Ctx) -> u64 {
    let st = &ctx.state;
    let mask = (st.gpr[reg::RDX] << 32) | (st.gpr[reg::RAX] & 0xffff_ffff);
    mask & st.xcr0
}

/// The x87 tag of a register value (00 valid, 01 zero, 10 special).
fn tag_of(r: &[u8; 16]) -> u16 {
    let mant = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
    let exp = u16::from_le_bytes([r[8], r[9]]) & 0x7fff;
    if exp == 0 && mant == 0 {
        1
    } else if exp == 0 || exp == 0x7fff || mant >> 63 == 0 {
        2
    } else {
        0
    }
}

fn save_image(ctx: &Ctx, rfbm: u64, b: &mut [u8]) {
    let st = &ctx.state;
    let f = &st.fpu;
    if rfbm & 1 != 0 {
        b[0..2].copy_from_slice(&f.fcw.to_le_bytes());
        let fsw = (f.fsw & !0x3800) | (f.top as u16 & 7) << 11;
        b[2..4].copy_from_slice(&fsw.to_le_bytes());
        let mut abridged = 0u8;
        for p in 0..8 {
            if (f.ftw >> (2 * p)) & 3 != 3 {
                abridged |= 1 << p;
            }
        }
        b[4] = abridged;
        b[5] = 0;
        b[6..8].copy_from_slice(&(f.fop & 0x7ff).to_le_bytes());
        b[8..16].copy_from_slice(&f.fip.to_le_bytes());
        b[16..24].copy_from_slice(&f.fdp.to_le_bytes());
        for k in 0..8 {
            let p = (f.top as usize + k) & 7;
            b[32 + 16 * k..48 + 16 * k].fill(0);
            b[32 + 16 * k..42 + 16 * k].copy_from_slice(&f.st[p][..10]);
        }
    }
    if rfbm & 2 != 0 {
        b[24..28].copy_from_slice(&st.mxcsr.to_le_bytes());
        b[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
        for (r, x) in st.xmm.iter().enumerate() {
            b[160 + 16 * r..168 + 16 * r].copy_from_slice(&x[0].to_le_bytes());
            b[168 + 16 * r..176 + 16 * r].copy_from_slice(&x[1].to_le_bytes());
        }
    }
}

fn le(b: &[u8], off: usize, n: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(off..off + n) {
        v[..n].copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

fn read_area(ctx: &mut Ctx, a: u64) -> Result<Vec<u8>, Fault> {
    let mut b = vec![0u8; XSAVE_SIZE as usize];
    for k in (0..b.len()).step_by(8) {
        let v = crate::mmu::read(ctx, a.wrapping_add(k as u64), 8)?;
        b[k..k + 8].copy_from_slice(&v.to_le_bytes());
    }
    Ok(b)
}

fn restore(ctx: &mut Ctx, rfbm: u64, b: &[u8]) -> Result<(), Fault> {
    let xstate_bv = le(b, 512, 8);
    let xcomp_bv = le(b, 520, 8);
    // No compacted form (XSAVEC is not reported); reserved header bytes must be zero.
    if xcomp_bv != 0 || xstate_bv & !ctx.state.xcr0 != 0 || (528..576).any(|k| b[k] != 0) {
        return Err(Fault::gp0());
    }
    let mxcsr = le(b, 24, 4) as u32;
    if rfbm & 2 != 0 && mxcsr & !MXCSR_MASK != 0 {
        return Err(Fault::gp0());
    }
    let st = &mut ctx.state;
    if rfbm & 1 != 0 {
        if xstate_bv & 1 != 0 {
            let f = &mut st.fpu;
            f.fcw = le(b, 0, 2) as u16;
            let fsw = le(b, 2, 2) as u16;
            f.top = ((fsw >> 11) & 7) as u8;
            f.fsw = fsw & !0x3800;
            f.fop = le(b, 6, 2) as u16 & 0x7ff;
            f.fip = le(b, 8, 8);
            f.fdp = le(b, 16, 8);
            let abridged = b[4];
            let mut ftw = 0u16;
            for k in 0..8 {
                let p = (f.top as usize + k) & 7;
                f.st[p] = [0; 16];
                f.st[p][..10].copy_from_slice(&b[32 + 16 * k..42 + 16 * k]);
            }
            for p in 0..8 {
                let t = if abridged & (1 << p) == 0 {
                    3
                } else {
                    tag_of(&f.st[p])
                };
                ftw |= t << (2 * p);
            }
            f.ftw = ftw;
        } else {
            st.fpu = X87State::default();
        }
    }
    if rfbm & 2 != 0 {
        st.mxcsr = mxcsr;
        for (r, x) in st.xmm.iter_mut().enumerate() {
            *x = if xstate_bv & 2 != 0 {
                [le(b, 160 + 16 * r, 8), le(b, 168 + 16 * r, 8)]
            } else {
                [0, 0]
            };
        }
    }
    Ok(())
}

/// XGETBV, XSETBV, XSAVE(OPT), XRSTOR; `a` is the area's linear address.
pub fn xsave(ctx: &mut Ctx, code: u64, a: u64) -> Result<u64, Fault> {
    if ctx.state.cr4 & CR4_OSXSAVE == 0 {
        return Err(Fault::ud());
    }
    let ecx = ctx.state.gpr[reg::RCX] as u32;
    match code {
        op::XGETBV => {
            if ecx != 0 {
                return Err(Fault::gp0());
            }
            let st = &mut ctx.state;
            st.gpr[reg::RAX] = st.xcr0 & 0xffff_ffff;
            st.gpr[reg::RDX] = st.xcr0 >> 32;
            Ok(0)
        }
        op::XSETBV => {
            let st = &mut ctx.state;
            if st.cpl() != 0 {
                return Err(Fault::gp0());
            }
            let v = (st.gpr[reg::RDX] << 32) | (st.gpr[reg::RAX] & 0xffff_ffff);
            if ecx != 0 || v & 1 == 0 || v & !XCR0_SUPPORTED != 0 {
                return Err(Fault::gp0());
            }
            st.xcr0 = v;
            Ok(0)
        }
        _ => {
            if ctx.state.cr0 & CR0_TS != 0 {
                return Err(Fault::new(vec::NM));
            }
            if a & 63 != 0 {
                return Err(Fault::gp0());
            }
            let rfbm = rfbm(ctx);
            let mut b = read_area(ctx, a)?;
            if code == op::XRSTOR {
                restore(ctx, rfbm, &b)?;
                return Ok(0);
            }
            // XSAVE: both pages must be writable before anything is written.
            crate::mmu::translate(ctx, a, crate::mmu::Access::Write)?;
            let last = a.wrapping_add(XSAVE_SIZE as u64 - 1);
            crate::mmu::translate(ctx, last, crate::mmu::Access::Write)?;
            save_image(ctx, rfbm, &mut b);
            let bv = (le(&b, 512, 8) & !rfbm) | rfbm;
            b[512..520].copy_from_slice(&bv.to_le_bytes());
            for k in (0..b.len()).step_by(8) {
                crate::mmu::write(ctx, a.wrapping_add(k as u64), 8, le(&b, k, 8))?;
            }
            Ok(0)
        }
    }
}
