//! Operands of a form: registers, memory operands solved into the data area,
//! immediates, and string instructions.

use super::regs::*;
use super::*;

#[derive(Clone, Copy, Debug)]
pub(super) enum Arg {
    R(Register),
    M(MemoryOperand),
    I(i64),
}

pub(super) struct Ctx<'a> {
    pub(super) rng: &'a mut Rng,
    pub(super) st: MachineState,
    /// GPRs that hold an address (or a count) and must not be changed by fix-ups.
    pub(super) locked: Vec<usize>,
    /// Offset of the memory operand in the data area.
    pub(super) mem_off: Option<u64>,
    pub(super) rex8: bool,
}

impl Ctx<'_> {
    pub(super) fn pick_gpr(&mut self, size: u32) -> Register {
        loop {
            if size == 1 && !self.rex8 {
                return *self.rng.pick(&GPR8_LEGACY).unwrap_or(&Register::AL);
            }
            let n = self.rng.below(16) as usize;
            if n != 4 {
                return gpr_of_size(n, size);
            }
        }
    }

    pub(super) fn pick_free_gpr(&mut self, size: u32, not: Option<usize>) -> Option<Register> {
        for _ in 0..32 {
            let n = self.rng.below(16) as usize;
            if n != 4 && !self.locked.contains(&n) && Some(n) != not {
                return Some(gpr_of_size(n, size));
            }
        }
        None
    }

    pub(super) fn mem(&mut self, align16: bool, offs: bool) -> Option<MemoryOperand> {
        let off = if align16 {
            64 + 16 * self.rng.below(8)
        } else {
            let o = 64 + self.rng.below(113);
            if self.rng.chance(2) {
                o & !7
            } else {
                o
            }
        };
        self.mem_off = Some(off);
        let addr = DATA + off;
        if offs {
            return Some(MemoryOperand::with_displ(addr, 8));
        }
        if self.rng.chance(8) {
            return Some(MemoryOperand::with_base_displ(Register::RIP, addr as i64));
        }
        let a32 = self.rng.chance(8);
        let size = if a32 { 4 } else { 8 };
        let base = self.pick_free_gpr(size, None)?;
        let bn = gpr_index(base)?;
        let (index, scale) = if self.rng.chance(2) {
            let ix = self.pick_free_gpr(size, Some(bn))?;
            (ix, 1u64 << self.rng.below(4))
        } else {
            (Register::None, 1)
        };
        let disp: i64 = match self.rng.below(3) {
            0 => 0,
            1 => self.rng.below(256) as i64 - 128,
            _ => self.rng.next_u64() as i32 as i64 / 16,
        };
        let ixv = gpr_index(index).map_or(0, |n| self.st.gpr[n]);
        let bv = addr
            .wrapping_sub(disp as u64)
            .wrapping_sub(ixv.wrapping_mul(scale));
        if a32 {
            let high = self.rng.next_u64() & !0xffff_ffff;
            self.st.gpr[bn] = high | (bv & 0xffff_ffff);
        } else {
            self.st.gpr[bn] = bv;
        }
        self.locked.push(bn);
        if let Some(n) = gpr_index(index) {
            self.locked.push(n);
        }
        let dsize = if disp == 0 {
            0
        } else if (-128..128).contains(&disp) {
            1
        } else {
            4
        };
        Some(MemoryOperand::with_base_index_scale_displ_size(
            base,
            index,
            scale as u32,
            disp,
            dsize,
        ))
    }

    pub(super) fn imm(&mut self, k: K) -> i64 {
        let v = self.rng.interesting_u64();
        match k {
            K::imm8_const_1 => 1,
            K::imm8 | K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => v as i8 as i64,
            K::imm16 => v as i16 as i64,
            K::imm32 | K::imm32sex64 => v as i32 as i64,
            _ => v as i64,
        }
    }

    pub(super) fn arg(&mut self, k: K, form: &Form) -> Option<Arg> {
        let rm_mem = self.rng.chance(2);
        Some(match k {
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem | K::xmm_or_mem
                if rm_mem =>
            {
                Arg::M(self.mem(form.sse, false)?)
            }
            K::mem => Arg::M(self.mem(form.sse, false)?),
            K::mem_offs => Arg::M(self.mem(false, true)?),
            K::r8_or_mem | K::r8_reg | K::r8_opcode => Arg::R(self.pick_gpr(1)),
            K::r16_or_mem | K::r16_reg | K::r16_rm | K::r16_opcode => Arg::R(self.pick_gpr(2)),
            K::r32_or_mem | K::r32_reg | K::r32_rm | K::r32_opcode => Arg::R(self.pick_gpr(4)),
            K::r64_or_mem | K::r64_reg | K::r64_rm | K::r64_opcode => Arg::R(self.pick_gpr(8)),
            K::xmm_or_mem | K::xmm_reg | K::xmm_rm => {
                let x = self.rng.below(16) as u8;
                Arg::R(Register::values().nth(Register::XMM0 as usize + x as usize)?)
            }
            K::st0 => Arg::R(Register::ST0),
            K::sti_opcode => {
                Arg::R(Register::values().nth(Register::ST0 as usize + self.rng.below(8) as usize)?)
            }
            K::al => Arg::R(Register::AL),
            K::cl => Arg::R(Register::CL),
            K::ax => Arg::R(Register::AX),
            K::eax => Arg::R(Register::EAX),
            K::rax => Arg::R(Register::RAX),
            _ => Arg::I(self.imm(k)),
        })
    }
}

pub(super) fn build(code: Code, args: &[Arg]) -> Option<Instruction> {
    use Arg::*;
    let r = match *args {
        [] => Ok(Instruction::with(code)),
        [R(a)] => Instruction::with1(code, a),
        [M(a)] => Instruction::with1(code, a),
        [I(a)] => Instruction::with1(code, a as i32),
        [I(a), I(b)] => Instruction::with2(code, a as i32, b as i32),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [M(a), I(b)] => Instruction::with2(code, a, b as i32),
        [R(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        [R(a), R(b), M(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), R(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        [M(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        _ => return None,
    };
    r.ok()
}

pub(super) fn string_insn(code: Code, a: u32, rep: RepPrefixKind) -> Option<Instruction> {
    use Code::*;
    let n = Register::None;
    let r = match code {
        Movsb_m8_m8 => Instruction::with_movsb(a, n, rep),
        Movsw_m16_m16 => Instruction::with_movsw(a, n, rep),
        Movsd_m32_m32 => Instruction::with_movsd(a, n, rep),
        Movsq_m64_m64 => Instruction::with_movsq(a, n, rep),
        Cmpsb_m8_m8 => Instruction::with_cmpsb(a, n, rep),
        Cmpsw_m16_m16 => Instruction::with_cmpsw(a, n, rep),
        Cmpsd_m32_m32 => Instruction::with_cmpsd(a, n, rep),
        Cmpsq_m64_m64 => Instruction::with_cmpsq(a, n, rep),
        Lodsb_AL_m8 => Instruction::with_lodsb(a, n, rep),
        Lodsw_AX_m16 => Instruction::with_lodsw(a, n, rep),
        Lodsd_EAX_m32 => Instruction::with_lodsd(a, n, rep),
        Lodsq_RAX_m64 => Instruction::with_lodsq(a, n, rep),
        Stosb_m8_AL => Instruction::with_stosb(a, rep),
        Stosw_m16_AX => Instruction::with_stosw(a, rep),
        Stosd_m32_EAX => Instruction::with_stosd(a, rep),
        Stosq_m64_RAX => Instruction::with_stosq(a, rep),
        Scasb_AL_m8 => Instruction::with_scasb(a, rep),
        Scasw_AX_m16 => Instruction::with_scasw(a, rep),
        Scasd_EAX_m32 => Instruction::with_scasd(a, rep),
        Scasq_RAX_m64 => Instruction::with_scasq(a, rep),
        _ => return None,
    };
    r.ok()
}

pub(super) fn gen_string(c: &mut Ctx, form: &Form) -> Option<Instruction> {
    let a = if c.rng.chance(4) { 32 } else { 64 };
    let cmp = matches!(
        form.mnemonic,
        Mnemonic::Cmpsb
            | Mnemonic::Cmpsw
            | Mnemonic::Cmpsd
            | Mnemonic::Cmpsq
            | Mnemonic::Scasb
            | Mnemonic::Scasw
            | Mnemonic::Scasd
            | Mnemonic::Scasq
    );
    let rep = match c.rng.below(if cmp { 3 } else { 2 }) {
        0 => RepPrefixKind::None,
        1 => RepPrefixKind::Repe,
        _ => RepPrefixKind::Repne,
    };
    let ins = string_insn(form.code, a, rep)?;
    let high = |c: &mut Ctx| {
        if a == 32 {
            c.rng.next_u64() & !0xffff_ffff
        } else {
            0
        }
    };
    for r in [6usize, 7] {
        let h = high(c);
        c.st.gpr[r] = h | (DATA + 64 + c.rng.below(129));
    }
    let h = high(c);
    c.st.gpr[1] = h | c.rng.below(9);
    if c.rng.chance(2) {
        c.st.rflags |= 0x400; // DF
    }
    c.locked.extend([1, 6, 7]);
    Some(ins)
}
