//! IRET, IRETD and IRETQ in real, protected and long mode.
//!
//! Everything is read and checked before anything changes, so a fault leaves the
//! instruction undone. Returns to virtual-8086 mode and nested-task returns (NT = 1)
//! are not supported and raise #GP(0).

use super::desc::{pop_frame, read_desc, sel_fault, Desc, Stack};
use crate::ctx::Ctx;
use crate::exception::{vec, Fault};
use crate::state::{fl, seg, Segment, CR0_PE, EFER_LMA};

const VIF: u64 = 1 << 19;
const VIP: u64 = 1 << 20;

/// Executes IRET with operand size `opsize` (2, 4 or 8 bytes). On success CS:RIP,
/// RFLAGS and the stack (SS:RSP on a return to an outer level, and in 64-bit mode
/// always) come from the frame.
pub fn iret(ctx: &mut Ctx, opsize: u8) -> Result<(), Fault> {
    let st = &ctx.state;
    if st.cr0 & CR0_PE == 0 {
        return iret_real(ctx, opsize);
    }
    if st.rflags_sys & fl::NT != 0 {
        note("IRET with NT=1 would return to another task (hardware task switching)");
        return Err(Fault::gp0());
    }
    let long = st.efer & EFER_LMA != 0;
    let from64 = st.long_mode();
    let cpl = st.cpl();
    let old_flags = st.rflags();
    let stack = Stack::current(ctx);
    let ss0 = Fault::with_code(vec::SS, 0);
    let (v, sp) = pop_frame(ctx, &stack, 3, opsize, ss0)?;
    let (rip, cs_sel, tmp_flags) = (v[0], v[1] as u16, v[2]);
    if !long && opsize == 4 && tmp_flags & fl::VM != 0 && cpl == 0 {
        note("IRET would enter virtual-8086 mode");
        return Err(Fault::gp0());
    }
    let cs_desc = return_cs(ctx, cs_sel, cpl)?;
    let rpl = (cs_sel & 3) as u8;
    let cs = cs_desc.segment(cs_sel);
    let to64 = long && cs.attr & Segment::ATTR_L != 0;
    let outer = rpl > cpl;
    let mut new_stack = None;
    if outer || from64 {
        let rest = Stack { sp, ..stack };
        let (v2, _) = pop_frame(ctx, &rest, 2, opsize, ss0)?;
        let ss_sel = v2[1] as u16;
        let ss = return_ss(ctx, ss_sel, rpl, to64)?;
        let rsp = if !long && ss.attr & Segment::ATTR_DB == 0 {
            (ctx.state.gpr[4] & !0xffff) | (v2[0] & 0xffff)
        } else {
            v2[0]
        };
        new_stack = Some((ss, rsp));
    }
    if to64 {
        if !super::desc::is_canonical(rip) {
            return Err(Fault::gp0());
        }
    } else if rip > cs.limit as u64 {
        return Err(Fault::gp0());
    }
    let flags = iret_flags(old_flags, tmp_flags, opsize, cpl);
    let st = &mut ctx.state;
    st.segs[seg::CS] = cs;
    st.rip = rip;
    st.set_rflags(flags);
    match new_stack {
        Some((ss, rsp)) => {
            st.segs[seg::SS] = ss;
            st.gpr[4] = rsp;
        }
        None => st.gpr[4] = sp,
    }
    if outer {
        null_inaccessible_segments(st, rpl);
    }
    Ok(())
}

/// Real mode: IP, CS and FLAGS (or EIP, CS, EFLAGS) from SS:SP.
fn iret_real(ctx: &mut Ctx, opsize: u8) -> Result<(), Fault> {
    let stack = Stack::current(ctx);
    let (v, sp) = pop_frame(ctx, &stack, 3, opsize, Fault::with_code(vec::SS, 0))?;
    let (ip, cs, tmp) = (v[0], v[1] & 0xffff, v[2]);
    let st = &mut ctx.state;
    let old = st.rflags();
    let flags = if opsize == 2 {
        (old & !0xffff) | (tmp & 0xffff)
    } else {
        // VM, VIF and VIP keep their values.
        (tmp & 0x25_7fd5) | (old & 0x1a_0000)
    };
    st.segs[seg::CS].selector = cs;
    st.segs[seg::CS].base = cs << 4;
    st.rip = ip;
    st.gpr[4] = sp;
    st.set_rflags(flags | fl::FIXED1);
    Ok(())
}

/// The RFLAGS an IRET at privilege `cpl` leaves: IOPL changes only at CPL 0, IF only
/// when CPL <= IOPL, VM never (returns to virtual-8086 mode are refused earlier); a
/// 16-bit IRET touches only the low 16 bits.
pub fn iret_flags(old: u64, tmp: u64, opsize: u8, cpl: u8) -> u64 {
    let iopl = ((old & fl::IOPL) >> 12) as u8;
    let mut m = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::RF | fl::AC | fl::ID;
    if cpl == 0 {
        m |= fl::IOPL | VIF | VIP;
    }
    if cpl <= iopl {
        m |= fl::IF;
    }
    if opsize == 2 {
        m &= 0xffff;
    }
    (old & !m) | (tmp & m) | fl::FIXED1
}

/// The checks on the code segment IRET returns to.
fn return_cs(ctx: &mut Ctx, sel: u16, cpl: u8) -> Result<Desc, Fault> {
    if sel & !3 == 0 {
        return Err(Fault::gp0());
    }
    let gp = sel_fault(vec::GP, sel, 0);
    let d = read_desc(ctx, sel, gp)?;
    let rpl = (sel & 3) as u8;
    if !d.is_code() || rpl < cpl {
        return Err(gp);
    }
    if (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl) {
        return Err(gp);
    }
    if !d.present() {
        return Err(sel_fault(vec::NP, sel, 0));
    }
    Ok(d)
}

/// The checks on the stack segment IRET returns to. A null SS is allowed only when
/// returning to 64-bit code at CPL < 3.
fn return_ss(ctx: &mut Ctx, sel: u16, rpl: u8, to64: bool) -> Result<Segment, Fault> {
    if sel & !3 == 0 {
        if to64 && rpl != 3 && (sel & 3) as u8 == rpl {
            return Ok(Segment {
                selector: sel as u64,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0x93 | (rpl as u32) << 5,
            });
        }
        return Err(Fault::gp0());
    }
    let gp = sel_fault(vec::GP, sel, 0);
    let d = read_desc(ctx, sel, gp)?;
    if (sel & 3) as u8 != rpl || !d.writable_data() || d.dpl() != rpl {
        return Err(gp);
    }
    if !d.present() {
        return Err(sel_fault(vec::SS, sel, 0));
    }
    Ok(d.segment(sel))
}

/// After a return to an outer level: ES, DS, FS and GS holding data or non-conforming
/// code segments more privileged than the new CPL become null (FS and GS keep their
/// base, which 64-bit code sets through MSRs).
fn null_inaccessible_segments(st: &mut crate::state::CpuState, cpl: u8) {
    for s in [seg::ES, seg::DS, seg::FS, seg::GS] {
        let r = &mut st.segs[s];
        if r.selector & !3 == 0 {
            continue;
        }
        let dpl = ((r.attr >> 5) & 3) as u8;
        let is_segment = r.attr & 0x10 != 0;
        let conforming_code = r.attr & 0xc == 0xc;
        if is_segment && !conforming_code && dpl < cpl {
            r.selector = 0;
            r.attr = 0;
            r.limit = 0;
            if matches!(s, seg::ES | seg::DS) {
                r.base = 0;
            }
        }
    }
}

fn note(what: &str) {
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !NOTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("reprise: {what}, which is not supported: raising #GP(0) in the guest");
    }
}
