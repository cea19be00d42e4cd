//! The first runnable machine: guest RAM, one vCPU and a port bus with COM1 and the
//! debug-exit port. [`Machine::run`] calls the CPU in slices of instructions and turns
//! why it stopped into an [`Outcome`] with a message and a process exit status.

use crate::layout::{self, PortDevice};
use crate::loader::{self, ElfError};
use reprise_devices::{DebugExit, Uart};
use reprise_jit::{boot, Bus, BusAction, Cpu, CpuConfig, CpuState, Fault, GuestRam, RunExit, Tier};
use std::io::Write;
use std::time::{Duration, Instant};

/// Process exit statuses of the machine itself. They are even, so they can never be
/// mistaken for a debug-exit status, which is always odd.
pub mod status {
    /// Bad command line, or a kernel or configuration reprise cannot start.
    pub const CONFIG: i32 = 2;
    /// The guest halted and nothing can wake it.
    pub const HALTED: i32 = 4;
    /// An exception could not be delivered (triple fault).
    pub const TRIPLE_FAULT: i32 = 6;
    /// The guest jumped to an address that is not RAM.
    pub const EXEC_OUTSIDE_RAM: i32 = 8;
}

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
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            memory_mib: layout::DEFAULT_MEMORY_MIB,
            tier: Tier::Tiered,
            icount_shift: 0,
            hot_threshold: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error(transparent)]
    Ram(#[from] reprise_jit::ram::RamError),
    #[error("cannot load kernel: {0}")]
    Kernel(#[from] ElfError),
    #[error("cannot start the Cranelift tier: {0} (try --tier interp)")]
    Jit(String),
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest wrote `value` to the debug-exit port.
    DebugExit {
        value: u32,
        status: u64,
    },
    /// The instruction limit was reached.
    IcountLimit {
        icount: u64,
    },
    /// HLT; `interrupts_enabled` false means nothing can ever wake the CPU, true means
    /// it waits for an interrupt no device can raise yet.
    Halted {
        rip: u64,
        interrupts_enabled: bool,
    },
    TripleFault {
        fault: Fault,
        rip: u64,
        cr2: u64,
    },
    ExecOutsideRam {
        rip: u64,
    },
}

impl Outcome {
    /// The process exit status for this outcome.
    pub fn exit_status(&self) -> i32 {
        match *self {
            // As QEMU: the whole (v << 1) | 1 goes to exit(); the host keeps the low byte.
            Outcome::DebugExit { status, .. } => status as i32,
            Outcome::IcountLimit { .. } => 0,
            Outcome::Halted { .. } => status::HALTED,
            Outcome::TripleFault { .. } => status::TRIPLE_FAULT,
            Outcome::ExecOutsideRam { .. } => status::EXEC_OUTSIDE_RAM,
        }
    }

    /// A one-line explanation for the user (stderr).
    pub fn message(&self) -> String {
        match *self {
            Outcome::DebugExit { value, status } => format!(
                "guest wrote {value:#x} to the debug-exit port {:#x}: exit status {}",
                layout::DEBUG_EXIT_PORT,
                status as i32 & 0xff
            ),
            Outcome::IcountLimit { icount } => {
                format!("stopped after {icount} instructions (--icount-limit)")
            }
            Outcome::Halted {
                rip,
                interrupts_enabled: false,
            } => format!(
                "guest halted with interrupts disabled at RIP {rip:#x} (after its HLT): nothing can wake it, stopping"
            ),
            Outcome::Halted {
                rip,
                interrupts_enabled: true,
            } => format!(
                "guest halted waiting for an interrupt at RIP {rip:#x} (after its HLT), but no device can raise one yet: stopping"
            ),
            Outcome::TripleFault { fault, rip, cr2 } => format!(
                "guest triple fault at RIP {rip:#x}: an exception could not be delivered, and delivering the double fault raised {fault} (no usable IDT or stack?); CR2 = {cr2:#x}"
            ),
            Outcome::ExecOutsideRam { rip } => format!(
                "guest jumped to {rip:#x}, which is not RAM (RAM ends at the --memory size): stopping"
            ),
        }
    }
}

/// A writer shared between the machine and whoever wants the serial output back
/// (tests, the demo's summary). Cheap to clone.
#[derive(Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn contents(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut g) => g.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Host stdout, written a line at a time: the UART flushes after every byte, which
/// would cost a system call per character.
pub struct Console {
    buf: Vec<u8>,
    out: std::io::Stdout,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            buf: Vec::with_capacity(4096),
            out: std::io::stdout(),
        }
    }
}

impl Write for Console {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.contains(&b'\n') || self.buf.len() >= 4096 {
            self.flush_now()?;
        }
        Ok(())
    }
}

impl Console {
    fn flush_now(&mut self) -> std::io::Result<()> {
        let mut lock = self.out.lock();
        let r = lock.write_all(&self.buf).and_then(|_| lock.flush());
        self.buf.clear();
        r
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.flush_now();
    }
}

/// The port bus: decodes ports through `layout` and forwards offsets to devices.
struct PortBus {
    com1: Uart<Box<dyn Write + Send>>,
    debug_exit: DebugExit,
    /// Set by a debug-exit write: (value, status).
    exit: Option<(u32, u64)>,
}

impl Bus for PortBus {
    fn port_in(&mut self, port: u16, size: u8, _icount: u64) -> u32 {
        match layout::port_device(port) {
            Some((PortDevice::DebugExit, off)) => self.debug_exit.read(off, size),
            Some((PortDevice::Com1, _)) => {
                // Wider accesses read consecutive byte registers, as on the ISA bus.
                let mut v = 0u32;
                for k in 0..size.min(4) as u16 {
                    let b = match layout::port_device(port.wrapping_add(k)) {
                        Some((PortDevice::Com1, off)) => self.com1.read(off as u8),
                        _ => 0xff,
                    };
                    v |= (b as u32) << (8 * k);
                }
                v
            }
            None => (reprise_jit::flags::size_mask(size) & 0xffff_ffff) as u32,
        }
    }

    fn port_out(&mut self, port: u16, size: u8, value: u32, _icount: u64) -> BusAction {
        match layout::port_device(port) {
            Some((PortDevice::DebugExit, off)) => {
                let status = self.debug_exit.write(off, size, value);
                let v = ((status >> 1) & 0xffff_ffff) as u32;
                self.exit = Some((v, status));
                BusAction::Stop
            }
            Some((PortDevice::Com1, _)) => {
                for k in 0..size.min(4) as u16 {
                    if let Some((PortDevice::Com1, off)) = layout::port_device(port.wrapping_add(k))
                    {
                        // A host output error loses the byte; the guest cannot tell.
                        let _ = self.com1.write(off as u8, (value >> (8 * k)) as u8);
                    }
                }
                BusAction::Continue
            }
            None => BusAction::Continue,
        }
    }

    fn mmio_read(&mut self, _addr: u64, size: u8, _icount: u64) -> u64 {
        reprise_jit::flags::size_mask(size)
    }

    fn mmio_write(&mut self, _: u64, _: u8, _: u64, _: u64) -> BusAction {
        BusAction::Continue
    }
}

/// Counters for the summary line.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub instructions: u64,
    pub wall: Duration,
    pub blocks_interpreted: u64,
    pub blocks_compiled: u64,
    pub compile_time: Duration,
    pub digest: u64,
}

impl RunStats {
    /// The one summary line printed on stderr at exit.
    pub fn summary_line(&self) -> String {
        let secs = self.wall.as_secs_f64();
        let mips = if secs > 0.0 {
            self.instructions as f64 / secs / 1e6
        } else {
            0.0
        };
        let share = if secs > 0.0 {
            100.0 * self.compile_time.as_secs_f64() / secs
        } else {
            0.0
        };
        format!(
            "reprise: {} instructions in {:.3} s ({:.1} MIPS); blocks: {} interpreted, {} compiled; compile time {:.3} s ({:.1}% of wall); digest {:016x}",
            self.instructions,
            secs,
            mips,
            self.blocks_interpreted,
            self.blocks_compiled,
            self.compile_time.as_secs_f64(),
            share,
            self.digest
        )
    }
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
        let image = loader::load_elf(kernel, &mut ram)?;
        let mut state = CpuState::default();
        boot::enter_long_mode(&mut ram, &mut state, image.entry);
        let mut cpu_cfg = CpuConfig {
            tier: cfg.tier,
            ..CpuConfig::default()
        };
        if let Some(t) = cfg.hot_threshold {
            cpu_cfg.hot_threshold = t;
        }
        let mut cpu = Cpu::new(ram, cpu_cfg).map_err(|e| MachineError::Jit(e.to_string()))?;
        *cpu.state_mut() = state;
        cpu.set_icount_shift(cfg.icount_shift);
        Ok(Machine {
            cpu,
            bus: PortBus {
                com1: Uart::new(serial_out),
                debug_exit: DebugExit::new(),
                exit: None,
            },
            entry: image.entry,
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
                RunExit::TripleFault { fault, rip } => {
                    break Outcome::TripleFault {
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
