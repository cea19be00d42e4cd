//! Events the dispatcher delivers between instructions: NMIs and external interrupts,
//! and the bookkeeping after any delivery.

use super::Cpu;
use crate::ctx::exit;
use crate::interrupts;
use crate::state::fl;

impl Cpu {
    /// At an instruction boundary: delivers a pending NMI (unless NMIs are blocked) or,
    /// when RFLAGS.IF = 1, an external interrupt the bus acknowledges. Nothing is taken
    /// inside an interrupt shadow.
    pub(super) fn take_interrupt(&mut self) -> Result<(), interrupts::TripleFault> {
        let st = &self.ctx.state;
        if st.interrupt_shadow & interrupts::SHADOW != 0 {
            return Ok(());
        }
        let nmi_open = st.interrupt_shadow & interrupts::NMI_BLOCKED == 0;
        let if_set = st.rflags_sys & fl::IF != 0;
        if !nmi_open && !if_set {
            return Ok(());
        }
        let icount = st.icount;
        let event = self
            .ctx
            .with_bus(|b| {
                if nmi_open && b.take_nmi() {
                    return Some(None);
                }
                if if_set && b.intr_pending() {
                    return b.intr_acknowledge(icount).map(Some);
                }
                None
            })
            .flatten();
        let r = match event {
            None => return Ok(()),
            Some(None) => {
                self.ctx.state.interrupt_shadow |= interrupts::NMI_BLOCKED;
                interrupts::deliver_external(&mut self.ctx, crate::exception::vec::NMI)
            }
            Some(Some(v)) => interrupts::deliver_external(&mut self.ctx, v),
        };
        self.after_delivery();
        r
    }

    /// After delivering an event from the dispatcher: the block that exited through a
    /// chainable jump must not be linked to the handler (RIP is no longer the jump's
    /// target), and delivery may have pushed onto a page holding code.
    pub(super) fn after_delivery(&mut self) {
        self.ctx.link_slot = 0;
        if self.ctx.exit == exit::SMC {
            self.ctx.exit = exit::NONE;
        }
        self.drop_written_code();
    }

    /// Code pages written: drop their translations.
    pub(super) fn drop_written_code(&mut self) {
        if self.ctx.smc_pages.is_empty() {
            return;
        }
        let pages = std::mem::take(&mut self.ctx.smc_pages);
        for p in pages {
            let (codes, count) = self.cache.invalidate_page(p);
            self.stats.smc_invalidations += count as u64;
            if let Some(j) = self.jit.as_mut() {
                j.forget_code(&mut self.ctx, &codes);
            }
        }
    }
}
