//! (module under construction)

pub mod client;
