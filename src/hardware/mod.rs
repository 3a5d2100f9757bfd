//! Devices: the card reader and the ticket printer, each a capability trait with a real
//! implementation over a serial line or device file, and a simulator that plays the real
//! device's side of the line over a pseudo-terminal.

pub mod printer;
pub mod reader;
