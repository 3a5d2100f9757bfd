//! The KTP card reader as the rest of the kiosk sees it: the [`CardReader`] capability,
//! the events it reports and the commands it takes, and [`start`], which runs a reader on
//! its own thread and hands back a [`ReaderHandle`] for tokio code.
//!
//! The real implementation is [`SerialReader`] (the vendor protocol over a serial line,
//! with reopen on unplug); the `apm-kiosk-sim` crate's `reader::ReaderSim` plays the
//! reader's side of that line over a pseudo-terminal, so the kiosk runs the same serial code against the simulator. The
//! bytes live in `protocol::reader`; what an event means to the applicant is `flow`'s.

pub mod serial;

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use crate::protocol::reader::{CardData, ReadErrorCode, ReaderInfo, SamStatus};
pub use serial::SerialReader;

/// What the reader reports, in the order it happened.
// A few events a minute through a short queue: boxing the card would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// The reader answered on its line; it reports cards from now on. Sent again, with
    /// the new INFO, when a connected reader's INFO changes (its SAM taken out or fitted,
    /// new firmware): INFO is asked for again every minute and after a READ_ERROR 0x06.
    Connected(ReaderInfo),
    /// The reader is gone or cannot be reached. `reason` is for the technician: it
    /// names the device and the likely fix. The reader keeps retrying by itself.
    Disconnected {
        reason: String,
    },
    /// A card was laid on the reader; its data follows as `CardRead` or `ReadFailed`.
    CardPresent,
    CardRead(CardData),
    ReadFailed(ReadErrorCode),
    CardRemoved,
}

/// The reader's beeper and LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    BeepOk,
    BeepError,
    LedOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderCommand {
    Signal(Signal),
    /// Reads the card on the reader now; the answer comes as `CardRead` or `ReadFailed`.
    /// Needed only when auto-read is off or a read is to be repeated.
    ReadCard,
}

/// The card reader capability. An implementation runs blocking on the thread [`start`]
/// gives it, reports through [`ReaderLink::emit`] and takes commands from the link, and
/// returns once the link says to stop or nobody listens any more.
pub trait CardReader: Send + 'static {
    fn run(self: Box<Self>, link: ReaderLink);
}

/// So the application can pick a reader at run time and still call [`start`].
impl CardReader for Box<dyn CardReader> {
    fn run(self: Box<Self>, link: ReaderLink) {
        (*self).run(link)
    }
}

enum Control {
    Command(ReaderCommand),
    Stop,
}

/// A reader thread's end of the channels to the kiosk.
pub struct ReaderLink {
    events: mpsc::Sender<ReaderEvent>,
    control: std_mpsc::Receiver<Control>,
    /// Set once a stop was asked for or the handle is gone: the reader must return.
    stopping: bool,
}

impl ReaderLink {
    /// Hands an event to the kiosk, waiting if it is behind. False when the kiosk no
    /// longer listens: the reader should return.
    pub fn emit(&mut self, event: ReaderEvent) -> bool {
        if self.stopping {
            return false;
        }
        if self.events.blocking_send(event).is_err() {
            self.stopping = true;
        }
        !self.stopping
    }

    /// The next command, waiting at most `wait` (zero: only one already queued).
    pub fn next_command(&mut self, wait: Duration) -> Option<ReaderCommand> {
        if self.stopping {
            return None;
        }
        let received = if wait.is_zero() {
            self.control.try_recv().map_err(|e| match e {
                std_mpsc::TryRecvError::Empty => None,
                std_mpsc::TryRecvError::Disconnected => Some(()),
            })
        } else {
            self.control.recv_timeout(wait).map_err(|e| match e {
                std_mpsc::RecvTimeoutError::Timeout => None,
                std_mpsc::RecvTimeoutError::Disconnected => Some(()),
            })
        };
        match received {
            Ok(Control::Command(command)) => Some(command),
            Ok(Control::Stop) | Err(Some(())) => {
                self.stopping = true;
                None
            }
            Err(None) => None,
        }
    }

    /// Whether the reader must return now.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Waits `duration` (a reconnect backoff) unless a stop comes first; returns false if
    /// it did. Commands that come meanwhile are dropped: with no reader there is nobody
    /// to carry them out, and the kiosk already knows the reader is disconnected.
    pub fn pause(&mut self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return !self.stopping;
            }
            if let Some(command) = self.next_command(left) {
                tracing::debug!(?command, "reader command dropped: no reader connected");
            }
            if self.stopping {
                return false;
            }
        }
    }
}

/// The kiosk's end: events in, commands out, and the reader thread's lifetime.
///
/// Dropping the handle asks the thread to stop without waiting for it; [`stop`] waits.
///
/// [`stop`]: ReaderHandle::stop
pub struct ReaderHandle {
    events: mpsc::Receiver<ReaderEvent>,
    control: std_mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

/// Room for a burst (present, data, removed, a disconnect) while the kiosk is busy; past
/// it the reader thread waits, which is what a reader with a full buffer would do.
const EVENT_QUEUE: usize = 16;

impl ReaderHandle {
    pub fn events(&mut self) -> &mut mpsc::Receiver<ReaderEvent> {
        &mut self.events
    }

    /// Queues a command for the reader. A command given while no reader is connected is
    /// dropped (the kiosk has had `Disconnected`).
    pub fn command(&self, c: ReaderCommand) {
        if self.control.send(Control::Command(c)).is_err() {
            tracing::warn!(command = ?c, "reader command dropped: reader thread has ended");
        }
    }

    /// Stops the reader thread and waits for it: at most one serial read timeout and one
    /// frame's write, some tens of milliseconds. Call it at shutdown or off the async
    /// threads.
    pub fn stop(mut self) {
        self.ask_to_stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("reader thread panicked");
        }
    }

    fn ask_to_stop(&mut self) {
        // Closing the receiver first frees a thread blocked handing over an event.
        self.events.close();
        let _ = self.control.send(Control::Stop);
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        self.ask_to_stop();
    }
}

/// Runs `reader` on a thread of its own and returns the kiosk's handle to it.
///
/// # Panics
///
/// When the operating system cannot create a thread, which leaves the kiosk unable to
/// run at all.
pub fn start(reader: impl CardReader) -> ReaderHandle {
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (control_tx, control_rx) = std_mpsc::channel();
    let link = ReaderLink {
        events: events_tx,
        control: control_rx,
        stopping: false,
    };
    let reader: Box<dyn CardReader> = Box::new(reader);
    let thread = std::thread::Builder::new()
        .name("card-reader".into())
        .spawn(move || reader.run(link))
        .expect("the OS refused to create the card reader thread");
    ReaderHandle {
        events: events_rx,
        control: control_tx,
        thread: Some(thread),
    }
}
