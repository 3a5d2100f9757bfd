//! Version 1.1 of the fake central service ([`BookingApi`]): what the pool can still
//! give, a NIK's bookings, cancels, reschedules and arrivals, over the registrations
//! the fake keeps. The rules are the spec's (`central-api.md`, "Version 1.1"), as the
//! simulator has them, in memory: a booking is rescheduled once and no later than the
//! day before its date (in the office's zone), onto a number the fake handed out and no
//! live booking holds; a change id sent again is answered as it was first. A test reads
//! back each change as it reached the service ([`FakeChange`]) and each booking as it
//! stands now ([`FakeBooking`]).
//!
//! Simpler than the simulator: numbers given back (a cancel, a reschedule's old number)
//! are counted as released, not handed out again; the receipt of a reschedule is the
//! change id's bytes, not a signature; availability respects working days and closed
//! dates, not the booking window.

use std::collections::HashMap;

use apm_kiosk::domain::QueueKind;
use apm_kiosk::protocol::central::{self as wire, Receipt};
use apm_kiosk::protocol::central_v11::{
    ArrivalRejection, ArrivalResult, ArrivalStatus, ArrivalsRequest, ArrivalsResponse,
    AvailabilityResponse, AvailableDay, AvailableSession, CancelRequest, CancelResponse,
    ChangeRefusal, ChangeStatus, FindRequest, FindResponse, FoundBooking, RescheduleRequest,
    RescheduleResponse,
};
use apm_kiosk::sync::bookings::{BookingApi, Changed};
use apm_kiosk::sync::client::ApiError;
use chrono::{Datelike as _, NaiveDate};
use uuid::Uuid;

use super::{Endpoint, FakeCentral, Fault, Slot, State};
use crate::fixtures::wib;

/// What became of one accepted booking after it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct After {
    reschedules_left: u32,
    cancelled: bool,
    arrived: bool,
}

impl Default for After {
    fn default() -> After {
        After {
            reschedules_left: 1,
            cancelled: false,
            arrived: false,
        }
    }
}

/// Which change a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Cancel,
    Reschedule,
}

/// One change id as the service first received it and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeChange {
    pub change_id: Uuid,
    pub registration_id: Uuid,
    pub kind: ChangeKind,
    /// `None`: done.
    pub refused: Option<ChangeRefusal>,
}

/// A booking as it stands at the service now.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeBooking {
    /// As uploaded, with a reschedule's new slot, number, allocation and ticket.
    pub registration: wire::Registration,
    pub reschedules_left: u32,
    pub cancelled: bool,
    pub arrived: bool,
}

/// The 1.1 part of the service's state.
#[derive(Default)]
pub(super) struct V11 {
    after: HashMap<Uuid, After>,
    /// Every change id first received, in order, with its answer.
    changes: Vec<FakeChange>,
}

impl FakeCentral {
    /// The service has no version 1.1: every 1.1 endpoint answers `404` (until
    /// [`FakeCentral::heal`]).
    pub fn lack_v11(&self) {
        for endpoint in Endpoint::V11 {
            self.fail_always(endpoint, Fault::refused(404, "not_found"));
        }
    }

    /// Every change id that reached the service, in the order first received.
    pub fn changes(&self) -> Vec<FakeChange> {
        self.lock().v11.changes.clone()
    }

    /// Every accepted booking as it stands now.
    pub fn bookings(&self) -> Vec<FakeBooking> {
        let s = self.lock();
        s.accepted().map(|(r, after)| booking(r, after)).collect()
    }

    /// The accepted booking with this id, as it stands now.
    pub fn booking(&self, registration_id: Uuid) -> Option<FakeBooking> {
        self.bookings()
            .into_iter()
            .find(|b| b.registration.registration_id == registration_id)
    }

    /// Pairs of live bookings (not cancelled) that hold the same number of the same
    /// slot: what must never happen.
    pub fn double_booked(&self) -> Vec<(Uuid, Uuid)> {
        let live: Vec<_> = self
            .bookings()
            .into_iter()
            .filter(|b| !b.cancelled)
            .collect();
        let mut seen: HashMap<(Slot, u32), Uuid> = HashMap::new();
        let mut doubles = Vec::new();
        for b in live {
            let r = &b.registration;
            if let Some(first) = seen.insert((slot_of(r), r.queue_number), r.registration_id) {
                doubles.push((first, r.registration_id));
            }
        }
        doubles
    }

    /// Live bookings (not cancelled) on a number the service has taken back (given back
    /// by a release, a cancel or a reschedule): what a kiosk that books a number it no
    /// longer holds would leave.
    pub fn misbooked(&self) -> Vec<Uuid> {
        let s = self.lock();
        s.accepted()
            .filter(|(r, after)| {
                !after.cancelled
                    && s.released
                        .contains(&(r.allocation_id.clone(), r.queue_number))
            })
            .map(|(r, _)| r.registration_id)
            .collect()
    }

    /// The officer at the counter checked this booking in (as `POST /v1/arrivals`).
    pub fn arrive(&self, registration_id: Uuid) {
        self.lock().after_of(registration_id).arrived = true;
    }
}

fn booking(r: &wire::Registration, after: After) -> FakeBooking {
    FakeBooking {
        registration: r.clone(),
        reschedules_left: after.reschedules_left,
        cancelled: after.cancelled,
        arrived: after.arrived,
    }
}

fn slot_of(r: &wire::Registration) -> Slot {
    (r.office_id.clone(), r.date, r.session_id.clone(), r.kind)
}

impl State {
    /// The accepted registrations, each with what became of it.
    fn accepted(&self) -> impl Iterator<Item = (&wire::Registration, After)> {
        self.registrations
            .values()
            .filter(|(_, result)| result.status == wire::RegistrationStatus::Accepted)
            .map(|(r, _)| {
                let after = self.v11.after.get(&r.registration_id).copied();
                (r, after.unwrap_or_default())
            })
    }

    fn after_of(&mut self, id: Uuid) -> &mut After {
        self.v11.after.entry(id).or_default()
    }

    fn accepted_one(&self, id: &Uuid) -> Option<(wire::Registration, After)> {
        self.accepted()
            .find(|(r, _)| r.registration_id == *id)
            .map(|(r, after)| (r.clone(), after))
    }

    /// The office's today, in its zone (WIB when it names none the kiosk knows).
    fn today_of(&self, office_id: &str) -> NaiveDate {
        let offset = self
            .offices
            .iter()
            .find(|o| o.office_id == office_id)
            .and_then(wire::Office::utc_offset)
            .unwrap_or_else(wib);
        self.now().with_timezone(&offset).date_naive()
    }

    fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AvailabilityResponse {
        let office = self.offices.iter().find(|o| o.office_id == office_id);
        let days = office
            .map(|o| {
                from.iter_days()
                    .take_while(|d| *d <= to)
                    .filter(|d| open_on(o, *d))
                    .map(|date| AvailableDay {
                        date,
                        sessions: o
                            .sessions
                            .iter()
                            .map(|s| self.pool(office_id, date, &s.session_id))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        AvailabilityResponse {
            office_id: office_id.to_owned(),
            as_of: self.now().with_timezone(&wib()).fixed_offset(),
            days,
        }
    }

    fn pool(&self, office_id: &str, date: NaiveDate, session_id: &str) -> AvailableSession {
        let left = |kind: QueueKind| {
            let quota = self.quotas.get(office_id).map_or(0, |q| match kind {
                QueueKind::Regular => q.regular,
                QueueKind::Priority => q.priority,
            });
            let slot = (office_id.to_owned(), date, session_id.to_owned(), kind);
            quota.saturating_sub(self.given.get(&slot).copied().unwrap_or(0))
        };
        AvailableSession {
            session_id: session_id.to_owned(),
            regular: left(QueueKind::Regular),
            priority: left(QueueKind::Priority),
        }
    }

    fn find(&self, req: &FindRequest) -> FindResponse {
        let bookings = self
            .accepted()
            .filter(|(r, after)| r.applicant.nik == req.nik && !after.cancelled && !after.arrived)
            .filter(|(r, _)| r.date >= self.today_of(&r.office_id))
            .map(|(r, after)| FoundBooking {
                registration_id: r.registration_id,
                group_id: r.group_id,
                office_id: r.office_id.clone(),
                date: r.date,
                session_id: r.session_id.clone(),
                kind: r.kind,
                queue_number: r.queue_number,
                kiosk_id: "FAKE-KIOSK-01".into(),
                reschedules_left: after.reschedules_left,
                ticket: r.ticket.clone(),
            })
            .collect();
        FindResponse { bookings }
    }

    /// The answer a change id had, if it came before.
    fn answered(&self, change_id: &Uuid) -> Option<Option<ChangeRefusal>> {
        self.v11
            .changes
            .iter()
            .find(|c| c.change_id == *change_id)
            .map(|c| c.refused.clone())
    }

    fn remember(
        &mut self,
        change_id: Uuid,
        id: Uuid,
        kind: ChangeKind,
        refused: Option<ChangeRefusal>,
    ) {
        self.v11.changes.push(FakeChange {
            change_id,
            registration_id: id,
            kind,
            refused,
        });
    }

    /// Gives a booked number back to the pool.
    fn give_back(&mut self, r: &wire::Registration) {
        self.released
            .insert((r.allocation_id.clone(), r.queue_number));
    }

    fn cancel(&mut self, id: &Uuid, req: &CancelRequest) -> Option<ChangeRefusal> {
        if let Some(answer) = self.answered(&req.change_id) {
            return answer;
        }
        let refused = match self.accepted_one(id) {
            None => Some(ChangeRefusal::NotFound),
            Some((_, after)) if after.arrived => Some(ChangeRefusal::AlreadyArrived),
            Some((_, after)) if after.cancelled => None,
            Some((r, _)) => {
                self.give_back(&r);
                self.after_of(*id).cancelled = true;
                None
            }
        };
        self.remember(req.change_id, *id, ChangeKind::Cancel, refused.clone());
        refused
    }

    fn reschedule(&mut self, id: &Uuid, req: &RescheduleRequest) -> Option<ChangeRefusal> {
        if let Some(answer) = self.answered(&req.change_id) {
            return answer;
        }
        let refused = match self.accepted_one(id) {
            None => Some(ChangeRefusal::NotFound),
            Some((r, after)) => self.reschedule_refusal(&r, after, req).or_else(|| {
                self.move_booking(&r, req);
                None
            }),
        };
        self.remember(req.change_id, *id, ChangeKind::Reschedule, refused.clone());
        refused
    }

    fn reschedule_refusal(
        &self,
        r: &wire::Registration,
        after: After,
        req: &RescheduleRequest,
    ) -> Option<ChangeRefusal> {
        if after.cancelled {
            Some(ChangeRefusal::Cancelled)
        } else if after.arrived {
            Some(ChangeRefusal::AlreadyArrived)
        } else if after.reschedules_left == 0 {
            Some(ChangeRefusal::RescheduleUsed)
        } else if self.today_of(&r.office_id) >= r.date {
            Some(ChangeRefusal::TooLate)
        } else if !self.holds(&r.office_id, req) {
            Some(ChangeRefusal::NumberNotHeld)
        } else {
            None
        }
    }

    /// The new number was handed out in that allocation for that slot, is not given
    /// back, and no live booking holds it.
    fn holds(&self, office_id: &str, req: &RescheduleRequest) -> bool {
        let slot = (
            office_id.to_owned(),
            req.date,
            req.session_id.clone(),
            req.kind,
        );
        let handed = self
            .handed
            .get(&req.allocation_id)
            .is_some_and(|(s, numbers)| *s == slot && numbers.contains(&req.queue_number));
        let released = self
            .released
            .contains(&(req.allocation_id.clone(), req.queue_number));
        let taken = self.accepted().any(|(r, after)| {
            !after.cancelled
                && r.allocation_id == req.allocation_id
                && r.queue_number == req.queue_number
        });
        handed && !released && !taken
    }

    fn move_booking(&mut self, old: &wire::Registration, req: &RescheduleRequest) {
        self.give_back(old);
        if let Some((r, _)) = self.registrations.get_mut(&old.registration_id) {
            r.allocation_id = req.allocation_id.clone();
            r.queue_number = req.queue_number;
            r.date = req.date;
            r.session_id = req.session_id.clone();
            r.kind = req.kind;
            r.ticket = req.ticket.clone();
        }
        let after = self.after_of(old.registration_id);
        after.reschedules_left = after.reschedules_left.saturating_sub(1);
    }

    fn arrivals(&mut self, req: &ArrivalsRequest) -> ArrivalsResponse {
        let results = req
            .arrivals
            .iter()
            .map(|a| {
                let id = a.registration_id;
                let reason = match self.accepted_one(&id) {
                    None => Some(ArrivalRejection::NotFound),
                    Some((_, after)) if after.cancelled => Some(ArrivalRejection::Cancelled),
                    Some(_) => {
                        self.after_of(id).arrived = true;
                        None
                    }
                };
                ArrivalResult {
                    registration_id: id,
                    status: if reason.is_some() {
                        ArrivalStatus::Rejected
                    } else {
                        ArrivalStatus::Arrived
                    },
                    reason,
                }
            })
            .collect();
        ArrivalsResponse { results }
    }
}

fn open_on(office: &wire::Office, date: NaiveDate) -> bool {
    let weekday = u8::try_from(date.weekday().number_from_monday()).unwrap_or(0);
    office.working_days.contains(&weekday) && !office.closed_dates.contains(&date)
}

/// The change answered: done, or the rules' refusal.
fn changed<T>(refused: Option<ChangeRefusal>, done: T) -> Changed<T> {
    match refused {
        None => Changed::Done(done),
        Some(refusal) => Changed::Refused(refusal),
    }
}

/// The receipt of a change: its id's bytes, four times (the fake signs nothing).
fn receipt(change_id: &Uuid) -> Receipt {
    let mut bytes = [0; 64];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(change_id.as_bytes());
    }
    Receipt(bytes)
}

impl BookingApi for FakeCentral {
    async fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<AvailabilityResponse, ApiError> {
        let fault = self.begin(Endpoint::Availability).await;
        self.finish(fault, |s| s.availability(office_id, from, to))
    }

    async fn find(&self, req: &FindRequest) -> Result<FindResponse, ApiError> {
        let fault = self.begin(Endpoint::Find).await;
        self.finish(fault, |s| s.find(req))
    }

    async fn cancel(
        &self,
        registration_id: &Uuid,
        req: &CancelRequest,
    ) -> Result<Changed<CancelResponse>, ApiError> {
        let fault = self.begin(Endpoint::Cancel).await;
        let refused = self.finish(fault, |s| s.cancel(registration_id, req))?;
        let done = CancelResponse {
            status: ChangeStatus::Cancelled,
        };
        Ok(changed(refused, done))
    }

    async fn reschedule(
        &self,
        registration_id: &Uuid,
        req: &RescheduleRequest,
    ) -> Result<Changed<RescheduleResponse>, ApiError> {
        let fault = self.begin(Endpoint::Reschedule).await;
        let refused = self.finish(fault, |s| s.reschedule(registration_id, req))?;
        let done = RescheduleResponse {
            status: ChangeStatus::Rescheduled,
            receipt: receipt(&req.change_id),
        };
        Ok(changed(refused, done))
    }

    async fn arrivals(&self, req: &ArrivalsRequest) -> Result<ArrivalsResponse, ApiError> {
        let fault = self.begin(Endpoint::Arrivals).await;
        self.finish(fault, |s| s.arrivals(req))
    }
}

#[cfg(test)]
mod tests {
    use apm_kiosk::protocol::central::{AllocationAsk, AllocationsRequest, RegistrationsRequest};
    use apm_kiosk::sync::client::CentralApi as _;
    use chrono::FixedOffset;

    use super::*;
    use crate::fixtures::{day, tuesday_morning};

    fn created_at() -> chrono::DateTime<FixedOffset> {
        tuesday_morning().with_timezone(&wib())
    }

    /// A booking of number `number` on 2 December S1, as a kiosk uploads it.
    fn registration(number: u32) -> wire::Registration {
        use apm_kiosk::domain::{ApplicationType, PassportType, Sex};
        wire::Registration {
            registration_id: Uuid::now_v7(),
            allocation_id: "fake-alloc-1".into(),
            queue_number: number,
            office_id: "KRM".into(),
            date: day("2026-12-02"),
            session_id: "S1".into(),
            kind: QueueKind::Regular,
            group_id: Uuid::now_v7(),
            application_type: ApplicationType::New,
            passport_type: PassportType::Electronic,
            priority_reason: None,
            applicant: wire::Applicant {
                nik: "2102015708900003".into(),
                kk_number: None,
                name: None,
                birth_place: None,
                birth_date: day("1990-08-17"),
                sex: Sex::Female,
                address: None,
                phone: None,
            },
            created_at: created_at(),
            ticket: "APM2.x.y".into(),
        }
    }

    fn move_to(allocation_id: &str, number: u32) -> RescheduleRequest {
        RescheduleRequest {
            change_id: Uuid::now_v7(),
            allocation_id: allocation_id.into(),
            queue_number: number,
            date: day("2026-12-03"),
            session_id: "S2".into(),
            kind: QueueKind::Regular,
            ticket: "APM2.new".into(),
            created_at: created_at(),
        }
    }

    #[tokio::test]
    async fn changes_follow_the_rules_once_by_change_id() {
        let central = FakeCentral::new();
        central.set_clock(Some(tuesday_morning()));
        let ask = |date: &str, session: &str| AllocationAsk {
            office_id: "KRM".into(),
            date: day(date),
            session_id: session.into(),
            kind: QueueKind::Regular,
            count: 2,
        };
        let asks = vec![ask("2026-12-02", "S1"), ask("2026-12-03", "S2")];
        let granted = central
            .allocate(&AllocationsRequest { requests: asks })
            .await
            .expect("granted");
        let (first, second) = (registration(1), registration(2));
        let registrations = vec![first.clone(), second.clone()];
        central
            .upload(&RegistrationsRequest { registrations })
            .await
            .expect("uploaded");
        let pool = central.availability("KRM", day("2026-12-02"), day("2026-12-03"));
        assert_eq!(
            pool.await.expect("answered").pool(day("2026-12-03"), "S2"),
            (14, 4)
        );

        let new = &granted.allocations[1].allocation_id;
        let not_held = move_to(new, 9);
        let refused = central.reschedule(&first.registration_id, &not_held);
        let refused = refused.await.expect("answered");
        assert_eq!(refused, Changed::Refused(ChangeRefusal::NumberNotHeld));
        let req = move_to(new, 1);
        let done = central.reschedule(&first.registration_id, &req).await;
        assert!(matches!(done, Ok(Changed::Done(_))), "{done:?}");
        let again = central.reschedule(&first.registration_id, &req).await;
        assert!(matches!(again, Ok(Changed::Done(_))), "answered as before");
        let used = central
            .reschedule(&first.registration_id, &move_to(new, 2))
            .await;
        assert_eq!(
            used.ok(),
            Some(Changed::Refused(ChangeRefusal::RescheduleUsed))
        );
        let moved = central.booking(first.registration_id).expect("booked");
        assert_eq!(
            (moved.registration.date, moved.reschedules_left),
            (day("2026-12-03"), 0)
        );

        central.arrive(second.registration_id);
        let cancel = CancelRequest {
            change_id: Uuid::now_v7(),
            created_at: created_at(),
        };
        let arrived = central.cancel(&second.registration_id, &cancel).await;
        assert_eq!(
            arrived.ok(),
            Some(Changed::Refused(ChangeRefusal::AlreadyArrived))
        );
        let cancel = CancelRequest {
            change_id: Uuid::now_v7(),
            ..cancel
        };
        let done = central.cancel(&first.registration_id, &cancel).await;
        assert!(matches!(done, Ok(Changed::Done(_))), "{done:?}");
        let find = FindRequest {
            nik: "2102015708900003".into(),
        };
        assert!(
            central
                .find(&find)
                .await
                .expect("found")
                .bookings
                .is_empty()
        );
        assert_eq!(central.changes().len(), 5, "one entry per change id");
        assert!(central.double_booked().is_empty() && central.misbooked().is_empty());

        central.lack_v11();
        let missing = central.find(&find).await.expect_err("no 1.1");
        assert!(missing.is_unsupported(), "{missing:?}");
    }
}
