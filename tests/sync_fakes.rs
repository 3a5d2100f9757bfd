//! The sync loop against the central service in memory (`FakeCentral`): no loopback, no
//! sleeping. Releases refused, failed or lost, and the `Syncer`'s waits after failures
//! (backoff with jitter, `Retry-After`, the cap), measured on tokio's paused clock, so
//! a five-minute backoff takes no time and is measured to the nanosecond.

use std::sync::Arc;
use std::time::Duration;

use apm_kiosk::domain::QueueKind;
use apm_kiosk::protocol::central::{Key32, Release};
use apm_kiosk::protocol::ticket_qr;
use apm_kiosk::store::HeldAllocation;
use apm_kiosk::sync::client::ApiError;
use apm_kiosk::sync::{MAX_BACKOFF, SyncError, send_releases};
use apm_kiosk_testkit::fakes::{Endpoint, FakeCentral, Fault};
use apm_kiosk_testkit::fixtures::{day, nik, office, tuesday_morning};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, config};
use ed25519_dalek::SigningKey;
use tokio::sync::Notify;

/// A kiosk as the fake central service enrolls it.
fn kiosk() -> KioskUnderTest {
    KioskUnderTest::open(
        "FAKE-KIOSK-01",
        "fake-token",
        Key32([7; 32]),
        SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
    )
}

/// Karimun in the store and numbers 1 to 5 of tomorrow's S1 held, then taken out of
/// booking and queued for release, as a technician's `release_held` does. Returns the
/// queued releases.
async fn queued_release(kiosk: &KioskUnderTest) -> Vec<Release> {
    let tomorrow = day("2026-12-02");
    let now = tuesday_morning();
    let (queued, releases) = kiosk
        .store
        .run(move |s| {
            s.replace_offices(&[office()])?;
            s.add_held(&HeldAllocation {
                allocation_id: "fake-alloc-1".into(),
                office_id: "KRM".into(),
                date: tomorrow,
                session_id: "S1".into(),
                kind: QueueKind::Regular,
                numbers: (1..=5).collect(),
            })?;
            s.reserve_for_release("KRM", tomorrow, now)
        })
        .await
        .expect("numbers reserved");
    assert_eq!(queued, 5);
    assert_eq!(kiosk.free_regular(tomorrow).await, 0, "out of booking");
    releases
}

async fn waiting(kiosk: &KioskUnderTest) -> Vec<Release> {
    kiosk
        .store
        .run(|s| s.queued_releases())
        .await
        .expect("release queue")
}

/// (attempts, last error) of every queued number, from the database file.
fn attempts(kiosk: &KioskUnderTest) -> Vec<(u32, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        &kiosk.db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    let mut st = conn
        .prepare("SELECT attempts, last_error FROM release_queue ORDER BY number")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows read")
}

#[tokio::test(start_paused = true)]
async fn a_release_refused_for_what_it_asks_leaves_the_queue_and_stays_out_of_booking() {
    for (status, code) in [
        (400, "invalid"),
        (404, "unknown_allocation"),
        (409, "conflict"),
        (422, "invalid"),
    ] {
        let central = FakeCentral::new();
        let kiosk = kiosk();
        let releases = queued_release(&kiosk).await;
        central.fail_next(Endpoint::Release, Fault::refused(status, code));

        let sent = send_releases(&central, &kiosk.store, releases).await;
        match sent {
            Err(SyncError::Api(ApiError::Permanent { status: s, .. })) => {
                assert_eq!(s, status)
            }
            other => panic!("{status}: {other:?}"),
        }
        assert!(
            waiting(&kiosk).await.is_empty(),
            "{status}: a refusal is an answer, not sent again"
        );
        assert_eq!(
            kiosk.free_regular(day("2026-12-02")).await,
            0,
            "{status}: the numbers stay out of booking"
        );
        assert_eq!(central.calls(Endpoint::Release), 1, "{status}");
        assert_eq!(central.numbers_released(), 0, "{status}: nothing freed");
    }
}

#[tokio::test(start_paused = true)]
async fn a_release_refused_for_who_asks_stays_queued() {
    for status in [401, 403] {
        let central = FakeCentral::new();
        let kiosk = kiosk();
        let releases = queued_release(&kiosk).await;
        central.fail_next(Endpoint::Release, Fault::refused(status, "unauthorized"));
        let sent = send_releases(&central, &kiosk.store, releases.clone()).await;
        assert!(sent.is_err(), "{status}: {sent:?}");
        assert_eq!(waiting(&kiosk).await, releases, "{status}");
        assert!(
            attempts(&kiosk).iter().all(|(n, e)| *n == 1 && e.is_some()),
            "{status}: {:?}",
            attempts(&kiosk)
        );
        assert_eq!(kiosk.free_regular(day("2026-12-02")).await, 0, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_temporary_failure_keeps_releases_queued_and_notes_it() {
    let faults = [
        Fault::Unreachable,
        Fault::Unavailable {
            retry_after: Some(Duration::from_secs(30)),
        },
        Fault::Malformed,
    ];
    for fault in faults {
        let central = FakeCentral::new();
        let kiosk = kiosk();
        let releases = queued_release(&kiosk).await;
        central.fail_times(Endpoint::Release, fault.clone(), 2);

        for attempt in 1..=2 {
            let sent = send_releases(&central, &kiosk.store, waiting(&kiosk).await).await;
            assert!(
                matches!(&sent, Err(SyncError::Api(e)) if e.is_temporary()),
                "{fault:?}: {sent:?}"
            );
            assert_eq!(waiting(&kiosk).await, releases, "{fault:?}: kept queued");
            let noted = attempts(&kiosk);
            assert_eq!(noted.len(), 5, "{fault:?}");
            for (n, error) in noted {
                assert_eq!(n, attempt, "{fault:?}: the failure is noted");
                assert!(error.is_some_and(|e| !e.is_empty()), "{fault:?}");
            }
        }
        assert_eq!(kiosk.free_regular(day("2026-12-02")).await, 0, "{fault:?}");

        // The service answers at last: the queue empties, the numbers stay out.
        let sent = send_releases(&central, &kiosk.store, waiting(&kiosk).await).await;
        assert_eq!(sent.expect("answered"), 5, "{fault:?}");
        assert!(waiting(&kiosk).await.is_empty(), "{fault:?}");
        assert_eq!(kiosk.free_regular(day("2026-12-02")).await, 0, "{fault:?}");
        assert_eq!(central.calls(Endpoint::Release), 3, "{fault:?}");
        assert_eq!(central.numbers_released(), 5, "{fault:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_release_answer_is_sent_again_and_freed_once() {
    let central = FakeCentral::new();
    let kiosk = kiosk();
    let releases = queued_release(&kiosk).await;
    central.fail_next(Endpoint::Release, Fault::LoseAnswer);
    let sent = send_releases(&central, &kiosk.store, releases.clone()).await;
    assert!(sent.is_err(), "{sent:?}");
    assert_eq!(central.numbers_released(), 5, "the service did free them");
    assert_eq!(waiting(&kiosk).await, releases, "the kiosk cannot know");
    let sent = send_releases(&central, &kiosk.store, waiting(&kiosk).await).await;
    assert_eq!(sent.expect("answered"), 5, "the kiosk's own count");
    assert!(waiting(&kiosk).await.is_empty());
    assert_eq!(central.release_requests().len(), 2);
    assert_eq!(central.numbers_released(), 5, "freed once");
}

/// Runs the sync loop on paused time against a service whose `GET /v1/offices` fails
/// with `faults` in turn and then answers, and returns the waits between the first
/// `rounds` rounds (each round asks for the offices once).
async fn waits_between_rounds(faults: &[Fault], rounds: usize) -> Vec<Duration> {
    let central = FakeCentral::new();
    for fault in faults {
        central.fail_next(Endpoint::Offices, fault.clone());
    }
    let kiosk = kiosk();
    let (syncer, _status) = kiosk.syncer_with(central.clone(), config(2, 4, 8));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(syncer.run(Arc::new(Notify::new()), async {
        let _ = stopped.await;
    }));
    central.wait_calls(Endpoint::Offices, rounds).await;
    let _ = stop.send(());
    task.await.expect("the sync loop ends");
    let times = central.call_times(Endpoint::Offices);
    times[..rounds].windows(2).map(|w| w[1] - w[0]).collect()
}

fn within(wait: Duration, low_s: f64, high_s: f64) -> bool {
    (low_s..=high_s).contains(&wait.as_secs_f64())
}

#[tokio::test(start_paused = true)]
async fn the_syncer_backs_off_exponentially_and_honours_retry_after() {
    let started = std::time::Instant::now();
    let faults = [
        Fault::Unreachable,
        Fault::Unreachable,
        Fault::Unreachable,
        Fault::Unavailable {
            retry_after: Some(Duration::from_secs(120)),
        },
    ];
    let waits = waits_between_rounds(&faults, 6).await;
    // 2 s, 4 s, 8 s, each ±25% of jitter.
    assert!(within(waits[0], 1.5, 2.5), "{waits:?}");
    assert!(within(waits[1], 3.0, 5.0), "{waits:?}");
    assert!(within(waits[2], 6.0, 10.0), "{waits:?}");
    // The service asked for two minutes, longer than the 16 s backoff.
    assert_eq!(waits[3], Duration::from_secs(120), "{waits:?}");
    // Back online: the normal 30 s interval.
    assert_eq!(waits[4], Duration::from_secs(30), "{waits:?}");
    // Three minutes of the kiosk's time took (far) less of the test's.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn backoff_and_retry_after_stop_at_the_cap() {
    let long = Fault::Unavailable {
        retry_after: Some(Duration::from_secs(3600)),
    };
    let waits = waits_between_rounds(std::slice::from_ref(&long), 3).await;
    assert_eq!(waits, [MAX_BACKOFF, Duration::from_secs(30)]);

    let waits = waits_between_rounds(&vec![Fault::Unreachable; 12], 13).await;
    assert!(waits.iter().all(|w| *w <= MAX_BACKOFF), "{waits:?}");
    // From the ninth failure on, 2 s x 2^8 is over the cap: the cap less its jitter.
    for w in &waits[8..12] {
        assert!(within(*w, 225.0, 300.0), "{waits:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refusal_waits_the_normal_interval_not_a_backoff() {
    let waits = waits_between_rounds(&[Fault::refused(400, "invalid")], 3).await;
    assert_eq!(
        waits,
        [Duration::from_secs(30), Duration::from_secs(30)],
        "a permanent error is retried at the interval"
    );
}

#[tokio::test]
async fn a_round_on_the_fake_tops_up_then_uploads_signed_tickets() {
    let central = FakeCentral::new();
    let kiosk = kiosk();
    let now = tuesday_morning();
    let tomorrow = day("2026-12-02");
    let (mut syncer, _) = kiosk.syncer_with(central.clone(), config(2, 4, 8));
    let report = syncer.round(now).await.expect("round");
    assert!(report.offices_changed);
    assert!(report.numbers_received > 0, "{report:?}");
    assert_eq!(kiosk.free_regular(tomorrow).await, 3 * 8);

    let booked = kiosk
        .book(tomorrow, &[nik(1), nik(2)], now)
        .await
        .expect("booked");
    let report = syncer.round(now).await.expect("round");
    assert_eq!((report.uploaded, report.accepted), (2, 2), "{report:?}");
    assert_eq!(kiosk.pending().await, 0);
    assert!(kiosk.statuses().await.iter().all(|(_, s)| s == "accepted"));

    // What reached the service is what the daemon would have sent: signed APM2 tickets,
    // their NIK check keyed with the enrollment's NIK hash key.
    let public = kiosk.signer.verifying_key();
    let lookup = |k: &str| match k {
        "FAKE-KIOSK-01" => ticket_qr::KeyLookup::Known(public),
        _ => ticket_qr::KeyLookup::Unknown,
    };
    let checker = ticket_qr::Checker {
        keys: &lookup,
        nik_hash_key: Some(&kiosk.nik_hash_key),
        today: now.date_naive(),
    };
    let received = central.registrations();
    assert_eq!(received.len(), 2);
    for reg in &received {
        assert!(booked.contains(&reg.registration_id.to_string()));
        let verified = ticket_qr::verify(&reg.ticket, &reg.applicant.nik, &checker)
            .expect("the ticket verifies");
        assert_eq!(verified.version, ticket_qr::Version::Apm2);
        assert_eq!(verified.claims.r, reg.registration_id.to_string());
    }
    assert_eq!(central.calls(Endpoint::Upload), 1);
    assert_eq!(central.heartbeats().len(), 1, "one heartbeat a minute");
}

/// The whole daemon on a service without version 1.1: a cancel queued (of a booking
/// made at another kiosk, so that no upload goes first) stays queued, is tried once a
/// round, and the technician's report says what the service lacks; once the service has
/// 1.1 the cancel goes, and its refusal (`not_found`: the fake never had the booking) is
/// in the report, with no personal data.
#[tokio::test(start_paused = true)]
async fn the_report_says_what_the_service_lacks_of_version_1_1_and_what_it_refused() {
    use apm_kiosk::protocol::central_v11::ChangeRefusal;
    use apm_kiosk::store::changes::{ChangeKind, ServiceFeature};
    use apm_kiosk_testkit::daemon::DaemonOnFakes;

    let central = FakeCentral::new();
    central.lack_v11();
    let stopped = DaemonOnFakes::start(central.clone()).await.halt().await;
    let booking = uuid::Uuid::now_v7().to_string();
    {
        let mut store = apm_kiosk::store::Store::open(&stopped.db()).expect("store");
        store
            .queue_found_cancel(&booking, uuid::Uuid::now_v7(), tuesday_morning())
            .expect("queued");
    }
    let daemon = stopped
        .launch()
        .await
        .map_err(|(e, _)| e)
        .expect("restarts");
    let status = daemon.sync_round().await;
    assert!(
        status.sync.online,
        "a service without 1.1 is online: {status:?}"
    );
    let calls = central.calls(Endpoint::Cancel) as u64;
    assert!(
        (1..=status.sync.rounds).contains(&calls),
        "tried, once a round at most: {calls} in {} rounds",
        status.sync.rounds
    );
    let report = daemon.report().await;
    let lacking: Vec<ServiceFeature> = report.changes.lacking.iter().map(|l| l.feature).collect();
    assert_eq!(lacking, [ServiceFeature::Cancel]);
    assert_eq!(report.changes.waiting, 1);
    let said = report.problems.join("\n");
    assert!(
        said.contains("lacks version 1.1: cancel: the kiosk books as before"),
        "{said}"
    );

    central.heal();
    daemon.sync_round().await;
    let report = daemon.report().await;
    assert!(report.changes.lacking.is_empty(), "{:?}", report.changes);
    assert_eq!(report.changes.waiting, 0);
    let refused = &report.changes.refused;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        (refused[0].kind, &refused[0].refusal),
        (ChangeKind::Cancel, &ChangeRefusal::NotFound)
    );
    let said = report.problems.join("\n");
    assert!(
        said.contains("1 cancel(s) or reschedule(s) refused"),
        "{said}"
    );
    assert!(!said.contains(&booking), "{said}");
    daemon.stop().await;
}
