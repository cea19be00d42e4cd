//! The chipset functions that make bus 0 look like a PC's: the Intel 440FX host bridge
//! (00:00.0) and the PIIX3 PCI-to-ISA bridge (00:01.0) with its PIRQ route control
//! registers. Neither has BARs or an interrupt.

use super::function::{PciFunction, PciIdentity};

/// The 440FX's device-specific registers (0x40..0x100) as plain storage: firmware
/// tables (PAM, SMRAM, DRAM rows) are not emulated, but what the guest writes reads back.
const HOST_REGS: usize = 0xc0;

/// Intel 82441FX PMC (440FX host bridge), 8086:1237.
#[derive(Clone, Debug)]
pub struct HostBridge {
    regs: [u8; HOST_REGS],
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl HostBridge {
    pub fn new() -> Self {
        HostBridge {
            regs: [0; HOST_REGS],
        }
    }
}

/// Subsystem IDs of the chipset functions (as QEMU's PC machine reports them).
const SUBSYSTEM_VENDOR: u16 = 0x1af4;
const SUBSYSTEM: u16 = 0x1100;

/// The offset of `off` inside the 0x40..0x100 storage, when `len` bytes fit.
fn slot(off: u16, len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::from(off).checked_sub(0x40)?;
    let end = start.checked_add(len)?;
    (end <= HOST_REGS).then_some(start..end)
}

impl PciFunction for HostBridge {
    fn identity(&self) -> PciIdentity {
        PciIdentity {
            vendor_id: 0x8086,
            device_id: 0x1237,
            revision: 0x02,
            class: 0x06_00_00,
            subsystem_vendor_id: SUBSYSTEM_VENDOR,
            subsystem_id: SUBSYSTEM,
            interrupt_pin: 0,
        }
    }

    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        match slot(offset, data.len()).and_then(|r| self.regs.get(r)) {
            Some(src) => data.copy_from_slice(src),
            None => data.fill(0),
        }
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        if let Some(dst) = slot(offset, data.len()).and_then(|r| self.regs.get_mut(r)) {
            dst.copy_from_slice(data);
        }
    }

    fn reset(&mut self) {
        self.regs = [0; HOST_REGS];
    }

    fn save_state(&self) -> Vec<u8> {
        self.regs.to_vec()
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.regs = bytes.try_into().map_err(|_| {
            format!(
                "440FX host bridge state is {} bytes, expected {HOST_REGS}",
                bytes.len()
            )
        })?;
        Ok(())
    }
}

/// The PIIX3's PIRQ route control registers (PIRQRC[A:D]).
pub const PIRQ_ROUTE_REG: u16 = 0x60;
/// A route register with this bit set routes its PIRQ nowhere (the reset value).
pub const PIRQ_DISABLE: u8 = 0x80;

/// Intel 82371SB PIIX3 PCI-to-ISA bridge, 8086:7000 (function 0 only: the IDE and USB
/// functions are not emulated).
#[derive(Clone, Debug)]
pub struct Piix3 {
    /// PIRQRC[A:D] at 0x60..0x63: bits 3:0 the ISA IRQ, bit 7 disables the route.
    pirq_route: [u8; 4],
}

impl Default for Piix3 {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix3 {
    pub fn new() -> Self {
        Piix3 {
            pirq_route: [PIRQ_DISABLE; 4],
        }
    }

    /// The ISA IRQ each PIRQ (A..D) drives: `None` when disabled or when it names an
    /// IRQ the PIIX3 reserves (0, 1, 2, 8, 13).
    pub fn routes(regs: [u8; 4]) -> [Option<u8>; 4] {
        regs.map(|r| {
            let irq = r & 0x0f;
            (r & PIRQ_DISABLE == 0 && !matches!(irq, 0 | 1 | 2 | 8 | 13)).then_some(irq)
        })
    }
}

impl PciFunction for Piix3 {
    fn identity(&self) -> PciIdentity {
        PciIdentity {
            vendor_id: 0x8086,
            device_id: 0x7000,
            revision: 0,
            class: 0x06_01_00,
            subsystem_vendor_id: SUBSYSTEM_VENDOR,
            subsystem_id: SUBSYSTEM,
            interrupt_pin: 0,
        }
    }

    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        for (k, b) in data.iter_mut().enumerate() {
            let r = usize::from(offset).wrapping_add(k).wrapping_sub(0x60);
            // Bits 6:4 are reserved and read 0.
            *b = self.pirq_route.get(r).map_or(0, |v| v & 0x8f);
        }
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        for (k, &b) in data.iter().enumerate() {
            let r = usize::from(offset).wrapping_add(k).wrapping_sub(0x60);
            if let Some(v) = self.pirq_route.get_mut(r) {
                *v = b & 0x8f;
            }
        }
    }

    fn reset(&mut self) {
        *self = Piix3::new();
    }

    fn save_state(&self) -> Vec<u8> {
        self.pirq_route.to_vec()
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.pirq_route = bytes.try_into().map_err(|_| {
            format!(
                "PIIX3 state is {} bytes, expected 4 (the PIRQ route registers)",
                bytes.len()
            )
        })?;
        Ok(())
    }
}
