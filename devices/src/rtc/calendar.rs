//! Proleptic Gregorian calendar arithmetic on Unix seconds (the days-from-civil
//! formulation with 400-year eras), and the RTC's register encodings.

/// Seconds from 1970-01-01 of the earliest and latest times the RTC represents
/// (1900-01-01 00:00:00 and 9999-12-31 23:59:59).
pub const MIN_SECS: i64 = -2_208_988_800;
pub const MAX_SECS: i64 = 253_402_300_799;

/// Broken-down date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// 1 = Sunday .. 7 = Saturday, as the RTC counts.
    pub weekday: u8,
}

/// Days since 1970-01-01 of a date. Out-of-range days roll into the next month.
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let m = i64::from(month.clamp(1, 12));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    pub fn from_unix(secs: i64) -> DateTime {
        let secs = secs.clamp(MIN_SECS, MAX_SECS);
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (tod / 3600) as u8,
            minute: (tod / 60 % 60) as u8,
            second: (tod % 60) as u8,
            weekday: ((days + 4).rem_euclid(7) + 1) as u8,
        }
    }

    /// Unix seconds; fields out of range are brought into range, the result clamped
    /// to what the RTC represents.
    pub fn to_unix(&self) -> i64 {
        let days = days_from_civil(
            self.year.clamp(1900, 9999),
            self.month,
            self.day.clamp(1, 31),
        );
        let tod = i64::from(self.hour % 24) * 3600
            + i64::from(self.minute % 60) * 60
            + i64::from(self.second % 60);
        (days * 86_400 + tod).clamp(MIN_SECS, MAX_SECS)
    }
}

/// Encodes a value 0..=99 for a register: BCD unless `binary`.
pub fn encode(v: u8, binary: bool) -> u8 {
    if binary {
        v
    } else {
        ((v / 10 % 10) << 4) | (v % 10)
    }
}

/// Decodes a register value (BCD digits above 9 count as their binary value).
pub fn decode(v: u8, binary: bool) -> u8 {
    if binary {
        v
    } else {
        (v >> 4) * 10 + (v & 0xf)
    }
}

/// Encodes an hour 0..=23 in 24-hour or 12-hour form (bit 7 = PM).
pub fn encode_hour(h: u8, binary: bool, h24: bool) -> u8 {
    if h24 {
        return encode(h, binary);
    }
    let h12 = match h % 12 {
        0 => 12,
        v => v,
    };
    encode(h12, binary) | if h >= 12 { 0x80 } else { 0 }
}

pub fn decode_hour(v: u8, binary: bool, h24: bool) -> u8 {
    if h24 {
        return decode(v, binary) % 24;
    }
    let pm = v & 0x80 != 0;
    decode(v & 0x7f, binary) % 12 + if pm { 12 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = DateTime::from_unix(1_764_300_000); // 2025-11-28 03:20:00 UTC, a Friday
        assert_eq!((t.year, t.month, t.day), (2025, 11, 28));
        assert_eq!((t.hour, t.minute, t.second, t.weekday), (3, 20, 0, 6));
        assert_eq!(t.to_unix(), 1_764_300_000);
    }

    #[test]
    fn round_trip_over_a_range() {
        let mut s = MIN_SECS;
        while s < MAX_SECS {
            assert_eq!(DateTime::from_unix(s).to_unix(), s, "{s}");
            s += 7_777_777;
        }
    }

    #[test]
    fn hours() {
        assert_eq!(encode_hour(0, false, false), 0x12);
        assert_eq!(encode_hour(12, false, false), 0x92);
        assert_eq!(encode_hour(23, false, false), 0x91);
        assert_eq!(encode_hour(23, true, true), 23);
        for h in 0..24 {
            for (b, h24) in [(false, false), (false, true), (true, false), (true, true)] {
                assert_eq!(decode_hour(encode_hour(h, b, h24), b, h24), h);
            }
        }
    }
}
