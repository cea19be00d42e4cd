//! System instructions: HLT, port I/O, CLI/STI, CPUID, RDTSC(P), UD2, descriptor
//! tables, control and debug registers, MSRs, XSAVE, and (through [`super::far`] and
//! [`super::syscall`]) segment loads, far transfers and fast system calls.
//!
//! Anything touching state that translation depends on goes through [`helper_system`]
//! and ends the block. Privilege checks happen in the helper, at run time, so a block
//! translated at one CPL never skips a check at another.

mod cr;
mod io;
mod ops;
mod xsave;

pub use io::check_io_permission;
pub use ops::{helper_system, request_resync};

use super::operand::{mem_addr, op_size, read_op, write_gpr, write_op, Gpr};
use crate::emit::{Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::helpers::Helper;
use crate::state::reg;
use iced_x86::{Instruction, Mnemonic, OpKind};

/// Operation codes passed as the first argument of [`helper_system`]. Bits 16.. of
/// the code carry a small parameter (an operand size, a segment number).
pub mod op {
    pub const CLI: u64 = 1;
    pub const STI: u64 = 2;
    pub const LGDT: u64 = 3;
    pub const LIDT: u64 = 4;
    pub const SGDT: u64 = 5;
    pub const SIDT: u64 = 6;
    pub const RDMSR: u64 = 7;
    pub const WRMSR: u64 = 8;
    pub const READ_CR: u64 = 9;
    pub const WRITE_CR: u64 = 10;
    pub const XGETBV: u64 = 11;
    pub const PRIVILEGED: u64 = 12;
    pub const INVLPG: u64 = 13;
    pub const RDTSC: u64 = 14;
    pub const TSC_AUX: u64 = 15;
    pub const READ_DR: u64 = 16;
    pub const WRITE_DR: u64 = 17;
    pub const CLTS: u64 = 18;
    pub const LMSW: u64 = 19;
    pub const SMSW: u64 = 20;
    pub const LTR: u64 = 21;
    pub const LLDT: u64 = 22;
    pub const STR: u64 = 23;
    pub const SLDT: u64 = 24;
    pub const PROBE: u64 = 25;
    pub const XSETBV: u64 = 26;
    pub const XSAVE: u64 = 27;
    pub const XRSTOR: u64 = 28;
    pub const STAC: u64 = 29;
    pub const CLAC: u64 = 30;
    pub const LOAD_SEG: u64 = 31;
    pub const READ_SEL: u64 = 32;
    pub const FAR_JMP: u64 = 33;
    pub const FAR_CALL: u64 = 34;
    pub const FAR_RET: u64 = 35;
    pub const SYSCALL: u64 = 36;
    pub const SYSRET: u64 = 37;
    pub const SYSENTER: u64 = 38;
    pub const SYSEXIT: u64 = 39;
    pub const SWAPGS: u64 = 40;
    pub const RDBASE: u64 = 41;
    pub const WRBASE: u64 = 42;
    pub const INVD: u64 = 43;
}

/// Packs an operation code with its parameter.
pub const fn code(op: u64, param: u64) -> u64 {
    op | param << 16
}

pub fn is_block_ending(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(
        i.mnemonic(),
        In | Out
            | Insb
            | Insw
            | Insd
            | Outsb
            | Outsw
            | Outsd
            | Hlt
            | Sti
            | Cli
            | Popf
            | Popfd
            | Popfq
            | Lgdt
            | Lidt
            | Lldt
            | Ltr
            | Wrmsr
            | Invlpg
            | Ud2
            | Clts
            | Lmsw
            | Xsetbv
            | Xrstor
            | Xrstor64
            | Stac
            | Clac
            | Swapgs
            | Wrfsbase
            | Wrgsbase
            | Lds
            | Les
            | Lfs
            | Lgs
            | Lss
    ) || super::string::ends_block(i)
        || (matches!(i.mnemonic(), Mov | Pop)
            && (0..2).any(|n| {
                i.op_kind(n) == OpKind::Register
                    && (i.op_register(n).is_cr() || i.op_register(n).is_segment_register())
            }))
}

/// Calls the system helper: `args[0]` is the (packed) operation code, then constants,
/// then run-time values (at most four arguments in all).
pub fn sys<E: Emitter>(e: &mut E, args: &[u64], extra: &[E::V]) -> Sem<E::V> {
    let mut v: Vec<E::V> = args.iter().map(|&a| e.imm(a)).collect();
    v.extend_from_slice(extra);
    e.helper(Helper::System, &v)
}

fn write_full_gpr<E: Emitter>(e: &mut E, r: iced_x86::Register, v: E::V) {
    if let Some(g) = super::operand::gpr_of(r) {
        write_gpr(e, g, v);
    }
}

fn sys_helper_random<E: Emitter>(e: &mut E, seed: u64, size: u64, reg: u64) -> Sem<()> {
    let args = [e.imm(seed), e.imm(size), e.imm(reg)];
    e.helper(Helper::Random, &args)?;
    Ok(())
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Hlt => {
            sys(e, &[op::PRIVILEGED], &[])?;
            e.exit(ExitKind::Halt);
        }
        In => {
            let size = op_size(i, 0);
            let port = read_op(e, i, 1)?;
            let sz = e.imm(size as u64);
            let v = e.helper(Helper::PortIn, &[port, sz])?;
            write_gpr(
                e,
                Gpr {
                    idx: reg::RAX,
                    size,
                    high8: false,
                },
                v,
            );
            e.jump_to(i.next_ip());
        }
        Out => {
            let size = op_size(i, 1);
            let port = read_op(e, i, 0)?;
            let v = read_op(e, i, 1)?;
            let sz = e.imm(size as u64);
            e.helper(Helper::PortOut, &[port, sz, v])?;
            e.jump_to(i.next_ip());
        }
        Cli => {
            sys(e, &[op::CLI], &[])?;
            e.jump_to(i.next_ip());
        }
        Sti => {
            sys(e, &[op::STI], &[])?;
            e.jump_to(i.next_ip());
        }
        Cpuid => {
            e.helper(Helper::Cpuid, &[])?;
        }
        Rdtsc | Rdtscp => {
            let t = sys(e, &[op::RDTSC], &[])?;
            if i.mnemonic() == Rdtscp {
                let aux = sys(e, &[op::TSC_AUX], &[])?;
                e.set_gpr(reg::RCX, aux);
            }
            let lo = crate::flags::mask(e, t, 4);
            let sh = e.imm(32);
            let hi = e.shr(t, sh);
            e.set_gpr(reg::RAX, lo);
            e.set_gpr(reg::RDX, hi);
        }
        Rdrand | Rdseed => {
            // CF = 1 with the random value, or CF = 0 and a zero destination when no
            // entropy is available; OF, SF, ZF, AF and PF are cleared.
            let Some(g) = super::operand::gpr_of(i.op_register(0)) else {
                return Ok(None);
            };
            let seed = (i.mnemonic() == Rdseed) as u64;
            sys_helper_random(e, seed, g.size as u64, g.idx as u64)?;
        }
        Rdpid => {
            let aux = sys(e, &[op::TSC_AUX], &[])?;
            write_full_gpr(e, i.op_register(0), aux);
        }
        Ud2 => {
            let one = e.imm(1);
            e.raise_if(one, Fault::ud())?;
        }
        Lgdt | Lidt | Sgdt | Sidt => {
            let a = mem_addr(e, i);
            let c = match i.mnemonic() {
                Lgdt => op::LGDT,
                Lidt => op::LIDT,
                Sgdt => op::SGDT,
                _ => op::SIDT,
            };
            // Base width: 8 bytes in 64-bit mode, else 4 (24 bits used with a 16-bit
            // operand size).
            let width = match i.code_size() {
                iced_x86::CodeSize::Code64 => 8,
                _ if matches!(
                    i.code(),
                    iced_x86::Code::Lgdt_m1632_16
                        | iced_x86::Code::Lidt_m1632_16
                        | iced_x86::Code::Sgdt_m1632_16
                        | iced_x86::Code::Sidt_m1632_16
                ) =>
                {
                    3
                }
                _ => 4,
            };
            let w = e.imm(width);
            sys(e, &[c], &[a, w])?;
            if matches!(i.mnemonic(), Lgdt | Lidt) {
                e.exit(ExitKind::Resync);
            }
        }
        Rdmsr => {
            sys(e, &[op::RDMSR], &[])?;
        }
        Wrmsr => {
            sys(e, &[op::WRMSR], &[])?;
            e.exit(ExitKind::Resync);
        }
        Xgetbv => {
            sys(e, &[op::XGETBV], &[])?;
        }
        Xsetbv => {
            sys(e, &[op::XSETBV], &[])?;
            e.exit(ExitKind::Resync);
        }
        Xsave | Xsave64 | Xsaveopt | Xsaveopt64 | Xrstor | Xrstor64 => {
            let a = mem_addr(e, i);
            let c = if matches!(i.mnemonic(), Xrstor | Xrstor64) {
                op::XRSTOR
            } else {
                op::XSAVE
            };
            sys(e, &[c], &[a])?;
            if c == op::XRSTOR {
                e.exit(ExitKind::Resync);
            }
        }
        Invlpg => {
            let a = mem_addr(e, i);
            sys(e, &[op::INVLPG], &[a])?;
            e.exit(ExitKind::Resync);
        }
        Invd | Wbinvd => {
            sys(e, &[op::INVD], &[])?;
        }
        Clts => {
            sys(e, &[op::CLTS], &[])?;
            e.exit(ExitKind::Resync);
        }
        Lmsw => {
            let v = read_op(e, i, 0)?;
            sys(e, &[op::LMSW], &[v])?;
            e.exit(ExitKind::Resync);
        }
        Smsw => {
            let v = sys(e, &[op::SMSW], &[])?;
            if i.op_kind(0) == OpKind::Memory {
                let a = mem_addr(e, i);
                e.store(a, v, 2)?;
            } else {
                write_op(e, i, 0, v)?;
            }
        }
        Stac | Clac => {
            let c = if i.mnemonic() == Stac {
                op::STAC
            } else {
                op::CLAC
            };
            sys(e, &[c], &[])?;
            e.exit(ExitKind::Resync);
        }
        Mov if i.op_kind(0) == OpKind::Register && i.op_register(0).is_cr() => {
            let v = read_op(e, i, 1)?;
            sys(e, &[op::WRITE_CR, i.op_register(0).number() as u64], &[v])?;
            e.exit(ExitKind::Resync);
        }
        Mov if i.op_kind(1) == OpKind::Register && i.op_register(1).is_cr() => {
            let v = sys(e, &[op::READ_CR, i.op_register(1).number() as u64], &[])?;
            write_full_gpr(e, i.op_register(0).full_register(), v);
        }
        Mov if i.op_kind(0) == OpKind::Register && i.op_register(0).is_dr() => {
            let v = read_op(e, i, 1)?;
            sys(e, &[op::WRITE_DR, i.op_register(0).number() as u64], &[v])?;
        }
        Mov if i.op_kind(1) == OpKind::Register && i.op_register(1).is_dr() => {
            let v = sys(e, &[op::READ_DR, i.op_register(1).number() as u64], &[])?;
            write_full_gpr(e, i.op_register(0).full_register(), v);
        }
        _ => {
            if super::far::emit(e, i)?.is_some() {
                return Ok(Some(()));
            }
            return super::syscall::emit(e, i);
        }
    }
    Ok(Some(()))
}
