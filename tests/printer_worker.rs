//! The printer worker against a real store (SQLite in a temp dir, its writer thread) and
//! the virtual printer on a pseudo-terminal: what prints once, what prints as COPY, what
//! is counted as an attempt, a technician's reprint, the printer's state as the status
//! command sees it; and the upgrade of a database made before print attempts existed.

use std::time::Duration;

use apm_kiosk::domain::{Language, QueueKind};
use apm_kiosk::flow::{Booked, BookingRequest, Member, PrintFailure};
use apm_kiosk::hardware::printer::worker::{PrinterSettings, PrinterWorker, ReprintError};
use apm_kiosk::hardware::printer::{PrinterPath, PrinterState};
use apm_kiosk::protocol::central::Key32;
use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile};
use apm_kiosk::store::writer::StoreHandle;
use apm_kiosk::store::{HeldAllocation, Store};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_testkit::fixtures;
use apm_kiosk_testkit::signer::Signer;
use chrono::{NaiveDate, Utc};
use tokio::sync::watch;

fn visit_day() -> NaiveDate {
    // Ahead of today in every zone, so the worker's backlog counts it.
    Utc::now().date_naive() + chrono::TimeDelta::days(2)
}

fn member(nik: &str) -> Member {
    fixtures::member(nik, Utc::now().date_naive())
}

/// A stored booking of two applicants, as the flow commits it.
fn book_two(store: &mut Store) -> Booked {
    store
        .add_held(&HeldAllocation {
            allocation_id: "a-1".into(),
            office_id: "KRM".into(),
            date: visit_day(),
            session_id: "S1".into(),
            kind: QueueKind::Regular,
            numbers: vec![21, 22],
        })
        .expect("numbers held");
    let request = BookingRequest {
        office_id: "KRM".into(),
        date: visit_day(),
        session_id: "S1".into(),
        language: Language::Id,
        members: vec![member("2102015708900003"), member("2102010303880005")],
        created_at: Utc::now(),
    };
    // The NIK hash key is the rig's enrollment's.
    Signer::new("KRM-02", fixtures::ticket_key(), [0; 32], Key32([0; 32]))
        .commit(store, &request, Utc::now().date_naive())
        .expect("booking committed")
}

struct Rig {
    _dir: tempfile::TempDir,
    store: StoreHandle,
    sim: PrinterSimHandle,
    worker: PrinterWorker,
    state: watch::Receiver<PrinterState>,
    booked: Booked,
}

/// The printer of these tests: a TM-T20 (process ID, buffer clear), its head at ten
/// times its speed, as the kiosk and the simulator both know it.
fn profile() -> PrinterProfile {
    PrinterProfile::of(PrinterModel::TmT20, PaperWidth::Mm80)
}

fn sim(options: PrinterSimOptions) -> PrinterSimOptions {
    PrinterSimOptions {
        profile: profile(),
        head_mm_per_s: Some(1500),
        ..options
    }
}

fn rig(options: PrinterSimOptions, backlog_poll: Duration) -> Rig {
    rig_polling(
        options,
        backlog_poll,
        apm_kiosk::hardware::printer::worker::IDLE_POLL,
    )
}

fn rig_polling(options: PrinterSimOptions, backlog_poll: Duration, idle_poll: Duration) -> Rig {
    rig_on(profile(), sim(options), backlog_poll, idle_poll)
}

/// The rig on a virtual printer of `options` exactly (its own profile), which the
/// kiosk takes for a `kiosk` printer.
fn rig_on(
    kiosk: PrinterProfile,
    options: PrinterSimOptions,
    backlog_poll: Duration,
    idle_poll: Duration,
) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("kiosk.db")).expect("store opens");
    let booked = book_two(&mut store);
    let (store, _writer) = StoreHandle::spawn(store).expect("writer thread");
    let sim = PrinterSim::start(
        &dir.path().join("printer"),
        &dir.path().join("out"),
        options,
    )
    .expect("virtual printer");
    let (state_tx, state) = watch::channel(PrinterState::Offline);
    let worker = PrinterWorker::spawn(
        apm_kiosk::hardware::printer::opener(
            PrinterPath::Device(sim.link().to_owned()),
            115_200,
            kiosk,
        ),
        PrinterSettings {
            backlog_poll,
            idle_poll,
            ..PrinterSettings::new(kiosk)
        },
        store.clone(),
        state_tx,
    )
    .expect("worker starts");
    Rig {
        _dir: dir,
        store,
        sim,
        worker,
        state,
        booked,
    }
}

impl Rig {
    fn ids(&self) -> Vec<String> {
        self.booked
            .tickets
            .iter()
            .map(|t| t.registration_id.clone())
            .collect()
    }

    async fn attempts(&self, id: &str) -> Option<u32> {
        let id = id.to_owned();
        self.store
            .run(move |s| s.print_attempts(&id))
            .await
            .expect("attempts read")
    }

    async fn printed(&self, id: &str) -> bool {
        let id = id.to_owned();
        self.store
            .run(move |s| s.ticket(&id))
            .await
            .expect("ticket read")
            .expect("ticket exists")
            .printed
    }
}

fn is_copy(text: &str) -> bool {
    text.contains("*SALINAN*")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_prints_once_and_a_technicians_reprint_is_a_copy() {
    let r = rig(
        PrinterSimOptions {
            roll_mm: Some(7500.0),
            near_end_mm: 7300.0,
            ..PrinterSimOptions::default()
        },
        Duration::from_secs(60),
    );
    let ids = r.ids();
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Ok(())
    );
    let texts = r.sim.ticket_texts();
    assert_eq!(texts.len(), 2, "one ticket each");
    assert!(
        texts.iter().all(|t| !is_copy(t)),
        "first prints are originals"
    );
    assert!(texts[0].contains("R-021") && texts[1].contains("R-022"));
    for id in &ids {
        assert!(r.printed(id).await);
        assert_eq!(r.attempts(id).await, Some(1));
    }
    // Two tickets used more than 200 mm: the near-end sensor fired, and the status
    // command's state says so.
    assert_eq!(*r.state.borrow(), PrinterState::PaperNearEnd);

    // The flow asking again (a double tap on retry) prints nothing more.
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Ok(())
    );
    assert_eq!(r.sim.tickets().len(), 2);

    // A technician reprints the second ticket: it comes out marked COPY.
    r.worker.reprint(ids[1].clone()).await.expect("reprinted");
    let texts = r.sim.ticket_texts();
    assert_eq!(texts.len(), 3);
    assert!(
        is_copy(&texts[2]) && texts[2].contains("R-022"),
        "{}",
        texts[2]
    );
    assert_eq!(r.attempts(&ids[1]).await, Some(2));

    match r.worker.reprint("no-such-registration".into()).await {
        Err(ReprintError::Unknown(id)) => assert_eq!(id, "no-such-registration"),
        other => panic!("an unknown id must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_ticket_cut_short_prints_it_as_copy_and_the_next_as_original() {
    // The backlog poll is long: here the applicant's retry does the reprint.
    let r = rig(
        PrinterSimOptions {
            roll_mm: Some(100.0),
            reload_mm: Some(7500.0),
            ..PrinterSimOptions::default()
        },
        Duration::from_secs(60),
    );
    let ids = r.ids();
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Err(PrintFailure::PaperOut)
    );
    assert!(r.sim.tickets().is_empty(), "the first ticket was cut short");
    assert_eq!(r.sim.buffered(), 0, "and its tail cleared");
    assert_eq!(r.attempts(&ids[0]).await, Some(1), "sent, so counted");
    assert_eq!(r.attempts(&ids[1]).await, Some(0), "never sent");
    assert!(!r.printed(&ids[0]).await && !r.printed(&ids[1]).await);
    assert_eq!(*r.state.borrow(), PrinterState::PaperOut);

    // Still out of paper: the retry sends nothing and counts nothing.
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Err(PrintFailure::PaperOut)
    );
    assert_eq!(r.attempts(&ids[0]).await, Some(1));

    r.sim.load_paper();
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Ok(())
    );
    let texts = r.sim.ticket_texts();
    assert_eq!(texts.len(), 2, "no tail of the first job: {texts:?}");
    assert!(is_copy(&texts[0]), "the cut-short ticket again, as COPY");
    assert!(!is_copy(&texts[1]), "the one never sent is the original");
    assert!(r.printed(&ids[0]).await && r.printed(&ids[1]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_prints_what_waits_once_the_printer_is_back() {
    let r = rig(
        PrinterSimOptions {
            offline: true,
            ..PrinterSimOptions::default()
        },
        Duration::from_millis(200),
    );
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Err(PrintFailure::Offline)
    );
    assert_eq!(r.attempts(&r.ids()[0]).await, Some(0), "nothing was sent");
    r.sim.set_offline(false);
    let tickets = r.sim.wait_for_tickets(2, Duration::from_secs(10));
    assert_eq!(tickets.len(), 2, "both printed with no one asking");
    assert!(r.sim.ticket_texts().iter().all(|t| !is_copy(t)));
    // The worker records a ticket as printed once the printer has taken it, which is a
    // moment after the simulator has rendered it.
    for id in r.ids() {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !r.printed(&id).await && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(r.printed(&id).await);
    }
    assert_eq!(*r.state.borrow(), PrinterState::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_printer_is_asked_so_ok_means_it_answered() {
    // The daemon asks every IDLE_POLL (5 s); here every 100 ms.
    let mut r = rig_polling(
        PrinterSimOptions::default(),
        Duration::from_secs(60),
        Duration::from_millis(100),
    );
    let patience = Duration::from_secs(10);
    let wait_for = |state: PrinterState| {
        let mut rx = r.state.clone();
        async move {
            tokio::time::timeout(patience, rx.wait_for(|s| *s == state))
                .await
                .map(|_| ())
                .unwrap_or_else(|_| panic!("the state never became {state:?}: {:?}", *rx.borrow()))
        }
    };
    // What an earlier run left (the two tickets) prints at start; then it idles.
    assert_eq!(r.sim.wait_for_tickets(2, patience).len(), 2);
    wait_for(PrinterState::Ok).await;
    r.sim.set_offline(true);
    wait_for(PrinterState::Offline).await;
    r.sim.set_cover_open(true);
    r.sim.set_offline(false);
    wait_for(PrinterState::CoverOpen).await;
    r.sim.set_cover_open(false);
    wait_for(PrinterState::Ok).await;
    let _ = &mut r;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_that_never_confirms_is_not_fed_copy_after_copy() {
    // The kiosk takes it for a TM-T88VI (a fast head: a short wait for the process ID);
    // it is a generic printer, deaf to GS ( H.
    let kiosk = PrinterProfile::of(PrinterModel::TmT88vi, PaperWidth::Mm80);
    let r = rig_on(
        kiosk,
        PrinterSimOptions {
            profile: PrinterProfile::generic(PaperWidth::Mm80),
            head_mm_per_s: Some(1500),
            ..PrinterSimOptions::default()
        },
        Duration::from_millis(100),
        Duration::from_millis(100),
    );
    let ids = r.ids();
    // What the booking left prints at start; the printer never confirms it.
    assert_eq!(r.sim.wait_for_tickets(1, Duration::from_secs(10)).len(), 1);
    let job = kiosk.head_time(kiosk.dots_of_mm(205.0));
    tokio::time::sleep(job * 2 + Duration::from_secs(3)).await;
    assert!(!r.printed(&ids[0]).await, "not confirmed, not printed");
    // The backlog is not printed by itself again, poll after poll (every 100 ms)...
    assert_eq!(r.sim.tickets().len(), 1, "no COPY after COPY");
    assert_eq!(*r.state.borrow(), PrinterState::Ok);
    // ... until someone asks: the applicant's retry prints it again, as COPY.
    assert_eq!(
        r.worker.print_group(r.booked.group_id.clone()).await,
        Err(PrintFailure::Failed)
    );
    let texts = r.sim.ticket_texts();
    assert_eq!(texts.len(), 2);
    assert!(is_copy(&texts[1]));
}

#[test]
fn a_database_from_before_print_attempts_is_upgraded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kiosk.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(include_str!("../src/store/migrations/0001_initial.sql"))
            .expect("schema 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version 1");
    }
    let mut store = Store::open(&path).expect("upgrades");
    assert_eq!(
        store.schema_version().expect("version"),
        6,
        "every migration since"
    );
    let booked = book_two(&mut store);
    let id = &booked.tickets[0].registration_id;
    assert_eq!(store.print_attempts(id).expect("attempts"), Some(0));
    assert_eq!(
        store.begin_print_attempt(id, Utc::now()).expect("counted"),
        Some(0)
    );
    assert_eq!(
        store.begin_print_attempt(id, Utc::now()).expect("counted"),
        Some(1)
    );
    assert_eq!(
        store
            .begin_print_attempt("unknown", Utc::now())
            .expect("nothing"),
        None
    );
    let backlog = store.reprint_backlog(visit_day()).expect("backlog");
    assert_eq!(backlog.len(), 2);
    store.mark_printed(id, Utc::now()).expect("marked");
    assert_eq!(
        store.reprint_backlog(visit_day()).expect("backlog").len(),
        1
    );
    let later = visit_day() + chrono::TimeDelta::days(1);
    assert!(
        store.reprint_backlog(later).expect("backlog").is_empty(),
        "a past visit is not printed"
    );
}
