//! SHL/SAL SHR SAR ROL ROR RCL RCR SHLD SHRD.

use crate::harness::*;
use iced_x86::code_asm::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Reg,
    High,
    Mem,
}

/// Emits `a.$f(<dst of size at loc>, rest...)`.
#[macro_export]
macro_rules! with_dst {
    ($a:expr, $f:ident, $size:expr, $loc:expr $(, $rest:expr)*) => {
        match ($size, $loc) {
            (1, Loc::Reg) => $a.$f(al $(, $rest)*),
            (1, Loc::High) => $a.$f(ah $(, $rest)*),
            (1, _) => $a.$f(byte_ptr(r15) $(, $rest)*),
            (2, Loc::Reg) => $a.$f(ax $(, $rest)*),
            (2, _) => $a.$f(word_ptr(r15) $(, $rest)*),
            (4, Loc::Reg) => $a.$f(eax $(, $rest)*),
            (4, _) => $a.$f(dword_ptr(r15) $(, $rest)*),
            (8, Loc::Reg) => $a.$f(rax $(, $rest)*),
            _ => $a.$f(qword_ptr(r15) $(, $rest)*),
        }
        .unwrap()
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sh {
    Shl,
    Sal,
    Shr,
    Sar,
    Rol,
    Ror,
    Rcl,
    Rcr,
}

#[derive(Clone, Copy, Debug)]
enum Cnt {
    Cl(u64),
    Imm(u64),
}

impl Cnt {
    fn raw(self) -> u64 {
        match self {
            Cnt::Cl(v) | Cnt::Imm(v) => v,
        }
    }
}

fn emit_shift(a: &mut CodeAssembler, op: Sh, size: u8, loc: Loc, cnt: Cnt) {
    macro_rules! go {
        ($f:ident) => {
            match cnt {
                Cnt::Cl(_) => with_dst!(a, $f, size, loc, cl),
                Cnt::Imm(v) => with_dst!(a, $f, size, loc, v as u32),
            }
        };
    }
    match op {
        Sh::Shl => go!(shl),
        Sh::Sal => go!(sal),
        Sh::Shr => go!(shr),
        Sh::Sar => go!(sar),
        Sh::Rol => go!(rol),
        Sh::Ror => go!(ror),
        Sh::Rcl => go!(rcl),
        Sh::Rcr => go!(rcr),
    }
}

/// The SDM's loop, one bit at a time. Returns (result, flags, defined flags).
fn shift_ref(op: Sh, size: u8, dst: u64, count: u64, flags: u64) -> (u64, u64, u64) {
    let bits = size as u64 * 8;
    let m = mask(size);
    let c = count & if size == 8 { 63 } else { 31 };
    if c == 0 {
        return (dst, flags, ARITH);
    }
    let msb = |v: u64| v >> (bits - 1) & 1;
    let mut d = dst;
    let mut cf = flags & CF;
    match op {
        Sh::Shl | Sh::Sal | Sh::Shr | Sh::Sar => {
            for _ in 0..c {
                match op {
                    Sh::Shr => {
                        cf = d & 1;
                        d >>= 1;
                    }
                    Sh::Sar => {
                        cf = d & 1;
                        d = d >> 1 | msb(d) << (bits - 1);
                    }
                    _ => {
                        cf = msb(d);
                        d = (d << 1) & m;
                    }
                }
            }
            let of = match op {
                Sh::Shr => msb(dst),
                Sh::Sar => 0,
                _ => msb(d) ^ cf,
            };
            let f = szp(d, size) | cf | of << 11;
            let mut def = ARITH & !AF;
            if c != 1 {
                def &= !OF;
            }
            if c >= bits && matches!(op, Sh::Shl | Sh::Sal | Sh::Shr) {
                def &= !CF;
            }
            (d, f, def)
        }
        Sh::Rol | Sh::Ror => {
            for _ in 0..c % bits {
                d = if op == Sh::Rol {
                    (d << 1 | msb(d)) & m
                } else {
                    d >> 1 | (d & 1) << (bits - 1)
                };
            }
            let (cf, of) = if op == Sh::Rol {
                (d & 1, msb(d) ^ (d & 1))
            } else {
                (msb(d), msb(d) ^ (d >> (bits - 2) & 1))
            };
            let f = (flags & !(CF | OF)) | cf | of << 11;
            (d, f, if c == 1 { ARITH } else { ARITH & !OF })
        }
        Sh::Rcl | Sh::Rcr => {
            let t = match size {
                1 => c % 9,
                2 => c % 17,
                _ => c,
            };
            let mut of = msb(d) ^ cf;
            for _ in 0..t {
                if op == Sh::Rcl {
                    let o = msb(d);
                    d = (d << 1 | cf) & m;
                    cf = o;
                } else {
                    let o = d & 1;
                    d = d >> 1 | cf << (bits - 1);
                    cf = o;
                }
            }
            if op == Sh::Rcl {
                of = msb(d) ^ cf;
            }
            let f = (flags & !(CF | OF)) | cf | of << 11;
            (d, f, if c == 1 { ARITH } else { ARITH & !OF })
        }
    }
}

const COUNTS: [u64; 17] = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 63, 64, 255];

fn random_input(rng: &mut Rng) -> Input {
    let mut inp = Input::default();
    for r in inp.gpr.iter_mut() {
        *r = rng.next();
    }
    for b in inp.mem.iter_mut() {
        *b = rng.next() as u8;
    }
    inp
}

#[test]
fn shifts_and_rotates() {
    use Sh::*;
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut n = 0;
        for op in [Shl, Sal, Shr, Sar, Rol, Ror, Rcl, Rcr] {
            for size in [1u8, 2, 4, 8] {
                let locs: &[Loc] = if size == 1 {
                    &[Loc::Reg, Loc::High, Loc::Mem]
                } else {
                    &[Loc::Reg, Loc::Mem]
                };
                for &loc in locs {
                    let vals = values(size, &mut rng, 2);
                    for (k, &v) in vals.iter().enumerate() {
                        // All counts for a few values, a rotating pick for the others.
                        let counts: Vec<u64> = if k % 4 == 0 {
                            COUNTS.to_vec()
                        } else {
                            vec![1, COUNTS[k % COUNTS.len()], rng.next() & 0xff]
                        };
                        for &c in &counts {
                            for cnt in [Cnt::Cl(c), Cnt::Imm(c)] {
                                let fin = if rng.next() & 1 == 0 { 2 } else { 0x8d7 };
                                run_shift(&mut m, op, size, loc, cnt, v, fin, &mut rng);
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 1000);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_shift(m: &mut Machine, op: Sh, size: u8, loc: Loc, cnt: Cnt, v: u64, fin: u64, rng: &mut Rng) {
    let mut inp = random_input(rng);
    inp.rflags = fin;
    match loc {
        Loc::Mem => inp.set_mem(0, v, size),
        _ => write_reg(&mut inp.gpr[0], v, size, loc == Loc::High),
    }
    if let Cnt::Cl(c) = cnt {
        inp.gpr[1] = (inp.gpr[1] & !0xff) | c;
    }
    let (res, f, def) = shift_ref(op, size, v, cnt.raw(), fin);
    let mut want = expect(&inp);
    want.rflags = f | 2;
    match loc {
        Loc::Mem => {
            let mut w = inp.clone();
            w.set_mem(0, res, size);
            want.mem = w.mem;
        }
        // Even with a zero count the register is written (32-bit: zero-extended).
        _ => write_reg(&mut want.gpr[0], res, size, loc == Loc::High),
    }
    let out = m.run(&|a| emit_shift(a, op, size, loc, cnt), &inp);
    check(
        &format!("{op:?} size {size} {loc:?} {cnt:?} of {v:#x}, flags {fin:#x}"),
        &out,
        &want,
        def,
    );
}
