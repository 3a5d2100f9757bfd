//! Glue between the flow's [`View`] and the Slint `Flow` global: [`apply`] copies a view
//! (and the devices' state) into the screen's properties, and [`connect`] binds each
//! page's taps to their [`flow::Intent`](crate::flow::Intent)s. Nothing is decided here;
//! the words for each code are in `ui/words.slint`.

use chrono::{Datelike, NaiveDate};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{DayCell, Flow, KioskWindow, OfficeItem, Person, SessionItem, Theme, TicketItem};
use super::{PanelState, TodayItem};
use crate::domain::dates;
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason, QueueKind, Sex};
use crate::flow::view::{ApplicantView, DateView, ScreenKind, View};
use crate::flow::{CardProblem, EntryProblem, IdentitySource, Problem, WayOut};

mod taps;

pub use taps::connect;

/// The serde code of a unit enum value (`"not_ektp"`, `"regular_48"`), as the control
/// channel spells it.
fn code<T: serde::Serialize>(value: &T) -> SharedString {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s.into(),
        _ => SharedString::new(),
    }
}

fn opt_code<T: serde::Serialize>(value: Option<&T>) -> SharedString {
    value.map(code).unwrap_or_default()
}

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
        sex: match a.sex {
            Sex::Male => "L".into(),
            Sex::Female => "P".into(),
        },
        manual: a.source == IdentitySource::Manual,
        application_type: opt_code::<ApplicationType>(a.application_type.as_ref()),
        passport_type: opt_code::<PassportType>(a.passport_type.as_ref()),
        priority: opt_code::<PriorityReason>(a.priority.as_ref()),
    }
}

/// The booking window laid out in weeks from Monday, with blank cells before the first
/// day and after the last, and the months it spans as its title.
pub fn calendar(days: &[DateView], language: Language) -> (String, Vec<DayCell>) {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return (String::new(), Vec::new());
    };
    let mut cells = Vec::with_capacity(days.len() + 12);
    let blank = || DayCell {
        iso: SharedString::new(),
        day: 0,
        status: SharedString::new(),
        label: SharedString::new(),
    };
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
            status: code(&d.status),
            label: d.label.clone().into(),
        });
        expected = d.date.succ_opt().unwrap_or(d.date);
    }
    while cells.len() % 7 != 0 {
        cells.push(blank());
    }
    let month = |d: NaiveDate| dates::month_name(d.month(), language);
    let title = if (first.date.year(), first.date.month()) == (last.date.year(), last.date.month())
    {
        format!("{} {}", month(first.date), first.date.year())
    } else if first.date.year() == last.date.year() {
        format!(
            "{} – {} {}",
            month(first.date),
            month(last.date),
            last.date.year()
        )
    } else {
        format!(
            "{} {} – {} {}",
            month(first.date),
            first.date.year(),
            month(last.date),
            last.date.year()
        )
    };
    (title, cells)
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
    let language = view.language;
    let language_code = code(&language);
    if flow.get_language() != language_code {
        select_language(language);
        flow.set_language(language_code);
    }
    // A session that ends takes its reading aids with it: the next person starts plain.
    let was_idle = flow.get_screen() == "idle";
    if view.screen == ScreenKind::Idle && !was_idle {
        let theme = ui.global::<Theme>();
        theme.set_large_text(false);
        theme.set_high_contrast(false);
    }

    let has = |action: &str| view.actions.contains(&action);
    flow.set_can_start(has("start"));
    flow.set_can_back(has("back"));
    flow.set_can_cancel(has("cancel"));
    flow.set_can_manual_entry(has("manual_entry"));
    flow.set_can_confirm_details(has("confirm_details"));
    flow.set_can_add_member(has("add_member_by_card"));
    flow.set_can_remove_member(has("remove_member"));
    flow.set_can_retry_print(has("retry_print"));

    flow.set_purpose(opt_code(view.purpose.as_ref()));
    flow.set_card_problem(opt_code::<CardProblem>(view.card_problem.as_ref()));
    let (entry, entry_code) = match view.entry_problem {
        Some(EntryProblem::NikInvalid(c)) => ("nik_invalid", code(&c)),
        Some(EntryProblem::KkInvalid(c)) => ("kk_invalid", code(&c)),
        Some(EntryProblem::KkRequired) => ("kk_required", SharedString::new()),
        None => ("", SharedString::new()),
    };
    flow.set_entry_problem(entry.into());
    flow.set_entry_problem_code(entry_code);

    let (problem, detail, until) = match view.problem {
        Some(Problem::CardNikInvalid { reason }) => ("card_nik_invalid", code(&reason), None),
        Some(Problem::IdentityMismatch) => ("identity_mismatch", SharedString::new(), None),
        Some(Problem::Refused { rule, until }) => ("refused", code(&rule), until),
        Some(Problem::AlreadyInGroup) => ("already_in_group", SharedString::new(), None),
        Some(Problem::NoNumbers) => ("no_numbers", SharedString::new(), None),
        Some(Problem::Commit { failure }) => ("commit", code(&failure), None),
        Some(Problem::Print { failure }) => ("print", code(&failure), None),
        None => ("", SharedString::new(), None),
    };
    flow.set_problem(problem.into());
    flow.set_problem_detail(detail);
    flow.set_problem_until(
        until
            .map(|d| dates::long_date(d, language))
            .unwrap_or_default()
            .into(),
    );
    flow.set_way_out(opt_code::<WayOut>(view.way_out.as_ref()));
    flow.set_warning_seconds(
        view.warning_seconds_left
            .map_or(-1, |s| i32::try_from(s).unwrap_or(i32::MAX)),
    );
    flow.set_out_of_service(view.out_of_service.clone().unwrap_or_default().into());

    match &view.applicant {
        Some(a) => {
            flow.set_has_applicant(true);
            flow.set_applicant(person(a, language));
        }
        None => {
            flow.set_has_applicant(false);
            flow.set_applicant(Person::default());
        }
    }
    flow.set_members(model(
        view.members.iter().map(|m| person(m, language)).collect(),
    ));
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
    let booking = view.booking.as_ref();
    flow.set_office_name(
        booking
            .and_then(|b| b.office.as_ref())
            .map(|o| o.name.clone())
            .unwrap_or_default()
            .into(),
    );
    flow.set_date_label(
        booking
            .and_then(|b| b.date_label.clone())
            .unwrap_or_default()
            .into(),
    );
    flow.set_session_label(
        booking
            .and_then(|b| b.session_label.clone())
            .unwrap_or_default()
            .into(),
    );
    flow.set_booking_code(
        booking
            .and_then(|b| b.booking_code.clone())
            .unwrap_or_default()
            .into(),
    );
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
    // The screen is screen-last, so that a page appears with its data already in place.
    flow.set_screen(view.screen.name().into());

    apply_panel(ui, panel, language);
}

/// The devices and today's numbers: shown on the idle and card screens.
pub fn apply_panel(ui: &KioskWindow, panel: &PanelState, language: Language) {
    let flow = ui.global::<Flow>();
    flow.set_reader_state(panel.reader.clone().into());
    flow.set_printer_state(panel.printer.clone().into());
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

fn parse<T: serde::de::DeserializeOwned>(code: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
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
        assert_eq!(cells[0].status, "");
        assert_eq!(cells[1].status, "");
        assert_eq!(cells[2].day, 25);
        assert_eq!(cells[7].day, 30);
        assert!(cells[8..].iter().all(|c| c.status.is_empty()));
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
