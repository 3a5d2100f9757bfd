//! The view state: everything a screen shows, derived from the [`Kiosk`] state and the
//! time, and nothing else. The touchscreen renders it; the control channel sends it as
//! JSON. It carries codes (`"not_ektp"`, `"active_booking"`), not sentences: each front
//! end words them in the applicant's language.
//!
//! Personal data in a view is what the applicant must see to confirm it (their name,
//! birth date, a masked NIK); the full NIK never leaves the flow.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{
    CARD_FAILURES_BEFORE_MANUAL, EntryProblem, IdentitySource, Kiosk, Member, Pending, Problem,
    Purpose, Screen, WayOut, date_bookable, session_bookable,
};
use crate::domain::calendar::DayStatus;
use crate::domain::dates;
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason, QueueKind, Sex};

/// What one screen shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    pub screen: &'static str,
    pub language: Language,
    /// The intents that do something on this screen.
    pub actions: Vec<&'static str>,
    /// Seconds left before the session is wiped, while the inactivity warning is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning_seconds_left: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_service: Option<String>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<OfficeView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<DateView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionView>,
    /// The choice so far (office, date, session) and, once committed, the tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<BookingView>,
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfficeView {
    pub office_id: String,
    pub name: String,
    pub zone: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DateView {
    pub date: NaiveDate,
    pub label: String,
    /// `open`, `full` (no numbers at this kiosk for the group), `closed` (not a working
    /// day) or `holiday`.
    pub status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub label: String,
    pub regular_left: u32,
    pub priority_left: u32,
    pub bookable: bool,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_code: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<TicketView>,
}

/// The name of a screen, as the control channel and the audit log say it.
pub fn screen_name(screen: &Screen) -> &'static str {
    match screen {
        Screen::Idle => "idle",
        Screen::ReadCard { .. } => "read_card",
        Screen::ManualNik { .. } => "manual_nik",
        Screen::ConfirmIdentity { .. } => "confirm_identity",
        Screen::Checking { .. } => "checking",
        Screen::Details { .. } => "details",
        Screen::Members => "members",
        Screen::Office => "office",
        Screen::LoadingAvailability => "loading_availability",
        Screen::Date { .. } => "date",
        Screen::Session { .. } => "session",
        Screen::Review => "review",
        Screen::Committing => "committing",
        Screen::Printing => "printing",
        Screen::Done => "done",
        Screen::Problem { .. } => "problem",
    }
}

fn applicant_view(p: &Pending) -> ApplicantView {
    ApplicantView {
        name: p.applicant.name.clone(),
        masked_nik: p.applicant.nik.masked(),
        birth_date: p.applicant.birth_date,
        sex: p.applicant.sex,
        source: p.applicant.source,
        application_type: p.application_type,
        passport_type: p.passport_type,
        priority: p.declared_priority,
    }
}

fn member_view(m: &Member) -> ApplicantView {
    ApplicantView {
        name: m.applicant.name.clone(),
        masked_nik: m.applicant.nik.masked(),
        birth_date: m.applicant.birth_date,
        sex: m.applicant.sex,
        source: m.applicant.source,
        application_type: Some(m.application_type),
        passport_type: Some(m.passport_type),
        priority: m.priority,
    }
}

/// Everything the screen shows now.
pub fn view(state: &Kiosk, now: DateTime<Utc>) -> View {
    let mut v = View {
        screen: screen_name(&state.screen),
        language: state.language,
        actions: Vec::new(),
        warning_seconds_left: state.warned_at.map(|at| {
            (state.timeouts.reset_after - (now - at))
                .num_seconds()
                .max(0)
        }),
        out_of_service: state.out_of_service().map(str::to_owned),
        purpose: None,
        card_problem: None,
        entry_problem: None,
        problem: None,
        way_out: None,
        applicant: state.pending.as_ref().map(applicant_view),
        members: state.members.iter().map(member_view).collect(),
        offices: Vec::new(),
        dates: Vec::new(),
        sessions: Vec::new(),
        booking: booking_view(state),
    };
    let lang = state.language;
    let mut actions = vec!["set_language"];
    match &state.screen {
        Screen::Idle => {
            if state.holds.is_empty() {
                actions.push("start");
            }
            // Nothing of a past applicant on the idle screen.
            v.applicant = None;
            v.members.clear();
            v.booking = None;
        }
        Screen::ReadCard { purpose, problem } => {
            v.purpose = Some(*purpose);
            v.card_problem = *problem;
            actions.extend(["cancel", "back"]);
            if state.card_failures >= CARD_FAILURES_BEFORE_MANUAL {
                actions.push("manual_entry");
            }
        }
        Screen::ManualNik { purpose, problem } => {
            v.purpose = Some(*purpose);
            v.entry_problem = *problem;
            actions.extend(["cancel", "back", "enter_nik"]);
        }
        Screen::ConfirmIdentity { purpose } => {
            v.purpose = Some(*purpose);
            actions.extend(["cancel", "confirm_identity", "reject_identity"]);
        }
        Screen::Checking { purpose } => {
            v.purpose = Some(*purpose);
            actions.push("cancel");
        }
        Screen::Details { purpose } => {
            v.purpose = Some(*purpose);
            actions.extend([
                "cancel",
                "back",
                "choose_application_type",
                "choose_passport_type",
                "declare_priority",
            ]);
            if state
                .pending
                .as_ref()
                .is_some_and(|p| p.application_type.is_some() && p.passport_type.is_some())
            {
                actions.push("confirm_details");
            }
        }
        Screen::Members => {
            actions.extend(["cancel", "finish_members"]);
            if state.members.len() < crate::domain::rules::MAX_GROUP_SIZE {
                actions.extend(["add_member_by_card", "add_child"]);
            }
            if state.members.len() > 1 {
                actions.push("remove_member");
            }
        }
        Screen::Office => {
            actions.extend(["cancel", "back", "choose_office"]);
            v.offices = state
                .offices
                .iter()
                .map(|o| OfficeView {
                    office_id: o.id.clone(),
                    name: o.name.clone(),
                    zone: o.zone.label(),
                })
                .collect();
        }
        Screen::LoadingAvailability | Screen::Committing | Screen::Printing => {
            if matches!(state.screen, Screen::LoadingAvailability) {
                actions.push("cancel");
            }
        }
        Screen::Date { refused } => {
            actions.extend(["cancel", "back", "choose_date"]);
            v.dates = date_views(state, now, lang);
            if refused.is_some() {
                v.problem = Some(Problem::Refused {
                    rule: "date_full",
                    until: None,
                });
            }
        }
        Screen::Session { refused } => {
            actions.extend(["cancel", "back", "choose_session"]);
            v.sessions = session_views(state, now, lang);
            if refused.is_some() {
                v.problem = Some(Problem::Refused {
                    rule: "session_full",
                    until: None,
                });
            }
        }
        Screen::Review => actions.extend(["cancel", "back", "confirm_booking"]),
        Screen::Done => actions.push("finish"),
        Screen::Problem { problem, way_out } => {
            v.problem = Some(*problem);
            v.way_out = Some(*way_out);
            actions.push("dismiss");
            if matches!(problem, Problem::Print { .. }) {
                actions.push("retry_print");
            } else {
                actions.push("cancel");
            }
        }
    }
    v.actions = actions;
    v
}

fn date_views(state: &Kiosk, now: DateTime<Utc>, lang: Language) -> Vec<DateView> {
    let Some(office) = state.office() else {
        return Vec::new();
    };
    let today = office.today(now);
    (0..=i64::from(office.booking_window_days))
        .filter_map(|offset| {
            let date = today + chrono::TimeDelta::days(offset);
            let status = match office.day_status(date, now) {
                DayStatus::Open if date_bookable(state, date, now) => "open",
                DayStatus::Open => "full",
                DayStatus::NotWorkingDay => "closed",
                DayStatus::Holiday => "holiday",
                DayStatus::Past | DayStatus::OutsideWindow => return None,
            };
            Some(DateView {
                date,
                label: dates::long_date(date, lang),
                status,
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
            let (regular_left, priority_left) = avail.map_or((0, 0), |a| a.held(date, &s.id));
            SessionView {
                session_id: s.id.clone(),
                label: format!(
                    "{} {}",
                    dates::time_range(s.start, s.end, lang),
                    office.zone.label()
                ),
                regular_left,
                priority_left,
                bookable: session_bookable(state, date, &s.id, now),
            }
        })
        .collect()
}

fn booking_view(state: &Kiosk) -> Option<BookingView> {
    let lang = state.language;
    let office = state.office();
    let office_view = office.map(|o| OfficeView {
        office_id: o.id.clone(),
        name: o.name.clone(),
        zone: o.zone.label(),
    });
    let date = state.booked.as_ref().map(|b| b.date).or(state.date);
    let session_id = state
        .booked
        .as_ref()
        .map(|b| b.session_id.clone())
        .or(state.session_id.clone());
    let session_label = match (office, &session_id) {
        (Some(o), Some(id)) => o.session(id).map(|s| {
            format!(
                "{} {} {}",
                s.id,
                dates::time_range(s.start, s.end, lang),
                o.zone.label()
            )
        }),
        _ => None,
    };
    if office_view.is_none() && state.booked.is_none() {
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
        office: office_view,
        date,
        date_label: date.map(|d| dates::long_date(d, lang)),
        session_label,
        booking_code: state.booked.as_ref().map(|b| b.booking_code.clone()),
        tickets,
    })
}
