//! The maintenance menu on the real daemon (simulated reader, printer and central
//! service): a technician opens it with the hidden gesture and the PIN, enrolls the
//! kiosk with a one-time code typed on the screen, runs each diagnostic and action, and
//! closes it; then five wrong PINs lock the pad, and the lock holds across a restart.
//!
//! One test function: the Slint event loop (system time) runs on this thread, the
//! daemon on a tokio runtime beside it, as `apm-kiosk run` runs them. Screens of the
//! menu are saved to `target/ui-screens/maint/`.

mod ui_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use apm_kiosk::app::{self, Stopped};
use apm_kiosk::config::Config;
use apm_kiosk::simulate::card_of;
use apm_kiosk::simulate::rig::{Rig, RigOptions};
use apm_kiosk::ui::{self, Flow, KioskWindow, Maint, UiLink};
use chrono::Utc;
use i_slint_backend_testing::{TestingBackend, TestingBackendOptions};
use slint::platform::PointerEventButton;
use slint::{ComponentHandle, Model as _};
use tokio::sync::oneshot;

const PIN: &str = "2468";

struct Daemon {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<Stopped>>,
}

fn start(rt: &tokio::runtime::Handle, config: &Config, ui: &KioskWindow) -> (Daemon, UiLink) {
    let (link_tx, link_rx) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = rt.spawn(app::run_with_ui(
        config.clone(),
        async move {
            let _ = stopped.await;
        },
        Some(link_tx),
    ));
    let link = rt
        .block_on(link_rx)
        .expect("the daemon hands over the screen");
    ui::connect(ui, link.intents.clone());
    ui::maint::connect(
        ui,
        ui::maint::MaintLink {
            commands: link.commands.clone(),
            runtime: rt.clone(),
            export_fallback: config.kiosk.state_dir.join("exports"),
        },
    );
    (Daemon { stop, task }, link)
}

/// Sleeps on the runtime's clock without blocking the event loop.
async fn sleep(rt: &tokio::runtime::Handle, d: Duration) {
    let (tx, rx) = oneshot::channel();
    rt.spawn(async move {
        tokio::time::sleep(d).await;
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// Shows the daemon's latest view, and waits (at most 30 s) for `done`.
async fn until(
    rt: &tokio::runtime::Handle,
    ui: &KioskWindow,
    link: &mut UiLink,
    what: &str,
    done: impl Fn(&KioskWindow) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        ui::pump(ui, link);
        if done(ui) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited 30 s for {what}; the menu says {:?}",
            ui.global::<Maint>().get_result()
        );
        sleep(rt, Duration::from_millis(20)).await;
    }
}

async fn tap(ui: &KioskWindow, label: &str) {
    ui_support::find(ui, label)
        .single_click(PointerEventButton::Left)
        .await;
}

/// The five taps on the mark, then the PIN.
async fn open_menu(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink, pin: &str) {
    until(rt, ui, link, "idle", |ui| {
        ui.global::<Flow>().get_screen() == ui::Screen::Idle
    })
    .await;
    for _ in 0..5 {
        tap(ui, "APM").await;
    }
    let m = ui.global::<Maint>();
    assert!(
        m.get_pin_open(),
        "the gesture opens the PIN pad (menu open: {}, pin result {:?})",
        m.get_open(),
        m.get_pin_result()
    );
    for d in pin.chars() {
        tap(ui, &d.to_string()).await;
    }
    tap(ui, "Buka").await;
}

/// Taps an action and waits for its answer.
async fn act(
    rt: &tokio::runtime::Handle,
    ui: &KioskWindow,
    link: &mut UiLink,
    label: &str,
) -> (bool, String) {
    ui.global::<Maint>().set_result("".into());
    tap(ui, label).await;
    until(rt, ui, link, label, |ui| {
        let m = ui.global::<Maint>();
        !m.get_busy() && !m.get_result().is_empty()
    })
    .await;
    let m = ui.global::<Maint>();
    (m.get_result_ok(), m.get_result().to_string())
}

fn shot(ui: &KioskWindow, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("ui-screens/maint"))
        .unwrap_or_else(|| PathBuf::from("target/ui-screens/maint"));
    ui_support::screenshot_no_mock(ui, &dir.join(format!("{name}.png")));
}

#[test]
fn a_technician_opens_the_menu_runs_everything_and_the_lockout_survives_a_restart() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: false,
        threading: true,
        renderer_name: Some("software".into()),
    })))
    .expect("platform");
    let (runtime, _dir, rig) = ui_support::rig(RigOptions::default());
    let rt = runtime.handle().clone();
    // A kiosk fresh from the box: not enrolled yet, with a PIN set.
    std::fs::remove_file(rig.state.join(apm_kiosk::identity::ENROLLMENT_FILE))
        .expect("the rig enrolled");
    let central = rig.central.as_ref().expect("the simulator");
    central
        .sim
        .add_enroll_code("TECH-42", &["KRM", "BTM", "MKS"])
        .expect("a second code");
    let hash = apm_kiosk::maint::pin::hash(PIN).expect("hash");
    let mut text = std::fs::read_to_string(&rig.config_path).expect("config");
    text.push_str(&format!("\n[maint]\npin_hash = \"{hash}\"\n"));
    std::fs::write(&rig.config_path, text).expect("config");
    let config = Config::load(&rig.config_path).expect("config with a PIN");

    let ui = ui_support::window(1080.0, 1920.0);
    let ui_weak = ui.as_weak();
    let rt2 = rt.clone();
    let outcome = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let outcome2 = outcome.clone();
    slint::spawn_local(async move {
        let result = std::panic::AssertUnwindSafe(run(rt2, ui_weak, rig, config));
        let result = futures_catch(result).await;
        *outcome2.lock().unwrap_or_else(|e| e.into_inner()) = result.err();
        let _ = slint::quit_event_loop();
    })
    .expect("spawn");
    slint::run_event_loop().expect("event loop");
    drop(ui);
    if let Some(e) = outcome.lock().unwrap_or_else(|e| e.into_inner()).take() {
        panic!("{e}");
    }
}

/// Runs the future, turning a panic inside it into an error, so that the event loop
/// still quits.
async fn futures_catch(
    f: std::panic::AssertUnwindSafe<impl std::future::Future<Output = ()>>,
) -> Result<(), String> {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    struct Catch<F>(F);
    impl<F: Future<Output = ()>> Future for Catch<F> {
        type Output = Result<(), String>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            // SAFETY: a structural pin projection to the only field.
            let f = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.poll(cx))) {
                Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
                Ok(Poll::Pending) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into()))),
            }
        }
    }
    Catch(f.0).await
}

async fn run(rt: tokio::runtime::Handle, weak: slint::Weak<KioskWindow>, rig: Rig, config: Config) {
    let ui = weak.upgrade().expect("window");
    let (daemon, mut link) = start(&rt, &config, &ui);

    enroll_from_the_menu(&rt, &ui, &mut link).await;
    the_status_report(&rt, &ui, &mut link).await;
    the_devices(&rt, &ui, &mut link, &rig).await;
    service_and_release(&rt, &ui, &mut link).await;
    the_settings(&rt, &ui, &mut link).await;
    the_data(&rt, &ui, &mut link).await;

    // Closed by the technician: the applicant's idle screen again.
    tap(&ui, "Tutup menu").await;
    assert!(!ui.global::<Maint>().get_open());
    // Left alone, the menu closes itself (here after 2 s rather than 2 minutes).
    open_menu(&rt, &ui, &mut link, PIN).await;
    until(&rt, &ui, &mut link, "the menu", |ui| {
        ui.global::<Maint>().get_open()
    })
    .await;
    ui.global::<Maint>().set_close_after_s(2);
    until(&rt, &ui, &mut link, "the menu to close itself", |ui| {
        !ui.global::<Maint>().get_open()
    })
    .await;
    ui.global::<Maint>().set_close_after_s(120);

    // Restart from the menu: the daemon ends asking to be started again.
    open_menu(&rt, &ui, &mut link, PIN).await;
    until(&rt, &ui, &mut link, "the menu", |ui| {
        ui.global::<Maint>().get_open()
    })
    .await;
    tap(&ui, "Layanan").await;
    tap(&ui, "Mulai ulang perangkat lunak kios").await;
    let (tx, rx) = oneshot::channel();
    rt.spawn(async move {
        let _ = tx.send(daemon.task.await);
    });
    let ended = rx
        .await
        .expect("joined")
        .expect("no panic")
        .expect("no error");
    assert_eq!(ended, Stopped::Restart);
    drop(daemon.stop);
    ui.global::<Maint>().set_open(false);

    // Five wrong PINs lock the pad...
    let (daemon, mut link) = start(&rt, &config, &ui);
    for attempt in 1..=5 {
        open_menu(&rt, &ui, &mut link, "1111").await;
        until(&rt, &ui, &mut link, "the answer", |ui| {
            ui.global::<Maint>().get_pin_result() != ui::PinAnswer::None
        })
        .await;
        let m = ui.global::<Maint>();
        let (expected, name) = if attempt < 5 {
            (ui::PinAnswer::Wrong, "wrong")
        } else {
            (ui::PinAnswer::Locked, "locked")
        };
        assert_eq!(m.get_pin_result(), expected, "attempt {attempt}");
        if attempt < 5 {
            assert_eq!(m.get_pin_detail(), (5 - attempt).to_string());
        }
        shot(&ui, &format!("pin-{name}"));
        tap(&ui, "Batal").await;
    }
    // ...and the lock holds across a restart, even for the right PIN.
    let _ = daemon.stop.send(());
    let (tx, rx) = oneshot::channel();
    rt.spawn(async move {
        let _ = tx.send(daemon.task.await);
    });
    let _ = rx.await;
    let (daemon, mut link) = start(&rt, &config, &ui);
    open_menu(&rt, &ui, &mut link, PIN).await;
    until(&rt, &ui, &mut link, "the answer", |ui| {
        ui.global::<Maint>().get_pin_result() != ui::PinAnswer::None
    })
    .await;
    assert_eq!(ui.global::<Maint>().get_pin_result(), ui::PinAnswer::Locked);
    assert!(!ui.global::<Maint>().get_open());
    let _ = daemon.stop.send(());
    let (tx, rx) = oneshot::channel();
    rt.spawn(async move {
        let _ = tx.send(daemon.task.await);
    });
    let _ = rx.await;
    drop(rig);
}

async fn enroll_from_the_menu(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink) {
    // Not enrolled: the applicants see why; the technician enrolls from the menu.
    until(rt, ui, link, "not enrolled", |ui| {
        ui.global::<Flow>().get_out_of_service() == ui::OutOfService::NotEnrolled
    })
    .await;
    open_menu(rt, ui, link, PIN).await;
    until(rt, ui, link, "the report", |ui| {
        ui.global::<Maint>().get_open() && ui.global::<Maint>().get_rows().row_count() > 0
    })
    .await;
    shot(ui, "status-not-enrolled");
    tap(ui, "Sinkron").await;
    for c in "TECH-42".chars() {
        tap(ui, &format!("Karakter kode {c}")).await;
    }
    let (ok, said) = act(rt, ui, link, "Daftarkan").await;
    assert!(ok, "{said}");
    assert!(said.starts_with("Enrolled as"), "{said}");
    let (_, said) = act(rt, ui, link, "Sinkronkan sekarang").await;
    assert!(said.starts_with("Sync"), "{said}");
    until(rt, ui, link, "the sync to finish", |ui| {
        ui.global::<Maint>()
            .get_result()
            .starts_with("Sync finished")
    })
    .await;
}

async fn the_status_report(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink) {
    // Status: the report, with the held numbers the sync brought.
    tap(ui, "Status").await;
    until(rt, ui, link, "numbers held", |ui| {
        ui.global::<Maint>()
            .get_rows()
            .iter()
            .any(|r| r.section == ui::ReportPart::Held)
    })
    .await;
    shot(ui, "status");
}

async fn the_devices(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink, rig: &Rig) {
    // Devices: a test print, a read test that shows only a masked NIK.
    tap(ui, "Perangkat").await;
    let pages = rig.printer.tickets().len();
    let (ok, said) = act(rt, ui, link, "Cetak uji").await;
    assert!(ok, "{said}");
    rig.printer
        .wait_for_tickets(pages + 1, Duration::from_secs(10));
    let someone = ui_support::family(Utc::now().date_naive()).0;
    ui.global::<Maint>().set_result("".into());
    tap(ui, "Uji baca: letakkan KTP di pembaca").await;
    sleep(rt, Duration::from_millis(300)).await;
    rig.reader.present_card(card_of(&someone));
    until(rt, ui, link, "the read test", |ui| {
        !ui.global::<Maint>().get_result().is_empty()
    })
    .await;
    rig.reader.remove_card();
    let said = ui.global::<Maint>().get_result().to_string();
    assert!(said.starts_with("Card read: NIK"), "{said}");
    assert!(
        !said.contains(&someone.nik),
        "the read test shows the NIK masked"
    );
    assert!(
        said.contains(&apm_kiosk::domain::nik::mask(&someone.nik)),
        "{said}"
    );
    // Nothing printed yet to reprint: a clear refusal.
    let (ok, said) = act(rt, ui, link, "Cetak ulang tiket terakhir").await;
    assert!(!ok && !said.is_empty(), "{said}");
    shot(ui, "devices");
}

async fn service_and_release(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink) {
    // Service: out of service with a reason the applicants see, then back.
    tap(ui, "Layanan").await;
    let (ok, said) = act(rt, ui, link, "Printer rusak").await;
    assert!(ok, "{said}");
    until(rt, ui, link, "the hold", |ui| {
        ui.global::<Flow>().get_out_of_service() == ui::OutOfService::PrinterFault
    })
    .await;
    until(rt, ui, link, "the hold in the report", |ui| {
        ui.global::<Maint>().get_hold() == ui::TechnicianHold::PrinterFault
    })
    .await;
    shot(ui, "service");
    let (ok, said) = act(rt, ui, link, "Melayani kembali").await;
    assert!(ok, "{said}");
    until(rt, ui, link, "back in service", |ui| {
        ui.global::<Flow>().get_out_of_service() == ui::OutOfService::None
    })
    .await;
    // Give one day's free numbers back.
    until(rt, ui, link, "a day to release", |ui| {
        ui.global::<Maint>().get_held().row_count() > 0
    })
    .await;
    let day = ui.global::<Maint>().get_held().row_data(0).expect("a day");
    let (ok, said) = act(rt, ui, link, &format!("Kembalikan {}", day.line)).await;
    assert!(ok && said.starts_with("Released"), "{said}");
}

async fn the_settings(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink) {
    // Settings: the language a session starts in, the orientation, the volume.
    tap(ui, "Pengaturan").await;
    let (ok, said) = act(rt, ui, link, "Sesi dimulai dalam English").await;
    assert!(ok, "{said}");
    assert_eq!(
        ui.global::<Maint>().get_default_language(),
        ui::Language::En
    );
    // The idle screen behind the menu follows at once: the menu now speaks English.
    until(rt, ui, link, "English", |ui| {
        ui.global::<Flow>().get_language() == ui::Language::En
    })
    .await;
    let (ok, _) = act(rt, ui, link, "Louder").await;
    assert!(ok);
    let (ok, _) = act(rt, ui, link, "Sessions start in Bahasa Indonesia").await;
    assert!(ok);
    until(rt, ui, link, "Bahasa Indonesia", |ui| {
        ui.global::<Flow>().get_language() == ui::Language::Id
    })
    .await;
    assert_eq!(ui.global::<Maint>().get_volume(), 80);
    shot(ui, "settings");
}

async fn the_data(rt: &tokio::runtime::Handle, ui: &KioskWindow, link: &mut UiLink) {
    // Data: the database check and the diagnostics bundle.
    tap(ui, "Data").await;
    let (ok, said) = act(rt, ui, link, "Periksa basis data").await;
    assert!(ok && said.ends_with("ok"), "{said}");
    let (ok, said) = act(rt, ui, link, "Ekspor diagnostik (tanpa data pribadi)").await;
    assert!(ok, "{said}");
    let written = said
        .trim_start_matches("Diagnostics written to ")
        .to_owned();
    assert!(PathBuf::from(&written).exists(), "{said}");
}
