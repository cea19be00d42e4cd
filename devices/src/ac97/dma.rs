//! The bus-master boxes at work: buffer-descriptor fetches, transfer steps on the
//! virtual sample clock, buffer completion and the interrupts it raises.
//!
//! A running box moves frames in steps of [`STEP_NS`] (5 ms of virtual time): at
//! 48 kHz that is 240 frames a step. An output box reads the step's frames from guest
//! memory and offers them to [`FunctionHost::audio_play`]; PICB goes down by what the
//! host accepted, and what it did not accept is read and offered again at the next
//! step (so a slow output paces the guest, and the recording of how much was accepted
//! is what makes replay see the same positions). An input box asks
//! [`FunctionHost::audio_capture`] for the step's frames and writes what it got.
//!
//! Garbage from the guest: a descriptor list or a buffer outside guest RAM stops the
//! box with FIFOE and DCH (the ICH's master-abort behaviour, no memory touched);
//! zero-length descriptors complete at once (with their IOC interrupt); an odd sample
//! count on a stereo box drops the last lone sample; a step walks at most
//! [`BDL_ENTRIES`] descriptors, so lists of empty entries cannot loop forever.

use super::mixer;
use super::nabm::{
    CR_FEIE, CR_IOCE, CR_LVBIE, CR_RPBM, SR_BCIS, SR_CELV, SR_DCH, SR_FIFOE, SR_LVBCI,
};
use super::state::{BoxState, BDL_ENTRIES};
use super::Ac97;
use crate::pci::FunctionHost;
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

/// Virtual time between two transfer steps of a running box.
pub const STEP_NS: u64 = 5_000_000;
/// Steps per second.
const STEPS_PER_SECOND: u32 = 200;
/// A box that fell this many steps behind (the machine did not call `advance` for a
/// long time) skips ahead instead of catching up step by step.
const MAX_CATCH_UP: u32 = 200;

/// Descriptor control bits (high half of the second dword).
pub const BD_IOC: u16 = 0x8000;
pub const BD_BUP: u16 = 0x4000;

/// Box indexes.
pub const PCM_IN: usize = 0;
pub const PCM_OUT: usize = 1;
pub const MIC_IN: usize = 2;

/// Guest page size for the dirty-page report.
const PAGE: u64 = 4096;

/// Channels and the rate register of each box.
fn box_format(i: usize) -> (usize, u8) {
    match i {
        PCM_IN => (2, mixer::PCM_LR_ADC_RATE),
        PCM_OUT => (2, mixer::PCM_FRONT_DAC_RATE),
        _ => (1, mixer::MIC_ADC_RATE),
    }
}

impl BoxState {
    /// Power-on / RR values.
    pub fn reset_regs(&mut self) {
        *self = BoxState {
            sr: SR_DCH,
            ..BoxState::default()
        };
    }

    fn running(&self) -> bool {
        self.cr & CR_RPBM != 0 && self.sr & SR_DCH == 0
    }

    fn stop_with_error(&mut self) {
        self.sr |= SR_FIFOE | SR_DCH;
        self.next_ns = None;
        self.loaded = false;
    }
}

impl<M: GuestMemory> Ac97<M> {
    pub(super) fn box_irq(&self, i: usize) -> bool {
        let Some(b) = self.s.boxes.get(i) else {
            return false;
        };
        (b.sr & SR_BCIS != 0 && b.cr & CR_IOCE != 0)
            || (b.sr & SR_LVBCI != 0 && b.cr & CR_LVBIE != 0)
            || (b.sr & SR_FIFOE != 0 && b.cr & CR_FEIE != 0)
    }

    pub(super) fn reset_box(&mut self, i: usize) {
        if let Some(b) = self.s.boxes.get_mut(i) {
            b.reset_regs();
        }
    }

    pub(super) fn write_cr(&mut self, i: usize, v: u8, now_ns: u64) {
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        let was = b.cr & CR_RPBM != 0;
        b.cr = v;
        match (was, v & CR_RPBM != 0) {
            (false, true) => {
                b.sr &= !(SR_DCH | SR_CELV);
                b.next_ns = Some(now_ns.saturating_add(STEP_NS));
                if !b.loaded {
                    self.fetch(i);
                }
            }
            (true, false) => {
                // Pause: the position is kept; setting RPBM again resumes there.
                b.sr |= SR_DCH;
                b.next_ns = None;
            }
            _ => {}
        }
    }

    /// A new LVI: a box that halted on its last valid buffer goes on with the next one.
    pub(super) fn lvi_written(&mut self, i: usize, now_ns: u64) {
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        let halted_at_end = b.cr & CR_RPBM != 0 && b.sr & SR_CELV != 0 && b.sr & SR_FIFOE == 0;
        if halted_at_end && b.lvi != b.civ {
            b.sr &= !(SR_DCH | SR_CELV);
            b.civ = (b.civ + 1) % BDL_ENTRIES;
            b.loaded = false;
            b.next_ns = Some(now_ns.saturating_add(STEP_NS));
            self.fetch(i);
        }
    }

    /// Fetches the descriptor at CIV (only with bus mastering on; without it the
    /// fetch waits for the next step).
    fn fetch(&mut self, i: usize) {
        if !self.s.bus_master {
            return;
        }
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        let addr = u64::from(b.bdbar) + u64::from(b.civ) * 8;
        let mut raw = [0u8; 8];
        if self.mem.read_slice(&mut raw, GuestAddress(addr)).is_err() {
            b.stop_with_error();
            return;
        }
        let [a0, a1, a2, a3, l0, l1, c0, c1] = raw;
        b.bd_addr = u32::from_le_bytes([a0, a1, a2, a3]) & !1;
        b.bd_len = u16::from_le_bytes([l0, l1]);
        b.bd_ctl = u16::from_le_bytes([c0, c1]);
        b.picb = b.bd_len;
        b.piv = (b.civ + 1) % BDL_ENTRIES;
        b.loaded = true;
    }

    /// The current buffer is done: interrupt if asked, then the next descriptor or,
    /// after the last valid one, halt.
    fn complete_buffer(&mut self, i: usize) {
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        if b.bd_ctl & BD_IOC != 0 {
            b.sr |= SR_BCIS;
        }
        b.loaded = false;
        if b.civ == b.lvi {
            b.sr |= SR_CELV | SR_DCH | SR_LVBCI;
            b.next_ns = None;
        } else {
            b.civ = (b.civ + 1) % BDL_ENTRIES;
            self.fetch(i);
        }
    }

    /// Runs every step due at `now_ns`.
    pub(super) fn advance_boxes(&mut self, now_ns: u64, host: &mut dyn FunctionHost) {
        for i in 0..self.s.boxes.len() {
            let mut steps = 0;
            while let Some(t) = self.s.boxes.get(i).and_then(|b| b.next_ns) {
                if t > now_ns {
                    break;
                }
                if steps == MAX_CATCH_UP {
                    if let Some(b) = self.s.boxes.get_mut(i) {
                        b.next_ns = Some(now_ns.saturating_add(STEP_NS));
                    }
                    break;
                }
                steps += 1;
                self.step(i, host);
                if let Some(b) = self.s.boxes.get_mut(i) {
                    if let Some(n) = b.next_ns.as_mut() {
                        *n = t.saturating_add(STEP_NS);
                    }
                }
            }
        }
    }

    /// One step's worth of frames.
    fn step(&mut self, i: usize, host: &mut dyn FunctionHost) {
        let (channels, rate_reg) = box_format(i);
        let rate = self.s.mixer.rate(rate_reg);
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        b.acc += rate;
        let mut budget = (b.acc / STEPS_PER_SECOND) as usize;
        b.acc %= STEPS_PER_SECOND;
        if !self.s.bus_master {
            return;
        }
        for _ in 0..=(2 * BDL_ENTRIES as usize) {
            let Some(b) = self.s.boxes.get(i) else {
                return;
            };
            if !b.running() || budget == 0 {
                return;
            }
            if !b.loaded {
                self.fetch(i);
                continue;
            }
            let left = usize::from(b.picb);
            if left < channels {
                // Empty descriptor, finished buffer, or a lone odd sample.
                if let Some(b) = self.s.boxes.get_mut(i) {
                    b.picb = 0;
                }
                self.complete_buffer(i);
                continue;
            }
            let n = budget.min(left / channels);
            let done = usize::from(b.bd_len.saturating_sub(b.picb));
            let addr = u64::from(b.bd_addr) + 2 * done as u64;
            let moved = if i == PCM_OUT {
                self.play(addr, n * channels, rate, host)
            } else {
                self.capture(addr, n, channels, rate, host)
            };
            let Some(moved) = moved else {
                if let Some(b) = self.s.boxes.get_mut(i) {
                    b.stop_with_error();
                }
                return;
            };
            let moved = moved.min(n);
            let mut finished = false;
            if let Some(b) = self.s.boxes.get_mut(i) {
                b.picb -= (moved * channels) as u16;
                if usize::from(b.picb) < channels {
                    // The last sample left: the buffer completes with it.
                    b.picb = 0;
                    finished = true;
                }
            }
            if finished {
                self.complete_buffer(i);
            }
            budget -= moved;
            if moved < n {
                // The host took or gave less: the rest waits for the next step.
                return;
            }
        }
    }

    /// Reads `samples` samples at `addr` and offers them; `None` if they are not all
    /// in guest RAM.
    fn play(
        &mut self,
        addr: u64,
        samples: usize,
        rate: u32,
        host: &mut dyn FunctionHost,
    ) -> Option<usize> {
        let mut raw = vec![0u8; samples * 2];
        self.mem.read_slice(&mut raw, GuestAddress(addr)).ok()?;
        let pcm: Vec<i16> = raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(host.audio_play(&pcm, rate))
    }

    /// Captures up to `frames` frames and writes them at `addr`; `None` if the
    /// buffer is not in guest RAM.
    fn capture(
        &mut self,
        addr: u64,
        frames: usize,
        channels: usize,
        rate: u32,
        host: &mut dyn FunctionHost,
    ) -> Option<usize> {
        let mut pcm = vec![0i16; frames * channels];
        let len = (pcm.len() * 2) as u64;
        // Check the whole buffer first: the host is not asked for samples that could
        // not be stored.
        if !self
            .mem
            .check_range(GuestAddress(addr), len as usize, Permissions::Write)
        {
            return None;
        }
        let got = host
            .audio_capture(&mut pcm, channels as u8, rate)
            .min(frames);
        let bytes: Vec<u8> = pcm
            .iter()
            .take(got * channels)
            .flat_map(|s| s.to_le_bytes())
            .collect();
        self.mem.write_slice(&bytes, GuestAddress(addr)).ok()?;
        let end = addr + bytes.len() as u64;
        let mut page = addr & !(PAGE - 1);
        while page < end {
            self.dirty.insert(page);
            page += PAGE;
        }
        Some(got)
    }
}
