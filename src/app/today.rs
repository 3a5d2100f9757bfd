//! The idle screen's "places left today": the free numbers this kiosk holds for today at
//! each of its offices, counted in the store and published on the panel.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::SharedClock;
use crate::domain::QueueKind;
use crate::domain::calendar::{self, Office};
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

fn office_today(office: &Office, counts: &[HeldCount], now: DateTime<Utc>) -> OfficeToday {
    let date = office.today(now);
    let mut t = OfficeToday {
        office_name: office.name.clone(),
        regular_left: 0,
        priority_left: 0,
    };
    for c in counts
        .iter()
        .filter(|c| c.office_id == office.id && c.date == date)
    {
        match c.kind {
            QueueKind::Regular => t.regular_left += c.free,
            QueueKind::Priority => t.priority_left += c.free,
        }
    }
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
