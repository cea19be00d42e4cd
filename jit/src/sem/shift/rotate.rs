//! ROL ROR RCL RCR. They change only CF and OF; SF, ZF, AF and PF keep their values.
//!
//! ROL/ROR rotate by the masked count modulo the operand width, but a masked count that
//! is a non-zero multiple of the width still sets CF (from the unchanged result) and
//! OF. RCL/RCR rotate the (width+1)-bit value CF:dest by the masked count modulo 9 (8-bit)
//! or 17 (16-bit); when that is zero with a non-zero masked count, the destination and CF
//! stay as they were. OF for counts other than 1 (undefined) uses the count-1 formula on
//! the result: ROL/RCL MSB(result) ^ CF, ROR/RCR the two top bits of the result XORed.

use super::flagbits::{bit, replace, with_cf_of};
use super::{commit, count, Count};
use crate::emit::{Cmp, Emitter, Sem};
use crate::flags::mask;
use crate::sem::arith_flags;
use crate::sem::operand::{op_size, read_op, write_op};
use crate::state::fl;
use iced_x86::{Instruction, Mnemonic};

/// OF as the XOR of the two top bits of `r` (ROR/RCR).
fn top2<E: Emitter>(e: &mut E, r: E::V, bits: u32) -> E::V {
    let a = bit(e, r, bits - 1);
    let b = bit(e, r, bits - 2);
    e.xor(a, b)
}

pub fn rol_ror<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let size = op_size(i, 0);
    let bits = size as u32 * 8;
    let dst = read_op(e, i, 0)?;
    let c = count(e, i, 1, size);
    if c.is_zero() {
        return write_op(e, i, 0, dst);
    }
    let cv = c.value(e);
    let left = i.mnemonic() == Mnemonic::Rol;
    let res = if bits == 64 {
        if left {
            e.rotl(dst, cv)
        } else {
            e.rotr(dst, cv)
        }
    } else {
        // Rotate within `bits`: t = count mod bits; t = 0 gives dst back because the
        // complementary shift by `bits` moves everything out of the mask.
        let m = e.imm(bits as u64 - 1);
        let t = e.and(cv, m);
        let w = e.imm(bits as u64);
        let u = e.sub(w, t);
        let (a, b) = if left {
            (e.shl(dst, t), e.shr(dst, u))
        } else {
            (e.shr(dst, t), e.shl(dst, u))
        };
        let r = e.or(a, b);
        mask(e, r, size)
    };
    let (cf, of) = if left {
        let cf = bit(e, res, 0);
        let msb = bit(e, res, bits - 1);
        (cf, e.xor(msb, cf))
    } else {
        let cf = bit(e, res, bits - 1);
        (cf, top2(e, res, bits))
    };
    let old = arith_flags(e)?;
    let z = e.imm(0);
    let new = with_cf_of(e, z, cf, of);
    let f = replace(e, old, fl::CF | fl::OF, new);
    commit(e, i, c, dst, res, f, Some(old))
}

pub fn rcl_rcr<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let size = op_size(i, 0);
    let bits = size as u32 * 8;
    let n = bits as u64;
    let dst = read_op(e, i, 0)?;
    let c = count(e, i, 1, size);
    if c.is_zero() {
        return write_op(e, i, 0, dst);
    }
    let left = i.mnemonic() == Mnemonic::Rcl;
    let old = arith_flags(e)?;
    let cf_in = bit(e, old, 0);
    // The rotation count proper: modulo width+1 for 8/16 bits.
    let t = match (c, bits) {
        (Count::Static(v), 8) => Count::Static(v % 9),
        (Count::Static(v), 16) => Count::Static(v % 17),
        (Count::Dyn(v), 8 | 16) => {
            let d = e.imm(n + 1);
            Count::Dyn(e.urem(v, d))
        }
        (c, _) => c,
    };
    let tv = t.value(e);
    let one = e.imm(1);
    let w = e.imm(n);
    let (res, cf) = if left {
        // (dst << t) | (CF << (t-1)) | (dst >> (n+1-t)), valid for t in 1..=n.
        let a = e.shl(dst, tv);
        let tm1 = e.sub(tv, one);
        let b = e.shl(cf_in, tm1);
        let nt = e.sub(w, tv);
        let d1 = e.shr(dst, one);
        let cc = e.shr(d1, nt);
        let r = e.or(a, b);
        let r = e.or(r, cc);
        let r = mask(e, r, size);
        let cf = e.shr(dst, nt);
        (r, e.and(cf, one))
    } else {
        // (dst >> t) | (CF << (n-t)) | (dst << (n+1-t)), valid for t in 1..=n.
        let a = e.shr(dst, tv);
        let nt = e.sub(w, tv);
        let b = e.shl(cf_in, nt);
        let d1 = e.shl(dst, one);
        let cc = e.shl(d1, nt);
        let r = e.or(a, b);
        let r = e.or(r, cc);
        let r = mask(e, r, size);
        let tm1 = e.sub(tv, one);
        let cf = e.shr(dst, tm1);
        (r, e.and(cf, one))
    };
    // A rotation count of zero (masked count 9, 18, 27 or 17) leaves value and CF.
    let (res, cf) = match t {
        Count::Static(0) => (dst, cf_in),
        Count::Static(_) => (res, cf),
        Count::Dyn(tv) => {
            let z = e.imm(0);
            let tz = e.cmp(Cmp::Eq, tv, z);
            (e.select(tz, dst, res), e.select(tz, cf_in, cf))
        }
    };
    let of = if left {
        let msb = bit(e, res, bits - 1);
        e.xor(msb, cf)
    } else {
        top2(e, res, bits)
    };
    let z = e.imm(0);
    let new = with_cf_of(e, z, cf, of);
    let f = replace(e, old, fl::CF | fl::OF, new);
    commit(e, i, c, dst, res, f, Some(old))
}
