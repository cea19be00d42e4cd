//! string instructions.

use crate::emit::{Emitter, Sem};
use iced_x86::Instruction;

pub fn emit<E: Emitter>(_e: &mut E, _i: &Instruction) -> Sem<Option<()>> {
    Ok(None)
}

/// Helper entry point for this group (see `crate::helpers`).
pub extern "C" fn helper_string(ctx: *mut crate::ctx::Ctx, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helpers receive the live, exclusive context pointer.
    let ctx = unsafe { &mut *ctx };
    ctx.set_fault(crate::exception::Fault::ud());
    0
}
