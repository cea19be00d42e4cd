//! PCI on the machine, end to end: the pci_scan guest (guests/mb) enumerates bus 0
//! through configuration mechanism #1 under `run`, `record` and `replay` (with seeks
//! that restore the bus from snapshots), and asks for a reset through port 0xcf9.

mod common;

use common::rr::{kernel_args, replay, Run, Scratch};
use reprise::cli::{record_kernel, run_kernel, MachineArgs, RecordArgs, TierArg};
use reprise::host::SerialBackend;
use reprise::{Outcome, SharedBuffer};
use std::path::Path;

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

fn machine(tier: TierArg) -> MachineArgs {
    machine_with(tier, false)
}

fn machine_with(tier: TierArg, no_reboot: bool) -> MachineArgs {
    MachineArgs {
        no_reboot,
        memory: 32,
        icount_limit: Some(200_000_000),
        tier,
        serial: SerialBackend::Stdio,
        jit_thread: false,
        ..MachineArgs::default()
    }
}

fn run(append: Option<&str>, tier: TierArg) -> Run {
    run_with(append, tier, false)
}

fn run_with(append: Option<&str>, tier: TierArg, no_reboot: bool) -> Run {
    let out = SharedBuffer::default();
    let r = run_kernel(
        &kernel_args("pci_scan", append),
        &machine_with(tier, no_reboot),
        Box::new(out.clone()),
    )
    .expect("run");
    Run::new(r, out.text())
}

fn record(log: &Path, append: Option<&str>) -> Run {
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.to_path_buf(),
        snapshot_interval: Some(5_000),
        digest_interval: 2_000,
        kernel: kernel_args("pci_scan", append),
        machine: machine(TierArg::Interp),
    };
    let r = record_kernel(&a, Box::new(out.clone())).expect("record");
    Run::new(r, out.text())
}

/// The lines the scan prints for the chipset (the machine has nothing else on PCI
/// without devices that plug in there).
const CHIPSET: &[&str] = &[
    "00:0.0 8086:1237 class 60000 rev 2 header 0 pin 0 line 0\n",
    "00:1.0 8086:7000 class 60100 rev 0 header 0 pin 0 line 0\n",
    "2 functions on bus 0\n",
];

#[test]
fn scan_finds_the_chipset_in_both_tiers() {
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let r = run(None, tier);
        assert_eq!(r.outcome, PASS, "{}", r.serial);
        for l in CHIPSET {
            assert!(r.serial.contains(l), "missing {l:?} in:\n{}", r.serial);
        }
        assert!(!r.serial.contains("FAIL"), "{}", r.serial);
        assert!(
            r.serial.contains("PASS pci_scan (13 checks, 0 failed)"),
            "{}",
            r.serial
        );
        // The chipset has no BARs.
        assert!(!r.serial.contains("BAR"), "{}", r.serial);
    }
}

#[test]
fn record_replay_and_seek_match() {
    let s = Scratch::new("pci-rr");
    let log = s.path("pci.log");
    let rec = record(&log, None);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let rep = replay(&log, tier, None);
        rec.assert_same(&rep, "replay");
    }
    // Seeks restore the board (the bus with CONFIG_ADDRESS and the headers) from a
    // snapshot and run on to the instruction asked for, matching the recording.
    assert!(rec.icount > 20_000, "icount {}", rec.icount);
    let mid = rec.icount / 2;
    let sought = replay(&log, TierArg::Interp, Some(mid));
    assert_eq!(sought.outcome, Outcome::IcountLimit { icount: mid });
    let late = replay(&log, TierArg::Interp, Some(rec.icount - 1));
    assert_eq!(late.icount, rec.icount - 1);
    // From the last snapshot on, the restored machine prints what the recording
    // printed there, and the checks made after it (the ELCR the firmware set, the
    // summary) pass.
    assert!(
        !late.serial.is_empty() && rec.serial.ends_with(&late.serial),
        "{}",
        late.serial
    );
    assert!(late.serial.contains("0 failed"), "{}", late.serial);
}

#[test]
fn port_cf9_resets_and_replays() {
    // With --no-reboot the request stops the machine.
    let stop = run_with(Some("reset"), TierArg::Interp, true);
    assert!(
        matches!(stop.outcome, Outcome::ResetRequested { .. }),
        "{:?}\n{}",
        stop.outcome,
        stop.serial
    );
    assert!(!stop.serial.contains("booted again"), "{}", stop.serial);
    // Without it the machine resets and the guest boots a second time (it tells
    // the boots apart by CMOS NVRAM, which survives).
    let r = run(Some("reset"), TierArg::Interp);
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(
        r.serial.contains("resetting through port 0xcf9")
            && r.serial.contains("booted again after the 0xcf9 reset"),
        "{}",
        r.serial
    );
    assert!(!r.serial.contains("still running"), "{}", r.serial);
    let s = Scratch::new("pci-reset");
    let log = s.path("reset.log");
    let rec = record(&log, Some("reset"));
    assert_eq!(rec.outcome, r.outcome);
    let rep = replay(&log, TierArg::Interp, None);
    rec.assert_same(&rep, "replay of a reset");
}
