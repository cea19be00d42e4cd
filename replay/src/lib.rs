//! reprise's record/replay layer.
//!
//! - [`Mode`] is the one trait between the machine and this crate, with three
//!   implementations: [`PassThrough`] (`reprise run`), [`Recorder`] and [`Player`]; the
//!   iothread has its own handle, [`IoSide`].
//! - [`log`]: the log format, writer and reader side by side (byte layout in its doc and
//!   in docs/replay.md).
//! - [`event`]: what the log holds.
//! - [`snapshot`]: machine state at an instruction count, stored in the log.
//! - [`clock`]: the virtual clock policy (icount shift fixed or auto, sleep on/off).
//! - [`inspect`]: `dump` and `stats` for the `reprise log` subcommands.
//! - [`digest`]: a fast deterministic checksum of registers and RAM pages for digests.
//! - [`image`]: identity (SHA-256) of the image files a run used.

pub mod clock;
pub mod codec;
pub mod digest;
pub mod event;
pub mod image;
pub mod inspect;
pub mod log;
pub mod mode;
pub mod snapshot;

pub use digest::StateHasher;
pub use event::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
pub use image::{hash_file, ImageId, ImageRecord};
pub use log::{LogError, LogHeader, LogReader, LogWriter};
pub use mode::{
    FinishReport, IoSide, Mode, PassThrough, Player, Recorder, ReplayError, Stop, StopKind,
};
pub use snapshot::{RamPages, Snapshot, SnapshotError};
