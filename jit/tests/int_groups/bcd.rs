//! DAA DAS AAA AAS AAM AAD, in compatibility mode (they are invalid in 64-bit mode).

use crate::harness::*;

/// The SDM's pseudo-code: (new AX, flags, defined flags), or None for #DE.
fn bcd_ref(op: u8, imm: u8, ax: u16, flags: u64) -> Option<(u16, u64, u64)> {
    let (al, ah) = (ax as u8, (ax >> 8) as u8);
    let (cf0, af0) = (flags & CF != 0, flags & AF != 0);
    let adj = (al & 0xf) > 9 || af0;
    let res = |ax: u16, cf: bool, af: bool| {
        let f = szp(ax as u64 & 0xff, 1) | if cf { CF } else { 0 } | if af { AF } else { 0 };
        (ax, f)
    };
    Some(match op {
        // DAA
        0x27 | 0x2f => {
            let add = op == 0x27;
            let mut a = al;
            let mut cf = false;
            if adj {
                let (v, c) = if add {
                    a.overflowing_add(6)
                } else {
                    a.overflowing_sub(6)
                };
                a = v;
                cf = cf0 || c;
            }
            if al > 0x99 || cf0 {
                a = if add {
                    a.wrapping_add(0x60)
                } else {
                    a.wrapping_sub(0x60)
                };
                cf = true;
            } else if add {
                cf = false;
            }
            let (x, f) = res((ah as u16) << 8 | a as u16, cf, adj);
            (x, f, CF | AF | SF | ZF | PF)
        }
        // AAA / AAS
        0x37 | 0x3f => {
            let x = if adj {
                if op == 0x37 {
                    ax.wrapping_add(0x106)
                } else {
                    ax.wrapping_sub(6).wrapping_sub(0x100)
                }
            } else {
                ax
            };
            let (x, f) = res(x & 0xff0f, adj, adj);
            (x, f, CF | AF)
        }
        // AAM
        0xd4 => {
            if imm == 0 {
                return None;
            }
            let x = ((al / imm) as u16) << 8 | (al % imm) as u16;
            (x, szp(x as u64 & 0xff, 1), SF | ZF | PF)
        }
        // AAD
        _ => {
            let x = al.wrapping_add(ah.wrapping_mul(imm)) as u16;
            (x, szp(x as u64, 1), SF | ZF | PF)
        }
    })
}

#[test]
fn decimal_adjust() {
    for tier in TIERS {
        let mut m = Machine::new(tier);
        let mut rng = Rng(0xbcd0_bcd0);
        let mut n = 0;
        for (op, imm) in [
            (0x27u8, 0u8),
            (0x2f, 0),
            (0x37, 0),
            (0x3f, 0),
            (0xd4, 10),
            (0xd4, 16),
            (0xd4, 0),
            (0xd4, 7),
            (0xd5, 10),
            (0xd5, 3),
        ] {
            for k in 0..160u32 {
                let al = if k < 128 {
                    (k * 2 + (k >> 6)) as u8
                } else {
                    rng.next() as u8
                };
                let ah = rng.next() as u8;
                let ax = (ah as u16) << 8 | al as u16;
                let flags =
                    2 | [0, CF, AF, CF | AF][(k % 4) as usize] | (rng.next() & (SF | ZF | PF | OF));
                let mut inp = Input::default();
                for r in inp.gpr.iter_mut() {
                    *r = rng.next() & 0xffff_ffff;
                }
                inp.gpr[0] = (inp.gpr[0] & !0xffff) | ax as u64;
                inp.rflags = flags;
                let code: Vec<u8> = if op >= 0xd4 { vec![op, imm] } else { vec![op] };
                let out = m.run_compat(&code, &inp, false);
                let mut want = expect(&inp);
                let what = format!("{code:02x?} ax {ax:#06x} flags {flags:#x}");
                match bcd_ref(op, imm, ax, flags) {
                    Some((x, f, def)) => {
                        want.gpr[0] = (inp.gpr[0] & !0xffff) | x as u64;
                        want.rflags = (flags & !ARITH) | f;
                        check(&what, &out, &want, def);
                    }
                    None => {
                        want.fault = Some(0);
                        check(&what, &out, &want, ARITH);
                    }
                }
                n += 1;
            }
        }
        assert_eq!(n, 1600);
    }
}
