//! Comparison of a native and a reprise outcome, and the readable mismatch report.

use crate::gen::Case;
use crate::guest::GuestTier;
use crate::layout::DATA;
use crate::state::{MachineState, Outcome, GPR_NAMES};
use iced_x86::{Formatter, Instruction, IntelFormatter};
use std::fmt::Write;

/// RFLAGS bits the oracle compares: the six arithmetic flags and DF.
pub const COMPARED_FLAGS: u64 = 0x8d5 | 0x400;

const FLAG_NAMES: [(u64, &str); 7] = [
    (0x1, "CF"),
    (0x4, "PF"),
    (0x10, "AF"),
    (0x40, "ZF"),
    (0x80, "SF"),
    (0x400, "DF"),
    (0x800, "OF"),
];

/// The flags iced-x86 says `ins` leaves undefined, in RFLAGS bit positions.
pub fn undefined_flags(ins: &Instruction) -> u64 {
    crate::gen::rflags_bits(ins.rflags_undefined())
}

fn normalize_vector(v: u8) -> u8 {
    // The host reports #GP, #SS and #PF all as SIGSEGV.
    match v {
        12 | 14 => 13,
        v => v,
    }
}

/// Differences between two completed states, one line each.
pub fn diff_states(undefined: u64, n: &MachineState, g: &MachineState) -> Vec<String> {
    diff_states_fsw(undefined, 0, n, g)
}

/// Like [`diff_states`], also masking the x87 condition bits `undefined_fsw`.
pub fn diff_states_fsw(
    undefined: u64,
    undefined_fsw: u16,
    n: &MachineState,
    g: &MachineState,
) -> Vec<String> {
    let mut d = Vec::new();
    let (nx, gx) = (&n.x87, &g.x87);
    if nx.fcw != gx.fcw {
        d.push(format!(
            "   fcw: native {:#06x}  reprise {:#06x}",
            nx.fcw, gx.fcw
        ));
    }
    // B and ES mirror the (masked) exception flags. After a stack fault (SF) the SDM
    // leaves C0/C2/C3 undefined, and Intel and AMD parts differ there.
    let stack_fault = if nx.fsw & 0x40 != 0 { 0x4500 } else { 0 };
    let fm = !undefined_fsw & !0x8080 & !stack_fault;
    if nx.fsw & fm != gx.fsw & fm {
        d.push(format!(
            "   fsw: native {:#06x}  reprise {:#06x}  (undefined {:#06x})",
            nx.fsw, gx.fsw, undefined_fsw
        ));
    }
    if nx.tags != gx.tags {
        d.push(format!(
            "  tags: native {:#04x}  reprise {:#04x} (abridged, by physical register)",
            nx.tags, gx.tags
        ));
    }
    for i in 0..8 {
        if nx.valid(i) && gx.valid(i) && nx.st[i] != gx.st[i] {
            d.push(format!(
                " st({i}): native {}  reprise {}",
                f80_text(&nx.st[i]),
                f80_text(&gx.st[i])
            ));
        }
    }
    for (r, name) in GPR_NAMES.iter().enumerate() {
        if n.gpr[r] != g.gpr[r] {
            d.push(format!(
                "{:>5}: native {:#018x}  reprise {:#018x}",
                name, n.gpr[r], g.gpr[r]
            ));
        }
    }
    let mask = COMPARED_FLAGS & !undefined;
    let (nf, gf) = (n.rflags & mask, g.rflags & mask);
    if nf != gf {
        let names: Vec<&str> = FLAG_NAMES
            .iter()
            .filter(|(b, _)| (nf ^ gf) & b != 0)
            .map(|(_, s)| *s)
            .collect();
        d.push(format!(
            "rflags: native {:#06x}  reprise {:#06x}  (compared {:#06x}; differ: {})",
            n.rflags & COMPARED_FLAGS,
            g.rflags & COMPARED_FLAGS,
            mask,
            names.join(" ")
        ));
    }
    if n.mxcsr != g.mxcsr {
        d.push(format!(
            " mxcsr: native {:#010x}  reprise {:#010x}",
            n.mxcsr, g.mxcsr
        ));
    }
    for x in 0..16 {
        if n.xmm[x] != g.xmm[x] {
            d.push(format!(
                "{:>5}: native {:016x}_{:016x}  reprise {:016x}_{:016x}",
                format!("xmm{x}"),
                n.xmm[x][1],
                n.xmm[x][0],
                g.xmm[x][1],
                g.xmm[x][0]
            ));
        }
    }
    for (k, (a, b)) in n.data.iter().zip(g.data.iter()).enumerate() {
        if a != b {
            d.push(format!(
                "  [{:#x}]: native {:02x}  reprise {:02x}",
                DATA + k as u64,
                a,
                b
            ));
        }
    }
    d
}

fn f80_text(v: &[u8; 10]) -> String {
    let exp = u16::from_le_bytes([v[8], v[9]]);
    let mant = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
    format!("{exp:04x}_{mant:016x}")
}

/// The verdict on one case in one tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Both raised the same exception.
    BothFault,
    /// reprise raised #UD where the host did not: the instruction is not implemented.
    Unsupported,
    Mismatch(Vec<String>),
}

/// Compares outcomes; `undefined` are the RFLAGS bits not to compare.
pub fn compare(undefined: u64, native: &Outcome, guest: &Outcome) -> Verdict {
    compare_fsw(undefined, 0, native, guest)
}

/// Like [`compare`], also masking the x87 condition bits `undefined_fsw`.
pub fn compare_fsw(
    undefined: u64,
    undefined_fsw: u16,
    native: &Outcome,
    guest: &Outcome,
) -> Verdict {
    match (native, guest) {
        (Outcome::Done(n), Outcome::Done(g)) => {
            let d = diff_states_fsw(undefined, undefined_fsw, n, g);
            if d.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Mismatch(d)
            }
        }
        (Outcome::Fault { vector: a }, Outcome::Fault { vector: b })
            if normalize_vector(*a) == normalize_vector(*b) =>
        {
            Verdict::BothFault
        }
        // reprise raises #UD for what it does not implement; unless the host raised
        // #UD too, that is "unsupported", whatever the host did.
        (Outcome::Done(_), Outcome::Fault { vector: 6 }) => Verdict::Unsupported,
        (Outcome::Fault { vector }, Outcome::Fault { vector: 6 }) if *vector != 6 => {
            Verdict::Unsupported
        }
        (Outcome::Done(_), Outcome::Fault { vector }) => Verdict::Mismatch(vec![format!(
            "reprise raised vector {vector}, the host did not fault"
        )]),
        (Outcome::Fault { vector }, Outcome::Done(_)) => Verdict::Mismatch(vec![format!(
            "the host raised vector {vector} (from its signal), reprise completed"
        )]),
        (Outcome::Fault { vector: a }, Outcome::Fault { vector: b }) => {
            Verdict::Mismatch(vec![format!(
                "the host raised vector {a}, reprise vector {b}"
            )])
        }
    }
}

pub fn format_ins(ins: &Instruction) -> String {
    let mut f = IntelFormatter::new();
    f.options_mut().set_uppercase_hex(false);
    f.options_mut().set_hex_prefix("0x");
    f.options_mut().set_hex_suffix("");
    let mut s = String::new();
    f.format(ins, &mut s);
    s
}

fn state_text(s: &MachineState, out: &mut String) {
    for (r, name) in GPR_NAMES.iter().enumerate() {
        let _ = write!(out, "  {:>3}={:016x}", name, s.gpr[r]);
        if r % 4 == 3 {
            out.push('\n');
        }
    }
    let _ = writeln!(out, "  rflags={:#x} mxcsr={:#x}", s.rflags, s.mxcsr);
    let _ = write!(
        out,
        "  fcw={:#06x} fsw={:#06x} tags={:#04x}\n ",
        s.x87.fcw, s.x87.fsw, s.x87.tags
    );
    for i in 0..8 {
        let e = if s.x87.valid(i) { "" } else { "(empty)" };
        let _ = write!(out, " st{i}={}{e}", f80_text(&s.x87.st[i]));
        if i == 3 {
            out.push_str("\n ");
        }
    }
    out.push('\n');
    for x in 0..16 {
        let _ = write!(
            out,
            "  xmm{:<2}={:016x}_{:016x}",
            x, s.xmm[x][1], s.xmm[x][0]
        );
        if x % 2 == 1 {
            out.push('\n');
        }
    }
    for (k, row) in s.data.chunks(32).enumerate() {
        let _ = write!(out, "  data+{:03x}:", k * 32);
        for b in row {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
}

fn outcome_text(o: &Outcome, out: &mut String) {
    match o {
        Outcome::Done(s) => state_text(s, out),
        Outcome::Fault { vector } => {
            let _ = writeln!(out, "  exception vector {vector}");
        }
    }
}

/// A full, readable report of a mismatch.
pub fn report(
    case: &Case,
    tier: GuestTier,
    native: &Outcome,
    guest: &Outcome,
    diffs: &[String],
) -> String {
    let mut s = String::new();
    let bytes: Vec<String> = case.bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(
        s,
        "MISMATCH [{}] {}    ({:?}; bytes {}; undefined flags {:#x})",
        tier.name(),
        format_ins(&case.ins),
        case.ins.code(),
        bytes.join(" "),
        case.undefined_flags
    );
    if let Some(p) = &case.prefix {
        let _ = writeln!(
            s,
            "  after the flag-setting prefix `{}` ({:?})",
            format_ins(p),
            p.code()
        );
    }
    for d in diffs {
        let _ = writeln!(s, "  {d}");
    }
    s.push_str(" input:\n");
    state_text(&case.input, &mut s);
    s.push_str(" native:\n");
    outcome_text(native, &mut s);
    s.push_str(" reprise:\n");
    outcome_text(guest, &mut s);
    s
}
