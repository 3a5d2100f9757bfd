//! Offices, their arrival sessions and their calendar, always in the office's own time
//! zone: which day is "today" at the office, which days can be booked, and which sessions
//! of a day are still worth booking, and how a session is named to an applicant
//! ([`Office::session_name`]: number, part of day, hours, zone). Also the check of an office description as the
//! central service sends it, which is data the kiosk must not blindly trust.
//!
//! It leaves fetching and caching the offices to `sync` and `store`, quotas and queue
//! numbers to `sync`, and the rules about people to [`super::rules`]. No clock is read
//! here: every answer that depends on "now" takes it as an argument.
//!
//! The serde form of [`Office`] and [`Session`] is the central API's (`GET /v1/offices`):
//! `office_id`, `time_zone`, `session_id`, and times as `"08:00"`.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Language;
use super::dates::time_range;

/// How long before a session ends the kiosk stops booking it for the same day: an
/// applicant booking later could not reach the office and be served in time.
pub const SAME_DAY_CUTOFF: TimeDelta = TimeDelta::minutes(30);

/// Indonesia's three time zones. None observes daylight saving time, so a fixed offset is
/// exact and the kiosk needs no tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// Waktu Indonesia Barat, UTC+7: Sumatra, Java, West and Central Kalimantan.
    Wib,
    /// Waktu Indonesia Tengah, UTC+8: Bali, Nusa Tenggara, South/East/North Kalimantan,
    /// Sulawesi.
    Wita,
    /// Waktu Indonesia Timur, UTC+9: Maluku and Papua.
    Wit,
}

const fn hours_east(hours: i32) -> FixedOffset {
    match FixedOffset::east_opt(hours * 3600) {
        Some(offset) => offset,
        // Evaluated at compile time for the three constants below, never at run time.
        None => panic!("UTC offset out of range"),
    }
}

const WIB_OFFSET: FixedOffset = hours_east(7);
const WITA_OFFSET: FixedOffset = hours_east(8);
const WIT_OFFSET: FixedOffset = hours_east(9);

impl Zone {
    pub const ALL: [Zone; 3] = [Zone::Wib, Zone::Wita, Zone::Wit];

    /// The zone of an IANA name. Besides the three names the central API uses, this takes
    /// the tz database's other names for the same clocks (`Asia/Pontianak` is WIB in West
    /// Kalimantan, `Asia/Ujung_Pandang` the old name of Makassar): an office list that
    /// uses them still means an unambiguous offset.
    pub fn from_tz_name(name: &str) -> Option<Zone> {
        match name {
            "Asia/Jakarta" | "Asia/Pontianak" => Some(Zone::Wib),
            "Asia/Makassar" | "Asia/Ujung_Pandang" => Some(Zone::Wita),
            "Asia/Jayapura" => Some(Zone::Wit),
            _ => None,
        }
    }

    /// The name the central API uses: `Asia/Jakarta`, `Asia/Makassar`, `Asia/Jayapura`.
    pub fn tz_name(self) -> &'static str {
        match self {
            Zone::Wib => "Asia/Jakarta",
            Zone::Wita => "Asia/Makassar",
            Zone::Wit => "Asia/Jayapura",
        }
    }

    /// What an Indonesian reads after a time: `WIB`, `WITA`, `WIT`.
    pub fn label(self) -> &'static str {
        match self {
            Zone::Wib => "WIB",
            Zone::Wita => "WITA",
            Zone::Wit => "WIT",
        }
    }

    pub fn offset(self) -> FixedOffset {
        match self {
            Zone::Wib => WIB_OFFSET,
            Zone::Wita => WITA_OFFSET,
            Zone::Wit => WIT_OFFSET,
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.tz_name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Zone::from_tz_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "time zone {name:?} is not one of Asia/Jakarta, Asia/Makassar, Asia/Jayapura"
            ))
        })
    }
}

/// `"08:00"` on the wire, as the central API writes session times; `"08:00:00"` is read
/// too, since nothing is lost by accepting it.
mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(deserializer)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(|_| serde::de::Error::custom(format!("session time {s:?} is not HH:MM")))
    }
}

/// An arrival session: the applicant is asked to arrive between `start` and `end`, in the
/// office's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The central service's id (`S1`), the key of allocations and registrations.
    #[serde(rename = "session_id")]
    pub id: String,
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
}

/// An immigration office the kiosk books for, as the central service describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Office {
    #[serde(rename = "office_id")]
    pub id: String,
    pub name: String,
    /// Two digits, as in a NIK; kept as text because that is how the service sends it.
    pub province_code: String,
    /// Decides what "today" is for this office, whatever zone the kiosk stands in.
    #[serde(rename = "time_zone")]
    pub zone: Zone,
    /// ISO weekdays, 1 = Monday .. 7 = Sunday.
    pub working_days: Vec<u8>,
    pub sessions: Vec<Session>,
    /// How many days after today the last bookable day lies (today + this, inclusive).
    pub booking_window_days: u32,
    /// Holidays and other days the office is shut although they are working days.
    #[serde(default)]
    pub closed_dates: BTreeSet<NaiveDate>,
}

/// What a day is, for booking at one office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayStatus {
    Open,
    /// Before the office's today.
    Past,
    /// A weekday the office does not work (usually the weekend).
    NotWorkingDay,
    /// A working day in `closed_dates`.
    Holiday,
    /// After the office's today plus its booking window.
    OutsideWindow,
}

/// What is wrong with an office description. Carries only the service's own ids, no
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficeError {
    #[error("the office has an empty id")]
    EmptyId,
    #[error("office {office}: no sessions")]
    NoSessions { office: String },
    #[error("office {office}: session {session} does not start before it ends")]
    SessionNotBeforeEnd { office: String, session: String },
    #[error("office {office}: session id {session:?} is empty or used twice")]
    BadSessionId { office: String, session: String },
    #[error("office {office}: sessions {first} and {second} overlap")]
    SessionsOverlap {
        office: String,
        first: String,
        second: String,
    },
    #[error("office {office}: working day {day} is not an ISO weekday 1..=7")]
    BadWorkingDay { office: String, day: u8 },
    #[error("office {office}: no working days")]
    NoWorkingDays { office: String },
    #[error("office {office}: the booking window must be at least 1 day")]
    WindowTooShort { office: String },
}

impl OfficeError {
    /// A stable snake_case name, for logs and counts.
    pub fn code(&self) -> &'static str {
        match self {
            OfficeError::EmptyId => "empty_id",
            OfficeError::NoSessions { .. } => "no_sessions",
            OfficeError::SessionNotBeforeEnd { .. } => "session_not_before_end",
            OfficeError::BadSessionId { .. } => "bad_session_id",
            OfficeError::SessionsOverlap { .. } => "sessions_overlap",
            OfficeError::BadWorkingDay { .. } => "bad_working_day",
            OfficeError::NoWorkingDays { .. } => "no_working_days",
            OfficeError::WindowTooShort { .. } => "window_too_short",
        }
    }
}

impl Office {
    /// Checks what a central service could get wrong: sessions start before they end and do not
    /// overlap, working days in 1..=7, at least one session, a window of at least 1 day.
    ///
    /// Beyond those: the office id is not empty and session ids are unique and not empty,
    /// since bookings refer to sessions by id; there is at least one working day (else
    /// nothing could ever be booked). Sessions that merely touch (10:00-12:00 after
    /// 08:00-10:00) do not overlap.
    pub fn validate(&self) -> Result<(), OfficeError> {
        if self.id.is_empty() {
            return Err(OfficeError::EmptyId);
        }
        let office = || self.id.clone();
        if self.sessions.is_empty() {
            return Err(OfficeError::NoSessions { office: office() });
        }
        let mut ids = BTreeSet::new();
        for s in &self.sessions {
            if s.id.is_empty() || !ids.insert(s.id.as_str()) {
                return Err(OfficeError::BadSessionId {
                    office: office(),
                    session: s.id.clone(),
                });
            }
            if s.start >= s.end {
                return Err(OfficeError::SessionNotBeforeEnd {
                    office: office(),
                    session: s.id.clone(),
                });
            }
        }
        let mut by_start: Vec<&Session> = self.sessions.iter().collect();
        by_start.sort_by_key(|s| (s.start, s.end));
        for pair in by_start.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(OfficeError::SessionsOverlap {
                    office: office(),
                    first: pair[0].id.clone(),
                    second: pair[1].id.clone(),
                });
            }
        }
        if let Some(&day) = self.working_days.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(OfficeError::BadWorkingDay {
                office: office(),
                day,
            });
        }
        if self.working_days.is_empty() {
            return Err(OfficeError::NoWorkingDays { office: office() });
        }
        if self.booking_window_days < 1 {
            return Err(OfficeError::WindowTooShort { office: office() });
        }
        Ok(())
    }

    /// The office's wall clock at `now`.
    pub fn local_now(&self, now: DateTime<Utc>) -> DateTime<FixedOffset> {
        now.with_timezone(&self.zone.offset())
    }

    /// The date at the office at `now`, which may differ from the kiosk's own.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.local_now(now).date_naive()
    }

    /// What `date` is at this office at `now`. When a day is several things at once, the
    /// first of Past, OutsideWindow, NotWorkingDay, Holiday is reported: the calendar
    /// screen greys out whole stretches (past, beyond the window) before single days.
    pub fn day_status(&self, date: NaiveDate, now: DateTime<Utc>) -> DayStatus {
        let today = self.today(now);
        if date < today {
            return DayStatus::Past;
        }
        let ahead = date.signed_duration_since(today).num_days();
        if ahead > i64::from(self.booking_window_days) {
            return DayStatus::OutsideWindow;
        }
        if !self.is_working_day(date) {
            return DayStatus::NotWorkingDay;
        }
        if self.closed_dates.contains(&date) {
            return DayStatus::Holiday;
        }
        DayStatus::Open
    }

    fn is_working_day(&self, date: NaiveDate) -> bool {
        let iso = date.weekday().number_from_monday();
        self.working_days.iter().any(|&d| u32::from(d) == iso)
    }

    /// Open day, and for today: now (office time) is before the session's end minus SAME_DAY_CUTOFF.
    ///
    /// A session that is not one of this office's (compared whole, not only by id) is
    /// never bookable: a stale session list must not slip through.
    pub fn session_bookable(&self, date: NaiveDate, session: &Session, now: DateTime<Utc>) -> bool {
        if !self.sessions.iter().any(|s| s == session) {
            return false;
        }
        if self.day_status(date, now) != DayStatus::Open {
            return false;
        }
        // Compared as date-times so that a session ending shortly after midnight cannot
        // wrap its cut-off round to the evening before; for later days this always holds.
        let last_moment = date.and_time(session.end) - SAME_DAY_CUTOFF;
        self.local_now(now).naive_local() < last_moment
    }

    /// The sessions of `date` that can still be booked at `now`, in the office's order.
    pub fn bookable_sessions(&self, date: NaiveDate, now: DateTime<Utc>) -> Vec<&Session> {
        self.sessions
            .iter()
            .filter(|s| self.session_bookable(date, s, now))
            .collect()
    }

    /// today ..= today + booking_window_days, each Open with at least one bookable session.
    pub fn bookable_dates(&self, now: DateTime<Utc>) -> Vec<NaiveDate> {
        let today = self.today(now);
        (0..=u64::from(self.booking_window_days))
            .map_while(|ahead| today.checked_add_days(Days::new(ahead)))
            .filter(|&date| {
                self.sessions
                    .iter()
                    .any(|s| self.session_bookable(date, s, now))
            })
            .collect()
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// How an applicant is told session `id`: its number in the office's day (1-based,
    /// by start time, whatever the order or the ids the service gives) with its hours
    /// and the office's zone. `None` for a session the office does not have. The raw
    /// id (`S1`, which an Indonesian reads as a bachelor's degree) stays for the wire,
    /// the store and the QR.
    pub fn session_name(&self, id: &str) -> Option<SessionName> {
        let session = self.session(id)?;
        let earlier = self
            .sessions
            .iter()
            .filter(|s| (s.start, s.end, &s.id) < (session.start, session.end, &session.id))
            .count();
        Some(SessionName {
            number: u8::try_from(earlier + 1).unwrap_or(u8::MAX),
            start: session.start,
            end: session.end,
            zone: self.zone,
        })
    }
}

/// The part of the day a session starts in, as Indonesians divide it: *pagi* until
/// 11.00, *siang* 11.00 to 15.00, *sore* 15.00 to 18.00, *malam* from 18.00 (and before
/// 04.00, which no office opens at but a bad list could name). A session is named by
/// its start: an applicant thinks "I go in the morning" by when they must be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartOfDay {
    /// *pagi*, 04.00 to 11.00.
    Morning,
    /// *siang*, 11.00 to 15.00.
    Afternoon,
    /// *sore*, 15.00 to 18.00.
    Evening,
    /// *malam*, 18.00 to 04.00.
    Night,
}

impl PartOfDay {
    pub fn of(start: NaiveTime) -> PartOfDay {
        let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        match start {
            t if t < at(4) => PartOfDay::Night,
            t if t < at(11) => PartOfDay::Morning,
            t if t < at(15) => PartOfDay::Afternoon,
            t if t < at(18) => PartOfDay::Evening,
            _ => PartOfDay::Night,
        }
    }

    /// `pagi` / `morning`.
    pub fn word(self, language: Language) -> &'static str {
        match (language, self) {
            (Language::Id, PartOfDay::Morning) => "pagi",
            (Language::Id, PartOfDay::Afternoon) => "siang",
            (Language::Id, PartOfDay::Evening) => "sore",
            (Language::Id, PartOfDay::Night) => "malam",
            (Language::En, PartOfDay::Morning) => "morning",
            (Language::En, PartOfDay::Afternoon) => "afternoon",
            (Language::En, PartOfDay::Evening) => "evening",
            (Language::En, PartOfDay::Night) => "night",
        }
    }
}

/// A session as an applicant is told it ([`Office::session_name`]): the ticket, the
/// session page and the review page all say it with [`SessionName::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionName {
    /// 1 for the day's first session by start time.
    pub number: u8,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub zone: Zone,
}

impl SessionName {
    pub fn part_of_day(&self) -> PartOfDay {
        PartOfDay::of(self.start)
    }

    /// `Sesi 1 (pagi)` / `Session 1 (morning)`.
    pub fn title(&self, language: Language) -> String {
        let word = match language {
            Language::Id => "Sesi",
            Language::En => "Session",
        };
        format!(
            "{word} {} ({})",
            self.number,
            self.part_of_day().word(language)
        )
    }

    /// `08.00–10.00 WIB` / `08:00–10:00 WIB`.
    pub fn hours(&self, language: Language) -> String {
        format!(
            "{} {}",
            time_range(self.start, self.end, language),
            self.zone.label()
        )
    }

    /// `Sesi 1 (pagi) 08.00–10.00 WIB` / `Session 1 (morning) 08:00–10:00 WIB`.
    pub fn label(&self, language: Language) -> String {
        format!("{} {}", self.title(language), self.hours(language))
    }
}

/// What the kiosk's configuration adds to an office the central service describes
/// (`[offices.ID]`): where it is and when it opens, printed on the ticket. The service
/// sends neither; where the configuration gives none, the ticket prints none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfficeDetails {
    /// `Jl. Jend. Sudirman No. 1, Tg. Balai Karimun`.
    pub address: Option<String>,
    /// `Senin-Jumat 08.00-15.00`, as the office words it.
    pub hours: Option<String>,
}

impl OfficeDetails {
    /// The longest address the configuration takes, in characters: street, number and
    /// town (`Jl. Ahmad Yani No. 26, Teluk Tering, Batam` is 42), two lines of a 58 mm
    /// ticket. The ticket's byte budget is tested with it.
    pub const MAX_ADDRESS: usize = 44;
    /// The longest opening hours, in characters (`Senin-Jumat 08.00-16.00` is 23).
    pub const MAX_HOURS: usize = 24;
}

/// The earliest "today" of the kiosk's offices at `now`: each office's own yesterday is
/// gone, and the earliest today of all is still today for every one of them, so it is
/// the day from which what is kept (numbers, tickets to print, bookings to count) is
/// still good. Before any office is known, the date in WIB (UTC+7).
pub fn earliest_today(offices: &[Office], now: DateTime<Utc>) -> NaiveDate {
    offices
        .iter()
        .map(|o| o.today(now))
        .min()
        .unwrap_or_else(|| now.with_timezone(&Zone::Wib.offset()).date_naive())
}

/// The central API spec's example office (Tanjung Balai Karimun, WIB, Monday to Friday,
/// three sessions, closed on 25 and 26 December 2026): the fixture of every test that
/// needs an office.
#[cfg(any(test, feature = "fixtures"))]
pub fn example_office() -> Office {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
    let session = |id: &str, start, end| Session {
        id: id.into(),
        start: t(start),
        end: t(end),
    };
    Office {
        id: "KRM".into(),
        name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
        province_code: "21".into(),
        zone: Zone::Wib,
        working_days: vec![1, 2, 3, 4, 5],
        sessions: vec![
            session("S1", 8, 10),
            session("S2", 10, 12),
            session("S3", 13, 15),
        ],
        booking_window_days: 30,
        closed_dates: [d(12, 25), d(12, 26)].into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parts_of_day_change_at_the_hours_indonesians_use() {
        let cases = [
            (t(0, 0), PartOfDay::Night),
            (t(3, 59), PartOfDay::Night),
            (t(4, 0), PartOfDay::Morning),
            (t(8, 0), PartOfDay::Morning),
            (t(10, 59), PartOfDay::Morning),
            (t(11, 0), PartOfDay::Afternoon),
            (t(14, 59), PartOfDay::Afternoon),
            (t(15, 0), PartOfDay::Evening),
            (t(17, 59), PartOfDay::Evening),
            (t(18, 0), PartOfDay::Night),
            (t(23, 30), PartOfDay::Night),
        ];
        for (start, want) in cases {
            assert_eq!(PartOfDay::of(start), want, "{start}");
        }
        let words: Vec<_> = [
            PartOfDay::Morning,
            PartOfDay::Afternoon,
            PartOfDay::Evening,
            PartOfDay::Night,
        ]
        .into_iter()
        .map(|p| (p.word(Language::Id), p.word(Language::En)))
        .collect();
        assert_eq!(
            words,
            [
                ("pagi", "morning"),
                ("siang", "afternoon"),
                ("sore", "evening"),
                ("malam", "night")
            ]
        );
    }

    #[test]
    fn a_session_is_named_by_its_place_in_the_day_not_its_id() {
        let mut office = example_office();
        // The service's order and ids say nothing: S9 starts first.
        office.sessions = vec![
            Session {
                id: "S2".into(),
                start: t(13, 0),
                end: t(15, 0),
            },
            Session {
                id: "S9".into(),
                start: t(8, 0),
                end: t(10, 0),
            },
            Session {
                id: "S1".into(),
                start: t(15, 0),
                end: t(16, 30),
            },
        ];
        office.zone = Zone::Wita;
        let cases = [
            (
                "S9",
                "Sesi 1 (pagi) 08.00\u{2013}10.00 WITA",
                "Session 1 (morning) 08:00\u{2013}10:00 WITA",
            ),
            (
                "S2",
                "Sesi 2 (siang) 13.00\u{2013}15.00 WITA",
                "Session 2 (afternoon) 13:00\u{2013}15:00 WITA",
            ),
            (
                "S1",
                "Sesi 3 (sore) 15.00\u{2013}16.30 WITA",
                "Session 3 (evening) 15:00\u{2013}16:30 WITA",
            ),
        ];
        for (id, id_label, en_label) in cases {
            let name = office.session_name(id).expect("the office's session");
            assert_eq!(name.label(Language::Id), id_label);
            assert_eq!(name.label(Language::En), en_label);
        }
        assert_eq!(office.session_name("S4"), None);
        let first = example_office().session_name("S1").expect("S1");
        assert_eq!(first.title(Language::Id), "Sesi 1 (pagi)");
        assert_eq!(first.hours(Language::En), "08:00\u{2013}10:00 WIB");
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    fn utc(y: i32, mo: u32, day: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, day, h, mi, s)
            .single()
            .expect("valid test instant")
    }

    fn session(id: &str, start: NaiveTime, end: NaiveTime) -> Session {
        Session {
            id: id.into(),
            start,
            end,
        }
    }

    #[test]
    fn zones_map_names_labels_and_offsets() {
        let cases = [
            (Zone::Wib, "Asia/Jakarta", "WIB", 7),
            (Zone::Wita, "Asia/Makassar", "WITA", 8),
            (Zone::Wit, "Asia/Jayapura", "WIT", 9),
        ];
        for (zone, name, label, hours) in cases {
            assert_eq!(Zone::from_tz_name(name), Some(zone));
            assert_eq!(zone.tz_name(), name);
            assert_eq!(zone.label(), label);
            assert_eq!(zone.offset().local_minus_utc(), hours * 3600);
            let json = serde_json::to_string(&zone).expect("serialises");
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Zone>(&json).expect("reads"), zone);
        }
        assert_eq!(Zone::from_tz_name("Asia/Pontianak"), Some(Zone::Wib));
        assert_eq!(Zone::from_tz_name("Asia/Ujung_Pandang"), Some(Zone::Wita));
        for other in ["Asia/Tokyo", "UTC", "asia/jakarta", "WIB", ""] {
            assert_eq!(Zone::from_tz_name(other), None, "{other}");
            assert!(serde_json::from_str::<Zone>(&format!("\"{other}\"")).is_err());
        }
    }

    #[test]
    fn today_is_the_offices_date() {
        let in_zone = |zone| Office {
            zone,
            ..example_office()
        };
        let cases = [
            // 23:30 UTC is already tomorrow in all three zones.
            (utc(2026, 11, 22, 23, 30, 0), Zone::Wib, d(2026, 11, 23)),
            (utc(2026, 11, 22, 23, 30, 0), Zone::Wita, d(2026, 11, 23)),
            (utc(2026, 11, 22, 23, 30, 0), Zone::Wit, d(2026, 11, 23)),
            // Each zone's last second of the 22nd and first of the 23rd.
            (utc(2026, 11, 22, 16, 59, 59), Zone::Wib, d(2026, 11, 22)),
            (utc(2026, 11, 22, 17, 0, 0), Zone::Wib, d(2026, 11, 23)),
            (utc(2026, 11, 22, 15, 59, 59), Zone::Wita, d(2026, 11, 22)),
            (utc(2026, 11, 22, 16, 0, 0), Zone::Wita, d(2026, 11, 23)),
            (utc(2026, 11, 22, 14, 59, 59), Zone::Wit, d(2026, 11, 22)),
            (utc(2026, 11, 22, 15, 0, 0), Zone::Wit, d(2026, 11, 23)),
            // New Year's Eve: the year changes with the date.
            (utc(2026, 12, 31, 17, 0, 0), Zone::Wib, d(2027, 1, 1)),
        ];
        for (now, zone, want) in cases {
            assert_eq!(in_zone(zone).today(now), want, "{now} {zone:?}");
        }
        let local = example_office().local_now(utc(2026, 11, 22, 23, 30, 0));
        assert_eq!(local.naive_local(), d(2026, 11, 23).and_time(t(6, 30)));
    }

    #[test]
    fn day_status_for_past_weekends_holidays_and_the_window() {
        use DayStatus::*;
        // Tuesday 1 December 2026, 08:00 WIB: the window runs to Thursday 31 December.
        let now = utc(2026, 12, 1, 1, 0, 0);
        let cases = [
            (d(2026, 11, 30), Past),
            (d(2026, 12, 1), Open),
            (d(2026, 12, 4), Open),
            (d(2026, 12, 5), NotWorkingDay),
            (d(2026, 12, 6), NotWorkingDay),
            (d(2026, 12, 7), Open),
            (d(2026, 12, 25), Holiday),
            // Closed and a Saturday: the weekend is reported.
            (d(2026, 12, 26), NotWorkingDay),
            (d(2026, 12, 31), Open),
            (d(2027, 1, 1), OutsideWindow),
            (d(2027, 1, 2), OutsideWindow),
            (d(2025, 12, 31), Past),
        ];
        let office = example_office();
        for (date, want) in cases {
            assert_eq!(office.day_status(date, now), want, "{date}");
        }
    }

    #[test]
    fn the_earliest_today_is_the_westernmost_offices_date() {
        let in_zone = |id: &str, zone| Office {
            id: id.into(),
            zone,
            ..example_office()
        };
        let (wib, wita, wit) = (
            in_zone("KRM", Zone::Wib),
            in_zone("DPS", Zone::Wita),
            in_zone("DJJ", Zone::Wit),
        );
        let cases = [
            // (what, offices, now, earliest today)
            (
                "no office yet: WIB's date",
                vec![],
                utc(2026, 11, 22, 16, 59, 59),
                d(2026, 11, 22),
            ),
            (
                "no office yet, after WIB's midnight",
                vec![],
                utc(2026, 11, 22, 17, 0, 0),
                d(2026, 11, 23),
            ),
            (
                "one office",
                vec![wit.clone()],
                utc(2026, 11, 22, 15, 0, 0),
                d(2026, 11, 23),
            ),
            // 15:30 UTC: the 23rd in Jayapura, still the 22nd in Makassar and Jakarta.
            (
                "WIT ahead",
                vec![wit.clone(), wib.clone()],
                utc(2026, 11, 22, 15, 30, 0),
                d(2026, 11, 22),
            ),
            // 16:30 UTC: the 23rd in Makassar and Jayapura, the 22nd in Jakarta.
            (
                "WIB behind",
                vec![wita.clone(), wit.clone(), wib.clone()],
                utc(2026, 11, 22, 16, 30, 0),
                d(2026, 11, 22),
            ),
            (
                "WITA and WIT only",
                vec![wit.clone(), wita.clone()],
                utc(2026, 11, 22, 15, 30, 0),
                d(2026, 11, 22),
            ),
            (
                "WITA and WIT, both past midnight",
                vec![wit, wita],
                utc(2026, 11, 22, 16, 0, 0),
                d(2026, 11, 23),
            ),
            // 17:00 UTC: the 23rd everywhere.
            (
                "all past midnight",
                vec![wib],
                utc(2026, 11, 22, 17, 0, 0),
                d(2026, 11, 23),
            ),
        ];
        for (what, offices, now, want) in cases {
            assert_eq!(earliest_today(&offices, now), want, "{what}");
        }
    }

    #[test]
    fn a_kiosk_elsewhere_books_by_the_offices_today() {
        // 16:30 UTC on the 22nd: 23:30 in Jakarta, already 00:30 on the 23rd in Makassar.
        let now = utc(2026, 11, 22, 16, 30, 0);
        let every_day = vec![1, 2, 3, 4, 5, 6, 7];
        let jakarta = Office {
            working_days: every_day.clone(),
            booking_window_days: 1,
            ..example_office()
        };
        let makassar = Office {
            zone: Zone::Wita,
            ..jakarta.clone()
        };
        assert_eq!(jakarta.day_status(d(2026, 11, 22), now), DayStatus::Open);
        assert_eq!(makassar.day_status(d(2026, 11, 22), now), DayStatus::Past);
        assert_eq!(
            jakarta.day_status(d(2026, 11, 24), now),
            DayStatus::OutsideWindow
        );
        assert_eq!(makassar.day_status(d(2026, 11, 24), now), DayStatus::Open);
        // Nothing left to book today in Jakarta at 23:30; the window's one day remains.
        assert_eq!(jakarta.bookable_dates(now), vec![d(2026, 11, 23)]);
        assert_eq!(
            makassar.bookable_dates(now),
            vec![d(2026, 11, 23), d(2026, 11, 24)]
        );
    }

    #[test]
    fn same_day_sessions_close_thirty_minutes_before_their_end() {
        let office = example_office();
        let monday = d(2026, 11, 23);
        let s1 = office.session("S1").expect("S1").clone();
        let s3 = office.session("S3").expect("S3").clone();
        // Times in WIB, seven hours ahead of UTC.
        let wib = |h: u32, m, s| utc(2026, 11, 23, h - 7, m, s);
        let cases = [
            (&s1, wib(7, 0, 0), true),
            // Already started, but there is still time to arrive.
            (&s1, wib(9, 0, 0), true),
            (&s1, wib(9, 29, 59), true),
            (&s1, wib(9, 30, 0), false),
            (&s1, wib(9, 45, 0), false),
            (&s3, wib(14, 29, 59), true),
            (&s3, wib(14, 30, 0), false),
        ];
        for (session, now, want) in cases {
            assert_eq!(
                office.session_bookable(monday, session, now),
                want,
                "{} {now}",
                session.id
            );
            // Tomorrow's sessions stay bookable whatever the hour today.
            assert!(office.session_bookable(d(2026, 11, 24), session, now));
        }
        assert_eq!(SAME_DAY_CUTOFF, TimeDelta::minutes(30));
    }

    #[test]
    fn only_the_offices_own_sessions_on_open_days_are_bookable() {
        let office = example_office();
        let now = utc(2026, 11, 23, 0, 0, 0);
        let s1 = office.session("S1").expect("S1").clone();
        let stale = session("S1", t(8, 0), t(11, 0));
        let foreign = session("S9", t(8, 0), t(10, 0));
        assert!(office.session_bookable(d(2026, 11, 24), &s1, now));
        assert!(!office.session_bookable(d(2026, 11, 24), &stale, now));
        assert!(!office.session_bookable(d(2026, 11, 24), &foreign, now));
        assert!(
            !office.session_bookable(d(2026, 11, 28), &s1, now),
            "Saturday"
        );
        assert!(!office.session_bookable(d(2026, 11, 20), &s1, now), "past");
        assert!(
            !office.session_bookable(d(2026, 12, 25), &s1, utc(2026, 12, 1, 0, 0, 0)),
            "holiday"
        );
        assert!(
            !office.session_bookable(d(2026, 12, 24), &s1, now),
            "outside window"
        );
        assert_eq!(office.session("S2").map(|s| s.start), Some(t(10, 0)));
        assert_eq!(office.session("S4"), None);
    }

    #[test]
    fn a_session_ending_just_after_midnight_is_never_bookable_the_same_day() {
        let office = Office {
            working_days: vec![1, 2, 3, 4, 5, 6, 7],
            sessions: vec![session("N", t(0, 0), t(0, 20))],
            ..example_office()
        };
        assert_eq!(office.validate(), Ok(()));
        let n = office.sessions[0].clone();
        // 00:05 WIB on the 23rd.
        let now = utc(2026, 11, 22, 17, 5, 0);
        assert!(!office.session_bookable(d(2026, 11, 23), &n, now));
        assert!(office.session_bookable(d(2026, 11, 24), &n, now));
        // 22:00 WIB on the 22nd: that day's 00:00-00:20 session is long gone.
        let evening = utc(2026, 11, 22, 15, 0, 0);
        assert!(!office.session_bookable(d(2026, 11, 22), &n, evening));
    }

    #[test]
    fn bookable_dates_span_the_window_without_closed_days() {
        let office = example_office();
        // Tuesday 1 December, 08:00 WIB.
        let dates = office.bookable_dates(utc(2026, 12, 1, 1, 0, 0));
        assert_eq!(dates.first(), Some(&d(2026, 12, 1)));
        assert_eq!(dates.last(), Some(&d(2026, 12, 31)));
        assert_eq!(dates.len(), 22, "{dates:?}");
        assert!(!dates.contains(&d(2026, 12, 25)));
        assert!(
            dates
                .iter()
                .all(|day| day.weekday().number_from_monday() <= 5)
        );
        // 15:00 WIB: nothing left today.
        let later = office.bookable_dates(utc(2026, 12, 1, 8, 0, 0));
        assert_eq!(later.first(), Some(&d(2026, 12, 2)));
        assert_eq!(later.len(), 21);
        // 14:00 WIB: only S3 is left today.
        let two_pm = utc(2026, 12, 1, 7, 0, 0);
        let left: Vec<&str> = office
            .bookable_sessions(d(2026, 12, 1), two_pm)
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(left, ["S3"]);
        assert_eq!(office.bookable_dates(two_pm).first(), Some(&d(2026, 12, 1)));
    }

    /// One thing a central service could get wrong in an office, applied to a good one.
    type Change = dyn Fn(&mut Office);

    #[test]
    fn validation_finds_what_the_service_could_get_wrong() {
        assert_eq!(example_office().validate(), Ok(()));
        let with = |f: &Change| {
            let mut o = example_office();
            f(&mut o);
            o.validate().map_err(|e| e.code())
        };
        let cases: [(&str, &Change, Result<(), &str>); 12] = [
            ("no sessions", &|o| o.sessions.clear(), Err("no_sessions")),
            (
                "empty session",
                &|o| o.sessions[0].end = t(8, 0),
                Err("session_not_before_end"),
            ),
            (
                "backwards session",
                &|o| o.sessions[2].end = t(12, 0),
                Err("session_not_before_end"),
            ),
            (
                "overlap",
                &|o| o.sessions[1].start = t(9, 59),
                Err("sessions_overlap"),
            ),
            (
                "overlap out of order",
                &|o| o.sessions.push(session("S4", t(11, 0), t(13, 30))),
                Err("sessions_overlap"),
            ),
            (
                "duplicate id",
                &|o| o.sessions[2].id = "S1".into(),
                Err("bad_session_id"),
            ),
            (
                "empty session id",
                &|o| o.sessions[0].id.clear(),
                Err("bad_session_id"),
            ),
            ("day 0", &|o| o.working_days.push(0), Err("bad_working_day")),
            (
                "day 8",
                &|o| o.working_days = vec![1, 8],
                Err("bad_working_day"),
            ),
            (
                "no working days",
                &|o| o.working_days.clear(),
                Err("no_working_days"),
            ),
            (
                "window 0",
                &|o| o.booking_window_days = 0,
                Err("window_too_short"),
            ),
            ("window 1", &|o| o.booking_window_days = 1, Ok(())),
        ];
        for (what, change, want) in cases {
            assert_eq!(with(change), want, "{what}");
        }
        assert_eq!(with(&|o| o.id.clear()), Err("empty_id"));
        let mut o = example_office();
        o.sessions[1].start = t(9, 0);
        assert_eq!(
            o.validate().map_err(|e| e.to_string()),
            Err("office KRM: sessions S1 and S2 overlap".to_string())
        );
    }

    #[test]
    fn offices_read_and_write_the_central_api_form() {
        let json = r#"{
          "office_id": "KRM",
          "name": "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun",
          "province_code": "21",
          "time_zone": "Asia/Jakarta",
          "working_days": [1, 2, 3, 4, 5],
          "sessions": [{"session_id": "S1", "start": "08:00", "end": "10:00"},
                       {"session_id": "S2", "start": "10:00", "end": "12:00"},
                       {"session_id": "S3", "start": "13:00", "end": "15:00:00"}],
          "booking_window_days": 30,
          "closed_dates": ["2026-12-25", "2026-12-26"],
          "something_new": true
        }"#;
        let office: Office = serde_json::from_str(json).expect("the spec's office reads");
        assert_eq!(office, example_office());
        let written = serde_json::to_value(&office).expect("writes");
        assert_eq!(written["time_zone"], "Asia/Jakarta");
        assert_eq!(written["sessions"][0]["session_id"], "S1");
        assert_eq!(written["sessions"][2]["end"], "15:00");
        assert_eq!(written["closed_dates"][0], "2026-12-25");
        let back: Office = serde_json::from_value(written).expect("reads back");
        assert_eq!(back, office);
        let bad_time = json.replace("\"08:00\"", "\"8 o'clock\"");
        assert!(serde_json::from_str::<Office>(&bad_time).is_err());
        let bad_zone = json.replace("Asia/Jakarta", "Asia/Singapore");
        assert!(serde_json::from_str::<Office>(&bad_zone).is_err());
    }
}
