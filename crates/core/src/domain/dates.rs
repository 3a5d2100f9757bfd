//! Dates and times written out for people, in Bahasa Indonesia or English: the ticket
//! and the screens both use these, so the two never disagree.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

use super::Language;

/// The day's name: `Senin` / `Monday`.
pub fn day_name(weekday: Weekday, language: Language) -> &'static str {
    const ID: [&str; 7] = [
        "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
    ];
    const EN: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let i = weekday.num_days_from_monday() as usize;
    match language {
        Language::Id => ID[i],
        Language::En => EN[i],
    }
}

/// The month's name, `month` from 1 to 12: `Agustus` / `August`.
pub fn month_name(month: u32, language: Language) -> &'static str {
    const ID: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let i = (month.clamp(1, 12) - 1) as usize;
    match language {
        Language::Id => ID[i],
        Language::En => EN[i],
    }
}

/// `Senin, 24 November 2026` / `Monday, 24 November 2026`.
pub fn long_date(date: NaiveDate, language: Language) -> String {
    format!(
        "{}, {} {} {}",
        day_name(date.weekday(), language),
        date.day(),
        month_name(date.month(), language),
        date.year()
    )
}

/// `24 Nov 2026`-style short form for tight places: `24 Agu` / `24 Aug`.
pub fn short_date(date: NaiveDate, language: Language) -> String {
    let month: String = month_name(date.month(), language).chars().take(3).collect();
    format!("{} {}", date.day(), month)
}

/// `08.00–10.00` in Indonesian usage, `08:00–10:00` in English.
pub fn time_range(start: NaiveTime, end: NaiveTime, language: Language) -> String {
    let fmt = match language {
        Language::Id => "%H.%M",
        Language::En => "%H:%M",
    };
    format!("{}–{}", start.format(fmt), end.format(fmt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn long_dates_in_both_languages() {
        let cases = [
            (d(2026, 11, 24), Language::Id, "Selasa, 24 November 2026"),
            (d(2026, 11, 24), Language::En, "Tuesday, 24 November 2026"),
            (d(2026, 8, 17), Language::Id, "Senin, 17 Agustus 2026"),
            (d(2028, 2, 29), Language::Id, "Selasa, 29 Februari 2028"),
            (d(2026, 11, 22), Language::En, "Sunday, 22 November 2026"),
            (d(2026, 11, 22), Language::Id, "Minggu, 22 November 2026"),
        ];
        for (date, lang, want) in cases {
            assert_eq!(long_date(date, lang), want, "{date} {lang:?}");
        }
    }

    #[test]
    fn time_ranges_follow_local_usage() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid test time");
        assert_eq!(time_range(t(8, 0), t(10, 0), Language::Id), "08.00–10.00");
        assert_eq!(time_range(t(13, 0), t(15, 30), Language::En), "13:00–15:30");
        assert_eq!(short_date(d(2026, 8, 3), Language::Id), "3 Agu");
    }
}
