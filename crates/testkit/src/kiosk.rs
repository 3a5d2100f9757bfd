//! A kiosk under test without its devices or screen: its SQLite store on the store's
//! writer thread (in a temp directory), its enrollment, [`Syncer`]s of it against any
//! [`CentralApi`] (the simulator over HTTP, or [`crate::fakes::FakeCentral`] in
//! memory), and bookings committed through the store's booking transaction with the
//! daemon's tag and signature ([`Signer`]), on numbers the service handed out.

use std::path::PathBuf;
use std::time::Duration;

use apm_kiosk::domain::{Language, QueueKind};
use apm_kiosk::flow::{BookingRequest, Member};
use apm_kiosk::protocol::central::{self as wire, Key32};
use apm_kiosk::store::CommitError;
use apm_kiosk::store::writer::StoreHandle;
use apm_kiosk::sync::bookings::BookingApi;
use apm_kiosk::sync::client::{CentralApi, HttpCentral};
use apm_kiosk::sync::planner::{GuardrailLimits, PlannerConfig};
use apm_kiosk::sync::{KioskHealth, SyncConfig, SyncStatus, Syncer};
use apm_kiosk_sim::central::CentralSim;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, watch};

use crate::central::{Central, client};
use crate::fixtures::{member, wib};
use crate::signer::Signer;

/// One kiosk: its database, its enrollment, and its means to sign.
pub struct KioskUnderTest {
    pub store: StoreHandle,
    pub kiosk_id: String,
    pub nik_hash_key: Key32,
    pub token: String,
    /// Tags NIKs and signs tickets as this kiosk's daemon would.
    pub signer: Signer,
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
    _writer: std::thread::JoinHandle<()>,
}

impl KioskUnderTest {
    /// A kiosk with a fresh, empty store and the enrollment given.
    pub fn open(kiosk_id: &str, token: &str, nik_hash_key: Key32, key: SigningKey) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the kiosk");
        let db_path = dir.path().join("kiosk.db");
        let (store, writer) = StoreHandle::open(&db_path).expect("the kiosk's store opens");
        KioskUnderTest {
            store,
            kiosk_id: kiosk_id.to_owned(),
            nik_hash_key,
            token: token.to_owned(),
            signer: Signer::new(kiosk_id, key, rand::random(), nik_hash_key),
            db_path,
            _dir: dir,
            _writer: writer,
        }
    }

    /// A kiosk enrolled with the simulator for Karimun with the one-time `code`.
    pub async fn enrolled(central: &Central, code: &str) -> Self {
        let e = central.enroll(code, &["KRM"]).await;
        KioskUnderTest::open(&e.kiosk_id, &e.token, e.nik_hash_key, e.key)
    }

    /// A syncer of this kiosk against the simulator at `base` (a dead address plays
    /// the offline kiosk).
    pub fn syncer(
        &self,
        base: &str,
        cfg: SyncConfig,
    ) -> (Syncer<HttpCentral>, watch::Receiver<SyncStatus>) {
        self.syncer_with(client(base, Some(&self.token)), cfg)
    }

    /// A syncer of this kiosk against any central service. Must be called on a tokio
    /// runtime: a task drains the office lists it announces, as the daemon would.
    pub fn syncer_with<C: CentralApi + BookingApi>(
        &self,
        api: C,
        cfg: SyncConfig,
    ) -> (Syncer<C>, watch::Receiver<SyncStatus>) {
        let (catalog, mut offices) = mpsc::channel(4);
        tokio::spawn(async move { while offices.recv().await.is_some() {} });
        Syncer::new(api, self.store.clone(), cfg, catalog, healthy())
    }

    /// Commits one group at Karimun on the first session of `date` with free regular
    /// numbers for all of it, as the daemon does on confirm. `None` when no session has
    /// room.
    pub async fn book(
        &self,
        date: NaiveDate,
        niks: &[String],
        now: DateTime<Utc>,
    ) -> Option<Vec<String>> {
        let today = now.with_timezone(&wib()).date_naive();
        let members: Vec<Member> = niks.iter().map(|n| member(n, now.date_naive())).collect();
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
        let signer = self.signer.clone();
        let booked = self
            .store
            .call(move |s| signer.commit(s, &request, today))
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

    /// (registration id, status) of every registration the kiosk holds.
    pub async fn statuses(&self) -> Vec<(String, String)> {
        self.store
            .run(|s| s.registration_statuses())
            .await
            .expect("statuses")
    }

    /// Registrations waiting for upload.
    pub async fn pending(&self) -> u32 {
        self.store.run(|s| s.stats()).await.expect("stats").pending
    }

    /// Free regular numbers the kiosk holds for Karimun on `date`.
    pub async fn free_regular(&self, date: NaiveDate) -> u32 {
        self.store
            .run(move |s| s.availability("KRM", date))
            .await
            .expect("availability")
            .slots
            .iter()
            .filter(|s| s.date == date)
            .map(|s| s.regular)
            .sum()
    }
}

/// The sync loop's settings: hold numbers for `hold_days`, top up below `low` to
/// `target` a slot; a 30 s interval, a heartbeat a minute, the guardrail at 7 days or
/// 1,000 registrations.
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

/// Devices that work and a kiosk in service, for the heartbeat.
pub fn healthy() -> watch::Receiver<KioskHealth> {
    let (tx, rx) = watch::channel(KioskHealth {
        printer: wire::PrinterState::Ok,
        card_reader: wire::ReaderState::Ok,
        out_of_service: false,
    });
    // The receiver keeps the last value when the sender is gone.
    drop(tx);
    rx
}

/// Every accepted registration's (office, date, session, kind, number) at the simulator.
pub fn accepted_numbers(sim: &CentralSim) -> Vec<(String, NaiveDate, String, QueueKind, u32)> {
    sim.registrations()
        .expect("the simulator's registrations")
        .into_iter()
        .filter(|r| r.status == wire::RegistrationStatus::Accepted)
        .map(|r| (r.office_id, r.date, r.session_id, r.kind, r.number))
        .collect()
}
