//! Port I/O permission: IOPL, then the I/O permission bitmap of the TSS.

use crate::ctx::Ctx;
use crate::exception::Fault;
use crate::state::{fl, CR0_PE};

/// Allowed in real mode and when CPL <= IOPL; otherwise every bit for the `size`
/// ports from `port` in the TSS I/O bitmap must be clear. A 16-bit TSS, a bitmap
/// beyond the TSS limit or a TSS without a bitmap deny access: #GP(0).
pub fn check_io_permission(ctx: &mut Ctx, port: u16, size: u8) -> Result<(), Fault> {
    let st = &ctx.state;
    let iopl = ((st.rflags_sys & fl::IOPL) >> 12) as u8;
    if st.cr0 & CR0_PE == 0 || st.cpl() <= iopl {
        return Ok(());
    }
    let tr = st.tr;
    // Only a 32/64-bit TSS (type 9 or 11) has a bitmap.
    if tr.attr & 0x80 == 0 || tr.attr & 0x5 != 1 || tr.attr & 0x8 == 0 || tr.limit < 0x67 {
        return Err(Fault::gp0());
    }
    let map = crate::mmu::read_sys(ctx, tr.base.wrapping_add(0x66), 2)?;
    let off = map + (port as u64 >> 3);
    if off + 1 > tr.limit as u64 {
        return Err(Fault::gp0());
    }
    let bits = crate::mmu::read_sys(ctx, tr.base.wrapping_add(off), 2)?;
    let mask = ((1u64 << size) - 1) << (port & 7);
    if bits & mask != 0 {
        return Err(Fault::gp0());
    }
    Ok(())
}
