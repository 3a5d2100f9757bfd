//! The virtual printer's mechanism: an ESC/POS interpreter that turns bytes into
//! 1-bit bitmaps, one per cut, as a 203 dpi thermal printer would lay them out. Pure:
//! it reads no file and writes none; [`Bitmap::to_png`] gives bytes the caller stores.
//! The simulator in `sim.rs` feeds it what arrives on its pseudo-terminal;
//! [`render_job`] renders a job kept in a file.
//!
//! Understood: text (code page 437), `LF`, `HT`, `ESC @`, `ESC !`, `GS !`, `ESC a`,
//! `ESC E` / `ESC G`, `ESC -`, `GS B`, `ESC M`, `ESC d`, `ESC J`, `ESC 2` / `ESC 3`,
//! `ESC D` tab stops, `GS ( k` QR (rendered with the `qrcode` crate at the module size
//! sent), `GS v 0` raster images, `GS V` cuts, and `DLE EOT n` / `GS a n` / `GS ( H`
//! fn 48, which it reports as events for the simulator to answer. It executes one
//! command at a time ([`Interpreter::step`]) and says how much paper each fed, so that
//! the simulator can pace it at a head's speed; the paper running out stops it with the
//! rest of the job still in its buffer, as a real printer keeps it. Other commands are skipped by their length so that their
//! parameters never print as text; what it cannot size is skipped two bytes at a time.
//!
//! Font A is a 12 x 24 dot cell, font B 9 x 17, both drawn with DejaVu Sans Mono (and
//! its bold for emphasis), embedded from `hardware/printer/fonts/`.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, point};
use qrcode::{EcLevel, QrCode};

use crate::protocol::escpos::{LINE_SPACING, ProcessId};
use crate::protocol::printer_profile::PrinterProfile;

/// Why a bitmap could not become a PNG.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// A printed piece of paper, one bit a dot.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitmap {
    width: u32,
    height: u32,
    /// Row-major, `true` where the head burnt a dot.
    dark: Vec<bool>,
    /// The printed lines as text, in order (a QR symbol as `[QR]`, a raster image as
    /// `[IMAGE]`): what tests and
    /// tools read to know what a ticket says without reading pixels.
    lines: Vec<String>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap({}x{})", self.width, self.height)
    }
}

impl Bitmap {
    fn new(width: u32) -> Bitmap {
        Bitmap {
            width,
            height: 0,
            dark: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The text printed on the paper, a line for each line that carried characters
    /// (blank feeds leave none), trailing spaces cut.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.dark[(y * self.width + x) as usize]
    }

    /// Dark dots in the rectangle `[x0, x1) x [y0, y1)`.
    pub fn dark_in(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
        (y0..y1.min(self.height))
            .flat_map(|y| (x0..x1.min(self.width)).map(move |x| (x, y)))
            .filter(|&(x, y)| self.is_dark(x, y))
            .count()
    }

    fn grow_to(&mut self, height: u32) {
        if height > self.height {
            self.height = height;
            self.dark.resize((self.width * height) as usize, false);
        }
    }

    fn set(&mut self, x: i64, y: i64, dark: bool) {
        if x < 0 || y < 0 || x >= i64::from(self.width) {
            return;
        }
        let (x, y) = (x as u32, y as u32);
        self.grow_to(y + 1);
        self.dark[(y * self.width + x) as usize] = dark;
    }

    fn fill(&mut self, x0: i64, y0: i64, w: u32, h: u32, dark: bool) {
        for y in y0..y0 + i64::from(h) {
            for x in x0..x0 + i64::from(w) {
                self.set(x, y, dark);
            }
        }
    }

    /// A 1-bit greyscale PNG, black on white.
    pub fn to_png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height.max(1));
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header()?;
        let row_bytes = self.width.div_ceil(8) as usize;
        let mut data = vec![0xffu8; row_bytes * self.height.max(1) as usize];
        for y in 0..self.height {
            for x in 0..self.width {
                if self.is_dark(x, y) {
                    data[y as usize * row_bytes + (x / 8) as usize] &= !(0x80 >> (x % 8));
                }
            }
        }
        writer.write_image_data(&data)?;
        writer.finish()?;
        Ok(out)
    }
}

/// Renders a whole job on `head`'s dots: one bitmap per cut, and one more for anything
/// printed after the last cut (still hanging out of the printer).
pub fn render_job(bytes: &[u8], head: impl Into<PrinterProfile>) -> Vec<Bitmap> {
    let mut interpreter = Interpreter::new(head.into().dots, None);
    let mut pages: Vec<Bitmap> = interpreter
        .feed(bytes)
        .into_iter()
        .filter_map(|event| match event {
            Event::Cut(page) => Some(page),
            _ => None,
        })
        .collect();
    pages.extend(interpreter.finish());
    pages
}

// ---------------------------------------------------------------------------------
// Commands

/// One ESC/POS command as the interpreter acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A byte of text, in the selected code page.
    Text(u8),
    LineFeed,
    Tab,
    Initialize,
    /// `ESC ! n`: font B, emphasis, double height and width, underline, in one byte.
    PrintMode(u8),
    /// `GS ! n`: width and height multipliers, 1 to 8, in the high and low nibble.
    CharacterSize(u8),
    Justify(u8),
    Emphasis(bool),
    Underline(u8),
    Reverse(bool),
    Font(u8),
    FeedLines(u8),
    FeedDots(u8),
    /// `ESC 3 n`, or `None` for `ESC 2` (back to the default).
    LineSpacing(Option<u8>),
    /// `ESC D n1 ... NUL`: tab stops at these columns.
    TabStops(Vec<u8>),
    /// `GS ( H` fn 48: answer this ID once everything before it is printed.
    ProcessId(ProcessId),
    /// `DLE EOT n`: answered at once, whatever the printer is doing.
    StatusQuery(u8),
    /// `GS a n`: automatic status back.
    AutoStatus(u8),
    QrModuleSize(u8),
    QrErrorCorrection(u8),
    QrStore(Vec<u8>),
    QrPrint,
    /// `GS v 0`: `width_bytes` x `height` bits, `scale` 0 to 3.
    Raster {
        scale: u8,
        width_bytes: u16,
        height: u16,
        data: Vec<u8>,
    },
    /// `GS V`: a cut, after feeding `n` dots for `GS V 65 n` / `GS V 66 n` (the
    /// printer feeds to its cutter and `n` more; this paper starts at the head).
    Cut(u8),
    /// A command the simulator sizes and skips (code page, drawer kick, barcode...).
    Skipped,
}

/// What [`parse_command`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The command and how many bytes it took.
    Command(Command, usize),
    /// The buffer ends inside a command: wait for more bytes.
    Incomplete,
}

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const FS: u8 = 0x1c;
const DLE: u8 = 0x10;

/// Parses the command at the start of `buf` (which must not be empty; an empty buffer
/// is `Incomplete`). Each command byte has its own table below.
pub fn parse_command(buf: &[u8]) -> Parsed {
    let Some(&b0) = buf.first() else {
        return Parsed::Incomplete;
    };
    let b = Bytes(buf);
    match b0 {
        b'\n' => Parsed::Command(Command::LineFeed, 1),
        b'\t' => Parsed::Command(Command::Tab, 1),
        DLE => parse_dle(b),
        ESC => parse_esc(b),
        GS => parse_gs(b),
        FS => parse_fs(b),
        // NUL, CR (the printer feeds on LF only), CAN, FF and the other controls.
        0x00..=0x1f | 0x7f => Parsed::Command(Command::Skipped, 1),
        _ => Parsed::Command(Command::Text(b0), 1),
    }
}

/// The buffer a command is parsed from, with the reads every command's table uses.
#[derive(Clone, Copy)]
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn at(self, i: usize) -> Option<u8> {
        self.0.get(i).copied()
    }

    /// The little-endian 16-bit length at `i` (`pL pH`).
    fn len16(self, i: usize) -> Option<usize> {
        Some(usize::from(self.at(i)?) + 256 * usize::from(self.at(i + 1)?))
    }

    /// `n` bytes, all present: the command built from them.
    fn take(self, n: usize, cmd: Command) -> Parsed {
        if self.0.len() >= n {
            Parsed::Command(cmd, n)
        } else {
            Parsed::Incomplete
        }
    }

    /// The parameter at `i`, or 0 while it has not arrived (`take` waits for it then).
    fn arg(self, i: usize) -> u8 {
        self.at(i).unwrap_or(0)
    }

    /// A command that ends with the first NUL from `from` on, `extra` bytes counted
    /// before it.
    fn to_nul(self, from: usize, extra: usize) -> Parsed {
        match self.0[from..].iter().position(|&b| b == 0) {
            Some(i) => Parsed::Command(Command::Skipped, extra + i),
            None => Parsed::Incomplete,
        }
    }
}

/// `DLE`: the real-time status query, and the other real-time commands skipped.
fn parse_dle(b: Bytes<'_>) -> Parsed {
    use Command as C;
    match b.at(1) {
        None => Parsed::Incomplete,
        // `DLE EOT n`; n = 7, 8 and 18 take one byte more. The escpos crate's extra
        // `00` after n = 1..4 is parsed next as a NUL and ignored.
        Some(0x04) => match b.at(2) {
            None => Parsed::Incomplete,
            Some(n @ (7 | 8 | 18)) => b.take(4, C::StatusQuery(n)),
            Some(n) => Parsed::Command(C::StatusQuery(n), 3),
        },
        Some(0x05) => b.take(3, C::Skipped),
        Some(0x14) => b.take(5, C::Skipped),
        Some(_) => Parsed::Command(C::Skipped, 1),
    }
}

/// `ESC`: print modes, alignment, emphasis, feeds and line spacing; the rest sized and
/// skipped.
fn parse_esc(b: Bytes<'_>) -> Parsed {
    use Command as C;
    match b.at(1) {
        None => Parsed::Incomplete,
        Some(b'@') => Parsed::Command(C::Initialize, 2),
        Some(b'!') => b.take(3, C::PrintMode(b.arg(2))),
        Some(b'a') => b.take(3, C::Justify(b.arg(2))),
        Some(b'E' | b'G') => b.take(3, C::Emphasis(b.arg(2) & 1 == 1)),
        Some(b'-') => b.take(3, C::Underline(b.arg(2))),
        Some(b'M') => b.take(3, C::Font(b.arg(2))),
        Some(b'd') => b.take(3, C::FeedLines(b.arg(2))),
        Some(b'J') => b.take(3, C::FeedDots(b.arg(2))),
        Some(b'2') => Parsed::Command(C::LineSpacing(None), 2),
        Some(b'3') => b.take(3, C::LineSpacing(Some(b.arg(2)))),
        Some(b't' | b'R' | b'V' | b'{' | b' ' | b'U' | b'=' | b'S' | b'L' | b'r' | b'%') => {
            b.take(3, C::Skipped)
        }
        Some(b'$' | b'\\' | b'c') => b.take(4, C::Skipped),
        Some(b'B') => b.take(4, C::Skipped),
        Some(b'p') => b.take(5, C::Skipped),
        Some(b'*') => match (b.at(2), b.len16(3)) {
            (Some(m), Some(n)) => {
                let per_column = if m >= 32 { 3 } else { 1 };
                b.take(5 + n * per_column, C::Skipped)
            }
            _ => Parsed::Incomplete,
        },
        Some(b'D') => match b.0[2..].iter().position(|&c| c == 0) {
            Some(i) => Parsed::Command(C::TabStops(b.0[2..2 + i].to_vec()), 3 + i),
            None => Parsed::Incomplete,
        },
        Some(b'(') => match b.len16(3) {
            Some(p) => b.take(5 + p, C::Skipped),
            None => Parsed::Incomplete,
        },
        Some(_) => Parsed::Command(C::Skipped, 2),
    }
}

/// `GS`: character size, reverse, automatic status, cuts, the QR (`GS ( k`) and raster
/// images; barcodes and the rest sized and skipped.
fn parse_gs(b: Bytes<'_>) -> Parsed {
    use Command as C;
    match b.at(1) {
        None => Parsed::Incomplete,
        Some(b'!') => b.take(3, C::CharacterSize(b.arg(2))),
        Some(b'B') => b.take(3, C::Reverse(b.arg(2) & 1 == 1)),
        Some(b'a') => b.take(3, C::AutoStatus(b.arg(2))),
        Some(b'b' | b'h' | b'w' | b'H' | b'f' | b'I' | b'r' | b'/' | b'E') => b.take(3, C::Skipped),
        Some(b'L' | b'W' | b'P' | b'$' | b'\\') => b.take(4, C::Skipped),
        Some(b'V') => match b.at(2) {
            None => Parsed::Incomplete,
            Some(0 | 1 | 48 | 49) => Parsed::Command(C::Cut(0), 3),
            Some(65 | 66) => b.take(4, C::Cut(b.arg(3))),
            Some(_) => b.take(4, C::Cut(0)),
        },
        Some(b'(') => match (b.at(2), b.len16(3)) {
            (Some(b'k'), Some(p)) => b.take(5 + p, gs_paren_k(&b.0[5..b.0.len().min(5 + p)])),
            (Some(b'H'), Some(p)) => b.take(
                5 + p,
                ProcessId::parse_request(&b.0[..b.0.len().min(5 + p)])
                    .map_or(C::Skipped, C::ProcessId),
            ),
            (Some(_), Some(p)) => b.take(5 + p, C::Skipped),
            _ => Parsed::Incomplete,
        },
        Some(b'8') => match (b.at(3), b.at(4), b.at(5), b.at(6)) {
            (Some(p1), Some(p2), Some(p3), Some(p4)) => {
                let p = u32::from_le_bytes([p1, p2, p3, p4]) as usize;
                b.take(7 + p, C::Skipped)
            }
            _ => Parsed::Incomplete,
        },
        Some(b'v') => gs_v_raster(b),
        Some(b'k') => gs_k_barcode(b),
        Some(b'*') => match (b.at(2), b.at(3)) {
            (Some(x), Some(y)) => b.take(4 + usize::from(x) * usize::from(y) * 8, C::Skipped),
            _ => Parsed::Incomplete,
        },
        Some(_) => Parsed::Command(C::Skipped, 2),
    }
}

/// `GS v 0 m xL xH yL yH d...`: a raster image of `x` bytes by `y` rows.
fn gs_v_raster(b: Bytes<'_>) -> Parsed {
    let (Some(m), Some(x), Some(y)) = (b.at(3), b.len16(4), b.len16(6)) else {
        return Parsed::Incomplete;
    };
    let n = 8 + x * y;
    if b.0.len() < n {
        return Parsed::Incomplete;
    }
    let raster = Command::Raster {
        scale: m & 3,
        width_bytes: x as u16,
        height: y as u16,
        data: b.0[8..n].to_vec(),
    };
    Parsed::Command(raster, n)
}

/// `GS k m`: a barcode, skipped. Systems 0 to 6 end with a NUL; the others give their
/// length in the byte after `m`.
fn gs_k_barcode(b: Bytes<'_>) -> Parsed {
    match b.at(2) {
        None => Parsed::Incomplete,
        Some(0..=6) => b.to_nul(3, 4),
        Some(_) => match b.at(3) {
            Some(n) => b.take(4 + usize::from(n), Command::Skipped),
            None => Parsed::Incomplete,
        },
    }
}

/// `FS`: the kanji and NV-image commands, sized and skipped.
fn parse_fs(b: Bytes<'_>) -> Parsed {
    use Command as C;
    match b.at(1) {
        None => Parsed::Incomplete,
        Some(b'p') => b.take(4, C::Skipped),
        Some(b'C' | b'!' | b'-' | b'W' | b'S') => b.take(3, C::Skipped),
        Some(b'(') => match b.len16(3) {
            Some(p) => b.take(5 + p, C::Skipped),
            None => Parsed::Incomplete,
        },
        Some(_) => Parsed::Command(C::Skipped, 2),
    }
}

/// `GS ( k` for the QR symbol (cn = 49); `params` is what follows `pL pH`.
fn gs_paren_k(params: &[u8]) -> Command {
    match params {
        [49, 67, n, ..] => Command::QrModuleSize(*n),
        [49, 69, n, ..] => Command::QrErrorCorrection(*n),
        [49, 80, 48, data @ ..] => Command::QrStore(data.to_vec()),
        [49, 81, ..] => Command::QrPrint,
        _ => Command::Skipped,
    }
}

// ---------------------------------------------------------------------------------
// Interpreter

/// What the interpreter reports to whoever drives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `DLE EOT n` arrived: the simulator answers it.
    StatusQuery(u8),
    /// `GS a n` arrived.
    AutoStatus(u8),
    /// The paper was cut: the finished ticket.
    Cut(Bitmap),
    /// The roll ran out: what was on the paper is a stub, and the rest of the job waits
    /// in the buffer for a new roll.
    PaperOut,
    /// The head reached a `GS ( H` fn 48: everything before it is printed.
    Processed(ProcessId),
}

/// One command executed: what it reported, and how many dots of paper it fed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub events: Vec<Event>,
    pub fed: u32,
}

/// Two metres of paper: the longest piece the simulator keeps before it tears it off.
const MAX_PAGE_DOTS: u32 = 16_000;

/// Default line spacing of Epson-type printers: 24-dot font A plus 6 dots.
const DEFAULT_LINE_SPACING: u32 = LINE_SPACING;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    font_b: bool,
    bold: bool,
    underline: bool,
    reverse: bool,
    width: u8,
    height: u8,
}

impl Style {
    fn initial() -> Style {
        Style {
            width: 1,
            height: 1,
            ..Style::default()
        }
    }

    fn cell(&self) -> (u32, u32) {
        let (w, h) = if self.font_b { (9, 17) } else { (12, 24) };
        (w * u32::from(self.width), h * u32::from(self.height))
    }
}

/// A character waiting in the line buffer with the style it was received in.
#[derive(Debug, Clone, Copy)]
struct Pending {
    ch: char,
    style: Style,
}

/// How much paper is on the roll, in dots of feed.
#[derive(Debug, Clone, Copy)]
struct Roll {
    capacity: u64,
    used: u64,
    out: bool,
}

/// The printer's state between bytes: styles, the line being assembled, the paper
/// printed since the last cut, and the roll.
pub struct Interpreter {
    width: u32,
    page: Bitmap,
    /// Where the next line's top goes on `page`.
    y: u32,
    line: Vec<Pending>,
    style: Style,
    justify: u8,
    line_spacing: u32,
    qr_module: u8,
    qr_level: EcLevel,
    qr_data: Vec<u8>,
    /// `ESC D` stops, in columns; empty: every eight columns.
    tabs: Vec<u8>,
    /// Bytes received but not yet executed: the printer's receive buffer.
    pending: std::collections::VecDeque<u8>,
    /// `None`: an endless roll.
    roll: Option<Roll>,
    /// Dots fed since the start, for [`Step::fed`].
    fed: u64,
}

impl Interpreter {
    /// A head of `width` dots; `roll_dots`: paper on the roll, in dots of feed, or
    /// `None` for an endless roll.
    pub fn new(width: u32, roll_dots: Option<u32>) -> Interpreter {
        Interpreter {
            width,
            page: Bitmap::new(width),
            y: 0,
            line: Vec::new(),
            style: Style::initial(),
            justify: 0,
            line_spacing: DEFAULT_LINE_SPACING,
            qr_module: 3,
            qr_level: EcLevel::L,
            qr_data: Vec::new(),
            tabs: Vec::new(),
            pending: std::collections::VecDeque::new(),
            roll: roll_dots.map(|dots| Roll {
                capacity: u64::from(dots),
                used: 0,
                out: false,
            }),
            fed: 0,
        }
    }

    pub fn paper_out(&self) -> bool {
        self.roll.is_some_and(|r| r.out)
    }

    /// Dots of paper left on the roll, `None` for an endless one.
    pub fn dots_left(&self) -> Option<u32> {
        self.roll
            .map(|r| r.capacity.saturating_sub(r.used).min(u64::from(u32::MAX)) as u32)
    }

    /// A fresh roll of the same length.
    pub fn load_paper(&mut self) {
        if let Some(roll) = &mut self.roll {
            roll.used = 0;
            roll.out = false;
        }
    }

    /// A fresh roll of `dots` of paper: the roll that ran out may have been the end of a
    /// used one.
    pub fn load_roll(&mut self, dots: u32) {
        self.roll = Some(Roll {
            capacity: u64::from(dots),
            used: 0,
            out: false,
        });
    }

    /// Bytes into the receive buffer, to be executed by [`Interpreter::step`].
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend(bytes);
    }

    /// Bytes waiting in the receive buffer.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// `DLE DC4` fn 8: the receive buffer and the line being assembled are emptied; the
    /// paper already printed stays as it is.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.line.clear();
    }

    /// Executes the next whole command in the buffer; `None` when there is none, or
    /// while the roll is out (the rest waits for a new one).
    pub fn step(&mut self) -> Option<Step> {
        if self.paper_out() {
            return None;
        }
        let Parsed::Command(cmd, used) = parse_command(self.pending.make_contiguous()) else {
            return None;
        };
        self.pending.drain(..used);
        let before = self.fed;
        let mut events = Vec::new();
        self.execute(cmd, &mut events);
        if self.y > MAX_PAGE_DOTS {
            // A job that never cuts must not grow the page without bound: hand over
            // what there is, as if torn off.
            events.extend(self.take_page().map(Event::Cut));
        }
        Some(Step {
            events,
            fed: (self.fed - before) as u32,
        })
    }

    /// Interprets `bytes` at once, keeping an unfinished command (or, once the roll is
    /// out, the rest) for later.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.push(bytes);
        let mut events = Vec::new();
        while let Some(step) = self.step() {
            events.extend(step.events);
        }
        events
    }

    /// What was printed after the last cut, if anything.
    pub fn finish(mut self) -> Option<Bitmap> {
        if self.paper_out() {
            return None;
        }
        self.print_line(0);
        self.take_page()
    }

    fn execute(&mut self, cmd: Command, events: &mut Vec<Event>) {
        match cmd {
            Command::StatusQuery(n) => return events.push(Event::StatusQuery(n)),
            Command::AutoStatus(n) => return events.push(Event::AutoStatus(n)),
            Command::ProcessId(id) => return events.push(Event::Processed(id)),
            _ if self.paper_out() => return,
            _ => {}
        }
        let before = self.paper_out();
        match cmd {
            Command::Text(b) => self.put_char(cp437(b)),
            Command::Tab => self.tab(),
            Command::TabStops(stops) => self.tabs = stops,
            Command::LineFeed => self.print_line(1),
            Command::FeedLines(n) => self.print_line(u32::from(n)),
            Command::FeedDots(n) => {
                self.print_line(0);
                self.advance(u32::from(n));
            }
            Command::Initialize => {
                self.line.clear();
                self.style = Style::initial();
                self.justify = 0;
                self.line_spacing = DEFAULT_LINE_SPACING;
                self.qr_module = 3;
                self.qr_level = EcLevel::L;
                self.qr_data.clear();
                self.tabs.clear();
            }
            Command::PrintMode(n) => {
                self.style.font_b = n & 0x01 != 0;
                self.style.bold = n & 0x08 != 0;
                self.style.height = if n & 0x10 != 0 { 2 } else { 1 };
                self.style.width = if n & 0x20 != 0 { 2 } else { 1 };
                self.style.underline = n & 0x80 != 0;
            }
            Command::CharacterSize(n) => {
                self.style.width = ((n >> 4) & 0x07) + 1;
                self.style.height = (n & 0x07) + 1;
            }
            Command::Justify(n) => self.justify = n % 48,
            Command::Emphasis(on) => self.style.bold = on,
            Command::Underline(n) => self.style.underline = n % 48 != 0,
            Command::Reverse(on) => self.style.reverse = on,
            Command::Font(n) => self.style.font_b = n % 48 == 1,
            Command::LineSpacing(n) => {
                self.line_spacing = n.map_or(DEFAULT_LINE_SPACING, u32::from);
            }
            Command::QrModuleSize(n) => self.qr_module = n.clamp(1, 16),
            Command::QrErrorCorrection(n) => {
                self.qr_level = match n {
                    49 => EcLevel::M,
                    50 => EcLevel::Q,
                    51 => EcLevel::H,
                    _ => EcLevel::L,
                }
            }
            Command::QrStore(data) => self.qr_data = data,
            Command::QrPrint => self.print_qr(),
            Command::Raster {
                scale,
                width_bytes,
                height,
                data,
            } => self.print_raster(scale, width_bytes, height, &data),
            Command::Cut(feed) => {
                self.print_line(0);
                self.advance(u32::from(feed));
                if let Some(page) = self.take_page() {
                    events.push(Event::Cut(page));
                }
            }
            Command::StatusQuery(_)
            | Command::AutoStatus(_)
            | Command::ProcessId(_)
            | Command::Skipped => {}
        }
        if !before && self.paper_out() {
            events.push(Event::PaperOut);
        }
    }

    /// `HT`: to the next tab stop (every eight characters of the current size unless
    /// `ESC D` set others); nothing past the last one.
    fn tab(&mut self) {
        let (cw, _) = self.style.cell();
        let used: u32 = self.line.iter().map(|p| p.style.cell().0).sum();
        let stop = if self.tabs.is_empty() {
            Some((used / (cw * 8) + 1) * cw * 8)
        } else {
            self.tabs
                .iter()
                .map(|&c| u32::from(c) * cw)
                .find(|&x| x > used)
        };
        if let Some(stop) = stop.filter(|&x| x <= self.width) {
            for _ in 0..(stop - used) / cw {
                self.put_char(' ');
            }
        }
    }

    fn take_page(&mut self) -> Option<Bitmap> {
        let mut page = std::mem::replace(&mut self.page, Bitmap::new(self.width));
        let height = std::mem::take(&mut self.y);
        if height == 0 {
            return None;
        }
        page.grow_to(height);
        page.height = height;
        page.dark.truncate((height * self.width) as usize);
        Some(page)
    }

    /// Moves the paper on by `dots`; false once the roll has run out.
    fn advance(&mut self, dots: u32) -> bool {
        self.fed += u64::from(dots);
        if let Some(roll) = &mut self.roll {
            roll.used += u64::from(dots);
            if roll.used > roll.capacity {
                // The end sensor stops the printer: the paper already printed is a
                // stub without its cut; the rest of the job stays in the buffer.
                roll.out = true;
                self.line.clear();
                self.page = Bitmap::new(self.width);
                self.y = 0;
                return false;
            }
        }
        self.y += dots;
        true
    }

    fn put_char(&mut self, ch: char) {
        let (cw, _) = self.style.cell();
        let used: u32 = self.line.iter().map(|p| p.style.cell().0).sum();
        if used + cw > self.width {
            // A full line prints by itself, as on the printer.
            self.print_line(1);
            if self.paper_out() {
                return;
            }
        }
        self.line.push(Pending {
            ch,
            style: self.style,
        });
    }

    /// Prints the line buffer at the current position and feeds `lines` lines: the
    /// first is at least as tall as the line's tallest character.
    fn print_line(&mut self, lines: u32) {
        let height = self
            .line
            .iter()
            .map(|p| p.style.cell().1)
            .max()
            .unwrap_or(0);
        if height > 0 {
            let total: u32 = self.line.iter().map(|p| p.style.cell().0).sum();
            let mut x = i64::from(self.x_for(total));
            let line = std::mem::take(&mut self.line);
            let text: String = line.iter().map(|p| p.ch).collect();
            self.page.lines.push(text.trim_end().to_owned());
            for p in line {
                let (cw, ch) = p.style.cell();
                // Characters of one line share its baseline: shorter ones sit low.
                let top = i64::from(self.y + height - ch);
                draw_char(&mut self.page, x, top, p);
                x += i64::from(cw);
            }
            self.page.grow_to(self.y + height);
        }
        let feed = match lines {
            0 => height,
            n => height.max(self.line_spacing) + (n - 1) * self.line_spacing,
        };
        self.advance(feed);
    }

    fn x_for(&self, content_width: u32) -> u32 {
        let room = self.width.saturating_sub(content_width);
        match self.justify {
            1 => room / 2,
            2 => room,
            _ => 0,
        }
    }

    fn print_qr(&mut self) {
        self.print_line(0);
        if self.paper_out() {
            return;
        }
        // A symbol the data does not fit is not printed, as on the printer.
        let Ok(code) = QrCode::with_error_correction_level(&self.qr_data, self.qr_level) else {
            return;
        };
        let modules = code.width() as u32;
        let m = u32::from(self.qr_module);
        self.page.lines.push("[QR]".to_owned());
        let size = modules * m;
        let x0 = i64::from(self.x_for(size));
        let y0 = i64::from(self.y);
        for my in 0..modules {
            for mx in 0..modules {
                if code[(mx as usize, my as usize)] == qrcode::Color::Dark {
                    self.page
                        .fill(x0 + i64::from(mx * m), y0 + i64::from(my * m), m, m, true);
                }
            }
        }
        self.page.grow_to(self.y + size);
        self.advance(size);
    }

    fn print_raster(&mut self, scale: u8, width_bytes: u16, height: u16, data: &[u8]) {
        self.print_line(0);
        if self.paper_out() {
            return;
        }
        self.page.lines.push("[IMAGE]".to_owned());
        let sx = if scale & 1 != 0 { 2 } else { 1 };
        let sy = if scale & 2 != 0 { 2 } else { 1 };
        let w = u32::from(width_bytes) * 8;
        let x0 = i64::from(self.x_for(w * sx));
        let y0 = i64::from(self.y);
        for row in 0..u32::from(height) {
            for col in 0..w {
                let byte = data
                    .get((row * u32::from(width_bytes) + col / 8) as usize)
                    .copied()
                    .unwrap_or(0);
                if byte & (0x80 >> (col % 8)) != 0 {
                    self.page.fill(
                        x0 + i64::from(col * sx),
                        y0 + i64::from(row * sy),
                        sx,
                        sy,
                        true,
                    );
                }
            }
        }
        let h = u32::from(height) * sy;
        self.page.grow_to(self.y + h);
        self.advance(h);
    }
}

// ---------------------------------------------------------------------------------
// Glyphs

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

static REGULAR: &[u8] = include_bytes!("../../../../hardware/printer/fonts/DejaVuSansMono.ttf");
static BOLD: &[u8] = include_bytes!("../../../../hardware/printer/fonts/DejaVuSansMono-Bold.ttf");

fn fonts() -> Option<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let regular = FontRef::try_from_slice(REGULAR).ok()?;
            let bold = FontRef::try_from_slice(BOLD).ok()?;
            Some(Fonts { regular, bold })
        })
        .as_ref()
}

fn draw_char(page: &mut Bitmap, x: i64, top: i64, p: Pending) {
    let (cw, ch) = p.style.cell();
    if p.style.reverse {
        page.fill(x, top, cw, ch, true);
    }
    let ink = !p.style.reverse;
    match fonts() {
        Some(fonts) => {
            let font = if p.style.bold {
                &fonts.bold
            } else {
                &fonts.regular
            };
            let id = font.glyph_id(p.ch);
            // Scale so that ascent to descent fills the cell's height and the monospace
            // advance fills its width.
            let height_unscaled = font.height_unscaled();
            let advance = font.h_advance_unscaled(id).max(1.0);
            let scale = PxScale {
                x: cw as f32 * height_unscaled / advance,
                y: ch as f32,
            };
            let ascent = font.ascent_unscaled() * ch as f32 / height_unscaled;
            let glyph = id.with_scale_and_position(scale, point(x as f32, top as f32 + ascent));
            if let Some(outlined) = font.outline_glyph(glyph) {
                let bounds = outlined.px_bounds();
                let (bx, by) = (bounds.min.x as i64, bounds.min.y as i64);
                outlined.draw(|gx, gy, coverage| {
                    if coverage >= 0.5 {
                        page.set(bx + i64::from(gx), by + i64::from(gy), ink);
                    }
                });
            }
        }
        // The embedded fonts failed to parse (a broken build): a box per character
        // still shows where text was.
        None if p.ch != ' ' => {
            page.fill(
                x + 1,
                top + 2,
                cw.saturating_sub(2),
                ch.saturating_sub(4),
                ink,
            );
        }
        None => {}
    }
    if p.style.underline {
        page.fill(x, top + i64::from(ch) - 2, cw, 2, ink);
    }
}

/// Code page 437, the printers' default and what the ticket selects.
fn cp437(b: u8) -> char {
    const HIGH: [char; 128] = [
        'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
        'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
        'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
        '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
        '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
        '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
        'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
        '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
    ];
    if b < 0x80 {
        char::from(b)
    } else {
        HIGH[usize::from(b - 0x80)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::escpos::PaperWidth;

    #[test]
    fn commands_parse_with_their_lengths() {
        use Command as C;
        let cases: Vec<(&[u8], Parsed)> = vec![
            (b"A", Parsed::Command(C::Text(b'A'), 1)),
            (b"\n", Parsed::Command(C::LineFeed, 1)),
            (b"\r", Parsed::Command(C::Skipped, 1)),
            (&[0], Parsed::Command(C::Skipped, 1)),
            (&[ESC, b'@'], Parsed::Command(C::Initialize, 2)),
            (&[ESC, b'!', 0x38], Parsed::Command(C::PrintMode(0x38), 3)),
            (&[ESC, b'!'], Parsed::Incomplete),
            (
                &[GS, b'!', 0x33],
                Parsed::Command(C::CharacterSize(0x33), 3),
            ),
            (&[ESC, b'a', 1], Parsed::Command(C::Justify(1), 3)),
            (&[ESC, b'E', 1], Parsed::Command(C::Emphasis(true), 3)),
            (&[GS, b'B', 1], Parsed::Command(C::Reverse(true), 3)),
            (&[ESC, b'd', 4], Parsed::Command(C::FeedLines(4), 3)),
            (&[ESC, b'2'], Parsed::Command(C::LineSpacing(None), 2)),
            (&[ESC, b't', 0, b'X'], Parsed::Command(C::Skipped, 3)),
            (&[ESC, b'p', 0, 25, 250], Parsed::Command(C::Skipped, 5)),
            // DLE EOT in Epson's three bytes and the escpos crate's four.
            (&[DLE, 4, 1], Parsed::Command(C::StatusQuery(1), 3)),
            (&[DLE, 4, 4, 0], Parsed::Command(C::StatusQuery(4), 3)),
            (&[DLE, 4, 7, 1], Parsed::Command(C::StatusQuery(7), 4)),
            (&[DLE, 4], Parsed::Incomplete),
            (&[GS, b'a', 0x0e], Parsed::Command(C::AutoStatus(0x0e), 3)),
            (&[GS, b'V', 0], Parsed::Command(C::Cut(0), 3)),
            (&[GS, b'V', 49], Parsed::Command(C::Cut(0), 3)),
            (&[GS, b'V', 65, 0], Parsed::Command(C::Cut(0), 4)),
            (&[GS, b'V', 65, 120], Parsed::Command(C::Cut(120), 4)),
            (&[GS, b'V', 66], Parsed::Incomplete),
            (
                &[GS, b'(', b'k', 3, 0, 49, 67, 6],
                Parsed::Command(C::QrModuleSize(6), 8),
            ),
            (
                &[GS, b'(', b'k', 3, 0, 49, 69, 49],
                Parsed::Command(C::QrErrorCorrection(49), 8),
            ),
            (
                &[GS, b'(', b'k', 6, 0, 49, 80, 48, b'a', b'b', b'c'],
                Parsed::Command(C::QrStore(b"abc".to_vec()), 11),
            ),
            (
                &[GS, b'(', b'k', 6, 0, 49, 80, 48, b'a'],
                Parsed::Incomplete,
            ),
            (
                &[GS, b'(', b'k', 3, 0, 49, 81, 48],
                Parsed::Command(C::QrPrint, 8),
            ),
            (
                &[GS, b'(', b'k', 4, 0, 49, 65, 50, 0],
                Parsed::Command(C::Skipped, 9),
            ),
            (
                &[GS, b'(', b'L', 2, 0, 48, 50],
                Parsed::Command(C::Skipped, 7),
            ),
            (
                &[GS, b'v', b'0', 0, 1, 0, 2, 0, 0xff, 0x81],
                Parsed::Command(
                    C::Raster {
                        scale: 0,
                        width_bytes: 1,
                        height: 2,
                        data: vec![0xff, 0x81],
                    },
                    10,
                ),
            ),
            (
                &[GS, b'k', 4, b'A', b'1', 0],
                Parsed::Command(C::Skipped, 6),
            ),
            (
                &[GS, b'k', 73, 2, b'A', b'1'],
                Parsed::Command(C::Skipped, 6),
            ),
            (
                &[ESC, b'*', 33, 2, 0, 1, 2, 3, 4, 5, 6],
                Parsed::Command(C::Skipped, 11),
            ),
            (&[FS, b'.'], Parsed::Command(C::Skipped, 2)),
            (&[0xc4], Parsed::Command(C::Text(0xc4), 1)),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_command(bytes), want, "{bytes:02x?}");
        }
    }

    #[test]
    fn tab_stops_and_the_process_id_parse() {
        use Command as C;
        let cases: Vec<(&[u8], Parsed)> = vec![
            (
                &[ESC, b'D', 8, 16, 0],
                Parsed::Command(C::TabStops(vec![8, 16]), 5),
            ),
            (&[ESC, b'D', 8], Parsed::Incomplete),
            (
                &[GS, b'(', b'H', 6, 0, 48, 48, b'0', b'0', b'4', b'2'],
                Parsed::Command(C::ProcessId(ProcessId(*b"0042")), 11),
            ),
            (&[GS, b'(', b'H', 6, 0, 48, 48, b'0'], Parsed::Incomplete),
            // Another GS ( H function is skipped by its length.
            (
                &[GS, b'(', b'H', 2, 0, 49, 48],
                Parsed::Command(C::Skipped, 7),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_command(bytes), want, "{bytes:02x?}");
        }
    }

    fn dark_rows(page: &Bitmap) -> Vec<u32> {
        (0..page.height())
            .filter(|&y| page.dark_in(0, y, page.width(), y + 1) > 0)
            .collect()
    }

    #[test]
    fn text_lines_feed_and_cut_into_pages() {
        let pages = render_job(b"\x1b@AB\nC\n\x1dVA\x00D\n\x1dV\x01", PaperWidth::Mm58);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].width(), 384);
        assert_eq!(pages[0].height(), 60, "two lines of 30 dots");
        assert!(pages[0].dark_in(0, 0, 24, 24) > 20, "AB at the left");
        assert_eq!(pages[0].dark_in(30, 0, 384, 60), 0);
        assert!(pages[0].dark_in(0, 30, 12, 54) > 10, "C on line two");
        assert_eq!(pages[1].height(), 30);
    }

    #[test]
    fn alignment_size_and_reverse_place_ink_where_expected() {
        // Centred "X" at 2x2: a 24 x 48 cell in the middle of 576 dots.
        let pages = render_job(b"\x1ba\x01\x1d!\x11X\n\x1dV\x00", PaperWidth::Mm80);
        let page = &pages[0];
        assert_eq!(page.height(), 48);
        assert_eq!(page.dark_in(0, 0, 272, 48), 0);
        assert_eq!(page.dark_in(304, 0, 576, 48), 0);
        assert!(page.dark_in(276, 0, 300, 48) > 100);

        // Reversed space: a solid black cell.
        let pages = render_job(b"\x1dB\x01 \n\x1dV\x00", PaperWidth::Mm80);
        assert_eq!(pages[0].dark_in(0, 0, 12, 24), 12 * 24);
        assert_eq!(pages[0].dark_in(12, 0, 576, 30), 0);
    }

    #[test]
    fn long_lines_wrap_at_the_paper_width() {
        let pages = render_job(
            &[b'M'; 40]
                .iter()
                .chain(b"\n\x1dV\x00")
                .copied()
                .collect::<Vec<_>>(),
            PaperWidth::Mm58,
        );
        // 32 columns on 58 mm: 40 characters make two lines.
        assert_eq!(pages[0].height(), 60);
        assert!(
            pages[0].dark_in(372, 0, 384, 24) > 0,
            "line one reaches the edge"
        );
        assert!(
            pages[0].dark_in(96, 30, 384, 60) == 0,
            "line two has 8 characters"
        );
    }

    #[test]
    fn qr_is_drawn_at_the_module_size_sent() {
        let mut job = vec![0x1b, b'@', 0x1b, b'a', 1];
        job.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 67, 4]);
        job.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 69, 48]);
        job.extend_from_slice(&[
            GS, b'(', b'k', 8, 0, 49, 80, 48, b'H', b'E', b'L', b'L', b'O',
        ]);
        job.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 81, 48, GS, b'V', 0]);
        let pages = render_job(&job, PaperWidth::Mm80);
        // "HELLO" at level L is version 1: 21 modules of 4 dots, centred.
        assert_eq!(pages[0].height(), 84);
        let rows = dark_rows(&pages[0]);
        assert_eq!((rows.first(), rows.last()), (Some(&0), Some(&83)));
        let x0 = (576 - 84) / 2;
        // The top-left finder pattern: a 28-dot dark run, then light.
        assert_eq!(pages[0].dark_in(x0, 0, x0 + 28, 4), 28 * 4);
        assert_eq!(pages[0].dark_in(0, 0, x0, 84), 0);
    }

    #[test]
    fn raster_images_are_drawn_bit_by_bit() {
        let job = [
            GS,
            b'v',
            b'0',
            0,
            1,
            0,
            2,
            0,
            0b1000_0001,
            0xff,
            GS,
            b'V',
            0,
        ];
        let pages = render_job(&job, PaperWidth::Mm58);
        let p = &pages[0];
        assert_eq!(p.height(), 2);
        assert!(p.is_dark(0, 0) && p.is_dark(7, 0) && !p.is_dark(1, 0));
        assert_eq!(p.dark_in(0, 1, 8, 2), 8);
    }

    #[test]
    fn a_short_roll_stops_the_head_and_keeps_the_rest_of_the_job() {
        let job = b"one\ntwo\n\x1dV\x00three\nfour\nfive\n\x1dV\x00";
        // Three lines of paper: "four" runs it out.
        let mut i = Interpreter::new(576, Some(90));
        assert_eq!(i.dots_left(), Some(90));
        let events = i.feed(job);
        assert!(matches!(events[0], Event::Cut(ref p) if p.height() == 60));
        assert_eq!(events[1..], [Event::PaperOut]);
        assert!(i.paper_out());
        assert!(i.buffered() > 0, "the rest of the job waits in the buffer");
        assert_eq!(i.step(), None, "the head stands still without paper");
        // A new roll: the tail prints by itself, and is cut.
        i.load_roll(3000);
        let events = i.feed(b"");
        assert!(matches!(events[..], [Event::Cut(ref p)] if p.text() == "five"));
        assert_eq!(i.dots_left(), Some(3000 - 30));

        // The same, but the buffer cleared before the new roll: nothing more prints.
        let mut i = Interpreter::new(576, Some(90));
        i.feed(job);
        i.clear();
        i.load_paper();
        assert_eq!(i.feed(b""), []);
        assert_eq!(i.dots_left(), Some(90), "the same length again");
    }

    #[test]
    fn each_step_says_what_it_fed_and_the_process_id_waits_its_turn() {
        let mut i = Interpreter::new(384, None);
        let id = ProcessId::of(7);
        i.push(b"a\n\x1bd\x03");
        i.push(&id.request());
        let fed: Vec<(u32, Vec<Event>)> = std::iter::from_fn(|| i.step())
            .map(|s| (s.fed, s.events))
            .collect();
        assert_eq!(
            fed,
            [
                (0, vec![]),
                (30, vec![]),
                (90, vec![]),
                (0, vec![Event::Processed(id)])
            ]
        );
    }

    #[test]
    fn tab_stops_set_by_esc_d_place_the_value() {
        let pages = render_job(b"\x1bD\x0e\x00AB:\tX\n\x1dV\x00", PaperWidth::Mm80);
        // X at column 14: 168 dots in.
        assert_eq!(pages[0].text(), format!("AB:{}X", " ".repeat(11)));
        assert!(pages[0].dark_in(168, 0, 180, 24) > 10);
        assert_eq!(pages[0].dark_in(40, 0, 166, 24), 0);
    }

    #[test]
    fn a_job_that_never_cuts_is_torn_off_at_two_metres() {
        let job: Vec<u8> = [0x1b, b'J', 255].repeat(100);
        let pages = render_job(&job, PaperWidth::Mm58);
        assert!(pages.len() >= 2, "{} pages", pages.len());
        assert!(pages.iter().all(|p| p.height() <= MAX_PAGE_DOTS + 255));
    }

    #[test]
    fn commands_split_across_reads_are_reassembled() {
        let job = b"\x1b@\x1d!\x11AB\n\x1dVA\x00";
        let whole = render_job(job, PaperWidth::Mm80);
        let mut i = Interpreter::new(576, None);
        let mut pages = Vec::new();
        for b in job {
            for e in i.feed(std::slice::from_ref(b)) {
                if let Event::Cut(p) = e {
                    pages.push(p);
                }
            }
        }
        assert_eq!(pages, whole);
    }

    #[test]
    fn pngs_are_one_bit_and_keep_the_size() {
        let pages = render_job(b"Hi\n\x1dV\x00", PaperWidth::Mm58);
        let png = pages[0].to_png().expect("encodes");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("decodes");
        let info = reader.info();
        assert_eq!((info.width, info.height), (384, 30));
        assert_eq!(info.bit_depth, png::BitDepth::One);
        assert!(fonts().is_some(), "embedded fonts parse");
    }
}
