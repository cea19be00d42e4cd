//! Conversions between integers, single and double precision (CVT*), run on the host
//! under the guest's MXCSR like [`super::float`]. Computed-of-range and NaN inputs give the
//! integer indefinite value, as the host instruction does.

use super::float::{host2, to_m};
use super::mxcsr::{run_csr, under_guest_csr, Computed, Value, FLAGS};
use iced_x86::Mnemonic;

pub fn handles(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Cvtsi2ss
            | Cvtsi2sd
            | Cvtss2si
            | Cvtsd2si
            | Cvttss2si
            | Cvttsd2si
            | Cvtss2sd
            | Cvtsd2ss
            | Cvtps2pd
            | Cvtpd2ps
            | Cvtdq2ps
            | Cvtps2dq
            | Cvttps2dq
            | Cvtdq2pd
            | Cvtpd2dq
            | Cvttpd2dq
    )
}

/// XMM source to GPR: `{g}` the (64- or 32-bit) destination, `{b}` the source.
macro_rules! to_gpr {
    ($csr:expr, $s:expr, $insn:expr) => {{
        let b = to_m($s);
        let mut csr: u32 = run_csr($csr);
        let mut save: u32 = 0;
        let g: u64;
        // SAFETY: reads and writes only the named registers and the two local u32s it
        // is given pointers to; leaves the host MXCSR's control bits as they were.
        unsafe {
            under_guest_csr!(
                csr,
                save,
                ["xor {g:e}, {g:e}", $insn],
                g = out(reg) g,
                b = in(xmm_reg) b,
                options(nostack),
            );
        }
        (g, csr & FLAGS)
    }};
}

/// GPR source into XMM destination `{a}` (upper parts kept).
macro_rules! from_gpr {
    ($csr:expr, $d:expr, $g:expr, $insn:expr) => {{
        let mut a = to_m($d);
        let g: u64 = $g;
        let mut csr: u32 = run_csr($csr);
        let mut save: u32 = 0;
        // SAFETY: as in `to_gpr!`.
        unsafe {
            under_guest_csr!(
                csr,
                save,
                [$insn],
                a = inout(xmm_reg) a,
                g = in(reg) g,
                options(nostack),
            );
        }
        (super::float::from_m(a), csr & FLAGS)
    }};
}

/// `aux` is the width in bytes (4 or 8) of the integer operand for the scalar
/// integer conversions.
pub fn run(m: Mnemonic, d: u128, s: u128, aux: u8, csr: u32) -> Computed {
    use Mnemonic::*;
    let q = aux == 8;
    let g = s as u64;
    let scalar = |(v, flags): (u64, u32)| Computed {
        value: Value::Scalar(v),
        flags,
    };
    let (v, flags) = match m {
        Cvtss2si if q => return scalar(to_gpr!(csr, s, "cvtss2si {g}, {b}")),
        Cvtss2si => return scalar(to_gpr!(csr, s, "cvtss2si {g:e}, {b}")),
        Cvtsd2si if q => return scalar(to_gpr!(csr, s, "cvtsd2si {g}, {b}")),
        Cvtsd2si => return scalar(to_gpr!(csr, s, "cvtsd2si {g:e}, {b}")),
        Cvttss2si if q => return scalar(to_gpr!(csr, s, "cvttss2si {g}, {b}")),
        Cvttss2si => return scalar(to_gpr!(csr, s, "cvttss2si {g:e}, {b}")),
        Cvttsd2si if q => return scalar(to_gpr!(csr, s, "cvttsd2si {g}, {b}")),
        Cvttsd2si => return scalar(to_gpr!(csr, s, "cvttsd2si {g:e}, {b}")),
        Cvtsi2ss if q => from_gpr!(csr, d, g, "cvtsi2ss {a}, {g}"),
        Cvtsi2ss => from_gpr!(csr, d, g, "cvtsi2ss {a}, {g:e}"),
        Cvtsi2sd if q => from_gpr!(csr, d, g, "cvtsi2sd {a}, {g}"),
        Cvtsi2sd => from_gpr!(csr, d, g, "cvtsi2sd {a}, {g:e}"),
        Cvtss2sd => host2!(csr, d, s, "cvtss2sd {a}, {b}"),
        Cvtsd2ss => host2!(csr, d, s, "cvtsd2ss {a}, {b}"),
        Cvtps2pd => host2!(csr, d, s, "cvtps2pd {a}, {b}"),
        Cvtpd2ps => host2!(csr, d, s, "cvtpd2ps {a}, {b}"),
        Cvtdq2ps => host2!(csr, d, s, "cvtdq2ps {a}, {b}"),
        Cvtps2dq => host2!(csr, d, s, "cvtps2dq {a}, {b}"),
        Cvttps2dq => host2!(csr, d, s, "cvttps2dq {a}, {b}"),
        Cvtdq2pd => host2!(csr, d, s, "cvtdq2pd {a}, {b}"),
        Cvtpd2dq => host2!(csr, d, s, "cvtpd2dq {a}, {b}"),
        Cvttpd2dq => host2!(csr, d, s, "cvttpd2dq {a}, {b}"),
        _ => (d, 0),
    };
    Computed {
        value: Value::Xmm(v),
        flags,
    }
}
