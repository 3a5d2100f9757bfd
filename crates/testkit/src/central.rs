//! The central simulator (`apm_kiosk_sim::central`) as the tests run it: its database
//! in a temp directory, its clock pinned or following the system's, served on a
//! loopback port of its own until the [`Central`] handle is dropped or stopped; and a
//! kiosk's enrollment with it through the kiosk's own client. The service itself (its
//! routes, rules and faults) is the simulator's; only starting and stopping it is here.

use std::time::Duration;

use apm_kiosk::protocol::central::{EnrollRequest, Key32};
use apm_kiosk::sync::client::{CentralApi, HttpCentral};
use apm_kiosk_sim::central::{CentralSim, SimSeed, serve};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every office of the simulator's default seed, for an enrollment code that covers all.
pub const ALL_OFFICES: [&str; 3] = ["KRM", "BTM", "MKS"];

/// How long the kiosk's client waits for the simulator on loopback.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running central simulator.
pub struct Central {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    /// The service's state: enrollment codes, faults, clock, what it received.
    pub sim: CentralSim,
    /// Stops the server when dropped.
    pub guard: ServerGuard,
    /// Holds the simulator's database for as long as the service runs.
    _dir: tempfile::TempDir,
}

/// Stops the simulator's server when dropped; [`ServerGuard::stop`] also waits for it
/// to have closed its port.
pub struct ServerGuard {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerGuard {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the simulator seeded with `seed` on a free loopback port, its clock pinned
/// at `clock` (`None`: the system's clock, as a daemon under test needs). Must be
/// called on a tokio runtime: the server is a task of it.
pub async fn start(seed: SimSeed, clock: Option<DateTime<Utc>>) -> Central {
    let dir = tempfile::tempdir().expect("temp dir for the central simulator");
    let sim = CentralSim::open(&dir.path().join("central.sqlite"), &seed)
        .expect("the central simulator opens its database");
    sim.set_clock(clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("the listener's address")
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = sim.clone();
    let task = tokio::spawn(async move {
        let _ = serve(server, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    Central {
        base,
        sim,
        guard: ServerGuard {
            stop: Some(stop),
            task: Some(task),
        },
        _dir: dir,
    }
}

/// [`start`] with the clock pinned at `now`, so that dates in the test are fixed.
pub async fn start_at(seed: SimSeed, now: DateTime<Utc>) -> Central {
    start(seed, Some(now)).await
}

/// The default seed on the system's clock, with `code` a valid enrollment code for
/// every office: the service a whole daemon under test enrolls with.
pub async fn start_for_daemon(code: &str) -> Central {
    let central = start(SimSeed::default(), None).await;
    central
        .sim
        .add_enroll_code(code, &ALL_OFFICES)
        .expect("enrollment code added");
    central
}

/// A kiosk enrolled with the service: its client (with the token), its identity and
/// the key its enrollment registered.
pub struct Enrolled {
    pub api: HttpCentral,
    pub kiosk_id: String,
    pub token: String,
    pub nik_hash_key: Key32,
    pub office_ids: Vec<String>,
    pub key: SigningKey,
}

impl Central {
    /// The kiosk's client of this service.
    pub fn client(&self, token: Option<&str>) -> HttpCentral {
        client(&self.base, token)
    }

    /// Makes `code` valid for `offices` and enrolls a new kiosk with it, as a
    /// technician's `apm-kiosk enroll` does.
    pub async fn enroll(&self, code: &str, offices: &[&str]) -> Enrolled {
        self.sim
            .add_enroll_code(code, offices)
            .expect("enrollment code added");
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let mut api = self.client(None);
        let answer = api
            .enroll(&EnrollRequest {
                code: code.into(),
                public_key: Key32(key.verifying_key().to_bytes()),
                software_version: "test".into(),
            })
            .await
            .expect("the kiosk enrolls");
        api.set_token(answer.token.clone());
        Enrolled {
            api,
            kiosk_id: answer.kiosk_id,
            token: answer.token,
            nik_hash_key: answer.nik_hash_key,
            office_ids: answer.office_ids,
            key,
        }
    }

    /// Stops the server and waits until its port is closed.
    pub async fn stop(self) {
        self.guard.stop().await;
    }
}

/// The kiosk's client of the service at `base`, on loopback.
pub fn client(base: &str, token: Option<&str>) -> HttpCentral {
    HttpCentral::new(base, token.map(str::to_owned), CLIENT_TIMEOUT, None)
        .expect("a client for loopback")
}

/// A loopback address nobody listens on: the network of an offline kiosk.
pub async fn dead_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    drop(listener);
    format!("http://{addr}")
}
