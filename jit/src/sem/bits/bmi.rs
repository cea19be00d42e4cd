//! BMI1: ANDN BEXTR BLSI BLSMSK BLSR (VEX-encoded, 32/64-bit operands).
//!
//! ANDN and BEXTR record logic flags (SF, ZF, PF from the result; CF, OF, AF clear —
//! AF and PF are undefined, and BEXTR's SF too). BLSI/BLSMSK/BLSR set SF and ZF from
//! the result, CF from the source (non-zero for BLSI, zero for the others), clear OF,
//! and (undefined) PF from the result and AF clear.

use crate::emit::{Cmp as Rel, Emitter, Sem};
use crate::flags::{mask, CcKind};
use crate::sem::operand::{op_size, read_op, write_op};
use crate::sem::shift::flagbits::szp;
use crate::sem::{set_eflags, set_flags};
use iced_x86::{Instruction, Mnemonic};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    use Mnemonic::*;
    let size = op_size(i, 0);
    let a = read_op(e, i, 1)?;
    match i.mnemonic() {
        Andn => {
            let b = read_op(e, i, 2)?;
            let na = e.not(a);
            let r = e.and(na, b);
            let r = mask(e, r, size);
            write_op(e, i, 0, r)?;
            set_flags(e, CcKind::Logic, size, r, a, b);
        }
        Bextr => {
            let ctl = read_op(e, i, 2)?;
            let bits = e.imm(size as u64 * 8);
            let ff = e.imm(0xff);
            let start = e.and(ctl, ff);
            let eight = e.imm(8);
            let t = e.shr(ctl, eight);
            let len = e.and(t, ff);
            let z = e.imm(0);
            let sh = e.shr(a, start);
            let s_ok = e.cmp(Rel::Ult, start, bits);
            let v = e.select(s_ok, sh, z);
            let one = e.imm(1);
            let p = e.shl(one, len);
            let m = e.sub(p, one);
            let all = e.imm(u64::MAX);
            let l_ok = e.cmp(Rel::Ult, len, bits);
            let m = e.select(l_ok, m, all);
            let r = e.and(v, m);
            let r = mask(e, r, size);
            write_op(e, i, 0, r)?;
            set_flags(e, CcKind::Logic, size, r, a, ctl);
        }
        _ => {
            let z = e.imm(0);
            let one = e.imm(1);
            let am1 = e.sub(a, one);
            let (r, cf) = match i.mnemonic() {
                Blsi => {
                    let n = e.neg(a);
                    (e.and(n, a), e.cmp(Rel::Ne, a, z))
                }
                Blsmsk => (e.xor(am1, a), e.cmp(Rel::Eq, a, z)),
                _ => (e.and(am1, a), e.cmp(Rel::Eq, a, z)),
            };
            let r = mask(e, r, size);
            write_op(e, i, 0, r)?;
            let f = szp(e, r, size);
            let f = e.or(f, cf);
            set_eflags(e, f);
        }
    }
    Ok(())
}
