//! The headless simulation, the kiosk's main job on its embedded defaults: a whole kiosk
//! daemon with a simulated card reader and printer on real pseudo-terminals and the
//! central quota service simulator on loopback, and a crowd of applicants driven through
//! the control channel and the reader exactly as people would use the touchscreen.
//!
//! It ends with a summary (booked, refused by reason, tickets printed, registrations
//! accepted by the central service) and the printed tickets as PNG files, and fails if
//! any booking the kiosk confirmed is missing at the central service, or is there more
//! than once, or if any queue number was given twice.
//!
//! With `--outage-first-half` the central service is stopped after the kiosk's first
//! sync and started again halfway through the crowd: the first half books offline
//! against the numbers the kiosk already holds.

pub mod crowd;
mod returns;
pub mod rig;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::control::{Client, Command};
use crate::domain::{ApplicationType, PassportType, PriorityReason, QueueKind};
use crate::flow::Intent;
use crate::protocol::central::RegistrationStatus;
use crate::protocol::escpos::PaperWidth;
use crate::protocol::reader::{CardData, ReadErrorCode};
use crate::store::Store;
use apm_kiosk_sim::central::{CentralSim, SimRegistration, SimSeed};
use crowd::{Behaviour, Crowd, Entry, Person, Visit};
use rig::{LocalCentral, Rig, RigOptions};

/// The enrollment code the built-in central simulator accepts.
const SIM_ENROLL_CODE: &str = "SIM0-0001";

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// How many visits (a visit is one person or one family group).
    #[arg(long, default_value_t = 50)]
    pub applicants: usize,
    /// Where the summary, the ticket images and the kiosk's state go.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// An external central service that speaks the API, instead of the built-in simulator.
    #[arg(long, requires = "enroll_code")]
    pub central: Option<String>,
    /// The one-time enrollment code for `--central`.
    #[arg(long)]
    pub enroll_code: Option<String>,
    /// Stop the built-in central service after the first sync and start it again
    /// halfway through the crowd.
    #[arg(long, conflicts_with = "central")]
    pub outage_first_half: bool,
    /// Seed of the crowd: the same seed gives the same people and the same choices.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Baud rate of the simulated card reader's line.
    #[arg(long, default_value_t = 115_200)]
    pub reader_baud: u32,
    /// Baud rate of the simulated printer's line.
    #[arg(long, default_value_t = 115_200)]
    pub printer_baud: u32,
    /// Paper width of the simulated printer: 80 or 58 (mm).
    #[arg(long, default_value = "80", value_parser = apm_kiosk_sim::printer::parse_width)]
    pub paper: PaperWidth,
    /// The simulated printer's model, as `printer.model` names it; the kiosk is
    /// configured for the same. A TM-T20: the 576-dot head, confirmed by process ID.
    #[arg(long, default_value = "tm-t20", value_parser = apm_kiosk_sim::printer::parse_model)]
    pub printer_model: crate::protocol::printer_profile::PrinterModel,
    /// The simulated head's speed in mm/s (default: the model's, 150 for a TM-T20).
    #[arg(long, value_name = "MM_PER_S")]
    pub printer_speed: Option<u32>,
    /// After the crowd, keep the kiosk, its devices and the central simulator running
    /// until Ctrl-C, so that `apm-kiosk maint --config DIR/state/kiosk.toml ...` and
    /// `status` can be tried against it.
    #[arg(long)]
    pub keep_running: bool,
}

/// What happened to one visit.
#[derive(Debug, Clone, Default)]
struct VisitOutcome {
    booked: usize,
    priority: usize,
    refused: Vec<String>,
    walked_away: bool,
    cancelled: bool,
    saw_full_day: bool,
    during_outage: bool,
    /// What came of someone who came back to their booking.
    returned: Option<String>,
    /// The day a plain single visit booked, for someone coming back later.
    booked_for: Option<NaiveDate>,
}

/// The end of a simulation run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub visits: usize,
    pub groups_booked: usize,
    pub applicants_booked: usize,
    pub priority_booked: usize,
    pub booked_during_outage: usize,
    /// Applicants or visits refused, by the rule or check that refused them.
    pub refused: BTreeMap<String, usize>,
    pub full_days_refused: usize,
    pub walked_away: usize,
    pub cancelled: usize,
    /// People who came back to their booking, by what came of it (`reprinted`,
    /// `rescheduled`, `cancelled`, or what stopped them).
    pub returns: BTreeMap<String, usize>,
    /// Bookings cancelled before they were ever sent: released at the kiosk, never
    /// expected at the central service.
    pub released: usize,
    pub tickets_printed: usize,
    pub registrations: usize,
    pub accepted_by_central: usize,
    pub rejected_by_central: usize,
    pub still_pending: usize,
    pub missing_at_central: Vec<String>,
    pub duplicate_numbers: Vec<String>,
    pub ticket_dir: PathBuf,
    pub seconds: f64,
}

impl Summary {
    /// The run kept every promise: every confirmed booking reached the service once.
    pub fn ok(&self) -> bool {
        self.missing_at_central.is_empty()
            && self.duplicate_numbers.is_empty()
            && self.still_pending == 0
            && self.accepted_by_central == self.registrations
    }

    pub fn print(&self) {
        println!(
            "apm-kiosk simulation: {} visits in {:.1} s",
            self.visits, self.seconds
        );
        println!(
            "  booked            {} applicants in {} groups ({} priority)",
            self.applicants_booked, self.groups_booked, self.priority_booked
        );
        if self.booked_during_outage > 0 {
            println!(
                "  booked offline    {} applicants while the central service was down",
                self.booked_during_outage
            );
        }
        let refused: usize = self.refused.values().sum();
        println!("  refused           {refused}");
        for (reason, n) in &self.refused {
            println!("    {reason:<32} {n}");
        }
        println!(
            "  full day tapped   {} (then chose another day)",
            self.full_days_refused
        );
        println!(
            "  walked away       {} (screen wiped by the inactivity timeout)",
            self.walked_away
        );
        println!("  cancelled         {}", self.cancelled);
        let returns: usize = self.returns.values().sum();
        println!("  came back         {returns} (to their booking)");
        for (what, n) in &self.returns {
            println!("    {what:<32} {n}");
        }
        println!(
            "  tickets printed   {} (PNG in {})",
            self.tickets_printed,
            self.ticket_dir.display()
        );
        println!(
            "  central service   {} of {} registrations accepted, {} rejected, {} pending",
            self.accepted_by_central,
            self.registrations,
            self.rejected_by_central,
            self.still_pending
        );
        if !self.missing_at_central.is_empty() {
            println!(
                "  MISSING at central: {}",
                self.missing_at_central.join(", ")
            );
        }
        if !self.duplicate_numbers.is_empty() {
            println!(
                "  NUMBERS GIVEN TWICE: {}",
                self.duplicate_numbers.join(", ")
            );
        }
        println!(
            "  result            {}",
            if self.ok() { "ok" } else { "FAILED" }
        );
    }
}

/// The card a person's KTP chip holds.
pub fn card_of(p: &Person) -> CardData {
    let province = crate::domain::nik::province_name(p.nik[..2].parse().unwrap_or(0));
    CardData {
        nik: p.nik.clone(),
        name: p.name.clone(),
        birth_place: Some(p.birth_place.clone()),
        birth_date: p.birth_date.format("%Y-%m-%d").to_string(),
        sex: p.sex.code().to_owned(),
        blood_type: Some("-".into()),
        address: Some(p.address.clone()),
        rt_rw: Some("003/005".into()),
        kelurahan: Some("TELUK AIR".into()),
        kecamatan: Some("KARIMUN".into()),
        kabupaten: Some(p.birth_place.clone()),
        provinsi: province.map(|s| s.to_uppercase()),
        religion: Some("ISLAM".into()),
        marital_status: Some("KAWIN".into()),
        occupation: Some("WIRASWASTA".into()),
        nationality: Some("WNI".into()),
        valid_until: Some("SEUMUR HIDUP".into()),
    }
}

const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the simulation and returns its summary; the caller decides the exit code.
pub async fn run(args: SimulateArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    // The daemon runs from anywhere: every path in its config is absolute.
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("output directory {}", args.out.display()))?;
    let today = Utc::now()
        .with_timezone(&crate::domain::calendar::Zone::Wib.offset())
        .date_naive();

    let rig = Rig::start(&out, rig_options(&args), today).await?;
    let Rig {
        config,
        config_path,
        reader,
        printer,
        central: mut local,
        state,
        tickets,
        ..
    } = rig;

    let socket = config.kiosk.control_socket();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::app::run(config, async move {
        let _ = stop_rx.await;
    }));
    let mut client = Client::connect(&socket, PATIENCE).await?;
    wait_for_numbers(&mut client).await?;

    let mut summary = Summary {
        ticket_dir: tickets,
        ..Summary::default()
    };
    drive_crowd(
        &args,
        today,
        &mut client,
        &reader,
        local.as_mut(),
        &mut summary,
    )
    .await?;

    drain(&mut client).await?;
    if args.keep_running {
        println!(
            "kiosk running: try `apm-kiosk maint --config {} status`; Ctrl-C stops it",
            config_path.display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop_tx.send(());
    daemon.await.context("daemon task")??;
    drop(client);

    let store = Store::open(&state.join("kiosk.db"))?;
    count_registrations(&mut summary, &store, local.as_ref())?;
    summary.tickets_printed = printer.tickets().len();
    drop(reader);
    drop(printer);
    if let Some(mut c) = local {
        c.down().await;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(out.join("summary.json"), json)?;
    Ok(summary)
}

/// The rig the arguments ask for, with short inactivity timeouts so that a person who
/// walks away does not hold the crowd up for long.
fn rig_options(args: &SimulateArgs) -> RigOptions {
    RigOptions {
        central: args.central.clone().zip(args.enroll_code.clone()),
        reader_baud: args.reader_baud,
        printer_baud: args.printer_baud,
        paper: args.paper,
        printer_model: args.printer_model,
        printer_mm_per_s: args.printer_speed,
        inactivity_warning_s: 10,
        inactivity_reset_s: 5,
    }
}

/// Drives the seed's crowd through the kiosk one visit after another and tallies each
/// visit into `summary`. With `--outage-first-half` the built-in central service is
/// down for the first half of the crowd and back (with a sync asked for) after it.
async fn drive_crowd(
    args: &SimulateArgs,
    today: NaiveDate,
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    mut local: Option<&mut LocalCentral>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut visits = Crowd::new(args.seed, today).visits(args.applicants);
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let outage_until = if args.outage_first_half && local.is_some() {
        visits.len() / 2
    } else {
        0
    };
    if outage_until > 0
        && let Some(c) = local.as_mut()
    {
        c.down().await;
        println!("central service stopped: the first {outage_until} visits book offline");
    }

    summary.visits = visits.len();
    let mut singles: Vec<(Entry, NaiveDate)> = Vec::new();
    for (i, visit) in visits.iter_mut().enumerate() {
        if let Behaviour::ComesBack(what) = visit.behaviour {
            returns::pick(visit, what, &mut singles, today);
        }
        if outage_until > 0
            && i == outage_until
            && let Some(c) = local.as_mut()
        {
            c.up().await?;
            println!("central service back after visit {i}");
            client.command(Command::SyncNow, PATIENCE).await?;
        }
        let mut outcome = drive(visit, client, reader, &mut rng)
            .await
            .with_context(|| format!("visit {} ({:?})", visit.number, visit.behaviour))?;
        outcome.during_outage = i < outage_until;
        if let (Behaviour::Plain, true, Some(day)) = (
            visit.behaviour,
            visit.members.is_empty(),
            outcome.booked_for,
        ) {
            singles.push((visit.lead.clone(), day));
        }
        tally(summary, &outcome);
    }
    Ok(())
}

/// Counts what the kiosk confirmed against what the service holds: the built-in
/// simulator is asked directly; an external service's receipts, stored by the kiosk,
/// are the evidence.
fn count_registrations(
    summary: &mut Summary,
    store: &Store,
    local: Option<&LocalCentral>,
) -> anyhow::Result<()> {
    let mut kiosk_regs = store.registration_statuses()?;
    let released: Vec<String> = kiosk_regs
        .iter()
        .filter(|(_, s)| s == "released")
        .map(|(id, _)| id.clone())
        .collect();
    kiosk_regs.retain(|(_, s)| s != "released");
    let with_status = |status: &str| kiosk_regs.iter().filter(|(_, s)| s == status).count();
    summary.released = released.len();
    summary.registrations = kiosk_regs.len();
    summary.still_pending = with_status("pending");
    summary.rejected_by_central = with_status("rejected");
    match local {
        Some(c) => {
            let at_central = c.sim.registrations()?;
            summary.duplicate_numbers = numbers_given_twice(&at_central);
            summary.accepted_by_central = at_central
                .iter()
                .filter(|r| r.status == RegistrationStatus::Accepted)
                .count();
            summary.missing_at_central = not_there_once(&kiosk_regs, &at_central);
            // A booking released before it was sent must never have reached the service.
            summary.missing_at_central.extend(
                released
                    .iter()
                    .filter(|id| {
                        at_central
                            .iter()
                            .any(|r| r.registration_id.to_string() == **id)
                    })
                    .map(|id| format!("{id} (released, yet at the service)")),
            );
        }
        None => {
            summary.accepted_by_central = with_status("accepted");
            summary.missing_at_central = kiosk_regs
                .iter()
                .filter(|(_, s)| s == "pending")
                .map(|(id, _)| id.clone())
                .collect();
        }
    }
    Ok(())
}

/// Every queue number the service accepted more than once (office, date, session,
/// kind, number), once per extra time, in the service's order.
fn numbers_given_twice(at_central: &[SimRegistration]) -> Vec<String> {
    let mut seen: HashSet<(&str, NaiveDate, &str, QueueKind, u32)> = HashSet::new();
    let mut twice = Vec::new();
    for r in at_central {
        // A cancelled booking's number went back to the pool: it may be another's now.
        if r.status != RegistrationStatus::Accepted || r.cancelled {
            continue;
        }
        if !seen.insert((&r.office_id, r.date, &r.session_id, r.kind, r.number)) {
            twice.push(format!(
                "{} {} {} {}-{}",
                r.office_id,
                r.date,
                r.session_id,
                r.kind.code(),
                r.number
            ));
        }
    }
    twice
}

/// The kiosk's registrations the service holds none of, or more than one of.
fn not_there_once(kiosk_regs: &[(String, String)], at_central: &[SimRegistration]) -> Vec<String> {
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for r in at_central {
        *by_id.entry(r.registration_id.to_string()).or_default() += 1;
    }
    kiosk_regs
        .iter()
        .filter(|(id, _)| by_id.get(id).copied().unwrap_or(0) != 1)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Takes every number of one office's third bookable day, as other kiosks would: the
/// kiosk then holds none for it and shows it full.
fn fill_one_day(sim: &CentralSim, today: NaiveDate) -> anyhow::Result<()> {
    let seed = SimSeed::default();
    let Some(krm) = seed
        .offices
        .into_iter()
        .map(|o| o.office)
        .find(|o| o.office_id == "KRM")
    else {
        return Ok(());
    };
    let office = crate::sync::office_from_wire(&krm).map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let Some(day) = office
        .bookable_dates(now)
        .into_iter()
        .filter(|d| *d > today)
        .nth(1)
    else {
        return Ok(());
    };
    for s in &office.sessions {
        for kind in QueueKind::ALL {
            sim.prebook("KRM", day, &s.id, kind, 1000)?;
        }
    }
    Ok(())
}

async fn status(client: &mut Client) -> anyhow::Result<Value> {
    Ok(client.command(Command::Status, PATIENCE).await?)
}

async fn wait_for_numbers(client: &mut Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(client).await?;
        if s["store"]["held_free"].as_u64().unwrap_or(0) > 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the kiosk got no queue numbers from the central service within a minute: {}",
                s["sync"]["last_error"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the kiosk has an answer from the service for every registration.
async fn drain(client: &mut Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(client).await?;
        if s["store"]["pending"].as_u64() == Some(0)
            && s["store"]["changes_waiting"].as_u64() == Some(0)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} registrations still unsynced after two minutes: {}",
                s["store"]["pending"],
                s["sync"]["last_error"]
            );
        }
        client.command(Command::SyncNow, PATIENCE).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn tally(s: &mut Summary, o: &VisitOutcome) {
    if o.booked > 0 {
        s.groups_booked += 1;
        s.applicants_booked += o.booked;
        s.priority_booked += o.priority;
        if o.during_outage {
            s.booked_during_outage += o.booked;
        }
    }
    for r in &o.refused {
        *s.refused.entry(r.clone()).or_default() += 1;
    }
    s.full_days_refused += usize::from(o.saw_full_day);
    s.walked_away += usize::from(o.walked_away);
    s.cancelled += usize::from(o.cancelled);
    if let Some(r) = &o.returned {
        *s.returns.entry(r.clone()).or_default() += 1;
    }
}

async fn tap(client: &mut Client, intent: Intent) -> anyhow::Result<()> {
    client.send(&intent).await?;
    Ok(())
}

/// Waits for one of several screens and says which came.
async fn wait_any(client: &mut Client, screens: &[&str]) -> anyhow::Result<String> {
    client
        .wait_until(
            |v| screens.iter().any(|s| v["screen"] == *s),
            &screens.join("|"),
            PATIENCE,
        )
        .await?;
    Ok(client.screen().to_owned())
}

fn refusal(view: &Value) -> String {
    let p = &view["problem"];
    match p["problem"].as_str() {
        Some("refused") => p["rule"].as_str().unwrap_or("refused").to_owned(),
        Some("card_nik_invalid") => {
            format!("card_nik_invalid:{}", p["reason"].as_str().unwrap_or(""))
        }
        Some(other) => other.to_owned(),
        None => "unknown".to_owned(),
    }
}

/// Identifies one person at the card screen or the keypad; returns the screen reached
/// (confirm_identity, or problem).
async fn identify(
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    entry: &Entry,
    behaviour: Behaviour,
    refused: &mut Vec<String>,
) -> anyhow::Result<String> {
    match entry {
        Entry::Card { person, failures } => {
            for _ in 0..*failures {
                reader.present_error(ReadErrorCode::CardRemoved);
                client
                    .wait_until(
                        |v| v["screen"] == "read_card" && v["card_problem"].is_string(),
                        "read error shown",
                        PATIENCE,
                    )
                    .await?;
                // The next view must be a new one: forget this one.
                client.view["card_problem"] = Value::Null;
            }
            if behaviour == Behaviour::KeypadTypo {
                tap(client, Intent::ManualEntry).await?;
                client.wait_for("manual_nik", PATIENCE).await?;
                tap(
                    client,
                    Intent::EnterNik {
                        nik: crowd::typo(&person.nik),
                        kk: None,
                    },
                )
                .await?;
                client
                    .wait_until(
                        |v| v["entry_problem"].is_object() || v["entry_problem"].is_string(),
                        "keypad refusal",
                        PATIENCE,
                    )
                    .await?;
                let code = client.view["entry_problem"]["nik_invalid"]
                    .as_str()
                    .unwrap_or("?");
                refused.push(format!("keypad_nik_invalid:{code}"));
                tap(
                    client,
                    Intent::EnterNik {
                        nik: person.nik.clone(),
                        kk: None,
                    },
                )
                .await?;
            } else {
                let mut card = card_of(person);
                if behaviour == Behaviour::MismatchedCard {
                    // The chip's birth date says one thing, the NIK another.
                    card.birth_date = (person.birth_date + chrono::TimeDelta::days(1))
                        .format("%Y-%m-%d")
                        .to_string();
                }
                reader.present_card(card);
            }
        }
        Entry::Child { person } => {
            tap(
                client,
                Intent::EnterNik {
                    nik: person.nik.clone(),
                    kk: Some(person.kk.clone()),
                },
            )
            .await?;
        }
    }
    let screen = wait_any(client, &["confirm_identity", "problem"]).await?;
    if matches!(entry, Entry::Card { failures: 0, .. }) && behaviour != Behaviour::KeypadTypo {
        reader.remove_card();
    }
    if let Entry::Child { person } = entry
        && screen == "confirm_identity"
        && crowd::types_the_name(person)
    {
        name_the_child(client, person).await?;
    }
    Ok(screen)
}

/// The parent types the child's name on the letter keypad, as the family card has it.
async fn name_the_child(client: &mut Client, child: &crowd::Person) -> anyhow::Result<()> {
    tap(client, Intent::TypeName).await?;
    client.wait_for("name_entry", PATIENCE).await?;
    tap(
        client,
        Intent::EnterName {
            name: child.name.clone(),
        },
    )
    .await?;
    client
        .wait_until(
            |v| v["screen"] == "confirm_identity" && v["applicant"]["name"].is_string(),
            "the child's name shown",
            PATIENCE,
        )
        .await?;
    Ok(())
}

/// Confirms the identity on screen and fills in the details; Ok(None) when the person
/// joined the group, Ok(Some(reason)) when a rule refused them.
async fn confirm_and_detail(
    client: &mut Client,
    rng: &mut StdRng,
    declare: Option<PriorityReason>,
    first: bool,
) -> anyhow::Result<Option<String>> {
    tap(client, Intent::ConfirmIdentity).await?;
    if wait_any(client, &["details", "problem"]).await? == "problem" {
        let reason = refusal(&client.view);
        tap(client, Intent::Dismiss).await?;
        return Ok(Some(reason));
    }
    if first {
        let at = *[
            ApplicationType::New,
            ApplicationType::New,
            ApplicationType::Replacement,
            ApplicationType::Damaged,
            ApplicationType::Lost,
        ]
        .choose(rng)
        .unwrap_or(&ApplicationType::New);
        let pt = if rng.gen_bool(0.7) {
            PassportType::Electronic
        } else {
            PassportType::Regular48
        };
        tap(
            client,
            Intent::ChooseApplicationType {
                application_type: at,
            },
        )
        .await?;
        tap(client, Intent::ChoosePassportType { passport_type: pt }).await?;
    }
    if declare.is_some() {
        tap(client, Intent::DeclarePriority { reason: declare }).await?;
    }
    tap(client, Intent::ConfirmDetails).await?;
    client.wait_for("members", PATIENCE).await?;
    Ok(None)
}

/// What a step of a visit gives: Ok(None) when the visit ended at that step (back at
/// idle, or walked away), its outcome saying why.
type Step<T = ()> = anyhow::Result<Option<T>>;

/// Drives one visit from the idle screen to its end, as the person would: the lead
/// applicant, the family, then office, day and session, the review and the ticket.
async fn drive(
    visit: &Visit,
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    rng: &mut StdRng,
) -> anyhow::Result<VisitOutcome> {
    let mut out = VisitOutcome::default();
    client.wait_for("idle", PATIENCE).await?;
    tap(client, Intent::Start).await?;
    client.wait_for("read_card", PATIENCE).await?;
    if let Behaviour::ComesBack(what) = visit.behaviour {
        returns::come_back(visit, what, client, reader, &mut out).await?;
        return Ok(out);
    }

    if add_lead(visit, client, reader, rng, &mut out)
        .await?
        .is_none()
    {
        return Ok(out);
    }
    add_family(visit, client, reader, rng, &mut out).await?;
    let group: Vec<Value> = client.view["members"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    tap(client, Intent::FinishMembers).await?;
    client.wait_for("office", PATIENCE).await?;
    if choose_office(visit, client, &mut out).await?.is_none()
        || choose_day(visit, client, rng, &mut out).await?.is_none()
        || choose_session(visit, client, rng, &mut out)
            .await?
            .is_none()
        || book(visit, client, &mut out).await?.is_none()
    {
        return Ok(out);
    }

    let tickets = client.view["booking"]["tickets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.booked = tickets.len();
    out.priority = tickets.iter().filter(|t| t["kind"] == "priority").count();
    out.booked_for = client.view["booking"]["date"]
        .as_str()
        .and_then(|d| d.parse().ok());
    debug_assert_eq!(tickets.len(), group.len());
    tap(client, Intent::Finish).await?;
    client.wait_for("idle", PATIENCE).await?;
    Ok(out)
}

/// Notes the refusal on screen, takes its way out and waits for the screen it leads to.
async fn take_refusal(
    client: &mut Client,
    out: &mut VisitOutcome,
    way_out: Intent,
    back_at: &str,
) -> anyhow::Result<()> {
    out.refused.push(refusal(&client.view));
    tap(client, way_out).await?;
    client.wait_for(back_at, PATIENCE).await?;
    Ok(())
}

/// The lead applicant identifies and fills in the group's details (declaring a
/// disability if that is their behaviour); a refusal ends the visit.
async fn add_lead(
    visit: &Visit,
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    rng: &mut StdRng,
    out: &mut VisitOutcome,
) -> Step {
    let screen = identify(
        client,
        reader,
        &visit.lead,
        visit.behaviour,
        &mut out.refused,
    )
    .await?;
    if screen == "problem" {
        take_refusal(client, out, Intent::Dismiss, "idle").await?;
        return Ok(None);
    }
    let declare =
        (visit.behaviour == Behaviour::DeclaresDisability).then_some(PriorityReason::Disabled);
    if let Some(reason) = confirm_and_detail(client, rng, declare, true).await? {
        out.refused.push(reason);
        client.wait_for("idle", PATIENCE).await?;
        return Ok(None);
    }
    Ok(Some(()))
}

/// Adds the family one member after another; a member refused is left out and the
/// group goes on without them.
async fn add_family(
    visit: &Visit,
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    rng: &mut StdRng,
    out: &mut VisitOutcome,
) -> anyhow::Result<()> {
    for member in &visit.members {
        match member {
            Entry::Card { .. } => {
                tap(client, Intent::AddMemberByCard).await?;
                client.wait_for("read_card", PATIENCE).await?;
            }
            Entry::Child { .. } => {
                tap(client, Intent::AddChild).await?;
                client.wait_for("manual_nik", PATIENCE).await?;
            }
        }
        if identify(client, reader, member, Behaviour::Plain, &mut out.refused).await? == "problem"
        {
            take_refusal(client, out, Intent::Dismiss, "members").await?;
            continue;
        }
        if let Some(reason) = confirm_and_detail(client, rng, None, false).await? {
            out.refused.push(reason);
            client.wait_for("members", PATIENCE).await?;
        }
    }
    Ok(())
}

/// The values of `key` in the entries of the list `list` of a view that `keep` keeps.
fn ids_in(view: &Value, list: &str, key: &str, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    view[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| keep(e))
                .filter_map(|e| e[key].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Chooses the visit's office, or the first one offered if the kiosk does not serve
/// it; a refusal there ends the visit.
async fn choose_office(visit: &Visit, client: &mut Client, out: &mut VisitOutcome) -> Step {
    let offices = ids_in(&client.view, "offices", "office_id", |_| true);
    let office_id = if offices.iter().any(|o| o == visit.office_id) {
        visit.office_id.to_owned()
    } else {
        offices
            .first()
            .cloned()
            .context("the kiosk offers no office")?
    };
    tap(client, Intent::ChooseOffice { office_id }).await?;
    if wait_any(client, &["date", "problem"]).await? == "problem" {
        take_refusal(client, out, Intent::Cancel, "idle").await?;
        return Ok(None);
    }
    Ok(Some(()))
}

/// The dates of the calendar on screen with that status.
fn dates_with(view: &Value, status: &str) -> Vec<String> {
    ids_in(view, "dates", "date", |d| d["status"] == status)
}

/// Chooses one of the first five open days (after tapping a full one first, if that is
/// the visit's behaviour); no open day ends the visit.
async fn choose_day(
    visit: &Visit,
    client: &mut Client,
    rng: &mut StdRng,
    out: &mut VisitOutcome,
) -> Step {
    if visit.behaviour == Behaviour::TriesFullDay
        && let Some(full) = dates_with(&client.view, "full").first()
    {
        tap(
            client,
            Intent::ChooseDate {
                date: full.parse()?,
            },
        )
        .await?;
        client
            .wait_until(
                |v| v["problem"]["rule"] == "date_full",
                "full day refused",
                PATIENCE,
            )
            .await?;
        out.saw_full_day = true;
    }
    let open = dates_with(&client.view, "open");
    let Some(date) = open
        .iter()
        .take(5)
        .collect::<Vec<_>>()
        .choose(rng)
        .map(|d| (*d).clone())
    else {
        out.refused.push("no_open_day".into());
        tap(client, Intent::Cancel).await?;
        client.wait_for("idle", PATIENCE).await?;
        return Ok(None);
    };
    tap(
        client,
        Intent::ChooseDate {
            date: date.parse()?,
        },
    )
    .await?;
    client.wait_for("session", PATIENCE).await?;
    Ok(Some(()))
}

/// Chooses one of the day's bookable sessions, unless the person walks away here: then
/// nobody taps, the warning comes and the screen is wiped.
async fn choose_session(
    visit: &Visit,
    client: &mut Client,
    rng: &mut StdRng,
    out: &mut VisitOutcome,
) -> Step {
    if visit.behaviour == Behaviour::WalksAway {
        client
            .wait_until(
                |v| v["screen"] == "idle",
                "idle after the timeout",
                Duration::from_secs(30),
            )
            .await?;
        out.walked_away = true;
        return Ok(None);
    }
    let sessions = ids_in(&client.view, "sessions", "session_id", |s| {
        s["bookable"] == true
    });
    let session_id = sessions
        .choose(rng)
        .cloned()
        .context("an open day offers no session")?;
    tap(client, Intent::ChooseSession { session_id }).await?;
    // A session the kiosk holds too few numbers for asks the service first.
    client
        .wait_until(
            |v| v["screen"] == "review" || v["numbers_failure"].is_string(),
            "review",
            PATIENCE,
        )
        .await?;
    if client.screen() != "review" {
        let why = client.view["numbers_failure"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        out.refused.push(format!("numbers_{why}"));
        tap(client, Intent::Cancel).await?;
        client.wait_for("idle", PATIENCE).await?;
        return Ok(None);
    }
    Ok(Some(()))
}

/// Cancels at the review if that is the visit's behaviour, or confirms the booking. A
/// ticket that did not print leaves the booking standing (noted as printed later); a
/// refusal of the booking ends the visit.
async fn book(visit: &Visit, client: &mut Client, out: &mut VisitOutcome) -> Step {
    if visit.behaviour == Behaviour::CancelsAtReview {
        tap(client, Intent::Cancel).await?;
        client.wait_for("idle", PATIENCE).await?;
        out.cancelled = true;
        return Ok(None);
    }
    tap(client, Intent::ConfirmBooking).await?;
    if wait_any(client, &["done", "problem"]).await? == "done" {
        return Ok(Some(()));
    }
    if client.view["way_out"] != "done" {
        take_refusal(client, out, Intent::Cancel, "idle").await?;
        return Ok(None);
    }
    // Booked, but the ticket did not print: the booking stands.
    let reason = refusal(&client.view);
    out.refused.push(format!("printed_later:{reason}"));
    tap(client, Intent::Dismiss).await?;
    client.wait_for("done", PATIENCE).await?;
    Ok(Some(()))
}
