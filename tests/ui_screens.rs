//! Every screen of the flow, in both languages and both orientations, rendered headless
//! by the software renderer to `target/ui-screens/<orientation>/<language>/NN-name.png`.
//! The states come from the pure flow stepped through a family's visit (no daemon), so
//! the pictures are the same on every machine. The test also checks what a person
//! needs: every control is a touch target at least 104 px high and wide.
//! `APM_UPDATE_SCREENSHOTS=1` also writes the README's pictures, at half size, to
//! `ui/screenshots/`.

mod ui_support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use apm_kiosk::domain::calendar::{Office, Session, Zone};
use apm_kiosk::domain::{ApplicationType, Language, PassportType, QueueKind, QueueNumber};
use apm_kiosk::flow::{
    self, Availability, Booked, BookedTicket, BookingsFound, CardFields, CardProblem,
    ChangeProblem, Event, ExistingBooking, Guardrail, HoldReason, HoldSource, Intent, Kiosk,
    NumbersFailure, PrintFailure, SlotCount, Timeouts,
};
use apm_kiosk::simulate::crowd::Person;
use apm_kiosk::ui::{KioskWindow, OfficeToday, PanelState, Theme, adapter};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementRoot as _};
use slint::ComponentHandle;

fn now() -> DateTime<Utc> {
    // Monday 23 November 2026, 09:00 in Karimun (WIB).
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("valid instant")
}

fn office(id: &str, name: &str, zone: Zone) -> Office {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
    Office {
        id: id.into(),
        name: name.into(),
        province_code: "21".into(),
        zone,
        working_days: vec![1, 2, 3, 4, 5],
        sessions: vec![
            Session {
                id: "S1".into(),
                start: t(8),
                end: t(10),
            },
            Session {
                id: "S2".into(),
                start: t(10),
                end: t(12),
            },
            Session {
                id: "S3".into(),
                start: t(13),
                end: t(15),
            },
        ],
        booking_window_days: 30,
        closed_dates: [d(12, 25), d(12, 26)].into_iter().collect::<BTreeSet<_>>(),
    }
}

fn offices() -> Vec<Office> {
    vec![
        office(
            "KRM",
            "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun",
            Zone::Wib,
        ),
        office("BTM", "Kantor Imigrasi Kelas I Khusus TPI Batam", Zone::Wib),
        office("MKS", "Kantor Imigrasi Kelas I TPI Makassar", Zone::Wita),
    ]
}

/// Numbers for every working day of the window but the third, which shows as full: the
/// service answered, and its pool has nothing more.
fn availability(office: &Office) -> Availability {
    let mut slots = Vec::new();
    let dates = office.bookable_dates(now());
    for (i, date) in dates.iter().enumerate() {
        if i == 2 {
            continue;
        }
        for (j, s) in office.sessions.iter().enumerate() {
            slots.push(SlotCount {
                date: *date,
                session_id: s.id.clone(),
                regular: if j == 2 { 1 } else { 14 - j as u32 * 3 },
                priority: 4,
            });
        }
    }
    Availability {
        office_id: office.id.clone(),
        slots,
        pool: Some(Vec::new()),
    }
}

fn card(p: &Person) -> CardFields {
    CardFields {
        nik: p.nik.clone(),
        name: p.name.clone(),
        birth_place: Some(p.birth_place.clone()),
        birth_date: p.birth_date.format("%Y-%m-%d").to_string(),
        sex: p.sex.code().to_owned(),
        address: Some(p.address.clone()),
    }
}

fn panel() -> PanelState {
    PanelState {
        reader: apm_kiosk::protocol::central::ReaderState::Ok,
        printer: apm_kiosk::hardware::printer::PrinterState::Ok,
        today_date: Some(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()),
        today: vec![
            OfficeToday {
                office_name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
                open_today: true,
                regular_left: 12,
                priority_left: 4,
                next_day: NaiveDate::from_ymd_opt(2026, 11, 24),
            },
            OfficeToday {
                office_name: "Kantor Imigrasi Kelas I Khusus TPI Batam".into(),
                open_today: true,
                regular_left: 0,
                priority_left: 0,
                next_day: NaiveDate::from_ymd_opt(2026, 11, 26),
            },
        ],
    }
}

/// One picture: a name and the flow state it shows.
struct Shot {
    name: String,
    state: Kiosk,
    at: DateTime<Utc>,
    panel: PanelState,
}

/// The pictures taken so far, numbered in the order they were taken.
#[derive(Default)]
struct Album(Vec<Shot>);

impl Album {
    /// A picture of `k` at the walk's time, with every device fine.
    fn snap(&mut self, name: &str, k: &Kiosk) {
        self.snap_with(name, k, now(), panel());
    }

    /// A picture of `k` at `at`, with that panel.
    fn snap_with(&mut self, name: &str, k: &Kiosk, at: DateTime<Utc>, panel: PanelState) {
        self.0.push(Shot {
            name: format!("{:02}-{name}", self.0.len() + 1),
            state: k.clone(),
            at,
            panel,
        });
    }
}

/// One step of the flow at the walk's time.
fn step(k: &mut Kiosk, e: Event) {
    flow::step(k, e, now());
}

/// One tap at the walk's time.
fn intent(k: &mut Kiosk, i: Intent) {
    step(k, Event::Intent(i));
}

/// Chooses the application and the passport type on the details screen.
fn choose_types(k: &mut Kiosk, application_type: ApplicationType, passport_type: PassportType) {
    intent(k, Intent::ChooseApplicationType { application_type });
    intent(k, Intent::ChoosePassportType { passport_type });
}

/// A member confirmed on screen, passed by the rules and given their details.
fn confirm_and_detail(
    k: &mut Kiosk,
    application_type: ApplicationType,
    passport_type: PassportType,
) {
    intent(k, Intent::ConfirmIdentity);
    step(k, Event::Checked(Ok(())));
    choose_types(k, application_type, passport_type);
    intent(k, Intent::ConfirmDetails);
}

/// Walks the pure flow through a family of three and collects a state per screen,
/// with the error screens and the overlays beside the path.
fn shots(language: Language) -> Vec<Shot> {
    let (lead, second, child) = ui_support::family(now().date_naive());
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    let mut album = Album::default();
    identify_the_lead(&mut k, &mut album, &lead);
    add_the_family(&mut k, &mut album, &lead, &second, &child);
    let family = k.clone();
    let date = choose_the_slot(&mut k, &mut album);
    let unprinted = book_and_print(&mut k, &mut album, date);
    album.snap("out-of-service", &out_of_service(language));
    five_with_long_names(&mut album, language);
    left_without_a_ticket(&mut album, unprinted);
    revise_the_family(&mut album, family.clone(), &child);
    the_help_panel(&mut album, language);
    the_whole_window(&mut album, family);
    the_booking_after(&mut album, language, &lead);
    album.0
}

/// The help panel over the details page: open, then after the call, with the kiosk's
/// id and the configured phone; and over the idle screen of a kiosk with no phone set.
fn the_help_panel(album: &mut Album, language: Language) {
    let (lead, _, _) = ui_support::family(now().date_naive());
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    step(&mut k, Event::CatalogChanged(offices()));
    k.help_contact = flow::HelpContact {
        kiosk_id: Some("KRM-02".into()),
        phone: Some("+62 777 123 456".into()),
    };
    intent(&mut k, Intent::Start);
    step(&mut k, Event::CardRead(card(&lead)));
    intent(&mut k, Intent::ConfirmIdentity);
    step(&mut k, Event::Checked(Ok(())));
    intent(&mut k, Intent::Help);
    album.snap("help", &k);
    intent(&mut k, Intent::CallOfficer);
    album.snap("help-called", &k);
    let mut idle = Kiosk::new(language, Timeouts::default(), now());
    step(&mut idle, Event::CatalogChanged(offices()));
    idle.help_contact.kiosk_id = Some("KRM-02".into());
    intent(&mut idle, Intent::Help);
    album.snap("help-idle", &idle);
}

/// The family at the calendar of Tanjung Balai Karimun, with these numbers.
fn family_with(mut k: Kiosk, numbers: Availability) -> Kiosk {
    intent(&mut k, Intent::FinishMembers);
    intent(
        &mut k,
        Intent::ChooseOffice {
            office_id: "KRM".into(),
        },
    );
    step(&mut k, Event::AvailabilityLoaded(numbers));
    k
}

/// The whole booking window: offline, the days the kiosk holds no numbers for need the
/// network (and a session with too few, too); online, a day held by the service alone
/// is offered from its quota, the numbers asked for, and denied or not answered.
fn the_whole_window(album: &mut Album, family: Kiosk) {
    let krm = offices().remove(0);
    let dates = krm.bookable_dates(now());
    let mut offline = availability(&krm);
    offline.pool = None;
    for slot in offline
        .slots
        .iter_mut()
        .filter(|s| s.date == dates[1] && s.session_id == "S2")
    {
        slot.priority = 1;
    }
    let mut k = family_with(family.clone(), offline);
    album.snap("date-offline", &k);
    intent(&mut k, Intent::ChooseDate { date: dates[1] });
    album.snap("session-offline", &k);

    let mut online = availability(&krm);
    online.pool = Some(
        krm.sessions
            .iter()
            .map(|s| SlotCount {
                date: dates[2],
                session_id: s.id.clone(),
                regular: 10,
                priority: 5,
            })
            .collect(),
    );
    let mut k = family_with(family, online);
    intent(&mut k, Intent::ChooseDate { date: dates[2] });
    album.snap("session-central", &k);
    intent(
        &mut k,
        Intent::ChooseSession {
            session_id: "S1".into(),
        },
    );
    album.snap("asking-numbers", &k);
    let mut silent = k.clone();
    step(&mut k, Event::NumbersGranted(Err(NumbersFailure::Denied)));
    album.snap("session-denied", &k);
    step(
        &mut silent,
        Event::NumbersGranted(Err(NumbersFailure::NoAnswer)),
    );
    album.snap("session-no-answer", &silent);
}

/// The lead's own booking at this kiosk: R-021 on Tuesday 1 December, session 1.
fn own_booking(lead: &Person) -> ExistingBooking {
    ExistingBooking {
        registration_id: "r-lead".into(),
        office_id: "KRM".into(),
        date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
        session_id: "S1".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Regular,
            number: 21,
        },
        masked_nik: apm_kiosk::domain::nik::mask(&lead.nik),
        name: None,
        own: true,
        here: true,
        reschedules_left: 1,
        booking_code: Some("K7Q-4M2".into()),
        group_id: Some("g1".into()),
        ticket: None,
    }
}

/// Their child's booking in the same group: P-003, no name on it.
fn childs_booking(lead: &Person) -> ExistingBooking {
    ExistingBooking {
        registration_id: "r-child".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Priority,
            number: 3,
        },
        masked_nik: "2102********0042".into(),
        own: false,
        ..own_booking(lead)
    }
}

/// The lead lays their card again and the kiosk finds these bookings.
fn my_booking(language: Language, lead: &Person, found: BookingsFound) -> Kiosk {
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    step(&mut k, Event::CatalogChanged(offices()));
    intent(&mut k, Intent::Start);
    step(&mut k, Event::CardRead(card(lead)));
    intent(&mut k, Intent::ConfirmIdentity);
    step(&mut k, Event::BookingsFound(found));
    k
}

/// Every reason a change did not happen, as the problem page's picture names it.
const CHANGE_PROBLEMS: [(ChangeProblem, &str); 13] = [
    (ChangeProblem::RescheduleUsed, "reschedule-used"),
    (ChangeProblem::TooLate, "too-late"),
    (ChangeProblem::AlreadyArrived, "already-arrived"),
    (ChangeProblem::Cancelled, "cancelled"),
    (ChangeProblem::NotFound, "not-found"),
    (ChangeProblem::NumberNotHeld, "number-not-held"),
    (ChangeProblem::NumbersGone, "numbers-gone"),
    (ChangeProblem::Unsupported, "unsupported"),
    (ChangeProblem::NoAnswer, "no-answer"),
    (ChangeProblem::StorageFailed, "storage-failed"),
    (ChangeProblem::Refused, "refused"),
    (ChangeProblem::NeedsNetwork, "needs-network"),
    (ChangeProblem::OtherOffice, "other-office"),
];

/// "My booking": the lead's and the child's bookings; a cancel asked, then done; a
/// reprint; the list emptied; the actions that cannot be done, each saying why; a move
/// to another session, on the date, session and review pages, to its done page; and
/// the problem page of every reason a change did not happen.
fn the_booking_after(album: &mut Album, language: Language, lead: &Person) {
    let both = || BookingsFound {
        bookings: vec![own_booking(lead), childs_booking(lead)],
        online: false,
        service_lacks_changes: false,
    };
    let fresh = my_booking(language, lead, both());
    the_list_changed(album, fresh.clone());
    what_cannot_be_done(album, language, lead);
    a_change_of_schedule(album, fresh.clone(), lead);
    for (reason, name) in CHANGE_PROBLEMS {
        let mut k = fresh.clone();
        intent(&mut k, Intent::CancelBooking { index: 0 });
        intent(&mut k, Intent::ConfirmCancelBooking);
        step(&mut k, Event::Cancelled(Err(reason)));
        album.snap(&format!("problem-change-{name}"), &k);
    }
}

/// The list of two: a cancel asked, then done; a reprint; the last one cancelled.
fn the_list_changed(album: &mut Album, mut k: Kiosk) {
    album.snap("my-booking", &k);
    intent(&mut k, Intent::CancelBooking { index: 1 });
    album.snap("my-booking-cancel-asked", &k);
    intent(&mut k, Intent::ConfirmCancelBooking);
    step(&mut k, Event::Cancelled(Ok(())));
    album.snap("my-booking-cancelled", &k);
    intent(&mut k, Intent::ReprintBooking { index: 0 });
    let mut paper = k.clone();
    step(&mut paper, Event::Printed(Err(PrintFailure::PaperOut)));
    album.snap("my-booking-reprint-paper-out", &paper);
    step(&mut k, Event::Printed(Ok(())));
    album.snap("my-booking-reprinted", &k);
    intent(&mut k, Intent::CancelBooking { index: 0 });
    intent(&mut k, Intent::ConfirmCancelBooking);
    step(&mut k, Event::Cancelled(Ok(())));
    album.snap("my-booking-empty", &k);
}

/// The actions that cannot be done now, each saying why.
fn what_cannot_be_done(album: &mut Album, language: Language, lead: &Person) {
    // Moved once already; made at another kiosk, while this one is offline; tomorrow's
    // (too late to move, not to cancel).
    let blocked = BookingsFound {
        bookings: vec![
            ExistingBooking {
                reschedules_left: 0,
                ..own_booking(lead)
            },
            ExistingBooking {
                here: false,
                ticket: Some("APM2.elsewhere".into()),
                booking_code: None,
                group_id: None,
                ..childs_booking(lead)
            },
            ExistingBooking {
                registration_id: "r-second".into(),
                date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default(),
                queue_number: QueueNumber {
                    kind: QueueKind::Regular,
                    number: 22,
                },
                masked_nik: "2102********0031".into(),
                name: Some("RINA WIJAYA".into()),
                own: false,
                ..own_booking(lead)
            },
        ],
        online: false,
        service_lacks_changes: false,
    };
    album.snap("my-booking-blocked", &my_booking(language, lead, blocked));
    // A service without changes, and a booking at an office this kiosk does not serve.
    let unsupported = BookingsFound {
        bookings: vec![
            own_booking(lead),
            ExistingBooking {
                office_id: "TBK".into(),
                ..childs_booking(lead)
            },
        ],
        online: true,
        service_lacks_changes: true,
    };
    album.snap(
        "my-booking-unsupported",
        &my_booking(language, lead, unsupported),
    );
}

/// The lead's booking moved to the second session of its day, to the done page.
fn a_change_of_schedule(album: &mut Album, mut k: Kiosk, lead: &Person) {
    intent(&mut k, Intent::RescheduleBooking { index: 0 });
    let krm = offices().remove(0);
    step(&mut k, Event::AvailabilityLoaded(availability(&krm)));
    album.snap("reschedule-date", &k);
    let day = own_booking(lead).date;
    intent(&mut k, Intent::ChooseDate { date: day });
    album.snap("reschedule-session", &k);
    intent(
        &mut k,
        Intent::ChooseSession {
            session_id: "S2".into(),
        },
    );
    album.snap("reschedule-review", &k);
    intent(&mut k, Intent::ConfirmBooking);
    album.snap("reschedule-saving", &k);
    let moved = ExistingBooking {
        session_id: "S2".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Regular,
            number: 12,
        },
        reschedules_left: 0,
        name: Some(lead.name.clone()),
        ..own_booking(lead)
    };
    step(&mut k, Event::Rescheduled(Ok(moved)));
    step(&mut k, Event::Printed(Ok(())));
    album.snap("reschedule-done", &k);
}

/// The key texts of the pages of the whole window and of "my booking", in `language`:
/// what a shot named `name` (without its number) must say; nothing for the others.
fn said_after(name: &str, language: Language) -> Vec<String> {
    let pick = |i: &str, e: &str| {
        if language == Language::Id {
            i.to_owned()
        } else {
            e.to_owned()
        }
    };
    said_on_my_booking(name, pick)
        .or_else(|| said_on_the_window(name, pick))
        .unwrap_or_default()
}

/// What "my booking" and a change problem's page say; `pick` takes the Indonesian and
/// the English.
fn said_on_my_booking(name: &str, pick: impl Fn(&str, &str) -> String) -> Option<Vec<String>> {
    let when = pick(
        "Selasa, 1 Desember 2026, Sesi 1 (pagi) 08.00\u{2013}10.00 WIB",
        "Tuesday, 1 December 2026, Session 1 (morning) 08:00\u{2013}10:00 WIB",
    );
    let finish = pick("Selesai", "Finish");
    let back = pick("Kembali ke booking saya", "Back to my booking");
    Some(match name {
        "my-booking" => vec![
            "R-021".into(),
            "P-003".into(),
            when,
            pick("Cetak ulang", "Print again"),
            pick("bertanda SALINAN", "marked COPY"),
            pick("Ubah jadwal", "Change the schedule"),
            pick("sekali, paling lambat H-1", "once, up to the day before"),
            pick("Batalkan", "Cancel booking"),
            pick("Booking Anda", "Your booking"),
            pick("Anggota keluarga", "Family member"),
            pick(
                "Anak (nama dilengkapi di loket)",
                "Child (name filled in at the counter)",
            ),
            finish,
        ],
        "my-booking-cancel-asked" => vec![
            pick("Batalkan booking P-003?", "Cancel booking P-003?"),
            pick("Ya, batalkan", "Yes, cancel it"),
            pick("Tidak, simpan", "No, keep it"),
            pick(
                "Nomornya dikembalikan untuk orang lain, dan ini tidak bisa diurungkan. Aturan 30 hari tetap dihitung sejak pendaftaran pertama: booking baru untuk NIK ini belum bisa dibuat sebelum itu.",
                "The number goes back for someone else, and this cannot be undone. The 30-day rule still counts from the first registration: a new booking for this NIK is not possible before then.",
            ),
        ],
        "my-booking-cancelled" => vec![
            pick(
                "Booking P-003 dibatalkan. Nomornya dilepas.",
                "Booking P-003 cancelled. Its number is released.",
            ),
            "R-021".into(),
        ],
        "my-booking-reprinted" => vec![pick(
            "Tiket R-021 dicetak ulang (SALINAN). Ambil di celah di bawah layar.",
            "Ticket R-021 printed again (COPY). Take it from the slot below the screen.",
        )],
        "my-booking-reprint-paper-out" => vec![
            pick(
                "Salinan tiket Anda tidak tercetak. Booking Anda tetap seperti semula, dan tiket yang Anda pegang tetap berlaku. Coba lagi, atau tunjukkan e-KTP Anda di loket.",
                "The copy of your ticket did not print. Your booking stands as it is, and the ticket you have stays valid. Try again, or show your e-KTP at the counter.",
            ),
            pick("Coba cetak lagi", "Try printing again"),
            back,
        ],
        "my-booking-empty" => vec![
            pick(
                "Tidak ada lagi booking atas NIK ini. Pendaftaran baru mengikuti aturan 30 hari, dihitung sejak pendaftaran pertama.",
                "No booking is left on this NIK. A new registration follows the 30-day rule, counted from the first registration.",
            ),
            finish,
        ],
        "my-booking-blocked" => vec![
            pick(
                "Sudah pernah diubah: jadwal hanya bisa diubah sekali. Jika Anda tidak bisa datang, tanyakan di loket.",
                "Changed once already: a schedule can be changed only once. If you cannot come, ask at the counter.",
            ),
            pick(
                "Dibuat di aplikasi atau di kios lain: hanya bisa diubah di sini saat kios terhubung ke jaringan. Coba lagi nanti, atau gunakan aplikasi M-Paspor.",
                "Made in the app or at another kiosk: changed here only while the kiosk is online. Try later, or use the M-Paspor app.",
            ),
            pick(
                "Sudah terlambat: jadwal hanya bisa diubah paling lambat sehari sebelumnya. Datanglah pada harinya, atau tanyakan di loket.",
                "Too late: a schedule can be changed up to the day before. Come on the day, or ask at the counter.",
            ),
            "RINA WIJAYA".into(),
        ],
        "my-booking-unsupported" => vec![
            pick(
                "Belum bisa dari kios: gunakan aplikasi M-Paspor, atau tanyakan di loket.",
                "Not possible from a kiosk yet: use the M-Paspor app, or ask at the counter.",
            ),
            pick(
                "Di kantor yang tidak dilayani kios ini: gunakan aplikasi M-Paspor, atau kios di kantor tersebut.",
                "At an office this kiosk does not book for: use the M-Paspor app, or a kiosk of that office.",
            ),
        ],
        "problem-change-numbers-gone" => vec![pick("Pilih lagi", "Choose again")],
        n if n.starts_with("problem-change-") => vec![back],
        _ => return None,
    })
}

/// What the date, session, review, wait and done pages of the whole window and of a
/// change of schedule say.
fn said_on_the_window(name: &str, pick: impl Fn(&str, &str) -> String) -> Option<Vec<String>> {
    let when = pick(
        "Selasa, 1 Desember 2026, Sesi 1 (pagi) 08.00\u{2013}10.00 WIB",
        "Tuesday, 1 December 2026, Session 1 (morning) 08:00\u{2013}10:00 WIB",
    );
    let moving = pick(
        "Mengubah jadwal R-021 (Selasa, 1 Desember 2026, Sesi 1 (pagi) 08.00\u{2013}10.00 WIB)",
        "Changing the schedule of R-021 (Tuesday, 1 December 2026, Session 1 (morning) 08:00\u{2013}10:00 WIB)",
    );
    Some(match name {
        "reschedule-date" => vec![moving, pick("Pilih hari", "Choose a day")],
        "reschedule-session" => vec![moving, pick("Jadwal Anda sekarang", "Your schedule now")],
        "reschedule-review" => vec![
            pick("Periksa jadwal baru", "Check the new schedule"),
            when,
            pick(
                "Selasa, 1 Desember 2026, Sesi 2 (pagi) 10.00\u{2013}12.00 WIB",
                "Tuesday, 1 December 2026, Session 2 (morning) 10:00\u{2013}12:00 WIB",
            ),
            pick("Ubah jadwal", "Change the schedule"),
        ],
        "reschedule-saving" => vec![pick("Mengubah jadwal Anda…", "Changing your schedule…")],
        "reschedule-done" => vec![
            pick("Jadwal Anda sudah diubah", "Your schedule is changed"),
            pick(
                "Ambil tiket baru Anda. Tiket lama tidak berlaku lagi: nomornya sudah dilepas.",
                "Take your new ticket. The old ticket is no longer valid: its number has been released.",
            ),
            "R-012".into(),
        ],
        "date-offline" => vec![
            pick("perlu jaringan", "needs network"),
            pick(
                "Kios ini sedang tanpa jaringan. Hari bertanda \u{201c}perlu jaringan\u{201d} bisa dipesan di sini setelah jaringan pulih, atau sekarang di aplikasi M-Paspor atau kios lain.",
                "This kiosk is offline. Days marked \u{201c}needs network\u{201d} can be booked here once the network is back, or now in the M-Paspor app or at another kiosk.",
            ),
        ],
        "session-offline" => vec![pick(
            "Tempat di kios ini tidak cukup, dan kios sedang tanpa jaringan: pilih sesi lain, atau kembali setelah jaringan pulih",
            "Not enough places held at this kiosk, and it is offline: choose another session, or come back once the network is back",
        )],
        "session-central" => vec![pick(
            "Cukup untuk seluruh rombongan, dari kuota pusat: sisa 10 reguler dan 5 prioritas",
            "Room for your whole group, from the central quota: 10 regular and 5 priority places left",
        )],
        "asking-numbers" => vec![pick(
            "Meminta nomor antrean ke kantor pusat…",
            "Asking the central office for queue numbers…",
        )],
        "session-denied" => vec![pick(
            "Kuota pusat untuk sesi itu baru saja habis. Tidak ada yang dipesan. Silakan pilih sesi lain.",
            "The central quota of that session has just run out. Nothing was booked. Please choose another session.",
        )],
        "session-no-answer" => vec![pick(
            "Kantor pusat tidak menjawab tepat waktu. Tidak ada yang dipesan. Silakan pilih lagi, atau pilih hari yang tempatnya ada di kios ini.",
            "The central office did not answer in time. Nothing was booked. Please choose again, or a day this kiosk holds places for.",
        )],
        _ => return None,
    })
}

/// The page says each of its key texts ([`said_after`]), and a change problem's page
/// says its own words, unlike every other reason's.
fn check_said(ui: &KioskWindow, at: &str, name: &str, language: Language) {
    let key = name.split_once('-').map_or(name, |(_, rest)| rest);
    let texts = page_texts(ui);
    for want in said_after(key, language) {
        assert!(
            texts.iter().any(|t| t == &want),
            "{at}: does not say {want:?}: {texts:?}"
        );
    }
}

/// Each reason a change did not happen has a title and words of its own on the problem
/// page: no two reasons read alike.
fn check_change_problems_differ(seen: &[(String, Vec<String>)]) {
    for (i, (a, ta)) in seen.iter().enumerate() {
        for (b, tb) in &seen[i + 1..] {
            assert_ne!(ta, tb, "{a} and {b} say the same");
        }
    }
}

/// The longest name a KTP holds (60 letters), one per member.
fn long_name(i: usize) -> String {
    let name = format!("MUHAMMAD ABDURRAHMAN SYAHPUTRA WIJAYAKUSUMA HADIPRANOTO PUTRA{i}");
    name.chars().take(60).collect()
}

/// Five adults by card, the most the rules allow, each with the longest name a KTP
/// holds: the group, the review and the last page must fit or scroll.
fn five_with_long_names(album: &mut Album, language: Language) {
    // Five different people: someone who comes back is an earlier visit's lead again.
    let mut seen = std::collections::HashSet::new();
    let people: Vec<Person> = apm_kiosk::simulate::crowd::Crowd::new(5, now().date_naive())
        .visits(200)
        .into_iter()
        .filter(|v| {
            !matches!(
                v.behaviour,
                apm_kiosk::simulate::crowd::Behaviour::ComesBack(_)
            )
        })
        .filter_map(|v| match v.lead {
            apm_kiosk::simulate::crowd::Entry::Card {
                person,
                failures: 0,
            } if apm_kiosk::domain::rules::age_on(person.birth_date, now().date_naive()) >= 18 => {
                Some(person)
            }
            _ => None,
        })
        .filter(|p| seen.insert(p.nik.clone()))
        .take(5)
        .collect();
    assert_eq!(people.len(), 5, "five adults in the crowd");
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    step(&mut k, Event::CatalogChanged(offices()));
    intent(&mut k, Intent::Start);
    for (i, p) in people.iter().enumerate() {
        if i > 0 {
            intent(&mut k, Intent::AddMemberByCard);
        }
        let mut fields = card(p);
        fields.name = long_name(i);
        step(&mut k, Event::CardRead(fields));
        confirm_and_detail(
            &mut k,
            ApplicationType::Replacement,
            PassportType::Electronic,
        );
    }
    album.snap("five-members", &k);
    intent(&mut k, Intent::FinishMembers);
    intent(
        &mut k,
        Intent::ChooseOffice {
            office_id: "KRM".into(),
        },
    );
    let krm = offices().remove(0);
    step(&mut k, Event::AvailabilityLoaded(availability(&krm)));
    let date = krm.bookable_dates(now())[1];
    intent(&mut k, Intent::ChooseDate { date });
    intent(
        &mut k,
        Intent::ChooseSession {
            session_id: "S1".into(),
        },
    );
    album.snap("five-review", &k);
    book_and_print(&mut k, &mut Album::default(), date);
    album.snap("five-done", &k);
}

/// From the idle screen to the lead's details: the card screen and its problems, the
/// keypad and its error, then the lead's card, the check and the details.
fn identify_the_lead(k: &mut Kiosk, album: &mut Album, lead: &Person) {
    step(k, Event::CatalogChanged(offices()));
    album.snap("idle", k);
    intent(k, Intent::Start);
    album.snap("card", k);
    step(k, Event::CardFailed(CardProblem::NotEktp));
    album.snap("card-not-ektp", k);
    step(k, Event::CardFailed(CardProblem::NotStill));
    step(k, Event::CardFailed(CardProblem::ReadFailed));
    album.snap("card-keypad-offered", k);
    let mut unplugged = panel();
    unplugged.reader = apm_kiosk::protocol::central::ReaderState::Disconnected;
    album.snap_with("card-reader-unplugged", k, now(), unplugged);
    intent(k, Intent::ManualEntry);
    album.snap("keypad", k);
    intent(
        k,
        Intent::EnterNik {
            nik: "2102011234560001".into(),
            kk: None,
        },
    );
    album.snap("keypad-error", k);
    intent(k, Intent::Back);
    step(k, Event::CardRead(card(lead)));
    album.snap("confirm", k);
    intent(k, Intent::ConfirmIdentity);
    album.snap("checking", k);
    step(k, Event::Checked(Ok(())));
    album.snap("details", k);
    choose_types(k, ApplicationType::New, PassportType::Electronic);
    album.snap("details-chosen", k);
    intent(k, Intent::ConfirmDetails);
}

/// The second adult by card, the child by NIK and KK, and beside the path a refusal:
/// the lead's card again.
fn add_the_family(
    k: &mut Kiosk,
    album: &mut Album,
    lead: &Person,
    second: &Person,
    child: &Person,
) {
    intent(k, Intent::AddMemberByCard);
    step(k, Event::CardRead(card(second)));
    confirm_and_detail(k, ApplicationType::Replacement, PassportType::Regular48);
    intent(k, Intent::AddChild);
    album.snap("keypad-child", k);
    intent(
        k,
        Intent::EnterNik {
            nik: child.nik.clone(),
            kk: Some(child.kk.clone()),
        },
    );
    album.snap("confirm-child", k);
    confirm_and_detail(k, ApplicationType::New, PassportType::Regular48);
    album.snap("members", k);
    let mut refused = k.clone();
    intent(&mut refused, Intent::AddMemberByCard);
    step(&mut refused, Event::CardRead(card(lead)));
    intent(&mut refused, Intent::ConfirmIdentity);
    step(
        &mut refused,
        Event::Checked(Err(
            apm_kiosk::domain::rules::RuleViolation::ActiveBooking {
                visit_date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default(),
            },
        )),
    );
    album.snap("problem-active-booking", &refused);
}

/// Office, day (beside the path: the full day) and session, up to the review and the
/// inactivity warning over it; returns the day chosen.
fn choose_the_slot(k: &mut Kiosk, album: &mut Album) -> NaiveDate {
    intent(k, Intent::FinishMembers);
    album.snap("office", k);
    intent(
        k,
        Intent::ChooseOffice {
            office_id: "KRM".into(),
        },
    );
    album.snap("loading", k);
    let krm = offices().remove(0);
    step(k, Event::AvailabilityLoaded(availability(&krm)));
    album.snap("date", k);
    let dates = krm.bookable_dates(now());
    let mut full = k.clone();
    intent(&mut full, Intent::ChooseDate { date: dates[2] });
    album.snap("date-full", &full);
    intent(k, Intent::ChooseDate { date: dates[1] });
    album.snap("session", k);
    intent(
        k,
        Intent::ChooseSession {
            session_id: "S1".into(),
        },
    );
    album.snap("review", k);
    let mut idle = k.clone();
    flow::step(&mut idle, Event::Tick, now() + TimeDelta::seconds(61));
    album.snap_with(
        "inactivity-warning",
        &idle,
        now() + TimeDelta::seconds(66),
        panel(),
    );
    dates[1]
}

/// The booking saved and printed (beside the path: the paper running out).
/// Books and prints; returns the booking as it stands when the printer ran out of paper.
fn book_and_print(k: &mut Kiosk, album: &mut Album, date: NaiveDate) -> Kiosk {
    intent(k, Intent::ConfirmBooking);
    album.snap("saving", k);
    let tickets = tickets_of(k);
    step(
        k,
        Event::Committed(Ok(Booked {
            group_id: "g1".into(),
            booking_code: "K7Q-4M2".into(),
            office_id: "KRM".into(),
            date,
            session_id: "S1".into(),
            tickets,
        })),
    );
    album.snap("printing", k);
    let mut paper = k.clone();
    step(&mut paper, Event::Printed(Err(PrintFailure::PaperOut)));
    album.snap("problem-paper-out", &paper);
    step(k, Event::Printed(Ok(())));
    album.snap("done", k);
    paper
}

/// The family list changed: the child taken out (asked first), added again with a name
/// typed on the letter keypad (a wrong one first), and the second adult's details
/// opened again.
fn revise_the_family(album: &mut Album, mut k: Kiosk, child: &Person) {
    intent(&mut k, Intent::RemoveMember { index: 2 });
    album.snap("members-take-out-asked", &k);
    intent(&mut k, Intent::ConfirmRemoveMember);
    intent(&mut k, Intent::AddChild);
    intent(
        &mut k,
        Intent::EnterNik {
            nik: child.nik.clone(),
            kk: Some(child.kk.clone()),
        },
    );
    intent(&mut k, Intent::TypeName);
    intent(
        &mut k,
        Intent::EnterName {
            name: "PUTRI 2".into(),
        },
    );
    album.snap("child-name-invalid", &k);
    intent(
        &mut k,
        Intent::EnterName {
            name: "PUTRI AYU LESTARI".into(),
        },
    );
    album.snap("confirm-child-named", &k);
    intent(&mut k, Intent::TypeName);
    album.snap("child-name", &k);
    intent(&mut k, Intent::Back);
    confirm_and_detail(&mut k, ApplicationType::New, PassportType::Regular48);
    album.snap("members-child-named", &k);
    intent(&mut k, Intent::EditMember { index: 1 });
    album.snap("details-edit", &k);
}

/// The paper ran out: the problem screen five minutes on (the applicant went to fetch
/// an officer), then the done page of a booking that has no paper ticket.
fn left_without_a_ticket(album: &mut Album, mut k: Kiosk) {
    let later = now() + chrono::TimeDelta::minutes(5);
    album.snap_with("problem-paper-out-later", &k, later, panel());
    intent(&mut k, Intent::Dismiss);
    album.snap("done-unprinted", &k);
}

/// A ticket per member of the group, numbered as the store might.
fn tickets_of(k: &Kiosk) -> Vec<BookedTicket> {
    k.members
        .iter()
        .enumerate()
        .map(|(i, m)| BookedTicket {
            registration_id: format!("r{i}"),
            queue_number: QueueNumber {
                kind: m.kind(),
                number: if m.kind() == QueueKind::Priority {
                    3 + i as u32
                } else {
                    21 + i as u32
                },
            },
            masked_nik: m.applicant.nik.masked(),
            name: m.applicant.name.clone(),
        })
        .collect()
}

/// A fresh kiosk put out of service by the sync guardrail.
fn out_of_service(language: Language) -> Kiosk {
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    step(&mut k, Event::CatalogChanged(offices()));
    step(
        &mut k,
        Event::ServiceChanged {
            source: HoldSource::Sync,
            reason: Some(HoldReason::Sync(Guardrail::SyncOverdue)),
        },
    );
    k
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("ui-screens"))
        .unwrap_or_else(|| PathBuf::from("target/ui-screens"))
}

/// Every control a person can tap, with its size.
fn controls(ui: &KioskWindow) -> Vec<(String, f32, f32)> {
    ui.root_element()
        .query_descendants()
        .match_accessible_role(AccessibleRole::Button)
        .find_all()
        .into_iter()
        .filter(|e: &ElementHandle| e.computed_opacity() > 0.0 && e.size().width > 0.0)
        .map(|e| {
            let s = e.size();
            (
                e.accessible_label()
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                s.width,
                s.height,
            )
        })
        .collect()
}

/// The pictures the README shows: (orientation, language, shot). The idle, date and
/// session pages' are [`CALENDAR_README_SHOTS`].
const README_SHOTS: &[(&str, &str, &str)] = &[
    ("portrait", "id", "card-keypad-offered"),
    ("portrait", "id", "confirm"),
    ("portrait", "id", "members"),
    ("portrait", "id", "inactivity-warning"),
    ("portrait", "id", "done"),
    ("portrait", "en", "details-chosen"),
    ("portrait", "en", "problem-paper-out"),
    ("portrait", "en", "idle-contrast-large"),
    ("portrait", "id", "out-of-service"),
    ("landscape", "en", "keypad-child"),
    ("landscape", "id", "done"),
    ("portrait", "id", "five-review-large"),
    ("portrait", "id", "five-review-large-end"),
    ("portrait", "id", "help"),
    ("portrait", "id", "help-called-large"),
    ("landscape", "en", "help-called"),
    ("portrait", "id", "problem-paper-out-later"),
    ("portrait", "id", "done-unprinted"),
    ("landscape", "id", "done-unprinted"),
    ("portrait", "id", "members-take-out-asked"),
    ("portrait", "id", "child-name"),
    ("portrait", "id", "confirm-child-named"),
    ("portrait", "en", "details-edit-large"),
    ("portrait", "id", "my-booking"),
    ("portrait", "en", "my-booking"),
    ("portrait", "id", "my-booking-cancel-asked"),
    ("portrait", "en", "my-booking-reprinted"),
    ("portrait", "id", "my-booking-blocked"),
    ("portrait", "en", "my-booking-unsupported"),
    ("portrait", "id", "reschedule-session"),
    ("portrait", "id", "reschedule-review"),
    ("portrait", "en", "reschedule-done"),
    ("portrait", "id", "problem-change-too-late"),
    ("portrait", "en", "problem-change-no-answer"),
    ("portrait", "id", "date-offline"),
    ("portrait", "en", "session-central"),
    ("portrait", "id", "asking-numbers"),
    ("portrait", "id", "session-no-answer"),
    ("landscape", "id", "my-booking"),
    ("landscape", "en", "my-booking-blocked"),
    ("landscape", "en", "date-offline"),
];

/// Halves a screenshot (2x2 box filter) for the README.
fn half(path: &std::path::Path, to: &std::path::Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let (w, h) = (info.width as usize, info.height as usize);
    let (hw, hh) = (w / 2, h / 2);
    let mut out = vec![0u8; hw * hh * 3];
    for y in 0..hh {
        for x in 0..hw {
            for c in 0..3 {
                let px =
                    |dx: usize, dy: usize| u32::from(buf[((2 * y + dy) * w + 2 * x + dx) * 4 + c]);
                out[(y * hw + x) * 3 + c] = ((px(0, 0) + px(1, 0) + px(0, 1) + px(1, 1)) / 4) as u8;
            }
        }
    }
    let file = std::fs::File::create(to).expect("README picture");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), hw as u32, hh as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    enc.write_header()
        .expect("png header")
        .write_image_data(&out)
        .expect("png data");
}

/// The maintenance menu's pictures in the README.
const README_MAINT_SHOTS: &[(&str, &str, &str)] = &[
    ("portrait", "id", "maint-status"),
    ("portrait", "id", "maint-service"),
    ("portrait", "en", "maint-devices-large"),
    ("landscape", "id", "maint-status"),
];

/// The picture `NN-name.png` in `dir` (the album numbers its shots in the order taken),
/// or `name.png` for a shot that is not numbered.
fn numbered(dir: &std::path::Path, name: &str) -> PathBuf {
    let plain = dir.join(format!("{name}.png"));
    std::fs::read_dir(dir)
        .expect("the shots")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                f.split_once('-').is_some_and(|(n, rest)| {
                    n.chars().all(|c| c.is_ascii_digit()) && rest == format!("{name}.png")
                })
            })
        })
        .unwrap_or(plain)
}

fn update_readme_pictures(orientation: &str, shots: &[(&str, &str, &str)]) {
    if std::env::var_os("APM_UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/screenshots");
    std::fs::create_dir_all(&dir).expect("ui/screenshots");
    for (o, lang, name) in shots.iter().filter(|(o, _, _)| *o == orientation) {
        let from = numbered(&out_dir().join(o).join(lang), name);
        half(&from, &dir.join(format!("{o}-{lang}-{name}.png")));
    }
}

fn render_all(orientation: &str, width: f32, height: f32) {
    ui_support::init();
    let ui = ui_support::window(width, height);
    for language in [Language::Id, Language::En] {
        let lang = if language == Language::Id { "id" } else { "en" };
        let mut change_problems = Vec::new();
        for shot in shots(language) {
            let view = flow::view::view(&shot.state, shot.at);
            adapter::apply(&ui, &view, &shot.panel);
            let path = out_dir()
                .join(orientation)
                .join(lang)
                .join(format!("{}.png", shot.name));
            ui_support::screenshot(&ui, &path);
            // The reading aids on the main screens: high contrast, large text, both.
            if [
                "idle",
                "details-chosen",
                "members",
                "session",
                "review",
                "done",
                "problem-paper-out-later",
                "done-unprinted",
                "members-take-out-asked",
                "child-name",
                "details-edit",
                "help",
                "help-called",
                "my-booking",
                "my-booking-cancel-asked",
                "my-booking-blocked",
                "date-offline",
            ]
            .iter()
            .any(|n| shot.name.ends_with(n))
            {
                let theme = ui.global::<Theme>();
                for (aid, contrast, large) in [
                    ("contrast", true, false),
                    ("large", false, true),
                    ("contrast-large", true, true),
                ] {
                    theme.set_high_contrast(contrast);
                    theme.set_large_text(large);
                    let path = out_dir()
                        .join(orientation)
                        .join(lang)
                        .join(format!("{}-{aid}.png", shot.name));
                    ui_support::screenshot(&ui, &path);
                    let at = format!("{orientation} {lang} {}-{aid}", shot.name);
                    check_targets(&ui, orientation, lang, &shot.name);
                    check_fit(&ui, &at, &path);
                }
                theme.set_high_contrast(false);
                theme.set_large_text(false);
            }
            check_targets(&ui, orientation, lang, &shot.name);
            let at = format!("{orientation} {lang} {}", shot.name);
            check_fit(&ui, &at, &path);
            check_said(&ui, &at, &shot.name, language);
            if shot.name.contains("-problem-change-") {
                change_problems.push((shot.name.clone(), page_texts(&ui)));
            }
            if view.unprinted.is_some() {
                check_numbers_shown(&ui, &at, &view);
            }
        }
        assert_eq!(change_problems.len(), CHANGE_PROBLEMS.len());
        check_change_problems_differ(&change_problems);
    }
}

/// A box on the window: x, y, width, height.
type Area = (f32, f32, f32, f32);

fn area(e: &ElementHandle) -> Area {
    let (p, s) = (e.absolute_position(), e.size());
    (p.x, p.y, s.width, s.height)
}

/// Whether `inner` lies inside `outer`, to a pixel.
fn inside(inner: Area, outer: Area) -> bool {
    inner.0 >= outer.0 - 1.0
        && inner.1 >= outer.1 - 1.0
        && inner.0 + inner.2 <= outer.0 + outer.2 + 1.0
        && inner.1 + inner.3 <= outer.1 + outer.3 + 1.0
}

/// What a person reads or taps, shown now.
fn shown(root: &ElementHandle) -> Vec<ElementHandle> {
    root.query_descendants()
        .match_predicate(|e| {
            matches!(
                e.accessible_role(),
                Some(AccessibleRole::Button | AccessibleRole::Text)
            ) && e.computed_opacity() > 0.0
                && e.size().width > 0.0
                && e.accessible_label().is_some_and(|l| !l.is_empty())
        })
        .find_all()
}

/// Nothing is cut off: every text and button lies across the window's width, every
/// button's text inside its button, and the page (the band between header and footer,
/// or the longer page it scrolls) holds everything on it; scrolled to its end, the
/// page's last element is in view above the footer. `path`'s picture is retaken there
/// as `…-end.png` when the page scrolls.
fn check_fit(ui: &KioskWindow, at: &str, path: &std::path::Path) {
    let size = ui.window().size().to_logical(ui.window().scale_factor());
    let window: Area = (0.0, 0.0, size.width, size.height);
    let band = ElementHandle::find_by_element_id(ui, "KioskWindow::pages")
        .next()
        .expect("the page band");
    let page = ElementHandle::find_by_element_id(ui, "KioskWindow::page")
        .next()
        .expect("the page");
    let (band_area, page_area) = (area(&band), area(&page));
    if page_area.3 > band_area.3 + 1.0 {
        scrolled_to_the_end(ui, at, band_area, path);
    }
    let reach: Area = (
        window.0,
        band_area.1,
        window.2,
        page_area.3.max(band_area.3),
    );
    for e in shown(&page) {
        let label = e.accessible_label().unwrap_or_default();
        assert!(
            inside(area(&e), reach),
            "{at}: {label:?} at {:?} is outside the page {reach:?}",
            area(&e)
        );
        if e.accessible_role() == Some(AccessibleRole::Button) {
            for t in shown(&e) {
                assert!(
                    inside(area(&t), area(&e)),
                    "{at}: the text {:?} at {:?} of {label:?} at {:?} overflows it",
                    t.accessible_label().unwrap_or_default(),
                    area(&t),
                    area(&e)
                );
            }
        }
    }
    for e in shown(&ui.root_element()) {
        assert!(
            inside(
                area(&e),
                (window.0, f32::MIN / 4.0, window.2, f32::MAX / 2.0)
            ),
            "{at}: {:?} at {:?} runs off the window's side",
            e.accessible_label().unwrap_or_default(),
            area(&e)
        );
    }
}

/// Scrolls the page to its end, checks its last element is no longer under the footer,
/// takes the picture and scrolls back. (A page can reckon itself taller than it is, and
/// end in blank space: seen with five long names in landscape; nothing is lost then.)
fn scrolled_to_the_end(ui: &KioskWindow, at: &str, band: Area, path: &std::path::Path) {
    let flow = ui.global::<apm_kiosk::ui::Flow>();
    let page = ElementHandle::find_by_element_id(ui, "KioskWindow::page")
        .next()
        .expect("the page");
    flow.set_scroll_y(band.3 - area(&page).3);
    let end = path.with_file_name(format!(
        "{}-end.png",
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("page")
    ));
    ui_support::screenshot(ui, &end);
    let last = shown(&page)
        .into_iter()
        .max_by(|a, b| {
            let bottom = |e: &ElementHandle| area(e).1 + area(e).3;
            bottom(a).total_cmp(&bottom(b))
        })
        .unwrap_or_else(|| panic!("{at}: scrolled to the end, nothing of the page is in view"));
    let bottom = area(&last).1 + area(&last).3;
    assert!(
        bottom <= band.1 + band.3 + 1.0,
        "{at}: scrolled to the end, {:?} at {:?} is still under the footer {band:?}",
        last.accessible_label().unwrap_or_default(),
        area(&last)
    );
    flow.set_scroll_y(0.0);
}

/// Every text on the page, at its top and scrolled to its end (the testing backend
/// lists only what is in view).
fn page_texts(ui: &KioskWindow) -> Vec<String> {
    let flow = ui.global::<apm_kiosk::ui::Flow>();
    let find = |id: &str| {
        ElementHandle::find_by_element_id(ui, id)
            .next()
            .expect("the page")
    };
    let (band, page) = (
        area(&find("KioskWindow::pages")),
        area(&find("KioskWindow::page")),
    );
    let mut texts = Vec::new();
    for scroll in [0.0, (band.3 - page.3).min(0.0)] {
        flow.set_scroll_y(scroll);
        texts.extend(
            shown(&ui.root_element())
                .iter()
                .filter_map(|e| e.accessible_label().map(|l| l.to_string())),
        );
    }
    flow.set_scroll_y(0.0);
    texts
}

/// A booking whose tickets did not print shows its code and every queue number, to be
/// written down, and says how long it stays.
fn check_numbers_shown(ui: &KioskWindow, at: &str, view: &flow::view::View) {
    let texts = page_texts(ui);
    let booking = view.booking.as_ref().expect("a booking");
    let code = booking.booking_code.clone().expect("a code");
    let numbers = booking.tickets.iter().map(|t| t.queue_number.clone());
    for want in std::iter::once(code).chain(numbers) {
        assert!(
            texts.iter().any(|t| t.contains(&want)),
            "{at}: {want:?} is not on screen: {texts:?}"
        );
    }
    let minutes = (view.stays_seconds.expect("a countdown") + 59) / 60;
    assert!(
        texts.iter().any(|t| t.contains(&format!(" {minutes} "))),
        "{at}: the {minutes} minutes it stays are not said: {texts:?}"
    );
}

/// Every control a person can tap is at least 104 px (15 mm) each way.
fn check_targets(ui: &KioskWindow, orientation: &str, lang: &str, shot: &str) {
    for (label, w, h) in controls(ui) {
        assert!(
            h >= 104.0 && w >= 104.0,
            "{orientation} {lang} {shot}: {label:?} is {w}x{h}"
        );
    }
}

#[test]
fn every_screen_portrait() {
    render_all("portrait", 1080.0, 1920.0);
    update_readme_pictures("portrait", README_SHOTS);
}

#[test]
fn every_screen_landscape() {
    render_all("landscape", 1920.0, 1080.0);
    update_readme_pictures("landscape", README_SHOTS);
}

/// A kiosk with something to say on every page of the maintenance menu: an applicant
/// waiting for an officer, paper nearly out, a rejected booking, an old unsynced one,
/// the clock a little off and, on the Service page, the technician's hold.
fn maint_report() -> apm_kiosk::maint::Report {
    use apm_kiosk::maint::calls::{CallsReport, OfficerCall};
    use apm_kiosk::maint::report::*;
    use apm_kiosk::protocol::central::{PrinterState as Wire, ReaderState};
    let at = now();
    let ago = |s| at - TimeDelta::seconds(s);
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let mut r = Report {
        generated_at: at,
        version: "0.1.0".into(),
        kiosk_id: Some("KRM-02".into()),
        started_at: ago(7500),
        uptime_s: 7500,
        screen: flow::view::ScreenKind::Idle,
        menu_open: true,
        pin_configured: true,
        out_of_service: None,
        holds: vec![],
        problems: vec![],
        printer: PrinterReport {
            state: Wire::PaperNearEnd,
            paper: Paper::NearEnd,
            cover: Cover::Closed,
            error: None,
            unprinted_tickets: 2,
        },
        reader: ReaderReport {
            state: ReaderState::Ok,
            vendor: Some("ACME".into()),
            model: Some("KTP-1".into()),
            firmware: Some("2.1.7".into()),
            serial: Some("R0042".into()),
            sam: Some(apm_kiosk::status::Sam::Ok),
        },
        network: NetworkReport {
            central_host: "antrian.imigrasi.go.id:443".into(),
            tcp_reachable: true,
            tcp_ms: Some(84),
            tcp_error: None,
            sync_online: true,
        },
        sync: SyncReport {
            enrolled: true,
            round_running: false,
            rounds: 212,
            last_success: Some(ago(40)),
            last_error: None,
            consecutive_failures: 0,
            last_heartbeat: Some(ago(25)),
            clock_skew_s: Some(-3),
            clock_alert: false,
            guardrail: None,
            undecodable: 0,
            unreadable_results: 0,
        },
        queue: QueueReport {
            unsynced: 3,
            oldest_unsynced: Some(ago(2 * 86_400 + 7200)),
            registrations: 148,
            accepted: 144,
            rejected: 1,
            held_free: 96,
        },
        rejections: vec![RejectionLine {
            registration_id: "r-7f3a".into(),
            office_id: "KRM".into(),
            date: day(25),
            queue_number: "A-014".into(),
            reason: "nik_cooldown".into(),
        }],
        held: (24..=27)
            .map(|d| HeldDay {
                office_id: "KRM".into(),
                date: day(d),
                regular: 12,
                priority: 4,
            })
            .collect(),
        disk: Some(Disk {
            total_bytes: 32 << 30,
            available_bytes: 21 << 30,
        }),
        settings: apm_kiosk::maint::Settings::initial(Language::Id),
        officer_calls: CallsReport {
            total: 3,
            last_at: Some(ago(300)),
            open: vec![OfficerCall {
                at: ago(300),
                screen: flow::view::ScreenKind::Members,
            }],
        },
        changes: Default::default(),
    };
    r.problems = problems(&r, at);
    r
}

/// Every page of the maintenance menu on `report`, in both languages and with large
/// text, to `target/ui-screens/<orientation>/<language>/maint-*.png`; nothing may run
/// off the window or out of its button, scrolled to the top and to the end.
fn render_maint(orientation: &str, width: f32, height: f32) {
    use apm_kiosk::ui::{ConfirmAsk, ConfirmKind, HeldItem, Maint, MaintPage, MaintResult};
    ui_support::init();
    let ui = ui_support::window(width, height);
    let report = maint_report();
    for language in [Language::Id, Language::En] {
        let lang = if language == Language::Id { "id" } else { "en" };
        let mut k = out_of_service(language);
        k.holds.clear();
        adapter::apply(&ui, &flow::view::view(&k, now()), &panel());
        apm_kiosk::ui::maint::show_report(&ui, &report);
        let maint = ui.global::<Maint>();
        maint.set_open(true);
        let pages = [
            ("status", MaintPage::Status),
            ("devices", MaintPage::Devices),
            ("sync", MaintPage::Sync),
            ("service", MaintPage::Service),
            ("settings", MaintPage::Settings),
            ("data", MaintPage::Data),
        ];
        for large in [false, true] {
            ui.global::<Theme>().set_large_text(large);
            for (name, page) in pages {
                maint.set_section(page);
                maint.set_result(MaintResult::default());
                maint.set_confirm(ConfirmAsk::default());
                if page == MaintPage::Service {
                    // Asked before a day's numbers go back, the result of the last.
                    maint.set_confirm(ConfirmAsk {
                        kind: ConfirmKind::Release,
                        day: HeldItem {
                            office: "KRM".into(),
                            date: "2026-11-24".into(),
                            regular: 12,
                            priority: 4,
                        },
                        ..ConfirmAsk::default()
                    });
                    maint.set_result(MaintResult {
                        kind: apm_kiosk::ui::ResultKind::OutOfService,
                        hold: apm_kiosk::ui::TechnicianHold::PrinterFault,
                        ..MaintResult::default()
                    });
                }
                let shot = format!("maint-{name}{}", if large { "-large" } else { "" });
                let path = out_dir()
                    .join(orientation)
                    .join(lang)
                    .join(format!("{shot}.png"));
                maint.set_scroll_y(0.0);
                ui_support::screenshot(&ui, &path);
                let at = format!("{orientation} {lang} {shot}");
                check_menu_fit(&ui, &at);
                menu_scrolled_to_the_end(&ui, &at, &path);
            }
        }
        ui.global::<Theme>().set_large_text(false);
        maint.set_open(false);
    }
}

/// The menu's texts and buttons lie across the window's width, each button's text
/// inside its button.
fn check_menu_fit(ui: &KioskWindow, at: &str) {
    let size = ui.window().size().to_logical(ui.window().scale_factor());
    let across: Area = (0.0, f32::MIN / 4.0, size.width, f32::MAX / 2.0);
    for e in shown(&ui.root_element()) {
        let label = e.accessible_label().unwrap_or_default();
        assert!(
            inside(area(&e), across),
            "{at}: {label:?} at {:?} runs off the window's side",
            area(&e)
        );
        if e.accessible_role() == Some(AccessibleRole::Button) {
            for t in shown(&e) {
                assert!(
                    inside(area(&t), area(&e)),
                    "{at}: the text {:?} of {label:?} overflows it",
                    t.accessible_label().unwrap_or_default()
                );
            }
        }
    }
    check_targets(ui, at, "", "");
}

/// The section scrolled to its end, pictured as `…-end.png` when it is longer than the
/// menu's band.
fn menu_scrolled_to_the_end(ui: &KioskWindow, at: &str, path: &std::path::Path) {
    let band = ElementHandle::find_by_element_id(ui, "MaintMenu::scroll")
        .next()
        .expect("the menu's band");
    let content = ElementHandle::find_by_element_id(ui, "MaintMenu::content")
        .next()
        .expect("the menu's content");
    let (band, content) = (area(&band), area(&content));
    if content.3 <= band.3 + 1.0 {
        return;
    }
    let maint = ui.global::<apm_kiosk::ui::Maint>();
    maint.set_scroll_y(band.3 - content.3);
    let end = path.with_file_name(format!(
        "{}-end.png",
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("menu")
    ));
    ui_support::screenshot(ui, &end);
    check_menu_fit(ui, &format!("{at} (end)"));
    maint.set_scroll_y(0.0);
}

#[test]
fn the_maintenance_menu_portrait() {
    render_maint("portrait", 1080.0, 1920.0);
    update_readme_pictures("portrait", README_MAINT_SHOTS);
}

#[test]
fn the_maintenance_menu_landscape() {
    render_maint("landscape", 1920.0, 1080.0);
    update_readme_pictures("landscape", README_MAINT_SHOTS);
}

// The calendar, the session page and the idle panel as an applicant meets them: in
// both orientations and languages and with every reading aid, the pictures are taken
// and what they must say is checked, not only that they fit.

/// The README's pictures of the idle, date and session pages: (orientation, language,
/// shot, the README's name).
const CALENDAR_README_SHOTS: &[(&str, &str, &str, &str)] = &[
    ("portrait", "id", "calendar-idle", "portrait-id-idle"),
    ("portrait", "id", "calendar-date", "portrait-id-date"),
    ("portrait", "id", "calendar-session", "portrait-id-session"),
    ("landscape", "id", "calendar-date", "landscape-id-date"),
    ("landscape", "id", "calendar-idle", "landscape-id-idle"),
];

/// The family of three (one regular place, two priority) at Tanjung Balai Karimun's
/// calendar on Monday 23 November 2026: the window runs to 23 December, so two tiles
/// say 23. Tomorrow's second session holds one priority number: too few for them.
fn family_at_the_calendar(language: Language) -> Kiosk {
    let (lead, second, child) = ui_support::family(now().date_naive());
    let mut k = Kiosk::new(language, Timeouts::default(), now());
    let mut album = Album::default();
    identify_the_lead(&mut k, &mut album, &lead);
    add_the_family(&mut k, &mut album, &lead, &second, &child);
    intent(&mut k, Intent::FinishMembers);
    intent(
        &mut k,
        Intent::ChooseOffice {
            office_id: "KRM".into(),
        },
    );
    let krm = offices().remove(0);
    let mut held = availability(&krm);
    let tomorrow = krm.bookable_dates(now())[1];
    for slot in held
        .slots
        .iter_mut()
        .filter(|s| s.date == tomorrow && s.session_id == "S2")
    {
        slot.priority = 1;
    }
    step(&mut k, Event::AvailabilityLoaded(held));
    assert_eq!(flow::needs(&k.members), (1, 2), "the family's places");
    k
}

/// Five adults with the longest names (the walk's group of five) at the session page of
/// tomorrow, where the last session holds one regular number: too few for them.
fn five_at_the_session(language: Language) -> Kiosk {
    let mut album = Album::default();
    five_with_long_names(&mut album, language);
    let mut k = album
        .0
        .into_iter()
        .find(|s| s.name.ends_with("five-members"))
        .expect("the five on the members screen")
        .state;
    intent(&mut k, Intent::FinishMembers);
    intent(
        &mut k,
        Intent::ChooseOffice {
            office_id: "KRM".into(),
        },
    );
    let krm = offices().remove(0);
    step(&mut k, Event::AvailabilityLoaded(availability(&krm)));
    let tomorrow = krm.bookable_dates(now())[1];
    intent(&mut k, Intent::ChooseDate { date: tomorrow });
    k
}

/// The needs line and the too-small session's line for a group of five, as the
/// session page words them.
fn five_said(k: &Kiosk, language: Language) -> [String; 2] {
    let (regular, priority) = flow::needs(&k.members);
    assert_eq!(regular + priority, 5);
    match (language, priority) {
        (Language::Id, 0) => [
            "Rombongan Anda perlu 5 tempat, semuanya reguler.".into(),
            "Tidak cukup untuk 5 orang: sisa 1 reguler, rombongan Anda perlu 5".into(),
        ],
        (Language::En, 0) => [
            "Your group needs 5 places, all regular.".into(),
            "Not enough places for 5 people: 1 regular left, your group needs 5".into(),
        ],
        (Language::Id, p) => [
            format!("Rombongan Anda perlu 5 tempat: {regular} reguler, {p} prioritas."),
            format!("Tidak cukup untuk 5 orang: sisa 1 reguler, rombongan Anda perlu {regular}"),
        ],
        (Language::En, p) => [
            format!("Your group needs 5 places: {regular} regular, {p} priority."),
            format!("Not enough places for 5 people: 1 regular left, your group needs {regular}"),
        ],
    }
}

/// Three offices on the idle panel: one with places today, Batam full today but open
/// from Thursday, Makassar full with nothing held for later.
fn panel_full_today_open_later() -> PanelState {
    let mut p = panel();
    p.today.push(OfficeToday {
        office_name: "Kantor Imigrasi Kelas I TPI Makassar".into(),
        open_today: true,
        regular_left: 0,
        priority_left: 0,
        next_day: None,
    });
    p
}

/// What the three pages must say, in one language.
struct Said {
    months: [&'static str; 2],
    today: &'static str,
    tomorrow: &'static str,
    needs: &'static str,
    room: &'static str,
    too_small: &'static str,
    idle_today: &'static str,
    idle_later: &'static str,
    idle_none: &'static str,
    day_full: &'static str,
}

fn said(language: Language) -> Said {
    match language {
        Language::Id => Said {
            months: ["November 2026", "Desember 2026"],
            today: "Hari ini",
            tomorrow: "Besok",
            needs: "Rombongan Anda perlu 3 tempat: 1 reguler, 2 prioritas.",
            room: "Cukup untuk seluruh rombongan: sisa 14 reguler dan 4 prioritas di kios ini",
            too_small: "Tidak cukup untuk 3 orang: sisa 1 prioritas, rombongan Anda perlu 2",
            idle_today: "Hari ini: 12 reguler, 4 prioritas",
            idle_later: "Hari ini penuh, ada tempat mulai Kamis, 26 November",
            idle_none: "Hari ini penuh; belum ada tempat untuk hari-hari berikutnya di kios ini",
            day_full: "Hari itu sudah penuh di kios ini. Silakan pilih hari lain.",
        },
        Language::En => Said {
            months: ["November 2026", "December 2026"],
            today: "Today",
            tomorrow: "Tomorrow",
            needs: "Your group needs 3 places: 1 regular, 2 priority.",
            room: "Room for your whole group: 14 regular and 4 priority places left at this kiosk",
            too_small: "Not enough places for 3 people: 1 priority left, your group needs 2",
            idle_today: "Today: 12 regular, 4 priority",
            idle_later: "Full today; places from Thursday, 26 November",
            idle_none: "Full today; no places at this kiosk for the coming days yet",
            day_full: "That day is full at this kiosk. Please choose another day.",
        },
    }
}

/// Which of the three pages a picture shows.
#[derive(Clone)]
enum Met {
    Date,
    /// The calendar after a full day was tapped.
    DateFull,
    /// The session page for five: its needs line and the too-small session's.
    SessionFive([String; 2]),
    Session,
    Idle,
}

/// Whether two boxes overlap by more than a pixel.
fn overlap(a: Area, b: Area) -> bool {
    a.0 + 1.0 < b.0 + b.2 && b.0 + 1.0 < a.0 + a.2 && a.1 + 1.0 < b.1 + b.3 && b.1 + 1.0 < a.1 + a.3
}

/// Something shown on the page: its label, whether it is a button, and its box in the
/// page's own coordinates (as if not scrolled).
struct Seen {
    label: String,
    button: bool,
    area: Area,
}

/// Everything shown on the page, looked at scrolled to its top and, when it is taller
/// than the band, to its end: what lies wholly below the band is not there to be found
/// until scrolled to.
fn seen_on_page(ui: &KioskWindow) -> Vec<Seen> {
    let flow = ui.global::<apm_kiosk::ui::Flow>();
    let band = ElementHandle::find_by_element_id(ui, "KioskWindow::pages")
        .next()
        .expect("the page band");
    let look = |scroll: f32| -> Vec<Seen> {
        flow.set_scroll_y(scroll);
        i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(20));
        let page = ElementHandle::find_by_element_id(ui, "KioskWindow::page")
            .next()
            .expect("the page");
        shown(&page)
            .iter()
            .map(|e| {
                let (x, y, w, h) = area(e);
                Seen {
                    label: e.accessible_label().unwrap_or_default().to_string(),
                    button: e.accessible_role() == Some(AccessibleRole::Button),
                    area: (x, y - scroll, w, h),
                }
            })
            .collect()
    };
    let mut all = look(0.0);
    let end = (area(&band).3 - flow.get_page_height()).min(0.0);
    if end < 0.0 {
        for s in look(end) {
            let same = |x: &Seen| {
                x.label == s.label
                    && x.button == s.button
                    && (x.area.0 - s.area.0).abs() < 1.0
                    && (x.area.1 - s.area.1).abs() < 1.0
            };
            if !all.iter().any(same) {
                all.push(s);
            }
        }
    }
    flow.set_scroll_y(0.0);
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(20));
    all
}

/// The boxes of what is labelled `label` on the page.
fn boxes(seen: &[Seen], label: &str) -> Vec<Area> {
    seen.iter()
        .filter(|s| s.label == label)
        .map(|s| s.area)
        .collect()
}

/// The calendar: each month under its name, today's and tomorrow's tiles say so, the
/// group's needs are there, and nothing outside a tile (the legend, the headings) lies
/// over one.
fn check_calendar(seen: &[Seen], at: &str, view: &flow::view::View, said: &Said) {
    let day = |d: u32, m: u32| NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default();
    let tile = |date: NaiveDate| {
        let label = &view
            .dates
            .iter()
            .find(|x| x.date == date)
            .expect("a day of the window")
            .label;
        let found: Vec<Area> = seen
            .iter()
            .filter(|s| s.button && &s.label == label)
            .map(|s| s.area)
            .collect();
        assert_eq!(found.len(), 1, "{at}: the tiles of {date}: {found:?}");
        found[0]
    };
    for (date, word) in [(day(23, 11), said.today), (day(24, 11), said.tomorrow)] {
        let t = tile(date);
        assert!(
            boxes(seen, word).iter().any(|a| inside(*a, t)),
            "{at}: {word:?} is not on the tile of {date}"
        );
    }
    assert!(
        !boxes(seen, said.today)
            .iter()
            .any(|a| inside(*a, tile(day(23, 12)))),
        "{at}: the 23rd of next month says today"
    );
    let december = boxes(seen, said.months[1]);
    assert_eq!(december.len(), 1, "{at}: {:?}", said.months[1]);
    let december = december[0];
    let (nov30, dec1) = (tile(day(30, 11)), tile(day(1, 12)));
    // Below the last November row, and over December's first (portrait) or beside it
    // (landscape).
    assert!(
        december.1 >= nov30.1 + nov30.3
            && december.1 <= dec1.1 + 8.0
            && (december.1 + december.3 <= dec1.1 || december.0 + december.2 <= dec1.0),
        "{at}: {:?} at {december:?} is not between 30 November {nov30:?} and 1 December {dec1:?}",
        said.months[1]
    );
    for text in [said.months[0], said.needs] {
        assert!(!boxes(seen, text).is_empty(), "{at}: no {text:?}");
    }
    let tiles: Vec<Area> = view.dates.iter().map(|d| tile(d.date)).collect();
    for s in seen {
        if tiles.iter().any(|t| inside(s.area, *t)) {
            continue;
        }
        for t in &tiles {
            assert!(
                !overlap(s.area, *t),
                "{at}: {:?} at {:?} runs into a day's tile at {t:?}",
                s.label,
                s.area
            );
        }
    }
}

/// What each page must say, beyond fitting.
fn check_met(ui: &KioskWindow, at: &str, met: &Met, view: &flow::view::View, said: &Said) {
    let seen = seen_on_page(ui);
    let says = |text: &str| {
        assert!(
            !boxes(&seen, text).is_empty(),
            "{at}: does not say {text:?}"
        );
    };
    match met {
        Met::Date => check_calendar(&seen, at, view, said),
        Met::DateFull => {
            check_calendar(&seen, at, view, said);
            // The refusal is in view where the page starts, not below the fold: the
            // notice, and the text in it that is labelled alike.
            let band = ElementHandle::find_by_element_id(ui, "KioskWindow::pages")
                .next()
                .expect("the page band");
            let notice = boxes(&seen, said.day_full)
                .into_iter()
                .max_by(|a, b| (a.2 * a.3).total_cmp(&(b.2 * b.3)))
                .unwrap_or_else(|| panic!("{at}: no {:?}", said.day_full));
            assert!(
                inside(notice, area(&band)),
                "{at}: the refusal at {notice:?} is not in view in {:?}",
                area(&band)
            );
        }
        Met::SessionFive(lines) => {
            for line in lines {
                says(line);
            }
        }
        Met::Session => {
            says(said.needs);
            says(said.room);
            says(said.too_small);
        }
        Met::Idle => {
            says(said.idle_today);
            says(said.idle_later);
            says(said.idle_none);
            // The place in full, on a line of its own.
            says("Tanjung Balai Karimun");
            says("Kantor Imigrasi Kelas II TPI");
        }
    }
}

/// The pages an applicant meets in one language: (picture's name, what it must say,
/// the flow's state).
fn calendar_cases(language: Language) -> Vec<(&'static str, Met, Kiosk)> {
    let date = family_at_the_calendar(language);
    let bookable = offices()[0].bookable_dates(now());
    let mut session = date.clone();
    intent(&mut session, Intent::ChooseDate { date: bookable[1] });
    let mut full = date.clone();
    intent(&mut full, Intent::ChooseDate { date: bookable[2] });
    let mut idle = Kiosk::new(language, Timeouts::default(), now());
    step(&mut idle, Event::CatalogChanged(offices()));
    let five = five_at_the_session(language);
    let five_lines = five_said(&five, language);
    vec![
        ("calendar-idle", Met::Idle, idle),
        ("calendar-date", Met::Date, date),
        ("calendar-date-full", Met::DateFull, full),
        ("calendar-session", Met::Session, session.clone()),
        ("calendar-session-long-labels", Met::Session, session),
        ("calendar-session-five", Met::SessionFive(five_lines), five),
    ]
}

/// One page in every reading aid: its pictures, and that it fits and says what it must.
fn render_every_aid(ui: &KioskWindow, at: (&str, &str, &str), met: &Met, view: &flow::view::View) {
    let (orientation, lang, name) = at;
    let said = said(view.language);
    let theme = ui.global::<Theme>();
    for (aid, contrast, large) in [
        ("", false, false),
        ("-contrast", true, false),
        ("-large", false, true),
        ("-contrast-large", true, true),
    ] {
        theme.set_high_contrast(contrast);
        theme.set_large_text(large);
        let path = out_dir()
            .join(orientation)
            .join(lang)
            .join(format!("{name}{aid}.png"));
        ui_support::screenshot(ui, &path);
        let at = format!("{orientation} {lang} {name}{aid}");
        check_targets(ui, orientation, lang, &format!("{name}{aid}"));
        check_fit(ui, &at, &path);
        check_met(ui, &at, met, view, &said);
    }
    theme.set_high_contrast(false);
    theme.set_large_text(false);
}

fn render_calendar_cases(orientation: &str, width: f32, height: f32) {
    ui_support::init();
    let ui = ui_support::window(width, height);
    for language in [Language::Id, Language::En] {
        let lang = if language == Language::Id { "id" } else { "en" };
        for (name, met, state) in calendar_cases(language) {
            let mut view = flow::view::view(&state, now());
            // Room for a session's label worded at its longest: its number and the part
            // of the day before the times.
            if name.ends_with("long-labels") {
                for (i, session) in view.sessions.iter_mut().enumerate() {
                    session.label = format!("Sesi {} (siang) {}", i + 1, session.label);
                }
            }
            adapter::apply(&ui, &view, &panel_full_today_open_later());
            render_every_aid(&ui, (orientation, lang, name), &met, &view);
        }
    }
    if std::env::var_os("APM_UPDATE_SCREENSHOTS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/screenshots");
        std::fs::create_dir_all(&dir).expect("ui/screenshots");
        for (o, lang, shot, to) in CALENDAR_README_SHOTS.iter().filter(|s| s.0 == orientation) {
            let from = out_dir().join(o).join(lang).join(format!("{shot}.png"));
            half(&from, &dir.join(format!("{to}.png")));
        }
    }
}

#[test]
fn calendar_session_and_idle_as_applicants_meet_them_portrait() {
    render_calendar_cases("portrait", 1080.0, 1920.0);
}

#[test]
fn calendar_session_and_idle_as_applicants_meet_them_landscape() {
    render_calendar_cases("landscape", 1920.0, 1080.0);
}
