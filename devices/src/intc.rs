//! The interrupt hub: the 8259 pair, the I/O APIC and the local APIC of the one CPU,
//! wired as on a PC.
//!
//! ISA IRQ `n` drives PIC input `n` and I/O APIC pin `n`, except IRQ 0 (the PIT), which
//! goes to I/O APIC pin 2 (the interrupt-source override of the MP table and ACPI MADT),
//! and IRQ 2, the PIC cascade, which no device drives. GSIs 16-23 reach only the I/O
//! APIC. The PIC's INTR reaches the CPU through the local APIC's LINT0 when that entry
//! is an unmasked ExtINT (virtual-wire mode, the reset state) or when the local APIC is
//! globally disabled; an I/O APIC entry in ExtINT mode forwards it as well.
//!
//! Time: only the local APIC timer needs it; [`Intc::next_deadline`] says when it
//! next expires and [`Intc::advance`] fires what is due.

use crate::ioapic::{ApicMessage, IoApic, IoApicState};
use crate::lapic::{msr, Lapic, LapicState};
use crate::pic::{Pic, PicPort, PicState};
use crate::pit::PitIrq;
use serde::{Deserialize, Serialize};

/// Serializable state of the hub and everything in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntcState {
    pub pic: PicState,
    pub ioapic: IoApicState,
    pub lapic: LapicState,
    /// An I/O APIC ExtINT message is waiting for its acknowledge at the 8259.
    pub extint_pending: bool,
}

/// The PC's interrupt controllers.
#[derive(Clone, Debug)]
pub struct Intc {
    pic: Pic,
    ioapic: IoApic,
    lapic: Lapic,
    extint_pending: bool,
}

impl Default for Intc {
    fn default() -> Self {
        Self::new()
    }
}

impl Intc {
    /// The state after reset (see [`crate::lapic`] for the local APIC's).
    pub fn new() -> Self {
        Intc {
            pic: Pic::new(),
            ioapic: IoApic::new(),
            lapic: Lapic::new(),
            extint_pending: false,
        }
    }

    pub fn state(&self) -> IntcState {
        IntcState {
            pic: self.pic.state(),
            ioapic: self.ioapic.state(),
            lapic: self.lapic.state(),
            extint_pending: self.extint_pending,
        }
    }

    pub fn from_state(state: &IntcState) -> Self {
        Intc {
            pic: Pic::from_state(&state.pic),
            ioapic: IoApic::from_state(&state.ioapic),
            lapic: Lapic::from_state(&state.lapic),
            extint_pending: state.extint_pending,
        }
    }

    pub fn pic(&self) -> &Pic {
        &self.pic
    }

    pub fn ioapic(&self) -> &IoApic {
        &self.ioapic
    }

    pub fn lapic(&self) -> &Lapic {
        &self.lapic
    }

    fn route(&mut self, messages: Vec<ApicMessage>) {
        for m in messages {
            if self.lapic.deliver(
                m.vector,
                m.delivery_mode,
                m.logical,
                u32::from(m.dest),
                m.level,
            ) {
                self.extint_pending = true;
            }
        }
    }

    /// Drives ISA IRQ line or GSI `irq` to `level` (true = asserted). Lines 0-15 are ISA
    /// IRQs (PIC and I/O APIC), 16-23 I/O APIC pins only; others are ignored.
    pub fn set_irq(&mut self, irq: u8, level: bool, _now_ns: u64) {
        if irq < 16 {
            self.pic.set_irq(irq, level);
        }
        let pin = match irq {
            0 => 2,
            2 => return,
            n => n,
        };
        let mut out = Vec::new();
        self.ioapic.set_pin(pin, level, &mut out);
        self.route(out);
    }

    /// Drives 8259 input `irq` (0-15) alone, without the same-numbered I/O APIC pin:
    /// a PCI interrupt routed to an ISA IRQ by the PIIX3 (its I/O APIC pin is one of
    /// 16-23, driven with [`Intc::set_irq`]).
    pub fn set_pic_irq(&mut self, irq: u8, level: bool) {
        if irq < 16 {
            self.pic.set_irq(irq, level);
        }
    }

    /// Drives I/O APIC pin `pin` alone, without any 8259 input.
    pub fn set_ioapic_pin(&mut self, pin: u8, level: bool) {
        let mut out = Vec::new();
        self.ioapic.set_pin(pin, level, &mut out);
        self.route(out);
    }

    /// A low-high pulse on an edge-triggered line (what a device that signals an
    /// event, like the PIT's OUT0 in rate-generator mode, does between two looks).
    pub fn pulse_irq(&mut self, irq: u8, now_ns: u64) {
        self.set_irq(irq, false, now_ns);
        self.set_irq(irq, true, now_ns);
    }

    /// Applies what [`crate::Pit::advance`] reported to IRQ 0: one low-high pulse if
    /// OUT0 rose at least once (edge-triggered inputs latch one request for any number
    /// of edges), then OUT0's current level.
    pub fn pit_output(&mut self, irq: PitIrq, now_ns: u64) {
        if irq.edges > 0 {
            self.pulse_irq(0, now_ns);
        }
        self.set_irq(0, irq.out, now_ns);
    }

    fn pic_reaches_cpu(&self) -> bool {
        self.pic.int_output() && (self.lapic.passes_pic_intr() || self.extint_pending)
    }

    /// Is INTR asserted towards the CPU?
    pub fn intr_pending(&self) -> bool {
        self.lapic.deliverable().is_some() || self.pic_reaches_cpu()
    }

    /// The interrupt-acknowledge cycle: the local APIC's best fixed interrupt if it
    /// beats the processor priority, else the 8259's vector (which may be its
    /// spurious IRQ 7 / IRQ 15 vector). `None`: nothing is requested.
    pub fn acknowledge(&mut self, _now_ns: u64) -> Option<u8> {
        if let Some(v) = self.lapic.acknowledge() {
            return Some(v);
        }
        if self.pic_reaches_cpu() {
            self.extint_pending = false;
            return Some(self.pic.acknowledge());
        }
        None
    }

    /// Takes a pending NMI (LINT1, an NMI IPI or an I/O APIC NMI entry).
    pub fn take_nmi(&mut self) -> bool {
        self.lapic.take_nmi()
    }

    /// An edge on the board's NMI line, which PCs wire to LINT1.
    pub fn nmi_line_edge(&mut self) {
        if self.lapic.hw_enabled() {
            self.lapic.lint1_edge();
        } else {
            self.lapic.raise_nmi();
        }
    }

    pub fn lapic_mmio_read(&mut self, offset: u64, size: u8, now_ns: u64) -> u64 {
        self.lapic.mmio_read(offset, size, now_ns)
    }

    pub fn lapic_mmio_write(&mut self, offset: u64, size: u8, value: u64, now_ns: u64) {
        let e = self.lapic.mmio_write(offset, size, value, now_ns);
        if let Some(v) = e.eoi_broadcast {
            self.broadcast_eoi(v);
        }
    }

    fn broadcast_eoi(&mut self, vector: u8) {
        let mut out = Vec::new();
        self.ioapic.eoi(vector, &mut out);
        self.route(out);
    }

    /// A read in the I/O APIC window. Registers are 32 bits wide; a narrower read sees
    /// the low bytes of the register at its offset, a read at an offset not on a
    /// register's start reads 0.
    pub fn ioapic_mmio_read(&mut self, offset: u64, size: u8, _now_ns: u64) -> u64 {
        let v = u64::from(self.ioapic.mmio_read(offset));
        match size {
            1 => v & 0xff,
            2 => v & 0xffff,
            _ => v,
        }
    }

    pub fn ioapic_mmio_write(&mut self, offset: u64, _size: u8, value: u64, _now_ns: u64) {
        let mut out = Vec::new();
        self.ioapic.mmio_write(offset, value as u32, &mut out);
        self.route(out);
    }

    /// A read of one of the PIC pair's ports.
    pub fn pic_read(&mut self, port: PicPort) -> u8 {
        self.pic.read(port)
    }

    pub fn pic_write(&mut self, port: PicPort, value: u8) {
        self.pic.write(port, value);
    }

    /// RDMSR of IA32_TSC_DEADLINE or an x2APIC register. `None`: #GP.
    pub fn msr_read(&mut self, index: u32, now_ns: u64) -> Option<u64> {
        if index == msr::APIC_BASE {
            return Some(self.lapic.apic_base());
        }
        self.lapic.msr_read(index, now_ns)
    }

    /// WRMSR of IA32_TSC_DEADLINE or an x2APIC register. `None`: #GP. (IA32_APIC_BASE
    /// goes to [`Intc::apic_base_written`].)
    pub fn msr_write(&mut self, index: u32, value: u64, now_ns: u64) -> Option<()> {
        if index == msr::APIC_BASE {
            self.apic_base_written(value);
            return Some(());
        }
        let e = self.lapic.msr_write(index, value, now_ns)?;
        if let Some(v) = e.eoi_broadcast {
            self.broadcast_eoi(v);
        }
        Some(())
    }

    /// The CPU stored a new IA32_APIC_BASE.
    pub fn apic_base_written(&mut self, value: u64) {
        self.lapic.apic_base_written(value);
    }

    /// CR8 reads TPR bits 7-4.
    pub fn cr8(&self) -> u64 {
        self.lapic.cr8()
    }

    /// A MOV to CR8 sets TPR bits 7-4 (bits 3-0 clear).
    pub fn set_cr8(&mut self, value: u64) {
        self.lapic.set_cr8(value);
    }

    /// When the local APIC timer next expires (virtual ns).
    pub fn next_deadline(&self) -> Option<u64> {
        self.lapic.next_deadline()
    }

    /// Fires the local APIC timer for everything due by `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        self.lapic.advance(now_ns);
    }
}
