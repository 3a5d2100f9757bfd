//! "My booking" measured through the whole daemon on a rig (the simulated reader and
//! printer on real pseudo-terminals, the central simulator on loopback):
//!
//! - from the card laid on the reader to the applicant's booking on screen, online (the
//!   kiosk's store and a `POST /v1/bookings/find` round trip) and offline (the store
//!   alone, the service stopped), and of that the part after the applicant's "yes, this
//!   is me" (the lookup itself); medians of several laps;
//! - how many sessions of the booking window a lone applicant can be offered at each of
//!   the simulator's default offices: with the numbers the kiosk holds alone (as before
//!   `GET /v1/availability`), and with the service's pool beside them.
//!
//! Asserts nothing. `cargo bench --bench my_booking`

use std::time::{Duration, Instant};

use apm_kiosk::control::{Client, Command};
use apm_kiosk::domain::{ApplicationType, PassportType};
use apm_kiosk::flow::Intent;
use apm_kiosk::simulate::card_of;
use apm_kiosk::simulate::crowd::{Behaviour, Crowd, Entry, Person};
use apm_kiosk::simulate::rig::{Rig, RigOptions};
use apm_kiosk_sim::reader::ReaderSimHandle;
use serde_json::Value;

const LAPS: usize = 9;
const PATIENCE: Duration = Duration::from_secs(30);

type Res<T> = anyhow::Result<T>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("my_booking: {e:#}");
    }
}

async fn run() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let today = chrono::Utc::now()
        .with_timezone(&apm_kiosk::domain::calendar::Zone::Wib.offset())
        .date_naive();
    let rig = Rig::start(dir.path(), RigOptions::default(), today).await?;
    let Rig {
        config,
        reader,
        central,
        ..
    } = rig;
    let mut local = central.ok_or_else(|| anyhow::anyhow!("the rig's own central service"))?;
    let socket = config.kiosk.control_socket();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(apm_kiosk::app::run(config, async move {
        let _ = stopped.await;
    }));
    let mut client = Client::connect(&socket, PATIENCE).await?;
    wait_until_online(&mut client, true).await?;

    let people = visitors(2);
    sessions_offered(&mut client, &reader, &people[1]).await?;
    book(&mut client, &reader, &people[0]).await?;
    let online = laps(&mut client, &reader, &people[0]).await?;
    local.down().await;
    client.command(Command::SyncNow, PATIENCE).await?;
    wait_until_online(&mut client, false).await?;
    let offline = laps(&mut client, &reader, &people[0]).await?;
    println!(
        "{:<8} {:>22} {:>24}",
        "network", "card to my booking ms", "of which the lookup ms"
    );
    for (what, (whole, lookup)) in [("online", online), ("offline", offline)] {
        println!("{what:<8} {:>22.1} {:>24.1}", ms(whole), ms(lookup));
    }
    let _ = stop.send(());
    let _ = daemon.await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `n` plain single adults of the default crowd.
fn visitors(n: usize) -> Vec<Person> {
    Crowd::new(7, chrono::Utc::now().date_naive())
        .visits(60)
        .into_iter()
        .filter(|v| v.behaviour == Behaviour::Plain && v.members.is_empty())
        .filter_map(|v| match v.lead {
            Entry::Card { person, .. } => Some(person),
            Entry::Child { .. } => None,
        })
        .take(n)
        .collect()
}

async fn status(client: &mut Client) -> Res<Value> {
    Ok(client.command(Command::Status, PATIENCE).await?)
}

/// Until the sync's last round did (or did not) reach the service, with numbers held.
async fn wait_until_online(client: &mut Client, online: bool) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(client).await?;
        let held = s["store"]["held_free"].as_u64().unwrap_or(0) > 0;
        if s["sync"]["online"] == online && held {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the sync never got to online={online}"
        );
        client.command(Command::SyncNow, PATIENCE).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn tap(client: &mut Client, intent: Intent) -> Res<()> {
    client.send(&intent).await?;
    Ok(())
}

/// From idle to the confirmed identity of `person`'s card.
async fn lay_card(client: &mut Client, reader: &ReaderSimHandle, person: &Person) -> Res<()> {
    client.wait_for("idle", PATIENCE).await?;
    tap(client, Intent::Start).await?;
    client.wait_for("read_card", PATIENCE).await?;
    reader.present_card(card_of(person));
    client.wait_for("confirm_identity", PATIENCE).await?;
    reader.remove_card();
    Ok(())
}

/// `person` books alone on the first open day and session.
async fn book(client: &mut Client, reader: &ReaderSimHandle, person: &Person) -> Res<()> {
    to_the_calendar(client, reader, person).await?;
    let office_id = first(&client.view, "offices", "office_id", |_| true)?;
    tap(client, Intent::ChooseOffice { office_id }).await?;
    client.wait_for("date", PATIENCE).await?;
    let date = first(&client.view, "dates", "date", |d| d["status"] == "open")?;
    tap(
        client,
        Intent::ChooseDate {
            date: date.parse()?,
        },
    )
    .await?;
    client.wait_for("session", PATIENCE).await?;
    let session_id = first(&client.view, "sessions", "session_id", |s| {
        s["bookable"] == true
    })?;
    tap(client, Intent::ChooseSession { session_id }).await?;
    client.wait_for("review", PATIENCE).await?;
    tap(client, Intent::ConfirmBooking).await?;
    client.wait_for("done", PATIENCE).await?;
    tap(client, Intent::Finish).await?;
    Ok(())
}

/// A lone applicant from the card to the office screen.
async fn to_the_calendar(
    client: &mut Client,
    reader: &ReaderSimHandle,
    person: &Person,
) -> Res<()> {
    lay_card(client, reader, person).await?;
    tap(client, Intent::ConfirmIdentity).await?;
    client.wait_for("details", PATIENCE).await?;
    tap(
        client,
        Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        },
    )
    .await?;
    tap(
        client,
        Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        },
    )
    .await?;
    tap(client, Intent::ConfirmDetails).await?;
    client.wait_for("members", PATIENCE).await?;
    tap(client, Intent::FinishMembers).await?;
    client.wait_for("office", PATIENCE).await?;
    Ok(())
}

fn first(view: &Value, list: &str, key: &str, keep: impl Fn(&Value) -> bool) -> Res<String> {
    view[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| keep(x))
        .find_map(|x| x[key].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no {list} to choose"))
}

/// Medians over [`LAPS`] of the card laid to "my booking" on screen, and of the
/// confirmation to it.
async fn laps(
    client: &mut Client,
    reader: &ReaderSimHandle,
    person: &Person,
) -> Res<(Duration, Duration)> {
    let (mut whole, mut lookup) = (Vec::new(), Vec::new());
    for _ in 0..LAPS {
        client.wait_for("idle", PATIENCE).await?;
        tap(client, Intent::Start).await?;
        client.wait_for("read_card", PATIENCE).await?;
        let laid = Instant::now();
        reader.present_card(card_of(person));
        client.wait_for("confirm_identity", PATIENCE).await?;
        let read = laid.elapsed();
        reader.remove_card();
        let confirmed = Instant::now();
        tap(client, Intent::ConfirmIdentity).await?;
        client.wait_for("my_booking", PATIENCE).await?;
        let looked_up = confirmed.elapsed();
        whole.push(read + looked_up);
        lookup.push(looked_up);
        tap(client, Intent::Finish).await?;
    }
    Ok((median(whole), median(lookup)))
}

/// For each office: the window's bookable sessions for one applicant, held numbers
/// alone and with the service's pool (a session that asks the service is the pool's).
async fn sessions_offered(
    client: &mut Client,
    reader: &ReaderSimHandle,
    person: &Person,
) -> Res<()> {
    to_the_calendar(client, reader, person).await?;
    let offices: Vec<String> = client.view["offices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["office_id"].as_str().map(str::to_owned))
        .collect();
    println!(
        "{:<8} {:>12} {:>14} {:>18}",
        "office", "open days", "held alone", "held and the pool"
    );
    for office_id in offices {
        tap(
            client,
            Intent::ChooseOffice {
                office_id: office_id.clone(),
            },
        )
        .await?;
        client.wait_for("date", PATIENCE).await?;
        let (days, held, all) = count_sessions(client).await?;
        println!("{office_id:<8} {days:>12} {held:>14} {all:>18}");
        tap(client, Intent::Back).await?;
        client.wait_for("office", PATIENCE).await?;
    }
    tap(client, Intent::Cancel).await?;
    Ok(())
}

/// On the calendar: open days, and bookable sessions held alone and all.
async fn count_sessions(client: &mut Client) -> Res<(usize, usize, usize)> {
    let days: Vec<String> = client.view["dates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["status"] == "open")
        .filter_map(|d| d["date"].as_str().map(str::to_owned))
        .collect();
    let (mut held, mut all) = (0, 0);
    for date in &days {
        tap(
            client,
            Intent::ChooseDate {
                date: date.parse()?,
            },
        )
        .await?;
        client
            .wait_until(
                |v| v["screen"] == "session" && v["booking"]["date"] == date.as_str(),
                "the day's sessions",
                PATIENCE,
            )
            .await?;
        for s in client.view["sessions"].as_array().into_iter().flatten() {
            if s["bookable"] == true {
                all += 1;
                held += usize::from(s["asks_service"] == false);
            }
        }
        tap(client, Intent::Back).await?;
        client.wait_for("date", PATIENCE).await?;
    }
    Ok((days.len(), held, all))
}
