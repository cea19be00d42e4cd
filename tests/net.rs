//! virtio-net end to end: the virtio_net guest (guests/mb) exchanges UDP echoes with a
//! Rust peer on loopback over the udp backend, under `run`, `record` and `replay`
//! (with the peer gone and the backend's port taken by someone else, which proves the
//! backend is not opened), writes --pcap files, survives bad input, and (where the
//! library is installed) talks to libslirp.

mod common;

use common::rr::{kernel_args, Run, Scratch};
use reprise::cli::{
    record_kernel, replay_log, run_kernel, MachineArgs, RecordArgs, ReplayArgs, TierArg,
};
use reprise::host::{NetdevSpec, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use reprise_replay::{AsyncEvent, Event};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};

/// A UDP echo peer: each datagram is an Ethernet/IPv4/UDP frame; it comes back with
/// MACs, IP addresses and UDP ports swapped. Stops when told, or after 120 s.
struct Peer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Peer {
    fn start() -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("peer socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut buf = vec![0u8; 70000];
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(120) {
                let Ok((len, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let mut f = buf[..len].to_vec();
                if f.len() >= 42 {
                    swap(&mut f, 0, 6, 6);
                    swap(&mut f, 26, 30, 4);
                    swap(&mut f, 34, 36, 2);
                }
                let _ = sock.send_to(&f, from);
                n += 1;
            }
            n
        });
        Peer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the peer; returns how many datagrams it echoed.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().expect("peer"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn swap(f: &mut [u8], a: usize, b: usize, n: usize) {
    for i in 0..n {
        f.swap(a + i, b + i);
    }
}

/// A loopback port nobody uses right now.
fn free_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("ephemeral port")
}

fn udp(local: SocketAddr, remote: SocketAddr) -> NetdevSpec {
    NetdevSpec::Udp { local, remote }
}

fn machine(netdev: Option<NetdevSpec>, pcap: Option<PathBuf>) -> MachineArgs {
    MachineArgs {
        memory: 32,
        icount_limit: Some(2_000_000_000),
        tier: TierArg::Tiered,
        serial: SerialBackend::Stdio,
        no_stdin: true,
        jit_thread: false,
        netdev,
        pcap,
        ..MachineArgs::default()
    }
}

fn run(append: &str, m: MachineArgs) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let r = run_kernel(
        &kernel_args("virtio_net", Some(append)),
        &m,
        Box::new(out.clone()),
    )?;
    Ok(Run::new(r, out.text()))
}

fn record(append: &str, log: &Path, m: MachineArgs) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.to_path_buf(),
        snapshot_interval: Some(20_000),
        digest_interval: 5_000,
        kernel: kernel_args("virtio_net", Some(append)),
        machine: m,
    };
    let r = record_kernel(&a, Box::new(out.clone()))?;
    Ok(Run::new(r, out.text()))
}

fn replay(log: &Path, pcap: Option<PathBuf>, tier: TierArg) -> Run {
    let out = SharedBuffer::default();
    let a = ReplayArgs {
        log: log.to_path_buf(),
        seek: None,
        tier,
        jit_thread: false,
        progress: Some(false),
        pcap,
        audio_out: None,
    };
    let r = replay_log(&a, Box::new(out.clone()), None).expect("replay");
    Run::new(r, out.text())
}

/// Checks a pcap file's global header and returns its records (timestamp in µs, frame).
fn read_pcap(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let b = std::fs::read(path).expect("pcap file");
    assert!(b.len() >= 24, "global header");
    assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), 0xa1b2_c3d4);
    assert_eq!(
        u16::from_le_bytes(b[4..6].try_into().unwrap()),
        2,
        "version major"
    );
    assert_eq!(
        u16::from_le_bytes(b[6..8].try_into().unwrap()),
        4,
        "version minor"
    );
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut at = 24;
    let mut out = Vec::new();
    while at < b.len() {
        let h = &b[at..at + 16];
        let w = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
        let (secs, usecs, incl, orig) = (w(0), w(4), w(8) as usize, w(12) as usize);
        assert!(usecs < 1_000_000);
        assert_eq!(incl, orig, "frames are kept whole");
        out.push((
            u64::from(secs) * 1_000_000 + u64::from(usecs),
            b[at + 16..at + 16 + incl].to_vec(),
        ));
        at += 16 + incl;
    }
    assert_eq!(at, b.len(), "no trailing bytes");
    out
}

#[test]
fn udp_echoes_run_with_a_capture() {
    let s = Scratch::new("net-run");
    let peer = Peer::start();
    let pcap = s.path("run.pcap");
    let r = run(
        "count=8 size=200",
        machine(Some(udp(free_port(), peer.addr)), Some(pcap.clone())),
    )
    .expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(r.serial.contains("echoes 8 size 200"), "{}", r.serial);
    assert_eq!(peer.finish(), 8);
    let frames = read_pcap(&pcap);
    assert_eq!(frames.len(), 16, "8 sent, 8 received");
    for (k, (_, f)) in frames.iter().enumerate() {
        assert_eq!(f.len(), 14 + 20 + 8 + 200);
        let from_guest = f[6..12] == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        assert_eq!(from_guest, k % 2 == 0, "frame {k}: request then echo");
    }
    assert!(frames.windows(2).all(|w| w[0].0 <= w[1].0), "virtual time");
}

#[test]
fn record_then_replay_without_the_peer_or_the_port() {
    let s = Scratch::new("net-rr");
    let log = s.path("net.log");
    let local = free_port();
    let peer = Peer::start();
    let rec_pcap = s.path("rec.pcap");
    let rec = record(
        "count=6 size=100",
        &log,
        machine(Some(udp(local, peer.addr)), Some(rec_pcap.clone())),
    )
    .expect("record");
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert_eq!(peer.finish(), 6);
    // Every frame from outside is in the log.
    let frames: Vec<_> = common::rr::events(&log)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::Async(AsyncEvent::NetFrame { .. })))
        .collect();
    assert_eq!(frames.len(), 6);
    // The backend's port is somebody else's now and the peer is gone: a replay that
    // opened the backend would fail to bind, or wait for echoes forever.
    let squatter = UdpSocket::bind(local).expect("the port is free again after record");
    let rep_pcap = s.path("rep.pcap");
    let rep = replay(&log, Some(rep_pcap.clone()), TierArg::Interp);
    assert_eq!(rep.matches, Some(true), "{}", rep.detail);
    assert_eq!(rep.outcome, rec.outcome);
    assert_eq!(rep.serial, rec.serial);
    assert_eq!(rep.icount, rec.icount);
    assert_eq!(rep.digest, rec.digest);
    squatter
        .set_nonblocking(true)
        .expect("nonblocking squatter");
    let mut b = [0u8; 16];
    assert!(squatter.recv(&mut b).is_err(), "replay sent nothing");
    // The capture is identical in record and replay (virtual-clock timestamps).
    assert_eq!(read_pcap(&rep_pcap).len(), 12);
    assert_eq!(
        std::fs::read(&rec_pcap).unwrap(),
        std::fs::read(&rep_pcap).unwrap()
    );
    // Seeking into the middle starts from a snapshot that holds the card's state.
    let mid = rec.icount / 2;
    let out = SharedBuffer::default();
    let a = ReplayArgs {
        log: log.clone(),
        seek: Some(mid),
        tier: TierArg::Interp,
        jit_thread: false,
        progress: Some(false),
        pcap: None,
        audio_out: None,
    };
    let r = replay_log(&a, Box::new(out.clone()), None).expect("seek");
    assert_eq!(r.outcome, Outcome::IcountLimit { icount: mid });
    // And a second replay on the other tier.
    let again = replay(&log, None, TierArg::Tiered);
    assert_eq!(again.matches, Some(true), "{}", again.detail);
    assert_eq!(again.serial, rec.serial);
}

#[test]
fn bad_guest_input_is_survived_and_replays() {
    let s = Scratch::new("net-bad");
    let log = s.path("bad.log");
    let peer = Peer::start();
    let rec = record(
        "bad",
        &log,
        machine(Some(udp(free_port(), peer.addr)), None),
    )
    .expect("record");
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    assert!(
        rec.serial.contains("PASS virtio_net (8 checks, 0 failed)"),
        "{}",
        rec.serial
    );
    assert_eq!(peer.finish(), 1, "only the one good frame reached the peer");
    let rep = replay(&log, None, TierArg::Interp);
    assert_eq!(rep.matches, Some(true), "{}", rep.detail);
    assert_eq!(rep.serial, rec.serial);
}

#[test]
fn port_in_use_is_refused_before_the_guest_starts() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = match run(
        "",
        machine(Some(udp(taken.local_addr().unwrap(), free_port())), None),
    ) {
        Err(e) => e,
        Ok(r) => panic!("ran: {}", r.serial),
    };
    assert!(
        e.contains("cannot bind") && e.contains("choose another"),
        "{e}"
    );
}

#[test]
fn tap_and_pcap_errors_are_clear() {
    // `lo` is not a tap device (and without CAP_NET_ADMIN nothing is).
    let tap = NetdevSpec::Tap {
        ifname: "lo".into(),
    };
    let e = match run("", machine(Some(tap), None)) {
        Err(e) => e,
        Ok(r) => panic!("ran: {}", r.serial),
    };
    assert!(
        e.contains("--netdev tap,ifname=lo") && e.contains("use --netdev user"),
        "{e}"
    );
    let e = match run("", machine(None, Some(PathBuf::from("x.pcap")))) {
        Err(e) => e,
        Ok(r) => panic!("ran: {}", r.serial),
    };
    assert!(e.contains("needs --netdev"), "{e}");
}

#[test]
fn libslirp_answers_arp_for_the_host() {
    if let Err(e) = reprise::host::net::slirp::available() {
        println!("skipped: libslirp is not installed here ({e})");
        return;
    }
    let spec = NetdevSpec::User { hostfwd: vec![] };
    let r = run("slirp", machine(Some(spec.clone()), None)).expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(r.serial.contains("10.0.2.2 is at"), "{}", r.serial);
    // Recorded, then replayed without libslirp being consulted.
    let s = Scratch::new("net-slirp");
    let log = s.path("slirp.log");
    let rec = record("slirp", &log, machine(Some(spec), None)).expect("record");
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    let rep = replay(&log, None, TierArg::Interp);
    assert_eq!(rep.matches, Some(true), "{}", rep.detail);
    assert_eq!(
        (rep.serial, rep.icount, rep.digest),
        (rec.serial, rec.icount, rec.digest)
    );
}

#[test]
fn slirp_host_forward_on_a_busy_port_is_refused() {
    if let Err(e) = reprise::host::net::slirp::available() {
        println!("skipped: libslirp is not installed here ({e})");
        return;
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let spec: NetdevSpec = format!("user,hostfwd=tcp::{port}-:80").parse().unwrap();
    let e = match run("slirp", machine(Some(spec), None)) {
        Err(e) => e,
        Ok(r) => panic!("ran: {}", r.serial),
    };
    assert!(
        e.contains(&format!("cannot forward host port {port}")),
        "{e}"
    );
}
