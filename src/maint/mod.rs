//! The maintenance side's back end: what a field technician can ask of the kiosk from
//! the touchscreen's maintenance menu or over SSH (`apm-kiosk maint ...`), both through
//! the same control commands (`control::Command`), with the same effects and the same
//! audit lines.
//!
//! - [`pin`]: the menu's PIN, its hash in the config, the lockout.
//! - [`report`]: the one report both front ends render ([`Report`]) and its text form;
//!   its figures are [`value`]s and what is wrong [`attention`] codes, which the menu
//!   words in the technician's language and the terminal in English.
//! - [`calls`]: the officer calls from the applicants' help panel, open until
//!   acknowledged or a day old.
//! - [`export`]: the diagnostics bundle (a `.tar.gz` with no personal data).
//! - [`cli`]: `apm-kiosk maint ...`, the same commands over the control socket.
//! - [`service`]: the daemon's side of every command: store queries, the printer, the
//!   central service, the kept settings and holds.
//!
//! The touchscreen's screens, the idle close of the menu and the wording shown to
//! applicants are the front end's; the daemon's wiring (which command reaches which
//! handler) is `app`'s. Access control: the screen asks for the PIN; the control socket
//! (mode 0660, owner and group only) is the CLI's, reached by SSH, and asks for none.

pub mod answer;
pub mod attention;
pub mod calls;
pub mod cli;
pub mod export;
pub mod pin;
pub mod report;
pub mod service;
pub mod value;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Language;

pub use crate::flow::TechnicianReason as HoldReason;
pub use report::Report;
pub use service::{Live, Maint, ReadTest};

/// The exit code of a daemon a technician restarted: non-zero, so that systemd
/// (`Restart=always` or `on-failure`) starts it again, and distinct from a crash's 1.
/// 75 is `EX_TEMPFAIL`.
pub const RESTART_EXIT_CODE: u8 = 75;

/// How long a `read_test` waits for a card.
pub const READ_TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a command was not done: a short code for the screen and a sentence for the
/// technician. Never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({error})")]
pub struct Failure {
    pub error: String,
    pub message: String,
}

impl Failure {
    pub fn new(error: &str, message: impl Into<String>) -> Failure {
        Failure {
            error: error.to_owned(),
            message: message.into(),
        }
    }
}

/// A secret typed by a technician (the PIN): sent over the channel, never shown by
/// `Debug`, so that a logged command does not carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The screen's orientation, for the display the kiosk is built with. The command line
/// (`maint settings --orientation`) spells it as the wire does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Orientation {
    #[default]
    Landscape,
    Portrait,
    LandscapeFlipped,
    PortraitFlipped,
}

impl Orientation {
    /// Its serde name, as the text report shows it.
    pub fn code(self) -> &'static str {
        match self {
            Orientation::Landscape => "landscape",
            Orientation::Portrait => "portrait",
            Orientation::LandscapeFlipped => "landscape_flipped",
            Orientation::PortraitFlipped => "portrait_flipped",
        }
    }
}

/// The settings a technician changes from the menu; kept in the store and published on
/// a `watch` channel that the touchscreen subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The language a new applicant's screen starts in.
    pub default_language: Language,
    pub orientation: Orientation,
    /// Sound volume, 0 to 100.
    pub volume: u8,
}

impl Settings {
    /// The settings of a kiosk no technician has touched: the configured language.
    pub fn initial(language: Language) -> Settings {
        Settings {
            default_language: language,
            orientation: Orientation::default(),
            volume: 70,
        }
    }

    /// These settings with `change` applied; refused whole if a value is out of range.
    pub fn with(&self, change: &SettingsChange) -> Result<Settings, Failure> {
        let mut next = self.clone();
        if let Some(l) = change.default_language {
            next.default_language = l;
        }
        if let Some(o) = change.orientation {
            next.orientation = o;
        }
        if let Some(v) = change.volume {
            if v > 100 {
                return Err(Failure::new(
                    "bad_volume",
                    format!("volume {v} is out of range: 0 to 100"),
                ));
            }
            next.volume = v;
        }
        Ok(next)
    }
}

/// `set_settings`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<u8>,
}

/// One ticket in `recent_tickets`, for the technician to pick a reprint from. The
/// masked NIK is shown on the technician's screen only and never goes into the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentTicket {
    pub registration_id: String,
    pub queue_number: String,
    pub office_id: String,
    pub date: chrono::NaiveDate,
    pub session_id: String,
    pub printed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub masked_nik: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_change_only_what_is_given_and_check_the_volume() {
        let s = Settings::initial(Language::Id);
        let change: SettingsChange =
            serde_json::from_str(r#"{"default_language":"en","volume":30}"#).expect("parses");
        let next = s.with(&change).expect("valid");
        assert_eq!(next.default_language, Language::En);
        assert_eq!(next.volume, 30);
        assert_eq!(next.orientation, Orientation::Landscape);
        let too_loud = SettingsChange {
            volume: Some(101),
            ..SettingsChange::default()
        };
        assert_eq!(s.with(&too_loud).expect_err("refused").error, "bad_volume");
        assert!(serde_json::from_str::<SettingsChange>(r#"{"orientation":"sideways"}"#).is_err());
    }

    #[test]
    fn hold_reasons_are_codes() {
        for code in [
            "maintenance",
            "printer_fault",
            "reader_fault",
            "office_closed",
            "relocating",
        ] {
            let r = HoldReason::from_code(code).expect(code);
            assert_eq!(r.code(), code);
            assert_eq!(
                serde_json::to_value(r).expect("json"),
                serde_json::json!(code)
            );
        }
        assert_eq!(HoldReason::from_code("lunch"), None);
    }

    #[test]
    fn a_secret_is_not_shown() {
        let s = Secret("482913".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"482913\"");
    }
}
