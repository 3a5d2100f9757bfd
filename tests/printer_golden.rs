//! Golden tickets: fixed tickets (fixed times, an APM2 QR signed by a fixed key, so
//! every byte of the job is stable) sent through the kiosk's printer code to the virtual
//! printer on a pseudo-terminal, and the PNG it cuts compared pixel by pixel with the
//! one kept in `tests/golden/`. On a mismatch the test writes the image it got beside
//! the golden one (`*.actual.png`) for a human to look at; `APM_UPDATE_GOLDEN=1` rewrites
//! the golden images after a deliberate change of layout, to be reviewed in the commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use apm_kiosk::domain::Language;
use apm_kiosk::hardware::printer::{self, PrinterState};
use apm_kiosk::protocol::escpos::{PaperWidth, Ticket, ticket_job};
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile};
use apm_kiosk::protocol::ticket_qr;
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimOptions};
use apm_kiosk_testkit::fixtures;
use ed25519_dalek::SigningKey;

/// The test key: 32 bytes of 0x42. Never a kiosk's.
fn key() -> SigningKey {
    fixtures::ticket_key()
}

/// The testkit's fixed ticket, in the name of the golden images.
fn golden_ticket(language: Language, priority: bool, copy: bool) -> Ticket {
    Ticket {
        name: Some("SITI AMINAH".into()),
        ..fixtures::ticket(language, priority, copy)
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Width, height and one byte a pixel (0 black, 255 white).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("sized")];
    let info = reader.next_frame(&mut pixels).expect("one frame");
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// Prints `ticket` on a fresh virtual printer of `profile` and returns the cut ticket's
/// PNG. The head runs fast: these tests are about the picture, not the time.
fn print_on_virtual_printer(ticket: &Ticket, profile: PrinterProfile) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = PrinterSim::start(
        &dir.path().join("printer"),
        &dir.path().join("out"),
        PrinterSimOptions {
            profile,
            head_mm_per_s: Some(2000),
            ..PrinterSimOptions::default()
        },
    )
    .expect("virtual printer");
    let path = printer::PrinterPath::Device(sim.link().to_owned());
    let mut device = printer::open(&path, 115_200, profile).expect("opens the virtual printer");
    let job = ticket_job(ticket, profile);
    assert_eq!(device.print(&job).expect("prints"), PrinterState::Ok);
    let tickets = sim.wait_for_tickets(1, Duration::from_secs(5));
    assert_eq!(tickets.len(), 1, "one ticket cut");
    std::fs::read(&tickets[0]).expect("ticket PNG")
}

fn check(name: &str, ticket: &Ticket, profile: impl Into<PrinterProfile>) {
    let actual = print_on_virtual_printer(ticket, profile.into());
    let golden_path = golden_dir().join(format!("{name}.png"));
    let actual_path = golden_dir().join(format!("{name}.actual.png"));
    if std::env::var_os("APM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &actual).expect("golden image written");
        let _ = std::fs::remove_file(&actual_path);
        return;
    }
    let golden = std::fs::read(&golden_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with APM_UPDATE_GOLDEN=1 to create it",
            golden_path.display()
        )
    });
    let (gw, gh, gp) = decode(&golden);
    let (aw, ah, ap) = decode(&actual);
    let differing = if (gw, gh) == (aw, ah) {
        gp.iter().zip(&ap).filter(|(g, a)| g != a).count()
    } else {
        usize::MAX
    };
    if differing != 0 {
        std::fs::write(&actual_path, &actual).expect("actual image written");
        panic!(
            "{name}: the printed ticket differs from {} ({gw}x{gh} golden, {aw}x{ah} printed, \
             {} pixels differ); look at {} and, if the change is wanted, rerun with \
             APM_UPDATE_GOLDEN=1",
            golden_path.display(),
            if differing == usize::MAX {
                "all".to_owned()
            } else {
                differing.to_string()
            },
            actual_path.display()
        );
    }
    let _ = std::fs::remove_file(&actual_path);
}

#[test]
fn the_80mm_ticket_matches_its_golden_image() {
    check(
        "ticket-80mm",
        &golden_ticket(Language::Id, false, false),
        PaperWidth::Mm80,
    );
}

#[test]
fn the_58mm_ticket_matches_its_golden_image() {
    check(
        "ticket-58mm",
        &golden_ticket(Language::Id, false, false),
        PaperWidth::Mm58,
    );
}

#[test]
fn a_priority_ticket_matches_its_golden_image() {
    check(
        "ticket-80mm-priority",
        &golden_ticket(Language::Id, true, false),
        PaperWidth::Mm80,
    );
}

#[test]
fn a_priority_copy_in_english_matches_its_golden_image() {
    check(
        "ticket-80mm-priority-copy-en",
        &golden_ticket(Language::En, true, true),
        PaperWidth::Mm80,
    );
}

#[test]
fn a_childs_ticket_in_english_on_58mm_matches_its_golden_image() {
    // A child under 5 entered on the keypad, no name typed: the officer fills it in.
    check(
        "ticket-58mm-child-en",
        &fixtures::child_ticket(Language::En),
        PaperWidth::Mm58,
    );
}

#[test]
fn the_english_ticket_on_80mm_matches_its_golden_image() {
    check(
        "ticket-80mm-en",
        &golden_ticket(Language::En, false, false),
        PaperWidth::Mm80,
    );
}

/// The samples of `hardware/printer/samples/`, one a head of the table beyond the
/// generic ones (`ticket-80mm`: 576 dots, also the TM-T20's; `ticket-58mm`: 384): the
/// regular ticket on each, with its QR where the printer has the command. The TM-T88V
/// stands for the TM-T88IV and VI, whose heads are the same.
const SAMPLES: [(&str, PrinterModel, PaperWidth); 4] = [
    (
        "ticket-tm-t88v-80mm",
        PrinterModel::TmT88v,
        PaperWidth::Mm80,
    ),
    (
        "ticket-tm-t88iii-80mm",
        PrinterModel::TmT88iii,
        PaperWidth::Mm80,
    ),
    ("ticket-tm-t20-58mm", PrinterModel::TmT20, PaperWidth::Mm58),
    (
        "ticket-tm-t88v-58mm",
        PrinterModel::TmT88v,
        PaperWidth::Mm58,
    ),
];

#[test]
fn each_head_of_the_table_prints_its_golden_ticket() {
    for (name, model, paper) in SAMPLES {
        check(
            name,
            &golden_ticket(Language::Id, false, false),
            PrinterProfile::of(model, paper),
        );
    }
}

#[test]
fn the_samples_in_hardware_printer_are_the_golden_tickets() {
    // The README shows `hardware/printer/samples/`: they must be what the tests print.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/printer/samples");
    let names = SAMPLES.iter().map(|s| s.0).chain([
        "ticket-80mm",
        "ticket-58mm",
        "ticket-80mm-priority",
        "ticket-80mm-en",
        "ticket-58mm-child-en",
    ]);
    for name in names {
        let file = format!("{name}.png");
        let sample = std::fs::read(samples.join(&file));
        if std::env::var_os("APM_UPDATE_GOLDEN").is_some() {
            let golden = std::fs::read(golden_dir().join(&file)).expect("golden image");
            std::fs::write(samples.join(&file), golden).expect("sample written");
            continue;
        }
        let golden = std::fs::read(golden_dir().join(&file)).expect("golden image");
        assert!(
            sample.as_ref().is_ok_and(|s| decode(s) == decode(&golden)),
            "hardware/printer/samples/{file} is not tests/golden/{file}; rerun with \
             APM_UPDATE_GOLDEN=1"
        );
    }
}

#[test]
fn the_golden_qr_is_a_valid_signed_ticket() {
    let t = golden_ticket(Language::Id, false, false);
    let public = key().verifying_key();
    let lookup = |kiosk: &str| {
        if kiosk == "KRM-02" {
            ticket_qr::KeyLookup::Known(public)
        } else {
            ticket_qr::KeyLookup::Unknown
        }
    };
    let nik_hash_key = fixtures::ticket_nik_hash_key();
    let checker = ticket_qr::Checker {
        keys: &lookup,
        nik_hash_key: Some(&nik_hash_key),
        today: t.visit_date,
    };
    let verified = ticket_qr::verify(&t.qr_payload, fixtures::TICKET_NIK, &checker)
        .expect("the golden ticket's QR verifies");
    assert_eq!(verified.version, ticket_qr::Version::Apm2);
    assert_eq!(verified.claims.q, "R-021");
}
