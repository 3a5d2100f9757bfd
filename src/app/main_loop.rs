//! The daemon's main loop: [`MainLoop`] holds the flow's state, what only the loop knows
//! of the reader, and the senders it publishes the view, the devices and the
//! heartbeat's health on. `app` selects over the event sources and hands each event to
//! the method for its source; each says what the loop does next ([`Next`]). Decisions
//! are the flow's; the effects are performed by `app`'s `Shell`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use super::PanelState;
use super::shell::{Shell, office_today};
use crate::control::{self, CommandRequest, LoopCommand, Reply, Routed};
use crate::flow::{self, CardFields, CardProblem, Event, Kiosk};
use crate::frontend::Stopped;
use crate::hardware::printer::PrinterState;
use crate::hardware::reader::{self as reader_hw, ReaderEvent};
use crate::identity::Enrollment;
use crate::maint::answer::{Restarting, SyncStarted};
use crate::protocol::central::ReaderState;
use crate::status::{ReaderHealth, Status, VERSION, sync_alerts};
use crate::store::writer::StoreHandle;
use crate::sync::{KioskHealth, SyncStatus};

/// What the main loop holds between events: the flow's state, what only the loop knows
/// of the reader, and where it publishes the view, the devices and the heartbeat's
/// health. One method per event source; each says what the loop does next.
pub(super) struct MainLoop {
    pub(super) kiosk: Kiosk,
    pub(super) shell: Shell,
    pub(super) maint: crate::maint::Maint,
    /// The technician's one-shot card read: sees the reader's events before the flow.
    pub(super) read_test: crate::maint::ReadTest,
    pub(super) store: StoreHandle,
    pub(super) nudge: Arc<Notify>,
    pub(super) clock: crate::clock::SharedClock,
    pub(super) started_at: DateTime<Utc>,
    pub(super) enrollment: watch::Receiver<Option<Arc<Enrollment>>>,
    pub(super) printer_state: watch::Receiver<PrinterState>,
    pub(super) sync_status: watch::Receiver<SyncStatus>,
    pub(super) reader_state: ReaderState,
    /// What the reader said of itself when it last answered GET_INFO.
    pub(super) reader_info: Option<ReaderHealth>,
    pub(super) health: watch::Sender<KioskHealth>,
    pub(super) panel: watch::Sender<Arc<PanelState>>,
    pub(super) view_line: watch::Sender<Arc<String>>,
    pub(super) view: watch::Sender<Arc<flow::view::View>>,
    /// Wakes the idle screen's count of today's numbers after a booking.
    pub(super) recount_today: Arc<Notify>,
    /// The disk's and the clock's checks, and the holds they set.
    pub(super) guard: crate::guard::Guard,
    /// What the control channel had to refuse, for `status`.
    pub(super) control: Arc<crate::control::ControlHealth>,
    /// `APM_KIOSK_FAULT=hang-main-loop-after`: when the loop hangs, for the watchdog test.
    pub(super) hang_at: Option<tokio::time::Instant>,
}

/// What one event source gave the main loop.
pub(super) enum Next {
    /// An event for the flow.
    Step(Event),
    /// Events for the flow, in order.
    Steps(Vec<Event>),
    /// Handled; the flow need not hear of it.
    Nothing,
    Stop(Stopped),
}

impl MainLoop {
    fn idle(&self) -> bool {
        self.kiosk.screen == flow::Screen::Idle
    }

    /// What the heartbeat and the screens show of the devices; only a change wakes anyone.
    pub(super) fn publish_devices(&self) {
        let printer_state = *self.printer_state.borrow();
        let health = KioskHealth {
            printer: crate::protocol::central::PrinterState::from(printer_state),
            card_reader: self.reader_state.clone(),
            out_of_service: !self.kiosk.holds.is_empty(),
        };
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
        self.panel.send_if_modified(|p| {
            if p.reader == self.reader_state && p.printer == printer_state {
                return false;
            }
            let mut next = PanelState::clone(p);
            next.reader = self.reader_state.clone();
            next.printer = printer_state;
            *p = Arc::new(next);
            true
        });
    }

    pub(super) fn on_reader(&mut self, ev: ReaderEvent) -> Next {
        match ev {
            ReaderEvent::CardRead(card) => {
                let today = office_today(&self.kiosk.offices, None, self.clock.now());
                let idle = self.idle();
                if self
                    .read_test
                    .card(&card, idle, self.reader_info.as_ref(), today)
                {
                    return Next::Nothing;
                }
                Next::Step(Event::CardRead(CardFields::from(card)))
            }
            ReaderEvent::ReadFailed(code) => {
                if self.read_test.failed(code, self.idle()) {
                    return Next::Nothing;
                }
                Next::Step(Event::CardFailed(CardProblem::from(code)))
            }
            ReaderEvent::Connected(info) => {
                // The reader module logs the connection with its details.
                self.reader_state = if info.sam == reader_hw::SamStatus::Missing {
                    ReaderState::SamMissing
                } else {
                    ReaderState::Ok
                };
                self.reader_info = Some(ReaderHealth::from(&info));
                Next::Step(reader_hold(None))
            }
            ReaderEvent::Disconnected { reason } => {
                if self.reader_state != ReaderState::Disconnected {
                    tracing::warn!(%reason, "card reader disconnected");
                }
                self.reader_state = ReaderState::Disconnected;
                // Known to be gone: no session starts on it, and the idle screen says why.
                Next::Step(reader_hold(Some(flow::HoldReason::ReaderGone)))
            }
            ReaderEvent::CardPresent | ReaderEvent::CardRemoved => Next::Nothing,
        }
    }

    pub(super) async fn on_command(&mut self, request: CommandRequest) -> Next {
        match request.command.route() {
            Routed::Loop(LoopCommand::SyncNow) => {
                self.nudge.notify_one();
                self.maint.audit_later("sync_now", String::new());
                let _ = request
                    .reply
                    .send(Reply::SyncStarted(SyncStarted::default()));
            }
            Routed::Loop(LoopCommand::ReadTest) => {
                let idle = self.idle();
                self.read_test
                    .arm(request.reply, idle, std::time::Instant::now());
            }
            Routed::Loop(LoopCommand::Restart) => {
                self.maint.audit("restart", "requested".into()).await;
                let _ = request.reply.send(Reply::Restarting(Restarting {
                    restart: Default::default(),
                    exit_code: crate::maint::RESTART_EXIT_CODE,
                }));
                tracing::warn!("restart requested by a technician");
                // Time for the answer to leave the socket before it closes.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return Next::Stop(Stopped::Restart);
            }
            Routed::Loop(LoopCommand::Status) => {
                let (store, mut status) = (self.store.clone(), self.status());
                tokio::spawn(async move {
                    if let Ok(stats) = store.run(|s| s.stats()).await {
                        status.store = stats;
                    }
                    if let Ok(rejections) = store.run(|s| s.rejections()).await {
                        status.rejections = rejections;
                    }
                    let _ = request.reply.send(Reply::Status(Box::new(status)));
                });
            }
            Routed::Maint(command) => {
                let (maint, live) = (self.maint.clone(), self.live());
                tokio::spawn(async move {
                    let answer = maint.handle(command, live).await;
                    let _ = request.reply.send(Reply::from(answer));
                });
            }
        }
        Next::Nothing
    }

    /// The `status` command's answer, but for the store's counts.
    fn status(&self) -> Status {
        let sync = self.sync_status.borrow().clone();
        let control = self.control.counts();
        let mut alerts = sync_alerts(&sync);
        if control.refused_busy + control.refused_no_fds > 0 {
            alerts.push(crate::status::Alert::ControlRefused);
        }
        let officer_calls = self.shell.calls.report(self.clock.now());
        if !officer_calls.open.is_empty() {
            alerts.push(crate::status::Alert::OfficerCalled);
        }
        Status {
            version: VERSION,
            kiosk_id: self
                .enrollment
                .borrow()
                .as_ref()
                .map(|e| e.kiosk_id.clone()),
            screen: flow::view::ScreenKind::of(&self.kiosk.screen),
            out_of_service: self.kiosk.hold(),
            printer: *self.printer_state.borrow(),
            card_reader: self.reader_state.clone(),
            card_reader_info: self.reader_info.clone(),
            store: Default::default(),
            alerts,
            sync,
            control,
            started_at: self.started_at,
            rejections: Vec::new(),
            officer_calls,
        }
    }

    /// What only the main loop knows, for a maintenance command.
    fn live(&self) -> crate::maint::Live {
        crate::maint::Live {
            screen: flow::view::ScreenKind::of(&self.kiosk.screen),
            out_of_service: self.kiosk.hold(),
            holds: self.kiosk.holds.iter().map(|(s, r)| (*s, *r)).collect(),
            printer: *self.printer_state.borrow(),
            reader_state: self.reader_state.clone(),
            reader_info: self.reader_info.clone(),
            sync: self.sync_status.borrow().clone(),
        }
    }

    /// A new default language: the next applicant's screen starts in it, and so does the
    /// idle screen now.
    pub(super) fn on_settings(&mut self, language: crate::domain::Language) -> Next {
        self.kiosk.default_language = language;
        if self.idle() {
            self.kiosk.language = language;
        }
        Next::Step(Event::Tick)
    }

    pub(super) fn on_tick(&mut self) -> Next {
        if self
            .hang_at
            .is_some_and(|at| tokio::time::Instant::now() >= at)
        {
            tracing::warn!("fault injection: the main loop hangs now");
            crate::fault::hang_forever();
        }
        // Fed only here: a hung main loop stops the watchdog and systemd restarts us.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        let idle = self.idle();
        self.read_test.tick(idle, std::time::Instant::now());
        Next::Step(Event::Tick)
    }

    /// The disk and the clock, looked at again: the holds that changed.
    pub(super) fn on_guard(&mut self) -> Next {
        let sync = self.sync_status.borrow().clone();
        Next::Steps(self.guard.look(&sync))
    }

    /// Feeds one event to the flow, performs its effects, and publishes the view if it
    /// changed. An event that would start a session has the disk and the clock looked
    /// at first, so that nobody starts on a full disk or a wrong clock.
    pub(super) fn step(&mut self, event: Event, reader: &reader_hw::ReaderHandle) {
        if self.idle() && starts_session(&event) {
            let sync = self.sync_status.borrow().clone();
            let now = self.clock.now();
            for held in self.guard.look(&sync) {
                flow::step(&mut self.kiosk, held, now);
            }
        }
        self.help_contact();
        let now = self.clock.now();
        if matches!(event, Event::Committed(Ok(_)) | Event::CatalogChanged(_)) {
            self.recount_today.notify_one();
        }
        for effect in flow::step(&mut self.kiosk, event, now) {
            self.shell.perform(effect, &self.kiosk, reader, now);
        }
        let view = flow::view::view(&self.kiosk, now);
        let line = control::view_line(&view);
        let changed = self.view_line.send_if_modified(|current| {
            if **current != line {
                *current = Arc::new(line);
                true
            } else {
                false
            }
        });
        if changed {
            self.view.send_replace(Arc::new(view));
        }
    }
}

impl MainLoop {
    /// The help panel shows the kiosk's id once it is enrolled (from the menu, even
    /// while running).
    fn help_contact(&mut self) {
        let enrollment = self.enrollment.borrow();
        let id = enrollment.as_ref().map(|e| e.kiosk_id.as_str());
        if self.kiosk.help_contact.kiosk_id.as_deref() != id {
            self.kiosk.help_contact.kiosk_id = id.map(str::to_owned);
        }
    }
}

/// Whether `event`, on the idle screen, would start a session.
fn starts_session(event: &Event) -> bool {
    matches!(
        event,
        Event::Intent(flow::Intent::Start) | Event::CardRead(_) | Event::CardFailed(_)
    )
}

/// The card reader's hold: set while it is known to be gone, lifted once it answers.
fn reader_hold(reason: Option<flow::HoldReason>) -> Event {
    Event::ServiceChanged {
        source: flow::HoldSource::Reader,
        reason,
    }
}
