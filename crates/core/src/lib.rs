//! `apm-kiosk-core`: the pure core of the APM kiosk. Plain functions over plain data,
//! tested by tables of cases beside the code. This crate's `Cargo.toml` names no tokio,
//! rusqlite, reqwest, Slint, serialport, axum or tracing, so the compiler keeps it pure:
//! it performs no I/O, reads no clock (every rule takes "now" as an argument) and logs
//! nothing. The daemon (the repository's root crate) performs what it decides.
//!
//! - [`domain`]: NIK and KTP data, offices, sessions (and how an applicant is told
//!   one) and the calendar in the office's time zone, the booking rules, what each
//!   applicant brings to the counter, queue numbers. Knows nothing of devices or screens.
//! - [`flow`]: the kiosk session as a state machine, `step(state, event, now) ->
//!   effects`, and the view state every screen renders (`flow::view`, with "my
//!   booking"'s in `view::bookings`); the booking after it is made (reprint, reschedule,
//!   cancel, and what may be done to one and why not) in `flow::changes`. Performs no
//!   effect.
//! - [`protocol`]: byte and wire formats of the outside world: the card reader's frames
//!   and TLV fields, the ESC/POS ticket job (and its words in both languages) and
//!   printer status bytes, the table of printer models (head width, speed, what each
//!   confirms), the central API's JSON types (version 1, and 1.1's bookings after they
//!   are made: availability, find, cancel, reschedule, arrivals), the signed ticket QR
//!   payload. Encodes and
//!   decodes; sends nothing.

pub mod domain;
pub mod flow;
pub mod protocol;
