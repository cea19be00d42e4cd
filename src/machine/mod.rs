//! The first runnable machine: guest RAM, one vCPU and a port bus with COM1 and the
//! debug-exit port. [`Machine::run`] calls the CPU in slices of instructions and turns
//! why it stopped into an [`Outcome`] with a message and a process exit status.

mod boot;
mod bus;
mod console;
mod outcome;

pub use boot::{BootEntry, BootOptions};
pub use console::{Console, SharedBuffer};
pub use outcome::{status, Outcome, RunStats};

use crate::layout;
use crate::loader::KernelError;
use bus::PortBus;
use reprise_devices::{DebugExit, Uart};
use reprise_jit::{Cpu, CpuConfig, GuestRam, RunExit, Tier};
use std::io::Write;
use std::time::{Duration, Instant};

/// Instructions per call to `Cpu::run` (the granularity at which the machine looks
/// around between guest instructions; later: timers and checkpoints).
const SLICE: u64 = 50_000_000;

#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub memory_mib: u64,
    pub tier: Tier,
    /// Virtual nanoseconds per instruction is `1 << icount_shift`.
    pub icount_shift: u32,
    /// Executions after which a block is compiled (tiered only); `None`: the CPU default.
    pub hot_threshold: Option<u32>,
    /// Compile on a background thread (tiered only).
    pub background_compile: bool,
    /// Multiboot command line and modules.
    pub boot: BootOptions,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            memory_mib: layout::DEFAULT_MEMORY_MIB,
            tier: Tier::Tiered,
            icount_shift: 0,
            hot_threshold: None,
            background_compile: false,
            boot: BootOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error(transparent)]
    Ram(#[from] reprise_jit::ram::RamError),
    #[error("cannot load kernel: {0}")]
    Kernel(#[from] KernelError),
    #[error("{0}")]
    BootOptions(String),
    #[error("cannot start the Cranelift tier: {0} (try --tier interp)")]
    Jit(String),
}

pub struct Machine {
    cpu: Cpu,
    bus: PortBus,
    entry: u64,
    wall: Duration,
}

impl Machine {
    /// Builds a machine with `kernel` (an ELF64 executable) loaded and the CPU at its
    /// entry point in 64-bit mode. COM1 output goes to `serial_out`.
    pub fn new(
        cfg: &MachineConfig,
        kernel: &[u8],
        serial_out: Box<dyn Write + Send>,
    ) -> Result<Machine, MachineError> {
        let mut ram = GuestRam::new(cfg.memory_mib)?;
        let boot = boot::load_kernel(kernel, &cfg.boot, &mut ram)?;
        let mut cpu_cfg = CpuConfig {
            tier: cfg.tier,
            background_compile: cfg.background_compile,
            ..CpuConfig::default()
        };
        if let Some(t) = cfg.hot_threshold {
            cpu_cfg.hot_threshold = t;
        }
        let mut cpu = Cpu::new(ram, cpu_cfg).map_err(|e| MachineError::Jit(e.to_string()))?;
        boot.enter(&mut cpu);
        cpu.set_icount_shift(cfg.icount_shift);
        Ok(Machine {
            cpu,
            bus: PortBus {
                com1: Uart::new(serial_out),
                debug_exit: DebugExit::new(),
                exit: None,
            },
            entry: boot.entry(),
            wall: Duration::ZERO,
        })
    }

    pub fn entry(&self) -> u64 {
        self.entry
    }
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }
    pub fn icount(&self) -> u64 {
        self.cpu.state().icount
    }
    pub fn digest(&self) -> u64 {
        self.cpu.digest()
    }

    /// Runs until the guest stops the machine, or until `icount_limit` instructions
    /// have retired in total (exactly that many).
    pub fn run(&mut self, icount_limit: Option<u64>) -> Outcome {
        let t0 = Instant::now();
        let limit = icount_limit.unwrap_or(u64::MAX);
        let outcome = loop {
            let slice_end = self.icount().saturating_add(SLICE).min(limit);
            match self.cpu.run(&mut self.bus, slice_end) {
                RunExit::IcountLimit => {
                    if self.icount() >= limit {
                        break Outcome::IcountLimit {
                            icount: self.icount(),
                        };
                    }
                }
                RunExit::BusStop => {
                    if let Some((value, status)) = self.bus.exit.take() {
                        break Outcome::DebugExit { value, status };
                    }
                }
                RunExit::Halted { interrupts_enabled } => {
                    break Outcome::Halted {
                        rip: self.cpu.state().rip,
                        interrupts_enabled,
                    }
                }
                RunExit::TripleFault {
                    original,
                    fault,
                    rip,
                } => {
                    break Outcome::TripleFault {
                        original,
                        fault,
                        rip,
                        cr2: self.cpu.state().cr2,
                    }
                }
                RunExit::ExecNotRam { rip } => break Outcome::ExecOutsideRam { rip },
            }
        };
        self.wall += t0.elapsed();
        let _ = self.bus.com1.writer_mut().flush();
        outcome
    }

    /// Pushes buffered serial output to its writer's destination.
    pub fn flush_serial(&mut self) {
        let _ = self.bus.com1.writer_mut().flush();
    }

    pub fn stats(&self) -> RunStats {
        let s = self.cpu.stats();
        RunStats {
            instructions: self.icount(),
            wall: self.wall,
            blocks_interpreted: s.blocks_interpreted,
            blocks_compiled: s.blocks_compiled,
            compile_time: s.compile_time,
            digest: self.digest(),
        }
    }
}
