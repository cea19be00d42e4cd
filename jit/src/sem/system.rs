//! System instructions: HLT, port I/O, CLI/STI, CPUID, RDTSC(P), UD2, descriptor
//! tables, control registers and MSRs.
//!
//! Anything touching state that translation depends on goes through
//! [`helper_system`] and ends the block.

use super::operand::{mem_addr, op_size, read_op, write_gpr, Gpr};
use crate::ctx::Ctx;
use crate::emit::{Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::helpers::Helper;
use crate::state::{fl, reg};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// Operation codes passed as the first argument of [`helper_system`].
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
            | Wrmsr
            | Invlpg
            | Ud2
    ) || super::string::ends_block(i)
        || (i.mnemonic() == Mov
            && (0..2).any(|n| {
                i.op_kind(n) == OpKind::Register
                    && (i.op_register(n).is_cr() || i.op_register(n).is_segment_register())
            }))
}

fn sys<E: Emitter>(e: &mut E, args: &[u64], extra: &[E::V]) -> Sem<E::V> {
    let mut v: Vec<E::V> = args.iter().map(|&a| e.imm(a)).collect();
    v.extend_from_slice(extra);
    e.helper(Helper::System, &v)
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
            let t = e.helper(Helper::Rdtsc, &[])?;
            let lo = crate::flags::mask(e, t, 4);
            let sh = e.imm(32);
            let hi = e.shr(t, sh);
            e.set_gpr(reg::RAX, lo);
            e.set_gpr(reg::RDX, hi);
            if i.mnemonic() == Rdtscp {
                let aux = sys(e, &[op::RDMSR, 0xc000_0103], &[])?;
                e.set_gpr(reg::RCX, aux);
            }
        }
        Ud2 => {
            let one = e.imm(1);
            e.raise_if(one, Fault::ud())?;
        }
        Lgdt | Lidt | Sgdt | Sidt => {
            let a = mem_addr(e, i);
            let code = match i.mnemonic() {
                Lgdt => op::LGDT,
                Lidt => op::LIDT,
                Sgdt => op::SGDT,
                _ => op::SIDT,
            };
            let long = e.imm((i.code_size() == iced_x86::CodeSize::Code64) as u64);
            sys(e, &[code], &[a, long])?;
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
        Invlpg => {
            let a = mem_addr(e, i);
            sys(e, &[op::INVLPG], &[a])?;
            e.exit(ExitKind::Resync);
        }
        Mov if i.op_kind(0) == OpKind::Register && i.op_register(0).is_cr() => {
            let v = read_op(e, i, 1)?;
            sys(e, &[op::WRITE_CR, i.op_register(0).number() as u64], &[v])?;
            e.exit(ExitKind::Resync);
        }
        Mov if i.op_kind(1) == OpKind::Register && i.op_register(1).is_cr() => {
            let v = sys(e, &[op::READ_CR, i.op_register(1).number() as u64], &[])?;
            let r = i.op_register(0);
            if r.is_gpr() {
                write_gpr(
                    e,
                    Gpr {
                        idx: r.full_register().number(),
                        size: 8,
                        high8: false,
                    },
                    v,
                );
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

/// Port I/O permission: allowed when CPL <= IOPL. (The TSS I/O bitmap is consulted by
/// the system-level work that adds task state segments.)
pub fn check_io_permission(ctx: &Ctx, _port: u16, _size: u8) -> Result<(), Fault> {
    let iopl = ((ctx.state.rflags_sys & fl::IOPL) >> 12) as u8;
    if ctx.state.cr0 & crate::state::CR0_PE != 0 && ctx.state.cpl() > iopl {
        return Err(Fault::gp0());
    }
    Ok(())
}

fn read_mem(ctx: &mut Ctx, a: u64, size: u8) -> Result<u64, Fault> {
    crate::mmu::read(ctx, a, size)
}

fn system(ctx: &mut Ctx, code: u64, a: u64, b: u64) -> Result<u64, Fault> {
    let cpl0 = ctx.state.cpl() == 0;
    let need_cpl0 = !matches!(code, op::SGDT | op::SIDT | op::XGETBV);
    if need_cpl0 && !cpl0 {
        return Err(Fault::gp0());
    }
    let st = &mut ctx.state;
    match code {
        op::PRIVILEGED => Ok(0),
        op::CLI => {
            st.rflags_sys &= !fl::IF;
            Ok(0)
        }
        op::STI => {
            if st.rflags_sys & fl::IF == 0 {
                st.interrupt_shadow = 1;
            }
            st.rflags_sys |= fl::IF;
            Ok(0)
        }
        op::LGDT | op::LIDT => {
            let limit = read_mem(ctx, a, 2)? as u32;
            let base = read_mem(ctx, a.wrapping_add(2), if b != 0 { 8 } else { 4 })?;
            let t = if code == op::LGDT {
                &mut ctx.state.gdtr
            } else {
                &mut ctx.state.idtr
            };
            t.base = base;
            t.limit = limit;
            Ok(0)
        }
        op::SGDT | op::SIDT => {
            let t = if code == op::SGDT {
                ctx.state.gdtr
            } else {
                ctx.state.idtr
            };
            crate::mmu::write(ctx, a, 2, t.limit as u64)?;
            crate::mmu::write(ctx, a.wrapping_add(2), if b != 0 { 8 } else { 4 }, t.base)?;
            Ok(0)
        }
        op::RDMSR => {
            let idx = if a != 0 {
                a as u32
            } else {
                st.gpr[reg::RCX] as u32
            };
            let v = crate::msr::read(st, idx).ok_or(Fault::gp0())?;
            if a == 0 {
                st.gpr[reg::RAX] = v & 0xffff_ffff;
                st.gpr[reg::RDX] = v >> 32;
            }
            Ok(v)
        }
        op::WRMSR => {
            let idx = st.gpr[reg::RCX] as u32;
            let v = (st.gpr[reg::RDX] << 32) | (st.gpr[reg::RAX] & 0xffff_ffff);
            crate::msr::write(st, idx, v).ok_or(Fault::gp0())?;
            ctx.flush_tlb();
            Ok(0)
        }
        op::XGETBV => {
            if st.gpr[reg::RCX] as u32 != 0 {
                return Err(Fault::gp0());
            }
            st.gpr[reg::RAX] = st.xcr0 & 0xffff_ffff;
            st.gpr[reg::RDX] = st.xcr0 >> 32;
            Ok(0)
        }
        op::READ_CR => Ok(match a {
            0 => st.cr0,
            2 => st.cr2,
            3 => st.cr3,
            4 => st.cr4,
            8 => st.cr8,
            _ => return Err(Fault::ud()),
        }),
        op::WRITE_CR => {
            match a {
                0 => st.cr0 = b | 0x10,
                2 => st.cr2 = b,
                3 => st.cr3 = b,
                4 => st.cr4 = b,
                8 => st.cr8 = b & 15,
                _ => return Err(Fault::ud()),
            }
            if crate::state::CR0_PG & st.cr0 != 0 && st.efer & crate::state::EFER_LME != 0 {
                st.efer |= crate::state::EFER_LMA;
            }
            ctx.flush_tlb();
            Ok(0)
        }
        op::INVLPG => {
            ctx.flush_tlb();
            Ok(0)
        }
        _ => Err(Fault::ud()),
    }
}

/// `helper_system(ctx, op, a, b, _)`: see [`op`].
pub extern "C" fn helper_system(ctx: *mut Ctx, code: u64, a: u64, b: u64, _: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    match system(ctx, code, a, b) {
        Ok(v) => v,
        Err(f) => {
            ctx.set_fault(f);
            0
        }
    }
}

#[allow(dead_code)]
fn _unused(_: Register) {}
