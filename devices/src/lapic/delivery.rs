//! How messages reach the local APIC: destination matching, IPIs from the ICR,
//! messages from the I/O APIC, and the local interrupts of the LVT (timer, LINT0/1).

use super::{lvt, Lapic, ESR_RECEIVE_ILLEGAL_VECTOR, ESR_SEND_ILLEGAL_VECTOR};

impl Lapic {
    /// Whether a message with destination `dest` (physical or logical) reaches us.
    pub(super) fn matches(&self, dest: u32, logical: bool) -> bool {
        if self.x2apic() {
            if !logical {
                return dest == 0xffff_ffff || dest == u32::from(self.s.id);
            }
            return dest >> 16 == self.s.ldr >> 16 && dest & self.s.ldr & 0xffff != 0;
        }
        let dest = dest as u8;
        if !logical {
            return dest == 0xff || dest == self.s.id;
        }
        let ldr = (self.s.ldr >> 24) as u8;
        if dest == 0xff {
            return true;
        }
        if self.s.dfr >> 28 == 0xf {
            dest & ldr != 0
        } else {
            dest >> 4 == ldr >> 4 && dest & ldr & 0xf != 0
        }
    }

    /// Delivers a message (from the I/O APIC or an IPI). Returns true for an ExtINT
    /// message, which the interrupt hub turns into an 8259 acknowledge.
    pub fn deliver(
        &mut self,
        vector: u8,
        delivery_mode: u8,
        logical: bool,
        dest: u32,
        level: bool,
    ) -> bool {
        if !self.hw_enabled() || !self.matches(dest, logical) {
            return false;
        }
        match delivery_mode {
            0 | 1 => self.accept_fixed(vector, level),
            4 => self.s.nmi_pending = true,
            7 => return true,
            // SMI, INIT, SIPI and the reserved mode: nothing to do with one CPU.
            _ => {}
        }
        false
    }

    /// The ICR was written (low half in xAPIC mode, or the whole x2APIC ICR): send.
    pub(super) fn send_ipi(&mut self) {
        let lo = self.s.icr_lo;
        let vector = (lo & 0xff) as u8;
        let mode = ((lo >> 8) & 7) as u8;
        let logical = lo & (1 << 11) != 0;
        let dest = if self.x2apic() {
            self.s.icr_hi
        } else {
            self.s.icr_hi >> 24
        };
        let to_self = match (lo >> 18) & 3 {
            0 => self.matches(dest, logical),
            1 | 2 => true,
            _ => false,
        };
        if matches!(mode, 0 | 1) && vector < 16 {
            self.error(ESR_SEND_ILLEGAL_VECTOR);
            if to_self {
                self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            }
            return;
        }
        if !to_self {
            return;
        }
        match mode {
            0 | 1 => self.accept_fixed(vector, false),
            4 => self.s.nmi_pending = true,
            _ => {}
        }
    }

    /// Delivers local interrupt `index` (an LVT entry) if it is unmasked: fixed mode
    /// sets IRR, NMI mode raises an NMI. Returns true for ExtINT (the 8259's INTR).
    pub(super) fn local_interrupt(&mut self, index: usize) -> bool {
        let e = self.lvt(index);
        if e & lvt::MASKED != 0 || !self.hw_enabled() {
            return false;
        }
        match (e >> 8) & 7 {
            lvt::DM_FIXED => self.accept_fixed((e & 0xff) as u8, false),
            lvt::DM_NMI => self.s.nmi_pending = true,
            lvt::DM_EXTINT => return true,
            _ => {}
        }
        false
    }

    /// Whether the 8259's INTR reaches the CPU: the APIC is globally disabled (INTR
    /// goes straight to the core) or LINT0 is an unmasked ExtINT entry.
    pub fn passes_pic_intr(&self) -> bool {
        if !self.hw_enabled() {
            return true;
        }
        let e = self.lvt(lvt::LINT0);
        e & lvt::MASKED == 0 && (e >> 8) & 7 == lvt::DM_EXTINT
    }

    /// An edge on LINT1 (the board's NMI line): delivered per the LVT (NMI on PCs).
    pub fn lint1_edge(&mut self) {
        self.local_interrupt(lvt::LINT1);
    }
}
