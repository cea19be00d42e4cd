//! How a run ends: the [`Outcome`], its message and the process exit status, and the
//! counters of the summary line.

use crate::layout;
use reprise_jit::Fault;
use std::time::Duration;

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
    /// Record or replay failed while running: a divergence, a damaged or truncated log,
    /// a log that could not be written as the run went (a log that cannot be created
    /// at all is a configuration error, status 2).
    pub const REPLAY: i32 = 10;
    /// The guest asked for a reset (keyboard controller reset line) and reprise was
    /// told not to reboot (`--no-reboot`), or the machine could not boot again.
    pub const RESET: i32 = 12;
    /// Stopped by the user (Ctrl-C), as shells report a SIGINT death.
    pub const QUIT: i32 = 130;
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// The exception an instruction raised first.
        original: Fault,
        /// The exception raised while delivering the double fault.
        fault: Fault,
        rip: u64,
        cr2: u64,
    },
    ExecOutsideRam {
        rip: u64,
    },
    /// The user stopped the run (Ctrl-C).
    HostQuit {
        icount: u64,
    },
    /// The guest pulsed the reset line (i8042 command 0xFE or its output port).
    ResetRequested {
        rip: u64,
    },
    /// The guest asked for a reset and the machine could not boot again.
    ResetFailed {
        message: String,
    },
    /// Replay reached the point where the recording stopped without the guest ending
    /// it (an instruction limit or the user quitting while recording).
    RecordingEnd {
        icount: u64,
    },
    /// Record or replay failed; the message says where and why.
    Replay {
        message: String,
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
            Outcome::RecordingEnd { .. } => 0,
            Outcome::ResetRequested { .. } | Outcome::ResetFailed { .. } => status::RESET,
            Outcome::HostQuit { .. } => status::QUIT,
            Outcome::Replay { .. } => status::REPLAY,
        }
    }

    /// A one-line explanation for the user (stderr).
    pub fn message(&self) -> String {
        match *self {
            Outcome::RecordingEnd { icount } => {
                format!("replayed to instruction {icount}, where the recording stopped")
            }
            Outcome::Replay { ref message } => message.clone(),
            Outcome::HostQuit { icount } => {
                format!("stopped by the user (Ctrl-C) at instruction {icount}")
            }
            Outcome::ResetRequested { rip } => format!(
                "guest requested a reset (keyboard controller 0xFE or PIIX reset control 0xcf9) (RIP {rip:#x}); reprise stops instead of rebooting (--no-reboot)"
            ),
            Outcome::ResetFailed { ref message } => format!(
                "guest requested a reset, and the machine could not boot again: {message}"
            ),
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
                "guest halted waiting for an interrupt at RIP {rip:#x} (after its HLT), but no timer is armed and no input can arrive: stopping"
            ),
            Outcome::TripleFault {
                original,
                fault,
                rip,
                cr2,
            } => format!(
                "guest triple fault at RIP {rip:#x}: {original} could not be delivered, and delivering the double fault raised {fault} (no usable IDT or stack?); CR2 = {cr2:#x}"
            ),
            Outcome::ExecOutsideRam { rip } => format!(
                "guest jumped to {rip:#x}, which is not RAM (RAM ends at the --memory size): stopping"
            ),
        }
    }
}

/// Counters for the summary line.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub instructions: u64,
    pub wall: Duration,
    pub blocks_interpreted: u64,
    pub blocks_compiled: u64,
    /// CPU time of the compiling thread (see reprise_jit's cl::cpu_clock).
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
