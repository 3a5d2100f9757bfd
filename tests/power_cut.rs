//! Power cuts and stops, with the daemon binary as its own process on the simulated
//! reader and printer and the central simulator on loopback:
//!
//! - SIGKILL (as a power cut) at many moments after the applicant taps "book": on
//!   restart each booking is whole (every member, its queue numbers, its upload row) or
//!   not there at all, the database is sound, and every committed ticket not yet printed
//!   comes out by itself.
//! - SIGTERM (as `systemctl stop`): a clean exit, timed, idle and with a booking and its
//!   print under way; the booking is then whole and printed, and the daemon's log, at
//!   debug for everything, holds none of the applicants' data.
//! - A damaged database file: the daemon refuses to start and says what to do.
//! - A really full disk (root only, `--ignored`): a start that cannot open the database
//!   says "disk full" and where; with a little space back it starts out of service.

mod daemon_support;

use std::time::{Duration, Instant};

use apm_kiosk::flow::Intent;
use daemon_support::{
    Daemon, Kiosk, StoreFacts, book_until_review, median, plain_people, start_central, store_facts,
    wait_numbers, wait_ready,
};

async fn enroll(kiosk: &Kiosk) {
    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::sync::enroll::enroll(&config, daemon_support::CODE)
        .await
        .expect("enrolled");
}

fn assert_whole(facts: &StoreFacts, when: &str) {
    assert_eq!(facts.integrity, "ok", "{when}: {facts:?}");
    assert_eq!(facts.partial_groups, 0, "{when}: {facts:?}");
    assert_eq!(facts.orphan_numbers, 0, "{when}: {facts:?}");
    assert_eq!(facts.unqueued, 0, "{when}: {facts:?}");
    assert_eq!(
        facts.registrations, facts.groups,
        "one applicant per group here: {facts:?}"
    );
}

/// Waits until the restarted daemon has printed every committed ticket.
async fn wait_all_printed(kiosk: &Kiosk, limit: Duration) -> StoreFacts {
    let deadline = Instant::now() + limit;
    loop {
        let facts = store_facts(&kiosk.db());
        if facts.unprinted == 0 {
            return facts;
        }
        assert!(
            Instant::now() < deadline,
            "tickets left unprinted: {facts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_book_leaves_each_booking_whole_or_absent_and_prints_on_restart() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    enroll(&kiosk).await;
    let log = kiosk.root.join("daemon.log");
    // Microseconds from the tap's bytes leaving to the kill: the first land before or
    // during the commit's transaction, the later ones during the print.
    let delays_us = [
        0u64, 50, 100, 200, 400, 800, 1_500, 3_000, 8_000, 30_000, 120_000, 250_000,
    ];
    let people = plain_people(delays_us.len());
    // (delay, bookings kept by that cut)
    let mut outcomes: Vec<(u64, u64)> = Vec::new();
    // The last cut's delay and the groups there were before its "book".
    let mut pending: Option<(u64, u64)> = None;
    let mut facts = StoreFacts::default();

    for round in 0..=delays_us.len() {
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        // Restarted: what the last cut left is whole, and its tickets come out.
        facts = wait_all_printed(&kiosk, Duration::from_secs(20)).await;
        assert_whole(&facts, "after restart");
        if let Some((delay, groups_before)) = pending.take() {
            let kept = facts
                .groups
                .checked_sub(groups_before)
                .unwrap_or_else(|| panic!("a committed booking vanished: {facts:?}"));
            assert!(kept <= 1, "{kept} bookings from one tap");
            outcomes.push((delay, kept));
        }
        let (Some(delay), Some(person)) = (delays_us.get(round), people.get(round)) else {
            break;
        };
        wait_numbers(&mut client).await;
        book_until_review(&mut client, &kiosk.reader, person).await;
        let groups_before = store_facts(&kiosk.db()).groups;
        client.send(&Intent::ConfirmBooking).await.expect("sent");
        if *delay > 0 {
            // A thread sleep: tokio's timer has a millisecond grain.
            std::thread::sleep(Duration::from_micros(*delay));
        }
        daemon.signal(libc::SIGKILL);
        daemon.wait_exit(Duration::from_secs(5)).expect("killed");
        pending = Some((*delay, groups_before));
    }

    let committed = outcomes.iter().filter(|(_, n)| *n == 1).count();
    let tickets = kiosk.printer.tickets().len();
    println!(
        "SIGKILL after book, (delay us, bookings kept): {outcomes:?}; {committed} kept, {} absent; {} tickets printed for {} bookings",
        outcomes.len() - committed,
        tickets,
        facts.registrations
    );
    assert_eq!(outcomes.len(), delays_us.len());
    assert!(
        tickets as u64 >= facts.registrations,
        "every booking printed at least once: {tickets} for {facts:?}"
    );
    central.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_idle_and_mid_booking() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    enroll(&kiosk).await;
    let log = kiosk.root.join("daemon.log");

    // Idle stops, timed from the signal to the exit.
    let mut idle_ms = Vec::new();
    for _ in 0..5 {
        let mut daemon = Daemon::spawn(&kiosk.config, &log);
        let _client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        let t = Instant::now();
        daemon.signal(libc::SIGTERM);
        let status = daemon
            .wait_exit(Duration::from_secs(15))
            .expect("stopped within TimeoutStopSec");
        idle_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(status.success(), "{status}\n{}", daemon.log_text());
        assert!(
            !kiosk.socket().exists(),
            "the control socket is removed on a clean stop"
        );
    }

    // A stop right after "book": the booking in progress is committed and its ticket
    // printed whole, or the booking is not there; either way the exit is clean.
    let people = plain_people(3);
    let mut busy_ms = Vec::new();
    for (delay, person) in [0u64, 20, 100].iter().zip(&people) {
        // Debug, everything: no line may carry the applicant's data.
        let mut daemon = Daemon::spawn_with_log_level(&kiosk.config, &log, "debug");
        let mut client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        wait_numbers(&mut client).await;
        book_until_review(&mut client, &kiosk.reader, person).await;
        client.send(&Intent::ConfirmBooking).await.expect("sent");
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let t = Instant::now();
        daemon.signal(libc::SIGTERM);
        let status = daemon
            .wait_exit(Duration::from_secs(15))
            .expect("stopped within TimeoutStopSec");
        busy_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(status.success(), "{status}\n{}", daemon.log_text());
        let facts = store_facts(&kiosk.db());
        assert_whole(&facts, "after SIGTERM");
        assert!(
            daemon.log_text().contains("store closed"),
            "the store was closed, not abandoned:\n{}",
            daemon.log_text()
        );
    }
    let text = std::fs::read_to_string(&log).expect("daemon log");
    assert!(
        text.contains("booking committed"),
        "a debug log of real bookings"
    );
    for person in &people {
        for (what, value) in [
            ("NIK", &person.nik),
            ("name", &person.name),
            ("address", &person.address),
            ("KK", &person.kk),
        ] {
            assert!(
                !text.contains(value.as_str()),
                "the applicant's {what} is in the log"
            );
        }
    }
    let facts = store_facts(&kiosk.db());
    println!(
        "SIGTERM to exit, idle: {:?} ms, median {:.0} ms; right after book: {:?} ms; bookings kept {} of 3, unprinted {}",
        idle_ms.iter().map(|v| v.round()).collect::<Vec<_>>(),
        median(&mut idle_ms.clone()),
        busy_ms.iter().map(|v| v.round()).collect::<Vec<_>>(),
        facts.groups,
        facts.unprinted
    );
    central.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_stops_the_start_with_what_to_do() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    // A sound store first, closed cleanly (its WAL folded back into the file).
    {
        let _store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
    }
    let mut bytes = std::fs::read(kiosk.db()).expect("db read");
    assert!(bytes.len() >= 3 * 4096, "{} bytes", bytes.len());
    // Page 2 onwards mangled, as a torn write on a card without power-loss protection.
    for b in &mut bytes[4096..3 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(kiosk.db(), &bytes).expect("db written");

    let log = kiosk.root.join("daemon.log");
    let mut daemon = Daemon::spawn(&kiosk.config, &log);
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon gives up");
    assert!(!status.success());
    let text = daemon.log_text();
    assert!(text.contains("is damaged"), "{text}");
    assert!(text.contains("A damaged database"), "{text}");
    assert!(!text.contains("kiosk running"), "{text}");
}

/// Mounts a tmpfs of `mib` MiB on `dir`; unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mib: u32) -> SmallDisk {
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallDisk(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A real full disk, as a kiosk meets it (root only: it mounts a 4 MiB tmpfs as the
/// state directory). Run with `cargo test --test power_cut -- --ignored` as root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: mounts a tmpfs"]
async fn a_restart_on_a_really_full_disk_says_disk_full_and_where_then_waits_out_of_service() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    let _disk = SmallDisk::mount(&kiosk.state, 4);
    {
        let _store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
    }
    // Filled to the last byte, as a runaway log fills it.
    let filler = kiosk.state.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);

    let log = kiosk.root.join("daemon.log");
    let mut daemon = Daemon::spawn(&kiosk.config, &log);
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon gives up");
    assert!(!status.success());
    let text = daemon.log_text();
    let said = format!("disk full: the file system of {}", kiosk.state.display());
    assert!(text.contains(&said), "{text}");
    assert!(!text.contains("kiosk running"), "{text}");

    // Some space back, still below the threshold: it starts, and takes no booking.
    std::fs::remove_file(&filler).expect("freed");
    let mut daemon = Daemon::spawn(&kiosk.config, &kiosk.root.join("daemon2.log"));
    let client = wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
    assert_eq!(
        client.view["out_of_service"], "disk_full",
        "{}",
        client.view
    );
    daemon.signal(libc::SIGTERM);
    daemon.wait_exit(Duration::from_secs(20)).expect("stops");
}
