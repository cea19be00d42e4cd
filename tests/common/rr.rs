//! Record/replay helpers: record a guest through the library API (serial output to a
//! file or to a socket peer), replay a log with its output captured, rewrite a log
//! record by record, and read chunk boundaries.

use super::guest_path;
use reprise::cli::{record_kernel, replay_log, KernelArgs, MachineArgs, RunResult, TierArg};
use reprise::cli::{RecordArgs, ReplayArgs};
use reprise::host::SerialBackend;
use reprise::{Outcome, SharedBuffer};
use reprise_replay::log::frame::KIND_SNAPSHOT;
use reprise_replay::{Event, LogReader, LogWriter, SyncKind};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fresh, empty directory for one test (removed by [`Scratch`]'s drop).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("reprise-rr-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create scratch dir");
        Scratch(d)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The guests/mb directory.
pub fn mb_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guests/mb")
}

/// Kernel options for a guest as tests/system_guests.rs (and scripts/compare-qemu.sh)
/// boot it; `append` adds a command line.
pub fn kernel_args(name: &str, append: Option<&str>) -> KernelArgs {
    let mut k = KernelArgs {
        kernel: guest_path(name),
        append: append.map(str::to_string),
        ..KernelArgs::default()
    };
    if name == "mb_info" {
        k.append = Some("mbtest=ok second=2".into());
        k.module = vec![format!(
            "{},modarg=7",
            mb_dir().join("module.txt").display()
        )];
    }
    k
}

/// How to record.
#[derive(Clone)]
pub struct Rec {
    pub kernel: KernelArgs,
    pub memory: u64,
    pub tier: TierArg,
    pub sleep: bool,
    pub digest_interval: u64,
    pub snapshot_interval: Option<u64>,
    /// Stop recording after this many instructions.
    pub limit: u64,
    /// --icount-shift.
    pub shift: u32,
}

impl Rec {
    pub fn guest(name: &str) -> Rec {
        Rec {
            kernel: kernel_args(name, None),
            memory: if name == "rr_inputs" { 32 } else { 128 },
            tier: TierArg::Tiered,
            sleep: false,
            // A RAM digest (every 8th) hashes all of RAM: keep them few on the
            // 128 MiB machines.
            digest_interval: if name == "rr_inputs" {
                10_000
            } else {
                1_000_000
            },
            snapshot_interval: None,
            limit: super::GUEST_LIMIT,
            shift: 0,
        }
    }

    fn args(&self, log: &Path, serial: SerialBackend) -> RecordArgs {
        RecordArgs {
            log: log.to_path_buf(),
            snapshot_interval: self.snapshot_interval,
            digest_interval: self.digest_interval,
            kernel: self.kernel.clone(),
            machine: MachineArgs {
                memory: self.memory,
                icount_limit: Some(self.limit),
                tier: self.tier,
                icount_sleep: self.sleep,
                icount_shift: reprise::cli::ShiftArg::Fixed(self.shift),
                serial,
                ..MachineArgs::default()
            },
        }
    }

    /// Records into `log` with the serial output going to a file (no input).
    pub fn record(&self, log: &Path) -> Run {
        let out = log.with_extension("serial");
        let _ = std::fs::remove_file(&out);
        let r = record_kernel(
            &self.args(log, SerialBackend::File(out.clone())),
            Box::new(std::io::sink()),
        )
        .unwrap_or_else(|e| panic!("recording {} failed to start: {e}", log.display()));
        let serial = std::fs::read_to_string(&out).unwrap_or_default();
        Run::new(r, serial)
    }

    /// Records into `log` with COM1 connected to a socket peer run by this test
    /// (`unix` or `tcp`); the peer types `input`, in pieces, once the guest printed its
    /// prompt (`at_prompt`) or as soon as it is connected (the guest is still busy).
    pub fn record_with_peer(&self, log: &Path, unix: bool, input: &[&str], at_prompt: bool) -> Run {
        let input: Vec<String> = input.iter().map(|s| s.to_string()).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (backend, peer) = if unix {
            let sock = log.with_extension("sock");
            let _ = std::fs::remove_file(&sock);
            let l = std::os::unix::net::UnixListener::bind(&sock).expect("bind unix socket");
            let stop2 = stop.clone();
            let peer = std::thread::spawn(move || {
                let (s, _) = l.accept().expect("accept");
                talk(s, &input, at_prompt, &stop2)
            });
            (SerialBackend::Unix(sock), peer)
        } else {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
            let addr = l.local_addr().expect("local addr").to_string();
            let stop2 = stop.clone();
            let peer = std::thread::spawn(move || {
                let (s, _) = l.accept().expect("accept");
                talk(s, &input, at_prompt, &stop2)
            });
            (SerialBackend::Tcp(addr), peer)
        };
        let r = record_kernel(&self.args(log, backend), Box::new(std::io::sink()));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let serial = peer.join().expect("peer thread");
        let r = r.unwrap_or_else(|e| panic!("recording {} failed to start: {e}", log.display()));
        Run::new(r, serial)
    }
}

/// A socket stream the peer can time out on and shut down.
pub trait PeerStream: Read + Write {
    fn set_timeout(&self, d: Duration);
    fn close(&self);
}

impl PeerStream for std::net::TcpStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl PeerStream for std::os::unix::net::UnixStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

/// The prompt rr_inputs prints before it reads serial input.
pub const PROMPT: &str = "echo: type text ending in '.'\n";

/// The test's side of the serial line: collects the guest's output, types `input` (a
/// short pause between pieces) once the prompt appeared (or at once), and returns everything read
/// once the recording is over (`stop`) and the line is quiet. Bounded: gives up after
/// 60 s.
fn talk(
    mut s: impl PeerStream,
    input: &[String],
    at_prompt: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> String {
    s.set_timeout(Duration::from_millis(20));
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut typed = false;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
            }
        }
        if !typed && (!at_prompt || String::from_utf8_lossy(&got).contains(PROMPT)) {
            typed = true;
            for piece in input {
                let _ = s.write_all(piece.as_bytes());
                let _ = s.flush();
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        if t0.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    s.close();
    String::from_utf8_lossy(&got).into_owned()
}

/// What a run (record or replay) leaves that the other must match.
#[derive(Debug)]
pub struct Run {
    pub outcome: Outcome,
    pub serial: String,
    pub icount: u64,
    pub digest: u64,
    /// How the end compared with the recording (replay), or the recorder's report.
    pub matches: Option<bool>,
    pub detail: String,
}

impl Run {
    /// A run's result and the serial output it printed, in the form tests compare.
    pub fn new(r: RunResult, serial: String) -> Run {
        Run {
            outcome: r.outcome,
            serial,
            icount: r.stats.instructions,
            digest: r.stats.digest,
            matches: r.report.as_ref().map(|x| x.matches),
            detail: r.report.map(|x| x.detail).unwrap_or_default(),
        }
    }

    /// Asserts that `other` (a replay of this recording) is the same run.
    pub fn assert_same(&self, other: &Run, what: &str) {
        assert_eq!(
            other.outcome,
            self.outcome,
            "{what}: outcome ({})",
            other.outcome.message()
        );
        assert_eq!(other.serial, self.serial, "{what}: serial output");
        assert_eq!(other.icount, self.icount, "{what}: instruction count");
        assert_eq!(
            other.digest, self.digest,
            "{what}: final state digest {:016x} vs {:016x}",
            other.digest, self.digest
        );
        assert_eq!(
            other.matches,
            Some(true),
            "{what}: the replay's end does not match the recording: {}",
            other.detail
        );
    }
}

/// Replays `log` (to its end, or to `seek`) in `tier` with the output captured.
pub fn replay(log: &Path, tier: TierArg, seek: Option<u64>) -> Run {
    try_replay(log, tier, seek).unwrap_or_else(|e| panic!("replay of {}: {e}", log.display()))
}

pub fn try_replay(log: &Path, tier: TierArg, seek: Option<u64>) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let args = ReplayArgs {
        log: log.to_path_buf(),
        seek,
        tier,
        jit_thread: false,
        progress: Some(false),
        audio_out: None,
        pcap: None,
    };
    let r = replay_log(&args, Box::new(out.clone()), None)?;
    Ok(Run::new(r, out.text()))
}

/// Copies log `src` to `dst` record by record through [`LogReader`] and [`LogWriter`]:
/// `edit` may replace each event (given its icount) with others, written at the same
/// icount; snapshots are copied where their reference record is, unless
/// `keep_snapshots` is false (then they and their references are dropped, and a replay
/// can only start from the beginning). Returns the number of events `edit` replaced.
pub fn rewrite(
    src: &Path,
    dst: &Path,
    keep_snapshots: bool,
    mut edit: impl FnMut(u64, &Event) -> Option<Vec<Event>>,
) -> usize {
    let mut r = LogReader::open(src).expect("open log to rewrite");
    let chunks = r.scan_chunks().expect("scan chunks");
    let header = r.header().clone();
    let mut w = LogWriter::create(dst, &header).expect("create rewritten log");
    let mut changed = 0;
    while let Some((ic, ev)) = r.next_event().expect("read log") {
        if let Event::SnapshotRef { .. } = ev {
            if keep_snapshots {
                let info = chunks
                    .iter()
                    .find(|c| c.frame.kind == KIND_SNAPSHOT && c.frame.first_icount == ic)
                    .expect("snapshot chunk of a reference");
                let blob = r.read_snapshot_chunk(info).expect("read snapshot");
                w.write_snapshot(ic, &blob).expect("write snapshot");
            }
            continue;
        }
        let evs = match edit(ic, &ev) {
            Some(new) => {
                changed += 1;
                new
            }
            None => vec![ev],
        };
        for ev in &evs {
            w.write(ic, ev).expect("write event");
        }
    }
    w.finish().expect("finish rewritten log");
    changed
}

/// The events of a log, in order.
pub fn events(log: &Path) -> Vec<(u64, Event)> {
    let mut r = LogReader::open(log).expect("open log");
    let mut v = Vec::new();
    while let Some(e) = r.next_event().expect("read log") {
        v.push(e);
    }
    v
}

/// Icounts of the sync inputs of `kind` in a log.
pub fn sync_icounts(log: &Path, kind: SyncKind) -> Vec<u64> {
    events(log)
        .into_iter()
        .filter_map(|(ic, e)| matches!(e, Event::Sync { kind: k, .. } if k == kind).then_some(ic))
        .collect()
}

/// (offset, length, kind, first icount) of every chunk of a log.
pub fn chunks(log: &Path) -> Vec<(u64, u64, u8, u64)> {
    let mut r = LogReader::open(log).expect("open log");
    r.scan_chunks()
        .expect("scan chunks")
        .into_iter()
        .map(|c| {
            (
                c.offset,
                reprise_replay::log::frame::FRAME_LEN as u64 + u64::from(c.frame.compressed_len),
                c.frame.kind,
                c.frame.first_icount,
            )
        })
        .collect()
}

/// The icount of the last record that can be read from a (possibly damaged) log.
pub fn last_readable_icount(log: &Path) -> u64 {
    let Ok(mut r) = LogReader::open(log) else {
        return 0;
    };
    while let Ok(Some(_)) = r.next_record() {}
    r.icount()
}

/// Parses "between instructions A and B" out of a divergence message.
pub fn divergence_window(msg: &str) -> Option<(u64, u64)> {
    let rest = msg.split("between instructions ").nth(1)?;
    let mut it = rest.split_whitespace();
    let a = it.next()?.parse().ok()?;
    let _and = it.next()?;
    let b = it.next()?.trim_end_matches(':').parse().ok()?;
    Some((a, b))
}
