//! The daemon's wiring: opens the store, starts the card reader, the printer worker, the
//! sync loop and the control channel, and runs the main loop that feeds every event to
//! the flow and performs the effects it returns. The main loop never blocks: SQL runs
//! on the store's writer thread, the printer on its own thread, the reader on its own
//! thread, and each effect's outcome comes back as an event.
//!
//! Decisions live in `flow`, `domain` and `sync::planner`; this module only connects
//! them to the world. Shutdown: the `shutdown` future resolves (SIGTERM, or the caller),
//! the loop stops taking events, the tasks are told to stop, and the store's writer
//! finishes the jobs it was given before the database closes.

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
use crate::domain::calendar::{Office, Zone};
use crate::domain::rules;
use crate::flow::{
    self, CardFields, CardProblem, CommitFailure, Effect, Event, Kiosk, PrintFailure, Timeouts,
};
use crate::hardware::printer::{self as printer_hw, PrinterState};
use crate::hardware::reader::{self as reader_hw, ReaderCommand, ReaderEvent, Signal};
use crate::identity::{Enrollment, KioskKey};
use crate::protocol::escpos::{self, PaperWidth};
use crate::protocol::reader::{CardData, ReadErrorCode};
use crate::protocol::ticket_qr;
use crate::store::writer::StoreHandle;
use crate::store::{CommitError, CommitPlan, StoredTicket, TicketToSign};
use crate::sync::client::HttpCentral;
use crate::sync::planner::{GuardrailLimits, PlannerConfig};
use crate::sync::{HEARTBEAT_EVERY, KioskHealth, SyncConfig, SyncStatus, Syncer};

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

struct PrintJob {
    /// (registration id, ESC/POS bytes), in the group's order.
    tickets: Vec<(String, Vec<u8>)>,
    reply: oneshot::Sender<PrintOutcome>,
}

#[derive(Debug)]
struct PrintOutcome {
    printed: Vec<String>,
    failure: Option<PrintFailure>,
}

/// The printer on its own thread: device calls block, and a printer that hangs must not
/// hang the kiosk.
#[derive(Clone)]
struct PrinterWorker {
    jobs: std::sync::mpsc::Sender<PrintJob>,
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
    fn spawn(
        path: String,
        baud: u32,
        state: watch::Sender<PrinterState>,
    ) -> anyhow::Result<PrinterWorker> {
        let (jobs, rx) = std::sync::mpsc::channel::<PrintJob>();
        std::thread::Builder::new()
            .name("printer".into())
            .spawn(move || {
                let mut device: Option<Box<dyn printer_hw::TicketPrinter>> = None;
                // Ask once at start, so that the maintenance side and the heartbeat know
                // the printer's state before the first ticket.
                match printer_hw::open(&path, baud).and_then(|mut d| d.status().map(|s| (d, s))) {
                    Ok((d, s)) => {
                        state.send_replace(s);
                        device = Some(d);
                    }
                    Err(e) => tracing::warn!(error = %e, "printer not reachable at start"),
                }
                for job in rx {
                    let outcome = print_job(&path, baud, &mut device, &job.tickets, &state);
                    let _ = job.reply.send(outcome);
                }
            })
            .context("cannot start the printer thread")?;
        Ok(PrinterWorker { jobs })
    }

    async fn print(&self, tickets: Vec<(String, Vec<u8>)>) -> PrintOutcome {
        let (reply, rx) = oneshot::channel();
        if self.jobs.send(PrintJob { tickets, reply }).is_err() {
            return PrintOutcome {
                printed: Vec::new(),
                failure: Some(PrintFailure::Failed),
            };
        }
        rx.await.unwrap_or(PrintOutcome {
            printed: Vec::new(),
            failure: Some(PrintFailure::Failed),
        })
    }
}

fn print_job(
    path: &str,
    baud: u32,
    device: &mut Option<Box<dyn printer_hw::TicketPrinter>>,
    tickets: &[(String, Vec<u8>)],
    state: &watch::Sender<PrinterState>,
) -> PrintOutcome {
    let mut printed = Vec::new();
    let dev = match device {
        Some(dev) => dev,
        None => match printer_hw::open(path, baud) {
            Ok(dev) => device.insert(dev),
            Err(e) => {
                tracing::error!(error = %e, "printer cannot be opened; tickets kept for reprint");
                state.send_replace(PrinterState::Offline);
                return PrintOutcome {
                    printed,
                    failure: Some(PrintFailure::Offline),
                };
            }
        },
    };
    let mut failure = None;
    let mut lost = false;
    for (id, bytes) in tickets {
        // print() asks the printer's status first and sends nothing to one that cannot
        // finish the ticket; Ok or PaperNearEnd afterwards means it came out whole.
        match dev.print(bytes) {
            Ok(s) => {
                state.send_replace(s);
                if let Some(f) = failure_of(s) {
                    tracing::warn!(printer = ?s, "printer not ready; tickets kept for reprint");
                    failure = Some(f);
                    break;
                }
                printed.push(id.clone());
            }
            Err(e) => {
                tracing::error!(error = %e, "printing failed; the ticket is kept for reprint");
                failure = Some(PrintFailure::Failed);
                lost = true;
                break;
            }
        }
    }
    if lost {
        // Reopened on the next job: the cable may have been pulled and put back.
        *device = None;
        state.send_replace(PrinterState::Offline);
    }
    PrintOutcome { printed, failure }
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
    pub card_reader: String,
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
    if sync
        .last_error
        .as_deref()
        .is_some_and(|e| e.starts_with("central service refused"))
    {
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
    paper: PaperWidth,
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
                let offices = kiosk.offices.clone();
                let kiosk_id = self
                    .enrollment
                    .borrow()
                    .as_ref()
                    .map(|e| e.kiosk_id.clone())
                    .unwrap_or_default();
                let shell = self.clone();
                tokio::spawn(async move {
                    let event = shell.print_group(group_id, offices, kiosk_id).await;
                    let _ = shell.events.send(event).await;
                });
            }
        }
    }

    async fn print_group(&self, group_id: String, offices: Vec<Office>, kiosk_id: String) -> Event {
        let tickets = match self.store.run(move |s| s.group_tickets(&group_id)).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "tickets cannot be read back for printing");
                return Event::Printed(Err(PrintFailure::Failed));
            }
        };
        let jobs: Vec<(String, Vec<u8>)> = tickets
            .iter()
            .filter(|t| !t.printed)
            .map(|t| {
                let office = offices.iter().find(|o| o.id == t.office_id);
                (
                    t.registration_id.clone(),
                    escpos::ticket_job(&printable(t, office, &kiosk_id, false), self.paper),
                )
            })
            .collect();
        let outcome = self.printer.print(jobs).await;
        let printed = outcome.printed;
        let now = Utc::now();
        if let Err(e) = self
            .store
            .run(move |s| {
                for id in &printed {
                    s.mark_printed(id, now)?;
                }
                Ok(())
            })
            .await
        {
            tracing::error!(error = %e, "printed tickets not marked");
        }
        Event::Printed(match outcome.failure {
            None => Ok(()),
            Some(f) => Err(f),
        })
    }
}

/// Where the control socket is.
pub fn control_socket_path(config: &Config) -> PathBuf {
    config.kiosk.control_socket()
}

/// Runs the kiosk until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let started_at = Utc::now();
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
    let (store, store_thread) = StoreHandle::open(&db)
        .with_context(|| format!("cannot open the database {}", db.display()))?;

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
            Event::ServiceChanged(Some("not_enrolled".into())),
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
        config.printer.path.to_string(),
        config.printer.baud,
        printer_state_tx,
    )?;

    // Channels.
    let (events_tx, mut events_rx) = mpsc::channel::<Event>(64);
    let (intents_tx, mut intents_rx) = mpsc::channel(64);
    let (commands_tx, mut commands_rx) = mpsc::channel::<CommandRequest>(16);
    let (catalog_tx, mut catalog_rx) = mpsc::channel::<Vec<Office>>(4);
    let (view_tx, view_rx) =
        watch::channel(Arc::new(control::view_line(&flow::view::view(&kiosk, now))));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let socket = control_socket_path(&config);
    let listener = control::bind(&socket)?;
    let control_task = tokio::spawn(control::serve(
        listener,
        intents_tx,
        commands_tx,
        view_rx,
        stopped(),
    ));

    // Sync, once enrolled.
    let nudge = Arc::new(Notify::new());
    let (sync_status_tx, sync_status) = watch::channel(SyncStatus::default());
    let (health_tx, health_rx) = watch::channel(KioskHealth::default());
    let sync_task = {
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
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                if let Ok(Some(e)) = Enrollment::load(&enrollment_dir) {
                    tracing::info!(kiosk = %e.kiosk_id, "kiosk enrolled");
                    enrollment_tx.send_replace(Some(Arc::new(e)));
                    let _ = events.send(Event::ServiceChanged(None)).await;
                }
            };
            let ca = match &central.ca_file {
                Some(path) => match std::fs::read(path) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "pinned CA file unreadable; sync stopped");
                        return;
                    }
                },
                None => None,
            };
            let api = match HttpCentral::new(
                &central.url,
                Some(enrollment.token.clone()),
                central.timeout,
                ca.as_deref(),
            ) {
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
                let mut guard: Option<String> = None;
                while status.changed().await.is_ok() {
                    let s = status.borrow_and_update().clone();
                    // The guardrail speaks to the flow only when it changes, so that it
                    // does not keep overriding other reasons to be out of service.
                    if s.guardrail != guard {
                        guard = s.guardrail.clone();
                        let _ = events.send(Event::ServiceChanged(guard.clone())).await;
                    }
                    sync_status_tx.send_replace(s);
                }
            });
            syncer.run(nudge, stopped).await;
            forward.abort();
        })
    };

    let shell = Shell {
        store: store.clone(),
        events: events_tx.clone(),
        printer,
        paper: match config.printer.paper {
            crate::config::Paper::Mm80 => PaperWidth::Mm80,
            crate::config::Paper::Mm58 => PaperWidth::Mm58,
        },
        key: signing.clone(),
        tag_secret,
        enrollment: enrollment_rx.clone(),
        nudge: nudge.clone(),
    };

    // Ready: the store is open and the devices have been tried.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(socket = %socket.display(), version = VERSION, "kiosk running");

    let mut reader_state = String::from("disconnected");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        // What the heartbeat reports; cheap, and only a change wakes no one.
        let health = KioskHealth {
            printer: wire_printer(*printer_state.borrow()),
            card_reader: crate::protocol::central::ReaderState::from_code(&reader_state),
            out_of_service: kiosk.out_of_service.is_some(),
        };
        health_tx.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
        let event = tokio::select! {
            _ = &mut shutdown => break,
            Some(intent) = intents_rx.recv() => Event::Intent(intent),
            Some(event) = events_rx.recv() => event,
            Some(offices) = catalog_rx.recv() => Event::CatalogChanged(offices),
            Some(ev) = reader.events().recv() => match ev {
                ReaderEvent::CardRead(card) => Event::CardRead(card_fields(card)),
                ReaderEvent::ReadFailed(code) => Event::CardFailed(card_problem(code)),
                ReaderEvent::Connected(info) => {
                    // The reader module logs the connection with its details.
                    reader_state = if info.sam == reader_hw::SamStatus::Missing { "sam_missing".into() } else { "ok".into() };
                    continue;
                }
                ReaderEvent::Disconnected { reason } => {
                    if reader_state != "disconnected" {
                        tracing::warn!(%reason, "card reader disconnected");
                    }
                    reader_state = "disconnected".into();
                    continue;
                }
                ReaderEvent::CardPresent | ReaderEvent::CardRemoved => continue,
            },
            Some(request) = commands_rx.recv() => {
                match request.command {
                    Command::SyncNow => {
                        nudge.notify_one();
                        let _ = request.reply.send(serde_json::json!({ "sync": "started" }));
                    }
                    Command::Status => {
                        let store = store.clone();
                        let status = Status {
                            version: VERSION,
                            kiosk_id: enrollment_rx.borrow().as_ref().map(|e| e.kiosk_id.clone()),
                            screen: flow::view::screen_name(&kiosk.screen),
                            out_of_service: kiosk.out_of_service.clone(),
                            printer: *printer_state.borrow(),
                            card_reader: reader_state.clone(),
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
                }
                continue;
            },
            _ = tick.tick() => {
                // Fed only here: a hung main loop stops the watchdog and systemd restarts us.
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                Event::Tick
            },
        };
        let now = Utc::now();
        let effects = flow::step(&mut kiosk, event, now);
        for effect in effects {
            shell.perform(effect, &kiosk, &reader, now);
        }
        let line = control::view_line(&flow::view::view(&kiosk, now));
        view_tx.send_if_modified(|current| {
            if **current != line {
                *current = Arc::new(line);
                true
            } else {
                false
            }
        });
    }

    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = sync_task.await;
    let _ = control_task.await;
    reader.stop();
    drop(shell);
    drop(store);
    // The writer finishes what it was given, then closes the database.
    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
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
    let ca = match &config.central.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the pinned CA {}", path.display()))?,
        ),
        None => None,
    };
    let api = HttpCentral::new(
        &config.central.url,
        None,
        config.central.timeout,
        ca.as_deref(),
    )?;
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
