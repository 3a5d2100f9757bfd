//! What the daemon reports of itself: the `status` command's [`Status`], the reader's
//! own report ([`ReaderHealth`]) and the alerts a technician must look at. The main loop
//! fills them from what it knows; the control channel, the maintenance report and the
//! heartbeat show them. Nothing here decides anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::flow::view::ScreenKind;
use crate::flow::{Guardrail, HoldReason};
use crate::hardware::printer::PrinterState;
use crate::protocol::reader::{ReaderInfo, SamStatus};
use crate::sync::SyncStatus;

/// The software's version, as the heartbeat, the report and `--version` give it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the `status` command reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub kiosk_id: Option<String>,
    pub screen: ScreenKind,
    pub out_of_service: Option<HoldReason>,
    pub printer: PrinterState,
    pub card_reader: crate::protocol::central::ReaderState,
    /// What the reader said of itself when it last answered GET_INFO.
    pub card_reader_info: Option<ReaderHealth>,
    pub store: crate::store::StoreStats,
    pub sync: SyncStatus,
    /// Control clients refused since the start (too many at once, or no descriptors).
    pub control: ControlCounts,
    pub started_at: DateTime<Utc>,
    /// What a technician must look at.
    pub alerts: Vec<Alert>,
    /// Bookings the central service rejected, with the reason (no personal data): the
    /// applicants must be told at the counter.
    pub rejections: Vec<crate::store::Rejection>,
    /// The help panel's officer calls: `total` since the start, `last_at`, and the
    /// `open` ones (not acknowledged, less than a day old).
    pub officer_calls: crate::maint::calls::CallsReport,
}

/// The reader's own report (INFO), for the maintenance side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderHealth {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub sam: Sam,
}

/// The reader's SAM as the technician reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sam {
    Ok,
    /// No card can be read until a technician fits one.
    Missing,
    Unreported,
}

impl Sam {
    /// The SAM's state as the report spells it.
    pub fn code(self) -> &'static str {
        match self {
            Sam::Ok => "ok",
            Sam::Missing => "missing",
            Sam::Unreported => "unreported",
        }
    }
}

impl From<&ReaderInfo> for ReaderHealth {
    fn from(info: &ReaderInfo) -> Self {
        ReaderHealth {
            vendor: info.vendor.clone(),
            model: info.model.clone(),
            firmware: info.firmware.clone(),
            serial: info.serial.clone(),
            sam: match info.sam {
                SamStatus::Ok => Sam::Ok,
                SamStatus::Missing => Sam::Missing,
                SamStatus::Unreported => Sam::Unreported,
            },
        }
    }
}

/// What a technician must look at, as the `status` command's `alerts` spell it:
/// `clock_skew`, `undecodable_registrations`, `unreadable_results`, `guardrail:<reason>`,
/// `sync_refused`, `control_refused`, `officer_called`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// The kiosk's clock and the service's disagree.
    ClockSkew,
    /// Queued registrations the kiosk cannot read back to send.
    UndecodableRegistrations,
    /// Uploaded registrations whose result from the service could not be read.
    UnreadableResults,
    /// The sync's guardrail stopped bookings.
    Guardrail(Guardrail),
    /// The central service refused the sync for good (a permanent refusal).
    SyncRefused,
    /// The control channel had to turn clients away (see `control` in the status).
    ControlRefused,
    /// Applicants called an officer from the help panel and no one has acknowledged it.
    OfficerCalled,
}

impl Serialize for Alert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Alert::ClockSkew => s.serialize_str("clock_skew"),
            Alert::UndecodableRegistrations => s.serialize_str("undecodable_registrations"),
            Alert::UnreadableResults => s.serialize_str("unreadable_results"),
            Alert::Guardrail(reason) => s.serialize_str(&format!("guardrail:{reason}")),
            Alert::SyncRefused => s.serialize_str("sync_refused"),
            Alert::ControlRefused => s.serialize_str("control_refused"),
            Alert::OfficerCalled => s.serialize_str("officer_called"),
        }
    }
}

/// The maintenance alerts the sync status raises.
pub fn sync_alerts(sync: &SyncStatus) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if sync.clock_alert {
        alerts.push(Alert::ClockSkew);
    }
    if !sync.undecodable.is_empty() {
        alerts.push(Alert::UndecodableRegistrations);
    }
    if !sync.unreadable_results.is_empty() {
        alerts.push(Alert::UnreadableResults);
    }
    if let Some(reason) = sync.guardrail {
        alerts.push(Alert::Guardrail(reason));
    }
    if sync.last_failure == Some(crate::sync::SyncFailure::Refused) {
        alerts.push(Alert::SyncRefused);
    }
    alerts
}

/// What the control channel had to turn away (`control::ControlHealth`), as the
/// `status` command shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCounts {
    pub refused_busy: u64,
    pub refused_no_fds: u64,
}
