//! The store knows it exists: once a database has held anything the central service
//! counts (a queue number handed out, a booking), its id is written beside it, in
//! `store.mark` in the state directory, next to the kiosk's key and enrollment. A
//! kiosk whose mark names a database that is then missing, empty or another one has
//! lost bookings and held numbers without a word: the daemon refuses to start on it and
//! `apm-kiosk doctor` FAILs, both with what happened; the recovery steps are
//! `deploy/install.md`'s "A lost database".
//!
//! The id is made by the database itself (migration 0004, kept in `kv`), so a backup
//! copied back is the same database and starts; a fresh file is not. A kiosk that never
//! held anything has no mark and starts on a new database as a new kiosk does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension as _};

/// The mark's file name, in the database's directory.
pub const MARK_FILE: &str = "store.mark";
/// Where the database keeps its own id.
const STORE_ID_KEY: &str = "store_id";

/// How the database the mark names was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// No file at all.
    Missing,
    /// A file with no schema in it (emptied, or made anew).
    Emptied,
    /// A database, but not the one that held the bookings (another id, or none).
    Replaced,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lost::Missing => "is missing",
            Lost::Emptied => "is empty",
            Lost::Replaced => "is not the database this kiosk booked on",
        })
    }
}

/// The mark beside a database: where it is, and the id it names once written.
#[derive(Debug)]
pub(super) struct Mark {
    path: PathBuf,
    id: Option<String>,
}

impl Mark {
    /// The mark beside the database at `db`, read.
    pub(super) fn beside(db: &Path) -> io::Result<Mark> {
        let path = db.with_file_name(MARK_FILE);
        let id = match fs::read_to_string(&path) {
            Ok(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Mark { path, id })
    }

    /// The database has held something the service counts.
    pub(super) fn written(&self) -> bool {
        self.id.is_some()
    }

    /// Before the file is opened: a marked database must be there.
    pub(super) fn check_file(&self, db: &Path) -> Result<(), Lost> {
        match self.written() && !db.exists() {
            true => Err(Lost::Missing),
            false => Ok(()),
        }
    }

    /// Once opened, before anything is written: a marked database has its schema.
    pub(super) fn check_schema(&self, schema_version: u32) -> Result<(), Lost> {
        match self.written() && schema_version == 0 {
            true => Err(Lost::Emptied),
            false => Ok(()),
        }
    }

    /// Once migrated: the database is the one the mark names.
    pub(super) fn check_id(&self, conn: &Connection) -> Result<(), Lost> {
        let Some(want) = &self.id else {
            return Ok(());
        };
        match store_id(conn) {
            Ok(Some(id)) if &id == want => Ok(()),
            _ => Err(Lost::Replaced),
        }
    }

    /// Writes the database's id into the mark if it is not there yet. A failure is
    /// logged and tried again at the next booking or allocation: what was stored is.
    pub(super) fn write_once(&mut self, conn: &Connection) {
        if self.written() {
            return;
        }
        let written = store_id(conn)
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|id| id.ok_or_else(|| io::Error::other("the database has no id")))
            .and_then(|id| write_durably(&self.path, &id).map(|()| id));
        match written {
            Ok(id) => self.id = Some(id),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot write the store's mark")
            }
        }
    }
}

/// What a look at a database from outside finds (`apm-kiosk doctor`): `Some` when the
/// mark beside `db` names a database that is not there as it should be. Opens nothing
/// for writing.
pub fn lost(db: &Path) -> io::Result<Option<Lost>> {
    let mark = Mark::beside(db)?;
    if let Err(lost) = mark.check_file(db) {
        return Ok(Some(lost));
    }
    if !mark.written() {
        return Ok(None);
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags).map_err(io::Error::other)?;
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(io::Error::other)?;
    Ok(mark
        .check_schema(version)
        .and_then(|()| mark.check_id(&conn))
        .err())
}

fn store_id(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM kv WHERE key = ?1", [STORE_ID_KEY], |r| {
        r.get(0)
    })
    .optional()
}

/// Writes `text` to `path` owner-only through a synced temporary file moved into place,
/// and syncs the directory, so that the mark survives a power cut.
fn write_durably(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(format!("{text}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}
