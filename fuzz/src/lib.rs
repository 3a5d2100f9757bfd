//! The card reader protocol module, `src/protocol/reader.rs`, compiled on its own for the
//! fuzz targets: the very same source file, not a copy.
//!
//! Why not a path dependency on `apm-kiosk`: cargo fuzz builds every crate of the graph
//! with coverage instrumentation on a nightly compiler, and the kiosk's graph (Slint,
//! SQLite, rustls) would take most of an hour to build that way on the kiosk's build
//! machine, for a module that needs none of it. The module's one reference into the rest
//! of the crate is `crate::domain::nik::mask`, used by `CardData`'s `Debug` only; it is
//! given here by a stand-in that masks everything, so no target may test `Debug` output.

#[path = "../../src/protocol/reader.rs"]
pub mod reader;

/// Stand-in for the kiosk's `domain` module: only what `reader.rs` names.
pub mod domain {
    pub mod nik {
        /// Masks every character: the fuzz targets never look at `Debug` output.
        pub fn mask(_nik: &str) -> String {
            "*".repeat(16)
        }
    }
}
