//! The wall clock the daemon reads, passed in like its devices: the system's on a kiosk,
//! and in tests one that moves with tokio's clock, so that a walk-away's minute or a
//! day of sync rounds passes at once on paused time (`tokio::time::pause`).
//!
//! Durations the daemon waits (ticks, backoff, time-outs) are tokio's and need no clock
//! of their own; this is for the dates and times the flow and the store reason about.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

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
/// it stands still until the runtime advances it.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: DateTime<Utc>,
    at: tokio::time::Instant,
}

impl TokioClock {
    /// Reads `start` now; later readings add what tokio's clock has moved since.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            at: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let moved = TimeDelta::from_std(self.at.elapsed()).unwrap_or_default();
        self.start + moved
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
    }
}
