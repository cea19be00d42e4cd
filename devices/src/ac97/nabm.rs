//! The bus-master registers (BAR1, "native audio bus master", NABM): three boxes of
//! 16 bytes (PCM in at 0x00, PCM out at 0x10, mic in at 0x20) and the global control,
//! status and codec-access-semaphore registers.
//!
//! | box offset | register | size | access |
//! |---|---|---|---|
//! | 0x0 | BDBAR buffer-descriptor list base | 4 | rw (bits 2..0 read 0) |
//! | 0x4 | CIV current index | 1 | ro |
//! | 0x5 | LVI last valid index | 1 | rw |
//! | 0x6 | SR status | 2 | DCH, CELV ro; LVBCI, BCIS, FIFOE write-1-clear |
//! | 0x8 | PICB samples left in the current buffer | 2 | ro |
//! | 0xa | PIV prefetched index | 1 | ro |
//! | 0xb | CR control | 1 | rw: RPBM, RR (self-clearing), LVBIE, FEIE, IOCE |
//!
//! Accesses of any width are split into the registers they cover, as the ICH decodes
//! them (a dword read at CIV returns CIV, LVI and SR together).

use super::state::BDL_ENTRIES;
use super::Ac97;
use vm_memory::GuestMemory;

pub const SR_DCH: u16 = 0x01;
pub const SR_CELV: u16 = 0x02;
pub const SR_LVBCI: u16 = 0x04;
pub const SR_BCIS: u16 = 0x08;
pub const SR_FIFOE: u16 = 0x10;
const SR_W1C: u16 = SR_LVBCI | SR_BCIS | SR_FIFOE;

pub const CR_RPBM: u8 = 0x01;
pub const CR_RR: u8 = 0x02;
pub const CR_LVBIE: u8 = 0x04;
pub const CR_FEIE: u8 = 0x08;
pub const CR_IOCE: u8 = 0x10;
const CR_BITS: u8 = CR_RPBM | CR_LVBIE | CR_FEIE | CR_IOCE;

pub const GLOB_CNT: u64 = 0x2c;
pub const GLOB_STA: u64 = 0x30;
pub const CAS: u64 = 0x34;

/// Global control: GPI interrupt enable, cold reset# (1 = codec out of reset), warm
/// reset (self-clearing), AC-link shut off, channel and sample-size selects.
pub const GC_COLD: u32 = 0x02;
pub const GC_WARM: u32 = 0x04;
const GC_BITS: u32 = 0x0000_000b | 0x00f0_0000;

/// Global status: interrupt summaries of the three boxes, primary codec ready, and
/// the write-1-clear bits (GPI change, resume interrupts, read completion status).
pub const GS_PIINT: u32 = 0x20;
pub const GS_POINT: u32 = 0x40;
pub const GS_MCINT: u32 = 0x80;
pub const GS_PCR: u32 = 0x100;
const GS_W1C: u32 = 0x0000_8c01;

/// The registers of a box, as (offset, size).
const BOX_REGS: [(u64, usize); 7] = [(0, 4), (4, 1), (5, 1), (6, 2), (8, 2), (10, 1), (11, 1)];
/// The global registers, as (offset, size).
const GLOBAL_REGS: [(u64, usize); 3] = [(GLOB_CNT, 4), (GLOB_STA, 4), (CAS, 1)];

/// The register containing byte `off`: its offset and size.
fn reg_at(off: u64) -> Option<(u64, usize)> {
    if off < 0x30 && off % 16 < 12 {
        let base = off & !15;
        BOX_REGS
            .iter()
            .map(|&(o, s)| (base + o, s))
            .find(|&(o, s)| off >= o && off < o + s as u64)
    } else {
        GLOBAL_REGS
            .iter()
            .copied()
            .find(|&(o, s)| off >= o && off < o + s as u64)
    }
}

impl<M: GuestMemory> Ac97<M> {
    /// The whole register at `reg` (an offset from [`reg_at`]); reads have no side
    /// effect except on CAS.
    fn nabm_reg(&self, reg: u64) -> u32 {
        if reg >= GLOB_CNT {
            return match reg {
                GLOB_CNT => self.s.glob_cnt,
                GLOB_STA => self.glob_sta(),
                CAS => u32::from(self.s.cas),
                _ => 0,
            };
        }
        let Some(b) = self.s.boxes.get((reg / 16) as usize) else {
            return 0;
        };
        match reg % 16 {
            0 => b.bdbar,
            4 => u32::from(b.civ),
            5 => u32::from(b.lvi),
            6 => u32::from(b.sr),
            8 => u32::from(b.picb),
            10 => u32::from(b.piv),
            11 => u32::from(b.cr),
            _ => 0,
        }
    }

    pub(super) fn glob_sta(&self) -> u32 {
        let mut v = self.s.glob_sta;
        if self.s.glob_cnt & GC_COLD != 0 {
            v |= GS_PCR;
        }
        for (i, bit) in [GS_PIINT, GS_POINT, GS_MCINT].into_iter().enumerate() {
            if self.box_irq(i) {
                v |= bit;
            }
        }
        v
    }

    pub(super) fn nabm_read(&mut self, off: u64, data: &mut [u8]) {
        let mut touched_cas = false;
        for (i, byte) in data.iter_mut().enumerate() {
            let o = off + i as u64;
            *byte = match reg_at(o) {
                Some((reg, _)) => {
                    touched_cas |= reg == CAS;
                    (self.nabm_reg(reg) >> (8 * (o - reg))) as u8
                }
                None => 0,
            };
        }
        // Reading the semaphore takes it; the next codec access gives it back.
        if touched_cas {
            self.s.cas = true;
        }
    }

    pub(super) fn nabm_write(&mut self, off: u64, data: &[u8], now_ns: u64) {
        // Group the bytes by register: (register, value, byte mask).
        let mut parts: Vec<(u64, usize, u32, u32)> = Vec::new();
        for (i, &byte) in data.iter().enumerate() {
            let o = off + i as u64;
            let Some((reg, size)) = reg_at(o) else {
                continue;
            };
            let shift = 8 * (o - reg);
            match parts.iter_mut().find(|p| p.0 == reg) {
                Some(p) => {
                    p.2 |= u32::from(byte) << shift;
                    p.3 |= 0xff << shift;
                }
                None => parts.push((reg, size, u32::from(byte) << shift, 0xff << shift)),
            }
        }
        for (reg, _, value, mask) in parts {
            self.nabm_write_reg(reg, value, mask, now_ns);
        }
    }

    fn nabm_write_reg(&mut self, reg: u64, value: u32, mask: u32, now_ns: u64) {
        match reg {
            GLOB_CNT => {
                let old = self.s.glob_cnt;
                let new = (old & !mask) | (value & mask);
                if new & GC_COLD == 0 && old & GC_COLD != 0 {
                    // Cold reset asserted: the codec and the AC-link go back to power-on.
                    self.s.mixer.reset();
                }
                // Warm reset completes at once and reads back 0.
                self.s.glob_cnt = new & GC_BITS & !GC_WARM;
                return;
            }
            GLOB_STA => {
                self.s.glob_sta &= !(value & mask & GS_W1C);
                return;
            }
            CAS => {
                if mask & 1 != 0 && value & 1 == 0 {
                    self.s.cas = false;
                }
                return;
            }
            _ => {}
        }
        let i = (reg / 16) as usize;
        let Some(b) = self.s.boxes.get_mut(i) else {
            return;
        };
        match reg % 16 {
            0 => b.bdbar = ((b.bdbar & !mask) | (value & mask)) & !7,
            5 => {
                b.lvi = (value as u8) % BDL_ENTRIES;
                self.lvi_written(i, now_ns);
            }
            6 => {
                let clear = (value & mask) as u16 & SR_W1C;
                b.sr &= !clear;
            }
            11 => {
                let v = value as u8;
                if v & CR_RR != 0 {
                    self.reset_box(i);
                } else {
                    self.write_cr(i, v & CR_BITS, now_ns);
                }
            }
            // CIV, PICB and PIV are read-only.
            _ => {}
        }
    }
}
