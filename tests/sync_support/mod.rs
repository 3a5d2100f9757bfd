//! Shared by the `sync_*` tests: a central simulator on loopback with a pinned clock, an
//! enrolled kiosk store with its `Syncer`, and bookings committed the way the daemon
//! commits them (the store's booking transaction, numbers the simulator handed out).

#![allow(dead_code)]

use std::time::Duration;

use apm_kiosk::domain::nik::Nik;
use apm_kiosk::domain::{ApplicationType, Language, PassportType, QueueKind, Sex};
use apm_kiosk::flow::{Applicant, BookingRequest, IdentitySource, Member};
use apm_kiosk::protocol::central::{EnrollRequest, Key32};
use apm_kiosk::store::writer::StoreHandle;
use apm_kiosk::store::{CommitError, CommitPlan, TicketToSign};
use apm_kiosk::sync::client::{CentralApi, HttpCentral};
use apm_kiosk::sync::planner::{GuardrailLimits, PlannerConfig};
use apm_kiosk::sync::{KioskHealth, SyncConfig, SyncStatus, Syncer};
use apm_kiosk_sim::central::{CentralSim, SimSeed, serve};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, oneshot, watch};

pub struct Central {
    pub sim: CentralSim,
    pub base: String,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

/// Tuesday 1 December 2026, 07:00 in Jakarta: before the first session.
pub fn tuesday_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T07:00:00+07:00")
        .expect("test time")
        .with_timezone(&Utc)
}

pub fn day(text: &str) -> NaiveDate {
    text.parse().expect("test date")
}

/// Karimun only, with `regular` and `priority` numbers per session.
pub fn karimun(regular: u32, priority: u32) -> SimSeed {
    let mut seed = SimSeed::default();
    seed.offices.retain(|o| o.office.office_id == "KRM");
    for o in &mut seed.offices {
        o.regular_per_session = regular;
        o.priority_per_session = priority;
    }
    seed
}

pub async fn start_central(seed: SimSeed, now: DateTime<Utc>) -> Central {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = CentralSim::open(&dir.path().join("central.sqlite"), &seed).expect("sim opens");
    sim.set_clock(Some(now));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        let _ = serve(server, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    Central {
        sim,
        base,
        _dir: dir,
        _stop: stop,
    }
}

/// One kiosk: its database, its enrollment, and the client it syncs with.
pub struct KioskUnderTest {
    pub store: StoreHandle,
    pub kiosk_id: String,
    pub nik_hash_key: Key32,
    pub token: String,
    pub tag_secret: [u8; 32],
    pub db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _writer: std::thread::JoinHandle<()>,
}

pub async fn enrolled_kiosk(central: &Central, code: &str) -> KioskUnderTest {
    central
        .sim
        .add_enroll_code(code, &["KRM"])
        .expect("code added");
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let answer = client(&central.base, None)
        .enroll(&EnrollRequest {
            code: code.into(),
            public_key: Key32(key.verifying_key().to_bytes()),
            software_version: "test".into(),
        })
        .await
        .expect("enrolls");
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("kiosk.db");
    let (store, writer) = StoreHandle::open(&db_path).expect("store opens");
    KioskUnderTest {
        store,
        kiosk_id: answer.kiosk_id,
        nik_hash_key: answer.nik_hash_key,
        token: answer.token,
        tag_secret: rand::random(),
        db_path,
        _dir: dir,
        _writer: writer,
    }
}

pub fn client(base: &str, token: Option<&str>) -> HttpCentral {
    HttpCentral::new(base, token.map(str::to_owned), Duration::from_secs(5), None)
        .expect("loopback client")
}

pub fn config(hold_days: u32, low: u32, target: u32) -> SyncConfig {
    SyncConfig {
        interval: Duration::from_secs(30),
        planner: PlannerConfig::from_levels(hold_days, low, target),
        guardrail: GuardrailLimits {
            max_unsynced_age: TimeDelta::days(7),
            max_unsynced: 1000,
        },
        heartbeat_every: Duration::from_secs(60),
    }
}

pub fn healthy() -> watch::Receiver<KioskHealth> {
    let (tx, rx) = watch::channel(KioskHealth {
        printer: apm_kiosk::protocol::central::PrinterState::Ok,
        card_reader: apm_kiosk::protocol::central::ReaderState::Ok,
        out_of_service: false,
    });
    // The receiver keeps the last value when the sender is gone.
    drop(tx);
    rx
}

impl KioskUnderTest {
    /// A syncer of this kiosk against `base` (a dead address plays the offline kiosk).
    pub fn syncer(
        &self,
        base: &str,
        cfg: SyncConfig,
    ) -> (Syncer<HttpCentral>, watch::Receiver<SyncStatus>) {
        let (catalog, mut offices) = mpsc::channel(4);
        // Drain the office lists the syncer announces, as the daemon would.
        tokio::spawn(async move { while offices.recv().await.is_some() {} });
        Syncer::new(
            client(base, Some(&self.token)),
            self.store.clone(),
            cfg,
            catalog,
            healthy(),
        )
    }

    /// Commits one group on the first session of `date` with free numbers for all of
    /// it, as the daemon does on confirm. `None` when no session has room.
    pub async fn book(
        &self,
        date: NaiveDate,
        niks: &[String],
        now: DateTime<Utc>,
    ) -> Option<Vec<String>> {
        let members: Vec<Member> = niks.iter().map(|n| member(n, now)).collect();
        let need = members.len() as u32;
        let availability = self
            .store
            .run(move |s| s.availability("KRM", date))
            .await
            .expect("availability");
        let session = availability
            .slots
            .iter()
            .find(|s| s.date == date && s.regular >= need)?
            .session_id
            .clone();
        let request = BookingRequest {
            office_id: "KRM".into(),
            date,
            session_id: session,
            language: Language::Id,
            members,
            created_at: now,
        };
        let secret = self.tag_secret;
        let today = now
            .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600)?)
            .date_naive();
        let booked = self
            .store
            .call(move |s| {
                let tag = |nik: &str| apm_kiosk::app::nik_tag(&secret, nik);
                let sign = |t: &TicketToSign<'_>| format!("APM1.test.{}", t.registration_id);
                s.commit_booking(&CommitPlan {
                    request: &request,
                    created_on: today,
                    nik_tag: &tag,
                    sign: &sign,
                })
            })
            .await
            .expect("the store's writer runs");
        let booked = match booked {
            Ok(b) => b,
            Err(CommitError::NumbersGone(_)) => return None,
            Err(e) => panic!("booking failed: {e}"),
        };
        Some(
            booked
                .tickets
                .into_iter()
                .map(|t| t.registration_id)
                .collect(),
        )
    }

    pub async fn statuses(&self) -> Vec<(String, String)> {
        self.store
            .run(|s| s.registration_statuses())
            .await
            .expect("statuses")
    }

    pub async fn pending(&self) -> u32 {
        self.store.run(|s| s.stats()).await.expect("stats").pending
    }
}

/// A valid NIK of a Karimun woman, distinct for every `n` below 280,000.
pub fn nik(n: u32) -> String {
    let day = 1 + (n / 9999) % 28;
    let serial = 1 + n % 9999;
    format!("210201{:02}0890{serial:04}", day + 40)
}

pub fn member(nik: &str, now: DateTime<Utc>) -> Member {
    let (nik, info) = Nik::parse(nik, now.date_naive()).expect("test NIK is valid");
    Member {
        applicant: Applicant {
            nik,
            kk_number: None,
            name: Some("SITI AMINAH".into()),
            birth_place: Some("KARIMUN".into()),
            birth_date: info.birth_date,
            sex: Sex::Female,
            address: Some("JL. NUSANTARA NO. 12".into()),
            source: IdentitySource::Chip,
        },
        application_type: ApplicationType::New,
        passport_type: PassportType::Electronic,
        declared_priority: None,
        priority: None,
    }
}

/// The regular numbers (session, number) the central service accepted, per kiosk.
pub fn accepted_numbers(sim: &CentralSim) -> Vec<(String, NaiveDate, String, QueueKind, u32)> {
    sim.registrations()
        .expect("sim registrations")
        .into_iter()
        .filter(|r| r.status == apm_kiosk::protocol::central::RegistrationStatus::Accepted)
        .map(|r| (r.office_id, r.date, r.session_id, r.kind, r.number))
        .collect()
}
