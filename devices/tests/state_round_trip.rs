//! Issue 5 item 6, the devices not covered elsewhere: every device's state survives a
//! bincode round trip, and a device restored from it behaves as the original from
//! there on. (PIC, PIT, RTC and the interrupt hub: robustness.rs; i8042: i8042.rs;
//! virtio transport, blk and rng: virtio_*.rs.)

use reprise_devices::{DebugExit, IoApic, IoApicState, Lapic, LapicState, Uart, UartState};
use serde::{de::DeserializeOwned, Serialize};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(s: &T) -> T {
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(s, cfg).expect("encode");
    let (back, used): (T, usize) = bincode::serde::decode_from_slice(&bytes, cfg).expect("decode");
    assert_eq!(used, bytes.len());
    assert_eq!(&back, s);
    back
}

#[test]
fn ioapic_redirections_and_lines_round_trip() {
    let mut a = IoApic::new();
    let mut out = Vec::new();
    // Pin 16: vector 0x50, level-triggered, unmasked; pin 4: vector 0x24, edge.
    for (pin, low) in [(16u64, 0x50u32 | 1 << 15), (4, 0x24)] {
        a.mmio_write(0, 0x10 + 2 * pin as u32, &mut out);
        a.mmio_write(0x10, low, &mut out);
    }
    a.set_pin(16, true, &mut out);
    let st = a.state();
    let b_state: IoApicState = round_trip(&st);
    let mut b = IoApic::from_state(&b_state);
    assert_eq!(b.state(), st);
    assert_eq!(b.redirection(16), a.redirection(16));
    // Both go on alike: an EOI of a still-asserted level pin re-delivers it.
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    a.eoi(0x50, &mut oa);
    b.eoi(0x50, &mut ob);
    assert_eq!(oa, ob);
    a.set_pin(4, true, &mut oa);
    b.set_pin(4, true, &mut ob);
    assert_eq!(oa, ob);
    assert!(!oa.is_empty(), "the edge on pin 4 was delivered");
    assert_eq!(a.state(), b.state());
}

#[test]
fn lapic_registers_and_pending_interrupts_round_trip() {
    let mut a = Lapic::new();
    a.set_cr8(3);
    a.accept_fixed(0x61, false);
    a.accept_fixed(0x45, true);
    let st = a.state();
    let back: LapicState = round_trip(&st);
    let mut b = Lapic::from_state(&back);
    assert_eq!(b.state(), st);
    assert_eq!(b.cr8(), 3);
    assert_eq!(a.deliverable(), b.deliverable());
    assert_eq!(a.acknowledge(), b.acknowledge());
    assert_eq!(a.state(), b.state());
}

#[test]
fn uart_registers_and_receive_fifo_round_trip() {
    let mut a = Uart::new(Vec::new());
    a.write(3, 0x83).unwrap(); // DLAB on
    a.write(0, 0x01).unwrap();
    a.write(3, 0x03).unwrap(); // 8N1, DLAB off
    a.write(1, 0x01).unwrap(); // receive interrupt on
    assert_eq!(a.enqueue_input(b"hey"), 3);
    assert_eq!(a.read(0), b'h');
    let st = a.state();
    let back: UartState = round_trip(&st);
    let mut b = Uart::from_state(&back, Vec::new()).unwrap();
    assert_eq!(b.state(), st);
    assert_eq!(a.irq_level(), b.irq_level());
    assert!(b.irq_level(), "received data raises the interrupt");
    assert_eq!([b.read(0), b.read(0)], [b'e', b'y']);
    assert_eq!([a.read(0), a.read(0)], [b'e', b'y']);
    assert_eq!(a.state(), b.state());
}

#[test]
fn debug_exit_has_no_state_but_round_trips() {
    let d = DebugExit::new();
    let mut back = round_trip(&d.state());
    assert_eq!(back.write(0, 1, 0x10), 0x21);
}
