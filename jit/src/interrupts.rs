//! Delivering exceptions and interrupts through the IDT.
//!
//! 64-bit mode: 16-byte gates, a stack switch from the TSS on a privilege change (or
//! to an IST stack), an SS:RSP/RFLAGS/CS:RIP frame aligned to 16 bytes. A fault while
//! delivering becomes #DF; a fault while delivering #DF is a triple fault, which the
//! caller reports.

use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::mmu;
use crate::state::{fl, seg, Segment, EFER_LMA};

/// Delivery failed even through #DF: the machine must reset or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripleFault {
    /// The exception that started it all (raised by an instruction).
    pub original: Fault,
    /// The exception whose delivery failed last.
    pub fault: Fault,
}

/// Where an event comes from, which decides the pushed RIP and the gate DPL check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fault: RIP points at the faulting instruction (already in state).
    Exception,
    /// INT n / INT3 / INTO: RIP is the next instruction; gate DPL is checked.
    Software,
    /// An external interrupt.
    External,
}

fn contributory(v: u8) -> bool {
    matches!(v, vec::DE | vec::TS | vec::NP | vec::SS | vec::GP)
}

/// Delivers `fault`, escalating to #DF and triple fault as the SDM prescribes.
pub fn deliver_exception(ctx: &mut Ctx, fault: Fault) -> Result<(), TripleFault> {
    if fault.vector == vec::PF {
        ctx.state.cr2 = fault.address;
    }
    let Err(second) = deliver(ctx, fault.vector, fault.error_code, Source::Exception) else {
        return Ok(());
    };
    if fault.vector == vec::DF {
        return Err(TripleFault {
            original: fault,
            fault: second,
        });
    }
    let escalate = (contributory(fault.vector) && contributory(second.vector))
        || (fault.vector == vec::PF && (contributory(second.vector) || second.vector == vec::PF));
    if escalate {
        if let Err(third) = deliver(ctx, vec::DF, Some(0), Source::Exception) {
            return Err(TripleFault {
                original: fault,
                fault: third,
            });
        }
        return Ok(());
    }
    deliver_exception(ctx, second).map_err(|t| TripleFault {
        original: fault,
        fault: t.fault,
    })
}

/// Delivers vector `v`. On failure returns the fault that delivery itself raised
/// (nothing is changed in that case except accessed bits in page tables).
pub fn deliver(ctx: &mut Ctx, v: u8, code: Option<u32>, src: Source) -> Result<(), Fault> {
    if ctx.state.efer & EFER_LMA == 0 {
        return deliver_legacy(ctx, v, code, src);
    }
    let idt = ctx.state.idtr;
    let gate_off = v as u64 * 16;
    let idt_fault = Fault::with_code(vec::GP, (v as u32) << 3 | 2);
    if gate_off + 15 > idt.limit as u64 {
        return Err(idt_fault);
    }
    let lo = mmu::read(ctx, idt.base.wrapping_add(gate_off), 8)?;
    let hi = mmu::read(ctx, idt.base.wrapping_add(gate_off + 8), 8)?;
    let gtype = (lo >> 40) & 0xf;
    let present = lo & (1 << 47) != 0;
    let dpl = ((lo >> 45) & 3) as u8;
    if !matches!(gtype, 0xe | 0xf) {
        return Err(idt_fault);
    }
    let cpl = ctx.state.cpl();
    if src == Source::Software && dpl < cpl {
        return Err(idt_fault);
    }
    if !present {
        return Err(Fault::with_code(vec::NP, (v as u32) << 3 | 2));
    }
    let target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi & 0xffff_ffff) << 32;
    let sel = ((lo >> 16) & 0xffff) as u16;
    let ist = (lo >> 32) & 7;
    let cs = load_code_descriptor(ctx, sel)?;
    let new_cpl = cs.dpl();
    let old_ss = ctx.state.segs[seg::SS];
    let old_rsp = ctx.state.gpr[4];
    let mut rsp = old_rsp;
    if ist != 0 {
        rsp = read_tss_u64(ctx, 0x24 + (ist - 1) * 8)?;
    } else if new_cpl < cpl {
        rsp = read_tss_u64(ctx, 4 + new_cpl as u64 * 8)?;
    }
    rsp &= !0xf;
    let rflags = ctx.state.rflags();
    let mut frame = vec![
        old_ss.selector,
        old_rsp,
        rflags,
        ctx.state.segs[seg::CS].selector,
        ctx.state.rip,
    ];
    if let Some(c) = code {
        frame.push(c as u64);
    }
    // Check every slot before writing any, so a failing push leaves state intact.
    let mut addrs = Vec::with_capacity(frame.len());
    for _ in &frame {
        rsp = rsp.wrapping_sub(8);
        addrs.push(rsp);
    }
    let save_cpl = ctx.state.segs[seg::CS];
    ctx.state.segs[seg::CS].selector = (ctx.state.segs[seg::CS].selector & !3) | new_cpl as u64;
    for &a in &addrs {
        if let Err(f) = mmu::translate(ctx, a, mmu::Access::Write) {
            ctx.state.segs[seg::CS] = save_cpl;
            return Err(f);
        }
    }
    for (val, a) in frame.iter().zip(addrs.iter()) {
        if let Err(f) = mmu::write(ctx, *a, 8, *val) {
            ctx.state.segs[seg::CS] = save_cpl;
            return Err(f);
        }
    }
    let st = &mut ctx.state;
    if new_cpl < cpl {
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
    let mut clear = fl::TF | fl::NT | fl::RF | fl::VM;
    if gtype == 0xe {
        clear |= fl::IF;
    }
    st.rflags_sys &= !clear;
    st.interrupt_shadow = 0;
    if new_cpl != cpl {
        ctx.flush_tlb();
    }
    Ok(())
}

fn read_tss_u64(ctx: &mut Ctx, off: u64) -> Result<u64, Fault> {
    let tr = ctx.state.tr;
    if off + 7 > tr.limit as u64 {
        return Err(Fault::with_code(vec::TS, (tr.selector & !3) as u32));
    }
    mmu::read(ctx, tr.base.wrapping_add(off), 8)
}

/// Reads a code-segment descriptor from the GDT for an interrupt gate's selector.
fn load_code_descriptor(ctx: &mut Ctx, sel: u16) -> Result<Segment, Fault> {
    let gp = Fault::with_code(vec::GP, (sel & !3) as u32);
    if sel & 4 != 0 || sel & !7 == 0 {
        return Err(gp);
    }
    let gdt = ctx.state.gdtr;
    let off = (sel & !7) as u64;
    if off + 7 > gdt.limit as u64 {
        return Err(gp);
    }
    let d = mmu::read(ctx, gdt.base.wrapping_add(off), 8)?;
    let attr = ((d >> 40) & 0xf0ff) as u32;
    // Must be a present code segment.
    if attr & 0x18 != 0x18 {
        return Err(gp);
    }
    if attr & 0x80 == 0 {
        return Err(Fault::with_code(vec::NP, (sel & !3) as u32));
    }
    let base = ((d >> 16) & 0xff_ffff) | ((d >> 56) << 24);
    let mut limit = ((d & 0xffff) | ((d >> 32) & 0xf_0000)) as u32;
    if attr & 0x8000 != 0 {
        limit = limit << 12 | 0xfff;
    }
    Ok(Segment {
        selector: sel as u64,
        base,
        limit,
        attr,
    })
}

/// Protected and real mode delivery arrives with the system-level work; until then an
/// exception outside long mode cannot be delivered.
fn deliver_legacy(_ctx: &mut Ctx, v: u8, _code: Option<u32>, _src: Source) -> Result<(), Fault> {
    Err(Fault::with_code(vec::GP, (v as u32) << 3 | 2))
}
