//! System workload: reprise against QEMU TCG on a guest heavy in system calls, page
//! faults and timer interrupts (issue 3, item 8).
//!
//! The guest is guests/mb/sys_bench.c, a Multiboot kernel built by build.rs: ring-3 code
//! does a fixed amount of work — `ROUNDS` × 16 demand page faults (map on fault; unmap
//! and INVLPG once per round), `ROUNDS` × 129 SYSCALL/SYSRET round trips — while the
//! local APIC timer interrupts it every 20 µs of guest time. It checks its own results
//! and exits through isa-debug-exit (status 33 = PASS).
//!
//! Measured: reprise in-process (`Machine::run`, tiered: guest MIPS), the `reprise run`
//! process, and — when `qemu-system-x86_64` is on PATH — the QEMU process with
//! `-accel tcg`, plain and with `-icount shift=0` (whose guest clock, like reprise's,
//! advances 1 ns per instruction, so the guest takes the same number of timer
//! interrupts). Without QEMU the comparison is skipped with a note.
//!
//! `cargo bench --bench system` runs it all; the table for docs/performance.md is
//! printed at the end from medians of `RUNS` runs of each configuration.

use criterion::Criterion;
use reprise::loader::MultibootOptions;
use reprise::{Machine, MachineConfig, Outcome, SharedBuffer};
use reprise_jit::Tier;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Rounds of work (each: 16 page faults, 129 system calls).
const ROUNDS: u64 = 2000;
/// Runs per configuration for the summary table.
const RUNS: usize = 5;
const MEMORY_MIB: u64 = 128;
const QEMU: &str = "qemu-system-x86_64";
/// isa-debug-exit status for a guest that wrote 0x10 (PASS).
const PASS_STATUS: i32 = 33;

fn kernel() -> PathBuf {
    Path::new(env!("REPRISE_GUESTS_DIR")).join("sys_bench.elf")
}

fn append() -> String {
    format!("rounds={ROUNDS}")
}

/// What one run printed and how long it took.
struct Sample {
    wall: Duration,
    /// Guest instructions (reprise in-process only).
    instructions: u64,
    /// Timer interrupts the guest counted.
    ticks: u64,
    compile: Duration,
}

/// The guest's "sys_bench: ticks N" line; panics (a bench, not a test) if the guest
/// did not pass its own checks.
fn check_output(who: &str, out: &str) -> u64 {
    assert!(
        out.contains("PASS sys_bench (") && !out.contains("FAIL"),
        "{who}: sys_bench did not pass:\n{out}"
    );
    out.lines()
        .find_map(|l| l.strip_prefix("sys_bench: ticks "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{who}: no tick count in the output:\n{out}"))
}

fn run_in_process(image: &[u8]) -> Sample {
    let path = kernel();
    let serial = SharedBuffer::default();
    let cfg = MachineConfig {
        memory_mib: MEMORY_MIB,
        tier: Tier::Tiered,
        background_compile: true,
        boot: MultibootOptions {
            cmdline: format!("{} {}", path.display(), append()),
            modules: vec![],
        },
        ..MachineConfig::default()
    };
    let mut m = Machine::new(&cfg, image, Box::new(serial.clone())).expect("machine");
    let outcome = m.run(None);
    let text = serial.text();
    assert!(
        matches!(outcome, Outcome::DebugExit { value: 0x10, .. }),
        "sys_bench ended with {outcome:?}:\n{text}"
    );
    let s = m.stats();
    Sample {
        wall: s.wall,
        instructions: s.instructions,
        ticks: check_output("reprise", &text),
        compile: s.compile_time,
    }
}

/// Runs a whole process and times it; its stdout is the guest's serial output.
fn run_process(who: &str, cmd: &mut Command) -> Sample {
    let t0 = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {who}: {e}"));
    let wall = t0.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(
        out.status.code(),
        Some(PASS_STATUS),
        "{who} exited with {:?}:\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Sample {
        wall,
        instructions: 0,
        ticks: check_output(who, &text),
        compile: Duration::ZERO,
    }
}

fn reprise_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reprise"));
    c.arg("run")
        .arg("--memory")
        .arg(MEMORY_MIB.to_string())
        .arg("--kernel")
        .arg(kernel())
        .arg("--append")
        .arg(append());
    c
}

fn qemu_cmd(icount: bool) -> Command {
    let mut c = Command::new(QEMU);
    c.args(["-accel", "tcg", "-m", &MEMORY_MIB.to_string()])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .args(["-serial", "stdio"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
    if icount {
        c.args(["-icount", "shift=0"]);
    }
    c.arg("-kernel").arg(kernel()).arg("-append").arg(append());
    c
}

/// `qemu-system-x86_64 --version`'s first line, or `None` when it cannot run.
fn qemu_version() -> Option<String> {
    let out = Command::new(QEMU).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout);
    Some(v.lines().next().unwrap_or("").trim().to_string())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    wall: Duration,
    ticks: u64,
}

fn measure(name: &'static str, f: &mut dyn FnMut() -> Sample) -> (Row, Vec<Sample>) {
    let samples: Vec<Sample> = (0..RUNS).map(|_| f()).collect();
    let row = Row {
        name,
        wall: median(samples.iter().map(|s| s.wall).collect()),
        ticks: median_u64(samples.iter().map(|s| s.ticks).collect()),
    };
    (row, samples)
}

fn main() {
    let image = std::fs::read(kernel()).unwrap_or_else(|e| {
        panic!(
            "reading {} ({e}): build.rs builds it with the system gcc",
            kernel().display()
        )
    });
    let qemu = qemu_version();

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("sys_bench");
        g.bench_function("reprise-in-process", |b| b.iter(|| run_in_process(&image)));
        g.bench_function("reprise-process", |b| {
            b.iter(|| run_process("reprise", &mut reprise_cmd()))
        });
        if qemu.is_some() {
            g.bench_function("qemu-tcg", |b| {
                b.iter(|| run_process("qemu", &mut qemu_cmd(false)))
            });
            g.bench_function("qemu-tcg-icount", |b| {
                b.iter(|| run_process("qemu -icount", &mut qemu_cmd(true)))
            });
        }
        g.finish();
    }
    c.final_summary();

    // The table for docs/performance.md: medians of RUNS runs each, in this run.
    let (inproc, samples) = measure("reprise (Machine::run)", &mut || run_in_process(&image));
    let insns = samples[0].instructions;
    assert!(
        samples.iter().all(|s| s.instructions == insns),
        "reprise's instruction count differs between runs"
    );
    let compile = median(samples.iter().map(|s| s.compile).collect());
    let (process, _) = measure("reprise run (process)", &mut || {
        run_process("reprise", &mut reprise_cmd())
    });
    let mut rows = vec![inproc, process];
    match &qemu {
        Some(_) => {
            rows.push(
                measure("qemu -accel tcg", &mut || {
                    run_process("qemu", &mut qemu_cmd(false))
                })
                .0,
            );
            rows.push(
                measure("qemu -accel tcg -icount shift=0", &mut || {
                    run_process("qemu -icount", &mut qemu_cmd(true))
                })
                .0,
            );
        }
        None => println!(
            "note: {QEMU} is not on PATH: the QEMU comparison is skipped (install QEMU, e.g. \
             `apt-get install qemu-system-x86`, to measure it)"
        ),
    }

    let reprise_process = rows[1].wall;
    println!();
    println!(
        "sys_bench, rounds={ROUNDS}: {} page faults, {} system calls, {insns} guest instructions; QEMU: {}",
        ROUNDS * 16,
        ROUNDS * 129,
        qemu.as_deref().unwrap_or("not installed")
    );
    println!(
        "reprise in-process: {:.0} MIPS, compile share {:.1}%",
        insns as f64 / rows[0].wall.as_secs_f64() / 1e6,
        100.0 * compile.as_secs_f64() / rows[0].wall.as_secs_f64()
    );
    println!();
    println!("| configuration | wall (median of {RUNS}) | timer interrupts | reprise run / this |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.3} s | {} | {:.2}x |",
            r.name,
            r.wall.as_secs_f64(),
            r.ticks,
            reprise_process.as_secs_f64() / r.wall.as_secs_f64()
        );
    }
}
