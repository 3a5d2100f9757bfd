//! Two kiosks share Karimun's quota; one is offline for the whole run and books only
//! against the numbers it held before. No queue number may be booked twice, and the
//! offline kiosk's bookings must all be accepted when it comes back.

use std::collections::HashSet;

use apm_kiosk::protocol::central::RegistrationStatus;
use apm_kiosk_testkit::central::{self, Central, dead_address};
use apm_kiosk_testkit::fixtures::{day, karimun, nik, tuesday_morning};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, accepted_numbers, config};
use chrono::{DateTime, NaiveDate, Utc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_kiosk_never_overbooks_and_is_accepted_when_back() {
    let now = tuesday_morning();
    // 16 regular numbers a session: three sessions a day, a quota the two must share.
    let central = central::start_at(karimun(16, 4), now).await;
    let online = KioskUnderTest::enrolled(&central, "ONLN-0001").await;
    let island = KioskUnderTest::enrolled(&central, "ISLD-0001").await;
    let tomorrow = day("2026-12-02");

    the_island_fills_its_hold(&central, &island, now, tomorrow).await;
    let (online_booked, island_booked) =
        both_book_with_the_island_offline(&central, &online, &island, now, tomorrow).await;

    // The island kiosk comes back.
    let (mut island_back, _) = island.syncer(&central.base, config(2, 6, 6));
    island_back
        .round(now)
        .await
        .expect("island kiosk syncs again");
    assert_eq!(island.pending().await, 0);
    for (id, status) in island.statuses().await {
        assert_eq!(status, "accepted", "{id}");
    }
    for (id, status) in online.statuses().await {
        assert_eq!(status, "accepted", "{id}");
    }

    the_service_holds_every_booking(&central, &online_booked, &island_booked);
}

/// Before the run, the island kiosk fills its hold (today and tomorrow, 6 a slot).
async fn the_island_fills_its_hold(
    central: &Central,
    island: &KioskUnderTest,
    now: DateTime<Utc>,
    tomorrow: NaiveDate,
) {
    let (mut island_sync, _) = island.syncer(&central.base, config(2, 6, 6));
    island_sync
        .round(now)
        .await
        .expect("island kiosk syncs once");
    drop(island_sync);
    let island_holds = island
        .store
        .run(move |s| s.availability("KRM", tomorrow))
        .await
        .expect("availability");
    let held: u32 = island_holds
        .slots
        .iter()
        .filter(|s| s.date == tomorrow)
        .map(|s| s.regular)
        .sum();
    assert_eq!(
        held, 18,
        "6 regular numbers in each of tomorrow's 3 sessions"
    );
}

/// The run: the online kiosk books until the service has no more numbers for
/// tomorrow, while the island kiosk, offline throughout, books now and then and fails
/// to reach the service; then the island books all it still holds. Returns both
/// kiosks' registration ids (online, island).
async fn both_book_with_the_island_offline(
    central: &Central,
    online: &KioskUnderTest,
    island: &KioskUnderTest,
    now: DateTime<Utc>,
    tomorrow: NaiveDate,
) -> (Vec<String>, Vec<String>) {
    let dead = dead_address().await;
    let (mut island_offline, island_status) = island.syncer(&dead, config(2, 6, 6));
    let (mut online_sync, _) = online.syncer(&central.base, config(2, 4, 8));
    let mut online_booked = Vec::new();
    let mut island_booked = Vec::new();
    // Every applicant a different person.
    let mut people = 0..;
    let mut next = move || nik(people.next().unwrap_or_default());
    let mut dry_rounds = 0;
    while dry_rounds < 3 {
        match online.book(tomorrow, &[next()], now).await {
            Some(ids) => {
                online_booked.extend(ids);
                dry_rounds = 0;
            }
            None => {
                dry_rounds += 1;
                online_sync.round(now).await.expect("online kiosk syncs");
            }
        }
        // Meanwhile the island kiosk books offline, and fails to reach the service.
        if online_booked.len().is_multiple_of(3)
            && let Some(ids) = island.book(tomorrow, &[next()], now).await
        {
            island_booked.extend(ids);
        }
        assert!(
            island_offline.round(now).await.is_err(),
            "offline means offline"
        );
    }
    while let Some(ids) = island.book(tomorrow, &[next()], now).await {
        island_booked.extend(ids);
    }
    assert!(!island_status.borrow().online);
    assert_eq!(island_booked.len(), 18, "the island kiosk used all it held");
    assert_eq!(
        online_booked.len() + island_booked.len(),
        48,
        "together they booked tomorrow's whole regular quota"
    );
    assert_eq!(island.pending().await, 18, "all waiting for the network");
    (online_booked, island_booked)
}

/// The service holds both kiosks' bookings, accepted, and no number twice.
fn the_service_holds_every_booking(
    central: &Central,
    online_booked: &[String],
    island_booked: &[String],
) {
    let regs = central.sim.registrations().expect("registrations");
    assert_eq!(regs.len(), 48);
    assert!(
        regs.iter()
            .all(|r| r.status == RegistrationStatus::Accepted)
    );
    let numbers = accepted_numbers(&central.sim);
    let distinct: HashSet<_> = numbers.iter().collect();
    assert_eq!(distinct.len(), numbers.len(), "a queue number booked twice");
    let ids: HashSet<String> = regs.iter().map(|r| r.registration_id.to_string()).collect();
    for id in island_booked.iter().chain(online_booked) {
        assert!(ids.contains(id), "{id} never reached the service");
    }
}
