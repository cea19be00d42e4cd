//! The board: every device of the machine behind the CPU's [`Bus`], decoded through
//! `layout`, and the wiring between them — the PIT, the RTC and COM1 drive IRQ lines
//! into the interrupt controllers, the controllers drive the CPU's INTR and NMI.
//!
//! Devices see time as virtual nanoseconds: the board converts the instruction count
//! the CPU passes with each access with the clock parameters the machine keeps current
//! ([`Board::set_clock`]).

use super::pci::PciWiring;
use super::virtio::Virtio;
use crate::layout::{self, MmioDevice, PortDevice};
use reprise_devices::pci::{Pci, PciState};
use reprise_devices::{DebugExit, Intc, PicPort, Pit, Rtc, Uart, I8042};
use reprise_jit::{Bus, BusAction};
use reprise_replay::{Mode, ReplayError, SyncKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;

/// IA32_APIC_BASE: the CPU stores it and tells the board after each write.
const MSR_APIC_BASE: u32 = 0x1b;
/// MOV to/from CR8 reaches the local APIC's TPR through this pseudo-MSR.
const CR8_ALIAS: u32 = 0xffff_0008;

pub(super) struct Board {
    pub com1: Uart<Box<dyn Write + Send>>,
    pub debug_exit: DebugExit,
    pub intc: Intc,
    pub pit: Pit,
    pub i8042: I8042,
    /// The guest pulsed the reset line (through the i8042): the machine stops.
    pub reset_requested: bool,
    pub rtc: Rtc,
    /// Serial input that did not fit in COM1's FIFO yet; moved in as the guest reads.
    pub serial_backlog: VecDeque<u8>,
    /// The virtio-mmio devices.
    pub virtio: Virtio,
    /// PCI bus 0 and its wiring to the interrupt controllers (src/machine/pci.rs).
    pub pci: Pci,
    pub pci_wiring: PciWiring,
    /// The sound card's host side (src/machine/audio.rs).
    pub audio: super::audio::AudioSide,
    /// Set by a debug-exit write: (value, status).
    pub exit: Option<(u32, u64)>,
    /// The record/replay layer: every outside input the devices take passes here.
    pub mode: Box<dyn Mode + Send>,
    /// A record/replay failure inside a device access; the access asked the CPU to
    /// stop, and the machine reports it.
    pub error: Option<ReplayError>,
    /// The timer deadline the machine planned the current `Cpu::run` with: a device
    /// write that brings a deadline before it stops the CPU so the machine re-plans.
    pub planned_deadline: u64,
    /// Virtual ns = (icount << shift) + bias.
    shift: u32,
    bias: u64,
}

/// The board's guest-visible state, for snapshots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoardState {
    pub com1: reprise_devices::UartState,
    pub intc: reprise_devices::IntcState,
    pub pit: reprise_devices::PitState,
    pub i8042: reprise_devices::I8042State,
    pub rtc: reprise_devices::RtcState,
    pub serial_backlog: Vec<u8>,
    pub pci: PciState,
}

impl Board {
    pub fn new(
        serial_out: Box<dyn Write + Send>,
        rtc: Rtc,
        mode: Box<dyn Mode + Send>,
        virtio: Virtio,
        pci: Pci,
    ) -> Board {
        let mut b = Board {
            virtio,
            pci,
            pci_wiring: PciWiring::default(),
            audio: super::audio::AudioSide::default(),
            com1: Uart::new(serial_out),
            debug_exit: DebugExit::new(),
            intc: Intc::new(),
            pit: Pit::new(),
            i8042: I8042::new(),
            reset_requested: false,
            rtc,
            serial_backlog: VecDeque::new(),
            exit: None,
            mode,
            error: None,
            planned_deadline: u64::MAX,
            shift: 0,
            bias: 0,
        };
        b.pci_init();
        b
    }

    pub fn state(&self) -> BoardState {
        BoardState {
            com1: self.com1.state(),
            intc: self.intc.state(),
            pit: self.pit.state(),
            i8042: self.i8042.state(),
            rtc: self.rtc.state(),
            serial_backlog: self.serial_backlog.iter().copied().collect(),
            pci: self.pci.state(),
        }
    }

    /// Restores device state (the serial writer stays).
    pub fn restore(&mut self, s: &BoardState) -> Result<(), String> {
        self.pci.restore(&s.pci)?;
        let out = std::mem::replace(
            &mut self.com1,
            Uart::new(Box::new(std::io::sink()) as Box<dyn Write + Send>),
        )
        .into_writer();
        self.com1 = Uart::from_state(&s.com1, out).map_err(|e| e.to_string())?;
        self.intc = Intc::from_state(&s.intc);
        self.pit = Pit::from_state(&s.pit);
        self.i8042 = I8042::from_state(&s.i8042);
        self.rtc = reprise_devices::Rtc::from_state(&s.rtc);
        self.serial_backlog = s.serial_backlog.iter().copied().collect();
        self.pci_restored();
        Ok(())
    }

    /// The virtual clock's parameters, as the CPU has them now.
    pub fn set_clock(&mut self, shift: u32, bias: u64) {
        self.shift = shift;
        self.bias = bias;
    }

    pub(super) fn ns(&self, icount: u64) -> u64 {
        (icount << self.shift).wrapping_add(self.bias)
    }

    /// The instruction count at virtual time `ns` (the inverse of [`Board::ns`]).
    pub(super) fn icount_at(&self, ns: u64) -> u64 {
        ns.wrapping_sub(self.bias) >> self.shift
    }

    /// The earliest virtual time at which a timer needs [`Board::advance`].
    pub fn next_deadline(&self) -> Option<u64> {
        [
            self.pit.next_deadline(),
            self.intc.next_deadline(),
            self.rtc.next_deadline(),
            self.pci.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires whatever is due at `now_ns` and updates the IRQ lines.
    pub fn advance(&mut self, now_ns: u64) {
        let pit = self.pit.advance(now_ns);
        self.intc.pit_output(pit, now_ns);
        self.intc.advance(now_ns);
        let rtc = self.rtc.advance(now_ns);
        self.intc.set_irq(layout::RTC_IRQ, rtc, now_ns);
        self.pci_advance(now_ns);
    }

    /// Bytes received from the host for COM1: as many as fit go into its FIFO, the
    /// rest wait until the guest reads.
    pub fn serial_input(&mut self, bytes: &[u8], now_ns: u64) {
        self.serial_backlog.extend(bytes);
        self.refill_serial(now_ns);
    }

    fn refill_serial(&mut self, now_ns: u64) {
        if !self.serial_backlog.is_empty() {
            let (a, b) = self.serial_backlog.as_slices();
            let chunk: Vec<u8> = a.iter().chain(b).copied().take(64).collect();
            let n = self.com1.enqueue_input(&chunk);
            self.serial_backlog.drain(..n);
        }
        self.update_com1_irq(now_ns);
    }

    fn update_com1_irq(&mut self, now_ns: u64) {
        let level = self.com1.irq_level();
        self.intc.set_irq(layout::COM1_IRQ, level, now_ns);
    }

    /// Sets the virtio devices' I/O APIC pins from their interrupt status.
    pub fn update_virtio_irqs(&mut self, now_ns: u64) {
        if let Some(l) = self.virtio.blk_irq(0) {
            self.intc.set_irq(layout::VIRTIO_BLK_GSI, l, now_ns);
        }
        if let Some(l) = self.virtio.blk_shared_irq() {
            self.intc.set_irq(layout::VIRTIO_BLK_SHARED_GSI, l, now_ns);
        }
        if let Some(l) = self.virtio.rng_irq() {
            self.intc.set_irq(layout::VIRTIO_RNG_GSI, l, now_ns);
        }
        if let Some(l) = self.virtio.net_irq() {
            self.intc.set_irq(layout::VIRTIO_NET_GSI, l, now_ns);
        }
    }

    /// A host key event for the PS/2 keyboard (dropped when the keyboard is off).
    pub fn key_event(&mut self, code: u16, pressed: bool, now_ns: u64) {
        self.i8042.key_event(code, pressed);
        self.update_i8042_irqs(now_ns);
    }

    fn update_i8042_irqs(&mut self, now_ns: u64) {
        let (k, m) = (self.i8042.irq1(), self.i8042.irq12());
        self.intc.set_irq(layout::KBD_IRQ, k, now_ns);
        self.intc.set_irq(layout::MOUSE_IRQ, m, now_ns);
    }

    fn update_rtc_irq(&mut self, now_ns: u64) {
        let level = self.rtc.irq_level();
        self.intc.set_irq(layout::RTC_IRQ, level, now_ns);
    }

    /// After a guest write to a device: stop the CPU if a timer now expires before the
    /// deadline the current run was planned with (a timer was armed or moved earlier).
    pub(super) fn after_write(&self) -> BusAction {
        if self.next_deadline().unwrap_or(u64::MAX) < self.planned_deadline
            || !self.virtio.dirty_pages.is_empty()
        {
            BusAction::Stop
        } else {
            BusAction::Continue
        }
    }

    fn read_byte(&mut self, port: u16, now: u64) -> u8 {
        let Some((dev, off)) = layout::port_device(port) else {
            return 0xff;
        };
        match dev {
            PortDevice::PicMaster | PortDevice::PicSlave | PortDevice::Elcr => {
                match PicPort::from_port(port) {
                    Some(p) => self.intc.pic_read(p),
                    None => 0xff,
                }
            }
            PortDevice::Pit => self.pit.read(off, now),
            PortDevice::I8042Data | PortDevice::I8042Cmd => {
                let v = self.i8042.read(i8042_offset(dev));
                if dev == PortDevice::I8042Data {
                    // Each byte is its own interrupt: the line drops when the byte is
                    // read and rises again for the next one (edge-triggered IRQ 1).
                    self.intc.set_irq(layout::KBD_IRQ, false, now);
                    self.intc.set_irq(layout::MOUSE_IRQ, false, now);
                }
                self.update_i8042_irqs(now);
                v
            }
            PortDevice::PortB => self.pit.port61_read(now),
            PortDevice::Rtc => {
                let v = self.rtc.read(off, now);
                self.update_rtc_irq(now);
                v
            }
            PortDevice::DebugExit => self.debug_exit.read(off, 1) as u8,
            // Answered whole by `pci_port_in` before the byte split.
            PortDevice::PciConfig => 0xff,
            PortDevice::Com1 => {
                let v = self.com1.read(off as u8);
                if off == 0 {
                    self.refill_serial(now);
                } else {
                    self.update_com1_irq(now);
                }
                v
            }
        }
    }

    fn write_byte(&mut self, port: u16, value: u8, now: u64) {
        let Some((dev, off)) = layout::port_device(port) else {
            return;
        };
        match dev {
            PortDevice::PicMaster | PortDevice::PicSlave | PortDevice::Elcr => {
                if let Some(p) = PicPort::from_port(port) {
                    self.intc.pic_write(p, value);
                }
            }
            PortDevice::Pit => self.pit.write(off, value, now),
            PortDevice::I8042Data | PortDevice::I8042Cmd => {
                self.i8042.write(i8042_offset(dev), value);
                self.update_i8042_irqs(now);
                if self.i8042.take_reset_request() {
                    self.reset_requested = true;
                }
            }
            PortDevice::PortB => self.pit.port61_write(value, now),
            PortDevice::Rtc => {
                self.rtc.write(off, value, now);
                self.update_rtc_irq(now);
            }
            PortDevice::DebugExit | PortDevice::PciConfig => {}
            PortDevice::Com1 => {
                // A host output error loses the byte; the guest cannot tell.
                let _ = self.com1.write(off as u8, value);
                self.update_com1_irq(now);
            }
        }
    }
}

/// The i8042's register offset for a port: data is 0, status/command is 4.
fn i8042_offset(dev: PortDevice) -> u16 {
    match dev {
        PortDevice::I8042Cmd => reprise_devices::i8042::STATUS,
        _ => reprise_devices::i8042::DATA,
    }
}

impl Bus for Board {
    fn port_in(&mut self, port: u16, size: u8, icount: u64) -> u32 {
        let now = self.ns(icount);
        if let Some((PortDevice::DebugExit, off)) = layout::port_device(port) {
            return self.debug_exit.read(off, size);
        }
        if let Some(v) = self.pci_port_in(port, size, icount) {
            return v;
        }
        // Wider accesses read consecutive byte ports, as on the ISA bus.
        let mut v = 0u32;
        for k in 0..size.min(4) as u16 {
            v |= (self.read_byte(port.wrapping_add(k), now) as u32) << (8 * k);
        }
        v
    }

    fn port_out(&mut self, port: u16, size: u8, value: u32, icount: u64) -> BusAction {
        let now = self.ns(icount);
        if let Some((PortDevice::DebugExit, off)) = layout::port_device(port) {
            let status = self.debug_exit.write(off, size, value);
            let v = ((status >> 1) & 0xffff_ffff) as u32;
            self.exit = Some((v, status));
            return BusAction::Stop;
        }
        if let Some(a) = self.pci_port_out(port, size, value, icount) {
            return a;
        }
        for k in 0..size.min(4) as u16 {
            self.write_byte(port.wrapping_add(k), (value >> (8 * k)) as u8, now);
        }
        if self.reset_requested {
            return BusAction::Stop;
        }
        self.after_write()
    }

    fn mmio_read(&mut self, addr: u64, size: u8, icount: u64) -> u64 {
        let now = self.ns(icount);
        match layout::mmio_device(addr) {
            Some((MmioDevice::Lapic, off)) => self.intc.lapic_mmio_read(off, size, now),
            Some((MmioDevice::IoApic, off)) => self.intc.ioapic_mmio_read(off, size, now),
            Some((MmioDevice::VirtioBlk(i), off)) => {
                let mut b = [0u8; 8];
                let n = (size as usize).clamp(1, 8);
                self.virtio.blk_read(usize::from(i), off, &mut b[..n]);
                u64::from_le_bytes(b)
            }
            Some((MmioDevice::VirtioRng, off)) => {
                let mut b = [0u8; 8];
                let n = (size as usize).clamp(1, 8);
                self.virtio.rng_read(off, &mut b[..n]);
                u64::from_le_bytes(b)
            }
            Some((MmioDevice::VirtioNet, off)) => {
                let mut b = [0u8; 8];
                let n = (size as usize).clamp(1, 8);
                self.virtio.net_read(off, &mut b[..n]);
                u64::from_le_bytes(b)
            }
            None => self
                .pci_mmio_read(addr, size, icount)
                .unwrap_or_else(|| reprise_jit::flags::size_mask(size)),
        }
    }

    fn mmio_write(&mut self, addr: u64, size: u8, value: u64, icount: u64) -> BusAction {
        let now = self.ns(icount);
        match layout::mmio_device(addr) {
            Some((MmioDevice::Lapic, off)) => self.intc.lapic_mmio_write(off, size, value, now),
            Some((MmioDevice::IoApic, off)) => self.intc.ioapic_mmio_write(off, size, value, now),
            Some((MmioDevice::VirtioBlk(i), off)) => {
                let b = value.to_le_bytes();
                let n = (size as usize).clamp(1, 8);
                self.virtio.blk_write(usize::from(i), off, &b[..n]);
                self.update_virtio_irqs(now);
            }
            Some((MmioDevice::VirtioRng, off)) => {
                let b = value.to_le_bytes();
                let n = (size as usize).clamp(1, 8);
                let r = self
                    .virtio
                    .rng_write(off, &b[..n], icount, self.mode.as_mut());
                self.update_virtio_irqs(now);
                if let Err(e) = r {
                    self.error = Some(e);
                    return BusAction::Stop;
                }
            }
            Some((MmioDevice::VirtioNet, off)) => {
                let b = value.to_le_bytes();
                let n = (size as usize).clamp(1, 8);
                self.virtio.net_write(off, &b[..n], now);
                self.update_virtio_irqs(now);
            }
            None => {
                if let Some(a) = self.pci_mmio_write(addr, size, value, icount) {
                    return a;
                }
            }
        }
        // Device DMA wrote guest memory: stop so the machine drops translated code
        // before the next instruction runs.
        if self.virtio.code_dirty || !self.virtio.dirty_pages.is_empty() {
            return BusAction::Stop;
        }
        self.after_write()
    }

    fn msr_read(&mut self, msr: u32, icount: u64) -> Option<u64> {
        if msr == CR8_ALIAS {
            return Some(self.intc.cr8());
        }
        let now = self.ns(icount);
        self.intc.msr_read(msr, now)
    }

    fn msr_write(&mut self, msr: u32, value: u64, icount: u64) -> Option<BusAction> {
        if msr == MSR_APIC_BASE {
            self.intc.apic_base_written(value);
            return Some(BusAction::Continue);
        }
        if msr == CR8_ALIAS {
            self.intc.set_cr8(value);
            return Some(BusAction::Continue);
        }
        let now = self.ns(icount);
        self.intc
            .msr_write(msr, value, now)
            .map(|()| self.after_write())
    }

    fn intr_pending(&mut self) -> bool {
        self.intc.intr_pending()
    }

    fn intr_acknowledge(&mut self, icount: u64) -> Option<u8> {
        let now = self.ns(icount);
        let v = self.intc.acknowledge(now)?;
        // Every interrupt taken is logged for checking: a replay that takes a
        // different one, or the same one at another instruction, stops right there
        // with a divergence naming both.
        if let Err(e) = self
            .mode
            .cpu_event(icount, reprise_replay::CpuEvent::Interrupt { vector: v })
        {
            if self.error.is_none() {
                self.error = Some(e);
            }
        }
        Some(v)
    }

    fn take_nmi(&mut self) -> bool {
        self.intc.take_nmi()
    }

    fn random(&mut self, seed: bool, size: u8, icount: u64) -> (Option<u64>, BusAction) {
        let kind = if seed {
            SyncKind::RdSeed
        } else {
            SyncKind::RdRand
        };
        let n = size.min(8) as usize;
        match self.mode.sync_input(icount, kind, &mut || host_random(n)) {
            Ok(bytes) => {
                let mut b = [0u8; 8];
                let k = bytes.len().min(8);
                b[..k].copy_from_slice(&bytes[..k]);
                (Some(u64::from_le_bytes(b)), BusAction::Continue)
            }
            Err(e) => {
                self.error = Some(e);
                (None, BusAction::Stop)
            }
        }
    }
}

/// `n` bytes from the host's random source (all zero if it fails, which the
/// recording keeps like any other value).
fn host_random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b
}
