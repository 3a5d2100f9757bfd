//! The booking after it is made: "my booking", where a lead whose NIK already holds
//! bookings sees them (the NIK's own and its group's other members', each on its own) and
//! reprints one, moves one to another day once (up to the day before it), or cancels one;
//! and the numbers a session needs asked of the service when the kiosk holds too few.
//!
//! What may be done to a booking is decided here, from what the kiosk knows: a booking
//! of this kiosk is reprinted and changed offline too (a change waits in the store's
//! queue), one found at the service only while it answers, and none is changed where the
//! service lacks version 1.1. The service's own refusals come back as [`ChangeProblem`]s.

use super::*;

/// The bookings the card's NIK holds: the lead sees them; a member is refused, as one
/// booking per NIK has it (their booking is theirs to change with their own card).
pub(super) fn bookings_found(state: &mut Kiosk, mut found: BookingsFound, fx: &mut Vec<Effect>) {
    let Screen::Checking { purpose } = state.screen else {
        return;
    };
    let first = found.bookings.iter().map(|b| b.date).min();
    let Some(visit_date) = first else {
        return checked(state, Ok(()), fx);
    };
    if purpose != Purpose::Lead {
        return checked(state, Err(RuleViolation::ActiveBooking { visit_date }), fx);
    }
    // A booking found at the service carries no name: the card's is the owner's.
    let name = state.pending.take().and_then(|p| p.applicant.name);
    for b in found
        .bookings
        .iter_mut()
        .filter(|b| b.own && b.name.is_none())
    {
        b.name.clone_from(&name);
    }
    fx.push(Effect::Beep { ok: true });
    fx.push(Effect::Audit {
        event: "my_booking_opened",
        detail: format!(
            "{} booking(s), online {}",
            found.bookings.len(),
            found.online
        ),
    });
    state.found = Some(found);
    state.screen = Screen::my_booking();
}

/// "My booking": reprint, reschedule or cancel (asked, then confirmed) one of the
/// bookings, or leave.
pub(super) fn my_booking_intent(
    state: &mut Kiosk,
    cancelling: Option<usize>,
    intent: Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    if let Some(index) = cancelling {
        match intent {
            Intent::ConfirmCancelBooking => confirm_cancel(state, index, now, fx),
            Intent::Dismiss => state.screen = Screen::my_booking(),
            _ => {}
        }
        return;
    }
    let booking = |i: usize| {
        state
            .found
            .as_ref()
            .and_then(|f| f.bookings.get(i))
            .cloned()
    };
    match intent {
        Intent::ReprintBooking { index } => {
            if let Some(b) = booking(index).filter(can_reprint) {
                state.change = Some(ChangeInProgress::Reprint(index));
                state.change_done = None;
                fx.push(Effect::PrintBooking {
                    booking: b,
                    copy: true,
                });
                state.screen = Screen::Printing;
            }
        }
        Intent::RescheduleBooking { index } => {
            if let Some(b) = booking(index).filter(|b| reschedule_block(state, b, now).is_none()) {
                start_reschedule(state, index, b, fx);
            }
        }
        Intent::CancelBooking { index }
            if booking(index).is_some_and(|b| cancel_block(state, &b).is_none()) =>
        {
            state.change_done = None;
            state.screen = Screen::MyBooking {
                cancelling: Some(index),
            };
        }
        Intent::Finish | Intent::Back => state.wipe(),
        _ => {}
    }
}

/// A booking of this kiosk prints from its store; one found at the service, from the
/// ticket the service returned.
pub fn can_reprint(b: &ExistingBooking) -> bool {
    b.here || b.ticket.is_some()
}

/// Why the booking cannot be moved now, or none: once only, no later than the day before
/// its date at its office, at an office this kiosk books for, and, for a booking found
/// at the service, while it answers.
pub fn reschedule_block(
    state: &Kiosk,
    b: &ExistingBooking,
    now: DateTime<Utc>,
) -> Option<ChangeProblem> {
    let Some(office) = state.offices.iter().find(|o| o.id == b.office_id) else {
        return Some(ChangeProblem::OtherOffice);
    };
    if b.reschedules_left == 0 {
        Some(ChangeProblem::RescheduleUsed)
    } else if office.today(now) >= b.date {
        Some(ChangeProblem::TooLate)
    } else {
        cancel_block(state, b)
    }
}

/// Why the booking cannot be cancelled now, or none: one found at the service is
/// cancelled while it answers, and none where the service lacks the feature.
pub fn cancel_block(state: &Kiosk, b: &ExistingBooking) -> Option<ChangeProblem> {
    let found = state.found.as_ref()?;
    if found.service_lacks_changes {
        Some(ChangeProblem::Unsupported)
    } else if !b.here && !found.online {
        Some(ChangeProblem::NeedsNetwork)
    } else {
        None
    }
}

/// The date and session screens, for the booking's own office and kind.
fn start_reschedule(state: &mut Kiosk, index: usize, b: ExistingBooking, fx: &mut Vec<Effect>) {
    state.change = Some(ChangeInProgress::Reschedule(index));
    state.change_done = None;
    fx.push(Effect::LoadAvailability {
        office_id: b.office_id.clone(),
    });
    state.office_id = Some(b.office_id);
    state.availability = None;
    state.date = None;
    state.session_id = None;
    state.screen = Screen::LoadingAvailability;
}

/// Back to the list, forgetting any day chosen for a move.
pub(super) fn back_to_my_booking(state: &mut Kiosk) {
    if state.found.is_none() {
        return state.wipe();
    }
    state.change = None;
    state.office_id = None;
    state.availability = None;
    state.date = None;
    state.session_id = None;
    state.booked = None;
    state.unprinted = None;
    state.screen = Screen::my_booking();
}

/// The move confirmed on the review: the shell stores it and queues it for the service.
pub(super) fn confirm_reschedule(state: &mut Kiosk, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let (Some(booking), Some(date), Some(session_id)) = (
        state.rescheduling().cloned(),
        state.date,
        state.session_id.clone(),
    ) else {
        return;
    };
    fx.push(Effect::RescheduleBooking {
        booking,
        date,
        session_id,
        created_at: now,
    });
    state.screen = Screen::Committing;
}

fn confirm_cancel(state: &mut Kiosk, index: usize, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let Some(booking) = state
        .found
        .as_ref()
        .and_then(|f| f.bookings.get(index))
        .cloned()
    else {
        return state.screen = Screen::my_booking();
    };
    state.change = Some(ChangeInProgress::Cancel(index));
    state.change_done = None;
    fx.push(Effect::CancelBooking {
        booking,
        created_at: now,
    });
    state.screen = Screen::Committing;
}

/// The booking on its new day: its new ticket prints; or why it was not moved.
pub(super) fn rescheduled(
    state: &mut Kiosk,
    result: Result<ExistingBooking, ChangeProblem>,
    fx: &mut Vec<Effect>,
) {
    let (Screen::Committing, Some(ChangeInProgress::Reschedule(index))) =
        (&state.screen, state.change)
    else {
        return;
    };
    match result {
        Ok(moved) => {
            fx.push(Effect::Audit {
                event: "booking_rescheduled",
                detail: format!("{} {}", moved.date, moved.session_id),
            });
            state.booked = Some(booked_of(&moved));
            state.change_done = Some((ChangeKind::Rescheduled, moved.queue_number));
            if let Some(slot) = state.found.as_mut().and_then(|f| f.bookings.get_mut(index)) {
                *slot = moved;
            }
            if let Some(print) = print_again(state) {
                fx.push(print);
            }
            state.screen = Screen::Printing;
        }
        Err(problem) => change_failed(state, problem, fx),
    }
}

/// The booking cancelled: off the list, the page saying which number was freed.
pub(super) fn cancelled(
    state: &mut Kiosk,
    result: Result<(), ChangeProblem>,
    fx: &mut Vec<Effect>,
) {
    let (Screen::Committing, Some(ChangeInProgress::Cancel(index))) = (&state.screen, state.change)
    else {
        return;
    };
    match result {
        Ok(()) => {
            let gone = state
                .found
                .as_mut()
                .filter(|f| index < f.bookings.len())
                .map(|f| f.bookings.remove(index));
            fx.push(Effect::Audit {
                event: "booking_cancelled",
                detail: gone.as_ref().map_or(String::new(), |b| b.date.to_string()),
            });
            state.change = None;
            state.change_done = gone.map(|b| (ChangeKind::Cancelled, b.queue_number));
            state.screen = Screen::my_booking();
        }
        Err(problem) => change_failed(state, problem, fx),
    }
}

/// A change that did not happen: the problem page, and back to the list (or to the
/// sessions, when the numbers went while the applicant chose).
fn change_failed(state: &mut Kiosk, problem: ChangeProblem, fx: &mut Vec<Effect>) {
    fx.push(Effect::Audit {
        event: "booking_change_failed",
        detail: format!("{problem:?}"),
    });
    let way_out = if problem == ChangeProblem::NumbersGone {
        WayOut::Session
    } else {
        state.change = None;
        WayOut::MyBooking
    };
    state.screen = Screen::Problem {
        problem: Problem::Change { reason: problem },
        way_out,
    };
}

/// The done page's booking for a booking moved: its one ticket.
fn booked_of(b: &ExistingBooking) -> Booked {
    Booked {
        group_id: b
            .group_id
            .clone()
            .unwrap_or_else(|| b.registration_id.clone()),
        booking_code: b.booking_code.clone().unwrap_or_default(),
        office_id: b.office_id.clone(),
        date: b.date,
        session_id: b.session_id.clone(),
        tickets: vec![BookedTicket {
            registration_id: b.registration_id.clone(),
            queue_number: b.queue_number,
            masked_nik: b.masked_nik.clone(),
            name: b.name.clone(),
        }],
    }
}

/// What prints the tickets of the page now, again: a reprint's copy, a moved booking's
/// new ticket (from the store for this kiosk's, from memory for one found at the
/// service), or a new booking's group.
pub(super) fn print_again(state: &Kiosk) -> Option<Effect> {
    let booking = |i: usize| state.found.as_ref()?.bookings.get(i).cloned();
    match state.change {
        Some(ChangeInProgress::Reprint(i)) => Some(Effect::PrintBooking {
            booking: booking(i)?,
            copy: true,
        }),
        Some(ChangeInProgress::Reschedule(i)) => Some(Effect::PrintBooking {
            booking: booking(i)?,
            copy: false,
        }),
        _ => state.booked.as_ref().map(|b| Effect::PrintTickets {
            group_id: b.group_id.clone(),
        }),
    }
}

/// The printer's answer to a reprint: back to the list, saying so; or the problem page,
/// which can retry and whose way out is the list (the booking and its first ticket stand).
pub(super) fn reprinted(state: &mut Kiosk, index: usize, result: Result<(), PrintFailure>) {
    let number = state
        .found
        .as_ref()
        .and_then(|f| f.bookings.get(index))
        .map(|b| b.queue_number);
    state.screen = match result {
        Ok(()) => {
            state.change = None;
            state.change_done = number.map(|n| (ChangeKind::Reprinted, n));
            Screen::my_booking()
        }
        Err(failure) => Screen::Problem {
            problem: Problem::Print { failure },
            way_out: WayOut::MyBooking,
        },
    };
}

/// The numbers the session chosen still needs from the service, as an effect; none when
/// the kiosk holds enough.
pub(super) fn ask_for_numbers(state: &Kiosk) -> Option<Effect> {
    let (office_id, date, session_id) = (
        state.office_id.clone()?,
        state.date?,
        state.session_id.clone()?,
    );
    let held = state.availability.as_ref()?.held(date, &session_id);
    let need = state.needs();
    let (regular, priority) = (need.0.saturating_sub(held.0), need.1.saturating_sub(held.1));
    (regular > 0 || priority > 0).then_some(Effect::RequestNumbers {
        office_id,
        date,
        session_id,
        regular,
        priority,
    })
}

/// The service's answer to the numbers asked for: on to the review once the kiosk holds
/// them; else back to the sessions, saying why (a session that was denied is shown full
/// until the office is counted again).
pub(super) fn numbers_granted(state: &mut Kiosk, result: Result<Availability, NumbersFailure>) {
    if state.screen != Screen::AskingNumbers {
        return;
    }
    let (Some(date), Some(session_id)) = (state.date, state.session_id.clone()) else {
        return;
    };
    let failure = match result {
        Ok(avail) if state.office_id.as_deref() == Some(avail.office_id.as_str()) => {
            let enough = covers(avail.held(date, &session_id), state.needs());
            state.availability = Some(avail);
            if enough {
                state.screen = Screen::Review;
                return;
            }
            NumbersFailure::Denied
        }
        Ok(_) => NumbersFailure::Denied,
        Err(failure) => failure,
    };
    if failure == NumbersFailure::Denied {
        empty_pool(state, date, &session_id);
    }
    state.session_id = None;
    state.screen = Screen::Session {
        refused: Some(session_id),
        denied: Some(failure),
    };
}

/// The service said no to a session its snapshot had room in: it has none now.
fn empty_pool(state: &mut Kiosk, date: NaiveDate, session_id: &str) {
    let pool = state.availability.as_mut().and_then(|a| a.pool.as_mut());
    for slot in pool.into_iter().flatten() {
        if slot.date == date && slot.session_id == session_id {
            (slot.regular, slot.priority) = (0, 0);
        }
    }
}
