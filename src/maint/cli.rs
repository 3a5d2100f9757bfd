//! `apm-kiosk maint ...`: the technician's commands over SSH. Each one is a control
//! command sent to the running daemon over its socket, so it has the same effect and
//! leaves the same audit line as the touchscreen's menu; only `set-pin` also edits the
//! configuration file. The socket's permissions (0660, the kiosk's user and group) are
//! the access control here: no PIN is asked.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::answer::{
    Acknowledged, Enrolled, Integrity, PinReloaded, ReadTestAnswer, RecentTickets, Released,
    Reprinted, Restarting, ServiceHold, SettingsNow, SyncProgress, SyncStarted, TestPrinted,
};
use super::export::Written;
use super::{HoldReason, Orientation, Report, SettingsChange};
use crate::config::Config;
use crate::control::{Client, Command};
use crate::domain::Language;

/// How long a quick command waits for its answer.
const PATIENCE: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct MaintArgs {
    /// The kiosk's configuration file (for the control socket's path).
    #[arg(long, global = true, default_value = "/etc/apm-kiosk/kiosk.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: MaintCmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum MaintCmd {
    /// The maintenance report: what is wrong first, then each part.
    Status {
        /// The report as JSON (`maint::Report`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sync with the central service now and follow the round to its end.
    Sync,
    /// Print a ticket again (marked COPY): the last one printed, or the one given.
    Reprint { registration_id: Option<String> },
    /// The tickets printed last, to pick a reprint from.
    Recent {
        #[arg(long, default_value_t = super::service::RECENT_DEFAULT)]
        limit: u32,
    },
    /// Stop new bookings. REASON is shown to applicants: maintenance, printer_fault,
    /// reader_fault, office_closed or relocating.
    OutOfService { reason: String },
    /// Take bookings again (lifts the technician's hold only).
    InService,
    /// Write the diagnostics bundle (.tar.gz, no personal data) into a directory or file.
    Export { path: PathBuf },
    /// Check the database (SQLite integrity_check).
    Integrity,
    /// Set the maintenance menu's PIN (4 to 8 digits, asked twice) in the config file.
    SetPin {
        /// Remove the PIN instead: the menu then cannot be opened from the screen.
        #[arg(long)]
        clear: bool,
    },
    /// Print a test page.
    TestPrint,
    /// Wait for a card on the reader (30 s) and show what it read, masked.
    ReadTest,
    /// Enroll the running kiosk with a one-time code from the central office.
    Enroll { code: String },
    /// Give the kiosk's free numbers for one office and date back to the central service.
    ReleaseHeld {
        office_id: String,
        /// YYYY-MM-DD
        date: chrono::NaiveDate,
    },
    /// Change the kept settings; with no option, show them.
    Settings {
        #[arg(long, value_enum)]
        language: Option<LanguageArg>,
        #[arg(long, value_enum)]
        orientation: Option<Orientation>,
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        volume: Option<u8>,
    },
    /// Restart the daemon (it exits with code 75; systemd starts it again).
    Restart,
    /// The open officer calls from the applicants' help panel have been seen to.
    AckCalls,
}

/// The languages `maint settings --language` takes, by their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LanguageArg {
    Id,
    En,
}

impl LanguageArg {
    fn language(self) -> Language {
        match self {
            LanguageArg::Id => Language::Id,
            LanguageArg::En => Language::En,
        }
    }
}

/// Runs one `maint` command; the exit code says whether the kiosk did it.
pub fn run(args: MaintArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    if let MaintCmd::SetPin { clear } = args.command {
        return runtime.block_on(set_pin(&args.config, clear));
    }
    let config = Config::load(&args.config)?;
    let socket = config.kiosk.control_socket();
    runtime.block_on(async move {
        let mut client = Client::connect(&socket, Duration::from_secs(3)).await?;
        let out = &mut std::io::stdout();
        dispatch(&mut client, args.command, out).await
    })
}

/// One command over the socket, its answer written to `out`.
async fn dispatch(
    client: &mut Client,
    command: MaintCmd,
    out: &mut std::io::Stdout,
) -> anyhow::Result<ExitCode> {
    match command {
        MaintCmd::Status { json } => status(client, json, out).await?,
        MaintCmd::Sync => sync(client, out).await?,
        MaintCmd::Reprint { registration_id } => reprint(client, registration_id, out).await?,
        MaintCmd::Recent { limit } => recent(client, limit, out).await?,
        MaintCmd::OutOfService { reason } => out_of_service(client, &reason, out).await?,
        MaintCmd::InService => {
            let _: ServiceHold = ask(client, Command::InService, PATIENCE).await?;
            writeln!(out, "the technician's hold is lifted")?;
        }
        MaintCmd::Export { path } => export(client, path, out).await?,
        MaintCmd::Integrity => return integrity(client, out).await,
        MaintCmd::TestPrint => {
            let t: TestPrinted = ask(client, Command::TestPrint, Duration::from_secs(30)).await?;
            writeln!(out, "test page printed (printer {})", t.printer.code())?;
        }
        MaintCmd::ReadTest => read_test(client, out).await?,
        MaintCmd::Enroll { code } => enroll(client, code, out).await?,
        MaintCmd::ReleaseHeld { office_id, date } => {
            let command = Command::ReleaseHeld { office_id, date };
            let r: Released = ask(client, command, Duration::from_secs(60)).await?;
            writeln!(
                out,
                "{} numbers of {} on {} given back to the central service",
                r.released, r.office_id, r.date
            )?;
        }
        MaintCmd::Settings {
            language,
            orientation,
            volume,
        } => settings(client, language, orientation, volume, out).await?,
        MaintCmd::Restart => {
            let r: Restarting = ask(client, Command::Restart, PATIENCE).await?;
            writeln!(
                out,
                "the daemon is exiting with code {}; systemd starts it again",
                r.exit_code
            )?;
        }
        MaintCmd::AckCalls => {
            let a: Acknowledged = ask(client, Command::AcknowledgeCalls, PATIENCE).await?;
            writeln!(out, "{} open officer call(s) acknowledged", a.acknowledged)?;
        }
        MaintCmd::SetPin { .. } => unreachable!("handled before connecting"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(client: &mut Client, json: bool, out: &mut std::io::Stdout) -> anyhow::Result<()> {
    let r: Report = ask(client, Command::MaintReport, PATIENCE)
        .await
        .context("the report")?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
    } else {
        write!(out, "{}", super::report::render(&r))?;
    }
    Ok(())
}

async fn reprint(
    client: &mut Client,
    registration_id: Option<String>,
    out: &mut std::io::Stdout,
) -> anyhow::Result<()> {
    let r: Reprinted = ask(client, Command::Reprint { registration_id }, PATIENCE).await?;
    writeln!(
        out,
        "reprinted {} (registration {}), marked COPY",
        r.queue_number, r.reprinted
    )?;
    Ok(())
}

async fn recent(client: &mut Client, limit: u32, out: &mut std::io::Stdout) -> anyhow::Result<()> {
    let command = Command::RecentTickets { limit: Some(limit) };
    let RecentTickets { tickets } = ask(client, command, PATIENCE).await?;
    writeln!(
        out,
        "{:<8} {:<6} {:<10} {:<8} {:<20} {:<16} registration",
        "number", "office", "date", "session", "printed", "NIK"
    )?;
    for t in tickets {
        writeln!(
            out,
            "{:<8} {:<6} {:<10} {:<8} {:<20} {:<16} {}",
            t.queue_number,
            t.office_id,
            t.date,
            t.session_id,
            t.printed_at
                .map(|p| p.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "not printed".into()),
            t.masked_nik,
            t.registration_id
        )?;
    }
    Ok(())
}

async fn out_of_service(
    client: &mut Client,
    reason: &str,
    out: &mut std::io::Stdout,
) -> anyhow::Result<()> {
    let Some(reason) = HoldReason::from_code(reason) else {
        anyhow::bail!(
            "{reason:?} is not a reason: maintenance, printer_fault, reader_fault, office_closed or relocating"
        );
    };
    let _: ServiceHold = ask(client, Command::OutOfService { reason }, PATIENCE).await?;
    writeln!(
        out,
        "out of service ({}): no new bookings; applicants are told why. `apm-kiosk maint in-service` lifts it",
        reason.code()
    )?;
    Ok(())
}

async fn export(
    client: &mut Client,
    path: PathBuf,
    out: &mut std::io::Stdout,
) -> anyhow::Result<()> {
    let path = std::path::absolute(&path).unwrap_or(path);
    let w: Written = ask(client, Command::Export { path }, Duration::from_secs(120)).await?;
    writeln!(
        out,
        "diagnostics bundle written: {} ({} bytes)",
        w.path.display(),
        w.bytes
    )?;
    Ok(())
}

/// `maint integrity`: fails (exit 1) when the database is not sound.
async fn integrity(client: &mut Client, out: &mut std::io::Stdout) -> anyhow::Result<ExitCode> {
    let i: Integrity = ask(client, Command::Integrity, Duration::from_secs(120)).await?;
    writeln!(out, "database integrity: {}", i.result)?;
    Ok(if i.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn read_test(client: &mut Client, out: &mut std::io::Stdout) -> anyhow::Result<()> {
    writeln!(
        out,
        "lay a KTP on the reader within {} s ...",
        super::READ_TEST_TIMEOUT.as_secs()
    )?;
    out.flush()?;
    let patience = super::READ_TEST_TIMEOUT + Duration::from_secs(10);
    let answer: ReadTestAnswer = ask(client, Command::ReadTest, patience).await?;
    match answer {
        ReadTestAnswer::Read {
            masked_nik,
            nik_check,
            fields,
            ..
        } => writeln!(
            out,
            "card read: NIK {masked_nik} ({nik_check}), fields {}",
            fields.join(", ")
        )?,
        ReadTestAnswer::ReadFailed { problem } => {
            writeln!(out, "the read failed: {}", problem.code())?
        }
        ReadTestAnswer::TimedOut { .. } => writeln!(out, "no card read: timed_out")?,
        ReadTestAnswer::Cancelled => writeln!(out, "no card read: cancelled")?,
    }
    Ok(())
}

async fn enroll(
    client: &mut Client,
    code: String,
    out: &mut std::io::Stdout,
) -> anyhow::Result<()> {
    let e: Enrolled = ask(client, Command::Enroll { code }, Duration::from_secs(60)).await?;
    writeln!(
        out,
        "enrolled as {} for offices {}",
        e.enrolled,
        e.offices.join(", ")
    )?;
    Ok(())
}

async fn settings(
    client: &mut Client,
    language: Option<LanguageArg>,
    orientation: Option<Orientation>,
    volume: Option<u8>,
    out: &mut std::io::Stdout,
) -> anyhow::Result<()> {
    let change = SettingsChange {
        default_language: language.map(LanguageArg::language),
        orientation,
        volume,
    };
    let now: SettingsNow = ask(client, Command::SetSettings(change), PATIENCE).await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&now.settings)?)?;
    Ok(())
}

/// Sends a command and decodes its answer; a refusal becomes the error.
async fn ask<T: serde::de::DeserializeOwned>(
    client: &mut Client,
    command: Command,
    patience: Duration,
) -> anyhow::Result<T> {
    match client.ask::<T>(command, patience).await? {
        Ok(answer) => Ok(answer),
        Err(f) => anyhow::bail!("the kiosk refused: {} ({})", f.message, f.error),
    }
}

async fn sync(client: &mut Client, out: &mut std::io::Stdout) -> anyhow::Result<()> {
    let before: SyncProgress = ask(client, Command::SyncProgress, PATIENCE).await?;
    let _: SyncStarted = ask(client, Command::SyncNow, PATIENCE).await?;
    writeln!(out, "sync started; {} uploads waiting", before.uploads_left)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last_left = before.uploads_left;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let p: SyncProgress = ask(client, Command::SyncProgress, PATIENCE).await?;
        if p.uploads_left != last_left {
            last_left = p.uploads_left;
            writeln!(out, "  {last_left} uploads left")?;
        }
        if p.rounds > before.rounds && !p.round_running {
            if p.online {
                writeln!(out, "sync done: {} uploads left", p.uploads_left)?;
            } else {
                writeln!(
                    out,
                    "sync round failed: {}; {} uploads left (kept, sent later)",
                    p.last_error.as_deref().unwrap_or("-"),
                    p.uploads_left
                )?;
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("the sync round has not finished after 5 minutes");
        }
    }
}

/// Reads one PIN: from the terminal without echo (`lines` is `None`), or the next line
/// of stdin when it is not a terminal (for scripts and tests).
fn read_pin(
    prompt: &str,
    lines: Option<&mut std::io::Lines<std::io::StdinLock<'static>>>,
) -> anyhow::Result<String> {
    match lines {
        None => {
            eprint!("{prompt}");
            std::io::stderr().flush()?;
            let _quiet = NoEcho::new();
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
        Some(lines) => {
            let line = lines
                .next()
                .transpose()?
                .context("no PIN on standard input")?;
            Ok(line.trim_end_matches('\r').to_owned())
        }
    }
}

/// The terminal's echo, off while it lives.
struct NoEcho {
    saved: Option<libc::termios>,
}

impl NoEcho {
    fn new() -> NoEcho {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios struct when it returns 0.
        let saved = unsafe {
            if libc::tcgetattr(libc::STDIN_FILENO, t.as_mut_ptr()) != 0 {
                return NoEcho { saved: None };
            }
            t.assume_init()
        };
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a valid termios for the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
        NoEcho { saved: Some(saved) }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: puts back what tcgetattr gave.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}

/// `maint set-pin`: asks the PIN twice, writes its hash into the config file (comments
/// and layout kept) and tells a running daemon to read it.
async fn set_pin(path: &Path, clear: bool) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let hash = if clear {
        None
    } else {
        let mut lines = (!std::io::stdin().is_terminal()).then(|| std::io::stdin().lock().lines());
        let first = read_pin("new maintenance PIN (4 to 8 digits): ", lines.as_mut())?;
        super::pin::check_shape(&first)?;
        let second = read_pin("the same PIN again: ", lines.as_mut())?;
        if first != second {
            return Err(super::pin::PinError::Mismatch.into());
        }
        Some(
            tokio::task::spawn_blocking(move || super::pin::hash(&first))
                .await
                .context("hashing")??,
        )
    };
    let edited = super::pin::set_hash_in_config(&text, hash.as_deref())?;
    // The whole file must still be a valid configuration before it replaces the old one.
    let config = Config::from_str(&edited, path)?;
    super::pin::replace_file(path, &edited)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "{} in {}",
        if clear {
            "maintenance PIN removed: the menu cannot be opened from the screen"
        } else {
            "maintenance PIN set"
        },
        path.display()
    );
    let socket = config.kiosk.control_socket();
    match Client::connect(&socket, Duration::from_millis(500)).await {
        Ok(mut client) => {
            let _: PinReloaded = ask(&mut client, Command::ReloadPin, PATIENCE).await?;
            println!("the running kiosk has read it");
        }
        Err(_) => println!("no kiosk daemon is running: it reads the PIN when it starts"),
    }
    Ok(ExitCode::SUCCESS)
}
