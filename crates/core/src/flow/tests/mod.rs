//! The flow's paths, driven event by event with a fixed clock; the booking after it is
//! made in `changes`.

mod changes;

use chrono::TimeZone;

use super::view::{DayState, view};
use super::*;

/// Monday 23 November 2026, 09:00 WIB.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("valid time")
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
}

fn krm() -> Office {
    crate::domain::calendar::example_office()
}

/// Siti Aminah, born 17 August 1990 (day 57 = 17 + 40: a woman).
fn siti() -> CardFields {
    CardFields {
        nik: "2102015708900003".into(),
        name: "SITI AMINAH".into(),
        birth_place: Some("KARIMUN".into()),
        birth_date: "1990-08-17".into(),
        sex: "P".into(),
        address: Some("JL. NUSANTARA NO. 12".into()),
    }
}

/// Budi Santoso, born 3 March 1988.
fn budi() -> CardFields {
    CardFields {
        nik: "2102010303880005".into(),
        name: "BUDI SANTOSO".into(),
        birth_place: Some("KARIMUN".into()),
        birth_date: "1988-03-03".into(),
        sex: "L".into(),
        address: Some("JL. NUSANTARA NO. 12".into()),
    }
}

/// A girl born 5 June 2022 (day 45): under 5, so priority.
const CHILD_NIK: &str = "2102014506220002";
const KK: &str = "2102011203150007";

struct Run {
    k: Kiosk,
    now: DateTime<Utc>,
    fx: Vec<Effect>,
}

impl Run {
    fn new() -> Run {
        let mut k = Kiosk::new(Language::Id, Timeouts::default(), t0());
        step(&mut k, Event::CatalogChanged(vec![krm()]), t0());
        Run {
            k,
            now: t0(),
            fx: Vec::new(),
        }
    }

    fn ev(&mut self, e: Event) -> &mut Run {
        self.now += TimeDelta::seconds(2);
        self.fx = step(&mut self.k, e, self.now);
        self
    }

    fn tap(&mut self, i: Intent) -> &mut Run {
        self.ev(Event::Intent(i))
    }

    fn screen(&self) -> &'static str {
        view::screen_name(&self.k.screen)
    }

    fn has(&self, pred: impl Fn(&Effect) -> bool) -> bool {
        self.fx.iter().any(pred)
    }

    /// Card read, confirmed, checked, details chosen: the applicant joins the group.
    fn add_by_card(&mut self, card: CardFields) -> &mut Run {
        self.ev(Event::CardRead(card));
        assert_eq!(self.screen(), "confirm_identity");
        self.tap(Intent::ConfirmIdentity);
        assert!(self.has(|e| matches!(e, Effect::CheckApplicant { .. })));
        self.ev(Event::Checked(Ok(())));
        assert_eq!(self.screen(), "details");
        self.tap(Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        })
        .tap(Intent::ChoosePassportType {
            passport_type: PassportType::Electronic,
        })
        .tap(Intent::ConfirmDetails);
        assert_eq!(self.screen(), "members");
        self
    }

    /// Siti alone, booked on the one number of 24 November S1: confirmed, not yet stored.
    fn confirm_one_at_s1(&mut self) -> &mut Run {
        self.tap(Intent::Start).add_by_card(siti());
        self.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 1, 0)]);
        self.tap(Intent::ChooseDate {
            date: d(2026, 11, 24),
        })
        .tap(Intent::ChooseSession {
            session_id: "S1".into(),
        })
        .tap(Intent::ConfirmBooking)
    }

    /// On to the calendar offline: the kiosk's held numbers alone.
    fn on_to_dates(&mut self, slots: Vec<SlotCount>) -> &mut Run {
        self.on_to_dates_with(slots, None)
    }

    /// On to the calendar with the service's pool as it answered (`None`: offline).
    fn on_to_dates_with(
        &mut self,
        slots: Vec<SlotCount>,
        pool: Option<Vec<SlotCount>>,
    ) -> &mut Run {
        self.tap(Intent::FinishMembers).tap(Intent::ChooseOffice {
            office_id: "KRM".into(),
        });
        assert!(
            self.has(|e| matches!(e, Effect::LoadAvailability { office_id } if office_id == "KRM"))
        );
        self.ev(Event::AvailabilityLoaded(Availability {
            office_id: "KRM".into(),
            slots,
            pool,
        }))
    }
}

fn slot(date: NaiveDate, session: &str, regular: u32, priority: u32) -> SlotCount {
    SlotCount {
        date,
        session_id: session.into(),
        regular,
        priority,
    }
}

#[test]
fn one_applicant_books_prints_and_leaves_nothing_behind() {
    let mut r = Run::new();
    r.tap(Intent::Start);
    assert_eq!(r.screen(), "read_card");
    r.add_by_card(siti());
    r.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 5, 2)]);
    assert_eq!(r.screen(), "date");
    let v = view(&r.k, r.now);
    let tue = v
        .dates
        .iter()
        .find(|x| x.date == d(2026, 11, 24))
        .expect("tuesday listed");
    assert_eq!(tue.status, DayState::Open);
    assert_eq!(tue.label, "Selasa, 24 November 2026");
    let wed = v
        .dates
        .iter()
        .find(|x| x.date == d(2026, 11, 25))
        .expect("wednesday listed");
    assert_eq!(
        wed.status,
        DayState::NeedsNetwork,
        "no numbers held for Wednesday, and offline: not full"
    );
    let sat = v
        .dates
        .iter()
        .find(|x| x.date == d(2026, 11, 28))
        .expect("saturday listed");
    assert_eq!(sat.status, DayState::Closed);

    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 24),
    });
    assert_eq!(r.screen(), "session");
    r.tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    assert_eq!(r.screen(), "review");
    r.tap(Intent::ConfirmBooking);
    let Some(Effect::CommitBooking(req)) = r.fx.first().cloned() else {
        panic!("commit expected, got {:?}", r.fx);
    };
    assert_eq!(req.members.len(), 1);
    assert_eq!(req.members[0].kind(), QueueKind::Regular);
    assert_eq!(
        (req.office_id.as_str(), req.date, req.session_id.as_str()),
        ("KRM", d(2026, 11, 24), "S1")
    );

    let booked = Booked {
        group_id: "g1".into(),
        booking_code: "7F3C-21A9".into(),
        office_id: "KRM".into(),
        date: d(2026, 11, 24),
        session_id: "S1".into(),
        tickets: vec![BookedTicket {
            registration_id: "r1".into(),
            queue_number: QueueNumber {
                kind: QueueKind::Regular,
                number: 21,
            },
            masked_nik: "2102********0003".into(),
            name: Some("SITI AMINAH".into()),
        }],
    };
    r.ev(Event::Committed(Ok(booked)));
    assert_eq!(r.screen(), "printing");
    assert!(r.has(|e| matches!(e, Effect::PrintTickets { group_id } if group_id == "g1")));
    r.ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "done");
    let v = view(&r.k, r.now);
    assert_eq!(
        v.booking
            .as_ref()
            .map(|b| b.tickets[0].queue_number.as_str()),
        Some("R-021")
    );
    r.tap(Intent::Finish);
    assert_eq!(r.screen(), "idle");
    assert!(r.k.members.is_empty() && r.k.pending.is_none() && r.k.booked.is_none());
    let idle = serde_json::to_string(&view(&r.k, r.now)).expect("view serialises");
    assert!(
        !idle.contains("SITI"),
        "idle screen shows nothing of the last applicant"
    );
}

#[test]
fn a_family_of_three_with_a_child_entered_by_nik() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddMemberByCard);
    assert_eq!(r.screen(), "read_card");
    r.add_by_card(budi());
    r.tap(Intent::AddChild);
    assert_eq!(r.screen(), "manual_nik");
    r.tap(Intent::EnterNik {
        nik: CHILD_NIK.into(),
        kk: None,
    });
    assert_eq!(
        r.k.screen,
        Screen::ManualNik {
            purpose: Purpose::Child,
            problem: Some(EntryProblem::KkRequired)
        }
    );
    r.tap(Intent::EnterNik {
        nik: CHILD_NIK.into(),
        kk: Some(KK.into()),
    });
    assert_eq!(r.screen(), "confirm_identity");
    r.tap(Intent::ConfirmIdentity).ev(Event::Checked(Ok(())));
    assert_eq!(r.screen(), "details");
    // The lead's choices come as defaults: confirming straight away works.
    r.tap(Intent::ConfirmDetails);
    assert_eq!(r.screen(), "members");
    assert_eq!(r.k.members.len(), 3);
    assert_eq!(r.k.members[2].priority, Some(PriorityReason::ChildUnder5));
    assert_eq!(r.k.members[2].applicant.source, IdentitySource::Manual);
    assert_eq!(needs(&r.k.members), (2, 1));

    // S1 has regular numbers but no priority one: not bookable for this group.
    r.on_to_dates(vec![
        slot(d(2026, 11, 24), "S1", 5, 0),
        slot(d(2026, 11, 24), "S2", 2, 1),
    ]);
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 24),
    });
    let v = view(&r.k, r.now);
    let s1 = v
        .sessions
        .iter()
        .find(|s| s.session_id == "S1")
        .expect("S1 listed");
    assert!(!s1.bookable);
    r.tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    assert_eq!(
        r.k.screen,
        Screen::Session {
            refused: Some("S1".into()),
            denied: None,
        }
    );
    r.tap(Intent::ChooseSession {
        session_id: "S2".into(),
    });
    assert_eq!(r.screen(), "review");
    r.tap(Intent::ConfirmBooking);
    assert!(r.has(|e| matches!(e, Effect::CommitBooking(req) if req.members.len() == 3)));
}

#[test]
fn a_childs_name_can_be_typed_or_left_for_the_officer() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    // A card read leaves no name to type.
    r.tap(Intent::AddChild).tap(Intent::EnterNik {
        nik: CHILD_NIK.into(),
        kk: Some(KK.into()),
    });
    assert!(view(&r.k, r.now).actions.contains(&Action::TypeName));
    r.tap(Intent::TypeName);
    assert_eq!(r.screen(), "name_entry");
    r.tap(Intent::EnterName {
        name: "PUTRI 2".into(),
    });
    let v = view(&r.k, r.now);
    assert_eq!(v.entry_problem, Some(EntryProblem::NameInvalid));
    assert_eq!(v.purpose, Some(Purpose::Child));
    r.tap(Intent::EnterName {
        name: " putri  ayu ".into(),
    });
    assert_eq!(r.screen(), "confirm_identity");
    let v = view(&r.k, r.now);
    let shown = v.applicant.expect("the child is shown");
    assert_eq!(shown.name.as_deref(), Some("PUTRI AYU"));
    assert_eq!(shown.age_priority, Some(PriorityReason::ChildUnder5));
    // Back on the keypad keeps the name; an empty one leaves it to the officer.
    r.tap(Intent::TypeName).tap(Intent::Back);
    assert_eq!(
        view(&r.k, r.now).applicant.and_then(|a| a.name).as_deref(),
        Some("PUTRI AYU")
    );
    r.tap(Intent::ConfirmIdentity)
        .ev(Event::Checked(Ok(())))
        .tap(Intent::ConfirmDetails);
    assert_eq!(r.k.members[1].applicant.name.as_deref(), Some("PUTRI AYU"));
    // A member read from a card is not offered the letter keypad.
    r.tap(Intent::AddMemberByCard).ev(Event::CardRead(budi()));
    assert!(!view(&r.k, r.now).actions.contains(&Action::TypeName));
    r.tap(Intent::TypeName);
    assert_eq!(r.screen(), "confirm_identity");
}

#[test]
fn the_family_list_changes_details_and_asks_before_taking_anyone_out() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddMemberByCard).add_by_card(budi());
    // Back from the list changes the lead's details, and the lead keeps their place.
    r.tap(Intent::Back);
    assert_eq!(
        r.k.screen,
        Screen::Details {
            purpose: Purpose::Lead,
            editing: Some(0)
        }
    );
    r.tap(Intent::ChoosePassportType {
        passport_type: PassportType::Regular48,
    })
    .tap(Intent::ConfirmDetails);
    assert_eq!(r.screen(), "members");
    assert_eq!(r.k.members.len(), 2);
    assert_eq!(r.k.members[0].passport_type, PassportType::Regular48);
    assert_eq!(
        r.k.members[0].applicant.name.as_deref(),
        Some("SITI AMINAH")
    );
    // Changing a member's details and going back changes nothing.
    r.tap(Intent::EditMember { index: 1 })
        .tap(Intent::ChoosePassportType {
            passport_type: PassportType::Regular48,
        });
    r.tap(Intent::Back);
    assert_eq!(r.screen(), "members");
    assert_eq!(r.k.members[1].passport_type, PassportType::Electronic);
    // Taking out asks first; dismiss keeps, yes takes out; the lead cannot be asked.
    r.tap(Intent::RemoveMember { index: 1 });
    let v = view(&r.k, r.now);
    assert_eq!(v.removing, Some(1));
    assert!(v.actions.contains(&Action::ConfirmRemoveMember));
    assert!(!v.actions.contains(&Action::FinishMembers));
    r.tap(Intent::FinishMembers).tap(Intent::Dismiss);
    assert_eq!((r.screen(), r.k.members.len()), ("members", 2));
    r.tap(Intent::RemoveMember { index: 1 })
        .tap(Intent::ConfirmRemoveMember);
    assert_eq!((r.screen(), r.k.members.len()), ("members", 1));
    r.tap(Intent::RemoveMember { index: 0 });
    assert_eq!(view(&r.k, r.now).removing, None);
}

#[test]
fn cancel_from_every_screen_wipes_the_session() {
    // Drive to each screen in turn, cancel there, and check nothing is left.
    for stop_at in 0..9 {
        let mut r = Run::new();
        r.tap(Intent::Start);
        type Step = Box<dyn Fn(&mut Run)>;
        let script: Vec<Step> = vec![
            Box::new(|r| {
                r.ev(Event::CardRead(siti()));
            }),
            Box::new(|r| {
                r.tap(Intent::ConfirmIdentity);
            }),
            Box::new(|r| {
                r.ev(Event::Checked(Ok(())));
            }),
            Box::new(|r| {
                r.tap(Intent::ChooseApplicationType {
                    application_type: ApplicationType::Lost,
                })
                .tap(Intent::ChoosePassportType {
                    passport_type: PassportType::Regular48,
                })
                .tap(Intent::ConfirmDetails);
            }),
            Box::new(|r| {
                r.tap(Intent::FinishMembers);
            }),
            Box::new(|r| {
                r.tap(Intent::ChooseOffice {
                    office_id: "KRM".into(),
                });
            }),
            Box::new(|r| {
                r.ev(Event::AvailabilityLoaded(Availability {
                    office_id: "KRM".into(),
                    slots: vec![slot(d(2026, 11, 24), "S3", 3, 1)],
                    pool: None,
                }));
            }),
            Box::new(|r| {
                r.tap(Intent::ChooseDate {
                    date: d(2026, 11, 24),
                });
            }),
            Box::new(|r| {
                r.tap(Intent::ChooseSession {
                    session_id: "S3".into(),
                });
            }),
        ];
        for s in script.iter().take(stop_at) {
            s(&mut r);
        }
        let before = r.screen();
        r.tap(Intent::Cancel);
        assert_eq!(r.screen(), "idle", "cancel from {before}");
        assert!(
            r.has(|e| matches!(
                e,
                Effect::Audit {
                    event: "session_cancelled",
                    ..
                }
            )),
            "{before}"
        );
        assert!(r.k.pending.is_none() && r.k.members.is_empty() && r.k.office_id.is_none());
    }
}

#[test]
fn inactivity_warns_then_wipes_and_a_tap_keeps_the_session() {
    let mut r = Run::new();
    r.tap(Intent::Start).ev(Event::CardRead(siti()));
    let start = r.now;
    let tick = |r: &mut Run, secs: i64| {
        r.fx = step(&mut r.k, Event::Tick, start + TimeDelta::seconds(secs));
    };
    tick(&mut r, 59);
    assert!(r.k.warned_at.is_none());
    tick(&mut r, 60);
    assert!(r.k.warned_at.is_some());
    assert_eq!(
        view(&r.k, start + TimeDelta::seconds(65)).warning_seconds_left,
        Some(15)
    );
    // "I'm still here" clears the warning and restarts the clock.
    r.fx = step(
        &mut r.k,
        Event::Intent(Intent::StillHere),
        start + TimeDelta::seconds(70),
    );
    assert!(r.k.warned_at.is_none());
    assert_eq!(r.screen(), "confirm_identity");
    tick(&mut r, 129);
    assert!(r.k.warned_at.is_none());
    tick(&mut r, 130);
    tick(&mut r, 149);
    assert_eq!(r.screen(), "confirm_identity");
    tick(&mut r, 150);
    assert_eq!(r.screen(), "idle");
    assert!(r.k.pending.is_none());
    assert!(r.has(|e| matches!(e, Effect::Audit { event: "session_timed_out", detail } if detail == "confirm_identity")));
}

#[test]
fn no_timeout_while_the_kiosk_itself_is_working() {
    let mut r = Run::new();
    r.confirm_one_at_s1();
    let later = r.now + TimeDelta::seconds(600);
    step(&mut r.k, Event::Tick, later);
    assert_eq!(r.screen(), "committing");
}

#[test]
fn done_screen_returns_to_idle_by_itself() {
    let mut r = Run::new();
    r.k.screen = Screen::Done;
    r.k.last_input = r.now;
    step(&mut r.k, Event::Tick, r.now + TimeDelta::seconds(19));
    assert_eq!(r.screen(), "done");
    step(&mut r.k, Event::Tick, r.now + TimeDelta::seconds(20));
    assert_eq!(r.screen(), "idle");
}

#[test]
fn repeated_card_failures_offer_the_keypad_and_mark_the_entry_manual() {
    let mut r = Run::new();
    r.tap(Intent::Start);
    r.tap(Intent::ManualEntry);
    assert_eq!(
        r.screen(),
        "read_card",
        "no keypad before the card has failed"
    );
    for (i, problem) in [
        CardProblem::NotStill,
        CardProblem::ChipRejected,
        CardProblem::ReadFailed,
    ]
    .into_iter()
    .enumerate()
    {
        r.ev(Event::CardFailed(problem));
        assert_eq!(
            r.k.screen,
            Screen::ReadCard {
                purpose: Purpose::Lead,
                problem: Some(problem)
            }
        );
        assert!(r.has(|e| *e == Effect::Beep { ok: false }));
        let manual = view(&r.k, r.now).actions.contains(&Action::ManualEntry);
        assert_eq!(
            manual,
            i == 2,
            "keypad offered only after {CARD_FAILURES_BEFORE_MANUAL} failures"
        );
    }
    r.tap(Intent::ManualEntry);
    assert_eq!(r.screen(), "manual_nik");
    r.tap(Intent::EnterNik {
        nik: "2102015708900003".into(),
        kk: None,
    });
    assert_eq!(r.screen(), "confirm_identity");
    assert_eq!(
        r.k.pending.as_ref().map(|p| p.applicant.source),
        Some(IdentitySource::Manual)
    );
}

#[test]
fn keypad_entries_are_checked_with_a_reason() {
    let cases = [
        ("12345", NumberCheck::WrongLength),
        ("2102015708900000", NumberCheck::SerialZero),
        ("9902015708900003", NumberCheck::UnknownProvince),
        ("2102013104900003", NumberCheck::NotADate),
    ];
    for (nik, code) in cases {
        let mut r = Run::new();
        r.k.screen = Screen::ManualNik {
            purpose: Purpose::Lead,
            problem: None,
        };
        r.tap(Intent::EnterNik {
            nik: nik.into(),
            kk: None,
        });
        assert_eq!(
            r.k.screen,
            Screen::ManualNik {
                purpose: Purpose::Lead,
                problem: Some(EntryProblem::NikInvalid(code))
            },
            "{nik}"
        );
    }
}

#[test]
fn a_card_whose_nik_disagrees_with_its_fields_is_refused() {
    let cases = [
        ("1990-08-18", "P"), // birth date differs
        ("1990-08-17", "L"), // sex differs
        ("not a date", "P"),
    ];
    for (birth, sex) in cases {
        let mut r = Run::new();
        r.tap(Intent::Start);
        let mut card = siti();
        card.birth_date = birth.into();
        card.sex = sex.into();
        r.ev(Event::CardRead(card));
        assert_eq!(
            r.k.screen,
            Screen::Problem {
                problem: Problem::IdentityMismatch,
                way_out: WayOut::Idle
            },
            "{birth} {sex}"
        );
        assert!(r.k.pending.is_none());
        r.tap(Intent::Dismiss);
        assert_eq!(r.screen(), "idle");
    }
}

#[test]
fn a_refused_member_leaves_the_rest_of_the_group() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddMemberByCard)
        .ev(Event::CardRead(budi()))
        .tap(Intent::ConfirmIdentity);
    r.ev(Event::Checked(Err(RuleViolation::ActiveBooking {
        visit_date: d(2026, 11, 30),
    })));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Refused {
                rule: Refusal::ActiveBooking,
                until: None,
            },
            way_out: WayOut::Members
        }
    );
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "members");
    assert_eq!(r.k.members.len(), 1);

    // The same person twice in one group.
    r.tap(Intent::AddMemberByCard)
        .ev(Event::CardRead(siti()))
        .tap(Intent::ConfirmIdentity);
    r.ev(Event::Checked(Ok(())));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::AlreadyInGroup,
            way_out: WayOut::Members
        }
    );
}

#[test]
fn a_refused_lead_ends_the_session() {
    let mut r = Run::new();
    r.tap(Intent::Start)
        .ev(Event::CardRead(siti()))
        .tap(Intent::ConfirmIdentity);
    r.ev(Event::Checked(Err(RuleViolation::Cooldown {
        until: d(2026, 12, 10),
    })));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Refused {
                rule: Refusal::Cooldown,
                until: Some(d(2026, 12, 10)),
            },
            way_out: WayOut::Idle
        }
    );
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "idle");
}

#[test]
fn a_group_stops_at_five() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    for i in 1..5u32 {
        // Children of the same KK, born on different days of 2015.
        let nik = format!("21020101{:02}15000{}", i, i);
        r.tap(Intent::AddChild).tap(Intent::EnterNik {
            nik,
            kk: Some(KK.into()),
        });
        assert_eq!(r.screen(), "confirm_identity", "child {i}");
        r.tap(Intent::ConfirmIdentity)
            .ev(Event::Checked(Ok(())))
            .tap(Intent::ConfirmDetails);
        assert_eq!(r.screen(), "members");
    }
    assert_eq!(r.k.members.len(), 5);
    assert!(!view(&r.k, r.now).actions.contains(&Action::AddChild));
    r.tap(Intent::AddChild);
    assert_eq!(r.screen(), "members");
}

#[test]
fn a_day_without_numbers_is_full_and_cannot_be_chosen() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 1, 0)]);
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 25),
    });
    assert_eq!(
        r.k.screen,
        Screen::Date {
            refused: Some(d(2026, 11, 25))
        }
    );
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 28),
    }); // Saturday
    assert_eq!(
        r.k.screen,
        Screen::Date {
            refused: Some(d(2026, 11, 28))
        }
    );
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 24),
    });
    assert_eq!(r.screen(), "session");
}

#[test]
fn an_office_where_the_kiosk_holds_nothing_says_so() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.on_to_dates(Vec::new());
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::NoNumbers,
            way_out: WayOut::Office
        }
    );
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "office");
}

#[test]
fn numbers_gone_at_commit_sends_the_applicant_back_to_choose() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 1, 0)]);
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 24),
    })
    .tap(Intent::ChooseSession {
        session_id: "S1".into(),
    })
    .tap(Intent::ConfirmBooking)
    .ev(Event::Committed(Err(CommitFailure::NumbersGone)));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Commit {
                failure: CommitFailure::NumbersGone
            },
            way_out: WayOut::Session
        }
    );
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "loading_availability");
    assert!(r.has(|e| matches!(e, Effect::LoadAvailability { .. })));
    assert_eq!(r.k.members.len(), 1, "the group is kept");
}

#[test]
fn a_failed_print_keeps_the_booking_and_can_be_retried() {
    let mut r = Run::new();
    r.confirm_one_at_s1();
    let booked = Booked {
        group_id: "g1".into(),
        booking_code: "AAAA-BBBB".into(),
        office_id: "KRM".into(),
        date: d(2026, 11, 24),
        session_id: "S1".into(),
        tickets: Vec::new(),
    };
    r.ev(Event::Committed(Ok(booked)));
    r.ev(Event::Printed(Err(PrintFailure::PaperOut)));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Print {
                failure: PrintFailure::PaperOut
            },
            way_out: WayOut::Done
        }
    );
    // Cancel cannot undo a booking: it only leaves, and records no cancellation.
    let mut c = Run {
        k: r.k.clone(),
        now: r.now,
        fx: Vec::new(),
    };
    c.tap(Intent::Cancel);
    assert!(!c.has(|e| matches!(
        e,
        Effect::Audit {
            event: "session_cancelled",
            ..
        }
    )));
    r.tap(Intent::RetryPrint);
    assert_eq!(r.screen(), "printing");
    r.ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "done");
}

/// A booking made, its tickets not printed: on the problem screen.
fn unprinted_booking() -> Run {
    let mut r = Run::new();
    r.confirm_one_at_s1();
    r.ev(Event::Committed(Ok(Booked {
        group_id: "g1".into(),
        booking_code: "AAAA-BBBB".into(),
        office_id: "KRM".into(),
        date: d(2026, 11, 24),
        session_id: "S1".into(),
        tickets: Vec::new(),
    })));
    r.ev(Event::Printed(Err(PrintFailure::PaperOut)));
    r
}

impl Run {
    /// `seconds` of nobody touching the screen, ticked once a second as the shell does.
    fn quiet(&mut self, seconds: i64) -> &mut Run {
        for _ in 0..seconds {
            self.now += TimeDelta::seconds(1);
            self.fx = step(&mut self.k, Event::Tick, self.now);
        }
        self
    }
}

#[test]
fn an_unprinted_booking_stays_on_screen_with_its_countdown_until_the_applicant_leaves() {
    let mut r = unprinted_booking();
    let v = view::view(&r.k, r.now);
    assert_eq!(v.unprinted, Some(PrintFailure::PaperOut));
    assert_eq!(v.stays_seconds, Some(600));
    assert_eq!(
        v.booking.and_then(|b| b.booking_code).as_deref(),
        Some("AAAA-BBBB")
    );
    // Five minutes away fetching an officer: the code is still there, unwarned.
    r.quiet(300);
    assert_eq!(r.screen(), "problem");
    let v = view::view(&r.k, r.now);
    assert_eq!((v.warning_seconds_left, v.stays_seconds), (None, Some(300)));
    // On without a ticket: the done page says it did not print and does not vanish
    // after its usual 20 s.
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "done");
    r.quiet(120);
    let v = view::view(&r.k, r.now);
    assert_eq!(r.screen(), "done");
    assert_eq!(v.unprinted, Some(PrintFailure::PaperOut));
    assert_eq!(v.stays_seconds, Some(480));
    // Ten minutes untouched: the usual warning, then the wipe.
    r.quiet(480);
    assert!(view::view(&r.k, r.now).warning_seconds_left.is_some());
    r.quiet(20);
    assert_eq!(r.screen(), "idle");
    assert_eq!(view::view(&r.k, r.now).unprinted, None);
}

#[test]
fn a_retry_that_prints_ends_the_long_stay_and_the_done_page_counts_down() {
    let mut r = unprinted_booking();
    r.tap(Intent::RetryPrint).ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "done");
    let v = view::view(&r.k, r.now);
    assert_eq!((v.unprinted, v.stays_seconds), (None, Some(20)));
    r.quiet(5);
    assert_eq!(view::view(&r.k, r.now).stays_seconds, Some(15));
    r.quiet(15);
    assert_eq!(r.screen(), "idle");
}

#[test]
fn out_of_service_takes_no_new_session_until_every_hold_is_lifted() {
    let mut r = Run::new();
    let hold = |source, reason| Event::ServiceChanged { source, reason };
    r.ev(hold(
        HoldSource::Technician,
        Some(HoldReason::Technician(TechnicianReason::PrinterFault)),
    ));
    r.ev(hold(
        HoldSource::Sync,
        Some(HoldReason::Sync(Guardrail::SyncOverdue)),
    ));
    r.tap(Intent::Start);
    assert_eq!(r.screen(), "idle");
    r.ev(Event::CardRead(siti()));
    assert_eq!(r.screen(), "idle");
    let v = view(&r.k, r.now);
    assert!(!v.actions.contains(&Action::Start));
    assert_eq!(
        v.out_of_service.map(HoldReason::code),
        Some("printer_fault"),
        "the technician's reason first"
    );
    // The sync catching up does not undo the technician's hold.
    r.ev(hold(HoldSource::Sync, None));
    r.ev(Event::CardRead(siti()));
    assert_eq!(r.screen(), "idle");
    r.ev(hold(HoldSource::Technician, None));
    r.ev(Event::CardRead(siti()));
    assert_eq!(
        r.screen(),
        "confirm_identity",
        "a card on the idle screen starts a session"
    );
}

#[test]
fn declared_priority_that_does_not_fit_is_dropped() {
    let mut r = Run::new();
    r.tap(Intent::Start)
        .ev(Event::CardRead(budi()))
        .tap(Intent::ConfirmIdentity)
        .ev(Event::Checked(Ok(())));
    r.tap(Intent::ChooseApplicationType {
        application_type: ApplicationType::New,
    })
    .tap(Intent::ChoosePassportType {
        passport_type: PassportType::Regular48,
    })
    .tap(Intent::DeclarePriority {
        reason: Some(PriorityReason::Pregnant),
    })
    .tap(Intent::ConfirmDetails);
    assert_eq!(r.screen(), "details", "a man cannot declare pregnancy");
    assert!(r.has(|e| matches!(
        e,
        Effect::Audit {
            event: "priority_refused",
            ..
        }
    )));
    r.tap(Intent::DeclarePriority {
        reason: Some(PriorityReason::Disabled),
    })
    .tap(Intent::ConfirmDetails);
    assert_eq!(r.screen(), "members");
    assert_eq!(r.k.members[0].kind(), QueueKind::Priority);
}

#[test]
fn intents_that_do_not_apply_are_ignored() {
    let mut r = Run::new();
    for i in [
        Intent::ConfirmBooking,
        Intent::Finish,
        Intent::Dismiss,
        Intent::ConfirmIdentity,
    ] {
        r.tap(i);
        assert_eq!(r.screen(), "idle");
        assert!(r.fx.is_empty());
    }
    r.tap(Intent::SetLanguage {
        language: Language::En,
    });
    assert_eq!(view(&r.k, r.now).language, Language::En);
}

#[test]
fn hold_reasons_name_their_source_and_keep_their_codes() {
    let cases = [
        (
            HoldReason::Technician(TechnicianReason::Maintenance),
            HoldSource::Technician,
            "maintenance",
        ),
        (
            HoldReason::Technician(TechnicianReason::Relocating),
            HoldSource::Technician,
            "relocating",
        ),
        (
            HoldReason::NotEnrolled,
            HoldSource::Enrollment,
            "not_enrolled",
        ),
        (
            HoldReason::Sync(Guardrail::SyncOverdue),
            HoldSource::Sync,
            "sync_overdue",
        ),
        (
            HoldReason::Sync(Guardrail::SyncBacklog),
            HoldSource::Sync,
            "sync_backlog",
        ),
    ];
    for (reason, source, code) in cases {
        assert_eq!(reason.source(), source, "{reason:?}");
        assert_eq!(reason.code(), code, "{reason:?}");
    }
    // The codes are the serde names, the control channel's words.
    for reason in TechnicianReason::ALL {
        assert_eq!(
            serde_json::to_value(reason).expect("json"),
            serde_json::json!(reason.code())
        );
        assert_eq!(TechnicianReason::from_code(reason.code()), Some(reason));
    }
    assert_eq!(TechnicianReason::from_code("lunch"), None);
    for guardrail in [Guardrail::SyncOverdue, Guardrail::SyncBacklog] {
        assert_eq!(
            serde_json::to_value(guardrail).expect("json"),
            serde_json::json!(guardrail.code())
        );
        assert_eq!(guardrail.to_string(), guardrail.code());
    }
}

#[test]
fn print_failure_codes_are_the_wire_names() {
    use crate::flow::PrintFailure as F;
    for f in [F::PaperOut, F::CoverOpen, F::Offline, F::Failed] {
        assert_eq!(
            serde_json::to_value(f).expect("json"),
            serde_json::json!(f.code())
        );
    }
}

#[test]
fn every_action_is_spelled_as_its_intent() {
    let day = d(2026, 11, 24);
    let intents = [
        Intent::Start,
        Intent::SetLanguage {
            language: Language::En,
        },
        Intent::Cancel,
        Intent::StillHere,
        Intent::Back,
        Intent::ManualEntry,
        Intent::EnterNik {
            nik: String::new(),
            kk: None,
        },
        Intent::ConfirmIdentity,
        Intent::RejectIdentity,
        Intent::TypeName,
        Intent::EnterName {
            name: String::new(),
        },
        Intent::ChooseApplicationType {
            application_type: ApplicationType::New,
        },
        Intent::ChoosePassportType {
            passport_type: PassportType::Regular48,
        },
        Intent::DeclarePriority { reason: None },
        Intent::ConfirmDetails,
        Intent::AddMemberByCard,
        Intent::AddChild,
        Intent::RemoveMember { index: 1 },
        Intent::ConfirmRemoveMember,
        Intent::EditMember { index: 0 },
        Intent::FinishMembers,
        Intent::ChooseOffice {
            office_id: String::new(),
        },
        Intent::ChooseDate { date: day },
        Intent::ChooseSession {
            session_id: String::new(),
        },
        Intent::ConfirmBooking,
        Intent::Dismiss,
        Intent::RetryPrint,
        Intent::Finish,
    ];
    for intent in intents {
        let name = serde_json::to_value(&intent).unwrap_or_default()["intent"].clone();
        let action = serde_json::to_value(intent.action()).unwrap_or_default();
        assert!(name.is_string(), "{intent:?}");
        assert_eq!(action, name, "{intent:?}");
    }
}

#[test]
fn every_hold_reads_back_from_its_code() {
    let holds = TechnicianReason::ALL
        .into_iter()
        .map(HoldReason::Technician)
        .chain([
            HoldReason::NotEnrolled,
            HoldReason::Sync(Guardrail::SyncOverdue),
            HoldReason::Sync(Guardrail::SyncBacklog),
        ]);
    for hold in holds {
        assert_eq!(HoldReason::from_code(hold.code()), Some(hold));
        let wire = serde_json::to_string(&hold).expect("serialises");
        assert_eq!(serde_json::from_str::<HoldReason>(&wire).ok(), Some(hold));
    }
    assert_eq!(HoldReason::from_code("lunch"), None);
}

#[test]
fn a_card_outside_the_ktps_limits_is_data_corrupt_and_a_bidi_override_is_stripped() {
    let mut r = Run::new();
    r.tap(Intent::Start);
    let mut long = siti();
    long.name = "A".repeat(4024);
    r.ev(Event::CardRead(long));
    assert_eq!(
        r.k.screen,
        Screen::ReadCard {
            purpose: Purpose::Lead,
            problem: Some(CardProblem::DataCorrupt)
        }
    );
    assert!(r.k.pending.is_none());
    let mut turned = siti();
    turned.name = "SITI \u{202E}HANIMA".into();
    r.ev(Event::CardRead(turned));
    assert_eq!(r.screen(), "confirm_identity");
    let pending = r.k.pending.as_ref().expect("the applicant");
    assert_eq!(pending.applicant.name.as_deref(), Some("SITI HANIMA"));
}

#[test]
fn the_date_tiles_say_their_weekday_month_and_today_and_the_group_needs() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddChild).tap(Intent::EnterNik {
        nik: CHILD_NIK.into(),
        kk: Some(KK.into()),
    });
    r.tap(Intent::ConfirmIdentity).ev(Event::Checked(Ok(())));
    r.tap(Intent::ConfirmDetails);
    r.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 5, 1)]);
    let v = view(&r.k, r.now);
    let day = |date| v.dates.iter().find(|x| x.date == date).expect("listed");
    // Monday 23 November is today, Tuesday the 24th tomorrow.
    let today = day(d(2026, 11, 23));
    assert_eq!(
        (today.weekday, today.month, today.today, today.tomorrow),
        (1, 11, true, false)
    );
    let tomorrow = day(d(2026, 11, 24));
    assert_eq!(
        (tomorrow.weekday, tomorrow.today, tomorrow.tomorrow),
        (2, false, true)
    );
    // The 23rd of next month is neither, and says its month.
    let next = day(d(2026, 12, 23));
    assert_eq!(
        (next.weekday, next.month, next.today, next.tomorrow),
        (3, 12, false, false)
    );
    assert_eq!(v.dates.iter().filter(|x| x.today).count(), 1);
    assert_eq!(
        v.group_needs,
        Some(view::GroupNeeds {
            regular: 1,
            priority: 1
        })
    );
    let wire = serde_json::to_value(&v).expect("view serialises");
    assert_eq!(
        wire["group_needs"],
        serde_json::json!({"regular": 1, "priority": 1})
    );
    assert_eq!(wire["dates"][0]["today"], serde_json::json!(true));
    assert_eq!(wire["dates"][0]["weekday"], serde_json::json!(1));
    assert_eq!(wire["dates"][0]["month"], serde_json::json!(11));
}

#[test]
fn a_session_the_group_cannot_book_says_why() {
    use view::SessionBlock;
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddChild).tap(Intent::EnterNik {
        nik: CHILD_NIK.into(),
        kk: Some(KK.into()),
    });
    r.tap(Intent::ConfirmIdentity).ev(Event::Checked(Ok(())));
    r.tap(Intent::ConfirmDetails);
    // 10:00 WIB: today's first session (08.00 to 10.00) can no longer be booked.
    r.now = t0() + TimeDelta::hours(1);
    let (today, tomorrow) = (d(2026, 11, 23), d(2026, 11, 24));
    // Online, with nothing more in the service's pool: too few is too few.
    r.on_to_dates_with(
        vec![
            slot(today, "S1", 9, 9),
            slot(today, "S2", 0, 3),
            slot(today, "S3", 1, 1),
            slot(tomorrow, "S1", 5, 0),
            slot(tomorrow, "S2", 2, 1),
        ],
        Some(Vec::new()),
    );
    let blocks = |r: &Run| -> Vec<(bool, Option<SessionBlock>)> {
        let v = view(&r.k, r.now);
        assert_eq!(
            v.group_needs,
            Some(view::GroupNeeds {
                regular: 1,
                priority: 1
            })
        );
        v.sessions
            .iter()
            .map(|s| (s.bookable, s.blocked_by))
            .collect()
    };
    r.tap(Intent::ChooseDate { date: today });
    assert_eq!(r.screen(), "session");
    assert_eq!(
        blocks(&r),
        [
            (false, Some(SessionBlock::BookingClosed)),
            (false, Some(SessionBlock::TooFewRegular)),
            (true, None),
        ]
    );
    let wire = serde_json::to_value(view(&r.k, r.now)).expect("view serialises");
    assert_eq!(
        wire["sessions"][1]["blocked_by"],
        serde_json::json!("too_few_regular")
    );
    assert_eq!(
        wire["sessions"][2].get("blocked_by"),
        None,
        "absent when bookable"
    );
    // Tomorrow's first session has regular numbers but no priority one; its last
    // none at all (regular is named first).
    r.tap(Intent::Back);
    assert_eq!(r.screen(), "date");
    r.tap(Intent::ChooseDate { date: tomorrow });
    assert_eq!(
        blocks(&r),
        [
            (false, Some(SessionBlock::TooFewPriority)),
            (true, None),
            (false, Some(SessionBlock::TooFewRegular)),
        ]
    );
}
