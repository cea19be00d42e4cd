//! SSE and SSE2 (the x86-64 baseline; MMX register forms are left to #UD).
//!
//! Moves and bitwise logic are emitter semantics on the two 64-bit halves of an XMM
//! register (inline IR in the JIT). Everything else goes through one helper,
//! [`helper_sse`], called as `helper(Sse, [op, src_lo, src_hi, imm])`: `op` packs the
//! mnemonic, the destination XMM register and an auxiliary size (see [`pack_op`]); the
//! source operand (XMM, memory or GPR) is passed by value, loaded beforehand so that a
//! memory fault happens before anything is written. The helper writes XMM results into
//! `ctx.state.xmm[dst]` itself and returns GPR or flag results.
//!
//! Files: [`mov`] (moves), [`logic`] (inline bitwise and 64-bit lane ops), [`lanes`]
//! (inline SWAR versions of the hottest integer lane ops), [`int`]
//! (integer lane arithmetic), [`shuffle`] (shuffles, unpacks, packs, inserts, masks),
//! [`float`] (arithmetic and compares, on the host under the guest's MXCSR), [`fast`]
//! (the common arithmetic cases that need no MXCSR access at all), [`convert`],
//! [`approx`] (RCP/RSQRT in software), [`mxcsr`] (MXCSR handling and LDMXCSR/STMXCSR).

pub mod approx;
pub mod convert;
pub mod fast;
pub mod float;
pub mod int;
pub mod lanes;
pub mod logic;
pub mod mov;
pub mod mxcsr;
pub mod shuffle;

use super::operand::{gpr_of, mem_linear, read_reg, Mem};
use crate::ctx::Ctx;
use crate::emit::{Cmp, Emitter, Sem};
use crate::exception::{vec, Fault};
use crate::helpers::Helper;
use crate::state::{CR0_EM, CR0_TS, CR4_OSFXSR};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

pub fn emit<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    if uses_mmx(i) {
        return Ok(None);
    }
    if let Some(r) = mov::emit(e, i)? {
        return Ok(Some(r));
    }
    if let Some(r) = logic::emit(e, i)? {
        return Ok(Some(r));
    }
    if let Some(r) = lanes::emit(e, i)? {
        return Ok(Some(r));
    }
    via_helper(e, i)
}

fn uses_mmx(i: &Instruction) -> bool {
    (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Register && i.op_register(n).is_mm())
}

/// XMM register number of a register operand.
pub fn xmm_of(r: Register) -> Option<usize> {
    if r.is_xmm() {
        Some(r.number())
    } else {
        None
    }
}

/// XMM register number of operand `n`, if it is an XMM register.
pub fn xmm_op(i: &Instruction, n: u32) -> Option<usize> {
    if i.op_kind(n) == OpKind::Register {
        xmm_of(i.op_register(n))
    } else {
        None
    }
}

/// An XMM register or memory operand of an SSE instruction, resolved once: the
/// instruction groups build it from iced-x86's `Instruction` at every execution, the
/// pre-decoded forms ([`crate::sem::pre`]) once per instruction. The semantic
/// functions that take it are shared by both.
#[derive(Clone, Copy, Debug)]
pub enum XOpnd {
    Xmm(usize),
    /// Memory (`Mem::size` bytes: 16, or fewer read zero-extended).
    Mem(Mem),
}

impl XOpnd {
    /// Operand `n` of `i` if it is an XMM register or memory.
    pub fn of(i: &Instruction, n: u32) -> Option<XOpnd> {
        match i.op_kind(n) {
            OpKind::Register => xmm_op(i, n).map(XOpnd::Xmm),
            OpKind::Memory => Some(XOpnd::Mem(Mem::of(i))),
            _ => None,
        }
    }
}

/// True for instructions whose 16-byte memory operand may be misaligned.
pub fn unaligned_ok(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(i.mnemonic(), Movups | Movupd | Movdqu | Lddqu)
}

/// Linear address of the memory operand; #GP(0) when a 16-byte operand must be
/// aligned and is not.
pub fn sse_addr<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<E::V> {
    mem_addr_checked(e, &Mem::of(i), !unaligned_ok(i))
}

/// Linear address of memory operand `m`; #GP(0) when it is 16 bytes, `aligned` (the
/// instruction requires alignment) and not 16-byte aligned.
#[inline(always)]
pub fn mem_addr_checked<E: Emitter>(e: &mut E, m: &Mem, aligned: bool) -> Sem<E::V> {
    let a = mem_linear(e, m);
    if m.size == 16 && aligned {
        let m = e.imm(15);
        let low = e.and(a, m);
        let z = e.imm(0);
        let bad = e.cmp(Cmp::Ne, low, z);
        e.raise_if(bad, Fault::gp0())?;
    }
    Ok(a)
}

/// Reads operand `n` as a (low, high) pair: an XMM register, memory (16 bytes, or
/// fewer zero-extended), a GPR or an immediate.
pub fn read_src<E: Emitter>(e: &mut E, i: &Instruction, n: u32) -> Sem<(E::V, E::V)> {
    if let Some(o) = XOpnd::of(i, n) {
        return read_x(e, &o, !unaligned_ok(i));
    }
    match i.op_kind(n) {
        OpKind::Register => {
            let v = read_reg(e, i.op_register(n));
            let z = e.imm(0);
            Ok((v, z))
        }
        _ => {
            let v = e.imm(i.immediate(n));
            let z = e.imm(0);
            Ok((v, z))
        }
    }
}

/// Reads an XMM or memory operand as a (low, high) pair (memory of fewer than 16
/// bytes zero-extended); `aligned` as in [`mem_addr_checked`].
#[inline(always)]
pub fn read_x<E: Emitter>(e: &mut E, o: &XOpnd, aligned: bool) -> Sem<(E::V, E::V)> {
    match o {
        XOpnd::Xmm(x) => {
            let lo = e.xmm(*x, 0);
            let hi = e.xmm(*x, 1);
            Ok((lo, hi))
        }
        XOpnd::Mem(m) => {
            let a = mem_addr_checked(e, m, aligned)?;
            if m.size == 16 {
                let lo = e.load(a, 8)?;
                let eight = e.imm(8);
                let a8 = e.add(a, eight);
                let hi = e.load(a8, 8)?;
                Ok((lo, hi))
            } else {
                let lo = e.load(a, m.size.clamp(1, 8))?;
                let z = e.imm(0);
                Ok((lo, z))
            }
        }
    }
}

/// An operation the SSE helper computes into XMM register `dst`: `op` from
/// [`pack_op`], source `src`, immediate `imm`. The source is read (and a memory
/// operand's faults taken) before the helper runs; the mode's SSE faults come first.
#[inline(always)]
pub fn helper_to_xmm<E: Emitter>(e: &mut E, op: u64, src: &XOpnd, aligned: bool, imm: u64) -> Sem {
    let (lo, hi) = read_helper_src(e, src, aligned)?;
    call_to_xmm(e, op, lo, hi, imm)
}

/// [`helper_to_xmm`]'s first part: the source operand (after the mode's SSE faults
/// when it is memory).
#[inline(always)]
pub fn read_helper_src<E: Emitter>(e: &mut E, src: &XOpnd, aligned: bool) -> Sem<(E::V, E::V)> {
    if matches!(src, XOpnd::Mem(_)) {
        // Precondition faults take priority over memory faults.
        guard(e)?;
    }
    read_x(e, src, aligned)
}

/// [`helper_to_xmm`]'s second part: the helper call on the source's halves.
#[inline(always)]
pub fn call_to_xmm<E: Emitter>(e: &mut E, op: u64, lo: E::V, hi: E::V, imm: u64) -> Sem {
    let imm = e.imm(imm);
    let dst = ((op >> 16) & 15) as usize;
    let op = e.imm(op);
    // These operations read and write only XMM `dst` and MXCSR.
    e.helper_on_xmm(Helper::SseXmm, dst, &[op, lo, hi, imm])?;
    Ok(())
}

/// The SSE helper's MXCSR-free arithmetic: form `form` ([`fast::form_index`]) into XMM
/// `dst` from source halves `lo`, `hi`. True when it was done; false (nothing
/// changed) when the instruction needs the rest of the helper: SSE disabled, another
/// MXCSR control, or operands outside the fast path.
#[inline(always)]
pub fn fast_into(ctx: &mut Ctx, form: u8, dst: usize, lo: u64, hi: u64) -> bool {
    if form == 0 || check_enabled(ctx).is_err() {
        return false;
    }
    let [dlo, dhi] = ctx.state.xmm[dst & 15];
    match fast::run_form(form, join(dlo, dhi), join(lo, hi), ctx.state.mxcsr) {
        Some(v) => {
            ctx.state.xmm[dst & 15] = split(v);
            true
        }
        None => false,
    }
}

/// True for the SSE operations [`helper_to_xmm`] computes from an XMM or memory
/// source (the rest of what the helper does takes a GPR, writes a GPR or RFLAGS, or
/// has an inline version).
pub fn computed_into_xmm(m: Mnemonic) -> bool {
    !matches!(m, Mnemonic::Cvtsi2ss | Mnemonic::Cvtsi2sd)
        && !lanes::inline(m)
        && helper_dest(m) == Some(Dest::Xmm)
}

/// Raises the fault SSE instructions take in this mode (CR0.EM/TS, CR4.OSFXSR).
#[inline(always)]
pub fn guard<E: Emitter>(e: &mut E) -> Sem {
    // CR0.EM/TS and CR4.OSFXSR are part of the translation key, so this is static.
    if let Some(f) = e.sse_fault() {
        let one = e.imm(1);
        e.raise_if(one, f)?;
    }
    Ok(())
}

/// Packs a helper operation: mnemonic, destination XMM register, auxiliary size, and
/// the form index of [`fast`] (0 for none).
pub fn pack_op(m: Mnemonic, dst: usize, aux: u8) -> u64 {
    m as u64
        | ((dst as u64) & 0xff) << 16
        | (aux as u64) << 24
        | u64::from(fast::form_index(m)) << 32
}

/// Instructions computed by the helper, with where their result goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    /// The helper writes XMM operand 0.
    Xmm,
    /// The helper returns a value for GPR operand 0.
    Gpr,
    /// The helper returns RFLAGS arithmetic flags.
    Flags,
}

pub(crate) fn helper_dest(m: Mnemonic) -> Option<Dest> {
    use Mnemonic::*;
    if int::handles(m) || shuffle::handles(m) || float::handles(m) || convert::handles(m) {
        return Some(match m {
            Comiss | Comisd | Ucomiss | Ucomisd => Dest::Flags,
            Pmovmskb | Movmskps | Movmskpd | Pextrw | Cvtss2si | Cvtsd2si | Cvttss2si
            | Cvttsd2si => Dest::Gpr,
            _ => Dest::Xmm,
        });
    }
    if approx::handles(m) {
        return Some(Dest::Xmm);
    }
    None
}

fn via_helper<E: Emitter>(e: &mut E, i: &Instruction) -> Sem<Option<()>> {
    let m = i.mnemonic();
    if matches!(m, Mnemonic::Ldmxcsr | Mnemonic::Stmxcsr) {
        return mxcsr::emit(e, i);
    }
    let Some(dest) = helper_dest(m) else {
        return Ok(None);
    };
    if i.op_count() < 2 {
        return Ok(None);
    }
    // The XMM register the helper works on: operand 0, or the source for GPR results.
    let (dst, gpr) = match dest {
        Dest::Gpr => match (gpr_of(i.op_register(0)), xmm_op(i, 1)) {
            (Some(g), Some(x)) if i.op_kind(0) == OpKind::Register => (x, Some(g)),
            (Some(g), None) if i.op_kind(1) == OpKind::Memory => (0, Some(g)),
            _ => return Ok(None),
        },
        _ => match xmm_op(i, 0) {
            Some(x) => (x, None),
            None => return Ok(None),
        },
    };
    // Auxiliary size: the GPR or integer-memory operand's width for conversions.
    let aux = match m {
        Mnemonic::Cvtsi2ss | Mnemonic::Cvtsi2sd => super::operand::op_size(i, 1),
        _ => gpr.map(|g| g.size).unwrap_or(0),
    };
    let imm = if i.op_count() > 2 && i.op_kind(2) != OpKind::Register {
        i.immediate(2)
    } else {
        0
    };
    if dest == Dest::Xmm && computed_into_xmm(m) {
        if let Some(src) = XOpnd::of(i, 1) {
            helper_to_xmm(e, pack_op(m, dst, aux), &src, !unaligned_ok(i), imm)?;
            return Ok(Some(()));
        }
    }
    if i.op_kind(1) == OpKind::Memory {
        // Precondition faults take priority over memory faults.
        guard(e)?;
    }
    let (lo, hi) = read_src(e, i, 1)?;
    let imm = e.imm(imm);
    let op = e.imm(pack_op(m, dst, aux));
    let r = e.helper(Helper::Sse, &[op, lo, hi, imm])?;
    match dest {
        Dest::Xmm => {}
        Dest::Gpr => {
            if let Some(g) = gpr {
                super::operand::write_gpr(e, g, r);
            }
        }
        Dest::Flags => super::set_eflags(e, r),
    }
    Ok(Some(()))
}

/// Checks CR0.EM, CR4.OSFXSR (#UD) and CR0.TS (#NM).
#[inline(always)]
pub fn check_enabled(ctx: &Ctx) -> Result<(), Fault> {
    let st = &ctx.state;
    if st.cr0 & CR0_EM != 0 || st.cr4 & CR4_OSFXSR == 0 {
        return Err(Fault::ud());
    }
    if st.cr0 & CR0_TS != 0 {
        return Err(Fault::new(vec::NM));
    }
    Ok(())
}

/// A 128-bit value from its halves.
#[inline(always)]
pub fn join(lo: u64, hi: u64) -> u128 {
    lo as u128 | (hi as u128) << 64
}

/// The halves of a 128-bit value.
#[inline(always)]
pub fn split(v: u128) -> [u64; 2] {
    [v as u64, (v >> 64) as u64]
}

/// Helper entry point (see `crate::helpers`): `op` from [`pack_op`], the source
/// operand's halves and the immediate.
///
/// Small enough to inline into the interpreter: the arithmetic [`fast`] computes is
/// done here, everything else in [`helper_sse_slow`].
#[inline]
pub(crate) extern "C" fn helper_sse(ctx: *mut Ctx, op: u64, lo: u64, hi: u64, imm: u64) -> u64 {
    let fast = (op >> 32) as u8;
    if fast != 0 {
        // SAFETY: helpers receive the live, exclusive context pointer.
        let c = unsafe { &mut *ctx };
        if fast_into(c, fast, ((op >> 16) & 15) as usize, lo, hi) {
            return 0;
        }
    }
    helper_sse_slow(ctx, op, lo, hi, imm)
}

/// [`helper_sse`] past the arithmetic fast path.
#[inline(never)]
fn helper_sse_slow(ctx: *mut Ctx, op: u64, lo: u64, hi: u64, imm: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    match run(ctx, op, join(lo, hi), imm as u8) {
        Ok(v) => v,
        Err(f) => {
            ctx.set_fault(f);
            0
        }
    }
}

fn run(ctx: &mut Ctx, op: u64, src: u128, imm: u8) -> Result<u64, Fault> {
    check_enabled(ctx)?;
    let m = Mnemonic::try_from((op & 0xffff) as usize).unwrap_or(Mnemonic::INVALID);
    let dst = ((op >> 16) & 15) as usize;
    let aux = (op >> 24) as u8;
    match m {
        Mnemonic::INVALID => return Ok(0),
        Mnemonic::Ldmxcsr => {
            mxcsr::ldmxcsr_helper(ctx, src as u32)?;
            return Ok(0);
        }
        Mnemonic::Stmxcsr => return Ok(ctx.state.mxcsr as u64),
        Mnemonic::Maskmovdqu => {
            mov::maskmov_helper(ctx, dst, aux as usize & 15, src as u64)?;
            return Ok(0);
        }
        _ => {}
    }
    let [dlo, dhi] = ctx.state.xmm[dst];
    let d = join(dlo, dhi);
    let put = |ctx: &mut Ctx, v: u128| ctx.state.xmm[dst] = split(v);
    // Floating-point arithmetic first: it is what numeric code runs most.
    if float::handles(m) {
        return on_host(ctx, m, dst, float::run(m, d, src, imm, ctx.state.mxcsr));
    }
    if let Some(r) = int::run(m, d, src, imm) {
        put(ctx, r);
        return Ok(0);
    }
    if let Some(r) = shuffle::run(m, d, src, imm) {
        return Ok(match r {
            shuffle::Shuf::Xmm(v) => {
                put(ctx, v);
                0
            }
            shuffle::Shuf::Gpr(v) => v,
        });
    }
    if let Some(r) = approx::run(m, d, src) {
        put(ctx, r);
        return Ok(0);
    }
    if convert::handles(m) {
        return on_host(ctx, m, dst, convert::run(m, d, src, aux, ctx.state.mxcsr));
    }
    Err(Fault::ud())
}

/// Commits what an operation computed on the host (`m` into XMM `dst`): its MXCSR
/// flags, then its result unless an unmasked exception stops it.
#[inline(always)]
fn on_host(ctx: &mut Ctx, m: Mnemonic, dst: usize, out: mxcsr::Computed) -> Result<u64, Fault> {
    let flags = out.flags | mxcsr::unmasked_underflow(m, ctx.state.mxcsr, &out);
    mxcsr::commit(ctx, flags)?;
    match out.value {
        mxcsr::Value::Xmm(v) => {
            ctx.state.xmm[dst & 15] = split(v);
            Ok(0)
        }
        mxcsr::Value::Scalar(v) => Ok(v),
    }
}
