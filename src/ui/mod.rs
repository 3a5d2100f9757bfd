//! The touchscreen: the Slint front end of the same flow the control channel drives.
//! The pages are in `ui/*.slint`; this module is glue only. [`adapter`] copies the flow's
//! view into the screen and turns taps into intents; [`run`] owns the threads: the Slint
//! event loop on the main thread, the daemon (tokio) on its own worker threads, and a
//! task that wakes the event loop only when the view or the devices change, so that an
//! idle kiosk draws nothing.
//!
//! The backend is chosen at run time: a window (winit; for development, and under a
//! compositor such as cage) or full screen on DRM/KMS with libinput touch (the
//! appliance), with the software renderer unless `SLINT_BACKEND` asks for another.

use anyhow::Context as _;
use slint::ComponentHandle;
use tokio::sync::oneshot;

use crate::config::{Config, DisplayBackend, Orientation};
pub use crate::frontend::{OfficeToday, PanelState, StartDaemon, Stopped, UiLink};

pub mod adapter;
pub mod maint;

pub use adapter::connect;

slint::include_modules!();

/// Shows the latest view and panel state if either changed since the last call. The
/// event loop's wake-ups call this; tests call it directly.
pub fn pump(ui: &KioskWindow, link: &mut UiLink) -> bool {
    let view_changed = link.view.has_changed().unwrap_or(false);
    let panel_changed = link.panel.has_changed().unwrap_or(false);
    if !view_changed && !panel_changed {
        return false;
    }
    let view = link.view.borrow_and_update().clone();
    let panel = link.panel.borrow_and_update().clone();
    adapter::apply(ui, &view, &panel);
    true
}

/// The backend name for Slint, from the config and the environment.
fn backend_name(choice: DisplayBackend) -> Option<String> {
    if std::env::var_os("SLINT_BACKEND").is_some() {
        return None;
    }
    let desktop =
        std::env::var_os("WAYLAND_DISPLAY").is_some() || std::env::var_os("DISPLAY").is_some();
    Some(
        match (choice, desktop) {
            (DisplayBackend::Window, _) | (DisplayBackend::Auto, true) => "winit-software",
            (DisplayBackend::Kms, _) | (DisplayBackend::Auto, false) => "linuxkms-software",
        }
        .to_owned(),
    )
}

/// The window's size in logical pixels.
pub fn window_size(orientation: Orientation) -> slint::LogicalSize {
    match orientation {
        Orientation::Portrait => slint::LogicalSize::new(1080.0, 1920.0),
        Orientation::Landscape => slint::LogicalSize::new(1920.0, 1080.0),
    }
}

/// Runs the kiosk with its touchscreen until SIGTERM, or until the window is closed:
/// `daemon` starts the daemon beside the screen (`app::start_for_screen`). Must be
/// called on the main thread.
pub fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    daemon: StartDaemon,
) -> anyhow::Result<Stopped> {
    run_with(config, shutdown, daemon, |_| {})
}

/// [`run`], calling `shown` on the event loop's thread once the window is up: the
/// desktop test drives the window from there with synthetic taps.
pub fn run_with(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    daemon: StartDaemon,
    shown: impl FnOnce(&KioskWindow),
) -> anyhow::Result<Stopped> {
    select_backend(config.display.backend)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apm-kiosk-rt")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;

    let (link_tx, link_rx) = oneshot::channel();
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    let orientation = config.display.orientation;
    let export_fallback = config.kiosk.state_dir.join("exports");
    let daemon = runtime.spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = shutdown => {}
                _ = closed_rx => {}
            }
        };
        let result = daemon(config, Box::pin(stop), link_tx).await;
        // However the daemon ended, the screen goes with it.
        let _ = slint::invoke_from_event_loop(|| {
            let _ = slint::quit_event_loop();
        });
        result
    });

    let Ok(link) = runtime.block_on(link_rx) else {
        // The daemon stopped before it was ready: its error says why.
        return daemon_result(runtime.block_on(daemon));
    };
    let ui = open_window(&link, &runtime, orientation, export_fallback)?;
    let settings = link.settings.clone();
    follow_view(&runtime, &ui, link);
    follow_orientation(&runtime, &ui, settings);

    ui.show().context("cannot show the kiosk window")?;
    shown(&ui);
    let shown = slint::run_event_loop();
    drop(ui);
    let _ = closed_tx.send(());
    let result = runtime.block_on(daemon);
    shown.context("the display failed")?;
    daemon_result(result)
}

/// Chooses Slint's backend from the config and the environment.
fn select_backend(choice: DisplayBackend) -> anyhow::Result<()> {
    let mut selector = slint::BackendSelector::new();
    if let Some(name) = backend_name(choice) {
        selector = selector.backend_name(name);
    }
    selector
        .select()
        .context("no display: set [display] backend, or SLINT_BACKEND (a window needs DISPLAY or WAYLAND_DISPLAY; the console needs /dev/dri and /dev/input access)")
}

/// The daemon's own result, or why its task failed.
fn daemon_result(
    joined: Result<anyhow::Result<Stopped>, tokio::task::JoinError>,
) -> anyhow::Result<Stopped> {
    match joined {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the daemon task failed: {e}")),
    }
}

/// Creates the kiosk window at the configured size, wires its taps and the maintenance
/// menu to the daemon, and shows the daemon's current view in it.
fn open_window(
    link: &UiLink,
    runtime: &tokio::runtime::Runtime,
    orientation: Orientation,
    export_fallback: std::path::PathBuf,
) -> anyhow::Result<KioskWindow> {
    let ui = KioskWindow::new().context(
        "cannot create the kiosk window: on the console the kiosk needs /dev/dri/card* (or /dev/fb0) and /dev/input/* (groups video, render, input); under a desktop or cage set [display] backend = \"window\"",
    )?;
    ui.window().set_size(window_size(orientation));
    connect(&ui, link.intents.clone());
    maint::connect(
        &ui,
        maint::MaintLink {
            commands: link.commands.clone(),
            runtime: runtime.handle().clone(),
            export_fallback,
        },
    );
    let (view, panel) = (link.view.borrow().clone(), link.panel.borrow().clone());
    adapter::apply(&ui, &view, &panel);
    Ok(ui)
}

/// Wakes the event loop when the view or the devices changed, to show them; the loop
/// sleeps otherwise. Ends with the daemon's side of the link, or with the window.
fn follow_view(runtime: &tokio::runtime::Runtime, ui: &KioskWindow, mut watcher: UiLink) {
    let weak = ui.as_weak();
    runtime.spawn(async move {
        loop {
            tokio::select! {
                r = watcher.view.changed() => if r.is_err() { break },
                r = watcher.panel.changed() => if r.is_err() { break },
            }
            let view = watcher.view.borrow_and_update().clone();
            let panel = watcher.panel.borrow_and_update().clone();
            if weak
                .upgrade_in_event_loop(move |ui| adapter::apply(&ui, &view, &panel))
                .is_err()
            {
                break;
            }
        }
    });
}

/// A technician turning the screen from the menu: the window follows (on the console
/// the panel's mode and SLINT_KMS_ROTATION decide, read at start).
fn follow_orientation(
    runtime: &tokio::runtime::Runtime,
    ui: &KioskWindow,
    mut settings: tokio::sync::watch::Receiver<crate::maint::Settings>,
) {
    let weak = ui.as_weak();
    runtime.spawn(async move {
        let mut last = None;
        loop {
            let o = settings.borrow_and_update().orientation;
            let portrait = matches!(
                o,
                crate::maint::Orientation::Portrait | crate::maint::Orientation::PortraitFlipped
            );
            if last != Some(portrait) {
                last = Some(portrait);
                let size = window_size(if portrait {
                    Orientation::Portrait
                } else {
                    Orientation::Landscape
                });
                if weak
                    .upgrade_in_event_loop(move |ui| ui.window().set_size(size))
                    .is_err()
                {
                    break;
                }
            }
            if settings.changed().await.is_err() {
                break;
            }
        }
    });
}
