//! The two identity numbers an applicant brings: the NIK (Nomor Induk Kependudukan, on
//! the KTP) and the KK number (Kartu Keluarga, the family card). This module owns their
//! offline structural checks, what a NIK encodes (region, birth date, sex), the check of
//! a NIK against the card's own birth date and sex fields, and how both numbers are masked
//! wherever they must be shown.
//!
//! It does not know whether a number really exists: only the central service can ask
//! Dukcapil that (`nik_invalid`). Reading the card is `protocol`/`hardware`'s business,
//! the booking rules that use a NIK are in [`super::rules`].
//!
//! Both numbers are personal data: their `Debug` prints them masked, neither implements
//! `Display`, and no error's `Display` carries any of their digits.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Sex;

/// How many digits a NIK and a KK number have.
pub const NUMBER_LEN: usize = 16;

/// What women add to the day of birth in digits 7-8 of their NIK.
const FEMALE_DAY_OFFSET: u32 = 40;

/// 16 ASCII digits whose structure passed every offline check. Debug prints it masked.
/// Serialize as the plain string; Deserialize checks only "16 digits".
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nik(String);

/// What a NIK encodes. The region codes are kept as numbers: the province has a name
/// ([`province_name`]), regencies and districts are far too many to list offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NikInfo {
    pub province: u8,
    pub regency: u8,
    pub district: u8,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    /// The running number among people of the same region and birth date.
    pub serial: u16,
}

/// Why a string is not a structurally valid NIK. Display says what is wrong and never
/// repeats the NIK's digits (a province code alone identifies no one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NikError {
    #[error("a NIK has 16 digits, this one has {found} characters")]
    WrongLength { found: usize },
    #[error("a NIK holds digits only")]
    NotDigits,
    #[error("province code {code:02} is not an Indonesian province")]
    UnknownProvince { code: u8 },
    #[error("the regency code of the NIK is 00")]
    RegencyZero,
    #[error("the district code of the NIK is 00")]
    DistrictZero,
    #[error("digits 7 to 12 of the NIK are not a date of birth")]
    NotADate,
    #[error("the serial number of the NIK is zero")]
    SerialZero,
}

impl NikError {
    /// A stable snake_case name, for logs and counts.
    pub fn code(&self) -> &'static str {
        match self {
            NikError::WrongLength { .. } => "wrong_length",
            NikError::NotDigits => "not_digits",
            NikError::UnknownProvince { .. } => "unknown_province",
            NikError::RegencyZero => "regency_zero",
            NikError::DistrictZero => "district_zero",
            NikError::NotADate => "not_a_date",
            NikError::SerialZero => "serial_zero",
        }
    }
}

/// The checks both numbers share, in the order a person would read the digits: length,
/// digits, province, regency, district. The date and the serial differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommonError {
    WrongLength { found: usize },
    NotDigits,
    UnknownProvince { code: u8 },
    RegencyZero,
    DistrictZero,
}

/// The six fields every 16-digit identity number is cut into.
struct Fields {
    province: u8,
    regency: u8,
    district: u8,
    /// Digits 7-8, 9-10, 11-12 as read, before any decoding.
    day: u32,
    month: u32,
    year2: u32,
    serial: u16,
}

fn check_common(s: &str) -> Result<Fields, CommonError> {
    let found = s.chars().count();
    if found != NUMBER_LEN {
        return Err(CommonError::WrongLength { found });
    }
    let b = s.as_bytes();
    // 16 chars but more than 16 bytes means something non-ASCII, so not digits either.
    if b.len() != NUMBER_LEN || !b.iter().all(u8::is_ascii_digit) {
        return Err(CommonError::NotDigits);
    }
    let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    let province = two(0);
    if province_name(province).is_none() {
        return Err(CommonError::UnknownProvince { code: province });
    }
    let regency = two(2);
    if regency == 0 {
        return Err(CommonError::RegencyZero);
    }
    let district = two(4);
    if district == 0 {
        return Err(CommonError::DistrictZero);
    }
    let serial = b[12..16]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    Ok(Fields {
        province,
        regency,
        district,
        day: u32::from(two(6)),
        month: u32::from(two(8)),
        year2: u32::from(two(10)),
        serial,
    })
}

/// The date DD MM YY stands for: 20YY when that is a real date on or before `today`,
/// else 19YY (which may itself not exist: 29 February 1900). Never a date after `today`:
/// with a clock set before 2000, 19YY can be in the future too.
fn date_from_two_digit_year(
    day: u32,
    month: u32,
    year2: u32,
    today: NaiveDate,
) -> Option<NaiveDate> {
    // year2 < 100, so both casts are exact.
    let this_century = NaiveDate::from_ymd_opt(2000 + year2 as i32, month, day);
    match this_century {
        Some(d) if d <= today => Some(d),
        _ => NaiveDate::from_ymd_opt(1900 + year2 as i32, month, day).filter(|d| *d <= today),
    }
}

impl Nik {
    /// Checks `s` as a NIK and decodes it. `today` decides the century of the birth date:
    /// no one is born in the future.
    pub fn parse(s: &str, today: NaiveDate) -> Result<(Nik, NikInfo), NikError> {
        let f = check_common(s).map_err(|e| match e {
            CommonError::WrongLength { found } => NikError::WrongLength { found },
            CommonError::NotDigits => NikError::NotDigits,
            CommonError::UnknownProvince { code } => NikError::UnknownProvince { code },
            CommonError::RegencyZero => NikError::RegencyZero,
            CommonError::DistrictZero => NikError::DistrictZero,
        })?;
        let (day, sex) = match f.day {
            1..=31 => (f.day, Sex::Male),
            41..=71 => (f.day - FEMALE_DAY_OFFSET, Sex::Female),
            _ => return Err(NikError::NotADate),
        };
        let birth_date =
            date_from_two_digit_year(day, f.month, f.year2, today).ok_or(NikError::NotADate)?;
        if f.serial == 0 {
            return Err(NikError::SerialZero);
        }
        let info = NikInfo {
            province: f.province,
            regency: f.regency,
            district: f.district,
            birth_date,
            sex,
            serial: f.serial,
        };
        Ok((Nik(s.to_owned()), info))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `3171********0003`, for screens and tickets where the applicant must recognise it.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nik({})", self.masked())
    }
}

impl Serialize for Nik {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Nik {
    /// Only "16 digits": a NIK once accepted stays readable even if the province list or
    /// the clock changes later (what we stored, we must be able to upload).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(SixteenDigits("a NIK"))
            .map(Nik)
    }
}

/// Reads a string of 16 ASCII digits. Its own visitor, driven by `deserialize_any`, rather
/// than `String::deserialize`, because the stock errors quote the value they refused
/// ("invalid type: integer `3171015708900003`") and a deserialisation error ends up in
/// logs. Every format the kiosk uses (JSON, TOML) is self-describing.
struct SixteenDigits(&'static str);

impl SixteenDigits {
    fn refuse<E: serde::de::Error>(&self) -> E {
        E::custom(format_args!("{} must be a string of 16 digits", self.0))
    }
}

impl serde::de::Visitor<'_> for SixteenDigits {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as a string of 16 digits", self.0)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        if v.len() == NUMBER_LEN && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v.to_owned())
        } else {
            Err(self.refuse())
        }
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        if v.len() == NUMBER_LEN && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v)
        } else {
            Err(self.refuse())
        }
    }

    // Numbers are the likely mistake (a NIK written without quotes), and the stock
    // messages for them would print it whole.
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.refuse())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.refuse())
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<String, E> {
        Err(self.refuse())
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<String, E> {
        Err(self.refuse())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.refuse())
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<String, E> {
        Err(self.refuse())
    }
}

/// First 4 and last 4 digits, 8 stars between: `3171********0003`. Anything that is not
/// 16 characters long comes back as 16 stars, so that a mistyped or cut number never
/// shows more than 8 of its characters either.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() != NUMBER_LEN {
        return "*".repeat(NUMBER_LEN);
    }
    let mut out = String::with_capacity(NUMBER_LEN);
    out.extend(&chars[..4]);
    out.push_str("********");
    out.extend(&chars[12..]);
    out
}

/// The province a NIK's first two digits name, by the Ministry of Home Affairs' codes
/// (Kemendagri, which Dukcapil uses; BPS numbers Papua differently). 91 to 96 are Papua,
/// Papua Barat and the four provinces made from them in 2022.
pub fn province_name(code: u8) -> Option<&'static str> {
    Some(match code {
        11 => "Aceh",
        12 => "Sumatera Utara",
        13 => "Sumatera Barat",
        14 => "Riau",
        15 => "Jambi",
        16 => "Sumatera Selatan",
        17 => "Bengkulu",
        18 => "Lampung",
        19 => "Kepulauan Bangka Belitung",
        21 => "Kepulauan Riau",
        31 => "DKI Jakarta",
        32 => "Jawa Barat",
        33 => "Jawa Tengah",
        34 => "DI Yogyakarta",
        35 => "Jawa Timur",
        36 => "Banten",
        51 => "Bali",
        52 => "Nusa Tenggara Barat",
        53 => "Nusa Tenggara Timur",
        61 => "Kalimantan Barat",
        62 => "Kalimantan Tengah",
        63 => "Kalimantan Selatan",
        64 => "Kalimantan Timur",
        65 => "Kalimantan Utara",
        71 => "Sulawesi Utara",
        72 => "Sulawesi Tengah",
        73 => "Sulawesi Selatan",
        74 => "Sulawesi Tenggara",
        75 => "Gorontalo",
        76 => "Sulawesi Barat",
        81 => "Maluku",
        82 => "Maluku Utara",
        91 => "Papua",
        92 => "Papua Barat",
        93 => "Papua Selatan",
        94 => "Papua Tengah",
        95 => "Papua Pegunungan",
        96 => "Papua Barat Daya",
        _ => return None,
    })
}

/// Which of the card's own fields disagree with what its NIK encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardMismatch {
    BirthDate,
    Sex,
    Both,
}

impl CardMismatch {
    /// A stable snake_case name, for logs and counts.
    pub fn code(self) -> &'static str {
        match self {
            CardMismatch::BirthDate => "birth_date_mismatch",
            CardMismatch::Sex => "sex_mismatch",
            CardMismatch::Both => "birth_date_and_sex_mismatch",
        }
    }
}

/// The reader does not compare the NIK with the other fields of the card; the host does
/// (card-reader-protocol.md): birth date and sex coded in the NIK must agree with the
/// card's birth date and sex tags. A disagreement points at a damaged or forged card.
pub fn check_card(
    info: &NikInfo,
    card_birth_date: NaiveDate,
    card_sex: Sex,
) -> Result<(), CardMismatch> {
    match (info.birth_date == card_birth_date, info.sex == card_sex) {
        (true, true) => Ok(()),
        (false, true) => Err(CardMismatch::BirthDate),
        (true, false) => Err(CardMismatch::Sex),
        (false, false) => Err(CardMismatch::Both),
    }
}

/// Kartu Keluarga number: 16 digits, province code in the list, regency and district not 00,
/// digits 7-12 a real issue date DDMMYY not after today, serial not 0000.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KkNumber(String);

/// Why a string is not a structurally valid KK number. Display never carries its digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KkError {
    #[error("a KK number has 16 digits, this one has {found} characters")]
    WrongLength { found: usize },
    #[error("a KK number holds digits only")]
    NotDigits,
    #[error("province code {code:02} is not an Indonesian province")]
    UnknownProvince { code: u8 },
    #[error("the regency code of the KK number is 00")]
    RegencyZero,
    #[error("the district code of the KK number is 00")]
    DistrictZero,
    /// Unlike a NIK, a KK's date has no +40 for women: day 41 is simply not a date.
    #[error("digits 7 to 12 of the KK number are not an issue date")]
    NotADate,
    #[error("the serial number of the KK number is zero")]
    SerialZero,
}

impl KkError {
    /// A stable snake_case name, for logs and counts.
    pub fn code(&self) -> &'static str {
        match self {
            KkError::WrongLength { .. } => "wrong_length",
            KkError::NotDigits => "not_digits",
            KkError::UnknownProvince { .. } => "unknown_province",
            KkError::RegencyZero => "regency_zero",
            KkError::DistrictZero => "district_zero",
            KkError::NotADate => "not_a_date",
            KkError::SerialZero => "serial_zero",
        }
    }
}

impl KkNumber {
    /// Checks `s` as a KK number. The issue date's century is chosen as for a NIK's birth
    /// date: 20YY when that is on or before `today`, else 19YY, and never after `today`.
    /// With two-digit years a date "after today" reads as one a century earlier; telling
    /// them apart would need an earliest plausible issue year, which nothing specifies,
    /// so none is invented.
    pub fn parse(s: &str, today: NaiveDate) -> Result<KkNumber, KkError> {
        let f = check_common(s).map_err(|e| match e {
            CommonError::WrongLength { found } => KkError::WrongLength { found },
            CommonError::NotDigits => KkError::NotDigits,
            CommonError::UnknownProvince { code } => KkError::UnknownProvince { code },
            CommonError::RegencyZero => KkError::RegencyZero,
            CommonError::DistrictZero => KkError::DistrictZero,
        })?;
        date_from_two_digit_year(f.day, f.month, f.year2, today).ok_or(KkError::NotADate)?;
        if f.serial == 0 {
            return Err(KkError::SerialZero);
        }
        Ok(KkNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `2102********0007`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for KkNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KkNumber({})", self.masked())
    }
}

impl Serialize for KkNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KkNumber {
    /// Only "16 digits", as for [`Nik`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(SixteenDigits("a KK number"))
            .map(KkNumber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    /// The day these tests run on, unless a case says otherwise.
    fn today() -> NaiveDate {
        d(2026, 11, 22)
    }

    /// A NIK from Jakarta Timur (31 71 01) with the given DDMMYY and serial.
    fn jkt(ddmmyy: &str, serial: &str) -> String {
        format!("317101{ddmmyy}{serial}")
    }

    #[test]
    fn valid_niks_decode_birth_date_sex_and_region() {
        let cases: [(String, NaiveDate, NaiveDate, Sex); 11] = [
            // The card reader spec's test card.
            (jkt("570890", "0003"), today(), d(1990, 8, 17), Sex::Female),
            (jkt("170890", "0003"), today(), d(1990, 8, 17), Sex::Male),
            // 29 February 2000 exists, 29 February 1900 does not.
            (jkt("290200", "0001"), today(), d(2000, 2, 29), Sex::Male),
            (jkt("690200", "0001"), today(), d(2000, 2, 29), Sex::Female),
            (jkt("290204", "0001"), today(), d(2004, 2, 29), Sex::Male),
            // Women born on the 31st: day 71.
            (jkt("710190", "0001"), today(), d(1990, 1, 31), Sex::Female),
            // Day 41 is the 1st, for a woman.
            (jkt("410190", "0001"), today(), d(1990, 1, 1), Sex::Female),
            (jkt("010190", "0001"), today(), d(1990, 1, 1), Sex::Male),
            // Born today: this century.
            (jkt("221126", "0001"), today(), d(2026, 11, 22), Sex::Male),
            // Would be born tomorrow: so the previous century.
            (jkt("231126", "0001"), today(), d(1926, 11, 23), Sex::Male),
            (jkt("631126", "9999"), today(), d(1926, 11, 23), Sex::Female),
        ];
        for (s, on, birth, sex) in cases {
            let (nik, info) = Nik::parse(&s, on).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(nik.as_str(), s);
            assert_eq!((info.birth_date, info.sex), (birth, sex), "{s}");
            assert_eq!(
                (info.province, info.regency, info.district),
                (31, 71, 1),
                "{s}"
            );
        }
        let (_, info) = Nik::parse(&jkt("570890", "0003"), today()).expect("valid NIK");
        assert_eq!(info.serial, 3);
        let (_, info) = Nik::parse(&jkt("631126", "9999"), today()).expect("valid NIK");
        assert_eq!(info.serial, 9999);
    }

    #[test]
    fn invalid_niks_fail_with_their_own_error() {
        let before_2000 = d(1999, 6, 1);
        let cases: [(String, NaiveDate, NikError); 28] = [
            (
                "317101570890000".into(),
                today(),
                NikError::WrongLength { found: 15 },
            ),
            (
                "31710157089000031".into(),
                today(),
                NikError::WrongLength { found: 17 },
            ),
            (String::new(), today(), NikError::WrongLength { found: 0 }),
            ("3171015708 00003".into(), today(), NikError::NotDigits),
            ("317101570890000A".into(), today(), NikError::NotDigits),
            // Arabic-Indic digit three: a digit, but not an ASCII one.
            (
                "317101570890000\u{663}".into(),
                today(),
                NikError::NotDigits,
            ),
            (
                "0071015708900003".into(),
                today(),
                NikError::UnknownProvince { code: 0 },
            ),
            (
                "2071015708900003".into(),
                today(),
                NikError::UnknownProvince { code: 20 },
            ),
            (
                "9971015708900003".into(),
                today(),
                NikError::UnknownProvince { code: 99 },
            ),
            (
                "1071015708900003".into(),
                today(),
                NikError::UnknownProvince { code: 10 },
            ),
            (
                "3771015708900003".into(),
                today(),
                NikError::UnknownProvince { code: 37 },
            ),
            ("3100015708900003".into(), today(), NikError::RegencyZero),
            ("3171005708900003".into(), today(), NikError::DistrictZero),
            // 29 February in a common year, in both centuries.
            (jkt("290201", "0001"), today(), NikError::NotADate),
            (jkt("690201", "0001"), today(), NikError::NotADate),
            // Before 2000 had come, 29.02.00 could only mean 1900, which was not leap.
            (jkt("290200", "0001"), before_2000, NikError::NotADate),
            // Born "next month" in either century, by a clock that says 1999.
            (jkt("010799", "0001"), before_2000, NikError::NotADate),
            // 31 April, for a man and for a woman.
            (jkt("310490", "0001"), today(), NikError::NotADate),
            (jkt("710490", "0001"), today(), NikError::NotADate),
            (jkt("000190", "0001"), today(), NikError::NotADate),
            (jkt("320190", "0001"), today(), NikError::NotADate),
            (jkt("400190", "0001"), today(), NikError::NotADate),
            (jkt("720190", "0001"), today(), NikError::NotADate),
            (jkt("011390", "0001"), today(), NikError::NotADate),
            (jkt("010090", "0001"), today(), NikError::NotADate),
            (jkt("570890", "0000"), today(), NikError::SerialZero),
            // The first failing check in reading order wins.
            (
                "0000000000000000".into(),
                today(),
                NikError::UnknownProvince { code: 0 },
            ),
            (jkt("000090", "0000"), today(), NikError::NotADate),
        ];
        for (s, on, want) in cases {
            assert_eq!(Nik::parse(&s, on).map(|(_, i)| i), Err(want), "{s:?}");
        }
    }

    #[test]
    fn every_listed_province_parses_and_others_do_not() {
        let listed: Vec<u8> = (11..=19)
            .chain([21])
            .chain(31..=36)
            .chain(51..=53)
            .chain(61..=65)
            .chain(71..=76)
            .chain(81..=82)
            .chain(91..=96)
            .collect();
        for code in 0..=99u8 {
            let s = format!("{code:02}7101570890{:04}", 3);
            let got = Nik::parse(&s, today()).map(|(_, i)| i.province);
            if listed.contains(&code) {
                assert_eq!(got, Ok(code), "{code}");
                assert!(province_name(code).is_some(), "{code}");
            } else {
                assert_eq!(got, Err(NikError::UnknownProvince { code }), "{code}");
            }
        }
        assert_eq!(province_name(91), Some("Papua"));
        assert_eq!(province_name(96), Some("Papua Barat Daya"));
        assert_eq!(province_name(21), Some("Kepulauan Riau"));
    }

    /// No error message may repeat the number it is about: three digits in a row would
    /// already be more than a province code.
    fn has_digit_run(s: &str, n: usize) -> bool {
        s.as_bytes()
            .windows(n)
            .any(|w| w.iter().all(u8::is_ascii_digit))
    }

    #[test]
    fn errors_carry_no_digits_of_the_number_and_have_codes() {
        let errors = [
            NikError::WrongLength { found: 15 },
            NikError::NotDigits,
            NikError::UnknownProvince { code: 99 },
            NikError::RegencyZero,
            NikError::DistrictZero,
            NikError::NotADate,
            NikError::SerialZero,
        ];
        let mut codes = std::collections::BTreeSet::new();
        for e in errors {
            assert!(!has_digit_run(&e.to_string(), 3), "{e}");
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
        }
        let kk_errors = [
            KkError::WrongLength { found: 3 },
            KkError::NotDigits,
            KkError::UnknownProvince { code: 20 },
            KkError::RegencyZero,
            KkError::DistrictZero,
            KkError::NotADate,
            KkError::SerialZero,
        ];
        for e in kk_errors {
            assert!(!has_digit_run(&e.to_string(), 3), "{e}");
        }
        assert_eq!(
            NikError::UnknownProvince { code: 9 }.to_string(),
            "province code 09 is not an Indonesian province"
        );
    }

    #[test]
    fn masks_show_four_and_four() {
        let cases = [
            ("3171015708900003", "3171********0003"),
            ("2102011203150007", "2102********0007"),
            ("", "****************"),
            ("31710157", "****************"),
            ("31710157089000031", "****************"),
        ];
        for (s, want) in cases {
            assert_eq!(mask(s), want, "{s}");
        }
        let (nik, _) = Nik::parse("3171015708900003", today()).expect("valid NIK");
        assert_eq!(nik.masked(), "3171********0003");
        assert_eq!(format!("{nik:?}"), "Nik(3171********0003)");
        let kk = KkNumber::parse("2102011203150007", today()).expect("valid KK");
        assert_eq!(format!("{kk:?}"), "KkNumber(2102********0007)");
    }

    #[test]
    fn serde_writes_the_plain_number_and_reads_any_sixteen_digits() {
        let (nik, _) = Nik::parse("3171015708900003", today()).expect("valid NIK");
        let json = serde_json::to_string(&nik).expect("serialises");
        assert_eq!(json, "\"3171015708900003\"");
        let back: Nik = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, nik);
        // Structure is not rechecked on the way back in: stored is stored.
        let zeros: Nik = serde_json::from_str("\"0000000000000000\"").expect("16 digits");
        assert_eq!(zeros.as_str(), "0000000000000000");
        for bad in [
            "\"317101570890000\"",
            "\"317101570890000X\"",
            "3171015708900003",
            "null",
        ] {
            let err = serde_json::from_str::<Nik>(bad).expect_err(bad);
            assert!(!has_digit_run(&err.to_string(), 5), "{err}");
        }

        let kk = KkNumber::parse("2102011203150007", today()).expect("valid KK");
        let json = serde_json::to_string(&kk).expect("serialises");
        assert_eq!(json, "\"2102011203150007\"");
        assert_eq!(
            serde_json::from_str::<KkNumber>(&json).expect("deserialises"),
            kk
        );
        assert!(serde_json::from_str::<KkNumber>("\"21020112031500\"").is_err());
    }

    #[test]
    fn card_fields_must_agree_with_the_nik() {
        let (_, info) = Nik::parse("3171015708900003", today()).expect("valid NIK");
        let cases = [
            (d(1990, 8, 17), Sex::Female, Ok(())),
            (d(1990, 8, 18), Sex::Female, Err(CardMismatch::BirthDate)),
            (d(1990, 8, 17), Sex::Male, Err(CardMismatch::Sex)),
            (d(1990, 8, 18), Sex::Male, Err(CardMismatch::Both)),
            // The right day a century off is still a different date.
            (d(2090, 8, 17), Sex::Female, Err(CardMismatch::BirthDate)),
        ];
        for (birth, sex, want) in cases {
            assert_eq!(check_card(&info, birth, sex), want, "{birth} {sex:?}");
        }
    }

    #[test]
    fn kk_numbers_check_region_issue_date_and_serial() {
        let cases: [(&str, Result<(), KkError>); 14] = [
            ("2102011203150007", Ok(())),
            ("3171012902000001", Ok(())),
            // Issued today; a date "tomorrow" can only be read as a century ago.
            ("3171012211260001", Ok(())),
            ("3171012311260001", Ok(())),
            ("210201120315000", Err(KkError::WrongLength { found: 15 })),
            ("21020112031500O7", Err(KkError::NotDigits)),
            (
                "2002011203150007",
                Err(KkError::UnknownProvince { code: 20 }),
            ),
            ("2100011203150007", Err(KkError::RegencyZero)),
            ("2102001203150007", Err(KkError::DistrictZero)),
            // No +40 on a family card.
            ("2102015203150007", Err(KkError::NotADate)),
            ("2102013104150007", Err(KkError::NotADate)),
            ("2102012902010007", Err(KkError::NotADate)),
            ("2102011213150007", Err(KkError::NotADate)),
            ("2102011203150000", Err(KkError::SerialZero)),
        ];
        for (s, want) in cases {
            let got = KkNumber::parse(s, today());
            assert_eq!(
                got.map(|kk| kk.as_str().to_owned()),
                want.map(|()| s.to_owned()),
                "{s}"
            );
        }
        assert_eq!(KkError::SerialZero.code(), "serial_zero");
        // Issued "after today" in both centuries, by a clock that says 1999.
        assert_eq!(
            KkNumber::parse("2102010107990007", d(1999, 6, 1)).err(),
            Some(KkError::NotADate)
        );
        assert!(KkNumber::parse("2102010106990007", d(1999, 6, 1)).is_ok());
    }
}
