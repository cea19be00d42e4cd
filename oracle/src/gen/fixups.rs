//! Per-mnemonic constraints that keep cases defined (and mostly free of #DE).

use super::regs::*;
use super::*;

pub(super) fn op_size(k: K) -> u32 {
    match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode | K::al | K::cl => 1,
        K::r16_or_mem | K::r16_reg | K::r16_rm | K::r16_opcode | K::ax => 2,
        K::r32_or_mem | K::r32_reg | K::r32_rm | K::r32_opcode | K::eax => 4,
        _ => 8,
    }
}

pub(super) fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size)) - 1
    }
}

pub(super) fn read_data(st: &MachineState, off: u64, size: u32) -> u64 {
    let mut b = [0u8; 8];
    for (k, byte) in b.iter_mut().enumerate().take(size as usize) {
        *byte = st.data.get(off as usize + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

pub(super) fn write_data(st: &mut MachineState, off: u64, size: u32, v: u64) {
    for (k, byte) in v.to_le_bytes().iter().enumerate().take(size as usize) {
        if let Some(d) = st.data.get_mut(off as usize + k) {
            *d = *byte;
        }
    }
}

/// Keeps DIV/IDIV mostly free of #DE (1 in 16 cases is left unconstrained).
pub(super) fn fix_div(c: &mut Ctx, ins: &Instruction, form: &Form) -> bool {
    if c.rng.chance(16) {
        return true;
    }
    let size = form.ops.first().map_or(8, |k| op_size(*k));
    let signed = form.mnemonic == Mnemonic::Idiv;
    let (lo_r, hi_r) = match size {
        1 => (Register::AL, Register::AH),
        2 => (Register::AX, Register::DX),
        4 => (Register::EAX, Register::EDX),
        _ => (Register::RAX, Register::RDX),
    };
    if c.locked.contains(&0) || c.locked.contains(&2) {
        return false;
    }
    let m = mask(size);
    let (mut d, div_reg) = if ins.op0_kind() == OpKind::Register {
        (
            read_reg(&c.st, ins.op0_register()),
            Some(ins.op0_register()),
        )
    } else {
        (read_data(&c.st, c.mem_off.unwrap_or(0), size), None)
    };
    if div_reg == Some(hi_r) {
        return false;
    }
    if d == 0 {
        d = (c.rng.interesting_u64() & m).max(1);
        match div_reg {
            Some(r) => write_reg(&mut c.st, r, d),
            None => write_data(&mut c.st, c.mem_off.unwrap_or(0), size, d),
        }
    }
    if signed {
        let bits = 8 * size;
        let sx = |v: u64| ((v << (64 - bits)) as i64) >> (64 - bits);
        let mut lo = read_reg(&c.st, lo_r);
        let min = 1u64 << (bits - 1);
        if lo == min && sx(d) == -1 {
            if div_reg == Some(lo_r) {
                return false;
            }
            lo = 0;
            write_reg(&mut c.st, lo_r, lo);
        }
        let hi = if sx(lo) < 0 { m } else { 0 };
        write_reg(&mut c.st, hi_r, hi);
    } else {
        write_reg(&mut c.st, hi_r, c.rng.below(d));
    }
    true
}

pub(super) fn fixups(c: &mut Ctx, ins: &Instruction, form: &Form) -> bool {
    use Mnemonic::*;
    match form.mnemonic {
        Div | Idiv => fix_div(c, ins, form),
        Bt | Bts | Btr | Btc
            if ins.op0_kind() == OpKind::Memory && ins.op1_kind() == OpKind::Register =>
        {
            let r = ins.op1_register();
            match gpr_index(r) {
                Some(n) if !c.locked.contains(&n) => {
                    c.st.gpr[n] = (c.rng.below(512) as i64 - 256) as u64;
                    true
                }
                _ => false,
            }
        }
        // ENTER copies `level` frame pointers from below RBP: keep them in the data
        // area. Hosts also probe the final RSP (RSP - size), so keep that mapped.
        Enter => ins.immediate8_2nd() & 31 <= 4 && ins.immediate16() < 0x1000,
        Shld | Shrd if form.ops.first().map(|k| op_size(*k)) == Some(2) => {
            // Counts above 16 leave a 16-bit result undefined.
            let count = if ins.op2_kind() == OpKind::Register {
                if c.locked.contains(&1) {
                    return false;
                }
                let v = c.rng.below(17);
                write_reg(&mut c.st, Register::CL, v);
                v
            } else {
                ins.immediate8() as u64
            };
            count & 31 <= 16
        }
        // With a zero source and a 32-bit destination, Intel zero-extends the
        // (unchanged) destination and AMD leaves all 64 bits: vendor-dependent, so
        // keep the source non-zero.
        Bsf | Bsr if form.ops.first().map(|k| op_size(*k)) == Some(4) => {
            if ins.op1_kind() == OpKind::Register {
                let r = ins.op1_register();
                match gpr_index(r) {
                    Some(n) if !c.locked.contains(&n) => {
                        if c.st.gpr[n] & 0xffff_ffff == 0 {
                            c.st.gpr[n] |= 1 << c.rng.below(32);
                        }
                        true
                    }
                    _ => false,
                }
            } else {
                let off = c.mem_off.unwrap_or(0);
                if read_data(&c.st, off, 4) == 0 {
                    let bit = 1u64 << c.rng.below(32);
                    write_data(&mut c.st, off, 4, bit);
                }
                true
            }
        }
        _ => true,
    }
}
