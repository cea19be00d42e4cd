//! The codec's mixer registers (BAR0, "native audio mixer", NAM): 64 16-bit registers
//! at even offsets 0x00..0x80 of a 256-byte window, as an AC'97 2.x codec with
//! variable-rate audio (VRA) shows them through the ICH's AC-link.
//!
//! Volumes and other plain registers store what the guest writes under a mask of the
//! bits the codec implements (the Linux ac97 layer probes which bits stick to find out
//! what a codec supports). The output is not scaled by the volumes: samples go to the
//! host as the guest wrote them.

use serde::{Deserialize, Serialize};

pub const RESET: u8 = 0x00;
pub const MASTER_VOLUME: u8 = 0x02;
pub const HEADPHONE_VOLUME: u8 = 0x04;
pub const MONO_VOLUME: u8 = 0x06;
pub const MIC_VOLUME: u8 = 0x0e;
pub const LINE_IN_VOLUME: u8 = 0x10;
pub const CD_VOLUME: u8 = 0x12;
pub const AUX_VOLUME: u8 = 0x16;
pub const PCM_OUT_VOLUME: u8 = 0x18;
pub const RECORD_SELECT: u8 = 0x1a;
pub const RECORD_GAIN: u8 = 0x1c;
pub const POWERDOWN: u8 = 0x26;
pub const EXT_AUDIO_ID: u8 = 0x28;
pub const EXT_AUDIO_CTRL: u8 = 0x2a;
pub const PCM_FRONT_DAC_RATE: u8 = 0x2c;
pub const PCM_LR_ADC_RATE: u8 = 0x32;
pub const MIC_ADC_RATE: u8 = 0x34;
pub const VENDOR_ID1: u8 = 0x7c;
pub const VENDOR_ID2: u8 = 0x7e;

/// Extended audio ID / control bits: variable rate PCM audio, variable rate mic.
pub const EA_VRA: u16 = 0x0001;
pub const EA_VRM: u16 = 0x0008;

/// Powerdown status: ADC, DAC, analog mixer and Vref ready.
const POWERDOWN_READY: u16 = 0x000f;

/// The codec's vendor ID (SigmaTel STAC9700, "SIL" + 0x00), as QEMU's AC'97 shows.
const VENDOR1: u16 = 0x8384;
const VENDOR2: u16 = 0x7600;

/// The default and the lowest/highest sample rates the converters take.
pub const DEFAULT_RATE: u32 = 48_000;
pub const MIN_RATE: u32 = 8_000;

/// (register, power-on value, writable bits) of the plain registers.
const PLAIN: &[(u8, u16, u16)] = &[
    (MASTER_VOLUME, 0x8000, 0xbf3f),
    (HEADPHONE_VOLUME, 0x8000, 0xbf3f),
    (MONO_VOLUME, 0x8000, 0x803f),
    (0x0a, 0x0000, 0x801e), // PC beep
    (0x0c, 0x8008, 0x801f), // phone
    (MIC_VOLUME, 0x8008, 0x805f),
    (LINE_IN_VOLUME, 0x8808, 0x9f1f),
    (CD_VOLUME, 0x8808, 0x9f1f),
    (0x14, 0x8808, 0x9f1f), // video
    (AUX_VOLUME, 0x8808, 0x9f1f),
    (PCM_OUT_VOLUME, 0x8808, 0x9f1f),
    (RECORD_SELECT, 0x0000, 0x0707),
    (RECORD_GAIN, 0x8000, 0x8f0f),
    (0x20, 0x0000, 0xb380), // general purpose
];

/// The mixer's registers, indexed by offset / 2.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mixer {
    pub regs: Vec<u16>,
}

impl Default for Mixer {
    fn default() -> Self {
        let mut m = Mixer { regs: vec![0; 64] };
        m.reset();
        m
    }
}

fn mask_of(reg: u8) -> Option<u16> {
    PLAIN.iter().find(|p| p.0 == reg).map(|p| p.2)
}

impl Mixer {
    /// Codec reset: every register to its power-on value.
    pub fn reset(&mut self) {
        self.regs = vec![0; 64];
        for &(r, v, _) in PLAIN {
            self.set(r, v);
        }
        self.set(POWERDOWN, POWERDOWN_READY);
        self.set(EXT_AUDIO_ID, EA_VRA | EA_VRM);
        self.set(PCM_FRONT_DAC_RATE, DEFAULT_RATE as u16);
        self.set(PCM_LR_ADC_RATE, DEFAULT_RATE as u16);
        self.set(MIC_ADC_RATE, DEFAULT_RATE as u16);
        self.set(VENDOR_ID1, VENDOR1);
        self.set(VENDOR_ID2, VENDOR2);
    }

    fn set(&mut self, reg: u8, v: u16) {
        if let Some(r) = self.regs.get_mut(usize::from(reg >> 1)) {
            *r = v;
        }
    }

    /// The register at even offset `reg` (0 outside the window).
    pub fn get(&self, reg: u8) -> u16 {
        self.regs.get(usize::from(reg >> 1)).copied().unwrap_or(0)
    }

    /// A guest write of the whole 16-bit register at even offset `reg`.
    pub fn write(&mut self, reg: u8, v: u16) {
        match reg {
            RESET => self.reset(),
            POWERDOWN => {
                // Bits 8..15 are powerdown requests; the ready bits stay (the model
                // is always ready).
                self.set(POWERDOWN, (v & 0xff00) | POWERDOWN_READY);
            }
            EXT_AUDIO_CTRL => {
                let v = v & (EA_VRA | EA_VRM);
                self.set(EXT_AUDIO_CTRL, v);
                if v & EA_VRA == 0 {
                    self.set(PCM_FRONT_DAC_RATE, DEFAULT_RATE as u16);
                    self.set(PCM_LR_ADC_RATE, DEFAULT_RATE as u16);
                }
                if v & EA_VRM == 0 {
                    self.set(MIC_ADC_RATE, DEFAULT_RATE as u16);
                }
            }
            PCM_FRONT_DAC_RATE | PCM_LR_ADC_RATE => {
                if self.get(EXT_AUDIO_CTRL) & EA_VRA != 0 {
                    self.set(reg, clamp_rate(v));
                }
            }
            MIC_ADC_RATE => {
                if self.get(EXT_AUDIO_CTRL) & EA_VRM != 0 {
                    self.set(reg, clamp_rate(v));
                }
            }
            _ => {
                if let Some(mask) = mask_of(reg) {
                    self.set(reg, v & mask);
                }
                // Read-only and unimplemented registers ignore writes.
            }
        }
    }

    /// The rate of the PCM out, PCM in and mic converters in Hz.
    pub fn rate(&self, reg: u8) -> u32 {
        u32::from(self.get(reg)).max(MIN_RATE)
    }
}

/// The codec takes 8000..=48000 Hz; outside that it sets the nearest end.
fn clamp_rate(v: u16) -> u16 {
    v.clamp(MIN_RATE as u16, DEFAULT_RATE as u16)
}
