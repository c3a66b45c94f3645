//! Days for the date controls: today, and a day stepped by days, months or
//! years (the calendar's arithmetic, not the ledger's: the counts on the
//! new day are asked of the API like any other).

use muster_domain::Date;

/// A step of the date control.
#[derive(Clone, Copy)]
pub enum Step {
    /// ±n days.
    Days(i32),
    /// ±n months, the day kept or clamped to the month's last.
    Months(i32),
    /// ±n years, likewise.
    Years(i32),
}

/// `date` moved by `step`, if still a date the ledger takes.
pub fn step(date: Date, step: Step) -> Option<Date> {
    let (y, m, d) = date.ymd();
    match step {
        Step::Days(n) => Date::from_day_number(date.day_number().checked_add_signed(n)?).ok(),
        Step::Months(n) => {
            let months = y * 12 + (m as i32 - 1) + n;
            clamped(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, d)
        }
        Step::Years(n) => clamped(y + n, m, d),
    }
}

/// The day `d` of the month, or its last day when shorter.
fn clamped(year: i32, month: u32, day: u32) -> Option<Date> {
    (1..=day).rev().find_map(|d| Date::from_ymd(year, month, d).ok())
}

/// Today (UTC), the default day of a page asked without one.
pub fn today() -> Date {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let epoch = Date::from_ymd(1970, 1, 1).expect("a date");
    Date::from_day_number(epoch.day_number() + (secs / 86_400) as u32).unwrap_or(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn a_month_on_from_the_31st_is_the_months_last_day() {
        assert_eq!(step(day("2016-01-31"), Step::Months(1)), Some(day("2016-02-29")));
        assert_eq!(step(day("2016-01-31"), Step::Months(-2)), Some(day("2015-11-30")));
        assert_eq!(step(day("2016-12-15"), Step::Months(1)), Some(day("2017-01-15")));
    }

    #[test]
    fn days_and_years_step_across_boundaries() {
        assert_eq!(step(day("2015-12-31"), Step::Days(1)), Some(day("2016-01-01")));
        assert_eq!(step(day("2016-02-29"), Step::Years(1)), Some(day("2017-02-28")));
        assert_eq!(step(day("1900-01-01"), Step::Days(-1)), None);
    }
}
