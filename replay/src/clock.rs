//! The virtual clock policy: how instruction counts become virtual nanoseconds, and what
//! happens to virtual time while the CPU is idle.
//!
//! # Shift
//!
//! Virtual time is `(icount << shift) + bias`. With `IcountShift::Fixed(n)` every
//! instruction takes `2^n` ns of virtual time (n ≤ 10), always. With `IcountShift::Auto`
//! the shift adapts so that virtual time keeps close to real time, like QEMU's
//! `shift=auto`: at regular points of *virtual* time (every [`AUTO_PERIOD_NS`]) the
//! machine reads the host's real-time clock through the replay layer
//! (`Mode::clock(…, SyncKind::RealTimeClock, …)` — recorded, and replayed from the log) and
//! feeds it to [`AutoShift::adjust`]. `adjust` is a pure function of the instruction count
//! and that reading, so in replay it makes the very same adjustments at the very same
//! instruction counts. When the guest runs ahead of real time (and the gap grows) the shift
//! drops by one (instructions get cheaper, virtual time slows); when it falls behind the
//! shift rises by one. The bias is rewritten on every change so virtual time never jumps
//! or goes backwards. QEMU also adjusts from a host timer every real second; reprise does
//! not, because that would make the adjustment points depend on host timing.
//!
//! # Sleep
//!
//! When the CPU is halted with a timer pending, virtual time must still reach the
//! deadline. With `sleep=on` (QEMU's default) the machine really sleeps: the iothread
//! notes the real-time clock at warp start (`IoSide::checkpoint(ClockWarpStart)`), the
//! vCPU thread sleeps until the deadline's real time passes or an async event arrives, and
//! at warp account it moves virtual time forward by the real time that passed, at most up
//! to the deadline ([`idle_warp`]); the elapsed real time is logged as a
//! `RealTimeClock` sync input, so replay warps by the same amount. With `sleep=off` the
//! CPU never sleeps: virtual time jumps straight to the next deadline, no host clock is
//! read, and a guest that idles a lot runs much faster than real time.

/// The largest shift (1 instruction = 1024 ns).
pub const MAX_SHIFT: u8 = 10;
/// How often, in virtual time, `shift=auto` re-examines the shift.
pub const AUTO_PERIOD_NS: u64 = 100_000_000;
/// How much the gap between virtual and real time may wobble before the shift changes.
const WOBBLE_NS: i64 = 100_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcountShift {
    /// Every instruction takes `2^n` ns.
    Fixed(u8),
    /// Adapted as the run goes (starting from `initial`).
    Auto { initial: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepPolicy {
    /// Idle time passes in real time (the host sleeps).
    On,
    /// Idle time is skipped: virtual time jumps to the next deadline.
    Off,
}

/// The clock settings stored in the log header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockConfig {
    pub shift: IcountShift,
    pub sleep: SleepPolicy,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            shift: IcountShift::Fixed(3),
            sleep: SleepPolicy::On,
        }
    }
}

impl ClockConfig {
    /// The shift in force at instruction 0.
    pub fn initial_shift(&self) -> u8 {
        match self.shift {
            IcountShift::Fixed(n) | IcountShift::Auto { initial: n } => n.min(MAX_SHIFT),
        }
    }
}

/// How far virtual time moves while the CPU idles from `now_ns` with the next timer at
/// `deadline_ns`; `rt_elapsed_ns` is the real time that passed (sleep=on only).
pub fn idle_warp(sleep: SleepPolicy, now_ns: u64, deadline_ns: u64, rt_elapsed_ns: u64) -> u64 {
    let to_deadline = deadline_ns.saturating_sub(now_ns);
    match sleep {
        SleepPolicy::Off => to_deadline,
        SleepPolicy::On => rt_elapsed_ns.min(to_deadline),
    }
}

/// The state of `shift=auto` (also usable for a fixed shift: it just never adjusts).
/// Serializable, so a snapshot carries it and a replay that seeks adapts as the
/// recording did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutoShift {
    shift: u8,
    /// Virtual ns = (icount << shift) + bias, computed in i128 to avoid overflow.
    bias: i128,
    last_delta: i64,
    adaptive: bool,
}

/// What an adjustment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjustment {
    pub old_shift: u8,
    pub new_shift: u8,
    /// Add this to the machine's clock bias (wrapping) so virtual time stays continuous.
    pub bias_delta: i64,
}

impl AutoShift {
    pub fn new(cfg: &ClockConfig) -> Self {
        AutoShift {
            shift: cfg.initial_shift(),
            bias: 0,
            last_delta: 0,
            adaptive: matches!(cfg.shift, IcountShift::Auto { .. }),
        }
    }

    pub fn shift(&self) -> u8 {
        self.shift
    }

    /// Virtual nanoseconds at `icount` (warps not included: the machine adds its own).
    pub fn virtual_ns(&self, icount: u64) -> u64 {
        let v = (i128::from(icount) << self.shift) + self.bias;
        v.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Re-examines the shift at `icount`, given the real time `host_ns` elapsed since the
    /// run started (as logged). Returns the change, if any. Deterministic: the same
    /// sequence of calls gives the same adjustments.
    pub fn adjust(&mut self, icount: u64, host_ns: u64) -> Option<Adjustment> {
        if !self.adaptive {
            return None;
        }
        let virt = self.virtual_ns(icount);
        let delta = (i128::from(virt) - i128::from(host_ns))
            .clamp(i128::from(i64::MIN / 4), i128::from(i64::MAX / 4)) as i64;
        let old = self.shift;
        if delta > 0 && self.last_delta + WOBBLE_NS < delta * 2 && self.shift > 0 {
            self.shift -= 1;
        } else if delta < 0 && self.last_delta - WOBBLE_NS > delta * 2 && self.shift < MAX_SHIFT {
            self.shift += 1;
        }
        self.last_delta = delta;
        if self.shift == old {
            return None;
        }
        // Keep virtual time continuous: (icount << new) + new_bias == virt.
        let new_bias = i128::from(virt) - (i128::from(icount) << self.shift);
        let bias_delta = (new_bias - self.bias).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        self.bias = new_bias;
        Some(Adjustment {
            old_shift: old,
            new_shift: self.shift,
            bias_delta: bias_delta as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(initial: u8) -> AutoShift {
        AutoShift::new(&ClockConfig {
            shift: IcountShift::Auto { initial },
            sleep: SleepPolicy::On,
        })
    }

    #[test]
    fn fixed_shift_never_adjusts() {
        let mut a = AutoShift::new(&ClockConfig::default());
        assert_eq!(a.adjust(1 << 30, 0), None);
        assert_eq!(a.virtual_ns(100), 800);
    }

    #[test]
    fn guest_ahead_of_real_time_lowers_the_shift_and_time_stays_continuous() {
        let mut a = auto(5);
        let icount = 100_000_000u64; // 3.2 s virtual at shift 5
        let before = a.virtual_ns(icount);
        let adj = a.adjust(icount, 1_000_000_000).expect("adjusts");
        assert_eq!((adj.old_shift, adj.new_shift), (5, 4));
        assert_eq!(a.virtual_ns(icount), before);
        assert!(a.virtual_ns(icount + 1) > before);
    }

    #[test]
    fn guest_behind_real_time_raises_the_shift_up_to_the_limit() {
        let mut a = auto(9);
        assert_eq!(
            a.adjust(1000, 10_000_000_000).map(|x| x.new_shift),
            Some(10)
        );
        // At the limit it stays.
        assert_eq!(a.adjust(2000, 20_000_000_000), None);
        assert_eq!(a.shift(), MAX_SHIFT);
    }

    #[test]
    fn the_same_readings_give_the_same_adjustments() {
        let readings: Vec<(u64, u64)> = (1..50u64)
            .map(|i| (i * 3_000_000, i * 37_000_000 % 900_000_000 + i * 20_000_000))
            .collect();
        let run = || {
            let mut a = auto(3);
            readings
                .iter()
                .map(|&(ic, h)| (a.adjust(ic, h), a.virtual_ns(ic)))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(|(adj, _)| adj.is_some()));
        // Virtual time never goes backwards.
        assert!(first.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn idle_warp_follows_the_sleep_policy() {
        assert_eq!(idle_warp(SleepPolicy::Off, 100, 1100, 5), 1000);
        assert_eq!(idle_warp(SleepPolicy::On, 100, 1100, 5), 5);
        assert_eq!(idle_warp(SleepPolicy::On, 100, 1100, 5000), 1000);
        assert_eq!(idle_warp(SleepPolicy::On, 2000, 1100, 5000), 0);
    }
}
