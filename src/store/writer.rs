//! The one writer: a thread that owns the [`Store`] and runs, in order, the closures the
//! async side sends it. SQLite calls block, so they never run on a tokio worker, and
//! since only this thread touches the connection there is no lock around SQL at all.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use super::{Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cheap, cloneable way to reach the writer thread.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Opens the database at `path` on a new thread and returns a handle to it.
    pub fn open(path: &Path) -> Result<(StoreHandle, thread::JoinHandle<()>), StoreError> {
        StoreHandle::spawn(Store::open(path)?)
    }

    /// Hands an open store to a new writer thread. The thread ends when every handle is
    /// dropped, after finishing the jobs already sent.
    pub fn spawn(mut store: Store) -> Result<(StoreHandle, thread::JoinHandle<()>), StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                for job in rx {
                    job(&mut store);
                }
                // The connection closes here; WAL contents are checkpointed by SQLite.
            })
            .map_err(StoreError::Thread)?;
        Ok((StoreHandle { jobs }, thread))
    }

    /// Runs `f` on the writer thread and waits for its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |store: &mut Store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Like [`StoreHandle::call`] for closures that can fail with a store error.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    {
        self.call(f).await?
    }

    /// Runs `f` on the writer thread from blocking code (a device thread, a test).
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |store: &mut Store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)
    }
}
