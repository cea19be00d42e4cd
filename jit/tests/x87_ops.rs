//! x87 instructions in both tiers, checked against the host executing the very same
//! machine code on the same inputs (differential testing): every case stores FNSTSW and
//! a complete FNSAVE image (registers, tags, TOP, control and status words), which must
//! match byte for byte (FIP/FDP excepted: linear guest addresses vs host pointers).
//! Transcendental instructions are excluded from the bit-exact comparison (they are
//! computed in software) and checked against f64 references with a tolerance.

use iced_x86::code_asm::*;
use reprise_jit::{Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

const CODE: u64 = 0x10_0000;
const INP: u64 = 0x20_0000;
const OUT: u64 = 0x40_0000;
const IN_REC: usize = 48;
const OUT_REC: usize = 144;

const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];

fn f80(sign: bool, exp: u16, mant: u64) -> [u8; 10] {
    let mut r = [0u8; 10];
    r[..8].copy_from_slice(&mant.to_le_bytes());
    r[8..].copy_from_slice(&(exp | (sign as u16) << 15).to_le_bytes());
    r
}

fn values() -> Vec<[u8; 10]> {
    let one = 1u64 << 63;
    vec![
        f80(false, 0, 0),
        f80(true, 0, 0),
        f80(false, 0x3fff, one),                   // 1
        f80(true, 0x3fff, one),                    // -1
        f80(false, 0x3fff, one | one >> 1),        // 1.5
        f80(false, 0x4000, 0xc90f_daa2_2168_c235), // pi
        f80(true, 0x4000, 0xadf8_5458_a2bb_4a9b),  // -e
        f80(false, 0x4000, 0xc000_0000_0000_0000), // 3
        f80(false, 0x4020, 0x9502_f900_0000_0000), // 1e10
        f80(false, 0x3fdd, 0xdbe6_fecc_b4c3_cd0f), // ~1e-10
        f80(false, 0x7ffe, u64::MAX),              // max
        f80(false, 0x0001, one),                   // min normal
        f80(true, 0, 1),                           // denormal
        f80(false, 0x7fff, one),                   // +inf
        f80(true, 0x7fff, one),                    // -inf
        f80(false, 0x7fff, one | 0x1234_5678),     // SNaN
        f80(true, 0x7fff, 0xc000_0000_0000_0001),  // QNaN
        f80(false, 0x4045, 0x8000_0000_0000_0001), // 2^70 + tiny
        f80(false, 0x3ffb, 0xcccc_cccc_cccc_cccd), // 0.1
        f80(true, 0x401d, 0xffff_ffff_0000_0000),  // -(2^31 - 0.5)
        f80(false, 0x4000, 0x4000_0000_0000_0000), // unnormal (J = 0)
        f80(true, 0, one | 5),                     // pseudo-denormal (J = 1)
    ]
}

const M64: [u64; 8] = [
    0x4009_21fb_5444_2d18, // pi (low dword: some f32 / int)
    0xbff0_0000_0000_0000, // -1.0
    0x0000_0000_0000_0003, // denormal double, int 3
    0x7ff0_0000_0000_0001, // SNaN double
    0x7ff8_0000_4049_0fdb, // QNaN double, f32 pi in low half
    0x0000_0000_ffff_8000, // small int / f32 NaN
    0x4330_0000_0000_0000, // 2^52
    0x0000_0000_7f80_0000, // f32 +inf
];

// Precision and rounding variants, plus two with exceptions unmasked.
const FCWS: [u16; 6] = [0x037f, 0x027f, 0x0f7f, 0x087f, 0x0360, 0x0a62];

fn inputs(masked_only: bool) -> Vec<u8> {
    let v = values();
    let mut out = Vec::new();
    let mut k = 0usize;
    for a in &v {
        for b in &v {
            for &fcw in FCWS.iter().filter(|&&c| !masked_only || c & 0x3f == 0x3f) {
                let mut rec = [0u8; IN_REC];
                rec[..10].copy_from_slice(a);
                rec[16..26].copy_from_slice(b);
                rec[32..34].copy_from_slice(&fcw.to_le_bytes());
                rec[40..48].copy_from_slice(&M64[k % M64.len()].to_le_bytes());
                out.extend_from_slice(&rec);
                k += 1;
            }
        }
    }
    out
}

/// The per-record loop around `op`: RSI = input record, RDI = output record.
fn program(n: usize, op: &dyn Fn(&mut CodeAssembler)) -> CodeAssembler {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    a.mov(rcx, n as u64).unwrap();
    a.set_label(&mut top).unwrap();
    a.fninit().unwrap();
    a.fldcw(word_ptr(rsi + 32)).unwrap();
    a.fld(tword_ptr(rsi + 16)).unwrap();
    a.fld(tword_ptr(rsi)).unwrap();
    op(&mut a);
    a.fnstsw(word_ptr(rdi)).unwrap();
    a.fnsave(ptr(rdi + 32)).unwrap();
    a.add(rsi, IN_REC as i32).unwrap();
    a.add(rdi, OUT_REC as i32).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a
}

fn run_guest(tier: Tier, code: &[u8], input: &[u8], n: usize) -> Vec<u8> {
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, code));
    assert!(ram.write_at(INP, input));
    let mut cpu = Cpu::new(
        ram,
        CpuConfig {
            tier,
            hot_threshold: 1,
            ..Default::default()
        },
    )
    .unwrap();
    cpu.enter_long_mode(CODE);
    let st = cpu.state_mut();
    st.gpr[4] = 0x8_0000;
    st.gpr[6] = INP;
    st.gpr[7] = OUT;
    let r = cpu.run(&mut EmptyBus, 100_000_000);
    assert_eq!(
        r,
        RunExit::Halted {
            interrupts_enabled: false
        }
    );
    cpu.ram().as_slice()[OUT as usize..OUT as usize + n * OUT_REC].to_vec()
}

fn run_host(code: &[u8], input: &[u8], n: usize) -> Vec<u8> {
    let mut m = memmap2::MmapMut::map_anon(code.len().max(4096)).unwrap();
    m[..code.len()].copy_from_slice(code);
    let m = m.make_exec().unwrap();
    let input = input.to_vec();
    let mut out = vec![0u8; n * OUT_REC];
    let f = m.as_ptr();
    // SAFETY: `f` is executable memory holding the assembled loop, which reads `input`
    // through RSI and writes `out` through RDI (both large enough for `n` records),
    // uses only RAX, RCX, RSI, RDI, flags and the x87 unit, ends with RET, and leaves the
    // x87 stack empty (FNSAVE reinitialises it).
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = in(reg) f,
            inout("rsi") input.as_ptr() => _,
            inout("rdi") out.as_mut_ptr() => _,
            out("rcx") _,
            out("rax") _,
            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
        );
    }
    out
}

/// Runs `op` on every input record in both tiers and on the host; compares.
///
/// Snippets of more than one x87 instruction run with masked exceptions only: on the
/// host, an unmasked exception would trap at the next waiting instruction.
fn check(name: &str, masked_only: bool, op: &dyn Fn(&mut CodeAssembler)) {
    let input = inputs(masked_only);
    let n = input.len() / IN_REC;
    let mut g = program(n, op);
    g.hlt().unwrap();
    let guest_code = g.assemble(CODE).unwrap();
    let mut h = program(n, op);
    h.ret().unwrap();
    let host_code = h.assemble(CODE).unwrap();
    let want = run_host(&host_code, &input, n);
    for tier in TIERS {
        let got = run_guest(tier, &guest_code, &input, n);
        for k in 0..n {
            let (w, g) = (
                &want[k * OUT_REC..(k + 1) * OUT_REC],
                &got[k * OUT_REC..(k + 1) * OUT_REC],
            );
            // FIP/FDP/FCS/FOP/FDS (env bytes 12..28) differ by construction.
            let strip = |r: &[u8]| {
                let mut v = r.to_vec();
                v[32 + 12..32 + 28].fill(0);
                v
            };
            let rec = &input[k * IN_REC..(k + 1) * IN_REC];
            assert_eq!(
                strip(g),
                strip(w),
                "{name} {tier:?} record {k}: a={:02x?} b={:02x?} fcw={:02x?} m={:02x?}",
                &rec[..10],
                &rec[16..26],
                &rec[32..34],
                &rec[40..48]
            );
        }
    }
}

/// A single x87 instruction: all control words, unmasked exceptions included.
macro_rules! case {
    ($name:ident, |$a:ident| $body:expr) => {
        #[test]
        fn $name() {
            check(stringify!($name), false, &|$a: &mut CodeAssembler| {
                $body;
            });
        }
    };
}

/// Several x87 instructions: masked control words only.
macro_rules! cases {
    ($name:ident, |$a:ident| $body:expr) => {
        #[test]
        fn $name() {
            check(stringify!($name), true, &|$a: &mut CodeAssembler| {
                $body;
            });
        }
    };
}

// Register arithmetic.
case!(fadd_st0_st1, |a| a.fadd_2(st0, st1).unwrap());
case!(fsub_st0_st1, |a| a.fsub_2(st0, st1).unwrap());
case!(fsubr_st0_st1, |a| a.fsubr_2(st0, st1).unwrap());
case!(fmul_st0_st1, |a| a.fmul_2(st0, st1).unwrap());
case!(fdiv_st0_st1, |a| a.fdiv_2(st0, st1).unwrap());
case!(fdivr_st0_st1, |a| a.fdivr_2(st0, st1).unwrap());
case!(fsub_st1_st0, |a| a.fsub_2(st1, st0).unwrap());
case!(fdiv_st1_st0, |a| a.fdiv_2(st1, st0).unwrap());
case!(faddp, |a| a.faddp(st1, st0).unwrap());
case!(fsubp, |a| a.fsubp(st1, st0).unwrap());
case!(fsubrp, |a| a.fsubrp(st1, st0).unwrap());
case!(fmulp, |a| a.fmulp(st1, st0).unwrap());
case!(fdivp, |a| a.fdivp(st1, st0).unwrap());
case!(fdivrp, |a| a.fdivrp(st1, st0).unwrap());
// Memory arithmetic.
case!(fadd_m64, |a| a.fadd(qword_ptr(rsi + 40)).unwrap());
case!(fsub_m32, |a| a.fsub(dword_ptr(rsi + 40)).unwrap());
case!(fsubr_m64, |a| a.fsubr(qword_ptr(rsi + 40)).unwrap());
case!(fmul_m32, |a| a.fmul(dword_ptr(rsi + 40)).unwrap());
case!(fdiv_m64, |a| a.fdiv(qword_ptr(rsi + 40)).unwrap());
case!(fdivr_m32, |a| a.fdivr(dword_ptr(rsi + 40)).unwrap());
case!(fiadd_m16, |a| a.fiadd(word_ptr(rsi + 40)).unwrap());
case!(fisub_m32, |a| a.fisub(dword_ptr(rsi + 40)).unwrap());
case!(fimul_m16, |a| a.fimul(word_ptr(rsi + 40)).unwrap());
case!(fidivr_m32, |a| a.fidivr(dword_ptr(rsi + 40)).unwrap());
// Unary and others.
case!(fsqrt, |a| a.fsqrt().unwrap());
case!(frndint, |a| a.frndint().unwrap());
case!(fscale, |a| a.fscale().unwrap());
case!(fxtract, |a| a.fxtract().unwrap());
case!(fprem, |a| a.fprem().unwrap());
case!(fprem1, |a| a.fprem1().unwrap());
cases!(fchs_fabs, |a| {
    a.fchs().unwrap();
    a.fxch(st0, st1).unwrap();
    a.fabs().unwrap()
});
cases!(ftst_fxam, |a| {
    a.ftst().unwrap();
    a.fnstsw(word_ptr(rdi + 8)).unwrap();
    a.fxam().unwrap()
});
// Comparisons.
case!(fcom, |a| a.fcom_2(st0, st1).unwrap());
case!(fcomp, |a| a.fcomp_2(st0, st1).unwrap());
case!(fcompp, |a| a.fcompp().unwrap());
case!(fucom, |a| a.fucom(st0, st1).unwrap());
case!(fucompp, |a| a.fucompp().unwrap());
case!(fcom_m64, |a| a.fcom(qword_ptr(rsi + 40)).unwrap());
case!(fcomp_m32, |a| a.fcomp(dword_ptr(rsi + 40)).unwrap());
case!(ficom_m16, |a| a.ficom(word_ptr(rsi + 40)).unwrap());
case!(ficomp_m32, |a| a.ficomp(dword_ptr(rsi + 40)).unwrap());
case!(fcomi_flags, |a| {
    a.fcomi(st0, st1).unwrap();
    a.sete(al).unwrap();
    a.mov(byte_ptr(rdi + 8), al).unwrap();
    a.setb(al).unwrap();
    a.mov(byte_ptr(rdi + 9), al).unwrap();
    a.setp(al).unwrap();
    a.mov(byte_ptr(rdi + 10), al).unwrap()
});
case!(fucomip_flags, |a| {
    a.fucomip(st0, st1).unwrap();
    a.seta(al).unwrap();
    a.mov(byte_ptr(rdi + 8), al).unwrap();
    a.setnp(al).unwrap();
    a.mov(byte_ptr(rdi + 9), al).unwrap()
});
cases!(fcmov, |a| {
    a.fcomi(st0, st1).unwrap();
    a.fcmovb(st0, st1).unwrap();
    a.fcmovnbe(st0, st1).unwrap();
    a.fcmovu(st0, st1).unwrap()
});
// Loads and stores.
cases!(fld_m32_m64, |a| {
    a.fld(dword_ptr(rsi + 40)).unwrap();
    a.fld(qword_ptr(rsi + 40)).unwrap()
});
cases!(fild_all, |a| {
    a.fild(word_ptr(rsi + 40)).unwrap();
    a.fild(dword_ptr(rsi + 40)).unwrap();
    a.fild(qword_ptr(rsi + 40)).unwrap()
});
case!(fst_m32, |a| a.fst(dword_ptr(rdi + 8)).unwrap());
case!(fstp_m64, |a| a.fstp(qword_ptr(rdi + 8)).unwrap());
case!(fstp_m80, |a| a.fstp(tword_ptr(rdi + 8)).unwrap());
case!(fist_m16, |a| a.fist(word_ptr(rdi + 8)).unwrap());
case!(fistp_m32, |a| a.fistp(dword_ptr(rdi + 8)).unwrap());
case!(fistp_m64, |a| a.fistp(qword_ptr(rdi + 8)).unwrap());
cases!(fisttp_all, |a| {
    a.fld(st0).unwrap();
    a.fld(st0).unwrap();
    a.fisttp(word_ptr(rdi + 8)).unwrap();
    a.fisttp(dword_ptr(rdi + 10)).unwrap();
    a.fisttp(qword_ptr(rdi + 14)).unwrap()
});
cases!(fst_fstp_sti, |a| {
    a.fst(st1).unwrap();
    a.fld(st1).unwrap();
    a.fstp(st2).unwrap()
});
cases!(constants, |a| {
    a.fld1().unwrap();
    a.fldz().unwrap();
    a.fldpi().unwrap();
    a.fldl2e().unwrap();
    a.fldl2t().unwrap();
    a.fldlg2().unwrap()
});
cases!(ldln2_and_overflow, |a| {
    // 2 loaded + 7 pushes: the last two overflow the stack.
    a.fldln2().unwrap();
    a.fld(st0).unwrap();
    a.fld(st0).unwrap();
    a.fld(st0).unwrap();
    a.fld(st0).unwrap();
    a.fld(st0).unwrap();
    a.fld(st0).unwrap()
});
cases!(underflow, |a| {
    a.ffree(st1).unwrap();
    a.fadd_2(st0, st1).unwrap();
    a.fnstsw(word_ptr(rdi + 8)).unwrap();
    a.fincstp().unwrap();
    a.fincstp().unwrap();
    a.fst(dword_ptr(rdi + 10)).unwrap();
    a.fistp(dword_ptr(rdi + 14)).unwrap();
    a.fxch(st0, st3).unwrap()
});
cases!(control_words, |a| {
    a.fnstcw(word_ptr(rdi + 8)).unwrap();
    a.fdecstp().unwrap();
    a.fnclex().unwrap();
    a.fnstsw(ax).unwrap();
    a.mov(word_ptr(rdi + 10), ax).unwrap();
    a.fdiv_2(st1, st0).unwrap()
});
cases!(env_roundtrip, |a| {
    a.fnstenv(ptr(rdi + 8)).unwrap();
    a.fldz().unwrap();
    a.fldenv(ptr(rdi + 8)).unwrap();
    a.fnstsw(word_ptr(rdi + 2)).unwrap();
    // FIP/FDP differ between guest and host by construction.
    a.xor(eax, eax).unwrap();
    a.mov(qword_ptr(rdi + 20), rax).unwrap();
    a.mov(qword_ptr(rdi + 28), rax).unwrap()
});

#[test]
fn fsave_frstor_and_fxsave_fxrstor_roundtrip() {
    for tier in TIERS {
        let mut a = CodeAssembler::new(64).unwrap();
        a.fninit().unwrap();
        a.fldpi().unwrap();
        a.fld1().unwrap();
        a.fldz().unwrap();
        a.fnsave(ptr(rdi)).unwrap(); // also reinitialises
        a.fld1().unwrap();
        a.frstor(ptr(rdi)).unwrap();
        a.fnsave(ptr(rdi + 128)).unwrap();
        a.frstor(ptr(rdi)).unwrap();
        a.fxsave(ptr(rdi + 256)).unwrap();
        a.fninit().unwrap();
        a.fxrstor(ptr(rdi + 256)).unwrap();
        a.fxsave(ptr(rdi + 1024)).unwrap();
        a.fstp(tword_ptr(rdi + 2048)).unwrap();
        a.fstp(tword_ptr(rdi + 2064)).unwrap();
        a.fstp(tword_ptr(rdi + 2080)).unwrap();
        a.fnstsw(word_ptr(rdi + 2096)).unwrap();
        a.hlt().unwrap();
        let code = a.assemble(CODE).unwrap();
        let out = run_guest(tier, &code, &[0u8; 16], 20);
        assert_eq!(out[..108], out[128..236], "fnsave after frstor");
        let (x1, x2) = (&out[256..768], &out[1024..1536]);
        assert_eq!(x1, x2, "fxsave after fxrstor");
        assert_eq!(x1[4], 0b1110_0000, "abridged tags: three registers in use");
        assert_eq!(u16::from_le_bytes([x1[2], x1[3]]) >> 11 & 7, 5, "TOP");
        let zero = [0u8; 10];
        assert_eq!(out[2048..2058], zero);
        assert_eq!(u16::from_le_bytes([out[2096], out[2097]]), 0);
    }
}

#[test]
fn fxsave_misaligned_is_gp() {
    for tier in TIERS {
        let mut a = CodeAssembler::new(64).unwrap();
        a.fxsave(ptr(rdi + 8)).unwrap();
        a.hlt().unwrap();
        let code = a.assemble(CODE).unwrap();
        let mut ram = GuestRam::new(16).unwrap();
        assert!(ram.write_at(CODE, &code));
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                hot_threshold: 1,
                ..Default::default()
            },
        )
        .unwrap();
        cpu.enter_long_mode(CODE);
        cpu.state_mut().gpr[7] = OUT;
        let r = cpu.run(&mut EmptyBus, 1000);
        let RunExit::TripleFault { rip, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(rip, CODE);
    }
}

#[test]
fn ts_raises_nm() {
    for tier in TIERS {
        let mut a = CodeAssembler::new(64).unwrap();
        a.fld1().unwrap();
        a.hlt().unwrap();
        let code = a.assemble(CODE).unwrap();
        let mut ram = GuestRam::new(16).unwrap();
        assert!(ram.write_at(CODE, &code));
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                hot_threshold: 1,
                ..Default::default()
            },
        )
        .unwrap();
        cpu.enter_long_mode(CODE);
        cpu.state_mut().cr0 |= 1 << 3;
        let r = cpu.run(&mut EmptyBus, 1000);
        assert!(matches!(r, RunExit::TripleFault { rip: CODE, .. }), "{r:?}");
        assert_eq!(cpu.state().fpu.ftw, 0xffff, "nothing pushed");
    }
}

/// Transcendentals: software results within a small tolerance of f64 references.
#[test]
fn transcendentals_approximate() {
    let xs = [0.5f64, -0.25, 1.0, 2.0, 0.1, -3.0, 100.0];
    for tier in TIERS {
        let mut a = CodeAssembler::new(64).unwrap();
        for k in 0..xs.len() as i32 {
            let (i, o) = (rsi + 8 * k, rdi + 128 * k);
            a.fninit().unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fsin().unwrap();
            a.fstp(qword_ptr(o)).unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fcos().unwrap();
            a.fstp(qword_ptr(o + 8)).unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fptan().unwrap();
            a.fstp(qword_ptr(o + 16)).unwrap(); // 1.0
            a.fstp(qword_ptr(o + 24)).unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fsincos().unwrap();
            a.fstp(qword_ptr(o + 32)).unwrap(); // cos
            a.fstp(qword_ptr(o + 40)).unwrap(); // sin
            a.fld(qword_ptr(i)).unwrap();
            a.fld1().unwrap();
            a.fpatan().unwrap(); // atan(x / 1)
            a.fstp(qword_ptr(o + 48)).unwrap();
            a.fld1().unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fabs().unwrap();
            a.fyl2x().unwrap(); // log2|x|
            a.fstp(qword_ptr(o + 56)).unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.f2xm1().unwrap(); // only meaningful for |x| <= 1
            a.fstp(qword_ptr(o + 64)).unwrap();
            a.fld1().unwrap();
            a.fld(qword_ptr(i)).unwrap();
            a.fabs().unwrap();
            a.fyl2xp1().unwrap(); // log2(1+|x|)
            a.fstp(qword_ptr(o + 72)).unwrap();
        }
        a.hlt().unwrap();
        let code = a.assemble(CODE).unwrap();
        let input: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let out = run_guest(tier, &code, &input, 8);
        let get = |k: usize, slot: usize| {
            let at = 128 * k + 8 * slot;
            f64::from_le_bytes(out[at..at + 8].try_into().unwrap())
        };
        for (k, &x) in xs.iter().enumerate() {
            let close = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() <= 4e-16 * want.abs().max(1e-300) + 1e-300,
                    "{what}({x}) = {got}, want {want} ({tier:?})"
                );
            };
            close(get(k, 0), x.sin(), "sin");
            close(get(k, 1), x.cos(), "cos");
            assert_eq!(get(k, 2), 1.0);
            close(get(k, 3), x.tan(), "tan");
            close(get(k, 4), x.cos(), "sincos.cos");
            close(get(k, 5), x.sin(), "sincos.sin");
            close(get(k, 6), x.atan(), "atan");
            close(get(k, 7), x.abs().log2(), "log2");
            if x.abs() <= 1.0 {
                close(get(k, 8), x.exp2() - 1.0, "2^x-1");
            }
            close(
                get(k, 9),
                x.abs().ln_1p() / std::f64::consts::LN_2,
                "log2(1+x)",
            );
        }
    }
}

/// A CPU in 64-bit mode running `build`'s code (then HLT), RDI = OUT.
fn guest(tier: Tier, build: impl Fn(&mut CodeAssembler)) -> Cpu {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a);
    a.hlt().unwrap();
    let code = a.assemble(CODE).unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, &code));
    let mut cpu = Cpu::new(
        ram,
        CpuConfig {
            tier,
            hot_threshold: 1,
            ..Default::default()
        },
    )
    .unwrap();
    cpu.enter_long_mode(CODE);
    cpu.state_mut().gpr[7] = OUT;
    cpu.state_mut().gpr[4] = 0x8_0000;
    cpu
}

#[test]
fn unmasked_exception_raises_mf_at_next_waiting_instruction() {
    for tier in TIERS {
        let mut cpu = guest(tier, |a| {
            a.mov(word_ptr(rdi), 0x037bu32).unwrap(); // ZE unmasked
            a.fldcw(word_ptr(rdi)).unwrap();
            a.fld1().unwrap();
            a.fldz().unwrap();
            a.fdiv_2(st1, st0).unwrap(); // 1 / 0: unmasked ZE, ST(1) unchanged
            a.fnstsw(ax).unwrap(); // no-wait: fine
            a.fadd_2(st0, st0).unwrap(); // waiting: #MF
        });
        cpu.state_mut().cr0 |= 1 << 5; // NE
        let r = cpu.run(&mut EmptyBus, 1000);
        let RunExit::TripleFault { rip, original, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            original.vector, 16,
            "the first exception is #MF: {original}"
        );
        assert!(rip > CODE, "{rip:#x}");
        let st = cpu.state();
        let fsw = st.gpr[0] as u16;
        assert_eq!(fsw & 0x80bf, 0x8084, "ZE, ES and B set: {fsw:#x}");
        // ST(1) (= 1.0) unchanged, ST(0) = 0.
        let top = st.fpu.top as usize;
        assert_eq!(st.fpu.st[(top + 1) & 7][9], 0x3f);
        // With CR0.NE clear nothing is raised.
        let mut cpu = guest(tier, |a| {
            a.mov(word_ptr(rdi), 0x037bu32).unwrap();
            a.fldcw(word_ptr(rdi)).unwrap();
            a.fld1().unwrap();
            a.fldz().unwrap();
            a.fdiv_2(st1, st0).unwrap();
            a.fadd_2(st0, st0).unwrap();
        });
        assert_eq!(
            cpu.run(&mut EmptyBus, 1000),
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
    }
}

#[test]
fn unmasked_stack_overflow_does_not_push() {
    for tier in TIERS {
        let mut cpu = guest(tier, |a| {
            a.mov(word_ptr(rdi), 0x037eu32).unwrap(); // IE unmasked
            a.fldcw(word_ptr(rdi)).unwrap();
            for _ in 0..9 {
                a.fld1().unwrap();
            }
            a.fnstsw(ax).unwrap();
        });
        let r = cpu.run(&mut EmptyBus, 1000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        let st = cpu.state();
        let fsw = st.gpr[0] as u16;
        // IE, SF, ES, B, C1 (overflow), TOP = 0 after 8 pushes.
        assert_eq!(fsw, 0x82c1 | 0x0200, "{fsw:#x}");
        assert_eq!(st.fpu.ftw, 0, "eight valid registers");
    }
}

#[test]
fn fstsw_ax_with_wait_prefix() {
    for tier in TIERS {
        let mut cpu = guest(tier, |a| {
            a.fld1().unwrap();
            a.fld1().unwrap();
            a.fcompp().unwrap();
            a.fstsw(ax).unwrap(); // 9B DF E0: WAIT + FNSTSW AX
            a.wait().unwrap();
        });
        assert_eq!(
            cpu.run(&mut EmptyBus, 1000),
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        assert_eq!(cpu.state().gpr[0] as u16, 0x4000, "C3: equal, TOP 0");
    }
}
