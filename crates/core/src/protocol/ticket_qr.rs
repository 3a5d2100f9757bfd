//! The signed payload in a queue ticket's QR code, version 2 (spec: ticket-qr.md):
//! `APM2.<base64url claims JSON>.<base64url Ed25519 signature>`, both without padding.
//! An officer's checker verifies it offline against the issuing kiosk's public key, the
//! service's NIK hash key and the NIK on the KTP in hand.
//!
//! Only version 2 is issued: its NIK check `n` is keyed, so a ticket's finder cannot try
//! the few million NIKs its masked NIK leaves open. Version 1 (`APM1.`, the same claims
//! with an unkeyed `n`) is still accepted until its visit date has passed, so tickets
//! printed before the change stay good for the visit they were made for.
//!
//! Pure: builds, signs, splits and checks payloads; "today" comes from the caller. Where
//! the kiosk's key lives (`identity`), how the QR is drawn (`protocol::escpos`) and where
//! the list of kiosk keys comes from (`sync`, or a file for the `ticket verify` command
//! in `identity`) belong to others.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::protocol::central::Key32;

/// The prefix of the payloads the kiosk issues, with the separator that follows it.
pub const PREFIX: &str = "APM2.";

/// The longest payload accepted. A payload is about 290 characters; anything far
/// longer is not one, and refusing it early bounds the work done on hostile input.
pub const MAX_PAYLOAD_LEN: usize = 1024;

/// How many bytes of the digest `n` keeps: 16 hex digits.
const NIK_CHECK_BYTES: usize = 8;

/// The versions of the payload a checker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `APM1.`: `n` is unkeyed SHA-256. No longer issued; accepted until the visit date.
    Apm1,
    /// `APM2.`: `n` is HMAC-SHA256 under the service's NIK hash key. The one issued.
    Apm2,
}

impl Version {
    /// Every version, newest first.
    pub const ALL: [Version; 2] = [Version::Apm2, Version::Apm1];

    /// The payload's prefix, with the separator that follows it.
    pub fn prefix(self) -> &'static str {
        match self {
            Version::Apm1 => "APM1.",
            Version::Apm2 => PREFIX,
        }
    }

    /// The name an officer reads: `APM1`, `APM2`.
    pub fn label(self) -> &'static str {
        match self {
            Version::Apm1 => "APM1",
            Version::Apm2 => "APM2",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The claims a ticket carries, in the spec's order: serde writes fields in declaration
/// order, and that order is what the signature covers. Both versions carry the same
/// claims; only how `n` is made differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Registration id (UUID v7, as text).
    pub r: String,
    /// Issuing kiosk's id, the key to look its public key up by.
    pub k: String,
    /// Office id.
    pub o: String,
    /// Date of the visit, `YYYY-MM-DD` in the office's time zone.
    pub d: NaiveDate,
    /// Session id.
    pub s: String,
    /// Queue number as printed (`R-021`).
    pub q: String,
    /// NIK check, [`nik_check`] of `r` and the applicant's NIK: ties the ticket to a
    /// KTP without putting the NIK in the QR.
    pub n: String,
    /// Issued at, Unix seconds.
    pub t: i64,
}

/// What the checker knows about a kiosk id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    Known(VerifyingKey),
    /// Its key was withdrawn (a stolen or retired kiosk): its tickets are refused.
    Revoked,
    Unknown,
}

/// What a check needs besides the payload and the NIK.
pub struct Checker<'a> {
    /// The issuing kiosks' public keys, by kiosk id.
    pub keys: &'a dyn Fn(&str) -> KeyLookup,
    /// The service's NIK hash key. Without it an `APM2` ticket cannot be tied to a NIK
    /// and is refused ([`QrError::NoNikHashKey`]); `APM1` tickets need none.
    pub nik_hash_key: Option<&'a Key32>,
    /// Today where the ticket is checked, in the office's time zone: an `APM1` ticket
    /// is accepted up to and including its visit date.
    pub today: NaiveDate,
}

/// A ticket that passed every check: the version it was written in and its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub version: Version,
    pub claims: Claims,
}

/// A payload split into its parts, its form checked but not its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub version: Version,
    pub claims: Claims,
    /// The exact claims bytes the signature covers.
    pub bytes: Vec<u8>,
    pub signature: Signature,
}

/// Why a payload was refused. Never carries the NIK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("malformed ticket QR: {0}")]
    Malformed(Malformed),
    #[error("ticket from an unknown kiosk {kiosk_id:?}")]
    UnknownKiosk { kiosk_id: String },
    #[error("ticket from revoked kiosk {kiosk_id:?}")]
    RevokedKiosk { kiosk_id: String },
    /// Forged, altered after signing, or signed by another key.
    #[error("bad signature: the ticket was not issued by kiosk {kiosk_id:?} or was altered")]
    BadSignature { kiosk_id: String },
    /// An `APM1` ticket after its visit date: the unkeyed format is retired.
    #[error("an APM1 ticket is accepted only until its visit date ({date}), which has passed")]
    Apm1Expired { date: NaiveDate },
    /// An `APM2` ticket and a checker without the service's NIK hash key.
    #[error("an APM2 ticket's NIK can only be checked with the service's NIK hash key")]
    NoNikHashKey,
    #[error("the ticket belongs to another NIK")]
    WrongNik,
}

/// What exactly is wrong with a malformed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    /// Starts with neither `APM2.` nor `APM1.`.
    UnknownVersion,
    /// Not exactly two parts after the prefix.
    Parts,
    ClaimsEncoding,
    ClaimsJson,
    SignatureEncoding,
    SignatureLength,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::TooLong => "longer than any ticket payload",
            Malformed::UnknownVersion => "does not start with APM2. or APM1.",
            Malformed::Parts => "expected APM2.<claims>.<signature>",
            Malformed::ClaimsEncoding => "claims are not unpadded base64url",
            Malformed::ClaimsJson => "claims are not the ticket's JSON object",
            Malformed::SignatureEncoding => "signature is not unpadded base64url",
            Malformed::SignatureLength => "signature is not 64 bytes",
        })
    }
}

/// The `n` of an `APM2` ticket: the first 16 hex digits (8 bytes) of HMAC-SHA256 under
/// the service's `nik_hash_key` over `registration_id + ":" + nik`, lower case.
pub fn nik_check(nik_hash_key: &Key32, registration_id: &str, nik: &str) -> String {
    // HMAC takes a key of any length, so 32 bytes never fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&nik_hash_key.0) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(registration_id.as_bytes());
    mac.update(b":");
    mac.update(nik.as_bytes());
    hex(&mac.finalize().into_bytes()[..NIK_CHECK_BYTES])
}

/// The `n` of an `APM1` ticket: the first 16 hex digits of SHA-256 over
/// `registration_id + ":" + nik`, with no key. Only to check old tickets; never issued.
pub fn nik_check_v1(registration_id: &str, nik: &str) -> String {
    let mut h = Sha256::new();
    h.update(registration_id.as_bytes());
    h.update(b":");
    h.update(nik.as_bytes());
    hex(&h.finalize()[..NIK_CHECK_BYTES])
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The claims' JSON exactly as it is signed: compact, fields in the spec's order.
pub fn claims_json(claims: &Claims) -> Vec<u8> {
    // Strings, a date written through Display and an integer, into a Vec: serde_json
    // has no failure path for these.
    serde_json::to_vec(claims).expect("claims of strings, a date and an integer serialise")
}

/// The `APM2` QR payload for `claims`, signed by `key`. `claims.n` must be the keyed
/// [`nik_check`]; the signature covers the claims, not the prefix.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let bytes = claims_json(claims);
    let signature = key.sign(&bytes);
    format!(
        "{PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Splits a payload of either version into its parts. Checks the form only, not the
/// signature.
pub fn decode(payload: &str) -> Result<Decoded, QrError> {
    let bad = QrError::Malformed;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(bad(Malformed::TooLong));
    }
    let (version, rest) = Version::ALL
        .into_iter()
        .find_map(|v| payload.strip_prefix(v.prefix()).map(|rest| (v, rest)))
        .ok_or(bad(Malformed::UnknownVersion))?;
    let (claims_b64, sig_b64) = rest.split_once('.').ok_or(bad(Malformed::Parts))?;
    if sig_b64.contains('.') {
        return Err(bad(Malformed::Parts));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| bad(Malformed::ClaimsEncoding))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| bad(Malformed::SignatureEncoding))?;
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| bad(Malformed::SignatureLength))?;
    let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| bad(Malformed::ClaimsJson))?;
    Ok(Decoded {
        version,
        claims,
        bytes,
        signature: Signature::from_bytes(&sig),
    })
}

/// Checks a payload as the officer's checker does: well formed, issued by a known and
/// not revoked kiosk, signature good over the exact claims bytes, an `APM1` ticket not
/// past its visit date, and tied to `nik` by the version's NIK check. The signature is
/// checked first, so a forgery is reported as such.
///
/// The signature covers the claims, not the prefix: a payload relabelled to the other
/// version keeps a good signature but its `n` no longer matches, and is refused.
pub fn verify(payload: &str, nik: &str, checker: &Checker<'_>) -> Result<Verified, QrError> {
    let decoded = decode(payload)?;
    let claims = decoded.claims;
    let key = match (checker.keys)(&claims.k) {
        KeyLookup::Known(key) => key,
        KeyLookup::Revoked => {
            return Err(QrError::RevokedKiosk { kiosk_id: claims.k });
        }
        KeyLookup::Unknown => {
            return Err(QrError::UnknownKiosk { kiosk_id: claims.k });
        }
    };
    // Strict: refuses the malleable and small-order forms plain `verify` lets through.
    if key
        .verify_strict(&decoded.bytes, &decoded.signature)
        .is_err()
    {
        return Err(QrError::BadSignature { kiosk_id: claims.k });
    }
    let expected = match decoded.version {
        Version::Apm2 => {
            let nik_hash_key = checker.nik_hash_key.ok_or(QrError::NoNikHashKey)?;
            nik_check(nik_hash_key, &claims.r, nik)
        }
        Version::Apm1 if claims.d < checker.today => {
            return Err(QrError::Apm1Expired { date: claims.d });
        }
        Version::Apm1 => nik_check_v1(&claims.r, nik),
    };
    if expected != claims.n {
        return Err(QrError::WrongNik);
    }
    Ok(Verified {
        version: decoded.version,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIK: &str = "2102015708900003";
    const REG: &str = "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// The service's NIK hash key in these tests: the bytes 0 to 31.
    fn nik_hash_key() -> Key32 {
        Key32(std::array::from_fn(|i| i as u8))
    }

    fn visit_day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid date")
    }

    fn claims() -> Claims {
        Claims {
            n: nik_check(&nik_hash_key(), REG, NIK),
            r: REG.to_string(),
            k: "KRM-02".into(),
            o: "KRM".into(),
            d: visit_day(),
            s: "S1".into(),
            q: "R-021".into(),
            t: 1_795_838_043,
        }
    }

    /// The same ticket as version 1 made it, with the unkeyed `n`.
    fn claims_v1() -> Claims {
        Claims {
            n: nik_check_v1(REG, NIK),
            ..claims()
        }
    }

    /// A version 1 payload, as kiosks signed them before version 2.
    fn sign_v1(claims: &Claims, key: &SigningKey) -> String {
        sign(claims, key).replacen(PREFIX, Version::Apm1.prefix(), 1)
    }

    /// The kiosk KRM-02 signs with seed 7, KRM-03 is revoked, anything else unknown.
    fn lookup(kiosk_id: &str) -> KeyLookup {
        match kiosk_id {
            "KRM-02" => KeyLookup::Known(key(7).verifying_key()),
            "KRM-03" => KeyLookup::Revoked,
            _ => KeyLookup::Unknown,
        }
    }

    /// Checks with the test NIK hash key on `today`.
    fn check_on(payload: &str, nik: &str, today: NaiveDate) -> Result<Verified, QrError> {
        let nik_hash_key = nik_hash_key();
        let checker = Checker {
            keys: &lookup,
            nik_hash_key: Some(&nik_hash_key),
            today,
        };
        verify(payload, nik, &checker)
    }

    /// Checks on the day before the visit.
    fn check(payload: &str, nik: &str) -> Result<Verified, QrError> {
        check_on(payload, nik, visit_day().pred_opt().expect("a day before"))
    }

    fn verified(version: Version, claims: Claims) -> Result<Verified, QrError> {
        Ok(Verified { version, claims })
    }

    /// Re-encodes the claims part of `payload` after `edit`, keeping the signature and
    /// the version.
    fn with_claims_bytes(payload: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut d = decode(payload).expect("decodes");
        edit(&mut d.bytes);
        format!(
            "{}{}.{}",
            d.version.prefix(),
            URL_SAFE_NO_PAD.encode(&d.bytes),
            URL_SAFE_NO_PAD.encode(d.signature.to_bytes())
        )
    }

    #[test]
    fn claims_json_has_the_spec_order_and_no_nik() {
        let json = String::from_utf8(claims_json(&claims())).expect("utf-8");
        assert_eq!(
            json,
            r#"{"r":"0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33","k":"KRM-02","o":"KRM","d":"2026-11-24","s":"S1","q":"R-021","n":"f596168c80c1c725","t":1795838043}"#
        );
        assert!(!json.contains(NIK));
    }

    #[test]
    fn nik_check_vectors() {
        // Cross-checked with Python:
        // hmac.new(key, (id + ":" + nik).encode(), sha256).hexdigest()[:16].
        let counting = nik_hash_key();
        let cases = [
            (&counting, REG, NIK, "f596168c80c1c725"),
            (&counting, "r", "n", "196fbf6e159205dd"),
            (&counting, "", "", "8704396448d122aa"),
            (&Key32([0; 32]), REG, NIK, "8c8a4f427da4a0dd"),
            (&Key32([7; 32]), REG, NIK, "e88b6180db7770b4"),
        ];
        for (key, id, nik, want) in cases {
            assert_eq!(nik_check(key, id, nik), want, "{id}:{nik}");
        }
    }

    #[test]
    fn nik_check_v1_vectors() {
        // Cross-checked with `printf '%s' 'id:nik' | sha256sum | cut -c1-16`.
        let cases = [
            (REG, NIK, "f10732c2294f79de"),
            ("r", "n", "932084aa738ea000"),
            ("", "", "e7ac0786668e0ff0"),
        ];
        for (id, nik, want) in cases {
            assert_eq!(nik_check_v1(id, nik), want, "{id}:{nik}");
        }
    }

    #[test]
    fn known_vector() {
        // Ed25519 is deterministic: this payload was produced once and checked with an
        // independent implementation (Python `cryptography`) against seed [7; 32], its
        // `n` with Python's `hmac` under the key 0, 1, ..., 31.
        let want = "APM2.eyJyIjoiMDE5M2E0ZjItNmMxZS03YjRhLTlmMGUtMmQ1YzhlMWE3YjMzIiwiayI6IktSTS0wMiIsIm8iOiJLUk0iLCJkIjoiMjAyNi0xMS0yNCIsInMiOiJTMSIsInEiOiJSLTAyMSIsIm4iOiJmNTk2MTY4YzgwYzFjNzI1IiwidCI6MTc5NTgzODA0M30.Ccsc_2TEhWWRb6ME2wNboKrTfHYmwCIgylEnFg5oA6_RIuuSLWrC_0qAoXBI3Y6jCx4Cb_CImI0lS-bVe2gSCg";
        assert_eq!(sign(&claims(), &key(7)), want);
        assert_eq!(check(want, NIK), verified(Version::Apm2, claims()));
    }

    #[test]
    fn known_version_1_vector() {
        // Issued by the version 1 kiosks; checked the same way as `known_vector`.
        let v1 = "APM1.eyJyIjoiMDE5M2E0ZjItNmMxZS03YjRhLTlmMGUtMmQ1YzhlMWE3YjMzIiwiayI6IktSTS0wMiIsIm8iOiJLUk0iLCJkIjoiMjAyNi0xMS0yNCIsInMiOiJTMSIsInEiOiJSLTAyMSIsIm4iOiJmMTA3MzJjMjI5NGY3OWRlIiwidCI6MTc5NTgzODA0M30.ZHonhAitojiPv0LKHY9M6CWaAcBde86psgBisJ2e377SXuwcj4xMo-RNZtPPHPd7jDL_5GU53mdlQK8uSC76Bg";
        assert_eq!(sign_v1(&claims_v1(), &key(7)), v1);
        assert_eq!(check(v1, NIK), verified(Version::Apm1, claims_v1()));
    }

    #[test]
    fn a_signed_payload_is_version_2_and_round_trips() {
        let payload = sign(&claims(), &key(7));
        assert!(payload.starts_with("APM2."), "{payload}");
        assert!(!payload.contains('='), "no padding: {payload}");
        assert_eq!(check(&payload, NIK), verified(Version::Apm2, claims()));
        let d = decode(&payload).expect("decodes");
        assert_eq!(d.version, Version::Apm2);
        assert_eq!(d.claims, claims());
        assert_eq!(d.bytes, claims_json(&claims()));
        // Same claims but for `n`'s digits: both versions are the same length.
        assert_eq!(payload.len(), sign_v1(&claims_v1(), &key(7)).len());
    }

    #[test]
    fn version_2_is_good_after_its_visit_date_too() {
        // Retiring old tickets is for version 1; a version 2 ticket's date is the
        // counter's business, not the QR check's.
        let payload = sign(&claims(), &key(7));
        let later = visit_day() + chrono::TimeDelta::days(30);
        assert_eq!(
            check_on(&payload, NIK, later),
            verified(Version::Apm2, claims())
        );
    }

    #[test]
    fn version_1_is_accepted_until_its_visit_date_and_refused_after() {
        let v1 = sign_v1(&claims_v1(), &key(7));
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).expect("a November day");
        for today in [day(1), day(23), day(24)] {
            assert_eq!(
                check_on(&v1, NIK, today),
                verified(Version::Apm1, claims_v1()),
                "{today}"
            );
        }
        for today in [day(25), day(30)] {
            assert_eq!(
                check_on(&v1, NIK, today),
                Err(QrError::Apm1Expired { date: day(24) }),
                "{today}"
            );
        }
        // Version 1 needs no NIK hash key.
        let checker = Checker {
            keys: &lookup,
            nik_hash_key: None,
            today: day(24),
        };
        assert_eq!(
            verify(&v1, NIK, &checker),
            verified(Version::Apm1, claims_v1())
        );
    }

    #[test]
    fn version_2_needs_the_services_nik_hash_key() {
        let payload = sign(&claims(), &key(7));
        let other = Key32([9; 32]);
        let with = |nik_hash_key: Option<&Key32>| {
            let checker = Checker {
                keys: &lookup,
                nik_hash_key,
                today: visit_day(),
            };
            verify(&payload, NIK, &checker)
        };
        assert_eq!(with(Some(&other)), Err(QrError::WrongNik), "wrong key");
        assert_eq!(with(None), Err(QrError::NoNikHashKey), "no key");
    }

    #[test]
    fn a_payload_relabelled_to_the_other_version_is_refused() {
        let v2 = sign(&claims(), &key(7));
        let v1 = sign_v1(&claims_v1(), &key(7));
        let as_v1 = v2.replacen("APM2.", "APM1.", 1);
        let as_v2 = v1.replacen("APM1.", "APM2.", 1);
        assert_eq!(check(&as_v1, NIK), Err(QrError::WrongNik));
        assert_eq!(check(&as_v2, NIK), Err(QrError::WrongNik));
    }

    /// A refused payload: what it is, the payload, the NIK it is checked against, and the
    /// error `verify` must give.
    type Refusal = (&'static str, String, &'static str, QrError);

    fn assert_refused(cases: Vec<Refusal>) {
        for (name, payload, nik, want) in cases {
            assert_eq!(check(&payload, nik), Err(want), "{name}");
        }
    }

    /// A good payload, and its claims and signature parts.
    fn good_parts() -> (String, String, String) {
        let good = sign(&claims(), &key(7));
        let (claims_part, sig_part) = good[PREFIX.len()..].split_once('.').expect("two parts");
        let (claims_part, sig_part) = (claims_part.to_owned(), sig_part.to_owned());
        (good, claims_part, sig_part)
    }

    #[test]
    fn refusals_of_a_signature_that_does_not_match() {
        let (good, claims_part, _) = good_parts();
        let zero_sig = URL_SAFE_NO_PAD.encode([0u8; 64]);
        let bad_sig = QrError::BadSignature {
            kiosk_id: "KRM-02".into(),
        };
        assert_refused(vec![
            ("other key", sign(&claims(), &key(8)), NIK, bad_sig.clone()),
            (
                "forged: all-zero signature",
                format!("{PREFIX}{claims_part}.{zero_sig}"),
                NIK,
                bad_sig.clone(),
            ),
            (
                "altered: queue number byte changed",
                with_claims_bytes(&good, |b| {
                    let i = b.windows(5).position(|w| w == b"R-021").expect("q") + 4;
                    b[i] = b'2';
                }),
                NIK,
                bad_sig.clone(),
            ),
            (
                "altered: NIK check swapped for another NIK's",
                with_claims_bytes(&good, |b| {
                    let text = String::from_utf8(b.clone()).expect("utf-8");
                    let other = nik_check(&nik_hash_key(), REG, "3171011203800003");
                    *b = text.replace(&claims().n, &other).into_bytes();
                }),
                "3171011203800003",
                bad_sig.clone(),
            ),
            (
                "altered: version 1 visit date moved on",
                with_claims_bytes(&sign_v1(&claims_v1(), &key(7)), |b| {
                    let text = String::from_utf8(b.clone()).expect("utf-8");
                    *b = text.replace("2026-11-24", "2027-11-24").into_bytes();
                }),
                NIK,
                bad_sig.clone(),
            ),
            (
                "altered: whitespace added",
                with_claims_bytes(&good, |b| b.insert(1, b' ')),
                NIK,
                bad_sig.clone(),
            ),
        ]);
    }

    #[test]
    fn refusals_of_a_kiosk_or_a_nik() {
        let (good, _, _) = good_parts();
        let revoked = sign(
            &Claims {
                k: "KRM-03".into(),
                ..claims()
            },
            &key(3),
        );
        let unknown = sign(
            &Claims {
                k: "JKT-01".into(),
                ..claims()
            },
            &key(1),
        );
        let v1 = sign_v1(&claims_v1(), &key(7));
        assert_refused(vec![
            (
                "revoked kiosk",
                revoked,
                NIK,
                QrError::RevokedKiosk {
                    kiosk_id: "KRM-03".into(),
                },
            ),
            (
                "unknown kiosk",
                unknown,
                NIK,
                QrError::UnknownKiosk {
                    kiosk_id: "JKT-01".into(),
                },
            ),
            ("wrong NIK", good, "2102015708900004", QrError::WrongNik),
            (
                "wrong NIK, version 1",
                v1,
                "2102015708900004",
                QrError::WrongNik,
            ),
        ]);
    }

    #[test]
    fn refusals_of_a_payload_not_in_the_format() {
        let (good, claims_part, sig_part) = good_parts();
        let malformed = QrError::Malformed;
        assert_refused(vec![
            (
                "another version",
                good.replacen("APM2.", "APM3.", 1),
                NIK,
                malformed(Malformed::UnknownVersion),
            ),
            (
                "empty",
                String::new(),
                NIK,
                malformed(Malformed::UnknownVersion),
            ),
            (
                "no signature",
                format!("{PREFIX}{claims_part}"),
                NIK,
                malformed(Malformed::Parts),
            ),
            (
                "extra part",
                format!("{good}.AAAA"),
                NIK,
                malformed(Malformed::Parts),
            ),
            (
                "padded claims",
                format!("{PREFIX}{claims_part}=.{sig_part}"),
                NIK,
                malformed(Malformed::ClaimsEncoding),
            ),
            (
                "standard base64 alphabet in the signature",
                format!(
                    "{PREFIX}{claims_part}.{}",
                    sig_part.replace('-', "+").replace('_', "/") + "+"
                ),
                NIK,
                malformed(Malformed::SignatureEncoding),
            ),
            (
                "short signature",
                format!("{PREFIX}{claims_part}.{}", &sig_part[..40]),
                NIK,
                malformed(Malformed::SignatureLength),
            ),
        ]);
    }

    #[test]
    fn refusals_of_claims_not_in_the_format() {
        let (good, _, sig_part) = good_parts();
        let malformed = QrError::Malformed;
        assert_refused(vec![
            (
                "claims not JSON",
                format!("{PREFIX}{}.{sig_part}", URL_SAFE_NO_PAD.encode("hello")),
                NIK,
                malformed(Malformed::ClaimsJson),
            ),
            (
                "claims missing a key",
                format!(
                    "{PREFIX}{}.{sig_part}",
                    URL_SAFE_NO_PAD.encode(r#"{"r":"x","k":"KRM-02"}"#)
                ),
                NIK,
                malformed(Malformed::ClaimsJson),
            ),
            (
                "claims with an extra key",
                with_claims_bytes(&good, |b| {
                    b.pop();
                    b.extend_from_slice(br#","x":1}"#);
                }),
                NIK,
                malformed(Malformed::ClaimsJson),
            ),
            (
                "too long",
                format!("{PREFIX}{}", "A".repeat(MAX_PAYLOAD_LEN)),
                NIK,
                malformed(Malformed::TooLong),
            ),
        ]);
    }

    #[test]
    fn errors_never_show_the_nik() {
        let payload = sign(&claims(), &key(7));
        let err = check(&payload, "2102015708900004").expect_err("wrong NIK");
        assert!(!err.to_string().contains("2102015708900004"));
        assert!(!err.to_string().contains(NIK));
    }
}
