//! virtio-mmio register file: identification, feature negotiation, status and reset,
//! queue setup, interrupts, access widths, state round trip.

mod virtio_common;

use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{
    device_id, feature, interrupt, status, DriverError, VirtioBlk, VirtioRng,
};
use virtio_common::*;

const S_FEAT: u32 = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;

#[test]
fn identification_registers() {
    let mem = ram();
    let b = blk(&mem, 64);
    assert_eq!(b.rd(reg::MAGIC_VALUE), 0x7472_6976);
    assert_eq!(b.rd(reg::VERSION), 2);
    assert_eq!(b.rd(reg::DEVICE_ID), device_id::BLOCK);
    assert_eq!(b.rd(reg::VENDOR_ID), u32::from_le_bytes(*b"RPRS"));
    assert_eq!(b.rd(reg::QUEUE_NUM_MAX), 256);
    assert_eq!(b.rd(reg::CONFIG_GENERATION), 0);
    assert_eq!(b.rd(reg::SHM_LEN_LOW), u32::MAX);
    assert_eq!(b.rd(reg::SHM_LEN_HIGH), u32::MAX);
    let r = VirtioRng::new(mem.clone(), QueuedEntropy::default()).unwrap();
    assert_eq!(r.rd(reg::DEVICE_ID), device_id::ENTROPY);
    assert_eq!(r.rd(reg::QUEUE_NUM_MAX), 64);
}

#[test]
fn offers_version_1_and_blk_features() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    let f = device_features(&mut b);
    assert_ne!(f & feature::VERSION_1, 0);
    assert_ne!(f & feature::RING_INDIRECT_DESC, 0);
    assert_eq!(f & feature::RING_EVENT_IDX, 0);
    use reprise_devices::virtio::blk::features as bf;
    assert_eq!(
        f & (bf::SEG_MAX | bf::BLK_SIZE | bf::FLUSH),
        bf::SEG_MAX | bf::BLK_SIZE | bf::FLUSH
    );
    assert_eq!(f & bf::RO, 0, "writable disk");
    b.wr(reg::DEVICE_FEATURES_SEL, 2);
    assert_eq!(b.rd(reg::DEVICE_FEATURES), 0, "no features past bit 63");
}

#[test]
fn features_ok_needs_version_1() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let f = device_features(&mut b);
    write_driver_features(&mut b, f & !feature::VERSION_1);
    b.wr(reg::STATUS, S_FEAT);
    assert_eq!(
        b.rd(reg::STATUS) & status::FEATURES_OK,
        0,
        "legacy-only driver refused"
    );
    // The driver may try again with VERSION_1.
    write_driver_features(&mut b, f);
    b.wr(reg::STATUS, S_FEAT);
    assert_eq!(b.rd(reg::STATUS), S_FEAT);
    assert_eq!(b.transport().driver_features(), f);
}

#[test]
fn features_ok_refuses_features_not_offered() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    write_driver_features(&mut b, feature::VERSION_1 | feature::RING_EVENT_IDX);
    b.wr(reg::STATUS, S_FEAT);
    assert_eq!(b.rd(reg::STATUS) & status::FEATURES_OK, 0);
}

#[test]
fn driver_features_frozen_after_features_ok() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    write_driver_features(&mut b, feature::VERSION_1);
    b.wr(reg::STATUS, S_FEAT);
    write_driver_features(&mut b, feature::VERSION_1 | feature::RING_INDIRECT_DESC);
    assert_eq!(b.transport().driver_features(), feature::VERSION_1);
}

#[test]
fn driver_ok_without_features_ok_needs_reset() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    b.wr(
        reg::STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
    );
    let s = b.rd(reg::STATUS);
    assert_ne!(s & status::DEVICE_NEEDS_RESET, 0);
    assert_eq!(b.rd(reg::INTERRUPT_STATUS), interrupt::CONFIG_CHANGE);
    assert!(b.irq_level());
    assert_eq!(
        b.driver_error(),
        Some(&DriverError::DriverOkWithoutFeatures)
    );
    // Reset brings it back.
    b.wr(reg::STATUS, 0);
    assert_eq!(b.rd(reg::STATUS), 0);
    assert!(!b.irq_level());
    assert_eq!(b.driver_error(), None);
    bring_up(&mut b, 8);
}

#[test]
fn status_bits_cannot_be_cleared_except_by_reset() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 8);
    let s = b.rd(reg::STATUS);
    b.wr(reg::STATUS, status::ACKNOWLEDGE);
    assert_eq!(b.rd(reg::STATUS), s);
    // The driver cannot set DEVICE_NEEDS_RESET either.
    b.wr(reg::STATUS, s | status::DEVICE_NEEDS_RESET);
    assert_eq!(b.rd(reg::STATUS), s);
}

#[test]
fn reset_returns_registers_to_initial_values() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 16);
    assert!(b.transport().queue(0).unwrap().ready());
    b.wr(reg::STATUS, 0);
    assert_eq!(b.rd(reg::STATUS), 0);
    assert_eq!(b.rd(reg::QUEUE_READY), 0);
    assert_eq!(b.transport().queue(0).unwrap().size(), 256);
    assert_eq!(b.transport().driver_features(), 0);
    assert_eq!(b.rd(reg::INTERRUPT_STATUS), 0);
    let st = b.transport().state();
    assert_eq!(st.queues[0].desc, 0);
    assert_eq!(st.queues[0].next_avail, 0);
}

#[test]
fn queue_setup_checks_size() {
    let mem = ram();
    for size in [0u32, 3, 512, 0x1_0000] {
        let mut b = blk(&mem, 64);
        b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        write_driver_features(&mut b, feature::VERSION_1);
        b.wr(reg::STATUS, S_FEAT);
        setup_queue(&mut b, size);
        assert_eq!(b.rd(reg::QUEUE_READY), 0, "size {size}");
        assert_ne!(
            b.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET,
            0,
            "size {size}"
        );
        assert!(matches!(
            b.driver_error(),
            Some(DriverError::QueueSize { .. })
        ));
        // Not DRIVER_OK yet: no configuration interrupt.
        assert!(!b.irq_level());
    }
}

#[test]
fn queue_setup_checks_alignment_and_ram() {
    let mem = ram();
    let cases: [(u64, u64, u64); 5] = [
        (DESC + 8, AVAIL, USED),           // descriptor table must be 16-aligned
        (DESC, AVAIL + 1, USED),           // available ring 2-aligned
        (DESC, AVAIL, USED + 2),           // used ring 4-aligned
        (RAM_SIZE - 0x10, AVAIL, USED),    // table runs past RAM
        (DESC, AVAIL, 0x1_0000_0000_0000), // used ring far outside RAM
    ];
    for (desc, avail, used) in cases {
        let mut b = blk(&mem, 64);
        b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        write_driver_features(&mut b, feature::VERSION_1);
        b.wr(reg::STATUS, S_FEAT);
        b.wr(reg::QUEUE_NUM, 16);
        for (lo, v) in [
            (reg::QUEUE_DESC_LOW, desc),
            (reg::QUEUE_DRIVER_LOW, avail),
            (reg::QUEUE_DEVICE_LOW, used),
        ] {
            b.wr(lo, v as u32);
            b.wr(lo + 4, (v >> 32) as u32);
        }
        b.wr(reg::QUEUE_READY, 1);
        assert_eq!(b.rd(reg::QUEUE_READY), 0, "{desc:#x} {avail:#x} {used:#x}");
        assert!(matches!(
            b.driver_error(),
            Some(DriverError::QueueAddress { queue: 0 })
        ));
    }
}

#[test]
fn queue_registers_frozen_while_ready_and_queue_sel_out_of_range() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 16);
    b.wr(reg::QUEUE_NUM, 32);
    b.wr(reg::QUEUE_DESC_LOW, 0x8000);
    let q = b.transport().state().queues[0].clone();
    assert_eq!((q.size, q.desc), (16, DESC));
    b.wr(reg::QUEUE_SEL, 5);
    assert_eq!(b.rd(reg::QUEUE_NUM_MAX), 0);
    assert_eq!(b.rd(reg::QUEUE_READY), 0);
    b.wr(reg::QUEUE_READY, 1);
    b.wr(reg::QUEUE_NUM, 8);
    assert_eq!(b.transport().status() & status::DEVICE_NEEDS_RESET, 0);
    // Disabling the queue and setting it up again is allowed.
    b.wr(reg::QUEUE_SEL, 0);
    b.wr(reg::QUEUE_READY, 0);
    assert_eq!(b.rd(reg::QUEUE_READY), 0);
    b.wr(reg::QUEUE_NUM, 32);
    b.wr(reg::QUEUE_READY, 1);
    assert_eq!(b.rd(reg::QUEUE_READY), 1);
    assert_eq!(b.transport().queue(0).unwrap().size(), 32);
}

#[test]
fn narrow_and_misaligned_register_accesses_are_ignored() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    let mut two = [0xffu8; 2];
    b.mmio_read(reg::MAGIC_VALUE, &mut two);
    assert_eq!(two, [0, 0]);
    let mut four = [0xffu8; 4];
    b.mmio_read(reg::MAGIC_VALUE + 2, &mut four);
    assert_eq!(four, [0; 4]);
    b.mmio_write(reg::STATUS, &[1]);
    b.mmio_write(reg::STATUS + 1, &[1, 0, 0, 0]);
    b.mmio_write(reg::STATUS, &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.rd(reg::STATUS), 0);
}

#[test]
fn config_space_reads_any_width() {
    let mem = ram();
    let b = blk(&mem, 0x1_2345_6789);
    let mut cap = [0u8; 8];
    b.mmio_read(reg::CONFIG, &mut cap);
    assert_eq!(u64::from_le_bytes(cap), 0x1_2345_6789);
    let mut lo = [0u8; 4];
    b.mmio_read(reg::CONFIG, &mut lo);
    assert_eq!(u32::from_le_bytes(lo), 0x2345_6789);
    let mut byte = [0u8; 1];
    b.mmio_read(reg::CONFIG + 4, &mut byte);
    assert_eq!(byte[0], 1);
    assert_eq!(b.rd(reg::CONFIG + 12), 254, "seg_max");
    assert_eq!(b.rd(reg::CONFIG + 20), 512, "blk_size");
    let mut past = [0xffu8; 8];
    b.mmio_read(reg::CONFIG + 0xf8, &mut past);
    assert_eq!(past, [0; 8]);
    b.mmio_read(u64::MAX - 3, &mut past);
    assert_eq!(past, [0; 8]);
    let r = VirtioRng::new(mem.clone(), QueuedEntropy::default()).unwrap();
    assert_eq!(r.rd(reg::CONFIG), 0, "virtio-rng has no config space");
}

#[test]
fn interrupt_ack_lowers_the_line() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 16);
    let mut ring = Ring::new(&mem, 16);
    ring.write(BUF, &blk_header(8, 0)); // GET_ID: answered at once
    let head = ring.chain(&[
        (BUF, 16, false),
        (BUF + 0x100, 20, true),
        (BUF + 0x200, 1, true),
    ]);
    ring.push(head);
    assert!(!b.irq_level());
    b.wr(reg::QUEUE_NOTIFY, 0);
    assert!(b.irq_level());
    assert_eq!(b.rd(reg::INTERRUPT_STATUS), interrupt::USED_BUFFER);
    b.wr(reg::INTERRUPT_ACK, interrupt::CONFIG_CHANGE);
    assert!(b.irq_level(), "acking another bit leaves it");
    b.wr(reg::INTERRUPT_ACK, interrupt::USED_BUFFER);
    assert!(!b.irq_level());
}

#[test]
fn notify_of_missing_queue_or_before_driver_ok_does_nothing() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    b.wr(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    write_driver_features(&mut b, feature::VERSION_1);
    b.wr(reg::STATUS, S_FEAT);
    setup_queue(&mut b, 16);
    let mut ring = Ring::new(&mem, 16);
    ring.write(BUF, &blk_header(8, 0));
    let head = ring.chain(&[
        (BUF, 16, false),
        (BUF + 0x100, 20, true),
        (BUF + 0x200, 1, true),
    ]);
    ring.push(head);
    b.wr(reg::QUEUE_NOTIFY, 0);
    b.wr(reg::QUEUE_NOTIFY, 1);
    b.wr(reg::QUEUE_NOTIFY, u32::MAX);
    assert_eq!(ring.used_idx(), 0, "not DRIVER_OK yet");
    // DRIVER_OK picks up what is already available.
    b.wr(reg::STATUS, S_FEAT | status::DRIVER_OK);
    assert_eq!(ring.used_idx(), 1);
}

#[test]
fn transport_state_round_trips_through_bincode() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 16);
    b.wr(reg::QUEUE_SEL, 3);
    b.wr(reg::DEVICE_FEATURES_SEL, 1);
    let st = b.state();
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&st, cfg).unwrap();
    let (back, _): (reprise_devices::virtio::VirtioBlkState, usize) =
        bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    assert_eq!(back, st);
    let restored = VirtioBlk::from_state(
        b.config().clone(),
        mem.clone(),
        QueuedDisk::default(),
        &back,
    )
    .unwrap();
    assert_eq!(restored.state(), st);
    assert_eq!(restored.rd(reg::STATUS), b.rd(reg::STATUS));
    assert_eq!(
        restored.rd(reg::DEVICE_FEATURES),
        b.rd(reg::DEVICE_FEATURES)
    );
}

#[test]
fn restore_rejects_or_repairs_bad_state() {
    let mem = ram();
    let mut b = blk(&mem, 64);
    bring_up(&mut b, 16);
    let mut st = b.state();
    st.transport.queues.push(Default::default());
    let cfg = b.config().clone();
    assert!(VirtioBlk::from_state(cfg.clone(), mem.clone(), QueuedDisk::default(), &st).is_err());
    // A ready queue pointing outside RAM: restored as not ready, device needs reset.
    let mut st = b.state();
    st.transport.queues[0].desc = 0x7fff_0000_0000;
    st.transport.status |= 0xff00;
    let r = VirtioBlk::from_state(cfg, mem.clone(), QueuedDisk::default(), &st).unwrap();
    assert_eq!(r.rd(reg::QUEUE_READY), 0);
    assert_ne!(r.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
    assert_eq!(r.rd(reg::STATUS) & 0xff00, 0);
}
