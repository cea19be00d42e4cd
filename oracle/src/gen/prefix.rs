//! The optional flag-setting instruction placed before the instruction under test.

use super::regs::*;
use super::*;

/// A random flag-setting ALU instruction whose destination is a register that `ins`
/// does not use (and that is not locked), and whose undefined flags `ins` does not
/// read.
pub(super) fn flag_prefix(c: &mut Ctx, ins: &Instruction) -> Option<Instruction> {
    let mut f = iced_x86::InstructionInfoFactory::new();
    let used: Vec<usize> = f
        .info(ins)
        .used_registers()
        .iter()
        .filter_map(|u| gpr_index(u.register()))
        .collect();
    let free: Vec<usize> = (0..16)
        .filter(|n| *n != 4 && !used.contains(n) && !c.locked.contains(n))
        .collect();
    let dst = *c.rng.pick(&free)?;
    let size = 1u32 << c.rng.below(4);
    let d = gpr_of_size(dst, size);
    use Code::*;
    let (rr, ri, one): (&[Code], &[Code], &[Code]) = match size {
        1 => (
            &[
                Add_rm8_r8,
                Adc_rm8_r8,
                Sub_rm8_r8,
                Sbb_rm8_r8,
                And_rm8_r8,
                Or_rm8_r8,
                Xor_rm8_r8,
                Cmp_rm8_r8,
                Test_rm8_r8,
            ],
            &[Add_rm8_imm8, Sub_rm8_imm8, Cmp_rm8_imm8, And_rm8_imm8],
            &[Inc_rm8, Dec_rm8, Neg_rm8],
        ),
        2 => (
            &[
                Add_rm16_r16,
                Adc_rm16_r16,
                Sub_rm16_r16,
                Sbb_rm16_r16,
                And_rm16_r16,
                Or_rm16_r16,
                Xor_rm16_r16,
                Cmp_rm16_r16,
                Test_rm16_r16,
            ],
            &[Add_rm16_imm16, Sub_rm16_imm8, Cmp_rm16_imm16, And_rm16_imm8],
            &[Inc_rm16, Dec_rm16, Neg_rm16],
        ),
        4 => (
            &[
                Add_rm32_r32,
                Adc_rm32_r32,
                Sub_rm32_r32,
                Sbb_rm32_r32,
                And_rm32_r32,
                Or_rm32_r32,
                Xor_rm32_r32,
                Cmp_rm32_r32,
                Test_rm32_r32,
            ],
            &[Add_rm32_imm32, Sub_rm32_imm8, Cmp_rm32_imm32, And_rm32_imm8],
            &[Inc_rm32, Dec_rm32, Neg_rm32],
        ),
        _ => (
            &[
                Add_rm64_r64,
                Adc_rm64_r64,
                Sub_rm64_r64,
                Sbb_rm64_r64,
                And_rm64_r64,
                Or_rm64_r64,
                Xor_rm64_r64,
                Cmp_rm64_r64,
                Test_rm64_r64,
            ],
            &[Add_rm64_imm32, Sub_rm64_imm8, Cmp_rm64_imm32, And_rm64_imm8],
            &[Inc_rm64, Dec_rm64, Neg_rm64],
        ),
    };
    let p = match c.rng.below(3) {
        0 => {
            let code = *c.rng.pick(rr)?;
            // Any source register (reading does not disturb the case); legacy byte
            // registers only, so AH..BH never meet a REX prefix.
            let src = if size == 1 {
                *c.rng.pick(&GPR8_LEGACY)?
            } else {
                gpr_of_size(c.rng.below(16) as usize, size)
            };
            let d = if size == 1 {
                *c.rng.pick(&GPR8_LEGACY[..4])?
            } else {
                d
            };
            if size == 1 && !free.contains(&gpr_index(d)?) {
                return None;
            }
            Instruction::with2(code, d, src).ok()?
        }
        1 => {
            let code = *c.rng.pick(ri)?;
            let k = code.op_code().op_kind(1);
            let v = c.imm(k);
            Instruction::with2(code, d, v).ok()?
        }
        _ => Instruction::with1(*c.rng.pick(one)?, d).ok()?,
    };
    if rflags_bits(p.rflags_undefined()) & rflags_bits(ins.rflags_read()) != 0 {
        return None;
    }
    Some(p)
}
