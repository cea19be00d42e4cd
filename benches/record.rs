//! Record and replay overhead, and log size (issue 4, "Performance").
//!
//! 1. CPU-bound guests (benches/workloads/intloop.c and sort.c, built here with the
//!    system gcc as in benches/guests.rs): the same guest run three ways in one process
//!    — plain (`PassThrough`, as `reprise run`), recorded (`Recorder` writing a log
//!    file, as `reprise record`) and replayed from that log (`Player`, as `reprise
//!    replay`). Each configuration runs `RUNS` times, interleaved so that a change in
//!    machine load hits all three alike; the medians are compared. Both the time inside
//!    `Machine::run` and the whole run (building the machine, running, finishing and
//!    closing the log) are reported.
//! 2. Log size: guests/mb/tick_serial.c (a 1 ms APIC timer, a halt between ticks, one
//!    serial line per tick) and guests/mb/sys_bench.c (busy: system calls, page faults,
//!    a 20 µs timer) are recorded; `reprise_replay::inspect::stats` gives log bytes per
//!    virtual second and the compression ratio, and each log is replayed and checked.
//!
//! `cargo bench --bench record`; the tables for docs/performance.md are printed last.

use criterion::Criterion;
use reprise::host::IoThread;
use reprise::loader::MultibootOptions;
use reprise::machine::Host;
use reprise::{Machine, MachineConfig, Outcome, SharedBuffer};
use reprise_jit::Tier;
use reprise_replay::clock::{ClockConfig, IcountShift, SleepPolicy};
use reprise_replay::{
    ImageRecord, LogHeader, LogReader, Mode, PassThrough, Player, RamPages, Recorder,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// CPU-bound workloads: (name, scale, timed by criterion too), the first two as
/// benches/guests.rs runs them tiered. Recording has a fixed cost at its start (the
/// first snapshot), so a longer sort shows how the overhead shrinks with run length;
/// it is left out of criterion's loop to keep the bench short.
const CPU_WORKLOADS: [(&str, u64, bool); 3] = [
    ("intloop", 12, true),
    ("sort", 5, true),
    ("sort", 25, false),
];
/// Runs of each configuration for the overhead table.
const RUNS: usize = 7;
/// tick_serial: 1 ms ticks, so this many virtual milliseconds.
const TICKS: u64 = 5000;
/// sys_bench rounds for its log.
const SYS_ROUNDS: u64 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Run,
    Record,
    Replay,
}

impl How {
    fn name(self) -> &'static str {
        match self {
            How::Run => "run",
            How::Record => "record",
            How::Replay => "replay",
        }
    }
}

/// A guest image with the configuration it runs in.
struct Guest {
    name: String,
    path: PathBuf,
    image: Vec<u8>,
    cfg: MachineConfig,
    log: PathBuf,
}

struct Sample {
    /// Time inside `Machine::run`.
    run: Duration,
    /// Building the machine (and the log writer or reader), running, finishing.
    total: Duration,
    instructions: u64,
    digest: u64,
    virtual_ns: u64,
    serial: String,
}

fn cfg(boot: MultibootOptions) -> MachineConfig {
    MachineConfig {
        tier: Tier::Tiered,
        background_compile: true,
        boot,
        ..MachineConfig::default()
    }
}

fn host(how: How, g: &Guest) -> Host {
    match how {
        How::Run => Host {
            mode: Box::new(PassThrough),
            io: IoThread::new(PassThrough.io_side(), None),
            restore: None,
        },
        How::Record => {
            let images = vec![ImageRecord::from_file(&g.path).expect("hashing the kernel")];
            let clock = ClockConfig {
                shift: IcountShift::Fixed(g.cfg.icount_shift as u8),
                sleep: SleepPolicy::Off,
            };
            let header = LogHeader::new(Vec::new(), clock, images);
            let rec = Recorder::create(&g.log, &header).expect("creating the log");
            Host {
                io: IoThread::new(rec.io_side(), None),
                mode: Box::new(rec),
                restore: None,
            }
        }
        How::Replay => {
            let player = Player::open(&g.log).expect("opening the log");
            Host {
                io: IoThread::new(player.io_side(), None),
                mode: Box::new(player),
                restore: None,
            }
        }
    }
}

fn run(how: How, g: &Guest) -> Sample {
    let t0 = Instant::now();
    let serial = SharedBuffer::default();
    let mut m = Machine::with_host(&g.cfg, &g.image, Box::new(serial.clone()), host(how, g))
        .expect("machine");
    let outcome = m.run(None);
    let s = m.stats();
    let report = m.finish_report().cloned();
    let virtual_ns = m.virtual_ns();
    drop(m); // closes the log (record) or the reader (replay)
    let total = t0.elapsed();
    assert!(
        matches!(
            outcome,
            Outcome::DebugExit {
                value: 0 | 0x10,
                ..
            }
        ),
        "{} {}: ended with {outcome:?}:\n{}",
        how.name(),
        g.name,
        serial.text()
    );
    if how != How::Run {
        let r = report.expect("record/replay gives a finish report");
        assert!(r.matches, "{} {}: {}", how.name(), g.name, r.detail);
    }
    Sample {
        run: s.wall,
        total,
        instructions: s.instructions,
        digest: s.digest,
        virtual_ns,
        serial: serial.text(),
    }
}

fn gcc(args: &[&str]) {
    let out = Command::new("gcc")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gcc ({e}): install gcc to build the workloads"));
    assert!(
        out.status.success(),
        "gcc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a CPU workload as an ELF64 guest (as benches/guests.rs does).
fn cpu_guest(name: &str, scale: u64, out: &Path) -> Guest {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workloads");
    let s = |f: &str| src.join(f).display().to_string();
    let elf = out.join(format!("{name}-{scale}.elf"));
    gcc(&[
        "-O2",
        "-march=x86-64",
        "-ffreestanding",
        "-nostdlib",
        "-static",
        "-fno-pic",
        "-no-pie",
        "-mno-red-zone",
        "-fno-stack-protector",
        &format!("-DSCALE={scale}"),
        "-T",
        &s("link.ld"),
        "-o",
        &elf.display().to_string(),
        &s("guest_entry.S"),
        &s("guest_main.c"),
        &s(&format!("{name}.c")),
    ]);
    let image = std::fs::read(&elf).unwrap_or_else(|e| panic!("reading {}: {e}", elf.display()));
    Guest {
        name: format!("{name} (scale {scale})"),
        log: out.join(format!("{name}.log")),
        path: elf,
        image,
        cfg: cfg(MultibootOptions::default()),
    }
}

/// A Multiboot guest from build.rs with `append` on its command line.
fn mb_guest(name: &str, append: &str, out: &Path) -> Guest {
    let path = Path::new(env!("REPRISE_GUESTS_DIR")).join(format!("{name}.elf"));
    let image = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Guest {
        name: format!("{name} ({append})"),
        log: out.join(format!("{name}.log")),
        cfg: cfg(MultibootOptions {
            cmdline: format!("{} {append}", path.display()),
            modules: vec![],
        }),
        path,
        image,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(a: Duration, b: Duration) -> String {
    format!("{:+.1}%", 100.0 * (a.as_secs_f64() / b.as_secs_f64() - 1.0))
}

fn main() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-record");
    std::fs::create_dir_all(&out).expect("creating the bench directory");
    let cpu: Vec<(Guest, bool)> = CPU_WORKLOADS
        .iter()
        .map(|&(n, s, timed)| (cpu_guest(n, s, &out), timed))
        .collect();
    let logs = [
        mb_guest("tick_serial", &format!("ticks={TICKS}"), &out),
        mb_guest("sys_bench", &format!("rounds={SYS_ROUNDS}"), &out),
    ];

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    for (g, _) in cpu.iter().filter(|(_, timed)| *timed) {
        let mut grp = c.benchmark_group(g.name.split(' ').next().unwrap_or("cpu"));
        for how in [How::Run, How::Record, How::Replay] {
            // Replay needs the log of a recording made before it.
            if how == How::Replay {
                run(How::Record, g);
            }
            grp.bench_function(how.name(), |b| b.iter(|| run(how, g)));
        }
        grp.finish();
    }
    c.final_summary();

    // Overhead table: RUNS interleaved rounds of run, record, replay.
    println!();
    println!(
        "| guest | instructions | run | record | replay | record vs run | replay vs record | record vs run, whole | replay vs record, whole |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (g, _) in &cpu {
        let mut s: [Vec<Sample>; 3] = Default::default();
        for _ in 0..RUNS {
            for (i, how) in [How::Run, How::Record, How::Replay].into_iter().enumerate() {
                s[i].push(run(how, g));
            }
        }
        let first = &s[0][0];
        for (i, v) in s.iter().enumerate() {
            assert!(
                v.iter().all(|x| x.instructions == first.instructions
                    && x.digest == first.digest
                    && x.serial == first.serial),
                "{}: configuration {i} ended in a different state",
                g.name
            );
        }
        let m = |i: usize| median(s[i].iter().map(|x| x.run).collect());
        let t = |i: usize| median(s[i].iter().map(|x| x.total).collect());
        println!(
            "| {} | {} | {:.3} s | {:.3} s | {:.3} s | {} | {} | {} | {} |",
            g.name,
            first.instructions,
            m(0).as_secs_f64(),
            m(1).as_secs_f64(),
            m(2).as_secs_f64(),
            pct(m(1), m(0)),
            pct(m(2), m(1)),
            pct(t(1), t(0)),
            pct(t(2), t(1)),
        );
    }

    // Log size.
    println!();
    println!(
        "| guest | instructions | virtual time | log file | of which snapshot | records (uncompressed) | stored record chunks | compression | file bytes per virtual s | record bytes per virtual s | record | replay |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for g in logs.iter().chain(cpu.iter().map(|(g, _)| g)) {
        let rec = run(How::Record, g);
        let mut reader = LogReader::open(&g.log).expect("opening the log");
        let st = reprise_replay::inspect::stats(&mut reader);
        assert!(st.problem.is_none(), "{}: {:?}", g.name, st.problem);
        let rep = run(How::Replay, g);
        assert_eq!(
            rep.serial, rec.serial,
            "{}: replay printed something else",
            g.name
        );
        assert_eq!(rep.digest, rec.digest, "{}: replay ended elsewhere", g.name);
        let secs = st.virtual_ns as f64 / 1e9;
        println!(
            "| {} | {} | {:.3} s | {} B | {} B | {} B | {} B | {:.2}x | {:.0} B/s | {:.0} B/s | {:.3} s | {:.3} s |",
            g.name,
            st.instructions,
            secs,
            st.file_bytes,
            st.snapshot_bytes,
            st.uncompressed_bytes,
            st.compressed_bytes,
            st.compression_ratio(),
            st.file_bytes as f64 / secs,
            st.compressed_bytes as f64 / secs,
            rec.run.as_secs_f64(),
            rep.run.as_secs_f64(),
        );
        assert_eq!(rec.virtual_ns, st.virtual_ns, "{}: virtual time", g.name);
        println!("<!-- {}:\n{st}-->", g.name);
    }

    // Where recording's fixed cost goes: the first snapshot looks at every page of RAM
    // for non-zero bytes. Timed here on as much zeroed, untouched memory as the guests
    // get (like the guest's RAM mapping before the guest writes it).
    let mib = MachineConfig::default().memory_mib;
    let ram = vec![0u8; usize::try_from(mib << 20).unwrap_or(0)];
    let t0 = Instant::now();
    let pages = RamPages::capture(&ram);
    println!(
        "first snapshot's RAM scan (RamPages::capture, {mib} MiB untouched): {:.1} ms, {} pages kept",
        t0.elapsed().as_secs_f64() * 1e3,
        pages.stored_pages()
    );
}
