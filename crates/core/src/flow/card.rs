//! What the card reader hands the kiosk, in the flow's terms: the fields of a card that
//! was read ([`CardFields`]) and what an applicant can do about a read that failed
//! ([`CardProblem`]). The reader's bytes are `protocol::reader`'s; what the flow does
//! with a card is `step`'s.

use super::{CardFields, CardProblem};
use crate::protocol::reader::{CardData, ReadErrorCode};

impl From<CardData> for CardFields {
    fn from(card: CardData) -> CardFields {
        CardFields {
            nik: card.nik,
            name: card.name,
            birth_place: card.birth_place,
            birth_date: card.birth_date,
            sex: card.sex,
            address: card.address,
        }
    }
}

impl From<ReadErrorCode> for CardProblem {
    fn from(code: ReadErrorCode) -> CardProblem {
        match code {
            ReadErrorCode::NoCard | ReadErrorCode::CardRemoved => CardProblem::NotStill,
            ReadErrorCode::NotEktp => CardProblem::NotEktp,
            ReadErrorCode::ChipAuthFailed => CardProblem::ChipRejected,
            ReadErrorCode::SamUnavailable => CardProblem::ReaderFault,
            ReadErrorCode::TimedOut | ReadErrorCode::Unknown(_) => CardProblem::ReadFailed,
        }
    }
}

impl CardProblem {
    /// The problem's code, as the view and the control channel spell it.
    pub fn code(self) -> &'static str {
        match self {
            CardProblem::NotStill => "not_still",
            CardProblem::NotEktp => "not_ektp",
            CardProblem::ChipRejected => "chip_rejected",
            CardProblem::ReadFailed => "read_failed",
            CardProblem::ReaderFault => "reader_fault",
            CardProblem::DataCorrupt => "data_corrupt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_wire_names() {
        for p in [
            CardProblem::NotStill,
            CardProblem::NotEktp,
            CardProblem::ChipRejected,
            CardProblem::ReadFailed,
            CardProblem::ReaderFault,
            CardProblem::DataCorrupt,
        ] {
            assert_eq!(
                serde_json::to_value(p).expect("json"),
                serde_json::json!(p.code())
            );
        }
    }

    #[test]
    fn every_read_error_has_a_way_out() {
        let cases = [
            (ReadErrorCode::NoCard, CardProblem::NotStill),
            (ReadErrorCode::CardRemoved, CardProblem::NotStill),
            (ReadErrorCode::NotEktp, CardProblem::NotEktp),
            (ReadErrorCode::ChipAuthFailed, CardProblem::ChipRejected),
            (ReadErrorCode::SamUnavailable, CardProblem::ReaderFault),
            (ReadErrorCode::TimedOut, CardProblem::ReadFailed),
            (ReadErrorCode::Unknown(0x7f), CardProblem::ReadFailed),
        ];
        for (code, want) in cases {
            assert_eq!(CardProblem::from(code), want, "{code:?}");
        }
    }
}
