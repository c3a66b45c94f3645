//! Building blocks shared by the scenario's organisations: hiring staff
//! with generated personal data, units, order numbers.

use crate::plan::{Act, Plan, Ticket};
use crate::rng::Rng;
use muster_domain::Date;
use muster_proto::wire::{NewUnit, WireCategory};
use std::collections::BTreeMap;

/// A calendar day from a literal (scenario constants only).
pub fn day(text: &str) -> Date {
    Date::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `date` moved by whole years (29 February becomes 28 February).
pub fn years_after(date: Date, years: i32) -> Date {
    let (y, m, d) = date.ymd();
    Date::from_ymd(y + years, m, d).or_else(|_| Date::from_ymd(y + years, m, d - 1)).expect("a valid day")
}

/// `date` moved by `days` (may be negative).
pub fn days_after(date: Date, days: i64) -> Date {
    Date::from_day_number((i64::from(date.day_number()) + days) as u32).expect("a valid day")
}

/// Recorded sex (for the article's "male officers aged 50 or over").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub enum Sex {
    Male,
    Female,
}

/// What the HR system knows about a staff member beyond the ledger: kept
/// out of the ledger on purpose (a staffing ledger needs postings, not
/// personal data), shipped next to the scenario as `staff.csv`.
#[derive(Clone, Debug)]
pub struct Person {
    /// Staff id.
    pub id: String,
    /// The publishing system (`hr/nanhu`, …).
    pub source: &'static str,
    /// Recorded sex.
    pub sex: Sex,
    /// Date of birth.
    pub born: Date,
    /// Holds a leading post (unit head or deputy).
    pub leading: bool,
    /// First posting.
    pub joined: Date,
    /// Unit of the first posting.
    pub first_unit: String,
    /// Office or front line at the first posting.
    pub first_category: WireCategory,
    /// Retirement day (60, or 55 for women in non-leading posts).
    pub retires: Date,
}

impl Person {
    /// Age in whole years on `date`.
    pub fn age_on(&self, date: Date) -> i32 {
        let (by, bm, bd) = self.born.ymd();
        let (y, m, d) = date.ymd();
        y - by - i32::from((m, d) < (bm, bd))
    }

    /// Whether the member is in scope of "every male non-leading office
    /// officer aged 50 or over" on `date`.
    pub fn male_non_leading_50_plus(&self, date: Date) -> bool {
        self.sex == Sex::Male && !self.leading && self.age_on(date) >= 50
    }
}

/// Who among new hires must still be serving on a day.
#[derive(Clone, Copy)]
pub enum Stays {
    /// Nobody: everyone retires when they reach the age.
    Natural,
    /// Men in non-leading posts.
    NonLeadingMenUntil(Date),
    /// Everyone.
    EveryoneUntil(Date),
}

/// How to draw a new hire's personal data.
#[derive(Clone, Copy)]
pub struct Hire {
    /// Whether the post is a leading one.
    pub leading: bool,
    /// Ages are drawn as of this day.
    pub as_of: Date,
    /// The earliest day anyone can have joined (the organisation's start).
    pub earliest: Date,
    /// Who must still be serving on a given day (drawn younger until their
    /// retirement falls after it).
    pub stays: Stays,
    /// Age range on `as_of`.
    pub ages: (u64, u64),
    /// Joins on exactly this day (a recruit) instead of a drawn one.
    pub on: Option<Date>,
}

/// One organisation's plan under construction.
pub struct Org {
    /// The events planned so far.
    pub plan: Plan,
    /// This organisation's random stream.
    pub rng: Rng,
    source: &'static str,
    staff_prefix: &'static str,
    /// Everyone hired, by id.
    pub people: BTreeMap<String, Person>,
    /// Unit categories as established (for hires).
    pub categories: BTreeMap<String, WireCategory>,
}

impl Org {
    /// An organisation publishing as `source`.
    pub fn new(
        rng: Rng,
        source: &'static str,
        id_prefix: &str,
        staff_prefix: &'static str,
        order_prefix: &'static str,
    ) -> Org {
        Org {
            plan: Plan::new(source, id_prefix, order_prefix),
            rng,
            source,
            staff_prefix,
            people: BTreeMap::new(),
            categories: BTreeMap::new(),
        }
    }

    /// Establishes a unit.
    pub fn unit(
        &mut self,
        date: Date,
        id: &str,
        name: &str,
        category: WireCategory,
        parent: Option<&str>,
        quota: Option<u32>,
    ) {
        self.categories.insert(id.into(), category);
        self.plan.add_ordered(
            date,
            Act::Establish { unit: id.into(), name: name.into(), category, parent: parent.map(Into::into), quota },
        );
    }

    /// Merges `sources` into the new unit `target`.
    pub fn merge(&mut self, date: Date, sources: &[&str], target: NewUnit) -> Ticket {
        self.categories.insert(target.unit.clone(), target.category);
        let sources = sources.iter().map(|s| s.to_string()).collect();
        self.ordered(date, Act::Merge { sources, target: None, new_target: Some(target) })
    }

    /// Plans `act` on `date` under a new order number.
    pub fn ordered(&mut self, date: Date, act: Act) -> Ticket {
        self.plan.add_ordered(date, act)
    }

    /// Hires someone into `unit` with generated personal data, and plans
    /// their retirement when it falls on or before `until`.
    pub fn hire(&mut self, unit: &str, hire: Hire, until: Date) -> String {
        let category = self.categories[unit];
        let id = format!("{}{:05}", self.staff_prefix, self.people.len() + 1);
        let male = self.rng.chance(if category == WireCategory::Office { 80 } else { 88 });
        let sex = if male { Sex::Male } else { Sex::Female };
        let (low, high) = hire.ages;
        // The sum of two uniforms: most staff in their thirties and forties.
        let spread = high - low;
        let mut age = low + self.rng.below(spread / 2 + 1) + self.rng.below(spread - spread / 2 + 1);
        let birthday_offset = self.rng.below(365) as i64;
        let retirement_age = if male || hire.leading { 60 } else { 55 };
        let born_at = |age: u64| days_after(years_after(hire.as_of, -(age as i32)), -birthday_offset);
        // Nobody on the books has reached retirement age by `as_of`; and
        // whoever must stay, stays.
        let must_serve_until = match hire.stays {
            Stays::Natural => hire.as_of,
            Stays::NonLeadingMenUntil(day) if male && !hire.leading => day,
            Stays::NonLeadingMenUntil(_) => hire.as_of,
            Stays::EveryoneUntil(day) => day,
        };
        while years_after(born_at(age), retirement_age) <= must_serve_until && age > low {
            age -= 1;
        }
        let born = born_at(age);
        let hired_at_age = 21 + self.rng.below(4) as i32;
        let joined = hire
            .on
            .unwrap_or_else(|| years_after(born, hired_at_age).min(days_after(hire.as_of, -30)).max(hire.earliest));
        let retires = years_after(born, retirement_age);
        self.plan.add(joined, Act::Join { staff: id.clone(), unit: unit.into() });
        if retires <= until {
            self.plan.add(retires, Act::Leave { staff: id.clone(), reason: "retired".into() });
        }
        self.people.insert(
            id.clone(),
            Person {
                id: id.clone(),
                source: self.source,
                sex,
                born,
                leading: hire.leading,
                joined,
                first_unit: unit.into(),
                first_category: category,
                retires,
            },
        );
        id
    }
}
