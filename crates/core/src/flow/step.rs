//! `step`: each event handed to the flow, and the clock's tick (inactivity warning and
//! wipe). Intents go to `intents`, what a card or the keypad gives to `applicant`.

use super::*;

/// Advance the session by one event. Returns the effects to perform, in order.
pub fn step(state: &mut Kiosk, event: Event, now: DateTime<Utc>) -> Vec<Effect> {
    let mut fx = Vec::new();
    match event {
        Event::Tick => {
            if !help_holds_timer(state, now) {
                tick(state, now, &mut fx);
            }
            help_tick(state, now);
        }
        Event::CatalogChanged(offices) => state.offices = offices,
        Event::ServiceChanged { source, reason } => service_changed(state, source, reason),
        Event::Intent(intent) => {
            touched(state, now);
            if !help_intent(state, &intent, now, &mut fx) {
                intent_step(state, intent, now, &mut fx);
            }
        }
        Event::CardRead(card) => {
            if card_allowed(state) {
                touched(state, now);
                card_read(state, card, now, &mut fx);
            }
        }
        Event::CardFailed(problem) => {
            if card_allowed(state) {
                touched(state, now);
                card_failed(state, problem, &mut fx);
            }
        }
        Event::Checked(result) => checked(state, result, &mut fx),
        Event::BookingsFound(found) => bookings_found(state, found, &mut fx),
        Event::NumbersGranted(result) => numbers_granted(state, result),
        Event::Rescheduled(result) => rescheduled(state, result, &mut fx),
        Event::Cancelled(result) => cancelled(state, result, &mut fx),
        Event::AvailabilityLoaded(availability) => availability_loaded(state, availability),
        Event::Committed(result) => committed(state, result, &mut fx),
        Event::Printed(result) => printed(state, result, now),
    }
    fx
}

/// The applicant did something: the inactivity clock starts again and the warning goes.
pub(super) fn touched(state: &mut Kiosk, now: DateTime<Utc>) {
    state.last_input = now;
    state.warned_at = None;
}

/// One part of the kiosk set or lifted its hold. A session under way finishes; an idle
/// kiosk shows the notice.
pub(super) fn service_changed(state: &mut Kiosk, source: HoldSource, reason: Option<HoldReason>) {
    match reason {
        Some(reason) => {
            debug_assert_eq!(reason.source(), source, "each part sets its own holds");
            state.holds.insert(source, reason);
        }
        None => {
            state.holds.remove(&source);
        }
    }
}

/// The numbers held at the office chosen (and the service's pool, while it answers): on
/// to the calendar, or the problem screen when there are none to offer. A count for
/// another office (chosen, then changed) is late.
pub(super) fn availability_loaded(state: &mut Kiosk, availability: Availability) {
    if state.screen != Screen::LoadingAvailability
        || state.office_id.as_deref() != Some(availability.office_id.as_str())
    {
        return;
    }
    let any = availability
        .slots
        .iter()
        .chain(availability.pool.iter().flatten())
        .any(|s| s.regular > 0 || s.priority > 0);
    state.availability = Some(availability);
    state.screen = if any {
        Screen::Date { refused: None }
    } else {
        Screen::Problem {
            problem: Problem::NoNumbers,
            way_out: if state.rescheduling().is_some() {
                WayOut::MyBooking
            } else {
                WayOut::Office
            },
        }
    };
}

/// The store's answer to the booking: print its tickets, or say why it was not made.
pub(super) fn committed(
    state: &mut Kiosk,
    result: Result<Booked, CommitFailure>,
    fx: &mut Vec<Effect>,
) {
    if state.screen != Screen::Committing {
        return;
    }
    match result {
        Ok(booked) => {
            fx.push(Effect::PrintTickets {
                group_id: booked.group_id.clone(),
            });
            state.booked = Some(booked);
            state.screen = Screen::Printing;
        }
        Err(failure) => {
            fx.push(Effect::Audit {
                event: "commit_failed",
                detail: format!("{failure:?}"),
            });
            let way_out = match failure {
                CommitFailure::NumbersGone => WayOut::Session,
                CommitFailure::StorageFailed => WayOut::Idle,
            };
            state.screen = Screen::Problem {
                problem: Problem::Commit { failure },
                way_out,
            };
        }
    }
}

/// The printer's answer. The done screen's linger counts from here.
pub(super) fn printed(state: &mut Kiosk, result: Result<(), PrintFailure>, now: DateTime<Utc>) {
    if state.screen != Screen::Printing {
        return;
    }
    state.last_input = now;
    if let Some(ChangeInProgress::Reprint(index)) = state.change {
        return reprinted(state, index, result);
    }
    state.unprinted = result.err();
    state.screen = match result {
        Ok(()) => Screen::Done,
        Err(failure) => Screen::Problem {
            problem: Problem::Print { failure },
            way_out: WayOut::Done,
        },
    };
}

/// How long the screen now may go untouched before the inactivity warning: long while
/// the booking's tickets did not print (the applicant may be fetching an officer).
pub(super) fn quiet_allowed(state: &Kiosk) -> TimeDelta {
    if state.unprinted.is_some() {
        state.timeouts.unprinted_linger
    } else {
        state.timeouts.warning_after
    }
}

/// Cards are read on the idle screen (it starts a session) and on the card screens.
pub(super) fn card_allowed(state: &Kiosk) -> bool {
    match state.screen {
        Screen::Idle => state.holds.is_empty(),
        Screen::ReadCard { .. } => true,
        _ => false,
    }
}

pub(super) fn tick(state: &mut Kiosk, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    match state.screen {
        // Nothing personal on screen, or the machine is busy on the applicant's behalf.
        Screen::Idle | Screen::Committing | Screen::Printing | Screen::Checking { .. } => {}
        Screen::LoadingAvailability | Screen::AskingNumbers => {}
        Screen::Done if state.unprinted.is_none() => {
            if now - state.last_input >= state.timeouts.done_linger {
                state.wipe();
            }
        }
        _ => match state.warned_at {
            None => {
                if now - state.last_input >= quiet_allowed(state) {
                    state.warned_at = Some(now);
                }
            }
            Some(at) => {
                if now - at >= state.timeouts.reset_after {
                    let step = view::screen_name(&state.screen);
                    state.wipe();
                    fx.push(Effect::Audit {
                        event: "session_timed_out",
                        detail: step.to_string(),
                    });
                }
            }
        },
    }
}
