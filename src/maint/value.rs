//! The figures of the maintenance report as what they are: states as [`Word`]s, counts,
//! spans and moments, a host and its delay, the numbers of a day. The touchscreen's
//! menu words each in the technician's language (`ui/pages/maint.slint`, through
//! `ui::maint`); [`Value::text`] is the English the terminal's report prints. Only what
//! a device or a service said of itself (a firmware, an error) and names (a version,
//! an id, a host) are text.

use chrono::{DateTime, NaiveDate, Utc};

use crate::disk::Space as Disk;
use crate::protocol::central::{PrinterState as WirePrinterState, ReaderState, RejectionReason};

/// One figure of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Shown as it is: a version, an id, a firmware, what a device or the service said.
    Text(String),
    Count(u64),
    /// A span of time, in seconds.
    Span(u64),
    /// A moment, shown with how long before the report it was; `None` is never.
    Time(Option<DateTime<Utc>>),
    Word(Word),
    /// The central service's host: reached in `ms`, or not, and why.
    Network {
        host: String,
        reached: Result<u64, String>,
    },
    /// The service's clock minus the kiosk's, once measured; `alert` past the limit.
    Skew {
        seconds: Option<i64>,
        alert: bool,
    },
    /// Free space, or `None` when it cannot be read.
    Space(Option<Disk>),
    /// Free numbers held for one office and day.
    Numbers {
        office_id: String,
        date: NaiveDate,
        regular: u32,
        priority: u32,
    },
    /// A booking the central service rejected: its day, number and reason.
    Rejection {
        office_id: String,
        date: NaiveDate,
        queue_number: String,
        reason: RejectionReason,
        registration_id: String,
    },
}

/// A state the report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    PrinterOk,
    PaperNearEnd,
    PaperOut,
    CoverOpen,
    PrinterOffline,
    PrinterError,
    PaperOk,
    PaperLow,
    PaperEmpty,
    CoverClosed,
    CoverOpened,
    /// The printer does not answer, so the paper or cover cannot be told.
    Unknown,
    ReaderOk,
    SamMissing,
    ReaderDisconnected,
    ReaderError,
    SamOk,
    SamAbsent,
    SamUnreported,
    /// Not reported (yet): a firmware or SAM before the reader answered.
    NotReported,
    Answering,
    NotAnswering,
    NotEnrolled,
    NoneWaiting,
}

impl Word {
    /// The word in the terminal's report: the wire's code where there is one.
    pub fn text(self) -> &'static str {
        match self {
            Word::PrinterOk | Word::PaperOk | Word::ReaderOk | Word::SamOk => "ok",
            Word::PaperNearEnd => "paper_near_end",
            Word::PaperOut => "paper_out",
            Word::CoverOpen => "cover_open",
            Word::PrinterOffline => "offline",
            Word::PrinterError | Word::ReaderError => "error",
            Word::PaperLow => "near_end",
            Word::PaperEmpty => "out",
            Word::CoverClosed => "closed",
            Word::CoverOpened => "open",
            Word::Unknown => "unknown",
            Word::SamMissing => "sam_missing",
            Word::ReaderDisconnected => "disconnected",
            Word::SamAbsent => "missing",
            Word::SamUnreported => "unreported",
            Word::NotReported => "-",
            Word::Answering => "answering (last sync round succeeded)",
            Word::NotAnswering => "not answering",
            Word::NotEnrolled => "not enrolled",
            Word::NoneWaiting => "none waiting",
        }
    }

    /// The printer's state; a state a newer daemon reports and this one does not know
    /// is not a word.
    pub fn printer(state: &WirePrinterState) -> Option<Word> {
        Some(match state {
            WirePrinterState::Ok => Word::PrinterOk,
            WirePrinterState::PaperNearEnd => Word::PaperNearEnd,
            WirePrinterState::PaperOut => Word::PaperOut,
            WirePrinterState::CoverOpen => Word::CoverOpen,
            WirePrinterState::Offline => Word::PrinterOffline,
            WirePrinterState::Error => Word::PrinterError,
            WirePrinterState::Other(_) => return None,
        })
    }

    /// The reader's state, likewise.
    pub fn reader(state: &ReaderState) -> Option<Word> {
        Some(match state {
            ReaderState::Ok => Word::ReaderOk,
            ReaderState::SamMissing => Word::SamMissing,
            ReaderState::Disconnected => Word::ReaderDisconnected,
            ReaderState::Error => Word::ReaderError,
            ReaderState::Other(_) => return None,
        })
    }
}

impl Value {
    /// A state as its word, or as the code a newer daemon sent.
    pub fn word_or_code(word: Option<Word>, code: &str) -> Value {
        word.map_or_else(|| Value::Text(code.to_owned()), Value::Word)
    }

    /// The value as the terminal's report prints it, `now` being the report's time.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Count(n) => n.to_string(),
            Value::Span(s) => span(*s),
            Value::Time(t) => when(*t, now),
            Value::Word(w) => w.text().to_owned(),
            Value::Network { host, reached } => match reached {
                Ok(ms) => format!("{host} reachable ({ms} ms)"),
                Err(e) => format!("{host} NOT reachable: {e}"),
            },
            Value::Skew { seconds, alert } => match seconds {
                Some(s) => format!("{s:+} s{}", if *alert { " (ALERT)" } else { "" }),
                None => "not measured yet".into(),
            },
            Value::Space(Some(d)) => format!(
                "{} free of {}",
                bytes(d.available_bytes),
                bytes(d.total_bytes)
            ),
            Value::Space(None) => "cannot be read".into(),
            Value::Numbers {
                office_id,
                date,
                regular,
                priority,
            } => format!("{office_id} {date}: {regular} regular, {priority} priority"),
            Value::Rejection {
                office_id,
                date,
                queue_number,
                reason,
                registration_id,
            } => format!(
                "{office_id} {date} {queue_number}: {reason}, registration {registration_id}"
            ),
        }
    }
}

/// Bytes in binary units, one decimal.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A span of time in the terminal's short units.
pub fn span(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The span from `then` to `now`, none if `then` is later.
pub fn since(then: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((now - then).num_seconds()).unwrap_or(0)
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!("{} ({} ago)", local(t), span(since(t, now))),
        None => "never".into(),
    }
}

/// A time as the technician's watch shows it: the kiosk's own time zone (the office's,
/// as the appliance sets it), with its offset so that it is never ambiguous.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}
