//! ESC/POS, the thermal printer's byte language: the queue ticket as one print job
//! ([`ticket_job`]) laid out for the printer's head (`super::printer_profile`), the
//! real-time status queries (`DLE EOT n`), the job confirmation (`GS ( H` fn 48,
//! `GS a`), the buffer clear (`DLE DC4` fn 8), and the parsing of what the printer sends
//! back: one-byte status replies, Epson's four-byte automatic status back (ASB), and
//! the `37 22 ... 00` / `37 25 00` answers to the process ID and the clear.
//!
//! Pure: no I/O. Sending the job and reading the replies belongs to
//! `crate::hardware::printer`; signing the QR payload belongs to
//! `crate::protocol::ticket_qr` (the payload arrives here as a finished string).
//!
//! The job is written byte by byte (`ESC @`, `ESC a`, `ESC E`, `ESC -`, `GS !`, `GS B`,
//! `LF`, `GS ( k`, `GS V`), so it cannot fail and every byte is counted: a
//! ticket stays under 1,000 bytes on every head, which keeps its wire time at 9600 baud
//! near its head time. Every text goes through [`printable`] first: the job holds only
//! printable ASCII, which is the same in every code page a kiosk printer may be set to,
//! and no name or office string can smuggle a control byte into the job.

use chrono::NaiveDate;

use super::printer_profile::PrinterProfile;
use super::ticket_words::Labels;
use crate::domain::calendar::SessionName;
use crate::domain::dates::long_date;
use crate::domain::documents;
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason};

/// Why a job could not be laid out or a reply not understood. No variant carries ticket
/// text, so none can leak a name or NIK into a log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EscposError {
    #[error("QR payload of {len} bytes is longer than the {max} bytes a ticket QR may hold")]
    QrTooLong { len: usize, max: usize },
    #[error(
        "byte {byte:#04x} is not a DLE EOT status reply (pattern 0xx1xx10); \
         the device may not be an ESC/POS printer, or the baud rate is wrong"
    )]
    NotAStatusReply { byte: u8 },
    #[error("bytes {bytes:02x?} are not an automatic status back (ASB) block")]
    NotAnAutoStatus { bytes: [u8; 4] },
}

/// Everything printed on one applicant's queue ticket. Its `Debug` leaves the name out,
/// so a ticket in a log line carries no personal data beyond the masked NIK.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket's labels follow it (`id` default, `en`).
    pub language: Language,
    pub office_name: String,
    /// The office's street address, from the kiosk's configuration (`[offices.ID]`);
    /// none printed when it gives none.
    pub office_address: Option<String>,
    /// The office's opening hours, as the configuration words them.
    pub office_hours: Option<String>,
    /// `R-021` (regular) or `P-003` (priority).
    pub queue_number: String,
    /// Printed reversed (white on black) so the guard at the door sees it at a glance.
    pub priority: bool,
    /// Why the booking is priority, printed under the mark with what the officer checks.
    pub priority_reason: Option<PriorityReason>,
    pub visit_date: NaiveDate,
    /// The service's id (`S1`): in the QR, never printed as the session's name.
    pub session_id: String,
    /// `Sesi 1 (pagi) 08.00-10.00 WIB` (`Office::session_name`); `None` for a session
    /// the kiosk's office list no longer has, printed then by its id alone.
    pub session: Option<SessionName>,
    /// `None` for a child whose name was not typed: the officer fills it in from the KK.
    pub name: Option<String>,
    /// A child (`Applicant::is_child`): the name line and the documents say so.
    pub child: bool,
    /// `3171********0003`: the full NIK never reaches paper.
    pub masked_nik: String,
    /// What was applied for; `None` on a reprint of a booking made at another kiosk,
    /// whose record the service returns without it: the line and the documents then
    /// are not printed (the original ticket has them).
    pub application_type: Option<ApplicationType>,
    pub passport_type: Option<PassportType>,
    /// Applicants in the family group.
    pub group_size: u8,
    /// This applicant's place in the group, from 1.
    pub group_index: u8,
    /// Short code the counter can type when the QR will not scan, e.g. `7F3C-21A9`.
    pub booking_code: String,
    /// `APM1.<claims>.<sig>`, see the ticket QR spec.
    pub qr_payload: String,
    /// A reprint: marked SALINAN / COPY so two tickets for one booking are told apart.
    pub copy: bool,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("language", &self.language)
            .field("office_name", &self.office_name)
            .field("queue_number", &self.queue_number)
            .field("priority", &self.priority)
            .field("priority_reason", &self.priority_reason)
            .field("visit_date", &self.visit_date)
            .field("session_id", &self.session_id)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("child", &self.child)
            .field("masked_nik", &self.masked_nik)
            .field(
                "group",
                &format_args!("{}/{}", self.group_index, self.group_size),
            )
            .field("booking_code", &self.booking_code)
            .field("copy", &self.copy)
            .finish_non_exhaustive()
    }
}

/// The paper widths, at home with the printers' table; here too, where every layout
/// names them.
pub use super::printer_profile::PaperWidth;

/// A ticket QR larger than this is a bug upstream: at level M it would need version 26
/// or more, too dense to scan reliably from thermal paper at 4 dots a module.
pub const MAX_QR_PAYLOAD: usize = 1000;

/// A print job: its bytes, and how much paper it feeds, in dots of the head it was laid
/// out for (the head time the printer needs for it: `PrinterProfile::head_time`). It
/// reads as its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Job {
    pub bytes: Vec<u8>,
    pub length_dots: u32,
}

impl std::ops::Deref for Job {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<PaperWidth> for PrinterProfile {
    /// The generic printer of that paper.
    fn from(paper: PaperWidth) -> PrinterProfile {
        PrinterProfile::generic(paper)
    }
}

impl From<&PrinterProfile> for PrinterProfile {
    fn from(profile: &PrinterProfile) -> PrinterProfile {
        *profile
    }
}

/// The ticket as one print job laid out for the printer's head: initialise, lay out,
/// print the QR with the printer's own `GS ( k` command (or, on a printer without it,
/// the booking code in large type), feed past the cutter and cut.
///
/// Should the payload be too long for a QR, the applicant still gets [`fallback_job`]:
/// queue number, date, session and booking code as plain text, with which the counter
/// can find the booking.
pub fn ticket_job(ticket: &Ticket, head: impl Into<PrinterProfile>) -> Job {
    let head = head.into();
    try_ticket_job(ticket, head).unwrap_or_else(|_| fallback_job(ticket, head))
}

/// [`ticket_job`], reporting instead of falling back.
pub fn try_ticket_job(
    ticket: &Ticket,
    head: impl Into<PrinterProfile>,
) -> Result<Job, EscposError> {
    if ticket.qr_payload.len() > MAX_QR_PAYLOAD {
        return Err(EscposError::QrTooLong {
            len: ticket.qr_payload.len(),
            max: MAX_QR_PAYLOAD,
        });
    }
    Ok(layout(ticket, &head.into()))
}

/// The plain-text ticket of last resort, a [`text_job`].
pub fn fallback_job(ticket: &Ticket, head: impl Into<PrinterProfile>) -> Job {
    let labels = Labels::of(ticket.language);
    let queue = format!("{}: {}", labels.queue_number, ticket.queue_number);
    let date = long_date(ticket.visit_date, ticket.language);
    let session = session_line(ticket, &labels);
    let code = format!("{}: {}", labels.booking_code, ticket.booking_code);
    text_job(
        &[
            ticket.office_name.as_str(),
            labels.free,
            &queue,
            &date,
            &session,
            &code,
            labels.qr_unavailable,
        ],
        head,
    )
}

/// `ESC @` (initialise), `ESC a 1` (centre): the start of a [`text_job`]. No code page
/// is selected: the job holds only printable ASCII, the same in all of them.
const TEXT_START: [u8; 5] = [0x1b, b'@', 0x1b, b'a', 1];
/// `GS V A 120`: feed to the cutter and four lines (120 dots) more, and cut: its end.
/// One command where `ESC d 4` and `GS V A 0` took seven bytes.
const FEED_AND_CUT: [u8; 4] = [0x1d, b'V', b'A', 4 * LINE_SPACING as u8];

/// A job of plain text: each line made [`printable`], wrapped to the head and centred,
/// then fed past the cutter and cut. It cannot fail; the fallback ticket and the
/// technician's test page are made with it.
pub fn text_job<S: AsRef<str>>(lines: &[S], head: impl Into<PrinterProfile>) -> Job {
    let cols = head.into().columns();
    let mut job = Builder::new();
    job.cmd(&TEXT_START[2..]);
    for text in lines {
        for l in wrap(&printable(text.as_ref()), cols) {
            job.line(&l);
        }
    }
    job.cut()
}

/// Default line spacing of ESC/POS printers (`ESC 2`): 30 dots, the 24-dot font A and
/// six dots between lines.
pub const LINE_SPACING: u32 = 30;
/// Font A's height.
const FONT_A_HEIGHT: u32 = 24;

/// A job being written: its bytes, and the paper fed so far, as the head feeds it (a
/// line feeds its tallest character or the line spacing, whichever is more).
struct Builder {
    bytes: Vec<u8>,
    length: u32,
    /// The tallest character on the line being assembled, 0 while it is empty.
    line_height: u32,
    /// The height multiplier in force (`GS !`).
    height: u32,
}

impl Builder {
    /// A job that starts with `ESC @`.
    fn new() -> Builder {
        Builder {
            bytes: vec![0x1b, b'@'],
            length: 0,
            line_height: 0,
            height: 1,
        }
    }

    fn cmd(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Text already [`printable`] and short enough for the line.
    fn text(&mut self, text: &str) {
        if !text.is_empty() {
            self.line_height = self.line_height.max(FONT_A_HEIGHT * self.height);
        }
        self.bytes.extend_from_slice(text.as_bytes());
    }

    /// `LF`: print the line and feed.
    fn lf(&mut self) {
        self.bytes.push(b'\n');
        self.length += self.line_height.max(LINE_SPACING);
        self.line_height = 0;
    }

    fn line(&mut self, text: &str) {
        self.text(text);
        self.lf();
    }

    /// `GS !`: width and height multipliers, 1 to 8.
    fn size(&mut self, width: u8, height: u8) {
        let (w, h) = (width.clamp(1, 8), height.clamp(1, 8));
        self.cmd(&[0x1d, b'!', ((w - 1) << 4) | (h - 1)]);
        self.height = u32::from(h);
    }

    fn bold(&mut self, on: bool) {
        self.cmd(&[0x1b, b'E', u8::from(on)]);
    }

    /// `ESC !`: bold, double width and double height in one command, which also ends
    /// any `GS !` size (the later of the two holds).
    fn mode(&mut self, bold: bool, double_width: bool, double_height: bool) {
        let n =
            (u8::from(bold) << 3) | (u8::from(double_height) << 4) | (u8::from(double_width) << 5);
        self.cmd(&[0x1b, b'!', n]);
        self.height = 1 + u32::from(double_height);
    }

    fn reverse(&mut self, on: bool) {
        self.cmd(&[0x1d, b'B', u8::from(on)]);
    }

    /// `ESC a`: 0 left, 1 centre.
    fn justify(&mut self, n: u8) {
        self.cmd(&[0x1b, b'a', n]);
    }

    /// The QR symbol with the printer's own command: `module` dots a module, level M,
    /// the payload stored, then printed. Model 2 is the default of every printer that
    /// knows `GS ( k`, so it is not selected.
    fn qr(&mut self, payload: &str, module: u8) {
        let k = |p: &[u8]| {
            let len = p.len() as u16;
            let mut c = vec![0x1d, b'(', b'k', (len & 0xff) as u8, (len >> 8) as u8];
            c.extend_from_slice(p);
            c
        };
        let mut store = vec![49, 80, 48];
        store.extend_from_slice(payload.as_bytes());
        for c in [
            k(&[49, 67, module]),
            k(&[49, 69, 49]),
            k(&store),
            k(&[49, 81, 48]),
        ] {
            self.cmd(&c);
        }
        self.length += qr_modules(payload.len()) * u32::from(module);
    }

    /// Fed past the cutter and cut: the finished job.
    fn cut(mut self) -> Job {
        self.cmd(&FEED_AND_CUT);
        self.length += self.line_height.max(LINE_SPACING) + 3 * LINE_SPACING;
        Job {
            bytes: self.bytes,
            length_dots: self.length,
        }
    }
}

/// Bytes a QR symbol holds at level M in byte mode, by version (1 to 26): the smallest
/// version that holds a payload gives the symbol's size.
const QR_BYTES_AT_M: [usize; 26] = [
    14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
    711, 779, 857, 911, 997, 1059,
];

/// Modules on a side of the QR of a `len`-byte payload at level M.
fn qr_modules(len: usize) -> u32 {
    let version = QR_BYTES_AT_M
        .iter()
        .position(|&cap| cap >= len)
        .unwrap_or(QR_BYTES_AT_M.len() - 1)
        + 1;
    17 + 4 * version as u32
}

/// QR module size in dots: the largest, up to 6, that keeps the symbol and a quiet zone
/// of four modules a side inside the head's width.
fn qr_module(dots: u32, payload_len: usize) -> u8 {
    (dots / (qr_modules(payload_len) + 8)).clamp(1, 6) as u8
}

/// The ticket, top to bottom: the office (name, address, hours), the GRATIS line, the
/// number and the visit (with why it is priority), the applicant's fields, the
/// documents to bring, the QR; then the cut.
///
/// Where the bytes go, worst case (`tests::a_ticket_is_at_most_1000_bytes_on_every_head`):
/// the QR's commands and signed payload some 340, the office with its address and
/// hours some 140, the applicant's fields some 150, the documents some 140. To make
/// room for the address, hours, GRATIS line and priority reason, the ticket prints no
/// title line (the number's label says what it is), no caption under the QR (the
/// officer knows it), no separate group line (`(1/3)` follows the booking code), no
/// rule, and no issuing kiosk and time: they are in the signed QR (`k`, `t`), which
/// the officer's checker shows, and in the kiosk's store.
fn layout(t: &Ticket, head: &PrinterProfile) -> Job {
    let labels = Labels::of(t.language);
    let cols = head.columns();
    let mut j = Builder::new();
    j.justify(1);
    heading(&mut j, t, &labels, cols);
    number_and_visit(&mut j, t, &labels, head);
    applicant_fields(&mut j, t, &labels, cols);
    j.lf();
    documents_to_bring(&mut j, t, &labels, cols);
    j.justify(1);
    if head.qr {
        qr_block(&mut j, t, head);
    } else {
        code_block(&mut j, t, &labels, cols);
    }
    j.cut()
}

/// Centred: the office in bold with its address and hours where the configuration
/// gives them, on a reprint the copy mark, and the GRATIS line at double height, so
/// that nobody pays a tout for a ticket. (No title line: the number's label says what
/// the ticket is, and the bytes go to what the applicant needs.)
fn heading(j: &mut Builder, t: &Ticket, labels: &Labels, cols: usize) {
    j.bold(true);
    wrapped(j, &t.office_name, cols);
    j.bold(false);
    if let Some(address) = &t.office_address {
        wrapped(j, address, cols);
    }
    if let Some(hours) = &t.office_hours {
        wrapped(j, &format!("{} {hours}", labels.open), cols);
    }
    if t.copy {
        // Double size and framed by asterisks, not reversed: reversed means priority.
        j.mode(true, true, true);
        j.line(&format!("*{}*", labels.copy));
    }
    j.mode(true, false, true);
    wrapped(j, labels.free, cols);
    j.mode(false, false, false);
    j.lf();
}

/// Each line of `text`, made [`printable`] and wrapped to `cols`.
fn wrapped(j: &mut Builder, text: &str, cols: usize) {
    for l in wrap(&printable(text), cols) {
        j.line(&l);
    }
}

/// The queue number as large as the head allows, up to four times (reversed for
/// priority, with the word under it and then why), then the visit's date and session
/// at double height.
fn number_and_visit(j: &mut Builder, t: &Ticket, labels: &Labels, head: &PrinterProfile) {
    j.line(labels.queue_number);
    let number = if t.priority {
        format!(" {} ", printable(&t.queue_number))
    } else {
        printable(&t.queue_number)
    };
    // 4 x 4 is 48 x 96 dots a character: ` P-003 ` takes 336 dots, which fits even the
    // 360 dots of a TM-T88 on 58 mm paper; a longer number gets a smaller size.
    let fit = head.dots / (12 * number.len().max(1) as u32);
    let scale = fit.clamp(1, 4) as u8;
    j.size(scale, scale);
    j.bold(true);
    if t.priority {
        j.reverse(true);
        j.line(&number);
        j.mode(true, true, false);
        j.line(&format!(" {} ", labels.priority));
        j.reverse(false);
    } else {
        j.line(&number);
    }
    j.mode(true, false, true);
    let cols = head.columns();
    wrapped(j, &long_date(t.visit_date, t.language), cols);
    session_lines(j, t, labels, cols);
    j.mode(false, false, false);
    if let Some(reason) = t.priority_reason.filter(|_| t.priority) {
        wrapped(j, labels.priority_reason(reason), cols);
    }
    j.lf();
}

/// Left-aligned, label and value: who (for a child without a typed name, that the
/// officer fills it in), what they applied for, the group, and the booking code in bold.
fn applicant_fields(j: &mut Builder, t: &Ticket, labels: &Labels, cols: usize) {
    j.justify(0);
    // `ESC D`: one tab stop, where the values start.
    j.cmd(&[0x1b, b'D', LABEL_COLS as u8, 0]);
    let name = match &t.name {
        Some(name) => name.as_str(),
        None if t.child => labels.name_from_kk,
        None => "-",
    };
    let application = match (t.application_type, t.passport_type) {
        (Some(a), Some(p)) => Some(format!(
            "{}, {}",
            labels.application_type(a),
            labels.passport_type(p)
        )),
        _ => None,
    };
    let fields = [(labels.name, name), ("NIK", t.masked_nik.as_str())]
        .into_iter()
        .chain(application.as_deref().map(|a| (labels.application, a)));
    for (label, value) in fields {
        for l in field_lines(label, value, cols) {
            j.line(&l);
        }
    }
    // The group's code, and which of the group this is, on a line of its own under its
    // label (`Kode pendaftaran` is wider than the tab stop): `7F3C-21A9 (1/3)`.
    let code = format!("{} ({}/{})", t.booking_code, t.group_index, t.group_size);
    j.line(&format!("{}:", labels.booking_code));
    j.bold(true);
    for l in wrap(&printable(&code), cols) {
        j.line(&l);
    }
    j.bold(false);
}

/// What to bring, one bullet each: `domain::documents`' list for this applicant, the
/// one the done page shows.
fn documents_to_bring(j: &mut Builder, t: &Ticket, labels: &Labels, cols: usize) {
    let Some(application_type) = t.application_type else {
        return;
    };
    j.bold(true);
    j.line(labels.bring);
    j.bold(false);
    for doc in documents::to_bring(application_type, t.child) {
        for l in bullet_lines(labels.document(doc), cols) {
            j.line(&l);
        }
    }
    j.lf();
}

/// Centred: the QR, with no caption (the officer knows it; the bytes go to what the
/// applicant needs). The printer draws the symbol without a quiet zone: the blank line
/// above gives it five modules or more, the feed below the same.
fn qr_block(j: &mut Builder, t: &Ticket, head: &PrinterProfile) {
    j.qr(&t.qr_payload, qr_module(head.dots, t.qr_payload.len()));
    j.lf();
}

/// On a printer without a QR command: the booking code in large type, and what to do
/// with it. (A QR drawn as an image would be some 20 KB a ticket.)
fn code_block(j: &mut Builder, t: &Ticket, labels: &Labels, cols: usize) {
    wrapped(j, labels.qr_unavailable, cols);
    j.size(2, 2);
    j.bold(true);
    wrapped(j, &t.booking_code, cols / 2);
    j.size(1, 1);
    j.bold(false);
}

/// The session on one line where it fits, else its name over its hours
/// (`Session 1 (morning)` / `08:00-10:00 WIB`), never a zone alone on a line.
fn session_lines(j: &mut Builder, t: &Ticket, labels: &Labels, cols: usize) {
    let whole = session_line(t, labels);
    match &t.session {
        Some(name) if whole.len() > cols => {
            wrapped(j, &name.title(t.language), cols);
            wrapped(j, &name.hours(t.language), cols);
        }
        _ => wrapped(j, &whole, cols),
    }
}

/// `Sesi 1 (pagi) 08.00-10.00 WIB`; a session the office list no longer has, by its id.
fn session_line(t: &Ticket, labels: &Labels) -> String {
    printable(&match &t.session {
        Some(name) => name.label(t.language),
        None => format!("{} {}", labels.session, t.session_id),
    })
}
/// Where a field's value starts: the longest label beside its value, `Paspor` /
/// `Passport` or `Nama`, well within 12 characters, then the colon and a space.
const LABEL_COLS: usize = 14;

/// `Label:<HT>value`, the value at the tab stop ([`LABEL_COLS`]) and wrapped under
/// itself when it is long: a tab where the padding would be a dozen spaces.
fn field_lines(label: &str, value: &str, cols: usize) -> Vec<String> {
    let room = cols.saturating_sub(LABEL_COLS).max(8);
    wrap(&printable(value), room)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{label}:\t{l}")
            } else {
                format!("\t{l}")
            }
        })
        .collect()
}

fn bullet_lines(text: &str, cols: usize) -> Vec<String> {
    wrap(text, cols.saturating_sub(2).max(8))
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("- {l}")
            } else {
                format!("  {l}")
            }
        })
        .collect()
}

/// Word-wraps at `cols`; a word longer than a line is cut, as the printer would.
pub fn wrap(text: &str, cols: usize) -> Vec<String> {
    let cols = cols.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= cols {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let rest = word.split_off(cols);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text as the printer can print it: printable ASCII only. Punctuation that code pages
/// lack becomes its ASCII look-alike (the en dash of `08.00–10.00` becomes `-`), Latin
/// letters lose their accents, control characters become spaces (a name must never
/// inject a command), and anything else becomes `?`.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => out.push('\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => out.push('"'),
            '\u{2026}' => out.push_str("..."),
            '\u{a0}' | '\u{2000}'..='\u{200a}' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => match fold_latin(c) {
                Some(s) => out.push_str(s),
                None => out.push('?'),
            },
        }
    }
    out
}

/// Latin letters with diacritics to their base letters (Latin-1 and the common ones of
/// Latin Extended-A), as they appear in names transcribed from other languages.
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Č' => "C",
        'ç' | 'ć' | 'č' => "c",
        'Ð' | 'Ď' => "D",
        'ð' | 'ď' => "d",
        'È'..='Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'Ğ' => "G",
        'ğ' => "g",
        'Ì'..='Ï' | 'Ī' | 'İ' => "I",
        'ì'..='ï' | 'ī' | 'ı' => "i",
        'Ł' => "L",
        'ł' => "l",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ñ' | 'ń' | 'ň' => "n",
        'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ř' => "R",
        'ř' => "r",
        'Ś' | 'Ş' | 'Š' => "S",
        'ś' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'Ť' | 'Ţ' => "T",
        'ť' | 'ţ' => "t",
        'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ù'..='ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ý' | 'Ÿ' => "Y",
        'ý' | 'ÿ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        'Þ' => "Th",
        'þ' => "th",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------
// Status

const DLE: u8 = 0x10;
const EOT: u8 = 0x04;
const XON: u8 = 0x11;
const XOFF: u8 = 0x13;

/// The four `DLE EOT n` real-time status queries every ESC/POS printer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusQuery {
    /// n = 1: online or offline.
    Printer,
    /// n = 2: why offline: cover, paper end, error.
    OfflineCause,
    /// n = 3: which error.
    ErrorCause,
    /// n = 4: roll paper near-end and end sensors.
    PaperSensor,
}

impl StatusQuery {
    pub const ALL: [StatusQuery; 4] = [
        StatusQuery::Printer,
        StatusQuery::OfflineCause,
        StatusQuery::ErrorCause,
        StatusQuery::PaperSensor,
    ];

    pub fn n(self) -> u8 {
        match self {
            StatusQuery::Printer => 1,
            StatusQuery::OfflineCause => 2,
            StatusQuery::ErrorCause => 3,
            StatusQuery::PaperSensor => 4,
        }
    }

    pub fn from_n(n: u8) -> Option<StatusQuery> {
        StatusQuery::ALL.into_iter().find(|q| q.n() == n)
    }

    /// `DLE EOT n` as Epson documents it: three bytes. (The escpos crate appends a
    /// fourth, `00`; printers take that for a NUL in the data and ignore it.)
    pub fn bytes(self) -> [u8; 3] {
        [DLE, EOT, self.n()]
    }
}

/// What the status bytes say, combined over the four queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrinterStatus {
    pub online: bool,
    pub cover_open: bool,
    /// The paper end sensor sees no paper, or printing stopped for it.
    pub paper_out: bool,
    /// The near-end sensor fired: a few metres are left.
    pub paper_near_end: bool,
    /// Any error: cutter jam, head overheated, mechanical.
    pub error: bool,
}

impl PrinterStatus {
    /// A printer with nothing to report.
    pub const READY: PrinterStatus = PrinterStatus {
        online: true,
        cover_open: false,
        paper_out: false,
        paper_near_end: false,
        error: false,
    };
}

impl Default for PrinterStatus {
    fn default() -> Self {
        PrinterStatus::READY
    }
}

/// Fixed bits of a `DLE EOT` reply: bit 0 off, bit 1 on, bit 4 on, bit 7 off.
const REPLY_MASK: u8 = 0b1001_0011;
const REPLY_FIXED: u8 = 0b0001_0010;
/// Fixed bits of the first ASB byte: bits 0, 1 and 7 off, bit 4 on.
const ASB_FIRST_FIXED: u8 = 0b0001_0000;
/// Fixed bits of ASB bytes 2 to 4: bits 4 and 7 off.
const ASB_REST_MASK: u8 = 0b1001_0000;

pub fn is_status_reply(byte: u8) -> bool {
    byte & REPLY_MASK == REPLY_FIXED
}

fn is_asb_first(byte: u8) -> bool {
    byte & REPLY_MASK == ASB_FIRST_FIXED
}

/// Folds one `DLE EOT n` reply into `status`. Each query's reply only speaks about its
/// own bits, so the four replies are folded into one status in any order.
pub fn apply_reply(
    status: &mut PrinterStatus,
    query: StatusQuery,
    byte: u8,
) -> Result<(), EscposError> {
    if !is_status_reply(byte) {
        return Err(EscposError::NotAStatusReply { byte });
    }
    let bit = |n: u8| byte & (1 << n) != 0;
    match query {
        StatusQuery::Printer => status.online = !bit(3),
        StatusQuery::OfflineCause => {
            status.cover_open = bit(2);
            status.paper_out |= bit(5);
            status.error |= bit(6);
        }
        StatusQuery::ErrorCause => status.error |= bit(2) || bit(3) || bit(5) || bit(6),
        StatusQuery::PaperSensor => {
            status.paper_near_end = bit(2) || bit(3);
            status.paper_out |= bit(5) || bit(6);
        }
    }
    Ok(())
}

/// The status the four replies describe.
pub fn status_from_replies(replies: &[(StatusQuery, u8)]) -> Result<PrinterStatus, EscposError> {
    let mut status = PrinterStatus::READY;
    for &(query, byte) in replies {
        apply_reply(&mut status, query, byte)?;
    }
    Ok(status)
}

/// The byte a printer in `status` answers to `query`: what the simulated printer sends.
/// A printer with its cover open or out of paper is offline, as on Epson printers.
pub fn reply_byte(query: StatusQuery, status: &PrinterStatus) -> u8 {
    let on = |cond: bool, mask: u8| if cond { mask } else { 0 };
    let offline = !status.online || status.cover_open || status.paper_out || status.error;
    REPLY_FIXED
        | match query {
            StatusQuery::Printer => on(offline, 0x08),
            StatusQuery::OfflineCause => {
                on(status.cover_open, 0x04) | on(status.paper_out, 0x20) | on(status.error, 0x40)
            }
            // A single "recoverable error" bit: the simulator knows no finer cause.
            StatusQuery::ErrorCause => on(status.error, 0x04),
            StatusQuery::PaperSensor => {
                on(status.paper_near_end, 0x0c) | on(status.paper_out, 0x60)
            }
        }
}

/// Parses an automatic status back block (`GS a n` enables it).
pub fn parse_auto_status(bytes: [u8; 4]) -> Result<PrinterStatus, EscposError> {
    if !is_asb_first(bytes[0]) || bytes[1..].iter().any(|b| b & ASB_REST_MASK != 0) {
        return Err(EscposError::NotAnAutoStatus { bytes });
    }
    let [first, second, third, _] = bytes;
    Ok(PrinterStatus {
        online: first & 0x08 == 0,
        cover_open: first & 0x20 != 0,
        // Second byte: bit 2 mechanical, 3 auto-cutter, 5 unrecoverable, 6 auto-recoverable.
        error: second & 0b0110_1100 != 0,
        paper_near_end: third & 0x03 != 0,
        paper_out: third & 0x0c != 0,
    })
}

/// The four ASB bytes a printer in `status` sends.
pub fn auto_status_bytes(status: &PrinterStatus) -> [u8; 4] {
    let on = |cond: bool, mask: u8| if cond { mask } else { 0 };
    let offline = !status.online || status.cover_open || status.paper_out || status.error;
    [
        ASB_FIRST_FIXED | on(offline, 0x08) | on(status.cover_open, 0x20),
        on(status.error, 0x04),
        on(status.paper_near_end, 0x03) | on(status.paper_out, 0x0c),
        0,
    ]
}

// ---------------------------------------------------------------------------------
// Confirmation and buffer clear

/// `GS ( H pL pH fn m`, fn = 48, m = 48, four bytes of ID to follow: "transmit the
/// process ID response", which the printer sends once it has processed (printed)
/// everything received before it.
const PROCESS_ID_HEAD: [u8; 7] = [0x1d, b'(', b'H', 6, 0, 48, 48];
/// The header of the printer's block replies, and their identifiers.
const BLOCK_HEADER: u8 = 0x37;
const PROCESS_ID_REPLY: u8 = 0x22;
const CLEAR_REPLY: u8 = 0x25;

/// `DLE DC4` fn 8 with its fixed bytes `1 3 20 1 6 2 8`: clears the receive and print
/// buffers in real time, so the tail of a job cut short never prints; answered
/// `37 25 00`.
pub const BUFFER_CLEAR: [u8; 10] = [0x10, 0x14, 0x08, 1, 3, 20, 1, 6, 2, 8];

/// `GS a n`, n = 0x0e: automatic status back on a change of the online state
/// (bit 1), of an error (bit 2) and of the roll paper sensors (bit 3).
pub const AUTO_STATUS_ON: [u8; 3] = [0x1d, b'a', 0x0e];
/// `GS a 0`: automatic status back off again.
pub const AUTO_STATUS_OFF: [u8; 3] = [0x1d, b'a', 0];

/// A process ID: four ASCII digits, as `GS ( H` carries them and its reply echoes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId(pub [u8; 4]);

impl ProcessId {
    /// The ID of job `n`, as four digits (`0042`); wraps at 10,000.
    pub fn of(n: u32) -> ProcessId {
        let n = n % 10_000;
        let digit = |d: u32| b'0' + ((n / d) % 10) as u8;
        ProcessId([digit(1000), digit(100), digit(10), digit(1)])
    }

    /// `GS ( H` fn 48 with this ID: eleven bytes, sent after the job.
    pub fn request(self) -> [u8; 11] {
        let mut r = [0u8; 11];
        r[..7].copy_from_slice(&PROCESS_ID_HEAD);
        r[7..].copy_from_slice(&self.0);
        r
    }

    /// The ID of a `GS ( H` fn 48 request at the start of `bytes` (what the simulated
    /// printer reads); `None` for anything else.
    pub fn parse_request(bytes: &[u8]) -> Option<ProcessId> {
        let id = bytes.strip_prefix(&PROCESS_ID_HEAD)?.get(..4)?;
        Some(ProcessId([id[0], id[1], id[2], id[3]]))
    }

    /// The printer's reply: `37 22 d1 d2 d3 d4 00`.
    pub fn reply(self) -> [u8; 7] {
        let [a, b, c, d] = self.0;
        [BLOCK_HEADER, PROCESS_ID_REPLY, a, b, c, d, 0]
    }
}

/// The printer's reply to [`BUFFER_CLEAR`].
pub const BUFFER_CLEARED: [u8; 3] = [BLOCK_HEADER, CLEAR_REPLY, 0];

/// The port status byte of the USB printer class (IEEE 1284 GET_PORT_STATUS, what
/// Linux's `LPGETSTATUS` returns for `/dev/usb/lp*`): bit 5 paper empty, bit 4 selected
/// (online), bit 3 *not* error. It says nothing of the cover or the near-end sensor.
pub fn lp_port_status(byte: u8) -> PrinterStatus {
    let paper_out = byte & 0x20 != 0;
    let error = byte & 0x08 == 0;
    PrinterStatus {
        online: byte & 0x10 != 0 && !paper_out && !error,
        cover_open: false,
        paper_out,
        paper_near_end: false,
        error,
    }
}

/// One thing a printer sent, told apart by the fixed bits of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A `DLE EOT` reply (pattern `0xx1xx10`).
    StatusReply(u8),
    /// An automatic status back block (first byte `0xx1xx00`, three more `0xx0xxxx`).
    AutoStatus([u8; 4]),
    /// The answer to `GS ( H` fn 48: everything sent before it is printed.
    Processed(ProcessId),
    /// The answer to `DLE DC4` fn 8: the buffers are empty.
    BufferCleared,
    /// XON or XOFF of software flow control.
    FlowControl(u8),
    /// Anything else (`GS I`, `GS r` replies, line noise): skipped.
    Other(u8),
}

/// Takes the first thing out of `buf`: `Some((what, bytes used))`, or `None` when `buf`
/// is empty or holds the start of a block whose rest has not arrived yet. An XOFF
/// inside a block is flow control, not status, and is skipped as Epson specifies.
pub fn next_incoming(buf: &[u8]) -> Option<(Incoming, usize)> {
    let &first = buf.first()?;
    if first == XON || first == XOFF {
        return Some((Incoming::FlowControl(first), 1));
    }
    if is_status_reply(first) {
        return Some((Incoming::StatusReply(first), 1));
    }
    if first == BLOCK_HEADER {
        return block_reply(buf);
    }
    if !is_asb_first(first) {
        return Some((Incoming::Other(first), 1));
    }
    let (block, used) = gather::<4>(buf, |b| b & ASB_REST_MASK == 0)?;
    match block {
        Some(block) => Some((Incoming::AutoStatus(block), used)),
        // Not an ASB block after all: give up on the first byte alone.
        None => Some((Incoming::Other(first), 1)),
    }
}

/// The first `N` bytes of `buf` that are not XOFF, each after the first passing `fits`:
/// `None` while they have not all arrived, `Some((None, _))` at the first that does not
/// fit, else the block and the bytes it took.
fn gather<const N: usize>(
    buf: &[u8],
    fits: impl Fn(u8) -> bool,
) -> Option<(Option<[u8; N]>, usize)> {
    let mut block = [0u8; N];
    let mut filled = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i > 0 && b == XOFF {
            continue;
        }
        if i > 0 && !fits(b) {
            return Some((None, 0));
        }
        block[filled] = b;
        filled += 1;
        if filled == N {
            return Some((Some(block), i + 1));
        }
    }
    None
}

/// A block that starts `37`: the process ID reply `37 22 d1 d2 d3 d4 00` or the clear
/// reply `37 25 00`.
fn block_reply(buf: &[u8]) -> Option<(Incoming, usize)> {
    let other = Some((Incoming::Other(BLOCK_HEADER), 1));
    let second = buf.iter().skip(1).find(|&&b| b != XOFF)?;
    match *second {
        PROCESS_ID_REPLY => match gather::<7>(buf, |b| b < 0x80)? {
            (Some([_, _, a, b, c, d, 0]), used) => {
                Some((Incoming::Processed(ProcessId([a, b, c, d])), used))
            }
            _ => other,
        },
        CLEAR_REPLY => match gather::<3>(buf, |b| b < 0x80)? {
            (Some([_, _, 0]), used) => Some((Incoming::BufferCleared, used)),
            _ => other,
        },
        _ => other,
    }
}

/// The test page's bytes: plain lines centred, fed and cut, as the fallback ticket is
/// built, so that it cannot fail to build.
pub fn test_page_job(lines: &[String], head: impl Into<PrinterProfile>) -> Job {
    let head = head.into();
    // A ruler the width of the head: a missing column shows at once.
    let ruler: String = (0..head.columns())
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    let page: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .chain([ruler.as_str()])
        .collect();
    text_job(&page, head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            language: Language::Id,
            office_name: "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun".into(),
            office_address: Some("Jl. Jend. Sudirman No. 1, Tg. Balai Karimun".into()),
            office_hours: Some("Senin-Jumat 08.00-15.00 WIB".into()),
            queue_number: "R-021".into(),
            priority: false,
            priority_reason: None,
            visit_date: NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid date"),
            session_id: "S1".into(),
            session: crate::domain::calendar::example_office().session_name("S1"),
            name: Some("SITI AMINAH".into()),
            child: false,
            masked_nik: "3171********0003".into(),
            application_type: Some(ApplicationType::Replacement),
            passport_type: Some(PassportType::Electronic),
            group_size: 3,
            group_index: 1,
            booking_code: "7F3C-21A9".into(),
            qr_payload: format!("APM1.{}.{}", "e".repeat(230), "s".repeat(86)),
            copy: false,
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn debug_output_leaves_the_name_out() {
        let text = format!("{:?}", ticket());
        assert!(!text.contains("SITI"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("R-021"),
            "{text}"
        );
    }

    #[test]
    fn printable_keeps_ascii_and_folds_the_rest() {
        let cases = [
            ("R-021", "R-021"),
            ("08.00\u{2013}10.00", "08.00-10.00"),
            ("Jos\u{e9} \u{c7}ak\u{131}r", "Jose Cakir"),
            (
                "\u{201c}A\u{201d} \u{2018}b\u{2019}\u{2026}",
                "\"A\" 'b'...",
            ),
            ("ab\x1b@\x1dV\ncd", "ab @ V cd"),
            ("\u{4e2d}\u{6587}", "??"),
            ("Stra\u{df}e", "Strasse"),
            ("a\u{a0}b", "a b"),
        ];
        for (input, want) in cases {
            assert_eq!(printable(input), want, "{input:?}");
        }
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        let cases: [(&str, usize, &[&str]); 5] = [
            (
                "Kantor Imigrasi Jakarta",
                10,
                &["Kantor", "Imigrasi", "Jakarta"],
            ),
            ("Kantor Imigrasi Jakarta", 40, &["Kantor Imigrasi Jakarta"]),
            ("ABCDEFGHIJKL", 5, &["ABCDE", "FGHIJ", "KL"]),
            ("", 5, &[""]),
            ("a  b", 5, &["a b"]),
        ];
        for (text, cols, want) in cases {
            assert_eq!(wrap(text, cols), want, "{text:?} at {cols}");
        }
    }

    #[test]
    fn ticket_job_is_ascii_commands_and_text_in_both_languages() {
        for (language, title, date) in [
            (
                Language::Id,
                &b"NOMOR ANTREAN"[..],
                &b"Selasa, 24 November 2026"[..],
            ),
            (Language::En, b"QUEUE NUMBER", b"Tuesday, 24 November 2026"),
        ] {
            for width in [PaperWidth::Mm80, PaperWidth::Mm58] {
                let t = Ticket {
                    language,
                    ..ticket()
                };
                let job = try_ticket_job(&t, width).expect("the ticket lays out");
                assert!(job.starts_with(&[0x1b, b'@']), "starts with ESC @");
                assert!(job.ends_with(&FEED_AND_CUT), "ends with a cut");
                assert!(contains(&job, title), "{language:?} title");
                assert!(contains(&job, date), "{language:?} date");
                assert!(contains(&job, b"3171********0003"));
                assert!(contains(&job, b"7F3C-21A9"));
                assert!(contains(&job, b"1/3"));
                assert!(!contains(&job, "\u{2013}".as_bytes()), "no en dash");
                // 7-bit only, but for the underline bit of `ESC !`.
                assert!(
                    job.windows(2).all(|w| w[1] < 0x80 || w == [b'!', 0x80]),
                    "7-bit only"
                );
            }
        }
    }

    /// The text a job prints, its lines joined by spaces: what a reader of the paper
    /// sees, whatever the head's wrapping.
    fn printed_text(job: &[u8], payload: &str) -> String {
        printed_lines(job, payload)
            .into_iter()
            .map(|(l, _)| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_ticket_says_where_when_free_and_by_session_number() {
        for width in PaperWidth::ALL {
            for (language, words) in [
                (
                    Language::Id,
                    [
                        "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun",
                        "Buka Senin-Jumat 08.00-15.00 WIB",
                        "GRATIS, tidak untuk diperjualbelikan",
                        "Sesi 1 (pagi) 08.00-10.00 WIB",
                    ],
                ),
                (
                    Language::En,
                    [
                        "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun",
                        "Open Senin-Jumat 08.00-15.00 WIB",
                        "FREE, not for sale",
                        "Session 1 (morning) 08:00-10:00 WIB",
                    ],
                ),
            ] {
                let t = Ticket {
                    language,
                    ..ticket()
                };
                let text = printed_text(&ticket_job(&t, width), &t.qr_payload);
                for w in words {
                    assert!(text.contains(w), "{w:?} on {width:?}: {text}");
                }
                assert!(!text.contains("S1"), "the raw session id is not printed");
                // The GRATIS line at double height, bold.
                assert!(contains(
                    &ticket_job(&t, width),
                    &[&[0x1b, b'!', 0x18][..], &words[2].as_bytes()[..5]].concat()
                ));
            }
        }
        // No address or hours configured: none printed, nothing made up.
        let bare = Ticket {
            office_address: None,
            office_hours: None,
            ..ticket()
        };
        let text = printed_text(&ticket_job(&bare, PaperWidth::Mm80), &bare.qr_payload);
        assert!(!text.contains("Buka") && !text.contains("Jl."), "{text}");
        // A session the office list no longer has is named by its id alone.
        let gone = Ticket {
            session: None,
            ..ticket()
        };
        let text = printed_text(&ticket_job(&gone, PaperWidth::Mm80), &gone.qr_payload);
        assert!(text.contains("Sesi S1"), "{text}");
    }

    #[test]
    fn a_priority_ticket_says_why_and_what_the_officer_checks() {
        let cases = [
            (
                PriorityReason::Elderly,
                "Lansia 60+: petugas memeriksa umur di e-KTP.",
            ),
            (
                PriorityReason::ChildUnder5,
                "Balita: petugas memeriksa umur di akta lahir.",
            ),
            (
                PriorityReason::Pregnant,
                "Ibu hamil: petugas memeriksa surat dokter/bidan.",
            ),
            (
                PriorityReason::Disabled,
                "Disabilitas: petugas memeriksa kartu/tanda disabilitas.",
            ),
        ];
        for (reason, words) in cases {
            let t = Ticket {
                priority: true,
                priority_reason: Some(reason),
                queue_number: "P-003".into(),
                ..ticket()
            };
            for width in PaperWidth::ALL {
                let text = printed_text(&ticket_job(&t, width), &t.qr_payload);
                assert!(text.contains(words), "{reason:?} on {width:?}: {text}");
            }
            let en = Ticket {
                language: Language::En,
                ..t
            };
            let text = printed_text(&ticket_job(&en, PaperWidth::Mm80), &en.qr_payload);
            assert!(text.contains("the officer checks"), "{text}");
        }
        // A regular ticket says nothing of a reason.
        let regular = printed_text(&ticket_job(&ticket(), PaperWidth::Mm80), "-");
        assert!(!regular.contains("petugas memeriksa"), "{regular}");
    }

    #[test]
    fn a_childs_ticket_is_worded_for_a_child() {
        let child = Ticket {
            child: true,
            name: None,
            application_type: Some(ApplicationType::New),
            ..ticket()
        };
        for width in PaperWidth::ALL {
            let text = printed_text(&ticket_job(&child, width), &child.qr_payload);
            assert!(text.contains("Nama: (diisi petugas dari KK)"), "{text}");
            assert!(text.contains("- e-KTP ayah & ibu"), "{text}");
            assert!(text.contains("- Akta lahir anak"), "{text}");
            assert!(
                !text.contains("- e-KTP -"),
                "no e-KTP of the child's own: {text}"
            );
            assert!(!text.contains("Nama: -"), "{text}");
        }
        let named = Ticket {
            name: Some("PUTRI AMINAH".into()),
            language: Language::En,
            ..child.clone()
        };
        let text = printed_text(&ticket_job(&named, PaperWidth::Mm58), &named.qr_payload);
        assert!(text.contains("Name: PUTRI AMINAH"), "{text}");
        assert!(text.contains("- Both parents' e-KTP"), "{text}");
        assert!(!text.contains("officer fills in"), "{text}");
        // An adult without a name (an old booking) still prints a dash, not the
        // child's line.
        let adult = Ticket {
            name: None,
            ..ticket()
        };
        let text = printed_text(&ticket_job(&adult, PaperWidth::Mm80), &adult.qr_payload);
        assert!(text.contains("Nama: -"), "{text}");
    }

    #[test]
    fn the_tickets_documents_are_the_domains_list() {
        for application in ApplicationType::ALL {
            for child in [false, true] {
                for language in [Language::Id, Language::En] {
                    let t = Ticket {
                        application_type: Some(application),
                        child,
                        language,
                        ..ticket()
                    };
                    let labels = Labels::of(language);
                    let text = printed_text(&ticket_job(&t, PaperWidth::Mm80), &t.qr_payload);
                    let listed: String = documents::to_bring(application, child)
                        .into_iter()
                        .map(|d| format!("- {}", labels.document(d)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    assert!(
                        text.contains(&format!("{} {listed}", labels.bring)),
                        "{application:?} child {child}: {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn ticket_job_prints_the_qr_natively_at_the_papers_module_size() {
        for (width, module) in [(PaperWidth::Mm80, 6u8), (PaperWidth::Mm58, 4)] {
            let t = ticket();
            let job = ticket_job(&t, width);
            let mut store = vec![0x1d, b'(', b'k'];
            let len = t.qr_payload.len() + 3;
            store.extend_from_slice(&[(len % 256) as u8, (len / 256) as u8, 49, 80, 48]);
            store.extend_from_slice(t.qr_payload.as_bytes());
            assert!(contains(&job, &store), "QR store command");
            assert!(
                contains(&job, &[0x1d, b'(', b'k', 3, 0, 49, 81, 48]),
                "QR print"
            );
            assert!(contains(&job, &[0x1d, b'(', b'k', 3, 0, 49, 67, module]));
            assert!(
                contains(&job, &[0x1d, b'(', b'k', 3, 0, 49, 69, 49]),
                "level M"
            );
        }
    }

    #[test]
    fn ticket_variants_show_in_the_job() {
        let reversed_on = [0x1d, b'B', 1];
        let regular = ticket_job(&ticket(), PaperWidth::Mm80);
        assert!(!contains(&regular, &reversed_on));
        assert!(!contains(&regular, b"SALINAN"));
        assert!(contains(&regular, b"Paspor lama"));

        let priority = Ticket {
            priority: true,
            queue_number: "P-003".into(),
            copy: true,
            application_type: Some(ApplicationType::Lost),
            name: None,
            ..ticket()
        };
        let job = ticket_job(&priority, PaperWidth::Mm58);
        assert!(contains(&job, &reversed_on));
        assert!(contains(&job, b" P-003 "));
        assert!(contains(&job, b"PRIORITAS"));
        assert!(contains(&job, b"*SALINAN*"));
        assert!(contains(&job, b"Surat hilang dari Polisi"));
        assert!(!contains(&job, b"Paspor lama"));

        let new = Ticket {
            application_type: Some(ApplicationType::New),
            language: Language::En,
            copy: true,
            ..ticket()
        };
        let job = ticket_job(&new, PaperWidth::Mm80);
        assert!(contains(&job, b"*COPY*"));
        assert!(!contains(&job, b"Old passport"));
    }

    /// Every profile of the table on each paper it takes.
    fn profiles() -> Vec<PrinterProfile> {
        use crate::protocol::printer_profile::PrinterModel;
        PrinterModel::ALL
            .into_iter()
            .flat_map(|m| {
                PaperWidth::ALL
                    .into_iter()
                    .filter(move |&p| m.takes(p))
                    .map(move |p| PrinterProfile::of(m, p))
            })
            .collect()
    }

    /// The longest fields a real ticket carries: the longest office name of the
    /// immigration offices with an address and hours as long as the configuration
    /// takes (in words, so they wrap as real ones do), a name of the KTP's most (60),
    /// the longest application type's documents, a four-digit queue number, a long
    /// kiosk id, the last of a group of five, and an APM2 payload signed over claims
    /// of their longest.
    fn longest(language: Language, priority: bool, copy: bool) -> Ticket {
        use crate::domain::calendar::OfficeDetails;
        use crate::protocol::ticket_qr::{Claims, nik_check, sign};
        let registration_id = "0193a4f2-7b3c-7000-8a00-000000000001";
        let queue = if priority { "P-1234" } else { "R-1234" };
        let claims = Claims {
            r: registration_id.into(),
            k: "KRM-KIOSK-12".into(),
            o: "JKT-SELATAN".into(),
            d: NaiveDate::from_ymd_opt(2026, 9, 30).expect("valid date"),
            s: "S12".into(),
            q: queue.into(),
            n: nik_check(
                &crate::protocol::central::Key32([7; 32]),
                registration_id,
                "3171014708900003",
            ),
            t: 1_795_000_000,
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]);
        let words = |n: usize| {
            let mut text = "Jl. Warung Buncit Raya No. 207, Mampang Prapatan".repeat(3);
            text.truncate(n);
            text
        };
        let mut session = crate::domain::calendar::example_office()
            .session_name("S3")
            .expect("S3");
        session.number = 12;
        Ticket {
            language,
            office_name: "Kantor Imigrasi Kelas I Khusus Non TPI Jakarta Selatan".into(),
            office_address: Some(words(OfficeDetails::MAX_ADDRESS)),
            office_hours: Some(words(OfficeDetails::MAX_HOURS)),
            queue_number: queue.into(),
            priority,
            priority_reason: priority.then_some(PriorityReason::Disabled),
            visit_date: claims.d,
            session_id: "S12".into(),
            session: Some(session),
            name: Some(longest_name()),
            application_type: Some(ApplicationType::Lost),
            passport_type: Some(PassportType::Regular48),
            group_size: 5,
            group_index: 5,
            qr_payload: sign(&claims, &key),
            copy,
            ..ticket()
        }
    }

    /// A name of the most characters a KTP carries, in words that wrap as a real one's.
    fn longest_name() -> String {
        let mut name =
            "MUHAMMAD ABDURRAHMAN WAHYUDI SUSILO BAMBANG PRAKOSO PUTRA SETIAWAN".to_owned();
        // `flow::card::NAME_MAX`: Dukcapil's 60.
        name.truncate(60);
        name
    }

    /// Every ticket [`longest`] can be: regular, each priority reason, a child with a
    /// typed name and one without, COPY or not.
    fn worst_cases(language: Language) -> Vec<Ticket> {
        let mut cases = Vec::new();
        for copy in [false, true] {
            cases.push(longest(language, false, copy));
            for reason in [
                PriorityReason::Elderly,
                PriorityReason::Disabled,
                PriorityReason::Pregnant,
                PriorityReason::ChildUnder5,
            ] {
                cases.push(Ticket {
                    priority_reason: Some(reason),
                    ..longest(language, true, copy)
                });
            }
            for name in [None, longest(language, false, copy).name] {
                cases.push(Ticket {
                    child: true,
                    name,
                    priority_reason: Some(PriorityReason::ChildUnder5),
                    ..longest(language, true, copy)
                });
            }
        }
        cases
    }

    /// The printed text of a job: its runs of printable bytes between command bytes,
    /// the QR payload and command parameters cut out, each with the width multiplier
    /// (`GS !`) in force.
    fn printed_lines(job: &[u8], payload: &str) -> Vec<(String, usize)> {
        // A head without a QR command is sent no payload.
        let at = job
            .windows(payload.len())
            .position(|w| w == payload.as_bytes())
            .unwrap_or(job.len());
        let mut bytes = job[..at].to_vec();
        bytes.extend_from_slice(job.get(at + payload.len()..).unwrap_or_default());
        let mut lines = Vec::new();
        let (mut run, mut width, mut i) = (String::new(), 1usize, 0);
        while i < bytes.len() {
            match bytes[i] {
                0x1b | 0x1d => {
                    i += command(&bytes[i..], &mut width);
                    continue;
                }
                b'\n' => lines.push((std::mem::take(&mut run), width)),
                b'\t' => {
                    while run.len() < LABEL_COLS {
                        run.push(' ');
                    }
                }
                b => run.push(char::from(b)),
            }
            i += 1;
        }
        lines
    }

    /// The length of the command at the start of `bytes`, following the width
    /// multiplier it sets. Every command of the ticket is three bytes but these.
    fn command(bytes: &[u8], width: &mut usize) -> usize {
        match (bytes[0], bytes[1]) {
            (0x1d, b'!') => *width = usize::from(bytes[2] >> 4) + 1,
            (0x1b, b'!') => *width = 1 + usize::from(bytes[2] & 0x20 != 0),
            _ => {}
        }
        match (bytes[0], bytes[1]) {
            // The store's payload is already cut out.
            (0x1d, b'(') if bytes[6] == 80 => 8,
            (0x1d, b'(') => 5 + usize::from(bytes[3]),
            (0x1d, b'V') | (0x1b, b'D') => 4,
            (0x1b, b'@') => 2,
            _ => 3,
        }
    }

    #[test]
    fn no_printed_line_is_wider_than_any_head() {
        for head in profiles() {
            for language in [Language::Id, Language::En] {
                for t in worst_cases(language) {
                    let job = ticket_job(&t, head);
                    for (line, width) in printed_lines(&job, &t.qr_payload) {
                        assert!(
                            line.len() * width * 12 <= head.dots as usize,
                            "{line:?} at {width}x is wider than {} dots ({:?})",
                            head.dots,
                            head.model
                        );
                    }
                }
            }
        }
    }

    /// The budget: every job at most 1,000 bytes, so its wire time at 9600 baud stays
    /// near its head time. Fails with the case that went over.
    #[test]
    fn a_ticket_is_at_most_1000_bytes_on_every_head() {
        let mut largest = (0, String::new());
        for head in profiles() {
            for language in [Language::Id, Language::En] {
                for t in worst_cases(language) {
                    let job = ticket_job(&t, head);
                    let case = format!(
                        "{:?} {:?} {language:?}, priority {:?}, child {}, named {}, copy {}",
                        head.model,
                        head.paper,
                        t.priority_reason,
                        t.child,
                        t.name.is_some(),
                        t.copy
                    );
                    assert!(job.len() <= 1000, "{} bytes on {case}", job.len());
                    if job.len() > largest.0 {
                        largest = (job.len(), case);
                    }
                }
            }
        }
        println!("largest ticket job: {} bytes ({})", largest.0, largest.1);
        assert!(
            largest.0 > 800,
            "the longest fields are in the job: {largest:?}"
        );
    }

    #[test]
    fn the_job_knows_its_length_on_paper() {
        let t = ticket();
        let short = text_job(&["one"], PaperWidth::Mm80);
        // One line, then the feed of four lines to the cutter.
        assert_eq!(short.length_dots, 5 * LINE_SPACING);
        let job = ticket_job(&t, PaperWidth::Mm80);
        // The QR alone (v13, 69 modules of 6 dots) is 414 dots.
        assert!(
            job.length_dots > 414 + 25 * LINE_SPACING,
            "{}",
            job.length_dots
        );
        let copy = ticket_job(&Ticket { copy: true, ..t }, PaperWidth::Mm80);
        assert_eq!(
            copy.length_dots,
            job.length_dots + 48,
            "the COPY line is 48 dots"
        );
    }

    #[test]
    fn a_head_without_qr_gets_the_booking_code_large() {
        use crate::protocol::printer_profile::PrinterModel;
        let head = PrinterProfile::of(PrinterModel::TmT88iii, PaperWidth::Mm80);
        let t = ticket();
        let job = ticket_job(&t, head);
        assert!(!contains(&job, &[0x1d, b'(', b'k']), "no QR command");
        assert!(!contains(&job, t.qr_payload.as_bytes()));
        assert!(contains(&job, &[0x1d, b'!', 0x11, 0x1b, b'E', 1]));
        assert!(contains(&job, b"7F3C-21A9"));
        assert!(contains(&job, b"Kode QR tidak tersedia"));
    }

    #[test]
    fn a_text_job_is_initialised_wrapped_centred_and_cut() {
        let long = "kata ".repeat(20);
        for width in PaperWidth::ALL {
            let job = text_job(&["TEST\u{7}PAGE", long.as_str()], width);
            assert!(job.starts_with(&TEXT_START), "{width:?}");
            assert!(job.ends_with(&FEED_AND_CUT), "{width:?}");
            let text = &job[TEXT_START.len()..job.len() - FEED_AND_CUT.len()];
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            assert_eq!(lines[0], b"TEST PAGE", "no control byte gets through");
            assert!(lines.len() > 3, "the long line wraps on {width:?}");
            assert!(lines.iter().all(|l| l.len() <= width.columns()));
            assert!(
                text.iter()
                    .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
            );
        }
        assert_eq!(
            text_job::<&str>(&[], PaperWidth::Mm58).bytes,
            [&TEXT_START[..], &FEED_AND_CUT[..]].concat()
        );
    }

    #[test]
    fn too_long_a_payload_falls_back_to_plain_text() {
        let t = Ticket {
            qr_payload: "x".repeat(MAX_QR_PAYLOAD + 1),
            ..ticket()
        };
        assert_eq!(
            try_ticket_job(&t, PaperWidth::Mm80),
            Err(EscposError::QrTooLong {
                len: MAX_QR_PAYLOAD + 1,
                max: MAX_QR_PAYLOAD
            })
        );
        let job = ticket_job(&t, PaperWidth::Mm80);
        assert_eq!(job, fallback_job(&t, PaperWidth::Mm80));
        assert!(contains(&job, b"R-021"));
        assert!(contains(&job, b"7F3C-21A9"));
        assert!(!contains(&job, &[0x1d, b'(', b'k']));
    }

    #[test]
    fn process_id_and_buffer_clear_are_epsons_bytes() {
        let id = ProcessId::of(42);
        assert_eq!(id, ProcessId(*b"0042"));
        assert_eq!(ProcessId::of(10_007), ProcessId(*b"0007"));
        assert_eq!(
            id.request(),
            [
                0x1d, 0x28, 0x48, 0x06, 0x00, 0x30, 0x30, b'0', b'0', b'4', b'2'
            ]
        );
        assert_eq!(ProcessId::parse_request(&id.request()), Some(id));
        assert_eq!(ProcessId::parse_request(&id.request()[..9]), None);
        assert_eq!(id.reply(), [0x37, 0x22, b'0', b'0', b'4', b'2', 0x00]);
        assert_eq!(
            next_incoming(&id.reply()),
            Some((Incoming::Processed(id), 7))
        );
        assert_eq!(
            BUFFER_CLEAR,
            [0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08]
        );
        assert_eq!(
            next_incoming(&BUFFER_CLEARED),
            Some((Incoming::BufferCleared, 3))
        );
    }

    #[test]
    fn usb_port_status_bytes_read_as_the_printer_class_defines_them() {
        let ready = PrinterStatus::READY;
        let cases = [
            // Selected, no error: ready.
            (0x18, ready),
            (
                0x38,
                PrinterStatus {
                    online: false,
                    paper_out: true,
                    ..ready
                },
            ),
            (
                0x10,
                PrinterStatus {
                    online: false,
                    error: true,
                    ..ready
                },
            ),
            (
                0x08,
                PrinterStatus {
                    online: false,
                    ..ready
                },
            ),
        ];
        for (byte, want) in cases {
            assert_eq!(lp_port_status(byte), want, "{byte:#04x}");
        }
    }

    #[test]
    fn status_queries_are_epsons_three_bytes() {
        let cases = [
            (StatusQuery::Printer, [0x10, 0x04, 1]),
            (StatusQuery::OfflineCause, [0x10, 0x04, 2]),
            (StatusQuery::ErrorCause, [0x10, 0x04, 3]),
            (StatusQuery::PaperSensor, [0x10, 0x04, 4]),
        ];
        for (query, bytes) in cases {
            assert_eq!(query.bytes(), bytes);
            assert_eq!(StatusQuery::from_n(query.n()), Some(query));
        }
        assert_eq!(StatusQuery::from_n(0), None);
        assert_eq!(StatusQuery::from_n(5), None);
    }

    #[test]
    fn status_replies_parse_bit_by_bit() {
        use StatusQuery::*;
        let ready = PrinterStatus::READY;
        let cases: [(&[(StatusQuery, u8)], PrinterStatus); 9] = [
            (
                &[
                    (Printer, 0x12),
                    (OfflineCause, 0x12),
                    (ErrorCause, 0x12),
                    (PaperSensor, 0x12),
                ],
                ready,
            ),
            // Printer n=1 bit 3: offline.
            (
                &[(Printer, 0x1a)],
                PrinterStatus {
                    online: false,
                    ..ready
                },
            ),
            // Paper feed button (bit 6) and drawer (bit 2) mean nothing to the kiosk.
            (&[(Printer, 0x56)], ready),
            (
                &[(Printer, 0x1a), (OfflineCause, 0x16)],
                PrinterStatus {
                    online: false,
                    cover_open: true,
                    ..ready
                },
            ),
            (
                &[(Printer, 0x1a), (OfflineCause, 0x32)],
                PrinterStatus {
                    online: false,
                    paper_out: true,
                    ..ready
                },
            ),
            (
                &[(OfflineCause, 0x52)],
                PrinterStatus {
                    error: true,
                    ..ready
                },
            ),
            (
                &[(ErrorCause, 0x1a)],
                PrinterStatus {
                    error: true,
                    ..ready
                },
            ),
            (
                &[(PaperSensor, 0x1e)],
                PrinterStatus {
                    paper_near_end: true,
                    ..ready
                },
            ),
            (
                &[(PaperSensor, 0x7e)],
                PrinterStatus {
                    paper_near_end: true,
                    paper_out: true,
                    ..ready
                },
            ),
        ];
        for (replies, want) in cases {
            assert_eq!(status_from_replies(replies), Ok(want), "{replies:02x?}");
        }
    }

    #[test]
    fn bytes_without_the_reply_pattern_are_refused() {
        for byte in [0x00, 0x10, 0x13, 0x11, 0x92, 0x1b, 0xff, 0x02] {
            assert_eq!(
                status_from_replies(&[(StatusQuery::Printer, byte)]),
                Err(EscposError::NotAStatusReply { byte }),
                "{byte:#04x}"
            );
        }
    }

    #[test]
    fn simulated_replies_read_back_as_the_status_they_encode() {
        let ready = PrinterStatus::READY;
        let cases = [
            ready,
            PrinterStatus {
                paper_near_end: true,
                ..ready
            },
            PrinterStatus {
                online: false,
                paper_out: true,
                ..ready
            },
            PrinterStatus {
                online: false,
                cover_open: true,
                ..ready
            },
            PrinterStatus {
                online: false,
                error: true,
                ..ready
            },
            PrinterStatus {
                online: false,
                ..ready
            },
        ];
        for status in cases {
            let replies: Vec<_> = StatusQuery::ALL
                .iter()
                .map(|&q| (q, reply_byte(q, &status)))
                .collect();
            assert_eq!(status_from_replies(&replies), Ok(status));
            assert_eq!(parse_auto_status(auto_status_bytes(&status)), Ok(status));
        }
    }

    #[test]
    fn automatic_status_back_parses_and_checks_its_fixed_bits() {
        let ready = PrinterStatus::READY;
        let cases: [([u8; 4], Result<PrinterStatus, EscposError>); 6] = [
            ([0x10, 0, 0, 0], Ok(ready)),
            (
                [0x38, 0, 0x0c, 0],
                Ok(PrinterStatus {
                    online: false,
                    cover_open: true,
                    paper_out: true,
                    ..ready
                }),
            ),
            (
                [0x18, 0x08, 0, 0],
                Ok(PrinterStatus {
                    online: false,
                    error: true,
                    ..ready
                }),
            ),
            (
                [0x10, 0, 0x03, 0],
                Ok(PrinterStatus {
                    paper_near_end: true,
                    ..ready
                }),
            ),
            (
                [0x12, 0, 0, 0],
                Err(EscposError::NotAnAutoStatus {
                    bytes: [0x12, 0, 0, 0],
                }),
            ),
            (
                [0x10, 0x10, 0, 0],
                Err(EscposError::NotAnAutoStatus {
                    bytes: [0x10, 0x10, 0, 0],
                }),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_auto_status(bytes), want, "{bytes:02x?}");
        }
    }

    /// Bytes received, and what comes first out of them.
    type IncomingCase = (&'static [u8], Option<(Incoming, usize)>);

    #[test]
    fn incoming_bytes_are_told_apart() {
        let cases: [IncomingCase; 17] = [
            // The process ID reply, whole, cut by an XOFF, not yet complete, malformed.
            (
                &[0x37, 0x22, b'0', b'0', b'4', b'2', 0x00, 0x12],
                Some((Incoming::Processed(ProcessId(*b"0042")), 7)),
            ),
            (
                &[0x37, 0x22, b'0', 0x13, b'0', b'4', b'2', 0x00],
                Some((Incoming::Processed(ProcessId(*b"0042")), 8)),
            ),
            (&[0x37, 0x22, b'0', b'0'], None),
            (
                &[0x37, 0x22, b'0', b'0', b'4', b'2', b'x'],
                Some((Incoming::Other(0x37), 1)),
            ),
            // The clear reply, and a 37 with another identifier.
            (&[0x37, 0x25, 0x00], Some((Incoming::BufferCleared, 3))),
            (&[0x37], None),
            (&[0x37, 0x41, 0x00], Some((Incoming::Other(0x37), 1))),
            (&[], None),
            (&[0x12], Some((Incoming::StatusReply(0x12), 1))),
            (&[0x1a, 0x10], Some((Incoming::StatusReply(0x1a), 1))),
            (
                &[0x10, 0x00, 0x0c, 0x00, 0x12],
                Some((Incoming::AutoStatus([0x10, 0, 0x0c, 0]), 4)),
            ),
            // XOFF inside an ASB block is flow control, skipped.
            (
                &[0x18, 0x13, 0x00, 0x00, 0x00],
                Some((Incoming::AutoStatus([0x18, 0, 0, 0]), 5)),
            ),
            // An ASB block not yet complete: wait for the rest.
            (&[0x10, 0x00], None),
            (&[0x13], Some((Incoming::FlowControl(0x13), 1))),
            (&[0x11, 0x12], Some((Incoming::FlowControl(0x11), 1))),
            (&[0x10, 0x80, 0, 0], Some((Incoming::Other(0x10), 1))),
            (&[0x00], Some((Incoming::Other(0x00), 1))),
        ];
        for (buf, want) in cases {
            assert_eq!(next_incoming(buf), want, "{buf:02x?}");
        }
    }
}

#[cfg(test)]
mod test_page_tests {
    use super::*;

    #[test]
    fn the_test_page_fits_the_paper_and_is_cut() {
        for width in [PaperWidth::Mm58, PaperWidth::Mm80] {
            let job = test_page_job(&["APM KIOSK - TEST PAGE".into(), "x".repeat(100)], width);
            assert!(job.starts_with(&[0x1b, b'@']));
            assert!(job.ends_with(&FEED_AND_CUT));
            let text = String::from_utf8_lossy(&job);
            for line in text.split('\n').skip(1) {
                assert!(line.len() <= width.columns() + 8, "{line}");
            }
            assert!(text.contains(&"0123456789".repeat(width.columns() / 10)));
        }
    }
}
