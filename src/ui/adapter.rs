//! Glue between the flow's [`View`] and the Slint `Flow` global: [`apply`] copies a view
//! (and the devices' state) into the screen's properties, with each code turned into its
//! Slint enum by `codes`, and [`connect`] binds each page's taps to their
//! [`flow::Intent`](crate::flow::Intent)s. Nothing is decided here; the words for each
//! code are in `ui/words.slint`.

use chrono::{Datelike, NaiveDate};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{DayCell, Flow, KioskWindow, OfficeItem, Person, ProblemInfo, SessionItem, Theme};
use super::{PanelState, TicketItem, TodayItem};
use crate::domain::{Language, QueueKind, dates};
use crate::flow::view::{ApplicantView, DateView, ScreenKind, View};
use crate::flow::{IdentitySource, Problem};
use crate::ui;

pub(super) mod codes;
mod taps;

pub use taps::connect;

fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// `17 Agustus 1990` / `17 August 1990`.
fn birth_date(date: NaiveDate, language: Language) -> String {
    format!(
        "{} {} {}",
        date.day(),
        dates::month_name(date.month(), language),
        date.year()
    )
}

fn person(a: &ApplicantView, language: Language) -> Person {
    Person {
        name: a.name.clone().unwrap_or_default().into(),
        masked_nik: a.masked_nik.clone().into(),
        birth_date: birth_date(a.birth_date, language).into(),
        sex: codes::sex(a.sex),
        application_type: codes::application_type(a.application_type),
        passport_type: codes::passport_type(a.passport_type),
        priority: codes::priority(a.priority),
        age_priority: codes::priority(a.age_priority),
        typed: a.source == IdentitySource::Manual,
    }
}

/// The booking window laid out in weeks from Monday, with blank cells before the first
/// day and after the last, and the months it spans as its title.
pub fn calendar(days: &[DateView], language: Language) -> (String, Vec<DayCell>) {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return (String::new(), Vec::new());
    };
    let mut cells = Vec::with_capacity(days.len() + 12);
    let blank = DayCell::default;
    for _ in 0..first.date.weekday().num_days_from_monday() {
        cells.push(blank());
    }
    // The view lists every day of the window in order; a gap (there should be none)
    // would shift the weekdays, so fill it.
    let mut expected = first.date;
    for d in days {
        while expected < d.date {
            cells.push(blank());
            expected = expected.succ_opt().unwrap_or(expected);
        }
        cells.push(DayCell {
            iso: d.date.to_string().into(),
            day: d.date.day() as i32,
            status: codes::day_state(d.status),
            label: d.label.clone().into(),
        });
        expected = d.date.succ_opt().unwrap_or(d.date);
    }
    while cells.len() % 7 != 0 {
        cells.push(blank());
    }
    (calendar_title(first.date, last.date, language), cells)
}

/// The months from `first` to `last`: `November 2026`, `November – Desember 2026`.
fn calendar_title(first: NaiveDate, last: NaiveDate, language: Language) -> String {
    let month = |d: NaiveDate| dates::month_name(d.month(), language);
    if (first.year(), first.month()) == (last.year(), last.month()) {
        format!("{} {}", month(first), first.year())
    } else if first.year() == last.year() {
        format!("{} – {} {}", month(first), month(last), last.year())
    } else {
        format!(
            "{} {} – {} {}",
            month(first),
            first.year(),
            month(last),
            last.year()
        )
    }
}

/// The translation bundle for a language: the `.slint` sources are English, Bahasa
/// Indonesia is the bundle `id`.
pub fn select_language(language: Language) {
    let bundle = match language {
        Language::Id => "id",
        Language::En => "",
    };
    if let Err(e) = slint::select_bundled_translation(bundle) {
        tracing::error!(error = %e, "translation bundle missing; the screen stays in English");
    }
}

/// Copies the view and the devices' state into the screen.
pub fn apply(ui: &KioskWindow, view: &View, panel: &PanelState) {
    let flow = ui.global::<Flow>();
    let language = codes::language(view.language);
    if flow.get_language() != language {
        select_language(view.language);
        flow.set_language(language);
    }
    // A session that ends takes its reading aids with it: the next person starts plain.
    let was_idle = flow.get_screen() == ui::Screen::Idle;
    if view.screen == ScreenKind::Idle && !was_idle {
        let theme = ui.global::<Theme>();
        theme.set_large_text(false);
        theme.set_high_contrast(false);
    }
    apply_actions(&flow, view);
    apply_problems(&flow, view);
    apply_people(&flow, view);
    apply_booking(&flow, view);
    apply_help(&flow, view);
    // The screen is screen-last, so that a page appears with its data already in place.
    flow.set_screen(codes::screen(view.screen));

    apply_panel(ui, panel, view.language);
}

/// The controls a screen shows or hides, by the intents the flow takes there.
fn apply_actions(flow: &Flow<'_>, view: &View) {
    use crate::flow::Action;
    let has = |action: Action| view.actions.contains(&action);
    flow.set_can_start(has(Action::Start));
    flow.set_can_back(has(Action::Back));
    flow.set_can_cancel(has(Action::Cancel));
    flow.set_can_manual_entry(has(Action::ManualEntry));
    flow.set_can_confirm_details(has(Action::ConfirmDetails));
    flow.set_can_add_member(has(Action::AddMemberByCard));
    flow.set_can_remove_member(has(Action::RemoveMember));
    flow.set_can_retry_print(has(Action::RetryPrint));
    flow.set_can_type_name(has(Action::TypeName));
}

/// The help panel: open or not, the call made, who to phone.
fn apply_help(flow: &Flow<'_>, view: &View) {
    let help = view.help.as_ref();
    flow.set_help_open(help.is_some());
    flow.set_help_called(help.is_some_and(|h| h.called));
    let text = |s: Option<&String>| SharedString::from(s.map_or("", String::as_str));
    flow.set_help_kiosk_id(text(help.and_then(|h| h.kiosk_id.as_ref())));
    flow.set_help_phone(text(help.and_then(|h| h.phone.as_ref())));
}

/// Who is reading for, what went wrong and the way on, the warning, the kiosk's hold.
fn apply_problems(flow: &Flow<'_>, view: &View) {
    flow.set_purpose(codes::purpose(view.purpose));
    flow.set_card_problem(codes::card_problem(view.card_problem));
    let (entry, check) = codes::entry_problem(view.entry_problem);
    flow.set_entry_problem(entry);
    flow.set_entry_check(check);
    flow.set_problem(problem_info(view.problem, view.language));
    flow.set_way_out(codes::way_out(view.way_out));
    flow.set_warning_seconds(
        view.warning_seconds_left
            .map_or(-1, |s| i32::try_from(s).unwrap_or(i32::MAX)),
    );
    flow.set_stays_seconds(
        view.stays_seconds
            .map_or(-1, |s| i32::try_from(s).unwrap_or(i32::MAX)),
    );
    flow.set_unprinted(
        view.unprinted
            .map_or(ui::PrintFailure::None, codes::print_failure),
    );
    let hold = view.out_of_service.map(|h| h.code());
    flow.set_out_of_service(codes::out_of_service(hold));
    flow.set_out_of_service_other(hold.unwrap_or_default().into());
}

/// A problem with the rule or failure under it, and the date a refusal ends in words.
fn problem_info(problem: Option<Problem>, language: Language) -> ProblemInfo {
    let none = ProblemInfo::default();
    let Some(problem) = problem else {
        return none;
    };
    let kind = |kind| ProblemInfo {
        kind,
        ..none.clone()
    };
    match problem {
        Problem::CardNikInvalid { .. } => kind(ui::Problem::CardNikInvalid),
        Problem::IdentityMismatch => kind(ui::Problem::IdentityMismatch),
        Problem::Refused { rule, until } => ProblemInfo {
            refusal: codes::refusal(rule),
            until: until
                .map(|d| dates::long_date(d, language))
                .unwrap_or_default()
                .into(),
            ..kind(ui::Problem::Refused)
        },
        Problem::AlreadyInGroup => kind(ui::Problem::AlreadyInGroup),
        Problem::NoNumbers => kind(ui::Problem::NoNumbers),
        Problem::Commit { failure } => ProblemInfo {
            commit: codes::commit_failure(failure),
            ..kind(ui::Problem::Commit)
        },
        Problem::Print { failure } => ProblemInfo {
            print: codes::print_failure(failure),
            ..kind(ui::Problem::Print)
        },
    }
}

/// The applicant being confirmed, the group, and the offices, days and sessions to
/// choose from.
fn apply_people(flow: &Flow<'_>, view: &View) {
    let language = view.language;
    flow.set_applicant(
        view.applicant
            .as_ref()
            .map_or_else(Person::default, |a| person(a, language)),
    );
    flow.set_members(model(
        view.members.iter().map(|m| person(m, language)).collect(),
    ));
    flow.set_removing(
        view.removing
            .and_then(|i| i32::try_from(i).ok())
            .unwrap_or(-1),
    );
    flow.set_offices(model(
        view.offices
            .iter()
            .map(|o| OfficeItem {
                id: o.office_id.clone().into(),
                name: o.name.clone().into(),
                zone: o.zone.into(),
            })
            .collect(),
    ));
    let (title, cells) = calendar(&view.dates, language);
    flow.set_calendar_title(title.into());
    flow.set_days(model(cells));
    flow.set_sessions(model(
        view.sessions
            .iter()
            .map(|s| SessionItem {
                id: s.session_id.clone().into(),
                label: s.label.clone().into(),
                regular_left: s.regular_left as i32,
                priority_left: s.priority_left as i32,
                bookable: s.bookable,
            })
            .collect(),
    ));
}

/// The choice so far and, once booked, the tickets.
fn apply_booking(flow: &Flow<'_>, view: &View) {
    let booking = view.booking.as_ref();
    let text = |s: Option<&String>| -> SharedString { s.cloned().unwrap_or_default().into() };
    flow.set_office_name(text(
        booking.and_then(|b| b.office.as_ref()).map(|o| &o.name),
    ));
    flow.set_date_label(text(booking.and_then(|b| b.date_label.as_ref())));
    flow.set_session_label(text(booking.and_then(|b| b.session_label.as_ref())));
    flow.set_booking_code(text(booking.and_then(|b| b.booking_code.as_ref())));
    flow.set_tickets(model(
        booking
            .map(|b| {
                b.tickets
                    .iter()
                    .map(|t| TicketItem {
                        number: t.queue_number.clone().into(),
                        priority: t.kind == QueueKind::Priority,
                        name: t.name.clone().unwrap_or_default().into(),
                        masked_nik: t.masked_nik.clone().into(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    ));
    flow.set_documents(model(
        booking
            .map(|b| b.documents.iter().map(|&d| codes::document(d)).collect())
            .unwrap_or_default(),
    ));
}

/// The devices and today's numbers: shown on the idle and card screens.
pub fn apply_panel(ui: &KioskWindow, panel: &PanelState, language: Language) {
    let flow = ui.global::<Flow>();
    flow.set_reader_state(codes::reader_state(&panel.reader));
    flow.set_today_label(
        panel
            .today_date
            .map(|d| dates::long_date(d, language))
            .unwrap_or_default()
            .into(),
    );
    flow.set_today(model(
        panel
            .today
            .iter()
            .map(|t| TodayItem {
                name: t.office_name.clone().into(),
                regular_left: t.regular_left as i32,
                priority_left: t.priority_left as i32,
            })
            .collect(),
    ));
}

/// Digits grouped in fours for reading back: `2102 0157 0890 0003`.
pub fn group_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The keypad's delete key.
pub fn drop_last(s: &str) -> String {
    let mut out = s.to_owned();
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::view::DayState;

    #[test]
    fn calendar_starts_on_monday_and_fills_whole_weeks() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default();
        // 2026-11-25 is a Wednesday.
        let days: Vec<DateView> = (25..=30)
            .map(|day| DateView {
                date: d(day),
                label: String::new(),
                status: DayState::Open,
            })
            .collect();
        let (title, cells) = calendar(&days, Language::Id);
        assert_eq!(title, "November 2026");
        assert_eq!(cells.len(), 14);
        assert_eq!(cells[0].status, ui::DayState::Blank);
        assert_eq!(cells[1].status, ui::DayState::Blank);
        assert_eq!(cells[2].day, 25);
        assert_eq!(cells[7].day, 30);
        assert!(cells[8..].iter().all(|c| c.status == ui::DayState::Blank));
    }

    #[test]
    fn calendar_title_spans_months_and_years() {
        let days = [
            DateView {
                date: NaiveDate::from_ymd_opt(2026, 12, 30).unwrap_or_default(),
                label: String::new(),
                status: DayState::Open,
            },
            DateView {
                date: NaiveDate::from_ymd_opt(2027, 1, 2).unwrap_or_default(),
                label: String::new(),
                status: DayState::Holiday,
            },
        ];
        let (title, cells) = calendar(&days, Language::En);
        assert_eq!(title, "December 2026 – January 2027");
        // The missing days in between are blank, so the weekdays stay in place.
        let jan2 = cells.iter().position(|c| c.day == 2).unwrap_or_default();
        assert_eq!(jan2 % 7, 5, "2 January 2027 is a Saturday");
    }

    #[test]
    fn digits_read_back_in_fours() {
        assert_eq!(group_digits("2102015708900003"), "2102 0157 0890 0003");
        assert_eq!(group_digits("21020"), "2102 0");
        assert_eq!(drop_last("123"), "12");
        assert_eq!(drop_last(""), "");
    }
}
