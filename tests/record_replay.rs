//! Record → replay → compare through the library API (`record_kernel`, `replay_log`).
//!
//! Every system guest (tests/system_guests.rs' set) and rr_inputs — which reads the
//! CMOS clock, RDTSC, RDRAND and RDSEED, takes PIT and APIC timer interrupts with HLT
//! between them, and echoes serial input — is recorded and replayed: serial output,
//! instruction count, final state digest and outcome must be identical. Also: ten
//! replays of one log, replays in both tiers, serial input typed by a socket peer
//! during recording and replayed with no peer, seek, and divergence detection on a log
//! whose input was altered.

mod common;
use common::rr::*;
use reprise::cli::TierArg;
use reprise::Outcome;
use reprise_replay::{Event, SyncKind};

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 33,
};

/// Records `name`, replays it, and checks the two runs agree (and that the guest
/// passed, printing what QEMU prints where there is an expected output).
fn record_and_replay(name: &str) {
    let dir = Scratch::new(name);
    let log = dir.path("run.rlog");
    let rec = Rec::guest(name).record(&log);
    assert_eq!(
        rec.outcome,
        PASS,
        "{name}: recording: {}\n{}",
        rec.outcome.message(),
        rec.serial
    );
    let expected = mb_dir().join(format!("expected/{name}.txt"));
    if let Ok(want) = std::fs::read_to_string(&expected) {
        assert_eq!(
            rec.serial, want,
            "{name}: recording's output differs from QEMU's"
        );
    }
    let rep = replay(&log, TierArg::Tiered, None);
    rec.assert_same(&rep, &format!("{name}: replay"));
}

#[test]
fn elf32_hello() {
    record_and_replay("elf32_hello");
}
#[test]
fn mb_info() {
    record_and_replay("mb_info");
}
#[test]
fn ring3_syscall() {
    record_and_replay("ring3_syscall");
}
#[test]
fn page_fault() {
    record_and_replay("page_fault");
}
#[test]
fn apic_timer() {
    record_and_replay("apic_timer");
}
#[test]
fn pit_timer() {
    record_and_replay("pit_timer");
}
#[test]
fn rtc() {
    record_and_replay("rtc");
}
#[test]
fn rr_inputs() {
    record_and_replay("rr_inputs");
}

/// The lines of rr_inputs' output that carry outside inputs.
fn input_lines(serial: &str) -> Vec<&str> {
    serial
        .lines()
        .filter(|l| l.starts_with("rdrand:") || l.starts_with("rdseed:"))
        .collect()
}

/// Two recordings see different random numbers; each log replays its own exactly, ten
/// times over with identical digests.
#[test]
fn ten_replays_of_one_log_are_identical() {
    let dir = Scratch::new("ten");
    let (a, b) = (dir.path("a.rlog"), dir.path("b.rlog"));
    let rec_a = Rec::guest("rr_inputs").record(&a);
    let rec_b = Rec::guest("rr_inputs").record(&b);
    assert_eq!(rec_a.outcome, PASS, "{}", rec_a.serial);
    assert_eq!(input_lines(&rec_a.serial).len(), 2, "{}", rec_a.serial);
    assert_ne!(
        input_lines(&rec_a.serial),
        input_lines(&rec_b.serial),
        "two recordings got the same RDRAND/RDSEED values: are they really host inputs?"
    );
    for k in 0..10 {
        let r = replay(&a, TierArg::Tiered, None);
        rec_a.assert_same(&r, &format!("replay {k} of a"));
    }
    rec_b.assert_same(&replay(&b, TierArg::Tiered, None), "replay of b");
}

/// One recording (made in each tier) replays identically in the interpreter and in the
/// tiered CPU.
#[test]
fn replays_in_both_tiers_match() {
    let dir = Scratch::new("tiers");
    for (rec_tier, guest) in [(TierArg::Interp, "rtc"), (TierArg::Tiered, "rr_inputs")] {
        let log = dir.path(&format!("{guest}.rlog"));
        let mut how = Rec::guest(guest);
        how.tier = rec_tier;
        let rec = how.record(&log);
        assert_eq!(rec.outcome, PASS, "{guest}: {}", rec.serial);
        for tier in [TierArg::Interp, TierArg::Tiered] {
            let r = replay(&log, tier, None);
            rec.assert_same(
                &r,
                &format!("{guest} recorded {rec_tier:?}, replayed {tier:?}"),
            );
        }
    }
}

/// Serial input typed by a peer on a TCP or Unix socket while recording (with
/// --icount-sleep on, so idle time is real time and the warps read the real-time
/// clock) reaches the guest as logged async events; a replay with no peer at all
/// prints the same echo.
fn serial_input_through(unix: bool, at_prompt: bool) {
    let dir = Scratch::new(&format!("serial-{unix}-{at_prompt}"));
    let log = dir.path("echo.rlog");
    let mut how = Rec::guest("rr_inputs");
    how.kernel = kernel_args("rr_inputs", Some("echo"));
    how.sleep = true;
    how.snapshot_interval = Some(4_000);
    let rec = how.record_with_peer(
        &log,
        unix,
        &["Hello, ", "record ", "and replay."],
        at_prompt,
    );
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(rec.serial.contains(PROMPT), "{}", rec.serial);
    assert!(
        rec.serial
            .contains("HELLO, RECORD AND REPLAY\necho: 24 bytes\n"),
        "the guest echoes the input upper-cased:\n{}",
        rec.serial
    );
    let evs = events(&log);
    let serial_events: Vec<u64> = evs
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Async(reprise_replay::AsyncEvent::SerialInput { .. })
            )
        })
        .map(|(ic, _)| *ic)
        .collect();
    assert!(!serial_events.is_empty(), "no serial input in the log");
    // Each batch of async events follows the vCPU checkpoint that applied it (an
    // AsyncPoll while the guest ran, a ClockWarpAccount when it woke from HLT).
    for (k, (ic, e)) in evs.iter().enumerate() {
        if !matches!(e, Event::Async(_)) {
            continue;
        }
        let cp = evs[..k]
            .iter()
            .rev()
            .find(|(_, e)| !matches!(e, Event::Async(_)))
            .expect("a record before");
        assert!(
            cp.0 == *ic
                && matches!(
                    cp.1,
                    Event::Checkpoint {
                        thread: reprise_replay::Thread::Vcpu,
                        checkpoint: reprise_replay::Checkpoint::AsyncPoll
                            | reprise_replay::Checkpoint::ClockWarpAccount,
                        ..
                    }
                ),
            "serial input at {ic} does not follow its checkpoint: {cp:?}"
        );
    }
    assert!(
        evs.iter().any(|(_, e)| matches!(
            e,
            Event::Sync {
                kind: SyncKind::RealTimeClock,
                ..
            }
        )),
        "sleep=on warps read the real-time clock"
    );
    for tier in [TierArg::Tiered, TierArg::Interp] {
        let r = replay(&log, tier, None);
        rec.assert_same(&r, &format!("echo replayed without a peer ({tier:?})"));
    }
    // Seek across the warps and the serial input: onto each input, just after it,
    // and between snapshots.
    let bare = dir.path("bare.rlog");
    rewrite(&log, &bare, false, |_, _| None);
    let mut ns = vec![7_777, 22_222, rec.icount - 1];
    for ic in serial_events {
        ns.extend([ic, ic + 1, ic + 2_345]);
    }
    ns.retain(|&n| n <= rec.icount);
    check_seeks(&rec, &log, &bare, &ns);
}

#[test]
fn serial_input_over_tcp_replays_without_the_peer() {
    serial_input_through(false, true);
}

#[test]
fn serial_input_over_a_unix_socket_replays_without_the_peer() {
    serial_input_through(true, true);
}

/// Input typed before the guest asks for it (while it boots and runs its timers) waits
/// in the UART and is echoed after the prompt, in record and replay alike.
#[test]
fn serial_input_typed_early_replays_without_the_peer() {
    serial_input_through(false, false);
}

/// `--seek N` starts from the nearest snapshot at or before N and stops exactly at N,
/// in the state a replay from the start reaches at N: before the first interval
/// snapshot, exactly on one, between two, one past one. The reference is the same log
/// with its snapshots stripped (LogReader → LogWriter), so "seek" there replays from the
/// boot.
#[test]
fn seek_stops_exactly_at_n_in_the_same_state() {
    let dir = Scratch::new("seek");
    let log = dir.path("seek.rlog");
    let bare = dir.path("bare.rlog");
    let mut how = Rec::guest("rr_inputs");
    how.snapshot_interval = Some(5_000);
    how.digest_interval = 1_000;
    let rec = how.record(&log);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    let snaps: Vec<u64> = chunks(&log)
        .iter()
        .filter(|c| c.2 == reprise_replay::log::frame::KIND_SNAPSHOT)
        .map(|c| c.3)
        .collect();
    assert!(snaps.len() >= 5, "snapshots at {snaps:?}");
    assert_eq!(snaps[0], 0);
    assert!(snaps.iter().skip(1).all(|s| s % 5_000 == 0), "{snaps:?}");
    assert_eq!(rewrite(&log, &bare, false, |_, _| None), 0);
    assert!(chunks(&bare)
        .iter()
        .all(|c| c.2 != reprise_replay::log::frame::KIND_SNAPSHOT));
    // The stripped copy is still the same recording.
    rec.assert_same(
        &replay(&bare, TierArg::Tiered, None),
        "stripped log replayed",
    );

    let last = rec.icount;
    let ns = [
        1,
        2_500,
        5_000,
        5_001,
        12_345,
        20_000,
        22_530,
        last - 1,
        last,
    ];
    check_seeks(&rec, &log, &bare, &ns);
}

/// Seek with intervals that do not divide each other (digests every 700, snapshots
/// every 1100) and sleep=on warps: snapshots land between digests and on halts.
#[test]
fn seek_with_odd_intervals_and_warps() {
    let dir = Scratch::new("seek-odd");
    let log = dir.path("seek.rlog");
    let bare = dir.path("bare.rlog");
    let mut how = Rec::guest("rr_inputs");
    how.snapshot_interval = Some(1_100);
    how.digest_interval = 700;
    how.sleep = true;
    let rec = how.record(&log);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    rewrite(&log, &bare, false, |_, _| None);
    // The warps: every HLT, where the snapshot state holds a halted CPU.
    let warps: Vec<u64> = events(&log)
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Sync {
                    kind: SyncKind::RealTimeClock,
                    ..
                }
            )
        })
        .map(|(ic, _)| *ic)
        .collect();
    assert!(warps.len() > 10, "{warps:?}");
    let mut ns = vec![700, 1_100, 7_700, 7_701, 15_400, 23_100];
    for w in warps.iter().step_by(5) {
        ns.extend([*w, w + 1]);
    }
    check_seeks(&rec, &log, &bare, &ns);
}

/// Seeks `log` to each of `ns` and compares with a replay of `bare` (the same log
/// without snapshots) to the same point: same count, same state, output the end of
/// the reference's.
fn check_seeks(rec: &Run, log: &std::path::Path, bare: &std::path::Path, ns: &[u64]) {
    let last = rec.icount;
    for &n in ns {
        let reference = replay(bare, TierArg::Tiered, Some(n));
        let seek = replay(log, TierArg::Tiered, Some(n));
        for (what, r) in [("reference", &reference), ("seek", &seek)] {
            assert_eq!(r.icount, n, "{what} to {n}: {}", r.outcome.message());
            assert!(
                matches!(r.outcome, Outcome::IcountLimit { icount } if icount == n)
                    || (n == last && r.outcome == PASS),
                "{what} to {n}: {}",
                r.outcome.message()
            );
        }
        assert_eq!(
            seek.digest, reference.digest,
            "seek to {n} ends in another state than a replay from the start"
        );
        assert!(
            reference.serial.ends_with(&seek.serial),
            "seek to {n}: its output is not the end of the full replay's:\n{}\n---\n{}",
            seek.serial,
            reference.serial
        );
        assert!(rec.serial.starts_with(&reference.serial), "replay to {n}");
    }
}

/// A log whose first RDRAND value was changed replays into a divergence whose window
/// [a, b] contains the RDRAND and starts at the last digest before it.
#[test]
fn altered_rdrand_is_a_divergence_in_the_right_window() {
    let dir = Scratch::new("diverge-rdrand");
    let log = dir.path("orig.rlog");
    let bad = dir.path("bad.rlog");
    let mut how = Rec::guest("rr_inputs");
    how.digest_interval = 1_000;
    let rec = how.record(&log);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    let at = sync_icounts(&log, SyncKind::RdRand);
    assert_eq!(at.len(), 2, "two RDRAND reads");
    let target = at[0];
    let mut first = true;
    let n = rewrite(&log, &bad, true, |_, e| match e {
        Event::Sync {
            kind: SyncKind::RdRand,
            ..
        } if std::mem::take(&mut first) => Some(vec![Event::Sync {
            kind: SyncKind::RdRand,
            data: 1u64.to_le_bytes().to_vec(),
        }]),
        _ => None,
    });
    assert_eq!(n, 1);
    let r = replay(&bad, TierArg::Tiered, None);
    let Outcome::Replay { message } = &r.outcome else {
        panic!(
            "the altered log replayed without a divergence: {:?}\n{}",
            r.outcome, r.serial
        );
    };
    assert!(message.contains("diverged"), "{message}");
    let (a, b) = divergence_window(message).unwrap_or_else(|| panic!("no window in: {message}"));
    assert!(
        a <= target && target <= b,
        "window [{a}, {b}] misses the RDRAND at {target}: {message}"
    );
    assert_eq!(
        a,
        target / 1_000 * 1_000,
        "the window starts at the last matching digest: {message}"
    );
    assert!(b - a <= 3_000, "window [{a}, {b}] too wide: {message}");
    assert!(
        r.serial.contains("rdrand: 1 "),
        "the guest got the altered value:\n{}",
        r.serial
    );
    assert!(
        r.icount <= b,
        "the replay stopped at {} after the window's end {b}",
        r.icount
    );
}

/// A log whose host clock (the RTC's time of day at boot) was moved a year on: the
/// replay stops with a divergence in a window that opens before the guest's first
/// RDRAND (it reads the clock before), having printed only what the recording did.
#[test]
fn altered_host_clock_is_a_divergence() {
    let dir = Scratch::new("diverge-clock");
    let log = dir.path("orig.rlog");
    let bad = dir.path("bad.rlog");
    let mut how = Rec::guest("rr_inputs");
    how.digest_interval = 1_000;
    let rec = how.record(&log);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    let n = rewrite(&log, &bad, true, |ic, e| match e {
        Event::Sync {
            kind: SyncKind::HostClock,
            data,
        } => {
            assert_eq!(ic, 0, "the RTC reads the host clock once, at boot");
            let ns = u64::from_le_bytes(data.as_slice().try_into().expect("8 bytes"));
            let later = ns + 366 * 86_400 * 1_000_000_000;
            Some(vec![Event::Sync {
                kind: SyncKind::HostClock,
                data: later.to_le_bytes().to_vec(),
            }])
        }
        _ => None,
    });
    assert_eq!(n, 1);
    let r = replay(&bad, TierArg::Tiered, None);
    let Outcome::Replay { message } = &r.outcome else {
        panic!(
            "the altered log replayed without a divergence: {:?}",
            r.outcome
        );
    };
    let (a, b) = divergence_window(message).unwrap_or_else(|| panic!("no window in: {message}"));
    // The guest reads the clock (and keeps what it read in RAM) before its first
    // RDRAND: the window opens before that, and at the latest the next RAM digest
    // (every 8th digest) sees the difference.
    let rdrand = sync_icounts(&log, SyncKind::RdRand)[0];
    assert!(
        a < b && a < rdrand && b <= rdrand + 9_000,
        "[{a}, {b}]: {message}"
    );
    // It stopped as soon as a digest saw the difference: everything it printed before
    // is what the recording printed.
    assert!(rec.serial.starts_with(&r.serial), "{}", r.serial);
    assert!(
        r.icount <= b && r.icount < rec.icount,
        "stopped at {}",
        r.icount
    );
}

/// A recording stopped by --icount-limit replays to exactly that count and ends there
/// as the recording did — also when a digest and a snapshot fall on it (the replay once
/// ran on to the next digest and reported a mismatch).
#[test]
fn recording_stopped_by_the_icount_limit_replays_to_there() {
    let dir = Scratch::new("limit");
    for limit in [5_000, 5_500, 20_000] {
        let log = dir.path(&format!("{limit}.rlog"));
        let mut how = Rec::guest("rr_inputs");
        how.digest_interval = 1_000;
        how.snapshot_interval = Some(5_000);
        how.limit = limit;
        let rec = how.record(&log);
        assert_eq!(rec.outcome, Outcome::IcountLimit { icount: limit });
        let r = replay(&log, TierArg::Tiered, None);
        assert_eq!(
            r.outcome,
            Outcome::RecordingEnd { icount: limit },
            "{}",
            r.detail
        );
        assert_eq!(r.matches, Some(true), "{}", r.detail);
        assert_eq!((r.icount, &r.serial), (limit, &rec.serial));
        assert_eq!(r.digest, rec.digest, "limit {limit}: final state");
    }
}

/// The clock policy is stored in the log and a replay uses it: an icount shift other
/// than 0, and sleep=on without any input source (idle time passes in real time, the
/// warps read the real-time clock).
#[test]
fn clock_policies_replay() {
    let dir = Scratch::new("clock");
    let mut shifted = None;
    for (shift, sleep) in [(3, false), (0, true)] {
        let log = dir.path(&format!("{shift}-{sleep}.rlog"));
        let mut how = Rec::guest("rr_inputs");
        how.shift = shift;
        how.sleep = sleep;
        let rec = how.record(&log);
        assert_eq!(rec.outcome, PASS, "{}", rec.serial);
        let has_rt = events(&log).iter().any(|(_, e)| {
            matches!(
                e,
                Event::Sync {
                    kind: SyncKind::RealTimeClock,
                    ..
                }
            )
        });
        assert_eq!(has_rt, sleep, "real-time clock reads with sleep={sleep}");
        for tier in [TierArg::Tiered, TierArg::Interp] {
            rec.assert_same(
                &replay(&log, tier, None),
                &format!("shift {shift} sleep {sleep}"),
            );
        }
        if shift == 3 {
            shifted = Some(rec);
        }
    }
    // The TSC runs on the virtual clock: eight times faster per instruction.
    let tsc = |s: &str| -> u64 {
        let l = s
            .lines()
            .find(|l| l.starts_with("tsc: "))
            .expect("tsc line");
        l[5..].parse().expect("tsc value")
    };
    let plain = Rec::guest("rr_inputs").record(&dir.path("plain.rlog"));
    let shifted = shifted.expect("shift 3 run");
    assert_eq!(
        tsc(&shifted.serial),
        8 * tsc(&plain.serial),
        "first RDTSC, shift 3 vs 0"
    );
}

/// A reader skips record kinds it does not know (written by a newer reprise): a log
/// with an unknown record before every digest and input replays exactly as the
/// original.
#[test]
fn unknown_record_kinds_are_skipped() {
    let dir = Scratch::new("unknown");
    let log = dir.path("a.rlog");
    let with = dir.path("b.rlog");
    let rec = Rec::guest("rr_inputs").record(&log);
    let n = rewrite(&log, &with, true, |_, e| match e {
        Event::Digest { .. } | Event::Sync { .. } => Some(vec![
            Event::Unknown {
                kind: 99,
                payload: vec![1, 2, 3],
            },
            e.clone(),
        ]),
        _ => None,
    });
    assert!(n > 3, "{n}");
    let unknown = events(&with)
        .iter()
        .filter(|(_, e)| matches!(e, Event::Unknown { kind: 99, .. }))
        .count();
    assert_eq!(unknown, n);
    rec.assert_same(
        &replay(&with, TierArg::Tiered, None),
        "log with unknown records",
    );
}

/// Runs that end badly replay to the same end: a triple fault, a jump outside RAM,
/// HLT with interrupts off.
#[test]
fn crashes_and_dead_halts_replay_to_the_same_end() {
    let dir = Scratch::new("crash");
    for (name, want) in [
        ("unmapped", "TripleFault"),
        ("outside_ram", "ExecOutsideRam"),
        ("halt_cli", "Halted"),
    ] {
        let log = dir.path(&format!("{name}.rlog"));
        let mut how = Rec::guest(name);
        how.memory = 16;
        let rec = how.record(&log);
        assert!(
            format!("{:?}", rec.outcome).starts_with(want),
            "{name}: {:?}",
            rec.outcome
        );
        for tier in [TierArg::Tiered, TierArg::Interp] {
            rec.assert_same(&replay(&log, tier, None), &format!("{name} ({tier:?})"));
        }
    }
}

/// Every interrupt the CPU takes is logged with its vector; a log where one was moved to
/// a later instruction replays into a divergence at the instruction where the replay
/// took it.
#[test]
fn interrupts_are_logged_and_checked() {
    let dir = Scratch::new("diverge-irq");
    let log = dir.path("orig.rlog");
    let bad = dir.path("bad.rlog");
    let rec = Rec::guest("apic_timer").record(&log);
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    let irqs: Vec<(u64, u8)> = events(&log)
        .into_iter()
        .filter_map(|(ic, e)| match e {
            Event::Cpu(reprise_replay::CpuEvent::Interrupt { vector }) => Some((ic, vector)),
            _ => None,
        })
        .collect();
    assert!(irqs.len() >= 10, "timer interrupts are logged: {irqs:?}");
    // Replace the vector of the fifth one: the replay takes the real one there.
    let (at, vector) = irqs[4];
    let mut seen = 0;
    let n = rewrite(&log, &bad, true, |_, e| match e {
        Event::Cpu(reprise_replay::CpuEvent::Interrupt { .. }) => {
            seen += 1;
            (seen == 5).then(|| {
                vec![Event::Cpu(reprise_replay::CpuEvent::Interrupt {
                    vector: vector ^ 0x10,
                })]
            })
        }
        _ => None,
    });
    assert_eq!(n, 1);
    let r = replay(&bad, TierArg::Tiered, None);
    let Outcome::Replay { message } = &r.outcome else {
        panic!("no divergence: {:?}\n{}", r.outcome, r.serial);
    };
    assert!(
        message.contains("diverged") && message.contains(&at.to_string()),
        "the message names instruction {at}: {message}"
    );
}
