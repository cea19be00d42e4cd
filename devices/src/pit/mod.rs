//! The 8254 programmable interval timer (three counters) and system control port B
//! (port 0x61: channel 2's gate, the speaker enable, OUT2 and the refresh toggle).
//!
//! Time base: the input clock runs at [`PIT_HZ`] (1.193182 MHz) and is derived from
//! virtual nanoseconds exactly: tick `t` of the clock is the first nanosecond `ns` with
//! `ns * PIT_HZ / 1e9 >= t` (integer arithmetic, so there is no drift however long a
//! run). The device reads no clock: every call takes `now_ns`.
//!
//! Channel 0 drives IRQ 0. The machine asks [`Pit::next_deadline`] when OUT0 next rises,
//! runs the CPU to that point and calls [`Pit::advance`], which reports how many rising
//! edges happened since the previous call (all of them, however many periods passed)
//! and the current OUT0 level. Channel 1 (DRAM refresh on old PCs) is modelled but
//! drives nothing; channel 2 drives the speaker and is read back through port 0x61.

mod channel;

pub use channel::ChannelState;

use serde::{Deserialize, Serialize};

/// The 8254's input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;
const NS_PER_S: u128 = 1_000_000_000;
/// Port B bit 4 toggles once per DRAM refresh period, 15.085 µs on PCs.
pub const REFRESH_HALF_PERIOD_NS: u64 = 15_085;

/// The number of input-clock ticks completed at virtual time `ns`.
pub fn ticks_at(ns: u64) -> u64 {
    (u128::from(ns) * u128::from(PIT_HZ) / NS_PER_S) as u64
}

/// The first virtual nanosecond at which tick `tick` has happened.
pub fn ns_of_tick(tick: u64) -> u64 {
    let ns = (u128::from(tick) * NS_PER_S).div_ceil(u128::from(PIT_HZ));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Serializable PIT state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PitState {
    pub channels: [ChannelState; 3],
    /// Port B bits 0..=3 as last written (gate 2, speaker, parity/IOCHK enables).
    pub port61: u8,
    /// The input tick up to which OUT0 edges have been counted.
    pub synced_tick: u64,
    /// OUT0 rising edges counted but not yet taken by [`Pit::advance`].
    pub pending_edges: u64,
}

/// What [`Pit::advance`] reports about IRQ 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PitIrq {
    /// Rising edges of OUT0 since the previous `advance` (an edge-triggered interrupt
    /// controller latches one request for any non-zero number).
    pub edges: u64,
    /// OUT0's level now.
    pub out: bool,
}

/// The 8254 PIT with port B.
#[derive(Clone, Debug)]
pub struct Pit {
    s: PitState,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

/// Port offsets inside the PIT's window.
pub mod port {
    pub const COUNTER0: u16 = 0;
    pub const COUNTER1: u16 = 1;
    pub const COUNTER2: u16 = 2;
    pub const CONTROL: u16 = 3;
}

impl Pit {
    /// Ports the PIT decodes (offsets 0..=3).
    pub const SIZE: u16 = 4;

    /// Reset state: every counter in mode 3 with no count loaded (not counting, OUT
    /// high), gates 0 and 1 tied high, gate 2 low (port B bit 0 clear).
    pub fn new() -> Self {
        Pit {
            s: PitState {
                channels: [
                    ChannelState::reset(true),
                    ChannelState::reset(true),
                    ChannelState::reset(false),
                ],
                port61: 0,
                synced_tick: 0,
                pending_edges: 0,
            },
        }
    }

    pub fn state(&self) -> PitState {
        self.s.clone()
    }

    /// Rebuilds a PIT from saved state. Out-of-range fields are brought into range
    /// (mode 0..=5, access 1..=3), so no state can make the device misbehave.
    pub fn from_state(state: &PitState) -> Self {
        let mut s = state.clone();
        for c in &mut s.channels {
            if c.mode > 5 {
                c.mode = if c.mode <= 7 { c.mode - 4 } else { 0 };
            }
            if !(1..=3).contains(&c.access) {
                c.access = 3;
            }
        }
        s.port61 &= 0x0f;
        Pit { s }
    }

    /// Counts OUT0 edges up to `now_ns`.
    fn sync(&mut self, now_ns: u64) -> u64 {
        let t = ticks_at(now_ns);
        if t > self.s.synced_tick {
            let e = self.s.channels[0].rising_edges(self.s.synced_tick, t);
            self.s.pending_edges = self.s.pending_edges.saturating_add(e);
            self.s.synced_tick = t;
        }
        self.s.synced_tick
    }

    /// Applies a change to channel `ch` at `now_ns`, counting the OUT0 edge a change of
    /// mode or gate can cause by itself.
    fn mutate(&mut self, ch: usize, now_ns: u64, f: impl FnOnce(&mut ChannelState, u64)) {
        let t = self.sync(now_ns);
        let Some(c) = self.s.channels.get_mut(ch) else {
            return;
        };
        let before = c.out(t);
        f(c, t);
        if ch == 0 && !before && c.out(t) {
            self.s.pending_edges = self.s.pending_edges.saturating_add(1);
        }
    }

    /// Reads the port at `offset` (0..=3; the control port and others read 0xff).
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        let t = self.sync(now_ns);
        let Some(c) = self.s.channels.get_mut(usize::from(offset)) else {
            return 0xff;
        };
        if offset >= 3 {
            return 0xff;
        }
        if let Some(st) = c.latched_status.take() {
            return st;
        }
        let (value, latched) = match c.latched_count {
            Some(v) => (v, true),
            None => (c.encode(c.count(t)), false),
        };
        let [lo, hi] = value.to_le_bytes();
        let (byte, done) = match c.access {
            1 => (lo, true),
            2 => (hi, true),
            _ => {
                let hi_next = c.read_hi_next;
                c.read_hi_next = !hi_next;
                if hi_next {
                    (hi, true)
                } else {
                    (lo, false)
                }
            }
        };
        if latched && done {
            c.latched_count = None;
        }
        byte
    }

    /// Writes the port at `offset` (0..=2 counters, 3 control word; others ignored).
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        match offset {
            0..=2 => {
                let ch = usize::from(offset);
                self.mutate(ch, now_ns, |c, t| match c.access {
                    1 => c.load(u16::from(value), t),
                    2 => c.load(u16::from(value) << 8, t),
                    _ => {
                        if c.write_hi_next {
                            c.write_hi_next = false;
                            c.load(u16::from_le_bytes([c.write_lo, value]), t);
                        } else {
                            c.write_lo = value;
                            c.write_hi_next = true;
                            // Mode 0: the first byte stops the count, OUT goes low.
                            if c.mode == 0 {
                                c.armed = false;
                            }
                        }
                    }
                });
            }
            3 => self.control(value, now_ns),
            _ => {}
        }
    }

    fn control(&mut self, value: u8, now_ns: u64) {
        let sc = value >> 6;
        let access = (value >> 4) & 3;
        if sc == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
            let t = self.sync(now_ns);
            for (i, c) in self.s.channels.iter_mut().enumerate() {
                if value & (2 << i) == 0 {
                    continue;
                }
                if value & 0x20 == 0 && c.latched_count.is_none() {
                    c.latched_count = Some(c.encode(c.count(t)));
                }
                if value & 0x10 == 0 && c.latched_status.is_none() {
                    c.latched_status = Some(c.status(t));
                }
            }
            return;
        }
        let ch = usize::from(sc);
        if access == 0 {
            // Counter latch command.
            let t = self.sync(now_ns);
            if let Some(c) = self.s.channels.get_mut(ch) {
                if c.latched_count.is_none() {
                    c.latched_count = Some(c.encode(c.count(t)));
                }
            }
            return;
        }
        let mode = (value >> 1) & 7;
        let bcd = value & 1 != 0;
        self.mutate(ch, now_ns, |c, _| c.program(access, mode, bcd));
    }

    /// Port B (0x61) as the guest reads it: bits 0..=3 as written, bit 4 the refresh
    /// toggle (flips every [`REFRESH_HALF_PERIOD_NS`] of virtual time), bit 5 OUT2.
    pub fn port61_read(&mut self, now_ns: u64) -> u8 {
        let t = self.sync(now_ns);
        let refresh = ((now_ns / REFRESH_HALF_PERIOD_NS) & 1) as u8;
        let out2 = u8::from(self.s.channels[2].out(t));
        (self.s.port61 & 0x0f) | (refresh << 4) | (out2 << 5)
    }

    /// Port B write: bit 0 is channel 2's gate, bit 1 the speaker data enable, bits 2
    /// and 3 are stored; the status bits 4..=7 are read-only.
    pub fn port61_write(&mut self, value: u8, now_ns: u64) {
        self.s.port61 = value & 0x0f;
        let gate = value & 1 != 0;
        self.mutate(2, now_ns, |c, t| c.set_gate(gate, t));
    }

    /// Whether the speaker is driven: gate 2 and speaker data enable both set and a
    /// count loaded in channel 2 (for a front end that wants to beep).
    pub fn speaker_on(&self) -> bool {
        self.s.port61 & 3 == 3 && self.s.channels[2].armed
    }

    /// OUT0 (the level of IRQ 0) at `now_ns`.
    pub fn out0(&mut self, now_ns: u64) -> bool {
        let t = self.sync(now_ns);
        self.s.channels[0].out(t)
    }

    /// The virtual time at which the machine must next call [`Pit::advance`]: when OUT0
    /// next rises, or the last synchronised time if edges are already waiting.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.s.pending_edges > 0 {
            return Some(ns_of_tick(self.s.synced_tick));
        }
        self.s.channels[0]
            .next_rising_edge(self.s.synced_tick)
            .map(ns_of_tick)
    }

    /// Takes the OUT0 rising edges up to `now_ns` and reports OUT0's level.
    pub fn advance(&mut self, now_ns: u64) -> PitIrq {
        let t = self.sync(now_ns);
        let edges = std::mem::take(&mut self.s.pending_edges);
        PitIrq {
            edges,
            out: self.s.channels[0].out(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_conversion_round_trips() {
        for t in [0u64, 1, 2, 1193, 1_193_182, 1_193_183, 123_456_789_012] {
            let ns = ns_of_tick(t);
            assert_eq!(ticks_at(ns), t, "tick {t}");
            if ns > 0 {
                assert_eq!(ticks_at(ns - 1), t - 1, "tick {t} starts at {ns}");
            }
        }
        assert_eq!(ticks_at(1_000_000_000), PIT_HZ);
        assert_eq!(ticks_at(3_600_000_000_000), PIT_HZ * 3600);
    }

    #[test]
    fn bcd_helpers() {
        assert_eq!(channel::from_bcd16(0x9999), 9999);
        assert_eq!(channel::from_bcd16(0x1234), 1234);
        assert_eq!(channel::to_bcd16(1234), 0x1234);
        assert_eq!(channel::to_bcd16(0), 0);
    }
}
