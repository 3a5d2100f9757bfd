//! The kiosk's checks of the ground it books on, turned into the flow's holds: free
//! space where the store lives (`disk_full`, below [`crate::disk::FULL_BYTES`]) and a
//! clock that can be right (`clock_wrong`, by [`crate::clock::sanity`]). The main loop
//! asks [`Guard::look`] when the daemon starts, every [`LOOK_EVERY`] and before a
//! session starts, and hands the flow the holds that changed; each hold is lifted by
//! itself once its check passes again. What is measured is `disk`'s and `clock`'s.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use crate::clock::{ClockWrong, SharedClock, Witnesses};
use crate::disk::SharedDisk;
use crate::flow::{Event, HoldReason, HoldSource};
use crate::sync::SyncStatus;

/// How often the disk and the clock are looked at while nothing else asks.
pub const LOOK_EVERY: Duration = Duration::from_secs(60);

/// A heartbeat's measure of the clock, and when (on the monotonic clock) it was seen.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// The kiosk's time when the answer came, as the sync status has it.
    at: DateTime<Utc>,
    /// The service's time minus the kiosk's, then.
    skew: TimeDelta,
    seen: Instant,
}

/// The disk and clock checks, and the holds they last put on the flow.
pub struct Guard {
    disk: SharedDisk,
    clock: SharedClock,
    /// The latest time the central service gave (the store keeps it across restarts).
    service_said: Option<DateTime<Utc>>,
    measured: Option<Measured>,
    disk_hold: Option<HoldReason>,
    clock_hold: Option<HoldReason>,
}

impl Guard {
    /// The checks on these parts; `service_said` is what the store kept.
    pub fn new(disk: SharedDisk, clock: SharedClock, service_said: Option<DateTime<Utc>>) -> Guard {
        Guard {
            disk,
            clock,
            service_said,
            measured: None,
            disk_hold: None,
            clock_hold: None,
        }
    }

    /// Looks at the disk and the clock now, with what the sync last heard of the
    /// service's time: the holds that changed, for the flow.
    pub fn look(&mut self, sync: &SyncStatus) -> Vec<Event> {
        let mut changed = Vec::new();
        if let Some(hold) = self.disk_now()
            && hold != self.disk_hold
        {
            self.disk_hold = hold;
            changed.push(Event::ServiceChanged {
                source: HoldSource::Disk,
                reason: hold,
            });
        }
        let clock = self.clock_now(sync);
        if clock != self.clock_hold {
            self.clock_hold = clock;
            changed.push(Event::ServiceChanged {
                source: HoldSource::Clock,
                reason: clock,
            });
        }
        changed
    }

    /// The disk's hold now; `None` when the space cannot be read (nothing changes).
    fn disk_now(&self) -> Option<Option<HoldReason>> {
        let space = match self.disk.space() {
            Ok(space) => space,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the free space of the state directory");
                return None;
            }
        };
        let full = space.is_full();
        if full && self.disk_hold.is_none() {
            tracing::error!(
                available_bytes = space.available_bytes,
                needed_bytes = crate::disk::FULL_BYTES,
                "disk full: out of service until space is freed"
            );
        } else if !full && self.disk_hold.is_some() {
            tracing::info!(
                available_bytes = space.available_bytes,
                "disk space back: in service"
            );
        }
        Some(full.then_some(HoldReason::DiskFull))
    }

    /// The clock's hold now.
    fn clock_now(&mut self, sync: &SyncStatus) -> Option<HoldReason> {
        let now = self.clock.now();
        let witnesses = self.witnesses(sync, now);
        let verdict = crate::clock::sanity(now, &witnesses);
        match (&verdict, self.clock_hold) {
            (Err(wrong), None) => log_wrong(wrong, now),
            (Ok(()), Some(_)) => tracing::info!(now = %now, "the clock is right again: in service"),
            _ => {}
        }
        verdict.is_err().then_some(HoldReason::ClockWrong)
    }

    /// What the kiosk knows of the right time: the service's last word, and the last
    /// heartbeat's skew carried forward on the monotonic clock (so that a clock moved
    /// since is judged where it is now).
    fn witnesses(&mut self, sync: &SyncStatus, now: DateTime<Utc>) -> Witnesses {
        if let (Some(at), Some(skew_s)) = (sync.last_heartbeat, sync.clock_skew_s) {
            let skew = TimeDelta::seconds(skew_s);
            if self.measured.is_none_or(|m| m.at != at || m.skew != skew) {
                self.measured = Some(Measured {
                    at,
                    skew,
                    seen: Instant::now(),
                });
                let said = at + skew;
                self.service_said = Some(self.service_said.map_or(said, |s| s.max(said)));
            }
        }
        let skew = self.measured.map(|m| {
            let since = TimeDelta::from_std(m.seen.elapsed()).unwrap_or_default();
            m.at + m.skew + since - now
        });
        Witnesses {
            service_said: self.service_said,
            skew,
        }
    }
}

fn log_wrong(wrong: &ClockWrong, now: DateTime<Utc>) {
    tracing::error!(
        now = %now,
        "clock wrong: {wrong}; out of service until the clock is right (check NTP and the RTC battery)"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::clock::TokioClock;
    use crate::disk::{FreeSpace, Space};

    struct Disk(Mutex<u64>);

    impl FreeSpace for Disk {
        fn space(&self) -> std::io::Result<Space> {
            Ok(Space {
                total_bytes: 8 << 30,
                available_bytes: *self.0.lock().unwrap(),
            })
        }
    }

    fn hold(ev: &Event) -> (HoldSource, Option<HoldReason>) {
        match ev {
            Event::ServiceChanged { source, reason } => (*source, *reason),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn holds_change_only_when_a_check_does() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let clock = TokioClock::starting_at(start);
        let disk = Arc::new(Disk(Mutex::new(1 << 30)));
        let mut guard = Guard::new(disk.clone(), Arc::new(clock.clone()), None);
        let sync = SyncStatus::default();
        assert!(guard.look(&sync).is_empty());
        *disk.0.lock().unwrap() = 1 << 20;
        let changed: Vec<_> = guard.look(&sync).iter().map(hold).collect();
        assert_eq!(changed, [(HoldSource::Disk, Some(HoldReason::DiskFull))]);
        assert!(guard.look(&sync).is_empty(), "no change, no event");
        *disk.0.lock().unwrap() = 1 << 30;
        assert_eq!(
            guard.look(&sync).iter().map(hold).collect::<Vec<_>>(),
            [(HoldSource::Disk, None)]
        );
        // The service says it is 10 minutes later than the kiosk thinks: fine. Then
        // the clock is set 20 minutes back, with no heartbeat since: wrong.
        let heard = SyncStatus {
            last_heartbeat: Some(start),
            clock_skew_s: Some(600),
            ..SyncStatus::default()
        };
        assert!(guard.look(&heard).is_empty());
        clock.set(start - TimeDelta::minutes(20));
        assert_eq!(
            guard.look(&heard).iter().map(hold).collect::<Vec<_>>(),
            [(HoldSource::Clock, Some(HoldReason::ClockWrong))]
        );
        clock.set(start + TimeDelta::minutes(10));
        assert_eq!(
            guard.look(&heard).iter().map(hold).collect::<Vec<_>>(),
            [(HoldSource::Clock, None)]
        );
    }
}
