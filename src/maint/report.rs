//! The maintenance report: one serialisable struct that the touchscreen's menu and
//! `apm-kiosk maint status` both render, the list of what is wrong (worst first), and
//! its text form for the terminal. Gathering the figures is the service's job; this
//! module only shapes and words them. The report holds no personal data: rejections
//! and tickets are named by registration id and queue number only; refused cancels and
//! reschedules by their kind, refusal and visit date only.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Settings;
pub use super::attention::Attention;
use super::value::{Value, Word, local, since, span};
pub use crate::disk::Space as Disk;
use crate::flow::{Guardrail, HoldSource};
use crate::hardware::printer::PrinterState;
use crate::protocol::central::{PrinterState as WirePrinterState, ReaderState, RejectionReason};
use crate::protocol::central_v11::ChangeRefusal;
use crate::status::Sam;
use crate::store::changes::{ChangeKind, ServiceFeature};

/// Everything a technician checks at the kiosk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub version: String,
    pub kiosk_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub uptime_s: u64,
    /// The applicant flow's screen now.
    pub screen: crate::flow::view::ScreenKind,
    /// The maintenance menu is open (unlocked on the screen, not yet closed).
    pub menu_open: bool,
    pub pin_configured: bool,
    /// The reason applicants see, if the kiosk takes no bookings; `holds` says who set it.
    pub out_of_service: Option<crate::flow::HoldReason>,
    pub holds: Vec<Hold>,
    /// What is wrong, worst first, in the technician's words. Empty when all is well.
    pub problems: Vec<String>,
    pub printer: PrinterReport,
    pub reader: ReaderReport,
    pub network: NetworkReport,
    pub sync: SyncReport,
    pub queue: QueueReport,
    pub rejections: Vec<RejectionLine>,
    /// Free numbers held, per office and date.
    pub held: Vec<HeldDay>,
    /// Free space where the database lives; `None` if it cannot be read.
    pub disk: Option<Disk>,
    pub settings: Settings,
    /// The help panel's officer calls: the count, the last, those still open.
    #[serde(default)]
    pub officer_calls: super::calls::CallsReport,
    /// Cancels and reschedules: what the service lacks of version 1.1, what waits, what
    /// it refused.
    #[serde(default)]
    pub changes: ChangesReport,
}

/// The booking after it is made, as the technician needs to see it (no personal data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesReport {
    /// The version 1.1 features the central service answered `404` on, and since when.
    pub lacking: Vec<LackingFeature>,
    /// Cancels and reschedules not yet answered by the service.
    pub waiting: u32,
    pub oldest_waiting: Option<DateTime<Utc>>,
    /// Cancels and reschedules the service refused, of visits not yet past.
    pub refused: Vec<RefusedChangeLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LackingFeature {
    /// `availability`, `find`, `cancel`, `reschedule` or `arrivals` on the wire.
    pub feature: ServiceFeature,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedChangeLine {
    /// `cancel` or `reschedule` on the wire.
    pub kind: ChangeKind,
    /// The service's code (`reschedule_used`, `too_late`, `already_arrived`...).
    pub refusal: ChangeRefusal,
    pub date: NaiveDate,
    pub answered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Who set it: `technician`, `enrollment` or `sync` on the wire.
    pub source: HoldSource,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterReport {
    /// `ok`, `paper_near_end`, `paper_out`, `cover_open`, `offline`, `error`; a report
    /// from a newer daemon may carry a state this build does not know.
    pub state: WirePrinterState,
    pub paper: Paper,
    pub cover: Cover,
    /// A fault the printer reports (cutter jam, head), if any.
    pub error: Option<String>,
    pub unprinted_tickets: u32,
}

/// The paper as the printer's state tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    Ok,
    NearEnd,
    Out,
    /// The printer does not answer, or its cover is open.
    Unknown,
}

impl Paper {
    /// Its serde name, as the text report shows it.
    pub fn code(self) -> &'static str {
        match self {
            Paper::Ok => "ok",
            Paper::NearEnd => "near_end",
            Paper::Out => "out",
            Paper::Unknown => "unknown",
        }
    }
}

/// The printer's cover as its state tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cover {
    Closed,
    Open,
    /// The printer does not answer.
    Unknown,
}

impl Cover {
    /// Its serde name, as the text report shows it.
    pub fn code(self) -> &'static str {
        match self {
            Cover::Closed => "closed",
            Cover::Open => "open",
            Cover::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderReport {
    /// `ok`, `sam_missing` or `disconnected` (`error`, or a newer daemon's code, too).
    pub state: ReaderState,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// `None` before the reader has answered.
    pub sam: Option<Sam>,
}

/// Reachability: `tcp_*` is a TCP connection to the central service's host and port made
/// for this report (two seconds at most: says whether the network is there at all);
/// `sync_online` is the sync loop's last round (says whether the service answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub central_host: String,
    pub tcp_reachable: bool,
    pub tcp_ms: Option<u64>,
    pub tcp_error: Option<String>,
    pub sync_online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub enrolled: bool,
    pub round_running: bool,
    pub rounds: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The central service's clock minus the kiosk's, in seconds.
    pub clock_skew_s: Option<i64>,
    pub clock_alert: bool,
    pub guardrail: Option<Guardrail>,
    pub undecodable: usize,
    /// Uploads whose result from the service could not be read (sent again).
    #[serde(default)]
    pub unreadable_results: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Registrations not yet answered by the central service.
    pub unsynced: u32,
    pub oldest_unsynced: Option<DateTime<Utc>>,
    pub registrations: u32,
    pub accepted: u32,
    pub rejected: u32,
    pub held_free: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionLine {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub queue_number: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDay {
    pub office_id: String,
    pub date: NaiveDate,
    pub regular: u32,
    pub priority: u32,
}

/// What is wrong, worst first, in the terminal's words: the report's `problems`.
pub fn problems(r: &Report, now: DateTime<Utc>) -> Vec<String> {
    attention(r, now).iter().map(Attention::text).collect()
}

/// What is wrong, worst first: someone waiting at the kiosk, bookings stopped, then
/// devices, then the link, then what needs looking at soon. `now` is the report's time.
pub fn attention(r: &Report, now: DateTime<Utc>) -> Vec<Attention> {
    let mut out = Vec::new();
    if let Some(last) = r.officer_calls.open.last() {
        out.push(Attention::OfficerCalled {
            open: r.officer_calls.open.len(),
            last: last.at,
        });
    }
    stopped(r, &mut out);
    devices(r, &mut out);
    link(r, &mut out);
    soon(r, now, &mut out);
    out
}

/// No bookings are taken, and why.
fn stopped(r: &Report, out: &mut Vec<Attention>) {
    if let Some(reason) = r.out_of_service {
        let by = r.holds.iter().map(|h| h.source).collect();
        out.push(Attention::OutOfService { reason, by });
    }
    for hold in &r.holds {
        match hold.source {
            HoldSource::Disk => out.push(Attention::DiskFull {
                free: r.disk.map(|d| d.available_bytes),
            }),
            HoldSource::Clock => out.push(Attention::ClockWrong {
                reads: r.generated_at,
            }),
            _ => {}
        }
    }
    if !r.sync.enrolled {
        out.push(Attention::NotEnrolled);
    }
}

/// The printer and the card reader.
fn devices(r: &Report, out: &mut Vec<Attention>) {
    // A state this software does not know (a report from a newer daemon) is a fault.
    let printer = PrinterState::from_code(r.printer.state.code()).unwrap_or(PrinterState::Error);
    if printer != PrinterState::Ok {
        out.push(Attention::Printer(printer));
    }
    if r.printer.unprinted_tickets > 0 {
        out.push(Attention::Unprinted(r.printer.unprinted_tickets));
    }
    match r.reader.state {
        ReaderState::Ok => {}
        ReaderState::SamMissing => out.push(Attention::SamMissing),
        ReaderState::Disconnected | ReaderState::Error | ReaderState::Other(_) => {
            out.push(Attention::ReaderDisconnected)
        }
    }
}

/// The way to the central service: the guardrail, the network, the clock.
fn link(r: &Report, out: &mut Vec<Attention>) {
    if let Some(g) = r.sync.guardrail {
        out.push(Attention::Guardrail(g));
    }
    if r.sync.enrolled && !r.network.sync_online {
        out.push(if r.network.tcp_reachable {
            Attention::ServiceNotAnswering {
                why: r.sync.last_error.clone(),
            }
        } else {
            Attention::NoNetwork {
                error: r.network.tcp_error.clone(),
            }
        });
    }
    if r.sync.clock_alert {
        out.push(Attention::ClockSkew {
            seconds: r.sync.clock_skew_s.unwrap_or_default(),
        });
    }
}

/// What needs looking at soon.
fn soon(r: &Report, now: DateTime<Utc>, out: &mut Vec<Attention>) {
    if r.sync.undecodable > 0 {
        out.push(Attention::Undecodable(r.sync.undecodable));
    }
    if r.sync.unreadable_results > 0 {
        out.push(Attention::UnreadableResults(r.sync.unreadable_results));
    }
    if !r.rejections.is_empty() {
        out.push(Attention::Rejected(r.rejections.len()));
    }
    if let Some(d) = r.disk
        && d.is_low()
    {
        out.push(Attention::DiskLow {
            free: d.available_bytes,
        });
    }
    if r.sync.enrolled && r.queue.held_free == 0 {
        out.push(Attention::NoNumbersHeld);
    }
    if let Some(oldest) = r.queue.oldest_unsynced
        && now - oldest > chrono::TimeDelta::days(1)
    {
        out.push(Attention::OldestUnsynced(since(oldest, now)));
    }
    changes(&r.changes, now, out);
}

/// Cancels and reschedules: a service without version 1.1, refusals, changes stuck.
fn changes(c: &ChangesReport, now: DateTime<Utc>, out: &mut Vec<Attention>) {
    if !c.lacking.is_empty() {
        out.push(Attention::ServiceLacksV11 {
            features: c.lacking.iter().map(|l| l.feature).collect(),
        });
    }
    if !c.refused.is_empty() {
        out.push(Attention::ChangesRefused(c.refused.len()));
    }
    if let Some(oldest) = c.oldest_waiting
        && now - oldest > chrono::TimeDelta::days(1)
    {
        out.push(Attention::OldestChange(since(oldest, now)));
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The parts of the report, in the order the text report prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Kiosk,
    Printer,
    Reader,
    Network,
    Queue,
    /// Free numbers held, one row per office and day.
    Held,
    /// Bookings the central service rejected, one row each.
    Rejections,
    /// Cancels and reschedules: version 1.1 at the service, waiting, refused.
    Changes,
    Disk,
    /// The help panel's officer calls: the count, the last, the open ones.
    Calls,
}

impl Part {
    /// The part's heading in the text report.
    pub fn title(self) -> &'static str {
        match self {
            Part::Kiosk => "KIOSK",
            Part::Printer => "PRINTER",
            Part::Reader => "CARD READER",
            Part::Network => "NETWORK AND SYNC",
            Part::Queue => "QUEUE",
            Part::Held => "FREE NUMBERS HELD, BY OFFICE AND DAY",
            Part::Rejections => "REJECTED BY THE CENTRAL SERVICE",
            Part::Changes => "CANCELS AND RESCHEDULES",
            Part::Disk => "DISK",
            Part::Calls => "OFFICER CALLS (HELP PANEL)",
        }
    }
}

/// What a row of the report is about. The touchscreen words each in the technician's
/// language (`ui/pages/maint.slint`); [`Label::text`] is the text report's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Version,
    KioskId,
    Uptime,
    Screen,
    Service,
    Menu,
    Settings,
    Started,
    PrinterState,
    Paper,
    Cover,
    PrinterError,
    Unprinted,
    ReaderState,
    Device,
    Firmware,
    Sam,
    Network,
    CentralService,
    LastSync,
    SyncError,
    SyncRounds,
    LastHeartbeat,
    ClockSkew,
    Unsynced,
    OldestUnsynced,
    Registrations,
    Rejected,
    HeldFree,
    /// One office and day's free numbers.
    Held,
    /// One rejected booking.
    Rejection,
    Disk,
    CallsTotal,
    CallsLast,
    /// One call not yet acknowledged.
    OpenCall,
    /// The version 1.1 features the service lacks.
    ServiceLacks,
    ChangesWaiting,
    OldestChange,
    /// One refused cancel or reschedule.
    RefusedChange,
}

impl Label {
    /// The label in the text report (20 characters at most, so that values align).
    pub fn text(self) -> &'static str {
        match self {
            Label::Version => "version",
            Label::KioskId => "kiosk",
            Label::Uptime => "running for",
            Label::Screen => "screen",
            Label::Service => "service",
            Label::Menu => "maintenance menu",
            Label::Settings => "settings",
            Label::Started => "started",
            Label::PrinterState | Label::ReaderState => "state",
            Label::Paper => "paper",
            Label::Cover => "cover",
            Label::PrinterError => "error",
            Label::Unprinted => "unprinted tickets",
            Label::Device => "device",
            Label::Firmware => "firmware",
            Label::Sam => "SAM",
            Label::Network => "network",
            Label::CentralService => "central service",
            Label::LastSync => "last successful sync",
            Label::SyncError => "last error",
            Label::SyncRounds => "sync rounds",
            Label::LastHeartbeat => "last heartbeat",
            Label::ClockSkew => "clock skew",
            Label::Unsynced => "unsynced",
            Label::OldestUnsynced => "oldest unsynced",
            Label::Registrations => "registrations",
            Label::Rejected => "rejected",
            Label::HeldFree => "free numbers held",
            Label::Held => "held",
            Label::Rejection => "booking",
            Label::Disk => "state directory",
            Label::CallsTotal => "since the start",
            Label::CallsLast => "last call",
            Label::OpenCall => "open since",
            Label::ServiceLacks => "service lacks",
            Label::ChangesWaiting => "waiting",
            Label::OldestChange => "oldest waiting",
            Label::RefusedChange => "refused",
        }
    }
}

/// Whether a row needs the technician's attention (the touchscreen shows it in red).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Normal,
    Attention,
}

impl Level {
    fn when(bad: bool) -> Level {
        if bad { Level::Attention } else { Level::Normal }
    }
}

/// One line of the report: what it is about and its figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: Label,
    pub value: Value,
    pub level: Level,
}

/// One part of the report with its rows; a part may have none (no rejections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub part: Part,
    pub rows: Vec<Row>,
}

fn row(label: Label, value: Value, level: Level) -> Row {
    Row {
        label,
        value,
        level,
    }
}

fn normal(label: Label, value: Value) -> Row {
    row(label, value, Level::Normal)
}

/// A row only the terminal shows: its figure is English text already.
fn text(label: Label, value: impl Into<String>) -> Row {
    normal(label, Value::Text(value.into()))
}

/// The report as sections of rows: what both `apm-kiosk maint status` and the
/// touchscreen's menu show, derived here once. The menu leaves out the rows it has no
/// words for; what is wrong ([`attention`]) is not a section.
pub fn sections(r: &Report) -> Vec<Section> {
    let section = |part, rows| Section { part, rows };
    vec![
        section(Part::Kiosk, kiosk_rows(r)),
        section(Part::Printer, printer_rows(&r.printer)),
        section(Part::Reader, reader_rows(&r.reader)),
        section(Part::Network, network_rows(r)),
        section(Part::Queue, queue_rows(r)),
        section(Part::Held, r.held.iter().map(held_row).collect()),
        section(
            Part::Rejections,
            r.rejections.iter().map(rejection_row).collect(),
        ),
        section(Part::Changes, changes_rows(&r.changes)),
        section(Part::Disk, vec![disk_row(r.disk)]),
        section(Part::Calls, calls_rows(&r.officer_calls)),
    ]
}

fn changes_rows(c: &ChangesReport) -> Vec<Row> {
    let lacking = if c.lacking.is_empty() {
        "nothing (version 1.1 answers)".to_owned()
    } else {
        c.lacking
            .iter()
            .map(|l| format!("{} (since {})", l.feature.code(), local(l.since)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let oldest = match c.oldest_waiting {
        Some(t) => Value::Time(Some(t)),
        None => Value::Word(Word::NoneWaiting),
    };
    let mut rows = vec![
        row(
            Label::ServiceLacks,
            Value::Text(lacking),
            Level::when(!c.lacking.is_empty()),
        ),
        normal(Label::ChangesWaiting, Value::Count(u64::from(c.waiting))),
        normal(Label::OldestChange, oldest),
    ];
    rows.extend(c.refused.iter().map(|f| {
        row(
            Label::RefusedChange,
            Value::Text(format!(
                "{} of the visit on {}: {} ({})",
                f.kind.code(),
                f.date,
                f.refusal.code(),
                local(f.answered_at)
            )),
            Level::Attention,
        )
    }));
    rows
}

fn calls_rows(c: &super::calls::CallsReport) -> Vec<Row> {
    let mut rows = vec![
        normal(Label::CallsTotal, Value::Count(c.total)),
        normal(Label::CallsLast, Value::Time(c.last_at)),
    ];
    rows.extend(c.open.iter().map(|call| {
        row(
            Label::OpenCall,
            Value::Time(Some(call.at)),
            Level::Attention,
        )
    }));
    rows
}

fn kiosk_rows(r: &Report) -> Vec<Row> {
    let service = match &r.out_of_service {
        Some(reason) => row(
            Label::Service,
            Value::Text(format!("OUT OF SERVICE: {}", reason.code())),
            Level::Attention,
        ),
        None => text(Label::Service, "taking bookings"),
    };
    let menu = format!(
        "{}, PIN {}",
        if r.menu_open { "open" } else { "closed" },
        if r.pin_configured {
            "set"
        } else {
            "not set (screen menu disabled)"
        }
    );
    let settings = format!(
        "language {:?}, {}, volume {}",
        r.settings.default_language,
        r.settings.orientation.code(),
        r.settings.volume
    )
    .to_lowercase();
    let kiosk_id = match &r.kiosk_id {
        Some(id) => Value::Text(id.clone()),
        None => Value::Word(Word::NotEnrolled),
    };
    vec![
        text(Label::Version, r.version.as_str()),
        row(Label::KioskId, kiosk_id, Level::when(r.kiosk_id.is_none())),
        normal(Label::Uptime, Value::Span(r.uptime_s)),
        text(Label::Screen, r.screen.name()),
        service,
        text(Label::Menu, menu),
        text(Label::Settings, settings),
        normal(Label::Started, Value::Time(Some(r.started_at))),
    ]
}

fn printer_rows(p: &PrinterReport) -> Vec<Row> {
    let paper = match p.paper {
        Paper::Ok => Word::PaperOk,
        Paper::NearEnd => Word::PaperLow,
        Paper::Out => Word::PaperEmpty,
        Paper::Unknown => Word::Unknown,
    };
    let cover = match p.cover {
        Cover::Closed => Word::CoverClosed,
        Cover::Open => Word::CoverOpened,
        Cover::Unknown => Word::Unknown,
    };
    let mut rows = vec![
        row(
            Label::PrinterState,
            Value::word_or_code(Word::printer(&p.state), p.state.code()),
            Level::when(p.state != WirePrinterState::Ok),
        ),
        row(
            Label::Paper,
            Value::Word(paper),
            Level::when(p.paper != Paper::Ok),
        ),
        row(
            Label::Cover,
            Value::Word(cover),
            Level::when(p.cover != Cover::Closed),
        ),
    ];
    if let Some(e) = &p.error {
        rows.push(row(
            Label::PrinterError,
            Value::Text(e.clone()),
            Level::Attention,
        ));
    }
    rows.push(row(
        Label::Unprinted,
        Value::Count(u64::from(p.unprinted_tickets)),
        Level::when(p.unprinted_tickets > 0),
    ));
    rows
}

fn reader_rows(rd: &ReaderReport) -> Vec<Row> {
    let device = format!(
        "{} {} serial {}",
        opt(&rd.vendor),
        opt(&rd.model),
        opt(&rd.serial)
    );
    let firmware = match &rd.firmware {
        Some(f) => Value::Text(f.clone()),
        None => Value::Word(Word::NotReported),
    };
    let sam = match rd.sam {
        Some(Sam::Ok) => Word::SamOk,
        Some(Sam::Missing) => Word::SamAbsent,
        Some(Sam::Unreported) => Word::SamUnreported,
        None => Word::NotReported,
    };
    vec![
        row(
            Label::ReaderState,
            Value::word_or_code(Word::reader(&rd.state), rd.state.code()),
            Level::when(rd.state != ReaderState::Ok),
        ),
        text(Label::Device, device),
        normal(Label::Firmware, firmware),
        row(
            Label::Sam,
            Value::Word(sam),
            Level::when(rd.sam.is_some_and(|s| s != Sam::Ok)),
        ),
    ]
}

fn network_rows(r: &Report) -> Vec<Row> {
    let (n, s) = (&r.network, &r.sync);
    let reached = if n.tcp_reachable {
        Ok(n.tcp_ms.unwrap_or_default())
    } else {
        Err(opt(&n.tcp_error).to_owned())
    };
    let network = Value::Network {
        host: n.central_host.clone(),
        reached,
    };
    let service = if n.sync_online {
        Word::Answering
    } else {
        Word::NotAnswering
    };
    let rounds = format!(
        "{} done{}, {} failed in a row",
        s.rounds,
        if s.round_running { ", one running" } else { "" },
        s.consecutive_failures
    );
    let skew = Value::Skew {
        seconds: s.clock_skew_s,
        alert: s.clock_alert,
    };
    let mut rows = vec![
        row(Label::Network, network, Level::when(!n.tcp_reachable)),
        row(
            Label::CentralService,
            Value::Word(service),
            Level::when(!n.sync_online),
        ),
        row(
            Label::LastSync,
            Value::Time(s.last_success),
            Level::when(s.last_success.is_none()),
        ),
    ];
    if let Some(e) = &s.last_error {
        rows.push(row(
            Label::SyncError,
            Value::Text(e.clone()),
            Level::Attention,
        ));
    }
    rows.extend([
        text(Label::SyncRounds, rounds),
        normal(Label::LastHeartbeat, Value::Time(s.last_heartbeat)),
        row(Label::ClockSkew, skew, Level::when(s.clock_alert)),
    ]);
    rows
}

fn queue_rows(r: &Report) -> Vec<Row> {
    let q = &r.queue;
    let oldest = match q.oldest_unsynced {
        Some(t) => Value::Time(Some(t)),
        None => Value::Word(Word::NoneWaiting),
    };
    vec![
        normal(Label::Unsynced, Value::Count(u64::from(q.unsynced))),
        normal(Label::OldestUnsynced, oldest),
        text(
            Label::Registrations,
            format!(
                "{} ({} accepted, {} rejected)",
                q.registrations, q.accepted, q.rejected
            ),
        ),
        row(
            Label::Rejected,
            Value::Count(u64::from(q.rejected)),
            Level::when(q.rejected > 0),
        ),
        row(
            Label::HeldFree,
            Value::Count(u64::from(q.held_free)),
            Level::when(q.held_free == 0),
        ),
    ]
}

fn held_row(h: &HeldDay) -> Row {
    normal(
        Label::Held,
        Value::Numbers {
            office_id: h.office_id.clone(),
            date: h.date,
            regular: h.regular,
            priority: h.priority,
        },
    )
}

fn rejection_row(j: &RejectionLine) -> Row {
    row(
        Label::Rejection,
        Value::Rejection {
            office_id: j.office_id.clone(),
            date: j.date,
            queue_number: j.queue_number.clone(),
            reason: RejectionReason::from_code(&j.reason),
            registration_id: j.registration_id.clone(),
        },
        Level::Attention,
    )
}

fn disk_row(disk: Option<Disk>) -> Row {
    row(
        Label::Disk,
        Value::Space(disk),
        Level::when(disk.is_some_and(|d| d.is_low())),
    )
}

/// The report as `apm-kiosk maint status` prints it: what is wrong first, then one
/// aligned section per part that has rows.
pub fn render(r: &Report) -> String {
    let now = r.generated_at;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "apm-kiosk {}  kiosk {}  up {}  at {}",
        r.version,
        r.kiosk_id.as_deref().unwrap_or("(not enrolled)"),
        span(r.uptime_s),
        local(r.generated_at)
    );
    let _ = writeln!(w);
    if r.problems.is_empty() {
        let _ = writeln!(w, "ALL OK: nothing needs attention");
    } else {
        let _ = writeln!(w, "NEEDS ATTENTION");
        for p in &r.problems {
            let _ = writeln!(w, "  ! {p}");
        }
    }
    for section in sections(r) {
        if section.rows.is_empty() {
            continue;
        }
        let _ = writeln!(w, "\n{}", section.part.title());
        for row in &section.rows {
            let _ = writeln!(w, "  {:<20} {}", row.label.text(), row.value.text(now));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::value::bytes;
    use super::*;
    use crate::domain::Language;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn healthy() -> Report {
        Report {
            generated_at: t("2026-12-01T03:00:00Z"),
            version: "0.1.0".into(),
            kiosk_id: Some("KSK-0007".into()),
            started_at: t("2026-12-01T01:00:00Z"),
            uptime_s: 7200,
            screen: crate::flow::view::ScreenKind::Idle,
            menu_open: false,
            pin_configured: true,
            out_of_service: None,
            holds: vec![],
            problems: vec![],
            printer: PrinterReport {
                state: WirePrinterState::Ok,
                paper: Paper::Ok,
                cover: Cover::Closed,
                error: None,
                unprinted_tickets: 0,
            },
            reader: ReaderReport {
                state: ReaderState::Ok,
                vendor: Some("ACME".into()),
                model: Some("KTP-1".into()),
                firmware: Some("2.1".into()),
                serial: Some("R1".into()),
                sam: Some(Sam::Ok),
            },
            network: NetworkReport {
                central_host: "127.0.0.1:8088".into(),
                tcp_reachable: true,
                tcp_ms: Some(1),
                tcp_error: None,
                sync_online: true,
            },
            sync: SyncReport {
                enrolled: true,
                round_running: false,
                rounds: 12,
                last_success: Some(t("2026-12-01T02:59:30Z")),
                last_error: None,
                consecutive_failures: 0,
                last_heartbeat: Some(t("2026-12-01T02:59:00Z")),
                clock_skew_s: Some(0),
                clock_alert: false,
                guardrail: None,
                undecodable: 0,
                unreadable_results: 0,
            },
            queue: QueueReport {
                unsynced: 0,
                oldest_unsynced: None,
                registrations: 10,
                accepted: 10,
                rejected: 0,
                held_free: 40,
            },
            rejections: vec![],
            held: vec![HeldDay {
                office_id: "KRM".into(),
                date: "2026-12-02".parse().expect("date"),
                regular: 30,
                priority: 10,
            }],
            disk: Some(Disk {
                total_bytes: 8 << 30,
                available_bytes: 5 << 30,
            }),
            settings: Settings::initial(Language::Id),
            officer_calls: Default::default(),
            changes: Default::default(),
        }
    }

    #[test]
    fn a_healthy_kiosk_has_no_problems() {
        let r = healthy();
        assert_eq!(problems(&r, r.generated_at), Vec::<String>::new());
        let text = render(&r);
        assert!(text.contains("ALL OK"), "{text}");
        assert!(text.contains("  firmware             2.1\n"), "{text}");
        assert!(text.contains("5.0 GiB free of 8.0 GiB"), "{text}");
    }

    #[test]
    fn problems_come_worst_first() {
        let mut r = healthy();
        r.printer.state = WirePrinterState::PaperOut;
        r.reader.state = ReaderState::SamMissing;
        r.out_of_service = Some(crate::flow::HoldReason::Technician(
            crate::flow::TechnicianReason::Maintenance,
        ));
        r.holds = vec![Hold {
            source: HoldSource::Technician,
            reason: "maintenance".into(),
        }];
        r.network.tcp_reachable = false;
        r.network.tcp_error = Some("connection refused".into());
        r.network.sync_online = false;
        r.sync.clock_alert = true;
        r.sync.clock_skew_s = Some(-300);
        r.disk = Some(Disk {
            total_bytes: 8 << 30,
            available_bytes: 10 << 20,
        });
        r.queue.oldest_unsynced = Some(t("2026-11-29T01:00:00Z"));
        let p = problems(&r, r.generated_at);
        let starts: Vec<&str> = p
            .iter()
            .map(|s| s.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            starts,
            ["OUT", "printer", "card", "no", "clock", "disk", "oldest"],
            "{p:#?}"
        );
        assert!(p[3].contains("connection refused"), "{}", p[3]);
        assert!(p[6].contains("2 d 2 h"), "{}", p[6]);
        r.problems = p;
        let text = render(&r);
        let attention = text.find("NEEDS ATTENTION").expect("section");
        assert!(attention < text.find("PRINTER").expect("printer section"));
    }

    #[test]
    fn the_text_report_shows_every_row_and_the_rows_say_what_needs_attention() {
        let r = healthy();
        let text = render(&r);
        for section in sections(&r) {
            let shown = text.contains(&format!("\n{}\n", section.part.title()));
            assert_eq!(shown, !section.rows.is_empty(), "{text}");
            for row in &section.rows {
                assert_eq!(row.level, Level::Normal, "{row:?}");
                let line = format!(
                    "  {:<20} {}\n",
                    row.label.text(),
                    row.value.text(r.generated_at)
                );
                assert!(text.contains(&line), "{line:?} in\n{text}");
            }
        }
        let mut bad = healthy();
        bad.printer.state = WirePrinterState::PaperOut;
        bad.printer.paper = Paper::Out;
        bad.reader.state = ReaderState::Disconnected;
        let attention: Vec<Label> = sections(&bad)
            .into_iter()
            .flat_map(|s| s.rows)
            .filter(|row| row.level == Level::Attention)
            .map(|row| row.label)
            .collect();
        assert_eq!(
            attention,
            [Label::PrinterState, Label::Paper, Label::ReaderState]
        );
    }

    #[test]
    fn a_service_without_version_1_1_and_refused_changes_are_reported_without_personal_data() {
        let mut r = healthy();
        r.changes = ChangesReport {
            lacking: vec![
                LackingFeature {
                    feature: ServiceFeature::Cancel,
                    since: t("2026-12-01T02:00:00Z"),
                },
                LackingFeature {
                    feature: ServiceFeature::Reschedule,
                    since: t("2026-12-01T02:00:00Z"),
                },
            ],
            waiting: 2,
            oldest_waiting: Some(t("2026-11-29T02:00:00Z")),
            refused: vec![RefusedChangeLine {
                kind: ChangeKind::Reschedule,
                refusal: ChangeRefusal::TooLate,
                date: NaiveDate::from_ymd_opt(2026, 12, 2).expect("date"),
                answered_at: t("2026-12-01T02:30:00Z"),
            }],
        };
        let found = attention(&r, r.generated_at);
        assert!(found.contains(&Attention::ServiceLacksV11 {
            features: vec![ServiceFeature::Cancel, ServiceFeature::Reschedule]
        }));
        assert!(found.contains(&Attention::ChangesRefused(1)));
        assert!(found.contains(&Attention::OldestChange(2 * 86_400 + 3_600)));
        let said = problems(&r, r.generated_at).join("\n");
        assert!(
            said.contains("lacks version 1.1: cancel, reschedule: the kiosk books as before"),
            "{said}"
        );
        let text = render(&r);
        assert!(text.contains("CANCELS AND RESCHEDULES"), "{text}");
        assert!(
            text.contains("reschedule of the visit on 2026-12-02: too_late"),
            "{text}"
        );
        assert!(text.contains("cancel (since"), "{text}");
        let json = serde_json::to_string(&r).expect("serialises");
        let back: Report = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.changes, r.changes);
    }

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(3 * 3600 + 120), "3 h 2 min");
    }
}
