//! Keeping the kiosk and the central quota service in step: the [`client`] speaks the
//! API, the [`planner`] decides what numbers to hold and give back, and [`Syncer`]
//! performs one round after another: uploads of waiting registrations in batches of at
//! most 500 (first: they matter most; each marked sent before its request goes), the
//! queued cancels and reschedules ([`changes`], after the uploads: a change never
//! reaches the service before its registration), offices (with their ETag), the NIK
//! blocklist delta, queue number top-ups, releases of surplus numbers for today and
//! tomorrow, and a heartbeat once a minute. A round that fails part-way is simply run
//! again later: every step is idempotent (uploads by registration id, changes by change
//! id, allocations only ever add numbers, releases count only what they free, blocklist
//! deltas are versioned), and nothing is deleted before the service's answer is stored.
//!
//! A step that fails with an answer from the service (5xx, 429, a refusal, garbage) does
//! not stop the others: on a network that loses one request in three, the upload must
//! not wait for the offices to come through. A step that cannot reach the service at all
//! (time-out, refused or broken connection) ends the round: the rest would only wait out
//! their own time-outs. The round then counts as failed and the loop backs off.
//!
//! Temporary failures back off exponentially with jitter up to [`MAX_BACKOFF`],
//! honouring `Retry-After`; permanent ones are reported in the [`SyncStatus`] for the
//! maintenance side and retried at the normal interval.
//!
//! Choices where the spec and the issue are silent:
//! - A queued registration that cannot be decoded (a damaged row) is passed over, not
//!   sent, and listed by registration id in [`SyncStatus::undecodable`]; it stays queued,
//!   with the reason in its `last_error`, for a technician.
//! - An upload's results are stored one by one: a result the kiosk cannot read (a
//!   malformed `receipt`, say) leaves only its own registration queued, with what is
//!   wrong in its `last_error`, logged with its id and listed in
//!   [`SyncStatus::unreadable_results`] (an `unreadable_results` alert); the batch's
//!   other results are stored. That registration is not sent again in the same round
//!   (a quirk of the service would loop), but in the next one, alone unless new
//!   bookings have been queued meanwhile; the round is not failed for it.
//! - Clock skew is measured against the middle of the heartbeat's round trip; over
//!   [`CLOCK_SKEW_ALERT`] it is a maintenance alert (a warning in the log, and
//!   `clock_alert` in the status). The kiosk does not set its clock: that is the
//!   system's NTP's job, and a kiosk that trusted any HTTP answer's time could be moved.
//! - The guardrail is evaluated after every round, online or not, and published as
//!   [`SyncStatus::guardrail`]; the daemon turns a change into the flow's
//!   `ServiceChanged`.

pub mod bookings;
pub mod changes;
pub mod client;
pub mod enroll;
pub mod pinned_ca;
pub mod planner;
pub mod shared;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

use crate::clock::{SharedClock, SystemClock};
use crate::domain::calendar::{Office, Session, Zone, earliest_today};
use crate::protocol::central as wire;
use crate::store::writer::StoreHandle;
use crate::store::{HeldAllocation, PendingUpload, StoreError, UploadOutcome};
use bookings::BookingApi;
use client::{ApiError, CentralApi, OfficesAnswer, UploadResult};
use planner::{DENIAL_HOLD, Guardrail, GuardrailLimits, PlannerConfig, Slot};

/// The longest wait between attempts while the service fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The first wait after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_secs(2);
/// How often the kiosk tells the service it is alive, when online (the minute).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(60);
/// Clock skew beyond this raises a maintenance alert (the spec's 2 minutes).
pub const CLOCK_SKEW_ALERT: TimeDelta = TimeDelta::minutes(2);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the central service answered {got} results for {sent} registrations")]
    ResultMismatch { sent: usize, got: usize },
    /// Neither queued nor answered: the store has no such change.
    #[error("no change {0} is queued or answered")]
    NoSuchChange(uuid::Uuid),
    /// Its registration has not reached the service yet: it goes after the upload.
    #[error("change {0} waits for its registration's upload")]
    ChangeWaitsForUpload(uuid::Uuid),
}

impl SyncError {
    /// What kind of failure this is, by its variant.
    pub fn failure(&self) -> SyncFailure {
        match self {
            SyncError::Api(
                ApiError::Temporary { .. } | ApiError::Malformed { .. } | ApiError::TooLarge { .. },
            )
            | SyncError::ResultMismatch { .. }
            | SyncError::ChangeWaitsForUpload(_) => SyncFailure::Temporary,
            SyncError::Api(ApiError::Permanent { .. }) => SyncFailure::Refused,
            SyncError::Api(ApiError::Setup { .. } | ApiError::PinnedCa { .. }) => {
                SyncFailure::Misconfigured
            }
            SyncError::Store(_) | SyncError::NoSuchChange(_) => SyncFailure::Store,
        }
    }

    fn is_temporary(&self) -> bool {
        self.failure() == SyncFailure::Temporary
    }
}

/// The kind of failure that ended the last round, kept beside its message
/// ([`SyncStatus::last_error`]): what the maintenance alerts go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFailure {
    /// No answer, a 5xx or 429, or an answer that was not the spec's: the loop backs off
    /// and tries again.
    Temporary,
    /// The central service refused the request (a 4xx with the spec's error code): as it
    /// is, it will be refused again, and a technician must look (`sync_refused`).
    Refused,
    /// The kiosk's side is wrong: its client's configuration (URL, pinned CA), or it is
    /// not enrolled.
    Misconfigured,
    /// The kiosk's own database failed.
    Store,
}

/// What the maintenance side and the heartbeat see of the sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    /// The last round reached the service.
    pub online: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The kind of `last_error`, for the alerts; the JSON carries only the message.
    #[serde(skip)]
    pub last_failure: Option<SyncFailure>,
    pub consecutive_failures: u32,
    pub uploaded: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub numbers_received: u64,
    /// Numbers given back to the service.
    pub numbers_released: u64,
    /// Cancels and reschedules the service answered (done or refused).
    pub changes_answered: u64,
    pub rounds: u64,
    /// Queued registrations that cannot be decoded and so are not sent: a technician
    /// must look at them (ids only, never personal data).
    pub undecodable: Vec<String>,
    /// Uploaded registrations whose result from the service could not be read, with
    /// what was wrong (ids only): kept queued and sent again in the next round.
    pub unreadable_results: Vec<UnreadableResult>,
    /// The blocklist version applied, and how many entries the kiosk holds.
    pub blocklist_version: u64,
    pub blocklist_entries: usize,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The service's clock minus the kiosk's, at the last heartbeat, in seconds.
    pub clock_skew_s: Option<i64>,
    /// The skew is over [`CLOCK_SKEW_ALERT`]: tickets and the 30-day rule depend on
    /// the date, a technician must fix the clock.
    pub clock_alert: bool,
    /// Why the guardrail stops new bookings, if it does.
    pub guardrail: Option<Guardrail>,
    /// A round is under way (for the maintenance side's progress).
    pub round_running: bool,
}

/// A registration whose upload result could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableResult {
    pub registration_id: String,
    pub problem: String,
}

/// The kiosk's devices and service state as the heartbeat reports them; the daemon keeps
/// it current through a watch channel.
#[derive(Debug, Clone, PartialEq)]
pub struct KioskHealth {
    pub printer: wire::PrinterState,
    pub card_reader: wire::ReaderState,
    pub out_of_service: bool,
}

impl Default for KioskHealth {
    /// Before the devices have been heard from: not known to work.
    fn default() -> KioskHealth {
        KioskHealth {
            printer: wire::PrinterState::Offline,
            card_reader: wire::ReaderState::Disconnected,
            out_of_service: true,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub offices_changed: bool,
    pub uploaded: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub numbers_received: usize,
    pub numbers_released: usize,
    /// Cancels and reschedules the service answered.
    pub changes_answered: usize,
    /// Entries changed by the blocklist delta (upserted + removed + expired).
    pub blocklist_changes: usize,
    pub heartbeat_sent: bool,
}

/// Turns the wire's office into the domain's, refusing what the kiosk cannot use.
pub fn office_from_wire(o: &wire::Office) -> Result<Office, String> {
    let zone = Zone::from_tz_name(&o.time_zone).ok_or_else(|| {
        format!(
            "office {}: unknown time zone {:?}",
            o.office_id, o.time_zone
        )
    })?;
    let office = Office {
        id: o.office_id.clone(),
        name: o.name.clone(),
        province_code: o.province_code.clone(),
        zone,
        working_days: o.working_days.clone(),
        sessions: o
            .sessions
            .iter()
            .map(|s| Session {
                id: s.session_id.clone(),
                start: s.start,
                end: s.end,
            })
            .collect(),
        booking_window_days: o.booking_window_days,
        closed_dates: o.closed_dates.iter().copied().collect::<BTreeSet<_>>(),
    };
    office
        .validate()
        .map_err(|e| format!("office {}: {e}", o.office_id))?;
    Ok(office)
}

/// The upload form of a stored registration. Times are sent in the office's offset.
pub fn registration_to_wire(
    p: &PendingUpload,
    offset: FixedOffset,
) -> Result<wire::Registration, String> {
    let uuid = |s: &str| uuid::Uuid::parse_str(s).map_err(|e| format!("stored id: {e}"));
    let a = &p.applicant;
    Ok(wire::Registration {
        registration_id: uuid(&p.registration_id)?,
        allocation_id: p.allocation_id.clone(),
        queue_number: p.queue_number,
        office_id: p.office_id.clone(),
        date: p.date,
        session_id: p.session_id.clone(),
        kind: p.kind,
        group_id: uuid(&p.group_id)?,
        application_type: p.application_type,
        passport_type: p.passport_type,
        priority_reason: p.priority_reason,
        applicant: wire::Applicant {
            nik: a.nik.as_str().to_owned(),
            kk_number: a.kk_number.as_ref().map(|k| k.as_str().to_owned()),
            name: a.name.clone(),
            birth_place: a.birth_place.clone(),
            birth_date: a.birth_date,
            sex: a.sex,
            address: a.address.clone(),
            phone: None,
        },
        created_at: p.created_at.with_timezone(&offset),
        ticket: p.ticket.clone(),
    })
}

/// Settings of the loop.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    pub interval: Duration,
    pub planner: PlannerConfig,
    pub guardrail: GuardrailLimits,
    /// [`HEARTBEAT_EVERY`] on a kiosk; shorter in tests.
    pub heartbeat_every: Duration,
}

/// The sync loop's state between rounds.
pub struct Syncer<C: CentralApi + BookingApi> {
    api: C,
    store: StoreHandle,
    cfg: SyncConfig,
    /// Slots the service denied, and when: not asked again before [`DENIAL_HOLD`].
    denied: HashMap<Slot, DateTime<Utc>>,
    /// Where a changed office list goes (the flow, through the daemon).
    catalog: mpsc::Sender<Vec<Office>>,
    status: watch::Sender<SyncStatus>,
    /// Devices and service state for the heartbeat.
    health: watch::Receiver<KioskHealth>,
    /// Damaged queue rows (id -> what is wrong), found afresh every round so that a
    /// repaired row goes out again.
    undecodable: BTreeMap<String, String>,
    /// Registrations whose result could not be read this round (id -> what was wrong):
    /// not sent again before the next round.
    unreadable: BTreeMap<String, String>,
    /// When the last heartbeat went out (monotonic: a clock being fixed must not stop
    /// heartbeats).
    last_heartbeat: Option<Instant>,
    /// For the heartbeat's `uptime_s`.
    started: Instant,
    /// The dates the plan and the guardrail reason about, and the heartbeat's times.
    clock: SharedClock,
}

/// Collects the outcome of the steps of one round.
struct Steps {
    first_error: Option<SyncError>,
}

impl Steps {
    /// Keeps the first error; says whether the round may go on.
    fn note<T>(&mut self, step: &str, result: Result<T, SyncError>) -> (Option<T>, bool) {
        match result {
            Ok(v) => (Some(v), true),
            Err(e) => {
                let go_on = !matches!(&e, SyncError::Api(api) if api.is_unreachable())
                    && !matches!(e, SyncError::Store(_));
                tracing::debug!(step, error = %e, "sync step failed");
                if self.first_error.is_none() {
                    self.first_error = Some(e);
                }
                (None, go_on)
            }
        }
    }
}

impl<C: CentralApi + BookingApi> Syncer<C> {
    pub fn new(
        api: C,
        store: StoreHandle,
        cfg: SyncConfig,
        catalog: mpsc::Sender<Vec<Office>>,
        health: watch::Receiver<KioskHealth>,
    ) -> (Syncer<C>, watch::Receiver<SyncStatus>) {
        let (status, rx) = watch::channel(SyncStatus::default());
        (
            Syncer {
                api,
                store,
                cfg,
                denied: HashMap::new(),
                catalog,
                status,
                health,
                undecodable: BTreeMap::new(),
                unreadable: BTreeMap::new(),
                last_heartbeat: None,
                started: Instant::now(),
                clock: Arc::new(SystemClock),
            },
            rx,
        )
    }

    /// The same loop reading `clock` instead of the system's (a test's clock that moves
    /// with tokio's paused time).
    pub fn with_clock(mut self, clock: SharedClock) -> Syncer<C> {
        self.clock = clock;
        self
    }

    /// Runs rounds until `shutdown`; a `nudge` starts the next round at once (after a
    /// booking, or when a technician asks).
    pub async fn run(
        mut self,
        nudge: Arc<Notify>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            self.status.send_modify(|s| s.round_running = true);
            let result = self.round(self.clock.now()).await;
            let wait = self.account(result);
            self.check_guardrail(self.clock.now()).await;
            // A heartbeat is due every minute even when the interval is longer.
            let wait = if self.status.borrow().online {
                wait.min(self.cfg.heartbeat_every)
            } else {
                wait
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
                _ = nudge.notified() => {}
            }
        }
    }

    /// Records a round's outcome in the status and says how long to wait.
    fn account(&mut self, result: Result<RoundReport, SyncError>) -> Duration {
        let mut wait = self.cfg.interval;
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.round_running = false;
            s.rounds += 1;
            match &result {
                Ok(r) => {
                    s.online = true;
                    s.last_success = Some(now);
                    s.last_error = None;
                    s.last_failure = None;
                    s.consecutive_failures = 0;
                    s.uploaded += r.uploaded as u64;
                    s.accepted += r.accepted as u64;
                    s.rejected += r.rejected as u64;
                    s.numbers_received += r.numbers_received as u64;
                    s.numbers_released += r.numbers_released as u64;
                    s.changes_answered += r.changes_answered as u64;
                }
                Err(e) => {
                    s.online = false;
                    s.last_error = Some(e.to_string());
                    s.last_failure = Some(e.failure());
                    s.consecutive_failures += 1;
                    if e.is_temporary() {
                        wait = backoff(s.consecutive_failures, self.cfg.interval);
                        if let SyncError::Api(api) = e
                            && let Some(after) = api.retry_after()
                        {
                            wait = wait.max(after).min(MAX_BACKOFF);
                        }
                    }
                }
            }
        });
        match &result {
            Ok(r)
                if r.uploaded > 0
                    || r.numbers_received > 0
                    || r.numbers_released > 0
                    || r.changes_answered > 0 =>
            {
                tracing::info!(
                    uploaded = r.uploaded,
                    accepted = r.accepted,
                    rejected = r.rejected,
                    changes = r.changes_answered,
                    numbers = r.numbers_received,
                    released = r.numbers_released,
                    "sync round done"
                )
            }
            Ok(_) => tracing::debug!("sync round: nothing to do"),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = wait.as_secs_f32(), "sync round failed")
            }
        }
        wait
    }

    /// Evaluates the guardrail on the queue as it is now and publishes a change.
    pub async fn check_guardrail(&mut self, now: DateTime<Utc>) -> Option<Guardrail> {
        let queue = match self.store.run(|s| s.queue_state()).await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "upload queue unreadable for the guardrail");
                return self.status.borrow().guardrail;
            }
        };
        let reason = planner::guardrail(&queue, now, &self.cfg.guardrail);
        let changed = self.status.send_if_modified(|s| {
            if s.guardrail == reason {
                return false;
            }
            s.guardrail = reason;
            true
        });
        if changed {
            match reason {
                Some(reason) => tracing::warn!(
                    reason = reason.code(),
                    unsynced = queue.unsynced,
                    "guardrail: the kiosk takes no new bookings until the queue reaches the central service"
                ),
                None => tracing::info!("guardrail lifted: the kiosk takes bookings again"),
            }
        }
        reason
    }

    /// One round: uploads, changes, offices, blocklist, numbers, releases, heartbeat.
    pub async fn round(&mut self, now: DateTime<Utc>) -> Result<RoundReport, SyncError> {
        let mut report = RoundReport::default();
        let mut steps = Steps { first_error: None };
        'round: {
            let (up, go) = steps.note("upload", self.upload_all(now).await);
            if let Some((uploaded, accepted, rejected)) = up {
                (report.uploaded, report.accepted, report.rejected) =
                    (uploaded, accepted, rejected);
            }
            if !go {
                break 'round;
            }
            let (answered, go) = steps.note(
                "changes",
                changes::send_queued(&self.api, &self.store, now).await,
            );
            report.changes_answered = answered.unwrap_or(0);
            if !go {
                break 'round;
            }
            let (changed, go) = steps.note("offices", self.refresh_offices().await);
            report.offices_changed = changed.unwrap_or(false);
            if !go {
                break 'round;
            }
            let (changes, go) = steps.note("blocklist", self.refresh_blocklist(now).await);
            report.blocklist_changes = changes.unwrap_or(0);
            if !go {
                break 'round;
            }
            let (received, go) = steps.note("allocations", self.top_up(now).await);
            report.numbers_received = received.unwrap_or(0);
            if !go {
                break 'round;
            }
            let (released, go) = steps.note("release", self.release_surplus(now).await);
            report.numbers_released = released.unwrap_or(0);
            if !go {
                break 'round;
            }
            let due = self
                .last_heartbeat
                .is_none_or(|at| at.elapsed() >= self.cfg.heartbeat_every);
            if due {
                let (sent, _) = steps.note("heartbeat", self.heartbeat().await);
                report.heartbeat_sent = sent.is_some();
            }
        }
        match steps.first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn refresh_offices(&mut self) -> Result<bool, SyncError> {
        let etag = self.store.run(|s| s.kv_get("offices_etag")).await?;
        match self.api.offices(etag.as_deref()).await? {
            OfficesAnswer::NotModified => Ok(false),
            OfficesAnswer::Fresh { etag, offices } => {
                let mut good = Vec::with_capacity(offices.len());
                for o in &offices {
                    match office_from_wire(o) {
                        Ok(office) => good.push(office),
                        // One bad office must not take the others down with it.
                        Err(e) => {
                            tracing::warn!(problem = %e, "central service sent an office the kiosk cannot use")
                        }
                    }
                }
                let keep = good.clone();
                self.store
                    .run(move |s| {
                        s.replace_offices(&keep)?;
                        match etag {
                            Some(tag) => s.kv_set("offices_etag", &tag),
                            None => Ok(()),
                        }
                    })
                    .await?;
                let _ = self.catalog.send(good).await;
                Ok(true)
            }
        }
    }

    async fn upload_all(&mut self, now: DateTime<Utc>) -> Result<(usize, usize, usize), SyncError> {
        let offsets: HashMap<String, FixedOffset> = self
            .store
            .run(|s| s.offices())
            .await?
            .into_iter()
            .map(|o| (o.id.clone(), o.zone.offset()))
            .collect();
        // Found afresh each round: a row a technician repaired goes out again.
        let mut damaged: BTreeMap<String, String> = BTreeMap::new();
        self.unreadable.clear();
        let result = self.upload_batches(&offsets, now, &mut damaged).await;
        self.report_damaged(damaged).await;
        self.publish_unreadable();
        result
    }

    /// Uploads batch after batch until the queue holds nothing more to send, adding the
    /// damaged rows met on the way to `damaged`; returns how many registrations were
    /// answered, accepted and rejected.
    async fn upload_batches(
        &mut self,
        offsets: &HashMap<String, FixedOffset>,
        now: DateTime<Utc>,
        damaged: &mut BTreeMap<String, String>,
    ) -> Result<(usize, usize, usize), SyncError> {
        let (mut uploaded, mut accepted, mut rejected) = (0, 0, 0);
        loop {
            let skip: HashSet<String> = damaged
                .keys()
                .chain(self.unreadable.keys())
                .cloned()
                .collect();
            // Scanned and marked sent in one job of the writer, so that nothing (a cancel,
            // a reschedule) changes a row between what is read and what is marked; the
            // mark is committed before the request goes.
            let scan = self
                .store
                .run(move |s| {
                    let scan = s.scan_uploads(wire::MAX_REGISTRATIONS_PER_UPLOAD, &skip)?;
                    let ids: Vec<String> = scan
                        .rows
                        .iter()
                        .map(|r| r.registration_id.clone())
                        .collect();
                    s.mark_sent(&ids, now)?;
                    Ok(scan)
                })
                .await?;
            damaged.extend(scan.undecodable);
            let (registrations, ids) = Self::batch_to_wire(&scan.rows, offsets, damaged);
            if registrations.is_empty() {
                // Either nothing is left, or only damaged rows were met in this batch
                // (they are skipped next time round the loop).
                if scan.rows.is_empty() {
                    return Ok((uploaded, accepted, rejected));
                }
                continue;
            }
            let unread_before = self.unreadable.len();
            let outcomes = self.upload_batch(registrations, ids).await?;
            let n = outcomes.len();
            uploaded += n;
            for (_, outcome) in &outcomes {
                match outcome {
                    UploadOutcome::Accepted { .. } => accepted += 1,
                    UploadOutcome::Rejected { .. } => rejected += 1,
                }
            }
            self.store
                .run(move |s| s.record_results(&outcomes, now))
                .await?;
            // Nothing stored and nothing newly set aside: the rest would come back as it is
            // (statuses this software does not know).
            if n == 0 && self.unreadable.len() == unread_before {
                return Ok((uploaded, accepted, rejected));
            }
        }
    }

    /// The upload form of a batch of queued rows, with their registration ids in the same
    /// order; a row that cannot be put in that form goes to `damaged` instead. Times are
    /// sent in the offset of the row's office (WIB for an office the kiosk does not know).
    fn batch_to_wire(
        rows: &[PendingUpload],
        offsets: &HashMap<String, FixedOffset>,
        damaged: &mut BTreeMap<String, String>,
    ) -> (Vec<wire::Registration>, Vec<String>) {
        let mut registrations = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for p in rows {
            let offset = offsets
                .get(&p.office_id)
                .copied()
                .unwrap_or_else(|| Zone::Wib.offset());
            match registration_to_wire(p, offset) {
                Ok(r) => {
                    registrations.push(r);
                    ids.push(p.registration_id.clone());
                }
                Err(what) => {
                    damaged.insert(p.registration_id.clone(), what);
                }
            }
        }
        (registrations, ids)
    }

    /// Sends one batch and reads the service's answer into the outcomes to store, one per
    /// registration whose status this software knows (the others stay queued).
    async fn upload_batch(
        &mut self,
        registrations: Vec<wire::Registration>,
        ids: Vec<String>,
    ) -> Result<Vec<(String, UploadOutcome)>, SyncError> {
        let request = wire::RegistrationsRequest { registrations };
        let response = match self.api.upload(&request).await {
            Ok(r) => r,
            Err(e) => return Err(self.note_failed_batch(ids, e).await),
        };
        // Results come in order, one per registration; anything else is garbage and
        // nothing of it is believed.
        if response.results.len() != ids.len()
            || response
                .results
                .iter()
                .zip(&ids)
                .any(|(r, id)| r.registration_id().to_string() != *id)
        {
            return Err(SyncError::ResultMismatch {
                sent: ids.len(),
                got: response.results.len(),
            });
        }
        let mut outcomes = Vec::with_capacity(ids.len());
        let mut unreadable = Vec::new();
        for (result, id) in response.results.iter().zip(ids) {
            match result {
                UploadResult::Read(read) => {
                    if let Some(outcome) = Self::upload_outcome(read) {
                        outcomes.push((id, outcome));
                    }
                }
                UploadResult::Unreadable { problem, .. } => {
                    unreadable.push((id, problem.clone()));
                }
            }
        }
        self.note_unreadable(unreadable).await?;
        Ok(outcomes)
    }

    /// Results that could not be read: each logged with its registration's id and noted
    /// on its queue row, which stays queued; not sent again this round.
    async fn note_unreadable(
        &mut self,
        unreadable: Vec<(String, String)>,
    ) -> Result<(), SyncError> {
        if unreadable.is_empty() {
            return Ok(());
        }
        for (id, problem) in &unreadable {
            tracing::error!(registration = %id, problem = %problem, "the central service's result for a registration cannot be read; kept queued, sent again next round");
            self.unreadable.insert(id.clone(), problem.clone());
        }
        self.store
            .run(move |s| {
                for (id, problem) in &unreadable {
                    let msg = format!("the central service's result cannot be read: {problem}");
                    s.note_upload_failure(std::slice::from_ref(id), &msg)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Publishes this round's unreadable results in the status.
    fn publish_unreadable(&mut self) {
        let list: Vec<UnreadableResult> = self
            .unreadable
            .iter()
            .map(|(id, problem)| UnreadableResult {
                registration_id: id.clone(),
                problem: problem.clone(),
            })
            .collect();
        self.status.send_if_modified(|s| {
            if s.unreadable_results == list {
                return false;
            }
            s.unreadable_results = list;
            true
        });
    }

    /// A batch the service did not answer: the failure is noted on its rows, and the
    /// error that ends the upload is the service's (or the store's, if even the note
    /// could not be written).
    async fn note_failed_batch(&mut self, ids: Vec<String>, e: ApiError) -> SyncError {
        let msg = e.to_string();
        match self
            .store
            .run(move |s| s.note_upload_failure(&ids, &msg))
            .await
        {
            Ok(()) => e.into(),
            Err(se) => se.into(),
        }
    }

    /// What the store keeps of one of the service's results; None for a status this
    /// software does not know, which keeps the registration queued.
    fn upload_outcome(result: &wire::RegistrationResult) -> Option<UploadOutcome> {
        match result.status {
            wire::RegistrationStatus::Accepted => Some(UploadOutcome::Accepted {
                receipt: result.receipt.as_ref().map(|r| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(r.0)
                }),
            }),
            wire::RegistrationStatus::Rejected => Some(UploadOutcome::Rejected {
                reason: result
                    .reason
                    .as_ref()
                    .map_or_else(|| "unspecified".to_owned(), |r| r.code().to_owned()),
            }),
            _ => None,
        }
    }

    /// Publishes the damaged rows found this round and notes each on its queue row.
    async fn report_damaged(&mut self, damaged: BTreeMap<String, String>) {
        let new: Vec<(String, String)> = damaged
            .iter()
            .filter(|(id, _)| !self.undecodable.contains_key(*id))
            .map(|(id, what)| (id.clone(), what.clone()))
            .collect();
        for (id, what) in &new {
            tracing::error!(registration = %id, problem = %what, "queued registration cannot be decoded; kept queued, not sent");
        }
        if !new.is_empty()
            && let Err(e) = self
                .store
                .run(move |s| {
                    for (id, what) in &new {
                        s.note_undecodable(id, what)?;
                    }
                    Ok(())
                })
                .await
        {
            tracing::error!(error = %e, "damaged registrations not noted");
        }
        let ids: Vec<String> = damaged.keys().cloned().collect();
        self.undecodable = damaged;
        self.status.send_if_modified(|s| {
            if s.undecodable == ids {
                return false;
            }
            s.undecodable = ids;
            true
        });
    }

    /// `GET /v1/nik-blocklist?since=<stored version>`, applied to the store.
    async fn refresh_blocklist(&mut self, now: DateTime<Utc>) -> Result<usize, SyncError> {
        let (since, today) = self
            .store
            .run(move |s| {
                let offices = s.offices()?;
                Ok((s.blocklist_version()?, earliest_today(&offices, now)))
            })
            .await?;
        let answer = self.api.blocklist(since).await?;
        // Applied even when nothing changed: the step also drops entries past their day.
        let upsert: Vec<(String, chrono::NaiveDate)> = answer
            .upsert
            .iter()
            .map(|e| (e.h.clone(), e.until))
            .collect();
        let remove = answer.remove.clone();
        let (version, full) = (answer.version, answer.full);
        let applied = self
            .store
            .run(move |s| s.apply_blocklist(version, full, &upsert, &remove, today))
            .await?;
        if applied.malformed > 0 {
            tracing::warn!(
                count = applied.malformed,
                "blocklist entries with a malformed hash ignored"
            );
        }
        self.status.send_modify(|s| {
            s.blocklist_version = version;
            s.blocklist_entries = applied.total;
        });
        Ok(applied.upserted + applied.removed + applied.expired)
    }

    async fn top_up(&mut self, now: DateTime<Utc>) -> Result<usize, SyncError> {
        self.denied.retain(|_, at| now - *at < DENIAL_HOLD);
        let (offices, held) = self
            .store
            .run(move |s| {
                let offices = s.offices()?;
                let today = earliest_today(&offices, now);
                s.drop_past_numbers(today)?;
                Ok((offices, s.held_counts(today)?))
            })
            .await?;
        let denied: HashSet<Slot> = self.denied.keys().cloned().collect();
        let wants = planner::plan_allocations(&offices, &held, &denied, now, &self.cfg.planner);
        if wants.is_empty() {
            return Ok(0);
        }
        let request = wire::AllocationsRequest {
            requests: wants
                .iter()
                .map(|w| wire::AllocationAsk {
                    office_id: w.office_id.clone(),
                    date: w.date,
                    session_id: w.session_id.clone(),
                    kind: w.kind,
                    count: w.count,
                })
                .collect(),
        };
        let response = self.api.allocate(&request).await?;
        for d in &response.denied {
            self.denied.insert(
                (d.office_id.clone(), d.date, d.session_id.clone(), d.kind),
                now,
            );
        }
        let grants: Vec<HeldAllocation> = response
            .allocations
            .iter()
            .map(HeldAllocation::granted)
            .collect();
        let received: usize = grants.iter().map(|g| g.numbers.len()).sum();
        self.store
            .run(move |s| {
                for g in &grants {
                    s.add_held(g)?;
                }
                Ok(())
            })
            .await?;
        Ok(received)
    }

    /// Gives back what the planner finds surplus for today and tomorrow. A number leaves
    /// booking for good, durably, before its release is sent ([`Store::queue_releases`]):
    /// once the request may have reached the service the number may be free there, and a
    /// ticket on it would be rejected `number_not_held`. Every queued release is sent
    /// again each round until the service answers (releases are idempotent), so a lost
    /// answer or a kill between answer and bookkeeping costs one more request, never a
    /// ticket. Returns the numbers the service has confirmed back this round.
    ///
    /// [`Store::queue_releases`]: crate::store::Store::queue_releases
    async fn release_surplus(&mut self, now: DateTime<Utc>) -> Result<usize, SyncError> {
        let (offices, free, recent) = self
            .store
            .run(move |s| {
                let offices = s.offices()?;
                let today = earliest_today(&offices, now);
                let last = offices.iter().map(|o| o.today(now)).max().unwrap_or(today)
                    + TimeDelta::days(i64::from(planner::RELEASE_HORIZON_DAYS));
                let since = today - TimeDelta::days(i64::from(planner::RECENT_DAYS));
                Ok((offices, s.free_numbers(today, last)?, s.recent_use(since)?))
            })
            .await?;
        let give: Vec<wire::Release> =
            planner::plan_releases(&offices, &free, &recent, now, &self.cfg.planner)
                .into_iter()
                .map(|g| wire::Release {
                    allocation_id: g.allocation_id,
                    numbers: g.numbers,
                })
                .collect();
        let releases = self
            .store
            .run(move |s| {
                s.queue_releases(&give, now)?;
                s.queued_releases()
            })
            .await?;
        send_releases(&self.api, &self.store, releases).await
    }

    /// `POST /v1/heartbeat`, and the clock check on its answer.
    async fn heartbeat(&mut self) -> Result<(), SyncError> {
        let (queue, offices) = self
            .store
            .run(|s| Ok((s.queue_state()?, s.offices()?)))
            .await?;
        let health = self.health.borrow().clone();
        let offset = offices
            .first()
            .map_or_else(|| Zone::Wib.offset(), |o| o.zone.offset());
        let guardrail = self.status.borrow().guardrail.is_some();
        let request = wire::HeartbeatRequest {
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.started.elapsed().as_secs(),
            printer: health.printer,
            card_reader: health.card_reader,
            unsynced: queue.unsynced,
            oldest_unsynced_at: queue.oldest_unsynced.map(|t| t.with_timezone(&offset)),
            held_numbers: queue.held_free,
            out_of_service: health.out_of_service || guardrail,
        };
        let sent_at = self.clock.now();
        let answer = self.api.heartbeat(&request).await?;
        let received_at = self.clock.now();
        self.last_heartbeat = Some(Instant::now());
        let server_time = answer.server_time.with_timezone(&Utc);
        let skew = clock_skew(sent_at, received_at, server_time);
        let alert = skew.abs() > CLOCK_SKEW_ALERT;
        let was_alert = self.status.borrow().clock_alert;
        if alert && !was_alert {
            tracing::warn!(
                skew_s = skew.num_seconds(),
                "maintenance alert: the kiosk's clock differs from the central service's by more than 2 minutes; check NTP"
            );
        } else if !alert && was_alert {
            tracing::info!(
                skew_s = skew.num_seconds(),
                "clock back in step with the central service"
            );
        }
        self.status.send_modify(|s| {
            s.last_heartbeat = Some(received_at);
            s.clock_skew_s = Some(skew.num_seconds());
            s.clock_alert = alert;
        });
        self.store
            .run(move |s| s.note_heartbeat(received_at, server_time))
            .await?;
        Ok(())
    }
}

/// Sends releases already queued in the store and takes them off the queue once the
/// service has answered (a refusal is an answer too); a temporary failure is noted on
/// them and they stay queued for the next round. Returns how many numbers were confirmed back. The sync loop and the
/// maintenance side's `release_held` both give numbers back through here.
pub async fn send_releases<C: CentralApi>(
    api: &C,
    store: &StoreHandle,
    releases: Vec<wire::Release>,
) -> Result<usize, SyncError> {
    if releases.is_empty() {
        return Ok(0);
    }
    let request = wire::ReleaseRequest { releases };
    // The count the service answers covers only numbers freed by this call; a retry
    // after a lost answer frees none, so the kiosk's own count is what it gave back.
    match api.release(&request).await {
        Ok(_) => {
            let given = request.releases.iter().map(|r| r.numbers.len()).sum();
            store
                .run(move |s| s.releases_answered(&request.releases))
                .await?;
            Ok(given)
        }
        Err(e @ ApiError::Permanent { status, .. }) if status != 401 && status != 403 => {
            // A refusal is an answer: sent again it would be refused again. The numbers
            // stay out of booking; the service has them back at their date. (401 and
            // 403 say who is asking is wrong, not what: kept for after the fix.)
            let count: usize = request.releases.iter().map(|r| r.numbers.len()).sum();
            tracing::error!(error = %e, count, "the central service refused a release; the numbers stay out of booking");
            store
                .run(move |s| s.releases_answered(&request.releases))
                .await?;
            Err(e.into())
        }
        Err(e) => {
            let msg = e.to_string();
            store
                .run(move |s| s.note_release_failure(&request.releases, &msg))
                .await?;
            Err(e.into())
        }
    }
}

/// The service's clock minus the kiosk's, taking the kiosk's time at the middle of the
/// round trip as the moment the service read its clock.
pub fn clock_skew(
    sent_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    server_time: DateTime<Utc>,
) -> TimeDelta {
    let middle = sent_at + (received_at - sent_at) / 2;
    server_time - middle
}

/// Capped exponential backoff with ±25% jitter, so that a fleet of kiosks that lost the
/// network together does not come back in step.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let base = MIN_BACKOFF.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(16) as i32);
    let capped = base
        .min(MAX_BACKOFF.as_secs_f64())
        .max(interval.as_secs_f64().min(MIN_BACKOFF.as_secs_f64()));
    let jitter = rand::thread_rng().gen_range(0.75..1.25);
    Duration::from_secs_f64((capped * jitter).min(MAX_BACKOFF.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_skew_against_the_middle_of_the_round_trip() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        let sent = t("2026-11-22T02:00:00Z");
        // (received, server time, skew in seconds, alert)
        let cases = [
            (
                "2026-11-22T02:00:02Z",
                "2026-11-22T09:00:01+07:00",
                0,
                false,
            ),
            ("2026-11-22T02:00:00Z", "2026-11-22T02:02:00Z", 120, false),
            ("2026-11-22T02:00:00Z", "2026-11-22T02:02:01Z", 121, true),
            ("2026-11-22T02:00:10Z", "2026-11-22T01:55:05Z", -300, true),
        ];
        for (received, server, want, alert) in cases {
            let skew = clock_skew(sent, t(received), t(server));
            assert_eq!(skew.num_seconds(), want, "{received} {server}");
            assert_eq!(skew.abs() > CLOCK_SKEW_ALERT, alert, "{received} {server}");
        }
    }

    #[test]
    fn failures_are_classed_by_their_variant_not_their_text() {
        let api = SyncError::Api;
        let cases = [
            (
                api(ApiError::Temporary {
                    reason: "timed out".into(),
                    retry_after: None,
                    answered: false,
                }),
                SyncFailure::Temporary,
            ),
            (
                api(ApiError::Malformed {
                    status: 200,
                    detail: "body does not parse".into(),
                }),
                SyncFailure::Temporary,
            ),
            (
                SyncError::ResultMismatch { sent: 2, got: 1 },
                SyncFailure::Temporary,
            ),
            (
                api(ApiError::Permanent {
                    status: 409,
                    code: "conflict".into(),
                    message: "not shown".into(),
                }),
                SyncFailure::Refused,
            ),
            // Worded like a refusal, but the kiosk's own configuration is at fault.
            (
                api(ApiError::Setup {
                    reason: "central service refused the request".into(),
                }),
                SyncFailure::Misconfigured,
            ),
            (SyncError::Store(StoreError::Closed), SyncFailure::Store),
        ];
        for (e, want) in cases {
            assert_eq!(e.failure(), want, "{e}");
            assert_eq!(e.is_temporary(), want == SyncFailure::Temporary, "{e}");
        }
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let i = Duration::from_secs(30);
        let first = backoff(1, i);
        assert!(
            first >= Duration::from_millis(1500) && first <= Duration::from_millis(2500),
            "{first:?}"
        );
        let fifth = backoff(5, i);
        assert!(
            fifth >= Duration::from_secs(24) && fifth <= Duration::from_secs(40),
            "{fifth:?}"
        );
        for n in [10, 20, 100, u32::MAX] {
            assert!(backoff(n, i) <= MAX_BACKOFF, "{n}");
        }
    }
}
