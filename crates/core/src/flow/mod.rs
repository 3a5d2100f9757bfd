//! The kiosk session as a state machine: [`step`] takes the state, one [`Event`] and the
//! time, and returns the new state and the [`Effect`]s the shell must perform. Nothing
//! here touches a device, the database or the network: the shell performs each effect
//! and feeds its outcome back as another event, so every path (cancel, timeout, a card
//! that cannot be read, a rule that refuses, a printer that fails) is a plain function
//! call in a test.
//!
//! What a screen shows is derived from the state by [`view::view`]; the touchscreen and
//! the headless control channel render the same view and send the same [`Intent`]s.
//!
//! One session serves one group: a lead applicant and up to four family members, each
//! with their own queue number and ticket, all for the same office, date and session.
//! Each member draws on the quota of their own kind (regular or priority).
//!
//! This file holds the machine's vocabulary (state, events, intents, effects, holds,
//! problems); `step` hands each event on, `intents` answers the taps screen by screen,
//! `applicant` takes a card or a typed NIK to a confirmed member, `help` keeps the help
//! panel over any page, and `view` derives the screen.

mod applicant;
mod card;
mod changes;
mod help;
mod intents;
mod step;
pub mod view;

use applicant::*;
use changes::*;
use help::*;
pub use help::{Help, HelpContact, OFFICER_WAIT};
use intents::*;
pub use step::step;

use view::{NumberCheck, Refusal};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{DayStatus, Office};
use crate::domain::nik::{self, KkNumber, Nik, NikInfo};
use crate::domain::rules::{self, RuleViolation};
use crate::domain::{
    ApplicationType, Language, PassportType, PriorityReason, QueueKind, QueueNumber, Sex,
};

/// How long the flow waits before it warns and before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Idle time before the "are you still there?" warning.
    pub warning_after: TimeDelta,
    /// Time the warning stays up before the session is wiped.
    pub reset_after: TimeDelta,
    /// How long the done screen stays before the kiosk returns to idle by itself.
    pub done_linger: TimeDelta,
    /// Idle time before the warning while a booking's tickets did not print: the
    /// numbers and the code stay on screen this long, said on the screen, so that an
    /// applicant who goes to fetch an officer finds them still there.
    pub unprinted_linger: TimeDelta,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            warning_after: TimeDelta::seconds(60),
            reset_after: TimeDelta::seconds(20),
            done_linger: TimeDelta::seconds(20),
            unprinted_linger: TimeDelta::minutes(10),
        }
    }
}

/// Card reads that may fail in a row before the kiosk offers the keypad instead.
pub const CARD_FAILURES_BEFORE_MANUAL: u32 = 3;

/// The KTP fields the flow needs, as the card reader delivered them (still unchecked).
#[derive(Clone, PartialEq, Eq)]
pub struct CardFields {
    pub nik: String,
    pub name: String,
    pub birth_place: Option<String>,
    /// `YYYY-MM-DD` as the card has it.
    pub birth_date: String,
    /// `L` or `P`.
    pub sex: String,
    pub address: Option<String>,
}

impl std::fmt::Debug for CardFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardFields")
            .field("nik", &nik::mask(&self.nik))
            .finish_non_exhaustive()
    }
}

/// Why the reader could not give us the card, in the terms the applicant can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardProblem {
    /// No card, or it moved: lay it flat and keep it still.
    NotStill,
    /// The card is not an e-KTP.
    NotEktp,
    /// Chip authentication failed: the card may be damaged; an officer can help.
    ChipRejected,
    /// The reader timed out or failed in a way it did not explain.
    ReadFailed,
    /// The reader's security module is missing: the kiosk cannot read any card.
    ReaderFault,
    /// The card's data was damaged in transit or incomplete.
    DataCorrupt,
}

/// Where the identity of an applicant came from: the chip, or digits typed on the keypad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    Chip,
    Manual,
}

/// One applicant, checked: the NIK's structure, and for a card its birth date and sex
/// against the NIK's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub nik: Nik,
    pub kk_number: Option<KkNumber>,
    /// None for a child entered by NIK: the officer completes it from the KK.
    pub name: Option<String>,
    pub birth_place: Option<String>,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub address: Option<String>,
    pub source: IdentitySource,
}

impl std::fmt::Debug for Applicant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applicant")
            .field("nik", &self.nik)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// An applicant in the group, with what they asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub applicant: Applicant,
    pub application_type: ApplicationType,
    pub passport_type: PassportType,
    /// Declared on the details screen (pregnant, disabled); age-based reasons are derived.
    pub declared_priority: Option<PriorityReason>,
    /// What the booking will carry, checked by the rules.
    pub priority: Option<PriorityReason>,
}

impl Member {
    pub fn kind(&self) -> QueueKind {
        if self.priority.is_some() {
            QueueKind::Priority
        } else {
            QueueKind::Regular
        }
    }
}

/// Numbers this kiosk holds for one session of one day, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotCount {
    pub date: NaiveDate,
    pub session_id: String,
    pub regular: u32,
    pub priority: u32,
}

/// What the kiosk can offer at one office: the numbers it holds, per date and session,
/// and, while the central service answers, what its pool can still give on top.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Availability {
    pub office_id: String,
    pub slots: Vec<SlotCount>,
    /// The service's pool per date and session (`GET /v1/availability`), over the whole
    /// booking window; `None` when the kiosk is offline or the service does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Vec<SlotCount>>,
}

impl Availability {
    /// The numbers held for one session, or zero.
    pub fn held(&self, date: NaiveDate, session_id: &str) -> (u32, u32) {
        Self::count(&self.slots, date, session_id)
    }

    /// What the service's pool still has for one session; `None` offline.
    pub fn pooled(&self, date: NaiveDate, session_id: &str) -> Option<(u32, u32)> {
        let pool = self.pool.as_deref()?;
        Some(Self::count(pool, date, session_id))
    }

    /// The service answered: the days beyond the held numbers can be offered.
    pub fn online(&self) -> bool {
        self.pool.is_some()
    }

    fn count(slots: &[SlotCount], date: NaiveDate, session_id: &str) -> (u32, u32) {
        slots
            .iter()
            .find(|s| s.date == date && s.session_id == session_id)
            .map_or((0, 0), |s| (s.regular, s.priority))
    }
}

/// How many numbers of each kind a group needs.
pub fn needs(members: &[Member]) -> (u32, u32) {
    let priority = members.iter().filter(|m| m.priority.is_some()).count() as u32;
    (members.len() as u32 - priority, priority)
}

/// What the shell must write, in one transaction, when the applicant confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub language: Language,
    pub members: Vec<Member>,
    pub created_at: DateTime<Utc>,
}

/// One applicant's ticket, as the store committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedTicket {
    pub registration_id: String,
    pub queue_number: QueueNumber,
    /// Masked, for the done screen.
    pub masked_nik: String,
    pub name: Option<String>,
}

/// A committed booking: the group and its tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booked {
    pub group_id: String,
    /// Short code printed on every ticket of the group and shown on screen.
    pub booking_code: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub tickets: Vec<BookedTicket>,
}

/// A booking a NIK already holds, as "my booking" shows it: found in the kiosk's store,
/// or at the central service (`POST /v1/bookings/find`) for one made elsewhere.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingBooking {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub session_id: String,
    pub queue_number: QueueNumber,
    pub masked_nik: String,
    /// As the ticket prints it; none for a child whose name the officer fills in.
    pub name: Option<String>,
    /// The booking of the card's own NIK; else another member of the same group.
    pub own: bool,
    /// This kiosk holds its record: it reprints and changes it offline too. Else it was
    /// found at the service and is changed only while the service answers.
    pub here: bool,
    pub reschedules_left: u32,
    /// The group's code, for a booking of this kiosk.
    pub booking_code: Option<String>,
    /// The group, for a booking of this kiosk: its tickets print from the store.
    pub group_id: Option<String>,
    /// The QR payload the service returned, for a booking found there: a reprint prints it.
    pub ticket: Option<String>,
}

impl std::fmt::Debug for ExistingBooking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExistingBooking")
            .field("registration_id", &self.registration_id)
            .field("date", &self.date)
            .field("here", &self.here)
            .finish_non_exhaustive()
    }
}

/// The answer to [`Effect::CheckApplicant`] when the NIK already holds bookings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingsFound {
    /// The NIK's own first, then the other members of its groups.
    pub bookings: Vec<ExistingBooking>,
    /// The service answered the lookup just now: bookings found there can be changed.
    pub online: bool,
    /// The service is known to lack version 1.1 (it answered `404`): no change is sent.
    pub service_lacks_changes: bool,
}

/// Why a reprint, a cancel or a reschedule did not happen, or what the applicant must
/// know of one that did. Each has words in both languages and a way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeProblem {
    /// The booking was rescheduled once already.
    RescheduleUsed,
    /// The day before the booking's date has passed.
    TooLate,
    /// The applicant has been served at the counter.
    AlreadyArrived,
    /// The booking was cancelled (elsewhere, or before).
    Cancelled,
    /// The service knows no such booking.
    NotFound,
    /// The new number is not one this kiosk holds (it was taken back meanwhile).
    NumberNotHeld,
    /// The numbers of the session chosen went while the applicant chose.
    NumbersGone,
    /// The service lacks this feature (version 1.1).
    Unsupported,
    /// The service did not answer in time: the change is kept and sent when it does;
    /// for a booking found there, the new ticket prints when the KTP is laid again.
    NoAnswer,
    /// The kiosk could not store the change: nothing changed; an officer can help.
    StorageFailed,
    /// A refusal this kiosk has no words for: nothing changed.
    Refused,
    /// A booking made elsewhere is changed only while the service answers.
    NeedsNetwork,
    /// The booking is at an office this kiosk does not book for: its days are not here.
    OtherOffice,
}

/// What the applicant did to a booking they hold, as the done page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Reprinted,
    Rescheduled,
    Cancelled,
}

/// Why the service gave no numbers for the session chosen (`POST /v1/allocations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumbersFailure {
    /// The session's quota ran out meanwhile.
    Denied,
    /// The service did not answer within the wait: nothing was booked.
    NoAnswer,
}

/// Why a commit did not happen. The booking does not exist; the applicant chooses again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitFailure {
    /// The numbers were released or used while the applicant was choosing.
    NumbersGone,
    /// The store could not write (disk full, damaged database): the kiosk needs a technician.
    StorageFailed,
}

/// Why the tickets did not print. The booking is stored and will be reprinted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintFailure {
    PaperOut,
    CoverOpen,
    Offline,
    Failed,
}

impl PrintFailure {
    /// The failure's code, as the view and the control channel spell it.
    pub fn code(self) -> &'static str {
        match self {
            PrintFailure::PaperOut => "paper_out",
            PrintFailure::CoverOpen => "cover_open",
            PrintFailure::Offline => "offline",
            PrintFailure::Failed => "failed",
        }
    }
}

/// What the applicant (or the control channel, for them) asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Leave the idle screen.
    Start,
    SetLanguage {
        language: Language,
    },
    /// Anywhere: end the session; everything entered is wiped.
    Cancel,
    /// The answer to the inactivity warning.
    StillHere,
    /// One step back, where there is one.
    Back,
    /// Open the keypad: for the lead after repeated card failures, for a child always.
    ManualEntry,
    /// Digits typed on the keypad. `kk` is required for a child.
    EnterNik {
        nik: String,
        #[serde(default)]
        kk: Option<String>,
    },
    ConfirmIdentity,
    RejectIdentity,
    /// Open the letter keypad for the name of an applicant entered by NIK (a child, or a
    /// lead whose card could not be read): optional, offered on the confirm screen.
    TypeName,
    /// The name typed on the letter keypad; empty leaves it for the officer to fill in.
    EnterName {
        name: String,
    },
    ChooseApplicationType {
        application_type: ApplicationType,
    },
    ChoosePassportType {
        passport_type: PassportType,
    },
    DeclarePriority {
        reason: Option<PriorityReason>,
    },
    ConfirmDetails,
    /// Add a family member who has their own KTP.
    AddMemberByCard,
    /// Add a child by NIK and KK number.
    AddChild,
    /// Ask to take a member out of the group: the screen asks to confirm it.
    RemoveMember {
        index: usize,
    },
    /// Yes, take out the member asked about; `dismiss` keeps them.
    ConfirmRemoveMember,
    /// Change a member's details (application, passport, priority); on the family list
    /// `back` does this for the lead.
    EditMember {
        index: usize,
    },
    FinishMembers,
    ChooseOffice {
        office_id: String,
    },
    ChooseDate {
        date: NaiveDate,
    },
    ChooseSession {
        session_id: String,
    },
    ConfirmBooking,
    /// The way out of an error screen, and "retry" where the error offers it.
    Dismiss,
    RetryPrint,
    /// Leave the done screen.
    Finish,
    /// Anywhere: open the help panel over the page; the session stays as it is.
    Help,
    /// Close the help panel: back to the page exactly as it was.
    CloseHelp,
    /// On the help panel: call an officer to the kiosk (once each time the panel opens).
    CallOfficer,
    /// "My booking": print the booking at `index` of the list again, marked SALINAN.
    ReprintBooking {
        index: usize,
    },
    /// "My booking": move the booking at `index` to another day or session of its office,
    /// chosen on the date and session screens.
    RescheduleBooking {
        index: usize,
    },
    /// "My booking": ask to cancel the booking at `index`; the screen asks to confirm it.
    CancelBooking {
        index: usize,
    },
    /// Yes, cancel the booking asked about; `dismiss` keeps it.
    ConfirmCancelBooking,
}

/// An [`Intent`] without what it carries: what a screen offers, in the view's `actions`.
/// On the wire each is its intent's name (`"start"`, `"manual_entry"`), as
/// [`Intent::action`] pairs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    SetLanguage,
    Cancel,
    StillHere,
    Back,
    ManualEntry,
    EnterNik,
    ConfirmIdentity,
    RejectIdentity,
    TypeName,
    EnterName,
    ChooseApplicationType,
    ChoosePassportType,
    DeclarePriority,
    ConfirmDetails,
    AddMemberByCard,
    AddChild,
    RemoveMember,
    ConfirmRemoveMember,
    EditMember,
    FinishMembers,
    ChooseOffice,
    ChooseDate,
    ChooseSession,
    ConfirmBooking,
    Dismiss,
    RetryPrint,
    Finish,
    Help,
    CloseHelp,
    CallOfficer,
    ReprintBooking,
    RescheduleBooking,
    CancelBooking,
    ConfirmCancelBooking,
}

impl Intent {
    /// Which intent this is, without what it carries.
    pub fn action(&self) -> Action {
        match self {
            Intent::Start => Action::Start,
            Intent::SetLanguage { .. } => Action::SetLanguage,
            Intent::Cancel => Action::Cancel,
            Intent::StillHere => Action::StillHere,
            Intent::Back => Action::Back,
            Intent::ManualEntry => Action::ManualEntry,
            Intent::EnterNik { .. } => Action::EnterNik,
            Intent::ConfirmIdentity => Action::ConfirmIdentity,
            Intent::RejectIdentity => Action::RejectIdentity,
            Intent::TypeName => Action::TypeName,
            Intent::EnterName { .. } => Action::EnterName,
            Intent::ChooseApplicationType { .. } => Action::ChooseApplicationType,
            Intent::ChoosePassportType { .. } => Action::ChoosePassportType,
            Intent::DeclarePriority { .. } => Action::DeclarePriority,
            Intent::ConfirmDetails => Action::ConfirmDetails,
            Intent::AddMemberByCard => Action::AddMemberByCard,
            Intent::AddChild => Action::AddChild,
            Intent::RemoveMember { .. } => Action::RemoveMember,
            Intent::ConfirmRemoveMember => Action::ConfirmRemoveMember,
            Intent::EditMember { .. } => Action::EditMember,
            Intent::FinishMembers => Action::FinishMembers,
            Intent::ChooseOffice { .. } => Action::ChooseOffice,
            Intent::ChooseDate { .. } => Action::ChooseDate,
            Intent::ChooseSession { .. } => Action::ChooseSession,
            Intent::ConfirmBooking => Action::ConfirmBooking,
            Intent::Dismiss => Action::Dismiss,
            Intent::RetryPrint => Action::RetryPrint,
            Intent::Finish => Action::Finish,
            Intent::Help => Action::Help,
            Intent::CloseHelp => Action::CloseHelp,
            Intent::CallOfficer => Action::CallOfficer,
            Intent::ReprintBooking { .. } => Action::ReprintBooking,
            Intent::RescheduleBooking { .. } => Action::RescheduleBooking,
            Intent::CancelBooking { .. } => Action::CancelBooking,
            Intent::ConfirmCancelBooking => Action::ConfirmCancelBooking,
        }
    }
}

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Intent(Intent),
    CardRead(CardFields),
    CardFailed(CardProblem),
    /// The offices the kiosk may book for changed (on start and after a sync).
    CatalogChanged(Vec<Office>),
    /// The answer to [`Effect::CheckApplicant`].
    Checked(Result<(), RuleViolation>),
    /// The answer to [`Effect::CheckApplicant`] for a NIK that holds bookings: the lead
    /// sees them ("my booking"); a member is refused as before.
    BookingsFound(BookingsFound),
    /// The answer to [`Effect::RequestNumbers`]: the office's numbers counted again with
    /// those granted, or why none came.
    NumbersGranted(Result<Availability, NumbersFailure>),
    /// The answer to [`Effect::RescheduleBooking`]: the booking on its new day.
    Rescheduled(Result<ExistingBooking, ChangeProblem>),
    /// The answer to [`Effect::CancelBooking`].
    Cancelled(Result<(), ChangeProblem>),
    /// The answer to [`Effect::LoadAvailability`].
    AvailabilityLoaded(Availability),
    /// The answer to [`Effect::CommitBooking`].
    Committed(Result<Booked, CommitFailure>),
    /// The answer to [`Effect::PrintTickets`].
    Printed(Result<(), PrintFailure>),
    /// A hold on new bookings set (with the reason shown to applicants) or lifted by
    /// one part of the kiosk. The kiosk takes bookings only when no part holds it. A
    /// reason is always one of `source`'s own ([`HoldReason::source`]).
    ServiceChanged {
        source: HoldSource,
        reason: Option<HoldReason>,
    },
    /// The clock moved on (the shell sends one a second).
    Tick,
}

/// Who put the kiosk out of service. Each lifts only its own hold, so that the sync
/// catching up does not put back in service a kiosk a technician took out. The order is
/// the order of precedence of the reasons shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldSource {
    Technician,
    /// The free space on the state's file system (the daemon's `disk`).
    Disk,
    /// The clock's sanity check (the daemon's `clock`).
    Clock,
    Enrollment,
    /// The card reader: unplugged or gone.
    Reader,
    Sync,
}

/// Why the kiosk takes no new bookings. Its [`HoldReason::code`] is what the view's
/// `out_of_service` carries and the screens word in the applicant's language
/// (`deploy/control-channel.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// A technician took the kiosk out of service.
    Technician(TechnicianReason),
    /// The kiosk has no enrollment with the central service yet: `not_enrolled`.
    NotEnrolled,
    /// The sync's guardrail: bookings wait too long, or too many, for the service.
    Sync(Guardrail),
    /// Too little free space for the store to take a booking: `disk_full`.
    DiskFull,
    /// The clock cannot be right (before the software was built, before the service's
    /// last word, or far off the service's time): `clock_wrong`.
    ClockWrong,
    /// The card reader is known to be gone (unplugged, no answer): `reader_gone`.
    ReaderGone,
}

/// On the wire a hold is its code, as the view's `out_of_service` spells it.
impl Serialize for HoldReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// A hold read back from its code; an unknown code is refused.
impl<'de> Deserialize<'de> for HoldReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        HoldReason::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown hold {code:?}")))
    }
}

impl HoldReason {
    /// The hold whose [`HoldReason::code`] is `code`.
    pub fn from_code(code: &str) -> Option<HoldReason> {
        match code {
            "not_enrolled" => Some(HoldReason::NotEnrolled),
            "sync_overdue" => Some(HoldReason::Sync(Guardrail::SyncOverdue)),
            "sync_backlog" => Some(HoldReason::Sync(Guardrail::SyncBacklog)),
            "disk_full" => Some(HoldReason::DiskFull),
            "clock_wrong" => Some(HoldReason::ClockWrong),
            "reader_gone" => Some(HoldReason::ReaderGone),
            other => TechnicianReason::from_code(other).map(HoldReason::Technician),
        }
    }

    /// The part of the kiosk that sets and lifts this hold.
    pub fn source(self) -> HoldSource {
        match self {
            HoldReason::Technician(_) => HoldSource::Technician,
            HoldReason::NotEnrolled => HoldSource::Enrollment,
            HoldReason::Sync(_) => HoldSource::Sync,
            HoldReason::DiskFull => HoldSource::Disk,
            HoldReason::ClockWrong => HoldSource::Clock,
            HoldReason::ReaderGone => HoldSource::Reader,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            HoldReason::Technician(reason) => reason.code(),
            HoldReason::NotEnrolled => "not_enrolled",
            HoldReason::Sync(guardrail) => guardrail.code(),
            HoldReason::DiskFull => "disk_full",
            HoldReason::ClockWrong => "clock_wrong",
            HoldReason::ReaderGone => "reader_gone",
        }
    }
}

/// Why a technician took the kiosk out of service: the `out_of_service` command's
/// `reason`, kept in the store across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TechnicianReason {
    /// General maintenance under way.
    Maintenance,
    /// The printer is being repaired or replaced.
    PrinterFault,
    /// The card reader is being repaired or replaced.
    ReaderFault,
    /// The office is closed today (holiday, event).
    OfficeClosed,
    /// The kiosk is being moved to another place.
    Relocating,
}

impl TechnicianReason {
    pub const ALL: [TechnicianReason; 5] = [
        TechnicianReason::Maintenance,
        TechnicianReason::PrinterFault,
        TechnicianReason::ReaderFault,
        TechnicianReason::OfficeClosed,
        TechnicianReason::Relocating,
    ];

    /// Its serde name.
    pub fn code(self) -> &'static str {
        match self {
            TechnicianReason::Maintenance => "maintenance",
            TechnicianReason::PrinterFault => "printer_fault",
            TechnicianReason::ReaderFault => "reader_fault",
            TechnicianReason::OfficeClosed => "office_closed",
            TechnicianReason::Relocating => "relocating",
        }
    }

    pub fn from_code(code: &str) -> Option<TechnicianReason> {
        TechnicianReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Why the sync's guardrail stops new bookings (the daemon's `sync::planner` decides):
/// a kiosk whose bookings do not reach the central service must stop before the
/// service's view and the kiosk's drift too far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guardrail {
    /// The oldest booking the service has not answered is too old.
    SyncOverdue,
    /// Too many bookings wait for the service.
    SyncBacklog,
}

impl Guardrail {
    /// Its serde name.
    pub fn code(self) -> &'static str {
        match self {
            Guardrail::SyncOverdue => "sync_overdue",
            Guardrail::SyncBacklog => "sync_backlog",
        }
    }
}

impl std::fmt::Display for Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What the shell must do; its outcome comes back as an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Check the NIK against the kiosk's own bookings and the service's blocklist;
    /// answer with [`Event::Checked`].
    CheckApplicant { nik: Nik },
    /// Count the numbers held for an office and, while the service answers, what its
    /// pool has; answer with [`Event::AvailabilityLoaded`].
    LoadAvailability { office_id: String },
    /// Ask the service for these numbers of one session (`POST /v1/allocations`), within a
    /// bounded wait; answer with [`Event::NumbersGranted`].
    RequestNumbers {
        office_id: String,
        date: NaiveDate,
        session_id: String,
        regular: u32,
        priority: u32,
    },
    /// Move a booking to a new day and session: in the store's one transaction, its
    /// change queued for the service; answer with [`Event::Rescheduled`].
    RescheduleBooking {
        booking: ExistingBooking,
        date: NaiveDate,
        session_id: String,
        created_at: DateTime<Utc>,
    },
    /// Cancel a booking (released if never sent); answer with [`Event::Cancelled`].
    CancelBooking {
        booking: ExistingBooking,
        created_at: DateTime<Utc>,
    },
    /// Print one booking's ticket: again (`copy`, SALINAN), or new after a reschedule;
    /// answer with [`Event::Printed`].
    PrintBooking {
        booking: ExistingBooking,
        copy: bool,
    },
    /// Write the booking in one transaction; answer with [`Event::Committed`].
    CommitBooking(BookingRequest),
    /// Print every ticket of the group; answer with [`Event::Printed`].
    PrintTickets { group_id: String },
    /// The reader's beep: a good read or a refusal.
    Beep { ok: bool },
    /// A PII-free line for the audit log and the day's statistics.
    Audit { event: &'static str, detail: String },
    /// An applicant asked for an officer from the help panel on `screen`: the daemon
    /// writes the audit line, counts the call for the maintenance side and sounds what
    /// the kiosk has. Nothing comes back to the flow.
    CallOfficer { screen: view::ScreenKind },
}

/// Who the card reader or the keypad is reading for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Lead,
    Member,
    /// A child without a KTP: NIK and KK on the keypad.
    Child,
}

/// Why the keypad entry was refused, shown under the keypad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryProblem {
    /// The NIK's structure failed a check; the code says which (`nik::NikError::code`).
    NikInvalid(NumberCheck),
    KkInvalid(NumberCheck),
    KkRequired,
    /// A typed name with a character no KTP name has, or longer than one.
    NameInvalid,
}

/// Problems that stop the session's way forward; each has a way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum Problem {
    /// The NIK on the chip is not a valid NIK: the card is suspect; see an officer.
    CardNikInvalid {
        reason: NumberCheck,
    },
    /// The NIK's birth date or sex disagree with the card's: identity not valid.
    IdentityMismatch,
    /// A booking rule refuses this applicant. `until` is the first day a new
    /// registration is allowed, for the cooldown and the service's blocklist.
    Refused {
        rule: Refusal,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<NaiveDate>,
    },
    /// The applicant is already in this group.
    AlreadyInGroup,
    /// The kiosk holds no numbers at this office for the days it could book.
    NoNumbers,
    Commit {
        failure: CommitFailure,
    },
    Print {
        failure: PrintFailure,
    },
    /// A reprint, cancel or reschedule of a booking the applicant holds did not happen.
    Change {
        reason: ChangeProblem,
    },
}

/// Where [`Intent::Dismiss`] leads from an error screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WayOut {
    /// End the session.
    Idle,
    /// Back to the family list (the refused member is not added).
    Members,
    Office,
    Session,
    /// The booking is made; on to the done screen.
    Done,
    /// Back to the bookings the applicant holds.
    MyBooking,
}

/// The screen the session is on, with what only that screen needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Idle,
    /// Waiting for a card. `problem` is the last failed read, shown with what to do.
    ReadCard {
        purpose: Purpose,
        problem: Option<CardProblem>,
    },
    /// The numeric keypad.
    ManualNik {
        purpose: Purpose,
        problem: Option<EntryProblem>,
    },
    /// "Is this you?": the pending applicant, before any rule is checked.
    ConfirmIdentity {
        purpose: Purpose,
    },
    /// The letter keypad for the pending applicant's name (entered by NIK).
    NameEntry {
        purpose: Purpose,
        invalid: bool,
    },
    /// Waiting for [`Event::Checked`].
    Checking {
        purpose: Purpose,
    },
    /// Application type, passport type, declared priority for the pending applicant.
    /// `editing` is the member's place when their details are being changed.
    Details {
        purpose: Purpose,
        editing: Option<usize>,
    },
    /// The family list; `removing` is the member asked to be taken out, awaiting yes.
    Members {
        removing: Option<usize>,
    },
    Office,
    /// Waiting for [`Event::AvailabilityLoaded`].
    LoadingAvailability,
    Date {
        /// Set when the applicant tapped a day the kiosk cannot book.
        refused: Option<NaiveDate>,
    },
    Session {
        refused: Option<String>,
        /// Why the service gave no numbers for the session last chosen.
        denied: Option<NumbersFailure>,
    },
    /// Waiting for [`Event::NumbersGranted`].
    AskingNumbers,
    /// The bookings the card's NIK holds; `cancelling` is the one asked to be cancelled,
    /// awaiting yes.
    MyBooking {
        cancelling: Option<usize>,
    },
    Review,
    Committing,
    Printing,
    Done,
    Problem {
        problem: Problem,
        way_out: WayOut,
    },
}

impl Screen {
    /// The family list, asking nothing.
    pub fn members() -> Screen {
        Screen::Members { removing: None }
    }

    /// The sessions of the day chosen, nothing refused.
    pub fn session() -> Screen {
        Screen::Session {
            refused: None,
            denied: None,
        }
    }

    /// The bookings the applicant holds, asking nothing.
    pub fn my_booking() -> Screen {
        Screen::MyBooking { cancelling: None }
    }
}

/// The pending applicant and their choices, before they join the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub applicant: Applicant,
    pub application_type: Option<ApplicationType>,
    pub passport_type: Option<PassportType>,
    pub declared_priority: Option<PriorityReason>,
}

/// The state of the kiosk. Everything personal lives in `group`, `pending` and
/// `booked`, and [`Kiosk::wipe`] clears all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kiosk {
    pub screen: Screen,
    pub language: Language,
    /// The language a new session starts in (the kiosk's configured default).
    pub default_language: Language,
    pub timeouts: Timeouts,
    pub offices: Vec<Office>,
    /// Holds on new bookings, by who set them, with the reason shown to applicants.
    pub holds: std::collections::BTreeMap<HoldSource, HoldReason>,
    pub pending: Option<Pending>,
    pub members: Vec<Member>,
    pub office_id: Option<String>,
    pub availability: Option<Availability>,
    pub date: Option<NaiveDate>,
    pub session_id: Option<String>,
    pub booked: Option<Booked>,
    /// Why the booking's tickets did not print, from the printer's failure until a
    /// retry prints them: the problem and done screens then show the numbers and the
    /// code to write down, and stay.
    pub unprinted: Option<PrintFailure>,
    /// Card reads that failed in a row on the current card screen.
    pub card_failures: u32,
    pub last_input: DateTime<Utc>,
    /// When the inactivity warning went up.
    pub warned_at: Option<DateTime<Utc>>,
    /// The help panel, while it is open over the page.
    pub help: Option<Help>,
    /// Who to call where no officer is near, as the help panel shows it; the daemon
    /// sets it from its config and enrollment.
    pub help_contact: HelpContact,
    /// The bookings the lead's NIK holds, while "my booking" is open.
    pub found: Option<BookingsFound>,
    /// What is being done to one of them, by its place in `found`.
    pub change: Option<ChangeInProgress>,
    /// The last change made, for the page after it (a cancel names the number it freed).
    pub change_done: Option<(ChangeKind, QueueNumber)>,
}

/// What the applicant is doing to one of the bookings they hold, by its place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeInProgress {
    Reprint(usize),
    Reschedule(usize),
    Cancel(usize),
}

impl Kiosk {
    pub fn new(language: Language, timeouts: Timeouts, now: DateTime<Utc>) -> Kiosk {
        Kiosk {
            screen: Screen::Idle,
            language,
            default_language: language,
            timeouts,
            offices: Vec::new(),
            holds: std::collections::BTreeMap::new(),
            pending: None,
            members: Vec::new(),
            office_id: None,
            availability: None,
            date: None,
            session_id: None,
            booked: None,
            unprinted: None,
            card_failures: 0,
            last_input: now,
            warned_at: None,
            help: None,
            help_contact: HelpContact::default(),
            found: None,
            change: None,
            change_done: None,
        }
    }

    /// Back to idle with nothing of the last applicant left in memory.
    fn wipe(&mut self) {
        self.screen = Screen::Idle;
        self.language = self.default_language;
        self.pending = None;
        self.members.clear();
        self.office_id = None;
        self.availability = None;
        self.date = None;
        self.session_id = None;
        self.booked = None;
        self.unprinted = None;
        self.card_failures = 0;
        self.warned_at = None;
        self.help = None;
        self.found = None;
        self.change = None;
        self.change_done = None;
    }

    /// The booking being moved to another day, while the date and session screens are
    /// chosen for it.
    pub fn rescheduling(&self) -> Option<&ExistingBooking> {
        match self.change {
            Some(ChangeInProgress::Reschedule(i)) => self.found.as_ref()?.bookings.get(i),
            _ => None,
        }
    }

    /// How many numbers of each kind the choice needs: the group's, or one of the kind of
    /// the booking being moved.
    pub fn needs(&self) -> (u32, u32) {
        match self.rescheduling() {
            Some(b) if b.queue_number.kind == QueueKind::Priority => (0, 1),
            Some(_) => (1, 0),
            None => needs(&self.members),
        }
    }

    /// The reason shown while the kiosk takes no bookings: the first hold's.
    pub fn hold(&self) -> Option<HoldReason> {
        self.holds.values().next().copied()
    }

    pub fn office(&self) -> Option<&Office> {
        let id = self.office_id.as_deref()?;
        self.offices.iter().find(|o| o.id == id)
    }

    /// A session is under way: anything but the idle screen.
    fn session_busy(&self) -> bool {
        !matches!(self.screen, Screen::Idle)
    }
}

/// "Today" for the rules: in the zone of the office chosen, or of the first office the
/// kiosk serves (all of a kiosk's offices are near it), or UTC+7 before any is known.
fn today(state: &Kiosk, now: DateTime<Utc>) -> NaiveDate {
    match state.office().or(state.offices.first()) {
        Some(office) => office.today(now),
        None => now
            .with_timezone(&crate::domain::calendar::Zone::Wib.offset())
            .date_naive(),
    }
}

/// A date the group can book: the office is open and some session has numbers for all.
pub fn date_bookable(state: &Kiosk, date: NaiveDate, now: DateTime<Utc>) -> bool {
    let Some(office) = state.office() else {
        return false;
    };
    office.day_status(date, now) == DayStatus::Open
        && office
            .sessions
            .iter()
            .any(|s| session_bookable(state, date, &s.id, now))
}

/// A session the group can book: open for booking, not the one a booking being moved is
/// on, and enough numbers of each kind held, or held and in the service's pool while it
/// answers (the rest is then asked for).
pub fn session_bookable(
    state: &Kiosk,
    date: NaiveDate,
    session_id: &str,
    now: DateTime<Utc>,
) -> bool {
    let (Some(office), Some(avail)) = (state.office(), &state.availability) else {
        return false;
    };
    let Some(session) = office.session(session_id) else {
        return false;
    };
    if !office.session_bookable(date, session, now) || is_current(state, date, session_id) {
        return false;
    }
    let need = state.needs();
    let held = avail.held(date, session_id);
    if covers(held, need) {
        return true;
    }
    avail
        .pooled(date, session_id)
        .is_some_and(|pool| covers((held.0 + pool.0, held.1 + pool.1), need))
}

/// `have` numbers are enough for `need`, kind by kind.
pub(crate) fn covers(have: (u32, u32), need: (u32, u32)) -> bool {
    have.0 >= need.0 && have.1 >= need.1
}

/// The session a booking being moved is on now: moving it there changes nothing.
pub(crate) fn is_current(state: &Kiosk, date: NaiveDate, session_id: &str) -> bool {
    state
        .rescheduling()
        .is_some_and(|b| b.date == date && b.session_id == session_id)
}

#[cfg(test)]
mod tests;
