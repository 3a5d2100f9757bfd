//! The daemon's side of the maintenance commands. [`Maint`] is cheap to clone; `app`
//! hands it each command with a [`Live`] snapshot of what only the main loop knows
//! (screen, devices, sync state) and sends back the JSON answer. Every command writes
//! one audit line, with no personal data in it: no NIK, masked or not, no name.
//!
//! What it keeps between runs, in the store's `kv` table: the PIN pad's lockout
//! ([`super::pin::KV_KEY`]), the technician's out-of-service reason
//! ([`KV_HOLD`]) and the settings ([`KV_SETTINGS`]).
//!
//! [`ReadTest`] is the one-shot card read: it lives in the main loop, which sees the
//! reader's events before the flow does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{mpsc, oneshot, watch};

use super::answer::{
    Acknowledged, Answer, Enrolled, Integrity, MaintAnswer, MenuClosed, PinReloaded, PinState,
    ReadTestAnswer, RecentTickets, Released, Reprinted, ServiceHold, SettingsNow, SyncProgress,
    TestPrinted,
};
use super::pin::{self, PinPad, Unlock};
use super::report::{self, Cover, Hold, NetworkReport, Paper, PrinterReport, ReaderReport, Report};
use super::{Failure, HoldReason, RecentTicket, Settings, SettingsChange};
use crate::config::Config;
use crate::control::{Command, MaintCommand, Reply};
use crate::domain::calendar;
use crate::flow::{Event, HoldSource};
use crate::hardware::printer::PrinterState;
use crate::hardware::printer::worker::{PrinterWorker, ReprintError};
use crate::identity::Enrollment;
use crate::protocol::reader::{CardData, ReadErrorCode};
use crate::status::ReaderHealth;
use crate::store::writer::StoreHandle;
use crate::sync::SyncStatus;

/// The technician's out-of-service reason code, while set.
pub const KV_HOLD: &str = "maint.out_of_service";
/// The settings, as JSON.
pub const KV_SETTINGS: &str = "maint.settings";
/// How long the report waits for a TCP connection to the central service.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// `recent_tickets` without a limit, and its most.
pub const RECENT_DEFAULT: u32 = 20;
pub const RECENT_MAX: u32 = 200;

/// What only the main loop knows, taken when a command arrives.
#[derive(Debug, Clone)]
pub struct Live {
    pub screen: crate::flow::view::ScreenKind,
    /// The reason applicants see, and who holds the kiosk out of service.
    pub out_of_service: Option<crate::flow::HoldReason>,
    pub holds: Vec<(HoldSource, crate::flow::HoldReason)>,
    pub printer: PrinterState,
    /// `Ok`, `SamMissing` or `Disconnected`.
    pub reader_state: crate::protocol::central::ReaderState,
    pub reader_info: Option<ReaderHealth>,
    pub sync: SyncStatus,
}

/// Everything the commands need; built once by the daemon.
pub struct MaintParts {
    pub store: StoreHandle,
    pub config: Config,
    pub printer: PrinterWorker,
    /// Where a hold set or lifted goes (the flow, through the main loop).
    pub events: mpsc::Sender<Event>,
    /// The enrollment watch: `enroll` fills it so that the sync starts at once.
    pub enrollment: watch::Sender<Option<Arc<Enrollment>>>,
    pub started_at: DateTime<Utc>,
    /// The central service, for the enrollment and the release of held numbers.
    pub central: crate::sync::shared::CentralOpener,
    pub clock: crate::clock::SharedClock,
    /// The help panel's officer calls, recorded by the shell.
    pub calls: super::calls::OfficerCalls,
}

struct Inner {
    parts: MaintParts,
    pin_hash: Mutex<Option<String>>,
    /// One PIN attempt at a time: the count must not be raced.
    pad: tokio::sync::Mutex<()>,
    settings: watch::Sender<Settings>,
    menu_open: AtomicBool,
    started: Instant,
}

/// The maintenance service.
#[derive(Clone)]
pub struct Maint {
    inner: Arc<Inner>,
}

fn store_failure(e: impl std::fmt::Display) -> Failure {
    Failure::new(
        "store",
        format!("the kiosk's database cannot be read or written: {e}"),
    )
}

impl Maint {
    /// Reads what an earlier run kept (settings, a technician's hold) and returns the
    /// service with the hold to put back, if there was one.
    pub async fn start(parts: MaintParts) -> anyhow::Result<(Maint, Option<HoldReason>)> {
        let (settings_text, hold) = parts
            .store
            .run(|s| Ok((s.kv_get(KV_SETTINGS)?, s.kv_get(KV_HOLD)?)))
            .await?;
        let settings = settings_text
            .and_then(|t| serde_json::from_str::<Settings>(&t).ok())
            .unwrap_or_else(|| Settings {
                // Until a technician turns it, the screen stands as the config says.
                orientation: match parts.config.display.orientation {
                    crate::config::Orientation::Portrait => super::Orientation::Portrait,
                    crate::config::Orientation::Landscape => super::Orientation::Landscape,
                },
                ..Settings::initial(parts.config.kiosk.language)
            });
        let hold = hold.as_deref().and_then(HoldReason::from_code);
        let pin_hash = parts.config.maint.pin_hash.clone();
        let (settings, _) = watch::channel(settings);
        Ok((
            Maint {
                inner: Arc::new(Inner {
                    parts,
                    pin_hash: Mutex::new(pin_hash),
                    pad: tokio::sync::Mutex::new(()),
                    settings,
                    menu_open: AtomicBool::new(false),
                    started: Instant::now(),
                }),
            },
            hold,
        ))
    }

    /// The help panel's officer calls, for the shell to record them in.
    pub fn calls(&self) -> super::calls::OfficerCalls {
        self.parts().calls.clone()
    }

    /// The settings as they change; the touchscreen subscribes here.
    pub fn settings(&self) -> watch::Receiver<Settings> {
        self.inner.settings.subscribe()
    }

    fn parts(&self) -> &MaintParts {
        &self.inner.parts
    }

    fn pin_hash(&self) -> Option<String> {
        self.inner
            .pin_hash
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Writes one audit line and waits for it.
    pub async fn audit(&self, event: &'static str, detail: String) {
        let now = self.parts().clock.now();
        if let Err(e) = self
            .parts()
            .store
            .run(move |s| s.audit(now, event, &detail))
            .await
        {
            tracing::error!(error = %e, event, "audit line not written");
        }
    }

    /// Writes one audit line without waiting (from the main loop).
    pub fn audit_later(&self, event: &'static str, detail: String) {
        let this = self.clone();
        tokio::spawn(async move { this.audit(event, detail).await });
    }

    /// Answers one command; a failure is also written to the audit.
    pub async fn handle(&self, command: MaintCommand, live: Live) -> Answer {
        let answer = self.dispatch(command.clone(), live).await;
        if let Err(f) = &answer {
            let name = Command::from(command).name();
            self.audit("maint_failed", format!("{name}: {}", f.error))
                .await;
        }
        answer
    }

    async fn dispatch(&self, command: MaintCommand, live: Live) -> Answer {
        use MaintCommand as C;
        match command {
            C::MaintUnlock { pin } => self.unlock(&pin.0).await,
            C::MaintLock => {
                self.inner.menu_open.store(false, Ordering::Relaxed);
                self.audit("maint_lock", "menu closed".into()).await;
                Ok(MaintAnswer::MenuClosed(MenuClosed::default()))
            }
            C::MaintReport => {
                let r = self.report(&live).await;
                self.audit("maint_report", String::new()).await;
                r.map(|r| MaintAnswer::Report(Box::new(r)))
            }
            C::Integrity => self.integrity().await,
            C::TestPrint => self.test_print().await,
            C::Enroll { code } => self.enroll(&code).await,
            C::SyncProgress => self.sync_progress(&live).await,
            C::Reprint { registration_id } => self.reprint(registration_id).await,
            C::RecentTickets { limit } => self.recent(limit).await,
            C::OutOfService { reason } => self.hold(Some(reason)).await,
            C::InService => self.hold(None).await,
            C::SetSettings(change) => self.set_settings(&change).await,
            C::ReleaseHeld { office_id, date } => self.release_held(office_id, date).await,
            C::Export { path } => self.export(&live, &path).await,
            C::ReloadPin => self.reload_pin().await,
            C::AcknowledgeCalls => self.acknowledge_calls().await,
        }
    }

    /// An attempt at the PIN pad. A wrong PIN is an answer, not a failure.
    async fn unlock(&self, pin: &str) -> Answer {
        let _one_at_a_time = self.inner.pad.lock().await;
        let Some(hash) = self.pin_hash() else {
            self.audit("maint_unlock", "refused: no PIN configured".into())
                .await;
            return Ok(MaintAnswer::Unlock(Unlock::NoPin));
        };
        let store = self.parts().store.clone();
        let mut pad: PinPad = match store.run(|s| s.kv_get(pin::KV_KEY)).await {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_default(),
            Ok(None) => PinPad::default(),
            Err(e) => return Err(store_failure(e)),
        };
        let now = self.parts().clock.now();
        let outcome = if let Some(until) = pad.locked_at(now) {
            Unlock::Locked { until }
        } else {
            let pin = pin.to_owned();
            let right = tokio::task::spawn_blocking(move || pin::verify(&pin, &hash))
                .await
                .unwrap_or(false);
            let outcome = pad.attempt(right, now);
            let text = serde_json::to_string(&pad).unwrap_or_default();
            if let Err(e) = store.run(move |s| s.kv_set(pin::KV_KEY, &text)).await {
                // A lockout that is not kept would be cleared by a restart: refuse.
                return Err(store_failure(e));
            }
            outcome
        };
        let detail = match &outcome {
            Unlock::Unlocked => {
                self.inner.menu_open.store(true, Ordering::Relaxed);
                "unlocked".to_owned()
            }
            Unlock::Wrong { attempts_left } => format!("wrong PIN, {attempts_left} attempts left"),
            Unlock::Locked { until } => format!("locked until {}", until.to_rfc3339()),
            Unlock::NoPin => "refused: no PIN configured".to_owned(),
        };
        self.audit("maint_unlock", detail).await;
        Ok(MaintAnswer::Unlock(outcome))
    }

    /// Gathers the report.
    pub async fn report(&self, live: &Live) -> Result<Report, Failure> {
        let now = self.parts().clock.now();
        let parts = self.parts();
        let kept = parts
            .store
            .run(move |s| {
                let today = calendar::earliest_today(&s.offices()?, now);
                Ok(Kept {
                    stats: s.stats()?,
                    queue: s.queue_state()?,
                    rejections: s.rejections()?,
                    held: s.held_counts(today)?,
                    changes: changes_report(s.change_summary()?, s.service_lacks()?),
                })
            })
            .await
            .map_err(store_failure)?;
        let state_dir = parts.config.kiosk.state_dir.clone();
        let disk = tokio::task::spawn_blocking(move || crate::disk::space(&state_dir).ok())
            .await
            .unwrap_or(None);
        let network = self.probe(live.sync.online).await;
        let kiosk_id = parts
            .enrollment
            .borrow()
            .as_ref()
            .map(|e| e.kiosk_id.clone());
        let mut r = Report {
            generated_at: now,
            version: crate::status::VERSION.to_owned(),
            started_at: parts.started_at,
            uptime_s: self.inner.started.elapsed().as_secs(),
            screen: live.screen,
            menu_open: self.inner.menu_open.load(Ordering::Relaxed),
            pin_configured: self.pin_hash().is_some(),
            out_of_service: live.out_of_service,
            holds: live
                .holds
                .iter()
                .map(|(source, reason)| Hold {
                    source: *source,
                    reason: reason.code().to_owned(),
                })
                .collect(),
            problems: Vec::new(),
            printer: printer_report(live.printer, kept.stats.unprinted),
            reader: reader_report(live),
            network,
            sync: sync_report(&live.sync, kiosk_id.is_some()),
            queue: report::QueueReport {
                unsynced: kept.queue.unsynced,
                oldest_unsynced: kept.queue.oldest_unsynced,
                registrations: kept.stats.registrations,
                accepted: kept.stats.accepted,
                rejected: kept.stats.rejected,
                held_free: kept.queue.held_free,
            },
            rejections: kept.rejections.into_iter().map(rejection_line).collect(),
            held: held_days(kept.held),
            disk,
            settings: self.inner.settings.borrow().clone(),
            kiosk_id,
            officer_calls: parts.calls.report(now),
            changes: kept.changes,
        };
        r.problems = report::problems(&r, now);
        Ok(r)
    }

    async fn probe(&self, sync_online: bool) -> NetworkReport {
        let url = &self.parts().config.central.url;
        let target = reqwest::Url::parse(url).ok().and_then(|u| {
            let host = u
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            Some((host, u.port_or_known_default()?))
        });
        let Some((host, port)) = target else {
            return NetworkReport {
                central_host: url.clone(),
                tcp_reachable: false,
                tcp_ms: None,
                tcp_error: Some("the central URL names no host".into()),
                sync_online,
            };
        };
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let started = Instant::now();
        let result = tokio::time::timeout(
            PROBE_TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await;
        let (tcp_reachable, tcp_error) = match result {
            Ok(Ok(_)) => (true, None),
            Ok(Err(e)) => (false, Some(e.to_string())),
            Err(_) => (
                false,
                Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            ),
        };
        NetworkReport {
            central_host: shown,
            tcp_reachable,
            tcp_ms: tcp_reachable.then(|| started.elapsed().as_millis() as u64),
            tcp_error,
            sync_online,
        }
    }

    async fn integrity(&self) -> Answer {
        let result = self
            .parts()
            .store
            .run(|s| s.integrity_check())
            .await
            .map_err(store_failure)?;
        let ok = result == "ok";
        self.audit("integrity", if ok { "ok".into() } else { "damaged".into() })
            .await;
        Ok(MaintAnswer::Integrity(Integrity { ok, result }))
    }

    async fn test_print(&self) -> Answer {
        let kiosk = self
            .parts()
            .enrollment
            .borrow()
            .as_ref()
            .map(|e| e.kiosk_id.clone())
            .unwrap_or_else(|| "(not enrolled)".into());
        let now = self.parts().clock.now();
        let lines = vec![
            "APM KIOSK - TEST PAGE".to_owned(),
            format!("kiosk {kiosk}"),
            format!("software {}", crate::status::VERSION),
            format!("{}", now.format("%Y-%m-%d %H:%M:%S UTC")),
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_owned(),
            "abcdefghijklmnopqrstuvwxyz 0123456789".to_owned(),
            "No personal data on this page.".to_owned(),
        ];
        match self.parts().printer.test_page(lines).await {
            Ok(state) => {
                self.audit("test_print", "printed".into()).await;
                Ok(MaintAnswer::TestPrinted(TestPrinted {
                    printed: true,
                    printer: state,
                }))
            }
            Err(failure) => {
                let code = failure.code();
                Err(Failure::new(
                    code,
                    format!("the test page did not print: printer {code}"),
                ))
            }
        }
    }

    async fn enroll(&self, code: &str) -> Answer {
        if let Some(e) = self.parts().enrollment.borrow().as_ref() {
            return Err(Failure::new(
                "already_enrolled",
                format!(
                    "this kiosk is enrolled as {}; to enroll again, stop the daemon and run `apm-kiosk enroll`",
                    e.kiosk_id
                ),
            ));
        }
        let api = (self.parts().central)(None)
            .map_err(|e| Failure::new("enroll_failed", e.to_string()))?;
        let dir = &self.parts().config.kiosk.state_dir;
        let enrolled = crate::sync::enroll::enroll_with(&api, dir, code)
            .await
            .map_err(|e| Failure::new("enroll_failed", format!("{e:#}")))?;
        let answer = MaintAnswer::Enrolled(Enrolled {
            enrolled: enrolled.kiosk_id.clone(),
            offices: enrolled.office_ids.clone(),
        });
        self.audit("enroll", format!("enrolled as {}", enrolled.kiosk_id))
            .await;
        self.parts()
            .enrollment
            .send_replace(Some(Arc::new(enrolled)));
        let _ = self
            .parts()
            .events
            .send(Event::ServiceChanged {
                source: HoldSource::Enrollment,
                reason: None,
            })
            .await;
        Ok(answer)
    }

    async fn sync_progress(&self, live: &Live) -> Answer {
        let queue = self
            .parts()
            .store
            .run(|s| s.queue_state())
            .await
            .map_err(store_failure)?;
        self.audit("sync_progress", String::new()).await;
        Ok(MaintAnswer::SyncProgress(SyncProgress {
            round_running: live.sync.round_running,
            rounds: live.sync.rounds,
            online: live.sync.online,
            uploads_left: queue.unsynced,
            oldest_unsynced: queue.oldest_unsynced,
            last_success: live.sync.last_success,
            last_error: live.sync.last_error.clone(),
        }))
    }

    async fn reprint(&self, registration_id: Option<String>) -> Answer {
        let store = &self.parts().store;
        let id = match registration_id {
            Some(id) => id,
            None => store
                .run(|s| s.last_printed())
                .await
                .map_err(store_failure)?
                .ok_or_else(|| Failure::new("nothing_printed", "no ticket has been printed yet"))?,
        };
        let lookup = id.clone();
        let number = store
            .run(move |s| s.ticket(&lookup))
            .await
            .map_err(store_failure)?
            .map(|t| t.queue_number.to_string())
            .ok_or_else(|| {
                Failure::new("unknown", format!("no registration {id} on this kiosk"))
            })?;
        match self.parts().printer.reprint(id.clone()).await {
            Ok(()) => {
                self.audit("reprint", format!("{number} ({id})")).await;
                Ok(MaintAnswer::Reprinted(Reprinted {
                    reprinted: id,
                    queue_number: number,
                }))
            }
            Err(e) => {
                let code = match &e {
                    ReprintError::Unknown(_) => "unknown",
                    ReprintError::NotPrinted(_) => "not_printed",
                    ReprintError::Store(_) => "store",
                    ReprintError::Stopped => "stopped",
                };
                Err(Failure::new(code, e.to_string()))
            }
        }
    }

    async fn recent(&self, limit: Option<u32>) -> Answer {
        let limit = limit.unwrap_or(RECENT_DEFAULT).clamp(1, RECENT_MAX);
        let lines = self
            .parts()
            .store
            .run(move |s| s.recent_tickets(limit))
            .await
            .map_err(store_failure)?;
        let tickets: Vec<RecentTicket> = lines
            .into_iter()
            .map(|t| RecentTicket {
                registration_id: t.registration_id,
                queue_number: t.queue_number.to_string(),
                office_id: t.office_id,
                date: t.date,
                session_id: t.session_id,
                printed_at: t.printed_at,
                masked_nik: t.masked_nik,
            })
            .collect();
        // The list is for the screen; the audit says only that it was looked at.
        self.audit("recent_tickets", format!("{} listed", tickets.len()))
            .await;
        Ok(MaintAnswer::RecentTickets(RecentTickets { tickets }))
    }

    async fn hold(&self, reason: Option<HoldReason>) -> Answer {
        let code = reason.map(HoldReason::code);
        self.parts()
            .store
            .run(move |s| match code {
                Some(c) => s.kv_set(KV_HOLD, c),
                None => s.kv_delete(KV_HOLD),
            })
            .await
            .map_err(store_failure)?;
        let _ = self
            .parts()
            .events
            .send(Event::ServiceChanged {
                source: HoldSource::Technician,
                reason: reason.map(crate::flow::HoldReason::Technician),
            })
            .await;
        match code {
            Some(c) => self.audit("out_of_service", c.to_owned()).await,
            None => self.audit("in_service", String::new()).await,
        }
        Ok(MaintAnswer::ServiceHold(ServiceHold {
            out_of_service: reason,
        }))
    }

    async fn set_settings(&self, change: &SettingsChange) -> Answer {
        let next = self.inner.settings.borrow().with(change)?;
        let text = serde_json::to_string(&next).unwrap_or_default();
        self.parts()
            .store
            .run(move |s| s.kv_set(KV_SETTINGS, &text))
            .await
            .map_err(store_failure)?;
        self.inner.settings.send_replace(next.clone());
        self.audit(
            "set_settings",
            serde_json::to_string(change).unwrap_or_default(),
        )
        .await;
        Ok(MaintAnswer::Settings(SettingsNow { settings: next }))
    }

    async fn release_held(&self, office_id: String, date: NaiveDate) -> Answer {
        let Some(enrollment) = self.parts().enrollment.borrow().clone() else {
            return Err(Failure::new("not_enrolled", "the kiosk is not enrolled"));
        };
        let api = (self.parts().central)(Some(enrollment.token.clone())).map_err(|e| match e {
            crate::sync::client::ApiError::PinnedCa { .. } => {
                Failure::new("ca_file", e.to_string())
            }
            e => Failure::new("client", e.to_string()),
        })?;
        let store = self.parts().store.clone();
        let office = office_id.clone();
        let now = self.parts().clock.now();
        let (count, waiting) = store
            .run(move |s| s.reserve_for_release(&office, date, now))
            .await
            .map_err(store_failure)?;
        // Out of booking for good from here: the release may reach the service even when
        // its answer does not, so the numbers are never put back (the sync loop sends
        // what is still queued until the service answers).
        if let Err(e) = crate::sync::send_releases(&api, &store, waiting).await {
            self.audit(
                "release_held",
                format!("{office_id} {date}: {count} numbers queued to give back"),
            )
            .await;
            return Err(Failure::new(
                "central_unreachable",
                format!(
                    "the central service did not confirm the release: {e}; the {count} numbers stay out of booking and are sent again until it answers"
                ),
            ));
        }
        self.audit(
            "release_held",
            format!("{office_id} {date}: {count} numbers given back"),
        )
        .await;
        Ok(MaintAnswer::Released(Released {
            released: count,
            office_id,
            date,
        }))
    }

    async fn export(&self, live: &Live, path: &std::path::Path) -> Answer {
        let report = self.report(live).await?;
        let written =
            super::export::write_bundle(&self.parts().store, &self.parts().config, &report, path)
                .await
                .map_err(|e| Failure::new("export_failed", e.to_string()))?;
        self.audit(
            "export",
            format!("{} files, {} bytes", written.files.len(), written.bytes),
        )
        .await;
        Ok(MaintAnswer::Written(written))
    }

    /// The open officer calls seen to: they leave the report (the count stays).
    async fn acknowledge_calls(&self) -> Answer {
        let acknowledged = self.parts().calls.acknowledge(self.parts().clock.now());
        self.audit("officer_calls_acknowledged", format!("{acknowledged} open"))
            .await;
        Ok(MaintAnswer::Acknowledged(Acknowledged { acknowledged }))
    }

    async fn reload_pin(&self) -> Answer {
        let Some(source) = self.parts().config.source.clone() else {
            return Err(Failure::new(
                "no_config_file",
                "the daemon was not started from a configuration file",
            ));
        };
        let config = tokio::task::spawn_blocking(move || Config::load(&source))
            .await
            .map_err(|e| Failure::new("reload_failed", e.to_string()))?
            .map_err(|e| Failure::new("bad_config", e.to_string()))?;
        let set = config.maint.pin_hash.is_some();
        match self.inner.pin_hash.lock() {
            Ok(mut h) => *h = config.maint.pin_hash,
            Err(poisoned) => *poisoned.into_inner() = config.maint.pin_hash,
        }
        self.audit("pin_reloaded", if set { "set" } else { "none" }.into())
            .await;
        Ok(MaintAnswer::PinReloaded(PinReloaded {
            pin: if set { PinState::Set } else { PinState::None },
        }))
    }
}

/// What the report reads from the store, in one visit.
struct Kept {
    stats: crate::store::StoreStats,
    queue: crate::store::sync::QueueState,
    rejections: Vec<crate::store::Rejection>,
    held: Vec<crate::store::HeldCount>,
    changes: report::ChangesReport,
}

/// The change queue and what the service lacks, in the report's terms.
fn changes_report(
    summary: crate::store::changes::ChangeSummary,
    lacking: Vec<(
        crate::store::changes::ServiceFeature,
        chrono::DateTime<chrono::Utc>,
    )>,
) -> report::ChangesReport {
    report::ChangesReport {
        lacking: lacking
            .into_iter()
            .map(|(feature, since)| report::LackingFeature { feature, since })
            .collect(),
        waiting: summary.waiting,
        oldest_waiting: summary.oldest,
        refused: summary
            .refused
            .into_iter()
            .map(|f| report::RefusedChangeLine {
                kind: f.kind,
                refusal: f.refusal,
                date: f.date,
                answered_at: f.answered_at,
            })
            .collect(),
    }
}

/// The free numbers held, summed per office and day over sessions, in the store's order.
fn held_days(held: Vec<crate::store::HeldCount>) -> Vec<report::HeldDay> {
    let mut days: Vec<report::HeldDay> = Vec::new();
    for h in held {
        let i = match days
            .iter()
            .position(|d| d.office_id == h.office_id && d.date == h.date)
        {
            Some(i) => i,
            None => {
                days.push(report::HeldDay {
                    office_id: h.office_id.clone(),
                    date: h.date,
                    regular: 0,
                    priority: 0,
                });
                days.len() - 1
            }
        };
        match h.kind {
            crate::domain::QueueKind::Regular => days[i].regular += h.free,
            crate::domain::QueueKind::Priority => days[i].priority += h.free,
        }
    }
    days
}

fn rejection_line(j: crate::store::Rejection) -> report::RejectionLine {
    report::RejectionLine {
        registration_id: j.registration_id,
        office_id: j.office_id,
        date: j.date,
        queue_number: j.queue_number,
        reason: j.reason,
    }
}

fn reader_report(live: &Live) -> ReaderReport {
    let info = live.reader_info.as_ref();
    ReaderReport {
        state: live.reader_state.clone(),
        vendor: info.and_then(|i| i.vendor.clone()),
        model: info.and_then(|i| i.model.clone()),
        firmware: info.and_then(|i| i.firmware.clone()),
        serial: info.and_then(|i| i.serial.clone()),
        sam: info.map(|i| i.sam),
    }
}

fn sync_report(sync: &SyncStatus, enrolled: bool) -> report::SyncReport {
    report::SyncReport {
        enrolled,
        round_running: sync.round_running,
        rounds: sync.rounds,
        last_success: sync.last_success,
        last_error: sync.last_error.clone(),
        consecutive_failures: sync.consecutive_failures,
        last_heartbeat: sync.last_heartbeat,
        clock_skew_s: sync.clock_skew_s,
        clock_alert: sync.clock_alert,
        guardrail: sync.guardrail,
        undecodable: sync.undecodable.len(),
        unreadable_results: sync.unreadable_results.len(),
    }
}

fn printer_report(state: PrinterState, unprinted: u32) -> PrinterReport {
    let (paper, cover, error) = match state {
        PrinterState::Ok => (Paper::Ok, Cover::Closed, None),
        PrinterState::PaperNearEnd => (Paper::NearEnd, Cover::Closed, None),
        PrinterState::PaperOut => (Paper::Out, Cover::Closed, None),
        PrinterState::CoverOpen => (Paper::Unknown, Cover::Open, None),
        PrinterState::Offline => (Paper::Unknown, Cover::Unknown, None),
        PrinterState::Error => (
            Paper::Unknown,
            Cover::Closed,
            Some("cutter jam or head fault".to_owned()),
        ),
    };
    PrinterReport {
        state: state.into(),
        paper,
        cover,
        error,
        unprinted_tickets: unprinted,
    }
}

/// The one-shot card read of `read_test`, kept by the main loop. Armed only while the
/// flow is on the idle screen; the next card read (or failed read) is answered to the
/// technician, masked, instead of starting an applicant's session. It gives up after
/// [`super::READ_TEST_TIMEOUT`], or when the flow leaves the idle screen.
pub struct ReadTest {
    maint: Maint,
    armed: Option<(oneshot::Sender<Reply>, Instant)>,
}

impl ReadTest {
    pub fn new(maint: Maint) -> ReadTest {
        ReadTest { maint, armed: None }
    }

    pub fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Arms the read, or answers why not.
    pub fn arm(&mut self, reply: oneshot::Sender<Reply>, idle: bool, now: Instant) {
        let refusal = if !idle {
            Some(Failure::new(
                "not_idle",
                "an applicant is using the kiosk: try again when it shows the idle screen",
            ))
        } else if self.armed.is_some() {
            Some(Failure::new(
                "busy",
                "a read test is already waiting for a card",
            ))
        } else {
            None
        };
        match refusal {
            Some(f) => {
                self.maint
                    .audit_later("read_test", format!("refused: {}", f.error));
                let _ = reply.send(Reply::Failed(f));
            }
            None => {
                self.maint.audit_later("read_test", "armed".into());
                self.armed = Some((reply, now + super::READ_TEST_TIMEOUT));
            }
        }
    }

    fn answer(&mut self, detail: String, answer: ReadTestAnswer) {
        if let Some((reply, _)) = self.armed.take() {
            self.maint.audit_later("read_test", detail);
            let _ = reply.send(Reply::ReadTest(answer));
        }
    }

    /// A card was read: taken for the test (true) when armed on the idle screen.
    pub fn card(
        &mut self,
        card: &CardData,
        idle: bool,
        reader: Option<&ReaderHealth>,
        today: NaiveDate,
    ) -> bool {
        if self.armed.is_none() {
            return false;
        }
        if !idle {
            self.cancel();
            return false;
        }
        let check = match crate::domain::nik::Nik::parse(&card.nik, today) {
            Ok(_) => "valid".to_owned(),
            Err(e) => e.code().to_owned(),
        };
        let mut fields = vec![];
        for (name, present) in [
            ("nik", !card.nik.is_empty()),
            ("name", !card.name.is_empty()),
            ("birth_place", card.birth_place.is_some()),
            ("birth_date", !card.birth_date.is_empty()),
            ("sex", !card.sex.is_empty()),
            ("address", card.address.is_some()),
            ("rt_rw", card.rt_rw.is_some()),
            ("kelurahan", card.kelurahan.is_some()),
            ("kecamatan", card.kecamatan.is_some()),
            ("kabupaten", card.kabupaten.is_some()),
            ("provinsi", card.provinsi.is_some()),
            ("valid_until", card.valid_until.is_some()),
        ] {
            if present {
                fields.push(name);
            }
        }
        let value = ReadTestAnswer::Read {
            masked_nik: crate::domain::nik::mask(&card.nik),
            nik_check: check.clone(),
            fields: fields.into_iter().map(str::to_owned).collect(),
            reader: reader.cloned(),
        };
        // The audit says a card was read and how the NIK checked, never which card.
        self.answer(format!("card read, NIK {check}"), value);
        true
    }

    /// A read failed: taken for the test (true) when armed on the idle screen.
    pub fn failed(&mut self, code: ReadErrorCode, idle: bool) -> bool {
        if self.armed.is_none() {
            return false;
        }
        if !idle {
            self.cancel();
            return false;
        }
        let problem = crate::flow::CardProblem::from(code);
        self.answer(
            format!("read failed: {}", problem.code()),
            ReadTestAnswer::ReadFailed { problem },
        );
        true
    }

    /// Every second: the test gives up after its time or when the screen changes.
    pub fn tick(&mut self, idle: bool, now: Instant) {
        match &self.armed {
            Some((_, deadline)) if now >= *deadline => self.answer(
                "timed out".into(),
                ReadTestAnswer::TimedOut {
                    after_s: super::READ_TEST_TIMEOUT.as_secs(),
                },
            ),
            Some(_) if !idle => self.cancel(),
            _ => {}
        }
    }

    fn cancel(&mut self) {
        self.answer(
            "cancelled: the kiosk left the idle screen".into(),
            ReadTestAnswer::Cancelled,
        );
    }
}
