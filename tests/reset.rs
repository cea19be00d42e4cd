//! A guest reset reboots the machine: the reset_count guest (guests/mb) counts its
//! boots in CMOS NVRAM and resets through the keyboard controller until the third
//! boot. Run in both tiers, record → replay identical, and `--no-reboot` stops at the
//! first request (status 12).

mod common;

use common::rr::{replay, Rec, Scratch};
use common::{config, guest, TIERS};
use reprise::cli::TierArg;
use reprise::machine::status;
use reprise::{Machine, Outcome, SharedBuffer};
use reprise_replay::{Checkpoint, Event, Thread};

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

#[test]
fn the_guest_boots_three_times_and_passes() {
    for tier in TIERS {
        let out = SharedBuffer::default();
        let mut m = Machine::new(&config(tier), &guest("reset_count"), Box::new(out.clone()))
            .expect("machine starts");
        let outcome = m.run(Some(common::GUEST_LIMIT));
        let serial = out.text();
        assert_eq!(outcome, PASS, "{tier:?}: {serial}");
        for n in 1..=3 {
            assert!(
                serial.contains(&format!("reset_count: boot {n}\n")),
                "{tier:?}: {serial}"
            );
        }
        assert!(!serial.contains("FAIL"), "{tier:?}: {serial}");
        assert_eq!(
            serial
                .matches("PASS reset_count: the kernel image was loaded afresh")
                .count(),
            3,
            "RAM is cleared and the kernel loaded again at each boot: {serial}"
        );
        assert_eq!(m.resets(), 2);
    }
}

#[test]
fn no_reboot_stops_at_the_first_request() {
    let mut cfg = config(reprise_jit::Tier::Interpreter);
    cfg.no_reboot = true;
    let out = SharedBuffer::default();
    let mut m = Machine::new(&cfg, &guest("reset_count"), Box::new(out.clone())).unwrap();
    let outcome = m.run(Some(common::GUEST_LIMIT));
    assert!(
        matches!(outcome, Outcome::ResetRequested { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_status(), status::RESET);
    assert!(outcome.message().contains("--no-reboot"));
    let serial = out.text();
    assert!(
        serial.contains("boot 1\n") && !serial.contains("boot 2"),
        "{serial}"
    );
    assert_eq!(m.resets(), 0);
}

#[test]
fn resets_record_and_replay_identically() {
    let s = Scratch::new("reset-rr");
    let log = s.path("reset.log");
    let mut rec = Rec::guest("reset_count");
    rec.memory = 32;
    rec.digest_interval = 20_000;
    rec.snapshot_interval = Some(200_000);
    let r = rec.record(&log);
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(r.serial.contains("boot 3"), "{}", r.serial);
    let resets: Vec<u64> = common::rr::events(&log)
        .into_iter()
        .filter_map(|(ic, e)| {
            matches!(
                e,
                Event::Checkpoint {
                    thread: Thread::Vcpu,
                    checkpoint: Checkpoint::Reset,
                    ..
                }
            )
            .then_some(ic)
        })
        .collect();
    assert_eq!(resets.len(), 2, "two resets logged");
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let rep = replay(&log, tier, None);
        r.assert_same(&rep, &format!("replay ({tier:?})"));
    }
    // Seeking past the first reset starts from a snapshot taken after it.
    let target = resets[0] + 1000;
    let sought = replay(&log, TierArg::Interp, Some(target));
    assert_eq!(sought.icount, target);
}
