//! Integer lane arithmetic (helper side, on 128-bit values): PADD*/PSUB* (wrapping and
//! saturating), PMUL*, PMADDWD, PCMPEQ*/PCMPGT*, PMIN/PMAX, PAVG*, PSADBW, and the
//! shifts PSLL*/PSRL*/PSRA*/PSLLDQ/PSRLDQ.

use iced_x86::Mnemonic;

pub fn handles(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Paddb
            | Paddw
            | Paddd
            | Psubb
            | Psubw
            | Psubd
            | Paddsb
            | Paddsw
            | Paddusb
            | Paddusw
            | Psubsb
            | Psubsw
            | Psubusb
            | Psubusw
            | Pmullw
            | Pmulhw
            | Pmulhuw
            | Pmuludq
            | Pmaddwd
            | Pcmpeqb
            | Pcmpeqw
            | Pcmpeqd
            | Pcmpgtb
            | Pcmpgtw
            | Pcmpgtd
            | Pminub
            | Pmaxub
            | Pminsw
            | Pmaxsw
            | Pavgb
            | Pavgw
            | Psadbw
            | Psllw
            | Pslld
            | Psllq
            | Psrlw
            | Psrld
            | Psrlq
            | Psraw
            | Psrad
            | Pslldq
            | Psrldq
    )
}

/// Lane `k` of width `w` bits, zero-extended.
fn lane(v: u128, w: u32, k: u32) -> u64 {
    ((v >> (k * w)) as u64) & lane_mask(w)
}

fn lane_mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// Sign-extends a `w`-bit lane value.
pub fn sx(v: u64, w: u32) -> i64 {
    let sh = 64 - w;
    ((v << sh) as i64) >> sh
}

/// Applies `f` lane-wise to `a` and `b` with lanes of `w` bits.
pub fn map2(a: u128, b: u128, w: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let mut r = 0u128;
    for k in 0..128 / w {
        let v = f(lane(a, w, k), lane(b, w, k)) & lane_mask(w);
        r |= (v as u128) << (k * w);
    }
    r
}

/// Signed saturation of `v` to `w` bits.
pub fn sat_s(v: i64, w: u32) -> u64 {
    let max = (1i64 << (w - 1)) - 1;
    let min = -(1i64 << (w - 1));
    v.clamp(min, max) as u64
}

/// Unsigned saturation of a signed `v` to `w` bits.
pub fn sat_u(v: i64, w: u32) -> u64 {
    v.clamp(0, lane_mask(w) as i64) as u64
}

fn mask_of(c: bool) -> u64 {
    if c {
        u64::MAX
    } else {
        0
    }
}

pub fn run(m: Mnemonic, d: u128, s: u128, _imm: u8) -> Option<u128> {
    use Mnemonic::*;
    Some(match m {
        Paddb => map2(d, s, 8, u64::wrapping_add),
        Paddw => map2(d, s, 16, u64::wrapping_add),
        Paddd => map2(d, s, 32, u64::wrapping_add),
        Psubb => map2(d, s, 8, u64::wrapping_sub),
        Psubw => map2(d, s, 16, u64::wrapping_sub),
        Psubd => map2(d, s, 32, u64::wrapping_sub),
        Paddsb => map2(d, s, 8, |x, y| sat_s(sx(x, 8) + sx(y, 8), 8)),
        Paddsw => map2(d, s, 16, |x, y| sat_s(sx(x, 16) + sx(y, 16), 16)),
        Psubsb => map2(d, s, 8, |x, y| sat_s(sx(x, 8) - sx(y, 8), 8)),
        Psubsw => map2(d, s, 16, |x, y| sat_s(sx(x, 16) - sx(y, 16), 16)),
        Paddusb => map2(d, s, 8, |x, y| (x + y).min(0xff)),
        Paddusw => map2(d, s, 16, |x, y| (x + y).min(0xffff)),
        Psubusb | Psubusw => map2(d, s, if m == Psubusb { 8 } else { 16 }, u64::saturating_sub),
        Pmullw => map2(d, s, 16, u64::wrapping_mul),
        Pmulhw => map2(d, s, 16, |x, y| ((sx(x, 16) * sx(y, 16)) >> 16) as u64),
        Pmulhuw => map2(d, s, 16, |x, y| (x * y) >> 16),
        Pmuludq => map2(d, s, 64, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff)),
        Pmaddwd => map2(d, s, 32, |x, y| {
            let p0 = sx(x & 0xffff, 16) * sx(y & 0xffff, 16);
            let p1 = sx(x >> 16, 16) * sx(y >> 16, 16);
            p0.wrapping_add(p1) as u64
        }),
        Pcmpeqb => map2(d, s, 8, |x, y| mask_of(x == y)),
        Pcmpeqw => map2(d, s, 16, |x, y| mask_of(x == y)),
        Pcmpeqd => map2(d, s, 32, |x, y| mask_of(x == y)),
        Pcmpgtb => map2(d, s, 8, |x, y| mask_of(sx(x, 8) > sx(y, 8))),
        Pcmpgtw => map2(d, s, 16, |x, y| mask_of(sx(x, 16) > sx(y, 16))),
        Pcmpgtd => map2(d, s, 32, |x, y| mask_of(sx(x, 32) > sx(y, 32))),
        Pminub => map2(d, s, 8, u64::min),
        Pmaxub => map2(d, s, 8, u64::max),
        Pminsw => map2(d, s, 16, |x, y| sx(x, 16).min(sx(y, 16)) as u64),
        Pmaxsw => map2(d, s, 16, |x, y| sx(x, 16).max(sx(y, 16)) as u64),
        Pavgb => map2(d, s, 8, |x, y| (x + y + 1) >> 1),
        Pavgw => map2(d, s, 16, |x, y| (x + y + 1) >> 1),
        Psadbw => map2(d, s, 64, |x, y| {
            (0..8)
                .map(|k| {
                    let a = (x >> (8 * k)) & 0xff;
                    let b = (y >> (8 * k)) & 0xff;
                    a.abs_diff(b)
                })
                .sum()
        }),
        Psllw | Pslld | Psllq | Psrlw | Psrld | Psrlq | Psraw | Psrad => shift(m, d, s as u64),
        Pslldq | Psrldq => {
            let n = (s as u64).min(16) as u32 * 8;
            if n >= 128 {
                0
            } else if m == Pslldq {
                d << n
            } else {
                d >> n
            }
        }
        _ => return None,
    })
}

/// Lane shifts; `count` is the full 64-bit count (immediate or XMM low quadword).
fn shift(m: Mnemonic, d: u128, count: u64) -> u128 {
    use Mnemonic::*;
    let w = match m {
        Psllw | Psrlw | Psraw => 16,
        Pslld | Psrld | Psrad => 32,
        _ => 64,
    };
    match m {
        Psraw | Psrad => {
            let n = count.min(w as u64 - 1) as u32;
            map2(d, 0, w, |x, _| (sx(x, w) >> n) as u64)
        }
        _ if count >= w as u64 => 0,
        Psllw | Pslld | Psllq => map2(d, 0, w, |x, _| x << count),
        _ => map2(d, 0, w, |x, _| x >> count),
    }
}
