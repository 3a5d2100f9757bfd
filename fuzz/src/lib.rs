//! The card reader protocol of the kiosk's pure core (`apm-kiosk-core`'s
//! `protocol::reader`), for the fuzz targets: the very same code, not a copy.
//!
//! A path dependency on the core crate, not on `apm-kiosk`: cargo fuzz builds every crate
//! of the graph with coverage instrumentation on a nightly compiler, and the daemon's
//! graph (Slint, SQLite, rustls) would take most of an hour to build that way on the
//! kiosk's build machine. The core's graph is small, and pure by its own `Cargo.toml`.

pub use apm_kiosk_core::protocol::reader;
