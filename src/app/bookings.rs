//! The effects of the whole booking window and of the booking after it is made: the
//! service's pool beside the numbers held, numbers asked for the session an applicant
//! chose, a NIK's bookings (the store's, and the service's while it answers), and their
//! reprints, cancels and reschedules.
//!
//! Every call to the service here is bounded ([`LOOKUP_WAIT`], [`CHANGE_WAIT`]) and made
//! only while the last sync round reached it, so that an offline kiosk never makes an
//! applicant wait for a time-out: it then books and changes what it holds, as before.
//! A change is stored, with its queue row, before it is sent; sent at once while the
//! service answers, and by the sync loop otherwise (`sync::changes`).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::shell::{Move, NumbersAsk, Shell};
use crate::domain::nik::Nik;
use crate::domain::{QueueKind, QueueNumber, rules};
use crate::flow::{
    self, Availability, BookingsFound, ChangeProblem, Event, ExistingBooking, NumbersFailure,
    SlotCount,
};
use crate::identity::nik_tag;
use crate::protocol::central::{AllocationAsk, AllocationsRequest, Key32, nik_hash};
use crate::protocol::central_v11::{ChangeRefusal, FindRequest, FoundBooking};
use crate::protocol::ticket_qr;
use crate::store::changes::{
    CancelOutcome, ChangeAnswer, ChangeError, FoundReschedulePlan, KioskBooking, ReschedulePlan,
    ServiceFeature,
};
use crate::store::{HeldAllocation, ReissuedTicket};
use crate::sync::bookings::BookingApi;
use crate::sync::changes::{learned, send_change_at};
use crate::sync::client::{ApiError, CentralApi};
use crate::sync::shared::SharedCentral;

/// How long an applicant waits for the service to find bookings or count its pool.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(3);
/// How long an applicant waits for numbers asked for, or for a change's answer.
pub const CHANGE_WAIT: Duration = Duration::from_secs(8);

/// A call to the service that gave no usable answer in time.
#[derive(Debug)]
enum Unanswered {
    Api(ApiError),
    TimedOut,
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::Api(e) => e.fmt(f),
            Unanswered::TimedOut => f.write_str("no answer within the wait"),
        }
    }
}

/// `call`, given at most `wait`.
async fn bounded<T>(
    wait: Duration,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, Unanswered> {
    match tokio::time::timeout(wait, call).await {
        Ok(answer) => answer.map_err(Unanswered::Api),
        Err(_) => Err(Unanswered::TimedOut),
    }
}

/// A booking of this kiosk's store, as "my booking" shows it.
fn kiosk_booking(b: KioskBooking) -> ExistingBooking {
    ExistingBooking {
        registration_id: b.registration_id,
        office_id: b.office_id,
        date: b.date,
        session_id: b.session_id,
        queue_number: b.queue_number,
        masked_nik: b.masked_nik,
        name: b.name,
        own: b.own,
        here: true,
        reschedules_left: b.reschedules_left,
        booking_code: Some(b.booking_code),
        group_id: Some(b.group_id),
        ticket: None,
    }
}

/// A booking the service found for the card's NIK, made elsewhere.
fn found_booking(b: FoundBooking, nik: &Nik) -> ExistingBooking {
    ExistingBooking {
        registration_id: b.registration_id.to_string(),
        office_id: b.office_id,
        date: b.date,
        session_id: b.session_id,
        queue_number: QueueNumber {
            kind: b.kind,
            number: b.queue_number,
        },
        masked_nik: nik.masked(),
        name: None,
        own: true,
        here: false,
        reschedules_left: b.reschedules_left,
        booking_code: Some(crate::store::booking_code(&b.group_id)),
        group_id: Some(b.group_id.to_string()),
        ticket: Some(b.ticket),
    }
}

/// A refusal of the service's rules, as the applicant is told it.
fn refusal_problem(refusal: &ChangeRefusal) -> ChangeProblem {
    match refusal {
        ChangeRefusal::RescheduleUsed => ChangeProblem::RescheduleUsed,
        ChangeRefusal::TooLate => ChangeProblem::TooLate,
        ChangeRefusal::NotFound => ChangeProblem::NotFound,
        ChangeRefusal::Cancelled => ChangeProblem::Cancelled,
        ChangeRefusal::AlreadyArrived => ChangeProblem::AlreadyArrived,
        ChangeRefusal::NumberNotHeld => ChangeProblem::NumberNotHeld,
        ChangeRefusal::Other(_) => ChangeProblem::Refused,
    }
}

/// Why the store made no change, as the applicant is told it.
fn store_problem(e: &ChangeError) -> ChangeProblem {
    match e {
        ChangeError::NumbersGone(_) => ChangeProblem::NumbersGone,
        ChangeError::NotLive => ChangeProblem::NotFound,
        ChangeError::NoneLeft => ChangeProblem::RescheduleUsed,
        // An old `APM1` ticket: the booking stands, it is not moved here.
        ChangeError::TicketUnreadable => ChangeProblem::Refused,
        ChangeError::Store(_) => ChangeProblem::StorageFailed,
    }
}

/// The held numbers and what the pool has, per session, as the flow reads them.
fn pool_slots(answer: crate::protocol::central_v11::AvailabilityResponse) -> Vec<SlotCount> {
    answer
        .days
        .into_iter()
        .flat_map(|d| {
            d.sessions.into_iter().map(move |s| SlotCount {
                date: d.date,
                session_id: s.session_id,
                regular: s.regular,
                priority: s.priority,
            })
        })
        .collect()
}

/// `pool` less what was just granted out of it.
fn less_granted(
    pool: Option<Vec<SlotCount>>,
    granted: &[HeldAllocation],
) -> Option<Vec<SlotCount>> {
    let mut pool = pool?;
    for g in granted {
        for s in pool
            .iter_mut()
            .filter(|s| s.date == g.date && s.session_id == g.session_id)
        {
            let n = g.numbers.len() as u32;
            match g.kind {
                QueueKind::Regular => s.regular = s.regular.saturating_sub(n),
                QueueKind::Priority => s.priority = s.priority.saturating_sub(n),
            }
        }
    }
    Some(pool)
}

/// What a numbers request asks for: one line per kind it needs.
fn asks(
    office_id: &str,
    date: NaiveDate,
    session_id: &str,
    need: (u32, u32),
) -> AllocationsRequest {
    let ask = |kind, count| AllocationAsk {
        office_id: office_id.to_owned(),
        date,
        session_id: session_id.to_owned(),
        kind,
        count,
    };
    let requests = [(QueueKind::Regular, need.0), (QueueKind::Priority, need.1)]
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| ask(kind, count))
        .collect();
    AllocationsRequest { requests }
}

/// What the service said to a lookup of a NIK's bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookout {
    Answered,
    /// `404`: it lacks version 1.1.
    Lacks,
    /// Offline, a failure, or no answer in time.
    NoAnswer,
}

/// What the store knows of a NIK: its bookings here, the rules' verdict, and whether the
/// service is known to lack version 1.1.
struct Lookup {
    local: Vec<KioskBooking>,
    rules: Result<(), rules::RuleViolation>,
    lacks_changes: bool,
}

impl Shell {
    /// The kiosk's own record of the NIK and the service's blocklist, against the rules;
    /// a NIK that holds bookings (here, or at the service while it answers) is answered
    /// with them instead.
    pub(super) fn check_applicant(&self, nik: Nik, today: NaiveDate) {
        let shell = self.clone();
        tokio::spawn(async move {
            let lookup = shell.look_up(nik.as_str(), today).await;
            let mut bookings: Vec<ExistingBooking> =
                lookup.local.into_iter().map(kiosk_booking).collect();
            let found = match shell.online.client() {
                Some(api) => shell.find_elsewhere(&api, &nik, &mut bookings).await,
                None => Lookout::NoAnswer,
            };
            let event = if bookings.is_empty() {
                Event::Checked(lookup.rules)
            } else {
                Event::BookingsFound(BookingsFound {
                    bookings,
                    online: found == Lookout::Answered,
                    service_lacks_changes: lookup.lacks_changes || found == Lookout::Lacks,
                })
            };
            let _ = shell.events.send(event).await;
        });
    }

    async fn look_up(&self, nik: &str, today: NaiveDate) -> Lookup {
        let tag = nik_tag(&self.tag_secret, nik);
        let hash = self
            .enrollment
            .borrow()
            .as_ref()
            .map(|e| nik_hash(&Key32(e.nik_hash_key), nik));
        let looked_up = self
            .store
            .run(move |s| {
                let history = s.history(&tag)?;
                let blocked = match hash {
                    Some(h) => s.blocked_until(&h)?,
                    None => None,
                };
                // Version 1.1 comes whole: a service found to lack any of what "my
                // booking" uses is not sent changes it may not have either.
                let lacks_changes = s.service_lacks()?.iter().any(|(f, _)| {
                    matches!(
                        f,
                        ServiceFeature::Find
                            | ServiceFeature::Availability
                            | ServiceFeature::Cancel
                            | ServiceFeature::Reschedule
                    )
                });
                Ok((history, blocked, s.bookings_of(&tag, today)?, lacks_changes))
            })
            .await;
        match looked_up {
            Ok((history, blocked, local, lacks_changes)) => Lookup {
                local,
                rules: rules::check_history(&history, today)
                    .and(rules::check_blocklist(blocked, today)),
                lacks_changes,
            },
            Err(e) => {
                // The kiosk cannot see its own bookings: the service still enforces
                // the rules, and the commit will surface the fault.
                tracing::error!(error = %e, "booking history unavailable");
                Lookup {
                    local: Vec::new(),
                    rules: Ok(()),
                    lacks_changes: false,
                }
            }
        }
    }

    /// The NIK's bookings at the service that this kiosk does not hold, added to
    /// `bookings`; what the service said.
    async fn find_elsewhere(
        &self,
        api: &SharedCentral,
        nik: &Nik,
        bookings: &mut Vec<ExistingBooking>,
    ) -> Lookout {
        let req = FindRequest {
            nik: nik.as_str().to_owned(),
        };
        match self.learning(ServiceFeature::Find, api.find(&req)).await {
            Ok(found) => {
                for b in found.bookings {
                    let id = b.registration_id.to_string();
                    if !bookings.iter().any(|have| have.registration_id == id) {
                        bookings.push(found_booking(b, nik));
                    }
                }
                Lookout::Answered
            }
            Err(Unanswered::Api(e)) if e.is_unsupported() => Lookout::Lacks,
            Err(e) => {
                tracing::warn!(error = %e, "the central service did not find bookings; the kiosk's own record is shown");
                Lookout::NoAnswer
            }
        }
    }

    /// The numbers held at `office_id` from `today`, and the service's pool up to `to`
    /// while it answers.
    pub(super) fn load_availability(&self, office_id: String, today: NaiveDate, to: NaiveDate) {
        let shell = self.clone();
        tokio::spawn(async move {
            let id = office_id.clone();
            let mut availability = match shell.store.run(move |s| s.availability(&id, today)).await
            {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "availability unavailable");
                    Availability {
                        office_id: office_id.clone(),
                        ..Availability::default()
                    }
                }
            };
            if let Some(api) = shell.online.client() {
                availability.pool = shell.pool(&api, &office_id, today, to).await;
            }
            let _ = shell
                .events
                .send(Event::AvailabilityLoaded(availability))
                .await;
        });
    }

    async fn pool(
        &self,
        api: &SharedCentral,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Option<Vec<SlotCount>> {
        let call = api.availability(office_id, from, to);
        match self.learning(ServiceFeature::Availability, call).await {
            Ok(answer) => Some(pool_slots(answer)),
            Err(Unanswered::Api(e)) if e.is_unsupported() => None,
            Err(e) => {
                tracing::warn!(error = %e, "the central service's pool unknown; the held numbers are offered");
                None
            }
        }
    }

    /// Asks the service for exactly what the session chosen still needs, keeps what it
    /// grants, and counts the office again.
    pub(super) fn request_numbers(&self, ask: NumbersAsk, pool: Option<Vec<SlotCount>>) {
        let shell = self.clone();
        tokio::spawn(async move {
            let granted = shell.granted(&ask, pool).await;
            let _ = shell.events.send(Event::NumbersGranted(granted)).await;
        });
    }

    async fn granted(
        &self,
        ask: &NumbersAsk,
        pool: Option<Vec<SlotCount>>,
    ) -> Result<Availability, NumbersFailure> {
        let api = self.online.client().ok_or(NumbersFailure::NoAnswer)?;
        let req = asks(&ask.office_id, ask.date, &ask.session_id, ask.need);
        let answer = match bounded(CHANGE_WAIT, api.allocate(&req)).await {
            Ok(answer) => answer,
            Err(e) => {
                // A grant whose answer was lost stays with the service until its date.
                tracing::warn!(error = %e, "numbers asked for an applicant's session did not come");
                return Err(NumbersFailure::NoAnswer);
            }
        };
        let grants: Vec<HeldAllocation> = answer
            .allocations
            .iter()
            .map(HeldAllocation::granted)
            .collect();
        let keep = grants.clone();
        let (office_id, from) = (ask.office_id.clone(), ask.today);
        let counted = self
            .store
            .run(move |s| {
                for g in &keep {
                    s.add_held(g)?;
                }
                s.availability(&office_id, from)
            })
            .await;
        match counted {
            Ok(mut availability) => {
                self.nudge.notify_one();
                availability.pool = less_granted(pool, &grants);
                Ok(availability)
            }
            Err(e) => {
                tracing::error!(error = %e, "numbers granted but not stored; they return to the service by their date");
                Err(NumbersFailure::NoAnswer)
            }
        }
    }

    /// A booking this kiosk holds, or one found at the service, moved to a new day.
    pub(super) fn reschedule(&self, change: Move) {
        let shell = self.clone();
        tokio::spawn(async move {
            let result = if change.booking.here {
                shell.reschedule_here(&change).await
            } else {
                shell.reschedule_found(&change).await
            };
            let _ = shell.events.send(Event::Rescheduled(result)).await;
        });
    }

    async fn reschedule_here(&self, change: &Move) -> Result<ExistingBooking, ChangeProblem> {
        let signer = self.signer().ok_or(ChangeProblem::StorageFailed)?;
        let id = change.booking.registration_id.clone();
        let (date, session_id, at) = (change.date, change.session_id.clone(), change.created_at);
        let today = change.today;
        let change_id = Uuid::now_v7();
        let stored = self
            .store
            .call(move |s| {
                s.reschedule_booking(&ReschedulePlan {
                    registration_id: &id,
                    date,
                    session_id: &session_id,
                    change_id,
                    at,
                    today,
                    sign: &|t: &ReissuedTicket<'_>| signer.reissue(t),
                })
            })
            .await;
        let moved = match stored {
            Ok(Ok(moved)) => moved,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "booking not rescheduled");
                return Err(store_problem(&e));
            }
            Err(e) => {
                tracing::error!(error = %e, "BOOKING NOT RESCHEDULED: the store cannot write");
                return Err(ChangeProblem::StorageFailed);
            }
        };
        self.nudge.notify_one();
        if let Some(change_id) = moved.queued {
            // Refused by the service: the store has put the booking back as it was.
            if let Some(Err(refusal)) = self.send_now(change_id).await {
                return Err(refusal);
            }
        }
        Ok(ExistingBooking {
            date: moved.date,
            session_id: moved.session_id,
            queue_number: moved.queue_number,
            reschedules_left: change.booking.reschedules_left.saturating_sub(1),
            ..change.booking.clone()
        })
    }

    async fn reschedule_found(&self, change: &Move) -> Result<ExistingBooking, ChangeProblem> {
        let signer = self.signer().ok_or(ChangeProblem::StorageFailed)?;
        let booking = change.booking.clone();
        let (date, session_id, at) = (change.date, change.session_id.clone(), change.created_at);
        let change_id = Uuid::now_v7();
        let found = booking.clone();
        let stored = self
            .store
            .call(move |s| {
                s.reschedule_found(&FoundReschedulePlan {
                    found: &found,
                    date,
                    session_id: &session_id,
                    change_id,
                    at,
                    sign: &|t: &ReissuedTicket<'_>| signer.reissue(t),
                })
            })
            .await;
        let moved = match stored {
            Ok(Ok(moved)) => moved,
            Ok(Err(e)) => return Err(store_problem(&e)),
            Err(e) => {
                tracing::error!(error = %e, "BOOKING NOT RESCHEDULED: the store cannot write");
                return Err(ChangeProblem::StorageFailed);
            }
        };
        self.nudge.notify_one();
        // Made elsewhere: the new ticket prints only once the service has moved it.
        match self.send_now(change_id).await {
            Some(Ok(())) => Ok(ExistingBooking {
                date: moved.date,
                session_id: moved.session_id,
                queue_number: moved.queue_number,
                reschedules_left: booking.reschedules_left.saturating_sub(1),
                ticket: Some(moved.ticket),
                ..booking
            }),
            Some(Err(refusal)) => Err(refusal),
            None => Err(ChangeProblem::NoAnswer),
        }
    }

    /// A booking cancelled: released here if never sent, else queued and sent.
    pub(super) fn cancel(&self, booking: ExistingBooking, at: DateTime<Utc>) {
        let shell = self.clone();
        tokio::spawn(async move {
            let result = shell.cancelled(&booking, at).await;
            let _ = shell.events.send(Event::Cancelled(result)).await;
        });
    }

    async fn cancelled(
        &self,
        booking: &ExistingBooking,
        at: DateTime<Utc>,
    ) -> Result<(), ChangeProblem> {
        let id = booking.registration_id.clone();
        let change_id = Uuid::now_v7();
        let here = booking.here;
        let stored = self
            .store
            .call(move |s| match here {
                true => s.cancel_booking(&id, change_id, at),
                false => s
                    .queue_found_cancel(&id, change_id, at)
                    .map(|()| CancelOutcome::Queued { change_id })
                    .map_err(ChangeError::from),
            })
            .await;
        match stored {
            Ok(Ok(CancelOutcome::Released)) => Ok(()),
            Ok(Ok(CancelOutcome::Queued { change_id })) => {
                self.nudge.notify_one();
                match self.send_now(change_id).await {
                    Some(answer) => answer,
                    // Kept and sent when the service answers; for a booking of this
                    // kiosk the cancel stands here already.
                    None if here => Ok(()),
                    None => Err(ChangeProblem::NoAnswer),
                }
            }
            Ok(Err(e)) => Err(store_problem(&e)),
            Err(e) => {
                tracing::error!(error = %e, "BOOKING NOT CANCELLED: the store cannot write");
                Err(ChangeProblem::StorageFailed)
            }
        }
    }

    /// A stored change sent at once, while the service answers: its answer (stored by
    /// the same code as the sync loop's), or `None` when there is none yet (offline, no
    /// answer in time, a service without version 1.1): the sync loop sends it later.
    async fn send_now(&self, change_id: Uuid) -> Option<Result<(), ChangeProblem>> {
        let api = self.online.client()?;
        let sent = send_change_at(&api, &self.store, change_id, self.clock.now());
        match tokio::time::timeout(CHANGE_WAIT, sent).await {
            Ok(Ok(ChangeAnswer::Done { .. })) => Some(Ok(())),
            Ok(Ok(ChangeAnswer::Refused(refusal))) => Some(Err(refusal_problem(&refusal))),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a booking's change is kept for the sync loop");
                None
            }
            Err(_) => {
                tracing::warn!("a booking's change got no answer in time; kept for the sync loop");
                None
            }
        }
    }

    /// Prints a booking's ticket: a copy or, after a move, the new one; from the store
    /// for this kiosk's, from the service's ticket for one found there.
    pub(super) fn print_booking(
        &self,
        booking: ExistingBooking,
        copy: bool,
        language: crate::domain::Language,
    ) {
        let shell = self.clone();
        tokio::spawn(async move {
            let printed = match (booking.here, copy, booking.group_id.clone()) {
                (true, true, _) => shell
                    .printer
                    .reprint(booking.registration_id.clone())
                    .await
                    .map_err(|e| match e {
                        crate::hardware::printer::worker::ReprintError::NotPrinted(f) => f,
                        _ => flow::PrintFailure::Failed,
                    }),
                (true, false, Some(group_id)) => shell.printer.print_group(group_id).await,
                _ => shell.printer.print_found(booking, language, copy).await,
            };
            let _ = shell.events.send(Event::Printed(printed)).await;
        });
    }

    /// What reissues a moved booking's ticket: this kiosk's id and key, the `n` kept.
    fn signer(&self) -> Option<Reissuer> {
        let kiosk_id = self.enrollment.borrow().as_ref()?.kiosk_id.clone();
        Some(Reissuer {
            kiosk_id,
            key: self.key.clone(),
        })
    }

    /// A lookup of the service bounded by [`LOOKUP_WAIT`], and what its answer says of
    /// the service's `feature` noted (a `404`: it lacks it; an answer: it has it), for
    /// the technician's report and the next applicant.
    async fn learning<T>(
        &self,
        feature: ServiceFeature,
        call: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, Unanswered> {
        let Ok(answer) = tokio::time::timeout(LOOKUP_WAIT, call).await else {
            return Err(Unanswered::TimedOut);
        };
        if let Err(e) = learned(&self.store, feature, &answer, self.clock.now()).await {
            tracing::error!(error = %e, "what the central service lacks is not recorded");
        }
        answer.map_err(Unanswered::Api)
    }
}

/// Signs a moved booking's new ticket as this kiosk.
struct Reissuer {
    kiosk_id: String,
    key: std::sync::Arc<ed25519_dalek::SigningKey>,
}

impl Reissuer {
    /// The new ticket, or `None` when the old one's NIK check cannot be carried over.
    fn reissue(&self, t: &ReissuedTicket<'_>) -> Option<String> {
        let claims = t.claims(&self.kiosk_id)?;
        Some(ticket_qr::sign(&claims, &self.key))
    }
}
