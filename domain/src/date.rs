//! Calendar days, proleptic Gregorian, 1900-01-01 ..= 2199-12-31.
//!
//! A `Date` is a day number since 1900-01-01. Rationale: a `u32` orders,
//! hashes and subtracts without a calendar library, and the range check is
//! a single comparison. The civil-date conversion is Howard Hinnant's
//! well-known `days_from_civil` / `civil_from_days` arithmetic.

use std::fmt;

/// A calendar day between [`Date::MIN`] and [`Date::MAX`] inclusive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(u32);

/// Why a text or a day number is not a [`Date`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateError {
    /// What was given, for the message.
    pub input: String,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a calendar day YYYY-MM-DD between 1900-01-01 and 2199-12-31", self.input)
    }
}

impl std::error::Error for DateError {}

/// Days from 0000-03-01 (proleptic) to 1900-01-01, so that day 0 is 1900-01-01.
const EPOCH_OFFSET_DAYS: i64 = 693_901;
const YEAR_MIN: i64 = 1900;
const YEAR_MAX: i64 = 2199;

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl Date {
    /// 1900-01-01.
    pub const MIN: Date = Date(0);
    /// 2199-12-31.
    pub const MAX: Date = Date(109_572);

    /// The day with this number (0 = 1900-01-01), if it is in range.
    pub fn from_day_number(day_number: u32) -> Result<Date, DateError> {
        if day_number <= Date::MAX.0 {
            Ok(Date(day_number))
        } else {
            Err(DateError { input: format!("day number {day_number}") })
        }
    }

    /// The day number (0 = 1900-01-01).
    pub fn day_number(self) -> u32 {
        self.0
    }

    /// The day from a year, month and day, if it exists and is in range.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Date, DateError> {
        let (y, m, d) = (i64::from(year), i64::from(month), i64::from(day));
        let in_range =
            (YEAR_MIN..=YEAR_MAX).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m);
        if !in_range {
            return Err(DateError { input: format!("{year:04}-{month:02}-{day:02}") });
        }
        let n = days_from_civil(y, m, d) - EPOCH_OFFSET_DAYS;
        debug_assert!((0..=i64::from(Date::MAX.0)).contains(&n));
        Ok(Date(n as u32))
    }

    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let error = || DateError { input: text.chars().take(40).collect() };
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return Err(error());
        }
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().map_err(|_| error());
        Date::from_ymd(number(0..4)? as i32, number(5..7)?, number(8..10)?).map_err(|_| error())
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = civil_from_days(i64::from(self.0) + EPOCH_OFFSET_DAYS);
        (y as i32, m as u32, d as u32)
    }

    /// The next day, or `None` after [`Date::MAX`].
    pub fn next(self) -> Option<Date> {
        (self < Date::MAX).then(|| Date(self.0 + 1))
    }

    /// The previous day, or `None` before [`Date::MIN`].
    pub fn previous(self) -> Option<Date> {
        self.0.checked_sub(1).map(Date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Date, DateError> {
        Date::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ends_round_trip() {
        assert_eq!(Date::parse("1900-01-01").unwrap(), Date::MIN);
        assert_eq!(Date::parse("2199-12-31").unwrap(), Date::MAX);
        assert_eq!(Date::MAX.to_string(), "2199-12-31");
    }

    #[test]
    fn every_day_round_trips_through_text() {
        for n in 0..=Date::MAX.day_number() {
            let date = Date::from_day_number(n).unwrap();
            assert_eq!(Date::parse(&date.to_string()).unwrap(), date);
        }
    }

    #[test]
    fn rejects_what_is_not_a_day_in_range() {
        for bad in [
            "1899-12-31",
            "2200-01-01",
            "2015-02-29",
            "2016-02-30",
            "2015-13-01",
            "2015-00-10",
            "2015-1-01",
            "20150101",
            "2015-01-01T00:00",
            "",
            "abcd-ef-gh",
            "+015-01-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Date::parse("2016-02-29").is_ok());
        assert!(Date::parse("2000-02-29").is_ok());
        assert!(Date::parse("1900-02-29").is_err());
    }
}
