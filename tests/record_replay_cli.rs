//! Record/replay through the built `reprise` binary: `record`, `replay [--seek]`,
//! `log dump [--json]` and `log stats` on a real recording; serial input typed on stdin
//! while recording; and logs that are cut, damaged, of another format version, or whose
//! kernel changed — each must give a clear message and exit status 10, never a panic.

mod common;
use common::guest_path;
use common::rr::{chunks, divergence_window, last_readable_icount, rewrite, Scratch, PROMPT};
use reprise_replay::log::frame::KIND_SNAPSHOT;
use reprise_replay::{Event, SyncKind};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Exit status of record/replay failures (reprise::machine::status::REPLAY).
const REPLAY_FAILED: i32 = 10;
/// rr_inputs passed (debug-exit value 0x10).
const PASS: i32 = 33;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs reprise with stdin closed.
fn reprise(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run reprise");
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "reprise {args:?} panicked:\n{}",
        o.stderr
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Records rr_inputs (`kernel`: a copy, or the built guest) into `log`.
fn record(kernel: &Path, log: &Path, extra: &[&str]) -> Out {
    let mut args = vec![
        "record",
        "--log",
        s(log),
        "--kernel",
        s(kernel),
        "--memory",
        "32",
        "--digest-interval",
        "1000",
        "--snapshot-interval",
        "5000",
    ];
    args.extend_from_slice(extra);
    let o = reprise(&args);
    assert_eq!(o.code, PASS, "record: {}", o.stderr);
    assert!(o.stderr.contains("recorded "), "{}", o.stderr);
    o
}

/// (instructions, digest) from the summary line.
fn summary(stderr: &str) -> (u64, String) {
    let l = stderr
        .lines()
        .find(|l| l.contains(" instructions in "))
        .unwrap_or_else(|| panic!("no summary line in\n{stderr}"));
    let n = l
        .split(' ')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .expect("count");
    let d = l.rsplit(' ').next().unwrap_or_default().to_string();
    (n, d)
}

#[test]
fn record_replay_dump_and_stats() {
    let dir = Scratch::new("cli-basic");
    let log = dir.path("a.rlog");
    let rec = record(&guest_path("rr_inputs"), &log, &[]);
    assert!(
        rec.stdout.contains("PASS rr_inputs (6 checks, 0 failed)"),
        "{}",
        rec.stdout
    );

    let rep = reprise(&["replay", s(&log)]);
    assert_eq!(rep.code, PASS, "{}", rep.stderr);
    assert_eq!(rep.stdout, rec.stdout, "replayed serial output");
    assert_eq!(
        summary(&rep.stderr),
        summary(&rec.stderr),
        "instructions and digest"
    );
    assert!(
        rep.stderr.contains("replay ended where the recording did"),
        "{}",
        rep.stderr
    );
    let rep = reprise(&["replay", s(&log), "--tier", "interp"]);
    assert_eq!(
        (rep.code, &rep.stdout),
        (PASS, &rec.stdout),
        "{}",
        rep.stderr
    );

    // dump --json: one JSON object a line, the header first.
    let dump = reprise(&["log", "dump", "--json", s(&log)]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    let lines: Vec<serde_json::Value> = dump
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let header = &lines[0]["header"];
    assert!(
        header["producer"]
            .as_str()
            .unwrap_or("")
            .starts_with("reprise "),
        "{header}"
    );
    assert_eq!(header["shift"]["fixed"], 0, "{header}");
    assert_eq!(header["sleep"], false, "{header}");
    let images = header["images"].as_array().expect("images");
    assert_eq!(images.len(), 1);
    assert!(images[0]["path"]
        .as_str()
        .unwrap_or("")
        .ends_with("rr_inputs.elf"));
    let records = &lines[1..];
    let kinds: std::collections::BTreeSet<&str> =
        records.iter().filter_map(|r| r["event"].as_str()).collect();
    for k in [
        "sync.host_clock",
        "checkpoint.init",
        "snapshot",
        "digest",
        "sync.rdrand",
        "sync.rdseed",
        "checkpoint.clock_warp_start",
        "checkpoint.clock_warp_account",
        // ("instructions" records come with the periodic flushes, which depend on host
        // time: a quick run may have none.)
        "shutdown",
        "end",
    ] {
        assert!(
            kinds.contains(k),
            "no {k} record in the dump; kinds: {kinds:?}"
        );
    }
    let icounts: Vec<u64> = records
        .iter()
        .map(|r| r["icount"].as_u64().expect("icount"))
        .collect();
    assert!(
        icounts.windows(2).all(|w| w[0] <= w[1]),
        "icounts go backwards"
    );
    let (n, _) = summary(&rec.stderr);
    let last = records.last().expect("records");
    assert_eq!(last["event"], "end");
    assert_eq!(last["icount"], n);
    assert!(last["virtual_ns"].as_u64().unwrap_or(0) > 0);
    let shutdown = &records[records.len() - 2];
    assert_eq!(
        (shutdown["event"].as_str(), shutdown["cause"].as_str()),
        (Some("shutdown"), Some("guest_shutdown"))
    );
    let digests = records.iter().filter(|r| r["event"] == "digest").count() as u64;
    assert_eq!(
        digests,
        n / 1000 + 1,
        "a digest every 1000 instructions from 0"
    );
    let snaps = records.iter().filter(|r| r["event"] == "snapshot").count() as u64;
    assert_eq!(
        snaps,
        n / 5000 + 1,
        "a snapshot every 5000 instructions from 0"
    );
    // The RDRAND values in the log are the ones the guest printed.
    let rdrand: Vec<String> = records
        .iter()
        .filter(|r| r["event"] == "sync.rdrand")
        .map(|r| format!("{:x}", r["value"].as_u64().expect("value")))
        .collect();
    let printed = rec
        .stdout
        .lines()
        .find(|l| l.starts_with("rdrand: "))
        .expect("rdrand line");
    assert_eq!(printed, format!("rdrand: {} {}", rdrand[0], rdrand[1]));

    // The text dump and stats.
    let text = reprise(&["log", "dump", s(&log)]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.starts_with("# reprise "), "{}", text.stdout);
    assert!(text.stdout.contains("sync.rdseed"), "{}", text.stdout);
    assert_eq!(text.stdout.lines().count(), lines.len() + images.len());
    let stats = reprise(&["log", "stats", s(&log)]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let row = |name: &str| -> Option<u64> {
        let l = stats
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))?;
        l.split_whitespace().nth(1)?.parse().ok()
    };
    assert_eq!(row("sync.rdrand"), Some(2), "{}", stats.stdout);
    assert_eq!(row("sync.host_clock"), Some(1), "{}", stats.stdout);
    assert_eq!(row("digest"), Some(digests), "{}", stats.stdout);
    assert_eq!(
        row("records:"),
        Some(records.len() as u64),
        "{}",
        stats.stdout
    );
    assert_eq!(row("instructions:"), Some(n), "{}", stats.stdout);
    assert!(stats.stdout.contains("compression"), "{}", stats.stdout);
}

/// Serial input typed on stdin while recording (after the guest's prompt) is echoed;
/// a replay with stdin closed prints the same.
#[test]
fn serial_input_typed_on_stdin_replays_without_it() {
    let dir = Scratch::new("cli-stdin");
    let log = dir.path("echo.rlog");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "record",
            "--log",
            s(&log),
            "--kernel",
            s(&guest_path("rr_inputs")),
        ])
        .args(["--memory", "32", "--append", "echo", "--icount-sleep", "on"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise record");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    // The guest gives up after 10 s of (here real) time without input, so this ends.
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if seen.ends_with(PROMPT) {
            stdin.write_all(b"typed on ").expect("type");
            stdin.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(30));
            stdin.write_all(b"stdin.").expect("type");
            drop(stdin);
            break;
        }
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read the rest");
    seen.push_str(&rest);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    let status = child.wait().expect("wait").code();
    assert_eq!(status, Some(PASS), "{seen}\n{err}");
    assert!(seen.contains("TYPED ON STDIN\necho: 14 bytes\n"), "{seen}");
    let rep = reprise(&["replay", s(&log)]);
    assert_eq!(rep.code, PASS, "{}", rep.stderr);
    assert_eq!(rep.stdout, seen);
    assert_eq!(summary(&rep.stderr), summary(&err));
}

/// `replay --seek N` stops at exactly N (on a snapshot, between snapshots), with the
/// state a replay of a snapshot-free copy of the log reaches at N.
#[test]
fn seek_on_the_command_line() {
    let dir = Scratch::new("cli-seek");
    let log = dir.path("a.rlog");
    let bare = dir.path("bare.rlog");
    record(&guest_path("rr_inputs"), &log, &[]);
    rewrite(&log, &bare, false, |_, _| None);
    for n in ["5000", "17777"] {
        let a = reprise(&["replay", s(&log), "--seek", n]);
        let b = reprise(&["replay", s(&bare), "--seek", n]);
        assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
        assert!(
            a.stderr
                .contains(&format!("stopped at instruction {n} (--seek)")),
            "{}",
            a.stderr
        );
        assert_eq!(summary(&a.stderr), summary(&b.stderr), "seek {n}");
        assert!(b.stdout.ends_with(&a.stdout), "seek {n}");
    }
}

/// A copy of `log` with `f` applied to its bytes.
fn damaged(
    dir: &Scratch,
    log: &Path,
    name: &str,
    f: impl FnOnce(&mut Vec<u8>),
) -> std::path::PathBuf {
    let mut b = std::fs::read(log).expect("read log");
    f(&mut b);
    let p = dir.path(name);
    std::fs::write(&p, b).expect("write damaged log");
    p
}

/// A log cut at any point replays up to its last whole chunk, then says where it ended
/// (exit status 10); the output so far is what the recording printed.
#[test]
fn truncated_logs_replay_to_the_last_whole_chunk() {
    let dir = Scratch::new("cli-cut");
    let log = dir.path("a.rlog");
    let rec = record(&guest_path("rr_inputs"), &log, &[]);
    let (total, _) = summary(&rec.stderr);
    let ch = chunks(&log);
    assert!(ch.len() >= 8, "{ch:?}");
    let last = ch[ch.len() - 1];
    let mid = ch[ch.len() / 2];
    let cuts = [
        ("inside the last chunk", last.0 + last.1 / 2),
        ("one byte short", last.0 + last.1 - 1),
        ("between chunks", last.0),
        ("inside a frame", mid.0 + 10),
        ("inside a chunk in the middle", mid.0 + mid.1 - 3),
    ];
    for (what, at) in cuts {
        let cut = damaged(&dir, &log, "cut.rlog", |b| b.truncate(at as usize));
        let r = reprise(&["replay", s(&cut)]);
        assert_eq!(r.code, REPLAY_FAILED, "{what}: {}", r.stderr);
        assert!(
            rec.stdout.starts_with(&r.stdout),
            "{what}: output is not a prefix"
        );
        let msg = r
            .stderr
            .lines()
            .find(|l| l.contains("log ends at instruction"))
            .unwrap_or_else(|| panic!("{what}: no 'log ends at instruction' in\n{}", r.stderr));
        let n: u64 = msg
            .split("log ends at instruction ")
            .nth(1)
            .and_then(|x| x.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {msg}"));
        // Exactly where the last whole chunk's last record is, no further.
        let whole = ch
            .iter()
            .filter(|c| c.0 + c.1 <= at)
            .map(|c| c.3)
            .max()
            .unwrap_or(0);
        assert!(
            whole <= n && n < total,
            "{what}: ended at {n}, whole chunks reach {whole}: {msg}"
        );
        assert_eq!(n, last_readable_icount(&cut), "{what}: {msg}");
        let (ran, _) = summary(&r.stderr);
        assert_eq!(ran, n, "{what}: replayed to where the log ends");
        // `log dump` reads it up to the same place and then reports the cut.
        let d = reprise(&["log", "dump", s(&cut)]);
        assert_eq!(d.code, REPLAY_FAILED, "{what}: {}", d.stderr);
        assert!(
            d.stderr.contains("log ends at instruction"),
            "{what}: {}",
            d.stderr
        );
        let st = reprise(&["log", "stats", s(&cut)]);
        assert_eq!(st.code, 0, "{what}: {}", st.stderr);
    }
    for (what, at, want) in [
        ("empty", 0, "header is truncated"),
        ("inside the magic", 5, "header is truncated"),
        ("inside the header", 30, "header is truncated"),
    ] {
        let cut = damaged(&dir, &log, "cut.rlog", |b| b.truncate(at));
        let r = reprise(&["replay", s(&cut)]);
        assert_eq!(r.code, REPLAY_FAILED, "{what}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{what}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{what}");
    }
}

/// Flipped bytes, another format version, a changed or missing kernel, a missing log
/// and an altered input: each a clear message and exit status 10.
#[test]
fn damaged_logs_and_changed_kernels() {
    let dir = Scratch::new("cli-damage");
    let kernel = dir.path("kernel.elf");
    std::fs::copy(guest_path("rr_inputs"), &kernel).expect("copy kernel");
    let log = dir.path("a.rlog");
    let rec = record(&kernel, &log, &[]);
    let ch = chunks(&log);
    let records: Vec<_> = ch
        .iter()
        .filter(|c| c.2 != KIND_SNAPSHOT)
        .copied()
        .collect();
    let mid = records[records.len() / 2];
    type Damage = Box<dyn FnOnce(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("magic", Box::new(|b| b[0] ^= 0xff), "not a reprise log"),
        (
            "version",
            Box::new(|b| b[8..10].copy_from_slice(&99u16.to_le_bytes())),
            "format version 99",
        ),
        (
            "header body",
            Box::new(|b| b[24] ^= 0x40),
            "header is corrupt",
        ),
        (
            "records chunk",
            Box::new(move |b| b[(mid.0 + 40) as usize] ^= 0x01),
            "is corrupt (checksum",
        ),
        (
            "chunk frame magic",
            Box::new(move |b| b[mid.0 as usize] ^= 0x20),
            "is malformed",
        ),
    ];
    for (what, f, want) in cases {
        let bad = damaged(&dir, &log, "bad.rlog", f);
        let r = reprise(&["replay", s(&bad)]);
        assert_eq!(r.code, REPLAY_FAILED, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{what}: want {want:?} in\n{}",
            r.stderr
        );
        assert!(
            rec.stdout.starts_with(&r.stdout),
            "{what}: output is not a prefix"
        );
        let d = reprise(&["log", "dump", "--json", s(&bad)]);
        assert_eq!(d.code, REPLAY_FAILED, "{what}: {}", d.stderr);
        assert!(d.stderr.contains(want), "{what}: {}", d.stderr);
    }

    // A damaged snapshot: replay from the start never reads it; a seek past it falls
    // back to the snapshot before and still stops in the right state.
    let snap = ch
        .iter()
        .filter(|c| c.2 == KIND_SNAPSHOT)
        .nth(2)
        .copied()
        .expect("3 snapshots");
    let bad = damaged(&dir, &log, "badsnap.rlog", |b| {
        b[(snap.0 + snap.1 / 2) as usize] ^= 0x10
    });
    let r = reprise(&["replay", s(&bad)]);
    assert_eq!((r.code, &r.stdout), (PASS, &rec.stdout), "{}", r.stderr);
    let n = (snap.3 + 777).to_string();
    let good = reprise(&["replay", s(&log), "--seek", &n]);
    let r = reprise(&["replay", s(&bad), "--seek", &n]);
    assert_eq!((r.code, good.code), (0, 0), "{}\n{}", r.stderr, good.stderr);
    assert_eq!(
        summary(&r.stderr),
        summary(&good.stderr),
        "seek past a damaged snapshot"
    );

    // An input altered in the log: a divergence, with its window.
    let altered = dir.path("altered.rlog");
    rewrite(&log, &altered, true, |_, e| match e {
        Event::Sync {
            kind: SyncKind::RdSeed,
            ..
        } => Some(vec![Event::Sync {
            kind: SyncKind::RdSeed,
            data: 7u64.to_le_bytes().to_vec(),
        }]),
        _ => None,
    });
    let r = reprise(&["replay", s(&altered)]);
    assert_eq!(r.code, REPLAY_FAILED, "{}", r.stderr);
    assert!(r.stdout.contains("rdseed: 7\n"), "{}", r.stdout);
    let (a, b) = divergence_window(&r.stderr).unwrap_or_else(|| panic!("{}", r.stderr));
    let at = common::rr::sync_icounts(&log, SyncKind::RdSeed)[0];
    assert!(
        a <= at && at <= b,
        "[{a}, {b}] misses the RDSEED at {at}: {}",
        r.stderr
    );

    // The kernel changed after recording: the message names it.
    let mut k = std::fs::read(&kernel).expect("kernel");
    let last = k.len() - 1;
    k[last] ^= 0xff;
    std::fs::write(&kernel, &k).expect("modify kernel");
    let r = reprise(&["replay", s(&log)]);
    assert_eq!(r.code, REPLAY_FAILED, "{}", r.stderr);
    assert!(
        r.stderr.contains(s(&kernel)) && r.stderr.contains("has changed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("SHA-256"), "{}", r.stderr);
    std::fs::remove_file(&kernel).expect("remove kernel");
    let r = reprise(&["replay", s(&log)]);
    assert_eq!(r.code, REPLAY_FAILED, "{}", r.stderr);
    assert!(
        r.stderr.contains(s(&kernel)) && r.stderr.contains("cannot be read"),
        "{}",
        r.stderr
    );

    // No log at all.
    let missing = dir.path("missing.rlog");
    for args in [
        vec!["replay", s(&missing)],
        vec!["log", "dump", s(&missing)],
        vec!["log", "stats", s(&missing)],
    ] {
        let r = reprise(&args);
        assert_eq!(r.code, REPLAY_FAILED, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("cannot open log") && r.stderr.contains(s(&missing)),
            "{}",
            r.stderr
        );
    }
}

/// A recording killed with SIGKILL (no chance to finish the log) replays up to the
/// last chunk it flushed — the recorder flushes every 250 ms of host time — and then
/// says where the log ends (exit status 10). The guest here waits for input that never
/// comes, so the kill lands while it is idle, after its prompt.
#[test]
fn a_recording_killed_with_sigkill_replays_up_to_its_last_flush() {
    let dir = Scratch::new("cli-kill");
    let log = dir.path("killed.rlog");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "record",
            "--log",
            s(&log),
            "--kernel",
            s(&guest_path("rr_inputs")),
        ])
        .args(["--memory", "32", "--append", "echo", "--icount-sleep", "on"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start reprise record");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    while !seen.ends_with(PROMPT) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.ends_with(PROMPT), "no prompt: {seen}");
    // Idle with the PIT ticking: several flushes happen meanwhile.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let r = reprise(&["replay", s(&log)]);
    assert_eq!(r.code, REPLAY_FAILED, "{}", r.stderr);
    assert!(r.stderr.contains("log ends at instruction"), "{}", r.stderr);
    assert_eq!(
        r.stdout, seen,
        "the replay prints what the recording printed before the kill"
    );
    let (ran, _) = summary(&r.stderr);
    assert_eq!(ran, last_readable_icount(&log));
}

/// `record` that cannot start says why, with the configuration status 2, and leaves no
/// log behind when the kernel is missing.
#[test]
fn record_setup_errors() {
    let dir = Scratch::new("cli-record-errors");
    let log = dir.path("x.rlog");
    let r = reprise(&[
        "record",
        "--log",
        s(&log),
        "--kernel",
        s(&dir.path("none.elf")),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read kernel"), "{}", r.stderr);
    assert!(
        !log.exists(),
        "a log was created for a run that never started"
    );
    let bad = dir.path("no-such-dir/x.rlog");
    let k = guest_path("rr_inputs");
    let r = reprise(&[
        "record",
        "--log",
        s(&bad),
        "--kernel",
        s(&k),
        "--memory",
        "32",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot create log") && r.stderr.contains(s(&bad)),
        "{}",
        r.stderr
    );
}

/// Ctrl-C while recording: the run stops at its next loop stop with status 130, the log
/// ends cleanly (a host-quit shutdown and the end record), and replay stops exactly
/// where the recording did, with the same state.
#[test]
fn ctrl_c_ends_a_recording_cleanly_and_replay_stops_there() {
    let dir = Scratch::new("cli-ctrl-c");
    let log = dir.path("quit.rlog");
    let child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "record",
            "--log",
            s(&log),
            "--kernel",
            s(&guest_path("spin")),
        ])
        .args(["--memory", "16", "--serial", "null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise record");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by the user (Ctrl-C)"), "{stderr}");
    let digest = |text: &str| {
        text.lines()
            .find_map(|l| l.split("digest ").nth(1).map(str::to_string))
            .unwrap_or_default()
    };
    let recorded = digest(&stderr);
    assert!(!recorded.is_empty(), "{stderr}");
    let r = reprise(&["replay", s(&log)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("where the recording stopped"),
        "{}",
        r.stderr
    );
    assert_eq!(digest(&r.stderr), recorded, "same final state");
}
