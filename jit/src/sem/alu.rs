//! Integer arithmetic and logic: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT.

use super::operand::{op_size, read_op, write_op};
use super::{carry, set_flags};
use crate::emit::{Emitter, Sem};
use crate::flags::{mask, CcKind};
use iced_x86::{Instruction, Mnemonic};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Add | Adc | Sub | Sbb | And | Or | Xor | Cmp | Test => binary(e, i)?,
        Inc | Dec => inc_dec(e, i)?,
        Neg => {
            let size = op_size(i, 0);
            let a = read_op(e, i, 0)?;
            let z = e.imm(0);
            let r = e.sub(z, a);
            write_op(e, i, 0, r)?;
            set_flags(e, CcKind::Sub, size, r, z, a);
        }
        Not => {
            let a = read_op(e, i, 0)?;
            let r = e.not(a);
            write_op(e, i, 0, r)?;
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

fn binary<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    use Mnemonic::*;
    let size = op_size(i, 0);
    let a = read_op(e, i, 0)?;
    let b = read_op(e, i, 1)?;
    let b = mask(e, b, size);
    let (kind, r) = match i.mnemonic() {
        Add => (CcKind::Add, e.add(a, b)),
        Adc => {
            let c = carry(e)?;
            let t = e.add(a, b);
            (CcKind::Adc, e.add(t, c))
        }
        Sub | Cmp => (CcKind::Sub, e.sub(a, b)),
        Sbb => {
            let c = carry(e)?;
            let t = e.sub(a, b);
            (CcKind::Sbb, e.sub(t, c))
        }
        And | Test => (CcKind::Logic, e.and(a, b)),
        Or => (CcKind::Logic, e.or(a, b)),
        _ => (CcKind::Logic, e.xor(a, b)),
    };
    if !matches!(i.mnemonic(), Cmp | Test) {
        write_op(e, i, 0, r)?;
    }
    set_flags(e, kind, size, r, a, b);
    Ok(())
}

fn inc_dec<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let size = op_size(i, 0);
    let c = carry(e)?;
    let a = read_op(e, i, 0)?;
    let one = e.imm(1);
    let (kind, r) = if i.mnemonic() == Mnemonic::Inc {
        (CcKind::Inc, e.add(a, one))
    } else {
        (CcKind::Dec, e.sub(a, one))
    };
    write_op(e, i, 0, r)?;
    set_flags(e, kind, size, r, a, c);
    Ok(())
}
