//! [`FakeReader`]: a card reader in memory behind the kiosk's [`CardReader`]. It
//! reports the events a test hands it through its [`FakeReaderControl`], in order,
//! answers `ReadCard` with the card lying on it, and records every command the kiosk
//! gives. Run it with `hardware::reader::start` like any reader: it returns when the
//! kiosk stops it or stops listening.
//!
//! The vendor protocol on the serial line is not played here: that is the simulator's
//! (`apm_kiosk_sim::reader`), against the real serial reader.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use apm_kiosk::hardware::reader::{
    CardData, CardReader, ReaderCommand, ReaderEvent, ReaderInfo, ReaderLink, SamStatus,
};

/// How often the reader's thread looks for a new scripted event while waiting for
/// commands: short, the thread does nothing else.
const POLL: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Shared {
    commands: Vec<ReaderCommand>,
    /// The card on the reader, for `ReadCard`.
    card: Option<CardData>,
}

/// The reader, to hand to `hardware::reader::start`.
pub struct FakeReader {
    script: std_mpsc::Receiver<ReaderEvent>,
    shared: Arc<Mutex<Shared>>,
}

/// The test's side of a [`FakeReader`]: events to report, commands received.
#[derive(Clone)]
pub struct FakeReaderControl {
    script: std_mpsc::Sender<ReaderEvent>,
    shared: Arc<Mutex<Shared>>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeReader {
    /// A reader with nothing to report yet.
    pub fn new() -> (FakeReader, FakeReaderControl) {
        let (tx, rx) = std_mpsc::channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        (
            FakeReader {
                script: rx,
                shared: shared.clone(),
            },
            FakeReaderControl { script: tx, shared },
        )
    }

    /// A reader that reports `events` in order as soon as it runs.
    pub fn scripted(
        events: impl IntoIterator<Item = ReaderEvent>,
    ) -> (FakeReader, FakeReaderControl) {
        let (reader, control) = FakeReader::new();
        for event in events {
            control.emit(event);
        }
        (reader, control)
    }

    /// What a connected reader with its SAM fitted says of itself.
    pub fn info() -> ReaderInfo {
        ReaderInfo {
            vendor: Some("FAKE".into()),
            model: Some("in-memory".into()),
            firmware: Some("1.0".into()),
            serial: Some("0001".into()),
            sam: SamStatus::Ok,
        }
    }
}

impl FakeReaderControl {
    /// Reports `event` next.
    pub fn emit(&self, event: ReaderEvent) {
        if let ReaderEvent::CardRead(card) = &event {
            lock(&self.shared).card = Some(card.clone());
        }
        if matches!(event, ReaderEvent::CardRemoved) {
            lock(&self.shared).card = None;
        }
        // The reader may have returned already; then nobody listens, as with a real one.
        let _ = self.script.send(event);
    }

    /// A card laid on the reader and read: `CardPresent`, then `CardRead`.
    pub fn present_card(&self, card: CardData) {
        self.emit(ReaderEvent::CardPresent);
        self.emit(ReaderEvent::CardRead(card));
    }

    pub fn remove_card(&self) {
        self.emit(ReaderEvent::CardRemoved);
    }

    /// Every command the kiosk gave, in order.
    pub fn commands(&self) -> Vec<ReaderCommand> {
        lock(&self.shared).commands.clone()
    }
}

impl CardReader for FakeReader {
    fn run(self: Box<Self>, mut link: ReaderLink) {
        loop {
            while let Ok(event) = self.script.try_recv() {
                if !link.emit(event) {
                    return;
                }
            }
            if let Some(command) = link.next_command(POLL) {
                let card = {
                    let mut shared = lock(&self.shared);
                    shared.commands.push(command);
                    shared.card.clone()
                };
                if command == ReaderCommand::ReadCard {
                    let answer = match card {
                        Some(card) => ReaderEvent::CardRead(card),
                        None => ReaderEvent::ReadFailed(
                            apm_kiosk::hardware::reader::ReadErrorCode::NoCard,
                        ),
                    };
                    if !link.emit(answer) {
                        return;
                    }
                }
            }
            if link.is_stopping() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apm_kiosk::hardware::reader::{ReadErrorCode, Signal, start};

    #[tokio::test]
    async fn events_reach_the_kiosk_in_order_and_commands_reach_the_reader() {
        let (reader, control) = FakeReader::scripted([ReaderEvent::Connected(FakeReader::info())]);
        let mut handle = start(reader);
        let card = crate::fixtures::card(&crate::fixtures::nik(5));
        assert_eq!(
            handle.events().recv().await,
            Some(ReaderEvent::Connected(FakeReader::info()))
        );
        control.present_card(card.clone());
        assert_eq!(handle.events().recv().await, Some(ReaderEvent::CardPresent));
        assert_eq!(
            handle.events().recv().await,
            Some(ReaderEvent::CardRead(card.clone()))
        );
        handle.command(ReaderCommand::Signal(Signal::BeepOk));
        handle.command(ReaderCommand::ReadCard);
        assert_eq!(
            handle.events().recv().await,
            Some(ReaderEvent::CardRead(card))
        );
        control.remove_card();
        assert_eq!(handle.events().recv().await, Some(ReaderEvent::CardRemoved));
        handle.command(ReaderCommand::ReadCard);
        assert_eq!(
            handle.events().recv().await,
            Some(ReaderEvent::ReadFailed(ReadErrorCode::NoCard))
        );
        assert_eq!(
            control.commands(),
            [
                ReaderCommand::Signal(Signal::BeepOk),
                ReaderCommand::ReadCard,
                ReaderCommand::ReadCard
            ]
        );
        // The kiosk's stop ends the reader's thread.
        handle.stop();
    }
}
