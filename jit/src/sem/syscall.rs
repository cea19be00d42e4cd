//! Fast system calls and 64-bit segment-base instructions: SYSCALL/SYSRET,
//! SYSENTER/SYSEXIT (32- and 64-bit forms), SWAPGS, RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE.
//!
//! SYSCALL and SYSRET follow Intel: #UD outside 64-bit mode (SYSRET may return to
//! compatibility mode). The CS/SS loaded are the fixed flat descriptors the SDM
//! prescribes; the GDT is not read.

use super::operand::{read_op, write_op};
use super::system::{code, op, request_resync, sys};
use crate::ctx::Ctx;
use crate::emit::{Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::state::{fl, reg, seg, Segment, CR0_PE, CR4_FSGSBASE, EFER_LMA, EFER_SCE};
use iced_x86::{Code, Instruction, Mnemonic};

/// Flat 64-bit code, DPL 0 / 3; flat 32-bit code DPL 3; flat data DPL 0 / 3.
const CODE64_DPL0: u32 = 0xa09b;
const CODE64_DPL3: u32 = 0xa0fb;
const CODE32_DPL0: u32 = 0xc09b;
const CODE32_DPL3: u32 = 0xc0fb;
const DATA_DPL0: u32 = 0xc093;
const DATA_DPL3: u32 = 0xc0f3;

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Syscall => {
            let next = e.imm(i.next_ip());
            let t = sys(e, &[op::SYSCALL], &[next])?;
            e.jump(t);
        }
        Sysret | Sysretq => {
            let size = if i.mnemonic() == Sysretq || i.code() == Code::Sysretq {
                8
            } else {
                4
            };
            let t = sys(e, &[code(op::SYSRET, size)], &[])?;
            e.jump(t);
        }
        Sysenter => {
            let t = sys(e, &[op::SYSENTER], &[])?;
            e.jump(t);
        }
        Sysexit | Sysexitq => {
            let size = if i.mnemonic() == Sysexitq || i.code() == Code::Sysexitq {
                8
            } else {
                4
            };
            let t = sys(e, &[code(op::SYSEXIT, size)], &[])?;
            e.jump(t);
        }
        Swapgs => {
            if e.mode().bitness != 64 {
                let one = e.imm(1);
                e.raise_if(one, Fault::ud())?;
            }
            sys(e, &[op::SWAPGS], &[])?;
            e.exit(ExitKind::Resync);
        }
        Rdfsbase | Rdgsbase => {
            let s = if i.mnemonic() == Rdfsbase {
                seg::FS
            } else {
                seg::GS
            };
            let v = sys(e, &[code(op::RDBASE, s as u64)], &[])?;
            write_op(e, i, 0, v)?;
        }
        Wrfsbase | Wrgsbase => {
            let s = if i.mnemonic() == Wrfsbase {
                seg::FS
            } else {
                seg::GS
            };
            let v = read_op(e, i, 0)?;
            sys(e, &[code(op::WRBASE, s as u64)], &[v])?;
            e.exit(ExitKind::Resync);
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

fn flat(selector: u64, attr: u32) -> Segment {
    Segment {
        selector,
        base: 0,
        limit: 0xffff_ffff,
        attr,
    }
}

fn canonical(v: u64) -> bool {
    ((v as i64) << 16 >> 16) as u64 == v
}

fn syscall(ctx: &mut Ctx, next: u64) -> Result<u64, Fault> {
    let st = &mut ctx.state;
    if st.efer & EFER_SCE == 0 || !st.long_mode() {
        return Err(Fault::ud());
    }
    let rflags = st.rflags();
    st.gpr[reg::RCX] = next;
    st.gpr[11] = rflags & !fl::RF;
    let sel = (st.msr.star >> 32) & 0xfffc;
    st.segs[seg::CS] = flat(sel, CODE64_DPL0);
    st.segs[seg::SS] = flat(sel + 8, DATA_DPL0);
    st.set_rflags(rflags & !st.msr.sfmask & !fl::RF);
    Ok(st.msr.lstar)
}

fn sysret(ctx: &mut Ctx, size: u64) -> Result<u64, Fault> {
    let st = &mut ctx.state;
    if st.efer & EFER_SCE == 0 || !st.long_mode() {
        return Err(Fault::ud());
    }
    if st.cpl() != 0 {
        return Err(Fault::gp0());
    }
    let base = (st.msr.star >> 48) & 0xffff;
    let rcx = st.gpr[reg::RCX];
    let rip = if size == 8 {
        if !canonical(rcx) {
            return Err(Fault::gp0());
        }
        st.segs[seg::CS] = flat((base + 16) | 3, CODE64_DPL3);
        rcx
    } else {
        st.segs[seg::CS] = flat(base | 3, CODE32_DPL3);
        rcx & 0xffff_ffff
    };
    st.segs[seg::SS] = flat((base + 8) | 3, DATA_DPL3);
    let r11 = st.gpr[11];
    st.set_rflags((r11 & 0x3c_7fd7) | fl::FIXED1);
    Ok(rip)
}

fn sysenter(ctx: &mut Ctx) -> Result<u64, Fault> {
    let st = &mut ctx.state;
    let cs = st.msr.sysenter_cs & 0xfffc;
    if st.cr0 & CR0_PE == 0 || cs == 0 {
        return Err(Fault::gp0());
    }
    let long = st.efer & EFER_LMA != 0;
    st.rflags_sys &= !(fl::VM | fl::IF | fl::RF);
    st.segs[seg::CS] = flat(cs, if long { CODE64_DPL0 } else { CODE32_DPL0 });
    st.segs[seg::SS] = flat(cs + 8, DATA_DPL0);
    let (rip, rsp) = if long {
        (st.msr.sysenter_eip, st.msr.sysenter_esp)
    } else {
        (
            st.msr.sysenter_eip & 0xffff_ffff,
            st.msr.sysenter_esp & 0xffff_ffff,
        )
    };
    st.gpr[reg::RSP] = rsp;
    Ok(rip)
}

fn sysexit(ctx: &mut Ctx, size: u64) -> Result<u64, Fault> {
    let st = &mut ctx.state;
    let base = st.msr.sysenter_cs & 0xfffc;
    if st.cr0 & CR0_PE == 0 || base == 0 || st.cpl() != 0 {
        return Err(Fault::gp0());
    }
    let (rdx, rcx) = (st.gpr[reg::RDX], st.gpr[reg::RCX]);
    let (cs, rip, rsp) = if size == 8 {
        if !canonical(rdx) || !canonical(rcx) {
            return Err(Fault::gp0());
        }
        (flat((base + 32) | 3, CODE64_DPL3), rdx, rcx)
    } else {
        (
            flat((base + 16) | 3, CODE32_DPL3),
            rdx & 0xffff_ffff,
            rcx & 0xffff_ffff,
        )
    };
    st.segs[seg::SS] = flat((cs.selector + 8) | 3, DATA_DPL3);
    st.segs[seg::CS] = cs;
    st.gpr[reg::RSP] = rsp;
    Ok(rip)
}

/// The fast-system-call part of the system helper.
pub fn helper(ctx: &mut Ctx, c: u64, param: u64, a: u64, b: u64) -> Result<u64, Fault> {
    let _ = b;
    let r = match c {
        op::SYSCALL => syscall(ctx, a)?,
        op::SYSRET => sysret(ctx, param)?,
        op::SYSENTER => sysenter(ctx)?,
        op::SYSEXIT => sysexit(ctx, param)?,
        op::SWAPGS => {
            let st = &mut ctx.state;
            if !st.long_mode() {
                return Err(Fault::ud());
            }
            if st.cpl() != 0 {
                return Err(Fault::gp0());
            }
            std::mem::swap(&mut st.segs[seg::GS].base, &mut st.msr.kernel_gs_base);
            0
        }
        op::RDBASE | op::WRBASE => {
            let st = &mut ctx.state;
            if !st.long_mode() || st.cr4 & CR4_FSGSBASE == 0 {
                return Err(Fault::ud());
            }
            let s = if param as usize == seg::FS {
                seg::FS
            } else {
                seg::GS
            };
            if c == op::RDBASE {
                return Ok(st.segs[s].base);
            }
            if !canonical(a) {
                return Err(Fault::gp0());
            }
            st.segs[s].base = a;
            0
        }
        _ => return Err(Fault::ud()),
    };
    request_resync(ctx);
    Ok(r)
}
