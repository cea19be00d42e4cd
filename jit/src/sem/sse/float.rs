//! Floating-point arithmetic and compares: ADD/SUB/MUL/DIV/MIN/MAX/SQRT, CMPcc (PS PD SS
//! SD), COMIS*/UCOMIS*. These results are fully specified by IEEE 754 and the SDM, so
//! they run as the same instruction on the host, under the guest's rounding mode and
//! DAZ/FTZ with all exceptions masked (see [`super::mxcsr::run_csr`]).

use super::mxcsr::{run_csr, under_guest_csr, Computed, Value, FLAGS};
use core::arch::x86_64::__m128i;
use iced_x86::Mnemonic;

#[inline(always)]
pub fn to_m(v: u128) -> __m128i {
    // SAFETY: u128 and __m128i are both 16 plain bytes; every bit pattern is valid.
    unsafe { core::mem::transmute::<u128, __m128i>(v) }
}

#[inline(always)]
pub fn from_m(v: __m128i) -> u128 {
    // SAFETY: as in `to_m`.
    unsafe { core::mem::transmute::<__m128i, u128>(v) }
}

/// Runs a two-XMM-operand instruction template (`{a}` destination, `{b}` source) on the
/// host under guest MXCSR `$csr` ([`super::mxcsr::under_guest_csr!`]); yields (new
/// destination, MXCSR exception flags after it).
macro_rules! host2 {
    ($csr:expr, $d:expr, $s:expr, $insn:expr) => {{
        let mut a = $crate::sem::sse::float::to_m($d);
        let b = $crate::sem::sse::float::to_m($s);
        let mut csr: u32 = $crate::sem::sse::mxcsr::run_csr($csr);
        let mut save: u32 = 0;
        // SAFETY: the asm reads and writes only the named registers and the two local
        // u32s it is given pointers to, and leaves the host MXCSR's control bits as
        // they were.
        unsafe {
            $crate::sem::sse::mxcsr::under_guest_csr!(
                csr,
                save,
                [$insn],
                a = inout(xmm_reg) a,
                b = in(xmm_reg) b,
                options(nostack),
            );
        }
        (
            $crate::sem::sse::float::from_m(a),
            csr & $crate::sem::sse::mxcsr::FLAGS,
        )
    }};
}
pub(crate) use host2;

pub fn handles(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Addps
            | Addpd
            | Addss
            | Addsd
            | Subps
            | Subpd
            | Subss
            | Subsd
            | Mulps
            | Mulpd
            | Mulss
            | Mulsd
            | Divps
            | Divpd
            | Divss
            | Divsd
            | Minps
            | Minpd
            | Minss
            | Minsd
            | Maxps
            | Maxpd
            | Maxss
            | Maxsd
            | Sqrtps
            | Sqrtpd
            | Sqrtss
            | Sqrtsd
            | Cmpps
            | Cmppd
            | Cmpss
            | Cmpsd
            | Comiss
            | Comisd
            | Ucomiss
            | Ucomisd
    )
}

macro_rules! cmp8 {
    ($csr:expr, $d:expr, $s:expr, $p:expr, $name:literal) => {
        match $p & 7 {
            0 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 0")),
            1 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 1")),
            2 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 2")),
            3 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 3")),
            4 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 4")),
            5 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 5")),
            6 => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 6")),
            _ => host2!($csr, $d, $s, concat!($name, " {a}, {b}, 7")),
        }
    };
}

/// COMIS*/UCOMIS*: returns (ZF|PF|CF as the host set them, MXCSR exception flags).
macro_rules! comi {
    ($csr:expr, $d:expr, $s:expr, $insn:literal) => {{
        let a = to_m($d);
        let b = to_m($s);
        let mut csr: u32 = run_csr($csr);
        let mut save: u32 = 0;
        let f: u64;
        // SAFETY: as in `host2!`; additionally pushes and pops one word on the stack
        // to read RFLAGS.
        unsafe {
            under_guest_csr!(
                csr,
                save,
                [$insn, "pushfq", "pop {f}"],
                a = in(xmm_reg) a,
                b = in(xmm_reg) b,
                f = out(reg) f,
            );
        }
        (f & 0x45, csr & FLAGS)
    }};
}

pub fn run(m: Mnemonic, d: u128, s: u128, imm: u8, csr: u32) -> Computed {
    use Mnemonic::*;
    let (v, flags) = match m {
        Addps => host2!(csr, d, s, "addps {a}, {b}"),
        Addpd => host2!(csr, d, s, "addpd {a}, {b}"),
        Addss => host2!(csr, d, s, "addss {a}, {b}"),
        Addsd => host2!(csr, d, s, "addsd {a}, {b}"),
        Subps => host2!(csr, d, s, "subps {a}, {b}"),
        Subpd => host2!(csr, d, s, "subpd {a}, {b}"),
        Subss => host2!(csr, d, s, "subss {a}, {b}"),
        Subsd => host2!(csr, d, s, "subsd {a}, {b}"),
        Mulps => host2!(csr, d, s, "mulps {a}, {b}"),
        Mulpd => host2!(csr, d, s, "mulpd {a}, {b}"),
        Mulss => host2!(csr, d, s, "mulss {a}, {b}"),
        Mulsd => host2!(csr, d, s, "mulsd {a}, {b}"),
        Divps => host2!(csr, d, s, "divps {a}, {b}"),
        Divpd => host2!(csr, d, s, "divpd {a}, {b}"),
        Divss => host2!(csr, d, s, "divss {a}, {b}"),
        Divsd => host2!(csr, d, s, "divsd {a}, {b}"),
        Minps => host2!(csr, d, s, "minps {a}, {b}"),
        Minpd => host2!(csr, d, s, "minpd {a}, {b}"),
        Minss => host2!(csr, d, s, "minss {a}, {b}"),
        Minsd => host2!(csr, d, s, "minsd {a}, {b}"),
        Maxps => host2!(csr, d, s, "maxps {a}, {b}"),
        Maxpd => host2!(csr, d, s, "maxpd {a}, {b}"),
        Maxss => host2!(csr, d, s, "maxss {a}, {b}"),
        Maxsd => host2!(csr, d, s, "maxsd {a}, {b}"),
        Sqrtps => host2!(csr, d, s, "sqrtps {a}, {b}"),
        Sqrtpd => host2!(csr, d, s, "sqrtpd {a}, {b}"),
        Sqrtss => host2!(csr, d, s, "sqrtss {a}, {b}"),
        Sqrtsd => host2!(csr, d, s, "sqrtsd {a}, {b}"),
        Cmpps => cmp8!(csr, d, s, imm, "cmpps"),
        Cmppd => cmp8!(csr, d, s, imm, "cmppd"),
        Cmpss => cmp8!(csr, d, s, imm, "cmpss"),
        Cmpsd => cmp8!(csr, d, s, imm, "cmpsd"),
        Comiss | Comisd | Ucomiss | Ucomisd => {
            let (f, flags) = match m {
                Comiss => comi!(csr, d, s, "comiss {a}, {b}"),
                Comisd => comi!(csr, d, s, "comisd {a}, {b}"),
                Ucomiss => comi!(csr, d, s, "ucomiss {a}, {b}"),
                _ => comi!(csr, d, s, "ucomisd {a}, {b}"),
            };
            return Computed {
                value: Value::Scalar(f),
                flags,
            };
        }
        _ => (d, 0),
    };
    Computed {
        value: Value::Xmm(v),
        flags,
    }
}
