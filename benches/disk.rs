//! Disk throughput (issue 5, "Performance"): guests/mb/disk_bench.c drives virtio-blk
//! with 4 KiB requests, one in flight — sequential reads and writes over the whole
//! image, then random reads and writes — and times each pattern with RDTSC, which on
//! reprise is the virtual clock (ns). The same guest runs three ways, as the CLI runs
//! it: `run` (writes go through to the image), `record` (writes to an overlay, every
//! completion logged) and `replay` (completions from the log; the image is not read).
//!
//! Reported per mode and pattern: MB/s and IOPS as the guest measures them (virtual
//! time), host wall-clock MB/s over the whole run, and for record the log's bytes per
//! MB transferred. The image is pseudo-random bytes, so the log's compression does not
//! flatter it.
//!
//! `cargo bench --bench disk` (optionally `-- MIB`, default 32); the table for
//! docs/performance.md is printed at the end.

use reprise::cli::{
    record_kernel, replay_log, run_kernel, KernelArgs, MachineArgs, RecordArgs, ReplayArgs,
    RunResult, TierArg,
};
use reprise::host::{DriveSpec, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PATTERNS: [&str; 4] = ["seq_read", "seq_write", "rand_read", "rand_write"];

struct Pattern {
    name: String,
    bytes: u64,
    ops: u64,
    ns: u64,
}

struct Measured {
    mode: &'static str,
    patterns: Vec<Pattern>,
    wall: Duration,
    instructions: u64,
}

fn parse(serial: &str) -> Vec<Pattern> {
    let mut v = Vec::new();
    for line in serial.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        // disk_bench: <pattern> <bytes> bytes <ops> ops <ns> ns
        if w.len() == 8 && w[0] == "disk_bench:" && PATTERNS.contains(&w[1]) {
            let n = |i: usize| w[i].parse::<u64>().unwrap_or(0);
            v.push(Pattern {
                name: w[1].to_string(),
                bytes: n(2),
                ops: n(4),
                ns: n(6),
            });
        }
    }
    v
}

fn kernel() -> KernelArgs {
    KernelArgs {
        kernel: PathBuf::from(env!("REPRISE_GUESTS_DIR")).join("disk_bench.elf"),
        ..KernelArgs::default()
    }
}

fn machine(image: &Path) -> MachineArgs {
    MachineArgs {
        memory: 64,
        tier: TierArg::Tiered,
        serial: SerialBackend::Stdio,
        no_stdin: true,
        drive: vec![DriveSpec {
            file: image.to_path_buf(),
            read_only: false,
        }],
        ..MachineArgs::default()
    }
}

fn check(mode: &'static str, r: RunResult, serial: String, wall: Duration) -> Measured {
    let pass = Outcome::DebugExit {
        value: 0x10,
        status: 0x21,
    };
    assert_eq!(r.outcome, pass, "{mode}: {}\n{serial}", r.outcome.message());
    let patterns = parse(&serial);
    assert_eq!(patterns.len(), 4, "{mode}: {serial}");
    Measured {
        mode,
        patterns,
        wall,
        instructions: r.stats.instructions,
    }
}

fn main() {
    let mib: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(32);
    let dir = std::env::temp_dir().join(format!("reprise-disk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let image = dir.join("disk.img");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&image, &bytes).expect("write image");
    let log = dir.join("disk.log");
    let mut results = Vec::new();

    let out = SharedBuffer::default();
    let t = Instant::now();
    let r = run_kernel(&kernel(), &machine(&image), Box::new(out.clone())).expect("run");
    results.push(check("run", r, out.text(), t.elapsed()));
    // `run` wrote through to the image: put the original back for record.
    std::fs::write(&image, &bytes).expect("rewrite image");

    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.clone(),
        snapshot_interval: None,
        digest_interval: reprise::machine::DEFAULT_DIGEST_INTERVAL,
        kernel: kernel(),
        machine: machine(&image),
    };
    let t = Instant::now();
    let r = record_kernel(&a, Box::new(out.clone())).expect("record");
    let recorded = check("record", r, out.text(), t.elapsed());
    let recorded_instructions = recorded.instructions;
    results.push(recorded);
    let log_bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);

    let out = SharedBuffer::default();
    let ra = ReplayArgs {
        log: log.clone(),
        seek: None,
        tier: TierArg::Tiered,
        jit_thread: true,
        progress: Some(false),
        pcap: None,
        audio_out: None,
    };
    let t = Instant::now();
    let r = replay_log(&ra, Box::new(out.clone()), None).expect("replay");
    let replayed = check("replay", r, out.text(), t.elapsed());
    assert_eq!(
        replayed.instructions, recorded_instructions,
        "replay retired a different count"
    );
    results.push(replayed);

    let total: u64 = results[0].patterns.iter().map(|p| p.bytes).sum();
    let mb = |b: u64| b as f64 / 1e6;
    println!();
    println!("Disk: {mib} MiB image, 4 KiB requests, one in flight (guest-measured on the virtual clock)");
    println!();
    println!("| mode | pattern | guest MB/s | guest IOPS | ops |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for m in &results {
        for p in &m.patterns {
            let secs = p.ns as f64 / 1e9;
            println!(
                "| {} | {} | {:.1} | {:.0} | {} |",
                m.mode,
                p.name,
                mb(p.bytes) / secs,
                p.ops as f64 / secs,
                p.ops
            );
        }
    }
    println!();
    println!("| mode | host wall s | host MB/s (all patterns) | instructions |");
    println!("| --- | ---: | ---: | ---: |");
    for m in &results {
        let s = m.wall.as_secs_f64();
        println!(
            "| {} | {:.2} | {:.1} | {} |",
            m.mode,
            s,
            mb(total) / s,
            m.instructions
        );
    }
    println!();
    println!(
        "log: {log_bytes} bytes for {:.1} MB transferred: {:.0} bytes per MB (reads carry their data; writes only a status)",
        mb(total),
        log_bytes as f64 / mb(total)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
