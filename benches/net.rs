//! Network round trip and throughput (issue 5, "Performance"): the virtio_net guest
//! (guests/mb/virtio_net.c) sends COUNT UDP echo requests, one at a time, over the udp
//! backend to a Rust peer on loopback, in `run`, `record` and `replay` (replay needs no
//! peer: the echoes come from the log).
//!
//! Reported per configuration: the guest's own round-trip figure (RDTSC, the virtual
//! clock: nanoseconds of guest instructions at --icount-shift 0; idle time while the
//! guest waits in HLT costs no virtual time with --icount-sleep off), host wall time
//! per echo and payload throughput in both directions — both from the whole run less
//! a one-echo run of the same mode, which leaves out building the machine and the
//! first snapshot — and for record the log's size per MB of frames received.
//!
//! `cargo bench --bench net`; the table for docs/performance.md is printed last.

use reprise::cli::{
    record_kernel, replay_log, run_kernel, KernelArgs, MachineArgs, RecordArgs, ReplayArgs, TierArg,
};
use reprise::host::{NetdevSpec, SerialBackend};
use reprise::SharedBuffer;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (UDP payload bytes, echoes).
const CASES: [(u32, u32); 2] = [(64, 2000), (1400, 2000)];

fn peer(stop: Arc<AtomicBool>) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("peer socket");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let addr = sock.local_addr().expect("peer address");
    let t = std::thread::spawn(move || {
        let mut buf = vec![0u8; 70000];
        while !stop.load(Ordering::SeqCst) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let f = &mut buf[..n];
            if n >= 42 {
                for (a, b, k) in [(0, 6, 6), (26, 30, 4), (34, 36, 2)] {
                    for i in 0..k {
                        f.swap(a + i, b + i);
                    }
                }
            }
            let _ = sock.send_to(f, from);
        }
    });
    (addr, t)
}

fn free_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("ephemeral port")
}

fn kernel(size: u32, count: u32) -> KernelArgs {
    KernelArgs {
        kernel: Path::new(env!("REPRISE_GUESTS_DIR")).join("virtio_net.elf"),
        append: Some(format!("count={count} size={size}")),
        ..KernelArgs::default()
    }
}

fn machine(netdev: NetdevSpec) -> MachineArgs {
    MachineArgs {
        memory: 32,
        serial: SerialBackend::Stdio,
        no_stdin: true,
        jit_thread: true,
        netdev: Some(netdev),
        ..MachineArgs::default()
    }
}

/// The guest's "rtt_ticks ... avg N" figure.
fn guest_avg(serial: &str) -> u64 {
    serial
        .split_whitespace()
        .skip_while(|w| *w != "avg")
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

struct Row {
    how: &'static str,
    size: u32,
    count: u32,
    guest_rtt_ns: u64,
    wall: Duration,
    /// The same mode's wall time for one echo.
    fixed: Duration,
    log_bytes: Option<u64>,
}

/// Runs `count` echoes of `size` bytes in run, record and replay.
fn case(dir: &Path, size: u32, count: u32) -> Vec<Row> {
    let mut rows = Vec::new();
    {
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, t) = peer(stop.clone());
        let spec = || NetdevSpec::Udp {
            local: free_port(),
            remote: addr,
        };
        // run
        let out = SharedBuffer::default();
        let t0 = Instant::now();
        let r = run_kernel(
            &kernel(size, count),
            &machine(spec()),
            Box::new(out.clone()),
        )
        .expect("run");
        let wall = t0.elapsed();
        assert!(
            out.text().contains("every echo came back intact"),
            "{:?}",
            r.outcome
        );
        rows.push(Row {
            how: "run",
            size,
            count,
            guest_rtt_ns: guest_avg(&out.text()),
            wall,
            fixed: Duration::ZERO,
            log_bytes: None,
        });
        // record
        let log: PathBuf = dir.join(format!("net-{size}.log"));
        let out = SharedBuffer::default();
        let a = RecordArgs {
            log: log.clone(),
            snapshot_interval: None,
            digest_interval: reprise::machine::DEFAULT_DIGEST_INTERVAL,
            kernel: kernel(size, count),
            machine: machine(spec()),
        };
        let t0 = Instant::now();
        record_kernel(&a, Box::new(out.clone())).expect("record");
        let wall = t0.elapsed();
        let recorded = out.text();
        rows.push(Row {
            how: "record",
            size,
            count,
            guest_rtt_ns: guest_avg(&recorded),
            wall,
            fixed: Duration::ZERO,
            log_bytes: std::fs::metadata(&log).map(|m| m.len()).ok(),
        });
        stop.store(true, Ordering::SeqCst);
        let _ = t.join();
        // replay (no peer)
        let out = SharedBuffer::default();
        let args = ReplayArgs {
            log: log.clone(),
            seek: None,
            tier: TierArg::Tiered,
            jit_thread: true,
            progress: Some(false),
            pcap: None,
            audio_out: None,
        };
        let t0 = Instant::now();
        let r = replay_log(&args, Box::new(out.clone()), None).expect("replay");
        let wall = t0.elapsed();
        assert_eq!(out.text(), recorded, "replay output");
        assert!(r.report.is_some_and(|x| x.matches));
        rows.push(Row {
            how: "replay",
            size,
            count,
            guest_rtt_ns: guest_avg(&out.text()),
            wall,
            fixed: Duration::ZERO,
            log_bytes: None,
        });
    }
    rows
}

fn main() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-net");
    std::fs::create_dir_all(&dir).expect("bench directory");
    let mut rows = Vec::new();
    for (size, count) in CASES {
        // The same with one echo: the fixed cost (building the machine, the first
        // snapshot, opening the log) that the per-echo figures leave out. The smaller
        // of three one-echo runs is taken.
        let base: Vec<Row> =
            (0..3)
                .map(|_| case(&dir, size, 1))
                .fold(case(&dir, size, 1), |a, b| {
                    a.into_iter()
                        .zip(b)
                        .map(|(x, y)| if y.wall < x.wall { y } else { x })
                        .collect()
                });
        for (mut r, b) in case(&dir, size, count).into_iter().zip(base) {
            r.fixed = b.wall;
            rows.push(r);
        }
    }
    println!();
    println!("| mode | UDP payload | echoes | guest RTT (virtual ns) | host µs per echo | payload MB/s (both ways) | whole run (s) | one-echo run (s) | log bytes per MB received |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let frame = 14 + 20 + 8 + u64::from(r.size);
        let payload = 2 * u64::from(r.count) * u64::from(r.size);
        // Per echo: the whole run less the one-echo run.
        let secs = r.wall.saturating_sub(r.fixed).as_secs_f64().max(1e-9);
        let per_mb = r.log_bytes.map_or("".to_string(), |b| {
            let mb = (u64::from(r.count) * frame) as f64 / 1e6;
            format!("{:.0}", b as f64 / mb)
        });
        println!(
            "| {} | {} B | {} | {} | {:.1} | {:.2} | {:.3} | {:.3} | {} |",
            r.how,
            r.size,
            r.count,
            r.guest_rtt_ns,
            secs * 1e6 / f64::from(r.count - 1),
            payload as f64 / secs / 1e6,
            r.wall.as_secs_f64(),
            r.fixed.as_secs_f64(),
            per_mb
        );
    }
}
