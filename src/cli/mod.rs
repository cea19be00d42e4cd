//! The command line: `run`, `record`, `replay`, `log dump|stats`, and `reprise` alone
//! for the demo (which records the bundled guest, replays it and compares).

mod args;
mod demo;
mod logcmd;
mod session;

pub use args::{boot_options, KernelArgs, MachineArgs, ShiftArg, TierArg};
pub use session::{record_kernel, replay_log, run_kernel, RecordedRun, RunResult};

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "reprise",
    version,
    about = "A deterministic x86-64 machine emulator with record and replay",
    long_about = "A deterministic x86-64 machine emulator with record and replay.\n\nWith no arguments, records a bundled demo guest, replays it and shows that the two runs match."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Boot a static ELF64 x86-64 executable or a Multiboot (v1) kernel (see docs/boot.md).
    Run(RunArgs),
    /// Run like `run` and record every outside input into a log that `replay` replays.
    Record(RecordArgs),
    /// Replay a log written by `record`: the same run, bit for bit (needs only the log
    /// and the unchanged image files it names).
    Replay(ReplayArgs),
    /// Inspect a log.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub machine: MachineArgs,
}

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Where to write the log.
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// Take a snapshot every N instructions (besides the one at the start), so that
    /// `replay --seek` starts close to its target.
    #[arg(long, value_name = "N")]
    pub snapshot_interval: Option<u64>,
    /// Instructions between two state digests, which replay compares to find where a
    /// run diverges.
    #[arg(long, value_name = "N", default_value_t = crate::machine::DEFAULT_DIGEST_INTERVAL)]
    pub digest_interval: u64,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub machine: MachineArgs,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The log written by `reprise record`.
    #[arg(value_name = "FILE")]
    pub log: PathBuf,
    /// Start from the nearest snapshot at or before N and stop exactly at instruction N.
    #[arg(long, value_name = "ICOUNT")]
    pub seek: Option<u64>,
    /// Which CPU tiers run guest code (any tier replays any recording).
    #[arg(long, value_enum, default_value_t = TierArg::Tiered)]
    pub tier: TierArg,
    /// Compile hot blocks on a background thread (on) or on the spot (off).
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = args::parse_on_off,
          action = clap::ArgAction::Set)]
    pub jit_thread: bool,
    /// Show a progress bar (default: when stderr is a terminal).
    #[arg(long, value_name = "on|off", value_parser = args::parse_on_off)]
    pub progress: Option<bool>,
    /// Re-render the recorded run's AC'97 output into this WAV file (the frames the
    /// log says the output accepted).
    #[arg(long, value_name = "PATH")]
    pub audio_out: Option<PathBuf>,
    /// Write the replayed network traffic to FILE (pcap; the same file every replay).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Print every record of a log, one per line.
    Dump {
        #[arg(value_name = "FILE")]
        log: PathBuf,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Events and bytes per kind, instructions, virtual duration, compression ratio.
    Stats {
        #[arg(value_name = "FILE")]
        log: PathBuf,
    },
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    session::HANDLE_CTRL_C.store(true, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        None => demo::run(),
        Some(Command::Run(a)) => session::run(&a.kernel, &a.machine),
        Some(Command::Record(a)) => session::record(&a),
        Some(Command::Replay(a)) => session::replay(&a),
        Some(Command::Log(LogCommand::Dump { log, json })) => logcmd::dump(&log, json),
        Some(Command::Log(LogCommand::Stats { log })) => logcmd::stats(&log),
    }
}
