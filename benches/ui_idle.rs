//! The daemon with its touchscreen up and nobody at the kiosk: how long from start to
//! the idle screen, and what it costs while it waits (CPU and resident memory). The real
//! binary (`apm-kiosk run`) runs in a 1080x1920 window on Xvfb with the software
//! renderer, on a rig of simulated devices and the central simulator.
//!
//! Prints figures, asserts nothing. Needs Xvfb and xdotool (`bash .ci/deps`).
//! `cargo bench --profile dev --bench ui_idle` (or `--release`); `UI_IDLE_RUNS` and
//! `UI_IDLE_SECONDS` set the runs and the idle window.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apm_kiosk::simulate::rig::{Rig, RigOptions};

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    n(11) + n(12)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Run {
    to_window_ms: f64,
    to_idle_ms: f64,
    cpu_percent: f64,
    rss_mib: f64,
    peak_mib: f64,
}

fn one_run(rt: &tokio::runtime::Runtime, display: u32, idle: Duration) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let today = chrono::Utc::now()
        .with_timezone(&apm_kiosk::domain::calendar::Zone::Wib.offset())
        .date_naive();
    let rig = rt
        .block_on(Rig::start(dir.path(), RigOptions::default(), today))
        .expect("rig");
    let socket = rig.config.kiosk.control_socket();
    let started = Instant::now();
    let kiosk = Killed(
        Command::new(env!("CARGO_BIN_EXE_apm-kiosk"))
            .args(["run", "--config"])
            .arg(&rig.config_path)
            .env("DISPLAY", format!(":{display}"))
            .env("SLINT_BACKEND", "winit-software")
            .env("SLINT_SCALE_FACTOR", "1")
            .env_remove("WAYLAND_DISPLAY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("apm-kiosk starts"),
    );
    let pid = kiosk.0.id();
    let found = Command::new("xdotool")
        .args(["search", "--sync", "--onlyvisible", "--name", "apm-kiosk"])
        .env("DISPLAY", format!(":{display}"))
        .stdout(Stdio::null())
        .status()
        .expect("xdotool runs");
    assert!(found.success(), "the window never showed");
    let to_window_ms = started.elapsed().as_secs_f64() * 1000.0;
    let to_idle_ms = rt.block_on(async {
        let mut client = apm_kiosk::control::Client::connect(&socket, Duration::from_secs(20))
            .await
            .expect("control socket");
        loop {
            let s = client
                .command(apm_kiosk::control::Command::Status, Duration::from_secs(5))
                .await
                .expect("status");
            if s["screen"] == "idle" {
                return started.elapsed().as_secs_f64() * 1000.0;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // The first sync and the first counts settle, then nobody touches it.
    std::thread::sleep(Duration::from_secs(5));
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(idle);
    let (t1, c1) = (Instant::now(), cpu_ticks(pid));
    let seconds = (t1 - t0).as_secs_f64();
    let cpu_percent = (c1 - c0) as f64 / clock_ticks_per_second() as f64 / seconds * 100.0;
    let rss_mib = status_kib(pid, "VmRSS:") as f64 / 1024.0;
    let peak_mib = status_kib(pid, "VmHWM:") as f64 / 1024.0;
    drop(kiosk);
    drop(rig);
    Run {
        to_window_ms,
        to_idle_ms,
        cpu_percent,
        rss_mib,
        peak_mib,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let missing: Vec<&str> = ["Xvfb", "xdotool"]
        .into_iter()
        .filter(|c| !on_path(c))
        .collect();
    if !missing.is_empty() {
        println!(
            "ui_idle: not run, missing {} (bash .ci/deps)",
            missing.join(", ")
        );
        return;
    }
    let runs: usize = std::env::var("UI_IDLE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let idle = Duration::from_secs(
        std::env::var("UI_IDLE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let display = 80 + (std::process::id() % 9);
    let _xvfb = Killed(
        Command::new("Xvfb")
            .arg(format!(":{display}"))
            .args(["-screen", "0", "1080x1920x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts"),
    );
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "Xvfb did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "ui_idle: apm-kiosk run, 1080x1920 window, winit + software renderer, {runs} runs, {} s idle each",
        idle.as_secs()
    );
    println!(
        "{:>5} {:>14} {:>14} {:>10} {:>10} {:>10}",
        "run", "to window ms", "to idle ms", "CPU %", "RSS MiB", "peak MiB"
    );
    let mut all = Vec::new();
    for i in 0..runs {
        let r = one_run(&rt, display, idle);
        println!(
            "{:>5} {:>14.0} {:>14.0} {:>10.2} {:>10.1} {:>10.1}",
            i + 1,
            r.to_window_ms,
            r.to_idle_ms,
            r.cpu_percent,
            r.rss_mib,
            r.peak_mib
        );
        all.push(r);
    }
    let col = |f: fn(&Run) -> f64| median(&mut all.iter().map(f).collect::<Vec<_>>());
    println!(
        "{:>5} {:>14.0} {:>14.0} {:>10.2} {:>10.1} {:>10.1}",
        "median",
        col(|r| r.to_window_ms),
        col(|r| r.to_idle_ms),
        col(|r| r.cpu_percent),
        col(|r| r.rss_mib),
        col(|r| r.peak_mib)
    );
}
