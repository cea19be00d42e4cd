//! reprise's device models: register-level behaviour only.
//!
//! A device here knows register *offsets*, never the address it is mapped at: the
//! machine (`src/layout.rs`) decides where each device lives and forwards accesses with
//! the offset inside the device's window. Devices read no host clock, start no thread
//! and open no file or socket; whatever they send to the outside world goes through a
//! writer or backend the machine hands them. That is what makes them replayable.
//!
//! Devices that depend on time take the virtual time `now_ns` (monotonic nanoseconds)
//! with every call, say through `next_deadline()` when they next need attention, and
//! fire what is due in `advance(now_ns)`.
//!
//! Each device's state can be captured as a plain serde-serializable struct
//! (`state()` / `from_state()`), which is what snapshots will store.

pub mod ac97;
pub mod debug_exit;
pub mod i8042;
pub mod intc;
pub mod ioapic;
pub mod lapic;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod rtc;
pub mod uart;
pub mod virtio;

pub use debug_exit::DebugExit;
pub use i8042::{I8042State, I8042};
pub use intc::{Intc, IntcState};
pub use ioapic::{IoApic, IoApicState};
pub use lapic::{Lapic, LapicState, LAPIC_BUS_HZ};
pub use pic::{Pic, PicPort, PicState};
pub use pit::{Pit, PitIrq, PitState, PIT_HZ};
pub use rtc::{Rtc, RtcState};
pub use uart::{Uart, UartError, UartState};
