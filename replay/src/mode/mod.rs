//! The one trait between the machine and the replay layer, [`Mode`], and its three
//! implementations: [`PassThrough`] (`reprise run`), [`Recorder`] and [`Player`].
//!
//! How the machine uses it (vCPU thread unless said otherwise):
//! - every input produced on the vCPU thread from outside (a host clock read, RDRAND
//!   bytes, a char-backend write result) goes through [`Mode::sync_input`] /
//!   [`Mode::clock`]: record logs the live value, replay returns the logged one without
//!   asking the host;
//! - async events (serial bytes, block completions, …) are applied only at
//!   [`Mode::checkpoint`]: record drains the iothread's queue and logs what it applied,
//!   replay returns what the log says and ignores the live queue. `Ok(None)` means the
//!   recording did not pass this checkpoint here: skip what it guards;
//! - the CPU is run up to [`Mode::next_stop`] (replay: the next logged vCPU event) and
//!   the timer deadline, whichever comes first, so replay stops at exactly the recorded
//!   instruction counts;
//! - [`Mode::digest`] at regular instruction counts for divergence detection,
//!   [`Mode::snapshot`] at the snapshot interval, [`Mode::flush`] regularly,
//!   [`Mode::finish`] at the end;
//! - the iothread gets its own handle, [`IoSide`], from [`Mode::io_side`] for its own
//!   checkpoints (warp start); they stay apart from the vCPU's in code and in the log.

mod io;
mod pass;
mod player;
mod recorder;

pub use io::IoSide;
pub use pass::PassThrough;
pub use player::Player;
pub use recorder::Recorder;

use crate::event::{AsyncEvent, Checkpoint, CpuEvent, ShutdownCause, SyncKind};
use crate::log::LogError;
use crate::snapshot::{Snapshot, SnapshotError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("replay diverged from the recording between instructions {} and {}: at instruction {icount} the log has {expected}, but the machine produced {actual}. The state last matched at instruction {}; look in that window for an input that is not recorded (a host clock, a device reading the host, uninitialised host memory)", window.0, window.1, window.0)]
    Divergence {
        /// (last instruction count where the state was known to match, where it failed)
        window: (u64, u64),
        icount: u64,
        expected: String,
        actual: String,
    },
    #[error("replay diverged on the iothread: the log's next iothread checkpoint is {expected}, the iothread reached {actual}; the machine's iothread does not behave as it did when recording")]
    IoDivergence { expected: String, actual: String },
    #[error("the log ends at instruction {icount}: {reason}. Everything recorded was replayed; the run stops here")]
    LogEnded { icount: u64, reason: String },
    #[error("image {path} has changed since the recording ({detail}); put back the file the log was recorded with")]
    ImageChanged { path: String, detail: String },
    #[error("the recorder has stopped, so the iothread cannot log {0}; the recording is over")]
    RecorderGone(String),
}

/// What the next logged vCPU event is (replay only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    Checkpoint(Checkpoint),
    SyncInput(SyncKind),
    Cpu(CpuEvent),
    Digest,
    Shutdown(ShutdownCause),
    /// The end record (after the shutdown record): the recording stopped here.
    End,
    /// The log ends here (truncated or damaged): replay cannot go further.
    LogEnds,
}

/// Where the machine must stop next in replay and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    pub icount: u64,
    pub kind: StopKind,
}

/// How a run ended compared with the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishReport {
    /// Where and why this run stopped.
    pub icount: u64,
    pub cause: ShutdownCause,
    /// Where and why the recording stopped, if known.
    pub recorded: Option<(u64, ShutdownCause)>,
    /// True when this run stopped where and as the recording did (always for record and
    /// pass-through).
    pub matches: bool,
    /// A sentence for the user.
    pub detail: String,
}

/// The machine's view of record/replay.
pub trait Mode {
    /// "none", "record" or "replay".
    fn name(&self) -> &'static str;

    /// An input produced synchronously on the vCPU thread at `icount`. Record calls `live`
    /// and logs its bytes; replay returns the logged bytes without calling `live`.
    fn sync_input(
        &mut self,
        icount: u64,
        kind: SyncKind,
        live: &mut dyn FnMut() -> Vec<u8>,
    ) -> Result<Vec<u8>, ReplayError>;

    /// A clock read (u64 ns) through [`Mode::sync_input`].
    fn clock(
        &mut self,
        icount: u64,
        kind: SyncKind,
        live: &mut dyn FnMut() -> u64,
    ) -> Result<u64, ReplayError> {
        let bytes = self.sync_input(icount, kind, &mut || live().to_le_bytes().to_vec())?;
        let arr: [u8; 8] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ReplayError::Divergence {
                window: (icount, icount),
                icount,
                expected: format!("a {}-byte value for {kind:?}", bytes.len()),
                actual: "an 8-byte clock read".into(),
            })?;
        Ok(u64::from_le_bytes(arr))
    }

    /// The vCPU thread reaches checkpoint `cp` at `icount`. Returns the async events to
    /// apply now, or `None` (replay only) if the recording did not pass `cp` here.
    fn checkpoint(
        &mut self,
        icount: u64,
        cp: Checkpoint,
        pending: &mut dyn FnMut() -> Option<AsyncEvent>,
    ) -> Result<Option<Vec<AsyncEvent>>, ReplayError>;

    /// A CPU event (interrupt delivered, exception) kept for checking: record logs it,
    /// replay checks it is the next logged event.
    fn cpu_event(&mut self, icount: u64, ev: CpuEvent) -> Result<(), ReplayError>;

    /// A digest of architectural state: record logs it, replay compares.
    fn digest(&mut self, icount: u64, regs: u64, ram: u64) -> Result<(), ReplayError>;

    /// Replay: the next logged vCPU event the CPU must stop at. `None` otherwise.
    fn next_stop(&self) -> Option<Stop>;

    /// Record: `take` is called and the snapshot written. Others do nothing.
    fn snapshot(
        &mut self,
        icount: u64,
        take: &mut dyn FnMut() -> Snapshot,
    ) -> Result<(), ReplayError>;

    /// Record: writes what is buffered (called regularly). Others do nothing.
    fn flush(&mut self, icount: u64) -> Result<(), ReplayError>;

    /// The run ends at `icount` for `cause`; record writes the end of the log.
    fn finish(
        &mut self,
        icount: u64,
        virtual_ns: u64,
        cause: ShutdownCause,
    ) -> Result<FinishReport, ReplayError>;

    /// The iothread's handle.
    fn io_side(&self) -> IoSide;
}
