//! The AC'97 function's guest-visible state as plain serde structs (snapshots store
//! their bincode), and the checks a restored blob must pass.

use super::mixer::Mixer;
use serde::{Deserialize, Serialize};

/// Number of entries in a buffer-descriptor list; CIV, LVI and PIV count modulo this.
pub const BDL_ENTRIES: u8 = 32;

/// One bus-master box (PCM in, PCM out or mic in): its registers and where it is in
/// the buffer it works on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxState {
    /// Buffer-descriptor list base address (8-byte aligned).
    pub bdbar: u32,
    /// Current index value: the descriptor being processed.
    pub civ: u8,
    /// Last valid index: the last descriptor the driver filled.
    pub lvi: u8,
    /// Status register (DCH, CELV, LVBCI, BCIS, FIFOE).
    pub sr: u16,
    /// Samples left in the current buffer.
    pub picb: u16,
    /// Prefetched index value: the descriptor after the current one.
    pub piv: u8,
    /// Control register (RPBM, LVBIE, FEIE, IOCE; RR reads 0).
    pub cr: u8,
    /// Whether the descriptor at `civ` has been fetched (`bd_*` are valid).
    pub loaded: bool,
    /// Guest address of the current buffer.
    pub bd_addr: u32,
    /// Length of the current buffer in samples.
    pub bd_len: u16,
    /// The current descriptor's control bits (IOC 0x8000, BUP 0x4000).
    pub bd_ctl: u16,
    /// Virtual time of the box's next transfer step while it runs.
    pub next_ns: Option<u64>,
    /// Sample-clock remainder carried between steps (rates that do not divide
    /// into whole frames per step).
    pub acc: u32,
}

/// The whole function.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ac97State {
    pub mixer: Mixer,
    /// PCM in, PCM out, mic in.
    pub boxes: [BoxState; 3],
    /// Global control.
    pub glob_cnt: u32,
    /// The write-1-to-clear bits of global status that are set.
    pub glob_sta: u32,
    /// Codec access semaphore.
    pub cas: bool,
    /// Bus mastering enabled in the PCI command register.
    pub bus_master: bool,
}

impl Ac97State {
    /// Whether a restored state is one this model can have produced.
    pub fn check(&self) -> Result<(), String> {
        if self.mixer.regs.len() != 64 {
            return Err(format!(
                "AC'97 state has {} mixer registers, expected 64",
                self.mixer.regs.len()
            ));
        }
        for (i, b) in self.boxes.iter().enumerate() {
            if b.civ >= BDL_ENTRIES || b.lvi >= BDL_ENTRIES || b.piv >= BDL_ENTRIES {
                return Err(format!(
                    "AC'97 state: box {i} has a descriptor index out of 0..32 \
                     (civ {}, lvi {}, piv {})",
                    b.civ, b.lvi, b.piv
                ));
            }
            if b.acc >= 200 {
                return Err(format!(
                    "AC'97 state: box {i} has a sample-clock remainder of {} (at most 199)",
                    b.acc
                ));
            }
            if b.loaded && b.picb > b.bd_len {
                return Err(format!(
                    "AC'97 state: box {i} has {} samples left of a {}-sample buffer",
                    b.picb, b.bd_len
                ));
            }
        }
        Ok(())
    }
}
