//! The view state: everything a screen shows, derived from the [`Kiosk`] state and the
//! time, and nothing else. The touchscreen renders it; the control channel sends it as
//! JSON. It carries codes, not sentences: closed sets of them as enums ([`ScreenKind`],
//! the [`Action`]s on offer, the [`HoldReason`], [`DayState`], [`Refusal`],
//! [`NumberCheck`]) that the JSON spells in snake_case (`"read_card"`, `"manual_entry"`,
//! `"active_booking"`), and each front end words them in the applicant's language.
//!
//! Personal data in a view is what the applicant must see to confirm it (their name,
//! birth date, a masked NIK); the full NIK never leaves the flow.

mod bookings;

pub use bookings::{ChangeDoneView, ExistingBookingView};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Serialize, Serializer};

use super::{
    Action, CARD_FAILURES_BEFORE_MANUAL, EntryProblem, HoldReason, IdentitySource, Kiosk, Member,
    NumbersFailure, Pending, PrintFailure, Problem, Purpose, Screen, WayOut, date_bookable,
    session_bookable,
};
use crate::domain::calendar::{DayStatus, Office};
use crate::domain::documents::{self, Document};
use crate::domain::nik::{KkError, NikError};
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason, QueueKind, Sex};
use crate::domain::{dates, rules};

/// What one screen shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    pub screen: ScreenKind,
    pub language: Language,
    /// The intents that do something on this screen.
    pub actions: Vec<Action>,
    /// Seconds left before the session is wiped, while the inactivity warning is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning_seconds_left: Option<i64>,
    /// Why the kiosk takes no new bookings; on the wire, the hold's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_service: Option<HoldReason>,
    /// Seconds the done page, or the numbers of a booking whose tickets did not print,
    /// stay on screen before it clears (done) or the inactivity warning comes: the
    /// countdown those screens show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stays_seconds: Option<i64>,
    /// Why the booking's tickets did not print, until a retry prints them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprinted: Option<PrintFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_problem: Option<super::CardProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_problem: Option<EntryProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub way_out: Option<WayOut>,
    /// The applicant being confirmed or detailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicant: Option<ApplicantView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<ApplicantView>,
    /// The member (their place in `members`) the family list asks to confirm taking out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removing: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<OfficeView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<DateView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionView>,
    /// The places the group needs, by kind: on the date and session screens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_needs: Option<GroupNeeds>,
    /// The choice so far (office, date, session) and, once committed, the tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<BookingView>,
    /// The help panel, while it is open over the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<HelpView>,
    /// "My booking": the bookings the card's NIK holds, each with what can be done to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bookings: Vec<ExistingBookingView>,
    /// The booking (its place in `bookings`) the page asks to confirm cancelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelling: Option<usize>,
    /// The change just made, as the page after it says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_done: Option<ChangeDoneView>,
    /// The booking being moved, while its new day and session are chosen and reviewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduling: Option<ExistingBookingView>,
    /// Why the service gave no numbers for the session last chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers_failure: Option<NumbersFailure>,
}

/// The help panel: whether an officer has been called from it, and who to call where
/// none is near.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelpView {
    pub called: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kiosk_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplicantView {
    pub name: Option<String>,
    pub masked_nik: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub source: IdentitySource,
    pub application_type: Option<ApplicationType>,
    pub passport_type: Option<PassportType>,
    pub priority: Option<PriorityReason>,
    /// The priority the applicant's age gives by itself (60 or over, under 5): shown as
    /// given, never asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_priority: Option<PriorityReason>,
    /// What this applicant brings to the counter (`domain::documents`), once the
    /// application type is chosen; empty before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfficeView {
    pub office_id: String,
    pub name: String,
    pub zone: &'static str,
}

/// A day of the booking window, with what its tile says beside the day's number: the
/// weekday and the month as numbers (the screen words them in its language, and starts
/// each month with its name), and whether it is today or tomorrow at the office.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DateView {
    pub date: NaiveDate,
    pub label: String,
    pub status: DayState,
    /// 1 for Monday to 7 for Sunday (ISO 8601).
    pub weekday: u8,
    /// 1 for January to 12 for December.
    pub month: u8,
    /// The office's today.
    pub today: bool,
    /// The day after the office's today.
    pub tomorrow: bool,
}

/// The places a group needs: one number a member, of their queue's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GroupNeeds {
    pub regular: u32,
    pub priority: u32,
}

/// Why the group cannot book a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionBlock {
    /// Too late: booking for it has closed (it ends within the same-day cut-off).
    BookingClosed,
    /// Fewer regular numbers left at this kiosk than the group's regular members.
    TooFewRegular,
    /// Fewer priority numbers left at this kiosk than the group's priority members.
    TooFewPriority,
    /// The kiosk holds too few and is offline: the service may have more.
    NeedsNetwork,
    /// The session the booking being moved is on now.
    Current,
}

/// A day of the booking window as the calendar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayState {
    Open,
    /// No numbers for the group, at this kiosk or (while it answers) at the service.
    Full,
    /// The kiosk holds too few numbers for the group and is offline: the service may
    /// have more, and the day can be booked once the network is back.
    NeedsNetwork,
    /// Not a working day.
    Closed,
    Holiday,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub session_id: String,
    /// `Sesi 1 (pagi) 08.00–10.00 WIB`: the session's name (`Office::session_name`), as
    /// the review page and the ticket say it.
    pub label: String,
    /// Numbers left: held by the kiosk, and in the service's pool while it answers.
    pub regular_left: u32,
    pub priority_left: u32,
    pub bookable: bool,
    /// Choosing it asks the service for numbers first (the kiosk holds too few).
    pub asks_service: bool,
    /// Why it is not bookable; none when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<SessionBlock>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub queue_number: String,
    pub kind: QueueKind,
    pub name: Option<String>,
    pub masked_nik: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_label: Option<String>,
    /// The session's name, as [`SessionView::label`] says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_code: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<TicketView>,
    /// Once booked: what the group brings between them, each paper once
    /// (`documents::for_group`), the list the done page shows and the tickets print.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
}

/// Which screen is up, without what only that screen holds: the view's `screen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    Idle,
    ReadCard,
    ManualNik,
    ConfirmIdentity,
    NameEntry,
    Checking,
    Details,
    Members,
    Office,
    LoadingAvailability,
    Date,
    Session,
    AskingNumbers,
    MyBooking,
    Review,
    Committing,
    Printing,
    Done,
    Problem,
}

impl ScreenKind {
    pub const ALL: [ScreenKind; 19] = [
        ScreenKind::Idle,
        ScreenKind::ReadCard,
        ScreenKind::ManualNik,
        ScreenKind::ConfirmIdentity,
        ScreenKind::NameEntry,
        ScreenKind::Checking,
        ScreenKind::Details,
        ScreenKind::Members,
        ScreenKind::Office,
        ScreenKind::LoadingAvailability,
        ScreenKind::Date,
        ScreenKind::Session,
        ScreenKind::AskingNumbers,
        ScreenKind::MyBooking,
        ScreenKind::Review,
        ScreenKind::Committing,
        ScreenKind::Printing,
        ScreenKind::Done,
        ScreenKind::Problem,
    ];

    pub fn of(screen: &Screen) -> ScreenKind {
        match screen {
            Screen::Idle => ScreenKind::Idle,
            Screen::ReadCard { .. } => ScreenKind::ReadCard,
            Screen::ManualNik { .. } => ScreenKind::ManualNik,
            Screen::ConfirmIdentity { .. } => ScreenKind::ConfirmIdentity,
            Screen::NameEntry { .. } => ScreenKind::NameEntry,
            Screen::Checking { .. } => ScreenKind::Checking,
            Screen::Details { .. } => ScreenKind::Details,
            Screen::Members { .. } => ScreenKind::Members,
            Screen::Office => ScreenKind::Office,
            Screen::LoadingAvailability => ScreenKind::LoadingAvailability,
            Screen::Date { .. } => ScreenKind::Date,
            Screen::Session { .. } => ScreenKind::Session,
            Screen::AskingNumbers => ScreenKind::AskingNumbers,
            Screen::MyBooking { .. } => ScreenKind::MyBooking,
            Screen::Review => ScreenKind::Review,
            Screen::Committing => ScreenKind::Committing,
            Screen::Printing => ScreenKind::Printing,
            Screen::Done => ScreenKind::Done,
            Screen::Problem { .. } => ScreenKind::Problem,
        }
    }

    /// The name of the screen, as the control channel and the audit log say it.
    pub fn name(self) -> &'static str {
        match self {
            ScreenKind::Idle => "idle",
            ScreenKind::ReadCard => "read_card",
            ScreenKind::ManualNik => "manual_nik",
            ScreenKind::ConfirmIdentity => "confirm_identity",
            ScreenKind::NameEntry => "name_entry",
            ScreenKind::Checking => "checking",
            ScreenKind::Details => "details",
            ScreenKind::Members => "members",
            ScreenKind::Office => "office",
            ScreenKind::LoadingAvailability => "loading_availability",
            ScreenKind::Date => "date",
            ScreenKind::Session => "session",
            ScreenKind::AskingNumbers => "asking_numbers",
            ScreenKind::MyBooking => "my_booking",
            ScreenKind::Review => "review",
            ScreenKind::Committing => "committing",
            ScreenKind::Printing => "printing",
            ScreenKind::Done => "done",
            ScreenKind::Problem => "problem",
        }
    }
}

/// On the wire a screen is its name, from the one table above.
impl Serialize for ScreenKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A screen read back from its name (the maintenance report's); an unknown name is
/// refused.
impl<'de> serde::Deserialize<'de> for ScreenKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ScreenKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown screen {name:?}")))
    }
}

/// The name of a screen, as the control channel and the audit log say it.
pub fn screen_name(screen: &Screen) -> &'static str {
    ScreenKind::of(screen).name()
}

/// The rule that refused, in [`Problem::Refused`]: the booking rules' codes
/// ([`RuleViolation::code`](crate::domain::rules::RuleViolation::code)) and the kiosk's
/// own two, for a day or a session it cannot book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    ActiveBooking,
    Cooldown,
    Blocked,
    FamilyLimit,
    GroupFull,
    PriorityNotEligible,
    DateFull,
    SessionFull,
}

/// Which check a NIK or a KK number failed: the two share their checks and their codes
/// ([`NikError::code`], [`KkError::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberCheck {
    WrongLength,
    NotDigits,
    UnknownProvince,
    RegencyZero,
    DistrictZero,
    NotADate,
    SerialZero,
}

impl From<NikError> for NumberCheck {
    fn from(e: NikError) -> NumberCheck {
        match e {
            NikError::WrongLength { .. } => NumberCheck::WrongLength,
            NikError::NotDigits => NumberCheck::NotDigits,
            NikError::UnknownProvince { .. } => NumberCheck::UnknownProvince,
            NikError::RegencyZero => NumberCheck::RegencyZero,
            NikError::DistrictZero => NumberCheck::DistrictZero,
            NikError::NotADate => NumberCheck::NotADate,
            NikError::SerialZero => NumberCheck::SerialZero,
        }
    }
}

impl From<KkError> for NumberCheck {
    fn from(e: KkError) -> NumberCheck {
        match e {
            KkError::WrongLength { .. } => NumberCheck::WrongLength,
            KkError::NotDigits => NumberCheck::NotDigits,
            KkError::UnknownProvince { .. } => NumberCheck::UnknownProvince,
            KkError::RegencyZero => NumberCheck::RegencyZero,
            KkError::DistrictZero => NumberCheck::DistrictZero,
            KkError::NotADate => NumberCheck::NotADate,
            KkError::SerialZero => NumberCheck::SerialZero,
        }
    }
}

fn applicant_view(p: &Pending, today: NaiveDate) -> ApplicantView {
    ApplicantView {
        age_priority: rules::priority_by_age(p.applicant.birth_date, today),
        name: p.applicant.name.clone(),
        masked_nik: p.applicant.nik.masked(),
        birth_date: p.applicant.birth_date,
        sex: p.applicant.sex,
        source: p.applicant.source,
        application_type: p.application_type,
        passport_type: p.passport_type,
        priority: p.declared_priority,
        documents: p
            .application_type
            .map(|t| documents::to_bring(t, p.applicant.is_child()))
            .unwrap_or_default(),
    }
}

fn member_view(m: &Member, today: NaiveDate) -> ApplicantView {
    ApplicantView {
        age_priority: rules::priority_by_age(m.applicant.birth_date, today),
        name: m.applicant.name.clone(),
        masked_nik: m.applicant.nik.masked(),
        birth_date: m.applicant.birth_date,
        sex: m.applicant.sex,
        source: m.applicant.source,
        application_type: Some(m.application_type),
        passport_type: Some(m.passport_type),
        priority: m.priority,
        documents: documents::to_bring(m.application_type, m.applicant.is_child()),
    }
}

/// Everything the screen shows now.
pub fn view(state: &Kiosk, now: DateTime<Utc>) -> View {
    let today = super::today(state, now);
    let mut v = View {
        screen: ScreenKind::of(&state.screen),
        language: state.language,
        actions: actions(state, now),
        warning_seconds_left: state.warned_at.map(|at| {
            (state.timeouts.reset_after - (now - at))
                .num_seconds()
                .max(0)
        }),
        out_of_service: state.hold(),
        stays_seconds: stays_seconds(state, now),
        unprinted: state.unprinted,
        purpose: None,
        card_problem: None,
        entry_problem: None,
        problem: None,
        way_out: None,
        applicant: state.pending.as_ref().map(|p| applicant_view(p, today)),
        members: state
            .members
            .iter()
            .map(|m| member_view(m, today))
            .collect(),
        removing: None,
        offices: Vec::new(),
        dates: Vec::new(),
        sessions: Vec::new(),
        group_needs: None,
        booking: booking_view(state),
        help: help_view(state),
        bookings: Vec::new(),
        cancelling: None,
        change_done: None,
        rescheduling: None,
        numbers_failure: None,
    };
    screen_fields(state, now, &mut v);
    help_actions(state, &mut v.actions);
    v
}

/// How long the screen stays by itself, on the screens that count it down: the done
/// page, and the screens of a booking whose tickets did not print.
fn stays_seconds(state: &Kiosk, now: DateTime<Utc>) -> Option<i64> {
    let quiet = now - state.last_input;
    let allowed = match (&state.screen, state.unprinted) {
        (Screen::Done | Screen::Problem { .. }, Some(_)) => super::step::quiet_allowed(state),
        (Screen::Done, None) => state.timeouts.done_linger,
        _ => return None,
    };
    Some((allowed - quiet).num_seconds().max(0))
}

fn help_view(state: &Kiosk) -> Option<HelpView> {
    state.help.map(|h| HelpView {
        called: h.called_at.is_some(),
        kiosk_id: state.help_contact.kiosk_id.clone(),
        phone: state.help_contact.phone.clone(),
    })
}

/// Help is offered on every screen. While its panel is open it covers the page: the
/// panel's own actions, the language and cancel (where the page has it) are on offer.
fn help_actions(state: &Kiosk, actions: &mut Vec<Action>) {
    let Some(help) = state.help else {
        actions.push(Action::Help);
        return;
    };
    let cancel = actions.contains(&Action::Cancel);
    actions.clear();
    actions.push(Action::SetLanguage);
    if cancel {
        actions.push(Action::Cancel);
    }
    actions.push(Action::CloseHelp);
    if help.called_at.is_none() {
        actions.push(Action::CallOfficer);
    }
}

/// The intents that do something on the screen now. The language can always be changed.
fn actions(state: &Kiosk, now: DateTime<Utc>) -> Vec<Action> {
    let mut actions = vec![Action::SetLanguage];
    match &state.screen {
        Screen::Idle => {
            if state.holds.is_empty() {
                actions.push(Action::Start);
            }
        }
        Screen::ReadCard { .. } => {
            actions.extend([Action::Cancel, Action::Back]);
            if state.card_failures >= CARD_FAILURES_BEFORE_MANUAL {
                actions.push(Action::ManualEntry);
            }
        }
        Screen::ManualNik { .. } => {
            actions.extend([Action::Cancel, Action::Back, Action::EnterNik])
        }
        Screen::ConfirmIdentity { .. } => {
            actions.extend([
                Action::Cancel,
                Action::ConfirmIdentity,
                Action::RejectIdentity,
            ]);
            if super::name_typable(state) {
                actions.push(Action::TypeName);
            }
        }
        Screen::NameEntry { .. } => {
            actions.extend([Action::Cancel, Action::Back, Action::EnterName])
        }
        Screen::Checking { .. } | Screen::LoadingAvailability | Screen::AskingNumbers => {
            actions.push(Action::Cancel)
        }
        Screen::MyBooking { cancelling } => {
            bookings::actions(state, cancelling.is_some(), now, &mut actions)
        }
        Screen::Details { .. } => {
            actions.extend([
                Action::Cancel,
                Action::Back,
                Action::ChooseApplicationType,
                Action::ChoosePassportType,
                Action::DeclarePriority,
            ]);
            if state
                .pending
                .as_ref()
                .is_some_and(|p| p.application_type.is_some() && p.passport_type.is_some())
            {
                actions.push(Action::ConfirmDetails);
            }
        }
        Screen::Members { removing: Some(_) } => {
            actions.extend([Action::Cancel, Action::ConfirmRemoveMember, Action::Dismiss])
        }
        Screen::Members { removing: None } => {
            actions.extend([
                Action::Cancel,
                Action::Back,
                Action::EditMember,
                Action::FinishMembers,
            ]);
            if state.members.len() < crate::domain::rules::MAX_GROUP_SIZE {
                actions.extend([Action::AddMemberByCard, Action::AddChild]);
            }
            if state.members.len() > 1 {
                actions.push(Action::RemoveMember);
            }
        }
        Screen::Office => actions.extend([Action::Cancel, Action::Back, Action::ChooseOffice]),
        Screen::Committing | Screen::Printing => {}
        Screen::Date { .. } => actions.extend([Action::Cancel, Action::Back, Action::ChooseDate]),
        Screen::Session { .. } => {
            actions.extend([Action::Cancel, Action::Back, Action::ChooseSession])
        }
        Screen::Review => actions.extend([Action::Cancel, Action::Back, Action::ConfirmBooking]),
        Screen::Done => actions.push(Action::Finish),
        Screen::Problem { problem, .. } => {
            actions.push(Action::Dismiss);
            if matches!(problem, Problem::Print { .. }) {
                actions.push(Action::RetryPrint);
            } else {
                actions.push(Action::Cancel);
            }
        }
    }
    actions
}

/// What only the screen now shows: who a card is read for, what went wrong, the choices
/// on offer. The idle screen shows nothing of a past applicant.
fn screen_fields(state: &Kiosk, now: DateTime<Utc>, v: &mut View) {
    let lang = state.language;
    match &state.screen {
        Screen::Idle => {
            v.applicant = None;
            v.members.clear();
            v.booking = None;
        }
        Screen::ReadCard { purpose, problem } => {
            v.purpose = Some(*purpose);
            v.card_problem = *problem;
        }
        Screen::ManualNik { purpose, problem } => {
            v.purpose = Some(*purpose);
            v.entry_problem = *problem;
        }
        Screen::NameEntry { purpose, invalid } => {
            v.purpose = Some(*purpose);
            v.entry_problem = invalid.then_some(EntryProblem::NameInvalid);
        }
        Screen::Members { removing } => v.removing = *removing,
        Screen::ConfirmIdentity { purpose }
        | Screen::Checking { purpose }
        | Screen::Details { purpose, .. } => v.purpose = Some(*purpose),
        Screen::Office => v.offices = state.offices.iter().map(office_view).collect(),
        Screen::Date { refused } => {
            v.dates = date_views(state, now, lang);
            v.group_needs = Some(group_needs(state));
            v.problem = refused.map(|_| refused_for(Refusal::DateFull));
        }
        Screen::Session { refused, denied } => {
            v.sessions = session_views(state, now, lang);
            v.group_needs = Some(group_needs(state));
            v.problem = refused.as_ref().map(|_| refused_for(Refusal::SessionFull));
            v.numbers_failure = *denied;
        }
        Screen::MyBooking { cancelling } => {
            v.bookings = bookings::views(state, now);
            v.cancelling = *cancelling;
        }
        Screen::Problem { problem, way_out } => {
            v.problem = Some(*problem);
            v.way_out = Some(*way_out);
        }
        Screen::LoadingAvailability
        | Screen::AskingNumbers
        | Screen::Review
        | Screen::Committing
        | Screen::Printing
        | Screen::Done => {}
    }
    v.rescheduling = state
        .rescheduling()
        .map(|b| bookings::booking_view(state, b, now));
    v.change_done = bookings::change_done(state);
}

/// The kiosk's own refusal of a day or a session tapped: it has no end date.
fn refused_for(rule: Refusal) -> Problem {
    Problem::Refused { rule, until: None }
}

fn office_view(o: &Office) -> OfficeView {
    OfficeView {
        office_id: o.id.clone(),
        name: o.name.clone(),
        zone: o.zone.label(),
    }
}

fn date_views(state: &Kiosk, now: DateTime<Utc>, lang: Language) -> Vec<DateView> {
    let Some(office) = state.office() else {
        return Vec::new();
    };
    let today = office.today(now);
    (0..=i64::from(office.booking_window_days))
        .filter_map(|offset| {
            let date = today + chrono::TimeDelta::days(offset);
            let offline = !state.availability.as_ref().is_some_and(|a| a.online());
            let status = match office.day_status(date, now) {
                DayStatus::Open if date_bookable(state, date, now) => DayState::Open,
                DayStatus::Open if offline => DayState::NeedsNetwork,
                DayStatus::Open => DayState::Full,
                DayStatus::NotWorkingDay => DayState::Closed,
                DayStatus::Holiday => DayState::Holiday,
                DayStatus::Past | DayStatus::OutsideWindow => return None,
            };
            Some(DateView {
                date,
                label: dates::long_date(date, lang),
                status,
                weekday: date.weekday().number_from_monday() as u8,
                month: date.month() as u8,
                today: offset == 0,
                tomorrow: offset == 1,
            })
        })
        .collect()
}

fn session_views(state: &Kiosk, now: DateTime<Utc>, lang: Language) -> Vec<SessionView> {
    let (Some(office), Some(date)) = (state.office(), state.date) else {
        return Vec::new();
    };
    let avail = state.availability.as_ref();
    office
        .sessions
        .iter()
        .map(|s| {
            let held = avail.map_or((0, 0), |a| a.held(date, &s.id));
            let pool = avail.and_then(|a| a.pooled(date, &s.id));
            let (regular_left, priority_left) = match pool {
                Some(p) => (held.0 + p.0, held.1 + p.1),
                None => held,
            };
            let bookable = session_bookable(state, date, &s.id, now);
            SessionView {
                asks_service: bookable && !super::covers(held, state.needs()),
                session_id: s.id.clone(),
                label: office
                    .session_name(&s.id)
                    .map(|n| n.label(lang))
                    .unwrap_or_default(),
                regular_left,
                priority_left,
                bookable,
                blocked_by: if bookable {
                    None
                } else if super::is_current(state, date, &s.id) {
                    Some(SessionBlock::Current)
                } else {
                    session_block(
                        state,
                        (regular_left, priority_left),
                        !office.session_bookable(date, s, now),
                    )
                    .map(|b| match b {
                        SessionBlock::TooFewRegular | SessionBlock::TooFewPriority
                            if pool.is_none() =>
                        {
                            SessionBlock::NeedsNetwork
                        }
                        other => other,
                    })
                },
            }
        })
        .collect()
}

fn group_needs(state: &Kiosk) -> GroupNeeds {
    let (regular, priority) = state.needs();
    GroupNeeds { regular, priority }
}

/// Why a session the flow refuses cannot be booked: too late, or too few numbers of a
/// kind the group needs (regular first). A session with numbers enough that is refused
/// anyway (no availability loaded) says nothing more.
fn session_block(state: &Kiosk, left: (u32, u32), closed: bool) -> Option<SessionBlock> {
    let need = group_needs(state);
    if closed {
        Some(SessionBlock::BookingClosed)
    } else if left.0 < need.regular {
        Some(SessionBlock::TooFewRegular)
    } else if left.1 < need.priority {
        Some(SessionBlock::TooFewPriority)
    } else {
        None
    }
}

fn booking_view(state: &Kiosk) -> Option<BookingView> {
    let lang = state.language;
    let office = state.office();
    let office_shown = office.map(office_view);
    let date = state.booked.as_ref().map(|b| b.date).or(state.date);
    let session_id = state
        .booked
        .as_ref()
        .map(|b| b.session_id.clone())
        .or(state.session_id.clone());
    let session_label = match (office, &session_id) {
        (Some(o), Some(id)) => o.session_name(id).map(|n| n.label(lang)),
        _ => None,
    };
    if office_shown.is_none() && state.booked.is_none() {
        return None;
    }
    let tickets = state
        .booked
        .as_ref()
        .map(|b| {
            b.tickets
                .iter()
                .map(|t| TicketView {
                    queue_number: t.queue_number.to_string(),
                    kind: t.queue_number.kind,
                    name: t.name.clone(),
                    masked_nik: t.masked_nik.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(BookingView {
        office: office_shown,
        date,
        date_label: date.map(|d| dates::long_date(d, lang)),
        session_label,
        booking_code: state.booked.as_ref().map(|b| b.booking_code.clone()),
        tickets,
        documents: match state.booked {
            Some(_) => documents::for_group(
                state
                    .members
                    .iter()
                    .map(|m| (m.application_type, m.applicant.is_child())),
            ),
            None => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::rules::RuleViolation;

    fn wire<T: Serialize>(value: T) -> Value {
        serde_json::to_value(value).unwrap_or_default()
    }

    #[test]
    fn codes_are_spelled_on_the_wire_as_the_control_channel_documents() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap_or_default();
        let cases = [
            (
                wire(ScreenKind::LoadingAvailability),
                json!("loading_availability"),
            ),
            (wire(DayState::Holiday), json!("holiday")),
            (
                wire(Problem::Refused {
                    rule: Refusal::Cooldown,
                    until: Some(day),
                }),
                json!({"problem": "refused", "rule": "cooldown", "until": "2026-12-10"}),
            ),
            (
                wire(Problem::Refused {
                    rule: Refusal::DateFull,
                    until: None,
                }),
                json!({"problem": "refused", "rule": "date_full"}),
            ),
            (
                wire(Problem::CardNikInvalid {
                    reason: NumberCheck::NotADate,
                }),
                json!({"problem": "card_nik_invalid", "reason": "not_a_date"}),
            ),
            (
                wire(EntryProblem::KkInvalid(NumberCheck::SerialZero)),
                json!({"kk_invalid": "serial_zero"}),
            ),
            (wire(Action::AddMemberByCard), json!("add_member_by_card")),
            (
                wire(HoldReason::Sync(crate::flow::Guardrail::SyncBacklog)),
                json!("sync_backlog"),
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_view_spells_its_actions_and_its_hold_as_codes() {
        use crate::flow::{HoldSource, TechnicianReason, Timeouts};
        let now = DateTime::<Utc>::default();
        let mut k = Kiosk::new(Language::Id, Timeouts::default(), now);
        let v = wire(view(&k, now));
        assert_eq!(v["actions"], json!(["set_language", "start", "help"]));
        assert_eq!(v.get("out_of_service"), None);
        let hold = HoldReason::Technician(TechnicianReason::OfficeClosed);
        k.holds.insert(HoldSource::Technician, hold);
        let v = wire(view(&k, now));
        assert_eq!(v["actions"], json!(["set_language", "help"]));
        assert_eq!(v["out_of_service"], json!("office_closed"));
    }

    #[test]
    fn a_screen_is_its_name() {
        for screen in [
            Screen::Idle,
            Screen::members(),
            Screen::LoadingAvailability,
            Screen::Date { refused: None },
        ] {
            let kind = ScreenKind::of(&screen);
            assert_eq!(wire(kind), json!(screen_name(&screen)));
            let back: ScreenKind = serde_json::from_value(wire(kind)).expect("reads back");
            assert_eq!(back, kind);
            assert!(ScreenKind::ALL.contains(&kind));
        }
    }

    #[test]
    fn number_checks_keep_the_nik_and_kk_codes() {
        let niks = [
            NikError::WrongLength { found: 5 },
            NikError::NotDigits,
            NikError::UnknownProvince { code: 99 },
            NikError::RegencyZero,
            NikError::DistrictZero,
            NikError::NotADate,
            NikError::SerialZero,
        ];
        for e in niks {
            assert_eq!(wire(NumberCheck::from(e)), json!(e.code()));
        }
        let kks = [
            KkError::WrongLength { found: 5 },
            KkError::NotDigits,
            KkError::UnknownProvince { code: 99 },
            KkError::RegencyZero,
            KkError::DistrictZero,
            KkError::NotADate,
            KkError::SerialZero,
        ];
        for e in kks {
            assert_eq!(wire(NumberCheck::from(e)), json!(e.code()));
        }
    }

    #[test]
    fn the_session_and_review_pages_name_a_session_alike_and_the_done_page_lists_papers() {
        use crate::domain::calendar::example_office;
        use crate::flow::{Booked, Timeouts};
        let now = DateTime::<Utc>::default();
        let mut k = Kiosk::new(Language::Id, Timeouts::default(), now);
        k.offices = vec![example_office()];
        k.office_id = Some("KRM".into());
        k.date = NaiveDate::from_ymd_opt(2026, 11, 24);
        k.screen = Screen::session();
        let v = view(&k, now);
        let labels: Vec<&str> = v.sessions.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Sesi 1 (pagi) 08.00\u{2013}10.00 WIB",
                "Sesi 2 (pagi) 10.00\u{2013}12.00 WIB",
                "Sesi 3 (siang) 13.00\u{2013}15.00 WIB"
            ]
        );
        k.session_id = Some("S3".into());
        k.screen = Screen::Review;
        k.language = Language::En;
        let booking = view(&k, now).booking.expect("the choice so far");
        assert_eq!(
            booking.session_label.as_deref(),
            Some("Session 3 (afternoon) 13:00\u{2013}15:00 WIB")
        );
        assert!(
            booking.documents.is_empty(),
            "nothing to bring before booking"
        );
        // Booked: the group's papers, each once; the wire spells the codes.
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        let (nik, info) =
            crate::domain::nik::Nik::parse("2102015708900003", day).expect("a valid test NIK");
        k.members = vec![Member {
            applicant: crate::flow::Applicant {
                nik,
                kk_number: None,
                name: Some("SITI AMINAH".into()),
                birth_place: None,
                birth_date: info.birth_date,
                sex: info.sex,
                address: None,
                source: IdentitySource::Chip,
            },
            application_type: ApplicationType::Lost,
            passport_type: PassportType::Electronic,
            declared_priority: None,
            priority: None,
        }];
        k.booked = Some(Booked {
            group_id: "g".into(),
            booking_code: "7F3C-21A9".into(),
            office_id: "KRM".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default(),
            session_id: "S3".into(),
            tickets: Vec::new(),
        });
        k.screen = Screen::Done;
        let v = view(&k, now);
        assert_eq!(
            wire(&v)["booking"]["documents"],
            json!(["ektp", "family_card", "civil_record", "police_report"])
        );
        assert_eq!(
            wire(&v)["members"][0]["documents"],
            wire(&v)["booking"]["documents"]
        );
    }

    #[test]
    fn refusals_keep_the_rules_codes() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap_or_default();
        let cases = [
            (
                RuleViolation::ActiveBooking { visit_date: day },
                Refusal::ActiveBooking,
            ),
            (RuleViolation::Cooldown { until: day }, Refusal::Cooldown),
            (RuleViolation::Blocked { until: day }, Refusal::Blocked),
            (RuleViolation::FamilyLimit, Refusal::FamilyLimit),
            (RuleViolation::GroupFull, Refusal::GroupFull),
            (
                RuleViolation::PriorityNotEligible {
                    declared: PriorityReason::Pregnant,
                },
                Refusal::PriorityNotEligible,
            ),
        ];
        for (violation, refusal) in cases {
            assert_eq!(wire(refusal), json!(violation.code()));
        }
    }
}
