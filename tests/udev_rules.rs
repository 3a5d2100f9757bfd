//! The udev rules in hardware/udev/ parse: every line is a rule of `KEY op "value"`
//! pairs with match keys compared (`==`, `!=`) and assignment keys assigned (`=`, `+=`,
//! `:=`), ids are four hex digits, each device rule names one of the two stable links
//! and a group the service has. Debian 12's udev (systemd 252) has no `udevadm verify`;
//! where the installed one has it, it is run too.

use std::path::{Path, PathBuf};

fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/udev/99-apm-kiosk.rules")
}

#[derive(Debug, PartialEq)]
struct Pair {
    key: String,
    op: String,
    value: String,
}

/// One rule line as udev reads it: comma-separated `KEY{attr}op"value"` pairs.
fn parse_rule(line: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '{' || c == '}'))
            .ok_or_else(|| format!("no operator after {rest:?}"))?;
        let key = &rest[..key_end];
        if key.is_empty() {
            return Err(format!("no key at {rest:?}"));
        }
        if key.contains('{') && !(key.ends_with('}') && key.matches('{').count() == 1) {
            return Err(format!("bad attribute braces in {key:?}"));
        }
        rest = &rest[key_end..];
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("no operator after {key}: {rest:?}"))?;
        rest = &rest[op.len()..];
        let quoted = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("{key}{op} value not in double quotes"))?;
        let close = quoted
            .find('"')
            .ok_or_else(|| format!("{key}{op} value not closed"))?;
        pairs.push(Pair {
            key: key.to_owned(),
            op: op.to_owned(),
            value: quoted[..close].to_owned(),
        });
        rest = quoted[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err("trailing comma".into());
            }
        } else if !rest.is_empty() {
            return Err(format!("expected a comma before {rest:?}"));
        }
    }
    Ok(pairs)
}

/// The part of a key before its `{attribute}`.
fn base(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

const MATCH_KEYS: &[&str] = &[
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "KERNELS",
    "NAME",
    "SYMLINK",
    "SUBSYSTEM",
    "SUBSYSTEMS",
    "DRIVER",
    "DRIVERS",
    "ATTR",
    "ATTRS",
    "ENV",
    "TAG",
    "TAGS",
    "TEST",
    "PROGRAM",
    "RESULT",
];
const ASSIGN_KEYS: &[&str] = &[
    "SYMLINK", "OWNER", "GROUP", "MODE", "ENV", "TAG", "RUN", "LABEL", "GOTO", "NAME", "ATTR",
    "OPTIONS",
];

fn check_rule(pairs: &[Pair]) -> Result<(), String> {
    let mut matches = 0;
    for p in pairs {
        let key = base(&p.key);
        let is_match = p.op == "==" || p.op == "!=";
        if is_match {
            if !MATCH_KEYS.contains(&key) {
                return Err(format!("{} cannot be matched", p.key));
            }
            matches += 1;
        } else if !ASSIGN_KEYS.contains(&key) {
            return Err(format!("{} cannot be assigned", p.key));
        }
        if matches!(key, "ATTRS" | "ATTR" | "ENV") && !p.key.contains('{') {
            return Err(format!("{} needs {{name}}", p.key));
        }
        if matches!(p.key.as_str(), "ATTRS{idVendor}" | "ATTRS{idProduct}")
            && !(p.value.len() == 4
                && p.value
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
        {
            return Err(format!(
                "{} must be four lower-case hex digits, not {:?}",
                p.key, p.value
            ));
        }
        if key == "MODE"
            && !(p.value.len() == 4 && p.value.chars().all(|c| ('0'..='7').contains(&c)))
        {
            return Err(format!("MODE {:?} is not four octal digits", p.value));
        }
    }
    let label_or_goto = pairs.iter().any(|p| p.key == "LABEL" || p.key == "GOTO");
    if matches == 0 && !label_or_goto {
        return Err("a rule with no match applies to every device".into());
    }
    Ok(())
}

#[test]
fn every_rule_parses_and_names_one_kiosk_device() {
    let text = std::fs::read_to_string(rules_file()).expect("rules file");
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    let (mut labels, mut gotos) = (Vec::new(), Vec::new());
    let mut seen_ids = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "line {}: continuation not used here",
            n + 1
        );
        let pairs = parse_rule(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        check_rule(&pairs).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        let get = |k: &str| pairs.iter().find(|p| p.key == k).map(|p| p.value.as_str());
        if let Some(l) = get("LABEL") {
            labels.push(l.to_owned());
        }
        if let Some(g) = get("GOTO") {
            gotos.push(g.to_owned());
        }
        let Some(link) = pairs
            .iter()
            .find(|p| p.key == "SYMLINK" && p.op == "+=")
            .map(|p| p.value.clone())
        else {
            continue;
        };
        assert!(
            link == "apm-reader" || link == "apm-printer",
            "line {}: unexpected link {link}",
            n + 1
        );
        *names.entry(link.clone()).or_default() += 1;
        let ids = (get("ATTRS{idVendor}"), get("ATTRS{idProduct}"));
        assert!(
            ids.0.is_some() && ids.1.is_some(),
            "line {}: a device rule matches vendor and product",
            n + 1
        );
        assert!(
            seen_ids.insert(ids.0.zip(ids.1).map(|(v, p)| format!("{v}:{p}"))),
            "line {}: the same ids twice would name two devices alike",
            n + 1
        );
        let (subsystem, group) = (get("SUBSYSTEM"), get("GROUP"));
        match subsystem {
            Some("tty") => {
                assert_eq!(group, Some("dialout"), "line {}", n + 1);
                assert_eq!(get("ENV{ID_MM_DEVICE_IGNORE}"), Some("1"), "line {}", n + 1);
            }
            Some("usbmisc") => {
                assert_eq!(group, Some("lp"), "line {}", n + 1);
                assert_eq!(get("KERNEL"), Some("lp[0-9]*"), "line {}", n + 1);
                assert_eq!(link, "apm-printer", "line {}", n + 1);
            }
            other => panic!("line {}: subsystem {other:?}", n + 1),
        }
        assert_eq!(get("MODE"), Some("0660"), "line {}", n + 1);
    }
    assert!(
        names.get("apm-reader").copied().unwrap_or(0) >= 1,
        "{names:?}"
    );
    assert!(
        names.get("apm-printer").copied().unwrap_or(0) >= 1,
        "{names:?}"
    );
    for g in &gotos {
        assert!(labels.contains(g), "GOTO {g} has no LABEL");
    }
}

#[test]
fn the_parser_refuses_what_udev_would_refuse() {
    let bad = [
        r#"SUBSYSTEM=="tty" ATTRS{idVendor}=="0403""#,
        r#"SUBSYSTEM=="tty", ATTRS{idVendor}==0403"#,
        r#"SUBSYSTEM=="tty", ATTRS{idVendor}=="0403"#,
        r#"SUBSYSTEM=="tty","#,
        r#"SUBSYSTEM~"tty""#,
    ];
    for line in bad {
        assert!(parse_rule(line).is_err(), "{line}");
    }
    let refused = [
        r#"SYMLINK+="apm-reader", GROUP="dialout""#,
        r#"SUBSYSTEM=="tty", ATTRS{idVendor}=="403", SYMLINK+="apm-reader""#,
        r#"SUBSYSTEM=="tty", ATTRS{idVendor}=="0403", MODE="660""#,
        r#"SUBSYSTEM=="tty", GROUP=="dialout""#,
        r#"SUBSYSTEM=="tty", ATTRS=="x""#,
    ];
    for line in refused {
        let pairs = parse_rule(line).expect("parses");
        assert!(check_rule(&pairs).is_err(), "{line}");
    }
}

#[test]
fn udevadm_verify_accepts_the_rules_where_it_exists() {
    let answer = std::process::Command::new("udevadm")
        .args(["verify", "--help"])
        .output();
    match answer {
        Err(_) => {
            eprintln!(
                "skipped: no udevadm here (Debian package udev); the parser test checks the rules"
            );
            return;
        }
        Ok(o) if !o.status.success() => {
            eprintln!(
                "skipped: this udevadm has no `verify` (systemd < 254); the parser test checks the rules"
            );
            return;
        }
        Ok(_) => {}
    }
    let out = std::process::Command::new("udevadm")
        .arg("verify")
        .arg(rules_file())
        .output()
        .expect("udevadm runs");
    assert!(
        out.status.success(),
        "udevadm verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
