//! Power cuts and stops, with the daemon binary as its own process on the simulated
//! reader and printer and the central simulator on loopback:
//!
//! - SIGKILL (as a power cut) at many moments after the applicant taps "book": on
//!   restart each booking is whole (every member, its queue numbers, its upload row) or
//!   not there at all, the database is sound, and every committed ticket not yet printed
//!   comes out by itself.
//! - SIGTERM (as `systemctl stop`): a clean exit, timed, idle and with a booking and its
//!   print under way; the booking is then whole and printed, and the daemon's log, at
//!   debug for everything, holds none of the applicants' data.
//! - SIGKILL at many moments while the sync sends cancels and reschedules (queued by the
//!   store directly, as the daemon's "my booking" screens do on confirm): on restart
//!   every change is either still queued or answered, never lost and never both, the
//!   database is sound, and once the network has its way each is answered and applied at
//!   the service once.
//! - A damaged database file: the daemon refuses to start and says what to do.
//! - A really full disk (root only, `--ignored`): a start that cannot open the database
//!   says "disk full" and where; with a little space back it starts out of service.

mod daemon_support;

use std::time::{Duration, Instant};

use apm_kiosk::flow::Intent;
use daemon_support::{
    Daemon, Kiosk, StoreFacts, book_until_review, median, plain_people, start_central, store_facts,
    wait_numbers, wait_ready,
};

async fn enroll(kiosk: &Kiosk) {
    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::sync::enroll::enroll(&config, daemon_support::CODE)
        .await
        .expect("enrolled");
}

fn assert_whole(facts: &StoreFacts, when: &str) {
    assert_eq!(facts.integrity, "ok", "{when}: {facts:?}");
    assert_eq!(facts.partial_groups, 0, "{when}: {facts:?}");
    assert_eq!(facts.orphan_numbers, 0, "{when}: {facts:?}");
    assert_eq!(facts.unqueued, 0, "{when}: {facts:?}");
    assert_eq!(
        facts.registrations, facts.groups,
        "one applicant per group here: {facts:?}"
    );
}

/// Waits until the restarted daemon has printed every committed ticket.
async fn wait_all_printed(kiosk: &Kiosk, limit: Duration) -> StoreFacts {
    let deadline = Instant::now() + limit;
    loop {
        let facts = store_facts(&kiosk.db());
        if facts.unprinted == 0 {
            return facts;
        }
        assert!(
            Instant::now() < deadline,
            "tickets left unprinted: {facts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_book_leaves_each_booking_whole_or_absent_and_prints_on_restart() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    enroll(&kiosk).await;
    let log = kiosk.root.join("daemon.log");
    // Microseconds from the tap's bytes leaving to the kill: the first land before or
    // during the commit's transaction, the later ones during the print.
    let delays_us = [
        0u64, 50, 100, 200, 400, 800, 1_500, 3_000, 8_000, 30_000, 120_000, 250_000,
    ];
    let people = plain_people(delays_us.len());
    // (delay, bookings kept by that cut)
    let mut outcomes: Vec<(u64, u64)> = Vec::new();
    // The last cut's delay and the groups there were before its "book".
    let mut pending: Option<(u64, u64)> = None;
    let mut facts = StoreFacts::default();

    for round in 0..=delays_us.len() {
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        // Restarted: what the last cut left is whole, and its tickets come out.
        facts = wait_all_printed(&kiosk, Duration::from_secs(20)).await;
        assert_whole(&facts, "after restart");
        if let Some((delay, groups_before)) = pending.take() {
            let kept = facts
                .groups
                .checked_sub(groups_before)
                .unwrap_or_else(|| panic!("a committed booking vanished: {facts:?}"));
            assert!(kept <= 1, "{kept} bookings from one tap");
            outcomes.push((delay, kept));
        }
        let (Some(delay), Some(person)) = (delays_us.get(round), people.get(round)) else {
            break;
        };
        wait_numbers(&mut client).await;
        book_until_review(&mut client, &kiosk.reader, person).await;
        let groups_before = store_facts(&kiosk.db()).groups;
        client.send(&Intent::ConfirmBooking).await.expect("sent");
        if *delay > 0 {
            // A thread sleep: tokio's timer has a millisecond grain.
            std::thread::sleep(Duration::from_micros(*delay));
        }
        daemon.signal(libc::SIGKILL);
        daemon.wait_exit(Duration::from_secs(5)).expect("killed");
        pending = Some((*delay, groups_before));
    }

    let committed = outcomes.iter().filter(|(_, n)| *n == 1).count();
    let tickets = kiosk.printer.tickets().len();
    println!(
        "SIGKILL after book, (delay us, bookings kept): {outcomes:?}; {committed} kept, {} absent; {} tickets printed for {} bookings",
        outcomes.len() - committed,
        tickets,
        facts.registrations
    );
    assert_eq!(outcomes.len(), delays_us.len());
    assert!(
        tickets as u64 >= facts.registrations,
        "every booking printed at least once: {tickets} for {facts:?}"
    );
    central.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_idle_and_mid_booking() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    enroll(&kiosk).await;
    let log = kiosk.root.join("daemon.log");

    // Idle stops, timed from the signal to the exit.
    let mut idle_ms = Vec::new();
    for _ in 0..5 {
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        let _client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        let t = Instant::now();
        daemon.signal(libc::SIGTERM);
        let status = daemon
            .wait_exit(Duration::from_secs(15))
            .expect("stopped within TimeoutStopSec");
        idle_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(status.success(), "{status}\n{}", daemon.log_text());
        assert!(
            !kiosk.socket().exists(),
            "the control socket is removed on a clean stop"
        );
    }

    // A stop right after "book": the booking in progress is committed and its ticket
    // printed whole, or the booking is not there; either way the exit is clean.
    let people = plain_people(3);
    let mut busy_ms = Vec::new();
    for (delay, person) in [0u64, 20, 100].iter().zip(&people) {
        // Debug, everything: no line may carry the applicant's data.
        let mut daemon = Daemon::spawn_with_log_level(&kiosk.config, &log, "debug");
        let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        wait_numbers(&mut client).await;
        book_until_review(&mut client, &kiosk.reader, person).await;
        client.send(&Intent::ConfirmBooking).await.expect("sent");
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let t = Instant::now();
        daemon.signal(libc::SIGTERM);
        let status = daemon
            .wait_exit(Duration::from_secs(15))
            .expect("stopped within TimeoutStopSec");
        busy_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(status.success(), "{status}\n{}", daemon.log_text());
        let facts = store_facts(&kiosk.db());
        assert_whole(&facts, "after SIGTERM");
        assert!(
            daemon.log_text().contains("store closed"),
            "the store was closed, not abandoned:\n{}",
            daemon.log_text()
        );
    }
    let text = std::fs::read_to_string(&log).expect("daemon log");
    assert!(
        text.contains("booking committed"),
        "a debug log of real bookings"
    );
    for person in &people {
        for (what, value) in [
            ("NIK", &person.nik),
            ("name", &person.name),
            ("address", &person.address),
            ("KK", &person.kk),
        ] {
            assert!(
                !text.contains(value.as_str()),
                "the applicant's {what} is in the log"
            );
        }
    }
    let facts = store_facts(&kiosk.db());
    println!(
        "SIGTERM to exit, idle: {:?} ms, median {:.0} ms; right after book: {:?} ms; bookings kept {} of 3, unprinted {}",
        idle_ms.iter().map(|v| v.round()).collect::<Vec<_>>(),
        median(&mut idle_ms.clone()),
        busy_ms.iter().map(|v| v.round()).collect::<Vec<_>>(),
        facts.groups,
        facts.unprinted
    );
    central.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_stops_the_start_with_what_to_do() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    // A sound store first, closed cleanly (its WAL folded back into the file).
    {
        let _store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
    }
    let mut bytes = std::fs::read(kiosk.db()).expect("db read");
    assert!(bytes.len() >= 3 * 4096, "{} bytes", bytes.len());
    // Page 2 onwards mangled, as a torn write on a card without power-loss protection.
    for b in &mut bytes[4096..3 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(kiosk.db(), &bytes).expect("db written");

    let log = kiosk.root.join("daemon.log");
    let mut daemon = Daemon::spawn(&kiosk.config, &log);
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon gives up");
    assert!(!status.success());
    let text = daemon.log_text();
    assert!(text.contains("is damaged"), "{text}");
    assert!(text.contains("A damaged database"), "{text}");
    assert!(!text.contains("kiosk running"), "{text}");
}

/// One applicant booked through the screens, ticket taken, back at idle.
async fn book(
    client: &mut apm_kiosk::control::Client,
    kiosk: &Kiosk,
    person: &apm_kiosk::simulate::crowd::Person,
) {
    book_until_review(client, &kiosk.reader, person).await;
    client.send(&Intent::ConfirmBooking).await.expect("sent");
    daemon_support::wait_screen(client, "done").await;
    client.send(&Intent::Finish).await.expect("sent");
    daemon_support::wait_screen(client, "idle").await;
}

/// Asks for sync rounds until `done` holds of the database, or fails after `limit`.
async fn sync_until(
    client: &mut apm_kiosk::control::Client,
    kiosk: &Kiosk,
    limit: Duration,
    done: impl Fn(&rusqlite::Connection) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        let conn = rusqlite::Connection::open_with_flags(
            kiosk.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("database opens");
        if done(&conn) {
            return;
        }
        assert!(Instant::now() < deadline, "the sync never got there");
        client
            .command(
                apm_kiosk::control::Command::SyncNow,
                Duration::from_secs(20),
            )
            .await
            .expect("sync_now");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The changes' bookkeeping read from the file: (queued, answered, in both).
fn change_facts(kiosk: &Kiosk) -> (i64, i64, i64) {
    let conn = rusqlite::Connection::open_with_flags(
        kiosk.db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    (
        count(&conn, "SELECT COUNT(*) FROM change_queue"),
        count(&conn, "SELECT COUNT(*) FROM change_answers"),
        count(
            &conn,
            "SELECT COUNT(*) FROM change_queue q JOIN change_answers a USING (change_id)",
        ),
    )
}

/// The kiosk's means to tag and sign, read from its state directory as the daemon reads
/// them.
struct Means {
    enrollment: apm_kiosk::identity::Enrollment,
    key: apm_kiosk::identity::KioskKey,
}

impl Means {
    fn of(kiosk: &Kiosk) -> Means {
        Means {
            enrollment: apm_kiosk::identity::Enrollment::load(&kiosk.state)
                .expect("enrollment readable")
                .expect("enrolled"),
            key: apm_kiosk::identity::KioskKey::load_or_create(&kiosk.state).expect("key"),
        }
    }

    fn tag(&self, nik: &str) -> String {
        let secret = apm_kiosk::identity::nik_tag_secret(self.key.signing_key());
        apm_kiosk::identity::nik_tag(&secret, nik)
    }

    /// A moved booking's new ticket, as the daemon reissues it.
    fn reissue(&self, t: &apm_kiosk::store::ReissuedTicket<'_>) -> Option<String> {
        let claims = t.claims(&self.enrollment.kiosk_id)?;
        Some(apm_kiosk::protocol::ticket_qr::sign(
            &claims,
            self.key.signing_key(),
        ))
    }
}

/// With the daemon stopped: the applicant's booking cancelled, or moved to another
/// session with a free number, through the store as the daemon's screens do on confirm.
fn queue_change(kiosk: &Kiosk, means: &Means, nik: &str, cancel: bool) {
    use apm_kiosk::store::changes::{CancelOutcome, ReschedulePlan};
    let mut store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store opens");
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let mine = store.bookings_of(&means.tag(nik), today).expect("bookings");
    let b = mine.first().expect("the applicant's booking");
    if cancel {
        let out = store
            .cancel_booking(&b.registration_id, uuid::Uuid::now_v7(), now)
            .expect("cancelled");
        assert!(matches!(out, CancelOutcome::Queued { .. }), "{out:?}");
        return;
    }
    let to = store
        .free_numbers(today, today + chrono::TimeDelta::days(30))
        .expect("free numbers")
        .into_iter()
        .find(|f| {
            f.office_id == b.office_id
                && f.kind == b.queue_number.kind
                && (f.date, &f.session_id) != (b.date, &b.session_id)
        })
        .expect("a free number in another session");
    let sign = |t: &apm_kiosk::store::ReissuedTicket<'_>| means.reissue(t);
    let r = store
        .reschedule_booking(&ReschedulePlan {
            registration_id: &b.registration_id,
            date: to.date,
            session_id: &to.session_id,
            change_id: uuid::Uuid::now_v7(),
            at: now,
            today,
            sign: &sign,
        })
        .expect("rescheduled");
    assert!(r.queued.is_some(), "the service has it: queued");
}

/// The service and the kiosk agree on every applicant's booking: a cancelled one is
/// at neither, a standing one at the same session, number and reschedules left.
async fn kiosk_and_service_agree(
    central: &apm_kiosk_testkit::central::Central,
    kiosk: &Kiosk,
    people: &[apm_kiosk::simulate::crowd::Person],
) -> (usize, usize) {
    use apm_kiosk::sync::bookings::BookingApi as _;
    let means = Means::of(kiosk);
    let api = apm_kiosk_testkit::central::client(&central.base, Some(&means.enrollment.token));
    let store = apm_kiosk::store::Store::open_read_only(&kiosk.db()).expect("store");
    let today = chrono::Utc::now().date_naive();
    let (mut gone, mut standing) = (0, 0);
    for person in people {
        let req = apm_kiosk::protocol::central_v11::FindRequest {
            nik: person.nik.clone(),
        };
        let found = api.find(&req).await.expect("find").bookings;
        let mine = store.bookings_of(&means.tag(&person.nik), today);
        match (found.first(), mine.expect("bookings").first()) {
            (None, None) => gone += 1,
            (Some(f), Some(m)) => {
                assert_eq!(f.registration_id.to_string(), m.registration_id);
                assert_eq!((f.date, &f.session_id), (m.date, &m.session_id));
                assert_eq!(f.queue_number, m.queue_number.number);
                assert_eq!(f.reschedules_left, m.reschedules_left);
                standing += 1;
            }
            other => panic!("the kiosk and the service disagree: {other:?}"),
        }
    }
    (gone, standing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_cancels_and_reschedules_are_sent_loses_none_and_applies_each_once() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    enroll(&kiosk).await;
    let log = kiosk.root.join("daemon.log");
    // Microseconds from the daemon's start to the kill: its first sync round sends the
    // change queued while it was down; the cuts land before, during and after it.
    let delays_us = [
        5_000u64, 15_000, 25_000, 35_000, 45_000, 55_000, 65_000, 80_000, 100_000, 130_000,
    ];
    let people = plain_people(delays_us.len());
    {
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        wait_numbers(&mut client).await;
        for person in &people {
            book(&mut client, &kiosk, person).await;
        }
        sync_until(&mut client, &kiosk, Duration::from_secs(30), |c| {
            count(c, "SELECT COUNT(*) FROM upload_queue") == 0
        })
        .await;
        daemon.signal(libc::SIGTERM);
        daemon.wait_exit(Duration::from_secs(15)).expect("stopped");
    }
    let means = Means::of(&kiosk);
    // (delay, answered when it was cut)
    let mut cuts = Vec::new();
    for (i, (delay, person)) in delays_us.iter().zip(&people).enumerate() {
        queue_change(&kiosk, &means, &person.nik, i % 2 == 0);
        let (queued, answered, _) = change_facts(&kiosk);
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        std::thread::sleep(Duration::from_micros(*delay));
        daemon.signal(libc::SIGKILL);
        daemon.wait_exit(Duration::from_secs(5)).expect("killed");
        assert_eq!(store_facts(&kiosk.db()).integrity, "ok");
        let after = change_facts(&kiosk);
        assert_eq!(
            after.0 + after.1,
            queued + answered,
            "a change lost: {after:?}"
        );
        assert_eq!(after.2, 0, "a change both queued and answered");
        cuts.push((*delay, after.1 - answered));
    }

    // Then left to run: every change answered, once.
    let mut daemon = Daemon::spawn(&kiosk.config, &log);
    let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
    sync_until(&mut client, &kiosk, Duration::from_secs(30), |c| {
        count(c, "SELECT COUNT(*) FROM change_queue") == 0
    })
    .await;
    daemon.signal(libc::SIGTERM);
    daemon.wait_exit(Duration::from_secs(15)).expect("stopped");
    let n = delays_us.len() as i64;
    assert_eq!(change_facts(&kiosk), (0, n, 0));
    let (gone, standing) = kiosk_and_service_agree(&central, &kiosk, &people).await;
    assert_eq!(
        (gone, standing),
        (people.len() / 2, people.len() - people.len() / 2)
    );
    let numbers = apm_kiosk_testkit::kiosk::accepted_numbers(&central.sim);
    let distinct: std::collections::HashSet<_> = numbers.iter().collect();
    assert_eq!(distinct.len(), numbers.len(), "a queue number booked twice");
    println!(
        "SIGKILL after start with one change queued, (delay us, answered before the cut): {cuts:?}"
    );
    central.stop().await;
}

/// Mounts a tmpfs of `mib` MiB on `dir`; unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mib: u32) -> SmallDisk {
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallDisk(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A real full disk, as a kiosk meets it (root only: it mounts a 4 MiB tmpfs as the
/// state directory). Run with `cargo test --test power_cut -- --ignored` as root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: mounts a tmpfs"]
async fn a_restart_on_a_really_full_disk_says_disk_full_and_where_then_waits_out_of_service() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    let _disk = SmallDisk::mount(&kiosk.state, 4);
    {
        let _store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
    }
    // Filled to the last byte, as a runaway log fills it.
    let filler = kiosk.state.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);

    let log = kiosk.root.join("daemon.log");
    let mut daemon = Daemon::spawn(&kiosk.config, &log);
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon gives up");
    assert!(!status.success());
    let text = daemon.log_text();
    let said = format!("disk full: the file system of {}", kiosk.state.display());
    assert!(text.contains(&said), "{text}");
    assert!(!text.contains("kiosk running"), "{text}");

    // Some space back, still below the threshold: it starts, and takes no booking.
    std::fs::remove_file(&filler).expect("freed");
    let mut daemon = Daemon::spawn(&kiosk.config, &kiosk.root.join("daemon2.log"));
    let client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
    assert_eq!(
        client.view["out_of_service"], "disk_full",
        "{}",
        client.view
    );
    daemon.signal(libc::SIGTERM);
    daemon.wait_exit(Duration::from_secs(20)).expect("stops");
}
