//! BT BTS BTR BTC, BSF BSR TZCNT LZCNT POPCNT, BMI1.

use crate::harness::*;
use crate::shift::Loc;
use crate::with_dst_src;
use iced_x86::code_asm::*;

/// Emits `a.$f(<AX/EAX/RAX>, <BX/EBX/RBX or memory at [r15]> rest...)`.
macro_rules! reg_src {
    (@wide $a:expr, $f:ident, $size:expr, $loc:expr) => {
        match ($size, $loc) {
            (4, Loc::Reg) => $a.$f(eax, ebx),
            (4, _) => $a.$f(eax, dword_ptr(r15)),
            (_, Loc::Reg) => $a.$f(rax, rbx),
            _ => $a.$f(rax, qword_ptr(r15)),
        }
        .unwrap()
    };
    ($a:expr, $f:ident, $size:expr, $loc:expr $(, $rest:expr)*) => {
        match ($size, $loc) {
            (2, Loc::Reg) => $a.$f(ax, bx $(, $rest)*),
            (2, _) => $a.$f(ax, word_ptr(r15) $(, $rest)*),
            (4, Loc::Reg) => $a.$f(eax, ebx $(, $rest)*),
            (4, _) => $a.$f(eax, dword_ptr(r15) $(, $rest)*),
            (_, Loc::Reg) => $a.$f(rax, rbx $(, $rest)*),
            _ => $a.$f(rax, qword_ptr(r15) $(, $rest)*),
        }
        .unwrap()
    };
}

fn random_input(rng: &mut Rng) -> Input {
    let mut inp = Input::default();
    for r in inp.gpr.iter_mut() {
        *r = rng.next();
    }
    for b in inp.mem.iter_mut() {
        *b = rng.next() as u8;
    }
    inp.rflags = if rng.next() & 1 == 0 { 2 } else { 0x8d7 };
    inp
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    Bt,
    Bts,
    Btr,
    Btc,
}

fn emit_bt(a: &mut CodeAssembler, op: BitOp, size: u8, loc: Loc, imm: Option<u32>) {
    macro_rules! go {
        ($f:ident) => {
            match imm {
                Some(v) => with_dst_src!(a, $f, size, loc, (v, v, v)),
                None => with_dst_src!(a, $f, size, loc, (bx, ebx, rbx)),
            }
        };
    }
    match op {
        BitOp::Bt => go!(bt),
        BitOp::Bts => go!(bts),
        BitOp::Btr => go!(btr),
        BitOp::Btc => go!(btc),
    }
}

#[test]
fn bit_test_and_modify() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0xb17_0ff5e7);
        for op in [BitOp::Bt, BitOp::Bts, BitOp::Btr, BitOp::Btc] {
            for size in [2u8, 4, 8] {
                let bits = size as i64 * 8;
                for loc in [Loc::Reg, Loc::Mem] {
                    // Offsets: in range, beyond the operand, negative (memory reaches
                    // other units; registers take them modulo the width).
                    let mut offs: Vec<i64> = vec![0, 1, bits - 1, bits, bits + 3, -1, -bits];
                    offs.extend([-255, -129, 100, 200, 255]);
                    for _ in 0..6 {
                        offs.push((rng.next() % 512) as i64 - 256);
                    }
                    for &off in &offs {
                        for imm in [false, true] {
                            let mut inp = random_input(&mut rng);
                            let v = rng.next() & mask(size);
                            match loc {
                                Loc::Mem => inp.set_mem(0, v, size),
                                _ => write_reg(&mut inp.gpr[0], v, size, false),
                            }
                            let imm_v = (off as u64 & 0xff) as u32;
                            write_reg(&mut inp.gpr[3], off as u64, size, false);
                            // Which unit and bit.
                            let (unit, bitn) = if loc == Loc::Mem && !imm {
                                // The register holds `off` as a signed `size` value.
                                (off.div_euclid(bits) * size as i64, off.rem_euclid(bits))
                            } else if imm {
                                (0, imm_v as i64 % bits)
                            } else {
                                (0, off.rem_euclid(bits))
                            };
                            let old = match loc {
                                Loc::Mem => expect(&inp).mem_at(unit, size),
                                _ => v,
                            };
                            let cf = old >> bitn & 1;
                            let new = match op {
                                BitOp::Bt => old,
                                BitOp::Bts => old | 1 << bitn,
                                BitOp::Btr => old & !(1 << bitn),
                                BitOp::Btc => old ^ 1 << bitn,
                            };
                            let mut want = expect(&inp);
                            want.rflags = (inp.rflags & !CF) | cf;
                            match loc {
                                Loc::Mem => {
                                    let mut w = inp.clone();
                                    w.set_mem(unit, new, size);
                                    want.mem = w.mem;
                                }
                                _ => {
                                    if op != BitOp::Bt {
                                        write_reg(&mut want.gpr[0], new, size, false)
                                    }
                                }
                            }
                            let out =
                                m.run(&|a| emit_bt(a, op, size, loc, imm.then_some(imm_v)), &inp);
                            let what = format!("{op:?} size {size} {loc:?} off {off} imm {imm}");
                            // CF defined; ZF unaffected; OF SF AF PF undefined.
                            check(&what, &out, &want, CF | ZF);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    Bsf,
    Bsr,
    Tzcnt,
    Lzcnt,
    Popcnt,
}

/// (result or None for "unchanged", flags, defined flags).
pub fn scan_ref(op: Scan, size: u8, src: u64) -> (Option<u64>, u64, u64) {
    let bits = size as u64 * 8;
    let z = if src == 0 { ZF } else { 0 };
    match op {
        Scan::Bsf | Scan::Bsr if src == 0 => (None, ZF, ZF),
        Scan::Bsf => (Some(src.trailing_zeros() as u64), 0, ZF),
        Scan::Bsr => (Some(63 - src.leading_zeros() as u64), 0, ZF),
        Scan::Tzcnt | Scan::Lzcnt => {
            let r = if src == 0 {
                bits
            } else if op == Scan::Tzcnt {
                src.trailing_zeros() as u64
            } else {
                src.leading_zeros() as u64 - (64 - bits)
            };
            let f = if src == 0 { CF } else { 0 } | if r == 0 { ZF } else { 0 };
            (Some(r), f, CF | ZF)
        }
        Scan::Popcnt => (Some(src.count_ones() as u64), z, ARITH),
    }
}

#[test]
fn bit_scans_and_counts() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0x5ca7_7e57);
        for op in [Scan::Bsf, Scan::Bsr, Scan::Tzcnt, Scan::Lzcnt, Scan::Popcnt] {
            for size in [2u8, 4, 8] {
                for loc in [Loc::Reg, Loc::Mem] {
                    let mut vals = values(size, &mut rng, 4);
                    for k in 0..size as u32 * 8 {
                        vals.push(1 << k);
                    }
                    for &src in &vals {
                        let mut inp = random_input(&mut rng);
                        match loc {
                            Loc::Mem => inp.set_mem(0, src, size),
                            _ => write_reg(&mut inp.gpr[3], src, size, false),
                        }
                        let (r, f, def) = scan_ref(op, size, src);
                        let mut want = expect(&inp);
                        want.rflags = (inp.rflags & !ARITH) | f;
                        // BSF/BSR of zero: the value stays, but the register is still
                        // written (a 32-bit destination is zero-extended, as on Intel).
                        let v = r.unwrap_or(inp.gpr[0] & mask(size));
                        write_reg(&mut want.gpr[0], v, size, false);
                        let out = m.run(
                            &|a| match op {
                                Scan::Bsf => reg_src!(a, bsf, size, loc),
                                Scan::Bsr => reg_src!(a, bsr, size, loc),
                                Scan::Tzcnt => reg_src!(a, tzcnt, size, loc),
                                Scan::Lzcnt => reg_src!(a, lzcnt, size, loc),
                                Scan::Popcnt => reg_src!(a, popcnt, size, loc),
                            },
                            &inp,
                        );
                        check(
                            &format!("{op:?} size {size} {loc:?} of {src:#x}"),
                            &out,
                            &want,
                            def,
                        );
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bmi {
    Andn,
    Bextr,
    Blsi,
    Blsmsk,
    Blsr,
}

#[test]
fn bmi1() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0xb111_0001);
        for op in [Bmi::Andn, Bmi::Bextr, Bmi::Blsi, Bmi::Blsmsk, Bmi::Blsr] {
            for size in [4u8, 8] {
                let bits = size as u64 * 8;
                for loc in [Loc::Reg, Loc::Mem] {
                    let vals = values(size, &mut rng, 4);
                    for (k, &x) in vals.iter().enumerate() {
                        let y = match op {
                            // start | len << 8, covering out-of-range starts and lengths.
                            Bmi::Bextr => {
                                let start = [0, 1, 7, 31, 32, 63, 64, 200][k % 8];
                                let len = [0, 1, 8, 31, 32, 33, 64, 255][(k / 2) % 8];
                                start | len << 8 | (rng.next() & !0xffff & mask(size))
                            }
                            _ => rng.next() & mask(size),
                        };
                        let mut inp = random_input(&mut rng);
                        // rm operand (EBX or memory) = x; ECX = y (ANDN: EBX = y's
                        // complement partner, see below).
                        match loc {
                            Loc::Mem => inp.set_mem(0, x, size),
                            _ => write_reg(&mut inp.gpr[3], x, size, false),
                        }
                        write_reg(&mut inp.gpr[1], y, size, false);
                        let (r, f, def) = match op {
                            Bmi::Andn => {
                                // andn eax, ecx, rm: ~ECX & rm.
                                let r = !y & x & mask(size);
                                (r, szp(r, size) & (ZF | SF), CF | OF | ZF | SF)
                            }
                            Bmi::Bextr => {
                                let (s, l) = (y & 0xff, (y >> 8) & 0xff);
                                let v = if s >= bits { 0 } else { x >> s };
                                let r = if l >= bits { v } else { v & ((1 << l) - 1) };
                                (r, szp(r, size) & ZF, CF | OF | ZF)
                            }
                            _ => {
                                let (r, c) = match op {
                                    Bmi::Blsi => (x.wrapping_neg() & x, x != 0),
                                    Bmi::Blsmsk => (x.wrapping_sub(1) ^ x, x == 0),
                                    _ => (x.wrapping_sub(1) & x, x == 0),
                                };
                                let r = r & mask(size);
                                (r, szp(r, size) & (ZF | SF) | c as u64, CF | OF | ZF | SF)
                            }
                        };
                        let mut want = expect(&inp);
                        want.rflags = (inp.rflags & !ARITH) | f;
                        write_reg(&mut want.gpr[0], r, size, false);
                        let out = m.run(
                            &|a| match (op, size, loc) {
                                (Bmi::Andn, 4, Loc::Reg) => a.andn(eax, ecx, ebx).unwrap(),
                                (Bmi::Andn, 4, _) => a.andn(eax, ecx, dword_ptr(r15)).unwrap(),
                                (Bmi::Andn, _, Loc::Reg) => a.andn(rax, rcx, rbx).unwrap(),
                                (Bmi::Andn, _, _) => a.andn(rax, rcx, qword_ptr(r15)).unwrap(),
                                (Bmi::Bextr, 4, Loc::Reg) => a.bextr(eax, ebx, ecx).unwrap(),
                                (Bmi::Bextr, 4, _) => a.bextr(eax, dword_ptr(r15), ecx).unwrap(),
                                (Bmi::Bextr, _, Loc::Reg) => a.bextr(rax, rbx, rcx).unwrap(),
                                (Bmi::Bextr, _, _) => a.bextr(rax, qword_ptr(r15), rcx).unwrap(),
                                (Bmi::Blsi, _, _) => reg_src!(@wide a, blsi, size, loc),
                                (Bmi::Blsmsk, _, _) => reg_src!(@wide a, blsmsk, size, loc),
                                (Bmi::Blsr, _, _) => reg_src!(@wide a, blsr, size, loc),
                            },
                            &inp,
                        );
                        check(
                            &format!("{op:?} size {size} {loc:?} x {x:#x} y {y:#x}"),
                            &out,
                            &want,
                            def,
                        );
                    }
                }
            }
        }
    }
}

/// A memory operand that faults leaves registers, flags and memory untouched; BT with
/// a register offset faults on the unit the offset selects, not on the base address.
#[test]
fn faulting_memory_operands_change_nothing() {
    const GP: Option<u8> = Some(13);
    let edge = 0x0000_7fff_ffff_fff0u64; // the last canonical low-half bytes
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut inp = Input {
            rflags: 2 | CF | ZF,
            ..Default::default()
        };
        inp.gpr[0] = 0x1234;
        inp.gpr[1] = 5;
        inp.gpr[2] = 7;
        inp.gpr[3] = 0x100; // bit offset 256: 32 bytes past `edge`
        inp.gpr[6] = edge;
        let bodies: [&dyn Fn(&mut CodeAssembler); 7] = [
            &|a| a.shl(dword_ptr(rsi + 0x20), cl).unwrap(),
            &|a| a.rcr(qword_ptr(rsi + 0x20), 3).unwrap(),
            &|a| a.shld(word_ptr(rsi + 0x20), bx, cl).unwrap(),
            &|a| a.div(dword_ptr(rsi + 0x20)).unwrap(),
            &|a| a.imul_3(eax, dword_ptr(rsi + 0x20), 3).unwrap(),
            &|a| a.bts(qword_ptr(rsi), rbx).unwrap(),
            &|a| a.popcnt(rax, qword_ptr(rsi + 0x20)).unwrap(),
        ];
        for (k, body) in bodies.iter().enumerate() {
            let out = m.run(*body, &inp);
            let mut want = expect(&inp);
            want.fault = GP;
            check(&format!("{tier:?} body {k}"), &out, &want, ARITH);
        }
    }
}

/// In 32-bit code the bit-offset displacement wraps at 4 GiB with the address size.
#[test]
fn bit_offset_wraps_with_32_bit_addresses() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        // Bit 5 of the dword at DATA is set.
        let mut inp = Input::default();
        inp.set_mem(0, 1 << 5, 4);
        inp.gpr[6] = 0xffff_fff0; // ESI
        inp.rflags = 2;
        for (bit, cf) in [(5, CF), (4, 0)] {
            inp.gpr[3] = (DATA + 0x10) * 8 + bit; // EBX: a bit of the dword at DATA
                                                  // bt dword [esi], ebx
            let out = m.run_compat(&[0x0f, 0xa3, 0x1e], &inp, true);
            assert_eq!(out.fault, None, "{tier:?}");
            assert_eq!(out.rflags & CF, cf, "{tier:?} bit {bit}");
        }
    }
}
