//! Helpers: Rust functions that both tiers call for work that is not worth expressing
//! in the emitter vocabulary (port I/O, CPUID, wide division, SSE and x87 arithmetic…).
//!
//! Every helper has the same C signature, `fn(ctx, a, b, c, d) -> u64`. A helper that
//! can raise an exception records it with [`Ctx::set_fault`] (which sets `ctx.exit`);
//! the tiers check `ctx.exit` after any helper whose [`Helper::can_exit`] is true. A
//! helper whose [`Helper::syncs_state`] is true reads or writes `CpuState` directly, so
//! the JIT writes its cached registers back before the call and reloads them after.

use crate::ctx::{exit, Ctx};
use crate::exception::Fault;

pub type HelperFn = extern "C" fn(*mut Ctx, u64, u64, u64, u64) -> u64;

macro_rules! helpers {
    ($( $name:ident => $func:path, can_exit: $ce:expr, syncs: $sy:expr; )*) => {
        /// Every helper the semantics may call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Helper { $($name,)* }
        impl Helper {
            #[inline(always)]
            pub fn func(self) -> HelperFn {
                match self { $(Helper::$name => $func,)* }
            }
            /// May set `ctx.exit` (raise an exception, stop the machine).
            pub fn can_exit(self) -> bool {
                match self { $(Helper::$name => $ce,)* }
            }
            /// Reads or writes architectural state in `CpuState` directly.
            pub fn syncs_state(self) -> bool {
                match self { $(Helper::$name => $sy,)* }
            }
        }
    };
}

helpers! {
    ComputeEflags => compute_eflags, can_exit: false, syncs: false;
    PortIn => port_in, can_exit: true, syncs: true;
    PortOut => port_out, can_exit: true, syncs: true;
    Cpuid => crate::cpuid::helper_cpuid, can_exit: false, syncs: true;
    Rdtsc => rdtsc, can_exit: true, syncs: true;
    Div64 => crate::sem::muldiv::helper_div64, can_exit: true, syncs: true;
    Idiv64 => crate::sem::muldiv::helper_idiv64, can_exit: true, syncs: true;
    System => crate::sem::system::helper_system, can_exit: true, syncs: true;
    StringOp => crate::sem::string::helper_string, can_exit: true, syncs: true;
    Sse => crate::sem::sse::helper_sse, can_exit: true, syncs: true;
    SseXmm => crate::sem::sse::helper_sse, can_exit: true, syncs: true;
    X87 => crate::sem::x87::helper_x87, can_exit: true, syncs: true;
    Interrupt => crate::sem::interrupt::helper_interrupt, can_exit: true, syncs: true;
    Random => random, can_exit: true, syncs: true;
}

impl Helper {
    /// True for helpers whose only state access is one XMM register, MXCSR and the
    /// CR0/CR4 bits of the mode (and recording a fault): the SSE helper called for an
    /// operation into an XMM register from a value operand (`sse::call_to_xmm`,
    /// through `Emitter::helper_on_xmm`). The JIT writes back and reloads only that
    /// register around them, and such calls do not keep a loop from becoming a region.
    #[inline(always)]
    pub fn syncs_only_xmm(self) -> bool {
        matches!(self, Helper::SseXmm)
    }
}

/// Calls a helper from Rust (the interpreter tier).
#[inline(always)]
pub fn call(ctx: &mut Ctx, h: Helper, args: &[u64]) -> u64 {
    let a = |n: usize| args.get(n).copied().unwrap_or(0);
    (h.func())(ctx as *mut Ctx, a(0), a(1), a(2), a(3))
}

/// # Safety contract for all helpers
/// `ctx` is the pointer the tier was entered with; it is valid and exclusively ours
/// for the duration of the call.
fn ctx_mut<'a>(ctx: *mut Ctx) -> &'a mut Ctx {
    // SAFETY: see the contract above; both tiers pass their live, unaliased context.
    unsafe { &mut *ctx }
}

extern "C" fn compute_eflags(_ctx: *mut Ctx, op: u64, res: u64, s1: u64, s2: u64) -> u64 {
    crate::flags::eflags_concrete(op, res, s1, s2)
}

extern "C" fn port_in(ctx: *mut Ctx, port: u64, size: u64, _: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    if let Err(f) = crate::sem::system::check_io_permission(ctx, port as u16, size as u8) {
        ctx.set_fault(f);
        return 0;
    }
    let icount = ctx.state.icount;
    ctx.with_bus(|b| b.port_in(port as u16, size as u8, icount) as u64)
        .unwrap_or(crate::flags::size_mask(size as u8))
}

extern "C" fn port_out(ctx: *mut Ctx, port: u64, size: u64, value: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    if let Err(f) = crate::sem::system::check_io_permission(ctx, port as u16, size as u8) {
        ctx.set_fault(f);
        return 0;
    }
    let icount = ctx.state.icount;
    let action = ctx.with_bus(|b| b.port_out(port as u16, size as u8, value as u32, icount));
    if action == Some(crate::bus::BusAction::Stop) {
        ctx.exit = exit::BUS_STOP;
    }
    0
}

extern "C" fn rdtsc(ctx: *mut Ctx, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    // CR4.TSD makes RDTSC privileged.
    if ctx.state.cr4 & (1 << 2) != 0 && ctx.state.cpl() != 0 {
        ctx.set_fault(Fault::gp0());
        return 0;
    }
    ctx.virtual_tsc()
}

/// RDRAND (`seed` = 0) / RDSEED (`seed` = 1) into GPR `reg` (`size` bytes): the
/// machine's bus supplies (and records) the bits. Success: CF = 1 and the value;
/// no entropy: CF = 0 and zero. OF, SF, ZF, AF and PF are cleared either way.
extern "C" fn random(ctx: *mut Ctx, seed: u64, size: u64, reg: u64, _: u64) -> u64 {
    let ctx = ctx_mut(ctx);
    let icount = ctx.state.icount;
    let size = size as u8;
    let (v, action) = ctx
        .with_bus(|b| b.random(seed != 0, size, icount))
        .unwrap_or((None, crate::bus::BusAction::Continue));
    if action == crate::bus::BusAction::Stop {
        ctx.exit = exit::BUS_STOP;
    }
    let st = &mut ctx.state;
    let value = v.unwrap_or(0) & crate::flags::size_mask(size);
    if let Some(r) = st.gpr.get_mut(reg as usize) {
        *r = match size {
            2 => (*r & !0xffff) | value,
            _ => value,
        };
    }
    let flags = (st.rflags() & !crate::state::fl::ARITH)
        | if v.is_some() { crate::state::fl::CF } else { 0 };
    st.set_rflags(flags);
    0
}
