//! A test-side virtio driver: sets a device up through its registers, writes descriptor
//! tables and rings into the test's own guest memory, and reads the used ring back.
#![allow(dead_code)]

use reprise_devices::virtio::blk::{BlkConfig, BlkRequest, BlkRequestKind, BlkStatus};
use reprise_devices::virtio::rng::RngRequest;
use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{
    feature, status, BlockBackend, EntropyBackend, VirtioBlk, VirtioRng,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub type Mem = GuestMemoryMmap<()>;

pub const RAM_SIZE: u64 = 0x10_0000;
pub const DESC: u64 = 0x1000;
pub const AVAIL: u64 = 0x3000;
pub const USED: u64 = 0x4000;
/// Data buffers from here on.
pub const BUF: u64 = 0x10000;

/// 1 MiB of RAM at 0 (and nothing above).
pub fn ram() -> Mem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM_SIZE as usize)]).expect("test RAM")
}

pub const F_NEXT: u16 = 1;
pub const F_WRITE: u16 = 2;
pub const F_INDIRECT: u16 = 4;

/// Register access the tests need from any device.
pub trait Mmio {
    fn read_bytes(&self, offset: u64, data: &mut [u8]);
    fn write_bytes(&mut self, offset: u64, data: &[u8]);
    fn rd(&self, offset: u64) -> u32 {
        let mut b = [0u8; 4];
        self.read_bytes(offset, &mut b);
        u32::from_le_bytes(b)
    }
    fn wr(&mut self, offset: u64, value: u32) {
        self.write_bytes(offset, &value.to_le_bytes());
    }
}

impl<B: BlockBackend> Mmio for VirtioBlk<Mem, B> {
    fn read_bytes(&self, offset: u64, data: &mut [u8]) {
        self.mmio_read(offset, data)
    }
    fn write_bytes(&mut self, offset: u64, data: &[u8]) {
        self.mmio_write(offset, data)
    }
}

impl<B: EntropyBackend> Mmio for VirtioRng<Mem, B> {
    fn read_bytes(&self, offset: u64, data: &mut [u8]) {
        self.mmio_read(offset, data)
    }
    fn write_bytes(&mut self, offset: u64, data: &[u8]) {
        self.mmio_write(offset, data)
    }
}

/// Reads the 64-bit feature set the device offers.
pub fn device_features(d: &mut impl Mmio) -> u64 {
    d.wr(reg::DEVICE_FEATURES_SEL, 0);
    let lo = d.rd(reg::DEVICE_FEATURES);
    d.wr(reg::DEVICE_FEATURES_SEL, 1);
    let hi = d.rd(reg::DEVICE_FEATURES);
    u64::from(lo) | (u64::from(hi) << 32)
}

pub fn write_driver_features(d: &mut impl Mmio, f: u64) {
    d.wr(reg::DRIVER_FEATURES_SEL, 0);
    d.wr(reg::DRIVER_FEATURES, f as u32);
    d.wr(reg::DRIVER_FEATURES_SEL, 1);
    d.wr(reg::DRIVER_FEATURES, (f >> 32) as u32);
}

/// Queue 0 at DESC/AVAIL/USED with `size` entries.
pub fn setup_queue(d: &mut impl Mmio, size: u32) {
    d.wr(reg::QUEUE_SEL, 0);
    d.wr(reg::QUEUE_NUM, size);
    d.wr(reg::QUEUE_DESC_LOW, DESC as u32);
    d.wr(reg::QUEUE_DESC_HIGH, 0);
    d.wr(reg::QUEUE_DRIVER_LOW, AVAIL as u32);
    d.wr(reg::QUEUE_DRIVER_HIGH, 0);
    d.wr(reg::QUEUE_DEVICE_LOW, USED as u32);
    d.wr(reg::QUEUE_DEVICE_HIGH, 0);
    d.wr(reg::QUEUE_READY, 1);
}

/// The driver initialisation sequence of spec §3.1.1, accepting all offered features,
/// one queue of `size` entries.
pub fn bring_up(d: &mut impl Mmio, size: u32) {
    d.wr(reg::STATUS, 0);
    d.wr(reg::STATUS, status::ACKNOWLEDGE);
    d.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let f = device_features(d);
    assert_ne!(f & feature::VERSION_1, 0, "modern device offers VERSION_1");
    write_driver_features(d, f);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    d.wr(reg::STATUS, s);
    assert_eq!(d.rd(reg::STATUS), s, "features accepted");
    setup_queue(d, size);
    assert_eq!(d.rd(reg::QUEUE_READY), 1);
    d.wr(reg::STATUS, s | status::DRIVER_OK);
    assert_eq!(d.rd(reg::STATUS), s | status::DRIVER_OK);
}

/// The driver side of one split queue.
pub struct Ring {
    pub mem: Mem,
    pub size: u16,
    pub avail_idx: u16,
    pub next_desc: u16,
    pub used_seen: u16,
}

impl Ring {
    pub fn new(mem: &Mem, size: u16) -> Self {
        let r = Ring {
            mem: mem.clone(),
            size,
            avail_idx: 0,
            next_desc: 0,
            used_seen: 0,
        };
        // Clean rings.
        let zeros = vec![0u8; 0x4000];
        mem.write_slice(&zeros, GuestAddress(DESC))
            .expect("zero rings");
        r
    }

    pub fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        self.set_desc_at(DESC, i, addr, len, flags, next);
    }

    pub fn set_desc_at(&self, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..16].copy_from_slice(&next.to_le_bytes());
        self.mem
            .write_slice(&d, GuestAddress(table + 16 * u64::from(i)))
            .expect("descriptor in RAM");
    }

    /// Writes a chain of buffers `(addr, len, device_writable)` into consecutive
    /// descriptors; returns the head.
    pub fn chain(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (k, &(addr, len, w)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % self.size;
            let last = k + 1 == bufs.len();
            let mut flags = if w { F_WRITE } else { 0 };
            if !last {
                flags |= F_NEXT;
            }
            self.set_desc(i, addr, len, flags, (i + 1) % self.size);
        }
        self.next_desc = (head + bufs.len() as u16) % self.size;
        head
    }

    /// Makes `head` available (does not notify).
    pub fn push(&mut self, head: u16) {
        let slot = AVAIL + 4 + 2 * u64::from(self.avail_idx % self.size);
        self.mem
            .write_obj(head.to_le(), GuestAddress(slot))
            .expect("avail ring");
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem
            .write_obj(self.avail_idx.to_le(), GuestAddress(AVAIL + 2))
            .expect("avail idx");
    }

    pub fn set_avail_flags(&self, flags: u16) {
        self.mem
            .write_obj(flags.to_le(), GuestAddress(AVAIL))
            .expect("avail flags");
    }

    pub fn used_idx(&self) -> u16 {
        self.mem
            .read_obj::<u16>(GuestAddress(USED + 2))
            .expect("used idx")
    }

    /// Used element `n` (free-running index): (id, len).
    pub fn used(&self, n: u16) -> (u32, u32) {
        let at = USED + 4 + 8 * u64::from(n % self.size);
        let id: u32 = self.mem.read_obj(GuestAddress(at)).expect("used elem");
        let len: u32 = self.mem.read_obj(GuestAddress(at + 4)).expect("used elem");
        (id, len)
    }

    /// New used elements since the last call.
    pub fn take_used(&mut self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        while self.used_seen != self.used_idx() {
            out.push(self.used(self.used_seen));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }

    pub fn write(&self, addr: u64, data: &[u8]) {
        self.mem.write_slice(data, GuestAddress(addr)).expect("RAM");
    }

    pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.mem
            .read_slice(&mut v, GuestAddress(addr))
            .expect("RAM");
        v
    }

    pub fn byte(&self, addr: u64) -> u8 {
        self.read(addr, 1)[0]
    }
}

/// A virtio-blk request header.
pub fn blk_header(kind: u32, sector: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&kind.to_le_bytes());
    h[8..16].copy_from_slice(&sector.to_le_bytes());
    h
}

/// A block backend that queues requests for the test to run.
#[derive(Default)]
pub struct QueuedDisk {
    pub pending: Vec<BlkRequest>,
    pub submitted: usize,
}

impl BlockBackend for QueuedDisk {
    fn submit(&mut self, request: BlkRequest) {
        self.submitted += 1;
        self.pending.push(request);
    }
}

/// Runs every pending request against `disk` and completes it, in submission order.
pub fn run_disk(dev: &mut VirtioBlk<Mem, QueuedDisk>, disk: &mut [u8]) -> usize {
    let reqs = std::mem::take(&mut dev.backend_mut().pending);
    let n = reqs.len();
    for r in reqs {
        let start = (r.sector * 512) as usize;
        let end = start + r.len as usize;
        match r.kind {
            BlkRequestKind::Read => {
                let data = disk[start..end].to_vec();
                dev.complete(r.id, BlkStatus::Ok, &data).expect("in flight");
            }
            BlkRequestKind::Write => {
                disk[start..end].copy_from_slice(&r.data);
                dev.complete(r.id, BlkStatus::Ok, &[]).expect("in flight");
            }
            BlkRequestKind::Flush => dev.complete(r.id, BlkStatus::Ok, &[]).expect("in flight"),
        }
    }
    n
}

pub fn blk(mem: &Mem, capacity_sectors: u64) -> VirtioBlk<Mem, QueuedDisk> {
    let mut cfg = BlkConfig::new(capacity_sectors);
    cfg.serial = b"reprise-disk-0".to_vec();
    VirtioBlk::new(cfg, mem.clone(), QueuedDisk::default()).expect("valid config")
}

/// An entropy backend that queues requests.
#[derive(Default)]
pub struct QueuedEntropy {
    pub pending: Vec<RngRequest>,
}

impl EntropyBackend for QueuedEntropy {
    fn request(&mut self, request: RngRequest) {
        self.pending.push(request);
    }
}

/// A deterministic pseudo-random source for the garbage tests (xorshift64*).
pub struct Rand(pub u64);

impl Rand {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
