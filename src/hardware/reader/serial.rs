//! [`SerialReader`]: the real card reader, the vendor protocol over a serial line
//! (`/dev/ttyACM*`, `/dev/ttyUSB*`, or the simulator's pseudo-terminal).
//!
//! It owns the line: opening the port (8N1, no flow control), the handshake (GET_INFO,
//! then auto-read on), one outstanding command at a time with repeats under the same SEQ,
//! ACKs for every CARD_DATA and READ_ERROR, delivering a resent event (or a resent
//! READ_CARD answer) once, health checks (PING when idle, GET_INFO every minute and after
//! a SAM error, a changed INFO reported again), and reopening with capped backoff
//! whenever the port goes away. Frame bytes come from
//! `protocol::reader`; what the events mean is the flow's business.
//!
//! Logs name the device and the protocol, never a card field.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits, TTYPort};

use super::{CardReader, ReaderCommand, ReaderEvent, ReaderLink, Signal};
use crate::protocol::reader::{
    self as proto, Decoder, Frame, ReadErrorCode, ReaderInfo, cmd, parse_card_data,
};

/// How long one read waits for bytes: short, so commands and timers are served promptly.
const READ_POLL: Duration = Duration::from_millis(10);
/// Reconnect backoff: first wait and cap. The cap keeps a replugged reader found within a
/// few seconds without spinning on a port that is gone for good.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often an idle line is checked with PING. An RS-232 reader that loses power gives
/// no I/O error, only silence; this is how the kiosk notices.
const IDLE_PING: Duration = Duration::from_secs(5);
/// A frame that stops arriving for this long was noise that looked like a start: see
/// `Decoder::resync`. Far above any gap inside a real frame, even over USB.
const QUIET_LINE: Duration = Duration::from_millis(100);
/// Sends of one command before the reader is taken for silent. READ_CARD gets fewer:
/// each try may take 3 s and an applicant is waiting.
const ATTEMPTS: u32 = 4;
const READ_CARD_ATTEMPTS: u32 = 2;
/// Reader event (SEQ, CMD) pairs remembered to recognise a resend: the reader resends for
/// 1.5 s, during which only a handful of other events can come.
const SEEN_EVENTS: usize = 16;
/// How long a READ_CARD answer is remembered to recognise its resends: the reader's whole
/// resend window (three more copies 500 ms apart) and some slack for a slow line.
const REPLY_RESEND_WINDOW: Duration =
    Duration::from_millis(proto::EVENT_RESEND_MS * (proto::EVENT_RESENDS as u64 + 1));
/// How often a connected, idle reader is asked for INFO again instead of PINGed: a SAM
/// taken out or locked shows on the maintenance side within this time.
const INFO_REFRESH: Duration = Duration::from_secs(60);

/// The card reader on a serial line. Implements [`CardReader`]; see the module docs.
#[derive(Debug, Clone)]
pub struct SerialReader {
    path: PathBuf,
    baud: u32,
}

impl SerialReader {
    /// `path` is usually the udev link (`/dev/apm-reader`), so a replug that renumbers
    /// the ttyACM device is still found. `baud` must match the reader's setting.
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> SerialReader {
        SerialReader {
            path: path.into(),
            baud,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }
}

/// Why the line to the reader is down. Its Display is the `reason` of
/// `ReaderEvent::Disconnected`: the device and the likely fix, for the technician.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "no reader at {path}: check the reader's USB cable and the udev rule that makes the link"
    )]
    NotFound { path: String },
    #[error(
        "permission denied on {path}: add the kiosk user to the dialout group or install the udev rule"
    )]
    PermissionDenied { path: String },
    #[error(
        "{path} is in use by another program (ModemManager, a second kiosk instance, a terminal?): stop it"
    )]
    Busy { path: String },
    #[error(
        "cannot open {path} at {baud} baud ({detail}): check the device and the configured baud rate"
    )]
    Open {
        path: String,
        baud: u32,
        detail: String,
    },
    #[error("reader on {path} went away ({detail}): it was unplugged or its cable is loose")]
    Lost { path: String, detail: String },
    #[error(
        "reader on {path} does not answer at {baud} baud: check its baud rate setting, cable and power"
    )]
    Silent { path: String, baud: u32 },
}

impl CardReader for SerialReader {
    fn run(self: Box<Self>, mut link: ReaderLink) {
        let mut backoff = BACKOFF_MIN;
        // The reason last reported, so a port that stays absent is reported once, not on
        // every retry; a new reason (unplugged, then permission denied) is reported again.
        let mut reported: Option<String> = None;
        loop {
            let error = match open(&self.path, self.baud) {
                Ok(port) => {
                    let mut session = Session::new(port, &self.path, self.baud);
                    let end = session.run(&mut link);
                    let stats = session.decoder.stats();
                    tracing::debug!(
                        frames = stats.frames,
                        bad_frames = stats.bad_frames,
                        dropped_bytes = stats.dropped_bytes,
                        "reader line statistics"
                    );
                    if session.connected {
                        reported = None;
                        backoff = BACKOFF_MIN;
                    }
                    match end {
                        Ok(()) => return,
                        Err(error) => error,
                    }
                }
                Err(error) => error,
            };
            let reason = error.to_string();
            if reported.as_deref() != Some(reason.as_str()) {
                tracing::warn!(%reason, "card reader disconnected");
                if !link.emit(ReaderEvent::Disconnected {
                    reason: reason.clone(),
                }) {
                    return;
                }
                reported = Some(reason);
            } else {
                tracing::debug!(%reason, retry_in = ?backoff, "card reader still unavailable");
            }
            if !link.pause(backoff) {
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

fn open(path: &Path, baud: u32) -> Result<TTYPort, LinkError> {
    let shown = path.display().to_string();
    let port = serialport::new(path.to_string_lossy(), baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .timeout(READ_POLL)
        .open_native()
        .map_err(|e| match e.kind() {
            serialport::ErrorKind::Io(io::ErrorKind::NotFound) => {
                LinkError::NotFound { path: shown }
            }
            serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
                LinkError::PermissionDenied { path: shown }
            }
            serialport::ErrorKind::NoDevice => LinkError::Busy { path: shown },
            _ => LinkError::Open {
                path: shown,
                baud,
                detail: e.description,
            },
        })?;
    // Bytes from before this open belong to a host that is gone.
    if let Err(e) = port.clear(ClearBuffer::Input) {
        tracing::debug!(error = %e, "could not discard stale reader input");
    }
    Ok(port)
}

/// What the host asks of the reader, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    GetInfo,
    AutoReadOn,
    Ping,
    Signal(Signal),
    ReadCard,
}

impl Request {
    fn frame(self, seq: u8) -> Frame {
        let (command, payload) = match self {
            Request::GetInfo => (cmd::GET_INFO, vec![]),
            Request::AutoReadOn => (cmd::SET_AUTO_READ, vec![1]),
            Request::Ping => (cmd::PING, vec![]),
            Request::Signal(signal) => (
                cmd::SIGNAL,
                vec![match signal {
                    Signal::BeepOk => proto::signal::BEEP_OK,
                    Signal::BeepError => proto::signal::BEEP_ERROR,
                    Signal::LedOff => proto::signal::LED_OFF,
                }],
            ),
            Request::ReadCard => (cmd::READ_CARD, vec![]),
        };
        Frame {
            seq,
            cmd: command,
            payload,
        }
    }

    fn timeout(self) -> Duration {
        Duration::from_millis(match self {
            Request::ReadCard => proto::READ_CARD_TIMEOUT_MS,
            _ => proto::REPLY_TIMEOUT_MS,
        })
    }

    fn attempts(self) -> u32 {
        match self {
            Request::ReadCard => READ_CARD_ATTEMPTS,
            _ => ATTEMPTS,
        }
    }

    /// Whether `frame_cmd` answers this request.
    fn answered_by(self, frame_cmd: u8) -> bool {
        match self {
            Request::GetInfo => frame_cmd == cmd::INFO,
            Request::Ping => frame_cmd == cmd::PONG,
            Request::AutoReadOn | Request::Signal(_) => frame_cmd == cmd::ACK,
            Request::ReadCard => frame_cmd == cmd::CARD_DATA || frame_cmd == cmd::READ_ERROR,
        }
    }
}

/// The command on the line, waiting for its answer.
struct Pending {
    request: Request,
    /// Kept whole so a repeat goes out byte for byte the same, SEQ included.
    bytes: Vec<u8>,
    seq: u8,
    sent_at: Instant,
    sends: u32,
}

/// One open port, from the handshake until it fails or the kiosk stops.
struct Session<'a> {
    port: TTYPort,
    path: &'a Path,
    baud: u32,
    decoder: Decoder,
    next_seq: u8,
    pending: Option<Pending>,
    queue: VecDeque<Request>,
    /// INFO's answer, held until auto-read is on and the reader can be announced.
    info: Option<ReaderInfo>,
    connected: bool,
    /// What the kiosk was last told in `Connected`, so a changed INFO is told again.
    announced: Option<ReaderInfo>,
    /// When INFO was last asked for.
    last_info: Instant,
    seen_events: VecDeque<(u8, u8)>,
    /// The last READ_CARD answer acted on, and when. Its SEQ is the host's, not the
    /// reader's, so it cannot share `seen_events`: a later reader event that happens to
    /// carry the same number would be taken for a resend and lost. A resend is the same
    /// frame byte for byte, which a new event almost never is.
    last_reply: Option<(Frame, Instant)>,
    /// When a byte last came: quiet-line resync, and no repeat while a reply is arriving.
    last_rx: Instant,
    /// When anything last happened on the line, for the idle PING.
    last_activity: Instant,
}

type SessionResult = Result<(), LinkError>;

impl<'a> Session<'a> {
    fn new(port: TTYPort, path: &'a Path, baud: u32) -> Session<'a> {
        let now = Instant::now();
        Session {
            port,
            path,
            baud,
            decoder: Decoder::new(),
            next_seq: 0,
            pending: None,
            queue: VecDeque::from([Request::GetInfo, Request::AutoReadOn]),
            info: None,
            connected: false,
            announced: None,
            last_info: now,
            seen_events: VecDeque::with_capacity(SEEN_EVENTS),
            last_reply: None,
            last_rx: now,
            last_activity: now,
        }
    }

    /// Runs until the kiosk stops (`Ok`) or the line fails (`Err`, the reason).
    fn run(&mut self, link: &mut ReaderLink) -> SessionResult {
        let mut buf = [0u8; 1024];
        loop {
            while let Some(command) = link.next_command(Duration::ZERO) {
                self.queue.push_back(match command {
                    ReaderCommand::Signal(signal) => Request::Signal(signal),
                    ReaderCommand::ReadCard => Request::ReadCard,
                });
            }
            if link.is_stopping() {
                return Ok(());
            }
            if self.pending.is_none()
                && let Some(request) = self.queue.pop_front()
            {
                self.send_new(request)?;
            }

            match self.port.read(&mut buf) {
                Ok(0) => return Err(self.lost("end of file")),
                Ok(n) => {
                    self.decoder.push(&buf[..n]);
                    self.last_rx = Instant::now();
                    self.last_activity = self.last_rx;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lost(&e.to_string())),
            }
            self.drain_frames(link)?;
            if self.decoder.pending() > 0 && self.last_rx.elapsed() > QUIET_LINE {
                // Nothing held now can still be completed, so every false start in it is
                // given up at once: noise with many STX bytes would otherwise cost one
                // poll per false start while real frames wait behind them, long enough
                // for the reader to resend what the kiosk has not yet ACKed.
                let mut given_up = 0u32;
                while self.decoder.resync() {
                    given_up += 1;
                    self.drain_frames(link)?;
                    if link.is_stopping() {
                        return Ok(());
                    }
                }
                tracing::debug!(
                    false_starts = given_up,
                    "reader line went quiet mid-frame; resynchronised"
                );
            }
            if link.is_stopping() {
                return Ok(());
            }
            self.check_timeout(link)?;
            if self.connected && self.pending.is_none() && self.queue.is_empty() {
                if self.last_info.elapsed() > INFO_REFRESH {
                    self.queue.push_back(Request::GetInfo);
                } else if self.last_activity.elapsed() > IDLE_PING {
                    self.queue.push_back(Request::Ping);
                }
            }
        }
    }

    fn drain_frames(&mut self, link: &mut ReaderLink) -> SessionResult {
        while let Some(frame) = self.decoder.next_frame() {
            self.handle(frame, link)?;
            if link.is_stopping() {
                break;
            }
        }
        Ok(())
    }

    fn lost(&self, detail: &str) -> LinkError {
        LinkError::Lost {
            path: self.path.display().to_string(),
            detail: detail.to_owned(),
        }
    }

    fn silent(&self) -> LinkError {
        LinkError::Silent {
            path: self.path.display().to_string(),
            baud: self.baud,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> SessionResult {
        self.port
            .write_all(bytes)
            .and_then(|()| self.port.flush())
            .map_err(|e| self.lost(&e.to_string()))?;
        self.last_activity = Instant::now();
        Ok(())
    }

    fn send_new(&mut self, request: Request) -> SessionResult {
        if request == Request::GetInfo {
            self.last_info = Instant::now();
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let bytes = proto::encode(&request.frame(seq));
        self.write(&bytes)?;
        self.pending = Some(Pending {
            request,
            bytes,
            seq,
            sent_at: Instant::now(),
            sends: 1,
        });
        Ok(())
    }

    /// Repeats the pending command under the same SEQ, or gives up on the reader when it
    /// has had all its tries.
    fn repeat(&mut self, link: &mut ReaderLink) -> SessionResult {
        let Some(mut pending) = self.pending.take() else {
            return Ok(());
        };
        if pending.sends >= pending.request.attempts() {
            tracing::warn!(request = ?pending.request, sends = pending.sends, "card reader gave no answer");
            if pending.request == Request::ReadCard {
                // The flow is waiting on this read: end it before reporting the line.
                link.emit(ReaderEvent::ReadFailed(ReadErrorCode::TimedOut));
            }
            return Err(self.silent());
        }
        tracing::debug!(request = ?pending.request, seq = pending.seq, "repeating command");
        self.write(&pending.bytes)?;
        pending.sends += 1;
        pending.sent_at = Instant::now();
        self.pending = Some(pending);
        Ok(())
    }

    fn check_timeout(&mut self, link: &mut ReaderLink) -> SessionResult {
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        // The spec's time is to the start of the answer; at 9600 baud a long answer takes
        // longer than that to arrive, so bytes still coming hold the repeat back.
        let since = pending.sent_at.max(self.last_rx);
        if since.elapsed() > pending.request.timeout() {
            self.repeat(link)?;
        }
        Ok(())
    }

    fn ack(&mut self, seq: u8) -> SessionResult {
        self.write(&proto::encode(&Frame::bare(seq, cmd::ACK)))
    }

    /// Takes the pending command off the line if `frame` answers it.
    fn answers_pending(&mut self, frame: &Frame) -> Option<Request> {
        let pending = self.pending.as_ref()?;
        if pending.seq == frame.seq && pending.request.answered_by(frame.cmd) {
            self.pending.take().map(|p| p.request)
        } else {
            None
        }
    }

    /// Whether this reader event was seen already (a resend); remembers it if not.
    fn repeated_event(&mut self, frame: &Frame) -> bool {
        let key = (frame.seq, frame.cmd);
        if self.seen_events.contains(&key) {
            return true;
        }
        if self.seen_events.len() == SEEN_EVENTS {
            self.seen_events.pop_front();
        }
        self.seen_events.push_back(key);
        false
    }

    fn handle(&mut self, frame: Frame, link: &mut ReaderLink) -> SessionResult {
        match frame.cmd {
            cmd::ACK | cmd::PONG => {
                if let Some(request) = self.answers_pending(&frame)
                    && request == Request::AutoReadOn
                    && !self.connected
                {
                    let info = self.info.take().unwrap_or(ReaderInfo::parse(b""));
                    self.announced = Some(info.clone());
                    tracing::info!(
                        path = %self.path.display(),
                        baud = self.baud,
                        vendor = info.vendor.as_deref().unwrap_or("?"),
                        model = info.model.as_deref().unwrap_or("?"),
                        firmware = info.firmware.as_deref().unwrap_or("?"),
                        sam = ?info.sam,
                        "card reader connected"
                    );
                    self.connected = true;
                    link.emit(ReaderEvent::Connected(info));
                }
            }
            cmd::NAK => {
                if self.pending.as_ref().is_some_and(|p| p.seq == frame.seq) {
                    tracing::debug!(seq = frame.seq, "reader asked for a resend");
                    self.repeat(link)?;
                }
            }
            cmd::INFO => {
                if self.answers_pending(&frame).is_some() {
                    let info = ReaderInfo::parse(&frame.payload);
                    if !self.connected {
                        self.info = Some(info);
                    } else if self.announced.as_ref() != Some(&info) {
                        // A SAM taken out or fitted, or new firmware: the maintenance
                        // side learns it the way it learnt the first INFO.
                        tracing::info!(
                            firmware = info.firmware.as_deref().unwrap_or("?"),
                            sam = ?info.sam,
                            "card reader info changed"
                        );
                        self.announced = Some(info.clone());
                        link.emit(ReaderEvent::Connected(info));
                    }
                }
            }
            cmd::CARD_DATA | cmd::READ_ERROR => {
                // Every copy is ACKed, so the reader stops resending even if an earlier
                // ACK was lost; only the first is acted on.
                self.ack(frame.seq)?;
                let fresh =
                    if self.answers_pending(&frame).is_some() {
                        self.last_reply = Some((frame.clone(), Instant::now()));
                        true
                    } else if self.last_reply.as_ref().is_some_and(|(last, at)| {
                        *last == frame && at.elapsed() < REPLY_RESEND_WINDOW
                    }) {
                        false
                    } else {
                        !self.repeated_event(&frame)
                    };
                if fresh {
                    let event = card_event(&frame);
                    if event == ReaderEvent::ReadFailed(ReadErrorCode::SamUnavailable)
                        && !self.queue.contains(&Request::GetInfo)
                    {
                        // The SAM has gone: INFO says so to the maintenance side now,
                        // not at the next refresh.
                        self.queue.push_back(Request::GetInfo);
                    }
                    link.emit(event);
                } else {
                    tracing::debug!(seq = frame.seq, "repeated reader event acknowledged again");
                }
            }
            cmd::CARD_PRESENT => {
                if !self.repeated_event(&frame) {
                    link.emit(ReaderEvent::CardPresent);
                }
            }
            cmd::CARD_REMOVED => {
                if !self.repeated_event(&frame) {
                    link.emit(ReaderEvent::CardRemoved);
                }
            }
            other => {
                tracing::debug!(
                    cmd = other,
                    seq = frame.seq,
                    "unexpected frame from reader ignored"
                );
            }
        }
        Ok(())
    }
}

fn card_event(frame: &Frame) -> ReaderEvent {
    if frame.cmd == cmd::READ_ERROR {
        let code = ReadErrorCode::from_byte(frame.payload.first().copied().unwrap_or(0));
        tracing::info!(%code, "card read failed");
        return ReaderEvent::ReadFailed(code);
    }
    match parse_card_data(&frame.payload) {
        Ok(card) => {
            tracing::info!("card read");
            ReaderEvent::CardRead(card)
        }
        Err(e) => {
            // The frame arrived whole (its CRC holds) but says nothing usable: the
            // applicant is asked to lay the card again, as for an unknown error.
            tracing::warn!(error = %e, "reader sent unusable card data");
            ReaderEvent::ReadFailed(ReadErrorCode::Unknown(0))
        }
    }
}
