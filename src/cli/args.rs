//! Options shared by `run` and `record`: the kernel and its boot options, and the
//! machine.

use crate::host::SerialBackend;
use crate::loader::BootModule;
use crate::machine::{BootOptions, MachineConfig};
use clap::ValueEnum;
use reprise_jit::Tier;
use reprise_replay::clock::SleepPolicy;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    /// Interpreter only.
    Interp,
    /// Interpreter for cold code, Cranelift for hot blocks.
    Tiered,
}

impl TierArg {
    pub fn tier(self) -> Tier {
        match self {
            TierArg::Interp => Tier::Interpreter,
            TierArg::Tiered => Tier::Tiered,
        }
    }
}

/// The kernel and what it is given.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KernelArgs {
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
}

impl KernelArgs {
    /// The module files named by --initrd and --module, in load order, with their
    /// optional command-line arguments.
    pub fn module_specs(&self) -> Vec<(String, Option<String>)> {
        let mut specs = Vec::new();
        if let Some(p) = &self.initrd {
            specs.push((p.display().to_string(), None));
        }
        for m in &self.module {
            match m.split_once(',') {
                Some((file, cmd)) => specs.push((file.to_string(), Some(cmd.to_string()))),
                None => specs.push((m.clone(), None)),
            }
        }
        specs
    }
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
    /// Virtual time: 2^N nanoseconds per instruction (0..=10), or `auto` to adapt N so
    /// virtual time keeps pace with real time (as QEMU's -icount shift=auto; starts at 3).
    #[arg(long, value_name = "N|auto", default_value = "0", value_parser = parse_shift)]
    pub icount_shift: ShiftArg,
    /// Idle time: `off` jumps the virtual clock to the next timer deadline when the
    /// guest halts; `on` lets that much real time pass (waking early for input), as
    /// QEMU's -icount sleep=on.
    #[arg(long, value_name = "on|off", default_value = "off", value_parser = parse_on_off,
          action = clap::ArgAction::Set)]
    pub icount_sleep: bool,
    /// COM1's host side: stdio, null, file:PATH, unix:PATH or tcp:HOST:PORT.
    #[arg(long, value_name = "BACKEND", default_value = "stdio")]
    pub serial: SerialBackend,
    /// `stdio` without reading stdin (the demo, which takes no input).
    #[arg(skip)]
    pub no_stdin: bool,
    /// Compile hot blocks on a background thread (on) or on the spot (off). Guest
    /// behaviour is the same either way; only timing and the compile statistics differ.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off,
          action = clap::ArgAction::Set)]
    pub jit_thread: bool,
    /// A virtio-blk disk on a raw image file: file=PATH[,format=raw][,readonly=on].
    /// Repeatable, up to 4 drives (0 at 0xd0000000 pin 16; 1-3 at 0xd0000600,
    /// 0xd0000800, 0xd0000a00 sharing pin 19). `run` writes the guest's writes through
    /// to the file; `record` and `replay` never modify it (writes stay in memory).
    #[arg(long, value_name = "file=PATH[,format=raw][,readonly=on]")]
    pub drive: Vec<crate::host::DriveSpec>,
    /// A virtio-rng device (its bytes come from the host and are recorded).
    #[arg(long, value_name = "on|off", default_value = "off", value_parser = parse_on_off,
          action = clap::ArgAction::Set)]
    pub rng: bool,
    /// An AC'97 sound card on PCI: ac97[,out=wav:PATH|null][,in=wav:PATH|silence]
    /// (default out=null, in=silence). Output timing and input are recorded; replay
    /// needs neither file.
    #[arg(long, value_name = "ac97[,out=wav:PATH|null][,in=wav:PATH|silence]")]
    pub audio: Option<crate::host::AudioSpec>,
    /// Key strokes for the PS/2 keyboard: the text read from unix:PATH, tcp:HOST:PORT
    /// or file:PATH is typed (a press and a release per character, Shift for capitals
    /// and symbols; `\{F1}`, `\{Up}` … for named keys). Recorded; replay does not
    /// open it.
    #[arg(long, value_name = "unix:PATH|tcp:HOST:PORT|file:PATH")]
    pub keyboard: Option<crate::host::KeyboardSource>,
    /// Stop (status 12) when the guest asks for a reset, instead of resetting the
    /// machine and booting the kernel again (as QEMU's -no-reboot).
    #[arg(long)]
    pub no_reboot: bool,
    /// A virtio-net card and its host backend: udp,local=ADDR:PORT,remote=ADDR:PORT
    /// (one frame per datagram), user[,hostfwd=tcp::HOSTPORT-:GUESTPORT] (libslirp; the
    /// host's loopback is 10.0.2.2) or tap,ifname=NAME.
    #[arg(long, value_name = "udp,...|user[,...]|tap,ifname=NAME")]
    pub netdev: Option<crate::host::NetdevSpec>,
    /// Write every frame virtio-net sends and receives to FILE (pcap, virtual-clock
    /// timestamps).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// `--icount-shift`: a fixed shift or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftArg {
    Fixed(u32),
    Auto,
}

impl ShiftArg {
    /// The shift to start with.
    pub fn initial(self) -> u32 {
        match self {
            ShiftArg::Fixed(n) => n,
            ShiftArg::Auto => AUTO_INITIAL_SHIFT,
        }
    }
}

/// Where `--icount-shift auto` starts (QEMU starts shift=auto at 3 as well).
pub const AUTO_INITIAL_SHIFT: u32 = 3;

fn parse_shift(s: &str) -> Result<ShiftArg, String> {
    if s == "auto" {
        return Ok(ShiftArg::Auto);
    }
    match s.parse::<u32>() {
        Ok(n) if n <= 10 => Ok(ShiftArg::Fixed(n)),
        _ => Err(format!("expected a shift 0..=10 or `auto`, got `{s}`")),
    }
}

pub(crate) fn parse_on_off(s: &str) -> Result<bool, String> {
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
            icount_shift: ShiftArg::Fixed(0),
            icount_sleep: false,
            serial: SerialBackend::Stdio,
            no_stdin: false,
            jit_thread: true,
            drive: Vec::new(),
            rng: false,
            audio: None,
            keyboard: None,
            no_reboot: false,
            netdev: None,
            pcap: None,
        }
    }
}

impl MachineArgs {
    pub fn config(&self, boot: BootOptions) -> MachineConfig {
        MachineConfig {
            memory_mib: self.memory,
            tier: self.tier.tier(),
            icount_shift: self.icount_shift.initial(),
            shift_auto: self.icount_shift == ShiftArg::Auto,
            hot_threshold: None,
            background_compile: self.jit_thread,
            boot,
            sleep: if self.icount_sleep {
                SleepPolicy::On
            } else {
                SleepPolicy::Off
            },
            ac97: self.audio.is_some(),
            no_reboot: self.no_reboot,
            ..MachineConfig::default()
        }
    }
}

/// The Multiboot command line and modules from the kernel options, read from their
/// files. A Multiboot kernel's command line is "KERNEL-PATH APPEND", as QEMU and GRUB
/// pass it; an ELF64 kernel booted directly takes none of the options. Module paths
/// are resolved against `dir` (the working directory of the run that is recorded).
pub fn boot_options(
    args: &KernelArgs,
    kernel: &[u8],
    dir: Option<&std::path::Path>,
) -> Result<BootOptions, String> {
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
    for (file, cmd) in args.module_specs() {
        if file.is_empty() {
            return Err("--module needs a file name: --module FILE[,ARGS]".to_string());
        }
        let path = match dir {
            Some(d) => d.join(&file),
            None => PathBuf::from(&file),
        };
        let data = std::fs::read(&path)
            .map_err(|e| format!("cannot read module {}: {e}", path.display()))?;
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
