//! The applicant being added: a card read or failed, a NIK typed on the keypad, the
//! booking rules' answer, and the details confirmed.

use super::*;

pub(super) fn card_failed(state: &mut Kiosk, problem: CardProblem, fx: &mut Vec<Effect>) {
    let purpose = match state.screen {
        Screen::ReadCard { purpose, .. } => purpose,
        // A failed read on the idle screen starts the session on the card screen, with
        // the reason, so the applicant sees what to do.
        _ => Purpose::Lead,
    };
    state.card_failures += 1;
    fx.push(Effect::Beep { ok: false });
    fx.push(Effect::Audit {
        event: "card_read_failed",
        detail: format!("{problem:?}"),
    });
    state.screen = Screen::ReadCard {
        purpose,
        problem: Some(problem),
    };
}

pub(super) fn card_read(
    state: &mut Kiosk,
    card: CardFields,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let card = match card.checked() {
        Ok(card) => card,
        Err(problem) => return card_failed(state, problem, fx),
    };
    let purpose = match state.screen {
        Screen::ReadCard { purpose, .. } => purpose,
        _ => Purpose::Lead,
    };
    let today = today(state, now);
    let (nik, info) = match Nik::parse(&card.nik, today) {
        Ok(parsed) => parsed,
        Err(e) => {
            fx.push(Effect::Beep { ok: false });
            fx.push(Effect::Audit {
                event: "card_nik_invalid",
                detail: e.code().to_string(),
            });
            state.screen = Screen::Problem {
                problem: Problem::CardNikInvalid { reason: e.into() },
                way_out: way_out_for(purpose, state),
            };
            return;
        }
    };
    let birth_date = NaiveDate::parse_from_str(&card.birth_date, "%Y-%m-%d").ok();
    let sex = Sex::from_code(&card.sex);
    let consistent = match (birth_date, sex) {
        (Some(b), Some(s)) => nik::check_card(&info, b, s).is_ok(),
        _ => false,
    };
    if !consistent {
        fx.push(Effect::Beep { ok: false });
        fx.push(Effect::Audit {
            event: "identity_mismatch",
            detail: String::new(),
        });
        state.screen = Screen::Problem {
            problem: Problem::IdentityMismatch,
            way_out: way_out_for(purpose, state),
        };
        return;
    }
    fx.push(Effect::Beep { ok: true });
    state.card_failures = 0;
    state.pending = Some(Pending {
        applicant: Applicant {
            nik,
            kk_number: None,
            name: Some(card.name),
            birth_place: card.birth_place,
            birth_date: info.birth_date,
            sex: info.sex,
            address: card.address,
            source: IdentitySource::Chip,
        },
        application_type: None,
        passport_type: None,
        declared_priority: None,
    });
    state.screen = Screen::ConfirmIdentity { purpose };
}

pub(super) fn way_out_for(purpose: Purpose, state: &Kiosk) -> WayOut {
    if purpose == Purpose::Lead || state.members.is_empty() {
        WayOut::Idle
    } else {
        WayOut::Members
    }
}

pub(super) fn manual_entry(
    state: &mut Kiosk,
    purpose: Purpose,
    nik_text: &str,
    kk_text: Option<&str>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let today = today(state, now);
    let refuse = |state: &mut Kiosk, problem| {
        state.screen = Screen::ManualNik {
            purpose,
            problem: Some(problem),
        }
    };
    let (nik, info): (Nik, NikInfo) = match Nik::parse(nik_text.trim(), today) {
        Ok(parsed) => parsed,
        Err(e) => {
            fx.push(Effect::Audit {
                event: "manual_nik_invalid",
                detail: e.code().to_string(),
            });
            return refuse(state, EntryProblem::NikInvalid(e.into()));
        }
    };
    let kk = match kk_text.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => match KkNumber::parse(text, today) {
            Ok(kk) => Some(kk),
            Err(e) => return refuse(state, EntryProblem::KkInvalid(e.into())),
        },
        None if purpose == Purpose::Child => return refuse(state, EntryProblem::KkRequired),
        None => None,
    };
    state.pending = Some(Pending {
        applicant: Applicant {
            nik,
            kk_number: kk,
            name: None,
            birth_place: None,
            birth_date: info.birth_date,
            sex: info.sex,
            address: None,
            source: IdentitySource::Manual,
        },
        application_type: None,
        passport_type: None,
        declared_priority: None,
    });
    state.screen = Screen::ConfirmIdentity { purpose };
}

pub(super) fn checked(state: &mut Kiosk, result: Result<(), RuleViolation>, fx: &mut Vec<Effect>) {
    let Screen::Checking { purpose } = state.screen else {
        return;
    };
    let Some(pending) = &state.pending else {
        return;
    };
    let members: Vec<(&str, Option<&str>)> = state
        .members
        .iter()
        .map(|m| {
            (
                m.applicant.nik.as_str(),
                m.applicant.kk_number.as_ref().map(KkNumber::as_str),
            )
        })
        .collect();
    let group = rules::check_group_add(
        &members,
        (
            pending.applicant.nik.as_str(),
            pending.applicant.kk_number.as_ref().map(KkNumber::as_str),
        ),
    );
    match result.and(group) {
        Ok(()) => {
            // The lead's choices are the likely ones for the family: offered as defaults.
            if let Some(lead) = state.members.first() {
                let (a, p) = (lead.application_type, lead.passport_type);
                if let Some(pending) = &mut state.pending {
                    pending.application_type = Some(a);
                    pending.passport_type = Some(p);
                }
            }
            state.screen = Screen::Details {
                purpose,
                editing: None,
            };
        }
        Err(violation) => {
            fx.push(Effect::Beep { ok: false });
            fx.push(Effect::Audit {
                event: "applicant_refused",
                detail: violation.code().to_string(),
            });
            state.pending = None;
            state.screen = Screen::Problem {
                problem: refused_by(violation),
                way_out: way_out_for(purpose, state),
            };
        }
    }
}

/// The problem screen for a rule that refused: each rule by its code, with the first day
/// a registration is allowed again where the rule has one.
pub(super) fn refused_by(violation: RuleViolation) -> Problem {
    let refused = |rule, until| Problem::Refused { rule, until };
    match violation {
        RuleViolation::AlreadyInGroup => Problem::AlreadyInGroup,
        RuleViolation::ActiveBooking { .. } => refused(Refusal::ActiveBooking, None),
        RuleViolation::Cooldown { until } => refused(Refusal::Cooldown, Some(until)),
        RuleViolation::Blocked { until } => refused(Refusal::Blocked, Some(until)),
        RuleViolation::FamilyLimit => refused(Refusal::FamilyLimit, None),
        RuleViolation::GroupFull => refused(Refusal::GroupFull, None),
        RuleViolation::PriorityNotEligible { .. } => refused(Refusal::PriorityNotEligible, None),
    }
}

/// The pending applicant's details chosen: they join the group, or, when `editing` a
/// member, take that member's place again.
pub(super) fn confirm_details(
    state: &mut Kiosk,
    editing: Option<usize>,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    let today = today(state, now);
    let Some(p) = &state.pending else {
        return;
    };
    let (Some(application_type), Some(passport_type)) = (p.application_type, p.passport_type)
    else {
        return; // The screen keeps its confirm button disabled until both are chosen.
    };
    let priority = match rules::priority(
        p.declared_priority,
        p.applicant.birth_date,
        p.applicant.sex,
        today,
    ) {
        Ok(reason) => reason,
        Err(v) => {
            fx.push(Effect::Audit {
                event: "priority_refused",
                detail: v.code().to_string(),
            });
            // The declaration does not fit; the applicant picks again on the same screen.
            if let Some(p) = &mut state.pending {
                p.declared_priority = None;
            }
            return;
        }
    };
    let Some(p) = state.pending.take() else {
        return;
    };
    let member = Member {
        applicant: p.applicant,
        application_type,
        passport_type,
        declared_priority: p.declared_priority,
        priority,
    };
    match editing.and_then(|i| state.members.get_mut(i)) {
        Some(place) => *place = member,
        None => state.members.push(member),
    }
    state.screen = Screen::members();
}

/// A member's details to change: they wait as the pending applicant, with their
/// choices, while the member stays in the group until the change is confirmed.
pub(super) fn edit_member(state: &mut Kiosk, index: usize) {
    let Some(m) = state.members.get(index) else {
        return;
    };
    let purpose = if index == 0 {
        Purpose::Lead
    } else if m.applicant.is_child() {
        Purpose::Child
    } else {
        Purpose::Member
    };
    state.pending = Some(Pending {
        applicant: m.applicant.clone(),
        application_type: Some(m.application_type),
        passport_type: Some(m.passport_type),
        declared_priority: m.declared_priority,
    });
    state.screen = Screen::Details {
        purpose,
        editing: Some(index),
    };
}

impl Applicant {
    /// A child: entered on the keypad with the family card's number, which only the
    /// child's keypad requires (`manual_entry`, [`Purpose::Child`]) and a card read never
    /// gives. The one test of it: the ticket's wording, the documents to bring and the
    /// store's tickets all ask here.
    pub fn is_child(&self) -> bool {
        self.source == IdentitySource::Manual && self.kk_number.is_some()
    }
}
