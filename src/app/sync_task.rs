//! The sync task as the daemon runs it: it waits for the kiosk's enrollment (given over
//! the control channel, or made by `apm-kiosk enroll` beside the running daemon), then
//! runs `sync::Syncer` until the daemon stops, passing the sync's status on and the
//! guardrail's changes to the flow. What a round does is `sync`'s.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::domain::calendar::Office;
use crate::flow::{self, Event};
use crate::identity::Enrollment;
use crate::store::writer::StoreHandle;
use crate::sync::planner::{GuardrailLimits, PlannerConfig};
use crate::sync::{HEARTBEAT_EVERY, KioskHealth, SyncConfig, SyncStatus, Syncer};

/// What the sync task needs of the daemon.
pub(super) struct SyncParts {
    pub(super) central: super::CentralOpener,
    /// `central.sync_interval`.
    pub(super) interval: Duration,
    pub(super) sync: crate::config::SyncConfig,
    /// Where an enrollment made by `apm-kiosk enroll` appears while the daemon runs.
    pub(super) state_dir: std::path::PathBuf,
    pub(super) store: StoreHandle,
    pub(super) nudge: Arc<Notify>,
    pub(super) enrollment: watch::Sender<Option<Arc<Enrollment>>>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) catalog: mpsc::Sender<Vec<Office>>,
    pub(super) health: watch::Receiver<KioskHealth>,
    pub(super) status: watch::Sender<SyncStatus>,
    /// Where the client goes once made, for the effects that speak to the service.
    pub(super) client: watch::Sender<Option<crate::sync::shared::SharedCentral>>,
    pub(super) clock: crate::clock::SharedClock,
}

/// Waits for the kiosk's enrollment, then runs the sync loop until `stopped`, passing
/// its status on and the guardrail's changes to the flow.
pub(super) async fn sync_when_enrolled(
    parts: SyncParts,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let Some(enrollment) = wait_for_enrollment(&parts, &mut stopped).await else {
        return;
    };
    let Some(api) = open_client(&parts, &enrollment, &mut stopped).await else {
        return;
    };
    parts.client.send_replace(Some(api.clone()));
    let sync = &parts.sync;
    let config = SyncConfig {
        interval: parts.interval,
        planner: PlannerConfig::from_levels(sync.hold_days, sync.low_water, sync.target),
        guardrail: GuardrailLimits {
            max_unsynced_age: chrono::TimeDelta::days(i64::from(sync.max_unsynced_age_days)),
            max_unsynced: sync.max_unsynced,
        },
        heartbeat_every: HEARTBEAT_EVERY,
    };
    let (syncer, status) = Syncer::new(api, parts.store, config, parts.catalog, parts.health);
    let syncer = syncer.with_clock(parts.clock);
    let forward = tokio::spawn(forward_sync_status(status, parts.status, parts.events));
    syncer.run(parts.nudge, stopped).await;
    forward.abort();
}

/// The central service's client, once it can be made: while it cannot (a pinned CA
/// file missing, say) the sync status says why, and it is tried again every sync
/// interval, so that the file put in place needs no restart. `None` when the daemon
/// stops first.
async fn open_client(
    parts: &SyncParts,
    enrollment: &Enrollment,
    stopped: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<crate::sync::shared::SharedCentral> {
    let mut told = false;
    loop {
        match (parts.central)(Some(enrollment.token.clone())) {
            Ok(api) => return Some(api),
            Err(e) => {
                if !told {
                    tracing::error!(error = %e, "the central service client cannot be set up; no sync until it is fixed (tried again every sync interval)");
                    told = true;
                }
                let failure = crate::sync::SyncError::from(e);
                parts.status.send_modify(|s| {
                    s.online = false;
                    s.last_error = Some(failure.to_string());
                    s.last_failure = Some(failure.failure());
                });
            }
        }
        tokio::select! {
            _ = stopped.as_mut() => return None,
            _ = tokio::time::sleep(parts.interval) => {}
        }
    }
}

/// The enrollment, once there is one: given over the control channel, or made by
/// `apm-kiosk enroll` beside the running daemon (looked for every 5 s). `None` when
/// the daemon stops first.
async fn wait_for_enrollment(
    parts: &SyncParts,
    stopped: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<Arc<Enrollment>> {
    let mut changed = parts.enrollment.subscribe();
    loop {
        if let Some(e) = parts.enrollment.borrow().clone() {
            return Some(e);
        }
        tokio::select! {
            _ = stopped.as_mut() => return None,
            // Enrolled over the control channel: start at once.
            _ = changed.changed() => continue,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        if let Ok(Some(e)) = Enrollment::load(&parts.state_dir) {
            tracing::info!(kiosk = %e.kiosk_id, "kiosk enrolled");
            parts.enrollment.send_replace(Some(Arc::new(e)));
            let _ = parts
                .events
                .send(Event::ServiceChanged {
                    source: flow::HoldSource::Enrollment,
                    reason: None,
                })
                .await;
        }
    }
}

/// Passes the sync's status on; the guardrail speaks to the flow only when it changes,
/// so that it does not keep overriding other reasons to be out of service.
async fn forward_sync_status(
    mut status: watch::Receiver<SyncStatus>,
    out: watch::Sender<SyncStatus>,
    events: mpsc::Sender<Event>,
) {
    let mut guard = None;
    while status.changed().await.is_ok() {
        let s = status.borrow_and_update().clone();
        if s.guardrail != guard {
            guard = s.guardrail;
            let _ = events
                .send(Event::ServiceChanged {
                    source: flow::HoldSource::Sync,
                    reason: guard.map(flow::HoldReason::Sync),
                })
                .await;
        }
        out.send_replace(s);
    }
}
