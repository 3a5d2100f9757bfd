//! A short, seeded chaos run through the whole daemon (`daemon_support/chaos.rs`):
//! SIGKILLs at random points of booking, printing and sync while the central
//! simulator loses answers to allocations, uploads and releases. Every ticket a person
//! was handed is accepted by the service exactly once, and no number is booked that the
//! kiosk does not hold. The long runs and their figures: `cargo bench --bench chaos`.

#[path = "daemon_support/chaos.rs"]
mod chaos;
mod daemon_support;

use chaos::{ChaosPlan, ticket_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_and_lost_answers_hand_out_only_tickets_the_service_accepts_once() {
    for seed in [7] {
        let report = chaos::run(ChaosPlan {
            seed,
            kills: 12,
            lose_answer_rate: 0.25,
            drop_rate: 0.1,
        })
        .await;
        println!("chaos seed {seed}: {report:?}");
        assert!(report.clean(), "seed {seed}: {report:#?}");
        assert!(
            report.bookings >= 2,
            "seed {seed}: too few bookings to say anything: {report:?}"
        );
        assert!(report.tickets_printed >= report.bookings);
    }
}

#[test]
fn a_ticket_text_names_its_booking() {
    let text = "NOMOR ANTREAN\nR-021\nSelasa\nKode booking: 7F3C-21A9\n[QR]";
    assert_eq!(
        ticket_key(text),
        Some(("7F3C-21A9".to_owned(), "R-021".to_owned()))
    );
    assert_eq!(ticket_key("TEST PAGE\n0123-4567 printer"), None);
}
