//! Queries of the maintenance side: the tickets a technician picks a reprint from, the
//! last ticket printed, the numbers a technician gives back for one office and day, and
//! the upload queue's figures for the diagnostics bundle. Like every query here, they
//! make no decision; `maint` does.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, parse_date, parse_kind, parse_ts};
use crate::domain::QueueNumber;

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

    /// Takes the free numbers of `office_id` on `date` out of booking, marking them
    /// released, and returns them by allocation: a booking can no longer take one while
    /// the central service is being told. [`Store::unreserve`] puts them back if it
    /// could not be.
    pub fn reserve_for_release(
        &mut self,
        office_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<(String, Vec<u32>)>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut out: Vec<(String, Vec<u32>)> = Vec::new();
        {
            let mut st = tx.prepare(
                "SELECT allocation_id, number FROM held_numbers
                 WHERE office_id = ?1 AND date = ?2 AND registration_id IS NULL AND released = 0
                 ORDER BY allocation_id, number",
            )?;
            let rows = st.query_map(params![office_id, date.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
            })?;
            for row in rows {
                let (allocation, number) = row?;
                match out.last_mut() {
                    Some((a, numbers)) if *a == allocation => numbers.push(number),
                    _ => out.push((allocation, vec![number])),
                }
            }
        }
        tx.execute(
            "UPDATE held_numbers SET released = 1
             WHERE office_id = ?1 AND date = ?2 AND registration_id IS NULL AND released = 0",
            params![office_id, date.to_string()],
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Gives back to booking numbers [`Store::reserve_for_release`] took.
    pub fn unreserve(&mut self, taken: &[(String, Vec<u32>)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (allocation, numbers) in taken {
            for n in numbers {
                tx.execute(
                    "UPDATE held_numbers SET released = 0
                     WHERE allocation_id = ?1 AND number = ?2 AND registration_id IS NULL",
                    params![allocation, n],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
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
    fn numbers_reserved_for_release_leave_booking_and_can_come_back() {
        let mut store = Store::open_in_memory().expect("store");
        held(&mut store, "a1", "2026-12-02", &[1, 2]);
        held(&mut store, "a2", "2026-12-02", &[7]);
        held(&mut store, "a3", "2026-12-03", &[4]);
        let day: NaiveDate = "2026-12-02".parse().expect("date");
        let free = |s: &Store| -> u32 {
            s.held_counts(day)
                .expect("counts")
                .iter()
                .filter(|h| h.date == day)
                .map(|h| h.free)
                .sum()
        };
        assert_eq!(free(&store), 3);
        let taken = store.reserve_for_release("KRM", day).expect("reserved");
        assert_eq!(
            taken,
            vec![("a1".to_owned(), vec![1, 2]), ("a2".to_owned(), vec![7])]
        );
        assert_eq!(free(&store), 0, "no booking can take them now");
        assert_eq!(
            store.reserve_for_release("KRM", day).expect("again"),
            vec![],
            "taken once"
        );
        store.unreserve(&taken).expect("given back");
        assert_eq!(free(&store), 3);
        // The other day was never touched.
        let next: NaiveDate = "2026-12-03".parse().expect("date");
        assert_eq!(store.held_counts(next).expect("counts")[0].free, 1);
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
