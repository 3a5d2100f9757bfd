//! Every string the touchscreen shows is translated: each `@tr("...")` in `ui/` has a
//! Bahasa Indonesia entry in `ui/translations/id/LC_MESSAGES/apm-kiosk.po`, the catalogue
//! holds nothing the pages no longer say, and no page shows a bare literal but the
//! few that are the same in every language.

use std::collections::BTreeSet;
use std::path::Path;

fn slint_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("ui directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            slint_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slint") {
            out.push(path);
        }
    }
}

/// The string literal starting at `s[0] == '"'`, unescaped, and its length in bytes.
fn literal(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 1),
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    out.push(match e {
                        'n' => '\n',
                        other => other,
                    });
                }
            }
            c => out.push(c),
        }
    }
    panic!("unterminated string literal: {s:.40}");
}

/// Each `@tr("...")` source string, and each `text: "..."` literal.
fn strings() -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut files = Vec::new();
    slint_files(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").as_path(),
        &mut files,
    );
    let mut tr = BTreeSet::new();
    let mut bare = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).expect("slint source");
        let mut rest = src.as_str();
        while let Some(at) = rest.find("@tr(") {
            let after = rest[at + 4..].trim_start();
            assert!(
                after.starts_with('"'),
                "{}: @tr without a literal",
                f.display()
            );
            let (s, len) = literal(after);
            tr.insert(s);
            rest = &after[len..];
        }
        for line in src.lines() {
            let line = line.trim();
            if let Some(value) = line.strip_prefix("text:") {
                let value = value.trim();
                if value.starts_with('"') {
                    bare.push((f.display().to_string(), literal(value).0));
                }
            }
        }
    }
    (tr, bare)
}

/// msgid -> msgstr of a .po file (single-line entries, as this catalogue is written).
fn catalogue() -> Vec<(String, String)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/translations/id/LC_MESSAGES/apm-kiosk.po");
    let text = std::fs::read_to_string(path).expect("the Indonesian catalogue");
    let mut out = Vec::new();
    let mut id: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("msgid ") {
            id = Some(literal(rest).0);
        } else if let Some(rest) = line.strip_prefix("msgstr ")
            && let Some(id) = id.take()
            && !id.is_empty()
        {
            out.push((id, literal(rest).0));
        }
    }
    out
}

#[test]
fn every_string_on_screen_has_its_bahasa_indonesia() {
    let (tr, _) = strings();
    let po = catalogue();
    let translated: BTreeSet<&str> = po
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(id, _)| id.as_str())
        .collect();
    let missing: Vec<&String> = tr
        .iter()
        .filter(|s| !translated.contains(s.as_str()))
        .collect();
    assert!(missing.is_empty(), "not translated: {missing:#?}");
    let stale: Vec<&str> = po
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !tr.contains(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "translated but no longer shown: {stale:#?}"
    );
    // Placeholders survive translation.
    for (id, s) in &po {
        assert_eq!(
            id.matches("{}").count(),
            s.matches("{}").count(),
            "placeholders differ in {id:?}"
        );
    }
    assert!(tr.len() > 150, "the pages say {} things", tr.len());
}

#[test]
fn no_page_shows_an_untranslated_literal() {
    // Names, symbols and the keypad's digits read the same in both languages.
    let same_everywhere = [
        "APM",
        "e-KTP",
        "A+",
        "◐",
        "•",
        "•  ",
        "▼  ",
        "English",
        "Bahasa Indonesia",
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
    ];
    let (_, bare) = strings();
    let wrong: Vec<_> = bare
        .iter()
        .filter(|(_, s)| !s.is_empty() && !same_everywhere.contains(&s.as_str()))
        .collect();
    assert!(wrong.is_empty(), "literal text not through @tr: {wrong:#?}");
}

#[test]
fn no_sentence_is_left_in_english() {
    // A catalogue entry copied over untranslated reads as English on a Bahasa Indonesia
    // screen: names and single words (months, "NIK", "Status") may be the same, a
    // sentence may not.
    let same: Vec<String> = catalogue()
        .into_iter()
        .filter(|(id, s)| id == s && id.split_whitespace().count() > 2)
        .map(|(id, _)| id)
        .collect();
    assert!(same.is_empty(), "left in English: {same:#?}");
}
