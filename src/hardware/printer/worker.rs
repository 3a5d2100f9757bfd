//! The printer worker: the one thread that prints. Device calls block, and a printer
//! that hangs must not hang the kiosk, so the worker owns the [`TicketPrinter`] on a
//! thread of its own and takes requests (a booking's tickets, a technician's reprint or
//! test page) from tokio code through [`PrinterWorker`]. It is the only one that prints,
//! so the store's print bookkeeping (attempts, printed) is done here, in order, and a
//! ticket is never printed twice by two callers at once.
//!
//! The ticket's layout is `protocol::escpos`'s; what a failed print means to the
//! applicant is `flow`'s; the transports are [`super::open`]'s.

use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{oneshot, watch};

use super::{self as printer_hw, PrinterState};
use crate::domain::Language;
use crate::domain::calendar::{Office, OfficeDetails};
use crate::flow::{ExistingBooking, PrintFailure};
use crate::protocol::escpos;
use crate::protocol::printer_profile::PrinterProfile;
use crate::store::StoredTicket;
use crate::store::writer::StoreHandle;

/// The ticket as the printer lays it out: the stored booking, the office as the
/// service describes it (its name, the session's name) and as the configuration adds
/// to it (`details`: address and hours; none printed where none is configured).
pub fn printable(
    t: &StoredTicket,
    office: Option<&Office>,
    details: Option<&OfficeDetails>,
    copy: bool,
) -> escpos::Ticket {
    escpos::Ticket {
        language: t.language,
        office_name: office.map_or_else(|| t.office_id.clone(), |o| o.name.clone()),
        office_address: details.and_then(|d| d.address.clone()),
        office_hours: details.and_then(|d| d.hours.clone()),
        queue_number: t.queue_number.to_string(),
        priority: t.queue_number.kind == crate::domain::QueueKind::Priority,
        priority_reason: t.priority_reason,
        visit_date: t.date,
        session_id: t.session_id.clone(),
        session: office.and_then(|o| o.session_name(&t.session_id)),
        name: t.name.clone(),
        child: t.child,
        masked_nik: t.masked_nik.clone(),
        application_type: Some(t.application_type),
        passport_type: Some(t.passport_type),
        group_size: t.group_size,
        group_index: t.position,
        booking_code: t.booking_code.clone(),
        qr_payload: t.qr_payload.clone(),
        copy,
    }
}

/// The ticket of a booking found at the central service and not in this kiosk's store,
/// as the printer lays it out: the service's QR payload as it is, the office's name and
/// session as this kiosk knows them, no application line and no documents (the service's
/// record does not carry them; the original ticket has them).
pub fn printable_found(
    b: &ExistingBooking,
    language: Language,
    office: Option<&Office>,
    details: Option<&OfficeDetails>,
    copy: bool,
) -> Option<escpos::Ticket> {
    Some(escpos::Ticket {
        language,
        office_name: office.map_or_else(|| b.office_id.clone(), |o| o.name.clone()),
        office_address: details.and_then(|d| d.address.clone()),
        office_hours: details.and_then(|d| d.hours.clone()),
        queue_number: b.queue_number.to_string(),
        priority: b.queue_number.kind == crate::domain::QueueKind::Priority,
        priority_reason: None,
        visit_date: b.date,
        session_id: b.session_id.clone(),
        session: office.and_then(|o| o.session_name(&b.session_id)),
        name: b.name.clone(),
        child: false,
        masked_nik: b.masked_nik.clone(),
        application_type: None,
        passport_type: None,
        group_size: 1,
        group_index: 1,
        booking_code: b.booking_code.clone().unwrap_or_default(),
        qr_payload: b.ticket.clone()?,
        copy,
    })
}

// --- the printer worker ------------------------------------------------------------

/// How often the printer worker asks the printer's status while tickets wait to be
/// printed again: "every few seconds", so a reloaded roll gives the tickets back soon.
pub const BACKLOG_POLL: Duration = Duration::from_secs(3);
/// How often it asks while nothing waits, so that the maintenance side sees paper near
/// end, paper out or a printer switched off before the next applicant does, and `ok`
/// in the report means the printer answered a few seconds ago. Four `DLE EOT` bytes and
/// their answers every 5 s cost the printer nothing.
pub const IDLE_POLL: Duration = Duration::from_secs(5);

/// Why a ticket asked for by registration id did not come out. Carries no ticket text.
#[derive(Debug, thiserror::Error)]
pub enum ReprintError {
    #[error("no registration {0} on this kiosk")]
    Unknown(String),
    #[error("the printer cannot print now ({0:?}); the ticket will come out when it recovers")]
    NotPrinted(PrintFailure),
    #[error("the ticket cannot be read from the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the printer worker has stopped")]
    Stopped,
}

/// The printer the worker drives, how often it asks its status, and the clock by
/// which it stamps a print and finds which tickets are still for today or later.
#[derive(Clone)]
pub struct PrinterSettings {
    /// What the tickets are laid out for.
    pub profile: PrinterProfile,
    /// [`BACKLOG_POLL`] in the daemon; tests shorten it.
    pub backlog_poll: Duration,
    /// [`IDLE_POLL`] in the daemon.
    pub idle_poll: Duration,
    /// The daemon's clock (the system's unless a test gives another).
    pub clock: crate::clock::SharedClock,
    /// What the configuration adds to each office (`[offices.ID]`), by office id.
    pub office_details: std::collections::BTreeMap<String, OfficeDetails>,
}

impl PrinterSettings {
    /// The daemon's: `profile`, polled every [`BACKLOG_POLL`] and [`IDLE_POLL`].
    pub fn new(profile: PrinterProfile) -> PrinterSettings {
        PrinterSettings {
            profile,
            backlog_poll: BACKLOG_POLL,
            idle_poll: IDLE_POLL,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
            office_details: Default::default(),
        }
    }
}

enum PrintRequest {
    /// A booking's tickets not yet printed, from the flow (first print or retry).
    Group {
        group_id: String,
        reply: oneshot::Sender<Result<(), PrintFailure>>,
    },
    /// One ticket again, printed or not, for a technician.
    Reprint {
        registration_id: String,
        reply: oneshot::Sender<Result<(), ReprintError>>,
    },
    /// The ticket of a booking found at the service (not in the store), from memory.
    Found {
        booking: Box<ExistingBooking>,
        language: Language,
        copy: bool,
        reply: oneshot::Sender<Result<(), PrintFailure>>,
    },
    /// A technician's test page: these lines, no ticket, nothing counted.
    TestPage {
        lines: Vec<String>,
        reply: oneshot::Sender<Result<PrinterState, PrintFailure>>,
    },
}

/// The printer on its own thread: device calls block, and a printer that hangs must not
/// hang the kiosk. It is the only one that prints, so the store's print bookkeeping
/// (attempts, printed) is done here, in order, and a ticket is never printed twice by
/// two callers at once. While tickets wait to be printed again it polls the printer
/// every [`PrinterSettings::backlog_poll`] and prints them all, as COPY where an
/// attempt was made before, once it is ready.
#[derive(Clone)]
pub struct PrinterWorker {
    requests: std::sync::mpsc::Sender<PrintRequest>,
}

fn failure_of(state: PrinterState) -> Option<PrintFailure> {
    match state {
        PrinterState::Ok | PrinterState::PaperNearEnd => None,
        PrinterState::PaperOut => Some(PrintFailure::PaperOut),
        PrinterState::CoverOpen => Some(PrintFailure::CoverOpen),
        PrinterState::Offline => Some(PrintFailure::Offline),
        PrinterState::Error => Some(PrintFailure::Failed),
    }
}

impl PrinterWorker {
    /// Starts the printer thread. It asks the printer's status at once, so that the
    /// maintenance side knows it before the first ticket, and picks up tickets an
    /// earlier run left unprinted. `state` carries the printer's state to the status
    /// command.
    pub fn spawn(
        open: printer_hw::PrinterOpener,
        settings: PrinterSettings,
        store: StoreHandle,
        state: watch::Sender<PrinterState>,
    ) -> anyhow::Result<PrinterWorker> {
        let (requests, rx) = std::sync::mpsc::channel::<PrintRequest>();
        let mut thread = PrinterThread {
            open,
            settings,
            store,
            state,
            device: None,
            open_failure_reported: false,
            backlog: true,
            unconfirmed: false,
        };
        std::thread::Builder::new()
            .name("printer".into())
            .spawn(move || thread.run(rx))
            .context("cannot start the printer thread")?;
        Ok(PrinterWorker { requests })
    }

    /// Prints the group's tickets that have not come out whole yet, in the group's
    /// order; one sent to the printer before is marked COPY.
    pub async fn print_group(&self, group_id: String) -> Result<(), PrintFailure> {
        let (reply, rx) = oneshot::channel();
        if self
            .requests
            .send(PrintRequest::Group { group_id, reply })
            .is_err()
        {
            return Err(PrintFailure::Failed);
        }
        rx.await.unwrap_or(Err(PrintFailure::Failed))
    }

    /// Prints one ticket again for a technician, printed before or not. It is marked
    /// COPY when it was printed or sent to the printer before.
    pub async fn reprint(&self, registration_id: String) -> Result<(), ReprintError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(PrintRequest::Reprint {
                registration_id,
                reply,
            })
            .map_err(|_| ReprintError::Stopped)?;
        rx.await.unwrap_or(Err(ReprintError::Stopped))
    }

    /// Prints the ticket of a booking found at the service, in `language`, marked COPY
    /// when `copy`. Nothing is kept: an applicant whose ticket did not come out lays the
    /// KTP again.
    pub async fn print_found(
        &self,
        booking: ExistingBooking,
        language: Language,
        copy: bool,
    ) -> Result<(), PrintFailure> {
        let (reply, rx) = oneshot::channel();
        let booking = Box::new(booking);
        self.requests
            .send(PrintRequest::Found {
                booking,
                language,
                copy,
                reply,
            })
            .map_err(|_| PrintFailure::Failed)?;
        rx.await.unwrap_or(Err(PrintFailure::Failed))
    }

    /// Prints a test page of `lines` (no personal data) and says how the printer is
    /// after it.
    pub async fn test_page(&self, lines: Vec<String>) -> Result<PrinterState, PrintFailure> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(PrintRequest::TestPage { lines, reply })
            .map_err(|_| PrintFailure::Failed)?;
        rx.await.unwrap_or(Err(PrintFailure::Failed))
    }
}

/// The printer thread's own state.
struct PrinterThread {
    open: printer_hw::PrinterOpener,
    settings: PrinterSettings,
    store: StoreHandle,
    state: watch::Sender<PrinterState>,
    /// Opened on demand and dropped after an I/O error: the cable may have been pulled
    /// and put back, and the next use opens it again.
    device: Option<Box<dyn printer_hw::TicketPrinter>>,
    /// A printer that cannot be opened is logged once, not at every poll.
    open_failure_reported: bool,
    /// Tickets may be waiting to be printed again; true at start, for what an earlier
    /// run left behind.
    backlog: bool,
    /// The last job was not confirmed although the printer said it was fine (a printer
    /// that does not answer its profile's confirmation): the backlog is not printed by
    /// itself again, which would feed COPY after COPY, until the printer's state
    /// changes or someone asks (an applicant's retry, a technician's reprint).
    unconfirmed: bool,
}

impl PrinterThread {
    fn run(&mut self, requests: std::sync::mpsc::Receiver<PrintRequest>) {
        use std::sync::mpsc::RecvTimeoutError;
        self.poll();
        loop {
            // Asked at least every idle poll, a backlog or not: `ok` means it answered.
            let wait = if self.backlog && !self.unconfirmed {
                self.settings.backlog_poll.min(self.settings.idle_poll)
            } else {
                self.settings.idle_poll
            };
            match requests.recv_timeout(wait) {
                Ok(PrintRequest::Group { group_id, reply }) => {
                    self.unconfirmed = false;
                    let result = self.print_group(&group_id);
                    let _ = reply.send(result);
                }
                Ok(PrintRequest::Reprint {
                    registration_id,
                    reply,
                }) => {
                    self.unconfirmed = false;
                    let result = self.reprint(&registration_id);
                    let _ = reply.send(result);
                }
                Ok(PrintRequest::Found {
                    booking,
                    language,
                    copy,
                    reply,
                }) => {
                    self.unconfirmed = false;
                    let result = self.print_found(&booking, language, copy);
                    let _ = reply.send(result);
                }
                Ok(PrintRequest::TestPage { lines, reply }) => {
                    let result = self.test_page(&lines);
                    let _ = reply.send(result);
                }
                Err(RecvTimeoutError::Timeout) => self.poll(),
                // Every handle is gone: the daemon is stopping.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Asks the printer how it is; prints the backlog if there is one and it is ready.
    fn poll(&mut self) {
        let Some(state) = self.status() else { return };
        if self.backlog && !self.unconfirmed && state.can_print() {
            self.print_backlog();
        }
    }

    /// The printer's state, published; `None` if it cannot even be asked.
    fn status(&mut self) -> Option<PrinterState> {
        let dev = self.device()?;
        match dev.status() {
            Ok(state) => {
                self.publish(state);
                Some(state)
            }
            Err(e) => {
                tracing::warn!(error = %e, "printer status unreadable");
                self.lost_device();
                None
            }
        }
    }

    fn device(&mut self) -> Option<&mut Box<dyn printer_hw::TicketPrinter>> {
        if self.device.is_none() {
            match (self.open)() {
                Ok(dev) => {
                    self.open_failure_reported = false;
                    self.device = Some(dev);
                }
                Err(e) => {
                    if !self.open_failure_reported {
                        tracing::error!(error = %e, "printer cannot be opened; tickets kept for reprint");
                        self.open_failure_reported = true;
                    }
                    self.publish(PrinterState::Offline);
                    return None;
                }
            }
        }
        self.device.as_mut()
    }

    fn lost_device(&mut self) {
        self.device = None;
        self.publish(PrinterState::Offline);
    }

    /// Tells the status command the printer's state, and the log when it changes: a
    /// technician must hear of paper near end before the roll runs out. No ticket
    /// content, so no personal data, goes into these lines.
    fn publish(&mut self, new: PrinterState) {
        let old = self.state.send_replace(new);
        if old == new {
            return;
        }
        self.unconfirmed = false;
        match new.advice() {
            None => tracing::info!(was = ?old, "printer ready"),
            Some(advice) => tracing::warn!("{advice}"),
        }
    }

    fn print_group(&mut self, group_id: &str) -> Result<(), PrintFailure> {
        let id = group_id.to_owned();
        let tickets = match self.store.call_blocking(move |s| s.group_tickets(&id)) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "tickets cannot be read back for printing");
                return Err(PrintFailure::Failed);
            }
        };
        let offices = self.offices();
        for ticket in tickets.iter().filter(|t| !t.printed) {
            if let Err(failure) = self.print_one(ticket, &offices) {
                self.backlog = true;
                return Err(failure);
            }
        }
        Ok(())
    }

    fn reprint(&mut self, registration_id: &str) -> Result<(), ReprintError> {
        let id = registration_id.to_owned();
        let ticket = self
            .store
            .call_blocking(move |s| s.ticket(&id))??
            .ok_or_else(|| ReprintError::Unknown(registration_id.to_owned()))?;
        let offices = self.offices();
        self.print_one(&ticket, &offices).map_err(|failure| {
            if !ticket.printed {
                self.backlog = true;
            }
            ReprintError::NotPrinted(failure)
        })?;
        tracing::info!(
            registration = registration_id,
            "ticket reprinted on request"
        );
        Ok(())
    }

    fn print_found(
        &mut self,
        b: &ExistingBooking,
        language: Language,
        copy: bool,
    ) -> Result<(), PrintFailure> {
        let offices = self.offices();
        let office = offices.iter().find(|o| o.id == b.office_id);
        let details = self.settings.office_details.get(&b.office_id);
        let Some(ticket) = printable_found(b, language, office, details, copy) else {
            tracing::error!("a booking found at the service came without its ticket");
            return Err(PrintFailure::Failed);
        };
        let state = self.status().ok_or(PrintFailure::Offline)?;
        if let Some(failure) = failure_of(state) {
            return Err(failure);
        }
        let job = escpos::ticket_job(&ticket, self.settings.profile);
        self.send_ticket(&job, b.queue_number, true)
    }

    fn test_page(&mut self, lines: &[String]) -> Result<PrinterState, PrintFailure> {
        let state = self.status().ok_or(PrintFailure::Offline)?;
        if let Some(failure) = failure_of(state) {
            return Err(failure);
        }
        let job = escpos::test_page_job(lines, self.settings.profile);
        let Some(dev) = self.device.as_mut() else {
            return Err(PrintFailure::Offline);
        };
        match dev.send_job(&job) {
            Ok(after) => {
                self.publish(after);
                match failure_of(after) {
                    Some(failure) => Err(failure),
                    None => {
                        tracing::info!("test page printed");
                        Ok(after)
                    }
                }
            }
            Err(e @ printer_hw::PrinterError::Unconfirmed { .. }) => {
                tracing::error!(error = %e, "test page not confirmed");
                Err(PrintFailure::Failed)
            }
            Err(e) => {
                tracing::error!(error = %e, "test page failed");
                self.lost_device();
                Err(PrintFailure::Failed)
            }
        }
    }

    /// Every ticket still to print for today or later, in booking order, stopping at
    /// the first that does not come out.
    fn print_backlog(&mut self) {
        let offices = self.offices();
        let now = self.settings.clock.now();
        // A ticket for a visit today, in any zone the kiosk books for, still counts.
        let from = crate::domain::calendar::earliest_today(&offices, now);
        let tickets = match self.store.call_blocking(move |s| s.reprint_backlog(from)) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "unprinted tickets cannot be read");
                return;
            }
        };
        let mut printed = 0;
        for ticket in &tickets {
            if self.print_one(ticket, &offices).is_err() {
                tracing::info!(
                    printed,
                    waiting = tickets.len() - printed,
                    "unprinted tickets wait for the printer"
                );
                return;
            }
            printed += 1;
        }
        if printed > 0 {
            tracing::info!(
                printed,
                "unprinted tickets printed after the printer recovered"
            );
        }
        self.backlog = false;
    }

    fn offices(&self) -> Vec<Office> {
        match self.store.call_blocking(|s| s.offices()) {
            Ok(Ok(offices)) => offices,
            Ok(Err(e)) | Err(e) => {
                // The ticket still prints, with the office id for its name.
                tracing::error!(error = %e, "offices unreadable for the ticket");
                Vec::new()
            }
        }
    }

    /// One ticket: status first (nothing is sent to a printer that cannot print, and
    /// nothing is counted), then the attempt counted, then the job. COPY when it was
    /// printed or sent before.
    fn print_one(&mut self, t: &StoredTicket, offices: &[Office]) -> Result<(), PrintFailure> {
        let state = self.status().ok_or(PrintFailure::Offline)?;
        if let Some(failure) = failure_of(state) {
            return Err(failure);
        }
        let id = t.registration_id.clone();
        let now = self.settings.clock.now();
        let earlier = match self
            .store
            .call_blocking(move |s| s.begin_print_attempt(&id, now))
        {
            Ok(Ok(Some(n))) => n,
            Ok(Ok(None)) => {
                tracing::error!(registration = %t.registration_id, "ticket vanished from the store before printing");
                return Err(PrintFailure::Failed);
            }
            Ok(Err(e)) | Err(e) => {
                // Uncounted, a cut-off job would be followed by a ticket not marked COPY.
                tracing::error!(error = %e, "print attempt not recorded; ticket not printed");
                return Err(PrintFailure::Failed);
            }
        };
        let copy = earlier > 0 || t.printed;
        let office = offices.iter().find(|o| o.id == t.office_id);
        let details = self.settings.office_details.get(&t.office_id);
        let job = escpos::ticket_job(&printable(t, office, details, copy), self.settings.profile);
        self.send_ticket(&job, t.queue_number, copy)?;
        if !t.printed {
            let id = t.registration_id.clone();
            match self.store.call_blocking(move |s| s.mark_printed(&id, now)) {
                Ok(Ok(())) => {}
                // It came out: the applicant has it. Unmarked, it prints again as a COPY.
                Ok(Err(e)) | Err(e) => tracing::error!(error = %e, "printed ticket not marked"),
            }
        }
        Ok(())
    }

    /// Sends one ticket's job and waits for the printer's word that it came out. A COPY
    /// may follow a job that was cut short: with `clear_first` the printer's buffers are
    /// cleared first, so that a tail left in them cannot print before it.
    fn send_ticket(
        &mut self,
        job: &escpos::Job,
        queue: crate::domain::QueueNumber,
        clear_first: bool,
    ) -> Result<(), PrintFailure> {
        let Some(dev) = self.device.as_mut() else {
            return Err(PrintFailure::Offline);
        };
        let sent = if clear_first {
            dev.clear_buffer().and_then(|_| dev.send_job(job))
        } else {
            dev.send_job(job)
        };
        match sent {
            Ok(after) => {
                self.publish(after);
                if let Some(failure) = failure_of(after) {
                    tracing::warn!(printer = ?after, queue = %queue, "ticket cut short; kept for reprint");
                    return Err(failure);
                }
                Ok(())
            }
            Err(e @ printer_hw::PrinterError::Unconfirmed { .. }) => {
                tracing::error!(error = %e, queue = %queue, "ticket not confirmed by the printer");
                self.unconfirmed = true;
                Err(PrintFailure::Failed)
            }
            Err(e) => {
                tracing::error!(error = %e, queue = %queue, "printing failed; the ticket is kept for reprint");
                self.lost_device();
                Err(PrintFailure::Failed)
            }
        }
    }
}
