//! The booking after it is made ("my booking": reprint, reschedule, cancel), and the
//! whole booking window while the service answers.

use super::*;

/// Siti's own booking at this kiosk: R-021 on Tuesday 1 December, session 1.
fn sitis_booking() -> ExistingBooking {
    ExistingBooking {
        registration_id: "r-siti".into(),
        office_id: "KRM".into(),
        date: d(2026, 12, 1),
        session_id: "S1".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Regular,
            number: 21,
        },
        masked_nik: "2102********0003".into(),
        name: Some("SITI AMINAH".into()),
        own: true,
        here: true,
        reschedules_left: 1,
        booking_code: Some("7F3C-21A9".into()),
        group_id: Some("g-1".into()),
        ticket: None,
    }
}

/// Her daughter's booking in the same group: P-003.
fn childs_booking() -> ExistingBooking {
    ExistingBooking {
        registration_id: "r-child".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Priority,
            number: 3,
        },
        masked_nik: "2102********0002".into(),
        name: None,
        own: false,
        ..sitis_booking()
    }
}

fn found(bookings: Vec<ExistingBooking>, online: bool) -> BookingsFound {
    BookingsFound {
        bookings,
        online,
        service_lacks_changes: false,
    }
}

impl Run {
    /// Siti lays her card and confirms: the kiosk finds her bookings.
    fn my_booking(&mut self, found: BookingsFound) -> &mut Run {
        self.tap(Intent::Start).ev(Event::CardRead(siti()));
        self.tap(Intent::ConfirmIdentity);
        self.ev(Event::BookingsFound(found));
        assert_eq!(self.screen(), "my_booking");
        self
    }

    fn view(&self) -> view::View {
        view(&self.k, self.now)
    }
}

#[test]
fn a_lead_who_holds_bookings_sees_them_and_a_member_is_refused() {
    let mut r = Run::new();
    r.my_booking(found(vec![sitis_booking(), childs_booking()], false));
    assert!(r.k.pending.is_none(), "the card's data are not kept");
    let v = r.view();
    assert_eq!(v.bookings.len(), 2);
    assert_eq!(v.bookings[0].queue_number, "R-021");
    assert_eq!(v.bookings[1].queue_number, "P-003");
    assert!(v.bookings.iter().all(|b| b.can_reprint && b.can_cancel));
    assert!(
        v.bookings[0].can_reschedule,
        "offline, a booking of this kiosk"
    );
    for a in [
        Action::ReprintBooking,
        Action::RescheduleBooking,
        Action::CancelBooking,
        Action::Finish,
    ] {
        assert!(v.actions.contains(&a), "{a:?}");
    }
    r.tap(Intent::Finish);
    assert_eq!(r.screen(), "idle");
    assert!(r.k.found.is_none(), "nothing of it stays");

    // Budi as a member of a new group, holding a booking: refused as before.
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(budi());
    r.tap(Intent::AddMemberByCard).ev(Event::CardRead(siti()));
    r.tap(Intent::ConfirmIdentity);
    r.ev(Event::BookingsFound(found(vec![sitis_booking()], true)));
    assert!(matches!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Refused {
                rule: Refusal::ActiveBooking,
                ..
            },
            way_out: WayOut::Members,
        }
    ));
}

#[test]
fn a_reprint_is_a_copy_and_comes_back_to_the_list() {
    let mut r = Run::new();
    r.my_booking(found(vec![sitis_booking()], false));
    r.tap(Intent::ReprintBooking { index: 0 });
    assert!(r.has(|e| matches!(e, Effect::PrintBooking { copy: true, booking } if booking.registration_id == "r-siti")));
    assert_eq!(r.screen(), "printing");
    r.ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "my_booking");
    let done = r.view().change_done.expect("the page says it printed");
    assert_eq!(
        (done.kind, done.queue_number.as_str()),
        (ChangeKind::Reprinted, "R-021")
    );
    // Out of paper: the problem page leads back to the list, not to a done page.
    r.tap(Intent::ReprintBooking { index: 0 });
    r.ev(Event::Printed(Err(PrintFailure::PaperOut)));
    assert!(matches!(
        r.k.screen,
        Screen::Problem {
            way_out: WayOut::MyBooking,
            ..
        }
    ));
    assert_eq!(r.k.unprinted, None, "the booking's first ticket stands");
    r.tap(Intent::RetryPrint);
    assert!(r.has(|e| matches!(e, Effect::PrintBooking { copy: true, .. })));
    r.ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "my_booking");
}

#[test]
fn a_reschedule_chooses_a_new_day_and_prints_the_new_ticket() {
    let mut r = Run::new();
    r.my_booking(found(vec![sitis_booking()], false));
    r.tap(Intent::RescheduleBooking { index: 0 });
    assert!(r.has(|e| matches!(e, Effect::LoadAvailability { office_id } if office_id == "KRM")));
    r.ev(Event::AvailabilityLoaded(Availability {
        office_id: "KRM".into(),
        slots: vec![
            slot(d(2026, 12, 1), "S1", 4, 0),
            slot(d(2026, 12, 1), "S2", 1, 0),
        ],
        pool: None,
    }));
    assert_eq!(r.screen(), "date");
    assert_eq!(
        r.view().group_needs.map(|n| (n.regular, n.priority)),
        Some((1, 0))
    );
    assert!(
        r.view().rescheduling.is_some(),
        "the page says which booking moves"
    );
    r.tap(Intent::ChooseDate {
        date: d(2026, 12, 1),
    });
    let sessions = r.view().sessions;
    let s1 = sessions.iter().find(|s| s.session_id == "S1").expect("S1");
    assert_eq!(s1.blocked_by, Some(view::SessionBlock::Current));
    r.tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    assert_eq!(r.screen(), "session", "its own session is no move");
    r.tap(Intent::ChooseSession {
        session_id: "S2".into(),
    });
    assert_eq!(r.screen(), "review");
    r.tap(Intent::ConfirmBooking);
    assert!(r.has(
        |e| matches!(e, Effect::RescheduleBooking { date, session_id, .. }
        if *date == d(2026, 12, 1) && session_id == "S2")
    ));
    assert!(!r.has(|e| matches!(e, Effect::CommitBooking(_))));
    let moved = ExistingBooking {
        session_id: "S2".into(),
        queue_number: QueueNumber {
            kind: QueueKind::Regular,
            number: 4,
        },
        reschedules_left: 0,
        ..sitis_booking()
    };
    r.ev(Event::Rescheduled(Ok(moved)));
    assert!(r.has(|e| matches!(e, Effect::PrintBooking { copy: false, booking } if booking.queue_number.number == 4)));
    r.ev(Event::Printed(Ok(())));
    assert_eq!(r.screen(), "done");
    let v = r.view();
    assert_eq!(v.change_done.map(|c| c.kind), Some(ChangeKind::Rescheduled));
    let booking = v.booking.expect("the new booking");
    assert_eq!(booking.tickets[0].queue_number, "R-004");
    assert_eq!(booking.booking_code.as_deref(), Some("7F3C-21A9"));
}

#[test]
fn a_reschedule_is_offered_once_up_to_the_day_before_and_says_why_not() {
    let today = d(2026, 11, 23);
    let cases = [
        (
            ExistingBooking {
                reschedules_left: 0,
                ..sitis_booking()
            },
            false,
            Some(ChangeProblem::RescheduleUsed),
        ),
        (
            ExistingBooking {
                date: today,
                ..sitis_booking()
            },
            false,
            Some(ChangeProblem::TooLate),
        ),
        (
            ExistingBooking {
                date: today + TimeDelta::days(1),
                ..sitis_booking()
            },
            false,
            None,
        ),
        (
            ExistingBooking {
                here: false,
                ticket: Some("APM2.x.y".into()),
                ..sitis_booking()
            },
            false,
            Some(ChangeProblem::NeedsNetwork),
        ),
        (
            ExistingBooking {
                here: false,
                ticket: Some("APM2.x.y".into()),
                ..sitis_booking()
            },
            true,
            None,
        ),
        (
            ExistingBooking {
                office_id: "TBK".into(),
                ..sitis_booking()
            },
            true,
            Some(ChangeProblem::OtherOffice),
        ),
    ];
    for (booking, online, want) in cases {
        let mut r = Run::new();
        r.my_booking(found(vec![booking.clone()], online));
        let v = r.view();
        assert_eq!(v.bookings[0].reschedule_blocked, want, "{booking:?}");
        r.tap(Intent::RescheduleBooking { index: 0 });
        let moved_on = r.screen() == "loading_availability";
        assert_eq!(moved_on, want.is_none(), "{booking:?}");
    }
    let mut r = Run::new();
    r.my_booking(BookingsFound {
        service_lacks_changes: true,
        ..found(vec![sitis_booking()], true)
    });
    let v = r.view();
    assert_eq!(
        v.bookings[0].reschedule_blocked,
        Some(ChangeProblem::Unsupported)
    );
    assert_eq!(
        v.bookings[0].cancel_blocked,
        Some(ChangeProblem::Unsupported)
    );
    assert!(
        v.bookings[0].can_reprint,
        "a reprint needs nothing of the service"
    );
}

#[test]
fn a_cancel_is_asked_then_done_and_a_refusal_has_its_way_out() {
    let mut r = Run::new();
    r.my_booking(found(vec![sitis_booking(), childs_booking()], true));
    r.tap(Intent::CancelBooking { index: 1 });
    assert_eq!(
        r.k.screen,
        Screen::MyBooking {
            cancelling: Some(1)
        }
    );
    assert!(r.view().actions.contains(&Action::ConfirmCancelBooking));
    r.tap(Intent::Dismiss);
    assert_eq!(r.k.screen, Screen::my_booking(), "kept");
    r.tap(Intent::CancelBooking { index: 1 })
        .tap(Intent::ConfirmCancelBooking);
    assert!(r.has(|e| matches!(e, Effect::CancelBooking { booking, .. } if booking.registration_id == "r-child")));
    assert_eq!(r.screen(), "committing");
    r.ev(Event::Cancelled(Ok(())));
    let v = r.view();
    assert_eq!(v.bookings.len(), 1, "the cancelled one is off the list");
    let done = v.change_done.expect("the page says it was cancelled");
    assert_eq!(
        (done.kind, done.queue_number.as_str()),
        (ChangeKind::Cancelled, "P-003")
    );
    r.tap(Intent::CancelBooking { index: 0 })
        .tap(Intent::ConfirmCancelBooking);
    r.ev(Event::Cancelled(Err(ChangeProblem::AlreadyArrived)));
    assert_eq!(
        r.k.screen,
        Screen::Problem {
            problem: Problem::Change {
                reason: ChangeProblem::AlreadyArrived
            },
            way_out: WayOut::MyBooking,
        }
    );
    r.tap(Intent::Dismiss);
    assert_eq!(r.screen(), "my_booking");
    assert_eq!(r.view().bookings.len(), 1, "nothing changed");
}

/// Online, with nothing held for 26 November: the pool's numbers make it bookable.
fn online_on_the_26th(r: &mut Run, pool_regular: u32) {
    r.tap(Intent::Start).add_by_card(siti());
    r.tap(Intent::AddMemberByCard).add_by_card(budi());
    r.tap(Intent::FinishMembers).tap(Intent::ChooseOffice {
        office_id: "KRM".into(),
    });
    r.ev(Event::AvailabilityLoaded(Availability {
        office_id: "KRM".into(),
        slots: vec![slot(d(2026, 11, 26), "S1", 1, 0)],
        pool: Some(vec![slot(d(2026, 11, 26), "S1", pool_regular, 0)]),
    }));
}

#[test]
fn online_the_whole_window_is_offered_and_the_shortfall_asked_for() {
    let mut r = Run::new();
    online_on_the_26th(&mut r, 5);
    let day = |r: &Run, date| {
        r.view()
            .dates
            .into_iter()
            .find(|v| v.date == date)
            .map(|v| v.status)
    };
    assert_eq!(day(&r, d(2026, 11, 26)), Some(DayState::Open));
    assert_eq!(
        day(&r, d(2026, 11, 27)),
        Some(DayState::Full),
        "online and none"
    );
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 26),
    });
    let s1 = r.view().sessions.into_iter().find(|s| s.session_id == "S1");
    let s1 = s1.expect("S1");
    assert!(s1.bookable && s1.asks_service);
    assert_eq!(s1.regular_left, 6, "held and pooled");
    r.tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    assert_eq!(r.screen(), "asking_numbers");
    assert!(
        r.has(|e| matches!(
            e,
            Effect::RequestNumbers {
                regular: 1,
                priority: 0,
                ..
            }
        )),
        "exactly the group's shortfall: two needed, one held"
    );
    // Granted: the office counted again, the two numbers held.
    r.ev(Event::NumbersGranted(Ok(Availability {
        office_id: "KRM".into(),
        slots: vec![slot(d(2026, 11, 26), "S1", 2, 0)],
        pool: Some(vec![slot(d(2026, 11, 26), "S1", 4, 0)]),
    })));
    assert_eq!(r.screen(), "review");

    // No answer in time: back to the sessions, saying so; nothing half-booked.
    let mut r = Run::new();
    online_on_the_26th(&mut r, 5);
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 26),
    })
    .tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    r.ev(Event::NumbersGranted(Err(NumbersFailure::NoAnswer)));
    assert_eq!(r.screen(), "session");
    assert_eq!(r.view().numbers_failure, Some(NumbersFailure::NoAnswer));
    assert_eq!(r.k.session_id, None);
    // Denied: the session is full now, without asking again.
    r.tap(Intent::ChooseSession {
        session_id: "S1".into(),
    });
    r.ev(Event::NumbersGranted(Err(NumbersFailure::Denied)));
    let s1 = r.view().sessions.into_iter().find(|s| s.session_id == "S1");
    assert!(!s1.expect("S1").bookable);
}

#[test]
fn offline_the_days_not_held_need_the_network_and_are_not_full() {
    let mut r = Run::new();
    r.tap(Intent::Start).add_by_card(siti());
    r.on_to_dates(vec![slot(d(2026, 11, 24), "S1", 1, 0)]);
    let states: Vec<(NaiveDate, DayState)> =
        r.view().dates.iter().map(|v| (v.date, v.status)).collect();
    assert!(states.contains(&(d(2026, 11, 24), DayState::Open)));
    assert!(states.contains(&(d(2026, 11, 25), DayState::NeedsNetwork)));
    assert!(!states.iter().any(|(_, s)| *s == DayState::Full));
    r.tap(Intent::ChooseDate {
        date: d(2026, 11, 24),
    });
    let s2 = r.view().sessions.into_iter().find(|s| s.session_id == "S2");
    assert_eq!(
        s2.expect("S2").blocked_by,
        Some(view::SessionBlock::NeedsNetwork)
    );
}
