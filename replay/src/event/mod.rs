//! The events of a log. Each [`Event`] is one record: a record kind (a number, see
//! [`kind`]), the instruction count at which it happened, and a payload whose layout is
//! given per kind in [`codec`] and in docs/replay.md. A reader that meets a record kind it
//! does not know keeps it as [`Event::Unknown`] and moves on.

pub mod codec;
pub mod kind;

pub use codec::{decode, encode};

/// The thread a checkpoint belongs to. In replay each checkpoint is honoured only on the
/// thread that recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Thread {
    /// The thread that runs the guest and the device models.
    Vcpu,
    /// The thread that faces the host (stdin, sockets, files, host timers, audio).
    Io,
}

/// A point where one thread synchronises with the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Checkpoint {
    /// The iothread starts warping the virtual clock while the CPU sleeps.
    ClockWarpStart,
    /// The vCPU thread accounts the warp before it runs guest code again.
    ClockWarpAccount,
    /// Expired virtual-clock timers are run.
    VirtualTimers,
    /// Timers on the host clock are run (the RTC).
    HostClockTimers,
    /// A reset was requested (by the guest or the user).
    ResetRequested,
    /// A suspend was requested.
    SuspendRequested,
    /// The machine is initialised, before the first instruction.
    Init,
    /// The machine is reset.
    Reset,
    /// The vCPU thread applies queued async events (no timer or request involved).
    AsyncPoll,
}

impl Checkpoint {
    pub const ALL: [Checkpoint; 9] = [
        Checkpoint::ClockWarpStart,
        Checkpoint::ClockWarpAccount,
        Checkpoint::VirtualTimers,
        Checkpoint::HostClockTimers,
        Checkpoint::ResetRequested,
        Checkpoint::SuspendRequested,
        Checkpoint::Init,
        Checkpoint::Reset,
        Checkpoint::AsyncPoll,
    ];
}

/// An input produced synchronously on the vCPU thread; its value is whatever bytes the
/// machine's live source produced (the value format is the machine's: clocks are u64
/// nanoseconds little-endian, see [`crate::Mode::clock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncKind {
    /// A read of the host's wall clock (the RTC's time of day), u64 ns LE.
    HostClock,
    /// A read of the host's real-time clock as warp and `shift=auto` use it, u64 ns LE.
    RealTimeClock,
    /// Bytes returned by RDRAND.
    RdRand,
    /// Bytes returned by RDSEED.
    RdSeed,
    /// Bytes from a device random-number generator (virtio-rng).
    DeviceRng,
    /// The result of writing characters to a host backend (bytes accepted, i64 LE).
    CharWrite,
    /// How many frames an audio output accepted of those a sound device offered
    /// (u32 LE): the output's pace as the guest sees it.
    AudioPlayed,
    /// Interleaved signed 16-bit LE samples an audio input captured for a sound device
    /// (whole frames; fewer than asked when the input had no more).
    AudioCaptured,
}

impl SyncKind {
    pub const ALL: [SyncKind; 8] = [
        SyncKind::HostClock,
        SyncKind::RealTimeClock,
        SyncKind::RdRand,
        SyncKind::RdSeed,
        SyncKind::DeviceRng,
        SyncKind::CharWrite,
        SyncKind::AudioPlayed,
        SyncKind::AudioCaptured,
    ];
}

/// An event queued by the iothread and applied by the vCPU thread at a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsyncEvent {
    /// Bytes received by serial port `port` from the host.
    SerialInput { port: u8, bytes: Vec<u8> },
    /// A block request finished: `status` is the device's status code, `data` what was read.
    BlockComplete {
        device: u32,
        request: u64,
        status: u8,
        data: Vec<u8>,
    },
    /// A network frame arrived for `device`.
    NetFrame { device: u32, frame: Vec<u8> },
    /// An audio buffer was captured (or played and handed back) for `device`.
    AudioBuffer { device: u32, data: Vec<u8> },
    /// A keyboard/mouse/tablet event (`kind`, `code`, `value` as evdev has them).
    Input {
        device: u32,
        kind: u16,
        code: u16,
        value: i32,
    },
    /// Deferred device work (a bottom half) identified by `token` is run.
    DeferredWork { device: u32, token: u64 },
}

/// Something the CPU did that the log keeps to check replay against (not an input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuEvent {
    /// An external interrupt with `vector` was delivered.
    Interrupt { vector: u8 },
    /// An exception was raised.
    Exception { vector: u8, error_code: Option<u32> },
}

/// Why the machine stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownCause {
    /// The guest powered off (ACPI, a debug-exit port, …).
    GuestShutdown,
    /// The guest asked for a reset and the machine was told not to reboot.
    GuestReset,
    /// The guest triple-faulted or panicked.
    GuestCrash,
    /// The user quit (Ctrl-C, a signal, the monitor).
    HostQuit,
    /// The instruction limit given on the command line was reached.
    InstructionLimit,
    /// The machine stopped on an error.
    Error,
    /// A cause this reader does not know (written by a newer reprise).
    Other(u8),
}

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The instruction count advanced to the record's icount (written on every flush so a
    /// cut log knows how far it got).
    Instructions,
    /// A CPU event kept for checking.
    Cpu(CpuEvent),
    /// An async event applied by the vCPU thread (always right after its checkpoint).
    Async(AsyncEvent),
    /// A synchronous input and the bytes it produced.
    Sync { kind: SyncKind, data: Vec<u8> },
    /// A checkpoint passed on `thread`; `value` is a reading taken there (the real-time
    /// clock at warp start), 0 if none.
    Checkpoint {
        thread: Thread,
        checkpoint: Checkpoint,
        value: u64,
    },
    /// A digest of architectural state for divergence detection.
    Digest { regs: u64, ram: u64 },
    /// A snapshot was written at the record's icount as chunk number `chunk`, which
    /// starts at byte `offset` of the file.
    SnapshotRef { chunk: u64, offset: u64 },
    /// The machine shut down.
    Shutdown(ShutdownCause),
    /// The last record; `virtual_ns` is the virtual clock at the end.
    End { virtual_ns: u64 },
    /// A record kind this reader does not know (kept raw, skipped by the player).
    Unknown { kind: u64, payload: Vec<u8> },
}

impl Event {
    /// A short name for messages and statistics.
    pub fn name(&self) -> String {
        match self {
            Event::Instructions => "instructions".into(),
            Event::Cpu(CpuEvent::Interrupt { .. }) => "interrupt".into(),
            Event::Cpu(CpuEvent::Exception { .. }) => "exception".into(),
            Event::Async(a) => format!("async.{}", async_name(a)),
            Event::Sync { kind, .. } => format!("sync.{}", sync_name(*kind)),
            Event::Checkpoint { checkpoint, .. } => {
                format!("checkpoint.{}", checkpoint_name(*checkpoint))
            }
            Event::Digest { .. } => "digest".into(),
            Event::SnapshotRef { .. } => "snapshot".into(),
            Event::Shutdown(_) => "shutdown".into(),
            Event::End { .. } => "end".into(),
            Event::Unknown { kind, .. } => format!("unknown.{kind}"),
        }
    }
}

pub fn async_name(a: &AsyncEvent) -> &'static str {
    match a {
        AsyncEvent::SerialInput { .. } => "serial_input",
        AsyncEvent::BlockComplete { .. } => "block_complete",
        AsyncEvent::NetFrame { .. } => "net_frame",
        AsyncEvent::AudioBuffer { .. } => "audio_buffer",
        AsyncEvent::Input { .. } => "input",
        AsyncEvent::DeferredWork { .. } => "deferred_work",
    }
}

pub fn sync_name(k: SyncKind) -> &'static str {
    match k {
        SyncKind::HostClock => "host_clock",
        SyncKind::RealTimeClock => "realtime_clock",
        SyncKind::RdRand => "rdrand",
        SyncKind::RdSeed => "rdseed",
        SyncKind::DeviceRng => "device_rng",
        SyncKind::CharWrite => "char_write",
        SyncKind::AudioPlayed => "audio_played",
        SyncKind::AudioCaptured => "audio_captured",
    }
}

pub fn checkpoint_name(c: Checkpoint) -> &'static str {
    match c {
        Checkpoint::ClockWarpStart => "clock_warp_start",
        Checkpoint::ClockWarpAccount => "clock_warp_account",
        Checkpoint::VirtualTimers => "virtual_timers",
        Checkpoint::HostClockTimers => "host_clock_timers",
        Checkpoint::ResetRequested => "reset_requested",
        Checkpoint::SuspendRequested => "suspend_requested",
        Checkpoint::Init => "init",
        Checkpoint::Reset => "reset",
        Checkpoint::AsyncPoll => "async_poll",
    }
}

pub fn thread_name(t: Thread) -> &'static str {
    match t {
        Thread::Vcpu => "vcpu",
        Thread::Io => "io",
    }
}

pub fn cause_name(c: ShutdownCause) -> String {
    match c {
        ShutdownCause::GuestShutdown => "guest_shutdown".into(),
        ShutdownCause::GuestReset => "guest_reset".into(),
        ShutdownCause::GuestCrash => "guest_crash".into(),
        ShutdownCause::HostQuit => "host_quit".into(),
        ShutdownCause::InstructionLimit => "instruction_limit".into(),
        ShutdownCause::Error => "error".into(),
        ShutdownCause::Other(n) => format!("other({n})"),
    }
}
