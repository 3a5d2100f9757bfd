//! The service's rules for version 1.1 (`central-api.md`, "Version 1.1"): what the pool
//! can still give, a NIK's bookings, cancelling and rescheduling one, and arrivals at the
//! counter, as functions over a transaction and a given "now". Version 1's rules and the
//! schema they share are `db`'s; what a booking became after it was accepted lives in
//! this module's own tables, so version 1 runs as it did.
//!
//! Choices where the spec is silent (the real service may differ):
//! - Any enrolled kiosk may find, cancel or reschedule a booking, whichever kiosk made it
//!   (the applicant comes back where they are); a reschedule's new number must be held by
//!   the kiosk that asks, in an allocation of the booking's own office (another office is
//!   `400 invalid_request`).
//! - A booking rescheduled keeps its registration id; its date, session, kind, number and
//!   allocation become the new ones, and the old number goes back to the pool.
//! - "Up to H-1": a booking can be rescheduled while the office's today is before its date.
//! - A cancelled or arrived booking no longer counts for the one-booking rule, and keeps
//!   its 30-day rule from `created_at`; the blocklist hears of both.
//! - A change id sent again is answered as it was first, whoever sends it.
//! - Availability is asked for an office the kiosk serves (`403 office_not_served`
//!   otherwise), and lists each open day of `from..=to` inside the window, every session
//!   not yet over, with the numbers no kiosk holds and nobody booked.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use rusqlite::{OptionalExtension as _, Transaction, params};
use uuid::Uuid;

use super::SimError;
use super::db::{self, Kiosk};
use crate::domain::QueueKind;
use crate::protocol::central::{Receipt, receipt_message};
use crate::protocol::central_v11::{
    ArrivalRejection, ArrivalResult, ArrivalStatus, AvailabilityResponse, AvailableDay,
    AvailableSession, ChangeRefusal, ChangeStatus, FoundBooking, RescheduleRequest,
    RescheduleResponse,
};

pub(super) const SCHEMA: &str = "
-- What an accepted booking became: rescheduled (its latest ticket), cancelled, arrived.
-- No row: as it was accepted, one reschedule left.
CREATE TABLE IF NOT EXISTS booking_state (
    registration_id TEXT PRIMARY KEY,
    reschedules_left INTEGER NOT NULL DEFAULT 1,
    ticket TEXT,
    cancelled_at TEXT,
    arrived_at TEXT,
    counter_id TEXT
);
-- Every cancel and reschedule by change id, with the answer it was given.
CREATE TABLE IF NOT EXISTS changes (
    change_id TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL,
    answer TEXT NOT NULL
);
";

/// How many reschedules a booking has.
const RESCHEDULES: u32 = 1;

/// An accepted booking as the changes see it.
pub(super) struct Booking {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub nik: String,
    pub reschedules_left: u32,
    pub cancelled: bool,
    pub arrived: bool,
}

/// The accepted booking with this id, with what became of it; `None` for an id the
/// service never accepted.
pub(super) fn booking(tx: &Transaction, id: &str) -> Result<Option<Booking>, SimError> {
    type Row = (
        String,
        String,
        String,
        Option<u32>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT r.office_id, r.date, r.nik, s.reschedules_left, s.cancelled_at, s.arrived_at
             FROM registrations r LEFT JOIN booking_state s USING (registration_id)
             WHERE r.registration_id = ?1 AND r.status = 'accepted'",
            params![id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    row.map(|(office_id, date, nik, left, cancelled, arrived)| {
        Ok(Booking {
            registration_id: id.to_owned(),
            office_id,
            date: db::parse_date(&date)?,
            nik,
            reschedules_left: left.unwrap_or(RESCHEDULES),
            cancelled: cancelled.is_some(),
            arrived: arrived.is_some(),
        })
    })
    .transpose()
}

/// A cancel or reschedule's answer: the body of a `200`, or the `409` refusal.
pub(super) type Change<T> = Result<T, ChangeRefusal>;

/// The answer a change id was given, read back.
fn answered<T: serde::de::DeserializeOwned>(
    tx: &Transaction,
    change_id: &Uuid,
) -> Result<Option<Change<T>>, SimError> {
    let answer: Option<String> = tx
        .query_row(
            "SELECT answer FROM changes WHERE change_id = ?1",
            params![change_id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    answer
        .map(|text| {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| db::corrupt(format!("stored change: {e}")))?;
            Ok(match value.get("refused").and_then(|r| r.as_str()) {
                Some(code) => Err(ChangeRefusal::from_code(code)),
                None => Ok(serde_json::from_value(value)
                    .map_err(|e| db::corrupt(format!("stored change: {e}")))?),
            })
        })
        .transpose()
}

fn remember<T: serde::Serialize>(
    tx: &Transaction,
    change_id: &Uuid,
    registration_id: &str,
    answer: &Change<T>,
) -> Result<(), SimError> {
    let value = match answer {
        Ok(body) => serde_json::to_value(body),
        Err(refusal) => Ok(serde_json::json!({ "refused": refusal.code() })),
    }
    .map_err(|e| db::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO changes (change_id, registration_id, answer) VALUES (?1, ?2, ?3)",
        params![change_id.to_string(), registration_id, value.to_string()],
    )?;
    Ok(())
}

/// Makes sure the booking has its state row, to change it.
fn state_row(tx: &Transaction, id: &str) -> Result<(), SimError> {
    tx.execute(
        "INSERT OR IGNORE INTO booking_state (registration_id, reschedules_left) VALUES (?1, ?2)",
        params![id, RESCHEDULES],
    )?;
    Ok(())
}

/// The NIK's blocked state changed: kiosks hear of it with the next blocklist delta.
fn blocklist_changed(tx: &Transaction, nik: &str) -> Result<(), SimError> {
    tx.execute("INSERT INTO blocklist_log (nik) VALUES (?1)", params![nik])?;
    Ok(())
}

/// `POST /v1/registrations/{id}/cancel`.
pub(super) fn cancel(
    tx: &Transaction,
    registration_id: &str,
    change_id: &Uuid,
    now: DateTime<Utc>,
) -> Result<Change<ChangeStatus>, SimError> {
    if let Some(answer) = answered::<serde_json::Value>(tx, change_id)? {
        return Ok(answer.map(|_| ChangeStatus::Cancelled));
    }
    let answer = match booking(tx, registration_id)? {
        None => Err(ChangeRefusal::NotFound),
        Some(b) if b.arrived => Err(ChangeRefusal::AlreadyArrived),
        Some(b) if b.cancelled => Ok(ChangeStatus::Cancelled),
        Some(b) => {
            state_row(tx, &b.registration_id)?;
            tx.execute(
                "UPDATE booking_state SET cancelled_at = ?2 WHERE registration_id = ?1",
                params![b.registration_id, now.to_rfc3339()],
            )?;
            tx.execute(
                "DELETE FROM numbers WHERE registration_id = ?1",
                params![b.registration_id],
            )?;
            blocklist_changed(tx, &b.nik)?;
            Ok(ChangeStatus::Cancelled)
        }
    };
    let stored = answer
        .clone()
        .map(|status| serde_json::json!({ "status": status }));
    remember(tx, change_id, registration_id, &stored)?;
    Ok(answer)
}

/// Why the reschedule's new number cannot be booked: not held by this kiosk in an
/// allocation of that date, session and kind. `Ok(Err(()))` for another office.
fn new_number_refusal(
    tx: &Transaction,
    kiosk: &Kiosk,
    b: &Booking,
    req: &RescheduleRequest,
) -> Result<Result<Option<ChangeRefusal>, ()>, SimError> {
    let allocation: Option<(String, String, String, String, String)> = tx
        .query_row(
            "SELECT kiosk_id, office_id, date, session_id, kind FROM allocations
             WHERE allocation_id = ?1",
            params![req.allocation_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((owner, office_id, date, session_id, kind)) = allocation else {
        return Ok(Ok(Some(ChangeRefusal::NumberNotHeld)));
    };
    if office_id != b.office_id {
        return Ok(Err(()));
    }
    let matches = owner == kiosk.kiosk_id
        && date == req.date.to_string()
        && session_id == req.session_id
        && kind == req.kind.code();
    let held: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM numbers WHERE allocation_id = ?1 AND number = ?2
                        AND state = 'held' AND kiosk_id = ?3)",
        params![req.allocation_id, req.queue_number, kiosk.kiosk_id],
        |r| r.get(0),
    )?;
    Ok(Ok(
        (!matches || !held).then_some(ChangeRefusal::NumberNotHeld)
    ))
}

/// A reschedule the rules refuse, in the order a person would want to hear it.
fn reschedule_refusal(
    tx: &Transaction,
    b: &Booking,
    now: DateTime<Utc>,
) -> Result<Option<ChangeRefusal>, SimError> {
    let today = db::today_at(&db::time_zone_of(tx, &b.office_id)?, now);
    Ok(if b.cancelled {
        Some(ChangeRefusal::Cancelled)
    } else if b.arrived {
        Some(ChangeRefusal::AlreadyArrived)
    } else if b.reschedules_left == 0 {
        Some(ChangeRefusal::RescheduleUsed)
    } else if today >= b.date {
        Some(ChangeRefusal::TooLate)
    } else {
        None
    })
}

/// What a reschedule comes to short of a database failure: an answer, or a request
/// that names a number of another office.
pub(super) enum Rescheduled {
    Answer(Change<RescheduleResponse>),
    OtherOffice,
}

/// `POST /v1/registrations/{id}/reschedule`.
pub(super) fn reschedule(
    tx: &Transaction,
    kiosk: &Kiosk,
    registration_id: &str,
    req: &RescheduleRequest,
    signing_key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Rescheduled, SimError> {
    if let Some(answer) = answered(tx, &req.change_id)? {
        return Ok(Rescheduled::Answer(answer));
    }
    let Some(b) = booking(tx, registration_id)? else {
        return remembered(tx, req, registration_id, Err(ChangeRefusal::NotFound));
    };
    if let Some(refusal) = reschedule_refusal(tx, &b, now)? {
        return remembered(tx, req, registration_id, Err(refusal));
    }
    match new_number_refusal(tx, kiosk, &b, req)? {
        Err(()) => return Ok(Rescheduled::OtherOffice),
        Ok(Some(refusal)) => return remembered(tx, req, registration_id, Err(refusal)),
        Ok(None) => {}
    }
    move_booking(tx, kiosk, &b, req)?;
    let signature = signing_key.sign(receipt_message(&req.change_id).as_bytes());
    let answer = RescheduleResponse {
        status: ChangeStatus::Rescheduled,
        receipt: Receipt(signature.to_bytes()),
    };
    remembered(tx, req, registration_id, Ok(answer))
}

fn remembered(
    tx: &Transaction,
    req: &RescheduleRequest,
    registration_id: &str,
    answer: Change<RescheduleResponse>,
) -> Result<Rescheduled, SimError> {
    remember(tx, &req.change_id, registration_id, &answer)?;
    Ok(Rescheduled::Answer(answer))
}

/// The booking on its new number: the old number back to the pool, the new one booked,
/// the registration's slot and ticket the new ones, one reschedule used.
fn move_booking(
    tx: &Transaction,
    kiosk: &Kiosk,
    b: &Booking,
    req: &RescheduleRequest,
) -> Result<(), SimError> {
    tx.execute(
        "DELETE FROM numbers WHERE registration_id = ?1",
        params![b.registration_id],
    )?;
    tx.execute(
        "UPDATE numbers SET state = 'booked', registration_id = ?4
         WHERE allocation_id = ?1 AND number = ?2 AND state = 'held' AND kiosk_id = ?3",
        params![
            req.allocation_id,
            req.queue_number,
            kiosk.kiosk_id,
            b.registration_id
        ],
    )?;
    tx.execute(
        "UPDATE registrations SET allocation_id = ?2, date = ?3, session_id = ?4, kind = ?5,
             queue_number = ?6
         WHERE registration_id = ?1",
        params![
            b.registration_id,
            req.allocation_id,
            req.date.to_string(),
            req.session_id,
            req.kind.code(),
            req.queue_number
        ],
    )?;
    state_row(tx, &b.registration_id)?;
    tx.execute(
        "UPDATE booking_state SET reschedules_left = reschedules_left - 1, ticket = ?2
         WHERE registration_id = ?1",
        params![b.registration_id, req.ticket],
    )?;
    blocklist_changed(tx, &b.nik)?;
    Ok(())
}

/// `POST /v1/arrivals`, one arrival: the counter's offices must include the booking's.
pub(super) fn arrive(
    tx: &Transaction,
    counter: &Kiosk,
    registration_id: &Uuid,
    arrived_at: &str,
) -> Result<ArrivalResult, SimError> {
    let id = registration_id.to_string();
    let rejected = |reason| ArrivalResult {
        registration_id: *registration_id,
        status: ArrivalStatus::Rejected,
        reason: Some(reason),
    };
    let Some(b) = booking(tx, &id)? else {
        return Ok(rejected(ArrivalRejection::NotFound));
    };
    if b.cancelled {
        return Ok(rejected(ArrivalRejection::Cancelled));
    }
    if !counter.office_ids.contains(&b.office_id) {
        return Ok(rejected(ArrivalRejection::WrongOffice));
    }
    if !b.arrived {
        state_row(tx, &id)?;
        tx.execute(
            "UPDATE booking_state SET arrived_at = ?2, counter_id = ?3 WHERE registration_id = ?1",
            params![id, arrived_at, counter.kiosk_id],
        )?;
        blocklist_changed(tx, &b.nik)?;
    }
    Ok(ArrivalResult {
        registration_id: *registration_id,
        status: ArrivalStatus::Arrived,
        reason: None,
    })
}

/// `POST /v1/bookings/find`: the NIK's accepted bookings neither cancelled nor arrived,
/// dated today or later in their office's zone, oldest first.
pub(super) fn find(
    tx: &Transaction,
    nik: &str,
    now: DateTime<Utc>,
) -> Result<Vec<FoundBooking>, SimError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        u32,
        String,
        Option<u32>,
        Option<String>,
        String,
    );
    let mut stmt = tx.prepare(
        "SELECT r.registration_id, r.group_id, r.office_id, r.date, r.session_id, r.kind,
                r.queue_number, r.kiosk_id, s.reschedules_left, s.ticket, r.body
         FROM registrations r LEFT JOIN booking_state s USING (registration_id)
         WHERE r.nik = ?1 AND r.status = 'accepted'
           AND s.cancelled_at IS NULL AND s.arrived_at IS NULL
         ORDER BY r.seq",
    )?;
    let rows: Vec<Row> = stmt
        .query_map(params![nik], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::new();
    for (id, group, office_id, date, session_id, kind, number, kiosk_id, left, ticket, body) in rows
    {
        let date = db::parse_date(&date)?;
        if date < db::today_at(&db::time_zone_of(tx, &office_id)?, now) {
            continue;
        }
        let uuid = |text: &str| {
            Uuid::parse_str(text).map_err(|_| db::corrupt(format!("stored id {text:?}")))
        };
        let ticket = match ticket {
            Some(t) => t,
            None => original_ticket(&body)?,
        };
        found.push(FoundBooking {
            registration_id: uuid(&id)?,
            group_id: uuid(&group)?,
            office_id,
            date,
            session_id,
            kind: QueueKind::from_code(&kind)
                .ok_or_else(|| db::corrupt(format!("queue kind {kind:?}")))?,
            queue_number: number,
            kiosk_id,
            reschedules_left: left.unwrap_or(RESCHEDULES),
            ticket,
        });
    }
    Ok(found)
}

/// The ticket a registration was uploaded with.
fn original_ticket(body: &str) -> Result<String, SimError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| db::corrupt(format!("stored body: {e}")))?;
    Ok(value["ticket"].as_str().unwrap_or_default().to_owned())
}

/// `GET /v1/availability`: the pool's numbers per open day of `from..=to` and session.
pub(super) fn availability(
    tx: &Transaction,
    office: &super::SimOffice,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<AvailabilityResponse, SimError> {
    let o = &office.office;
    let local = now.with_timezone(&db::office_offset(&o.time_zone));
    // Only the window can have numbers: a far `to` costs nothing.
    let today = local.date_naive();
    let last = today + TimeDelta::days(i64::from(o.booking_window_days));
    let mut days = Vec::new();
    let mut date = from.max(today);
    while date <= to.min(last) {
        let mut sessions = Vec::new();
        for s in &o.sessions {
            if db::slot_refusal(office, date, s, now).is_some() {
                continue;
            }
            let free = |kind| -> Result<u32, SimError> {
                Ok(db::free_numbers(tx, office, date, &s.session_id, kind, u32::MAX)?.len() as u32)
            };
            sessions.push(AvailableSession {
                session_id: s.session_id.clone(),
                regular: free(QueueKind::Regular)?,
                priority: free(QueueKind::Priority)?,
            });
        }
        if !sessions.is_empty() {
            days.push(AvailableDay { date, sessions });
        }
        date += TimeDelta::days(1);
    }
    Ok(AvailabilityResponse {
        office_id: o.office_id.clone(),
        as_of: local,
        days,
    })
}
