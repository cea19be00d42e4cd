//! Inline moves: MOVAPS/MOVAPD/MOVDQA/MOVUPS/MOVUPD/MOVDQU/LDDQU, MOVNTPS/MOVNTPD/
//! MOVNTDQ/MOVNTI (plain stores), MOVSS/MOVSD, MOVD/MOVQ, MOVHPS/MOVLPS/MOVHPD/MOVLPD,
//! MOVHLPS/MOVLHPS.

use super::super::operand::{gpr_of, write_gpr};
use super::{guard, read_src, sse_addr, xmm_op};
use crate::emit::{Emitter, Sem};
use crate::flags::mask;
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let m = i.mnemonic();
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
