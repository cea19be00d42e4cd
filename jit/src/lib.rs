//! reprise's CPU: x86-64 state, decoding (iced-x86), instruction semantics written once
//! over an emitter interface, an interpreter tier and a Cranelift tier, the software
//! MMU/TLB and the helpers generated code calls.

// Helpers are `extern "C"` functions that generated code calls with the context
// pointer it was entered with; they dereference it by contract (see `helpers.rs`).
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// Link slots are boxed on purpose: generated code embeds their addresses, which must
// not move when the vector holding them grows.
#![allow(clippy::vec_box)]

pub mod boot;
pub mod bus;
pub mod cache;
pub mod cl;
pub mod cpu;
pub mod cpuid;
pub mod ctx;
pub mod digest;
pub mod emit;
pub mod exception;
pub mod flags;
pub mod helpers;
pub mod interp;
pub mod interrupts;
pub mod mmu;
pub mod msr;
pub mod ram;
pub mod segment;
pub mod sem;
pub mod state;

pub use bus::{Bus, BusAction, EmptyBus};
pub use cpu::{Cpu, CpuConfig, CpuStats, RunExit, Tier};
pub use exception::Fault;
pub use ram::GuestRam;
pub use state::CpuState;
