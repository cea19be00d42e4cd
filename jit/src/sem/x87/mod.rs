//! The x87 FPU.
//!
//! Every x87 instruction calls the X87 helper ([`helper_x87`], syncs state): the
//! semantic function passes the mnemonic, the memory operand's size and linear address
//! and the ST(i) operands; the helper does the memory access with `crate::mmu`, works on
//! a copy of `CpuState::fpu` and commits it (and any memory store, probed first) only
//! when the instruction completes, so a fault leaves the instruction undone.
//!
//! - IEEE-specified operations (arithmetic, FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM(1),
//!   conversions, comparisons, the constants) run on the host's x87 unit under the
//!   guest's precision and rounding control ([`host`]): results, exception flags and C1
//!   are bit-exact and vendor-independent.
//! - Transcendentals (F2XM1 FYL2X FYL2XP1 FPTAN FPATAN FSIN FCOS FSINCOS) are computed
//!   in software in double precision ([`trans`]); see there for the accuracy.
//! - Stack overflow/underflow: IE + SF, C1 = direction, and the indefinite NaN when IE
//!   is masked. Unmasked exceptions from host-computed operations behave exactly as
//!   the host does (the host runs with the guest's masks): IE/DE/ZE leave the
//!   destination and the stack unchanged, OE/UE write the exponent-adjusted result;
//!   ES and B are set, and the next waiting x87 instruction raises #MF when CR0.NE = 1
//!   (with NE = 0 the FERR#/IRQ13 path is not modelled and nothing is raised).
//! - CR0.EM or CR0.TS → #NM (WAIT: TS and MP).
//! - FOP is not recorded (stored as 0); FIP/FDP hold linear addresses, CS/DS as 0.
//!   FXSAVE always uses the 64-bit layout (FXSAVE64), FNSTENV/FNSAVE the 32-bit
//!   protected-mode layout; the 16-bit layouts (FNSTENV m14, FNSAVE m94 with an
//!   operand-size prefix) and FBLD/FBSTP are not implemented (#UD).

mod arith;
mod control;
mod fpu;
pub mod host;
mod trans;

use super::operand::mem_addr;
use crate::ctx::Ctx;
use crate::emit::{Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::helpers::Helper;
use crate::state::{CR0_EM, CR0_MP, CR0_TS};
use fpu::Fpu;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// True for the mnemonics this module implements.
fn is_x87(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Fld | Fst
            | Fstp
            | Fild
            | Fist
            | Fistp
            | Fisttp
            | Fld1
            | Fldz
            | Fldpi
            | Fldl2e
            | Fldl2t
            | Fldlg2
            | Fldln2
            | Fadd
            | Faddp
            | Fsub
            | Fsubp
            | Fsubr
            | Fsubrp
            | Fmul
            | Fmulp
            | Fdiv
            | Fdivp
            | Fdivr
            | Fdivrp
            | Fiadd
            | Fisub
            | Fisubr
            | Fimul
            | Fidiv
            | Fidivr
            | Fchs
            | Fabs
            | Fsqrt
            | Frndint
            | Fscale
            | Fxtract
            | Fprem
            | Fprem1
            | Fcom
            | Fcomp
            | Fcompp
            | Fucom
            | Fucomp
            | Fucompp
            | Ficom
            | Ficomp
            | Fcomi
            | Fcomip
            | Fucomi
            | Fucomip
            | Ftst
            | Fxam
            | Fxch
            | Fincstp
            | Fdecstp
            | Ffree
            | Ffreep
            | Fnop
            | Fldcw
            | Fnstcw
            | Fstcw
            | Fnstsw
            | Fstsw
            | Fnclex
            | Fclex
            | Fninit
            | Finit
            | Wait
            | Fnstenv
            | Fstenv
            | Fldenv
            | Fnsave
            | Fsave
            | Frstor
            | Fxsave
            | Fxsave64
            | Fxrstor
            | Fxrstor64
            | Fcmovb
            | Fcmovbe
            | Fcmove
            | Fcmovnb
            | Fcmovnbe
            | Fcmovne
            | Fcmovnu
            | Fcmovu
            | F2xm1
            | Fyl2x
            | Fyl2xp1
            | Fptan
            | Fpatan
            | Fsin
            | Fcos
            | Fsincos
    )
}

fn st_index(r: Register) -> Option<usize> {
    if (Register::ST0 as u32..=Register::ST7 as u32).contains(&(r as u32)) {
        Some((r as u32 - Register::ST0 as u32) as usize)
    } else {
        None
    }
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    let m = i.mnemonic();
    if !is_x87(m) {
        return Ok(None);
    }
    let mut code = m as u64;
    let mut has_mem = false;
    for n in 0..i.op_count().min(2) {
        match i.op_kind(n) {
            OpKind::Register => {
                if let Some(s) = st_index(i.op_register(n)) {
                    code |= (s as u64 + 1) << (32 + 8 * n);
                }
            }
            OpKind::Memory => has_mem = true,
            _ => {}
        }
    }
    let addr = if has_mem {
        code |= (i.memory_size().size() as u64 & 0xffff) << 16 | 1 << 48;
        mem_addr(e, i)
    } else {
        e.imm(0)
    };
    let c = e.imm(code);
    let ip = e.imm(i.ip());
    e.helper(Helper::X87, &[c, addr, ip])?;
    Ok(Some(()))
}

/// The instruction as the helper sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ins {
    pub m: Mnemonic,
    /// Memory operand size in bytes (0: none).
    pub msize: usize,
    pub mem: bool,
    pub addr: u64,
    /// ST(i) operands, first and second.
    pub r0: Option<usize>,
    pub r1: Option<usize>,
}

impl Ins {
    fn decode(code: u64, addr: u64) -> Option<Ins> {
        let m = Mnemonic::try_from((code & 0xffff) as usize).ok()?;
        let reg = |b: u64| match b & 0xff {
            0 => None,
            k => Some(((k - 1) & 7) as usize),
        };
        Some(Ins {
            m,
            msize: ((code >> 16) & 0xffff) as usize,
            mem: (code >> 48) & 1 != 0,
            addr,
            r0: reg(code >> 32),
            r1: reg(code >> 40),
        })
    }
}

/// What an instruction does besides changing the FPU state.
#[derive(Default)]
pub(crate) struct Effects {
    /// Bytes to store at the memory operand.
    pub store: Option<Vec<u8>>,
    /// New arithmetic flags (FCOMI family), in RFLAGS positions.
    pub eflags: Option<u64>,
    /// New AX (FNSTSW AX).
    pub ax: Option<u16>,
}

fn ctx_mut<'a>(ctx: *mut Ctx) -> &'a mut Ctx {
    // SAFETY: the helper contract (`crate::helpers`): both tiers pass the live context
    // they were entered with, exclusively ours for the duration of the call.
    unsafe { &mut *ctx }
}

/// Helper entry point: `code` packs the mnemonic, memory size and ST(i) operands (see
/// [`emit`]), `addr` is the memory operand's linear address, `ip` the instruction's.
pub extern "C" fn helper_x87(ctx: *mut Ctx, code: u64, addr: u64, ip: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    if let Err(f) = exec(ctx, code, addr, ip) {
        ctx.set_fault(f);
    }
    0
}

/// Instructions that do not wait for pending exceptions (nor update FIP/FDP).
fn no_wait(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Fninit
            | Fnclex
            | Fnstcw
            | Fnstsw
            | Fnstenv
            | Fnsave
            | Fxsave
            | Fxsave64
            | Fxrstor
            | Fxrstor64
    )
}

fn is_control(m: Mnemonic) -> bool {
    use Mnemonic::*;
    no_wait(m)
        || matches!(
            m,
            Finit | Fclex | Fstcw | Fstsw | Fstenv | Fsave | Fldcw | Fldenv | Frstor | Wait
        )
}

fn exec(ctx: &mut Ctx, code: u64, addr: u64, ip: u64) -> Result<(), Fault> {
    let Some(i) = Ins::decode(code, addr) else {
        return Err(Fault::ud());
    };
    let cr0 = ctx.state.cr0;
    if i.m == Mnemonic::Wait {
        if cr0 & CR0_TS != 0 && cr0 & CR0_MP != 0 {
            return Err(Fault::new(vec::NM));
        }
    } else if cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Fault::new(vec::NM));
    }
    if !no_wait(i.m) && ctx.state.fpu.fsw & fpu::sw::ES != 0 && cr0 & (1 << 5) != 0 {
        return Err(Fault::new(vec::MF));
    }
    let mut f = Fpu { s: ctx.state.fpu };
    let mut fx = Effects::default();
    if !is_control(i.m) {
        f.s.fip = ip;
        if i.mem {
            f.s.fdp = addr;
        }
        f.s.fop = 0;
    }
    let done = arith::exec(ctx, &mut f, &i, &mut fx)?
        || control::exec(ctx, &mut f, &i, &mut fx)?
        || trans::exec(&mut f, &i)?;
    if !done {
        return Err(Fault::ud());
    }
    if let Some(bytes) = fx.store.take() {
        control::write_bytes(ctx, addr, &bytes)?;
    }
    f.finish();
    ctx.state.fpu = f.s;
    if let Some(fl) = fx.eflags {
        ctx.state.cc_op = crate::flags::CcOp::EFLAGS.encode();
        ctx.state.cc_res = fl;
        ctx.state.cc_src1 = 0;
        ctx.state.cc_src2 = 0;
    }
    if let Some(ax) = fx.ax {
        let r = &mut ctx.state.gpr[0];
        *r = (*r & !0xffff) | ax as u64;
    }
    Ok(())
}
