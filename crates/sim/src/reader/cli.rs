//! `apm-kiosk reader-sim`: the simulated card reader driven from a terminal or a script,
//! one line per action (`card N`, `error CODE`, `remove`, `noise N`, `drop-acks on|off`,
//! `unplug`, `replug`, `quit`), and the cards file it lays cards from
//! (`hardware/reader/cards.toml`).
//!
//! Wiring the subcommand into `main.rs` is the integrator's; the reader itself is `sim`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use serde::Deserialize;

use super::ReaderSim;
use crate::domain::nik::mask as mask_nik;
use crate::protocol::reader::{CardData, ReadErrorCode};

#[derive(Debug, Clone, clap::Args)]
pub struct ReaderSimArgs {
    /// Where to put the symlink to the simulated reader's pseudo-terminal; the kiosk's
    /// reader path points here.
    #[arg(long, value_name = "PATH")]
    pub link: PathBuf,
    /// The line's baud rate: output is paced at it, and the kiosk must be set to match.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// The invented KTP records `card N` lays on the reader.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "hardware/reader/cards.toml"
    )]
    pub cards: PathBuf,
}

/// One record of the cards file: the CARD_DATA fields, plus a note for the person at the
/// terminal (what the card is for: a test of NIK checks, a child, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEntry {
    #[serde(default)]
    pub note: Option<String>,
    pub nik: String,
    pub name: String,
    #[serde(default)]
    pub birth_place: Option<String>,
    pub birth_date: String,
    pub sex: String,
    #[serde(default)]
    pub blood_type: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub rt_rw: Option<String>,
    #[serde(default)]
    pub kelurahan: Option<String>,
    #[serde(default)]
    pub kecamatan: Option<String>,
    #[serde(default)]
    pub kabupaten: Option<String>,
    #[serde(default)]
    pub provinsi: Option<String>,
    #[serde(default)]
    pub religion: Option<String>,
    #[serde(default)]
    pub marital_status: Option<String>,
    #[serde(default)]
    pub occupation: Option<String>,
    #[serde(default)]
    pub nationality: Option<String>,
    #[serde(default)]
    pub valid_until: Option<String>,
}

impl CardEntry {
    pub fn card(&self) -> CardData {
        CardData {
            nik: self.nik.clone(),
            name: self.name.clone(),
            birth_place: self.birth_place.clone(),
            birth_date: self.birth_date.clone(),
            sex: self.sex.clone(),
            blood_type: self.blood_type.clone(),
            address: self.address.clone(),
            rt_rw: self.rt_rw.clone(),
            kelurahan: self.kelurahan.clone(),
            kecamatan: self.kecamatan.clone(),
            kabupaten: self.kabupaten.clone(),
            provinsi: self.provinsi.clone(),
            religion: self.religion.clone(),
            marital_status: self.marital_status.clone(),
            occupation: self.occupation.clone(),
            nationality: self.nationality.clone(),
            valid_until: self.valid_until.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardsFile {
    card: Vec<CardEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum CardsFileError {
    #[error("cannot read the cards file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the cards file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
}

/// The cards of a cards file (`[[card]]` tables), in file order.
pub fn load_cards(path: &Path) -> Result<Vec<CardEntry>, CardsFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CardsFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let file: CardsFile = toml::from_str(&text).map_err(|source| CardsFileError::Parse {
        path: shown,
        source: Box::new(source),
    })?;
    Ok(file.card)
}

/// One line of the simulator's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimLine {
    /// Lay card N (1-based, as listed) of the cards file.
    Card(usize),
    Error(ReadErrorCode),
    Remove,
    /// Put N random bytes on the line.
    Noise(usize),
    /// Throw the host's ACKs away (on) or take them again (off).
    DropAcks(bool),
    Unplug,
    Replug,
    Quit,
    Help,
    Blank,
}

/// Parses a line of the simulator's input; the error is a message for the person typing.
pub fn parse_sim_line(line: &str) -> Result<SimLine, String> {
    let mut words = line.split_whitespace();
    let Some(word) = words.next() else {
        return Ok(SimLine::Blank);
    };
    let arg = words.next();
    if words.next().is_some() {
        return Err(format!("too many words in {line:?}"));
    }
    match (word, arg) {
        ("card", Some(n)) => n
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .map(SimLine::Card)
            .ok_or_else(|| format!("card needs a number from 1, not {n:?}")),
        ("error", Some(code)) => {
            let parsed = match code.strip_prefix("0x").or_else(|| code.strip_prefix("0X")) {
                Some(hex) => u8::from_str_radix(hex, 16),
                None => code.parse::<u8>(),
            };
            parsed
                .map(|byte| SimLine::Error(ReadErrorCode::from_byte(byte)))
                .map_err(|_| format!("error needs a code byte such as 0x03, not {code:?}"))
        }
        ("remove", None) => Ok(SimLine::Remove),
        ("noise", Some(n)) => n
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=MAX_NOISE).contains(&n))
            .map(SimLine::Noise)
            .ok_or_else(|| format!("noise needs a byte count from 1 to {MAX_NOISE}, not {n:?}")),
        ("drop-acks", Some("on")) => Ok(SimLine::DropAcks(true)),
        ("drop-acks", Some("off")) => Ok(SimLine::DropAcks(false)),
        ("drop-acks", _) => Err("drop-acks needs on or off".to_owned()),
        ("unplug", None) => Ok(SimLine::Unplug),
        ("replug", None) => Ok(SimLine::Replug),
        ("quit" | "exit", None) => Ok(SimLine::Quit),
        ("help" | "?", None) => Ok(SimLine::Help),
        _ => Err(format!("unknown command {line:?}; type help")),
    }
}

const HELP: &str = "commands: card N | error CODE (0x01..0x06, others unknown) | remove | \
noise N | drop-acks on|off | unplug | replug | quit";

/// The most noise one line may ask for: a second of line time at 115200 baud, enough to
/// bury several frames' worth of false starts.
const MAX_NOISE: usize = 11_520;

/// Runs the simulated reader until `quit` or the end of input.
pub fn run_reader_sim(args: ReaderSimArgs) -> anyhow::Result<()> {
    let cards = load_cards(&args.cards)?;
    let mut sim = ReaderSim::start(&args.link, args.baud).with_context(|| {
        format!(
            "cannot start the simulated reader at {}",
            args.link.display()
        )
    })?;
    println!(
        "simulated card reader on {} -> {} at {} baud",
        sim.link().display(),
        sim.device().display(),
        args.baud
    );
    for (i, entry) in cards.iter().enumerate() {
        println!(
            "  card {:>2}: {}  {}",
            i + 1,
            mask_nik(&entry.nik),
            entry.note.as_deref().unwrap_or("")
        );
    }
    println!("{HELP}");
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read the simulator's input")?;
        match parse_sim_line(&line) {
            Ok(SimLine::Card(n)) => match cards.get(n - 1) {
                Some(entry) => {
                    sim.present_card(entry.card());
                    println!("card {n} laid ({})", mask_nik(&entry.nik));
                }
                None => println!("there is no card {n}: the file has {}", cards.len()),
            },
            Ok(SimLine::Error(code)) => {
                sim.present_error(code);
                println!("card laid that fails: {code}");
            }
            Ok(SimLine::Remove) => {
                sim.remove_card();
                println!("card removed");
            }
            Ok(SimLine::Noise(n)) => {
                let mut bytes = vec![0u8; n];
                rand::thread_rng().fill_bytes(&mut bytes);
                sim.line_noise(bytes);
                println!("{n} bytes of noise on the line");
            }
            Ok(SimLine::DropAcks(on)) => {
                sim.set_drop_acks(on);
                println!(
                    "host ACKs {}",
                    if on { "thrown away" } else { "taken again" }
                );
            }
            Ok(SimLine::Unplug) => {
                sim.unplug();
                println!("reader unplugged: {} removed", sim.link().display());
            }
            Ok(SimLine::Replug) => match sim.replug() {
                Ok(()) => println!(
                    "reader plugged back: {} -> {}",
                    sim.link().display(),
                    sim.device().display()
                ),
                Err(e) => println!("cannot plug the reader back: {e}"),
            },
            Ok(SimLine::Quit) => break,
            Ok(SimLine::Help) => println!("{HELP}"),
            Ok(SimLine::Blank) => {}
            Err(message) => println!("{message}"),
        }
    }
    let counters = sim.counters();
    println!(
        "events sent {}, resends {}, ACKs {}, commands {}",
        counters.events_sent, counters.resends, counters.acks_received, counters.commands_received
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_lines() {
        let cases: Vec<(&str, Result<SimLine, ()>)> = vec![
            ("card 3", Ok(SimLine::Card(3))),
            ("  card   12 ", Ok(SimLine::Card(12))),
            ("card 0", Err(())),
            ("card x", Err(())),
            ("card", Err(())),
            ("error 0x05", Ok(SimLine::Error(ReadErrorCode::CardRemoved))),
            ("error 3", Ok(SimLine::Error(ReadErrorCode::ChipAuthFailed))),
            (
                "error 0x7f",
                Ok(SimLine::Error(ReadErrorCode::Unknown(0x7f))),
            ),
            ("error 0x100", Err(())),
            ("remove", Ok(SimLine::Remove)),
            ("remove 1", Err(())),
            ("noise 64", Ok(SimLine::Noise(64))),
            ("noise 0", Err(())),
            ("noise 11521", Err(())),
            ("noise", Err(())),
            ("drop-acks on", Ok(SimLine::DropAcks(true))),
            ("drop-acks off", Ok(SimLine::DropAcks(false))),
            ("drop-acks", Err(())),
            ("drop-acks maybe", Err(())),
            ("unplug", Ok(SimLine::Unplug)),
            ("replug", Ok(SimLine::Replug)),
            ("unplug now", Err(())),
            ("quit", Ok(SimLine::Quit)),
            ("help", Ok(SimLine::Help)),
            ("", Ok(SimLine::Blank)),
            ("dance", Err(())),
        ];
        for (line, want) in cases {
            assert_eq!(parse_sim_line(line).map_err(|_| ()), want, "{line:?}");
        }
    }
}
