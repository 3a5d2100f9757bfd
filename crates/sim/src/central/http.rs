//! The simulator's HTTP face: axum routes for every endpoint of the spec, bearer-token
//! authentication, gzip request and response bodies, ETags, the spec's error body, and
//! fault injection, served on a listener the caller gives. The rules themselves are
//! `db`'s.
//!
//! Choices where the spec is silent: a missing or unknown token is `401 unauthorized`
//! (with `WWW-Authenticate: Bearer`); a body that does not parse is
//! `400 invalid_request`; more than 500 registrations is `413 too_many_registrations`;
//! an unknown `Content-Encoding` is `415 unsupported_encoding`; an unknown path is
//! `404 not_found` and a wrong method `405 method_not_allowed`, all with the spec's
//! error body. Answers over 1 KiB are gzip-compressed when the kiosk accepts gzip.

use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::Rng as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::CentralSim;
use super::db::{self, AskOutcome, Enrolled};
use super::replies::{Answer, Reject, authenticate, decode, json, ok, reject};
use crate::protocol::central::{
    AllocationsRequest, AllocationsResponse, EnrollRequest, HeartbeatRequest, HeartbeatResponse,
    KioskKeysResponse, MAX_REGISTRATIONS_PER_UPLOAD, OfficesResponse, Registration,
    RegistrationResult, RegistrationsResponse, RejectionReason, ReleaseRequest, ReleaseResponse,
};

/// Serves the simulator on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub async fn serve(
    sim: CentralSim,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(sim).into_make_service_with_connect_info::<Conn>();
    axum::serve(CuttableListener(listener), app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(sim: CentralSim) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll))
        .route("/v1/offices", get(offices))
        .route("/v1/allocations", post(allocations))
        .route("/v1/allocations/release", post(release))
        .route("/v1/registrations", post(registrations))
        .route("/v1/nik-blocklist", get(blocklist))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/kiosk-keys", get(kiosk_keys))
        .merge(super::routes_v11::routes(sim.clone()))
        .fallback(|| async { reject(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            reject(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "wrong method for this endpoint",
            )
        })
        // Faults act on the plain JSON answer; compression wraps whatever they leave.
        .layer(from_fn_with_state(sim.clone(), inject_faults))
        .layer(from_fn(gzip_answers))
        // Outermost: a hostile body is never buffered by the layers above.
        .layer(from_fn_with_state(
            sim.clone(),
            super::hostile::hostile_answers,
        ))
        .with_state(sim)
}

/// Answers above this size are compressed for a kiosk that accepts gzip.
const GZIP_ANSWERS_OVER: usize = 1024;

async fn enroll(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let req: EnrollRequest = decode(&headers, &body)?;
    if ed25519_dalek::VerifyingKey::from_bytes(&req.public_key.0).is_err() {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_public_key",
            "public_key is not an Ed25519 public key",
        ));
    }
    let now = sim.now();
    let mut conn = sim.db()?;
    match db::enroll(&mut conn, &req, now)? {
        Enrolled::Ok(answer) => {
            tracing::info!(kiosk = %answer.kiosk_id, "central simulator enrolled a kiosk");
            ok(&answer)
        }
        Enrolled::InvalidCode => Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the enrollment code is unknown or already used",
        )),
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for GET).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let etag = strip(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == etag)
}

async fn offices(State(sim): State<CentralSim>, headers: HeaderMap) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let offices = {
        let conn = sim.db()?;
        db::offices_of(&conn, &kiosk)?
    };
    let answer = json(StatusCode::OK, &OfficesResponse { offices });
    let (mut parts, body) = answer.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| reject(StatusCode::INTERNAL_SERVER_ERROR, "internal", "body"))?;
    let digest = Sha256::digest(&bytes);
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{tag}\"");
    let etag_value = HeaderValue::from_str(&etag)
        .map_err(|_| reject(StatusCode::INTERNAL_SERVER_ERROR, "internal", "etag"))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, &etag));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    parts.headers.insert(header::ETAG, etag_value);
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

async fn allocations(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let req: AllocationsRequest = decode(&headers, &body)?;
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let mut answer = AllocationsResponse::default();
    for ask in &req.requests {
        match db::allocate(&tx, &kiosk, ask, now)? {
            AskOutcome::Granted(allocation) => answer.allocations.push(allocation),
            AskOutcome::Denied(reason) => answer.denied.push(crate::protocol::central::Denial {
                office_id: ask.office_id.clone(),
                date: ask.date,
                session_id: ask.session_id.clone(),
                kind: ask.kind,
                reason,
            }),
            AskOutcome::Nothing => {}
        }
    }
    tx.commit()?;
    ok(&answer)
}

async fn release(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let req: ReleaseRequest = decode(&headers, &body)?;
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let mut released = 0;
    for item in &req.releases {
        released += db::release(&tx, &kiosk, item)?;
    }
    tx.commit()?;
    ok(&ReleaseResponse { released })
}

/// The registrations body read loosely, so one malformed registration is rejected
/// `invalid` on its own instead of failing the whole upload.
#[derive(Deserialize)]
struct LooseRegistrations {
    registrations: Vec<serde_json::Value>,
}

async fn registrations(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let req: LooseRegistrations = decode(&headers, &body)?;
    if req.registrations.len() > MAX_REGISTRATIONS_PER_UPLOAD {
        return Err(reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_registrations",
            format!("at most {MAX_REGISTRATIONS_PER_UPLOAD} registrations per request"),
        ));
    }
    let mut parsed = Vec::with_capacity(req.registrations.len());
    for value in req.registrations {
        let id = value
            .get("registration_id")
            .and_then(|v| v.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        match (serde_json::from_value::<Registration>(value), id) {
            (Ok(reg), _) => parsed.push(Ok(reg)),
            (Err(_), Some(id)) => parsed.push(Err(id)),
            (Err(_), None) => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "a registration has no registration_id",
                ));
            }
        }
    }
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(parsed.len());
    for reg in &parsed {
        results.push(match reg {
            Ok(reg) => db::register(&tx, &kiosk, reg, &sim.inner.signing_key, now)?,
            Err(id) => RegistrationResult::rejected(*id, RejectionReason::Invalid),
        });
    }
    tx.commit()?;
    tracing::debug!(
        kiosk = %kiosk.kiosk_id,
        count = results.len(),
        "central simulator took registrations"
    );
    let answer = RegistrationsResponse { results };
    if sim.inner.faults_want_malformed_receipts() {
        return ok(&with_malformed_receipts(&sim, &answer));
    }
    ok(&answer)
}

/// The answer with the receipts the faults ask for made malformed (not base64), one
/// accepted result at a time.
fn with_malformed_receipts(sim: &CentralSim, answer: &RegistrationsResponse) -> serde_json::Value {
    let mut value = serde_json::to_value(answer).unwrap_or_default();
    if let Some(results) = value.get_mut("results").and_then(|r| r.as_array_mut()) {
        for result in results {
            if result.get("receipt").is_some() && sim.take_malformed_receipt() {
                result["receipt"] = serde_json::Value::from("not base64: a quirk of the service");
            }
        }
    }
    value
}

/// `since=<version>` from the query; absent means 0, the full list.
fn since_of(query: Option<&str>) -> Result<u64, Reject> {
    let Some(query) = query else {
        return Ok(0);
    };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("since=") {
            return value.parse().map_err(|_| {
                reject(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "since is not a version number",
                )
            });
        }
    }
    Ok(0)
}

async fn blocklist(
    State(sim): State<CentralSim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let since = since_of(query.as_deref())?;
    let now = sim.now();
    let mut conn = sim.db()?;
    let tx = conn.transaction()?;
    let answer = db::blocklist(&tx, &kiosk, since, now)?;
    tx.commit()?;
    ok(&answer)
}

async fn heartbeat(State(sim): State<CentralSim>, headers: HeaderMap, body: Bytes) -> Answer {
    let kiosk = authenticate(&sim, &headers)?;
    let req: HeartbeatRequest = decode(&headers, &body)?;
    let stored = serde_json::to_string(&req).unwrap_or_default();
    let now = sim.now();
    let offset = {
        let conn = sim.db()?;
        db::heartbeat(&conn, &kiosk, &stored, now)?
    };
    ok(&HeartbeatResponse {
        server_time: now.with_timezone(&offset),
    })
}

async fn kiosk_keys(State(sim): State<CentralSim>, headers: HeaderMap) -> Answer {
    authenticate(&sim, &headers)?;
    let keys = {
        let conn = sim.db()?;
        db::kiosk_keys(&conn)?
    };
    ok(&KioskKeysResponse { keys })
}

// ---- faults ----

enum Fault {
    None,
    ServerError {
        unavailable: bool,
    },
    Throttle,
    /// `after_work`: the request took effect before the connection broke.
    Drop {
        after_work: bool,
    },
    Truncate,
}

impl CentralSim {
    /// Draws this request's latency and fault.
    fn roll_faults(&self, path: &str) -> (Duration, Fault, Duration) {
        let mut state = self
            .inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let super::FaultState { faults, rng } = &mut *state;
        if !faults.only_paths.is_empty() && !faults.only_paths.iter().any(|p| p == path) {
            return (Duration::ZERO, Fault::None, faults.retry_after);
        }
        let max_ms = faults.max_latency.as_millis() as u64;
        let latency = if max_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.gen_range(0..=max_ms))
        };
        let draw: f64 = rng.r#gen();
        let rates = [
            faults.server_error_rate,
            faults.throttle_rate,
            faults.drop_rate,
            faults.truncate_rate,
            faults.lose_answer_rate,
        ];
        let mut edge = 0.0;
        let mut picked = None;
        for (i, rate) in rates.iter().enumerate() {
            edge += rate.max(0.0);
            if draw < edge {
                picked = Some(i);
                break;
            }
        }
        let fault = match picked {
            Some(0) => Fault::ServerError {
                unavailable: rng.gen_bool(0.5),
            },
            Some(1) => Fault::Throttle,
            Some(2) => Fault::Drop {
                after_work: rng.gen_bool(0.5),
            },
            Some(3) => Fault::Truncate,
            Some(4) => Fault::Drop { after_work: true },
            _ => Fault::None,
        };
        (latency, fault, faults.retry_after)
    }
}

fn retry_after_header(mut r: Reject, wait: Duration) -> Response {
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().to_string()) {
        r.0.headers_mut().insert(header::RETRY_AFTER, value);
    }
    *r.0
}

async fn inject_faults(State(sim): State<CentralSim>, req: Request, next: Next) -> Response {
    let (latency, fault, retry_after) = sim.roll_faults(req.uri().path());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Fault::None => next.run(req).await,
        Fault::ServerError { unavailable: false } => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "injected fault",
        )
        .into_response(),
        Fault::ServerError { unavailable: true } => retry_after_header(
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "injected fault",
            ),
            retry_after,
        ),
        Fault::Throttle => retry_after_header(
            reject(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "injected fault",
            ),
            retry_after,
        ),
        Fault::Drop { after_work } => {
            let conn = req
                .extensions()
                .get::<ConnectInfo<Conn>>()
                .map(|ConnectInfo(conn)| conn.clone());
            if after_work {
                // The work is done and committed; only the answer is lost.
                let _ = next.run(req).await;
            }
            if let Some(conn) = conn {
                tracing::debug!(peer = %conn.peer, after_work, "injected fault: connection cut");
                conn.cut.store(true, Ordering::SeqCst);
            }
            // Never reaches the kiosk: the connection fails as this is written.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Fault::Truncate => {
            let answer = next.run(req).await;
            let (mut parts, body) = answer.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
        }
    }
}

async fn gzip_answers(req: Request, next: Next) -> Response {
    let accepts_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case("gzip") && !refused
            })
        });
    let answer = next.run(req).await;
    if !accepts_gzip || answer.headers().contains_key(header::CONTENT_ENCODING) {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if bytes.len() <= GZIP_ANSWERS_OVER {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    match encoder.write_all(&bytes).and_then(|()| encoder.finish()) {
        Ok(packed) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts
                .headers
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
            Response::from_parts(parts, Body::from(packed))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

// ---- a listener whose connections a fault can cut ----

/// A TCP listener whose connections the fault layer can break mid-exchange.
struct CuttableListener(TcpListener);

/// What a handler knows of its connection: the peer, and the switch that cuts it.
#[derive(Debug, Clone)]
struct Conn {
    peer: SocketAddr,
    cut: Arc<AtomicBool>,
}

struct CuttableStream {
    inner: TcpStream,
    cut: Arc<AtomicBool>,
}

fn cut_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "connection cut by an injected fault",
    )
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (CuttableStream, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let cut = Arc::new(AtomicBool::new(false));
                    let conn = Conn {
                        peer,
                        cut: cut.clone(),
                    };
                    return (CuttableStream { inner: stream, cut }, conn);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "central simulator cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Conn> {
        Ok(Conn {
            peer: self.0.local_addr()?,
            cut: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Conn {
        stream.remote_addr().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_as_http_says() {
        let cases = [
            ("\"abc\"", "\"abc\"", true),
            ("W/\"abc\"", "\"abc\"", true),
            ("\"x\", \"abc\"", "\"abc\"", true),
            ("*", "\"abc\"", true),
            ("\"abd\"", "\"abc\"", false),
            ("", "\"abc\"", false),
        ];
        for (header, etag, want) in cases {
            assert_eq!(etag_matches(header, etag), want, "{header}");
        }
    }

    #[test]
    fn since_reads_the_version() {
        let cases = [
            (None, Some(0)),
            (Some("since=0"), Some(0)),
            (Some("since=1842"), Some(1842)),
            (Some("x=1&since=7"), Some(7)),
            (Some("since=-1"), None),
            (Some("since=abc"), None),
        ];
        for (query, want) in cases {
            assert_eq!(since_of(query).ok(), want, "{query:?}");
        }
    }
}
