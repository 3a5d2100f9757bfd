//! The store against a real SQLite file: migrations from nothing, the booking
//! transaction, uploads and their results.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::Sex;
use crate::domain::nik::Nik;
use crate::flow::{IdentitySource, Member};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("valid time")
}

fn member(nik: &str, priority: Option<PriorityReason>) -> Member {
    let (nik, info) = Nik::parse(nik, d(2026, 11, 23)).expect("test NIK is valid");
    Member {
        applicant: Applicant {
            nik,
            kk_number: None,
            name: Some("SITI AMINAH".into()),
            birth_place: Some("KARIMUN".into()),
            birth_date: info.birth_date,
            sex: Sex::Female,
            address: None,
            source: IdentitySource::Chip,
        },
        application_type: ApplicationType::New,
        passport_type: PassportType::Electronic,
        declared_priority: priority,
        priority,
    }
}

fn request(members: Vec<Member>) -> BookingRequest {
    BookingRequest {
        office_id: "KRM".into(),
        date: d(2026, 11, 24),
        session_id: "S1".into(),
        language: Language::Id,
        members,
        created_at: now(),
    }
}

fn hold(store: &mut Store, kind: QueueKind, numbers: &[u32]) {
    store
        .add_held(&HeldAllocation {
            allocation_id: format!("a-{}", kind.code()),
            office_id: "KRM".into(),
            date: d(2026, 11, 24),
            session_id: "S1".into(),
            kind,
            numbers: numbers.to_vec(),
        })
        .expect("numbers stored");
}

fn commit(store: &mut Store, req: &BookingRequest) -> Result<Booked, CommitError> {
    let tag = |nik: &str| format!("tag-{nik}");
    let sign = |t: &TicketToSign<'_>| format!("APM1.{}.{}", t.registration_id, t.queue_number);
    store.commit_booking(&CommitPlan {
        request: req,
        created_on: d(2026, 11, 23),
        nik_tag: &tag,
        sign: &sign,
    })
}

#[test]
fn migrates_an_empty_file_and_reopens_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kiosk.db");
    {
        let store = Store::open(&path).expect("fresh database opens");
        assert_eq!(
            store.schema_version().expect("version"),
            MIGRATIONS.len() as u32
        );
        assert_eq!(store.integrity_check().expect("check"), "ok");
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("synchronous");
        assert_eq!(sync, 2, "synchronous = FULL");
    }
    let store = Store::open(&path).expect("reopens");
    assert_eq!(
        store.schema_version().expect("version"),
        MIGRATIONS.len() as u32
    );
}

#[test]
fn refuses_a_database_from_newer_software() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kiosk.db");
    {
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 99)
            .expect("set version");
    }
    match Store::open(&path) {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
}

#[test]
fn a_group_takes_the_lowest_numbers_of_each_kind_in_one_transaction() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[23, 21, 22]);
    hold(&mut store, QueueKind::Priority, &[4, 5]);
    let req = request(vec![
        member("2102015708900003", None),
        member("2102014506220002", Some(PriorityReason::ChildUnder5)),
        member("2102010303880005", None),
    ]);
    let booked = commit(&mut store, &req).expect("committed");
    let numbers: Vec<String> = booked
        .tickets
        .iter()
        .map(|t| t.queue_number.to_string())
        .collect();
    assert_eq!(numbers, ["R-021", "P-004", "R-022"]);
    assert_eq!(booked.booking_code.len(), 9);

    let stats = store.stats().expect("stats");
    assert_eq!(
        (stats.registrations, stats.groups, stats.pending),
        (3, 1, 3)
    );
    assert_eq!(stats.held_free, 2);
    assert_eq!(stats.unprinted, 3);
    let audit = store.audit_tail(5).expect("audit");
    assert_eq!(audit[0].1, "booking_committed");
    assert!(!audit[0].2.contains("2102"), "the audit line has no NIK");

    let tickets = store.group_tickets(&booked.group_id).expect("tickets");
    assert_eq!(tickets.len(), 3);
    assert_eq!((tickets[1].position, tickets[1].group_size), (2, 3));
    assert_eq!(tickets[0].masked_nik, "2102********0003");
    assert!(tickets[0].qr_payload.starts_with("APM1."));
    let avail = store
        .availability("KRM", d(2026, 11, 23))
        .expect("availability");
    assert_eq!(avail.held(d(2026, 11, 24), "S1"), (1, 1));
}

#[test]
fn a_group_that_cannot_all_be_numbered_writes_nothing() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1]);
    let req = request(vec![
        member("2102015708900003", None),
        member("2102010303880005", None),
    ]);
    match commit(&mut store, &req) {
        Err(CommitError::NumbersGone(QueueKind::Regular)) => {}
        other => panic!("expected NumbersGone, got {other:?}"),
    }
    let stats = store.stats().expect("stats");
    assert_eq!(
        (
            stats.registrations,
            stats.groups,
            stats.pending,
            stats.held_free
        ),
        (0, 0, 0, 1)
    );
}

#[test]
fn results_clear_personal_data_and_rejections_free_the_number() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1, 2]);
    let a = commit(&mut store, &request(vec![member("2102015708900003", None)])).expect("a");
    let b = commit(&mut store, &request(vec![member("2102010303880005", None)])).expect("b");
    let pending = store
        .scan_uploads(500, &std::collections::HashSet::new())
        .expect("pending")
        .rows;
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].applicant.nik.as_str(), "2102015708900003");

    let ra = a.tickets[0].registration_id.clone();
    let rb = b.tickets[0].registration_id.clone();
    store
        .record_results(
            &[
                (
                    ra.clone(),
                    UploadOutcome::Accepted {
                        receipt: Some("sig".into()),
                    },
                ),
                (
                    rb.clone(),
                    UploadOutcome::Rejected {
                        reason: "nik_active_booking".into(),
                    },
                ),
            ],
            now(),
        )
        .expect("results stored");
    assert!(
        store
            .scan_uploads(500, &std::collections::HashSet::new())
            .expect("pending")
            .rows
            .is_empty()
    );
    let applicants: u32 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM registrations WHERE applicant IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        applicants, 0,
        "no applicant record kept after the service answered"
    );
    let rejections = store.rejections().expect("rejections");
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].reason, "nik_active_booking");
    // The rejected booking's number went back to the service, not to this kiosk.
    assert_eq!(store.stats().expect("stats").held_free, 0);

    // The same answer again changes nothing (uploads are retried after time-outs).
    store
        .record_results(&[(ra, UploadOutcome::Accepted { receipt: None })], now())
        .expect("again");
    assert_eq!(store.stats().expect("stats").accepted, 1);

    let history = store.history("tag-2102010303880005").expect("history");
    assert_eq!(history.len(), 1);
    assert!(history[0].rejected);
}

#[test]
fn past_numbers_and_past_visits_are_let_go() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1, 2]);
    let booked =
        commit(&mut store, &request(vec![member("2102015708900003", None)])).expect("booked");
    let id = booked.tickets[0].registration_id.clone();
    store
        .record_results(&[(id, UploadOutcome::Accepted { receipt: None })], now())
        .expect("ok");
    assert_eq!(
        store.drop_past_numbers(d(2026, 11, 25)).expect("dropped"),
        1
    );
    assert_eq!(store.purge_past_visits(d(2026, 11, 25)).expect("purged"), 1);
    let tickets = store.group_tickets(&booked.group_id).expect("tickets");
    assert_eq!(tickets[0].name, None);
}

#[test]
fn a_pending_booking_loses_its_reprint_name_after_its_day_but_keeps_its_record() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1]);
    let booked =
        commit(&mut store, &request(vec![member("2102015708900003", None)])).expect("booked");
    // Offline: no answer yet. The visit day (11-24) passes.
    assert_eq!(store.purge_past_visits(d(2026, 11, 24)).expect("purged"), 0);
    let purged = store.apply_retention(d(2026, 11, 25)).expect("purged");
    assert_eq!(purged.visits, 1);
    assert_eq!(purged.registrations, 0, "unanswered: kept whole");
    let tickets = store.group_tickets(&booked.group_id).expect("tickets");
    assert_eq!(
        (tickets[0].name.as_deref(), tickets[0].masked_nik.as_str()),
        (None, "")
    );
    // The upload still has everything it sends.
    let pending = store
        .scan_uploads(10, &Default::default())
        .expect("pending")
        .rows;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].applicant.name.as_deref(), Some("SITI AMINAH"));
    // Even 400 days on, a registration the service never answered stays.
    let later = store.apply_retention(d(2027, 12, 30)).expect("purged");
    assert_eq!(later.registrations, 0);
}

#[test]
fn an_answered_registration_goes_whole_once_the_thirty_day_rule_is_done_with_it() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1, 2]);
    let booked =
        commit(&mut store, &request(vec![member("2102015708900003", None)])).expect("booked");
    let id = booked.tickets[0].registration_id.clone();
    store
        .record_results(&[(id, UploadOutcome::Accepted { receipt: None })], now())
        .expect("ok");
    let tag = "tag-2102015708900003";
    // Booked on 11-23: the 30-day rule needs it until 12-22; on 12-23 it goes.
    let kept = store.apply_retention(d(2026, 12, 22)).expect("purged");
    assert_eq!(kept.registrations, 0);
    assert_eq!(store.history(tag).expect("history").len(), 1);
    let gone = store.apply_retention(d(2026, 12, 23)).expect("purged");
    assert_eq!(
        gone,
        retention::Purged {
            visits: 0,
            registrations: 1,
            changes: 0
        }
    );
    assert!(store.history(tag).expect("history").is_empty());
    let stats = store.stats().expect("stats");
    assert_eq!((stats.registrations, stats.groups), (0, 0));
    assert_eq!(stats.held_free, 1, "the free number is the sync's to drop");
}

#[test]
fn the_mark_refuses_a_database_missing_emptied_or_replaced_after_it_held_numbers() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("kiosk.db");
    {
        let store = Store::open(&db).expect("a new kiosk's store");
        drop(store);
        assert!(
            !dir.path().join(mark::MARK_FILE).exists(),
            "nothing held yet"
        );
        std::fs::remove_file(&db).expect("removed");
    }
    let mut store = Store::open(&db).expect("a new database: nothing was lost");
    hold(&mut store, QueueKind::Regular, &[1]);
    drop(store);
    assert!(dir.path().join(mark::MARK_FILE).exists());
    let kept = std::fs::read(&db).expect("db");
    assert!(Store::open(&db).is_ok(), "its own database");
    assert_eq!(mark::lost(&db).expect("looked"), None);

    let lost = |db: &std::path::Path| match Store::open(db) {
        Err(StoreError::Lost { lost, .. }) => Some(lost),
        other => panic!("{:?}", other.map(|_| ())),
    };
    std::fs::remove_file(&db).expect("removed");
    assert_eq!(lost(&db), Some(mark::Lost::Missing));
    assert!(!db.exists(), "nothing made in its place");
    assert_eq!(mark::lost(&db).expect("looked"), Some(mark::Lost::Missing));
    std::fs::write(&db, b"").expect("emptied");
    assert_eq!(lost(&db), Some(mark::Lost::Emptied));
    assert_eq!(
        std::fs::metadata(&db).expect("file").len(),
        0,
        "left as found"
    );
    assert_eq!(mark::lost(&db).expect("looked"), Some(mark::Lost::Emptied));
    std::fs::remove_file(&db).expect("removed");
    let elsewhere = tempfile::tempdir().expect("dir");
    let other = elsewhere.path().join("kiosk.db");
    drop(Store::open(&other).expect("another kiosk's store"));
    std::fs::rename(&other, &db).expect("swapped in");
    assert_eq!(lost(&db), Some(mark::Lost::Replaced));
    assert_eq!(mark::lost(&db).expect("looked"), Some(mark::Lost::Replaced));
    std::fs::write(&db, kept).expect("put back");
    assert!(Store::open(&db).is_ok(), "its own database put back");
}

#[test]
fn the_services_last_time_only_moves_forward() {
    let mut store = Store::open_in_memory().expect("store");
    assert_eq!(store.service_said().expect("read"), None);
    let later = now() + chrono::TimeDelta::hours(1);
    store.note_heartbeat(now(), later).expect("noted");
    store.note_heartbeat(now(), now()).expect("noted");
    assert_eq!(store.service_said().expect("read"), Some(later));
}

/// A child entered on the keypad: its KK number and the keypad as source.
fn child(nik: &str) -> Member {
    let mut m = member(nik, Some(PriorityReason::ChildUnder5));
    m.applicant.source = IdentitySource::Manual;
    m.applicant.name = None;
    m.applicant.kk_number = Some(
        crate::domain::nik::KkNumber::parse("2102011203150007", d(2026, 11, 23)).expect("valid KK"),
    );
    m
}

#[test]
fn a_childs_ticket_stays_a_childs_after_the_service_has_the_record() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1]);
    hold(&mut store, QueueKind::Priority, &[1]);
    let booked = commit(
        &mut store,
        &request(vec![
            member("2102015708900003", None),
            child("2102015208230001"),
        ]),
    )
    .expect("booked");
    let tickets = store.group_tickets(&booked.group_id).expect("tickets");
    let flags: Vec<_> = tickets
        .iter()
        .map(|t| (t.child, t.priority_reason))
        .collect();
    assert_eq!(
        flags,
        [(false, None), (true, Some(PriorityReason::ChildUnder5))]
    );
    // The service's answer clears the applicant record; the ticket keeps what it prints.
    let outcomes: Vec<_> = tickets
        .iter()
        .map(|t| {
            (
                t.registration_id.clone(),
                UploadOutcome::Accepted { receipt: None },
            )
        })
        .collect();
    store.record_results(&outcomes, now()).expect("results");
    let again = store.group_tickets(&booked.group_id).expect("tickets");
    assert_eq!(
        again.iter().map(|t| t.child).collect::<Vec<_>>(),
        [false, true]
    );
}

#[test]
fn migration_5_marks_the_children_booked_before_it() {
    let mut store = Store::open_in_memory().expect("store");
    hold(&mut store, QueueKind::Regular, &[1]);
    hold(&mut store, QueueKind::Priority, &[1]);
    let booked = commit(
        &mut store,
        &request(vec![
            member("2102015708900003", None),
            child("2102015208230001"),
        ]),
    )
    .expect("booked");
    // As a database of schema 4 held them: no column, then the migration's backfill.
    store
        .conn
        .execute_batch("ALTER TABLE registrations DROP COLUMN child;")
        .expect("back to schema 4");
    store
        .conn
        .execute_batch(include_str!("migrations/0005_ticket_child.sql"))
        .expect("migration 5");
    let tickets = store.group_tickets(&booked.group_id).expect("tickets");
    assert_eq!(
        tickets.iter().map(|t| t.child).collect::<Vec<_>>(),
        [false, true]
    );
}

// --- cancels and reschedules (store::changes) -------------------------------------

mod changes {
    use super::*;
    use crate::protocol::central_v11::ChangeRefusal;
    use crate::store::changes::{
        CancelOutcome, ChangeAnswer, ChangeError, ChangeRequest, ReschedulePlan, Rescheduled,
    };

    const NIK: &str = "2102015708900003";
    const TAG: &str = "tag-2102015708900003";

    /// A store holding regular numbers 1..=3 of 11-24 S1 and 1..=2 of 11-25 S2, with one
    /// booking on 11-24 S1 number 1.
    fn booked() -> (Store, String) {
        let mut store = Store::open_in_memory().expect("store");
        hold(&mut store, QueueKind::Regular, &[1, 2, 3]);
        store
            .add_held(&HeldAllocation {
                allocation_id: "a-s2".into(),
                office_id: "KRM".into(),
                date: d(2026, 11, 25),
                session_id: "S2".into(),
                kind: QueueKind::Regular,
                numbers: vec![1, 2],
            })
            .expect("numbers stored");
        let b = commit(&mut store, &request(vec![member(NIK, None)])).expect("booked");
        let id = b.tickets[0].registration_id.clone();
        (store, id)
    }

    fn sent(store: &mut Store, id: &str) {
        let marked = store.mark_sent(&[id.to_owned()], now()).expect("marked");
        assert_eq!(marked, [id.to_owned()]);
    }

    fn free(store: &Store, date: NaiveDate, session: &str) -> Vec<u32> {
        store
            .free_numbers(date, date)
            .expect("free")
            .into_iter()
            .filter(|f| f.session_id == session)
            .map(|f| f.number)
            .collect()
    }

    fn reschedule(
        store: &mut Store,
        id: &str,
        change: uuid::Uuid,
    ) -> Result<Rescheduled, ChangeError> {
        let sign = |t: &ReissuedTicket<'_>| {
            Some(format!(
                "APM2.{}.{}.{}",
                t.date, t.session_id, t.queue_number
            ))
        };
        store.reschedule_booking(&ReschedulePlan {
            registration_id: id,
            date: d(2026, 11, 25),
            session_id: "S2",
            change_id: change,
            at: now(),
            today: d(2026, 11, 23),
            sign: &sign,
        })
    }

    #[test]
    fn a_cancel_before_upload_is_released_and_after_it_is_queued() {
        let (mut store, id) = booked();
        let change = uuid::Uuid::now_v7();
        let out = store.cancel_booking(&id, change, now()).expect("cancelled");
        assert_eq!(out, CancelOutcome::Released);
        assert_eq!(
            store.stats().expect("stats").pending,
            0,
            "nothing to upload"
        );
        assert!(store.sendable_changes().expect("changes").is_empty());
        assert_eq!(
            free(&store, d(2026, 11, 24), "S1"),
            [1, 2, 3],
            "number 1 free again"
        );
        let history = store.history(TAG).expect("history");
        assert!(history[0].cancelled && !history[0].rejected);
        assert!(
            store
                .bookings_of(TAG, d(2026, 11, 23))
                .expect("mine")
                .is_empty()
        );
        // The number is booked again, by someone else: no clash with the cancelled row.
        let again = commit(&mut store, &request(vec![member("2102010303880005", None)]))
            .expect("booked again");
        assert_eq!(again.tickets[0].queue_number.number, 1);
        assert!(matches!(
            store.cancel_booking(&id, uuid::Uuid::now_v7(), now()),
            Err(ChangeError::NotLive)
        ));

        // Sent: cancelled here, its number never booked again here, a cancel queued.
        let other = again.tickets[0].registration_id.clone();
        sent(&mut store, &other);
        let change = uuid::Uuid::now_v7();
        let out = store
            .cancel_booking(&other, change, now())
            .expect("cancelled");
        assert_eq!(out, CancelOutcome::Queued { change_id: change });
        assert_eq!(free(&store, d(2026, 11, 24), "S1"), [2, 3]);
        assert!(
            store.sendable_changes().expect("changes").is_empty(),
            "not before its registration has reached the service"
        );
        store
            .record_results(
                &[(other.clone(), UploadOutcome::Accepted { receipt: None })],
                now(),
            )
            .expect("accepted");
        let queued = store.sendable_changes().expect("changes");
        assert_eq!(queued.len(), 1);
        assert!(matches!(&queued[0].request, ChangeRequest::Cancel(c) if c.change_id == change));
        assert_eq!(store.change_summary().expect("summary").waiting, 1);
        let refused = ChangeAnswer::Refused(ChangeRefusal::AlreadyArrived);
        store
            .record_change_answer(change, &refused, now())
            .expect("answer");
        store
            .record_change_answer(change, &ChangeAnswer::Done { receipt: None }, now())
            .expect("again");
        assert_eq!(store.change_answer(change).expect("answer"), Some(refused));
        let summary = store.change_summary().expect("summary");
        assert_eq!((summary.waiting, summary.refused.len()), (0, 1));
        assert_eq!(
            free(&store, d(2026, 11, 24), "S1"),
            [2, 3],
            "the cancellation stays"
        );
    }

    #[test]
    fn a_reschedule_before_upload_moves_the_booking_in_place() {
        let (mut store, id) = booked();
        store.mark_printed(&id, now()).expect("printed");
        let moved = reschedule(&mut store, &id, uuid::Uuid::now_v7()).expect("moved");
        assert_eq!((moved.queue_number.number, moved.queued), (1, None));
        assert_eq!(free(&store, d(2026, 11, 24), "S1"), [1, 2, 3]);
        assert_eq!(free(&store, d(2026, 11, 25), "S2"), [2]);
        let upload = store
            .scan_uploads(10, &Default::default())
            .expect("scan")
            .rows;
        assert_eq!(
            (upload[0].date, upload[0].session_id.as_str()),
            (d(2026, 11, 25), "S2")
        );
        assert_eq!(upload[0].ticket, moved.ticket);
        let unprinted = store.unprinted_tickets().expect("unprinted");
        assert_eq!(unprinted.len(), 1, "the new ticket prints");
        let mine = store.bookings_of(TAG, d(2026, 11, 23)).expect("mine");
        assert_eq!((mine[0].reschedules_left, mine[0].own), (0, true));
        assert!(matches!(
            reschedule(&mut store, &id, uuid::Uuid::now_v7()),
            Err(ChangeError::NoneLeft)
        ));
    }

    #[test]
    fn a_refused_reschedule_puts_the_booking_back() {
        let (mut store, id) = booked();
        sent(&mut store, &id);
        store
            .record_results(
                &[(id.clone(), UploadOutcome::Accepted { receipt: None })],
                now(),
            )
            .expect("accepted");
        store.mark_printed(&id, now()).expect("printed");
        let before = store.unprinted_tickets().expect("unprinted");
        assert!(before.is_empty());
        let change = uuid::Uuid::now_v7();
        let moved = reschedule(&mut store, &id, change).expect("moved");
        assert_eq!(moved.queued, Some(change));
        assert_eq!(
            free(&store, d(2026, 11, 24), "S1"),
            [2, 3],
            "old number not ours"
        );
        assert_eq!(free(&store, d(2026, 11, 25), "S2"), [2]);
        let queued = store.queued_change(change).expect("queued").expect("one");
        assert!(
            matches!(&queued.request, ChangeRequest::Reschedule(r) if r.queue_number == 1 && r.session_id == "S2")
        );
        let refused = ChangeAnswer::Refused(ChangeRefusal::TooLate);
        store
            .record_change_answer(change, &refused, now())
            .expect("answer");
        assert_eq!(free(&store, d(2026, 11, 24), "S1"), [2, 3]);
        assert_eq!(
            free(&store, d(2026, 11, 25), "S2"),
            [1, 2],
            "new number ours again"
        );
        let mine = store.bookings_of(TAG, d(2026, 11, 23)).expect("mine");
        assert_eq!(
            (mine[0].date, mine[0].queue_number.number),
            (d(2026, 11, 24), 1)
        );
        assert_eq!(mine[0].reschedules_left, 1);
        assert!(
            store.unprinted_tickets().expect("unprinted").is_empty(),
            "old ticket stands"
        );

        // Done: the booking stays moved and the old number stays the service's.
        let change = uuid::Uuid::now_v7();
        reschedule(&mut store, &id, change).expect("moved");
        let done = ChangeAnswer::Done {
            receipt: Some("sig".into()),
        };
        store
            .record_change_answer(change, &done, now())
            .expect("answer");
        assert_eq!(store.change_answer(change).expect("answer"), Some(done));
        assert_eq!(free(&store, d(2026, 11, 24), "S1"), [2, 3]);
        let mine = store.bookings_of(TAG, d(2026, 11, 23)).expect("mine");
        assert_eq!(
            (mine[0].date, mine[0].session_id.as_str()),
            (d(2026, 11, 25), "S2")
        );
    }

    #[test]
    fn a_booking_found_at_the_service_is_moved_on_a_held_number_and_let_go_on_refusal() {
        use crate::store::changes::FoundReschedulePlan;
        let (mut store, _) = booked();
        let found = crate::flow::ExistingBooking {
            registration_id: uuid::Uuid::now_v7().to_string(),
            office_id: "KRM".into(),
            date: d(2026, 11, 24),
            session_id: "S1".into(),
            queue_number: crate::domain::QueueNumber {
                kind: QueueKind::Regular,
                number: 21,
            },
            masked_nik: "2102********0003".into(),
            name: None,
            own: true,
            here: false,
            reschedules_left: 1,
            booking_code: None,
            group_id: Some(uuid::Uuid::now_v7().to_string()),
            ticket: Some("APM2.other.kiosk".into()),
        };
        let sign = |t: &ReissuedTicket<'_>| Some(format!("APM2.{}", t.queue_number));
        let plan = |change_id| FoundReschedulePlan {
            found: &found,
            date: d(2026, 11, 25),
            session_id: "S2",
            change_id,
            at: now(),
            sign: &sign,
        };
        let first = uuid::Uuid::now_v7();
        let moved = store.reschedule_found(&plan(first)).expect("moved");
        assert_eq!((moved.queue_number.number, moved.queued), (1, Some(first)));
        assert_eq!(free(&store, d(2026, 11, 25), "S2"), [2]);
        assert_eq!(
            store.sendable_changes().expect("queued").len(),
            1,
            "no upload first"
        );
        let refused = ChangeAnswer::Refused(ChangeRefusal::TooLate);
        store
            .record_change_answer(first, &refused, now())
            .expect("answer");
        assert_eq!(free(&store, d(2026, 11, 25), "S2"), [1, 2], "ours again");

        // Refused as not held: the number was never the kiosk's, and is not booked again.
        let second = uuid::Uuid::now_v7();
        store.reschedule_found(&plan(second)).expect("moved");
        let not_held = ChangeAnswer::Refused(ChangeRefusal::NumberNotHeld);
        store
            .record_change_answer(second, &not_held, now())
            .expect("answer");
        assert_eq!(free(&store, d(2026, 11, 25), "S2"), [2]);

        // Done: the number stays bound to the found booking until its date has passed.
        let third = uuid::Uuid::now_v7();
        store.reschedule_found(&plan(third)).expect("moved");
        let done = ChangeAnswer::Done { receipt: None };
        store
            .record_change_answer(third, &done, now())
            .expect("answer");
        let bound = |s: &Store| -> u32 {
            s.conn
                .query_row(
                    "SELECT COUNT(*) FROM held_numbers WHERE registration_id = ?1",
                    [found.registration_id.to_string()],
                    |r| r.get(0),
                )
                .expect("count")
        };
        assert_eq!(bound(&store), 1);
        store.apply_retention(d(2026, 11, 25)).expect("kept");
        assert_eq!(bound(&store), 1);
        store.apply_retention(d(2026, 11, 26)).expect("purged");
        assert_eq!(bound(&store), 0);
    }

    #[test]
    fn answers_and_long_past_changes_go_with_retention() {
        let (mut store, id) = booked();
        sent(&mut store, &id);
        store
            .record_results(
                &[(id.clone(), UploadOutcome::Accepted { receipt: None })],
                now(),
            )
            .expect("accepted");
        let answered = uuid::Uuid::now_v7();
        store
            .cancel_booking(&id, answered, now())
            .expect("cancelled");
        store
            .record_change_answer(answered, &ChangeAnswer::Done { receipt: None }, now())
            .expect("answer");
        let found = uuid::Uuid::now_v7();
        store
            .queue_found_cancel(&uuid::Uuid::now_v7().to_string(), found, now())
            .expect("queued");
        assert_eq!(
            store
                .apply_retention(d(2026, 11, 24))
                .expect("kept")
                .changes,
            0
        );
        assert_eq!(
            store
                .apply_retention(d(2026, 11, 25))
                .expect("purged")
                .changes,
            1
        );
        assert_eq!(store.change_answer(answered).expect("answer"), None);
        assert_eq!(store.change_summary().expect("summary").waiting, 1);
        let purged = store.apply_retention(d(2026, 12, 24)).expect("purged");
        assert_eq!(purged.changes, 1, "a change of a visit 30 days past goes");
        assert_eq!(store.change_summary().expect("summary").waiting, 0);
    }

    #[test]
    fn migration_6_keeps_the_bookings_of_schema_5() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("kiosk.db");
        {
            let conn = Connection::open(&path).expect("open");
            for (version, sql) in &MIGRATIONS[..5] {
                conn.execute_batch(sql).expect("migration");
                conn.pragma_update(None, "user_version", version)
                    .expect("version");
            }
            let mut store = Store { conn, mark: None };
            hold(&mut store, QueueKind::Regular, &[1]);
            commit(&mut store, &request(vec![member(NIK, None)])).expect("booked");
        }
        let store = Store::open(&path).expect("migrates");
        assert_eq!(store.schema_version().expect("version"), 6);
        assert_eq!(store.stats().expect("stats").pending, 1);
        assert_eq!(
            store.bookings_of(TAG, d(2026, 11, 23)).expect("mine").len(),
            1
        );
        assert_eq!(store.integrity_check().expect("check"), "ok");
    }
}
