//! The queue ticket's cost on the wire and on the paper: the ESC/POS job's size in bytes
//! for 80 and 58 mm paper, its wire time at 9600 and 115200 baud (8N1: ten bit times a
//! byte), next to the time the print head needs for the ticket's length at 150 mm/s
//! (the length from the virtual printer's bitmap, at 8 dots a millimetre). Also how long
//! laying the job out takes here. Prints figures; asserts nothing.
//!
//! `cargo bench --bench ticket_job`

use std::time::Instant;

use apm_kiosk::domain::{ApplicationType, Language, PassportType};
use apm_kiosk::protocol::escpos::{PaperWidth, Ticket, ticket_job};
use apm_kiosk::protocol::ticket_qr::{self, Claims};
use apm_kiosk_sim::printer::render::render_job;
use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone};

/// Head speed of the common 80 mm kiosk mechanisms (Epson TM-T82/T88 class: 150 to
/// 300 mm/s); the slow end, so the figure is the worst case.
const HEAD_MM_PER_S: f64 = 150.0;
/// 203 dpi.
const DOTS_PER_MM: f64 = 8.0;

/// A ticket as the kiosk prints it: a long office name, a full name, and a QR signed
/// over real claims, so the payload has its real length.
fn ticket(priority: bool, copy: bool) -> Option<Ticket> {
    let issued_at = FixedOffset::east_opt(7 * 3600)?
        .with_ymd_and_hms(2026, 11, 22, 14, 5, 0)
        .single()?;
    let visit_date = NaiveDate::from_ymd_opt(2026, 11, 24)?;
    let registration_id = "0193a4f2-7b3c-7000-8a00-000000000001";
    let queue_number = if priority { "P-003" } else { "R-021" };
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]);
    let claims = Claims {
        r: registration_id.into(),
        k: "KRM-02".into(),
        o: "KRM".into(),
        d: visit_date,
        s: "S1".into(),
        q: queue_number.into(),
        n: ticket_qr::nik_check(registration_id, "3171014107900003"),
        t: issued_at.timestamp(),
    };
    Some(Ticket {
        language: Language::Id,
        office_name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
        queue_number: queue_number.into(),
        priority,
        visit_date,
        session_id: "S1".into(),
        session_start: NaiveTime::from_hms_opt(8, 0, 0)?,
        session_end: NaiveTime::from_hms_opt(10, 0, 0)?,
        zone_label: "WIB".into(),
        name: Some("DEWI KARTIKA SARI BINTI AHMAD".into()),
        masked_nik: "3171********0003".into(),
        application_type: ApplicationType::Replacement,
        passport_type: PassportType::Electronic,
        group_size: 3,
        group_index: 1,
        booking_code: "7F3C-21A9".into(),
        kiosk_id: "KRM-02".into(),
        issued_at,
        qr_payload: ticket_qr::sign(&claims, &key),
        copy,
    })
}

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
        let Some(t) = ticket(priority, copy) else {
            eprintln!("the sample ticket's fixed dates are invalid");
            return;
        };
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
