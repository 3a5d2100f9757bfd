//! From the applicant's `confirm_booking` to the printer's word that the ticket is on
//! paper, through the whole daemon (`app::run` on the simulated reader and printer on
//! real pseudo-terminals, the central simulator on loopback), against the physical
//! floor: one fsync (the booking's commit), plus the job's wire time at the line's baud
//! rate, plus the head time of the ticket's length at the printer's speed. The virtual
//! printer paces the line at the baud rate and the head at its profile's mm/s, and
//! answers `GS ( H` only when its head gets there; the clock stops when the screen says
//! "done", which the kiosk shows only once the printer has confirmed. Medians of several
//! bookings a row, printed as a ratio (goal: 1.1 or less). Asserts nothing.
//!
//! `cargo bench --bench confirm_to_paper`

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use apm_kiosk::config::Config;
use apm_kiosk::control::{Client, Command};
use apm_kiosk::domain::{ApplicationType, PassportType};
use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile, wire_time};
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry, Person};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimOptions};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};
use serde_json::Value;

const RUNS: usize = 5;
const PATIENCE: Duration = Duration::from_secs(30);
const CODE: &str = "BENCH-0001";

type Res<T> = Result<T, String>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{:<11} {:>6} {:>6} {:>9} {:>8} {:>8} {:>9} {:>9} {:>6}",
        "model", "baud", "bytes", "fsync ms", "wire ms", "head ms", "floor ms", "took ms", "ratio"
    );
    for (model, baud) in [
        (PrinterModel::TmT20, 115_200),
        (PrinterModel::TmT20, 9600),
        (PrinterModel::TmT88v, 115_200),
        (PrinterModel::Generic80, 115_200),
    ] {
        if let Err(e) = runtime.block_on(row(model, baud)) {
            eprintln!("confirm_to_paper {}: {e}", model.code());
        }
    }
}

/// One row: a daemon on `model` at `baud`, [`RUNS`] bookings, the medians.
async fn row(model: PrinterModel, baud: u32) -> Res<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = std::path::absolute(dir.path()).map_err(|e| e.to_string())?;
    let state = root.join("state");
    std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    let central = apm_kiosk_testkit::central::start_for_daemon(CODE).await;
    let profile = PrinterProfile::of(model, PaperWidth::Mm80);
    let reader = ReaderSim::start(&state.join("reader.tty"), 115_200).map_err(|e| e.to_string())?;
    let printer = PrinterSim::start(
        &state.join("printer.tty"),
        &root.join("tickets"),
        PrinterSimOptions {
            profile,
            baud: Some(baud),
            ..PrinterSimOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let config = write_config(&state, &central.base, model, baud)?;
    apm_kiosk::sync::enroll::enroll(&config, CODE)
        .await
        .map_err(|e| e.to_string())?;
    let socket = config.kiosk.control_socket();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(apm_kiosk::app::run(config, async move {
        let _ = stopped.await;
    }));
    let mut client = Client::connect(&socket, PATIENCE)
        .await
        .map_err(|e| e.to_string())?;
    wait_numbers(&mut client).await?;

    let fsync = median(
        &(0..20)
            .map(|_| fsync_time(&state))
            .collect::<Res<Vec<_>>>()?,
    );
    let mut took = Vec::new();
    let mut floor = Vec::new();
    let mut bytes = 0;
    let (mut wire, mut head) = (Vec::new(), Vec::new());
    for person in plain_visitors(RUNS) {
        book_until_review(&mut client, &reader, &person).await?;
        let (before, queries_before) = printer.received();
        let started = Instant::now();
        client
            .send(&Intent::ConfirmBooking)
            .await
            .map_err(|e| e.to_string())?;
        wait_screen(&mut client, "done").await?;
        took.push(started.elapsed());
        let (after, queries_after) = printer.received();
        // The job and its GS ( H: what came in but the status queries.
        bytes = after - before - 3 * (queries_after - queries_before);
        let dots = printer.ticket_dots().last().copied().unwrap_or(0);
        let (w, h) = (wire_time(bytes, baud), profile.head_time(dots));
        wire.push(w);
        head.push(h);
        floor.push(fsync + w + h);
        client
            .send(&Intent::Finish)
            .await
            .map_err(|e| e.to_string())?;
    }
    let (took, floor) = (median(&took), median(&floor));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<11} {:>6} {:>6} {:>9.1} {:>8.0} {:>8.0} {:>9.0} {:>9.0} {:>6.2}",
        model.code(),
        baud,
        bytes,
        ms(fsync),
        ms(median(&wire)),
        ms(median(&head)),
        ms(floor),
        ms(took),
        took.as_secs_f64() / floor.as_secs_f64()
    );
    let _ = stop.send(());
    let _ = daemon.await;
    central.stop().await;
    drop((reader, printer));
    Ok(())
}

fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// One small write made durable in the state directory, as a commit is.
fn fsync_time(dir: &Path) -> Res<Duration> {
    let path = dir.join("fsync-probe");
    let started = Instant::now();
    let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    f.write_all(&[0u8; 4096]).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let took = started.elapsed();
    let _ = std::fs::remove_file(&path);
    Ok(took)
}

fn write_config(state: &Path, central: &str, model: PrinterModel, baud: u32) -> Res<Config> {
    let text = format!(
        r#"[kiosk]
state_dir = "{state}"
language = "id"
inactivity_warning_s = 300
inactivity_reset_s = 60

[card_reader]
path = "{reader}"

[printer]
path = "{printer}"
baud = {baud}
model = "{model}"

[central]
url = "{central}"
timeout_s = 5
sync_interval_s = 30

[sync]
hold_days = 4
low_water = 3
target = 8

# As a kiosk prints it: the office's address and hours on the ticket.
[offices.KRM]
address = "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun"
hours = "Senin-Jumat 08.00-15.00"
"#,
        state = state.display(),
        reader = state.join("reader.tty").display(),
        printer = state.join("printer.tty").display(),
        model = model.code(),
    );
    let path = state.join("kiosk.toml");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Config::load(&path).map_err(|e| e.to_string())
}

/// Visitors of the crowd who come alone with their own KTP.
fn plain_visitors(n: usize) -> Vec<Person> {
    let today = chrono::Utc::now().date_naive();
    Crowd::new(11, today)
        .visits(40 * n)
        .into_iter()
        .filter_map(|v| match (v.behaviour, v.lead) {
            (Behaviour::Plain, Entry::Card { person, .. }) => Some(person),
            _ => None,
        })
        .take(n)
        .collect()
}

async fn wait_numbers(client: &mut Client) -> Res<()> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let s = client
            .command(Command::Status, PATIENCE)
            .await
            .map_err(|e| e.to_string())?;
        if s["store"]["held_free"].as_u64().unwrap_or(0) > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no queue numbers".into())
}

async fn wait_screen(client: &mut Client, screen: &str) -> Res<()> {
    client
        .wait_for(screen, PATIENCE)
        .await
        .map_err(|e| format!("screen {screen}: {e}; view {}", client.view))
}

/// The key of the first item of the view's `list` that `pred` accepts.
fn first(view: &Value, list: &str, pred: impl Fn(&Value) -> bool, key: &str) -> Res<String> {
    view[list]
        .as_array()
        .and_then(|a| a.iter().find(|v| pred(v)))
        .and_then(|v| v[key].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no {list} to choose in {view}"))
}

/// One applicant through every screen up to the review, where the next tap books.
async fn book_until_review(
    client: &mut Client,
    reader: &ReaderSimHandle,
    person: &Person,
) -> Res<()> {
    wait_screen(client, "idle").await?;
    tap(client, Intent::Start).await?;
    wait_screen(client, "read_card").await?;
    reader.present_card(apm_kiosk::simulate::card_of(person));
    wait_screen(client, "confirm_identity").await?;
    reader.remove_card();
    tap(client, Intent::ConfirmIdentity).await?;
    wait_screen(client, "details").await?;
    tap(
        client,
        Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        },
    )
    .await?;
    tap(
        client,
        Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        },
    )
    .await?;
    tap(client, Intent::ConfirmDetails).await?;
    wait_screen(client, "members").await?;
    tap(client, Intent::FinishMembers).await?;
    wait_screen(client, "office").await?;
    let office_id = first(&client.view, "offices", |_| true, "office_id")?;
    tap(client, Intent::ChooseOffice { office_id }).await?;
    wait_screen(client, "date").await?;
    let date = first(&client.view, "dates", |d| d["status"] == "open", "date")?;
    let date = date.parse().map_err(|e| format!("{date}: {e}"))?;
    tap(client, Intent::ChooseDate { date }).await?;
    wait_screen(client, "session").await?;
    let session_id = first(
        &client.view,
        "sessions",
        |s| s["bookable"] == true,
        "session_id",
    )?;
    tap(client, Intent::ChooseSession { session_id }).await?;
    wait_screen(client, "review").await
}

async fn tap(client: &mut Client, intent: Intent) -> Res<()> {
    client.send(&intent).await.map_err(|e| e.to_string())
}
