//! The queue ticket's cost on the wire and on the paper, one row per printer profile and
//! paper and per ticket (regular, priority, COPY, a child's in English): the ESC/POS job's size in bytes, its
//! wire time at 9600 and 115200 baud (8N1: ten bit times a byte), next to the time the
//! print head needs for the ticket's length at the profile's speed (the length from the
//! virtual printer's bitmap, at the profile's resolution). Also how long laying the job
//! out takes here. Prints figures; asserts nothing.
//!
//! `cargo bench --bench ticket_job`

use std::time::Instant;

use apm_kiosk::domain::Language;
use apm_kiosk::protocol::escpos::{PaperWidth, ticket_job};
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile, wire_time};
use apm_kiosk_sim::printer::render::render_job;
use apm_kiosk_testkit::fixtures;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let cases = [
        ("regular", false, false),
        ("priority", true, false),
        ("COPY", false, true),
        ("child en", true, false),
    ];
    println!(
        "{:<11} {:>5} {:>5} {:<9} {:>6} {:>7} {:>10} {:>12} {:>6} {:>8} {:>9}",
        "model",
        "paper",
        "dots",
        "ticket",
        "bytes",
        "QR (B)",
        "9600 Bd ms",
        "115200 Bd ms",
        "mm",
        "head ms",
        "layout us"
    );
    let mut largest = 0;
    for model in PrinterModel::ALL {
        for paper in PaperWidth::ALL.into_iter().filter(|&p| model.takes(p)) {
            let profile = PrinterProfile::of(model, paper);
            for (name, priority, copy) in cases {
                // A ticket as the kiosk prints it: a long office name, a full name, and
                // a QR signed over real claims, so the payload has its real length.
                let t = if name == "child en" {
                    fixtures::child_ticket(Language::En)
                } else {
                    fixtures::ticket(Language::Id, priority, copy)
                };
                let rounds = 200u32;
                let started = Instant::now();
                let mut job = ticket_job(&t, profile);
                for _ in 0..rounds {
                    job = std::hint::black_box(ticket_job(std::hint::black_box(&t), profile));
                }
                let layout_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
                let pages = render_job(&job, profile);
                let height = pages.first().map_or(0, |p| p.height());
                largest = largest.max(job.len());
                println!(
                    "{:<11} {:>3}mm {:>5} {:<9} {:>6} {:>7} {:>10.0} {:>12.0} {:>6.0} {:>8.0} {:>9.1}",
                    model.code(),
                    paper.mm(),
                    profile.dots,
                    name,
                    job.len(),
                    if profile.qr { t.qr_payload.len() } else { 0 },
                    ms(wire_time(job.len(), 9600)),
                    ms(wire_time(job.len(), 115_200)),
                    profile.mm(height),
                    ms(profile.head_time(height)),
                    layout_us,
                );
            }
        }
    }
    println!("largest job: {largest} bytes");
}
