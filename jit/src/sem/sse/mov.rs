//! Inline moves: MOVAPS/MOVAPD/MOVDQA/MOVUPS/MOVUPD/MOVDQU/LDDQU, MOVNTPS/MOVNTPD/
//! MOVNTDQ/MOVNTI (plain stores), MOVSS/MOVSD, MOVD/MOVQ, MOVHPS/MOVLPS/MOVHPD/MOVLPD,
//! MOVHLPS/MOVLHPS, MASKMOVDQU (through the helper: a byte-masked store).

use super::super::operand::{gpr_of, linear, seg_index, write_gpr};
use super::{
    guard, mem_addr_checked, pack_op, read_src, read_x, sse_addr, unaligned_ok, xmm_op, XOpnd,
};
use crate::emit::{Emitter, Sem};
use crate::flags::mask;
use crate::helpers::Helper;
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let m = i.mnemonic();
    if m == Maskmovdqu {
        return maskmov(e, i);
    }
    let handled = matches!(
        m,
        Movaps
            | Movapd
            | Movdqa
            | Movups
            | Movupd
            | Movdqu
            | Lddqu
            | Movntps
            | Movntpd
            | Movntdq
            | Movnti
            | Movd
            | Movq
            | Movhps
            | Movhpd
            | Movlps
            | Movlpd
            | Movhlps
            | Movlhps
    ) || (matches!(m, Movss | Movsd)
        && (xmm_op(i, 0).is_some() || xmm_op(i, 1).is_some()));
    if !handled || i.op_count() != 2 {
        return Ok(None);
    }
    let full_or_scalar = (XOpnd::of(i, 0), XOpnd::of(i, 1));
    match (m, full_or_scalar) {
        (
            Movaps | Movapd | Movdqa | Movups | Movupd | Movdqu | Lddqu | Movntps | Movntpd
            | Movntdq,
            (Some(d), Some(s)),
        ) => return full(e, &d, &s, !unaligned_ok(i)).map(Some),
        (Movss | Movsd, (Some(d), Some(s))) => {
            let bytes = if m == Movss { 4 } else { 8 };
            return scalar(e, bytes, &d, &s).map(|done| done.then_some(()));
        }
        _ => {}
    }
    if m != Movnti {
        // MOVNTI is an integer instruction: no SSE state, no CR0/CR4 conditions.
        guard(e)?;
    }
    match m {
        Movnti => {
            let v = read_src(e, i, 1)?.0;
            let a = sse_addr(e, i)?;
            e.store(a, v, i.memory_size().size() as u8)?;
        }
        Movd | Movq => match xmm_op(i, 0) {
            Some(d) => {
                let (lo, _) = read_src(e, i, 1)?;
                let lo = if m == Movd { mask(e, lo, 4) } else { lo };
                let z = e.imm(0);
                e.set_xmm(d, 0, lo);
                e.set_xmm(d, 1, z);
            }
            None => {
                let Some(s) = xmm_op(i, 1) else {
                    return Ok(None);
                };
                let v = e.xmm(s, 0);
                match i.op_kind(0) {
                    OpKind::Memory => {
                        let a = sse_addr(e, i)?;
                        e.store(a, v, if m == Movd { 4 } else { 8 })?;
                    }
                    _ => match gpr_of(i.op_register(0)) {
                        Some(g) => write_gpr(e, g, v),
                        None => return Ok(None),
                    },
                }
            }
        },
        Movhps | Movhpd | Movlps | Movlpd => {
            let half = usize::from(matches!(m, Movhps | Movhpd));
            match (xmm_op(i, 0), xmm_op(i, 1)) {
                (Some(d), None) if i.op_kind(1) == OpKind::Memory => {
                    let (v, _) = read_src(e, i, 1)?;
                    e.set_xmm(d, half, v);
                }
                (None, Some(s)) if i.op_kind(0) == OpKind::Memory => {
                    let v = e.xmm(s, half);
                    let a = sse_addr(e, i)?;
                    e.store(a, v, 8)?;
                }
                _ => return Ok(None),
            }
        }
        Movhlps | Movlhps => {
            let (Some(d), Some(s)) = (xmm_op(i, 0), xmm_op(i, 1)) else {
                return Ok(None);
            };
            if m == Movhlps {
                let v = e.xmm(s, 1);
                e.set_xmm(d, 0, v);
            } else {
                let v = e.xmm(s, 0);
                e.set_xmm(d, 1, v);
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// MOVAPS/MOVUPS and the other 128-bit moves: `d = s`, either an XMM register or
/// memory (`aligned`: a memory operand must be 16-byte aligned).
#[inline(always)]
pub fn full<E: Emitter>(e: &mut E, d: &XOpnd, s: &XOpnd, aligned: bool) -> Sem {
    guard(e)?;
    let (lo, hi) = read_x(e, s, aligned)?;
    match d {
        XOpnd::Xmm(x) => {
            e.set_xmm(*x, 0, lo);
            e.set_xmm(*x, 1, hi);
            Ok(())
        }
        XOpnd::Mem(m) => {
            let a = mem_addr_checked(e, m, aligned)?;
            let eight = e.imm(8);
            let a8 = e.add(a, eight);
            // High half first: if a misaligned store crosses into a page that faults,
            // the part on the second page faults before anything is written (an
            // 8-byte store that itself crosses is checked whole by the MMU).
            e.store(a8, hi, 8)?;
            e.store(a, lo, 8)
        }
    }
}

/// MOVSS / MOVSD (`bytes` 4 / 8) between XMM registers (the low element replaced),
/// from memory (zero-extended to 128 bits) or to memory. False, doing nothing, for
/// two memory operands (no such encoding).
#[inline(always)]
pub fn scalar<E: Emitter>(e: &mut E, bytes: u8, d: &XOpnd, s: &XOpnd) -> Sem<bool> {
    guard(e)?;
    match (d, s) {
        (XOpnd::Xmm(d), XOpnd::Xmm(s)) => {
            let v = e.xmm(*s, 0);
            let r = if bytes == 4 {
                let old = e.xmm(*d, 0);
                let keep = e.imm(!0xffff_ffffu64);
                let old = e.and(old, keep);
                let low = mask(e, v, 4);
                e.or(old, low)
            } else {
                v
            };
            e.set_xmm(*d, 0, r);
        }
        (XOpnd::Xmm(d), XOpnd::Mem(_)) => {
            let (lo, hi) = read_x(e, s, false)?;
            e.set_xmm(*d, 0, lo);
            e.set_xmm(*d, 1, hi);
        }
        (XOpnd::Mem(m), XOpnd::Xmm(s)) => {
            let v = e.xmm(*s, 0);
            let a = mem_addr_checked(e, m, false)?;
            e.store(a, v, bytes)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// MASKMOVDQU xmm1, xmm2: stores the bytes of xmm1 whose xmm2 byte has its top bit set
/// to DS:rDI. The helper checks every selected byte is writable before storing any.
fn maskmov<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    let (Some(data), Some(sel)) = (xmm_op(i, 1), xmm_op(i, 2)) else {
        return Ok(None);
    };
    let size = match i.op_kind(0) {
        OpKind::MemorySegRDI => 8,
        OpKind::MemorySegEDI => 4,
        OpKind::MemorySegDI => 2,
        _ => return Ok(None),
    };
    let di = e.gpr(7);
    let di = mask(e, di, size);
    let a = linear(e, i, seg_index(i.memory_segment()), di);
    let op = e.imm(pack_op(Mnemonic::Maskmovdqu, data, sel as u8));
    let z = e.imm(0);
    e.helper(Helper::Sse, &[op, a, z, z])?;
    Ok(Some(()))
}

/// MASKMOVDQU's helper side: xmm `data` masked by xmm `sel`, stored at linear `addr`.
pub fn maskmov_helper(
    ctx: &mut crate::ctx::Ctx,
    data: usize,
    sel: usize,
    addr: u64,
) -> Result<(), crate::exception::Fault> {
    use crate::mmu;
    let d = super::join(ctx.state.xmm[data][0], ctx.state.xmm[data][1]);
    let s = super::join(ctx.state.xmm[sel][0], ctx.state.xmm[sel][1]);
    let chosen = (0..16u32).filter(|k| (s >> (8 * k + 7)) & 1 != 0);
    for k in chosen.clone() {
        mmu::translate(ctx, addr.wrapping_add(k as u64), mmu::Access::Write)?;
    }
    for k in chosen {
        let byte = ((d >> (8 * k)) & 0xff) as u64;
        mmu::write(ctx, addr.wrapping_add(k as u64), 1, byte)?;
    }
    Ok(())
}
