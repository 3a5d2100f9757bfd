//! The window on the whole daemon, the daemon on fakes in memory
//! (`apm_kiosk_testkit::daemon`, on paused time): both on the test's thread, as a
//! kiosk's screen and daemon share one machine. The kiosk's time moves only where a
//! test lets it pass, so a walk-away's minute or the menu's two idle minutes cost
//! nothing; the window's own timers move with Slint's mock time.

use std::time::Duration;

use apm_kiosk::app::Stopped;
use apm_kiosk::ui::{self, Flow, KioskWindow, Screen};
use apm_kiosk_testkit::daemon::{DaemonOnFakes, held};
use apm_kiosk_testkit::fakes::{FakeCentral, FakeReaderControl};
use slint::ComponentHandle;

/// How long the daemon is let run, in real time, between two looks at the screen.
const STEP: Duration = Duration::from_millis(2);

/// How many looks before a wait fails: 40 s of real time.
const LOOKS: usize = 20_000;

/// A daemon on fakes, and the portrait window showing it.
pub struct KioskOnFakes {
    pub rt: tokio::runtime::Runtime,
    daemon: Option<DaemonOnFakes>,
    pub ui: KioskWindow,
}

impl KioskOnFakes {
    /// An enrolled kiosk on this thread's headless platform, once the first sync
    /// rounds have brought it numbers.
    pub fn start() -> KioskOnFakes {
        super::init();
        let mut k = KioskOnFakes::start_with(FakeCentral::new(), true, "");
        k.wait_for_numbers();
        k
    }

    /// A kiosk on `central`, enrolled or not, with `extra` config tables, on the
    /// headless platform the test installed.
    pub fn start_with(central: FakeCentral, enrolled: bool, extra: &str) -> KioskOnFakes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let daemon = rt.block_on(DaemonOnFakes::start_with(central, enrolled, extra));
        let ui = super::window(1080.0, 1920.0);
        let k = KioskOnFakes {
            rt,
            daemon: Some(daemon),
            ui,
        };
        k.connect();
        k
    }

    /// The screen's callbacks to the daemon now running, the applicant's and the
    /// maintenance menu's, as `apm-kiosk run` connects them.
    fn connect(&self) {
        let daemon = self.daemon();
        ui::connect(&self.ui, daemon.link.intents.clone());
        ui::maint::connect(
            &self.ui,
            ui::maint::MaintLink {
                commands: daemon.link.commands.clone(),
                runtime: self.rt.handle().clone(),
                export_fallback: daemon.config.kiosk.state_dir.join("exports"),
            },
        );
    }

    pub fn daemon(&self) -> &DaemonOnFakes {
        self.daemon.as_ref().expect("running")
    }

    pub fn screen(&self) -> Screen {
        self.ui.global::<Flow>().get_screen()
    }

    /// Lets the daemon work, with the kiosk's time held, until `done` holds: each view
    /// is shown as it comes, and what the daemon's answers queue for the window runs.
    pub fn until(&mut self, what: &str, done: impl FnMut(&KioskOnFakes) -> bool) {
        self.until_passing(what, Duration::ZERO, done);
    }

    /// [`KioskOnFakes::until`], with `tick` of the kiosk's time passing at each look:
    /// for what the screen asks again on a timer (the sync's progress, each second).
    pub fn until_passing(
        &mut self,
        what: &str,
        tick: Duration,
        mut done: impl FnMut(&KioskOnFakes) -> bool,
    ) {
        for _ in 0..LOOKS {
            let daemon = self.daemon.as_mut().expect("running");
            ui::pump(&self.ui, &mut daemon.link);
            run_queued_window_events();
            if done(self) {
                return;
            }
            self.step();
            if !tick.is_zero() {
                self.pass(tick);
            }
        }
        panic!("waited 40 s for {what}; the screen is {:?}", self.screen());
    }

    /// Lets the daemon run for one look, with the kiosk's time held.
    pub fn step(&self) {
        self.rt
            .block_on(held("a look at the screen", async {
                tokio::task::spawn_blocking(|| std::thread::sleep(STEP)).await
            }))
            .expect("a blocking sleep");
    }

    /// Lets `time` of the kiosk's time pass, as a person standing still would.
    pub fn pass(&mut self, time: Duration) {
        self.rt.block_on(async { tokio::time::sleep(time).await });
    }

    pub fn wait_screen(&mut self, screen: Screen) {
        self.until(&format!("{screen:?}"), |k| k.screen() == screen);
    }

    /// Until the kiosk holds queue numbers: the first sync rounds after the start.
    pub fn wait_for_numbers(&mut self) {
        let daemon = self.daemon();
        self.rt.block_on(async {
            for _ in 0..5 {
                if daemon.sync_round().await.store.held_free > 0 {
                    return;
                }
            }
            panic!("no numbers from the central service");
        });
    }

    /// Taps, then waits for the screen the tap leads to.
    pub fn tap_to(&mut self, label: &str, screen: Screen) {
        super::tap(&self.ui, label);
        self.wait_screen(screen);
    }

    pub fn reader(&self) -> &FakeReaderControl {
        &self.daemon().reader
    }

    /// Waits for the daemon to end by itself (a restart from the menu).
    pub fn ended(&mut self) -> Stopped {
        let daemon = self.daemon.as_mut().expect("running");
        self.rt.block_on(daemon.ended())
    }

    /// Stops the daemon (unless it ended) and starts it again on the same state, as
    /// systemd would; the window stays and is connected to the new daemon.
    pub fn restart(&mut self) {
        let daemon = self.daemon.take().expect("running");
        let restarted = self.rt.block_on(daemon.restart());
        self.daemon = Some(restarted.unwrap_or_else(|(e, _)| panic!("the restart failed: {e:#}")));
        self.connect();
    }
}

impl Drop for KioskOnFakes {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take().filter(|d| d.is_running()) {
            self.rt.block_on(daemon.stop());
        }
    }
}

/// Runs what other code queued for the window (`upgrade_in_event_loop`: the
/// maintenance menu's answers), up to now, and returns: the testing backend's event
/// loop runs its queue in order and ends at the quit queued behind it. Nothing to do
/// on a platform without a queue (`super::init`).
pub fn run_queued_window_events() {
    if slint::quit_event_loop().is_ok() {
        slint::run_event_loop().expect("the queue runs");
    }
}
