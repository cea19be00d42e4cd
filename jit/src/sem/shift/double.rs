//! SHLD and SHRD: shift the destination, filling from a second register.
//!
//! Flags: CF is the last bit shifted out of the destination, SF/ZF/PF come from the
//! result, OF (defined for a count of 1) is MSB(result) ^ MSB(dest) for every count, AF
//! is cleared. A 16-bit count above 16 (undefined result and flags) shifts through the
//! 48-bit value dest:src:dest, which is what Intel CPUs are reported to do; the tests do
//! not depend on it.

use super::flagbits::{szp, with_cf_of};
use super::{commit, count};
use crate::emit::{Emitter, Sem};
use crate::flags::{mask, sign_bit};
use crate::sem::operand::{op_size, read_op, write_op};
use iced_x86::{Instruction, Mnemonic};

pub fn shld_shrd<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let size = op_size(i, 0);
    let dst = read_op(e, i, 0)?;
    let src = read_op(e, i, 1)?;
    let c = count(e, i, 2, size);
    if c.is_zero() {
        return write_op(e, i, 0, dst);
    }
    let cv = c.value(e);
    let left = i.mnemonic() == Mnemonic::Shld;
    let one = e.imm(1);
    let cm1 = e.sub(cv, one);
    let (res, cf) = match (size, left) {
        (8, true) => {
            let a = e.shl(dst, cv);
            let w = e.imm(64);
            let u = e.sub(w, cv);
            let b = e.shr(src, u);
            let r = e.or(a, b);
            let t = e.shr(dst, u);
            (r, e.and(t, one))
        }
        (8, false) => {
            let a = e.shr(dst, cv);
            let w = e.imm(64);
            let u = e.sub(w, cv);
            let b = e.shl(src, u);
            let r = e.or(a, b);
            let t = e.shr(dst, cm1);
            (r, e.and(t, one))
        }
        _ => {
            // x = dest:src (32-bit) or dest:src:dest (16-bit), then a plain shift.
            let bits = size as u64 * 8;
            let x = if size == 4 {
                let (hi, lo) = if left { (dst, src) } else { (src, dst) };
                let sh = e.imm(32);
                let h = e.shl(hi, sh);
                e.or(h, lo)
            } else {
                let s32 = e.imm(32);
                let s16 = e.imm(16);
                let h = e.shl(dst, s32);
                let m = e.shl(src, s16);
                let t = e.or(h, m);
                e.or(t, dst)
            };
            if left {
                // The destination occupies bits 32.. of x; its top is at 32+bits-1.
                let top = e.imm(32);
                let u = e.sub(top, cv);
                let t = e.shr(x, u);
                let r = mask(e, t, size);
                let cb = e.imm(32 + bits);
                let v = e.sub(cb, cv);
                let t = e.shr(x, v);
                (r, e.and(t, one))
            } else {
                let t = e.shr(x, cv);
                let r = mask(e, t, size);
                let t = e.shr(x, cm1);
                (r, e.and(t, one))
            }
        }
    };
    let res = mask(e, res, size);
    let f = szp(e, res, size);
    let a = sign_bit(e, res, size);
    let b = sign_bit(e, dst, size);
    let of = e.xor(a, b);
    let f = with_cf_of(e, f, cf, of);
    commit(e, i, c, dst, res, f, None)
}
