//! The control channel: a Unix socket speaking JSON lines. It accepts the same intents
//! the touchscreen sends and sends every view state the screen would show, so tests, the
//! simulation and a technician over SSH drive the kiosk exactly as an applicant does.
//! The messages are documented in `deploy/control-channel.md`.
//!
//! The socket is created owner and group read/write only (0660): it shows the applicant's
//! name on the confirm screen, as the screen does, and nothing more. Those permissions
//! are also the access control of the maintenance commands sent over it (the CLI, by
//! SSH): the touchscreen asks for the maintenance PIN, the socket does not.
//!
//! This module owns the socket and the line format; what an intent does is the flow's
//! business, what a status reports is the daemon's.
//!
//! Choices where the issue and the doc are silent:
//! - A line that is not UTF-8, not JSON, or not an intent or command is answered with
//!   an error line that says which: for an intent or a command, which one and which
//!   field (`command reprint: registration_id: invalid type ...`), and the connection
//!   goes on.
//! - At most [`MAX_CLIENTS`] clients at once: one more is answered an error line and
//!   closed at once, instead of waiting unanswered. When the process is out of file
//!   descriptors the listener closes a descriptor it keeps in reserve, accepts, answers
//!   the same way and takes its reserve back, so a client is never left hanging. Both
//!   are counted in [`ControlHealth`], which the `status` command shows (with a
//!   `control_refused` alert), since a refused technician cannot see the refusal.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::flow::Intent;
use crate::maint::Failure;
use crate::maint::answer::{Answer, MaintAnswer, ReadTestAnswer, Restarting, SyncStarted};

/// Longest line the kiosk reads from a client: an intent is a few hundred bytes.
const MAX_LINE: usize = 16 * 1024;

/// Clients served at once: the screen's stand-ins, a technician or two, the tests. One
/// more is refused at once; a flood cannot take the daemon's file descriptors.
pub const MAX_CLIENTS: usize = 32;

/// What the control channel had to refuse, for the `status` command.
#[derive(Debug, Default)]
pub struct ControlHealth {
    /// Clients turned away because [`MAX_CLIENTS`] were connected.
    refused_busy: std::sync::atomic::AtomicU64,
    /// Clients turned away because the process was out of file descriptors.
    refused_no_fds: std::sync::atomic::AtomicU64,
}

impl ControlHealth {
    pub fn counts(&self) -> crate::status::ControlCounts {
        use std::sync::atomic::Ordering::Relaxed;
        crate::status::ControlCounts {
            refused_busy: self.refused_busy.load(Relaxed),
            refused_no_fds: self.refused_no_fds.load(Relaxed),
        }
    }
}

/// A request that is not an applicant's intent: asked of the daemon itself. A command
/// without arguments is a string (`{"command":"status"}`), one with arguments an
/// object named after it (`{"command":{"reprint":{"registration_id":null}}}`). The
/// maintenance commands are answered by `maint` (see `deploy/control-channel.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Counts, devices and sync state, as JSON.
    Status,
    /// Sync with the central service now instead of at the next interval.
    SyncNow,
    /// Whether a sync round is running and how many uploads are left.
    SyncProgress,
    /// Opens the maintenance menu with the PIN (counted; five wrong lock it 15 min).
    MaintUnlock { pin: crate::maint::Secret },
    /// The menu was closed (by the technician or its idle timeout).
    MaintLock,
    /// The maintenance report (`maint::Report`).
    MaintReport,
    /// SQLite's `PRAGMA integrity_check`.
    Integrity,
    /// Prints a test page (no personal data).
    TestPrint,
    /// The next card read is answered here, masked, instead of starting a session.
    ReadTest,
    /// Enrolls the kiosk with a one-time code; the sync starts at once.
    Enroll { code: String },
    /// Prints a ticket again, marked COPY; `null` for the last ticket printed.
    Reprint {
        #[serde(default)]
        registration_id: Option<String>,
    },
    /// The tickets printed last, to pick a reprint from.
    RecentTickets {
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The technician's hold on new bookings, with the reason applicants are shown.
    OutOfService { reason: crate::maint::HoldReason },
    /// Lifts the technician's hold.
    InService,
    /// Changes the kept settings (language, orientation, volume).
    SetSettings(crate::maint::SettingsChange),
    /// Gives the kiosk's free numbers for one office and day back to the central service.
    ReleaseHeld {
        office_id: String,
        date: chrono::NaiveDate,
    },
    /// Exits with [`crate::maint::RESTART_EXIT_CODE`] so that systemd starts it again.
    Restart,
    /// Writes the diagnostics bundle to a directory (a USB stick) or a file.
    Export { path: PathBuf },
    /// Reads `maint.pin_hash` again from the configuration file.
    ReloadPin,
    /// The open officer calls from the help panel have been seen to.
    AcknowledgeCalls,
}

impl Command {
    /// Who answers it. Exhaustive: a new command does not compile until it has an owner.
    pub fn route(self) -> Routed {
        use MaintCommand as M;
        Routed::Maint(match self {
            Command::Status => return Routed::Loop(LoopCommand::Status),
            Command::SyncNow => return Routed::Loop(LoopCommand::SyncNow),
            Command::ReadTest => return Routed::Loop(LoopCommand::ReadTest),
            Command::Restart => return Routed::Loop(LoopCommand::Restart),
            Command::SyncProgress => M::SyncProgress,
            Command::MaintUnlock { pin } => M::MaintUnlock { pin },
            Command::MaintLock => M::MaintLock,
            Command::MaintReport => M::MaintReport,
            Command::Integrity => M::Integrity,
            Command::TestPrint => M::TestPrint,
            Command::Enroll { code } => M::Enroll { code },
            Command::Reprint { registration_id } => M::Reprint { registration_id },
            Command::RecentTickets { limit } => M::RecentTickets { limit },
            Command::OutOfService { reason } => M::OutOfService { reason },
            Command::InService => M::InService,
            Command::SetSettings(change) => M::SetSettings(change),
            Command::ReleaseHeld { office_id, date } => M::ReleaseHeld { office_id, date },
            Command::Export { path } => M::Export { path },
            Command::ReloadPin => M::ReloadPin,
            Command::AcknowledgeCalls => M::AcknowledgeCalls,
        })
    }

    /// The command's name on the wire, as the audit shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::SyncNow => "sync_now",
            Command::SyncProgress => "sync_progress",
            Command::MaintUnlock { .. } => "maint_unlock",
            Command::MaintLock => "maint_lock",
            Command::MaintReport => "maint_report",
            Command::Integrity => "integrity",
            Command::TestPrint => "test_print",
            Command::ReadTest => "read_test",
            Command::Enroll { .. } => "enroll",
            Command::Reprint { .. } => "reprint",
            Command::RecentTickets { .. } => "recent_tickets",
            Command::OutOfService { .. } => "out_of_service",
            Command::InService => "in_service",
            Command::SetSettings(_) => "set_settings",
            Command::ReleaseHeld { .. } => "release_held",
            Command::Restart => "restart",
            Command::Export { .. } => "export",
            Command::ReloadPin => "reload_pin",
            Command::AcknowledgeCalls => "acknowledge_calls",
        }
    }
}

impl From<MaintCommand> for Command {
    fn from(c: MaintCommand) -> Command {
        use MaintCommand as M;
        match c {
            M::SyncProgress => Command::SyncProgress,
            M::MaintUnlock { pin } => Command::MaintUnlock { pin },
            M::MaintLock => Command::MaintLock,
            M::MaintReport => Command::MaintReport,
            M::Integrity => Command::Integrity,
            M::TestPrint => Command::TestPrint,
            M::Enroll { code } => Command::Enroll { code },
            M::Reprint { registration_id } => Command::Reprint { registration_id },
            M::RecentTickets { limit } => Command::RecentTickets { limit },
            M::OutOfService { reason } => Command::OutOfService { reason },
            M::InService => Command::InService,
            M::SetSettings(change) => Command::SetSettings(change),
            M::ReleaseHeld { office_id, date } => Command::ReleaseHeld { office_id, date },
            M::Export { path } => Command::Export { path },
            M::ReloadPin => Command::ReloadPin,
            M::AcknowledgeCalls => Command::AcknowledgeCalls,
        }
    }
}

/// A command with its owner known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    Loop(LoopCommand),
    Maint(MaintCommand),
}

/// The commands the daemon's main loop answers: they need what only it holds (the
/// flow's screen, the reader's events, the sync's nudge, the loop's own end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopCommand {
    Status,
    SyncNow,
    ReadTest,
    Restart,
}

/// The commands the maintenance service answers (`maint::Maint::handle`); see
/// [`Command`] for what each does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaintCommand {
    SyncProgress,
    MaintUnlock {
        pin: crate::maint::Secret,
    },
    MaintLock,
    MaintReport,
    Integrity,
    TestPrint,
    Enroll {
        code: String,
    },
    Reprint {
        registration_id: Option<String>,
    },
    RecentTickets {
        limit: Option<u32>,
    },
    OutOfService {
        reason: crate::maint::HoldReason,
    },
    InService,
    SetSettings(crate::maint::SettingsChange),
    ReleaseHeld {
        office_id: String,
        date: chrono::NaiveDate,
    },
    Export {
        path: PathBuf,
    },
    ReloadPin,
    AcknowledgeCalls,
}

/// What a command answers, whoever owns it. Serialised as the answer's own shape
/// (`untagged`), which is what `deploy/control-channel.md` documents; JSON exists only
/// at the socket, in-process front ends (the touchscreen's menu) match on this.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Status(Box<crate::status::Status>),
    SyncStarted(SyncStarted),
    Restarting(Restarting),
    ReadTest(ReadTestAnswer),
    Maint(MaintAnswer),
    Failed(Failure),
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Reply {
        match answer {
            Ok(a) => Reply::Maint(a),
            Err(f) => Reply::Failed(f),
        }
    }
}

/// One line from a client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Incoming {
    Command { command: Command },
    Intent(Intent),
}

/// A command with the way to answer it.
#[derive(Debug)]
pub struct CommandRequest {
    pub command: Command,
    pub reply: oneshot::Sender<Reply>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "cannot create the control socket at {}: {error}; its directory {} must exist and be writable by the kiosk's user",
        path.display(),
        path.parent().unwrap_or(Path::new("/")).display()
    )]
    Bind { path: PathBuf, error: io::Error },
    #[error("cannot reach the kiosk's control socket at {}: {error}; is the daemon running?", path.display())]
    Connect { path: PathBuf, error: io::Error },
    #[error("control channel: {0}")]
    Io(#[from] io::Error),
    #[error("the kiosk sent a line that is not JSON: {0}")]
    BadLine(serde_json::Error),
    #[error("the kiosk's answer is not what this command answers: {0}")]
    BadAnswer(serde_json::Error),
    #[error("timed out waiting for {0}")]
    TimedOut(String),
    #[error("the kiosk closed the control channel")]
    Closed,
}

/// Binds the socket, replacing a stale one left by a crash.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let bind_err = |error| ControlError::Bind {
        path: path.to_owned(),
        error,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(bind_err)?;
    Ok(listener)
}

/// Serves clients until `shutdown` resolves. Every client gets the current view at once
/// and each new one as it comes; its intents go to `intents`, its commands to `commands`.
/// What had to be refused is counted in `health`.
pub async fn serve(
    listener: UnixListener,
    intents: mpsc::Sender<Intent>,
    commands: mpsc::Sender<CommandRequest>,
    views: watch::Receiver<Arc<String>>,
    health: Arc<ControlHealth>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    // A descriptor kept to give back when the process runs out, so that a client can
    // still be accepted and told, not left waiting.
    let mut reserve = std::fs::File::open("/dev/null").ok();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        health.refused_busy.fetch_add(1, Relaxed);
                        tracing::warn!(max = MAX_CLIENTS, "control client refused: too many clients");
                        tokio::spawn(refuse(stream, "too many control clients at once; try again later"));
                        continue;
                    };
                    let (intents, commands, views) = (intents.clone(), commands.clone(), views.clone());
                    tokio::spawn(async move {
                        serve_client(stream, intents, commands, views).await;
                        drop(slot);
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE) => {
                    health.refused_no_fds.fetch_add(1, Relaxed);
                    tracing::error!(error = %e, "control client refused: the daemon is out of file descriptors");
                    reserve = refuse_with_reserve(&listener, reserve).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Out of descriptors: the reserve is closed so that one pending client can be
/// accepted and told; then it is taken back (or a short pause, if it cannot be).
async fn refuse_with_reserve(
    listener: &UnixListener,
    reserve: Option<std::fs::File>,
) -> Option<std::fs::File> {
    drop(reserve);
    match listener.accept().await {
        Ok((stream, _)) => {
            refuse(stream, "the kiosk is out of file descriptors; see its log").await;
        }
        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
    }
    std::fs::File::open("/dev/null").ok()
}

/// Tells a client it cannot be served, and closes.
async fn refuse(mut stream: UnixStream, why: &str) {
    let line = serde_json::json!({ "type": "error", "error": why }).to_string() + "\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
}

/// One client, until it leaves.
async fn serve_client(
    stream: UnixStream,
    intents: mpsc::Sender<Intent>,
    commands: mpsc::Sender<CommandRequest>,
    views: watch::Receiver<Arc<String>>,
) {
    if let Err(e) = client(stream, intents, commands, views).await {
        tracing::debug!(error = %e, "control client left");
    }
}

/// One client: a reader loop that takes lines in order and a writer task that sends
/// views and answers. Reading never races anything in a `select!`: a half-read line
/// dropped by a cancelled read would lose an applicant's tap.
async fn client(
    stream: UnixStream,
    intents: mpsc::Sender<Intent>,
    commands: mpsc::Sender<CommandRequest>,
    views: watch::Receiver<Arc<String>>,
) -> Result<(), ControlError> {
    let (read, write) = stream.into_split();
    let (replies, replies_rx) = mpsc::channel::<String>(16);
    let writer = tokio::spawn(write_loop(write, views, replies_rx));
    let result = read_loop(read, intents, commands, replies).await;
    // The reader is done: the writer ends once it has sent what it was given.
    let _ = writer.await;
    result
}

async fn read_loop(
    read: tokio::net::unix::OwnedReadHalf,
    intents: mpsc::Sender<Intent>,
    commands: mpsc::Sender<CommandRequest>,
    replies: mpsc::Sender<String>,
) -> Result<(), ControlError> {
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            let _ = replies.send(error_line("line too long")).await;
            return Err(ControlError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "line too long",
            )));
        }
        let reply = match parse_line(&line) {
            Ok(Incoming::Intent(intent)) => {
                if intents.send(intent).await.is_err() {
                    return Ok(()); // The daemon is stopping.
                }
                continue;
            }
            Ok(Incoming::Command { command }) => {
                let (tx, rx) = oneshot::channel();
                if commands
                    .send(CommandRequest { command, reply: tx })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                // A daemon that stops before answering answers null.
                let answer = rx.await.ok();
                serde_json::json!({ "type": "status", "status": answer }).to_string()
            }
            Err(problem) => error_line(&problem),
        };
        if replies.send(reply).await.is_err() {
            return Ok(());
        }
    }
}

fn error_line(problem: &str) -> String {
    serde_json::json!({ "type": "error", "error": problem }).to_string()
}

/// One line from a client, or what is wrong with it in words a technician can act on:
/// not UTF-8, not JSON, or which intent or command and which of its fields.
pub fn parse_line(line: &[u8]) -> Result<Incoming, String> {
    let text = std::str::from_utf8(line).map_err(|e| {
        format!(
            "not UTF-8 (byte {} of the line); the channel speaks UTF-8 JSON, one object a line",
            e.valid_up_to() + 1
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(command) = value.get("command") {
        let command = command.clone();
        let name = message_name(&command);
        return serde_path_to_error::deserialize::<_, Command>(command)
            .map(|command| Incoming::Command { command })
            .map_err(|e| field_problem("command", &name, &e));
    }
    if value.get("intent").is_some() {
        let name = message_name(value.get("intent").unwrap_or(&serde_json::Value::Null));
        // An intent's fields sit beside its tag, where serde cannot say which one it
        // was: the fields sent are named instead.
        let fields: Vec<String> = value
            .as_object()
            .map(|m| m.keys().filter(|k| *k != "intent").cloned().collect())
            .unwrap_or_default();
        return serde_path_to_error::deserialize::<_, Intent>(value)
            .map(Incoming::Intent)
            .map_err(|e| match fields.as_slice() {
                [] => field_problem("intent", &name, &e),
                [one] => format!("intent {name}: {one}: {}", e.inner()),
                many => format!("intent {name}: one of {}: {}", many.join(", "), e.inner()),
            });
    }
    Err(r#"neither an intent nor a command: send {"intent":...} or {"command":...}"#.into())
}

/// The name of a command or intent as sent: the string, or an object's one key.
fn message_name(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) if m.len() == 1 => {
            m.keys().next().cloned().unwrap_or_default()
        }
        _ => "?".into(),
    }
}

/// `command reprint: registration_id: invalid type ...`: the message, the field (its
/// path without the message's own name) and what serde found wrong.
fn field_problem(
    what: &str,
    name: &str,
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> String {
    let path = e.path().to_string();
    let field = path
        .strip_prefix(name)
        .unwrap_or(&path)
        .trim_start_matches('.');
    let field = if field.is_empty() || field == "?" {
        String::new()
    } else {
        format!("{field}: ")
    };
    format!("{what} {name}: {field}{}", e.inner())
}

async fn write_loop(
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut views: watch::Receiver<Arc<String>>,
    mut replies: mpsc::Receiver<String>,
) -> Result<(), ControlError> {
    let first = views.borrow_and_update().clone();
    send_line(&mut write, &first).await?;
    loop {
        // Both are cancellation safe: whichever loses the race loses nothing.
        tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    return Ok(()); // The daemon is stopping.
                }
                let view = views.borrow_and_update().clone();
                send_line(&mut write, &view).await?;
            }
            reply = replies.recv() => match reply {
                Some(reply) => send_line(&mut write, &reply).await?,
                None => return Ok(()), // The client has gone.
            },
        }
    }
}

async fn send_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    text: &str,
) -> Result<(), ControlError> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\n").await?;
    Ok(())
}

/// The JSON line the kiosk sends for a view.
pub fn view_line(view: &crate::flow::view::View) -> String {
    serde_json::json!({ "type": "view", "view": view }).to_string()
}

/// A client of the control channel, for tests, the simulation and field diagnostics.
pub struct Client {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
    /// The last view the kiosk sent.
    pub view: serde_json::Value,
}

impl Client {
    /// Connects, retrying until `patience` runs out (the daemon may still be starting).
    pub async fn connect(path: &Path, patience: Duration) -> Result<Client, ControlError> {
        let deadline = tokio::time::Instant::now() + patience;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(ControlError::Connect {
                        path: path.to_owned(),
                        error: e,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let (read, write) = stream.into_split();
        let mut client = Client {
            lines: BufReader::new(read).lines(),
            write,
            view: serde_json::Value::Null,
        };
        client.next_message(patience).await?;
        Ok(client)
    }

    /// The screen of the last view.
    pub fn screen(&self) -> &str {
        self.view["screen"].as_str().unwrap_or("")
    }

    pub async fn send(&mut self, intent: &Intent) -> Result<(), ControlError> {
        let line = serde_json::to_string(intent).map_err(ControlError::BadLine)?;
        send_line(&mut self.write, &line).await
    }

    /// Asks the daemon a command and returns its answer, keeping views that arrive first.
    pub async fn command(
        &mut self,
        command: Command,
        patience: Duration,
    ) -> Result<serde_json::Value, ControlError> {
        let line = serde_json::json!({ "command": command }).to_string();
        send_line(&mut self.write, &line).await?;
        loop {
            let msg = self.next_message(patience).await?;
            if msg["type"] == "status" {
                return Ok(msg["status"].clone());
            }
        }
    }

    /// Asks a command and decodes its answer as `T`, or as the [`Failure`] it came to.
    pub async fn ask<T: serde::de::DeserializeOwned>(
        &mut self,
        command: Command,
        patience: Duration,
    ) -> Result<Result<T, Failure>, ControlError> {
        let answer = self.command(command, patience).await?;
        if answer.get("error").is_some() && answer.get("message").is_some() {
            return serde_json::from_value(answer)
                .map(Err)
                .map_err(ControlError::BadAnswer);
        }
        serde_json::from_value(answer)
            .map(Ok)
            .map_err(ControlError::BadAnswer)
    }

    /// The next message; a view updates [`Client::view`].
    pub async fn next_message(
        &mut self,
        patience: Duration,
    ) -> Result<serde_json::Value, ControlError> {
        let line = tokio::time::timeout(patience, self.lines.next_line())
            .await
            .map_err(|_| ControlError::TimedOut("a message from the kiosk".into()))??
            .ok_or(ControlError::Closed)?;
        let msg: serde_json::Value = serde_json::from_str(&line).map_err(ControlError::BadLine)?;
        if msg["type"] == "view" {
            self.view = msg["view"].clone();
        }
        Ok(msg)
    }

    /// Waits until the screen is `screen` (returns at once if it already is).
    pub async fn wait_for(&mut self, screen: &str, patience: Duration) -> Result<(), ControlError> {
        self.wait_until(|v| v["screen"] == screen, screen, patience)
            .await
    }

    /// Waits until a view satisfies `pred`.
    pub async fn wait_until(
        &mut self,
        pred: impl Fn(&serde_json::Value) -> bool,
        what: &str,
        patience: Duration,
    ) -> Result<(), ControlError> {
        let deadline = tokio::time::Instant::now() + patience;
        while !pred(&self.view) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(ControlError::TimedOut(format!(
                    "screen {what} (still on {})",
                    self.screen()
                )));
            }
            match self.next_message(left).await {
                Ok(_) => {}
                Err(ControlError::TimedOut(_)) => {
                    return Err(ControlError::TimedOut(format!(
                        "screen {what} (still on {})",
                        self.screen()
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_says_what_is_wrong_and_where() {
        // (line, words the answer must hold)
        let cases: [(&[u8], &[&str]); 7] = [
            (b"{\"intent\":\"st\xffart\"}", &["not UTF-8", "byte 14"]),
            (b"{\"intent\":", &["not JSON"]),
            (b"{\"hello\":1}", &["neither an intent nor a command"]),
            (
                br#"{"command":{"reprint":{"registration_id":5}}}"#,
                &["command reprint: registration_id: invalid type: integer `5`, expected a string"],
            ),
            (
                br#"{"command":{"release_held":{"office_id":"KRM","date":"tomorrow"}}}"#,
                &["command release_held: date: "],
            ),
            (
                br#"{"command":"reboot"}"#,
                &["command reboot: unknown variant `reboot`"],
            ),
            (
                br#"{"intent":"choose_date","date":"24-11-2026"}"#,
                &["intent choose_date: date: "],
            ),
        ];
        for (line, words) in cases {
            let said = parse_line(line).expect_err("refused");
            for w in words {
                assert!(
                    said.contains(w),
                    "{}: {said}",
                    String::from_utf8_lossy(line)
                );
            }
            assert!(!said.contains("untagged"), "{said}");
        }
    }

    #[test]
    fn lines_parse_as_intents_or_commands() {
        let cases: [(&str, Incoming); 4] = [
            (r#"{"intent":"start"}"#, Incoming::Intent(Intent::Start)),
            (
                r#"{"intent":"choose_office","office_id":"KRM"}"#,
                Incoming::Intent(Intent::ChooseOffice {
                    office_id: "KRM".into(),
                }),
            ),
            (
                r#"{"intent":"enter_nik","nik":"2102015708900003"}"#,
                Incoming::Intent(Intent::EnterNik {
                    nik: "2102015708900003".into(),
                    kk: None,
                }),
            ),
            (
                r#"{"command":"status"}"#,
                Incoming::Command {
                    command: Command::Status,
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                serde_json::from_str::<Incoming>(line).expect(line),
                want,
                "{line}"
            );
        }
        let maint: [(&str, Command); 7] = [
            (r#"{"command":"sync_now"}"#, Command::SyncNow),
            (
                r#"{"command":{"reprint":{"registration_id":null}}}"#,
                Command::Reprint {
                    registration_id: None,
                },
            ),
            (
                r#"{"command":{"reprint":{}}}"#,
                Command::Reprint {
                    registration_id: None,
                },
            ),
            (
                r#"{"command":{"maint_unlock":{"pin":"482913"}}}"#,
                Command::MaintUnlock {
                    pin: crate::maint::Secret("482913".into()),
                },
            ),
            (
                r#"{"command":{"out_of_service":{"reason":"printer_fault"}}}"#,
                Command::OutOfService {
                    reason: crate::maint::HoldReason::PrinterFault,
                },
            ),
            (
                r#"{"command":{"set_settings":{"volume":40}}}"#,
                Command::SetSettings(crate::maint::SettingsChange {
                    volume: Some(40),
                    ..Default::default()
                }),
            ),
            (
                r#"{"command":{"release_held":{"office_id":"KRM","date":"2026-12-02"}}}"#,
                Command::ReleaseHeld {
                    office_id: "KRM".into(),
                    date: "2026-12-02".parse().expect("date"),
                },
            ),
        ];
        for (line, want) in maint {
            assert_eq!(
                serde_json::from_str::<Incoming>(line).expect(line),
                Incoming::Command {
                    command: want.clone()
                },
                "{line}"
            );
            // What the client sends reads back the same.
            let sent = serde_json::json!({ "command": want }).to_string();
            assert_eq!(
                serde_json::from_str::<Incoming>(&sent).expect(&sent),
                Incoming::Command { command: want },
                "{sent}"
            );
        }
        for bad in [
            r#"{"intent":"fly"}"#,
            "not json",
            r#"{"command":"reboot"}"#,
            r#"{"command":{"out_of_service":{"reason":"lunch"}}}"#,
            r#"{"command":"reprint_all"}"#,
        ] {
            assert!(serde_json::from_str::<Incoming>(bad).is_err(), "{bad}");
        }
    }

    /// One client more than [`MAX_CLIENTS`] is told at once and counted; a place
    /// freed is taken again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_past_the_limit_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("control.sock");
        let listener = bind(&path).expect("socket binds");
        let (intents_tx, _intents) = mpsc::channel(4);
        let (commands_tx, _commands) = mpsc::channel(4);
        let (_view_tx, view_rx) = watch::channel(Arc::new(String::from("{\"type\":\"view\"}")));
        let health = Arc::new(ControlHealth::default());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            intents_tx,
            commands_tx,
            view_rx,
            health.clone(),
            async {
                let _ = stop_rx.await;
            },
        ));
        let mut served = Vec::new();
        for _ in 0..MAX_CLIENTS {
            let (lines, first) = first_line(&path).await;
            assert_eq!(first["type"], "view");
            served.push(lines);
        }
        let (_extra, told) = first_line(&path).await;
        assert_eq!(told["type"], "error", "{told}");
        assert_eq!(health.counts().refused_busy, 1);
        drop(served.pop());
        // The freed place is given back as the server sees the client go.
        let mut again = None;
        for _ in 0..200 {
            let (lines, first) = first_line(&path).await;
            if first["type"] == "view" {
                again = Some(lines);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(again.is_some(), "a freed place is served again");
        let _ = stop_tx.send(());
        let _ = server.await;
    }

    /// A new client of `path` and the first line the kiosk sent it.
    async fn first_line(
        path: &Path,
    ) -> (tokio::io::Lines<BufReader<UnixStream>>, serde_json::Value) {
        let stream = UnixStream::connect(path).await.expect("connects");
        let mut lines = BufReader::new(stream).lines();
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("a line at once")
            .expect("read")
            .expect("a line");
        (lines, serde_json::from_str(&line).expect("json"))
    }

    /// A view change racing a half-read line must not lose the line: the applicant's
    /// tap would vanish. Views change every millisecond while a client sends quickly.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_intent_is_lost_while_views_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("control.sock");
        let listener = bind(&path).expect("socket binds");
        let (intents_tx, mut intents) = mpsc::channel(4096);
        let (commands_tx, _commands) = mpsc::channel(4);
        let (view_tx, view_rx) = watch::channel(Arc::new(String::from("{}")));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            intents_tx,
            commands_tx,
            view_rx,
            Arc::default(),
            async {
                let _ = stop_rx.await;
            },
        ));
        let churn = tokio::spawn(async move {
            for i in 0u64.. {
                view_tx.send_replace(Arc::new(format!(
                    "{{\"type\":\"view\",\"view\":{{\"n\":{i}}}}}"
                )));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let mut client = Client::connect(&path, Duration::from_secs(5))
            .await
            .expect("connects");
        const N: usize = 2000;
        for i in 0..N {
            let office_id = format!("OFFICE-{i}-{}", "x".repeat(i % 97));
            client
                .send(&Intent::ChooseOffice { office_id })
                .await
                .expect("sent");
        }
        for i in 0..N {
            let got = tokio::time::timeout(Duration::from_secs(10), intents.recv())
                .await
                .expect("intent arrives in time")
                .expect("channel open");
            assert_eq!(
                got,
                Intent::ChooseOffice {
                    office_id: format!("OFFICE-{i}-{}", "x".repeat(i % 97))
                },
                "intent {i}"
            );
        }
        churn.abort();
        let _ = stop_tx.send(());
        let _ = server.await;
    }
}
