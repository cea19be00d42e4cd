//! reprise's host-CPU oracle: random instances of user-level x86-64 instructions run
//! natively on the host and in each tier of reprise, compared register by register,
//! flag by flag (flags iced-x86 calls undefined excepted), byte by byte.
//!
//! * [`forms`]: which instruction forms are drawn (from iced-x86's `Code` table).
//! * [`gen`]: random operands and machine state for one form.
//! * [`native`]: runs a case on the host CPU (fixed mapping, signal-safe).
//! * [`guest`]: runs a case in reprise (interpreter or tiered).
//! * [`compare`]: verdicts and mismatch reports.
//! * [`run`]: the driver used by the binary and the tests.
//!
//! See docs/oracle.md.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("the oracle runs instructions natively: it needs an x86-64 Linux host");

pub mod compare;
pub mod forms;
pub mod gen;
pub mod guest;
pub mod layout;
pub mod native;
pub mod rng;
pub mod run;
pub mod state;
