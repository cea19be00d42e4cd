//! The machine: guest RAM, one vCPU, the board of devices, the iothread, and the
//! record/replay [`Mode`] every outside input passes through. [`Machine::run`] runs the
//! CPU from one stop to the next — timer deadlines, replay events, digests, snapshots —
//! and turns why it stopped into an [`Outcome`] with a message and an exit status.

pub mod audio;
mod board;
mod boot;
mod console;
pub mod net;
mod outcome;
pub mod pci;
mod reset;
mod run;
mod snapshot;
pub mod virtio;

pub use board::BoardState;
pub use boot::{BootEntry, BootOptions};
pub use console::{Console, SharedBuffer};
pub use outcome::{status, Outcome, RunStats};

use crate::host::{HostInput, IoThread};
use crate::layout;
use crate::loader::KernelError;
use board::Board;
use reprise_devices::Rtc;
use reprise_jit::{Cpu, CpuConfig, GuestRam, Tier};
use reprise_replay::clock::{AutoShift, ClockConfig, IcountShift, SleepPolicy, AUTO_PERIOD_NS};
use reprise_replay::{FinishReport, Mode, PassThrough, ReplayError, Snapshot, SyncKind};
use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub memory_mib: u64,
    pub tier: Tier,
    /// Virtual nanoseconds per instruction is `1 << icount_shift` (the starting value
    /// when `shift_auto`).
    pub icount_shift: u32,
    /// Adapt the shift as the run goes so virtual time keeps pace with real time
    /// (QEMU's `-icount shift=auto`); every adjustment is driven by a recorded
    /// real-time reading, so replay adjusts identically.
    pub shift_auto: bool,
    /// Executions after which a block is compiled (tiered only); `None`: the CPU default.
    pub hot_threshold: Option<u32>,
    /// Compile on a background thread (tiered only).
    pub background_compile: bool,
    /// Multiboot command line and modules.
    pub boot: BootOptions,
    /// What idle time costs: `Off` warps the virtual clock straight to the next timer
    /// deadline when the guest halts; `On` lets that much host time pass (waking early
    /// for host input), as QEMU's `-icount sleep=on`.
    pub sleep: SleepPolicy,
    /// Instructions between two state digests (record logs them, replay compares).
    pub digest_interval: u64,
    /// Instructions between two snapshots while recording (`None`: only the first).
    pub snapshot_interval: Option<u64>,
    /// The virtio-mmio devices present.
    pub virtio: virtio::VirtioConfig,
    /// An AC'97 sound card on PCI (its host backends are attached with
    /// [`Machine::attach_audio`]).
    pub ac97: bool,
    /// A reset requested by the guest stops the machine (status 12) instead of
    /// rebooting it (QEMU's `-no-reboot`).
    pub no_reboot: bool,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            memory_mib: layout::DEFAULT_MEMORY_MIB,
            tier: Tier::Tiered,
            icount_shift: 0,
            shift_auto: false,
            hot_threshold: None,
            background_compile: false,
            boot: BootOptions::default(),
            sleep: SleepPolicy::Off,
            digest_interval: DEFAULT_DIGEST_INTERVAL,
            snapshot_interval: None,
            virtio: virtio::VirtioConfig::default(),
            ac97: false,
            no_reboot: false,
        }
    }
}

/// Default instructions between state digests.
pub const DEFAULT_DIGEST_INTERVAL: u64 = 20_000_000;

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
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("cannot restore snapshot: {0}")]
    Restore(String),
    #[error("{0}")]
    Devices(String),
}

/// Where the machine's outside world comes from.
pub struct Host {
    /// The record/replay layer.
    pub mode: Box<dyn Mode + Send>,
    /// The iothread (built with `mode.io_side()`).
    pub io: IoThread,
    /// Start from this snapshot instead of from the kernel's entry (replay --seek).
    /// virtio-blk requests go to the iothread's disk worker (`IoThread::add_disk`;
    /// none in replay, where completions come from the log).
    pub restore: Option<Snapshot>,
}

impl Host {
    /// No recording, no replay, no host input.
    pub fn pass_through() -> Host {
        Host {
            mode: Box::new(PassThrough),
            io: IoThread::none(),
            restore: None,
        }
    }
}

pub struct Machine {
    cpu: Cpu,
    board: Board,
    io: IoThread,
    /// Host input taken from the iothread, waiting for the next checkpoint.
    host_queue: VecDeque<HostInput>,
    entry: u64,
    wall: Duration,
    sleep: SleepPolicy,
    digest_interval: u64,
    snapshot_interval: Option<u64>,
    next_digest: u64,
    next_snapshot: u64,
    started: bool,
    last_flush: Instant,
    /// `shift=auto`: the adaptation state and the virtual time of its next look.
    auto_shift: Option<AutoShift>,
    next_auto_ns: u64,
    /// When this machine started (the real-time clock `shift=auto` compares with).
    t_start: Instant,
    /// Called with the instruction count now and then (a progress bar).
    progress: Option<Box<dyn FnMut(u64) + Send>>,
    last_progress: Instant,
    /// How the last run's end compared with the recording.
    finish_report: Option<FinishReport>,
    /// Set (by a Ctrl-C handler) to stop at the next stop of the vCPU loop.
    quit: Option<&'static std::sync::atomic::AtomicBool>,
    /// The kernel and boot options as loaded at start, for a reset to boot again.
    kernel: Vec<u8>,
    boot_opts: BootOptions,
    /// Stop on a guest reset instead of rebooting.
    no_reboot: bool,
    /// Resets so far.
    resets: u64,
}

impl Machine {
    /// Builds a machine with `kernel` (ELF64 or Multiboot) loaded and the CPU at its
    /// entry point, with no recording or replay. COM1 output goes to `serial_out`.
    pub fn new(
        cfg: &MachineConfig,
        kernel: &[u8],
        serial_out: Box<dyn Write + Send>,
    ) -> Result<Machine, MachineError> {
        Machine::with_host(cfg, kernel, serial_out, Host::pass_through())
    }

    /// Builds a machine whose outside inputs go through `host.mode`.
    pub fn with_host(
        cfg: &MachineConfig,
        kernel: &[u8],
        serial_out: Box<dyn Write + Send>,
        host: Host,
    ) -> Result<Machine, MachineError> {
        let Host {
            mut mode,
            io,
            restore,
        } = host;
        let disk = io.disk_clients();
        let net_client = io.net_client();
        let any_virtio = cfg.virtio.any() || cfg.ac97;
        if any_virtio {
            layout::check_ram(cfg.memory_mib).map_err(MachineError::Devices)?;
        }
        let mut ram = GuestRam::new(cfg.memory_mib)?;
        let mem = if any_virtio {
            let len = usize::try_from(ram.len())
                .map_err(|_| MachineError::Devices("guest RAM too large".into()))?;
            // SAFETY: the pointer and length describe the RAM mapping, which moves into
            // the CPU below and stays mapped (at the same address) for the machine's
            // life; the devices holding the memory belong to the same machine and only
            // touch it on the vCPU thread, between guest instructions.
            Some(
                unsafe { virtio::guest_memory(ram.base_ptr(), len) }
                    .map_err(MachineError::Devices)?,
            )
        } else {
            None
        };
        let mut pci = pci::chipset();
        audio::add_ac97(&mut pci, cfg.ac97, mem.as_ref()).map_err(MachineError::Devices)?;
        let mut devs =
            virtio::Virtio::new(cfg.virtio.clone(), mem, disk).map_err(MachineError::Devices)?;
        devs.net_host.client = net_client;
        // Functions are added here (`pci.add_function(slot, Box::new(..))`), before
        // the firmware assigns their BARs.
        pci::firmware(&mut pci, cfg.memory_mib).map_err(MachineError::Devices)?;
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
        // The RTC starts from the host's time of day: an outside input, read once.
        let rtc = if restore.is_some() {
            Rtc::new(0, 0)
        } else {
            let ns = mode.clock(0, SyncKind::HostClock, &mut host_unix_ns)?;
            Rtc::new((ns / 1_000_000_000) as i64, 0)
        };
        let mut m = Machine {
            cpu,
            board: Board::new(serial_out, rtc, mode, devs, pci),
            io,
            host_queue: VecDeque::new(),
            entry: boot.entry(),
            wall: Duration::ZERO,
            sleep: cfg.sleep,
            digest_interval: cfg.digest_interval.max(1),
            snapshot_interval: cfg.snapshot_interval.filter(|&n| n > 0),
            next_digest: 0,
            next_snapshot: 0,
            started: false,
            last_flush: Instant::now(),
            auto_shift: cfg.shift_auto.then(|| {
                AutoShift::new(&ClockConfig {
                    shift: IcountShift::Auto {
                        initial: cfg.icount_shift as u8,
                    },
                    sleep: cfg.sleep,
                })
            }),
            next_auto_ns: AUTO_PERIOD_NS,
            t_start: Instant::now(),
            progress: None,
            last_progress: Instant::now(),
            finish_report: None,
            quit: None,
            kernel: kernel.to_vec(),
            boot_opts: cfg.boot.clone(),
            no_reboot: cfg.no_reboot,
            resets: 0,
        };
        if let Some(s) = restore {
            m.restore(&s)?;
        }
        m.schedule_from(m.icount());
        Ok(m)
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
    /// Digest of registers and RAM.
    pub fn digest(&self) -> u64 {
        self.cpu.digest()
    }
    /// The virtual clock in nanoseconds.
    pub fn virtual_ns(&self) -> u64 {
        self.cpu.virtual_ns()
    }

    /// Calls `f` with the instruction count every tenth of a second or so while running.
    pub fn set_progress(&mut self, f: Box<dyn FnMut(u64) + Send>) {
        self.progress = Some(f);
    }

    /// Stops the run cleanly at the next stop of the vCPU loop once `flag` is set
    /// (the CLI's Ctrl-C handler): a recording ends with a host-quit shutdown record.
    pub fn set_quit_flag(&mut self, flag: &'static std::sync::atomic::AtomicBool) {
        self.quit = Some(flag);
    }

    /// Record/replay: how the end of the last [`Machine::run`] compared with the
    /// recording.
    pub fn finish_report(&self) -> Option<&FinishReport> {
        self.finish_report.as_ref()
    }

    /// Pushes buffered serial output to its writer's destination.
    pub fn flush_serial(&mut self) {
        let _ = self.board.com1.writer_mut().flush();
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

/// The host's time of day in nanoseconds since the Unix epoch.
fn host_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
