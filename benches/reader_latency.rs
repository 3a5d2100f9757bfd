//! From a CARD_DATA frame's last byte on the line to the flow holding the applicant.
//!
//! A raw pseudo-terminal plays the reader (no pacing, so the clock starts when the last
//! byte is in the pty); the kiosk's own `SerialReader` thread decodes, ACKs and reports
//! it; the event goes through `CardFields::from` into `flow::step` on a fresh session
//! (`Kiosk::new`, then `Intent::Start`), and the clock stops when `kiosk.pending` holds the
//! applicant. Repeated over valid cards from `hardware/reader/cards.toml`; prints the
//! median, p90, p99 and max next to the frame's time on the wire at 115200 baud, which the
//! figures add to on a real line. Asserts no time: a figure, not a test.
//!
//! `cargo bench --profile dev --bench reader_latency` (the dev profile: our crate at
//! opt-level 0, its dependencies at 2, as the figures in the READMEs are taken).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use apm_kiosk::domain::Language;
use apm_kiosk::flow::{self, Event, Intent, Kiosk, Timeouts};
use apm_kiosk::hardware::reader::{
    CardData, ReaderEvent, ReaderHandle, ReaderInfo, SamStatus, SerialReader, start,
};
use apm_kiosk::protocol::reader::{Frame, cmd, encode, encode_card_data};
use apm_kiosk_sim::reader::RawLine;
use apm_kiosk_sim::reader::cli::load_cards;

const BAUD: u32 = 115_200;
const WARM_UP: usize = 10;
const RUNS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:>8.0} µs", d.as_secs_f64() * 1e6)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reader_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let cards = bench_cards()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;

    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let link = dir.path().join("apm-reader");
    let (mut raw, mut reader) = connect(&link, &runtime)?;
    let mut figures = Figures::default();
    for i in 0..WARM_UP + RUNS {
        let card = &cards[i % cards.len()];
        let one = one_card(i, card, &mut raw, &mut reader, &runtime)?;
        if i >= WARM_UP {
            figures.to_event.push(one.to_event);
            figures.to_flow.push(one.to_flow);
            figures.frame_bytes.push(one.frame_bytes);
        }
    }
    reader.stop();
    figures.print();
    Ok(())
}

/// The valid cards of `hardware/reader/cards.toml`: the file's one card whose NIK
/// disagrees with it would end on the problem screen.
fn bench_cards() -> Result<Vec<CardData>, String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/reader/cards.toml");
    Ok(load_cards(&file)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| !c.note.as_deref().is_some_and(|n| n.starts_with("TEST")))
        .map(|c| c.card())
        .collect())
}

/// Opens the raw pty that plays the reader at `link`, starts the kiosk's reader on it
/// and answers its handshake; returns both once the kiosk reports the reader connected.
fn connect(
    link: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<(RawLine, ReaderHandle), String> {
    let mut raw = RawLine::open(link).map_err(|e| format!("pty: {e}"))?;
    let mut reader = start(SerialReader::new(link, BAUD));
    let info = ReaderInfo {
        vendor: Some("Bench".into()),
        model: Some("RAW-1".into()),
        firmware: None,
        serial: None,
        sam: SamStatus::Ok,
    };
    raw.answer_handshake(&info, Duration::from_secs(5))
        .map_err(|e| format!("handshake: {e}"))?;
    match runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), reader.events().recv()).await
    }) {
        Ok(Some(ReaderEvent::Connected(_))) => Ok((raw, reader)),
        other => Err(format!("expected Connected, got {other:?}")),
    }
}

/// The times of one card, from its frame's last byte in the pty.
struct OneCard {
    to_event: Duration,
    to_flow: Duration,
    frame_bytes: usize,
}

/// Run `i`: a fresh session at the card screen, the card's frame written whole, the
/// clock read when the reader's event comes and when the flow holds the applicant; the
/// kiosk's ACK is then read off the line so that it never backs up (not timed).
fn one_card(
    i: usize,
    card: &CardData,
    raw: &mut RawLine,
    reader: &mut ReaderHandle,
    runtime: &tokio::runtime::Runtime,
) -> Result<OneCard, String> {
    let now = chrono::Utc::now();
    let mut kiosk = Kiosk::new(Language::Id, Timeouts::default(), now);
    flow::step(&mut kiosk, Event::Intent(Intent::Start), now);
    let bytes = encode(&Frame {
        seq: i as u8,
        cmd: cmd::CARD_DATA,
        payload: encode_card_data(card),
    });

    raw.write(&bytes, Duration::from_secs(1))
        .map_err(|e| format!("write: {e}"))?;
    let written = Instant::now();
    let event = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), reader.events().recv()).await
    });
    let evented = Instant::now();
    let Ok(Some(ReaderEvent::CardRead(read))) = event else {
        return Err(format!("run {i}: expected CardRead, got {event:?}"));
    };
    flow::step(
        &mut kiosk,
        Event::CardRead(apm_kiosk::flow::CardFields::from(read)),
        chrono::Utc::now(),
    );
    let held = Instant::now();
    if kiosk.pending.is_none() {
        return Err(format!(
            "run {i}: the flow did not take the applicant ({:?})",
            kiosk.screen
        ));
    }
    let acks = raw
        .host_frames(Duration::from_millis(50))
        .map_err(|e| format!("read ACK: {e}"))?;
    if !acks.iter().any(|f| f.cmd == cmd::ACK && f.seq == i as u8) {
        return Err(format!("run {i}: no ACK for SEQ {}", i as u8));
    }
    Ok(OneCard {
        to_event: evented - written,
        to_flow: held - written,
        frame_bytes: bytes.len(),
    })
}

/// The timed runs' figures.
#[derive(Default)]
struct Figures {
    to_event: Vec<Duration>,
    to_flow: Vec<Duration>,
    frame_bytes: Vec<usize>,
}

impl Figures {
    /// Prints the median, p90, p99 and max of both times, and the median frame's time on
    /// the wire.
    fn print(mut self) {
        self.to_event.sort_unstable();
        self.to_flow.sort_unstable();
        self.frame_bytes.sort_unstable();
        let frame_bytes = &self.frame_bytes;
        let median_bytes = frame_bytes[frame_bytes.len() / 2];
        let wire = |bytes: usize| Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(BAUD));
        println!(
            "reader_latency: {RUNS} CARD_DATA frames ({}..{} bytes, median {median_bytes}) over a pty",
            frame_bytes[0],
            frame_bytes[frame_bytes.len() - 1]
        );
        println!("                               median          p90          p99          max");
        for (name, sorted) in [
            ("last byte -> ReaderEvent", &self.to_event),
            ("last byte -> flow holds", &self.to_flow),
        ] {
            println!(
                "{name:<26} {} {} {} {}",
                micros(percentile(sorted, 0.5)),
                micros(percentile(sorted, 0.9)),
                micros(percentile(sorted, 0.99)),
                micros(sorted[sorted.len() - 1]),
            );
        }
        println!(
            "wire time at {BAUD} baud: {} for the median frame ({median_bytes} bytes x 10 bits)",
            micros(wire(median_bytes)).trim_start()
        );
    }
}
