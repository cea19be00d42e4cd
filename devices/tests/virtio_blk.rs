//! virtio-blk end to end: the test plays the driver (descriptors in its own guest
//! memory) and the machine (an in-memory disk completing the requests).

mod virtio_common;

use reprise_devices::virtio::blk::{
    BlkConfig, BlkRequestKind, BlkStatus, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN,
    VIRTIO_BLK_T_OUT,
};
use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{interrupt, status, DriverError, VirtioBlk, VirtioError};
use virtio_common::*;

const QSIZE: u16 = 16;
const SECTORS: u64 = 64;
const HDR: u64 = BUF;
const DATA: u64 = BUF + 0x1000;
const STATUS: u64 = BUF + 0x8000;

fn disk() -> Vec<u8> {
    (0..SECTORS as usize * 512)
        .map(|i| (i * 7 + i / 512) as u8)
        .collect()
}

struct Rig {
    mem: Mem,
    dev: VirtioBlk<Mem, QueuedDisk>,
    ring: Ring,
    disk: Vec<u8>,
}

fn rig_with(cfg: BlkConfig) -> Rig {
    let mem = ram();
    let mut dev = VirtioBlk::new(cfg, mem.clone(), QueuedDisk::default()).unwrap();
    bring_up(&mut dev, u32::from(QSIZE));
    let ring = Ring::new(&mem, QSIZE);
    Rig {
        mem,
        dev,
        ring,
        disk: disk(),
    }
}

fn rig() -> Rig {
    let mut cfg = BlkConfig::new(SECTORS);
    cfg.serial = b"reprise-disk-0".to_vec();
    rig_with(cfg)
}

impl Rig {
    /// Header, one data buffer (device-writable for reads), status byte; notifies.
    fn request(&mut self, kind: u32, sector: u64, len: u32, data_writable: bool) -> u16 {
        self.ring.write(HDR, &blk_header(kind, sector));
        self.ring.write(STATUS, &[0xff]);
        let mut bufs = vec![(HDR, 16, false)];
        if len > 0 {
            bufs.push((DATA, len, data_writable));
        }
        bufs.push((STATUS, 1, true));
        let head = self.ring.chain(&bufs);
        self.ring.push(head);
        self.dev.wr(reg::QUEUE_NOTIFY, 0);
        head
    }

    fn run(&mut self) -> usize {
        run_disk(&mut self.dev, &mut self.disk)
    }

    fn status_byte(&self) -> u8 {
        self.ring.byte(STATUS)
    }

    fn needs_reset(&self) -> bool {
        self.dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET != 0
    }
}

#[test]
fn read_end_to_end() {
    let mut r = rig();
    let head = r.request(VIRTIO_BLK_T_IN, 3, 1024, true);
    assert_eq!(
        r.ring.used_idx(),
        0,
        "nothing completes before the backend does"
    );
    assert!(!r.dev.irq_level());
    let req = r.dev.backend().pending[0].clone();
    assert_eq!(
        (req.kind, req.sector, req.len),
        (BlkRequestKind::Read, 3, 1024)
    );
    assert_eq!(r.run(), 1);
    assert_eq!(r.ring.read(DATA, 1024), r.disk[3 * 512..5 * 512].to_vec());
    assert_eq!(r.status_byte(), BlkStatus::Ok as u8);
    assert_eq!(r.ring.take_used(), vec![(u32::from(head), 1025)]);
    assert!(r.dev.irq_level());
    assert_eq!(r.dev.rd(reg::INTERRUPT_STATUS), interrupt::USED_BUFFER);
}

#[test]
fn write_then_read_back() {
    let mut r = rig();
    let pattern: Vec<u8> = (0..1536u32).map(|i| (i % 251) as u8).collect();
    r.ring.write(DATA, &pattern);
    r.request(VIRTIO_BLK_T_OUT, 10, 1536, false);
    let req = r.dev.backend().pending[0].clone();
    assert_eq!(req.kind, BlkRequestKind::Write);
    assert_eq!(req.data, pattern, "write data copied from guest memory");
    r.run();
    assert_eq!(r.status_byte(), 0);
    assert_eq!(&r.disk[10 * 512..13 * 512], &pattern[..]);
    assert_eq!(
        r.ring.take_used()[0].1,
        1,
        "a write returns only the status byte"
    );
    r.ring.write(DATA, &[0u8; 1536]);
    r.request(VIRTIO_BLK_T_IN, 10, 1536, true);
    r.run();
    assert_eq!(r.ring.read(DATA, 1536), pattern);
}

#[test]
fn flush_goes_to_the_backend() {
    let mut r = rig();
    r.request(VIRTIO_BLK_T_FLUSH, 0, 0, false);
    assert_eq!(r.dev.backend().pending[0].kind, BlkRequestKind::Flush);
    assert_eq!(r.status_byte(), 0xff, "not done until the backend says so");
    r.run();
    assert_eq!(r.status_byte(), 0);
    assert_eq!(r.ring.take_used().len(), 1);
}

#[test]
fn get_id_is_answered_at_once() {
    let mut r = rig();
    r.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
    assert_eq!(r.dev.backend().submitted, 0);
    let mut want = b"reprise-disk-0".to_vec();
    want.resize(20, 0);
    assert_eq!(r.ring.read(DATA, 20), want);
    assert_eq!(r.status_byte(), 0);
    assert_eq!(r.ring.take_used()[0].1, 21);
    assert!(r.dev.irq_level());
}

#[test]
fn unknown_request_type_is_unsupported() {
    let mut r = rig();
    r.request(11, 0, 512, false); // VIRTIO_BLK_T_DISCARD, not offered
    assert_eq!(r.status_byte(), BlkStatus::Unsupp as u8);
    r.request(0x8000_0000, 0, 0, false);
    assert_eq!(r.status_byte(), BlkStatus::Unsupp as u8);
    assert_eq!(r.dev.backend().submitted, 0);
    assert!(!r.needs_reset());
}

#[test]
fn framing_is_free_header_and_status_split_anyhow() {
    let mut r = rig();
    // Header split over two descriptors; data and status share one writable buffer.
    let h = blk_header(VIRTIO_BLK_T_IN, 7);
    r.ring.write(HDR, &h[..5]);
    r.ring.write(HDR + 0x100, &h[5..]);
    let head = r
        .ring
        .chain(&[(HDR, 5, false), (HDR + 0x100, 11, false), (DATA, 513, true)]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    let req = r.dev.backend().pending[0].clone();
    assert_eq!((req.sector, req.len), (7, 512));
    r.run();
    assert_eq!(r.ring.read(DATA, 512), r.disk[7 * 512..8 * 512].to_vec());
    assert_eq!(
        r.ring.byte(DATA + 512),
        0,
        "status is the last writable byte"
    );
}

#[test]
fn indirect_descriptors() {
    let mut r = rig();
    let table = BUF + 0x9000;
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 1));
    r.ring.set_desc_at(table, 0, HDR, 16, F_NEXT, 1);
    r.ring.set_desc_at(table, 1, DATA, 512, F_NEXT | F_WRITE, 2);
    r.ring.set_desc_at(table, 2, STATUS, 1, F_WRITE, 0);
    r.ring.set_desc(0, table, 48, F_INDIRECT, 0);
    r.ring.push(0);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(r.run(), 1);
    assert_eq!(r.ring.read(DATA, 512), r.disk[512..1024].to_vec());
    assert_eq!(r.status_byte(), 0);
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut cfg = BlkConfig::new(SECTORS);
    cfg.read_only = true;
    let mut r = rig_with(cfg);
    use reprise_devices::virtio::blk::features;
    assert_ne!(device_features(&mut r.dev) & features::RO, 0);
    let before = r.disk.clone();
    r.ring.write(DATA, &[0xaa; 512]);
    r.request(VIRTIO_BLK_T_OUT, 0, 512, false);
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8);
    assert_eq!(r.dev.backend().submitted, 0);
    r.run();
    assert_eq!(r.disk, before);
    // Reads still work.
    r.request(VIRTIO_BLK_T_IN, 0, 512, true);
    r.run();
    assert_eq!(r.status_byte(), 0);
}

#[test]
fn bad_ranges_and_sizes_get_ioerr() {
    let mut cfg = BlkConfig::new(SECTORS);
    cfg.max_request_bytes = 4096;
    cfg.seg_max = 2;
    let mut r = rig_with(cfg);
    let cases: [(u64, u32, &str); 5] = [
        (SECTORS, 512, "first sector past the end"),
        (SECTORS - 1, 1024, "runs past the end"),
        (u64::MAX, 512, "sector + length overflows"),
        (0, 100, "not whole sectors"),
        (0, 8192, "larger than max_request_bytes"),
    ];
    for (sector, len, what) in cases {
        r.request(VIRTIO_BLK_T_IN, sector, len, true);
        assert_eq!(r.status_byte(), BlkStatus::IoErr as u8, "{what}");
        r.request(VIRTIO_BLK_T_OUT, sector, len, false);
        assert_eq!(r.status_byte(), BlkStatus::IoErr as u8, "{what} (write)");
    }
    // Three data segments with seg_max = 2.
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
    let head = r.ring.chain(&[
        (HDR, 16, false),
        (DATA, 512, true),
        (DATA + 0x400, 512, true),
        (DATA + 0x800, 512, true),
        (STATUS, 1, true),
    ]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8, "too many segments");
    assert_eq!(r.dev.backend().submitted, 0);
    // The last sector exactly is fine.
    r.request(VIRTIO_BLK_T_IN, SECTORS - 1, 512, true);
    assert_eq!(r.dev.backend().submitted, 1);
    r.run();
    assert_eq!(r.status_byte(), 0);
    assert!(!r.needs_reset());
}

#[test]
fn data_buffer_outside_ram_gets_ioerr() {
    let mut r = rig();
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
    r.ring.write(STATUS, &[0xff]);
    let head = r.ring.chain(&[
        (HDR, 16, false),
        (RAM_SIZE - 256, 512, true), // straddles the end of RAM
        (STATUS, 1, true),
    ]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8);
    assert_eq!(r.dev.backend().submitted, 0);
    assert!(!r.needs_reset());
    let far = r.ring.chain(&[
        (HDR, 16, false),
        (u64::MAX - 10, 512, false),
        (STATUS, 1, true),
    ]);
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_OUT, 0));
    r.ring.write(STATUS, &[0xff]);
    r.ring.push(far);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8);
    assert_eq!(r.ring.take_used().len(), 2);
}

fn assert_needs_reset(r: &Rig, what: &str) {
    assert!(r.needs_reset(), "{what}: DEVICE_NEEDS_RESET");
    assert_ne!(
        r.dev.rd(reg::INTERRUPT_STATUS) & interrupt::CONFIG_CHANGE,
        0,
        "{what}: configuration change interrupt"
    );
    assert!(r.dev.irq_level());
}

#[test]
fn status_byte_outside_ram_needs_reset() {
    let mut r = rig();
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
    let head = r.ring.chain(&[
        (HDR, 16, false),
        (DATA, 512, true),
        (RAM_SIZE + 0x1000, 1, true),
    ]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "status outside RAM");
    assert!(matches!(
        r.dev.driver_error(),
        Some(DriverError::BufferOutsideRam { .. })
    ));
    assert_eq!(r.ring.used_idx(), 0);
}

#[test]
fn looping_chain_needs_reset_and_reset_recovers() {
    let mut r = rig();
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
    r.ring.set_desc(0, HDR, 16, F_NEXT, 1);
    r.ring.set_desc(1, DATA, 512, F_NEXT | F_WRITE, 0); // back to 0
    r.ring.push(0);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "loop");
    assert_eq!(
        r.dev.driver_error(),
        Some(&DriverError::BrokenChain { queue: 0, head: 0 })
    );
    assert_eq!(r.dev.backend().submitted, 0);
    // Further notifications are ignored until reset.
    r.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
    assert_eq!(r.ring.used_idx(), 0);
    // The driver resets and starts over.
    r.ring = Ring::new(&r.mem, QSIZE); // fresh rings before DRIVER_OK, as a driver does
    bring_up(&mut r.dev, u32::from(QSIZE));
    r.request(VIRTIO_BLK_T_IN, 2, 512, true);
    r.run();
    assert_eq!(r.status_byte(), 0);
    assert_eq!(r.ring.read(DATA, 512), r.disk[1024..1536].to_vec());
}

#[test]
fn self_loop_and_next_out_of_range_need_reset() {
    for (next, what) in [
        (0u16, "self loop"),
        (QSIZE, "next past the table"),
        (0xffff, "next 0xffff"),
    ] {
        let mut r = rig();
        r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
        r.ring.set_desc(0, HDR, 16, F_NEXT, next);
        r.ring.push(0);
        r.dev.wr(reg::QUEUE_NOTIFY, 0);
        assert_needs_reset(&r, what);
        assert_eq!(
            r.dev.driver_error(),
            Some(&DriverError::BrokenChain { queue: 0, head: 0 }),
            "{what}"
        );
    }
}

#[test]
fn head_index_out_of_range_needs_reset() {
    let mut r = rig();
    r.ring.push(QSIZE + 3);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "head past the table");
}

#[test]
fn avail_index_running_ahead_needs_reset() {
    let mut r = rig();
    r.ring.write(AVAIL + 2, &(QSIZE + 1).to_le_bytes());
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "avail idx");
    assert_eq!(
        r.dev.driver_error(),
        Some(&DriverError::AvailIndex { queue: 0 })
    );
}

#[test]
fn missing_header_or_status_needs_reset() {
    // No writable byte at all.
    let mut r = rig();
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_FLUSH, 0));
    let head = r.ring.chain(&[(HDR, 16, false)]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "no status byte");
    assert!(matches!(
        r.dev.driver_error(),
        Some(DriverError::MissingHeader { .. })
    ));
    // A header shorter than 16 bytes.
    let mut r = rig();
    let head = r.ring.chain(&[(HDR, 8, false), (STATUS, 1, true)]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "short header");
}

#[test]
fn readable_after_writable_needs_reset() {
    let mut r = rig();
    r.ring.write(HDR, &blk_header(VIRTIO_BLK_T_IN, 0));
    let head = r
        .ring
        .chain(&[(HDR, 16, false), (STATUS, 1, true), (DATA, 512, false)]);
    r.ring.push(head);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_needs_reset(&r, "order");
    assert!(matches!(
        r.dev.driver_error(),
        Some(DriverError::DescriptorOrder { .. })
    ));
}

#[test]
fn bad_indirect_tables_need_reset() {
    let cases: [(u64, u32, u16, &str); 3] = [
        (BUF + 0x9000, 20, 0, "table length not a multiple of 16"),
        (RAM_SIZE + 0x1000, 32, 0, "table outside RAM"),
        (BUF + 0x9000, 16, F_INDIRECT, "indirect inside indirect"),
    ];
    for (table, len, inner_flags, what) in cases {
        let mut r = rig();
        r.ring.write(BUF + 0x9000, &[0; 64]);
        r.ring
            .set_desc_at(BUF + 0x9000, 0, BUF + 0x9000, 16, inner_flags, 0);
        r.ring.set_desc(0, table, len, F_INDIRECT, 0);
        r.ring.push(0);
        r.dev.wr(reg::QUEUE_NOTIFY, 0);
        assert_needs_reset(&r, what);
        assert!(
            matches!(r.dev.driver_error(), Some(DriverError::BrokenChain { .. })),
            "{what}"
        );
    }
}

#[test]
fn completions_in_any_order_and_unknown_ids() {
    let mut r = rig();
    let mut heads = Vec::new();
    for sector in [1u64, 2, 3] {
        r.ring
            .write(HDR + sector * 0x20, &blk_header(VIRTIO_BLK_T_IN, sector));
        let data = DATA + sector * 0x1000;
        let st = STATUS + sector;
        heads.push(r.ring.chain(&[
            (HDR + sector * 0x20, 16, false),
            (data, 512, true),
            (st, 1, true),
        ]));
        r.ring.push(*heads.last().unwrap());
    }
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    let reqs = std::mem::take(&mut r.dev.backend_mut().pending);
    assert_eq!(reqs.len(), 3);
    let ids: Vec<u64> = reqs.iter().map(|q| q.id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    for q in reqs.iter().rev() {
        let s = q.sector as usize;
        let data = r.disk[s * 512..(s + 1) * 512].to_vec();
        r.dev.complete(q.id, BlkStatus::Ok, &data).unwrap();
    }
    let used: Vec<u32> = r.ring.take_used().iter().map(|u| u.0).collect();
    assert_eq!(
        used,
        heads
            .iter()
            .rev()
            .map(|&h| u32::from(h))
            .collect::<Vec<_>>()
    );
    for sector in [1u64, 2, 3] {
        let s = sector as usize;
        assert_eq!(
            r.ring.read(DATA + sector * 0x1000, 512),
            r.disk[s * 512..(s + 1) * 512].to_vec()
        );
    }
    assert!(matches!(
        r.dev.complete(1, BlkStatus::Ok, &[]),
        Err(VirtioError::UnknownRequest { id: 1 })
    ));
    assert!(matches!(
        r.dev.complete(99, BlkStatus::Ok, &[]),
        Err(VirtioError::UnknownRequest { id: 99 })
    ));
}

#[test]
fn backend_errors_and_short_reads() {
    let mut r = rig();
    r.request(VIRTIO_BLK_T_IN, 0, 1024, true);
    let id = r.dev.backend_mut().pending.remove(0).id;
    r.ring.write(DATA, &[0x55; 1024]);
    assert!(matches!(
        r.dev.complete(id, BlkStatus::Ok, &[1, 2, 3]),
        Err(VirtioError::ReadLength {
            expected: 1024,
            got: 3,
            ..
        })
    ));
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8);
    assert_eq!(r.ring.read(DATA, 1024), vec![0x55; 1024], "no partial data");
    r.request(VIRTIO_BLK_T_OUT, 0, 512, false);
    let id = r.dev.backend_mut().pending.remove(0).id;
    r.dev.complete(id, BlkStatus::IoErr, &[]).unwrap();
    assert_eq!(r.status_byte(), BlkStatus::IoErr as u8);
}

#[test]
fn no_interrupt_flag_suppresses_the_interrupt() {
    let mut r = rig();
    r.ring.set_avail_flags(1);
    r.request(VIRTIO_BLK_T_IN, 0, 512, true);
    r.run();
    assert_eq!(r.ring.used_idx(), 1);
    assert!(!r.dev.irq_level());
    r.ring.set_avail_flags(0);
    r.request(VIRTIO_BLK_T_IN, 0, 512, true);
    r.run();
    assert!(r.dev.irq_level());
}

#[test]
fn reset_drops_requests_in_flight() {
    let mut r = rig();
    r.request(VIRTIO_BLK_T_IN, 0, 512, true);
    let id = r.dev.backend_mut().pending.remove(0).id;
    r.dev.wr(reg::STATUS, 0);
    r.ring.write(DATA, &[0x11; 512]);
    assert!(matches!(
        r.dev.complete(id, BlkStatus::Ok, &[0u8; 512]),
        Err(VirtioError::UnknownRequest { .. })
    ));
    assert_eq!(
        r.ring.read(DATA, 512),
        vec![0x11; 512],
        "stale completion wrote nothing"
    );
    // Ids are not reused after reset.
    r.ring = Ring::new(&r.mem, QSIZE); // fresh rings before DRIVER_OK, as a driver does
    bring_up(&mut r.dev, u32::from(QSIZE));
    r.request(VIRTIO_BLK_T_IN, 0, 512, true);
    assert_eq!(r.dev.backend().pending[0].id, id + 1);
}

#[test]
fn state_with_requests_in_flight_round_trips() {
    let mut r = rig();
    r.ring.write(DATA + 0x2000, &[0x77; 512]);
    r.request(VIRTIO_BLK_T_IN, 4, 512, true);
    r.ring.write(HDR + 0x40, &blk_header(VIRTIO_BLK_T_OUT, 9));
    let w = r.ring.chain(&[
        (HDR + 0x40, 16, false),
        (DATA + 0x2000, 512, false),
        (STATUS + 1, 1, true),
    ]);
    r.ring.push(w);
    r.dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(r.dev.backend().pending.len(), 2);
    let st = r.dev.state();
    assert_eq!(st.in_flight.len(), 2);
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&st, cfg).unwrap();
    let (back, _): (reprise_devices::virtio::VirtioBlkState, usize) =
        bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    assert_eq!(back, st);

    let mut restored = VirtioBlk::from_state(
        r.dev.config().clone(),
        r.mem.clone(),
        QueuedDisk::default(),
        &back,
    )
    .unwrap();
    assert_eq!(restored.state(), st);
    let again = restored.in_flight_requests();
    assert_eq!(
        again,
        r.dev.backend().pending,
        "same requests, write data included"
    );
    restored.backend_mut().pending = again;
    assert_eq!(run_disk(&mut restored, &mut r.disk), 2);
    assert_eq!(r.ring.read(DATA, 512), r.disk[4 * 512..5 * 512].to_vec());
    assert_eq!(&r.disk[9 * 512..10 * 512], &[0x77; 512][..]);
    assert_eq!(r.ring.take_used().len(), 2);

    // A state whose in-flight ids are ahead of its id counter is refused, and so is one
    // whose buffers leave guest RAM.
    let mut bad = st.clone();
    bad.next_id = 0;
    assert!(VirtioBlk::from_state(
        r.dev.config().clone(),
        r.mem.clone(),
        QueuedDisk::default(),
        &bad
    )
    .is_err());
    let mut bad = st.clone();
    bad.in_flight[0].segs[0].addr = RAM_SIZE - 4;
    assert!(matches!(
        VirtioBlk::from_state(
            r.dev.config().clone(),
            r.mem.clone(),
            QueuedDisk::default(),
            &bad
        ),
        Err(VirtioError::BadState(_))
    ));
}

#[test]
fn rejects_bad_queue_size_in_config() {
    let mut cfg = BlkConfig::new(8);
    cfg.queue_size = 100;
    assert!(matches!(
        VirtioBlk::new(cfg, ram(), QueuedDisk::default()),
        Err(VirtioError::QueueMaxSize(100))
    ));
}

#[test]
fn dirty_pages_name_every_page_the_device_wrote() {
    let mut r = rig();
    r.request(VIRTIO_BLK_T_IN, 0, 4096 + 512, true);
    assert!(
        r.dev.take_dirty_pages().is_empty(),
        "nothing written before completion"
    );
    r.run();
    let mut want = vec![DATA, DATA + 0x1000, STATUS, USED];
    want.sort();
    assert_eq!(r.dev.take_dirty_pages(), want);
    assert!(r.dev.take_dirty_pages().is_empty(), "taken");
    r.request(VIRTIO_BLK_T_OUT, 0, 512, false);
    r.run();
    let mut want = vec![STATUS, USED];
    want.sort();
    assert_eq!(
        r.dev.take_dirty_pages(),
        want,
        "a write only touches status and ring"
    );
}
