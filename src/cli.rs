//! The command line: `reprise run --kernel FILE …`, and `reprise` alone for the demo.

use crate::machine::{status, Console, Machine, MachineConfig, Outcome};
use clap::{Parser, Subcommand, ValueEnum};
use reprise_jit::Tier;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "reprise",
    version,
    about = "A deterministic x86-64 machine emulator",
    long_about = "A deterministic x86-64 machine emulator.\n\nWith no arguments, runs a bundled demo guest."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Boot a static ELF64 x86-64 executable (see docs/boot.md for the contract).
    Run(RunArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    /// Interpreter only.
    Interp,
    /// Interpreter for cold code, Cranelift for hot blocks.
    Tiered,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The kernel: a static ELF64 x86-64 executable linked at or above 0x80000.
    #[arg(long, value_name = "FILE")]
    pub kernel: PathBuf,
    #[command(flatten)]
    pub machine: MachineArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct MachineArgs {
    /// Guest RAM in MiB.
    #[arg(long, value_name = "MiB", default_value_t = crate::layout::DEFAULT_MEMORY_MIB)]
    pub memory: u64,
    /// Stop after exactly N instructions.
    #[arg(long, value_name = "N")]
    pub icount_limit: Option<u64>,
    /// Which CPU tiers run guest code.
    #[arg(long, value_enum, default_value_t = TierArg::Tiered)]
    pub tier: TierArg,
    /// Virtual time: 2^N nanoseconds per instruction (0..=10).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub icount_shift: u32,
    /// Compile hot blocks on a background thread (on) or on the spot (off). Guest
    /// behaviour is the same either way; only timing and the compile statistics differ.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off,
          action = clap::ArgAction::Set)]
    pub jit_thread: bool,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected `on` or `off`, got `{s}`")),
    }
}

impl Default for MachineArgs {
    fn default() -> Self {
        MachineArgs {
            memory: crate::layout::DEFAULT_MEMORY_MIB,
            icount_limit: None,
            tier: TierArg::Tiered,
            icount_shift: 0,
            jit_thread: true,
        }
    }
}

impl MachineArgs {
    pub fn config(&self) -> MachineConfig {
        MachineConfig {
            memory_mib: self.memory,
            tier: match self.tier {
                TierArg::Interp => Tier::Interpreter,
                TierArg::Tiered => Tier::Tiered,
            },
            icount_shift: self.icount_shift,
            hot_threshold: None,
            background_compile: self.jit_thread,
        }
    }
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        None => match boot(crate::DEMO_GUEST, &MachineArgs::default()) {
            // The demo ends through the debug-exit port with value 0, which QEMU's
            // convention reports as status 1; to `cargo run` that is success.
            1 => 0,
            s => s,
        },
        Some(Command::Run(args)) => match std::fs::read(&args.kernel) {
            Ok(kernel) => boot(&kernel, &args.machine),
            Err(e) => {
                eprintln!("reprise: cannot read kernel {}: {e}", args.kernel.display());
                status::CONFIG
            }
        },
    }
}

/// Boots `kernel`, runs it to the end and reports; returns the exit status.
pub fn boot(kernel: &[u8], args: &MachineArgs) -> i32 {
    let mut m = match Machine::new(&args.config(), kernel, Box::new(Console::default())) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("reprise: {e}");
            return status::CONFIG;
        }
    };
    let outcome = m.run(args.icount_limit);
    let stats = m.stats();
    // Dropping the machine flushes the console: the guest's output comes out before
    // our own lines.
    drop(m);
    if !matches!(outcome, Outcome::DebugExit { .. }) {
        eprintln!("reprise: {}", outcome.message());
    }
    eprintln!("{}", stats.summary_line());
    outcome.exit_status()
}
