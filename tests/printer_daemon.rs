//! Paper out in the middle of a ticket, through the whole daemon: `app::run` in-process on
//! a simulated reader and printer (real pseudo-terminals) and the central simulator on
//! loopback, one applicant driven over the control channel. The printer's roll runs
//! out partway through the ticket: the booking must be kept, the applicant told, and
//! once a new roll is loaded the printer worker must print the whole ticket again,
//! marked COPY, by itself, and only once.

mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use apm_kiosk::config::Config;
use apm_kiosk::control::{Client, Command};
use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry, Person};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};
use apm_kiosk_testkit::central;
use daemon_support::{book_until_review, wait_screen as wait};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);
const CODE: &str = "TEST-0004";

fn write_config(dir: &Path, central: &str, reader: &Path, printer: &Path) -> Config {
    let path = dir.join("kiosk.toml");
    daemon_support::write_config(&path, dir, central, reader, printer);
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
async fn paper_out_mid_ticket_keeps_the_booking_and_reprints_it_whole_as_copy() {
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

    // One applicant with their own KTP books a day and a session.
    let today = chrono::Utc::now().date_naive();
    book_until_review(&mut client, &reader, &plain_visitor(today)).await;
    tap(&mut client, Intent::ConfirmBooking).await;

    let queue_number = the_roll_runs_out(&mut client, &printer, &state, today).await;
    a_new_roll_prints_it_again_as_copy(&mut client, &printer, &queue_number).await;

    // The applicant retries from the problem screen: nothing is left to print, so the
    // kiosk says done and no second ticket comes out.
    tap(&mut client, Intent::RetryPrint).await;
    wait(&mut client, "done").await;
    assert_eq!(printer.tickets().len(), 1, "printed once");

    let _ = stop.send(());
    daemon
        .await
        .expect("daemon task")
        .expect("daemon stops cleanly");
    central.stop().await;
}

/// The devices, on `state/reader.tty` and `state/printer.tty`. The roll in the printer
/// is the end of a used one: 30 lines of 30 dots, a third of a ticket; the roll loaded
/// later is a long one.
fn devices(root: &Path, state: &Path) -> (ReaderSimHandle, PrinterSimHandle) {
    let reader = ReaderSim::start(&state.join("reader.tty"), 115_200).expect("reader simulator");
    let printer = PrinterSim::start(
        &state.join("printer.tty"),
        &root.join("tickets"),
        PrinterSimOptions {
            width: PaperWidth::Mm80,
            paper_out_after: Some(30),
            reload_lines: Some(2000),
            ..PrinterSimOptions::default()
        },
    )
    .expect("printer simulator");
    (reader, printer)
}

/// The first visitor of the crowd of seed 4 who comes alone with their own KTP.
fn plain_visitor(today: chrono::NaiveDate) -> Person {
    Crowd::new(4, today)
        .visits(30)
        .into_iter()
        .find_map(|v| match (v.behaviour, v.lead) {
            (Behaviour::Plain, Entry::Card { person, .. }) => Some(person),
            _ => None,
        })
        .expect("a plain visitor with a card")
}

/// The roll runs out partway: the applicant is told, and the booking is kept, marked
/// unprinted, with the cut-off job counted. Returns the ticket's queue number.
async fn the_roll_runs_out(
    client: &mut Client,
    printer: &PrinterSimHandle,
    state: &Path,
    today: chrono::NaiveDate,
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
    assert_eq!(client.view["problem"]["failure"], "paper_out");
    assert!(printer.paper_out());
    assert!(printer.tickets().is_empty(), "nothing was cut");
    let s = status(client).await;
    assert_eq!(s["printer"], "paper_out", "{s}");
    assert_eq!(s["store"]["registrations"], 1, "the booking is kept: {s}");
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

/// A new roll: the worker notices within a few seconds and prints the whole ticket
/// again, marked COPY, with no one touching the screen; then nothing is unprinted.
async fn a_new_roll_prints_it_again_as_copy(
    client: &mut Client,
    printer: &PrinterSimHandle,
    queue_number: &str,
) {
    printer.load_paper();
    let tickets = printer.wait_for_tickets(1, Duration::from_secs(15));
    assert_eq!(tickets.len(), 1, "the ticket came out after the new roll");
    let text = &printer.ticket_texts()[0];
    assert!(text.contains("*SALINAN*"), "marked COPY:\n{text}");
    assert!(text.contains("BUKTI PENDAFTARAN ANTREAN PASPOR"), "{text}");
    assert!(text.contains(queue_number), "{queue_number} in\n{text}");
    assert!(text.contains("[QR]"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Dicetak"),
        "whole, to its last line: {last}"
    );
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
