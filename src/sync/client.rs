//! The kiosk's client of the central quota service: the [`CentralApi`] capability and
//! [`HttpCentral`], its HTTPS implementation. It makes exactly one attempt per call and
//! classifies what went wrong as temporary (retry later) or permanent (this request will
//! never succeed); retrying, backing off and deciding what to send belong to the sync
//! loop. The wire types are `protocol::central`.
//!
//! Choices where the spec is silent:
//! - `408 Request Timeout` counts as temporary, like `429` and `5xx` (HTTP's meaning).
//! - Any answer that is not what the spec says (a 2xx or 4xx body that does not parse,
//!   a redirect, a 304 where none was asked for) is [`ApiError::Malformed`], temporary:
//!   a proxy or a half-deployed service should not make a kiosk drop a booking.
//! - The results of an upload are read one by one: a result that does not parse (a
//!   malformed `receipt`, say) is [`UploadResult::Unreadable`] for its registration
//!   alone, and the others stand. Results that are not one per registration in order
//!   (or whose ids disagree with what was sent) are garbage, and none is believed.
//! - Redirects are not followed: the API has none, and following one could carry the
//!   bearer token somewhere else.
//! - `localhost` counts as loopback for plain HTTP (RFC 6761 reserves it).
//! - Request bodies larger than [`GZIP_THRESHOLD`] bytes are sent gzip-compressed.
//! - The service's error `message` is kept in the error but left out of its `Display`:
//!   it is text from outside and could echo what was sent.
//! - Every answer's body, whatever its status and endpoint, is read by one bounded
//!   reader ([`read_body`]) that holds the spec's [`MAX_BODY`] (4 MiB) twice: on the
//!   bytes that come over the wire and on what gzip decodes them to. A `Content-Length`
//!   over it is refused before a byte of the body is read; a body without one is read
//!   chunk by chunk and dropped (with its connection) at the first byte over. The kiosk
//!   undoes gzip itself rather than leave it to reqwest, whose decoder hides the wire
//!   size (it strips `Content-Length`) and would let a body of empty deflate blocks run
//!   on unseen. An oversized answer is [`ApiError::TooLarge`], temporary, as the spec
//!   says: a captive portal or a broken proxy costs a round, never the kiosk's memory.

use std::future::Future;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

use crate::config::CentralConfig;
use crate::protocol::central::{
    AllocationsRequest, AllocationsResponse, BlocklistResponse, EnrollRequest, EnrollResponse,
    ErrorBody, HeartbeatRequest, HeartbeatResponse, KioskKeysResponse,
    MAX_REGISTRATIONS_PER_UPLOAD, Office, OfficesResponse, RegistrationResult,
    RegistrationsRequest, RegistrationsResponse, ReleaseRequest, ReleaseResponse,
};

/// Request bodies above this many bytes go gzip-compressed.
pub const GZIP_THRESHOLD: usize = 1024;

/// The spec's bound on an answer's body, before and after gzip is undone: 4 MiB.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What the central service can do for the kiosk. One attempt per call; the futures are
/// `Send` so the sync loop can run them from `tokio::spawn`.
pub trait CentralApi: Send + Sync {
    /// `POST /v1/enroll`, the only call made without a token.
    fn enroll(
        &self,
        req: &EnrollRequest,
    ) -> impl Future<Output = Result<EnrollResponse, ApiError>> + Send;

    /// `GET /v1/offices`, conditional on the ETag of the copy the kiosk holds.
    fn offices(
        &self,
        etag: Option<&str>,
    ) -> impl Future<Output = Result<OfficesAnswer, ApiError>> + Send;

    /// `POST /v1/allocations`.
    fn allocate(
        &self,
        req: &AllocationsRequest,
    ) -> impl Future<Output = Result<AllocationsResponse, ApiError>> + Send;

    /// `POST /v1/allocations/release`.
    fn release(
        &self,
        req: &ReleaseRequest,
    ) -> impl Future<Output = Result<ReleaseResponse, ApiError>> + Send;

    /// `POST /v1/registrations`, at most [`MAX_REGISTRATIONS_PER_UPLOAD`] per call.
    fn upload(
        &self,
        req: &RegistrationsRequest,
    ) -> impl Future<Output = Result<UploadAnswer, ApiError>> + Send;

    /// `POST /v1/heartbeat`.
    fn heartbeat(
        &self,
        req: &HeartbeatRequest,
    ) -> impl Future<Output = Result<HeartbeatResponse, ApiError>> + Send;

    /// `GET /v1/nik-blocklist?since=<version>`; `since = 0` asks for the full list.
    fn blocklist(
        &self,
        since: u64,
    ) -> impl Future<Output = Result<BlocklistResponse, ApiError>> + Send;

    /// `GET /v1/kiosk-keys`.
    fn kiosk_keys(&self) -> impl Future<Output = Result<KioskKeysResponse, ApiError>> + Send;
}

/// The answer to a conditional `GET /v1/offices`.
#[derive(Debug, Clone, PartialEq)]
pub enum OfficesAnswer {
    /// `304`: the kiosk's copy is current.
    NotModified,
    Fresh {
        /// To send as `If-None-Match` next time; `None` when the service gave none.
        etag: Option<String>,
        offices: Vec<Office>,
    },
}

/// The service's answer to one upload: one entry per registration sent, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadAnswer {
    pub results: Vec<UploadResult>,
}

/// What the service said of one uploaded registration.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadResult {
    Read(RegistrationResult),
    /// The service's result for this registration does not parse (a malformed
    /// `receipt`, say): the registration stays queued and goes again, the others of
    /// its batch stand. `problem` says what is wrong, for the technician.
    Unreadable {
        registration_id: uuid::Uuid,
        problem: String,
    },
}

impl UploadResult {
    pub fn registration_id(&self) -> uuid::Uuid {
        match self {
            UploadResult::Read(r) => r.registration_id,
            UploadResult::Unreadable {
                registration_id, ..
            } => *registration_id,
        }
    }

    /// The result, when it could be read.
    pub fn read(&self) -> Option<&RegistrationResult> {
        match self {
            UploadResult::Read(r) => Some(r),
            UploadResult::Unreadable { .. } => None,
        }
    }
}

impl UploadAnswer {
    /// The service's answer as it sent it, when every result could be read.
    pub fn into_read(self) -> Option<RegistrationsResponse> {
        let results = self
            .results
            .into_iter()
            .map(|r| match r {
                UploadResult::Read(read) => Some(read),
                UploadResult::Unreadable { .. } => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RegistrationsResponse { results })
    }
}

impl From<RegistrationsResponse> for UploadAnswer {
    /// Every result read (a service in memory, say).
    fn from(answer: RegistrationsResponse) -> UploadAnswer {
        UploadAnswer {
            results: answer.results.into_iter().map(UploadResult::Read).collect(),
        }
    }
}

/// An upload's answer as it comes, each result left unread until it is matched with
/// what was sent.
#[derive(serde::Deserialize)]
struct LooseResults {
    results: Vec<serde_json::Value>,
}

/// The upload's answer read result by result against the registrations sent: one per
/// registration, in order, or the whole answer is [`ApiError::Malformed`].
fn read_results(sent: &[uuid::Uuid], answer: LooseResults) -> Result<UploadAnswer, ApiError> {
    let garbage = || ApiError::Malformed {
        status: 200,
        detail: format!(
            "{} results for {} registrations, or not in order",
            answer.results.len(),
            sent.len()
        ),
    };
    if answer.results.len() != sent.len() {
        return Err(garbage());
    }
    let mut results = Vec::with_capacity(sent.len());
    for (value, id) in answer.results.iter().zip(sent) {
        let said_id = value
            .get("registration_id")
            .and_then(|v| v.as_str())
            .and_then(|v| uuid::Uuid::parse_str(v).ok());
        if said_id.is_some_and(|said| said != *id) {
            return Err(garbage());
        }
        results.push(match RegistrationResult::deserialize(value) {
            Ok(read) => UploadResult::Read(read),
            Err(e) => {
                // serde's words, cut short: they may quote what the service sent.
                let mut problem = format!("result does not parse: {e}");
                if let Some((cut, _)) = problem.char_indices().nth(160) {
                    problem.truncate(cut);
                }
                UploadResult::Unreadable {
                    registration_id: *id,
                    problem,
                }
            }
        });
    }
    Ok(UploadAnswer { results })
}

/// Why a call to the central service did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Time-out, broken connection, `5xx`, `408`, `429`: try again later, no sooner
    /// than `retry_after` when the service said so.
    #[error("central service temporarily unavailable: {reason}")]
    Temporary {
        reason: String,
        retry_after: Option<Duration>,
        /// The service answered (5xx, 429, 408); `false` for time-outs and broken or
        /// refused connections, after which the sync loop stops the round.
        answered: bool,
    },
    /// A `4xx` with the spec's error code: this request will not succeed as it is.
    #[error("central service refused the request: HTTP {status} {code}")]
    Permanent {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that is not what the spec says; treated as temporary.
    #[error("central service gave an unexpected answer (HTTP {status}): {detail}")]
    Malformed { status: u16, detail: String },
    /// The call could not be made as asked: a bad base URL, plain HTTP to a host that
    /// is not loopback, a CA that holds no certificate, a call that needs a token before
    /// enrollment, or a request over the spec's limits. Fix the configuration or the
    /// caller.
    #[error("central client misconfigured: {reason}")]
    Setup { reason: String },
    /// The pinned CA file (`central.ca_file`) cannot be read or holds no certificate.
    #[error("the pinned CA {} {problem}", path.display())]
    PinnedCa { path: PathBuf, problem: String },
    /// An answer whose body is over [`MAX_BODY`], on the wire or once gzip is undone:
    /// read no further. Temporary, as the spec says (a proxy or portal in the way).
    #[error("central service's answer (HTTP {status}) is over the 4 MiB limit: {oversize}")]
    TooLarge { status: u16, oversize: Oversize },
}

/// Where an answer's body went over [`MAX_BODY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Its `Content-Length` said so: none of the body was read.
    Declared(u64),
    /// More than the limit came over the wire (a body sent without a length).
    OnWire,
    /// Its gzip decodes to more than the limit.
    Decoded,
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Oversize::Declared(n) => write!(f, "Content-Length {n} bytes, not read"),
            Oversize::OnWire => f.write_str("more than 4 MiB sent, read no further"),
            Oversize::Decoded => {
                f.write_str("more than 4 MiB once gzip is undone, read no further")
            }
        }
    }
}

impl ApiError {
    /// Whether the same request may succeed later.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ApiError::Temporary { .. } | ApiError::Malformed { .. } | ApiError::TooLarge { .. }
        )
    }

    /// Whether the service could not be reached at all (no HTTP answer), as opposed to
    /// answering with an error: the sync loop tries no further call in that round.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ApiError::Temporary {
                answered: false,
                ..
            }
        )
    }

    /// How long the service asked the kiosk to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Temporary { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A `404`: the service has no such endpoint (a service without version 1.1).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, ApiError::Permanent { status: 404, .. })
    }

    /// The spec's error code of a permanent refusal (`invalid_code`, `unauthorized`...).
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Permanent { code, .. } => Some(code),
            _ => None,
        }
    }

    fn setup(reason: impl Into<String>) -> ApiError {
        ApiError::Setup {
            reason: reason.into(),
        }
    }
}

/// The central service over HTTPS (or plain HTTP on loopback, for the simulator).
#[derive(Clone)]
pub struct HttpCentral {
    http: reqwest::Client,
    /// Base URL without a trailing slash; endpoint paths are appended to it, so a
    /// service mounted under a path prefix works.
    base: String,
    /// Bearer token from enrollment; `None` until the kiosk is enrolled.
    token: Option<String>,
}

impl std::fmt::Debug for HttpCentral {
    /// The token is a credential: Debug shows only whether there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCentral")
            .field("base", &self.base)
            .field("enrolled", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpCentral {
    /// The client of the service `[central]` configures: its URL and time-out, and the
    /// CA in `ca_file` when one is pinned. The daemon's sync, enrollment, the
    /// maintenance side and the doctor all make their client here, so `ca_file` is read
    /// in this one place.
    pub fn from_config(
        central: &CentralConfig,
        token: Option<String>,
    ) -> Result<HttpCentral, ApiError> {
        let pinned = match &central.ca_file {
            Some(path) => {
                let problem = |problem: String| ApiError::PinnedCa {
                    path: path.clone(),
                    problem,
                };
                Some(super::pinned_ca::load(path).map_err(problem)?)
            }
            None => None,
        };
        HttpCentral::build(&central.url, token, central.timeout, pinned)
    }

    /// A client for the service at `base_url`. `timeout` bounds every call from
    /// connecting to the last byte. With `ca_pem`, only the CA certificates in it are
    /// trusted (pinning); otherwise the system's roots are.
    pub fn new(
        base_url: &str,
        token: Option<String>,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<HttpCentral, ApiError> {
        let pinned = ca_pem
            .map(super::pinned_ca::certificates)
            .transpose()
            .map_err(|problem| ApiError::setup(format!("pinned CA {problem}")))?;
        HttpCentral::build(base_url, token, timeout, pinned)
    }

    fn build(
        base_url: &str,
        token: Option<String>,
        timeout: Duration,
        pinned: Option<Vec<reqwest::Certificate>>,
    ) -> Result<HttpCentral, ApiError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let url = Url::parse(&base)
            .map_err(|e| ApiError::setup(format!("central URL {base_url:?} is not a URL: {e}")))?;
        check_transport(&url)?;
        if timeout.is_zero() {
            return Err(ApiError::setup("time-out must be longer than zero"));
        }

        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("apm-kiosk/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // gzip answers are undone by `read_body`, under the bound on both sides.
            .gzip(false)
            .tls_backend_rustls();
        if let Some(certs) = pinned {
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::setup(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpCentral { http, base, token })
    }

    /// One `GET /v1/offices`, with the token when there is one, and the status of the
    /// answer whatever it is: `apm-kiosk doctor`'s look at whether the service is there
    /// and takes the kiosk, which judges the status itself. No answer at all is the
    /// error.
    pub async fn probe(&self) -> Result<StatusCode, ApiError> {
        let rb = self.request(Method::GET, "/v1/offices", self.token.is_some(), None, None)?;
        let (status, _, _) = self.exchange(rb).await?;
        Ok(status)
    }

    /// Use `token` from now on (after enrollment).
    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Builds one request: the bearer token when `auth`, the JSON body (compressed when
    /// large), and `If-None-Match` when given.
    fn request(
        &self,
        method: Method,
        path: &str,
        auth: bool,
        body: Option<Vec<u8>>,
        if_none_match: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut rb = self.http.request(method, self.url(path));
        if auth {
            let Some(token) = &self.token else {
                return Err(ApiError::setup(format!(
                    "{path} needs the enrollment token and the kiosk is not enrolled"
                )));
            };
            rb = rb.bearer_auth(token);
        }
        if let Some(tag) = if_none_match {
            rb = rb.header(header::IF_NONE_MATCH, tag);
        }
        if let Some(body) = body {
            rb = rb.header(header::CONTENT_TYPE, "application/json");
            if body.len() > GZIP_THRESHOLD {
                rb = rb
                    .header(header::CONTENT_ENCODING, "gzip")
                    .body(gzip(&body)?);
            } else {
                rb = rb.body(body);
            }
        }
        Ok(rb)
    }

    /// Sends and reads the whole answer through [`read_body`]; only transport failures
    /// and an answer over the bound are errors here.
    async fn exchange(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ApiError> {
        let response = rb.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        Ok((status, headers, body))
    }

    /// One call: the request's JSON body, the answer's parsed, any other status
    /// classified. `bookings` speaks version 1.1 through it.
    pub(super) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        auth: bool,
        req: Option<&Req>,
    ) -> Result<Resp, ApiError> {
        let body = match req {
            Some(req) => Some(
                serde_json::to_vec(req)
                    .map_err(|e| ApiError::setup(format!("cannot encode request: {e}")))?,
            ),
            None => None,
        };
        let rb = self.request(method, path, auth, body, None)?;
        let (status, headers, body) = self.exchange(rb).await?;
        if status.is_success() {
            parse_body(status, &body)
        } else {
            Err(classify(status, &headers, &body))
        }
    }
}

impl CentralApi for HttpCentral {
    async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ApiError> {
        self.call(Method::POST, "/v1/enroll", false, Some(req))
            .await
    }

    async fn offices(&self, etag: Option<&str>) -> Result<OfficesAnswer, ApiError> {
        let rb = self.request(Method::GET, "/v1/offices", true, None, etag)?;
        let (status, headers, body) = self.exchange(rb).await?;
        if status == StatusCode::NOT_MODIFIED {
            if etag.is_none() {
                return Err(ApiError::Malformed {
                    status: status.as_u16(),
                    detail: "304 to an unconditional request".into(),
                });
            }
            return Ok(OfficesAnswer::NotModified);
        }
        if !status.is_success() {
            return Err(classify(status, &headers, &body));
        }
        let parsed: OfficesResponse = parse_body(status, &body)?;
        let etag = headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(OfficesAnswer::Fresh {
            etag,
            offices: parsed.offices,
        })
    }

    async fn allocate(&self, req: &AllocationsRequest) -> Result<AllocationsResponse, ApiError> {
        self.call(Method::POST, "/v1/allocations", true, Some(req))
            .await
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<ReleaseResponse, ApiError> {
        self.call(Method::POST, "/v1/allocations/release", true, Some(req))
            .await
    }

    async fn upload(&self, req: &RegistrationsRequest) -> Result<UploadAnswer, ApiError> {
        if req.registrations.len() > MAX_REGISTRATIONS_PER_UPLOAD {
            return Err(ApiError::setup(format!(
                "{} registrations in one upload, the limit is {MAX_REGISTRATIONS_PER_UPLOAD}",
                req.registrations.len()
            )));
        }
        let answer: LooseResults = self
            .call(Method::POST, "/v1/registrations", true, Some(req))
            .await?;
        // One result per registration, in order: anything else cannot be matched up, and
        // the kiosk deletes nothing without its result.
        let sent: Vec<uuid::Uuid> = req
            .registrations
            .iter()
            .map(|r| r.registration_id)
            .collect();
        read_results(&sent, answer)
    }

    async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        self.call(Method::POST, "/v1/heartbeat", true, Some(req))
            .await
    }

    async fn blocklist(&self, since: u64) -> Result<BlocklistResponse, ApiError> {
        let path = format!("/v1/nik-blocklist?since={since}");
        self.call::<(), _>(Method::GET, &path, true, None).await
    }

    async fn kiosk_keys(&self) -> Result<KioskKeysResponse, ApiError> {
        self.call::<(), _>(Method::GET, "/v1/kiosk-keys", true, None)
            .await
    }
}

/// HTTPS anywhere; plain HTTP only to a loopback address.
fn check_transport(url: &Url) -> Result<(), ApiError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = match bare.parse::<IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => host.eq_ignore_ascii_case("localhost"),
            };
            if loopback {
                Ok(())
            } else {
                Err(ApiError::setup(format!(
                    "refusing plain http:// to {}: only loopback may go unencrypted, use https://",
                    url.host_str().unwrap_or("?")
                )))
            }
        }
        other => Err(ApiError::setup(format!(
            "central URL scheme {other:?} is not http or https"
        ))),
    }
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|e| ApiError::setup(format!("cannot compress request: {e}")))
}

/// The one reader of an answer's body: at most [`MAX_BODY`] bytes from the wire and at
/// most [`MAX_BODY`] once gzip is undone. A `Content-Length` over the bound is refused
/// before the body is read; otherwise the body is taken chunk by chunk and the answer
/// dropped (its connection with it) at the first byte over.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    let status = response.status().as_u16();
    let too_large = |oversize| ApiError::TooLarge { status, oversize };
    if let Some(declared) = response.content_length()
        && declared > MAX_BODY as u64
    {
        return Err(too_large(Oversize::Declared(declared)));
    }
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let mut body = match encoding.as_deref() {
        None | Some("identity") => BoundedBody::plain(),
        Some("gzip" | "x-gzip") => BoundedBody::gzip(),
        Some(other) => {
            return Err(ApiError::Malformed {
                status,
                detail: format!("body in Content-Encoding {other:?}, which was not asked for"),
            });
        }
    };
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        body.push(&chunk).map_err(|e| e.into_api(status))?;
    }
    body.finish().map_err(|e| e.into_api(status))
}

/// Why [`BoundedBody`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    Over(Oversize),
    /// The gzip stream is broken (not gzip, or cut short).
    Gzip(String),
}

impl BodyError {
    fn into_api(self, status: u16) -> ApiError {
        match self {
            BodyError::Over(oversize) => ApiError::TooLarge { status, oversize },
            BodyError::Gzip(problem) => ApiError::Malformed {
                status,
                detail: format!("gzip body does not decode: {problem}"),
            },
        }
    }
}

/// A body taken in as it comes, counted on the wire and, for gzip, decoded as it comes
/// into a buffer that refuses to grow past [`MAX_BODY`]: the bound holds on both sides
/// whatever the chunks are.
struct BoundedBody {
    wire: usize,
    out: Decoding,
}

enum Decoding {
    Plain(Vec<u8>),
    Gzip(Box<flate2::write::GzDecoder<Capped>>),
}

/// The decoded bytes, at most [`MAX_BODY`]; a write past it fails and is remembered.
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_BODY {
            self.over = true;
            return Err(std::io::Error::other("decoded body over the limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BoundedBody {
    fn plain() -> BoundedBody {
        BoundedBody {
            wire: 0,
            out: Decoding::Plain(Vec::new()),
        }
    }

    fn gzip() -> BoundedBody {
        let capped = Capped {
            bytes: Vec::new(),
            over: false,
        };
        BoundedBody {
            wire: 0,
            out: Decoding::Gzip(Box::new(flate2::write::GzDecoder::new(capped))),
        }
    }

    /// Takes the next chunk from the wire.
    fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        self.wire += chunk.len();
        if self.wire > MAX_BODY {
            return Err(BodyError::Over(Oversize::OnWire));
        }
        match &mut self.out {
            Decoding::Plain(bytes) => {
                bytes.extend_from_slice(chunk);
                Ok(())
            }
            Decoding::Gzip(decoder) => {
                let written = std::io::Write::write_all(decoder.as_mut(), chunk);
                Self::decoded(decoder.get_ref(), written)
            }
        }
    }

    /// The whole body, decoded.
    fn finish(self) -> Result<Vec<u8>, BodyError> {
        match self.out {
            Decoding::Plain(bytes) => Ok(bytes),
            Decoding::Gzip(decoder) => {
                let mut decoder = *decoder;
                let done = decoder.try_finish();
                Self::decoded(decoder.get_ref(), done)?;
                let capped = decoder
                    .finish()
                    .map_err(|e| BodyError::Gzip(e.to_string()))?;
                Ok(capped.bytes)
            }
        }
    }

    /// A decoder's write as a body error: over the bound, or broken gzip.
    fn decoded(capped: &Capped, result: std::io::Result<()>) -> Result<(), BodyError> {
        match result {
            Ok(()) => Ok(()),
            Err(_) if capped.over => Err(BodyError::Over(Oversize::Decoded)),
            Err(e) => Err(BodyError::Gzip(e.to_string())),
        }
    }
}

fn transport_error(e: reqwest::Error) -> ApiError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "answer broken off"
    } else {
        "connection failed"
    };
    // `{e:#}`-style chains carry the cause ("connection closed before message
    // completed"); the URL in them holds no personal data.
    let mut reason = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ApiError::Temporary {
        reason,
        retry_after: None,
        answered: false,
    }
}

fn parse_body<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Malformed {
        status: status.as_u16(),
        detail: format!("body does not parse: {e}"),
    })
}

/// Sorts a non-2xx answer into temporary and permanent.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let temporary = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    if temporary {
        let code = parsed
            .as_ref()
            .map(|b| b.error.code.as_str())
            .unwrap_or("no error body");
        return ApiError::Temporary {
            reason: format!("HTTP {} ({code})", status.as_u16()),
            retry_after: headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now())),
            answered: true,
        };
    }
    match (status.is_client_error(), parsed) {
        (true, Some(body)) => ApiError::Permanent {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        },
        (true, None) => ApiError::Malformed {
            status: status.as_u16(),
            detail: "error answer without the spec's error body".into(),
        },
        // 1xx and 3xx: the API uses neither (304 is handled by `offices`).
        (false, _) => ApiError::Malformed {
            status: status.as_u16(),
            detail: "status the API does not use".into(),
        },
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let cases = [
            ("http://127.0.0.1:8700", true),
            ("http://127.8.9.1:8700/", true),
            ("http://[::1]:8700", true),
            ("http://localhost:8700/api", true),
            ("https://central.imigrasi.go.id", true),
            ("http://central.imigrasi.go.id", false),
            ("http://10.0.0.5:8700", false),
            ("http://0.0.0.0:8700", false),
            ("ftp://127.0.0.1", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            let made = HttpCentral::new(url, None, Duration::from_secs(5), None);
            assert_eq!(made.is_ok(), ok, "{url}: {made:?}");
            if let Err(e) = made {
                assert!(!e.is_temporary(), "{url}");
            }
        }
    }

    #[test]
    fn classifies_error_answers() {
        let body = br#"{"error": {"code": "invalid_code", "message": "used"}}"#;
        let mut retry = HeaderMap::new();
        retry.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        let none = HeaderMap::new();
        // (status, headers, body, temporary, code, retry-after seconds)
        type Case<'a> = (
            u16,
            &'a HeaderMap,
            &'a [u8],
            bool,
            Option<&'a str>,
            Option<u64>,
        );
        let cases: [Case; 8] = [
            (401, &none, body, false, Some("invalid_code"), None),
            (400, &none, body, false, Some("invalid_code"), None),
            (404, &none, b"<html>not found</html>", true, None, None),
            (429, &retry, body, true, None, Some(7)),
            (503, &retry, b"", true, None, Some(7)),
            (500, &none, b"{\"err", true, None, None),
            (408, &none, b"", true, None, None),
            (302, &none, b"", true, None, None),
        ];
        for (status, headers, body, temporary, code, wait) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            let e = classify(status, headers, body);
            assert_eq!(e.is_temporary(), temporary, "{status}: {e:?}");
            assert_eq!(e.code(), code, "{status}");
            assert_eq!(e.retry_after(), wait.map(Duration::from_secs), "{status}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T02:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let cases = [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("Sun, 22 Nov 2026 02:00:30 GMT", Some(30)),
            ("Sun, 22 Nov 2026 01:00:00 GMT", Some(0)),
            ("soon", None),
            ("-5", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{value}"
            );
        }
    }

    #[test]
    fn permanent_errors_do_not_show_the_service_message() {
        let e = ApiError::Permanent {
            status: 400,
            code: "invalid".into(),
            message: "NIK 2102015708900003 bad".into(),
        };
        assert!(!e.to_string().contains("2102015708900003"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = HttpCentral::new(
            "http://127.0.0.1:8700",
            Some("s3cr3t-token".into()),
            Duration::from_secs(5),
            None,
        )
        .expect("client");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("enrolled: true"), "{debug}");
    }

    #[test]
    fn a_pinned_ca_must_hold_a_certificate() {
        let cases: [&[u8]; 2] = [
            b"",
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        ];
        for pem in cases {
            let made = HttpCentral::new(
                "https://central.example",
                None,
                Duration::from_secs(5),
                Some(pem),
            );
            assert!(matches!(made, Err(ApiError::Setup { .. })), "{made:?}");
        }
    }

    #[test]
    fn the_configured_ca_file_is_read_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"").expect("written");
        let central = |ca_file: Option<PathBuf>| CentralConfig {
            url: "https://central.example".into(),
            ca_file,
            timeout: Duration::from_secs(5),
            sync_interval: Duration::from_secs(30),
        };
        assert!(HttpCentral::from_config(&central(None), None).is_ok());
        for (file, problem) in [
            (dir.join("missing.pem"), "cannot be read"),
            (empty, "holds no certificate"),
        ] {
            let made = HttpCentral::from_config(&central(Some(file.clone())), None);
            let Err(e @ ApiError::PinnedCa { .. }) = made else {
                panic!("{file:?}: {made:?}");
            };
            assert!(!e.is_temporary());
            let text = e.to_string();
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(text.contains(problem), "{text}");
        }
    }

    /// `body` pushed in chunks of `chunk` bytes, then finished.
    fn read_in_chunks(
        mut body: BoundedBody,
        bytes: &[u8],
        chunk: usize,
    ) -> Result<Vec<u8>, BodyError> {
        for piece in bytes.chunks(chunk) {
            body.push(piece)?;
        }
        body.finish()
    }

    #[test]
    fn bodies_are_bounded_on_the_wire_and_once_decoded() {
        let json = br#"{"released": 2}"#.to_vec();
        let spaces = |n: usize| vec![b' '; n];
        // (body as sent, gzip?, chunk size, what comes of it)
        type Case = (Vec<u8>, bool, usize, Result<Vec<u8>, BodyError>);
        let cases: Vec<Case> = vec![
            (json.clone(), false, 3, Ok(json.clone())),
            (gzip(&json).expect("gzip"), true, 1, Ok(json.clone())),
            (spaces(MAX_BODY), false, 65536, Ok(spaces(MAX_BODY))),
            (
                spaces(MAX_BODY + 1),
                false,
                65536,
                Err(BodyError::Over(Oversize::OnWire)),
            ),
            // Exactly the bound decoded is fine; one byte more is not, however small
            // the wire form (1 MiB of spaces gzips to about 1 KiB).
            (
                gzip(&spaces(MAX_BODY)).expect("gzip"),
                true,
                4096,
                Ok(spaces(MAX_BODY)),
            ),
            (
                gzip(&spaces(MAX_BODY + 1)).expect("gzip"),
                true,
                4096,
                Err(BodyError::Over(Oversize::Decoded)),
            ),
        ];
        for (i, (bytes, gzipped, chunk, want)) in cases.into_iter().enumerate() {
            let body = if gzipped {
                BoundedBody::gzip()
            } else {
                BoundedBody::plain()
            };
            let got = read_in_chunks(body, &bytes, chunk);
            match (&got, &want) {
                (Ok(a), Ok(b)) => assert!(a == b, "case {i}: {} bytes, want {}", a.len(), b.len()),
                _ => assert_eq!(got.map(|b| b.len()), want.map(|b| b.len()), "case {i}"),
            }
        }
    }

    #[test]
    fn broken_gzip_is_malformed_not_too_large() {
        let packed = gzip(br#"{"released": 2}"#).expect("gzip");
        let cut = read_in_chunks(BoundedBody::gzip(), &packed[..packed.len() / 2], 4);
        let e = cut.expect_err("a cut gzip body").into_api(200);
        assert!(
            matches!(e, ApiError::Malformed { status: 200, .. }),
            "{e:?}"
        );
        let garbage = read_in_chunks(BoundedBody::gzip(), b"<html>portal</html>", 4);
        let e = garbage.expect_err("not gzip").into_api(200);
        assert!(matches!(e, ApiError::Malformed { .. }), "{e:?}");
        assert!(e.is_temporary());
    }

    #[test]
    fn too_large_says_where_and_is_temporary() {
        let e = ApiError::TooLarge {
            status: 200,
            oversize: Oversize::Declared(52_428_800),
        };
        assert!(e.is_temporary() && !e.is_unreachable());
        assert_eq!(
            e.to_string(),
            "central service's answer (HTTP 200) is over the 4 MiB limit: Content-Length 52428800 bytes, not read"
        );
    }

    #[test]
    fn upload_results_are_read_one_by_one() {
        let ids: Vec<uuid::Uuid> = (1..=3u128).map(uuid::Uuid::from_u128).collect();
        let result = |id: &uuid::Uuid, extra: &str| {
            format!(r#"{{"registration_id": "{id}", "status": "accepted"{extra}}}"#)
        };
        let good = format!(r#", "receipt": "{}""#, "A".repeat(86) + "==");
        let answer = |items: &[String]| -> LooseResults {
            serde_json::from_str(&format!(r#"{{"results": [{}]}}"#, items.join(",")))
                .expect("loose")
        };
        // The middle receipt is malformed: the two others stand.
        let read = read_results(
            &ids,
            answer(&[
                result(&ids[0], &good),
                result(&ids[1], r#", "receipt": "not base64""#),
                result(&ids[2], ""),
            ]),
        )
        .expect("an answer");
        let kinds: Vec<bool> = read.results.iter().map(|r| r.read().is_some()).collect();
        assert_eq!(kinds, [true, false, true]);
        assert_eq!(read.results[1].registration_id(), ids[1]);
        let UploadResult::Unreadable { problem, .. } = &read.results[1] else {
            panic!("{:?}", read.results[1]);
        };
        assert!(problem.contains("base64"), "{problem}");
        // A result that is not even an object counts for its place.
        let read = read_results(&ids[..1], answer(&["7".into()])).expect("an answer");
        assert_eq!(read.results[0].registration_id(), ids[0]);
        assert!(read.results[0].read().is_none());
        // Out of order, or too few: nothing is believed.
        let swapped = answer(&[
            result(&ids[1], ""),
            result(&ids[0], ""),
            result(&ids[2], ""),
        ]);
        assert!(matches!(
            read_results(&ids, swapped),
            Err(ApiError::Malformed { .. })
        ));
        let short = answer(&[result(&ids[0], "")]);
        assert!(matches!(
            read_results(&ids, short),
            Err(ApiError::Malformed { .. })
        ));
    }

    #[test]
    fn large_bodies_compress() {
        let body = vec![b'a'; 4096];
        let packed = gzip(&body).expect("gzip");
        assert!(packed.len() < body.len() / 10);
        let mut out = Vec::new();
        let mut decoder = flate2::read::GzDecoder::new(&packed[..]);
        std::io::Read::read_to_end(&mut decoder, &mut out).expect("gunzip");
        assert_eq!(out, body);
    }
}
