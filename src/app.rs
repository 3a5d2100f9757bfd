//! The daemon's wiring: opens the store, starts the card reader, the printer worker, the
//! sync loop and the control channel, and runs the main loop that feeds every event to
//! the flow and performs the effects it returns. The main loop never blocks: SQL runs
//! on the store's writer thread, the printer on its own thread, the reader on its own
//! thread, and each effect's outcome comes back as an event.
//!
//! Decisions live in `flow`, `domain` and `sync::planner`; this module only connects
//! them to the world. Shutdown: the `shutdown` future resolves (SIGTERM, or the caller),
//! the loop stops taking events, the tasks are told to stop, and the store's writer
//! finishes the jobs it was given before the database closes; a printer stuck mid-job
//! is given up on after [`STOP_GRACE`]. At start the store is checked (`quick_check`)
//! before READY=1; the systemd watchdog is fed by the main loop's tick alone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::config::Config;
use crate::control::{self, Command, CommandRequest};
use crate::domain::calendar::{self, Office, Zone};
use crate::domain::rules;
use crate::flow::{
    self, CardFields, CardProblem, CommitFailure, Effect, Event, Kiosk, PrintFailure, Timeouts,
};
use crate::hardware::printer::{self as printer_hw, PrinterState};
use crate::hardware::reader::{self as reader_hw, ReaderCommand, ReaderEvent, Signal};
use crate::identity::{Enrollment, KioskKey};
use crate::protocol::central::ReaderState;
use crate::protocol::escpos::{self, PaperWidth};
use crate::protocol::reader::{CardData, ReadErrorCode};
use crate::protocol::ticket_qr;
use crate::store::writer::StoreHandle;
use crate::store::{CommitError, CommitPlan, StoredTicket, TicketToSign};
use crate::sync::client::HttpCentral;
use crate::sync::planner::{GuardrailLimits, PlannerConfig};
use crate::sync::{HEARTBEAT_EVERY, KioskHealth, SyncConfig, SyncFailure, SyncStatus, Syncer};
use crate::ui::{OfficeToday, PanelState, UiLink};

/// The software version, reported to the central service and on the maintenance side.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The keyed hash under which the store keeps a NIK for its own rule checks: HMAC-SHA256
/// with a key derived from the kiosk's private key, so that the database alone does not
/// give the NIKs back.
pub fn nik_tag(secret: &[u8; 32], nik: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"apm-kiosk nik tag v1:");
    mac.update(nik.as_bytes());
    let out = mac.finalize().into_bytes();
    ticket_qr::hex(&out[..16])
}

/// The card reader's fields as the flow takes them.
pub fn card_fields(card: CardData) -> CardFields {
    CardFields {
        nik: card.nik,
        name: card.name,
        birth_place: card.birth_place,
        birth_date: card.birth_date,
        sex: card.sex,
        address: card.address,
    }
}

/// What the applicant can do about a failed read.
pub fn card_problem(code: ReadErrorCode) -> CardProblem {
    match code {
        ReadErrorCode::NoCard | ReadErrorCode::CardRemoved => CardProblem::NotStill,
        ReadErrorCode::NotEktp => CardProblem::NotEktp,
        ReadErrorCode::ChipAuthFailed => CardProblem::ChipRejected,
        ReadErrorCode::SamUnavailable => CardProblem::ReaderFault,
        ReadErrorCode::TimedOut | ReadErrorCode::Unknown(_) => CardProblem::ReadFailed,
    }
}

/// The ticket as the printer lays it out.
pub fn printable(
    t: &StoredTicket,
    office: Option<&Office>,
    kiosk_id: &str,
    copy: bool,
) -> escpos::Ticket {
    let zone = office.map_or(Zone::Wib, |o| o.zone);
    let session = office.and_then(|o| o.session(&t.session_id));
    let midnight = chrono::NaiveTime::MIN;
    escpos::Ticket {
        language: t.language,
        office_name: office.map_or_else(|| t.office_id.clone(), |o| o.name.clone()),
        queue_number: t.queue_number.to_string(),
        priority: t.queue_number.kind == crate::domain::QueueKind::Priority,
        visit_date: t.date,
        session_id: t.session_id.clone(),
        session_start: session.map_or(midnight, |s| s.start),
        session_end: session.map_or(midnight, |s| s.end),
        zone_label: zone.label().to_owned(),
        name: t.name.clone(),
        masked_nik: t.masked_nik.clone(),
        application_type: t.application_type,
        passport_type: t.passport_type,
        group_size: t.group_size,
        group_index: t.position,
        booking_code: t.booking_code.clone(),
        kiosk_id: kiosk_id.to_owned(),
        issued_at: t.created_at.with_timezone(&zone.offset()),
        qr_payload: t.qr_payload.clone(),
        copy,
    }
}

// --- the printer worker ------------------------------------------------------------

/// How often the printer worker asks the printer's status while tickets wait to be
/// printed again: "every few seconds", so a reloaded roll gives the tickets back soon.
pub const BACKLOG_POLL: Duration = Duration::from_secs(3);
/// How often it asks while nothing waits, so that the maintenance side sees paper near
/// end, paper out or a printer switched off before the next applicant does.
pub const IDLE_POLL: Duration = Duration::from_secs(30);

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

/// The printer the worker drives and the paper in it.
#[derive(Debug, Clone)]
pub struct PrinterSettings {
    /// `printer.path`: a tty, `/dev/usb/lpN` or `tcp://HOST:PORT`.
    pub path: printer_hw::PrinterPath,
    pub baud: u32,
    pub paper: PaperWidth,
    /// [`BACKLOG_POLL`] in the daemon; tests shorten it.
    pub backlog_poll: Duration,
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
    /// command; the kiosk id printed on tickets comes from `enrollment`.
    pub fn spawn(
        settings: PrinterSettings,
        store: StoreHandle,
        enrollment: watch::Receiver<Option<Arc<Enrollment>>>,
        state: watch::Sender<PrinterState>,
    ) -> anyhow::Result<PrinterWorker> {
        let (requests, rx) = std::sync::mpsc::channel::<PrintRequest>();
        let mut thread = PrinterThread {
            settings,
            store,
            enrollment,
            state,
            device: None,
            open_failure_reported: false,
            backlog: true,
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
    settings: PrinterSettings,
    store: StoreHandle,
    enrollment: watch::Receiver<Option<Arc<Enrollment>>>,
    state: watch::Sender<PrinterState>,
    /// Opened on demand and dropped after an I/O error: the cable may have been pulled
    /// and put back, and the next use opens it again.
    device: Option<Box<dyn printer_hw::TicketPrinter>>,
    /// A printer that cannot be opened is logged once, not at every poll.
    open_failure_reported: bool,
    /// Tickets may be waiting to be printed again; true at start, for what an earlier
    /// run left behind.
    backlog: bool,
}

impl PrinterThread {
    fn run(&mut self, requests: std::sync::mpsc::Receiver<PrintRequest>) {
        use std::sync::mpsc::RecvTimeoutError;
        self.poll();
        loop {
            let wait = if self.backlog {
                self.settings.backlog_poll
            } else {
                IDLE_POLL
            };
            match requests.recv_timeout(wait) {
                Ok(PrintRequest::Group { group_id, reply }) => {
                    let result = self.print_group(&group_id);
                    let _ = reply.send(result);
                }
                Ok(PrintRequest::Reprint {
                    registration_id,
                    reply,
                }) => {
                    let result = self.reprint(&registration_id);
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
        if self.backlog && state.can_print() {
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
            match printer_hw::open(&self.settings.path, self.settings.baud) {
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
    fn publish(&self, new: PrinterState) {
        let old = self.state.send_replace(new);
        if old == new {
            return;
        }
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

    fn test_page(&mut self, lines: &[String]) -> Result<PrinterState, PrintFailure> {
        let state = self.status().ok_or(PrintFailure::Offline)?;
        if let Some(failure) = failure_of(state) {
            return Err(failure);
        }
        let job = crate::maint::service::test_page_job(lines, self.settings.paper);
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
        let now = Utc::now();
        // A ticket for a visit today, in any zone the kiosk books for, still counts.
        let from = calendar::earliest_today(&offices, now);
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
        let now = Utc::now();
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
        let kiosk_id = self
            .enrollment
            .borrow()
            .as_ref()
            .map(|e| e.kiosk_id.clone())
            .unwrap_or_default();
        let office = offices.iter().find(|o| o.id == t.office_id);
        let job = escpos::ticket_job(&printable(t, office, &kiosk_id, copy), self.settings.paper);
        let Some(dev) = self.device.as_mut() else {
            return Err(PrintFailure::Offline);
        };
        match dev.send_job(&job) {
            Ok(after) => {
                self.publish(after);
                if let Some(failure) = failure_of(after) {
                    tracing::warn!(printer = ?after, queue = %t.queue_number, "ticket cut short; kept for reprint");
                    return Err(failure);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, queue = %t.queue_number, "printing failed; the ticket is kept for reprint");
                self.lost_device();
                return Err(PrintFailure::Failed);
            }
        }
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
}

// --- the daemon --------------------------------------------------------------------

/// What the `status` command reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub kiosk_id: Option<String>,
    pub screen: &'static str,
    pub out_of_service: Option<String>,
    pub printer: PrinterState,
    pub card_reader: ReaderState,
    /// What the reader said of itself when it last answered GET_INFO.
    pub card_reader_info: Option<ReaderHealth>,
    pub store: crate::store::StoreStats,
    pub sync: SyncStatus,
    pub started_at: DateTime<Utc>,
    /// What a technician must look at, in short codes: `clock_skew`,
    /// `undecodable_registrations`, `guardrail:<reason>`, `sync_refused` (a permanent
    /// refusal by the central service).
    pub alerts: Vec<String>,
    /// Bookings the central service rejected, with the reason (no personal data): the
    /// applicants must be told at the counter.
    pub rejections: Vec<crate::store::Rejection>,
}

/// The reader's own report (INFO), for the maintenance side.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderHealth {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// `ok`, `missing` (no card can be read until a technician fits one) or `unreported`.
    pub sam: &'static str,
}

impl From<&crate::protocol::reader::ReaderInfo> for ReaderHealth {
    fn from(info: &crate::protocol::reader::ReaderInfo) -> Self {
        ReaderHealth {
            vendor: info.vendor.clone(),
            model: info.model.clone(),
            firmware: info.firmware.clone(),
            serial: info.serial.clone(),
            sam: match info.sam {
                reader_hw::SamStatus::Ok => "ok",
                reader_hw::SamStatus::Missing => "missing",
                reader_hw::SamStatus::Unreported => "unreported",
            },
        }
    }
}

/// The maintenance alerts the sync status raises.
pub fn sync_alerts(sync: &SyncStatus) -> Vec<String> {
    let mut alerts = Vec::new();
    if sync.clock_alert {
        alerts.push("clock_skew".to_owned());
    }
    if !sync.undecodable.is_empty() {
        alerts.push("undecodable_registrations".to_owned());
    }
    if let Some(reason) = &sync.guardrail {
        alerts.push(format!("guardrail:{reason}"));
    }
    if sync.last_failure == Some(SyncFailure::Refused) {
        alerts.push("sync_refused".to_owned());
    }
    alerts
}

/// The printer's state in the heartbeat's words.
fn wire_printer(state: PrinterState) -> crate::protocol::central::PrinterState {
    use crate::protocol::central::PrinterState as W;
    match state {
        PrinterState::Ok => W::Ok,
        PrinterState::PaperNearEnd => W::PaperNearEnd,
        PrinterState::PaperOut => W::PaperOut,
        PrinterState::CoverOpen => W::CoverOpen,
        PrinterState::Offline => W::Offline,
        PrinterState::Error => W::Error,
    }
}

/// Everything the effects need, cheap to clone into the tasks that perform them.
#[derive(Clone)]
struct Shell {
    store: StoreHandle,
    events: mpsc::Sender<Event>,
    printer: PrinterWorker,
    key: Arc<ed25519_dalek::SigningKey>,
    tag_secret: Arc<[u8; 32]>,
    enrollment: watch::Receiver<Option<Arc<Enrollment>>>,
    nudge: Arc<Notify>,
}

fn office_today(offices: &[Office], office_id: Option<&str>, now: DateTime<Utc>) -> NaiveDate {
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
    fn perform(
        &self,
        effect: Effect,
        kiosk: &Kiosk,
        reader: &reader_hw::ReaderHandle,
        now: DateTime<Utc>,
    ) {
        match effect {
            Effect::Beep { ok } => reader.command(ReaderCommand::Signal(if ok {
                Signal::BeepOk
            } else {
                Signal::BeepError
            })),
            Effect::Audit { event, detail } => {
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.run(move |s| s.audit(now, event, &detail)).await {
                        tracing::error!(error = %e, "audit line not written");
                    }
                });
            }
            Effect::CheckApplicant { nik } => {
                let today = office_today(&kiosk.offices, kiosk.office_id.as_deref(), now);
                let tag = nik_tag(&self.tag_secret, nik.as_str());
                let hash = self.enrollment.borrow().as_ref().map(|e| {
                    crate::protocol::central::nik_hash(
                        &crate::protocol::central::Key32(e.nik_hash_key),
                        nik.as_str(),
                    )
                });
                let (store, events) = (self.store.clone(), self.events.clone());
                tokio::spawn(async move {
                    let looked_up = store
                        .run(move |s| {
                            let history = s.history(&tag)?;
                            let blocked = match hash {
                                Some(h) => s.blocked_until(&h)?,
                                None => None,
                            };
                            Ok((history, blocked))
                        })
                        .await;
                    let result = match looked_up {
                        Ok((history, blocked)) => rules::check_history(&history, today)
                            .and(rules::check_blocklist(blocked, today)),
                        Err(e) => {
                            // The kiosk cannot see its own bookings: the service still
                            // enforces the rules, and the commit will surface the fault.
                            tracing::error!(error = %e, "booking history unavailable");
                            Ok(())
                        }
                    };
                    let _ = events.send(Event::Checked(result)).await;
                });
            }
            Effect::LoadAvailability { office_id } => {
                let today = office_today(&kiosk.offices, Some(&office_id), now);
                let (store, events) = (self.store.clone(), self.events.clone());
                tokio::spawn(async move {
                    let id = office_id.clone();
                    let availability = match store.run(move |s| s.availability(&id, today)).await {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::error!(error = %e, "availability unavailable");
                            flow::Availability {
                                office_id,
                                slots: Vec::new(),
                            }
                        }
                    };
                    let _ = events.send(Event::AvailabilityLoaded(availability)).await;
                });
            }
            Effect::CommitBooking(request) => {
                let created_on = office_today(&kiosk.offices, Some(&request.office_id), now);
                let kiosk_id = self
                    .enrollment
                    .borrow()
                    .as_ref()
                    .map(|e| e.kiosk_id.clone())
                    .unwrap_or_default();
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
                                let claims = ticket_qr::Claims {
                                    r: t.registration_id.to_owned(),
                                    k: kiosk_id.clone(),
                                    o: t.office_id.to_owned(),
                                    d: t.date,
                                    s: t.session_id.to_owned(),
                                    q: t.queue_number.to_string(),
                                    n: ticket_qr::nik_check(t.registration_id, t.nik),
                                    t: t.issued_at.timestamp(),
                                };
                                ticket_qr::sign(&claims, &key)
                            };
                            s.commit_booking(&CommitPlan {
                                request: &request,
                                created_on,
                                nik_tag: &tag,
                                sign: &sign,
                            })
                        })
                        .await;
                    let event = match result {
                        Ok(Ok(booked)) => {
                            tracing::info!(group = %booked.booking_code, size = booked.tickets.len(), "booking committed");
                            nudge.notify_one();
                            Event::Committed(Ok(booked))
                        }
                        Ok(Err(CommitError::NumbersGone(kind))) => {
                            tracing::info!(?kind, "numbers ran out before the commit");
                            Event::Committed(Err(CommitFailure::NumbersGone))
                        }
                        Ok(Err(CommitError::Store(e))) | Err(e) => {
                            tracing::error!(error = %e, "BOOKING NOT STORED: the store cannot write; check disk space and the database");
                            Event::Committed(Err(CommitFailure::StorageFailed))
                        }
                    };
                    let _ = events.send(event).await;
                });
            }
            Effect::PrintTickets { group_id } => {
                let shell = self.clone();
                tokio::spawn(async move {
                    let event = shell.print_group(group_id).await;
                    let _ = shell.events.send(event).await;
                });
            }
        }
    }

    /// The flow's print, first or retried: what is not printed yet comes out, marked
    /// COPY where a job was sent before (a first attempt that failed midway).
    async fn print_group(&self, group_id: String) -> Event {
        Event::Printed(self.printer.print_group(group_id).await)
    }
}

/// The printer's state as the screen names it.
fn printer_code(state: PrinterState) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "offline".into(),
    }
}

/// How often the idle screen's "places left today" is counted again.
const TODAY_EVERY: Duration = Duration::from_secs(30);

/// Keeps the idle screen's count of today's free numbers per office up to date.
/// Counts again every [`TODAY_EVERY`], after each sync round, and when `recount` is
/// notified (a booking was committed, the offices changed).
async fn publish_today(
    store: StoreHandle,
    panel: watch::Sender<Arc<PanelState>>,
    mut synced: watch::Receiver<SyncStatus>,
    recount: Arc<Notify>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut every = tokio::time::interval(TODAY_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sync_open = true;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = every.tick() => {}
            _ = recount.notified() => {}
            r = synced.changed(), if sync_open => sync_open = r.is_ok(),
        }
        let now = Utc::now();
        let counted = store
            .run(move |s| {
                let offices = s.offices()?;
                if offices.is_empty() {
                    return Ok((None, Vec::new()));
                }
                let from = calendar::earliest_today(&offices, now);
                let counts = s.held_counts(from)?;
                let today = offices
                    .iter()
                    .map(|o| {
                        let date = o.today(now);
                        let mut t = OfficeToday {
                            office_name: o.name.clone(),
                            regular_left: 0,
                            priority_left: 0,
                        };
                        for c in counts
                            .iter()
                            .filter(|c| c.office_id == o.id && c.date == date)
                        {
                            match c.kind {
                                crate::domain::QueueKind::Regular => t.regular_left += c.free,
                                crate::domain::QueueKind::Priority => t.priority_left += c.free,
                            }
                        }
                        t
                    })
                    .collect::<Vec<_>>();
                Ok((Some(from), today))
            })
            .await;
        match counted {
            Ok((date, today)) => {
                panel.send_if_modified(|p| {
                    if p.today_date == date && p.today == today {
                        return false;
                    }
                    let mut next = PanelState::clone(p);
                    next.today_date = date;
                    next.today = today;
                    *p = Arc::new(next);
                    true
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot count today's free numbers"),
        }
    }
}

/// Where the control socket is.
pub fn control_socket_path(config: &Config) -> PathBuf {
    config.kiosk.control_socket()
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `shutdown` resolved (SIGTERM, or the caller).
    Shutdown,
    /// A technician asked for a restart: exit with [`crate::maint::RESTART_EXIT_CODE`].
    Restart,
}

/// Runs the kiosk, headless, until `shutdown` resolves or a technician asks for a
/// restart.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<Stopped> {
    run_with_ui(config, shutdown, None).await
}

/// [`run`], handing `ui` the channels the touchscreen needs once the store is open and
/// the devices are tried: the same intents and commands as the control channel, the
/// view, the devices' state and the kept settings.
pub async fn run_with_ui(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
    ui: Option<oneshot::Sender<UiLink>>,
) -> anyhow::Result<Stopped> {
    let started_at = Utc::now();
    let faults = crate::fault::Faults::from_env()?;
    if faults.any() {
        tracing::warn!(
            ?faults,
            "fault injection is on ({}): a test run",
            crate::fault::VAR
        );
    }
    let state_dir = config.kiosk.state_dir.clone();
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let key = KioskKey::load_or_create(&state_dir).context("kiosk key")?;
    let signing = Arc::new(key.signing_key().clone());
    let tag_secret = Arc::new(nik_tag_secret(&signing));
    let enrolled = Enrollment::load(&state_dir)
        .context("enrollment")?
        .map(Arc::new);
    let (enrollment_tx, enrollment_rx) = watch::channel(enrolled);

    let db = state_dir.join("kiosk.db");
    let (store, store_thread) = open_store(&db).await?;

    let now = Utc::now();
    let timeouts = Timeouts {
        warning_after: chrono::TimeDelta::from_std(config.kiosk.inactivity_warning)
            .unwrap_or(chrono::TimeDelta::seconds(60)),
        reset_after: chrono::TimeDelta::from_std(config.kiosk.inactivity_reset)
            .unwrap_or(chrono::TimeDelta::seconds(20)),
        ..Timeouts::default()
    };
    let mut kiosk = Kiosk::new(config.kiosk.language, timeouts, now);
    let offices = store.run(|s| s.offices()).await?;
    flow::step(&mut kiosk, Event::CatalogChanged(offices), now);
    if enrollment_rx.borrow().is_none() {
        flow::step(
            &mut kiosk,
            Event::ServiceChanged {
                source: flow::HoldSource::Enrollment,
                reason: Some(flow::HoldReason::NotEnrolled),
            },
            now,
        );
        tracing::warn!(
            "kiosk not enrolled: run `apm-kiosk enroll --code CODE`; no bookings until then"
        );
    }

    // Devices.
    let mut reader = reader_hw::start(reader_hw::SerialReader::new(
        config.card_reader.path.clone(),
        config.card_reader.baud,
    ));
    let (printer_state_tx, printer_state) = watch::channel(PrinterState::Offline);
    let printer = PrinterWorker::spawn(
        PrinterSettings {
            path: config.printer.path.clone(),
            baud: config.printer.baud,
            paper: config.printer.paper,
            backlog_poll: BACKLOG_POLL,
        },
        store.clone(),
        enrollment_rx.clone(),
        printer_state_tx,
    )?;

    // Channels.
    let (events_tx, mut events_rx) = mpsc::channel::<Event>(64);
    let (intents_tx, mut intents_rx) = mpsc::channel(64);
    let (commands_tx, mut commands_rx) = mpsc::channel::<CommandRequest>(16);
    let (catalog_tx, mut catalog_rx) = mpsc::channel::<Vec<Office>>(4);
    let (view_tx, view_rx) =
        watch::channel(Arc::new(control::view_line(&flow::view::view(&kiosk, now))));
    let (view_state_tx, view_state_rx) = watch::channel(Arc::new(flow::view::view(&kiosk, now)));
    let (panel_tx, panel_rx) = watch::channel(Arc::new(PanelState {
        reader: "disconnected".into(),
        printer: printer_code(*printer_state.borrow()),
        ..PanelState::default()
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let socket = control_socket_path(&config);
    let listener = control::bind(&socket)?;
    let ui_intents = intents_tx.clone();
    let control_task = tokio::spawn(control::serve(
        listener,
        intents_tx.clone(),
        commands_tx.clone(),
        view_rx.clone(),
        stopped(),
    ));

    // Sync, once enrolled.
    let nudge = Arc::new(Notify::new());
    let (sync_status_tx, sync_status) = watch::channel(SyncStatus::default());
    let (health_tx, health_rx) = watch::channel(KioskHealth::default());
    let enrollment_set = enrollment_tx.clone();
    let sync_task = {
        let mut enrollment_changed = enrollment_tx.subscribe();
        let (store, nudge, stopped, central, planner) = (
            store.clone(),
            nudge.clone(),
            stopped(),
            config.central.clone(),
            PlannerConfig::from_levels(
                config.sync.hold_days,
                config.sync.low_water,
                config.sync.target,
            ),
        );
        let enrollment_dir = state_dir.clone();
        let guardrail = GuardrailLimits {
            max_unsynced_age: chrono::TimeDelta::days(i64::from(config.sync.max_unsynced_age_days)),
            max_unsynced: config.sync.max_unsynced,
        };
        let events = events_tx.clone();
        tokio::spawn(async move {
            tokio::pin!(stopped);
            // Wait for enrollment: a technician may enroll while the daemon runs.
            let enrollment = loop {
                if let Some(e) = enrollment_tx.borrow().clone() {
                    break e;
                }
                tokio::select! {
                    _ = &mut stopped => return,
                    // Enrolled over the control channel: start at once.
                    _ = enrollment_changed.changed() => continue,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                if let Ok(Some(e)) = Enrollment::load(&enrollment_dir) {
                    tracing::info!(kiosk = %e.kiosk_id, "kiosk enrolled");
                    enrollment_tx.send_replace(Some(Arc::new(e)));
                    let _ = events
                        .send(Event::ServiceChanged {
                            source: flow::HoldSource::Enrollment,
                            reason: None,
                        })
                        .await;
                }
            };
            let api = match HttpCentral::from_config(&central, Some(enrollment.token.clone())) {
                Ok(api) => api,
                Err(e) => {
                    tracing::error!(error = %e, "central service client cannot be set up; sync stopped");
                    return;
                }
            };
            let (syncer, mut status) = Syncer::new(
                api,
                store,
                SyncConfig {
                    interval: central.sync_interval,
                    planner,
                    guardrail,
                    heartbeat_every: HEARTBEAT_EVERY,
                },
                catalog_tx,
                health_rx,
            );
            let forward = tokio::spawn(async move {
                let mut guard = None;
                while status.changed().await.is_ok() {
                    let s = status.borrow_and_update().clone();
                    // The guardrail speaks to the flow only when it changes, so that it
                    // does not keep overriding other reasons to be out of service.
                    if s.guardrail != guard {
                        guard = s.guardrail;
                        let _ = events
                            .send(Event::ServiceChanged {
                                source: flow::HoldSource::Sync,
                                reason: guard.map(flow::HoldReason::Sync),
                            })
                            .await;
                    }
                    sync_status_tx.send_replace(s);
                }
            });
            syncer.run(nudge, stopped).await;
            forward.abort();
        })
    };

    let (maint, kept_hold) = crate::maint::Maint::start(crate::maint::service::MaintParts {
        store: store.clone(),
        config: config.clone(),
        printer: printer.clone(),
        events: events_tx.clone(),
        enrollment: enrollment_set,
        started_at,
    })
    .await
    .context("maintenance state")?;
    if let Some(reason) = kept_hold {
        // A technician's hold outlives a restart.
        flow::step(
            &mut kiosk,
            Event::ServiceChanged {
                source: flow::HoldSource::Technician,
                reason: Some(flow::HoldReason::Technician(reason)),
            },
            now,
        );
        tracing::warn!(
            reason = reason.code(),
            "out of service, as a technician left it"
        );
    }
    let mut settings = maint.settings();
    kiosk.default_language = settings.borrow_and_update().default_language;
    kiosk.language = kiosk.default_language;
    let mut read_test = crate::maint::ReadTest::new(maint.clone());
    let ui_commands = commands_tx.clone();
    drop((intents_tx, commands_tx, view_rx));
    // A kept hold or language changes what the first client sees.
    view_tx.send_replace(Arc::new(control::view_line(&flow::view::view(&kiosk, now))));

    let shell = Shell {
        store: store.clone(),
        events: events_tx.clone(),
        printer,
        key: signing.clone(),
        tag_secret,
        enrollment: enrollment_rx.clone(),
        nudge: nudge.clone(),
    };

    let recount_today = Arc::new(Notify::new());
    let today_task = tokio::spawn(publish_today(
        store.clone(),
        panel_tx.clone(),
        sync_status.clone(),
        recount_today.clone(),
        stopped(),
    ));
    if let Some(ui) = ui {
        let _ = ui.send(UiLink {
            intents: ui_intents,
            commands: ui_commands,
            view: view_state_rx,
            panel: panel_rx,
            settings: maint.settings(),
        });
    }

    // Ready: the store is open and the devices have been tried.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(socket = %socket.display(), version = VERSION, "kiosk running");

    let mut reader_state = ReaderState::Disconnected;
    let mut reader_info: Option<ReaderHealth> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ended = Stopped::Shutdown;
    let hang_at = faults
        .hang_main_loop_after
        .map(|after| tokio::time::Instant::now() + after);
    tokio::pin!(shutdown);
    loop {
        // What the heartbeat reports; cheap, and only a change wakes no one.
        let health = KioskHealth {
            printer: wire_printer(*printer_state.borrow()),
            card_reader: reader_state.clone(),
            out_of_service: !kiosk.holds.is_empty(),
        };
        health_tx.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
        let (reader_code, printer) = (reader_state.code(), printer_code(*printer_state.borrow()));
        panel_tx.send_if_modified(|p| {
            if p.reader == reader_code && p.printer == printer {
                return false;
            }
            let mut next = PanelState::clone(p);
            next.reader = reader_code.to_owned();
            next.printer = printer;
            *p = Arc::new(next);
            true
        });
        let event = tokio::select! {
            _ = &mut shutdown => break,
            Some(intent) = intents_rx.recv() => Event::Intent(intent),
            Some(event) = events_rx.recv() => event,
            Some(offices) = catalog_rx.recv() => Event::CatalogChanged(offices),
            Some(ev) = reader.events().recv() => match ev {
                ReaderEvent::CardRead(card) => {
                    let idle = kiosk.screen == flow::Screen::Idle;
                    let today = office_today(&kiosk.offices, None, Utc::now());
                    if read_test.card(&card, idle, reader_info.as_ref(), today) {
                        continue;
                    }
                    Event::CardRead(card_fields(card))
                }
                ReaderEvent::ReadFailed(code) => {
                    if read_test.failed(code, kiosk.screen == flow::Screen::Idle) {
                        continue;
                    }
                    Event::CardFailed(card_problem(code))
                }
                ReaderEvent::Connected(info) => {
                    // The reader module logs the connection with its details.
                    reader_state = if info.sam == reader_hw::SamStatus::Missing { ReaderState::SamMissing } else { ReaderState::Ok };
                    reader_info = Some(ReaderHealth::from(&info));
                    continue;
                }
                ReaderEvent::Disconnected { reason } => {
                    if reader_state != ReaderState::Disconnected {
                        tracing::warn!(%reason, "card reader disconnected");
                    }
                    reader_state = ReaderState::Disconnected;
                    continue;
                }
                ReaderEvent::CardPresent | ReaderEvent::CardRemoved => continue,
            },
            Some(request) = commands_rx.recv() => {
                match request.command {
                    Command::SyncNow => {
                        nudge.notify_one();
                        maint.audit_later("sync_now", String::new());
                        let _ = request.reply.send(serde_json::json!({ "sync": "started" }));
                    }
                    Command::ReadTest => read_test.arm(
                        request.reply,
                        kiosk.screen == flow::Screen::Idle,
                        std::time::Instant::now(),
                    ),
                    Command::Restart => {
                        maint.audit("restart", "requested".into()).await;
                        let _ = request.reply.send(serde_json::json!({
                            "restart": "exiting",
                            "exit_code": crate::maint::RESTART_EXIT_CODE,
                        }));
                        tracing::warn!("restart requested by a technician");
                        // Time for the answer to leave the socket before it closes.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        ended = Stopped::Restart;
                        break;
                    }
                    Command::Status => {
                        let store = store.clone();
                        let status = Status {
                            version: VERSION,
                            kiosk_id: enrollment_rx.borrow().as_ref().map(|e| e.kiosk_id.clone()),
                            screen: flow::view::screen_name(&kiosk.screen),
                            out_of_service: kiosk.out_of_service().map(str::to_owned),
                            printer: *printer_state.borrow(),
                            card_reader: reader_state.clone(),
                            card_reader_info: reader_info.clone(),
                            store: Default::default(),
                            sync: sync_status.borrow().clone(),
                            started_at,
                            alerts: sync_alerts(&sync_status.borrow()),
                            rejections: Vec::new(),
                        };
                        tokio::spawn(async move {
                            let mut status = status;
                            if let Ok(stats) = store.run(|s| s.stats()).await {
                                status.store = stats;
                            }
                            if let Ok(rejections) = store.run(|s| s.rejections()).await {
                                status.rejections = rejections;
                            }
                            let _ = request.reply.send(serde_json::to_value(&status).unwrap_or_default());
                        });
                    }
                    command => {
                        let live = crate::maint::Live {
                            screen: flow::view::screen_name(&kiosk.screen),
                            out_of_service: kiosk.out_of_service().map(str::to_owned),
                            holds: kiosk.holds.iter().map(|(s, r)| (*s, *r)).collect(),
                            printer: *printer_state.borrow(),
                            reader_state: reader_state.clone(),
                            reader_info: reader_info.clone(),
                            sync: sync_status.borrow().clone(),
                        };
                        let maint = maint.clone();
                        tokio::spawn(async move {
                            let answer = maint.handle(command, live).await;
                            let _ = request.reply.send(answer);
                        });
                    }
                }
                continue;
            },
            Ok(()) = settings.changed() => {
                // A new default language: the next applicant's screen starts in it, and
                // so does the idle screen now.
                kiosk.default_language = settings.borrow_and_update().default_language;
                if kiosk.screen == flow::Screen::Idle {
                    kiosk.language = kiosk.default_language;
                }
                Event::Tick
            },
            _ = tick.tick() => {
                if hang_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    tracing::warn!("fault injection: the main loop hangs now");
                    crate::fault::hang_forever();
                }
                // Fed only here: a hung main loop stops the watchdog and systemd restarts us.
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                read_test.tick(kiosk.screen == flow::Screen::Idle, std::time::Instant::now());
                Event::Tick
            },
        };
        let now = Utc::now();
        if matches!(event, Event::Committed(Ok(_)) | Event::CatalogChanged(_)) {
            recount_today.notify_one();
        }
        let effects = flow::step(&mut kiosk, event, now);
        for effect in effects {
            shell.perform(effect, &kiosk, &reader, now);
        }
        let view = flow::view::view(&kiosk, now);
        let line = control::view_line(&view);
        let changed = view_tx.send_if_modified(|current| {
            if **current != line {
                *current = Arc::new(line);
                true
            } else {
                false
            }
        });
        if changed {
            view_state_tx.send_replace(Arc::new(view));
        }
    }

    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = sync_task.await;
    let _ = control_task.await;
    let _ = today_task.await;
    reader.stop();
    drop(shell);
    // The maintenance side holds the store and the printer: the writer and the printer
    // thread end only once it is gone.
    drop(read_test);
    drop(maint);
    drop(store);
    // The writer finishes what it was given (a booking being committed is committed),
    // then closes the database once the printer thread lets go of it too (a ticket being
    // printed comes out whole). A printer that hangs mid-job is given up on after
    // STOP_GRACE: its ticket stays unprinted in the store and prints at the next start,
    // and what was committed is on disk already (WAL, synchronous = FULL).
    let (closed_tx, closed) = oneshot::channel();
    // A plain thread, not spawn_blocking: the runtime must not wait for it at exit.
    let _ = std::thread::Builder::new()
        .name("store-close".into())
        .spawn(move || {
            let _ = store_thread.join();
            let _ = closed_tx.send(());
        });
    if tokio::time::timeout(STOP_GRACE, closed).await.is_err() {
        tracing::warn!(
            grace_s = STOP_GRACE.as_secs(),
            "the printer did not finish its job in time; stopping anyway, its ticket prints at the next start"
        );
    } else {
        tracing::info!("store closed");
    }
    let _ = std::fs::remove_file(&socket);
    Ok(ended)
}

/// How long a stop waits for the printer's job in progress and the store's last writes:
/// well inside the unit's `TimeoutStopSec=15s`.
pub const STOP_GRACE: Duration = Duration::from_secs(8);

/// Opens the store and checks it (`PRAGMA quick_check`) before anything else is done
/// with it: after a power cut the kiosk must not book on a damaged file. A damaged one
/// stops the daemon with what to do; `apm-kiosk doctor` runs the same check.
async fn open_store(
    db: &std::path::Path,
) -> anyhow::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
    let damaged = |what: String| {
        anyhow::anyhow!(
            "the database {} is damaged ({what}); the kiosk does not book on it. Stop the service, copy the state directory aside for the central office, then follow \"A damaged database\" in /usr/share/doc/apm-kiosk/install.md",
            db.display()
        )
    };
    let (store, thread) = match StoreHandle::open(db) {
        Ok(opened) => opened,
        Err(crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, msg)))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            return Err(damaged(msg.unwrap_or_else(|| e.to_string())));
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot open the database {}", db.display()))
            );
        }
    };
    match store.run(|s| s.quick_check()).await {
        Ok(problems) if problems.is_empty() => Ok((store, thread)),
        Ok(problems) => Err(damaged(problems.join("; "))),
        Err(crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, msg)))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            Err(damaged(msg.unwrap_or_else(|| e.to_string())))
        }
        Err(e) => Err(anyhow::Error::new(e).context("the database check failed")),
    }
}

/// The secret for [`nik_tag`], derived from the kiosk's private key so that no second
/// secret file has to be kept.
fn nik_tag_secret(key: &ed25519_dalek::SigningKey) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key.to_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"apm-kiosk nik tag secret v1");
    mac.finalize().into_bytes().into()
}

/// Enrolls the kiosk with a one-time code from the central office and stores the token
/// and NIK hash key beside the kiosk key. Done once, by a technician.
pub async fn enroll(config: &Config, code: &str) -> anyhow::Result<Enrollment> {
    use crate::sync::client::CentralApi as _;
    let dir = &config.kiosk.state_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let key = KioskKey::load_or_create(dir).context("kiosk key")?;
    let api = HttpCentral::from_config(&config.central, None)?;
    let request = crate::protocol::central::EnrollRequest {
        code: code.trim().to_owned(),
        public_key: crate::protocol::central::Key32(key.signing_key().verifying_key().to_bytes()),
        software_version: VERSION.to_owned(),
    };
    let answer = api.enroll(&request).await.map_err(|e| match e.code() {
        Some("invalid_code") => anyhow::anyhow!("the enrollment code was refused: it is unknown or already used; ask the central office for a new one"),
        _ => anyhow::Error::new(e).context("enrollment failed"),
    })?;
    let enrollment = Enrollment {
        kiosk_id: answer.kiosk_id,
        token: answer.token,
        office_ids: answer.office_ids,
        nik_hash_key: answer.nik_hash_key.0,
    };
    enrollment
        .save(dir)
        .context("cannot store the enrollment")?;
    tracing::info!(kiosk = %enrollment.kiosk_id, "enrolled");
    Ok(enrollment)
}
