//! The whole kiosk, headless, end to end: the daemon on a simulated reader and printer
//! (real pseudo-terminals) and the central simulator (HTTP on loopback), a small crowd
//! driven through the control channel. Each confirmed booking must reach the service
//! exactly once, with and without a central outage during the first half.

use apm_kiosk::protocol::escpos::PaperWidth;
use apm_kiosk::simulate::{self, SimulateArgs};

fn args(out: &std::path::Path, visits: usize, outage: bool) -> SimulateArgs {
    SimulateArgs {
        applicants: visits,
        out: out.to_owned(),
        central: None,
        enroll_code: None,
        outage_first_half: outage,
        seed: 7,
        reader_baud: 115_200,
        printer_baud: 115_200,
        paper: PaperWidth::Mm80,
        printer_model: apm_kiosk::protocol::printer_profile::PrinterModel::TmT20,
        // Ten times a TM-T20's head: these tests are about the bookings, not the time.
        printer_speed: Some(1500),
        keep_running: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_books_prints_and_syncs_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = simulate::run(args(dir.path(), 16, false))
        .await
        .expect("simulation runs");
    assert!(summary.ok(), "{summary:#?}");
    assert!(summary.applicants_booked >= 10, "{summary:#?}");
    assert_eq!(summary.registrations, summary.applicants_booked);
    // Visits 5, 10 and 15 come back to their bookings: a reprint, a move, a cancel.
    for what in ["reprinted", "rescheduled", "cancelled"] {
        assert_eq!(summary.returns.get(what), Some(&1), "{what}: {summary:#?}");
    }
    assert_eq!(
        summary.tickets_printed,
        summary.applicants_booked + 2,
        "one ticket per applicant, a copy, and the moved booking's new ticket"
    );
    assert_eq!(summary.accepted_by_central, summary.registrations);
    // Visit 11 lays someone who booked earlier in another family's group: refused.
    assert_eq!(
        summary.refused.get("active_booking"),
        Some(&1),
        "{summary:#?}"
    );
    let pngs = std::fs::read_dir(dir.path().join("tickets"))
        .expect("tickets")
        .count();
    assert_eq!(pngs, summary.tickets_printed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_made_while_the_service_is_down_reach_it_when_it_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = simulate::run(args(dir.path(), 12, true))
        .await
        .expect("simulation runs");
    assert!(summary.ok(), "{summary:#?}");
    assert!(summary.booked_during_outage > 0, "{summary:#?}");
    assert_eq!(summary.accepted_by_central, summary.registrations);
    assert_eq!(summary.still_pending, 0);
}
