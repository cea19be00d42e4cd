//! PCI on the board: the bus (440FX + PIIX3 and whatever the machine adds with
//! [`Pci::add_function`]), set up as firmware would ([`firmware`]), reached through the
//! configuration ports and the BAR windows, with PIRQ A-D wired to I/O APIC pins 20-23
//! and to the 8259 inputs the PIIX3's route registers name.
//!
//! Functions get a [`FunctionHost`] for their outside-world answers from
//! [`Board::with_pci`]: the recorded host of src/machine/audio.rs (every answer passes
//! the record/replay mode; a machine without a sound card never asks it).

use super::board::Board;
use crate::layout;
use reprise_devices::pci::{FirmwareConfig, FunctionHost, Pci};
use reprise_devices::PicPort;
use reprise_jit::BusAction;

/// The bus of a PC: host bridge in slot 0, ISA bridge in slot 1. The machine builder
/// adds its functions, then runs [`firmware`].
pub fn chipset() -> Pci {
    Pci::pc()
}

/// Assigns BARs from the layout's PCI windows, enables decode, routes PIRQ A-D to
/// `layout::PCI_PIRQ_IRQ` and writes interrupt lines. Memory BARs need RAM to end
/// below the PCI memory window.
pub fn firmware(pci: &mut Pci, memory_mib: u64) -> Result<(), String> {
    pci.firmware_setup(&FirmwareConfig {
        io_start: u32::from(layout::PCI_IO_BASE),
        io_end: layout::PCI_IO_END,
        mem_start: layout::PCI_MEM_BASE as u32,
        mem_end: layout::PCI_MEM_END as u32,
        pirq_irqs: layout::PCI_PIRQ_IRQ,
    })?;
    let has_mem = (0..32u8).any(|s| {
        pci.header(s)
            .is_some_and(|h| h.bars.iter().any(|&b| u64::from(b) >= layout::PCI_MEM_BASE))
    });
    if has_mem {
        layout::check_ram_below(memory_mib, layout::PCI_MEM_BASE)?;
    }
    Ok(())
}

/// The board's PCI state besides the bus: which 8259 inputs PIRQ A-D were last routed
/// to (so a re-route lowers the input it leaves).
#[derive(Debug, Default)]
pub struct PciWiring {
    routes: [Option<u8>; 4],
}

impl Board {
    /// At build: the 8259 inputs PCI interrupts are routed to become level-triggered
    /// (ELCR, as firmware sets it) and the lines take the functions' levels.
    pub(super) fn pci_init(&mut self) {
        let mut elcr = self.intc.pic_read(PicPort::ElcrSlave);
        for irq in self.pci.pirq_routes().into_iter().flatten() {
            if irq >= 8 {
                elcr |= 1 << (irq - 8);
            }
        }
        self.intc.pic_write(PicPort::ElcrSlave, elcr);
        self.pci_restored();
    }

    /// After a restore: the wiring follows the restored route registers and levels.
    pub(super) fn pci_restored(&mut self) {
        self.pci_wiring.routes = self.pci.pirq_routes();
        self.update_pci_irqs(self.ns(0));
    }

    /// Runs `f` on the bus with the host its functions answer through.
    pub(super) fn with_pci<R>(
        &mut self,
        icount: u64,
        f: impl FnOnce(&mut Pci, &mut dyn FunctionHost) -> R,
    ) -> R {
        let mut host = super::audio::RecordedHost {
            mode: self.mode.as_mut(),
            audio: &mut self.audio,
            error: &mut self.error,
            icount,
        };
        let r = f(&mut self.pci, &mut host);
        // DMA wrote guest memory: translated code there is dropped before the CPU
        // runs on (`after_write` stops the CPU while pages are pending).
        self.virtio.dirty_pages.extend(self.pci.take_dirty_pages());
        r
    }

    /// A port read the PCI bus answers: the configuration ports, or an I/O BAR at a
    /// port no fixed device has.
    pub(super) fn pci_port_in(&mut self, port: u16, size: u8, icount: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        let data = b.get_mut(..usize::from(size.clamp(1, 4)))?;
        match layout::port_device(port) {
            Some((layout::PortDevice::PciConfig, off)) => self.pci.port_read(off, data),
            Some(_) => return None,
            None => {
                let now = self.ns(icount);
                let hit = self.with_pci(icount, |p, h| p.io_read(port, data, now, h));
                if !hit {
                    return None;
                }
                self.update_pci_irqs(now);
            }
        }
        Some(u32::from_le_bytes(b))
    }

    /// A port write the PCI bus takes (see [`Board::pci_port_in`]).
    pub(super) fn pci_port_out(
        &mut self,
        port: u16,
        size: u8,
        value: u32,
        icount: u64,
    ) -> Option<BusAction> {
        let b = value.to_le_bytes();
        let data = b.get(..usize::from(size.clamp(1, 4)))?;
        let now = self.ns(icount);
        match layout::port_device(port) {
            Some((layout::PortDevice::PciConfig, off)) => {
                self.pci.port_write(off, data);
                if self.pci.take_reset_request() {
                    self.reset_requested = true;
                    return Some(BusAction::Stop);
                }
            }
            Some(_) => return None,
            None => {
                if !self.with_pci(icount, |p, h| p.io_write(port, data, now, h)) {
                    return None;
                }
            }
        }
        self.update_pci_irqs(now);
        Some(self.after_write())
    }

    /// A memory read in a PCI memory BAR.
    pub(super) fn pci_mmio_read(&mut self, addr: u64, size: u8, icount: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        let data = b.get_mut(..usize::from(size.clamp(1, 8)))?;
        let now = self.ns(icount);
        if !self.with_pci(icount, |p, h| p.mmio_read(addr, data, now, h)) {
            return None;
        }
        self.update_pci_irqs(now);
        Some(u64::from_le_bytes(b))
    }

    /// A memory write in a PCI memory BAR.
    pub(super) fn pci_mmio_write(
        &mut self,
        addr: u64,
        size: u8,
        value: u64,
        icount: u64,
    ) -> Option<BusAction> {
        let b = value.to_le_bytes();
        let data = b.get(..usize::from(size.clamp(1, 8)))?;
        let now = self.ns(icount);
        if !self.with_pci(icount, |p, h| p.mmio_write(addr, data, now, h)) {
            return None;
        }
        self.update_pci_irqs(now);
        Some(self.after_write())
    }

    /// Runs the functions whose deadline is due at `now_ns`.
    pub(super) fn pci_advance(&mut self, now_ns: u64) {
        if self.pci.next_deadline().is_some_and(|d| d <= now_ns) {
            let icount = self.icount_at(now_ns);
            self.with_pci(icount, |p, h| p.advance(now_ns, h));
            self.update_pci_irqs(now_ns);
        }
    }

    /// Drives I/O APIC pins 20-23 with PIRQ A-D and the 8259 inputs the route
    /// registers name with the OR of the PIRQs routed to each; an input a PIRQ was
    /// routed away from is lowered.
    pub(super) fn update_pci_irqs(&mut self, now_ns: u64) {
        let levels = self.pci.pirq_levels();
        let routes = self.pci.pirq_routes();
        for (gsi, &l) in layout::PCI_PIRQ_GSI.iter().zip(&levels) {
            self.intc.set_irq(*gsi, l, now_ns);
        }
        let old = std::mem::replace(&mut self.pci_wiring.routes, routes);
        for irq in old.iter().chain(&routes).flatten() {
            let level = routes
                .iter()
                .zip(&levels)
                .any(|(r, &l)| l && *r == Some(*irq));
            self.intc.set_pic_irq(*irq, level);
        }
    }
}
