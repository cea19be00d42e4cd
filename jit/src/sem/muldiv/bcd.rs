//! Decimal adjustments: DAA DAS AAA AAS AAM AAD (invalid in 64-bit mode, where iced-x86
//! does not decode them).
//!
//! Flags follow the SDM; the undefined ones get fixed choices: OF is cleared by all six,
//! SF/ZF/PF come from AL for AAA/AAS, and AF/CF are cleared by AAM/AAD. DAS follows
//! the SDM's pseudo-code, where the second adjustment only ever sets CF (so a borrow
//! from the low digit alone leaves CF set).

use crate::emit::{Cmp, Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::flags::mask;
use crate::sem::operand::{read_gpr, write_gpr, Gpr};
use crate::sem::shift::flagbits::{bit, place, szp};
use crate::sem::{arith_flags, set_eflags};
use crate::state::reg;
use iced_x86::{Instruction, Mnemonic};

fn ax() -> Gpr {
    Gpr {
        idx: reg::RAX,
        size: 2,
        high8: false,
    }
}

fn al() -> Gpr {
    Gpr { size: 1, ..ax() }
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    match i.mnemonic() {
        Mnemonic::Daa | Mnemonic::Das => daa_das(e, i.mnemonic() == Mnemonic::Daa),
        Mnemonic::Aaa | Mnemonic::Aas => aaa_aas(e, i.mnemonic() == Mnemonic::Aaa),
        _ => aam_aad(e, i),
    }
}

/// 1 when the low digit of AL needs adjusting: (AL & 0xf) > 9 or AF.
fn low_digit_adjust<E: Emitter>(e: &mut E, alv: E::V, af: E::V) -> E::V {
    let f = e.imm(0xf);
    let low = e.and(alv, f);
    let nine = e.imm(9);
    let gt = e.cmp(Cmp::Ult, nine, low);
    e.or(gt, af)
}

fn daa_das<E: Emitter>(e: &mut E, add: bool) -> Sem {
    let old = arith_flags(e)?;
    let cf0 = bit(e, old, 0);
    let af0 = bit(e, old, 4);
    let a0 = read_gpr(e, al());
    let adj_low = low_digit_adjust(e, a0, af0);
    let six = e.imm(6);
    let a1 = if add { e.add(a0, six) } else { e.sub(a0, six) };
    // Carry out of AL + 6 / borrow from AL - 6.
    let ff = e.imm(0xff);
    let carry = if add {
        e.cmp(Cmp::Ult, ff, a1)
    } else {
        e.cmp(Cmp::Ult, a0, six)
    };
    let c1 = e.or(cf0, carry);
    let a = e.select(adj_low, a1, a0);
    let a = mask(e, a, 1);
    let z = e.imm(0);
    let cf = e.select(adj_low, c1, z);
    let lim = e.imm(0x99);
    let big = e.cmp(Cmp::Ult, lim, a0);
    let adj_high = e.or(big, cf0);
    let sixty = e.imm(0x60);
    let a2 = if add {
        e.add(a, sixty)
    } else {
        e.sub(a, sixty)
    };
    let a = e.select(adj_high, a2, a);
    let a = mask(e, a, 1);
    let one = e.imm(1);
    let cf = if add {
        // DAA: CF = adj_high (the first carry cannot happen without it).
        adj_high
    } else {
        e.select(adj_high, one, cf)
    };
    write_gpr(e, al(), a);
    let f = szp(e, a, 1);
    let f = e.or(f, cf);
    let afb = place(e, adj_low, 4);
    let f = e.or(f, afb);
    set_eflags(e, f);
    Ok(())
}

fn aaa_aas<E: Emitter>(e: &mut E, add: bool) -> Sem {
    let old = arith_flags(e)?;
    let af0 = bit(e, old, 4);
    let x = read_gpr(e, ax());
    let adj = low_digit_adjust(e, x, af0);
    let x1 = if add {
        let k = e.imm(0x106);
        e.add(x, k)
    } else {
        // AX - 6, then AH - 1.
        let k = e.imm(0x106);
        e.sub(x, k)
    };
    let x = e.select(adj, x1, x);
    let m = e.imm(0xff0f);
    let x = e.and(x, m);
    write_gpr(e, ax(), x);
    let f = szp(e, x, 1);
    let f = e.or(f, adj);
    let afb = place(e, adj, 4);
    let f = e.or(f, afb);
    set_eflags(e, f);
    Ok(())
}

fn aam_aad<E: Emitter>(e: &mut E, i: &Instruction) -> Sem {
    let base = i.immediate8() as u64;
    let x = read_gpr(e, ax());
    let alv = mask(e, x, 1);
    let r = if i.mnemonic() == Mnemonic::Aam {
        if base == 0 {
            let one = e.imm(1);
            e.raise_if(one, Fault::new(vec::DE))?;
            return Ok(());
        }
        let b = e.imm(base);
        let q = e.udiv(alv, b);
        let rem = e.urem(alv, b);
        let sh = e.imm(8);
        let q = e.shl(q, sh);
        e.or(q, rem)
    } else {
        let sh = e.imm(8);
        let ah = e.shr(x, sh);
        let b = e.imm(base);
        let p = e.mul(ah, b);
        let s = e.add(alv, p);
        mask(e, s, 1)
    };
    write_gpr(e, ax(), r);
    let f = szp(e, r, 1);
    set_eflags(e, f);
    Ok(())
}
