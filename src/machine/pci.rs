//! PCI on the board: the bus (440FX + PIIX3 and whatever the machine adds with
//! [`Pci::add_function`]), set up as firmware would ([`firmware`]), reached through the
//! configuration ports and the BAR windows, with PIRQ A-D wired to I/O APIC pins 20-23
//! and to the 8259 inputs the PIIX3's route registers name.
//!
//! Functions get a [`FunctionHost`] for their outside-world answers from
//! [`Board::with_pci`]: the recorded host of src/machine/audio.rs (every answer passes
//! the record/replay mode; a machine without a sound card never asks it). The host
//! borrows `self.mode` next to `self.pci` and leaves a failure in `self.error`: a BAR
//! write then stops the CPU.

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
        f(&mut self.pci, &mut host)
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
                self.after_pci_access(now);
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
                if self.after_pci_access(now) {
                    return Some(BusAction::Stop);
                }
                return Some(self.after_write());
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
        self.after_pci_access(now);
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
        if self.after_pci_access(now) {
            return Some(BusAction::Stop);
        }
        Some(self.after_write())
    }

    /// Runs the functions whose deadline is due at `now_ns`.
    pub(super) fn pci_advance(&mut self, now_ns: u64) {
        if self.pci.next_deadline().is_some_and(|d| d <= now_ns) {
            let icount = self.icount_at(now_ns);
            self.with_pci(icount, |p, h| p.advance(now_ns, h));
            self.after_pci_access(now_ns);
        }
    }

    /// After a function ran: its interrupt lines, and the pages its DMA wrote join the
    /// virtio devices' (the machine drops translated code on them before the CPU runs
    /// on). Returns whether the CPU must stop after a write: pages were written, or
    /// the host failed (a record/replay error the host left in `self.error`).
    fn after_pci_access(&mut self, now_ns: u64) -> bool {
        self.update_pci_irqs(now_ns);
        let pages = self.pci.take_dirty_pages();
        let dirty = !pages.is_empty();
        self.virtio.dirty_pages.extend(pages);
        dirty || self.error.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::virtio::Virtio;
    use reprise_devices::pci::{BarKind, PciFunction, PciIdentity};
    use reprise_devices::Rtc;
    use reprise_jit::Bus;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Shared {
        irq: bool,
        accesses: Vec<(usize, u64, usize)>,
        deadline: Option<u64>,
        advanced: Vec<u64>,
        reg: u8,
        dirty: Vec<u64>,
    }

    /// INTA, an I/O BAR of 16 bytes and a memory BAR of 4 KiB that read back
    /// `offset + k`.
    struct F(Arc<Mutex<Shared>>);

    impl PciFunction for F {
        fn identity(&self) -> PciIdentity {
            PciIdentity {
                vendor_id: 0x1234,
                device_id: 0x0001,
                revision: 0,
                class: 0x04_01_00,
                subsystem_vendor_id: 0,
                subsystem_id: 0,
                interrupt_pin: 1,
            }
        }
        fn bars(&self) -> [Option<BarKind>; 6] {
            [
                Some(BarKind::Io { size: 16 }),
                Some(BarKind::Mem32 { size: 4096 }),
                None,
                None,
                None,
                None,
            ]
        }
        fn bar_read(
            &mut self,
            bar: usize,
            off: u64,
            d: &mut [u8],
            _: u64,
            _: &mut dyn FunctionHost,
        ) {
            for (k, b) in d.iter_mut().enumerate() {
                *b = (off as u8).wrapping_add(k as u8);
            }
            self.0.lock().unwrap().accesses.push((bar, off, d.len()));
        }
        fn bar_write(&mut self, bar: usize, off: u64, d: &[u8], _: u64, _: &mut dyn FunctionHost) {
            let mut s = self.0.lock().unwrap();
            s.accesses.push((bar, off, d.len()));
            // Writing 1 to offset 0 raises the interrupt, 0 lowers it.
            if off == 0 {
                s.irq = d.first() == Some(&1);
            }
            // Writing to offset 4 "DMAs" into the page it names.
            if off == 4 {
                s.dirty
                    .push(u64::from(d.first().copied().unwrap_or(0)) << 12);
            }
        }
        fn irq_level(&self) -> bool {
            self.0.lock().unwrap().irq
        }
        fn next_deadline(&self) -> Option<u64> {
            self.0.lock().unwrap().deadline
        }
        fn advance(&mut self, now_ns: u64, _: &mut dyn FunctionHost) {
            let mut s = self.0.lock().unwrap();
            s.advanced.push(now_ns);
            s.deadline = None;
            s.irq = true;
        }
        fn take_dirty_pages(&mut self) -> Vec<u64> {
            std::mem::take(&mut self.0.lock().unwrap().dirty)
        }
        fn reset(&mut self) {}
        fn save_state(&self) -> Vec<u8> {
            vec![self.0.lock().unwrap().reg]
        }
        fn restore_state(&mut self, b: &[u8]) -> Result<(), String> {
            self.0.lock().unwrap().reg = *b.first().ok_or("empty")?;
            Ok(())
        }
    }

    /// A board whose bus holds `F` in slot 3 (INTA -> PIRQD -> GSI 23, IRQ 11).
    fn board() -> (Board, Arc<Mutex<Shared>>) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut pci = chipset();
        pci.add_function(3, Box::new(F(shared.clone()))).unwrap();
        firmware(&mut pci, 32).unwrap();
        let b = Board::new(
            Box::new(std::io::sink()),
            Rtc::new(0, 0),
            Box::new(reprise_replay::PassThrough),
            Virtio::default(),
            pci,
        );
        (b, shared)
    }

    fn cfg_write(b: &mut Board, slot: u32, reg: u32, size: u8, v: u32) {
        b.port_out(0xcf8, 4, 0x8000_0000 | slot << 11 | (reg & 0xfc), 0);
        b.port_out(0xcfc + (reg & 3) as u16, size, v, 0);
    }

    fn gsi(b: &Board, pin: u32) -> bool {
        b.intc.ioapic().state().lines & (1 << pin) != 0
    }

    fn pic_line(b: &Board, irq: u8) -> bool {
        let s = b.intc.pic().state();
        let (chip, bit) = if irq < 8 {
            (s.master, irq)
        } else {
            (s.slave, irq - 8)
        };
        chip.lines & (1 << bit) != 0
    }

    #[test]
    fn bars_decode_through_the_board_at_full_width() {
        let (mut b, shared) = board();
        assert_eq!(b.pci.header(3).unwrap().bars[..2], [0xc000, 0xe000_0000]);
        assert_eq!(b.port_in(0xc004, 4, 0), 0x0706_0504);
        assert_eq!(b.port_in(0xc00e, 2, 0), 0x0f0e);
        assert_eq!(b.mmio_read(0xe000_0010, 8, 0), 0x1716_1514_1312_1110);
        // Past the window: nothing there.
        assert_eq!(b.port_in(0xc010, 1, 0), 0xff);
        assert_eq!(b.mmio_read(0xe000_1000, 4, 0), 0xffff_ffff);
        // One access each, not split into bytes.
        assert_eq!(
            shared.lock().unwrap().accesses,
            vec![(0, 4, 4), (0, 14, 2), (1, 16, 8)]
        );
        // Fixed devices keep their ports even if a BAR claims them.
        cfg_write(&mut b, 3, 0x10, 4, 0x3f8);
        b.port_in(0x3f8, 1, 0);
        assert_eq!(shared.lock().unwrap().accesses.len(), 3);
        // Configuration reads through the ports at any width.
        b.port_out(0xcf8, 4, 0x8000_1800, 0);
        assert_eq!(b.port_in(0xcfc, 4, 0), 0x0001_1234);
        assert_eq!(b.port_in(0xcfe, 2, 0), 0x0001);
        assert_eq!(b.port_in(0xcf8, 4, 0), 0x8000_1800);
    }

    #[test]
    fn intx_drives_ioapic_pin_and_the_routed_pic_input() {
        let (mut b, shared) = board();
        // Firmware made IRQ 10 and 11 level-triggered.
        assert_eq!(b.intc.pic_read(PicPort::ElcrSlave) & 0x0c, 0x0c);
        assert!(!gsi(&b, 23) && !pic_line(&b, 11));
        b.port_out(0xc000, 1, 1, 0);
        assert!(shared.lock().unwrap().irq);
        assert!(gsi(&b, 23) && pic_line(&b, 11));
        assert!(!gsi(&b, 20) && !pic_line(&b, 10));
        // Re-routing PIRQD to IRQ 5 lowers IRQ 11 and raises IRQ 5.
        cfg_write(&mut b, 1, 0x63, 1, 5);
        assert!(!pic_line(&b, 11) && pic_line(&b, 5) && gsi(&b, 23));
        // Interrupt Disable masks both.
        cfg_write(&mut b, 3, 0x04, 2, 0x0403);
        assert!(!pic_line(&b, 5) && !gsi(&b, 23));
        cfg_write(&mut b, 3, 0x04, 2, 0x0003);
        assert!(pic_line(&b, 5) && gsi(&b, 23));
        // A disabled route leaves only the I/O APIC pin.
        cfg_write(&mut b, 1, 0x63, 1, 0x80);
        assert!(!pic_line(&b, 5) && gsi(&b, 23));
        b.port_out(0xc000, 1, 0, 0);
        assert!(!gsi(&b, 23));
    }

    #[test]
    fn dma_pages_reach_the_code_invalidation_list_and_stop_the_cpu() {
        let (mut b, _) = board();
        assert_eq!(b.port_out(0xc008, 1, 1, 0), BusAction::Continue);
        assert!(b.virtio.dirty_pages.is_empty());
        assert_eq!(b.port_out(0xc004, 1, 5, 0), BusAction::Stop);
        assert_eq!(b.virtio.dirty_pages, vec![0x5000]);
        assert_eq!(b.mmio_write(0xe000_0004, 4, 7, 0), BusAction::Stop);
        assert_eq!(b.virtio.dirty_pages, vec![0x5000, 0x7000]);
    }

    #[test]
    fn function_timers_join_the_board() {
        let (mut b, shared) = board();
        let before = b.next_deadline();
        shared.lock().unwrap().deadline = Some(1_000);
        assert_eq!(
            b.next_deadline(),
            Some(before.map_or(1_000, |d| d.min(1_000)))
        );
        b.advance(999);
        assert!(shared.lock().unwrap().advanced.is_empty());
        b.advance(1_000);
        assert_eq!(shared.lock().unwrap().advanced, vec![1_000]);
        // What advance raised reaches the interrupt controllers.
        assert!(gsi(&b, 23) && pic_line(&b, 11));
    }

    #[test]
    fn pci_state_round_trips_through_board_state() {
        let (mut b, shared) = board();
        shared.lock().unwrap().reg = 0x5a;
        cfg_write(&mut b, 1, 0x60, 4, 0x0b0a_0905);
        cfg_write(&mut b, 3, 0x04, 2, 0x0007);
        b.port_out(0xcf8, 4, 0x8000_183c, 0);
        let st = b.state();
        let (mut c, shared_c) = board();
        c.restore(&st).unwrap();
        assert_eq!(c.pci.state(), b.pci.state());
        assert_eq!(shared_c.lock().unwrap().reg, 0x5a);
        assert_eq!(c.port_in(0xcfc, 1, 0), 0x0b);
        // The wiring follows the restored routes: PIRQD now goes to IRQ 11 via 0x63.
        c.port_out(0xc000, 1, 1, 0);
        assert!(pic_line(&c, 11) && gsi(&c, 23));
        // A board without the function refuses the state.
        let mut d = Board::new(
            Box::new(std::io::sink()),
            Rtc::new(0, 0),
            Box::new(reprise_replay::PassThrough),
            Virtio::default(),
            chipset(),
        );
        let e = d.restore(&st).unwrap_err();
        assert!(e.contains("slot 3"), "{e}");
    }

    #[test]
    fn memory_bars_need_ram_below_the_window() {
        let mut pci = chipset();
        let shared = Arc::new(Mutex::new(Shared::default()));
        pci.add_function(3, Box::new(F(shared))).unwrap();
        let e = firmware(&mut pci, 3600).unwrap_err();
        assert!(e.contains("--memory 3600"), "{e}");
        // The chipset alone has no memory BARs: any RAM size is fine.
        assert!(firmware(&mut chipset(), 3600).is_ok());
    }
}
