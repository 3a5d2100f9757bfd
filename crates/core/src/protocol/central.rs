//! The central quota service's API, version 1 (`/work/shared/specs/central-api.md`), as
//! serde types: every endpoint's request and response body and the error body, plus the
//! two pure computations both ends must agree on (the NIK blocklist hash and the receipt
//! signature). Transport (HTTP, gzip, tokens, time-outs) belongs to `sync::client`; the
//! service's rules belong to `central_sim`.
//!
//! Choices where the spec is silent:
//! - Unknown JSON fields are ignored, and codes the service may add later (denial and
//!   rejection reasons, statuses, device states) parse into an `Other(String)` variant,
//!   so a newer service never breaks an older kiosk.
//! - Session times are written `HH:MM`, as in the spec's example; `HH:MM:SS` is read too.
//! - Absent `allocations`/`denied`/`upsert`/`remove` lists read as empty.
//! - A receipt is the service's Ed25519 signature over the UTF-8 bytes of the
//!   registration id in its hyphenated lower-case form, exactly as it appears in JSON.
//! - Applicant fields a kiosk may not know are written as JSON `null`, never left out.
//! - Debug output of anything holding personal data or secrets (applicant, enrollment
//!   code, token, NIK hash key) shows a masked NIK and `<redacted>` instead.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::{ApplicationType, PassportType, PriorityReason, QueueKind, Sex};

/// The spec's limit on one `POST /v1/registrations`.
pub const MAX_REGISTRATIONS_PER_UPLOAD: usize = 500;

/// Length in bytes of the blocklist hash prefix (`h`): 8 bytes, 16 hex digits.
pub const NIK_HASH_BYTES: usize = 8;

/// Declares a string code enum whose unknown values survive as `Other(String)`.
macro_rules! open_code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A code this kiosk does not know yet, kept as the service wrote it.
            Other(String),
        }

        impl $name {
            /// The code as it appears on the wire.
            pub fn code(&self) -> &str {
                match self {
                    $($name::$variant => $code,)+
                    $name::Other(code) => code,
                }
            }

            pub fn from_code(code: &str) -> $name {
                match code {
                    $($code => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = String::deserialize(d)?;
                Ok($name::from_code(&code))
            }
        }
    };
}

/// The other protocol modules declare their open codes with it too.
pub(crate) use open_code_enum;

open_code_enum!(
    /// Why a requested block of numbers was not granted.
    DenialReason {
        QuotaExhausted = "quota_exhausted",
        Closed = "closed",
        OutsideWindow = "outside_window",
    }
);

open_code_enum!(
    /// The outcome of one uploaded registration.
    RegistrationStatus {
        Accepted = "accepted",
        Rejected = "rejected",
    }
);

open_code_enum!(
    /// Why the service refused a registration.
    RejectionReason {
        /// Not known to Dukcapil.
        NikInvalid = "nik_invalid",
        /// The person already holds a booking not yet served.
        NikActiveBooking = "nik_active_booking",
        /// A registration of this NIK in the last 30 days.
        NikCooldown = "nik_cooldown",
        /// More than 5 from one KK in one group.
        FamilyLimit = "family_limit",
        UnknownAllocation = "unknown_allocation",
        NumberNotHeld = "number_not_held",
        Invalid = "invalid",
    }
);

open_code_enum!(
    /// The ticket printer's state as the heartbeat reports it.
    PrinterState {
        Ok = "ok",
        PaperNearEnd = "paper_near_end",
        PaperOut = "paper_out",
        CoverOpen = "cover_open",
        Offline = "offline",
        Error = "error",
    }
);

open_code_enum!(
    /// The card reader's state as the heartbeat reports it.
    ReaderState {
        Ok = "ok",
        SamMissing = "sam_missing",
        Disconnected = "disconnected",
        Error = "error",
    }
);

/// 32 bytes written as standard base64: public keys and the NIK hash key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key32(pub [u8; 32]);

impl fmt::Debug for Key32 {
    /// Public keys are not secret, but this type also carries the NIK hash key: a Debug
    /// line never shows key bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<32 bytes>)")
    }
}

impl Serialize for Key32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Key32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| serde::de::Error::custom("key is not standard base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("key is not 32 bytes"))?;
        Ok(Key32(bytes))
    }
}

/// The service's Ed25519 signature over a registration id, standard base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Receipt(pub [u8; 64]);

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Receipt({}…)", &B64.encode(&self.0[..6]))
    }
}

impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| serde::de::Error::custom("receipt is not standard base64"))?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("receipt is not 64 bytes"))?;
        Ok(Receipt(bytes))
    }
}

/// The bytes a receipt signs: the registration id as written in JSON.
pub fn receipt_message(registration_id: &Uuid) -> String {
    registration_id.hyphenated().to_string()
}

/// Whether `receipt` is the service's signature over `registration_id`.
pub fn verify_receipt(service_key: &Key32, registration_id: &Uuid, receipt: &Receipt) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&service_key.0) else {
        return false;
    };
    let signature = Signature::from_bytes(&receipt.0);
    key.verify(receipt_message(registration_id).as_bytes(), &signature)
        .is_ok()
}

/// A blocklist entry's `h`: HMAC-SHA256 with the kiosk's NIK hash key over the NIK's
/// ASCII digits, cut to its first 8 bytes, lower-case hex.
pub fn nik_hash(nik_hash_key: &Key32, nik: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail for 32 bytes; the fallback
    // keeps the function total without a panic path.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&nik_hash_key.0) else {
        return String::new();
    };
    mac.update(nik.as_bytes());
    let digest = mac.finalize().into_bytes();
    digest[..NIK_HASH_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `HH:MM` session times.
mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("session time is not HH:MM"))
    }
}

/// The error body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `snake_case`, e.g. `invalid_code`.
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

// ---- POST /v1/enroll ----

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time code from the central office, e.g. `7K2M-9QXD`.
    pub code: String,
    /// The kiosk's Ed25519 public key, which signs ticket QR payloads.
    pub public_key: Key32,
    pub software_version: String,
}

impl fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("code", &"<redacted>")
            .field("software_version", &self.software_version)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub kiosk_id: String,
    /// The bearer token for every later request. Secret.
    pub token: String,
    pub office_ids: Vec<String>,
    /// The key of the blocklist's NIK hashes. Secret.
    pub nik_hash_key: Key32,
}

impl fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("kiosk_id", &self.kiosk_id)
            .field("token", &"<redacted>")
            .field("office_ids", &self.office_ids)
            .field("nik_hash_key", &"<redacted>")
            .finish()
    }
}

// ---- GET /v1/offices ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficesResponse {
    pub offices: Vec<Office>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Office {
    pub office_id: String,
    pub name: String,
    pub province_code: String,
    /// `Asia/Jakarta`, `Asia/Makassar` or `Asia/Jayapura`: decides what "today" is.
    pub time_zone: String,
    /// ISO weekdays, 1 = Monday .. 7 = Sunday.
    pub working_days: Vec<u8>,
    pub sessions: Vec<Session>,
    pub booking_window_days: u32,
    #[serde(default)]
    pub closed_dates: Vec<NaiveDate>,
}

impl Office {
    /// The office's UTC offset, when its zone is one of Indonesia's three.
    pub fn utc_offset(&self) -> Option<FixedOffset> {
        utc_offset_of(&self.time_zone)
    }
}

/// Indonesia's three zones have kept fixed offsets with no daylight saving since 1988,
/// so a table serves where a time-zone database would be overkill.
pub fn utc_offset_of(time_zone: &str) -> Option<FixedOffset> {
    let hours = match time_zone {
        "Asia/Jakarta" | "Asia/Pontianak" => 7,
        "Asia/Makassar" => 8,
        "Asia/Jayapura" => 9,
        _ => return None,
    };
    FixedOffset::east_opt(hours * 3600)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

// ---- POST /v1/allocations ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationsRequest {
    pub requests: Vec<AllocationAsk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationAsk {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AllocationsResponse {
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    #[serde(default)]
    pub denied: Vec<Denial>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Opaque to the kiosk (`a-7f3c` in the spec): not a UUID.
    pub allocation_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub numbers: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub reason: DenialReason,
}

// ---- POST /v1/allocations/release ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub releases: Vec<Release>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub allocation_id: String,
    pub numbers: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResponse {
    /// Only the numbers this call freed: repeats and booked numbers do not count.
    pub released: u32,
}

// ---- POST /v1/registrations ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationsRequest {
    pub registrations: Vec<Registration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Made by the kiosk (UUID v7) when the applicant confirms; the idempotency key.
    pub registration_id: Uuid,
    pub allocation_id: String,
    pub queue_number: u32,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    /// One kiosk session: the family-limit rule counts within it.
    pub group_id: Uuid,
    pub application_type: ApplicationType,
    pub passport_type: PassportType,
    /// Written as `null` for a regular applicant.
    pub priority_reason: Option<PriorityReason>,
    pub applicant: Applicant,
    /// When the applicant confirmed, in the kiosk's offset: decides which of two
    /// bookings of one NIK stands.
    pub created_at: DateTime<FixedOffset>,
    /// The printed ticket's QR payload (`APM1.…`), so the counter can match it.
    pub ticket: String,
}

/// The person booked. Personal data: its Debug shows only a masked NIK.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub nik: String,
    /// Unknown for an adult read from a KTP, which does not carry it.
    pub kk_number: Option<String>,
    pub name: Option<String>,
    pub birth_place: Option<String>,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub address: Option<String>,
    pub phone: Option<String>,
}

impl fmt::Debug for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applicant")
            .field("nik", &crate::domain::nik::mask(&self.nik))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationsResponse {
    pub results: Vec<RegistrationResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationResult {
    pub registration_id: Uuid,
    pub status: RegistrationStatus,
    /// Set when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectionReason>,
    /// Set when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl RegistrationResult {
    pub fn accepted(registration_id: Uuid, receipt: Receipt) -> RegistrationResult {
        RegistrationResult {
            registration_id,
            status: RegistrationStatus::Accepted,
            reason: None,
            receipt: Some(receipt),
        }
    }

    pub fn rejected(registration_id: Uuid, reason: RejectionReason) -> RegistrationResult {
        RegistrationResult {
            registration_id,
            status: RegistrationStatus::Rejected,
            reason: Some(reason),
            receipt: None,
        }
    }
}

// ---- GET /v1/nik-blocklist ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocklistResponse {
    /// Pass as `since` next time.
    pub version: u64,
    /// The kiosk replaces its whole list rather than applying a change.
    pub full: bool,
    #[serde(default)]
    pub upsert: Vec<BlocklistEntry>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlocklistEntry {
    /// [`nik_hash`] of the NIK.
    pub h: String,
    /// The last date the NIK stays blocked; the kiosk drops the entry after it.
    pub until: NaiveDate,
}

// ---- POST /v1/heartbeat ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub software_version: String,
    pub uptime_s: u64,
    pub printer: PrinterState,
    pub card_reader: ReaderState,
    /// Registrations kept locally and not yet answered by the service.
    pub unsynced: u32,
    /// `null` when nothing waits.
    pub oldest_unsynced_at: Option<DateTime<FixedOffset>>,
    pub held_numbers: u32,
    pub out_of_service: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub server_time: DateTime<FixedOffset>,
}

// ---- GET /v1/kiosk-keys ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KioskKeysResponse {
    pub keys: Vec<KioskKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KioskKey {
    pub kiosk_id: String,
    pub public_key: Key32,
    #[serde(default)]
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use serde::de::DeserializeOwned;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(value: &T) {
        let json = serde_json::to_string(value).expect("serialises");
        let back: T = serde_json::from_str(&json).expect("parses what we wrote");
        assert_eq!(&back, value, "round trip through {json}");
    }

    fn parse<T: DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("spec example parses: {e}\n{json}"))
    }

    fn registration_example() -> String {
        r#"{"registrations": [{
          "registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33",
          "allocation_id": "a-7f3c", "queue_number": 21,
          "office_id": "KRM", "date": "2026-11-24", "session_id": "S1", "kind": "regular",
          "group_id": "0193a4f2-6c1a-7000-8000-1b2c3d4e5f60",
          "application_type": "new",
          "passport_type": "regular_48",
          "priority_reason": null,
          "applicant": {"nik": "2102015708900003", "kk_number": "2102011203150007",
                        "name": "SITI AMINAH", "birth_place": "KARIMUN", "birth_date": "1990-08-17",
                        "sex": "P", "address": "JL. NUSANTARA NO. 12", "phone": "+6281234567890"},
          "created_at": "2026-11-22T09:14:03+07:00",
          "ticket": "APM1.eyJ....<signature>"
        }]}"#
            .to_owned()
    }

    #[test]
    fn spec_examples_parse_and_round_trip() {
        let enroll_req: EnrollRequest = parse(&format!(
            r#"{{"code": "7K2M-9QXD", "public_key": "{KEY_B64}", "software_version": "0.3.1"}}"#
        ));
        assert_eq!(enroll_req.public_key.0[31], 31);
        round_trip(&enroll_req);

        let enroll: EnrollResponse = parse(&format!(
            r#"{{"kiosk_id": "KRM-02", "token": "t0k", "office_ids": ["KRM"], "nik_hash_key": "{KEY_B64}"}}"#
        ));
        assert_eq!(enroll.office_ids, ["KRM"]);
        round_trip(&enroll);

        let offices: OfficesResponse = parse(
            r#"{"offices": [{
              "office_id": "KRM",
              "name": "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun",
              "province_code": "21",
              "time_zone": "Asia/Jakarta",
              "working_days": [1, 2, 3, 4, 5],
              "sessions": [{"session_id": "S1", "start": "08:00", "end": "10:00"},
                           {"session_id": "S2", "start": "10:00", "end": "12:00"},
                           {"session_id": "S3", "start": "13:00", "end": "15:00"}],
              "booking_window_days": 30,
              "closed_dates": ["2026-12-25", "2026-12-26"]
            }]}"#,
        );
        let krm = &offices.offices[0];
        assert_eq!(
            krm.sessions[2].start,
            NaiveTime::from_hms_opt(13, 0, 0).expect("time")
        );
        assert_eq!(krm.utc_offset(), FixedOffset::east_opt(7 * 3600));
        round_trip(&offices);
        let written = serde_json::to_string(&offices).expect("serialises");
        assert!(written.contains(r#""start":"08:00""#), "{written}");

        let alloc_req: AllocationsRequest = parse(
            r#"{"requests": [{"office_id": "KRM", "date": "2026-11-24", "session_id": "S1", "kind": "regular", "count": 10}]}"#,
        );
        assert_eq!(alloc_req.requests[0].kind, QueueKind::Regular);
        round_trip(&alloc_req);

        let alloc: AllocationsResponse = parse(
            r#"{"allocations": [{"allocation_id": "a-7f3c", "office_id": "KRM", "date": "2026-11-24",
                  "session_id": "S1", "kind": "regular", "numbers": [21, 22, 23, 24]}],
                "denied": [{"office_id": "KRM", "date": "2026-11-25", "session_id": "S1",
                  "kind": "regular", "reason": "quota_exhausted"}]}"#,
        );
        assert_eq!(alloc.allocations[0].numbers, [21, 22, 23, 24]);
        assert_eq!(alloc.denied[0].reason, DenialReason::QuotaExhausted);
        round_trip(&alloc);

        let release: ReleaseRequest =
            parse(r#"{"releases": [{"allocation_id": "a-7f3c", "numbers": [23, 24]}]}"#);
        round_trip(&release);
        let released: ReleaseResponse = parse(r#"{"released": 2}"#);
        assert_eq!(released.released, 2);

        let regs: RegistrationsRequest = parse(&registration_example());
        let reg = &regs.registrations[0];
        assert_eq!(reg.passport_type, PassportType::Regular48);
        assert_eq!(reg.priority_reason, None);
        assert_eq!(reg.applicant.sex, Sex::Female);
        assert_eq!(reg.created_at.offset().local_minus_utc(), 7 * 3600);
        round_trip(&regs);

        let zero_sig = B64.encode([0u8; 64]);
        let results: RegistrationsResponse = parse(&format!(
            r#"{{"results": [{{"registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33", "status": "accepted",
                  "receipt": "{zero_sig}"}},
                 {{"registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b34", "status": "rejected",
                  "reason": "nik_active_booking"}}]}}"#,
        ));
        assert_eq!(results.results[0].status, RegistrationStatus::Accepted);
        assert_eq!(
            results.results[1].reason,
            Some(RejectionReason::NikActiveBooking)
        );
        round_trip(&results);

        let block: BlocklistResponse = parse(
            r#"{"version": 1842, "full": false,
                "upsert": [{"h": "9f2c4a1b0e7d3c55", "until": "2026-12-21"}],
                "remove": ["1a2b3c4d5e6f7081"]}"#,
        );
        assert_eq!(block.version, 1842);
        round_trip(&block);

        let beat: HeartbeatRequest = parse(
            r#"{"software_version": "0.3.1", "uptime_s": 86400,
                "printer": "ok", "card_reader": "ok",
                "unsynced": 3, "oldest_unsynced_at": "2026-11-22T08:01:00+07:00",
                "held_numbers": 42, "out_of_service": false}"#,
        );
        assert_eq!(beat.printer, PrinterState::Ok);
        round_trip(&beat);
        let time: HeartbeatResponse = parse(r#"{"server_time": "2026-11-22T09:15:00+07:00"}"#);
        round_trip(&time);

        let keys: KioskKeysResponse = parse(&format!(
            r#"{{"keys": [{{"kiosk_id": "KRM-02", "public_key": "{KEY_B64}", "revoked": false}}]}}"#
        ));
        round_trip(&keys);

        let error: ErrorBody =
            parse(r#"{"error": {"code": "invalid_code", "message": "code used"}}"#);
        assert_eq!(error.error.code, "invalid_code");
        round_trip(&error);
    }

    #[test]
    fn codes_added_later_do_not_break_parsing() {
        type CodeOf = fn(&str) -> String;
        let cases: [(&str, CodeOf); 4] = [
            (r#""duplicate_passport""#, |j| {
                serde_json::from_str::<RejectionReason>(j)
                    .map(|r| r.code().to_owned())
                    .unwrap_or_default()
            }),
            (r#""office_suspended""#, |j| {
                serde_json::from_str::<DenialReason>(j)
                    .map(|r| r.code().to_owned())
                    .unwrap_or_default()
            }),
            (r#""pending_review""#, |j| {
                serde_json::from_str::<RegistrationStatus>(j)
                    .map(|r| r.code().to_owned())
                    .unwrap_or_default()
            }),
            (r#""jammed""#, |j| {
                serde_json::from_str::<PrinterState>(j)
                    .map(|r| r.code().to_owned())
                    .unwrap_or_default()
            }),
        ];
        for (json, parse) in cases {
            assert_eq!(format!("\"{}\"", parse(json)), json);
        }
        let known = [
            ("nik_invalid", RejectionReason::NikInvalid),
            ("nik_cooldown", RejectionReason::NikCooldown),
            ("family_limit", RejectionReason::FamilyLimit),
            ("unknown_allocation", RejectionReason::UnknownAllocation),
            ("number_not_held", RejectionReason::NumberNotHeld),
            ("invalid", RejectionReason::Invalid),
        ];
        for (code, want) in known {
            assert_eq!(RejectionReason::from_code(code), want);
            assert_eq!(want.code(), code);
        }
        // A result with fields the kiosk does not know yet still parses.
        let r: RegistrationResult = parse(
            r#"{"registration_id": "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33", "status": "rejected",
                "reason": "nik_invalid", "detail": {"x": 1}}"#,
        );
        assert_eq!(r.reason, Some(RejectionReason::NikInvalid));
    }

    #[test]
    fn unknown_applicant_fields_are_written_as_null() {
        let mut regs: RegistrationsRequest = parse(&registration_example());
        let applicant = &mut regs.registrations[0].applicant;
        applicant.kk_number = None;
        applicant.name = None;
        applicant.birth_place = None;
        applicant.address = None;
        applicant.phone = None;
        let json = serde_json::to_value(&regs.registrations[0].applicant).expect("serialises");
        for field in ["kk_number", "name", "birth_place", "address", "phone"] {
            assert_eq!(json.get(field), Some(&serde_json::Value::Null), "{field}");
        }
        round_trip(&regs);
    }

    #[test]
    fn debug_output_holds_no_personal_data_or_secrets() {
        let regs: RegistrationsRequest = parse(&registration_example());
        let debug = format!("{regs:?}");
        for secret in [
            "2102015708900003",
            "SITI",
            "KARIMUN",
            "NUSANTARA",
            "81234567890",
            "2102011203150007",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(debug.contains("2102********0003"), "{debug}");

        let enroll: EnrollResponse = parse(&format!(
            r#"{{"kiosk_id": "KRM-02", "token": "s3cr3t-token", "office_ids": ["KRM"], "nik_hash_key": "{KEY_B64}"}}"#
        ));
        let debug = format!("{enroll:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains(KEY_B64),
            "{debug}"
        );
        let req = EnrollRequest {
            code: "7K2M-9QXD".into(),
            public_key: Key32([1; 32]),
            software_version: "0.3.1".into(),
        };
        assert!(!format!("{req:?}").contains("7K2M"));
    }

    #[test]
    fn malformed_keys_and_times_are_refused() {
        let cases = [
            r#"{"code": "x", "public_key": "AAEC", "software_version": "1"}"#,
            r#"{"code": "x", "public_key": "not base64!", "software_version": "1"}"#,
            r#"{"code": "x", "software_version": "1"}"#,
        ];
        for json in cases {
            assert!(
                serde_json::from_str::<EnrollRequest>(json).is_err(),
                "{json}"
            );
        }
        assert!(
            serde_json::from_str::<Session>(
                r#"{"session_id": "S1", "start": "8am", "end": "10:00"}"#
            )
            .is_err()
        );
        let s: Session = parse(r#"{"session_id": "S1", "start": "08:00:00", "end": "10:00"}"#);
        assert_eq!(s.start, NaiveTime::from_hms_opt(8, 0, 0).expect("time"));
    }

    #[test]
    fn receipts_verify_only_for_their_registration() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let service = Key32(key.verifying_key().to_bytes());
        let id = Uuid::parse_str("0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33").expect("uuid");
        let other = Uuid::parse_str("0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b34").expect("uuid");
        let receipt = Receipt(key.sign(receipt_message(&id).as_bytes()).to_bytes());
        assert!(verify_receipt(&service, &id, &receipt));
        assert!(!verify_receipt(&service, &other, &receipt));
        assert!(!verify_receipt(&Key32([9; 32]), &id, &receipt));
    }

    #[test]
    fn nik_hashes_are_hmac_sha256_prefixes() {
        // Known answer computed independently (Python's hmac module).
        let a = nik_hash(&Key32([1; 32]), "2102015708900003");
        assert_eq!(a, "2abe93c8ff29de06");
        let b = nik_hash(&Key32([2; 32]), "2102015708900003");
        let c = nik_hash(&Key32([1; 32]), "2102015708900004");
        assert_eq!(a.len(), 16);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, nik_hash(&Key32([1; 32]), "2102015708900003"));
    }
}
