//! The kiosk's `HttpCentral` client against the central simulator on loopback: the
//! whole API as the spec describes it, the booking rules the service enforces, and the
//! client's reading of faults. The simulator's clock is pinned so dates are fixed.

use std::collections::BTreeSet;
use std::time::Duration;

use apm_kiosk::domain::{ApplicationType, PassportType, PriorityReason, QueueKind, Sex};
use apm_kiosk::protocol::central::{
    Allocation, AllocationAsk, AllocationsRequest, Applicant, DenialReason, EnrollRequest,
    HeartbeatRequest, Key32, PrinterState, ReaderState, Registration, RegistrationStatus,
    RegistrationsRequest, RejectionReason, Release, ReleaseRequest, nik_hash, verify_receipt,
};
use apm_kiosk::sync::client::{ApiError, CentralApi, HttpCentral, OfficesAnswer};
use apm_kiosk_sim::central::{Faults, SimSeed};
use apm_kiosk_testkit::central::{self, Central};
use apm_kiosk_testkit::fixtures::{at, day};
use chrono::{DateTime, FixedOffset, Utc};
use ed25519_dalek::SigningKey;
use uuid::Uuid;

/// Tuesday 1 December 2026, 08:00 in Jakarta.
fn tuesday_morning() -> DateTime<Utc> {
    at("2026-12-01T08:00:00+07:00")
}

async fn start(seed: SimSeed, now: DateTime<Utc>) -> Central {
    central::start_at(seed, now).await
}

fn client(h: &Central, token: Option<&str>) -> HttpCentral {
    h.client(token)
}

fn enroll_request(code: &str) -> EnrollRequest {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    EnrollRequest {
        code: code.to_owned(),
        public_key: Key32(key.verifying_key().to_bytes()),
        software_version: "0.3.1".into(),
    }
}

/// An enrolled kiosk for `offices`, with its NIK hash key.
async fn kiosk(h: &Central, code: &str, offices: &[&str]) -> (HttpCentral, String, Key32) {
    let enrolled = h.enroll(code, offices).await;
    (enrolled.api, enrolled.kiosk_id, enrolled.nik_hash_key)
}

fn ask(office: &str, date: &str, session: &str, kind: QueueKind, count: u32) -> AllocationsRequest {
    AllocationsRequest {
        requests: vec![AllocationAsk {
            office_id: office.into(),
            date: day(date),
            session_id: session.into(),
            kind,
            count,
        }],
    }
}

async fn allocate_one(c: &HttpCentral, date: &str, kind: QueueKind, count: u32) -> Allocation {
    let answer = c
        .allocate(&ask("KRM", date, "S1", kind, count))
        .await
        .expect("allocation answer");
    assert!(answer.denied.is_empty(), "{:?}", answer.denied);
    answer.allocations.into_iter().next().expect("a grant")
}

/// A valid NIK: Karimun, a woman born 17 August 1990, serial `n`.
fn nik(n: u32) -> String {
    format!("2102015708{:02}{:04}", 90, n)
}

const KK: &str = "2102011203150007";

fn registration(
    alloc: &Allocation,
    number: u32,
    nik: &str,
    group: Uuid,
    created_at: &str,
) -> Registration {
    Registration {
        registration_id: Uuid::now_v7(),
        allocation_id: alloc.allocation_id.clone(),
        queue_number: number,
        office_id: alloc.office_id.clone(),
        date: alloc.date,
        session_id: alloc.session_id.clone(),
        kind: alloc.kind,
        group_id: group,
        application_type: ApplicationType::New,
        passport_type: PassportType::Regular48,
        priority_reason: (alloc.kind == QueueKind::Priority).then_some(PriorityReason::Elderly),
        applicant: Applicant {
            nik: nik.to_owned(),
            kk_number: Some(KK.into()),
            name: Some("SITI AMINAH".into()),
            birth_place: None,
            birth_date: day("1990-08-17"),
            sex: Sex::Female,
            address: None,
            phone: None,
        },
        created_at: DateTime::parse_from_rfc3339(created_at).expect("created_at"),
        ticket: "APM1.e30.c2ln".into(),
    }
}

async fn upload_one(
    c: &HttpCentral,
    reg: &Registration,
) -> (RegistrationStatus, Option<RejectionReason>) {
    let answer = c
        .upload(&RegistrationsRequest {
            registrations: vec![reg.clone()],
        })
        .await
        .expect("upload answer")
        .into_read()
        .expect("every result read");
    let result = answer.results.into_iter().next().expect("one result");
    (result.status, result.reason)
}

fn permanent_code(e: &ApiError) -> Option<(u16, &str)> {
    match e {
        ApiError::Permanent { status, code, .. } => Some((*status, code.as_str())),
        _ => None,
    }
}

#[tokio::test]
async fn enrollment_codes_work_once() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    h.sim.add_enroll_code("7K2M-9QXD", &["KRM"]).expect("code");
    let c = client(&h, None);
    let first = c
        .enroll(&enroll_request("7K2M-9QXD"))
        .await
        .expect("enrolls");
    assert_eq!(first.kiosk_id, "KRM-01");
    assert_eq!(first.office_ids, ["KRM"]);
    assert!(first.token.len() >= 32);

    for code in ["7K2M-9QXD", "NEVER-ISSUED"] {
        let e = c.enroll(&enroll_request(code)).await.expect_err("refused");
        assert_eq!(permanent_code(&e), Some((401, "invalid_code")), "{e:?}");
        assert!(!e.is_temporary());
    }
    assert!(
        h.sim.add_enroll_code("7K2M-9QXD", &["KRM"]).is_err(),
        "used code stays used"
    );

    let (_, second, _) = kiosk(&h, "AAAA-0002", &["KRM", "BTM"]).await;
    assert_eq!(second, "KRM-02");
}

#[tokio::test]
async fn every_endpoint_but_enroll_needs_the_token() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let stranger = client(&h, Some("not-a-token"));
    let e = stranger.offices(None).await.expect_err("refused");
    assert_eq!(permanent_code(&e), Some((401, "unauthorized")), "{e:?}");
    let e = stranger
        .allocate(&ask("KRM", "2026-12-02", "S1", QueueKind::Regular, 1))
        .await
        .expect_err("refused");
    assert_eq!(permanent_code(&e), Some((401, "unauthorized")));
    assert!(stranger.kiosk_keys().await.is_err());
    assert!(stranger.blocklist(0).await.is_err());

    // No Authorization header at all, as another client would send it.
    let http = reqwest::Client::new();
    for path in ["/v1/offices", "/v1/kiosk-keys", "/v1/nik-blocklist?since=0"] {
        let answer = http
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 401, "{path}");
        let body: serde_json::Value = answer.json().await.expect("error body");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // Our client does not even send a call that needs a token it lacks.
    let e = client(&h, None).offices(None).await.expect_err("no token");
    assert!(matches!(e, ApiError::Setup { .. }), "{e:?}");
}

#[tokio::test]
async fn offices_answer_304_to_their_etag() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM", "MKS"]).await;
    let OfficesAnswer::Fresh { etag, offices } = c.offices(None).await.expect("offices") else {
        panic!("first call must be fresh");
    };
    let ids: Vec<&str> = offices.iter().map(|o| o.office_id.as_str()).collect();
    assert_eq!(ids, ["KRM", "MKS"]);
    let krm = &offices[0];
    assert_eq!(
        krm.name,
        "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun"
    );
    assert_eq!(krm.booking_window_days, 30);
    assert_eq!(krm.sessions.len(), 3);
    assert!(krm.closed_dates.contains(&day("2027-01-01")));
    assert_eq!(offices[1].time_zone, "Asia/Makassar");

    let etag = etag.expect("an ETag");
    assert_eq!(
        c.offices(Some(&etag)).await.expect("conditional"),
        OfficesAnswer::NotModified
    );
    let again = c.offices(Some("\"stale\"")).await.expect("conditional");
    assert!(matches!(again, OfficesAnswer::Fresh { etag: Some(t), .. } if t == etag));
}

#[tokio::test]
async fn two_kiosks_never_share_a_number_and_stop_at_the_quota() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (a, _, _) = kiosk(&h, "CODE-A", &["KRM"]).await;
    let (b, _, _) = kiosk(&h, "CODE-B", &["KRM"]).await;
    let mut held_a = BTreeSet::new();
    let mut held_b = BTreeSet::new();
    let mut denied = 0;
    for round in 0..10 {
        let (c, held) = if round % 2 == 0 {
            (&a, &mut held_a)
        } else {
            (&b, &mut held_b)
        };
        let answer = c
            .allocate(&ask("KRM", "2026-12-02", "S2", QueueKind::Regular, 3))
            .await
            .expect("answer");
        for grant in &answer.allocations {
            assert!(grant.numbers.len() <= 3);
            held.extend(grant.numbers.iter().copied());
        }
        for denial in &answer.denied {
            assert_eq!(denial.reason, DenialReason::QuotaExhausted);
            denied += 1;
        }
    }
    assert!(held_a.is_disjoint(&held_b), "{held_a:?} {held_b:?}");
    let all: BTreeSet<u32> = held_a.union(&held_b).copied().collect();
    // S2 is the day's second block of 16 regular numbers.
    assert_eq!(all, (17..=32).collect::<BTreeSet<u32>>());
    assert_eq!(
        denied,
        10 - 6,
        "16 numbers in grants of 3: six grants, the last short"
    );

    // Priority is a separate quota; other kiosks' bookings make a day full.
    let p = allocate_one(&a, "2026-12-02", QueueKind::Priority, 10).await;
    assert_eq!(p.numbers, [1, 2, 3, 4]);
    assert_eq!(
        h.sim
            .prebook("KRM", day("2026-12-03"), "S1", QueueKind::Regular, 14)
            .expect("prebook"),
        14
    );
    let rest = allocate_one(&b, "2026-12-03", QueueKind::Regular, 10).await;
    assert_eq!(rest.numbers, [15, 16]);
}

#[tokio::test]
async fn closed_days_and_the_booking_window_are_denied() {
    let h = start(SimSeed::default(), at("2026-12-01T14:00:00+07:00")).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let cases = [
        ("2026-12-05", "S1", Some(DenialReason::Closed)), // Saturday
        ("2026-12-25", "S1", Some(DenialReason::Closed)), // Christmas
        ("2026-11-30", "S1", Some(DenialReason::OutsideWindow)),
        ("2027-01-04", "S1", Some(DenialReason::OutsideWindow)), // past 30 days
        ("2026-12-01", "S2", Some(DenialReason::OutsideWindow)), // today, over
        ("2026-12-01", "S3", None),                              // today, still on
        ("2026-12-31", "S1", None),                              // the window's last day
    ];
    for (date, session, want) in cases {
        let answer = c
            .allocate(&ask("KRM", date, session, QueueKind::Regular, 1))
            .await
            .expect("answer");
        let got = answer.denied.first().map(|d| d.reason.clone());
        assert_eq!(got, want, "{date} {session}");
        assert_eq!(answer.allocations.len(), usize::from(want.is_none()));
    }
    let answer = c
        .allocate(&ask("BTM", "2026-12-02", "S1", QueueKind::Regular, 1))
        .await
        .expect("answer");
    assert_eq!(
        answer.denied[0].reason,
        DenialReason::Other("unknown_office".into())
    );
}

#[tokio::test]
async fn the_window_is_counted_in_each_office_zone() {
    // 23:30 on Monday 30 November in Jakarta is already Tuesday in Makassar.
    let h = start(SimSeed::default(), at("2026-11-30T23:30:00+07:00")).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM", "MKS"]).await;
    let krm = c
        .allocate(&ask("KRM", "2026-12-31", "S1", QueueKind::Regular, 1))
        .await
        .expect("answer");
    assert_eq!(krm.denied[0].reason, DenialReason::OutsideWindow);
    let mks = c
        .allocate(&ask("MKS", "2026-12-31", "S1", QueueKind::Regular, 1))
        .await
        .expect("answer");
    assert_eq!(mks.allocations.len(), 1, "{mks:?}");
    let mks_today = c
        .allocate(&ask("MKS", "2026-11-30", "S3", QueueKind::Regular, 1))
        .await
        .expect("answer");
    assert_eq!(mks_today.denied[0].reason, DenialReason::OutsideWindow);
}

#[tokio::test]
async fn release_counts_only_what_it_frees() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (a, _, _) = kiosk(&h, "CODE-A", &["KRM"]).await;
    let (b, _, _) = kiosk(&h, "CODE-B", &["KRM"]).await;
    let alloc = allocate_one(&a, "2026-12-02", QueueKind::Regular, 6).await;
    assert_eq!(alloc.numbers, [1, 2, 3, 4, 5, 6]);
    let reg = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    assert_eq!(upload_one(&a, &reg).await.0, RegistrationStatus::Accepted);

    let release = |numbers: Vec<u32>| ReleaseRequest {
        releases: vec![Release {
            allocation_id: alloc.allocation_id.clone(),
            numbers,
        }],
    };
    // Another kiosk cannot free them.
    assert_eq!(
        b.release(&release(vec![5, 6])).await.expect("ok").released,
        0
    );
    // The booked number 1 stays; 5 and 6 are freed once.
    assert_eq!(
        a.release(&release(vec![1, 5, 6]))
            .await
            .expect("ok")
            .released,
        2
    );
    assert_eq!(
        a.release(&release(vec![5, 6])).await.expect("ok").released,
        0
    );
    // Freed numbers go back to the pool.
    let again = allocate_one(&b, "2026-12-02", QueueKind::Regular, 16).await;
    assert_eq!(again.numbers.first(), Some(&5));
    assert!(!again.numbers.contains(&1));
}

#[tokio::test]
async fn uploads_are_idempotent_and_receipts_verify() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, kiosk_id, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 2).await;
    let reg = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    let request = RegistrationsRequest {
        registrations: vec![reg.clone()],
    };
    let first = c
        .upload(&request)
        .await
        .expect("upload")
        .into_read()
        .expect("every result read");
    let result = &first.results[0];
    assert_eq!(result.status, RegistrationStatus::Accepted);
    let receipt = result.receipt.expect("a receipt");
    assert!(verify_receipt(
        &h.sim.service_public_key(),
        &reg.registration_id,
        &receipt
    ));

    let second = c
        .upload(&request)
        .await
        .expect("upload again")
        .into_read()
        .expect("every result read");
    assert_eq!(second, first);

    let held = h.sim.registrations().expect("registrations");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].registration_id, reg.registration_id);
    assert_eq!(held[0].kiosk_id, kiosk_id);
    assert_eq!((held[0].kind, held[0].number), (QueueKind::Regular, 1));
}

#[tokio::test]
async fn each_rejection_reason() {
    let mut seed = SimSeed::default();
    seed.unknown_niks.push(nik(999));
    let h = start(seed, tuesday_morning()).await;
    let (a, _, _) = kiosk(&h, "CODE-A", &["KRM"]).await;
    let (b, _, _) = kiosk(&h, "CODE-B", &["KRM"]).await;
    let alloc = allocate_one(&a, "2026-12-02", QueueKind::Regular, 16).await;
    let other = allocate_one(&b, "2026-12-03", QueueKind::Regular, 2).await;
    let group = Uuid::now_v7();
    let t = "2026-12-01T08:05:00+07:00";

    let mut unknown = registration(&alloc, 1, &nik(1), group, t);
    unknown.allocation_id = "a-nothing".into();
    let not_ours = registration(&other, other.numbers[0], &nik(2), group, t);
    let not_in_block = registration(&alloc, 40, &nik(3), group, t);
    let unknown_person = registration(&alloc, 2, &nik(999), group, t);
    let impossible_birthday = registration(&alloc, 3, "2102019913900001", group, t);
    let mut no_priority_reason = registration(&alloc, 4, &nik(4), group, t);
    no_priority_reason.kind = QueueKind::Priority;
    no_priority_reason.priority_reason = None;
    let mut bad_kk = registration(&alloc, 5, &nik(5), group, t);
    bad_kk.applicant.kk_number = Some("12AB".into());
    let cases = [
        (unknown, RejectionReason::UnknownAllocation),
        (not_ours, RejectionReason::NumberNotHeld),
        (not_in_block, RejectionReason::NumberNotHeld),
        (unknown_person, RejectionReason::NikInvalid),
        (impossible_birthday, RejectionReason::NikInvalid),
        (no_priority_reason, RejectionReason::Invalid),
        (bad_kk, RejectionReason::Invalid),
    ];
    for (reg, want) in &cases {
        let (status, reason) = upload_one(&a, reg).await;
        assert_eq!(status, RegistrationStatus::Rejected, "{want}");
        assert_eq!(reason.as_ref(), Some(want));
    }

    // A family of six from one KK in one group: the sixth is one too many.
    let family: Vec<Registration> = (0..6)
        .map(|i| registration(&alloc, 6 + i, &nik(10 + i), group, t))
        .collect();
    let answer = a
        .upload(&RegistrationsRequest {
            registrations: family.clone(),
        })
        .await
        .expect("upload")
        .into_read()
        .expect("every result read");
    let statuses: Vec<_> = answer.results.iter().map(|r| r.reason.clone()).collect();
    assert_eq!(statuses[..5], [None, None, None, None, None]);
    assert_eq!(statuses[5], Some(RejectionReason::FamilyLimit));

    // Booked once already: number 6 is no longer held, and the NIK holds a booking.
    let (_, reason) = upload_one(&a, &registration(&alloc, 6, &nik(50), group, t)).await;
    assert_eq!(reason, Some(RejectionReason::NumberNotHeld));
    let later = "2026-12-01T09:00:00+07:00";
    let (_, reason) = upload_one(
        &a,
        &registration(&alloc, 12, &nik(10), Uuid::now_v7(), later),
    )
    .await;
    assert_eq!(reason, Some(RejectionReason::NikActiveBooking));

    // The numbers of rejected registrations went back to the pool.
    let refill = allocate_one(&a, "2026-12-02", QueueKind::Regular, 16).await;
    assert!(
        refill.numbers.contains(&2) && refill.numbers.contains(&12),
        "{refill:?}"
    );
}

#[tokio::test]
async fn cooldown_and_the_earlier_booking_standing() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (a, _, _) = kiosk(&h, "CODE-A", &["KRM"]).await;
    let (b, _, _) = kiosk(&h, "CODE-B", &["KRM"]).await;
    let first = allocate_one(&a, "2026-12-02", QueueKind::Regular, 4).await;
    let booked = registration(
        &first,
        1,
        &nik(7),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    assert_eq!(
        upload_one(&a, &booked).await.0,
        RegistrationStatus::Accepted
    );

    // A week on, the visit is past but the 30 days are not.
    h.sim.set_clock(Some(at("2026-12-08T08:00:00+07:00")));
    let next = allocate_one(&a, "2026-12-09", QueueKind::Regular, 4).await;
    let again = registration(
        &next,
        next.numbers[0],
        &nik(7),
        Uuid::now_v7(),
        "2026-12-08T08:01:00+07:00",
    );
    assert_eq!(
        upload_one(&a, &again).await.1,
        Some(RejectionReason::NikCooldown)
    );

    // Two kiosks book one person; the later-created arrives first and is accepted,
    // then the earlier-created arrives and stands.
    let on_a = allocate_one(&a, "2026-12-10", QueueKind::Regular, 1).await;
    let on_b = allocate_one(&b, "2026-12-11", QueueKind::Regular, 1).await;
    let later = registration(
        &on_a,
        on_a.numbers[0],
        &nik(8),
        Uuid::now_v7(),
        "2026-12-08T10:00:00+07:00",
    );
    let earlier = registration(
        &on_b,
        on_b.numbers[0],
        &nik(8),
        Uuid::now_v7(),
        "2026-12-08T09:00:00+07:00",
    );
    assert_eq!(upload_one(&a, &later).await.0, RegistrationStatus::Accepted);
    assert_eq!(
        upload_one(&b, &earlier).await.0,
        RegistrationStatus::Accepted
    );
    let held = h.sim.registrations().expect("registrations");
    let find = |id: Uuid| held.iter().find(|r| r.registration_id == id).expect("held");
    assert_eq!(
        find(earlier.registration_id).status,
        RegistrationStatus::Accepted
    );
    assert_eq!(
        find(later.registration_id).reason,
        Some(RejectionReason::NikActiveBooking)
    );
    // The overruled booking's number is free again.
    let refill = allocate_one(&b, "2026-12-10", QueueKind::Regular, 1).await;
    assert_eq!(refill.numbers, on_a.numbers);
}

#[tokio::test]
async fn malformed_registrations_are_invalid_alone() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 2).await;
    let good = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    let broken_id = Uuid::now_v7();
    let body = serde_json::json!({"registrations": [
        good,
        {"registration_id": broken_id.to_string(), "queue_number": "twelve"}
    ]});
    // The token is the kiosk's: enroll a raw client of our own.
    h.sim.add_enroll_code("RAW", &["KRM"]).expect("code");
    let http = reqwest::Client::new();
    let enrolled: serde_json::Value = http
        .post(format!("{}/v1/enroll", h.base))
        .json(&enroll_request("RAW"))
        .send()
        .await
        .expect("enroll")
        .json()
        .await
        .expect("json");
    let token = enrolled["token"].as_str().expect("token").to_owned();
    let answer: serde_json::Value = http
        .post(format!("{}/v1/registrations", h.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    // The good one belongs to the other kiosk's allocation: refused as not held.
    assert_eq!(answer["results"][0]["reason"], "number_not_held");
    assert_eq!(
        answer["results"][1]["registration_id"],
        broken_id.to_string()
    );
    assert_eq!(answer["results"][1]["reason"], "invalid");

    let garbage = http
        .post(format!("{}/v1/registrations", h.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"registrations\": [{\"queue_number\": 1}]}")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbage.status().as_u16(), 400);
}

#[tokio::test]
async fn gzip_bodies_both_ways() {
    use std::io::Write as _;
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    // Eight registrations are several KiB: the client sends them compressed.
    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 8).await;
    let regs: Vec<Registration> = alloc
        .numbers
        .iter()
        .map(|&n| {
            let mut r = registration(
                &alloc,
                n,
                &nik(100 + n),
                Uuid::now_v7(),
                "2026-12-01T08:01:00+07:00",
            );
            r.group_id = Uuid::now_v7();
            r
        })
        .collect();
    assert!(serde_json::to_vec(&regs).expect("json").len() > 4096);
    let answer = c
        .upload(&RegistrationsRequest {
            registrations: regs,
        })
        .await
        .expect("compressed upload accepted")
        .into_read()
        .expect("every result read");
    assert!(
        answer
            .results
            .iter()
            .all(|r| r.status == RegistrationStatus::Accepted)
    );

    // The same by hand, to see the headers on the wire.
    h.sim
        .add_enroll_code("RAW", &["KRM", "BTM", "MKS"])
        .expect("code");
    let body = serde_json::to_vec(&enroll_request("RAW")).expect("json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).expect("gzip");
    let packed = gz.finish().expect("gzip");
    let http = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let enrolled = http
        .post(format!("{}/v1/enroll", h.base))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(packed)
        .send()
        .await
        .expect("answer");
    assert_eq!(enrolled.status().as_u16(), 200);
    let token = enrolled.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let keys = http
        .get(format!("{}/v1/kiosk-keys", h.base))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("answer");
    // Two kiosks' keys are small: under 1 KiB, sent plain; three offices are not.
    assert!(keys.headers().get("content-encoding").is_none());
    let offices = http
        .get(format!("{}/v1/offices", h.base))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        offices
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let odd = http
        .post(format!("{}/v1/heartbeat", h.base))
        .bearer_auth(&token)
        .header("content-encoding", "br")
        .body("x")
        .send()
        .await
        .expect("answer");
    assert_eq!(odd.status().as_u16(), 415);
}

#[tokio::test]
async fn faults_read_as_temporary() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 4).await;
    let reg = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    let upload = RegistrationsRequest {
        registrations: vec![reg.clone()],
    };

    let cases = [
        Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        },
        Faults {
            throttle_rate: 1.0,
            retry_after: Duration::from_secs(7),
            ..Faults::default()
        },
        Faults {
            drop_rate: 1.0,
            ..Faults::default()
        },
        Faults {
            truncate_rate: 1.0,
            ..Faults::default()
        },
    ];
    for (i, faults) in cases.into_iter().enumerate() {
        h.sim.set_faults(faults);
        let e = c.upload(&upload).await.expect_err("fault");
        assert!(e.is_temporary(), "case {i}: {e:?}");
        match i {
            1 => assert_eq!(e.retry_after(), Some(Duration::from_secs(7))),
            2 => assert!(matches!(e, ApiError::Temporary { .. }), "{e:?}"),
            3 => assert!(matches!(e, ApiError::Malformed { .. }), "{e:?}"),
            _ => {}
        }
        let e = c.offices(None).await.expect_err("fault");
        assert!(e.is_temporary(), "case {i}: {e:?}");
    }

    // The truncated answer hid an accepted upload: the retry gets the same result.
    h.sim.set_faults(Faults::default());
    let answer = c
        .upload(&upload)
        .await
        .expect("retry")
        .into_read()
        .expect("every result read");
    assert_eq!(answer.results[0].status, RegistrationStatus::Accepted);
    assert_eq!(h.sim.registrations().expect("held").len(), 1);

    // Latency beyond the client's time-out.
    h.sim.set_faults(Faults {
        max_latency: Duration::from_secs(3),
        seed: 3,
        ..Faults::default()
    });
    let impatient =
        HttpCentral::new(&h.base, None, Duration::from_millis(20), None).expect("client");
    let e = impatient
        .enroll(&enroll_request("NONE"))
        .await
        .expect_err("time-out");
    assert!(e.is_temporary(), "{e:?}");

    // A mixed run: every failure temporary, the rest answered.
    h.sim.set_faults(Faults {
        server_error_rate: 0.2,
        throttle_rate: 0.1,
        drop_rate: 0.1,
        truncate_rate: 0.1,
        seed: 42,
        ..Faults::default()
    });
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..40 {
        match c.kiosk_keys().await {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.is_temporary(), "{e:?}");
                failed += 1;
            }
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} answered, {failed} failed");
}

#[tokio::test]
async fn blocklist_heartbeat_and_kiosk_keys() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, kiosk_id, key) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let empty = c.blocklist(0).await.expect("blocklist");
    assert!(empty.full && empty.upsert.is_empty());

    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 2).await;
    let reg = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    upload_one(&c, &reg).await;
    let full = c.blocklist(0).await.expect("blocklist");
    assert!(full.full);
    assert_eq!(full.upsert.len(), 1);
    assert_eq!(full.upsert[0].h, nik_hash(&key, &nik(1)));
    // Blocked for the cooldown: 30 days after it was made.
    assert_eq!(full.upsert[0].until, day("2026-12-31"));
    let since = c.blocklist(full.version).await.expect("blocklist");
    assert!(!since.full && since.upsert.is_empty() && since.remove.is_empty());
    let ahead = c.blocklist(full.version + 100).await.expect("blocklist");
    assert!(
        ahead.full,
        "a version the service never gave answers in full"
    );

    let beat = c
        .heartbeat(&HeartbeatRequest {
            software_version: "0.3.1".into(),
            uptime_s: 86_400,
            printer: PrinterState::PaperNearEnd,
            card_reader: ReaderState::Ok,
            unsynced: 3,
            oldest_unsynced_at: None,
            held_numbers: 42,
            out_of_service: false,
        })
        .await
        .expect("heartbeat");
    assert_eq!(beat.server_time, tuesday_morning());
    assert_eq!(
        *beat.server_time.offset(),
        FixedOffset::east_opt(7 * 3600).expect("offset")
    );

    let keys = c.kiosk_keys().await.expect("keys");
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].kiosk_id, kiosk_id);
    assert!(!keys.keys[0].revoked);
}

#[tokio::test]
async fn uploads_over_the_limit_are_not_sent() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let alloc = allocate_one(&c, "2026-12-02", QueueKind::Regular, 1).await;
    let one = registration(
        &alloc,
        1,
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    let e = c
        .upload(&RegistrationsRequest {
            registrations: vec![one; 501],
        })
        .await
        .expect_err("over the limit");
    assert!(matches!(e, ApiError::Setup { .. }), "{e:?}");
    assert!(h.sim.registrations().expect("held").is_empty());
}

#[tokio::test]
async fn a_full_upload_of_500_is_taken_in_one_call() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["BTM"]).await;
    let mut asks = Vec::new();
    for date in ["2026-12-02", "2026-12-03"] {
        for session in ["S1", "S2", "S3", "S4"] {
            asks.push(AllocationAsk {
                office_id: "BTM".into(),
                date: day(date),
                session_id: session.into(),
                kind: QueueKind::Regular,
                count: 80,
            });
        }
    }
    let granted = c
        .allocate(&AllocationsRequest { requests: asks })
        .await
        .expect("allocations");
    let mut regs = Vec::new();
    for alloc in &granted.allocations {
        for &n in &alloc.numbers {
            if regs.len() < 500 {
                let serial = regs.len() as u32 + 1;
                let mut r = registration(
                    alloc,
                    n,
                    &nik(serial),
                    Uuid::now_v7(),
                    "2026-12-01T08:01:00+07:00",
                );
                r.applicant.kk_number = None;
                regs.push(r);
            }
        }
    }
    assert_eq!(regs.len(), 500);
    let started = std::time::Instant::now();
    let answer = c
        .upload(&RegistrationsRequest {
            registrations: regs,
        })
        .await
        .expect("upload")
        .into_read()
        .expect("every result read");
    eprintln!("500 registrations answered in {:?}", started.elapsed());
    assert_eq!(answer.results.len(), 500);
    assert!(
        answer
            .results
            .iter()
            .all(|r| r.status == RegistrationStatus::Accepted)
    );
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) from a raw socket.
async fn read_request(stream: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "peer closed early");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().expect("length"))
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return (head, buf[end + 4..end + 4 + length].to_vec());
        }
    }
}

#[tokio::test]
async fn the_client_sends_what_the_spec_asks_on_the_wire() {
    use std::io::Read as _;
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let peer = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let (head, body) = read_request(&mut stream).await;
        let answer = b"{\"allocations\": [], \"denied\": []}";
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        stream.write_all(reply.as_bytes()).await.expect("write");
        stream.write_all(answer).await.expect("write");
        (head, body)
    });
    let c = HttpCentral::new(&base, Some("tok-123".into()), Duration::from_secs(5), None)
        .expect("client");
    let asks: Vec<AllocationAsk> = (0..30)
        .map(|_| AllocationAsk {
            office_id: "KRM".into(),
            date: day("2026-12-02"),
            session_id: "S1".into(),
            kind: QueueKind::Regular,
            count: 1,
        })
        .collect();
    let plain = serde_json::to_vec(&AllocationsRequest {
        requests: asks.clone(),
    })
    .expect("json");
    assert!(plain.len() > 1024);
    c.allocate(&AllocationsRequest { requests: asks })
        .await
        .expect("answer");
    let (head, body) = peer.await.expect("peer");
    assert!(head.starts_with("post /v1/allocations http/1.1"), "{head}");
    for line in [
        "authorization: bearer tok-123",
        "accept-encoding: gzip",
        "content-encoding: gzip",
        "content-type: application/json",
    ] {
        assert!(head.lines().any(|l| l == line), "{line} missing in\n{head}");
    }
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unpacked)
        .expect("gzip body");
    assert_eq!(unpacked, plain);
}

/// The sync loop runs calls on spawned tasks: this only compiles if the trait's futures
/// are `Send`.
fn spawn_heartbeat<A: CentralApi + 'static>(
    api: std::sync::Arc<A>,
    beat: HeartbeatRequest,
) -> tokio::task::JoinHandle<Result<apm_kiosk::protocol::central::HeartbeatResponse, ApiError>> {
    tokio::spawn(async move { api.heartbeat(&beat).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_on_spawned_tasks() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (c, _, _) = kiosk(&h, "CODE-1", &["KRM"]).await;
    let beat = HeartbeatRequest {
        software_version: "0.3.1".into(),
        uptime_s: 1,
        printer: PrinterState::Ok,
        card_reader: ReaderState::Ok,
        unsynced: 0,
        oldest_unsynced_at: None,
        held_numbers: 0,
        out_of_service: false,
    };
    let answer = spawn_heartbeat(std::sync::Arc::new(c), beat)
        .await
        .expect("task ran")
        .expect("heartbeat");
    assert_eq!(answer.server_time, tuesday_morning());
}

/// Runs `openssl` in `dir`; false when it is missing or fails.
fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills the TLS test server we started when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `openssl req` options for a fresh P-256 key, unencrypted.
const EC_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A self-signed test CA in `dir` (`NAME.key`, `NAME.pem`); false without openssl.
fn make_ca(dir: &std::path::Path, name: &str) -> bool {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    let subject = format!("/CN=APM test {name}");
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(EC_KEY);
    args.extend_from_slice(&[
        "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject,
    ]);
    openssl(dir, &args)
}

/// A server key and certificate for 127.0.0.1 in `dir` (`srv.key`, `srv.pem`), issued
/// by the CA `ca-a`.
fn make_server_certificate(dir: &std::path::Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    let mut csr = vec!["req"];
    csr.extend_from_slice(EC_KEY);
    csr.extend_from_slice(&[
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    assert!(openssl(dir, &csr), "server key");
    assert!(
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca-a.pem",
                "-CAkey",
                "ca-a.key",
                "-CAcreateserial",
                "-out",
                "srv.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        ),
        "server certificate"
    );
}

/// `openssl s_server` with the certificate of [`make_server_certificate`] on a free
/// loopback port, once it listens; returns it and its `127.0.0.1:PORT`.
async fn start_tls_server(dir: &std::path::Path) -> (KillOnDrop, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let accept = format!("127.0.0.1:{port}");
    let server = KillOnDrop(
        std::process::Command::new("openssl")
            .args([
                "s_server", "-accept", &accept, "-cert", "srv.pem", "-key", "srv.key",
            ])
            .args(["-www", "-quiet"])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("TLS server starts"),
    );
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&accept).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(up, "TLS server listening");
    (server, accept)
}

/// The pinned CA is the only one trusted: a server with a certificate from that CA is
/// reached, one from any other CA is not. Needs the `openssl` tool for the TLS peer;
/// without it the test says so and checks nothing more.
#[tokio::test]
async fn a_pinned_ca_is_the_only_one_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    if !make_ca(d, "ca-a") {
        eprintln!("SKIPPED: no usable openssl tool for a TLS peer");
        return;
    }
    assert!(make_ca(d, "ca-b"), "second CA");
    make_server_certificate(d);
    let (_server, accept) = start_tls_server(d).await;

    let base = format!("https://{accept}");
    let pinned = |ca: &str| {
        let pem = std::fs::read(d.join(ca)).expect("CA file");
        HttpCentral::new(&base, Some("t".into()), Duration::from_secs(5), Some(&pem))
            .expect("client")
    };
    // The handshake succeeds; the server then speaks HTML, not the API.
    let e = pinned("ca-a.pem").kiosk_keys().await.expect_err("HTML");
    assert!(
        matches!(e, ApiError::Malformed { status: 200, .. }),
        "{e:?}"
    );
    // Another CA, or the system's roots: no connection at all.
    let e = pinned("ca-b.pem")
        .kiosk_keys()
        .await
        .expect_err("untrusted");
    assert!(matches!(e, ApiError::Temporary { .. }), "{e:?}");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    let system =
        HttpCentral::new(&base, Some("t".into()), Duration::from_secs(5), None).expect("client");
    let e = system.kiosk_keys().await.expect_err("untrusted");
    assert!(matches!(e, ApiError::Temporary { .. }), "{e:?}");

    let e = HttpCentral::new(&base, None, Duration::from_secs(5), Some(b"not a pem"))
        .expect_err("no certificate");
    assert!(matches!(e, ApiError::Setup { .. }), "{e:?}");
}

// ---- Version 1.1: the booking after it is made ----

use apm_kiosk::protocol::central_v11::{
    Arrival, ArrivalRejection, ArrivalStatus, ArrivalsRequest, CancelRequest, ChangeRefusal,
    ChangeStatus, FindRequest, RescheduleRequest,
};
use apm_kiosk::sync::bookings::{BookingApi, Changed};

fn wib(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).expect("a time")
}

/// A grant of `count` numbers of `session` on `date` at Karimun.
async fn grant(c: &HttpCentral, date: &str, session: &str, count: u32) -> Allocation {
    let answer = c
        .allocate(&ask("KRM", date, session, QueueKind::Regular, count))
        .await
        .expect("allocation answer");
    answer.allocations.into_iter().next().expect("a grant")
}

/// The pool's regular numbers for one session at Karimun.
async fn pool(c: &HttpCentral, date: &str, session: &str) -> u32 {
    c.availability("KRM", day(date), day(date))
        .await
        .expect("availability")
        .pool(day(date), session)
        .0
}

fn move_to(alloc: &Allocation, number: u32) -> RescheduleRequest {
    RescheduleRequest {
        change_id: Uuid::now_v7(),
        allocation_id: alloc.allocation_id.clone(),
        queue_number: number,
        date: alloc.date,
        session_id: alloc.session_id.clone(),
        kind: alloc.kind,
        ticket: "APM2.moved.sig".into(),
        created_at: wib("2026-12-01T08:05:00+07:00"),
    }
}

/// Two kiosks of Karimun, A holding two numbers of 3 December S1 and NIK 1 booked on the
/// first of them.
async fn booked_at_a(h: &Central) -> (HttpCentral, HttpCentral, Allocation, Registration) {
    let (a, _, _) = kiosk(h, "A-CODE", &["KRM"]).await;
    let (b, _, _) = kiosk(h, "B-CODE", &["KRM"]).await;
    let first = grant(&a, "2026-12-03", "S1", 2).await;
    assert_eq!(
        pool(&a, "2026-12-03", "S1").await,
        14,
        "two numbers held by A"
    );
    let reg = registration(
        &first,
        first.numbers[0],
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    assert_eq!(upload_one(&a, &reg).await.0, RegistrationStatus::Accepted);
    (a, b, first, reg)
}

async fn found(c: &HttpCentral, n: u32) -> Vec<apm_kiosk::protocol::central_v11::FoundBooking> {
    c.find(&FindRequest { nik: nik(n) })
        .await
        .expect("find")
        .bookings
}

#[tokio::test]
async fn a_booking_is_found_and_rescheduled_once_from_another_kiosk() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (a, b, first, reg) = booked_at_a(&h).await;
    // Found from the other kiosk, with its ticket as it was issued.
    let shown = found(&b, 1).await;
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].registration_id, shown[0].reschedules_left),
        (reg.registration_id, 1)
    );
    assert_eq!(shown[0].ticket, reg.ticket);

    // B moves it, on a number B holds; not on A's.
    let theirs = move_to(&first, first.numbers[1]);
    let refused = b.reschedule(&reg.registration_id, &theirs).await;
    assert_eq!(
        refused.expect("an answer"),
        Changed::Refused(ChangeRefusal::NumberNotHeld)
    );
    let later = grant(&b, "2026-12-04", "S2", 1).await;
    let change = move_to(&later, later.numbers[0]);
    let answer = b.reschedule(&reg.registration_id, &change).await;
    let Ok(Changed::Done(done)) = answer else {
        panic!("the reschedule was refused: {answer:?}");
    };
    assert_eq!(done.status, ChangeStatus::Rescheduled);
    let key = h.sim.service_public_key();
    assert!(verify_receipt(&key, &change.change_id, &done.receipt));
    // The same change again is answered the same; a second one is refused.
    let repeat = b.reschedule(&reg.registration_id, &change).await;
    assert!(matches!(repeat, Ok(Changed::Done(_))), "{repeat:?}");
    let again = a
        .reschedule(&reg.registration_id, &move_to(&first, first.numbers[1]))
        .await;
    assert_eq!(
        again.expect("an answer"),
        Changed::Refused(ChangeRefusal::RescheduleUsed)
    );

    let moved = &found(&a, 1).await[0];
    assert_eq!(
        (moved.date, moved.session_id.as_str()),
        (day("2026-12-04"), "S2")
    );
    assert_eq!(
        (moved.queue_number, moved.reschedules_left),
        (later.numbers[0], 0)
    );
    assert_eq!(moved.ticket, "APM2.moved.sig");
    assert_eq!(
        pool(&a, "2026-12-03", "S1").await,
        15,
        "the old number is back in the pool"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_cancelled_booking_frees_its_number_and_keeps_its_30_days() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (a, b, first, reg) = booked_at_a(&h).await;
    // Cancelled from the other kiosk, twice over one change id.
    let cancel = CancelRequest {
        change_id: Uuid::now_v7(),
        created_at: wib("2026-12-01T08:10:00+07:00"),
    };
    for _ in 0..2 {
        let answer = b
            .cancel(&reg.registration_id, &cancel)
            .await
            .expect("an answer");
        let cancelled =
            matches!(answer, Changed::Done(ref c) if c.status == ChangeStatus::Cancelled);
        assert!(cancelled, "{answer:?}");
    }
    assert!(
        found(&a, 1).await.is_empty(),
        "a cancelled booking is not found"
    );
    assert_eq!(
        pool(&a, "2026-12-03", "S1").await,
        15,
        "its number is back in the pool"
    );
    // Free of the one-booking rule, its 30 days still counting.
    let retry = registration(
        &first,
        first.numbers[1],
        &nik(1),
        Uuid::now_v7(),
        "2026-12-01T08:20:00+07:00",
    );
    let cooldown = (
        RegistrationStatus::Rejected,
        Some(RejectionReason::NikCooldown),
    );
    assert_eq!(upload_one(&a, &retry).await, cooldown);
    let after = a
        .reschedule(&reg.registration_id, &move_to(&first, first.numbers[1]))
        .await;
    assert_eq!(
        after.expect("an answer"),
        Changed::Refused(ChangeRefusal::Cancelled)
    );
    h.stop().await;
}

#[tokio::test]
async fn too_late_on_the_day_and_arrivals_at_the_right_counter_only() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (k, _, _) = kiosk(&h, "K-CODE", &["KRM"]).await;
    let (counter, _, _) = kiosk(&h, "C-CODE", &["KRM"]).await;
    let (elsewhere, _, _) = kiosk(&h, "E-CODE", &["BTM"]).await;
    let today = grant(&k, "2026-12-01", "S2", 2).await;
    let reg = registration(
        &today,
        today.numbers[0],
        &nik(2),
        Uuid::now_v7(),
        "2026-12-01T08:01:00+07:00",
    );
    assert_eq!(upload_one(&k, &reg).await.0, RegistrationStatus::Accepted);
    let tomorrow = grant(&k, "2026-12-02", "S1", 1).await;
    assert_eq!(
        k.reschedule(
            &reg.registration_id,
            &move_to(&tomorrow, tomorrow.numbers[0])
        )
        .await
        .expect("an answer"),
        Changed::Refused(ChangeRefusal::TooLate),
        "on the day itself it is too late"
    );

    let arrival = |id| ArrivalsRequest {
        arrivals: vec![Arrival {
            registration_id: id,
            arrived_at: wib("2026-12-01T10:15:00+07:00"),
            counter_id: "KRM-C1".into(),
        }],
    };
    let status = |answer: apm_kiosk::protocol::central_v11::ArrivalsResponse| {
        let r = answer.results.into_iter().next().expect("one result");
        (r.status, r.reason)
    };
    let wrong = elsewhere
        .arrivals(&arrival(reg.registration_id))
        .await
        .expect("an answer");
    assert_eq!(
        status(wrong),
        (ArrivalStatus::Rejected, Some(ArrivalRejection::WrongOffice))
    );
    for _ in 0..2 {
        let here = counter
            .arrivals(&arrival(reg.registration_id))
            .await
            .expect("an answer");
        assert_eq!(status(here), (ArrivalStatus::Arrived, None));
    }
    let unknown = counter
        .arrivals(&arrival(Uuid::now_v7()))
        .await
        .expect("an answer");
    assert_eq!(
        status(unknown),
        (ArrivalStatus::Rejected, Some(ArrivalRejection::NotFound))
    );
    let cancel = CancelRequest {
        change_id: Uuid::now_v7(),
        created_at: wib("2026-12-01T10:20:00+07:00"),
    };
    assert_eq!(
        k.cancel(&reg.registration_id, &cancel)
            .await
            .expect("an answer"),
        Changed::Refused(ChangeRefusal::AlreadyArrived)
    );
    assert!(
        k.find(&FindRequest { nik: nik(2) })
            .await
            .expect("find")
            .bookings
            .is_empty(),
        "an arrived booking is served"
    );
    let unknown_cancel = CancelRequest {
        change_id: Uuid::now_v7(),
        created_at: wib("2026-12-01T10:21:00+07:00"),
    };
    assert_eq!(
        k.cancel(&Uuid::now_v7(), &unknown_cancel)
            .await
            .expect("an answer"),
        Changed::Refused(ChangeRefusal::NotFound)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_service_without_version_1_1_answers_404_and_the_client_says_unsupported() {
    let h = start(SimSeed::default(), tuesday_morning()).await;
    let (k, _, _) = kiosk(&h, "K-CODE", &["KRM"]).await;
    assert!(k.find(&FindRequest { nik: nik(3) }).await.is_ok());
    h.sim.set_faults(Faults {
        without_v1_1: true,
        ..Faults::default()
    });
    let find = k.find(&FindRequest { nik: nik(3) }).await;
    assert!(
        find.as_ref().is_err_and(ApiError::is_unsupported),
        "{find:?}"
    );
    let cancel = CancelRequest {
        change_id: Uuid::now_v7(),
        created_at: wib("2026-12-01T08:10:00+07:00"),
    };
    let answer = k.cancel(&Uuid::now_v7(), &cancel).await;
    assert!(
        answer.as_ref().is_err_and(ApiError::is_unsupported),
        "{answer:?}"
    );
    // Version 1 goes on as before.
    assert!(k.offices(None).await.is_ok());
    h.stop().await;
}
