//! [`FakeCentral`]: the central quota service in memory, behind the kiosk's
//! [`CentralApi`] (and version 1.1's `BookingApi`, in [`bookings`]). It keeps what a real service keeps (the offices and their ETag,
//! numbers handed out per session against a quota, registrations by id, releases, the
//! blocklist) and answers from it; a test scripts what goes wrong, per endpoint
//! ([`Fault`]), and reads back what was asked, how often and when (on tokio's clock, so
//! paused time measures the sync loop's waits exactly).
//!
//! Simpler than the simulator on purpose: no booking rules beyond the quota (no
//! window, no closed days, no NIK checks unless a test rejects a NIK), no receipts, no
//! authentication. Tests of those rules use `apm_kiosk_sim::central` over HTTP.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use apm_kiosk::clock::SharedClock;
use apm_kiosk::domain::QueueKind;
use apm_kiosk::protocol::central::{
    self as wire, AllocationsRequest, AllocationsResponse, BlocklistResponse, EnrollRequest,
    EnrollResponse, HeartbeatRequest, HeartbeatResponse, Key32, KioskKeysResponse,
    RegistrationsRequest, RegistrationsResponse, ReleaseRequest, ReleaseResponse,
};
use apm_kiosk::sync::client::{ApiError, CentralApi, OfficesAnswer, UploadAnswer};
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::fixtures::{karimun_wire, wib};

mod bookings;

pub use bookings::{ChangeKind, FakeBooking, FakeChange};

/// One call of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Enroll,
    Offices,
    Allocate,
    Release,
    Upload,
    Heartbeat,
    Blocklist,
    KioskKeys,
    /// Version 1.1: `GET /v1/availability`.
    Availability,
    /// Version 1.1: `POST /v1/bookings/find`.
    Find,
    /// Version 1.1: `POST /v1/registrations/{id}/cancel`.
    Cancel,
    /// Version 1.1: `POST /v1/registrations/{id}/reschedule`.
    Reschedule,
    /// Version 1.1: `POST /v1/arrivals`.
    Arrivals,
}

impl Endpoint {
    /// Every endpoint: a network that is gone fails them all.
    pub const ALL: [Endpoint; 13] = [
        Endpoint::Enroll,
        Endpoint::Offices,
        Endpoint::Allocate,
        Endpoint::Release,
        Endpoint::Upload,
        Endpoint::Heartbeat,
        Endpoint::Blocklist,
        Endpoint::KioskKeys,
        Endpoint::Availability,
        Endpoint::Find,
        Endpoint::Cancel,
        Endpoint::Reschedule,
        Endpoint::Arrivals,
    ];

    /// The endpoints of version 1.1, which a service may lack.
    pub const V11: [Endpoint; 5] = [
        Endpoint::Availability,
        Endpoint::Find,
        Endpoint::Cancel,
        Endpoint::Reschedule,
        Endpoint::Arrivals,
    ];
}

/// What goes wrong with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No connection (time-out, refused): nothing happens at the service.
    Unreachable,
    /// `503` (with `Retry-After` when given): nothing happens at the service.
    Unavailable { retry_after: Option<Duration> },
    /// A `4xx` with the spec's error body: nothing happens at the service.
    Refused { status: u16, code: String },
    /// A `200` whose body does not parse: nothing happens at the service.
    Malformed,
    /// The service does the work and keeps it, then the connection breaks before its
    /// answer: the kiosk cannot tell this from [`Fault::Unreachable`].
    LoseAnswer,
}

impl Fault {
    /// A refusal with status `status` and error code `code`.
    pub fn refused(status: u16, code: &str) -> Fault {
        Fault::Refused {
            status,
            code: code.to_owned(),
        }
    }

    /// The error the kiosk's client gives for this fault.
    fn error(&self) -> ApiError {
        match self {
            Fault::Unreachable | Fault::LoseAnswer => ApiError::Temporary {
                reason: "cannot connect: fake central service unreachable".into(),
                retry_after: None,
                answered: false,
            },
            Fault::Unavailable { retry_after } => ApiError::Temporary {
                reason: "HTTP 503 (unavailable)".into(),
                retry_after: *retry_after,
                answered: true,
            },
            Fault::Refused { status, code } => ApiError::Permanent {
                status: *status,
                code: code.clone(),
                message: "refused by the fake central service".into(),
            },
            Fault::Malformed => ApiError::Malformed {
                status: 200,
                detail: "body does not parse".into(),
            },
        }
    }
}

/// Quota of one office, per session.
#[derive(Debug, Clone, Copy)]
struct Quota {
    regular: u32,
    priority: u32,
}

type Slot = (String, NaiveDate, String, QueueKind);

#[derive(Default)]
struct Script {
    /// Faults for the next calls, first first.
    next: VecDeque<Fault>,
    /// The fault of every call once `next` is empty.
    always: Option<Fault>,
}

struct State {
    offices: Vec<wire::Office>,
    offices_version: u64,
    quotas: HashMap<String, Quota>,
    /// Numbers handed out (or taken by another kiosk) per slot.
    given: HashMap<Slot, u32>,
    allocations: u64,
    /// What each allocation handed out: its slot and numbers.
    handed: HashMap<String, (Slot, Vec<u32>)>,
    /// Numbers given back, by allocation: counted once however often they are sent.
    released: HashSet<(String, u32)>,
    release_requests: Vec<ReleaseRequest>,
    registrations: BTreeMap<Uuid, (wire::Registration, wire::RegistrationResult)>,
    received_order: Vec<Uuid>,
    reject_niks: HashMap<String, wire::RejectionReason>,
    blocklist: Vec<wire::BlocklistEntry>,
    blocklist_version: u64,
    heartbeats: Vec<HeartbeatRequest>,
    enroll_codes: Vec<String>,
    clock: Option<DateTime<Utc>>,
    /// The clock the service reads when none is pinned (else the system's).
    follows: Option<SharedClock>,
    latency: Duration,
    scripts: HashMap<Endpoint, Script>,
    calls: Vec<(Endpoint, tokio::time::Instant)>,
    v11: bookings::V11,
}

/// The central service in memory. Cheap to clone: every clone is the same service, so
/// a test keeps one and hands another to the code under test.
#[derive(Clone)]
pub struct FakeCentral {
    state: Arc<Mutex<State>>,
    /// Counts calls, so that a test can wait for the n-th without sleeping.
    called: Arc<watch::Sender<usize>>,
}

impl std::fmt::Debug for FakeCentral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCentral").finish_non_exhaustive()
    }
}

impl Default for FakeCentral {
    fn default() -> FakeCentral {
        FakeCentral::new()
    }
}

impl FakeCentral {
    /// Karimun with 16 regular and 4 priority numbers a session, as the simulator's
    /// seed has it; nothing goes wrong until scripted.
    pub fn new() -> FakeCentral {
        FakeCentral::with_offices(vec![karimun_wire()], 16, 4)
    }

    /// `offices`, each with `regular` and `priority` numbers a session.
    pub fn with_offices(offices: Vec<wire::Office>, regular: u32, priority: u32) -> FakeCentral {
        let quotas = offices
            .iter()
            .map(|o| (o.office_id.clone(), Quota { regular, priority }))
            .collect();
        let state = State {
            offices,
            offices_version: 1,
            quotas,
            given: HashMap::new(),
            allocations: 0,
            handed: HashMap::new(),
            released: HashSet::new(),
            release_requests: Vec::new(),
            registrations: BTreeMap::new(),
            received_order: Vec::new(),
            reject_niks: HashMap::new(),
            blocklist: Vec::new(),
            blocklist_version: 0,
            heartbeats: Vec::new(),
            enroll_codes: Vec::new(),
            clock: None,
            follows: None,
            latency: Duration::ZERO,
            scripts: HashMap::new(),
            calls: Vec::new(),
            v11: bookings::V11::default(),
        };
        FakeCentral {
            state: Arc::new(Mutex::new(state)),
            called: Arc::new(watch::Sender::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; what it left
        // is still the best account of what happened.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // --- scripting ---------------------------------------------------------------

    /// The next call to `endpoint` fails with `fault` (after any already scripted).
    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault) {
        self.fail_times(endpoint, fault, 1);
    }

    /// The next `times` calls to `endpoint` fail with `fault`.
    pub fn fail_times(&self, endpoint: Endpoint, fault: Fault, times: usize) {
        let mut s = self.lock();
        let script = s.scripts.entry(endpoint).or_default();
        script.next.extend(std::iter::repeat_n(fault, times));
    }

    /// Every call to `endpoint` fails with `fault` (once the scripted ones are used),
    /// until [`FakeCentral::heal`].
    pub fn fail_always(&self, endpoint: Endpoint, fault: Fault) {
        self.lock().scripts.entry(endpoint).or_default().always = Some(fault);
    }

    /// Every endpoint answers again; scripted faults are forgotten.
    pub fn heal(&self) {
        self.lock().scripts.clear();
    }

    /// Each call waits this long (on tokio's clock) before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Reads `clock` for heartbeats when none is pinned: the kiosk's own, so that a
    /// daemon on paused time sees no skew.
    pub fn follow_clock(&self, clock: SharedClock) {
        self.lock().follows = Some(clock);
    }

    /// Pins the service's clock for heartbeats (`None`: the system's clock).
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.lock().clock = now;
    }

    /// Replaces the offices; the ETag changes.
    pub fn set_offices(&self, offices: Vec<wire::Office>) {
        let mut s = self.lock();
        s.offices = offices;
        s.offices_version += 1;
    }

    /// Registrations of `nik` are rejected with `reason`.
    pub fn reject_nik(&self, nik: &str, reason: wire::RejectionReason) {
        self.lock().reject_niks.insert(nik.to_owned(), reason);
    }

    /// Takes `count` numbers of a slot as other kiosks would.
    pub fn take(&self, office: &str, date: NaiveDate, session: &str, kind: QueueKind, count: u32) {
        let slot = (office.to_owned(), date, session.to_owned(), kind);
        *self.lock().given.entry(slot).or_default() += count;
    }

    /// Adds a blocklist entry; the list's version goes up.
    pub fn block(&self, h: &str, until: NaiveDate) {
        let mut s = self.lock();
        s.blocklist.push(wire::BlocklistEntry {
            h: h.to_owned(),
            until,
        });
        s.blocklist_version += 1;
    }

    // --- what happened ------------------------------------------------------------

    /// How many calls `endpoint` had, failed ones included.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|(e, _)| *e == endpoint)
            .count()
    }

    /// When each call to `endpoint` came, on tokio's clock.
    pub fn call_times(&self, endpoint: Endpoint) -> Vec<tokio::time::Instant> {
        self.lock()
            .calls
            .iter()
            .filter(|(e, _)| *e == endpoint)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Every call, in order.
    pub fn call_log(&self) -> Vec<Endpoint> {
        self.lock().calls.iter().map(|(e, _)| *e).collect()
    }

    /// Waits until `endpoint` has had `n` calls.
    pub async fn wait_calls(&self, endpoint: Endpoint, n: usize) {
        let mut rx = self.called.subscribe();
        let _ = rx.wait_for(|_| self.calls(endpoint) >= n).await;
    }

    /// Registrations received and kept, in the order first received.
    pub fn registrations(&self) -> Vec<wire::Registration> {
        let s = self.lock();
        s.received_order
            .iter()
            .filter_map(|id| s.registrations.get(id))
            .filter(|(_, result)| result.status == wire::RegistrationStatus::Accepted)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Every release request that reached the service (lost answers included).
    pub fn release_requests(&self) -> Vec<ReleaseRequest> {
        self.lock().release_requests.clone()
    }

    /// How many numbers the service has back.
    pub fn numbers_released(&self) -> usize {
        self.lock().released.len()
    }

    /// The one-time codes kiosks enrolled with, in order.
    pub fn enroll_codes(&self) -> Vec<String> {
        self.lock().enroll_codes.clone()
    }

    /// Every heartbeat received.
    pub fn heartbeats(&self) -> Vec<HeartbeatRequest> {
        self.lock().heartbeats.clone()
    }

    // --- answering ----------------------------------------------------------------

    /// Counts the call, waits out the latency, and says which fault, if any, applies.
    async fn begin(&self, endpoint: Endpoint) -> Option<Fault> {
        let (fault, latency) = {
            let mut s = self.lock();
            s.calls.push((endpoint, tokio::time::Instant::now()));
            let script = s.scripts.entry(endpoint).or_default();
            let fault = script.next.pop_front().or_else(|| script.always.clone());
            (fault, s.latency)
        };
        self.called.send_modify(|n| *n += 1);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        fault
    }

    /// Runs `work` unless `fault` says the service never saw the call, and gives the
    /// kiosk what the fault leaves of the answer.
    fn finish<T>(
        &self,
        fault: Option<Fault>,
        work: impl FnOnce(&mut State) -> T,
    ) -> Result<T, ApiError> {
        match fault {
            None => Ok(work(&mut self.lock())),
            Some(Fault::LoseAnswer) => {
                work(&mut self.lock());
                Err(Fault::LoseAnswer.error())
            }
            Some(other) => Err(other.error()),
        }
    }
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        match (&self.clock, &self.follows) {
            (Some(pinned), _) => *pinned,
            (None, Some(clock)) => clock.now(),
            (None, None) => Utc::now(),
        }
    }

    fn allocate(&mut self, req: &AllocationsRequest) -> AllocationsResponse {
        let mut answer = AllocationsResponse {
            allocations: Vec::new(),
            denied: Vec::new(),
        };
        for ask in req.requests.iter().filter(|a| a.count > 0) {
            let quota = self.quotas.get(&ask.office_id).map(|q| match ask.kind {
                QueueKind::Regular => q.regular,
                QueueKind::Priority => q.priority,
            });
            let slot = (
                ask.office_id.clone(),
                ask.date,
                ask.session_id.clone(),
                ask.kind,
            );
            let given = self.given.get(&slot).copied().unwrap_or(0);
            let left = quota.unwrap_or(0).saturating_sub(given);
            if left == 0 {
                answer.denied.push(wire::Denial {
                    office_id: ask.office_id.clone(),
                    date: ask.date,
                    session_id: ask.session_id.clone(),
                    kind: ask.kind,
                    reason: wire::DenialReason::QuotaExhausted,
                });
                continue;
            }
            let count = ask.count.min(left);
            self.given.insert(slot.clone(), given + count);
            self.allocations += 1;
            let allocation = wire::Allocation {
                allocation_id: format!("fake-alloc-{}", self.allocations),
                office_id: ask.office_id.clone(),
                date: ask.date,
                session_id: ask.session_id.clone(),
                kind: ask.kind,
                numbers: (given + 1..=given + count).collect(),
            };
            let handed = (slot, allocation.numbers.clone());
            self.handed.insert(allocation.allocation_id.clone(), handed);
            answer.allocations.push(allocation);
        }
        answer
    }

    fn release(&mut self, req: &ReleaseRequest) -> ReleaseResponse {
        self.release_requests.push(req.clone());
        let mut released = 0;
        for r in &req.releases {
            for n in &r.numbers {
                if self.released.insert((r.allocation_id.clone(), *n)) {
                    released += 1;
                }
            }
        }
        ReleaseResponse { released }
    }

    fn upload(&mut self, req: &RegistrationsRequest) -> RegistrationsResponse {
        let results = req
            .registrations
            .iter()
            .map(|reg| {
                let id = reg.registration_id;
                if let Some((_, result)) = self.registrations.get(&id) {
                    return result.clone();
                }
                let result = match self.reject_niks.get(&reg.applicant.nik) {
                    Some(reason) => wire::RegistrationResult {
                        registration_id: id,
                        status: wire::RegistrationStatus::Rejected,
                        reason: Some(reason.clone()),
                        receipt: None,
                    },
                    None => wire::RegistrationResult {
                        registration_id: id,
                        status: wire::RegistrationStatus::Accepted,
                        reason: None,
                        receipt: None,
                    },
                };
                self.registrations.insert(id, (reg.clone(), result.clone()));
                self.received_order.push(id);
                result
            })
            .collect();
        RegistrationsResponse { results }
    }

    fn blocklist(&self, since: u64) -> BlocklistResponse {
        let full = since == 0 || since > self.blocklist_version;
        BlocklistResponse {
            version: self.blocklist_version,
            full,
            upsert: if full || since < self.blocklist_version {
                self.blocklist.clone()
            } else {
                Vec::new()
            },
            remove: Vec::new(),
        }
    }
}

impl CentralApi for FakeCentral {
    async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ApiError> {
        self.lock().enroll_codes.push(req.code.clone());
        let fault = self.begin(Endpoint::Enroll).await;
        self.finish(fault, |s| EnrollResponse {
            kiosk_id: "FAKE-KIOSK-01".into(),
            token: "fake-token".into(),
            office_ids: s.offices.iter().map(|o| o.office_id.clone()).collect(),
            nik_hash_key: Key32([7; 32]),
        })
    }

    async fn offices(&self, etag: Option<&str>) -> Result<OfficesAnswer, ApiError> {
        let fault = self.begin(Endpoint::Offices).await;
        self.finish(fault, |s| {
            let current = format!("\"offices-v{}\"", s.offices_version);
            if etag == Some(current.as_str()) {
                OfficesAnswer::NotModified
            } else {
                OfficesAnswer::Fresh {
                    etag: Some(current),
                    offices: s.offices.clone(),
                }
            }
        })
    }

    async fn allocate(&self, req: &AllocationsRequest) -> Result<AllocationsResponse, ApiError> {
        let fault = self.begin(Endpoint::Allocate).await;
        self.finish(fault, |s| s.allocate(req))
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<ReleaseResponse, ApiError> {
        let fault = self.begin(Endpoint::Release).await;
        self.finish(fault, |s| s.release(req))
    }

    async fn upload(&self, req: &RegistrationsRequest) -> Result<UploadAnswer, ApiError> {
        let fault = self.begin(Endpoint::Upload).await;
        self.finish(fault, |s| s.upload(req))
            .map(UploadAnswer::from)
    }

    async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        let fault = self.begin(Endpoint::Heartbeat).await;
        self.finish(fault, |s| {
            s.heartbeats.push(req.clone());
            HeartbeatResponse {
                server_time: s.now().with_timezone(&wib()),
            }
        })
    }

    async fn blocklist(&self, since: u64) -> Result<BlocklistResponse, ApiError> {
        let fault = self.begin(Endpoint::Blocklist).await;
        self.finish(fault, |s| s.blocklist(since))
    }

    async fn kiosk_keys(&self) -> Result<KioskKeysResponse, ApiError> {
        let fault = self.begin(Endpoint::KioskKeys).await;
        self.finish(fault, |_| KioskKeysResponse { keys: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::day;

    fn ask(count: u32) -> AllocationsRequest {
        AllocationsRequest {
            requests: vec![wire::AllocationAsk {
                office_id: "KRM".into(),
                date: day("2026-12-02"),
                session_id: "S1".into(),
                kind: QueueKind::Regular,
                count,
            }],
        }
    }

    #[tokio::test]
    async fn numbers_come_from_the_quota_and_then_are_denied() {
        let central = FakeCentral::new();
        let first = central.allocate(&ask(10)).await.expect("granted");
        assert_eq!(first.allocations[0].numbers, (1..=10).collect::<Vec<_>>());
        let second = central.allocate(&ask(10)).await.expect("granted");
        assert_eq!(second.allocations[0].numbers, (11..=16).collect::<Vec<_>>());
        let third = central.allocate(&ask(1)).await.expect("answered");
        assert!(third.allocations.is_empty());
        assert_eq!(third.denied[0].reason, wire::DenialReason::QuotaExhausted);
        assert_eq!(central.calls(Endpoint::Allocate), 3);
    }

    #[tokio::test]
    async fn scripted_faults_come_in_order_then_answers() {
        let central = FakeCentral::new();
        central.fail_next(Endpoint::Offices, Fault::Unreachable);
        central.fail_next(Endpoint::Offices, Fault::refused(400, "invalid"));
        let e = central.offices(None).await.expect_err("unreachable");
        assert!(e.is_unreachable());
        let e = central.offices(None).await.expect_err("refused");
        assert_eq!(e.code(), Some("invalid"));
        let OfficesAnswer::Fresh { etag, offices } = central.offices(None).await.expect("ok")
        else {
            panic!("a fresh list first");
        };
        assert_eq!(offices[0].office_id, "KRM");
        let again = central.offices(etag.as_deref()).await.expect("ok");
        assert_eq!(again, OfficesAnswer::NotModified);
        assert_eq!(central.calls(Endpoint::Offices), 4);
        assert_eq!(central.calls(Endpoint::Allocate), 0);
    }

    #[tokio::test]
    async fn a_lost_answer_has_taken_effect() {
        let central = FakeCentral::new();
        central.fail_next(Endpoint::Release, Fault::LoseAnswer);
        let req = ReleaseRequest {
            releases: vec![wire::Release {
                allocation_id: "a".into(),
                numbers: vec![1, 2],
            }],
        };
        let e = central.release(&req).await.expect_err("lost");
        assert!(e.is_temporary() && e.is_unreachable());
        assert_eq!(central.numbers_released(), 2);
        let again = central.release(&req).await.expect("answered");
        assert_eq!(again.released, 0, "freed once");
        assert_eq!(central.release_requests().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_passes_on_tokios_clock() {
        let central = FakeCentral::new();
        central.set_latency(Duration::from_secs(7));
        let started = tokio::time::Instant::now();
        central.kiosk_keys().await.expect("answered");
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }
}
