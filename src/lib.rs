//! `apm-kiosk`: the software of a self-service passport queue kiosk (Anjungan Paspor
//! Mandiri). An applicant lays their KTP on the card reader, confirms their data, adds
//! family members, picks an office, a day and an arrival session, and takes away a
//! printed, signed queue ticket. Every booking is kept in SQLite first and reaches the
//! central quota service exactly once, whenever the network is there.
//!
//! # Crate map
//!
//! The workspace has four crates. `apm-kiosk-core` is the pure core (`domain`, `flow`,
//! `protocol`, re-exported here under those names): its `Cargo.toml` names no tokio,
//! Slint, rusqlite, reqwest, serialport, axum or tracing, so the compiler keeps it plain
//! functions over plain data. `apm-kiosk-sim` plays the outside world (reader, printer,
//! central service) for tests, the simulation and the benchmarks, and knows only the
//! protocols. `apm-kiosk-testkit` (a dev-dependency) holds the tests' fixtures, the
//! central simulator on loopback, fakes in memory of the parts and the whole daemon on
//! them. This crate is the daemon: every module below is a shell that performs what the
//! core decides.
//!
//! - [`domain`], [`flow`], [`protocol`]: the core, see `apm-kiosk-core`.
//! - [`hardware`]: the `CardReader` and `TicketPrinter` capabilities and their serial,
//!   USB and TCP implementations (a ticket counts as printed when the printer confirms
//!   it, as its profile allows), and the printer worker, the one thread that prints
//!   (the simulated devices are `apm-kiosk-sim`'s).
//! - [`identity`]: the kiosk's own key pair and its enrollment (token, NIK hash key),
//!   kept in the state directory readable by the daemon alone.
//! - [`store`]: the SQLite database: schema and numbered migrations, the single writer
//!   thread, every query, the retention rules, and the mark that says it exists; and
//!   the booking after it is made (`store::changes`: cancels and reschedules, each one
//!   transaction, queued by change id when the service may have the booking). Owns
//!   durability; makes no booking decisions.
//! - [`sync`]: the central service client (`CentralApi`, and `SharedCentral`, any of
//!   them as a part; every answer's body read through its one bounded reader), version
//!   1.1's `BookingApi` (a service without it answers 404: unsupported, not failed), the
//!   pinned CA (`central.ca_file`, read once for the client and the config check), the
//!   pure allocation planner, the loop that keeps queue numbers topped up and uploads
//!   registrations, and `sync::changes`, which sends the queued cancels and reschedules
//!   after them (and one at once, for the shell) and notes what the service lacks.
//! - [`control`]: the headless control channel (Unix socket, JSON lines): the same
//!   intents the touchscreen sends, and every view state it would show.
//! - [`config`]: the TOML configuration, checked with file, line and what was expected
//!   (with `[offices.ID]`: what the tickets print of an office that the service does not
//!   send, its address and opening hours).
//! - [`maint`]: the maintenance side's back end: the menu's PIN and lockout, the
//!   technician's commands, the report both the menu and `apm-kiosk maint` render (its
//!   figures and what is wrong as codes), the help panel's officer calls, and the
//!   diagnostics bundle. Holds no screen; the touchscreen's menu is built on it.
//! - [`status`]: what the daemon reports of itself (the `status` command, the reader's
//!   health, the technician's alerts); filled by the main loop, shown by the rest.
//! - [`app`]: the daemon's wiring: a `Daemon` built from its `Parts` (the reader, a way
//!   to open the printer, the central service, the control socket, the clock), its
//!   tasks, channels, shutdown and systemd notification; and the shell that performs the
//!   flow's effects, among them (`app::bookings`) the service's pool beside the held
//!   numbers, numbers asked for a session, a NIK's bookings and their reprints, cancels
//!   and reschedules, each call to the service bounded and made only while it answers.
//! - [`clock`]: the wall clock as a part: the system's, or one that moves with tokio's
//!   (paused) clock in tests; and the rule of a clock that cannot be right.
//! - [`logging`]: where log lines go (journald under systemd, else stderr) and at what
//!   level; trace compiled out of release builds.
//! - [`doctor`]: `apm-kiosk doctor`, the technician's check of an installed kiosk.
//! - [`disk`]: the free space where the state lives (the one `statvfs` call, a part
//!   tests can fake) and the thresholds below which the disk is low and full.
//! - [`guard`]: the disk's and the clock's checks (at start, every minute, before a
//!   session) turned into the `disk_full` and `clock_wrong` holds, lifted by themselves.
//! - [`fault`]: fault injection for the appliance tests (`APM_KIOSK_FAULT`), off unless set.
//! - `simulate` (feature `sim`): the headless simulation, a crowd of applicants through a
//!   whole kiosk on `apm-kiosk-sim`'s devices and central service, some of whom come back
//!   to reprint, move or cancel their booking.
//!
//! - [`frontend`]: the seam between the daemon and a screen (the link the daemon hands
//!   it, the panel beside the view, how the daemon ended), so that `app` and `ui` each
//!   depend on it and not on each other.
//! - [`ui`]: the touchscreen (Slint): glue between the pages in `ui/*.slint` and the
//!   flow's view state; it sends the same intents as the control channel. Owns the
//!   threads of a kiosk with a screen: the event loop on the main thread, tokio beside it.

pub use apm_kiosk_core::{domain, flow, protocol};

pub mod app;
pub mod clock;
pub mod config;
pub mod control;
pub mod disk;
pub mod doctor;
pub mod fault;
pub mod frontend;
pub mod guard;
pub mod hardware;
pub mod identity;
pub mod logging;
pub mod maint;
#[cfg(feature = "sim")]
pub mod simulate;
pub mod status;
pub mod store;
pub mod sync;
pub mod ui;
