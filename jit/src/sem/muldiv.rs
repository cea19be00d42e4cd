//! muldiv instructions.

use crate::emit::{Emitter, Sem};
use iced_x86::Instruction;

pub fn emit<E: Emitter>(_e: &mut E, _i: &Instruction) -> Sem<Option<()>> {
    Ok(None)
}

/// 128/64-bit unsigned division of RDX:RAX by `divisor`; #DE on zero or overflow.
pub extern "C" fn helper_div64(
    ctx: *mut crate::ctx::Ctx,
    divisor: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let n = (st.gpr[2] as u128) << 64 | st.gpr[0] as u128;
    if divisor == 0 || n / divisor as u128 > u64::MAX as u128 {
        ctx.set_fault(crate::exception::Fault::new(crate::exception::vec::DE));
        return 0;
    }
    st.gpr[0] = (n / divisor as u128) as u64;
    st.gpr[2] = (n % divisor as u128) as u64;
    0
}

/// 128/64-bit signed division of RDX:RAX by `divisor`; #DE on zero or overflow.
pub extern "C" fn helper_idiv64(
    ctx: *mut crate::ctx::Ctx,
    divisor: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    let st = &mut ctx.state;
    let n = ((st.gpr[2] as u128) << 64 | st.gpr[0] as u128) as i128;
    let d = divisor as i64 as i128;
    let q = if d == 0 { None } else { n.checked_div(d) };
    match q {
        Some(q) if q >= i64::MIN as i128 && q <= i64::MAX as i128 => {
            st.gpr[0] = q as u64;
            st.gpr[2] = (n % d) as u64;
        }
        _ => ctx.set_fault(crate::exception::Fault::new(crate::exception::vec::DE)),
    }
    0
}
