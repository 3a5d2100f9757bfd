//! The queue ticket's cost on the wire and on the paper: the ESC/POS job's size in bytes
//! for 80 and 58 mm paper, its wire time at 9600 and 115200 baud (8N1: ten bit times a
//! byte), next to the time the print head needs for the ticket's length at 150 mm/s
//! (the length from the virtual printer's bitmap, at 8 dots a millimetre). Also how long
//! laying the job out takes here. Prints figures; asserts nothing.
//!
//! `cargo bench --bench ticket_job`

use std::time::Instant;

use apm_kiosk::domain::Language;
use apm_kiosk::protocol::escpos::{PaperWidth, ticket_job};
use apm_kiosk_sim::printer::render::render_job;
use apm_kiosk_testkit::fixtures;

/// Head speed of the common 80 mm kiosk mechanisms (Epson TM-T82/T88 class: 150 to
/// 300 mm/s); the slow end, so the figure is the worst case.
const HEAD_MM_PER_S: f64 = 150.0;
/// 203 dpi.
const DOTS_PER_MM: f64 = 8.0;

fn wire_ms(bytes: usize, baud: u32) -> f64 {
    bytes as f64 * 10.0 / f64::from(baud) * 1000.0
}

fn main() {
    let cases = [
        ("regular", false, false),
        ("priority", true, false),
        ("regular COPY", false, true),
    ];
    println!(
        "{:<14} {:>5} {:>7} {:>7} {:>11} {:>12} {:>8} {:>11} {:>9}",
        "ticket",
        "paper",
        "bytes",
        "QR (B)",
        "9600 Bd ms",
        "115200 Bd ms",
        "mm long",
        "head ms",
        "layout us"
    );
    for (name, priority, copy) in cases {
        // A ticket as the kiosk prints it: a long office name, a full name, and a QR
        // signed over real claims, so the payload has its real length.
        let t = fixtures::ticket(Language::Id, priority, copy);
        for width in [PaperWidth::Mm80, PaperWidth::Mm58] {
            let rounds = 200u32;
            let started = Instant::now();
            let mut job = Vec::new();
            for _ in 0..rounds {
                job = std::hint::black_box(ticket_job(std::hint::black_box(&t), width));
            }
            let layout_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
            let pages = render_job(&job, width);
            let height = pages.first().map_or(0, |p| p.height());
            let mm = f64::from(height) / DOTS_PER_MM;
            println!(
                "{:<14} {:>3}mm {:>7} {:>7} {:>11.0} {:>12.0} {:>8.0} {:>11.0} {:>9.1}",
                name,
                width.mm(),
                job.len(),
                t.qr_payload.len(),
                wire_ms(job.len(), 9600),
                wire_ms(job.len(), 115_200),
                mm,
                mm / HEAD_MM_PER_S * 1000.0,
                layout_us,
            );
        }
    }
}
