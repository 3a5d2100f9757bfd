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
//! is given up on after [`STOP_GRACE`]. At start the store is checked (`quick_check`,
//! and that it is the one the kiosk booked on) before READY=1; the systemd watchdog is
//! fed by the main loop's tick alone. The disk and the clock are looked at (`guard`) at
//! start, every minute and before a session starts, and the retention rules run beside
//! (`store::retention`).

mod bookings;
mod kept;
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

use crate::clock::SharedClock;
use crate::config::Config;
use crate::control::{self, CommandRequest};
use crate::domain::calendar::Office;
use crate::flow::{self, Event, Kiosk, Timeouts};
pub use crate::frontend::Stopped;
use crate::frontend::{PanelState, Running, Shutdown, UiLink};
use crate::guard::Guard;
use crate::hardware::printer::PrinterState;
use crate::hardware::printer::worker::{PrinterSettings, PrinterWorker};
use crate::hardware::reader as reader_hw;
use crate::protocol::central::ReaderState;
use crate::status::VERSION;
pub use crate::sync::shared::CentralOpener;
use crate::sync::shared::SharedCentral;
use crate::sync::{KioskHealth, SyncStatus};
pub use kept::STOP_GRACE;
use kept::{Kept, close_store};
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
    /// When the disk and the clock are looked at again.
    guard_tick: tokio::time::Interval,
}

/// The tasks beside the main loop, and what must be let go of, in order, to stop.
struct Tasks {
    stop: watch::Sender<bool>,
    sync: JoinHandle<()>,
    control: JoinHandle<()>,
    today: JoinHandle<()>,
    retention: JoinHandle<()>,
    store_thread: std::thread::JoinHandle<()>,
    socket: ControlSocket,
}

/// The sending ends of the main loop's channels.
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
            control: mut socket,
            clock,
            disk,
        } = parts;
        let started_at = clock.now();
        let kept = Kept::open(&config.kiosk.state_dir, &disk).await?;
        let (mut kiosk, guard) = first_state(&config, &kept, disk, &clock).await?;
        let reader = reader_hw::start(reader);
        let (printer, printer_state) = start_printer(printer, &config, &kept, &clock)?;
        let (senders, receivers) = channels();
        let (publish, published) = Publish::new(&kiosk, clock.now());
        let (stop, stop_rx) = watch::channel(false);
        let wiring = Wiring {
            config,
            clock,
            central,
            kept,
            senders,
            stop: stop_rx,
            nudge: Arc::new(Notify::new()),
        };
        let (control_task, control) = wiring.spawn_control(socket.take_listener()?, &published);
        let (sync_task, sync_status, health, client) = wiring.spawn_sync();
        let (maint, kept_hold) = wiring.start_maint(&printer, started_at).await?;
        let settings = maint.settings();
        let language = settings.borrow().default_language;
        resume_kept(&mut kiosk, kept_hold, language, wiring.clock.now());
        // A kept hold or language changes what the first client sees.
        publish.view_line(&kiosk, wiring.clock.now());
        let (today_task, recount_today) = wiring.spawn_today(&publish, &sync_status);
        let retention = wiring.spawn_retention();
        if let Some(ui) = ui {
            let _ = ui.send(wiring.ui_link(published, &maint));
        }
        // Ready: the store is open and the devices have been tried.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        tracing::info!(socket = %socket.path().display(), version = VERSION, "kiosk running");
        let online = shell::Online {
            client,
            status: sync_status.clone(),
        };
        let shell = wiring.shell(printer, maint.calls(), online);
        let Wiring {
            clock, kept, nudge, ..
        } = wiring;
        let main = MainLoop {
            kiosk,
            shell,
            read_test: crate::maint::ReadTest::new(maint.clone()),
            maint,
            store: kept.store.clone(),
            nudge,
            clock,
            started_at,
            enrollment: kept.enrollment.subscribe(),
            printer_state,
            sync_status,
            reader_state: ReaderState::Disconnected,
            reader_info: None,
            health,
            panel: publish.panel,
            view_line: publish.view_line,
            view: publish.view,
            recount_today,
            guard,
            control,
            hang_at: None,
        };
        let sources = receivers.into_sources(shutdown, reader, settings);
        let tasks = Tasks {
            stop,
            sync: sync_task,
            control: control_task,
            today: today_task,
            retention,
            store_thread: kept.store_thread,
            socket,
        };
        Ok((main, sources, tasks))
    }
}

/// What the tasks beside the main loop are started from.
struct Wiring {
    config: Config,
    clock: SharedClock,
    central: CentralOpener,
    kept: Kept,
    senders: Senders,
    /// Turns true when the daemon stops.
    stop: watch::Receiver<bool>,
    /// Wakes the sync loop for a round now.
    nudge: Arc<Notify>,
}

impl Wiring {
    /// Resolves when the daemon stops.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// What the flow's effects are performed with.
    fn shell(
        &self,
        printer: PrinterWorker,
        calls: crate::maint::calls::OfficerCalls,
        online: shell::Online,
    ) -> Shell {
        Shell {
            store: self.kept.store.clone(),
            events: self.senders.events.clone(),
            printer,
            key: self.kept.signing.clone(),
            tag_secret: self.kept.tag_secret.clone(),
            enrollment: self.kept.enrollment.subscribe(),
            nudge: self.nudge.clone(),
            calls,
            online,
            clock: self.clock.clone(),
        }
    }

    /// The control channel's task, and what it had to refuse (for `status`).
    fn spawn_control(
        &self,
        listener: tokio::net::UnixListener,
        published: &Published,
    ) -> (JoinHandle<()>, Arc<control::ControlHealth>) {
        let health = Arc::new(control::ControlHealth::default());
        let task = tokio::spawn(control::serve(
            listener,
            self.senders.intents.clone(),
            self.senders.commands.clone(),
            published.view_lines.clone(),
            health.clone(),
            self.stopped(),
        ));
        (task, health)
    }

    /// The sync task, its status, where the main loop tells the heartbeat of the
    /// devices, and the central service's client once the task has made it.
    fn spawn_sync(
        &self,
    ) -> (
        JoinHandle<()>,
        watch::Receiver<SyncStatus>,
        watch::Sender<KioskHealth>,
        watch::Receiver<Option<SharedCentral>>,
    ) {
        let (status_tx, status) = watch::channel(SyncStatus::default());
        let (health, health_rx) = watch::channel(KioskHealth::default());
        let (client_tx, client) = watch::channel(None);
        let parts = SyncParts {
            central: self.central.clone(),
            interval: self.config.central.sync_interval,
            sync: self.config.sync.clone(),
            state_dir: self.config.kiosk.state_dir.clone(),
            store: self.kept.store.clone(),
            nudge: self.nudge.clone(),
            enrollment: self.kept.enrollment.clone(),
            events: self.senders.events.clone(),
            catalog: self.senders.catalog.clone(),
            health: health_rx,
            status: status_tx,
            client: client_tx,
            clock: self.clock.clone(),
        };
        let task = tokio::spawn(sync_when_enrolled(parts, self.stopped()));
        (task, status, health, client)
    }

    /// The maintenance side, and the technician's hold an earlier run left.
    async fn start_maint(
        &self,
        printer: &PrinterWorker,
        started_at: DateTime<Utc>,
    ) -> anyhow::Result<(crate::maint::Maint, Option<crate::maint::HoldReason>)> {
        crate::maint::Maint::start(crate::maint::service::MaintParts {
            store: self.kept.store.clone(),
            config: self.config.clone(),
            printer: printer.clone(),
            events: self.senders.events.clone(),
            enrollment: self.kept.enrollment.clone(),
            started_at,
            central: self.central.clone(),
            clock: self.clock.clone(),
            // The shell records the calls the maintenance side reports.
            calls: crate::maint::calls::OfficerCalls::default(),
        })
        .await
        .context("maintenance state")
    }

    /// The retention rules, applied beside the main loop whatever the network does.
    fn spawn_retention(&self) -> JoinHandle<()> {
        tokio::spawn(crate::store::retention::keep(
            self.kept.store.clone(),
            self.clock.clone(),
            self.stopped(),
        ))
    }

    /// The idle screen's count of today's numbers, and what wakes it.
    fn spawn_today(
        &self,
        publish: &Publish,
        synced: &watch::Receiver<SyncStatus>,
    ) -> (JoinHandle<()>, Arc<Notify>) {
        let recount = Arc::new(Notify::new());
        let parts = today::TodayParts {
            store: self.kept.store.clone(),
            panel: publish.panel.clone(),
            synced: synced.clone(),
            recount: recount.clone(),
            clock: self.clock.clone(),
        };
        (
            tokio::spawn(today::publish_today(parts, self.stopped())),
            recount,
        )
    }

    /// What the touchscreen is handed.
    fn ui_link(&self, published: Published, maint: &crate::maint::Maint) -> UiLink {
        UiLink {
            intents: self.senders.intents.clone(),
            commands: self.senders.commands.clone(),
            view: published.views,
            panel: published.panel,
            settings: maint.settings(),
        }
    }
}

/// The printer worker on the opener it is given, and the printer's state it publishes.
fn start_printer(
    open: crate::hardware::printer::PrinterOpener,
    config: &Config,
    kept: &Kept,
    clock: &crate::clock::SharedClock,
) -> anyhow::Result<(PrinterWorker, watch::Receiver<PrinterState>)> {
    let (state_tx, state) = watch::channel(PrinterState::Offline);
    let worker = PrinterWorker::spawn(
        open,
        PrinterSettings {
            clock: clock.clone(),
            office_details: config.offices.clone(),
            ..PrinterSettings::new(config.printer.profile())
        },
        kept.store.clone(),
        state_tx,
    )?;
    Ok((worker, state))
}

/// The receiving ends of [`Senders`].
struct Receivers {
    events: mpsc::Receiver<Event>,
    intents: mpsc::Receiver<flow::Intent>,
    commands: mpsc::Receiver<CommandRequest>,
    catalog: mpsc::Receiver<Vec<Office>>,
}

/// The main loop's channels: events of the effects and tasks, the intents and commands
/// of the screen and the socket, and the office lists of the sync.
fn channels() -> (Senders, Receivers) {
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
    let receivers = Receivers {
        events,
        intents,
        commands,
        catalog,
    };
    (senders, receivers)
}

impl Receivers {
    fn into_sources(
        self,
        shutdown: Shutdown,
        reader: reader_hw::ReaderHandle,
        settings: watch::Receiver<crate::maint::Settings>,
    ) -> Sources {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut guard_tick = tokio::time::interval(crate::guard::LOOK_EVERY);
        guard_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Sources {
            shutdown,
            events: self.events,
            intents: self.intents,
            commands: self.commands,
            catalog: self.catalog,
            reader,
            settings,
            tick,
            guard_tick,
        }
    }
}

/// Where the main loop publishes what the screens and the socket show.
struct Publish {
    view_line: watch::Sender<Arc<String>>,
    view: watch::Sender<Arc<flow::view::View>>,
    panel: watch::Sender<Arc<PanelState>>,
}

/// Their receivers, for the control channel and the screen.
struct Published {
    view_lines: watch::Receiver<Arc<String>>,
    views: watch::Receiver<Arc<flow::view::View>>,
    panel: watch::Receiver<Arc<PanelState>>,
}

impl Publish {
    fn new(kiosk: &Kiosk, now: DateTime<Utc>) -> (Publish, Published) {
        let first = flow::view::view(kiosk, now);
        let (view_line, view_lines) = watch::channel(Arc::new(control::view_line(&first)));
        let (view, views) = watch::channel(Arc::new(first));
        let (panel, panel_rx) = watch::channel(Arc::new(PanelState::default()));
        let publish = Publish {
            view_line,
            view,
            panel,
        };
        let published = Published {
            view_lines,
            views,
            panel: panel_rx,
        };
        (publish, published)
    }

    /// The control channel's view line of `kiosk` now.
    fn view_line(&self, kiosk: &Kiosk, now: DateTime<Utc>) {
        let line = control::view_line(&flow::view::view(kiosk, now));
        self.view_line.send_replace(Arc::new(line));
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
                _ = self.guard_tick.tick() => main.on_guard(),
            };
            match next {
                Next::Step(event) => main.step(event, &self.reader),
                Next::Steps(events) => {
                    for event in events {
                        main.step(event, &self.reader);
                    }
                }
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
        let _ = self.retention.await;
        let Sources { reader, .. } = sources;
        reader.stop();
        // The maintenance side and the shell hold the store and the printer: the writer
        // and the printer thread end only once they are gone.
        drop(main);
        close_store(self.store_thread).await;
        drop(self.socket);
    }
}

/// The flow as the daemon starts it ([`first_kiosk`]), with the disk's and the clock's
/// holds of their first look, and the guard that keeps looking.
async fn first_state(
    config: &Config,
    kept: &Kept,
    disk: crate::disk::SharedDisk,
    clock: &crate::clock::SharedClock,
) -> anyhow::Result<(Kiosk, Guard)> {
    let (offices, service_said) = kept
        .store
        .run(|s| Ok((s.offices()?, s.service_said()?)))
        .await?;
    let enrolled = kept.enrollment.borrow().is_some();
    let mut kiosk = first_kiosk(config, offices, enrolled, clock.now());
    let mut guard = Guard::new(disk, clock.clone(), service_said);
    for held in guard.look(&SyncStatus::default()) {
        flow::step(&mut kiosk, held, clock.now());
    }
    Ok((kiosk, guard))
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
    kiosk.help_contact.phone = config.help.phone.clone();
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
