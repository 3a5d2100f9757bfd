//! Fault injection for the appliance tests: faults that cannot be caused from outside
//! the process, switched on by the environment variable `APM_KIOSK_FAULT`, read once
//! when the daemon starts. Off unless set; nothing in the package sets it.
//!
//! `APM_KIOSK_FAULT=hang-main-loop-after=3s` blocks the daemon's main loop for good
//! three seconds after it starts, as a deadlock would: the loop stops feeding the
//! systemd watchdog, and the test sees systemd kill and restart the daemon. The other
//! tasks (control channel, printer, store) keep running, as they would around a real
//! hang, so only the watchdog can notice.
//!
//! This module only parses the variable; `app` acts on it.

use std::time::Duration;

/// The variable's name.
pub const VAR: &str = "APM_KIOSK_FAULT";

/// A bad `APM_KIOSK_FAULT`: the daemon refuses to start rather than run a test without
/// its fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error(
        "APM_KIOSK_FAULT={0:?} is not a known fault (expected hang-main-loop-after=<N>s or <N>ms)"
    )]
    Unknown(String),
}

/// The faults a test can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Block the main loop this long after it starts.
    pub hang_main_loop_after: Option<Duration>,
}

impl Faults {
    /// The faults asked for by `value` (the variable's value; `None` or empty: none).
    pub fn parse(value: Option<&str>) -> Result<Faults, FaultError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Faults::default());
        };
        let unknown = || FaultError::Unknown(value.to_owned());
        let after = value
            .strip_prefix("hang-main-loop-after=")
            .ok_or_else(unknown)?;
        let duration = if let Some(ms) = after.strip_suffix("ms") {
            ms.parse().map(Duration::from_millis)
        } else if let Some(s) = after.strip_suffix('s') {
            s.parse().map(Duration::from_secs)
        } else {
            return Err(unknown());
        }
        .map_err(|_| unknown())?;
        Ok(Faults {
            hang_main_loop_after: Some(duration),
        })
    }

    /// The faults in this process's environment.
    pub fn from_env() -> Result<Faults, FaultError> {
        Faults::parse(std::env::var(VAR).ok().as_deref())
    }

    pub fn any(&self) -> bool {
        self.hang_main_loop_after.is_some()
    }
}

/// Blocks the calling thread for good: the main loop's hang.
pub fn hang_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_parsed_or_refused() {
        let hang = |d| {
            Ok(Faults {
                hang_main_loop_after: Some(d),
            })
        };
        let cases: [(Option<&str>, Result<Faults, ()>); 9] = [
            (None, Ok(Faults::default())),
            (Some(""), Ok(Faults::default())),
            (
                Some("hang-main-loop-after=3s"),
                hang(Duration::from_secs(3)),
            ),
            (
                Some(" hang-main-loop-after=250ms "),
                hang(Duration::from_millis(250)),
            ),
            (Some("hang-main-loop-after=0s"), hang(Duration::ZERO)),
            (Some("hang-main-loop-after=3"), Err(())),
            (Some("hang-main-loop-after=s"), Err(())),
            (Some("hang-main-loop-after=-1s"), Err(())),
            (Some("crash"), Err(())),
        ];
        for (value, expected) in cases {
            let got = Faults::parse(value).map_err(|_| ());
            assert_eq!(got, expected, "{value:?}");
        }
        assert!(!Faults::default().any());
        assert!(
            Faults::parse(Some("hang-main-loop-after=1s"))
                .expect("parses")
                .any()
        );
    }
}
