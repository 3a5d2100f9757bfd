//! What the state directory keeps, opened at start and closed at the end: the kiosk's
//! key, its enrollment and its store (checked before the kiosk books on it).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{oneshot, watch};

use crate::identity::{Enrollment, KioskKey};
use crate::store::writer::StoreHandle;

/// What the state directory keeps: the kiosk's key, its enrollment and its store.
pub(super) struct Kept {
    pub(super) signing: Arc<ed25519_dalek::SigningKey>,
    pub(super) tag_secret: Arc<[u8; 32]>,
    pub(super) enrollment: watch::Sender<Option<Arc<Enrollment>>>,
    pub(super) store: StoreHandle,
    pub(super) store_thread: std::thread::JoinHandle<()>,
}

impl Kept {
    /// Opens what `state_dir` keeps; a failure on a full disk (by `disk`) says so.
    pub(super) async fn open(
        state_dir: &std::path::Path,
        disk: &crate::disk::SharedDisk,
    ) -> anyhow::Result<Kept> {
        Kept::open_on(state_dir)
            .await
            .map_err(|e| match disk.space() {
                Ok(space) if space.is_full() => {
                    e.context(crate::disk::full_message(state_dir, &space))
                }
                _ => e,
            })
    }

    async fn open_on(state_dir: &std::path::Path) -> anyhow::Result<Kept> {
        // Owner-only, as the README says, under systemd or not.
        crate::identity::ensure_private_dir(state_dir)?;
        let key = KioskKey::load_or_create(state_dir).context("kiosk key")?;
        let signing = Arc::new(key.signing_key().clone());
        let tag_secret = Arc::new(crate::identity::nik_tag_secret(&signing));
        let enrolled = Enrollment::load(state_dir)
            .context("enrollment")?
            .map(Arc::new);
        let db = state_dir.join("kiosk.db");
        let existed = db.exists();
        let (store, store_thread) = open_store(&db).await?;
        // SQLite makes its files as the umask says (0644 outside systemd); its WAL and
        // shared memory take the database's mode when they are made.
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            if let Some(was) = crate::identity::make_owner_only(&file, 0o600)?
                && existed
            {
                tracing::warn!(path = %file.display(), was = format_args!("{was:04o}"), "database file was open to others: made owner-only");
            }
        }
        Ok(Kept {
            signing,
            tag_secret,
            enrollment: watch::channel(enrolled).0,
            store,
            store_thread,
        })
    }
}

/// Waits for the store's writer to finish what it was given (a booking being committed
/// is committed) and close the database, once the printer thread lets go of it too (a
/// ticket being printed comes out whole). A printer that hangs mid-job is given up on
/// after [`STOP_GRACE`]: its ticket stays unprinted in the store and prints at the next
/// start, and what was committed is on disk already (WAL, synchronous = FULL).
pub(super) async fn close_store(store_thread: std::thread::JoinHandle<()>) {
    let (closed_tx, closed) = oneshot::channel();
    // A plain thread, not spawn_blocking: the runtime must not wait for it at exit.
    let _ = std::thread::Builder::new()
        .name("store-close".into())
        .spawn(move || {
            let _ = store_thread.join();
            let _ = closed_tx.send(());
        });
    if tokio::time::timeout(STOP_GRACE, closed).await.is_err() {
        tracing::warn!(
            grace_s = STOP_GRACE.as_secs(),
            "the printer did not finish its job in time; stopping anyway, its ticket prints at the next start"
        );
    } else {
        tracing::info!("store closed");
    }
}

/// How long a stop waits for the printer's job in progress and the store's last writes:
/// well inside the unit's `TimeoutStopSec=15s`.
pub const STOP_GRACE: Duration = Duration::from_secs(8);

/// Opens the store and checks it (`PRAGMA quick_check`) before anything else is done
/// with it: after a power cut the kiosk must not book on a damaged file. A damaged one
/// stops the daemon with what to do; `apm-kiosk doctor` runs the same check.
async fn open_store(
    db: &std::path::Path,
) -> anyhow::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
    let damaged = |what: String| {
        anyhow::anyhow!(
            "the database {} is damaged ({what}); the kiosk does not book on it. Stop the service, copy the state directory aside for the central office, then follow \"A damaged database\" in /usr/share/doc/apm-kiosk/install.md",
            db.display()
        )
    };
    let (store, thread) = match StoreHandle::open(db) {
        Ok(opened) => opened,
        Err(e @ crate::store::StoreError::Lost { .. }) => {
            return Err(anyhow::anyhow!(
                "{e}. The kiosk does not start on it. Stop the service and follow \"A lost database\" in /usr/share/doc/apm-kiosk/install.md: put the database back from where it went, or tell the central office and start anew"
            ));
        }
        Err(crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, msg)))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            return Err(damaged(msg.unwrap_or_else(|| e.to_string())));
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot open the database {}", db.display()))
            );
        }
    };
    match store.run(|s| s.quick_check()).await {
        Ok(problems) if problems.is_empty() => Ok((store, thread)),
        Ok(problems) => Err(damaged(problems.join("; "))),
        Err(crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, msg)))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            Err(damaged(msg.unwrap_or_else(|| e.to_string())))
        }
        Err(e) => Err(anyhow::Error::new(e).context("the database check failed")),
    }
}
