//! MUL IMUL DIV IDIV.

use crate::harness::*;
use crate::shift::Loc;
use iced_x86::code_asm::*;

/// Emits `a.$f(<source of size at loc>)`: BL/BH/BX/EBX/RBX or memory at [r15].
macro_rules! with_src {
    ($a:expr, $f:ident, $size:expr, $loc:expr) => {
        match ($size, $loc) {
            (1, Loc::Reg) => $a.$f(bl),
            (1, Loc::High) => $a.$f(bh),
            (1, _) => $a.$f(byte_ptr(r15)),
            (2, Loc::Reg) => $a.$f(bx),
            (2, _) => $a.$f(word_ptr(r15)),
            (4, Loc::Reg) => $a.$f(ebx),
            (4, _) => $a.$f(dword_ptr(r15)),
            (8, Loc::Reg) => $a.$f(rbx),
            _ => $a.$f(qword_ptr(r15)),
        }
        .unwrap()
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Mul,
    Imul,
    Div,
    Idiv,
}

fn emit(a: &mut CodeAssembler, op: Op, size: u8, loc: Loc) {
    match op {
        Op::Mul => with_src!(a, mul, size, loc),
        Op::Imul => with_src!(a, imul, size, loc),
        Op::Div => with_src!(a, div, size, loc),
        Op::Idiv => with_src!(a, idiv, size, loc),
    }
}

/// The one-operand forms: new (RAX, RDX) images, CF/OF, or a #DE.
fn reference(op: Op, size: u8, ra: u64, rd: u64, src: u64) -> Result<(u64, u64, u64), ()> {
    let bits = size as u32 * 8;
    let m = mask(size);
    let (mut nax, mut ndx) = (ra, rd);
    // The accumulator pair as a 2*size value (AX for bytes).
    let (lo, hi) = if size == 1 {
        (ra & 0xff, (ra >> 8) & 0xff)
    } else {
        (ra & m, rd & m)
    };
    let wide = (hi as u128) << bits | lo as u128;
    let put = |nax: &mut u64, ndx: &mut u64, l: u64, h: u64| {
        if size == 1 {
            write_reg(nax, (h & 0xff) << 8 | (l & 0xff), 2, false);
        } else {
            write_reg(nax, l, size, false);
            write_reg(ndx, h, size, false);
        }
    };
    match op {
        Op::Mul | Op::Imul => {
            let (p, ov) = if op == Op::Mul {
                let p = (lo as u128) * (src as u128);
                (p, p >> bits != 0)
            } else {
                let p = sext(lo, size) as i64 as i128 * sext(src, size) as i64 as i128;
                let fits = p == sext(p as u64, size) as i64 as i128;
                (p as u128, !fits)
            };
            put(&mut nax, &mut ndx, p as u64 & m, (p >> bits) as u64 & m);
            Ok((nax, ndx, if ov { CF | OF } else { 0 }))
        }
        Op::Div => {
            if src == 0 {
                return Err(());
            }
            let q = wide / src as u128;
            let r = wide % src as u128;
            if q > m as u128 {
                return Err(());
            }
            put(&mut nax, &mut ndx, q as u64, r as u64);
            Ok((nax, ndx, 0))
        }
        Op::Idiv => {
            let n = (wide << (128 - 2 * bits)) as i128 >> (128 - 2 * bits);
            let d = sext(src, size) as i64 as i128;
            if d == 0 {
                return Err(());
            }
            let (Some(q), Some(r)) = (n.checked_div(d), n.checked_rem(d)) else {
                return Err(());
            };
            if q != sext(q as u64, size) as i64 as i128 {
                return Err(());
            }
            put(&mut nax, &mut ndx, q as u64 & m, r as u64 & m);
            Ok((nax, ndx, 0))
        }
    }
}

#[test]
fn one_operand_mul_div() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0xd1f1_de00_1234_5678);
        let mut faults = 0;
        for op in [Op::Mul, Op::Imul, Op::Div, Op::Idiv] {
            for size in [1u8, 2, 4, 8] {
                let locs: &[Loc] = if size == 1 {
                    &[Loc::Reg, Loc::High, Loc::Mem]
                } else {
                    &[Loc::Reg, Loc::Mem]
                };
                for &loc in locs {
                    let vals = values(size, &mut rng, 3);
                    for (k, &src) in vals.iter().enumerate() {
                        for (j, &lo) in vals.iter().enumerate() {
                            if (j + k) % 3 != 0 && src > 3 {
                                continue;
                            }
                            // High halves: zero, the sign of `lo`, just below the
                            // divisor (largest quotient), random.
                            let sign = if sext(lo, size) >> 63 == 1 {
                                mask(size)
                            } else {
                                0
                            };
                            let below = src.wrapping_sub(1) & mask(size);
                            for hi in [0, sign, below, rng.next() & mask(size)] {
                                faults += run_one(&mut m, &mut rng, op, size, loc, lo, hi, src);
                            }
                        }
                    }
                }
            }
        }
        assert!(faults > 50, "{faults}");
    }
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    m: &mut Machine,
    rng: &mut Rng,
    op: Op,
    size: u8,
    loc: Loc,
    lo: u64,
    hi: u64,
    src: u64,
) -> u32 {
    let mut inp = Input::default();
    for r in inp.gpr.iter_mut() {
        *r = rng.next();
    }
    inp.rflags = if rng.next() & 1 == 0 { 2 } else { 0x8d7 };
    if size == 1 {
        write_reg(&mut inp.gpr[0], hi << 8 | lo, 2, false);
    } else {
        write_reg(&mut inp.gpr[0], lo, size, false);
        write_reg(&mut inp.gpr[2], hi, size, false);
    }
    match loc {
        Loc::Mem => inp.set_mem(0, src, size),
        _ => write_reg(&mut inp.gpr[3], src, size, loc == Loc::High),
    }
    let out = m.run(&|a| emit(a, op, size, loc), &inp);
    let mut want = expect(&inp);
    let what = format!("{op:?} size {size} {loc:?}: hi {hi:#x} lo {lo:#x} src {src:#x}");
    match reference(op, size, inp.gpr[0], inp.gpr[2], src) {
        Ok((new_a, new_d, f)) => {
            want.gpr[0] = new_a;
            want.gpr[2] = new_d;
            want.rflags = (inp.rflags & !(CF | OF)) | f;
            // MUL/IMUL define CF and OF only; DIV/IDIV define no flag.
            let def = if matches!(op, Op::Mul | Op::Imul) {
                CF | OF
            } else {
                0
            };
            check(&what, &out, &want, def);
            0
        }
        Err(()) => {
            want.fault = Some(0);
            check(&what, &out, &want, ARITH);
            1
        }
    }
}

/// `mul ah` / `div ah`: the source is read before AX is written.
#[test]
fn byte_forms_with_ah_source() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let inp = Input {
            gpr: [0x1234_0710, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        let out = m.run(&|a| a.mul(ah).unwrap(), &inp);
        assert_eq!(out.gpr[0], 0x1234_0070, "{tier:?}");
        let out = m.run(&|a| a.div(ah).unwrap(), &inp);
        // 0x0710 / 7 = 0x102: overflow.
        assert_eq!(out.fault, Some(0), "{tier:?}");
        // A positive AH divides AX into at least 256: always an overflow. AX = -1 by
        // AH = -1 gives 1 remainder 0.
        let inp = Input {
            gpr: [0x1234_ffff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        let out = m.run(&|a| a.idiv(ah).unwrap(), &inp);
        assert_eq!(out.fault, None, "{tier:?}");
        assert_eq!(out.gpr[0], 0x1234_0001, "{tier:?}");
    }
}

#[test]
fn two_and_three_operand_imul() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0x1111_2222_3333_4444);
        for size in [2u8, 4, 8] {
            let vals = values(size, &mut rng, 3);
            for &x in &vals {
                for &y in &vals {
                    for form in 0..4 {
                        // 0: reg, reg; 1: reg, mem; 2: reg, reg, imm; 3: reg, mem, imm.
                        let imm: i32 = match form {
                            2 => sext(y, size.min(4)) as i32,
                            3 => (sext(y, 1) as i8) as i32,
                            _ => 0,
                        };
                        let mut inp = Input::default();
                        for r in inp.gpr.iter_mut() {
                            *r = rng.next();
                        }
                        inp.rflags = if rng.next() & 1 == 0 { 2 } else { 0x8d7 };
                        write_reg(&mut inp.gpr[0], x, size, false);
                        write_reg(&mut inp.gpr[3], y, size, false);
                        inp.set_mem(0, y, size);
                        let (a, b) = match form {
                            0 | 1 => (x, y),
                            2 => (y, imm as i64 as u64),
                            _ => (y, imm as i64 as u64),
                        };
                        let p = sext(a, size) as i64 as i128 * sext(b, size) as i64 as i128;
                        let fits = p == sext(p as u64, size) as i64 as i128;
                        let mut want = expect(&inp);
                        write_reg(&mut want.gpr[0], p as u64, size, false);
                        want.rflags = (inp.rflags & !(CF | OF)) | if fits { 0 } else { CF | OF };
                        let out = m.run(
                            &|a| match form {
                                0 => match size {
                                    2 => a.imul_2(ax, bx).unwrap(),
                                    4 => a.imul_2(eax, ebx).unwrap(),
                                    _ => a.imul_2(rax, rbx).unwrap(),
                                },
                                1 => match size {
                                    2 => a.imul_2(ax, word_ptr(r15)).unwrap(),
                                    4 => a.imul_2(eax, dword_ptr(r15)).unwrap(),
                                    _ => a.imul_2(rax, qword_ptr(r15)).unwrap(),
                                },
                                2 => match size {
                                    2 => a.imul_3(ax, bx, imm).unwrap(),
                                    4 => a.imul_3(eax, ebx, imm).unwrap(),
                                    _ => a.imul_3(rax, rbx, imm).unwrap(),
                                },
                                _ => match size {
                                    2 => a.imul_3(ax, word_ptr(r15), imm).unwrap(),
                                    4 => a.imul_3(eax, dword_ptr(r15), imm).unwrap(),
                                    _ => a.imul_3(rax, qword_ptr(r15), imm).unwrap(),
                                },
                            },
                            &inp,
                        );
                        let what =
                            format!("imul form {form} size {size}: {x:#x} {y:#x} imm {imm:#x}");
                        check(&what, &out, &want, CF | OF);
                    }
                }
            }
        }
    }
}

/// The signed-overflow corners of IDIV at every size: the most negative dividend of
/// 2*size bits (at 32 bits that is i64::MIN, which must not reach a host division by
/// -1) and the most negative size-bit value, each divided by -1 (#DE) and by 1.
#[test]
fn idiv_int_min_corners() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0x1d17_0000_0000_0001);
        for size in [1u8, 2, 4, 8] {
            let top = 1u64 << (size as u32 * 8 - 1);
            let dividends = [(top, 0u64), (mask(size), top), (0, top), (mask(size), 0)];
            for (hi, lo) in dividends {
                for src in [mask(size), 1, 2, top] {
                    for loc in [Loc::Reg, Loc::Mem] {
                        run_one(&mut m, &mut rng, Op::Idiv, size, loc, lo, hi, src);
                        run_one(&mut m, &mut rng, Op::Div, size, loc, lo, hi, src);
                    }
                }
            }
        }
    }
}
