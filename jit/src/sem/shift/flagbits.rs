//! Small builders for explicit arithmetic flags (RFLAGS bit positions), shared by the
//! rotate, double-shift, multiply/divide and bit-operation groups, whose flag effects fit
//! none of the lazy [`crate::flags::CcKind`]s (SHL/SHR/SAR have lazy kinds of their own).

use crate::emit::{Alu, Cmp};
use crate::flags::{mask, sign_bit};
use crate::state::fl;

/// ZF, SF and PF of `res` at `size` bytes, in their RFLAGS positions.
pub fn szp<A: Alu>(a: &mut A, res: A::V, size: u8) -> A::V {
    let r = mask(a, res, size);
    let z = a.imm(0);
    let zf = a.cmp(Cmp::Eq, r, z);
    let zf = place(a, zf, 6);
    let s = sign_bit(a, r, size);
    let sf = place(a, s, 7);
    let low = mask(a, r, 1);
    let p = a.popcnt(low);
    let one = a.imm(1);
    let odd = a.and(p, one);
    let even = a.xor(odd, one);
    let pf = place(a, even, 2);
    let t = a.or(zf, sf);
    a.or(t, pf)
}

/// `v` (0 or 1) moved to bit `pos`.
pub fn place<A: Alu>(a: &mut A, v: A::V, pos: u32) -> A::V {
    if pos == 0 {
        return v;
    }
    let sh = a.imm(pos as u64);
    a.shl(v, sh)
}

/// Bit `n` of `v` as 0 or 1.
pub fn bit<A: Alu>(a: &mut A, v: A::V, n: u32) -> A::V {
    let t = if n == 0 {
        v
    } else {
        let sh = a.imm(n as u64);
        a.shr(v, sh)
    };
    let one = a.imm(1);
    a.and(t, one)
}

/// `flags` with the bits in `which` replaced by those of `new` (both in RFLAGS
/// positions; `new` must have no bits outside `which`).
pub fn replace<A: Alu>(a: &mut A, flags: A::V, which: u64, new: A::V) -> A::V {
    let keep = a.imm(fl::ARITH & !which);
    let k = a.and(flags, keep);
    a.or(k, new)
}

/// CF (bit 0) and OF (bit 11) from two 0/1 values, ORed into `acc`.
pub fn with_cf_of<A: Alu>(a: &mut A, acc: A::V, cf: A::V, of: A::V) -> A::V {
    let o = place(a, of, 11);
    let t = a.or(acc, cf);
    a.or(t, o)
}
