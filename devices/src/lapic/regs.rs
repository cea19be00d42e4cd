//! Register access to the local APIC: the xAPIC MMIO window (32-bit registers on
//! 16-byte boundaries) and the x2APIC MSRs 0x800-0x8ff (register offset >> 4), plus
//! IA32_TSC_DEADLINE.

use super::{lvt, msr, Lapic, TimerMode, ESR_ILLEGAL_REGISTER, SVR_ENABLE};

/// Bits software can write in each LVT entry.
const LVT_WRITABLE: [u32; lvt::COUNT] = [
    0x0007_00ff, // timer: vector, mask, mode
    0x0001_07ff, // thermal: vector, delivery mode, mask
    0x0001_07ff, // performance counters
    0x0001_a7ff, // LINT0: vector, delivery mode, polarity, trigger, mask
    0x0001_a7ff, // LINT1
    0x0001_00ff, // error: vector, mask
];

/// What a register write asks of the interrupt hub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WriteEffect {
    /// A level-triggered vector was EOIed: broadcast it to the I/O APIC.
    pub eoi_broadcast: Option<u8>,
}

impl Lapic {
    /// The register at `off` (a multiple of 16), or `None` if there is none.
    pub(super) fn read_reg(&self, off: u32, now_ns: u64) -> Option<u32> {
        let s = &self.s;
        let idx = |base: u32| ((off - base) >> 4) as usize;
        Some(match off {
            0x20 if self.x2apic() => u32::from(s.id),
            0x20 => u32::from(s.id) << 24,
            0x30 => super::LAPIC_VERSION,
            0x80 => u32::from(s.tpr),
            0x90 | 0xb0 | 0xc0 => 0,
            0xa0 => u32::from(self.ppr()),
            0xd0 => s.ldr,
            0xe0 => s.dfr,
            0xf0 => s.svr,
            0x100..=0x170 => s.isr.get(idx(0x100)).copied()?,
            0x180..=0x1f0 => s.tmr.get(idx(0x180)).copied()?,
            0x200..=0x270 => s.irr.get(idx(0x200)).copied()?,
            0x280 => s.esr,
            // Delivery status (bit 12) is always idle: IPIs are delivered at once.
            0x300 => s.icr_lo & !(1 << 12),
            0x310 => s.icr_hi,
            0x320..=0x370 => s.lvt.get(idx(0x320)).copied()?,
            0x380 => s.timer.initial_count,
            0x390 => s.timer.current_count(self.timer_mode(), now_ns),
            0x3e0 => s.timer.divide,
            _ => return None,
        })
    }

    /// Writes the register at `off`. `None`: no such writable register.
    pub(super) fn write_reg(&mut self, off: u32, v: u32, now_ns: u64) -> Option<WriteEffect> {
        let mut effect = WriteEffect::default();
        if matches!(off, 0xf0 | 0x320 | 0x380 | 0x3e0) {
            // Expiries up to now happen under the old settings (a masked timer's are
            // counted and lost).
            self.advance(now_ns);
        }
        match off {
            0x20 if !self.x2apic() => self.s.id = (v >> 24) as u8,
            0x80 => self.s.tpr = v as u8,
            0xb0 => effect.eoi_broadcast = self.eoi(),
            0xd0 if !self.x2apic() => self.s.ldr = v & 0xff00_0000,
            0xe0 if !self.x2apic() => self.s.dfr = v | 0x0fff_ffff,
            0xf0 => {
                self.s.svr = v & 0x3ff;
                if v & SVR_ENABLE == 0 {
                    for e in &mut self.s.lvt {
                        *e |= lvt::MASKED;
                    }
                }
            }
            0x280 => self.s.esr = std::mem::take(&mut self.s.esr_pending),
            0x300 => {
                self.s.icr_lo = v & 0x000c_cfff;
                self.send_ipi();
            }
            0x310 if !self.x2apic() => self.s.icr_hi = v & 0xff00_0000,
            0x320..=0x370 => {
                let i = ((off - 0x320) >> 4) as usize;
                let mask = LVT_WRITABLE.get(i).copied()?;
                let mut new = v & mask;
                if !self.sw_enabled() {
                    new |= lvt::MASKED;
                }
                let old_mode = self.timer_mode();
                if let Some(e) = self.s.lvt.get_mut(i) {
                    *e = new;
                }
                if i == lvt::TIMER {
                    let new_mode = self.timer_mode();
                    self.s.timer.mode_changed(old_mode, new_mode, now_ns);
                }
            }
            0x380 => {
                let mode = self.timer_mode();
                self.s.timer.write_initial(mode, v, now_ns);
            }
            0x3e0 => {
                let mode = self.timer_mode();
                self.s.timer.write_divide(mode, v, now_ns);
            }
            _ => return None,
        }
        Some(effect)
    }

    /// An xAPIC MMIO read of `size` bytes at `offset` in the 4 KiB window. With the APIC
    /// globally disabled or in x2APIC mode the window does not decode: reads float high.
    pub fn mmio_read(&mut self, offset: u64, size: u8, now_ns: u64) -> u64 {
        let mask = size_mask(size);
        if !self.hw_enabled() || self.x2apic() {
            return mask;
        }
        let byte = offset & 0xf;
        if byte >= 4 {
            return 0;
        }
        let reg = (offset & 0xff0) as u32;
        match self.read_reg(reg, now_ns) {
            Some(v) => (u64::from(v) >> (byte * 8)) & mask,
            None => {
                self.error(ESR_ILLEGAL_REGISTER);
                0
            }
        }
    }

    /// An xAPIC MMIO write. A write narrower than 32 bits is merged into the register's
    /// current value (software should not do this; it must not break anything).
    pub(crate) fn mmio_write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
        now_ns: u64,
    ) -> WriteEffect {
        if !self.hw_enabled() || self.x2apic() {
            return WriteEffect::default();
        }
        let byte = offset & 0xf;
        if byte >= 4 {
            return WriteEffect::default();
        }
        let reg = (offset & 0xff0) as u32;
        let shift = byte * 8;
        let mask = size_mask(size) << shift;
        let v = if mask & 0xffff_ffff == 0xffff_ffff {
            value as u32
        } else {
            let old = u64::from(self.read_reg(reg, now_ns).unwrap_or(0));
            ((old & !mask) | ((value << shift) & mask)) as u32
        };
        match self.write_reg(reg, v, now_ns) {
            Some(e) => e,
            None => {
                // Read-only registers ignore writes; unknown ones flag an error.
                if self.read_reg(reg, now_ns).is_none() {
                    self.error(ESR_ILLEGAL_REGISTER);
                }
                WriteEffect::default()
            }
        }
    }

    /// RDMSR of a local APIC MSR. `None`: the CPU raises #GP.
    pub fn msr_read(&mut self, index: u32, now_ns: u64) -> Option<u64> {
        if index == msr::TSC_DEADLINE {
            return Some(self.s.timer.read_deadline(self.timer_mode()));
        }
        if !self.x2apic() || !(msr::X2APIC_FIRST..=msr::X2APIC_LAST).contains(&index) {
            return None;
        }
        let off = (index - msr::X2APIC_FIRST) << 4;
        match index {
            msr::X2APIC_ICR => {
                let lo = self.s.icr_lo & !(1 << 12);
                Some((u64::from(self.s.icr_hi) << 32) | u64::from(lo))
            }
            // Not readable in x2APIC mode: APR, EOI, RRD, DFR, ICR high, SELF_IPI.
            0x809 | 0x80b | 0x80c | 0x80e | 0x831 | 0x83f => None,
            _ => self.read_reg(off, now_ns).map(u64::from),
        }
    }

    /// WRMSR of a local APIC MSR. `None`: the CPU raises #GP.
    pub(crate) fn msr_write(&mut self, index: u32, value: u64, now_ns: u64) -> Option<WriteEffect> {
        if index == msr::TSC_DEADLINE {
            self.advance(now_ns);
            let mode = self.timer_mode();
            self.s.timer.write_deadline(mode, value);
            return Some(WriteEffect::default());
        }
        if !self.x2apic() || !(msr::X2APIC_FIRST..=msr::X2APIC_LAST).contains(&index) {
            return None;
        }
        if index == msr::X2APIC_ICR {
            self.s.icr_hi = (value >> 32) as u32;
            self.s.icr_lo = (value as u32) & 0x000c_cfff;
            self.send_ipi();
            return Some(WriteEffect::default());
        }
        if value >> 32 != 0 {
            return None;
        }
        let v = value as u32;
        match index {
            msr::X2APIC_SELF_IPI => {
                if v >> 8 != 0 {
                    return None;
                }
                let vector = v as u8;
                if vector < 16 {
                    self.error(super::ESR_SEND_ILLEGAL_VECTOR | super::ESR_RECEIVE_ILLEGAL_VECTOR);
                } else {
                    self.accept_fixed(vector, false);
                }
                Some(WriteEffect::default())
            }
            // EOI and ESR take only zero.
            msr::X2APIC_EOI | 0x828 if v != 0 => None,
            // Read-only in x2APIC mode.
            0x802 | 0x803 | 0x80a | 0x80d | 0x810..=0x827 | 0x839 => None,
            _ => self.write_reg((index - msr::X2APIC_FIRST) << 4, v, now_ns),
        }
    }

    /// The timer mode's view, for tests.
    pub fn timer_mode_now(&self) -> TimerMode {
        self.timer_mode()
    }
}

fn size_mask(size: u8) -> u64 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    }
}
