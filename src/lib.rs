//! reprise: a deterministic x86-64 machine emulator.
//!
//! This crate wires the CPU (`reprise-jit`) and the device models (`reprise-devices`)
//! into a machine: [`layout`] says where everything lives, [`loader`] boots an ELF64
//! kernel, [`machine`] runs it, [`cli`] is the command line.

pub mod cli;
pub mod host;
pub mod layout;
pub mod loader;
pub mod machine;

pub use machine::{Machine, MachineConfig, MachineError, Outcome, RunStats, SharedBuffer};

/// The demo guest bundled into the binary (`reprise` with no arguments runs it).
pub const DEMO_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guests/demo.elf"));
