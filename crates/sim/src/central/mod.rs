//! A simulator of the central quota service, faithful enough that the kiosk cannot tell
//! it from the real one: the API of `/work/shared/specs/central-api.md` over HTTP on a
//! listener it is given ([`serve`]), its own SQLite file, its own Ed25519 key for
//! receipts, the booking rules the service enforces, and fault injection ([`Faults`]).
//! Used by the integration tests, by `apm-kiosk central-sim` during development and by
//! the headless simulation. The kiosk's own client is `sync::client`; the wire types are
//! `protocol::central`.
//!
//! Submodules: `db` (schema and every rule, as functions over a transaction and a
//! given "now"), `changes` (version 1.1's rules: availability, finding, cancelling,
//! rescheduling, arrivals), `routes_v11` (their HTTP handlers), `http` (routes, authentication, gzip, faults, the listener),
//! `replies` (the error body, JSON answers, request bodies, the bearer token),
//! `hostile` (bodies no honest service sends, made as they are sent),
//! `cli` (the `central-sim` subcommand).
//!
//! Choices where the spec is silent (the real service may differ; the kiosk must not
//! depend on them):
//! - Queue numbers count per office, day and kind across the day's sessions: with 16
//!   regular numbers a session, S1 holds R-001..R-016, S2 R-017..R-032, and so on, so a
//!   printed number is unique in the office's day.
//! - The booking window runs from today to today + `booking_window_days` in the
//!   office's zone; a session of today that has ended is outside it. Past-window is
//!   reported before closed.
//! - An ask for an office the kiosk was not enrolled for, or a session the office does
//!   not have, is denied with `unknown_office` / `unknown_session`; an ask for zero
//!   numbers is neither granted nor denied.
//! - A NIK is "unknown to Dukcapil" (`nik_invalid`) when its birth date digits are
//!   impossible or it is in [`SimSeed::unknown_niks`].
//! - When an earlier-created booking of a NIK arrives after a later one was accepted,
//!   the earlier stands and the later is turned to rejected (its number back to the
//!   pool); uploading the later one's id again then answers that rejection.
//! - A NIK is blocklisted until the later of its booking date and 30 days after the
//!   registration was created.
//! - A registration of another kiosk's id is rejected `invalid` and not stored.

mod changes;
mod cli;
mod db;
mod hostile;
mod http;
mod replies;
mod routes_v11;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ed25519_dalek::SigningKey;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rusqlite::Connection;
use uuid::Uuid;

use crate::domain::QueueKind;
use crate::protocol::central::{Key32, Office, RegistrationStatus, RejectionReason, Session};

pub use cli::{CentralSimArgs, run_central_sim};
pub use http::serve;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("unknown office {0:?}")]
    UnknownOffice(String),
    #[error("office {office:?} has no session {session:?}")]
    UnknownSession { office: String, session: String },
    #[error("enrollment code already used")]
    CodeUsed,
    #[error("simulator data is corrupt: {0}")]
    Corrupt(String),
    #[error("simulator state lock poisoned by a panic")]
    Poisoned,
}

/// One office as the simulator runs it: what `/v1/offices` shows, and its quota.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOffice {
    pub office: Office,
    /// Regular numbers per session.
    pub regular_per_session: u32,
    /// Priority numbers per session, a separate quota.
    pub priority_per_session: u32,
}

/// What a fresh simulator database starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSeed {
    pub offices: Vec<SimOffice>,
    /// NIKs the simulated Dukcapil does not know: their registrations get `nik_invalid`.
    pub unknown_niks: Vec<String>,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A session as `(id, (start hour, minute), (end hour, minute))`.
type SessionSpec<'a> = (&'a str, (u32, u32), (u32, u32));

fn sessions(list: &[SessionSpec<'_>]) -> Vec<Session> {
    list.iter()
        .map(|(id, (sh, sm), (eh, em))| Session {
            session_id: (*id).to_owned(),
            start: hm(*sh, *sm),
            end: hm(*eh, *em),
        })
        .collect()
}

impl Default for SimSeed {
    /// Karimun (the spec's example office), Batam (a busy one) and Makassar (another
    /// time zone).
    fn default() -> SimSeed {
        let holidays: Vec<NaiveDate> = [ymd(2026, 12, 25), ymd(2026, 12, 26), ymd(2027, 1, 1)]
            .into_iter()
            .flatten()
            .collect();
        let three = [
            ("S1", (8, 0), (10, 0)),
            ("S2", (10, 0), (12, 0)),
            ("S3", (13, 0), (15, 0)),
        ];
        SimSeed {
            offices: vec![
                SimOffice {
                    office: Office {
                        office_id: "KRM".into(),
                        name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
                        province_code: "21".into(),
                        time_zone: "Asia/Jakarta".into(),
                        working_days: vec![1, 2, 3, 4, 5],
                        sessions: sessions(&three),
                        booking_window_days: 30,
                        closed_dates: holidays.clone(),
                    },
                    regular_per_session: 16,
                    priority_per_session: 4,
                },
                SimOffice {
                    office: Office {
                        office_id: "BTM".into(),
                        name: "Kantor Imigrasi Kelas I Khusus TPI Batam".into(),
                        province_code: "21".into(),
                        time_zone: "Asia/Jakarta".into(),
                        working_days: vec![1, 2, 3, 4, 5],
                        sessions: sessions(&[
                            ("S1", (8, 0), (10, 0)),
                            ("S2", (10, 0), (12, 0)),
                            ("S3", (13, 0), (15, 0)),
                            ("S4", (15, 0), (16, 0)),
                        ]),
                        booking_window_days: 30,
                        closed_dates: holidays.clone(),
                    },
                    regular_per_session: 80,
                    priority_per_session: 20,
                },
                SimOffice {
                    office: Office {
                        office_id: "MKS".into(),
                        name: "Kantor Imigrasi Kelas I TPI Makassar".into(),
                        province_code: "73".into(),
                        time_zone: "Asia/Makassar".into(),
                        working_days: vec![1, 2, 3, 4, 5],
                        sessions: sessions(&three),
                        booking_window_days: 30,
                        closed_dates: holidays,
                    },
                    regular_per_session: 40,
                    priority_per_session: 10,
                },
            ],
            unknown_niks: Vec::new(),
        }
    }
}

/// Faults injected into the simulator's answers, each decided at random per request.
/// Rates are probabilities from 0 to 1; the default injects nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Answer `500`, or `503` with `Retry-After`, without doing anything.
    pub server_error_rate: f64,
    /// Answer `429` with `Retry-After`, without doing anything.
    pub throttle_rate: f64,
    /// The `Retry-After` of 429 and 503 answers.
    pub retry_after: Duration,
    /// Up to this much added latency, uniformly chosen per request.
    pub max_latency: Duration,
    /// Close the connection after reading the request, before answering. As with a
    /// real broken connection the request may or may not have taken effect: each drop
    /// decides at random, half of them after the work is done and committed.
    pub drop_rate: f64,
    /// Do the work, then send only the first half of the JSON body (with a matching
    /// `Content-Length`, as a broken proxy would). The request has taken effect.
    pub truncate_rate: f64,
    /// Do the work and commit it, then close the connection before answering: the
    /// answer is lost, the request has taken effect (the case the kiosk cannot tell
    /// from a request that never arrived).
    pub lose_answer_rate: f64,
    /// Answer every request (on `only_paths`) `200` with this body instead, without
    /// doing the work: what a broken proxy or a captive portal in front of the service
    /// sends. Not drawn at random.
    pub hostile_body: Option<HostileBody>,
    /// The next this many accepted results of `/v1/registrations` answers carry a
    /// `receipt` that is not base64 (the registration is stored and accepted all the
    /// same): a service with one quirk. Counted down as they are sent.
    pub malformed_receipts: u32,
    /// The request paths the faults apply to (`/v1/allocations/release`, say); empty:
    /// every path.
    pub only_paths: Vec<String>,
    /// Seed of the fault RNG, so a faulty run can be repeated.
    pub seed: u64,
    /// The service as it was before version 1.1: its paths answer `404 not_found`.
    pub without_v1_1: bool,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            server_error_rate: 0.0,
            throttle_rate: 0.0,
            retry_after: Duration::from_secs(1),
            max_latency: Duration::ZERO,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            lose_answer_rate: 0.0,
            hostile_body: None,
            malformed_receipts: 0,
            only_paths: Vec::new(),
            seed: 0,
            without_v1_1: false,
        }
    }
}

/// A body no honest service sends, made as it is sent and never held whole (a few
/// KiB at a time), so that the simulator itself stays small whatever it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileBody {
    /// `bytes` of spaces with a `Content-Length` that says so (the 50 MB answer).
    Sized { bytes: u64 },
    /// `bytes` of spaces sent chunked, with no length (the 2 GB answer).
    Chunked { bytes: u64 },
    /// gzip (`Content-Encoding: gzip`, chunked) that decodes to `decoded` bytes of
    /// spaces, about a thousandth of that on the wire (the 1 GiB bomb).
    GzipBomb { decoded: u64 },
}

/// A registration as the simulator holds it, for checks in tests and simulations.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRegistration {
    pub registration_id: Uuid,
    pub kiosk_id: String,
    pub status: RegistrationStatus,
    pub reason: Option<RejectionReason>,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub number: u32,
    /// Cancelled (`POST /v1/registrations/{id}/cancel`): its number went back to the
    /// pool, and may be another booking's now.
    pub cancelled: bool,
}

struct FaultState {
    faults: Faults,
    rng: StdRng,
}

impl Inner {
    /// Whether the faults still ask for malformed receipts.
    fn faults_want_malformed_receipts(&self) -> bool {
        let state = self
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.faults.malformed_receipts > 0
    }
}

struct Inner {
    /// One connection; handlers hold the lock only for their own short transaction.
    db: Mutex<Connection>,
    faults: Mutex<FaultState>,
    /// A pinned "now" for tests and simulations; `None` follows the system clock.
    clock: Mutex<Option<DateTime<Utc>>>,
    /// Signs receipts; kept in the database so receipts stay verifiable across runs.
    signing_key: SigningKey,
}

/// The simulated service's state. Cheap to clone: every clone is the same service.
#[derive(Clone)]
pub struct CentralSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CentralSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralSim").finish_non_exhaustive()
    }
}

impl CentralSim {
    /// Opens (or creates) the simulator's database at `db`; `seed` is applied on the
    /// first open only, later opens keep what the file holds.
    pub fn open(db: &Path, seed: &SimSeed) -> Result<CentralSim, SimError> {
        let mut conn = Connection::open(db)?;
        let signing_key = db::init(&mut conn, seed)?;
        conn.execute_batch(changes::SCHEMA)?;
        Ok(CentralSim {
            inner: Arc::new(Inner {
                db: Mutex::new(conn),
                faults: Mutex::new(FaultState {
                    faults: Faults::default(),
                    rng: StdRng::seed_from_u64(0),
                }),
                clock: Mutex::new(None),
                signing_key,
            }),
        })
    }

    /// Makes `code` a valid one-time enrollment code for `office_ids`. An unused code is
    /// replaced; a used one is refused with [`SimError::CodeUsed`].
    pub fn add_enroll_code(&self, code: &str, office_ids: &[&str]) -> Result<(), SimError> {
        let mut conn = self.db()?;
        db::add_enroll_code(&mut conn, code, office_ids)
    }

    /// Takes up to `count` free numbers of a session as if other kiosks had booked
    /// them, to make days full. Returns how many it took.
    pub fn prebook(
        &self,
        office: &str,
        date: NaiveDate,
        session: &str,
        kind: QueueKind,
        count: u32,
    ) -> Result<u32, SimError> {
        let mut conn = self.db()?;
        db::prebook(&mut conn, office, date, session, kind, count)
    }

    /// Replaces the injected faults and restarts their RNG from `faults.seed`.
    pub fn set_faults(&self, faults: Faults) {
        let rng = StdRng::seed_from_u64(faults.seed);
        let mut state = self
            .inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = FaultState { faults, rng };
    }

    /// Pins the service's clock (`None`: follow the system clock again).
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        let mut clock = self
            .inner
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *clock = now;
    }

    /// Every registration received, in the order received.
    pub fn registrations(&self) -> Result<Vec<SimRegistration>, SimError> {
        let conn = self.db()?;
        db::registrations(&conn)
    }

    /// The public key that verifies receipts (`protocol::central::verify_receipt`).
    pub fn service_public_key(&self) -> Key32 {
        Key32(self.inner.signing_key.verifying_key().to_bytes())
    }

    /// Whether the faults make the service one without version 1.1.
    fn without_v1_1(&self) -> bool {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .faults
            .without_v1_1
    }

    /// The hostile body to answer `path` with, if one is set for it.
    fn hostile_body(&self, path: &str) -> Option<HostileBody> {
        let state = self
            .inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let faults = &state.faults;
        let on_path = faults.only_paths.is_empty() || faults.only_paths.iter().any(|p| p == path);
        faults.hostile_body.filter(|_| on_path)
    }

    /// Whether the next accepted result is to carry a malformed receipt; counts it.
    fn take_malformed_receipt(&self) -> bool {
        let mut state = self
            .inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let left = &mut state.faults.malformed_receipts;
        let take = *left > 0;
        *left = left.saturating_sub(1);
        take
    }

    fn now(&self) -> DateTime<Utc> {
        let clock = self
            .inner
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clock.unwrap_or_else(Utc::now)
    }

    fn signing_key(&self) -> &SigningKey {
        &self.inner.signing_key
    }

    fn db(&self) -> Result<MutexGuard<'_, Connection>, SimError> {
        self.inner.db.lock().map_err(|_| SimError::Poisoned)
    }
}
