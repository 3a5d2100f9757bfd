//! What each maintenance command answers, as types: the touchscreen's menu matches on
//! them, the CLI decodes the one it asked for, and the control socket serialises them to
//! exactly the JSON `deploy/control-channel.md` documents. A command's answer is built
//! here and in `service`, never as untyped JSON.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::export::Written;
use super::pin::Unlock;
use super::{Failure, HoldReason, RecentTicket, Report, Settings};
use crate::flow::CardProblem;
use crate::hardware::printer::PrinterState;
use crate::status::ReaderHealth;

/// A one-word state the wire spells as a string (`{"menu":"closed"}`).
macro_rules! word {
    ($(#[$doc:meta])* $name:ident = $variant:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            #[default]
            $variant,
        }
    };
}

word!(
    /// `maint_lock`: the menu is closed.
    Closed = Closed
);
word!(
    /// `sync_now`: the round has started.
    Started = Started
);
word!(
    /// `restart`: the daemon is exiting.
    Exiting = Exiting
);

/// `maint_lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuClosed {
    pub menu: Closed,
}

/// `sync_now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStarted {
    pub sync: Started,
}

/// `restart`: the exit code systemd sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarting {
    pub restart: Exiting,
    pub exit_code: u8,
}

/// `integrity`: SQLite's `PRAGMA integrity_check`, `ok` or what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    pub ok: bool,
    pub result: String,
}

/// `test_print`: printed, and the printer's state after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPrinted {
    pub printed: bool,
    pub printer: PrinterState,
}

/// `enroll`: the kiosk's id and the offices it books for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub enrolled: String,
    pub offices: Vec<String>,
}

/// `sync_progress`: for the menu's progress line and `maint sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub round_running: bool,
    pub rounds: u64,
    pub online: bool,
    pub uploads_left: u32,
    pub oldest_unsynced: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// `reprint`: which ticket went to the printer again, marked COPY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reprinted {
    pub reprinted: String,
    pub queue_number: String,
}

/// `recent_tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentTickets {
    pub tickets: Vec<RecentTicket>,
}

/// `out_of_service` and `in_service`: the technician's hold now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHold {
    pub out_of_service: Option<HoldReason>,
}

/// `set_settings`: the settings now kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsNow {
    pub settings: Settings,
}

/// `release_held`: numbers of one office and day given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub released: usize,
    pub office_id: String,
    pub date: NaiveDate,
}

/// `acknowledge_calls`: how many open officer calls were seen to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub acknowledged: usize,
}

/// Whether a PIN hash is configured (`reload_pin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    Set,
    None,
}

/// `reload_pin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinReloaded {
    pub pin: PinState,
}

/// `read_test`: the next card, masked, or why none came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReadTestAnswer {
    /// A card was read: its NIK masked, how it checked, which fields it carries.
    Read {
        masked_nik: String,
        nik_check: String,
        fields: Vec<String>,
        reader: Option<ReaderHealth>,
    },
    ReadFailed {
        problem: CardProblem,
    },
    TimedOut {
        after_s: u64,
    },
    Cancelled,
}

/// What the maintenance service answers, one variant per command's shape. Serialised
/// as the shape alone (`untagged`): the wire shows `{"reprinted":..}`, not a tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MaintAnswer {
    Unlock(Unlock),
    MenuClosed(MenuClosed),
    Report(Box<Report>),
    Integrity(Integrity),
    TestPrinted(TestPrinted),
    Enrolled(Enrolled),
    SyncProgress(SyncProgress),
    Reprinted(Reprinted),
    RecentTickets(RecentTickets),
    ServiceHold(ServiceHold),
    Settings(SettingsNow),
    Released(Released),
    Written(Written),
    PinReloaded(PinReloaded),
    Acknowledged(Acknowledged),
}

/// A command's outcome: its answer, or why it was not done.
pub type Answer = Result<MaintAnswer, Failure>;
