//! What every virtio device here shares: the transport, guest memory, request ids, and
//! the two queue operations devices use (take a checked chain, return a used one).

use super::chain::{self, Chain, Segment};
use super::transport::MmioTransport;
use std::collections::BTreeSet;
use vm_memory::GuestMemory;

/// Granularity of the dirty-page report.
pub const PAGE_SIZE: u64 = 4096;

/// At most this many chains are taken from a queue per notification (a safety net: the
/// available ring can hold at most 32768 new entries, checked by `virtio_queue`).
const MAX_CHAINS_PER_NOTIFY: usize = 1 << 16;

#[derive(Debug)]
pub(crate) struct Core<M> {
    pub transport: MmioTransport,
    pub mem: M,
    /// Next request id. Ids are never reused, not even across device reset, so a
    /// completion for a request the driver reset away cannot match a new request.
    pub next_id: u64,
    /// Guest-physical page addresses the device wrote since the machine last asked.
    pub dirty: BTreeSet<u64>,
}

impl<M: GuestMemory> Core<M> {
    pub fn new(transport: MmioTransport, mem: M) -> Self {
        Core {
            transport,
            mem,
            next_id: 0,
            dirty: BTreeSet::new(),
        }
    }

    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Calls `f` for each available chain of `queue` while the device is running. A
    /// malformed queue or chain marks the device as needing reset and stops.
    /// `f` returns `false` to stop early.
    pub fn drain<F>(&mut self, queue: u16, mut f: F)
    where
        F: FnMut(&mut Self, Chain) -> bool,
    {
        for _ in 0..MAX_CHAINS_PER_NOTIFY {
            if !self.transport.is_running() {
                return;
            }
            let Some(q) = self.transport.queue_mut(queue) else {
                return;
            };
            match q.pop(&self.mem) {
                Ok(None) => return,
                Ok(Some(chain)) => {
                    if !f(self, chain) {
                        return;
                    }
                }
                Err(e) => {
                    self.transport.fail(e);
                    return;
                }
            }
        }
    }

    /// Scatters `data` over `segs` in guest memory (see [`chain::write_from`]) and notes
    /// the pages touched.
    pub fn write(
        &mut self,
        segs: &[Segment],
        data: &[u8],
    ) -> Result<usize, vm_memory::GuestMemoryError> {
        let n = match chain::write_from(&self.mem, segs, data) {
            Ok(n) => n,
            Err(e) => {
                // Part may have been written: report every segment.
                for s in segs {
                    self.mark(s.addr, u64::from(s.len));
                }
                return Err(e);
            }
        };
        let mut left = n as u64;
        for s in segs {
            if left == 0 {
                break;
            }
            let len = left.min(u64::from(s.len));
            self.mark(s.addr, len);
            left -= len;
        }
        Ok(n)
    }

    fn mark(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = addr / PAGE_SIZE;
        let last = addr.saturating_add(len - 1) / PAGE_SIZE;
        for page in first..=last {
            self.dirty.insert(page * PAGE_SIZE);
        }
    }

    /// Returns chain `head` to the driver with `len` bytes written, raising the used
    /// buffer interrupt unless the driver suppressed it.
    pub fn finish(&mut self, queue: u16, head: u16, len: u32) {
        let Some(q) = self.transport.queue_mut(queue) else {
            return;
        };
        let (ring, ring_len) = q.used_ring_span();
        let result = q.add_used(&self.mem, head, len);
        self.mark(ring, ring_len);
        match result {
            Ok(true) => self.transport.signal_used(),
            Ok(false) => {}
            Err(e) => self.transport.fail(e),
        }
    }
}
