//! `apm-kiosk`: the software of a self-service passport queue kiosk (Anjungan Paspor
//! Mandiri). An applicant lays their KTP on the card reader, confirms their data, adds
//! family members, picks an office, a day and an arrival session, and takes away a
//! printed, signed queue ticket. Every booking is kept in SQLite first and reaches the
//! central quota service exactly once, whenever the network is there.
//!
//! # Crate map
//!
//! The pure core (`domain`, `flow`, `protocol`) imports no tokio, Slint, rusqlite or
//! reqwest: plain functions over plain data, tested by tables of cases. Everything else
//! is a thin shell that performs what the core decides.
//!
//! - [`domain`]: NIK and KTP data, offices, sessions and the calendar in the office's
//!   time zone, the booking rules, queue numbers. Pure; knows nothing of devices.
//! - [`flow`]: the kiosk session as a state machine, `step(state, event, now) ->
//!   effects`, and the view state every screen renders. Pure; performs no effect.
//! - [`protocol`]: byte and wire formats of the outside world: the card reader's frames
//!   and TLV fields, the ESC/POS ticket job and printer status bytes, the central API's
//!   JSON types, the signed ticket QR payload. Pure.
//! - [`hardware`]: the `CardReader` and `TicketPrinter` capabilities, their serial/device
//!   implementations, and the simulated reader and printer that play the real devices
//!   over pseudo-terminals.
//! - [`identity`]: the kiosk's own key pair and its enrollment (token, NIK hash key),
//!   kept in the state directory readable by the daemon alone.
//! - [`store`]: the SQLite database: schema and numbered migrations, the single writer
//!   thread, and every query. Owns durability; makes no booking decisions.
//! - [`sync`]: the central service client (`CentralApi`), the pure allocation planner,
//!   and the loop that keeps queue numbers topped up and uploads registrations.
//! - [`central_sim`]: a simulator of the central quota service (HTTP on loopback, its
//!   own SQLite) for development, tests and the simulation.
//! - [`control`]: the headless control channel (Unix socket, JSON lines): the same
//!   intents the touchscreen sends, and every view state it would show.
//! - [`config`]: the TOML configuration, checked with file, line and what was expected.
//! - [`maint`]: the maintenance side's back end: the menu's PIN and lockout, the
//!   technician's commands, the report both the menu and `apm-kiosk maint` render, and
//!   the diagnostics bundle. Holds no screen; the touchscreen's menu is built on it.
//! - [`app`]: the daemon's wiring: tasks, channels, shutdown, systemd notification.
//! - [`logging`]: where log lines go (journald under systemd, else stderr) and at what
//!   level; trace compiled out of release builds.
//! - [`doctor`]: `apm-kiosk doctor`, the technician's check of an installed kiosk.
//! - [`fault`]: fault injection for the appliance tests (`APM_KIOSK_FAULT`), off unless set.
//! - [`simulate`]: the headless simulation, a crowd of applicants through a whole kiosk.
//!
//! - [`ui`]: the touchscreen (Slint): glue between the pages in `ui/*.slint` and the
//!   flow's view state; it sends the same intents as the control channel. Owns the
//!   threads of a kiosk with a screen: the event loop on the main thread, tokio beside it.

pub mod app;
pub mod central_sim;
pub mod config;
pub mod control;
pub mod doctor;
pub mod domain;
pub mod fault;
pub mod flow;
pub mod hardware;
pub mod identity;
pub mod logging;
pub mod maint;
pub mod protocol;
pub mod simulate;
pub mod store;
pub mod sync;
pub mod ui;
