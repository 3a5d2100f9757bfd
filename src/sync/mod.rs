//! Keeping the kiosk and the central quota service in step: the [`client`] speaks the
//! API, the [`planner`] decides what numbers to hold, and [`Syncer`] performs one round
//! after another: offices (with their ETag), uploads of waiting registrations in batches
//! of at most 500, then queue number top-ups. A round that fails part-way is simply run
//! again later: every step is idempotent (uploads by registration id, allocations only
//! ever add numbers), and nothing is deleted before the service's answer is stored.
//!
//! Temporary failures (network, 5xx, 429, garbage) back off exponentially with jitter up
//! to [`MAX_BACKOFF`], honouring `Retry-After`; permanent ones are reported in the
//! [`SyncStatus`] for the maintenance side and retried at the normal interval.

pub mod client;
pub mod planner;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

use crate::domain::calendar::{Office, Session, Zone};
use crate::protocol::central as wire;
use crate::store::writer::StoreHandle;
use crate::store::{HeldAllocation, PendingUpload, StoreError, UploadOutcome};
use client::{ApiError, CentralApi, OfficesAnswer};
use planner::{DENIAL_HOLD, PlannerConfig, Slot};

/// The longest wait between attempts while the service fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The first wait after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the central service answered {got} results for {sent} registrations")]
    ResultMismatch { sent: usize, got: usize },
    #[error("the kiosk is not enrolled with the central service")]
    NotEnrolled,
}

impl SyncError {
    fn is_temporary(&self) -> bool {
        match self {
            SyncError::Api(e) => e.is_temporary(),
            SyncError::ResultMismatch { .. } => true,
            SyncError::Store(_) | SyncError::NotEnrolled => false,
        }
    }
}

/// What the maintenance side and the heartbeat see of the sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    /// The last round reached the service.
    pub online: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub uploaded: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub numbers_received: u64,
    pub rounds: u64,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub offices_changed: bool,
    pub uploaded: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub numbers_received: usize,
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
}

/// The sync loop's state between rounds.
pub struct Syncer<C: CentralApi> {
    api: C,
    store: StoreHandle,
    cfg: SyncConfig,
    /// Slots the service denied, and when: not asked again before [`DENIAL_HOLD`].
    denied: HashMap<Slot, DateTime<Utc>>,
    /// Where a changed office list goes (the flow, through the daemon).
    catalog: mpsc::Sender<Vec<Office>>,
    status: watch::Sender<SyncStatus>,
}

impl<C: CentralApi> Syncer<C> {
    pub fn new(
        api: C,
        store: StoreHandle,
        cfg: SyncConfig,
        catalog: mpsc::Sender<Vec<Office>>,
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
            },
            rx,
        )
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
            let result = self.round(Utc::now()).await;
            let wait = self.account(result);
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
        self.status.send_modify(|s| {
            s.rounds += 1;
            match &result {
                Ok(r) => {
                    s.online = true;
                    s.last_success = Some(Utc::now());
                    s.last_error = None;
                    s.consecutive_failures = 0;
                    s.uploaded += r.uploaded as u64;
                    s.accepted += r.accepted as u64;
                    s.rejected += r.rejected as u64;
                    s.numbers_received += r.numbers_received as u64;
                }
                Err(e) => {
                    s.online = false;
                    s.last_error = Some(e.to_string());
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
            Ok(r) if r.uploaded > 0 || r.numbers_received > 0 => tracing::info!(
                uploaded = r.uploaded,
                accepted = r.accepted,
                rejected = r.rejected,
                numbers = r.numbers_received,
                "sync round done"
            ),
            Ok(_) => tracing::debug!("sync round: nothing to do"),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = wait.as_secs_f32(), "sync round failed")
            }
        }
        wait
    }

    /// One round: offices, uploads, numbers.
    pub async fn round(&mut self, now: DateTime<Utc>) -> Result<RoundReport, SyncError> {
        let offices_changed = self.refresh_offices().await?;
        let (uploaded, accepted, rejected) = self.upload_all(now).await?;
        let numbers_received = self.top_up(now).await?;
        Ok(RoundReport {
            offices_changed,
            uploaded,
            accepted,
            rejected,
            numbers_received,
        })
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
        let (mut uploaded, mut accepted, mut rejected) = (0, 0, 0);
        loop {
            let batch = self
                .store
                .run(|s| s.pending_uploads(wire::MAX_REGISTRATIONS_PER_UPLOAD as u32))
                .await?;
            if batch.is_empty() {
                return Ok((uploaded, accepted, rejected));
            }
            let mut registrations = Vec::with_capacity(batch.len());
            for p in &batch {
                let offset = offsets
                    .get(&p.office_id)
                    .copied()
                    .unwrap_or_else(|| Zone::Wib.offset());
                match registration_to_wire(p, offset) {
                    Ok(r) => registrations.push(r),
                    Err(e) => return Err(SyncError::Store(StoreError::Corrupt(e))),
                }
            }
            let ids: Vec<String> = batch.iter().map(|p| p.registration_id.clone()).collect();
            let request = wire::RegistrationsRequest { registrations };
            let response = match self.api.upload(&request).await {
                Ok(r) => r,
                Err(e) => {
                    let msg = e.to_string();
                    let ids2 = ids.clone();
                    self.store
                        .run(move |s| s.note_upload_failure(&ids2, &msg))
                        .await?;
                    return Err(e.into());
                }
            };
            // Results come in order, one per registration; anything else is garbage and
            // nothing of it is believed.
            if response.results.len() != ids.len()
                || response
                    .results
                    .iter()
                    .zip(&ids)
                    .any(|(r, id)| r.registration_id.to_string() != *id)
            {
                return Err(SyncError::ResultMismatch {
                    sent: ids.len(),
                    got: response.results.len(),
                });
            }
            let mut outcomes = Vec::with_capacity(ids.len());
            for (result, id) in response.results.iter().zip(ids) {
                let outcome = match result.status {
                    wire::RegistrationStatus::Accepted => {
                        accepted += 1;
                        UploadOutcome::Accepted {
                            receipt: result.receipt.as_ref().map(|r| {
                                use base64::Engine as _;
                                base64::engine::general_purpose::STANDARD.encode(r.0)
                            }),
                        }
                    }
                    wire::RegistrationStatus::Rejected => {
                        rejected += 1;
                        UploadOutcome::Rejected {
                            reason: result
                                .reason
                                .as_ref()
                                .map_or_else(|| "unspecified".to_owned(), |r| r.code().to_owned()),
                        }
                    }
                    _ => {
                        // A status this software does not know: keep it queued.
                        continue;
                    }
                };
                outcomes.push((id, outcome));
            }
            uploaded += outcomes.len();
            let n = outcomes.len();
            self.store
                .run(move |s| s.record_results(&outcomes, now))
                .await?;
            if n == 0 {
                return Ok((uploaded, accepted, rejected));
            }
        }
    }

    async fn top_up(&mut self, now: DateTime<Utc>) -> Result<usize, SyncError> {
        self.denied.retain(|_, at| now - *at < DENIAL_HOLD);
        let (offices, held) = self
            .store
            .run(move |s| {
                let offices = s.offices()?;
                // Each office's own "yesterday" is gone; the earliest today of all is safe.
                let today = offices
                    .iter()
                    .map(|o| o.today(now))
                    .min()
                    .unwrap_or_else(|| now.with_timezone(&Zone::Wib.offset()).date_naive());
                s.drop_past_numbers(today)?;
                s.purge_past_visits(today)?;
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
            .map(|a| HeldAllocation {
                allocation_id: a.allocation_id.clone(),
                office_id: a.office_id.clone(),
                date: a.date,
                session_id: a.session_id.clone(),
                kind: a.kind,
                numbers: a.numbers.clone(),
            })
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
