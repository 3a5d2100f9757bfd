//! `apm-kiosk-sim`: the kiosk's outside world, played faithfully enough that the daemon
//! cannot tell it from the real thing, and no kinder: a card reader on a real
//! pseudo-terminal at a real baud rate, a printer that prints at its head's speed and
//! runs out of paper mid-ticket, and a central quota service that fails, times out,
//! rejects and answers garbage on request. The daemon's tests, the headless simulation,
//! the benchmarks and the `*-sim` commands use it; the appliance package does not link it.
//!
//! It speaks only the protocols (`apm-kiosk-core`'s `protocol`): it knows nothing of the
//! daemon, its store or its screens.
//!
//! - [`reader`]: the vendor's serial protocol from the reader's side, invented KTP cards,
//!   and the `reader-sim` command's console.
//! - [`printer`]: an ESC/POS printer of a profile on a pseudo-terminal: its head at the
//!   profile's speed, status answered in real time while it prints, the process ID once
//!   it gets there, paper out mid-job with the tail kept unless cleared, each ticket
//!   rendered to PNG at the profile's dots ([`printer::render`]).
//! - [`central`]: the central quota service over HTTP (axum) with its own SQLite, its own
//!   receipt key, the rules the service enforces (version 1.1's too: find, one reschedule
//!   up to H-1, cancel, arrivals; `without_v1_1` makes it a version 1 service), and fault
//!   injection, hostile bodies
//!   included (a 50 MB answer, a 2 GB chunked one, a gzip bomb, made as they are sent,
//!   and malformed receipts).

// The core's modules under the names the simulators were written against.
use apm_kiosk_core::{domain, protocol};

pub mod central;
pub mod printer;
pub mod reader;
