//! The kiosk's serial card reader under a megabyte of line noise, over a real
//! pseudo-terminal: random bytes with valid CARD_DATA frames spliced in, written unpaced
//! (a pty has no baud rate) by a raw line with no reader behind it, so the test decides
//! every byte. The kiosk must hand over exactly the cards spliced in, in order, and ACK
//! each of them once.
//!
//! The noise comes from a fixed seed, so a failure repeats; `READER_NOISE_SEED` picks
//! another.

use std::path::Path;
use std::time::{Duration, Instant};

use apm_kiosk::hardware::reader::{
    CardData, ReaderEvent, ReaderHandle, ReaderInfo, SamStatus, SerialReader, start,
};
use apm_kiosk::protocol::reader::{Frame, cmd, encode, encode_card_data};
use apm_kiosk_sim::reader::RawLine;
use apm_kiosk_sim::reader::cli::load_cards;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const NOISE_BYTES: usize = 1 << 20;
/// Distinct SEQs: a repeated SEQ would be taken for a resend and acted on once.
const CARDS: usize = 200;

fn info() -> ReaderInfo {
    ReaderInfo {
        vendor: Some("Noise Test".into()),
        model: Some("RAW-1".into()),
        firmware: Some("1.0".into()),
        serial: Some("RAW-0001".into()),
        sam: SamStatus::Ok,
    }
}

/// CARDS different cards: the invented records in turn, each made unique by its
/// occupation so that order and identity are both checked.
fn cards() -> Vec<CardData> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/reader/cards.toml");
    let entries = load_cards(&file).expect("the cards file loads");
    (0..CARDS)
        .map(|i| {
            let mut card = entries[i % entries.len()].card();
            card.occupation = Some(format!("PENGUJI {i:03}"));
            card
        })
        .collect()
}

async fn next(reader: &mut ReaderHandle, within: Duration) -> Option<ReaderEvent> {
    tokio::time::timeout(within, reader.events().recv())
        .await
        .ok()
        .flatten()
}

/// The noise's seed: `READER_NOISE_SEED`, or a fixed one.
fn seed() -> u64 {
    std::env::var("READER_NOISE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x4150_4d4b_696f_736b_u64)
}

/// The CARD_DATA frame of each card, under its SEQ.
fn frames_of(cards: &[CardData], seqs: &[u8]) -> Vec<Vec<u8>> {
    cards
        .iter()
        .zip(seqs)
        .map(|(card, &seq)| {
            encode(&Frame {
                seq,
                cmd: cmd::CARD_DATA,
                payload: encode_card_data(card),
            })
        })
        .collect()
}

/// A megabyte of noise, cut at one sorted random offset per frame with the frame in
/// the cut; returns the line and how many STX bytes the noise alone holds.
fn noisy_line(rng: &mut StdRng, frames: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut noise = vec![0u8; NOISE_BYTES];
    rng.fill_bytes(&mut noise);
    let mut cuts: Vec<usize> = (0..frames.len())
        .map(|_| rng.gen_range(0..=NOISE_BYTES))
        .collect();
    cuts.sort_unstable();
    let mut line = Vec::with_capacity(NOISE_BYTES + frames.iter().map(Vec::len).sum::<usize>());
    let mut from = 0;
    for (cut, frame) in cuts.iter().zip(frames) {
        line.extend_from_slice(&noise[from..*cut]);
        line.extend_from_slice(frame);
        from = *cut;
    }
    line.extend_from_slice(&noise[from..]);
    let stx_in_noise = noise.iter().filter(|&&b| b == 0x02).count();
    (line, stx_in_noise)
}

/// The raw line at `link` and the kiosk's reader on it, once the handshake is answered
/// and the kiosk reports the reader connected, as it is.
async fn connect(link: &Path) -> (RawLine, ReaderHandle) {
    let mut raw = RawLine::open(link).expect("pty");
    let mut reader = start(SerialReader::new(link, 115_200));
    let handshake = std::thread::spawn(move || {
        raw.answer_handshake(&info(), Duration::from_secs(5))
            .expect("the kiosk opens the line and turns auto-read on");
        raw
    });
    match next(&mut reader, Duration::from_secs(5)).await {
        Some(ReaderEvent::Connected(got)) => assert_eq!(got, info()),
        other => panic!("expected Connected, got {other:?}"),
    }
    let raw = handshake.join().expect("handshake thread");
    (raw, reader)
}

/// The first [`CARDS`] events, each of which must be a card read.
async fn read_cards(reader: &mut ReaderHandle, seed: u64) -> Vec<CardData> {
    let mut got = Vec::new();
    while got.len() < CARDS {
        match next(reader, Duration::from_secs(30)).await {
            Some(ReaderEvent::CardRead(card)) => got.push(card),
            Some(other) => panic!("after {} cards, an unexpected {other:?}", got.len()),
            None => panic!("only {} of {CARDS} cards came (seed {seed})", got.len()),
        }
    }
    got
}

/// Every frame the kiosk sent on the line, until it has been quiet for 200 ms.
fn frames_from_host(raw: &mut RawLine) -> Vec<Frame> {
    let mut from_host = Vec::new();
    loop {
        let frames = raw
            .host_frames(Duration::from_millis(200))
            .expect("read the kiosk's frames");
        if frames.is_empty() {
            break;
        }
        from_host.extend(frames);
    }
    from_host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_noise_yields_exactly_the_cards_spliced_in() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let cards = cards();
    let seqs: Vec<u8> = (0..CARDS).map(|i| (i * 7 + 3) as u8).collect();
    let frames = frames_of(&cards, &seqs);
    let (line, stx_in_noise) = noisy_line(&mut rng, &frames);

    let dir = tempfile::tempdir().expect("temp dir");
    let (mut raw, mut reader) = connect(&dir.path().join("apm-reader")).await;

    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        raw.write(&line, Duration::from_secs(60))
            .expect("the kiosk takes the whole megabyte");
        raw
    });
    let got = read_cards(&mut reader, seed).await;
    let took = started.elapsed();
    let mut raw = writer.join().expect("writer thread");
    if let Some(extra) = next(&mut reader, Duration::from_millis(300)).await {
        panic!("an event more than the cards spliced in: {extra:?}");
    }
    for (i, (read, laid)) in got.iter().zip(&cards).enumerate() {
        assert!(
            read == laid,
            "card {i} is the card spliced in at {i} (seed {seed})"
        );
    }

    // The kiosk ACKs each CARD_DATA, once, in order; nothing else crosses the line.
    let from_host = frames_from_host(&mut raw);
    let acks: Vec<u8> = from_host
        .iter()
        .filter(|f| f.cmd == cmd::ACK)
        .map(|f| f.seq)
        .collect();
    assert_eq!(acks, seqs, "one ACK per card, in order (seed {seed})");
    assert_eq!(from_host.len(), acks.len(), "{from_host:?}");
    eprintln!(
        "{} bytes ({} STX in the noise) with {CARDS} frames: all cards in {took:?}",
        NOISE_BYTES + frames.iter().map(Vec::len).sum::<usize>(),
        stx_in_noise
    );
    reader.stop();
}
