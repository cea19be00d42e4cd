//! Random garbage (fixed seeds) on the register file and in descriptor tables: the
//! devices must never panic, must never write outside the buffers they may use, and
//! must keep their interrupt line and state consistent.

mod virtio_common;

use reprise_devices::virtio::blk::{BlkConfig, BlkStatus};
use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{status, VirtioBlk, VirtioBlkState, VirtioRng, VirtioRngState};
use virtio_common::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Two RAM regions with a hole between them: [0, 1 MiB) and [2 MiB, 3 MiB).
fn holed_ram() -> Mem {
    GuestMemoryMmap::from_ranges(&[
        (GuestAddress(0), 0x10_0000),
        (GuestAddress(0x20_0000), 0x10_0000),
    ])
    .expect("test RAM")
}

/// No buffer the garbage generator produces lies entirely inside this range, so the
/// devices must never write it.
const GUARD: u64 = 0xf_0000;
const GUARD_LEN: usize = 0x1_0000;

const OFFSETS: [u64; 30] = [
    reg::MAGIC_VALUE,
    reg::VERSION,
    reg::DEVICE_ID,
    reg::VENDOR_ID,
    reg::DEVICE_FEATURES,
    reg::DEVICE_FEATURES_SEL,
    reg::DRIVER_FEATURES,
    reg::DRIVER_FEATURES_SEL,
    reg::QUEUE_SEL,
    reg::QUEUE_NUM_MAX,
    reg::QUEUE_NUM,
    reg::QUEUE_READY,
    reg::QUEUE_NOTIFY,
    reg::INTERRUPT_STATUS,
    reg::INTERRUPT_ACK,
    reg::STATUS,
    reg::QUEUE_DESC_LOW,
    reg::QUEUE_DESC_HIGH,
    reg::QUEUE_DRIVER_LOW,
    reg::QUEUE_DRIVER_HIGH,
    reg::QUEUE_DEVICE_LOW,
    reg::QUEUE_DEVICE_HIGH,
    reg::SHM_SEL,
    reg::SHM_LEN_LOW,
    reg::QUEUE_RESET,
    reg::CONFIG_GENERATION,
    reg::CONFIG,
    reg::CONFIG + 8,
    reg::CONFIG + 0x20,
    0x1ff,
];

/// A value a fuzzing driver might write: small numbers, status-like bits, addresses
/// in and out of RAM, anything.
fn value(r: &mut Rand) -> u32 {
    match r.below(6) {
        0 => r.below(4) as u32,
        1 => r.below(0x100) as u32,
        2 => (r.below(0x100) as u32) << 4,
        3 => 0x1000 * r.below(0x300) as u32,
        4 => 1 << r.below(32),
        _ => r.next() as u32,
    }
}

fn random_access(r: &mut Rand, dev: &mut impl Mmio) {
    let offset = match r.below(8) {
        0 => r.below(0x300),
        1 => r.next(),
        _ => OFFSETS[r.below(OFFSETS.len() as u64) as usize],
    };
    let width = [4usize, 4, 4, 1, 2, 8, 3, 0][r.below(8) as usize];
    if r.below(3) == 0 {
        let mut buf = vec![0u8; width];
        dev.read_bytes(offset, &mut buf);
    } else {
        let v = u64::from(value(r)) | (u64::from(value(r)) << 32);
        let bytes = v.to_le_bytes();
        dev.write_bytes(offset, &bytes[..width]);
    }
}

/// Sprinkles random bytes over the queue area (descriptor table and rings).
fn scribble(r: &mut Rand, mem: &Mem) {
    for _ in 0..r.below(64) {
        let at = 0x1000 + r.below(0x4000);
        let b = [r.next() as u8];
        mem.write_slice(&b, GuestAddress(at))
            .expect("queue area is RAM");
    }
}

#[test]
fn register_garbage_never_panics() {
    let mem = holed_ram();
    let mut b = VirtioBlk::new(BlkConfig::new(128), mem.clone(), QueuedDisk::default()).unwrap();
    let mut g = VirtioRng::new(mem.clone(), QueuedEntropy::default()).unwrap();
    let mut disk = vec![0u8; 128 * 512];
    let mut r = Rand(0x5eed_0001);
    let mut completions = 0usize;
    for step in 0..40_000 {
        random_access(&mut r, &mut b);
        random_access(&mut r, &mut g);
        if step % 7 == 0 {
            scribble(&mut r, &mem);
        }
        // Sometimes bring the devices up properly so the queues see traffic.
        if r.below(500) == 0 {
            // Clean rings, as a driver starts with, then one good request each.
            let bsize = 1u16 << r.below(9);
            let mut ring = Ring::new(&mem, bsize);
            bring_up(&mut b, u32::from(bsize));
            ring.write(0x10000, &blk_header(0, r.below(128)));
            let head = ring.chain(&[
                (0x10000, 16, false),
                (0x20000, 512, true),
                (0x30000, 1, true),
            ]);
            ring.push(head);
            b.wr(reg::QUEUE_NOTIFY, 0);
            let gsize = 1u16 << r.below(7);
            let mut ring = Ring::new(&mem, gsize);
            bring_up(&mut g, u32::from(gsize));
            let head = ring.chain(&[(0x40000, 1 + r.below(100) as u32, true)]);
            ring.push(head);
            g.wr(reg::QUEUE_NOTIFY, 0);
        }
        completions += run_disk(&mut b, &mut disk);
        for q in std::mem::take(&mut g.backend_mut().pending) {
            g.complete(q.id, &vec![0xa5; q.len as usize]).unwrap();
            completions += 1;
        }
        // Completions for ids that were never issued are refused, not trusted.
        if r.below(50) == 0 {
            let id = r.next();
            let _ = b.complete(id, BlkStatus::Ok, &[0; 512]);
            let _ = g.complete(id, &[0; 8]);
        }
        assert_eq!(b.irq_level(), b.rd(reg::INTERRUPT_STATUS) != 0);
        assert_eq!(g.irq_level(), g.rd(reg::INTERRUPT_STATUS) != 0);
        assert_eq!(b.rd(reg::MAGIC_VALUE), 0x7472_6976);
    }
    assert!(
        completions > 0,
        "the garbage reached the queues at least once"
    );

    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(b.state(), cfg).unwrap();
    let (bs, _): (VirtioBlkState, usize) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    let b2 = VirtioBlk::from_state(BlkConfig::new(128), mem.clone(), QueuedDisk::default(), &bs)
        .unwrap();
    assert_eq!(b2.rd(reg::STATUS), b.rd(reg::STATUS));
    let bytes = bincode::serde::encode_to_vec(g.state(), cfg).unwrap();
    let (gs, _): (VirtioRngState, usize) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    VirtioRng::from_state(mem.clone(), QueuedEntropy::default(), &gs).unwrap();
}

/// An address for a garbage buffer: ordinary RAM, across the end of the first region,
/// in the hole, in the second region, or anywhere. Never entirely inside GUARD.
fn buffer(r: &mut Rand) -> (u64, u32) {
    match r.below(6) {
        0 | 1 => (0x10000 + r.below(0xc_0000), r.below(0x3000) as u32),
        2 => (
            0x10_0000 - r.below(0x100) - 1,
            0x200 + r.below(0x1000) as u32,
        ),
        3 => (0x10_0000 + r.below(0x10_0000), r.below(0x1000) as u32),
        4 => (0x20_0000 + r.below(0xf_f000), r.below(0x1000) as u32),
        _ => (r.next(), r.next() as u32),
    }
}

#[test]
fn descriptor_garbage_never_panics_or_writes_outside_buffers() {
    let mem = holed_ram();
    let guard: Vec<u8> = (0..GUARD_LEN).map(|i| (i * 13) as u8).collect();
    mem.write_slice(&guard, GuestAddress(GUARD)).unwrap();
    let mut cfg = BlkConfig::new(2048);
    cfg.queue_size = 16;
    let mut b = VirtioBlk::new(cfg, mem.clone(), QueuedDisk::default()).unwrap();
    let mut g = VirtioRng::new(mem.clone(), QueuedEntropy::default()).unwrap();
    let mut disk = vec![0u8; 2048 * 512];
    let mut r = Rand(0xdead_beef_cafe_f00d);
    let (mut resets, mut served, mut chains, mut answered) = (0, 0, 0, 0);
    let size = 16u16;
    for round in 0..3_000 {
        let ring = Ring::new(&mem, size);
        // Alternate devices: both use the same queue area, one at a time.
        let use_blk = round % 2 == 0;
        if use_blk {
            bring_up(&mut b, u32::from(size));
        } else {
            bring_up(&mut g, u32::from(size));
        }
        let mut idx: u16 = 0; // the driver's available index
        let mut seen: u16 = 0;
        for _ in 0..8 {
            for i in 0..size + r.below(4) as u16 {
                let (addr, len) = buffer(&mut r);
                let indirect = if r.below(16) == 0 { F_INDIRECT } else { 0 };
                let flags = r.below(4) as u16 | indirect;
                let next = if r.below(4) == 0 {
                    r.next() as u16
                } else {
                    r.below(u64::from(size)) as u16
                };
                if i < size {
                    ring.set_desc(i, addr, len, flags, next);
                }
            }
            // Request headers: mostly real types at plausible sectors.
            for k in 0..4u64 {
                let kind = [0u32, 1, 4, 8, 0, 1, 11, r.next() as u32][r.below(8) as usize];
                let sector = if r.below(4) == 0 {
                    r.next()
                } else {
                    r.below(2100)
                };
                ring.write(0x10000 + k * 0x40, &blk_header(kind, sector));
            }
            // Some well-formed chains among the garbage.
            if r.below(2) == 0 {
                ring.set_desc(0, 0x10000, 16, F_NEXT, 1);
                ring.set_desc(
                    1,
                    0x20000,
                    512 * (1 + r.below(4) as u32),
                    F_NEXT | F_WRITE,
                    2,
                );
                ring.set_desc(2, 0x30000, 1, F_WRITE, 0);
            }
            let adds = r.below(u64::from(size) + 2) as u16;
            for _ in 0..adds {
                let head = if r.below(5) == 0 {
                    r.next() as u16
                } else {
                    r.below(u64::from(size)) as u16
                };
                let slot = AVAIL + 4 + 2 * u64::from(idx % size);
                mem.write_obj(head, GuestAddress(slot)).unwrap();
                idx = idx.wrapping_add(1);
            }
            let avail = if r.below(10) == 0 {
                r.next() as u16
            } else {
                idx
            };
            mem.write_obj(avail, GuestAddress(AVAIL + 2)).unwrap();
            chains += usize::from(adds);
            if use_blk {
                b.wr(reg::QUEUE_NOTIFY, 0);
                served += run_disk(&mut b, &mut disk);
            } else {
                g.wr(reg::QUEUE_NOTIFY, 0);
                for q in std::mem::take(&mut g.backend_mut().pending) {
                    g.complete(q.id, &vec![0x3c; q.len as usize]).unwrap();
                    served += 1;
                }
            }
            answered += usize::from(ring.used_idx().wrapping_sub(seen));
            seen = ring.used_idx();
            let st = if use_blk {
                b.rd(reg::STATUS)
            } else {
                g.rd(reg::STATUS)
            };
            if st & status::DEVICE_NEEDS_RESET != 0 {
                resets += 1;
                break;
            }
        }
        let mut now = vec![0u8; GUARD_LEN];
        mem.read_slice(&mut now, GuestAddress(GUARD)).unwrap();
        assert!(
            now == guard,
            "round {round}: a device wrote outside its buffers"
        );
    }
    eprintln!("chains {chains}, served {served}, answered {answered}, resets {resets}");
    assert!(chains > 10_000);
    assert!(
        served > 100,
        "some garbage is well-formed enough to be served ({served})"
    );
    assert!(
        answered > served,
        "some requests are refused with a status ({answered})"
    );
    assert!(resets > 100, "much of the garbage needs a reset ({resets})");
}
