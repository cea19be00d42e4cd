//! What a PCI function shows the bus: its identity, its base address registers (BARs),
//! accesses inside the windows the guest mapped them at, device-specific configuration
//! registers, and its INTx line.
//!
//! The bus (the rest of this module) owns the standard type-0 header — command and
//! status registers, BAR programming and sizing, interrupt line — and decodes port and
//! memory accesses to `(bar, offset)` pairs; a function only knows offsets inside its
//! own BARs, as every device in this crate only knows offsets inside its window.

/// The fixed identity registers of a function's configuration header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciIdentity {
    pub vendor_id: u16,
    pub device_id: u16,
    pub revision: u8,
    /// Class code, subclass and programming interface (header bytes 0x09..0x0c),
    /// packed as `class << 16 | subclass << 8 | prog_if`.
    pub class: u32,
    pub subsystem_vendor_id: u16,
    pub subsystem_id: u16,
    /// Interrupt pin register: 0 = none, 1..=4 = INTA#..INTD#.
    pub interrupt_pin: u8,
}

/// The kind and size of one BAR. Sizes are powers of two (I/O at least 4 bytes,
/// memory at least 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// An I/O-space window of `size` bytes.
    Io { size: u32 },
    /// A 32-bit, non-prefetchable memory window of `size` bytes.
    Mem32 { size: u32 },
}

/// What a function may ask of the machine while it runs: inputs from and outputs to the
/// outside world. The machine records every answer (and in replay answers from the log
/// without consulting any host backend), so a function stays deterministic by using
/// only this, its registers and the virtual time.
pub trait FunctionHost {
    /// Playback: `samples` are interleaved signed 16-bit stereo frames at `rate_hz`
    /// that the function fetched for output. Returns how many whole frames the audio
    /// output accepted (0 ..= samples.len() / 2); the rest stay the function's to
    /// offer again.
    fn audio_play(&mut self, samples: &[i16], rate_hz: u32) -> usize;

    /// Capture: fills `samples` (interleaved signed 16-bit, `channels` per frame, at
    /// `rate_hz`) from the audio input. Returns how many whole frames were written;
    /// the function treats the rest as not yet available.
    fn audio_capture(&mut self, samples: &mut [i16], channels: u8, rate_hz: u32) -> usize;
}

/// A host with no outside world: output accepted and dropped, input silent. For tests
/// and for machines built without backends.
#[derive(Debug, Default)]
pub struct NullHost;

impl FunctionHost for NullHost {
    fn audio_play(&mut self, samples: &[i16], _rate_hz: u32) -> usize {
        samples.len() / 2
    }

    fn audio_capture(&mut self, samples: &mut [i16], channels: u8, _rate_hz: u32) -> usize {
        samples.fill(0);
        samples.len() / usize::from(channels.max(1))
    }
}

/// A PCI function behind the bus.
pub trait PciFunction: Send {
    /// The identity registers (constant for the life of the function).
    fn identity(&self) -> PciIdentity;

    /// The BARs the function decodes (index 0..6; `None` = unimplemented, reads 0).
    /// Default: none (a chipset function that only has configuration registers).
    fn bars(&self) -> [Option<BarKind>; 6] {
        [None; 6]
    }

    /// A read of `data.len()` (1, 2 or 4) bytes at `offset` inside BAR `bar`. Only
    /// called while the matching decode (I/O or memory space) is enabled in the
    /// command register and the access falls inside the BAR's window.
    /// Default (no BARs): never called; reads float high.
    fn bar_read(
        &mut self,
        bar: usize,
        offset: u64,
        data: &mut [u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) {
        let _ = (bar, offset, now_ns, host);
        data.fill(0xff);
    }

    /// A write of `data.len()` bytes at `offset` inside BAR `bar`.
    /// Default (no BARs): never called; ignored.
    fn bar_write(
        &mut self,
        bar: usize,
        offset: u64,
        data: &[u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) {
        let _ = (bar, offset, data, now_ns, host);
    }

    /// A read of a device-specific configuration register (offsets 0x40..0x100;
    /// `data.len()` is 1, 2 or 4 and the access does not cross a dword). Default:
    /// nothing there, reads zero.
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        let _ = offset;
        data.fill(0);
    }

    /// A write of a device-specific configuration register. Default: ignored.
    fn config_write(&mut self, offset: u16, data: &[u8]) {
        let _ = (offset, data);
    }

    /// Whether the function asserts its INTx line now (level-triggered). The bus
    /// masks it while the command register's Interrupt Disable bit is set and
    /// reflects it in the status register's Interrupt Status bit.
    fn irq_level(&self) -> bool {
        false
    }

    /// Bus mastering (command register bit 2) was switched on or off: a function
    /// must not read or write guest memory while it is off.
    fn set_bus_master(&mut self, enabled: bool) {
        let _ = enabled;
    }

    /// The earliest virtual time at which the function needs [`PciFunction::advance`].
    fn next_deadline(&self) -> Option<u64> {
        None
    }

    /// Runs whatever is due at `now_ns` (DMA at a sample clock, for instance).
    fn advance(&mut self, now_ns: u64, host: &mut dyn FunctionHost) {
        let _ = (now_ns, host);
    }

    /// A PCI reset (machine reset): back to power-on state.
    fn reset(&mut self);

    /// The function's guest-visible state as bytes (bincode of its serde state
    /// struct), for snapshots.
    fn save_state(&self) -> Vec<u8>;

    /// Restores what [`PciFunction::save_state`] produced; a corrupt or foreign
    /// blob is an error that says so, never a panic.
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String>;

    /// Guest page addresses (4 KiB aligned) the function wrote by DMA since the last
    /// call: the machine drops translated code on them. Default: none.
    fn take_dirty_pages(&mut self) -> Vec<u64> {
        Vec::new()
    }
}
