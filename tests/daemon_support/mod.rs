//! What the tests of a whole daemon share: a kiosk directory with simulated reader and
//! printer (real pseudo-terminals), optionally the central simulator on loopback (the
//! testkit's, with this harness's enrollment code), a config file for them, the daemon
//! binary run as a separate process (as systemd runs it), and the control-channel steps
//! of a booking.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};
pub use apm_kiosk_testkit::central::Central;

pub const BIN: &str = env!("CARGO_BIN_EXE_apm-kiosk");
pub const CODE: &str = "TEST-APPLIANCE";

/// A kiosk's files and simulated devices in a temp directory.
pub struct Kiosk {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub reader_link: PathBuf,
    pub printer_link: PathBuf,
    pub tickets: PathBuf,
    pub reader: ReaderSimHandle,
    pub printer: PrinterSimHandle,
}

impl Kiosk {
    /// Devices started and a config written that points at them and at `central`.
    pub fn new(central: &str) -> Kiosk {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::path::absolute(dir.path()).expect("absolute temp dir");
        let state = root.join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let reader_link = root.join("reader.tty");
        let printer_link = root.join("printer.tty");
        let tickets = root.join("tickets");
        let reader = ReaderSim::start(&reader_link, 115_200).expect("reader simulator");
        let printer = PrinterSim::start(&printer_link, &tickets, printer_options())
            .expect("printer simulator");
        let config = root.join("kiosk.toml");
        write_config(&config, &state, central, &reader_link, &printer_link);
        Kiosk {
            _dir: dir,
            root,
            state,
            config,
            reader_link,
            printer_link,
            tickets,
            reader,
            printer,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.state.join("control.sock")
    }

    pub fn db(&self) -> PathBuf {
        self.state.join("kiosk.db")
    }
}

/// The simulated printer of these kiosks: a TM-T20, as [`write_config`] says, its head
/// at ten times its speed: these kiosks are about bookings, not the printer's time.
pub fn printer_options() -> PrinterSimOptions {
    PrinterSimOptions {
        profile: apm_kiosk::protocol::printer_profile::PrinterProfile::of(
            apm_kiosk::protocol::printer_profile::PrinterModel::TmT20,
            PaperWidth::Mm80,
        ),
        head_mm_per_s: Some(1500),
        ..PrinterSimOptions::default()
    }
}

pub fn write_config(path: &Path, state: &Path, central: &str, reader: &Path, printer: &Path) {
    write_config_with(path, state, central, reader, printer, "");
}

/// [`write_config`] with more tables (`extra`, TOML) at the end.
pub fn write_config_with(
    path: &Path,
    state: &Path,
    central: &str,
    reader: &Path,
    printer: &Path,
    extra: &str,
) {
    let text = format!(
        r#"# A kiosk on simulated devices, for the daemon tests.
[kiosk]
state_dir = "{state}"
language = "id"
inactivity_warning_s = 300
inactivity_reset_s = 60

[card_reader]
path = "{reader}"

[printer]
path = "{printer}"
paper = "80mm"
model = "tm-t20"

[central]
url = "{central}"
timeout_s = 5
sync_interval_s = 5

[sync]
hold_days = 4
low_water = 2
target = 3
{extra}"#,
        state = state.display(),
        reader = reader.display(),
        printer = printer.display(),
    );
    std::fs::write(path, text).expect("config written");
}

/// The central simulator on a loopback port on the system's clock, with [`CODE`] valid
/// for every office.
pub async fn start_central() -> Central {
    apm_kiosk_testkit::central::start_for_daemon(CODE).await
}

/// The daemon binary, headless, as its own process. Killed if still running when
/// dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(config: &Path, log: &Path) -> Daemon {
        Daemon::spawn_with_log_level(config, log, "info")
    }

    /// With `RUST_LOG` set to `filter`.
    pub fn spawn_with_log_level(config: &Path, log: &Path, filter: &str) -> Daemon {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("daemon log");
        let child = Command::new(BIN)
            .args(["run", "--headless", "--config"])
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("daemon starts");
        Daemon {
            child,
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: sends a signal to our own child process.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits for the exit, up to `limit`; `None` if it is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until the control socket answers a status request.
pub async fn wait_ready(socket: &Path, limit: Duration) -> apm_kiosk::control::Client {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut client) =
            apm_kiosk::control::Client::connect(socket, Duration::from_millis(500)).await
            && client
                .command(apm_kiosk::control::Command::Status, Duration::from_secs(5))
                .await
                .is_ok()
        {
            return client;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not answer on {}",
            socket.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values[values.len() / 2]
}

/// Applicants with their own KTP and nothing special about their visit, each a
/// different person.
pub fn plain_people(n: usize) -> Vec<apm_kiosk::simulate::crowd::Person> {
    use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry};
    let today = chrono::Utc::now().date_naive();
    let people: Vec<_> = Crowd::new(11, today)
        .visits(n * 4 + 20)
        .into_iter()
        .filter_map(|v| match (v.behaviour, v.lead) {
            (Behaviour::Plain, Entry::Card { person, .. }) => Some(person),
            _ => None,
        })
        .take(n)
        .collect();
    assert_eq!(people.len(), n, "enough plain visitors");
    people
}

pub const PATIENCE: Duration = Duration::from_secs(20);

/// Waits for the screen, or fails with the view the kiosk shows instead.
pub async fn wait_screen(client: &mut apm_kiosk::control::Client, screen: &str) {
    client
        .wait_for(screen, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("screen {screen}: {e}; view {}", client.view));
}

/// The `key` of the first item of the view's `list` that `pred` accepts.
pub fn first_with(
    view: &serde_json::Value,
    list: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
    key: &str,
) -> String {
    view[list]
        .as_array()
        .and_then(|a| a.iter().find(|v| pred(v)))
        .and_then(|v| v[key].as_str())
        .unwrap_or_else(|| panic!("no {list} to choose in {view}"))
        .to_owned()
}

/// Waits until the kiosk holds queue numbers to book with.
pub async fn wait_numbers(client: &mut apm_kiosk::control::Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = client
            .command(apm_kiosk::control::Command::Status, PATIENCE)
            .await
            .expect("status");
        if s["store"]["held_free"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no queue numbers: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One applicant through every screen up to the review, where the next tap books.
pub async fn book_until_review(
    client: &mut apm_kiosk::control::Client,
    reader: &ReaderSimHandle,
    person: &apm_kiosk::simulate::crowd::Person,
) {
    use apm_kiosk::domain::{ApplicationType, PassportType};
    use apm_kiosk::flow::Intent;
    wait_screen(client, "idle").await;
    client.send(&Intent::Start).await.expect("sent");
    wait_screen(client, "read_card").await;
    reader.present_card(apm_kiosk::simulate::card_of(person));
    wait_screen(client, "confirm_identity").await;
    reader.remove_card();
    client.send(&Intent::ConfirmIdentity).await.expect("sent");
    wait_screen(client, "details").await;
    client
        .send(&Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        })
        .await
        .expect("sent");
    client
        .send(&Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        })
        .await
        .expect("sent");
    client.send(&Intent::ConfirmDetails).await.expect("sent");
    wait_screen(client, "members").await;
    client.send(&Intent::FinishMembers).await.expect("sent");
    wait_screen(client, "office").await;
    let office_id = first_with(&client.view, "offices", |_| true, "office_id");
    client
        .send(&Intent::ChooseOffice { office_id })
        .await
        .expect("sent");
    wait_screen(client, "date").await;
    let date = first_with(&client.view, "dates", |d| d["status"] == "open", "date");
    client
        .send(&Intent::ChooseDate {
            date: date.parse().expect("a date"),
        })
        .await
        .expect("sent");
    wait_screen(client, "session").await;
    let session_id = first_with(
        &client.view,
        "sessions",
        |s| s["bookable"] == true,
        "session_id",
    );
    client
        .send(&Intent::ChooseSession { session_id })
        .await
        .expect("sent");
    wait_screen(client, "review").await;
}

/// What a power cut must never leave behind, read straight from the database file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StoreFacts {
    pub groups: u64,
    pub registrations: u64,
    pub unprinted: u64,
    /// Groups whose registrations are fewer or more than their size.
    pub partial_groups: u64,
    /// Queue numbers marked as taken by a registration that is not there.
    pub orphan_numbers: u64,
    /// Registrations neither waiting for upload nor answered.
    pub unqueued: u64,
    pub integrity: String,
}

pub fn store_facts(db: &Path) -> StoreFacts {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("database opens");
    let n = |sql: &str| -> u64 {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|v| u64::try_from(v).unwrap_or(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    StoreFacts {
        groups: n("SELECT COUNT(*) FROM groups"),
        registrations: n("SELECT COUNT(*) FROM registrations"),
        unprinted: n("SELECT COUNT(*) FROM registrations WHERE printed_at IS NULL"),
        partial_groups: n("SELECT COUNT(*) FROM groups g WHERE g.size != \
             (SELECT COUNT(*) FROM registrations r WHERE r.group_id = g.group_id)"),
        orphan_numbers: n(
            "SELECT COUNT(*) FROM held_numbers h WHERE h.registration_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.registration_id = h.registration_id)",
        ),
        unqueued: n(
            "SELECT COUNT(*) FROM registrations r WHERE r.status = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM upload_queue q WHERE q.registration_id = r.registration_id)",
        ),
        integrity: conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check"),
    }
}
