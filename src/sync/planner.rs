//! What numbers to ask the central service for, decided from what the kiosk holds: a
//! pure function, so that the policy is tested by tables and the sync loop only performs
//! it.
//!
//! The policy: for each office the kiosk serves, each bookable date in the next
//! `hold_days`, each session still open for booking and each kind, keep at least
//! `low` free numbers, topping up to `target` when below. A slot the service denied
//! recently (quota exhausted, closed, outside the window) is not asked again until the
//! denial has aged, so a full day costs one request per denial period, not one per sync.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::domain::QueueKind;
use crate::domain::calendar::Office;
use crate::store::HeldCount;

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
    let mut wants = Vec::new();
    for office in offices {
        let today = office.today(now);
        let last = today + TimeDelta::days(i64::from(cfg.hold_days.max(1)) - 1);
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
                    let slot: Slot = (office.id.clone(), date, session.id.clone(), kind);
                    if denied.contains(&slot) {
                        continue;
                    }
                    let free = held
                        .iter()
                        .find(|h| {
                            h.office_id == office.id
                                && h.date == date
                                && h.session_id == session.id
                                && h.kind == kind
                        })
                        .map_or(0, |h| h.free);
                    let levels = cfg.levels(kind);
                    if free < levels.low {
                        wants.push(Want {
                            office_id: office.id.clone(),
                            date,
                            session_id: session.id.clone(),
                            kind,
                            count: levels.target - free,
                        });
                    }
                }
            }
        }
    }
    wants
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
}
