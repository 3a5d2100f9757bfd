//! The wall clock the daemon reads, passed in like its devices: the system's on a kiosk,
//! and in tests one that moves with tokio's clock, so that a walk-away's minute or a
//! day of sync rounds passes at once on paused time (`tokio::time::pause`).
//!
//! Durations the daemon waits (ticks, backoff, time-outs) are tokio's and need no clock
//! of their own; this is for the dates and times the flow and the store reason about.
//!
//! # A clock that cannot be right
//!
//! The kiosk does not set its clock (that is NTP's job), but it refuses to book on a
//! clock that is impossible ([`sanity`]): the `clock_wrong` hold, lifted by itself once
//! the clock is right again. A clock is impossible when it reads
//!
//! - earlier than [`BUILT_ON`], the day this software was released: a board whose
//!   RTC battery is flat wakes up in 1970 or 2000, and would refuse every NIK as a
//!   birth date in the future, or date tickets years back;
//! - more than [`SKEW_LIMIT`] earlier than the last time the central service told the
//!   kiosk its time (the heartbeat's `server_time`, kept in the store across restarts);
//! - more than [`SKEW_LIMIT`] off the service's time as the last heartbeat measured it,
//!   carried forward on the monotonic clock: a clock moved since (by a technician, or
//!   a bad NTP source) is judged by where it moved to, online or offline.
//!
//! Days offline are normal on an island and are the sync guardrail's business, not
//! this check's: nothing here depends on how long ago the service was last heard. A
//! clock years ahead is found only once the service has been heard in this run (no
//! other witness says what year it is). The limit is wider than the heartbeat's
//! 2-minute alert ([`crate::sync::CLOCK_SKEW_ALERT`]), which only warns: 15 minutes
//! off changes no booking day or session a kiosk offers, while an hour would.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// What time it is.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock as the daemon's parts hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock: what a kiosk runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given time and moves with tokio's clock: paused in a test,
/// it stands still until the runtime advances it. It can be set, as a technician or a
/// flat RTC battery sets a kiosk's clock; its clones are the same clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: DateTime<Utc>,
    at: tokio::time::Instant,
    /// What setting the clock added to where tokio's clock says it should be.
    set: Arc<Mutex<TimeDelta>>,
}

impl TokioClock {
    /// Reads `start` now; later readings add what tokio's clock has moved since.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            at: tokio::time::Instant::now(),
            set: Arc::new(Mutex::new(TimeDelta::zero())),
        }
    }

    /// Sets the clock to `now`; it moves on from there.
    pub fn set(&self, now: DateTime<Utc>) {
        let unset = self.unset();
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = now - unset;
    }

    /// Where the clock would be had it never been set.
    fn unset(&self) -> DateTime<Utc> {
        let moved = TimeDelta::from_std(self.at.elapsed()).unwrap_or_default();
        self.start + moved
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.unset() + *self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// --- the clock's sanity --------------------------------------------------------------

/// The day this release was made: a clock before it cannot be right. Raised with each
/// release (`deploy/install.md`, "Building the package"); a constant, not the build's
/// moment, so that a build is reproducible and its tests run on their fixed dates.
pub const BUILT_ON: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// How far off the central service's time the kiosk's clock may be, and how far before
/// the service's last word, before it is called wrong.
pub const SKEW_LIMIT: TimeDelta = TimeDelta::minutes(15);

/// What the kiosk knows of the right time, besides its own clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Witnesses {
    /// The latest time the central service told the kiosk (kept in the store).
    pub service_said: Option<DateTime<Utc>>,
    /// The service's time minus the kiosk's now, from the last heartbeat carried
    /// forward on the monotonic clock.
    pub skew: Option<TimeDelta>,
}

/// Why the clock cannot be right: each says what it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockWrong {
    BeforeRelease { released: NaiveDate },
    BeforeService { service_said: DateTime<Utc> },
    OffService { skew: TimeDelta },
}

impl std::fmt::Display for ClockWrong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClockWrong::BeforeRelease { released } => {
                write!(
                    f,
                    "the clock is before this software's release ({released})"
                )
            }
            ClockWrong::BeforeService { service_said } => write!(
                f,
                "the clock is before the time the central service last gave ({})",
                service_said.to_rfc3339()
            ),
            ClockWrong::OffService { skew } => write!(
                f,
                "the clock is {} s off the central service's time",
                -skew.num_seconds()
            ),
        }
    }
}

/// The module's rule: whether the clock reading `now` can be right.
pub fn sanity(now: DateTime<Utc>, witnesses: &Witnesses) -> Result<(), ClockWrong> {
    if now.date_naive() < BUILT_ON {
        return Err(ClockWrong::BeforeRelease { released: BUILT_ON });
    }
    if let Some(said) = witnesses.service_said
        && now < said - SKEW_LIMIT
    {
        return Err(ClockWrong::BeforeService { service_said: said });
    }
    match witnesses.skew {
        Some(skew) if skew.abs() > SKEW_LIMIT => Err(ClockWrong::OffService { skew }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time_only() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T09:00:00+07:00")
            .unwrap()
            .to_utc();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::sleep(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        let set = start + TimeDelta::days(-3);
        clock.clone().set(set);
        assert_eq!(clock.now(), set);
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        assert_eq!(clock.now(), set + TimeDelta::seconds(10));
    }

    #[test]
    fn an_impossible_clock_is_wrong_and_a_possible_one_is_not() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let said = t("2026-12-01T02:00:00Z");
        let heard = Witnesses {
            service_said: Some(said),
            skew: None,
        };
        let skew = |mins| Witnesses {
            service_said: None,
            skew: Some(TimeDelta::minutes(mins)),
        };
        let none = Witnesses::default();
        // (now, witnesses, wrong)
        let cases = [
            ("1970-01-01T00:00:00Z", none, true),
            ("2020-12-01T00:00:00Z", none, true),
            ("2026-10-31T23:59:59Z", none, true),
            ("2026-11-01T00:00:00Z", none, false),
            ("2031-12-01T00:00:00Z", none, false),
            ("2026-12-01T01:46:00Z", heard, false),
            ("2026-12-01T01:44:00Z", heard, true),
            ("2026-11-28T02:00:00Z", heard, true),
            ("2026-12-09T02:00:00Z", heard, false),
            ("2026-12-01T02:00:00Z", skew(15), false),
            ("2026-12-01T02:00:00Z", skew(-15), false),
            ("2026-12-01T02:00:00Z", skew(16), true),
            ("2026-12-01T02:00:00Z", skew(-5 * 365 * 24 * 60), true),
        ];
        for (now, w, wrong) in cases {
            assert_eq!(sanity(t(now), &w).is_err(), wrong, "{now} {w:?}");
        }
    }
}
