//! The sync loop's other duties against the central simulator: the NIK blocklist (and a
//! NIK the service blocks refused at the kiosk with the network gone), a damaged queue
//! row that must not hold the others back, one malformed result in a batch answer that
//! holds back only its own registration, surplus numbers given back, the heartbeat's
//! clock check, and the guardrail.

use apm_kiosk::domain::rules::{self, RuleViolation};
use apm_kiosk::protocol::central::nik_hash;
use apm_kiosk::sync::planner::Guardrail;
use apm_kiosk_sim::central::Faults;
use apm_kiosk_testkit::central;
use apm_kiosk_testkit::fixtures::{day, karimun, nik, tuesday_morning};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, config};
use chrono::TimeDelta;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nik_blocked_by_the_service_is_refused_offline() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let batam_side = KioskUnderTest::enrolled(&central, "KSK-0001").await;
    let island = KioskUnderTest::enrolled(&central, "KSK-0002").await;
    let tomorrow = day("2026-12-02");
    let person = nik(42);

    // The person books at the first kiosk, which syncs.
    let (mut first, _) = batam_side.syncer(&central.base, config(2, 3, 4));
    first.round(now).await.expect("round");
    batam_side
        .book(tomorrow, std::slice::from_ref(&person), now)
        .await
        .expect("booked");
    first.round(now).await.expect("round");
    assert_eq!(batam_side.statuses().await[0].1, "accepted");

    // The island kiosk syncs once: the blocklist arrives, its version is kept.
    let (mut island_sync, status) = island.syncer(&central.base, config(2, 3, 4));
    island_sync.round(now).await.expect("round");
    let version = status.borrow().blocklist_version;
    assert!(version > 0);
    assert_eq!(status.borrow().blocklist_entries, 1);
    let stored = island
        .store
        .run(|s| s.blocklist_version())
        .await
        .expect("version");
    assert_eq!(stored, version);

    // The network goes; the person comes to the island kiosk. This is the check the
    // daemon makes on CheckApplicant: the keyed hash, the store, the rule.
    drop(island_sync);
    drop(central);
    let h = nik_hash(&island.nik_hash_key, &person);
    let blocked = island
        .store
        .run(move |s| s.blocked_until(&h))
        .await
        .expect("lookup");
    let today = day("2026-12-01");
    assert!(
        matches!(
            rules::check_blocklist(blocked, today),
            Err(RuleViolation::Blocked { .. })
        ),
        "{blocked:?}"
    );
    // Someone else is not blocked.
    let h = nik_hash(&island.nik_hash_key, &nik(43));
    let other = island
        .store
        .run(move |s| s.blocked_until(&h))
        .await
        .expect("lookup");
    assert_eq!(rules::check_blocklist(other, today), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklist_deltas_replace_upsert_and_expire() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0003").await;
    let store = kiosk.store.clone();
    let today = day("2026-12-01");
    // (what, version, full, upsert, remove, entries after)
    type Case<'a> = (
        &'a str,
        u64,
        bool,
        Vec<(&'a str, &'a str)>,
        Vec<&'a str>,
        Vec<&'a str>,
    );
    let cases: [Case; 5] = [
        (
            "full list",
            10,
            true,
            vec![
                ("00000000000000aa", "2026-12-30"),
                ("00000000000000bb", "2026-12-05"),
            ],
            vec![],
            vec!["00000000000000aa", "00000000000000bb"],
        ),
        (
            "delta: one more, one removed",
            11,
            false,
            vec![("00000000000000cc", "2026-12-10")],
            vec!["00000000000000aa"],
            vec!["00000000000000bb", "00000000000000cc"],
        ),
        (
            "delta: a later day for one, one already past, one malformed",
            12,
            false,
            vec![
                ("00000000000000bb", "2027-01-05"),
                ("00000000000000dd", "2026-11-30"),
                ("NOT-A-HASH", "2027-01-01"),
            ],
            vec![],
            vec!["00000000000000bb", "00000000000000cc"],
        ),
        (
            "full list replaces everything",
            13,
            true,
            vec![("00000000000000ee", "2026-12-01")],
            vec![],
            vec!["00000000000000ee"],
        ),
        (
            "empty delta",
            13,
            false,
            vec![],
            vec![],
            vec!["00000000000000ee"],
        ),
    ];
    for (what, version, full, upsert, remove, want) in cases {
        let upsert: Vec<(String, chrono::NaiveDate)> = upsert
            .iter()
            .map(|(h, d)| (h.to_string(), day(d)))
            .collect();
        let remove: Vec<String> = remove.iter().map(|h| h.to_string()).collect();
        let applied = store
            .run(move |s| s.apply_blocklist(version, full, &upsert, &remove, today))
            .await
            .expect("applied");
        assert_eq!(applied.total, want.len(), "{what}");
        for h in want {
            let key = h.to_owned();
            let until = store.run(move |s| s.blocked_until(&key)).await.expect("q");
            assert!(until.is_some(), "{what}: {h}");
        }
        assert_eq!(
            store.run(|s| s.blocklist_version()).await.expect("v"),
            version,
            "{what}"
        );
    }
    // A day later the entry blocked until 1 December is dropped on the next apply.
    let applied = store
        .run(move |s| s.apply_blocklist(13, false, &[], &[], day("2026-12-02")))
        .await
        .expect("applied");
    assert_eq!((applied.expired, applied.total), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_queue_row_is_reported_and_does_not_block_the_others() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0004").await;
    let (mut syncer, status) = kiosk.syncer(&central.base, config(2, 3, 8));
    syncer.round(now).await.expect("numbers");
    let tomorrow = day("2026-12-02");
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.extend(kiosk.book(tomorrow, &[nik(n)], now).await.expect("booked"));
    }
    // The second booking's stored applicant record is damaged on disk.
    let damaged = ids[1].clone();
    {
        let raw = rusqlite::Connection::open(&kiosk.db_path).expect("raw db");
        raw.execute(
            "UPDATE registrations SET applicant = '{\"nik\": 12' WHERE registration_id = ?1",
            [&damaged],
        )
        .expect("damaged");
    }
    syncer.round(now).await.expect("round");
    assert_eq!(status.borrow().undecodable, vec![damaged.clone()]);
    let statuses = kiosk.statuses().await;
    for (id, st) in &statuses {
        let want = if *id == damaged {
            "pending"
        } else {
            "accepted"
        };
        assert_eq!(st, want, "{id}");
    }
    assert_eq!(kiosk.pending().await, 1, "the damaged row stays queued");
    let note: Option<String> = rusqlite::Connection::open(&kiosk.db_path)
        .expect("raw db")
        .query_row(
            "SELECT last_error FROM upload_queue WHERE registration_id = ?1",
            [&damaged],
            |r| r.get(0),
        )
        .expect("row");
    let note = note.expect("a note for the technician");
    assert!(note.contains("applicant"), "{note}");
    assert!(!note.contains("12"), "no content of the record: {note}");
    let regs = central.sim.registrations().expect("regs");
    assert_eq!(regs.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_receipt_holds_back_only_its_own_registration() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0007").await;
    let (mut syncer, status) = kiosk.syncer(&central.base, config(2, 3, 8));
    syncer.round(now).await.expect("numbers");
    let tomorrow = day("2026-12-02");
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.extend(kiosk.book(tomorrow, &[nik(n)], now).await.expect("booked"));
    }
    // The service answers the first accepted result of the batch with a receipt that
    // is not base64; the other three are as the spec says.
    central.sim.set_faults(Faults {
        malformed_receipts: 1,
        ..Faults::default()
    });
    let report = syncer
        .round(now)
        .await
        .expect("the round is not failed for one result");
    assert_eq!((report.uploaded, report.accepted), (3, 3), "{report:?}");
    let quirk = ids[0].clone();
    let unreadable = status.borrow().unreadable_results.clone();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].registration_id, quirk);
    assert!(unreadable[0].problem.contains("base64"), "{unreadable:?}");
    for (id, st) in kiosk.statuses().await {
        let want = if id == quirk { "pending" } else { "accepted" };
        assert_eq!(st, want, "{id}");
    }
    let note: Option<String> = rusqlite::Connection::open(&kiosk.db_path)
        .expect("raw db")
        .query_row(
            "SELECT last_error FROM upload_queue WHERE registration_id = ?1",
            [&quirk],
            |r| r.get(0),
        )
        .expect("row");
    assert!(note.expect("a note").contains("cannot be read"));

    // The next round sends it again, alone, and the service's first answer stands.
    let report = syncer.round(now).await.expect("round");
    assert_eq!((report.uploaded, report.accepted), (1, 1), "{report:?}");
    assert!(status.borrow().unreadable_results.is_empty());
    assert_eq!(kiosk.pending().await, 0);
    let regs = central.sim.registrations().expect("regs");
    assert_eq!(regs.len(), 4, "each once at the service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surplus_numbers_for_tomorrow_go_back_to_the_pool() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0005").await;
    let other = KioskUnderTest::enrolled(&central, "KSK-0006").await;
    let tomorrow = day("2026-12-02");
    // First the kiosk holds 12 a session for two days...
    let (mut greedy, _) = kiosk.syncer(&central.base, config(3, 12, 12));
    greedy.round(now).await.expect("round");
    assert_eq!(kiosk.free_regular(tomorrow).await, 36);
    // ...then it is set to hold 5: tomorrow's surplus (7 a session) goes back, the day
    // after tomorrow is not at hand and keeps its 12.
    let (mut modest, status) = kiosk.syncer(&central.base, config(3, 5, 5));
    let report = modest.round(now).await.expect("round");
    assert_eq!(
        report.numbers_released,
        2 * 3 * 7 + 2 * 3,
        "today's and tomorrow's surplus: 7 regular and 1 priority a session"
    );
    assert_eq!(kiosk.free_regular(tomorrow).await, 15);
    drop(status);
    // What went back is the other kiosk's to take: 16 - 5 a session.
    let (mut second, _) = other.syncer(&central.base, config(2, 11, 11));
    second.round(now).await.expect("round");
    assert_eq!(other.free_regular(tomorrow).await, 33);
    let day_after = day("2026-12-03");
    let later = kiosk
        .store
        .run(move |s| s.availability("KRM", day_after))
        .await
        .expect("availability");
    let kept: u32 = later
        .slots
        .iter()
        .filter(|s| s.date == day_after)
        .map(|s| s.regular)
        .sum();
    assert_eq!(kept, 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_reports_and_a_skewed_clock_raises_the_alert() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0007").await;
    // The service's clock follows the real one: no skew.
    central.sim.set_clock(None);
    let (mut syncer, status) = kiosk.syncer(&central.base, config(1, 1, 1));
    let report = syncer.round(now).await.expect("round");
    assert!(report.heartbeat_sent);
    assert!(status.borrow().clock_skew_s.is_some_and(|s| s.abs() <= 2));
    assert!(!status.borrow().clock_alert);
    // Within the minute, no second heartbeat.
    let report = syncer.round(now).await.expect("round");
    assert!(!report.heartbeat_sent);

    // A new syncer (a restart) meets a service three minutes ahead.
    central
        .sim
        .set_clock(Some(chrono::Utc::now() + TimeDelta::minutes(3)));
    let (mut restarted, status) = kiosk.syncer(&central.base, config(1, 1, 1));
    restarted.round(now).await.expect("round");
    let skew = status.borrow().clock_skew_s.expect("measured");
    assert!((178..=182).contains(&skew), "{skew}");
    assert!(status.borrow().clock_alert);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guardrail_stops_bookings_while_the_queue_is_overdue_or_long() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "KSK-0008").await;
    let mut cfg = config(2, 8, 8);
    cfg.guardrail.max_unsynced = 10;
    let (mut syncer, status) = kiosk.syncer(&central.base, cfg);
    syncer.round(now).await.expect("numbers");
    assert_eq!(syncer.check_guardrail(now).await, None);
    let tomorrow = day("2026-12-02");
    for n in 0..11 {
        kiosk.book(tomorrow, &[nik(n)], now).await.expect("booked");
    }
    // Eleven waiting, the limit is ten.
    assert_eq!(
        syncer.check_guardrail(now).await,
        Some(Guardrail::SyncBacklog)
    );
    assert_eq!(status.borrow().guardrail, Some(Guardrail::SyncBacklog));
    // Eight days on, the oldest is overdue, which is said first.
    let later = now + TimeDelta::days(8);
    assert_eq!(
        syncer.check_guardrail(later).await,
        Some(Guardrail::SyncOverdue)
    );
    // The network returns, the queue drains: back in service.
    syncer.round(now).await.expect("round");
    assert_eq!(kiosk.pending().await, 0);
    assert_eq!(syncer.check_guardrail(later).await, None);
    assert_eq!(status.borrow().guardrail, None);
}
