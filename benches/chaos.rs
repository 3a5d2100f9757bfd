//! Long chaos runs through the whole daemon (`tests/daemon_support/chaos.rs`): the
//! daemon binary killed with SIGKILL at random points of booking, printing and sync,
//! 100 times a run, while the central simulator loses a quarter of the answers to
//! allocations, uploads and releases and drops a tenth of the connections. Prints, per
//! seed, the bookings, kills, tickets, numbers given back and what went wrong (each of
//! which must be 0); exits non-zero if anything did. The suite runs a short version.
//!
//! `cargo bench --bench chaos` (about 3 minutes a seed); `APM_CHAOS_KILLS` and
//! `APM_CHAOS_SEEDS` (comma-separated) change the run.

#[path = "../tests/daemon_support/chaos.rs"]
mod chaos;
#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use chaos::{ChaosPlan, ChaosReport};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let kills = env_or("APM_CHAOS_KILLS", 100usize);
    let seeds: Vec<u64> = std::env::var("APM_CHAOS_SEEDS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![7, 11]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| seed | kills | bookings | taps cut before commit | tickets printed | numbers given back | lost | without booking | not accepted once | rejected | booked twice | releases unsent | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all_clean = true;
    for seed in seeds {
        let started = std::time::Instant::now();
        let r: ChaosReport = rt.block_on(chaos::run(ChaosPlan {
            seed,
            kills,
            lose_answer_rate: 0.25,
            drop_rate: 0.1,
        }));
        all_clean &= r.clean();
        println!(
            "| {seed} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
            r.kills,
            r.bookings,
            r.taps_lost_before_commit,
            r.tickets_printed,
            r.numbers_released,
            r.bookings_without_ticket,
            r.tickets_without_booking,
            r.not_accepted_once,
            r.rejected,
            r.numbers_booked_twice,
            r.releases_unsent,
            started.elapsed().as_secs_f64()
        );
    }
    if !all_clean {
        eprintln!("chaos: something a person was handed is not on the service exactly once");
        std::process::exit(1);
    }
}
