//! The seam between the daemon and a front end with a screen: what the daemon hands the
//! touchscreen once it runs ([`UiLink`]), what the screens show beside the flow's view
//! ([`PanelState`]), how the daemon ended ([`Stopped`]), and the shape of the function
//! that starts the daemon beside a screen ([`StartDaemon`]). Defined here, not in `app`
//! or `ui`, so that each depends on this seam and neither on the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::NaiveDate;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Config;
use crate::flow::Intent;
use crate::flow::view::View;
use crate::hardware::printer::PrinterState;
use crate::protocol::central::ReaderState;

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `shutdown` resolved (SIGTERM, or the caller).
    Shutdown,
    /// A technician asked for a restart: exit with [`crate::maint::RESTART_EXIT_CODE`].
    Restart,
}

/// What the screens show beside the flow's view: the devices, and today's numbers at
/// each office for the idle screen. Published by the daemon on a watch channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelState {
    pub reader: ReaderState,
    /// No applicant's page shows it; the maintenance menu's report does, from the
    /// daemon's status.
    pub printer: PrinterState,
    /// Today at the kiosk's offices (their zone's date), once known.
    pub today_date: Option<NaiveDate>,
    pub today: Vec<OfficeToday>,
}

/// Until the devices are tried: nothing connected.
impl Default for PanelState {
    fn default() -> PanelState {
        PanelState {
            reader: ReaderState::Disconnected,
            printer: PrinterState::Offline,
            today_date: None,
            today: Vec::new(),
        }
    }
}

/// Free numbers this kiosk holds for today at one office, in the sessions that can
/// still be booked, and the first later day it holds any for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeToday {
    pub office_name: String,
    /// Today is one of the office's working days and not a holiday.
    pub open_today: bool,
    pub regular_left: u32,
    pub priority_left: u32,
    /// The first day after today, within the booking window, with a free number in a
    /// session that can be booked.
    pub next_day: Option<NaiveDate>,
}

/// What the daemon hands the screen once it runs: where to send intents and where to
/// watch the view and the devices.
#[derive(Debug, Clone)]
pub struct UiLink {
    pub intents: mpsc::Sender<Intent>,
    /// The control channel's commands (the maintenance menu's), answered on `reply`.
    pub commands: mpsc::Sender<crate::control::CommandRequest>,
    pub view: watch::Receiver<Arc<View>>,
    pub panel: watch::Receiver<Arc<PanelState>>,
    /// What a technician set from the menu: default language, orientation, volume.
    pub settings: watch::Receiver<crate::maint::Settings>,
}

/// A shutdown signal, boxed so that a plain function can take it.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The daemon, run until `shutdown` or a restart.
pub type Running = Pin<Box<dyn Future<Output = anyhow::Result<Stopped>> + Send>>;

/// Starts the daemon beside a screen, handing the screen its [`UiLink`] once the store
/// is open and the devices are tried.
pub type StartDaemon = fn(Config, Shutdown, oneshot::Sender<UiLink>) -> Running;
