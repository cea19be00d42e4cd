//! SSE/SSE2 instructions against the host: every case runs in both tiers and natively,
//! from the same random registers, memory and MXCSR (rounding modes, DAZ, FTZ, sticky
//! flags; exceptions masked), and must agree bit for bit, flags and MXCSR included.

mod sse_harness;

use iced_x86::code_asm::*;
use sse_harness::*;

/// Random inputs per instruction form.
const CASES: usize = 48;

macro_rules! t {
    ($($name:ident ( $($arg:expr),* ));* $(;)?) => {
        vec![$( (concat!(stringify!($name), " ", stringify!($($arg),*)), (|a: &mut CodeAssembler| a.$name($($arg),*)) as Build) ),*]
    };
}

fn check(list: Vec<(&'static str, Build)>, compare_flags: bool, seed: u64) {
    let mut host = Host::default();
    let mut guests = both_tiers();
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    for (name, build) in list {
        let insn = assemble(build);
        for case in 0..CASES {
            let input = rng.input();
            let mut want = host.run(&insn, &input);
            if !compare_flags {
                want.flags = 0;
            }
            for g in guests.iter_mut() {
                let (mut got, fault) = g.run(&insn, &input);
                if !compare_flags {
                    got.flags = 0;
                }
                if fault.is_some() || got != want {
                    failures.push(format!(
                        "{name} case {case}: fault {fault:?}\n input {input:x?}\n want {want:x?}\n got  {got:x?}"
                    ));
                    break;
                }
            }
            if failures.len() > 4 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn moves() {
    check(
        t![
            movaps(xmm1, xmm2); movaps(xmm1, xmmword_ptr(rsi + 16)); movaps(xmmword_ptr(rsi + 32), xmm2);
            movapd(xmm9, xmm2); movapd(xmm1, xmmword_ptr(rsi)); movapd(xmmword_ptr(rsi), xmm12);
            movdqa(xmm1, xmm15); movdqa(xmm1, xmmword_ptr(rsi + 48)); movdqa(xmmword_ptr(rsi + 16), xmm2);
            movups(xmm1, xmmword_ptr(rsi + 3)); movups(xmmword_ptr(rsi + 5), xmm2); movups(xmm1, xmm2);
            movupd(xmm1, xmmword_ptr(rsi + 9)); movupd(xmmword_ptr(rsi + 15), xmm2);
            movdqu(xmm1, xmmword_ptr(rsi + 1)); movdqu(xmmword_ptr(rsi + 7), xmm2);
            lddqu(xmm1, xmmword_ptr(rsi + 1));
            movntps(xmmword_ptr(rsi + 16), xmm2); movntpd(xmmword_ptr(rsi), xmm2); movntdq(xmmword_ptr(rsi + 32), xmm2);
            movnti(dword_ptr(rsi + 4), eax); movnti(qword_ptr(rsi + 8), rcx);
            movss(xmm1, xmm2); movss(xmm1, dword_ptr(rsi + 4)); movss(dword_ptr(rsi + 8), xmm2);
            movsd_2(xmm1, xmm2); movsd_2(xmm1, qword_ptr(rsi + 4)); movsd_2(qword_ptr(rsi + 8), xmm2);
            movd(xmm1, eax); movd(xmm1, dword_ptr(rsi + 4)); movd(ecx, xmm2); movd(dword_ptr(rsi + 2), xmm2);
            movq(xmm1, rax); movq(xmm1, qword_ptr(rsi + 4)); movq(rcx, xmm2); movq(qword_ptr(rsi + 2), xmm2);
            movq(xmm1, xmm2);
            movhps(xmm1, qword_ptr(rsi + 8)); movhps(qword_ptr(rsi + 3), xmm2);
            movlps(xmm1, qword_ptr(rsi + 8)); movlps(qword_ptr(rsi + 3), xmm2);
            movhpd(xmm1, qword_ptr(rsi + 8)); movhpd(qword_ptr(rsi + 3), xmm2);
            movlpd(xmm1, qword_ptr(rsi + 8)); movlpd(qword_ptr(rsi + 3), xmm2);
            movhlps(xmm1, xmm2); movlhps(xmm1, xmm2); movhlps(xmm3, xmm3);
            maskmovdqu(xmm1, xmm2); maskmovdqu(xmm5, xmm5);
        ],
        false,
        1,
    );
}

#[test]
fn logic() {
    check(
        t![
            andps(xmm1, xmm2); andnps(xmm1, xmm2); orps(xmm1, xmm2); xorps(xmm1, xmm2);
            andpd(xmm1, xmm2); andnpd(xmm1, xmm2); orpd(xmm1, xmm2); xorpd(xmm1, xmm1);
            pand(xmm1, xmm2); pandn(xmm1, xmm2); por(xmm1, xmm2); pxor(xmm1, xmm2);
            andps(xmm1, xmmword_ptr(rsi)); pandn(xmm8, xmmword_ptr(rsi + 16)); pxor(xmm1, xmmword_ptr(rsi + 32));
            paddq(xmm1, xmm2); psubq(xmm1, xmm2); paddq(xmm1, xmmword_ptr(rsi)); psubq(xmm1, xmmword_ptr(rsi + 48));
        ],
        false,
        2,
    );
}

#[test]
fn integer_lanes() {
    check(
        t![
            paddb(xmm1, xmm2); paddw(xmm1, xmm2); paddd(xmm1, xmm2); paddd(xmm1, xmmword_ptr(rsi));
            psubb(xmm1, xmm2); psubw(xmm1, xmm2); psubd(xmm1, xmm2);
            paddsb(xmm1, xmm2); paddsw(xmm1, xmm2); paddusb(xmm1, xmm2); paddusw(xmm1, xmm2);
            psubsb(xmm1, xmm2); psubsw(xmm1, xmm2); psubusb(xmm1, xmm2); psubusw(xmm1, xmm2);
            pmullw(xmm1, xmm2); pmulhw(xmm1, xmm2); pmulhuw(xmm1, xmm2); pmuludq(xmm1, xmm2);
            pmaddwd(xmm1, xmm2); pmaddwd(xmm1, xmmword_ptr(rsi + 16));
            pcmpeqb(xmm1, xmm2); pcmpeqw(xmm1, xmm2); pcmpeqd(xmm1, xmm2); pcmpeqb(xmm1, xmm1);
            pcmpgtb(xmm1, xmm2); pcmpgtw(xmm1, xmm2); pcmpgtd(xmm1, xmm2);
            pminub(xmm1, xmm2); pmaxub(xmm1, xmm2); pminsw(xmm1, xmm2); pmaxsw(xmm1, xmm2);
            pavgb(xmm1, xmm2); pavgw(xmm1, xmm2); psadbw(xmm1, xmm2); psadbw(xmm1, xmmword_ptr(rsi + 32));
            pmovmskb(eax, xmm2); movmskps(ecx, xmm2); movmskpd(edx, xmm2); pmovmskb(r9d, xmm12);
        ],
        false,
        3,
    );
}

#[test]
fn shifts() {
    let mut list = t![
        psllw(xmm1, xmm3); pslld(xmm1, xmm3); psllq(xmm1, xmm3);
        psrlw(xmm1, xmm3); psrld(xmm1, xmm3); psrlq(xmm1, xmm3);
        psraw(xmm1, xmm3); psrad(xmm1, xmm3);
        psllw(xmm1, xmm2); psrad(xmm1, xmm2); psrlq(xmm1, xmmword_ptr(rsi));
    ];
    list.extend(t![
        psllw(xmm1, 0); psllw(xmm1, 1); psllw(xmm1, 15); psllw(xmm1, 16);
        pslld(xmm1, 7); pslld(xmm1, 31); pslld(xmm1, 32); psllq(xmm1, 33); psllq(xmm1, 63);
        psllq(xmm1, 64); psrlw(xmm1, 3); psrlw(xmm1, 200); psrld(xmm1, 17); psrlq(xmm1, 40);
        psraw(xmm1, 5); psraw(xmm1, 15); psraw(xmm1, 16); psraw(xmm1, 255); psrad(xmm1, 1);
        psrad(xmm1, 31); psrad(xmm1, 99);
        pslldq(xmm1, 0); pslldq(xmm1, 1); pslldq(xmm1, 8); pslldq(xmm1, 15); pslldq(xmm1, 16);
        pslldq(xmm1, 255); psrldq(xmm1, 3); psrldq(xmm1, 9); psrldq(xmm1, 17);
    ]);
    check(list, false, 4);
}

#[test]
fn shuffles() {
    check(
        t![
            pshufd(xmm1, xmm2, 0x1b); pshufd(xmm1, xmm2, 0); pshufd(xmm1, xmmword_ptr(rsi), 0xe4); pshufd(xmm2, xmm2, 0x4e);
            pshuflw(xmm1, xmm2, 0x1b); pshuflw(xmm1, xmm2, 0xc6); pshufhw(xmm1, xmm2, 0x1b); pshufhw(xmm1, xmmword_ptr(rsi + 16), 0x39);
            shufps(xmm1, xmm2, 0x1b); shufps(xmm1, xmm2, 0xb1); shufps(xmm1, xmm1, 0x4e); shufps(xmm1, xmmword_ptr(rsi), 0x88);
            shufpd(xmm1, xmm2, 0); shufpd(xmm1, xmm2, 1); shufpd(xmm1, xmm2, 2); shufpd(xmm1, xmm2, 3);
            punpcklbw(xmm1, xmm2); punpcklwd(xmm1, xmm2); punpckldq(xmm1, xmm2); punpcklqdq(xmm1, xmm2);
            punpckhbw(xmm1, xmm2); punpckhwd(xmm1, xmm2); punpckhdq(xmm1, xmm2); punpckhqdq(xmm1, xmm2);
            punpcklbw(xmm1, xmmword_ptr(rsi)); punpckhqdq(xmm1, xmmword_ptr(rsi + 16));
            unpcklps(xmm1, xmm2); unpckhps(xmm1, xmm2); unpcklpd(xmm1, xmm2); unpckhpd(xmm1, xmm2);
            packsswb(xmm1, xmm2); packssdw(xmm1, xmm2); packuswb(xmm1, xmm2); packuswb(xmm1, xmmword_ptr(rsi + 32));
            pinsrw(xmm1, eax, 0); pinsrw(xmm1, ecx, 5); pinsrw(xmm1, word_ptr(rsi + 3), 7); pinsrw(xmm1, eax, 9);
            pextrw(eax, xmm2, 0); pextrw(ecx, xmm2, 6); pextrw(r8d, xmm9, 11);
        ],
        false,
        5,
    );
}

#[test]
fn float_arith() {
    check(
        t![
            addps(xmm1, xmm2); addpd(xmm1, xmm2); addss(xmm1, xmm2); addsd(xmm1, xmm2);
            subps(xmm1, xmm2); subpd(xmm1, xmm2); subss(xmm1, xmm2); subsd(xmm1, xmm2);
            mulps(xmm1, xmm2); mulpd(xmm1, xmm2); mulss(xmm1, xmm2); mulsd(xmm1, xmm2);
            divps(xmm1, xmm2); divpd(xmm1, xmm2); divss(xmm1, xmm2); divsd(xmm1, xmm2);
            minps(xmm1, xmm2); minpd(xmm1, xmm2); minss(xmm1, xmm2); minsd(xmm1, xmm2);
            maxps(xmm1, xmm2); maxpd(xmm1, xmm2); maxss(xmm1, xmm2); maxsd(xmm1, xmm2);
            sqrtps(xmm1, xmm2); sqrtpd(xmm1, xmm2); sqrtss(xmm1, xmm2); sqrtsd(xmm1, xmm2);
            addps(xmm1, xmmword_ptr(rsi)); mulpd(xmm1, xmmword_ptr(rsi + 16)); divss(xmm1, dword_ptr(rsi + 4));
            subsd(xmm1, qword_ptr(rsi + 12)); sqrtss(xmm1, dword_ptr(rsi + 1)); maxsd(xmm1, qword_ptr(rsi + 40));
        ],
        false,
        6,
    );
}

#[test]
fn float_compares() {
    let mut list = Vec::new();
    for p in 0..8u32 {
        // The predicate goes through a static table because `Build` is a fn pointer.
        const PS: [Build; 8] = [
            |a| a.cmpps(xmm1, xmm2, 0),
            |a| a.cmpps(xmm1, xmm2, 1),
            |a| a.cmpps(xmm1, xmm2, 2),
            |a| a.cmpps(xmm1, xmm2, 3),
            |a| a.cmpps(xmm1, xmm2, 4),
            |a| a.cmpps(xmm1, xmm2, 5),
            |a| a.cmpps(xmm1, xmm2, 6),
            |a| a.cmpps(xmm1, xmm2, 7),
        ];
        const PD: [Build; 8] = [
            |a| a.cmppd(xmm1, xmm2, 0),
            |a| a.cmppd(xmm1, xmm2, 1),
            |a| a.cmppd(xmm1, xmm2, 2),
            |a| a.cmppd(xmm1, xmm2, 3),
            |a| a.cmppd(xmm1, xmmword_ptr(rsi), 4),
            |a| a.cmppd(xmm1, xmm2, 5),
            |a| a.cmppd(xmm1, xmm2, 6),
            |a| a.cmppd(xmm1, xmm2, 7),
        ];
        const SS: [Build; 8] = [
            |a| a.cmpss(xmm1, xmm2, 0),
            |a| a.cmpss(xmm1, xmm2, 1),
            |a| a.cmpss(xmm1, dword_ptr(rsi + 4), 2),
            |a| a.cmpss(xmm1, xmm2, 3),
            |a| a.cmpss(xmm1, xmm2, 4),
            |a| a.cmpss(xmm1, xmm2, 5),
            |a| a.cmpss(xmm1, xmm2, 6),
            |a| a.cmpss(xmm1, xmm2, 7),
        ];
        const SD: [Build; 8] = [
            |a| a.cmpsd_3(xmm1, xmm2, 0),
            |a| a.cmpsd_3(xmm1, xmm2, 1),
            |a| a.cmpsd_3(xmm1, xmm2, 2),
            |a| a.cmpsd_3(xmm1, qword_ptr(rsi + 8), 3),
            |a| a.cmpsd_3(xmm1, xmm2, 4),
            |a| a.cmpsd_3(xmm1, xmm2, 5),
            |a| a.cmpsd_3(xmm1, xmm2, 6),
            |a| a.cmpsd_3(xmm1, xmm2, 7),
        ];
        let k = p as usize;
        list.push(("cmpps", PS[k]));
        list.push(("cmppd", PD[k]));
        list.push(("cmpss", SS[k]));
        list.push(("cmpsd", SD[k]));
    }
    check(list, false, 7);
    check(
        t![
            comiss(xmm1, xmm2); comisd(xmm1, xmm2); ucomiss(xmm1, xmm2); ucomisd(xmm1, xmm2);
            comiss(xmm1, dword_ptr(rsi + 4)); ucomisd(xmm1, qword_ptr(rsi + 8));
        ],
        true,
        8,
    );
}

#[test]
fn conversions() {
    check(
        t![
            cvtsi2ss(xmm1, eax); cvtsi2ss(xmm1, rax); cvtsi2ss(xmm1, dword_ptr(rsi)); cvtsi2ss(xmm1, qword_ptr(rsi + 8));
            cvtsi2sd(xmm1, ecx); cvtsi2sd(xmm1, rcx); cvtsi2sd(xmm1, dword_ptr(rsi + 4)); cvtsi2sd(xmm1, qword_ptr(rsi + 16));
            cvtss2si(eax, xmm2); cvtss2si(rax, xmm2); cvtss2si(ecx, dword_ptr(rsi + 4)); cvtss2si(rcx, dword_ptr(rsi));
            cvtsd2si(eax, xmm2); cvtsd2si(rax, xmm2); cvtsd2si(r10, qword_ptr(rsi + 8));
            cvttss2si(eax, xmm2); cvttss2si(rax, xmm2); cvttss2si(edx, dword_ptr(rsi + 12));
            cvttsd2si(eax, xmm2); cvttsd2si(rax, xmm2); cvttsd2si(r11d, qword_ptr(rsi + 24));
            cvtss2sd(xmm1, xmm2); cvtsd2ss(xmm1, xmm2); cvtss2sd(xmm1, dword_ptr(rsi + 4)); cvtsd2ss(xmm1, qword_ptr(rsi + 8));
            cvtps2pd(xmm1, xmm2); cvtpd2ps(xmm1, xmm2); cvtps2pd(xmm1, qword_ptr(rsi + 8)); cvtpd2ps(xmm1, xmmword_ptr(rsi));
            cvtdq2ps(xmm1, xmm2); cvtps2dq(xmm1, xmm2); cvttps2dq(xmm1, xmm2);
            cvtdq2pd(xmm1, xmm2); cvtpd2dq(xmm1, xmm2); cvttpd2dq(xmm1, xmm2); cvtdq2pd(xmm1, qword_ptr(rsi + 4));
            cvttps2dq(xmm1, xmmword_ptr(rsi + 16)); cvtpd2dq(xmm1, xmmword_ptr(rsi + 32));
        ],
        false,
        9,
    );
}

/// Fixed inputs for the corner cases: signed zeros in every rounding mode, denormal
/// inputs and tiny results under every DAZ/FTZ combination, indefinite conversions.
#[test]
fn signed_zeros_denormals_and_indefinites() {
    let mut host = Host::default();
    let mut guests = both_tiers();
    let forms = t![
        addps(xmm1, xmm2); subpd(xmm1, xmm2); mulss(xmm1, xmm2); divsd(xmm1, xmm2);
        minps(xmm1, xmm2); maxpd(xmm1, xmm2); sqrtps(xmm1, xmm2); cmppd(xmm1, xmm2, 0);
        cvtps2pd(xmm1, xmm2); cvtpd2ps(xmm1, xmm2); cvttps2dq(xmm1, xmm2); cvtsd2si(rax, xmm2);
        cvttss2si(eax, xmm2); ucomiss(xmm1, xmm2);
    ];
    let f = |a: f32, b: f32| (a.to_bits() as u64) | (b.to_bits() as u64) << 32;
    let d = |a: f64| a.to_bits();
    let tiny32 = f32::from_bits(1);
    let tiny64 = f64::from_bits(1);
    let pairs: [([u64; 2], [u64; 2]); 6] = [
        ([f(0.0, -0.0), f(-0.0, 0.0)], [f(-0.0, -0.0), f(0.0, 0.0)]),
        ([d(0.0), d(-0.0)], [d(-0.0), d(-0.0)]),
        (
            [f(tiny32, 1e-38), f(-tiny32, 3.0)],
            [f(0.0, 0.5), f(tiny32, 1e-30)],
        ),
        ([d(tiny64), d(1e-308)], [d(0.0), d(0.25)]),
        (
            [f(1.0, -2.5), f(2.5, 3.5)],
            [f(f32::NAN, 3e9), f(-3e9, 2.5)],
        ),
        ([d(1e19), d(-0.5)], [d(-9.3e18), d(f64::INFINITY)]),
    ];
    for (x1, x2) in pairs {
        for csr in 0..16u32 {
            let mut io = Io::default();
            io.xmm[1] = x1;
            io.xmm[2] = x2;
            io.mxcsr = 0x1f80 | (csr & 3) << 13 | (csr & 4) << 4 | (csr & 8) << 12;
            for (name, build) in &forms {
                let insn = assemble(*build);
                let mut want = host.run(&insn, &io);
                if !name.starts_with("ucomiss") {
                    want.flags = 0;
                }
                for g in guests.iter_mut() {
                    let (mut got, fault) = g.run(&insn, &io);
                    if !name.starts_with("ucomiss") {
                        got.flags = 0;
                    }
                    assert_eq!(fault, None, "{name}");
                    assert_eq!(got, want, "{name} mxcsr {:#x}", io.mxcsr);
                }
            }
        }
    }
    // A few results spelled out.
    let mut io = Io::default();
    io.xmm[1] = [f(0.0, 2e-38), 0];
    io.xmm[2] = [f(-0.0, 0.5), 0];
    let mul: Build = |a| a.mulps(xmm1, xmm2);
    let add: Build = |a| a.addps(xmm1, xmm2);
    let g = &mut guests[0];
    io.mxcsr = 0x1f80 | 0x8000; // FTZ: the tiny product flushes to +0, UE and PE set
    let (out, _) = g.run(&assemble(mul), &io);
    assert_eq!(out.xmm[1][0], f(-0.0, 0.0));
    assert_eq!(out.mxcsr & 0x3f, 0x30);
    io.mxcsr = 0x1f80 | 0x2000; // round down: 0 + -0 = -0
    let (out, _) = g.run(&assemble(add), &io);
    assert_eq!(out.xmm[1][0] as u32, 0x8000_0000);
    io.xmm[2] = [f(-tiny32, 0.0), 0];
    io.mxcsr = 0x1f80 | 0x40; // DAZ: the denormal input counts as -0, no DE
    let (out, _) = g.run(&assemble(add), &io);
    assert_eq!(out.xmm[1][0] as u32, 0);
    assert_eq!(out.mxcsr & 0x3f, 0);
    io.xmm[2] = [f(f32::NAN, 0.0), 0];
    io.mxcsr = 0x1f80;
    let (out, _) = g.run(&assemble(|a| a.cvttss2si(eax, xmm2)), &io);
    assert_eq!(out.gpr[0] as u32, 0x8000_0000, "integer indefinite");
    assert_eq!(out.mxcsr & 1, 1, "IE");
}
