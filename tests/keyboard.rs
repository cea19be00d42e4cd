//! The PS/2 keyboard fed by `--keyboard`: the kbd_echo guest (guests/mb) echoes what
//! the host types, under `run` and `record`, and the replay of each recording gives the
//! same run with the keyboard source gone (the keys come from the log).

mod common;

use common::rr::{kernel_args, replay, Run, Scratch};
use reprise::cli::{record_kernel, run_kernel, MachineArgs, RecordArgs, TierArg};
use reprise::host::{KeyboardSource, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use reprise_replay::{AsyncEvent, Event};
use std::io::Write;
use std::path::Path;

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

fn machine(keyboard: KeyboardSource, tier: TierArg) -> MachineArgs {
    MachineArgs {
        memory: 32,
        icount_limit: Some(3_000_000_000),
        tier,
        serial: SerialBackend::Stdio,
        no_stdin: true,
        jit_thread: false,
        keyboard: Some(keyboard),
        ..MachineArgs::default()
    }
}

fn record(log: &Path, m: MachineArgs) -> Run {
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.to_path_buf(),
        snapshot_interval: None,
        digest_interval: 100_000,
        kernel: kernel_args("kbd_echo", None),
        machine: m,
    };
    let r = record_kernel(&a, Box::new(out.clone())).expect("record");
    Run::new(r, out.text())
}

fn key_events(log: &Path) -> Vec<(u16, i32)> {
    common::rr::events(log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Async(AsyncEvent::Input {
                device: 0,
                kind: 1,
                code,
                value,
            }) => Some((code, value)),
            _ => None,
        })
        .collect()
}

#[test]
fn typed_text_is_echoed_with_shift_and_enter() {
    let s = Scratch::new("kbd-run");
    let keys = s.path("keys.txt");
    std::fs::write(&keys, "Hello, World!\n\\{F1}x.").unwrap();
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let out = SharedBuffer::default();
        let r = run_kernel(
            &kernel_args("kbd_echo", None),
            &machine(KeyboardSource::File(keys.clone()), tier),
            Box::new(out.clone()),
        )
        .expect("run");
        let serial = out.text();
        assert_eq!(r.outcome, PASS, "{tier:?}: {serial}");
        assert!(
            serial.contains("Hello, World!\n<F1>x.\n"),
            "{tier:?}: {serial}"
        );
        // 16 characters and F1, three of them with Shift: 20 presses; the guest stops
        // at the press of '.', before its release.
        assert!(
            serial.contains("kbd_echo: 20 presses, 19 releases"),
            "{tier:?}: {serial}"
        );
    }
}

#[test]
fn file_keys_record_and_replay_without_the_file() {
    let s = Scratch::new("kbd-file");
    let keys = s.path("keys.txt");
    std::fs::write(&keys, "rEcOrD me: ~{}|.").unwrap();
    let log = s.path("kbd.log");
    let rec = record(
        &log,
        machine(KeyboardSource::File(keys.clone()), TierArg::Tiered),
    );
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(rec.serial.contains("rEcOrD me: ~{}|."), "{}", rec.serial);
    let ev = key_events(&log);
    assert_eq!(ev.first(), Some(&(19, 1)), "the first key is R (KEY_R 19)");
    assert_eq!(ev.iter().filter(|e| e.1 == 1).count(), ev.len() / 2);
    std::fs::remove_file(&keys).unwrap();
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let rep = replay(&log, tier, None);
        rec.assert_same(&rep, &format!("replay ({tier:?})"));
    }
}

#[test]
fn unix_socket_keys_record_and_replay_without_the_peer() {
    let s = Scratch::new("kbd-unix");
    let sock = s.path("kbd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        for piece in ["abc ", "XYZ\t", "\\{Up}", "1+1=2."] {
            c.write_all(piece.as_bytes()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let log = s.path("kbd.log");
    let rec = record(
        &log,
        machine(KeyboardSource::Unix(sock.clone()), TierArg::Tiered),
    );
    peer.join().unwrap();
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(rec.serial.contains("abc XYZ\t<Up>1+1=2."), "{}", rec.serial);
    assert!(!key_events(&log).is_empty());
    std::fs::remove_file(&sock).unwrap();
    let rep = replay(&log, TierArg::Tiered, None);
    rec.assert_same(&rep, "replay");
}

#[test]
fn an_absent_peer_is_refused_before_the_guest_starts() {
    let s = Scratch::new("kbd-nopeer");
    let out = SharedBuffer::default();
    let e = run_kernel(
        &kernel_args("kbd_echo", None),
        &machine(KeyboardSource::Unix(s.path("none.sock")), TierArg::Interp),
        Box::new(out),
    )
    .err()
    .expect("refused");
    assert!(e.contains("none.sock") && e.contains("listening"), "{e}");
}

#[test]
fn tcp_keys_record_and_replay() {
    let s = Scratch::new("kbd-tcp");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        c.write_all(b"tcp says hi.").unwrap();
    });
    let log = s.path("kbd.log");
    let rec = record(&log, machine(KeyboardSource::Tcp(addr), TierArg::Interp));
    peer.join().unwrap();
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(rec.serial.contains("tcp says hi."), "{}", rec.serial);
    let rep = replay(&log, TierArg::Interp, None);
    rec.assert_same(&rep, "replay");
}
