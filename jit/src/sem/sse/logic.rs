//! Inline bitwise logic on both halves (ANDPS/ANDNPS/ORPS/XORPS, their PD and integer
//! forms) and the 64-bit lane add/subtract PADDQ/PSUBQ.

use super::{guard, read_src, xmm_op};
use crate::emit::{Emitter, Sem};
use iced_x86::{Instruction, Mnemonic};

#[derive(Clone, Copy)]
enum Op {
    And,
    AndNot,
    Or,
    Xor,
    Add,
    Sub,
}

fn op_of(m: Mnemonic) -> Option<Op> {
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
    let Some(d) = xmm_op(i, 0) else {
        return Ok(None);
    };
    guard(e)?;
    let (slo, shi) = read_src(e, i, 1)?;
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
    Ok(Some(()))
}
