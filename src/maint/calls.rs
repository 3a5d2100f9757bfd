//! The officer calls applicants make from the help panel ([`crate::flow::Effect::CallOfficer`]):
//! how many since the start, the last one's time, and the calls still open. A call stays
//! open until a technician or an officer acknowledges it (the menu's Service page, or
//! `acknowledge_calls` on the control channel) or until it is a day old: by then whoever
//! called has long gone, and a report full of last week's calls would hide today's.
//!
//! Kept in memory, shared by the shell (which records) and the maintenance service
//! (which reports and acknowledges): a restart starts the count again. Every call is
//! also an audit line (`officer_called`, with the screen it came from), which a restart
//! keeps. No personal data: a call carries its time and its screen only.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::flow::view::ScreenKind;

/// How long an unacknowledged call stays open.
pub const OPEN_FOR: TimeDelta = TimeDelta::days(1);

/// One call from the help panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerCall {
    pub at: DateTime<Utc>,
    /// The page beneath the panel when the applicant called.
    pub screen: ScreenKind,
}

/// What the report and `status` say of the calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsReport {
    /// Calls since the daemon started.
    pub total: u64,
    pub last_at: Option<DateTime<Utc>>,
    /// Calls not yet acknowledged and less than a day old, oldest first.
    pub open: Vec<OfficerCall>,
}

#[derive(Debug, Default)]
struct Calls {
    total: u64,
    last_at: Option<DateTime<Utc>>,
    open: Vec<OfficerCall>,
}

/// The calls, shared; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OfficerCalls(Arc<Mutex<Calls>>);

impl OfficerCalls {
    fn with<T>(&self, f: impl FnOnce(&mut Calls) -> T) -> T {
        match self.0.lock() {
            Ok(mut calls) => f(&mut calls),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// An applicant called from `screen` at `at`.
    pub fn record(&self, at: DateTime<Utc>, screen: ScreenKind) {
        self.with(|c| {
            c.total += 1;
            c.last_at = Some(at);
            c.open.push(OfficerCall { at, screen });
        });
    }

    /// The calls as of `now`: those older than [`OPEN_FOR`] are no longer open.
    pub fn report(&self, now: DateTime<Utc>) -> CallsReport {
        self.with(|c| {
            c.open.retain(|call| now - call.at < OPEN_FOR);
            CallsReport {
                total: c.total,
                last_at: c.last_at,
                open: c.open.clone(),
            }
        })
    }

    /// Someone has seen to the open calls: how many there were.
    pub fn acknowledge(&self, now: DateTime<Utc>) -> usize {
        let open = self.report(now).open.len();
        self.with(|c| c.open.clear());
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_stay_open_until_acknowledged_or_a_day_old() {
        let t0 = DateTime::<Utc>::default();
        let calls = OfficerCalls::default();
        calls.record(t0, ScreenKind::Idle);
        calls.record(t0 + TimeDelta::hours(20), ScreenKind::Details);
        let r = calls.report(t0 + TimeDelta::hours(23));
        assert_eq!((r.total, r.open.len()), (2, 2));
        assert_eq!(r.last_at, Some(t0 + TimeDelta::hours(20)));
        let r = calls.report(t0 + TimeDelta::hours(24));
        assert_eq!(
            r.open,
            [OfficerCall {
                at: t0 + TimeDelta::hours(20),
                screen: ScreenKind::Details
            }]
        );
        assert_eq!(calls.acknowledge(t0 + TimeDelta::hours(25)), 1);
        let r = calls.report(t0 + TimeDelta::hours(25));
        assert_eq!((r.total, r.open.len()), (2, 0), "the count stays");
        assert_eq!(calls.acknowledge(t0 + TimeDelta::hours(25)), 0);
    }
}
