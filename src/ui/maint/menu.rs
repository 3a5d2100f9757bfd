//! The maintenance report's figures, what needs attention and the answers to the
//! menu's commands, as the Slint structs and enums of `ui/pages/maint.slint` and
//! `ui/codes.slint`, which word them in the technician's language. Every match is
//! exhaustive: a new figure, attention or answer does not build until the menu has its
//! value. Times are the kiosk's local time (the office's), as the technician's watch.

use chrono::{DateTime, Utc};

use crate::flow::Guardrail;
use crate::hardware::printer::PrinterState;
use crate::maint::Failure;
use crate::maint::answer::{ReadTestAnswer, SyncProgress};
use crate::maint::report::{Attention, Row};
use crate::maint::value::{Value, Word, bytes, since};
use crate::protocol::central::RejectionReason;
use crate::ui::adapter::codes as flow_codes;
use crate::ui::{
    AttentionItem, AttentionKind, FailureCode, MaintResult, NumberCheck, OutOfService,
    RejectionWord, ReportRow, ReportWord, ResultKind, ValueKind,
};

/// A time on the technician's watch: `2026-12-01 10:02`.
pub fn clock(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

pub fn word(w: Word) -> ReportWord {
    match w {
        Word::PrinterOk => ReportWord::PrinterOk,
        Word::PaperNearEnd => ReportWord::PaperNearEnd,
        Word::PaperOut => ReportWord::PaperOut,
        Word::CoverOpen => ReportWord::CoverOpen,
        Word::PrinterOffline => ReportWord::PrinterOffline,
        Word::PrinterError => ReportWord::PrinterError,
        Word::PaperOk => ReportWord::PaperOk,
        Word::PaperLow => ReportWord::PaperLow,
        Word::PaperEmpty => ReportWord::PaperEmpty,
        Word::CoverClosed => ReportWord::CoverClosed,
        Word::CoverOpened => ReportWord::CoverOpened,
        Word::Unknown => ReportWord::Unknown,
        Word::ReaderOk => ReportWord::ReaderOk,
        Word::SamMissing => ReportWord::SamMissing,
        Word::ReaderDisconnected => ReportWord::ReaderDisconnected,
        Word::ReaderError => ReportWord::ReaderError,
        Word::SamOk => ReportWord::SamOk,
        Word::SamAbsent => ReportWord::SamAbsent,
        Word::SamUnreported => ReportWord::SamUnreported,
        Word::NotReported => ReportWord::NotReported,
        Word::Answering => ReportWord::Answering,
        Word::NotAnswering => ReportWord::NotAnswering,
        Word::NotEnrolled => ReportWord::NotEnrolled,
        Word::NoneWaiting => ReportWord::NoneWaiting,
    }
}

fn rejection(r: &RejectionReason) -> RejectionWord {
    match r {
        RejectionReason::NikInvalid => RejectionWord::NikInvalid,
        RejectionReason::NikActiveBooking => RejectionWord::NikActiveBooking,
        RejectionReason::NikCooldown => RejectionWord::NikCooldown,
        RejectionReason::FamilyLimit => RejectionWord::FamilyLimit,
        RejectionReason::UnknownAllocation => RejectionWord::UnknownAllocation,
        RejectionReason::NumberNotHeld => RejectionWord::NumberNotHeld,
        RejectionReason::Invalid => RejectionWord::Invalid,
        RejectionReason::Other(_) => RejectionWord::Other,
    }
}

/// A row's figure in the fields its kind uses; `now` is the report's time.
pub fn row(r: &Row, now: DateTime<Utc>, into: &mut ReportRow) {
    let (kind, text, detail, n, m) = match &r.value {
        Value::Text(t) => (ValueKind::Text, t.clone(), String::new(), 0, 0),
        Value::Count(c) => (ValueKind::Count, String::new(), String::new(), int(*c), 0),
        Value::Span(s) => (ValueKind::Span, String::new(), String::new(), int(*s), 0),
        Value::Time(Some(t)) => (
            ValueKind::Time,
            clock(*t),
            String::new(),
            int(since(*t, now)),
            0,
        ),
        Value::Time(None) => (ValueKind::Never, String::new(), String::new(), 0, 0),
        Value::Word(w) => {
            into.word = word(*w);
            (ValueKind::Word, String::new(), String::new(), 0, 0)
        }
        Value::Network { host, reached } => match reached {
            Ok(ms) => (ValueKind::Network, host.clone(), String::new(), int(*ms), 0),
            Err(e) => (ValueKind::NetworkDown, host.clone(), e.clone(), 0, 0),
        },
        Value::Skew {
            seconds: Some(s), ..
        } => (ValueKind::Skew, format!("{s:+}"), String::new(), int(*s), 0),
        Value::Skew { seconds: None, .. } => {
            (ValueKind::NotMeasured, String::new(), String::new(), 0, 0)
        }
        Value::Space(Some(d)) => (
            ValueKind::Space,
            bytes(d.available_bytes),
            bytes(d.total_bytes),
            0,
            0,
        ),
        Value::Space(None) => (ValueKind::NoSpace, String::new(), String::new(), 0, 0),
        Value::Numbers {
            office_id,
            date,
            regular,
            priority,
        } => (
            ValueKind::Numbers,
            office_id.clone(),
            date.to_string(),
            int(*regular),
            int(*priority),
        ),
        Value::Rejection {
            office_id,
            date,
            queue_number,
            reason,
            registration_id: _,
        } => {
            into.reason = rejection(reason);
            let booking = format!("{office_id} {date} {queue_number}");
            (
                ValueKind::Rejection,
                booking,
                reason.code().to_owned(),
                0,
                0,
            )
        }
    };
    into.kind = kind;
    into.text = text.into();
    into.detail = detail.into();
    into.n = n;
    into.m = m;
}

fn printer_word(state: PrinterState) -> ReportWord {
    match state {
        PrinterState::Ok => ReportWord::PrinterOk,
        PrinterState::PaperNearEnd => ReportWord::PaperNearEnd,
        PrinterState::PaperOut => ReportWord::PaperOut,
        PrinterState::CoverOpen => ReportWord::CoverOpen,
        PrinterState::Offline => ReportWord::PrinterOffline,
        PrinterState::Error => ReportWord::PrinterError,
    }
}

fn guardrail(g: Guardrail) -> OutOfService {
    match g {
        Guardrail::SyncOverdue => OutOfService::SyncOverdue,
        Guardrail::SyncBacklog => OutOfService::SyncBacklog,
    }
}

/// What needs attention, with its figures.
pub fn attention(a: &Attention) -> AttentionItem {
    let item = |kind| AttentionItem {
        kind,
        ..AttentionItem::default()
    };
    let counted = |kind, n: usize| AttentionItem {
        n: int(n),
        ..item(kind)
    };
    let said = |kind, text: String| AttentionItem {
        text: text.into(),
        ..item(kind)
    };
    let unsaid = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".to_owned());
    match a {
        Attention::OfficerCalled { open, last } => AttentionItem {
            text: clock(*last).into(),
            ..counted(AttentionKind::OfficerCalled, *open)
        },
        Attention::OutOfService { reason, .. } => AttentionItem {
            hold: flow_codes::out_of_service(Some(reason.code())),
            ..item(AttentionKind::OutOfService)
        },
        Attention::DiskFull { free } => said(
            AttentionKind::DiskFull,
            free.map_or_else(|| "?".to_owned(), bytes),
        ),
        Attention::ClockWrong { reads } => said(AttentionKind::ClockWrong, clock(*reads)),
        Attention::NotEnrolled => item(AttentionKind::NotEnrolled),
        Attention::Printer(state) => AttentionItem {
            printer: printer_word(*state),
            ..item(AttentionKind::Printer)
        },
        Attention::Unprinted(n) => counted(AttentionKind::Unprinted, *n as usize),
        Attention::SamMissing => item(AttentionKind::SamMissing),
        Attention::ReaderDisconnected => item(AttentionKind::ReaderDisconnected),
        Attention::Guardrail(g) => AttentionItem {
            hold: guardrail(*g),
            ..item(AttentionKind::Guardrail)
        },
        Attention::ServiceNotAnswering { why } => {
            said(AttentionKind::ServiceNotAnswering, unsaid(why))
        }
        Attention::NoNetwork { error } => said(AttentionKind::NoNetwork, unsaid(error)),
        Attention::ClockSkew { seconds } => AttentionItem {
            n: int(*seconds),
            ..item(AttentionKind::ClockSkew)
        },
        Attention::Undecodable(n) => counted(AttentionKind::Undecodable, *n),
        Attention::UnreadableResults(n) => counted(AttentionKind::UnreadableResults, *n),
        Attention::Rejected(n) => counted(AttentionKind::Rejected, *n),
        Attention::DiskLow { free } => said(AttentionKind::DiskLow, bytes(*free)),
        Attention::NoNumbersHeld => item(AttentionKind::NoNumbersHeld),
        Attention::OldestUnsynced(s) => AttentionItem {
            n: int(*s),
            ..item(AttentionKind::OldestUnsynced)
        },
        Attention::ServiceLacksV11 { features } => said(
            AttentionKind::ServiceLacksV11,
            features
                .iter()
                .map(|f| f.code())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Attention::ChangesRefused(n) => counted(AttentionKind::ChangesRefused, *n),
        Attention::OldestChange(s) => AttentionItem {
            n: int(*s),
            ..item(AttentionKind::OldestChange)
        },
    }
}

/// A result with nothing but its kind.
pub fn result(kind: ResultKind) -> MaintResult {
    MaintResult {
        kind,
        ..MaintResult::default()
    }
}

/// A result with one figure.
pub fn result_with(kind: ResultKind, text: impl Into<String>) -> MaintResult {
    MaintResult {
        text: text.into().into(),
        ..result(kind)
    }
}

/// A refusal: its code if the menu has words for it, else the daemon's message.
pub fn failure(f: &Failure) -> MaintResult {
    let code = match f.error.as_str() {
        "no_answer" => FailureCode::NoAnswer,
        "store" => FailureCode::Store,
        "not_idle" => FailureCode::NotIdle,
        "busy" => FailureCode::Busy,
        "already_enrolled" => FailureCode::AlreadyEnrolled,
        "enroll_failed" => FailureCode::EnrollFailed,
        "unknown" => FailureCode::UnknownTicket,
        "nothing_printed" => FailureCode::NothingPrinted,
        "not_printed" => FailureCode::NotPrinted,
        "central_unreachable" => FailureCode::CentralUnreachable,
        "not_enrolled" => FailureCode::NotEnrolled,
        "export_failed" => FailureCode::ExportFailed,
        "paper_out" => FailureCode::PaperOut,
        "cover_open" => FailureCode::CoverOpen,
        "offline" => FailureCode::Offline,
        "failed" => FailureCode::PrintFailed,
        _ => FailureCode::Other,
    };
    MaintResult {
        failure: code,
        ..result_with(ResultKind::Failed, f.message.clone())
    }
}

/// The sync's progress: running, done, or done with an error.
pub fn progress(p: &SyncProgress) -> MaintResult {
    let n = int(p.uploads_left);
    match (&p.last_error, p.round_running) {
        (_, true) => MaintResult {
            n,
            ..result(ResultKind::Syncing)
        },
        (None, false) => MaintResult {
            n,
            ..result(ResultKind::SyncFinished)
        },
        (Some(e), false) => MaintResult {
            n,
            ..result_with(ResultKind::SyncFailed, e.clone())
        },
    }
}

/// The read test's answer: the NIK masked, how it checked, how many fields.
pub fn read_test(answer: &ReadTestAnswer) -> MaintResult {
    match answer {
        ReadTestAnswer::Read {
            masked_nik,
            nik_check,
            fields,
            ..
        } => MaintResult {
            check: nik_check_code(nik_check),
            n: int(fields.len()),
            ..result_with(ResultKind::CardRead, masked_nik.clone())
        },
        ReadTestAnswer::ReadFailed { problem } => MaintResult {
            problem: flow_codes::card_problem(Some(*problem)),
            ..result(ResultKind::CardNotRead)
        },
        ReadTestAnswer::TimedOut { after_s } => MaintResult {
            n: int(*after_s),
            ..result(ResultKind::ReadTimedOut)
        },
        ReadTestAnswer::Cancelled => result(ResultKind::ReadCancelled),
    }
}

/// `valid`, or the NIK check's code (`nik::NikError::code`).
fn nik_check_code(code: &str) -> NumberCheck {
    match code {
        "wrong_length" => NumberCheck::WrongLength,
        "not_digits" => NumberCheck::NotDigits,
        "unknown_province" => NumberCheck::UnknownProvince,
        "regency_zero" => NumberCheck::RegencyZero,
        "district_zero" => NumberCheck::DistrictZero,
        "not_a_date" => NumberCheck::NotADate,
        "serial_zero" => NumberCheck::SerialZero,
        _ => NumberCheck::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_reaches_the_menu_as_its_kind() {
        let now = DateTime::<Utc>::default() + chrono::TimeDelta::hours(3);
        let cases = [
            (Value::Count(12), ValueKind::Count, 12),
            (Value::Span(7500), ValueKind::Span, 7500),
            (
                Value::Time(Some(DateTime::<Utc>::default())),
                ValueKind::Time,
                10_800,
            ),
            (Value::Time(None), ValueKind::Never, 0),
            (Value::Word(Word::PaperLow), ValueKind::Word, 0),
            (
                Value::Skew {
                    seconds: Some(-4),
                    alert: false,
                },
                ValueKind::Skew,
                -4,
            ),
            (Value::Space(None), ValueKind::NoSpace, 0),
        ];
        for (value, kind, n) in cases {
            let r = Row {
                label: crate::maint::report::Label::Unsynced,
                value,
                level: crate::maint::report::Level::Normal,
            };
            let mut shown = ReportRow::default();
            row(&r, now, &mut shown);
            assert_eq!((shown.kind, shown.n), (kind, n), "{r:?}");
        }
    }

    #[test]
    fn a_refusal_has_its_code_or_the_daemons_message() {
        let r = failure(&Failure::new(
            "nothing_printed",
            "no ticket has been printed yet",
        ));
        assert_eq!(
            (r.kind, r.failure),
            (ResultKind::Failed, FailureCode::NothingPrinted)
        );
        let r = failure(&Failure::new("brand_new", "a newer daemon's refusal"));
        assert_eq!(r.failure, FailureCode::Other);
        assert_eq!(r.text, "a newer daemon's refusal");
    }
}
