//! Fixed data the tests share: times and dates, the Karimun seed of the central
//! simulator, test NIKs, applicants and tickets. Every NIK here is valid in structure
//! (province, birth date and sex digits) and names no real person: the serials are
//! counters. Names and addresses are the spec's examples.

use apm_kiosk::domain::calendar::{Office, example_office};
use apm_kiosk::domain::nik::Nik;
use apm_kiosk::domain::{ApplicationType, Language, PassportType, PriorityReason, Sex};
use apm_kiosk::flow::{Applicant, IdentitySource, Member};
use apm_kiosk::hardware::reader::CardData;
use apm_kiosk::protocol::central::{self as wire, Key32};
use apm_kiosk::protocol::escpos::Ticket;
use apm_kiosk::protocol::ticket_qr::{self, Claims};
use apm_kiosk_sim::central::SimSeed;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use ed25519_dalek::SigningKey;

/// Tuesday 1 December 2026, 07:00 in Jakarta: a working day, before the first session.
pub fn tuesday_morning() -> DateTime<Utc> {
    at("2026-12-01T07:00:00+07:00")
}

/// An instant written as RFC 3339.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("test time {rfc3339}: {e}"))
        .with_timezone(&Utc)
}

/// A date written as `YYYY-MM-DD`.
pub fn day(text: &str) -> NaiveDate {
    text.parse()
        .unwrap_or_else(|e| panic!("test date {text}: {e}"))
}

/// Western Indonesian Time, the zone of Karimun.
pub fn wib() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| unreachable!("+07:00 is an offset"))
}

/// The central simulator's seed with Karimun only, with `regular` and `priority`
/// numbers a session.
pub fn karimun(regular: u32, priority: u32) -> SimSeed {
    let mut seed = SimSeed::default();
    seed.offices.retain(|o| o.office.office_id == "KRM");
    for o in &mut seed.offices {
        o.regular_per_session = regular;
        o.priority_per_session = priority;
    }
    seed
}

/// Karimun as the central service describes it (`GET /v1/offices`).
pub fn karimun_wire() -> wire::Office {
    karimun(16, 4)
        .offices
        .into_iter()
        .next()
        .map(|o| o.office)
        .unwrap_or_else(|| unreachable!("the simulator's seed holds Karimun"))
}

/// Karimun as the kiosk holds it: the central API spec's example office.
pub fn office() -> Office {
    apm_kiosk::domain::calendar::example_office()
}

/// A valid NIK of a Karimun woman, distinct for every `n` below 280,000 (born on the
/// 1st to the 28th of August 1990).
pub fn nik(n: u32) -> String {
    let day = 1 + (n / 9999) % 28;
    let serial = 1 + n % 9999;
    format!("210201{:02}0890{serial:04}", day + 40)
}

/// The NIK whose check digits the ticket fixtures carry (Jakarta, a woman born on
/// 1 July 1990).
pub const TICKET_NIK: &str = "3171014107900003";

/// One applicant with their own KTP read from the chip, a woman of Karimun applying
/// for a new electronic passport. `today` decides her age.
pub fn member(nik: &str, today: NaiveDate) -> Member {
    let (nik, info) = Nik::parse(nik, today).unwrap_or_else(|e| panic!("test NIK: {e}"));
    Member {
        applicant: Applicant {
            nik,
            kk_number: None,
            name: Some("SITI AMINAH".into()),
            birth_place: Some("KARIMUN".into()),
            birth_date: info.birth_date,
            sex: Sex::Female,
            address: Some("JL. NUSANTARA NO. 12".into()),
            source: IdentitySource::Chip,
        },
        application_type: ApplicationType::New,
        passport_type: PassportType::Electronic,
        declared_priority: None,
        priority: None,
    }
}

/// The KTP of [`member`] as the card reader reads it from the chip.
pub fn card(nik: &str) -> CardData {
    let (_, info) = Nik::parse(nik, day("2026-12-01")).unwrap_or_else(|e| panic!("test NIK: {e}"));
    CardData {
        nik: nik.to_owned(),
        name: "SITI AMINAH".into(),
        birth_place: Some("KARIMUN".into()),
        birth_date: info.birth_date.format("%Y-%m-%d").to_string(),
        sex: "P".into(),
        address: Some("JL. NUSANTARA NO. 12".into()),
        ..CardData::default()
    }
}

/// The key the ticket fixtures are signed with: 32 bytes of 0x42. Never a kiosk's.
pub fn ticket_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// The service's NIK hash key the ticket fixtures' NIK check is keyed with: 32 bytes of
/// 0x24. Never a service's.
pub fn ticket_nik_hash_key() -> Key32 {
    Key32([0x24; 32])
}

/// The address and hours the simulation's configuration gives Tanjung Balai Karimun
/// (`[offices.KRM]`), and the ticket fixtures print.
pub const KARIMUN_ADDRESS: &str = "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun";
pub const KARIMUN_HOURS: &str = "Senin-Jumat 08.00-15.00";

/// A ticket as the kiosk prints it, every byte fixed: Karimun's long office name with
/// its address and hours, a full name, issued 14:05 WIB on 22 November 2026 for a
/// visit on the 24th in session 1, priority for age where it is priority, the first of
/// a group of three, and an `APM2` QR signed by [`ticket_key`] over real claims for kiosk
/// `KRM-02`, its NIK check keyed with [`ticket_nik_hash_key`], so the payload has its
/// real length and verifies.
pub fn ticket(language: Language, priority: bool, copy: bool) -> Ticket {
    let issued_at = wib()
        .with_ymd_and_hms(2026, 11, 22, 14, 5, 0)
        .single()
        .unwrap_or_else(|| unreachable!("a fixed time"));
    let visit_date = day("2026-11-24");
    let registration_id = "0193a4f2-7b3c-7000-8a00-000000000001";
    let queue_number = if priority { "P-003" } else { "R-021" };
    let claims = Claims {
        r: registration_id.into(),
        k: "KRM-02".into(),
        o: "KRM".into(),
        d: visit_date,
        s: "S1".into(),
        q: queue_number.into(),
        n: ticket_qr::nik_check(&ticket_nik_hash_key(), registration_id, TICKET_NIK),
        t: issued_at.timestamp(),
    };
    Ticket {
        language,
        office_name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
        office_address: Some(KARIMUN_ADDRESS.into()),
        office_hours: Some(KARIMUN_HOURS.into()),
        queue_number: queue_number.into(),
        priority,
        priority_reason: priority.then_some(PriorityReason::Elderly),
        visit_date,
        session_id: "S1".into(),
        session: example_office().session_name("S1"),
        name: Some("DEWI KARTIKA SARI BINTI AHMAD".into()),
        child: false,
        masked_nik: "3171********0003".into(),
        application_type: Some(ApplicationType::Replacement),
        passport_type: Some(PassportType::Electronic),
        group_size: 3,
        group_index: 1,
        booking_code: "7F3C-21A9".into(),
        qr_payload: ticket_qr::sign(&claims, &ticket_key()),
        copy,
    }
}

/// [`ticket`] for a child under 5 entered on the keypad with no name typed, for a new
/// passport: the officer fills the name in from the KK, the parents' papers to bring.
pub fn child_ticket(language: Language) -> Ticket {
    Ticket {
        name: None,
        child: true,
        priority_reason: Some(PriorityReason::ChildUnder5),
        application_type: Some(ApplicationType::New),
        ..ticket(language, true, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_niks_are_valid_and_distinct() {
        let today = day("2026-12-01");
        let mut seen = std::collections::HashSet::new();
        for n in [0, 1, 9998, 9999, 10_000, 279_999] {
            let text = nik(n);
            let (parsed, info) = Nik::parse(&text, today).expect("valid");
            assert_eq!(info.sex, Sex::Female, "{n}");
            assert!(seen.insert(parsed.as_str().to_owned()), "{n} repeats");
        }
        Nik::parse(TICKET_NIK, today).expect("the ticket NIK is valid");
    }

    #[test]
    fn the_ticket_qr_is_apm2_and_verifies_with_the_test_keys() {
        let t = ticket(Language::Id, true, false);
        let public = ticket_key().verifying_key();
        let lookup = |_: &str| ticket_qr::KeyLookup::Known(public);
        let nik_hash_key = ticket_nik_hash_key();
        let checker = ticket_qr::Checker {
            keys: &lookup,
            nik_hash_key: Some(&nik_hash_key),
            today: t.visit_date,
        };
        let verified = ticket_qr::verify(&t.qr_payload, TICKET_NIK, &checker).expect("verifies");
        assert_eq!(verified.version, ticket_qr::Version::Apm2);
        assert_eq!(verified.claims.q, "P-003");
    }

    #[test]
    fn the_wire_and_the_kiosk_office_agree() {
        let wire = karimun_wire();
        let kiosk = office();
        assert_eq!(wire.office_id, kiosk.id);
        assert_eq!(wire.name, kiosk.name);
        assert_eq!(wire.sessions.len(), kiosk.sessions.len());
    }
}
