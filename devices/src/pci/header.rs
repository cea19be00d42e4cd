//! The standard type-0 configuration header (offsets 0x00..0x40) the bus keeps for each
//! function: identity from [`PciIdentity`], the command register, the status register,
//! BAR programming with sizing, and the interrupt line.

use super::function::{BarKind, PciIdentity};
use serde::{Deserialize, Serialize};

/// Command register bits.
pub mod command {
    /// I/O space decode enable.
    pub const IO: u16 = 1 << 0;
    /// Memory space decode enable.
    pub const MEMORY: u16 = 1 << 1;
    /// Bus master enable.
    pub const BUS_MASTER: u16 = 1 << 2;
    /// Parity error response.
    pub const PARITY: u16 = 1 << 6;
    /// SERR# enable.
    pub const SERR: u16 = 1 << 8;
    /// Interrupt disable: the function's INTx is masked.
    pub const INTX_DISABLE: u16 = 1 << 10;
    /// The bits a write may change; the rest read 0.
    pub const WRITABLE: u16 = IO | MEMORY | BUS_MASTER | PARITY | SERR | INTX_DISABLE;
}

/// Status register bit 3: the function asserts INTx (before Interrupt Disable).
pub const STATUS_INTERRUPT: u16 = 1 << 3;

/// Header offsets.
pub mod reg {
    pub const VENDOR_DEVICE: u16 = 0x00;
    pub const COMMAND_STATUS: u16 = 0x04;
    pub const CLASS_REVISION: u16 = 0x08;
    /// Cache line size, latency timer, header type, BIST.
    pub const MISC: u16 = 0x0c;
    pub const BAR0: u16 = 0x10;
    pub const SUBSYSTEM: u16 = 0x2c;
    pub const INTERRUPT: u16 = 0x3c;
    /// The first device-specific register.
    pub const DEVICE_SPECIFIC: u16 = 0x40;
}

/// The guest-written part of a header (what snapshots keep).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderState {
    pub command: u16,
    /// The BAR registers as last written, already masked to what the BAR decodes.
    pub bars: [u32; 6],
    pub cache_line_size: u8,
    pub latency_timer: u8,
    pub interrupt_line: u8,
}

/// One function's header.
#[derive(Clone, Debug)]
pub struct Header {
    pub id: PciIdentity,
    pub kinds: [Option<BarKind>; 6],
    pub s: HeaderState,
}

impl Header {
    pub fn new(id: PciIdentity, kinds: [Option<BarKind>; 6]) -> Header {
        Header {
            id,
            kinds,
            s: HeaderState::default(),
        }
    }

    /// The value BAR `i` reads: its address bits and its type bits.
    pub fn bar_value(&self, i: usize) -> u32 {
        let raw = self.s.bars.get(i).copied().unwrap_or(0);
        match self.kinds.get(i).copied().flatten() {
            Some(BarKind::Io { .. }) => raw | 1,
            // Bits 2:1 = 00 (32-bit anywhere), bit 3 = 0 (not prefetchable).
            Some(BarKind::Mem32 { .. }) => raw,
            None => 0,
        }
    }

    /// A write of `value` to BAR `i`: only the address bits above the size stick, so
    /// writing all ones reads back the size mask.
    fn write_bar(&mut self, i: usize, value: u32) {
        let mask = match self.kinds.get(i).copied().flatten() {
            Some(BarKind::Io { size }) => !(size.max(4).wrapping_sub(1)) & !0x3,
            Some(BarKind::Mem32 { size }) => !(size.max(16).wrapping_sub(1)) & !0xf,
            None => 0,
        };
        if let Some(b) = self.s.bars.get_mut(i) {
            *b = value & mask;
        }
    }

    /// BAR `i`'s window if it is assigned and its decode is on: `(is_io, base, size)`.
    pub fn window(&self, i: usize) -> Option<(bool, u64, u64)> {
        let raw = u64::from(*self.s.bars.get(i)?);
        match self.kinds.get(i).copied().flatten()? {
            BarKind::Io { size } if self.s.command & command::IO != 0 && raw != 0 => {
                Some((true, raw, u64::from(size.max(4))))
            }
            BarKind::Mem32 { size } if self.s.command & command::MEMORY != 0 && raw != 0 => {
                Some((false, raw, u64::from(size.max(16))))
            }
            _ => None,
        }
    }

    /// The header dword at `reg` (0x00..0x40, dword aligned). `irq` is the function's
    /// INTx level now (for the status register).
    pub fn read_dword(&self, reg: u16, irq: bool) -> u32 {
        let id = &self.id;
        match reg {
            reg::VENDOR_DEVICE => u32::from(id.vendor_id) | u32::from(id.device_id) << 16,
            reg::COMMAND_STATUS => {
                let status = if irq { STATUS_INTERRUPT } else { 0 };
                u32::from(self.s.command) | u32::from(status) << 16
            }
            reg::CLASS_REVISION => u32::from(id.revision) | (id.class & 0xff_ffff) << 8,
            // Header type 0, single function; no BIST.
            reg::MISC => u32::from(self.s.cache_line_size) | u32::from(self.s.latency_timer) << 8,
            0x10..=0x24 => self.bar_value(usize::from((reg - reg::BAR0) / 4)),
            reg::SUBSYSTEM => u32::from(id.subsystem_vendor_id) | u32::from(id.subsystem_id) << 16,
            reg::INTERRUPT => u32::from(self.s.interrupt_line) | u32::from(id.interrupt_pin) << 8,
            // CardBus CIS, expansion ROM (none: sizing reads 0), capabilities pointer
            // (none; the status register's capabilities bit is clear), reserved.
            _ => 0,
        }
    }

    /// A dword write at `reg` (the bus merges narrower writes into what the register
    /// read first).
    pub fn write_dword(&mut self, reg: u16, value: u32) {
        match reg {
            // Status bits here are read-only (no write-1-to-clear errors are raised).
            reg::COMMAND_STATUS => self.s.command = value as u16 & command::WRITABLE,
            reg::MISC => {
                self.s.cache_line_size = value as u8;
                self.s.latency_timer = (value >> 8) as u8;
            }
            0x10..=0x24 => self.write_bar(usize::from((reg - reg::BAR0) / 4), value),
            reg::INTERRUPT => self.s.interrupt_line = value as u8,
            _ => {}
        }
    }
}
