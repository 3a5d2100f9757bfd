//! What needs a technician's attention, as codes with their figures: the touchscreen's
//! menu words each in the technician's language and says what to do there;
//! [`Attention::text`] is the English sentence of the terminal's report and of the
//! report's `problems` on the wire, with the command line to run.

use chrono::{DateTime, Utc};

use super::value::{bytes, local, span};
use crate::flow::{Guardrail, HoldReason, HoldSource};
use crate::hardware::printer::PrinterState;
use crate::store::changes::ServiceFeature;

/// One thing that needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attention {
    /// Applicants called an officer from the help panel: `open` calls, the last at `last`.
    OfficerCalled {
        open: usize,
        last: DateTime<Utc>,
    },
    /// No bookings are taken; `by` lists who holds the kiosk.
    OutOfService {
        reason: HoldReason,
        by: Vec<HoldSource>,
    },
    DiskFull {
        free: Option<u64>,
    },
    /// The clock cannot be right; it reads `reads`.
    ClockWrong {
        reads: DateTime<Utc>,
    },
    NotEnrolled,
    /// The printer's state, when not ok.
    Printer(PrinterState),
    Unprinted(u32),
    SamMissing,
    ReaderDisconnected,
    Guardrail(Guardrail),
    /// The network is up but the service does not answer; why, as the sync last met it.
    ServiceNotAnswering {
        why: Option<String>,
    },
    NoNetwork {
        error: Option<String>,
    },
    ClockSkew {
        seconds: i64,
    },
    Undecodable(usize),
    UnreadableResults(usize),
    Rejected(usize),
    DiskLow {
        free: u64,
    },
    NoNumbersHeld,
    /// The oldest unsynced booking is this many seconds old.
    OldestUnsynced(u64),
    /// The central service answers `404` on these version 1.1 features (`cancel`,
    /// `reschedule`, `find`, `availability`, `arrivals`).
    ServiceLacksV11 {
        features: Vec<ServiceFeature>,
    },
    /// Cancels and reschedules the service refused (visits not yet past).
    ChangesRefused(usize),
    /// The oldest cancel or reschedule still waiting is this many seconds old.
    OldestChange(u64),
}

impl Attention {
    /// The terminal's sentence.
    pub fn text(&self) -> String {
        match self {
            Attention::OfficerCalled { open, last } => format!(
                "{open} officer call(s) from the help panel, the last at {}: someone may be waiting at the kiosk; acknowledge once seen to (`apm-kiosk maint ack-calls`)",
                local(*last)
            ),
            Attention::OutOfService { reason, by } => format!(
                "OUT OF SERVICE ({}; set by {}): no bookings are taken",
                reason.code(),
                by.iter().map(|s| set_by(*s)).collect::<Vec<_>>().join(", ")
            ),
            Attention::DiskFull { free } => format!(
                "disk full: {} free, the kiosk needs {} to book: free space (`journalctl --vacuum-size=100M`, old bundles, `apt-get clean`); it books again by itself",
                free.map_or_else(|| "?".to_owned(), bytes),
                bytes(crate::disk::FULL_BYTES)
            ),
            Attention::ClockWrong { reads } => format!(
                "clock wrong: the kiosk's clock reads {} (before this software's release, before the central service's last time, or over {} min off it): set it right (`timedatectl`, NTP, the RTC battery); it books again by itself",
                local(*reads),
                crate::clock::SKEW_LIMIT.num_minutes()
            ),
            Attention::NotEnrolled => {
                "not enrolled: run `apm-kiosk maint enroll CODE` with a code from the central office".into()
            }
            Attention::Printer(state) => state.advice().unwrap_or("printer fault").to_owned(),
            Attention::Unprinted(n) => format!(
                "{n} ticket(s) not printed yet: they print by themselves, marked COPY, once the \
                 printer is ready; whoever fixes it takes them to the counter, where each \
                 applicant claims theirs with the e-KTP (the screen told them so)"
            ),
            Attention::SamMissing => {
                "card reader has no SAM: fit the security module; no card can be read".into()
            }
            Attention::ReaderDisconnected => "card reader disconnected: check its USB cable".into(),
            Attention::Guardrail(g) => format!(
                "guardrail {g}: bookings stopped until the queue reaches the central service"
            ),
            Attention::ServiceNotAnswering { why } => format!(
                "central service not answering (network is up): {}",
                why.as_deref().unwrap_or("no round has finished yet")
            ),
            Attention::NoNetwork { error } => format!(
                "no network to the central service ({}): bookings are kept and sent later",
                error.as_deref().unwrap_or("unreachable")
            ),
            Attention::ClockSkew { seconds } => {
                format!("clock off by {seconds} s from the central service: check NTP")
            }
            Attention::Undecodable(n) => format!(
                "{n} queued registration(s) cannot be decoded: export a bundle for support"
            ),
            Attention::UnreadableResults(n) => format!(
                "{n} upload result(s) from the central service cannot be read: kept and sent again; see the log for their ids"
            ),
            Attention::Rejected(n) => format!(
                "{n} booking(s) rejected by the central service: tell the applicants at the counter"
            ),
            Attention::DiskLow { free } => format!("disk nearly full: {} free", bytes(*free)),
            Attention::NoNumbersHeld => {
                "no queue numbers held: the kiosk cannot book offline".into()
            }
            Attention::OldestUnsynced(s) => {
                format!("oldest unsynced booking is {} old", span(*s))
            }
            Attention::ServiceLacksV11 { features } => format!(
                "the central service lacks version 1.1: {}: the kiosk books as before; applicants cannot change bookings here (changes made stay queued until it has it)",
                features
                    .iter()
                    .map(|f| f.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Attention::ChangesRefused(n) => format!(
                "{n} cancel(s) or reschedule(s) refused by the central service: the service's record stands; tell the applicants at the counter"
            ),
            Attention::OldestChange(s) => format!(
                "oldest cancel or reschedule waiting for the central service is {} old",
                span(*s)
            ),
        }
    }
}

/// Who holds the kiosk out of service, in the report's words.
fn set_by(source: HoldSource) -> &'static str {
    match source {
        HoldSource::Technician => "technician",
        HoldSource::Enrollment => "enrollment",
        HoldSource::Sync => "sync",
        HoldSource::Disk => "disk",
        HoldSource::Clock => "clock",
        HoldSource::Reader => "reader",
    }
}
