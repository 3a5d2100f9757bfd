//! The ticket printer end to end through real pseudo-terminals: the kiosk's `open()` on
//! the virtual printer's symlink, status queries, a whole ticket job rendered to PNG,
//! the job's confirmation (process ID, automatic status back, head time) with paper
//! running out mid-print, the buffer clear that keeps a cut-off tail from printing, and
//! a printer that does not answer.

use std::path::Path;
use std::time::{Duration, Instant};

use apm_kiosk::domain::Language;
use apm_kiosk::hardware::printer::{self, PrinterPath, PrinterState, STATUS_TIMEOUT};
use apm_kiosk::protocol::escpos::{PaperWidth, Ticket, ticket_job};
use apm_kiosk::protocol::printer_profile::{PrinterModel, PrinterProfile};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_testkit::fixtures;

/// The testkit's fixed ticket, with a payload of a real one's size that is not signed.
fn ticket(language: Language, priority: bool) -> Ticket {
    Ticket {
        // The size of a real signed payload: ~230 characters of claims, 86 of signature.
        qr_payload: format!(
            "APM2.{}.{}",
            "eyJyIjoiMDE5M2E0ZjItN2IzYy03MDAwLThhMDAtMDAwMDAwMDAwMDAxIiwiayI6IktSTS0wMiJ9"
                .repeat(3),
            "S".repeat(86)
        ),
        ..fixtures::ticket(language, priority, false)
    }
}

fn start(dir: &Path, options: PrinterSimOptions) -> PrinterSimHandle {
    PrinterSim::start(&dir.join("printer"), &dir.join("out"), options)
        .expect("the virtual printer starts")
}

/// A TM-T20 (576 dots, process ID, buffer clear) whose head runs ten times its speed:
/// for the tests that are not about time.
fn quick(profile: PrinterProfile) -> PrinterSimOptions {
    PrinterSimOptions {
        profile,
        head_mm_per_s: Some(1500),
        ..PrinterSimOptions::default()
    }
}

fn tm_t20() -> PrinterProfile {
    PrinterProfile::of(PrinterModel::TmT20, PaperWidth::Mm80)
}

fn open(sim: &PrinterSimHandle) -> Box<dyn printer::TicketPrinter> {
    open_as(sim, tm_t20())
}

/// The kiosk's side, believing the printer to be `profile`.
fn open_as(sim: &PrinterSimHandle, profile: PrinterProfile) -> Box<dyn printer::TicketPrinter> {
    let path = PrinterPath::Device(sim.link().to_owned());
    printer::open(&path, 115_200, profile).expect("the kiosk opens the virtual printer")
}

struct Png {
    width: u32,
    height: u32,
    /// One byte a pixel, 0 black, 255 white.
    pixels: Vec<u8>,
}

impl Png {
    fn read(path: &Path) -> Png {
        let file = std::fs::File::open(path).expect("ticket PNG exists");
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("sized")];
        let info = reader.next_frame(&mut pixels).expect("one frame");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        pixels.truncate(info.buffer_size());
        Png {
            width: info.width,
            height: info.height,
            pixels,
        }
    }

    fn dark(&self, x: u32, y: u32) -> bool {
        self.pixels[(y * self.width + x) as usize] < 128
    }

    /// Rows where a QR finder pattern crosses: dark, light, dark, light, dark runs in
    /// the ratio 1:1:3:1:1 of `module` dots. Returns (row, x of the pattern's start).
    fn finder_hits(&self, module: u32) -> Vec<(u32, u32)> {
        let mut hits = Vec::new();
        for y in 0..self.height {
            let mut runs: Vec<(bool, u32, u32)> = Vec::new(); // (dark, start, len)
            for x in 0..self.width {
                let d = self.dark(x, y);
                match runs.last_mut() {
                    Some((rd, _, len)) if *rd == d => *len += 1,
                    _ => runs.push((d, x, 1)),
                }
            }
            for w in runs.windows(5) {
                let want = [1, 1, 3, 1, 1];
                if w[0].0 && w.iter().zip(want).all(|(r, k)| r.2 == k * module) {
                    hits.push((y, w[0].1));
                }
            }
        }
        hits
    }
}

/// The QR's two top finder patterns: the same rows, `apart` dots or more between them.
fn has_qr(png: &Png, module: u32) -> bool {
    let hits = png.finder_hits(module);
    hits.iter()
        .any(|&(y, x)| hits.iter().any(|&(y2, x2)| y2 == y && x2 > x + 20 * module))
        && hits.len() >= 3 * module as usize
}

/// Every module of the printed symbol is the one the payload encodes at level M: the
/// data made it through the job, the pseudo-terminal and the printer's QR command.
fn assert_qr_carries(png: &Png, module: u32, payload: &str) {
    let hits = png.finder_hits(module);
    // Rows cross a finder pattern as 1:1:3:1:1 from its third module row on.
    let top = hits.iter().map(|h| h.0).min().expect("a finder pattern") - 2 * module;
    let left = hits.iter().map(|h| h.1).min().expect("a finder pattern");
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .expect("the payload fits a QR");
    let n = code.width() as u32;
    let mut wrong = 0;
    for my in 0..n {
        for mx in 0..n {
            let want = code[(mx as usize, my as usize)] == qrcode::Color::Dark;
            let (x, y) = (
                left + mx * module + module / 2,
                top + my * module + module / 2,
            );
            if png.dark(x, y) != want {
                wrong += 1;
            }
        }
    }
    assert_eq!(wrong, 0, "{wrong} of {} modules differ", n * n);
}

#[test]
fn status_is_ok_on_a_fresh_printer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), quick(tm_t20()));
    let mut printer = open(&sim);
    assert_eq!(printer.status().expect("status"), PrinterState::Ok);
    // And again: replies do not pile up or shift.
    assert_eq!(printer.status().expect("status"), PrinterState::Ok);
}

#[test]
fn tickets_print_as_pngs_of_the_paper_width_with_a_qr() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (width, module, language, priority) in [
        (PaperWidth::Mm80, 6, Language::Id, false),
        (PaperWidth::Mm58, 4, Language::En, true),
    ] {
        let sub = dir.path().join(format!("{}", width.mm()));
        std::fs::create_dir_all(&sub).expect("sub dir");
        let profile = PrinterProfile::of(PrinterModel::TmT20, width).with_dots(width.dots());
        let sim = start(&sub, quick(profile));
        let mut printer = open_as(&sim, profile);
        let job = ticket_job(&ticket(language, priority), profile);
        assert_eq!(printer.print(&job).expect("prints"), PrinterState::Ok);

        let tickets = sim.wait_for_tickets(1, Duration::from_secs(5));
        assert_eq!(tickets.len(), 1, "{width:?}");
        assert_eq!(
            tickets[0].file_name().and_then(|n| n.to_str()),
            Some("ticket-0001.png")
        );
        let png = Png::read(&tickets[0]);
        assert_eq!(png.width, width.dots());
        assert!(
            png.height > 600,
            "a whole ticket, not a stub: {}",
            png.height
        );
        assert!(has_qr(&png, module), "{width:?}: QR finder patterns");
        assert_qr_carries(&png, module, &ticket(language, priority).qr_payload);
        if std::env::var_os("APM_KEEP_TICKETS").is_some() {
            let keep = std::env::temp_dir().join(format!("apm-ticket-{}.png", width.mm()));
            std::fs::copy(&tickets[0], &keep).expect("copy kept ticket");
            eprintln!("kept {}", keep.display());
        }
    }
}

/// A TM-T20 at its own 150 mm/s whose roll runs out 60 mm into the ticket.
fn runs_out_at_60mm(profile: PrinterProfile) -> PrinterSimOptions {
    PrinterSimOptions {
        profile,
        roll_mm: Some(60.0),
        reload_mm: Some(5000.0),
        ..PrinterSimOptions::default()
    }
}

#[test]
fn paper_out_mid_print_is_seen_although_the_status_after_the_job_was_fine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), runs_out_at_60mm(tm_t20()));
    let mut printer = open(&sim);
    let job = ticket_job(&ticket(Language::Id, false), tm_t20());
    // The printer answers DLE EOT at once while the head prints: right after the last
    // byte it is fine, and only its process ID (never sent) or a later status tells.
    assert_eq!(printer.print(&job).expect("sent"), PrinterState::PaperOut);
    assert!(sim.tickets().is_empty(), "no ticket was cut");
    assert_eq!(sim.clears(), 1, "the tail was cleared at once");
    assert_eq!(sim.buffered(), 0, "nothing of the job is left");
    // A printer out of paper is not sent the next job at all.
    assert_eq!(
        printer.print(&job).expect("refused"),
        PrinterState::PaperOut
    );
    sim.load_paper();
    assert_eq!(printer.status().expect("status"), PrinterState::Ok);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sim.tickets().is_empty(),
        "no tail came out with the new roll"
    );
    // The whole ticket again, now confirmed.
    assert_eq!(printer.print(&job).expect("printed"), PrinterState::Ok);
    let texts = sim.ticket_texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("GRATIS, tidak untuk diperjualbelikan"),
        "{}",
        texts[0]
    );
}

#[test]
fn a_printer_without_buffer_clear_prints_the_tail_when_the_paper_is_back() {
    // A generic printer: confirmed by the head time, no DLE DC4. The kiosk still sees
    // the paper out; the tail it cannot clear comes out with the new roll, as on paper.
    let generic = PrinterProfile::generic(PaperWidth::Mm80);
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), runs_out_at_60mm(generic));
    let mut printer = open_as(&sim, generic);
    let job = ticket_job(&ticket(Language::Id, false), generic);
    assert_eq!(printer.print(&job).expect("sent"), PrinterState::PaperOut);
    assert_eq!(sim.clears(), 0);
    assert!(sim.buffered() > 0, "the tail waits in the printer");
    sim.load_paper();
    let tickets = sim.wait_for_tickets(1, Duration::from_secs(10));
    assert_eq!(tickets.len(), 1, "the tail came out");
    let tail = &sim.ticket_texts()[0];
    assert!(tail.contains("[QR]") && !tail.contains("BUKTI"), "{tail}");
}

#[test]
fn automatic_status_back_reports_the_roll_running_out() {
    // A TM-T88III: no process ID, automatic status back and the head time instead.
    let t88iii = PrinterProfile::of(PrinterModel::TmT88iii, PaperWidth::Mm80);
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), runs_out_at_60mm(t88iii));
    let mut printer = open_as(&sim, t88iii);
    let job = ticket_job(&ticket(Language::Id, false), t88iii);
    assert_eq!(printer.print(&job).expect("sent"), PrinterState::PaperOut);
    assert!(sim.tickets().is_empty());
    sim.load_paper();
    let job = ticket_job(&ticket(Language::Id, true), t88iii);
    let started = Instant::now();
    assert_eq!(printer.print(&job).expect("printed"), PrinterState::Ok);
    let waited = started.elapsed();
    // The tail of the first job (this printer cannot clear it), then the second: the
    // simulator's head may lag its nominal speed on a loaded machine, so it is waited
    // for rather than read at once.
    sim.wait_for_tickets(2, Duration::from_secs(10));
    let tickets = sim.ticket_texts();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    assert!(tickets[1].contains("PRIORITAS") && !tickets[1].contains("[QR]"));
    assert!(waited >= t88iii.head_time(job.length_dots), "{waited:?}");
}

#[test]
fn the_process_id_comes_after_the_head_and_status_at_once() {
    use apm_kiosk::protocol::escpos::{Incoming, ProcessId, next_incoming};
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    // At 150 mm/s the ticket takes about a second of head time.
    let sim = start(
        dir.path(),
        PrinterSimOptions {
            profile: tm_t20(),
            ..PrinterSimOptions::default()
        },
    );
    let mut port = serialport::new(sim.link().to_string_lossy(), 115_200)
        .timeout(Duration::from_secs(5))
        .open()
        .expect("opens the pty");
    let job = ticket_job(&ticket(Language::Id, false), tm_t20());
    let id = ProcessId::of(1);
    port.write_all(&job).expect("job");
    port.write_all(&id.request()).expect("process id request");
    port.write_all(&[0x10, 0x04, 0x04]).expect("status query");
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while got.len() < 8 {
        let n = port.read(&mut buf).expect("replies");
        got.extend_from_slice(&buf[..n]);
    }
    // The status first, while the head prints; the process ID once it is done.
    assert_eq!(next_incoming(&got), Some((Incoming::StatusReply(0x12), 1)));
    assert_eq!(next_incoming(&got[1..]), Some((Incoming::Processed(id), 7)));
    assert_eq!(sim.tickets().len(), 1, "cut before the process ID");
}

#[test]
fn a_printer_that_never_confirms_leaves_the_ticket_unconfirmed() {
    // The kiosk believes it is a TM-T20; the printer is a generic one, deaf to GS ( H.
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), quick(PrinterProfile::generic(PaperWidth::Mm80)));
    let mut printer = open(&sim);
    let job = ticket_job(&ticket(Language::Id, false), tm_t20());
    match printer.print(&job) {
        Err(err @ printer::PrinterError::Unconfirmed { .. }) => {
            assert!(err.to_string().contains("printer.model"), "{err}");
        }
        other => panic!("an unanswered process ID must not count as printed: {other:?}"),
    }
}

#[test]
fn an_offline_printer_reads_offline_within_the_time_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(
        dir.path(),
        PrinterSimOptions {
            offline: true,
            ..quick(tm_t20())
        },
    );
    let mut printer = open(&sim);
    let started = Instant::now();
    assert_eq!(printer.status().expect("status"), PrinterState::Offline);
    let took = started.elapsed();
    assert!(
        took >= STATUS_TIMEOUT && took < STATUS_TIMEOUT * 3,
        "offline after {took:?}"
    );
    let job = ticket_job(&ticket(Language::Id, false), tm_t20());
    assert_eq!(
        printer.print(&job).expect("not sent"),
        PrinterState::Offline
    );

    sim.set_offline(false);
    assert_eq!(printer.status().expect("status"), PrinterState::Ok);
}

#[test]
fn cover_open_shows_in_the_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), quick(tm_t20()));
    let mut printer = open(&sim);
    sim.set_cover_open(true);
    assert_eq!(printer.status().expect("status"), PrinterState::CoverOpen);
    sim.set_cover_open(false);
    assert_eq!(printer.status().expect("status"), PrinterState::Ok);
}

#[test]
fn the_printer_reopens_after_the_kiosk_closes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), quick(tm_t20()));
    for _ in 0..2 {
        let mut printer = open(&sim);
        assert_eq!(printer.status().expect("status"), PrinterState::Ok);
    }
}

#[test]
fn a_missing_device_names_the_path_and_a_fix() {
    let Err(err) = printer::open(
        &PrinterPath::Device("/dev/nonexistent-printer".into()),
        9600,
        tm_t20(),
    ) else {
        panic!("a missing device must not open");
    };
    let text = err.to_string();
    assert!(text.contains("/dev/nonexistent-printer"), "{text}");
    assert!(text.contains("udev"), "{text}");
}

#[test]
fn the_virtual_printer_takes_both_forms_of_dle_eot() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start(dir.path(), quick(tm_t20()));
    let mut port = serialport::new(sim.link().to_string_lossy(), 115_200)
        .timeout(Duration::from_secs(2))
        .open()
        .expect("opens the pty");
    // The escpos crate's four bytes, then Epson's three, then text that must not be
    // mistaken for a command.
    port.write_all(&[0x10, 0x04, 0x01, 0x00, 0x10, 0x04, 0x04, b'A'])
        .expect("writes");
    let mut replies = [0u8; 2];
    port.read_exact(&mut replies).expect("two replies");
    assert_eq!(replies, [0x12, 0x12]);
}

#[test]
fn a_network_printer_answers_through_the_same_code_despite_unasked_status() {
    use apm_kiosk::protocol::escpos::{PrinterStatus, StatusQuery, reply_byte};
    use apm_kiosk_sim::printer::render::{Event, Interpreter};
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("address");
    let printer_side = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accepts");
        let mut interpreter = Interpreter::new(576, None);
        let near_end = PrinterStatus {
            paper_near_end: true,
            ..PrinterStatus::READY
        };
        let mut buf = [0u8; 512];
        let mut cuts = 0;
        let mut first = true;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return cuts,
                Ok(n) => n,
            };
            for event in interpreter.feed(&buf[..n]) {
                match event {
                    Event::StatusQuery(q) => {
                        let query = StatusQuery::from_n(q).expect("a known query");
                        if first {
                            // An automatic status back block and an XOFF arrive unasked.
                            stream
                                .write_all(&[0x10, 0x00, 0x03, 0x00, 0x13])
                                .expect("asb");
                            first = false;
                        }
                        stream
                            .write_all(&[reply_byte(query, &near_end)])
                            .expect("reply");
                    }
                    Event::Cut(_) => cuts += 1,
                    _ => {}
                }
            }
        }
    });
    let path = PrinterPath::Tcp {
        host: addr.ip().to_string(),
        port: addr.port(),
    };
    // A generic printer: the status after the head time confirms the job.
    let generic = PrinterProfile::generic(PaperWidth::Mm80);
    let mut printer = printer::open(&path, 0, generic).expect("connects");
    assert_eq!(
        printer.status().expect("status"),
        PrinterState::PaperNearEnd
    );
    let job = ticket_job(&ticket(Language::Id, false), generic);
    assert_eq!(
        printer.print(&job).expect("prints"),
        PrinterState::PaperNearEnd
    );
    drop(printer);
    assert_eq!(
        printer_side.join().expect("printer thread"),
        1,
        "one ticket cut"
    );
}

#[test]
fn an_unreachable_network_printer_names_the_address() {
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    let nothing = PrinterPath::Tcp {
        host: "127.0.0.1".into(),
        port: 9,
    };
    let Err(err) = printer::open(&nothing, 0, tm_t20()) else {
        panic!("nothing listens there");
    };
    let text = err.to_string();
    assert!(
        text.contains("tcp://127.0.0.1:9") && text.contains("9100"),
        "{text}"
    );
}
