//! virtio-net at register level: feature and configuration space, transmit chains to
//! frames, received frames into buffers, the backlog, bad chains, state round trip.

mod virtio_common;

use reprise_devices::virtio::net::{
    features, BACKLOG_FRAMES, HDR_LEN, MAX_FRAME, NET_QUEUE_SIZE, RX_QUEUE, TX_QUEUE,
};
use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{
    feature, interrupt, status, DriverError, NetBackend, NetConfig, VirtioNet,
};
use virtio_common::{ram, write_driver_features, Mem, Mmio, F_NEXT, F_WRITE};
use vm_memory::{Bytes, GuestAddress};

const QSIZE: u16 = 8;

/// Descriptor table, available and used ring of each queue.
const RINGS: [(u64, u64, u64); 2] = [(0x1000, 0x2000, 0x3000), (0x4000, 0x5000, 0x6000)];
const BUF: u64 = 0x10000;

#[derive(Default)]
struct Wire {
    sent: Vec<Vec<u8>>,
}

impl NetBackend for Wire {
    fn transmit(&mut self, frame: Vec<u8>) {
        self.sent.push(frame);
    }
}

type Net = VirtioNet<Mem, Wire>;

impl Mmio for Net {
    fn read_bytes(&self, offset: u64, data: &mut [u8]) {
        self.mmio_read(offset, data)
    }
    fn write_bytes(&mut self, offset: u64, data: &[u8]) {
        self.mmio_write(offset, data)
    }
}

/// The driver side of one queue.
struct Q {
    mem: Mem,
    index: u16,
    avail_idx: u16,
    next_desc: u16,
    used_seen: u16,
}

impl Q {
    fn new(mem: &Mem, index: u16) -> Q {
        Q {
            mem: mem.clone(),
            index,
            avail_idx: 0,
            next_desc: 0,
            used_seen: 0,
        }
    }
    fn rings(&self) -> (u64, u64, u64) {
        RINGS[usize::from(self.index)]
    }
    fn desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..16].copy_from_slice(&next.to_le_bytes());
        let at = self.rings().0 + 16 * u64::from(i);
        self.mem.write_slice(&d, GuestAddress(at)).unwrap();
    }
    /// A chain of `(addr, len, writable)` buffers; returns its head.
    fn chain(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (k, &(addr, len, w)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let mut flags = if w { F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= F_NEXT;
            }
            self.desc(i, addr, len, flags, (i + 1) % QSIZE);
        }
        self.next_desc = (head + bufs.len() as u16) % QSIZE;
        head
    }
    fn push(&mut self, head: u16) {
        let avail = self.rings().1;
        let slot = avail + 4 + 2 * u64::from(self.avail_idx % QSIZE);
        self.mem.write_obj(head, GuestAddress(slot)).unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem
            .write_obj(self.avail_idx, GuestAddress(avail + 2))
            .unwrap();
    }
    fn take_used(&mut self) -> Vec<(u32, u32)> {
        let used = self.rings().2;
        let idx: u16 = self.mem.read_obj(GuestAddress(used + 2)).unwrap();
        let mut out = Vec::new();
        while self.used_seen != idx {
            let at = used + 4 + 8 * u64::from(self.used_seen % QSIZE);
            let id: u32 = self.mem.read_obj(GuestAddress(at)).unwrap();
            let len: u32 = self.mem.read_obj(GuestAddress(at + 4)).unwrap();
            out.push((id, len));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }
}

fn write(mem: &Mem, addr: u64, data: &[u8]) {
    mem.write_slice(data, GuestAddress(addr)).unwrap();
}

fn read(mem: &Mem, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
    v
}

fn new_dev(mem: &Mem) -> Net {
    VirtioNet::new(&NetConfig::default(), mem.clone(), Wire::default()).unwrap()
}

/// Initialises the device with both queues and the offered features (less
/// INDIRECT_DESC, which the tests do not use).
fn bring_up(dev: &mut Net) {
    dev.wr(reg::STATUS, 0);
    dev.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    write_driver_features(dev, features::MAC | features::STATUS | feature::VERSION_1);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    dev.wr(reg::STATUS, s);
    assert_eq!(dev.rd(reg::STATUS), s, "features accepted");
    for (i, &(d, a, u)) in RINGS.iter().enumerate() {
        dev.wr(reg::QUEUE_SEL, i as u32);
        assert_eq!(dev.rd(reg::QUEUE_NUM_MAX), u32::from(NET_QUEUE_SIZE));
        dev.wr(reg::QUEUE_NUM, u32::from(QSIZE));
        dev.wr(reg::QUEUE_DESC_LOW, d as u32);
        dev.wr(reg::QUEUE_DRIVER_LOW, a as u32);
        dev.wr(reg::QUEUE_DEVICE_LOW, u as u32);
        dev.wr(reg::QUEUE_READY, 1);
    }
    dev.wr(reg::STATUS, s | status::DRIVER_OK);
}

fn rig() -> (Mem, Net, Q, Q) {
    let mem = ram();
    write(&mem, 0x1000, &[0u8; 0x6000 + 0x100]);
    let mut dev = new_dev(&mem);
    bring_up(&mut dev);
    let rx = Q::new(&mem, RX_QUEUE);
    let tx = Q::new(&mem, TX_QUEUE);
    (mem, dev, rx, tx)
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[test]
fn identity_features_and_config_space() {
    let mem = ram();
    let mut dev = new_dev(&mem);
    assert_eq!(dev.rd(reg::DEVICE_ID), 1);
    let f = virtio_common::device_features(&mut dev);
    assert_eq!(
        f,
        features::MAC | features::STATUS | feature::RING_INDIRECT_DESC | feature::VERSION_1
    );
    assert_eq!(
        f & (features::MRG_RXBUF | features::CTRL_VQ | 1),
        0,
        "no offloads"
    );
    let mut mac = [0u8; 6];
    dev.read_bytes(reg::CONFIG, &mut mac);
    assert_eq!(mac, NetConfig::default().mac);
    let mut st = [0u8; 2];
    dev.read_bytes(reg::CONFIG + 6, &mut st);
    assert_eq!(u16::from_le_bytes(st), 1, "link up");
}

#[test]
fn transmit_gathers_descriptors_and_strips_the_header() {
    let (mem, mut dev, _rx, mut tx) = rig();
    let f = frame(100, 3);
    write(&mem, BUF, &[0u8; HDR_LEN]);
    write(&mem, BUF + 0x100, &f[..40]);
    write(&mem, BUF + 0x200, &f[40..]);
    let head = tx.chain(&[
        (BUF, HDR_LEN as u32, false),
        (BUF + 0x100, 40, false),
        (BUF + 0x200, 60, false),
    ]);
    tx.push(head);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE));
    assert_eq!(dev.backend().sent, vec![f]);
    assert_eq!(tx.take_used(), vec![(u32::from(head), 0)]);
    assert_eq!(dev.rd(reg::INTERRUPT_STATUS), interrupt::USED_BUFFER);
    assert_eq!(dev.stats().tx_frames, 1);
    // Header and frame in one descriptor.
    write(&mem, BUF + 0x1000, &[0u8; HDR_LEN]);
    write(&mem, BUF + 0x1000 + HDR_LEN as u64, &frame(60, 9));
    let head = tx.chain(&[(BUF + 0x1000, (HDR_LEN + 60) as u32, false)]);
    tx.push(head);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE));
    assert_eq!(dev.backend().sent[1], frame(60, 9));
}

#[test]
fn bad_transmit_chains_are_consumed_and_dropped() {
    let (mem, mut dev, _rx, mut tx) = rig();
    // Oversized: one byte more than MAX_FRAME.
    let big = HDR_LEN + MAX_FRAME + 1;
    write(&mem, BUF, &vec![0u8; big]);
    let a = tx.chain(&[(BUF, big as u32, false)]);
    tx.push(a);
    // Header only.
    let b = tx.chain(&[(BUF, HDR_LEN as u32, false)]);
    tx.push(b);
    // Outside RAM.
    let c = tx.chain(&[(0x10_0000 - 8, 200, false)]);
    tx.push(c);
    // Segmentation offload asked for (never negotiated).
    let mut hdr = [0u8; HDR_LEN];
    hdr[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
    write(&mem, BUF + 0x30000, &hdr);
    write(&mem, BUF + 0x30000 + HDR_LEN as u64, &frame(60, 1));
    let d = tx.chain(&[(BUF + 0x30000, (HDR_LEN + 60) as u32, false)]);
    tx.push(d);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE));
    assert!(dev.backend().sent.is_empty());
    let used = tx.take_used();
    assert_eq!(used.len(), 4, "every chain is returned");
    assert!(used.iter().all(|&(_, len)| len == 0));
    assert_eq!(dev.stats().tx_dropped, 4);
    assert_eq!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
    // The largest legal frame goes through.
    let ok = HDR_LEN + MAX_FRAME;
    let e = tx.chain(&[(BUF, ok as u32, false)]);
    tx.push(e);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE));
    assert_eq!(dev.backend().sent.len(), 1);
    assert_eq!(dev.backend().sent[0].len(), MAX_FRAME);
}

#[test]
fn looping_transmit_chain_needs_reset() {
    let (_mem, mut dev, _rx, mut tx) = rig();
    tx.desc(0, BUF, 100, F_NEXT, 0);
    tx.push(0);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE));
    assert_ne!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
    assert!(matches!(
        dev.driver_error(),
        Some(DriverError::BrokenChain { queue: 1, .. })
    ));
    assert_ne!(dev.rd(reg::INTERRUPT_STATUS) & interrupt::CONFIG_CHANGE, 0);
    // Frames are not delivered to a device that needs a reset; a reset recovers.
    dev.receive(frame(60, 0));
    dev.wr(reg::STATUS, 0);
    assert_eq!(dev.backlog_len(), 0, "reset drops the backlog");
    // The rings restart at 0 after the reset; the driver fixes its descriptor and
    // the chain (still available) is sent when the device starts again.
    write(&tx.mem, BUF, &[0u8; HDR_LEN + 60]);
    tx.desc(0, BUF, (HDR_LEN + 60) as u32, 0, 0);
    bring_up(&mut dev);
    assert_eq!(dev.backend().sent.len(), 1);
    assert_eq!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn receive_fills_a_buffer_with_header_and_frame() {
    let (mem, mut dev, mut rx, _tx) = rig();
    write(&mem, BUF, &[0xee; 2048]);
    let head = rx.chain(&[(BUF, 8, true), (BUF + 0x400, 1600, true)]);
    rx.push(head);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE));
    dev.wr(reg::INTERRUPT_ACK, 3);
    let f = frame(300, 5);
    dev.receive(f.clone());
    let used = rx.take_used();
    assert_eq!(used, vec![(u32::from(head), (HDR_LEN + 300) as u32)]);
    let mut got = read(&mem, BUF, 8);
    got.extend(read(&mem, BUF + 0x400, HDR_LEN - 8 + 300));
    let mut want = vec![0u8; HDR_LEN];
    want[10] = 1; // num_buffers
    want.extend(&f);
    assert_eq!(got, want);
    assert_eq!(
        read(&mem, BUF + 0x400 + 304, 1),
        vec![0xee],
        "nothing past the frame"
    );
    assert!(dev.irq_level());
    assert_eq!(dev.stats().rx_frames, 1);
    let pages = dev.take_dirty_pages();
    assert!(
        pages.contains(&BUF) && pages.contains(&RINGS[0].2),
        "{pages:x?}"
    );
}

#[test]
fn frames_wait_for_buffers_then_overflow() {
    let (mem, mut dev, mut rx, _tx) = rig();
    for i in 0..BACKLOG_FRAMES + 5 {
        dev.receive(frame(64, i as u8));
    }
    assert_eq!(dev.backlog_len(), BACKLOG_FRAMES);
    assert_eq!(dev.stats().rx_dropped, 5);
    // Two buffers: the two oldest frames, in order.
    let a = rx.chain(&[(BUF, 128, true)]);
    let b = rx.chain(&[(BUF + 0x100, 128, true)]);
    rx.push(a);
    rx.push(b);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE));
    assert_eq!(rx.take_used().len(), 2);
    assert_eq!(read(&mem, BUF + HDR_LEN as u64, 64), frame(64, 0));
    assert_eq!(read(&mem, BUF + 0x100 + HDR_LEN as u64, 64), frame(64, 1));
    assert_eq!(dev.backlog_len(), BACKLOG_FRAMES - 2);
}

#[test]
fn too_small_buffers_and_bad_frames_are_dropped() {
    let (mem, mut dev, mut rx, _tx) = rig();
    write(&mem, BUF, &[0xee; 64]);
    let a = rx.chain(&[(BUF, 40, true)]);
    rx.push(a);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE));
    dev.receive(frame(60, 0));
    assert_eq!(rx.take_used(), vec![(u32::from(a), 0)]);
    assert_eq!(read(&mem, BUF, 1), vec![0xee], "nothing written");
    dev.receive(vec![0; MAX_FRAME + 1]);
    dev.receive(Vec::new());
    assert_eq!(dev.stats().rx_dropped, 3);
    assert_eq!(dev.backlog_len(), 0);
    assert_eq!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn receive_buffer_outside_ram_needs_reset() {
    let (_mem, mut dev, mut rx, _tx) = rig();
    let a = rx.chain(&[(0x10_0000 - 16, 2048, true)]);
    rx.push(a);
    dev.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE));
    dev.receive(frame(60, 0));
    assert_ne!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn state_round_trips_with_the_backlog() {
    let (mem, mut dev, mut rx, _tx) = rig();
    dev.receive(frame(70, 1));
    dev.receive(frame(80, 2));
    let st = dev.state();
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&st, cfg).unwrap();
    let (back, _): (reprise_devices::virtio::VirtioNetState, _) =
        bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    assert_eq!(back, st);
    let mut dev2 =
        VirtioNet::from_state(&NetConfig::default(), mem.clone(), Wire::default(), &back).unwrap();
    assert_eq!(dev2.backlog_len(), 2);
    assert_eq!(dev2.state(), st);
    let a = rx.chain(&[(BUF, 256, true)]);
    rx.push(a);
    dev2.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE));
    assert_eq!(rx.take_used(), vec![(u32::from(a), (HDR_LEN + 70) as u32)]);
    // A state with an impossible backlog is refused.
    let mut bad = st.clone();
    bad.backlog = vec![vec![0; 10]; BACKLOG_FRAMES + 1];
    assert!(VirtioNet::from_state(&NetConfig::default(), mem, Wire::default(), &bad).is_err());
}

#[test]
fn garbage_rings_never_panic_or_escape_ram() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let (mem, mut dev, _rx, _tx) = rig();
        // Random descriptor tables and available rings for both queues.
        for &(d, a, _) in &RINGS {
            let mut table = vec![0u8; 16 * usize::from(QSIZE)];
            for (i, b) in table.iter_mut().enumerate() {
                *b = (next() >> (i % 8)) as u8;
            }
            // Keep some addresses inside RAM so that chains get further.
            for i in 0..usize::from(QSIZE) {
                if next() % 2 == 0 {
                    let addr = BUF + (next() % 0x8_0000);
                    table[16 * i..16 * i + 8].copy_from_slice(&addr.to_le_bytes());
                }
            }
            write(&mem, d, &table);
            let mut ring = vec![0u8; 4 + 2 * usize::from(QSIZE)];
            for b in ring.iter_mut() {
                *b = next() as u8;
            }
            write(&mem, a, &ring);
        }
        for _ in 0..4 {
            match next() % 3 {
                0 => dev.wr(reg::QUEUE_NOTIFY, u32::from(TX_QUEUE)),
                1 => dev.wr(reg::QUEUE_NOTIFY, u32::from(RX_QUEUE)),
                _ => dev.receive(vec![round as u8; (next() % 2000) as usize]),
            }
        }
        assert!(dev.backend().sent.iter().all(|f| f.len() <= MAX_FRAME));
        assert!(dev.backlog_len() <= BACKLOG_FRAMES);
    }
}
