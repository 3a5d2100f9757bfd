//! The kiosk's configuration file (`kiosk.toml`): its keys, their defaults, and every
//! check a value must pass before the daemon starts. A bad file is refused with the
//! file, line and column and what was expected, so that a technician at the kiosk can
//! fix it without reading code.
//!
//! This module reads and checks; it does not act on the values. Creating the state
//! directory, opening devices and connecting to the central service belong to `app`,
//! `hardware` and `sync`. The `apm-kiosk config check FILE` command is
//! [`run_config_check`]; `main` wires it.
//!
//! Every value check runs inside deserialisation (the `de_*` functions below), so the
//! toml crate attaches the value's span to the error; checks between two keys run after
//! and look their key's span up in the parsed document.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use toml::de::{DeTable, DeValue};

use crate::domain::Language;
use crate::domain::calendar::OfficeDetails;
pub use crate::hardware::printer::PrinterPath;
use crate::protocol::escpos::PaperWidth;
use crate::protocol::printer_profile::{DOTS_RANGE, PrinterModel, PrinterProfile};

/// Baud rates the card reader and a serial printer can be set to.
pub const BAUD_RATES: [u32; 5] = [9600, 19200, 38400, 57600, 115200];

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read. `Display` says so once (the OS error is not also the
    /// error's source, which would print it twice) and, for a missing file, how to
    /// make one.
    #[error("{}", ReadDisplay { path, error })]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file was read but is not a valid configuration. `Display` gives
    /// `file:line:column: key.path: message`.
    #[error("{}", InvalidDisplay { file, position: *position, key: key.as_deref(), message })]
    Invalid {
        file: PathBuf,
        /// Where in the file; `None` only when the parser could not say.
        position: Option<Position>,
        /// The dotted key the error is about (`card_reader.baud`), when known.
        key: Option<String>,
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { position, .. } => position.map(|p| p.line),
            ConfigError::Read { .. } => None,
        }
    }

    /// The dotted key the error is about, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }
}

/// A place in the configuration file, both 1-based; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Renders a `Read` error: what happened to which file, and what to do.
struct ReadDisplay<'a> {
    path: &'a Path,
    error: &'a std::io::Error,
}

impl fmt::Display for ReadDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.error.kind() {
            std::io::ErrorKind::NotFound => write!(
                f,
                "{path}: no configuration file there. Make one from the documented example \
                 ({EXAMPLE}; deploy/kiosk.example.toml in the source), set central.url, and \
                 check it with `apm-kiosk config check {path}`"
            ),
            std::io::ErrorKind::PermissionDenied => write!(
                f,
                "{path}: cannot read the configuration: {}; it must be readable by the kiosk's user",
                self.error
            ),
            _ => write!(f, "{path}: cannot read the configuration: {}", self.error),
        }
    }
}

/// Where the package puts the documented example configuration.
pub const EXAMPLE: &str = "/usr/share/doc/apm-kiosk/kiosk.example.toml";

/// Renders an `Invalid` error the way compilers do, so editors can jump to it.
struct InvalidDisplay<'a> {
    file: &'a Path,
    position: Option<Position>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": ")?;
        if let Some(key) = self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// The whole configuration, checked. Only `[central]` is required: a kiosk cannot
/// guess where its central service is, while every other key has a value that suits
/// a standard kiosk image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub kiosk: KioskConfig,
    #[serde(default)]
    pub card_reader: CardReaderConfig,
    #[serde(default)]
    pub printer: PrinterConfig,
    pub central: CentralConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub display: DisplayConfig,
    #[serde(default)]
    pub maint: MaintConfig,
    #[serde(default)]
    pub help: HelpConfig,
    /// `[offices.ID]`: what the ticket prints of an office that the central service
    /// does not send (its address and opening hours), by the service's office id.
    /// An office with no table prints neither; a table for an office the service does
    /// not list is never used.
    #[serde(default, deserialize_with = "de_offices")]
    pub offices: BTreeMap<String, OfficeDetails>,
    /// The file this configuration was read from (set by [`Config::load`]): the daemon
    /// reads it again when a technician sets a new maintenance PIN.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// One `[offices.ID]` table as the file writes it; [`de_offices`] checks it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficeTable {
    #[serde(default, deserialize_with = "de_office_address")]
    address: Option<String>,
    #[serde(default, deserialize_with = "de_office_hours")]
    hours: Option<String>,
}

/// `[offices.ID]` tables: an id as the central service writes them (letters, digits,
/// `-`, `_`, at most 16), each with an address and hours the ticket can print.
fn de_offices<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, OfficeDetails>, D::Error> {
    let tables = BTreeMap::<String, OfficeTable>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (id, t) in tables {
        let fits = !id.is_empty()
            && id.len() <= 16
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !fits {
            return Err(D::Error::custom(format!(
                "office id {id:?} is not one the central service writes (letters, digits, - and _, at most 16); use the id of GET /v1/offices, e.g. [offices.KRM]"
            )));
        }
        out.insert(
            id,
            OfficeDetails {
                address: t.address,
                hours: t.hours,
            },
        );
    }
    Ok(out)
}

/// A line of ticket text: not blank, at most `max` characters, and every character one
/// the printer prints (ASCII, or a Latin letter it prints without its accent). `""`
/// means none.
fn check_ticket_text(
    value: &str,
    what: &str,
    max: usize,
    example: &str,
) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let len = value.chars().count();
    if len > max {
        return Err(format!(
            "the {what} is {len} characters; at most {max} fit on the ticket (e.g. {example:?})"
        ));
    }
    if let Some(c) = value.chars().find(|&c| {
        c.is_control() || (c != '?' && crate::protocol::escpos::printable(&c.to_string()) == "?")
    }) {
        return Err(format!(
            "the {what} has {c:?}, which the ticket printer cannot print; write it in Latin letters (e.g. {example:?})"
        ));
    }
    Ok(Some(value.to_owned()))
}

fn de_office_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = de_string(d, "the office's street address as a string")?;
    check_ticket_text(
        &s,
        "address",
        OfficeDetails::MAX_ADDRESS,
        "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun",
    )
    .map_err(D::Error::custom)
}

fn de_office_hours<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = de_string(d, "the office's opening hours as a string")?;
    check_ticket_text(
        &s,
        "opening hours",
        OfficeDetails::MAX_HOURS,
        "Senin-Jumat 08.00-15.00",
    )
    .map_err(D::Error::custom)
}

/// `[display]`: how the touchscreen is driven. Read by `run` without `--headless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    /// `auto` (default): a window when a desktop or a compositor such as cage is there
    /// (`WAYLAND_DISPLAY` or `DISPLAY` set), else full screen on the console through
    /// DRM/KMS. `window` or `kms` force one. `SLINT_BACKEND` in the environment wins.
    #[serde(default)]
    pub backend: DisplayBackend,
    /// `portrait` (1080x1920, default) or `landscape` (1920x1080): the window's size.
    /// On the console the panel's own mode decides; `SLINT_KMS_ROTATION` turns it.
    #[serde(default)]
    pub orientation: Orientation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayBackend {
    #[default]
    Auto,
    Window,
    Kms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    #[default]
    Portrait,
    Landscape,
}

/// `[kiosk]`: where the daemon keeps its state and how the screen behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    /// Default `/var/lib/apm-kiosk`. Holds the database, the key and the enrollment;
    /// the daemon creates it (owner-only) when it is missing.
    #[serde(default = "default_state_dir", deserialize_with = "de_abs_path")]
    pub state_dir: PathBuf,
    /// Default `id`: the language a new applicant's screen starts in.
    #[serde(default, deserialize_with = "de_language")]
    pub language: Language,
    /// Default `<state_dir>/control.sock` (written as `""` or left out); `None` here
    /// means that default: read it through [`KioskConfig::control_socket`].
    #[serde(default, deserialize_with = "de_opt_abs_path")]
    pub control_socket: Option<PathBuf>,
    /// Default 60 s (`inactivity_warning_s`): idle time before "are you still there?".
    #[serde(
        rename = "inactivity_warning_s",
        default = "default_inactivity_warning",
        deserialize_with = "de_inactivity_warning"
    )]
    pub inactivity_warning: Duration,
    /// Default 20 s (`inactivity_reset_s`): how long the warning shows before the
    /// screen is wiped, so that the next person in line never sees the last one's data.
    #[serde(
        rename = "inactivity_reset_s",
        default = "default_inactivity_reset",
        deserialize_with = "de_inactivity_reset"
    )]
    pub inactivity_reset: Duration,
}

impl KioskConfig {
    /// The control channel's Unix socket: as configured, or `<state_dir>/control.sock`.
    pub fn control_socket(&self) -> PathBuf {
        self.control_socket
            .clone()
            .unwrap_or_else(|| self.state_dir.join("control.sock"))
    }
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig {
            state_dir: default_state_dir(),
            language: Language::default(),
            control_socket: None,
            inactivity_warning: default_inactivity_warning(),
            inactivity_reset: default_inactivity_reset(),
        }
    }
}

/// `[card_reader]`: the serial KTP reader.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardReaderConfig {
    /// Default `/dev/apm-reader`, the name the kiosk image's udev rule gives the reader.
    #[serde(default = "default_reader_path", deserialize_with = "de_abs_path")]
    pub path: PathBuf,
    /// Default 115200; one of [`BAUD_RATES`].
    #[serde(default = "default_baud", deserialize_with = "de_reader_baud")]
    pub baud: u32,
}

impl Default for CardReaderConfig {
    fn default() -> Self {
        CardReaderConfig {
            path: default_reader_path(),
            baud: default_baud(),
        }
    }
}

/// `[printer]`: the ESC/POS ticket printer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// Default `/dev/apm-printer`. A device path (serial tty or `/dev/usb/lpN`; the
    /// hardware module tells them apart when it opens the device) or `tcp://host:port`.
    #[serde(default = "default_printer_path", deserialize_with = "de_printer_path")]
    pub path: PrinterPath,
    /// Default 115200; one of [`BAUD_RATES`]. Used only when `path` is a serial tty.
    #[serde(default = "default_baud", deserialize_with = "de_printer_baud")]
    pub baud: u32,
    /// Default `80mm`. A model that takes only 58 mm rolls (`generic-58`) is laid out
    /// for its 58 mm head whatever this says.
    #[serde(default, deserialize_with = "de_paper")]
    pub paper: PaperWidth,
    /// Default: the generic printer of `paper` (`generic-80`, `generic-58`). One of
    /// the table in `protocol::printer_profile`: `tm-t88iii`, `tm-t88iv`, `tm-t88v`,
    /// `tm-t88vi`, `tm-t20`, `generic-80`, `generic-58`. It says how wide the head is,
    /// how fast it prints, and how the kiosk learns that a ticket came out.
    #[serde(default, deserialize_with = "de_printer_model")]
    pub model: Option<PrinterModel>,
    /// Default: the model's head. Printable dots a line, for a head the table does not
    /// know (a 58 mm head of 420 dots, say); the columns are this over 12.
    #[serde(default, deserialize_with = "de_dots_per_line")]
    pub dots_per_line: Option<u32>,
}

impl Default for PrinterConfig {
    fn default() -> Self {
        PrinterConfig {
            path: default_printer_path(),
            baud: default_baud(),
            paper: PaperWidth::default(),
            model: None,
            dots_per_line: None,
        }
    }
}

impl PrinterConfig {
    /// The printer the tickets are laid out for and confirmed on: the model's row of
    /// the table on this paper, its width overridden by `dots_per_line`.
    pub fn profile(&self) -> PrinterProfile {
        let model = self
            .model
            .unwrap_or_else(|| PrinterModel::generic(self.paper));
        let profile = PrinterProfile::of(model, self.paper);
        self.dots_per_line
            .map_or(profile, |dots| profile.with_dots(dots))
    }
}

/// `[central]`: the central quota service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralConfig {
    /// Required. The service's base URL without a trailing `/`: `https://...`, or
    /// `http://` only to a loopback address (the simulator). The client appends `/v1/...`.
    #[serde(deserialize_with = "de_central_url")]
    pub url: String,
    /// Default none (`""`): a PEM file of the CA to trust instead of the system store.
    #[serde(default, deserialize_with = "de_opt_abs_path")]
    pub ca_file: Option<PathBuf>,
    /// Default 10 s (`timeout_s`): one request's limit before it counts as failed.
    #[serde(
        rename = "timeout_s",
        default = "default_timeout",
        deserialize_with = "de_timeout"
    )]
    pub timeout: Duration,
    /// Default 30 s (`sync_interval_s`): the pause between two sync rounds.
    #[serde(
        rename = "sync_interval_s",
        default = "default_sync_interval",
        deserialize_with = "de_sync_interval"
    )]
    pub sync_interval: Duration,
}

/// `[sync]`: how many queue numbers the kiosk holds ahead, for booking offline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Default 7: how many days ahead (today included) the kiosk holds numbers.
    #[serde(default = "default_hold_days", deserialize_with = "de_hold_days")]
    pub hold_days: u32,
    /// Default 3: top up an (office, date, session, kind) holding fewer than this.
    #[serde(default = "default_low_water", deserialize_with = "de_low_water")]
    pub low_water: u32,
    /// Default 8: ... up to this many. Not less than `low_water`.
    #[serde(default = "default_target", deserialize_with = "de_target")]
    pub target: u32,
    /// Default 7 (`max_unsynced_age_days`): the guardrail. When the oldest booking the
    /// central service has not answered is older than this many days, the kiosk stops
    /// taking new bookings (`sync_overdue`) until the queue drains. A week lets an island
    /// kiosk ride out days without a link (weather, a dead tower) and still book against
    /// the numbers it holds (`hold_days`, also 7); past it, the first offline bookings'
    /// visit days have come without the service knowing them, and the kiosk's view of
    /// the blocklist is a week stale.
    #[serde(
        default = "default_max_unsynced_age_days",
        deserialize_with = "de_max_unsynced_age_days"
    )]
    pub max_unsynced_age_days: u32,
    /// Default 1000 (`max_unsynced`): the guardrail's other limit. More bookings than
    /// this waiting for the service stops new ones (`sync_backlog`). A week of a busy
    /// outreach kiosk (some 150 a day) stays under it; more means uploads are failing
    /// while numbers still arrive, which a technician must look at.
    #[serde(default = "default_max_unsynced", deserialize_with = "de_max_unsynced")]
    pub max_unsynced: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            hold_days: default_hold_days(),
            low_water: default_low_water(),
            target: default_target(),
            max_unsynced_age_days: default_max_unsynced_age_days(),
            max_unsynced: default_max_unsynced(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Default `info`.
    #[serde(default, deserialize_with = "de_log_level")]
    pub level: LogLevel,
}

/// `[maint]`: the technician's maintenance menu.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintConfig {
    /// Default none (`""`): the Argon2id PHC hash of the PIN that opens the maintenance
    /// menu on the touchscreen, written by `apm-kiosk maint set-pin`. With none the menu
    /// cannot be opened from the screen; the CLI over SSH still works.
    #[serde(default, deserialize_with = "de_pin_hash")]
    pub pin_hash: Option<String>,
}

/// `[help]`: what the applicants' help panel shows besides the kiosk's id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpConfig {
    /// Default none (`""`): a phone number to call where no officer is near (an outreach
    /// kiosk), shown on the help panel with the kiosk's id. Digits, spaces, `+`, `-`,
    /// `(`, `)` and `.`, with 5 to 20 digits.
    #[serde(default, deserialize_with = "de_phone")]
    pub phone: Option<String>,
}

/// The most detailed log level allowed. `trace` is not one: trace output of the
/// dependencies (HTTP bodies, SQL parameters) may carry applicants' personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

impl LogLevel {
    pub const ALL: [LogLevel; 4] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// The level as `[log] level` and a tracing filter write it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let mut config = Config::from_str(&text, path)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Checks what the file names outside itself: the pinned CA (`central.ca_file`)
    /// must be readable and hold a certificate, or the kiosk could never sync. The
    /// error points at the key's line. (`config check` and the daemon's start run it;
    /// the CA is read as the central client reads it, `sync::pinned_ca`.)
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.central.ca_file else {
            return Ok(());
        };
        let Err(problem) = crate::sync::pinned_ca::load(path) else {
            return Ok(());
        };
        let file = self.source.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        Err(ConfigError::Invalid {
            position: value_span(&text, "central.ca_file").map(|s| position_of(&text, s.start)),
            file,
            key: Some("central.ca_file".into()),
            message: format!(
                "{} {problem}: put the central office's CA certificate there, or remove ca_file to trust the system's store",
                path.display()
            ),
        })
    }

    /// Checks configuration `text`; `path_for_messages` is only named in errors.
    #[allow(clippy::should_implement_trait)] // FromStr cannot take the path for messages.
    pub fn from_str(text: &str, path_for_messages: &Path) -> Result<Config, ConfigError> {
        let invalid = |span: Option<Range<usize>>, key: Option<String>, message: String| {
            ConfigError::Invalid {
                file: path_for_messages.to_path_buf(),
                position: span.map(|s| position_of(text, s.start)),
                key,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let message = e.message().to_string();
            // An array or inline table left open is only found where the parser gives
            // up, lines later: point at the bracket that was not closed.
            if let Some(start) = span.as_ref().map(|s| s.start)
                && let Some(open) = unclosed_before(text, start)
                && position_of(text, open).line < position_of(text, start).line
            {
                let message = format!(
                    "{message}: the `{}` opened here is not closed (found at line {})",
                    &text[open..=open],
                    position_of(text, start).line
                );
                return invalid(Some(open..open + 1), key_at(text, open), message);
            }
            let key = span.as_ref().and_then(|s| key_at(text, s.start));
            invalid(span, key, message)
        })?;

        // Checks between keys: point at the key that would have to change, or, when it
        // was left at its default, at the key that was set.
        let checks = [
            (
                config.sync.low_water > config.sync.target,
                ["sync.low_water", "sync.target"],
                format!(
                    "low_water ({}) must not be more than target ({}): the kiosk tops up to target when it holds fewer than low_water",
                    config.sync.low_water, config.sync.target
                ),
            ),
            (
                config.central.sync_interval < config.central.timeout,
                ["central.sync_interval_s", "central.timeout_s"],
                format!(
                    "sync_interval_s ({}) must not be shorter than timeout_s ({}): a round would start before the last one's request times out",
                    config.central.sync_interval.as_secs(),
                    config.central.timeout.as_secs()
                ),
            ),
        ];
        for (failed, keys, message) in checks {
            if failed {
                let found = keys
                    .iter()
                    .find_map(|k| value_span(text, k).map(|s| (s, (*k).to_string())));
                return Err(match found {
                    Some((span, key)) => invalid(Some(span), Some(key), message),
                    None => invalid(None, Some(keys[0].to_string()), message),
                });
            }
        }
        Ok(config)
    }
}

/// 1-based line and character column of byte `offset` in `text`.
fn position_of(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
}

/// The `[` or `{` of a value still open at byte `offset`, if any: brackets counted
/// outside strings and comments. (A table header's brackets close on their line.)
fn unclosed_before(text: &str, offset: usize) -> Option<usize> {
    let bytes = &text.as_bytes()[..offset.min(text.len())];
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => i = skip_string(bytes, i, quote),
            b'[' | b'{' => open.push(i),
            b']' | b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.last().copied()
}

/// The index of the last byte of the string starting at `start` (basic or literal,
/// single or triple quoted); the end of `bytes` if it never closes.
fn skip_string(bytes: &[u8], start: usize, quote: u8) -> usize {
    let triple = bytes.get(start..start + 3) == Some(&[quote; 3][..]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        if quote == b'"' && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if !triple && bytes[i] == b'\n' {
            return i;
        }
        if bytes[i] == quote && (!triple || bytes.get(i..i + 3) == Some(&[quote; 3][..])) {
            return if triple { i + 2 } else { i };
        }
        i += 1;
    }
    bytes.len()
}

/// The dotted key whose name or value holds byte `offset`, the innermost one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    // A `[header]` table's span covers only its header, not the keys below it, so
    // every table is searched, not only those whose span holds the offset.
    fn walk(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (key, value) in table.iter() {
            let here = key.span().contains(&offset) || value.span().contains(&offset);
            path.push(key.get_ref().to_string());
            if let DeValue::Table(inner) = value.get_ref()
                && walk(inner, offset, path)
            {
                return true;
            }
            if here {
                return true;
            }
            path.pop();
        }
        false
    }
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

/// The span of the value at dotted `key`, if the file sets it.
fn value_span(text: &str, key: &str) -> Option<Range<usize>> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = table.get(part)?;
        if parts.peek().is_none() {
            return Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    None
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/apm-kiosk")
}
fn default_reader_path() -> PathBuf {
    PathBuf::from("/dev/apm-reader")
}
fn default_printer_path() -> PrinterPath {
    PrinterPath::Device(PathBuf::from("/dev/apm-printer"))
}
fn default_baud() -> u32 {
    115_200
}
fn default_inactivity_warning() -> Duration {
    Duration::from_secs(60)
}
fn default_inactivity_reset() -> Duration {
    Duration::from_secs(20)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_sync_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_hold_days() -> u32 {
    7
}
fn default_low_water() -> u32 {
    3
}
fn default_target() -> u32 {
    8
}
fn default_max_unsynced_age_days() -> u32 {
    7
}
fn default_max_unsynced() -> u32 {
    1000
}

/// A string value; a number or table there gets a message that says a string was expected.
fn de_string<'de, D: Deserializer<'de>>(d: D, what: &str) -> Result<String, D::Error> {
    struct V<'a>(&'a str);
    impl serde::de::Visitor<'_> for V<'_> {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_str(V(what))
}

/// An integer value in `range`; `unit` follows the number in messages.
fn de_int_in<'de, D: Deserializer<'de>>(
    d: D,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
    why: &str,
) -> Result<u64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = i128;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<i128, E> {
            Ok(v)
        }
        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<i128, E> {
            i128::try_from(v).map_err(|_| E::custom("the number is far too large"))
        }
    }
    let v = d.deserialize_any(V)?;
    match u64::try_from(v) {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(D::Error::custom(format_args!(
            "{v}{unit} is out of range: expected {} to {}{unit}{why}",
            range.start(),
            range.end()
        ))),
    }
}

fn de_secs<'de, D: Deserializer<'de>>(
    d: D,
    range: std::ops::RangeInclusive<u64>,
    why: &str,
) -> Result<Duration, D::Error> {
    de_int_in(d, range, " s", why).map(Duration::from_secs)
}

fn de_inactivity_warning<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_secs(
        d,
        10..=600,
        " (shorter interrupts an applicant who is reading; longer leaves a walked-away applicant's data on screen)",
    )
}

fn de_inactivity_reset<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_secs(
        d,
        5..=300,
        " (time enough to touch the screen, not so long that the next person sees the data)",
    )
}

fn de_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_secs(d, 1..=120, "")
}

fn de_sync_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_secs(d, 5..=3600, "")
}

fn de_hold_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    // Offices open booking some 30 days ahead; 90 leaves room without holding a
    // season's numbers hostage on one kiosk.
    de_int_in(d, 1..=90, " days", "").map(|v| v as u32)
}

fn de_low_water<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 1..=1000, "", " (0 would never top up)").map(|v| v as u32)
}

fn de_target<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 1..=1000, "", "").map(|v| v as u32)
}

fn de_max_unsynced_age_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(
        d,
        1..=60,
        " days",
        " (beyond two months the kiosk's bookings and blocklist are too stale to trust)",
    )
    .map(|v| v as u32)
}

fn de_max_unsynced<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 10..=100_000, "", "").map(|v| v as u32)
}

fn de_baud<'de, D: Deserializer<'de>>(d: D, device: &str) -> Result<u32, D::Error> {
    let v = de_int_in(d, 0..=u64::from(u32::MAX), "", "")
        .map_err(|_| D::Error::custom(format_args!("expected a baud rate: {}", baud_list())))?;
    match u32::try_from(v) {
        Ok(b) if BAUD_RATES.contains(&b) => Ok(b),
        _ => Err(D::Error::custom(format_args!(
            "{v} is not a baud rate the {device} supports ({})",
            baud_list()
        ))),
    }
}

fn baud_list() -> String {
    BAUD_RATES.map(|b| b.to_string()).join(", ")
}

fn de_reader_baud<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_baud(d, "reader")
}

fn de_printer_baud<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_baud(d, "printer")
}

/// The daemon runs from `/` under systemd, so a relative path would silently mean a
/// different place in development and on the kiosk: refuse it.
fn check_abs_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("expected an absolute path, found an empty string".into());
    }
    let path = PathBuf::from(s);
    if !path.is_absolute() {
        return Err(format!(
            "{s:?} is not an absolute path (it must start with /)"
        ));
    }
    Ok(path)
}

fn de_abs_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let s = de_string(d, "an absolute path")?;
    check_abs_path(&s).map_err(D::Error::custom)
}

/// `""` means "not set": the example file shows every key, so a technician can leave
/// an optional one empty rather than delete it.
fn de_opt_abs_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = de_string(d, "an absolute path, or \"\" for the default")?;
    if s.is_empty() {
        return Ok(None);
    }
    check_abs_path(&s).map(Some).map_err(D::Error::custom)
}

fn de_language<'de, D: Deserializer<'de>>(d: D) -> Result<Language, D::Error> {
    let s = de_string(d, "a language: \"id\" or \"en\"")?;
    match s.as_str() {
        "id" => Ok(Language::Id),
        "en" => Ok(Language::En),
        _ => Err(D::Error::custom(format_args!(
            "{s:?} is not a language the kiosk speaks (\"id\", \"en\")"
        ))),
    }
}

/// `"80mm"` or `"58mm"`: the roll's width as its label says it.
fn de_paper<'de, D: Deserializer<'de>>(d: D) -> Result<PaperWidth, D::Error> {
    let s = de_string(d, "a paper width: \"80mm\" or \"58mm\"")?;
    PaperWidth::ALL
        .into_iter()
        .find(|w| paper_label(*w) == s)
        .ok_or_else(|| {
            D::Error::custom(format_args!(
                "{s:?} is not a paper width the ticket layout knows (\"80mm\", \"58mm\")"
            ))
        })
}

/// A printer model by its code in the table: `tm-t88v`.
fn de_printer_model<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PrinterModel>, D::Error> {
    let s = de_string(d, "a printer model such as \"tm-t88v\" or \"generic-80\"")?;
    PrinterModel::from_code(&s).map(Some).ok_or_else(|| {
        let known: Vec<&str> = PrinterModel::ALL.iter().map(|m| m.code()).collect();
        D::Error::custom(format_args!(
            "{s:?} is not a printer model the kiosk knows ({}); for another ESC/POS \
             printer use generic-80 or generic-58, with dots_per_line if its head differs",
            known.join(", ")
        ))
    })
}

fn de_dots_per_line<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let dots = u32::deserialize(d)?;
    if DOTS_RANGE.contains(&dots) {
        Ok(Some(dots))
    } else {
        Err(D::Error::custom(format_args!(
            "{dots} dots a line is not a ticket printer's head: {} to {} (576 for 80 mm at \
             203 dpi, 512 at 180 dpi, 384 or 420 for 58 mm)",
            DOTS_RANGE.start(),
            DOTS_RANGE.end()
        )))
    }
}

/// How the configuration writes a paper width.
fn paper_label(width: PaperWidth) -> String {
    format!("{}mm", width.mm())
}

fn de_log_level<'de, D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
    let s = de_string(d, "a log level: \"error\", \"warn\", \"info\" or \"debug\"")?;
    if let Some(level) = LogLevel::ALL.into_iter().find(|l| l.as_str() == s) {
        return Ok(level);
    }
    match s.as_str() {
        "trace" => Err(D::Error::custom(
            "\"trace\" is refused: trace output may carry applicants' personal data; use \"debug\"",
        )),
        _ => Err(D::Error::custom(format_args!(
            "{s:?} is not a log level (\"error\", \"warn\", \"info\", \"debug\")"
        ))),
    }
}

/// `""` means no PIN; anything else must be an Argon2id PHC string whose parameters
/// the kiosk can verify with, so that a mangled paste is found at start, not at the
/// technician's first attempt.
fn de_pin_hash<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = de_string(d, "an Argon2id PHC hash, or \"\" for no PIN")?;
    if s.is_empty() {
        return Ok(None);
    }
    crate::maint::pin::check_hash(&s)
        .map(|()| Some(s))
        .map_err(|e| D::Error::custom(format_args!("{e}; set it with `apm-kiosk maint set-pin`")))
}

fn de_phone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = de_string(
        d,
        "a phone number such as \"+62 777 123 456\", or \"\" for none",
    )?;
    check_phone(s.trim()).map_err(D::Error::custom)
}

/// A phone number as the help panel shows it: what a person dials, and nothing else.
fn check_phone(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if !s.chars().all(allowed) || !(5..=20).contains(&digits) {
        return Err(format!(
            "{s:?} is not a phone number: expected 5 to 20 digits, with spaces, +, -, ( ) or . between them"
        ));
    }
    Ok(Some(s.to_owned()))
}

fn de_printer_path<'de, D: Deserializer<'de>>(d: D) -> Result<PrinterPath, D::Error> {
    let s = de_string(d, "a device path or tcp://host:port")?;
    parse_printer_path(&s).map_err(D::Error::custom)
}

fn parse_printer_path(s: &str) -> Result<PrinterPath, String> {
    if let Some(rest) = s.strip_prefix("tcp://") {
        let wrong = || format!("{s:?} is not a printer address: expected tcp://host:port");
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(wrong)?;
            (host, after.strip_prefix(':').ok_or_else(wrong)?)
        } else {
            rest.rsplit_once(':').ok_or_else(wrong)?
        };
        let valid_host = !host.is_empty()
            && (host.parse::<std::net::IpAddr>().is_ok()
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        if !valid_host {
            return Err(wrong());
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(format!("{port:?} is not a TCP port (1 to 65535)")),
        };
        return Ok(PrinterPath::Tcp {
            host: host.to_string(),
            port,
        });
    }
    if s.contains("://") {
        return Err(format!(
            "{s:?}: the printer is a device path or tcp://host:port; no other scheme"
        ));
    }
    check_abs_path(s).map(PrinterPath::Device)
}

fn de_central_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = de_string(d, "a URL")?;
    check_central_url(&s).map_err(D::Error::custom)
}

/// The transport rules of the central API: HTTPS, or plain HTTP only on loopback (the
/// simulator). Credentials never go in the URL: the kiosk authenticates with its
/// enrollment token, and the URL is printed by `config check` and in logs.
fn check_central_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
        _ => return Err(format!("{s:?} names no host")),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{s:?}: plain http is allowed only to a loopback address; use https"
            ));
        }
        other => {
            return Err(format!(
                "{other:?} is not a scheme for the central service: use https"
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must carry no user name or password: the kiosk authenticates with its enrollment token".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?}: the base URL takes no query or fragment"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// `apm-kiosk config check FILE`.
#[derive(Debug, clap::Args)]
pub struct ConfigCheckArgs {
    /// The configuration file to check, e.g. /etc/apm-kiosk/kiosk.toml.
    pub file: PathBuf,
}

/// Checks a configuration file and prints `ok` and a summary of what the daemon would
/// use, defaults included. A refused file is returned as the error (non-zero exit).
pub fn run_config_check(args: ConfigCheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.file)?;
    config.check_files()?;
    print!("{}", summary(&config));
    Ok(())
}

/// The text `config check` prints: one line per setting a technician may need to see.
pub fn summary(c: &Config) -> String {
    let language = match c.kiosk.language {
        Language::Id => "id",
        Language::En => "en",
    };
    let ca = c
        .central
        .ca_file
        .as_ref()
        .map_or_else(|| "system store".to_string(), |p| p.display().to_string());
    format!(
        "ok\n\
         state_dir       {}\n\
         control_socket  {}\n\
         language        {language}\n\
         inactivity      warn after {} s, reset {} s later\n\
         card_reader     {} at {} baud\n\
         printer         {} ({} baud if serial), paper {}, {} ({} dots, {} columns)\n\
         central         {} (CA: {ca}), timeout {} s, every {} s\n\
         sync            hold {} days, top up below {} to {}\n\
         guardrail       stop booking past {} days or {} unsynced\n\
         log             {}\n\
         maint PIN       {}\n\
         ticket offices  {}\n",
        c.kiosk.state_dir.display(),
        c.kiosk.control_socket().display(),
        c.kiosk.inactivity_warning.as_secs(),
        c.kiosk.inactivity_reset.as_secs(),
        c.card_reader.path.display(),
        c.card_reader.baud,
        c.printer.path,
        c.printer.baud,
        paper_label(c.printer.paper),
        c.printer.profile().model.code(),
        c.printer.profile().dots,
        c.printer.profile().columns(),
        c.central.url,
        c.central.timeout.as_secs(),
        c.central.sync_interval.as_secs(),
        c.sync.hold_days,
        c.sync.low_water,
        c.sync.target,
        c.sync.max_unsynced_age_days,
        c.sync.max_unsynced,
        c.log.level.as_str(),
        if c.maint.pin_hash.is_some() {
            "set"
        } else {
            "none (the menu cannot be opened from the screen)"
        },
        offices_summary(&c.offices),
    )
}

/// `BTM (hours), KRM (address, hours)`: which offices' tickets print what.
fn offices_summary(offices: &BTreeMap<String, OfficeDetails>) -> String {
    if offices.is_empty() {
        return "none configured".into();
    }
    let each: Vec<String> = offices
        .iter()
        .map(|(id, d)| {
            let keys: Vec<&str> = [
                ("address", d.address.is_some()),
                ("hours", d.hours.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            let keys = if keys.is_empty() {
                "nothing".to_owned()
            } else {
                keys.join(", ")
            };
            format!("{id} ({keys})")
        })
        .collect();
    each.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[central]\nurl = \"https://antrian.imigrasi.go.id\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(text, Path::new("kiosk.toml"))
    }

    /// A case's file as parsed: one without [central] gets the minimal one appended.
    fn with_central(text: &str) -> String {
        if text.contains("[central]") {
            text.to_string()
        } else {
            format!("{text}{MINIMAL}")
        }
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let c = parse(MINIMAL).expect("minimal file is valid");
        assert_eq!(c.kiosk.state_dir, PathBuf::from("/var/lib/apm-kiosk"));
        assert_eq!(c.kiosk.language, Language::Id);
        assert_eq!(
            c.kiosk.control_socket(),
            PathBuf::from("/var/lib/apm-kiosk/control.sock")
        );
        assert_eq!(c.kiosk.inactivity_warning, Duration::from_secs(60));
        assert_eq!(c.kiosk.inactivity_reset, Duration::from_secs(20));
        assert_eq!(c.card_reader.path, PathBuf::from("/dev/apm-reader"));
        assert_eq!(c.card_reader.baud, 115_200);
        assert_eq!(
            c.printer.path,
            PrinterPath::Device(PathBuf::from("/dev/apm-printer"))
        );
        assert_eq!(c.printer.baud, 115_200);
        assert_eq!(c.printer.paper, PaperWidth::Mm80);
        assert_eq!(c.central.url, "https://antrian.imigrasi.go.id");
        assert_eq!(c.central.ca_file, None);
        assert_eq!(c.central.timeout, Duration::from_secs(10));
        assert_eq!(c.central.sync_interval, Duration::from_secs(30));
        assert_eq!(c.sync, SyncConfig::default());
        assert_eq!(
            (c.sync.hold_days, c.sync.low_water, c.sync.target),
            (7, 3, 8)
        );
        assert_eq!(
            (c.sync.max_unsynced_age_days, c.sync.max_unsynced),
            (7, 1000)
        );
        assert_eq!(c.log.level, LogLevel::Info);
    }

    #[test]
    fn good_files() {
        type Check = fn(&Config) -> bool;
        let cases: &[(&str, &str, Check)] = &[
            (
                "english screen, own socket",
                "[kiosk]\nlanguage = \"en\"\ncontrol_socket = \"/run/apm/ctl.sock\"\n",
                |c| {
                    c.kiosk.language == Language::En
                        && c.kiosk.control_socket() == Path::new("/run/apm/ctl.sock")
                },
            ),
            (
                "empty control socket means the default",
                "[kiosk]\nstate_dir = \"/srv/apm\"\ncontrol_socket = \"\"\n",
                |c| c.kiosk.control_socket() == Path::new("/srv/apm/control.sock"),
            ),
            (
                "network printer on 58 mm paper",
                "[printer]\npath = \"tcp://192.168.10.20:9100\"\npaper = \"58mm\"\n",
                |c| {
                    c.printer.path
                        == PrinterPath::Tcp {
                            host: "192.168.10.20".into(),
                            port: 9100,
                        }
                        && c.printer.paper == PaperWidth::Mm58
                },
            ),
            (
                "network printer by name and by IPv6",
                "[printer]\npath = \"tcp://[fd00::20]:9100\"\n",
                |c| {
                    c.printer.path
                        == PrinterPath::Tcp {
                            host: "fd00::20".into(),
                            port: 9100,
                        }
                        && c.printer.path.to_string() == "tcp://[fd00::20]:9100"
                },
            ),
            (
                "USB line printer, slow serial reader",
                "[printer]\npath = \"/dev/usb/lp0\"\n[card_reader]\nbaud = 9600\n",
                |c| {
                    c.printer.path == PrinterPath::Device("/dev/usb/lp0".into())
                        && c.card_reader.baud == 9600
                },
            ),
            (
                "plain http to the loopback simulator, trailing slash trimmed",
                "[central]\nurl = \"http://127.0.0.1:8088/\"\n",
                |c| c.central.url == "http://127.0.0.1:8088",
            ),
            (
                "http to localhost",
                "[central]\nurl = \"http://localhost:8088\"\n",
                |c| c.central.url == "http://localhost:8088",
            ),
            (
                "http to IPv6 loopback",
                "[central]\nurl = \"http://[::1]:8088\"\n",
                |c| c.central.url == "http://[::1]:8088",
            ),
            (
                "pinned CA and timings",
                "[central]\nurl = \"https://c.example\"\nca_file = \"/etc/apm-kiosk/ca.pem\"\ntimeout_s = 5\nsync_interval_s = 120\n",
                |c| {
                    c.central.ca_file.as_deref() == Some(Path::new("/etc/apm-kiosk/ca.pem"))
                        && c.central.timeout == Duration::from_secs(5)
                        && c.central.sync_interval == Duration::from_secs(120)
                },
            ),
            (
                "sync with low water equal to target",
                "[sync]\nhold_days = 14\nlow_water = 5\ntarget = 5\n",
                |c| c.sync.hold_days == 14 && c.sync.low_water == 5 && c.sync.target == 5,
            ),
            (
                "guardrail limits",
                "[sync]\nmax_unsynced_age_days = 3\nmax_unsynced = 250\n",
                |c| c.sync.max_unsynced_age_days == 3 && c.sync.max_unsynced == 250,
            ),
            ("debug logs", "[log]\nlevel = \"debug\"\n", |c| {
                c.log.level == LogLevel::Debug
            }),
        ];
        for (name, text, check) in cases {
            match parse(&with_central(text)) {
                Ok(c) => assert!(check(&c), "{name}: unexpected values {c:?}"),
                Err(e) => panic!("{name}: refused: {e}"),
            }
        }
    }

    #[test]
    fn the_printer_profile_follows_model_paper_and_dots() {
        use crate::protocol::printer_profile::Confirmation;
        let cases: [(&str, PrinterModel, u32, usize, Confirmation); 5] = [
            ("", PrinterModel::Generic80, 576, 48, Confirmation::HeadTime),
            (
                "paper = \"58mm\"\n",
                PrinterModel::Generic58,
                384,
                32,
                Confirmation::HeadTime,
            ),
            (
                "model = \"tm-t88v\"\n",
                PrinterModel::TmT88v,
                512,
                42,
                Confirmation::ProcessId,
            ),
            (
                "model = \"tm-t20\"\npaper = \"58mm\"\n",
                PrinterModel::TmT20,
                420,
                35,
                Confirmation::ProcessId,
            ),
            (
                "model = \"generic-58\"\ndots_per_line = 420\n",
                PrinterModel::Generic58,
                420,
                35,
                Confirmation::HeadTime,
            ),
        ];
        for (printer, model, dots, columns, confirmation) in cases {
            let c = parse(&with_central(&format!("[printer]\n{printer}")))
                .unwrap_or_else(|e| panic!("{printer:?}: {e}"));
            let p = c.printer.profile();
            assert_eq!(
                (p.model, p.dots, p.columns(), p.confirmation()),
                (model, dots, columns, confirmation),
                "{printer:?}"
            );
        }
        for (printer, words) in [
            ("model = \"tm-t99\"\n", "tm-t88iii, tm-t88iv"),
            ("dots_per_line = 100\n", "288 to 832"),
        ] {
            let err = parse(&with_central(&format!("[printer]\n{printer}")))
                .expect_err(printer)
                .to_string();
            assert!(err.contains(words), "{printer:?}: {err}");
        }
    }

    /// A file the kiosk refuses, and what its message must say.
    struct BadFile {
        name: &'static str,
        text: &'static str,
        /// Line and column (in characters) the message points at.
        at: (usize, usize),
        /// The key the message names, if the file parsed far enough to have one.
        key: Option<&'static str>,
        /// Words the message must hold.
        words: &'static str,
    }

    const BAD_FILES: &[BadFile] = &[
        BadFile {
            name: "office address longer than the ticket takes",
            text: "[offices.KRM]\naddress = \"Jalan Jenderal Sudirman Nomor Satu, Kelurahan Tanjung Balai, Karimun\"\n",
            at: (2, 11),
            key: Some("offices.KRM.address"),
            words: "the address is 68 characters; at most 44 fit on the ticket",
        },
        BadFile {
            name: "office hours the printer cannot print",
            text: "[offices.KRM]\nhours = \"\u{661f}\u{671f}\u{4e00} 08.00\"\n",
            at: (2, 9),
            key: Some("offices.KRM.hours"),
            words: "which the ticket printer cannot print; write it in Latin letters",
        },
        BadFile {
            name: "office key misspelt",
            text: "[offices.KRM]\nadress = \"Jl. Sudirman\"\n",
            at: (2, 1),
            key: Some("offices.KRM.adress"),
            words: "unknown field `adress`, expected `address` or `hours`",
        },
        BadFile {
            name: "baud the reader does not support",
            text: "[kiosk]\nlanguage = \"id\"\n\n[card_reader]\npath = \"/dev/apm-reader\"\n# comment\nbaud = 12345\n[central]\nurl = \"https://c.example\"\n",
            at: (7, 8),
            key: Some("card_reader.baud"),
            words: "12345 is not a baud rate the reader supports (9600, 19200, 38400, 57600, 115200)",
        },
        BadFile {
            name: "baud as a string",
            text: "[printer]\nbaud = \"fast\"\n",
            at: (2, 8),
            key: Some("printer.baud"),
            words: "expected a baud rate",
        },
        BadFile {
            name: "unknown key",
            text: "[kiosk]\nstate_dir = \"/var/lib/apm-kiosk\"\nlangauge = \"en\"\n",
            at: (3, 1),
            key: Some("kiosk.langauge"),
            words: "unknown field `langauge`, expected one of",
        },
        BadFile {
            name: "unknown table",
            text: "[kiosk]\n[camera]\nindex = 0\n",
            at: (2, 2),
            key: Some("camera"),
            words: "unknown field `camera`",
        },
        BadFile {
            name: "missing central url",
            text: "[central]\ntimeout_s = 5\n",
            at: (1, 1),
            key: Some("central"),
            words: "missing field `url`",
        },
        BadFile {
            name: "language the kiosk does not speak",
            text: "[kiosk]\nlanguage = \"fr\"\n",
            at: (2, 12),
            key: Some("kiosk.language"),
            words: "\"fr\" is not a language the kiosk speaks",
        },
        BadFile {
            name: "relative state dir",
            text: "[kiosk]\nstate_dir = \"state\"\n",
            at: (2, 13),
            key: Some("kiosk.state_dir"),
            words: "is not an absolute path",
        },
        BadFile {
            name: "empty reader path",
            text: "[card_reader]\npath = \"\"\n",
            at: (2, 8),
            key: Some("card_reader.path"),
            words: "expected an absolute path",
        },
        BadFile {
            name: "paper width",
            text: "[printer]\npaper = \"A4\"\n",
            at: (2, 9),
            key: Some("printer.paper"),
            words: "(\"80mm\", \"58mm\")",
        },
        BadFile {
            name: "printer with a port of zero",
            text: "[printer]\npath = \"tcp://10.0.0.5:0\"\n",
            at: (2, 8),
            key: Some("printer.path"),
            words: "is not a TCP port",
        },
        BadFile {
            name: "printer with another scheme",
            text: "[printer]\npath = \"usb://epson\"\n",
            at: (2, 8),
            key: Some("printer.path"),
            words: "no other scheme",
        },
        BadFile {
            name: "plain http to another host",
            text: "[central]\nurl = \"http://10.1.2.3:8080\"\n",
            at: (2, 7),
            key: Some("central.url"),
            words: "plain http is allowed only to a loopback address",
        },
        BadFile {
            name: "not a URL",
            text: "[central]\nurl = \"antrian.imigrasi.go.id\"\n",
            at: (2, 7),
            key: Some("central.url"),
            words: "is not a URL",
        },
        BadFile {
            name: "credentials in the URL",
            text: "[central]\nurl = \"https://kiosk:secret@c.example\"\n",
            at: (2, 7),
            key: Some("central.url"),
            words: "no user name or password",
        },
        BadFile {
            name: "relative CA file",
            text: "[central]\nurl = \"https://c.example\"\nca_file = \"ca.pem\"\n",
            at: (3, 11),
            key: Some("central.ca_file"),
            words: "is not an absolute path",
        },
        BadFile {
            name: "zero timeout",
            text: "[central]\nurl = \"https://c.example\"\ntimeout_s = 0\n",
            at: (3, 13),
            key: Some("central.timeout_s"),
            words: "0 s is out of range: expected 1 to 120 s",
        },
        BadFile {
            name: "negative warning",
            text: "[kiosk]\ninactivity_warning_s = -5\n",
            at: (2, 24),
            key: Some("kiosk.inactivity_warning_s"),
            words: "-5 s is out of range: expected 10 to 600 s",
        },
        BadFile {
            name: "reset as a float",
            text: "[kiosk]\ninactivity_reset_s = 2.5\n",
            at: (2, 22),
            key: Some("kiosk.inactivity_reset_s"),
            words: "expected a whole number",
        },
        BadFile {
            name: "trace logs",
            text: "[log]\nlevel = \"trace\"\n",
            at: (2, 9),
            key: Some("log.level"),
            words: "personal data",
        },
        BadFile {
            name: "low water above target",
            text: "[sync]\nlow_water = 9\ntarget = 4\n",
            at: (2, 13),
            key: Some("sync.low_water"),
            words: "must not be more than target",
        },
        BadFile {
            name: "target below the default low water",
            text: "[sync]\ntarget = 2\n",
            at: (2, 10),
            key: Some("sync.target"),
            words: "low_water (3) must not be more than target (2)",
        },
        BadFile {
            name: "sync interval shorter than timeout",
            text: "[central]\nurl = \"https://c.example\"\ntimeout_s = 60\nsync_interval_s = 30\n",
            at: (4, 19),
            key: Some("central.sync_interval_s"),
            words: "must not be shorter than timeout_s",
        },
        BadFile {
            name: "guardrail age of zero days",
            text: "[sync]\nmax_unsynced_age_days = 0\n",
            at: (2, 25),
            key: Some("sync.max_unsynced_age_days"),
            words: "expected 1 to 60 days",
        },
        BadFile {
            name: "guardrail count too small",
            text: "[sync]\nmax_unsynced = 5\n",
            at: (2, 16),
            key: Some("sync.max_unsynced"),
            words: "expected 10 to 100000",
        },
        BadFile {
            name: "zero hold days",
            text: "[sync]\nhold_days = 0\n",
            at: (2, 13),
            key: Some("sync.hold_days"),
            words: "expected 1 to 90 days",
        },
        BadFile {
            name: "table given a number",
            text: "kiosk = 5\n",
            at: (1, 9),
            key: Some("kiosk"),
            words: "expected struct KioskConfig",
        },
        BadFile {
            name: "syntax error",
            text: "[kiosk]\nlanguage = \"id\n",
            at: (2, 15),
            key: None,
            words: "invalid basic string",
        },
        BadFile {
            // Found by the parser at line 9, where `[log]` starts: shown where it is.
            name: "an array left open",
            text: "[kiosk]\nlanguage = \"id\"\n\n[central]\nurl = \"https://c.example\"\n[sync]\nhold_days = [1, 2\n\n[log]\nlevel = \"info\"\n",
            at: (7, 13),
            key: Some("sync.hold_days"),
            words: "the `[` opened here is not closed (found at line 9)",
        },
        BadFile {
            name: "an inline table left open, brackets in strings and comments not counted",
            text: "# a [comment\n[kiosk]\nlanguage = \"[id\" # ]]\n[printer]\nx = {a = '{'\n\n[central]\nurl = \"https://c.example\"\n",
            at: (5, 5),
            key: Some("printer.x"),
            words: "the `{` opened here is not closed (found at line 7)",
        },
        BadFile {
            name: "column counts characters, not bytes",
            text: "printer = { path = \"/dev/lp–é\", paper = \"A4\" }\n",
            at: (1, 41),
            key: Some("printer.paper"),
            words: "not a paper width",
        },
    ];

    #[test]
    fn bad_files_name_the_line_key_and_what_was_expected() {
        for case in BAD_FILES {
            refused_as_expected(case);
        }
    }

    /// The file is refused with a message that starts with the file, line and column,
    /// names the key and holds the expected words.
    fn refused_as_expected(case: &BadFile) {
        let BadFile {
            name,
            text,
            at: (line, column),
            key,
            words,
        } = case;
        let err = match parse(&with_central(text)) {
            Ok(c) => panic!("{name}: accepted: {c:?}"),
            Err(e) => e,
        };
        let shown = err.to_string();
        assert!(
            matches!(&err, ConfigError::Invalid { position: Some(p), .. }
                if p.line == *line && p.column == *column),
            "{name}: wrong place: {shown}"
        );
        assert_eq!(err.key(), *key, "{name}: wrong key: {shown}");
        assert!(
            shown.contains(words),
            "{name}: message lacks {words:?}: {shown}"
        );
        let prefix = format!("kiosk.toml:{line}:{column}: ");
        assert!(shown.starts_with(&prefix), "{name}: {shown}");
    }

    #[test]
    fn the_documented_error_format() {
        let text = "[kiosk]\nstate_dir = \"/var/lib/apm-kiosk\"\n\n[card_reader]\npath = \"/dev/apm-reader\"\n\nbaud = 12345\n[central]\nurl = \"https://c.example\"\n";
        let err = parse(text).expect_err("bad baud is refused");
        assert_eq!(
            err.to_string(),
            "kiosk.toml:7:8: card_reader.baud: 12345 is not a baud rate the reader supports (9600, 19200, 38400, 57600, 115200)"
        );
        assert_eq!(err.line(), Some(7));
    }

    #[test]
    fn config_check_arguments() {
        use clap::{Args as _, Command, FromArgMatches as _};
        let cmd = ConfigCheckArgs::augment_args(Command::new("check"));
        cmd.clone().debug_assert();
        let m = cmd
            .clone()
            .try_get_matches_from(["check", "/etc/apm-kiosk/kiosk.toml"])
            .expect("a file is given");
        let args = ConfigCheckArgs::from_arg_matches(&m).expect("parses");
        assert_eq!(args.file, Path::new("/etc/apm-kiosk/kiosk.toml"));
        assert!(cmd.try_get_matches_from(["check"]).is_err());
    }

    #[test]
    fn the_help_phone_is_a_number_a_person_can_dial() {
        let c = parse(&format!("[help]\nphone = \" +62 777 123-456 \"\n{MINIMAL}")).expect("phone");
        assert_eq!(c.help.phone.as_deref(), Some("+62 777 123-456"));
        assert_eq!(parse(MINIMAL).expect("minimal").help.phone, None);
        let c = parse(&format!("[help]\nphone = \"\"\n{MINIMAL}")).expect("none");
        assert_eq!(c.help.phone, None);
        for bad in [
            "\"call Pak Budi\"",
            "\"12\"",
            "\"0777 123 456 789 012 345 678\"",
            "777",
        ] {
            let err = parse(&format!("[help]\nphone = {bad}\n{MINIMAL}")).expect_err(bad);
            let shown = err.to_string();
            assert!(
                shown.starts_with("kiosk.toml:2:9: help.phone: "),
                "{bad}: {shown}"
            );
            assert!(shown.contains("phone number"), "{bad}: {shown}");
        }
    }

    #[test]
    fn maint_pin_hash_is_checked_where_it_is_written() {
        const GOOD: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let c = parse(&format!("[maint]\npin_hash = \"{GOOD}\"\n{MINIMAL}")).expect("good hash");
        assert_eq!(c.maint.pin_hash.as_deref(), Some(GOOD));
        assert!(summary(&c).contains("maint PIN       set"));
        let c = parse(&format!("[maint]\npin_hash = \"\"\n{MINIMAL}")).expect("no PIN");
        assert_eq!(c.maint.pin_hash, None);
        assert_eq!(parse(MINIMAL).expect("minimal").maint.pin_hash, None);
        // (file, line, column, words in the message)
        let cases = [
            (
                "[maint]\n# the menu\npin_hash = \"1234\"\n",
                3,
                12,
                "not a PHC hash",
            ),
            (
                "[maint]\npin_hash = \"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
                2,
                12,
                "argon2id",
            ),
            (
                "[maint]\npin_hash = \"$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
                2,
                12,
                "parameters",
            ),
            ("[maint]\npin_hash = 1234\n", 2, 12, "PHC"),
        ];
        for (text, line, column, words) in cases {
            let err = parse(&format!("{text}{MINIMAL}")).expect_err(text);
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("kiosk.toml:{line}:{column}: maint.pin_hash: ")),
                "{text}: {shown}"
            );
            assert!(shown.contains(words), "{text}: {shown}");
            assert!(
                !shown.contains("AAAAAAAA"),
                "the hash is not echoed: {shown}"
            );
        }
    }

    #[test]
    fn offices_take_an_address_and_hours_each_or_none() {
        let c = parse(&with_central(
            "[offices.KRM]\naddress = \"  Jl. Jend. Sudirman No. 1, Tg. Balai Karimun \"\nhours = \"Senin-Jumat 08.00-15.00\"\n[offices.BTM]\nhours = \"Senin-Jumat 08.00-16.00\"\n[offices.MKS]\naddress = \"\"\n",
        ))
        .expect("valid");
        let krm = &c.offices["KRM"];
        assert_eq!(
            krm.address.as_deref(),
            Some("Jl. Jend. Sudirman No. 1, Tg. Balai Karimun")
        );
        assert_eq!(krm.hours.as_deref(), Some("Senin-Jumat 08.00-15.00"));
        assert_eq!(c.offices["BTM"].address, None);
        assert_eq!(c.offices["MKS"], OfficeDetails::default());
        assert!(!c.offices.contains_key("JKT"));
        assert!(
            summary(&c)
                .contains("ticket offices  BTM (hours), KRM (address, hours), MKS (nothing)"),
            "{}",
            summary(&c)
        );
        assert!(
            summary(&parse(MINIMAL).expect("valid")).contains("ticket offices  none configured")
        );
        let err = parse(&with_central(
            "[offices.\"K RM\"]\nhours = \"Senin-Jumat 08.00-15.00\"\n",
        ))
        .expect_err("a space in an office id")
        .to_string();
        assert!(
            err.contains("office id \"K RM\" is not one the central service writes"),
            "{err}"
        );
    }

    #[test]
    fn summary_shows_defaults_resolved() {
        let c = parse(MINIMAL).expect("minimal file is valid");
        let s = summary(&c);
        assert!(s.starts_with("ok\n"), "{s}");
        assert!(s.contains("/var/lib/apm-kiosk/control.sock"), "{s}");
        assert!(s.contains("/dev/apm-reader at 115200 baud"), "{s}");
        assert!(s.contains("CA: system store"), "{s}");
    }
}
