//! Wire and byte formats of the outside world, as pure encode/decode functions. No I/O:
//! the hardware and sync shells feed these bytes and perform what they return.

pub mod central;
pub mod central_v11;
pub mod escpos;
pub mod printer_profile;
pub mod reader;
pub mod ticket_qr;
mod ticket_words;
