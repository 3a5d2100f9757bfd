//! The central service's version 1.1 from the kiosk's side (`central-api.md`, "Version
//! 1.1"): the [`BookingApi`] capability (what the pool can still give, a NIK's bookings,
//! cancelling and rescheduling one, a counter's arrivals) and its HTTPS implementation on
//! [`HttpCentral`]. A separate capability from version 1's [`CentralApi`], because a
//! service may not have it: a `404` on its paths is [`ApiError::is_unsupported`], and the
//! kiosk then carries on without these features and says so to the technician.
//!
//! A cancel or a reschedule the service's rules refuse (`409` with a code) is not an
//! error but an answer, [`Changed::Refused`]: the applicant is told why.
//!
//! [`CentralApi`]: super::client::CentralApi

use std::future::Future;

use reqwest::Method;
use uuid::Uuid;

use super::client::{ApiError, HttpCentral};
use crate::protocol::central_v11::{
    ArrivalsRequest, ArrivalsResponse, AvailabilityResponse, CancelRequest, CancelResponse,
    ChangeRefusal, FindRequest, FindResponse, RescheduleRequest, RescheduleResponse,
};
use chrono::NaiveDate;

/// The answer to a cancel or a reschedule: done, or refused by the service's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed<T> {
    Done(T),
    Refused(ChangeRefusal),
}

/// What version 1.1 of the service does for the kiosk and the counter. One attempt per
/// call, as `CentralApi`'s.
pub trait BookingApi: Send + Sync {
    /// `GET /v1/availability`: the pool's numbers per open day of `from..=to`.
    fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = Result<AvailabilityResponse, ApiError>> + Send;

    /// `POST /v1/bookings/find`.
    fn find(
        &self,
        req: &FindRequest,
    ) -> impl Future<Output = Result<FindResponse, ApiError>> + Send;

    /// `POST /v1/registrations/{id}/cancel`.
    fn cancel(
        &self,
        registration_id: &Uuid,
        req: &CancelRequest,
    ) -> impl Future<Output = Result<Changed<CancelResponse>, ApiError>> + Send;

    /// `POST /v1/registrations/{id}/reschedule`.
    fn reschedule(
        &self,
        registration_id: &Uuid,
        req: &RescheduleRequest,
    ) -> impl Future<Output = Result<Changed<RescheduleResponse>, ApiError>> + Send;

    /// `POST /v1/arrivals`.
    fn arrivals(
        &self,
        req: &ArrivalsRequest,
    ) -> impl Future<Output = Result<ArrivalsResponse, ApiError>> + Send;
}

/// A `409` with a code is the rules' refusal; anything else stays an error.
fn changed<T>(answer: Result<T, ApiError>) -> Result<Changed<T>, ApiError> {
    match answer {
        Ok(done) => Ok(Changed::Done(done)),
        Err(ApiError::Permanent {
            status: 409, code, ..
        }) => Ok(Changed::Refused(ChangeRefusal::from_code(&code))),
        Err(e) => Err(e),
    }
}

/// `text` for a query string: unreserved characters as they are, the rest `%XX`.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl BookingApi for HttpCentral {
    async fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<AvailabilityResponse, ApiError> {
        let office = query_value(office_id);
        let path = format!("/v1/availability?office_id={office}&from={from}&to={to}");
        self.call::<(), _>(Method::GET, &path, true, None).await
    }

    async fn find(&self, req: &FindRequest) -> Result<FindResponse, ApiError> {
        self.call(Method::POST, "/v1/bookings/find", true, Some(req))
            .await
    }

    async fn cancel(
        &self,
        registration_id: &Uuid,
        req: &CancelRequest,
    ) -> Result<Changed<CancelResponse>, ApiError> {
        let path = format!("/v1/registrations/{}/cancel", registration_id.hyphenated());
        changed(self.call(Method::POST, &path, true, Some(req)).await)
    }

    async fn reschedule(
        &self,
        registration_id: &Uuid,
        req: &RescheduleRequest,
    ) -> Result<Changed<RescheduleResponse>, ApiError> {
        let path = format!(
            "/v1/registrations/{}/reschedule",
            registration_id.hyphenated()
        );
        changed(self.call(Method::POST, &path, true, Some(req)).await)
    }

    async fn arrivals(&self, req: &ArrivalsRequest) -> Result<ArrivalsResponse, ApiError> {
        self.call(Method::POST, "/v1/arrivals", true, Some(req))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_409_is_the_rules_answer_and_a_404_is_no_version_1_1() {
        let refusal = |status, code: &str| ApiError::Permanent {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(matches!(
            changed::<()>(Err(refusal(409, "too_late"))),
            Ok(Changed::Refused(ChangeRefusal::TooLate))
        ));
        let missing = changed::<()>(Err(refusal(404, "not_found")));
        assert!(
            missing.as_ref().is_err_and(ApiError::is_unsupported),
            "{missing:?}"
        );
        assert!(matches!(changed(Ok(7)), Ok(Changed::Done(7))));
        assert_eq!(query_value("KRM 2/&"), "KRM%202%2F%26");
    }
}
