//! SSE exceptions (alignment #GP, #NM, #UD, unmasked #XM), LDMXCSR/STMXCSR, MMX forms
//! (#UD), and the software RCP/RSQRT approximations, in both tiers.

mod sse_harness;

use iced_x86::code_asm::*;
use reprise_jit::state::CpuState;
use sse_harness::*;

const GP: u8 = 13;
const UD: u8 = 6;
const NM: u8 = 7;
const XM: u8 = 19;

fn input() -> Io {
    let mut io = Rng(77).input();
    io.mxcsr = 0x1f80;
    io
}

/// Runs `build` in both tiers and expects exception `vector` with XMM registers and
/// memory untouched.
fn expect_fault(build: Build, input: &Io, setup: fn(&mut CpuState), vector: u8) {
    let insn = assemble(build);
    for mut g in both_tiers() {
        let (out, fault) = g.run_with(&insn, input, setup);
        assert_eq!(fault, Some(vector), "{insn:x?}");
        assert_eq!(out.xmm, input.xmm, "{insn:x?}: destination written");
        assert_eq!(out.mem, input.mem, "{insn:x?}: memory written");
        assert_eq!(out.gpr[..15], input.gpr[..15], "{insn:x?}: gpr written");
    }
}

fn expect_ok(build: Build, input: &Io, setup: fn(&mut CpuState)) -> Io {
    let insn = assemble(build);
    let mut outs = Vec::new();
    for mut g in both_tiers() {
        let (out, fault) = g.run_with(&insn, input, setup);
        assert_eq!(fault, None, "{insn:x?}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1]);
    outs.remove(0)
}

fn none(_: &mut CpuState) {}

#[test]
fn misaligned_operands_fault() {
    let io = input();
    let cases: [Build; 10] = [
        |a| a.movaps(xmm1, xmmword_ptr(rsi + 8)),
        |a| a.movaps(xmmword_ptr(rsi + 8), xmm1),
        |a| a.movdqa(xmm1, xmmword_ptr(rsi + 1)),
        |a| a.movntps(xmmword_ptr(rsi + 4), xmm1),
        |a| a.movntdq(xmmword_ptr(rsi + 4), xmm1),
        |a| a.addps(xmm1, xmmword_ptr(rsi + 4)),
        |a| a.pand(xmm1, xmmword_ptr(rsi + 8)),
        |a| a.paddb(xmm1, xmmword_ptr(rsi + 2)),
        |a| a.cvtps2dq(xmm1, xmmword_ptr(rsi + 8)),
        |a| a.pshufd(xmm1, xmmword_ptr(rsi + 4), 0),
    ];
    for c in cases {
        expect_fault(c, &io, none, GP);
    }
    let fine: [Build; 4] = [
        |a| a.movups(xmm1, xmmword_ptr(rsi + 1)),
        |a| a.movdqu(xmmword_ptr(rsi + 3), xmm1),
        |a| a.addss(xmm1, dword_ptr(rsi + 1)),
        |a| a.movsd_2(xmm1, qword_ptr(rsi + 3)),
    ];
    for c in fine {
        expect_ok(c, &io, none);
    }
}

#[test]
fn control_register_preconditions() {
    let io = input();
    let cases: [Build; 6] = [
        |a| a.movaps(xmm1, xmm2),
        |a| a.addps(xmm1, xmm2),
        |a| a.pxor(xmm1, xmm2),
        |a| a.movd(eax, xmm1),
        |a| a.pshufd(xmm1, xmm2, 3),
        // #NM / #UD take priority over the alignment #GP.
        |a| a.addps(xmm1, xmmword_ptr(rsi + 4)),
    ];
    for c in cases {
        expect_fault(c, &io, ts_on, NM);
        expect_fault(c, &io, em_on, UD);
        expect_fault(c, &io, sse_off, UD);
    }
}

#[test]
fn unmasked_exceptions_raise_xm() {
    let mut io = input();
    io.xmm[1] = [0x3f80_0000_3f80_0000, 0x3f80_0000_3f80_0000];
    io.xmm[2] = [0, 0x3f80_0000_3f80_0000];
    // Zero-divide unmasked.
    io.mxcsr = 0x1f80 & !(1 << 9);
    let div: Build = |a| a.divps(xmm1, xmm2);
    let insn = assemble(div);
    for mut g in both_tiers() {
        let (out, fault) = g.run(&insn, &io);
        assert_eq!(fault, Some(XM));
        assert_eq!(out.xmm, io.xmm);
        assert_eq!(out.mxcsr, io.mxcsr | 4, "ZE flag set");
        let (_, fault) = g.run_with(&insn, &io, no_xmm_exc);
        assert_eq!(fault, Some(UD), "without CR4.OSXMMEXCPT");
    }
    // Masked: the host agrees (inf results, ZE set).
    io.mxcsr = 0x1f80;
    let mut out = expect_ok(div, &io, none);
    let mut want = Host::default().run(&insn, &io);
    (out.flags, want.flags) = (0, 0);
    assert_eq!(out, want);
    // Invalid unmasked: conversion of a NaN leaves the GPR alone.
    io.mxcsr = 0x1f80 & !(1 << 7);
    io.xmm[2] = [0x7fc0_0000, 0];
    expect_fault(|a| a.cvttss2si(eax, xmm2), &io, none, XM);
    expect_fault(|a| a.comiss(xmm1, xmm2), &io, none, XM);
    io.xmm[3] = [(-4.0f64).to_bits(), 0];
    expect_fault(|a| a.sqrtsd(xmm1, xmm3), &io, none, XM);
    // UCOMISS only signals invalid for SNaN.
    expect_ok(|a| a.ucomiss(xmm1, xmm2), &io, none);
    // Underflow unmasked: an exact tiny result still signals UE (and FTZ is ignored).
    io.xmm[1] = [2f32.powi(-126).to_bits() as u64, 0];
    io.xmm[2] = [0.5f32.to_bits() as u64, 0];
    io.mxcsr = (0x1f80 & !(1 << 11)) | 0x8000;
    let insn = assemble(|a| a.mulss(xmm1, xmm2));
    for mut g in both_tiers() {
        let (out, fault) = g.run(&insn, &io);
        assert_eq!(fault, Some(XM));
        assert_eq!(out.xmm, io.xmm);
        assert_eq!(out.mxcsr & 0x3f, 0x10, "UE only");
    }
    // Masked, the same product is exact: no flags at all (FTZ off).
    io.mxcsr = 0x1f80;
    let out = expect_ok(|a| a.mulss(xmm1, xmm2), &io, none);
    assert_eq!(out.xmm[1][0] as u32, 2f32.powi(-127).to_bits());
    assert_eq!(out.mxcsr & 0x3f, 0);
}

#[test]
fn ldmxcsr_stmxcsr() {
    let mut io = input();
    io.mem[..4].copy_from_slice(&0x7fc0u32.to_le_bytes());
    io.mem[4..8].copy_from_slice(&0x1_1f80u32.to_le_bytes());
    let out = expect_ok(|a| a.ldmxcsr(dword_ptr(rsi)), &io, none);
    assert_eq!(out.mxcsr, 0x7fc0);
    expect_fault(|a| a.ldmxcsr(dword_ptr(rsi + 4)), &io, none, GP);
    io.mxcsr = 0x9fa3;
    let out = expect_ok(|a| a.stmxcsr(dword_ptr(rsi + 9)), &io, none);
    assert_eq!(out.mem[9..13], 0x9fa3u32.to_le_bytes());
    assert_eq!(out.mem[..9], io.mem[..9]);
    assert_eq!(out.mem[13..], io.mem[13..]);
    // Rounding control set by LDMXCSR is used: round toward zero.
    io.mem[..4].copy_from_slice(&0x7f80u32.to_le_bytes());
    io.xmm[1] = [1.0f64.to_bits(), 0];
    io.xmm[2] = [3.0f64.to_bits(), 0];
    let prog: Build = |a| {
        a.ldmxcsr(dword_ptr(rsi))?;
        a.divsd(xmm1, xmm2)
    };
    let out = expect_ok(prog, &io, none);
    assert_eq!(out.xmm[1][0], 0x3fd5_5555_5555_5555);
    assert_eq!(out.mxcsr, 0x7f80 | 0x20, "PE");
}

#[test]
fn mmx_forms_are_undefined() {
    let io = input();
    let cases: [Build; 4] = [
        |a| a.paddb(mm0, mm1),
        |a| a.movd(mm0, eax),
        |a| a.pxor(mm1, mm2),
        |a| a.movq2dq(xmm1, mm0),
    ];
    for c in cases {
        expect_fault(c, &io, none, UD);
    }
}

fn rel_err(got: f32, exact: f64) -> f64 {
    ((got as f64 - exact) / exact).abs()
}

#[test]
fn rcp_rsqrt_within_documented_error() {
    let mut rng = Rng(12345);
    let mut host = Host::default();
    let forms: [Build; 4] = [
        |a| a.rcpps(xmm1, xmm2),
        |a| a.rsqrtps(xmm1, xmm2),
        |a| a.rcpss(xmm1, xmm2),
        |a| a.rsqrtss(xmm1, xmm2),
    ];
    let mut guests = both_tiers();
    let bound = 1.5 * 2f64.powi(-12);
    for (f, build) in forms.iter().enumerate() {
        let insn = assemble(*build);
        let rsqrt = f % 2 == 1;
        let scalar = f >= 2;
        for _ in 0..200 {
            let io = rng.input();
            let want = host.run(&insn, &io);
            for g in guests.iter_mut() {
                let (got, fault) = g.run(&insn, &io);
                assert_eq!(fault, None);
                assert_eq!(got.mxcsr, io.mxcsr, "no flags");
                if scalar {
                    assert_eq!(got.xmm[1][1], io.xmm[1][1]);
                    assert_eq!(got.xmm[1][0] >> 32, io.xmm[1][0] >> 32);
                }
                let lanes = if scalar { 1 } else { 4 };
                for k in 0..lanes {
                    let lane = |v: [u64; 2]| (v[k / 2] >> (32 * (k % 2))) as u32;
                    let x = f32::from_bits(lane(io.xmm[2]));
                    let r = f32::from_bits(lane(got.xmm[1]));
                    let h = f32::from_bits(lane(want.xmm[1]));
                    if x.is_normal() && !(rsqrt && x < 0.0) {
                        let exact = if rsqrt {
                            1.0 / (x as f64).sqrt()
                        } else {
                            1.0 / x as f64
                        };
                        if (exact.abs() as f32).is_normal() && h.is_normal() {
                            assert!(rel_err(r, exact) <= bound, "{x:e}: {r:e} vs {exact:e}");
                            continue;
                        }
                    }
                    // Special cases: same class and sign as the hardware.
                    assert_eq!(r.is_nan(), h.is_nan(), "{x:e}: {r:e} vs host {h:e}");
                    if !r.is_nan() {
                        assert_eq!(r.to_bits(), h.to_bits(), "{x:e}: {r:e} vs host {h:e}");
                    }
                }
            }
        }
    }
}
