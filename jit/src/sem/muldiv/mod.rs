//! Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV.
//!
//! MUL/IMUL set CF = OF = "the product does not fit the destination" (SDM); SF, ZF and
//! PF, undefined, come from the low half of the product at the operand size (as Intel
//! CPUs do) and AF is cleared. DIV/IDIV leave all flags unchanged (they are undefined).
//!
//! Division raises #DE before any register changes, on a zero divisor or a quotient that
//! does not fit. Up to 32 bits the 64-bit emitter divisions do the work: the guard is
//! checked first, and the division runs on a divisor replaced by 1 when the guard fails,
//! so it can never trap in generated code. 64-bit division needs a 128-bit dividend and
//! goes through the `Div64`/`Idiv64` helpers.
//!
//! The decimal adjustments (DAA DAS AAA AAS AAM AAD, legacy and compatibility mode
//! only) are in [`bcd`].

pub mod bcd;

use super::operand::{op_size, read, read_gpr, read_op, write, write_gpr, Gpr, Opnd};
use crate::emit::{Cmp, Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::flags::{mask, sext, size_mask};
use crate::helpers::Helper;
use crate::state::reg;
use iced_x86::{Instruction, Mnemonic};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Mul => mul_wide(e, i, false)?,
        Imul if i.op_count() == 1 => mul_wide(e, i, true)?,
        Imul => imul_short(e, i)?,
        Div | Idiv => div(e, i)?,
        Daa | Das | Aaa | Aas | Aam | Aad => bcd::emit(e, i)?,
        _ => return Ok(None),
    }
    Ok(Some(()))
}

fn acc(idx: usize, size: u8) -> Gpr {
    Gpr {
        idx,
        size,
        high8: false,
    }
}

/// Records the flags of a multiplication: CF = OF = `ov`, SF/ZF/PF from `lo`, lazily
/// ([`crate::flags::CcKind::Mul`]).
#[inline(always)]
fn mul_flags<E: Emitter>(e: &mut E, lo: E::V, size: u8, ov: E::V) {
    let z = e.imm(0);
    super::set_flags(e, crate::flags::CcKind::Mul, size, lo, ov, z);
}

/// The 64-bit product of two operands of at most 32 bits, and whether it overflows
/// `size` bytes.
fn narrow_product<E: Emitter>(e: &mut E, a: E::V, b: E::V, size: u8, signed: bool) -> (E::V, E::V) {
    if signed {
        let a = sext(e, a, size);
        let b = sext(e, b, size);
        let p = e.mul(a, b);
        let lo = sext(e, p, size);
        (p, e.cmp(Cmp::Ne, lo, p))
    } else {
        let p = e.mul(a, b);
        let m = e.imm(size_mask(size));
        (p, e.cmp(Cmp::Ult, m, p))
    }
}

/// One-operand MUL/IMUL: rDX:rAX (AX for bytes) = rAX * src.
fn mul_wide<E: Emitter>(e: &mut E, i: &Instruction, signed: bool) -> Sem {
    let size = op_size(i, 0);
    let src = read_op(e, i, 0)?;
    let a = read_gpr(e, acc(reg::RAX, size));
    if size == 8 {
        let lo = e.mul(a, src);
        let (hi, ov) = if signed {
            let hi = e.smulh(a, src);
            let sh = e.imm(63);
            let s = e.sar(lo, sh);
            (hi, e.cmp(Cmp::Ne, hi, s))
        } else {
            let hi = e.umulh(a, src);
            let z = e.imm(0);
            (hi, e.cmp(Cmp::Ne, hi, z))
        };
        e.set_gpr(reg::RAX, lo);
        e.set_gpr(reg::RDX, hi);
        mul_flags(e, lo, size, ov);
        return Ok(());
    }
    let (p, ov) = narrow_product(e, a, src, size, signed);
    if size == 1 {
        write_gpr(e, acc(reg::RAX, 2), p);
    } else {
        let sh = e.imm(size as u64 * 8);
        let hi = e.shr(p, sh);
        write_gpr(e, acc(reg::RAX, size), p);
        write_gpr(e, acc(reg::RDX, size), hi);
    }
    mul_flags(e, p, size, ov);
    Ok(())
}

/// Two- and three-operand IMUL: dest = src1 * src2, truncated.
fn imul_short<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let (a, b) = if i.op_count() == 3 { (1, 2) } else { (0, 1) };
    imul(
        e,
        op_size(i, 0),
        &Opnd::of(i, 0),
        &Opnd::of(i, a),
        &Opnd::of(i, b),
    )
}

/// Two- and three-operand IMUL on resolved operands: `to = x * y`.
#[inline(always)]
pub fn imul<E: Emitter>(e: &mut E, size: u8, to: &Opnd, x: &Opnd, y: &Opnd) -> Sem {
    let (x, y) = (read(e, x)?, read(e, y)?);
    let (lo, ov) = if size == 8 {
        let lo = e.mul(x, y);
        let hi = e.smulh(x, y);
        let sh = e.imm(63);
        let s = e.sar(lo, sh);
        (lo, e.cmp(Cmp::Ne, hi, s))
    } else {
        // Immediates come sign-extended; mask so both operands are plain `size` values.
        let y = mask(e, y, size);
        narrow_product(e, x, y, size, true)
    };
    write(e, to, lo)?;
    mul_flags(e, lo, size, ov);
    Ok(())
}

/// DIV/IDIV: quotient to rAX (AL), remainder to rDX (AH).
fn div<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let size = op_size(i, 0);
    let signed = i.mnemonic() == Mnemonic::Idiv;
    let src = read_op(e, i, 0)?;
    if size == 8 {
        let h = if signed {
            Helper::Idiv64
        } else {
            Helper::Div64
        };
        e.helper(h, &[src])?;
        return Ok(());
    }
    let bits = size as u64 * 8;
    // The dividend: AX, DX:AX or EDX:EAX as one value of 2*size bytes.
    let n = if size == 1 {
        read_gpr(e, acc(reg::RAX, 2))
    } else {
        let lo = read_gpr(e, acc(reg::RAX, size));
        let hi = read_gpr(e, acc(reg::RDX, size));
        let sh = e.imm(bits);
        let h = e.shl(hi, sh);
        e.or(h, lo)
    };
    let (n, d) = if signed {
        (sext(e, n, size * 2), sext(e, src, size))
    } else {
        (n, src)
    };
    let z = e.imm(0);
    let dz = e.cmp(Cmp::Eq, d, z);
    e.raise_if(dz, Fault::new(vec::DE))?;
    let one = e.imm(1);
    let mut bad = dz;
    if signed && size == 4 {
        // i64::MIN / -1 overflows the 64-bit division itself.
        let mn = e.imm(i64::MIN as u64);
        let m1 = e.imm(u64::MAX);
        let a = e.cmp(Cmp::Eq, n, mn);
        let b = e.cmp(Cmp::Eq, d, m1);
        let ab = e.and(a, b);
        bad = e.or(dz, ab);
    }
    let d = e.select(bad, one, d);
    let (q, r) = if signed {
        (e.sdiv(n, d), e.srem(n, d))
    } else {
        (e.udiv(n, d), e.urem(n, d))
    };
    let ov = if signed {
        let s = sext(e, q, size);
        e.cmp(Cmp::Ne, s, q)
    } else {
        let m = e.imm(size_mask(size));
        e.cmp(Cmp::Ult, m, q)
    };
    let ov = e.or(ov, bad);
    e.raise_if(ov, Fault::new(vec::DE))?;
    if size == 1 {
        let q = mask(e, q, 1);
        let r = mask(e, r, 1);
        let sh = e.imm(8);
        let r = e.shl(r, sh);
        let v = e.or(r, q);
        write_gpr(e, acc(reg::RAX, 2), v);
    } else {
        write_gpr(e, acc(reg::RAX, size), q);
        write_gpr(e, acc(reg::RDX, size), r);
    }
    Ok(())
}

/// 128/64-bit unsigned division of RDX:RAX by `divisor`; #DE on zero or overflow.
pub(crate) extern "C" fn helper_div64(
    ctx: *mut crate::ctx::Ctx,
    divisor: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let n = (st.gpr[2] as u128) << 64 | st.gpr[0] as u128;
    if divisor == 0 || n / divisor as u128 > u64::MAX as u128 {
        ctx.set_fault(crate::exception::Fault::new(crate::exception::vec::DE));
        return 0;
    }
    st.gpr[0] = (n / divisor as u128) as u64;
    st.gpr[2] = (n % divisor as u128) as u64;
    0
}

/// 128/64-bit signed division of RDX:RAX by `divisor`; #DE on zero or overflow.
pub(crate) extern "C" fn helper_idiv64(
    ctx: *mut crate::ctx::Ctx,
    divisor: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let n = ((st.gpr[2] as u128) << 64 | st.gpr[0] as u128) as i128;
    let d = divisor as i64 as i128;
    let q = if d == 0 { None } else { n.checked_div(d) };
    match q {
        Some(q) if q >= i64::MIN as i128 && q <= i64::MAX as i128 => {
            st.gpr[0] = q as u64;
            st.gpr[2] = (n % d) as u64;
        }
        _ => ctx.set_fault(crate::exception::Fault::new(crate::exception::vec::DE)),
    }
    0
}
