//! The core's codes as the Slint enums of `ui/codes.slint`, and back for the few a tap
//! sends. Every match here is exhaustive, with no catch-all arm: a new screen, problem
//! or choice in the core does not build until it has its value on the screen's side, and
//! a value removed from the `.slint` does not build until the core stops sending it.
//! Where the core has nothing to show (`None`), the screen's value is `none`.

use crate::domain::documents::Document;
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason, Sex};
use crate::flow::view::{DayState, NumberCheck, Refusal, ScreenKind, SessionBlock};
use crate::flow::{
    CardProblem, ChangeKind, ChangeProblem, CommitFailure, EntryProblem, NumbersFailure,
    PrintFailure, Purpose, WayOut,
};
use crate::maint::report::{Label, Part};
use crate::maint::{HoldReason, Orientation};
use crate::protocol::central::ReaderState;
use crate::ui;

pub fn screen(s: ScreenKind) -> ui::Screen {
    match s {
        ScreenKind::Idle => ui::Screen::Idle,
        ScreenKind::ReadCard => ui::Screen::ReadCard,
        ScreenKind::ManualNik => ui::Screen::ManualNik,
        ScreenKind::ConfirmIdentity => ui::Screen::ConfirmIdentity,
        ScreenKind::NameEntry => ui::Screen::NameEntry,
        ScreenKind::Checking => ui::Screen::Checking,
        ScreenKind::Details => ui::Screen::Details,
        ScreenKind::Members => ui::Screen::Members,
        ScreenKind::Office => ui::Screen::Office,
        ScreenKind::LoadingAvailability => ui::Screen::LoadingAvailability,
        ScreenKind::Date => ui::Screen::Date,
        ScreenKind::Session => ui::Screen::Session,
        ScreenKind::AskingNumbers => ui::Screen::AskingNumbers,
        ScreenKind::MyBooking => ui::Screen::MyBooking,
        ScreenKind::Review => ui::Screen::Review,
        ScreenKind::Committing => ui::Screen::Committing,
        ScreenKind::Printing => ui::Screen::Printing,
        ScreenKind::Done => ui::Screen::Done,
        ScreenKind::Problem => ui::Screen::Problem,
    }
}

pub fn language(l: Language) -> ui::Language {
    match l {
        Language::Id => ui::Language::Id,
        Language::En => ui::Language::En,
    }
}

/// The language a tap asks for; `None` for `unset`, which no page sends.
pub fn language_from(l: ui::Language) -> Option<Language> {
    match l {
        ui::Language::Id => Some(Language::Id),
        ui::Language::En => Some(Language::En),
        ui::Language::Unset => None,
    }
}

pub fn purpose(p: Option<Purpose>) -> ui::Purpose {
    match p {
        None => ui::Purpose::None,
        Some(Purpose::Lead) => ui::Purpose::Lead,
        Some(Purpose::Member) => ui::Purpose::Member,
        Some(Purpose::Child) => ui::Purpose::Child,
    }
}

pub fn card_problem(p: Option<CardProblem>) -> ui::CardProblem {
    match p {
        None => ui::CardProblem::None,
        Some(CardProblem::NotStill) => ui::CardProblem::NotStill,
        Some(CardProblem::NotEktp) => ui::CardProblem::NotEktp,
        Some(CardProblem::ChipRejected) => ui::CardProblem::ChipRejected,
        Some(CardProblem::ReadFailed) => ui::CardProblem::ReadFailed,
        Some(CardProblem::ReaderFault) => ui::CardProblem::ReaderFault,
        Some(CardProblem::DataCorrupt) => ui::CardProblem::DataCorrupt,
    }
}

/// The keypad's refusal and, for a number that failed a check, the check.
pub fn entry_problem(p: Option<EntryProblem>) -> (ui::EntryProblem, ui::NumberCheck) {
    match p {
        None => (ui::EntryProblem::None, ui::NumberCheck::None),
        Some(EntryProblem::NikInvalid(c)) => (ui::EntryProblem::NikInvalid, number_check(c)),
        Some(EntryProblem::KkInvalid(c)) => (ui::EntryProblem::KkInvalid, number_check(c)),
        Some(EntryProblem::KkRequired) => (ui::EntryProblem::KkRequired, ui::NumberCheck::None),
        Some(EntryProblem::NameInvalid) => (ui::EntryProblem::NameInvalid, ui::NumberCheck::None),
    }
}

pub fn number_check(c: NumberCheck) -> ui::NumberCheck {
    match c {
        NumberCheck::WrongLength => ui::NumberCheck::WrongLength,
        NumberCheck::NotDigits => ui::NumberCheck::NotDigits,
        NumberCheck::UnknownProvince => ui::NumberCheck::UnknownProvince,
        NumberCheck::RegencyZero => ui::NumberCheck::RegencyZero,
        NumberCheck::DistrictZero => ui::NumberCheck::DistrictZero,
        NumberCheck::NotADate => ui::NumberCheck::NotADate,
        NumberCheck::SerialZero => ui::NumberCheck::SerialZero,
    }
}

pub fn refusal(r: Refusal) -> ui::Refusal {
    match r {
        Refusal::ActiveBooking => ui::Refusal::ActiveBooking,
        Refusal::Cooldown => ui::Refusal::Cooldown,
        Refusal::Blocked => ui::Refusal::Blocked,
        Refusal::FamilyLimit => ui::Refusal::FamilyLimit,
        Refusal::GroupFull => ui::Refusal::GroupFull,
        Refusal::PriorityNotEligible => ui::Refusal::PriorityNotEligible,
        Refusal::DateFull => ui::Refusal::DateFull,
        Refusal::SessionFull => ui::Refusal::SessionFull,
    }
}

pub fn commit_failure(f: CommitFailure) -> ui::CommitFailure {
    match f {
        CommitFailure::NumbersGone => ui::CommitFailure::NumbersGone,
        CommitFailure::StorageFailed => ui::CommitFailure::StorageFailed,
    }
}

pub fn print_failure(f: PrintFailure) -> ui::PrintFailure {
    match f {
        PrintFailure::PaperOut => ui::PrintFailure::PaperOut,
        PrintFailure::CoverOpen => ui::PrintFailure::CoverOpen,
        PrintFailure::Offline => ui::PrintFailure::Offline,
        PrintFailure::Failed => ui::PrintFailure::Failed,
    }
}

pub fn way_out(w: Option<WayOut>) -> ui::WayOut {
    match w {
        None => ui::WayOut::None,
        Some(WayOut::Idle) => ui::WayOut::Idle,
        Some(WayOut::Members) => ui::WayOut::Members,
        Some(WayOut::Office) => ui::WayOut::Office,
        Some(WayOut::Session) => ui::WayOut::Session,
        Some(WayOut::Done) => ui::WayOut::Done,
        Some(WayOut::MyBooking) => ui::WayOut::MyBooking,
    }
}

/// Why a change to a booking did not happen, or cannot now; `None` when it can.
pub fn change_problem(p: Option<ChangeProblem>) -> ui::ChangeProblem {
    match p {
        None => ui::ChangeProblem::None,
        Some(ChangeProblem::RescheduleUsed) => ui::ChangeProblem::RescheduleUsed,
        Some(ChangeProblem::TooLate) => ui::ChangeProblem::TooLate,
        Some(ChangeProblem::AlreadyArrived) => ui::ChangeProblem::AlreadyArrived,
        Some(ChangeProblem::Cancelled) => ui::ChangeProblem::Cancelled,
        Some(ChangeProblem::NotFound) => ui::ChangeProblem::NotFound,
        Some(ChangeProblem::NumberNotHeld) => ui::ChangeProblem::NumberNotHeld,
        Some(ChangeProblem::NumbersGone) => ui::ChangeProblem::NumbersGone,
        Some(ChangeProblem::Unsupported) => ui::ChangeProblem::Unsupported,
        Some(ChangeProblem::NoAnswer) => ui::ChangeProblem::NoAnswer,
        Some(ChangeProblem::StorageFailed) => ui::ChangeProblem::StorageFailed,
        Some(ChangeProblem::Refused) => ui::ChangeProblem::Refused,
        Some(ChangeProblem::NeedsNetwork) => ui::ChangeProblem::NeedsNetwork,
        Some(ChangeProblem::OtherOffice) => ui::ChangeProblem::OtherOffice,
    }
}

/// What was just done to a booking the applicant holds.
pub fn change_kind(k: Option<ChangeKind>) -> ui::ChangeKind {
    match k {
        None => ui::ChangeKind::None,
        Some(ChangeKind::Reprinted) => ui::ChangeKind::Reprinted,
        Some(ChangeKind::Rescheduled) => ui::ChangeKind::Rescheduled,
        Some(ChangeKind::Cancelled) => ui::ChangeKind::Cancelled,
    }
}

/// Why the service gave no numbers for the session chosen.
pub fn numbers_failure(f: Option<NumbersFailure>) -> ui::NumbersFailure {
    match f {
        None => ui::NumbersFailure::None,
        Some(NumbersFailure::Denied) => ui::NumbersFailure::Denied,
        Some(NumbersFailure::NoAnswer) => ui::NumbersFailure::NoAnswer,
    }
}

pub fn application_type(a: Option<ApplicationType>) -> ui::ApplicationType {
    match a {
        None => ui::ApplicationType::None,
        Some(ApplicationType::New) => ui::ApplicationType::New,
        Some(ApplicationType::Replacement) => ui::ApplicationType::Replacement,
        Some(ApplicationType::Lost) => ui::ApplicationType::Lost,
        Some(ApplicationType::Damaged) => ui::ApplicationType::Damaged,
    }
}

pub fn application_type_from(a: ui::ApplicationType) -> Option<ApplicationType> {
    match a {
        ui::ApplicationType::None => None,
        ui::ApplicationType::New => Some(ApplicationType::New),
        ui::ApplicationType::Replacement => Some(ApplicationType::Replacement),
        ui::ApplicationType::Lost => Some(ApplicationType::Lost),
        ui::ApplicationType::Damaged => Some(ApplicationType::Damaged),
    }
}

pub fn passport_type(p: Option<PassportType>) -> ui::PassportType {
    match p {
        None => ui::PassportType::None,
        Some(PassportType::Regular48) => ui::PassportType::Regular48,
        Some(PassportType::Electronic) => ui::PassportType::Electronic,
    }
}

pub fn passport_type_from(p: ui::PassportType) -> Option<PassportType> {
    match p {
        ui::PassportType::None => None,
        ui::PassportType::Regular48 => Some(PassportType::Regular48),
        ui::PassportType::Electronic => Some(PassportType::Electronic),
    }
}

pub fn priority(p: Option<PriorityReason>) -> ui::PriorityReason {
    match p {
        None => ui::PriorityReason::None,
        Some(PriorityReason::Elderly) => ui::PriorityReason::Elderly,
        Some(PriorityReason::ChildUnder5) => ui::PriorityReason::ChildUnder5,
        Some(PriorityReason::Pregnant) => ui::PriorityReason::Pregnant,
        Some(PriorityReason::Disabled) => ui::PriorityReason::Disabled,
    }
}

/// A declared reason; `none` declares neither.
pub fn priority_from(p: ui::PriorityReason) -> Option<PriorityReason> {
    match p {
        ui::PriorityReason::None => None,
        ui::PriorityReason::Elderly => Some(PriorityReason::Elderly),
        ui::PriorityReason::ChildUnder5 => Some(PriorityReason::ChildUnder5),
        ui::PriorityReason::Pregnant => Some(PriorityReason::Pregnant),
        ui::PriorityReason::Disabled => Some(PriorityReason::Disabled),
    }
}

pub fn document(d: Document) -> ui::Document {
    match d {
        Document::Ektp => ui::Document::Ektp,
        Document::ParentsEktp => ui::Document::ParentsEktp,
        Document::FamilyCard => ui::Document::FamilyCard,
        Document::CivilRecord => ui::Document::CivilRecord,
        Document::BirthCertificate => ui::Document::BirthCertificate,
        Document::ParentsMarriageCertificate => ui::Document::ParentsMarriageCertificate,
        Document::OldPassport => ui::Document::OldPassport,
        Document::DamagedPassport => ui::Document::DamagedPassport,
        Document::PoliceReport => ui::Document::PoliceReport,
    }
}

pub fn sex(s: Sex) -> ui::Sex {
    match s {
        Sex::Male => ui::Sex::Male,
        Sex::Female => ui::Sex::Female,
    }
}

/// Why a session cannot be booked; `None` when it can.
pub fn session_block(b: Option<SessionBlock>) -> ui::SessionBlock {
    match b {
        None => ui::SessionBlock::None,
        Some(SessionBlock::BookingClosed) => ui::SessionBlock::BookingClosed,
        Some(SessionBlock::TooFewRegular) => ui::SessionBlock::TooFewRegular,
        Some(SessionBlock::TooFewPriority) => ui::SessionBlock::TooFewPriority,
        Some(SessionBlock::NeedsNetwork) => ui::SessionBlock::NeedsNetwork,
        Some(SessionBlock::Current) => ui::SessionBlock::Current,
    }
}

pub fn day_state(d: DayState) -> ui::DayState {
    match d {
        DayState::Open => ui::DayState::Open,
        DayState::Full => ui::DayState::Full,
        DayState::NeedsNetwork => ui::DayState::NeedsNetwork,
        DayState::Closed => ui::DayState::Closed,
        DayState::Holiday => ui::DayState::Holiday,
    }
}

/// The reader's state as the daemon publishes it. A reader in error, or in a state this
/// build does not know, is as good as not there for an applicant, and is told as such.
pub fn reader_state(state: &ReaderState) -> ui::ReaderState {
    match state {
        ReaderState::Ok => ui::ReaderState::Ok,
        ReaderState::SamMissing => ui::ReaderState::SamMissing,
        ReaderState::Disconnected | ReaderState::Error | ReaderState::Other(_) => {
            ui::ReaderState::Disconnected
        }
    }
}

/// Why the kiosk takes no bookings. The reason is a code of whoever holds the kiosk: the
/// technician's (a [`HoldReason`]), the enrollment's, the sync guardrail's, the disk's,
/// the clock's or the reader's; any other is shown as it was given.
pub fn out_of_service(reason: Option<&str>) -> ui::OutOfService {
    let Some(code) = reason else {
        return ui::OutOfService::None;
    };
    if let Some(hold) = HoldReason::from_code(code) {
        return match hold {
            HoldReason::Maintenance => ui::OutOfService::Maintenance,
            HoldReason::PrinterFault => ui::OutOfService::PrinterFault,
            HoldReason::ReaderFault => ui::OutOfService::ReaderFault,
            HoldReason::OfficeClosed => ui::OutOfService::OfficeClosed,
            HoldReason::Relocating => ui::OutOfService::Relocating,
        };
    }
    use crate::flow::{Guardrail, HoldReason as Hold};
    match code {
        c if c == Hold::NotEnrolled.code() => ui::OutOfService::NotEnrolled,
        c if c == Guardrail::SyncOverdue.code() => ui::OutOfService::SyncOverdue,
        c if c == Guardrail::SyncBacklog.code() => ui::OutOfService::SyncBacklog,
        c if c == Hold::DiskFull.code() => ui::OutOfService::DiskFull,
        c if c == Hold::ClockWrong.code() => ui::OutOfService::ClockWrong,
        c if c == Hold::ReaderGone.code() => ui::OutOfService::ReaderGone,
        _ => ui::OutOfService::Other,
    }
}

/// A part of the maintenance report.
pub fn report_part(p: Part) -> ui::ReportPart {
    match p {
        Part::Kiosk => ui::ReportPart::Kiosk,
        Part::Printer => ui::ReportPart::Printer,
        Part::Reader => ui::ReportPart::Reader,
        Part::Network => ui::ReportPart::Network,
        Part::Queue => ui::ReportPart::Queue,
        Part::Held => ui::ReportPart::Held,
        Part::Rejections => ui::ReportPart::Rejections,
        Part::Disk => ui::ReportPart::Disk,
        Part::Calls => ui::ReportPart::Calls,
        // The menu lists the change queue with the upload queue.
        Part::Changes => ui::ReportPart::Queue,
    }
}

/// The menu's label for a row of the maintenance report; `None` for the rows only the
/// text report (`apm-kiosk maint status`) shows, which the menu has no words for.
pub fn report_label(l: Label) -> Option<ui::ReportLabel> {
    Some(match l {
        Label::Version => ui::ReportLabel::Version,
        Label::KioskId => ui::ReportLabel::Kiosk,
        Label::Uptime => ui::ReportLabel::Uptime,
        Label::PrinterState => ui::ReportLabel::Printer,
        Label::Paper => ui::ReportLabel::Paper,
        Label::Cover => ui::ReportLabel::Cover,
        Label::PrinterError => ui::ReportLabel::PrinterError,
        Label::Unprinted => ui::ReportLabel::Unprinted,
        Label::ReaderState => ui::ReportLabel::Reader,
        Label::Firmware => ui::ReportLabel::Firmware,
        Label::Sam => ui::ReportLabel::Sam,
        Label::Network => ui::ReportLabel::Network,
        Label::CentralService => ui::ReportLabel::Service,
        Label::LastSync => ui::ReportLabel::LastSync,
        Label::SyncError => ui::ReportLabel::SyncError,
        Label::ClockSkew => ui::ReportLabel::ClockSkew,
        Label::Unsynced => ui::ReportLabel::Unsynced,
        Label::OldestUnsynced => ui::ReportLabel::OldestUnsynced,
        Label::Rejected => ui::ReportLabel::Rejected,
        Label::HeldFree => ui::ReportLabel::HeldFree,
        Label::Disk => ui::ReportLabel::Disk,
        Label::Rejection => ui::ReportLabel::Rejection,
        Label::Held => ui::ReportLabel::Held,
        Label::CallsTotal => ui::ReportLabel::CallsTotal,
        Label::CallsLast => ui::ReportLabel::CallsLast,
        Label::OpenCall => ui::ReportLabel::OpenCall,
        Label::ChangesWaiting => ui::ReportLabel::ChangesWaiting,
        Label::OldestChange => ui::ReportLabel::OldestUnsynced,
        Label::Screen
        | Label::Service
        | Label::Menu
        | Label::Settings
        | Label::Started
        | Label::Device
        | Label::SyncRounds
        | Label::LastHeartbeat
        | Label::Registrations
        | Label::ServiceLacks
        | Label::RefusedChange => return None,
    })
}

/// The technician's hold, if there is one.
pub fn technician_hold(h: Option<HoldReason>) -> ui::TechnicianHold {
    match h {
        None => ui::TechnicianHold::None,
        Some(HoldReason::Maintenance) => ui::TechnicianHold::Maintenance,
        Some(HoldReason::PrinterFault) => ui::TechnicianHold::PrinterFault,
        Some(HoldReason::ReaderFault) => ui::TechnicianHold::ReaderFault,
        Some(HoldReason::OfficeClosed) => ui::TechnicianHold::OfficeClosed,
        Some(HoldReason::Relocating) => ui::TechnicianHold::Relocating,
    }
}

/// The reason a tap asks for; `None` for `none`, which no button sends.
pub fn technician_hold_from(h: ui::TechnicianHold) -> Option<HoldReason> {
    match h {
        ui::TechnicianHold::None => None,
        ui::TechnicianHold::Maintenance => Some(HoldReason::Maintenance),
        ui::TechnicianHold::PrinterFault => Some(HoldReason::PrinterFault),
        ui::TechnicianHold::ReaderFault => Some(HoldReason::ReaderFault),
        ui::TechnicianHold::OfficeClosed => Some(HoldReason::OfficeClosed),
        ui::TechnicianHold::Relocating => Some(HoldReason::Relocating),
    }
}

pub fn orientation(o: Orientation) -> ui::ScreenOrientation {
    match o {
        Orientation::Landscape => ui::ScreenOrientation::Landscape,
        Orientation::Portrait => ui::ScreenOrientation::Portrait,
        Orientation::LandscapeFlipped => ui::ScreenOrientation::LandscapeFlipped,
        Orientation::PortraitFlipped => ui::ScreenOrientation::PortraitFlipped,
    }
}

pub fn orientation_from(o: ui::ScreenOrientation) -> Orientation {
    match o {
        ui::ScreenOrientation::Landscape => Orientation::Landscape,
        ui::ScreenOrientation::Portrait => Orientation::Portrait,
        ui::ScreenOrientation::LandscapeFlipped => Orientation::LandscapeFlipped,
        ui::ScreenOrientation::PortraitFlipped => Orientation::PortraitFlipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_holder_of_the_kiosk_has_its_words() {
        let cases = [
            (None, ui::OutOfService::None),
            (Some("not_enrolled"), ui::OutOfService::NotEnrolled),
            (Some("sync_overdue"), ui::OutOfService::SyncOverdue),
            (Some("sync_backlog"), ui::OutOfService::SyncBacklog),
            (Some("maintenance"), ui::OutOfService::Maintenance),
            (Some("printer_fault"), ui::OutOfService::PrinterFault),
            (Some("reader_fault"), ui::OutOfService::ReaderFault),
            (Some("office_closed"), ui::OutOfService::OfficeClosed),
            (Some("relocating"), ui::OutOfService::Relocating),
            (Some("disk_full"), ui::OutOfService::DiskFull),
            (Some("clock_wrong"), ui::OutOfService::ClockWrong),
            (Some("reader_gone"), ui::OutOfService::ReaderGone),
            (Some("lunch"), ui::OutOfService::Other),
        ];
        for (reason, want) in cases {
            assert_eq!(out_of_service(reason), want, "{reason:?}");
        }
    }

    #[test]
    fn taps_come_back_as_what_was_shown() {
        for a in ApplicationType::ALL {
            assert_eq!(application_type_from(application_type(Some(a))), Some(a));
        }
        for p in PassportType::ALL {
            assert_eq!(passport_type_from(passport_type(Some(p))), Some(p));
        }
        for l in [Language::Id, Language::En] {
            assert_eq!(language_from(language(l)), Some(l));
        }
        assert_eq!(priority_from(priority(None)), None);
        assert_eq!(
            priority_from(priority(Some(PriorityReason::Pregnant))),
            Some(PriorityReason::Pregnant)
        );
        assert_eq!(language_from(ui::Language::Unset), None);
        assert_eq!(reader_state(&ReaderState::Ok), ui::ReaderState::Ok);
        assert_eq!(
            reader_state(&ReaderState::SamMissing),
            ui::ReaderState::SamMissing
        );
        assert_eq!(
            reader_state(&ReaderState::from_code("unplugged?")),
            ui::ReaderState::Disconnected
        );
    }

    #[test]
    fn the_menus_taps_come_back_as_what_was_shown() {
        for h in HoldReason::ALL {
            assert_eq!(technician_hold_from(technician_hold(Some(h))), Some(h));
        }
        assert_eq!(technician_hold_from(ui::TechnicianHold::None), None);
        for o in [
            Orientation::Landscape,
            Orientation::Portrait,
            Orientation::LandscapeFlipped,
            Orientation::PortraitFlipped,
        ] {
            assert_eq!(orientation_from(orientation(o)), o);
        }
    }
}
