//! The store's side of printing: which tickets still have to come out, and how many
//! times each one's job was sent to the printer (migration 0002), so that a ticket sent
//! again after a failed attempt is printed marked COPY.
//!
//! Only bookkeeping: the printer worker in `crate::app` decides when to print and
//! performs it; the ticket's layout is `crate::protocol::escpos`. `mark_printed` and
//! the group's tickets stay in the parent module, beside the other ticket queries.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, StoredTicket, ts};

impl Store {
    /// One ticket by its registration id; `None` for an id this kiosk never booked.
    pub fn ticket(&self, registration_id: &str) -> Result<Option<StoredTicket>, StoreError> {
        Ok(self
            .tickets_where("r.registration_id = ?1", registration_id)?
            .into_iter()
            .next())
    }

    /// How many times the ticket's job was sent to the printer; `None` for an unknown id.
    pub fn print_attempts(&self, registration_id: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT print_attempts FROM registrations WHERE registration_id = ?1",
                [registration_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Counts one more attempt, just before the ticket's bytes go to the printer, and
    /// returns how many were made before this one: more than 0 and the ticket is a COPY.
    /// Counted before sending, not after, so that a job cut off by a power cut counts
    /// too. `None` for an unknown id (nothing is counted).
    pub fn begin_print_attempt(
        &mut self,
        registration_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "UPDATE registrations
                 SET print_attempts = print_attempts + 1, last_print_attempt_at = ?2
                 WHERE registration_id = ?1
                 RETURNING print_attempts - 1",
                params![registration_id, ts(at)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Tickets not yet printed whole whose visit is on `from` or later, oldest booking
    /// first: what the printer worker prints once the printer is ready again. A ticket
    /// for a day already past is of no use to anyone and stays unprinted.
    pub fn reprint_backlog(&self, from: NaiveDate) -> Result<Vec<StoredTicket>, StoreError> {
        self.tickets_where(
            "r.printed_at IS NULL AND r.date >= ?1",
            &from.format("%Y-%m-%d").to_string(),
        )
    }
}
