//! The RFC 5322 section 3.3 date-time, with the obsolete forms of section 4.3.

use super::rfc5322::Cursor;

/// A date and time as written in a `Date:` field (RFC 5322 section 3.3), in the writer's
/// local time with its offset from UTC.
///
/// ```
/// use smtp_proto::mime::DateTime;
/// let d = DateTime::parse("Fri, 21 Nov 1997 09:55:06 -0600").unwrap();
/// assert_eq!((d.year, d.month, d.day, d.hour, d.offset_minutes), (1997, 11, 21, 9, -360));
/// assert_eq!(d.unix_timestamp(), 880127706);
/// assert!(DateTime::parse("Thu, 21 Nov 1997 09:55:06 -0600").is_none()); // wrong weekday
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DateTime {
    /// The year, 1900 or later (two- and three-digit obsolete years are mapped as section
    /// 4.3 says).
    pub year: u32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the number of days in the month.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 60 (a leap second).
    pub second: u8,
    /// The zone: minutes east of UTC. The obsolete zone names of section 4.3 are mapped
    /// (`EST` is -300); military single letters and `-0000` give 0.
    pub offset_minutes: i16,
}

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const DAYS: [&[u8]; 7] = [b"sun", b"mon", b"tue", b"wed", b"thu", b"fri", b"sat"];

impl DateTime {
    /// Parses a `date-time`. Comments and white space are allowed between the tokens (the
    /// obsolete syntax); the day of the week, when given, must be the one the date falls on
    /// (section 3.3); the date and time must exist (a 31 April or 24:00 does not).
    pub fn parse(value: &str) -> Option<DateTime> {
        let mut c = Cursor::new(value);
        c.cfws().ok()?;
        let mut weekday = None;
        if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            let name = c.letters().to_ascii_lowercase();
            weekday = Some(DAYS.iter().position(|d| *d == name.as_slice())?);
            c.cfws().ok()?;
            if !c.eat(b',') {
                return None;
            }
            c.cfws().ok()?;
        }
        let (day, n) = c.digits();
        if !(1..=2).contains(&n) {
            return None;
        }
        c.cfws().ok()?;
        let month = c.letters().to_ascii_lowercase();
        let month = MONTHS.iter().position(|m| *m == month.as_slice())? as u8 + 1;
        c.cfws().ok()?;
        let (year, n) = c.digits();
        let year = match n {
            2 if year < 50 => year + 2000,
            2 => year + 1900,
            3 => year + 1900,
            4.. => year,
            _ => return None,
        };
        c.cfws().ok()?;
        let (hour, n) = c.digits();
        if n != 2 {
            return None;
        }
        c.cfws().ok()?;
        if !c.eat(b':') {
            return None;
        }
        c.cfws().ok()?;
        let (minute, n) = c.digits();
        if n != 2 {
            return None;
        }
        c.cfws().ok()?;
        let mut second = 0;
        if c.eat(b':') {
            c.cfws().ok()?;
            let (s, n) = c.digits();
            if n != 2 {
                return None;
            }
            second = s;
            c.cfws().ok()?;
        }
        let offset = match c.peek()? {
            sign @ (b'+' | b'-') => {
                c.eat(sign);
                let (z, n) = c.digits();
                if n != 4 || z % 100 > 59 {
                    return None;
                }
                let minutes = (z / 100 * 60 + z % 100) as i16;
                if sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => {
                let zone = c.letters().to_ascii_lowercase();
                match zone.as_slice() {
                    b"ut" | b"gmt" => 0,
                    b"edt" => -4 * 60,
                    b"est" | b"cdt" => -5 * 60,
                    b"cst" | b"mdt" => -6 * 60,
                    b"mst" | b"pdt" => -7 * 60,
                    b"pst" => -8 * 60,
                    [l] if *l != b'j' => 0,
                    _ => return None,
                }
            }
        };
        c.cfws().ok()?;
        if !c.at_end() {
            return None;
        }
        let d = DateTime {
            year,
            month,
            day: u8::try_from(day).ok()?,
            hour: u8::try_from(hour).ok()?,
            minute: u8::try_from(minute).ok()?,
            second: u8::try_from(second).ok()?,
            offset_minutes: offset,
        };
        if d.year < 1900
            || d.day == 0
            || d.day > days_in_month(d.year, d.month)
            || d.hour > 23
            || d.minute > 59
            || d.second > 60
        {
            return None;
        }
        if let Some(w) = weekday {
            if w != d.weekday() {
                return None;
            }
        }
        Some(d)
    }

    /// Days since 1970-01-01 of the date (proleptic Gregorian calendar).
    fn days_from_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (
            i64::from(self.year) - i64::from(self.month <= 2),
            i64::from(self.month),
            i64::from(self.day),
        );
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day of the week, 0 for Sunday.
    fn weekday(&self) -> usize {
        (self.days_from_epoch() + 4).rem_euclid(7) as usize
    }

    /// Seconds since 1970-01-01T00:00:00Z (a leap second counts as the next second).
    pub fn unix_timestamp(&self) -> i64 {
        self.days_from_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }
}

// `is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.80.
#[allow(clippy::manual_is_multiple_of)]
fn days_in_month(year: u32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::DateTime;

    #[test]
    fn rfc5322_appendix_a_dates() {
        for ok in [
            "Fri, 21 Nov 1997 09:55:06 -0600",
            "Tue, 1 Jul 2003 10:52:37 +0200",
            "Thu, 13 Feb 1969 23:32:54 -0330",
            "Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)",
            "21 Nov 97 09:55:06 GMT",
            "Fri, 21 Nov 1997 09:55:06 -0600 (MDT)",
            "Mon, 29 Feb 2016 00:00:60 +0000",
            "1 Jan 2000 00:00 z",
            "Wed, 25 Nov 2026 23:37:23 +0000",
            "Sat, 01 Jan 2000 12:00:00 EST",
        ] {
            assert!(DateTime::parse(ok).is_some(), "{ok:?}");
        }
        let d = DateTime::parse("21 Nov 97 09:55:06 GMT").unwrap();
        assert_eq!(d.year, 1997);
        assert_eq!(DateTime::parse("1 Jan 49 00:00 +0000").unwrap().year, 2049);
        assert_eq!(DateTime::parse("1 Jan 100 00:00 +0000").unwrap().year, 2000);
    }

    #[test]
    fn invalid_dates() {
        for bad in [
            "",
            "yesterday",
            "Fri, 31 Apr 1997 09:55:06 -0600",
            "Sat, 29 Feb 2015 00:00:00 +0000",
            "Fri, 21 Nov 1997 24:00:00 -0600",
            "Fri, 21 Nov 1997 09:60:00 -0600",
            "Fri, 21 Nov 1997 09:55:06 -0660",
            "Fri, 21 Nov 1997 09:55:06 -060",
            "Fri 21 Nov 1997 09:55:06 -0600",
            "Fri, 21 Nov 1997 09:55:06",
            "Fri, 21 Nov 1997 09:55:06 -0600 trailing",
            "Fri, 21 Foo 1997 09:55:06 -0600",
            "Fri, 21 Nov 1 09:55:06 -0600",
            "Fri, 21 Nov 1899 09:55:06 -0600",
            "Fri, 021 Nov 1997 09:55:06 -0600",
            "2026-11-25T23:37:23Z",
            "1 Jan 2000 00:00 J",
        ] {
            assert!(DateTime::parse(bad).is_none(), "{bad:?}");
        }
    }
}
