//! Glue for the maintenance menu (`ui/pages/maint.slint`): each button sends the control
//! channel's command (the same `apm-kiosk maint` sends over the socket, with the same
//! effects and audit lines), and the daemon's answer fills the `Maint` global. Nothing is
//! decided here: the PIN, its lockout, the report and every action are the daemon's
//! (`crate::maint`).
//!
//! Every answer reaches the menu as codes and figures (`menu`), worded by the menu in
//! the technician's language like every other page; only names (an id, a path) and
//! what a device or a service said of itself are shown as they are, and a refusal the
//! menu has no words for shows the daemon's message.

mod menu;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel, Weak};
use tokio::sync::{mpsc, oneshot};

use super::adapter::codes;
use super::{
    AttentionItem, HeldItem, KioskWindow, Maint, MaintAction, MaintPage, MaintResult, PickItem,
    PinAnswer, ReportRow, ResultKind,
};
use crate::control::{Command, CommandRequest, Reply};
use crate::flow::HoldSource;
use crate::maint::answer::{MaintAnswer, SyncProgress};
use crate::maint::pin::Unlock;
use crate::maint::report::{self, Level};
use crate::maint::{Failure, HoldReason, RecentTicket, Report, Secret, SettingsChange};

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

/// The command for an action of the menu; the bundle goes to a USB stick when one is
/// mounted ([`export_dir`]), else to `export_fallback`.
pub fn action_command(action: MaintAction, export_fallback: &Path) -> Command {
    match action {
        MaintAction::Report => Command::MaintReport,
        MaintAction::Lock => Command::MaintLock,
        MaintAction::RecentTickets => Command::RecentTickets {
            limit: Some(RECENT),
        },
        MaintAction::TestPrint => Command::TestPrint,
        MaintAction::ReprintLast => Command::Reprint {
            registration_id: None,
        },
        MaintAction::ReadTest => Command::ReadTest,
        MaintAction::SyncNow => Command::SyncNow,
        MaintAction::Integrity => Command::Integrity,
        MaintAction::ExportBundle => Command::Export {
            path: export_dir(export_fallback),
        },
        MaintAction::InService => Command::InService,
        MaintAction::Restart => Command::Restart,
        MaintAction::AcknowledgeCalls => Command::AcknowledgeCalls,
    }
}

/// `release_held` for a day of the menu's list; `None` if its date does not read.
fn release_held(day: &HeldItem) -> Option<Command> {
    Some(Command::ReleaseHeld {
        office_id: day.office.to_string(),
        date: day.date.parse().ok()?,
    })
}

fn set_settings(change: SettingsChange) -> Option<Command> {
    Some(Command::SetSettings(change))
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

/// Wires the menu's callbacks: each sends its command.
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
    maint.on_run(sender(ui, &link, |action, link| {
        Some(action_command(action, &link.export_fallback))
    }));
    maint.on_reprint(sender(ui, &link, |id: SharedString, _| {
        Some(Command::Reprint {
            registration_id: (!id.is_empty()).then(|| id.to_string()),
        })
    }));
    maint.on_enroll(sender(ui, &link, |code: SharedString, _| {
        Some(Command::Enroll {
            code: code.trim().to_owned(),
        })
    }));
    maint.on_out_of_service(sender(ui, &link, |hold, _| {
        Some(Command::OutOfService {
            reason: codes::technician_hold_from(hold)?,
        })
    }));
    maint.on_release_held(sender(ui, &link, |day: HeldItem, _| release_held(&day)));
    maint.on_set_language(sender(ui, &link, |language, _| {
        set_settings(SettingsChange {
            default_language: codes::language_from(language),
            ..SettingsChange::default()
        })
    }));
    maint.on_set_orientation(sender(ui, &link, |orientation, _| {
        set_settings(SettingsChange {
            orientation: Some(codes::orientation_from(orientation)),
            ..SettingsChange::default()
        })
    }));
    maint.on_set_volume(sender(ui, &link, |volume: i32, _| {
        set_settings(SettingsChange {
            volume: u8::try_from(volume).ok(),
            ..SettingsChange::default()
        })
    }));
}

/// A callback of the menu that sends the command `command` makes of its argument.
fn sender<A: 'static>(
    ui: &KioskWindow,
    link: &MaintLink,
    command: impl Fn(A, &MaintLink) -> Option<Command> + 'static,
) -> impl FnMut(A) + 'static {
    let (link, weak) = (link.clone(), ui.as_weak());
    move |arg| match command(arg, &link) {
        Some(c) => run(&link, weak.clone(), c),
        None => tracing::error!("the menu asked for a command the kiosk cannot make"),
    }
}

/// Commands that only fill a part of the menu: it stays usable while they run.
fn quiet(command: &Command) -> bool {
    matches!(
        command,
        Command::MaintReport | Command::RecentTickets { .. } | Command::SyncProgress
    )
}

fn run(link: &MaintLink, weak: Weak<KioskWindow>, command: Command) {
    let lock = matches!(command, Command::MaintLock);
    if let Some(ui) = weak.upgrade() {
        let maint = ui.global::<Maint>();
        if lock {
            // Closed at once; the daemon is told for the audit.
            maint.set_open(false);
            maint.set_pin_open(false);
            maint.set_code(SharedString::new());
        } else if !quiet(&command) {
            maint.set_busy(true);
            maint.set_result(MaintResult::default());
        }
    }
    let link2 = link.clone();
    send(link, weak, command, move |ui, value| {
        answered(ui, &link2, lock, value)
    });
}

fn unlocked(ui: &KioskWindow, link: &MaintLink, reply: Reply) {
    let maint = ui.global::<Maint>();
    match reply {
        Reply::Maint(MaintAnswer::Unlock(Unlock::Unlocked)) => {
            maint.set_pin_result(PinAnswer::None);
            maint.set_pin_open(false);
            maint.set_open(true);
            maint.set_section(MaintPage::Status);
            maint.set_result(MaintResult::default());
            maint.invoke_touched();
            run(link, ui.as_weak(), Command::MaintReport);
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::Wrong { attempts_left })) => {
            maint.set_pin_result(PinAnswer::Wrong);
            maint.set_pin_detail(attempts_left.to_string().into());
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::Locked { until })) => {
            maint.set_pin_result(PinAnswer::Locked);
            maint.set_pin_detail(local_time(until).into());
        }
        Reply::Maint(MaintAnswer::Unlock(Unlock::NoPin)) => maint.set_pin_result(PinAnswer::NoPin),
        other => {
            maint.set_pin_result(PinAnswer::Locked);
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

/// The answer to a command the menu sent; to a `maint_lock` none is shown, the menu
/// being closed.
fn answered(ui: &KioskWindow, link: &MaintLink, lock: bool, reply: Reply) {
    let maint = ui.global::<Maint>();
    maint.set_busy(false);
    if lock {
        return;
    }
    let said = match reply {
        Reply::Failed(f) => menu::failure(&f),
        Reply::Maint(answer) => match said_of(ui, link, answer) {
            Some(said) => said,
            None => return,
        },
        Reply::SyncStarted(_) => {
            poll_progress(link, ui.as_weak());
            menu::result(ResultKind::SyncStarted)
        }
        Reply::ReadTest(answer) => menu::read_test(&answer),
        Reply::Restarting(_) => menu::result(ResultKind::Restarting),
        Reply::Status(_) => return,
    };
    maint.set_result(said);
}

/// What the menu's result line says of a maintenance answer; `None` when the answer
/// fills its own part of the menu instead.
fn said_of(ui: &KioskWindow, link: &MaintLink, answer: MaintAnswer) -> Option<MaintResult> {
    use menu::{result, result_with};
    let maint = ui.global::<Maint>();
    let refresh = || run(link, ui.as_weak(), Command::MaintReport);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
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
        MaintAnswer::TestPrinted(_) => result(ResultKind::TestPrinted),
        MaintAnswer::Reprinted(r) => result_with(ResultKind::Reprinted, r.queue_number),
        MaintAnswer::Integrity(i) if i.ok => result(ResultKind::IntegrityOk),
        MaintAnswer::Integrity(i) => result_with(ResultKind::IntegrityDamaged, i.result),
        MaintAnswer::Written(w) => result_with(ResultKind::Written, w.path.display().to_string()),
        MaintAnswer::Enrolled(e) => {
            maint.set_code(SharedString::new());
            result_with(ResultKind::Enrolled, e.enrolled)
        }
        MaintAnswer::ServiceHold(h) => {
            refresh();
            match h.out_of_service {
                None => result(ResultKind::BackInService),
                Some(reason) => MaintResult {
                    hold: codes::technician_hold(Some(reason)),
                    ..result(ResultKind::OutOfService)
                },
            }
        }
        MaintAnswer::Released(r) => {
            refresh();
            MaintResult {
                n: count(r.released),
                detail: r.date.to_string().into(),
                ..result_with(ResultKind::Released, r.office_id)
            }
        }
        MaintAnswer::Settings(now) => {
            show_settings(ui, &now.settings);
            result(ResultKind::Saved)
        }
        MaintAnswer::Acknowledged(a) => {
            refresh();
            MaintResult {
                n: count(a.acknowledged),
                ..result(ResultKind::Acknowledged)
            }
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
    if p.round_running {
        poll_progress(link, ui.as_weak());
    } else {
        run(link, ui.as_weak(), Command::MaintReport);
    }
    maint.set_result(menu::progress(p));
}

/// Asks again for the sync's progress in a second.
fn poll_progress(link: &MaintLink, weak: Weak<KioskWindow>) {
    let link2 = link.clone();
    link.runtime.spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let _ =
            weak.upgrade_in_event_loop(move |ui| run(&link2, ui.as_weak(), Command::SyncProgress));
    });
}

fn show_settings(ui: &KioskWindow, s: &crate::maint::Settings) {
    let maint = ui.global::<Maint>();
    maint.set_default_language(codes::language(s.default_language));
    maint.set_orientation(codes::orientation(s.orientation));
    maint.set_volume(i32::from(s.volume));
}

/// The report's rows (`maint::report::sections`) that the menu has words for.
pub fn report_rows(r: &Report) -> Vec<ReportRow> {
    report::sections(r)
        .into_iter()
        .flat_map(|s| {
            let section = codes::report_part(s.part);
            s.rows.into_iter().filter_map(move |row| {
                let mut shown = ReportRow {
                    section,
                    label: codes::report_label(row.label)?,
                    bad: row.level == Level::Attention,
                    ..ReportRow::default()
                };
                menu::row(&row, r.generated_at, &mut shown);
                Some(shown)
            })
        })
        .collect()
}

/// What needs attention, worst first, as the menu words it.
pub fn attention_items(r: &Report) -> Vec<AttentionItem> {
    report::attention(r, r.generated_at)
        .iter()
        .map(menu::attention)
        .collect()
}

/// Fills the menu from a report: its rows, what needs attention, the days to give back,
/// the open calls, the technician's hold and the settings.
pub fn show_report(ui: &KioskWindow, r: &Report) {
    let maint = ui.global::<Maint>();
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    maint.set_rows(ModelRc::new(VecModel::from(report_rows(r))));
    maint.set_problems(ModelRc::new(VecModel::from(attention_items(r))));
    let held: Vec<HeldItem> = r
        .held
        .iter()
        .filter(|h| h.regular + h.priority > 0)
        .map(|h| HeldItem {
            office: h.office_id.as_str().into(),
            date: h.date.to_string().into(),
            regular: count(h.regular),
            priority: count(h.priority),
        })
        .collect();
    maint.set_held(ModelRc::new(VecModel::from(held)));
    maint.set_open_calls(i32::try_from(r.officer_calls.open.len()).unwrap_or(i32::MAX));
    maint.set_rejections(i32::try_from(r.rejections.len()).unwrap_or(i32::MAX));
    let hold = r
        .holds
        .iter()
        .find(|h| h.source == HoldSource::Technician)
        .and_then(|h| HoldReason::from_code(&h.reason));
    maint.set_hold(codes::technician_hold(hold));
    show_settings(ui, &r.settings);
}
