//! Delivery in real mode (the interrupt vector table) and in 32-bit protected mode
//! (8-byte interrupt and trap gates).

use super::desc::{gate_code_segment, push_frame, read_desc, read_sys, sel_fault, Stack};
use super::{clear_on_entry, Source};
use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{fl, seg};

/// Real mode: the 4-byte entry `offset, segment` at IDTR.base + 4 * v; FLAGS, CS and IP
/// are pushed (no error code); IF, TF and AC are cleared.
pub fn deliver_real(ctx: &mut Ctx, v: u8, src: Source) -> Result<(), Fault> {
    let idt = ctx.state.idtr;
    let off = v as u64 * 4;
    if off + 3 > idt.limit as u64 {
        return Err(Fault::with_code(vec::GP, (v as u32) << 3 | 2 | src.ext()));
    }
    let entry = read_sys(ctx, idt.base.wrapping_add(off), 4)?;
    let ip = entry & 0xffff;
    let cs = (entry >> 16) & 0xffff;
    let st = &ctx.state;
    let frame = [
        st.rflags() & 0xffff,
        st.segs[seg::CS].selector & 0xffff,
        st.rip & 0xffff,
    ];
    let stack = Stack::current(ctx);
    let sp = push_frame(ctx, &stack, &frame, 2, 0, Fault::with_code(vec::SS, 0))?;
    let st = &mut ctx.state;
    st.gpr[4] = sp;
    st.segs[seg::CS].selector = cs;
    st.segs[seg::CS].base = cs << 4;
    st.rip = ip;
    st.rflags_sys &= !(fl::IF | fl::TF | fl::AC | fl::RF);
    Ok(())
}

/// Task gates are not supported: the guest gets #GP for the vector, and the user a note.
fn task_gate_note(v: u8) {
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !NOTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "reprise: vector {v} goes through a task gate; hardware task switching is not \
             supported, raising #GP in the guest"
        );
    }
}

/// Protected mode: interrupt and trap gates, 32- and 16-bit.
pub fn deliver_protected(
    ctx: &mut Ctx,
    v: u8,
    code: Option<u32>,
    src: Source,
) -> Result<(), Fault> {
    let ext = src.ext();
    let idt_code = (v as u32) << 3 | 2 | ext;
    let idt_fault = Fault::with_code(vec::GP, idt_code);
    let idt = ctx.state.idtr;
    let off = v as u64 * 8;
    if off + 7 > idt.limit as u64 {
        return Err(idt_fault);
    }
    let raw = read_sys(ctx, idt.base.wrapping_add(off), 8)?;
    let gtype = (raw >> 40) & 0x1f;
    let dpl = ((raw >> 45) & 3) as u8;
    let present = raw & (1 << 47) != 0;
    if !matches!(gtype, 0x5 | 0x6 | 0x7 | 0xe | 0xf) {
        return Err(idt_fault);
    }
    let cpl = ctx.state.cpl();
    if src == Source::Software && dpl < cpl {
        return Err(idt_fault);
    }
    if !present {
        return Err(Fault::with_code(vec::NP, idt_code));
    }
    if gtype == 0x5 {
        task_gate_note(v);
        return Err(idt_fault);
    }
    let gate32 = gtype & 8 != 0;
    let mut target = (raw & 0xffff) | ((raw >> 32) & 0xffff_0000);
    if !gate32 {
        target &= 0xffff;
    }
    let sel = ((raw >> 16) & 0xffff) as u16;
    let (cs_desc, new_cpl) = gate_code_segment(ctx, sel, ext, cpl)?;
    let slot = if gate32 { 4 } else { 2 };
    let st = &ctx.state;
    let old_ss = st.segs[seg::SS];
    let mut frame = Vec::with_capacity(6);
    let switch = new_cpl < cpl;
    let (stack, new_ss, stack_fault) = if switch {
        let (ss_sel, sp) = tss_stack(ctx, new_cpl, ext)?;
        let ss = check_new_ss(ctx, ss_sel, new_cpl, ext)?;
        frame.push(old_ss.selector);
        frame.push(ctx.state.gpr[4]);
        let width = if ss.attr & crate::state::Segment::ATTR_DB != 0 {
            4
        } else {
            2
        };
        let stack = Stack {
            seg: ss,
            sp,
            width,
            limits: true,
        };
        (stack, Some(ss), sel_fault(vec::SS, ss_sel, ext))
    } else {
        (Stack::current(ctx), None, Fault::with_code(vec::SS, ext))
    };
    let st = &ctx.state;
    frame.push(st.rflags());
    frame.push(st.segs[seg::CS].selector);
    frame.push(st.rip);
    if let Some(c) = code {
        frame.push(c as u64);
    }
    let mask = if gate32 { 0xffff_ffff } else { 0xffff };
    for f in frame.iter_mut() {
        *f &= mask;
    }
    let cs = cs_desc.segment(sel);
    if target > cs.limit as u64 {
        return Err(Fault::with_code(vec::GP, ext));
    }
    let sp = push_frame(ctx, &stack, &frame, slot, new_cpl, stack_fault)?;
    let st = &mut ctx.state;
    if let Some(ss) = new_ss {
        st.segs[seg::SS] = ss;
    }
    st.gpr[4] = sp;
    st.segs[seg::CS] = cs;
    st.segs[seg::CS].selector = (sel as u64 & !3) | new_cpl as u64;
    st.rip = target;
    st.rflags_sys &= !clear_on_entry(gtype & 1 == 0);
    Ok(())
}

/// SS:ESP for privilege level `cpl` from the current TSS (32- or 16-bit).
fn tss_stack(ctx: &mut Ctx, cpl: u8, ext: u32) -> Result<(u16, u64), Fault> {
    let tr = ctx.state.tr;
    let ts = sel_fault(vec::TS, tr.selector as u16, ext);
    let typ = tr.attr & 0xf;
    let (sp_off, sp_size, ss_off) = match typ {
        0x9 | 0xb => (4 + cpl as u64 * 8, 4, 8 + cpl as u64 * 8),
        0x1 | 0x3 => (2 + cpl as u64 * 4, 2, 4 + cpl as u64 * 4),
        _ => return Err(ts),
    };
    if ss_off + 1 > tr.limit as u64 || sp_off + sp_size as u64 - 1 > tr.limit as u64 {
        return Err(ts);
    }
    let sp = read_sys(ctx, tr.base.wrapping_add(sp_off), sp_size)?;
    let ss = read_sys(ctx, tr.base.wrapping_add(ss_off), 2)? as u16;
    Ok((ss, sp))
}

/// The checks on the inner stack segment named by the TSS.
fn check_new_ss(
    ctx: &mut Ctx,
    ss_sel: u16,
    cpl: u8,
    ext: u32,
) -> Result<crate::state::Segment, Fault> {
    if ss_sel & !3 == 0 {
        return Err(Fault::with_code(vec::TS, ext));
    }
    let ts = sel_fault(vec::TS, ss_sel, ext);
    let d = read_desc(ctx, ss_sel, ts)?;
    if (ss_sel & 3) as u8 != cpl || d.dpl() != cpl || !d.writable_data() {
        return Err(ts);
    }
    if !d.present() {
        return Err(sel_fault(vec::SS, ss_sel, ext));
    }
    Ok(d.segment(ss_sel))
}
