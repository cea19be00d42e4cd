//! Everything that faces the host: character backends for the serial port and the
//! iothread that reads them. Nothing here touches guest state; what the host produces
//! reaches the machine as [`HostInput`] messages over a channel, and the vCPU thread
//! applies them at checkpoints (where record/replay logs them).

pub mod audio;
pub mod disk;
pub mod iothread;
pub mod keyboard;
pub mod net;
pub mod quit;
pub mod serial;

pub use audio::{AudioBackend, AudioIn, AudioOut, AudioSpec};
pub use disk::{DiskClient, DiskJob, DriveSpec, WritePolicy};
pub use iothread::{HostInput, IoThread};
pub use keyboard::KeyboardSource;
pub use net::{NetClient, NetdevSpec};
pub use serial::{SerialBackend, SerialBackendError};
