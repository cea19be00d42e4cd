//! virtio-blk and virtio-rng on the machine, end to end: the virtio_blk and virtio_rng
//! guests (guests/mb) under `run`, `record` and `replay`, with a temporary raw image.

mod common;

use common::rr::{kernel_args, replay, try_replay, Run, Scratch};
use reprise::cli::{record_kernel, run_kernel, MachineArgs, RecordArgs, TierArg};
use reprise::host::{DriveSpec, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use reprise_replay::{AsyncEvent, Event, SyncKind};
use std::path::{Path, PathBuf};

const IMAGE_BYTES: usize = 64 << 10;
const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

/// The image the virtio_blk guest expects: byte i is (i * 7) & 0xff.
fn make_image(path: &Path) -> Vec<u8> {
    let bytes: Vec<u8> = (0..IMAGE_BYTES).map(|i| (i * 7) as u8).collect();
    std::fs::write(path, &bytes).expect("write image");
    bytes
}

/// What the guest writes to sectors 8-15.
fn pattern() -> Vec<u8> {
    (0..4096usize)
        .map(|i| (0xa5 ^ i ^ (i >> 8)) as u8)
        .collect()
}

fn machine(drive: Option<PathBuf>, read_only: bool, rng: bool) -> MachineArgs {
    MachineArgs {
        memory: 32,
        icount_limit: Some(2_000_000_000),
        tier: TierArg::Interp,
        serial: SerialBackend::Stdio,
        jit_thread: false,
        drive: drive
            .map(|file| DriveSpec { file, read_only })
            .into_iter()
            .collect(),
        rng,
        ..MachineArgs::default()
    }
}

fn run(guest: &str, append: Option<&str>, m: MachineArgs) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let r = run_kernel(&kernel_args(guest, append), &m, Box::new(out.clone()))?;
    Ok(Run::new(r, out.text()))
}

fn record(guest: &str, log: &Path, m: MachineArgs) -> Run {
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.to_path_buf(),
        snapshot_interval: Some(50_000),
        digest_interval: 10_000,
        kernel: kernel_args(guest, None),
        machine: m,
    };
    let r = record_kernel(&a, Box::new(out.clone())).expect("record");
    Run::new(r, out.text())
}

fn events(log: &Path) -> Vec<(u64, Event)> {
    common::rr::events(log)
}

#[test]
fn run_writes_through_to_the_image() {
    let s = Scratch::new("virtio-run");
    let img = s.path("disk.img");
    let before = make_image(&img);
    let r = run("virtio_blk", None, machine(Some(img.clone()), false, false)).expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(
        r.serial.contains("PASS virtio_blk (14 checks, 0 failed)"),
        "{}",
        r.serial
    );
    let after = std::fs::read(&img).unwrap();
    assert_eq!(
        &after[8 * 512..16 * 512],
        &pattern()[..],
        "sectors 8-15 in the file"
    );
    assert_eq!(&after[..8 * 512], &before[..8 * 512]);
    assert_eq!(&after[17 * 512..], &before[17 * 512..]);
}

#[test]
fn read_only_drive_refuses_writes() {
    let s = Scratch::new("virtio-ro");
    let img = s.path("disk.img");
    let before = make_image(&img);
    let r = run(
        "virtio_blk",
        Some("ro"),
        machine(Some(img.clone()), true, false),
    )
    .expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(r
        .serial
        .contains("PASS virtio_blk: a write to a read-only disk gets IOERR"));
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn missing_image_is_refused_before_the_guest_starts() {
    let s = Scratch::new("virtio-missing");
    let img = s.path("nope.img");
    let e = run("virtio_blk", None, machine(Some(img.clone()), false, false)).unwrap_err();
    assert!(
        e.contains("cannot open disk image") && e.contains("nope.img"),
        "{e}"
    );
}

#[test]
fn record_and_replay_leave_the_image_alone_and_match() {
    let s = Scratch::new("virtio-rr");
    let img = s.path("disk.img");
    let before = make_image(&img);
    let log = s.path("blk.log");
    let rec = record("virtio_blk", &log, machine(Some(img.clone()), false, false));
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(
        rec.serial.contains("PASS virtio_blk (14 checks, 0 failed)"),
        "{}",
        rec.serial
    );
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "record modified the image"
    );
    // Every request that reached the I/O worker was logged as a completion.
    let completions: Vec<_> = events(&log)
        .into_iter()
        .filter_map(|(ic, e)| match e {
            Event::Async(AsyncEvent::BlockComplete {
                request, status, ..
            }) => Some((ic, request, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        completions.len(),
        6,
        "read, write, flush, read back, write code, read code: {completions:?}"
    );
    assert!(completions.iter().all(|c| c.2 == 0));
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let rep = replay(&log, tier, None);
        rec.assert_same(&rep, "replay");
    }
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "replay modified the image"
    );
    // Seek into the run (a snapshot with the devices' state) and stop there exactly.
    // The recording took snapshots every 50k instructions, after the device setup.
    assert!(rec.icount > 60_000, "icount {}", rec.icount);
    let snaps = common::rr::events(&log)
        .iter()
        .filter(|(_, e)| matches!(e, Event::SnapshotRef { .. }))
        .count();
    assert!(snaps >= 2, "{snaps} snapshots");
    let mid = rec.icount / 2;
    let sought = replay(&log, TierArg::Interp, Some(mid));
    assert_eq!(sought.outcome, Outcome::IcountLimit { icount: mid });
    // From the last snapshot to the end: devices restored mid-run finish the same.
    let late = replay(&log, TierArg::Interp, Some(rec.icount - 1));
    assert_eq!(late.icount, rec.icount - 1);
}

#[test]
fn replay_refuses_a_changed_image() {
    let s = Scratch::new("virtio-changed");
    let img = s.path("disk.img");
    let mut bytes = make_image(&img);
    let log = s.path("blk.log");
    let rec = record("virtio_blk", &log, machine(Some(img.clone()), false, false));
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    bytes[100] ^= 1;
    std::fs::write(&img, &bytes).unwrap();
    let e = try_replay(&log, TierArg::Interp, None).unwrap_err();
    assert!(
        e.contains("disk.img has changed since the recording"),
        "the message names the image: {e}"
    );
}

#[test]
fn rng_bytes_are_recorded_and_replayed() {
    let s = Scratch::new("virtio-rng");
    let log = s.path("rng.log");
    let rec = record("virtio_rng", &log, machine(None, false, true));
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert_eq!(
        rec.serial.matches("\nrng ").count() + rec.serial.starts_with("rng ") as usize,
        4
    );
    let rng = common::rr::sync_icounts(&log, SyncKind::DeviceRng);
    assert_eq!(rng.len(), 4, "one DeviceRng input per request");
    let rep = replay(&log, TierArg::Tiered, None);
    rec.assert_same(&rep, "rng replay");
    // A second recording draws other bytes.
    let log2 = s.path("rng2.log");
    let rec2 = record("virtio_rng", &log2, machine(None, false, true));
    assert_ne!(rec.serial, rec2.serial);
}

#[test]
fn no_device_without_the_options() {
    // Without --drive the window reads as no device: the guest fails its setup check.
    let r = run("virtio_blk", None, machine(None, false, false)).expect("run");
    assert!(
        r.serial
            .contains("FAIL virtio_blk: virtio-blk found and set up"),
        "{}",
        r.serial
    );
}

#[test]
fn drive_option_parses_and_explains_mistakes() {
    use clap::Parser;
    use reprise::cli::{Cli, Command};
    let ok = Cli::try_parse_from([
        "reprise",
        "run",
        "--kernel",
        "k",
        "--drive",
        "file=d.img,format=raw,readonly=on",
        "--rng",
        "on",
    ])
    .expect("parses");
    let Some(Command::Run(a)) = ok.command else {
        panic!("not a run command");
    };
    assert_eq!(
        a.machine.drive,
        vec![DriveSpec {
            file: PathBuf::from("d.img"),
            read_only: true
        }]
    );
    assert!(a.machine.rng);
    for (spec, says) in [
        ("file=d.img,format=qcow2", "only raw images"),
        ("readonly=on", "file=PATH is missing"),
        ("file=d.img,cache=none", "unknown option `cache`"),
        ("d.img", "expected KEY=VALUE"),
    ] {
        let e = Cli::try_parse_from(["reprise", "run", "--kernel", "k", "--drive", spec])
            .expect_err(spec)
            .to_string();
        assert!(e.contains(says), "{spec}: {e}");
    }
}
