//! The booking rules about people that the central service enforces and the kiosk
//! checks offline first, so that a rejection after the fact is rare (central-api.md, "The
//! booking rules the service enforces"): one unserved booking per NIK, the 30-day
//! cooldown, the blocklist, the family and group limits, and who may use the priority
//! quota.
//!
//! It leaves the structure of a NIK to [`super::nik`], closed dates and the booking window
//! to [`super::calendar`], quotas to `sync`, and where the history and blocklist come
//! from to `store` and `sync`. Dates are plain arguments: "today" is the office's today.

use chrono::{Datelike, Days, NaiveDate};

use super::{PriorityReason, Sex};

/// No new registration within 30 days of the last one.
pub const COOLDOWN_DAYS: i64 = 30;
/// At most this many applicants from one KK per group (one kiosk session).
pub const MAX_FROM_ONE_KK: usize = 5;
/// A group is one family in one go; the kiosk takes no more than this many at once.
pub const MAX_GROUP_SIZE: usize = 5;
/// "Over 60" in the service's rules: 60 and older.
pub const ELDERLY_AGE: u32 = 60;
/// "Under 5": younger than 5.
pub const CHILD_AGE: u32 = 5;

/// Full years of age on `on`. Someone born on 29 February turns a year older on 1 March
/// in common years (the common Indonesian and legal reading). A date before the birth
/// gives 0.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    if on <= birth {
        return 0;
    }
    let years = on.year() - birth.year();
    let before_birthday = (on.month(), on.day()) < (birth.month(), birth.day());
    let full = if before_birthday { years - 1 } else { years };
    u32::try_from(full).unwrap_or(0)
}

/// The priority reason the age alone gives on `on`, if any.
pub fn priority_by_age(birth: NaiveDate, on: NaiveDate) -> Option<PriorityReason> {
    let age = age_on(birth, on);
    if age >= ELDERLY_AGE {
        Some(PriorityReason::Elderly)
    } else if age < CHILD_AGE {
        Some(PriorityReason::ChildUnder5)
    } else {
        None
    }
}

/// The reason a booking will carry: a declared reason if the applicant can hold it (pregnant:
/// a woman; elderly / child_under_5: the age must agree; disabled: anyone), else the age's.
///
/// A declared reason the applicant cannot hold is an error rather than silently dropped:
/// the screen must tell them their choice was not accepted.
pub fn priority(
    declared: Option<PriorityReason>,
    birth: NaiveDate,
    sex: Sex,
    on: NaiveDate,
) -> Result<Option<PriorityReason>, RuleViolation> {
    let by_age = priority_by_age(birth, on);
    let Some(reason) = declared else {
        return Ok(by_age);
    };
    let eligible = match reason {
        PriorityReason::Disabled => true,
        PriorityReason::Pregnant => sex == Sex::Female,
        PriorityReason::Elderly | PriorityReason::ChildUnder5 => by_age == Some(reason),
    };
    if eligible {
        Ok(Some(reason))
    } else {
        Err(RuleViolation::PriorityNotEligible { declared: reason })
    }
}

/// A booking of this NIK that the kiosk knows of (its own store, or what the service said).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastBooking {
    /// The day the applicant was to come.
    pub visit_date: NaiveDate,
    /// The day the registration was made, in the office's zone: the cooldown counts from it.
    pub created_on: NaiveDate,
    /// Rejected by the central service: it never held a number and counts for nothing.
    pub rejected: bool,
    /// Cancelled by the applicant: it no longer holds the one-booking rule, but its
    /// `created_on` still counts for the cooldown.
    pub cancelled: bool,
}

/// Why the kiosk refuses a booking before the central service ever sees it. Display
/// carries dates and reasons only, never who the applicant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// One booking not yet served per NIK, across all offices; the date is the earliest
    /// such visit.
    #[error("this NIK already holds a booking for {visit_date}")]
    ActiveBooking { visit_date: NaiveDate },
    /// `until` is the first day a new registration is allowed.
    #[error("this NIK registered less than 30 days ago; it may register again from {until}")]
    Cooldown { until: NaiveDate },
    /// The central service's blocklist says so. `until` is, as for `Cooldown`, the first
    /// day a registration is allowed: the day after the blocklist's own "until", which is
    /// the last blocked day.
    #[error("the central service blocks this NIK; it may register again from {until}")]
    Blocked { until: NaiveDate },
    #[error("this NIK is already in the group")]
    AlreadyInGroup,
    #[error("the group already has 5 applicants from this family card")]
    FamilyLimit,
    #[error("the group already has 5 applicants")]
    GroupFull,
    #[error("the applicant cannot hold the priority reason {}", declared.code())]
    PriorityNotEligible { declared: PriorityReason },
}

impl RuleViolation {
    /// A stable snake_case name, for logs, counts and the screens' message keys.
    pub fn code(&self) -> &'static str {
        match self {
            RuleViolation::ActiveBooking { .. } => "active_booking",
            RuleViolation::Cooldown { .. } => "cooldown",
            RuleViolation::Blocked { .. } => "blocked",
            RuleViolation::AlreadyInGroup => "already_in_group",
            RuleViolation::FamilyLimit => "family_limit",
            RuleViolation::GroupFull => "group_full",
            RuleViolation::PriorityNotEligible { .. } => "priority_not_eligible",
        }
    }
}

/// Unserved = not rejected, not cancelled and its visit date is today or later (the kiosk
/// cannot see service; the central service's blocklist covers the rest). Active booking is
/// reported before cooldown.
///
/// The cooldown runs from the latest `created_on` of a booking that was not rejected
/// (cancelled ones included): a registration made on day D blocks D ..= D+29, and D+30 is
/// free again.
pub fn check_history(history: &[PastBooking], today: NaiveDate) -> Result<(), RuleViolation> {
    let standing = || history.iter().filter(|b| !b.rejected);
    if let Some(visit_date) = standing()
        .filter(|b| !b.cancelled)
        .map(|b| b.visit_date)
        .filter(|&v| v >= today)
        .min()
    {
        return Err(RuleViolation::ActiveBooking { visit_date });
    }
    if let Some(last) = standing().map(|b| b.created_on).max() {
        let until = add_days(last, COOLDOWN_DAYS.unsigned_abs());
        if today < until {
            return Err(RuleViolation::Cooldown { until });
        }
    }
    Ok(())
}

/// `blocked_until` is the blocklist's entry for this NIK: the last day it stays blocked.
pub fn check_blocklist(
    blocked_until: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(), RuleViolation> {
    match blocked_until {
        Some(last) if today <= last => Err(RuleViolation::Blocked {
            until: add_days(last, 1),
        }),
        _ => Ok(()),
    }
}

/// `date + days`, saturating at chrono's last date: only a date hundreds of millennia out
/// could overflow, and staying blocked is the safe answer there.
fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// Adding `new` to a group that has `members` (NIK string, KK number if known).
///
/// Checked in this order: the same NIK twice, then the family card's limit (the rule the
/// service names, `family_limit`), then the group's size. Applicants whose KK number is
/// not known count towards the group's size only.
pub fn check_group_add(
    members: &[(&str, Option<&str>)],
    new: (&str, Option<&str>),
) -> Result<(), RuleViolation> {
    let (new_nik, new_kk) = new;
    if members.iter().any(|&(nik, _)| nik == new_nik) {
        return Err(RuleViolation::AlreadyInGroup);
    }
    if let Some(kk) = new_kk {
        let same_card = members.iter().filter(|&&(_, m)| m == Some(kk)).count();
        if same_card >= MAX_FROM_ONE_KK {
            return Err(RuleViolation::FamilyLimit);
        }
    }
    if members.len() >= MAX_GROUP_SIZE {
        return Err(RuleViolation::GroupFull);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PriorityReason::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn ages_count_full_years() {
        let cases = [
            (d(1990, 8, 17), d(2026, 8, 16), 35),
            (d(1990, 8, 17), d(2026, 8, 17), 36),
            (d(1990, 8, 17), d(2026, 8, 18), 36),
            (d(1990, 8, 17), d(1990, 8, 17), 0),
            (d(1990, 8, 17), d(1980, 1, 1), 0),
            // Born 29 February: a year older on 1 March in common years...
            (d(2000, 2, 29), d(2001, 2, 28), 0),
            (d(2000, 2, 29), d(2001, 3, 1), 1),
            (d(2000, 2, 29), d(2026, 2, 28), 25),
            (d(2000, 2, 29), d(2026, 3, 1), 26),
            // ...and on the day itself in leap years.
            (d(2000, 2, 29), d(2028, 2, 28), 27),
            (d(2000, 2, 29), d(2028, 2, 29), 28),
            (d(1904, 2, 29), d(2000, 2, 29), 96),
            (d(1904, 2, 29), d(2000, 2, 28), 95),
            (d(1999, 12, 31), d(2000, 1, 1), 0),
            (d(1999, 12, 31), d(2000, 12, 31), 1),
        ];
        for (birth, on, want) in cases {
            assert_eq!(age_on(birth, on), want, "born {birth} on {on}");
        }
    }

    #[test]
    fn age_gives_priority_at_60_and_below_5() {
        let on = d(2026, 11, 22);
        let cases = [
            // The 60th birthday itself.
            (d(1966, 11, 22), Some(Elderly)),
            (d(1966, 11, 23), None),
            (d(1930, 1, 1), Some(Elderly)),
            // The day before the 5th birthday, and the birthday.
            (d(2021, 11, 23), Some(ChildUnder5)),
            (d(2021, 11, 22), None),
            (d(2026, 11, 22), Some(ChildUnder5)),
            (d(1990, 8, 17), None),
        ];
        for (birth, want) in cases {
            assert_eq!(priority_by_age(birth, on), want, "born {birth}");
        }
        // A 29 February child turns 5 on 1 March of a common year.
        assert_eq!(
            priority_by_age(d(2024, 2, 29), d(2029, 2, 28)),
            Some(ChildUnder5)
        );
        assert_eq!(priority_by_age(d(2024, 2, 29), d(2029, 3, 1)), None);
    }

    #[test]
    fn a_declared_reason_stands_only_if_the_applicant_can_hold_it() {
        let on = d(2026, 11, 22);
        let adult = d(1990, 8, 17);
        let sixty = d(1966, 11, 22);
        let almost_sixty = d(1966, 11, 23);
        let toddler = d(2024, 1, 1);
        let five = d(2021, 11, 22);
        let bad = |declared| Err(RuleViolation::PriorityNotEligible { declared });
        let cases = [
            (None, adult, Sex::Female, Ok(None)),
            (None, sixty, Sex::Male, Ok(Some(Elderly))),
            (None, toddler, Sex::Male, Ok(Some(ChildUnder5))),
            (Some(Pregnant), adult, Sex::Female, Ok(Some(Pregnant))),
            (Some(Pregnant), adult, Sex::Male, bad(Pregnant)),
            (Some(Disabled), adult, Sex::Male, Ok(Some(Disabled))),
            // A declared reason wins over the age's own.
            (Some(Disabled), sixty, Sex::Female, Ok(Some(Disabled))),
            (Some(Pregnant), sixty, Sex::Female, Ok(Some(Pregnant))),
            (Some(Elderly), sixty, Sex::Male, Ok(Some(Elderly))),
            (Some(Elderly), almost_sixty, Sex::Male, bad(Elderly)),
            (
                Some(ChildUnder5),
                toddler,
                Sex::Female,
                Ok(Some(ChildUnder5)),
            ),
            (Some(ChildUnder5), five, Sex::Female, bad(ChildUnder5)),
            (Some(ChildUnder5), sixty, Sex::Female, bad(ChildUnder5)),
            (Some(Elderly), toddler, Sex::Female, bad(Elderly)),
        ];
        for (declared, birth, sex, want) in cases {
            assert_eq!(
                priority(declared, birth, sex, on),
                want,
                "{declared:?} {birth} {sex:?}"
            );
        }
    }

    fn booked(visit_date: NaiveDate, created_on: NaiveDate) -> PastBooking {
        PastBooking {
            visit_date,
            created_on,
            rejected: false,
            cancelled: false,
        }
    }

    #[test]
    fn a_cancelled_booking_frees_the_one_booking_rule_but_not_the_cooldown() {
        let today = d(2026, 11, 22);
        let cancelled = |visit_date, created_on| PastBooking {
            cancelled: true,
            ..booked(visit_date, created_on)
        };
        let cases: Vec<(Vec<PastBooking>, Result<(), RuleViolation>)> = vec![
            // Made long ago, cancelled: nothing holds.
            (vec![cancelled(d(2026, 12, 3), d(2026, 9, 1))], Ok(())),
            // Made within 30 days, cancelled: the cooldown from its creation holds.
            (
                vec![cancelled(d(2026, 12, 3), d(2026, 11, 20))],
                Err(RuleViolation::Cooldown {
                    until: d(2026, 12, 20),
                }),
            ),
            // A cancelled booking beside a standing one: the standing one is named.
            (
                vec![
                    cancelled(d(2026, 11, 25), d(2026, 9, 1)),
                    booked(d(2026, 12, 3), d(2026, 9, 2)),
                ],
                Err(RuleViolation::ActiveBooking {
                    visit_date: d(2026, 12, 3),
                }),
            ),
        ];
        for (history, want) in cases {
            assert_eq!(check_history(&history, today), want, "{history:?}");
        }
    }

    #[test]
    fn history_refuses_an_unserved_booking_then_the_cooldown() {
        let today = d(2026, 11, 22);
        let rejected = |visit_date, created_on| PastBooking {
            rejected: true,
            ..booked(visit_date, created_on)
        };
        let cases: Vec<(Vec<PastBooking>, Result<(), RuleViolation>)> = vec![
            (vec![], Ok(())),
            // Visit today: not served yet, as far as the kiosk can tell.
            (
                vec![booked(today, d(2026, 9, 1))],
                Err(RuleViolation::ActiveBooking { visit_date: today }),
            ),
            // Visit yesterday, made long ago: neither active nor cooling down.
            (vec![booked(d(2026, 11, 21), d(2026, 9, 1))], Ok(())),
            // Visit yesterday, made within 30 days: the cooldown holds.
            (
                vec![booked(d(2026, 11, 21), d(2026, 11, 10))],
                Err(RuleViolation::Cooldown {
                    until: d(2026, 12, 10),
                }),
            ),
            // Made 29 days ago: today is the cooldown's last blocked day.
            (
                vec![booked(d(2026, 10, 30), d(2026, 10, 24))],
                Err(RuleViolation::Cooldown {
                    until: d(2026, 11, 23),
                }),
            ),
            // Made 30 days ago: today is the first free day.
            (vec![booked(d(2026, 10, 30), d(2026, 10, 23))], Ok(())),
            // Active booking wins over the cooldown, and the earliest visit is named.
            (
                vec![
                    booked(d(2026, 12, 3), d(2026, 11, 20)),
                    booked(d(2026, 11, 25), d(2026, 11, 19)),
                ],
                Err(RuleViolation::ActiveBooking {
                    visit_date: d(2026, 11, 25),
                }),
            ),
            // Rejected bookings count for nothing, active or recent.
            (vec![rejected(d(2026, 12, 3), d(2026, 11, 20))], Ok(())),
            (
                vec![
                    rejected(d(2026, 12, 3), d(2026, 11, 20)),
                    booked(d(2026, 9, 3), d(2026, 9, 1)),
                ],
                Ok(()),
            ),
            // The latest registration sets the cooldown, whatever the order given.
            (
                vec![
                    booked(d(2026, 11, 20), d(2026, 11, 1)),
                    booked(d(2026, 9, 3), d(2026, 9, 1)),
                ],
                Err(RuleViolation::Cooldown {
                    until: d(2026, 12, 1),
                }),
            ),
        ];
        for (history, want) in cases {
            assert_eq!(check_history(&history, today), want, "{history:?}");
        }
    }

    #[test]
    fn the_blocklist_blocks_through_its_last_day() {
        let cases = [
            (None, d(2026, 11, 22), Ok(())),
            (
                Some(d(2026, 11, 22)),
                d(2026, 11, 22),
                Err(RuleViolation::Blocked {
                    until: d(2026, 11, 23),
                }),
            ),
            (
                Some(d(2026, 12, 21)),
                d(2026, 11, 22),
                Err(RuleViolation::Blocked {
                    until: d(2026, 12, 22),
                }),
            ),
            (Some(d(2026, 11, 21)), d(2026, 11, 22), Ok(())),
        ];
        for (until, today, want) in cases {
            assert_eq!(check_blocklist(until, today), want, "{until:?} {today}");
        }
    }

    /// A group member as `check_group_add` takes it: NIK, and KK number if known.
    type Member<'a> = (&'a str, Option<&'a str>);

    #[test]
    fn groups_take_five_and_five_from_one_card() {
        const KK: Option<&str> = Some("2102011203150007");
        const OTHER_KK: Option<&str> = Some("2102011203150008");
        let niks = [
            "2102015708900001",
            "2102015708900002",
            "2102015708900003",
            "2102015708900004",
            "2102015708900005",
            "2102015708900006",
        ];
        let family = |n: usize| -> Vec<(&str, Option<&str>)> {
            niks[..n].iter().map(|&nik| (nik, KK)).collect()
        };
        let mixed: Vec<(&str, Option<&str>)> = vec![
            (niks[0], KK),
            (niks[1], OTHER_KK),
            (niks[2], None),
            (niks[3], KK),
            (niks[4], None),
        ];
        let cases: Vec<(Vec<Member>, Member, Result<(), RuleViolation>)> = vec![
            (vec![], (niks[0], KK), Ok(())),
            (vec![], (niks[0], None), Ok(())),
            // The 5th from one card is fine, the 6th is not.
            (family(4), (niks[4], KK), Ok(())),
            (family(5), (niks[5], KK), Err(RuleViolation::FamilyLimit)),
            // A group of 5 takes no one more, from any card or none.
            (
                family(5),
                (niks[5], OTHER_KK),
                Err(RuleViolation::GroupFull),
            ),
            (family(5), (niks[5], None), Err(RuleViolation::GroupFull)),
            (mixed.clone(), (niks[5], KK), Err(RuleViolation::GroupFull)),
            (mixed[..4].to_vec(), (niks[5], KK), Ok(())),
            // The same NIK twice, whatever its card says this time.
            (family(2), (niks[1], KK), Err(RuleViolation::AlreadyInGroup)),
            (
                family(2),
                (niks[1], None),
                Err(RuleViolation::AlreadyInGroup),
            ),
            (family(5), (niks[0], KK), Err(RuleViolation::AlreadyInGroup)),
        ];
        for (members, new, want) in cases {
            assert_eq!(
                check_group_add(&members, new),
                want,
                "{} + {new:?}",
                members.len()
            );
        }
    }

    #[test]
    fn violations_have_distinct_codes_and_name_no_one() {
        let all = [
            RuleViolation::ActiveBooking {
                visit_date: d(2026, 11, 25),
            },
            RuleViolation::Cooldown {
                until: d(2026, 12, 10),
            },
            RuleViolation::Blocked {
                until: d(2026, 12, 22),
            },
            RuleViolation::AlreadyInGroup,
            RuleViolation::FamilyLimit,
            RuleViolation::GroupFull,
            RuleViolation::PriorityNotEligible {
                declared: ChildUnder5,
            },
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(RuleViolation::code).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(all[0].code(), "active_booking");
        assert_eq!(
            all[6].to_string(),
            "the applicant cannot hold the priority reason child_under_5"
        );
        assert_eq!(
            all[1].to_string(),
            "this NIK registered less than 30 days ago; it may register again from 2026-12-10"
        );
    }
}
