//! Sending the change queue (cancels and reschedules, `store::changes`) to the central
//! service's version 1.1, and storing each answer. The sync loop's "changes" step sends
//! every queued change whose registration has reached the service (never before it),
//! one request each, by `change_id`: the service answers a change id sent again as it
//! did the first time, so a lost answer or a kill between answer and bookkeeping costs a
//! request, never a second change. [`send_change_at`] is the same code for one change at
//! once, for the shell right after the applicant confirms (the caller bounds its wait).
//!
//! A service without version 1.1 answers `404` ([`ApiError::is_unsupported`]): the
//! change stays queued, the store notes which feature the service lacks and since when
//! (cleared by a later answer on that endpoint, [`learned`]), and the loop tries that
//! endpoint once a round, not once a change. A temporary failure is noted on its row
//! (attempts, last error) and ends the step, as in the other steps; a permanent one
//! (a `4xx` other than the rules' `409` and `404`) is noted and the step goes on to the
//! next change, so that one the service cannot take does not hold the others back.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SyncError;
use super::bookings::{BookingApi, Changed};
use super::client::ApiError;
use crate::store::changes::{ChangeAnswer, ChangeRequest, QueuedChange, ServiceFeature};
use crate::store::writer::StoreHandle;

/// The feature a queued change needs.
fn feature_of(change: &QueuedChange) -> ServiceFeature {
    match change.request {
        ChangeRequest::Cancel(_) => ServiceFeature::Cancel,
        ChangeRequest::Reschedule(_) => ServiceFeature::Reschedule,
    }
}

/// Notes what an answer on a 1.1 endpoint says of the service: a `404` that it lacks
/// `feature`, an answer that it has it. Other failures say nothing of it. For the
/// shell's own 1.1 calls (availability, find) as much as for the changes.
pub async fn learned<T>(
    store: &StoreHandle,
    feature: ServiceFeature,
    result: &Result<T, ApiError>,
    at: DateTime<Utc>,
) -> Result<(), SyncError> {
    match result {
        Err(e) if e.is_unsupported() => {
            let news = store
                .run(move |s| s.note_service_lacks(feature, at))
                .await?;
            if news {
                tracing::warn!(
                    feature = feature.code(),
                    "the central service lacks version 1.1 for this feature; the kiosk carries on without it"
                );
            }
        }
        Ok(_) => {
            let news = store.run(move |s| s.note_service_has(feature)).await?;
            if news {
                tracing::info!(
                    feature = feature.code(),
                    "the central service has this version 1.1 feature again"
                );
            }
        }
        Err(_) => {}
    }
    Ok(())
}

/// Sends one queued change and stores the service's answer (the queue row leaves only
/// then); a failure is noted on the row, which stays queued.
async fn send_one(
    api: &impl BookingApi,
    store: &StoreHandle,
    change: &QueuedChange,
    at: DateTime<Utc>,
) -> Result<ChangeAnswer, SyncError> {
    let id = &change.registration_id;
    let answer = match &change.request {
        ChangeRequest::Cancel(req) => api.cancel(id, req).await.map(|c| match c {
            Changed::Done(_) => ChangeAnswer::Done { receipt: None },
            Changed::Refused(r) => ChangeAnswer::Refused(r),
        }),
        ChangeRequest::Reschedule(req) => api.reschedule(id, req).await.map(|c| match c {
            Changed::Done(done) => ChangeAnswer::Done {
                receipt: Some(encode_receipt(&done.receipt)),
            },
            Changed::Refused(r) => ChangeAnswer::Refused(r),
        }),
    };
    learned(store, feature_of(change), &answer, at).await?;
    let change_id = change.change_id;
    match answer {
        Ok(answer) => {
            if let ChangeAnswer::Refused(refusal) = &answer {
                tracing::warn!(change = %change_id, refusal = refusal.code(), "the central service refused a change");
            }
            let stored = answer.clone();
            store
                .run(move |s| s.record_change_answer(change_id, &stored, at))
                .await?;
            Ok(answer)
        }
        Err(e) => {
            let msg = e.to_string();
            store
                .run(move |s| s.note_change_failure(change_id, &msg))
                .await?;
            Err(e.into())
        }
    }
}

fn encode_receipt(receipt: &crate::protocol::central::Receipt) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(receipt.0)
}

/// Sends one change at once (right after the applicant confirms) and stores its answer
/// as of `at` (the daemon's clock); a change already answered is answered from the store.
/// A change sent twice is fine: idempotent by its id.
pub async fn send_change_at(
    api: &impl BookingApi,
    store: &StoreHandle,
    change_id: Uuid,
    at: DateTime<Utc>,
) -> Result<ChangeAnswer, SyncError> {
    let (answer, queued, waits) = store
        .run(move |s| {
            Ok((
                s.change_answer(change_id)?,
                s.queued_change(change_id)?,
                s.change_waits_for_upload(change_id)?,
            ))
        })
        .await?;
    if let Some(answer) = answer {
        return Ok(answer);
    }
    let Some(change) = queued else {
        return Err(SyncError::NoSuchChange(change_id));
    };
    if waits {
        return Err(SyncError::ChangeWaitsForUpload(change_id));
    }
    send_one(api, store, &change, at).await
}

/// The sync round's "changes" step: every queued change whose registration is not
/// waiting for its upload, oldest first. Returns how many were answered.
pub(super) async fn send_queued(
    api: &impl BookingApi,
    store: &StoreHandle,
    at: DateTime<Utc>,
) -> Result<usize, SyncError> {
    let queued = store.run(|s| s.sendable_changes()).await?;
    let mut lacking: HashSet<ServiceFeature> = HashSet::new();
    let mut answered = 0;
    let mut refused_error = None;
    for change in &queued {
        let feature = feature_of(change);
        if lacking.contains(&feature) {
            continue;
        }
        match send_one(api, store, change, at).await {
            Ok(_) => answered += 1,
            Err(SyncError::Api(e)) if e.is_unsupported() => {
                lacking.insert(feature);
            }
            Err(SyncError::Api(e @ ApiError::Permanent { .. })) => {
                tracing::error!(change = %change.change_id, error = %e, "the central service refused a change request; kept queued");
                refused_error.get_or_insert(SyncError::Api(e));
            }
            Err(e) => return Err(e),
        }
    }
    match refused_error {
        Some(e) => Err(e),
        None => Ok(answered),
    }
}
