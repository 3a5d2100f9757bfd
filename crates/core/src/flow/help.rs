//! The help panel: opened from any page (and the idle screen) over the page, closed
//! back to the page exactly as it was. It says what the kiosk is for and what to bring,
//! and calls an officer ([`Effect::CallOfficer`]).
//!
//! The inactivity rules never wipe a session sooner with the panel open than on the
//! page: opening it is a touch like any other. After a call the applicant is waiting
//! for someone, so no warning comes for [`OFFICER_WAIT`] after the call; then the
//! page's own rules apply again. On the idle screen, where nothing personal is held,
//! the panel closes itself after the warning's and the wipe's time together, so that
//! the next person finds the idle screen.
//!
//! The devices go on beneath the panel: a card laid on the reader while it is open is
//! read for the page beneath (the applicant sees the result on closing), and a print
//! that ends moves the page on as it would. Only taps are the panel's.

use super::*;

/// How long after a call the inactivity warning waits: time for an officer to walk
/// over from the counter.
pub const OFFICER_WAIT: TimeDelta = TimeDelta::minutes(5);

/// The help panel, open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Help {
    /// When an officer was called from this opening of the panel.
    pub called_at: Option<DateTime<Utc>>,
}

/// Who to call where no officer is near: the kiosk's id (the daemon's enrollment) and
/// the phone number of the config's `[help]`, both optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelpContact {
    pub kiosk_id: Option<String>,
    pub phone: Option<String>,
}

/// The help intents, wherever the applicant is. Returns whether the panel took the
/// intent: its own three always, and while it is open every tap meant for the page
/// beneath but the language, the answer to the warning and cancel (the panel covers
/// the page, so a tap cannot reach it).
pub(super) fn help_intent(
    state: &mut Kiosk,
    intent: &Intent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) -> bool {
    match intent {
        Intent::Help => {
            if state.help.is_none() {
                state.help = Some(Help { called_at: None });
            }
            true
        }
        Intent::CloseHelp => {
            state.help = None;
            true
        }
        Intent::CallOfficer => {
            if let Some(help) = &mut state.help
                && help.called_at.is_none()
            {
                help.called_at = Some(now);
                fx.push(Effect::CallOfficer {
                    screen: view::ScreenKind::of(&state.screen),
                });
            }
            true
        }
        Intent::SetLanguage { .. } | Intent::StillHere | Intent::Cancel => false,
        _ => state.help.is_some(),
    }
}

/// Whether the panel holds off the inactivity warning now: for [`OFFICER_WAIT`] after
/// a call, unless the warning is already up.
pub(super) fn help_holds_timer(state: &Kiosk, now: DateTime<Utc>) -> bool {
    state.warned_at.is_none()
        && state
            .help
            .and_then(|h| h.called_at)
            .is_some_and(|at| now - at < OFFICER_WAIT)
}

/// On the idle screen the panel closes itself once nobody has touched it for the
/// warning's and the wipe's time together.
pub(super) fn help_tick(state: &mut Kiosk, now: DateTime<Utc>) {
    if state.screen == Screen::Idle
        && state.help.is_some()
        && !help_holds_timer(state, now)
        && now - state.last_input >= state.timeouts.warning_after + state.timeouts.reset_after
    {
        state.help = None;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::view::{ScreenKind, view};
    use super::*;

    /// Monday 23 November 2026, 09:00 WIB.
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
            .single()
            .expect("valid time")
    }

    fn siti() -> CardFields {
        CardFields {
            nik: "2102015708900003".into(),
            name: "SITI AMINAH".into(),
            birth_place: Some("KARIMUN".into()),
            birth_date: "1990-08-17".into(),
            sex: "P".into(),
            address: None,
        }
    }

    struct Run {
        k: Kiosk,
        now: DateTime<Utc>,
        fx: Vec<Effect>,
    }

    impl Run {
        fn new() -> Run {
            let mut k = Kiosk::new(Language::Id, Timeouts::default(), t0());
            step(
                &mut k,
                Event::CatalogChanged(vec![crate::domain::calendar::example_office()]),
                t0(),
            );
            k.help_contact = HelpContact {
                kiosk_id: Some("KRM-02".into()),
                phone: Some("0777 123 456".into()),
            };
            Run {
                k,
                now: t0(),
                fx: Vec::new(),
            }
        }

        /// `e` after `secs` seconds.
        fn after(&mut self, secs: i64, e: Event) -> &mut Run {
            self.now += TimeDelta::seconds(secs);
            self.fx = step(&mut self.k, e, self.now);
            self
        }

        fn tap(&mut self, i: Intent) -> &mut Run {
            self.after(1, Event::Intent(i))
        }

        /// Ticks a second at a time for `secs` seconds.
        fn wait(&mut self, secs: i64) -> &mut Run {
            for _ in 0..secs {
                self.after(1, Event::Tick);
            }
            self
        }

        fn screen(&self) -> ScreenKind {
            ScreenKind::of(&self.k.screen)
        }

        /// The lead's card read and confirmed: on to the details.
        fn on_to_details(&mut self) -> &mut Run {
            self.tap(Intent::Start);
            self.after(1, Event::CardRead(siti()));
            self.tap(Intent::ConfirmIdentity);
            self.after(1, Event::Checked(Ok(())));
            assert_eq!(self.screen(), ScreenKind::Details);
            self.tap(Intent::ChooseApplicationType {
                application_type: crate::domain::ApplicationType::New,
            })
        }
    }

    #[test]
    fn help_opens_over_every_kind_of_page_and_closes_back_to_it_as_it_was() {
        let pages: [fn(&mut Run); 4] = [
            |_| {},
            |r| {
                r.tap(Intent::Start);
            },
            |r| {
                r.on_to_details();
            },
            |r| {
                r.on_to_details()
                    .tap(Intent::ChoosePassportType {
                        passport_type: crate::domain::PassportType::Electronic,
                    })
                    .tap(Intent::ConfirmDetails);
            },
        ];
        for go in pages {
            let mut r = Run::new();
            go(&mut r);
            let before = r.k.clone();
            let offered = view(&r.k, r.now).actions;
            assert!(offered.contains(&Action::Help), "{offered:?}");
            r.tap(Intent::Help);
            let v = view(&r.k, r.now);
            assert_eq!(v.screen, ScreenKind::of(&before.screen), "the page stays");
            assert_eq!(
                v.help,
                Some(view::HelpView {
                    called: false,
                    kiosk_id: Some("KRM-02".into()),
                    phone: Some("0777 123 456".into()),
                })
            );
            assert!(v.actions.contains(&Action::CallOfficer));
            assert!(v.actions.contains(&Action::CloseHelp));
            assert!(!v.actions.contains(&Action::Help));
            // The page's own taps do not reach it under the panel.
            for tap in [Intent::Back, Intent::Start, Intent::ConfirmDetails] {
                r.tap(tap);
            }
            r.tap(Intent::CloseHelp);
            assert_eq!(r.k.screen, before.screen, "the same page");
            assert_eq!(r.k.members, before.members, "the same group");
            assert_eq!(r.k.pending, before.pending, "the same choices");
            assert_eq!(r.k.help, None);
        }
    }

    #[test]
    fn calling_an_officer_is_one_effect_per_opening_and_says_so() {
        let mut r = Run::new();
        r.on_to_details().tap(Intent::Help).tap(Intent::CallOfficer);
        assert_eq!(
            r.fx,
            [Effect::CallOfficer {
                screen: ScreenKind::Details
            }]
        );
        let v = view(&r.k, r.now);
        assert_eq!(v.help.map(|h| h.called), Some(true));
        assert!(!v.actions.contains(&Action::CallOfficer));
        r.tap(Intent::CallOfficer);
        assert!(r.fx.is_empty(), "a second tap calls no one again");
        // Closed and opened again, the applicant may call again.
        r.tap(Intent::CloseHelp)
            .tap(Intent::Help)
            .tap(Intent::CallOfficer);
        assert_eq!(r.fx.len(), 1);
        // Without the panel there is nothing to call from.
        let mut r = Run::new();
        r.tap(Intent::CallOfficer);
        assert!(r.fx.is_empty());
        // The idle screen calls too: outreach kiosks are often alone.
        r.tap(Intent::Help).tap(Intent::CallOfficer);
        assert_eq!(
            r.fx,
            [Effect::CallOfficer {
                screen: ScreenKind::Idle
            }]
        );
    }

    #[test]
    fn the_panel_never_wipes_a_session_sooner_than_its_page() {
        let t = Timeouts::default();
        let (warn, reset) = (t.warning_after.num_seconds(), t.reset_after.num_seconds());
        // Opened: a touch like any other; the page's own rules from there.
        let mut r = Run::new();
        r.on_to_details().tap(Intent::Help).wait(warn - 1);
        assert_eq!(r.k.warned_at, None);
        r.wait(1);
        assert!(r.k.warned_at.is_some(), "warned as on the page");
        r.tap(Intent::StillHere).wait(warn + reset - 2);
        assert_eq!(r.screen(), ScreenKind::Details, "kept by the answer");
        assert!(r.k.help.is_some(), "and the panel with it");
        r.wait(2);
        assert_eq!(r.screen(), ScreenKind::Idle, "wiped as the page would be");
        assert_eq!(r.k.help, None, "the next person does not find it open");
        assert!(r.k.members.is_empty() && r.k.pending.is_none());
        // After a call: no warning while the officer walks over, then the page's rules.
        let mut r = Run::new();
        r.on_to_details().tap(Intent::Help).tap(Intent::CallOfficer);
        r.wait(OFFICER_WAIT.num_seconds() - 1);
        assert_eq!(r.k.warned_at, None, "waiting for the officer");
        assert_eq!(r.screen(), ScreenKind::Details);
        r.wait(1);
        assert!(r.k.warned_at.is_some(), "then the warning");
        r.wait(reset);
        assert_eq!(r.screen(), ScreenKind::Idle);
    }

    #[test]
    fn on_the_idle_screen_the_panel_closes_itself_and_cancel_closes_it_with_the_session() {
        let t = Timeouts::default();
        let mut r = Run::new();
        r.tap(Intent::Help)
            .wait((t.warning_after + t.reset_after).num_seconds() - 1);
        assert!(r.k.help.is_some());
        r.wait(1);
        assert_eq!(r.k.help, None);
        // Cancel from under the panel ends the session, panel and all.
        let mut r = Run::new();
        r.on_to_details().tap(Intent::Help);
        assert!(view(&r.k, r.now).actions.contains(&Action::Cancel));
        r.tap(Intent::Cancel);
        assert_eq!(r.screen(), ScreenKind::Idle);
        assert_eq!(r.k.help, None);
        // The language changes under the panel.
        let mut r = Run::new();
        r.tap(Intent::Help).tap(Intent::SetLanguage {
            language: Language::En,
        });
        assert_eq!(r.k.language, Language::En);
        assert!(r.k.help.is_some());
    }

    #[test]
    fn the_help_intents_and_view_are_spelled_as_documented() {
        for (intent, name) in [
            (Intent::Help, "help"),
            (Intent::CloseHelp, "close_help"),
            (Intent::CallOfficer, "call_officer"),
        ] {
            let wire = serde_json::to_value(&intent).unwrap_or_default();
            assert_eq!(wire, serde_json::json!({ "intent": name }));
            assert_eq!(
                serde_json::to_value(intent.action()).unwrap_or_default(),
                serde_json::json!(name)
            );
        }
        let mut r = Run::new();
        r.k.help_contact.phone = None;
        r.tap(Intent::Help).tap(Intent::CallOfficer);
        let v = serde_json::to_value(view(&r.k, r.now)).unwrap_or_default();
        assert_eq!(
            v["help"],
            serde_json::json!({"called": true, "kiosk_id": "KRM-02"})
        );
        r.tap(Intent::CloseHelp);
        let v = serde_json::to_value(view(&r.k, r.now)).unwrap_or_default();
        assert_eq!(v.get("help"), None);
    }
}
