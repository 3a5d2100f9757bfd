//! Version 1.1 of the central quota service's API (`central-api.md`, "Version 1.1: the
//! booking after it is made"), as serde types: what the service can still hand out, the
//! bookings of a NIK, cancelling and rescheduling one, and the counter's arrivals. The
//! version 1 endpoints are `central`'s, and their conventions hold here too: unknown
//! fields are ignored, codes the service may add later survive as `Other(String)`, and a
//! Debug of a body with a NIK in it shows it masked.
//!
//! A service without version 1.1 answers `404` on these paths; `sync::client` turns that
//! into "not supported" rather than a failure.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::central::{Receipt, open_code_enum};
use crate::domain::QueueKind;

// ---- GET /v1/availability?office_id=&from=&to= ----

/// What the service's pool still holds, per open date and session: numbers no kiosk
/// holds. A snapshot: an allocation asked for afterwards may still be denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityResponse {
    pub office_id: String,
    pub as_of: DateTime<FixedOffset>,
    /// Closed dates and dates outside the window are absent.
    #[serde(default)]
    pub days: Vec<AvailableDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableDay {
    pub date: NaiveDate,
    #[serde(default)]
    pub sessions: Vec<AvailableSession>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableSession {
    pub session_id: String,
    pub regular: u32,
    pub priority: u32,
}

impl AvailabilityResponse {
    /// The pool's numbers for one session, or none.
    pub fn pool(&self, date: NaiveDate, session_id: &str) -> (u32, u32) {
        self.days
            .iter()
            .filter(|d| d.date == date)
            .flat_map(|d| &d.sessions)
            .find(|s| s.session_id == session_id)
            .map_or((0, 0), |s| (s.regular, s.priority))
    }
}

// ---- POST /v1/bookings/find ----

/// The NIK whose bookings are asked for. Personal data: Debug masks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindRequest {
    pub nik: String,
}

impl fmt::Debug for FindRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FindRequest")
            .field("nik", &crate::domain::nik::mask(&self.nik))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FindResponse {
    #[serde(default)]
    pub bookings: Vec<FoundBooking>,
}

/// A booking not yet served, dated today or later, made at any kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundBooking {
    pub registration_id: Uuid,
    pub group_id: Uuid,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub queue_number: u32,
    pub kiosk_id: String,
    pub reschedules_left: u32,
    /// The QR payload it was issued (or last rescheduled) with: a reprint prints it as is.
    pub ticket: String,
}

// ---- POST /v1/registrations/{id}/cancel ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Made by the kiosk (UUID v7) when the applicant confirms; the idempotency key.
    pub change_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
}

open_code_enum!(
    /// What became of a cancel or a reschedule.
    ChangeStatus {
        Cancelled = "cancelled",
        Rescheduled = "rescheduled",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    pub status: ChangeStatus,
}

// ---- POST /v1/registrations/{id}/reschedule ----

/// The booking moved to another date or session of its office, on a number the kiosk
/// holds, with the new ticket's QR payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleRequest {
    pub change_id: Uuid,
    pub allocation_id: String,
    pub queue_number: u32,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub ticket: String,
    pub created_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleResponse {
    pub status: ChangeStatus,
    /// The service's Ed25519 signature over the change id, as a registration's receipt
    /// is over the registration id (`central::receipt_message`).
    pub receipt: Receipt,
}

open_code_enum!(
    /// Why the service refused a cancel or a reschedule (`409`, the error body's code).
    ChangeRefusal {
        /// The booking was rescheduled once already.
        RescheduleUsed = "reschedule_used",
        /// Later than the day before the booking's date, in the office's zone.
        TooLate = "too_late",
        NotFound = "not_found",
        Cancelled = "cancelled",
        AlreadyArrived = "already_arrived",
        /// The new number is not one this kiosk holds.
        NumberNotHeld = "number_not_held",
    }
);

// ---- POST /v1/arrivals ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalsRequest {
    pub arrivals: Vec<Arrival>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub registration_id: Uuid,
    pub arrived_at: DateTime<FixedOffset>,
    pub counter_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalsResponse {
    pub results: Vec<ArrivalResult>,
}

open_code_enum!(
    /// The outcome of one reported arrival.
    ArrivalStatus {
        Arrived = "arrived",
        Rejected = "rejected",
    }
);

open_code_enum!(
    /// Why the service refused an arrival.
    ArrivalRejection {
        NotFound = "not_found",
        Cancelled = "cancelled",
        WrongOffice = "wrong_office",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalResult {
    pub registration_id: Uuid,
    pub status: ArrivalStatus,
    /// Set when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ArrivalRejection>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The spec's examples read, and write back with the same fields.
    #[test]
    fn the_specs_examples_round_trip() {
        let availability = json!({"office_id": "KRM", "as_of": "2026-11-22T09:15:00+07:00",
            "days": [{"date": "2026-11-24",
                      "sessions": [{"session_id": "S1", "regular": 12, "priority": 3}]}]});
        let a: AvailabilityResponse =
            serde_json::from_value(availability.clone()).expect("availability reads");
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date");
        assert_eq!(a.pool(day, "S1"), (12, 3));
        assert_eq!(a.pool(day, "S2"), (0, 0));
        assert_eq!(serde_json::to_value(&a).ok(), Some(availability));

        let reschedule = json!({"change_id": "0193a5c1-0000-7000-8000-000000000001",
            "allocation_id": "a-9e1d", "queue_number": 4, "date": "2026-12-01",
            "session_id": "S2", "kind": "regular", "ticket": "APM2.x.y",
            "created_at": "2026-11-23T10:02:11+07:00"});
        let r: RescheduleRequest =
            serde_json::from_value(reschedule.clone()).expect("reschedule reads");
        assert_eq!(serde_json::to_value(&r).ok(), Some(reschedule));

        let found: FindResponse = serde_json::from_value(json!({"bookings": [{
            "registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33",
            "group_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b34", "office_id": "KRM",
            "date": "2026-11-24", "session_id": "S1", "kind": "regular", "queue_number": 21,
            "kiosk_id": "KRM-02", "reschedules_left": 1, "ticket": "APM2.x.y",
            "not_in_the_spec": true}]}))
        .expect("a found booking reads, unknown fields ignored");
        assert_eq!(found.bookings[0].reschedules_left, 1);

        let arrivals: ArrivalsResponse = serde_json::from_value(json!({"results": [
            {"registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33", "status": "arrived"},
            {"registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b34", "status": "rejected",
             "reason": "wrong_office"}]}))
        .expect("arrival results read");
        assert_eq!(
            arrivals.results[1].reason,
            Some(ArrivalRejection::WrongOffice)
        );
    }

    #[test]
    fn refusal_codes_are_the_specs_and_new_ones_survive() {
        for (code, refusal) in [
            ("reschedule_used", ChangeRefusal::RescheduleUsed),
            ("too_late", ChangeRefusal::TooLate),
            ("not_found", ChangeRefusal::NotFound),
            ("cancelled", ChangeRefusal::Cancelled),
            ("already_arrived", ChangeRefusal::AlreadyArrived),
            ("number_not_held", ChangeRefusal::NumberNotHeld),
        ] {
            assert_eq!(ChangeRefusal::from_code(code), refusal);
            assert_eq!(refusal.code(), code);
        }
        assert_eq!(
            ChangeRefusal::from_code("office_moved"),
            ChangeRefusal::Other("office_moved".into())
        );
    }

    #[test]
    fn a_find_request_never_shows_the_nik() {
        let req = FindRequest {
            nik: "2102015708900003".into(),
        };
        assert!(!format!("{req:?}").contains("570890"));
    }
}
