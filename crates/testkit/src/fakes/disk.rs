//! [`FakeDisk`]: `disk::FreeSpace` in memory, a file system whose free space the test
//! sets (filled, freed, or unreadable), so that a test on paused time can fill the
//! kiosk's disk and free it again.

use std::io;
use std::sync::{Arc, Mutex};

use apm_kiosk::disk::{FreeSpace, Space};

/// The size every fake disk has: 8 GiB, a kiosk's.
const TOTAL: u64 = 8 << 30;

/// A file system whose free space the test sets; clones are the same disk.
#[derive(Debug, Clone)]
pub struct FakeDisk {
    available: Arc<Mutex<Option<u64>>>,
}

impl Default for FakeDisk {
    /// 4 GiB free.
    fn default() -> FakeDisk {
        FakeDisk::with_free(4 << 30)
    }
}

impl FakeDisk {
    pub fn with_free(bytes: u64) -> FakeDisk {
        FakeDisk {
            available: Arc::new(Mutex::new(Some(bytes))),
        }
    }

    /// Sets the free space; `None` makes `statvfs` fail.
    pub fn set_free(&self, bytes: Option<u64>) {
        *self.available.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
    }
}

impl FreeSpace for FakeDisk {
    fn space(&self) -> io::Result<Space> {
        match *self.available.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(available_bytes) => Ok(Space {
                total_bytes: TOTAL,
                available_bytes,
            }),
            None => Err(io::Error::other("statvfs failed (fake)")),
        }
    }
}
