//! The ticket printers the kiosk knows, in one table ([`MODELS`]): what each one's head
//! is (width in dots, resolution, speed) and which of the commands the kiosk relies on
//! it understands (`GS ( k` QR, `GS ( H` process ID, `DLE DC4` buffer clear, `GS a`
//! automatic status back). `printer.model` in the configuration names a row;
//! `printer.dots_per_line` overrides its width for a head the table does not know.
//!
//! The layout (`super::escpos`) is computed from the profile, so no line wraps on any of
//! them, and the printer's transport (`hardware::printer`) picks from it how to learn
//! that a ticket has come out ([`Confirmation`]). Pure data: no I/O.

use std::time::Duration;

/// Thermal paper rolls the kiosk printers take; the dots are a generic 203 dpi head's
/// (a printer's own are its profile's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PaperWidth {
    /// 576 printable dots.
    #[default]
    Mm80,
    /// 384 printable dots.
    Mm58,
}

impl PaperWidth {
    pub const ALL: [PaperWidth; 2] = [PaperWidth::Mm80, PaperWidth::Mm58];

    /// Printable width in dots.
    pub fn dots(self) -> u32 {
        match self {
            PaperWidth::Mm80 => 576,
            PaperWidth::Mm58 => 384,
        }
    }

    /// Font A (12 x 24 dots) characters on one line.
    pub fn columns(self) -> usize {
        (self.dots() / 12) as usize
    }

    /// `80` or `58`, as the configuration and the CLI write it.
    pub fn from_mm(mm: u32) -> Option<PaperWidth> {
        match mm {
            80 => Some(PaperWidth::Mm80),
            58 => Some(PaperWidth::Mm58),
            _ => None,
        }
    }

    /// The inverse of [`PaperWidth::from_mm`].
    pub fn mm(self) -> u32 {
        match self {
            PaperWidth::Mm80 => 80,
            PaperWidth::Mm58 => 58,
        }
    }
}

/// A printer model of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PrinterModel {
    TmT88iii,
    TmT88iv,
    TmT88v,
    TmT88vi,
    TmT20,
    /// An ESC/POS compatible 80 mm printer of unknown make: 576 dots at 203 dpi, native
    /// QR, and none of Epson's confirmation commands.
    #[default]
    Generic80,
    /// The same on 58 mm paper: 384 dots.
    Generic58,
}

/// How the kiosk learns that a job has come out whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Confirmation {
    /// `GS ( H` fn 48 after the job: the printer answers with the job's process ID only
    /// once it has printed everything received before it.
    ProcessId,
    /// Automatic status back (`GS a`) enabled for the paper sensors and errors, so a
    /// roll running out mid-job is reported as it happens; the ticket counts as printed
    /// once the head time has passed with nothing reported and the status is fine.
    AutoStatus,
    /// Neither: the status asked once the head time the job needs has passed.
    HeadTime,
}

/// One row of the table.
struct Row {
    model: PrinterModel,
    /// As the configuration writes it.
    code: &'static str,
    dpi: u32,
    /// Printable dots on 80 mm paper (`None`: the model takes only 58 mm rolls).
    dots_80: Option<u32>,
    /// Printable dots on 58 mm paper (with the model's 58 mm guide).
    dots_58: u32,
    /// Print speed of the head, at the slow end the maker gives, in mm/s.
    mm_per_s: u32,
    qr: bool,
    process_id: bool,
    buffer_clear: bool,
    auto_status: bool,
}

/// The printers a kiosk may have, from the makers' specifications. The TM-T88 series
/// has a 180 dpi head: 512 dots on 80 mm paper (42 columns of font A), 360 on 58 mm.
/// The TM-T88III predates Epson's 2D symbols and process ID; its tickets carry the
/// booking code in large type instead of the QR. A generic printer is assumed to know
/// `GS ( k` (nearly all do) and nothing of Epson's confirmation commands, and to be
/// slow, so that the head time the kiosk waits for is long enough.
const MODELS: [Row; 7] = [
    Row {
        model: PrinterModel::TmT88iii,
        code: "tm-t88iii",
        dpi: 180,
        dots_80: Some(512),
        dots_58: 360,
        mm_per_s: 150,
        qr: false,
        process_id: false,
        buffer_clear: false,
        auto_status: true,
    },
    Row {
        model: PrinterModel::TmT88iv,
        code: "tm-t88iv",
        dpi: 180,
        dots_80: Some(512),
        dots_58: 360,
        mm_per_s: 150,
        qr: true,
        process_id: true,
        buffer_clear: true,
        auto_status: true,
    },
    Row {
        model: PrinterModel::TmT88v,
        code: "tm-t88v",
        dpi: 180,
        dots_80: Some(512),
        dots_58: 360,
        mm_per_s: 300,
        qr: true,
        process_id: true,
        buffer_clear: true,
        auto_status: true,
    },
    Row {
        model: PrinterModel::TmT88vi,
        code: "tm-t88vi",
        dpi: 180,
        dots_80: Some(512),
        dots_58: 360,
        mm_per_s: 350,
        qr: true,
        process_id: true,
        buffer_clear: true,
        auto_status: true,
    },
    Row {
        model: PrinterModel::TmT20,
        code: "tm-t20",
        dpi: 203,
        dots_80: Some(576),
        dots_58: 420,
        mm_per_s: 150,
        qr: true,
        process_id: true,
        buffer_clear: true,
        auto_status: true,
    },
    Row {
        model: PrinterModel::Generic80,
        code: "generic-80",
        dpi: 203,
        dots_80: Some(576),
        dots_58: 384,
        mm_per_s: 150,
        qr: true,
        process_id: false,
        buffer_clear: false,
        auto_status: false,
    },
    Row {
        model: PrinterModel::Generic58,
        code: "generic-58",
        dpi: 203,
        dots_80: None,
        dots_58: 384,
        mm_per_s: 90,
        qr: true,
        process_id: false,
        buffer_clear: false,
        auto_status: false,
    },
];

/// The narrowest and widest heads `printer.dots_per_line` may name: below 288 dots the
/// queue number at its smallest size no longer fits a line.
pub const DOTS_RANGE: std::ops::RangeInclusive<u32> = 288..=832;

/// Font A is 12 dots wide on every head.
pub const FONT_A_DOTS: u32 = 12;

impl PrinterModel {
    pub const ALL: [PrinterModel; 7] = [
        PrinterModel::TmT88iii,
        PrinterModel::TmT88iv,
        PrinterModel::TmT88v,
        PrinterModel::TmT88vi,
        PrinterModel::TmT20,
        PrinterModel::Generic80,
        PrinterModel::Generic58,
    ];

    fn row(self) -> &'static Row {
        MODELS
            .iter()
            .find(|r| r.model == self)
            .unwrap_or(&MODELS[5])
    }

    /// `tm-t88v`, as the configuration writes it.
    pub fn code(self) -> &'static str {
        self.row().code
    }

    pub fn from_code(code: &str) -> Option<PrinterModel> {
        PrinterModel::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The generic printer of a paper width: what a configuration without
    /// `printer.model` gets.
    pub fn generic(paper: PaperWidth) -> PrinterModel {
        match paper {
            PaperWidth::Mm80 => PrinterModel::Generic80,
            PaperWidth::Mm58 => PrinterModel::Generic58,
        }
    }

    /// Whether the model takes a roll of `paper`.
    pub fn takes(self, paper: PaperWidth) -> bool {
        paper == PaperWidth::Mm58 || self.row().dots_80.is_some()
    }

    /// The paper the model takes when none is named.
    pub fn default_paper(self) -> PaperWidth {
        if self.row().dots_80.is_some() {
            PaperWidth::Mm80
        } else {
            PaperWidth::Mm58
        }
    }
}

/// What the kiosk knows of its printer: one row of [`MODELS`] on one paper width, with
/// the width possibly overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrinterProfile {
    pub model: PrinterModel,
    pub paper: PaperWidth,
    /// Printable dots a line.
    pub dots: u32,
    /// Dots an inch, across and along the paper.
    pub dpi: u32,
    pub mm_per_s: u32,
    /// Prints a QR from `GS ( k`.
    pub qr: bool,
    /// Answers `GS ( H` fn 48 once the job before it is printed.
    pub process_id: bool,
    /// Clears its buffers on `DLE DC4` fn 8.
    pub buffer_clear: bool,
    /// Sends automatic status back (`GS a`).
    pub auto_status: bool,
}

impl Default for PrinterProfile {
    fn default() -> Self {
        PrinterProfile::of(PrinterModel::Generic80, PaperWidth::Mm80)
    }
}

impl PrinterProfile {
    /// `model` on `paper` (a 58 mm roll in an 80 mm model uses its 58 mm width; an
    /// 80 mm roll in a 58 mm-only model is taken as 58 mm, which the configuration
    /// refuses before it gets here).
    pub fn of(model: PrinterModel, paper: PaperWidth) -> PrinterProfile {
        let row = model.row();
        let (paper, dots) = match (paper, row.dots_80) {
            (PaperWidth::Mm80, Some(dots)) => (PaperWidth::Mm80, dots),
            _ => (PaperWidth::Mm58, row.dots_58),
        };
        PrinterProfile {
            model,
            paper,
            dots,
            dpi: row.dpi,
            mm_per_s: row.mm_per_s,
            qr: row.qr,
            process_id: row.process_id,
            buffer_clear: row.buffer_clear,
            auto_status: row.auto_status,
        }
    }

    /// The generic printer of `paper`.
    pub fn generic(paper: PaperWidth) -> PrinterProfile {
        PrinterProfile::of(PrinterModel::generic(paper), paper)
    }

    /// The same printer with a head of `dots` (`printer.dots_per_line`).
    pub fn with_dots(self, dots: u32) -> PrinterProfile {
        PrinterProfile { dots, ..self }
    }

    /// Font A characters on one line: 576 dots give 48, 512 give 42, 384 give 32.
    pub fn columns(&self) -> usize {
        (self.dots / FONT_A_DOTS) as usize
    }

    /// How the kiosk learns that a job came out: the process ID where the printer has
    /// it, else automatic status back, else the head time.
    pub fn confirmation(&self) -> Confirmation {
        if self.process_id {
            Confirmation::ProcessId
        } else if self.auto_status {
            Confirmation::AutoStatus
        } else {
            Confirmation::HeadTime
        }
    }

    /// Millimetres of paper `dots` of feed are on this head.
    pub fn mm(&self, dots: u32) -> f64 {
        f64::from(dots) * 25.4 / f64::from(self.dpi)
    }

    /// Dots of feed `mm` of paper are on this head.
    pub fn dots_of_mm(&self, mm: f64) -> u32 {
        (mm * f64::from(self.dpi) / 25.4).round() as u32
    }

    /// How long the head takes to print `dots` of paper.
    pub fn head_time(&self, dots: u32) -> Duration {
        Duration::from_secs_f64(self.mm(dots) / f64::from(self.mm_per_s.max(1)))
    }
}

/// How long `bytes` take on a serial line at `baud`, 8N1 (ten bit times a byte);
/// nothing for a link without a baud rate (USB, network: `0`).
pub fn wire_time(bytes: usize, baud: u32) -> Duration {
    if baud == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(baud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_its_row_and_its_code() {
        for model in PrinterModel::ALL {
            assert_eq!(model.row().model, model);
            assert_eq!(PrinterModel::from_code(model.code()), Some(model));
        }
        assert_eq!(PrinterModel::from_code("tm-t99"), None);
    }

    #[test]
    fn columns_follow_the_head() {
        let cases = [
            (PrinterModel::Generic80, PaperWidth::Mm80, 576, 48),
            (PrinterModel::TmT88v, PaperWidth::Mm80, 512, 42),
            (PrinterModel::TmT88iii, PaperWidth::Mm58, 360, 30),
            (PrinterModel::TmT20, PaperWidth::Mm58, 420, 35),
            (PrinterModel::Generic58, PaperWidth::Mm58, 384, 32),
            (PrinterModel::Generic58, PaperWidth::Mm80, 384, 32),
        ];
        for (model, paper, dots, columns) in cases {
            let p = PrinterProfile::of(model, paper);
            assert_eq!(
                (p.dots, p.columns()),
                (dots, columns),
                "{model:?} {paper:?}"
            );
        }
        let p = PrinterProfile::generic(PaperWidth::Mm58).with_dots(420);
        assert_eq!(p.columns(), 35);
    }

    #[test]
    fn confirmation_follows_what_the_printer_can() {
        let cases = [
            (PrinterModel::TmT88v, Confirmation::ProcessId),
            (PrinterModel::TmT20, Confirmation::ProcessId),
            (PrinterModel::TmT88iii, Confirmation::AutoStatus),
            (PrinterModel::Generic80, Confirmation::HeadTime),
        ];
        for (model, want) in cases {
            let p = PrinterProfile::of(model, PaperWidth::Mm80);
            assert_eq!(p.confirmation(), want, "{model:?}");
        }
    }

    #[test]
    fn head_and_wire_times() {
        // 150 mm at 150 mm/s on a 203 dpi head: 1,199 dots, one second.
        let p = PrinterProfile::generic(PaperWidth::Mm80);
        let dots = p.dots_of_mm(150.0);
        assert_eq!(dots, 1199);
        let t = p.head_time(dots).as_secs_f64();
        assert!((t - 1.0).abs() < 0.01, "{t}");
        assert_eq!(wire_time(960, 9600), Duration::from_secs(1));
        assert_eq!(wire_time(960, 0), Duration::ZERO);
    }
}
