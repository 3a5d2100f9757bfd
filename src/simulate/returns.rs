//! People who come back to the kiosk for the booking they made: they lay their KTP
//! again, "my booking" shows it, and they print it again, move it to another day, or
//! cancel it. What became of each is counted in the summary's `returns`.

use anyhow::Context as _;
use chrono::NaiveDate;
use serde_json::Value;

use super::crowd::{Entry, Return, Visit};
use super::{PATIENCE, Step, VisitOutcome, dates_with, identify, ids_in, tap, wait_any};
use crate::control::Client;
use crate::flow::Intent;

/// Who comes back: the lead of an earlier plain single visit that booked, each once, and
/// for a move one whose day is after today (the day itself is too late to move). The
/// crowd's own choice stays when none fits.
pub(super) fn pick(
    visit: &mut Visit,
    what: Return,
    singles: &mut Vec<(Entry, NaiveDate)>,
    today: NaiveDate,
) {
    let fits = |(_, day): &(Entry, NaiveDate)| what != Return::Reschedule || *day > today;
    if let Some(i) = singles.iter().position(fits) {
        visit.lead = singles.remove(i).0;
    }
}

/// The visit of someone who comes back to do `what` to their booking; `out.returned`
/// says what came of it.
pub(super) async fn come_back(
    visit: &Visit,
    what: Return,
    client: &mut Client,
    reader: &apm_kiosk_sim::reader::ReaderSimHandle,
    out: &mut VisitOutcome,
) -> anyhow::Result<()> {
    let screen = identify(
        client,
        reader,
        &visit.lead,
        visit.behaviour,
        &mut out.refused,
    )
    .await?;
    if screen == "confirm_identity" {
        tap(client, Intent::ConfirmIdentity).await?;
    }
    let at = wait_any(client, &["my_booking", "details", "problem"]).await?;
    if at != "my_booking" {
        // No booking to come back to (the earlier visit did not book): they leave.
        out.returned = Some("no_booking".into());
        tap(client, Intent::Cancel).await?;
        client.wait_for("idle", PATIENCE).await?;
        return Ok(());
    }
    let booking = client.view["bookings"][0].clone();
    let done = match what {
        Return::Reprint => reprint(client).await?,
        Return::Reschedule => match blocked(&booking, "reschedule_blocked") {
            Some(why) => Some(format!("reschedule_blocked:{why}")),
            None => reschedule(client, &booking).await?,
        },
        Return::Cancel => match blocked(&booking, "cancel_blocked") {
            Some(why) => Some(format!("cancel_blocked:{why}")),
            None => cancel(client).await?,
        },
    };
    out.returned = done;
    if client.screen() != "idle" {
        tap(client, Intent::Cancel).await?;
        client.wait_for("idle", PATIENCE).await?;
    }
    Ok(())
}

/// Why the page says the booking cannot be changed so, if it says so.
fn blocked(booking: &Value, field: &str) -> Option<String> {
    booking[field].as_str().map(str::to_owned)
}

/// What a change's problem page said, taking its way out.
async fn problem(client: &mut Client) -> anyhow::Result<String> {
    let reason = super::refusal(&client.view);
    let why = client.view["problem"]["reason"]
        .as_str()
        .map_or(reason, |r| format!("change:{r}"));
    tap(client, Intent::Cancel).await?;
    Ok(why)
}

async fn reprint(client: &mut Client) -> Step<String> {
    tap(client, Intent::ReprintBooking { index: 0 }).await?;
    client
        .wait_until(
            |v| v["change_done"]["kind"] == "reprinted" || v["screen"] == "problem",
            "the reprint",
            PATIENCE,
        )
        .await?;
    if client.screen() == "problem" {
        return Ok(Some(format!("reprint_failed:{}", problem(client).await?)));
    }
    Ok(Some("reprinted".into()))
}

/// Moves the booking to the first other open day, on a session it can take.
async fn reschedule(client: &mut Client, booking: &Value) -> Step<String> {
    tap(client, Intent::RescheduleBooking { index: 0 }).await?;
    if wait_any(client, &["date", "problem"]).await? == "problem" {
        return Ok(Some(problem(client).await?));
    }
    let current = booking["date"].as_str().unwrap_or_default().to_owned();
    let open = dates_with(&client.view, "open");
    let Some(date) = open.iter().find(|d| **d != current).or(open.first()) else {
        return Ok(Some("reschedule_no_open_day".into()));
    };
    tap(
        client,
        Intent::ChooseDate {
            date: date.parse()?,
        },
    )
    .await?;
    client.wait_for("session", PATIENCE).await?;
    let sessions = ids_in(&client.view, "sessions", "session_id", |s| {
        s["bookable"] == true
    });
    let session_id = sessions
        .first()
        .cloned()
        .context("an open day offers no session to move to")?;
    tap(client, Intent::ChooseSession { session_id }).await?;
    client
        .wait_until(
            |v| v["screen"] == "review" || v["numbers_failure"].is_string(),
            "the move's review",
            PATIENCE,
        )
        .await?;
    if client.screen() != "review" {
        let why = client.view["numbers_failure"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        return Ok(Some(format!("reschedule_numbers_{why}")));
    }
    tap(client, Intent::ConfirmBooking).await?;
    if wait_any(client, &["done", "problem"]).await? == "problem" {
        return Ok(Some(problem(client).await?));
    }
    tap(client, Intent::Finish).await?;
    client.wait_for("idle", PATIENCE).await?;
    Ok(Some("rescheduled".into()))
}

async fn cancel(client: &mut Client) -> Step<String> {
    tap(client, Intent::CancelBooking { index: 0 }).await?;
    client
        .wait_until(|v| v["cancelling"] == 0, "asked to confirm", PATIENCE)
        .await?;
    tap(client, Intent::ConfirmCancelBooking).await?;
    client
        .wait_until(
            |v| v["change_done"]["kind"] == "cancelled" || v["screen"] == "problem",
            "the cancel",
            PATIENCE,
        )
        .await?;
    if client.screen() == "problem" {
        return Ok(Some(problem(client).await?));
    }
    Ok(Some("cancelled".into()))
}
