//! The pages' taps: the `Flow` global's callbacks, one for each thing a person can do
//! and typed as the page knows it, each bound here to its [`Intent`], the same intents
//! the control channel takes, and sent to the daemon's queue. What an intent does is the
//! flow's business; this only translates.

use slint::{ComponentHandle, SharedString};
use tokio::sync::mpsc;

use super::codes;
use crate::flow::Intent;
use crate::ui::{Flow, KioskWindow};

/// The daemon's queue of intents, as each callback holds it.
#[derive(Clone)]
struct Taps(mpsc::Sender<Intent>);

impl Taps {
    fn send(&self, intent: Intent) {
        // The flow's queue holds 64 intents; a full queue means the daemon is stuck,
        // and a tap lost then is better than a frozen screen.
        if let Err(e) = self.0.try_send(intent) {
            tracing::warn!(error = %e, "tap not delivered to the flow");
        }
    }

    /// A callback that sends `intent` each time.
    fn always(&self, intent: Intent) -> impl FnMut() + 'static {
        let taps = self.clone();
        move || taps.send(intent.clone())
    }

    /// A callback whose argument makes the intent. `None` is a page sending what the
    /// flow cannot take (a bug in the page): logged, and nothing is sent.
    fn with<A>(
        &self,
        tap: &'static str,
        intent: impl Fn(A) -> Option<Intent> + 'static,
    ) -> impl FnMut(A) + 'static {
        let taps = self.clone();
        move |a| match intent(a) {
            Some(intent) => taps.send(intent),
            None => tracing::error!(tap, "the screen sent a tap the flow cannot take"),
        }
    }
}

/// Wires the window's callbacks: taps become intents sent to the daemon.
pub fn connect(ui: &KioskWindow, intents: mpsc::Sender<Intent>) {
    let flow = ui.global::<Flow>();
    let taps = Taps(intents);
    every_page(&flow, &taps);
    identity(&flow, &taps);
    group(&flow, &taps);
    booking(&flow, &taps);
    my_booking(&flow, &taps);
    flow.on_drop_last(|s| super::drop_last(&s).into());
    flow.on_group_digits(|s| super::group_digits(&s).into());
}

/// The header, the footer and the inactivity warning; the idle, card, done and problem
/// pages, whose taps take no argument.
fn every_page(flow: &Flow<'_>, taps: &Taps) {
    flow.on_set_language(taps.with("set_language", |l| {
        Some(Intent::SetLanguage {
            language: codes::language_from(l)?,
        })
    }));
    flow.on_back(taps.always(Intent::Back));
    flow.on_cancel(taps.always(Intent::Cancel));
    flow.on_still_here(taps.always(Intent::StillHere));
    flow.on_start(taps.always(Intent::Start));
    flow.on_manual_entry(taps.always(Intent::ManualEntry));
    flow.on_finish(taps.always(Intent::Finish));
    flow.on_dismiss(taps.always(Intent::Dismiss));
    flow.on_retry_print(taps.always(Intent::RetryPrint));
    flow.on_help(taps.always(Intent::Help));
    flow.on_close_help(taps.always(Intent::CloseHelp));
    flow.on_call_officer(taps.always(Intent::CallOfficer));
}

/// The keypad, "Is this you?" and the details.
fn identity(flow: &Flow<'_>, taps: &Taps) {
    let t = taps.clone();
    flow.on_enter_nik(move |nik, kk| t.send(enter_nik(&nik, &kk)));
    flow.on_confirm_identity(taps.always(Intent::ConfirmIdentity));
    flow.on_type_name(taps.always(Intent::TypeName));
    let t = taps.clone();
    flow.on_enter_name(move |name| t.send(Intent::EnterName { name: name.into() }));
    flow.on_reject_identity(taps.always(Intent::RejectIdentity));
    flow.on_choose_application_type(taps.with("choose_application_type", |a| {
        Some(Intent::ChooseApplicationType {
            application_type: codes::application_type_from(a)?,
        })
    }));
    flow.on_choose_passport_type(taps.with("choose_passport_type", |p| {
        Some(Intent::ChoosePassportType {
            passport_type: codes::passport_type_from(p)?,
        })
    }));
    flow.on_declare_priority(taps.with("declare_priority", |p| {
        Some(Intent::DeclarePriority {
            reason: codes::priority_from(p),
        })
    }));
    flow.on_confirm_details(taps.always(Intent::ConfirmDetails));
}

/// The group.
fn group(flow: &Flow<'_>, taps: &Taps) {
    flow.on_add_member_by_card(taps.always(Intent::AddMemberByCard));
    flow.on_add_child(taps.always(Intent::AddChild));
    flow.on_remove_member(taps.with("remove_member", remove_member));
    flow.on_confirm_remove_member(taps.always(Intent::ConfirmRemoveMember));
    flow.on_edit_member(taps.with("edit_member", |index: i32| {
        Some(Intent::EditMember {
            index: usize::try_from(index).ok()?,
        })
    }));
    flow.on_finish_members(taps.always(Intent::FinishMembers));
}

/// Where and when.
fn booking(flow: &Flow<'_>, taps: &Taps) {
    flow.on_choose_office(taps.with("choose_office", |id: SharedString| {
        Some(Intent::ChooseOffice {
            office_id: id.into(),
        })
    }));
    flow.on_choose_date(taps.with("choose_date", |iso: SharedString| choose_date(&iso)));
    flow.on_choose_session(taps.with("choose_session", |id: SharedString| {
        Some(Intent::ChooseSession {
            session_id: id.into(),
        })
    }));
    flow.on_confirm_booking(taps.always(Intent::ConfirmBooking));
}

/// "My booking": a booking by its place in the list.
fn my_booking(flow: &Flow<'_>, taps: &Taps) {
    flow.on_reprint_booking(taps.with("reprint_booking", |i: i32| {
        Some(Intent::ReprintBooking {
            index: usize::try_from(i).ok()?,
        })
    }));
    flow.on_reschedule_booking(taps.with("reschedule_booking", |i: i32| {
        Some(Intent::RescheduleBooking {
            index: usize::try_from(i).ok()?,
        })
    }));
    flow.on_cancel_booking(taps.with("cancel_booking", |i: i32| {
        Some(Intent::CancelBooking {
            index: usize::try_from(i).ok()?,
        })
    }));
    flow.on_confirm_cancel_booking(taps.always(Intent::ConfirmCancelBooking));
}

/// The keypad's digits: a KK number only when one was typed.
fn enter_nik(nik: &str, kk: &str) -> Intent {
    Intent::EnterNik {
        nik: nik.to_owned(),
        kk: (!kk.is_empty()).then(|| kk.to_owned()),
    }
}

fn remove_member(index: i32) -> Option<Intent> {
    Some(Intent::RemoveMember {
        index: usize::try_from(index).ok()?,
    })
}

fn choose_date(iso: &str) -> Option<Intent> {
    Some(Intent::ChooseDate {
        date: iso.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::ui;

    #[test]
    fn arguments_become_the_intents_fields() {
        assert_eq!(
            enter_nik("3171234567890003", ""),
            Intent::EnterNik {
                nik: "3171234567890003".into(),
                kk: None,
            }
        );
        assert_eq!(
            enter_nik("3171234567890003", "3171010101010001"),
            Intent::EnterNik {
                nik: "3171234567890003".into(),
                kk: Some("3171010101010001".into()),
            }
        );
        assert_eq!(remove_member(2), Some(Intent::RemoveMember { index: 2 }));
        assert_eq!(remove_member(-1), None);
        assert_eq!(
            choose_date("2026-11-24"),
            Some(Intent::ChooseDate {
                date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default(),
            })
        );
        assert_eq!(choose_date("24/11/2026"), None);
    }

    type Tap = fn(&Flow<'_>);

    /// A window whose taps are connected, on the headless platform, and their queue.
    fn window_with_taps() -> (KioskWindow, mpsc::Receiver<Intent>) {
        use i_slint_backend_testing::{TestingBackend, TestingBackendOptions};
        // This test's thread has no platform yet; another test may have set its own.
        let _ =
            slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
                mock_time: true,
                threading: false,
                renderer_name: Some("software".into()),
            })));
        let ui = KioskWindow::new().expect("the window builds");
        let (tx, rx) = mpsc::channel(64);
        connect(&ui, tx);
        (ui, rx)
    }

    #[test]
    fn every_tap_sends_its_intent() {
        let (ui, mut rx) = window_with_taps();
        let flow = ui.global::<Flow>();
        let cases: [(Tap, Intent); 24] = [
            (
                |f| f.invoke_set_language(ui::Language::En),
                Intent::SetLanguage {
                    language: crate::domain::Language::En,
                },
            ),
            (|f| f.invoke_back(), Intent::Back),
            (|f| f.invoke_cancel(), Intent::Cancel),
            (|f| f.invoke_still_here(), Intent::StillHere),
            (|f| f.invoke_start(), Intent::Start),
            (|f| f.invoke_manual_entry(), Intent::ManualEntry),
            (
                |f| f.invoke_enter_nik("2102015708900003".into(), "".into()),
                enter_nik("2102015708900003", ""),
            ),
            (|f| f.invoke_confirm_identity(), Intent::ConfirmIdentity),
            (|f| f.invoke_reject_identity(), Intent::RejectIdentity),
            (
                |f| f.invoke_choose_application_type(ui::ApplicationType::Lost),
                Intent::ChooseApplicationType {
                    application_type: crate::domain::ApplicationType::Lost,
                },
            ),
            (
                |f| f.invoke_choose_passport_type(ui::PassportType::Regular48),
                Intent::ChoosePassportType {
                    passport_type: crate::domain::PassportType::Regular48,
                },
            ),
            (
                |f| f.invoke_declare_priority(ui::PriorityReason::None),
                Intent::DeclarePriority { reason: None },
            ),
            (|f| f.invoke_confirm_details(), Intent::ConfirmDetails),
            (|f| f.invoke_add_member_by_card(), Intent::AddMemberByCard),
            (|f| f.invoke_add_child(), Intent::AddChild),
            (
                |f| f.invoke_remove_member(1),
                Intent::RemoveMember { index: 1 },
            ),
            (|f| f.invoke_finish_members(), Intent::FinishMembers),
            (
                |f| f.invoke_choose_office("KRM".into()),
                Intent::ChooseOffice {
                    office_id: "KRM".into(),
                },
            ),
            (
                |f| f.invoke_choose_date("2026-11-24".into()),
                choose_date("2026-11-24").unwrap_or(Intent::Start),
            ),
            (
                |f| f.invoke_choose_session("S1".into()),
                Intent::ChooseSession {
                    session_id: "S1".into(),
                },
            ),
            (|f| f.invoke_confirm_booking(), Intent::ConfirmBooking),
            (|f| f.invoke_finish(), Intent::Finish),
            (|f| f.invoke_dismiss(), Intent::Dismiss),
            (|f| f.invoke_retry_print(), Intent::RetryPrint),
        ];
        for (tap, want) in cases {
            tap(&flow);
            assert_eq!(rx.try_recv().ok(), Some(want));
        }
        // What the flow cannot take is not sent.
        flow.invoke_remove_member(-1);
        flow.invoke_set_language(ui::Language::Unset);
        flow.invoke_choose_application_type(ui::ApplicationType::None);
        flow.invoke_choose_passport_type(ui::PassportType::None);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn my_bookings_taps_send_their_intents() {
        let (ui, mut rx) = window_with_taps();
        let flow = ui.global::<Flow>();
        let cases: [(Tap, Intent); 4] = [
            (
                |f| f.invoke_reprint_booking(1),
                Intent::ReprintBooking { index: 1 },
            ),
            (
                |f| f.invoke_reschedule_booking(0),
                Intent::RescheduleBooking { index: 0 },
            ),
            (
                |f| f.invoke_cancel_booking(1),
                Intent::CancelBooking { index: 1 },
            ),
            (
                |f| f.invoke_confirm_cancel_booking(),
                Intent::ConfirmCancelBooking,
            ),
        ];
        for (tap, want) in cases {
            tap(&flow);
            assert_eq!(rx.try_recv().ok(), Some(want));
        }
        // What the flow cannot take is not sent.
        flow.invoke_cancel_booking(-1);
        flow.invoke_reprint_booking(-2);
        assert!(rx.try_recv().is_err());
    }
}
