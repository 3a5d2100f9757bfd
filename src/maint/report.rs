//! The maintenance report: one serialisable struct that the touchscreen's menu and
//! `apm-kiosk maint status` both render, the list of what is wrong (worst first), and
//! its text form for the terminal. Gathering the figures is the service's job; this
//! module only shapes and words them. The report holds no personal data: rejections
//! and tickets are named by registration id and queue number only.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Settings;
pub use crate::disk::Space as Disk;
use crate::hardware::printer::PrinterState;

/// Everything a technician checks at the kiosk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub version: String,
    pub kiosk_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub uptime_s: u64,
    /// The applicant flow's screen now.
    pub screen: String,
    /// The maintenance menu is open (unlocked on the screen, not yet closed).
    pub menu_open: bool,
    pub pin_configured: bool,
    /// The reason applicants see, if the kiosk takes no bookings; `holds` says who set it.
    pub out_of_service: Option<String>,
    pub holds: Vec<Hold>,
    /// What is wrong, worst first, in the technician's words. Empty when all is well.
    pub problems: Vec<String>,
    pub printer: PrinterReport,
    pub reader: ReaderReport,
    pub network: NetworkReport,
    pub sync: SyncReport,
    pub queue: QueueReport,
    pub rejections: Vec<RejectionLine>,
    /// Free numbers held, per office and date.
    pub held: Vec<HeldDay>,
    /// Free space where the database lives; `None` if it cannot be read.
    pub disk: Option<Disk>,
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// `technician`, `enrollment` or `sync`.
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterReport {
    /// `ok`, `paper_near_end`, `paper_out`, `cover_open`, `offline`, `error`.
    pub state: String,
    /// `ok`, `near_end`, `out`, or `unknown` while the printer does not answer.
    pub paper: String,
    /// `closed`, `open` or `unknown`.
    pub cover: String,
    /// A fault the printer reports (cutter jam, head), if any.
    pub error: Option<String>,
    pub unprinted_tickets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderReport {
    /// `ok`, `sam_missing` or `disconnected`.
    pub state: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// `ok`, `missing`, `unreported`, or `None` before the reader has answered.
    pub sam: Option<String>,
}

/// Reachability: `tcp_*` is a TCP connection to the central service's host and port made
/// for this report (two seconds at most: says whether the network is there at all);
/// `sync_online` is the sync loop's last round (says whether the service answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub central_host: String,
    pub tcp_reachable: bool,
    pub tcp_ms: Option<u64>,
    pub tcp_error: Option<String>,
    pub sync_online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub enrolled: bool,
    pub round_running: bool,
    pub rounds: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The central service's clock minus the kiosk's, in seconds.
    pub clock_skew_s: Option<i64>,
    pub clock_alert: bool,
    pub guardrail: Option<String>,
    pub undecodable: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Registrations not yet answered by the central service.
    pub unsynced: u32,
    pub oldest_unsynced: Option<DateTime<Utc>>,
    pub registrations: u32,
    pub accepted: u32,
    pub rejected: u32,
    pub held_free: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionLine {
    pub registration_id: String,
    pub office_id: String,
    pub date: NaiveDate,
    pub queue_number: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDay {
    pub office_id: String,
    pub date: NaiveDate,
    pub regular: u32,
    pub priority: u32,
}

/// What is wrong, worst first: bookings stopped, then devices, then the link, then
/// what needs looking at soon. `now` is the report's time.
pub fn problems(r: &Report, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reason) = &r.out_of_service {
        let by = r
            .holds
            .iter()
            .map(|h| h.source.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!(
            "OUT OF SERVICE ({reason}; set by {by}): no bookings are taken"
        ));
    }
    if !r.sync.enrolled {
        out.push(
            "not enrolled: run `apm-kiosk maint enroll CODE` with a code from the central office"
                .into(),
        );
    }
    // A state this software does not know (a report from a newer daemon) is a fault.
    let printer = PrinterState::from_code(&r.printer.state).unwrap_or(PrinterState::Error);
    if let Some(advice) = printer.advice() {
        out.push(advice.to_owned());
    }
    if r.printer.unprinted_tickets > 0 {
        out.push(format!(
            "{} ticket(s) not printed yet: they print by themselves once the printer is ready",
            r.printer.unprinted_tickets
        ));
    }
    match r.reader.state.as_str() {
        "ok" => {}
        "sam_missing" => {
            out.push("card reader has no SAM: fit the security module; no card can be read".into())
        }
        _ => out.push("card reader disconnected: check its USB cable".into()),
    }
    if let Some(g) = &r.sync.guardrail {
        out.push(format!(
            "guardrail {g}: bookings stopped until the queue reaches the central service"
        ));
    }
    if r.sync.enrolled && !r.network.sync_online {
        let why = r
            .sync
            .last_error
            .as_deref()
            .unwrap_or("no round has finished yet");
        if r.network.tcp_reachable {
            out.push(format!(
                "central service not answering (network is up): {why}"
            ));
        } else {
            out.push(format!(
                "no network to the central service ({}): bookings are kept and sent later",
                r.network.tcp_error.as_deref().unwrap_or("unreachable")
            ));
        }
    }
    if r.sync.clock_alert {
        out.push(format!(
            "clock off by {} s from the central service: check NTP",
            r.sync.clock_skew_s.unwrap_or_default()
        ));
    }
    if r.sync.undecodable > 0 {
        out.push(format!(
            "{} queued registration(s) cannot be decoded: export a bundle for support",
            r.sync.undecodable
        ));
    }
    if !r.rejections.is_empty() {
        out.push(format!(
            "{} booking(s) rejected by the central service: tell the applicants at the counter",
            r.rejections.len()
        ));
    }
    if let Some(d) = r.disk
        && d.is_low()
    {
        out.push(format!(
            "disk nearly full: {} free",
            bytes(d.available_bytes)
        ));
    }
    if r.sync.enrolled && r.queue.held_free == 0 {
        out.push("no queue numbers held: the kiosk cannot book offline".into());
    }
    if let Some(oldest) = r.queue.oldest_unsynced
        && now - oldest > chrono::TimeDelta::days(1)
    {
        out.push(format!(
            "oldest unsynced booking is {} old",
            age(now - oldest)
        ));
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!(
            "{} ({} ago)",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            age(now - t)
        ),
        None => "never".into(),
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The report as `apm-kiosk maint status` prints it: what is wrong first, then one
/// aligned section per part.
pub fn render(r: &Report) -> String {
    let now = r.generated_at;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "apm-kiosk {}  kiosk {}  up {}  at {}",
        r.version,
        r.kiosk_id.as_deref().unwrap_or("(not enrolled)"),
        age(chrono::TimeDelta::seconds(r.uptime_s as i64)),
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(w);
    if r.problems.is_empty() {
        let _ = writeln!(w, "ALL OK: nothing needs attention");
    } else {
        let _ = writeln!(w, "NEEDS ATTENTION");
        for p in &r.problems {
            let _ = writeln!(w, "  ! {p}");
        }
    }
    let row = |w: &mut String, k: &str, v: &str| {
        let _ = writeln!(w, "  {k:<20} {v}");
    };
    let _ = writeln!(w, "\nKIOSK");
    row(w, "screen", &r.screen);
    row(
        w,
        "service",
        &match &r.out_of_service {
            Some(reason) => format!("OUT OF SERVICE: {reason}"),
            None => "taking bookings".into(),
        },
    );
    row(
        w,
        "maintenance menu",
        &format!(
            "{}, PIN {}",
            if r.menu_open { "open" } else { "closed" },
            if r.pin_configured {
                "set"
            } else {
                "not set (screen menu disabled)"
            }
        ),
    );
    row(
        w,
        "settings",
        &format!(
            "language {}, {:?}, volume {}",
            serde_json::to_value(r.settings.default_language)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            r.settings.orientation,
            r.settings.volume
        )
        .to_lowercase(),
    );
    row(w, "started", &when(Some(r.started_at), now));

    let _ = writeln!(w, "\nPRINTER");
    row(w, "state", &r.printer.state);
    row(w, "paper", &r.printer.paper);
    row(w, "cover", &r.printer.cover);
    row(w, "error", opt(&r.printer.error));
    row(
        w,
        "unprinted tickets",
        &r.printer.unprinted_tickets.to_string(),
    );

    let _ = writeln!(w, "\nCARD READER");
    row(w, "state", &r.reader.state);
    row(
        w,
        "device",
        &format!(
            "{} {} serial {}",
            opt(&r.reader.vendor),
            opt(&r.reader.model),
            opt(&r.reader.serial)
        ),
    );
    row(w, "firmware", opt(&r.reader.firmware));
    row(w, "SAM", opt(&r.reader.sam));

    let _ = writeln!(w, "\nNETWORK AND SYNC");
    row(
        w,
        "network",
        &if r.network.tcp_reachable {
            format!(
                "{} reachable ({} ms)",
                r.network.central_host,
                r.network.tcp_ms.unwrap_or_default()
            )
        } else {
            format!(
                "{} NOT reachable: {}",
                r.network.central_host,
                opt(&r.network.tcp_error)
            )
        },
    );
    row(
        w,
        "central service",
        if r.network.sync_online {
            "answering (last sync round succeeded)"
        } else {
            "not answering"
        },
    );
    row(w, "last successful sync", &when(r.sync.last_success, now));
    row(w, "last error", opt(&r.sync.last_error));
    row(
        w,
        "sync rounds",
        &format!(
            "{} done{}, {} failed in a row",
            r.sync.rounds,
            if r.sync.round_running {
                ", one running"
            } else {
                ""
            },
            r.sync.consecutive_failures
        ),
    );
    row(w, "last heartbeat", &when(r.sync.last_heartbeat, now));
    row(
        w,
        "clock skew",
        &match r.sync.clock_skew_s {
            Some(s) => format!(
                "{s:+} s{}",
                if r.sync.clock_alert { " (ALERT)" } else { "" }
            ),
            None => "not measured yet".into(),
        },
    );

    let _ = writeln!(w, "\nQUEUE");
    row(w, "unsynced", &r.queue.unsynced.to_string());
    row(
        w,
        "oldest unsynced",
        &match r.queue.oldest_unsynced {
            Some(_) => when(r.queue.oldest_unsynced, now),
            None => "none waiting".into(),
        },
    );
    row(
        w,
        "registrations",
        &format!(
            "{} ({} accepted, {} rejected)",
            r.queue.registrations, r.queue.accepted, r.queue.rejected
        ),
    );
    row(w, "free numbers held", &r.queue.held_free.to_string());
    if !r.held.is_empty() {
        let _ = writeln!(
            w,
            "  {:<20} {:<12} {:>8} {:>9}",
            "held by office", "date", "regular", "priority"
        );
        for h in &r.held {
            let _ = writeln!(
                w,
                "  {:<20} {:<12} {:>8} {:>9}",
                h.office_id,
                h.date.to_string(),
                h.regular,
                h.priority
            );
        }
    }
    if !r.rejections.is_empty() {
        let _ = writeln!(w, "\nREJECTED BY THE CENTRAL SERVICE");
        for j in &r.rejections {
            let _ = writeln!(
                w,
                "  {:<8} {:<6} {}  {:<22} {}",
                j.queue_number, j.office_id, j.date, j.reason, j.registration_id
            );
        }
    }

    let _ = writeln!(w, "\nDISK");
    row(
        w,
        "state directory",
        &match r.disk {
            Some(d) => format!(
                "{} free of {}",
                bytes(d.available_bytes),
                bytes(d.total_bytes)
            ),
            None => "cannot be read".into(),
        },
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn healthy() -> Report {
        Report {
            generated_at: t("2026-12-01T03:00:00Z"),
            version: "0.1.0".into(),
            kiosk_id: Some("KSK-0007".into()),
            started_at: t("2026-12-01T01:00:00Z"),
            uptime_s: 7200,
            screen: "idle".into(),
            menu_open: false,
            pin_configured: true,
            out_of_service: None,
            holds: vec![],
            problems: vec![],
            printer: PrinterReport {
                state: "ok".into(),
                paper: "ok".into(),
                cover: "closed".into(),
                error: None,
                unprinted_tickets: 0,
            },
            reader: ReaderReport {
                state: "ok".into(),
                vendor: Some("ACME".into()),
                model: Some("KTP-1".into()),
                firmware: Some("2.1".into()),
                serial: Some("R1".into()),
                sam: Some("ok".into()),
            },
            network: NetworkReport {
                central_host: "127.0.0.1:8088".into(),
                tcp_reachable: true,
                tcp_ms: Some(1),
                tcp_error: None,
                sync_online: true,
            },
            sync: SyncReport {
                enrolled: true,
                round_running: false,
                rounds: 12,
                last_success: Some(t("2026-12-01T02:59:30Z")),
                last_error: None,
                consecutive_failures: 0,
                last_heartbeat: Some(t("2026-12-01T02:59:00Z")),
                clock_skew_s: Some(0),
                clock_alert: false,
                guardrail: None,
                undecodable: 0,
            },
            queue: QueueReport {
                unsynced: 0,
                oldest_unsynced: None,
                registrations: 10,
                accepted: 10,
                rejected: 0,
                held_free: 40,
            },
            rejections: vec![],
            held: vec![HeldDay {
                office_id: "KRM".into(),
                date: "2026-12-02".parse().expect("date"),
                regular: 30,
                priority: 10,
            }],
            disk: Some(Disk {
                total_bytes: 8 << 30,
                available_bytes: 5 << 30,
            }),
            settings: Settings::initial(Language::Id),
        }
    }

    #[test]
    fn a_healthy_kiosk_has_no_problems() {
        let r = healthy();
        assert_eq!(problems(&r, r.generated_at), Vec::<String>::new());
        let text = render(&r);
        assert!(text.contains("ALL OK"), "{text}");
        assert!(text.contains("  firmware             2.1\n"), "{text}");
        assert!(text.contains("5.0 GiB free of 8.0 GiB"), "{text}");
    }

    #[test]
    fn problems_come_worst_first() {
        let mut r = healthy();
        r.printer.state = "paper_out".into();
        r.reader.state = "sam_missing".into();
        r.out_of_service = Some("maintenance".into());
        r.holds = vec![Hold {
            source: "technician".into(),
            reason: "maintenance".into(),
        }];
        r.network.tcp_reachable = false;
        r.network.tcp_error = Some("connection refused".into());
        r.network.sync_online = false;
        r.sync.clock_alert = true;
        r.sync.clock_skew_s = Some(-300);
        r.disk = Some(Disk {
            total_bytes: 8 << 30,
            available_bytes: 10 << 20,
        });
        r.queue.oldest_unsynced = Some(t("2026-11-29T01:00:00Z"));
        let p = problems(&r, r.generated_at);
        let starts: Vec<&str> = p
            .iter()
            .map(|s| s.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            starts,
            ["OUT", "printer", "card", "no", "clock", "disk", "oldest"],
            "{p:#?}"
        );
        assert!(p[3].contains("connection refused"), "{}", p[3]);
        assert!(p[6].contains("2 d 2 h"), "{}", p[6]);
        r.problems = p;
        let text = render(&r);
        let attention = text.find("NEEDS ATTENTION").expect("section");
        assert!(attention < text.find("PRINTER").expect("printer section"));
    }

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(age(chrono::TimeDelta::seconds(59)), "59 s");
        assert_eq!(age(chrono::TimeDelta::seconds(3 * 3600 + 120)), "3 h 2 min");
    }
}
