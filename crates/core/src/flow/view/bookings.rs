//! What "my booking" shows: each booking the card's NIK holds, with what can be done to
//! it now and, where something cannot, why (the same [`ChangeProblem`] codes the
//! service's refusals come back as), and the change just made.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{OfficeView, office_view};
use crate::domain::{QueueKind, dates};
use crate::flow::changes::{can_reprint, cancel_block, reschedule_block};
use crate::flow::{Action, ChangeKind, ChangeProblem, ExistingBooking, Kiosk};

/// One booking the applicant holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExistingBookingView {
    /// The office as the kiosk knows it; its id alone for one it does not book for.
    pub office: OfficeView,
    pub date: chrono::NaiveDate,
    pub date_label: String,
    /// The session's name (`Office::session_name`), or its id at an unknown office.
    pub session_label: String,
    pub queue_number: String,
    pub kind: QueueKind,
    pub masked_nik: String,
    pub name: Option<String>,
    /// The card's own booking; else another member of its group.
    pub own: bool,
    /// This kiosk holds its record (else it was found at the service).
    pub here: bool,
    pub reschedules_left: u32,
    pub can_reprint: bool,
    pub can_reschedule: bool,
    pub can_cancel: bool,
    /// Why it cannot be moved now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reschedule_blocked: Option<ChangeProblem>,
    /// Why it cannot be cancelled now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_blocked: Option<ChangeProblem>,
}

/// The change just made: what, and to which number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeDoneView {
    pub kind: ChangeKind,
    pub queue_number: String,
}

/// The bookings on the page, in the order the intents' `index` counts them.
pub(super) fn views(state: &Kiosk, now: DateTime<Utc>) -> Vec<ExistingBookingView> {
    let Some(found) = &state.found else {
        return Vec::new();
    };
    found
        .bookings
        .iter()
        .map(|b| booking_view(state, b, now))
        .collect()
}

pub(super) fn booking_view(
    state: &Kiosk,
    b: &ExistingBooking,
    now: DateTime<Utc>,
) -> ExistingBookingView {
    let lang = state.language;
    let office = state.offices.iter().find(|o| o.id == b.office_id);
    let reschedule_blocked = reschedule_block(state, b, now);
    let cancel_blocked = cancel_block(state, b);
    ExistingBookingView {
        office: office.map_or_else(
            || OfficeView {
                office_id: b.office_id.clone(),
                name: b.office_id.clone(),
                zone: "",
            },
            office_view,
        ),
        date: b.date,
        date_label: dates::long_date(b.date, lang),
        session_label: office
            .and_then(|o| o.session_name(&b.session_id))
            .map_or_else(|| b.session_id.clone(), |n| n.label(lang)),
        queue_number: b.queue_number.to_string(),
        kind: b.queue_number.kind,
        masked_nik: b.masked_nik.clone(),
        name: b.name.clone(),
        own: b.own,
        here: b.here,
        reschedules_left: b.reschedules_left,
        can_reprint: can_reprint(b),
        can_reschedule: reschedule_blocked.is_none(),
        can_cancel: cancel_blocked.is_none(),
        reschedule_blocked,
        cancel_blocked,
    }
}

/// What the page offers: each kind of change some booking allows, and leaving; while a
/// cancel is asked about, yes or no.
pub(super) fn actions(state: &Kiosk, asking: bool, now: DateTime<Utc>, actions: &mut Vec<Action>) {
    actions.push(Action::Cancel);
    if asking {
        actions.extend([Action::ConfirmCancelBooking, Action::Dismiss]);
        return;
    }
    actions.push(Action::Finish);
    let bookings = state.found.iter().flat_map(|f| &f.bookings);
    if bookings.clone().any(can_reprint) {
        actions.push(Action::ReprintBooking);
    }
    if bookings
        .clone()
        .any(|b| reschedule_block(state, b, now).is_none())
    {
        actions.push(Action::RescheduleBooking);
    }
    if bookings.clone().any(|b| cancel_block(state, b).is_none()) {
        actions.push(Action::CancelBooking);
    }
}

/// The change just made, on the page after it (the list, or the done page of a move).
pub(super) fn change_done(state: &Kiosk) -> Option<ChangeDoneView> {
    state.change_done.map(|(kind, number)| ChangeDoneView {
        kind,
        queue_number: number.to_string(),
    })
}
