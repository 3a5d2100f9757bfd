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
use apm_kiosk::domain::{ApplicationType, PassportType};
use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::simulate::card_of;
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimOptions};
use apm_kiosk_sim::reader::ReaderSim;
use apm_kiosk_testkit::central;
use daemon_support::{first_with, wait_screen as wait};
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

    // The devices. The roll in the printer is the end of a used one: 30 lines of 30
    // dots, a third of a ticket; the roll loaded later is a long one.
    let reader_link = state.join("reader.tty");
    let printer_link = state.join("printer.tty");
    let reader = ReaderSim::start(&reader_link, 115_200).expect("reader simulator");
    let printer = PrinterSim::start(
        &printer_link,
        &root.join("tickets"),
        PrinterSimOptions {
            width: PaperWidth::Mm80,
            paper_out_after: Some(30),
            reload_lines: Some(2000),
            ..PrinterSimOptions::default()
        },
    )
    .expect("printer simulator");

    let config = write_config(&state, &central.base, &reader_link, &printer_link);
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
    let person = Crowd::new(4, today)
        .visits(30)
        .into_iter()
        .find_map(|v| match (v.behaviour, v.lead) {
            (Behaviour::Plain, Entry::Card { person, .. }) => Some(person),
            _ => None,
        })
        .expect("a plain visitor with a card");
    wait(&mut client, "idle").await;
    tap(&mut client, Intent::Start).await;
    wait(&mut client, "read_card").await;
    reader.present_card(card_of(&person));
    wait(&mut client, "confirm_identity").await;
    reader.remove_card();
    tap(&mut client, Intent::ConfirmIdentity).await;
    wait(&mut client, "details").await;
    tap(
        &mut client,
        Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        },
    )
    .await;
    tap(
        &mut client,
        Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        },
    )
    .await;
    tap(&mut client, Intent::ConfirmDetails).await;
    wait(&mut client, "members").await;
    tap(&mut client, Intent::FinishMembers).await;
    wait(&mut client, "office").await;
    let office_id = first_with(&client.view, "offices", |_| true, "office_id");
    tap(&mut client, Intent::ChooseOffice { office_id }).await;
    wait(&mut client, "date").await;
    let date = first_with(&client.view, "dates", |d| d["status"] == "open", "date");
    tap(
        &mut client,
        Intent::ChooseDate {
            date: date.parse().expect("a date"),
        },
    )
    .await;
    wait(&mut client, "session").await;
    let session_id = first_with(
        &client.view,
        "sessions",
        |s| s["bookable"] == true,
        "session_id",
    );
    tap(&mut client, Intent::ChooseSession { session_id }).await;
    wait(&mut client, "review").await;
    tap(&mut client, Intent::ConfirmBooking).await;

    // The roll runs out partway: the applicant is told, and the booking is kept.
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
    let s = status(&mut client).await;
    assert_eq!(s["printer"], "paper_out", "{s}");
    assert_eq!(s["store"]["registrations"], 1, "the booking is kept: {s}");
    assert_eq!(s["store"]["unprinted"], 1, "and marked unprinted: {s}");
    let queue_number = {
        let store = apm_kiosk::store::Store::open(&state.join("kiosk.db")).expect("store opens");
        let tickets = store.reprint_backlog(today).expect("backlog");
        assert_eq!(tickets.len(), 1);
        let attempts = store
            .print_attempts(&tickets[0].registration_id)
            .expect("attempts");
        assert_eq!(attempts, Some(1), "the cut-off job counts as an attempt");
        tickets[0].queue_number.to_string()
    };

    // A new roll: the worker notices within a few seconds and prints the whole ticket
    // again, marked COPY, with no one touching the screen.
    printer.load_paper();
    let tickets = printer.wait_for_tickets(1, Duration::from_secs(15));
    assert_eq!(tickets.len(), 1, "the ticket came out after the new roll");
    let text = &printer.ticket_texts()[0];
    assert!(text.contains("*SALINAN*"), "marked COPY:\n{text}");
    assert!(text.contains("BUKTI PENDAFTARAN ANTREAN PASPOR"), "{text}");
    assert!(text.contains(&queue_number), "{queue_number} in\n{text}");
    assert!(text.contains("[QR]"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Dicetak"),
        "whole, to its last line: {last}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = status(&mut client).await;
        if s["store"]["unprinted"] == 0 {
            assert_eq!(s["printer"], "ok", "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "still unprinted: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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
