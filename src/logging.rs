//! Where the daemon's and the tools' log lines go, and how detailed they are. Under
//! systemd (`INVOCATION_ID` or `JOURNAL_STREAM` set) they go to journald with their
//! fields as journal fields; otherwise, or when the journal socket is not there, plain
//! text on stderr. The level comes from `[log] level`; `RUST_LOG` overrides it for
//! development.
//!
//! Personal data: no log line at `debug` or above carries a NIK, a name, an address or
//! a phone number. `trace` may (dependencies trace HTTP bodies and SQL parameters), so
//! the configuration refuses it and release builds cannot emit it at all: `tracing`'s
//! `release_max_level_debug` feature removes every trace call site at compile time, so
//! not even `RUST_LOG=trace` brings them back on a kiosk. Debug builds keep trace for
//! development with the simulators, whose cards are made up.
//!
//! What each line says is left to the modules that log; this one only sets up the sink.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogLevel;

/// Why the log could not be set up as asked. The daemon still runs: `init` falls back
/// to stderr and says so there.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("RUST_LOG is not a valid filter ({0}); the configured level is used")]
    BadRustLog(String),
    #[error("journald is not reachable ({0}); logging to stderr")]
    NoJournal(String),
}

/// Where the lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journald,
    Stderr,
}

/// True when systemd started this process: it sets `INVOCATION_ID` for every unit it
/// runs and `JOURNAL_STREAM` when stdout or stderr is connected to the journal.
pub fn under_systemd(invocation_id: Option<&str>, journal_stream: Option<&str>) -> bool {
    invocation_id.is_some_and(|s| !s.is_empty()) || journal_stream.is_some_and(|s| !s.is_empty())
}

/// The filter for a configured level: the kiosk's own lines at that level, the
/// dependencies' at most at `info` (their `debug` is HTTP and TLS chatter that would
/// bury the kiosk's own lines).
pub fn directives(level: LogLevel) -> String {
    let others = match level {
        LogLevel::Debug => LogLevel::Info,
        l => l,
    };
    format!("{},apm_kiosk={}", others.as_str(), level.as_str())
}

/// The filter in force: `RUST_LOG` when it is set and valid, else the configured level.
fn filter(level: LogLevel, rust_log: Option<&str>) -> (EnvFilter, Option<LoggingError>) {
    match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(spec) => match EnvFilter::try_new(spec) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(directives(level)),
                Some(LoggingError::BadRustLog(e.to_string())),
            ),
        },
        None => (EnvFilter::new(directives(level)), None),
    }
}

/// Sets up the global subscriber once; later calls do nothing. Returns where the lines
/// go. Problems (a bad `RUST_LOG`, no journal socket) are logged as warnings through
/// the sink that was set up instead.
pub fn init(level: LogLevel) -> Sink {
    let env = |k: &str| std::env::var(k).ok();
    let (filter, mut problems) = {
        let (f, p) = filter(level, env("RUST_LOG").as_deref());
        (f, p.into_iter().collect::<Vec<_>>())
    };
    let journald = if under_systemd(
        env("INVOCATION_ID").as_deref(),
        env("JOURNAL_STREAM").as_deref(),
    ) {
        match tracing_journald::layer() {
            Ok(layer) => Some(layer.with_syslog_identifier("apm-kiosk".to_owned())),
            Err(e) => {
                problems.push(LoggingError::NoJournal(e.to_string()));
                None
            }
        }
    } else {
        None
    };
    let sink = if journald.is_some() {
        Sink::Journald
    } else {
        Sink::Stderr
    };
    // Under systemd without a journal (output to a file) the manager adds no time, so
    // plain text keeps its timestamps everywhere.
    let fmt = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(fmt)
        .try_init()
        .is_ok();
    if installed {
        for p in problems {
            tracing::warn!("{p}");
        }
    }
    sink
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_is_recognised_by_either_variable() {
        let cases = [
            (None, None, false),
            (Some(""), Some(""), false),
            (Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), None, true),
            (None, Some("8:12345"), true),
            (Some("abc"), Some("8:1"), true),
        ];
        for (invocation, stream, expected) in cases {
            assert_eq!(
                under_systemd(invocation, stream),
                expected,
                "{invocation:?} {stream:?}"
            );
        }
    }

    #[test]
    fn the_configured_level_applies_to_the_kiosk_and_caps_the_dependencies_at_info() {
        let cases = [
            (LogLevel::Error, "error,apm_kiosk=error"),
            (LogLevel::Warn, "warn,apm_kiosk=warn"),
            (LogLevel::Info, "info,apm_kiosk=info"),
            (LogLevel::Debug, "info,apm_kiosk=debug"),
        ];
        for (level, expected) in cases {
            assert_eq!(directives(level), expected);
            assert!(EnvFilter::try_new(directives(level)).is_ok());
        }
    }

    #[test]
    fn rust_log_overrides_and_a_bad_one_falls_back_to_the_level() {
        let (f, p) = filter(LogLevel::Info, Some("apm_kiosk=debug"));
        assert!(p.is_none());
        assert_eq!(f.to_string(), "apm_kiosk=debug");
        let (f, p) = filter(LogLevel::Warn, Some("apm_kiosk=[[["));
        assert!(matches!(p, Some(LoggingError::BadRustLog(_))));
        assert_eq!(
            f.to_string(),
            EnvFilter::new("warn,apm_kiosk=warn").to_string()
        );
        let (f, p) = filter(LogLevel::Warn, Some("  "));
        assert!(p.is_none());
        assert_eq!(
            f.to_string(),
            EnvFilter::new("warn,apm_kiosk=warn").to_string()
        );
    }

    #[test]
    fn release_builds_cannot_emit_trace() {
        // The package is a release build: trace call sites are compiled out there.
        if cfg!(debug_assertions) {
            assert_eq!(
                tracing::level_filters::STATIC_MAX_LEVEL,
                tracing::level_filters::LevelFilter::TRACE
            );
        } else {
            assert_eq!(
                tracing::level_filters::STATIC_MAX_LEVEL,
                tracing::level_filters::LevelFilter::DEBUG
            );
        }
    }
}
