//! The KTP card reader's serial protocol, version 1 (`specs/card-reader-protocol.md`), as
//! pure functions over bytes: frame encoding, the CRC, an incremental decoder that resyncs
//! after line noise, the CARD_DATA TLV fields, READ_ERROR codes and the INFO text.
//!
//! This module owns the bytes only. Opening ports, timing, retransmission and SEQ
//! bookkeeping belong to `hardware::reader`; checking that the NIK agrees with the birth
//! date and sex belongs to `domain::nik`.

use std::fmt;

/// Start of every frame.
pub const STX: u8 = 0x02;
/// End of every frame.
pub const ETX: u8 = 0x03;
/// The most payload a frame may carry.
pub const MAX_PAYLOAD: usize = 4096;
/// `LEN` counts SEQ, CMD and the payload.
pub const MIN_LEN: usize = 2;
pub const MAX_LEN: usize = MAX_PAYLOAD + 2;
/// STX, LEN (2), CRC (2), ETX around SEQ + CMD + payload.
pub const FRAME_OVERHEAD: usize = 6;
/// The longest frame on the line, in bytes.
pub const MAX_FRAME: usize = MAX_LEN + FRAME_OVERHEAD;

/// Command and event codes, both directions.
pub mod cmd {
    // Host to reader.
    pub const PING: u8 = 0x01;
    pub const GET_INFO: u8 = 0x02;
    pub const READ_CARD: u8 = 0x10;
    pub const SET_AUTO_READ: u8 = 0x11;
    pub const SIGNAL: u8 = 0x20;
    // Either direction.
    pub const ACK: u8 = 0x06;
    pub const NAK: u8 = 0x15;
    // Reader to host.
    pub const PONG: u8 = 0x81;
    pub const INFO: u8 = 0x82;
    pub const CARD_PRESENT: u8 = 0x90;
    pub const CARD_REMOVED: u8 = 0x91;
    pub const CARD_DATA: u8 = 0x92;
    pub const READ_ERROR: u8 = 0x93;
}

/// SIGNAL's payload byte.
pub mod signal {
    pub const BEEP_OK: u8 = 0;
    pub const BEEP_ERROR: u8 = 1;
    pub const LED_OFF: u8 = 2;
}

/// The longest a reader may take to answer a command, READ_CARD excepted.
pub const REPLY_TIMEOUT_MS: u64 = 200;
/// READ_CARD's answer may take this long: the chip read is slow.
pub const READ_CARD_TIMEOUT_MS: u64 = 3000;
/// How often the reader resends an unacknowledged event, and how many times at most.
pub const EVENT_RESEND_MS: u64 = 500;
pub const EVENT_RESENDS: u32 = 3;

/// One frame with its framing stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Chosen by the sender of a command or event; replies carry the command's SEQ.
    pub seq: u8,
    pub cmd: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame with no payload (ACK, NAK, PING, ...).
    pub fn bare(seq: u8, cmd: u8) -> Frame {
        Frame {
            seq,
            cmd,
            payload: Vec::new(),
        }
    }
}

/// The frame as it goes on the line.
///
/// # Panics
///
/// When the payload is longer than [`MAX_PAYLOAD`]: such a frame cannot be said in this
/// protocol, so building one is a bug in the caller, never a property of received input.
/// Callers that carry outside data (the simulator's cards) check the length first.
pub fn encode(frame: &Frame) -> Vec<u8> {
    assert!(
        frame.payload.len() <= MAX_PAYLOAD,
        "card reader frame payload of {} bytes exceeds the protocol's {MAX_PAYLOAD}",
        frame.payload.len()
    );
    let len = (frame.payload.len() + 2) as u16;
    let mut out = Vec::with_capacity(frame.payload.len() + 2 + FRAME_OVERHEAD);
    out.push(STX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(frame.seq);
    out.push(frame.cmd);
    out.extend_from_slice(&frame.payload);
    let crc = crc16_ccitt_false(&out[1..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out.push(ETX);
    out
}

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// What the decoder has seen, for the technician's diagnostics page and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Good frames handed out.
    pub frames: u64,
    /// STX candidates given up for a bad LEN, a bad CRC or a missing ETX.
    pub bad_frames: u64,
    /// Bytes that ended up in no good frame (noise, and the STX of every bad frame).
    pub dropped_bytes: u64,
}

/// Unconsumed bytes beyond which the decoder discards the oldest: far more than one
/// frame plus one read, so it is reached only by a caller that pushes without draining.
pub const DECODER_CAP: usize = 16 * MAX_FRAME;

/// An incremental frame decoder: push bytes as they come, then take frames until `None`.
///
/// It never holds more than one partial frame plus what was pushed since the last
/// drain; a caller that pushes and never drains loses the oldest bytes past a cap.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the unconsumed bytes start in `buf`: consuming moves this, and the front is
    /// compacted away in bulk rather than shifted on every frame.
    start: usize,
    stats: DecoderStats,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && (self.start >= self.buf.len() / 2 || self.buf.len() > MAX_FRAME) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        let pending = self.buf.len() - self.start;
        if pending > DECODER_CAP {
            let excess = pending - DECODER_CAP;
            self.start += excess;
            self.stats.dropped_bytes += excess as u64;
        }
    }

    /// The next good frame, or `None` until more bytes come.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let pending = &self.buf[self.start..];
            match pending.iter().position(|&b| b == STX) {
                Some(0) => {}
                Some(n) => {
                    self.drop_bytes(n);
                    continue;
                }
                None => {
                    let n = pending.len();
                    self.drop_bytes(n);
                    return None;
                }
            }
            if pending.len() < 3 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([pending[1], pending[2]]));
            if !(MIN_LEN..=MAX_LEN).contains(&len) {
                self.reject_head();
                continue;
            }
            let total = len + FRAME_OVERHEAD;
            if pending.len() < total {
                return None;
            }
            if pending[total - 1] != ETX {
                self.reject_head();
                continue;
            }
            let crc_at = 3 + len;
            let want = u16::from_be_bytes([pending[crc_at], pending[crc_at + 1]]);
            if crc16_ccitt_false(&pending[1..crc_at]) != want {
                self.reject_head();
                continue;
            }
            let frame = Frame {
                seq: pending[3],
                cmd: pending[4],
                payload: pending[5..crc_at].to_vec(),
            };
            self.start += total;
            self.stats.frames += 1;
            if self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            }
            return Some(frame);
        }
    }

    /// Gives up the partial frame the decoder is waiting on, if any, and hunts for the
    /// next STX after its start. The protocol has no timeout of its own, but a noise byte
    /// that looks like STX followed by a large LEN would otherwise hold back every real
    /// frame behind it until that many bytes came: the I/O layer calls this when the
    /// line has gone quiet in the middle of a frame. Returns whether anything was given up.
    pub fn resync(&mut self) -> bool {
        if self.start < self.buf.len() && self.buf[self.start] == STX {
            self.reject_head();
            true
        } else {
            false
        }
    }

    /// Bytes held for a frame not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes the decoder's buffer holds, consumed ones not yet compacted away included:
    /// its memory. For a caller that drains after every push this stays below
    /// [`MAX_FRAME`] plus the last push, however long the line runs (the fuzzer checks it).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    fn reject_head(&mut self) {
        self.stats.bad_frames += 1;
        self.drop_bytes(1);
    }

    fn drop_bytes(&mut self, n: usize) {
        self.start += n;
        self.stats.dropped_bytes += n as u64;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }
}

/// READ_ERROR's code byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadErrorCode {
    /// 0x01
    NoCard,
    /// 0x02
    NotEktp,
    /// 0x03
    ChipAuthFailed,
    /// 0x04
    TimedOut,
    /// 0x05
    CardRemoved,
    /// 0x06
    SamUnavailable,
    /// Any other code: the host treats it like [`ReadErrorCode::TimedOut`].
    Unknown(u8),
}

impl ReadErrorCode {
    pub fn from_byte(code: u8) -> ReadErrorCode {
        match code {
            0x01 => ReadErrorCode::NoCard,
            0x02 => ReadErrorCode::NotEktp,
            0x03 => ReadErrorCode::ChipAuthFailed,
            0x04 => ReadErrorCode::TimedOut,
            0x05 => ReadErrorCode::CardRemoved,
            0x06 => ReadErrorCode::SamUnavailable,
            other => ReadErrorCode::Unknown(other),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ReadErrorCode::NoCard => 0x01,
            ReadErrorCode::NotEktp => 0x02,
            ReadErrorCode::ChipAuthFailed => 0x03,
            ReadErrorCode::TimedOut => 0x04,
            ReadErrorCode::CardRemoved => 0x05,
            ReadErrorCode::SamUnavailable => 0x06,
            ReadErrorCode::Unknown(other) => other,
        }
    }

    /// The code the kiosk acts on: unknown codes become a timeout, as the spec says.
    pub fn effective(self) -> ReadErrorCode {
        match self {
            ReadErrorCode::Unknown(_) => ReadErrorCode::TimedOut,
            known => known,
        }
    }
}

impl fmt::Display for ReadErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ReadErrorCode::NoCard => "no card on the reader",
            ReadErrorCode::NotEktp => "card is not an e-KTP",
            ReadErrorCode::ChipAuthFailed => "chip authentication failed",
            ReadErrorCode::TimedOut => "read timed out",
            ReadErrorCode::CardRemoved => "card removed during the read",
            ReadErrorCode::SamUnavailable => "SAM missing or locked",
            ReadErrorCode::Unknown(code) => {
                return write!(f, "unknown read error 0x{code:02x}");
            }
        };
        f.write_str(text)
    }
}

/// The demographic fields of one e-KTP, as CARD_DATA carries them. Values are kept as
/// the reader sent them; checking them against each other is `domain::nik`'s work.
///
/// Its `Debug` masks the NIK and hides every other personal field, so a stray `{:?}`
/// in a log line leaks nothing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CardData {
    /// Tag 0x01, 16 ASCII digits.
    pub nik: String,
    /// Tag 0x02, upper case as printed.
    pub name: String,
    /// Tag 0x03.
    pub birth_place: Option<String>,
    /// Tag 0x04, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Tag 0x05, `L` or `P`.
    pub sex: String,
    /// Tag 0x06.
    pub blood_type: Option<String>,
    /// Tag 0x07, the street line.
    pub address: Option<String>,
    /// Tag 0x08, `003/005`.
    pub rt_rw: Option<String>,
    /// Tag 0x09.
    pub kelurahan: Option<String>,
    /// Tag 0x0A.
    pub kecamatan: Option<String>,
    /// Tag 0x0B.
    pub kabupaten: Option<String>,
    /// Tag 0x0C.
    pub provinsi: Option<String>,
    /// Tag 0x0D.
    pub religion: Option<String>,
    /// Tag 0x0E.
    pub marital_status: Option<String>,
    /// Tag 0x0F.
    pub occupation: Option<String>,
    /// Tag 0x10, `WNI`.
    pub nationality: Option<String>,
    /// Tag 0x11, `SEUMUR HIDUP` or `YYYY-MM-DD`.
    pub valid_until: Option<String>,
}

/// CARD_DATA tags.
pub mod tag {
    pub const NIK: u8 = 0x01;
    pub const NAME: u8 = 0x02;
    pub const BIRTH_PLACE: u8 = 0x03;
    pub const BIRTH_DATE: u8 = 0x04;
    pub const SEX: u8 = 0x05;
    pub const BLOOD_TYPE: u8 = 0x06;
    pub const ADDRESS: u8 = 0x07;
    pub const RT_RW: u8 = 0x08;
    pub const KELURAHAN: u8 = 0x09;
    pub const KECAMATAN: u8 = 0x0A;
    pub const KABUPATEN: u8 = 0x0B;
    pub const PROVINSI: u8 = 0x0C;
    pub const RELIGION: u8 = 0x0D;
    pub const MARITAL_STATUS: u8 = 0x0E;
    pub const OCCUPATION: u8 = 0x0F;
    pub const NATIONALITY: u8 = 0x10;
    pub const VALID_UNTIL: u8 = 0x11;
}

/// Why a CARD_DATA payload was refused. Carries tags and offsets, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("CARD_DATA tag 0x{tag:02x} appears twice")]
    DuplicateTag { tag: u8 },
    #[error("CARD_DATA field at offset {offset} runs past the end of the payload")]
    Truncated { offset: usize },
    #[error("CARD_DATA tag 0x{tag:02x} is not valid UTF-8")]
    BadUtf8 { tag: u8 },
    #[error("CARD_DATA lacks required tag 0x{tag:02x}")]
    MissingTag { tag: u8 },
}

/// Parses CARD_DATA's TLV fields. Unknown tags are skipped (newer firmware adds fields);
/// a repeated tag, a field running past the payload, invalid UTF-8 (in any tag, known or
/// not, as the spec says of the whole payload) or a missing required tag refuse it all.
pub fn parse_card_data(payload: &[u8]) -> Result<CardData, TlvError> {
    let mut seen = [false; 256];
    let mut card = CardData::default();
    let mut required = [false; 4];
    let mut at = 0;
    while at < payload.len() {
        if payload.len() - at < 3 {
            return Err(TlvError::Truncated { offset: at });
        }
        let tag = payload[at];
        let len = usize::from(u16::from_be_bytes([payload[at + 1], payload[at + 2]]));
        let value_at = at + 3;
        let Some(value) = payload.get(value_at..value_at + len) else {
            return Err(TlvError::Truncated { offset: at });
        };
        if seen[usize::from(tag)] {
            return Err(TlvError::DuplicateTag { tag });
        }
        seen[usize::from(tag)] = true;
        let text = std::str::from_utf8(value)
            .map_err(|_| TlvError::BadUtf8 { tag })?
            .to_owned();
        match tag {
            tag::NIK => {
                card.nik = text;
                required[0] = true;
            }
            tag::NAME => {
                card.name = text;
                required[1] = true;
            }
            tag::BIRTH_DATE => {
                card.birth_date = text;
                required[2] = true;
            }
            tag::SEX => {
                card.sex = text;
                required[3] = true;
            }
            other => {
                if let Some(slot) = card.optional_mut(other) {
                    *slot = Some(text);
                }
            }
        }
        at = value_at + len;
    }
    let required_tags = [tag::NIK, tag::NAME, tag::BIRTH_DATE, tag::SEX];
    for (present, tag) in required.iter().zip(required_tags) {
        if !present {
            return Err(TlvError::MissingTag { tag });
        }
    }
    Ok(card)
}

/// CARD_DATA's payload for `card`, in tag order, absent optional fields left out. Used by
/// the simulator; the result may exceed [`MAX_PAYLOAD`] for absurd input, which the
/// caller checks. A value longer than a TLV length can say is cut at a character boundary.
pub fn encode_card_data(card: &CardData) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, value) in card.fields() {
        if let Some(value) = value {
            let value = clip_utf8(value, usize::from(u16::MAX));
            out.push(tag);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
    out
}

fn clip_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl CardData {
    /// Every field with its tag, in tag order.
    fn fields(&self) -> [(u8, Option<&str>); 17] {
        fn opt(v: &Option<String>) -> Option<&str> {
            v.as_deref()
        }
        [
            (tag::NIK, Some(self.nik.as_str())),
            (tag::NAME, Some(self.name.as_str())),
            (tag::BIRTH_PLACE, opt(&self.birth_place)),
            (tag::BIRTH_DATE, Some(self.birth_date.as_str())),
            (tag::SEX, Some(self.sex.as_str())),
            (tag::BLOOD_TYPE, opt(&self.blood_type)),
            (tag::ADDRESS, opt(&self.address)),
            (tag::RT_RW, opt(&self.rt_rw)),
            (tag::KELURAHAN, opt(&self.kelurahan)),
            (tag::KECAMATAN, opt(&self.kecamatan)),
            (tag::KABUPATEN, opt(&self.kabupaten)),
            (tag::PROVINSI, opt(&self.provinsi)),
            (tag::RELIGION, opt(&self.religion)),
            (tag::MARITAL_STATUS, opt(&self.marital_status)),
            (tag::OCCUPATION, opt(&self.occupation)),
            (tag::NATIONALITY, opt(&self.nationality)),
            (tag::VALID_UNTIL, opt(&self.valid_until)),
        ]
    }

    fn optional_mut(&mut self, tag: u8) -> Option<&mut Option<String>> {
        Some(match tag {
            tag::BIRTH_PLACE => &mut self.birth_place,
            tag::BLOOD_TYPE => &mut self.blood_type,
            tag::ADDRESS => &mut self.address,
            tag::RT_RW => &mut self.rt_rw,
            tag::KELURAHAN => &mut self.kelurahan,
            tag::KECAMATAN => &mut self.kecamatan,
            tag::KABUPATEN => &mut self.kabupaten,
            tag::PROVINSI => &mut self.provinsi,
            tag::RELIGION => &mut self.religion,
            tag::MARITAL_STATUS => &mut self.marital_status,
            tag::OCCUPATION => &mut self.occupation,
            tag::NATIONALITY => &mut self.nationality,
            tag::VALID_UNTIL => &mut self.valid_until,
            _ => return None,
        })
    }

    /// The NIK as it may be shown or logged: `3171********0003`.
    pub fn masked_nik(&self) -> String {
        crate::domain::nik::mask(&self.nik)
    }
}

impl fmt::Debug for CardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = self.fields().iter().filter(|(_, v)| v.is_some()).count();
        f.debug_struct("CardData")
            .field("nik", &self.masked_nik())
            .field("fields", &present)
            .finish_non_exhaustive()
    }
}

/// The SAM's state as INFO reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamStatus {
    /// `sam=ok`: the reader can authenticate cards.
    Ok,
    /// `sam=missing`: every read will fail with 0x06 until a technician fits one.
    Missing,
    /// No `sam` line or a value the spec does not name: reads will tell.
    Unreported,
}

/// The reader's identity and SAM state from INFO, for the technician and the logs.
///
/// Parsing is lenient on purpose: INFO is diagnostic, and a firmware that leaves out a
/// line or adds one must not take the kiosk out of service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub sam: SamStatus,
}

impl ReaderInfo {
    /// Parses INFO's `key=value` lines (LF or CRLF; blanks and unknown keys ignored;
    /// invalid UTF-8 replaced, since the text only ever reaches a diagnostics page).
    pub fn parse(payload: &[u8]) -> ReaderInfo {
        let text = String::from_utf8_lossy(payload);
        let mut info = ReaderInfo {
            vendor: None,
            model: None,
            firmware: None,
            serial: None,
            sam: SamStatus::Unreported,
        };
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "vendor" => info.vendor = Some(value.to_owned()),
                "model" => info.model = Some(value.to_owned()),
                "firmware" => info.firmware = Some(value.to_owned()),
                "serial" => info.serial = Some(value.to_owned()),
                "sam" => {
                    info.sam = match value {
                        "ok" => SamStatus::Ok,
                        "missing" => SamStatus::Missing,
                        _ => SamStatus::Unreported,
                    }
                }
                _ => {}
            }
        }
        info
    }

    /// INFO's payload, as the simulator sends it.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = String::new();
        let lines = [
            ("vendor", &self.vendor),
            ("model", &self.model),
            ("firmware", &self.firmware),
            ("serial", &self.serial),
        ];
        for (key, value) in lines {
            if let Some(value) = value {
                text.push_str(key);
                text.push('=');
                text.push_str(value);
                text.push('\n');
            }
        }
        match self.sam {
            SamStatus::Ok => text.push_str("sam=ok\n"),
            SamStatus::Missing => text.push_str("sam=missing\n"),
            SamStatus::Unreported => {}
        }
        text.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("test vector is hex"))
            .collect()
    }

    fn siti() -> CardData {
        CardData {
            nik: "3171015708900003".into(),
            name: "SITI AMINAH".into(),
            birth_place: Some("JAKARTA".into()),
            birth_date: "1990-08-17".into(),
            sex: "P".into(),
            ..CardData::default()
        }
    }

    fn card_data_vector() -> Vec<u8> {
        let mut v = hex("02 00 3e 09 92");
        v.extend(hex("01 00 10"));
        v.extend(b"3171015708900003");
        v.extend(hex("02 00 0b"));
        v.extend(b"SITI AMINAH");
        v.extend(hex("03 00 07"));
        v.extend(b"JAKARTA");
        v.extend(hex("04 00 0a"));
        v.extend(b"1990-08-17");
        v.extend(hex("05 00 01"));
        v.extend(b"P");
        v.extend(hex("95 73 03"));
        v
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }

    #[test]
    fn spec_vectors_encode_and_decode() {
        let cases: Vec<(&str, Frame, Vec<u8>)> = vec![
            (
                "PING seq=1",
                Frame::bare(1, cmd::PING),
                hex("02 00 02 01 01 c9 b0 03"),
            ),
            (
                "PONG seq=1",
                Frame::bare(1, cmd::PONG),
                hex("02 00 02 01 81 58 38 03"),
            ),
            (
                "CARD_PRESENT seq=7",
                Frame {
                    seq: 7,
                    cmd: cmd::CARD_PRESENT,
                    payload: hex("04 a1 b2 c3"),
                },
                hex("02 00 06 07 90 04 a1 b2 c3 af cd 03"),
            ),
            (
                "ACK seq=7",
                Frame::bare(7, cmd::ACK),
                hex("02 00 02 07 06 13 f1 03"),
            ),
            (
                "READ_ERROR seq=8",
                Frame {
                    seq: 8,
                    cmd: cmd::READ_ERROR,
                    payload: vec![0x05],
                },
                hex("02 00 03 08 93 05 3e 6c 03"),
            ),
            (
                "CARD_DATA seq=9",
                Frame {
                    seq: 9,
                    cmd: cmd::CARD_DATA,
                    payload: encode_card_data(&siti()),
                },
                card_data_vector(),
            ),
        ];
        for (name, frame, bytes) in cases {
            assert_eq!(encode(&frame), bytes, "{name}: encode");
            let mut decoder = Decoder::new();
            decoder.push(&bytes);
            assert_eq!(decoder.next_frame(), Some(frame), "{name}: decode");
            assert_eq!(decoder.next_frame(), None, "{name}: nothing more");
            assert_eq!(decoder.stats().dropped_bytes, 0, "{name}: nothing dropped");
        }
    }

    #[test]
    fn spec_card_data_vector_parses() {
        let bytes = card_data_vector();
        let mut decoder = Decoder::new();
        decoder.push(&bytes);
        let frame = decoder
            .next_frame()
            .expect("the spec's CARD_DATA frame decodes");
        assert_eq!(parse_card_data(&frame.payload), Ok(siti()));
        assert_eq!(
            ReadErrorCode::from_byte(hex("05")[0]),
            ReadErrorCode::CardRemoved
        );
    }

    /// Bytes fed one at a time, and in every split, give the same frames.
    #[test]
    fn decoder_is_indifferent_to_chunking() {
        let mut line = encode(&Frame::bare(1, cmd::PING));
        line.extend(card_data_vector());
        line.extend(encode(&Frame::bare(7, cmd::ACK)));
        for split in 0..line.len() {
            let mut decoder = Decoder::new();
            decoder.push(&line[..split]);
            let mut frames = Vec::new();
            while let Some(f) = decoder.next_frame() {
                frames.push(f.cmd);
            }
            decoder.push(&line[split..]);
            while let Some(f) = decoder.next_frame() {
                frames.push(f.cmd);
            }
            assert_eq!(
                frames,
                vec![cmd::PING, cmd::CARD_DATA, cmd::ACK],
                "split {split}"
            );
        }
        let mut decoder = Decoder::new();
        let mut count = 0;
        for byte in &line {
            decoder.push(std::slice::from_ref(byte));
            while decoder.next_frame().is_some() {
                count += 1;
            }
        }
        assert_eq!(count, 3);
    }

    /// A line for the decoder: its name, the bytes, the frames expected (seq, cmd), the
    /// bad frames, the dropped bytes and the quiet-line resyncs it counts.
    type ResyncCase = (&'static str, Vec<u8>, Vec<(u8, u8)>, u64, u64, u32);

    /// Each case is fed whole; when the decoder is left waiting on a false start, the
    /// line is taken to go quiet (`resync`), as the serial layer does.
    fn assert_resyncs(cases: Vec<ResyncCase>) {
        for (name, line, want, bad, dropped, resyncs) in cases {
            let mut decoder = Decoder::new();
            decoder.push(&line);
            let mut got = Vec::new();
            let mut quiet = 0;
            loop {
                while let Some(f) = decoder.next_frame() {
                    got.push((f.seq, f.cmd));
                }
                if !decoder.resync() {
                    break;
                }
                quiet += 1;
            }
            assert_eq!(got, want, "{name}: frames");
            assert_eq!(decoder.stats().bad_frames, bad, "{name}: bad frames");
            assert_eq!(decoder.stats().dropped_bytes, dropped, "{name}: dropped");
            assert_eq!(quiet, resyncs, "{name}: quiet-line resyncs");
            assert_eq!(decoder.pending(), 0, "{name}: nothing left over");
        }
    }

    fn ping() -> Vec<u8> {
        encode(&Frame::bare(1, cmd::PING))
    }

    fn ack() -> Vec<u8> {
        encode(&Frame::bare(7, cmd::ACK))
    }

    /// READ_ERROR seq=8: no 0x02 after its STX, so a damaged copy is dropped at once.
    fn read_error() -> Vec<u8> {
        hex("02 00 03 08 93 05 3e 6c 03")
    }

    #[test]
    fn decoder_resyncs_past_noise_and_impossible_lengths() {
        let (ping, ack) = (ping(), ack());
        let cat = |parts: &[&[u8]]| parts.concat();
        assert_resyncs(vec![
            ("clean", cat(&[&ping]), vec![(1, cmd::PING)], 0, 0, 0),
            (
                "noise before and between",
                cat(&[&[0xff, 0x00, 0x55], &ping, &[0x17, 0x03], &ack]),
                vec![(1, cmd::PING), (7, cmd::ACK)],
                0,
                5,
                0,
            ),
            (
                "LEN below 2",
                cat(&[&[STX, 0x00, 0x01], &ack]),
                vec![(7, cmd::ACK)],
                1,
                3,
                0,
            ),
            (
                "LEN above 4098",
                cat(&[&[STX, 0x10, 0x03], &ack]),
                vec![(7, cmd::ACK)],
                1,
                3,
                0,
            ),
        ]);
    }

    #[test]
    fn decoder_resyncs_past_damaged_frames() {
        let (ping, ack) = (ping(), ack());
        let mut bad_crc = read_error();
        bad_crc[7] ^= 0x01;
        let mut no_etx = read_error();
        no_etx[8] = 0x00;
        let cat = |parts: &[&[u8]]| parts.concat();
        assert_resyncs(vec![
            (
                "bad CRC",
                cat(&[&bad_crc, &ack]),
                vec![(7, cmd::ACK)],
                1,
                9,
                0,
            ),
            (
                "missing ETX",
                cat(&[&no_etx, &ack]),
                vec![(7, cmd::ACK)],
                1,
                9,
                0,
            ),
            (
                // The hunt restarts at the byte after the bad STX, so a good frame that
                // starts inside the bad one's span is still found.
                "good frame inside a bad frame's span",
                cat(&[&[STX, 0x00, 0x0a], &ping, &[0u8; 8], &ack]),
                vec![(1, cmd::PING), (7, cmd::ACK)],
                1,
                11,
                0,
            ),
            (
                "STX and ETX inside the payload",
                encode(&Frame {
                    seq: 2,
                    cmd: cmd::INFO,
                    payload: vec![STX, ETX, STX, 0x00, 0x02, ETX],
                }),
                vec![(2, cmd::INFO)],
                0,
                0,
                0,
            ),
        ]);
    }

    #[test]
    fn decoder_resyncs_on_a_quiet_line_after_a_false_start() {
        let (ping, ack) = (ping(), ack());
        let mut bare_bad_crc = ping.clone();
        bare_bad_crc[5] ^= 0x01;
        let cat = |parts: &[&[u8]]| parts.concat();
        assert_resyncs(vec![
            (
                // After the bad STX the hunt lands on LEN's low byte (0x02), which
                // claims 257 bytes: only a quiet line releases the ACK behind it.
                "bad CRC on a bare frame",
                cat(&[&bare_bad_crc, &ack]),
                vec![(7, cmd::ACK)],
                2,
                8,
                1,
            ),
            (
                "a good frame's STX where a bad one's ETX should be",
                cat(&[&[STX, 0x00, 0x02, 0x01, 0x01, 0x00, 0x00], &ping]),
                vec![(1, cmd::PING)],
                2,
                7,
                1,
            ),
        ]);
    }

    #[test]
    fn resync_releases_frames_held_behind_a_false_start() {
        let ack = encode(&Frame::bare(7, cmd::ACK));
        let mut decoder = Decoder::new();
        // A noise STX claiming 4000 bytes, then a real frame: the decoder must wait...
        decoder.push(&[STX, 0x0f, 0xa0]);
        decoder.push(&ack);
        assert_eq!(decoder.next_frame(), None);
        assert_eq!(decoder.pending(), 3 + ack.len());
        // ...until the line goes quiet and the I/O layer gives the false start up.
        assert!(decoder.resync());
        assert_eq!(decoder.next_frame(), Some(Frame::bare(7, cmd::ACK)));
        assert!(!decoder.resync(), "nothing left to give up");
        assert_eq!(decoder.stats().bad_frames, 1);
        assert_eq!(decoder.stats().dropped_bytes, 3);
    }

    #[test]
    fn decoder_memory_is_bounded() {
        let mut decoder = Decoder::new();
        let noise = vec![0x55u8; 1024];
        for _ in 0..1024 {
            decoder.push(&noise);
            assert_eq!(decoder.next_frame(), None);
        }
        assert_eq!(decoder.pending(), 0);
        assert_eq!(decoder.stats().dropped_bytes, 1024 * 1024);
        // A caller that never drains is capped.
        let mut lazy = Decoder::new();
        for _ in 0..200 {
            lazy.push(&noise);
        }
        assert!(lazy.pending() <= DECODER_CAP);
        // A frame split over reads of a long session keeps the buffer small.
        let mut long = Decoder::new();
        let frame = card_data_vector();
        for _ in 0..2000 {
            long.push(&frame[..10]);
            assert_eq!(long.next_frame(), None);
            long.push(&frame[10..]);
            assert!(long.next_frame().is_some());
            assert!(long.buf.len() <= 2 * MAX_FRAME);
        }
    }

    #[test]
    fn largest_frame_round_trips() {
        let frame = Frame {
            seq: 255,
            cmd: cmd::INFO,
            payload: vec![STX; MAX_PAYLOAD],
        };
        let bytes = encode(&frame);
        assert_eq!(bytes.len(), MAX_FRAME);
        let mut decoder = Decoder::new();
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame(), Some(frame));
    }

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    fn required() -> Vec<u8> {
        [
            tlv(tag::NIK, b"3171015708900003"),
            tlv(tag::NAME, b"SITI AMINAH"),
            tlv(tag::BIRTH_DATE, b"1990-08-17"),
            tlv(tag::SEX, b"P"),
        ]
        .concat()
    }

    #[test]
    fn card_data_refusals() {
        let cases: Vec<(&str, Vec<u8>, TlvError)> = vec![
            (
                "duplicate tag",
                [required(), tlv(tag::NAME, b"OTHER")].concat(),
                TlvError::DuplicateTag { tag: tag::NAME },
            ),
            (
                "duplicate unknown tag",
                [required(), tlv(0x40, b"a"), tlv(0x40, b"b")].concat(),
                TlvError::DuplicateTag { tag: 0x40 },
            ),
            (
                "length past the end",
                [required(), vec![tag::ADDRESS, 0x00, 0x05, b'J', b'L']].concat(),
                TlvError::Truncated { offset: 50 },
            ),
            (
                "header cut short",
                [required(), vec![tag::ADDRESS, 0x00]].concat(),
                TlvError::Truncated { offset: 50 },
            ),
            (
                "bad UTF-8",
                [required(), tlv(tag::ADDRESS, &[0x4a, 0xff, 0x4c])].concat(),
                TlvError::BadUtf8 { tag: tag::ADDRESS },
            ),
            (
                "bad UTF-8 in an unknown tag",
                [required(), tlv(0x7f, &[0xc3])].concat(),
                TlvError::BadUtf8 { tag: 0x7f },
            ),
            (
                "missing NIK",
                required()[19..].to_vec(),
                TlvError::MissingTag { tag: tag::NIK },
            ),
            (
                "missing sex",
                required()[..required().len() - 4].to_vec(),
                TlvError::MissingTag { tag: tag::SEX },
            ),
            ("empty", Vec::new(), TlvError::MissingTag { tag: tag::NIK }),
        ];
        for (name, payload, want) in cases {
            assert_eq!(parse_card_data(&payload), Err(want), "{name}");
        }
    }

    #[test]
    fn card_data_accepts_any_order_and_skips_unknown_tags() {
        let mut fields = [
            tlv(0x42, b"future field"),
            tlv(tag::SEX, b"P"),
            tlv(tag::VALID_UNTIL, b"SEUMUR HIDUP"),
            tlv(tag::BIRTH_DATE, b"1990-08-17"),
            tlv(tag::NAME, b"SITI AMINAH"),
            tlv(tag::NIK, b"3171015708900003"),
            tlv(tag::BLOOD_TYPE, b""),
        ];
        fields.reverse();
        let card = parse_card_data(&fields.concat()).expect("valid CARD_DATA");
        assert_eq!(card.nik, "3171015708900003");
        assert_eq!(card.valid_until.as_deref(), Some("SEUMUR HIDUP"));
        assert_eq!(card.blood_type.as_deref(), Some(""));
        assert_eq!(card.address, None);
    }

    #[test]
    fn every_field_round_trips() {
        let full = CardData {
            nik: "7371114510920001".into(),
            name: "ANDI NURHAYATI".into(),
            birth_place: Some("MAKASSAR".into()),
            birth_date: "1992-10-05".into(),
            sex: "P".into(),
            blood_type: Some("AB".into()),
            address: Some("JL. PERINTIS KEMERDEKAAN NO. 12".into()),
            rt_rw: Some("003/005".into()),
            kelurahan: Some("TAMALANREA".into()),
            kecamatan: Some("TAMALANREA".into()),
            kabupaten: Some("KOTA MAKASSAR".into()),
            provinsi: Some("SULAWESI SELATAN".into()),
            religion: Some("ISLAM".into()),
            marital_status: Some("KAWIN".into()),
            occupation: Some("GURU".into()),
            nationality: Some("WNI".into()),
            valid_until: Some("SEUMUR HIDUP".into()),
        };
        assert_eq!(parse_card_data(&encode_card_data(&full)), Ok(full.clone()));
        let tags: Vec<u8> = {
            let bytes = encode_card_data(&full);
            let mut at = 0;
            let mut tags = Vec::new();
            while at < bytes.len() {
                tags.push(bytes[at]);
                at += 3 + usize::from(u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]));
            }
            tags
        };
        assert_eq!(tags, (1..=0x11).collect::<Vec<u8>>());
    }

    #[test]
    fn debug_hides_personal_data() {
        let text = format!("{:?}", siti());
        assert!(text.contains("3171********0003"), "{text}");
        for secret in ["SITI", "AMINAH", "JAKARTA", "1990", "3171015708900003"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }

    #[test]
    fn read_error_codes() {
        let cases = [
            (0x01, ReadErrorCode::NoCard, ReadErrorCode::NoCard),
            (0x02, ReadErrorCode::NotEktp, ReadErrorCode::NotEktp),
            (
                0x03,
                ReadErrorCode::ChipAuthFailed,
                ReadErrorCode::ChipAuthFailed,
            ),
            (0x04, ReadErrorCode::TimedOut, ReadErrorCode::TimedOut),
            (0x05, ReadErrorCode::CardRemoved, ReadErrorCode::CardRemoved),
            (
                0x06,
                ReadErrorCode::SamUnavailable,
                ReadErrorCode::SamUnavailable,
            ),
            (0x00, ReadErrorCode::Unknown(0x00), ReadErrorCode::TimedOut),
            (0x07, ReadErrorCode::Unknown(0x07), ReadErrorCode::TimedOut),
            (0xff, ReadErrorCode::Unknown(0xff), ReadErrorCode::TimedOut),
        ];
        for (byte, code, effective) in cases {
            assert_eq!(ReadErrorCode::from_byte(byte), code, "0x{byte:02x}");
            assert_eq!(code.byte(), byte, "0x{byte:02x} back");
            assert_eq!(code.effective(), effective, "0x{byte:02x} acted on");
        }
    }

    #[test]
    fn info_parsing() {
        let full = ReaderInfo {
            vendor: Some("Mitra Kartu".into()),
            model: Some("MK-700".into()),
            firmware: Some("1.4.2".into()),
            serial: Some("MK7-00031".into()),
            sam: SamStatus::Ok,
        };
        let cases: Vec<(&str, &[u8], ReaderInfo)> = vec![
            (
                "all lines",
                b"vendor=Mitra Kartu\nmodel=MK-700\nfirmware=1.4.2\nserial=MK7-00031\nsam=ok\n",
                full.clone(),
            ),
            (
                "CRLF, spaces, unknown keys, any order",
                b"sam = ok\r\nfuture=1\r\nserial=MK7-00031\r\nfirmware=1.4.2\r\n\r\nmodel=MK-700\r\nvendor=Mitra Kartu",
                full.clone(),
            ),
            (
                "SAM missing",
                b"vendor=X\nsam=missing\n",
                ReaderInfo {
                    vendor: Some("X".into()),
                    model: None,
                    firmware: None,
                    serial: None,
                    sam: SamStatus::Missing,
                },
            ),
            (
                "unknown SAM value and a line without =",
                b"sam=locked\ngarbage\n",
                ReaderInfo {
                    vendor: None,
                    model: None,
                    firmware: None,
                    serial: None,
                    sam: SamStatus::Unreported,
                },
            ),
        ];
        for (name, payload, want) in cases {
            assert_eq!(ReaderInfo::parse(payload), want, "{name}");
        }
        assert_eq!(ReaderInfo::parse(&full.encode()), full);
    }
}
