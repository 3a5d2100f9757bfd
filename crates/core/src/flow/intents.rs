//! What each tap does, screen by screen: a short dispatch on the screen and one
//! function per screen.

use super::*;

/// An intent: the three that apply anywhere here, the rest by the screen they apply on.
pub(super) fn intent_step(
    state: &mut Kiosk,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::SetLanguage { language } => state.language = language,
        Intent::StillHere => {}
        Intent::Cancel => cancel(state, fx),
        intent => screen_intent(state, intent, now, fx),
    }
}

/// Anywhere but while the kiosk commits or prints: end the session, wiping it.
pub(super) fn cancel(state: &mut Kiosk, fx: &mut Vec<Effect>) {
    if !state.session_busy() || matches!(state.screen, Screen::Committing | Screen::Printing) {
        return;
    }
    // After the commit the booking exists: cancel just leaves the screens.
    if state.booked.is_none() {
        fx.push(Effect::Audit {
            event: "session_cancelled",
            detail: view::screen_name(&state.screen).to_string(),
        });
    }
    state.wipe();
}

/// An intent that belongs to one screen. Each screen's function ignores what does not
/// apply to it, as a tap on nothing; the screens where the kiosk works take none.
pub(super) fn screen_intent(
    state: &mut Kiosk,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match state.screen.clone() {
        Screen::Idle => idle_intent(state, intent),
        Screen::ReadCard { purpose, .. } => read_card_intent(state, purpose, intent),
        Screen::ManualNik { purpose, .. } => manual_nik_intent(state, purpose, intent, now, fx),
        Screen::ConfirmIdentity { purpose } => confirm_identity_intent(state, purpose, intent, fx),
        Screen::NameEntry { purpose, .. } => name_entry_intent(state, purpose, intent),
        Screen::Details { purpose, editing } => {
            details_intent(state, purpose, editing, intent, now, fx)
        }
        Screen::Members { removing } => members_intent(state, removing, intent),
        Screen::Office => office_intent(state, intent, fx),
        Screen::Date { .. } => date_intent(state, intent, now),
        Screen::Session { .. } => session_intent(state, intent, now, fx),
        Screen::MyBooking { cancelling } => my_booking_intent(state, cancelling, intent, now, fx),
        Screen::Review => review_intent(state, intent, now, fx),
        Screen::Problem { problem, way_out } => problem_intent(state, problem, way_out, intent, fx),
        Screen::Done => {
            if intent == Intent::Finish {
                state.wipe();
            }
        }
        Screen::Checking { .. }
        | Screen::LoadingAvailability
        | Screen::AskingNumbers
        | Screen::Committing
        | Screen::Printing => {}
    }
}

pub(super) fn idle_intent(state: &mut Kiosk, intent: Intent) {
    if intent == Intent::Start && state.holds.is_empty() {
        state.screen = Screen::ReadCard {
            purpose: Purpose::Lead,
            problem: None,
        };
        state.card_failures = 0;
    }
}

/// The card screen: the keypad once enough reads have failed, or back.
pub(super) fn read_card_intent(state: &mut Kiosk, purpose: Purpose, intent: Intent) {
    match intent {
        Intent::ManualEntry if state.card_failures >= CARD_FAILURES_BEFORE_MANUAL => {
            state.screen = Screen::ManualNik {
                purpose,
                problem: None,
            };
        }
        Intent::Back => back_from_card(state),
        _ => {}
    }
}

pub(super) fn manual_nik_intent(
    state: &mut Kiosk,
    purpose: Purpose,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::Back => back_from_card(state),
        Intent::EnterNik { nik, kk } => manual_entry(state, purpose, &nik, kk.as_deref(), now, fx),
        _ => {}
    }
}

/// "Is this you?": yes has the rules checked; no drops the pending applicant.
pub(super) fn confirm_identity_intent(
    state: &mut Kiosk,
    purpose: Purpose,
    intent: Intent,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::ConfirmIdentity => {
            if let Some(p) = &state.pending {
                fx.push(Effect::CheckApplicant {
                    nik: p.applicant.nik.clone(),
                });
                state.screen = Screen::Checking { purpose };
            }
        }
        Intent::TypeName if name_typable(state) => {
            state.screen = Screen::NameEntry {
                purpose,
                invalid: false,
            };
        }
        Intent::RejectIdentity => {
            // Not them: the card stays unread; a wrong card on the reader is the usual cause.
            state.pending = None;
            state.screen = match purpose {
                Purpose::Child => Screen::ManualNik {
                    purpose,
                    problem: None,
                },
                _ => Screen::ReadCard {
                    purpose,
                    problem: None,
                },
            };
        }
        _ => {}
    }
}

/// A name can be typed for an applicant entered by NIK: nothing was read from a card.
pub(super) fn name_typable(state: &Kiosk) -> bool {
    state
        .pending
        .as_ref()
        .is_some_and(|p| p.applicant.source == IdentitySource::Manual)
}

/// The letter keypad: the name typed (or none) back to the confirm screen, or back
/// without changing it.
pub(super) fn name_entry_intent(state: &mut Kiosk, purpose: Purpose, intent: Intent) {
    match intent {
        Intent::EnterName { name } => match card::typed_name(&name) {
            Ok(name) => {
                if let Some(p) = &mut state.pending {
                    p.applicant.name = name;
                }
                state.screen = Screen::ConfirmIdentity { purpose };
            }
            Err(_) => {
                state.screen = Screen::NameEntry {
                    purpose,
                    invalid: true,
                }
            }
        },
        Intent::Back => state.screen = Screen::ConfirmIdentity { purpose },
        _ => {}
    }
}

/// The pending applicant's choices, then on to the family list (or back without them).
/// A member whose details are being changed (`editing`) goes back to their place.
pub(super) fn details_intent(
    state: &mut Kiosk,
    purpose: Purpose,
    editing: Option<usize>,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::ChooseApplicationType { application_type } => {
            if let Some(p) = &mut state.pending {
                p.application_type = Some(application_type);
            }
        }
        Intent::ChoosePassportType { passport_type } => {
            if let Some(p) = &mut state.pending {
                p.passport_type = Some(passport_type);
            }
        }
        Intent::DeclarePriority { reason } => {
            if let Some(p) = &mut state.pending {
                p.declared_priority = reason;
            }
        }
        Intent::ConfirmDetails => confirm_details(state, editing, now, fx),
        Intent::Back => {
            state.pending = None;
            state.screen = if purpose == Purpose::Lead && editing.is_none() {
                Screen::ReadCard {
                    purpose,
                    problem: None,
                }
            } else {
                Screen::members()
            };
        }
        _ => {}
    }
}

/// The family list: add a member by card or a child by NIK while there is room, change
/// one's details (back changes the lead's), take one out (asked, then confirmed), or go
/// on to the office.
pub(super) fn members_intent(state: &mut Kiosk, removing: Option<usize>, intent: Intent) {
    if let Some(index) = removing {
        return removing_intent(state, index, intent);
    }
    match intent {
        Intent::AddMemberByCard if group_has_room(state) => {
            state.card_failures = 0;
            state.screen = Screen::ReadCard {
                purpose: Purpose::Member,
                problem: None,
            };
        }
        Intent::AddChild if group_has_room(state) => {
            state.screen = Screen::ManualNik {
                purpose: Purpose::Child,
                problem: None,
            };
        }
        // The lead (index 0) stays: removing them is cancelling.
        Intent::RemoveMember { index } if index > 0 && index < state.members.len() => {
            state.screen = Screen::Members {
                removing: Some(index),
            };
        }
        Intent::EditMember { index } => edit_member(state, index),
        Intent::Back => edit_member(state, 0),
        Intent::FinishMembers => state.screen = Screen::Office,
        _ => {}
    }
}

/// "Take this member out?": yes takes them out, dismiss keeps them; nothing else.
pub(super) fn removing_intent(state: &mut Kiosk, index: usize, intent: Intent) {
    match intent {
        Intent::ConfirmRemoveMember => {
            if index < state.members.len() {
                state.members.remove(index);
            }
            state.screen = Screen::members();
        }
        Intent::Dismiss => state.screen = Screen::members(),
        _ => {}
    }
}

/// An office the kiosk serves: count its numbers, forgetting any date and session chosen.
pub(super) fn office_intent(state: &mut Kiosk, intent: Intent, fx: &mut Vec<Effect>) {
    match intent {
        Intent::ChooseOffice { office_id } if state.offices.iter().any(|o| o.id == office_id) => {
            fx.push(Effect::LoadAvailability {
                office_id: office_id.clone(),
            });
            state.office_id = Some(office_id);
            state.availability = None;
            state.date = None;
            state.session_id = None;
            state.screen = Screen::LoadingAvailability;
        }
        Intent::Back => state.screen = Screen::members(),
        _ => {}
    }
}

/// A day the group can book goes on to its sessions; any other stays, marked refused.
pub(super) fn date_intent(state: &mut Kiosk, intent: Intent, now: DateTime<Utc>) {
    match intent {
        Intent::ChooseDate { date } => {
            if date_bookable(state, date, now) {
                state.date = Some(date);
                state.session_id = None;
                state.screen = Screen::session();
            } else {
                state.screen = Screen::Date {
                    refused: Some(date),
                };
            }
        }
        Intent::Back if state.rescheduling().is_some() => back_to_my_booking(state),
        Intent::Back => state.screen = Screen::Office,
        _ => {}
    }
}

/// A session the group can book goes on to the review, once the kiosk holds its numbers
/// (the rest asked of the service first); any other stays, marked refused.
pub(super) fn session_intent(
    state: &mut Kiosk,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::ChooseSession { session_id } => {
            let ok = state
                .date
                .is_some_and(|d| session_bookable(state, d, &session_id, now));
            if ok {
                state.session_id = Some(session_id);
                state.screen = match ask_for_numbers(state) {
                    Some(ask) => {
                        fx.push(ask);
                        Screen::AskingNumbers
                    }
                    None => Screen::Review,
                };
            } else {
                state.screen = Screen::Session {
                    refused: Some(session_id),
                    denied: None,
                };
            }
        }
        Intent::Back => state.screen = Screen::Date { refused: None },
        _ => {}
    }
}

/// The review: confirming asks the store to commit the whole group in one go.
pub(super) fn review_intent(
    state: &mut Kiosk,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::ConfirmBooking if state.rescheduling().is_some() => {
            confirm_reschedule(state, now, fx)
        }
        Intent::ConfirmBooking => {
            if let (Some(office_id), Some(date), Some(session_id)) =
                (&state.office_id, state.date, &state.session_id)
            {
                fx.push(Effect::CommitBooking(BookingRequest {
                    office_id: office_id.clone(),
                    date,
                    session_id: session_id.clone(),
                    language: state.language,
                    members: state.members.clone(),
                    created_at: now,
                }));
                state.screen = Screen::Committing;
            }
        }
        Intent::Back => state.screen = Screen::session(),
        _ => {}
    }
}

/// An error screen: retry a print that failed, or take the problem's way out.
pub(super) fn problem_intent(
    state: &mut Kiosk,
    problem: Problem,
    way_out: WayOut,
    intent: Intent,
    fx: &mut Vec<Effect>,
) {
    match intent {
        Intent::RetryPrint if matches!(problem, Problem::Print { .. }) => {
            if let Some(print) = print_again(state) {
                fx.push(print);
                state.screen = Screen::Printing;
            }
        }
        Intent::Dismiss => take_way_out(state, way_out, fx),
        _ => {}
    }
}

/// Where [`Intent::Dismiss`] leads from an error screen.
pub(super) fn take_way_out(state: &mut Kiosk, way_out: WayOut, fx: &mut Vec<Effect>) {
    match way_out {
        WayOut::Idle => state.wipe(),
        WayOut::Members => {
            state.pending = None;
            state.screen = if state.members.is_empty() {
                Screen::ReadCard {
                    purpose: Purpose::Lead,
                    problem: None,
                }
            } else {
                Screen::members()
            };
        }
        WayOut::Office => state.screen = Screen::Office,
        WayOut::Session => {
            // The numbers changed under us: count them again before choosing.
            if let Some(office_id) = state.office_id.clone() {
                fx.push(Effect::LoadAvailability { office_id });
                state.screen = Screen::LoadingAvailability;
            } else {
                state.screen = Screen::Office;
            }
        }
        WayOut::Done => state.screen = Screen::Done,
        WayOut::MyBooking => back_to_my_booking(state),
    }
}

pub(super) fn back_from_card(state: &mut Kiosk) {
    state.pending = None;
    if state.members.is_empty() {
        state.wipe();
    } else {
        state.screen = Screen::members();
    }
}

pub(super) fn group_has_room(state: &Kiosk) -> bool {
    state.members.len() < rules::MAX_GROUP_SIZE
}
