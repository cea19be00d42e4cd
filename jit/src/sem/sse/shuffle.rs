//! Lane rearrangement (helper side): PSHUFD/PSHUFLW/PSHUFHW, SHUFPS/SHUFPD, PUNPCK*,
//! UNPCK*PS/PD, PACKSSWB/PACKSSDW/PACKUSWB, PINSRW/PEXTRW, PMOVMSKB, MOVMSKPS/PD.

use super::int::{sat_s, sat_u, sx};
use iced_x86::Mnemonic;

pub enum Shuf {
    Xmm(u128),
    Gpr(u64),
}

pub fn handles(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Pshufd
            | Pshuflw
            | Pshufhw
            | Shufps
            | Shufpd
            | Punpcklbw
            | Punpcklwd
            | Punpckldq
            | Punpcklqdq
            | Punpckhbw
            | Punpckhwd
            | Punpckhdq
            | Punpckhqdq
            | Unpcklps
            | Unpcklpd
            | Unpckhps
            | Unpckhpd
            | Packsswb
            | Packssdw
            | Packuswb
            | Pinsrw
            | Pextrw
            | Pmovmskb
            | Movmskps
            | Movmskpd
    )
}

fn get(v: u128, w: u32, k: u32) -> u64 {
    let m = if w >= 64 { u64::MAX } else { (1u64 << w) - 1 };
    ((v >> ((k * w) & 127)) as u64) & m
}

fn build(w: u32, f: impl Fn(u32) -> u64) -> u128 {
    let mut r = 0u128;
    let m = if w >= 64 { u64::MAX } else { (1u64 << w) - 1 };
    for k in 0..128 / w {
        r |= ((f(k) & m) as u128) << (k * w);
    }
    r
}

/// Interleaves the low (`high == false`) or high halves of `d` and `s`, lanes of `w`.
fn unpack(d: u128, s: u128, w: u32, high: bool) -> u128 {
    let base = if high { 64 / w } else { 0 };
    build(w, |k| {
        let src = if k % 2 == 0 { d } else { s };
        get(src, w, base + k / 2)
    })
}

/// Packs the `w`-bit signed lanes of `d` then `s` into `w/2`-bit lanes.
fn pack(d: u128, s: u128, w: u32, unsigned: bool) -> u128 {
    let n = 128 / w;
    build(w / 2, |k| {
        let (src, j) = if k < n { (d, k) } else { (s, k - n) };
        let v = sx(get(src, w, j), w);
        if unsigned {
            sat_u(v, w / 2)
        } else {
            sat_s(v, w / 2)
        }
    })
}

/// Most significant bits of each `w`-bit lane.
fn msbs(v: u128, w: u32) -> u64 {
    (0..128 / w).fold(0, |acc, k| acc | ((get(v, w, k) >> (w - 1)) & 1) << k)
}

pub fn run(m: Mnemonic, d: u128, s: u128, imm: u8) -> Option<Shuf> {
    use Mnemonic::*;
    let im = imm as u32;
    let sel = |k: u32| (im >> (2 * k)) & 3;
    Some(Shuf::Xmm(match m {
        Pshufd => build(32, |k| get(s, 32, sel(k))),
        Pshuflw => build(16, |k| {
            if k < 4 {
                get(s, 16, sel(k))
            } else {
                get(s, 16, k)
            }
        }),
        Pshufhw => build(16, |k| {
            if k < 4 {
                get(s, 16, k)
            } else {
                get(s, 16, 4 + sel(k - 4))
            }
        }),
        Shufps => build(32, |k| get(if k < 2 { d } else { s }, 32, sel(k))),
        Shufpd => build(64, |k| get(if k == 0 { d } else { s }, 64, (im >> k) & 1)),
        Punpcklbw => unpack(d, s, 8, false),
        Punpcklwd => unpack(d, s, 16, false),
        Punpckldq | Unpcklps => unpack(d, s, 32, false),
        Punpcklqdq | Unpcklpd => unpack(d, s, 64, false),
        Punpckhbw => unpack(d, s, 8, true),
        Punpckhwd => unpack(d, s, 16, true),
        Punpckhdq | Unpckhps => unpack(d, s, 32, true),
        Punpckhqdq | Unpckhpd => unpack(d, s, 64, true),
        Packsswb => pack(d, s, 16, false),
        Packssdw => pack(d, s, 32, false),
        Packuswb => pack(d, s, 16, true),
        Pinsrw => {
            let k = (im & 7) * 16;
            (d & !(0xffffu128 << k)) | ((s & 0xffff) << k)
        }
        Pextrw => return Some(Shuf::Gpr(get(s, 16, im & 7))),
        Pmovmskb => return Some(Shuf::Gpr(msbs(s, 8))),
        Movmskps => return Some(Shuf::Gpr(msbs(s, 32))),
        Movmskpd => return Some(Shuf::Gpr(msbs(s, 64))),
        _ => return None,
    }))
}
