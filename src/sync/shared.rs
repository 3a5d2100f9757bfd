//! [`SharedCentral`]: a [`CentralApi`] and [`BookingApi`] chosen at run time, as the
//! daemon's parts hold it (the HTTPS client on a kiosk, a fake in memory in a test).
//! Both traits return `impl Future` and so cannot be trait objects themselves;
//! [`DynCentral`] is the same calls with boxed futures, which every part with both
//! capabilities is, and a `SharedCentral` is both again, so the sync loop and the
//! maintenance side take either. (A service without version 1.1 is still such a part:
//! its client answers `404` on those calls, `ApiError::is_unsupported`.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::NaiveDate;
use uuid::Uuid;

use super::bookings::{BookingApi, Changed};
use super::client::{ApiError, CentralApi, OfficesAnswer, UploadAnswer};
use crate::protocol::central::{
    AllocationsRequest, AllocationsResponse, BlocklistResponse, EnrollRequest, EnrollResponse,
    HeartbeatRequest, HeartbeatResponse, KioskKeysResponse, RegistrationsRequest, ReleaseRequest,
    ReleaseResponse,
};
use crate::protocol::central_v11::{
    ArrivalsRequest, ArrivalsResponse, AvailabilityResponse, CancelRequest, CancelResponse,
    FindRequest, FindResponse, RescheduleRequest, RescheduleResponse,
};

/// A central service call in flight.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// [`CentralApi`] and [`BookingApi`] as a trait object: the same calls, futures boxed.
pub trait DynCentral: Send + Sync {
    fn enroll_call<'a>(&'a self, req: &'a EnrollRequest) -> Call<'a, EnrollResponse>;
    fn offices_call<'a>(&'a self, etag: Option<&'a str>) -> Call<'a, OfficesAnswer>;
    fn allocate_call<'a>(&'a self, req: &'a AllocationsRequest) -> Call<'a, AllocationsResponse>;
    fn release_call<'a>(&'a self, req: &'a ReleaseRequest) -> Call<'a, ReleaseResponse>;
    fn upload_call<'a>(&'a self, req: &'a RegistrationsRequest) -> Call<'a, UploadAnswer>;
    fn heartbeat_call<'a>(&'a self, req: &'a HeartbeatRequest) -> Call<'a, HeartbeatResponse>;
    fn blocklist_call(&self, since: u64) -> Call<'_, BlocklistResponse>;
    fn kiosk_keys_call(&self) -> Call<'_, KioskKeysResponse>;
    fn availability_call<'a>(
        &'a self,
        office_id: &'a str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Call<'a, AvailabilityResponse>;
    fn find_call<'a>(&'a self, req: &'a FindRequest) -> Call<'a, FindResponse>;
    fn cancel_call<'a>(
        &'a self,
        id: &'a Uuid,
        req: &'a CancelRequest,
    ) -> Call<'a, Changed<CancelResponse>>;
    fn reschedule_call<'a>(
        &'a self,
        id: &'a Uuid,
        req: &'a RescheduleRequest,
    ) -> Call<'a, Changed<RescheduleResponse>>;
    fn arrivals_call<'a>(&'a self, req: &'a ArrivalsRequest) -> Call<'a, ArrivalsResponse>;
}

impl<C: CentralApi + BookingApi> DynCentral for C {
    fn enroll_call<'a>(&'a self, req: &'a EnrollRequest) -> Call<'a, EnrollResponse> {
        Box::pin(self.enroll(req))
    }
    fn offices_call<'a>(&'a self, etag: Option<&'a str>) -> Call<'a, OfficesAnswer> {
        Box::pin(self.offices(etag))
    }
    fn allocate_call<'a>(&'a self, req: &'a AllocationsRequest) -> Call<'a, AllocationsResponse> {
        Box::pin(self.allocate(req))
    }
    fn release_call<'a>(&'a self, req: &'a ReleaseRequest) -> Call<'a, ReleaseResponse> {
        Box::pin(self.release(req))
    }
    fn upload_call<'a>(&'a self, req: &'a RegistrationsRequest) -> Call<'a, UploadAnswer> {
        Box::pin(self.upload(req))
    }
    fn heartbeat_call<'a>(&'a self, req: &'a HeartbeatRequest) -> Call<'a, HeartbeatResponse> {
        Box::pin(self.heartbeat(req))
    }
    fn blocklist_call(&self, since: u64) -> Call<'_, BlocklistResponse> {
        Box::pin(self.blocklist(since))
    }
    fn kiosk_keys_call(&self) -> Call<'_, KioskKeysResponse> {
        Box::pin(self.kiosk_keys())
    }
    fn availability_call<'a>(
        &'a self,
        office_id: &'a str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Call<'a, AvailabilityResponse> {
        Box::pin(self.availability(office_id, from, to))
    }
    fn find_call<'a>(&'a self, req: &'a FindRequest) -> Call<'a, FindResponse> {
        Box::pin(self.find(req))
    }
    fn cancel_call<'a>(
        &'a self,
        id: &'a Uuid,
        req: &'a CancelRequest,
    ) -> Call<'a, Changed<CancelResponse>> {
        Box::pin(self.cancel(id, req))
    }
    fn reschedule_call<'a>(
        &'a self,
        id: &'a Uuid,
        req: &'a RescheduleRequest,
    ) -> Call<'a, Changed<RescheduleResponse>> {
        Box::pin(self.reschedule(id, req))
    }
    fn arrivals_call<'a>(&'a self, req: &'a ArrivalsRequest) -> Call<'a, ArrivalsResponse> {
        Box::pin(self.arrivals(req))
    }
}

/// The central service's client, made when it is needed: `None` for the enrollment
/// (the only call without a token), the kiosk's token for the rest.
pub type CentralOpener =
    Arc<dyn Fn(Option<String>) -> Result<SharedCentral, ApiError> + Send + Sync>;

/// The HTTPS client of the service `central` names, made for each token asked for.
pub fn http_opener(central: crate::config::CentralConfig) -> CentralOpener {
    Arc::new(move |token| {
        super::client::HttpCentral::from_config(&central, token).map(SharedCentral::new)
    })
}

/// The central service as the daemon's parts hold it. (Each call is awaited in an
/// `async fn`: it borrows both `self` and the request, and its future names both
/// lifetimes where a boxed future can name only one.)
#[derive(Clone)]
pub struct SharedCentral(Arc<dyn DynCentral>);

impl SharedCentral {
    pub fn new(api: impl CentralApi + BookingApi + 'static) -> SharedCentral {
        SharedCentral(Arc::new(api))
    }
}

impl std::fmt::Debug for SharedCentral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCentral")
    }
}

impl CentralApi for SharedCentral {
    async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ApiError> {
        self.0.enroll_call(req).await
    }
    async fn offices(&self, etag: Option<&str>) -> Result<OfficesAnswer, ApiError> {
        self.0.offices_call(etag).await
    }
    async fn allocate(&self, req: &AllocationsRequest) -> Result<AllocationsResponse, ApiError> {
        self.0.allocate_call(req).await
    }
    async fn release(&self, req: &ReleaseRequest) -> Result<ReleaseResponse, ApiError> {
        self.0.release_call(req).await
    }
    async fn upload(&self, req: &RegistrationsRequest) -> Result<UploadAnswer, ApiError> {
        self.0.upload_call(req).await
    }
    async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        self.0.heartbeat_call(req).await
    }
    async fn blocklist(&self, since: u64) -> Result<BlocklistResponse, ApiError> {
        self.0.blocklist_call(since).await
    }
    async fn kiosk_keys(&self) -> Result<KioskKeysResponse, ApiError> {
        self.0.kiosk_keys_call().await
    }
}

impl BookingApi for SharedCentral {
    async fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<AvailabilityResponse, ApiError> {
        self.0.availability_call(office_id, from, to).await
    }
    async fn find(&self, req: &FindRequest) -> Result<FindResponse, ApiError> {
        self.0.find_call(req).await
    }
    async fn cancel(
        &self,
        registration_id: &Uuid,
        req: &CancelRequest,
    ) -> Result<Changed<CancelResponse>, ApiError> {
        self.0.cancel_call(registration_id, req).await
    }
    async fn reschedule(
        &self,
        registration_id: &Uuid,
        req: &RescheduleRequest,
    ) -> Result<Changed<RescheduleResponse>, ApiError> {
        self.0.reschedule_call(registration_id, req).await
    }
    async fn arrivals(&self, req: &ArrivalsRequest) -> Result<ArrivalsResponse, ApiError> {
        self.0.arrivals_call(req).await
    }
}
