//! Glue for the maintenance menu (`ui/pages/maint.slint`): each button sends the control
//! channel's command (the same `apm-kiosk maint` sends over the socket, with the same
//! effects and audit lines), and the daemon's answer fills the `Maint` global. Nothing is
//! decided here: the PIN, its lockout, the report and every action are the daemon's
//! (`crate::maint`).
//!
//! The daemon's technician messages (a failure's `message`, a path written) are shown as
//! it words them, in English, as the command line shows them; the menu's own labels are
//! translated like every other page.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use slint::{ComponentHandle, ModelRc, SharedString, VecModel, Weak};
use tokio::sync::{mpsc, oneshot};

use super::{KioskWindow, Maint, PickItem, ReportRow};
use crate::control::{Command, CommandRequest, Reply};
use crate::domain::Language;
use crate::maint::answer::{MaintAnswer, ReadTestAnswer, SyncProgress};
use crate::maint::pin::Unlock;
use crate::maint::{
    Failure, HoldReason, Orientation, RecentTicket, Report, Secret, SettingsChange,
};

/// How many printed tickets the menu offers to reprint.
const RECENT: u32 = 5;

/// Where the menu sends its commands, and where a bundle goes when no USB stick is there.
#[derive(Clone)]
pub struct MaintLink {
    pub commands: mpsc::Sender<CommandRequest>,
    pub runtime: tokio::runtime::Handle,
    pub export_fallback: PathBuf,
}

/// A mounted USB stick to write the bundle to: the first writable directory under
/// `/media/<user>/` or `/media/`, else `fallback`.
pub fn export_dir(fallback: &Path) -> PathBuf {
    for root in ["/media", "/run/media", "/mnt"] {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            // `/media/<user>/<stick>` on a desktop, `/media/<stick>` with udisks off.
            let inner: Vec<PathBuf> = std::fs::read_dir(&d)
                .map(|it| {
                    it.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            for candidate in inner.into_iter().chain(std::iter::once(d.clone())) {
                if is_mount_point(&candidate) && writable(&candidate) {
                    return candidate;
                }
            }
        }
    }
    fallback.to_owned()
}

fn is_mount_point(p: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|m| Path::new(m) == p)
}

fn writable(p: &Path) -> bool {
    let probe = p.join(".apm-kiosk-write-test");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// The command for a button, from its name and its one argument.
pub fn command(name: &str, arg: &str, export_to: &Path) -> Option<Command> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Some(match name {
        "maint_report" => Command::MaintReport,
        "maint_lock" => Command::MaintLock,
        "recent_tickets" => Command::RecentTickets {
            limit: Some(RECENT),
        },
        "test_print" => Command::TestPrint,
        "reprint" => Command::Reprint {
            registration_id: some(arg),
        },
        "read_test" => Command::ReadTest,
        "sync_now" => Command::SyncNow,
        "sync_progress" => Command::SyncProgress,
        "integrity" => Command::Integrity,
        "export" => Command::Export {
            path: export_to.to_owned(),
        },
        "enroll" => Command::Enroll {
            code: arg.trim().to_owned(),
        },
        "in_service" => Command::InService,
        "out_of_service" => Command::OutOfService {
            reason: HoldReason::from_code(arg)?,
        },
        "release_held" => {
            let (office_id, date) = arg.split_once('|')?;
            Command::ReleaseHeld {
                office_id: office_id.to_owned(),
                date: date.parse().ok()?,
            }
        }
        "restart" => Command::Restart,
        "default_language" => Command::SetSettings(SettingsChange {
            default_language: serde_json::from_value::<Language>(Value::String(arg.into())).ok(),
            ..SettingsChange::default()
        }),
        "orientation" => Command::SetSettings(SettingsChange {
            orientation: serde_json::from_value::<Orientation>(Value::String(arg.into())).ok(),
            ..SettingsChange::default()
        }),
        "volume" => Command::SetSettings(SettingsChange {
            volume: arg.parse().ok(),
            ..SettingsChange::default()
        }),
        _ => return None,
    })
}

/// Sends `command` and hands the answer to `then` on the event loop's thread.
fn send(
    link: &MaintLink,
    weak: Weak<KioskWindow>,
    command: Command,
    then: impl FnOnce(&KioskWindow, Reply) + Send + 'static,
) {
    let (reply, answer) = oneshot::channel();
    if let Err(e) = link.commands.try_send(CommandRequest { command, reply }) {
        tracing::warn!(error = %e, "maintenance command not delivered");
        return;
    }
    link.runtime.spawn(async move {
        let reply = answer.await.unwrap_or_else(|_| {
            Reply::Failed(Failure::new("no_answer", "the kiosk did not answer"))
        });
        let _ = weak.upgrade_in_event_loop(move |ui| then(&ui, reply));
    });
}

/// Wires the menu's callbacks.
pub fn connect(ui: &KioskWindow, link: MaintLink) {
    let maint = ui.global::<Maint>();
    maint.on_drop_last(|s| super::adapter::drop_last(&s).into());
    {
        let (link, weak) = (link.clone(), ui.as_weak());
        maint.on_unlock(move |pin| {
            let command = Command::MaintUnlock {
                pin: Secret(pin.to_string()),
            };
            let link2 = link.clone();
            send(&link, weak.clone(), command, move |ui, value| {
                unlocked(ui, &link2, value)
            });
        });
    }
    {
        let (link, weak) = (link.clone(), ui.as_weak());
        maint.on_command(move |name, arg| run(&link, weak.clone(), &name, &arg));
    }
}

fn run(link: &MaintLink, weak: Weak<KioskWindow>, name: &str, arg: &str) {
    let export_to = if name == "export" {
        export_dir(&link.export_fallback)
    } else {
        link.export_fallback.clone()
    };
    let Some(command) = command(name, arg, &export_to) else {
        tracing::error!(
            command = name,
            "the menu sent a command the kiosk does not know"
        );
        return;
    };
    if let Some(ui) = weak.upgrade() {
        let maint = ui.global::<Maint>();
        if name == "maint_lock" {
            // Closed at once; the daemon is told for the audit.
            maint.set_open(false);
            maint.set_pin_open(false);
            maint.set_code(SharedString::new());
        } else if !matches!(name, "maint_report" | "recent_tickets" | "sync_progress") {
            maint.set_busy(true);
            maint.set_result(SharedString::new());
        }
    }
    let (name, link2) = (name.to_owned(), link.clone());
    send(link, weak, command, move |ui, value| {
        answered(ui, &link2, &name, value)
    });
}

fn unlocked(ui: &KioskWindow, link: &MaintLink, reply: Reply) {
    let maint = ui.global::<Maint>();
    match reply {
        Reply::Maint(MaintAnswer::Unlock(Unlock::Unlocked)) => {
            maint.set_pin_result(SharedString::new());
            maint.set_pin_open(false);
            maint.set_open(true);
            maint.set_section("status".into());
            maint.set_result(SharedString::new());
            maint.invoke_touched();
            run(link, ui.as_weak(), "maint_report", "");
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::Wrong { attempts_left })) => {
            maint.set_pin_result("wrong".into());
            maint.set_pin_detail(attempts_left.to_string().into());
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::Locked { until })) => {
            maint.set_pin_result("locked".into());
            maint.set_pin_detail(local_time(until).into());
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::NoPin)) => maint.set_pin_result("no_pin".into()),
        other => {
            maint.set_pin_result("locked".into());
            let detail = match other {
                Reply::Failed(f) => f.message,
                _ => "the kiosk answered something else".to_owned(),
            };
            maint.set_pin_detail(detail.into());
        }
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local).format("%H:%M").to_string()
}

fn answered(ui: &KioskWindow, link: &MaintLink, name: &str, reply: Reply) {
    let maint = ui.global::<Maint>();
    maint.set_busy(false);
    if name == "maint_lock" {
        return;
    }
    let said = match reply {
        Reply::Failed(f) => {
            maint.set_result_ok(false);
            maint.set_result(f.message.into());
            return;
        }
        Reply::Maint(answer) => match said_of(ui, link, answer) {
            Some(said) => said,
            None => return,
        },
        Reply::SyncStarted(_) => {
            poll_progress(link, ui.as_weak());
            "Sync started".to_owned()
        }
        Reply::ReadTest(answer) => read_test_line(&answer),
        Reply::Restarting(_) => "Restarting".to_owned(),
        Reply::Status(_) => return,
    };
    maint.set_result_ok(true);
    maint.set_result(said.into());
}

/// What the menu's result line says of a maintenance answer; `None` when the answer
/// fills its own part of the menu instead.
fn said_of(ui: &KioskWindow, link: &MaintLink, answer: MaintAnswer) -> Option<String> {
    let maint = ui.global::<Maint>();
    let refresh = || run(link, ui.as_weak(), "maint_report", "");
    Some(match answer {
        MaintAnswer::Report(report) => {
            show_report(ui, &report);
            return None;
        }
        MaintAnswer::RecentTickets(list) => {
            let items: Vec<PickItem> = list.tickets.iter().map(pick_item).collect();
            maint.set_recent(ModelRc::new(VecModel::from(items)));
            return None;
        }
        MaintAnswer::SyncProgress(p) => {
            show_progress(ui, link, &p);
            return None;
        }
        MaintAnswer::TestPrinted(_) => "Test page printed".to_owned(),
        MaintAnswer::Reprinted(r) => format!("Printed again, marked COPY: {}", r.queue_number),
        MaintAnswer::Integrity(i) => format!("Database check: {}", i.result),
        MaintAnswer::Written(w) => format!("Diagnostics written to {}", w.path.display()),
        MaintAnswer::Enrolled(e) => {
            maint.set_code(SharedString::new());
            format!("Enrolled as {}", e.enrolled)
        }
        MaintAnswer::ServiceHold(h) => {
            refresh();
            match h.out_of_service {
                None => "Back in service".to_owned(),
                Some(reason) => format!("Out of service: {}", reason.code()),
            }
        }
        MaintAnswer::Released(r) => {
            refresh();
            format!(
                "Released {} numbers of {} on {}",
                r.released, r.office_id, r.date
            )
        }
        MaintAnswer::Settings(now) => {
            show_settings(ui, &now.settings);
            "Saved".to_owned()
        }
        MaintAnswer::Unlock(_) | MaintAnswer::MenuClosed(_) | MaintAnswer::PinReloaded(_) => {
            return None;
        }
    })
}

fn pick_item(t: &RecentTicket) -> PickItem {
    PickItem {
        id: t.registration_id.as_str().into(),
        line: format!(
            "{} · {} {} {} · {}",
            t.queue_number, t.office_id, t.date, t.session_id, t.masked_nik
        )
        .into(),
    }
}

fn show_progress(ui: &KioskWindow, link: &MaintLink, p: &SyncProgress) {
    let maint = ui.global::<Maint>();
    let left = p.uploads_left;
    if p.round_running {
        maint.set_result(format!("Syncing: {left} bookings left to send").into());
        poll_progress(link, ui.as_weak());
    } else {
        let error = p
            .last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default();
        maint.set_result(format!("Sync finished: {left} bookings left to send{error}").into());
        run(link, ui.as_weak(), "maint_report", "");
    }
    maint.set_result_ok(p.last_error.is_none());
}

fn read_test_line(answer: &ReadTestAnswer) -> String {
    match answer {
        ReadTestAnswer::Read {
            masked_nik,
            nik_check,
            fields,
            ..
        } => format!(
            "Card read: NIK {masked_nik} ({nik_check}), {} fields",
            fields.len()
        ),
        ReadTestAnswer::ReadFailed { problem } => {
            format!("No card read: read_failed {}", problem.code())
        }
        ReadTestAnswer::TimedOut { .. } => "No card read: timed_out ".to_owned(),
        ReadTestAnswer::Cancelled => "No card read: cancelled ".to_owned(),
    }
}

/// Asks again for the sync's progress in a second.
fn poll_progress(link: &MaintLink, weak: Weak<KioskWindow>) {
    let link2 = link.clone();
    link.runtime.spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let _ =
            weak.upgrade_in_event_loop(move |ui| run(&link2, ui.as_weak(), "sync_progress", ""));
    });
}

fn code<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn show_settings(ui: &KioskWindow, s: &crate::maint::Settings) {
    let maint = ui.global::<Maint>();
    maint.set_default_language(code(&s.default_language).into());
    maint.set_orientation(code(&s.orientation).into());
    maint.set_volume(i32::from(s.volume));
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (String, bool) {
    match t {
        None => ("never".into(), true),
        Some(t) => {
            let m = (now - t).num_minutes();
            let text = if m < 1 {
                "just now".into()
            } else if m < 120 {
                format!("{m} min ago")
            } else {
                format!("{} h ago", m / 60)
            };
            (format!("{text} ({})", local_time(t)), false)
        }
    }
}

/// The report as rows by section, worst first in `problems`.
pub fn report_rows(r: &Report) -> Vec<ReportRow> {
    let row = |section: &str, label: &str, value: String, bad: bool| ReportRow {
        section: section.into(),
        label: label.into(),
        value: value.into(),
        bad,
    };
    let now = r.generated_at;
    let mut rows = vec![
        row("kiosk", "version", r.version.clone(), false),
        row(
            "kiosk",
            "uptime",
            format!("{} h {} min", r.uptime_s / 3600, r.uptime_s % 3600 / 60),
            false,
        ),
        row(
            "kiosk",
            "kiosk",
            r.kiosk_id.clone().unwrap_or_else(|| "not enrolled".into()),
            r.kiosk_id.is_none(),
        ),
    ];
    if let Some(d) = &r.disk {
        let free = d.available_bytes as f64 / (1024.0 * 1024.0 * 1024.0);
        rows.push(row("kiosk", "disk", format!("{free:.1} GiB"), d.is_low()));
    }
    let p = &r.printer;
    rows.push(row("printer", "printer", p.state.clone(), p.state != "ok"));
    rows.push(row("printer", "paper", p.paper.clone(), p.paper != "ok"));
    rows.push(row(
        "printer",
        "cover",
        p.cover.clone(),
        p.cover != "closed",
    ));
    if let Some(e) = &p.error {
        rows.push(row("printer", "printer_error", e.clone(), true));
    }
    rows.push(row(
        "printer",
        "unprinted",
        p.unprinted_tickets.to_string(),
        p.unprinted_tickets > 0,
    ));
    let rd = &r.reader;
    rows.push(row("reader", "reader", rd.state.clone(), rd.state != "ok"));
    rows.push(row(
        "reader",
        "firmware",
        [&rd.vendor, &rd.model, &rd.firmware]
            .iter()
            .filter_map(|s| s.as_deref())
            .collect::<Vec<_>>()
            .join(" "),
        false,
    ));
    rows.push(row(
        "reader",
        "sam",
        rd.sam.clone().unwrap_or_else(|| "?".into()),
        rd.sam
            .as_deref()
            .is_some_and(|s| !matches!(s, "ok" | "present")),
    ));
    let n = &r.network;
    rows.push(row(
        "network",
        "network",
        if n.tcp_reachable {
            format!(
                "{} reachable ({} ms)",
                n.central_host,
                n.tcp_ms.unwrap_or(0)
            )
        } else {
            format!(
                "{} not reachable: {}",
                n.central_host,
                n.tcp_error.clone().unwrap_or_default()
            )
        },
        !n.tcp_reachable,
    ));
    let s = &r.sync;
    rows.push(row(
        "network",
        "service",
        if n.sync_online {
            "answering"
        } else {
            "not answering"
        }
        .into(),
        !n.sync_online,
    ));
    let (last, never) = ago(s.last_success, now);
    rows.push(row("network", "last_sync", last, never));
    if let Some(e) = &s.last_error {
        rows.push(row("network", "sync_error", e.clone(), true));
    }
    if let Some(skew) = s.clock_skew_s {
        rows.push(row(
            "network",
            "clock_skew",
            format!("{skew} s"),
            s.clock_alert,
        ));
    }
    let q = &r.queue;
    rows.push(row("queue", "unsynced", q.unsynced.to_string(), false));
    if q.oldest_unsynced.is_some() {
        rows.push(row(
            "queue",
            "oldest_unsynced",
            ago(q.oldest_unsynced, now).0,
            false,
        ));
    }
    rows.push(row(
        "queue",
        "rejected",
        q.rejected.to_string(),
        q.rejected > 0,
    ));
    rows.push(row(
        "queue",
        "held_free",
        q.held_free.to_string(),
        q.held_free == 0,
    ));
    for h in &r.held {
        rows.push(row(
            "held",
            "held",
            format!(
                "{} {}: {} regular, {} priority",
                h.office_id, h.date, h.regular, h.priority
            ),
            false,
        ));
    }
    for x in &r.rejections {
        rows.push(row(
            "rejections",
            "rejection",
            serde_json::to_value(x)
                .ok()
                .and_then(|v| {
                    Some(format!(
                        "{} {}: {}",
                        v.get("office_id")?.as_str()?,
                        v.get("date").and_then(Value::as_str).unwrap_or(""),
                        v.get("reason").and_then(Value::as_str).unwrap_or("?")
                    ))
                })
                .unwrap_or_default(),
            true,
        ));
    }
    rows
}

fn show_report(ui: &KioskWindow, r: &Report) {
    let maint = ui.global::<Maint>();
    maint.set_rows(ModelRc::new(VecModel::from(report_rows(r))));
    let problems: Vec<SharedString> = r.problems.iter().map(|p| p.as_str().into()).collect();
    maint.set_problems(ModelRc::new(VecModel::from(problems)));
    let held: Vec<PickItem> = r
        .held
        .iter()
        .filter(|h| h.regular + h.priority > 0)
        .map(|h| PickItem {
            id: format!("{}|{}", h.office_id, h.date).into(),
            line: format!("{} {}: {} + {}", h.office_id, h.date, h.regular, h.priority).into(),
        })
        .collect();
    maint.set_held(ModelRc::new(VecModel::from(held)));
    let hold = r
        .holds
        .iter()
        .find(|h| h.source == "technician")
        .map(|h| h.reason.clone())
        .unwrap_or_default();
    maint.set_hold(hold.into());
    show_settings(ui, &r.settings);
}
