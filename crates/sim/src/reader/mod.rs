//! The simulated KTP card reader: a device on the far end of a real pseudo-terminal that
//! speaks the vendor protocol exactly, so the kiosk's own [`SerialReader`] runs against it
//! unchanged, in tests, in development and in the headless simulation.
//!
//! It owns the reader's side of the line: answering commands, auto-read events, resending
//! unacknowledged events, and pacing its output at the configured baud rate (a pty has no
//! baud rate of its own, and the kiosk must see real timing). It also plays what a line
//! and a technician do to a reader: noise on the line, lost ACKs, and the reader unplugged
//! (its link vanishes and its pty closes) and plugged back (a new pty behind the same
//! link). Which card to lay and when is the caller's: the [`ReaderSimHandle`], or the
//! `reader-sim` CLI in `cli`.
//!
//! [`RawLine`] is the same pty with no reader behind it, for tests and benchmarks that
//! write the line byte for byte.
//!
//! [`SerialReader`]: super::SerialReader

pub mod cli;

pub use cli::{ReaderSimArgs, run_reader_sim};

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use sha2::{Digest, Sha256};

use crate::protocol::reader::{
    self as proto, CardData, Decoder, Frame, MAX_PAYLOAD, ReadErrorCode, ReaderInfo, SamStatus,
    cmd, encode_card_data,
};

/// How long the simulated chip read takes unless set otherwise: real readers take about
/// this long with the SAM's mutual authentication.
pub const DEFAULT_CHIP_READ_DELAY: Duration = Duration::from_millis(400);
/// How long the sim's loop waits for host bytes before serving its timers.
const POLL: Duration = Duration::from_millis(5);

/// How the simulated reader behaves from the start.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub chip_read_delay: Duration,
    /// What GET_INFO answers; `sam` missing makes every read fail with 0x06, as a real
    /// reader without its SAM does.
    pub info: ReaderInfo,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            chip_read_delay: DEFAULT_CHIP_READ_DELAY,
            info: ReaderInfo {
                vendor: Some("APM Simulator".into()),
                model: Some("SIM-KTP-1".into()),
                firmware: Some(env!("CARGO_PKG_VERSION").into()),
                serial: Some("SIM-0001".into()),
                sam: SamStatus::Ok,
            },
        }
    }
}

/// What the simulator has done, for tests and the CLI's status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Events first sent (CARD_PRESENT, CARD_REMOVED, and auto-read CARD_DATA / READ_ERROR).
    pub events_sent: u64,
    /// Unacknowledged events sent again (on the 500 ms timer or a host NAK).
    pub resends: u64,
    /// Host ACKs that settled an event.
    pub acks_received: u64,
    /// Host ACKs thrown away because [`ReaderSimHandle::set_drop_acks`] is on.
    pub acks_dropped: u64,
    /// Commands from the host, repeats included.
    pub commands_received: u64,
    /// Bad frames the sim's decoder gave up on.
    pub bad_frames: u64,
}

#[derive(Default)]
struct Shared {
    events_sent: AtomicU64,
    resends: AtomicU64,
    acks_received: AtomicU64,
    acks_dropped: AtomicU64,
    commands_received: AtomicU64,
    bad_frames: AtomicU64,
    drop_acks: AtomicBool,
}

enum Control {
    Present(Laid),
    Remove,
    ChipReadDelay(Duration),
    Sam(SamStatus),
    /// Bytes put on the line as they are, between frames.
    Noise(Vec<u8>),
    /// The reader loses power and its line: the sim drops its pty and answers on the
    /// channel once it has.
    Unplug(mpsc::Sender<()>),
    /// The reader is back, on this new pty's master end.
    Replug(TTYPort, mpsc::Sender<()>),
    Stop,
}

/// What lies on the simulated reader.
#[derive(Clone)]
enum Laid {
    /// Boxed: a card is large and controls are mostly small.
    Card(Box<CardData>),
    /// A card whose read fails with this code (not an e-KTP, a damaged chip, ...).
    Failing(ReadErrorCode),
}

/// Starts simulated readers.
pub struct ReaderSim;

impl ReaderSim {
    /// Makes a pseudo-terminal, links `link` to its device (replacing a stale symlink)
    /// and plays the reader on a thread at `baud`, with default options.
    pub fn start(link: &Path, baud: u32) -> io::Result<ReaderSimHandle> {
        ReaderSim::start_with(link, baud, SimOptions::default())
    }

    pub fn start_with(link: &Path, baud: u32, options: SimOptions) -> io::Result<ReaderSimHandle> {
        if baud == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the simulated reader needs a baud rate above zero",
            ));
        }
        let (master, device) = new_pty()?;
        replace_link(link, &device)?;

        let shared = Arc::new(Shared::default());
        let (control_tx, control_rx) = mpsc::channel();
        let mut sim = Sim {
            port: Some(master),
            byte_time: Duration::from_secs_f64(10.0 / f64::from(baud)),
            control: control_rx,
            shared: Arc::clone(&shared),
            decoder: Decoder::new(),
            info: options.info,
            chip_read_delay: options.chip_read_delay,
            next_seq: 0,
            auto_read: true,
            laid: None,
            read: None,
            unacked: Vec::new(),
            last_reply: None,
        };
        let thread = std::thread::Builder::new()
            .name("reader-sim".into())
            .spawn(move || sim.run());
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                let _ = std::fs::remove_file(link);
                return Err(e);
            }
        };
        tracing::info!(link = %link.display(), device = %device.display(), baud, "simulated card reader started");
        Ok(ReaderSimHandle {
            control: control_tx,
            shared,
            thread: Some(thread),
            link: link.to_owned(),
            device,
            plugged: true,
        })
    }
}

/// A pseudo-terminal for the reader's end of the line: its master, with the sim's read
/// timeout set, and the slave's device path for the kiosk.
fn new_pty() -> io::Result<(TTYPort, PathBuf)> {
    let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
    let device = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("the pseudo-terminal has no device path"))?;
    // The kiosk opens the device itself, exclusively; holding the slave here would keep
    // the exclusive flag set after the kiosk closes it and bar it from reopening.
    drop(slave);
    master.set_timeout(POLL).map_err(io::Error::from)?;
    Ok((master, device))
}

/// Removes a stale symlink at `link` and points a new one at `device`. Anything at `link`
/// that is not a symlink is left alone: it could be a real reader's device node.
fn replace_link(link: &Path, device: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a symlink: refusing to replace it",
                    link.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(device, link)
}

/// Control of a running simulated reader. Dropping it stops the reader and removes the
/// link.
pub struct ReaderSimHandle {
    control: mpsc::Sender<Control>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    link: PathBuf,
    /// The pty behind the link now; a replug changes it.
    device: PathBuf,
    /// False between [`ReaderSimHandle::unplug`] and [`ReaderSimHandle::replug`].
    plugged: bool,
}

impl ReaderSimHandle {
    /// Lays `card` on the reader. With auto-read on: CARD_PRESENT, then after the chip
    /// read delay CARD_DATA. A card already there is taken off first (CARD_REMOVED).
    pub fn present_card(&self, card: CardData) {
        self.send(Control::Present(Laid::Card(Box::new(card))));
    }

    /// Lays a card whose read fails with `code`: CARD_PRESENT, then READ_ERROR.
    pub fn present_error(&self, code: ReadErrorCode) {
        self.send(Control::Present(Laid::Failing(code)));
    }

    /// Takes the card off: READ_ERROR 0x05 if a read was under way, then CARD_REMOVED.
    pub fn remove_card(&self) {
        self.send(Control::Remove);
    }

    pub fn set_chip_read_delay(&self, delay: Duration) {
        self.send(Control::ChipReadDelay(delay));
    }

    /// Takes the SAM out (or locks it: `Missing`) or fits it again (`Ok`): INFO reports
    /// it from now on, and with it missing every read fails with 0x06.
    pub fn set_sam(&self, sam: SamStatus) {
        self.send(Control::Sam(sam));
    }

    /// While on, the host's ACKs are received and thrown away, so every event is resent
    /// its three times: how a lost ACK looks from the reader's side.
    pub fn set_drop_acks(&self, drop: bool) {
        self.shared.drop_acks.store(drop, Ordering::Relaxed);
    }

    pub fn counters(&self) -> SimCounters {
        let s = &self.shared;
        SimCounters {
            events_sent: s.events_sent.load(Ordering::Relaxed),
            resends: s.resends.load(Ordering::Relaxed),
            acks_received: s.acks_received.load(Ordering::Relaxed),
            acks_dropped: s.acks_dropped.load(Ordering::Relaxed),
            commands_received: s.commands_received.load(Ordering::Relaxed),
            bad_frames: s.bad_frames.load(Ordering::Relaxed),
        }
    }

    /// Puts `bytes` on the line as they are (paced like everything the reader sends),
    /// between frames: a noisy cable, or a reader's boot banner. STX bytes among them
    /// make false starts the kiosk has to hunt past.
    pub fn line_noise(&self, bytes: Vec<u8>) {
        self.send(Control::Noise(bytes));
    }

    /// Unplugs the reader: the link vanishes, then the pty closes, as when the USB cable
    /// is pulled (udev removes the link, the kernel hangs up the tty). The reader loses
    /// power and forgets everything: events not yet acknowledged, a read under way, the
    /// card on it (the applicant picks it up) and its auto-read setting. Returns when the
    /// pty is closed. Nothing happens if it is unplugged already.
    pub fn unplug(&mut self) {
        if !self.plugged {
            return;
        }
        self.plugged = false;
        self.remove_own_link();
        let (done_tx, done_rx) = mpsc::channel();
        self.send(Control::Unplug(done_tx));
        // An error means the sim thread has ended, and its pty with it.
        let _ = done_rx.recv();
        tracing::info!(link = %self.link.display(), "simulated card reader unplugged");
    }

    /// Plugs the reader back: a new pty (a replug gives a new ttyACM number), then the
    /// same link pointing at it. The reader comes up as after power-on: auto-read on, its
    /// SEQ counting from 0 again. Nothing happens if it is plugged in already.
    pub fn replug(&mut self) -> io::Result<()> {
        if self.plugged {
            return Ok(());
        }
        let (master, device) = new_pty()?;
        let (done_tx, done_rx) = mpsc::channel();
        self.send(Control::Replug(master, done_tx));
        done_rx
            .recv()
            .map_err(|_| io::Error::other("the simulated reader has stopped"))?;
        replace_link(&self.link, &device)?;
        tracing::info!(link = %self.link.display(), device = %device.display(), "simulated card reader plugged back");
        self.device = device;
        self.plugged = true;
        Ok(())
    }

    /// The symlink the kiosk opens.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The pseudo-terminal device the link points at (the last one, while unplugged).
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Removes the link if it is still ours: someone may have started another sim at the
    /// same path.
    fn remove_own_link(&self) {
        if std::fs::read_link(&self.link).is_ok_and(|target| target == self.device)
            && let Err(e) = std::fs::remove_file(&self.link)
        {
            tracing::warn!(link = %self.link.display(), error = %e, "could not remove the simulated reader's link");
        }
    }

    fn send(&self, control: Control) {
        if self.control.send(control).is_err() {
            tracing::warn!("simulated reader has stopped; request ignored");
        }
    }
}

impl Drop for ReaderSimHandle {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("simulated reader thread panicked");
        }
        if self.plugged {
            self.remove_own_link();
        }
    }
}

/// A chip read under way.
struct ChipRead {
    due: Instant,
    /// The READ_CARD this read answers (its SEQ), or `None` for an auto-read event.
    reply_to: Option<u8>,
}

/// An event the host has not acknowledged yet.
struct Unacked {
    seq: u8,
    bytes: Vec<u8>,
    next_resend: Instant,
    resends: u32,
}

struct Sim {
    /// The master end of the reader's pty; `None` while unplugged.
    port: Option<TTYPort>,
    /// Ten bit times (start, 8 data, stop) at the line's baud rate.
    byte_time: Duration,
    control: mpsc::Receiver<Control>,
    shared: Arc<Shared>,
    decoder: Decoder,
    info: ReaderInfo,
    chip_read_delay: Duration,
    next_seq: u8,
    auto_read: bool,
    laid: Option<Laid>,
    read: Option<ChipRead>,
    unacked: Vec<Unacked>,
    /// The last command answered, (SEQ, CMD, payload), and its answer: a host repeating
    /// it gets the same answer again without the command being carried out twice.
    last_reply: Option<(Request, Vec<u8>)>,
}

/// A command as the host sent it: SEQ, CMD, payload.
type Request = (u8, u8, Vec<u8>);

/// The READ_CARD a delayed read answers.
fn read_card(seq: u8) -> Request {
    (seq, cmd::READ_CARD, Vec::new())
}

impl Sim {
    fn run(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(Control::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Ok(control) => self.on_control(control),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            let Some(port) = self.port.as_mut() else {
                // Unplugged: no line, no timers (the reader has no power).
                std::thread::sleep(POLL);
                continue;
            };
            match port.read(&mut buf) {
                Ok(n) if n > 0 => {
                    self.decoder.push(&buf[..n]);
                    while let Some(frame) = self.decoder.next_frame() {
                        self.on_frame(frame);
                    }
                    self.shared
                        .bad_frames
                        .store(self.decoder.stats().bad_frames, Ordering::Relaxed);
                }
                Ok(_) => std::thread::sleep(POLL),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                // No host has the device open (poll says hang-up at once): wait for one,
                // as a powered reader with nothing on the other end of its cable does.
                Err(_) => std::thread::sleep(POLL),
            }
            self.on_timers();
        }
    }

    fn on_control(&mut self, control: Control) {
        if self.port.is_none() && matches!(control, Control::Present(_) | Control::Remove) {
            tracing::debug!("simulated reader is unplugged; card ignored");
            return;
        }
        match control {
            Control::Present(laid) => {
                if self.laid.is_some() {
                    self.take_off();
                }
                self.laid = Some(laid);
                if self.auto_read {
                    let uid = self.uid();
                    self.send_event(cmd::CARD_PRESENT, uid);
                    self.read = Some(ChipRead {
                        due: Instant::now() + self.chip_read_delay,
                        reply_to: None,
                    });
                }
            }
            Control::Remove => self.take_off(),
            Control::ChipReadDelay(delay) => self.chip_read_delay = delay,
            Control::Sam(sam) => self.info.sam = sam,
            Control::Noise(bytes) => self.write_paced(&bytes),
            Control::Unplug(done) => {
                self.power_off();
                let _ = done.send(());
            }
            Control::Replug(port, done) => {
                self.port = Some(port);
                let _ = done.send(());
            }
            Control::Stop => {}
        }
    }

    /// Closes the line and forgets what a reader without power forgets.
    fn power_off(&mut self) {
        self.port = None;
        self.decoder = Decoder::new();
        self.next_seq = 0;
        self.auto_read = true;
        self.laid = None;
        self.read = None;
        self.unacked.clear();
        self.last_reply = None;
    }

    /// The card leaves the reader, interrupting a read under way.
    fn take_off(&mut self) {
        if self.laid.take().is_none() {
            return;
        }
        if let Some(read) = self.read.take() {
            let payload = vec![ReadErrorCode::CardRemoved.byte()];
            match read.reply_to {
                Some(seq) => self.send_reply(read_card(seq), cmd::READ_ERROR, payload),
                None => self.send_event(cmd::READ_ERROR, payload),
            }
        }
        // Like CARD_PRESENT, an auto-read notice: with auto-read off the host polls.
        if self.auto_read {
            self.send_event(cmd::CARD_REMOVED, Vec::new());
        }
    }

    /// A 7-byte UID like an NXP chip's (0x04 first), the same for the same card every
    /// time so captures and replays line up.
    fn uid(&self) -> Vec<u8> {
        let seed = match &self.laid {
            Some(Laid::Card(card)) => Sha256::digest(card.nik.as_bytes()),
            Some(Laid::Failing(code)) => Sha256::digest([code.byte()]),
            None => Sha256::digest(b""),
        };
        let mut uid = vec![0x04];
        uid.extend_from_slice(&seed[..6]);
        uid
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if self.read.as_ref().is_some_and(|r| r.due <= now)
            && let Some(read) = self.read.take()
        {
            let (command, payload) = self.read_outcome();
            match read.reply_to {
                Some(seq) => self.send_reply(read_card(seq), command, payload),
                None => self.send_event(command, payload),
            }
        }
        // An event past its last resend is given up once that resend's 500 ms have gone
        // by without an ACK; the others are due again every 500 ms.
        self.unacked
            .retain(|u| u.next_resend > now || u.resends < proto::EVENT_RESENDS);
        let due: Vec<u8> = self
            .unacked
            .iter()
            .filter(|u| u.next_resend <= now)
            .map(|u| u.seq)
            .collect();
        for seq in due {
            self.resend(seq);
        }
    }

    fn resend(&mut self, seq: u8) {
        let Some(index) = self.unacked.iter().position(|u| u.seq == seq) else {
            return;
        };
        let bytes = self.unacked[index].bytes.clone();
        self.write_paced(&bytes);
        let event = &mut self.unacked[index];
        event.resends += 1;
        event.next_resend = Instant::now() + Duration::from_millis(proto::EVENT_RESEND_MS);
        self.shared.resends.fetch_add(1, Ordering::Relaxed);
    }

    /// What reading the laid card gives: CARD_DATA, or READ_ERROR with its code.
    fn read_outcome(&self) -> (u8, Vec<u8>) {
        if self.info.sam == SamStatus::Missing {
            return (cmd::READ_ERROR, vec![ReadErrorCode::SamUnavailable.byte()]);
        }
        match &self.laid {
            Some(Laid::Card(card)) => {
                let payload = encode_card_data(card);
                if payload.len() > MAX_PAYLOAD {
                    tracing::warn!(
                        bytes = payload.len(),
                        "simulated card's data does not fit in one frame; reporting a read timeout"
                    );
                    (cmd::READ_ERROR, vec![ReadErrorCode::TimedOut.byte()])
                } else {
                    (cmd::CARD_DATA, payload)
                }
            }
            Some(Laid::Failing(code)) => (cmd::READ_ERROR, vec![code.byte()]),
            None => (cmd::READ_ERROR, vec![ReadErrorCode::NoCard.byte()]),
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        match frame.cmd {
            cmd::ACK => {
                if let Some(index) = self.unacked.iter().position(|u| u.seq == frame.seq) {
                    if self.shared.drop_acks.load(Ordering::Relaxed) {
                        self.shared.acks_dropped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.unacked.remove(index);
                        self.shared.acks_received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            cmd::NAK => {
                if let Some(event) = self.unacked.iter().find(|u| u.seq == frame.seq)
                    && event.resends < proto::EVENT_RESENDS
                {
                    self.resend(frame.seq);
                }
            }
            cmd::PING | cmd::GET_INFO | cmd::READ_CARD | cmd::SET_AUTO_READ | cmd::SIGNAL => {
                self.shared
                    .commands_received
                    .fetch_add(1, Ordering::Relaxed);
                self.on_command(frame);
            }
            other => {
                tracing::debug!(cmd = other, "simulated reader ignores an unknown command");
            }
        }
    }

    fn on_command(&mut self, frame: Frame) {
        let request = (frame.seq, frame.cmd, frame.payload);
        if let Some((last, answer)) = &self.last_reply
            && *last == request
        {
            let answer = answer.clone();
            self.write_paced(&answer);
            return;
        }
        let seq = request.0;
        match request.1 {
            cmd::PING => self.send_reply(request, cmd::PONG, Vec::new()),
            cmd::GET_INFO => {
                let info = self.info.encode();
                self.send_reply(request, cmd::INFO, info);
            }
            cmd::SET_AUTO_READ => match request.2.as_slice() {
                &[on @ (0 | 1)] => {
                    self.auto_read = on == 1;
                    self.send_reply(request, cmd::ACK, Vec::new());
                }
                _ => self.send_nak(seq),
            },
            cmd::SIGNAL => match request.2.as_slice() {
                &[signal @ 0..=2] => {
                    tracing::debug!(signal, "simulated reader signals");
                    self.send_reply(request, cmd::ACK, Vec::new());
                }
                _ => self.send_nak(seq),
            },
            cmd::READ_CARD => {
                if let Some(read) = &mut self.read {
                    // A read is under way (auto-read, or this command repeated): its
                    // outcome answers this command instead.
                    read.reply_to = Some(seq);
                } else if self.laid.is_none() {
                    let payload = vec![ReadErrorCode::NoCard.byte()];
                    self.send_reply(request, cmd::READ_ERROR, payload);
                } else {
                    self.read = Some(ChipRead {
                        due: Instant::now() + self.chip_read_delay,
                        reply_to: Some(seq),
                    });
                }
            }
            _ => {}
        }
    }

    fn send_nak(&mut self, seq: u8) {
        self.write_paced(&proto::encode(&Frame::bare(seq, cmd::NAK)));
    }

    /// Answers `request` (SEQ, CMD, payload) and remembers the answer for a repeat.
    fn send_reply(&mut self, request: Request, command: u8, payload: Vec<u8>) {
        let bytes = proto::encode(&Frame {
            seq: request.0,
            cmd: command,
            payload,
        });
        self.write_paced(&bytes);
        self.last_reply = Some((request, bytes));
    }

    fn send_event(&mut self, command: u8, payload: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let bytes = proto::encode(&Frame {
            seq,
            cmd: command,
            payload,
        });
        self.write_paced(&bytes);
        self.shared.events_sent.fetch_add(1, Ordering::Relaxed);
        if command == cmd::CARD_DATA || command == cmd::READ_ERROR {
            self.unacked.push(Unacked {
                seq,
                bytes,
                next_resend: Instant::now() + Duration::from_millis(proto::EVENT_RESEND_MS),
                resends: 0,
            });
        }
    }

    /// Writes `bytes` as a UART at the line's baud rate would deliver them: each byte
    /// reaches the host when its tenth bit time has passed, and the call returns when the
    /// line is free again.
    fn write_paced(&mut self, bytes: &[u8]) {
        let Some(port) = self.port.as_mut() else {
            return;
        };
        let start = Instant::now();
        let mut written = 0;
        while written < bytes.len() {
            let elapsed = start.elapsed();
            let due =
                ((elapsed.as_nanos() / self.byte_time.as_nanos().max(1)) as usize).min(bytes.len());
            if due > written {
                if let Err(e) = port.write_all(&bytes[written..due]) {
                    // No host on the line: the bytes are lost, as on a real cable.
                    tracing::debug!(error = %e, "simulated reader's output lost");
                    return;
                }
                written = due;
            } else {
                let next = start + self.byte_time * (written as u32 + 1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }
    }
}

/// The reader's end of a pseudo-terminal with no reader behind it, for tests and
/// benchmarks that need the line byte for byte: the caller writes exactly what goes on
/// the line, unpaced (a pty has no baud rate), and reads the frames the kiosk sent back.
/// [`RawLine::answer_handshake`] plays the part of a reader only until the kiosk has
/// connected. Dropping it closes the pty and removes the link.
pub struct RawLine {
    port: TTYPort,
    link: PathBuf,
    device: PathBuf,
    decoder: Decoder,
}

impl RawLine {
    /// Makes a pseudo-terminal and links `link` to its device, as [`ReaderSim::start`]
    /// does.
    pub fn open(link: &Path) -> io::Result<RawLine> {
        let (port, device) = new_pty()?;
        replace_link(link, &device)?;
        Ok(RawLine {
            port,
            link: link.to_owned(),
            device,
            decoder: Decoder::new(),
        })
    }

    /// Answers the kiosk's opening commands (GET_INFO with `info`, SET_AUTO_READ and
    /// PING with what a reader answers) until it has turned auto-read on, which is when
    /// the kiosk reports `Connected`. Fails if that does not happen `within`.
    pub fn answer_handshake(&mut self, info: &ReaderInfo, within: Duration) -> io::Result<()> {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kiosk did not turn auto-read on",
                ));
            }
            for frame in self.host_frames(left.min(POLL))? {
                let (reply, payload) = match frame.cmd {
                    cmd::GET_INFO => (cmd::INFO, info.encode()),
                    cmd::PING => (cmd::PONG, Vec::new()),
                    cmd::SET_AUTO_READ | cmd::SIGNAL => (cmd::ACK, Vec::new()),
                    _ => continue,
                };
                self.write(
                    &proto::encode(&Frame {
                        seq: frame.seq,
                        cmd: reply,
                        payload,
                    }),
                    left,
                )?;
                if frame.cmd == cmd::SET_AUTO_READ {
                    return Ok(());
                }
            }
        }
    }

    /// Writes `bytes` on the line as fast as the pty takes them, waiting at most `within`
    /// in all for the kiosk to make room.
    pub fn write(&mut self, bytes: &[u8], within: Duration) -> io::Result<()> {
        let until = Instant::now() + within;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.port.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => rest = &rest[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) && Instant::now() < until => {}
                Err(e) => return Err(e),
            }
        }
        self.port.flush()
    }

    /// The frames the kiosk has sent, waiting up to `wait` for the first bytes. A line
    /// nobody has open yet reads as empty.
    pub fn host_frames(&mut self, wait: Duration) -> io::Result<Vec<Frame>> {
        let mut frames = Vec::new();
        let mut buf = [0u8; 1024];
        let until = Instant::now() + wait;
        loop {
            match self.port.read(&mut buf) {
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                // Hang-up: the kiosk has not opened its end (yet, or again).
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::thread::sleep(POLL),
                Err(e) => return Err(e),
            }
            while let Some(frame) = self.decoder.next_frame() {
                frames.push(frame);
            }
            if !frames.is_empty() || Instant::now() >= until {
                return Ok(frames);
            }
        }
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    pub fn device(&self) -> &Path {
        &self.device
    }
}

impl Drop for RawLine {
    fn drop(&mut self) {
        if std::fs::read_link(&self.link).is_ok_and(|target| target == self.device) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}
