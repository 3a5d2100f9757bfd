//! The printed ticket's fixed words in Bahasa Indonesia and English, all plain ASCII:
//! labels, the GRATIS line, what to bring (`domain::documents`' codes as words), and
//! why a priority ticket is priority with what the officer checks. The layout that
//! places them is [`super::escpos`]'s; the screen's words are `ui/words.slint`'s.
//!
//! What the officer checks for each priority reason, as the counter would: the birth
//! date on the e-KTP for the elderly (60 or over); the birth date on the birth
//! certificate for a child under 5; a letter from a doctor or midwife for a pregnancy;
//! a disability card (Kartu Penyandang Disabilitas) or a doctor's letter, where the
//! disability is not plain to see.

use crate::domain::documents::Document;
use crate::domain::{ApplicationType, Language, PassportType, PriorityReason};

pub(super) struct Labels {
    pub copy: &'static str,
    /// Prominent, at double height: the ticket costs nothing and is nobody's to sell.
    pub free: &'static str,
    /// Before the office's opening hours.
    pub open: &'static str,
    pub queue_number: &'static str,
    pub priority: &'static str,
    pub session: &'static str,
    pub name: &'static str,
    /// A child's name line when no name was typed.
    pub name_from_kk: &'static str,
    pub application: &'static str,
    pub booking_code: &'static str,
    pub bring: &'static str,
    pub qr_unavailable: &'static str,
    pub language: Language,
}

impl Labels {
    pub fn of(language: Language) -> Labels {
        match language {
            Language::Id => Labels {
                copy: "SALINAN",
                free: "GRATIS, tidak untuk diperjualbelikan",
                open: "Buka",
                queue_number: "NOMOR ANTREAN",
                priority: "PRIORITAS",
                session: "Sesi",
                name: "Nama",
                name_from_kk: "(diisi petugas dari KK)",
                application: "Paspor",
                booking_code: "Kode pendaftaran",
                bring: "Bawa yang asli:",
                qr_unavailable: "Kode QR tidak tersedia: sebutkan kode pendaftaran di loket.",
                language,
            },
            Language::En => Labels {
                copy: "COPY",
                free: "FREE, not for sale",
                open: "Open",
                queue_number: "QUEUE NUMBER",
                priority: "PRIORITY",
                session: "Session",
                name: "Name",
                name_from_kk: "(officer fills in from KK)",
                application: "Passport",
                booking_code: "Registration code",
                bring: "Bring originals:",
                qr_unavailable: "QR code unavailable: give the registration code at the counter.",
                language,
            },
        }
    }

    pub fn application_type(&self, t: ApplicationType) -> &'static str {
        match (self.language, t) {
            (Language::Id, ApplicationType::New) => "Baru",
            (Language::Id, ApplicationType::Replacement) => "Penggantian",
            (Language::Id, ApplicationType::Lost) => "Hilang",
            (Language::Id, ApplicationType::Damaged) => "Rusak",
            (Language::En, ApplicationType::New) => "New",
            (Language::En, ApplicationType::Replacement) => "Replacement",
            (Language::En, ApplicationType::Lost) => "Lost",
            (Language::En, ApplicationType::Damaged) => "Damaged",
        }
    }

    pub fn passport_type(&self, t: PassportType) -> &'static str {
        match (self.language, t) {
            (Language::Id, PassportType::Regular48) => "biasa",
            (Language::Id, PassportType::Electronic) => "elektronik",
            (Language::En, PassportType::Regular48) => "regular",
            (Language::En, PassportType::Electronic) => "electronic",
        }
    }

    /// One paper to bring, as the bullet says it.
    pub fn document(&self, d: Document) -> &'static str {
        match (self.language, d) {
            (Language::Id, Document::Ektp) => "e-KTP",
            (Language::Id, Document::ParentsEktp) => "e-KTP ayah & ibu",
            (Language::Id, Document::FamilyCard) => "Kartu Keluarga",
            (Language::Id, Document::CivilRecord) => "Akta lahir/buku nikah/ijazah",
            (Language::Id, Document::BirthCertificate) => "Akta lahir anak",
            (Language::Id, Document::ParentsMarriageCertificate) => "Buku nikah orang tua",
            (Language::Id, Document::OldPassport) => "Paspor lama",
            (Language::Id, Document::DamagedPassport) => "Paspor yang rusak",
            (Language::Id, Document::PoliceReport) => "Surat hilang dari Polisi",
            (Language::En, Document::Ektp) => "e-KTP",
            (Language::En, Document::ParentsEktp) => "Both parents' e-KTP",
            (Language::En, Document::FamilyCard) => "Family card (KK)",
            (Language::En, Document::CivilRecord) => "Birth/marriage cert. or diploma",
            (Language::En, Document::BirthCertificate) => "Child's birth cert.",
            (Language::En, Document::ParentsMarriageCertificate) => "Parents' marriage cert.",
            (Language::En, Document::OldPassport) => "Old passport",
            (Language::En, Document::DamagedPassport) => "Damaged passport",
            (Language::En, Document::PoliceReport) => "Police report of loss",
        }
    }

    /// Why the ticket is priority and what the officer checks for it.
    pub fn priority_reason(&self, reason: PriorityReason) -> &'static str {
        match (self.language, reason) {
            (Language::Id, PriorityReason::Elderly) => {
                "Lansia 60+: petugas memeriksa umur di e-KTP."
            }
            (Language::Id, PriorityReason::ChildUnder5) => {
                "Balita: petugas memeriksa umur di akta lahir."
            }
            (Language::Id, PriorityReason::Pregnant) => {
                "Ibu hamil: petugas memeriksa surat dokter/bidan."
            }
            (Language::Id, PriorityReason::Disabled) => {
                "Disabilitas: petugas memeriksa kartu/tanda disabilitas."
            }
            (Language::En, PriorityReason::Elderly) => {
                "Aged 60+: the officer checks the age on the e-KTP."
            }
            (Language::En, PriorityReason::ChildUnder5) => {
                "Under 5: the officer checks the birth certificate."
            }
            (Language::En, PriorityReason::Pregnant) => {
                "Pregnant: the officer checks a doctor's/midwife's letter."
            }
            (Language::En, PriorityReason::Disabled) => {
                "Disability: the officer checks a disability card/sign."
            }
        }
    }
}
