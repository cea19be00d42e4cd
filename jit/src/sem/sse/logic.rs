//! Inline bitwise logic on both halves (ANDPS/ANDNPS/ORPS/XORPS, their PD and integer
//! forms) and the 64-bit lane add/subtract PADDQ/PSUBQ.

use super::{guard, read_x, unaligned_ok, xmm_op, XOpnd};
use crate::emit::{Emitter, Sem};
use iced_x86::{Instruction, Mnemonic};

/// The operation, on each 64-bit half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    And,
    AndNot,
    Or,
    Xor,
    Add,
    Sub,
}

pub fn op_of(m: Mnemonic) -> Option<Op> {
    use Mnemonic::*;
    Some(match m {
        Andps | Andpd | Pand => Op::And,
        Andnps | Andnpd | Pandn => Op::AndNot,
        Orps | Orpd | Por => Op::Or,
        Xorps | Xorpd | Pxor => Op::Xor,
        Paddq => Op::Add,
        Psubq => Op::Sub,
        _ => return None,
    })
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    let Some(op) = op_of(i.mnemonic()) else {
        return Ok(None);
    };
    let (Some(d), Some(s)) = (xmm_op(i, 0), XOpnd::of(i, 1)) else {
        return Ok(None);
    };
    apply(e, op, d, &s, !unaligned_ok(i))?;
    Ok(Some(()))
}

/// XMM register `d` = `d` op `s` (`aligned`: a memory source must be 16-byte aligned).
#[inline(always)]
pub fn apply<E: Emitter>(e: &mut E, op: Op, d: usize, s: &XOpnd, aligned: bool) -> Sem {
    guard(e)?;
    let (slo, shi) = read_x(e, s, aligned)?;
    for (half, s) in [(0, slo), (1, shi)] {
        let x = e.xmm(d, half);
        let r = match op {
            Op::And => e.and(x, s),
            Op::AndNot => {
                let n = e.not(x);
                e.and(n, s)
            }
            Op::Or => e.or(x, s),
            Op::Xor => e.xor(x, s),
            Op::Add => e.add(x, s),
            Op::Sub => e.sub(x, s),
        };
        e.set_xmm(d, half, r);
    }
    Ok(())
}
