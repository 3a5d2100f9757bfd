//! The maintenance PIN: its shape (4 to 8 digits), its Argon2id hash as the config keeps
//! it (`maint.pin_hash`), the lockout after wrong attempts, and writing a new hash into
//! the configuration file without disturbing its comments and layout.
//!
//! The lockout is a pure state machine ([`PinPad::attempt`]) with the time passed in;
//! where its state is kept (the store's `kv` table, so that a restart does not clear a
//! lock) and when the hash is verified (off the async threads: Argon2 is slow on
//! purpose) is the service's business. Nothing here logs: a PIN and its hash never go
//! into a log line, an error message or an audit line.

use std::path::Path;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Wrong PINs in a row before the pad locks.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long the pad stays locked after [`MAX_ATTEMPTS`] wrong PINs.
pub const LOCKOUT: TimeDelta = TimeDelta::minutes(15);
/// The store's `kv` key of the pad's state (JSON of [`PinPad`]).
pub const KV_KEY: &str = "maint.pin_pad";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is 4 to 8 digits")]
    Shape,
    #[error("the two PINs differ")]
    Mismatch,
    #[error("not a PHC hash string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")]
    NotPhc,
    #[error("the hash is {0}, not argon2id")]
    Algorithm(String),
    #[error("the hash's Argon2 parameters are not valid")]
    Params,
    #[error("the PIN cannot be hashed")]
    Hash,
    #[error("the configuration file cannot be edited: {0}")]
    Config(String),
}

/// Checks a PIN's shape: 4 to 8 ASCII digits, nothing else.
pub fn check_shape(pin: &str) -> Result<(), PinError> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PinError::Shape)
    }
}

/// Checks that `hash` is an Argon2id PHC string the kiosk can verify with.
pub fn check_hash(hash: &str) -> Result<(), PinError> {
    let parsed = PasswordHash::new(hash).map_err(|_| PinError::NotPhc)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(PinError::Algorithm(parsed.algorithm.to_string()));
    }
    argon2::Params::try_from(&parsed).map_err(|_| PinError::Params)?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(PinError::NotPhc);
    }
    Ok(())
}

/// Hashes a PIN with Argon2id, the crate's default parameters and a random salt.
pub fn hash(pin: &str) -> Result<String, PinError> {
    check_shape(pin)?;
    Argon2::default()
        .hash_password(pin.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PinError::Hash)
}

/// Whether `pin` matches `hash`. Slow (tens of milliseconds): call it off the async
/// threads. A hash that does not parse matches nothing.
pub fn verify(pin: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The pad's memory between attempts (and between runs of the daemon).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPad {
    /// Wrong PINs since the last right one or the last lock.
    pub failures: u32,
    /// Locked until then, when set and still in the future.
    pub locked_until: Option<DateTime<Utc>>,
}

/// What an attempt came to, as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Unlock {
    /// The menu is open.
    Unlocked,
    /// Wrong PIN; the pad locks after `attempts_left` more.
    Wrong { attempts_left: u32 },
    /// Too many wrong PINs: nothing is tried until `until`.
    Locked { until: DateTime<Utc> },
    /// No PIN is configured: the menu cannot be opened from the screen; use the CLI.
    NoPin,
}

impl PinPad {
    /// The lock in force at `now`, if any.
    pub fn locked_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Applies one attempt at `now` whose PIN was `right` or not. While locked the
    /// attempt neither counts nor unlocks (the caller need not verify the PIN then).
    pub fn attempt(&mut self, right: bool, now: DateTime<Utc>) -> Unlock {
        if let Some(until) = self.locked_at(now) {
            return Unlock::Locked { until };
        }
        if self.locked_until.is_some() {
            // The lock has run out: a fresh start.
            *self = PinPad::default();
        }
        match right {
            true => {
                *self = PinPad::default();
                Unlock::Unlocked
            }
            false => {
                self.failures += 1;
                if self.failures >= MAX_ATTEMPTS {
                    let until = now + LOCKOUT;
                    self.failures = 0;
                    self.locked_until = Some(until);
                    Unlock::Locked { until }
                } else {
                    Unlock::Wrong {
                        attempts_left: MAX_ATTEMPTS - self.failures,
                    }
                }
            }
        }
    }
}

/// Returns `text` with `maint.pin_hash` set to `hash` (or emptied with `None`), every
/// comment, key order and blank line kept; a missing `[maint]` table is added at the end.
pub fn set_hash_in_config(text: &str, hash: Option<&str>) -> Result<String, PinError> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| PinError::Config(e.message().to_owned()))?;
    if doc.get("maint").is_none() {
        let mut table = toml_edit::Table::new();
        table
            .decor_mut()
            .set_prefix("\n# The technician's maintenance menu.\n");
        doc.insert("maint", toml_edit::Item::Table(table));
    }
    let maint = doc["maint"]
        .as_table_mut()
        .ok_or_else(|| PinError::Config("`maint` is not a table".into()))?;
    let value = hash.unwrap_or("");
    match maint.get_mut("pin_hash") {
        Some(item) if item.is_value() => {
            // Keep the comment above the key and anything after the value.
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = toml_edit::value(value);
            if let (Some(decor), Some(v)) = (decor, item.as_value_mut()) {
                *v.decor_mut() = decor;
            }
        }
        _ => {
            maint.insert("pin_hash", toml_edit::value(value));
        }
    }
    Ok(doc.to_string())
}

/// Writes `text` over the file at `path` through a temporary file beside it and a
/// rename, keeping the file's permissions: a power cut leaves the old file or the new.
pub fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kiosk.toml".into());
    let tmp = dir.join(format!(".{name}.new"));
    let permissions = std::fs::metadata(path)?.permissions();
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(permissions)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + TimeDelta::minutes(min)
    }

    #[test]
    fn shapes() {
        for good in ["0000", "1234", "12345678", "90210"] {
            assert_eq!(check_shape(good), Ok(()), "{good}");
        }
        for bad in ["", "123", "123456789", "12a4", " 1234", "1234\n", "١٢٣٤"] {
            assert_eq!(check_shape(bad), Err(PinError::Shape), "{bad:?}");
        }
    }

    #[test]
    fn a_hash_verifies_its_pin_only_and_passes_the_config_check() {
        let h = hash("482913").expect("hashes");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert_eq!(check_hash(&h), Ok(()));
        assert!(verify("482913", &h));
        assert!(!verify("482914", &h));
        assert!(!verify("", &h));
        assert!(!verify("482913", "not a hash"));
        // Two hashes of one PIN differ (random salt).
        assert_ne!(h, hash("482913").expect("hashes"));
        assert_eq!(hash("12"), Err(PinError::Shape));
    }

    #[test]
    fn check_hash_refuses_what_cannot_verify() {
        assert_eq!(check_hash("1234"), Err(PinError::NotPhc));
        assert_eq!(
            check_hash(
                "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            ),
            Err(PinError::Algorithm("argon2i".into()))
        );
        assert_eq!(
            check_hash(
                "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            ),
            Err(PinError::Params)
        );
        assert_eq!(
            check_hash("$argon2id$v=19$m=19456,t=2,p=1"),
            Err(PinError::NotPhc)
        );
    }

    /// (step, minutes after the first, PIN right?, expected, failures after)
    #[test]
    fn five_wrong_lock_for_fifteen_minutes() {
        let mut pad = PinPad::default();
        let cases: &[(i64, bool, Unlock, u32)] = &[
            (0, false, Unlock::Wrong { attempts_left: 4 }, 1),
            (1, false, Unlock::Wrong { attempts_left: 3 }, 2),
            (1, true, Unlock::Unlocked, 0),
            (2, false, Unlock::Wrong { attempts_left: 4 }, 1),
            (2, false, Unlock::Wrong { attempts_left: 3 }, 2),
            (3, false, Unlock::Wrong { attempts_left: 2 }, 3),
            (3, false, Unlock::Wrong { attempts_left: 1 }, 4),
            (4, false, Unlock::Locked { until: at(19) }, 0),
            // Locked: the right PIN does not open it, a wrong one does not extend it.
            (5, true, Unlock::Locked { until: at(19) }, 0),
            (18, false, Unlock::Locked { until: at(19) }, 0),
            // The lock has run out: a fresh count.
            (19, false, Unlock::Wrong { attempts_left: 4 }, 1),
            (20, true, Unlock::Unlocked, 0),
        ];
        for (i, (min, right, want, failures)) in cases.iter().enumerate() {
            let got = pad.attempt(*right, at(*min));
            assert_eq!(&got, want, "step {i}");
            assert_eq!(pad.failures, *failures, "step {i}");
        }
        assert_eq!(pad.locked_at(at(20)), None);
    }

    #[test]
    fn the_pad_survives_a_round_trip_through_json() {
        let mut pad = PinPad::default();
        for _ in 0..MAX_ATTEMPTS {
            pad.attempt(false, at(0));
        }
        let back: PinPad =
            serde_json::from_str(&serde_json::to_string(&pad).expect("json")).expect("back");
        assert_eq!(back, pad);
        assert_eq!(back.locked_at(at(14)), Some(at(15)));
    }

    #[test]
    fn set_hash_keeps_comments_and_layout() {
        let text = "# kiosk config\n[kiosk]\n# where\nstate_dir = \"/var/lib/apm-kiosk\"\n\n[central]\nurl = \"https://c.example\" # the service\n";
        let out = set_hash_in_config(text, Some("$argon2id$X")).expect("edits");
        assert!(out.starts_with(text), "{out}");
        assert!(
            out.ends_with("[maint]\npin_hash = \"$argon2id$X\"\n"),
            "{out}"
        );
        // A second edit replaces the value in place, keeping its comment.
        let with_comment = out.replace("[maint]\n", "[maint]\n# set by set-pin\n");
        let again = set_hash_in_config(&with_comment, Some("$argon2id$Y")).expect("edits");
        assert_eq!(again, with_comment.replace("$argon2id$X", "$argon2id$Y"));
        let cleared = set_hash_in_config(&again, None).expect("edits");
        assert!(
            cleared.contains("# set by set-pin\npin_hash = \"\"\n"),
            "{cleared}"
        );
        assert!(set_hash_in_config("[maint\n", None).is_err());
        assert!(set_hash_in_config("maint = 3\n", None).is_err());
    }
}
