//! The kiosk's serial card reader against a raw line scripted byte for byte (no simulated
//! reader logic), for the link rules a well-behaved simulator never exercises: a READ_CARD
//! answer resent after lost ACKs, a reader SEQ that equals an earlier answer's host SEQ,
//! a NAK, and a command nobody answers.

use std::time::{Duration, Instant};

use apm_kiosk::hardware::reader::{
    CardData, ReaderCommand, ReaderEvent, ReaderHandle, ReaderInfo, SamStatus, SerialReader,
    Signal, start,
};
use apm_kiosk::protocol::reader::{Frame, cmd, encode, encode_card_data};
use apm_kiosk_sim::reader::RawLine;

fn info() -> ReaderInfo {
    ReaderInfo {
        vendor: Some("Raw".into()),
        model: Some("RAW-1".into()),
        firmware: Some("1.0".into()),
        serial: None,
        sam: SamStatus::Ok,
    }
}

fn siti() -> CardData {
    CardData {
        nik: "3171015708900003".into(),
        name: "SITI AMINAH".into(),
        birth_place: Some("JAKARTA".into()),
        birth_date: "1990-08-17".into(),
        sex: "P".into(),
        ..CardData::default()
    }
}

fn budi() -> CardData {
    CardData {
        nik: "3273011506850001".into(),
        name: "BUDI SANTOSO".into(),
        birth_date: "1985-06-15".into(),
        sex: "L".into(),
        ..CardData::default()
    }
}

fn card_data(seq: u8, card: &CardData) -> Vec<u8> {
    encode(&Frame {
        seq,
        cmd: cmd::CARD_DATA,
        payload: encode_card_data(card),
    })
}

struct Rig {
    raw: RawLine,
    reader: ReaderHandle,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("apm-reader");
    let mut raw = RawLine::open(&link).expect("pty");
    let mut reader = start(SerialReader::new(&link, 115_200));
    let raw = tokio::task::spawn_blocking(move || {
        raw.answer_handshake(&info(), Duration::from_secs(5))
            .expect("the kiosk connects");
        raw
    })
    .await
    .expect("handshake task");
    match next(&mut reader, Duration::from_secs(2)).await {
        Some(ReaderEvent::Connected(got)) => assert_eq!(got, info()),
        other => panic!("expected Connected, got {other:?}"),
    }
    Rig {
        raw,
        reader,
        _dir: dir,
    }
}

async fn next(reader: &mut ReaderHandle, within: Duration) -> Option<ReaderEvent> {
    tokio::time::timeout(within, reader.events().recv())
        .await
        .ok()
        .flatten()
}

/// The kiosk's frames for `span`.
fn host_frames_for(raw: &mut RawLine, span: Duration) -> Vec<Frame> {
    let until = Instant::now() + span;
    let mut frames = Vec::new();
    while Instant::now() < until {
        frames.extend(
            raw.host_frames(until.saturating_duration_since(Instant::now()))
                .expect("read the kiosk's frames"),
        );
    }
    frames
}

/// The first frame from the kiosk with this CMD, within a second.
fn host_command(raw: &mut RawLine, command: u8) -> Frame {
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let frames = raw
            .host_frames(Duration::from_millis(100))
            .expect("read the kiosk's frames");
        if let Some(frame) = frames.into_iter().find(|f| f.cmd == command) {
            return frame;
        }
    }
    panic!("the kiosk sent no command 0x{command:02x}");
}

#[tokio::test]
async fn a_read_card_answer_resent_after_lost_acks_is_acted_on_once() {
    let mut rig = rig().await;
    rig.reader.command(ReaderCommand::ReadCard);
    let command = host_command(&mut rig.raw, cmd::READ_CARD);
    let answer = card_data(command.seq, &siti());
    // The answer, then its three resends 500 ms apart (as if every ACK were lost),
    // written together: the spacing does not matter to the kiosk, the bytes do.
    for _ in 0..4 {
        rig.raw
            .write(&answer, Duration::from_secs(1))
            .expect("write");
    }
    match next(&mut rig.reader, Duration::from_secs(1)).await {
        Some(ReaderEvent::CardRead(read)) => assert!(read == siti(), "the card answered"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    assert_eq!(
        next(&mut rig.reader, Duration::from_millis(500)).await,
        None
    );
    let acks: Vec<u8> = host_frames_for(&mut rig.raw, Duration::from_millis(200))
        .iter()
        .filter(|f| f.cmd == cmd::ACK)
        .map(|f| f.seq)
        .collect();
    assert_eq!(acks, vec![command.seq; 4], "every copy ACKed");
    rig.reader.stop();
}

#[tokio::test]
async fn a_reader_event_with_an_answered_commands_seq_is_not_taken_for_a_resend() {
    let mut rig = rig().await;
    rig.reader.command(ReaderCommand::ReadCard);
    let command = host_command(&mut rig.raw, cmd::READ_CARD);
    rig.raw
        .write(&card_data(command.seq, &siti()), Duration::from_secs(1))
        .expect("write");
    assert!(matches!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        Some(ReaderEvent::CardRead(_))
    ));
    // The reader's own SEQ counter has reached the same number: a new card, a new event.
    rig.raw
        .write(&card_data(command.seq, &budi()), Duration::from_secs(1))
        .expect("write");
    match next(&mut rig.reader, Duration::from_secs(1)).await {
        Some(ReaderEvent::CardRead(read)) => assert!(read == budi(), "the new card"),
        other => panic!("expected the second CardRead, got {other:?}"),
    }
    // Its resend is still a resend.
    rig.raw
        .write(&card_data(command.seq, &budi()), Duration::from_secs(1))
        .expect("write");
    assert_eq!(
        next(&mut rig.reader, Duration::from_millis(300)).await,
        None
    );
    rig.reader.stop();
}

#[tokio::test]
async fn a_nak_gets_the_same_command_again() {
    let mut rig = rig().await;
    rig.reader.command(ReaderCommand::Signal(Signal::BeepOk));
    let first = host_command(&mut rig.raw, cmd::SIGNAL);
    rig.raw
        .write(
            &encode(&Frame::bare(first.seq, cmd::NAK)),
            Duration::from_secs(1),
        )
        .expect("write");
    let again = host_command(&mut rig.raw, cmd::SIGNAL);
    assert_eq!(again, first, "resent byte for byte, SEQ included");
    rig.raw
        .write(
            &encode(&Frame::bare(first.seq, cmd::ACK)),
            Duration::from_secs(1),
        )
        .expect("write");
    // Answered: no more copies, and the line stays up.
    let later = host_frames_for(&mut rig.raw, Duration::from_millis(600));
    assert!(later.iter().all(|f| f.cmd != cmd::SIGNAL), "{later:?}");
    assert_eq!(
        next(&mut rig.reader, Duration::from_millis(100)).await,
        None
    );
    rig.reader.stop();
}

#[tokio::test]
async fn an_unanswered_command_is_repeated_with_its_seq_then_the_reader_is_silent() {
    let mut rig = rig().await;
    rig.reader.command(ReaderCommand::Signal(Signal::LedOff));
    let sends = host_frames_for(&mut rig.raw, Duration::from_millis(1200));
    let signals: Vec<&Frame> = sends.iter().filter(|f| f.cmd == cmd::SIGNAL).collect();
    assert_eq!(signals.len(), 4, "four sends in all: {sends:?}");
    assert!(
        signals.iter().all(|f| **f == *signals[0]),
        "the same SEQ and payload every time: {signals:?}"
    );
    match next(&mut rig.reader, Duration::from_secs(1)).await {
        Some(ReaderEvent::Disconnected { reason }) => {
            assert!(
                reason.contains("does not answer at 115200 baud"),
                "{reason}"
            );
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    rig.reader.stop();
}
