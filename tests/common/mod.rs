//! Shared helpers of the end-to-end tests: find a built guest, run it through the
//! library API with its serial output captured.
#![allow(dead_code)]

pub mod rr;

use reprise::{Machine, MachineConfig, Outcome, SharedBuffer};
use reprise_jit::Tier;
use std::path::PathBuf;

pub const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];

/// Path of a guest built by build.rs.
pub fn guest_path(name: &str) -> PathBuf {
    PathBuf::from(env!("REPRISE_GUESTS_DIR")).join(format!("{name}.elf"))
}

pub fn guest(name: &str) -> Vec<u8> {
    let p = guest_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("guest {} not built: {e}", p.display()))
}

/// Everything a run leaves behind that the tiers must agree on.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub outcome: Outcome,
    pub serial: String,
    pub icount: u64,
    pub digest: u64,
}

pub fn config(tier: Tier) -> MachineConfig {
    MachineConfig {
        memory_mib: 32,
        tier,
        ..MachineConfig::default()
    }
}

pub fn run_image(image: &[u8], cfg: &MachineConfig, limit: Option<u64>) -> Run {
    let out = SharedBuffer::default();
    let mut m = Machine::new(cfg, image, Box::new(out.clone())).expect("machine starts");
    let outcome = m.run(limit);
    Run {
        outcome,
        serial: out.text(),
        icount: m.icount(),
        digest: m.digest(),
    }
}

/// Default instruction limit for test guests: a guest that loops forever fails
/// instead of hanging the suite.
pub const GUEST_LIMIT: u64 = 200_000_000;

pub fn run_guest(name: &str, tier: Tier) -> Run {
    run_image(&guest(name), &config(tier), Some(GUEST_LIMIT))
}

/// Runs a guest in the interpreter, in the tiered CPU as configured by default, and in
/// the tiered CPU compiling every block on its second execution (most code compiled).
pub fn run_all_tiers(name: &str) -> Vec<(String, Run)> {
    let image = guest(name);
    let mut eager = config(Tier::Tiered);
    eager.hot_threshold = Some(2);
    [
        ("interp", config(Tier::Interpreter)),
        ("tiered", config(Tier::Tiered)),
        ("tiered, hot after 2", eager),
    ]
    .into_iter()
    .map(|(what, cfg)| (what.to_string(), run_image(&image, &cfg, Some(GUEST_LIMIT))))
    .collect()
}

/// Runs a self-checking guest in every tier configuration: it must print
/// "NAME: PASS", exit through the debug-exit port with value 0 (status 1), and all
/// runs must agree exactly.
pub fn check_guest(name: &str) -> Run {
    let runs = run_all_tiers(name);
    for (tier, r) in &runs {
        assert_eq!(
            r.outcome,
            Outcome::DebugExit {
                value: 0,
                status: 1
            },
            "{name} ({tier}) did not exit with 0: {}\nserial output:\n{}",
            r.outcome.message(),
            r.serial
        );
        assert!(
            r.serial.contains(&format!("{name}: PASS")),
            "{name} ({tier}) did not print PASS:\n{}",
            r.serial
        );
        assert!(!r.serial.contains("FAIL"), "{name} ({tier}):\n{}", r.serial);
    }
    check_same(name, &runs);
    runs.into_iter().next().expect("runs").1
}

/// All runs must give the same outcome, serial output, instruction count and digest.
pub fn check_same(name: &str, runs: &[(String, Run)]) {
    let (wa, a) = &runs[0];
    for (wb, b) in &runs[1..] {
        assert_eq!(
            a.serial, b.serial,
            "{name}: {wa} and {wb} print different output"
        );
        assert_eq!(
            a.outcome, b.outcome,
            "{name}: {wa} and {wb} end differently"
        );
        assert_eq!(
            a.icount, b.icount,
            "{name}: {wa} and {wb} retire different counts"
        );
        assert_eq!(
            a.digest, b.digest,
            "{name}: {wa} and {wb} end in different states ({:016x} vs {:016x})",
            a.digest, b.digest
        );
    }
}
