//! What the card reader hands the kiosk, in the flow's terms: the fields of a card that
//! was read ([`CardFields`]) and what an applicant can do about a read that failed
//! ([`CardProblem`]). The reader's bytes are `protocol::reader`'s; what the flow does
//! with a card is `step`'s.
//!
//! A card's text is taken only within the KTP's own limits ([`CardFields::checked`]):
//! each field no longer than the card can hold (the name at most [`NAME_MAX`]
//! characters, as Dukcapil records names), invisible direction and format controls
//! (U+202E and its kin) stripped, and nothing else that does not print. A card outside
//! them is [`CardProblem::DataCorrupt`]: the applicant is asked to lay it again, then
//! offered the keypad, and nothing of it reaches the screen, the ticket or the upload.

use super::{CardFields, CardProblem};
use crate::protocol::reader::{CardData, ReadErrorCode};

impl From<CardData> for CardFields {
    fn from(card: CardData) -> CardFields {
        CardFields {
            nik: card.nik,
            name: card.name,
            birth_place: card.birth_place,
            birth_date: card.birth_date,
            sex: card.sex,
            address: card.address,
        }
    }
}

/// The longest name a KTP carries: Dukcapil records a name of at most 60 letters,
/// spaces included (Permendagri 73/2022).
pub const NAME_MAX: usize = 60;
/// The longest birth place: a regency or city's name (the longest, "Kepulauan Siau
/// Tagulandang Biaro", is 35), with room to spare.
pub const BIRTH_PLACE_MAX: usize = 50;
/// The longest street line of the KTP's address field.
pub const ADDRESS_MAX: usize = 100;
/// The fixed fields: the NIK's 16 digits, `YYYY-MM-DD`, `L` or `P`.
const NIK_LEN: usize = 16;
const DATE_LEN: usize = 10;
const SEX_LEN: usize = 1;

/// Invisible characters that change how text around them is shown or joined: the
/// bidirectional controls (U+202E turns "AMINAH" into "HANIMA" on the screen) and the
/// zero-width ones. Stripped: a card's text needs none of them.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether `c` prints: no control characters (C0, DEL, C1) and no line or paragraph
/// separators, which would break a printed line or a view line.
fn prints(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}')
}

/// One field of the card: invisible controls stripped, spaces trimmed, at most `max`
/// characters, all of them printing; `None` when it is not within those limits.
fn field(text: &str, max: usize) -> Option<String> {
    let kept: String = text.chars().filter(|c| !invisible(*c)).collect();
    let kept = kept.trim();
    (kept.chars().count() <= max && kept.chars().all(prints)).then(|| kept.to_owned())
}

/// An optional field: empty is absent.
fn optional(text: Option<String>, max: usize) -> Result<Option<String>, CardProblem> {
    match text {
        None => Ok(None),
        Some(t) => match field(&t, max) {
            Some(kept) if kept.is_empty() => Ok(None),
            Some(kept) => Ok(Some(kept)),
            None => Err(CardProblem::DataCorrupt),
        },
    }
}

/// A required field: present, within its limits and not empty.
fn required(text: &str, max: usize) -> Result<String, CardProblem> {
    match field(text, max) {
        Some(kept) if !kept.is_empty() => Ok(kept),
        _ => Err(CardProblem::DataCorrupt),
    }
}

impl CardFields {
    /// The card's fields within the KTP's limits (the module's rule), or
    /// [`CardProblem::DataCorrupt`]. Whether the NIK, date and sex make sense is the
    /// flow's next check (`nik::check_card`).
    pub fn checked(self) -> Result<CardFields, CardProblem> {
        Ok(CardFields {
            nik: required(&self.nik, NIK_LEN)?,
            name: required(&self.name, NAME_MAX)?,
            birth_place: optional(self.birth_place, BIRTH_PLACE_MAX)?,
            birth_date: required(&self.birth_date, DATE_LEN)?,
            sex: required(&self.sex, SEX_LEN)?,
            address: optional(self.address, ADDRESS_MAX)?,
        })
    }
}

/// A name typed on the letter keypad, as the ticket will carry it: trimmed, spaces
/// single, upper case as on a KTP; `None` when nothing was typed (the officer completes
/// it from the family card). A character no KTP name has (letters, spaces and `.`,
/// `'`, `-`, `,`), or more than [`NAME_MAX`] characters, is refused.
pub fn typed_name(text: &str) -> Result<Option<String>, super::EntryProblem> {
    let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let allowed = |c: char| c.is_ascii_alphabetic() || " .'-,".contains(c);
    if name.chars().count() > NAME_MAX || !name.chars().all(allowed) {
        return Err(super::EntryProblem::NameInvalid);
    }
    Ok(Some(name.to_ascii_uppercase()).filter(|n| !n.is_empty()))
}

impl From<ReadErrorCode> for CardProblem {
    fn from(code: ReadErrorCode) -> CardProblem {
        match code {
            ReadErrorCode::NoCard | ReadErrorCode::CardRemoved => CardProblem::NotStill,
            ReadErrorCode::NotEktp => CardProblem::NotEktp,
            ReadErrorCode::ChipAuthFailed => CardProblem::ChipRejected,
            ReadErrorCode::SamUnavailable => CardProblem::ReaderFault,
            ReadErrorCode::TimedOut | ReadErrorCode::Unknown(_) => CardProblem::ReadFailed,
        }
    }
}

impl CardProblem {
    /// The problem's code, as the view and the control channel spell it.
    pub fn code(self) -> &'static str {
        match self {
            CardProblem::NotStill => "not_still",
            CardProblem::NotEktp => "not_ektp",
            CardProblem::ChipRejected => "chip_rejected",
            CardProblem::ReadFailed => "read_failed",
            CardProblem::ReaderFault => "reader_fault",
            CardProblem::DataCorrupt => "data_corrupt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_name_is_kept_as_a_ktp_has_it_or_refused() {
        use super::super::EntryProblem::NameInvalid;
        let cases: [(&str, Result<Option<&str>, _>); 7] = [
            ("  putri   ayu ", Ok(Some("PUTRI AYU"))),
            ("D'ARCY-ANAK, M.", Ok(Some("D'ARCY-ANAK, M."))),
            ("   ", Ok(None)),
            ("", Ok(None)),
            ("ANAK 2", Err(NameInvalid)),
            ("ANAK\u{202E}", Err(NameInvalid)),
            ("ÉLISE", Err(NameInvalid)),
        ];
        for (typed, want) in cases {
            assert_eq!(
                typed_name(typed),
                want.map(|n| n.map(String::from)),
                "{typed:?}"
            );
        }
        assert_eq!(
            typed_name(&"A".repeat(NAME_MAX)).map(|n| n.map(|n| n.len())),
            Ok(Some(NAME_MAX))
        );
        assert_eq!(typed_name(&"A".repeat(NAME_MAX + 1)), Err(NameInvalid));
    }

    #[test]
    fn codes_are_the_wire_names() {
        for p in [
            CardProblem::NotStill,
            CardProblem::NotEktp,
            CardProblem::ChipRejected,
            CardProblem::ReadFailed,
            CardProblem::ReaderFault,
            CardProblem::DataCorrupt,
        ] {
            assert_eq!(
                serde_json::to_value(p).expect("json"),
                serde_json::json!(p.code())
            );
        }
    }

    fn siti() -> CardFields {
        CardFields {
            nik: "3171015708900003".into(),
            name: "SITI AMINAH".into(),
            birth_place: Some("JAKARTA".into()),
            birth_date: "1990-08-17".into(),
            sex: "P".into(),
            address: Some("JL. MERDEKA NO. 1".into()),
        }
    }

    #[test]
    fn card_fields_within_the_ktp_limits_are_kept_and_the_rest_is_corrupt() {
        let with = |f: fn(&mut CardFields)| {
            let mut c = siti();
            f(&mut c);
            c.checked()
        };
        assert_eq!(siti().checked(), Ok(siti()));
        // (change, the name kept, or None for data_corrupt)
        let names: [(&str, Option<&str>); 10] = [
            ("SITI \u{202E}HANIMA", Some("SITI HANIMA")),
            ("\u{200F}SITI AMINAH\u{2069}", Some("SITI AMINAH")),
            ("  SITI AMINAH ", Some("SITI AMINAH")),
            ("O'NEIL AL-FARUQ, S.H.", Some("O'NEIL AL-FARUQ, S.H.")),
            ("", None),
            ("\u{202E}", None),
            ("SITI\u{0007}AMINAH", None),
            ("SITI\nAMINAH", None),
            ("SITI\u{2028}AMINAH", None),
            ("SITI\u{85}AMINAH", None),
        ];
        for (name, want) in names {
            let mut c = siti();
            c.name = name.into();
            assert_eq!(
                c.checked().map(|c| c.name).ok().as_deref(),
                want,
                "{name:?}"
            );
        }
        let longest = "A".repeat(NAME_MAX);
        let mut c = siti();
        c.name = longest.clone();
        assert_eq!(c.checked().map(|c| c.name), Ok(longest));
        let mut c = siti();
        c.name = "A".repeat(NAME_MAX + 1);
        assert_eq!(c.checked(), Err(CardProblem::DataCorrupt));
        let mut c = siti();
        c.name = "A".repeat(4024);
        assert_eq!(c.checked(), Err(CardProblem::DataCorrupt));
        assert_eq!(
            with(|c| c.address = Some("X".repeat(ADDRESS_MAX + 1))),
            Err(CardProblem::DataCorrupt)
        );
        assert_eq!(
            with(|c| c.birth_place = Some("B".repeat(BIRTH_PLACE_MAX + 1))),
            Err(CardProblem::DataCorrupt)
        );
        assert_eq!(
            with(|c| c.address = Some(" \u{202D} ".into())).map(|c| c.address),
            Ok(None)
        );
        assert_eq!(
            with(|c| c.nik = "31710157089000031".into()),
            Err(CardProblem::DataCorrupt)
        );
        assert_eq!(with(|c| c.sex = "PP".into()), Err(CardProblem::DataCorrupt));
    }

    #[test]
    fn every_read_error_has_a_way_out() {
        let cases = [
            (ReadErrorCode::NoCard, CardProblem::NotStill),
            (ReadErrorCode::CardRemoved, CardProblem::NotStill),
            (ReadErrorCode::NotEktp, CardProblem::NotEktp),
            (ReadErrorCode::ChipAuthFailed, CardProblem::ChipRejected),
            (ReadErrorCode::SamUnavailable, CardProblem::ReaderFault),
            (ReadErrorCode::TimedOut, CardProblem::ReadFailed),
            (ReadErrorCode::Unknown(0x7f), CardProblem::ReadFailed),
        ];
        for (code, want) in cases {
            assert_eq!(CardProblem::from(code), want, "{code:?}");
        }
    }
}
