//! One split virtqueue as the virtio-mmio transport sees it: the raw values the driver
//! wrote to QueueNum / QueueDesc / QueueDriver / QueueDevice, and, once the driver sets
//! QueueReady, a validated `virtio_queue::Queue` that walks the rings.
//!
//! The raw values are kept apart from the `Queue` because rust-vmm's setters drop values
//! they reject (misaligned addresses, bad sizes) silently; here they are checked in one
//! place, when the queue is made ready, and a bad setup is a [`DriverError`].

use super::chain::Chain;
use super::state::QueueState;
use super::DriverError;
use std::sync::atomic::Ordering;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// VIRTQ_AVAIL_F_NO_INTERRUPT: the driver asks not to be interrupted for used buffers.
const AVAIL_F_NO_INTERRUPT: u16 = 1;

#[derive(Debug)]
pub struct VirtQueue {
    index: u16,
    max_size: u16,
    size: u16,
    desc: u64,
    driver: u64,
    device: u64,
    /// Present while QueueReady is 1.
    queue: Option<Queue>,
}

impl VirtQueue {
    /// A queue offering at most `max_size` entries (already checked to be valid).
    pub(crate) fn new(index: u16, max_size: u16) -> Self {
        VirtQueue {
            index,
            max_size,
            size: max_size,
            desc: 0,
            driver: 0,
            device: 0,
            queue: None,
        }
    }

    pub fn max_size(&self) -> u16 {
        self.max_size
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn ready(&self) -> bool {
        self.queue.is_some()
    }

    /// Back to the state after device reset.
    pub(crate) fn reset(&mut self) {
        *self = VirtQueue::new(self.index, self.max_size);
    }

    pub(crate) fn set_size(&mut self, size: u16) {
        if !self.ready() {
            self.size = size;
        }
    }

    /// Sets the low (`high == false`) or high half of one of the three ring addresses
    /// (`which`: 0 descriptor table, 1 driver/available ring, 2 device/used ring).
    pub(crate) fn set_address_half(&mut self, which: u8, high: bool, value: u32) {
        if self.ready() {
            return;
        }
        let slot = match which {
            0 => &mut self.desc,
            1 => &mut self.driver,
            _ => &mut self.device,
        };
        *slot = if high {
            (*slot & 0xffff_ffff) | (u64::from(value) << 32)
        } else {
            (*slot & !0xffff_ffff) | u64::from(value)
        };
    }

    /// QueueReady = 1: checks the setup and starts the rings at index 0.
    pub(crate) fn enable<M: GuestMemory>(&mut self, mem: &M) -> Result<(), DriverError> {
        self.queue = None;
        self.queue = Some(self.build(mem, 0, 0)?);
        Ok(())
    }

    pub(crate) fn disable(&mut self) {
        self.queue = None;
    }

    fn build<M: GuestMemory>(
        &self,
        mem: &M,
        next_avail: u16,
        next_used: u16,
    ) -> Result<Queue, DriverError> {
        let size_ok = self.size != 0 && self.size <= self.max_size && self.size.is_power_of_two();
        if !size_ok {
            return Err(DriverError::QueueSize {
                queue: self.index,
                size: self.size,
                max: self.max_size,
            });
        }
        let state = virtio_queue::QueueState {
            max_size: self.max_size,
            next_avail,
            next_used,
            event_idx_enabled: false,
            size: self.size,
            ready: true,
            desc_table: self.desc,
            avail_ring: self.driver,
            used_ring: self.device,
        };
        let bad_address = DriverError::QueueAddress { queue: self.index };
        let queue = Queue::try_from(state).map_err(|_| bad_address.clone())?;
        // `iter` treats an available ring at address 0 as "not set up": refuse it here so
        // that a ready queue always works.
        if !queue.is_valid(mem) || self.driver == 0 {
            return Err(bad_address);
        }
        Ok(queue)
    }

    /// Takes the next available descriptor chain, if any, and checks it.
    pub(crate) fn pop<M: GuestMemory>(&mut self, mem: &M) -> Result<Option<Chain>, DriverError> {
        let index = self.index;
        let Some(queue) = self.queue.as_mut() else {
            return Ok(None);
        };
        let mut avail = queue.iter(mem).map_err(|e| match e {
            virtio_queue::Error::InvalidAvailRingIndex => DriverError::AvailIndex { queue: index },
            _ => DriverError::RingAccess { queue: index },
        })?;
        match avail.next() {
            None => Ok(None),
            Some(chain) => Chain::walk(index, chain).map(Some),
        }
    }

    /// Puts a finished chain on the used ring. Returns whether the driver wants an
    /// interrupt for it.
    pub(crate) fn add_used<M: GuestMemory>(
        &mut self,
        mem: &M,
        head: u16,
        len: u32,
    ) -> Result<bool, DriverError> {
        let index = self.index;
        let Some(queue) = self.queue.as_mut() else {
            // The queue was disabled while the request was in flight: nowhere to put it.
            return Ok(false);
        };
        queue
            .add_used(mem, head, len)
            .map_err(|_| DriverError::RingAccess { queue: index })?;
        // Split ring without EVENT_IDX: the avail ring's flags word says whether the
        // driver wants interrupts (spec §2.7.7.2).
        let flags: u16 = mem
            .load(GuestAddress(queue.avail_ring()), Ordering::Acquire)
            .map(u16::from_le)
            .map_err(|_| DriverError::RingAccess { queue: index })?;
        Ok(flags & AVAIL_F_NO_INTERRUPT == 0)
    }

    /// The used ring's address and length in bytes (flags, idx, ring, avail_event).
    pub(crate) fn used_ring_span(&self) -> (u64, u64) {
        (self.device, 6 + 8 * u64::from(self.size))
    }

    pub(crate) fn state(&self) -> QueueState {
        QueueState {
            size: self.size,
            desc: self.desc,
            driver: self.driver,
            device: self.device,
            ready: self.ready(),
            next_avail: self.queue.as_ref().map_or(0, |q| q.next_avail()),
            next_used: self.queue.as_ref().map_or(0, |q| q.next_used()),
        }
    }

    /// Restores the registers and ring positions. A ready queue whose setup does not
    /// check out is left not ready and the error returned (the caller marks the device
    /// as needing reset).
    pub(crate) fn restore<M: GuestMemory>(
        &mut self,
        mem: &M,
        s: &QueueState,
    ) -> Result<(), DriverError> {
        self.reset();
        self.size = s.size;
        self.desc = s.desc;
        self.driver = s.driver;
        self.device = s.device;
        if s.ready {
            self.queue = Some(self.build(mem, s.next_avail, s.next_used)?);
        }
        Ok(())
    }
}
