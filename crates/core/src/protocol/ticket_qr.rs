//! The signed payload in a queue ticket's QR code, version 1 (spec: ticket-qr.md):
//! `APM1.<base64url claims JSON>.<base64url Ed25519 signature>`, both without padding.
//! An officer's checker verifies it offline against the issuing kiosk's public key and
//! the NIK on the KTP in hand.
//!
//! Pure: builds, signs, splits and checks payloads. Where the kiosk's key lives
//! (`identity`), how the QR is drawn (`protocol::escpos`) and where the list of kiosk keys
//! comes from (`sync`, or a file for the `ticket verify` command in `identity`) belong
//! to others.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The payload's version prefix, with the separator that follows it.
pub const PREFIX: &str = "APM1.";

/// The longest payload accepted. A version-1 payload is about 300 characters; anything
/// far longer is not one, and refusing it early bounds the work done on hostile input.
pub const MAX_PAYLOAD_LEN: usize = 1024;

/// The claims a ticket carries, in the spec's order: serde writes fields in declaration
/// order, and that order is what the signature covers.
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
    #[error("the ticket belongs to another NIK")]
    WrongNik,
}

/// What exactly is wrong with a malformed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    NotVersion1,
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
            Malformed::TooLong => "longer than any version 1 payload",
            Malformed::NotVersion1 => "does not start with APM1.",
            Malformed::Parts => "expected APM1.<claims>.<signature>",
            Malformed::ClaimsEncoding => "claims are not unpadded base64url",
            Malformed::ClaimsJson => "claims are not the version 1 JSON object",
            Malformed::SignatureEncoding => "signature is not unpadded base64url",
            Malformed::SignatureLength => "signature is not 64 bytes",
        })
    }
}

/// First 16 hex digits (8 bytes) of SHA-256 over `registration_id + ":" + nik`, lower case.
pub fn nik_check(registration_id: &str, nik: &str) -> String {
    let mut h = Sha256::new();
    h.update(registration_id.as_bytes());
    h.update(b":");
    h.update(nik.as_bytes());
    hex(&h.finalize()[..8])
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

/// The QR payload for `claims`, signed by `key`.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let bytes = claims_json(claims);
    let signature = key.sign(&bytes);
    format!(
        "{PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Splits a payload into its claims, the exact claims bytes the signature covers, and
/// the signature. Checks the form only, not the signature.
pub fn decode(payload: &str) -> Result<(Claims, Vec<u8>, Signature), QrError> {
    let bad = QrError::Malformed;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(bad(Malformed::TooLong));
    }
    let rest = payload
        .strip_prefix(PREFIX)
        .ok_or(bad(Malformed::NotVersion1))?;
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
    Ok((claims, bytes, Signature::from_bytes(&sig)))
}

/// Checks a payload as the officer's checker does: well formed, issued by a known and
/// not revoked kiosk, signature good over the exact claims bytes, and tied to `nik`.
/// The signature is checked before the NIK, so a forgery is reported as such.
pub fn verify(
    payload: &str,
    nik: &str,
    keys: &impl Fn(&str) -> KeyLookup,
) -> Result<Claims, QrError> {
    let (claims, bytes, signature) = decode(payload)?;
    let key = match keys(&claims.k) {
        KeyLookup::Known(key) => key,
        KeyLookup::Revoked => {
            return Err(QrError::RevokedKiosk { kiosk_id: claims.k });
        }
        KeyLookup::Unknown => {
            return Err(QrError::UnknownKiosk { kiosk_id: claims.k });
        }
    };
    // Strict: refuses the malleable and small-order forms plain `verify` lets through.
    if key.verify_strict(&bytes, &signature).is_err() {
        return Err(QrError::BadSignature { kiosk_id: claims.k });
    }
    if nik_check(&claims.r, nik) != claims.n {
        return Err(QrError::WrongNik);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIK: &str = "2102015708900003";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> Claims {
        let r = "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33".to_string();
        Claims {
            n: nik_check(&r, NIK),
            r,
            k: "KRM-02".into(),
            o: "KRM".into(),
            d: NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid date"),
            s: "S1".into(),
            q: "R-021".into(),
            t: 1_795_838_043,
        }
    }

    /// The kiosk KRM-02 signs with seed 7, KRM-03 is revoked, anything else unknown.
    fn lookup(kiosk_id: &str) -> KeyLookup {
        match kiosk_id {
            "KRM-02" => KeyLookup::Known(key(7).verifying_key()),
            "KRM-03" => KeyLookup::Revoked,
            _ => KeyLookup::Unknown,
        }
    }

    /// Re-encodes the claims part of `payload` after `edit`, keeping the signature.
    fn with_claims_bytes(payload: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let (_, mut bytes, sig) = decode(payload).expect("decodes");
        edit(&mut bytes);
        format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        )
    }

    #[test]
    fn claims_json_has_the_spec_order_and_no_nik() {
        let json = String::from_utf8(claims_json(&claims())).expect("utf-8");
        assert_eq!(
            json,
            r#"{"r":"0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33","k":"KRM-02","o":"KRM","d":"2026-11-24","s":"S1","q":"R-021","n":"f10732c2294f79de","t":1795838043}"#
        );
        assert!(!json.contains(NIK));
    }

    #[test]
    fn nik_check_vectors() {
        // Cross-checked with `printf '%s' 'id:nik' | sha256sum | cut -c1-16`.
        let cases = [
            (
                "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33",
                NIK,
                "f10732c2294f79de",
            ),
            ("r", "n", "932084aa738ea000"),
            ("", "", "e7ac0786668e0ff0"),
        ];
        for (id, nik, want) in cases {
            assert_eq!(nik_check(id, nik), want, "{id}:{nik}");
        }
    }

    #[test]
    fn known_vector() {
        // Ed25519 is deterministic: this payload was produced once and checked with an
        // independent implementation (Python `cryptography`) against seed [7; 32].
        let want = "APM1.eyJyIjoiMDE5M2E0ZjItNmMxZS03YjRhLTlmMGUtMmQ1YzhlMWE3YjMzIiwiayI6IktSTS0wMiIsIm8iOiJLUk0iLCJkIjoiMjAyNi0xMS0yNCIsInMiOiJTMSIsInEiOiJSLTAyMSIsIm4iOiJmMTA3MzJjMjI5NGY3OWRlIiwidCI6MTc5NTgzODA0M30.ZHonhAitojiPv0LKHY9M6CWaAcBde86psgBisJ2e377SXuwcj4xMo-RNZtPPHPd7jDL_5GU53mdlQK8uSC76Bg";
        assert_eq!(sign(&claims(), &key(7)), want);
        assert_eq!(verify(want, NIK, &lookup), Ok(claims()));
    }

    #[test]
    fn a_signed_payload_verifies_and_round_trips() {
        let payload = sign(&claims(), &key(7));
        assert!(payload.starts_with(PREFIX));
        assert!(!payload.contains('='), "no padding: {payload}");
        assert_eq!(verify(&payload, NIK, &lookup), Ok(claims()));
        let (decoded, bytes, _) = decode(&payload).expect("decodes");
        assert_eq!(decoded, claims());
        assert_eq!(bytes, claims_json(&claims()));
    }

    /// A refused payload: what it is, the payload, the NIK it is checked against, and the
    /// error `verify` must give.
    type Refusal = (&'static str, String, &'static str, QrError);

    fn assert_refused(cases: Vec<Refusal>) {
        for (name, payload, nik, want) in cases {
            assert_eq!(verify(&payload, nik, &lookup), Err(want), "{name}");
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
                    let other = nik_check(&claims().r, "3171011203800003");
                    *b = text.replace(&claims().n, &other).into_bytes();
                }),
                "3171011203800003",
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
        ]);
    }

    #[test]
    fn refusals_of_a_payload_not_in_the_format() {
        let (good, claims_part, sig_part) = good_parts();
        let malformed = QrError::Malformed;
        assert_refused(vec![
            (
                "another version",
                good.replacen("APM1.", "APM2.", 1),
                NIK,
                malformed(Malformed::NotVersion1),
            ),
            (
                "empty",
                String::new(),
                NIK,
                malformed(Malformed::NotVersion1),
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
        let err = verify(&payload, "2102015708900004", &lookup).expect_err("wrong NIK");
        assert!(!err.to_string().contains("2102015708900004"));
        assert!(!err.to_string().contains(NIK));
    }
}
