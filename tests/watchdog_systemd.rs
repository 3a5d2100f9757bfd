//! The watchdog, end to end, under a real systemd manager: the daemon runs headless on
//! the simulated reader and printer as a `Type=notify` service with the watchdog,
//! restart and stop settings of `systemd/apm-kiosk.service`; its main loop is hung on
//! purpose (`APM_KIOSK_FAULT=hang-main-loop-after=3s`), and systemd must kill it for the
//! missed watchdog and start it again. The restarted daemon (no fault this time) must
//! keep the watchdog fed, and stop on `systemctl stop` within the unit's stop time.
//!
//! The manager is `systemd --user`, started in a private mount namespace with a tmpfs on
//! /run holding /run/systemd/system, which it checks for before it runs as a user
//! instance (this machine's PID 1 is not systemd). That needs root and `unshare`; the
//! tests print why they skipped where they cannot start a manager. A second test runs
//! the daemon inside the shipped unit's sandbox under the same kind of manager.

mod daemon_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use daemon_support::{BIN, Kiosk, median};

const UNIT: &str = "apm-kiosk-watchdog-test.service";

fn systemd_binary() -> Option<PathBuf> {
    ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Why a manager cannot be started here, if it cannot.
fn cannot_run() -> Option<String> {
    // SAFETY: reads the process's effective uid.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (a private mount namespace for systemd --user)".into());
    }
    if systemd_binary().is_none() {
        return Some("no systemd binary (Debian package systemd)".into());
    }
    for tool in ["unshare", "systemctl"] {
        if !on_path(tool) {
            return Some(format!("{tool} is not on PATH"));
        }
    }
    None
}

/// A `systemd --user` manager in its own mount namespace, told to exit when dropped.
struct Manager {
    child: Child,
    runtime: PathBuf,
    config_home: PathBuf,
    pub log: PathBuf,
}

impl Manager {
    fn start(dir: &Path) -> Result<Manager, String> {
        let runtime = dir.join("xdg-runtime");
        let config_home = dir.join("xdg-config");
        std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(config_home.join("systemd/user")).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        let log = dir.join("manager.log");
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let systemd = systemd_binary().ok_or("no systemd")?;
        // /run/systemd/inaccessible holds the nodes the sandboxing options mount over
        // what they hide (ProtectHome=, ProtectKernelLogs=, ...); PID 1 makes them at
        // boot, and here the tmpfs starts empty.
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system /run/systemd/inaccessible \
             && cd /run/systemd/inaccessible && mknod -m 0 chr c 0 0 && mknod -m 0 blk b 0 0 \
             && mkfifo -m 0 fifo && touch reg && chmod 0 reg && mkdir -m 0 dir && cd / \
             && exec {} --user --log-target=console --log-level=info",
            systemd.display()
        );
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", &config_home)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let mut manager = Manager {
            child,
            runtime,
            config_home,
            log,
        };
        let socket = manager.runtime.join("systemd/private");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if let Ok(Some(status)) = manager.child.try_wait() {
                return Err(format!(
                    "systemd --user exited ({status}): {}",
                    std::fs::read_to_string(&manager.log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err("systemd --user did not open its private socket".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(manager)
    }

    fn systemctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .output()
            .expect("systemctl runs")
    }

    fn install(&self, name: &str, text: &str) {
        std::fs::write(self.config_home.join("systemd/user").join(name), text)
            .expect("unit written");
        let out = self.systemctl(&["daemon-reload"]);
        assert!(out.status.success(), "daemon-reload: {out:?}");
    }

    fn show(&self, unit: &str) -> HashMap<String, String> {
        let out = self.systemctl(&[
            "show",
            unit,
            "-p",
            "MainPID,ActiveState,SubState,NRestarts,Result,WatchdogTimestampMonotonic,ExecMainStatus",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // The manager stops its units on the way out.
        let _ = self.systemctl(&["exit"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[Service]` setting of the shipped unit.
fn shipped(key: &str) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/apm-kiosk.service"),
    )
    .expect("shipped unit");
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .unwrap_or_else(|| panic!("{key} in systemd/apm-kiosk.service"))
        .to_owned()
}

fn seconds(v: &str) -> f64 {
    v.trim_end_matches('s').parse().expect("seconds")
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A manager in the kiosk's directory, or None (the test says why and passes) where it
/// cannot be started.
fn start_manager(kiosk: &Kiosk) -> Option<Manager> {
    match Manager::start(&kiosk.root) {
        Ok(m) => Some(m),
        Err(why) => {
            eprintln!("skipped: cannot start systemd --user here: {why}");
            None
        }
    }
}

#[test]
fn a_hung_main_loop_is_killed_by_the_watchdog_and_restarted() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    // No central service: an unenrolled kiosk never calls it.
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    let Some(manager) = start_manager(&kiosk) else {
        return;
    };
    let dir = kiosk.root.clone();
    let fault = dir.join("fault.env");
    std::fs::write(&fault, "APM_KIOSK_FAULT=hang-main-loop-after=3s\n").expect("fault file");
    let daemon_log = dir.join("daemon.log");
    let watchdog = shipped("WatchdogSec");
    let restart_sec = shipped("RestartSec");
    manager.install(UNIT, &watchdog_unit(&kiosk, &fault, &daemon_log));

    // Started: systemctl start returns once the daemon has said READY=1.
    let t0 = Instant::now();
    let out = manager.systemctl(&["start", UNIT]);
    let started = t0.elapsed();
    assert!(
        out.status.success(),
        "start: {out:?}\n{}\n{}",
        manager.log_text(),
        std::fs::read_to_string(&daemon_log).unwrap_or_default()
    );
    let first = manager.show(UNIT);
    assert_eq!(first["ActiveState"], "active", "{first:?}");
    let first_pid = first["MainPID"].clone();
    // The next start runs without the fault.
    std::fs::remove_file(&fault).expect("fault file removed");

    let restart = killed_and_restarted(&manager, &daemon_log, &first_pid, &watchdog, &restart_sec);
    the_restarted_daemon_feeds_the_watchdog(&manager, &restart.after);
    let stops = stop_times(&manager);
    let stop_median = median(&mut stops.clone());

    println!(
        "watchdog (WatchdogSec={watchdog}, RestartSec={restart_sec}): started in {:.0} ms; \
         hang -> killed {:.1} s; killed -> running again {:.1} s; hang -> running again {:.1} s",
        started.as_secs_f64() * 1000.0,
        (restart.killed - restart.hung).as_secs_f64(),
        (restart.back - restart.killed).as_secs_f64(),
        (restart.back - restart.hung).as_secs_f64(),
    );
    println!(
        "systemctl stop under systemd: {:?} ms, median {stop_median:.0} ms",
        stops.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
}

/// The test's unit: the daemon, headless, with the shipped unit's type, watchdog,
/// restart and stop settings, the fault from `fault` (if that file exists) and its
/// output appended to `log`.
fn watchdog_unit(kiosk: &Kiosk, fault: &Path, log: &Path) -> String {
    format!(
        "[Unit]\n\
         Description=apm-kiosk under the watchdog (test)\n\
         StartLimitIntervalSec={limit}\n\
         [Service]\n\
         Type={kind}\n\
         NotifyAccess={access}\n\
         ExecStart={bin} run --headless --config {config}\n\
         EnvironmentFile=-{fault}\n\
         WatchdogSec={watchdog}\n\
         Restart={restart}\n\
         RestartSec={restart_sec}\n\
         TimeoutStopSec={stop}\n\
         KillMode={kill}\n\
         LimitCORE=0\n\
         StandardOutput=append:{log}\n\
         StandardError=append:{log}\n",
        limit = shipped("StartLimitIntervalSec"),
        kind = shipped("Type"),
        access = shipped("NotifyAccess"),
        bin = BIN,
        config = kiosk.config.display(),
        fault = fault.display(),
        watchdog = shipped("WatchdogSec"),
        restart = shipped("Restart"),
        restart_sec = shipped("RestartSec"),
        stop = shipped("TimeoutStopSec"),
        kill = shipped("KillMode"),
        log = log.display(),
    )
}

/// When the hung daemon was seen hanging, killed and running again, and the unit's
/// state once it was back.
struct Restart {
    hung: Instant,
    killed: Instant,
    back: Instant,
    after: HashMap<String, String>,
}

/// The injected hang, systemd killing the daemon for the missed watchdog (the unit's
/// Result says so) and starting it again, without the fault this time.
fn killed_and_restarted(
    manager: &Manager,
    daemon_log: &Path,
    first_pid: &str,
    watchdog: &str,
    restart_sec: &str,
) -> Restart {
    let log = || std::fs::read_to_string(daemon_log).unwrap_or_default();
    let hung = wait_for("the injected hang", Duration::from_secs(15), || {
        log().contains("the main loop hangs now")
    });
    // Between the kill and the restart the unit waits in auto-restart, its Result
    // naming the cause.
    let mut cause = String::new();
    let killed = wait_for(
        "systemd to kill the hung daemon",
        Duration::from_secs_f64(seconds(watchdog) + 30.0),
        || {
            let s = manager.show(UNIT);
            cause = s.get("Result").cloned().unwrap_or_default();
            s.get("MainPID").map(String::as_str) != Some(first_pid)
        },
    );
    let back = wait_for(
        "the restarted daemon",
        Duration::from_secs_f64(seconds(restart_sec) + 60.0),
        || {
            let s = manager.show(UNIT);
            s["ActiveState"] == "active"
                && s["SubState"] == "running"
                && s["MainPID"] != first_pid
                && s["MainPID"] != "0"
        },
    );
    let after = manager.show(UNIT);
    assert!(
        after["NRestarts"].parse::<u32>().expect("NRestarts") >= 1,
        "{after:?}"
    );
    assert_eq!(
        cause,
        "watchdog",
        "killed for the watchdog: {after:?}\n{}",
        manager.log_text()
    );
    assert_eq!(
        log().matches("kiosk running").count(),
        2,
        "two starts:\n{}",
        log()
    );
    Restart {
        hung,
        killed,
        back,
        after,
    }
}

/// The restarted daemon feeds the watchdog: the manager's last-ping time moves on, and
/// no restart follows the one `after` counts.
fn the_restarted_daemon_feeds_the_watchdog(manager: &Manager, after: &HashMap<String, String>) {
    let ping = |s: &HashMap<String, String>| -> u64 {
        s["WatchdogTimestampMonotonic"].parse().expect("timestamp")
    };
    let p1 = ping(&manager.show(UNIT));
    std::thread::sleep(Duration::from_millis(2500));
    let s2 = manager.show(UNIT);
    let p2 = ping(&s2);
    assert!(p2 > p1, "watchdog pings {p1} then {p2}: {s2:?}");
    assert_eq!(s2["NRestarts"], after["NRestarts"], "no further restart");
}

/// Stop times under systemd, in ms, over five stops (starting it again in between):
/// SIGTERM, the daemon closes the store and exits.
fn stop_times(manager: &Manager) -> Vec<f64> {
    let mut stops = Vec::new();
    for round in 0..5 {
        if round > 0 {
            let out = manager.systemctl(&["start", UNIT]);
            assert!(out.status.success(), "start: {out:?}");
        }
        let t = Instant::now();
        let out = manager.systemctl(&["stop", UNIT]);
        stops.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(out.status.success(), "stop: {out:?}");
        let s = manager.show(UNIT);
        assert_eq!(s["ActiveState"], "inactive", "{s:?}");
        assert_eq!(s["Result"], "success", "a clean exit, not a kill: {s:?}");
    }
    stops
}

/// The shipped unit's sandbox (system call filter, no capabilities, read-only system,
/// address families, device policy, ...) with the daemon running in it, headless, under
/// the same manager: it must start (READY=1), answer on its control socket and stop
/// cleanly. Left out are the settings that need the system manager or this kiosk's
/// hardware: the user and groups, tty1, the state and runtime directories (the test's
/// own directory is made writable instead) and the private /tmp the test lives in.
#[test]
fn the_daemon_runs_inside_the_shipped_sandbox() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    let Some(manager) = start_manager(&kiosk) else {
        return;
    };
    let dir = kiosk.root.clone();
    let (sandbox, kept) = shipped_sandbox();
    let log = dir.join("sandboxed.log");
    let unit = format!(
        "{}\nExecStart={BIN} run --headless --config {}\nReadWritePaths={}\nLimitCORE=0\nStandardOutput=append:{log}\nStandardError=append:{log}\n",
        sandbox.join("\n"),
        kiosk.config.display(),
        dir.display(),
        log = log.display(),
    );
    const SANDBOXED: &str = "apm-kiosk-sandbox-test.service";
    manager.install(SANDBOXED, &unit);
    let out = manager.systemctl(&["start", SANDBOXED]);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    if !out.status.success() {
        let status = manager.systemctl(&["status", "--no-pager", SANDBOXED]);
        panic!(
            "start in the sandbox: {out:?}\n{}\n{}\n{unit}",
            String::from_utf8_lossy(&status.stdout),
            log_text()
        );
    }
    // Up and answering, with the reader and printer opened through the device policy.
    let status = status_once_devices_are_up(&kiosk);
    assert_eq!(status["card_reader"], "ok", "{status}\n{}", log_text());
    assert_eq!(status["printer"], "ok", "{status}\n{}", log_text());
    let s = manager.show(SANDBOXED);
    assert_eq!(s["ActiveState"], "active", "{s:?}");
    let out = manager.systemctl(&["stop", SANDBOXED]);
    assert!(out.status.success(), "stop: {out:?}");
    let s = manager.show(SANDBOXED);
    assert_eq!(
        s["Result"],
        "success",
        "a clean exit in the sandbox: {s:?}\n{}",
        log_text()
    );
    println!("sandbox settings applied: {}", kept.join(" "));
}

/// The shipped unit's lines without the settings the test leaves out, and the keys of
/// the settings kept, each once, in order.
fn shipped_sandbox() -> (Vec<String>, Vec<String>) {
    let shipped_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/apm-kiosk.service"),
    )
    .expect("shipped unit");
    let left_out = [
        "ExecStart=",
        "Environment=",
        "EnvironmentFile=",
        "User=",
        "Group=",
        "SupplementaryGroups=",
        "TTY",
        "StandardInput=",
        "StandardOutput=",
        "StandardError=",
        "StateDirectory",
        "RuntimeDirectory",
        "ConfigurationDirectory=",
        "PrivateTmp=",
        "Conflicts=",
        "After=",
        "Wants=",
        "WantedBy=",
        "[Install]",
    ];
    let mut sandbox = Vec::new();
    let mut kept = Vec::new();
    for line in shipped_text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || left_out.iter().any(|k| l.starts_with(k)) {
            continue;
        }
        let key = l.split('=').next().unwrap_or(l).to_owned();
        if !l.starts_with('[') && !kept.contains(&key) {
            kept.push(key);
        }
        sandbox.push(l.to_owned());
    }
    (sandbox, kept)
}

/// The daemon's status once its reader and printer are both up, or after 20 s.
fn status_once_devices_are_up(kiosk: &Kiosk) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut client = daemon_support::wait_ready(&kiosk.socket(), Duration::from_secs(20)).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = client
                .command(apm_kiosk::control::Command::Status, Duration::from_secs(5))
                .await
                .expect("status");
            if (s["card_reader"] == "ok" && s["printer"] == "ok") || Instant::now() > deadline {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
