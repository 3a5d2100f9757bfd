//! The daemon's capabilities played in memory, for tests that need no socket and no
//! pseudo-terminal and so can run on paused time (`#[tokio::test(start_paused = true)]`):
//!
//! - [`FakeCentral`]: `sync::client::CentralApi` and version 1.1's
//!   `sync::bookings::BookingApi`, with the service's state in memory (offices, quotas,
//!   registrations, releases, cancels and reschedules by change id), refusals,
//!   time-outs, lost answers and a service without version 1.1 scripted per endpoint,
//!   and every call counted and timed.
//! - [`FakePrinter`]: `hardware::printer::TicketPrinter`, with its state scripted, a
//!   roll that runs out after so many bytes, and every job recorded.
//! - [`FakeReader`]: `hardware::reader::CardReader`, which reports the events a test
//!   hands it and records the commands the kiosk gives.
//! - [`FakeDisk`]: `disk::FreeSpace`, a file system whose free space the test sets.
//!
//! The simulators of `apm-kiosk-sim` stay the fakes for the serial and HTTP code
//! itself: these replace that code, so they test what lies above it.

mod central;
mod disk;
mod printer;
mod reader;

pub use central::{ChangeKind, Endpoint, FakeBooking, FakeCentral, FakeChange, Fault};
pub use disk::FakeDisk;
pub use printer::{FakePrinter, PrintedJob};
pub use reader::{FakeReader, FakeReaderControl};
