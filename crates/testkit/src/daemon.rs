//! The whole daemon (`app::Daemon`) on fakes in memory: a [`FakeReader`], a
//! [`FakePrinter`], a [`FakeCentral`], a [`FakeDisk`], the control socket in a temp
//! directory and a clock that moves with tokio's (which a test may set wrong: the
//! central service follows the world's, which stays right). A kiosk can be restarted on
//! its state directory ([`DaemonOnFakes::restart`]). Everything above the serial and HTTP code is the
//! daemon's own: the flow, the store on its writer thread, the printer worker, the
//! sync loop, the maintenance side. Meant for `#[tokio::test(start_paused = true)]`:
//! a walk-away's minute or a sync backoff passes at once.
//!
//! Tests drive it through the link the touchscreen gets (intents in, the view out) and
//! wait on the view, never on time.
//!
//! Tokio's paused clock moves by itself whenever the runtime has nothing to do, and
//! here the runtime often waits on other threads (the store's writer, the printer's,
//! the reader's): left alone, it would race through minutes of the kiosk's time while
//! SQLite writes, and an applicant would time out mid-booking. So every wait of the
//! test on the daemon is [`held`]: tokio's clock stands still until the daemon has
//! answered, and the kiosk's time moves only where a test sleeps on purpose.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apm_kiosk::app::{ControlSocket, Daemon, Parts, Stopped};
use apm_kiosk::clock::{SharedClock, TokioClock};
use apm_kiosk::config::Config;
use apm_kiosk::control::{Command, CommandRequest, Reply};
use apm_kiosk::flow::Intent;
use apm_kiosk::flow::view::{ScreenKind, View};
use apm_kiosk::frontend::UiLink;
use apm_kiosk::hardware::reader::ReaderEvent;
use apm_kiosk::identity::Enrollment;
use apm_kiosk::sync::shared::SharedCentral;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fakes::{FakeCentral, FakeDisk, FakePrinter, FakeReader, FakeReaderControl};
use crate::fixtures::tuesday_morning;

/// How long a test waits for the daemon, in real time, before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a held wait looks again, in real time.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// Awaits `work` with tokio's clock held still: a blocking task sleeping in turns keeps
/// the paused clock from advancing (tokio does not auto-advance while one runs), for
/// at most [`PATIENCE`] of real time.
pub async fn held<F: std::future::Future>(what: &str, work: F) -> F::Output {
    let deadline = std::time::Instant::now() + PATIENCE;
    tokio::pin!(work);
    loop {
        let look = tokio::task::spawn_blocking(|| std::thread::sleep(LOOK_EVERY));
        tokio::select! {
            biased;
            out = &mut work => return out,
            _ = look => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what} after {PATIENCE:?}"
        );
    }
}

/// Waits, holding tokio's clock, until `done` is true: for what the daemon's threads
/// do on their own (the printer worker's backlog poll).
pub async fn held_until(what: &str, done: impl Fn() -> bool) {
    held(what, async {
        while !done() {
            tokio::task::yield_now().await;
            tokio::task::spawn_blocking(|| std::thread::sleep(LOOK_EVERY))
                .await
                .expect("a blocking sleep");
        }
    })
    .await
}

/// A running daemon on fakes, and the test's side of each fake.
pub struct DaemonOnFakes {
    pub reader: FakeReaderControl,
    pub printer: FakePrinter,
    pub central: FakeCentral,
    pub clock: SharedClock,
    pub config: Config,
    pub link: UiLink,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<Stopped>>>,
    /// What outlives a restart: the state directory, the fakes that stay, the clocks.
    stopped: Option<StoppedKiosk>,
}

/// A kiosk on fakes whose daemon is not running: its state directory, its central
/// service and disk, its clock and the world's; started with [`StoppedKiosk::launch`].
pub struct StoppedKiosk {
    dir: tempfile::TempDir,
    central: FakeCentral,
    disk: FakeDisk,
    clock: TokioClock,
    world: TokioClock,
}

/// Kept short where it is built.
impl StoppedKiosk {
    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The kiosk's database file.
    pub fn db(&self) -> PathBuf {
        self.state_dir().join("kiosk.db")
    }

    /// The kiosk's config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("kiosk.toml")
    }

    /// Sets the kiosk's clock, for its next start.
    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.clock.set(now);
    }

    pub fn disk(&self) -> &FakeDisk {
        &self.disk
    }

    /// Starts the daemon on this kiosk's config, a reader plugged in with its SAM (as a
    /// kiosk's is when the daemon starts), a fresh printer and these fakes and clocks;
    /// returns once the daemon hands over its link, or the error it stopped with.
    pub async fn launch(self) -> Result<DaemonOnFakes, (anyhow::Error, StoppedKiosk)> {
        let config = Config::load(&self.dir.path().join("kiosk.toml")).expect("the config loads");
        let clock: SharedClock = Arc::new(self.clock.clone());
        let (reader, reader_control) =
            FakeReader::scripted([ReaderEvent::Connected(FakeReader::info())]);
        let printer = FakePrinter::new();
        let mut parts = parts(&config, reader, &printer, &self.central, clock.clone());
        parts.disk = Arc::new(self.disk.clone());
        let (link_tx, link_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let daemon = Daemon::new(config.clone(), parts);
        let task = tokio::spawn(daemon.run(
            async move {
                let _ = stopped.await;
            },
            Some(link_tx),
        ));
        let Ok(link) = held("the daemon's start", link_rx).await else {
            let ended = held("the daemon's end", task)
                .await
                .expect("the daemon task ends");
            let e = ended
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("stopped before its link"));
            return Err((e, self));
        };
        Ok(DaemonOnFakes {
            reader: reader_control,
            printer,
            central: self.central.clone(),
            clock,
            config,
            link,
            stop: Some(stop),
            task: Some(task),
            stopped: Some(self),
        })
    }
}

/// The config of a kiosk on fakes, with `extra` TOML tables at the end.
fn config_text(state: &Path, extra: &str) -> String {
    format!(
        r#"# A kiosk on fakes in memory.
[kiosk]
state_dir = "{state}"
language = "id"
inactivity_warning_s = 60
inactivity_reset_s = 20

[card_reader]
path = "/dev/null-reader"

[printer]
path = "/dev/null-printer"
paper = "80mm"

[central]
url = "http://127.0.0.1:9"
sync_interval_s = 30

[sync]
hold_days = 6
low_water = 3
target = 6
{extra}"#,
        state = state.display(),
    )
}

/// How a daemon on fakes starts, besides its central service.
#[derive(Debug, Clone)]
pub struct Start {
    /// Enrolled with `FakeCentral` (as its enroll answers) before the start.
    pub enrolled: bool,
    /// TOML tables at the end of the config.
    pub extra: String,
    /// The kiosk's clock at start, when it is not right (the world's, which the
    /// central service follows, is [`tuesday_morning`]).
    pub clock_at: Option<DateTime<Utc>>,
    pub disk: FakeDisk,
}

impl Default for Start {
    fn default() -> Start {
        Start {
            enrolled: true,
            extra: String::new(),
            clock_at: None,
            disk: FakeDisk::default(),
        }
    }
}

impl DaemonOnFakes {
    /// A kiosk enrolled with `central` (as `FakeCentral`'s enroll answers), started at
    /// [`tuesday_morning`]; returns once the daemon hands over its link.
    pub async fn start(central: FakeCentral) -> DaemonOnFakes {
        DaemonOnFakes::start_with(central, true, "").await
    }

    /// [`DaemonOnFakes::start`], enrolled or not, with `extra` config tables.
    pub async fn start_with(central: FakeCentral, enrolled: bool, extra: &str) -> DaemonOnFakes {
        DaemonOnFakes::start_as(
            central,
            Start {
                enrolled,
                extra: extra.to_owned(),
                ..Start::default()
            },
        )
        .await
    }

    /// A kiosk started as `start` says.
    pub async fn start_as(central: FakeCentral, start: Start) -> DaemonOnFakes {
        let dir = tempfile::tempdir().expect("temp dir for the kiosk");
        let state = dir.path().join("state");
        if start.enrolled {
            enroll(&state);
        }
        let path = dir.path().join("kiosk.toml");
        std::fs::write(&path, config_text(&state, &start.extra)).expect("config written");
        let world = TokioClock::starting_at(tuesday_morning());
        let clock = TokioClock::starting_at(tuesday_morning());
        if let Some(at) = start.clock_at {
            clock.set(at);
        }
        central.follow_clock(Arc::new(world.clone()));
        let kiosk = StoppedKiosk {
            dir,
            central,
            disk: start.disk,
            clock,
            world,
        };
        match kiosk.launch().await {
            Ok(kiosk) => kiosk,
            Err((e, _)) => panic!("the daemon did not start: {e:#}"),
        }
    }

    /// Stops the daemon as SIGTERM would and starts it again on the same state
    /// directory, fakes and clocks; the error the start failed with (and the kiosk,
    /// stopped, to start again), if it did.
    pub async fn restart(self) -> Result<DaemonOnFakes, (anyhow::Error, StoppedKiosk)> {
        self.halt().await.launch().await
    }

    /// Stops the daemon as SIGTERM would, keeping what outlives it to start again.
    pub async fn halt(mut self) -> StoppedKiosk {
        let _ = self.stop_task().await;
        self.stopped.take().expect("a running kiosk's parts")
    }

    /// The maintenance report, as `maint_report` answers it.
    pub async fn report(&self) -> apm_kiosk::maint::Report {
        match self.command(Command::MaintReport).await {
            Reply::Maint(apm_kiosk::maint::answer::MaintAnswer::Report(r)) => *r,
            other => panic!("maint_report answered {other:?}"),
        }
    }

    /// The kiosk's clock, to set as a technician or a flat RTC battery would.
    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.stopped().clock.set(now);
    }

    /// The kiosk's disk, to fill and free.
    pub fn disk(&self) -> &FakeDisk {
        &self.stopped().disk
    }

    /// The time the world (and the central service) says it is.
    pub fn world_now(&self) -> DateTime<Utc> {
        apm_kiosk::clock::Clock::now(&self.stopped().world)
    }

    fn stopped(&self) -> &StoppedKiosk {
        self.stopped.as_ref().expect("a running kiosk's parts")
    }

    /// The kiosk's database file.
    pub fn db(&self) -> PathBuf {
        self.config.kiosk.state_dir.join("kiosk.db")
    }

    pub fn dir(&self) -> &Path {
        self.stopped().dir.path()
    }

    /// What the screen shows now.
    pub fn view(&self) -> Arc<View> {
        self.link.view.borrow().clone()
    }

    /// Sends what a tap on the screen would.
    pub async fn tap(&self, intent: Intent) {
        held("an intent taken", self.link.intents.send(intent))
            .await
            .expect("the daemon takes intents");
    }

    /// Waits, holding tokio's clock, until the view satisfies `pred`; fails with the
    /// view shown instead after [`PATIENCE`].
    pub async fn wait_view(&mut self, what: &str, pred: impl Fn(&View) -> bool) -> Arc<View> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if pred(&self.link.view.borrow_and_update()) {
                return self.view();
            }
            let look = tokio::task::spawn_blocking(|| std::thread::sleep(LOOK_EVERY));
            tokio::select! {
                changed = self.link.view.changed() => {
                    assert!(changed.is_ok(), "the daemon stopped while waiting for {what}");
                }
                _ = look => {}
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {what} after {PATIENCE:?}: the view is {:?}",
                self.view()
            );
        }
    }

    /// Waits for `screen`.
    pub async fn wait_screen(&mut self, screen: ScreenKind) -> Arc<View> {
        self.wait_view(&format!("screen {screen:?}"), |v| v.screen == screen)
            .await
    }

    /// A control channel command, answered as the socket would answer it.
    pub async fn command(&self, command: Command) -> Reply {
        let (reply, answer) = oneshot::channel();
        let asked = async {
            self.link
                .commands
                .send(CommandRequest { command, reply })
                .await
                .expect("the daemon takes commands");
            answer.await.expect("the daemon answers")
        };
        held("a command's answer", asked).await
    }

    /// What the `status` command answers.
    pub async fn status(&self) -> apm_kiosk::status::Status {
        match self.command(Command::Status).await {
            Reply::Status(status) => *status,
            other => panic!("status answered {other:?}"),
        }
    }

    /// Starts a sync round now, as `apm-kiosk maint sync` does, and waits (holding
    /// tokio's clock) until it has ended; returns the status after it.
    pub async fn sync_round(&self) -> apm_kiosk::status::Status {
        let before = self.status().await.sync;
        // A round under way ends first; the one asked for runs after it.
        let want = before.rounds + 1 + u64::from(before.round_running);
        let started = self.command(Command::SyncNow).await;
        assert!(matches!(started, Reply::SyncStarted(_)), "{started:?}");
        loop {
            let status = self.status().await;
            if status.sync.rounds >= want && !status.sync.round_running {
                return status;
            }
            held(
                "a sync round",
                tokio::task::spawn_blocking(|| std::thread::sleep(LOOK_EVERY)),
            )
            .await
            .expect("a blocking sleep");
        }
    }

    /// Whether the daemon is still running (it has not ended by itself).
    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Stops the daemon as SIGTERM would and says how it ended.
    pub async fn stop(mut self) -> Stopped {
        self.stop_task().await.expect("the daemon was running")
    }

    /// Sends the stop and waits for the end; `None` if the daemon had ended already.
    async fn stop_task(&mut self) -> Option<Stopped> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.as_ref()?;
        Some(self.ended().await)
    }

    /// Waits until the daemon ends (by itself: a restart asked from the maintenance
    /// side; or after a stop) and says how it ended. The daemon's own short waits on
    /// its way out (the restart's answer leaving the socket) pass in steps of
    /// [`END_STEP`] of the kiosk's time, each only once the daemon has had a look of
    /// real time.
    pub async fn ended(&mut self) -> Stopped {
        let mut task = self.task.take().expect("running");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let look = tokio::task::spawn_blocking(|| std::thread::sleep(LOOK_EVERY));
            let ended = held("the daemon's end", async {
                tokio::select! {
                    biased;
                    out = &mut task => Some(out),
                    _ = look => None,
                }
            })
            .await;
            if let Some(out) = ended {
                return out
                    .expect("the daemon task ends")
                    .expect("the daemon ends cleanly");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not end in {PATIENCE:?}"
            );
            tokio::time::advance(END_STEP).await;
        }
    }
}

/// How much of the kiosk's time passes at each look while the daemon stops.
const END_STEP: Duration = Duration::from_millis(50);

/// The enrollment `FakeCentral` gives, written where the daemon looks for it.
fn enroll(state: &Path) {
    Enrollment {
        kiosk_id: "FAKE-KIOSK-01".into(),
        token: "fake-token".into(),
        office_ids: vec!["KRM".into()],
        nik_hash_key: [7; 32],
    }
    .save(state)
    .expect("enrollment saved");
}

fn parts(
    config: &Config,
    reader: FakeReader,
    printer: &FakePrinter,
    central: &FakeCentral,
    clock: SharedClock,
) -> Parts {
    let (printer, central) = (printer.clone(), central.clone());
    Parts {
        reader: Box::new(reader),
        printer: Box::new(move || Ok(printer.boxed())),
        central: Arc::new(move |_token| Ok(SharedCentral::new(central.clone()))),
        control: ControlSocket::bind(&config.kiosk.control_socket()).expect("socket binds"),
        clock,
        disk: Arc::new(FakeDisk::default()),
    }
}

impl Drop for DaemonOnFakes {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
