//! The daemon's wiring: opens the store, starts the card reader, the printer worker, the
//! sync loop ([`sync_task`]) and the control channel, and runs the main loop
//! ([`main_loop`]) that feeds every event to the flow and performs the effects it
//! returns. The main loop never blocks: SQL runs
//! on the store's writer thread, the printer on its own thread, the reader on its own
//! thread, and each effect's outcome comes back as an event.
//!
//! Decisions live in `flow`, `domain` and `sync::planner`; this module only connects
//! them to the world. Shutdown: the `shutdown` future resolves (SIGTERM, or the caller),
//! the loop stops taking events, the tasks are told to stop, and the store's writer
//! finishes the jobs it was given before the database closes; a printer stuck mid-job
//! is given up on after [`STOP_GRACE`]. At start the store is checked (`quick_check`)
//! before READY=1; the systemd watchdog is fed by the main loop's tick alone.

mod main_loop;
mod sync_task;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::config::Config;
use crate::control::{self, CommandRequest};
use crate::domain::calendar::{self, Office, Zone};
use crate::domain::rules;
use crate::flow::{self, CommitFailure, Effect, Event, Kiosk, Timeouts};
pub use crate::frontend::Stopped;
use crate::frontend::{OfficeToday, PanelState, Running, Shutdown, UiLink};
use crate::hardware::printer::PrinterState;
use crate::hardware::printer::worker::{BACKLOG_POLL, PrinterSettings, PrinterWorker};
use crate::hardware::reader::{self as reader_hw, ReaderCommand, Signal};
use crate::identity::nik_tag;
use crate::identity::{Enrollment, KioskKey};
use crate::protocol::central::ReaderState;
use crate::protocol::ticket_qr;
use crate::status::VERSION;
use crate::store::writer::StoreHandle;
use crate::store::{CommitError, CommitPlan, TicketToSign};
use crate::sync::{KioskHealth, SyncStatus};
use main_loop::{MainLoop, Next};
use sync_task::{SyncParts, sync_when_enrolled};

// --- the daemon --------------------------------------------------------------------

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

/// The flow as the daemon starts it: the config's language and time-outs, the offices
/// the store kept, and the enrollment's hold on a kiosk that has none yet.
fn first_kiosk(config: &Config, offices: Vec<Office>, enrolled: bool, now: DateTime<Utc>) -> Kiosk {
    let timeouts = Timeouts {
        warning_after: chrono::TimeDelta::from_std(config.kiosk.inactivity_warning)
            .unwrap_or(chrono::TimeDelta::seconds(60)),
        reset_after: chrono::TimeDelta::from_std(config.kiosk.inactivity_reset)
            .unwrap_or(chrono::TimeDelta::seconds(20)),
        ..Timeouts::default()
    };
    let mut kiosk = Kiosk::new(config.kiosk.language, timeouts, now);
    flow::step(&mut kiosk, Event::CatalogChanged(offices), now);
    if !enrolled {
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
    kiosk
}

/// What an earlier run kept and the flow must start with: a technician's hold (it
/// outlives a restart) and the default language set from the menu.
fn resume_kept(
    kiosk: &mut Kiosk,
    hold: Option<crate::maint::HoldReason>,
    language: crate::domain::Language,
    now: DateTime<Utc>,
) {
    if let Some(reason) = hold {
        flow::step(
            kiosk,
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
    kiosk.default_language = language;
    kiosk.language = language;
}

/// Runs the kiosk, headless, until `shutdown` resolves or a technician asks for a
/// restart.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<Stopped> {
    run_with_ui(config, shutdown, None).await
}

/// Starts the daemon beside the touchscreen (`ui::run`'s `daemon`).
pub fn start_for_screen(
    config: Config,
    shutdown: Shutdown,
    ui: oneshot::Sender<UiLink>,
) -> Running {
    Box::pin(run_with_ui(config, shutdown, Some(ui)))
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
    let tag_secret = Arc::new(crate::identity::nik_tag_secret(&signing));
    let enrolled = Enrollment::load(&state_dir)
        .context("enrollment")?
        .map(Arc::new);
    let (enrollment_tx, enrollment_rx) = watch::channel(enrolled);

    let db = state_dir.join("kiosk.db");
    let (store, store_thread) = open_store(&db).await?;

    let now = Utc::now();
    let offices = store.run(|s| s.offices()).await?;
    let mut kiosk = first_kiosk(&config, offices, enrollment_rx.borrow().is_some(), now);

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

    let socket = config.kiosk.control_socket();
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
    let sync_task = tokio::spawn(sync_when_enrolled(
        SyncParts {
            central: config.central.clone(),
            sync: config.sync.clone(),
            state_dir: state_dir.clone(),
            store: store.clone(),
            nudge: nudge.clone(),
            enrollment: enrollment_tx,
            events: events_tx.clone(),
            catalog: catalog_tx,
            health: health_rx,
            status: sync_status_tx,
        },
        stopped(),
    ));

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
    let mut settings = maint.settings();
    let language = settings.borrow_and_update().default_language;
    resume_kept(&mut kiosk, kept_hold, language, now);
    let read_test = crate::maint::ReadTest::new(maint.clone());
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

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let hang_at = faults
        .hang_main_loop_after
        .map(|after| tokio::time::Instant::now() + after);
    let mut main = MainLoop {
        kiosk,
        shell,
        maint,
        read_test,
        store,
        nudge,
        started_at,
        enrollment: enrollment_rx,
        printer_state,
        sync_status,
        reader_state: ReaderState::Disconnected,
        reader_info: None,
        health: health_tx,
        panel: panel_tx,
        view_line: view_tx,
        view: view_state_tx,
        recount_today,
        hang_at,
    };
    let mut ended = Stopped::Shutdown;
    tokio::pin!(shutdown);
    loop {
        main.publish_devices();
        let next = tokio::select! {
            _ = &mut shutdown => break,
            Some(intent) = intents_rx.recv() => Next::Step(Event::Intent(intent)),
            Some(event) = events_rx.recv() => Next::Step(event),
            Some(offices) = catalog_rx.recv() => Next::Step(Event::CatalogChanged(offices)),
            Some(ev) = reader.events().recv() => main.on_reader(ev),
            Some(request) = commands_rx.recv() => main.on_command(request).await,
            Ok(()) = settings.changed() => {
                let language = settings.borrow_and_update().default_language;
                main.on_settings(language)
            },
            _ = tick.tick() => main.on_tick(),
        };
        match next {
            Next::Step(event) => main.step(event, &reader),
            Next::Nothing => {}
            Next::Stop(how) => {
                ended = how;
                break;
            }
        }
    }
    let MainLoop {
        shell,
        maint,
        read_test,
        store,
        ..
    } = main;

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
    close_store(store_thread).await;
    let _ = std::fs::remove_file(&socket);
    Ok(ended)
}

/// Waits for the store's writer to finish what it was given (a booking being committed
/// is committed) and close the database, once the printer thread lets go of it too (a
/// ticket being printed comes out whole). A printer that hangs mid-job is given up on
/// after [`STOP_GRACE`]: its ticket stays unprinted in the store and prints at the next
/// start, and what was committed is on disk already (WAL, synchronous = FULL).
async fn close_store(store_thread: std::thread::JoinHandle<()>) {
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
