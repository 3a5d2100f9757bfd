//! The maintenance side against the whole daemon: `app::run` in-process on a simulated
//! reader and printer (real pseudo-terminals) and the central simulator on loopback,
//! driven over the control channel as the touchscreen's menu and the CLI drive it.
//!
//! - the PIN lockout: five wrong PINs lock the pad, across two restarts of the daemon;
//! - every maintenance command, its effect and its audit line, and what outlives a
//!   restart (the technician's hold, the settings);
//! - the diagnostics bundle scanned for personal data after real bookings of known
//!   test applicants;
//! - the `apm-kiosk maint` CLI (the built binary) against the running daemon.

mod daemon_support;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apm_kiosk::app::Stopped;
use apm_kiosk::config::Config;
use apm_kiosk::control::{Client, Command};
use apm_kiosk::domain::{ApplicationType, PassportType};
use apm_kiosk::flow::Intent;
use apm_kiosk::maint::{HoldReason, Secret, SettingsChange};
use apm_kiosk::simulate::card_of;
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry, Person};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};
use apm_kiosk_testkit::central::{self, Central};
use daemon_support::{first_with, wait_screen as wait};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(20);
const PIN: &str = "482913";

fn write_config(dir: &Path, central: &str, pin_hash: Option<&str>) -> PathBuf {
    let path = dir.join("kiosk.toml");
    daemon_support::write_config_with(
        &path,
        dir,
        central,
        &dir.join("reader.tty"),
        &dir.join("printer.tty"),
        &format!(
            "\n[maint]\n# The technician's PIN.\npin_hash = \"{}\"\n",
            pin_hash.unwrap_or("")
        ),
    );
    path
}

struct Daemon {
    task: JoinHandle<anyhow::Result<Stopped>>,
    stop: oneshot::Sender<()>,
    client: Client,
}

async fn start(config: &Path) -> Daemon {
    let config = Config::load(config).expect("config loads");
    let socket = config.kiosk.control_socket();
    let _ = std::fs::remove_file(&socket);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(apm_kiosk::app::run(config, async move {
        let _ = stopped.await;
    }));
    let client = Client::connect(&socket, PATIENCE)
        .await
        .expect("control channel");
    Daemon { task, stop, client }
}

impl Daemon {
    async fn ask(&mut self, command: Command) -> Value {
        self.client
            .command(command, Duration::from_secs(40))
            .await
            .expect("command answered")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let ended = self.task.await.expect("daemon task").expect("daemon ran");
        assert_eq!(ended, Stopped::Shutdown);
    }
}

fn audit(state: &Path) -> Vec<(String, String)> {
    let store = apm_kiosk::store::Store::open(&state.join("kiosk.db")).expect("store opens");
    let mut lines: Vec<(String, String)> = store
        .audit_tail(10_000)
        .expect("audit")
        .into_iter()
        .map(|(_, event, detail)| (event, detail))
        .collect();
    lines.reverse();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_the_pad_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = std::path::absolute(dir.path()).expect("absolute");
    let hash = apm_kiosk::maint::pin::hash(PIN).expect("hash");
    // No central service and no devices: the pad needs neither.
    let config = write_config(&state, "http://127.0.0.1:9", Some(&hash));
    let unlock = |pin: &str| Command::MaintUnlock {
        pin: Secret(pin.into()),
    };

    let mut kiosk = start(&config).await;
    assert_eq!(
        kiosk.ask(unlock(PIN)).await,
        json!({ "result": "unlocked" })
    );
    assert_eq!(
        kiosk.ask(Command::MaintReport).await["menu_open"],
        true,
        "the menu is open"
    );
    assert_eq!(
        kiosk.ask(Command::MaintLock).await,
        json!({ "menu": "closed" })
    );
    for left in [4, 3, 2] {
        assert_eq!(
            kiosk.ask(unlock("000000")).await,
            json!({ "result": "wrong", "attempts_left": left })
        );
    }
    // A technician's restart, through the command: a distinct way of ending.
    let answer = kiosk.ask(Command::Restart).await;
    assert_eq!(answer["exit_code"], 75, "{answer}");
    let ended = kiosk.task.await.expect("task").expect("ran");
    assert_eq!(ended, Stopped::Restart);

    let mut kiosk = start(&config).await;
    assert_eq!(
        kiosk.ask(unlock("1111")).await,
        json!({ "result": "wrong", "attempts_left": 1 }),
        "the count survived the restart"
    );
    let locked = kiosk.ask(unlock("2222")).await;
    assert_eq!(locked["result"], "locked", "{locked}");
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(locked["until"].clone()).expect("until");
    let minutes = (until - chrono::Utc::now()).num_seconds() as f64 / 60.0;
    assert!((14.0..=15.1).contains(&minutes), "{minutes} min");
    // Locked: the right PIN does not open it.
    assert_eq!(kiosk.ask(unlock(PIN)).await["result"], "locked");
    kiosk.stop().await;

    let mut kiosk = start(&config).await;
    assert_eq!(
        kiosk.ask(unlock(PIN)).await["result"],
        "locked",
        "the lock survived the restart"
    );
    kiosk.stop().await;

    let lines = audit(&state);
    let unlocks: Vec<&str> = lines
        .iter()
        .filter(|(e, _)| e == "maint_unlock")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(unlocks.len(), 8, "{unlocks:?}");
    assert_eq!(unlocks[0], "unlocked");
    assert!(unlocks[5].starts_with("locked until"), "{unlocks:?}");
    assert!(lines.iter().any(|(e, _)| e == "restart"));
    assert!(lines.iter().any(|(e, _)| e == "maint_lock"));
    for (event, detail) in &lines {
        assert!(
            !detail.contains(PIN),
            "the PIN in the audit: {event} {detail}"
        );
    }

    // No PIN configured: the screen's menu cannot be opened.
    write_config(&state, "http://127.0.0.1:9", None);
    let mut kiosk = start(&config).await;
    assert_eq!(kiosk.ask(unlock(PIN)).await, json!({ "result": "no_pin" }));
    // ... until one is set and the daemon told to read it.
    write_config(&state, "http://127.0.0.1:9", Some(&hash));
    assert_eq!(kiosk.ask(Command::ReloadPin).await, json!({ "pin": "set" }));
    kiosk.stop().await;
}

/// A whole kiosk: the central simulator, the simulated devices, the daemon.
struct Site {
    root: PathBuf,
    state: PathBuf,
    config: PathBuf,
    central: Central,
    reader: ReaderSimHandle,
    printer: PrinterSimHandle,
    _dir: tempfile::TempDir,
}

async fn site(code: &str) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::path::absolute(dir.path()).expect("absolute temp dir");
    let state = root.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let central = central::start_for_daemon(code).await;
    let reader = ReaderSim::start(&state.join("reader.tty"), 115_200).expect("reader simulator");
    let printer = PrinterSim::start(
        &state.join("printer.tty"),
        &root.join("tickets"),
        daemon_support::printer_options(),
    )
    .expect("printer simulator");
    let hash = apm_kiosk::maint::pin::hash(PIN).expect("hash");
    let config = write_config(&state, &central.base, Some(&hash));
    Site {
        root,
        state,
        config,
        central,
        reader,
        printer,
        _dir: dir,
    }
}

async fn wait_for_numbers(kiosk: &mut Daemon) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = kiosk.ask(Command::MaintReport).await;
        if r["queue"]["held_free"].as_u64().unwrap_or(0) > 0 && r["reader"]["state"] == "ok" {
            return;
        }
        assert!(Instant::now() < deadline, "no numbers or no reader: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One applicant with their own KTP books the first open day and session at KRM.
async fn book(kiosk: &mut Daemon, reader: &ReaderSimHandle, person: &Person) {
    let c = &mut kiosk.client;
    wait(c, "idle").await;
    c.send(&Intent::Start).await.expect("sent");
    wait(c, "read_card").await;
    reader.present_card(card_of(person));
    wait(c, "confirm_identity").await;
    reader.remove_card();
    c.send(&Intent::ConfirmIdentity).await.expect("sent");
    wait(c, "details").await;
    c.send(&Intent::ChooseApplicationType {
        application_type: ApplicationType::New,
    })
    .await
    .expect("sent");
    c.send(&Intent::ChoosePassportType {
        passport_type: PassportType::Electronic,
    })
    .await
    .expect("sent");
    c.send(&Intent::ConfirmDetails).await.expect("sent");
    wait(c, "members").await;
    c.send(&Intent::FinishMembers).await.expect("sent");
    wait(c, "office").await;
    c.send(&Intent::ChooseOffice {
        office_id: "KRM".into(),
    })
    .await
    .expect("sent");
    wait(c, "date").await;
    let date = first_with(&c.view, "dates", |d| d["status"] == "open", "date");
    c.send(&Intent::ChooseDate {
        date: date.parse().expect("a date"),
    })
    .await
    .expect("sent");
    wait(c, "session").await;
    let session_id = first_with(&c.view, "sessions", |s| s["bookable"] == true, "session_id");
    c.send(&Intent::ChooseSession { session_id })
        .await
        .expect("sent");
    wait(c, "review").await;
    c.send(&Intent::ConfirmBooking).await.expect("sent");
    wait(c, "done").await;
    c.send(&Intent::Finish).await.expect("sent");
    wait(c, "idle").await;
}

fn plain_people(n: usize) -> Vec<Person> {
    let today = chrono::Utc::now().date_naive();
    Crowd::new(11, today)
        .visits(60)
        .into_iter()
        .filter_map(|v| match (v.behaviour, v.lead, v.members.is_empty()) {
            (Behaviour::Plain, Entry::Card { person, .. }, true) => Some(person),
            _ => None,
        })
        .take(n)
        .collect()
}

/// Every file of a `.tar.gz`, by name.
fn untar(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).expect("bundle opens");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("name").display().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("text file");
        out.push((name, text));
    }
    out
}

/// Runs of exactly 16 digits: the shape of a NIK.
fn nik_shaped(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            if run.len() == 16 {
                found.push(run.clone());
            }
            run.clear();
        }
    }
    found
}

/// Indonesian phone numbers: +62 or 0, then 8, then 8 to 11 digits (spaces and dashes
/// allowed between groups).
fn phone_shaped(text: &str) -> Vec<String> {
    let digits: Vec<(usize, char)> = text.char_indices().collect();
    let mut found = Vec::new();
    for (i, &(_, c)) in digits.iter().enumerate() {
        let start = match c {
            '+' if text[digits[i].0..].starts_with("+628") => i + 3,
            '0' if (i == 0 || !digits[i - 1].1.is_ascii_alphanumeric())
                && digits.get(i + 1).map(|d| d.1) == Some('8') =>
            {
                i + 1
            }
            _ => continue,
        };
        // Digits, with single spaces or dashes between groups; `end` is past the last digit.
        let (mut n, mut j, mut end) = (0, start, start);
        while let Some(&(_, d)) = digits.get(j) {
            if d.is_ascii_digit() {
                n += 1;
                end = j + 1;
            } else if !((d == ' ' || d == '-')
                && digits.get(j + 1).is_some_and(|x| x.1.is_ascii_digit()))
            {
                break;
            }
            j += 1;
        }
        if (9..=12).contains(&n) {
            found.push(text[digits[i].0..digits.get(end).map_or(text.len(), |d| d.0)].to_owned());
        }
    }
    found
}

#[test]
fn the_scanners_find_what_they_look_for() {
    assert_eq!(nik_shaped("a 2102015708900003 b"), ["2102015708900003"]);
    assert!(nik_shaped("2102********0003 20261201070000123").is_empty());
    assert_eq!(phone_shaped("call +6281234567890 now"), ["+6281234567890"]);
    assert_eq!(phone_shaped("hp 0812-3456-7890."), ["0812-3456-7890"]);
    assert!(phone_shaped("2026-12-01 08:00 1080 bytes").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_maintenance_command_and_a_bundle_without_personal_data() {
    let site = site("TEST-0101").await;
    let mut kiosk = start(&site.config).await;
    let people = plain_people(3);
    assert_eq!(people.len(), 3);

    enroll_and_book(&mut kiosk, &site, &people).await;
    the_report(&mut kiosk).await;
    sync_now(&mut kiosk).await;
    reprints(&mut kiosk, &site, &people).await;
    test_page(&mut kiosk, &site).await;
    read_test(&mut kiosk, &site, &people).await;
    integrity_settings_and_hold(&mut kiosk).await;
    release_the_last_day(&mut kiosk).await;
    let bundle = export(&mut kiosk, &site).await;
    kiosk.stop().await;
    the_hold_and_settings_survive_a_restart(&site).await;
    the_bundle_and_audit_hold_no_personal_data(&bundle, &site, &people);
}

async fn enroll_and_book(kiosk: &mut Daemon, site: &Site, people: &[Person]) {
    // Not enrolled: the kiosk is out of service until the technician enrolls it, and
    // the sync starts at once.
    assert_eq!(kiosk.client.view["out_of_service"], "not_enrolled");
    let refused = kiosk
        .ask(Command::ReleaseHeld {
            office_id: "KRM".into(),
            date: "2030-01-01".parse().expect("date"),
        })
        .await;
    assert_eq!(refused["error"], "not_enrolled", "{refused}");
    let enrolled = kiosk
        .ask(Command::Enroll {
            code: "TEST-0101".into(),
        })
        .await;
    assert!(enrolled["enrolled"].is_string(), "{enrolled}");
    let again = kiosk.ask(Command::Enroll { code: "X".into() }).await;
    assert_eq!(again["error"], "already_enrolled", "{again}");
    wait_for_numbers(kiosk).await;
    kiosk
        .client
        .wait_until(|v| v["out_of_service"].is_null(), "in service", PATIENCE)
        .await
        .expect("in service once enrolled");

    for p in people {
        book(kiosk, &site.reader, p).await;
    }
    assert_eq!(site.printer.tickets().len(), 3);
}

async fn the_report(kiosk: &mut Daemon) {
    // The report.
    let report = kiosk.ask(Command::MaintReport).await;
    let r: apm_kiosk::maint::Report =
        serde_json::from_value(report.clone()).expect("the report deserialises");
    assert_eq!(r.printer.state.code(), "ok");
    assert_eq!(r.reader.state.code(), "ok");
    assert!(r.reader.firmware.is_some(), "{report}");
    assert_eq!(r.reader.sam.map(apm_kiosk::status::Sam::code), Some("ok"));
    assert!(r.network.tcp_reachable, "{report}");
    assert_eq!(r.queue.registrations, 3);
    assert!(r.held.iter().any(|h| h.office_id == "KRM"), "{report}");
    assert!(r.disk.is_some());
    assert_eq!(r.version, apm_kiosk::status::VERSION);
    assert!(r.pin_configured);
}

async fn sync_now(kiosk: &mut Daemon) {
    // Sync now, and its progress.
    assert_eq!(
        kiosk.ask(Command::SyncNow).await,
        json!({ "sync": "started" })
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = kiosk.ask(Command::SyncProgress).await;
        if p["uploads_left"] == 0 && p["round_running"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "uploads still waiting: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn reprints(kiosk: &mut Daemon, site: &Site, people: &[Person]) {
    // Recent tickets and a reprint of the last one, marked COPY.
    let recent = kiosk.ask(Command::RecentTickets { limit: Some(2) }).await;
    let tickets = recent["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 2, "{recent}");
    let last = &people[2];
    assert_eq!(
        tickets[0]["masked_nik"],
        apm_kiosk::domain::nik::mask(&last.nik)
    );
    let reprinted = kiosk
        .ask(Command::Reprint {
            registration_id: None,
        })
        .await;
    assert_eq!(
        reprinted["reprinted"], tickets[0]["registration_id"],
        "{reprinted}"
    );
    site.printer.wait_for_tickets(4, Duration::from_secs(10));
    let texts = site.printer.ticket_texts();
    assert_eq!(texts.len(), 4);
    assert!(texts[3].contains("*SALINAN*"), "{}", texts[3]);
    assert!(texts[3].contains(tickets[0]["queue_number"].as_str().expect("number")));
    let unknown = kiosk
        .ask(Command::Reprint {
            registration_id: Some("no-such-id".into()),
        })
        .await;
    assert_eq!(unknown["error"], "unknown", "{unknown}");
}

async fn test_page(kiosk: &mut Daemon, site: &Site) {
    // A test page.
    let printed = kiosk.ask(Command::TestPrint).await;
    assert_eq!(printed["printed"], true, "{printed}");
    site.printer.wait_for_tickets(5, Duration::from_secs(10));
    let page = &site.printer.ticket_texts()[4];
    assert!(page.contains("TEST PAGE"), "{page}");
}

async fn read_test(kiosk: &mut Daemon, site: &Site, people: &[Person]) {
    // A read test: the card is answered masked and no session starts.
    let someone = &people[0];
    let card = card_of(someone);
    let reader = &site.reader;
    let arm = kiosk
        .client
        .command(Command::ReadTest, Duration::from_secs(40));
    // The card is laid once the test is armed: the daemon audits "armed" right after.
    let lay = async {
        let deadline = Instant::now() + PATIENCE;
        while !audit(&site.state)
            .iter()
            .any(|(e, d)| e == "read_test" && d == "armed")
        {
            assert!(Instant::now() < deadline, "the read test was never armed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reader.present_card(card.clone());
    };
    let (answer, ()) = tokio::join!(arm, lay);
    let answer = answer.expect("read test answered");
    reader.remove_card();
    assert_eq!(answer["result"], "read", "{answer}");
    assert_eq!(
        answer["masked_nik"],
        apm_kiosk::domain::nik::mask(&someone.nik)
    );
    assert_eq!(answer["nik_check"], "valid");
    assert!(!answer.to_string().contains(&someone.nik));
    assert!(!answer.to_string().contains(&someone.name));
    // A round trip through the main loop, which took the card: a session it had
    // started would have been shown on this connection before the answer.
    let _ = kiosk.ask(Command::Status).await;
    assert_eq!(kiosk.client.screen(), "idle", "no session started");
}

async fn integrity_settings_and_hold(kiosk: &mut Daemon) {
    // Integrity.
    assert_eq!(
        kiosk.ask(Command::Integrity).await,
        json!({ "ok": true, "result": "ok" })
    );

    // Settings: the idle screen follows the default language at once.
    let set = kiosk
        .ask(Command::SetSettings(SettingsChange {
            default_language: Some(apm_kiosk::domain::Language::En),
            volume: Some(35),
            ..SettingsChange::default()
        }))
        .await;
    assert_eq!(set["settings"]["volume"], 35, "{set}");
    kiosk
        .client
        .wait_until(|v| v["language"] == "en", "english idle screen", PATIENCE)
        .await
        .expect("language follows");
    let bad = kiosk
        .ask(Command::SetSettings(SettingsChange {
            volume: Some(120),
            ..SettingsChange::default()
        }))
        .await;
    assert_eq!(bad["error"], "bad_volume");

    // Out of service, kept across a restart, then lifted.
    let hold = kiosk
        .ask(Command::OutOfService {
            reason: HoldReason::PrinterFault,
        })
        .await;
    assert_eq!(hold, json!({ "out_of_service": "printer_fault" }));
    kiosk
        .client
        .wait_until(|v| v["out_of_service"] == "printer_fault", "hold", PATIENCE)
        .await
        .expect("the view shows the hold");
}

async fn release_the_last_day(kiosk: &mut Daemon) {
    // Give back the numbers of the last day held.
    let held_before = kiosk.ask(Command::MaintReport).await["held"].clone();
    let day = held_before
        .as_array()
        .and_then(|a| a.iter().rfind(|h| h["office_id"] == "KRM"))
        .cloned()
        .expect("a day held");
    let count = day["regular"].as_u64().unwrap_or(0) + day["priority"].as_u64().unwrap_or(0);
    assert!(count > 0, "{day}");
    let date: chrono::NaiveDate = serde_json::from_value(day["date"].clone()).expect("date");
    let released = kiosk
        .ask(Command::ReleaseHeld {
            office_id: "KRM".into(),
            date,
        })
        .await;
    // The sync loop may top the day up between the report and the release: at least
    // what the report showed goes back.
    let n = released["released"].as_u64().unwrap_or(0);
    assert!(n >= count, "{released}, {count} held");
}

/// The diagnostics bundle, written to a stick; returns where.
async fn export(kiosk: &mut Daemon, site: &Site) -> PathBuf {
    // The bundle.
    let usb = site.root.join("usb");
    std::fs::create_dir_all(&usb).expect("stick");
    let written = kiosk.ask(Command::Export { path: usb.clone() }).await;
    let bundle = PathBuf::from(written["path"].as_str().expect("path"));
    assert!(bundle.starts_with(&usb), "{written}");
    bundle
}

async fn the_hold_and_settings_survive_a_restart(site: &Site) {
    // Restart: the hold and the settings are still there.
    let mut kiosk = start(&site.config).await;
    kiosk
        .client
        .wait_until(
            |v| v["out_of_service"] == "printer_fault" && v["language"] == "en",
            "the hold and the language kept",
            PATIENCE,
        )
        .await
        .expect("kept across the restart");
    assert_eq!(
        kiosk.ask(Command::InService).await,
        json!({ "out_of_service": null })
    );
    kiosk
        .client
        .wait_until(|v| v["out_of_service"].is_null(), "in service", PATIENCE)
        .await
        .expect("hold lifted");
    kiosk.stop().await;
}

fn the_bundle_and_audit_hold_no_personal_data(bundle: &Path, site: &Site, people: &[Person]) {
    // Every file of the bundle, scanned for the test applicants' data.
    let files = untar(bundle);
    let names: Vec<&str> = files
        .iter()
        .map(|(n, _)| n.rsplit('/').next().unwrap_or(""))
        .collect();
    for want in [
        "report.json",
        "config.toml",
        "versions.txt",
        "log.txt",
        "queue.json",
        "rejections.json",
        "audit.tsv",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let report = &files
        .iter()
        .find(|(n, _)| n.ends_with("report.json"))
        .expect("report")
        .1;
    assert!(report.contains("\"registrations\": 3"), "{report}");
    let config = &files
        .iter()
        .find(|(n, _)| n.ends_with("config.toml"))
        .expect("config")
        .1;
    assert!(!config.contains("argon2"), "the PIN hash left: {config}");
    assert!(config.contains("[central]"), "{config}");
    let audit_file = &files
        .iter()
        .find(|(n, _)| n.ends_with("audit.tsv"))
        .expect("audit")
        .1;
    for event in [
        "enroll",
        "reprint",
        "test_print",
        "read_test",
        "integrity",
        "set_settings",
        "out_of_service",
        "release_held",
        "recent_tickets",
    ] {
        assert!(
            audit_file.contains(&format!("\t{event}\t")),
            "{event} in the audit:\n{audit_file}"
        );
    }
    for (name, text) in &files {
        assert!(
            nik_shaped(text).is_empty(),
            "{name}: {:?}",
            nik_shaped(text)
        );
        assert!(
            phone_shaped(text).is_empty(),
            "{name}: {:?}",
            phone_shaped(text)
        );
        let upper = text.to_uppercase();
        for p in people {
            assert!(!text.contains(&p.nik), "{name} holds a NIK");
            assert!(!upper.contains(&p.name), "{name} holds {}", p.name);
            assert!(!upper.contains(&p.address), "{name} holds an address");
            assert!(!text.contains(&p.kk), "{name} holds a KK number");
        }
    }

    // And the whole audit table: no personal data, no masked NIK either.
    for (event, detail) in audit(&site.state) {
        for p in people {
            assert!(!detail.contains(&p.nik), "{event}: {detail}");
            assert!(
                !detail.contains(&apm_kiosk::domain::nik::mask(&p.nik)),
                "{event}: {detail}"
            );
            assert!(
                !detail.to_uppercase().contains(&p.name),
                "{event}: {detail}"
            );
        }
    }
    let _ = site.central.sim.registrations();
}

/// `apm-kiosk maint ... --config CONFIG`, run as a technician would run it.
struct Cli {
    config: PathBuf,
}

impl Cli {
    /// The exit code, stdout and stderr of `apm-kiosk maint ARGS`, with `stdin` typed in.
    async fn run(&self, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
        let (config, args, stdin) = (
            self.config.clone(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            stdin.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_apm-kiosk"))
                .arg("maint")
                .args(&args)
                .arg("--config")
                .arg(&config)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("apm-kiosk runs");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(stdin.as_bytes())
                .expect("stdin written");
            let out = child.wait_with_output().expect("apm-kiosk ends");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .expect("cli task")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_the_running_daemon() {
    let site = site("TEST-0102").await;
    apm_kiosk::sync::enroll::enroll(&Config::load(&site.config).expect("config"), "TEST-0102")
        .await
        .expect("enrolled");
    let mut kiosk = start(&site.config).await;
    wait_for_numbers(&mut kiosk).await;
    let person = plain_people(1).remove(0);
    book(&mut kiosk, &site.reader, &person).await;
    let cli = Cli {
        config: site.config.clone(),
    };
    cli_status(&cli).await;
    cli_holds(&cli, &mut kiosk).await;
    cli_tickets_and_data(&cli, &site, &person).await;
    cli_sets_a_pin(&cli, &mut kiosk, &site).await;
    cli_restarts(&cli, kiosk, &site).await;
}

async fn cli_status(cli: &Cli) {
    let (code, out, err) = cli.run(&["status"], "").await;
    assert_eq!(code, Some(0), "{err}");
    println!("{out}");
    for section in [
        "PRINTER",
        "CARD READER",
        "NETWORK AND SYNC",
        "QUEUE",
        "DISK",
    ] {
        assert!(out.contains(section), "{section} in\n{out}");
    }
    assert!(out.contains("registrations        1 ("), "{out}");
}

async fn cli_holds(cli: &Cli, kiosk: &mut Daemon) {
    let (code, out, err) = cli.run(&["out-of-service", "maintenance"], "").await;
    assert_eq!(code, Some(0), "{out}{err}");
    kiosk
        .client
        .wait_until(|v| v["out_of_service"] == "maintenance", "hold", PATIENCE)
        .await
        .expect("the CLI's hold reaches the screen");
    let (code, out, _) = cli.run(&["status"], "").await;
    assert_eq!(code, Some(0));
    let first = out.lines().nth(3).unwrap_or_default();
    assert!(
        first.contains("OUT OF SERVICE (maintenance"),
        "what is wrong first:\n{out}"
    );
    let (code, _, err) = cli.run(&["out-of-service", "lunch"], "").await;
    assert_eq!(code, Some(1), "{err}");
    let (code, _, _) = cli.run(&["in-service"], "").await;
    assert_eq!(code, Some(0));
}

async fn cli_tickets_and_data(cli: &Cli, site: &Site, person: &Person) {
    let (code, out, err) = cli.run(&["reprint"], "").await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("marked COPY"), "{out}");
    let (code, out, _) = cli.run(&["recent", "--limit", "5"], "").await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&apm_kiosk::domain::nik::mask(&person.nik)),
        "{out}"
    );
    let (code, out, _) = cli.run(&["integrity"], "").await;
    assert_eq!((code, out.trim()), (Some(0), "database integrity: ok"));
    let (code, out, err) = cli.run(&["sync"], "").await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("sync done"), "{out}");

    let bundle = site.root.join("diag.tar.gz");
    let (code, out, err) = cli
        .run(&["export", bundle.to_str().expect("path")], "")
        .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("diag.tar.gz"), "{out}");
    assert!(bundle.exists());
}

async fn cli_sets_a_pin(cli: &Cli, kiosk: &mut Daemon, site: &Site) {
    // A new PIN through stdin: written into the file with its comments, and read by
    // the running daemon at once.
    let before = std::fs::read_to_string(&site.config).expect("config");
    let (code, _, err) = cli.run(&["set-pin"], "2468\n1357\n").await;
    assert_eq!(code, Some(1), "two different PINs are refused");
    assert!(err.contains("differ"), "{err}");
    let (code, out, err) = cli.run(&["set-pin"], "2468\n2468\n").await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("the running kiosk has read it"), "{out}");
    let after = std::fs::read_to_string(&site.config).expect("config");
    assert!(
        after.starts_with("# A kiosk on simulated devices, for the daemon tests."),
        "{after}"
    );
    assert!(
        after.contains("# The technician's PIN.\npin_hash = \"$argon2id$"),
        "{after}"
    );
    assert_ne!(before, after);
    assert_eq!(
        kiosk
            .ask(Command::MaintUnlock {
                pin: Secret("2468".into())
            })
            .await,
        json!({ "result": "unlocked" })
    );
}

async fn cli_restarts(cli: &Cli, kiosk: Daemon, site: &Site) {
    let (code, out, _) = cli.run(&["restart"], "").await;
    assert_eq!(code, Some(0));
    assert!(out.contains("code 75"), "{out}");
    let ended = kiosk.task.await.expect("task").expect("ran");
    assert_eq!(ended, Stopped::Restart);

    let events: Vec<String> = audit(&site.state).into_iter().map(|(e, _)| e).collect();
    for want in [
        "maint_report",
        "out_of_service",
        "in_service",
        "reprint",
        "integrity",
        "export",
        "pin_reloaded",
        "restart",
    ] {
        assert!(events.iter().any(|e| e == want), "{want} in {events:?}");
    }
}

/// The read test's refusals and its time-out, on the service alone (a store in memory,
/// a printer worker with no printer): the daemon's main loop calls these.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_test_refuses_when_busy_or_not_idle_and_gives_up_after_30_s() {
    use apm_kiosk::maint::READ_TEST_TIMEOUT;

    let (mut test, store, _dir) = read_test_on_the_service_alone().await;
    let now = Instant::now();

    let (tx, rx) = oneshot::channel();
    test.arm(tx, false, now);
    assert_eq!(wire(rx.await.expect("answered"))["error"], "not_idle");
    assert!(!test.is_armed());

    let (tx, mut first) = oneshot::channel();
    test.arm(tx, true, now);
    assert!(test.is_armed());
    let (tx, rx) = oneshot::channel();
    test.arm(tx, true, now);
    assert_eq!(wire(rx.await.expect("answered"))["error"], "busy");

    test.tick(true, now + READ_TEST_TIMEOUT - Duration::from_secs(1));
    assert!(first.try_recv().is_err(), "still waiting");
    test.tick(true, now + READ_TEST_TIMEOUT);
    assert_eq!(
        wire(first.await.expect("answered")),
        json!({ "result": "timed_out", "after_s": 30 })
    );

    // Armed, then an applicant starts a session: the card goes to them.
    let (tx, rx) = oneshot::channel();
    test.arm(tx, true, now);
    let card = card_of(&plain_people(1)[0]);
    assert!(!test.card(&card, false, None, chrono::Utc::now().date_naive()));
    assert_eq!(
        wire(rx.await.expect("answered")),
        json!({ "result": "cancelled" })
    );
    // Not armed: a card is the applicant's.
    assert!(!test.card(&card, true, None, chrono::Utc::now().date_naive()));

    // A failed read while armed is the technician's.
    let (tx, rx) = oneshot::channel();
    test.arm(tx, true, now);
    assert!(test.failed(apm_kiosk::protocol::reader::ReadErrorCode::NotEktp, true));
    assert_eq!(
        wire(rx.await.expect("answered")),
        json!({ "result": "read_failed", "problem": "not_ektp" })
    );

    // Each step left its audit line (written in the background).
    let wanted = [
        "refused: not_idle",
        "armed",
        "refused: busy",
        "timed out",
        "cancelled: the kiosk left the idle screen",
        "read failed: not_ektp",
    ];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let lines = store.run(|s| s.audit_tail(100)).await.expect("audit");
        let details: Vec<String> = lines
            .into_iter()
            .rev()
            .filter(|(_, e, _)| e == "read_test")
            .map(|(_, _, d)| d)
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|want| !details.iter().any(|d| d == want))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing:?} not in the audit: {details:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The maintenance service with a store in memory and a printer worker with no
/// printer, and its read test; the temp dir holds the config.
async fn read_test_on_the_service_alone() -> (
    apm_kiosk::maint::ReadTest,
    apm_kiosk::store::writer::StoreHandle,
    tempfile::TempDir,
) {
    use apm_kiosk::hardware::printer::worker::{PrinterSettings, PrinterWorker};
    use apm_kiosk::maint::ReadTest;
    use apm_kiosk::maint::service::{Maint, MaintParts};
    use apm_kiosk::store::Store;
    use apm_kiosk::store::writer::StoreHandle;

    let dir = tempfile::tempdir().expect("temp dir");
    let state = std::path::absolute(dir.path()).expect("absolute");
    let config = Config::load(&write_config(&state, "http://127.0.0.1:9", None)).expect("config");
    let (store, _writer) =
        StoreHandle::spawn(Store::open_in_memory().expect("store")).expect("writer");
    let (enrollment, _) = tokio::sync::watch::channel(None);
    let (printer_state, _) =
        tokio::sync::watch::channel(apm_kiosk::hardware::printer::PrinterState::Offline);
    let printer = PrinterWorker::spawn(
        apm_kiosk::hardware::printer::opener(
            apm_kiosk::hardware::printer::PrinterPath::Device(state.join("no-printer")),
            115_200,
            apm_kiosk::protocol::printer_profile::PrinterProfile::default(),
        ),
        PrinterSettings {
            backlog_poll: Duration::from_secs(3),
            ..PrinterSettings::new(apm_kiosk::protocol::printer_profile::PrinterProfile::default())
        },
        store.clone(),
        printer_state,
    )
    .expect("printer worker");
    let (events, _events_rx) = tokio::sync::mpsc::channel(8);
    let central = apm_kiosk::sync::shared::http_opener(config.central.clone());
    let (maint, hold) = Maint::start(MaintParts {
        store: store.clone(),
        config,
        printer,
        events,
        enrollment,
        started_at: chrono::Utc::now(),
        central,
        clock: std::sync::Arc::new(apm_kiosk::clock::SystemClock),
        calls: Default::default(),
    })
    .await
    .expect("maintenance service");
    assert_eq!(hold, None);
    (ReadTest::new(maint), store, dir)
}

/// A reply as the control socket would send it.
fn wire(reply: apm_kiosk::control::Reply) -> serde_json::Value {
    serde_json::to_value(reply).expect("a reply serialises")
}
