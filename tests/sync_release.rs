//! Numbers given back to the central service are never booked again, even when the
//! service's answer to the release is lost: the release may have freed them there, and a
//! ticket on a freed number is rejected `number_not_held` after the applicant has left.

use apm_kiosk::protocol::central::RegistrationStatus;
use apm_kiosk_sim::central::Faults;
use apm_kiosk_testkit::central::{self, client};
use apm_kiosk_testkit::fixtures::{day, karimun, nik, tuesday_morning};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, config};

const RELEASE: &str = "/v1/allocations/release";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_is_lost_leaves_booking_and_is_sent_again() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "REL-0001").await;
    let other = KioskUnderTest::enrolled(&central, "REL-0002").await;
    let tomorrow = day("2026-12-02");
    let (mut greedy, _) = kiosk.syncer(&central.base, config(3, 12, 12));
    greedy.round(now).await.expect("round");
    assert_eq!(kiosk.free_regular(tomorrow).await, 36);

    // The service frees the surplus, then the connection breaks before its answer.
    central.sim.set_faults(Faults {
        lose_answer_rate: 1.0,
        only_paths: vec![RELEASE.into()],
        ..Faults::default()
    });
    let (mut modest, _) = kiosk.syncer(&central.base, config(3, 5, 5));
    modest
        .round(now)
        .await
        .expect_err("the release's answer is lost");
    assert_eq!(
        kiosk.free_regular(tomorrow).await,
        15,
        "the surplus left booking before the release was sent"
    );
    let waiting = kiosk
        .store
        .run(|s| s.queued_releases())
        .await
        .expect("queue");
    let surplus: usize = waiting.iter().map(|r| r.numbers.len()).sum();
    assert_eq!(surplus, 2 * 3 * 7 + 2 * 3, "today's and tomorrow's surplus");

    // The other kiosk can take what the service freed: it is not this kiosk's.
    let (mut second, _) = other.syncer(&central.base, config(2, 11, 11));
    second.round(now).await.expect("round");
    assert_eq!(other.free_regular(tomorrow).await, 33);

    // Everything this kiosk books now is on a number it still holds.
    let mut ids = Vec::new();
    let mut n = 0;
    while let Some(booked) = kiosk.book(tomorrow, &[nik(n)], now).await {
        ids.extend(booked);
        n += 1;
    }
    assert_eq!(ids.len(), 15);
    // A second lost answer: the same release goes out again and is lost again.
    modest.round(now).await.expect_err("lost again");
    assert_eq!(kiosk.pending().await, 0, "the uploads went first");
    let statuses = kiosk.statuses().await;
    assert_eq!(statuses.len(), 15);
    assert!(
        statuses.iter().all(|(_, s)| s == "accepted"),
        "every ticket accepted: {statuses:?}"
    );
    let rejected = central
        .sim
        .registrations()
        .expect("sim")
        .into_iter()
        .filter(|r| r.status != RegistrationStatus::Accepted)
        .count();
    assert_eq!(rejected, 0);

    // The answer comes through at last: the queue empties, nothing comes back to booking.
    central.sim.set_faults(Faults::default());
    let report = modest.round(now).await.expect("round");
    assert_eq!(report.numbers_released, surplus);
    let waiting = kiosk
        .store
        .run(|s| s.queued_releases())
        .await
        .expect("queue");
    assert!(waiting.is_empty(), "{waiting:?}");
    assert_eq!(kiosk.free_regular(tomorrow).await, 0);
    let report = modest.round(now).await.expect("round");
    assert_eq!(report.numbers_released, 0, "nothing is released twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_refused_for_who_asks_stays_queued_for_after_the_fix() {
    let now = tuesday_morning();
    let central = central::start_at(karimun(16, 4), now).await;
    let kiosk = KioskUnderTest::enrolled(&central, "REL-0003").await;
    let (mut greedy, _) = kiosk.syncer(&central.base, config(3, 12, 12));
    greedy.round(now).await.expect("round");
    let tomorrow = day("2026-12-02");
    let held: u32 = kiosk
        .store
        .run(move |s| s.held_counts(tomorrow))
        .await
        .expect("held")
        .iter()
        .filter(|h| h.date == tomorrow)
        .map(|h| h.free)
        .sum();
    let surplus = kiosk
        .store
        .run(move |s| s.reserve_for_release("KRM", tomorrow, now))
        .await
        .expect("reserved");
    assert!(held >= 36, "{held}");
    assert_eq!(surplus.0, held as usize);
    // A token the service does not know: 401, nothing freed there.
    let stranger = client(&central.base, Some("not-this-kiosks-token"));
    let sent = apm_kiosk::sync::send_releases(&stranger, &kiosk.store, surplus.1.clone()).await;
    assert!(sent.is_err(), "{sent:?}");
    let waiting = kiosk
        .store
        .run(|s| s.queued_releases())
        .await
        .expect("queue");
    assert_eq!(
        waiting, surplus.1,
        "kept to send once the enrollment is fixed"
    );
    let own = client(&central.base, Some(&kiosk.token));
    let sent = apm_kiosk::sync::send_releases(&own, &kiosk.store, waiting).await;
    assert_eq!(sent.expect("answered"), surplus.0);
    let waiting = kiosk
        .store
        .run(|s| s.queued_releases())
        .await
        .expect("queue");
    assert!(waiting.is_empty());
}
