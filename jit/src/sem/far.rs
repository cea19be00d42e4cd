//! Segment-register instructions and far transfers: MOV/PUSH/POP Sreg,
//! LDS/LES/LFS/LGS/LSS, far JMP/CALL/RET (ptr16:16/32, m16:16/32/64), LTR/LLDT/STR/SLDT,
//! LAR/LSL/VERR/VERW.
//!
//! The semantics read operands with the emitter and hand the selector work to the
//! system helper ([`helper`]), which checks descriptors ([`crate::segment`]), changes
//! state only once every check passed, and asks the loop to resynchronise (CS, CPL or
//! the code size may have changed: compiled code for the old mode must not continue).
//! Call gates, task gates and task switches raise #GP(selector).

use super::operand::{mem_addr, op_size, read_op, seg_index, stack_size, write_gpr, write_op, Gpr};
use super::system::{code, op, sys};
use super::{arith_flags, set_eflags};
use crate::ctx::Ctx;
use crate::emit::{Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::segment::{self, Probe};
use crate::state::{fl, reg, seg, CR0_PE};
use iced_x86::{Code, Instruction, MemorySize, Mnemonic, OpKind};

fn commit_sp<E: Emitter>(e: &mut E, i: &Instruction, sp: E::V) {
    write_gpr(
        e,
        Gpr {
            idx: reg::RSP,
            size: stack_size(i),
            high8: false,
        },
        sp,
    );
}

/// Operand size of a far transfer (2, 4 or 8): the size of its offset.
fn far_size(i: &Instruction) -> u64 {
    match i.op_kind(0) {
        OpKind::FarBranch16 => 2,
        OpKind::FarBranch32 => 4,
        _ => match i.memory_size() {
            MemorySize::SegPtr16 => 2,
            MemorySize::SegPtr64 => 8,
            _ => 4,
        },
    }
}

fn retf_size(i: &Instruction) -> u64 {
    match i.code() {
        Code::Retfw | Code::Retfw_imm16 => 2,
        Code::Retfq | Code::Retfq_imm16 => 8,
        _ => 4,
    }
}

/// Selector and offset of a far JMP/CALL operand.
fn far_operand<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<(E::V, E::V)> {
    Ok(match i.op_kind(0) {
        OpKind::FarBranch16 | OpKind::FarBranch32 => {
            let off = if i.op_kind(0) == OpKind::FarBranch16 {
                i.far_branch16() as u64
            } else {
                i.far_branch32() as u64
            };
            (e.imm(i.far_branch_selector() as u64), e.imm(off))
        }
        _ => {
            let n = far_size(i) as u8;
            let a = mem_addr(e, i);
            let off = e.load(a, n)?;
            let k = e.imm(n as u64);
            let a2 = e.add(a, k);
            let sel = e.load(a2, 2)?;
            (sel, off)
        }
    })
}

pub fn is_far_branch(i: &Instruction) -> bool {
    matches!(i.op_kind(0), OpKind::FarBranch16 | OpKind::FarBranch32)
        || (i.op_kind(0) == OpKind::Memory
            && matches!(
                i.memory_size(),
                MemorySize::SegPtr16 | MemorySize::SegPtr32 | MemorySize::SegPtr64
            ))
}

fn seg_reg_op(i: &Instruction, n: u32) -> Option<usize> {
    (i.op_kind(n) == OpKind::Register && i.op_register(n).is_segment_register())
        .then(|| seg_index(i.op_register(n)))
}

/// Sets ZF to `ok` (0 or 1), keeping the other arithmetic flags.
fn set_zf<E: Emitter>(e: &mut E, ok: E::V) -> Sem {
    let f = arith_flags(e)?;
    let m = e.imm(!fl::ZF);
    let f = e.and(f, m);
    let sh = e.imm(6);
    let z = e.shl(ok, sh);
    let f = e.or(f, z);
    set_eflags(e, f);
    Ok(())
}

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    use Mnemonic::*;
    match i.mnemonic() {
        Mov if seg_reg_op(i, 0).is_some() => {
            let s = seg_reg_op(i, 0).unwrap_or(seg::DS);
            if s == seg::CS {
                let one = e.imm(1);
                e.raise_if(one, Fault::ud())?;
            }
            let v = read_op(e, i, 1)?;
            sys(e, &[code(op::LOAD_SEG, s as u64)], &[v])?;
            e.exit(ExitKind::Resync);
        }
        Mov if seg_reg_op(i, 1).is_some() => {
            let s = seg_reg_op(i, 1).unwrap_or(seg::DS);
            let v = sys(e, &[code(op::READ_SEL, s as u64)], &[])?;
            if i.op_kind(0) == OpKind::Memory {
                let a = mem_addr(e, i);
                e.store(a, v, 2)?;
            } else {
                write_op(e, i, 0, v)?;
            }
        }
        Push if seg_reg_op(i, 0).is_some() => {
            let s = seg_reg_op(i, 0).unwrap_or(seg::DS);
            let size = i.stack_pointer_increment().unsigned_abs() as u8;
            let v = sys(e, &[code(op::READ_SEL, s as u64)], &[])?;
            super::stack::push(e, i, v, size)?;
        }
        Pop if seg_reg_op(i, 0).is_some() => {
            let s = seg_reg_op(i, 0).unwrap_or(seg::DS);
            let size = i.stack_pointer_increment().unsigned_abs() as u8;
            let (v, sp) = super::stack::pop_load(e, i, size)?;
            let sel = crate::flags::mask(e, v, 2);
            sys(e, &[code(op::LOAD_SEG, s as u64)], &[sel])?;
            commit_sp(e, i, sp);
            e.exit(ExitKind::Resync);
        }
        Lds | Les | Lfs | Lgs | Lss => {
            let s = match i.mnemonic() {
                Lds => seg::DS,
                Les => seg::ES,
                Lfs => seg::FS,
                Lgs => seg::GS,
                _ => seg::SS,
            };
            let n = op_size(i, 0);
            let a = mem_addr(e, i);
            let off = e.load(a, n)?;
            let k = e.imm(n as u64);
            let a2 = e.add(a, k);
            let sel = e.load(a2, 2)?;
            sys(e, &[code(op::LOAD_SEG, s as u64)], &[sel])?;
            write_op(e, i, 0, off)?;
            e.exit(ExitKind::Resync);
        }
        Jmp if is_far_branch(i) => {
            let (sel, off) = far_operand(e, i)?;
            let t = sys(e, &[code(op::FAR_JMP, far_size(i))], &[sel, off])?;
            e.jump(t);
        }
        Call if is_far_branch(i) => {
            let (sel, off) = far_operand(e, i)?;
            let next = e.imm(i.next_ip());
            let t = sys(e, &[code(op::FAR_CALL, far_size(i))], &[sel, off, next])?;
            e.jump(t);
        }
        Retf => {
            let imm = if i.op_count() > 0 {
                i.immediate(0) & 0xffff
            } else {
                0
            };
            let t = sys(e, &[code(op::FAR_RET, retf_size(i)), imm], &[])?;
            e.jump(t);
        }
        Ltr | Lldt => {
            let v = read_op(e, i, 0)?;
            let v = crate::flags::mask(e, v, 2);
            let c = if i.mnemonic() == Ltr {
                op::LTR
            } else {
                op::LLDT
            };
            sys(e, &[c], &[v])?;
            e.exit(ExitKind::Resync);
        }
        Str | Sldt => {
            let c = if i.mnemonic() == Str {
                op::STR
            } else {
                op::SLDT
            };
            let v = sys(e, &[c], &[])?;
            if i.op_kind(0) == OpKind::Memory {
                let a = mem_addr(e, i);
                e.store(a, v, 2)?;
            } else {
                write_op(e, i, 0, v)?;
            }
        }
        Lar | Lsl | Verr | Verw => {
            let (kind, src) = match i.mnemonic() {
                Lar => (Probe::Lar, 1),
                Lsl => (Probe::Lsl, 1),
                Verr => (Probe::Verr, 0),
                _ => (Probe::Verw, 0),
            };
            let sel = read_op(e, i, src)?;
            let sel = crate::flags::mask(e, sel, 2);
            let r = sys(e, &[code(op::PROBE, kind as u64)], &[sel])?;
            let sh = e.imm(63);
            let ok = e.shr(r, sh);
            if src == 1 {
                let old = read_op(e, i, 0)?;
                let v = crate::flags::mask(e, r, 4);
                let nv = e.select(ok, v, old);
                write_op(e, i, 0, nv)?;
            }
            set_zf(e, ok)?;
        }
        _ => return Ok(None),
    }
    Ok(Some(()))
}

// ---- helper side ----

/// Stack width (2, 4, 8) and SS base for implicit stack accesses.
fn stack_geometry(ctx: &Ctx) -> (u64, u64) {
    let st = &ctx.state;
    if st.long_mode() {
        (8, 0)
    } else if st.cr0 & CR0_PE != 0 && st.segs[seg::SS].attr & segment::attr::DB != 0 {
        (4, st.segs[seg::SS].base)
    } else {
        (2, st.segs[seg::SS].base)
    }
}

fn width_mask(w: u64) -> u64 {
    if w >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * w)) - 1
    }
}

fn linear(ctx: &Ctx, base: u64, off: u64) -> u64 {
    let a = base.wrapping_add(off);
    if ctx.state.long_mode() {
        a
    } else {
        a & 0xffff_ffff
    }
}

/// Writes the low `w` bytes of RSP.
fn set_sp(ctx: &mut Ctx, w: u64, sp: u64) {
    let m = width_mask(w);
    let r = &mut ctx.state.gpr[reg::RSP];
    *r = (*r & !m) | (sp & m);
}

fn canonical(v: u64) -> bool {
    ((v as i64) << 16 >> 16) as u64 == v
}

/// Checks the new RIP against the new CS: canonical in 64-bit code, within the limit
/// otherwise.
fn check_target(cs: &crate::state::Segment, long: bool, rip: u64) -> Result<(), Fault> {
    let bits64 = long && cs.attr & segment::attr::L != 0;
    if bits64 {
        if !canonical(rip) {
            return Err(Fault::gp0());
        }
    } else if rip > cs.limit as u64 {
        return Err(Fault::gp0());
    }
    Ok(())
}

fn far_jmp_or_call(
    ctx: &mut Ctx,
    size: u64,
    sel: u16,
    off: u64,
    ret_to: Option<u64>,
) -> Result<u64, Fault> {
    let rip = off & width_mask(size);
    let long = ctx.state.efer & crate::state::EFER_LMA != 0;
    let target = if segment::is_real_mode(ctx) {
        None
    } else {
        let (cs, d) = segment::check_far_target(ctx, sel, false)?;
        check_target(&cs, long, rip)?;
        Some((cs, d))
    };
    if let Some(next) = ret_to {
        let (w, base) = stack_geometry(ctx);
        let sp = ctx.state.gpr[reg::RSP] & width_mask(w);
        let sp1 = sp.wrapping_sub(size) & width_mask(w);
        let sp2 = sp1.wrapping_sub(size) & width_mask(w);
        let (a1, a2) = (linear(ctx, base, sp1), linear(ctx, base, sp2));
        for a in [a1, a2] {
            crate::mmu::translate(ctx, a, crate::mmu::Access::Write)?;
            crate::mmu::translate(ctx, a.wrapping_add(size - 1), crate::mmu::Access::Write)?;
        }
        let old_cs = ctx.state.segs[seg::CS].selector & 0xffff;
        crate::mmu::write(ctx, a1, size as u8, old_cs)?;
        crate::mmu::write(ctx, a2, size as u8, next & width_mask(size))?;
        set_sp(ctx, w, sp2);
    }
    match target {
        None => segment::real_mode_cs(ctx, sel),
        Some((cs, d)) => segment::commit_cs(ctx, cs, Some(&d))?,
    }
    Ok(rip)
}

fn far_ret(ctx: &mut Ctx, size: u64, imm: u64) -> Result<u64, Fault> {
    let (w, base) = stack_geometry(ctx);
    let m = width_mask(w);
    let sp = ctx.state.gpr[reg::RSP] & m;
    let rd = |ctx: &mut Ctx, off: u64| -> Result<u64, Fault> {
        let a = linear(ctx, base, sp.wrapping_add(off) & m);
        crate::mmu::read(ctx, a, size as u8)
    };
    let rip = rd(ctx, 0)?;
    let sel = (rd(ctx, size)? & 0xffff) as u16;
    let after = sp.wrapping_add(2 * size + imm) & m;
    if segment::is_real_mode(ctx) {
        segment::real_mode_cs(ctx, sel);
        set_sp(ctx, w, after);
        return Ok(rip & width_mask(size));
    }
    let cpl = ctx.state.cpl();
    let rpl = (sel & 3) as u8;
    if rpl < cpl {
        return Err(segment::gp_sel(sel));
    }
    let (cs, d) = segment::check_far_target(ctx, sel, true)?;
    let long = ctx.state.efer & crate::state::EFER_LMA != 0;
    let rip = rip & width_mask(size);
    check_target(&cs, long, rip)?;
    if rpl == cpl {
        segment::commit_cs(ctx, cs, Some(&d))?;
        set_sp(ctx, w, after);
        return Ok(rip);
    }
    // Return to an outer privilege level: SS:RSP follow the immediate.
    let new_sp = rd(ctx, 2 * size + imm)?;
    let ss_sel = (rd(ctx, 3 * size + imm)? & 0xffff) as u16;
    let (mut ss, ss_desc) = segment::check_stack_seg_at(ctx, ss_sel, rpl)?;
    if let Some(d) = ss_desc {
        segment::set_accessed(ctx, &d)?;
        ss.attr |= segment::attr::ACCESSED;
    }
    segment::commit_cs(ctx, cs, Some(&d))?;
    ctx.state.segs[seg::SS] = ss;
    let (nw, _) = stack_geometry(ctx);
    set_sp(ctx, nw, new_sp);
    // Data segments the new level may not use become null.
    for s in [seg::ES, seg::DS, seg::FS, seg::GS] {
        let r = ctx.state.segs[s];
        let conforming_code = r.attr & 0xc == 0xc;
        if r.attr & segment::attr::S != 0 && !conforming_code && r.dpl() < rpl {
            ctx.state.segs[s].selector = 0;
            ctx.state.segs[s].attr = 0;
        }
    }
    Ok(rip)
}

/// The far-transfer and segment part of the system helper.
pub fn helper(ctx: &mut Ctx, c: u64, param: u64, a: u64, b: u64, d: u64) -> Result<u64, Fault> {
    let real = segment::is_real_mode(ctx);
    match c {
        op::LOAD_SEG => {
            let s = param as usize;
            // MOV SS / POP SS's interrupt shadow is recorded by `interp::step`, which
            // runs those instructions (LSS makes none).
            segment::load_seg(ctx, s, a as u16)?;
            Ok(0)
        }
        op::READ_SEL => Ok(ctx
            .state
            .segs
            .get(param as usize)
            .map_or(0, |s| s.selector & 0xffff)),
        op::FAR_JMP | op::FAR_CALL => {
            let ret_to = (c == op::FAR_CALL).then_some(d);
            let rip = far_jmp_or_call(ctx, param, a as u16, b, ret_to)?;
            super::system::request_resync(ctx);
            Ok(rip)
        }
        op::FAR_RET => {
            let rip = far_ret(ctx, param, a)?;
            super::system::request_resync(ctx);
            Ok(rip)
        }
        _ if real => Err(Fault::ud()),
        op::LTR => segment::ltr(ctx, a as u16).map(|_| 0),
        op::LLDT => segment::lldt(ctx, a as u16).map(|_| 0),
        op::STR => Ok(ctx.state.tr.selector & 0xffff),
        op::SLDT => Ok(ctx.state.ldtr.selector & 0xffff),
        op::PROBE => {
            let kind = match param {
                0 => Probe::Lar,
                1 => Probe::Lsl,
                2 => Probe::Verr,
                _ => Probe::Verw,
            };
            Ok(segment::probe(ctx, a as u16, kind)?.map_or(0, |v| v | 1 << 63))
        }
        _ => Err(Fault::ud()),
    }
}
