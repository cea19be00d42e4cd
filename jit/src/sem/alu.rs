//! Integer arithmetic and logic: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT.

use super::operand::{op_size, read, write, Opnd};
use super::{carry, set_flags};
use crate::emit::{Emitter, Sem};
use crate::flags::{mask, CcKind};
use iced_x86::{Instruction, Mnemonic};

/// The two-operand operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    Add,
    Adc,
    Sub,
    Sbb,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

impl Bin {
    pub fn of(m: Mnemonic) -> Option<Bin> {
        use Mnemonic::*;
        Some(match m {
            Add => Bin::Add,
            Adc => Bin::Adc,
            Sub => Bin::Sub,
            Sbb => Bin::Sbb,
            And => Bin::And,
            Or => Bin::Or,
            Xor => Bin::Xor,
            Cmp => Bin::Cmp,
            Test => Bin::Test,
            _ => return None,
        })
    }
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let m = i.mnemonic();
    if let Some(op) = Bin::of(m) {
        binary(e, op, op_size(i, 0), &Opnd::of(i, 0), &Opnd::of(i, 1))?;
        return Ok(Some(()));
    }
    match m {
        Inc | Dec => inc_dec(e, m == Inc, op_size(i, 0), &Opnd::of(i, 0))?,
        Neg => neg(e, op_size(i, 0), &Opnd::of(i, 0))?,
        Not => not(e, &Opnd::of(i, 0))?,
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// `dst op= src` at `size` bytes (CMP and TEST only set the flags).
#[inline(always)]
pub fn binary<E: Emitter>(e: &mut E, op: Bin, size: u8, dst: &Opnd, src: &Opnd) -> Sem {
    let a = read(e, dst)?;
    let b = read(e, src)?;
    let b = mask(e, b, size);
    let (kind, r) = match op {
        Bin::Add => (CcKind::Add, e.add(a, b)),
        Bin::Adc => {
            let c = carry(e)?;
            let t = e.add(a, b);
            (CcKind::Adc, e.add(t, c))
        }
        Bin::Sub | Bin::Cmp => (CcKind::Sub, e.sub(a, b)),
        Bin::Sbb => {
            let c = carry(e)?;
            let t = e.sub(a, b);
            (CcKind::Sbb, e.sub(t, c))
        }
        Bin::And | Bin::Test => (CcKind::Logic, e.and(a, b)),
        Bin::Or => (CcKind::Logic, e.or(a, b)),
        Bin::Xor => (CcKind::Logic, e.xor(a, b)),
    };
    if !matches!(op, Bin::Cmp | Bin::Test) {
        write(e, dst, r)?;
    }
    set_flags(e, kind, size, r, a, b);
    Ok(())
}

/// INC (`inc`) or DEC of `dst` at `size` bytes; CF is kept.
#[inline]
pub fn inc_dec<E: Emitter>(e: &mut E, inc: bool, size: u8, dst: &Opnd) -> Sem {
    let c = carry(e)?;
    let a = read(e, dst)?;
    let one = e.imm(1);
    let (kind, r) = if inc {
        (CcKind::Inc, e.add(a, one))
    } else {
        (CcKind::Dec, e.sub(a, one))
    };
    write(e, dst, r)?;
    set_flags(e, kind, size, r, a, c);
    Ok(())
}

pub fn neg<E: Emitter>(e: &mut E, size: u8, dst: &Opnd) -> Sem {
    let a = read(e, dst)?;
    let z = e.imm(0);
    let r = e.sub(z, a);
    write(e, dst, r)?;
    set_flags(e, CcKind::Sub, size, r, z, a);
    Ok(())
}

pub fn not<E: Emitter>(e: &mut E, dst: &Opnd) -> Sem {
    let a = read(e, dst)?;
    let r = e.not(a);
    write(e, dst, r)
}
