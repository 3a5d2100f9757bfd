//! Exactly once through a bad network: 1,000 bookings committed at the kiosk against
//! numbers the central simulator handed out, while the simulator fails 30% of requests
//! in every way it can (5xx, 429, dropped connections, truncated answers, latency).
//! Every booking must be accepted by the service exactly once and none lost.
//!
//! Cancels and reschedules through every `Fault` of the central service in memory
//! (`FakeCentral`): each reaches the service exactly once (a lost answer included), a
//! reschedule sent at once and by the sync round at the same time is applied once, no
//! number is booked twice or after the service took it back, and a service without
//! version 1.1 keeps the changes queued and says so.
//!
//! And a hostile network, through the whole daemon (the binary as its own process, on
//! the simulated reader and printer): a 50 MB answer, a 2 GB chunked one and a 1 GiB
//! gzip bomb from every endpoint each end as a clear `last_error`, the daemon's
//! resident memory grows by at most 20 MB for each, applicants book on offline, and
//! every booking reaches the service once the network is honest again.

mod daemon_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use apm_kiosk::control::{Client, Command};
use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::central::Key32;
use apm_kiosk::protocol::central::RegistrationStatus;
use apm_kiosk::protocol::central_v11::ChangeRefusal;
use apm_kiosk::store::ReissuedTicket;
use apm_kiosk::store::changes::{
    CancelOutcome, ChangeAnswer, ReschedulePlan, Rescheduled, ServiceFeature,
};
use apm_kiosk::sync::client::HttpCentral;
use apm_kiosk::sync::{SyncStatus, Syncer};
use apm_kiosk_sim::central::{Faults, HostileBody};
use apm_kiosk_testkit::central::{self, Central};
use apm_kiosk_testkit::fakes::{Endpoint, FakeCentral, Fault};
use apm_kiosk_testkit::fixtures::{day, karimun, nik, tuesday_morning};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, accepted_numbers, config};
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use tokio::sync::watch;
use uuid::Uuid;

const BOOKINGS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bookings_reach_the_service_exactly_once_through_faults() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(400, 50), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "FAUL-T001").await;
    central.sim.set_faults(Faults {
        server_error_rate: 0.10,
        throttle_rate: 0.05,
        drop_rate: 0.08,
        truncate_rate: 0.07,
        retry_after: Duration::from_secs(1),
        max_latency: Duration::from_millis(15),
        seed: 5,
        ..Faults::default()
    });
    // Hold tomorrow and the day after: 2 days x 3 sessions x up to 200.
    let (syncer, status) = kiosk.syncer(&central.base, config(3, 100, 200));
    let mut sync = SyncRounds {
        syncer,
        status,
        rounds: 0,
        drain_rounds: 0,
        failed_rounds: 0,
    };

    let booked = book_all(&kiosk, &mut sync, now).await;
    assert_eq!(booked.len(), BOOKINGS);
    drain(&kiosk, &mut sync, now).await;
    assert!(
        sync.failed_rounds > 0,
        "the faults must have bitten at least once for this test to mean anything"
    );
    the_kiosk_has_every_booking_accepted(&kiosk, &booked).await;
    the_service_holds_each_booking_once(&central, &booked);
    eprintln!(
        "{BOOKINGS} bookings, {} + {} rounds, {} failed; status {:?}",
        sync.rounds,
        sync.drain_rounds,
        sync.failed_rounds,
        sync.status.borrow()
    );
}

/// The kiosk's sync loop under the faults, and how many of its rounds ran (while
/// booking, and draining after) and failed.
struct SyncRounds {
    syncer: Syncer<HttpCentral>,
    status: watch::Receiver<SyncStatus>,
    rounds: u32,
    drain_rounds: u32,
    failed_rounds: u32,
}

impl SyncRounds {
    /// One round; a failed one is counted, not fatal.
    async fn round(&mut self, now: DateTime<Utc>) {
        if self.syncer.round(now).await.is_err() {
            self.failed_rounds += 1;
        }
    }
}

/// Books groups of 1 to 3, as families come, on tomorrow or the day after, until
/// [`BOOKINGS`] applicants are booked; syncs when no numbers are held, and every 25
/// groups as the daemon's nudges would. Returns the registration ids.
async fn book_all(
    kiosk: &KioskUnderTest,
    sync: &mut SyncRounds,
    now: DateTime<Utc>,
) -> Vec<String> {
    let dates = [day("2026-12-02"), day("2026-12-03")];
    let mut booked: Vec<String> = Vec::new();
    let mut n = 0u32;
    while booked.len() < BOOKINGS {
        let size = (1 + n as usize % 3).min(BOOKINGS - booked.len());
        let niks: Vec<String> = (0..size as u32).map(|i| nik(n * 3 + i)).collect();
        let Some(ids) = book_on_either_day(kiosk, &dates, &niks, now).await else {
            // No numbers held: sync (through the faults) and try again.
            sync.rounds += 1;
            assert!(
                sync.rounds < 400,
                "the kiosk never got numbers: {:?}",
                sync.status.borrow()
            );
            sync.round(now).await;
            continue;
        };
        booked.extend(ids);
        n += 1;
        // The daemon nudges the syncer after each booking; here every 25 groups.
        if n.is_multiple_of(25) {
            sync.rounds += 1;
            sync.round(now).await;
        }
    }
    booked
}

/// The group booked on the first of `dates` with numbers for it, if any.
async fn book_on_either_day(
    kiosk: &KioskUnderTest,
    dates: &[NaiveDate],
    niks: &[String],
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    for date in dates {
        if let Some(ids) = kiosk.book(*date, niks, now).await {
            return Some(ids);
        }
    }
    None
}

/// Syncs until nothing is queued any more.
async fn drain(kiosk: &KioskUnderTest, sync: &mut SyncRounds, now: DateTime<Utc>) {
    while kiosk.pending().await > 0 {
        sync.drain_rounds += 1;
        assert!(
            sync.drain_rounds < 300,
            "queue never drained: {:?}",
            sync.status.borrow()
        );
        sync.round(now).await;
    }
}

/// The kiosk: every booking answered, accepted.
async fn the_kiosk_has_every_booking_accepted(kiosk: &KioskUnderTest, booked: &[String]) {
    let statuses: HashMap<String, String> = kiosk.statuses().await.into_iter().collect();
    assert_eq!(statuses.len(), BOOKINGS);
    for id in booked {
        assert_eq!(
            statuses.get(id).map(String::as_str),
            Some("accepted"),
            "{id}"
        );
    }
}

/// The service: each booking once, accepted, and no number twice.
fn the_service_holds_each_booking_once(central: &Central, booked: &[String]) {
    let regs = central.sim.registrations().expect("registrations");
    let ids: Vec<String> = regs.iter().map(|r| r.registration_id.to_string()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a registration stored twice");
    assert_eq!(
        ids.len(),
        BOOKINGS,
        "the service holds exactly the kiosk's bookings"
    );
    let booked_set: HashSet<&String> = booked.iter().collect();
    assert_eq!(unique, booked_set);
    assert!(
        regs.iter()
            .all(|r| r.status == RegistrationStatus::Accepted),
        "every booking accepted"
    );
    let numbers = accepted_numbers(&central.sim);
    let distinct: HashSet<_> = numbers.iter().collect();
    assert_eq!(distinct.len(), numbers.len(), "a queue number booked twice");
}

// --- cancels and reschedules, on the central service in memory ----------------------

/// A kiosk as the fake central service enrolls it, its syncer against `central`, and
/// `n` applicants booked one by one on 2 December and accepted by the service. The
/// service's clock is the kiosk's: Tuesday 1 December.
async fn booked_on_fake(
    central: &FakeCentral,
    n: u32,
) -> (KioskUnderTest, Syncer<FakeCentral>, Vec<String>) {
    let now = tuesday_morning();
    central.set_clock(Some(now));
    let kiosk = KioskUnderTest::open(
        "FAKE-KIOSK-01",
        "fake-token",
        Key32([7; 32]),
        SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
    );
    let (mut syncer, _) = kiosk.syncer_with(central.clone(), config(3, 8, 16));
    syncer.round(now).await.expect("numbers held");
    let mut ids = Vec::new();
    for i in 0..n {
        let booked = kiosk.book(day("2026-12-02"), &[nik(i)], now).await;
        ids.extend(booked.expect("numbers for every applicant"));
    }
    syncer.round(now).await.expect("uploaded");
    assert_eq!(kiosk.pending().await, 0);
    (kiosk, syncer, ids)
}

/// The applicant with booking `id` cancels it; it has reached the service, so the
/// cancel is queued.
async fn cancel(kiosk: &KioskUnderTest, id: &str) -> Uuid {
    let (id, change) = (id.to_owned(), Uuid::now_v7());
    let out = kiosk
        .store
        .call(move |s| s.cancel_booking(&id, change, tuesday_morning()))
        .await
        .expect("the writer runs")
        .expect("cancelled");
    assert_eq!(out, CancelOutcome::Queued { change_id: change });
    change
}

/// Booking `id` moved to 3 December, session S2, as the daemon moves it: the new
/// ticket reissued with the kiosk's key, its NIK check kept.
async fn reschedule(kiosk: &KioskUnderTest, id: &str) -> Rescheduled {
    let (id, signer) = (id.to_owned(), kiosk.signer.clone());
    kiosk
        .store
        .call(move |s| {
            let sign = |t: &ReissuedTicket<'_>| signer.reissue(t);
            s.reschedule_booking(&ReschedulePlan {
                registration_id: &id,
                date: day("2026-12-03"),
                session_id: "S2",
                change_id: Uuid::now_v7(),
                at: tuesday_morning(),
                today: day("2026-12-01"),
                sign: &sign,
            })
        })
        .await
        .expect("the writer runs")
        .expect("rescheduled")
}

async fn waiting_changes(kiosk: &KioskUnderTest) -> u32 {
    let summary = kiosk.store.run(|s| s.change_summary()).await;
    summary.expect("summary").waiting
}

/// No number twice, none the service took back, at the service.
fn nothing_double_booked(central: &FakeCentral) {
    assert_eq!(
        central.double_booked(),
        Vec::<(Uuid, Uuid)>::new(),
        "a number booked twice"
    );
    assert_eq!(
        central.misbooked(),
        Vec::<Uuid>::new(),
        "a number the service took back"
    );
}

#[tokio::test]
async fn cancels_and_reschedules_reach_the_service_exactly_once_through_every_fault() {
    let central = FakeCentral::new();
    let (kiosk, mut syncer, ids) = booked_on_fake(&central, 10).await;
    let faults = [
        Fault::Unreachable,
        Fault::Unavailable {
            retry_after: Some(Duration::from_secs(1)),
        },
        Fault::refused(400, "invalid_request"),
        Fault::Malformed,
        Fault::LoseAnswer,
    ];
    let mut cancels = Vec::new();
    let mut moved = Vec::new();
    let mut failed_rounds = 0;
    for (i, fault) in faults.iter().enumerate() {
        cancels.push((ids[2 * i].clone(), cancel(&kiosk, &ids[2 * i]).await));
        let r = reschedule(&kiosk, &ids[2 * i + 1]).await;
        central.fail_next(Endpoint::Cancel, fault.clone());
        central.fail_next(Endpoint::Reschedule, fault.clone());
        moved.push(r);
        let mut rounds = 0;
        while waiting_changes(&kiosk).await > 0 {
            rounds += 1;
            assert!(rounds < 5, "{fault:?}: changes never answered");
            if syncer.round(tuesday_morning()).await.is_err() {
                failed_rounds += 1;
            }
        }
    }
    // A fault that cannot reach the service ends the step: the other change meets its
    // own fault in the next round.
    assert!(
        failed_rounds >= faults.len(),
        "every fault bit: {failed_rounds}"
    );
    // Each change reached the service, was applied once and answered "done".
    let reached = central.changes();
    assert_eq!(reached.len(), 2 * faults.len(), "{reached:?}");
    assert!(reached.iter().all(|c| c.refused.is_none()), "{reached:?}");
    assert!(central.calls(Endpoint::Cancel) > faults.len(), "retried");
    for (id, change) in &cancels {
        let at_service = central.booking(id.parse().expect("uuid")).expect("booked");
        assert!(at_service.cancelled, "{id}");
        let answer = kiosk.store.run({
            let change = *change;
            move |s| s.change_answer(change)
        });
        let answer = answer.await.expect("answer");
        assert_eq!(answer, Some(ChangeAnswer::Done { receipt: None }));
    }
    for r in &moved {
        let at_service = central
            .booking(r.registration_id.parse().expect("uuid"))
            .expect("booked");
        let reg = &at_service.registration;
        assert_eq!((reg.date, reg.session_id.as_str()), (r.date, "S2"));
        assert_eq!(
            (reg.queue_number, &reg.ticket),
            (r.queue_number.number, &r.ticket)
        );
        assert_eq!(at_service.reschedules_left, 0, "moved once, not twice");
    }
    nothing_double_booked(&central);
    // The kiosk books on what it still holds: never a number the service took back.
    let now = tuesday_morning();
    for i in 20..28 {
        for date in [day("2026-12-02"), day("2026-12-03")] {
            if kiosk.book(date, &[nik(i)], now).await.is_some() {
                break;
            }
        }
    }
    syncer.round(now).await.expect("uploaded");
    assert_eq!(kiosk.pending().await, 0);
    nothing_double_booked(&central);
}

#[tokio::test]
async fn a_reschedule_sent_at_once_and_by_the_round_together_is_applied_once() {
    let central = FakeCentral::new();
    let (kiosk, mut syncer, ids) = booked_on_fake(&central, 2).await;
    let r = reschedule(&kiosk, &ids[0]).await;
    let change = r.queued.expect("queued: the service has the booking");
    // The first attempt's answer is lost: the service has moved the booking already.
    central.fail_next(Endpoint::Reschedule, Fault::LoseAnswer);
    let lost =
        apm_kiosk::sync::changes::send_change_at(&central, &kiosk.store, change, tuesday_morning())
            .await;
    assert!(lost.is_err(), "{lost:?}");
    // Then the shell's retry and the sync round's cross: each request is in flight
    // while the other is sent.
    central.set_latency(Duration::from_millis(50));
    let (at_once, round) = tokio::join!(
        apm_kiosk::sync::changes::send_change_at(&central, &kiosk.store, change, tuesday_morning()),
        syncer.round(tuesday_morning())
    );
    assert!(round.is_ok(), "{round:?}");
    assert!(
        matches!(at_once, Ok(ChangeAnswer::Done { .. })),
        "{at_once:?}"
    );
    assert_eq!(central.calls(Endpoint::Reschedule), 3);
    let reached = central.changes();
    assert_eq!(
        reached.len(),
        1,
        "one change, however often sent: {reached:?}"
    );
    let at_service = central.booking(r.registration_id.parse().expect("uuid"));
    assert_eq!(at_service.expect("booked").reschedules_left, 0);
    assert_eq!(waiting_changes(&kiosk).await, 0);
    // Sent again after it is answered: answered from the store, nothing sent.
    let again =
        apm_kiosk::sync::changes::send_change_at(&central, &kiosk.store, change, tuesday_morning())
            .await;
    assert!(matches!(again, Ok(ChangeAnswer::Done { .. })), "{again:?}");
    assert_eq!(central.calls(Endpoint::Reschedule), 3);
    nothing_double_booked(&central);
}

#[tokio::test]
async fn a_service_without_version_1_1_keeps_the_changes_queued_and_says_so() {
    let central = FakeCentral::new();
    let (kiosk, mut syncer, ids) = booked_on_fake(&central, 5).await;
    central.lack_v11();
    cancel(&kiosk, &ids[0]).await;
    cancel(&kiosk, &ids[1]).await;
    reschedule(&kiosk, &ids[2]).await;
    let now = tuesday_morning();
    for round in 1..=2 {
        syncer
            .round(now)
            .await
            .expect("a service without 1.1 is not a failure");
        assert_eq!(
            central.calls(Endpoint::Cancel),
            round,
            "once a round, not a change"
        );
        assert_eq!(central.calls(Endpoint::Reschedule), round);
        assert_eq!(waiting_changes(&kiosk).await, 3);
    }
    let lacks = kiosk.store.run(|s| s.service_lacks()).await.expect("kv");
    let features: Vec<ServiceFeature> = lacks.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        features,
        [ServiceFeature::Cancel, ServiceFeature::Reschedule]
    );
    // Booking goes on as before.
    assert!(
        kiosk
            .book(day("2026-12-02"), &[nik(9)], now)
            .await
            .is_some()
    );
    syncer.round(now).await.expect("uploaded");
    assert_eq!(kiosk.pending().await, 0);

    // The service gains 1.1: the changes go, and the report's line with them. The
    // counter checked one applicant in meanwhile: their reschedule is refused, and the
    // booking is back as it was at the kiosk.
    central.heal();
    central.arrive(ids[2].parse().expect("uuid"));
    syncer.round(now).await.expect("changes sent");
    assert_eq!(waiting_changes(&kiosk).await, 0);
    assert!(
        kiosk
            .store
            .run(|s| s.service_lacks())
            .await
            .expect("kv")
            .is_empty()
    );
    let summary = kiosk
        .store
        .run(|s| s.change_summary())
        .await
        .expect("summary");
    assert_eq!(summary.refused.len(), 1);
    assert_eq!(summary.refused[0].refusal, ChangeRefusal::AlreadyArrived);
    let tag = kiosk.signer.nik_tag(&nik(2));
    let mine = kiosk
        .store
        .run(move |s| s.bookings_of(&tag, day("2026-12-01")))
        .await
        .expect("bookings");
    assert_eq!(mine[0].date, day("2026-12-02"), "back on its day");
    nothing_double_booked(&central);
}

/// The bound the issue sets on the daemon's growth for each hostile answer, in kB.
const MAX_GROWTH_KB: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_end_as_a_clear_error_in_bounded_memory_while_booking_goes_on() {
    let central = daemon_support::start_central().await;
    let kiosk = daemon_support::Kiosk::new(&central.base);
    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::sync::enroll::enroll(&config, daemon_support::CODE)
        .await
        .expect("enrolled");
    let daemon = daemon_support::Daemon::spawn(&kiosk.config, &kiosk.root.join("daemon.log"));
    let mut client = daemon_support::wait_ready(&kiosk.socket(), PATIENCE).await;
    daemon_support::wait_numbers(&mut client).await;
    let people = daemon_support::plain_people(4);
    // One booking online first, so that every path of the daemon has run once.
    book(&mut client, &kiosk.reader, &people[0]).await;
    sync_round(&mut client).await;

    let hostile = [
        (
            "50 MB with its length",
            HostileBody::Sized { bytes: 50_000_000 },
            "Content-Length 50000000 bytes, not read",
        ),
        (
            "2 GB chunked",
            HostileBody::Chunked {
                bytes: 2_000_000_000,
            },
            "more than 4 MiB sent, read no further",
        ),
        (
            "1 GiB gzip bomb",
            HostileBody::GzipBomb { decoded: 1 << 30 },
            "more than 4 MiB once gzip is undone",
        ),
    ];
    for (i, (what, body, said)) in hostile.into_iter().enumerate() {
        central.sim.set_faults(Faults {
            hostile_body: Some(body),
            ..Faults::default()
        });
        let before = Memory::of(daemon.pid());
        Memory::reset_peak(daemon.pid());
        let sync = sync_round(&mut client).await;
        let error = sync["last_error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains("over the 4 MiB limit") && error.contains(said),
            "{what}: {sync}"
        );
        assert_eq!(sync["online"], false, "{what}");
        // Booking goes on offline, and its upload meets the hostile answer too.
        book(&mut client, &kiosk.reader, &people[i + 1]).await;
        sync_round(&mut client).await;
        let after = Memory::of(daemon.pid());
        let growth = after.peak_kb.saturating_sub(before.rss_kb);
        eprintln!(
            "{what}: VmRSS {} kB before, peak {} kB, {} kB after: growth {growth} kB; last_error: {error}",
            before.rss_kb, after.peak_kb, after.rss_kb
        );
        assert!(growth <= MAX_GROWTH_KB, "{what}: grew {growth} kB");
    }

    // The network honest again: every booking reaches the service, once.
    central.sim.set_faults(Faults::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = client
            .command(Command::Status, PATIENCE)
            .await
            .expect("status");
        if status["store"]["pending"] == 0 && status["sync"]["last_error"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "uploads left: {status}"
        );
        sync_round(&mut client).await;
    }
    let regs = central.sim.registrations().expect("registrations");
    assert_eq!(
        regs.len(),
        people.len(),
        "every booking reached the service"
    );
    assert!(
        regs.iter()
            .all(|r| r.status == RegistrationStatus::Accepted)
    );
}

const PATIENCE: Duration = Duration::from_secs(30);

/// The daemon's resident memory now and its peak since the last reset, from
/// `/proc/PID/status`.
struct Memory {
    rss_kb: u64,
    peak_kb: u64,
}

impl Memory {
    fn of(pid: i32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let kb = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
        };
        Memory {
            rss_kb: kb("VmRSS:"),
            peak_kb: kb("VmHWM:"),
        }
    }

    /// Sets the peak (`VmHWM`) back to what is resident now (Linux's `clear_refs` 5).
    fn reset_peak(pid: i32) {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
    }
}

/// Asks for a sync round and waits until it has ended; the sync status after it.
async fn sync_round(client: &mut Client) -> serde_json::Value {
    let before = client
        .command(Command::Status, PATIENCE)
        .await
        .expect("status");
    let want = before["sync"]["rounds"].as_u64().unwrap_or(0)
        + 1
        + u64::from(before["sync"]["round_running"] == true);
    client
        .command(Command::SyncNow, PATIENCE)
        .await
        .expect("sync_now");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = client
            .command(Command::Status, PATIENCE)
            .await
            .expect("status");
        let sync = &status["sync"];
        if sync["rounds"].as_u64().unwrap_or(0) >= want && sync["round_running"] == false {
            return sync.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sync round ended: {sync}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One applicant booked, ticket taken, back at idle.
async fn book(
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    person: &apm_kiosk::simulate::crowd::Person,
) {
    daemon_support::book_until_review(client, reader, person).await;
    client.send(&Intent::ConfirmBooking).await.expect("sent");
    daemon_support::wait_screen(client, "done").await;
    client.send(&Intent::Finish).await.expect("sent");
    daemon_support::wait_screen(client, "idle").await;
}
