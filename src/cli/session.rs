//! `run`, `record` and `replay`: building the machine with the right host side (pass
//! through, recorder or player), running it, and reporting.

use super::args::{boot_options, KernelArgs, MachineArgs, TierArg};
use super::{RecordArgs, ReplayArgs};
use crate::host::disk::{image_sectors, Disk};
use crate::host::{DriveSpec, IoThread, WritePolicy};
use crate::machine::virtio::VirtioConfig;
use crate::machine::{status, Console, Host, Machine, MachineConfig, Outcome, RunStats};
use reprise_devices::virtio::BlkConfig;
use reprise_replay::clock::{ClockConfig, IcountShift, SleepPolicy};
use reprise_replay::{FinishReport, ImageRecord, LogHeader, Mode, PassThrough, Player, Recorder};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a log records about the run, so that `replay` needs nothing but the log: the
/// options that change what the guest sees (the host-side ones — tier, serial
/// backend — are free to differ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRun {
    /// The working directory of the recording (relative paths are resolved in it).
    pub cwd: PathBuf,
    pub kernel: PathBuf,
    pub append: Option<String>,
    pub initrd: Option<PathBuf>,
    pub module: Vec<String>,
    pub memory_mib: u64,
    pub icount_shift: u32,
    pub shift_auto: bool,
    pub sleep: bool,
    pub digest_interval: u64,
    pub snapshot_interval: Option<u64>,
    /// `--drive`s in order (their images are among the log's images, by hash).
    pub drive: Vec<DriveSpec>,
    /// `--rng on`.
    pub rng: bool,
    /// `--audio` (the backends are host-side: replay opens neither file).
    pub audio: Option<crate::host::AudioSpec>,
    /// `--keyboard` (not opened in replay: the keys come from the log).
    pub keyboard: Option<crate::host::KeyboardSource>,
    /// `--no-reboot`.
    pub no_reboot: bool,
    /// `--netdev` (the backend is not opened in replay; only its presence matters).
    pub netdev: Option<crate::host::NetdevSpec>,
}

impl RecordedRun {
    fn kernel_args(&self) -> KernelArgs {
        KernelArgs {
            kernel: self.kernel.clone(),
            append: self.append.clone(),
            initrd: self.initrd.clone(),
            module: self.module.clone(),
        }
    }

    /// Every file the run reads, resolved against the recording's directory.
    fn image_paths(&self) -> Vec<PathBuf> {
        let mut v = vec![self.cwd.join(&self.kernel)];
        for (f, _) in self.kernel_args().module_specs() {
            v.push(self.cwd.join(f));
        }
        for d in &self.drive {
            v.push(self.cwd.join(&d.file));
        }
        v
    }

    fn config(
        &self,
        tier: TierArg,
        jit_thread: bool,
        boot: crate::machine::BootOptions,
    ) -> MachineConfig {
        MachineConfig {
            memory_mib: self.memory_mib,
            tier: tier.tier(),
            icount_shift: self.icount_shift,
            shift_auto: self.shift_auto,
            hot_threshold: None,
            background_compile: jit_thread,
            boot,
            sleep: if self.sleep {
                SleepPolicy::On
            } else {
                SleepPolicy::Off
            },
            digest_interval: self.digest_interval,
            snapshot_interval: self.snapshot_interval,
            virtio: crate::machine::virtio::VirtioConfig::default(),
            ac97: self.audio.is_some(),
            no_reboot: self.no_reboot,
        }
    }
}

/// The virtio devices for `--drive` / `--rng`: checks the image (a clear error before
/// the guest starts) and takes the disk's capacity from it.
fn virtio_config(
    drives: &[DriveSpec],
    rng: bool,
    dir: Option<&Path>,
) -> Result<VirtioConfig, String> {
    if drives.len() > crate::layout::MAX_DRIVES {
        return Err(format!(
            "{} --drive options given; the machine has room for {} drives",
            drives.len(),
            crate::layout::MAX_DRIVES
        ));
    }
    let mut blk = Vec::with_capacity(drives.len());
    for (i, d) in drives.iter().enumerate() {
        let path = dir.map_or_else(|| d.file.clone(), |dir| dir.join(&d.file));
        let sectors = image_sectors(&path)?;
        let mut c = BlkConfig::new(sectors);
        c.read_only = d.read_only;
        c.serial = disk_serial(i);
        blk.push(c);
    }
    Ok(VirtioConfig {
        blk,
        rng,
        net: None,
    })
}

/// Opens the sound card's backends for a live run (a missing input WAV is an error
/// here, before the guest starts).
fn open_audio(
    spec: Option<&crate::host::AudioSpec>,
) -> Result<crate::machine::audio::AudioSide, String> {
    let backend = spec
        .map(crate::host::AudioBackend::open)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(crate::machine::audio::AudioSide {
        backend,
        render: None,
    })
}

/// What GET_ID answers for drive `i`: "reprise-disk<i>".
pub fn disk_serial(i: usize) -> Vec<u8> {
    format!("reprise-disk{i}").into_bytes()
}

/// Opens the image for the disk I/O worker and starts it on `io`.
fn start_disk(drives: &[DriveSpec], policy: WritePolicy, io: &mut IoThread) -> Result<(), String> {
    for d in drives {
        // Each drive has its own image and, in record, its own overlay.
        io.add_disk(Disk::open(d, policy)?)?;
    }
    Ok(())
}

/// Opens `--keyboard` and starts its reader on `io` (run and record only).
fn start_keyboard(
    source: Option<&crate::host::KeyboardSource>,
    io: &mut IoThread,
) -> Result<(), String> {
    if let Some(k) = source {
        io.add_keyboard(k.open().map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// Opens the network backend on `io` (before the guest starts: a port in use or a
/// missing libslirp is reported here).
fn start_net(netdev: Option<&crate::host::NetdevSpec>, io: &mut IoThread) -> Result<(), String> {
    if let Some(n) = netdev {
        io.add_net(n, crate::machine::net::NET_DEVICE)?;
    }
    Ok(())
}

/// How a run went.
pub struct RunResult {
    pub outcome: Outcome,
    pub stats: RunStats,
    /// Record/replay: how the end compares with the recording.
    pub report: Option<FinishReport>,
}

fn read_kernel(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read kernel {}: {e}", path.display()))
}

/// Set by the command line: runs started from it stop cleanly on Ctrl-C (library
/// callers keep the default SIGINT behaviour).
pub(crate) static HANDLE_CTRL_C: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn execute(mut m: Machine, limit: Option<u64>) -> RunResult {
    if HANDLE_CTRL_C.load(std::sync::atomic::Ordering::Relaxed) {
        m.set_quit_flag(crate::host::quit::install_ctrl_c());
    }
    let outcome = m.run(limit);
    let stats = m.stats();
    let report = m.finish_report().cloned();
    // Dropping the machine flushes the console: the guest's output comes out before
    // our own lines.
    drop(m);
    RunResult {
        outcome,
        stats,
        report,
    }
}

/// Runs a kernel with no recording.
pub fn run_kernel(
    k: &KernelArgs,
    m: &MachineArgs,
    stdio_out: Box<dyn Write + Send>,
) -> Result<RunResult, String> {
    let kernel = read_kernel(&k.kernel)?;
    let boot = boot_options(k, &kernel, None)?;
    let virtio = virtio_config(&m.drive, m.rng, None)?;
    let serial = m
        .serial
        .open(stdio_out, !m.no_stdin)
        .map_err(|e| e.to_string())?;
    let mut io = IoThread::new(PassThrough.io_side(), serial.input);
    start_keyboard(m.keyboard.as_ref(), &mut io)?;
    start_disk(&m.drive, WritePolicy::WriteThrough, &mut io)?;
    let net = crate::machine::net::setup(m.netdev.as_ref(), m.pcap.as_deref())?;
    start_net(m.netdev.as_ref(), &mut io)?;
    let host = Host {
        mode: Box::new(PassThrough),
        io,
        restore: None,
    };
    let audio = open_audio(m.audio.as_ref())?;
    let mut cfg = m.config(boot);
    cfg.virtio = virtio;
    cfg.virtio.net = net;
    let mut machine =
        Machine::with_host(&cfg, &kernel, serial.output, host).map_err(|e| e.to_string())?;
    machine.attach_audio(audio);
    Ok(execute(machine, m.icount_limit))
}

/// Runs a kernel and records it into `a.log`.
pub fn record_kernel(
    a: &RecordArgs,
    stdio_out: Box<dyn Write + Send>,
) -> Result<RunResult, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot find the working directory: {e}"))?;
    let rec = RecordedRun {
        cwd,
        kernel: a.kernel.kernel.clone(),
        append: a.kernel.append.clone(),
        initrd: a.kernel.initrd.clone(),
        module: a.kernel.module.clone(),
        memory_mib: a.machine.memory,
        icount_shift: a.machine.icount_shift.initial(),
        shift_auto: a.machine.icount_shift == super::args::ShiftArg::Auto,
        sleep: a.machine.icount_sleep,
        digest_interval: a.digest_interval.max(1),
        snapshot_interval: a.snapshot_interval,
        drive: a.machine.drive.clone(),
        rng: a.machine.rng,
        audio: a.machine.audio.clone(),
        keyboard: a.machine.keyboard.clone(),
        no_reboot: a.machine.no_reboot,
        netdev: a.machine.netdev.clone(),
    };
    let virtio = virtio_config(&rec.drive, rec.rng, None)?;
    let audio = open_audio(rec.audio.as_ref())?;
    let kernel = read_kernel(&a.kernel.kernel)?;
    let boot = boot_options(&a.kernel, &kernel, None)?;
    let images = rec
        .image_paths()
        .iter()
        .map(|p| ImageRecord::from_file(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let config = bincode::serde::encode_to_vec(&rec, bincode::config::standard())
        .map_err(|e| format!("cannot encode the machine configuration: {e}"))?;
    let clock = ClockConfig {
        shift: if rec.shift_auto {
            IcountShift::Auto {
                initial: rec.icount_shift as u8,
            }
        } else {
            IcountShift::Fixed(rec.icount_shift as u8)
        },
        sleep: if rec.sleep {
            SleepPolicy::On
        } else {
            SleepPolicy::Off
        },
    };
    let recorder = Recorder::create(&a.log, &LogHeader::new(config, clock, images))
        .map_err(|e| e.to_string())?;
    let serial = a
        .machine
        .serial
        .open(stdio_out, !a.machine.no_stdin)
        .map_err(|e| e.to_string())?;
    let mut io = IoThread::new(recorder.io_side(), serial.input);
    start_keyboard(rec.keyboard.as_ref(), &mut io)?;
    // Record never modifies the image: the guest's writes stay in an overlay.
    start_disk(&rec.drive, WritePolicy::Overlay, &mut io)?;
    let net = crate::machine::net::setup(rec.netdev.as_ref(), a.machine.pcap.as_deref())?;
    start_net(rec.netdev.as_ref(), &mut io)?;
    let host = Host {
        io,
        mode: Box::new(recorder),
        restore: None,
    };
    let mut cfg = a.machine.config(boot);
    cfg.virtio = virtio;
    cfg.virtio.net = net;
    cfg.digest_interval = rec.digest_interval;
    cfg.snapshot_interval = rec.snapshot_interval;
    let mut machine =
        Machine::with_host(&cfg, &kernel, serial.output, host).map_err(|e| e.to_string())?;
    machine.attach_audio(audio);
    Ok(execute(machine, a.machine.icount_limit))
}

/// Replays `a.log`; the guest's serial output goes to `out`.
pub fn replay_log(
    a: &ReplayArgs,
    out: Box<dyn Write + Send>,
    progress: Option<Box<dyn FnMut(u64, u64) + Send>>,
) -> Result<RunResult, String> {
    let (mut player, snapshot) = match a.seek {
        Some(n) => Player::open_at(&a.log, n).map_err(|e| e.to_string())?,
        None => (Player::open(&a.log).map_err(|e| e.to_string())?, None),
    };
    player.verify_images().map_err(|e| e.to_string())?;
    let rec: RecordedRun =
        bincode::serde::decode_from_slice(&player.header().config, bincode::config::standard())
            .map(|(r, _)| r)
            .map_err(|e| {
                format!(
                    "{}: the machine configuration in the log does not decode ({e}); was it written by another version of reprise?",
                    a.log.display()
                )
            })?;
    let total = player.recorded_icount().map_err(|e| e.to_string())?;
    let kernel = read_kernel(&rec.cwd.join(&rec.kernel))?;
    let boot = boot_options(&rec.kernel_args(), &kernel, Some(&rec.cwd))?;
    let mut cfg = rec.config(a.tier, a.jit_thread, boot);
    // The image's hash was verified above; its data is never read in replay (block
    // completions come from the log), only its size.
    cfg.virtio = virtio_config(&rec.drive, rec.rng, Some(&rec.cwd))?;
    // The network backend is never opened in replay: received frames come from the
    // log, transmitted ones go only to --pcap.
    cfg.virtio.net = crate::machine::net::setup(rec.netdev.as_ref(), a.pcap.as_deref())?;
    let host = Host {
        io: IoThread::new(player.io_side(), None),
        mode: Box::new(player),
        restore: snapshot,
    };
    let render = match (&a.audio_out, rec.audio.is_some()) {
        (Some(p), true) => Some(crate::host::audio::WavOut::create(p).map_err(|e| e.to_string())?),
        (Some(_), false) => {
            return Err(format!(
                "--audio-out: the run in {} had no sound card (record with --audio ac97)",
                a.log.display()
            ))
        }
        (None, _) => None,
    };
    let mut machine = Machine::with_host(&cfg, &kernel, out, host).map_err(|e| e.to_string())?;
    machine.attach_audio(crate::machine::audio::AudioSide {
        backend: None,
        render,
    });
    if let Some(mut p) = progress {
        machine.set_progress(Box::new(move |ic| p(ic, total)));
    }
    Ok(execute(machine, a.seek))
}

/// Prints the outcome and the summary line; returns the exit status.
fn report(r: &RunResult) -> i32 {
    if !matches!(r.outcome, Outcome::DebugExit { .. }) {
        eprintln!("reprise: {}", r.outcome.message());
    }
    eprintln!("{}", r.stats.summary_line());
    r.outcome.exit_status()
}

pub fn run(k: &KernelArgs, m: &MachineArgs) -> i32 {
    match run_kernel(k, m, Box::new(Console::default())) {
        Ok(r) => report(&r),
        Err(e) => {
            eprintln!("reprise: {e}");
            status::CONFIG
        }
    }
}

pub fn record(a: &RecordArgs) -> i32 {
    match record_kernel(a, Box::new(Console::default())) {
        Ok(r) => {
            let s = report(&r);
            let size = std::fs::metadata(&a.log).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "reprise: recorded {} instructions into {} ({size} bytes)",
                r.stats.instructions,
                a.log.display()
            );
            s
        }
        Err(e) => {
            eprintln!("reprise: {e}");
            status::CONFIG
        }
    }
}

pub fn replay(a: &ReplayArgs) -> i32 {
    use std::io::IsTerminal;
    let show = a
        .progress
        .unwrap_or_else(|| std::io::stderr().is_terminal());
    let bar = show.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} instructions ({per_sec}) {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress: Option<Box<dyn FnMut(u64, u64) + Send>> = bar.clone().map(|b| {
        Box::new(move |ic, total| {
            b.set_length(total);
            b.set_position(ic);
        }) as Box<dyn FnMut(u64, u64) + Send>
    });
    let r = replay_log(a, Box::new(Console::default()), progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match r {
        Ok(r) => match (a.seek, &r.outcome) {
            (Some(n), Outcome::IcountLimit { .. }) => {
                eprintln!("reprise: stopped at instruction {n} (--seek)");
                eprintln!("{}", r.stats.summary_line());
                0
            }
            _ => {
                let s = report(&r);
                if let Some(rep) = &r.report {
                    eprintln!("reprise: {}", rep.detail);
                }
                s
            }
        },
        Err(e) => {
            eprintln!("reprise: {e}");
            status::REPLAY
        }
    }
}
