//! One 8254 counter: its programming and the arithmetic that says, for any tick of the
//! input clock, what the count and the OUT pin are.
//!
//! Nothing here steps the counter tick by tick. A channel remembers the tick at which
//! counting started (`load_tick`) and derives count and OUT from the number of ticks
//! elapsed since, so any amount of virtual time can pass between two looks at it.

use serde::{Deserialize, Serialize};

/// Serializable state of one counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Counter mode 0..=5 (6 and 7 are stored as 2 and 3).
    pub mode: u8,
    /// Read/write access: 1 = low byte, 2 = high byte, 3 = low then high.
    pub access: u8,
    pub bcd: bool,
    /// The count register as last loaded (binary; already decoded from BCD).
    pub reload: u16,
    /// A count was loaded since the last control word.
    pub armed: bool,
    /// Tick of the input clock at which the current count started.
    pub load_tick: u64,
    /// The GATE input.
    pub gate: bool,
    /// Modes 1 and 5: a gate rising edge started the count.
    pub triggered: bool,
    /// Ticks elapsed when counting was suspended by GATE going low (`None`: counting).
    pub frozen: Option<u64>,
    /// Access 3: the low byte was written, the high byte is next.
    pub write_hi_next: bool,
    pub write_lo: u8,
    /// Access 3: the next read returns the high byte.
    pub read_hi_next: bool,
    /// A latched count waiting to be read.
    pub latched_count: Option<u16>,
    /// A latched status byte waiting to be read (read before the count).
    pub latched_status: Option<u8>,
}

impl ChannelState {
    pub(super) fn reset(gate: bool) -> Self {
        ChannelState {
            // Firmware leaves the counters in square-wave mode; without a count loaded
            // nothing counts and OUT idles high.
            mode: 3,
            access: 3,
            bcd: false,
            reload: 0,
            armed: false,
            load_tick: 0,
            gate,
            triggered: false,
            frozen: None,
            write_hi_next: false,
            write_lo: 0,
            read_hi_next: false,
            latched_count: None,
            latched_status: None,
        }
    }

    /// The counter's modulus: 65536 in binary mode, 10000 in BCD mode.
    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    /// The initial count N (a loaded 0 means the modulus).
    pub(super) fn n(&self) -> u64 {
        let m = self.modulus();
        match u64::from(self.reload) % m {
            0 => m,
            v => v,
        }
    }

    /// Ticks counted at input tick `tick`, or `None` when the counter is not counting
    /// (no count loaded, a one-shot mode not yet triggered).
    pub(super) fn elapsed(&self, tick: u64) -> Option<u64> {
        if !self.armed || (matches!(self.mode, 1 | 5) && !self.triggered) {
            return None;
        }
        Some(match self.frozen {
            Some(e) => e,
            None => tick.saturating_sub(self.load_tick),
        })
    }

    /// The counting element's value at `tick` (binary).
    pub(super) fn count(&self, tick: u64) -> u16 {
        let n = self.n();
        let m = self.modulus();
        let Some(e) = self.elapsed(tick) else {
            return (n % m) as u16;
        };
        let v = match self.mode {
            2 => n - e % n,
            3 => {
                let p = e % n;
                let high = n.div_ceil(2);
                let even = n & !1;
                let q = if p < high { p } else { p - high };
                even.saturating_sub(2 * q)
            }
            // 0, 1, 4, 5: count down from N and wrap.
            _ => (n + m - e % m) % m,
        };
        (v % m) as u16
    }

    /// The OUT pin at `tick`.
    pub(super) fn out(&self, tick: u64) -> bool {
        let n = self.n();
        let Some(e) = self.elapsed(tick) else {
            // Mode 0 drives OUT low from the control word on; the others idle high.
            return self.mode != 0;
        };
        match self.mode {
            0 | 1 => e >= n,
            2 => self.frozen.is_some() || n == 1 || e % n != n - 1,
            3 => self.frozen.is_some() || e % n < n.div_ceil(2),
            _ => e != n,
        }
    }

    /// Rising edges of OUT in the tick interval (t0, t1], with no reprogramming between.
    pub(super) fn rising_edges(&self, t0: u64, t1: u64) -> u64 {
        if t1 <= t0 || self.frozen.is_some() {
            return 0;
        }
        let (Some(e0), Some(e1)) = (self.elapsed(t0), self.elapsed(t1)) else {
            return 0;
        };
        let n = self.n();
        let once = |at: u64| u64::from(e0 < at && at <= e1);
        match self.mode {
            0 | 1 => once(n),
            2 | 3 if n > 1 => e1 / n - e0 / n,
            2 | 3 => 0,
            _ => once(n + 1),
        }
    }

    /// The first tick after `after` at which OUT rises.
    pub(super) fn next_rising_edge(&self, after: u64) -> Option<u64> {
        if self.frozen.is_some() {
            return None;
        }
        // Nothing happens before the count starts.
        let after = after.max(self.load_tick);
        let e = self.elapsed(after)?;
        let n = self.n();
        let target = match self.mode {
            0 | 1 => (e < n).then_some(n)?,
            2 | 3 if n > 1 => (e / n + 1).checked_mul(n)?,
            2 | 3 => return None,
            _ => (e <= n).then_some(n + 1)?,
        };
        after.checked_add(target - e)
    }

    /// The read-back status byte at `tick`.
    pub(super) fn status(&self, tick: u64) -> u8 {
        let null_count = !self.armed || tick == self.load_tick;
        (u8::from(self.out(tick)) << 7)
            | (u8::from(null_count) << 6)
            | ((self.access & 3) << 4)
            | ((self.mode & 7) << 1)
            | u8::from(self.bcd)
    }

    /// A control word with a non-zero access field: new mode, counter disarmed.
    pub(super) fn program(&mut self, access: u8, mode: u8, bcd: bool) {
        let gate = self.gate;
        *self = ChannelState {
            mode: if mode >= 6 { mode - 4 } else { mode },
            access,
            bcd,
            reload: self.reload,
            ..ChannelState::reset(gate)
        };
    }

    /// Loads a complete count at `tick`. Counting starts at once (the 8254 takes one
    /// more input clock; see docs/devices.md), and in every mode (a new count in modes
    /// 2 and 3 is not deferred to the end of the current period).
    pub(super) fn load(&mut self, raw: u16, tick: u64) {
        self.reload = if self.bcd { from_bcd16(raw) } else { raw };
        self.armed = true;
        self.load_tick = tick;
        self.triggered = false;
        self.frozen = None;
        if !self.gate && matches!(self.mode, 0 | 2 | 3 | 4) {
            self.frozen = Some(0);
        }
    }

    /// The GATE input changes at `tick`.
    pub(super) fn set_gate(&mut self, gate: bool, tick: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        if !self.armed {
            return;
        }
        if gate {
            match self.mode {
                1 | 5 => {
                    self.triggered = true;
                    self.load_tick = tick;
                    self.frozen = None;
                }
                2 | 3 => {
                    self.load_tick = tick;
                    self.frozen = None;
                }
                _ => {
                    if let Some(e) = self.frozen.take() {
                        self.load_tick = tick.saturating_sub(e);
                    }
                }
            }
        } else if matches!(self.mode, 0 | 2 | 3 | 4) {
            self.frozen = self.elapsed(tick);
        }
    }

    /// A count as the guest reads it (BCD-encoded in BCD mode).
    pub(super) fn encode(&self, v: u16) -> u16 {
        if self.bcd {
            to_bcd16(v)
        } else {
            v
        }
    }
}

/// Decodes four BCD digits; digits above 9 count as their binary value (the result is
/// taken modulo 10000 by the caller's modulus).
pub(super) fn from_bcd16(v: u16) -> u16 {
    let d = |s: u16| (v >> s) & 0xf;
    (d(12) * 1000 + d(8) * 100 + d(4) * 10 + d(0)) % 10_000
}

pub(super) fn to_bcd16(v: u16) -> u16 {
    let v = v % 10_000;
    ((v / 1000) << 12) | ((v / 100 % 10) << 8) | ((v / 10 % 10) << 4) | (v % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms (edge counts, next edge) agree with stepping OUT tick by tick.
    #[test]
    fn closed_forms_match_stepping() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..500 {
            let mut c = ChannelState::reset(true);
            let mode = rand(6) as u8;
            c.program(3, mode, rand(4) == 0);
            let reload = [1, 2, 3, 5, 10, 11, 0x1000, 0][rand(8) as usize];
            let load = rand(50);
            c.load(reload, load);
            if matches!(mode, 1 | 5) {
                c.set_gate(false, load);
                c.set_gate(true, load + rand(5));
            }
            let t0 = load + rand(40);
            let t1 = t0 + rand(300);
            let stepped = (t0 + 1..=t1).filter(|&t| !c.out(t - 1) && c.out(t)).count() as u64;
            assert_eq!(c.rising_edges(t0, t1), stepped, "{c:?} ({t0}, {t1}]");
            let brute = (t0 + 1..t0 + 70_000).find(|&t| !c.out(t - 1) && c.out(t));
            assert_eq!(c.next_rising_edge(t0), brute, "{c:?} after {t0}");
        }
    }
}
