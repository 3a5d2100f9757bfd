//! The flow's effects, performed: [`Shell`] holds what they need and runs each off the
//! main loop (SQL on the store's writer thread, tickets on the printer's), sending its
//! outcome back to the flow as an event.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, mpsc, watch};

use crate::domain::calendar::{Office, Zone};
use crate::flow::{self, BookingRequest, CommitFailure, Effect, Event, ExistingBooking, Kiosk};
use crate::hardware::printer::worker::PrinterWorker;
use crate::hardware::reader::{ReaderCommand, ReaderHandle, Signal};
use crate::identity::{Enrollment, nik_tag};
use crate::protocol::central::Key32;
use crate::protocol::ticket_qr;
use crate::store::writer::StoreHandle;
use crate::store::{CommitError, CommitPlan, TicketToSign};
use crate::sync::SyncStatus;
use crate::sync::shared::SharedCentral;

/// Everything the effects need, cheap to clone into the tasks that perform them.
#[derive(Clone)]
pub(super) struct Shell {
    pub(super) store: StoreHandle,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) printer: PrinterWorker,
    pub(super) key: Arc<ed25519_dalek::SigningKey>,
    pub(super) tag_secret: Arc<[u8; 32]>,
    pub(super) enrollment: watch::Receiver<Option<Arc<Enrollment>>>,
    /// Wakes the sync loop after a booking, so that it goes out at once.
    pub(super) nudge: Arc<Notify>,
    /// The help panel's officer calls, for the maintenance report and `status`.
    pub(super) calls: crate::maint::calls::OfficerCalls,
    /// The central service, while it answers: the whole window and the changes.
    pub(super) online: Online,
    pub(super) clock: crate::clock::SharedClock,
}

/// Today at the office `office_id` (else the kiosk's first office), in its zone; in WIB
/// when the kiosk knows no office yet.
pub(super) fn office_today(
    offices: &[Office],
    office_id: Option<&str>,
    now: DateTime<Utc>,
) -> NaiveDate {
    offices
        .iter()
        .find(|o| Some(o.id.as_str()) == office_id)
        .or(offices.first())
        .map_or_else(
            || now.with_timezone(&Zone::Wib.offset()).date_naive(),
            |o| o.today(now),
        )
}

impl Shell {
    pub(super) fn perform(
        &self,
        effect: Effect,
        kiosk: &Kiosk,
        reader: &ReaderHandle,
        now: DateTime<Utc>,
    ) {
        match effect {
            Effect::Beep { ok } => reader.command(ReaderCommand::Signal(if ok {
                Signal::BeepOk
            } else {
                Signal::BeepError
            })),
            Effect::Audit { event, detail } => self.audit(event, detail, now),
            Effect::CheckApplicant { nik } => {
                let today = office_today(&kiosk.offices, kiosk.office_id.as_deref(), now);
                self.check_applicant(nik, today);
            }
            Effect::LoadAvailability { office_id } => {
                let today = office_today(&kiosk.offices, Some(&office_id), now);
                let window = kiosk
                    .offices
                    .iter()
                    .find(|o| o.id == office_id)
                    .map_or(0, |o| o.booking_window_days);
                let to = today + chrono::TimeDelta::days(i64::from(window));
                self.load_availability(office_id, today, to);
            }
            Effect::RequestNumbers {
                office_id,
                date,
                session_id,
                regular,
                priority,
            } => {
                let today = office_today(&kiosk.offices, Some(&office_id), now);
                let pool = kiosk.availability.as_ref().and_then(|a| a.pool.clone());
                let ask = NumbersAsk {
                    office_id,
                    date,
                    session_id,
                    need: (regular, priority),
                    today,
                };
                self.request_numbers(ask, pool);
            }
            Effect::RescheduleBooking {
                booking,
                date,
                session_id,
                created_at,
            } => {
                let today = office_today(&kiosk.offices, Some(&booking.office_id), now);
                self.reschedule(Move {
                    booking,
                    date,
                    session_id,
                    created_at,
                    today,
                });
            }
            Effect::CancelBooking {
                booking,
                created_at,
            } => self.cancel(booking, created_at),
            Effect::PrintBooking { booking, copy } => {
                self.print_booking(booking, copy, kiosk.language)
            }
            Effect::CommitBooking(request) => {
                let created_on = office_today(&kiosk.offices, Some(&request.office_id), now);
                self.commit_booking(request, created_on);
            }
            Effect::CallOfficer { screen } => self.call_officer(screen, reader, now),
            Effect::PrintTickets { group_id } => {
                let shell = self.clone();
                tokio::spawn(async move {
                    let printed = shell.printer.print_group(group_id).await;
                    let _ = shell.events.send(Event::Printed(printed)).await;
                });
            }
        }
    }

    /// An applicant asked for an officer: counted and kept open for the maintenance side,
    /// written to the audit and the log (a fleet's log collector sees it), and sounded on
    /// the card reader's buzzer, the one sound every kiosk has: the printers of the
    /// table have no buzzer of their own.
    fn call_officer(
        &self,
        screen: flow::view::ScreenKind,
        reader: &ReaderHandle,
        now: DateTime<Utc>,
    ) {
        self.calls.record(now, screen);
        tracing::warn!(
            screen = screen.name(),
            "an applicant called an officer to the kiosk"
        );
        self.audit("officer_called", screen.name().to_owned(), now);
        reader.command(ReaderCommand::Signal(Signal::BeepError));
    }

    fn audit(&self, event: &'static str, detail: String, now: DateTime<Utc>) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.run(move |s| s.audit(now, event, &detail)).await {
                tracing::error!(error = %e, "audit line not written");
            }
        });
    }

    /// The booking, in the store's one transaction, its tickets signed with the kiosk's
    /// key as the enrolled kiosk, their NIK check keyed with the enrollment's NIK hash
    /// key; the sync loop is woken to send it.
    fn commit_booking(&self, request: BookingRequest, created_on: NaiveDate) {
        // A kiosk without an enrollment is held out of service and holds no numbers, so
        // no booking should reach here; should one, it is not stored and the applicant
        // is sent to an officer as on a store fault: no number is used up, and no ticket
        // is printed that no counter could check (no kiosk id, no key for its `n`).
        let Some((kiosk_id, nik_hash_key)) = self
            .enrollment
            .borrow()
            .as_ref()
            .map(|e| (e.kiosk_id.clone(), Key32(e.nik_hash_key)))
        else {
            tracing::error!(
                "BOOKING NOT STORED: the kiosk is not enrolled, so it cannot sign tickets"
            );
            let events = self.events.clone();
            tokio::spawn(async move {
                let failed = Event::Committed(Err(CommitFailure::StorageFailed));
                let _ = events.send(failed).await;
            });
            return;
        };
        let (store, events, key, secret, nudge) = (
            self.store.clone(),
            self.events.clone(),
            self.key.clone(),
            self.tag_secret.clone(),
            self.nudge.clone(),
        );
        tokio::spawn(async move {
            let result = store
                .call(move |s| {
                    let tag = |nik: &str| nik_tag(&secret, nik);
                    let sign = |t: &TicketToSign<'_>| {
                        ticket_qr::sign(&t.claims(&kiosk_id, &nik_hash_key), &key)
                    };
                    s.commit_booking(&CommitPlan {
                        request: &request,
                        created_on,
                        nik_tag: &tag,
                        sign: &sign,
                    })
                })
                .await;
            let committed = match result {
                Ok(Ok(booked)) => {
                    tracing::info!(group = %booked.booking_code, size = booked.tickets.len(), "booking committed");
                    nudge.notify_one();
                    Ok(booked)
                }
                Ok(Err(CommitError::NumbersGone(kind))) => {
                    tracing::info!(?kind, "numbers ran out before the commit");
                    Err(CommitFailure::NumbersGone)
                }
                Ok(Err(CommitError::Store(e))) | Err(e) => {
                    tracing::error!(error = %e, "BOOKING NOT STORED: the store cannot write; check disk space and the database");
                    Err(CommitFailure::StorageFailed)
                }
            };
            let _ = events.send(Event::Committed(committed)).await;
        });
    }
}

/// The central service as the effects reach it: the sync task's client once it is made,
/// and whether the last round reached the service.
#[derive(Clone)]
pub(super) struct Online {
    pub(super) client: watch::Receiver<Option<SharedCentral>>,
    pub(super) status: watch::Receiver<SyncStatus>,
}

impl Online {
    /// The client, while the service answered the last sync round.
    pub(super) fn client(&self) -> Option<SharedCentral> {
        if !self.status.borrow().online {
            return None;
        }
        self.client.borrow().clone()
    }
}

/// What `Shell::request_numbers` asks for.
pub(super) struct NumbersAsk {
    pub(super) office_id: String,
    pub(super) date: NaiveDate,
    pub(super) session_id: String,
    /// Regular and priority numbers still needed.
    pub(super) need: (u32, u32),
    /// The office's today: the count starts there.
    pub(super) today: NaiveDate,
}

/// What `Shell::reschedule` moves, and where to.
pub(super) struct Move {
    pub(super) booking: ExistingBooking,
    pub(super) date: NaiveDate,
    pub(super) session_id: String,
    pub(super) created_at: DateTime<Utc>,
    /// The office's today.
    pub(super) today: NaiveDate,
}
