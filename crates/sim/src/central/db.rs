//! The simulator's SQLite schema and every rule the service enforces, as functions over
//! a connection or transaction and a given "now". HTTP, authentication headers and
//! faults are `http`'s; the choices where the spec is silent are listed in `mod.rs`.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, Offset as _, TimeDelta, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{SimError, SimOffice, SimRegistration, SimSeed};
use crate::domain::QueueKind;
use crate::protocol::central::{
    Allocation, AllocationAsk, BlocklistEntry, BlocklistResponse, DenialReason, EnrollRequest,
    EnrollResponse, Key32, KioskKey, Office, Receipt, Registration, RegistrationResult,
    RegistrationStatus, RejectionReason, Release, nik_hash, receipt_message, utc_offset_of,
};

/// How long after a registration the same NIK may not register again.
const COOLDOWN_DAYS: i64 = 30;
/// Most applicants of one KK in one group.
const FAMILY_LIMIT: i64 = 5;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS offices (
    office_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    body TEXT NOT NULL,
    regular_per_session INTEGER NOT NULL,
    priority_per_session INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS unknown_niks (nik TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS enroll_codes (
    code TEXT PRIMARY KEY,
    office_ids TEXT NOT NULL,
    used_by TEXT
);
CREATE TABLE IF NOT EXISTS kiosks (
    kiosk_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    public_key BLOB NOT NULL,
    nik_hash_key BLOB NOT NULL,
    office_ids TEXT NOT NULL,
    software_version TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    enrolled_at TEXT NOT NULL,
    last_heartbeat TEXT,
    last_heartbeat_at TEXT
);
CREATE TABLE IF NOT EXISTS allocations (
    allocation_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    office_id TEXT NOT NULL,
    date TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL
);
-- A row per number that is not free: held by a kiosk's allocation, booked, or taken
-- by the simulated other kiosks (prebooked). Deleting the row returns it to the pool.
CREATE TABLE IF NOT EXISTS numbers (
    office_id TEXT NOT NULL,
    date TEXT NOT NULL,
    kind TEXT NOT NULL,
    number INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('held', 'booked', 'prebooked')),
    allocation_id TEXT,
    kiosk_id TEXT,
    registration_id TEXT,
    PRIMARY KEY (office_id, date, kind, number)
);
CREATE INDEX IF NOT EXISTS numbers_by_allocation ON numbers (allocation_id, number);
CREATE TABLE IF NOT EXISTS registrations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    registration_id TEXT NOT NULL UNIQUE,
    kiosk_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    receipt BLOB,
    allocation_id TEXT NOT NULL,
    office_id TEXT NOT NULL,
    date TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    queue_number INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    nik TEXT NOT NULL,
    kk_number TEXT,
    created_at TEXT NOT NULL,
    created_at_unix INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_by_nik ON registrations (nik, status);
CREATE INDEX IF NOT EXISTS registrations_by_group ON registrations (group_id, kk_number, status);
-- Every change to a NIK's blocked state; the version is the row id.
CREATE TABLE IF NOT EXISTS blocklist_log (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    nik TEXT NOT NULL
);
";

pub(super) fn corrupt(what: impl Into<String>) -> SimError {
    SimError::Corrupt(what.into())
}

/// Creates the schema, seeds a new database and returns the service's signing key.
pub(super) fn init(conn: &mut Connection, seed: &SimSeed) -> Result<SigningKey, SimError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    let key: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'signing_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let signing_key = match key {
        Some(bytes) => {
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| corrupt("signing key is not 32 bytes"))?;
            SigningKey::from_bytes(&bytes)
        }
        None => {
            let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('signing_key', ?1)",
                params![key.to_bytes().to_vec()],
            )?;
            for (position, office) in seed.offices.iter().enumerate() {
                insert_office(&tx, position, office)?;
            }
            for nik in &seed.unknown_niks {
                tx.execute(
                    "INSERT OR IGNORE INTO unknown_niks (nik) VALUES (?1)",
                    params![nik],
                )?;
            }
            key
        }
    };
    tx.commit()?;
    Ok(signing_key)
}

fn insert_office(tx: &Transaction, position: usize, office: &SimOffice) -> Result<(), SimError> {
    let body =
        serde_json::to_string(&office.office).map_err(|e| corrupt(format!("office: {e}")))?;
    tx.execute(
        "INSERT OR REPLACE INTO offices VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            office.office.office_id,
            position as i64,
            body,
            office.regular_per_session,
            office.priority_per_session
        ],
    )?;
    Ok(())
}

pub(super) fn load_office(
    conn: &Connection,
    office_id: &str,
) -> Result<Option<SimOffice>, SimError> {
    let row: Option<(String, u32, u32)> = conn
        .query_row(
            "SELECT body, regular_per_session, priority_per_session FROM offices WHERE office_id = ?1",
            params![office_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(body, regular, priority)| {
        let office: Office =
            serde_json::from_str(&body).map_err(|e| corrupt(format!("office {office_id}: {e}")))?;
        Ok(SimOffice {
            office,
            regular_per_session: regular,
            priority_per_session: priority,
        })
    })
    .transpose()
}

pub(super) fn office_offset(time_zone: &str) -> FixedOffset {
    // Every seeded office has one of Indonesia's zones; WIB is the safe reading of an
    // unknown one.
    utc_offset_of(time_zone)
        .or_else(|| FixedOffset::east_opt(7 * 3600))
        .unwrap_or_else(|| Utc.fix())
}

/// The office's calendar date at `now`.
pub(super) fn today_at(time_zone: &str, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&office_offset(time_zone)).date_naive()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json_list(ids: &[String]) -> Result<String, SimError> {
    serde_json::to_string(ids).map_err(|e| corrupt(e.to_string()))
}

fn parse_list(text: &str) -> Result<Vec<String>, SimError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("office list: {e}")))
}

pub(super) fn add_enroll_code(
    conn: &mut Connection,
    code: &str,
    office_ids: &[&str],
) -> Result<(), SimError> {
    let tx = conn.transaction()?;
    for office in office_ids {
        if load_office(&tx, office)?.is_none() {
            return Err(SimError::UnknownOffice((*office).to_owned()));
        }
    }
    let used: Option<Option<String>> = tx
        .query_row(
            "SELECT used_by FROM enroll_codes WHERE code = ?1",
            params![code],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(Some(_)) = used {
        return Err(SimError::CodeUsed);
    }
    let ids: Vec<String> = office_ids.iter().map(|s| (*s).to_owned()).collect();
    tx.execute(
        "INSERT OR REPLACE INTO enroll_codes (code, office_ids, used_by) VALUES (?1, ?2, NULL)",
        params![code, json_list(&ids)?],
    )?;
    tx.commit()?;
    Ok(())
}

/// An enrolled kiosk, as the handlers need it.
#[derive(Debug, Clone)]
pub(super) struct Kiosk {
    pub kiosk_id: String,
    pub office_ids: Vec<String>,
    pub nik_hash_key: Key32,
}

/// The outcome of `POST /v1/enroll` short of a database failure.
pub(super) enum Enrolled {
    Ok(EnrollResponse),
    InvalidCode,
}

pub(super) fn enroll(
    conn: &mut Connection,
    req: &EnrollRequest,
    now: DateTime<Utc>,
) -> Result<Enrolled, SimError> {
    let tx = conn.transaction()?;
    let offices: Option<String> = tx
        .query_row(
            "SELECT office_ids FROM enroll_codes WHERE code = ?1 AND used_by IS NULL",
            params![req.code],
            |r| r.get(0),
        )
        .optional()?;
    let Some(offices) = offices else {
        return Ok(Enrolled::InvalidCode);
    };
    let office_ids = parse_list(&offices)?;
    let prefix = office_ids
        .first()
        .cloned()
        .unwrap_or_else(|| "KIOSK".into());
    let existing: i64 = tx.query_row(
        "SELECT COUNT(*) FROM kiosks WHERE kiosk_id LIKE ?1 || '-%'",
        params![prefix],
        |r| r.get(0),
    )?;
    let kiosk_id = format!("{prefix}-{:02}", existing + 1);
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let nik_hash_key = Key32(rand::random::<[u8; 32]>());
    tx.execute(
        "INSERT INTO kiosks (kiosk_id, token_sha256, public_key, nik_hash_key, office_ids,
                             software_version, enrolled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            kiosk_id,
            sha256_hex(&token),
            req.public_key.0.to_vec(),
            nik_hash_key.0.to_vec(),
            offices,
            req.software_version,
            now.to_rfc3339()
        ],
    )?;
    tx.execute(
        "UPDATE enroll_codes SET used_by = ?1 WHERE code = ?2",
        params![kiosk_id, req.code],
    )?;
    tx.commit()?;
    Ok(Enrolled::Ok(EnrollResponse {
        kiosk_id,
        token,
        office_ids,
        nik_hash_key,
    }))
}

/// The kiosk a bearer token belongs to, if it is valid and not revoked.
pub(super) fn kiosk_by_token(conn: &Connection, token: &str) -> Result<Option<Kiosk>, SimError> {
    let row: Option<(String, String, Vec<u8>)> = conn
        .query_row(
            "SELECT kiosk_id, office_ids, nik_hash_key FROM kiosks
             WHERE token_sha256 = ?1 AND revoked = 0",
            params![sha256_hex(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(kiosk_id, offices, key)| {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| corrupt("NIK hash key is not 32 bytes"))?;
        Ok(Kiosk {
            kiosk_id,
            office_ids: parse_list(&offices)?,
            nik_hash_key: Key32(key),
        })
    })
    .transpose()
}

pub(super) fn offices_of(conn: &Connection, kiosk: &Kiosk) -> Result<Vec<Office>, SimError> {
    let mut stmt = conn.prepare("SELECT office_id FROM offices ORDER BY position")?;
    let ids: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids.iter().filter(|id| kiosk.office_ids.contains(id)) {
        if let Some(office) = load_office(conn, id)? {
            out.push(office.office);
        }
    }
    Ok(out)
}

/// The numbers a session owns for one kind: sessions follow each other in the day's
/// count (see `mod.rs`).
fn session_range(
    office: &SimOffice,
    session_id: &str,
    kind: QueueKind,
) -> Result<std::ops::RangeInclusive<u32>, SimError> {
    let index = office
        .office
        .sessions
        .iter()
        .position(|s| s.session_id == session_id)
        .ok_or_else(|| SimError::UnknownSession {
            office: office.office.office_id.clone(),
            session: session_id.to_owned(),
        })? as u32;
    let per = match kind {
        QueueKind::Regular => office.regular_per_session,
        QueueKind::Priority => office.priority_per_session,
    };
    Ok(index * per + 1..=(index + 1) * per)
}

/// Up to `count` free numbers of the session, lowest first.
pub(super) fn free_numbers(
    tx: &Transaction,
    office: &SimOffice,
    date: NaiveDate,
    session_id: &str,
    kind: QueueKind,
    count: u32,
) -> Result<Vec<u32>, SimError> {
    let range = session_range(office, session_id, kind)?;
    let mut stmt = tx.prepare(
        "SELECT number FROM numbers WHERE office_id = ?1 AND date = ?2 AND kind = ?3
         AND number BETWEEN ?4 AND ?5",
    )?;
    let taken: BTreeSet<u32> = stmt
        .query_map(
            params![
                office.office.office_id,
                date.to_string(),
                kind.code(),
                range.start(),
                range.end()
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(range
        .filter(|n| !taken.contains(n))
        .take(count as usize)
        .collect())
}

pub(super) fn prebook(
    conn: &mut Connection,
    office_id: &str,
    date: NaiveDate,
    session_id: &str,
    kind: QueueKind,
    count: u32,
) -> Result<u32, SimError> {
    let tx = conn.transaction()?;
    let office =
        load_office(&tx, office_id)?.ok_or_else(|| SimError::UnknownOffice(office_id.into()))?;
    let numbers = free_numbers(&tx, &office, date, session_id, kind, count)?;
    for n in &numbers {
        tx.execute(
            "INSERT INTO numbers (office_id, date, kind, number, session_id, state)
             VALUES (?1, ?2, ?3, ?4, ?5, 'prebooked')",
            params![office_id, date.to_string(), kind.code(), n, session_id],
        )?;
    }
    tx.commit()?;
    Ok(numbers.len() as u32)
}

/// One ask of `POST /v1/allocations`: a grant, a denial, or nothing for a zero count.
pub(super) enum AskOutcome {
    Granted(Allocation),
    Denied(DenialReason),
    Nothing,
}

pub(super) fn allocate(
    tx: &Transaction,
    kiosk: &Kiosk,
    ask: &AllocationAsk,
    now: DateTime<Utc>,
) -> Result<AskOutcome, SimError> {
    let office = match load_office(tx, &ask.office_id)? {
        Some(office) if kiosk.office_ids.contains(&ask.office_id) => office,
        _ => {
            return Ok(AskOutcome::Denied(DenialReason::Other(
                "unknown_office".into(),
            )));
        }
    };
    let Some(session) = office
        .office
        .sessions
        .iter()
        .find(|s| s.session_id == ask.session_id)
    else {
        return Ok(AskOutcome::Denied(DenialReason::Other(
            "unknown_session".into(),
        )));
    };
    if ask.count == 0 {
        return Ok(AskOutcome::Nothing);
    }
    if let Some(reason) = slot_refusal(&office, ask.date, session, now) {
        return Ok(AskOutcome::Denied(reason));
    }
    let numbers = free_numbers(tx, &office, ask.date, &ask.session_id, ask.kind, ask.count)?;
    if numbers.is_empty() {
        return Ok(AskOutcome::Denied(DenialReason::QuotaExhausted));
    }
    let allocation_id = format!("a-{}", Uuid::now_v7().simple());
    tx.execute(
        "INSERT INTO allocations VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            allocation_id,
            kiosk.kiosk_id,
            ask.office_id,
            ask.date.to_string(),
            ask.session_id,
            ask.kind.code()
        ],
    )?;
    for n in &numbers {
        tx.execute(
            "INSERT INTO numbers (office_id, date, kind, number, session_id, state,
                                  allocation_id, kiosk_id)
             VALUES (?1, ?2, ?3, ?4, ?5, 'held', ?6, ?7)",
            params![
                ask.office_id,
                ask.date.to_string(),
                ask.kind.code(),
                n,
                ask.session_id,
                allocation_id,
                kiosk.kiosk_id
            ],
        )?;
    }
    Ok(AskOutcome::Granted(Allocation {
        allocation_id,
        office_id: ask.office_id.clone(),
        date: ask.date,
        session_id: ask.session_id.clone(),
        kind: ask.kind,
        numbers,
    }))
}

/// Why a session of a day takes no booking now: outside the window (a session of today
/// that has ended is), or the office closed that day.
pub(super) fn slot_refusal(
    office: &SimOffice,
    date: NaiveDate,
    session: &crate::protocol::central::Session,
    now: DateTime<Utc>,
) -> Option<DenialReason> {
    let local = now.with_timezone(&office_offset(&office.office.time_zone));
    let today = local.date_naive();
    let last = today + TimeDelta::days(i64::from(office.office.booking_window_days));
    let session_over = date == today && session.end <= local.time();
    if date < today || date > last || session_over {
        return Some(DenialReason::OutsideWindow);
    }
    let weekday = date.weekday().number_from_monday() as u8;
    if !office.office.working_days.contains(&weekday) || office.office.closed_dates.contains(&date)
    {
        return Some(DenialReason::Closed);
    }
    None
}

/// Frees the unbooked numbers of `release` that this kiosk holds; returns how many.
pub(super) fn release(tx: &Transaction, kiosk: &Kiosk, release: &Release) -> Result<u32, SimError> {
    let mut freed = 0;
    for n in &release.numbers {
        freed += tx.execute(
            "DELETE FROM numbers WHERE allocation_id = ?1 AND number = ?2
             AND state = 'held' AND kiosk_id = ?3",
            params![release.allocation_id, n, kiosk.kiosk_id],
        )? as u32;
    }
    Ok(freed)
}

/// The answer stored for a registration id.
fn stored_result(
    tx: &Transaction,
    id: &Uuid,
) -> Result<Option<(String, RegistrationResult)>, SimError> {
    type Row = (String, String, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = tx
        .query_row(
            "SELECT kiosk_id, status, reason, receipt FROM registrations WHERE registration_id = ?1",
            params![id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(kiosk_id, status, reason, receipt)| {
        let receipt = receipt
            .map(|bytes| {
                <[u8; 64]>::try_from(bytes)
                    .map(Receipt)
                    .map_err(|_| corrupt("receipt is not 64 bytes"))
            })
            .transpose()?;
        Ok((
            kiosk_id,
            RegistrationResult {
                registration_id: *id,
                status: RegistrationStatus::from_code(&status),
                reason: reason.as_deref().map(RejectionReason::from_code),
                receipt,
            },
        ))
    })
    .transpose()
}

fn all_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// What the simulated Dukcapil says: the birth date digits must be a possible date
/// (women's day of birth is written plus 40), and the NIK not on the unknown list.
fn nik_known(tx: &Transaction, nik: &str) -> Result<bool, SimError> {
    if !all_digits(nik, 16) {
        return Ok(false);
    }
    let digit = |i: usize| u32::from(nik.as_bytes()[i] - b'0');
    let day = digit(6) * 10 + digit(7);
    let month = digit(8) * 10 + digit(9);
    let day = if day > 40 { day - 40 } else { day };
    let plausible = (1..=31).contains(&day) && (1..=12).contains(&month) && &nik[..2] != "00";
    let unknown: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM unknown_niks WHERE nik = ?1)",
        params![nik],
        |r| r.get(0),
    )?;
    Ok(plausible && !unknown)
}

/// An accepted registration of the same NIK.
struct Held {
    registration_id: String,
    office_id: String,
    date: NaiveDate,
    created_at_unix: i64,
    /// Neither cancelled nor arrived: it holds the one-booking rule.
    open: bool,
}

pub(super) fn parse_date(text: &str) -> Result<NaiveDate, SimError> {
    text.parse()
        .map_err(|_| corrupt(format!("stored date {text:?}")))
}

fn accepted_of_nik(tx: &Transaction, nik: &str) -> Result<Vec<Held>, SimError> {
    // A booking cancelled or arrived (version 1.1) is no longer open, and still counts
    // for the 30-day rule.
    let mut stmt = tx.prepare(
        "SELECT r.registration_id, r.office_id, r.date, r.created_at_unix,
                s.cancelled_at IS NULL AND s.arrived_at IS NULL
         FROM registrations r LEFT JOIN booking_state s USING (registration_id)
         WHERE r.nik = ?1 AND r.status = 'accepted'",
    )?;
    let rows: Vec<(String, String, String, i64, bool)> = stmt
        .query_map(params![nik], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(
            |(registration_id, office_id, date, created_at_unix, open)| {
                Ok(Held {
                    registration_id,
                    office_id,
                    date: parse_date(&date)?,
                    created_at_unix,
                    open,
                })
            },
        )
        .collect()
}

pub(super) fn time_zone_of(tx: &Transaction, office_id: &str) -> Result<String, SimError> {
    Ok(load_office(tx, office_id)?
        .map(|o| o.office.time_zone)
        .unwrap_or_else(|| "Asia/Jakarta".into()))
}

/// Decides one well-formed registration, stores the decision and returns the result.
/// A registration sent again is answered as it was first (to its own kiosk only).
pub(super) fn register(
    tx: &Transaction,
    kiosk: &Kiosk,
    reg: &Registration,
    signing_key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<RegistrationResult, SimError> {
    if let Some((owner, result)) = stored_result(tx, &reg.registration_id)? {
        if owner == kiosk.kiosk_id {
            return Ok(result);
        }
        return Ok(RegistrationResult::rejected(
            reg.registration_id,
            RejectionReason::Invalid,
        ));
    }
    let decision = decide(tx, kiosk, reg, now)?;
    let (result, supersede) = match decision {
        Decision::Accept { supersede } => {
            let signature = signing_key.sign(receipt_message(&reg.registration_id).as_bytes());
            (
                RegistrationResult::accepted(reg.registration_id, Receipt(signature.to_bytes())),
                supersede,
            )
        }
        Decision::Reject(reason) => (
            RegistrationResult::rejected(reg.registration_id, reason),
            Vec::new(),
        ),
    };
    settle_number(tx, kiosk, reg, &result)?;
    for (held, reason) in &supersede {
        overrule(tx, held, reason)?;
    }
    store_registration(tx, kiosk, reg, &result, now)?;
    if result.status == RegistrationStatus::Accepted {
        tx.execute(
            "INSERT INTO blocklist_log (nik) VALUES (?1)",
            params![reg.applicant.nik],
        )?;
    }
    Ok(result)
}

/// The number the kiosk held for the registration: booked when it is accepted, back to
/// the pool when it is rejected (unless it was never the kiosk's to give back).
fn settle_number(
    tx: &Transaction,
    kiosk: &Kiosk,
    reg: &Registration,
    result: &RegistrationResult,
) -> Result<(), SimError> {
    let number_held_here =
        "allocation_id = ?1 AND number = ?2 AND state = 'held' AND kiosk_id = ?3";
    if result.status == RegistrationStatus::Accepted {
        tx.execute(
            &format!(
                "UPDATE numbers SET state = 'booked', registration_id = ?4 WHERE {number_held_here}"
            ),
            params![
                reg.allocation_id,
                reg.queue_number,
                kiosk.kiosk_id,
                reg.registration_id.to_string()
            ],
        )?;
    } else if !matches!(
        result.reason,
        Some(RejectionReason::UnknownAllocation | RejectionReason::NumberNotHeld)
    ) {
        // A rejected booking's number goes back to the pool.
        tx.execute(
            &format!("DELETE FROM numbers WHERE {number_held_here}"),
            params![reg.allocation_id, reg.queue_number, kiosk.kiosk_id],
        )?;
    }
    Ok(())
}

/// A booking of the same NIK that an accepted one overrules: rejected, its number freed.
fn overrule(tx: &Transaction, held: &Held, reason: &RejectionReason) -> Result<(), SimError> {
    tx.execute(
        "UPDATE registrations SET status = 'rejected', reason = ?2, receipt = NULL
         WHERE registration_id = ?1",
        params![held.registration_id, reason.code()],
    )?;
    tx.execute(
        "DELETE FROM numbers WHERE registration_id = ?1",
        params![held.registration_id],
    )?;
    Ok(())
}

/// The registration as the kiosk sent it, with the decision and when it arrived.
fn store_registration(
    tx: &Transaction,
    kiosk: &Kiosk,
    reg: &Registration,
    result: &RegistrationResult,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let body = serde_json::to_string(reg).map_err(|e| corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO registrations (registration_id, kiosk_id, status, reason, receipt,
            allocation_id, office_id, date, session_id, kind, queue_number, group_id, nik,
            kk_number, created_at, created_at_unix, body, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            reg.registration_id.to_string(),
            kiosk.kiosk_id,
            result.status.code(),
            result.reason.as_ref().map(|r| r.code().to_owned()),
            result.receipt.map(|r| r.0.to_vec()),
            reg.allocation_id,
            reg.office_id,
            reg.date.to_string(),
            reg.session_id,
            reg.kind.code(),
            reg.queue_number,
            reg.group_id.to_string(),
            reg.applicant.nik,
            reg.applicant.kk_number,
            reg.created_at.to_rfc3339(),
            reg.created_at.timestamp(),
            body,
            now.to_rfc3339()
        ],
    )?;
    Ok(())
}

enum Decision {
    Accept {
        /// Later-created accepted bookings of the same NIK that this one overrules.
        supersede: Vec<(Held, RejectionReason)>,
    },
    Reject(RejectionReason),
}

fn decide(
    tx: &Transaction,
    kiosk: &Kiosk,
    reg: &Registration,
    now: DateTime<Utc>,
) -> Result<Decision, SimError> {
    use RejectionReason as R;
    let applicant = &reg.applicant;
    let well_formed = all_digits(&applicant.nik, 16)
        && applicant
            .kk_number
            .as_deref()
            .is_none_or(|kk| all_digits(kk, 16))
        && (reg.kind == QueueKind::Regular || reg.priority_reason.is_some())
        && !reg.ticket.is_empty();
    if !well_formed {
        return Ok(Decision::Reject(R::Invalid));
    }

    let allocation: Option<(String, String, String, String, String)> = tx
        .query_row(
            "SELECT kiosk_id, office_id, date, session_id, kind FROM allocations
             WHERE allocation_id = ?1",
            params![reg.allocation_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((owner, office_id, date, session_id, kind)) = allocation else {
        return Ok(Decision::Reject(R::UnknownAllocation));
    };
    if owner != kiosk.kiosk_id {
        return Ok(Decision::Reject(R::NumberNotHeld));
    }
    if office_id != reg.office_id
        || date != reg.date.to_string()
        || session_id != reg.session_id
        || kind != reg.kind.code()
    {
        return Ok(Decision::Reject(R::Invalid));
    }
    let held: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM numbers WHERE allocation_id = ?1 AND number = ?2
                        AND state = 'held' AND kiosk_id = ?3)",
        params![reg.allocation_id, reg.queue_number, kiosk.kiosk_id],
        |r| r.get(0),
    )?;
    if !held {
        return Ok(Decision::Reject(R::NumberNotHeld));
    }

    if !nik_known(tx, &applicant.nik)? {
        return Ok(Decision::Reject(R::NikInvalid));
    }

    let mut supersede = Vec::new();
    let mine = reg.created_at.timestamp();
    for other in accepted_of_nik(tx, &applicant.nik)? {
        let active =
            other.open && other.date >= today_at(&time_zone_of(tx, &other.office_id)?, now);
        let cooldown = (mine - other.created_at_unix).abs() < COOLDOWN_DAYS * 86_400;
        let reason = if active {
            R::NikActiveBooking
        } else if cooldown {
            R::NikCooldown
        } else {
            continue;
        };
        // The earlier `created_at` stands; on a tie, the one received first.
        if other.created_at_unix <= mine {
            return Ok(Decision::Reject(reason));
        }
        supersede.push((other, reason));
    }

    if let Some(kk) = &applicant.kk_number {
        let family: i64 = tx.query_row(
            "SELECT COUNT(*) FROM registrations WHERE group_id = ?1 AND kk_number = ?2
             AND status = 'accepted'",
            params![reg.group_id.to_string(), kk],
            |r| r.get(0),
        )?;
        if family >= FAMILY_LIMIT {
            return Ok(Decision::Reject(R::FamilyLimit));
        }
    }
    Ok(Decision::Accept { supersede })
}

/// The last date a NIK stays blocked, or `None` when nothing blocks it.
fn blocked_until(tx: &Transaction, nik: &str) -> Result<Option<NaiveDate>, SimError> {
    let mut stmt = tx.prepare(
        "SELECT r.date, r.created_at, s.cancelled_at IS NULL AND s.arrived_at IS NULL
         FROM registrations r LEFT JOIN booking_state s USING (registration_id)
         WHERE r.nik = ?1 AND r.status = 'accepted'",
    )?;
    let rows: Vec<(String, String, bool)> = stmt
        .query_map(params![nik], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut until: Option<NaiveDate> = None;
    for (date, created_at, open) in rows {
        let date = parse_date(&date)?;
        let created = DateTime::parse_from_rfc3339(&created_at)
            .map_err(|_| corrupt(format!("stored time {created_at:?}")))?;
        let cooldown_end = (created + TimeDelta::days(COOLDOWN_DAYS)).date_naive();
        // Cancelled or arrived: only the 30-day rule is left.
        let last = if open {
            date.max(cooldown_end)
        } else {
            cooldown_end
        };
        until = Some(until.map_or(last, |u| u.max(last)));
    }
    Ok(until)
}

/// `GET /v1/nik-blocklist?since=`: the changes after `since`, or everything when
/// `since` is 0 or newer than anything the service has.
pub(super) fn blocklist(
    tx: &Transaction,
    kiosk: &Kiosk,
    since: u64,
    now: DateTime<Utc>,
) -> Result<BlocklistResponse, SimError> {
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM blocklist_log",
        [],
        |r| r.get(0),
    )?;
    let version = version.max(0) as u64;
    let full = since == 0 || since > version;
    let from = if full { 0 } else { since };
    let mut stmt =
        tx.prepare("SELECT DISTINCT nik FROM blocklist_log WHERE version > ?1 ORDER BY nik")?;
    let niks: Vec<String> = stmt
        .query_map(params![from as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // The kiosk's "today" for dropping expired entries: its first office's zone.
    let zone = match kiosk.office_ids.first() {
        Some(office) => time_zone_of(tx, office)?,
        None => "Asia/Jakarta".into(),
    };
    let today = today_at(&zone, now);
    let mut upsert = Vec::new();
    let mut remove = Vec::new();
    for nik in niks {
        let h = nik_hash(&kiosk.nik_hash_key, &nik);
        match blocked_until(tx, &nik)? {
            Some(until) if until >= today => upsert.push(BlocklistEntry { h, until }),
            _ if !full => remove.push(h),
            _ => {}
        }
    }
    Ok(BlocklistResponse {
        version,
        full,
        upsert,
        remove,
    })
}

pub(super) fn heartbeat(
    conn: &Connection,
    kiosk: &Kiosk,
    body: &str,
    now: DateTime<Utc>,
) -> Result<FixedOffset, SimError> {
    conn.execute(
        "UPDATE kiosks SET last_heartbeat = ?2, last_heartbeat_at = ?3 WHERE kiosk_id = ?1",
        params![kiosk.kiosk_id, body, now.to_rfc3339()],
    )?;
    let zone = match kiosk.office_ids.first() {
        Some(office) => load_office(conn, office)?
            .map(|o| o.office.time_zone)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(office_offset(&zone))
}

pub(super) fn kiosk_keys(conn: &Connection) -> Result<Vec<KioskKey>, SimError> {
    let mut stmt =
        conn.prepare("SELECT kiosk_id, public_key, revoked FROM kiosks ORDER BY kiosk_id")?;
    let rows: Vec<(String, Vec<u8>, bool)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(kiosk_id, key, revoked)| {
            let key: [u8; 32] = key
                .try_into()
                .map_err(|_| corrupt("public key is not 32 bytes"))?;
            Ok(KioskKey {
                kiosk_id,
                public_key: Key32(key),
                revoked,
            })
        })
        .collect()
}

pub(super) fn registrations(conn: &Connection) -> Result<Vec<SimRegistration>, SimError> {
    let mut stmt = conn.prepare(
        "SELECT r.registration_id, r.kiosk_id, r.status, r.reason, r.office_id, r.date,
                r.session_id, r.kind, r.queue_number, b.cancelled_at IS NOT NULL
         FROM registrations r LEFT JOIN booking_state b ON b.registration_id = r.registration_id
         ORDER BY r.seq",
    )?;
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        String,
        String,
        u32,
        Option<bool>,
    );
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(
            |(
                id,
                kiosk_id,
                status,
                reason,
                office_id,
                date,
                session_id,
                kind,
                number,
                cancelled,
            )| {
                Ok(SimRegistration {
                    registration_id: Uuid::parse_str(&id)
                        .map_err(|_| corrupt(format!("registration id {id:?}")))?,
                    kiosk_id,
                    status: RegistrationStatus::from_code(&status),
                    reason: reason.as_deref().map(RejectionReason::from_code),
                    office_id,
                    date: parse_date(&date)?,
                    session_id,
                    kind: QueueKind::from_code(&kind)
                        .ok_or_else(|| corrupt(format!("queue kind {kind:?}")))?,
                    number,
                    cancelled: cancelled.unwrap_or(false),
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_numbers_follow_each_other_through_the_day() {
        let seed = SimSeed::default();
        let krm = &seed.offices[0];
        let cases = [
            ("S1", QueueKind::Regular, 1, 16),
            ("S2", QueueKind::Regular, 17, 32),
            ("S3", QueueKind::Regular, 33, 48),
            ("S1", QueueKind::Priority, 1, 4),
            ("S3", QueueKind::Priority, 9, 12),
        ];
        for (session, kind, first, last) in cases {
            let range = session_range(krm, session, kind).expect("known session");
            assert_eq!(
                (*range.start(), *range.end()),
                (first, last),
                "{session} {kind:?}"
            );
        }
        assert!(session_range(krm, "S9", QueueKind::Regular).is_err());
    }
}
