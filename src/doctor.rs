//! `apm-kiosk doctor`: what a technician runs on an installed kiosk before starting the
//! service and whenever it misbehaves. Each check prints OK, WARN or FAIL with what to
//! fix; any FAIL makes the exit code non-zero. It reads and opens things but changes
//! nothing (the write test in the state directory removes its file again).
//!
//! Checks, in order: the config loads; the card reader and the printer are there (a
//! character device, or a reachable `tcp://` printer) and can be opened read/write; the
//! state directory exists, is private and writable, with free space (FAIL below
//! `disk::FULL_BYTES`, the kiosk's `disk_full`); the kiosk key is private; the kiosk is enrolled; the database is the one the kiosk
//! booked on (`store::mark`) and passes `quick_check`; the clock can be right
//! (`clock::sanity`, with the service's last time from the store) and is
//! NTP-synchronised; the central service answers; a display (DRM) and touch input
//! are there for the console UI.
//!
//! Run as root (as technicians do, with sudo), the permission checks are also made for
//! the `apm-kiosk` user the service runs as, from the devices' mode bits and the user's
//! groups, since root itself can open anything. Nothing personal is read or printed.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{CentralConfig, Config, PrinterPath};
use crate::identity::{ENROLLMENT_FILE, Enrollment, KEY_FILE};
use crate::store::Store;
use crate::sync::client::{ApiError, HttpCentral};

/// The user the packaged service runs as.
pub const SERVICE_USER: &str = "apm-kiosk";

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The configuration file to check.
    #[arg(long, default_value = "/etc/apm-kiosk/kiosk.toml")]
    pub config: PathBuf,
}

/// Why the doctor itself could not run (not a failed check).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do about a WARN or FAIL.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            level: Level::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            level: Level::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check's outcome, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.level == Level::Fail)
    }

    pub fn count(&self, level: Level) -> usize {
        self.checks.iter().filter(|c| c.level == level).count()
    }

    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for c in &self.checks {
            writeln!(
                out,
                "{:<4} {:<12} {}",
                c.level.to_string(),
                c.name,
                c.detail
            )?;
            if let Some(fix) = &c.fix {
                writeln!(out, "{:<4} {:<12} -> {}", "", "", fix)?;
            }
        }
        writeln!(
            out,
            "{} OK, {} WARN, {} FAIL",
            self.count(Level::Ok),
            self.count(Level::Warn),
            self.count(Level::Fail)
        )
    }
}

/// A user as far as file permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub name: String,
    pub uid: u32,
    pub gids: Vec<u32>,
}

impl Who {
    /// This process.
    pub fn current() -> Who {
        // SAFETY: these calls only read the process's credentials.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut gids = vec![gid];
        // SAFETY: a zero-length call asks for the count; the buffer then has room.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if n > 0 {
            let mut buf = vec![0 as libc::gid_t; n as usize];
            // SAFETY: `buf` holds `n` elements.
            let m = unsafe { libc::getgroups(n, buf.as_mut_ptr()) };
            if m > 0 {
                buf.truncate(m as usize);
                gids.extend(buf);
            }
        }
        gids.sort_unstable();
        gids.dedup();
        let name = user_name(uid).unwrap_or_else(|| uid.to_string());
        Who { name, uid, gids }
    }

    /// `name` from /etc/passwd and /etc/group, if that user exists.
    pub fn lookup(name: &str) -> Option<Who> {
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        let group = fs::read_to_string("/etc/group").unwrap_or_default();
        who_from_files(name, &passwd, &group)
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_owned())
    })
}

/// The user `name` from the text of /etc/passwd and /etc/group: its primary group and
/// every group that lists it.
pub fn who_from_files(name: &str, passwd: &str, group: &str) -> Option<Who> {
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then_some(f)
    })?;
    let uid = entry[2].parse().ok()?;
    let primary: u32 = entry[3].parse().ok()?;
    let mut gids = vec![primary];
    for l in group.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 3
            && f[3].split(',').any(|m| m.trim() == name)
            && let Ok(gid) = f[2].parse()
        {
            gids.push(gid);
        }
    }
    gids.sort_unstable();
    gids.dedup();
    Some(Who {
        name: name.to_owned(),
        uid,
        gids,
    })
}

/// A group's name from /etc/group, else its number.
fn group_name(gid: u32) -> String {
    fs::read_to_string("/etc/group")
        .ok()
        .and_then(|g| {
            g.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok() == Some(gid)).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| gid.to_string())
}

/// Whether `who` may read and write a file with this owner, group and mode, by the
/// classic permission bits (root may always).
pub fn may_read_write(who: &Who, owner: u32, group: u32, mode: u32) -> bool {
    if who.uid == 0 {
        return true;
    }
    let bits = if who.uid == owner {
        (mode >> 6) & 0o7
    } else if who.gids.contains(&group) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    };
    bits & 0o6 == 0o6
}

/// Runs every check.
pub async fn examine(config_path: &Path, now: DateTime<Utc>) -> Report {
    let mut report = Report::default();
    let config = match Config::load(config_path) {
        Ok(c) => {
            report.checks.push(Check::ok(
                "config",
                format!("{} loads", config_path.display()),
            ));
            c
        }
        Err(e) => {
            report.checks.push(Check::fail(
                "config",
                format!("{e:#}"),
                format!(
                    "fix the file; `apm-kiosk config check {}` says where",
                    config_path.display()
                ),
            ));
            return report;
        }
    };
    let me = Who::current();
    // As root, also judge what the service's own user may do.
    let service = (me.uid == 0).then(|| Who::lookup(SERVICE_USER)).flatten();
    let whos: Vec<&Who> = std::iter::once(&me).chain(service.as_ref()).collect();

    report.checks.push(device_check(
        "card reader",
        &config.card_reader.path,
        &whos,
        "plug the reader in; `udevadm info --query=property --name=/dev/ttyUSB0` shows its ids for the rule in /usr/lib/udev/rules.d/99-apm-kiosk.rules",
    ));
    report.checks.push(match &config.printer.path {
        PrinterPath::Device(path) => device_check(
            "printer",
            path,
            &whos,
            "switch the printer on and plug it in; check the udev rule's ids with `udevadm info`",
        ),
        PrinterPath::Tcp { host, port } => tcp_check("printer", host, *port).await,
    });
    let state_dir = &config.kiosk.state_dir;
    report
        .checks
        .push(state_dir_check(state_dir, service.as_ref()));
    report
        .checks
        .push(key_check(&state_dir.join(KEY_FILE), service.as_ref()));
    let enrollment = match Enrollment::load(state_dir) {
        Ok(Some(e)) => {
            report.checks.push(Check::ok(
                "enrollment",
                format!(
                    "kiosk {} for offices {}",
                    e.kiosk_id,
                    e.office_ids.join(", ")
                ),
            ));
            Some(e)
        }
        Ok(None) => {
            report.checks.push(Check::warn(
                "enrollment",
                "not enrolled: the kiosk takes no bookings",
                format!(
                    "sudo -u {SERVICE_USER} apm-kiosk enroll --config {} --code CODE (the code comes from the central office)",
                    config_path.display()
                ),
            ));
            None
        }
        Err(e) => {
            report.checks.push(Check::fail(
                "enrollment",
                format!(
                    "{} unreadable: {e}",
                    state_dir.join(ENROLLMENT_FILE).display()
                ),
                format!("check its owner ({SERVICE_USER}) and mode (600), or enroll again"),
            ));
            None
        }
    };
    let db = state_dir.join("kiosk.db");
    report.checks.push(store_check(&db));
    report.checks.push(clock_check(now, service_said(&db)));
    report.checks.push(ntp_check());
    report
        .checks
        .push(central_check(&config, enrollment.as_ref()).await);
    report.checks.extend(display_checks(&whos));
    report
}

/// `apm-kiosk doctor`: prints the report; `Ok(false)` when a check failed.
pub async fn run_doctor(args: DoctorArgs) -> Result<bool, DoctorError> {
    let report = examine(&args.config, Utc::now()).await;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report.write_to(&mut out)?;
    out.flush()?;
    Ok(!report.failed())
}

fn describe_kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_char_device() {
        "character device"
    } else if t.is_socket() {
        "socket"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else {
        "other file"
    }
}

/// A device the daemon opens: there, a character device (or a socket), and open-able
/// read/write by this process and, judged by its mode, by the service user.
fn device_check(name: &'static str, path: &Path, whos: &[&Who], missing_fix: &str) -> Check {
    let shown = match fs::read_link(path) {
        Ok(target) => format!("{} -> {}", path.display(), target.display()),
        Err(_) => path.display().to_string(),
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(name, format!("{shown}: not there"), missing_fix);
        }
        Err(e) => return Check::fail(name, format!("{shown}: {e}"), missing_fix),
    };
    let kind = describe_kind(&meta);
    if !(meta.file_type().is_char_device() || meta.file_type().is_socket()) {
        return Check::fail(
            name,
            format!("{shown} is a {kind}, not a device"),
            "point the config at the device node (or the udev name)",
        );
    }
    let group = group_name(meta.gid());
    for who in whos.iter().skip(1) {
        if !may_read_write(who, meta.uid(), meta.gid(), meta.mode()) {
            return Check::fail(
                name,
                format!(
                    "{shown} ({kind}, group {group}, mode {:o}) is not read/write for {}",
                    meta.mode() & 0o777,
                    who.name
                ),
                format!(
                    "adduser {} {group}, or fix GROUP/MODE in the udev rule, then restart the service",
                    who.name
                ),
            );
        }
    }
    let opened = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path);
    match opened {
        Ok(_) => Check::ok(
            name,
            format!("{shown} ({kind}, group {group}) opens read/write"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            name,
            format!(
                "{shown} ({kind}, group {group}): permission denied for {}",
                whos[0].name
            ),
            format!("adduser {} {group}, then log in again", whos[0].name),
        ),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Check::warn(
            name,
            format!("{shown} ({kind}) is busy"),
            "the running daemon holds it: stop the service to test the device alone",
        ),
        Err(e) => Check::fail(
            name,
            format!("{shown} ({kind}) does not open: {e}"),
            "unplug and replug it; `dmesg | tail` says what the kernel saw",
        ),
    }
}

async fn tcp_check(name: &'static str, host: &str, port: u16) -> Check {
    let addr = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect(addr.clone());
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => Check::ok(name, format!("tcp://{addr} accepts a connection")),
        Ok(Err(e)) => Check::fail(
            name,
            format!("tcp://{addr}: {e}"),
            "switch the printer on; check its network settings and cable",
        ),
        Err(_) => Check::fail(
            name,
            format!("tcp://{addr}: no answer within 3 s"),
            "check the printer's address and the network between it and the kiosk",
        ),
    }
}

fn state_dir_check(dir: &Path, service: Option<&Who>) -> Check {
    const NAME: &str = "state dir";
    let meta = match fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return Check::fail(
                NAME,
                format!("{} is not a directory", dir.display()),
                "move it aside; the service makes the directory at start",
            );
        }
        Err(_) => {
            return Check::warn(
                NAME,
                format!("{} does not exist yet", dir.display()),
                "the service makes it at its first start (StateDirectory=); enrolling makes it too",
            );
        }
    };
    if let Some(who) = service
        && meta.uid() != who.uid
    {
        return Check::fail(
            NAME,
            format!(
                "{} is owned by uid {}, not {}",
                dir.display(),
                meta.uid(),
                who.name
            ),
            format!("chown -R {0}:{0} {1}", who.name, dir.display()),
        );
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    if let Err(e) = fs::write(&probe, b"") {
        return Check::fail(
            NAME,
            format!("{} is not writable: {e}", dir.display()),
            "check its owner and the disk (read-only after an error?)",
        );
    }
    let _ = fs::remove_file(&probe);
    let free = crate::disk::free_space(dir).ok();
    let mb = |b: u64| b / (1024 * 1024);
    match free {
        Some(b) if b < crate::disk::FULL_BYTES => Check::fail(
            NAME,
            format!(
                "disk full: {}: only {} MB free, the kiosk needs {} MB to book (it is out of service, disk_full)",
                dir.display(),
                mb(b),
                mb(crate::disk::FULL_BYTES)
            ),
            "free disk space (journal: `journalctl --vacuum-size=100M`, old bundles, `apt-get clean`): the kiosk books again by itself",
        ),
        Some(b) if b < crate::disk::LOW_BYTES => Check::warn(
            NAME,
            format!("{}: {} MB free", dir.display(), mb(b)),
            "free some disk space soon",
        ),
        _ if meta.mode() & 0o077 != 0 => Check::warn(
            NAME,
            format!(
                "{} is mode {:o}: others may look inside",
                dir.display(),
                meta.mode() & 0o777
            ),
            format!("chmod 700 {}", dir.display()),
        ),
        Some(b) => Check::ok(
            NAME,
            format!("{} writable, private, {} MB free", dir.display(), mb(b)),
        ),
        None => Check::ok(NAME, format!("{} writable, private", dir.display())),
    }
}

fn key_check(path: &Path, service: Option<&Who>) -> Check {
    const NAME: &str = "kiosk key";
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(_) => {
            return Check::warn(
                NAME,
                format!("{} not made yet", path.display()),
                "the daemon makes it at its first start; enrolling makes it too",
            );
        }
    };
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Check::fail(
            NAME,
            format!(
                "{} is mode {mode:o}: others can read the kiosk's private key",
                path.display()
            ),
            format!(
                "chmod 600 {}; if it may have been copied, ask the central office to re-enroll the kiosk",
                path.display()
            ),
        );
    }
    if let Some(who) = service
        && meta.uid() != who.uid
    {
        return Check::fail(
            NAME,
            format!(
                "{} is owned by uid {}: the service ({}) cannot read it",
                path.display(),
                meta.uid(),
                who.name
            ),
            format!(
                "chown {0}:{0} {1} (run enroll as {0}: sudo -u {0} apm-kiosk enroll ...)",
                who.name,
                path.display()
            ),
        );
    }
    Check::ok(NAME, format!("{} mode {mode:o}", path.display()))
}

fn store_check(db: &Path) -> Check {
    const NAME: &str = "database";
    match crate::store::mark::lost(db) {
        Ok(None) => {}
        Ok(Some(lost)) => {
            return Check::fail(
                NAME,
                format!(
                    "{} {lost}, but this kiosk has booked or held queue numbers on it ({}): its unsynced bookings and held numbers are gone; the daemon refuses to start",
                    db.display(),
                    crate::store::mark::MARK_FILE
                ),
                "see \"A lost database\" in /usr/share/doc/apm-kiosk/install.md",
            );
        }
        Err(e) => {
            return Check::warn(
                NAME,
                format!(
                    "cannot tell whether {} is the kiosk's own: {e}",
                    db.display()
                ),
                "run the doctor as root or as the service user",
            );
        }
    }
    if !db.exists() {
        return Check::ok(NAME, format!("{} not made yet (first start)", db.display()));
    }
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("{} cannot be opened to check: {e}", db.display()),
                "run the doctor as root or as the service user",
            );
        }
    };
    match store.quick_check() {
        Ok(problems) if problems.is_empty() => {
            Check::ok(NAME, format!("{} passes quick_check", db.display()))
        }
        Ok(lines) => Check::fail(
            NAME,
            format!("{} is damaged: {}", db.display(), lines.join("; ")),
            "see \"A damaged database\" in /usr/share/doc/apm-kiosk/install.md",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{} is damaged: {e}", db.display()),
            "see \"A damaged database\" in /usr/share/doc/apm-kiosk/install.md",
        ),
    }
}

/// The clock by the daemon's own rule (`clock::sanity`), with the latest time the
/// central service gave (the store's): a kiosk whose RTC battery died boots in 1970 or
/// 2000 and is out of service (`clock_wrong`) until the clock is right.
pub fn clock_check(now: DateTime<Utc>, service_said: Option<DateTime<Utc>>) -> Check {
    const NAME: &str = "clock";
    let witnesses = crate::clock::Witnesses {
        service_said,
        skew: None,
    };
    match crate::clock::sanity(now, &witnesses) {
        Ok(()) => Check::ok(NAME, format!("{}", now.format("%Y-%m-%d %H:%M:%S UTC"))),
        Err(wrong) => Check::fail(
            NAME,
            format!(
                "the clock says {}: {wrong}; the kiosk is out of service (clock_wrong)",
                now.format("%Y-%m-%d %H:%M UTC")
            ),
            "set the time (timedatectl set-time, or let NTP do it) and replace the RTC battery",
        ),
    }
}

/// The latest time the central service gave, as the store keeps it; none when the
/// database is not there or cannot be read.
fn service_said(db: &Path) -> Option<DateTime<Utc>> {
    if !db.exists() {
        return None;
    }
    Store::open_read_only(db).ok()?.service_said().ok()?
}

/// What `timedatectl show -p NTPSynchronized --value` printed, as a check.
pub fn ntp_from(answer: Option<&str>) -> Check {
    const NAME: &str = "ntp";
    match answer.map(str::trim) {
        Some("yes") => Check::ok(NAME, "synchronised"),
        Some("no") => Check::warn(
            NAME,
            "not synchronised",
            "check systemd-timesyncd (`timedatectl timesync-status`) and the network",
        ),
        _ => Check::warn(
            NAME,
            "cannot tell (no timedatectl, or systemd-timedated is not running)",
            "install systemd-timesyncd so that the clock stays right",
        ),
    }
}

fn ntp_check() -> Check {
    let out = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let answer = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    ntp_from(answer.as_deref())
}

async fn central_check(config: &Config, enrollment: Option<&Enrollment>) -> Check {
    const NAME: &str = "central";
    let url = config.central.url.trim_end_matches('/');
    // A technician waits for the answer: five seconds at most.
    let central = CentralConfig {
        timeout: config.central.timeout.min(Duration::from_secs(5)),
        ..config.central.clone()
    };
    let api = match HttpCentral::from_config(&central, enrollment.map(|e| e.token.clone())) {
        Ok(api) => api,
        Err(e @ ApiError::PinnedCa { .. }) => {
            return Check::fail(
                NAME,
                e.to_string(),
                "put the central office's CA certificate there, or clear central.ca_file",
            );
        }
        Err(e) => return Check::fail(NAME, format!("no HTTP client: {e}"), "report this"),
    };
    match api.probe().await {
        Ok(status) => match (status.as_u16(), enrollment) {
            (200..=299 | 304, _) => Check::ok(NAME, format!("{url} answers ({status})")),
            (401 | 403, None) => Check::ok(
                NAME,
                format!("{url} answers ({status} until the kiosk is enrolled)"),
            ),
            (401 | 403, Some(_)) => Check::fail(
                NAME,
                format!("{url} refuses the kiosk's token ({status})"),
                "ask the central office whether the kiosk was revoked; enroll again with a new code",
            ),
            _ => Check::warn(
                NAME,
                format!("{url} answers {status}"),
                "the service has a problem; bookings are kept and sent when it recovers",
            ),
        },
        Err(e) => Check::warn(
            NAME,
            format!("{url} unreachable: {e}"),
            "check the network and central.url; the kiosk books offline and sends later",
        ),
    }
}

fn entries(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The console UI's devices: a DRM card (linuxkms) and input event devices (touch).
fn display_checks(whos: &[&Who]) -> Vec<Check> {
    let usable = |p: &Path| {
        fs::metadata(p)
            .map(|m| {
                whos.iter()
                    .all(|w| may_read_write(w, m.uid(), m.gid(), m.mode()))
            })
            .unwrap_or(false)
    };
    let names = whos
        .iter()
        .map(|w| w.name.as_str())
        .collect::<Vec<_>>()
        .join(" and ");
    let cards = entries("/dev/dri", "card");
    let display = if cards.is_empty() {
        Check::warn(
            "display",
            "no DRM device (/dev/dri/card*): the console UI cannot start",
            "fine for --headless; otherwise check the GPU driver (`dmesg | grep -i drm`)",
        )
    } else if let Some(card) = cards.iter().find(|c| usable(c)) {
        Check::ok("display", format!("{} usable by {names}", card.display()))
    } else {
        let group = fs::metadata(&cards[0])
            .map(|m| group_name(m.gid()))
            .unwrap_or_else(|_| "video".into());
        Check::fail(
            "display",
            format!("{} is not read/write for {names}", cards[0].display()),
            format!("adduser {SERVICE_USER} {group}"),
        )
    };
    let events = entries("/dev/input", "event");
    let input = if events.is_empty() {
        Check::warn(
            "touch",
            "no input event device (/dev/input/event*)",
            "plug the touch panel's USB cable; fine for --headless",
        )
    } else {
        let usable_count = events.iter().filter(|e| usable(e)).count();
        if usable_count > 0 {
            Check::ok(
                "touch",
                format!(
                    "{usable_count} of {} input devices usable by {names}",
                    events.len()
                ),
            )
        } else {
            Check::fail(
                "touch",
                format!("no input device is read/write for {names}"),
                format!("adduser {SERVICE_USER} input"),
            )
        }
    };
    vec![display, input]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn who(uid: u32, gids: &[u32]) -> Who {
        Who {
            name: "k".into(),
            uid,
            gids: gids.to_vec(),
        }
    }

    #[test]
    fn permission_bits_decide_by_owner_then_group_then_others() {
        let cases = [
            // (who, owner, group, mode, may)
            (who(0, &[0]), 5, 5, 0o000, true),
            (who(1000, &[20]), 0, 20, 0o660, true),
            (who(1000, &[20]), 0, 20, 0o640, false),
            (who(1000, &[21]), 0, 20, 0o660, false),
            (who(1000, &[21]), 0, 20, 0o666, true),
            (who(1000, &[20]), 1000, 20, 0o060, false),
            (who(1000, &[20]), 1000, 20, 0o600, true),
        ];
        for (w, owner, group, mode, may) in cases {
            assert_eq!(
                may_read_write(&w, owner, group, mode),
                may,
                "{w:?} {owner} {group} {mode:o}"
            );
        }
    }

    #[test]
    fn a_user_and_its_groups_come_from_passwd_and_group() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\napm-kiosk:x:998:997::/var/lib/apm-kiosk:/usr/sbin/nologin\n";
        let group = "root:x:0:\ndialout:x:20:apm-kiosk\nvideo:x:44:someone,apm-kiosk\ninput:x:105:\napm-kiosk:x:997:\n";
        let w = who_from_files("apm-kiosk", passwd, group).expect("found");
        assert_eq!(w.uid, 998);
        assert_eq!(w.gids, vec![20, 44, 997]);
        assert!(who_from_files("nobody", passwd, group).is_none());
    }

    #[test]
    fn a_clock_from_before_the_software_fails() {
        let at = |y| {
            Utc.with_ymd_and_hms(y, 6, 1, 8, 0, 0)
                .single()
                .expect("date")
        };
        assert_eq!(clock_check(at(2027), None).level, Level::Ok);
        assert_eq!(clock_check(at(1970), None).level, Level::Fail);
        assert_eq!(clock_check(at(2000), None).level, Level::Fail);
        assert_eq!(clock_check(at(2020), None).level, Level::Fail);
        assert_eq!(clock_check(at(2027), Some(at(2028))).level, Level::Fail);
    }

    #[test]
    fn ntp_answers() {
        assert_eq!(ntp_from(Some("yes\n")).level, Level::Ok);
        assert_eq!(ntp_from(Some("no\n")).level, Level::Warn);
        assert_eq!(ntp_from(None).level, Level::Warn);
        assert_eq!(ntp_from(Some("")).level, Level::Warn);
    }

    #[test]
    fn any_fail_fails_the_report_and_the_summary_counts() {
        let mut r = Report::default();
        r.checks.push(Check::ok("a", "fine"));
        r.checks.push(Check::warn("b", "hm", "do x"));
        assert!(!r.failed());
        r.checks.push(Check::fail("c", "bad", "do y"));
        assert!(r.failed());
        let mut out = Vec::new();
        r.write_to(&mut out).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("FAIL c            bad"), "{text}");
        assert!(text.contains("-> do y"), "{text}");
        assert!(text.ends_with("1 OK, 1 WARN, 1 FAIL\n"), "{text}");
    }
}
