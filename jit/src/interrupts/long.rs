//! Delivery through the 64-bit IDT (long mode, from 64-bit or compatibility code).

use super::desc::{gate_code_segment, is_canonical, push_frame, read_sys, Stack};
use super::{clear_on_entry, Source};
use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{seg, Segment};

pub fn deliver(ctx: &mut Ctx, v: u8, code: Option<u32>, src: Source) -> Result<(), Fault> {
    let ext = src.ext();
    let idt_fault = Fault::with_code(vec::GP, (v as u32) << 3 | 2 | ext);
    let idt = ctx.state.idtr;
    let gate_off = v as u64 * 16;
    if gate_off + 15 > idt.limit as u64 {
        return Err(idt_fault);
    }
    let lo = read_sys(ctx, idt.base.wrapping_add(gate_off), 8)?;
    let hi = read_sys(ctx, idt.base.wrapping_add(gate_off + 8), 8)?;
    let gtype = (lo >> 40) & 0x1f;
    let present = lo & (1 << 47) != 0;
    let dpl = ((lo >> 45) & 3) as u8;
    // Only 64-bit interrupt (0xE) and trap (0xF) gates exist in long mode.
    if !matches!(gtype, 0xe | 0xf) {
        return Err(idt_fault);
    }
    let cpl = ctx.state.cpl();
    if src == Source::Software && dpl < cpl {
        return Err(idt_fault);
    }
    if !present {
        return Err(Fault::with_code(vec::NP, (v as u32) << 3 | 2 | ext));
    }
    let target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi & 0xffff_ffff) << 32;
    let sel = ((lo >> 16) & 0xffff) as u16;
    let ist = (lo >> 32) & 7;
    let (cs_desc, new_cpl) = gate_code_segment(ctx, sel, ext, cpl)?;
    // The handler must be 64-bit code.
    let cs = cs_desc.segment(sel);
    if cs.attr & Segment::ATTR_L == 0 || cs.attr & Segment::ATTR_DB != 0 {
        return Err(super::desc::sel_fault(vec::GP, sel, ext));
    }
    if !is_canonical(target) {
        return Err(Fault::with_code(vec::GP, ext));
    }
    let old_ss = ctx.state.segs[seg::SS];
    let old_rsp = ctx.state.gpr[4];
    let mut rsp = old_rsp;
    let switch = new_cpl < cpl;
    if ist != 0 {
        rsp = read_tss(ctx, 0x24 + (ist - 1) * 8, ext)?;
    } else if switch {
        rsp = read_tss(ctx, 4 + new_cpl as u64 * 8, ext)?;
    }
    let mut frame = vec![
        old_ss.selector,
        old_rsp,
        ctx.state.rflags(),
        ctx.state.segs[seg::CS].selector,
        ctx.state.rip,
    ];
    if let Some(c) = code {
        frame.push(c as u64);
    }
    let stack = Stack {
        seg: old_ss,
        sp: rsp & !0xf,
        width: 8,
        limits: false,
    };
    let rsp = push_frame(
        ctx,
        &stack,
        &frame,
        8,
        new_cpl,
        Fault::with_code(vec::SS, ext),
    )?;
    let st = &mut ctx.state;
    if switch {
        // SS becomes a null selector with RPL = new CPL.
        st.segs[seg::SS] = Segment {
            selector: new_cpl as u64,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0x93 | (new_cpl as u32) << 5,
        };
    }
    st.segs[seg::CS] = cs;
    st.segs[seg::CS].selector = (sel as u64 & !3) | new_cpl as u64;
    st.gpr[4] = rsp;
    st.rip = target;
    st.rflags_sys &= !clear_on_entry(gtype == 0xe);
    Ok(())
}

fn read_tss(ctx: &mut Ctx, off: u64, ext: u32) -> Result<u64, Fault> {
    let tr = ctx.state.tr;
    if off + 7 > tr.limit as u64 {
        return Err(super::desc::sel_fault(vec::TS, tr.selector as u16, ext));
    }
    read_sys(ctx, tr.base.wrapping_add(off), 8)
}
