//! What numbers to ask the central service for, decided from what the kiosk holds: a
//! pure function, so that the policy is tested by tables and the sync loop only performs
//! it.
//!
//! The policy: for each office the kiosk serves, each bookable date in the next
//! `hold_days`, each session still open for booking and each kind, keep at least
//! `low` free numbers, topping up to `target` when below. A slot the service denied
//! recently (quota exhausted, closed, outside the window) is not asked again until the
//! denial has aged, so a full day costs one request per denial period, not one per sync.
//!
//! Releases ([`plan_releases`]): only dates close at hand (today and tomorrow in the
//! office's zone) are weighed, since a number held for later may still be used. For each
//! (office, date, session, kind) the kiosk keeps the larger of `target` and its expected
//! use, which is the busiest single day of its own bookings for that office, session and
//! kind over the last [`RECENT_DAYS`] days: a peak, not an average, because a kiosk that
//! gave back too much cannot get it again while offline. A session that can no longer be
//! booked (ended, or past the same-day cut-off, or its day closed) keeps nothing. The
//! highest numbers go back, as booking takes the lowest. An office the kiosk no longer
//! knows is left alone: its numbers lapse with their date.
//!
//! The guardrail ([`guardrail`]): past either limit the kiosk stops taking new bookings;
//! which limit is named, so the screen and the technician can say why.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::domain::QueueKind;
use crate::domain::calendar::Office;
pub use crate::flow::Guardrail;
use crate::store::HeldCount;
use crate::store::sync::{FreeNumber, QueueState, RecentUse};

/// Low-water mark and target for one kind of number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub low: u32,
    pub target: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannerConfig {
    /// How many days ahead (today counted) the kiosk holds numbers.
    pub hold_days: u32,
    pub regular: Levels,
    pub priority: Levels,
}

impl PlannerConfig {
    /// From the config file's `sync.low_water` and `sync.target`, which are for regular
    /// numbers. Priority applicants are about a fifth of a day's quota (4 of 20 a session
    /// at Tanjung Balai Karimun), so the kiosk holds a quarter as many of them, at least 1.
    pub fn from_levels(hold_days: u32, low_water: u32, target: u32) -> PlannerConfig {
        let target = target.max(1);
        let low = low_water.min(target);
        PlannerConfig {
            hold_days,
            regular: Levels { low, target },
            priority: Levels {
                low: low.div_ceil(4).max(1),
                target: target.div_ceil(4).max(1),
            },
        }
    }

    fn levels(&self, kind: QueueKind) -> Levels {
        match kind {
            QueueKind::Regular => self.regular,
            QueueKind::Priority => self.priority,
        }
    }
}

/// One slot of numbers: (office, date, session, kind).
pub type Slot = (String, NaiveDate, String, QueueKind);

/// A request the sync loop sends as one entry of `POST /v1/allocations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub count: u32,
}

/// How long a denial keeps the planner from asking again.
pub const DENIAL_HOLD: TimeDelta = TimeDelta::minutes(15);

/// The top-ups to ask for now. `denied` are the slots denied within [`DENIAL_HOLD`].
pub fn plan_allocations(
    offices: &[Office],
    held: &[HeldCount],
    denied: &HashSet<Slot>,
    now: DateTime<Utc>,
    cfg: &PlannerConfig,
) -> Vec<Want> {
    offices
        .iter()
        .flat_map(|office| held_slots(office, now, cfg))
        .filter(|slot| !denied.contains(slot))
        .filter_map(|slot| top_up(slot, held, cfg))
        .collect()
}

/// Every slot the kiosk keeps numbers for at `office`: each kind of each session still
/// bookable on the next `hold_days` bookable days.
fn held_slots(office: &Office, now: DateTime<Utc>, cfg: &PlannerConfig) -> Vec<Slot> {
    let today = office.today(now);
    let last = today + TimeDelta::days(i64::from(cfg.hold_days.max(1)) - 1);
    let mut slots = Vec::new();
    for date in office
        .bookable_dates(now)
        .into_iter()
        .filter(|d| *d <= last)
    {
        for session in office
            .sessions
            .iter()
            .filter(|s| office.session_bookable(date, s, now))
        {
            for kind in QueueKind::ALL {
                slots.push((office.id.clone(), date, session.id.clone(), kind));
            }
        }
    }
    slots
}

/// What to ask for `slot`: up to the target when its free numbers are below the low
/// level.
fn top_up(slot: Slot, held: &[HeldCount], cfg: &PlannerConfig) -> Option<Want> {
    let (office_id, date, session_id, kind) = slot;
    let free = held
        .iter()
        .find(|h| {
            h.office_id == office_id
                && h.date == date
                && h.session_id == session_id
                && h.kind == kind
        })
        .map_or(0, |h| h.free);
    let levels = cfg.levels(kind);
    (free < levels.low).then(|| Want {
        office_id,
        date,
        session_id,
        kind,
        count: levels.target - free,
    })
}

/// How many days of its own bookings the kiosk weighs to estimate its use of a slot.
pub const RECENT_DAYS: u32 = 14;

/// Releases are weighed for today and this many days after it.
pub const RELEASE_HORIZON_DAYS: u32 = 1;

/// Numbers of one allocation to give back (`POST /v1/allocations/release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveBack {
    pub allocation_id: String,
    /// Ascending.
    pub numbers: Vec<u32>,
}

/// What to give back now: see the module comment for the policy. `free` are the free
/// numbers held for the dates at hand, `recent` the kiosk's recent peaks.
pub fn plan_releases(
    offices: &[Office],
    free: &[FreeNumber],
    recent: &[RecentUse],
    now: DateTime<Utc>,
    cfg: &PlannerConfig,
) -> Vec<GiveBack> {
    // (office, date, session, kind) -> (number, allocation) of its free numbers.
    type SlotOf<'a> = (&'a str, NaiveDate, &'a str, QueueKind);
    let mut slots: BTreeMap<SlotOf<'_>, Vec<(u32, &str)>> = BTreeMap::new();
    for f in free {
        slots
            .entry((&f.office_id, f.date, &f.session_id, f.kind))
            .or_default()
            .push((f.number, &f.allocation_id));
    }
    let mut back: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for ((office_id, date, session_id, kind), mut numbers) in slots {
        let Some(office) = offices.iter().find(|o| o.id == office_id) else {
            continue;
        };
        let today = office.today(now);
        if date < today || date > today + TimeDelta::days(i64::from(RELEASE_HORIZON_DAYS)) {
            continue;
        }
        let bookable = office
            .session(session_id)
            .is_some_and(|s| office.session_bookable(date, s, now));
        let keep = if bookable {
            let peak = recent
                .iter()
                .find(|r| r.office_id == office_id && r.session_id == session_id && r.kind == kind)
                .map_or(0, |r| r.peak_per_day);
            cfg.levels(kind).target.max(peak) as usize
        } else {
            0
        };
        if numbers.len() <= keep {
            continue;
        }
        numbers.sort_unstable();
        for (number, allocation_id) in numbers.drain(keep..) {
            back.entry(allocation_id).or_default().push(number);
        }
    }
    back.into_iter()
        .map(|(allocation_id, mut numbers)| {
            numbers.sort_unstable();
            GiveBack {
                allocation_id: allocation_id.to_owned(),
                numbers,
            }
        })
        .collect()
}

/// The limits past which the kiosk stops taking new bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardrailLimits {
    /// The oldest registration the service has not answered may be at most this old.
    pub max_unsynced_age: TimeDelta,
    /// At most this many registrations may wait for the service.
    pub max_unsynced: u32,
}

/// Why the kiosk must stop taking bookings, or `None` when it may go on. Age is checked
/// first: it is the one a technician can do least about from the kiosk.
pub fn guardrail(
    queue: &QueueState,
    now: DateTime<Utc>,
    limits: &GuardrailLimits,
) -> Option<Guardrail> {
    if queue
        .oldest_unsynced
        .is_some_and(|oldest| now - oldest > limits.max_unsynced_age)
    {
        return Some(Guardrail::SyncOverdue);
    }
    if queue.unsynced > limits.max_unsynced {
        return Some(Guardrail::SyncBacklog);
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    /// The spec's office with two sessions (S1 08-10, S3 13-15) and Thursday
    /// 26 November closed.
    fn office() -> Office {
        let mut o = crate::domain::calendar::example_office();
        o.sessions.retain(|s| s.id != "S2");
        o.closed_dates.insert(d(2026, 11, 26));
        o
    }

    fn held(date: NaiveDate, session: &str, kind: QueueKind, free: u32) -> HeldCount {
        HeldCount {
            office_id: "KRM".into(),
            date,
            session_id: session.into(),
            kind,
            free,
        }
    }

    /// Monday 23 November 2026, 12:00 WIB: S1 of today is over, S3 still bookable.
    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn levels_from_the_config_file() {
        let cfg = PlannerConfig::from_levels(7, 3, 8);
        assert_eq!(cfg.regular, Levels { low: 3, target: 8 });
        assert_eq!(cfg.priority, Levels { low: 1, target: 2 });
        let odd = PlannerConfig::from_levels(7, 9, 4);
        assert_eq!(
            odd.regular,
            Levels { low: 4, target: 4 },
            "low water never above target"
        );
    }

    #[test]
    fn tops_up_open_sessions_within_the_hold_days_only() {
        let cfg = PlannerConfig::from_levels(4, 3, 8);
        let wants = plan_allocations(&[office()], &[], &HashSet::new(), noon(), &cfg);
        let slots: Vec<(NaiveDate, &str, QueueKind, u32)> = wants
            .iter()
            .map(|w| (w.date, w.session_id.as_str(), w.kind, w.count))
            .collect();
        // Today: only S3 (S1 has ended). Tuesday and Wednesday: both sessions.
        // Thursday 26th is closed; Friday is past the 4 hold days.
        let mut want = vec![
            (d(2026, 11, 23), "S3", QueueKind::Regular, 8),
            (d(2026, 11, 23), "S3", QueueKind::Priority, 2),
        ];
        for day in [24, 25] {
            for s in ["S1", "S3"] {
                want.push((d(2026, 11, day), s, QueueKind::Regular, 8));
                want.push((d(2026, 11, day), s, QueueKind::Priority, 2));
            }
        }
        assert_eq!(slots, want);
    }

    #[test]
    fn asks_only_below_the_low_water_mark_and_not_after_a_denial() {
        let cfg = PlannerConfig::from_levels(2, 3, 8);
        let tue = d(2026, 11, 24);
        let holding = [
            held(tue, "S1", QueueKind::Regular, 3), // at the mark: enough
            held(tue, "S3", QueueKind::Regular, 2), // below: top up by 6
            held(tue, "S1", QueueKind::Priority, 1),
            held(tue, "S3", QueueKind::Priority, 1),
            held(d(2026, 11, 23), "S3", QueueKind::Priority, 5),
        ];
        let denied = HashSet::from([(
            "KRM".to_string(),
            d(2026, 11, 23),
            "S3".to_string(),
            QueueKind::Regular,
        )]);
        let wants = plan_allocations(&[office()], &holding, &denied, noon(), &cfg);
        assert_eq!(
            wants,
            vec![Want {
                office_id: "KRM".into(),
                date: tue,
                session_id: "S3".into(),
                kind: QueueKind::Regular,
                count: 6
            }]
        );
    }

    fn free(
        date: NaiveDate,
        session: &str,
        kind: QueueKind,
        alloc: &str,
        numbers: std::ops::RangeInclusive<u32>,
    ) -> Vec<FreeNumber> {
        numbers
            .map(|number| FreeNumber {
                office_id: "KRM".into(),
                date,
                session_id: session.into(),
                kind,
                number,
                allocation_id: alloc.into(),
            })
            .collect()
    }

    fn peak(session: &str, kind: QueueKind, peak_per_day: u32) -> RecentUse {
        RecentUse {
            office_id: "KRM".into(),
            session_id: session.into(),
            kind,
            peak_per_day,
        }
    }

    fn back(allocation_id: &str, numbers: &[u32]) -> GiveBack {
        GiveBack {
            allocation_id: allocation_id.into(),
            numbers: numbers.to_vec(),
        }
    }

    #[test]
    fn releases_only_the_surplus_of_dates_at_hand() {
        use QueueKind::{Priority, Regular};
        let cfg = PlannerConfig::from_levels(7, 3, 8);
        let (mon, tue, wed) = (d(2026, 11, 23), d(2026, 11, 24), d(2026, 11, 25));
        // (what, free numbers, recent peaks, what goes back). Monday noon: S1 is over.
        type Case<'a> = (&'a str, Vec<FreeNumber>, Vec<RecentUse>, Vec<GiveBack>);
        let cases: Vec<Case> = vec![
            ("nothing held", vec![], vec![], vec![]),
            (
                "a session that has ended gives back all",
                free(mon, "S1", Regular, "a-1", 5..=7),
                vec![peak("S1", Regular, 30)],
                vec![back("a-1", &[5, 6, 7])],
            ),
            (
                "today keeps target, the highest numbers go, across allocations",
                [
                    free(mon, "S3", Regular, "a-1", 1..=6),
                    free(mon, "S3", Regular, "a-2", 7..=12),
                ]
                .concat(),
                vec![],
                vec![back("a-2", &[9, 10, 11, 12])],
            ),
            (
                "at target: nothing",
                free(tue, "S1", Regular, "a-1", 1..=8),
                vec![],
                vec![],
            ),
            (
                "tomorrow keeps the recent peak when above target",
                free(tue, "S1", Regular, "a-1", 1..=12),
                vec![peak("S1", Regular, 10), peak("S3", Regular, 40)],
                vec![back("a-1", &[11, 12])],
            ),
            (
                "priority keeps its own target",
                free(tue, "S3", Priority, "p-1", 1..=3),
                vec![peak("S3", Regular, 40)],
                vec![back("p-1", &[3])],
            ),
            (
                "the day after tomorrow is not at hand",
                free(wed, "S1", Regular, "a-1", 1..=40),
                vec![],
                vec![],
            ),
            (
                "an office the kiosk no longer knows is left alone",
                free(tue, "S1", Regular, "a-1", 1..=40)
                    .into_iter()
                    .map(|mut f| {
                        f.office_id = "XXX".into();
                        f
                    })
                    .collect(),
                vec![],
                vec![],
            ),
        ];
        for (what, free, recent, want) in cases {
            let got = plan_releases(&[office()], &free, &recent, noon(), &cfg);
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn guardrail_names_the_limit_crossed() {
        let limits = GuardrailLimits {
            max_unsynced_age: TimeDelta::days(7),
            max_unsynced: 1000,
        };
        let now = noon();
        let q = |unsynced: u32, age_h: Option<i64>| QueueState {
            unsynced,
            oldest_unsynced: age_h.map(|h| now - TimeDelta::hours(h)),
            held_free: 0,
        };
        let cases = [
            ("empty queue", q(0, None), None),
            ("a day old", q(5, Some(24)), None),
            ("exactly seven days", q(5, Some(7 * 24)), None),
            (
                "over seven days",
                q(5, Some(7 * 24 + 1)),
                Some(Guardrail::SyncOverdue),
            ),
            ("at the count limit", q(1000, Some(1)), None),
            (
                "over the count limit",
                q(1001, Some(1)),
                Some(Guardrail::SyncBacklog),
            ),
            (
                "both: age first",
                q(5000, Some(30 * 24)),
                Some(Guardrail::SyncOverdue),
            ),
            (
                "clock set back: booking in the future",
                q(1, Some(-48)),
                None,
            ),
        ];
        for (what, queue, want) in cases {
            assert_eq!(guardrail(&queue, now, &limits), want, "{what}");
        }
    }
}
