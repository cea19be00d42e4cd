//! Snapshots of the whole machine (CPU, devices, RAM) and restoring them.

use super::board::BoardState;
use super::run::next_multiple_after;
use super::virtio::VirtioState;
use super::{Machine, MachineError};
use reprise_jit::{Cpu, CpuState};
use reprise_replay::{RamPages, Snapshot};
use std::collections::BTreeMap;

/// The device-state names in snapshots: the board's devices and the virtual clock's
/// settings (the shift is not CPU state, and `shift=auto` adapts it as the run goes).
const BOARD: &str = "board";
const CLOCK: &str = "clock";
/// The virtio devices (absent in snapshots of machines without them).
const VIRTIO: &str = "virtio";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct ClockState {
    pub shift: u32,
    pub auto_shift: Option<reprise_replay::clock::AutoShift>,
    pub next_auto_ns: u64,
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Encoding plain state structs into a Vec cannot fail.
    bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, MachineError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| {
            MachineError::Restore(format!(
                "the {what} state in the snapshot does not decode ({e}); was it written by another version of reprise?"
            ))
        })
}

/// Captures the machine's guest-visible state.
pub(super) fn take(
    cpu: &Cpu,
    board: BoardState,
    clock: ClockState,
    virtio: Option<&VirtioState>,
) -> Snapshot {
    let mut devices = BTreeMap::new();
    devices.insert(BOARD.to_string(), encode(&board));
    devices.insert(CLOCK.to_string(), encode(&clock));
    if let Some(v) = virtio {
        devices.insert(VIRTIO.to_string(), encode(v));
    }
    Snapshot {
        icount: cpu.state().icount,
        cpu: encode(cpu.state()),
        devices,
        ram: RamPages::capture_resident(
            cpu.ram().as_slice(),
            cpu.ram().resident_pages().as_deref(),
        ),
    }
}

impl Machine {
    /// Puts the machine in the state of snapshot `s`.
    pub(super) fn restore(&mut self, s: &Snapshot) -> Result<(), MachineError> {
        let state: CpuState = decode("CPU", &s.cpu)?;
        let board: BoardState = decode(
            "device",
            s.device(BOARD)
                .map_err(|e| MachineError::Restore(e.to_string()))?,
        )?;
        let clock: ClockState = decode(
            "clock",
            s.device(CLOCK)
                .map_err(|e| MachineError::Restore(e.to_string()))?,
        )?;
        self.cpu.set_icount_shift(clock.shift);
        self.auto_shift = clock.auto_shift;
        self.next_auto_ns = clock.next_auto_ns;
        s.ram
            .restore(self.cpu.ram_mut().as_mut_slice())
            .map_err(|e| MachineError::Restore(e.to_string()))?;
        *self.cpu.state_mut() = state;
        self.board
            .restore(&board)
            .map_err(|e| MachineError::Restore(e.to_string()))?;
        let virtio: VirtioState = match s.devices.get(VIRTIO) {
            Some(b) => decode("virtio", b)?,
            None => VirtioState::default(),
        };
        self.board
            .virtio
            .restore(&virtio)
            .map_err(MachineError::Restore)?;
        let now = self.cpu.virtual_ns();
        self.board.update_virtio_irqs(now);
        self.sync_code();
        // The recording passed its start (Init) before any snapshot.
        self.started = true;
        self.schedule_from(s.icount);
        Ok(())
    }

    /// Digests and snapshots fall on multiples of their intervals; a machine starting
    /// at `ic` (from a snapshot taken after the digest due there) takes the next ones.
    pub(super) fn schedule_from(&mut self, ic: u64) {
        if self.started {
            self.next_digest = next_multiple_after(ic, self.digest_interval);
            self.next_snapshot = self
                .snapshot_interval
                .map_or(u64::MAX, |n| next_multiple_after(ic, n));
        } else {
            self.next_digest = ic;
            self.next_snapshot = ic;
        }
    }
}
