//! Serializable state of the virtio-mmio transport and its queues. The device-specific
//! parts (in-flight requests) live beside each device ([`super::blk::VirtioBlkState`],
//! [`super::rng::VirtioRngState`]). Configuration (capacity, read-only, queue sizes,
//! offered features) is not state: the machine rebuilds the device from its own
//! configuration and then restores the state into it.

use serde::{Deserialize, Serialize};

/// One queue's registers and ring positions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    /// QueueNum as the driver wrote it.
    pub size: u16,
    /// QueueDesc, QueueDriver (available ring), QueueDevice (used ring).
    pub desc: u64,
    pub driver: u64,
    pub device: u64,
    pub ready: bool,
    /// Next available-ring entry the device will read, next used-ring entry it will
    /// write (both free-running, as in the rings' idx fields).
    pub next_avail: u16,
    pub next_used: u16,
}

/// The virtio-mmio register file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportState {
    pub device_features_sel: u32,
    pub driver_features_sel: u32,
    pub driver_features: u64,
    pub status: u32,
    pub queue_sel: u32,
    pub interrupt_status: u32,
    pub config_generation: u32,
    pub queues: Vec<QueueState>,
}
