//! The local APIC timer: one-shot, periodic and TSC-deadline modes over the virtual
//! clock.
//!
//! The timer counts at [`LAPIC_BUS_HZ`] / divisor. Nothing is stepped: the timer keeps
//! the virtual time its current period started at and the time it next expires, and
//! the current count is computed from `now_ns` on demand.

use serde::{Deserialize, Serialize};

/// The clock the LAPIC timer divides: 1 GHz, so one bus tick is one virtual ns. CPUID
/// leaf 0x15/0x16 and the docs state the same figure (the TSC also runs at 1 GHz).
pub const LAPIC_BUS_HZ: u64 = 1_000_000_000;

/// LVT timer mode field (bits 17-18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

impl TimerMode {
    /// The mode an LVT timer value selects (the reserved value 3 acts as one-shot).
    pub fn of_lvt(lvt: u32) -> TimerMode {
        match (lvt >> 17) & 3 {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            _ => TimerMode::OneShot,
        }
    }
}

/// The divisor a divide configuration register value selects (bits 0, 1 and 3).
pub fn divisor(dcr: u32) -> u64 {
    match ((dcr >> 1) & 4) | (dcr & 3) {
        7 => 1,
        v => 2 << v,
    }
}

/// Serializable timer state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerState {
    pub initial_count: u32,
    /// The count at `start_ns` (the initial count, unless the divisor or the mode
    /// changed in the middle of a period).
    pub start_count: u32,
    /// Divide configuration register (bits 0, 1, 3).
    pub divide: u32,
    /// Virtual ns at which the current period started.
    pub start_ns: u64,
    /// Virtual ns of the next expiry (`None`: not running).
    pub next_fire_ns: Option<u64>,
    /// IA32_TSC_DEADLINE (0: disarmed).
    pub tsc_deadline: u64,
    /// Expiries so far (periodic expiries that were not serviced in time included).
    pub expirations: u64,
}

impl TimerState {
    fn period_ns(&self) -> u64 {
        u64::from(self.initial_count) * divisor(self.divide)
    }

    /// Current count register at `now_ns`.
    pub fn current_count(&self, mode: TimerMode, now_ns: u64) -> u32 {
        if mode == TimerMode::TscDeadline || self.initial_count == 0 {
            return 0;
        }
        let Some(next) = self.next_fire_ns else {
            return 0;
        };
        let init = u64::from(self.initial_count);
        let first = u64::from(self.start_count);
        let e = now_ns.saturating_sub(self.start_ns) / divisor(self.divide);
        let v = if e < first && now_ns < next {
            first - e
        } else if mode == TimerMode::Periodic {
            init - e.saturating_sub(first) % init
        } else {
            0
        };
        v as u32
    }

    /// A write of the initial count register at `now_ns` (ignored in TSC-deadline
    /// mode; 0 stops the timer).
    pub fn write_initial(&mut self, mode: TimerMode, value: u32, now_ns: u64) {
        if mode == TimerMode::TscDeadline {
            return;
        }
        self.initial_count = value;
        self.start_count = value;
        self.start_ns = now_ns;
        self.next_fire_ns = (value != 0).then(|| now_ns.saturating_add(self.period_ns()));
    }

    /// A write of the divide configuration register: the count keeps its value and
    /// goes on at the new rate.
    pub fn write_divide(&mut self, mode: TimerMode, value: u32, now_ns: u64) {
        let running = mode != TimerMode::TscDeadline && self.next_fire_ns.is_some();
        let count = u64::from(self.current_count(mode, now_ns));
        self.divide = value & 0xb;
        if running && count > 0 {
            let div = divisor(self.divide);
            self.start_ns = now_ns;
            self.start_count = count as u32;
            self.next_fire_ns = Some(now_ns.saturating_add(count * div));
        }
    }

    /// The LVT timer's mode changes from `old` to `new` at `now_ns`.
    pub fn mode_changed(&mut self, old: TimerMode, new: TimerMode, now_ns: u64) {
        if old == new {
            return;
        }
        if old == TimerMode::TscDeadline || new == TimerMode::TscDeadline {
            // Switching to or from TSC-deadline mode disarms the timer.
            self.initial_count = 0;
            self.next_fire_ns = None;
            self.tsc_deadline = 0;
            return;
        }
        if old == TimerMode::Periodic && self.next_fire_ns.is_some() && self.initial_count > 0 {
            // The one-shot count runs out at the end of the current period: restart
            // the bookkeeping at the last count tick, with the count it had.
            let count = self.current_count(old, now_ns);
            let div = divisor(self.divide);
            self.start_ns = now_ns - now_ns.saturating_sub(self.start_ns) % div;
            self.start_count = count;
            self.next_fire_ns = Some(self.start_ns.saturating_add(u64::from(count) * div));
        }
    }

    /// A write of IA32_TSC_DEADLINE (ignored unless in TSC-deadline mode).
    pub fn write_deadline(&mut self, mode: TimerMode, value: u64) {
        if mode != TimerMode::TscDeadline {
            return;
        }
        self.tsc_deadline = value;
        self.next_fire_ns = (value != 0).then_some(value);
    }

    pub fn read_deadline(&self, mode: TimerMode) -> u64 {
        if mode == TimerMode::TscDeadline {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// Expires the timer for everything due at `now_ns`; true if it expired at least
    /// once (the interrupt is one IRR bit however many periods passed).
    pub fn advance(&mut self, mode: TimerMode, now_ns: u64) -> bool {
        let Some(t) = self.next_fire_ns.filter(|&t| t <= now_ns) else {
            return false;
        };
        match mode {
            TimerMode::Periodic if self.initial_count > 0 => {
                let period = self.period_ns();
                let k = (now_ns - t) / period + 1;
                self.start_ns = t.saturating_add((k - 1) * period);
                self.start_count = self.initial_count;
                self.next_fire_ns = Some(self.start_ns.saturating_add(period));
                self.expirations = self.expirations.saturating_add(k);
            }
            TimerMode::TscDeadline => {
                self.tsc_deadline = 0;
                self.next_fire_ns = None;
                self.expirations = self.expirations.saturating_add(1);
            }
            _ => {
                self.next_fire_ns = None;
                self.expirations = self.expirations.saturating_add(1);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_to_one_shot_ends_with_the_current_period() {
        let mut t = TimerState {
            divide: 0xb,
            ..Default::default()
        };
        t.write_initial(TimerMode::Periodic, 100, 0);
        assert!(t.advance(TimerMode::Periodic, 250));
        assert_eq!(t.current_count(TimerMode::Periodic, 250), 50);
        t.mode_changed(TimerMode::Periodic, TimerMode::OneShot, 250);
        assert_eq!(t.current_count(TimerMode::OneShot, 260), 40);
        assert_eq!(t.next_fire_ns, Some(300));
        assert!(t.advance(TimerMode::OneShot, 300));
        assert_eq!(t.next_fire_ns, None);
        assert_eq!(t.current_count(TimerMode::OneShot, 400), 0);
        // Back to periodic: a stopped count stays stopped.
        t.mode_changed(TimerMode::OneShot, TimerMode::Periodic, 400);
        assert_eq!(t.current_count(TimerMode::Periodic, 450), 0);
        assert_eq!(t.expirations, 3);
    }

    /// Closed forms against a counter stepped one bus tick at a time.
    #[test]
    fn matches_a_stepped_counter() {
        let mut seed = 0x9e37_79b9u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let periodic = rand(2) == 0;
            let mode = if periodic {
                TimerMode::Periodic
            } else {
                TimerMode::OneShot
            };
            let dcr = [0xb, 0, 1, 2][rand(4) as usize];
            let div = divisor(dcr);
            let init = 1 + rand(20) as u32;
            let start = rand(100);
            let mut t = TimerState {
                divide: dcr,
                ..Default::default()
            };
            t.write_initial(mode, init, start);
            // The reference: decrement every `div` ns, reload (periodic) or stop at 0.
            let (mut count, mut fired, mut running) = (init, 0u64, true);
            let mut now = start;
            let mut next_check = start + rand(50);
            while now < start + 2_000 {
                now += 1;
                if running && (now - start) % div == 0 {
                    count -= 1;
                    if count == 0 {
                        fired += 1;
                        if periodic {
                            count = init;
                        } else {
                            running = false;
                        }
                    }
                }
                if now == next_check {
                    t.advance(mode, now);
                    assert_eq!(t.expirations, fired, "{t:?} at {now}");
                    assert_eq!(t.current_count(mode, now), count, "{t:?} at {now}");
                    next_check += 1 + rand(300);
                }
            }
        }
    }

    #[test]
    fn divisors() {
        let want = [
            (0, 2),
            (1, 4),
            (2, 8),
            (3, 16),
            (8, 32),
            (9, 64),
            (0xa, 128),
            (0xb, 1),
        ];
        for (dcr, d) in want {
            assert_eq!(divisor(dcr), d, "dcr {dcr:#x}");
        }
    }
}
