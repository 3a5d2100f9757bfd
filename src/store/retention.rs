//! How long the store keeps what it keeps of an applicant, by the office's date and
//! whether or not the network is there (the sync's round is not needed for any of it):
//!
//! - the applicant record (full NIK, name, birth data) until the central service has
//!   answered for the registration (`record_results` clears it);
//! - the name and masked NIK printed on the ticket, for reprints, until the visit date
//!   has passed;
//! - the ticket's signed QR and the NIK's keyed hash, for the one-booking and 30-day
//!   rules ([`COOLDOWN_DAYS`]), until the visit date has passed and the 30 days since
//!   the booking are over: then the registration goes, with its number, and its group
//!   once it has none left. A registration the service has not answered stays whole:
//!   nothing is deleted before its result is stored (the spec).
//!
//! - a cancel or reschedule's stored answer until the visit date it concerned has
//!   passed; a change still queued for a visit more than [`COOLDOWN_DAYS`] past (the
//!   service has long forgotten the booking); the numbers bound to bookings found at
//!   the service (no registration here) once their date has passed and no change of
//!   theirs is queued.
//!
//! After a purge that changed anything the WAL is checkpointed and truncated
//! ([`Store::checkpoint`]), so that what was cleared leaves the disk. [`keep`] runs it
//! at start and every [`PURGE_EVERY`], never on a clock that cannot be right
//! (`clock::sanity`): a kiosk waking in 2031 must not clear what is due in 2026.

use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};

use super::writer::StoreHandle;
use super::{Store, StoreError};
use crate::clock::SharedClock;
use crate::domain::calendar::earliest_today;
use crate::domain::rules::COOLDOWN_DAYS;

/// How often the retention rules are applied while the daemon runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(15 * 60);

/// What one purge cleared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Registrations whose name and masked NIK were cleared.
    pub visits: usize,
    /// Registrations deleted whole (QR and keyed hash with them).
    pub registrations: usize,
    /// Change rows (answers, queued changes of long-past visits) deleted.
    pub changes: usize,
}

impl Store {
    /// Clears the name and masked NIK kept for reprints once the visit date has passed,
    /// answered by the service or not (the upload sends the applicant record, not these).
    pub fn purge_past_visits(&mut self, today: NaiveDate) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE registrations SET ticket_name = NULL, masked_nik = ''
             WHERE date < ?1 AND (ticket_name IS NOT NULL OR masked_nik != '')",
            [today.to_string()],
        )?)
    }

    /// Deletes the answered registrations that no rule needs any more: visit date past,
    /// and booked more than [`COOLDOWN_DAYS`] before `today`.
    pub fn purge_expired(&mut self, today: NaiveDate) -> Result<usize, StoreError> {
        let booked_before = (today - TimeDelta::days(COOLDOWN_DAYS)).to_string();
        let today = today.to_string();
        let tx = self.conn.transaction()?;
        let expired = "SELECT registration_id FROM registrations
             WHERE status != 'pending' AND date < ?1 AND created_on <= ?2";
        tx.execute(
            &format!("DELETE FROM held_numbers WHERE registration_id IN ({expired})"),
            [&today, &booked_before],
        )?;
        let deleted = tx.execute(
            "DELETE FROM registrations
             WHERE status != 'pending' AND date < ?1 AND created_on <= ?2",
            [&today, &booked_before],
        )?;
        tx.execute(
            "DELETE FROM groups WHERE NOT EXISTS
               (SELECT 1 FROM registrations r WHERE r.group_id = groups.group_id)",
            [],
        )?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Deletes what the change tables keep of past visits: answers of a past date,
    /// queued changes whose visit is more than [`COOLDOWN_DAYS`] past, and the numbers
    /// bound to found bookings (no registration here) of a past date with no change
    /// queued.
    pub fn purge_past_changes(&mut self, today: NaiveDate) -> Result<usize, StoreError> {
        let long_past = (today - TimeDelta::days(COOLDOWN_DAYS)).to_string();
        let today = today.to_string();
        let tx = self.conn.transaction()?;
        let mut deleted = tx.execute("DELETE FROM change_answers WHERE date < ?1", [&today])?;
        deleted += tx.execute("DELETE FROM change_queue WHERE date < ?1", [&long_past])?;
        tx.execute(
            "DELETE FROM held_numbers WHERE date < ?1 AND registration_id IS NOT NULL
               AND registration_id NOT IN (SELECT registration_id FROM registrations)
               AND registration_id NOT IN (SELECT registration_id FROM change_queue)",
            [&today],
        )?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Every purge, then a checkpoint if any cleared anything.
    pub fn apply_retention(&mut self, today: NaiveDate) -> Result<Purged, StoreError> {
        let purged = Purged {
            visits: self.purge_past_visits(today)?,
            registrations: self.purge_expired(today)?,
            changes: self.purge_past_changes(today)?,
        };
        if purged != Purged::default() {
            self.checkpoint()?;
        }
        Ok(purged)
    }
}

/// Applies the retention rules at start and every [`PURGE_EVERY`], by the earliest
/// "today" of the kiosk's offices (nothing is cleared before its day has passed at
/// every office), until `stopped`.
pub async fn keep(
    store: StoreHandle,
    clock: SharedClock,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = every.tick() => {}
        }
        let now = clock.now();
        let purged = store
            .run(move |s| {
                // A clock that cannot be right must not clear what is not due yet.
                let witnesses = crate::clock::Witnesses {
                    service_said: s.service_said()?,
                    skew: None,
                };
                if crate::clock::sanity(now, &witnesses).is_err() {
                    return Ok(Purged::default());
                }
                let today = earliest_today(&s.offices()?, now);
                s.apply_retention(today)
            })
            .await;
        match purged {
            Ok(p) if p != Purged::default() => {
                tracing::info!(
                    visits = p.visits,
                    registrations = p.registrations,
                    "retention: past visits cleared"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}
