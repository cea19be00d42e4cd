//! The virtio-mmio register file (virtio 1.2 §4.2.2, version 2 "modern" only).
//!
//! Offsets are relative to the device's window ([`super::MMIO_SIZE`] bytes). Control
//! registers (below 0x100) are 32 bits wide; any other access to them reads as zero and
//! writes are ignored, as the specification only defines aligned 32-bit accesses. The
//! device configuration space starts at 0x100 and may be read with any width; reads
//! past its end return zero. Writes to it are ignored (neither device offers a writable
//! configuration field).
//!
//! Status semantics: writing 0 resets the device. Setting FEATURES_OK checks the
//! negotiated features (a subset of the offered ones, including VIRTIO_F_VERSION_1); if
//! they are not acceptable FEATURES_OK stays clear, which the driver sees on reading
//! the status back. Setting DRIVER_OK without FEATURES_OK, a bad queue setup and any
//! malformed descriptor chain set DEVICE_NEEDS_RESET (the device stops until reset).
//! A write that would clear a status bit other than by reset is ignored (the driver
//! must not do that, spec §2.1.2).

use super::queue::VirtQueue;
use super::state::TransportState;
use super::{feature, interrupt, status, DriverError, VirtioError};
use vm_memory::GuestMemory;

/// What a register write means for the device behind the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioEffect {
    None,
    /// The driver notified queue `n` (which exists).
    Notify(u16),
    /// The driver wrote 0 to Status: drop everything in flight.
    Reset,
    /// The driver set DRIVER_OK on a device whose features it had accepted.
    DriverOk,
}

/// Register offsets.
pub mod reg {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const SHM_SEL: u64 = 0x0ac;
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    pub const SHM_BASE_LOW: u64 = 0x0b8;
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    pub const QUEUE_RESET: u64 = 0x0c0;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    pub const CONFIG: u64 = 0x100;
    /// "virt" in little-endian.
    pub const MAGIC: u32 = 0x7472_6976;
    /// VendorID reported by reprise's devices ("RPRS" as bytes).
    pub const VENDOR: u32 = u32::from_le_bytes(*b"RPRS");
}

/// Status bits the driver may set.
const DRIVER_STATUS_BITS: u32 =
    status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK | status::FEATURES_OK | status::FAILED;

#[derive(Debug)]
pub struct MmioTransport {
    device_id: u32,
    device_features: u64,
    driver_features: u64,
    device_features_sel: u32,
    driver_features_sel: u32,
    status: u32,
    queue_sel: u32,
    queues: Vec<VirtQueue>,
    interrupt_status: u32,
    config_generation: u32,
    driver_error: Option<DriverError>,
}

impl MmioTransport {
    /// A transport for device `device_id` offering `device_features` (VERSION_1 is
    /// always added) with one queue per entry of `queue_max_sizes`.
    pub fn new(
        device_id: u32,
        device_features: u64,
        queue_max_sizes: &[u16],
    ) -> Result<Self, VirtioError> {
        let mut queues = Vec::with_capacity(queue_max_sizes.len());
        for (i, &max) in queue_max_sizes.iter().enumerate() {
            if max == 0 || max > 32768 || !max.is_power_of_two() {
                return Err(VirtioError::QueueMaxSize(max));
            }
            let index = u16::try_from(i).map_err(|_| VirtioError::QueueMaxSize(max))?;
            queues.push(VirtQueue::new(index, max));
        }
        Ok(MmioTransport {
            device_id,
            device_features: device_features | feature::VERSION_1,
            driver_features: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            status: 0,
            queue_sel: 0,
            queues,
            interrupt_status: 0,
            config_generation: 0,
            driver_error: None,
        })
    }

    /// Reads `data.len()` bytes at `offset`; `config` is the device configuration space.
    pub fn read(&self, offset: u64, data: &mut [u8], config: &[u8]) {
        data.fill(0);
        if offset >= reg::CONFIG {
            let start = usize::try_from(offset - reg::CONFIG).unwrap_or(usize::MAX);
            for (i, b) in data.iter_mut().enumerate() {
                *b = start
                    .checked_add(i)
                    .and_then(|at| config.get(at))
                    .copied()
                    .unwrap_or(0);
            }
            return;
        }
        if data.len() != 4 || !offset.is_multiple_of(4) {
            return;
        }
        let value = self.read_reg(offset);
        data.copy_from_slice(&value.to_le_bytes());
    }

    fn read_reg(&self, offset: u64) -> u32 {
        let queue = self.selected();
        match offset {
            reg::MAGIC_VALUE => reg::MAGIC,
            reg::VERSION => 2,
            reg::DEVICE_ID => self.device_id,
            reg::VENDOR_ID => reg::VENDOR,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => self.device_features as u32,
                1 => (self.device_features >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => queue.map_or(0, |q| u32::from(q.max_size())),
            reg::QUEUE_READY => queue.map_or(0, |q| u32::from(q.ready())),
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            // No shared memory regions: a length of -1 says "no such region".
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH | reg::SHM_BASE_LOW | reg::SHM_BASE_HIGH => {
                u32::MAX
            }
            reg::CONFIG_GENERATION => self.config_generation,
            _ => 0,
        }
    }

    /// Writes `data` at `offset`. `mem` is guest memory, against which a queue's rings
    /// are checked when the driver makes it ready.
    pub fn write<M: GuestMemory>(&mut self, offset: u64, data: &[u8], mem: &M) -> MmioEffect {
        if offset >= reg::CONFIG {
            return MmioEffect::None;
        }
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return MmioEffect::None;
        };
        if !offset.is_multiple_of(4) {
            return MmioEffect::None;
        }
        let value = u32::from_le_bytes(bytes);
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES => self.write_driver_features(value),
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NUM => {
                if let Some(q) = self.selected_mut() {
                    // Sizes above 0xffff cannot be valid; they fail the ready check.
                    q.set_size(u16::try_from(value).unwrap_or(0));
                }
            }
            reg::QUEUE_READY => return self.write_queue_ready(value, mem),
            reg::QUEUE_DESC_LOW | reg::QUEUE_DESC_HIGH => self.set_address(0, offset, value),
            reg::QUEUE_DRIVER_LOW | reg::QUEUE_DRIVER_HIGH => self.set_address(1, offset, value),
            reg::QUEUE_DEVICE_LOW | reg::QUEUE_DEVICE_HIGH => self.set_address(2, offset, value),
            reg::QUEUE_NOTIFY => {
                // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
                if let Ok(n) = u16::try_from(value) {
                    if usize::from(n) < self.queues.len() {
                        return MmioEffect::Notify(n);
                    }
                }
            }
            reg::INTERRUPT_ACK => self.interrupt_status &= !value,
            reg::STATUS => return self.write_status(value),
            _ => {}
        }
        MmioEffect::None
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.status & status::FEATURES_OK != 0 {
            return; // negotiation is over
        }
        let v = u64::from(value);
        self.driver_features = match self.driver_features_sel {
            0 => (self.driver_features & !0xffff_ffff) | v,
            1 => (self.driver_features & 0xffff_ffff) | (v << 32),
            _ => self.driver_features,
        };
    }

    fn set_address(&mut self, which: u8, offset: u64, value: u32) {
        let high = offset % 8 == 4;
        if let Some(q) = self.selected_mut() {
            q.set_address_half(which, high, value);
        }
    }

    fn write_queue_ready<M: GuestMemory>(&mut self, value: u32, mem: &M) -> MmioEffect {
        let Some(q) = self.selected_mut() else {
            return MmioEffect::None;
        };
        if value & 1 == 0 {
            q.disable();
            return MmioEffect::None;
        }
        if q.ready() {
            return MmioEffect::None;
        }
        if let Err(e) = q.enable(mem) {
            self.fail(e);
        }
        MmioEffect::None
    }

    fn write_status(&mut self, value: u32) -> MmioEffect {
        if value == 0 {
            self.reset();
            return MmioEffect::Reset;
        }
        let old = self.status;
        let driver_bits = value & DRIVER_STATUS_BITS;
        if old & DRIVER_STATUS_BITS & !driver_bits != 0 {
            return MmioEffect::None; // clearing a bit: not allowed
        }
        let mut new = driver_bits | (old & status::DEVICE_NEEDS_RESET);
        let rising = new & !old;
        if rising & status::FEATURES_OK != 0 && !self.features_acceptable() {
            new &= !status::FEATURES_OK;
        }
        self.status = new;
        if rising & status::DRIVER_OK != 0 {
            if new & status::FEATURES_OK == 0 {
                self.fail(DriverError::DriverOkWithoutFeatures);
                return MmioEffect::None;
            }
            if self.is_running() {
                return MmioEffect::DriverOk;
            }
        }
        MmioEffect::None
    }

    fn features_acceptable(&self) -> bool {
        self.driver_features & !self.device_features == 0
            && self.driver_features & feature::VERSION_1 != 0
    }

    fn reset(&mut self) {
        self.driver_features = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.status = 0;
        self.queue_sel = 0;
        self.interrupt_status = 0;
        self.driver_error = None;
        for q in &mut self.queues {
            q.reset();
        }
    }

    fn selected(&self) -> Option<&VirtQueue> {
        usize::try_from(self.queue_sel)
            .ok()
            .and_then(|i| self.queues.get(i))
    }

    fn selected_mut(&mut self) -> Option<&mut VirtQueue> {
        usize::try_from(self.queue_sel)
            .ok()
            .and_then(|i| self.queues.get_mut(i))
    }

    /// The interrupt line: high while any InterruptStatus bit is set.
    pub fn irq_level(&self) -> bool {
        self.interrupt_status != 0
    }

    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status
    }

    pub fn status(&self) -> u32 {
        self.status
    }

    pub fn device_features(&self) -> u64 {
        self.device_features
    }

    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// DRIVER_OK is set and the device has neither failed nor been given up on.
    pub fn is_running(&self) -> bool {
        self.status & status::DRIVER_OK != 0
            && self.status & (status::DEVICE_NEEDS_RESET | status::FAILED) == 0
    }

    /// The rule the driver broke that put the device in DEVICE_NEEDS_RESET, if any
    /// (cleared by reset; diagnostic only, not part of the saved state).
    pub fn driver_error(&self) -> Option<&DriverError> {
        self.driver_error.as_ref()
    }

    pub fn queue(&self, index: u16) -> Option<&VirtQueue> {
        self.queues.get(usize::from(index))
    }

    pub(crate) fn queue_mut(&mut self, index: u16) -> Option<&mut VirtQueue> {
        self.queues.get_mut(usize::from(index))
    }

    pub fn num_queues(&self) -> usize {
        self.queues.len()
    }

    /// The driver broke a rule: set DEVICE_NEEDS_RESET and, if the driver had set
    /// DRIVER_OK, tell it with a configuration-change interrupt (spec §2.1.2).
    pub(crate) fn fail(&mut self, error: DriverError) {
        if self.status & status::DEVICE_NEEDS_RESET != 0 {
            return;
        }
        self.status |= status::DEVICE_NEEDS_RESET;
        if self.status & status::DRIVER_OK != 0 {
            self.interrupt_status |= interrupt::CONFIG_CHANGE;
        }
        self.driver_error = Some(error);
    }

    /// A used buffer notification.
    pub(crate) fn signal_used(&mut self) {
        self.interrupt_status |= interrupt::USED_BUFFER;
    }

    pub fn state(&self) -> TransportState {
        TransportState {
            device_features_sel: self.device_features_sel,
            driver_features_sel: self.driver_features_sel,
            driver_features: self.driver_features,
            status: self.status,
            queue_sel: self.queue_sel,
            interrupt_status: self.interrupt_status,
            config_generation: self.config_generation,
            queues: self.queues.iter().map(VirtQueue::state).collect(),
        }
    }

    /// Loads `s` into this transport (built with the same configuration). Values out of
    /// range are brought into range; a ready queue whose setup does not check out
    /// against `mem` is left not ready and the device marked as needing reset.
    pub fn restore<M: GuestMemory>(
        &mut self,
        s: &TransportState,
        mem: &M,
    ) -> Result<(), VirtioError> {
        if s.queues.len() != self.queues.len() {
            return Err(VirtioError::BadState(format!(
                "the state has {} queues, the device {}",
                s.queues.len(),
                self.queues.len()
            )));
        }
        self.reset();
        self.device_features_sel = s.device_features_sel;
        self.driver_features_sel = s.driver_features_sel;
        self.driver_features = s.driver_features & self.device_features;
        self.status = s.status & (DRIVER_STATUS_BITS | status::DEVICE_NEEDS_RESET);
        self.queue_sel = s.queue_sel;
        self.interrupt_status =
            s.interrupt_status & (interrupt::USED_BUFFER | interrupt::CONFIG_CHANGE);
        self.config_generation = s.config_generation;
        let mut failure = None;
        for (q, qs) in self.queues.iter_mut().zip(&s.queues) {
            if let Err(e) = q.restore(mem, qs) {
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        }
        Ok(())
    }
}
