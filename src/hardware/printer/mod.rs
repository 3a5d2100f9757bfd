//! The ticket printer as the rest of the kiosk sees it: the [`TicketPrinter`]
//! capability, its [`PrinterState`] in the heartbeat's words, and [`open`], which picks
//! the transport from the device path: raw TCP (`tcp://HOST:9100`), a USB printer-class
//! device (`/dev/usb/lp*`), or a serial tty. Always straight to the device, never
//! through a spooler: the kiosk must know whether this ticket came out now.
//!
//! A ticket counts as printed only once the printer says so ([`TicketPrinter::send_job`]):
//! a TM-T88 answers `DLE EOT` the moment it arrives, while its head still has a second of
//! ticket to print, so a status right after the job proves nothing. After the job the
//! kiosk asks what the printer's profile allows (`PrinterProfile::confirmation`): the
//! process ID (`GS ( H`), answered only once everything before it is printed; or, on a
//! printer without it, the status once the head time the job needs has passed, with
//! automatic status back reporting a roll running out as it happens where the printer
//! has it. While it waits it asks the status every [`POLL_WHILE_PRINTING`]: a paper end,
//! an open cover or an error ends the wait at once, and the buffer is cleared
//! ([`TicketPrinter::clear_buffer`], `DLE DC4` fn 8 where the printer has it) so the
//! job's tail never prints when the paper is back.
//!
//! Blocking, with time-outs: callers run it on a thread of its own. The job's bytes and
//! the meaning of status bytes come from `crate::protocol::escpos`; the simulated
//! printer, its ESC/POS interpreter and rasteriser are the `apm-kiosk-sim` crate's.

pub mod worker;

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits, TTYPort};

use crate::protocol::escpos::{
    AUTO_STATUS_ON, BUFFER_CLEAR, Incoming, Job, PrinterStatus, ProcessId, StatusQuery,
    apply_reply, lp_port_status, next_incoming, parse_auto_status,
};
use crate::protocol::printer_profile::{Confirmation, PrinterProfile, wire_time};

/// How the printer is reached: `printer.path` in the configuration, which checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterPath {
    /// A character device: a serial tty or a USB line printer (`/dev/usb/lp0`), told
    /// apart by [`open`].
    Device(PathBuf),
    /// A network printer's raw port (usually 9100).
    Tcp { host: String, port: u16 },
}

impl fmt::Display for PrinterPath {
    /// As the configuration writes it: the device path, or `tcp://HOST:PORT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterPath::Device(path) => write!(f, "{}", path.display()),
            PrinterPath::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            PrinterPath::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// How long a status query may go unanswered before the printer counts as offline.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one write may block: a 2 KB ticket takes ~2 s at 9600 baud, and the kernel
/// accepts it in chunks, so this bounds a stall, not the job.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a network printer to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the status is asked while the head prints a job: a roll running out is
/// seen within this, and the buffer cleared.
pub const POLL_WHILE_PRINTING: Duration = Duration::from_millis(200);
/// Without a process ID, the head time the profile computes is stretched by a quarter
/// and this added, for the motor's start and a printer slower than its data sheet.
const HEAD_TIME_MARGIN: Duration = Duration::from_millis(300);
/// With a process ID, how long past twice the wire and head time its answer may take
/// before the job counts as not confirmed.
const CONFIRM_GRACE: Duration = Duration::from_secs(2);

/// The printer's condition, in the words the heartbeat reports ([`PrinterState::code`]),
/// with what a technician should do about it ([`PrinterState::advice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrinterState {
    Ok,
    /// Prints, but the roll needs changing soon.
    PaperNearEnd,
    PaperOut,
    CoverOpen,
    /// No answer within [`STATUS_TIMEOUT`], or the printer says it is offline.
    Offline,
    /// Cutter jam, overheated head, mechanical error.
    Error,
}

impl PrinterState {
    pub const ALL: [PrinterState; 6] = [
        PrinterState::Ok,
        PrinterState::PaperNearEnd,
        PrinterState::PaperOut,
        PrinterState::CoverOpen,
        PrinterState::Offline,
        PrinterState::Error,
    ];

    /// Whether a ticket sent now would come out.
    pub fn can_print(self) -> bool {
        matches!(self, PrinterState::Ok | PrinterState::PaperNearEnd)
    }

    /// The state as the heartbeat, the `status` command and the maintenance report
    /// write it.
    pub fn code(self) -> &'static str {
        match self {
            PrinterState::Ok => "ok",
            PrinterState::PaperNearEnd => "paper_near_end",
            PrinterState::PaperOut => "paper_out",
            PrinterState::CoverOpen => "cover_open",
            PrinterState::Offline => "offline",
            PrinterState::Error => "error",
        }
    }

    /// The inverse of [`PrinterState::code`].
    pub fn from_code(code: &str) -> Option<PrinterState> {
        PrinterState::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What the technician should do, in the words of the log line that reports the
    /// change and of the maintenance report's problem list; `None` for a printer that
    /// is fine. Tickets that could not be printed come out by themselves once the
    /// printer is ready, so the advice never asks for a reprint.
    pub fn advice(self) -> Option<&'static str> {
        match self {
            PrinterState::Ok => None,
            PrinterState::PaperNearEnd => Some("printer paper near end: change the roll soon"),
            PrinterState::PaperOut => Some("printer out of paper: load a new roll"),
            PrinterState::CoverOpen => Some("printer cover open: close it"),
            PrinterState::Offline => Some("printer offline: check its power and cable"),
            PrinterState::Error => {
                Some("printer fault (cutter jam or head): open it and clear the fault")
            }
        }
    }
}

impl Serialize for PrinterState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for PrinterState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        PrinterState::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("no printer state {code:?}")))
    }
}

impl From<PrinterState> for crate::protocol::central::PrinterState {
    /// The printer's state in the heartbeat's words.
    fn from(state: PrinterState) -> Self {
        use crate::protocol::central::PrinterState as W;
        match state {
            PrinterState::Ok => W::Ok,
            PrinterState::PaperNearEnd => W::PaperNearEnd,
            PrinterState::PaperOut => W::PaperOut,
            PrinterState::CoverOpen => W::CoverOpen,
            PrinterState::Offline => W::Offline,
            PrinterState::Error => W::Error,
        }
    }
}

impl From<PrinterStatus> for PrinterState {
    /// The most specific cause first: a printer with its cover open is also offline,
    /// and the technician needs to hear "cover open".
    fn from(s: PrinterStatus) -> PrinterState {
        if s.cover_open {
            PrinterState::CoverOpen
        } else if s.paper_out {
            PrinterState::PaperOut
        } else if s.error {
            PrinterState::Error
        } else if !s.online {
            PrinterState::Offline
        } else if s.paper_near_end {
            PrinterState::PaperNearEnd
        } else {
            PrinterState::Ok
        }
    }
}

/// What went wrong talking to the printer, with the path and what to check. Carries no
/// ticket content.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("cannot open printer {path}: {source}; {hint}")]
    Open {
        path: String,
        source: io::Error,
        hint: &'static str,
    },
    #[error("printer path {path:?} is not usable: {hint}")]
    BadPath { path: String, hint: &'static str },
    #[error(
        "writing to printer {path} failed: {source}; check the cable and the printer's power, \
         then restart the kiosk service"
    )]
    Write { path: String, source: io::Error },
    #[error(
        "reading status from printer {path} failed: {source}; check the cable and that the \
         printer is ESC/POS compatible"
    )]
    Read { path: String, source: io::Error },
    #[error(
        "printer {path} answered a status query with {byte:#04x}, not a status byte; check the \
         baud rate (printer self-test page) and that it speaks ESC/POS"
    )]
    BadReply { path: String, byte: u8 },
    #[error(
        "printer {path} did not confirm the ticket within {waited:?} although its status is \
         fine; the ticket is kept for reprint. If this printer does not answer GS ( H, set \
         printer.model to its model or to generic-80 / generic-58"
    )]
    Unconfirmed { path: String, waited: Duration },
}

/// A ticket printer the kiosk can print on and ask how it is.
pub trait TicketPrinter: Send {
    /// Asks `DLE EOT 1..4`; no answer within [`STATUS_TIMEOUT`] is `Offline`.
    fn status(&mut self) -> Result<PrinterState, PrinterError>;

    /// Sends the whole job to a printer that a [`TicketPrinter::status`] just before
    /// found able to print, and waits until the printer confirms it has printed it (see
    /// the module): `Ok` or `PaperNearEnd` back means the ticket came out in full; a
    /// state that cannot print means the job stopped on it (its tail already cleared
    /// where the printer can); [`PrinterError::Unconfirmed`] that the printer never
    /// said. For callers that must do something between the check and the job (the
    /// kiosk counts the attempt, so that a job cut short makes the next one a COPY);
    /// others call [`TicketPrinter::print`].
    fn send_job(&mut self, job: &Job) -> Result<PrinterState, PrinterError>;

    /// Empties the printer's buffers (`DLE DC4` fn 8), so that what is left of a job
    /// cut short never prints: before any reprint. `false` where the printer cannot
    /// (its profile says so) or did not answer.
    fn clear_buffer(&mut self) -> Result<bool, PrinterError> {
        Ok(false)
    }

    /// Checks the status, then sends the whole job and waits for its confirmation. A
    /// printer that cannot print is not sent the job at all (it would come out later,
    /// for someone else), and its state is returned; so `Ok` or `PaperNearEnd` back
    /// means the ticket was printed in full.
    fn print(&mut self, job: &Job) -> Result<PrinterState, PrinterError> {
        let before = self.status()?;
        if !before.can_print() {
            return Ok(before);
        }
        self.send_job(job)
    }
}

/// Opens the printer, each time the printer worker needs it anew: at start, and after an
/// I/O error (the cable may have been pulled and put back). [`opener`] on a kiosk; a
/// printer in memory in a test.
pub type PrinterOpener = Box<dyn FnMut() -> Result<Box<dyn TicketPrinter>, PrinterError> + Send>;

/// [`open`] at `path` and `baud` for the printer of `profile`, each time it is called.
pub fn opener(path: PrinterPath, baud: u32, profile: PrinterProfile) -> PrinterOpener {
    Box::new(move || open(&path, baud, profile))
}

/// Opens the printer of `profile` at `path`: a network printer over raw TCP, a USB
/// printer-class device (`/dev/usb/lp*`), or any other device as a serial tty at
/// `baud`, 8N1, no flow control.
pub fn open(
    path: &PrinterPath,
    baud: u32,
    profile: PrinterProfile,
) -> Result<Box<dyn TicketPrinter>, PrinterError> {
    let shown = path.to_string();
    let (link, line_baud): (Box<dyn Link>, u32) = match path {
        PrinterPath::Tcp { host, port } => (Box::new(TcpLink::connect(&shown, host, *port)?), 0),
        PrinterPath::Device(device) if is_usb_printer(device) => {
            (Box::new(LpLink::open(device, &shown)?), 0)
        }
        PrinterPath::Device(device) => (Box::new(SerialLink::open(device, &shown, baud)?), baud),
    };
    Ok(Box::new(EscposPrinter {
        path: shown,
        link,
        received: VecDeque::new(),
        profile,
        baud: line_baud,
        jobs: 0,
        processed: Vec::new(),
        pushed: None,
    }))
}

/// A node of the kernel's USB printer class (`usblp`): `/dev/usb/lp0`, `/dev/usb/lp1`...
fn is_usb_printer(device: &Path) -> bool {
    device.parent() == Some(Path::new("/dev/usb"))
        && device
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lp"))
}

/// A byte pipe to the printer: the part that differs between transports.
trait Link: Send {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Reads what has arrived, waiting at most `timeout`; `Ok(0)` on time-out.
    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Drops bytes that arrived unasked (automatic status, late replies).
    fn discard_input(&mut self) -> io::Result<()>;
    /// The status the link itself knows of the printer, for a printer that does not
    /// answer `DLE EOT` on it: the USB printer class's port status. `None` elsewhere.
    fn port_status(&mut self) -> Option<PrinterStatus> {
        None
    }
}

/// Any ESC/POS printer over any [`Link`].
struct EscposPrinter {
    path: String,
    link: Box<dyn Link>,
    /// Bytes read but not yet consumed: an ASB block may arrive in pieces.
    received: VecDeque<u8>,
    profile: PrinterProfile,
    /// The serial line's rate, for the job's wire time; 0 on USB and the network.
    baud: u32,
    /// Jobs sent since the printer was opened: the next process ID.
    jobs: u32,
    /// Process IDs the printer has answered since the job was sent.
    processed: Vec<ProcessId>,
    /// The last automatic status back block since the job was sent.
    pushed: Option<PrinterStatus>,
}

impl EscposPrinter {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        self.link.send(bytes).map_err(|source| PrinterError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Reads what arrives for at most `timeout` (or until `done` says enough), and
    /// sorts it: process IDs and automatic status are kept, the first status reply is
    /// returned; flow control and noise are skipped.
    fn listen(
        &mut self,
        timeout: Duration,
        done: impl Fn(&EscposPrinter) -> bool,
    ) -> Result<Option<u8>, PrinterError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (front, back) = self.received.as_slices();
            let pending: Vec<u8> = front.iter().chain(back).copied().collect();
            if let Some((incoming, used)) = next_incoming(&pending) {
                self.received.drain(..used);
                match incoming {
                    Incoming::StatusReply(byte) => return Ok(Some(byte)),
                    Incoming::Processed(id) => self.processed.push(id),
                    Incoming::AutoStatus(block) => self.pushed = parse_auto_status(block).ok(),
                    Incoming::BufferCleared | Incoming::FlowControl(_) | Incoming::Other(_) => {}
                }
                continue;
            }
            let now = Instant::now();
            if now >= deadline || done(self) {
                return Ok(None);
            }
            let mut buf = [0u8; 64];
            let n = self
                .link
                .receive(&mut buf, deadline - now)
                .map_err(|source| PrinterError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            self.received.extend(&buf[..n]);
        }
    }

    /// The reply to one query, `None` if none came in time.
    fn query(&mut self, query: StatusQuery) -> Result<Option<u8>, PrinterError> {
        self.send(&query.bytes())?;
        self.listen(STATUS_TIMEOUT, |_| false)
    }

    /// `DLE EOT 1..4`, keeping what else arrives (a process ID answered meanwhile).
    fn ask_status(&mut self) -> Result<PrinterState, PrinterError> {
        let mut status = PrinterStatus::READY;
        for query in StatusQuery::ALL {
            let Some(byte) = self.query(query)? else {
                return Ok(self
                    .link
                    .port_status()
                    .map_or(PrinterState::Offline, PrinterState::from));
            };
            apply_reply(&mut status, query, byte).map_err(|_| PrinterError::BadReply {
                path: self.path.clone(),
                byte,
            })?;
        }
        Ok(status.into())
    }

    fn discard(&mut self) -> Result<(), PrinterError> {
        self.received.clear();
        self.link
            .discard_input()
            .map_err(|source| PrinterError::Read {
                path: self.path.clone(),
                source,
            })
    }

    /// Waits until the job is confirmed (`id` answered, or, without one, the head time
    /// passed at `head_done`) or stopped (a state that cannot print, asked every
    /// [`POLL_WHILE_PRINTING`] or pushed by automatic status back). `give_up` bounds
    /// the wait for a process ID.
    fn await_job(
        &mut self,
        id: Option<ProcessId>,
        head_done: Instant,
        give_up: Instant,
        started: Instant,
    ) -> Result<PrinterState, PrinterError> {
        loop {
            let state = self.ask_status()?;
            let pushed = self.pushed.take().map(PrinterState::from);
            if let Some(stopped) = [Some(state), pushed]
                .into_iter()
                .flatten()
                .find(|s| !s.can_print())
            {
                self.clear_buffer()?;
                return Ok(stopped);
            }
            let now = Instant::now();
            let confirmed = match id {
                Some(id) => self.processed.contains(&id),
                None => now >= head_done,
            };
            if confirmed {
                return Ok(state);
            }
            if now >= give_up {
                return Err(PrinterError::Unconfirmed {
                    path: self.path.clone(),
                    waited: now - started,
                });
            }
            let wait = POLL_WHILE_PRINTING.min(match id {
                Some(_) => give_up - now,
                None => head_done - now,
            });
            self.listen(wait, |p| id.is_some_and(|id| p.processed.contains(&id)))?;
        }
    }
}

impl TicketPrinter for EscposPrinter {
    fn status(&mut self) -> Result<PrinterState, PrinterError> {
        self.discard()?;
        self.ask_status()
    }

    fn send_job(&mut self, job: &Job) -> Result<PrinterState, PrinterError> {
        self.discard()?;
        self.processed.clear();
        self.pushed = None;
        self.jobs = self.jobs.wrapping_add(1);
        let confirmation = self.profile.confirmation();
        let id = (confirmation == Confirmation::ProcessId).then(|| ProcessId::of(self.jobs));
        let mut bytes = Vec::with_capacity(job.len() + 16);
        // Automatic status back goes on after the job's `ESC @`, which may reset it.
        let init = if job.starts_with(&[0x1b, b'@']) { 2 } else { 0 };
        bytes.extend_from_slice(&job[..init]);
        if confirmation == Confirmation::AutoStatus {
            bytes.extend_from_slice(&AUTO_STATUS_ON);
        }
        bytes.extend_from_slice(&job[init..]);
        if let Some(id) = id {
            bytes.extend_from_slice(&id.request());
        }
        let started = Instant::now();
        self.send(&bytes)?;
        let wire = wire_time(bytes.len(), self.baud);
        // A status query sent before the job's last byte is through would wait behind
        // it (a pseudo-terminal or a USB adapter may take the bytes at once): nothing is
        // asked before the wire time has passed.
        let on_wire = started + wire;
        let now = Instant::now();
        if now < on_wire {
            self.listen(on_wire - now, |_| false)?;
        }
        let busy = wire + self.profile.head_time(job.length_dots);
        let head_done = started + busy + busy / 4 + HEAD_TIME_MARGIN;
        let give_up = started + busy * 2 + CONFIRM_GRACE;
        self.await_job(id, head_done, give_up, started)
    }

    fn clear_buffer(&mut self) -> Result<bool, PrinterError> {
        if !self.profile.buffer_clear {
            return Ok(false);
        }
        self.send(&BUFFER_CLEAR)?;
        let deadline = Instant::now() + STATUS_TIMEOUT;
        // The answer is `37 25 00`; `listen` passes over it, so look for it in what
        // arrives before the deadline.
        while Instant::now() < deadline {
            let (front, back) = self.received.as_slices();
            let pending: Vec<u8> = front.iter().chain(back).copied().collect();
            if let Some((incoming, used)) = next_incoming(&pending) {
                self.received.drain(..used);
                if incoming == Incoming::BufferCleared {
                    return Ok(true);
                }
                continue;
            }
            let mut buf = [0u8; 16];
            let wait = deadline.saturating_duration_since(Instant::now());
            let n = self
                .link
                .receive(&mut buf, wait)
                .map_err(|source| PrinterError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            self.received.extend(&buf[..n]);
        }
        Ok(false)
    }
}

/// A serial tty (or a USB-serial adapter, or the simulator's pseudo-terminal).
struct SerialLink {
    port: TTYPort,
}

impl SerialLink {
    /// `shown` is `device` as the configuration writes it, for the error.
    fn open(device: &Path, shown: &str, baud: u32) -> Result<SerialLink, PrinterError> {
        if !device.is_absolute() {
            return Err(PrinterError::BadPath {
                path: shown.to_owned(),
                hint: "use tcp://HOST:9100, /dev/usb/lpN, or the absolute path of a serial \
                       device such as /dev/ttyUSB0 or a udev symlink",
            });
        }
        let port = serialport::new(device.to_string_lossy(), baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(STATUS_TIMEOUT)
            .open_native()
            .map_err(|e| {
                let source = io::Error::from(e);
                let hint = match source.kind() {
                    io::ErrorKind::NotFound => {
                        "no such device: check the cable, and give the printer a fixed udev \
                         symlink (see hardware/printer/README.md)"
                    }
                    io::ErrorKind::PermissionDenied => "add the kiosk's user to the dialout group",
                    _ => {
                        "the port may be held by another program (ModemManager, a getty); \
                         check with `fuser` and the baud rate in the configuration"
                    }
                };
                PrinterError::Open {
                    path: shown.to_owned(),
                    source,
                    hint,
                }
            })?;
        Ok(SerialLink { port })
    }
}

impl Link for SerialLink {
    /// Returns once the bytes are on the wire (`tcdrain`), so that a status query sent
    /// next is not stuck behind the tail of a job in the kernel's buffer.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.set_timeout(WRITE_TIMEOUT)?;
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port.set_timeout(timeout)?;
        match self.port.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            other => other,
        }
    }

    fn discard_input(&mut self) -> io::Result<()> {
        Ok(self.port.clear(ClearBuffer::Input)?)
    }
}

impl Drop for SerialLink {
    fn drop(&mut self) {
        // A tty keeps the exclusive flag we set for as long as any handle on it stays
        // open (a monitoring tool, a simulator holding its slave): lift it, so that the
        // kiosk's next open, after a restart, is not refused as busy.
        let _ = self.port.set_exclusive(false);
    }
}

/// A network printer's raw port.
struct TcpLink {
    stream: TcpStream,
}

impl TcpLink {
    /// `shown` is the address as the configuration writes it, for the error.
    fn connect(shown: &str, host: &str, port: u16) -> Result<TcpLink, PrinterError> {
        let open_error = |source: io::Error, hint| PrinterError::Open {
            path: shown.to_owned(),
            source,
            hint,
        };
        let addrs = (host, port).to_socket_addrs().map_err(|e| {
            open_error(
                e,
                "write the address as tcp://HOST:PORT, e.g. tcp://192.168.1.50:9100",
            )
        })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for host");
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(TcpLink { stream });
                }
                Err(e) => last = e,
            }
        }
        Err(open_error(
            last,
            "check that the printer is on, its IP address (self-test page) and that port 9100 \
             is reachable from the kiosk",
        ))
    }
}

impl Link for TcpLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        self.stream.write_all(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.stream.read(buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the printer closed the connection",
            )),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            other => other,
        }
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.stream.set_nonblocking(true)?;
        let mut buf = [0u8; 256];
        let result = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        result
    }
}

/// A USB printer-class device (`usblp`). Its reads block until the printer sends
/// something and std offers no time-out on a file, so a thread of its own reads and
/// hands the bytes over a channel that we can wait on with a time-out. The thread ends
/// at the first read error (device gone) or once we are dropped and more bytes come.
struct LpLink {
    file: File,
    incoming: mpsc::Receiver<Vec<u8>>,
    /// Bytes taken off the channel that did not fit the caller's buffer.
    spill: VecDeque<u8>,
}

impl LpLink {
    /// `shown` is `device` as the configuration writes it, for the error.
    fn open(device: &Path, shown: &str) -> Result<LpLink, PrinterError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .map_err(|source| {
                let hint = match source.kind() {
                    io::ErrorKind::NotFound => {
                        "printer not connected or the usblp driver not loaded (`lsmod | grep \
                         usblp`)"
                    }
                    io::ErrorKind::PermissionDenied => "add the kiosk's user to the lp group",
                    _ => "another program (CUPS?) may hold the printer: stop it",
                };
                PrinterError::Open {
                    path: shown.to_owned(),
                    source,
                    hint,
                }
            })?;
        let mut reader = file.try_clone().map_err(|source| PrinterError::Open {
            path: shown.to_owned(),
            source,
            hint: "the device refused a second handle",
        })?;
        let (tx, incoming) = mpsc::channel();
        std::thread::Builder::new()
            .name("printer-usb-read".into())
            .spawn(move || {
                let mut buf = [0u8; 64];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => std::thread::sleep(Duration::from_millis(20)),
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
            })
            .map_err(|source| PrinterError::Open {
                path: shown.to_owned(),
                source,
                hint: "the system could not start a thread",
            })?;
        Ok(LpLink {
            file,
            incoming,
            spill: VecDeque::new(),
        })
    }
}

impl Link for LpLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.flush()
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        if self.spill.is_empty() {
            match self.incoming.recv_timeout(timeout) {
                Ok(bytes) => self.spill.extend(bytes),
                Err(mpsc::RecvTimeoutError::Timeout) => return Ok(0),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the USB printer stopped answering reads (unplugged?)",
                    ));
                }
            }
        }
        let n = buf.len().min(self.spill.len());
        for (slot, byte) in buf.iter_mut().zip(self.spill.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.spill.clear();
        while self.incoming.try_recv().is_ok() {}
        Ok(())
    }

    /// `LPGETSTATUS`: the printer class's port status byte, which `usblp` fetches from
    /// the printer with the class request GET_PORT_STATUS.
    fn port_status(&mut self) -> Option<PrinterStatus> {
        use std::os::fd::AsRawFd as _;
        /// `LPGETSTATUS` of `<linux/lp.h>`.
        const LPGETSTATUS: libc::c_ulong = 0x060b;
        let mut byte: libc::c_int = 0;
        // SAFETY: LPGETSTATUS writes one int through the pointer, which points at
        // `byte`, alive for the call; the descriptor is our open device.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), LPGETSTATUS as _, &mut byte) };
        (rc == 0).then(|| lp_port_status((byte & 0xff) as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_the_most_specific_state() {
        let ready = PrinterStatus::READY;
        let cases = [
            (ready, PrinterState::Ok),
            (
                PrinterStatus {
                    paper_near_end: true,
                    ..ready
                },
                PrinterState::PaperNearEnd,
            ),
            (
                PrinterStatus {
                    online: false,
                    ..ready
                },
                PrinterState::Offline,
            ),
            (
                PrinterStatus {
                    online: false,
                    paper_out: true,
                    paper_near_end: true,
                    ..ready
                },
                PrinterState::PaperOut,
            ),
            (
                PrinterStatus {
                    online: false,
                    cover_open: true,
                    paper_out: true,
                    ..ready
                },
                PrinterState::CoverOpen,
            ),
            (
                PrinterStatus {
                    online: false,
                    error: true,
                    ..ready
                },
                PrinterState::Error,
            ),
        ];
        for (status, want) in cases {
            assert_eq!(PrinterState::from(status), want, "{status:?}");
        }
    }

    #[test]
    fn states_serialise_as_heartbeat_words() {
        let cases = [
            (PrinterState::Ok, "\"ok\""),
            (PrinterState::PaperNearEnd, "\"paper_near_end\""),
            (PrinterState::PaperOut, "\"paper_out\""),
            (PrinterState::CoverOpen, "\"cover_open\""),
            (PrinterState::Offline, "\"offline\""),
            (PrinterState::Error, "\"error\""),
        ];
        for (state, want) in cases {
            assert_eq!(serde_json::to_string(&state).expect("serialises"), want);
        }
        for state in PrinterState::ALL {
            assert_eq!(PrinterState::from_code(state.code()), Some(state));
        }
        assert_eq!(PrinterState::from_code("jammed"), None);
    }

    #[test]
    fn every_state_but_ok_says_what_to_do() {
        for state in PrinterState::ALL {
            let advice = state.advice();
            assert_eq!(advice.is_none(), state == PrinterState::Ok, "{state:?}");
            if let Some(text) = advice {
                assert!(text.starts_with("printer "), "{text}");
                assert!(text.contains(": "), "what, then what to do: {text}");
            }
        }
    }

    #[test]
    fn relative_paths_are_refused_with_a_hint() {
        let Err(err) = open(
            &PrinterPath::Device("ttyUSB0".into()),
            9600,
            PrinterProfile::default(),
        ) else {
            panic!("a relative path must not open");
        };
        assert!(err.to_string().contains("tcp://HOST:9100"), "{err}");
    }

    #[test]
    fn usb_printers_are_told_apart_from_serial_ttys() {
        let cases = [
            ("/dev/usb/lp0", true),
            ("/dev/usb/lp12", true),
            ("/dev/usb/hiddev0", false),
            ("/dev/ttyUSB0", false),
            ("/dev/apm-printer", false),
            ("/dev/usb", false),
        ];
        for (device, usb) in cases {
            assert_eq!(is_usb_printer(Path::new(device)), usb, "{device}");
        }
    }

    #[test]
    fn paths_show_as_the_configuration_writes_them() {
        let cases = [
            (PrinterPath::Device("/dev/usb/lp0".into()), "/dev/usb/lp0"),
            (
                PrinterPath::Tcp {
                    host: "192.168.1.50".into(),
                    port: 9100,
                },
                "tcp://192.168.1.50:9100",
            ),
            (
                PrinterPath::Tcp {
                    host: "fd00::50".into(),
                    port: 9100,
                },
                "tcp://[fd00::50]:9100",
            ),
        ];
        for (path, shown) in cases {
            assert_eq!(path.to_string(), shown);
        }
    }
}
