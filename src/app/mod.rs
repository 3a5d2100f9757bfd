//! The daemon's wiring: [`Daemon`] takes its [`Parts`] (the reader, the printer, the
//! central service, the control socket, the clock), opens the store, starts the card
//! reader, the printer worker, the sync loop ([`sync_task`]) and the control channel,
//! and runs the main loop ([`main_loop`]) that feeds every event to the flow and has
//! [`shell`] perform the effects it returns. The main loop never blocks: SQL runs on the
//! store's writer thread, the printer on its own thread, the reader on its own thread,
//! and each effect's outcome comes back as an event.
//!
//! Decisions live in `flow`, `domain` and `sync::planner`; this module only connects
//! them to the world. Shutdown: the `shutdown` future resolves (SIGTERM, or the caller),
//! the loop stops taking events, the tasks are told to stop, and the store's writer
//! finishes the jobs it was given before the database closes; a printer stuck mid-job
//! is given up on after [`STOP_GRACE`]. At start the store is checked (`quick_check`)
//! before READY=1; the systemd watchdog is fed by the main loop's tick alone.

mod main_loop;
mod parts;
mod shell;
mod sync_task;
mod today;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::control::{self, CommandRequest};
use crate::domain::calendar::Office;
use crate::flow::{self, Event, Kiosk, Timeouts};
pub use crate::frontend::Stopped;
use crate::frontend::{PanelState, Running, Shutdown, UiLink};
use crate::hardware::printer::PrinterState;
use crate::hardware::printer::worker::{BACKLOG_POLL, PrinterSettings, PrinterWorker};
use crate::hardware::reader as reader_hw;
use crate::identity::{Enrollment, KioskKey};
use crate::protocol::central::ReaderState;
use crate::status::VERSION;
use crate::store::writer::StoreHandle;
pub use crate::sync::shared::CentralOpener;
use crate::sync::{KioskHealth, SyncStatus};
use main_loop::{MainLoop, Next};
pub use parts::{ControlSocket, Parts};
use shell::Shell;
use sync_task::{SyncParts, sync_when_enrolled};

// --- the daemon --------------------------------------------------------------------

/// A kiosk's daemon: its config and the parts it talks to the world through.
pub struct Daemon {
    config: Config,
    parts: Parts,
}

/// Runs the kiosk on the parts its config names, headless, until `shutdown` resolves or
/// a technician asks for a restart.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Stopped> {
    run_with_ui(config, shutdown, None).await
}

/// [`run`], handing `ui` (a touchscreen) its channels as [`Daemon::run`] does.
pub async fn run_with_ui(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ui: Option<oneshot::Sender<UiLink>>,
) -> anyhow::Result<Stopped> {
    let parts = Parts::from_config(&config)?;
    Daemon::new(config, parts).run(shutdown, ui).await
}

/// Starts the daemon beside the touchscreen (`ui::run`'s `daemon`).
pub fn start_for_screen(
    config: Config,
    shutdown: Shutdown,
    ui: oneshot::Sender<UiLink>,
) -> Running {
    Box::pin(run_with_ui(config, shutdown, Some(ui)))
}

/// What the state directory keeps: the kiosk's key, its enrollment and its store.
struct Kept {
    signing: Arc<ed25519_dalek::SigningKey>,
    tag_secret: Arc<[u8; 32]>,
    enrollment: watch::Sender<Option<Arc<Enrollment>>>,
    store: StoreHandle,
    store_thread: std::thread::JoinHandle<()>,
}

impl Kept {
    async fn open(state_dir: &std::path::Path) -> anyhow::Result<Kept> {
        std::fs::create_dir_all(state_dir).with_context(|| {
            format!("cannot create the state directory {}", state_dir.display())
        })?;
        let key = KioskKey::load_or_create(state_dir).context("kiosk key")?;
        let signing = Arc::new(key.signing_key().clone());
        let tag_secret = Arc::new(crate::identity::nik_tag_secret(&signing));
        let enrolled = Enrollment::load(state_dir)
            .context("enrollment")?
            .map(Arc::new);
        let (store, store_thread) = open_store(&state_dir.join("kiosk.db")).await?;
        Ok(Kept {
            signing,
            tag_secret,
            enrollment: watch::channel(enrolled).0,
            store,
            store_thread,
        })
    }
}

/// Where the main loop's events come from.
struct Sources {
    shutdown: Shutdown,
    events: mpsc::Receiver<Event>,
    intents: mpsc::Receiver<flow::Intent>,
    commands: mpsc::Receiver<CommandRequest>,
    catalog: mpsc::Receiver<Vec<Office>>,
    reader: reader_hw::ReaderHandle,
    settings: watch::Receiver<crate::maint::Settings>,
    tick: tokio::time::Interval,
}

/// The tasks beside the main loop, and what must be let go of, in order, to stop.
struct Tasks {
    stop: watch::Sender<bool>,
    sync: JoinHandle<()>,
    control: JoinHandle<()>,
    today: JoinHandle<()>,
    store_thread: std::thread::JoinHandle<()>,
    socket: ControlSocket,
}

/// The senders of the channels the main loop's sources read.
struct Senders {
    events: mpsc::Sender<Event>,
    intents: mpsc::Sender<flow::Intent>,
    commands: mpsc::Sender<CommandRequest>,
    catalog: mpsc::Sender<Vec<Office>>,
}

impl Daemon {
    pub fn new(config: Config, parts: Parts) -> Daemon {
        Daemon { config, parts }
    }

    /// Runs the kiosk until `shutdown` or a restart, handing `ui` (a touchscreen) the
    /// channels it needs once the store is open and the devices are tried: the same
    /// intents and commands as the control channel, the view, the devices' state and
    /// the kept settings.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        ui: Option<oneshot::Sender<UiLink>>,
    ) -> anyhow::Result<Stopped> {
        let faults = crate::fault::Faults::from_env()?;
        if faults.any() {
            tracing::warn!(
                ?faults,
                "fault injection is on ({}): a test run",
                crate::fault::VAR
            );
        }
        let shutdown: Shutdown = Box::pin(shutdown);
        let (mut main, mut sources, tasks) = self.start(shutdown, ui).await?;
        main.hang_at = faults
            .hang_main_loop_after
            .map(|after| tokio::time::Instant::now() + after);
        let ended = sources.run(&mut main).await;
        tasks.stop(main, sources).await;
        Ok(ended)
    }

    /// Opens what the state directory keeps, starts the devices and the tasks, and
    /// builds the main loop; READY=1 once done.
    async fn start(
        self,
        shutdown: Shutdown,
        ui: Option<oneshot::Sender<UiLink>>,
    ) -> anyhow::Result<(MainLoop, Sources, Tasks)> {
        let Daemon { config, parts } = self;
        let Parts {
            reader,
            printer,
            central,
            mut control,
            clock,
        } = parts;
        let started_at = clock.now();
        let kept = Kept::open(&config.kiosk.state_dir).await?;
        let store = kept.store.clone();
        let offices = store.run(|s| s.offices()).await?;
        let enrolled = kept.enrollment.borrow().is_some();
        let mut kiosk = first_kiosk(&config, offices, enrolled, clock.now());

        let reader = reader_hw::start(reader);
        let (printer_state_tx, printer_state) = watch::channel(PrinterState::Offline);
        let printer = PrinterWorker::spawn(
            printer,
            PrinterSettings {
                paper: config.printer.paper,
                backlog_poll: BACKLOG_POLL,
            },
            store.clone(),
            kept.enrollment.subscribe(),
            printer_state_tx,
        )?;

        let (events_tx, events) = mpsc::channel::<Event>(64);
        let (intents_tx, intents) = mpsc::channel(64);
        let (commands_tx, commands) = mpsc::channel::<CommandRequest>(16);
        let (catalog_tx, catalog) = mpsc::channel::<Vec<Office>>(4);
        let senders = Senders {
            events: events_tx,
            intents: intents_tx,
            commands: commands_tx,
            catalog: catalog_tx,
        };
        let now = clock.now();
        let first_view = flow::view::view(&kiosk, now);
        let (view_line, view_lines) = watch::channel(Arc::new(control::view_line(&first_view)));
        let (view, views) = watch::channel(Arc::new(first_view));
        let (panel, panel_rx) = watch::channel(Arc::new(PanelState::default()));
        let (stop, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };

        let listener = control
            .listener
            .take()
            .context("the control socket was handed over already")?;
        let control_task = tokio::spawn(control::serve(
            listener,
            senders.intents.clone(),
            senders.commands.clone(),
            view_lines,
            stopped(),
        ));

        let nudge = Arc::new(Notify::new());
        let (sync_status_tx, sync_status) = watch::channel(SyncStatus::default());
        let (health, health_rx) = watch::channel(KioskHealth::default());
        let sync_task = tokio::spawn(sync_when_enrolled(
            SyncParts {
                central: central.clone(),
                interval: config.central.sync_interval,
                sync: config.sync.clone(),
                state_dir: config.kiosk.state_dir.clone(),
                store: store.clone(),
                nudge: nudge.clone(),
                enrollment: kept.enrollment.clone(),
                events: senders.events.clone(),
                catalog: senders.catalog.clone(),
                health: health_rx,
                status: sync_status_tx,
                clock: clock.clone(),
            },
            stopped(),
        ));

        let (maint, kept_hold) = crate::maint::Maint::start(crate::maint::service::MaintParts {
            store: store.clone(),
            config: config.clone(),
            printer: printer.clone(),
            events: senders.events.clone(),
            enrollment: kept.enrollment.clone(),
            started_at,
            central: central.clone(),
            clock: clock.clone(),
        })
        .await
        .context("maintenance state")?;
        let mut settings = maint.settings();
        let language = settings.borrow_and_update().default_language;
        resume_kept(&mut kiosk, kept_hold, language, now);
        // A kept hold or language changes what the first client sees.
        view_line.send_replace(Arc::new(control::view_line(&flow::view::view(&kiosk, now))));

        let recount_today = Arc::new(Notify::new());
        let today_task = tokio::spawn(today::publish_today(
            today::TodayParts {
                store: store.clone(),
                panel: panel.clone(),
                synced: sync_status.clone(),
                recount: recount_today.clone(),
                clock: clock.clone(),
            },
            stopped(),
        ));
        if let Some(ui) = ui {
            let _ = ui.send(UiLink {
                intents: senders.intents.clone(),
                commands: senders.commands.clone(),
                view: views,
                panel: panel_rx,
                settings: maint.settings(),
            });
        }

        // Ready: the store is open and the devices have been tried.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        tracing::info!(socket = %control.path().display(), version = VERSION, "kiosk running");

        let main = MainLoop {
            kiosk,
            shell: Shell {
                store: store.clone(),
                events: senders.events.clone(),
                printer,
                key: kept.signing.clone(),
                tag_secret: kept.tag_secret.clone(),
                enrollment: kept.enrollment.subscribe(),
                nudge: nudge.clone(),
            },
            read_test: crate::maint::ReadTest::new(maint.clone()),
            maint,
            store,
            nudge,
            clock,
            started_at,
            enrollment: kept.enrollment.subscribe(),
            printer_state,
            sync_status,
            reader_state: ReaderState::Disconnected,
            reader_info: None,
            health,
            panel,
            view_line,
            view,
            recount_today,
            hang_at: None,
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let Senders { .. } = senders;
        let sources = Sources {
            shutdown,
            events,
            intents,
            commands,
            catalog,
            reader,
            settings,
            tick,
        };
        let tasks = Tasks {
            stop,
            sync: sync_task,
            control: control_task,
            today: today_task,
            store_thread: kept.store_thread,
            socket: control,
        };
        Ok((main, sources, tasks))
    }
}

impl Sources {
    /// Hands each event to the main loop's method for its source until `shutdown` or a
    /// restart.
    async fn run(&mut self, main: &mut MainLoop) -> Stopped {
        loop {
            main.publish_devices();
            let next = tokio::select! {
                _ = &mut self.shutdown => return Stopped::Shutdown,
                Some(intent) = self.intents.recv() => Next::Step(Event::Intent(intent)),
                Some(event) = self.events.recv() => Next::Step(event),
                Some(offices) = self.catalog.recv() => Next::Step(Event::CatalogChanged(offices)),
                Some(ev) = self.reader.events().recv() => main.on_reader(ev),
                Some(request) = self.commands.recv() => main.on_command(request).await,
                Ok(()) = self.settings.changed() => {
                    let language = self.settings.borrow_and_update().default_language;
                    main.on_settings(language)
                },
                _ = self.tick.tick() => main.on_tick(),
            };
            match next {
                Next::Step(event) => main.step(event, &self.reader),
                Next::Nothing => {}
                Next::Stop(how) => return how,
            }
        }
    }
}

impl Tasks {
    /// Stops the tasks and the devices, then closes the store once everything holding
    /// it has let go.
    async fn stop(self, main: MainLoop, sources: Sources) {
        tracing::info!("stopping");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = self.stop.send(true);
        let _ = self.sync.await;
        let _ = self.control.await;
        let _ = self.today.await;
        let Sources { reader, .. } = sources;
        reader.stop();
        // The maintenance side and the shell hold the store and the printer: the writer
        // and the printer thread end only once they are gone.
        drop(main);
        close_store(self.store_thread).await;
        drop(self.socket);
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
