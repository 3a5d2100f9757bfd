//! The idle screen's places at this kiosk: the free numbers it holds for today at each
//! of its offices and the first later day it holds any for, counted in the store and
//! published on the panel.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::SharedClock;
use crate::domain::QueueKind;
use crate::domain::calendar::{self, DayStatus, Office};
use crate::frontend::{OfficeToday, PanelState};
use crate::store::writer::StoreHandle;
use crate::store::{HeldCount, StoreError};
use crate::sync::SyncStatus;

/// How often the idle screen's "places left today" is counted again.
const TODAY_EVERY: Duration = Duration::from_secs(30);

/// What the count needs.
pub(super) struct TodayParts {
    pub(super) store: StoreHandle,
    pub(super) panel: watch::Sender<Arc<PanelState>>,
    pub(super) synced: watch::Receiver<SyncStatus>,
    /// Notified when a booking was committed or the offices changed.
    pub(super) recount: Arc<Notify>,
    pub(super) clock: SharedClock,
}

/// Keeps the idle screen's count of today's free numbers per office up to date.
/// Counts again every [`TODAY_EVERY`], after each sync round, and when `recount` is
/// notified.
pub(super) async fn publish_today(
    mut parts: TodayParts,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut every = tokio::time::interval(TODAY_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sync_open = true;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = every.tick() => {}
            _ = parts.recount.notified() => {}
            r = parts.synced.changed(), if sync_open => sync_open = r.is_ok(),
        }
        let now = parts.clock.now();
        match parts.store.run(move |s| count_today(s, now)).await {
            Ok((date, today)) => publish(&parts.panel, date, today),
            Err(e) => tracing::warn!(error = %e, "cannot count today's free numbers"),
        }
    }
}

/// The earliest "today" of the kiosk's offices, and each office's free numbers on its
/// own today; nothing before the offices are known.
fn count_today(
    s: &mut crate::store::Store,
    now: DateTime<Utc>,
) -> Result<(Option<NaiveDate>, Vec<OfficeToday>), StoreError> {
    let offices = s.offices()?;
    if offices.is_empty() {
        return Ok((None, Vec::new()));
    }
    let from = calendar::earliest_today(&offices, now);
    let counts = s.held_counts(from)?;
    let today = offices
        .iter()
        .map(|o| office_today(o, &counts, now))
        .collect();
    Ok((Some(from), today))
}

/// One office's line: today's free numbers, counted only in the sessions that can still
/// be booked (a morning session's leftovers are no use to someone reading the screen
/// at noon), and the first later day with any, so that a full today does not send
/// people away when the coming days are open. From what the kiosk holds only: the
/// screen never waits on the network.
fn office_today(office: &Office, counts: &[HeldCount], now: DateTime<Utc>) -> OfficeToday {
    let today = office.today(now);
    let bookable = |c: &HeldCount| {
        c.office_id == office.id
            && c.free > 0
            && office
                .session(&c.session_id)
                .is_some_and(|s| office.session_bookable(c.date, s, now))
    };
    let mut t = OfficeToday {
        office_name: office.name.clone(),
        open_today: office.day_status(today, now) == DayStatus::Open,
        regular_left: 0,
        priority_left: 0,
        next_day: None,
    };
    for c in counts.iter().filter(|c| c.date == today && bookable(c)) {
        match c.kind {
            QueueKind::Regular => t.regular_left += c.free,
            QueueKind::Priority => t.priority_left += c.free,
        }
    }
    t.next_day = counts
        .iter()
        .filter(|c| c.date > today && bookable(c))
        .map(|c| c.date)
        .min();
    t
}

/// Publishes the count; only a change wakes the screen.
fn publish(
    panel: &watch::Sender<Arc<PanelState>>,
    date: Option<NaiveDate>,
    today: Vec<OfficeToday>,
) {
    panel.send_if_modified(|p| {
        if p.today_date == date && p.today == today {
            return false;
        }
        let mut next = PanelState::clone(p);
        next.today_date = date;
        next.today = today;
        *p = Arc::new(next);
        true
    });
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default()
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

    /// Tuesday 1 December 2026 at `hour` WIB.
    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour - 7, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn a_full_today_names_the_first_later_day_with_room() {
        let office = calendar::example_office();
        let counts = [
            held(d(12, 1), "S1", QueueKind::Regular, 0),
            // Saturday: not a working day, whatever is held.
            held(d(12, 5), "S1", QueueKind::Regular, 3),
            held(d(12, 8), "S2", QueueKind::Priority, 2),
            held(d(12, 3), "S3", QueueKind::Regular, 1),
            // Another office's numbers count for that office only.
            HeldCount {
                office_id: "BTM".into(),
                ..held(d(12, 2), "S1", QueueKind::Regular, 9)
            },
        ];
        let t = office_today(&office, &counts, at(9));
        assert_eq!((t.regular_left, t.priority_left), (0, 0));
        assert!(t.open_today);
        assert_eq!(t.next_day, Some(d(12, 3)));
    }

    #[test]
    fn today_counts_only_the_sessions_that_can_still_be_booked() {
        let office = calendar::example_office();
        let counts = [
            held(d(12, 1), "S1", QueueKind::Regular, 5),
            held(d(12, 1), "S3", QueueKind::Regular, 2),
            held(d(12, 1), "S3", QueueKind::Priority, 1),
        ];
        let morning = office_today(&office, &counts, at(9));
        assert_eq!((morning.regular_left, morning.priority_left), (7, 1));
        // 12:00: the 08.00 to 10.00 session is over, its numbers are no use now.
        let noon = office_today(&office, &counts, at(12));
        assert_eq!((noon.regular_left, noon.priority_left), (2, 1));
        // 15:00: nothing left to book today, and nothing held for later.
        let late = office_today(&office, &counts, at(15));
        assert_eq!(
            (late.regular_left, late.priority_left, late.next_day),
            (0, 0, None)
        );
    }

    #[test]
    fn a_day_the_office_is_closed_says_so() {
        let office = calendar::example_office();
        // Saturday 5 December, 09:00 WIB.
        let saturday = at(9) + chrono::TimeDelta::days(4);
        let counts = [held(d(12, 7), "S1", QueueKind::Regular, 4)];
        let t = office_today(&office, &counts, saturday);
        assert!(!t.open_today);
        assert_eq!(t.next_day, Some(d(12, 7)));
    }
}
