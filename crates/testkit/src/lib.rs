//! `apm-kiosk-testkit`: what the kiosk's integration tests (`tests/`) and benchmarks
//! (`benches/`) share, each written once. A dev-dependency of the daemon crate; nothing
//! here reaches a kiosk.
//!
//! - [`central`]: the central simulator (`apm_kiosk_sim::central`) on a loopback port
//!   with a pinned clock, a guard that stops it, and the enrollment of a kiosk with it.
//! - [`fixtures`]: test times and dates, the Karimun seed, valid test NIKs that name no
//!   real person, applicants, tickets and the test signing key.
//! - [`signer`]: the store's `CommitPlan` tag and signature made the way the daemon
//!   makes them (`identity::nik_tag`, `protocol::ticket_qr`).
//! - [`kiosk`]: a kiosk's store with its enrollment, syncers of it against any
//!   `CentralApi`, and bookings committed as the daemon commits them.
//! - [`fakes`]: the daemon's capabilities played in memory: [`fakes::FakeCentral`]
//!   (`CentralApi` and version 1.1's `BookingApi`, or a service without it),
//!   [`fakes::FakePrinter`] (`TicketPrinter`),
//!   [`fakes::FakeReader`] (`CardReader`) and [`fakes::FakeDisk`] (`FreeSpace`),
//!   scriptable and counting what they were asked.
//!   They take no sockets and no pseudo-terminals, so tests on them can pause time.
//!
//! - [`daemon`]: the whole daemon on those fakes, a socket in a temp directory and a
//!   clock that moves with tokio's (and can be set wrong), driven through the
//!   touchscreen's link and restarted on its state: for tests on paused time.
//!
//! What the simulators play over real pseudo-terminals and sockets stays in
//! `apm-kiosk-sim`; the testkit only starts them.

pub mod central;
pub mod daemon;
pub mod fakes;
pub mod fixtures;
pub mod kiosk;
pub mod signer;
