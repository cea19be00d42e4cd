//! Inline moves: MOVAPS/MOVAPD/MOVDQA/MOVUPS/MOVUPD/MOVDQU/LDDQU, MOVNTPS/MOVNTPD/
//! MOVNTDQ/MOVNTI (plain stores), MOVSS/MOVSD, MOVD/MOVQ, MOVHPS/MOVLPS/MOVHPD/MOVLPD,
//! MOVHLPS/MOVLHPS, MASKMOVDQU (through the helper: a byte-masked store).

use super::super::operand::{gpr_of, linear, seg_index, write_gpr};
use super::{guard, pack_op, read_src, sse_addr, xmm_op};
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
    if m != Movnti {
        // MOVNTI is an integer instruction: no SSE state, no CR0/CR4 conditions.
        guard(e)?;
    }
    match m {
        Movaps | Movapd | Movdqa | Movups | Movupd | Movdqu | Lddqu | Movntps | Movntpd
        | Movntdq => {
            let (lo, hi) = read_src(e, i, 1)?;
            store_full(e, i, lo, hi)?;
        }
        Movnti => {
            let v = read_src(e, i, 1)?.0;
            let a = sse_addr(e, i)?;
            e.store(a, v, i.memory_size().size() as u8)?;
        }
        Movss | Movsd => {
            let bytes: u8 = if m == Movss { 4 } else { 8 };
            match (xmm_op(i, 0), xmm_op(i, 1)) {
                (Some(d), Some(s)) => {
                    let v = e.xmm(s, 0);
                    let r = if bytes == 4 {
                        let old = e.xmm(d, 0);
                        let keep = e.imm(!0xffff_ffffu64);
                        let old = e.and(old, keep);
                        let low = mask(e, v, 4);
                        e.or(old, low)
                    } else {
                        v
                    };
                    e.set_xmm(d, 0, r);
                }
                (Some(d), None) => {
                    let (lo, hi) = read_src(e, i, 1)?;
                    e.set_xmm(d, 0, lo);
                    e.set_xmm(d, 1, hi);
                }
                (None, Some(s)) => {
                    let v = e.xmm(s, 0);
                    let a = sse_addr(e, i)?;
                    e.store(a, v, bytes)?;
                }
                _ => return Ok(None),
            }
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

/// Writes a full 128-bit value to operand 0 (XMM register or memory).
fn store_full<E: Emitter>(e: &mut E, i: &Instruction, lo: E::V, hi: E::V) -> Sem {
    if let Some(d) = xmm_op(i, 0) {
        e.set_xmm(d, 0, lo);
        e.set_xmm(d, 1, hi);
        return Ok(());
    }
    let a = sse_addr(e, i)?;
    let eight = e.imm(8);
    let a8 = e.add(a, eight);
    // High half first: if a misaligned store crosses into a page that faults, the
    // part on the second page faults before anything is written (an 8-byte store
    // that itself crosses is checked whole by the MMU).
    e.store(a8, hi, 8)?;
    e.store(a, lo, 8)
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
