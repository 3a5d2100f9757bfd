//! The printer failing in the middle of a ticket, through the whole daemon: `app::run`
//! in-process on a simulated reader and printer (real pseudo-terminals) and the central
//! simulator on loopback, applicants driven over the control channel. The printer is a
//! TM-T20 as the simulator plays it in time: it answers `DLE EOT` at once while its head
//! prints (here at 300 mm/s, twice its own speed, to keep the test short), and its
//! process ID only once the head has reached it.
//!
//! The first applicant's roll runs out partway through the ticket (at a millimetre drawn
//! from the seed); the second's cover is opened while the head prints; the third's
//! cutter jams (a recoverable error). Each time the
//! booking must be kept and not marked printed, the applicant told, the job's tail
//! cleared from the printer, and once the printer is ready again the worker must print
//! the whole ticket again, marked COPY, by itself, and only once.

mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use apm_kiosk::config::Config;
use apm_kiosk::control::{Client, Command};
use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile};
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry, Person};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};
use apm_kiosk_testkit::central;
use daemon_support::{book_until_review, wait_screen as wait};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);
const CODE: &str = "TEST-0004";
/// The crowd's seed, and the roll's end: 30 to 129 mm into the first ticket.
const SEED: u64 = 4;

fn roll_mm() -> f64 {
    30.0 + ((SEED * 7_919) % 100) as f64
}

fn write_config(dir: &Path, central: &str, reader: &Path, printer: &Path) -> Config {
    let path = dir.join("kiosk.toml");
    // The configuration's address and hours of the office the test books.
    daemon_support::write_config_with(
        &path,
        dir,
        central,
        reader,
        printer,
        "\n[offices.KRM]\naddress = \"Jl. Jend. Sudirman No. 1, Tg. Balai Karimun\"\nhours = \"Senin-Jumat 08.00-15.00\"\n",
    );
    Config::load(&path).expect("config loads")
}

async fn status(client: &mut Client) -> Value {
    client
        .command(Command::Status, PATIENCE)
        .await
        .expect("status answered")
}

async fn tap(client: &mut Client, intent: Intent) {
    client.send(&intent).await.expect("intent sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_cut_short_by_paper_or_cover_is_kept_cleared_and_printed_again_as_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::path::absolute(dir.path()).expect("absolute temp dir");
    let state = root.join("state");
    std::fs::create_dir_all(&state).expect("state dir");

    // The central service.
    let central = central::start_for_daemon(CODE).await;

    let (reader, printer) = devices(&root, &state);
    let config = write_config(
        &state,
        &central.base,
        &state.join("reader.tty"),
        &state.join("printer.tty"),
    );
    assert_eq!(config.printer.profile().model, PrinterModel::TmT20);
    apm_kiosk::sync::enroll::enroll(&config, CODE)
        .await
        .expect("enrolled");
    let socket = config.kiosk.control_socket();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(apm_kiosk::app::run(config, async move {
        let _ = stopped.await;
    }));
    let mut client = Client::connect(&socket, PATIENCE)
        .await
        .expect("control channel");
    daemon_support::wait_numbers(&mut client).await;

    // One applicant with their own KTP books a day and a session; the roll runs out.
    let today = chrono::Utc::now().date_naive();
    let [first, second, third] = plain_visitors(today);
    book_until_review(&mut client, &reader, &first).await;
    tap(&mut client, Intent::ConfirmBooking).await;
    let queue_number = cut_short(
        &mut client,
        &printer,
        &state,
        today,
        ("paper_out", "paper_out"),
        1,
    )
    .await;
    printer.load_paper();
    printed_again_as_copy(&mut client, &printer, &queue_number, 1).await;
    // The applicant retries from the problem screen: nothing is left to print, so the
    // kiosk says done and no second ticket comes out.
    tap(&mut client, Intent::RetryPrint).await;
    wait(&mut client, "done").await;
    assert_eq!(printer.tickets().len(), 1, "printed once");
    tap(&mut client, Intent::Finish).await;

    // The next applicant: the cover is opened while the head prints their ticket.
    book_until_review(&mut client, &reader, &second).await;
    tap(&mut client, Intent::ConfirmBooking).await;
    printing(&printer).await;
    printer.set_cover_open(true);
    let queue_number = cut_short(
        &mut client,
        &printer,
        &state,
        today,
        ("cover_open", "cover_open"),
        2,
    )
    .await;
    printer.set_cover_open(false);
    printed_again_as_copy(&mut client, &printer, &queue_number, 2).await;
    tap(&mut client, Intent::RetryPrint).await;
    wait(&mut client, "done").await;
    tap(&mut client, Intent::Finish).await;

    // The third: the cutter jams while the head prints theirs.
    book_until_review(&mut client, &reader, &third).await;
    tap(&mut client, Intent::ConfirmBooking).await;
    printing(&printer).await;
    printer.set_error(true);
    let queue_number =
        cut_short(&mut client, &printer, &state, today, ("failed", "error"), 3).await;
    printer.set_error(false);
    printed_again_as_copy(&mut client, &printer, &queue_number, 3).await;

    let _ = stop.send(());
    daemon
        .await
        .expect("daemon task")
        .expect("daemon stops cleanly");
    central.stop().await;
}

/// Waits until the head is printing a job.
async fn printing(printer: &PrinterSimHandle) {
    let deadline = Instant::now() + PATIENCE;
    while printer.buffered() == 0 {
        assert!(
            Instant::now() < deadline,
            "the job never reached the printer"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The devices, on `state/reader.tty` and `state/printer.tty`. The roll in the printer
/// is the end of a used one, [`roll_mm`] long; the roll loaded later is a long one.
fn devices(root: &Path, state: &Path) -> (ReaderSimHandle, PrinterSimHandle) {
    let reader = ReaderSim::start(&state.join("reader.tty"), 115_200).expect("reader simulator");
    let printer = PrinterSim::start(
        &state.join("printer.tty"),
        &root.join("tickets"),
        PrinterSimOptions {
            profile: PrinterProfile::of(PrinterModel::TmT20, PaperWidth::Mm80),
            roll_mm: Some(roll_mm()),
            reload_mm: Some(10_000.0),
            head_mm_per_s: Some(300),
            ..PrinterSimOptions::default()
        },
    )
    .expect("printer simulator");
    (reader, printer)
}

/// The first three visitors of the crowd of [`SEED`] who come alone with their own KTP.
fn plain_visitors(today: chrono::NaiveDate) -> [Person; 3] {
    let mut plain = Crowd::new(SEED, today)
        .visits(60)
        .into_iter()
        .filter_map(|v| match (v.behaviour, v.lead) {
            (Behaviour::Plain, Entry::Card { person, .. }) => Some(person),
            _ => None,
        });
    let mut next = || plain.next().expect("a plain visitor with a card");
    [next(), next(), next()]
}

/// The job stopped partway (`failure` on the screen, `printer_state` in the status):
/// the applicant is told, the booking is kept,
/// marked unprinted, with the cut-off job counted, and nothing of the job is left in
/// the printer. Returns the ticket's queue number.
async fn cut_short(
    client: &mut Client,
    printer: &PrinterSimHandle,
    state: &Path,
    today: chrono::NaiveDate,
    (failure, printer_state): (&str, &str),
    bookings: u64,
) -> String {
    client
        .wait_until(|v| v["screen"] == "problem", "problem", PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}; view {}", client.view));
    assert_eq!(
        client.view["problem"]["problem"], "print",
        "{}",
        client.view
    );
    assert_eq!(client.view["problem"]["failure"], failure);
    assert_eq!(
        printer.tickets().len() as u64,
        bookings - 1,
        "nothing was cut"
    );
    assert_eq!(printer.buffered(), 0, "the job's tail was cleared");
    // Cleared at the failure, and before the reprint of an earlier one.
    assert_eq!(printer.clears() as u64, 2 * bookings - 1);
    let s = status(client).await;
    assert_eq!(s["printer"], printer_state, "{s}");
    assert_eq!(
        s["store"]["registrations"], bookings,
        "the booking is kept: {s}"
    );
    assert_eq!(s["store"]["unprinted"], 1, "and marked unprinted: {s}");
    let store = apm_kiosk::store::Store::open(&state.join("kiosk.db")).expect("store opens");
    let tickets = store.reprint_backlog(today).expect("backlog");
    assert_eq!(tickets.len(), 1);
    let attempts = store
        .print_attempts(&tickets[0].registration_id)
        .expect("attempts");
    assert_eq!(attempts, Some(1), "the cut-off job counts as an attempt");
    tickets[0].queue_number.to_string()
}

/// The printer ready again: the worker notices within a few seconds and prints the
/// whole ticket again, marked COPY, with no one touching the screen, and nothing else
/// (no tail of the cut-off job); then nothing is unprinted.
async fn printed_again_as_copy(
    client: &mut Client,
    printer: &PrinterSimHandle,
    queue_number: &str,
    tickets: usize,
) {
    let printed = printer.wait_for_tickets(tickets, Duration::from_secs(15));
    assert_eq!(printed.len(), tickets, "the ticket came out again");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(printer.tickets().len(), tickets, "and nothing more");
    let text = &printer.ticket_texts()[tickets - 1];
    assert!(text.contains("*SALINAN*"), "marked COPY:\n{text}");
    assert!(
        text.contains("GRATIS, tidak untuk diperjualbelikan"),
        "{text}"
    );
    assert!(
        text.contains("Jl. Jend. Sudirman No. 1") && text.contains("Buka Senin-Jumat 08.00-15.00"),
        "the configured address and hours: {text}"
    );
    assert!(text.contains("Sesi "), "the session by its number: {text}");
    assert!(text.contains(queue_number), "{queue_number} in\n{text}");
    assert!(text.contains("[QR]"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, "[QR]", "whole, to its last line");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = status(client).await;
        if s["store"]["unprinted"] == 0 {
            assert_eq!(s["printer"], "ok", "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "still unprinted: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
