//! The whole daemon on fakes in memory (`apm_kiosk_testkit::daemon`), on paused time:
//! the flow, the store on its writer thread, the printer worker, the sync loop and the
//! maintenance side are the daemon's own; only the serial and HTTP code below them is
//! replaced. A walk-away's 80 seconds, a sync backoff and a day of heartbeats pass at
//! once, and every wait is on what the kiosk shows or does, never on the wall clock.

use std::time::Duration;

use apm_kiosk::control::{Command, Reply};
use apm_kiosk::domain::{ApplicationType, PassportType};
use apm_kiosk::flow::view::{DayState, ScreenKind};
use apm_kiosk::flow::{Intent, Problem};
use apm_kiosk::hardware::printer::PrinterState;
use apm_kiosk::identity::{Enrollment, KioskKey};
use apm_kiosk::protocol::central::Key32;
use apm_kiosk::protocol::ticket_qr::{self, Checker, KeyLookup, Version};
use apm_kiosk_testkit::daemon::{DaemonOnFakes, held_until};
use apm_kiosk_testkit::fakes::{Endpoint, FakeCentral, Fault};
use apm_kiosk_testkit::fixtures::{card, nik, tuesday_morning};

/// Sync rounds until the kiosk holds queue numbers to book with.
async fn wait_numbers(kiosk: &DaemonOnFakes) {
    for _ in 0..5 {
        if kiosk.sync_round().await.store.held_free > 0 {
            return;
        }
    }
    panic!("no queue numbers after 5 sync rounds");
}

/// The applicant whose card is on the reader, from the card to the members screen.
async fn read_and_confirm(kiosk: &mut DaemonOnFakes, nik: &str) {
    read_and_confirm_card(kiosk, card(nik)).await;
}

/// [`read_and_confirm`] with the card as given; returns the view that asked the
/// applicant to confirm the data read.
async fn read_and_confirm_card(
    kiosk: &mut DaemonOnFakes,
    data: apm_kiosk::protocol::reader::CardData,
) -> std::sync::Arc<apm_kiosk::flow::view::View> {
    kiosk.wait_screen(ScreenKind::ReadCard).await;
    kiosk.reader.present_card(data);
    let confirm = kiosk.wait_screen(ScreenKind::ConfirmIdentity).await;
    kiosk.reader.remove_card();
    kiosk.tap(Intent::ConfirmIdentity).await;
    kiosk.wait_screen(ScreenKind::Details).await;
    kiosk
        .tap(Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        })
        .await;
    kiosk
        .tap(Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        })
        .await;
    kiosk.tap(Intent::ConfirmDetails).await;
    kiosk.wait_screen(ScreenKind::Members).await;
    confirm
}

/// A group of `niks` from the idle screen to the review, on the first open day and
/// the first bookable session.
async fn book_until_review(kiosk: &mut DaemonOnFakes, niks: &[String]) {
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(kiosk, &niks[0]).await;
    for n in &niks[1..] {
        kiosk.tap(Intent::AddMemberByCard).await;
        read_and_confirm(kiosk, n).await;
    }
    choose_until_review(kiosk).await;
}

/// From the members screen to the review: the first office, open day and bookable
/// session.
async fn choose_until_review(kiosk: &mut DaemonOnFakes) {
    choose_until_review_on(kiosk, |_| true).await;
}

/// [`choose_until_review`] on the first open day that `day` keeps.
async fn choose_until_review_on(
    kiosk: &mut DaemonOnFakes,
    day: impl Fn(&apm_kiosk::flow::view::DateView) -> bool,
) {
    kiosk.tap(Intent::FinishMembers).await;
    let view = kiosk.wait_screen(ScreenKind::Office).await;
    let office_id = view.offices[0].office_id.clone();
    kiosk.tap(Intent::ChooseOffice { office_id }).await;
    let view = kiosk.wait_screen(ScreenKind::Date).await;
    let date = view
        .dates
        .iter()
        .find(|d| d.status == DayState::Open && day(d))
        .expect("an open day")
        .date;
    kiosk.tap(Intent::ChooseDate { date }).await;
    let view = kiosk.wait_screen(ScreenKind::Session).await;
    let session_id = view
        .sessions
        .iter()
        .find(|s| s.bookable)
        .expect("a bookable session")
        .session_id
        .clone();
    kiosk.tap(Intent::ChooseSession { session_id }).await;
    kiosk.wait_screen(ScreenKind::Review).await;
}

/// The QR payload in a printed ticket job: it is sent as the data of the printer's QR
/// command, plain ASCII from its `APM` prefix to the next command byte.
fn printed_qr(job: &[u8]) -> String {
    let start = job
        .windows(4)
        .position(|w| w == b"APM2" || w == b"APM1")
        .expect("the job carries a QR payload");
    job[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        .map(|&b| char::from(b))
        .collect()
}

/// Each printed ticket's QR is an APM2 payload that a counter holding the service's NIK
/// hash key (the kiosk's enrollment's) and the kiosk's public key verifies, one for
/// each member of `family`.
fn assert_printed_qrs_are_apm2(kiosk: &DaemonOnFakes, family: &[String]) {
    let state_dir = &kiosk.config.kiosk.state_dir;
    let enrollment = Enrollment::load(state_dir)
        .expect("the enrollment reads")
        .expect("the kiosk is enrolled");
    let public = KioskKey::load_or_create(state_dir)
        .expect("the kiosk's key reads")
        .verifying_key();
    let lookup = |kiosk_id: &str| {
        if kiosk_id == enrollment.kiosk_id {
            KeyLookup::Known(public)
        } else {
            KeyLookup::Unknown
        }
    };
    let nik_hash_key = Key32(enrollment.nik_hash_key);
    let checker = Checker {
        keys: &lookup,
        nik_hash_key: Some(&nik_hash_key),
        today: tuesday_morning().date_naive(),
    };
    let mut holders = std::collections::BTreeSet::new();
    for job in kiosk.printer.jobs() {
        let payload = printed_qr(&job.bytes);
        let holder = family
            .iter()
            .find(|nik| ticket_qr::verify(&payload, nik, &checker).is_ok())
            .unwrap_or_else(|| panic!("{payload} verifies for no member of the family"));
        let verified = ticket_qr::verify(&payload, holder, &checker).expect("verifies");
        assert_eq!(verified.version, Version::Apm2, "{payload}");
        assert!(payload.starts_with("APM2."), "{payload}");
        holders.insert(holder.clone());
    }
    assert_eq!(holders.len(), family.len(), "a ticket for each member");
}

#[tokio::test(start_paused = true)]
async fn a_family_of_three_books_prints_and_reaches_the_service_once() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    let family = [nik(1), nik(2), nik(3)];
    book_until_review(&mut kiosk, &family).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    let done = kiosk.wait_screen(ScreenKind::Done).await;
    let booking = done.booking.as_ref().expect("the booking is shown");
    assert_eq!(booking.tickets.len(), 3);

    let jobs = kiosk.printer.jobs();
    assert_eq!(jobs.len(), 3, "one job a ticket");
    assert!(jobs.iter().all(|j| j.whole));
    assert_printed_qrs_are_apm2(&kiosk, &family);
    // The booking nudged the sync loop: the three reach the service, once each.
    kiosk.sync_round().await;
    let sent = kiosk.central.registrations();
    assert_eq!(sent.len(), 3, "each registration once");
    let numbers: std::collections::BTreeSet<_> = sent.iter().map(|r| r.queue_number).collect();
    assert_eq!(numbers.len(), 3, "three different numbers");
    kiosk.tap(Intent::Finish).await;
    kiosk.wait_screen(ScreenKind::Idle).await;
    assert_eq!(kiosk.stop().await, apm_kiosk::app::Stopped::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_walk_away_is_warned_then_wiped_on_the_kiosks_own_clock() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(&mut kiosk, &nik(7)).await;
    // `inactivity_warning_s = 60` and `inactivity_reset_s = 20` in the fakes' config;
    // the flow hears the time once a second.
    tokio::time::sleep(Duration::from_secs(58)).await;
    assert!(
        kiosk.view().warning_seconds_left.is_none(),
        "not warned before 60 s"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let warned = kiosk.view();
    assert_eq!(warned.screen, ScreenKind::Members);
    let left = warned.warning_seconds_left.expect("warned after 60 s");
    assert!((18..=20).contains(&left), "{left} s left to answer");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        kiosk.view().screen,
        ScreenKind::Members,
        "not wiped before 80 s"
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    let idle = kiosk.view();
    assert_eq!(idle.screen, ScreenKind::Idle, "wiped after 80 s");
    assert!(idle.applicant.is_none() && idle.members.is_empty());
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn paper_out_mid_ticket_keeps_the_booking_and_prints_it_whole_as_a_copy() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    book_until_review(&mut kiosk, &[nik(11)]).await;
    // The roll ends 200 bytes into the ticket.
    kiosk.printer.paper_out_after(200);
    kiosk.tap(Intent::ConfirmBooking).await;
    let problem = kiosk.wait_screen(ScreenKind::Problem).await;
    assert!(
        matches!(problem.problem, Some(Problem::Print { .. })),
        "{:?}",
        problem.problem
    );
    let jobs = kiosk.printer.jobs();
    assert_eq!(jobs.len(), 1);
    assert!(!jobs[0].whole, "the first job was cut short");
    // The booking was kept, and goes to the service whatever the paper does.
    kiosk.sync_round().await;
    assert_eq!(kiosk.central.registrations().len(), 1);
    // The applicant goes for an officer: five minutes on, the code and the number are
    // still on screen, unwarned, and the screen says for how long.
    tokio::time::sleep(Duration::from_secs(300)).await;
    let later = kiosk.view();
    assert_eq!(later.screen, ScreenKind::Problem);
    assert_eq!(later.warning_seconds_left, None);
    let stays = later
        .stays_seconds
        .expect("the screen says how long it stays");
    assert!((290..=305).contains(&stays), "{stays} s left of 600");
    let booking = later.booking.as_ref().expect("the booking is shown");
    assert!(booking.booking_code.is_some() && booking.tickets.len() == 1);
    // On without a ticket: the done page says it did not print.
    kiosk.tap(Intent::Dismiss).await;
    let done = kiosk.wait_screen(ScreenKind::Done).await;
    assert_eq!(
        done.unprinted,
        Some(apm_kiosk::flow::PrintFailure::PaperOut)
    );

    // A new roll: the worker's backlog poll prints the ticket again, whole, marked COPY.
    kiosk.printer.load_paper();
    held_until("the ticket printed again", || {
        kiosk.printer.jobs().len() == 2
    })
    .await;
    let jobs = kiosk.printer.jobs();
    assert_eq!(jobs.len(), 2, "printed again once");
    assert!(jobs[1].whole);
    let copy = String::from_utf8_lossy(&jobs[1].bytes);
    assert!(
        copy.contains("SALINAN"),
        "the second print is marked as a copy"
    );
    assert_eq!(kiosk.printer.jobs().len(), 2);
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_service_that_fails_for_an_hour_loses_nothing_and_is_caught_up() {
    let central = FakeCentral::new();
    let mut kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    central.fail_always(Endpoint::Upload, Fault::Unreachable);
    book_until_review(&mut kiosk, &[nik(21), nik(22)]).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    // An hour of the loop backing off, then rounds asked for by a technician.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    kiosk.sync_round().await;
    let status = kiosk.sync_round().await;
    assert!(central.registrations().is_empty());
    let tries = central.calls(Endpoint::Upload);
    assert!(tries >= 2, "the upload was tried again: {tries}");
    assert_eq!(status.store.pending, 2, "both kept for the next try");
    assert!(status.sync.consecutive_failures >= 2);

    central.heal();
    let status = kiosk.sync_round().await;
    assert_eq!(
        central.registrations().len(),
        2,
        "each once, after the outage"
    );
    assert_eq!(status.store.pending, 0);
    assert_eq!(status.printer, PrinterState::Ok);
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_technicians_release_with_its_answer_lost_is_sent_again_and_never_booked() {
    use apm_kiosk::control::MaintCommand;
    let central = FakeCentral::new();
    let kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    // The first held day, given back by a technician; the service frees the numbers
    // but its answer never arrives.
    let date = apm_kiosk_testkit::fixtures::day("2026-12-02");
    central.fail_next(Endpoint::Release, Fault::LoseAnswer);
    let answer = kiosk
        .command(Command::from(MaintCommand::ReleaseHeld {
            office_id: "KRM".into(),
            date,
        }))
        .await;
    assert!(
        matches!(answer, Reply::Failed(_)),
        "the technician is told the service did not answer: {answer:?}"
    );
    // Out of booking at once, and the sync loop sends the release again until answered.
    kiosk.sync_round().await;
    assert!(central.release_requests().len() >= 2, "sent again");
    // Every number given back is out of booking in the kiosk's store, and none booked.
    let db = rusqlite::Connection::open(kiosk.db()).expect("the store opens for reading");
    let given_back: Vec<(String, u32)> = central
        .release_requests()
        .iter()
        .flat_map(|r| r.releases.clone())
        .flat_map(|r| {
            r.numbers
                .into_iter()
                .map(move |n| (r.allocation_id.clone(), n))
        })
        .collect();
    assert!(!given_back.is_empty());
    for (allocation, number) in &given_back {
        let (released, booked): (i64, Option<String>) = db
            .query_row(
                "SELECT released, registration_id FROM held_numbers
                 WHERE allocation_id = ?1 AND number = ?2",
                rusqlite::params![allocation, number],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("the number is in the store");
        assert_eq!(
            (released, booked),
            (1, None),
            "number {number} of {allocation}"
        );
    }
    let released = central.numbers_released();
    assert!(released > 0);
    // Numbers are counted once however often the release is sent.
    assert_eq!(central.numbers_released(), released);
    kiosk.stop().await;
}

// --- a hostile world: the disk, the clock, the store, the card, the reader ----------

use apm_kiosk::flow::{CardProblem, HoldReason, HoldSource};
use apm_kiosk_testkit::daemon::Start;
use apm_kiosk_testkit::fakes::FakeDisk;

const MIB: u64 = 1024 * 1024;

/// What the idle screen says of the kiosk's service, once it says `want`.
async fn wait_hold(kiosk: &mut DaemonOnFakes, want: Option<HoldReason>) {
    kiosk
        .wait_view(&format!("out_of_service {want:?}"), |v| {
            v.out_of_service == want
        })
        .await;
}

/// A tap on "start" and a card laid on the reader leave the kiosk on its idle screen.
async fn assert_nobody_starts(kiosk: &mut DaemonOnFakes, why: HoldReason) {
    kiosk.tap(Intent::Start).await;
    kiosk.reader.present_card(card(&nik(90)));
    // Real time for the reader's thread and the main loop to take both, tokio's held.
    apm_kiosk_testkit::daemon::held(
        "the tap and the card taken",
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(100))),
    )
    .await
    .expect("a blocking sleep");
    let status = kiosk.status().await;
    kiosk.reader.remove_card();
    assert_eq!(status.out_of_service, Some(why));
    let view = kiosk.view();
    assert_eq!(view.screen, ScreenKind::Idle, "{view:?}");
    assert_eq!(view.out_of_service, Some(why));
    assert!(
        view.card_problem.is_none() && view.problem.is_none(),
        "{view:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_disk_stops_bookings_before_anyone_starts_and_they_come_back_with_the_space() {
    let central = FakeCentral::new();
    let mut kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    wait_hold(&mut kiosk, None).await;

    // The disk fills between two minutes' looks: the next applicant's tap finds it.
    kiosk.disk().set_free(Some(apm_kiosk::disk::FULL_BYTES - 1));
    assert_nobody_starts(&mut kiosk, HoldReason::DiskFull).await;
    let report = kiosk.report().await;
    assert!(
        report
            .holds
            .iter()
            .any(|h| h.source == HoldSource::Disk && h.reason == "disk_full"),
        "{:?}",
        report.holds
    );
    assert!(
        report.problems.iter().any(|p| p.starts_with("disk full")),
        "{:?}",
        report.problems
    );
    // The heartbeat tells the service the kiosk is out of service.
    tokio::time::sleep(Duration::from_secs(61)).await;
    kiosk.sync_round().await;
    let beat = central.heartbeats().last().cloned().expect("a heartbeat");
    assert!(beat.out_of_service, "{beat:?}");

    // Space is freed: within the minute, with nobody at the kiosk, it books again.
    kiosk.disk().set_free(Some(2 << 30));
    tokio::time::sleep(Duration::from_secs(61)).await;
    wait_hold(&mut kiosk, None).await;
    book_until_review(&mut kiosk, &[nik(31)]).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_start_on_a_full_disk_is_out_of_service_and_a_failed_one_says_disk_full_and_where() {
    let disk = FakeDisk::with_free(10 * MIB);
    let start = Start {
        disk: disk.clone(),
        ..Start::default()
    };
    let mut kiosk = DaemonOnFakes::start_as(FakeCentral::new(), start).await;
    wait_hold(&mut kiosk, Some(HoldReason::DiskFull)).await;
    assert_nobody_starts(&mut kiosk, HoldReason::DiskFull).await;

    // The database cannot be opened on the full disk (its WAL cannot be made): the
    // start fails, and says why in the technician's words, not SQLite's.
    let stopped = kiosk.halt().await;
    let db = stopped.db();
    for end in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{end}", db.display()));
    }
    std::fs::create_dir(format!("{}-wal", db.display())).expect("a WAL that cannot be made");
    let (e, stopped) = match stopped.launch().await {
        Ok(_) => panic!("the daemon started on a database it cannot open"),
        Err(failed) => failed,
    };
    let said = format!("{e:#}");
    assert!(said.starts_with("disk full"), "{said}");
    assert!(
        said.contains(&stopped.state_dir().display().to_string()),
        "{said}"
    );
    assert!(said.contains("10 MiB free"), "{said}");

    // Space back and the WAL can be made: it starts, in service.
    std::fs::remove_dir(format!("{}-wal", db.display())).expect("removed");
    disk.set_free(Some(2 << 30));
    let Ok(mut kiosk) = stopped.launch().await else {
        panic!("the daemon starts once space is back");
    };
    wait_hold(&mut kiosk, None).await;
    kiosk.stop().await;
}

fn years(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::days(365 * n)
}

#[tokio::test(start_paused = true)]
async fn an_impossible_clock_is_out_of_service_instead_of_refusing_nik_and_comes_back_by_itself() {
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let start = Start {
        clock_at: Some(epoch),
        ..Start::default()
    };
    let mut kiosk = DaemonOnFakes::start_as(FakeCentral::new(), start).await;
    // 1970: a flat RTC battery. Nobody is told their NIK is invalid: nobody starts.
    wait_hold(&mut kiosk, Some(HoldReason::ClockWrong)).await;
    assert_nobody_starts(&mut kiosk, HoldReason::ClockWrong).await;
    let report = kiosk.report().await;
    assert!(
        report.problems.iter().any(|p| p.starts_with("clock wrong")),
        "{:?}",
        report.problems
    );
    assert!(
        report.holds.iter().any(|h| h.source == HoldSource::Clock),
        "{:?}",
        report.holds
    );
    // NTP sets it right: back in service within the minute, by itself.
    kiosk.set_clock(kiosk.world_now());
    tokio::time::sleep(Duration::from_secs(61)).await;
    wait_hold(&mut kiosk, None).await;
    wait_numbers(&kiosk).await;

    // Six years back, then five ahead: each found at the next tap, before a session
    // (the last heartbeat's measure, carried on the monotonic clock, sees the jump).
    for wrong in [kiosk.world_now() - years(6), kiosk.world_now() + years(5)] {
        kiosk.set_clock(wrong);
        assert_nobody_starts(&mut kiosk, HoldReason::ClockWrong).await;
        kiosk.set_clock(kiosk.world_now());
        tokio::time::sleep(Duration::from_secs(61)).await;
        wait_hold(&mut kiosk, None).await;
    }
    book_until_review(&mut kiosk, &[nik(41)]).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_clock_ahead_is_found_by_the_heartbeat_and_one_behind_the_services_word_at_restart() {
    let central = FakeCentral::new();
    let kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    let this_year = "SELECT COUNT(*) FROM held_numbers
         WHERE registration_id IS NULL AND released = 0 AND date < '2027-01-01'";
    let held = count(&kiosk, this_year);
    assert!(held > 0);

    // Restarted five years ahead: nothing on the kiosk says so until the service does.
    let world = kiosk.world_now();
    let stopped = kiosk.halt().await;
    stopped.set_clock(world + years(5));
    let Ok(mut kiosk) = stopped.launch().await else {
        panic!("the daemon starts");
    };
    wait_hold(&mut kiosk, None).await;
    let status = kiosk.sync_round().await;
    assert!(status.sync.clock_alert, "{:?}", status.sync);
    // The round before the heartbeat took 2031 for today, and still kept every number.
    assert_eq!(count(&kiosk, this_year), held);
    // The next minute's look takes the heartbeat's measure.
    tokio::time::sleep(Duration::from_secs(61)).await;
    wait_hold(&mut kiosk, Some(HoldReason::ClockWrong)).await;
    assert_nobody_starts(&mut kiosk, HoldReason::ClockWrong).await;

    // A day behind what the service last said, restarted with the service out of reach:
    // the store kept its word, and the kiosk does not book on that clock.
    let world = kiosk.world_now();
    let stopped = kiosk.halt().await;
    stopped.set_clock(world - chrono::TimeDelta::days(1));
    for endpoint in [Endpoint::Heartbeat, Endpoint::Offices, Endpoint::Allocate] {
        central.fail_always(endpoint, Fault::Unreachable);
    }
    let Ok(mut kiosk) = stopped.launch().await else {
        panic!("the daemon starts");
    };
    wait_hold(&mut kiosk, Some(HoldReason::ClockWrong)).await;
    assert_nobody_starts(&mut kiosk, HoldReason::ClockWrong).await;
    // Days offline are no fault of the clock's: set right, it books offline.
    kiosk.set_clock(kiosk.world_now() + chrono::TimeDelta::days(3));
    tokio::time::sleep(Duration::from_secs(61)).await;
    wait_hold(&mut kiosk, None).await;
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_database_deleted_or_emptied_after_booking_is_refused_at_start_with_what_to_do() {
    let central = FakeCentral::new();
    central.fail_always(Endpoint::Allocate, Fault::Unreachable);
    let kiosk = DaemonOnFakes::start(central.clone()).await;
    kiosk.sync_round().await;
    // Before anything is held, a new database is no loss: a kiosk may start anew.
    let stopped = kiosk.halt().await;
    let db = stopped.db();
    std::fs::remove_file(&db).expect("removed");
    let mut kiosk = match stopped.launch().await {
        Ok(kiosk) => kiosk,
        Err((e, _)) => panic!("a kiosk that never held anything starts anew: {e:#}"),
    };
    central.heal();
    wait_numbers(&kiosk).await;
    book_until_review(&mut kiosk, &[nik(51)]).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    let mut stopped = kiosk.halt().await;
    let keep = stopped.state_dir().join("kept.db");
    std::fs::copy(&db, &keep).expect("a copy of the database");

    // (what is done to the file, what the refusal says)
    type Harm = fn(&std::path::Path);
    let cases: [(&str, Harm); 2] = [
        ("is missing", |db| {
            std::fs::remove_file(db).expect("removed")
        }),
        ("is empty", |db| std::fs::write(db, b"").expect("emptied")),
    ];
    for (said, harm) in cases {
        for end in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{end}", db.display()));
        }
        harm(&db);
        let (e, back) = match stopped.launch().await {
            Ok(_) => panic!("the daemon started on a database that {said}"),
            Err(failed) => failed,
        };
        let e = format!("{e:#}");
        assert!(
            e.contains(said) && e.contains(&db.display().to_string()),
            "{e}"
        );
        assert!(
            e.contains("A lost database") && e.contains("install.md"),
            "{e}"
        );
        stopped = back;
    }
    // The database put back (install.md's first step): it starts, with its booking.
    std::fs::copy(&keep, &db).expect("put back");
    let Ok(kiosk) = stopped.launch().await else {
        panic!("the daemon starts on its own database put back");
    };
    assert_eq!(kiosk.status().await.store.registrations, 1);
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn card_fields_outside_the_ktps_limits_are_data_corrupt_and_bidi_controls_are_stripped() {
    let central = FakeCentral::new();
    let mut kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    // (the name on the chip) each refused as data_corrupt, nothing of it shown.
    for name in ["A".repeat(4024), String::new(), "SITI\u{7}AMINAH".into()] {
        kiosk.wait_screen(ScreenKind::Idle).await;
        kiosk.tap(Intent::Start).await;
        let fresh = kiosk.wait_screen(ScreenKind::ReadCard).await;
        assert!(fresh.card_problem.is_none());
        let mut bad = card(&nik(61));
        bad.name = name;
        kiosk.reader.present_card(bad);
        let view = kiosk
            .wait_view("data_corrupt", |v| {
                v.card_problem == Some(CardProblem::DataCorrupt)
            })
            .await;
        assert_eq!(view.screen, ScreenKind::ReadCard);
        assert!(view.applicant.is_none());
        kiosk.reader.remove_card();
        kiosk.tap(Intent::Cancel).await;
    }
    // A name with a right-to-left override: shown, printed and sent without it.
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    let mut turned = card(&nik(62));
    turned.name = "SITI \u{202E}HANIMA".into();
    let view = read_and_confirm_card(&mut kiosk, turned).await;
    let shown = view.applicant.as_ref().expect("the applicant shown");
    assert_eq!(shown.name.as_deref(), Some("SITI HANIMA"));
    choose_until_review(&mut kiosk).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    let override_bytes = "\u{202E}".as_bytes();
    let job = kiosk.printer.jobs().pop().expect("the ticket printed");
    assert!(!job.bytes.windows(3).any(|w| w == override_bytes));
    kiosk.sync_round().await;
    let sent = central.registrations();
    assert_eq!(sent.len(), 1);
    let json = serde_json::to_string(&sent[0]).expect("json");
    assert!(
        json.contains("SITI HANIMA") && !json.contains('\u{202E}'),
        "{json}"
    );
    kiosk.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_the_reader_unplugged_no_session_starts_and_the_idle_screen_says_why() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_hold(&mut kiosk, None).await;
    kiosk
        .reader
        .emit(apm_kiosk::hardware::reader::ReaderEvent::Disconnected {
            reason: "/dev/ttyUSB0 is gone: check the reader's USB cable".into(),
        });
    wait_hold(&mut kiosk, Some(HoldReason::ReaderGone)).await;
    assert_nobody_starts(&mut kiosk, HoldReason::ReaderGone).await;
    kiosk
        .reader
        .emit(apm_kiosk::hardware::reader::ReaderEvent::Connected(
            apm_kiosk_testkit::fakes::FakeReader::info(),
        ));
    wait_hold(&mut kiosk, None).await;
    kiosk.tap(Intent::Start).await;
    kiosk.wait_screen(ScreenKind::ReadCard).await;
    kiosk.stop().await;
}

/// Whether `text` is anywhere in the bytes of the kiosk's database or its WAL.
fn on_disk(kiosk: &DaemonOnFakes, text: &str) -> bool {
    let db = kiosk.db();
    [db.clone(), db.with_file_name("kiosk.db-wal")]
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .any(|bytes| bytes.windows(text.len()).any(|w| w == text.as_bytes()))
}

/// A number from the kiosk's database, read beside the running daemon.
fn count(kiosk: &DaemonOnFakes, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(kiosk.db()).expect("the store opens for reading");
    db.query_row(sql, [], |r| r.get(0)).expect("counted")
}

#[tokio::test(start_paused = true)]
async fn retention_runs_offline_by_the_offices_date_and_the_nik_leaves_the_db_and_its_wal() {
    let central = FakeCentral::new();
    let mut kiosk = DaemonOnFakes::start(central.clone()).await;
    wait_numbers(&kiosk).await;
    central.fail_always(Endpoint::Upload, Fault::Unreachable);
    let applicant = nik(71);
    book_until_review(&mut kiosk, std::slice::from_ref(&applicant)).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    kiosk.tap(Intent::Finish).await;
    // Not yet answered: the applicant record, full NIK and all, is kept for the upload.
    assert!(
        on_disk(&kiosk, &applicant),
        "the NIK is kept until the upload"
    );

    // Accepted: the record is cleared, and the NIK leaves the WAL as well as the file.
    central.heal();
    let status = kiosk.sync_round().await;
    assert_eq!(status.store.accepted, 1);
    assert!(!on_disk(&kiosk, &applicant), "the NIK left the disk");
    assert!(
        on_disk(&kiosk, "SITI AMINAH"),
        "the name is kept for reprints"
    );

    // The island goes offline; the visit date passes at the office.
    for e in [
        Endpoint::Offices,
        Endpoint::Allocate,
        Endpoint::Upload,
        Endpoint::Heartbeat,
    ] {
        central.fail_always(e, Fault::Unreachable);
    }
    let cleared =
        "SELECT COUNT(*) FROM registrations WHERE ticket_name IS NULL AND masked_nik = ''";
    assert_eq!(count(&kiosk, cleared), 0);
    tokio::time::advance(Duration::from_secs(3 * 86_400)).await;
    // Cleared, then the WAL checkpointed: a read between the two still finds the name
    // in the WAL, so the test waits for both (and fails if either never happens).
    held_until(
        "the past visit cleared and the name gone from the disk",
        || count(&kiosk, cleared) == 1 && !on_disk(&kiosk, "SITI AMINAH"),
    )
    .await;
    assert_eq!(count(&kiosk, "SELECT COUNT(*) FROM registrations"), 1);

    // 30 days after the booking its QR and keyed hash have no rule left to serve.
    tokio::time::advance(Duration::from_secs(28 * 86_400)).await;
    held_until("the expired registration gone, its QR off the disk", || {
        count(&kiosk, "SELECT COUNT(*) FROM registrations") == 0 && !on_disk(&kiosk, "APM2.")
    })
    .await;
    assert_eq!(count(&kiosk, "SELECT COUNT(*) FROM groups"), 0);
    kiosk.stop().await;
}

/// The audit log as the store keeps it, oldest first: (event, detail).
fn audit_lines(db: &std::path::Path) -> Vec<(String, String)> {
    let store = apm_kiosk::store::Store::open(db).expect("store opens");
    let mut lines: Vec<(String, String)> = store
        .audit_tail(1000)
        .expect("audit")
        .into_iter()
        .map(|(_, event, detail)| (event, detail))
        .collect();
    lines.reverse();
    lines
}

#[tokio::test(start_paused = true)]
async fn an_officer_called_from_the_help_panel_reaches_the_audit_the_report_and_the_status() {
    use apm_kiosk::hardware::reader::{ReaderCommand, Signal};
    let extra = "\n[help]\nphone = \"+62 777 123 456\"\n";
    let mut kiosk = DaemonOnFakes::start_with(FakeCentral::new(), true, extra).await;
    wait_numbers(&kiosk).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(&mut kiosk, &nik(8)).await;
    kiosk.tap(Intent::Help).await;
    let help = kiosk
        .wait_view("the help panel", |v| v.help.is_some())
        .await;
    assert_eq!(help.screen, ScreenKind::Members, "the page stays beneath");
    let shown = help.help.clone().expect("help");
    assert_eq!(shown.phone.as_deref(), Some("+62 777 123 456"));
    assert!(shown.kiosk_id.is_some(), "an enrolled kiosk shows its id");
    kiosk.tap(Intent::CallOfficer).await;
    kiosk
        .wait_view("the call said", |v| {
            v.help.as_ref().is_some_and(|h| h.called)
        })
        .await;
    let report = kiosk.report().await;
    assert_eq!(report.officer_calls.total, 1);
    assert_eq!(report.officer_calls.open.len(), 1);
    assert_eq!(report.officer_calls.open[0].screen, ScreenKind::Members);
    assert!(
        report.problems[0].contains("officer call"),
        "someone waiting comes first: {:?}",
        report.problems
    );
    let status = kiosk.status().await;
    assert_eq!(status.officer_calls.total, 1);
    let alerts = serde_json::to_value(&status.alerts).expect("json");
    assert!(
        alerts
            .as_array()
            .is_some_and(|a| a.contains(&serde_json::json!("officer_called")))
    );
    assert!(
        kiosk
            .reader
            .commands()
            .contains(&ReaderCommand::Signal(Signal::BeepError)),
        "the reader sounds the call"
    );
    // Closed, the session is as it was; the call stays open until acknowledged.
    kiosk.tap(Intent::CloseHelp).await;
    let back = kiosk.wait_view("the page", |v| v.help.is_none()).await;
    assert_eq!((back.screen, back.members.len()), (ScreenKind::Members, 1));
    match kiosk.command(Command::AcknowledgeCalls).await {
        Reply::Maint(apm_kiosk::maint::answer::MaintAnswer::Acknowledged(a)) => {
            assert_eq!(a.acknowledged, 1)
        }
        other => panic!("acknowledge_calls answered {other:?}"),
    }
    let report = kiosk.report().await;
    assert_eq!(
        (report.officer_calls.total, report.officer_calls.open.len()),
        (1, 0)
    );
    assert!(!report.problems.iter().any(|p| p.contains("officer call")));
    let stopped = kiosk.halt().await;
    let audit = audit_lines(&stopped.db());
    assert!(
        audit.contains(&("officer_called".into(), "members".into())),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("officer_calls_acknowledged".into(), "1 open".into())),
        "{audit:?}"
    );
}

/// The idle panel from what the kiosk holds once synced: each office's places today and
/// the first later working day it holds numbers for, counted again after the sync round.
#[tokio::test(start_paused = true)]
async fn the_idle_panel_names_the_next_day_with_room_from_the_numbers_held() {
    use chrono::Datelike;
    let kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    let panel = kiosk.link.panel.clone();
    held_until("the panel's count after the sync", || {
        panel.borrow().today.iter().any(|t| t.next_day.is_some())
    })
    .await;
    let shown = panel.borrow().clone();
    let today = tuesday_morning()
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).expect("WIB"))
        .date_naive();
    assert_eq!(shown.today_date, Some(today));
    for office in &shown.today {
        assert!(
            office.open_today,
            "{}: a Tuesday is a working day",
            office.office_name
        );
        let next = office.next_day.expect("a later day with room");
        assert!(
            next > today,
            "{}: {next} is after today",
            office.office_name
        );
        assert!(
            next.weekday().number_from_monday() <= 5,
            "{}: {next} is a working day",
            office.office_name
        );
    }
    assert_eq!(kiosk.stop().await, apm_kiosk::app::Stopped::Shutdown);
}

/// The lead `nik` lays the card again: "my booking" opens with what they hold.
async fn my_booking(
    kiosk: &mut DaemonOnFakes,
    nik: &str,
) -> std::sync::Arc<apm_kiosk::flow::view::View> {
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    kiosk.wait_screen(ScreenKind::ReadCard).await;
    kiosk.reader.present_card(card(nik));
    kiosk.wait_screen(ScreenKind::ConfirmIdentity).await;
    kiosk.reader.remove_card();
    kiosk.tap(Intent::ConfirmIdentity).await;
    kiosk.wait_screen(ScreenKind::MyBooking).await
}

/// The text a printed job carries, for a look at its words.
fn job_text(job: &[u8]) -> String {
    String::from_utf8_lossy(job).into_owned()
}

/// `nik` books alone on the first open day after today (a booking of today is too late
/// to move), and the kiosk returns to idle.
async fn book_tomorrow_or_later(kiosk: &mut DaemonOnFakes, nik: &str) {
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(kiosk, nik).await;
    choose_until_review_on(kiosk, |d| !d.today).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    kiosk.tap(Intent::Finish).await;
}

#[tokio::test(start_paused = true)]
async fn offline_a_booking_is_reprinted_moved_and_cancelled_and_each_change_reaches_the_service_once()
 {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    book_tomorrow_or_later(&mut kiosk, &nik(1)).await;
    kiosk.sync_round().await;
    assert_eq!(kiosk.central.registrations().len(), 1, "uploaded");
    // The network goes: every change now waits in the store.
    for endpoint in Endpoint::ALL {
        kiosk.central.fail_always(endpoint, Fault::Unreachable);
    }
    assert!(!kiosk.sync_round().await.sync.online);

    let view = my_booking(&mut kiosk, &nik(1)).await;
    let held = view.bookings[0].clone();
    assert!(
        held.here && held.own && held.can_reschedule && held.can_cancel,
        "{held:?}"
    );
    kiosk.tap(Intent::ReprintBooking { index: 0 }).await;
    kiosk
        .wait_view("the reprint done", |v| v.change_done.is_some())
        .await;
    let jobs = kiosk.printer.jobs();
    assert_eq!(jobs.len(), 2);
    assert!(job_text(&jobs[1].bytes).contains("SALINAN"), "a copy");

    // Moved to another day the kiosk holds numbers for; the others need the network.
    kiosk.tap(Intent::RescheduleBooking { index: 0 }).await;
    let dates = kiosk.wait_screen(ScreenKind::Date).await;
    assert!(
        dates
            .dates
            .iter()
            .any(|d| d.status == DayState::NeedsNetwork),
        "offline, the days beyond the held ones need the network"
    );
    let day = dates
        .dates
        .iter()
        .find(|d| d.status == DayState::Open && d.date != held.date)
        .expect("another open day")
        .date;
    kiosk.tap(Intent::ChooseDate { date: day }).await;
    let sessions = kiosk.wait_screen(ScreenKind::Session).await;
    let session_id = sessions
        .sessions
        .iter()
        .find(|s| s.bookable)
        .expect("a session")
        .session_id
        .clone();
    kiosk.tap(Intent::ChooseSession { session_id }).await;
    kiosk.wait_screen(ScreenKind::Review).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    let done = kiosk.wait_screen(ScreenKind::Done).await;
    let moved = done.booking.as_ref().expect("the new booking");
    assert_eq!(moved.date, Some(day));
    let jobs = kiosk.printer.jobs();
    assert_eq!(jobs.len(), 3, "the new ticket");
    assert!(!job_text(&jobs[2].bytes).contains("SALINAN"), "an original");
    kiosk.tap(Intent::Finish).await;

    // Once moved, not again; cancelled, off the list.
    let view = my_booking(&mut kiosk, &nik(1)).await;
    assert_eq!(view.bookings[0].date, day);
    assert_eq!(
        view.bookings[0].reschedule_blocked,
        Some(apm_kiosk::flow::ChangeProblem::RescheduleUsed)
    );
    kiosk.tap(Intent::CancelBooking { index: 0 }).await;
    kiosk.wait_view("asked", |v| v.cancelling == Some(0)).await;
    kiosk.tap(Intent::ConfirmCancelBooking).await;
    let after = kiosk
        .wait_view("cancelled", |v| {
            v.change_done.as_ref().map(|c| c.kind) == Some(apm_kiosk::flow::ChangeKind::Cancelled)
        })
        .await;
    assert!(after.bookings.is_empty());
    kiosk.tap(Intent::Finish).await;

    network_back_with_the_move_and_the_cancel(&mut kiosk, day).await;
}

#[tokio::test(start_paused = true)]
async fn online_a_booking_elsewhere_is_found_and_a_service_without_1_1_changes_nothing() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    book_tomorrow_or_later(&mut kiosk, &nik(2)).await;
    kiosk.sync_round().await;
    let calls = kiosk.central.calls(Endpoint::Find);
    let view = my_booking(&mut kiosk, &nik(2)).await;
    assert_eq!(
        kiosk.central.calls(Endpoint::Find),
        calls + 1,
        "looked up online"
    );
    assert_eq!(
        view.bookings.len(),
        1,
        "the service's record is the same booking"
    );
    assert!(view.bookings[0].here);
    kiosk.tap(Intent::Finish).await;

    // A service without version 1.1: bookings are shown and reprinted, not changed, and
    // the technician is told what it lacks.
    kiosk.central.lack_v11();
    kiosk.sync_round().await;
    let view = my_booking(&mut kiosk, &nik(2)).await;
    let b = &view.bookings[0];
    assert!(b.can_reprint);
    let unsupported = Some(apm_kiosk::flow::ChangeProblem::Unsupported);
    assert_eq!(b.cancel_blocked, unsupported, "{b:?}");
    assert_eq!(b.reschedule_blocked, unsupported, "{b:?}");
    kiosk.tap(Intent::Finish).await;
    let report = kiosk.report().await;
    let json = serde_json::to_string(&report.changes).expect("serialises");
    assert!(json.contains("find"), "{json}");
}

/// A booking of `nik` made at another kiosk, as it uploaded it: 3 December, session S1,
/// its ticket `ticket`.
async fn booked_elsewhere(central: &FakeCentral, nik: &str) -> uuid::Uuid {
    booked_elsewhere_with(central, nik, uuid::Uuid::now_v7(), "APM2.elsewhere.ticket").await
}

async fn booked_elsewhere_with(
    central: &FakeCentral,
    nik: &str,
    id: uuid::Uuid,
    ticket: &str,
) -> uuid::Uuid {
    use apm_kiosk::protocol::central::{self as wire, RegistrationsRequest};
    use apm_kiosk::sync::client::CentralApi;
    let (_, info) = apm_kiosk::domain::nik::Nik::parse(nik, tuesday_morning().date_naive())
        .expect("a valid test NIK");
    let registration = wire::Registration {
        registration_id: id,
        allocation_id: "other-kiosk-alloc".into(),
        queue_number: 40,
        office_id: "KRM".into(),
        date: tuesday_morning().date_naive() + chrono::TimeDelta::days(2),
        session_id: "S1".into(),
        kind: apm_kiosk::domain::QueueKind::Regular,
        group_id: uuid::Uuid::now_v7(),
        application_type: ApplicationType::New,
        passport_type: PassportType::Electronic,
        priority_reason: None,
        applicant: wire::Applicant {
            nik: nik.to_owned(),
            kk_number: None,
            name: None,
            birth_place: None,
            birth_date: info.birth_date,
            sex: info.sex,
            address: None,
            phone: None,
        },
        created_at: tuesday_morning().into(),
        ticket: ticket.into(),
    };
    let req = RegistrationsRequest {
        registrations: vec![registration],
    };
    central
        .upload(&req)
        .await
        .expect("the other kiosk's upload");
    id
}

#[tokio::test(start_paused = true)]
async fn a_booking_made_at_another_kiosk_is_found_reprinted_as_the_service_has_it_and_cancelled_online()
 {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    let id = booked_elsewhere(&kiosk.central, &nik(4)).await;
    let view = my_booking(&mut kiosk, &nik(4)).await;
    let b = &view.bookings[0];
    assert!(!b.here && b.own, "{b:?}");
    assert_eq!(b.queue_number, "R-040");
    assert_eq!(b.name.as_deref(), Some("SITI AMINAH"), "the card's name");
    kiosk.tap(Intent::ReprintBooking { index: 0 }).await;
    kiosk
        .wait_view("reprinted", |v| v.change_done.is_some())
        .await;
    let job = job_text(&kiosk.printer.jobs()[0].bytes);
    assert!(
        job.contains("APM2.elsewhere.ticket"),
        "its QR as the service has it"
    );
    assert!(job.contains("SALINAN"));

    kiosk.tap(Intent::CancelBooking { index: 0 }).await;
    kiosk.wait_view("asked", |v| v.cancelling == Some(0)).await;
    kiosk.tap(Intent::ConfirmCancelBooking).await;
    let after = kiosk
        .wait_view("cancelled", |v| {
            v.change_done.as_ref().map(|c| c.kind) == Some(apm_kiosk::flow::ChangeKind::Cancelled)
        })
        .await;
    assert!(after.bookings.is_empty());
    let changes = kiosk.central.changes();
    assert_eq!(changes.len(), 1, "sent at once: {changes:?}");
    assert_eq!(changes[0].registration_id, id);
    assert!(changes[0].refused.is_none());
    assert!(kiosk.central.booking(id).expect("at the service").cancelled);
}

#[tokio::test(start_paused = true)]
async fn online_a_day_beyond_the_held_ones_is_booked_on_numbers_asked_for_the_group() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(&mut kiosk, &nik(5)).await;
    kiosk.tap(Intent::AddMemberByCard).await;
    read_and_confirm(&mut kiosk, &nik(6)).await;
    kiosk.tap(Intent::FinishMembers).await;
    let view = kiosk.wait_screen(ScreenKind::Office).await;
    let office_id = view.offices[0].office_id.clone();
    kiosk.tap(Intent::ChooseOffice { office_id }).await;
    let view = kiosk.wait_screen(ScreenKind::Date).await;
    // `sync.hold_days = 6`: the kiosk holds nothing three weeks ahead.
    let far = tuesday_morning().date_naive() + chrono::TimeDelta::days(20);
    let day = view
        .dates
        .iter()
        .find(|d| d.date >= far && d.status == DayState::Open)
        .expect("an open day three weeks ahead, from the service's pool")
        .date;
    kiosk.tap(Intent::ChooseDate { date: day }).await;
    let view = kiosk.wait_screen(ScreenKind::Session).await;
    let session = view
        .sessions
        .iter()
        .find(|s| s.bookable)
        .expect("a session the pool has room in");
    assert!(session.asks_service, "{session:?}");
    let session_id = session.session_id.clone();
    let asked = kiosk.central.calls(Endpoint::Allocate);
    kiosk.tap(Intent::ChooseSession { session_id }).await;
    kiosk.wait_screen(ScreenKind::Review).await;
    assert_eq!(
        kiosk.central.calls(Endpoint::Allocate),
        asked + 1,
        "one ask"
    );
    kiosk.tap(Intent::ConfirmBooking).await;
    let done = kiosk.wait_screen(ScreenKind::Done).await;
    assert_eq!(done.booking.as_ref().and_then(|b| b.date), Some(day));
    kiosk.tap(Intent::Finish).await;
    kiosk.sync_round().await;
    let sent = kiosk.central.registrations();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| r.date == day));
    // The service's pool is gone: the kiosk says no and nothing is booked.
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    read_and_confirm(&mut kiosk, &nik(7)).await;
    kiosk.tap(Intent::FinishMembers).await;
    let view = kiosk.wait_screen(ScreenKind::Office).await;
    let office_id = view.offices[0].office_id.clone();
    kiosk.tap(Intent::ChooseOffice { office_id }).await;
    kiosk.wait_screen(ScreenKind::Date).await;
    kiosk.tap(Intent::ChooseDate { date: day }).await;
    let view = kiosk.wait_screen(ScreenKind::Session).await;
    let session_id = view
        .sessions
        .iter()
        .find(|s| s.bookable && s.asks_service)
        .expect("still room in the snapshot")
        .session_id
        .clone();
    kiosk
        .central
        .fail_next(Endpoint::Allocate, Fault::Unreachable);
    kiosk.tap(Intent::ChooseSession { session_id }).await;
    let back = kiosk
        .wait_view("told", |v| v.numbers_failure.is_some())
        .await;
    assert_eq!(back.screen, ScreenKind::Session);
    assert_eq!(
        back.numbers_failure,
        Some(apm_kiosk::flow::NumbersFailure::NoAnswer)
    );
}

#[tokio::test(start_paused = true)]
async fn a_booking_made_at_another_kiosk_is_moved_online_and_its_new_ticket_keeps_its_nik_check() {
    let mut kiosk = DaemonOnFakes::start(FakeCentral::new()).await;
    wait_numbers(&kiosk).await;
    // The other kiosk's ticket, keyed with the service's NIK hash key as every APM2 is.
    let state_dir = kiosk.config.kiosk.state_dir.clone();
    let enrollment = Enrollment::load(&state_dir)
        .expect("reads")
        .expect("enrolled");
    let key = Key32(enrollment.nik_hash_key);
    let id = uuid::Uuid::now_v7();
    let date = tuesday_morning().date_naive() + chrono::TimeDelta::days(2);
    let claims = ticket_qr::Claims {
        r: id.to_string(),
        k: "KRM-09".into(),
        o: "KRM".into(),
        d: date,
        s: "S1".into(),
        q: "R-040".into(),
        n: ticket_qr::nik_check(&key, &id.to_string(), &nik(8)),
        t: tuesday_morning().timestamp(),
    };
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let old = ticket_qr::sign(&claims, &other);
    booked_elsewhere_with(&kiosk.central, &nik(8), id, &old).await;

    let view = my_booking(&mut kiosk, &nik(8)).await;
    assert!(!view.bookings[0].here && view.bookings[0].can_reschedule);
    kiosk.tap(Intent::RescheduleBooking { index: 0 }).await;
    let dates = kiosk.wait_screen(ScreenKind::Date).await;
    let day = dates
        .dates
        .iter()
        .find(|d| d.status == DayState::Open && d.date != date && !d.today)
        .expect("another open day")
        .date;
    kiosk.tap(Intent::ChooseDate { date: day }).await;
    let sessions = kiosk.wait_screen(ScreenKind::Session).await;
    let session_id = sessions
        .sessions
        .iter()
        .find(|s| s.bookable && !s.asks_service)
        .expect("a session with numbers held")
        .session_id
        .clone();
    kiosk.tap(Intent::ChooseSession { session_id }).await;
    kiosk.wait_screen(ScreenKind::Review).await;
    kiosk.tap(Intent::ConfirmBooking).await;
    kiosk.wait_screen(ScreenKind::Done).await;
    // Moved at the service before the new ticket printed; it checks against the KTP.
    let moved = kiosk.central.booking(id).expect("at the service");
    assert_eq!(moved.registration.date, day);
    assert_eq!(moved.reschedules_left, 0);
    let payload = printed_qr(&kiosk.printer.jobs()[0].bytes);
    assert_eq!(
        payload, moved.registration.ticket,
        "the ticket the service holds"
    );
    let public = KioskKey::load_or_create(&state_dir)
        .expect("the kiosk's key")
        .verifying_key();
    let lookup = |k: &str| {
        if k == enrollment.kiosk_id {
            KeyLookup::Known(public)
        } else {
            KeyLookup::Unknown
        }
    };
    let checker = Checker {
        keys: &lookup,
        nik_hash_key: Some(&key),
        today: tuesday_morning().date_naive(),
    };
    assert!(
        ticket_qr::verify(&payload, &nik(8), &checker).is_ok(),
        "{payload}"
    );
    assert!(
        ticket_qr::verify(&payload, &nik(9), &checker).is_err(),
        "not another NIK's"
    );
}

/// The network is back: the move (to `day`) and the cancel reach the service, once each;
/// the NIK's one booking is freed and its 30 days still count.
async fn network_back_with_the_move_and_the_cancel(
    kiosk: &mut DaemonOnFakes,
    day: chrono::NaiveDate,
) {
    kiosk.central.heal();
    kiosk.sync_round().await;
    kiosk.sync_round().await;
    let changes = kiosk.central.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().all(|c| c.refused.is_none()), "{changes:?}");
    let at_service = &kiosk.central.bookings()[0];
    assert_eq!(at_service.registration.date, day);
    assert!(at_service.cancelled);
    assert!(kiosk.central.double_booked().is_empty());
    assert_eq!(kiosk.status().await.store.changes_waiting, 0);
    // The NIK's one booking is freed; its 30 days still count.
    kiosk.wait_screen(ScreenKind::Idle).await;
    kiosk.tap(Intent::Start).await;
    kiosk.wait_screen(ScreenKind::ReadCard).await;
    kiosk.reader.present_card(card(&nik(1)));
    kiosk.wait_screen(ScreenKind::ConfirmIdentity).await;
    kiosk.reader.remove_card();
    kiosk.tap(Intent::ConfirmIdentity).await;
    let refused = kiosk.wait_screen(ScreenKind::Problem).await;
    assert!(
        matches!(
            refused.problem,
            Some(Problem::Refused {
                rule: apm_kiosk::flow::view::Refusal::Cooldown,
                ..
            })
        ),
        "{:?}",
        refused.problem
    );
}
