//! The space left on the file system that holds the kiosk's state: one safe wrapper
//! around `statvfs(3)`, the threshold below which the maintenance report, the
//! maintenance menu and `apm-kiosk doctor` all call the disk low ([`LOW_BYTES`]), and
//! the one below which the kiosk takes no booking at all ([`FULL_BYTES`]: the
//! `disk_full` hold, a FAIL in the doctor, and the message of a start that fails on a
//! full disk). The daemon reads the space through a part ([`FreeSpace`]) so that tests
//! can fill and free a disk in memory; deciding what to do about it (a hold, a problem
//! line, a red row, a WARN) is the caller's.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Below this much free space the disk is low: the maintenance report lists it as a
/// problem, the menu shows it red and the doctor warns. Bookings are a few kilobytes
/// each; what fills a kiosk's disk is the journal, diagnostics bundles and package
/// upgrades (the package alone is some 40 MiB installed, and apt keeps its download
/// beside it). A kiosk on an island may wait a week or more for a technician to come by
/// boat, so the warning must come while weeks of that still fit, and before an upgrade
/// sent to the whole fleet fails on that kiosk for want of room: 512 MiB.
pub const LOW_BYTES: u64 = 512 * 1024 * 1024;

/// Below this much free space the kiosk goes out of service (`disk_full`) until space
/// is back, and the doctor FAILs. A booking is a few kilobytes, but SQLite needs room
/// beyond it (the WAL grows before a checkpoint, a migration copies tables) and the
/// journal keeps writing beside it: at 64 MiB every write the kiosk makes still fits many
/// times over, so the applicant who is let in can finish, and the kiosk stops before a
/// booking fails at its last step (`commit/storage_failed`), not after. Checked at
/// start, every minute and before each session.
pub const FULL_BYTES: u64 = 64 * 1024 * 1024;

/// The size of a file system and what an unprivileged process may still write to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl Space {
    /// Less than [`LOW_BYTES`] available.
    pub fn is_low(&self) -> bool {
        self.available_bytes < LOW_BYTES
    }
}

impl Space {
    /// Less than [`FULL_BYTES`] available: no booking may start.
    pub fn is_full(&self) -> bool {
        self.available_bytes < FULL_BYTES
    }
}

/// Where the daemon reads the free space of its state from: a part, passed in like the
/// clock, so that a test can fill the disk and free it again.
pub trait FreeSpace: Send + Sync + 'static {
    fn space(&self) -> io::Result<Space>;
}

/// A free-space reading as the daemon's parts hold it.
pub type SharedDisk = Arc<dyn FreeSpace>;

/// The file system of a directory, read with `statvfs(3)`: a kiosk's own.
#[derive(Debug, Clone)]
pub struct StateDisk {
    path: PathBuf,
}

impl StateDisk {
    pub fn new(path: impl Into<PathBuf>) -> StateDisk {
        StateDisk { path: path.into() }
    }
}

impl FreeSpace for StateDisk {
    fn space(&self) -> io::Result<Space> {
        space(&self.path)
    }
}

/// What a start that failed on a full disk says: "disk full", where, how much is left
/// and what the kiosk needs, and what to do.
pub fn full_message(path: &Path, space: &Space) -> String {
    format!(
        "disk full: the file system of {} has {} free, the kiosk needs at least {} to book; free space (`journalctl --vacuum-size=100M`, old diagnostics bundles, `apt-get clean`) and the kiosk starts again by itself",
        path.display(),
        mib(space.available_bytes),
        mib(FULL_BYTES)
    )
}

/// Bytes as whole MiB, for messages.
fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The space of the file system holding `path`.
pub fn space(path: &Path) -> io::Result<Space> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` a buffer of the right type, which
    // statvfs fills in full when it returns 0 and which is read only then.
    let st = unsafe {
        if libc::statvfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        st.assume_init()
    };
    // The fields are 32-bit on some kiosk boards (32-bit ARM), 64-bit here.
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, avail) = (st.f_frsize as u64, st.f_blocks as u64, st.f_bavail as u64);
    Ok(Space {
        total_bytes: blocks.saturating_mul(frsize),
        available_bytes: avail.saturating_mul(frsize),
    })
}

/// What an unprivileged process may still write on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    space(path).map(|s| s.available_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_file_system_has_a_size_and_a_missing_path_has_none() {
        let s = space(Path::new("/")).expect("statvfs works on /");
        assert!(
            s.total_bytes > 0 && s.available_bytes <= s.total_bytes,
            "{s:?}"
        );
        assert_eq!(free_space(Path::new("/")).ok().map(|_| ()), Some(()));
        assert!(space(Path::new("/no/such/dir")).is_err());
        assert!(free_space(Path::new("/no/such/dir")).is_err());
        assert!(space(Path::new("/a\0b")).is_err(), "a NUL in the path");
    }

    #[test]
    fn low_is_below_the_threshold() {
        let at = |available_bytes| Space {
            total_bytes: 8 << 30,
            available_bytes,
        };
        assert!(at(LOW_BYTES - 1).is_low());
        assert!(!at(LOW_BYTES - 1).is_full());
        assert!(at(FULL_BYTES - 1).is_full() && !at(FULL_BYTES).is_full());
        let said = full_message(Path::new("/var/lib/apm-kiosk"), &at(3 << 20));
        assert!(said.starts_with("disk full"), "{said}");
        assert!(
            said.contains("/var/lib/apm-kiosk") && said.contains("3 MiB"),
            "{said}"
        );
        assert!(!at(LOW_BYTES).is_low());
        assert!(!at(5 << 30).is_low());
    }
}
