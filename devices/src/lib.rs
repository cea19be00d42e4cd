//! reprise's device models: register-level behaviour only.
//!
//! A device here knows register *offsets*, never the address it is mapped at: the
//! machine (`src/layout.rs`) decides where each device lives and forwards accesses with
//! the offset inside the device's window. Devices read no host clock, start no thread
//! and open no file or socket; whatever they send to the outside world goes through a
//! writer or backend the machine hands them. That is what makes them replayable.
//!
//! Each device's state can be captured as a plain serde-serializable struct
//! (`state()` / `from_state()`), which is what snapshots will store.

pub mod debug_exit;
pub mod uart;

pub use debug_exit::DebugExit;
pub use uart::{Uart, UartError, UartState};
