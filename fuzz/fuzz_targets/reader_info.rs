//! INFO's `key=value` text under arbitrary payloads: parsing is lenient, so it must take
//! anything without panicking, and what it makes of it must survive the simulator's
//! encoding.

#![no_main]

use apm_kiosk_fuzz::reader::ReaderInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = ReaderInfo::parse(data);
    assert_eq!(ReaderInfo::parse(&info.encode()), info);
});
