//! GPR names by number and size, and partial register reads and writes.

use super::*;

pub(super) const GPR8_LEGACY: [Register; 8] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
];

pub(super) fn gpr_of_size(n: usize, size: u32) -> Register {
    let base = match size {
        1 => Register::AL,
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    };
    // iced numbers the REX byte registers SPL..R15L after AL..BH, AH..BH.
    if size == 1 && n >= 4 {
        reg_from_u8(Register::SPL as u8 + (n as u8 - 4))
    } else {
        reg_from_u8(base as u8 + n as u8)
    }
}

/// The register with iced-x86 enum value `v` (None when out of range).
pub(super) fn reg_from_u8(v: u8) -> Register {
    Register::values().nth(v as usize).unwrap_or(Register::None)
}

/// Number 0..15 of the 64-bit register containing `r` (None for non-GPRs).
pub fn gpr_index(r: Register) -> Option<usize> {
    if r.is_gpr() {
        Some(r.full_register().number())
    } else {
        None
    }
}

pub(super) fn read_reg(st: &MachineState, r: Register) -> u64 {
    let Some(n) = gpr_index(r) else { return 0 };
    let v = st.gpr[n];
    match r.size() {
        1 if (Register::AH..=Register::BH).contains(&r) => (v >> 8) & 0xff,
        1 => v & 0xff,
        2 => v & 0xffff,
        4 => v & 0xffff_ffff,
        _ => v,
    }
}

pub(super) fn write_reg(st: &mut MachineState, r: Register, val: u64) {
    let Some(n) = gpr_index(r) else { return };
    let v = &mut st.gpr[n];
    match r.size() {
        1 if (Register::AH..=Register::BH).contains(&r) => *v = (*v & !0xff00) | (val & 0xff) << 8,
        1 => *v = (*v & !0xff) | (val & 0xff),
        2 => *v = (*v & !0xffff) | (val & 0xffff),
        4 => *v = (*v & !0xffff_ffff) | (val & 0xffff_ffff),
        _ => *v = val,
    }
}
