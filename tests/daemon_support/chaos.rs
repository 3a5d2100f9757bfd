//! Chaos: the daemon binary killed with SIGKILL at random points of booking, printing
//! and sync, round after round, while the central simulator loses answers (the work
//! done, the connection closed before the answer) and drops connections on
//! allocations, uploads and releases; between rounds the kiosk's `sync.target` goes up
//! and down, so that there are surplus numbers to give back. At the end the faults
//! stop and one last run drains everything; then what a person was handed is checked
//! against the service's own records.
//!
//! The suite runs a short seeded run (`tests/chaos.rs`); the benchmark
//! (`benches/chaos.rs`) runs long ones and prints the figures. A sibling of
//! `daemon_support`, included by path where it is used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use apm_kiosk::flow::Intent;
use apm_kiosk::protocol::central::RegistrationStatus;
use apm_kiosk_sim::central::Faults;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::daemon_support::{
    self as support, Daemon, Kiosk, book_until_review, plain_people, start_central, wait_ready,
};

/// The request paths whose answers the service loses.
const FAULTY_PATHS: [&str; 3] = [
    "/v1/allocations",
    "/v1/allocations/release",
    "/v1/registrations",
];

/// One chaos run's shape.
#[derive(Debug, Clone, Copy)]
pub struct ChaosPlan {
    pub seed: u64,
    /// Daemon starts, each ended by a SIGKILL.
    pub kills: usize,
    /// Share of the faulty paths' requests whose answer is lost after the work.
    pub lose_answer_rate: f64,
    /// Share dropped at random before or after the work.
    pub drop_rate: f64,
}

/// What a run did and what the service's records say of it.
#[derive(Debug, Default)]
pub struct ChaosReport {
    pub kills: usize,
    /// Bookings the kiosk committed (its database after the last run).
    pub bookings: usize,
    /// "Book" taps whose kill came before the commit: nothing booked, nothing printed.
    pub taps_lost_before_commit: usize,
    /// Tickets that came out of the printer, COPY reprints included.
    pub tickets_printed: usize,
    /// Committed bookings with no ticket on paper (must be 0).
    pub bookings_without_ticket: usize,
    /// Tickets on paper for no booking the kiosk has (must be 0).
    pub tickets_without_booking: usize,
    /// Bookings the service does not hold as accepted exactly once (must be 0).
    pub not_accepted_once: usize,
    /// Registrations the service rejected (must be 0: plain, distinct applicants).
    pub rejected: usize,
    /// Queue numbers the service holds two registrations for (must be 0).
    pub numbers_booked_twice: usize,
    /// Queue numbers the kiosk gave back to the service (surplus after a lower target).
    pub numbers_released: u64,
    /// Releases the kiosk still has to send after the last run (must be 0).
    pub releases_unsent: u64,
}

impl ChaosReport {
    /// Whether every ticket a person was handed is on the service exactly once, and
    /// nothing else is wrong.
    pub fn clean(&self) -> bool {
        self.bookings_without_ticket == 0
            && self.tickets_without_booking == 0
            && self.not_accepted_once == 0
            && self.rejected == 0
            && self.numbers_booked_twice == 0
            && self.releases_unsent == 0
    }
}

/// Runs `plan` on a fresh kiosk and central simulator.
pub async fn run(plan: ChaosPlan) -> ChaosReport {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    set_sync(&kiosk.config, 2, 3);
    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::sync::enroll::enroll(&config, support::CODE)
        .await
        .expect("enrolled");
    central.sim.set_faults(Faults {
        lose_answer_rate: plan.lose_answer_rate,
        drop_rate: plan.drop_rate,
        only_paths: FAULTY_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        seed: plan.seed,
        ..Faults::default()
    });
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let people = plain_people(plan.kills);
    let log = kiosk.root.join("daemon.log");
    let mut report = ChaosReport::default();
    for person in &people {
        // Many numbers held, then few: the surplus goes back.
        let (low, target) = if rng.gen_bool(0.5) { (2, 3) } else { (6, 6) };
        set_sync(&kiosk.config, low, target);
        let booked = one_killed_run(&kiosk, &log, &mut rng, person).await;
        report.taps_lost_before_commit += usize::from(booked == Tapped::LostBeforeCommit);
        report.kills += 1;
    }
    central.sim.set_faults(Faults::default());
    drain(&kiosk, &log).await;
    check(&kiosk, &central.sim, &mut report);
    central.stop().await;
    report
}

/// What became of a round's "book" tap.
#[derive(Debug, PartialEq, Eq)]
enum Tapped {
    NoTap,
    Committed,
    LostBeforeCommit,
}

/// One start of the daemon, some work, and a SIGKILL at a random moment of it: during
/// a booking's commit or print, or while the sync loop works.
async fn one_killed_run(
    kiosk: &Kiosk,
    log: &Path,
    rng: &mut StdRng,
    person: &apm_kiosk::simulate::crowd::Person,
) -> Tapped {
    let mut daemon = Daemon::spawn(&kiosk.config, log);
    let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(30)).await;
    let mut tapped = Tapped::NoTap;
    let mut groups_before = 0;
    if rng.gen_bool(0.7) && has_numbers(&mut client).await {
        book_until_review(&mut client, &kiosk.reader, person).await;
        groups_before = support::store_facts(&kiosk.db()).groups;
        client.send(&Intent::ConfirmBooking).await.expect("sent");
        tapped = Tapped::Committed;
        // From the tap to well past the print of one ticket, as often inside the
        // commit's first millisecond as in the print's second: log-uniform, 10 µs to 2 s.
        let micros = 10f64.powf(rng.gen_range(1.0..6.3));
        std::thread::sleep(Duration::from_micros(micros as u64));
    } else {
        // The sync loop's rounds: allocations, uploads, releases.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..3_000)));
    }
    daemon.signal(libc::SIGKILL);
    daemon.wait_exit(Duration::from_secs(5)).expect("killed");
    if tapped == Tapped::Committed && support::store_facts(&kiosk.db()).groups == groups_before {
        tapped = Tapped::LostBeforeCommit;
    }
    tapped
}

/// Whether the kiosk holds numbers to book with, asked for a few seconds: with the
/// service losing answers, a round may start with none yet.
async fn has_numbers(client: &mut apm_kiosk::control::Client) -> bool {
    for _ in 0..30 {
        let s = client
            .command(apm_kiosk::control::Command::Status, support::PATIENCE)
            .await
            .expect("status");
        if s["store"]["held_free"].as_u64().unwrap_or(0) > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The last run, the service whole again: until every booking is printed and answered
/// and every release sent; then a clean stop.
async fn drain(kiosk: &Kiosk, log: &Path) {
    let mut daemon = Daemon::spawn(&kiosk.config, log);
    let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = client
            .command(apm_kiosk::control::Command::Status, support::PATIENCE)
            .await
            .expect("status");
        let store = &s["store"];
        let drained =
            store["pending"] == 0 && store["unprinted"] == 0 && releases_queued(&kiosk.db()) == 0;
        if drained {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not drained after 90 s: {s}\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("stopped");
    assert!(status.success(), "{status}\n{}", daemon.log_text());
}

fn releases_queued(db: &Path) -> u64 {
    count(db, "SELECT COUNT(*) FROM release_queue")
}

fn count(db: &Path, sql: &str) -> u64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("database opens");
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A booking as the kiosk keeps it and a ticket names it: the booking code and the
/// queue number as printed (`R-021`).
type TicketKey = (String, String);

/// Compares the kiosk's bookings, the tickets on paper and the service's records.
fn check(kiosk: &Kiosk, central: &apm_kiosk_sim::central::CentralSim, report: &mut ChaosReport) {
    let booked = kiosk_bookings(&kiosk.db());
    report.bookings = booked.len();
    let texts = kiosk.printer.ticket_texts();
    report.tickets_printed = texts.len();
    let on_paper: BTreeSet<TicketKey> = texts.iter().filter_map(|t| ticket_key(t)).collect();
    let kept: BTreeSet<TicketKey> = booked.keys().cloned().collect();
    report.bookings_without_ticket = kept.difference(&on_paper).count();
    report.tickets_without_booking = on_paper.difference(&kept).count();
    let records = central.registrations().expect("the service's records");
    let mut per_id: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    let mut per_number: BTreeMap<(String, String, String, String, u32), usize> = BTreeMap::new();
    for r in &records {
        let e = per_id.entry(r.registration_id.to_string()).or_default();
        e.0 += 1;
        e.1 |= r.status == RegistrationStatus::Accepted;
        report.rejected += usize::from(r.status == RegistrationStatus::Rejected);
        if r.status == RegistrationStatus::Accepted {
            let key = (
                r.office_id.clone(),
                r.date.to_string(),
                r.session_id.clone(),
                format!("{:?}", r.kind),
                r.number,
            );
            *per_number.entry(key).or_default() += 1;
        }
    }
    report.not_accepted_once = booked
        .values()
        .filter(|id| per_id.get(*id) != Some(&(1, true)))
        .count();
    report.numbers_booked_twice = per_number.values().filter(|n| **n > 1).count();
    report.releases_unsent = releases_queued(&kiosk.db());
    report.numbers_released = count(
        &kiosk.db(),
        "SELECT COUNT(*) FROM held_numbers WHERE released = 1",
    );
}

/// Every registration of the kiosk: its ticket's key, and its id.
fn kiosk_bookings(db: &Path) -> BTreeMap<TicketKey, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("database opens");
    let mut stmt = conn
        .prepare(
            "SELECT g.booking_code, r.kind, r.queue_number, r.registration_id \
             FROM registrations r JOIN groups g ON g.group_id = r.group_id",
        )
        .expect("query");
    stmt.query_map([], |r| {
        let (code, kind, number, id): (String, String, u32, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let letter = if kind == "priority" { "P" } else { "R" };
        Ok(((code, format!("{letter}-{number:03}")), id))
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("registrations read")
}

/// The booking code and queue number a ticket's text shows; `None` for a page that
/// is not a ticket.
pub fn ticket_key(text: &str) -> Option<TicketKey> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    let is_code = |w: &&&str| {
        w.len() == 9
            && w.as_bytes()[4] == b'-'
            && w.chars()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_hexdigit())
    };
    let is_number = |w: &&&str| {
        w.len() == 5 && matches!(&w[..2], "R-" | "P-") && w[2..].chars().all(|c| c.is_ascii_digit())
    };
    let code = words.iter().find(is_code)?;
    let number = words.iter().find(is_number)?;
    Some(((*code).to_owned(), (*number).to_owned()))
}

/// Sets `[sync] low_water` and `target` in the kiosk's config, for the next start.
fn set_sync(config: &Path, low: u32, target: u32) {
    let text = std::fs::read_to_string(config).expect("config");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("target = ") {
                format!("target = {target}")
            } else if l.starts_with("low_water = ") {
                format!("low_water = {low}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(config, text + "\n").expect("config written");
}
