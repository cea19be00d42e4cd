//! Random values biased towards the edges: integers, floats, x87 extended values,
//! and whole machine states.

use super::*;

pub(super) fn interesting_f32(rng: &mut Rng) -> u32 {
    const SPECIAL: [u32; 14] = [
        0,
        0x8000_0000,
        0x3f80_0000,
        0xbfc0_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001,
        0xffc0_0001,
        0x0000_0001,
        0x007f_ffff,
        0x0080_0000,
        0x7f7f_ffff,
        0x4f00_0000,
    ];
    match rng.below(4) {
        0 => *rng.pick(&SPECIAL).unwrap_or(&0),
        1 => (rng.next_u64() as u32) & 0x807f_ffff, // denormal or zero
        _ => {
            let exp = 127 - 24 + rng.below(48) as u32;
            (rng.next_u64() as u32 & 0x807f_ffff) | exp << 23
        }
    }
}

pub(super) fn interesting_f64(rng: &mut Rng) -> u64 {
    const SPECIAL: [u64; 14] = [
        0,
        0x8000_0000_0000_0000,
        0x3ff0_0000_0000_0000,
        0xbff8_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0x7ff0_0000_0000_0001,
        0xfff8_0000_0000_0001,
        1,
        0x000f_ffff_ffff_ffff,
        0x0010_0000_0000_0000,
        0x7fef_ffff_ffff_ffff,
        0x43e0_0000_0000_0000,
    ];
    match rng.below(4) {
        0 => *rng.pick(&SPECIAL).unwrap_or(&0),
        1 => rng.next_u64() & 0x800f_ffff_ffff_ffff,
        _ => {
            let exp = 1023 - 40 + rng.below(80);
            (rng.next_u64() & 0x800f_ffff_ffff_ffff) | exp << 52
        }
    }
}

pub(super) fn xmm_half(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.next_u64(),
        1 => interesting_f32(rng) as u64 | (interesting_f32(rng) as u64) << 32,
        2 | 3 => interesting_f64(rng),
        4 => {
            let a = (rng.below(200) as i32 - 100) as u32 as u64;
            let b = (rng.below(200) as i32 - 100) as u32 as u64;
            a | b << 32
        }
        _ => rng.interesting_u64(),
    }
}

/// An 80-bit extended value biased towards the classes x87 arithmetic cares about.
pub(super) fn interesting_f80(rng: &mut Rng) -> [u8; 10] {
    let sign = (rng.below(2) as u16) << 15;
    let (exp, mant): (u16, u64) = match rng.below(10) {
        0 => (0, 0),
        1 => (0, rng.next_u64() >> 1), // denormal
        2 => (0x7fff, 1 << 63),        // infinity
        3 => (0x7fff, 3 << 62),        // QNaN (indefinite-like)
        4 => (0x7fff, (1 << 63) | (rng.next_u64() >> 2) | 1), // NaN, random payload
        5 => {
            // Small integers (FIST, FRNDINT, FPREM).
            let v = rng.below(1 << 20).max(1);
            let lz = v.leading_zeros();
            (16383 + 63 - lz as u16, v << lz)
        }
        6 => (16383 + rng.below(64) as u16, (1 << 63) | rng.next_u64()),
        _ => (
            16383 - 80 + rng.below(160) as u16,
            (1 << 63) | rng.next_u64(),
        ),
    };
    let mut v = [0u8; 10];
    v[..8].copy_from_slice(&mant.to_le_bytes());
    v[8..].copy_from_slice(&(exp | sign).to_le_bytes());
    v
}

pub(super) fn random_x87(rng: &mut Rng) -> crate::state::X87 {
    let mut x = crate::state::X87::default();
    let pc = *rng.pick(&[0u16, 2, 3, 3]).unwrap_or(&3);
    let rc = rng.below(4) as u16;
    // All exceptions masked; precision and rounding random.
    x.fcw = 0x7f | pc << 8 | rc << 10;
    let top = rng.below(8) as u16;
    let cc = (rng.next_u64() as u16) & 0x4700;
    let flags = if rng.chance(2) {
        rng.next_u64() as u16 & 0x3f
    } else {
        0
    };
    x.fsw = top << 11 | cc | flags;
    // Mostly a few registers in use from the top down, sometimes a full or random stack.
    x.tags = match rng.below(4) {
        0 => rng.next_u64() as u8,
        1 => 0xff,
        _ => {
            let n = rng.below(9) as u32;
            let mut t = 0u8;
            for i in 0..n {
                t |= 1 << ((top as u32 + i) & 7);
            }
            t
        }
    };
    for v in x.st.iter_mut() {
        *v = interesting_f80(rng);
    }
    x
}

/// A random machine state (before operands constrain it).
pub fn random_state(rng: &mut Rng) -> MachineState {
    let mut s = MachineState::default();
    for r in 0..16 {
        s.gpr[r] = rng.interesting_u64();
    }
    s.gpr[4] = STACK_TOP;
    s.rflags = (rng.next_u64() & 0x8d5) | 2;
    let rc = rng.below(4) as u32;
    s.mxcsr = 0x1f80 | rc << 13;
    if rng.chance(4) {
        s.mxcsr |= 0x8000; // FTZ
    }
    if rng.chance(4) {
        s.mxcsr |= 0x40; // DAZ
    }
    if rng.chance(2) {
        s.mxcsr |= rng.next_u64() as u32 & 0x3f;
    }
    for x in 0..16 {
        let lo = xmm_half(rng);
        let hi = if rng.chance(4) { lo } else { xmm_half(rng) };
        s.xmm[x] = [lo, hi];
    }
    s.x87 = random_x87(rng);
    for chunk in s.data.chunks_mut(8) {
        let v = rng.interesting_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    s
}
