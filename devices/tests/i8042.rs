//! The PS/2 controller at register level: what Linux's i8042 and atkbd/psmouse drivers
//! send and expect back.

use reprise_devices::i8042::{config, status, DATA, STATUS};
use reprise_devices::I8042;

fn cmd(k: &mut I8042, c: u8) {
    k.write(STATUS, c);
}

fn drain(k: &mut I8042) -> Vec<u8> {
    let mut v = Vec::new();
    while k.read(STATUS) & status::OBF != 0 {
        v.push(k.read(DATA));
    }
    v
}

#[test]
fn controller_self_tests_and_configuration_byte() {
    let mut k = I8042::new();
    assert_eq!(k.read(STATUS) & status::OBF, 0);
    cmd(&mut k, 0xaa);
    assert_eq!(drain(&mut k), [0x55]);
    cmd(&mut k, 0xab);
    assert_eq!(drain(&mut k), [0x00]);
    cmd(&mut k, 0xa9);
    assert_eq!(drain(&mut k), [0x00]);
    cmd(&mut k, 0x20);
    let c = drain(&mut k)[0];
    assert_ne!(c & config::KBD_INT, 0);
    cmd(&mut k, 0x60);
    k.write(DATA, c | config::AUX_INT);
    cmd(&mut k, 0x20);
    assert_eq!(drain(&mut k), [c | config::AUX_INT]);
    assert_ne!(k.read(STATUS) & status::SYS, 0);
}

#[test]
fn keyboard_reset_identify_and_arguments() {
    let mut k = I8042::new();
    k.write(DATA, 0xff);
    assert!(k.irq1(), "the keyboard's reply raises IRQ 1");
    assert_eq!(drain(&mut k), [0xfa, 0xaa]);
    assert!(!k.irq1());
    k.write(DATA, 0xf2);
    assert_eq!(drain(&mut k), [0xfa, 0xab, 0x83]);
    k.write(DATA, 0xed);
    k.write(DATA, 0x07);
    assert_eq!(drain(&mut k), [0xfa, 0xfa]);
    k.write(DATA, 0xf0);
    k.write(DATA, 0x00);
    assert_eq!(drain(&mut k), [0xfa, 0xfa, 0x02]);
    k.write(DATA, 0xee);
    assert_eq!(drain(&mut k), [0xee]);
    k.write(DATA, 0x12);
    assert_eq!(drain(&mut k), [0xfe], "unknown commands ask for a resend");
}

#[test]
fn mouse_commands_go_through_d4_and_raise_irq12() {
    let mut k = I8042::new();
    cmd(&mut k, 0x60);
    k.write(DATA, config::KBD_INT | config::AUX_INT | config::SYS);
    cmd(&mut k, 0xd4);
    k.write(DATA, 0xff);
    assert!(k.irq12() && !k.irq1());
    assert_ne!(k.read(STATUS) & status::AUX_OBF, 0);
    assert_eq!(drain(&mut k), [0xfa, 0xaa, 0x00]);
    // Set sample rate: both bytes come after a 0xD4.
    cmd(&mut k, 0xd4);
    k.write(DATA, 0xf3);
    cmd(&mut k, 0xd4);
    k.write(DATA, 200);
    assert_eq!(drain(&mut k), [0xfa, 0xfa]);
    cmd(&mut k, 0xd4);
    k.write(DATA, 0xe9);
    assert_eq!(drain(&mut k), [0xfa, 0x00, 0x02, 200]);
    cmd(&mut k, 0xd4);
    k.write(DATA, 0xf2);
    assert_eq!(drain(&mut k), [0xfa, 0x00]);
}

#[test]
fn reset_line_pulses() {
    let mut k = I8042::new();
    assert!(!k.take_reset_request());
    cmd(&mut k, 0xfe);
    assert!(k.take_reset_request());
    assert!(!k.take_reset_request(), "taken once");
    cmd(&mut k, 0xd0);
    let port = drain(&mut k)[0];
    assert_eq!(port & 1, 1);
    cmd(&mut k, 0xd1);
    k.write(DATA, port & !1);
    assert!(k.take_reset_request(), "output port bit 0 low resets");
    cmd(&mut k, 0xd1);
    k.write(DATA, 0x01);
    assert!(!k.a20());
}

#[test]
fn host_keys_arrive_while_scanning_only() {
    let mut k = I8042::new();
    assert_eq!(k.key_input(&[0x1c, 0xf0, 0x1c]), 3);
    assert!(k.irq1());
    assert_eq!(drain(&mut k), [0x1c, 0xf0, 0x1c]);
    k.write(DATA, 0xf5);
    assert_eq!(drain(&mut k), [0xfa]);
    assert_eq!(k.key_input(&[0x1c]), 0, "a disabled keyboard sends nothing");
    cmd(&mut k, 0x60);
    k.write(DATA, config::SYS); // keyboard interrupt off
    k.write(DATA, 0xf4);
    assert!(!k.irq1(), "interrupt disabled in the configuration byte");
    assert_eq!(drain(&mut k), [0xfa]);
}

#[test]
fn state_round_trips_with_queued_bytes() {
    let mut k = I8042::new();
    k.write(DATA, 0xf2);
    cmd(&mut k, 0xd4);
    k.write(DATA, 0xf3);
    let s = k.state();
    let bytes = bincode::serde::encode_to_vec(&s, bincode::config::standard()).unwrap();
    let (back, _): (reprise_devices::I8042State, _) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let mut k2 = I8042::from_state(&back);
    assert_eq!(k2.state(), s);
    assert_eq!(drain(&mut k2), drain(&mut k));
    // The pending mouse argument survives too.
    cmd(&mut k2, 0xd4);
    k2.write(DATA, 40);
    assert_eq!(drain(&mut k2), [0xfa]);
}

#[test]
fn garbage_never_panics_and_the_queue_stays_bounded() {
    let mut k = I8042::new();
    let mut x = 0x1234_5678u32;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let off = [0u16, 4, 1, 2, 3][(x % 5) as usize];
        if x & 0x100 != 0 {
            k.write(off, (x >> 8) as u8);
        } else {
            k.read(off);
        }
        if x.is_multiple_of(97) {
            k.key_input(&[x as u8; 40]);
        }
        if x.is_multiple_of(13) {
            k.key_event((x >> 3) as u16 % 130, x & 1 != 0);
        }
        assert!(k.state().kbd_buffer.len() <= 4096);
        assert!(k.state().queue.len() <= 256);
    }
}

#[test]
fn host_key_events_come_one_byte_at_a_time_in_the_selected_set() {
    let mut k = I8042::new();
    // Translation on (the default): set 1, release = code | 0x80.
    assert!(k.key_event(30, true)); // KEY_A
    assert!(k.key_event(30, false));
    assert!(k.key_event(103, true)); // KEY_UP, extended
    assert_eq!(k.state().queue.len(), 1, "one byte waits at the data port");
    assert!(k.irq1());
    assert_eq!(drain(&mut k), [0x1e, 0x9e, 0xe0, 0x48]);
    // Translation off: the keyboard's own set 2, release = 0xF0 then the code.
    cmd(&mut k, 0x60);
    k.write(DATA, config::KBD_INT | config::SYS);
    k.key_event(30, true);
    k.key_event(30, false);
    assert_eq!(drain(&mut k), [0x1c, 0xf0, 0x1c]);
    // Unknown keys are refused.
    assert!(!k.key_event(0, true));
    assert!(!k.key_event(500, true));
}

#[test]
fn keys_wait_while_the_port_is_disabled_and_drop_when_not_scanning() {
    let mut k = I8042::new();
    cmd(&mut k, 0xad);
    assert!(k.key_event(16, true));
    assert_eq!(k.read(STATUS) & status::OBF, 0, "held in the keyboard");
    cmd(&mut k, 0x20);
    assert_eq!(drain(&mut k).len(), 1, "only the configuration byte");
    cmd(&mut k, 0xae);
    assert_eq!(drain(&mut k), [0x10]);
    k.write(DATA, 0xf5);
    assert_eq!(drain(&mut k), [0xfa]);
    assert!(!k.key_event(16, true), "not scanning: dropped");
    // A keyboard reset empties its buffer.
    k.write(DATA, 0xf4);
    drain(&mut k);
    cmd(&mut k, 0xad);
    k.key_event(16, true);
    k.write(DATA, 0xff);
    assert_eq!(drain(&mut k), [0xfa, 0xaa]);
}

#[test]
fn state_round_trips_with_keys_in_the_keyboard_buffer() {
    let mut k = I8042::new();
    for c in [30u16, 48, 46] {
        k.key_event(c, true);
        k.key_event(c, false);
    }
    let s = k.state();
    assert_eq!(s.queue.len() + s.kbd_buffer.len(), 6);
    let bytes = bincode::serde::encode_to_vec(&s, bincode::config::standard()).unwrap();
    let (back, _): (reprise_devices::I8042State, _) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let mut k2 = I8042::from_state(&back);
    assert_eq!(k2.state(), s);
    assert_eq!(drain(&mut k2), drain(&mut k));
}
