//! What every virtio device here shares: the transport, guest memory, request ids, and
//! the two queue operations devices use (take a checked chain, return a used one).

use super::chain::Chain;
use super::transport::MmioTransport;
use vm_memory::GuestMemory;

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
}

impl<M: GuestMemory> Core<M> {
    pub fn new(transport: MmioTransport, mem: M) -> Self {
        Core {
            transport,
            mem,
            next_id: 0,
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

    /// Returns chain `head` to the driver with `len` bytes written, raising the used
    /// buffer interrupt unless the driver suppressed it.
    pub fn finish(&mut self, queue: u16, head: u16, len: u32) {
        let Some(q) = self.transport.queue_mut(queue) else {
            return;
        };
        match q.add_used(&self.mem, head, len) {
            Ok(true) => self.transport.signal_used(),
            Ok(false) => {}
            Err(e) => self.transport.fail(e),
        }
    }
}
