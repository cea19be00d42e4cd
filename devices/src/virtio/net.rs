//! virtio-net (virtio 1.2 §5.1): a receive queue (0) and a transmit queue (1), no
//! control queue, no offloads.
//!
//! The device does no I/O. A transmitted chain becomes one Ethernet frame handed to the
//! machine's [`NetBackend`] (the chain is returned at once, used length 0); a frame from
//! outside reaches the guest through [`VirtioNet::receive`], which writes the 12-byte
//! `virtio_net_hdr` (all zero but `num_buffers` = 1) and the frame into the next
//! available receive buffer.
//!
//! Offered features: VIRTIO_NET_F_MAC (the configured address), VIRTIO_NET_F_STATUS
//! (link always up), VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1. Nothing else: no
//! checksum or segmentation offload, no mergeable receive buffers, no control queue.
//! Configuration space: `mac[6]`, `status` (LINK_UP).
//!
//! What the device does with bad input (counted in [`NetStats`], never a panic):
//! * a transmit chain shorter than the header, with a frame longer than
//!   [`MAX_FRAME`], asking for segmentation offload (`gso_type` not NONE: never
//!   negotiated), or with a buffer outside guest RAM is consumed (returned used, length
//!   0) and its frame dropped;
//! * a receive buffer too small for header and frame is returned used with length 0
//!   and the frame dropped (without mergeable buffers a driver must post buffers that
//!   hold a whole frame);
//! * a frame that arrives while no receive buffer is available waits in a backlog of
//!   [`BACKLOG_FRAMES`] frames, then is dropped;
//! * chains the transport cannot parse (loops, indices out of range, write-before-read
//!   order) set DEVICE_NEEDS_RESET as for every device here.

use super::chain::{self, Segment};
use super::core::Core;
use super::state::TransportState;
use super::transport::{MmioEffect, MmioTransport};
use super::{feature, DriverError, VirtioError};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use vm_memory::GuestMemory;

/// The virtio device ID of a network card.
pub const DEVICE_ID: u32 = super::device_id::NET;
/// Queue indices.
pub const RX_QUEUE: u16 = 0;
pub const TX_QUEUE: u16 = 1;
/// Queue size offered for both queues.
pub const NET_QUEUE_SIZE: u16 = 256;
/// `struct virtio_net_hdr` with VERSION_1 (flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset, num_buffers).
pub const HDR_LEN: usize = 12;
/// The largest frame (without the virtio header) either way: 65535 bytes of IP
/// payload plus Ethernet and VLAN headers, as QEMU's `NET_BUFSIZE` limit.
pub const MAX_FRAME: usize = 65550;
/// Smallest frame accepted for transmission (an Ethernet header).
pub const MIN_FRAME: usize = 14;
/// Frames kept while the driver has no receive buffer available.
pub const BACKLOG_FRAMES: usize = 256;

/// Device feature bits (spec §5.1.3).
pub mod features {
    /// VIRTIO_NET_F_MAC: the configuration space holds the MAC address.
    pub const MAC: u64 = 1 << 5;
    /// VIRTIO_NET_F_MRG_RXBUF (not offered).
    pub const MRG_RXBUF: u64 = 1 << 15;
    /// VIRTIO_NET_F_STATUS: the configuration space holds the link status.
    pub const STATUS: u64 = 1 << 16;
    /// VIRTIO_NET_F_CTRL_VQ (not offered).
    pub const CTRL_VQ: u64 = 1 << 17;
}

/// VIRTIO_NET_S_LINK_UP.
pub const STATUS_LINK_UP: u16 = 1;

/// What the machine wants of the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    pub mac: [u8; 6],
}

impl Default for NetConfig {
    /// 52:54:00:12:34:56, QEMU's first default address.
    fn default() -> Self {
        NetConfig {
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        }
    }
}

/// Where transmitted frames go. `transmit` must not call back into the device.
pub trait NetBackend {
    fn transmit(&mut self, frame: Vec<u8>);
}

/// Frame counters (guest-invisible; kept in the state so snapshots carry them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    pub tx_frames: u64,
    /// Transmit chains consumed without sending (too short, too long, GSO, outside RAM).
    pub tx_dropped: u64,
    pub rx_frames: u64,
    /// Frames dropped on receive: the receive buffer was too small, the frame too long
    /// or too short, or the backlog was full.
    pub rx_dropped: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioNetState {
    pub transport: TransportState,
    pub backlog: Vec<Vec<u8>>,
    pub stats: NetStats,
}

pub struct VirtioNet<M, B> {
    core: Core<M>,
    backend: B,
    space: [u8; 8],
    backlog: VecDeque<Vec<u8>>,
    stats: NetStats,
}

impl<M: GuestMemory, B: NetBackend> VirtioNet<M, B> {
    pub fn new(config: &NetConfig, mem: M, backend: B) -> Result<Self, VirtioError> {
        let offered =
            features::MAC | features::STATUS | feature::RING_INDIRECT_DESC | feature::VERSION_1;
        let transport = MmioTransport::new(DEVICE_ID, offered, &[NET_QUEUE_SIZE, NET_QUEUE_SIZE])?;
        let mut space = [0u8; 8];
        space[..6].copy_from_slice(&config.mac);
        space[6..].copy_from_slice(&STATUS_LINK_UP.to_le_bytes());
        Ok(VirtioNet {
            core: Core::new(transport, mem),
            backend,
            space,
            backlog: VecDeque::new(),
            stats: NetStats::default(),
        })
    }

    pub fn mmio_read(&self, offset: u64, data: &mut [u8]) {
        self.core.transport.read(offset, data, &self.space);
    }

    pub fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        match self.core.transport.write(offset, data, &self.core.mem) {
            MmioEffect::Notify(TX_QUEUE) => self.transmit(),
            MmioEffect::Notify(_) => self.drain_backlog(),
            MmioEffect::DriverOk => {
                self.transmit();
                self.drain_backlog();
            }
            MmioEffect::Reset => self.backlog.clear(),
            MmioEffect::None => {}
        }
    }

    pub fn irq_level(&self) -> bool {
        self.core.transport.irq_level()
    }

    pub fn transport(&self) -> &MmioTransport {
        &self.core.transport
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn driver_error(&self) -> Option<&DriverError> {
        self.core.transport.driver_error()
    }

    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Frames waiting for a receive buffer.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Guest-physical addresses of the 4 KiB pages the device wrote since the last call.
    pub fn take_dirty_pages(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.core.dirty).into_iter().collect()
    }

    /// Sends every available transmit chain to the backend.
    fn transmit(&mut self) {
        let backend = &mut self.backend;
        let stats = &mut self.stats;
        self.core.drain(TX_QUEUE, |core, chain| {
            match tx_frame(&core.mem, &chain.readable, chain.outside_ram) {
                Some(frame) => {
                    stats.tx_frames += 1;
                    backend.transmit(frame);
                }
                None => stats.tx_dropped += 1,
            }
            core.finish(TX_QUEUE, chain.head, 0);
            true
        });
    }

    /// A frame from outside. It goes into the next receive buffer, or waits in the
    /// backlog (bounded) until the driver posts one.
    pub fn receive(&mut self, frame: Vec<u8>) {
        if frame.len() > MAX_FRAME || frame.is_empty() {
            self.stats.rx_dropped += 1;
            return;
        }
        if self.backlog.len() >= BACKLOG_FRAMES {
            self.stats.rx_dropped += 1;
            return;
        }
        self.backlog.push_back(frame);
        self.drain_backlog();
    }

    /// Moves backlog frames into available receive buffers, in arrival order.
    fn drain_backlog(&mut self) {
        while !self.backlog.is_empty() && self.core.transport.is_running() {
            let Some(q) = self.core.transport.queue_mut(RX_QUEUE) else {
                return;
            };
            if !q.ready() {
                return;
            }
            let chain = match q.pop(&self.core.mem) {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    self.core.transport.fail(e);
                    return;
                }
            };
            let Some(frame) = self.backlog.pop_front() else {
                return;
            };
            if chain.outside_ram {
                // The driver gave the device memory it cannot write: a broken queue.
                self.core.transport.fail(DriverError::BufferOutsideRam {
                    queue: RX_QUEUE,
                    head: chain.head,
                });
                return;
            }
            let need = (HDR_LEN + frame.len()) as u64;
            if chain::total(&chain.writable) < need {
                self.stats.rx_dropped += 1;
                self.core.finish(RX_QUEUE, chain.head, 0);
                continue;
            }
            let mut buf = Vec::with_capacity(HDR_LEN + frame.len());
            buf.extend_from_slice(&rx_header());
            buf.extend_from_slice(&frame);
            match self.core.write(&chain.writable, &buf) {
                Ok(n) => {
                    self.stats.rx_frames += 1;
                    let len = u32::try_from(n).unwrap_or(u32::MAX);
                    self.core.finish(RX_QUEUE, chain.head, len);
                }
                Err(_) => {
                    self.core.transport.fail(DriverError::BufferOutsideRam {
                        queue: RX_QUEUE,
                        head: chain.head,
                    });
                    return;
                }
            }
        }
    }

    pub fn state(&self) -> VirtioNetState {
        VirtioNetState {
            transport: self.core.transport.state(),
            backlog: self.backlog.iter().cloned().collect(),
            stats: self.stats,
        }
    }

    pub fn from_state(
        config: &NetConfig,
        mem: M,
        backend: B,
        state: &VirtioNetState,
    ) -> Result<Self, VirtioError> {
        let mut dev = Self::new(config, mem, backend)?;
        dev.core
            .transport
            .restore(&state.transport, &dev.core.mem)?;
        if state.backlog.len() > BACKLOG_FRAMES || state.backlog.iter().any(|f| f.len() > MAX_FRAME)
        {
            return Err(VirtioError::BadState(format!(
                "the receive backlog holds {} frames (at most {BACKLOG_FRAMES} of at most {MAX_FRAME} bytes)",
                state.backlog.len()
            )));
        }
        dev.backlog = state.backlog.iter().cloned().collect();
        dev.stats = state.stats;
        Ok(dev)
    }
}

/// The header the device puts before each received frame: no flags, no GSO, one
/// buffer.
fn rx_header() -> [u8; HDR_LEN] {
    let mut h = [0u8; HDR_LEN];
    h[10..12].copy_from_slice(&1u16.to_le_bytes());
    h
}

/// VIRTIO_NET_HDR_GSO_NONE.
const GSO_NONE: u8 = 0;

/// The frame of a transmit chain, or `None` if it must be dropped.
fn tx_frame<M: GuestMemory>(mem: &M, readable: &[Segment], outside_ram: bool) -> Option<Vec<u8>> {
    if outside_ram {
        return None;
    }
    let total = chain::total(readable);
    let len = total.checked_sub(HDR_LEN as u64)?;
    if len > MAX_FRAME as u64 || len < MIN_FRAME as u64 {
        return None;
    }
    let mut bytes = Vec::with_capacity(total as usize);
    chain::read_into(mem, readable, &mut bytes).ok()?;
    let gso_type = *bytes.get(1)?;
    if gso_type != GSO_NONE {
        return None;
    }
    bytes.drain(..HDR_LEN);
    Some(bytes)
}
