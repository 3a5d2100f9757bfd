//! Glue between the flow's [`View`] and the Slint `Flow` global: [`apply`] copies a view
//! (and the devices' state) into the screen's properties, with each code turned into its
//! Slint enum by `codes`, and [`connect`] binds each page's taps to their
//! [`flow::Intent`](crate::flow::Intent)s. Nothing is decided here; the words for each
//! code are in `ui/words.slint`.

use chrono::{Datelike, NaiveDate};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{
    BookingItem, DayCell, Flow, KioskWindow, MonthItem, OfficeItem, Person, ProblemInfo,
    SessionItem, Theme,
};
use super::{PanelState, TicketItem, TodayItem};
use crate::domain::{Language, QueueKind, dates};
use crate::flow::view::{
    ApplicantView, DateView, DayState, ExistingBookingView, GroupNeeds, ScreenKind, View,
};
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

/// The booking window laid out month by month, in weeks from Monday: each day with its
/// row and column, the months with the row of their first week (a new month starts on
/// a row of its own, under its name), how many rows there are, and the months it
/// spans as its title.
pub struct CalendarLayout {
    pub title: String,
    pub days: Vec<DayCell>,
    pub months: Vec<MonthItem>,
    pub weeks: i32,
    /// The first rows that hold today's or tomorrow's tile.
    pub marked_weeks: i32,
}

pub fn calendar(days: &[DateView], language: Language) -> CalendarLayout {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return CalendarLayout {
            title: String::new(),
            days: Vec::new(),
            months: Vec::new(),
            weeks: 0,
            marked_weeks: 0,
        };
    };
    let monday =
        |d: NaiveDate| d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()));
    let mut cells = Vec::with_capacity(days.len());
    let mut months: Vec<MonthItem> = Vec::new();
    let mut week = 0;
    let mut prev: Option<NaiveDate> = None;
    for d in days {
        let new_month =
            prev.is_none_or(|p| (p.year(), p.month()) != (d.date.year(), d.date.month()));
        // Compared by the week's Monday, not by the day being one, so that a gap in
        // the list (there should be none) cannot put two weeks on one row.
        let new_week = prev.is_some_and(|p| new_month || monday(p) != monday(d.date));
        if new_week {
            week += 1;
        }
        if new_month {
            months.push(MonthItem {
                month: d.month.into(),
                year: d.date.year(),
                week,
            });
        }
        cells.push(DayCell {
            iso: d.date.to_string().into(),
            day: d.date.day() as i32,
            status: codes::day_state(d.status),
            label: d.label.clone().into(),
            today: d.today,
            tomorrow: d.tomorrow,
            week,
            column: i32::from(d.weekday) - 1,
            block: months.len() as i32 - 1,
        });
        prev = Some(d.date);
    }
    let marked_weeks = cells
        .iter()
        .filter(|c| c.today || c.tomorrow)
        .map(|c| c.week + 1)
        .max()
        .unwrap_or(0);
    CalendarLayout {
        title: calendar_title(first.date, last.date, language),
        days: cells,
        months,
        weeks: week + 1,
        marked_weeks,
    }
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
    apply_my_booking(&flow, view);
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
        Problem::Change { reason } => ProblemInfo {
            change: codes::change_problem(Some(reason)),
            ..kind(ui::Problem::Change)
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
    let layout = calendar(&view.dates, language);
    flow.set_calendar_title(layout.title.into());
    flow.set_days(model(layout.days));
    flow.set_months(model(layout.months));
    flow.set_weeks(layout.weeks);
    flow.set_marked_weeks(layout.marked_weeks);
    flow.set_days_need_network(
        view.dates
            .iter()
            .any(|d| d.status == DayState::NeedsNetwork),
    );
    let needs = view.group_needs.unwrap_or(GroupNeeds {
        regular: 0,
        priority: 0,
    });
    flow.set_need_regular(needs.regular as i32);
    flow.set_need_priority(needs.priority as i32);
    flow.set_sessions(model(
        view.sessions
            .iter()
            .map(|s| SessionItem {
                id: s.session_id.clone().into(),
                label: s.label.clone().into(),
                regular_left: s.regular_left as i32,
                priority_left: s.priority_left as i32,
                bookable: s.bookable,
                asks_service: s.asks_service,
                blocked_by: codes::session_block(s.blocked_by),
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

/// "My booking": the bookings the card's NIK holds, the one asked to be cancelled, the
/// change just made; and, while one is moved, that booking and why the service gave no
/// numbers for the session chosen.
fn apply_my_booking(flow: &Flow<'_>, view: &View) {
    flow.set_bookings(model(view.bookings.iter().map(booking_item).collect()));
    flow.set_cancelling(
        view.cancelling
            .and_then(|i| i32::try_from(i).ok())
            .unwrap_or(-1),
    );
    let done = view.change_done.as_ref();
    flow.set_change_done(codes::change_kind(done.map(|d| d.kind)));
    flow.set_change_done_number(done.map_or("", |d| d.queue_number.as_str()).into());
    flow.set_rescheduling(view.rescheduling.is_some());
    flow.set_rescheduled(
        view.rescheduling
            .as_ref()
            .map_or_else(BookingItem::default, booking_item),
    );
    flow.set_numbers_failure(codes::numbers_failure(view.numbers_failure));
}

/// One booking of "my booking", as its card shows it.
fn booking_item(b: &ExistingBookingView) -> BookingItem {
    BookingItem {
        office: b.office.name.clone().into(),
        date_label: b.date_label.clone().into(),
        session_label: b.session_label.clone().into(),
        number: b.queue_number.clone().into(),
        priority: b.kind == QueueKind::Priority,
        masked_nik: b.masked_nik.clone().into(),
        name: b.name.clone().unwrap_or_default().into(),
        own: b.own,
        here: b.here,
        reschedules_left: i32::try_from(b.reschedules_left).unwrap_or(i32::MAX),
        can_reprint: b.can_reprint,
        can_reschedule: b.can_reschedule,
        can_cancel: b.can_cancel,
        reschedule_blocked: codes::change_problem(b.reschedule_blocked),
        cancel_blocked: codes::change_problem(b.cancel_blocked),
    }
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
    flow.set_today(model(panel.today.iter().map(today_item).collect()));
}

/// One office's line on the idle panel, its name in two parts.
fn today_item(t: &crate::frontend::OfficeToday) -> TodayItem {
    let (kind, place) = office_name_parts(&t.office_name);
    let next = t.next_day;
    TodayItem {
        name: t.office_name.clone().into(),
        kind: kind.into(),
        place: place.into(),
        open_today: t.open_today,
        regular_left: t.regular_left as i32,
        priority_left: t.priority_left as i32,
        has_next: next.is_some(),
        next_weekday: next.map_or(0, |d| d.weekday().number_from_monday() as i32),
        next_day: next.map_or(0, |d| d.day() as i32),
        next_month: next.map_or(0, |d| d.month() as i32),
    }
}

/// The words of an immigration office's name that say what kind of office it is
/// (`Kantor Imigrasi Kelas I Khusus TPI`), and the place, which tells one from
/// another (`Batam`). A name that does not start so is all place; a name that would
/// leave no place is kept whole.
pub fn office_name_parts(name: &str) -> (String, String) {
    const KIND: [&str; 9] = [
        "Kantor", "Imigrasi", "Kelas", "I", "II", "III", "Khusus", "TPI", "Non",
    ];
    let words: Vec<&str> = name.split_whitespace().collect();
    if !name.starts_with("Kantor Imigrasi") {
        return (String::new(), words.join(" "));
    }
    let n = words.iter().take_while(|w| KIND.contains(w)).count();
    if n == words.len() {
        return (String::new(), words.join(" "));
    }
    (words[..n].join(" "), words[n..].join(" "))
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

    fn day(date: NaiveDate, status: DayState, offset: i64) -> DateView {
        DateView {
            date,
            label: String::new(),
            status,
            weekday: date.weekday().number_from_monday() as u8,
            month: date.month() as u8,
            today: offset == 0,
            tomorrow: offset == 1,
        }
    }

    fn window(from: NaiveDate, days: u64) -> Vec<DateView> {
        (0..days)
            .map(|i| day(from + chrono::Days::new(i), DayState::Open, i as i64))
            .collect()
    }

    #[test]
    fn calendar_places_each_day_by_its_weekday_and_starts_each_month_on_a_row() {
        // Monday 23 November 2026 to Wednesday 23 December.
        let from = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let layout = calendar(&window(from, 31), Language::Id);
        assert_eq!(layout.title, "November – Desember 2026");
        let at = |iso: &str| {
            layout
                .days
                .iter()
                .find(|c| c.iso == iso)
                .map(|c| (c.week, c.column, c.block, c.today, c.tomorrow))
        };
        assert_eq!(at("2026-11-23"), Some((0, 0, 0, true, false)));
        assert_eq!(at("2026-11-24"), Some((0, 1, 0, false, true)));
        assert_eq!(at("2026-11-30"), Some((1, 0, 0, false, false)));
        // Tuesday 1 December opens a row of its own under December's name.
        assert_eq!(at("2026-12-01"), Some((2, 1, 1, false, false)));
        assert_eq!(at("2026-12-07"), Some((3, 0, 1, false, false)));
        assert_eq!(at("2026-12-23"), Some((5, 2, 1, false, false)));
        let months: Vec<_> = layout
            .months
            .iter()
            .map(|m| (m.month, m.year, m.week))
            .collect();
        assert_eq!(months, [(11, 2026, 0), (12, 2026, 2)]);
        assert_eq!(layout.weeks, 6);
        assert_eq!(
            layout.marked_weeks, 1,
            "today and tomorrow share the first row"
        );
        // The two 23rds: one today, one not, a month apart.
        let twenty_thirds: Vec<_> = layout.days.iter().filter(|c| c.day == 23).collect();
        assert_eq!(twenty_thirds.len(), 2);
        assert_ne!(twenty_thirds[0].block, twenty_thirds[1].block);
    }

    #[test]
    fn calendar_title_spans_months_and_years_and_a_gap_keeps_the_weekdays() {
        let days = [
            day(
                NaiveDate::from_ymd_opt(2026, 12, 30).unwrap_or_default(),
                DayState::Open,
                0,
            ),
            day(
                NaiveDate::from_ymd_opt(2027, 1, 2).unwrap_or_default(),
                DayState::Holiday,
                3,
            ),
            day(
                NaiveDate::from_ymd_opt(2027, 1, 5).unwrap_or_default(),
                DayState::Open,
                6,
            ),
        ];
        let layout = calendar(&days, Language::En);
        assert_eq!(layout.title, "December 2026 – January 2027");
        let cells: Vec<_> = layout.days.iter().map(|c| (c.week, c.column)).collect();
        // 2 January 2027 is a Saturday; the 5th, a Tuesday, on the next row even
        // though the Monday between is missing.
        assert_eq!(cells, [(0, 2), (1, 5), (2, 1)]);
        assert_eq!(layout.months.len(), 2);
        assert_eq!(layout.months[1].year, 2027);
        assert_eq!(layout.weeks, 3);
        assert_eq!(calendar(&[], Language::En).weeks, 0);
    }

    #[test]
    fn an_office_name_splits_into_its_kind_and_its_place() {
        let cases = [
            (
                "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun",
                ("Kantor Imigrasi Kelas II TPI", "Tanjung Balai Karimun"),
            ),
            (
                "Kantor Imigrasi Kelas I Khusus TPI Batam",
                ("Kantor Imigrasi Kelas I Khusus TPI", "Batam"),
            ),
            (
                "Kantor Imigrasi Kelas II Non TPI Ponorogo",
                ("Kantor Imigrasi Kelas II Non TPI", "Ponorogo"),
            ),
            (
                "Unit Layanan Paspor Batam",
                ("", "Unit Layanan Paspor Batam"),
            ),
            ("Kantor Imigrasi Kelas I", ("", "Kantor Imigrasi Kelas I")),
        ];
        for (name, (kind, place)) in cases {
            assert_eq!(
                office_name_parts(name),
                (kind.to_owned(), place.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_booking_held_keeps_its_kind_its_name_and_why_it_cannot_change() {
        use crate::flow::ChangeProblem;
        use crate::flow::view::OfficeView;
        let view = ExistingBookingView {
            office: OfficeView {
                office_id: "KRM".into(),
                name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
                zone: "WIB",
            },
            date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
            date_label: "Selasa, 1 Desember 2026".into(),
            session_label: "Sesi 1 (pagi) 08.00–10.00 WIB".into(),
            queue_number: "P-003".into(),
            kind: QueueKind::Priority,
            masked_nik: "2102********0042".into(),
            name: None,
            own: false,
            here: false,
            reschedules_left: 0,
            can_reprint: true,
            can_reschedule: false,
            can_cancel: false,
            reschedule_blocked: Some(ChangeProblem::RescheduleUsed),
            cancel_blocked: Some(ChangeProblem::NeedsNetwork),
        };
        let item = booking_item(&view);
        assert!(item.priority && !item.own && !item.here);
        assert_eq!(item.name, "", "a child's name is worded by the page");
        assert_eq!(item.number, "P-003");
        assert_eq!(item.reschedule_blocked, ui::ChangeProblem::RescheduleUsed);
        assert_eq!(item.cancel_blocked, ui::ChangeProblem::NeedsNetwork);
        let free = booking_item(&ExistingBookingView {
            kind: QueueKind::Regular,
            name: Some("SITI AMINAH".into()),
            can_reschedule: true,
            can_cancel: true,
            reschedule_blocked: None,
            cancel_blocked: None,
            ..view
        });
        assert!(!free.priority && free.can_reschedule && free.can_cancel);
        assert_eq!(free.name, "SITI AMINAH");
        assert_eq!(free.reschedule_blocked, ui::ChangeProblem::None);
    }

    #[test]
    fn digits_read_back_in_fours() {
        assert_eq!(group_digits("2102015708900003"), "2102 0157 0890 0003");
        assert_eq!(group_digits("21020"), "2102 0");
        assert_eq!(drop_last("123"), "12");
        assert_eq!(drop_last(""), "");
    }
}
