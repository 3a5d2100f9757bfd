//! The kiosk's means to tag NIKs and sign tickets, for the store's
//! [`CommitPlan`](apm_kiosk::store::CommitPlan), made the way the daemon makes them when
//! it commits a booking: the NIK tag is `identity::nik_tag` under the kiosk's tag secret,
//! and each ticket's QR payload is `protocol::ticket_qr::sign` over the ticket's claims
//! (their NIK check keyed with the enrollment's NIK hash key) with the kiosk's key.
//! Tests that commit bookings commit them through here, so a ticket they upload or
//! print is one the daemon could have made.

use std::sync::Arc;

use apm_kiosk::flow::{Booked, BookingRequest};
use apm_kiosk::protocol::central::Key32;
use apm_kiosk::protocol::ticket_qr::{self, Claims};
use apm_kiosk::store::{CommitError, CommitPlan, ReissuedTicket, Store, TicketToSign};
use chrono::NaiveDate;
use ed25519_dalek::SigningKey;

/// One kiosk's tag secret, signing key, id and the NIK hash key of its enrollment.
/// Cheap to clone (the key is shared), so a copy can move onto the store's writer thread
/// with each booking.
#[derive(Clone)]
pub struct Signer {
    kiosk_id: String,
    key: Arc<SigningKey>,
    tag_secret: [u8; 32],
    nik_hash_key: Key32,
}

impl std::fmt::Debug for Signer {
    /// The keys and the secret are credentials: only the kiosk is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kiosk_id", &self.kiosk_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The kiosk `kiosk_id` signing with `key`, tagging under `tag_secret`, enrolled
    /// with the service's `nik_hash_key`.
    pub fn new(
        kiosk_id: impl Into<String>,
        key: SigningKey,
        tag_secret: [u8; 32],
        nik_hash_key: Key32,
    ) -> Signer {
        Signer {
            kiosk_id: kiosk_id.into(),
            key: Arc::new(key),
            tag_secret,
            nik_hash_key,
        }
    }

    /// A kiosk with a fresh random key, tag secret and NIK hash key.
    pub fn random(kiosk_id: impl Into<String>) -> Signer {
        Signer::new(
            kiosk_id,
            SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
            rand::random(),
            Key32(rand::random()),
        )
    }

    pub fn kiosk_id(&self) -> &str {
        &self.kiosk_id
    }

    /// The key that verifies this kiosk's tickets.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// The service's key of the tickets' NIK check, as a counter holds it.
    pub fn nik_hash_key(&self) -> &Key32 {
        &self.nik_hash_key
    }

    /// The `nik_tag` of the plan: the keyed hash the store keeps instead of the NIK.
    pub fn nik_tag(&self, nik: &str) -> String {
        apm_kiosk::identity::nik_tag(&self.tag_secret, nik)
    }

    /// What a ticket's QR payload claims.
    pub fn claims(&self, t: &TicketToSign<'_>) -> Claims {
        t.claims(&self.kiosk_id, &self.nik_hash_key)
    }

    /// The `sign` of the plan: the ticket's signed QR payload.
    pub fn sign(&self, t: &TicketToSign<'_>) -> String {
        ticket_qr::sign(&self.claims(t), &self.key)
    }

    /// The `sign` of a reschedule's plan: the moved booking's new ticket, as the daemon
    /// reissues it.
    pub fn reissue(&self, t: &ReissuedTicket<'_>) -> Option<String> {
        Some(ticket_qr::sign(&t.claims(&self.kiosk_id)?, &self.key))
    }

    /// Commits `request` through the store's booking transaction with this kiosk's
    /// tag and signature, as the daemon does on confirm.
    pub fn commit(
        &self,
        store: &mut Store,
        request: &BookingRequest,
        created_on: NaiveDate,
    ) -> Result<Booked, CommitError> {
        let tag = |nik: &str| self.nik_tag(nik);
        let sign = |t: &TicketToSign<'_>| self.sign(t);
        store.commit_booking(&CommitPlan {
            request,
            created_on,
            nik_tag: &tag,
            sign: &sign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apm_kiosk::domain::{QueueKind, QueueNumber};

    #[test]
    fn signed_tickets_are_apm2_and_verify_with_the_kiosk_key_and_the_nik() {
        let signer = Signer::random("KRM-07");
        let nik = crate::fixtures::nik(3);
        let at = crate::fixtures::tuesday_morning();
        let ticket = TicketToSign {
            registration_id: "0193a4f2-7b3c-7000-8a00-000000000009",
            office_id: "KRM",
            date: crate::fixtures::day("2026-12-02"),
            session_id: "S2",
            queue_number: QueueNumber {
                kind: QueueKind::Regular,
                number: 17,
            },
            nik: &nik,
            issued_at: at,
        };
        let payload = signer.sign(&ticket);
        let public = signer.verifying_key();
        let lookup = |kiosk: &str| match kiosk {
            "KRM-07" => ticket_qr::KeyLookup::Known(public),
            _ => ticket_qr::KeyLookup::Unknown,
        };
        let checker = ticket_qr::Checker {
            keys: &lookup,
            nik_hash_key: Some(signer.nik_hash_key()),
            today: at.date_naive(),
        };
        let verified = ticket_qr::verify(&payload, &nik, &checker).expect("verifies");
        assert_eq!(verified.version, ticket_qr::Version::Apm2);
        assert_eq!(verified.claims.q, "R-017");
        assert_eq!(verified.claims.s, "S2");
        assert!(ticket_qr::verify(&payload, &crate::fixtures::nik(4), &checker).is_err());
        let other_service = Key32([1; 32]);
        let wrong_key = ticket_qr::Checker {
            nik_hash_key: Some(&other_service),
            ..checker
        };
        assert_eq!(
            ticket_qr::verify(&payload, &nik, &wrong_key),
            Err(ticket_qr::QrError::WrongNik)
        );
    }

    #[test]
    fn the_tag_is_the_daemons_and_hides_the_nik() {
        let signer = Signer::new(
            "K",
            SigningKey::from_bytes(&[1; 32]),
            [9; 32],
            Key32([3; 32]),
        );
        let nik = crate::fixtures::nik(1);
        assert_eq!(
            signer.nik_tag(&nik),
            apm_kiosk::identity::nik_tag(&[9; 32], &nik)
        );
        assert!(!signer.nik_tag(&nik).contains(&nik));
        assert!(!format!("{signer:?}").contains("tag_secret"));
        assert!(!format!("{signer:?}").contains("nik_hash_key"));
    }
}
