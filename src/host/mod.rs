//! Everything that faces the host: character backends for the serial port and the
//! iothread that reads them. Nothing here touches guest state; what the host produces
//! reaches the machine as [`HostInput`] messages over a channel, and the vCPU thread
//! applies them at checkpoints (where record/replay logs them).

pub mod iothread;
pub mod serial;

pub use iothread::{HostInput, IoThread};
pub use serial::{SerialBackend, SerialBackendError};
