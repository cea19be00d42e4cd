//! What a PC BIOS does to bus 0 before the OS runs: BAR assignment, decode enable,
//! PIRQ routing and interrupt lines.

use super::header::{command, reg};
use super::{pirq_of, BarKind, Pci, ISA_BRIDGE_SLOT, PIRQ_ROUTE_REG};

/// The windows and IRQs firmware hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareConfig {
    /// I/O BARs are placed from here up to (not including) `io_end`.
    pub io_start: u32,
    pub io_end: u32,
    /// 32-bit memory BARs are placed from here up to (not including) `mem_end`.
    pub mem_start: u32,
    pub mem_end: u32,
    /// The ISA IRQ each of PIRQ A-D is routed to.
    pub pirq_irqs: [u8; 4],
}

/// Rounds `at` up to a multiple of `align` (a power of two); `None` on overflow.
fn align_up(at: u32, align: u32) -> Option<u32> {
    let m = align.checked_sub(1)?;
    Some(at.checked_add(m)? & !m)
}

impl Pci {
    /// Assigns every BAR (naturally aligned, slot by slot, BAR by BAR) from the
    /// windows in `cfg`, enables I/O and memory decode on every function (bus
    /// mastering stays off: that is the driver's), routes PIRQ A-D and writes each
    /// function's interrupt line. Errors when the BARs do not fit the windows.
    pub fn firmware_setup(&mut self, cfg: &FirmwareConfig) -> Result<(), String> {
        let mut io = cfg.io_start;
        let mut mem = cfg.mem_start;
        for slot in 0..super::SLOTS as u8 {
            let Some(s) = self.slots.get(usize::from(slot)).and_then(|s| s.as_ref()) else {
                continue;
            };
            let kinds = s.h.kinds;
            let pin = s.h.id.interrupt_pin;
            for (i, k) in kinds.iter().enumerate() {
                let (next, end, size) = match *k {
                    Some(BarKind::Io { size }) => (&mut io, cfg.io_end, size),
                    Some(BarKind::Mem32 { size }) => (&mut mem, cfg.mem_end, size),
                    None => continue,
                };
                let base = align_up(*next, size)
                    .filter(|b| b.checked_add(size).is_some_and(|e| e <= end))
                    .ok_or_else(|| {
                        format!(
                            "PCI slot {slot} BAR{i} ({k:?}) does not fit the firmware's window ending at {end:#x}"
                        )
                    })?;
                *next = base + size;
                self.config_write32(slot, reg::BAR0 + 4 * i as u16, base);
            }
            let cmd = self.config_read32(slot, reg::COMMAND_STATUS) as u16;
            self.config_write32(
                slot,
                reg::COMMAND_STATUS,
                u32::from(cmd | command::IO | command::MEMORY),
            );
            if let Some(p) = pirq_of(slot, pin) {
                let irq = cfg.pirq_irqs.get(p).copied().unwrap_or(0);
                let v = self.config_read32(slot, reg::INTERRUPT);
                self.config_write32(slot, reg::INTERRUPT, (v & !0xff) | u32::from(irq));
            }
        }
        self.config_write(ISA_BRIDGE_SLOT, PIRQ_ROUTE_REG, &cfg.pirq_irqs);
        Ok(())
    }
}
