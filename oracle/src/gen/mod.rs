//! Random cases: one instruction of a [`Form`] with random operands, and a random
//! machine state whose base/index registers make every memory operand land in the data
//! area. Per-mnemonic fix-ups keep cases away from undefined results (and mostly away
//! from #DE, a few of which are kept on purpose).

mod fixups;
mod operands;
mod prefix;
mod regs;
mod values;

use crate::forms::Form;
use crate::layout::*;
use crate::rng::Rng;
use crate::state::MachineState;
use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, Instruction, MemoryOperand, Mnemonic,
    OpCodeOperandKind as K, OpKind, Register, RepPrefixKind,
};

use fixups::fixups;
use operands::{build, gen_string, Arg, Ctx};
use prefix::flag_prefix;
pub use regs::gpr_index;
use regs::gpr_of_size;
pub use values::random_state;

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
        undefined_fsw: fsw_bits(back.rflags_undefined()) | vendor_fsw(back.mnemonic()),
    })
}

/// Generates one case of `form`, retrying a bounded number of times.
pub fn case(rng: &mut Rng, form: &Form) -> Option<Case> {
    (0..64).find_map(|_| try_case(rng, form))
}

/// x87 condition bits whose value after the instruction differs between vendors where
/// the SDM does not pin it down: C1 after FCMOVcc and the FCOMI family when no stack
/// fault occurs (AMD keeps it, the SDM only says it is cleared on underflow).
fn vendor_fsw(m: iced_x86::Mnemonic) -> u16 {
    use iced_x86::Mnemonic::*;
    match m {
        Fcmovb | Fcmove | Fcmovbe | Fcmovu | Fcmovnb | Fcmovne | Fcmovnbe | Fcmovnu | Fcomi
        | Fcomip | Fucomi | Fucomip => 0x0200,
        _ => 0,
    }
}
