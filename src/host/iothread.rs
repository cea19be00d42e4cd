//! The iothread side of the machine: threads that block on host input (stdin, a
//! socket) and hand what they read to the vCPU thread over a crossbeam channel.
//!
//! The vCPU thread never blocks on the host while guest code can run: it polls
//! [`IoThread::try_recv`] at checkpoints, and only when the guest is idle does it wait
//! ([`IoThread::wait`]) — for input, or until the next timer deadline.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::io::Read;
use std::time::Duration;

/// Something the host produced for the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostInput {
    /// Bytes received by the serial backend.
    Serial(Vec<u8>),
    /// The serial backend's input ended (end of file, peer closed, read error).
    SerialClosed,
}

/// Host input readers and the channel they feed.
pub struct IoThread {
    rx: Receiver<HostInput>,
    /// Kept so the channel stays open (and `wait` blocks) when no reader exists.
    _tx: Sender<HostInput>,
    live_sources: usize,
}

impl IoThread {
    /// An iothread with no input sources: nothing ever arrives.
    pub fn none() -> IoThread {
        let (tx, rx) = crossbeam_channel::unbounded();
        IoThread {
            rx,
            _tx: tx,
            live_sources: 0,
        }
    }

    /// Starts a reader thread for the serial backend's input, if it has one.
    pub fn with_serial(input: Option<Box<dyn Read + Send>>) -> IoThread {
        let mut io = IoThread::none();
        if let Some(r) = input {
            let tx = io._tx.clone();
            // The reader blocks in read(); it is detached and ends with the process or
            // when its source closes.
            let spawned = std::thread::Builder::new()
                .name("reprise-serial-in".into())
                .spawn(move || read_loop(r, tx));
            if spawned.is_ok() {
                io.live_sources = 1;
            }
        }
        io
    }

    /// True while some source may still deliver input.
    pub fn has_live_sources(&self) -> bool {
        self.live_sources > 0
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
        if *m == HostInput::SerialClosed {
            self.live_sources = self.live_sources.saturating_sub(1);
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
        let mut io = IoThread::with_serial(Some(Box::new(std::io::Cursor::new(b"hi".to_vec()))));
        let mut got = Vec::new();
        loop {
            match io.wait(Some(Duration::from_secs(5))) {
                Some(HostInput::Serial(b)) => got.extend(b),
                Some(HostInput::SerialClosed) => break,
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
}
