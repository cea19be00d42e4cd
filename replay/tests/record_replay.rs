//! Recorder → player over a scripted machine: inputs replay identically, live sources are
//! not consulted in replay, divergences are caught with the right window, snapshots let
//! a replay start in the middle, the iothread's checkpoints stay on the iothread.

use reprise_replay::clock::ClockConfig;
use reprise_replay::log::{LogHeader, LogReader, LogWriter, SharedSink};
use reprise_replay::snapshot::{RamPages, Snapshot};
use reprise_replay::{
    AsyncEvent, Checkpoint, CpuEvent, Mode, Player, Recorder, ReplayError, ShutdownCause, StopKind,
    SyncKind,
};
use std::collections::VecDeque;
use std::io::Cursor;

const END: u64 = 3000;
const DIGEST_EVERY: u64 = 200;
const SNAPSHOT_EVERY: u64 = 700;

/// The host as the machine sees it: clocks, randomness and typed serial input, all
/// different from one run to the next.
struct Host {
    seed: u64,
    pending: VecDeque<AsyncEvent>,
    live_calls: u64,
}

impl Host {
    fn new(seed: u64) -> Self {
        Host {
            seed,
            pending: VecDeque::new(),
            live_calls: 0,
        }
    }
    fn next(&mut self) -> u64 {
        self.live_calls += 1;
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed >> 11
    }
    /// The iothread queued something (at host-dependent moments).
    fn maybe_type(&mut self, icount: u64) {
        let r = self.next();
        if r.is_multiple_of(37) {
            self.pending.push_back(AsyncEvent::SerialInput {
                port: 0,
                bytes: format!("{}@{icount}\n", r % 1000).into_bytes(),
            });
        }
        if r.is_multiple_of(91) {
            self.pending.push_back(AsyncEvent::BlockComplete {
                device: 1,
                request: r,
                status: 0,
                data: vec![r as u8; 16],
            });
        }
    }
}

/// A tiny deterministic machine whose state depends on every input.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Machine {
    icount: u64,
    state: u64,
    ram: Vec<u8>,
    serial_out: Vec<u8>,
}

impl Machine {
    fn new() -> Self {
        Machine {
            icount: 0,
            state: 0x1234,
            ram: vec![0; 4096 * 8],
            serial_out: Vec::new(),
        }
    }
    fn mix(&mut self, v: u64) {
        self.state = (self.state ^ v)
            .rotate_left(13)
            .wrapping_mul(0x9e3779b97f4a7c15);
    }
    fn ram_digest(&self) -> u64 {
        u64::from(crc32fast_like(&self.ram))
    }
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            icount: self.icount,
            cpu: self.state.to_le_bytes().to_vec(),
            ram: RamPages::capture(&self.ram),
            ..Default::default()
        };
        s.devices.insert("serial".into(), self.serial_out.clone());
        s
    }
    fn restore(s: &Snapshot) -> Self {
        let mut m = Machine::new();
        m.icount = s.icount;
        m.state = u64::from_le_bytes(s.cpu.as_slice().try_into().unwrap());
        s.ram.restore(&mut m.ram).unwrap();
        m.serial_out = s.device("serial").unwrap().to_vec();
        m
    }
}

fn crc32fast_like(b: &[u8]) -> u32 {
    b.iter().fold(0x811c9dc5u32, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x01000193)
    })
}

/// Runs the machine from its state to END under `mode`. `tweak`: at that icount the
/// machine misbehaves (flips a state bit) to inject a divergence.
fn run(
    m: &mut Machine,
    mode: &mut dyn Mode,
    host: &mut Host,
    tweak: Option<u64>,
) -> Result<(), ReplayError> {
    if m.icount == 0 {
        mode.checkpoint(0, Checkpoint::Init, &mut || None)?;
    }
    while m.icount < END {
        let ic = m.icount;
        if tweak == Some(ic) {
            m.state ^= 1 << 40;
        }
        if ic % 7 == 3 {
            let t = mode.clock(ic, SyncKind::HostClock, &mut || host.next())?;
            m.mix(t);
        }
        if ic % 13 == 5 {
            let r = mode.sync_input(ic, SyncKind::RdRand, &mut || {
                host.next().to_le_bytes().to_vec()
            })?;
            m.mix(r.iter().map(|&b| u64::from(b)).sum());
        }
        if ic % 100 == 50 {
            mode.cpu_event(ic, CpuEvent::Interrupt { vector: 0x20 })?;
            mode.checkpoint(ic, Checkpoint::VirtualTimers, &mut || None)?;
        }
        // The iothread's queue fills at host-dependent moments; the vCPU polls when it
        // has something (record) or when the log says so (replay).
        host.maybe_type(ic);
        let logged_here = mode.next_stop().is_some_and(|s| {
            s.icount == ic && s.kind == StopKind::Checkpoint(Checkpoint::AsyncPoll)
        });
        if !host.pending.is_empty() || logged_here {
            let mut q = std::mem::take(&mut host.pending);
            if let Some(evs) = mode.checkpoint(ic, Checkpoint::AsyncPoll, &mut || q.pop_front())? {
                for ev in evs {
                    if let AsyncEvent::SerialInput { bytes, .. } = &ev {
                        m.serial_out.extend_from_slice(bytes);
                    }
                    m.mix(format!("{ev:?}").len() as u64);
                }
            }
        }
        let addr = (m.state as usize) % m.ram.len();
        m.ram[addr] = m.state as u8;
        m.mix(ic);
        m.icount += 1;
        let ic = m.icount;
        if ic.is_multiple_of(DIGEST_EVERY) {
            mode.digest(ic, m.state, m.ram_digest())?;
        }
        if ic.is_multiple_of(SNAPSHOT_EVERY) {
            mode.snapshot(ic, &mut || m.snapshot())?;
        }
        if ic.is_multiple_of(128) {
            mode.flush(ic)?;
        }
    }
    Ok(())
}

fn header() -> LogHeader {
    LogHeader::new(b"cfg".to_vec(), ClockConfig::default(), vec![])
}

/// Records a run; returns the log and the final machine.
fn record(seed: u64) -> (Vec<u8>, Machine) {
    let sink = SharedSink::default();
    let w = LogWriter::new(sink.clone(), "mem", &header()).unwrap();
    let mut rec = Recorder::new(w);
    let mut m = Machine::new();
    rec.snapshot(0, &mut || m.snapshot()).unwrap();
    run(&mut m, &mut rec, &mut Host::new(seed), None).unwrap();
    let rep = rec
        .finish(END, END * 8, ShutdownCause::GuestShutdown)
        .unwrap();
    assert!(rep.matches);
    (sink.bytes(), m)
}

fn player(log: &[u8]) -> Player<Cursor<Vec<u8>>> {
    Player::new(LogReader::new(Cursor::new(log.to_vec()), "mem").unwrap())
}

#[test]
fn replay_reproduces_the_recorded_run_without_asking_the_host() {
    let (log, recorded) = record(1);
    assert!(!recorded.serial_out.is_empty(), "the script typed nothing");
    // Another host would give different inputs.
    let (_, other) = record(2);
    assert_ne!(other.state, recorded.state);

    for _ in 0..10 {
        let mut p = player(&log);
        let mut m = Machine::new();
        let mut host = Host::new(999);
        run(&mut m, &mut p, &mut host, None).unwrap();
        assert_eq!(m, recorded);
        let rep = p
            .finish(END, END * 8, ShutdownCause::GuestShutdown)
            .unwrap();
        assert!(rep.matches, "{}", rep.detail);
        assert_eq!(rep.recorded, Some((END, ShutdownCause::GuestShutdown)));
        assert!(p.next_stop().is_none());
    }
}

#[test]
fn the_player_never_calls_live_sync_sources() {
    let (log, _) = record(1);
    let mut p = player(&log);
    // A machine whose live sources fail loudly if asked.
    p.checkpoint(0, Checkpoint::Init, &mut || None).unwrap();
    while let Some(stop) = p.next_stop() {
        if let StopKind::SyncInput(k) = stop.kind {
            p.sync_input(stop.icount, k, &mut || {
                panic!("live source called in replay")
            })
            .unwrap();
            break;
        }
        if let StopKind::Checkpoint(c) = stop.kind {
            p.checkpoint(stop.icount, c, &mut || {
                panic!("live queue drained in replay")
            })
            .unwrap();
            continue;
        }
        panic!("no sync input before {stop:?}");
    }
}

#[test]
fn an_injected_divergence_is_reported_with_its_window() {
    let (log, _) = record(1);
    let mut p = player(&log);
    let mut m = Machine::new();
    let err = run(&mut m, &mut p, &mut Host::new(5), Some(1234)).unwrap_err();
    match &err {
        ReplayError::Divergence { window, .. } => {
            // The state last matched at the digest before 1234 and first differs at the
            // digest after it — unless an input depending on the state came first, which
            // in this machine none does.
            assert_eq!(*window, (1200, 1400), "{err}");
        }
        e => panic!("{e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("between instructions 1200 and 1400"), "{msg}");
}

#[test]
fn a_wrong_kind_of_input_is_a_divergence_naming_both() {
    let (log, _) = record(1);
    let mut p = player(&log);
    p.checkpoint(0, Checkpoint::Init, &mut || None).unwrap();
    // The log's first sync input is the host clock at 3; ask for RDSEED.
    let stop = p.next_stop().unwrap();
    let err = p
        .sync_input(stop.icount, SyncKind::RdSeed, &mut Vec::new)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("rdseed"), "{msg}");
    assert!(msg.contains("at instruction"), "{msg}");
    // Running past a logged event is a divergence too.
    let mut p = player(&log);
    p.checkpoint(0, Checkpoint::Init, &mut || None).unwrap();
    let err = p
        .checkpoint(10_000, Checkpoint::AsyncPoll, &mut || None)
        .unwrap_err();
    assert!(matches!(err, ReplayError::Divergence { .. }), "{err}");
}

#[test]
fn a_checkpoint_the_recording_did_not_pass_is_skipped() {
    let (log, _) = record(1);
    let mut p = player(&log);
    assert!(p
        .checkpoint(0, Checkpoint::Reset, &mut || None)
        .unwrap()
        .is_none());
    assert!(p
        .checkpoint(0, Checkpoint::Init, &mut || None)
        .unwrap()
        .is_some());
}

#[test]
fn replay_from_a_snapshot_reaches_the_same_end() {
    let (log, recorded) = record(1);
    for target in [0, 699, 700, 1500, 2999] {
        let r = LogReader::new(Cursor::new(log.clone()), "mem").unwrap();
        let (mut p, snap) = Player::at(r, target).unwrap();
        let snap = snap.expect("a snapshot at or before the target");
        assert_eq!(snap.icount, target / SNAPSHOT_EVERY * SNAPSHOT_EVERY);
        let mut m = Machine::restore(&snap);
        run(&mut m, &mut p, &mut Host::new(77), None).unwrap();
        assert_eq!(m, recorded, "from snapshot at {}", snap.icount);
        assert!(
            p.finish(END, 0, ShutdownCause::GuestShutdown)
                .unwrap()
                .matches
        );
    }
}

#[test]
fn a_truncated_log_replays_up_to_its_last_chunk_then_says_where_it_ended() {
    let (log, _) = record(1);
    let cut = &log[..log.len() * 2 / 3];
    let mut p = player(cut);
    let mut m = Machine::new();
    let err = run(&mut m, &mut p, &mut Host::new(5), None).unwrap_err();
    match &err {
        ReplayError::LogEnded { icount, reason } => {
            assert!(reason.contains("incomplete"), "{reason}");
            assert!(*icount > 500 && *icount < END, "{icount}");
            assert!(
                m.icount >= *icount,
                "stopped at {} before {icount}",
                m.icount
            );
        }
        e => panic!("{e}"),
    }
    assert!(err.to_string().contains("log ends at instruction"), "{err}");
    assert_eq!(p.next_stop().map(|s| s.kind), Some(StopKind::LogEnds));
}

#[test]
fn finishing_elsewhere_than_the_recording_is_reported() {
    let (log, _) = record(1);
    let mut p = player(&log);
    let mut m = Machine::new();
    run(&mut m, &mut p, &mut Host::new(5), None).unwrap();
    let rep = p.finish(END, 0, ShutdownCause::HostQuit).unwrap();
    assert!(!rep.matches);
    assert!(rep.detail.contains("guest_shutdown") && rep.detail.contains("host_quit"));
}

#[test]
fn iothread_checkpoints_are_logged_apart_and_honoured_only_on_the_iothread() {
    let sink = SharedSink::default();
    let mut rec = Recorder::new(LogWriter::new(sink.clone(), "mem", &header()).unwrap());
    let io = rec.io_side();
    rec.checkpoint(10, Checkpoint::VirtualTimers, &mut || None)
        .unwrap();
    // The iothread starts a warp while the vCPU is halted.
    std::thread::spawn(move || {
        assert_eq!(
            io.checkpoint(Checkpoint::ClockWarpStart, &mut || 5_000)
                .unwrap(),
            Some(5_000)
        );
    })
    .join()
    .unwrap();
    rec.checkpoint(20, Checkpoint::ClockWarpAccount, &mut || None)
        .unwrap();
    let warp = rec.clock(20, SyncKind::RealTimeClock, &mut || 777).unwrap();
    assert_eq!(warp, 777);
    rec.finish(30, 0, ShutdownCause::GuestShutdown).unwrap();

    // The log keeps the two threads apart.
    let mut dump = Vec::new();
    let mut r = LogReader::new(Cursor::new(sink.bytes()), "mem").unwrap();
    reprise_replay::inspect::dump(&mut r, false, &mut dump).unwrap();
    let dump = String::from_utf8(dump).unwrap();
    assert!(dump.contains("[io] clock_warp_start value 5000"), "{dump}");
    assert!(dump.contains("[vcpu] clock_warp_account"), "{dump}");

    let mut p = player(&sink.bytes());
    let io = p.io_side();
    // The vCPU thread's checkpoint at 10 is next: a vCPU call for warp start is not
    // honoured (it belongs to the iothread), nor is an early iothread call.
    assert!(p
        .checkpoint(10, Checkpoint::ClockWarpStart, &mut || None)
        .unwrap()
        .is_none());
    assert_eq!(
        io.checkpoint(Checkpoint::ClockWarpStart, &mut || 1)
            .unwrap(),
        None
    );
    p.checkpoint(10, Checkpoint::VirtualTimers, &mut || None)
        .unwrap()
        .unwrap();
    // Now the iothread's warp start is released, with its recorded value, once.
    let io2 = io.clone();
    let got = std::thread::spawn(move || io2.checkpoint(Checkpoint::ClockWarpStart, &mut || 1))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(5_000));
    assert_eq!(
        io.checkpoint(Checkpoint::ClockWarpStart, &mut || 1)
            .unwrap(),
        None
    );
    p.checkpoint(20, Checkpoint::ClockWarpAccount, &mut || None)
        .unwrap()
        .unwrap();
    assert_eq!(
        p.clock(20, SyncKind::RealTimeClock, &mut || 1).unwrap(),
        777
    );
    assert!(
        p.finish(30, 0, ShutdownCause::GuestShutdown)
            .unwrap()
            .matches
    );
}

#[test]
fn next_stop_leads_the_machine_to_each_logged_event() {
    let (log, _) = record(1);
    let mut p = player(&log);
    let first = p.next_stop().unwrap();
    assert_eq!(first.icount, 0);
    assert_eq!(first.kind, StopKind::Checkpoint(Checkpoint::Init));
    p.checkpoint(0, Checkpoint::Init, &mut || None).unwrap();
    let s = p.next_stop().unwrap();
    assert_eq!(
        (s.icount, s.kind),
        (3, StopKind::SyncInput(SyncKind::HostClock))
    );
}

#[test]
fn a_damaged_snapshot_falls_back_to_an_earlier_one() {
    let (log, recorded) = record(1);
    let mut r = LogReader::new(Cursor::new(log.clone()), "mem").unwrap();
    let chunks = r.scan_chunks().unwrap();
    let snap1400 = chunks
        .iter()
        .find(|c| {
            c.frame.kind == reprise_replay::log::frame::KIND_SNAPSHOT
                && c.frame.first_icount == 1400
        })
        .unwrap();
    let mut bad = log.clone();
    bad[snap1400.offset as usize + 40] ^= 0xff;
    let (mut p, snap) = Player::at(LogReader::new(Cursor::new(bad), "mem").unwrap(), 1500).unwrap();
    let snap = snap.unwrap();
    assert_eq!(snap.icount, 700);
    assert!(
        p.skipped_snapshot().unwrap().contains("checksum"),
        "{:?}",
        p.skipped_snapshot()
    );
    let mut m = Machine::restore(&snap);
    run(&mut m, &mut p, &mut Host::new(3), None).unwrap();
    assert_eq!(m, recorded);
    assert_eq!(p.recorded_icount().unwrap(), END);
}

#[test]
fn the_modes_can_move_to_the_vcpu_thread() {
    fn send<T: Send>() {}
    send::<Recorder>();
    send::<Player>();
    send::<reprise_replay::PassThrough>();
    send::<reprise_replay::IoSide>();
    let m: Box<dyn Mode + Send> = Box::new(reprise_replay::PassThrough);
    assert_eq!(m.name(), "none");
}
