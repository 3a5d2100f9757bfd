//! The virtual ticket printer: plays an ESC/POS printer on a pseudo-terminal, so the
//! kiosk's real serial code (`super::open`) drives it exactly as it drives hardware.
//! A symlink at a chosen path points to the pty slave; a thread reads the master side
//! and behaves as a TM-T88 does in time:
//!
//! - the bytes go into a receive buffer, which the head prints at the profile's speed
//!   (mm/s; each command takes the time of the paper it feeds), rendering at the
//!   profile's dots, and each cut ticket is written as a numbered PNG;
//! - `DLE EOT n` is answered the moment it arrives, while the head is still busy, and
//!   `DLE DC4` fn 8 empties the buffer at once (answered `37 25 00`) where the profile
//!   has it;
//! - `GS ( H` fn 48 is answered only when the head reaches it, where the profile has it;
//! - the roll can run out at a given millimetre: the head stops, the job's tail stays
//!   in the buffer, and prints when a new roll is loaded, unless it was cleared; an
//!   open cover stops the head the same way until it is closed;
//! - with `GS a` on, a change of status is sent as an ASB block.
//!
//! Also the `apm-kiosk printer-sim` command ([`PrinterSimArgs`], [`run_printer_sim`]);
//! adding the subcommand to `main.rs` is the integrator's part.
//!
//! The simulator does not hold the slave side open itself: a tty keeps its exclusive
//! flag while any handle is open, so holding it would lock out (as busy) a kiosk that
//! restarts after a crash. While no one has the slave open the master reports errors,
//! and the thread simply waits and tries again.

pub mod render;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use crate::protocol::escpos::{
    BUFFER_CLEAR, BUFFER_CLEARED, PaperWidth, PrinterStatus, StatusQuery, auto_status_bytes,
    reply_byte,
};
use crate::protocol::printer_profile::{PrinterModel, PrinterProfile};
use render::{Event, Interpreter};

/// How the simulated printer starts out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrinterSimOptions {
    /// The printer played: its head's dots and speed, and which commands it answers.
    pub profile: PrinterProfile,
    /// Paper on the roll, in millimetres; `None` for an endless roll. When it runs out
    /// the head stops, with the rest of the job in the buffer, and status says paper
    /// out until `load_paper()`.
    pub roll_mm: Option<f64>,
    /// Paper on a roll loaded by `load_paper()`; `None`: as much as `roll_mm`. Longer
    /// than that, the first roll plays the end of a used one.
    pub reload_mm: Option<f64>,
    /// The near-end sensor fires when this many millimetres or fewer are left (0: never).
    pub near_end_mm: f64,
    /// Switched off or unplugged: answers nothing and loses what it is sent.
    pub offline: bool,
    /// Consume bytes no faster than a serial line at this rate; `None`: at once.
    pub baud: Option<u32>,
    /// The head's speed in mm/s instead of the profile's (a faster one keeps a test
    /// that is not about time short); `None`: the profile's.
    pub head_mm_per_s: Option<u32>,
}

impl Default for PrinterSimOptions {
    fn default() -> Self {
        PrinterSimOptions {
            profile: PrinterProfile::default(),
            roll_mm: None,
            reload_mm: None,
            near_end_mm: 0.0,
            offline: false,
            baud: None,
            head_mm_per_s: None,
        }
    }
}

impl PrinterSimOptions {
    /// The generic printer of `paper`, with everything else as the default.
    pub fn paper(paper: PaperWidth) -> PrinterSimOptions {
        PrinterSimOptions {
            profile: PrinterProfile::generic(paper),
            ..PrinterSimOptions::default()
        }
    }
}

/// The simulated printer's state, shared between its thread and the handle.
struct Shared {
    offline: AtomicBool,
    cover_open: AtomicBool,
    /// A recoverable error (a cutter jam, the head too hot).
    error: AtomicBool,
    stop: AtomicBool,
    /// Set by `load_paper()`, taken by the thread, which owns the roll.
    load_paper: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    tickets: Vec<PathBuf>,
    /// What each ticket in `tickets` says, as the interpreter read it.
    texts: Vec<String>,
    paper_out: bool,
    /// Bytes waiting in the receive buffer.
    buffered: usize,
    /// Buffer clears received.
    clears: usize,
    /// Bytes received, and `DLE EOT` queries among them.
    received: usize,
    status_queries: usize,
    /// Each cut ticket's length, in dots of feed.
    heights: Vec<u32>,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic on the printer thread must not take the test or the CLI with it:
        // the data behind the lock stays consistent (plain fields), so carry on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts virtual printers.
pub struct PrinterSim;

impl PrinterSim {
    /// Opens a pseudo-terminal, puts a symlink to its slave at `link` (replacing an old
    /// symlink there), and runs the printer on a thread until the handle is dropped.
    /// Tickets go to `out_dir` as `ticket-0001.png`, `ticket-0002.png`, ...
    pub fn start(
        link: &Path,
        out_dir: &Path,
        options: PrinterSimOptions,
    ) -> io::Result<PrinterSimHandle> {
        std::fs::create_dir_all(out_dir)?;
        let (master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        let slave_path = slave
            .name()
            .ok_or_else(|| io::Error::other("the pseudo-terminal has no slave path"))?;
        drop(slave);
        match std::fs::symlink_metadata(link) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a symlink", link.display()),
                ));
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&slave_path, link)?;

        let shared = Arc::new(Shared {
            offline: AtomicBool::new(options.offline),
            cover_open: AtomicBool::new(false),
            error: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            load_paper: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                tickets: Vec::new(),
                texts: Vec::new(),
                paper_out: false,
                buffered: 0,
                clears: 0,
                received: 0,
                status_queries: 0,
                heights: Vec::new(),
            }),
        });
        let profile = options.profile;
        let roll = options.roll_mm.map(|mm| profile.dots_of_mm(mm));
        let worker = Worker {
            master,
            interpreter: Interpreter::new(profile.dots, roll),
            out_dir: out_dir.to_owned(),
            options,
            shared: Arc::clone(&shared),
            next_ticket: first_free_number(out_dir),
            realtime: Vec::new(),
            head_free_at: Instant::now(),
            auto_status: false,
            last_pushed: None,
        };
        let thread = std::thread::Builder::new()
            .name("printer-sim".into())
            .spawn(move || worker.run())?;
        Ok(PrinterSimHandle {
            link: link.to_owned(),
            slave: PathBuf::from(slave_path),
            shared,
            thread: Some(thread),
        })
    }
}

/// Controls a running simulated printer; dropping it stops the printer and removes the
/// symlink.
pub struct PrinterSimHandle {
    link: PathBuf,
    slave: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PrinterSimHandle {
    /// The symlink the kiosk opens.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The pseudo-terminal's own path (`/dev/pts/N`).
    pub fn device(&self) -> &Path {
        &self.slave
    }

    /// The PNGs printed so far, in order.
    pub fn tickets(&self) -> Vec<PathBuf> {
        self.shared.inner().tickets.clone()
    }

    /// The text of each ticket printed so far, in order: the lines the interpreter
    /// printed, a QR as `[QR]`.
    pub fn ticket_texts(&self) -> Vec<String> {
        self.shared.inner().texts.clone()
    }

    /// Bytes received and not yet printed: a job's tail kept while the paper is out.
    pub fn buffered(&self) -> usize {
        self.shared.inner().buffered
    }

    /// How many `DLE DC4` fn 8 buffer clears the printer has received.
    pub fn clears(&self) -> usize {
        self.shared.inner().clears
    }

    /// Bytes received so far, and how many `DLE EOT` queries (three bytes each) were
    /// among them: what the kiosk's jobs took on the wire.
    pub fn received(&self) -> (usize, usize) {
        let inner = self.shared.inner();
        (inner.received, inner.status_queries)
    }

    /// Each ticket's length on the paper so far, in dots of feed.
    pub fn ticket_dots(&self) -> Vec<u32> {
        self.shared.inner().heights.clone()
    }

    /// Waits until at least `count` tickets are printed or `timeout` passes; returns
    /// what there is.
    pub fn wait_for_tickets(&self, count: usize, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        loop {
            let tickets = self.tickets();
            if tickets.len() >= count || Instant::now() >= deadline {
                return tickets;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh roll of the configured length: status is fine again, and the head goes
    /// on with what is left in the buffer.
    pub fn load_paper(&self) {
        self.shared.load_paper.store(true, Ordering::SeqCst);
        let mut inner = self.shared.inner();
        // Reflect it at once, so a status query right after this call sees paper.
        inner.paper_out = false;
    }

    pub fn paper_out(&self) -> bool {
        self.shared.inner().paper_out
    }

    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// Opens or closes the cover: the status says so, and the head stops while it is
    /// open and goes on with the buffer once it is closed.
    pub fn set_cover_open(&self, open: bool) {
        self.shared.cover_open.store(open, Ordering::SeqCst);
    }

    /// Raises or clears a recoverable error (a cutter jam, say): the status says so,
    /// and the head stops while it lasts and goes on with the buffer once it is cleared.
    pub fn set_error(&self, error: bool) {
        self.shared.error.store(error, Ordering::SeqCst);
    }

    /// Stops the printer thread and removes the symlink.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if std::fs::read_link(&self.link).is_ok_and(|target| target == self.slave) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

impl Drop for PrinterSimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long the thread waits for bytes when the head has nothing to do.
const IDLE_READ: Duration = Duration::from_millis(50);

/// The printer's thread: owns the pty master, the receive buffer and the head.
struct Worker {
    master: TTYPort,
    interpreter: Interpreter,
    out_dir: PathBuf,
    options: PrinterSimOptions,
    shared: Arc<Shared>,
    next_ticket: u32,
    /// The start of a real-time command split across reads.
    realtime: Vec<u8>,
    /// When the head has fed the paper of the last command it executed.
    head_free_at: Instant,
    /// `GS a` with a non-zero mask was executed.
    auto_status: bool,
    /// The status last sent as an ASB block.
    last_pushed: Option<PrinterStatus>,
}

/// What a real-time scan found at the start of some bytes.
enum RealTime {
    /// `DLE EOT n`: answered now.
    Status(u8),
    /// `DLE DC4` fn 8: the buffer cleared now.
    Clear,
    /// Not a real-time command: the byte goes to the buffer.
    Data,
    /// The start of one, not complete yet.
    Partial,
}

fn real_time(bytes: &[u8]) -> (RealTime, usize) {
    match bytes {
        [0x10] | [0x10, 0x04] | [0x10, 0x14] => (RealTime::Partial, 0),
        [0x10, 0x04, n, ..] => (RealTime::Status(*n), 3),
        [0x10, 0x14, 0x08, rest @ ..] if rest.len() < 7 && BUFFER_CLEAR[3..].starts_with(rest) => {
            (RealTime::Partial, 0)
        }
        _ if bytes.starts_with(&BUFFER_CLEAR) => (RealTime::Clear, BUFFER_CLEAR.len()),
        _ => (RealTime::Data, 1),
    }
}

impl Worker {
    fn run(mut self) {
        let mut buf = [0u8; 256];
        while !self.shared.stop.load(Ordering::SeqCst) {
            let wait = self
                .head_free_at
                .saturating_duration_since(Instant::now())
                .min(IDLE_READ)
                .max(Duration::from_millis(1));
            let wait = if self.head_has_work() {
                wait
            } else {
                IDLE_READ
            };
            let _ = self.master.set_timeout(wait);
            match self.master.read(&mut buf) {
                Ok(n) => self.receive(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(_) => {
                    // No one has the slave open (EIO): wait for the kiosk.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            self.take_paper();
            self.run_head();
            self.push_status();
            self.publish();
        }
    }

    /// Bytes off the line: real-time commands acted on at once, the rest into the
    /// buffer.
    fn receive(&mut self, bytes: &[u8]) {
        if let Some(baud) = self.options.baud.filter(|&b| b > 0) {
            // Ten bit times a byte (8N1), so that the kiosk's writes back up as they
            // would on a real line.
            let micros = bytes.len() as u64 * 10_000_000 / u64::from(baud);
            std::thread::sleep(Duration::from_micros(micros));
        }
        // Checked after the read: a query that arrives right after `load_paper()`
        // must already see the new roll.
        self.take_paper();
        if self.shared.offline.load(Ordering::SeqCst) {
            self.realtime.clear();
            return;
        }
        self.shared.inner().received += bytes.len();
        let mut data = std::mem::take(&mut self.realtime);
        data.extend_from_slice(bytes);
        let mut pos = 0;
        let mut plain = Vec::with_capacity(data.len());
        while pos < data.len() {
            match real_time(&data[pos..]) {
                (RealTime::Partial, _) => {
                    self.realtime = data[pos..].to_vec();
                    break;
                }
                (RealTime::Status(n), used) => {
                    self.answer_status(n);
                    pos += used;
                }
                (RealTime::Clear, used) => {
                    self.interpreter.push(&std::mem::take(&mut plain));
                    self.clear();
                    pos += used;
                }
                (RealTime::Data, used) => {
                    plain.extend_from_slice(&data[pos..pos + used]);
                    pos += used;
                }
            }
        }
        self.interpreter.push(&plain);
    }

    fn answer_status(&mut self, n: u8) {
        self.shared.inner().status_queries += 1;
        if let Some(query) = StatusQuery::from_n(n) {
            let reply = reply_byte(query, &self.status());
            self.reply(&[reply]);
        }
    }

    fn clear(&mut self) {
        if !self.options.profile.buffer_clear {
            return;
        }
        self.interpreter.clear();
        self.shared.inner().clears += 1;
        // Published before the answer: whoever reads the answer may look at once.
        self.publish();
        self.reply(&BUFFER_CLEARED);
    }

    fn take_paper(&mut self) {
        if self.shared.load_paper.swap(false, Ordering::SeqCst) {
            let profile = self.options.profile;
            match self.options.reload_mm {
                Some(mm) => self.interpreter.load_roll(profile.dots_of_mm(mm)),
                None => self.interpreter.load_paper(),
            }
            self.head_free_at = self.head_free_at.max(Instant::now());
            self.publish();
        }
    }

    /// The head can print: paper in, cover closed, switched on.
    fn head_can_print(&self) -> bool {
        !self.interpreter.paper_out()
            && !self.shared.cover_open.load(Ordering::SeqCst)
            && !self.shared.error.load(Ordering::SeqCst)
            && !self.shared.offline.load(Ordering::SeqCst)
    }

    fn head_has_work(&self) -> bool {
        self.head_can_print() && self.interpreter.buffered() > 0
    }

    /// Executes what the head has had time for since it was last free: each command
    /// then keeps it busy for the paper it fed, at the head's speed.
    fn run_head(&mut self) {
        let speed = self
            .options
            .head_mm_per_s
            .unwrap_or(self.options.profile.mm_per_s)
            .max(1);
        let profile = PrinterProfile {
            mm_per_s: speed,
            ..self.options.profile
        };
        loop {
            let now = Instant::now();
            if now < self.head_free_at || !self.head_can_print() {
                return;
            }
            let Some(step) = self.interpreter.step() else {
                return;
            };
            self.head_free_at = self.head_free_at.max(now) + profile.head_time(step.fed);
            for event in step.events {
                self.handle(event);
            }
        }
    }

    fn status(&self) -> PrinterStatus {
        let near = self.options.profile.dots_of_mm(self.options.near_end_mm);
        let paper_out = self.interpreter.paper_out();
        PrinterStatus {
            online: !paper_out,
            cover_open: self.shared.cover_open.load(Ordering::SeqCst),
            paper_out,
            paper_near_end: near > 0 && self.interpreter.dots_left().is_some_and(|l| l <= near),
            error: self.shared.error.load(Ordering::SeqCst),
        }
    }

    /// An ASB block when the status changed while automatic status back is on.
    fn push_status(&mut self) {
        if !self.auto_status || self.shared.offline.load(Ordering::SeqCst) {
            return;
        }
        let status = self.status();
        if self.last_pushed != Some(status) {
            self.last_pushed = Some(status);
            self.reply(&auto_status_bytes(&status));
        }
    }

    fn publish(&self) {
        let mut inner = self.shared.inner();
        inner.paper_out = self.interpreter.paper_out();
        inner.buffered = self.interpreter.buffered();
    }

    fn handle(&mut self, event: Event) {
        match event {
            // Real-time queries are answered on arrival; one that reaches the head
            // (split oddly across reads) is answered now.
            Event::StatusQuery(n) => self.answer_status(n),
            Event::AutoStatus(n) => {
                self.auto_status = n != 0 && self.options.profile.auto_status;
                self.last_pushed = None;
            }
            Event::Processed(id) => {
                if self.options.profile.process_id {
                    self.reply(&id.reply());
                }
            }
            Event::Cut(page) => self.cut(page),
            Event::PaperOut => {
                tracing::info!(
                    "simulated printer ran out of paper; the rest of the job waits in its buffer"
                );
                self.publish();
            }
        }
    }

    fn cut(&mut self, page: render::Bitmap) {
        let path = self
            .out_dir
            .join(format!("ticket-{:04}.png", self.next_ticket));
        self.next_ticket += 1;
        let written = page
            .to_png()
            .map_err(io::Error::other)
            .and_then(|png| std::fs::write(&path, png));
        match written {
            Ok(()) => {
                let mut inner = self.shared.inner();
                inner.tickets.push(path);
                inner.texts.push(page.text());
                inner.heights.push(page.height());
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "simulated printer could not write its ticket image"
            ),
        }
    }

    fn reply(&mut self, bytes: &[u8]) {
        if let Err(e) = self.master.write_all(bytes) {
            tracing::debug!(error = %e, "simulated printer could not send its reply");
        }
    }
}

/// The number after the highest `ticket-NNNN.png` already in `dir`, so a restarted
/// simulator does not overwrite earlier tickets.
fn first_free_number(dir: &Path) -> u32 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_prefix("ticket-")?
                .strip_suffix(".png")?
                .parse::<u32>()
                .ok()
        })
        .max()
        .map_or(1, |n| n + 1)
}

// ---------------------------------------------------------------------------------
// CLI

/// `apm-kiosk printer-sim`: a virtual ticket printer on a pseudo-terminal.
#[derive(Debug, Clone, clap::Args)]
pub struct PrinterSimArgs {
    /// Where to put the symlink to the printer's device (point the kiosk's
    /// `printer.device` at it).
    #[arg(long, value_name = "PATH", default_value = "/tmp/apm-printer")]
    pub link: PathBuf,
    /// Directory for the printed tickets (PNG).
    #[arg(long, value_name = "DIR", default_value = "printer-out")]
    pub out: PathBuf,
    /// Paper width in millimetres.
    #[arg(long, value_name = "MM", default_value = "80", value_parser = parse_width)]
    pub width: PaperWidth,
    /// The printer played, as `printer.model` names it (`tm-t88v`, `generic-80`...):
    /// its head's dots and speed, and which commands it answers. Default: the generic
    /// printer of the paper width.
    #[arg(long, value_parser = parse_model)]
    pub model: Option<PrinterModel>,
    /// Pace the printer like a serial line at this many baud.
    #[arg(long)]
    pub baud: Option<u32>,
    /// The roll runs out after this many millimetres of paper.
    #[arg(long, value_name = "MM")]
    pub roll_mm: Option<f64>,
    /// Start switched off: answer nothing, print nothing.
    #[arg(long)]
    pub offline: bool,
}

/// A paper width given in millimetres on a command line: `80` or `58`.
pub fn parse_width(s: &str) -> Result<PaperWidth, String> {
    s.parse::<u32>()
        .ok()
        .and_then(PaperWidth::from_mm)
        .ok_or_else(|| format!("{s:?}: the paper is 80 or 58 mm wide"))
}

/// A printer model as `printer.model` writes it.
pub fn parse_model(s: &str) -> Result<PrinterModel, String> {
    PrinterModel::from_code(s).ok_or_else(|| {
        let known: Vec<&str> = PrinterModel::ALL.iter().map(|m| m.code()).collect();
        format!("{s:?}: the printer models are {}", known.join(", "))
    })
}

/// Runs the virtual printer until Ctrl-C or until stdin closes. Commands on stdin, one a
/// line: `paper` (load a new roll), `offline`, `online`, `cover open`, `cover close`.
pub fn run_printer_sim(args: PrinterSimArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let model = args.model.unwrap_or(PrinterModel::generic(args.width));
    let options = PrinterSimOptions {
        profile: PrinterProfile::of(model, args.width),
        roll_mm: args.roll_mm,
        offline: args.offline,
        baud: args.baud,
        ..PrinterSimOptions::default()
    };
    let handle = PrinterSim::start(&args.link, &args.out, options).with_context(|| {
        format!(
            "starting the virtual printer at {} (tickets to {})",
            args.link.display(),
            args.out.display()
        )
    })?;
    println!(
        "virtual printer on {} -> {}, {} on {} mm paper ({} dots), tickets in {}",
        handle.link().display(),
        handle.device().display(),
        model.code(),
        options.profile.paper.mm(),
        options.profile.dots,
        args.out.display()
    );
    println!("commands: paper | offline | online | cover open | cover close (Ctrl-D to quit)");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    let handle = Arc::new(handle);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    {
        // Stdin is read on a plain thread: it blocks, and ends the run when it closes.
        let handle = Arc::clone(&handle);
        std::thread::Builder::new()
            .name("printer-sim-stdin".into())
            .spawn(move || {
                let stdin = io::stdin();
                let mut line = String::new();
                while matches!(stdin.read_line(&mut line), Ok(n) if n > 0) {
                    match line.trim() {
                        "paper" => handle.load_paper(),
                        "offline" => handle.set_offline(true),
                        "online" => handle.set_offline(false),
                        "cover open" => handle.set_cover_open(true),
                        "cover close" => handle.set_cover_open(false),
                        "" => {}
                        other => eprintln!("unknown command {other:?}"),
                    }
                    let _ = io::stdout().flush();
                    line.clear();
                }
                let _ = closed_tx.send(());
            })
            .context("starting the stdin reader")?;
    }
    runtime.block_on(async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = closed_rx => {}
        }
    });
    println!("printed {} ticket(s)", handle.tickets().len());
    // The stdin thread may still hold a clone; dropping ours is enough once it ends,
    // and stopping explicitly removes the symlink now either way.
    match Arc::try_unwrap(handle) {
        Ok(handle) => handle.stop(),
        Err(still_shared) => {
            still_shared.shared.stop.store(true, Ordering::SeqCst);
            if std::fs::read_link(&still_shared.link).is_ok_and(|t| t == still_shared.slave) {
                let _ = std::fs::remove_file(&still_shared.link);
            }
        }
    }
    Ok(())
}
