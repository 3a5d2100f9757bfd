//! Every unit in systemd/ passes `systemd-analyze verify` with no complaint at all (it
//! exits 0 on unknown keys and bad values and only prints them, so any output fails the
//! test), and the settings the appliance relies on are there. Skipped, saying why, where
//! systemd-analyze is not installed.
//!
//! The units name `/usr/bin/apm-kiosk`, which verify requires to exist: the copies
//! checked here point at the binary this build made instead. `/usr/bin/cage` must be
//! installed for the cage unit (`.ci/deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

fn units() -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(units_dir())
        .expect("systemd/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

fn analyze() -> Option<PathBuf> {
    let found = Command::new("systemd-analyze").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => Some(PathBuf::from("systemd-analyze")),
        _ => None,
    }
}

/// `systemd-analyze verify` on copies of `units` in `dir`, the binary path replaced.
/// Returns (exit ok, everything it printed).
fn verify(dir: &Path, units: &[(String, String)]) -> (bool, String) {
    let mut paths = Vec::new();
    for (name, text) in units {
        let text = text.replace("/usr/bin/apm-kiosk", env!("CARGO_BIN_EXE_apm-kiosk"));
        let path = dir.join(name);
        std::fs::write(&path, text).expect("unit copy");
        paths.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .expect("systemd-analyze runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

fn read(path: &Path) -> (String, String) {
    (
        path.file_name()
            .and_then(|n| n.to_str())
            .expect("unit name")
            .to_owned(),
        std::fs::read_to_string(path).expect("unit text"),
    )
}

#[test]
fn every_unit_verifies_cleanly() {
    if analyze().is_none() {
        eprintln!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let mut checked = Vec::new();
    for unit in units() {
        let (name, text) = read(&unit);
        if text.contains("/usr/bin/cage") && !Path::new("/usr/bin/cage").exists() {
            eprintln!("skipped {name}: /usr/bin/cage is not installed (Debian package cage)");
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (ok, printed) = verify(dir.path(), &[(name.clone(), text)]);
        assert!(ok && printed.trim().is_empty(), "{name}:\n{printed}");
        checked.push(name);
    }
    eprintln!("verified: {}", checked.join(", "));
    assert!(checked.iter().any(|n| n == "apm-kiosk.service"));
}

#[test]
fn a_misspelt_key_is_caught() {
    if analyze().is_none() {
        eprintln!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let (name, text) = read(&units_dir().join("apm-kiosk.service"));
    let bad = text
        .replace("DevicePolicy=closed", "DevicePolicy=closd")
        .replace("WatchdogSec=", "WatchDogSec=");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, printed) = verify(dir.path(), &[(name, bad)]);
    assert!(printed.contains("closd"), "{printed}");
    assert!(printed.contains("WatchDogSec"), "{printed}");
}

/// `Key=value` lines of a unit (last one wins, as in systemd for single-valued keys).
fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

#[test]
fn the_kiosk_units_are_notify_services_with_a_watchdog_and_closed_devices() {
    for unit in units() {
        let (name, text) = read(&unit);
        assert_eq!(value(&text, "Type"), Some("notify"), "{name}");
        assert_eq!(value(&text, "WatchdogSec"), Some("15s"), "{name}");
        assert_eq!(value(&text, "Restart"), Some("always"), "{name}");
        assert_eq!(value(&text, "StartLimitIntervalSec"), Some("0"), "{name}");
        assert_eq!(value(&text, "User"), Some("apm-kiosk"), "{name}");
        assert_eq!(value(&text, "StateDirectory"), Some("apm-kiosk"), "{name}");
        assert_eq!(value(&text, "ProtectSystem"), Some("strict"), "{name}");
        assert_eq!(value(&text, "NoNewPrivileges"), Some("yes"), "{name}");
        assert_eq!(value(&text, "DevicePolicy"), Some("closed"), "{name}");
        let allowed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("DeviceAllow="))
            .collect();
        for needed in [
            "/dev/apm-reader rw",
            "/dev/apm-printer rw",
            "char-drm rw",
            "char-input rw",
        ] {
            assert!(allowed.contains(&needed), "{name}: {needed} in {allowed:?}");
        }
        // The stop grace in the daemon must fit inside the unit's stop time.
        let stop: u64 = value(&text, "TimeoutStopSec")
            .and_then(|v| v.trim_end_matches('s').parse().ok())
            .expect("TimeoutStopSec in seconds");
        assert!(
            apm_kiosk::app::STOP_GRACE.as_secs() + 2 <= stop,
            "{name}: STOP_GRACE {:?} vs TimeoutStopSec={stop}s",
            apm_kiosk::app::STOP_GRACE
        );
        let exec = value(&text, "ExecStart").expect("ExecStart");
        assert!(
            exec.contains("/usr/bin/apm-kiosk run --config /etc/apm-kiosk/kiosk.toml"),
            "{name}: {exec}"
        );
    }
}

#[test]
fn the_security_exposure_is_printed() {
    if analyze().is_none() {
        eprintln!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (name, text) = read(&units_dir().join("apm-kiosk.service"));
    let path = dir.path().join(&name);
    std::fs::write(
        &path,
        text.replace("/usr/bin/apm-kiosk", env!("CARGO_BIN_EXE_apm-kiosk")),
    )
    .expect("unit copy");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall level in:\n{text}"));
    eprintln!("{}", overall.trim());
    let level: f32 = overall
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("a number");
    // systemd calls below 2.0 "OK" and above 9.0 "UNSAFE"; a hardened kiosk stays "OK".
    assert!(level < 2.0, "{overall}");
}
