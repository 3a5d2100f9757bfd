//! The touchscreen on the whole daemon: the daemon runs on fakes in memory
//! (`apm_kiosk_testkit::daemon`, on paused time), the window runs headless on this
//! thread, and a person taps elements found by their accessible labels, as a screen
//! reader would name them, in Bahasa Indonesia unless they switch. The kiosk's time
//! moves only where a test lets it pass, so a walk-away's minute costs nothing.
//!
//! Walked: a family of three booking (two KTPs and a child by NIK and KK), the
//! inactivity timeout wiping a session, a cancel, a card that cannot be read, and the
//! help panel opened over the keypad and closed back to the digits typed.

mod ui_support;

use std::time::Duration;

use apm_kiosk::hardware::reader::ReaderEvent;
use apm_kiosk::simulate::card_of;
use apm_kiosk::ui::{self, Flow, Screen};
use apm_kiosk_testkit::daemon::held_until;
use apm_kiosk_testkit::fixtures::tuesday_morning;
use slint::{ComponentHandle, Model as _};
use ui_support::on_fakes::KioskOnFakes as Kiosk;
use ui_support::{find, shows, tap, type_digits};

/// Types a name on the letter keypad, a space on the space bar.
fn type_letters(ui: &apm_kiosk::ui::KioskWindow, name: &str) {
    for c in name.chars() {
        let key = if c == ' ' {
            "Spasi".to_owned()
        } else {
            c.to_string()
        };
        tap(ui, &key);
    }
}

fn person_card(k: &Kiosk, p: &apm_kiosk::simulate::crowd::Person) {
    k.reader().present_card(card_of(p));
}

/// One applicant's details: application type and passport type, then on.
fn details(k: &mut Kiosk, application: &str, passport: &str) {
    k.wait_screen(Screen::Details);
    tap(&k.ui, application);
    tap(&k.ui, passport);
    k.until("details chosen", |k| {
        k.ui.global::<Flow>().get_can_confirm_details()
    });
    k.tap_to("Lanjut", Screen::Members);
}

#[test]
fn a_family_of_three_books_by_touch_and_takes_three_tickets() {
    let mut k = Kiosk::start();
    let (lead, second, child) = ui_support::family(tuesday_morning().date_naive());

    k.wait_screen(Screen::Idle);
    k.tap_to("Mulai", Screen::ReadCard);
    assert!(shows(&k.ui, "Pembaca kartu siap"), "the reader is ready");
    person_card(&k, &lead);
    k.wait_screen(Screen::ConfirmIdentity);
    k.reader().remove_card();
    assert!(shows(&k.ui, "Apakah ini Anda?"));
    k.tap_to("Ya, data ini benar", Screen::Details);
    details(&mut k, "Paspor baru", "Paspor elektronik");

    // The second adult lays their own KTP; taken off the list by mistake, and added again.
    for attempt in 0..2 {
        k.tap_to("Tambah anggota keluarga", Screen::ReadCard);
        person_card(&k, &second);
        k.wait_screen(Screen::ConfirmIdentity);
        k.reader().remove_card();
        k.tap_to("Ya, data ini benar", Screen::Details);
        details(
            &mut k,
            "Penggantian paspor habis berlaku atau penuh",
            "Paspor biasa 48 halaman",
        );
        assert_eq!(k.ui.global::<Flow>().get_members().iter().count(), 2);
        if attempt == 0 {
            // Taking out asks first.
            tap(&k.ui, "Keluarkan pemohon 2 dari rombongan");
            k.until("asked", |k| k.ui.global::<Flow>().get_removing() == 1);
            assert_eq!(k.ui.global::<Flow>().get_members().iter().count(), 2);
            tap(&k.ui, "Ya, keluarkan");
            k.until("the second adult removed", |k| {
                k.ui.global::<Flow>().get_members().iter().count() == 1
            });
        }
    }

    // The child: NIK and KK on the keypad; the NIK field hands over to the KK by itself.
    k.tap_to("Tambah anak", Screen::ManualNik);
    type_digits(&k.ui, &child.nik);
    type_digits(&k.ui, &child.kk);
    assert_eq!(
        find(&k.ui, "Nomor KK").accessible_value().as_deref(),
        Some(child.kk.as_str())
    );
    k.tap_to("Lanjut", Screen::ConfirmIdentity);
    // The child's name, typed on the letter keypad, goes on the ticket.
    k.tap_to("Ketik nama anak", Screen::NameEntry);
    type_letters(&k.ui, "PUTRI AYU");
    k.tap_to("Simpan nama", Screen::ConfirmIdentity);
    assert!(shows(&k.ui, "PUTRI AYU"));
    k.tap_to("Ya, data ini benar", Screen::Details);
    details(&mut k, "Paspor baru", "Paspor biasa 48 halaman");
    assert_eq!(k.ui.global::<Flow>().get_members().iter().count(), 3);

    k.tap_to("Lanjut dengan 3 pemohon", Screen::Office);
    tap(&k.ui, "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun");
    k.wait_screen(Screen::Date);
    // The first open day in the calendar.
    let day =
        k.ui.global::<Flow>()
            .get_days()
            .iter()
            .find(|d| d.status == ui::DayState::Open)
            .expect("an open day");
    k.tap_to(&day.label, Screen::Session);
    let session =
        k.ui.global::<Flow>()
            .get_sessions()
            .iter()
            .find(|s| s.bookable)
            .expect("a session with room");
    k.tap_to(&session.label, Screen::Review);
    tap(&k.ui, "Konfirmasi dan cetak tiket");
    k.until("the tickets", |k| k.screen() == Screen::Done);
    let tickets = k.ui.global::<Flow>().get_tickets();
    assert_eq!(tickets.iter().count(), 3, "one ticket each");
    assert!(shows(&k.ui, "Ambil 3 tiket Anda"));
    let printer = k.daemon().printer.clone();
    k.rt.block_on(held_until("three tickets", || printer.jobs().len() >= 3));
    let jobs = printer.jobs();
    assert_eq!(jobs.len(), 3, "three tickets printed");
    assert!(jobs.iter().all(|j| j.whole), "each whole");
    assert!(
        String::from_utf8_lossy(&jobs[2].bytes).contains("PUTRI AYU"),
        "the child's ticket carries the name typed"
    );
    k.tap_to("Selesai", Screen::Idle);
    assert!(
        k.ui.global::<Flow>().get_members().iter().count() == 0,
        "nothing of the family is left on screen"
    );
}

#[test]
fn a_walk_away_is_warned_then_wiped() {
    let mut k = Kiosk::start();
    let (lead, _, _) = ui_support::family(tuesday_morning().date_naive());
    k.wait_screen(Screen::Idle);
    // Someone who reads English, and needs large text.
    tap(&k.ui, "English");
    k.until("English", |k| {
        k.ui.global::<Flow>().get_language() == ui::Language::En
    });
    tap(&k.ui, "Large text");
    assert!(k.ui.global::<ui::Theme>().get_large_text());
    k.tap_to("Start", Screen::ReadCard);
    person_card(&k, &lead);
    k.wait_screen(Screen::ConfirmIdentity);
    k.reader().remove_card();
    assert!(shows(&k.ui, "Is this you?"));
    // They walk away: after a minute the warning comes with its countdown...
    k.pass(Duration::from_secs(61));
    k.until("the warning", |k| {
        k.ui.global::<Flow>().get_warning_seconds() >= 0
    });
    assert!(shows(&k.ui, "I am still here"));
    let first = k.ui.global::<Flow>().get_warning_seconds();
    k.pass(Duration::from_secs(2));
    k.until("the countdown", |k| {
        let s = k.ui.global::<Flow>().get_warning_seconds();
        s >= 0 && s < first
    });
    // ...and 20 s later the screen is wiped: idle, Bahasa Indonesia, plain text, no name.
    k.pass(Duration::from_secs(20));
    k.wait_screen(Screen::Idle);
    let flow = k.ui.global::<Flow>();
    assert_eq!(flow.get_language(), ui::Language::Id);
    assert_eq!(flow.get_applicant(), ui::Person::default());
    assert_eq!(flow.get_applicant().name, "");
    assert!(!k.ui.global::<ui::Theme>().get_large_text());
    assert!(shows(&k.ui, "Mulai"));
}

#[test]
fn the_warning_is_answered_and_cancel_wipes_everything() {
    let mut k = Kiosk::start();
    let (lead, _, _) = ui_support::family(tuesday_morning().date_naive());
    k.wait_screen(Screen::Idle);
    k.tap_to("Mulai", Screen::ReadCard);
    person_card(&k, &lead);
    k.wait_screen(Screen::ConfirmIdentity);
    k.reader().remove_card();
    k.pass(Duration::from_secs(61));
    k.until("the warning", |k| {
        k.ui.global::<Flow>().get_warning_seconds() >= 0
    });
    tap(&k.ui, "Saya masih di sini");
    k.until("the warning gone", |k| {
        k.ui.global::<Flow>().get_warning_seconds() < 0
    });
    assert_eq!(k.screen(), Screen::ConfirmIdentity, "the session goes on");
    k.tap_to("Ya, data ini benar", Screen::Details);
    k.tap_to("Batal", Screen::Idle);
    assert_eq!(k.ui.global::<Flow>().get_applicant(), ui::Person::default());
}

#[test]
fn a_card_that_cannot_be_read_offers_the_keypad() {
    let mut k = Kiosk::start();
    k.wait_screen(Screen::Idle);
    k.tap_to("Mulai", Screen::ReadCard);
    let code = apm_kiosk::protocol::reader::ReadErrorCode::NotEktp;
    k.reader().emit(ReaderEvent::CardPresent);
    k.reader().emit(ReaderEvent::ReadFailed(code));
    k.until("the card problem", |k| {
        k.ui.global::<Flow>().get_card_problem() == ui::CardProblem::NotEktp
    });
    assert!(shows(
        &k.ui,
        "Kartu ini bukan KTP elektronik. Gunakan e-KTP Anda, atau hubungi petugas."
    ));
    k.reader().remove_card();
    for _ in 0..2 {
        let before = k.daemon().view();
        k.reader().emit(ReaderEvent::CardPresent);
        k.reader().emit(ReaderEvent::ReadFailed(
            apm_kiosk::protocol::reader::ReadErrorCode::TimedOut,
        ));
        k.until("another failed read", |k| *k.daemon().view() != *before);
        k.reader().remove_card();
    }
    k.until("the keypad offered", |k| {
        k.ui.global::<Flow>().get_can_manual_entry()
    });
    k.tap_to("Masukkan NIK dengan tombol angka", Screen::ManualNik);
    // A NIK whose date digits are no date: the flow says which digits are wrong.
    type_digits(&k.ui, "2102011234560001");
    tap(&k.ui, "Lanjut");
    k.until("the refusal", |k| {
        k.ui.global::<Flow>().get_entry_problem() == ui::EntryProblem::NikInvalid
    });
    assert!(shows(
        &k.ui,
        "NIK: Angka ke-7 s.d. ke-12 adalah tanggal lahir. Periksa kembali."
    ));
    // Back from the lead's keypad starts over: nothing typed is kept.
    k.tap_to("Kembali", Screen::Idle);
    assert_eq!(k.ui.global::<Flow>().get_applicant(), ui::Person::default());
}

#[test]
fn help_over_the_keypad_closes_back_to_what_was_typed() {
    let mut k = Kiosk::start();
    k.wait_screen(Screen::Idle);
    k.tap_to("Mulai", Screen::ReadCard);
    // Three reads that fail (each changes what the screen says): the keypad is offered.
    use apm_kiosk::protocol::reader::ReadErrorCode;
    for code in [
        ReadErrorCode::NotEktp,
        ReadErrorCode::TimedOut,
        ReadErrorCode::TimedOut,
    ] {
        let before = k.daemon().view();
        k.reader().emit(ReaderEvent::CardPresent);
        k.reader().emit(ReaderEvent::ReadFailed(code));
        k.until("a failed read", |k| *k.daemon().view() != *before);
        k.reader().remove_card();
    }
    k.until("the keypad offered", |k| {
        k.ui.global::<Flow>().get_can_manual_entry()
    });
    k.tap_to("Masukkan NIK dengan tombol angka", Screen::ManualNik);
    // Half the NIK typed, then help: the panel covers the keypad, the page stays.
    type_digits(&k.ui, "21020112");
    tap(&k.ui, "Bantuan");
    k.until("the help panel", |k| k.ui.global::<Flow>().get_help_open());
    assert!(shows(&k.ui, "Panggil petugas"));
    assert_eq!(k.screen(), Screen::ManualNik);
    tap(&k.ui, "Tutup bantuan");
    k.until("the panel closed", |k| {
        !k.ui.global::<Flow>().get_help_open()
    });
    // The rest of the digits: the whole NIK reaches the flow, so the first half was kept
    // (eight digits alone would be refused for their length, not their date).
    type_digits(&k.ui, "34560001");
    tap(&k.ui, "Lanjut");
    k.until("the refusal", |k| {
        k.ui.global::<Flow>().get_entry_problem() == ui::EntryProblem::NikInvalid
    });
    assert_eq!(
        k.ui.global::<Flow>().get_entry_check(),
        ui::NumberCheck::NotADate,
        "all sixteen digits were typed"
    );
}
