//! The command line: `reprise run --kernel FILE …`, and `reprise` alone for the demo.

use crate::loader::BootModule;
use crate::machine::{status, BootOptions, Console, Machine, MachineConfig, Outcome};
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
    /// Boot a static ELF64 x86-64 executable or a Multiboot (v1) kernel (see docs/boot.md).
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
    /// The kernel: a static ELF64 x86-64 executable linked at or above 0x80000, or a
    /// Multiboot (v1) kernel (ELF32, or any file with the header's address fields).
    #[arg(long, value_name = "FILE")]
    pub kernel: PathBuf,
    /// Multiboot: the kernel command line (given as "KERNEL-PATH STR", as QEMU does).
    #[arg(long, value_name = "STR")]
    pub append: Option<String>,
    /// Multiboot: a module; its command line is the file name (as QEMU's -initrd).
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<PathBuf>,
    /// Multiboot: a module with an optional command line ("FILE ARGS" is passed, as
    /// QEMU's -initrd does). Repeatable; modules load in the order given, after --initrd.
    #[arg(long, value_name = "FILE[,ARGS]")]
    pub module: Vec<String>,
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
    /// Filled from `run`'s --append/--initrd/--module (not a flag of its own).
    #[arg(skip)]
    pub boot: BootOptions,
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
            boot: BootOptions::default(),
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
            boot: self.boot.clone(),
            ..MachineConfig::default()
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
            Ok(kernel) => match boot_options(&args, &kernel) {
                Ok(opts) => {
                    let mut machine = args.machine.clone();
                    machine.boot = opts;
                    boot(&kernel, &machine)
                }
                Err(e) => {
                    eprintln!("reprise: {e}");
                    status::CONFIG
                }
            },
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

/// The Multiboot command line and modules from `run`'s options, read from their files.
/// A Multiboot kernel's command line is "KERNEL-PATH APPEND", as QEMU and GRUB pass
/// it; an ELF64 kernel booted directly takes none of the options.
pub fn boot_options(args: &RunArgs, kernel: &[u8]) -> Result<BootOptions, String> {
    let mut opts = BootOptions::default();
    let given = args.append.is_some() || args.initrd.is_some() || !args.module.is_empty();
    match crate::loader::detect(kernel) {
        Ok(crate::loader::KernelFormat::Multiboot) => {}
        // The machine reports a kernel it cannot boot.
        Err(_) => return Ok(opts),
        Ok(crate::loader::KernelFormat::Elf64) if !given => return Ok(opts),
        Ok(crate::loader::KernelFormat::Elf64) => {
            return Err(format!(
                "{} is an ELF64 executable, booted directly in 64-bit mode, which takes no \
                 --append, --initrd or --module; those are for Multiboot kernels",
                args.kernel.display()
            ))
        }
    }
    let mut specs: Vec<(String, Option<String>)> = Vec::new();
    if let Some(p) = &args.initrd {
        specs.push((p.display().to_string(), None));
    }
    for m in &args.module {
        match m.split_once(',') {
            Some((file, cmd)) => specs.push((file.to_string(), Some(cmd.to_string()))),
            None => specs.push((m.clone(), None)),
        }
    }
    for (file, cmd) in specs {
        if file.is_empty() {
            return Err("--module needs a file name: --module FILE[,ARGS]".to_string());
        }
        let data = std::fs::read(&file).map_err(|e| format!("cannot read module {file}: {e}"))?;
        let cmdline = match cmd {
            Some(c) if !c.is_empty() => format!("{file} {c}"),
            _ => file,
        };
        opts.modules.push(BootModule { data, cmdline });
    }
    opts.cmdline = format!(
        "{} {}",
        args.kernel.display(),
        args.append.as_deref().unwrap_or("")
    );
    Ok(opts)
}
