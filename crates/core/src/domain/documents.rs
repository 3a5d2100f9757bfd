//! What each applicant must bring to the counter: one list, the fact the printed ticket
//! ([`crate::protocol::escpos`]) and the done page (the view's `documents`) both word.
//! Codes only; each front end says them in the applicant's language.
//!
//! The lists are what the immigration offices ask for a passport (Permenkumham 8/2014
//! and the offices' own notices), kept on the side of too much: an applicant from an
//! island who is sent home for a missing paper loses a day's crossing.
//!
//! - An adult: their own e-KTP, the family card (KK), and one civil record (birth
//!   certificate, marriage certificate or school diploma), for every application type.
//! - A child (no KTP of their own): both parents' e-KTP, the KK, the child's birth
//!   certificate and the parents' marriage certificate (buku nikah / akta perkawinan).
//! - Then by application type: nothing more for a new passport; the old passport for a
//!   replacement; the damaged passport for a damaged one; the police's report of loss
//!   for a lost one.
//!
//! Proof of a priority reason (a doctor's or midwife's letter, a disability card) is
//! not here: the ticket says what the officer checks beside the priority mark.

use serde::{Deserialize, Serialize};

use super::ApplicationType;

/// One paper to bring, in the order the lists give them (own identity first, then the
/// family's, then what the application type adds). On the wire in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    /// The applicant's own e-KTP (KTP-el), the original.
    Ektp,
    /// For a child: the father's and the mother's e-KTP.
    ParentsEktp,
    /// The family card (Kartu Keluarga).
    FamilyCard,
    /// For an adult: a birth certificate, marriage certificate or school diploma.
    CivilRecord,
    /// For a child: the child's birth certificate (akta kelahiran).
    BirthCertificate,
    /// For a child: the parents' marriage certificate (buku nikah / akta perkawinan).
    ParentsMarriageCertificate,
    /// A replacement: the passport being replaced.
    OldPassport,
    /// A damaged passport: the damaged passport itself.
    DamagedPassport,
    /// A lost passport: the police's report of the loss.
    PoliceReport,
}

impl Document {
    pub const ALL: [Document; 9] = [
        Document::Ektp,
        Document::ParentsEktp,
        Document::FamilyCard,
        Document::CivilRecord,
        Document::BirthCertificate,
        Document::ParentsMarriageCertificate,
        Document::OldPassport,
        Document::DamagedPassport,
        Document::PoliceReport,
    ];
}

/// What one applicant brings for `application`, a child (`child`: entered on the
/// keypad with the family card, no KTP of their own) or an adult.
pub fn to_bring(application: ApplicationType, child: bool) -> Vec<Document> {
    let mut docs = if child {
        vec![
            Document::ParentsEktp,
            Document::FamilyCard,
            Document::BirthCertificate,
            Document::ParentsMarriageCertificate,
        ]
    } else {
        vec![Document::Ektp, Document::FamilyCard, Document::CivilRecord]
    };
    match application {
        ApplicationType::New => {}
        ApplicationType::Replacement => docs.push(Document::OldPassport),
        ApplicationType::Damaged => docs.push(Document::DamagedPassport),
        ApplicationType::Lost => docs.push(Document::PoliceReport),
    }
    docs
}

/// What a group brings between them, each paper once, in [`Document`]'s order: the
/// done page's one list for the whole family.
pub fn for_group(members: impl IntoIterator<Item = (ApplicationType, bool)>) -> Vec<Document> {
    let mut all: Vec<Document> = members
        .into_iter()
        .flat_map(|(application, child)| to_bring(application, child))
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::*;
    use Document::*;

    #[test]
    fn each_applicant_brings_their_identity_and_what_the_type_adds() {
        let cases: [(ApplicationType, bool, &[Document]); 8] = [
            (New, false, &[Ektp, FamilyCard, CivilRecord]),
            (
                Replacement,
                false,
                &[Ektp, FamilyCard, CivilRecord, OldPassport],
            ),
            (
                Damaged,
                false,
                &[Ektp, FamilyCard, CivilRecord, DamagedPassport],
            ),
            (Lost, false, &[Ektp, FamilyCard, CivilRecord, PoliceReport]),
            (
                New,
                true,
                &[
                    ParentsEktp,
                    FamilyCard,
                    BirthCertificate,
                    ParentsMarriageCertificate,
                ],
            ),
            (
                Replacement,
                true,
                &[
                    ParentsEktp,
                    FamilyCard,
                    BirthCertificate,
                    ParentsMarriageCertificate,
                    OldPassport,
                ],
            ),
            (
                Damaged,
                true,
                &[
                    ParentsEktp,
                    FamilyCard,
                    BirthCertificate,
                    ParentsMarriageCertificate,
                    DamagedPassport,
                ],
            ),
            (
                Lost,
                true,
                &[
                    ParentsEktp,
                    FamilyCard,
                    BirthCertificate,
                    ParentsMarriageCertificate,
                    PoliceReport,
                ],
            ),
        ];
        for (application, child, want) in cases {
            assert_eq!(
                to_bring(application, child),
                want,
                "{application:?} {child}"
            );
        }
        // A child never brings an e-KTP of their own; an adult never their parents'.
        for application in ApplicationType::ALL {
            assert!(!to_bring(application, true).contains(&Ektp));
            assert!(!to_bring(application, false).contains(&ParentsEktp));
        }
    }

    #[test]
    fn a_group_brings_each_paper_once_in_order() {
        let family = [(Replacement, false), (New, false), (Lost, true)];
        assert_eq!(
            for_group(family),
            [
                Ektp,
                ParentsEktp,
                FamilyCard,
                CivilRecord,
                BirthCertificate,
                ParentsMarriageCertificate,
                OldPassport,
                PoliceReport
            ]
        );
        assert_eq!(for_group([]), []);
        let mut sorted = Document::ALL;
        sorted.sort();
        assert_eq!(sorted, Document::ALL, "ALL is in the lists' order");
    }

    #[test]
    fn documents_are_snake_case_on_the_wire() {
        let wire = serde_json::to_string(&[ParentsMarriageCertificate, Ektp, PoliceReport])
            .unwrap_or_default();
        assert_eq!(
            wire,
            r#"["parents_marriage_certificate","ektp","police_report"]"#
        );
    }
}
