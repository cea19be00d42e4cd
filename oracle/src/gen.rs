//! Random cases: one instruction of a [`Form`] with random operands, and a random
//! machine state whose base/index registers make every memory operand land in the data
//! area. Per-mnemonic fix-ups keep cases away from undefined results (and mostly away
//! from #DE, a few of which are kept on purpose).

use crate::forms::Form;
use crate::layout::*;
use crate::rng::Rng;
use crate::state::MachineState;
use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, Instruction, MemoryOperand, Mnemonic,
    OpCodeOperandKind as K, OpKind, Register, RepPrefixKind,
};

/// One generated case.
#[derive(Clone, Debug)]
pub struct Case {
    /// The instruction under test as decoded back from `bytes`.
    pub ins: Instruction,
    /// An optional flag-setting instruction before it (so the instruction meets lazy
    /// flags, not only flags loaded from RFLAGS); it writes only a register the
    /// instruction under test does not use.
    pub prefix: Option<Instruction>,
    /// Machine code of `prefix` (if any) and `ins`, starting at TEST_IP.
    pub bytes: Vec<u8>,
    pub input: MachineState,
    /// RFLAGS bits (x86 positions) undefined after the sequence: those `ins` leaves
    /// undefined, and those `prefix` leaves undefined that `ins` does not write.
    pub undefined_flags: u64,
    /// x87 status-word condition bits (C0 C1 C2 C3 in FSW positions) `ins` leaves
    /// undefined.
    pub undefined_fsw: u16,
}

/// iced-x86 `RflagsBits` C0..C3 to FSW positions.
pub fn fsw_bits(u: u32) -> u16 {
    use iced_x86::RflagsBits as B;
    [
        (B::C0, 0x100u16),
        (B::C1, 0x200),
        (B::C2, 0x400),
        (B::C3, 0x4000),
    ]
    .iter()
    .filter(|(b, _)| u & b != 0)
    .fold(0, |acc, (_, x)| acc | x)
}

/// iced-x86 `RflagsBits` to x86 RFLAGS positions.
pub fn rflags_bits(u: u32) -> u64 {
    use iced_x86::RflagsBits as B;
    [
        (B::CF, 0x1),
        (B::PF, 0x4),
        (B::AF, 0x10),
        (B::ZF, 0x40),
        (B::SF, 0x80),
        (B::DF, 0x400),
        (B::OF, 0x800),
    ]
    .iter()
    .filter(|(b, _)| u & b != 0)
    .fold(0, |acc, (_, x)| acc | x)
}

/// A random flag-setting ALU instruction whose destination is a register that `ins`
/// does not use (and that is not locked), and whose undefined flags `ins` does not
/// read.
fn flag_prefix(c: &mut Ctx, ins: &Instruction) -> Option<Instruction> {
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

const GPR8_LEGACY: [Register; 8] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
];

fn gpr_of_size(n: usize, size: u32) -> Register {
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
fn reg_from_u8(v: u8) -> Register {
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

fn read_reg(st: &MachineState, r: Register) -> u64 {
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

fn write_reg(st: &mut MachineState, r: Register, val: u64) {
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

fn interesting_f32(rng: &mut Rng) -> u32 {
    const SPECIAL: [u32; 14] = [
        0,
        0x8000_0000,
        0x3f80_0000,
        0xbfc0_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001,
        0xffc0_0001,
        0x0000_0001,
        0x007f_ffff,
        0x0080_0000,
        0x7f7f_ffff,
        0x4f00_0000,
    ];
    match rng.below(4) {
        0 => *rng.pick(&SPECIAL).unwrap_or(&0),
        1 => (rng.next_u64() as u32) & 0x807f_ffff, // denormal or zero
        _ => {
            let exp = 127 - 24 + rng.below(48) as u32;
            (rng.next_u64() as u32 & 0x807f_ffff) | exp << 23
        }
    }
}

fn interesting_f64(rng: &mut Rng) -> u64 {
    const SPECIAL: [u64; 14] = [
        0,
        0x8000_0000_0000_0000,
        0x3ff0_0000_0000_0000,
        0xbff8_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0x7ff0_0000_0000_0001,
        0xfff8_0000_0000_0001,
        1,
        0x000f_ffff_ffff_ffff,
        0x0010_0000_0000_0000,
        0x7fef_ffff_ffff_ffff,
        0x43e0_0000_0000_0000,
    ];
    match rng.below(4) {
        0 => *rng.pick(&SPECIAL).unwrap_or(&0),
        1 => rng.next_u64() & 0x800f_ffff_ffff_ffff,
        _ => {
            let exp = 1023 - 40 + rng.below(80);
            (rng.next_u64() & 0x800f_ffff_ffff_ffff) | exp << 52
        }
    }
}

fn xmm_half(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.next_u64(),
        1 => interesting_f32(rng) as u64 | (interesting_f32(rng) as u64) << 32,
        2 | 3 => interesting_f64(rng),
        4 => {
            let a = (rng.below(200) as i32 - 100) as u32 as u64;
            let b = (rng.below(200) as i32 - 100) as u32 as u64;
            a | b << 32
        }
        _ => rng.interesting_u64(),
    }
}

/// An 80-bit extended value biased towards the classes x87 arithmetic cares about.
fn interesting_f80(rng: &mut Rng) -> [u8; 10] {
    let sign = (rng.below(2) as u16) << 15;
    let (exp, mant): (u16, u64) = match rng.below(10) {
        0 => (0, 0),
        1 => (0, rng.next_u64() >> 1), // denormal
        2 => (0x7fff, 1 << 63),        // infinity
        3 => (0x7fff, 3 << 62),        // QNaN (indefinite-like)
        4 => (0x7fff, (1 << 63) | (rng.next_u64() >> 2) | 1), // NaN, random payload
        5 => {
            // Small integers (FIST, FRNDINT, FPREM).
            let v = rng.below(1 << 20).max(1);
            let lz = v.leading_zeros();
            (16383 + 63 - lz as u16, v << lz)
        }
        6 => (16383 + rng.below(64) as u16, (1 << 63) | rng.next_u64()),
        _ => (
            16383 - 80 + rng.below(160) as u16,
            (1 << 63) | rng.next_u64(),
        ),
    };
    let mut v = [0u8; 10];
    v[..8].copy_from_slice(&mant.to_le_bytes());
    v[8..].copy_from_slice(&(exp | sign).to_le_bytes());
    v
}

fn random_x87(rng: &mut Rng) -> crate::state::X87 {
    let mut x = crate::state::X87::default();
    let pc = *rng.pick(&[0u16, 2, 3, 3]).unwrap_or(&3);
    let rc = rng.below(4) as u16;
    // All exceptions masked; precision and rounding random.
    x.fcw = 0x7f | pc << 8 | rc << 10;
    let top = rng.below(8) as u16;
    let cc = (rng.next_u64() as u16) & 0x4700;
    let flags = if rng.chance(2) {
        rng.next_u64() as u16 & 0x3f
    } else {
        0
    };
    x.fsw = top << 11 | cc | flags;
    // Mostly a few registers in use from the top down, sometimes a full or random stack.
    x.tags = match rng.below(4) {
        0 => rng.next_u64() as u8,
        1 => 0xff,
        _ => {
            let n = rng.below(9) as u32;
            let mut t = 0u8;
            for i in 0..n {
                t |= 1 << ((top as u32 + i) & 7);
            }
            t
        }
    };
    for v in x.st.iter_mut() {
        *v = interesting_f80(rng);
    }
    x
}

/// A random machine state (before operands constrain it).
pub fn random_state(rng: &mut Rng) -> MachineState {
    let mut s = MachineState::default();
    for r in 0..16 {
        s.gpr[r] = rng.interesting_u64();
    }
    s.gpr[4] = STACK_TOP;
    s.rflags = (rng.next_u64() & 0x8d5) | 2;
    let rc = rng.below(4) as u32;
    s.mxcsr = 0x1f80 | rc << 13;
    if rng.chance(4) {
        s.mxcsr |= 0x8000; // FTZ
    }
    if rng.chance(4) {
        s.mxcsr |= 0x40; // DAZ
    }
    if rng.chance(2) {
        s.mxcsr |= rng.next_u64() as u32 & 0x3f;
    }
    for x in 0..16 {
        let lo = xmm_half(rng);
        let hi = if rng.chance(4) { lo } else { xmm_half(rng) };
        s.xmm[x] = [lo, hi];
    }
    s.x87 = random_x87(rng);
    for chunk in s.data.chunks_mut(8) {
        let v = rng.interesting_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    s
}

#[derive(Clone, Copy, Debug)]
enum Arg {
    R(Register),
    M(MemoryOperand),
    I(i64),
}

struct Ctx<'a> {
    rng: &'a mut Rng,
    st: MachineState,
    /// GPRs that hold an address (or a count) and must not be changed by fix-ups.
    locked: Vec<usize>,
    /// Offset of the memory operand in the data area.
    mem_off: Option<u64>,
    rex8: bool,
}

impl Ctx<'_> {
    fn pick_gpr(&mut self, size: u32) -> Register {
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

    fn pick_free_gpr(&mut self, size: u32, not: Option<usize>) -> Option<Register> {
        for _ in 0..32 {
            let n = self.rng.below(16) as usize;
            if n != 4 && !self.locked.contains(&n) && Some(n) != not {
                return Some(gpr_of_size(n, size));
            }
        }
        None
    }

    fn mem(&mut self, align16: bool, offs: bool) -> Option<MemoryOperand> {
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

    fn imm(&mut self, k: K) -> i64 {
        let v = self.rng.interesting_u64();
        match k {
            K::imm8_const_1 => 1,
            K::imm8 | K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => v as i8 as i64,
            K::imm16 => v as i16 as i64,
            K::imm32 | K::imm32sex64 => v as i32 as i64,
            _ => v as i64,
        }
    }

    fn arg(&mut self, k: K, form: &Form) -> Option<Arg> {
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

fn build(code: Code, args: &[Arg]) -> Option<Instruction> {
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

fn string_insn(code: Code, a: u32, rep: RepPrefixKind) -> Option<Instruction> {
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

fn gen_string(c: &mut Ctx, form: &Form) -> Option<Instruction> {
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

fn op_size(k: K) -> u32 {
    match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode | K::al | K::cl => 1,
        K::r16_or_mem | K::r16_reg | K::r16_rm | K::r16_opcode | K::ax => 2,
        K::r32_or_mem | K::r32_reg | K::r32_rm | K::r32_opcode | K::eax => 4,
        _ => 8,
    }
}

fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size)) - 1
    }
}

fn read_data(st: &MachineState, off: u64, size: u32) -> u64 {
    let mut b = [0u8; 8];
    for (k, byte) in b.iter_mut().enumerate().take(size as usize) {
        *byte = st.data.get(off as usize + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn write_data(st: &mut MachineState, off: u64, size: u32, v: u64) {
    for (k, byte) in v.to_le_bytes().iter().enumerate().take(size as usize) {
        if let Some(d) = st.data.get_mut(off as usize + k) {
            *d = *byte;
        }
    }
}

/// Keeps DIV/IDIV mostly free of #DE (1 in 16 cases is left unconstrained).
fn fix_div(c: &mut Ctx, ins: &Instruction, form: &Form) -> bool {
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

fn fixups(c: &mut Ctx, ins: &Instruction, form: &Form) -> bool {
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
        _ => true,
    }
}

/// Generates one case of `form`; `None` when this attempt produced something the
/// encoder or the constraints reject (the caller retries).
pub fn try_case(rng: &mut Rng, form: &Form) -> Option<Case> {
    let st = random_state(rng);
    let rex8 = rng.chance(2);
    let mut c = Ctx {
        rng,
        st,
        locked: Vec::new(),
        mem_off: None,
        rex8,
    };
    if form.stack {
        // The stack lives in the middle of the data area, so pushes and pops are
        // compared byte by byte; RBP too for ENTER/LEAVE.
        c.st.gpr[4] = DATA + 64 + 8 * c.rng.below(17);
        c.st.gpr[5] = DATA + 64 + 8 * c.rng.below(17);
        c.locked.extend([4, 5]);
    }
    let ins = if form.branch {
        // Placeholder target; the real one is set once the code's address is known.
        Instruction::with_branch(form.code, TEST_IP).ok()?
    } else if form.string {
        gen_string(&mut c, form)?
    } else if form.code == Code::Xlat_m8 {
        c.st.gpr[3] = DATA;
        c.locked.push(3);
        build(
            form.code,
            &[Arg::M(MemoryOperand::with_base_index(
                Register::RBX,
                Register::AL,
            ))],
        )?
    } else {
        let mut args = Vec::with_capacity(form.ops.len());
        for k in &form.ops {
            args.push(c.arg(*k, form)?);
        }
        build(form.code, &args)?
    };
    if !fixups(&mut c, &ins, form) {
        return None;
    }
    let mut ins = ins;
    if ins.op0_kind() == OpKind::Memory
        && form.code.op_code().can_use_lock_prefix()
        && c.rng.chance(4)
    {
        ins.set_has_lock_prefix(true);
    }
    if (0..ins.op_count()).any(|n| ins.op_kind(n) == OpKind::Memory)
        && ins.memory_base() != Register::RIP
        && c.rng.chance(8)
    {
        // Segment overrides without effect in 64-bit mode (FS/GS bases differ between
        // the host and the guest, so they are not drawn).
        let s = *c
            .rng
            .pick(&[Register::DS, Register::ES, Register::SS, Register::CS])
            .unwrap_or(&Register::DS);
        ins.set_segment_prefix(s);
    }
    let prefix = if c.rng.chance(2) {
        flag_prefix(&mut c, &ins)
    } else {
        None
    };
    let mut enc = Encoder::new(64);
    let mut bytes = Vec::new();
    let mut prefix_back = None;
    if let Some(p) = &prefix {
        let n = enc.encode(p, TEST_IP).ok()?;
        bytes = enc.take_buffer();
        let back = Decoder::with_ip(64, &bytes, TEST_IP, DecoderOptions::NONE).decode();
        if back.code() != p.code() || back.len() != n {
            return None;
        }
        prefix_back = Some(back);
    }
    let ip = TEST_IP + bytes.len() as u64;
    let mut tail = Vec::new();
    if form.branch {
        // branch L; not rX; L: — taken or not shows in rX.
        let free: Vec<usize> = (0..16)
            .filter(|n| *n != 1 && *n != 4 && !c.locked.contains(n))
            .collect();
        let r = gpr_of_size(*c.rng.pick(&free)?, 8);
        let t = Instruction::with1(Code::Not_rm64, r).ok()?;
        enc.encode(&t, 0).ok()?;
        tail = enc.take_buffer();
        let probe = enc.encode(&ins, ip).ok()?;
        let _ = enc.take_buffer();
        ins.set_near_branch64(ip + probe as u64 + tail.len() as u64);
    }
    let len = enc.encode(&ins, ip).ok()?;
    let main = enc.take_buffer();
    let back = Decoder::with_ip(64, &main, ip, DecoderOptions::NONE).decode();
    if back.code() != form.code || back.len() != len || len != main.len() {
        return None;
    }
    if form.branch && back.near_branch_target() != ip + (len + tail.len()) as u64 {
        return None;
    }
    if back.memory_size().size() > 16 {
        return None;
    }
    bytes.extend_from_slice(&main);
    bytes.extend_from_slice(&tail);
    let mut undefined_flags = rflags_bits(back.rflags_undefined());
    if let Some(p) = &prefix_back {
        undefined_flags |= rflags_bits(p.rflags_undefined()) & !rflags_bits(back.rflags_modified());
    }
    Some(Case {
        ins: back,
        prefix: prefix_back,
        bytes,
        input: c.st,
        undefined_flags,
        undefined_fsw: fsw_bits(back.rflags_undefined()),
    })
}

/// Generates one case of `form`, retrying a bounded number of times.
pub fn case(rng: &mut Rng, form: &Form) -> Option<Case> {
    (0..64).find_map(|_| try_case(rng, form))
}
