//! virtio-blk (virtio 1.2 §5.2): one request queue; IN, OUT, FLUSH and GET_ID.
//!
//! The device does no I/O. A notified queue becomes [`BlkRequest`]s handed to the
//! machine's [`BlockBackend`]; the machine runs them (on its iothread, recording the
//! completions) and calls [`VirtioBlk::complete`] with the request's id, a status and,
//! for reads, the data. The device keeps the descriptor bookkeeping in between.
//!
//! Answered at once, without the backend (so deterministic by construction): GET_ID
//! (the configured serial), unknown request types (`VIRTIO_BLK_S_UNSUPP`), and requests
//! the device refuses with `VIRTIO_BLK_S_IOERR`: writes to a read-only disk, lengths
//! that are not whole 512-byte sectors, more than `seg_max` data segments or
//! `max_request_bytes` bytes, a sector range that runs past the capacity, and data
//! buffers outside guest RAM. A chain without room for the header or the status byte,
//! or one whose status byte is outside RAM, sets DEVICE_NEEDS_RESET.
//!
//! Offered features: VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE (512),
//! VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO when read-only, VIRTIO_F_INDIRECT_DESC and
//! VIRTIO_F_VERSION_1. Configuration space: capacity, seg_max, blk_size (other fields
//! read as zero; num_queues as 1).

mod config;
mod request;

use super::chain::{self, Segment};
use super::core::Core;
use super::state::TransportState;
use super::transport::{MmioEffect, MmioTransport};
use super::{device_id, DriverError, VirtioError};
pub use config::{features, BlkConfig};
use request::Parsed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vm_memory::{GuestMemory, Permissions};

pub use request::{VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT};

/// Sector size of the virtio-blk protocol (always 512, whatever blk_size says).
pub const SECTOR_SIZE: u64 = 512;
/// Length of the GET_ID answer.
pub const ID_BYTES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlkRequestKind {
    Read,
    Write,
    Flush,
}

/// The status byte (spec §5.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum BlkStatus {
    Ok = 0,
    IoErr = 1,
    Unsupp = 2,
}

/// A request for the backend: read or write `len` bytes at `sector`, or flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkRequest {
    pub id: u64,
    pub kind: BlkRequestKind,
    pub sector: u64,
    pub len: u32,
    /// The bytes to write (empty for reads and flushes).
    pub data: Vec<u8>,
}

/// Where the machine's disk lives. `submit` must not complete the request itself
/// (the device is busy while it is called): queue it and call
/// [`VirtioBlk::complete`] later.
pub trait BlockBackend {
    fn submit(&mut self, request: BlkRequest);
}

/// A request between submission and completion, with its descriptor bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkInFlight {
    pub id: u64,
    pub head: u16,
    pub kind: BlkRequestKind,
    pub sector: u64,
    pub len: u32,
    /// Guest buffers for a read's data (or that held a write's data).
    pub segs: Vec<Segment>,
    /// The status byte.
    pub status: Segment,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioBlkState {
    pub transport: TransportState,
    pub next_id: u64,
    pub in_flight: Vec<BlkInFlight>,
}

const REQUEST_QUEUE: u16 = 0;

pub struct VirtioBlk<M, B> {
    core: Core<M>,
    backend: B,
    config: BlkConfig,
    space: [u8; 36],
    in_flight: BTreeMap<u64, BlkInFlight>,
}

impl<M: GuestMemory, B: BlockBackend> VirtioBlk<M, B> {
    pub fn new(config: BlkConfig, mem: M, backend: B) -> Result<Self, VirtioError> {
        let transport =
            MmioTransport::new(device_id::BLOCK, config.features(), &[config.queue_size])?;
        Ok(VirtioBlk {
            core: Core::new(transport, mem),
            backend,
            space: config.space(),
            config,
            in_flight: BTreeMap::new(),
        })
    }

    pub fn mmio_read(&self, offset: u64, data: &mut [u8]) {
        self.core.transport.read(offset, data, &self.space);
    }

    pub fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        match self.core.transport.write(offset, data, &self.core.mem) {
            MmioEffect::Notify(REQUEST_QUEUE) | MmioEffect::DriverOk => self.process(),
            MmioEffect::Reset => self.in_flight.clear(),
            MmioEffect::Notify(_) | MmioEffect::None => {}
        }
    }

    /// The interrupt line (level).
    pub fn irq_level(&self) -> bool {
        self.core.transport.irq_level()
    }

    pub fn transport(&self) -> &MmioTransport {
        &self.core.transport
    }

    pub fn config(&self) -> &BlkConfig {
        &self.config
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

    fn process(&mut self) {
        let backend = &mut self.backend;
        let in_flight = &mut self.in_flight;
        let config = &self.config;
        self.core.drain(REQUEST_QUEUE, |core, chain| {
            let parsed = match request::parse(&core.mem, &chain, config) {
                Ok(p) => p,
                Err(e) => {
                    core.transport.fail(e);
                    return false;
                }
            };
            match parsed {
                Parsed::Submit {
                    kind,
                    sector,
                    len,
                    segs,
                    data,
                    status,
                } => {
                    let id = core.take_id();
                    in_flight.insert(
                        id,
                        BlkInFlight {
                            id,
                            head: chain.head,
                            kind,
                            sector,
                            len,
                            segs,
                            status,
                        },
                    );
                    backend.submit(BlkRequest {
                        id,
                        kind,
                        sector,
                        len,
                        data,
                    });
                }
                Parsed::Immediate {
                    status_code,
                    segs,
                    data,
                    status,
                } => {
                    let written = core.write(&segs, &data).unwrap_or(0);
                    finish(core, chain.head, status, status_code, written);
                }
            }
            true
        });
    }

    /// Completes request `id`: for a successful read `data` is the `len` bytes read
    /// (otherwise it is ignored). Writes the data and the status byte into guest
    /// memory, puts the chain on the used ring and raises the interrupt.
    pub fn complete(&mut self, id: u64, status: BlkStatus, data: &[u8]) -> Result<(), VirtioError> {
        let req = self
            .in_flight
            .remove(&id)
            .ok_or(VirtioError::UnknownRequest { id })?;
        let mut result = Ok(());
        let mut status = status;
        let mut written = 0;
        if req.kind == BlkRequestKind::Read && status == BlkStatus::Ok {
            if data.len() != req.len as usize {
                status = BlkStatus::IoErr;
                result = Err(VirtioError::ReadLength {
                    id,
                    expected: req.len,
                    got: data.len(),
                });
            } else {
                match self.core.write(&req.segs, data) {
                    Ok(n) => written = n,
                    Err(_) => status = BlkStatus::IoErr,
                }
            }
        }
        finish(&mut self.core, req.head, req.status, status, written);
        result
    }

    /// Guest-physical addresses of the 4 KiB pages the device wrote (DMA: read data,
    /// status bytes, used ring) since the last call, in address order. Device writes do
    /// not go through the CPU's MMU, so the machine must invalidate translated code in
    /// these pages after every `mmio_write` and `complete`.
    pub fn take_dirty_pages(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.core.dirty).into_iter().collect()
    }

    /// The requests in flight, in id order, as they were submitted (a write's data is
    /// read again from guest memory, which the driver may not touch meanwhile). After
    /// restoring a snapshot outside replay, the machine submits these again.
    pub fn in_flight_requests(&self) -> Vec<BlkRequest> {
        self.in_flight
            .values()
            .map(|r| {
                let mut data = Vec::new();
                if r.kind == BlkRequestKind::Write
                    && chain::read_into(&self.core.mem, &r.segs, &mut data).is_err()
                {
                    data.clear();
                }
                BlkRequest {
                    id: r.id,
                    kind: r.kind,
                    sector: r.sector,
                    len: r.len,
                    data,
                }
            })
            .collect()
    }

    pub fn state(&self) -> VirtioBlkState {
        VirtioBlkState {
            transport: self.core.transport.state(),
            next_id: self.core.next_id,
            in_flight: self.in_flight.values().cloned().collect(),
        }
    }

    /// Rebuilds the device from `config` (as given to [`VirtioBlk::new`]) and a saved
    /// state. In-flight requests are not submitted again (see
    /// [`VirtioBlk::in_flight_requests`]).
    pub fn from_state(
        config: BlkConfig,
        mem: M,
        backend: B,
        state: &VirtioBlkState,
    ) -> Result<Self, VirtioError> {
        let mut dev = Self::new(config, mem, backend)?;
        dev.core
            .transport
            .restore(&state.transport, &dev.core.mem)?;
        dev.core.next_id = state.next_id;
        for r in &state.in_flight {
            if r.id >= state.next_id {
                return Err(VirtioError::BadState(format!(
                    "in-flight request {} was issued after the next id {}",
                    r.id, state.next_id
                )));
            }
            let writable = Permissions::Write;
            if !chain::in_ram(&dev.core.mem, &r.segs, Permissions::Read)
                || !chain::in_ram(&dev.core.mem, &[r.status], writable)
            {
                return Err(VirtioError::BadState(format!(
                    "in-flight request {} has buffers outside guest RAM",
                    r.id
                )));
            }
            dev.in_flight.insert(r.id, r.clone());
        }
        Ok(dev)
    }
}

/// Writes the status byte and returns the chain (`written` data bytes + the status).
fn finish<M: GuestMemory>(
    core: &mut Core<M>,
    head: u16,
    status: Segment,
    code: BlkStatus,
    written: usize,
) {
    if core.write(&[status], &[code as u8]).is_err() {
        let queue = REQUEST_QUEUE;
        core.transport
            .fail(DriverError::BufferOutsideRam { queue, head });
        return;
    }
    let len = u32::try_from(written).unwrap_or(u32::MAX).saturating_add(1);
    core.finish(REQUEST_QUEUE, head, len);
}
