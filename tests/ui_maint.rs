//! The maintenance menu on the whole daemon, the daemon on fakes in memory (paused
//! time) and the window headless on the same thread: a technician opens it with the
//! hidden gesture and the PIN, enrolls the kiosk with a one-time code typed on the
//! screen, runs each diagnostic and action, and closes it; left alone for two minutes
//! it closes itself; an applicant's call for an officer reaches the report and is
//! acknowledged; restart, out of service and giving numbers back do nothing on the
//! first tap and ask "Yakin?", the second does it; then five wrong PINs lock the pad,
//! and the lock holds across a restart. Screens of the menu are saved to
//! `target/ui-screens/maint/`.
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
fn act(k: &mut Kiosk, label: &str) -> ui::MaintResult {
    k.ui.global::<Maint>()
        .set_result(ui::MaintResult::default());
    tap(&k.ui, label);
    k.until(label, |k| {
        let m = k.ui.global::<Maint>();
        !m.get_busy() && m.get_result().kind != ui::ResultKind::None
    });
    k.ui.global::<Maint>().get_result()
}

/// Taps an action that asks first: the first tap changes nothing but the question, the
/// second (`yes`) does it.
fn act_confirmed(k: &mut Kiosk, label: &str, yes: &str) -> ui::MaintResult {
    tap(&k.ui, label);
    k.step();
    let m = k.ui.global::<Maint>();
    assert_ne!(
        m.get_confirm().kind,
        ui::ConfirmKind::None,
        "{label} asks first"
    );
    assert!(!m.get_busy(), "{label}: nothing sent on the first tap");
    assert_eq!(
        m.get_result().kind,
        ui::ResultKind::None,
        "{label}: no answer"
    );
    act(k, yes)
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
    an_officer_call_reaches_the_menu_and_is_acknowledged(&mut k);
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
    let said = act(k, "Daftarkan");
    assert_eq!(said.kind, ui::ResultKind::Enrolled, "{said:?}");
    assert!(!said.text.is_empty(), "the kiosk's id: {said:?}");
    assert_eq!(
        k.daemon().central.enroll_codes(),
        ["TECH-42"],
        "the code typed on the screen reached the service"
    );
    let said = act(k, "Sinkronkan sekarang");
    assert_eq!(said.kind, ui::ResultKind::SyncStarted, "{said:?}");
    // The menu asks for the sync's progress each second of the kiosk's time.
    k.until_passing("the sync to finish", Duration::from_millis(250), |k| {
        k.ui.global::<Maint>().get_result().kind == ui::ResultKind::SyncFinished
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
    let said = act(k, "Cetak uji");
    assert_eq!(said.kind, ui::ResultKind::TestPrinted, "{said:?}");
    k.rt.block_on(held_until("the test page", || printer.jobs().len() > pages));
    let someone = ui_support::family(tuesday_morning().date_naive()).0;
    k.ui.global::<Maint>()
        .set_result(ui::MaintResult::default());
    tap(&k.ui, "Uji baca: letakkan KTP di pembaca");
    // The read test is armed once the daemon has taken the command: the status asked
    // after it, on the same channel, is answered after it.
    k.step();
    k.rt.block_on(k.daemon().status());
    k.reader().present_card(card_of(&someone));
    k.until("the read test", |k| {
        k.ui.global::<Maint>().get_result().kind != ui::ResultKind::None
    });
    k.reader().remove_card();
    let said = k.ui.global::<Maint>().get_result();
    assert_eq!(said.kind, ui::ResultKind::CardRead, "{said:?}");
    assert_eq!(
        said.text,
        apm_kiosk::domain::nik::mask(&someone.nik),
        "the read test shows the NIK masked"
    );
    assert_eq!(said.check, ui::NumberCheck::None, "a valid NIK");
    assert_eq!(k.screen(), ui::Screen::Idle, "no session started");
    // Nothing printed yet to reprint: a refusal the menu words.
    let said = act(k, "Cetak ulang tiket terakhir");
    assert_eq!(
        (said.kind, said.failure),
        (ui::ResultKind::Failed, ui::FailureCode::NothingPrinted),
        "{said:?}"
    );
    assert!(ui_support::shows(&k.ui, "Belum ada tiket yang dicetak."));
    shot(k, "devices");
}

fn service_and_release(k: &mut Kiosk) {
    // Service: out of service with a reason the applicants see, then back.
    tap(&k.ui, "Layanan");
    tap(&k.ui, "Printer rusak");
    k.step();
    shot(k, "service-confirm");
    assert_eq!(
        k.ui.global::<Flow>().get_out_of_service(),
        ui::OutOfService::None,
        "one tap does not take the kiosk out of service"
    );
    tap(&k.ui, "Tidak, biarkan");
    assert_eq!(
        k.ui.global::<Maint>().get_confirm().kind,
        ui::ConfirmKind::None
    );
    let said = act_confirmed(k, "Printer rusak", "Ya, hentikan layanan");
    assert_eq!(
        (said.kind, said.hold),
        (
            ui::ResultKind::OutOfService,
            ui::TechnicianHold::PrinterFault
        ),
        "{said:?}"
    );
    k.until("the hold", |k| {
        k.ui.global::<Flow>().get_out_of_service() == ui::OutOfService::PrinterFault
    });
    k.until("the hold in the report", |k| {
        k.ui.global::<Maint>().get_hold() == ui::TechnicianHold::PrinterFault
    });
    shot(k, "service");
    let said = act(k, "Melayani kembali");
    assert_eq!(said.kind, ui::ResultKind::BackInService, "{said:?}");
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
    let line = format!(
        "Kembalikan {} {}: {} umum, {} prioritas",
        day.office, day.date, day.regular, day.priority
    );
    let said = act_confirmed(k, &line, "Ya, kembalikan");
    assert_eq!(said.kind, ui::ResultKind::Released, "{said:?}");
    assert_eq!(said.n, day.regular + day.priority);
    assert!(
        k.daemon().central.numbers_released() > released_before,
        "the service has the day's numbers back"
    );
}

fn the_settings(k: &mut Kiosk) {
    // Settings: the language a session starts in, the orientation, the volume.
    tap(&k.ui, "Pengaturan");
    let said = act(k, "Sesi dimulai dalam English");
    assert_eq!(said.kind, ui::ResultKind::Saved, "{said:?}");
    assert_eq!(
        k.ui.global::<Maint>().get_default_language(),
        ui::Language::En
    );
    // The idle screen behind the menu follows at once: the menu now speaks English.
    k.until("English", |k| {
        k.ui.global::<Flow>().get_language() == ui::Language::En
    });
    assert_eq!(act(k, "Louder").kind, ui::ResultKind::Saved);
    assert!(ui_support::shows(&k.ui, "Settings saved."));
    assert_eq!(
        act(k, "Sessions start in Bahasa Indonesia").kind,
        ui::ResultKind::Saved
    );
    k.until("Bahasa Indonesia", |k| {
        k.ui.global::<Flow>().get_language() == ui::Language::Id
    });
    assert_eq!(k.ui.global::<Maint>().get_volume(), 80);
    shot(k, "settings");
}

fn the_data(k: &mut Kiosk) {
    // Data: the database check and the diagnostics bundle.
    tap(&k.ui, "Data");
    let said = act(k, "Periksa basis data");
    assert_eq!(said.kind, ui::ResultKind::IntegrityOk, "{said:?}");
    let said = act(k, "Ekspor diagnostik (tanpa data pribadi)");
    assert_eq!(said.kind, ui::ResultKind::Written, "{said:?}");
    assert!(PathBuf::from(said.text.as_str()).exists(), "{said:?}");
}

fn an_officer_call_reaches_the_menu_and_is_acknowledged(k: &mut Kiosk) {
    // An applicant on the idle screen asks for help and calls an officer.
    tap(&k.ui, "Bantuan");
    k.until("the help panel", |k| k.ui.global::<Flow>().get_help_open());
    tap(&k.ui, "Panggil petugas");
    k.until("the call", |k| k.ui.global::<Flow>().get_help_called());
    tap(&k.ui, "Tutup bantuan");
    k.until("the panel closed", |k| {
        !k.ui.global::<Flow>().get_help_open()
    });
    // The technician sees it first thing, and on the Service page acknowledges it.
    open_menu_ok(k);
    k.until("the call in the report", |k| {
        k.ui.global::<Maint>()
            .get_problems()
            .iter()
            .any(|p| p.kind == ui::AttentionKind::OfficerCalled)
    });
    assert_eq!(
        k.ui.global::<Maint>()
            .get_problems()
            .row_data(0)
            .map(|p| p.kind),
        Some(ui::AttentionKind::OfficerCalled),
        "someone waiting comes first"
    );
    shot(k, "status-officer-called");
    tap(&k.ui, "Layanan");
    k.until("the open call", |k| {
        k.ui.global::<Maint>().get_open_calls() == 1
    });
    shot(k, "service-officer-called");
    let said = act(k, "Sudah ditangani: tandai panggilan terbuka");
    assert_eq!(
        (said.kind, said.n),
        (ui::ResultKind::Acknowledged, 1),
        "{said:?}"
    );
    k.until("no open call", |k| {
        k.ui.global::<Maint>().get_open_calls() == 0
    });
    tap(&k.ui, "Tutup menu");
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
    k.step();
    k.rt.block_on(k.daemon().status());
    assert!(k.daemon().is_running(), "one tap does not restart");
    shot(k, "service-restart-confirm");
    tap(&k.ui, "Ya, mulai ulang");
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
