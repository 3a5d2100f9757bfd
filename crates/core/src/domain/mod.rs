//! The kiosk's vocabulary and its rules, as plain data and pure functions: NIK and KTP
//! data ([`nik`]), offices, sessions and the calendar in the office's own time zone
//! ([`calendar`]), the booking rules ([`rules`]), what each applicant brings to the
//! counter ([`documents`]), and queue numbers. No I/O, no clock:
//! every rule that depends on "now" takes it as an argument.

pub mod calendar;
pub mod dates;
pub mod documents;
pub mod nik;
pub mod rules;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The language the applicant reads: the screens and the printed ticket follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Bahasa Indonesia, the default.
    #[default]
    Id,
    En,
}

/// Sex as the KTP codes it: `L` (laki-laki) or `P` (perempuan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    #[serde(rename = "L")]
    Male,
    #[serde(rename = "P")]
    Female,
}

impl Sex {
    /// The KTP's one-letter code.
    pub fn from_code(code: &str) -> Option<Sex> {
        match code {
            "L" => Some(Sex::Male),
            "P" => Some(Sex::Female),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "L",
            Sex::Female => "P",
        }
    }
}

/// Why the applicant needs a passport (the central API's `application_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    New,
    Replacement,
    Lost,
    Damaged,
}

impl ApplicationType {
    pub const ALL: [ApplicationType; 4] = [
        ApplicationType::New,
        ApplicationType::Replacement,
        ApplicationType::Lost,
        ApplicationType::Damaged,
    ];

    /// The central API's code.
    pub fn code(self) -> &'static str {
        match self {
            ApplicationType::New => "new",
            ApplicationType::Replacement => "replacement",
            ApplicationType::Lost => "lost",
            ApplicationType::Damaged => "damaged",
        }
    }
}

/// The passport asked for (the central API's `passport_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PassportType {
    /// The ordinary 48-page paper passport.
    #[serde(rename = "regular_48")]
    Regular48,
    #[serde(rename = "electronic")]
    Electronic,
}

impl PassportType {
    pub const ALL: [PassportType; 2] = [PassportType::Regular48, PassportType::Electronic];

    /// The central API's code.
    pub fn code(self) -> &'static str {
        match self {
            PassportType::Regular48 => "regular_48",
            PassportType::Electronic => "electronic",
        }
    }
}

/// Why an applicant may use the priority quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityReason {
    /// 60 years or older on the day of booking.
    Elderly,
    Disabled,
    Pregnant,
    /// Younger than 5 on the day of booking. (serde's snake_case would say
    /// `child_under5`; the central API spells it with an underscore before the 5.)
    #[serde(rename = "child_under_5")]
    ChildUnder5,
}

impl PriorityReason {
    /// The central API's code.
    pub fn code(self) -> &'static str {
        match self {
            PriorityReason::Elderly => "elderly",
            PriorityReason::Disabled => "disabled",
            PriorityReason::Pregnant => "pregnant",
            PriorityReason::ChildUnder5 => "child_under_5",
        }
    }
}

/// Regular and priority applicants draw on separate quotas and separate queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    Regular,
    Priority,
}

impl QueueKind {
    pub const ALL: [QueueKind; 2] = [QueueKind::Regular, QueueKind::Priority];

    /// The central API's code.
    pub fn code(self) -> &'static str {
        match self {
            QueueKind::Regular => "regular",
            QueueKind::Priority => "priority",
        }
    }

    pub fn from_code(code: &str) -> Option<QueueKind> {
        match code {
            "regular" => Some(QueueKind::Regular),
            "priority" => Some(QueueKind::Priority),
            _ => None,
        }
    }

    /// The letter before a printed queue number: `R-021`, `P-003`.
    pub fn letter(self) -> char {
        match self {
            QueueKind::Regular => 'R',
            QueueKind::Priority => 'P',
        }
    }
}

/// A queue number as the counter calls it and the ticket prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QueueNumber {
    pub kind: QueueKind,
    pub number: u32,
}

impl fmt::Display for QueueNumber {
    /// `R-021`: kind letter and at least three digits, as in the ticket QR spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:03}", self.kind.letter(), self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde form is what the store keeps and the central API receives: it must be
    /// the spec's code, letter for letter.
    #[test]
    fn serde_forms_are_the_central_api_codes() {
        fn serde_code<T: Serialize>(v: T) -> String {
            serde_json::to_value(v)
                .expect("serialises")
                .as_str()
                .expect("a string")
                .to_owned()
        }
        for r in [
            PriorityReason::Elderly,
            PriorityReason::Disabled,
            PriorityReason::Pregnant,
            PriorityReason::ChildUnder5,
        ] {
            assert_eq!(serde_code(r), r.code());
        }
        assert_eq!(PriorityReason::ChildUnder5.code(), "child_under_5");
        for t in ApplicationType::ALL {
            assert_eq!(serde_code(t), t.code());
        }
        for t in PassportType::ALL {
            assert_eq!(serde_code(t), t.code());
        }
        for k in QueueKind::ALL {
            assert_eq!(serde_code(k), k.code());
        }
    }

    #[test]
    fn queue_numbers_print_as_the_qr_spec_shows() {
        let cases = [
            (QueueKind::Regular, 21, "R-021"),
            (QueueKind::Priority, 3, "P-003"),
            (QueueKind::Regular, 1234, "R-1234"),
        ];
        for (kind, number, want) in cases {
            assert_eq!(QueueNumber { kind, number }.to_string(), want);
        }
    }
}
