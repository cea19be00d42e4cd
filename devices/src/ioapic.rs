//! The I/O APIC: 24 input pins, each with a 64-bit redirection entry, reached through
//! the index/data window (IOREGSEL at offset 0x00, IOWIN at 0x10) plus the version-0x20
//! EOI register at offset 0x40.
//!
//! Modelled: ID, version (0x20, 24 entries) and arbitration registers, the redirection
//! table, edge and level triggering with Remote IRR, EOI by broadcast from the local
//! APIC or through the EOI register, redelivery of a level interrupt still asserted
//! at EOI or unmasking. Messages go to the one local APIC (APIC ID 0): physical
//! destination 0 or 0xff, or a logical destination that matches its logical ID.
//! Not modelled: the polarity bit is stored but `level` arguments are taken as
//! "asserted" (as in QEMU), delivery status always reads idle, SMI and INIT messages
//! are dropped. The I/O APIC has no notion of time.

use serde::{Deserialize, Serialize};

pub const IOAPIC_PINS: usize = 24;
/// The version register's value: version 0x20, maximum redirection entry 23.
pub const IOAPIC_VERSION: u32 = 0x20 | ((IOAPIC_PINS as u32 - 1) << 16);

/// Register offsets inside the MMIO window.
pub mod reg {
    pub const IOREGSEL: u64 = 0x00;
    pub const IOWIN: u64 = 0x10;
    pub const EOI: u64 = 0x40;
}

/// Redirection entry bits.
pub mod rte {
    pub const VECTOR: u64 = 0xff;
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    pub const DEST_LOGICAL: u64 = 1 << 11;
    pub const DELIVERY_STATUS: u64 = 1 << 12;
    pub const POLARITY_LOW: u64 = 1 << 13;
    pub const REMOTE_IRR: u64 = 1 << 14;
    pub const LEVEL: u64 = 1 << 15;
    pub const MASKED: u64 = 1 << 16;
    pub const DEST_SHIFT: u32 = 56;
    /// Bits software can write.
    pub const WRITABLE: u64 = 0xff00_0000_0001_afff;
}

/// An interrupt message from the I/O APIC (or any other source) to the local APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApicMessage {
    pub vector: u8,
    /// Delivery mode (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT).
    pub delivery_mode: u8,
    pub logical: bool,
    pub dest: u8,
    pub level: bool,
}

/// Serializable I/O APIC state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoApicState {
    pub id: u8,
    pub ioregsel: u8,
    /// Asserted pins (bit n = pin n).
    pub lines: u32,
    pub redirection: Vec<u64>,
}

#[derive(Clone, Debug)]
pub struct IoApic {
    s: IoApicState,
}

impl Default for IoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl IoApic {
    /// Reset: every entry masked, edge, fixed, vector 0.
    pub fn new() -> Self {
        IoApic {
            s: IoApicState {
                id: 0,
                ioregsel: 0,
                lines: 0,
                redirection: vec![rte::MASKED; IOAPIC_PINS],
            },
        }
    }

    pub fn state(&self) -> IoApicState {
        self.s.clone()
    }

    /// Rebuilds from saved state; a table of the wrong length is cut or padded with
    /// masked entries.
    pub fn from_state(state: &IoApicState) -> Self {
        let mut s = state.clone();
        s.redirection.resize(IOAPIC_PINS, rte::MASKED);
        s.lines &= (1 << IOAPIC_PINS) - 1;
        IoApic { s }
    }

    fn entry(&self, pin: usize) -> u64 {
        self.s.redirection.get(pin).copied().unwrap_or(rte::MASKED)
    }

    fn set_entry(&mut self, pin: usize, v: u64) {
        if let Some(e) = self.s.redirection.get_mut(pin) {
            *e = v;
        }
    }

    fn message(e: u64) -> ApicMessage {
        ApicMessage {
            vector: (e & rte::VECTOR) as u8,
            delivery_mode: ((e >> rte::DELIVERY_MODE_SHIFT) & 7) as u8,
            logical: e & rte::DEST_LOGICAL != 0,
            dest: (e >> rte::DEST_SHIFT) as u8,
            level: e & rte::LEVEL != 0,
        }
    }

    /// Sends pin `pin`'s interrupt if its state calls for it.
    fn service(&mut self, pin: usize, out: &mut Vec<ApicMessage>) {
        let e = self.entry(pin);
        let asserted = self.s.lines & (1 << pin) != 0;
        if !asserted || e & rte::MASKED != 0 {
            return;
        }
        if e & rte::LEVEL != 0 {
            if e & rte::REMOTE_IRR != 0 {
                return;
            }
            let delivery_mode = (e >> rte::DELIVERY_MODE_SHIFT) & 7;
            // Remote IRR tracks fixed and lowest-priority level interrupts only.
            if delivery_mode <= 1 {
                self.set_entry(pin, e | rte::REMOTE_IRR);
            }
        }
        out.push(Self::message(e));
    }

    /// Drives pin `pin` (0..=23; others ignored). Messages to send are appended to
    /// `out`.
    pub fn set_pin(&mut self, pin: u8, level: bool, out: &mut Vec<ApicMessage>) {
        let pin = usize::from(pin);
        if pin >= IOAPIC_PINS {
            return;
        }
        let bit = 1u32 << pin;
        let was = self.s.lines & bit != 0;
        if level {
            self.s.lines |= bit;
        } else {
            self.s.lines &= !bit;
        }
        let e = self.entry(pin);
        if e & rte::LEVEL != 0 || (level && !was) {
            self.service(pin, out);
        }
    }

    /// End of interrupt for `vector` (broadcast by the local APIC or written to the
    /// EOI register): clears Remote IRR of level entries with that vector and
    /// redelivers those whose pin is still asserted.
    pub fn eoi(&mut self, vector: u8, out: &mut Vec<ApicMessage>) {
        for pin in 0..IOAPIC_PINS {
            let e = self.entry(pin);
            if e & rte::REMOTE_IRR != 0 && (e & rte::VECTOR) as u8 == vector {
                self.set_entry(pin, e & !rte::REMOTE_IRR);
                self.service(pin, out);
            }
        }
    }

    /// A 32-bit read of the window (smaller reads see the low bytes; other offsets
    /// read 0).
    pub fn mmio_read(&mut self, offset: u64) -> u32 {
        match offset {
            reg::IOREGSEL => u32::from(self.s.ioregsel),
            reg::IOWIN => self.read_register(self.s.ioregsel),
            _ => 0,
        }
    }

    fn read_register(&self, index: u8) -> u32 {
        match index {
            0x00 => u32::from(self.s.id & 0x0f) << 24,
            0x01 => IOAPIC_VERSION,
            0x02 => u32::from(self.s.id & 0x0f) << 24,
            0x10..=0x3f => {
                let e = self.entry(usize::from((index - 0x10) / 2));
                if index & 1 == 0 {
                    e as u32
                } else {
                    (e >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    pub fn mmio_write(&mut self, offset: u64, value: u32, out: &mut Vec<ApicMessage>) {
        match offset {
            reg::IOREGSEL => self.s.ioregsel = value as u8,
            reg::IOWIN => self.write_register(self.s.ioregsel, value, out),
            reg::EOI => self.eoi(value as u8, out),
            _ => {}
        }
    }

    fn write_register(&mut self, index: u8, value: u32, out: &mut Vec<ApicMessage>) {
        match index {
            0x00 => self.s.id = ((value >> 24) & 0x0f) as u8,
            0x10..=0x3f => {
                let pin = usize::from((index - 0x10) / 2);
                let old = self.entry(pin);
                let new_part = if index & 1 == 0 {
                    (old & !0xffff_ffff) | u64::from(value)
                } else {
                    (old & 0xffff_ffff) | (u64::from(value) << 32)
                };
                let new = (new_part & rte::WRITABLE) | (old & !rte::WRITABLE);
                // An entry switched to edge has no Remote IRR.
                let new = if new & rte::LEVEL == 0 {
                    new & !rte::REMOTE_IRR
                } else {
                    new
                };
                self.set_entry(pin, new);
                // Unmasking a pin that is asserted (level) delivers it.
                if new & rte::LEVEL != 0 {
                    self.service(pin, out);
                }
            }
            _ => {}
        }
    }

    /// Redirection entry `pin` (for tests and the machine's debug output).
    pub fn redirection(&self, pin: u8) -> u64 {
        self.entry(usize::from(pin))
    }
}
