//! CARD_DATA's TLV parser under arbitrary payloads.
//!
//! Checked: no panic; whatever parses re-encodes (known tags only, in tag order) to bytes
//! no longer than the input that parse to the same card, and that encoding is stable.

#![no_main]

use apm_kiosk_fuzz::reader::{encode_card_data, parse_card_data};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(card) = parse_card_data(data) else {
        return;
    };
    let bytes = encode_card_data(&card);
    assert!(
        bytes.len() <= data.len(),
        "re-encoding only drops unknown tags"
    );
    let again = parse_card_data(&bytes).expect("a re-encoded card parses");
    assert!(again == card, "a re-encoded card parses to the same card");
    assert_eq!(encode_card_data(&again), bytes, "the encoding is stable");
});
