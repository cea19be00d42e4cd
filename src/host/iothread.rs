//! The iothread side of the machine: threads that block on host input (stdin, a
//! socket) and hand what they read to the vCPU thread over a crossbeam channel.
//!
//! The vCPU thread never blocks on the host while guest code can run: it polls
//! [`IoThread::try_recv`] at checkpoints, and only when the guest is idle does it wait
//! ([`IoThread::wait`]) — for input, or until the next timer deadline.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use reprise_replay::{Checkpoint, IoSide, ReplayError};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something the host produced for the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostInput {
    /// Bytes received by the serial backend.
    Serial(Vec<u8>),
    /// The serial backend's input ended (end of file, peer closed, read error).
    SerialClosed,
    /// The disk I/O worker finished request `request` of virtio-blk device `device`.
    Block {
        device: u32,
        request: u64,
        status: u8,
        data: Vec<u8>,
    },
    /// A key of the `--keyboard` source went down (`value` 1) or up (0); `code` is a
    /// Linux `KEY_*` number.
    Key { code: u16, value: i32 },
    /// The keyboard source ended.
    KeyboardClosed,
    /// A frame from the network backend of virtio-net device `device`.
    Net { device: u32, frame: Vec<u8> },
}

/// A request from the vCPU thread to the iothread: reach checkpoint `.0` and answer
/// on `.1`.
type CheckpointRequest = (Checkpoint, Sender<Result<Option<u64>, ReplayError>>);

/// Host input readers, the channel they feed, and the iothread proper, which runs the
/// checkpoints that belong to it (the start of a clock warp) through its [`IoSide`].
pub struct IoThread {
    rx: Receiver<HostInput>,
    /// Kept so the channel stays open (and `wait` blocks) when no reader exists.
    _tx: Sender<HostInput>,
    live_sources: usize,
    ctl: Sender<CheckpointRequest>,
    /// Disk requests sent to an I/O worker and not answered yet.
    disk_pending: Arc<AtomicUsize>,
    /// The disk I/O workers started, by drive.
    disks: Vec<super::disk::DiskClient>,
    /// The network backend's threads (stopped and joined when the iothread goes).
    net: Option<super::net::NetHandle>,
    net_client: Option<super::net::NetClient>,
}

/// Nanoseconds of host real time since `t0` (what warp start records).
fn realtime_ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn control_loop(side: IoSide, requests: Receiver<CheckpointRequest>, t0: Instant) {
    for (cp, reply) in requests {
        let r = side.checkpoint(cp, &mut || realtime_ns(t0));
        if reply.send(r).is_err() {
            return;
        }
    }
}

impl IoThread {
    /// An iothread with no input sources: nothing ever arrives.
    pub fn none() -> IoThread {
        IoThread::new(IoSide::default(), None)
    }

    /// The iothread for a machine whose replay layer handed out `side`, reading the
    /// serial backend's input if it has one.
    pub fn new(side: IoSide, serial_input: Option<Box<dyn Read + Send>>) -> IoThread {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ctl, requests) = crossbeam_channel::unbounded();
        let t0 = Instant::now();
        // If the thread cannot start, checkpoint requests fail with a clear error.
        let _ = std::thread::Builder::new()
            .name("reprise-io".into())
            .spawn(move || control_loop(side, requests, t0));
        let mut io = IoThread {
            rx,
            _tx: tx,
            live_sources: 0,
            ctl,
            disk_pending: Arc::new(AtomicUsize::new(0)),
            disks: Vec::new(),
            net: None,
            net_client: None,
        };
        io.add_serial(serial_input);
        io
    }

    /// The iothread reaches checkpoint `cp` (run on the iothread; this call waits for
    /// it). `None` in replay when the recording did not pass `cp` here.
    pub fn checkpoint(&self, cp: Checkpoint) -> Result<Option<u64>, ReplayError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let gone =
            || ReplayError::RecorderGone("an iothread checkpoint (the iothread stopped)".into());
        self.ctl.send((cp, reply)).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    fn add_serial(&mut self, input: Option<Box<dyn Read + Send>>) {
        if let Some(r) = input {
            let tx = self._tx.clone();
            // The reader blocks in read(); it is detached and ends with the process or
            // when its source closes.
            let spawned = std::thread::Builder::new()
                .name("reprise-serial-in".into())
                .spawn(move || read_loop(r, tx));
            if spawned.is_ok() {
                self.live_sources += 1;
            }
        }
    }

    /// Starts a reader thread turning the text of `input` into key events
    /// ([`HostInput::Key`]); see [`super::keyboard`].
    pub fn add_keyboard(&mut self, input: Box<dyn Read + Send>) {
        let tx = self._tx.clone();
        let spawned = std::thread::Builder::new()
            .name("reprise-kbd-in".into())
            .spawn(move || super::keyboard::read_loop(input, tx));
        if spawned.is_ok() {
            self.live_sources += 1;
        }
    }

    /// Starts an I/O worker thread serving `disk` for the next drive (device 0, 1, …
    /// in the order of the calls); its completions arrive as [`HostInput::Block`]
    /// with that device number. The machine takes the workers' clients with
    /// [`IoThread::disk_clients`].
    pub fn add_disk(&mut self, disk: super::disk::Disk) -> Result<(), String> {
        let device = u32::try_from(self.disks.len()).unwrap_or(u32::MAX);
        let c =
            super::disk::spawn_worker(disk, device, self._tx.clone(), self.disk_pending.clone())?;
        self.disks.push(c);
        Ok(())
    }

    /// Where the machine sends each drive's requests (empty: no workers, as in
    /// replay).
    pub fn disk_clients(&self) -> Vec<super::disk::DiskClient> {
        self.disks.clone()
    }

    /// Opens network backend `spec` for virtio-net device `device`; its frames arrive
    /// as [`HostInput::Net`]. Returns where the machine sends the guest's frames.
    pub fn add_net(
        &mut self,
        spec: &super::net::NetdevSpec,
        device: u32,
    ) -> Result<super::net::NetClient, String> {
        let (client, handle) = super::net::open(spec, device, self._tx.clone())?;
        self.net = Some(handle);
        self.net_client = Some(client.clone());
        self.live_sources += 1;
        Ok(client)
    }

    /// Where the machine sends the guest's frames (`None`: no backend, as in replay).
    pub fn net_client(&self) -> Option<super::net::NetClient> {
        self.net_client.clone()
    }

    /// True while some source may still deliver input (a reader, or a disk request
    /// in flight).
    pub fn has_live_sources(&self) -> bool {
        self.live_sources > 0 || self.disk_pending.load(Ordering::SeqCst) > 0
    }

    /// Takes one message if one is waiting.
    pub fn try_recv(&mut self) -> Option<HostInput> {
        let m = self.rx.try_recv().ok()?;
        self.note(&m);
        Some(m)
    }

    /// Waits up to `timeout` (forever if `None`) for a message; `None` on timeout or
    /// when no source is live.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Option<HostInput> {
        if !self.has_live_sources() {
            return self.try_recv();
        }
        let m = match timeout {
            Some(t) => match self.rx.recv_timeout(t) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            },
            None => self.rx.recv().ok()?,
        };
        self.note(&m);
        Some(m)
    }

    fn note(&mut self, m: &HostInput) {
        match m {
            HostInput::SerialClosed | HostInput::KeyboardClosed => {
                self.live_sources = self.live_sources.saturating_sub(1);
            }
            HostInput::Block { .. } => {
                let _ = self
                    .disk_pending
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        Some(n.saturating_sub(1))
                    });
            }
            HostInput::Serial(_) | HostInput::Key { .. } | HostInput::Net { .. } => {}
        }
    }
}

fn read_loop(mut r: Box<dyn Read + Send>, tx: Sender<HostInput>) {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send(HostInput::SerialClosed);
                return;
            }
            Ok(n) => {
                if tx.send(HostInput::Serial(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_bytes_arrive_then_close() {
        let mut io = IoThread::new(
            IoSide::default(),
            Some(Box::new(std::io::Cursor::new(b"hi".to_vec()))),
        );
        let mut got = Vec::new();
        loop {
            match io.wait(Some(Duration::from_secs(5))) {
                Some(HostInput::Serial(b)) => got.extend(b),
                Some(HostInput::SerialClosed) => break,
                Some(m) => panic!("unexpected {m:?}"),
                None => panic!("timed out"),
            }
        }
        assert_eq!(got, b"hi");
        assert!(!io.has_live_sources());
        assert_eq!(io.wait(None), None, "no live source: never blocks");
    }

    #[test]
    fn no_sources_never_block() {
        let mut io = IoThread::none();
        assert_eq!(io.wait(None), None);
        assert_eq!(io.try_recv(), None);
    }

    #[test]
    fn checkpoints_run_on_the_iothread_and_answer() {
        let io = IoThread::none();
        let v = io.checkpoint(Checkpoint::ClockWarpStart).unwrap();
        assert!(v.is_some(), "pass-through always passes its checkpoints");
    }
}
