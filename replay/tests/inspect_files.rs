//! `dump`, `stats`, and the file-based entry points (create, open, open_at).

use reprise_replay::clock::{ClockConfig, IcountShift, SleepPolicy};
use reprise_replay::inspect::{dump, stats};
use reprise_replay::log::{LogHeader, LogReader};
use reprise_replay::snapshot::{RamPages, Snapshot};
use reprise_replay::{
    AsyncEvent, Checkpoint, ImageRecord, Mode, Player, Recorder, ReplayError, ShutdownCause,
    SyncKind,
};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reprise-replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Records a small run to a file with a kernel image; returns (dir, log path).
fn record_file(name: &str) -> (PathBuf, PathBuf) {
    let dir = tmp(name);
    let kernel = dir.join("kernel");
    std::fs::write(&kernel, b"\x7fELF pretend kernel").unwrap();
    let header = LogHeader::new(
        b"{\"ram_mb\":64}".to_vec(),
        ClockConfig {
            shift: IcountShift::Auto { initial: 4 },
            sleep: SleepPolicy::Off,
        },
        vec![ImageRecord::from_file(&kernel).unwrap()],
    );
    let log = dir.join("run.rlog");
    let mut rec = Recorder::create(&log, &header).unwrap();
    let ram = vec![1u8; 3 * 4096];
    for i in 0..5u64 {
        let ic = i * 1000;
        rec.snapshot(ic, &mut || Snapshot {
            cpu: vec![i as u8],
            ram: RamPages::capture(&ram),
            ..Default::default()
        })
        .unwrap();
        rec.clock(ic + 1, SyncKind::HostClock, &mut || 1_700_000_000 + i)
            .unwrap();
        let mut q = vec![AsyncEvent::SerialInput {
            port: 0,
            bytes: format!("cmd {i}\n").into_bytes(),
        }];
        rec.checkpoint(ic + 2, Checkpoint::AsyncPoll, &mut || q.pop())
            .unwrap();
        rec.digest(ic + 3, i, !i).unwrap();
        rec.flush(ic + 4).unwrap();
    }
    rec.finish(5000, 40_000, ShutdownCause::GuestShutdown)
        .unwrap();
    (dir, log)
}

#[test]
fn dump_writes_one_line_per_record_human_and_json() {
    let (dir, log) = record_file("dump");
    let mut r = LogReader::open(&log).unwrap();
    let mut human = Vec::new();
    dump(&mut r, false, &mut human).unwrap();
    let human = String::from_utf8(human).unwrap();
    assert!(human.contains("sync.host_clock"), "{human}");
    assert!(human.contains("\"cmd 3\\n\""), "{human}");
    assert!(human.contains("# image "), "{human}");

    let mut r = LogReader::open(&log).unwrap();
    let mut js = Vec::new();
    dump(&mut r, true, &mut js).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(js)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(lines[0]["header"]["images"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("kernel"));
    assert_eq!(lines[0]["header"]["shift"]["auto"], 4);
    // 5 × (snapshot ref, clock, checkpoint, serial, digest, instructions) + shutdown + end
    assert_eq!(lines.len(), 1 + 5 * 6 + 2);
    let serial = lines
        .iter()
        .find(|l| l["event"] == "async.serial_input")
        .unwrap();
    assert_eq!(serial["text"], "cmd 0\n");
    assert_eq!(serial["icount"], 2);
    let clock = lines
        .iter()
        .find(|l| l["event"] == "sync.host_clock")
        .unwrap();
    assert_eq!(clock["value"], 1_700_000_000u64);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stats_count_events_bytes_instructions_and_virtual_time() {
    let (dir, log) = record_file("stats");
    let s = stats(&mut LogReader::open(&log).unwrap());
    assert_eq!(s.problem, None);
    assert_eq!(s.per_kind["sync.host_clock"].count, 5);
    assert_eq!(s.per_kind["async.serial_input"].count, 5);
    assert_eq!(s.per_kind["digest"].count, 5);
    assert!(s.per_kind["digest"].bytes >= 5 * 16);
    assert_eq!(s.instructions, 5000);
    assert_eq!(s.virtual_ns, 40_000);
    assert!(!s.virtual_estimated);
    assert_eq!(s.snapshots, 5);
    assert!(s.compression_ratio() > 0.0);
    let text = s.to_string();
    assert!(text.contains("instructions: 5000"), "{text}");

    // A cut log: stats of what is readable, with the reason.
    let bytes = std::fs::read(&log).unwrap();
    let cut = dir.join("cut.rlog");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let s = stats(&mut LogReader::open(&cut).unwrap());
    assert!(s
        .problem
        .as_deref()
        .unwrap()
        .contains("log ends at instruction"));
    assert!(s.virtual_estimated);
    assert_eq!(s.virtual_ns, s.instructions << 4);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn open_at_finds_the_nearest_snapshot_and_images_are_checked() {
    let (dir, log) = record_file("open_at");
    let (mut p, snap) = Player::open_at(&log, 3500).unwrap();
    let snap = snap.unwrap();
    assert_eq!((snap.icount, snap.cpu.clone()), (3000, vec![3]));
    assert_eq!(snap.ram.stored_pages(), 3);
    let stop = p.next_stop().unwrap();
    assert_eq!(stop.icount, 3001);
    assert_eq!(
        p.clock(3001, SyncKind::HostClock, &mut || 0).unwrap(),
        1_700_000_003
    );
    p.verify_images().unwrap();
    assert_eq!(p.header().config, b"{\"ram_mb\":64}");

    std::fs::write(dir.join("kernel"), b"\x7fELF another kernel!").unwrap();
    let e = p.verify_images().unwrap_err();
    assert!(matches!(e, ReplayError::ImageChanged { .. }));
    assert!(e.to_string().contains("kernel"), "{e}");

    let (_, none) = Player::open_at(&log, 0).unwrap();
    assert_eq!(none.unwrap().icount, 0);
    let e = Player::open(&dir.join("missing.rlog")).err().unwrap();
    assert!(e.to_string().contains("missing.rlog"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
