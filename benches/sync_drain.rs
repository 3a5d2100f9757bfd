//! Draining a long upload queue to the central simulator on loopback: 10,000 queued
//! registrations sent the way the sync loop sends them (batches of 500, gzip-compressed
//! request bodies, gzip answers), beside the naive way (one uncompressed POST per
//! registration). Prints the wall time and the bytes on the wire each way, counted by a
//! small TCP proxy between the client and the simulator. Then 1,000 changes of those
//! bookings (500 cancels, 500 reschedules, central API version 1.1), queued by the store
//! and sent as the sync sends them, one request each by change id (the spec has no batch
//! of changes). Asserts nothing: figures go to the README's Measured table.
//!
//! `cargo bench --bench sync_drain` (a debug build is fine: `cargo run`-like timing of
//! our code; the README says which build the figures are from).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apm_kiosk::domain::Language;
use apm_kiosk::flow::BookingRequest;
use apm_kiosk::protocol::central::{self as wire, RegistrationsRequest};
use apm_kiosk::store::UploadOutcome;
use apm_kiosk::sync::client::{CentralApi, HttpCentral};
use apm_kiosk::sync::registration_to_wire;
use apm_kiosk_testkit::central::{self, Central};
use apm_kiosk_testkit::fixtures::{day, karimun, member, nik, tuesday_morning, wib};
use apm_kiosk_testkit::kiosk::{KioskUnderTest, config};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REGISTRATIONS: usize = 10_000;
const GROUP: usize = 5;
const CHANGES: usize = 1_000;

/// Bytes through the proxy, each way.
#[derive(Default)]
struct Counted {
    up: AtomicU64,
    down: AtomicU64,
}

/// A TCP proxy on loopback to `target` that counts what passes; returns its base URL.
async fn counting_proxy(target: String, counted: Arc<Counted>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let up = pump(cr, sw, counted.clone(), true);
                let down = pump(sr, cw, counted, false);
                let _ = tokio::join!(up, down);
            });
        }
    });
    base
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counted: Arc<Counted>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let counter = if up { &counted.up } else { &counted.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A kiosk with `REGISTRATIONS` bookings queued, each with a real signed ticket.
async fn kiosk_with_queue(central: &Central, code: &str, now: DateTime<Utc>) -> KioskUnderTest {
    let kiosk = KioskUnderTest::enrolled(central, code).await;
    let (mut syncer, _) = kiosk.syncer(&central.base, config(3, 2000, 2000));
    syncer.round(now).await.expect("numbers for the queue");
    let dates = [day("2026-12-02"), day("2026-12-03")];
    let mut made = 0;
    let mut person = 0u32;
    'fill: for date in dates {
        for session in ["S1", "S2", "S3"] {
            while made < REGISTRATIONS {
                let members = (0..GROUP)
                    .map(|_| {
                        person += 1;
                        member(&nik(person), now.date_naive())
                    })
                    .collect();
                let request = BookingRequest {
                    office_id: "KRM".into(),
                    date,
                    session_id: session.into(),
                    language: Language::Id,
                    members,
                    created_at: now,
                };
                let signer = kiosk.signer.clone();
                let committed = kiosk
                    .store
                    .call(move |s| signer.commit(s, &request, day("2026-12-01")).is_ok())
                    .await
                    .expect("writer");
                if !committed {
                    break;
                }
                made += GROUP;
            }
            if made >= REGISTRATIONS {
                break 'fill;
            }
        }
    }
    assert_eq!(
        made, REGISTRATIONS,
        "the simulator handed out enough numbers"
    );
    kiosk
}

/// The sync loop's upload step: batches of 500 through the kiosk's client.
async fn drain_in_batches(kiosk: &KioskUnderTest, api: &HttpCentral, now: DateTime<Utc>) -> usize {
    let mut requests = 0;
    loop {
        let scan = kiosk
            .store
            .run(|s| s.scan_uploads(wire::MAX_REGISTRATIONS_PER_UPLOAD, &HashSet::new()))
            .await
            .expect("scan");
        if scan.rows.is_empty() {
            return requests;
        }
        let registrations: Vec<wire::Registration> = scan
            .rows
            .iter()
            .map(|p| registration_to_wire(p, wib()).expect("decodes"))
            .collect();
        let answer = api
            .upload(&RegistrationsRequest { registrations })
            .await
            .expect("upload");
        requests += 1;
        let outcomes: Vec<(String, UploadOutcome)> = answer
            .results
            .iter()
            .map(|r| {
                (
                    r.registration_id().to_string(),
                    UploadOutcome::Accepted { receipt: None },
                )
            })
            .collect();
        kiosk
            .store
            .run(move |s| s.record_results(&outcomes, now))
            .await
            .expect("results stored");
    }
}

/// One plain JSON POST per registration, no compression either way.
async fn drain_one_by_one(kiosk: &KioskUnderTest, base: &str, now: DateTime<Utc>) -> usize {
    let http = reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{base}/v1/registrations");
    let mut requests = 0;
    loop {
        let scan = kiosk
            .store
            .run(|s| s.scan_uploads(wire::MAX_REGISTRATIONS_PER_UPLOAD, &HashSet::new()))
            .await
            .expect("scan");
        if scan.rows.is_empty() {
            return requests;
        }
        let mut outcomes = Vec::with_capacity(scan.rows.len());
        for p in &scan.rows {
            let body = RegistrationsRequest {
                registrations: vec![registration_to_wire(p, wib()).expect("decodes")],
            };
            let answer: wire::RegistrationsResponse = http
                .post(&url)
                .bearer_auth(&kiosk.token)
                .json(&body)
                .send()
                .await
                .expect("post")
                .json()
                .await
                .expect("answer");
            requests += 1;
            assert_eq!(answer.results.len(), 1);
            outcomes.push((
                p.registration_id.clone(),
                UploadOutcome::Accepted { receipt: None },
            ));
        }
        kiosk
            .store
            .run(move |s| s.record_results(&outcomes, now))
            .await
            .expect("results stored");
    }
}

/// Changes queued for the first `CHANGES` applicants (the first half cancelled, the
/// other half moved to 3 December S3), as the daemon's screens queue them; their ids.
async fn queue_changes(kiosk: &KioskUnderTest, now: DateTime<Utc>) -> Vec<uuid::Uuid> {
    let signer = kiosk.signer.clone();
    kiosk
        .store
        .call(move |s| {
            let today = day("2026-12-01");
            let sign = |t: &apm_kiosk::store::ReissuedTicket<'_>| signer.reissue(t);
            (1..=CHANGES as u32)
                .map(|p| {
                    let who = nik(p);
                    let mine = s
                        .bookings_of(&signer.nik_tag(&who), today)
                        .expect("bookings");
                    let id = mine[0].registration_id.clone();
                    let change = uuid::Uuid::now_v7();
                    if p as usize <= CHANGES / 2 {
                        s.cancel_booking(&id, change, now).expect("cancelled");
                        return change;
                    }
                    let plan = apm_kiosk::store::changes::ReschedulePlan {
                        registration_id: &id,
                        date: day("2026-12-03"),
                        session_id: "S3",
                        change_id: change,
                        at: now,
                        today,
                        sign: &sign,
                    };
                    s.reschedule_booking(&plan).expect("rescheduled");
                    change
                })
                .collect()
        })
        .await
        .expect("writer")
}

/// Sends each change as the sync does and stores its answer; how many were done.
async fn send_changes(
    kiosk: &KioskUnderTest,
    api: &HttpCentral,
    changes: &[uuid::Uuid],
    now: DateTime<Utc>,
) -> usize {
    let mut done = 0;
    for change in changes {
        let answer = apm_kiosk::sync::changes::send_change_at(api, &kiosk.store, *change, now)
            .await
            .expect("answered");
        if matches!(answer, apm_kiosk::store::changes::ChangeAnswer::Done { .. }) {
            done += 1;
        }
    }
    done
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let now = tuesday_morning();
        println!(
            "sync_drain: {REGISTRATIONS} queued registrations to the central simulator on loopback"
        );

        // Batches of 500, gzip.
        let central = central::start_at(karimun(2000, 100), now).await;
        let filling = Instant::now();
        let kiosk = kiosk_with_queue(&central, "BNCH-0001", now).await;
        println!(
            "  (queue filled in {:.1} s)",
            filling.elapsed().as_secs_f64()
        );
        let counted = Arc::new(Counted::default());
        let target = central.base.trim_start_matches("http://").to_owned();
        let proxy = counting_proxy(target, counted.clone()).await;
        let api = HttpCentral::new(
            &proxy,
            Some(kiosk.token.clone()),
            Duration::from_secs(30),
            None,
        )
        .expect("client");
        let started = Instant::now();
        let requests = drain_in_batches(&kiosk, &api, now).await;
        let batched = (
            started.elapsed(),
            requests,
            counted.up.load(Ordering::Relaxed),
            counted.down.load(Ordering::Relaxed),
        );
        assert_eq!(
            central.sim.registrations().expect("sim").len(),
            REGISTRATIONS
        );

        // Cancels and reschedules of those bookings, one request each.
        measure_changes(&kiosk, &api, &counted, now).await;

        // One uncompressed POST per registration, to a fresh service.
        let central = central::start_at(karimun(2000, 100), now).await;
        let kiosk = kiosk_with_queue(&central, "BNCH-0002", now).await;
        let counted = Arc::new(Counted::default());
        let target = central.base.trim_start_matches("http://").to_owned();
        let proxy = counting_proxy(target, counted.clone()).await;
        let started = Instant::now();
        let requests = drain_one_by_one(&kiosk, &proxy, now).await;
        let single = (
            started.elapsed(),
            requests,
            counted.up.load(Ordering::Relaxed),
            counted.down.load(Ordering::Relaxed),
        );
        assert_eq!(
            central.sim.registrations().expect("sim").len(),
            REGISTRATIONS
        );

        println!(
            "  {:<34} {:>10} {:>9} {:>13} {:>13} {:>13}",
            "", "time", "requests", "sent", "received", "total"
        );
        for (name, (time, requests, up, down)) in [
            ("batches of 500, gzip", batched),
            ("one uncompressed POST each", single),
        ] {
            println!(
                "  {name:<34} {:>8.2} s {requests:>9} {:>13} {:>13} {:>13}",
                time.as_secs_f64(),
                kib(up),
                kib(down),
                kib(up + down),
            );
        }
        println!(
            "  per registration on the wire: {:.0} bytes batched, {:.0} bytes one by one",
            (batched.2 + batched.3) as f64 / REGISTRATIONS as f64,
            (single.2 + single.3) as f64 / REGISTRATIONS as f64,
        );
    });
}

/// Queues [`CHANGES`] cancels and reschedules of the drained bookings through the store,
/// sends them one request each, and prints what that took.
async fn measure_changes(
    kiosk: &KioskUnderTest,
    api: &HttpCentral,
    counted: &Counted,
    now: DateTime<Utc>,
) {
    let queueing = Instant::now();
    let changes = queue_changes(kiosk, now).await;
    let queued_in = queueing.elapsed();
    let (up0, down0) = (
        counted.up.load(Ordering::Relaxed),
        counted.down.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let done = send_changes(kiosk, api, &changes, now).await;
    let sent_in = started.elapsed();
    let change_bytes = (
        counted.up.load(Ordering::Relaxed) - up0,
        counted.down.load(Ordering::Relaxed) - down0,
    );

    println!(
        "  {CHANGES} changes ({} cancels, {} reschedules): queued in {:.2} s (one transaction each); sent in {:.2} s, {CHANGES} requests, {} sent, {} received ({:.0} bytes a change); {done} done",
        CHANGES / 2,
        CHANGES - CHANGES / 2,
        queued_in.as_secs_f64(),
        sent_in.as_secs_f64(),
        kib(change_bytes.0),
        kib(change_bytes.1),
        (change_bytes.0 + change_bytes.1) as f64 / CHANGES as f64,
    );
}
