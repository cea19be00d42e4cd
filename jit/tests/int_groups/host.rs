//! Checks the reference models of these tests against the host CPU, on the flags the
//! SDM defines (an x86-64 host runs the same instructions natively). This validates
//! the tests' reading of the SDM; the emulator itself is compared with the models.

use crate::bits::{scan_ref, Scan};
use crate::harness::*;
use crate::shift::{double_ref, shift_ref, Sh};

const FIXED: u64 = 0x202;

/// Runs `$ins dst, cl` (or `$ins dst, src, cl` with a source) natively at the width
/// given by the register modifier `$m` ("l", "x", "e", "r").
macro_rules! host {
    ($ins:literal, $m:literal, $d:expr, $c:expr, $f:expr) => {{
        let mut d: u64 = $d;
        let mut f: u64 = $f | FIXED;
        // SAFETY: register-only instruction; the stack use stays below the red zone.
        unsafe {
            core::arch::asm!(
                "sub rsp, 128", "push {f}", "popfq",
                concat!($ins, " {d:", $m, "}, cl"),
                "pushfq", "pop {f}", "add rsp, 128",
                d = inout(reg) d, f = inout(reg) f, in("cl") $c as u8,
            );
        }
        (d, f)
    }};
    ($ins:literal, $m:literal, $d:expr, $s:expr, $c:expr, $f:expr) => {{
        let mut d: u64 = $d;
        let mut f: u64 = $f | FIXED;
        // SAFETY: register-only instruction; the stack use stays below the red zone.
        unsafe {
            core::arch::asm!(
                "sub rsp, 128", "push {f}", "popfq",
                concat!($ins, " {d:", $m, "}, {s:", $m, "}, cl"),
                "pushfq", "pop {f}", "add rsp, 128",
                d = inout(reg) d, s = in(reg) $s, f = inout(reg) f, in("cl") $c as u8,
            );
        }
        (d, f)
    }};
}

macro_rules! per_size {
    ($ins:literal, $size:expr $(, $arg:expr)*) => {
        match $size {
            1 => host!($ins, "l" $(, $arg)*),
            2 => host!($ins, "x" $(, $arg)*),
            4 => host!($ins, "e" $(, $arg)*),
            _ => host!($ins, "r" $(, $arg)*),
        }
    };
}

macro_rules! per_size_wide {
    ($ins:literal, $size:expr $(, $arg:expr)*) => {
        match $size {
            2 => host!($ins, "x" $(, $arg)*),
            4 => host!($ins, "e" $(, $arg)*),
            _ => host!($ins, "r" $(, $arg)*),
        }
    };
}

fn same(what: String, got: (u64, u64), want: (u64, u64, u64), size: u8) {
    let (gd, gf) = (got.0 & mask(size), got.1 & ARITH);
    assert_eq!(gd, want.0, "{what}: result");
    assert_eq!(gf & want.2, want.1 & want.2, "{what}: flags {gf:#x}");
}

#[test]
fn shift_models_match_host() {
    let mut rng = Rng(77);
    for size in [1u8, 2, 4, 8] {
        for _ in 0..300 {
            let v = rng.next() & mask(size);
            let c = rng.next() % 70;
            let f = rng.next() & ARITH;
            let got = [
                per_size!("shl", size, v, c, f),
                per_size!("shr", size, v, c, f),
                per_size!("sar", size, v, c, f),
                per_size!("rol", size, v, c, f),
                per_size!("ror", size, v, c, f),
                per_size!("rcl", size, v, c, f),
                per_size!("rcr", size, v, c, f),
            ];
            let ops = [
                Sh::Shl,
                Sh::Shr,
                Sh::Sar,
                Sh::Rol,
                Sh::Ror,
                Sh::Rcl,
                Sh::Rcr,
            ];
            for (op, g) in ops.into_iter().zip(got) {
                let w = shift_ref(op, size, v, c, f);
                same(format!("{op:?}/{size} {v:#x} by {c}, f {f:#x}"), g, w, size);
            }
            if size > 1 {
                let s = rng.next() & mask(size);
                let got = [
                    per_size_wide!("shld", size, v, s, c, f),
                    per_size_wide!("shrd", size, v, s, c, f),
                ];
                for (left, g) in [true, false].into_iter().zip(got) {
                    if let Some(w) = double_ref(left, size, v, s, c, f) {
                        same(
                            format!("shld {left}/{size} {v:#x} {s:#x} by {c}"),
                            g,
                            w,
                            size,
                        );
                    }
                }
            }
        }
    }
}

macro_rules! host2 {
    ($ins:literal, $m:literal, $d:expr, $s:expr, $f:expr) => {{
        let mut d: u64 = $d;
        let mut f: u64 = $f | FIXED;
        // SAFETY: register-only instruction; the stack use stays below the red zone.
        unsafe {
            core::arch::asm!(
                "sub rsp, 128", "push {f}", "popfq",
                concat!($ins, " {d:", $m, "}, {s:", $m, "}"),
                "pushfq", "pop {f}", "add rsp, 128",
                d = inout(reg) d, s = in(reg) $s, f = inout(reg) f,
            );
        }
        (d, f)
    }};
}

#[test]
fn scan_models_match_host() {
    if !std::is_x86_feature_detected!("bmi1") || !std::is_x86_feature_detected!("lzcnt") {
        return;
    }
    let mut rng = Rng(99);
    for size in [2u8, 4, 8] {
        for k in 0..400 {
            let src = match k % 4 {
                0 => 0,
                1 => 1 << (rng.next() % (size as u64 * 8)),
                _ => rng.next() & mask(size) >> (rng.next() % 64),
            };
            let f = rng.next() & ARITH;
            let d = rng.next();
            let got = match size {
                2 => [
                    host2!("bsf", "x", d, src, f),
                    host2!("bsr", "x", d, src, f),
                    host2!("tzcnt", "x", d, src, f),
                    host2!("lzcnt", "x", d, src, f),
                    host2!("popcnt", "x", d, src, f),
                ],
                4 => [
                    host2!("bsf", "e", d, src, f),
                    host2!("bsr", "e", d, src, f),
                    host2!("tzcnt", "e", d, src, f),
                    host2!("lzcnt", "e", d, src, f),
                    host2!("popcnt", "e", d, src, f),
                ],
                _ => [
                    host2!("bsf", "r", d, src, f),
                    host2!("bsr", "r", d, src, f),
                    host2!("tzcnt", "r", d, src, f),
                    host2!("lzcnt", "r", d, src, f),
                    host2!("popcnt", "r", d, src, f),
                ],
            };
            let ops = [Scan::Bsf, Scan::Bsr, Scan::Tzcnt, Scan::Lzcnt, Scan::Popcnt];
            for (op, g) in ops.into_iter().zip(got) {
                let (r, wf, def) = scan_ref(op, size, src);
                let r = r.unwrap_or(d & mask(size));
                same(format!("{op:?}/{size} {src:#x}"), g, (r, wf, def), size);
            }
        }
    }
}
