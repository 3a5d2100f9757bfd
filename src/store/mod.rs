//! The kiosk's SQLite database: schema and numbered migrations, every query, and the one
//! writer thread ([`writer`]). A booking is stored before anything else happens to it,
//! in one transaction that takes the queue numbers, writes the registrations and their
//! upload queue rows and a PII-free audit line; `synchronous = FULL` in WAL mode makes a
//! committed booking survive a power cut.
//!
//! The store makes no booking decision: the flow decides, the store keeps. Personal data
//! is kept only as long as it is needed ([`retention`]): the applicant record until the
//! central service has answered, the name and masked NIK for reprints until the visit
//! date, the ticket's QR and the NIK's keyed hash until the 30-day rule no longer needs
//! them. Deleted bytes are overwritten (`secure_delete`) and the WAL is checkpointed
//! and truncated after each of those, so that a NIK leaves the disk with its row.
//!
//! The store knows it exists ([`mark`]): once it has held numbers or bookings, a
//! database found missing or emptied is refused with [`StoreError::Lost`].
//!
//! A booking after it is made ([`changes`]): cancels and reschedules change the
//! registration row in place and, when the service may already have it, queue the
//! change for the sync in the same transaction (kept until the service's answer is).

pub mod changes;
pub mod maint;
pub mod mark;
pub mod retention;
pub mod sync;
pub mod writer;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::domain::calendar::Office;
use crate::domain::rules::PastBooking;
use crate::domain::{
    ApplicationType, Language, PassportType, PriorityReason, QueueKind, QueueNumber,
};
use crate::flow::{
    Applicant, Availability, Booked, BookedTicket, BookingRequest, Member, SlotCount,
};
use crate::protocol::central::Release;

mod printing;
/// The migrations, in order. Never edit one that has been released: add a new one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_printing.sql")),
    (3, include_str!("migrations/0003_release_queue.sql")),
    (4, include_str!("migrations/0004_store_id.sql")),
    (5, include_str!("migrations/0005_ticket_child.sql")),
    (6, include_str!("migrations/0006_changes.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "database schema version {found} is newer than this software knows ({known}); install the newer software or restore a backup"
    )]
    TooNew { found: u32, known: u32 },
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("the store's writer thread has stopped")]
    Closed,
    #[error("cannot start the store's writer thread: {0}")]
    Thread(std::io::Error),
    #[error(
        "the database {} {lost}, but this kiosk has booked or held queue numbers on it (see {}): its unsynced bookings and held numbers would be lost without a word",
        path.display(),
        mark::MARK_FILE
    )]
    Lost { lost: mark::Lost, path: PathBuf },
    #[error("cannot read the store's mark beside {}: {error}", path.display())]
    Mark {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Why a booking was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// No free number of the needed kind is left for that session.
    #[error("no free {0:?} number left for the chosen session")]
    NumbersGone(QueueKind),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the signer needs to make a ticket's QR payload; the store does not sign.
#[derive(Debug, Clone)]
pub struct TicketToSign<'a> {
    pub registration_id: &'a str,
    pub office_id: &'a str,
    pub date: NaiveDate,
    pub session_id: &'a str,
    pub queue_number: QueueNumber,
    pub nik: &'a str,
    pub issued_at: DateTime<Utc>,
}

impl TicketToSign<'_> {
    /// What the ticket's QR says of it, as `kiosk_id` issues it, its NIK check keyed
    /// with the service's `nik_hash_key` (the enrollment's): the one place a ticket's
    /// claims are made, for the daemon and for the tests that sign as it does.
    pub fn claims(
        &self,
        kiosk_id: &str,
        nik_hash_key: &crate::protocol::central::Key32,
    ) -> crate::protocol::ticket_qr::Claims {
        use crate::protocol::ticket_qr;
        ticket_qr::Claims {
            r: self.registration_id.to_owned(),
            k: kiosk_id.to_owned(),
            o: self.office_id.to_owned(),
            d: self.date,
            s: self.session_id.to_owned(),
            q: self.queue_number.to_string(),
            n: ticket_qr::nik_check(nik_hash_key, self.registration_id, self.nik),
            t: self.issued_at.timestamp(),
        }
    }
}

/// A booking to write, with the kiosk's means to tag NIKs and sign tickets.
pub struct CommitPlan<'a> {
    pub request: &'a BookingRequest,
    /// The day of the booking in the office's zone (for the 30-day rule).
    pub created_on: NaiveDate,
    /// The keyed hash the store keeps instead of the NIK.
    pub nik_tag: &'a dyn Fn(&str) -> String,
    /// Makes the signed QR payload of one ticket.
    pub sign: &'a dyn Fn(&TicketToSign<'_>) -> String,
}

/// A number block handed out by the central service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAllocation {
    pub allocation_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub numbers: Vec<u32>,
}

impl HeldAllocation {
    /// The block the service's allocation answer hands out.
    pub fn granted(a: &crate::protocol::central::Allocation) -> HeldAllocation {
        HeldAllocation {
            allocation_id: a.allocation_id.clone(),
            office_id: a.office_id.clone(),
            date: a.date,
            session_id: a.session_id.clone(),
            kind: a.kind,
            numbers: a.numbers.clone(),
        }
    }
}

/// What the signer needs to reissue a moved booking's ticket for its new day: the ticket
/// it had (its NIK check `n` is kept: it covers the registration id and the NIK, neither
/// of which a move changes) and what changed. The store does not sign.
#[derive(Debug, Clone)]
pub struct ReissuedTicket<'a> {
    pub registration_id: &'a str,
    pub old_ticket: &'a str,
    pub office_id: &'a str,
    pub date: NaiveDate,
    pub session_id: &'a str,
    pub queue_number: QueueNumber,
    pub issued_at: DateTime<Utc>,
}

impl ReissuedTicket<'_> {
    /// What the new ticket's QR says, as `kiosk_id` reissues it: the old ticket's `n`
    /// kept, the rest new. `None` for an old ticket that does not decode or is an `APM1`
    /// one, whose unkeyed check an `APM2` ticket cannot carry.
    pub fn claims(&self, kiosk_id: &str) -> Option<crate::protocol::ticket_qr::Claims> {
        use crate::protocol::ticket_qr;
        let old = ticket_qr::decode(self.old_ticket).ok()?;
        (old.version == ticket_qr::Version::Apm2).then(|| ticket_qr::Claims {
            r: self.registration_id.to_owned(),
            k: kiosk_id.to_owned(),
            o: self.office_id.to_owned(),
            d: self.date,
            s: self.session_id.to_owned(),
            q: self.queue_number.to_string(),
            n: old.claims.n,
            t: self.issued_at.timestamp(),
        })
    }
}

/// Free numbers the kiosk holds for one (office, date, session, kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldCount {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub free: u32,
}

/// One ticket as the printer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTicket {
    pub registration_id: String,
    pub group_id: String,
    pub booking_code: String,
    pub position: u8,
    pub group_size: u8,
    pub language: Language,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub queue_number: QueueNumber,
    pub name: Option<String>,
    pub masked_nik: String,
    pub application_type: ApplicationType,
    pub passport_type: PassportType,
    /// Why the booking is priority, printed on the ticket with what the officer checks.
    pub priority_reason: Option<PriorityReason>,
    /// A child (`Applicant::is_child` of the stored applicant): the ticket is worded for one.
    pub child: bool,
    pub qr_payload: String,
    pub created_at: DateTime<Utc>,
    pub printed: bool,
}

/// A registration waiting for the central service, with what the upload needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub registration_id: String,
    pub group_id: String,
    pub allocation_id: String,
    pub queue_number: u32,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub application_type: ApplicationType,
    pub passport_type: PassportType,
    pub priority_reason: Option<PriorityReason>,
    pub applicant: Applicant,
    pub created_at: DateTime<Utc>,
    pub ticket: String,
}

/// The central service's answer for one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    Accepted { receipt: Option<String> },
    Rejected { reason: String },
}

/// Counts for the summary, the heartbeat and the maintenance side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub registrations: u32,
    pub groups: u32,
    pub pending: u32,
    pub accepted: u32,
    pub rejected: u32,
    pub unprinted: u32,
    pub held_free: u32,
    pub oldest_unsynced: Option<DateTime<Utc>>,
    /// Cancels and reschedules the service has not answered yet.
    pub changes_waiting: u32,
}

/// A rejected booking, for the maintenance side: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub queue_number: String,
    pub reason: String,
}

/// (allocation, number) rows ordered by allocation, as one [`Release`] per allocation.
fn by_allocation(
    rows: impl Iterator<Item = rusqlite::Result<(String, u32)>>,
) -> Result<Vec<Release>, StoreError> {
    let mut out: Vec<Release> = Vec::new();
    for row in rows {
        let (allocation_id, number) = row?;
        match out.last_mut() {
            Some(r) if r.allocation_id == allocation_id => r.numbers.push(number),
            _ => out.push(Release {
                allocation_id,
                numbers: vec![number],
            }),
        }
    }
    Ok(out)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp: {e}")))
}

fn parse_date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(format!("date: {e}")))
}

fn parse_kind(s: &str) -> Result<QueueKind, StoreError> {
    QueueKind::from_code(s).ok_or_else(|| StoreError::Corrupt(format!("queue kind {s:?}")))
}

/// A value stored as its serde string form (the central API's codes).
fn code<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn from_code<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::Corrupt(format!("code {s:?}: {e}")))
}

/// The short code printed on a group's tickets: 8 hex digits of the group id's random
/// part, easy to read out at a counter.
pub fn booking_code(group_id: &uuid::Uuid) -> String {
    let hex = group_id.simple().to_string().to_uppercase();
    format!("{}-{}", &hex[24..28], &hex[28..32])
}

pub struct Store {
    conn: Connection,
    /// The mark beside the file (none in memory or read-only).
    mark: Option<mark::Mark>,
}

impl Store {
    /// Opens (creating if need be) and migrates the database at `path`; refuses with
    /// [`StoreError::Lost`] a database the mark beside it says is not the one the
    /// kiosk booked on, before anything is written to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mark = mark::Mark::beside(path).map_err(|error| StoreError::Mark {
            path: path.to_owned(),
            error,
        })?;
        let lost = |lost| StoreError::Lost {
            lost,
            path: path.to_owned(),
        };
        mark.check_file(path).map_err(lost)?;
        let conn = Connection::open(path)?;
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        mark.check_schema(version).map_err(lost)?;
        let mut store = Store::setup(conn)?;
        mark.check_id(&store.conn).map_err(lost)?;
        store.mark = Some(mark);
        if store.holds_anything()? {
            store.note_holding();
        }
        Ok(store)
    }

    /// Whether the database holds anything the central service counts.
    fn holds_anything(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM held_numbers) OR EXISTS (SELECT 1 FROM registrations)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The database now holds numbers or bookings: its mark is written, once.
    fn note_holding(&mut self) {
        if let Some(mark) = &mut self.mark {
            mark.write_once(&self.conn);
        }
    }

    /// Moves what the WAL holds into the database and truncates the WAL to nothing, so
    /// that data just cleared leaves the disk (with `secure_delete`, its old bytes are
    /// overwritten in the database file too).
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        let (busy, _, _): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        if busy != 0 {
            tracing::debug!("WAL checkpoint could not finish: a reader holds it");
        }
        Ok(())
    }

    /// Opens the file at `path` as it is, read-only: no migration, nothing written, so
    /// that `apm-kiosk doctor` can look at a kiosk whose daemon may be running. Only
    /// what reads ([`Store::quick_check`] and the queries) works on it.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(Store { conn, mark: None })
    }

    /// A database in memory, for tests and tools.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store, StoreError> {
        // WAL lets readers run beside the writer; FULL syncs the WAL at every commit, so a
        // confirmed booking is on the disk before the applicant sees their number.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted and overwritten content is zeroed, not left in free pages: a cleared
        // NIK must not stay readable in the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store { conn, mark: None };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version now in the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        // Foreign keys off while a migration runs (a no-op inside a transaction, so
        // here): SQLite's way of rebuilding a table that others refer to. Every key is
        // checked before the migration commits.
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        let migrated = self.run_migrations(found);
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        migrated
    }

    fn run_migrations(&mut self, found: u32) -> Result<(), StoreError> {
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(StoreError::Corrupt(format!(
                    "migration {version} leaves a broken reference in {table}"
                )));
            }
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            tracing::info!(version, "database migrated");
        }
        Ok(())
    }

    /// `PRAGMA integrity_check`: "ok" or what is wrong.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// `PRAGMA quick_check`, run at every start and by `apm-kiosk doctor`: what is
    /// wrong, at most ten lines, or nothing when the file is sound. Quicker than
    /// [`Store::integrity_check`] (no index contents compared), it still finds torn and
    /// mangled pages.
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare("PRAGMA quick_check(10)")?;
        let lines = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn kv_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    pub fn audit(
        &mut self,
        at: DateTime<Utc>,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit (at, event, detail) VALUES (?1, ?2, ?3)",
            params![ts(at), event, detail],
        )?;
        Ok(())
    }

    /// The last `limit` audit lines, newest first.
    pub fn audit_tail(&self, limit: u32) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT at, event, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = st.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // --- offices -------------------------------------------------------------------

    pub fn offices(&self) -> Result<Vec<Office>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT body FROM offices ORDER BY office_id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|body| {
            serde_json::from_str(&body?).map_err(|e| StoreError::Corrupt(format!("office: {e}")))
        })
        .collect()
    }

    /// Replaces the cached offices with the service's current list.
    pub fn replace_offices(&mut self, offices: &[Office]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM offices", [])?;
        for office in offices {
            let body = serde_json::to_string(office)
                .map_err(|e| StoreError::Corrupt(format!("office: {e}")))?;
            tx.execute(
                "INSERT INTO offices (office_id, body) VALUES (?1, ?2)",
                params![office.id, body],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    // --- queue numbers -------------------------------------------------------------

    /// Stores numbers the service handed out; a number already known is left as it is.
    pub fn add_held(&mut self, allocation: &HeldAllocation) -> Result<u32, StoreError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        for n in &allocation.numbers {
            added += tx.execute(
                "INSERT OR IGNORE INTO held_numbers
                   (office_id, date, session_id, kind, number, allocation_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    allocation.office_id,
                    allocation.date.to_string(),
                    allocation.session_id,
                    allocation.kind.code(),
                    n,
                    allocation.allocation_id
                ],
            )? as u32;
        }
        tx.commit()?;
        if added > 0 {
            self.note_holding();
        }
        Ok(added)
    }

    /// Free numbers per (office, date, session, kind), from `from` on.
    pub fn held_counts(&self, from: NaiveDate) -> Result<Vec<HeldCount>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT office_id, date, session_id, kind, COUNT(*) FROM held_numbers
             WHERE registration_id IS NULL AND released = 0 AND date >= ?1
             GROUP BY office_id, date, session_id, kind
             ORDER BY office_id, date, session_id, kind",
        )?;
        let rows = st.query_map([from.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (office_id, date, session_id, kind, free) = row?;
            Ok(HeldCount {
                office_id,
                date: parse_date(&date)?,
                session_id,
                kind: parse_kind(&kind)?,
                free,
            })
        })
        .collect()
    }

    /// What the flow may offer at one office, from `from` on.
    pub fn availability(
        &self,
        office_id: &str,
        from: NaiveDate,
    ) -> Result<Availability, StoreError> {
        let mut slots: Vec<SlotCount> = Vec::new();
        for c in self
            .held_counts(from)?
            .into_iter()
            .filter(|c| c.office_id == office_id)
        {
            let slot = match slots
                .iter_mut()
                .find(|s| s.date == c.date && s.session_id == c.session_id)
            {
                Some(s) => s,
                None => {
                    slots.push(SlotCount {
                        date: c.date,
                        session_id: c.session_id.clone(),
                        regular: 0,
                        priority: 0,
                    });
                    slots
                        .last_mut()
                        .ok_or_else(|| StoreError::Corrupt("slot".into()))?
                }
            };
            match c.kind {
                QueueKind::Regular => slot.regular = c.free,
                QueueKind::Priority => slot.priority = c.free,
            }
        }
        Ok(Availability {
            office_id: office_id.to_owned(),
            slots,
            pool: None,
        })
    }

    /// Free numbers whose date is before `today` are no longer the kiosk's: the service
    /// takes back numbers whose date has passed, so their releases need not be sent.
    /// Never past the day the central service last gave ([`Store::service_said`]): a
    /// clock years ahead must not throw away numbers still to come (they wait, out of
    /// booking by their date, until the service's word catches up).
    pub fn drop_past_numbers(&mut self, today: NaiveDate) -> Result<usize, StoreError> {
        let today = match self.service_said()? {
            Some(said) => today.min(said.date_naive()),
            None => today,
        };
        let tx = self.conn.transaction()?;
        let dropped = tx.execute(
            "DELETE FROM held_numbers WHERE registration_id IS NULL AND date < ?1",
            [today.to_string()],
        )?;
        tx.execute(
            "DELETE FROM release_queue WHERE date < ?1",
            [today.to_string()],
        )?;
        tx.commit()?;
        Ok(dropped)
    }

    // --- releases ------------------------------------------------------------------

    /// Takes free numbers out of booking for good and queues their release, in one
    /// transaction, before anything is sent: once a release may have reached the
    /// service, the number is not the kiosk's to book. A number booked since it was
    /// planned is left alone. Returns how many were queued.
    pub fn queue_releases(
        &mut self,
        give: &[Release],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut queued = 0;
        for r in give {
            for n in &r.numbers {
                let taken = tx.execute(
                    "UPDATE held_numbers SET released = 1
                     WHERE allocation_id = ?1 AND number = ?2
                       AND registration_id IS NULL AND released = 0",
                    params![r.allocation_id, n],
                )?;
                if taken == 1 {
                    queued += tx.execute(
                        "INSERT INTO release_queue (allocation_id, number, date, queued_at)
                         SELECT allocation_id, number, date, ?3 FROM held_numbers
                         WHERE allocation_id = ?1 AND number = ?2
                         ON CONFLICT (allocation_id, number) DO NOTHING",
                        params![r.allocation_id, n, ts(at)],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(queued)
    }

    /// Every release still waiting for the service's answer, by allocation, numbers
    /// ascending.
    pub fn queued_releases(&self) -> Result<Vec<Release>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT allocation_id, number FROM release_queue ORDER BY allocation_id, number",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        by_allocation(rows)
    }

    /// The service has answered these releases: they leave the queue.
    pub fn releases_answered(&mut self, answered: &[Release]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for r in answered {
            for n in &r.numbers {
                tx.execute(
                    "DELETE FROM release_queue WHERE allocation_id = ?1 AND number = ?2",
                    params![r.allocation_id, n],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes a failed attempt on releases that stay queued (sent again next round).
    pub fn note_release_failure(
        &mut self,
        failed: &[Release],
        error: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for r in failed {
            for n in &r.numbers {
                tx.execute(
                    "UPDATE release_queue SET attempts = attempts + 1, last_error = ?3
                     WHERE allocation_id = ?1 AND number = ?2",
                    params![r.allocation_id, n, error],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    // --- bookings ------------------------------------------------------------------

    /// Every booking this kiosk made for a NIK (by its tag), for the booking rules.
    pub fn history(&self, nik_tag: &str) -> Result<Vec<PastBooking>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT date, created_on, status, cancelled_at IS NOT NULL FROM registrations
             WHERE nik_tag = ?1",
        )?;
        let rows = st.query_map([nik_tag], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (date, created_on, status, cancelled) = row?;
            Ok(PastBooking {
                visit_date: parse_date(&date)?,
                created_on: parse_date(&created_on)?,
                rejected: status == "rejected",
                cancelled,
            })
        })
        .collect()
    }

    /// The blocklist entry for a NIK hash, if any.
    pub fn blocked_until(&self, h: &str) -> Result<Option<NaiveDate>, StoreError> {
        let until: Option<String> = self
            .conn
            .query_row("SELECT until FROM blocklist WHERE h = ?1", [h], |r| {
                r.get(0)
            })
            .optional()?;
        until.map(|u| parse_date(&u)).transpose()
    }

    /// Writes a whole group's booking in one transaction: takes the lowest free number of
    /// each member's kind, writes the registrations, their upload rows and an audit line.
    /// Nothing is written if any member cannot get a number.
    pub fn commit_booking(&mut self, plan: &CommitPlan<'_>) -> Result<Booked, CommitError> {
        let req = plan.request;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let group = NewGroup::insert(&tx, req)?;
        let mut tickets = Vec::with_capacity(req.members.len());
        for (position, member) in req.members.iter().enumerate() {
            tickets.push(commit_member(&tx, plan, &group, position, member)?);
        }
        audit_booking(&tx, req, &group)?;
        tx.commit().map_err(StoreError::from)?;
        self.note_holding();
        Ok(Booked {
            group_id: group.id,
            booking_code: group.booking_code,
            office_id: req.office_id.clone(),
            date: req.date,
            session_id: req.session_id.clone(),
            tickets,
        })
    }

    fn tickets_where(&self, clause: &str, arg: &str) -> Result<Vec<StoredTicket>, StoreError> {
        let sql = format!(
            "SELECT r.registration_id, r.group_id, g.booking_code, r.position, g.size, g.language,
                    r.office_id, r.date, r.session_id, r.kind, r.queue_number, r.ticket_name,
                    r.masked_nik, r.application_type, r.passport_type, r.ticket, r.created_at,
                    r.printed_at, r.priority_reason, r.child
             FROM registrations r JOIN groups g ON g.group_id = r.group_id
             WHERE {clause} ORDER BY r.created_at, r.position"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([arg])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(StoredTicket {
                registration_id: r.get(0)?,
                group_id: r.get(1)?,
                booking_code: r.get(2)?,
                position: r.get(3)?,
                group_size: r.get(4)?,
                language: from_code(&r.get::<_, String>(5)?)?,
                office_id: r.get(6)?,
                date: parse_date(&r.get::<_, String>(7)?)?,
                session_id: r.get(8)?,
                queue_number: QueueNumber {
                    kind: parse_kind(&r.get::<_, String>(9)?)?,
                    number: r.get(10)?,
                },
                name: r.get(11)?,
                masked_nik: r.get(12)?,
                application_type: from_code(&r.get::<_, String>(13)?)?,
                passport_type: from_code(&r.get::<_, String>(14)?)?,
                qr_payload: r.get(15)?,
                created_at: parse_ts(&r.get::<_, String>(16)?)?,
                printed: r.get::<_, Option<String>>(17)?.is_some(),
                priority_reason: r
                    .get::<_, Option<String>>(18)?
                    .map(|p| from_code(&p))
                    .transpose()?,
                child: r.get(19)?,
            });
        }
        Ok(out)
    }

    /// A group's tickets, in the group's order.
    pub fn group_tickets(&self, group_id: &str) -> Result<Vec<StoredTicket>, StoreError> {
        self.tickets_where("r.group_id = ?1", group_id)
    }

    /// Tickets not yet printed whole, oldest first.
    pub fn unprinted_tickets(&self) -> Result<Vec<StoredTicket>, StoreError> {
        self.tickets_where(
            "r.printed_at IS NULL AND r.cancelled_at IS NULL AND r.group_id != ?1",
            "",
        )
    }

    pub fn mark_printed(
        &mut self,
        registration_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE registrations SET printed_at = ?2 WHERE registration_id = ?1",
            params![registration_id, ts(at)],
        )?;
        Ok(())
    }

    // --- upload --------------------------------------------------------------------

    /// Stores the service's answers. An answered registration leaves the upload queue and
    /// its applicant record is cleared; a rejected one frees its number.
    pub fn record_results(
        &mut self,
        results: &[(String, UploadOutcome)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (id, outcome) in results {
            let (status, reason, receipt) = match outcome {
                UploadOutcome::Accepted { receipt } => ("accepted", None, receipt.as_deref()),
                UploadOutcome::Rejected { reason } => ("rejected", Some(reason.as_str()), None),
            };
            let changed = tx.execute(
                "UPDATE registrations SET status = ?2, reject_reason = ?3, receipt = ?4,
                        result_at = ?5, applicant = NULL
                 WHERE registration_id = ?1 AND status = 'pending'",
                params![id, status, reason, receipt, ts(at)],
            )?;
            tx.execute("DELETE FROM upload_queue WHERE registration_id = ?1", [id])?;
            if changed == 1 && status == "rejected" {
                // The service put the number back in its pool: it is no longer ours.
                tx.execute(
                    "UPDATE held_numbers SET released = 1 WHERE registration_id = ?1",
                    [id],
                )?;
                tx.execute(
                    "INSERT INTO audit (at, event, detail) VALUES (?1, 'registration_rejected', ?2)",
                    params![ts(at), reason.unwrap_or_default()],
                )?;
            }
        }
        tx.commit()?;
        if !results.is_empty() {
            // The applicant records just cleared held full NIKs: out of the WAL now,
            // not at the next checkpoint SQLite happens to make.
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Notes a failed attempt on registrations that stay queued.
    pub fn note_upload_failure(&mut self, ids: &[String], error: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE upload_queue SET attempts = attempts + 1, last_error = ?2 WHERE registration_id = ?1",
                params![id, error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn rejections(&self) -> Result<Vec<Rejection>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT registration_id, office_id, date, kind, queue_number, COALESCE(reject_reason, '')
             FROM registrations WHERE status = 'rejected' ORDER BY result_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (registration_id, office_id, date, kind, number, reason) = row?;
            Ok(Rejection {
                registration_id,
                office_id,
                date: parse_date(&date)?,
                queue_number: QueueNumber {
                    kind: parse_kind(&kind)?,
                    number,
                }
                .to_string(),
                reason,
            })
        })
        .collect()
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let count = |sql: &str| -> Result<u32, StoreError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        let oldest: Option<String> =
            self.conn
                .query_row("SELECT MIN(enqueued_at) FROM upload_queue", [], |r| {
                    r.get(0)
                })?;
        Ok(StoreStats {
            registrations: count("SELECT COUNT(*) FROM registrations")?,
            groups: count("SELECT COUNT(*) FROM groups")?,
            pending: count("SELECT COUNT(*) FROM upload_queue")?,
            accepted: count("SELECT COUNT(*) FROM registrations WHERE status = 'accepted'")?,
            rejected: count("SELECT COUNT(*) FROM registrations WHERE status = 'rejected'")?,
            unprinted: count(
                "SELECT COUNT(*) FROM registrations WHERE printed_at IS NULL AND cancelled_at IS NULL",
            )?,
            held_free: count(
                "SELECT COUNT(*) FROM held_numbers WHERE registration_id IS NULL AND released = 0",
            )?,
            oldest_unsynced: oldest.map(|t| parse_ts(&t)).transpose()?,
            changes_waiting: count("SELECT COUNT(*) FROM change_queue")?,
        })
    }

    /// Every registration id with its status: for the simulation's final check.
    pub fn registration_statuses(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT registration_id, status FROM registrations ORDER BY created_at")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The group row of a booking being committed, with the forms of its date and time
/// that every row of the booking repeats.
struct NewGroup {
    id: String,
    booking_code: String,
    date: String,
    created_at: String,
}

impl NewGroup {
    /// Writes the group row of a new booking under a fresh group id.
    fn insert(conn: &Connection, req: &BookingRequest) -> Result<NewGroup, StoreError> {
        let id = uuid::Uuid::now_v7();
        let group = NewGroup {
            id: id.to_string(),
            booking_code: booking_code(&id),
            date: req.date.to_string(),
            created_at: ts(req.created_at),
        };
        conn.execute(
            "INSERT INTO groups (group_id, booking_code, office_id, date, session_id, language, size, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                group.id,
                group.booking_code,
                req.office_id,
                group.date,
                req.session_id,
                code_of_language(req.language),
                req.members.len() as u32,
                group.created_at
            ],
        )?;
        Ok(group)
    }
}

/// A queue number taken for one registration, and the allocation it came from.
struct TakenNumber {
    registration_id: String,
    queue_number: QueueNumber,
    allocation_id: String,
}

/// Writes one member of a group being committed: takes the lowest free number of their
/// kind, signs their ticket, writes their registration and its upload row.
fn commit_member(
    conn: &Connection,
    plan: &CommitPlan<'_>,
    group: &NewGroup,
    position: usize,
    member: &Member,
) -> Result<BookedTicket, CommitError> {
    let req = plan.request;
    let kind = member.kind();
    let Some(taken) = take_lowest_number(conn, req, &group.date, kind)? else {
        return Err(CommitError::NumbersGone(kind));
    };
    let applicant = &member.applicant;
    let ticket = (plan.sign)(&TicketToSign {
        registration_id: &taken.registration_id,
        office_id: &req.office_id,
        date: req.date,
        session_id: &req.session_id,
        queue_number: taken.queue_number,
        nik: applicant.nik.as_str(),
        issued_at: req.created_at,
    });
    insert_registration(conn, plan, group, position, member, &taken, &ticket)?;
    conn.execute(
        "INSERT INTO upload_queue (registration_id, enqueued_at) VALUES (?1, ?2)",
        params![taken.registration_id, group.created_at],
    )
    .map_err(StoreError::from)?;
    Ok(BookedTicket {
        registration_id: taken.registration_id,
        queue_number: taken.queue_number,
        masked_nik: applicant.nik.masked(),
        name: applicant.name.clone(),
    })
}

/// Takes the lowest free held number of a kind for the request's session under a fresh
/// registration id; None when none is left.
fn take_lowest_number(
    conn: &Connection,
    req: &BookingRequest,
    date: &str,
    kind: QueueKind,
) -> Result<Option<TakenNumber>, StoreError> {
    let date = parse_date(date)?;
    let registration_id = uuid::Uuid::now_v7().to_string();
    let slot = (req.office_id.as_str(), date, req.session_id.as_str(), kind);
    Ok(
        take_number(conn, slot, &registration_id)?.map(|(number, allocation_id)| TakenNumber {
            registration_id,
            queue_number: QueueNumber { kind, number },
            allocation_id,
        }),
    )
}

/// Binds the lowest free held number of `(office, date, session, kind)` to
/// `registration_id`: its number and allocation, or None when none is free. The one
/// place a number is taken, for a booking and for a reschedule.
fn take_number(
    conn: &Connection,
    (office_id, date, session_id, kind): (&str, NaiveDate, &str, QueueKind),
    registration_id: &str,
) -> Result<Option<(u32, String)>, StoreError> {
    let date = date.to_string();
    let free: Option<(u32, String)> = conn
        .query_row(
            "SELECT number, allocation_id FROM held_numbers
             WHERE office_id = ?1 AND date = ?2 AND session_id = ?3 AND kind = ?4
               AND registration_id IS NULL AND released = 0
             ORDER BY number LIMIT 1",
            params![office_id, date, session_id, kind.code()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((number, allocation_id)) = free else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE held_numbers SET registration_id = ?1
         WHERE office_id = ?2 AND date = ?3 AND session_id = ?4 AND kind = ?5 AND number = ?6",
        params![
            registration_id,
            office_id,
            date,
            session_id,
            kind.code(),
            number
        ],
    )?;
    Ok(Some((number, allocation_id)))
}

/// Writes the registration row of one member, with the number taken and the signed
/// ticket; the NIK itself is kept only inside the applicant record.
fn insert_registration(
    conn: &Connection,
    plan: &CommitPlan<'_>,
    group: &NewGroup,
    position: usize,
    member: &Member,
    taken: &TakenNumber,
    ticket: &str,
) -> Result<(), StoreError> {
    let req = plan.request;
    let applicant = &member.applicant;
    let applicant_json = serde_json::to_string(applicant)
        .map_err(|e| StoreError::Corrupt(format!("applicant: {e}")))?;
    conn.execute(
        "INSERT INTO registrations
           (registration_id, group_id, position, office_id, date, session_id, kind,
            queue_number, allocation_id, nik_tag, application_type, passport_type,
            priority_reason, source, applicant, ticket_name, masked_nik, ticket,
            created_at, created_on, child)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21)",
        params![
            taken.registration_id,
            group.id,
            position as u32 + 1,
            req.office_id,
            group.date,
            req.session_id,
            taken.queue_number.kind.code(),
            taken.queue_number.number,
            taken.allocation_id,
            (plan.nik_tag)(applicant.nik.as_str()),
            member.application_type.code(),
            member.passport_type.code(),
            member.priority.map(PriorityReason::code),
            code(&applicant.source),
            applicant_json,
            applicant.name,
            applicant.nik.masked(),
            ticket,
            group.created_at,
            plan.created_on.to_string(),
            applicant.is_child()
        ],
    )?;
    Ok(())
}

/// The booking's PII-free audit line: the group's code, where and when, and how many
/// numbers of each kind it took.
fn audit_booking(
    conn: &Connection,
    req: &BookingRequest,
    group: &NewGroup,
) -> Result<(), StoreError> {
    let (regular, priority) = crate::flow::needs(&req.members);
    conn.execute(
        "INSERT INTO audit (at, event, detail) VALUES (?1, 'booking_committed', ?2)",
        params![
            group.created_at,
            format!(
                "group {} office {} date {} session {} regular {} priority {}",
                group.booking_code, req.office_id, group.date, req.session_id, regular, priority
            )
        ],
    )?;
    Ok(())
}

fn code_of_language(l: Language) -> String {
    code(&l)
}

#[cfg(test)]
mod tests;
