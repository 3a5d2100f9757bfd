//! A booking after it is made: the store's half of cancels and reschedules
//! (`central-api.md`, "Version 1.1"). The registration row stays the booking as the
//! applicant now holds it; a change the central service must hear of goes into the
//! `change_queue` in the same transaction that changes the booking here, and leaves it
//! only in the transaction that stores the service's answer (`change_answers`), so that
//! a change survives a power cut at any point and is answered from the store when it is
//! retried. The sync sends the queue (`sync::changes`); the flow decides what the
//! applicant may do; this module keeps.
//!
//! Choices where the issue and the spec are silent:
//! - A booking never sent to the service (its upload row has no `sent_at`) is changed in
//!   place: a cancel releases it (status `released`, its upload row and personal data
//!   gone, its number free for this kiosk again), a reschedule moves it (the upload
//!   carries the new booking). Nothing is queued: the service never knew the old one.
//! - A booking that may have reached the service is changed here at once and a change
//!   is queued; its old number is never booked again by this kiosk (the service takes
//!   it back when it applies the change), and is not released either.
//! - A refused reschedule puts the booking back as it was (old number bound again, new
//!   number free for this kiosk again, unless the refusal is `number_not_held`: then it
//!   was never the kiosk's). A refused cancel leaves the local cancellation: the applicant
//!   asked, and at the counter the service's record wins. Both refusals are kept for the
//!   technician's report, with no personal data.
//! - Found bookings (made at another kiosk, `POST /v1/bookings/find`) have no row here:
//!   their change rows name their registration id, and a reschedule's new number is bound
//!   to that id.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ReissuedTicket, Store, StoreError, parse_date, parse_kind, parse_ts, take_number, ts};
use crate::domain::calendar::Zone;
use crate::domain::{QueueKind, QueueNumber};
use crate::flow::ExistingBooking;
use crate::protocol::central_v11::{CancelRequest, ChangeRefusal, RescheduleRequest};

/// A booking this kiosk holds the record of, as "my booking" shows it. No NIK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskBooking {
    pub registration_id: String,
    pub group_id: String,
    pub booking_code: String,
    pub position: u8,
    pub group_size: u8,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub queue_number: QueueNumber,
    pub masked_nik: String,
    pub name: Option<String>,
    pub reschedules_left: u32,
    /// The registration of the NIK asked for (the others are its group's other members).
    pub own: bool,
}

/// What a cancel came to here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It had never been sent: released here, nothing for the service to hear.
    Released,
    /// The service may have it: a cancel is queued for it.
    Queued { change_id: Uuid },
}

/// Why a change was not made. Display names no one.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No free number of that kind is held for the new session.
    #[error("no free {0:?} number left for the chosen session")]
    NumbersGone(QueueKind),
    /// Cancelled, rejected, past, or unknown to this store.
    #[error("the booking is no longer one that can be changed")]
    NotLive,
    /// Rescheduled once already.
    #[error("the booking has no reschedule left")]
    NoneLeft,
    /// Its ticket's NIK check cannot be carried into a new ticket (an `APM1` ticket, or
    /// one that does not decode).
    #[error("the booking's ticket cannot be reissued")]
    TicketUnreadable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ChangeError {
    fn from(e: rusqlite::Error) -> ChangeError {
        ChangeError::Store(e.into())
    }
}

/// Reissues a moved booking's ticket: its signed QR payload for the new day, or `None`
/// when the old ticket's NIK check cannot be carried over (the store then changes
/// nothing). A parent may move a child's booking, so no NIK is needed: the check covers
/// the registration id and the NIK, neither of which a move changes.
pub type Reissue<'a> = &'a dyn Fn(&ReissuedTicket<'_>) -> Option<String>;

/// A reschedule of a booking this store holds.
pub struct ReschedulePlan<'a> {
    pub registration_id: &'a str,
    pub date: NaiveDate,
    pub session_id: &'a str,
    pub change_id: Uuid,
    /// When the applicant confirmed: the new ticket's issue time and the change's.
    pub at: DateTime<Utc>,
    /// The office's today: a booking dated before it is past.
    pub today: NaiveDate,
    pub sign: Reissue<'a>,
}

/// A reschedule of a booking found at the service, not in this store.
pub struct FoundReschedulePlan<'a> {
    pub found: &'a ExistingBooking,
    pub date: NaiveDate,
    pub session_id: &'a str,
    pub change_id: Uuid,
    pub at: DateTime<Utc>,
    pub sign: Reissue<'a>,
}

/// The booking as a reschedule left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescheduled {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub queue_number: QueueNumber,
    /// The new ticket's QR payload.
    pub ticket: String,
    /// The change queued for the service; `None` when the booking was changed in place.
    pub queued: Option<Uuid>,
}

/// The service's answer to a change, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeAnswer {
    /// Done; a reschedule's receipt (base64) when the service gave one.
    Done {
        receipt: Option<String>,
    },
    Refused(ChangeRefusal),
}

/// Which change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Cancel,
    Reschedule,
}

impl ChangeKind {
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Cancel => "cancel",
            ChangeKind::Reschedule => "reschedule",
        }
    }

    fn from_code(code: &str) -> Result<ChangeKind, StoreError> {
        match code {
            "cancel" => Ok(ChangeKind::Cancel),
            "reschedule" => Ok(ChangeKind::Reschedule),
            other => Err(StoreError::Corrupt(format!("change kind {other:?}"))),
        }
    }
}

/// A change's request, as the spec writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRequest {
    Cancel(CancelRequest),
    Reschedule(RescheduleRequest),
}

/// One change waiting for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedChange {
    pub change_id: Uuid,
    pub registration_id: Uuid,
    pub request: ChangeRequest,
}

/// A change the service refused, for the technician: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedChange {
    pub kind: ChangeKind,
    pub refusal: ChangeRefusal,
    /// The visit date the change concerned.
    pub date: NaiveDate,
    pub answered_at: DateTime<Utc>,
}

/// The change queue, for the technician's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    pub waiting: u32,
    pub oldest: Option<DateTime<Utc>>,
    pub refused: Vec<RefusedChange>,
}

/// A booking as it was before a reschedule: what a refusal restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Before {
    date: NaiveDate,
    session_id: String,
    kind: QueueKind,
    queue_number: u32,
    allocation_id: String,
    ticket: String,
    printed_at: Option<String>,
    print_attempts: u32,
    last_print_attempt_at: Option<String>,
    reschedules_left: u32,
}

/// A registration row as a change needs it.
struct Held {
    office_id: String,
    status: String,
    cancelled: bool,
    /// Still in the upload queue with no request sent.
    never_sent: bool,
    before: Before,
}

impl Held {
    fn is_live(&self, today: NaiveDate) -> bool {
        !self.cancelled
            && matches!(self.status.as_str(), "pending" | "accepted")
            && self.before.date >= today
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(what, e))
}

/// The registration `id` as a change needs it; `None` when this store has no such row.
fn held(conn: &Connection, id: &str) -> Result<Option<Held>, StoreError> {
    let row = conn
        .query_row(
            "SELECT r.office_id, r.status, r.cancelled_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM upload_queue q
                            WHERE q.registration_id = r.registration_id AND q.sent_at IS NULL),
                    r.date, r.session_id, r.kind, r.queue_number, r.allocation_id, r.ticket,
                    r.printed_at, r.print_attempts, r.last_print_attempt_at, r.reschedules_left
             FROM registrations r WHERE r.registration_id = ?1",
            [id],
            |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                    (r.get::<_, String>(4)?, r.get(5)?, r.get::<_, String>(6)?),
                    (r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?),
                    (r.get(11)?, r.get(12)?, r.get(13)?),
                ))
            },
        )
        .optional()?;
    let Some(((office_id, status, cancelled, never_sent), (date, session_id, kind), a, b)) = row
    else {
        return Ok(None);
    };
    let (queue_number, allocation_id, ticket, printed_at) = a;
    let (print_attempts, last_print_attempt_at, reschedules_left) = b;
    Ok(Some(Held {
        office_id,
        status,
        cancelled,
        never_sent,
        before: Before {
            date: parse_date(&date)?,
            session_id,
            kind: parse_kind(&kind)?,
            queue_number,
            allocation_id,
            ticket,
            printed_at,
            print_attempts,
            last_print_attempt_at,
            reschedules_left,
        },
    }))
}

/// A change row written in the transaction that makes the change here.
struct NewChange<'a> {
    change_id: Uuid,
    registration_id: &'a str,
    kind: ChangeKind,
    body: String,
    before: Option<String>,
    date: NaiveDate,
    at: DateTime<Utc>,
}

fn queue_change(conn: &Connection, c: &NewChange<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO change_queue (change_id, registration_id, kind, body, before, date, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            c.change_id.to_string(),
            c.registration_id,
            c.kind.code(),
            c.body,
            c.before,
            c.date.to_string(),
            ts(c.at)
        ],
    )?;
    audit(
        conn,
        c.at,
        "change_queued",
        &format!("{} {}", c.kind.code(), c.change_id),
    )
}

fn audit(
    conn: &Connection,
    at: DateTime<Utc>,
    event: &str,
    detail: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit (at, event, detail) VALUES (?1, ?2, ?3)",
        params![ts(at), event, detail],
    )?;
    Ok(())
}

fn registration_uuid(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|e| corrupt("registration id", e))
}

impl Store {
    /// The UTC offset of an office this kiosk knows (WIB for one it does not).
    fn offset_of(&self, office_id: &str) -> Result<FixedOffset, StoreError> {
        let zone = self
            .offices()?
            .into_iter()
            .find(|o| o.id == office_id)
            .map_or(Zone::Wib, |o| o.zone);
        Ok(zone.offset())
    }

    fn immediate(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Not served, not cancelled, not rejected, dated today or later: the NIK's (by tag)
    /// bookings, then the other members of the same groups; the NIK's own first.
    pub fn bookings_of(
        &self,
        nik_tag: &str,
        today: NaiveDate,
    ) -> Result<Vec<KioskBooking>, StoreError> {
        let live =
            "r.cancelled_at IS NULL AND r.status IN ('pending', 'accepted') AND r.date >= ?2";
        let sql = format!(
            "SELECT r.registration_id, r.group_id, g.booking_code, r.position, g.size,
                    r.office_id, r.date, r.session_id, r.kind, r.queue_number, r.masked_nik,
                    r.ticket_name, r.reschedules_left, r.nik_tag = ?1
             FROM registrations r JOIN groups g ON g.group_id = r.group_id
             WHERE {live} AND r.group_id IN
                   (SELECT r.group_id FROM registrations r WHERE r.nik_tag = ?1 AND {live})
             ORDER BY r.nik_tag = ?1 DESC, r.date, r.created_at, r.position"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query(params![nik_tag, today.to_string()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(KioskBooking {
                registration_id: r.get(0)?,
                group_id: r.get(1)?,
                booking_code: r.get(2)?,
                position: r.get(3)?,
                group_size: r.get(4)?,
                office_id: r.get(5)?,
                date: parse_date(&r.get::<_, String>(6)?)?,
                session_id: r.get(7)?,
                queue_number: QueueNumber {
                    kind: parse_kind(&r.get::<_, String>(8)?)?,
                    number: r.get(9)?,
                },
                masked_nik: r.get(10)?,
                name: r.get(11)?,
                reschedules_left: r.get(12)?,
                own: r.get(13)?,
            });
        }
        Ok(out)
    }

    /// One transaction. Never sent: the upload row goes, the registration is cancelled and
    /// its personal data cleared, its held number is free for this kiosk again ->
    /// Released. Sent (or answered): cancelled locally, its held number is never booked
    /// again by this kiosk (the service takes it back), a cancel change is queued ->
    /// Queued { change_id }.
    pub fn cancel_booking(
        &mut self,
        registration_id: &str,
        change_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<CancelOutcome, ChangeError> {
        let Some(offset) = self.office_of(registration_id)? else {
            return Err(ChangeError::NotLive);
        };
        let today = at.with_timezone(&offset).date_naive();
        let tx = self.immediate()?;
        let row = held(&tx, registration_id)?.ok_or(ChangeError::NotLive)?;
        if !row.is_live(today) {
            return Err(ChangeError::NotLive);
        }
        let outcome = if row.never_sent {
            release_unsent(&tx, registration_id, at)?;
            CancelOutcome::Released
        } else {
            cancel_sent(&tx, registration_id, &row, change_id, at, offset)?;
            CancelOutcome::Queued { change_id }
        };
        tx.commit()?;
        if outcome == CancelOutcome::Released {
            // The applicant record just cleared held a full NIK: out of the WAL now.
            self.checkpoint()?;
        }
        Ok(outcome)
    }

    /// The offset of the office of a registration this store holds.
    fn office_of(&self, registration_id: &str) -> Result<Option<FixedOffset>, StoreError> {
        let office: Option<String> = self
            .conn
            .query_row(
                "SELECT office_id FROM registrations WHERE registration_id = ?1",
                [registration_id],
                |r| r.get(0),
            )
            .optional()?;
        office.map(|o| self.offset_of(&o)).transpose()
    }

    /// One transaction: the lowest free held number of the booking's kind for the new
    /// (date, session) of the same office; the new ticket signed by `plan.sign`;
    /// `printed_at` cleared (the new ticket prints as an original); one reschedule used.
    /// Never sent: changed in place, old number free again for this kiosk, nothing
    /// queued. Sent: old number never booked again here, a reschedule change queued with
    /// the before-state.
    pub fn reschedule_booking(
        &mut self,
        plan: &ReschedulePlan<'_>,
    ) -> Result<Rescheduled, ChangeError> {
        let id = plan.registration_id;
        let Some(offset) = self.office_of(id)? else {
            return Err(ChangeError::NotLive);
        };
        let tx = self.immediate()?;
        let row = held(&tx, id)?.ok_or(ChangeError::NotLive)?;
        if !row.is_live(plan.today) {
            return Err(ChangeError::NotLive);
        }
        if row.before.reschedules_left == 0 {
            return Err(ChangeError::NoneLeft);
        }
        let kind = row.before.kind;
        let to = NewSlot {
            office_id: &row.office_id,
            date: plan.date,
            session_id: plan.session_id,
            kind,
            at: plan.at,
        };
        let (queue_number, allocation_id, ticket) =
            reissue_on_new_number(&tx, id, &row.before.ticket, &to, plan.sign)?;
        let number = queue_number.number;
        let moved = Moved {
            date: plan.date,
            session_id: plan.session_id,
            number,
            allocation_id: &allocation_id,
            ticket: &ticket,
        };
        move_registration(&tx, id, &moved, row.before.reschedules_left - 1)?;
        let queued = if row.never_sent {
            let free = "UPDATE held_numbers SET registration_id = NULL
                        WHERE allocation_id = ?1 AND number = ?2 AND registration_id = ?3";
            tx.execute(
                free,
                params![row.before.allocation_id, row.before.queue_number, id],
            )?;
            audit(
                &tx,
                plan.at,
                "booking_moved",
                &format!("{id} before upload"),
            )?;
            None
        } else {
            let give = "UPDATE held_numbers SET released = 1
                        WHERE allocation_id = ?1 AND number = ?2 AND registration_id = ?3";
            tx.execute(
                give,
                params![row.before.allocation_id, row.before.queue_number, id],
            )?;
            let body = reschedule_body(plan.change_id, &moved, kind, plan.at, offset);
            queue_change(
                &tx,
                &NewChange {
                    change_id: plan.change_id,
                    registration_id: id,
                    kind: ChangeKind::Reschedule,
                    body: to_json("reschedule", &body)?,
                    before: Some(to_json("before", &row.before)?),
                    date: row.before.date.max(plan.date),
                    at: plan.at,
                },
            )?;
            Some(plan.change_id)
        };
        tx.commit()?;
        Ok(Rescheduled {
            registration_id: id.to_owned(),
            office_id: row.office_id,
            date: plan.date,
            session_id: plan.session_id.to_owned(),
            queue_number,
            ticket,
            queued,
        })
    }

    /// For a booking found at the service and not in this store: a cancel queued.
    pub fn queue_found_cancel(
        &mut self,
        registration_id: &str,
        change_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let body = CancelRequest {
            change_id,
            created_at: at.with_timezone(&Zone::Wib.offset()),
        };
        let tx = self.immediate()?;
        queue_change(
            &tx,
            &NewChange {
                change_id,
                registration_id,
                kind: ChangeKind::Cancel,
                body: to_json("cancel", &body)?,
                before: None,
                // The visit date is the service's: the day it was asked stands for it.
                date: at.with_timezone(&Zone::Wib.offset()).date_naive(),
                at,
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// For a booking found at the service: a held number bound to its registration id
    /// and a reschedule queued (the shell signs the ticket with the found booking's data).
    pub fn reschedule_found(
        &mut self,
        plan: &FoundReschedulePlan<'_>,
    ) -> Result<Rescheduled, ChangeError> {
        let found = plan.found;
        let id = found.registration_id.clone();
        let kind = found.queue_number.kind;
        let old_ticket = found
            .ticket
            .as_deref()
            .ok_or(ChangeError::TicketUnreadable)?;
        if found.reschedules_left == 0 {
            return Err(ChangeError::NoneLeft);
        }
        let offset = self.offset_of(&found.office_id)?;
        let tx = self.immediate()?;
        if held(&tx, &id)?.is_some() {
            // This store holds it: `reschedule_booking` is the way.
            return Err(ChangeError::NotLive);
        }
        let to = NewSlot {
            office_id: &found.office_id,
            date: plan.date,
            session_id: plan.session_id,
            kind,
            at: plan.at,
        };
        let (queue_number, allocation_id, ticket) =
            reissue_on_new_number(&tx, &id, old_ticket, &to, plan.sign)?;
        let moved = Moved {
            date: plan.date,
            session_id: plan.session_id,
            number: queue_number.number,
            allocation_id: &allocation_id,
            ticket: &ticket,
        };
        let body = reschedule_body(plan.change_id, &moved, kind, plan.at, offset);
        queue_change(
            &tx,
            &NewChange {
                change_id: plan.change_id,
                registration_id: &id,
                kind: ChangeKind::Reschedule,
                body: to_json("reschedule", &body)?,
                before: None,
                date: found.date.max(plan.date),
                at: plan.at,
            },
        )?;
        tx.commit()?;
        Ok(Rescheduled {
            registration_id: id,
            office_id: found.office_id.clone(),
            date: plan.date,
            session_id: plan.session_id.to_owned(),
            queue_number,
            ticket,
            queued: Some(plan.change_id),
        })
    }

    /// The stored answer of a change, once there is one.
    pub fn change_answer(&self, change_id: Uuid) -> Result<Option<ChangeAnswer>, StoreError> {
        let row: Option<(String, Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT outcome, refusal, receipt FROM change_answers WHERE change_id = ?1",
                [change_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(
            |(outcome, refusal, receipt)| match (outcome.as_str(), refusal) {
                ("refused", Some(code)) => ChangeAnswer::Refused(ChangeRefusal::from_code(&code)),
                _ => ChangeAnswer::Done { receipt },
            },
        ))
    }

    /// Queued changes whose registration is not waiting in the upload queue (a change
    /// never reaches the service before its registration), oldest first.
    pub fn sendable_changes(&self) -> Result<Vec<QueuedChange>, StoreError> {
        self.changes_where(
            "NOT EXISTS (SELECT 1 FROM upload_queue q WHERE q.registration_id = c.registration_id)",
            None,
        )
    }

    /// One queued change, if it is still queued.
    pub fn queued_change(&self, change_id: Uuid) -> Result<Option<QueuedChange>, StoreError> {
        let id = change_id.to_string();
        Ok(self.changes_where("c.change_id = ?1", Some(&id))?.pop())
    }

    /// Whether a change's registration still waits for its upload.
    pub fn change_waits_for_upload(&self, change_id: Uuid) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM change_queue c JOIN upload_queue q
                            ON q.registration_id = c.registration_id WHERE c.change_id = ?1)",
            [change_id.to_string()],
            |r| r.get(0),
        )?)
    }

    fn changes_where(
        &self,
        clause: &str,
        arg: Option<&str>,
    ) -> Result<Vec<QueuedChange>, StoreError> {
        let sql = format!(
            "SELECT c.change_id, c.registration_id, c.kind, c.body FROM change_queue c
             WHERE {clause} ORDER BY c.created_at, c.change_id"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = match arg {
            Some(a) => st.query([a])?,
            None => st.query([])?,
        };
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (change_id, registration_id, kind, body): (String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let request = match ChangeKind::from_code(&kind)? {
                ChangeKind::Cancel => ChangeRequest::Cancel(
                    serde_json::from_str(&body).map_err(|e| corrupt("queued cancel", e))?,
                ),
                ChangeKind::Reschedule => ChangeRequest::Reschedule(
                    serde_json::from_str(&body).map_err(|e| corrupt("queued reschedule", e))?,
                ),
            };
            out.push(QueuedChange {
                change_id: Uuid::parse_str(&change_id).map_err(|e| corrupt("change id", e))?,
                registration_id: registration_uuid(&registration_id)?,
                request,
            });
        }
        Ok(out)
    }

    /// Stores the service's answer to a change, in one transaction; the queue row goes
    /// only then. A refused reschedule puts the booking back as it was. An answer to a
    /// change already answered changes nothing.
    pub fn record_change_answer(
        &mut self,
        change_id: Uuid,
        answer: &ChangeAnswer,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        let row: Option<(String, String, Option<String>, String, String)> = tx
            .query_row(
                "SELECT registration_id, kind, before, body, date FROM change_queue
                 WHERE change_id = ?1",
                [change_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((registration_id, kind, before, body, date)) = row else {
            return Ok(());
        };
        let kind = ChangeKind::from_code(&kind)?;
        let (outcome, refusal, receipt) = match answer {
            ChangeAnswer::Done { receipt } => ("done", None, receipt.clone()),
            ChangeAnswer::Refused(r) => ("refused", Some(r.code().to_owned()), None),
        };
        tx.execute(
            "INSERT INTO change_answers
               (change_id, registration_id, kind, outcome, refusal, receipt, date, answered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                change_id.to_string(),
                registration_id,
                kind.code(),
                outcome,
                refusal,
                receipt,
                date,
                ts(at)
            ],
        )?;
        tx.execute(
            "DELETE FROM change_queue WHERE change_id = ?1",
            [change_id.to_string()],
        )?;
        if let (ChangeKind::Reschedule, ChangeAnswer::Refused(refusal)) = (kind, answer) {
            let request: RescheduleRequest =
                serde_json::from_str(&body).map_err(|e| corrupt("queued reschedule", e))?;
            let before = before
                .map(|b| serde_json::from_str::<Before>(&b).map_err(|e| corrupt("before", e)))
                .transpose()?;
            restore(&tx, &registration_id, &request, before.as_ref(), refusal)?;
        }
        let detail = format!(
            "{} {change_id} {outcome} {}",
            kind.code(),
            refusal.unwrap_or_default()
        );
        audit(&tx, at, "change_answered", detail.trim_end())?;
        tx.commit()?;
        Ok(())
    }

    /// Notes a failed attempt on a change that stays queued.
    pub fn note_change_failure(&mut self, change_id: Uuid, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE change_queue SET attempts = attempts + 1, last_error = ?2 WHERE change_id = ?1",
            params![change_id.to_string(), error],
        )?;
        Ok(())
    }

    /// The changes waiting and the refused ones, for the technician's report.
    pub fn change_summary(&self) -> Result<ChangeSummary, StoreError> {
        let (waiting, oldest): (u32, Option<String>) = self.conn.query_row(
            "SELECT COUNT(*), MIN(created_at) FROM change_queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut st = self.conn.prepare(
            "SELECT kind, refusal, date, answered_at FROM change_answers
             WHERE outcome = 'refused' ORDER BY answered_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let refused = rows
            .map(|row| {
                let (kind, refusal, date, answered_at) = row?;
                Ok(RefusedChange {
                    kind: ChangeKind::from_code(&kind)?,
                    refusal: ChangeRefusal::from_code(&refusal.unwrap_or_default()),
                    date: parse_date(&date)?,
                    answered_at: parse_ts(&answered_at)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(ChangeSummary {
            waiting,
            oldest: oldest.map(|t| parse_ts(&t)).transpose()?,
            refused,
        })
    }
}

/// A never-sent booking cancelled: its upload row and personal data go, its number is
/// free for this kiosk again; the row stays (status `released`) for the 30-day rule.
fn release_unsent(tx: &Transaction, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    tx.execute("DELETE FROM upload_queue WHERE registration_id = ?1", [id])?;
    tx.execute(
        "UPDATE registrations SET cancelled_at = ?2, status = 'released', applicant = NULL,
                ticket_name = NULL, masked_nik = '', result_at = ?2
         WHERE registration_id = ?1",
        params![id, ts(at)],
    )?;
    tx.execute(
        "UPDATE held_numbers SET registration_id = NULL WHERE registration_id = ?1",
        [id],
    )?;
    audit(
        tx,
        at,
        "booking_released",
        &format!("{id} cancelled before upload"),
    )
}

/// A booking the service may have, cancelled here: its number out of booking for good,
/// its reprint data cleared (the upload, if it is still to be answered, keeps the
/// applicant record), a cancel queued.
fn cancel_sent(
    tx: &Transaction,
    id: &str,
    row: &Held,
    change_id: Uuid,
    at: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE registrations SET cancelled_at = ?2, ticket_name = NULL, masked_nik = ''
         WHERE registration_id = ?1",
        params![id, ts(at)],
    )?;
    tx.execute(
        "UPDATE held_numbers SET released = 1 WHERE registration_id = ?1",
        [id],
    )?;
    let body = CancelRequest {
        change_id,
        created_at: at.with_timezone(&offset),
    };
    queue_change(
        tx,
        &NewChange {
            change_id,
            registration_id: id,
            kind: ChangeKind::Cancel,
            body: to_json("cancel", &body)?,
            before: None,
            date: row.before.date,
            at,
        },
    )
}

/// Where a reschedule moves a booking.
/// Where a move takes a booking, and when it was asked for.
struct NewSlot<'a> {
    office_id: &'a str,
    date: NaiveDate,
    session_id: &'a str,
    kind: QueueKind,
    at: DateTime<Utc>,
}

/// The lowest free held number of the new slot taken for registration `id`, and its
/// ticket reissued from `old_ticket` by `sign`: the number, its allocation, the ticket.
fn reissue_on_new_number(
    tx: &Transaction,
    id: &str,
    old_ticket: &str,
    to: &NewSlot<'_>,
    sign: Reissue<'_>,
) -> Result<(QueueNumber, String, String), ChangeError> {
    let slot = (to.office_id, to.date, to.session_id, to.kind);
    let (number, allocation_id) =
        take_number(tx, slot, id)?.ok_or(ChangeError::NumbersGone(to.kind))?;
    let queue_number = QueueNumber {
        kind: to.kind,
        number,
    };
    let ticket = sign(&ReissuedTicket {
        registration_id: id,
        old_ticket,
        office_id: to.office_id,
        date: to.date,
        session_id: to.session_id,
        queue_number,
        issued_at: to.at,
    })
    .ok_or(ChangeError::TicketUnreadable)?;
    Ok((queue_number, allocation_id, ticket))
}

struct Moved<'a> {
    date: NaiveDate,
    session_id: &'a str,
    number: u32,
    allocation_id: &'a str,
    ticket: &'a str,
}

fn reschedule_body(
    change_id: Uuid,
    m: &Moved<'_>,
    kind: QueueKind,
    at: DateTime<Utc>,
    offset: FixedOffset,
) -> RescheduleRequest {
    RescheduleRequest {
        change_id,
        allocation_id: m.allocation_id.to_owned(),
        queue_number: m.number,
        date: m.date,
        session_id: m.session_id.to_owned(),
        kind,
        ticket: m.ticket.to_owned(),
        created_at: at.with_timezone(&offset),
    }
}

/// The registration on its new number, with its new ticket still to print.
fn move_registration(
    tx: &Transaction,
    id: &str,
    m: &Moved<'_>,
    reschedules_left: u32,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE registrations SET date = ?2, session_id = ?3, queue_number = ?4,
                allocation_id = ?5, ticket = ?6, printed_at = NULL, print_attempts = 0,
                last_print_attempt_at = NULL, reschedules_left = ?7
         WHERE registration_id = ?1",
        params![
            id,
            m.date.to_string(),
            m.session_id,
            m.number,
            m.allocation_id,
            m.ticket,
            reschedules_left
        ],
    )?;
    Ok(())
}

/// A refused reschedule undone: the new number free for this kiosk again (or out of
/// booking, when the service says it was never the kiosk's), and a booking of this store
/// that still stands back on its old number and ticket.
fn restore(
    tx: &Transaction,
    id: &str,
    request: &RescheduleRequest,
    before: Option<&Before>,
    refusal: &ChangeRefusal,
) -> Result<(), StoreError> {
    let not_ours = *refusal == ChangeRefusal::NumberNotHeld;
    tx.execute(
        "UPDATE held_numbers SET registration_id = NULL, released = (released OR ?4)
         WHERE allocation_id = ?1 AND number = ?2 AND registration_id = ?3",
        params![request.allocation_id, request.queue_number, id, not_ours],
    )?;
    let Some(b) = before else {
        return Ok(());
    };
    let stands: bool = tx
        .query_row(
            "SELECT cancelled_at IS NULL AND status IN ('pending', 'accepted')
             FROM registrations WHERE registration_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    if !stands {
        return Ok(());
    }
    tx.execute(
        "UPDATE held_numbers SET released = 0
         WHERE allocation_id = ?1 AND number = ?2 AND registration_id = ?3",
        params![b.allocation_id, b.queue_number, id],
    )?;
    tx.execute(
        "UPDATE registrations SET date = ?2, session_id = ?3, kind = ?4, queue_number = ?5,
                allocation_id = ?6, ticket = ?7, printed_at = ?8, print_attempts = ?9,
                last_print_attempt_at = ?10, reschedules_left = ?11
         WHERE registration_id = ?1",
        params![
            id,
            b.date.to_string(),
            b.session_id,
            b.kind.code(),
            b.queue_number,
            b.allocation_id,
            b.ticket,
            b.printed_at,
            b.print_attempts,
            b.last_print_attempt_at,
            b.reschedules_left
        ],
    )?;
    Ok(())
}

/// A part of the central service's version 1.1, which a service may lack (`404`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceFeature {
    /// `GET /v1/availability`: the whole booking window.
    Availability,
    /// `POST /v1/bookings/find`: bookings made at other kiosks.
    Find,
    Cancel,
    Reschedule,
    /// `POST /v1/arrivals`: the counter's check-in.
    Arrivals,
}

impl ServiceFeature {
    pub const ALL: [ServiceFeature; 5] = [
        ServiceFeature::Availability,
        ServiceFeature::Find,
        ServiceFeature::Cancel,
        ServiceFeature::Reschedule,
        ServiceFeature::Arrivals,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ServiceFeature::Availability => "availability",
            ServiceFeature::Find => "find",
            ServiceFeature::Cancel => "cancel",
            ServiceFeature::Reschedule => "reschedule",
            ServiceFeature::Arrivals => "arrivals",
        }
    }

    /// The kv key that holds when the service was found to lack it.
    fn key(self) -> String {
        format!("service_lacks.{}", self.code())
    }
}

impl Store {
    /// The service answered `404` on this feature's endpoint: noted with when it was
    /// first learned (a later `404` keeps that time). Says whether it is news.
    pub fn note_service_lacks(
        &mut self,
        feature: ServiceFeature,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![feature.key(), ts(at)],
        )?;
        Ok(added == 1)
    }

    /// The service answered this feature's endpoint: it has it (again). Says whether
    /// it was thought to lack it.
    pub fn note_service_has(&mut self, feature: ServiceFeature) -> Result<bool, StoreError> {
        let removed = self
            .conn
            .execute("DELETE FROM kv WHERE key = ?1", [feature.key()])?;
        Ok(removed == 1)
    }

    /// The features the service was last found to lack, with when that was learned.
    pub fn service_lacks(&self) -> Result<Vec<(ServiceFeature, DateTime<Utc>)>, StoreError> {
        let mut out = Vec::new();
        for feature in ServiceFeature::ALL {
            if let Some(at) = self.kv_get(&feature.key())? {
                out.push((feature, parse_ts(&at)?));
            }
        }
        Ok(out)
    }
}
