//! A crowd of invented applicants for the simulation: people with KTP data whose NIKs
//! are structurally valid and agree with their birth dates and sex, grouped into visits
//! with the behaviour of real kiosk users (families, elderly applicants, cards that do
//! not read at first, a typo on the keypad, someone who booked earlier laid again in
//! another family's group, someone who picks a full day, someone who walks away), and
//! people who come back to the kiosk for the booking they made: to print it again, move
//! it to another day, or cancel it. Deterministic for a seed.
//!
//! No real person is in here: names are combined at random from common given names and
//! NIK serials are drawn at random.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::domain::Sex;

/// An invented person and what their KTP holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub nik: String,
    pub name: String,
    pub birth_place: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub address: String,
    pub kk: String,
}

/// How a member of a visit gets identified at the kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Their own KTP on the reader; `failures` reads fail first (card moved, chip slow).
    Card { person: Person, failures: u32 },
    /// A child without a KTP: NIK and KK typed on the keypad.
    Child { person: Person },
}

/// Whether the parent types the child's name on the kiosk's letter keypad (it is
/// optional): about half do, those whose child was born on an even day, so that the
/// crowd's draws (and a seed's summary) stay as they were.
pub fn types_the_name(child: &Person) -> bool {
    child.birth_date.day().is_multiple_of(2)
}

impl Entry {
    pub fn person(&self) -> &Person {
        match self {
            Entry::Card { person, .. } | Entry::Child { person } => person,
        }
    }
}

/// What makes a visit more than the plain path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    Plain,
    /// Declares a disability for the priority queue.
    DeclaresDisability,
    /// Taps a day the kiosk shows as full before choosing another.
    TriesFullDay,
    /// A person who booked earlier in the day is laid again as a member of another
    /// family's group: one booking per NIK refuses them, the rest of the group books.
    SecondBooking,
    /// A person who booked earlier comes back to "my booking" and does this to it.
    ComesBack(Return),
    /// The card fails three times, and the NIK typed on the keypad has a typo.
    KeypadTypo,
    /// A card whose chip NIK disagrees with its birth date (a forged or damaged card).
    MismatchedCard,
    /// Leaves on the session screen: the inactivity timeout wipes the session.
    WalksAway,
    /// Changes their mind on the review screen.
    CancelsAtReview,
}

/// What a person who comes back does to their booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Return {
    Reprint,
    Reschedule,
    Cancel,
}

impl Return {
    const ROTATION: [Return; 3] = [Return::Reprint, Return::Reschedule, Return::Cancel];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub number: usize,
    pub lead: Entry,
    pub members: Vec<Entry>,
    pub office_id: &'static str,
    pub behaviour: Behaviour,
}

const MALE: &[&str] = &[
    "BUDI", "AGUS", "RUDI", "HENDRA", "ANDI", "JOKO", "RIZKY", "FAJAR", "DEDI", "YUSUF", "IRFAN",
    "ARIF", "BAMBANG", "SLAMET", "HASAN", "RAHMAT", "TAUFIK", "WAHYU", "EKO", "IMAM",
];
const FEMALE: &[&str] = &[
    "SITI", "DEWI", "RINA", "AYU", "NUR", "LESTARI", "FITRI", "INDAH", "WULAN", "MAYA", "SRI",
    "RATNA", "YULIA", "PUTRI", "NOVI", "ANI", "WATI", "LINDA", "RAHMA", "DIAN",
];
const SECOND: &[&str] = &[
    "SANTOSO",
    "AMINAH",
    "HIDAYAT",
    "SAPUTRA",
    "LESTARI",
    "PRATAMA",
    "WIJAYA",
    "KURNIAWAN",
    "SARI",
    "RAHAYU",
    "SETIAWAN",
    "HASIBUAN",
    "NASUTION",
    "SIREGAR",
    "PANJAITAN",
    "TANJUNG",
    "SYAHPUTRA",
    "MAULANA",
    "PERMATA",
    "HANDAYANI",
];
const STREETS: &[&str] = &[
    "JL. NUSANTARA",
    "JL. TELUK AIR",
    "JL. AMD",
    "JL. POROS",
    "JL. PELABUHAN",
    "JL. MERDEKA",
    "JL. SUDIRMAN",
    "JL. KAPLING",
    "JL. PRAMUKA",
    "JL. CANDI",
];

/// Province, regency, districts, birth place: where applicants at a Karimun kiosk are
/// from. Mostly Karimun itself, some from the rest of the Riau Islands, a few movers.
const ORIGINS: &[(u8, u8, u8, &str, u32)] = &[
    (21, 2, 12, "KARIMUN", 60),
    (21, 71, 12, "BATAM", 12),
    (21, 72, 4, "TANJUNGPINANG", 6),
    (21, 1, 10, "BINTAN", 5),
    (14, 71, 12, "PEKANBARU", 5),
    (31, 71, 8, "JAKARTA", 4),
    (12, 71, 21, "MEDAN", 4),
    (73, 71, 14, "MAKASSAR", 2),
    (94, 71, 5, "JAYAPURA", 2),
];

pub struct Crowd {
    rng: StdRng,
    used_niks: HashSet<String>,
    today: NaiveDate,
}

impl Crowd {
    pub fn new(seed: u64, today: NaiveDate) -> Crowd {
        Crowd {
            rng: StdRng::seed_from_u64(seed),
            used_niks: HashSet::new(),
            today,
        }
    }

    fn origin(&mut self) -> (u8, u8, u8, &'static str) {
        let total: u32 = ORIGINS.iter().map(|o| o.4).sum();
        let mut pick = self.rng.gen_range(0..total);
        for &(p, r, districts, place, weight) in ORIGINS {
            if pick < weight {
                return (p, r, self.rng.gen_range(1..=districts), place);
            }
            pick -= weight;
        }
        (21, 2, 1, "KARIMUN")
    }

    fn date_between(&mut self, from_year: i32, to_year: i32) -> NaiveDate {
        loop {
            let y = self.rng.gen_range(from_year..=to_year);
            let m = self.rng.gen_range(1..=12);
            let d = self.rng.gen_range(1..=31);
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
                && date < self.today
            {
                return date;
            }
        }
    }

    fn nik(&mut self, p: u8, r: u8, dist: u8, birth: NaiveDate, sex: Sex) -> String {
        loop {
            let day = birth.day() + if sex == Sex::Female { 40 } else { 0 };
            let serial = self.rng.gen_range(1..=9999);
            let nik = format!(
                "{p:02}{r:02}{dist:02}{day:02}{:02}{:02}{serial:04}",
                birth.month(),
                birth.year() % 100
            );
            if self.used_niks.insert(nik.clone()) {
                return nik;
            }
        }
    }

    fn kk(&mut self, p: u8, r: u8, dist: u8) -> String {
        let issued = self.date_between(2008, 2024);
        format!(
            "{p:02}{r:02}{dist:02}{:02}{:02}{:02}{:04}",
            issued.day(),
            issued.month(),
            issued.year() % 100,
            self.rng.gen_range(1..=9999)
        )
    }

    fn person_in(
        &mut self,
        home: (u8, u8, u8, &'static str),
        kk: &str,
        surname: &str,
        years: (i32, i32),
        sex: Sex,
    ) -> Person {
        let birth_date = self.date_between(years.0, years.1);
        let given = match sex {
            Sex::Male => MALE,
            Sex::Female => FEMALE,
        };
        let first = given.choose(&mut self.rng).copied().unwrap_or("BUDI");
        let street = STREETS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("JL. POROS");
        let (p, r, dist, place) = home;
        Person {
            nik: self.nik(p, r, dist, birth_date, sex),
            name: format!("{first} {surname}"),
            birth_place: place.to_string(),
            birth_date,
            sex,
            address: format!("{street} NO. {}", self.rng.gen_range(1..=120)),
            kk: kk.to_string(),
        }
    }

    fn household(&mut self) -> ((u8, u8, u8, &'static str), String, String) {
        let home = self.origin();
        let kk = self.kk(home.0, home.1, home.2);
        let surname = SECOND
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("SANTOSO")
            .to_string();
        (home, kk, surname)
    }

    fn sex(&mut self) -> Sex {
        if self.rng.gen_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    fn adult(&mut self) -> Person {
        let (home, kk, surname) = self.household();
        let sex = self.sex();
        let y = self.today.year();
        self.person_in(home, &kk, &surname, (y - 58, y - 18), sex)
    }

    fn office(&mut self) -> &'static str {
        match self.rng.gen_range(0..10) {
            0 => "BTM",
            1 => "MKS",
            _ => "KRM",
        }
    }

    /// `n` visits. The mix: about half plain single adults, families of two to four,
    /// elderly applicants (priority by age), and one of each special behaviour per ten
    /// or so visits. A second booking reuses a person of an earlier visit; every fifth
    /// visit that is not special is someone coming back (to reprint, reschedule and
    /// cancel in turn), each the lead of a different earlier plain single visit.
    pub fn visits(&mut self, n: usize) -> Vec<Visit> {
        let mut visits: Vec<Visit> = Vec::with_capacity(n);
        let y = self.today.year();
        for number in 1..=n {
            let behaviour = behaviour_of(number);
            let office_id = self.office();
            let roll = self.rng.gen_range(0..100);
            let returns = visits
                .iter()
                .filter(|v| matches!(v.behaviour, Behaviour::ComesBack(_)))
                .count();
            let earlier = |nth: usize| {
                visits
                    .iter()
                    .filter(|v| v.behaviour == Behaviour::Plain && v.members.is_empty())
                    .nth(nth)
                    .map(|v| (v.lead.clone(), v.office_id))
            };
            let (lead, members) = if behaviour == Behaviour::SecondBooking {
                let lead = Entry::Card {
                    person: self.adult(),
                    failures: 0,
                };
                (lead, earlier(0).map(|(e, _)| e).into_iter().collect())
            } else if let (Behaviour::ComesBack(_), Some((lead, office))) =
                (behaviour, earlier(returns))
            {
                visits.push(Visit {
                    number,
                    lead,
                    members: Vec::new(),
                    office_id: office,
                    behaviour,
                });
                continue;
            } else if roll < 20 && behaviour == Behaviour::Plain {
                // A family: two parents' cards and children on the keypad.
                let (home, kk, surname) = self.household();
                let mother = self.person_in(home, &kk, &surname, (y - 45, y - 25), Sex::Female);
                let father = self.person_in(home, &kk, &surname, (y - 50, y - 26), Sex::Male);
                let kids = self.rng.gen_range(0..=2);
                let mut members = vec![Entry::Card {
                    person: father,
                    failures: 0,
                }];
                for _ in 0..kids {
                    let sex = self.sex();
                    let child = self.person_in(home, &kk, &surname, (y - 14, y - 1), sex);
                    members.push(Entry::Child { person: child });
                }
                (
                    Entry::Card {
                        person: mother,
                        failures: 0,
                    },
                    members,
                )
            } else if roll < 35 && behaviour == Behaviour::Plain {
                let (home, kk, surname) = self.household();
                let sex = self.sex();
                let elder = self.person_in(home, &kk, &surname, (y - 85, y - 61), sex);
                (
                    Entry::Card {
                        person: elder,
                        failures: 0,
                    },
                    Vec::new(),
                )
            } else {
                let failures = match behaviour {
                    Behaviour::KeypadTypo => 3,
                    _ if roll >= 90 => 1,
                    _ => 0,
                };
                (
                    Entry::Card {
                        person: self.adult(),
                        failures,
                    },
                    Vec::new(),
                )
            };
            visits.push(Visit {
                number,
                lead,
                members,
                office_id,
                behaviour,
            });
        }
        visits
    }
}

/// What visit `number` does. Specials at fixed places so every run of 20 or more meets
/// each of them; every fifth other visit someone comes back.
fn behaviour_of(number: usize) -> Behaviour {
    const SPECIALS: [Behaviour; 7] = [
        Behaviour::TriesFullDay,
        Behaviour::SecondBooking,
        Behaviour::KeypadTypo,
        Behaviour::MismatchedCard,
        Behaviour::DeclaresDisability,
        Behaviour::CancelsAtReview,
        Behaviour::WalksAway,
    ];
    if number % 7 == 4 {
        SPECIALS[(number / 7) % SPECIALS.len()]
    } else if number.is_multiple_of(5) {
        Behaviour::ComesBack(Return::ROTATION[(number / 5 - 1) % 3])
    } else {
        Behaviour::Plain
    }
}

/// A NIK as typed with a slip of the thumb: its month digits become 13, which no date
/// has, so the keypad refuses it with a reason.
pub fn typo(nik: &str) -> String {
    format!("{}13{}", &nik[..8], &nik[10..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::nik::Nik;

    #[test]
    fn every_invented_nik_is_valid_and_agrees_with_its_person() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let mut crowd = Crowd::new(7, today);
        let visits = crowd.visits(200);
        let mut seen = 0;
        for v in &visits {
            for e in std::iter::once(&v.lead).chain(&v.members) {
                let p = e.person();
                let (_, info) = Nik::parse(&p.nik, today).expect("invented NIK is valid");
                assert_eq!(
                    (info.birth_date, info.sex),
                    (p.birth_date, p.sex),
                    "{}",
                    p.name
                );
                assert_eq!(p.kk.len(), 16);
                seen += 1;
            }
        }
        assert!(seen > 200);
        assert!(Nik::parse(&typo(&visits[0].lead.person().nik), today).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_crowd_and_every_behaviour_appears() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let a = Crowd::new(1, today).visits(60);
        let b = Crowd::new(1, today).visits(60);
        assert_eq!(a, b);
        let kinds: HashSet<Behaviour> = a.iter().map(|v| v.behaviour).collect();
        assert_eq!(kinds.len(), 11, "{kinds:?}");
    }
}
