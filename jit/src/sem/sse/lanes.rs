//! Inline (emitter) versions of the integer lane operations that dominate string and
//! memory routines: PADD/PSUB B/W/D, PCMPEQ B/W/D, PMINUB/PMAXUB, PMOVMSKB,
//! MOVMSKPS/PD, shifts by an immediate, PSLLDQ/PSRLDQ, PSHUFD and the dword/qword
//! unpacks. Each works on the two 64-bit halves with SWAR arithmetic (carries kept
//! inside lanes with masks), so the JIT emits plain integer IR instead of a helper call.
//! The helper versions in [`super::int`] and [`super::shuffle`] remain the reference and
//! handle everything else.

use super::super::operand::{gpr_of, write_gpr};
use super::{guard, read_src, xmm_op};
use crate::emit::{Emitter, Sem};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// `v` repeated in every `w`-bit lane of a 64-bit word.
const fn rep(v: u64, w: u32) -> u64 {
    let mut r = 0;
    let mut k = 0;
    while k < 64 {
        r |= v << k;
        k += w;
    }
    r
}

fn ones(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1 << w) - 1
    }
}

fn width(m: Mnemonic) -> u32 {
    use Mnemonic::*;
    match m {
        Paddb | Psubb | Pcmpeqb | Pminub | Pmaxub => 8,
        Paddw | Psubw | Pcmpeqw | Psllw | Psrlw | Psraw => 16,
        Paddd | Psubd | Pcmpeqd | Pslld | Psrld | Psrad => 32,
        _ => 64,
    }
}

/// The two-operand lane operations with an inline version (any source).
fn binary(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Paddb
            | Paddw
            | Paddd
            | Psubb
            | Psubw
            | Psubd
            | Pcmpeqb
            | Pcmpeqw
            | Pcmpeqd
            | Pminub
            | Pmaxub
            | Pshufd
            | Punpckldq
            | Punpckhdq
            | Punpcklqdq
            | Punpckhqdq
            | Unpcklps
            | Unpckhps
            | Unpcklpd
            | Unpckhpd
            | Shufpd
    )
}

/// The lane shifts (inline with an immediate count).
fn is_lane_shift(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Psllw | Pslld | Psllq | Psrlw | Psrld | Psrlq | Psraw | Psrad
    )
}

/// True for the mnemonics [`emit`] may handle (some only with certain operands).
pub fn inline(m: Mnemonic) -> bool {
    use Mnemonic::*;
    binary(m) || is_lane_shift(m) || matches!(m, Pslldq | Psrldq | Pmovmskb | Movmskps | Movmskpd)
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let m = i.mnemonic();
    let imm_shift =
        is_lane_shift(m) && i.op_kind(1) != OpKind::Register && i.op_kind(1) != OpKind::Memory;
    let binary = binary(m);
    if matches!(m, Pmovmskb | Movmskps | Movmskpd) {
        return mask_to_gpr(e, i);
    }
    if !(binary || imm_shift || matches!(m, Pslldq | Psrldq)) {
        return Ok(None);
    }
    let Some(d) = xmm_op(i, 0) else {
        return Ok(None);
    };
    guard(e)?;
    let w = width(m);
    let last = i.op_count().saturating_sub(1);
    let imm = match i.op_kind(last) {
        OpKind::Immediate8 => i.immediate(last),
        _ => 0,
    };
    if imm_shift || matches!(m, Pslldq | Psrldq) {
        let x = [e.xmm(d, 0), e.xmm(d, 1)];
        let r = match m {
            Pslldq => byte_shift(e, x, imm, true),
            Psrldq => byte_shift(e, x, imm, false),
            _ => [0, 1].map(|h| lane_shift(e, m, w, x[h], imm)),
        };
        e.set_xmm(d, 0, r[0]);
        e.set_xmm(d, 1, r[1]);
        return Ok(Some(()));
    }
    let (slo, shi) = read_src(e, i, 1)?;
    let s = [slo, shi];
    let x = [e.xmm(d, 0), e.xmm(d, 1)];
    let r = match m {
        Pshufd => {
            let dw = [
                low32(e, s[0]),
                high32(e, s[0]),
                low32(e, s[1]),
                high32(e, s[1]),
            ];
            let sel = |k: u32| dw[((imm >> (2 * k)) & 3) as usize];
            [join32(e, sel(0), sel(1)), join32(e, sel(2), sel(3))]
        }
        Punpckldq | Unpcklps | Punpckhdq | Unpckhps => {
            let h = usize::from(matches!(m, Punpckhdq | Unpckhps));
            let (a0, a1) = (low32(e, x[h]), high32(e, x[h]));
            let (b0, b1) = (low32(e, s[h]), high32(e, s[h]));
            [join32(e, a0, b0), join32(e, a1, b1)]
        }
        Punpcklqdq | Unpcklpd => [x[0], s[0]],
        Punpckhqdq | Unpckhpd => [x[1], s[1]],
        Shufpd => [x[(imm & 1) as usize], s[((imm >> 1) & 1) as usize]],
        _ => [0, 1].map(|h| lane_op(e, m, w, x[h], s[h])),
    };
    e.set_xmm(d, 0, r[0]);
    e.set_xmm(d, 1, r[1]);
    Ok(Some(()))
}

fn low32<E: Emitter>(e: &mut E, v: E::V) -> E::V {
    let m = e.imm(0xffff_ffff);
    e.and(v, m)
}

fn high32<E: Emitter>(e: &mut E, v: E::V) -> E::V {
    let n = e.imm(32);
    e.shr(v, n)
}

/// `lo | hi << 32` for 32-bit values.
fn join32<E: Emitter>(e: &mut E, lo: E::V, hi: E::V) -> E::V {
    let n = e.imm(32);
    let h = e.shl(hi, n);
    e.or(lo, h)
}

/// One 64-bit half of a two-operand lane operation.
fn lane_op<E: Emitter>(e: &mut E, m: Mnemonic, w: u32, x: E::V, y: E::V) -> E::V {
    use Mnemonic::*;
    let hb = e.imm(rep(1 << (w - 1), w));
    let lb = e.imm(!rep(1 << (w - 1), w));
    match m {
        Paddb | Paddw | Paddd => {
            // Add the low bits of each lane, then fix the top bit without carry-out.
            let xl = e.and(x, lb);
            let yl = e.and(y, lb);
            let sum = e.add(xl, yl);
            let t = e.xor(x, y);
            let top = e.and(t, hb);
            e.xor(sum, top)
        }
        Psubb | Psubw | Psubd => {
            let xh = e.or(x, hb);
            let yl = e.and(y, lb);
            let diff = e.sub(xh, yl);
            let ny = e.not(y);
            let t = e.xor(x, ny);
            let top = e.and(t, hb);
            e.xor(diff, top)
        }
        Pcmpeqb | Pcmpeqw | Pcmpeqd => {
            // A lane of t = x ^ y is zero iff neither its low bits (added to all-ones
            // low bits, which carries into the top bit) nor its top bit are set.
            let t = e.xor(x, y);
            let tl = e.and(t, lb);
            let s = e.add(tl, lb);
            let any = e.or(s, t);
            let none = e.not(any);
            let z = e.and(none, hb);
            spread(e, z, w)
        }
        _ => {
            // PMINUB / PMAXUB: per-byte unsigned x < y, then select.
            let xh = e.or(x, hb);
            let yl = e.and(y, lb);
            let t = e.sub(xh, yl); // top bit: low7(x) >= low7(y)
            let nx = e.not(x);
            let top_lt = e.and(nx, y); // top bit: x7 = 0, y7 = 1
            let eq = e.xor(x, y);
            let eq = e.not(eq); // top bit: x7 == y7
            let nt = e.not(t);
            let low_lt = e.and(eq, nt);
            let lt = e.or(top_lt, low_lt);
            let lt = e.and(lt, hb);
            let mask = spread(e, lt, w);
            let (a, b) = if m == Pminub { (x, y) } else { (y, x) };
            let pa = e.and(a, mask);
            let nm = e.not(mask);
            let pb = e.and(b, nm);
            e.or(pa, pb)
        }
    }
}

/// Turns lane top bits into all-ones lanes.
fn spread<E: Emitter>(e: &mut E, top: E::V, w: u32) -> E::V {
    let n = e.imm(w as u64 - 1);
    let b = e.shr(top, n);
    let o = e.imm(ones(w));
    e.mul(b, o)
}

/// One half of PSLL/PSRL/PSRA by an immediate count.
fn lane_shift<E: Emitter>(e: &mut E, m: Mnemonic, w: u32, x: E::V, count: u64) -> E::V {
    use Mnemonic::*;
    let arith = matches!(m, Psraw | Psrad);
    if count >= w as u64 && !arith {
        return e.imm(0);
    }
    let n = count.min(w as u64 - 1) as u32;
    let nv = e.imm(n as u64);
    match m {
        Psllw | Pslld | Psllq => {
            let v = e.shl(x, nv);
            let k = e.imm(rep((ones(w) << n) & ones(w), w));
            e.and(v, k)
        }
        Psrlw | Psrld | Psrlq => {
            let v = e.shr(x, nv);
            let k = e.imm(rep(ones(w) >> n, w));
            e.and(v, k)
        }
        _ => {
            let v = e.shr(x, nv);
            let k = e.imm(rep(ones(w) >> n, w));
            let v = e.and(v, k);
            let hb = e.imm(rep(1 << (w - 1), w));
            let sign = e.and(x, hb);
            let wn = e.imm(w as u64 - 1);
            let sign = e.shr(sign, wn);
            let fill = e.imm((ones(n) << (w - n)) & ones(w));
            let f = e.mul(sign, fill);
            e.or(v, f)
        }
    }
}

/// PSLLDQ / PSRLDQ by `bytes`.
fn byte_shift<E: Emitter>(e: &mut E, x: [E::V; 2], bytes: u64, left: bool) -> [E::V; 2] {
    let s = bytes.min(16) * 8;
    let z = e.imm(0);
    if s == 0 {
        return x;
    }
    if s >= 128 {
        return [z, z];
    }
    let (near, far) = if left { (x[0], x[1]) } else { (x[1], x[0]) };
    let (moved_near, moved_far) = if s >= 64 {
        let n = e.imm(s - 64);
        let v = if left { e.shl(near, n) } else { e.shr(near, n) };
        (z, v)
    } else {
        let n = e.imm(s);
        let back = e.imm(64 - s);
        let (a, b, c) = if left {
            (e.shl(near, n), e.shl(far, n), e.shr(near, back))
        } else {
            (e.shr(near, n), e.shr(far, n), e.shl(near, back))
        };
        (a, e.or(b, c))
    };
    if left {
        [moved_near, moved_far]
    } else {
        [moved_far, moved_near]
    }
}

/// PMOVMSKB / MOVMSKPS / MOVMSKPD: sign bits of the lanes into a GPR.
fn mask_to_gpr<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    let (Some(g), Some(x)) = (gpr_of(i.op_register(0)), xmm_op(i, 1)) else {
        return Ok(None);
    };
    if i.op_kind(0) != OpKind::Register {
        return Ok(None);
    }
    guard(e)?;
    let m = i.mnemonic();
    let mut halves = [e.imm(0), e.imm(0)];
    for (h, out) in halves.iter_mut().enumerate() {
        let v = e.xmm(x, h);
        *out = match m {
            Pmovmskb => {
                // Byte k's top bit to bit 56 + k: the partial products cannot collide.
                let seven = e.imm(7);
                let t = e.shr(v, seven);
                let lsb = e.imm(rep(1, 8));
                let t = e.and(t, lsb);
                let magic = e.imm(0x0102_0408_1020_4080);
                let p = e.mul(t, magic);
                let n = e.imm(56);
                e.shr(p, n)
            }
            Movmskps => {
                let n31 = e.imm(31);
                let a = e.shr(v, n31);
                let one = e.imm(1);
                let a = e.and(a, one);
                let n62 = e.imm(62);
                let b = e.shr(v, n62);
                let two = e.imm(2);
                let b = e.and(b, two);
                e.or(a, b)
            }
            _ => {
                let n = e.imm(63);
                e.shr(v, n)
            }
        };
    }
    let per_half = match m {
        Pmovmskb => 8,
        Movmskps => 2,
        _ => 1,
    };
    let n = e.imm(per_half);
    let hi = e.shl(halves[1], n);
    let r = e.or(halves[0], hi);
    write_gpr(e, g, r);
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    //! The inline versions against the helper's reference versions.
    use super::super::{int, join, shuffle};
    use crate::ctx::Ctx;
    use crate::interp::Interp;
    use crate::state::CR4_OSFXSR;
    use iced_x86::code_asm::*;
    use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};

    fn decode(f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Instruction {
        let mut a = CodeAssembler::new(64).unwrap();
        f(&mut a).unwrap();
        let bytes = a.assemble(0).unwrap();
        Decoder::with_ip(64, &bytes, 0, DecoderOptions::NONE).decode()
    }

    #[test]
    fn inline_lanes_match_helper_reference() {
        let mut ram = vec![0u8; 4096];
        let mut ctx = Ctx::new(ram.as_mut_ptr(), 4096);
        ctx.state.cr4 |= CR4_OSFXSR;
        let forms: Vec<Instruction> = vec![
            decode(|a| a.paddb(xmm1, xmm2)),
            decode(|a| a.paddw(xmm1, xmm2)),
            decode(|a| a.paddd(xmm1, xmm2)),
            decode(|a| a.psubb(xmm1, xmm2)),
            decode(|a| a.psubw(xmm1, xmm2)),
            decode(|a| a.psubd(xmm1, xmm2)),
            decode(|a| a.pcmpeqb(xmm1, xmm2)),
            decode(|a| a.pcmpeqw(xmm1, xmm2)),
            decode(|a| a.pcmpeqd(xmm1, xmm2)),
            decode(|a| a.pminub(xmm1, xmm2)),
            decode(|a| a.pmaxub(xmm1, xmm2)),
            decode(|a| a.pshufd(xmm1, xmm2, 0x9c)),
            decode(|a| a.punpckldq(xmm1, xmm2)),
            decode(|a| a.punpckhdq(xmm1, xmm2)),
            decode(|a| a.punpcklqdq(xmm1, xmm2)),
            decode(|a| a.punpckhqdq(xmm1, xmm2)),
            decode(|a| a.shufpd(xmm1, xmm2, 2)),
            decode(|a| a.psllw(xmm1, 3)),
            decode(|a| a.psrld(xmm1, 31)),
            decode(|a| a.psrlq(xmm1, 64)),
            decode(|a| a.psraw(xmm1, 9)),
            decode(|a| a.psrad(xmm1, 40)),
            decode(|a| a.pslldq(xmm1, 5)),
            decode(|a| a.psrldq(xmm1, 12)),
            decode(|a| a.pmovmskb(eax, xmm2)),
            decode(|a| a.movmskps(eax, xmm2)),
            decode(|a| a.movmskpd(eax, xmm2)),
        ];
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in &forms {
            for _ in 0..200 {
                let x = [rnd(), rnd()];
                let mut y = [rnd(), rnd()];
                y[0] = (y[0] & rnd()) | (x[0] & !(y[0] & rnd()));
                ctx.state.xmm[1] = x;
                ctx.state.xmm[2] = y;
                let mut it = Interp::new(&mut ctx);
                assert_eq!(super::emit(&mut it, i), Ok(Some(())), "{i}");
                let (d, s) = (join(x[0], x[1]), join(y[0], y[1]));
                let imm = if i.op_count() > 1 && i.op_kind(i.op_count() - 1) == OpKind::Immediate8 {
                    i.immediate(i.op_count() - 1) as u8
                } else {
                    0
                };
                // Immediate shifts pass the count as the source.
                let src = if i.op_count() == 2 && imm != 0 {
                    imm as u128
                } else {
                    s
                };
                let m = i.mnemonic();
                let want = int::run(m, d, src, imm)
                    .map(|v| (v, 0))
                    .or_else(|| {
                        shuffle::run(m, d, s, imm).map(|o| match o {
                            shuffle::Shuf::Xmm(v) => (v, 0),
                            shuffle::Shuf::Gpr(g) => (d, g),
                        })
                    })
                    .unwrap();
                let got = (
                    join(ctx.state.xmm[1][0], ctx.state.xmm[1][1]),
                    ctx.state.gpr[0],
                );
                let got = if matches!(
                    m,
                    Mnemonic::Pmovmskb | Mnemonic::Movmskps | Mnemonic::Movmskpd
                ) {
                    (d, got.1)
                } else {
                    (got.0, 0)
                };
                assert_eq!(got, want, "{i} {x:x?} {y:x?}");
            }
        }
    }
}
