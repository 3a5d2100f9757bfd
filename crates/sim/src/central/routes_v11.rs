//! The HTTP handlers of version 1.1 (availability, finding, cancelling, rescheduling,
//! arrivals): authentication, bodies and the spec's errors as `http` has them, the rules
//! as `changes` has them. A change the rules refuse is `409` with the refusal's code.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;

use super::CentralSim;
use super::changes::{self, Rescheduled};
use super::db;
use super::replies::{Answer, Reject, authenticate, decode, ok, reject};
use crate::protocol::central::{ErrorBody, MAX_REGISTRATIONS_PER_UPLOAD};
use crate::protocol::central_v11::{
    ArrivalsRequest, ArrivalsResponse, CancelRequest, CancelResponse, ChangeRefusal, FindRequest,
    FindResponse, RescheduleRequest,
};

pub(super) fn routes(sim: CentralSim) -> Router<CentralSim> {
    Router::new()
        .route("/v1/availability", get(availability))
        .route("/v1/bookings/find", post(find))
        .route("/v1/registrations/{id}/cancel", post(cancel))
        .route("/v1/registrations/{id}/reschedule", post(reschedule))
        .route("/v1/arrivals", post(arrivals))
        .layer(from_fn_with_state(sim, before_v1_1))
}

/// A service without version 1.1 (the `without_v1_1` fault) knows none of these paths.
async fn before_v1_1(State(sim): State<CentralSim>, req: Request, next: Next) -> Response {
    if sim.without_v1_1() {
        return reject(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response();
    }
    next.run(req).await
}

fn invalid(message: &str) -> Reject {
    reject(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// `409` with the refusal's code, as the spec's error body.
fn refused(refusal: &ChangeRefusal) -> Answer {
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::CONFLICT,
        axum::Json(ErrorBody::new(
            refusal.code(),
            "the service refused the change",
        )),
    )))
}

/// `office_id`, `from` and `to` from the query.
fn availability_query(query: Option<&str>) -> Result<(String, NaiveDate, NaiveDate), Reject> {
    let (mut office, mut from, mut to) = (None, None, None);
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("office_id", v)) => office = Some(v.to_owned()),
            Some(("from", v)) => from = v.parse().ok(),
            Some(("to", v)) => to = v.parse().ok(),
            _ => {}
        }
    }
    match (office, from, to) {
        (Some(o), Some(f), Some(t)) => Ok((o, f, t)),
        _ => Err(invalid("office_id, from and to (YYYY-MM-DD) are needed")),
    }
}

async fn availability(
    State(sim): State<CentralSim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let (office_id, from, to) = availability_query(query.as_deref())?;
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let office = db::load_office(&tx, &office_id)?
        .filter(|_| kiosk.office_ids.contains(&office_id))
        .ok_or_else(|| {
            reject(
                StatusCode::FORBIDDEN,
                "office_not_served",
                "this kiosk is not enrolled for that office",
            )
        })?;
    let answer = changes::availability(&tx, &office, from, to, now)?;
    ok(&answer)
}

async fn find(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    authenticate(&sim, &headers)?;
    let req: FindRequest = decode(&headers, &body)?;
    if req.nik.len() != 16 || !req.nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("nik must be 16 digits"));
    }
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let bookings = changes::find(&tx, &req.nik, now)?;
    ok(&FindResponse { bookings })
}

async fn cancel(
    State(sim): State<CentralSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authenticate(&sim, &headers)?;
    let req: CancelRequest = decode(&headers, &body)?;
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let answer = changes::cancel(&tx, &id, &req.change_id, now)?;
    tx.commit()?;
    match answer {
        Ok(status) => ok(&CancelResponse { status }),
        Err(refusal) => refused(&refusal),
    }
}

async fn reschedule(
    State(sim): State<CentralSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let req: RescheduleRequest = decode(&headers, &body)?;
    if req.ticket.is_empty() {
        return Err(invalid("a reschedule carries the new ticket"));
    }
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let outcome = changes::reschedule(&tx, &kiosk, &id, &req, sim.signing_key(), now)?;
    tx.commit()?;
    match outcome {
        Rescheduled::Answer(Ok(answer)) => ok(&answer),
        Rescheduled::Answer(Err(refusal)) => refused(&refusal),
        Rescheduled::OtherOffice => Err(invalid("the new number is of another office")),
    }
}

async fn arrivals(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let counter = authenticate(&sim, &headers)?;
    let req: ArrivalsRequest = decode(&headers, &body)?;
    if req.arrivals.len() > MAX_REGISTRATIONS_PER_UPLOAD {
        return Err(reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_arrivals",
            format!("at most {MAX_REGISTRATIONS_PER_UPLOAD} arrivals per request"),
        ));
    }
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(req.arrivals.len());
    for a in &req.arrivals {
        let at = a.arrived_at.to_rfc3339();
        results.push(changes::arrive(&tx, &counter, &a.registration_id, &at)?);
    }
    tx.commit()?;
    ok(&ArrivalsResponse { results })
}
