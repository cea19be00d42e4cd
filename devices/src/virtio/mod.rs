//! Virtio 1.2 devices over the virtio-mmio transport (modern, version 2 only).
//!
//! * [`transport`]: the virtio-mmio register file (spec §4.2.2): identification,
//!   feature negotiation, device status with its reset semantics, queue setup,
//!   notification, interrupt status/acknowledge and the device configuration space
//!   at offset 0x100. It reports what a write means for the device ([`MmioEffect`]).
//! * [`queue`]: the split virtqueue (rust-vmm's `virtio-queue`) behind the transport's
//!   queue registers, and [`chain`]: descriptor chains turned into checked lists of
//!   guest-memory segments.
//! * [`net`] (spec §5.1), [`blk`] (spec §5.2) and [`rng`] (spec §5.4): the devices. They do no I/O. A
//!   notified queue becomes requests handed to a backend trait the machine implements
//!   ([`BlockBackend`], [`EntropyBackend`]); the machine completes them later, by id,
//!   with `complete(..)`, which writes data and status into guest memory, fills the used
//!   ring and raises the interrupt.
//!
//! Guest memory is any `vm_memory::GuestMemory`. The machine builds a `GuestMemoryMmap`
//! over its existing RAM mapping (`MmapRegion::build_raw`); tests build their own. Every
//! guest-memory access goes through it, so an address outside guest RAM is an error
//! value, never a host access.
//!
//! A driver that breaks the rules gets what the specification prescribes: a block
//! request it can describe but the device cannot serve completes with
//! `VIRTIO_BLK_S_IOERR` or `VIRTIO_BLK_S_UNSUPP`; a queue or descriptor chain the device
//! cannot even parse (a loop, a next index or buffer outside the table or RAM, a device
//! written descriptor before a device-read one, an available index that runs ahead by
//! more than the queue size) sets `DEVICE_NEEDS_RESET` in the status register, raises a
//! configuration-change interrupt if the driver had set `DRIVER_OK`, and stops the device
//! until the driver resets it. [`DriverError`] says which rule was broken.

pub mod blk;
pub mod chain;
pub mod net;
pub mod queue;
pub mod rng;
pub mod state;
pub mod transport;

mod core;

pub use blk::{
    BlkConfig, BlkRequest, BlkRequestKind, BlkStatus, BlockBackend, VirtioBlk, VirtioBlkState,
};
pub use net::{NetBackend, NetConfig, NetStats, VirtioNet, VirtioNetState};
pub use rng::{EntropyBackend, RngRequest, VirtioRng, VirtioRngState};
pub use state::{QueueState, TransportState};
pub use transport::{MmioEffect, MmioTransport};

/// Bytes of MMIO space a virtio-mmio device decodes (registers and config space). This is
/// the SIZE in Linux's `virtio_mmio.device=SIZE@ADDR:IRQ`.
pub const MMIO_SIZE: u64 = 0x200;

/// Device IDs (spec §5).
pub mod device_id {
    pub const NET: u32 = 1;
    pub const BLOCK: u32 = 2;
    pub const ENTROPY: u32 = 4;
}

/// Device status bits (spec §2.1).
pub mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    pub const FAILED: u32 = 0x80;
}

/// Transport-level feature bits (spec §6).
pub mod feature {
    /// VIRTIO_F_INDIRECT_DESC (bit 28): indirect descriptor tables.
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    /// VIRTIO_F_EVENT_IDX (bit 29): not offered by these devices.
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// VIRTIO_F_VERSION_1 (bit 32): the modern interface; required by this transport.
    pub const VERSION_1: u64 = 1 << 32;
}

/// InterruptStatus bits (spec §4.2.2).
pub mod interrupt {
    /// The device used a buffer in at least one queue.
    pub const USED_BUFFER: u32 = 1;
    /// The configuration (or DEVICE_NEEDS_RESET) changed.
    pub const CONFIG_CHANGE: u32 = 2;
}

/// A rule of the virtio specification that the driver broke. The device sets
/// `DEVICE_NEEDS_RESET` when it meets one; the machine may log it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("queue {queue} was made ready with size {size}, which is not a power of two of at most {max}")]
    QueueSize { queue: u16, size: u16, max: u16 },
    #[error("queue {queue}: the descriptor table, available or used ring is misaligned or lies outside guest RAM")]
    QueueAddress { queue: u16 },
    #[error(
        "queue {queue}: the available index ran ahead of the device by more than the queue size"
    )]
    AvailIndex { queue: u16 },
    #[error("queue {queue}: the available or used ring could not be accessed")]
    RingAccess { queue: u16 },
    #[error("queue {queue}, chain at descriptor {head}: the chain loops, is longer than the queue, or has a next index or indirect table out of range")]
    BrokenChain { queue: u16, head: u16 },
    #[error("queue {queue}, chain at descriptor {head}: a device-readable descriptor follows a device-writable one")]
    DescriptorOrder { queue: u16, head: u16 },
    #[error("queue {queue}, chain at descriptor {head}: a buffer lies outside guest RAM")]
    BufferOutsideRam { queue: u16, head: u16 },
    #[error(
        "queue {queue}, chain at descriptor {head}: the request header or status byte is missing"
    )]
    MissingHeader { queue: u16, head: u16 },
    #[error("DRIVER_OK was set before the features were accepted (FEATURES_OK)")]
    DriverOkWithoutFeatures,
}

/// Errors the machine sees from the virtio devices.
#[derive(Debug, thiserror::Error)]
pub enum VirtioError {
    #[error("virtio queue size {0} is invalid: it must be a power of two from 1 to 32768")]
    QueueMaxSize(u16),
    #[error("virtio request {id} is not in flight (never issued, already completed, or dropped by a device reset): completion ignored")]
    UnknownRequest { id: u64 },
    #[error("virtio-blk read request {id} wants {expected} bytes but the backend returned {got}: completed with IOERR; the block backend must return exactly the requested length")]
    ReadLength { id: u64, expected: u32, got: usize },
    #[error("virtio state does not fit this device: {0}; restore it into a device built with the same configuration")]
    BadState(String),
}
