//! The shipped example configuration and `Config::load` on real files: the example
//! must stay valid, document every key, and show each key at its default.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use apm_kiosk::config::{Config, ConfigError, PrinterPath};
use apm_kiosk::protocol::escpos::PaperWidth;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kiosk.example.toml")
}

#[test]
fn the_example_file_loads() {
    let config = Config::load(&example_path()).expect("the example configuration is valid");
    assert_eq!(config.kiosk.state_dir, Path::new("/var/lib/apm-kiosk"));
    assert_eq!(
        config.kiosk.control_socket(),
        Path::new("/var/lib/apm-kiosk/control.sock")
    );
    assert_eq!(config.card_reader.baud, 115_200);
    assert_eq!(
        config.printer.path,
        PrinterPath::Device(PathBuf::from("/dev/apm-printer"))
    );
    assert_eq!(config.printer.paper, PaperWidth::Mm80);
    assert_eq!(config.central.url, "https://antrian.imigrasi.go.id/kiosk");
    assert_eq!(config.central.timeout, Duration::from_secs(10));
}

#[test]
fn the_example_shows_every_key_at_its_default() {
    // With only its url kept, the example must load to the very same configuration:
    // so every value written in the example is the default.
    let text = std::fs::read_to_string(example_path()).expect("example readable");
    let full = Config::from_str(&text, &example_path()).expect("valid");
    let minimal = Config::from_str(
        "[central]\nurl = \"https://antrian.imigrasi.go.id/kiosk\"\n",
        Path::new("minimal.toml"),
    )
    .expect("valid");
    assert_eq!(full, minimal);
}

#[test]
fn every_key_in_the_example_is_documented_by_a_comment() {
    let text = std::fs::read_to_string(example_path()).expect("example readable");
    let lines: Vec<&str> = text.lines().collect();
    let mut keys = 0;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        keys += 1;
        let before = i.checked_sub(1).map(|j| lines[j].trim());
        assert!(
            before.is_some_and(|b| b.starts_with('#')),
            "line {}: {line:?} has no comment above it",
            i + 1
        );
    }
    assert_eq!(keys, 23, "the example shows every key of the configuration");
}

#[test]
fn a_bad_file_on_disk_names_itself_and_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kiosk.toml");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(b"[central]\nurl = \"https://c.example\"\n\n[printer]\npaper = \"A4\"\n")
        .expect("write");
    let err = Config::load(&path).expect_err("bad paper refused");
    assert_eq!(err.line(), Some(5));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}:5:9: printer.paper: ", path.display())),
        "{shown}"
    );
}

#[test]
fn a_missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.toml");
    let err = Config::load(&path).expect_err("missing file refused");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.toml"), "{err}");
}

#[test]
fn config_check_command() {
    use apm_kiosk::config::{ConfigCheckArgs, run_config_check};
    run_config_check(ConfigCheckArgs {
        file: example_path(),
    })
    .expect("the example passes the check");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kiosk.toml");
    std::fs::write(&path, "[central]\nurl = \"http://10.0.0.1\"\n").expect("write");
    let err = run_config_check(ConfigCheckArgs { file: path }).expect_err("refused");
    assert!(err.to_string().contains(":2:7: central.url: "), "{err}");
}
