//! The maintenance menu on the whole daemon, the daemon on fakes in memory (paused
//! time) and the window headless on the same thread: a technician opens it with the
//! hidden gesture and the PIN, enrolls the kiosk with a one-time code typed on the
//! screen, runs each diagnostic and action, and closes it; left alone for two minutes
//! it closes itself; then five wrong PINs lock the pad, and the lock holds across a
//! restart. Screens of the menu are saved to `target/ui-screens/maint/`.
//!
//! One test function: the menu's answers reach the window through its event queue,
//! and the testing platform with a queue is one per process.

mod ui_support;

use std::path::PathBuf;
use std::time::Duration;

use apm_kiosk::app::Stopped;
use apm_kiosk::simulate::card_of;
use apm_kiosk::ui::{self, Flow, Maint};
use apm_kiosk_testkit::daemon::held_until;
use apm_kiosk_testkit::fakes::FakeCentral;
use apm_kiosk_testkit::fixtures::tuesday_morning;
use slint::{ComponentHandle, Model as _};
use ui_support::on_fakes::KioskOnFakes as Kiosk;
use ui_support::tap;

const PIN: &str = "2468";

/// The five taps on the mark, then the PIN.
fn open_menu(k: &mut Kiosk, pin: &str) {
    k.wait_screen(ui::Screen::Idle);
    for _ in 0..5 {
        tap(&k.ui, "APM");
    }
    let m = k.ui.global::<Maint>();
    assert!(
        m.get_pin_open(),
        "the gesture opens the PIN pad (menu open: {}, pin result {:?})",
        m.get_open(),
        m.get_pin_result()
    );
    for d in pin.chars() {
        tap(&k.ui, &d.to_string());
    }
    tap(&k.ui, "Buka");
}

/// Opens the menu with the right PIN and waits for it.
fn open_menu_ok(k: &mut Kiosk) {
    open_menu(k, PIN);
    k.until("the menu", |k| k.ui.global::<Maint>().get_open());
}

/// Taps an action and waits for its answer.
fn act(k: &mut Kiosk, label: &str) -> (bool, String) {
    k.ui.global::<Maint>().set_result("".into());
    tap(&k.ui, label);
    k.until(label, |k| {
        let m = k.ui.global::<Maint>();
        !m.get_busy() && !m.get_result().is_empty()
    });
    let m = k.ui.global::<Maint>();
    (m.get_result_ok(), m.get_result().to_string())
}

fn shot(k: &Kiosk, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("ui-screens/maint"))
        .unwrap_or_else(|| PathBuf::from("target/ui-screens/maint"));
    ui_support::screenshot(&k.ui, &dir.join(format!("{name}.png")));
}

#[test]
fn a_technician_opens_the_menu_runs_everything_and_the_lockout_survives_a_restart() {
    ui_support::init_with_queue();
    // A kiosk fresh from the box: not enrolled yet, with a PIN set.
    let hash = apm_kiosk::maint::pin::hash(PIN).expect("hash");
    let extra = format!("\n[maint]\npin_hash = \"{hash}\"\n");
    let mut k = Kiosk::start_with(FakeCentral::new(), false, &extra);

    enroll_from_the_menu(&mut k);
    the_status_report(&mut k);
    the_devices(&mut k);
    service_and_release(&mut k);
    the_settings(&mut k);
    the_data(&mut k);

    // Closed by the technician: the applicant's idle screen again.
    tap(&k.ui, "Tutup menu");
    assert!(!k.ui.global::<Maint>().get_open());
    left_alone_the_menu_closes_itself(&mut k);
    restart_from_the_menu(&mut k);
    five_wrong_pins_lock_the_pad_across_a_restart(&mut k);
}

fn enroll_from_the_menu(k: &mut Kiosk) {
    // Not enrolled: the applicants see why; the technician enrolls from the menu.
    k.until("not enrolled", |k| {
        k.ui.global::<Flow>().get_out_of_service() == ui::OutOfService::NotEnrolled
    });
    open_menu(k, PIN);
    k.until("the report", |k| {
        k.ui.global::<Maint>().get_open() && k.ui.global::<Maint>().get_rows().row_count() > 0
    });
    shot(k, "status-not-enrolled");
    tap(&k.ui, "Sinkron");
    for c in "TECH-42".chars() {
        tap(&k.ui, &format!("Karakter kode {c}"));
    }
    let (ok, said) = act(k, "Daftarkan");
    assert!(ok, "{said}");
    assert!(said.starts_with("Enrolled as"), "{said}");
    assert_eq!(
        k.daemon().central.enroll_codes(),
        ["TECH-42"],
        "the code typed on the screen reached the service"
    );
    let (_, said) = act(k, "Sinkronkan sekarang");
    assert!(said.starts_with("Sync"), "{said}");
    // The menu asks for the sync's progress each second of the kiosk's time.
    k.until_passing("the sync to finish", Duration::from_millis(250), |k| {
        k.ui.global::<Maint>()
            .get_result()
            .starts_with("Sync finished")
    });
}

fn the_status_report(k: &mut Kiosk) {
    // Status: the report, with the held numbers the sync brought.
    tap(&k.ui, "Status");
    k.until("numbers held", |k| {
        k.ui.global::<Maint>()
            .get_rows()
            .iter()
            .any(|r| r.section == ui::ReportPart::Held)
    });
    shot(k, "status");
}

fn the_devices(k: &mut Kiosk) {
    // Devices: a test print, a read test that shows only a masked NIK.
    tap(&k.ui, "Perangkat");
    let printer = k.daemon().printer.clone();
    let pages = printer.jobs().len();
    let (ok, said) = act(k, "Cetak uji");
    assert!(ok, "{said}");
    k.rt.block_on(held_until("the test page", || printer.jobs().len() > pages));
    let someone = ui_support::family(tuesday_morning().date_naive()).0;
    k.ui.global::<Maint>().set_result("".into());
    tap(&k.ui, "Uji baca: letakkan KTP di pembaca");
    // The read test is armed once the daemon has taken the command: the status asked
    // after it, on the same channel, is answered after it.
    k.step();
    k.rt.block_on(k.daemon().status());
    k.reader().present_card(card_of(&someone));
    k.until("the read test", |k| {
        !k.ui.global::<Maint>().get_result().is_empty()
    });
    k.reader().remove_card();
    let said = k.ui.global::<Maint>().get_result().to_string();
    assert!(said.starts_with("Card read: NIK"), "{said}");
    assert!(
        !said.contains(&someone.nik),
        "the read test shows the NIK masked"
    );
    assert!(
        said.contains(&apm_kiosk::domain::nik::mask(&someone.nik)),
        "{said}"
    );
    assert_eq!(k.screen(), ui::Screen::Idle, "no session started");
    // Nothing printed yet to reprint: a clear refusal.
    let (ok, said) = act(k, "Cetak ulang tiket terakhir");
    assert!(!ok && !said.is_empty(), "{said}");
    shot(k, "devices");
}

fn service_and_release(k: &mut Kiosk) {
    // Service: out of service with a reason the applicants see, then back.
    tap(&k.ui, "Layanan");
    let (ok, said) = act(k, "Printer rusak");
    assert!(ok, "{said}");
    k.until("the hold", |k| {
        k.ui.global::<Flow>().get_out_of_service() == ui::OutOfService::PrinterFault
    });
    k.until("the hold in the report", |k| {
        k.ui.global::<Maint>().get_hold() == ui::TechnicianHold::PrinterFault
    });
    shot(k, "service");
    let (ok, said) = act(k, "Melayani kembali");
    assert!(ok, "{said}");
    k.until("back in service", |k| {
        k.ui.global::<Flow>().get_out_of_service() == ui::OutOfService::None
    });
    // Give one day's free numbers back.
    k.until("a day to release", |k| {
        k.ui.global::<Maint>().get_held().row_count() > 0
    });
    let day =
        k.ui.global::<Maint>()
            .get_held()
            .row_data(0)
            .expect("a day");
    let released_before = k.daemon().central.numbers_released();
    let (ok, said) = act(k, &format!("Kembalikan {}", day.line));
    assert!(ok && said.starts_with("Released"), "{said}");
    assert!(
        k.daemon().central.numbers_released() > released_before,
        "the service has the day's numbers back"
    );
}

fn the_settings(k: &mut Kiosk) {
    // Settings: the language a session starts in, the orientation, the volume.
    tap(&k.ui, "Pengaturan");
    let (ok, said) = act(k, "Sesi dimulai dalam English");
    assert!(ok, "{said}");
    assert_eq!(
        k.ui.global::<Maint>().get_default_language(),
        ui::Language::En
    );
    // The idle screen behind the menu follows at once: the menu now speaks English.
    k.until("English", |k| {
        k.ui.global::<Flow>().get_language() == ui::Language::En
    });
    let (ok, _) = act(k, "Louder");
    assert!(ok);
    let (ok, _) = act(k, "Sessions start in Bahasa Indonesia");
    assert!(ok);
    k.until("Bahasa Indonesia", |k| {
        k.ui.global::<Flow>().get_language() == ui::Language::Id
    });
    assert_eq!(k.ui.global::<Maint>().get_volume(), 80);
    shot(k, "settings");
}

fn the_data(k: &mut Kiosk) {
    // Data: the database check and the diagnostics bundle.
    tap(&k.ui, "Data");
    let (ok, said) = act(k, "Periksa basis data");
    assert!(ok && said.ends_with("ok"), "{said}");
    let (ok, said) = act(k, "Ekspor diagnostik (tanpa data pribadi)");
    assert!(ok, "{said}");
    let written = said
        .trim_start_matches("Diagnostics written to ")
        .to_owned();
    assert!(PathBuf::from(&written).exists(), "{said}");
}

fn left_alone_the_menu_closes_itself(k: &mut Kiosk) {
    // Two minutes without a touch, on the window's own clock (its timer starts with
    // the first tick after the menu opens).
    open_menu_ok(k);
    let mut seconds = 0;
    while k.ui.global::<Maint>().get_open() && seconds < 300 {
        i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        seconds += 1;
    }
    assert!(
        (120..=122).contains(&seconds),
        "the menu closed itself after {seconds} s"
    );
}

fn restart_from_the_menu(k: &mut Kiosk) {
    // Restart from the menu: the daemon ends asking to be started again.
    open_menu_ok(k);
    tap(&k.ui, "Layanan");
    tap(&k.ui, "Mulai ulang perangkat lunak kios");
    assert_eq!(k.ended(), Stopped::Restart);
    k.ui.global::<Maint>().set_open(false);
}

fn five_wrong_pins_lock_the_pad_across_a_restart(k: &mut Kiosk) {
    k.restart();
    for attempt in 1..=5 {
        open_menu(k, "1111");
        k.until("the answer", |k| {
            k.ui.global::<Maint>().get_pin_result() != ui::PinAnswer::None
        });
        let m = k.ui.global::<Maint>();
        let (expected, name) = if attempt < 5 {
            (ui::PinAnswer::Wrong, "wrong")
        } else {
            (ui::PinAnswer::Locked, "locked")
        };
        assert_eq!(m.get_pin_result(), expected, "attempt {attempt}");
        if attempt < 5 {
            assert_eq!(m.get_pin_detail(), (5 - attempt).to_string());
        }
        shot(k, &format!("pin-{name}"));
        tap(&k.ui, "Batal");
    }
    // ...and the lock holds across a restart, even for the right PIN.
    k.restart();
    open_menu(k, PIN);
    k.until("the answer", |k| {
        k.ui.global::<Maint>().get_pin_result() != ui::PinAnswer::None
    });
    assert_eq!(
        k.ui.global::<Maint>().get_pin_result(),
        ui::PinAnswer::Locked
    );
    assert!(!k.ui.global::<Maint>().get_open());
}
