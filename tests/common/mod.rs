//! Shared helpers of the end-to-end tests: find a built guest, run it through the
//! library API with its serial output captured.
#![allow(dead_code)]

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

/// Runs a self-checking guest in both tiers: it must print "NAME: PASS", exit through
/// the debug-exit port with value 0 (status 1), and both tiers must agree exactly.
pub fn check_guest(name: &str) -> Run {
    let runs: Vec<Run> = TIERS.iter().map(|&t| run_guest(name, t)).collect();
    for (tier, r) in TIERS.iter().zip(&runs) {
        assert_eq!(
            r.outcome,
            Outcome::DebugExit {
                value: 0,
                status: 1
            },
            "{name} ({tier:?}) did not exit with 0: {}\nserial output:\n{}",
            r.outcome.message(),
            r.serial
        );
        assert!(
            r.serial.contains(&format!("{name}: PASS")),
            "{name} ({tier:?}) did not print PASS:\n{}",
            r.serial
        );
        assert!(
            !r.serial.contains("FAIL"),
            "{name} ({tier:?}):\n{}",
            r.serial
        );
    }
    let (a, b) = (&runs[0], &runs[1]);
    assert_eq!(a.serial, b.serial, "{name}: tiers print different output");
    assert_eq!(a.icount, b.icount, "{name}: tiers retire different counts");
    assert_eq!(
        a.digest, b.digest,
        "{name}: tiers end in different states ({:016x} vs {:016x})",
        a.digest, b.digest
    );
    runs.into_iter().next().expect("two runs")
}
