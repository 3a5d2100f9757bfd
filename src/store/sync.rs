//! The store's queries that only the sync loop uses: the upload queue read row by row (so
//! that one damaged row does not hold the others back), the free numbers and the recent
//! bookings the release planner weighs, the NIK blocklist's deltas and version, and the
//! guardrail's view of the queue. Booking, printing and the schema stay in `store`;
//! what to send, keep or give back is decided in `sync::planner`.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::{PendingUpload, StoreError, from_code, parse_date, parse_kind, parse_ts, ts};
use crate::domain::QueueKind;

/// The kv key of the blocklist version last applied.
pub const BLOCKLIST_VERSION_KEY: &str = "blocklist_version";

/// What a scan of the upload queue found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadScan {
    /// Rows ready to send, oldest first.
    pub rows: Vec<PendingUpload>,
    /// Rows that cannot be decoded, as (registration id, what is wrong). They stay
    /// queued: a technician may repair them, and nothing is deleted without a result.
    /// The description names a field, never its content (it may be personal data).
    pub undecodable: Vec<(String, String)>,
}

/// One free number the kiosk holds, with the allocation it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeNumber {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub kind: QueueKind,
    pub number: u32,
    pub allocation_id: String,
}

/// The busiest day of recent bookings for one (office, session, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentUse {
    pub office_id: String,
    pub session_id: String,
    pub kind: QueueKind,
    /// Most registrations made on any one day (by the day they were made).
    pub peak_per_day: u32,
}

/// What applying a blocklist answer changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlocklistApplied {
    pub upserted: usize,
    pub removed: usize,
    /// Entries whose last blocked day is before today, dropped.
    pub expired: usize,
    /// Entries whose hash is not 16 lower-case hex digits, ignored.
    pub malformed: usize,
    pub total: usize,
}

/// The queue's size and age, for the guardrail and the heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueState {
    pub unsynced: u32,
    pub oldest_unsynced: Option<DateTime<Utc>>,
    pub held_free: u32,
}

/// Whether `h` is a blocklist hash as the spec writes it.
fn is_nik_hash(h: &str) -> bool {
    h.len() == crate::protocol::central::NIK_HASH_BYTES * 2
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where the latest time the central service gave is kept.
const SERVICE_SAID_KEY: &str = "service_said_at";

impl super::Store {
    /// Up to `limit` decodable registrations waiting for the central service, oldest
    /// first, passing over the ids in `skip` (rows already known to be damaged) and
    /// listing the damaged rows it meets.
    pub fn scan_uploads(
        &self,
        limit: usize,
        skip: &HashSet<String>,
    ) -> Result<UploadScan, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT r.registration_id, r.group_id, r.allocation_id, r.queue_number, r.office_id,
                    r.date, r.session_id, r.kind, r.application_type, r.passport_type,
                    r.priority_reason, r.applicant, r.created_at, r.ticket
             FROM upload_queue q JOIN registrations r ON r.registration_id = q.registration_id
             ORDER BY q.enqueued_at, r.position",
        )?;
        let mut rows = st.query([])?;
        let mut scan = UploadScan::default();
        while scan.rows.len() < limit {
            let Some(r) = rows.next()? else { break };
            let id: String = r.get(0)?;
            if skip.contains(&id) {
                continue;
            }
            match decode_pending(r) {
                Ok(p) => scan.rows.push(p),
                Err(what) => scan.undecodable.push((id, what)),
            }
        }
        Ok(scan)
    }

    /// Marks queued registrations as sent, in its own transaction, before their upload
    /// request goes out: from then on a cancel or reschedule of one is a change for the
    /// service, not a change in place. Returns the ids still queued (one cancelled in
    /// between has left the queue and must not be sent).
    pub fn mark_sent(
        &mut self,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut marked = Vec::with_capacity(ids.len());
        for id in ids {
            let n = tx.execute(
                "UPDATE upload_queue SET sent_at = COALESCE(sent_at, ?2) WHERE registration_id = ?1",
                params![id, ts(at)],
            )?;
            if n == 1 {
                marked.push(id.clone());
            }
        }
        tx.commit()?;
        Ok(marked)
    }

    /// Notes on a queued registration why it was not sent (kept for the technician).
    pub fn note_undecodable(
        &mut self,
        registration_id: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE upload_queue SET last_error = ?2 WHERE registration_id = ?1",
            params![registration_id, format!("cannot be decoded: {what}")],
        )?;
        Ok(())
    }

    /// Every free number dated from `from` to `to` (both included).
    pub fn free_numbers(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<FreeNumber>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT office_id, date, session_id, kind, number, allocation_id FROM held_numbers
             WHERE registration_id IS NULL AND released = 0 AND date >= ?1 AND date <= ?2
             ORDER BY office_id, date, session_id, kind, number",
        )?;
        let rows = st.query_map([from.to_string(), to.to_string()], |r| {
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
            let (office_id, date, session_id, kind, number, allocation_id) = row?;
            Ok(FreeNumber {
                office_id,
                date: parse_date(&date)?,
                session_id,
                kind: parse_kind(&kind)?,
                number,
                allocation_id,
            })
        })
        .collect()
    }

    /// Per (office, session, kind), the most registrations this kiosk made on one day
    /// from `since` on (rejected ones count too: the applicants came).
    pub fn recent_use(&self, since: NaiveDate) -> Result<Vec<RecentUse>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT office_id, session_id, kind, MAX(n) FROM (
                 SELECT office_id, session_id, kind, created_on, COUNT(*) AS n
                 FROM registrations WHERE created_on >= ?1
                 GROUP BY office_id, session_id, kind, created_on)
             GROUP BY office_id, session_id, kind
             ORDER BY office_id, session_id, kind",
        )?;
        let rows = st.query_map([since.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (office_id, session_id, kind, peak_per_day) = row?;
            Ok(RecentUse {
                office_id,
                session_id,
                kind: parse_kind(&kind)?,
                peak_per_day,
            })
        })
        .collect()
    }

    /// The blocklist version last applied; 0 (ask for the whole list) when none.
    pub fn blocklist_version(&self) -> Result<u64, StoreError> {
        match self.kv_get(BLOCKLIST_VERSION_KEY)? {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| StoreError::Corrupt("stored blocklist version".into())),
        }
    }

    /// Applies one blocklist answer in one transaction: a `full` answer replaces the
    /// list, a delta upserts and removes; entries whose last day is before `today` are
    /// dropped; the version is stored with the entries, so a crash in between cannot
    /// skip a delta.
    pub fn apply_blocklist(
        &mut self,
        version: u64,
        full: bool,
        upsert: &[(String, NaiveDate)],
        remove: &[String],
        today: NaiveDate,
    ) -> Result<BlocklistApplied, StoreError> {
        let tx = self.conn.transaction()?;
        let mut applied = BlocklistApplied::default();
        if full {
            tx.execute("DELETE FROM blocklist", [])?;
        }
        for h in remove {
            applied.removed += tx.execute("DELETE FROM blocklist WHERE h = ?1", [h])?;
        }
        for (h, until) in upsert {
            if !is_nik_hash(h) {
                applied.malformed += 1;
                continue;
            }
            if *until < today {
                tx.execute("DELETE FROM blocklist WHERE h = ?1", [h])?;
                continue;
            }
            tx.execute(
                "INSERT INTO blocklist (h, until) VALUES (?1, ?2)
                 ON CONFLICT (h) DO UPDATE SET until = excluded.until",
                params![h, until.to_string()],
            )?;
            applied.upserted += 1;
        }
        applied.expired = tx.execute(
            "DELETE FROM blocklist WHERE until < ?1",
            [today.to_string()],
        )?;
        tx.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![BLOCKLIST_VERSION_KEY, version.to_string()],
        )?;
        applied.total =
            tx.query_row("SELECT COUNT(*) FROM blocklist", [], |r| r.get::<_, u32>(0))? as usize;
        tx.commit()?;
        Ok(applied)
    }

    /// The upload queue's depth and oldest entry, and the free numbers held.
    pub fn queue_state(&self) -> Result<QueueState, StoreError> {
        let (unsynced, oldest): (u32, Option<String>) = self.conn.query_row(
            "SELECT COUNT(*), MIN(enqueued_at) FROM upload_queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let held_free: u32 = self.conn.query_row(
            "SELECT COUNT(*) FROM held_numbers WHERE registration_id IS NULL AND released = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(QueueState {
            unsynced,
            oldest_unsynced: oldest.map(|t| parse_ts(&t)).transpose()?,
            held_free,
        })
    }

    /// Records when the last heartbeat reached the service (for the maintenance side),
    /// and the latest time the service gave, for the clock's sanity check at the next
    /// start (`clock::sanity`): it never goes back.
    pub fn note_heartbeat(
        &mut self,
        at: DateTime<Utc>,
        server_time: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.kv_set("last_heartbeat_at", &ts(at))?;
        if self.service_said()?.is_none_or(|said| said < server_time) {
            self.kv_set(SERVICE_SAID_KEY, &ts(server_time))?;
        }
        Ok(())
    }

    /// The latest time the central service gave the kiosk, if it ever did.
    pub fn service_said(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.kv_get(SERVICE_SAID_KEY)?
            .map(|t| parse_ts(&t))
            .transpose()
    }
}

/// One upload row as the sync loop needs it. Errors name the field, never its value.
fn decode_pending(r: &rusqlite::Row<'_>) -> Result<PendingUpload, String> {
    fn field<T: rusqlite::types::FromSql>(
        r: &rusqlite::Row<'_>,
        i: usize,
        name: &str,
    ) -> Result<T, String> {
        r.get(i).map_err(|_| format!("{name} has the wrong type"))
    }
    fn check<T>(v: Result<T, StoreError>, name: &str) -> Result<T, String> {
        v.map_err(|_| format!("{name} is not valid"))
    }
    let applicant: Option<String> = field(r, 11, "applicant")?;
    let applicant = applicant.ok_or_else(|| "applicant record is missing".to_owned())?;
    let priority: Option<String> = field(r, 10, "priority_reason")?;
    Ok(PendingUpload {
        registration_id: field(r, 0, "registration_id")?,
        group_id: field(r, 1, "group_id")?,
        allocation_id: field(r, 2, "allocation_id")?,
        queue_number: field(r, 3, "queue_number")?,
        office_id: field(r, 4, "office_id")?,
        date: check(parse_date(&field::<String>(r, 5, "date")?), "date")?,
        session_id: field(r, 6, "session_id")?,
        kind: check(parse_kind(&field::<String>(r, 7, "kind")?), "kind")?,
        application_type: check(
            from_code(&field::<String>(r, 8, "application_type")?),
            "application_type",
        )?,
        passport_type: check(
            from_code(&field::<String>(r, 9, "passport_type")?),
            "passport_type",
        )?,
        priority_reason: check(
            priority.map(|p| from_code(&p)).transpose(),
            "priority_reason",
        )?,
        // serde's message could quote the record: only say that it does not decode.
        applicant: serde_json::from_str(&applicant)
            .map_err(|_| "applicant record does not decode".to_owned())?,
        created_at: check(
            parse_ts(&field::<String>(r, 12, "created_at")?),
            "created_at",
        )?,
        ticket: field(r, 13, "ticket")?,
    })
}
