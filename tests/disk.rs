//! Several drives: the virtio_drives guest (guests/mb) uses drive 0 (pin 16) and drive
//! 1 (the shared pin 19) at once, under `run` and `record` → `replay`; every image is
//! hashed in the log, each drive has its own overlay, and block completions carry the
//! drive number.

mod common;

use common::rr::{kernel_args, replay, Run, Scratch};
use reprise::cli::{record_kernel, run_kernel, MachineArgs, RecordArgs, TierArg};
use reprise::host::{DriveSpec, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use reprise_replay::{AsyncEvent, Event};
use std::path::{Path, PathBuf};

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

/// Image `n`: byte i is (i * 7 + n * 0x40) & 0xff, 64 KiB.
fn make_image(path: &Path, n: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..64 << 10).map(|i| (i * 7 + n * 0x40) as u8).collect();
    std::fs::write(path, &bytes).expect("write image");
    bytes
}

fn machine(drives: &[PathBuf]) -> MachineArgs {
    MachineArgs {
        memory: 32,
        icount_limit: Some(2_000_000_000),
        tier: TierArg::Tiered,
        serial: SerialBackend::Stdio,
        no_stdin: true,
        jit_thread: false,
        drive: drives
            .iter()
            .map(|f| DriveSpec {
                file: f.clone(),
                read_only: false,
            })
            .collect(),
        ..MachineArgs::default()
    }
}

fn run(m: MachineArgs) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let r = run_kernel(
        &kernel_args("virtio_drives", None),
        &m,
        Box::new(out.clone()),
    )?;
    Ok(Run::new(r, out.text()))
}

#[test]
fn two_drives_run_and_write_through_to_their_own_image() {
    let s = Scratch::new("drives-run");
    let imgs = [s.path("d0.img"), s.path("d1.img")];
    let before: Vec<_> = imgs
        .iter()
        .enumerate()
        .map(|(n, p)| make_image(p, n))
        .collect();
    let r = run(machine(&imgs)).expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(!r.serial.contains("FAIL"), "{}", r.serial);
    assert_eq!(
        std::fs::read(&imgs[0]).unwrap(),
        before[0],
        "drive 0 untouched"
    );
    let d1 = std::fs::read(&imgs[1]).unwrap();
    assert_eq!(d1[512 + 5], 0x3c ^ 5, "drive 1's write reached its file");
}

#[test]
fn two_drives_record_and_replay_with_completions_per_drive() {
    let s = Scratch::new("drives-rr");
    let imgs = [s.path("d0.img"), s.path("d1.img")];
    let before: Vec<_> = imgs
        .iter()
        .enumerate()
        .map(|(n, p)| make_image(p, n))
        .collect();
    let log = s.path("drives.log");
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.clone(),
        snapshot_interval: Some(100_000),
        digest_interval: 10_000,
        kernel: kernel_args("virtio_drives", None),
        machine: machine(&imgs),
    };
    let rec = Run::new(
        record_kernel(&a, Box::new(out.clone())).expect("record"),
        out.text(),
    );
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    for (p, b) in imgs.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            b,
            "record modified {}",
            p.display()
        );
    }
    let devices: Vec<u32> = common::rr::events(&log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Async(AsyncEvent::BlockComplete { device, .. }) => Some(device),
            _ => None,
        })
        .collect();
    assert!(devices.contains(&0) && devices.contains(&1), "{devices:?}");
    let header = reprise_replay::LogReader::open(&log)
        .unwrap()
        .header()
        .clone();
    for p in &imgs {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            header.images.iter().any(|i| i.path.contains(&name)),
            "{name} hashed in the log header"
        );
    }
    let rep = replay(&log, TierArg::Interp, None);
    rec.assert_same(&rep, "replay");
    // Seek past the start: the snapshot restores both devices.
    let sought = replay(&log, TierArg::Tiered, Some(rec.icount / 2));
    assert_eq!(sought.icount, rec.icount / 2);
}

#[test]
fn five_drives_are_refused() {
    let s = Scratch::new("drives-five");
    let imgs: Vec<PathBuf> = (0..5).map(|n| s.path(&format!("d{n}.img"))).collect();
    for (n, p) in imgs.iter().enumerate() {
        make_image(p, n);
    }
    let e = run(machine(&imgs)).expect_err("refused");
    assert!(e.contains("room for 4"), "{e}");
}

#[test]
fn disk_bench_records_and_replays_on_a_small_image() {
    let s = Scratch::new("drives-bench");
    let img = s.path("bench.img");
    let bytes: Vec<u8> = (0..256u32 << 10).map(|i| ((i * 31) >> 3) as u8).collect();
    std::fs::write(&img, &bytes).unwrap();
    let log = s.path("bench.log");
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.clone(),
        snapshot_interval: None,
        digest_interval: 100_000,
        kernel: kernel_args("disk_bench", None),
        machine: machine(std::slice::from_ref(&img)),
    };
    let rec = Run::new(
        record_kernel(&a, Box::new(out.clone())).expect("record"),
        out.text(),
    );
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    for p in ["seq_read", "seq_write", "rand_read", "rand_write"] {
        assert!(
            rec.serial.contains(&format!("disk_bench: {p} ")),
            "{p}: {}",
            rec.serial
        );
    }
    assert!(
        rec.serial.contains("disk_bench: 64 blocks of 4 KiB"),
        "{}",
        rec.serial
    );
    assert!(
        rec.serial.contains("disk_bench: 0 errors"),
        "{}",
        rec.serial
    );
    assert_eq!(
        std::fs::read(&img).unwrap(),
        bytes,
        "record left the image alone"
    );
    let rep = replay(&log, TierArg::Tiered, None);
    rec.assert_same(&rep, "replay");
}
