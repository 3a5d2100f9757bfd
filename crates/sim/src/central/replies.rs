//! How the simulator answers, for every endpoint of both versions: the spec's error
//! body and JSON answers, request bodies (gzip undone, within bounds, parsed without
//! quoting them back), and the kiosk behind a bearer token. The routes are `http`'s
//! (version 1) and `routes_v11`'s.

use std::borrow::Cow;
use std::io::Read as _;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::db::{self, Kiosk};
use super::{CentralSim, SimError};
use crate::protocol::central::ErrorBody;

/// Largest request body after gzip decoding: 500 registrations fit many times over,
/// and a compressed bomb does not.
const MAX_DECODED_BODY: u64 = 16 * 1024 * 1024;

/// An answer that ends a handler early: an error with the spec's body. Boxed to keep
/// every `Result` small.
pub(super) struct Reject(pub(super) Box<Response>);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<SimError> for Reject {
    fn from(e: SimError) -> Reject {
        tracing::error!(error = %e, "central simulator failed a request");
        reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the simulator failed",
        )
    }
}

impl From<rusqlite::Error> for Reject {
    fn from(e: rusqlite::Error) -> Reject {
        Reject::from(SimError::from(e))
    }
}

pub(super) type Answer = Result<Response, Reject>;

pub(super) fn reject(status: StatusCode, code: &str, message: impl Into<String>) -> Reject {
    Reject(Box::new(json(status, &ErrorBody::new(code, message))))
}

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "central simulator cannot encode an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(super) fn ok<T: Serialize>(body: &T) -> Answer {
    Ok(json(StatusCode::OK, body))
}

/// The request body, gunzipped when the kiosk said so.
fn decoded<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<Cow<'a, [u8]>, Reject> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(Cow::Borrowed(body)),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::new();
            GzDecoder::new(body)
                .take(MAX_DECODED_BODY + 1)
                .read_to_end(&mut out)
                .map_err(|_| reject(StatusCode::BAD_REQUEST, "invalid_request", "bad gzip body"))?;
            if out.len() as u64 > MAX_DECODED_BODY {
                return Err(reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "decoded body too large",
                ));
            }
            Ok(Cow::Owned(out))
        }
        Some(_) => Err(reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "only gzip request bodies are understood",
        )),
    }
}

pub(super) fn decode<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Reject> {
    let raw = decoded(headers, body)?;
    serde_json::from_slice(&raw).map_err(|e| {
        // Where and what kind of error, never serde's text: it can quote the body.
        let message = format!(
            "body does not parse: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        );
        reject(StatusCode::BAD_REQUEST, "invalid_request", message)
    })
}

/// The kiosk behind the request's bearer token.
pub(super) fn authenticate(sim: &CentralSim, headers: &HeaderMap) -> Result<Kiosk, Reject> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let unauthorized = || {
        let mut r = reject(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token from enrollment is needed",
        );
        r.0.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let Some(token) = token else {
        return Err(unauthorized());
    };
    let conn = sim.db()?;
    db::kiosk_by_token(&conn, token)?.ok_or_else(unauthorized)
}
