//! The virtual ticket printer: plays an ESC/POS printer on a pseudo-terminal, so the
//! kiosk's real serial code (`super::open`) drives it exactly as it drives hardware.
//! A symlink at a chosen path points to the pty slave; a thread reads the master side,
//! feeds the bytes to the interpreter in `render.rs`, answers `DLE EOT` status queries
//! from its simulated state, and writes each cut ticket as a numbered PNG.
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
    PaperWidth, PrinterStatus, StatusQuery, auto_status_bytes, reply_byte,
};
use render::{Event, Interpreter};

/// How the simulated printer starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrinterSimOptions {
    pub width: PaperWidth,
    /// Lines (of 30 dots) on the roll; `None` for an endless roll. When it runs out the
    /// rest of the job is lost and status says paper out until `load_paper()`.
    pub paper_out_after: Option<u32>,
    /// Lines on a roll loaded by `load_paper()`; `None`: as many as `paper_out_after`.
    /// Longer than that, the first roll plays the end of a used one.
    pub reload_lines: Option<u32>,
    /// The near-end sensor fires when this many lines or fewer are left (0: never).
    pub near_end_lines: u32,
    /// Switched off or unplugged: answers nothing and loses what it is sent.
    pub offline: bool,
    /// Consume bytes no faster than a serial line at this rate; `None`: at once.
    pub baud: Option<u32>,
}

/// The simulated printer's state, shared between its thread and the handle.
struct Shared {
    offline: AtomicBool,
    cover_open: AtomicBool,
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
    lines_left: Option<u32>,
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
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        let slave_path = slave
            .name()
            .ok_or_else(|| io::Error::other("the pseudo-terminal has no slave path"))?;
        drop(slave);
        master.set_timeout(Duration::from_millis(50))?;
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
            stop: AtomicBool::new(false),
            load_paper: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                tickets: Vec::new(),
                texts: Vec::new(),
                paper_out: false,
                lines_left: options.paper_out_after,
            }),
        });
        let worker = Worker {
            master,
            interpreter: Interpreter::new(options.width, options.paper_out_after),
            out_dir: out_dir.to_owned(),
            options,
            shared: Arc::clone(&shared),
            next_ticket: first_free_number(out_dir),
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

    /// A fresh roll of the configured length: status is fine again.
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

    /// Opens or closes the cover as the status reports it. (The kiosk sends no job to
    /// a printer whose status is not fine, so the simulator does not hold jobs back.)
    pub fn set_cover_open(&self, open: bool) {
        self.shared.cover_open.store(open, Ordering::SeqCst);
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

/// The printer's thread: owns the pty master and the interpreter.
struct Worker {
    master: TTYPort,
    interpreter: Interpreter,
    out_dir: PathBuf,
    options: PrinterSimOptions,
    shared: Arc<Shared>,
    next_ticket: u32,
}

impl Worker {
    fn run(mut self) {
        let mut buf = [0u8; 256];
        while !self.shared.stop.load(Ordering::SeqCst) {
            let n = match self.master.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(_) => {
                    // No one has the slave open (EIO): wait for the kiosk.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            if let Some(baud) = self.options.baud.filter(|&b| b > 0) {
                // Ten bit times a byte (8N1), so that the kiosk's writes back up as they
                // would on a real line.
                let micros = n as u64 * 10_000_000 / u64::from(baud);
                std::thread::sleep(Duration::from_micros(micros));
            }
            // Checked after the read: a query that arrives right after `load_paper()`
            // must already see the new roll.
            if self.shared.load_paper.swap(false, Ordering::SeqCst) {
                match self.options.reload_lines {
                    Some(lines) => self.interpreter.load_roll(lines),
                    None => self.interpreter.load_paper(),
                }
                self.publish_paper();
            }
            if self.shared.offline.load(Ordering::SeqCst) {
                continue;
            }
            for event in self.interpreter.feed(&buf[..n]) {
                self.handle(event);
            }
            self.publish_paper();
        }
    }

    fn status(&self) -> PrinterStatus {
        let lines_left = self.interpreter.lines_left();
        let near = self.options.near_end_lines;
        let paper_out = self.interpreter.paper_out();
        PrinterStatus {
            online: !paper_out,
            cover_open: self.shared.cover_open.load(Ordering::SeqCst),
            paper_out,
            paper_near_end: near > 0 && lines_left.is_some_and(|l| l <= near),
            error: false,
        }
    }

    fn publish_paper(&self) {
        let mut inner = self.shared.inner();
        inner.paper_out = self.interpreter.paper_out();
        inner.lines_left = self.interpreter.lines_left();
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::StatusQuery(n) => {
                let Some(query) = StatusQuery::from_n(n) else {
                    return;
                };
                self.publish_paper();
                let reply = reply_byte(query, &self.status());
                self.reply(&[reply]);
            }
            Event::AutoStatus(n) => {
                if n != 0 {
                    let block = auto_status_bytes(&self.status());
                    self.reply(&block);
                }
            }
            Event::Cut(page) => {
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
                    }
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "simulated printer could not write its ticket image"
                    ),
                }
            }
            Event::PaperOut => {
                tracing::info!("simulated printer ran out of paper; the rest of the job is lost");
                self.publish_paper();
            }
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
    /// Pace the printer like a serial line at this many baud.
    #[arg(long)]
    pub baud: Option<u32>,
    /// The roll runs out after this many printed lines.
    #[arg(long, value_name = "LINES")]
    pub paper_out_after: Option<u32>,
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

/// Runs the virtual printer until Ctrl-C or until stdin closes. Commands on stdin, one a
/// line: `paper` (load a new roll), `offline`, `online`, `cover open`, `cover close`.
pub fn run_printer_sim(args: PrinterSimArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let options = PrinterSimOptions {
        width: args.width,
        paper_out_after: args.paper_out_after,
        reload_lines: None,
        near_end_lines: 0,
        offline: args.offline,
        baud: args.baud,
    };
    let handle = PrinterSim::start(&args.link, &args.out, options).with_context(|| {
        format!(
            "starting the virtual printer at {} (tickets to {})",
            args.link.display(),
            args.out.display()
        )
    })?;
    println!(
        "virtual printer on {} -> {}, {} mm paper, tickets in {}",
        handle.link().display(),
        handle.device().display(),
        args.width.mm(),
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
