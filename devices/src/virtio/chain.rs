//! Descriptor chains as checked lists of guest-memory segments.
//!
//! `Chain::walk` follows a chain with `virtio_queue`'s iterator (which stops on loops,
//! chains longer than the table, next indices out of range and bad indirect tables) and
//! tells a chain that ended properly from one that was cut short: the last descriptor it
//! yielded must not carry the NEXT flag. Devices never assume how the driver split its
//! buffers into descriptors (spec §2.7.4, "message framing"): they look at the
//! device-readable bytes and the device-writable bytes as two streams, cut with
//! [`split_front`] and [`split_back`].

use super::DriverError;
use serde::{Deserialize, Serialize};
use std::ops::Deref;
use virtio_queue::DescriptorChain;
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

/// `len` bytes of guest physical memory at `addr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub addr: u64,
    pub len: u32,
}

/// A well-formed descriptor chain: its head index, its device-readable segments, then
/// its device-writable segments (zero-length descriptors dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub queue: u16,
    pub head: u16,
    pub readable: Vec<Segment>,
    pub writable: Vec<Segment>,
    /// Some buffer does not lie entirely inside guest RAM.
    pub outside_ram: bool,
}

impl Chain {
    pub(crate) fn walk<M, D>(
        queue: u16,
        mut chain: DescriptorChain<D>,
    ) -> Result<Chain, DriverError>
    where
        M: GuestMemory + ?Sized,
        D: Deref<Target = M>,
    {
        let head = chain.head_index();
        let mut out = Chain {
            queue,
            head,
            readable: Vec::new(),
            writable: Vec::new(),
            outside_ram: false,
        };
        let mut yielded = false;
        let mut last_has_next = false;
        let mut order_broken = false;
        while let Some(desc) = chain.next() {
            yielded = true;
            last_has_next = desc.has_next();
            if desc.len() == 0 {
                continue;
            }
            let seg = Segment {
                addr: desc.addr().0,
                len: desc.len(),
            };
            let access = if desc.is_write_only() {
                Permissions::Write
            } else {
                Permissions::Read
            };
            if !chain
                .memory()
                .check_range(desc.addr(), seg.len as usize, access)
            {
                out.outside_ram = true;
            }
            if desc.is_write_only() {
                out.writable.push(seg);
            } else if out.writable.is_empty() {
                out.readable.push(seg);
            } else {
                order_broken = true;
            }
        }
        if !yielded || last_has_next {
            return Err(DriverError::BrokenChain { queue, head });
        }
        if order_broken {
            return Err(DriverError::DescriptorOrder { queue, head });
        }
        Ok(out)
    }
}

/// Total bytes in `segs`.
pub fn total(segs: &[Segment]) -> u64 {
    segs.iter().map(|s| u64::from(s.len)).sum()
}

/// The first `n` bytes of `segs` and the rest, or `None` if there are fewer than `n`.
pub fn split_front(segs: &[Segment], n: u64) -> Option<(Vec<Segment>, Vec<Segment>)> {
    let mut front = Vec::new();
    let mut rest = Vec::new();
    let mut need = n;
    for s in segs {
        if need == 0 {
            rest.push(*s);
        } else if u64::from(s.len) <= need {
            need -= u64::from(s.len);
            front.push(*s);
        } else {
            // need < s.len here, so it fits in u32.
            let take = u32::try_from(need).ok()?;
            front.push(Segment {
                addr: s.addr,
                len: take,
            });
            rest.push(Segment {
                addr: s.addr.checked_add(u64::from(take))?,
                len: s.len - take,
            });
            need = 0;
        }
    }
    (need == 0).then_some((front, rest))
}

/// All but the last `n` bytes of `segs`, and the last `n`, or `None` if there are fewer.
pub fn split_back(segs: &[Segment], n: u64) -> Option<(Vec<Segment>, Vec<Segment>)> {
    let len = total(segs);
    split_front(segs, len.checked_sub(n)?)
}

/// Whether every segment lies inside guest memory.
pub fn in_ram<M: GuestMemory + ?Sized>(mem: &M, segs: &[Segment], access: Permissions) -> bool {
    segs.iter()
        .all(|s| mem.check_range(GuestAddress(s.addr), s.len as usize, access))
}

/// Appends the bytes of `segs` to `out`. Fails (appending nothing useful) if a segment
/// is outside guest memory.
pub fn read_into<M: GuestMemory + ?Sized>(
    mem: &M,
    segs: &[Segment],
    out: &mut Vec<u8>,
) -> Result<(), vm_memory::GuestMemoryError> {
    for s in segs {
        let start = out.len();
        out.resize(start + s.len as usize, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        mem.read_slice(dst, GuestAddress(s.addr))?;
    }
    Ok(())
}

/// Scatters `data` over `segs`, stopping at whichever ends first. Returns the bytes
/// written.
pub fn write_from<M: GuestMemory + ?Sized>(
    mem: &M,
    segs: &[Segment],
    data: &[u8],
) -> Result<usize, vm_memory::GuestMemoryError> {
    let mut done = 0usize;
    for s in segs {
        let rest = data.get(done..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(s.len as usize);
        mem.write_slice(rest.get(..n).unwrap_or_default(), GuestAddress(s.addr))?;
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(addr: u64, len: u32) -> Segment {
        Segment { addr, len }
    }

    #[test]
    fn split_front_cuts_inside_a_segment() {
        let segs = [seg(0x1000, 10), seg(0x2000, 10)];
        let (a, b) = split_front(&segs, 14).expect("20 bytes hold 14");
        assert_eq!(a, vec![seg(0x1000, 10), seg(0x2000, 4)]);
        assert_eq!(b, vec![seg(0x2004, 6)]);
        assert!(split_front(&segs, 21).is_none());
        let (a, b) = split_front(&segs, 20).expect("exact");
        assert_eq!((a.len(), b.len()), (2, 0));
    }

    #[test]
    fn split_back_takes_the_last_byte() {
        let segs = [seg(0x1000, 512), seg(0x3000, 1)];
        let (data, status) = split_back(&segs, 1).expect("has a byte");
        assert_eq!(data, vec![seg(0x1000, 512)]);
        assert_eq!(status, vec![seg(0x3000, 1)]);
        let one = [seg(0x1000, 513)];
        let (data, status) = split_back(&one, 1).expect("has a byte");
        assert_eq!(data, vec![seg(0x1000, 512)]);
        assert_eq!(status, vec![seg(0x1200, 1)]);
        assert!(split_back(&[], 1).is_none());
    }
}
