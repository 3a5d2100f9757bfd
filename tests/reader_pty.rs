//! The kiosk's serial card reader against the simulated reader, over real
//! pseudo-terminals: the same code path as a reader on `/dev/ttyACM0`, with the simulator
//! pacing its bytes at the line's baud rate. Also checks the invented cards file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apm_kiosk::hardware::reader::{
    CardData, ReadErrorCode, ReaderCommand, ReaderEvent, ReaderHandle, SamStatus, SerialReader,
    Signal, start,
};
use apm_kiosk::protocol::reader::{FRAME_OVERHEAD, encode_card_data};
use apm_kiosk_sim::reader::cli::load_cards;
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle, SimOptions};

const CHIP_READ: Duration = Duration::from_millis(200);

fn cards_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/reader/cards.toml")
}

fn card(n: usize) -> CardData {
    load_cards(&cards_file()).expect("the cards file loads")[n - 1].card()
}

struct Rig {
    sim: ReaderSimHandle,
    reader: ReaderHandle,
    _dir: tempfile::TempDir,
}

/// A simulated reader at `baud` and the kiosk's serial reader connected to it.
async fn rig(baud: u32) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("apm-reader");
    let options = SimOptions {
        chip_read_delay: CHIP_READ,
        ..SimOptions::default()
    };
    let sim = ReaderSim::start_with(&link, baud, options).expect("simulator starts");
    let mut reader = start(SerialReader::new(&link, baud));
    match next(&mut reader, Duration::from_secs(3)).await {
        ReaderEvent::Connected(info) => {
            assert_eq!(info.sam, SamStatus::Ok);
            assert_eq!(info.model.as_deref(), Some("SIM-KTP-1"));
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    Rig {
        sim,
        reader,
        _dir: dir,
    }
}

async fn next(reader: &mut ReaderHandle, within: Duration) -> ReaderEvent {
    tokio::time::timeout(within, reader.events().recv())
        .await
        .expect("an event in time")
        .expect("the reader thread is running")
}

/// Asserts that nothing more comes for `quiet`.
async fn no_more(reader: &mut ReaderHandle, quiet: Duration) {
    if let Ok(event) = tokio::time::timeout(quiet, reader.events().recv()).await {
        panic!("unexpected event {event:?}");
    }
}

async fn card_read_once(baud: u32) {
    let mut rig = rig(baud).await;
    let laid = card(1);
    rig.sim.present_card(laid.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    let present_at = Instant::now();
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == laid, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    // The chip read, then CARD_DATA paced at 10 bits a byte: a lower bound only.
    let frame_bytes = encode_card_data(&laid).len() + 2 + FRAME_OVERHEAD;
    let line_time = Duration::from_secs_f64(frame_bytes as f64 * 10.0 / f64::from(baud));
    let took = present_at.elapsed();
    assert!(
        took >= CHIP_READ + line_time - Duration::from_millis(5),
        "CARD_DATA of {frame_bytes} bytes at {baud} baud came after {took:?}"
    );
    eprintln!("{baud} baud: CARD_DATA {frame_bytes} bytes, present to read {took:?}");
    // Past the reader's whole resend window: had the ACK not landed, a copy would come.
    no_more(&mut rig.reader, Duration::from_millis(1700)).await;
    let counters = rig.sim.counters();
    assert_eq!(counters.acks_received, 1, "{counters:?}");
    assert_eq!(counters.resends, 0, "{counters:?}");
    assert_eq!(counters.events_sent, 2, "{counters:?}");
    rig.reader.stop();
}

#[tokio::test]
async fn card_read_once_at_9600_baud() {
    card_read_once(9600).await;
}

#[tokio::test]
async fn card_read_once_at_115200_baud() {
    card_read_once(115_200).await;
}

#[tokio::test]
async fn read_error_is_delivered_and_acknowledged() {
    let mut rig = rig(115_200).await;
    rig.sim.present_error(ReadErrorCode::ChipAuthFailed);
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(3)).await,
        ReaderEvent::ReadFailed(ReadErrorCode::ChipAuthFailed)
    );
    rig.sim.remove_card();
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardRemoved
    );
    // The kiosk's ACK crosses the line after the event is delivered: wait for the
    // simulator to have read it (well inside its 500 ms resend timer), then count.
    let deadline = Instant::now() + Duration::from_millis(400);
    while rig.sim.counters().acks_received == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let counters = rig.sim.counters();
    assert_eq!(counters.acks_received, 1, "{counters:?}");
    assert_eq!(counters.resends, 0, "{counters:?}");
    rig.reader.stop();
}

#[tokio::test]
async fn event_with_lost_acks_is_resent_and_delivered_once() {
    let mut rig = rig(115_200).await;
    rig.sim.set_drop_acks(true);
    let laid = card(5);
    rig.sim.present_card(laid.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == laid, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    // Three resends 500 ms apart, then the reader gives up.
    no_more(&mut rig.reader, Duration::from_millis(2200)).await;
    let counters = rig.sim.counters();
    assert_eq!(counters.resends, 3, "{counters:?}");
    assert_eq!(counters.acks_dropped, 4, "every copy ACKed: {counters:?}");
    assert_eq!(counters.acks_received, 0, "{counters:?}");
    rig.reader.stop();
}

#[tokio::test]
async fn removing_the_card_mid_read_fails_the_read() {
    let mut rig = rig(115_200).await;
    rig.sim.set_chip_read_delay(Duration::from_secs(2));
    rig.sim.present_card(card(2));
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    rig.sim.remove_card();
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::ReadFailed(ReadErrorCode::CardRemoved)
    );
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardRemoved
    );
    no_more(&mut rig.reader, Duration::from_millis(2300)).await;
    rig.reader.stop();
}

#[tokio::test]
async fn commands_reach_the_reader() {
    let mut rig = rig(115_200).await;
    let before = rig.sim.counters().commands_received;
    rig.reader.command(ReaderCommand::Signal(Signal::BeepOk));
    rig.reader.command(ReaderCommand::ReadCard);
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::ReadFailed(ReadErrorCode::NoCard)
    );
    assert_eq!(rig.sim.counters().commands_received, before + 2);

    // With a card on the reader, READ_CARD's answer is the card.
    let laid = card(8);
    rig.sim.present_card(laid.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    assert!(matches!(
        next(&mut rig.reader, Duration::from_secs(3)).await,
        ReaderEvent::CardRead(_)
    ));
    rig.reader.command(ReaderCommand::ReadCard);
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == laid, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    rig.reader.stop();
}

#[tokio::test]
async fn a_reader_plugged_in_later_is_picked_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("apm-reader");
    let mut reader = start(SerialReader::new(&link, 115_200));
    match next(&mut reader, Duration::from_secs(1)).await {
        ReaderEvent::Disconnected { reason } => {
            assert!(reason.contains(&link.display().to_string()), "{reason}");
            assert!(reason.contains("no reader at"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let _sim = ReaderSim::start(&link, 115_200).expect("simulator starts");
    assert!(matches!(
        next(&mut reader, Duration::from_secs(3)).await,
        ReaderEvent::Connected(_)
    ));
    reader.stop();
}

#[tokio::test]
async fn a_wrong_baud_rate_is_reported_not_hidden() {
    // A pty has no baud rate, so a mismatch cannot be simulated on the line; but a
    // reader that never answers must be reported as silent, with the fix.
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("mute");
    let (_master, slave) = serialport::TTYPort::pair().expect("pty pair");
    let device = serialport::SerialPort::name(&slave).expect("pty name");
    drop(slave);
    std::os::unix::fs::symlink(&device, &link).expect("symlink");
    let mut reader = start(SerialReader::new(&link, 9600));
    match next(&mut reader, Duration::from_secs(3)).await {
        ReaderEvent::Disconnected { reason } => {
            assert!(reason.contains("does not answer at 9600 baud"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    reader.stop();
}

/// Digits 7 to 12 of a NIK against a card's birth date and sex.
fn nik_agrees(card: &CardData) -> bool {
    let nik = card.nik.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(&nik[range]).ok()?.parse().ok()
    };
    if nik.len() != 16 || !nik.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (Some(day), Some(month), Some(year)) = (digits(6..8), digits(8..10), digits(10..12)) else {
        return false;
    };
    let (day, female) = if day > 40 {
        (day - 40, true)
    } else {
        (day, false)
    };
    let date = &card.birth_date;
    let want = format!("{month:02}-{day:02}");
    date.len() == 10
        && date[2..4] == format!("{year:02}")
        && date[5..] == want
        && (card.sex == "P") == female
        && (card.sex == "L" || card.sex == "P")
}

#[test]
fn cards_file_is_consistent() {
    let cards = load_cards(&cards_file()).expect("the cards file loads");
    assert!(cards.len() >= 12, "a dozen cards at least");
    let mismatched: Vec<usize> = cards
        .iter()
        .enumerate()
        .filter(|(_, entry)| !nik_agrees(&entry.card()))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(mismatched.len(), 1, "exactly one test card disagrees");
    let test_card = &cards[mismatched[0] - 1];
    assert!(
        test_card
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("TEST"))
    );
    for entry in &cards {
        let payload = encode_card_data(&entry.card());
        assert!(payload.len() <= apm_kiosk::protocol::reader::MAX_PAYLOAD);
    }
    let provinces: Vec<&str> = cards.iter().map(|c| &c.nik[..2]).collect();
    for needed in ["21", "31", "32", "73", "94"] {
        assert!(provinces.contains(&needed), "province {needed} present");
    }
}

#[tokio::test]
async fn a_simulated_reader_with_nobody_listening_keeps_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("apm-reader");
    let sim = ReaderSim::start(&link, 9600).expect("simulator starts");
    // Events into a line nobody has open are lost, as on a cable to a switched-off PC.
    sim.present_card(card(3));
    sim.remove_card();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut reader = start(SerialReader::new(&link, 9600));
    assert!(matches!(
        next(&mut reader, Duration::from_secs(3)).await,
        ReaderEvent::Connected(_)
    ));
    reader.stop();
    drop(sim);
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "dropping the simulator removes its link"
    );
}

/// The reader unplugged in the middle of a session (a card read, the next one under way)
/// and plugged back: the same reader thread reports the loss, finds the new pty behind
/// the same link, and reads the next card.
#[tokio::test]
async fn unplug_and_replug_mid_session_is_survived() {
    let mut rig = rig(115_200).await;
    let first = card(1);
    rig.sim.present_card(first.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == first, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }

    // The next applicant's card is on the reader, its chip read under way, when the
    // cable comes out.
    rig.sim.remove_card();
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardRemoved
    );
    rig.sim.set_chip_read_delay(Duration::from_secs(1));
    rig.sim.present_card(card(2));
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    rig.sim.unplug();
    let link = rig.sim.link().display().to_string();
    match next(&mut rig.reader, Duration::from_secs(2)).await {
        ReaderEvent::Disconnected { reason } => {
            assert!(reason.contains(&link), "{reason}");
            assert!(reason.contains("went away"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Unplugged for a while: the retries find no link, and say so once.
    match next(&mut rig.reader, Duration::from_secs(2)).await {
        ReaderEvent::Disconnected { reason } => {
            assert!(reason.contains("no reader at"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    no_more(&mut rig.reader, Duration::from_millis(1500)).await;

    assert!(
        std::fs::symlink_metadata(rig.sim.link()).is_err(),
        "the link vanishes while unplugged"
    );
    rig.sim.replug().expect("the reader comes back");
    // A new pty, which the kernel may give the old number (as ttyACM0 comes back as
    // ttyACM0), behind the same link.
    assert_eq!(
        std::fs::read_link(rig.sim.link()).expect("the link is back"),
        rig.sim.device()
    );
    match next(&mut rig.reader, Duration::from_secs(6)).await {
        ReaderEvent::Connected(info) => assert_eq!(info.sam, SamStatus::Ok),
        other => panic!("expected Connected, got {other:?}"),
    }
    // The card that was on the reader went with the power; the applicant lays it again.
    rig.sim.set_chip_read_delay(CHIP_READ);
    let second = card(2);
    rig.sim.present_card(second.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == second, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    no_more(&mut rig.reader, Duration::from_millis(700)).await;
    let counters = rig.sim.counters();
    assert_eq!(counters.resends, 0, "{counters:?}");
    rig.reader.stop();
}

/// Noise between frames, STX bytes and false starts included, costs the kiosk nothing:
/// the card after it is read and acknowledged once.
#[tokio::test]
async fn line_noise_before_a_card_is_hunted_past() {
    let mut rig = rig(115_200).await;
    // A false start claiming 4000 bytes, then bytes that are all STX and ETX: only the
    // quiet line after them releases the decoder.
    let mut noise = vec![0x02, 0x0f, 0xa0];
    noise.extend(std::iter::repeat_n([0x02, 0x03, 0x00, 0xff], 64).flatten());
    rig.sim.line_noise(noise);
    let laid = card(4);
    rig.sim.present_card(laid.clone());
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(2)).await,
        ReaderEvent::CardPresent
    );
    match next(&mut rig.reader, Duration::from_secs(3)).await {
        ReaderEvent::CardRead(read) => assert!(read == laid, "the card read is the card laid"),
        other => panic!("expected CardRead, got {other:?}"),
    }
    no_more(&mut rig.reader, Duration::from_millis(700)).await;
    let counters = rig.sim.counters();
    assert_eq!(counters.acks_received, 1, "{counters:?}");
    assert_eq!(counters.resends, 0, "{counters:?}");
    rig.reader.stop();
}

/// A SAM taken out of a connected reader: the read fails with 0x06, and the kiosk asks
/// for INFO at once and reports the reader again with its SAM missing, for the
/// maintenance side; fitted again, the next minute's INFO would say so.
#[tokio::test]
async fn a_sam_taken_out_is_reported_after_the_failed_read() {
    let mut rig = rig(115_200).await;
    rig.sim.set_sam(SamStatus::Missing);
    rig.sim.present_card(card(6));
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(1)).await,
        ReaderEvent::CardPresent
    );
    assert_eq!(
        next(&mut rig.reader, Duration::from_secs(3)).await,
        ReaderEvent::ReadFailed(ReadErrorCode::SamUnavailable)
    );
    match next(&mut rig.reader, Duration::from_secs(1)).await {
        ReaderEvent::Connected(info) => {
            assert_eq!(info.sam, SamStatus::Missing);
            assert_eq!(info.model.as_deref(), Some("SIM-KTP-1"));
        }
        other => panic!("expected Connected with the SAM missing, got {other:?}"),
    }
    no_more(&mut rig.reader, Duration::from_millis(300)).await;
    rig.reader.stop();
}
