//! Guest workloads: reprise (interpreter-only and tiered) against the same C code built
//! for and run on the host.
//!
//! Each workload in `benches/workloads/` is compiled twice with the system gcc: as a
//! freestanding guest (linked at 1 MiB, entered in 64-bit mode by reprise's ELF loader)
//! and as a native executable. Criterion times every configuration; afterwards a table
//! of ratios measured in this same run (slowdown against native, guest MIPS, share of
//! wall time spent compiling) is printed for docs/performance.md.
//!
//! `cargo bench --bench guests` runs everything; `cargo bench --bench guests -- tiered`
//! runs only the matching benchmarks (the summary table is printed in every case).

use criterion::Criterion;
use reprise::{Machine, MachineConfig, Outcome, SharedBuffer};
use reprise_jit::Tier;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// (name, scale for native and tiered runs, scale for interpreter-only runs)
const WORKLOADS: [(&str, u64, u64); 4] = [
    ("intloop", 12, 1),
    ("sort", 5, 1),
    ("calls", 60, 3),
    ("float", 30, 2),
];

struct Built {
    name: &'static str,
    native: PathBuf,
    native_scale: u64,
    guest: Vec<u8>,
    guest_interp: Vec<u8>,
    interp_scale: u64,
}

fn workloads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workloads")
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

fn build(name: &'static str, scale: u64, interp_scale: u64, out: &Path) -> Built {
    let src = workloads_dir();
    let c = src.join(format!("{name}.c"));
    let c = c.to_str().unwrap_or_default();
    let native = out.join(format!("{name}-native"));
    let main = src.join("native_main.c");
    gcc(&[
        "-O2",
        "-march=x86-64",
        "-o",
        native.to_str().unwrap_or_default(),
        c,
        main.to_str().unwrap_or_default(),
    ]);
    let guest = |scale: u64| {
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
            src.join("link.ld").to_str().unwrap_or_default(),
            "-o",
            elf.to_str().unwrap_or_default(),
            src.join("guest_entry.S").to_str().unwrap_or_default(),
            src.join("guest_main.c").to_str().unwrap_or_default(),
            c,
        ]);
        std::fs::read(&elf).unwrap_or_else(|e| panic!("reading {}: {e}", elf.display()))
    };
    Built {
        name,
        native,
        native_scale: scale,
        guest: guest(scale),
        guest_interp: guest(interp_scale),
        interp_scale,
    }
}

fn run_native(b: &Built) -> (String, Duration) {
    let t0 = Instant::now();
    let out = Command::new(&b.native)
        .arg(b.native_scale.to_string())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", b.native.display()));
    let t = t0.elapsed();
    assert!(out.status.success());
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), t)
}

struct GuestRun {
    checksum: String,
    wall: Duration,
    instructions: u64,
    compile: Duration,
}

fn run_guest(elf: &[u8], tier: Tier, background: bool) -> GuestRun {
    let serial = SharedBuffer::default();
    let cfg = MachineConfig {
        tier,
        background_compile: background,
        ..MachineConfig::default()
    };
    let mut m = Machine::new(&cfg, elf, Box::new(serial.clone())).expect("machine");
    let outcome = m.run(None);
    assert!(
        matches!(outcome, Outcome::DebugExit { value: 0, .. }),
        "workload ended with {outcome:?}: {}",
        serial.text()
    );
    let s = m.stats();
    GuestRun {
        checksum: serial.text().trim().to_string(),
        wall: s.wall,
        instructions: s.instructions,
        compile: s.compile_time,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-workloads");
    std::fs::create_dir_all(&out).expect("creating the workload build directory");
    let built: Vec<Built> = WORKLOADS
        .iter()
        .map(|&(n, s, i)| build(n, s, i, &out))
        .collect();

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for b in &built {
        let mut g = c.benchmark_group(b.name);
        g.bench_function("native", |bn| bn.iter(|| run_native(b)));
        g.bench_function("tiered", |bn| {
            bn.iter(|| run_guest(&b.guest, Tier::Tiered, true))
        });
        g.bench_function("interpreter", |bn| {
            bn.iter(|| run_guest(&b.guest_interp, Tier::Interpreter, false))
        });
        g.finish();
    }
    c.final_summary();

    // The table for docs/performance.md: medians of five runs of each, in this run.
    println!();
    println!("| workload | native | tiered | slowdown | tiered MIPS | compile share | interpreter MIPS |");
    println!("|---|---|---|---|---|---|---|");
    for b in &built {
        let (sum_native, _) = run_native(b);
        let native = median((0..5).map(|_| run_native(b).1).collect());
        let runs: Vec<GuestRun> = (0..5)
            .map(|_| run_guest(&b.guest, Tier::Tiered, true))
            .collect();
        assert!(
            runs.iter().all(|r| r.checksum == sum_native),
            "{}: guest checksum differs from native ({sum_native})",
            b.name
        );
        let tiered = median(runs.iter().map(|r| r.wall).collect());
        let compile = median(runs.iter().map(|r| r.compile).collect());
        let insns = runs[0].instructions;
        let interp: Vec<GuestRun> = (0..3)
            .map(|_| run_guest(&b.guest_interp, Tier::Interpreter, false))
            .collect();
        let interp_wall = median(interp.iter().map(|r| r.wall).collect());
        let interp_mips = interp[0].instructions as f64 / interp_wall.as_secs_f64() / 1e6;
        println!(
            "| {} (scale {}, interp {}) | {:.3} s | {:.3} s | {:.2}x | {:.0} | {:.1}% | {:.0} |",
            b.name,
            b.native_scale,
            b.interp_scale,
            native.as_secs_f64(),
            tiered.as_secs_f64(),
            tiered.as_secs_f64() / native.as_secs_f64(),
            insns as f64 / tiered.as_secs_f64() / 1e6,
            100.0 * compile.as_secs_f64() / tiered.as_secs_f64(),
            interp_mips
        );
    }
}
