//! The CMOS real-time clock (an MC146818A with 128 bytes of CMOS RAM) behind the PC's
//! index/data ports 0x70/0x71.
//!
//! Time base: the date and time start from the host's Unix time that the machine hands
//! to [`Rtc::new`] (the machine records it, so a replay starts from the same instant)
//! and advance with virtual time only: second boundaries fall every 10^9 virtual ns
//! after the instant the clock was (re)started. Update-in-progress (register A bit 7)
//! reads 1 for the [`UIP_NS`] before each boundary. The periodic interrupt divides a
//! 32.768 kHz clock derived from virtual ns with integer arithmetic.
//!
//! Modelled: registers 0x00-0x0D, BCD and binary modes, 12/24-hour mode, the SET bit
//! (stops updates, writes go to the registers and set the clock when SET clears), the
//! divider-reset setting of register A (stops the clock; the first update comes 500 ms
//! after the divider restarts), periodic, alarm (with "don't care" values 0xC0-0xFF)
//! and update-ended interrupts with their flags in register C (cleared by reading it)
//! and the IRQ 8 level, register D's valid-RAM bit, CMOS RAM 0x0E-0x7F, the century
//! byte at 0x32 (kept with the clock, as ACPI's FADT century field expects), the NMI
//! disable bit 7 of the index port. Not modelled: daylight-saving (DSE is stored and
//! ignored), the square-wave output, the day-of-week register as an independent
//! counter (it is derived from the date; a written value is kept only while SET is
//! set), and a change of data mode or 12/24 mode converts the clock at once (the chip
//! would leave the stored bytes as they are).

pub mod calendar;

use calendar::{decode, decode_hour, encode, encode_hour, DateTime};
use serde::{Deserialize, Serialize};

const NS_PER_S: u64 = 1_000_000_000;
/// How long before each second boundary register A's UIP bit reads 1.
pub const UIP_NS: u64 = 244_000;
/// The time base crystal the periodic-interrupt divider counts.
pub const RTC_CRYSTAL_HZ: u64 = 32_768;

/// Register indices.
pub mod reg {
    pub const SECONDS: u8 = 0x00;
    pub const SECONDS_ALARM: u8 = 0x01;
    pub const MINUTES: u8 = 0x02;
    pub const MINUTES_ALARM: u8 = 0x03;
    pub const HOURS: u8 = 0x04;
    pub const HOURS_ALARM: u8 = 0x05;
    pub const WEEKDAY: u8 = 0x06;
    pub const DAY: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0a;
    pub const B: u8 = 0x0b;
    pub const C: u8 = 0x0c;
    pub const D: u8 = 0x0d;
    pub const CENTURY: u8 = 0x32;
    pub const A_UIP: u8 = 0x80;
    pub const B_SET: u8 = 0x80;
    pub const B_PIE: u8 = 0x40;
    pub const B_AIE: u8 = 0x20;
    pub const B_UIE: u8 = 0x10;
    pub const B_BINARY: u8 = 0x04;
    pub const B_24H: u8 = 0x02;
    pub const C_IRQF: u8 = 0x80;
    pub const C_PF: u8 = 0x40;
    pub const C_AF: u8 = 0x20;
    pub const C_UF: u8 = 0x10;
    pub const D_VRT: u8 = 0x80;
}

/// Serializable RTC state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtcState {
    /// The index register (bits 0-6) and the NMI-disable bit 7.
    pub index: u8,
    /// All 128 bytes; the clock registers' own bytes are kept here only while SET is
    /// set (otherwise they are computed from the time).
    pub cmos: Vec<u8>,
    /// Unix seconds at `base_ns` (while stopped: the time the clock stopped at).
    pub base_secs: i64,
    pub base_ns: u64,
    /// Origin of the 32.768 kHz divider chain.
    pub divider_origin_ns: u64,
    /// Virtual time up to which flags are up to date.
    pub synced_ns: u64,
}

/// The CMOS RTC.
#[derive(Clone, Debug)]
pub struct Rtc {
    s: RtcState,
}

impl Rtc {
    /// Ports the RTC decodes (offset 0 index, 1 data).
    pub const SIZE: u16 = 2;

    /// An RTC whose clock reads `host_unix_seconds` at virtual time `now_ns`; registers
    /// A, B and D as firmware leaves them (32.768 kHz divider and 1024 Hz rate, 24-hour
    /// BCD, valid RAM), CMOS RAM zero.
    pub fn new(host_unix_seconds: i64, now_ns: u64) -> Rtc {
        let mut cmos = vec![0u8; 128];
        if let Some(b) = cmos.get_mut(usize::from(reg::A)) {
            *b = 0x26;
        }
        if let Some(b) = cmos.get_mut(usize::from(reg::B)) {
            *b = reg::B_24H;
        }
        if let Some(b) = cmos.get_mut(usize::from(reg::D)) {
            *b = reg::D_VRT;
        }
        Rtc {
            s: RtcState {
                index: 0,
                cmos,
                base_secs: host_unix_seconds.clamp(calendar::MIN_SECS, calendar::MAX_SECS),
                base_ns: now_ns,
                divider_origin_ns: now_ns,
                synced_ns: now_ns,
            },
        }
    }

    pub fn state(&self) -> RtcState {
        self.s.clone()
    }

    pub fn from_state(state: &RtcState) -> Rtc {
        let mut s = state.clone();
        s.cmos.resize(128, 0);
        s.base_secs = s.base_secs.clamp(calendar::MIN_SECS, calendar::MAX_SECS);
        Rtc { s }
    }

    fn byte(&self, i: u8) -> u8 {
        self.s.cmos.get(usize::from(i & 0x7f)).copied().unwrap_or(0)
    }

    fn set_byte(&mut self, i: u8, v: u8) {
        if let Some(b) = self.s.cmos.get_mut(usize::from(i & 0x7f)) {
            *b = v;
        }
    }

    fn b(&self) -> u8 {
        self.byte(reg::B)
    }

    fn binary(&self) -> bool {
        self.b() & reg::B_BINARY != 0
    }

    fn h24(&self) -> bool {
        self.b() & reg::B_24H != 0
    }

    fn divider_reset(&self) -> bool {
        (self.byte(reg::A) >> 4) & 7 >= 6
    }

    /// Whether the clock counts seconds.
    fn running(&self) -> bool {
        self.b() & reg::B_SET == 0 && !self.divider_reset()
    }

    /// Unix seconds shown at `now_ns`.
    fn secs_at(&self, now_ns: u64) -> i64 {
        if !self.running() {
            return self.s.base_secs;
        }
        let whole = now_ns.saturating_sub(self.s.base_ns) / NS_PER_S;
        self.s
            .base_secs
            .saturating_add(i64::try_from(whole).unwrap_or(i64::MAX))
            .min(calendar::MAX_SECS)
    }

    /// The register image of the time `secs`.
    fn encode_time(&self, secs: i64) -> [(u8, u8); 8] {
        let t = DateTime::from_unix(secs);
        let bin = self.binary();
        let yy = t.year.rem_euclid(100) as u8;
        let cc = t.year.div_euclid(100).clamp(0, 99) as u8;
        [
            (reg::SECONDS, encode(t.second, bin)),
            (reg::MINUTES, encode(t.minute, bin)),
            (reg::HOURS, encode_hour(t.hour, bin, self.h24())),
            (reg::WEEKDAY, encode(t.weekday, bin)),
            (reg::DAY, encode(t.day, bin)),
            (reg::MONTH, encode(t.month, bin)),
            (reg::YEAR, encode(yy, bin)),
            (reg::CENTURY, encode(cc, bin)),
        ]
    }

    /// The time the clock registers (as stored in CMOS) say.
    fn decode_registers(&self) -> i64 {
        let bin = self.binary();
        let d = |r| decode(self.byte(r), bin);
        let century = match d(reg::CENTURY) {
            c @ 19..=99 => i64::from(c),
            _ => 20,
        };
        DateTime {
            year: century * 100 + i64::from(d(reg::YEAR) % 100),
            month: d(reg::MONTH),
            day: d(reg::DAY),
            hour: decode_hour(self.byte(reg::HOURS), bin, self.h24()),
            minute: d(reg::MINUTES),
            second: d(reg::SECONDS),
            weekday: 1,
        }
        .to_unix()
    }

    fn is_time_register(i: u8) -> bool {
        matches!(i, 0 | 2 | 4 | 6 | 7 | 8 | 9 | reg::CENTURY)
    }

    /// The 32.768 kHz divider ticks per periodic interrupt (0: none).
    fn periodic_ticks(&self) -> u64 {
        match self.byte(reg::A) & 0xf {
            0 => 0,
            1 => 128,
            2 => 256,
            r => 1 << (r - 1),
        }
    }

    fn divider_ticks(&self, now_ns: u64) -> u64 {
        let d = now_ns.saturating_sub(self.s.divider_origin_ns);
        (u128::from(d) * u128::from(RTC_CRYSTAL_HZ) / u128::from(NS_PER_S)) as u64
    }

    /// Sets the flags for everything that happened in (synced_ns, now_ns].
    fn sync(&mut self, now_ns: u64) {
        let from = self.s.synced_ns;
        if now_ns <= from {
            return;
        }
        let mut flags = 0u8;
        if self.running() {
            let s0 = self.secs_at(from);
            let s1 = self.secs_at(now_ns);
            if s1 > s0 {
                flags |= reg::C_UF;
                let hit = if s1 - s0 >= 86_400 {
                    self.alarm_can_match()
                } else {
                    (s0 + 1..=s1).any(|s| self.alarm_matches(s))
                };
                if hit {
                    flags |= reg::C_AF;
                }
            }
        }
        let p = self.periodic_ticks();
        if p != 0
            && !self.divider_reset()
            && self.divider_ticks(now_ns) / p > self.divider_ticks(from) / p
        {
            flags |= reg::C_PF;
        }
        self.s.synced_ns = now_ns;
        self.raise(flags);
    }

    fn raise(&mut self, flags: u8) {
        let mut c = self.byte(reg::C) | flags;
        let enabled = self.b() & (reg::B_PIE | reg::B_AIE | reg::B_UIE);
        if c & enabled & 0x70 != 0 {
            c |= reg::C_IRQF;
        }
        self.set_byte(reg::C, c);
    }

    /// Whether the alarm matches at some time of day (it then matched during any
    /// whole day that passed).
    fn alarm_can_match(&self) -> bool {
        let bin = self.binary();
        let ok = |a: u8, n: u8, enc: &dyn Fn(u8) -> u8| {
            let v = self.byte(a);
            v & 0xc0 == 0xc0 || (0..n).any(|x| enc(x) == v)
        };
        ok(reg::SECONDS_ALARM, 60, &|x| encode(x, bin))
            && ok(reg::MINUTES_ALARM, 60, &|x| encode(x, bin))
            && ok(reg::HOURS_ALARM, 24, &|x| encode_hour(x, bin, self.h24()))
    }

    fn alarm_matches(&self, secs: i64) -> bool {
        let tod = secs.rem_euclid(86_400);
        let bin = self.binary();
        let pairs = [
            (reg::SECONDS_ALARM, encode((tod % 60) as u8, bin)),
            (reg::MINUTES_ALARM, encode((tod / 60 % 60) as u8, bin)),
            (
                reg::HOURS_ALARM,
                encode_hour((tod / 3600) as u8, bin, self.h24()),
            ),
        ];
        pairs.iter().all(|&(a, now)| {
            let v = self.byte(a);
            v & 0xc0 == 0xc0 || v == now
        })
    }

    /// Stops the clock at `now_ns`, keeping the time it shows.
    fn stop(&mut self, now_ns: u64) {
        self.s.base_secs = self.secs_at(now_ns);
    }

    /// Writes the index (offset 0) or data (offset 1) port.
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        self.sync(now_ns);
        match offset {
            0 => self.s.index = value,
            1 => self.write_register(self.s.index & 0x7f, value, now_ns),
            _ => {}
        }
    }

    /// Reads the index port (0xff: it is write-only on PCs) or the data port.
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        self.sync(now_ns);
        if offset != 1 {
            return 0xff;
        }
        let i = self.s.index & 0x7f;
        match i {
            reg::A => {
                let phase = now_ns.saturating_sub(self.s.base_ns) % NS_PER_S;
                let uip = self.running() && phase >= NS_PER_S - UIP_NS;
                (self.byte(reg::A) & 0x7f) | if uip { reg::A_UIP } else { 0 }
            }
            reg::C => {
                let c = self.byte(reg::C);
                self.set_byte(reg::C, 0);
                c
            }
            reg::D => reg::D_VRT,
            _ if Self::is_time_register(i) && self.b() & reg::B_SET == 0 => self
                .encode_time(self.secs_at(now_ns))
                .iter()
                .find(|(r, _)| *r == i)
                .map_or(0, |&(_, v)| v),
            _ => self.byte(i),
        }
    }

    fn write_register(&mut self, i: u8, value: u8, now_ns: u64) {
        match i {
            reg::A => {
                let was_reset = self.divider_reset();
                if !was_reset && (value >> 4) & 7 >= 6 {
                    self.stop(now_ns);
                }
                self.set_byte(reg::A, value & 0x7f);
                if was_reset && !self.divider_reset() {
                    // The divider chain restarts; the first update comes 500 ms later.
                    self.s.divider_origin_ns = now_ns;
                    self.s.base_ns = now_ns.saturating_sub(NS_PER_S / 2);
                }
            }
            reg::B => {
                let old = self.b();
                let mut value = value;
                if value & reg::B_SET != 0 {
                    value &= !reg::B_UIE;
                }
                if old & reg::B_SET == 0 && value & reg::B_SET != 0 {
                    // Updates stop; the registers hold the time for software to change.
                    self.stop(now_ns);
                    for (r, v) in self.encode_time(self.s.base_secs) {
                        self.set_byte(r, v);
                    }
                    self.set_byte(reg::B, value);
                } else if old & reg::B_SET != 0 && value & reg::B_SET == 0 {
                    self.set_byte(reg::B, value);
                    self.s.base_secs = self.decode_registers();
                    self.s.base_ns = now_ns;
                } else {
                    self.set_byte(reg::B, value);
                }
                // Enabling an interrupt whose flag is already set raises IRQ 8.
                self.raise(0);
            }
            reg::C | reg::D => {}
            _ if Self::is_time_register(i) && self.b() & reg::B_SET == 0 => {
                // Writing one field while the clock runs: the clock jumps by the
                // difference and keeps its phase within the second.
                let now = self.secs_at(now_ns);
                for (r, v) in self.encode_time(now) {
                    self.set_byte(r, v);
                }
                self.set_byte(i, value);
                let new = self.decode_registers();
                self.s.base_secs = self.s.base_secs.saturating_add(new - now);
            }
            _ => self.set_byte(i, value),
        }
    }

    /// Stores a CMOS byte as firmware would (memory size at 0x15-0x18/0x30-0x31/0x34-
    /// 0x35/0x5b-0x5d and the like). Indices 0x00-0x0D are the clock's: ignored.
    pub fn set_cmos_byte(&mut self, index: u8, value: u8) {
        if (0x0e..0x80).contains(&index) {
            self.set_byte(index, value);
        }
    }

    /// A CMOS byte as stored (for tests and the machine).
    pub fn cmos_byte(&self, index: u8) -> u8 {
        self.byte(index)
    }

    /// The IRQ 8 line (register C's IRQF).
    pub fn irq_level(&self) -> bool {
        self.byte(reg::C) & reg::C_IRQF != 0
    }

    /// Bit 7 of the last index written: NMIs disabled at the board.
    pub fn nmi_disabled(&self) -> bool {
        self.s.index & 0x80 != 0
    }

    /// When the IRQ 8 line next needs to rise (`None`: it is up already, or no enabled
    /// interrupt can happen).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.irq_level() {
            return None;
        }
        let b = self.b();
        let mut best: Option<u64> = None;
        let mut consider = |t: u64| best = Some(best.map_or(t, |b| b.min(t)));
        if b & (reg::B_UIE | reg::B_AIE) != 0 && self.running() {
            let k = self.s.synced_ns.saturating_sub(self.s.base_ns) / NS_PER_S + 1;
            consider(self.s.base_ns.saturating_add(k.saturating_mul(NS_PER_S)));
        }
        let p = self.periodic_ticks();
        if b & reg::B_PIE != 0 && p != 0 && !self.divider_reset() {
            let n = (self.divider_ticks(self.s.synced_ns) / p + 1).saturating_mul(p);
            let ns = (u128::from(n) * u128::from(NS_PER_S)).div_ceil(u128::from(RTC_CRYSTAL_HZ));
            consider(
                self.s
                    .divider_origin_ns
                    .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)),
            );
        }
        best
    }

    /// Brings the flags up to `now_ns`; returns the IRQ 8 level.
    pub fn advance(&mut self, now_ns: u64) -> bool {
        self.sync(now_ns);
        self.irq_level()
    }
}
