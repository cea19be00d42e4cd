//! virtio-rng (virtio 1.2 §5.4): one request queue of device-writable buffers that the
//! device fills with entropy.
//!
//! The device has no entropy of its own: each chain becomes an [`RngRequest`] for up to
//! `len` bytes handed to the machine's [`EntropyBackend`], and the machine (which records
//! the bytes it hands out) calls [`VirtioRng::complete`] with them. Fewer bytes than
//! asked for are fine (the used length says how many were written). Device-readable
//! descriptors in a chain are ignored; a chain with no writable bytes is returned at
//! once with length 0. Buffers outside guest RAM set DEVICE_NEEDS_RESET.

use super::chain::{self, Segment};
use super::core::Core;
use super::state::TransportState;
use super::transport::{MmioEffect, MmioTransport};
use super::{device_id, feature, DriverError, VirtioError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vm_memory::{GuestMemory, Permissions};

/// Largest number of bytes asked of the backend for one chain.
pub const MAX_RNG_REQUEST: u32 = 64 << 10;
/// Queue size offered.
pub const RNG_QUEUE_SIZE: u16 = 64;
const REQUEST_QUEUE: u16 = 0;

/// A request for up to `len` bytes of entropy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngRequest {
    pub id: u64,
    pub len: u32,
}

/// Where entropy comes from. `request` must not complete the request itself: queue it
/// and call [`VirtioRng::complete`] later.
pub trait EntropyBackend {
    fn request(&mut self, request: RngRequest);
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngInFlight {
    pub id: u64,
    pub head: u16,
    pub len: u32,
    pub segs: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtioRngState {
    pub transport: TransportState,
    pub next_id: u64,
    pub in_flight: Vec<RngInFlight>,
}

pub struct VirtioRng<M, B> {
    core: Core<M>,
    backend: B,
    in_flight: BTreeMap<u64, RngInFlight>,
}

impl<M: GuestMemory, B: EntropyBackend> VirtioRng<M, B> {
    pub fn new(mem: M, backend: B) -> Result<Self, VirtioError> {
        let features = feature::RING_INDIRECT_DESC | feature::VERSION_1;
        let transport = MmioTransport::new(device_id::ENTROPY, features, &[RNG_QUEUE_SIZE])?;
        Ok(VirtioRng {
            core: Core::new(transport, mem),
            backend,
            in_flight: BTreeMap::new(),
        })
    }

    /// virtio-rng has no configuration space.
    pub fn mmio_read(&self, offset: u64, data: &mut [u8]) {
        self.core.transport.read(offset, data, &[]);
    }

    pub fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        match self.core.transport.write(offset, data, &self.core.mem) {
            MmioEffect::Notify(REQUEST_QUEUE) | MmioEffect::DriverOk => self.process(),
            MmioEffect::Reset => self.in_flight.clear(),
            MmioEffect::Notify(_) | MmioEffect::None => {}
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

    fn process(&mut self) {
        let backend = &mut self.backend;
        let in_flight = &mut self.in_flight;
        self.core.drain(REQUEST_QUEUE, |core, chain| {
            if chain.outside_ram {
                core.transport.fail(DriverError::BufferOutsideRam {
                    queue: REQUEST_QUEUE,
                    head: chain.head,
                });
                return false;
            }
            let total = chain::total(&chain.writable);
            let len = u32::try_from(total.min(u64::from(MAX_RNG_REQUEST))).unwrap_or(0);
            if len == 0 {
                core.finish(REQUEST_QUEUE, chain.head, 0);
                return true;
            }
            let segs = chain::split_front(&chain.writable, u64::from(len))
                .map(|(front, _)| front)
                .unwrap_or_default();
            let id = core.take_id();
            in_flight.insert(
                id,
                RngInFlight {
                    id,
                    head: chain.head,
                    len,
                    segs,
                },
            );
            backend.request(RngRequest { id, len });
            true
        });
    }

    /// Completes request `id` with `bytes` (at most `len` of them are used).
    pub fn complete(&mut self, id: u64, bytes: &[u8]) -> Result<(), VirtioError> {
        let req = self
            .in_flight
            .remove(&id)
            .ok_or(VirtioError::UnknownRequest { id })?;
        let written = match self.core.write(&req.segs, bytes) {
            Ok(n) => n,
            Err(_) => {
                self.core.transport.fail(DriverError::BufferOutsideRam {
                    queue: REQUEST_QUEUE,
                    head: req.head,
                });
                return Ok(());
            }
        };
        let len = u32::try_from(written).unwrap_or(u32::MAX);
        self.core.finish(REQUEST_QUEUE, req.head, len);
        Ok(())
    }

    /// Guest-physical addresses of the 4 KiB pages the device wrote since the last call
    /// (see [`super::VirtioBlk::take_dirty_pages`]).
    pub fn take_dirty_pages(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.core.dirty).into_iter().collect()
    }

    /// Requests in flight, in id order (to ask the backend again after a restore
    /// outside replay).
    pub fn in_flight_requests(&self) -> Vec<RngRequest> {
        self.in_flight
            .values()
            .map(|r| RngRequest {
                id: r.id,
                len: r.len,
            })
            .collect()
    }

    pub fn state(&self) -> VirtioRngState {
        VirtioRngState {
            transport: self.core.transport.state(),
            next_id: self.core.next_id,
            in_flight: self.in_flight.values().cloned().collect(),
        }
    }

    pub fn from_state(mem: M, backend: B, state: &VirtioRngState) -> Result<Self, VirtioError> {
        let mut dev = Self::new(mem, backend)?;
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
            if !chain::in_ram(&dev.core.mem, &r.segs, Permissions::Write) {
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
