//! BSF BSR TZCNT LZCNT POPCNT.
//!
//! BSF/BSR with a zero source set ZF and leave the destination's value unchanged; the
//! register is still written, so a 32-bit destination has its upper half cleared (what
//! Intel CPUs do; AMD documents the register as fully unchanged). Their undefined flags
//! (CF OF SF AF PF) are cleared, as are those of TZCNT/LZCNT (OF SF AF PF); POPCNT
//! clears all but ZF by definition.

use crate::emit::{Cmp as Rel, Emitter, Sem};
use crate::sem::operand::{op_size, read_op, write_op};
use crate::sem::set_eflags;
use crate::sem::shift::flagbits::place;
use iced_x86::{Instruction, Mnemonic};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    use Mnemonic::*;
    let size = op_size(i, 0);
    let bits = size as u64 * 8;
    let src = read_op(e, i, 1)?;
    let z = e.imm(0);
    let is_zero = e.cmp(Rel::Eq, src, z);
    let flags = match i.mnemonic() {
        Bsf | Bsr => {
            let old = read_op(e, i, 0)?;
            let r = if i.mnemonic() == Bsf {
                e.ctz(src)
            } else {
                let c = e.clz(src);
                let k = e.imm(63);
                e.sub(k, c)
            };
            let v = e.select(is_zero, old, r);
            write_op(e, i, 0, v)?;
            place(e, is_zero, 6)
        }
        Popcnt => {
            let r = e.popcnt(src);
            write_op(e, i, 0, r)?;
            place(e, is_zero, 6)
        }
        _ => {
            let r = if i.mnemonic() == Tzcnt {
                // A guard bit just above the operand makes a zero source count `bits`.
                let s = if size < 8 {
                    let g = e.imm(1 << bits);
                    e.or(src, g)
                } else {
                    src
                };
                e.ctz(s)
            } else {
                let c = e.clz(src);
                let k = e.imm(64 - bits);
                e.sub(c, k)
            };
            write_op(e, i, 0, r)?;
            let rz = e.cmp(Rel::Eq, r, z);
            let zf = place(e, rz, 6);
            e.or(zf, is_zero)
        }
    };
    set_eflags(e, flags);
    Ok(())
}
