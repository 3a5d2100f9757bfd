//! Queries of the maintenance side: the tickets a technician picks a reprint from, the
//! last ticket printed, the numbers a technician gives back for one office and day, and
//! the upload queue's figures for the diagnostics bundle. Like every query here, they
//! make no decision; `maint` does.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, parse_date, parse_kind, parse_ts};
use crate::domain::QueueNumber;
use crate::protocol::central::Release;

/// A ticket as the maintenance menu lists it. The masked NIK is for the technician's
/// screen only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLine {
    pub registration_id: String,
    pub queue_number: QueueNumber,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub printed_at: Option<DateTime<Utc>>,
    pub masked_nik: String,
}

/// The upload queue for the diagnostics bundle: depth, attempts and the errors met,
/// counted (the errors are the sync's own messages, with no personal data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueFigures {
    pub queued: u32,
    pub never_tried: u32,
    pub max_attempts: u32,
    pub errors: Vec<(String, u32)>,
}

impl Store {
    /// The `limit` tickets printed (or made) last, newest first.
    pub fn recent_tickets(&self, limit: u32) -> Result<Vec<TicketLine>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT registration_id, kind, queue_number, office_id, date, session_id,
                    printed_at, masked_nik
             FROM registrations
             ORDER BY COALESCE(printed_at, created_at) DESC, position DESC
             LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (registration_id, kind, number, office_id, date, session_id, printed, masked) =
                row?;
            Ok(TicketLine {
                registration_id,
                queue_number: QueueNumber {
                    kind: parse_kind(&kind)?,
                    number,
                },
                office_id,
                date: parse_date(&date)?,
                session_id,
                printed_at: printed.map(|t| parse_ts(&t)).transpose()?,
                masked_nik: masked,
            })
        })
        .collect()
    }

    /// The registration id of the ticket printed last, if any was.
    pub fn last_printed(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT registration_id FROM registrations WHERE printed_at IS NOT NULL
                 ORDER BY printed_at DESC, position DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Takes the free numbers of `office_id` on `date` out of booking for good and
    /// queues their release ([`Store::queue_releases`]): a booking can no longer take
    /// one while the central service is being told, nor after, whatever it answers.
    /// Returns every release now waiting, this day's among them.
    pub fn reserve_for_release(
        &mut self,
        office_id: &str,
        date: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<(usize, Vec<Release>), StoreError> {
        let free: Vec<Release> = {
            let mut st = self.conn.prepare(
                "SELECT allocation_id, number FROM held_numbers
                 WHERE office_id = ?1 AND date = ?2 AND registration_id IS NULL AND released = 0
                 ORDER BY allocation_id, number",
            )?;
            let rows = st.query_map(params![office_id, date.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
            })?;
            super::by_allocation(rows)?
        };
        let queued = self.queue_releases(&free, at)?;
        Ok((queued, self.queued_releases()?))
    }

    pub fn queue_figures(&self) -> Result<QueueFigures, StoreError> {
        let (queued, never_tried, max_attempts): (u32, u32, u32) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(attempts = 0), 0), COALESCE(MAX(attempts), 0)
             FROM upload_queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut st = self.conn.prepare(
            "SELECT last_error, COUNT(*) FROM upload_queue WHERE last_error IS NOT NULL
             GROUP BY last_error ORDER BY COUNT(*) DESC",
        )?;
        let errors = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(QueueFigures {
            queued,
            never_tried,
            max_attempts,
            errors,
        })
    }

    /// Deletes a `kv` key (a setting or hold lifted).
    pub fn kv_delete(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM kv WHERE key = ?1", [key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::QueueKind;
    use crate::store::HeldAllocation;

    fn held(store: &mut Store, allocation: &str, date: &str, numbers: &[u32]) {
        store
            .add_held(&HeldAllocation {
                allocation_id: allocation.into(),
                office_id: "KRM".into(),
                date: date.parse().expect("date"),
                session_id: "S1".into(),
                kind: QueueKind::Regular,
                numbers: numbers.to_vec(),
            })
            .expect("held");
    }

    #[test]
    fn numbers_reserved_for_release_leave_booking_for_good() {
        let mut store = Store::open_in_memory().expect("store");
        held(&mut store, "a1", "2026-12-02", &[1, 2]);
        held(&mut store, "a2", "2026-12-02", &[7]);
        held(&mut store, "a3", "2026-12-03", &[4]);
        let day: NaiveDate = "2026-12-02".parse().expect("date");
        let at = "2026-12-01T01:00:00Z".parse().expect("time");
        let free = |s: &Store| -> u32 {
            s.held_counts(day)
                .expect("counts")
                .iter()
                .filter(|h| h.date == day)
                .map(|h| h.free)
                .sum()
        };
        assert_eq!(free(&store), 3);
        let release = |a: &str, numbers: &[u32]| Release {
            allocation_id: a.into(),
            numbers: numbers.to_vec(),
        };
        let (queued, waiting) = store.reserve_for_release("KRM", day, at).expect("reserved");
        assert_eq!(queued, 3);
        assert_eq!(waiting, vec![release("a1", &[1, 2]), release("a2", &[7])]);
        assert_eq!(free(&store), 0, "no booking can take them now");
        assert_eq!(
            store.reserve_for_release("KRM", day, at).expect("again"),
            (0, waiting.clone()),
            "taken once, still waiting for the answer"
        );
        // A failed send keeps them queued and out of booking.
        store
            .note_release_failure(&waiting, "connection reset")
            .expect("noted");
        assert_eq!(free(&store), 0);
        assert_eq!(store.queued_releases().expect("queue"), waiting);
        store.releases_answered(&waiting).expect("answered");
        assert_eq!(store.queued_releases().expect("queue"), vec![]);
        assert_eq!(free(&store), 0, "given back, never booked again");
        // The other day was never touched.
        let next: NaiveDate = "2026-12-03".parse().expect("date");
        assert_eq!(store.held_counts(next).expect("counts")[0].free, 1);
    }

    #[test]
    fn a_release_queued_for_a_past_day_is_dropped_with_it() {
        let mut store = Store::open_in_memory().expect("store");
        held(&mut store, "a1", "2026-12-02", &[1]);
        held(&mut store, "a2", "2026-12-03", &[2]);
        let at = "2026-12-01T01:00:00Z".parse().expect("time");
        let give = [
            Release {
                allocation_id: "a1".into(),
                numbers: vec![1],
            },
            Release {
                allocation_id: "a2".into(),
                numbers: vec![2],
            },
        ];
        assert_eq!(store.queue_releases(&give, at).expect("queued"), 2);
        store
            .drop_past_numbers("2026-12-03".parse().expect("date"))
            .expect("dropped");
        assert_eq!(store.queued_releases().expect("queue"), give[1..].to_vec());
    }

    #[test]
    fn kv_delete_and_empty_lists() {
        let mut store = Store::open_in_memory().expect("store");
        store.kv_set("maint.x", "1").expect("set");
        store.kv_delete("maint.x").expect("delete");
        assert_eq!(store.kv_get("maint.x").expect("get"), None);
        assert_eq!(store.last_printed().expect("last"), None);
        assert!(store.recent_tickets(5).expect("recent").is_empty());
        let q = store.queue_figures().expect("figures");
        assert_eq!(q, QueueFigures::default());
    }
}
