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

/// Emits `a.$f(<dst of size at loc>, <src register of that size>, rest...)` for 16, 32
/// and 64-bit operands.
#[macro_export]
macro_rules! with_dst_src {
    ($a:expr, $f:ident, $size:expr, $loc:expr, ($s16:expr, $s32:expr, $s64:expr) $(, $rest:expr)*) => {
        match ($size, $loc) {
            (2, Loc::Reg) => $a.$f(ax, $s16 $(, $rest)*),
            (2, _) => $a.$f(word_ptr(r15), $s16 $(, $rest)*),
            (4, Loc::Reg) => $a.$f(eax, $s32 $(, $rest)*),
            (4, _) => $a.$f(dword_ptr(r15), $s32 $(, $rest)*),
            (_, Loc::Reg) => $a.$f(rax, $s64 $(, $rest)*),
            _ => $a.$f(qword_ptr(r15), $s64 $(, $rest)*),
        }
        .unwrap()
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sh {
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
pub fn shift_ref(op: Sh, size: u8, dst: u64, count: u64, flags: u64) -> (u64, u64, u64) {
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
fn run_shift(
    m: &mut Machine,
    op: Sh,
    size: u8,
    loc: Loc,
    cnt: Cnt,
    v: u64,
    fin: u64,
    rng: &mut Rng,
) {
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

/// SHLD/SHRD one bit at a time; `None` for the undefined 16-bit counts above 16.
pub fn double_ref(
    left: bool,
    size: u8,
    dst: u64,
    src: u64,
    count: u64,
    flags: u64,
) -> Option<(u64, u64, u64)> {
    let bits = size as u64 * 8;
    let m = mask(size);
    let c = count & if size == 8 { 63 } else { 31 };
    if c == 0 {
        return Some((dst, flags, ARITH));
    }
    if c > bits {
        return None;
    }
    let msb = |v: u64| v >> (bits - 1) & 1;
    let (mut d, mut s, mut cf) = (dst, src, 0);
    for _ in 0..c {
        if left {
            cf = msb(d);
            d = (d << 1 | msb(s)) & m;
            s = (s << 1) & m;
        } else {
            cf = d & 1;
            d = d >> 1 | (s & 1) << (bits - 1);
            s >>= 1;
        }
    }
    let of = msb(d) ^ msb(dst);
    let f = szp(d, size) | cf | of << 11;
    let def = if c == 1 {
        ARITH & !AF
    } else {
        ARITH & !AF & !OF
    };
    Some((d, f, def))
}

fn emit_double(a: &mut CodeAssembler, left: bool, size: u8, loc: Loc, cnt: Cnt) {
    macro_rules! go {
        ($f:ident) => {
            match cnt {
                Cnt::Cl(_) => with_dst_src!(a, $f, size, loc, (bx, ebx, rbx), cl),
                Cnt::Imm(v) => with_dst_src!(a, $f, size, loc, (bx, ebx, rbx), v as u32),
            }
        };
    }
    if left {
        go!(shld)
    } else {
        go!(shrd)
    }
}

#[test]
fn double_shifts() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0x005e_ed00_00d0_b1e5);
        for left in [true, false] {
            for size in [2u8, 4, 8] {
                for loc in [Loc::Reg, Loc::Mem] {
                    let vals = values(size, &mut rng, 2);
                    for (k, &v) in vals.iter().enumerate() {
                        let src = vals[(k * 7 + 3) % vals.len()] ^ (rng.next() & mask(size));
                        for &c in &COUNTS {
                            for cnt in [Cnt::Cl(c), Cnt::Imm(c)] {
                                let fin = if k % 2 == 0 { 2 } else { 0x8d7 };
                                let mut inp = random_input(&mut rng);
                                inp.rflags = fin;
                                match loc {
                                    Loc::Mem => inp.set_mem(0, v, size),
                                    _ => write_reg(&mut inp.gpr[0], v, size, false),
                                }
                                write_reg(&mut inp.gpr[3], src, size, false);
                                if let Cnt::Cl(c) = cnt {
                                    inp.gpr[1] = (inp.gpr[1] & !0xff) | c;
                                }
                                let out = m.run(&|a| emit_double(a, left, size, loc, cnt), &inp);
                                let Some((res, f, def)) =
                                    double_ref(left, size, v, src, cnt.raw(), fin)
                                else {
                                    // Undefined result: only the other state is checked.
                                    let mut want = expect(&inp);
                                    want.gpr[0] = out.gpr[0];
                                    want.mem = out.mem;
                                    check("shld/shrd undefined count", &out, &want, 0);
                                    continue;
                                };
                                let mut want = expect(&inp);
                                want.rflags = f | 2;
                                match loc {
                                    Loc::Mem => {
                                        let mut w = inp.clone();
                                        w.set_mem(0, res, size);
                                        want.mem = w.mem;
                                    }
                                    _ => write_reg(&mut want.gpr[0], res, size, false),
                                }
                                let what = format!(
                                    "{} size {size} {loc:?} {cnt:?} of {v:#x}, src {src:#x}",
                                    if left { "shld" } else { "shrd" }
                                );
                                check(&what, &out, &want, def);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Rotates through carry and BT read the flags a previous instruction left lazily.
#[test]
fn flag_readers_after_lazy_flags() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let inp = Input {
            gpr: [0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        // 0x81 - 0x82 borrows: CF = 1, which RCR moves into bit 7.
        let out = m.run(
            &|a| {
                a.cmp(al, 0x82).unwrap();
                a.rcr(al, 1).unwrap();
            },
            &inp,
        );
        assert_eq!(out.gpr[0], 0xc0, "{tier:?}");
        assert_eq!(out.rflags & CF, CF, "{tier:?}");
        // ROL keeps ZF/SF/PF from the SUB that set them (here ZF).
        let out = m.run(
            &|a| {
                a.sub(ecx, ecx).unwrap();
                a.rol(eax, 4).unwrap();
            },
            &inp,
        );
        assert_eq!(out.gpr[0], 0x810, "{tier:?}");
        assert_eq!(out.rflags & (ZF | CF | PF), ZF | PF, "{tier:?}");
    }
}

/// The three count encodings (D1 "by 1", C1 with an imm8 of 1, D3 by CL) and the
/// undocumented /6 alias of SHL decode to the same operation.
#[test]
fn count_encodings() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let inp = Input {
            gpr: [
                0xffff_ffff_8000_0001,
                1,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            ..Default::default()
        };
        for bytes in [
            &[0xd1, 0xe0][..],       // shl eax, 1
            &[0xc1, 0xe0, 0x01][..], // shl eax, 1 (imm8)
            &[0xd3, 0xe0][..],       // shl eax, cl
            &[0xd1, 0xf0][..],       // sal eax, 1 (/6)
        ] {
            let out = m.run(&|a| a.db(bytes).unwrap(), &inp);
            assert_eq!(out.gpr[0], 2, "{tier:?} {bytes:02x?}");
            // CF = 1 (the top bit), OF = MSB(result) ^ CF = 1.
            assert_eq!(out.rflags & (CF | OF | ZF | SF), CF | OF, "{bytes:02x?}");
        }
        // A zero count: flags and value stay, but EAX's write clears RAX[63:32].
        let inp = Input {
            gpr: [
                0xffff_ffff_8000_0001,
                0x100,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            rflags: 2 | CF | ZF,
            ..Default::default()
        };
        for bytes in [
            &[0xd3, 0xe0][..],
            &[0xc1, 0xe0, 0x00][..],
            &[0xc1, 0xc0, 0x20][..],
        ] {
            let out = m.run(&|a| a.db(bytes).unwrap(), &inp);
            assert_eq!(out.gpr[0], 0x8000_0001, "{tier:?} {bytes:02x?}");
            assert_eq!(out.rflags & ARITH, CF | ZF, "{bytes:02x?}");
        }
    }
}
