//! virtio-rng: entropy requests go to the backend, completions fill guest buffers.

mod virtio_common;

use reprise_devices::virtio::rng::{RngRequest, MAX_RNG_REQUEST};
use reprise_devices::virtio::transport::reg;
use reprise_devices::virtio::{interrupt, status, DriverError, VirtioError, VirtioRng};
use virtio_common::*;

const QSIZE: u16 = 8;

fn rig() -> (Mem, VirtioRng<Mem, QueuedEntropy>, Ring) {
    let mem = ram();
    let mut dev = VirtioRng::new(mem.clone(), QueuedEntropy::default()).unwrap();
    let ring = Ring::new(&mem, QSIZE);
    bring_up(&mut dev, u32::from(QSIZE));
    (mem, dev, ring)
}

#[test]
fn entropy_request_and_completion() {
    let (_, mut dev, mut ring) = rig();
    ring.write(BUF, &[0; 64]);
    let head = ring.chain(&[(BUF, 64, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(dev.backend().pending, vec![RngRequest { id: 0, len: 64 }]);
    assert_eq!(ring.used_idx(), 0);
    let bytes: Vec<u8> = (1..=64).collect();
    dev.complete(0, &bytes).unwrap();
    assert_eq!(ring.read(BUF, 64), bytes);
    assert_eq!(ring.take_used(), vec![(u32::from(head), 64)]);
    assert_eq!(dev.take_dirty_pages(), vec![USED, BUF], "address order");
    assert!(dev.irq_level());
    assert_eq!(dev.rd(reg::INTERRUPT_STATUS), interrupt::USED_BUFFER);
}

#[test]
fn fewer_bytes_and_scattered_buffers() {
    let (_, mut dev, mut ring) = rig();
    ring.write(BUF, &[0xee; 0x400]);
    // A readable descriptor (ignored) then two writable pieces.
    let head = ring.chain(&[
        (BUF + 0x300, 8, false),
        (BUF, 3, true),
        (BUF + 0x100, 5, true),
    ]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(dev.backend().pending[0].len, 8);
    dev.complete(0, &[1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(ring.read(BUF, 4), vec![1, 2, 3, 0xee]);
    assert_eq!(ring.read(BUF + 0x100, 5), vec![4, 5, 6, 0xee, 0xee]);
    assert_eq!(ring.take_used()[0].1, 6, "used length is what was written");
    // More bytes than asked for: the rest is dropped.
    let head = ring.chain(&[(BUF + 0x200, 2, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    dev.complete(1, &[9; 10]).unwrap();
    assert_eq!(ring.read(BUF + 0x200, 3), vec![9, 9, 0xee]);
}

#[test]
fn chain_without_writable_bytes_returns_at_once() {
    let (_, mut dev, mut ring) = rig();
    let head = ring.chain(&[(BUF, 16, false)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert!(dev.backend().pending.is_empty());
    assert_eq!(ring.take_used(), vec![(u32::from(head), 0)]);
}

#[test]
fn large_buffers_are_capped() {
    let (_, mut dev, mut ring) = rig();
    let head = ring.chain(&[(BUF, 0x8_0000, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(dev.backend().pending[0].len, MAX_RNG_REQUEST);
    let bytes = vec![0x5a; MAX_RNG_REQUEST as usize + 100];
    dev.complete(0, &bytes).unwrap();
    assert_eq!(ring.take_used()[0].1, MAX_RNG_REQUEST);
    assert_eq!(ring.byte(BUF + u64::from(MAX_RNG_REQUEST)), 0);
}

#[test]
fn buffer_outside_ram_needs_reset() {
    let (_, mut dev, mut ring) = rig();
    let head = ring.chain(&[(RAM_SIZE - 8, 64, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_ne!(dev.rd(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
    assert_ne!(dev.rd(reg::INTERRUPT_STATUS) & interrupt::CONFIG_CHANGE, 0);
    assert!(matches!(
        dev.driver_error(),
        Some(DriverError::BufferOutsideRam { .. })
    ));
    assert!(dev.backend().pending.is_empty());
}

#[test]
fn reset_drops_requests_and_unknown_ids_are_refused() {
    let (mem, mut dev, mut ring) = rig();
    let head = ring.chain(&[(BUF, 16, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    dev.wr(reg::STATUS, 0);
    ring.write(BUF, &[0; 16]);
    assert!(matches!(
        dev.complete(0, &[1; 16]),
        Err(VirtioError::UnknownRequest { id: 0 })
    ));
    assert_eq!(ring.read(BUF, 16), vec![0; 16]);
    let mut ring = Ring::new(&mem, QSIZE);
    bring_up(&mut dev, u32::from(QSIZE));
    let head = ring.chain(&[(BUF, 16, true)]);
    ring.push(head);
    dev.wr(reg::QUEUE_NOTIFY, 0);
    assert_eq!(
        dev.backend().pending.last().unwrap().id,
        1,
        "ids are not reused"
    );
}

#[test]
fn state_round_trips_and_completes_after_restore() {
    let (mem, mut dev, mut ring) = rig();
    for k in 0..3u64 {
        let head = ring.chain(&[(BUF + k * 0x100, 32, true)]);
        ring.push(head);
    }
    dev.wr(reg::QUEUE_NOTIFY, 0);
    dev.complete(1, &[7; 32]).unwrap();
    let st = dev.state();
    assert_eq!(st.in_flight.len(), 2);
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&st, cfg).unwrap();
    let (back, _): (reprise_devices::virtio::VirtioRngState, usize) =
        bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    assert_eq!(back, st);
    let mut restored = VirtioRng::from_state(mem.clone(), QueuedEntropy::default(), &back).unwrap();
    assert_eq!(restored.state(), st);
    assert_eq!(
        restored.in_flight_requests(),
        vec![RngRequest { id: 0, len: 32 }, RngRequest { id: 2, len: 32 }]
    );
    restored.complete(2, &[9; 32]).unwrap();
    restored.complete(0, &[8; 32]).unwrap();
    assert_eq!(ring.read(BUF, 32), vec![8; 32]);
    assert_eq!(ring.read(BUF + 0x200, 32), vec![9; 32]);
    let used: Vec<u32> = ring.take_used().iter().map(|u| u.0).collect();
    assert_eq!(used, vec![1, 2, 0]);
}
