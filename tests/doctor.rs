//! `apm-kiosk doctor`, the command itself, against a kiosk directory with the simulated
//! reader and printer (real pseudo-terminals) and the central simulator on loopback:
//! what a technician sees on a good kiosk before and after enrollment, and the FAIL
//! lines (and exit code) for a missing device, a file in a device's place, a private key
//! others can read, a damaged database, a database lost after booking, an unreadable
//! config and a dead network printer.

mod daemon_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use daemon_support::{BIN, CODE, Kiosk, start_central, write_config};

struct Run {
    ok: bool,
    out: String,
}

async fn doctor(config: &Path) -> Run {
    let config = config.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(["doctor", "--config"])
            .arg(&config)
            .output()
            .expect("doctor runs")
    })
    .await
    .expect("joined");
    Run {
        ok: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The report's line for a check, e.g. `line(out, "printer")`.
fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no {check} line in:\n{out}"))
}

fn level<'a>(out: &'a str, check: &str) -> &'a str {
    line(out, check).split_whitespace().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_kiosk_passes_and_enrollment_turns_its_warning_into_ok() {
    let central = start_central().await;
    let kiosk = Kiosk::new(&central.base);
    std::fs::set_permissions(&kiosk.state, std::fs::Permissions::from_mode(0o700))
        .expect("private state dir");

    let first = doctor(&kiosk.config).await;
    assert!(first.ok, "no FAIL on a good kiosk:\n{}", first.out);
    assert_eq!(level(&first.out, "config"), "OK", "{}", first.out);
    assert_eq!(level(&first.out, "card reader"), "OK", "{}", first.out);
    assert!(line(&first.out, "card reader").contains("character device"));
    assert_eq!(level(&first.out, "printer"), "OK", "{}", first.out);
    assert_eq!(level(&first.out, "state dir"), "OK", "{}", first.out);
    assert_eq!(level(&first.out, "kiosk key"), "WARN", "{}", first.out);
    assert_eq!(level(&first.out, "enrollment"), "WARN", "{}", first.out);
    assert!(
        first.out.contains("enroll --config"),
        "says how: {}",
        first.out
    );
    assert_eq!(level(&first.out, "database"), "OK", "{}", first.out);
    assert_eq!(level(&first.out, "clock"), "OK", "{}", first.out);
    assert_eq!(level(&first.out, "central"), "OK", "{}", first.out);
    // Every check is there, and the summary.
    for check in ["ntp", "display", "touch"] {
        line(&first.out, check);
    }
    assert!(first.out.contains(" FAIL\n"), "{}", first.out);

    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::sync::enroll::enroll(&config, CODE)
        .await
        .expect("enrolled");
    let second = doctor(&kiosk.config).await;
    assert!(second.ok, "{}", second.out);
    assert_eq!(level(&second.out, "enrollment"), "OK", "{}", second.out);
    assert!(line(&second.out, "enrollment").contains("for offices"));
    assert_eq!(level(&second.out, "kiosk key"), "OK", "{}", second.out);
    assert!(line(&second.out, "kiosk key").contains("mode 600"));
    assert_eq!(level(&second.out, "central"), "OK", "{}", second.out);
    print!("{}", second.out);

    // Stopped service: a warning, not a failure (the kiosk books offline).
    central.stop().await;
    let third = doctor(&kiosk.config).await;
    assert!(third.ok, "{}", third.out);
    assert_eq!(level(&third.out, "central"), "WARN", "{}", third.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_wrong_fails_with_what_to_do() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");

    // The reader missing, the printer's path a plain file.
    let missing = kiosk.root.join("no-such-reader");
    let plain = kiosk.root.join("not-a-printer");
    std::fs::write(&plain, b"").expect("file");
    let bad_devices = kiosk.root.join("bad-devices.toml");
    write_config(
        &bad_devices,
        &kiosk.state,
        "http://127.0.0.1:9",
        &missing,
        &plain,
    );
    let run = doctor(&bad_devices).await;
    assert!(!run.ok, "{}", run.out);
    assert_eq!(level(&run.out, "card reader"), "FAIL", "{}", run.out);
    assert!(line(&run.out, "card reader").contains("not there"));
    assert!(run.out.contains("udevadm info"), "{}", run.out);
    assert_eq!(level(&run.out, "printer"), "FAIL", "{}", run.out);
    assert!(line(&run.out, "printer").contains("regular file"));

    // A private key others can read.
    let config = apm_kiosk::config::Config::load(&kiosk.config).expect("config");
    apm_kiosk::identity::KioskKey::load_or_create(&config.kiosk.state_dir).expect("key made");
    let key = kiosk.state.join(apm_kiosk::identity::KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = doctor(&kiosk.config).await;
    assert!(!run.ok, "{}", run.out);
    assert_eq!(level(&run.out, "kiosk key"), "FAIL", "{}", run.out);
    assert!(run.out.contains("chmod 600"), "{}", run.out);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // A damaged database.
    {
        let _store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
    }
    let mut bytes = std::fs::read(kiosk.db()).expect("db");
    for b in &mut bytes[4096..3 * 4096] {
        *b = 0x5A;
    }
    std::fs::write(kiosk.db(), &bytes).expect("db written");
    let run = doctor(&kiosk.config).await;
    assert!(!run.ok, "{}", run.out);
    assert_eq!(level(&run.out, "database"), "FAIL", "{}", run.out);
    assert!(line(&run.out, "database").contains("damaged"));
    std::fs::remove_file(kiosk.db()).expect("db removed");

    // A database that held queue numbers, then deleted, then emptied: the bookings and
    // numbers it held are gone, and the doctor says so with where to read what to do.
    {
        let mut store = apm_kiosk::store::Store::open(&kiosk.db()).expect("store made");
        let held = apm_kiosk::store::HeldAllocation {
            allocation_id: "a-1".into(),
            office_id: "KRM".into(),
            date: "2026-12-02".parse().expect("date"),
            session_id: "S1".into(),
            kind: apm_kiosk::domain::QueueKind::Regular,
            numbers: vec![1, 2, 3],
        };
        assert_eq!(store.add_held(&held).expect("numbers held"), 3);
    }
    for (harm, said) in [("delete", "is missing"), ("empty", "is empty")] {
        for end in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{end}", kiosk.db().display()));
        }
        match harm {
            "delete" => std::fs::remove_file(kiosk.db()).expect("db removed"),
            _ => std::fs::write(kiosk.db(), b"").expect("db emptied"),
        }
        let run = doctor(&kiosk.config).await;
        assert!(!run.ok, "{}", run.out);
        assert_eq!(level(&run.out, "database"), "FAIL", "{}", run.out);
        assert!(line(&run.out, "database").contains(said), "{}", run.out);
        assert!(run.out.contains("A lost database"), "{}", run.out);
    }
    std::fs::remove_file(kiosk.db()).expect("db removed");
    std::fs::remove_file(kiosk.state.join(apm_kiosk::store::mark::MARK_FILE))
        .expect("mark removed");

    // A config that does not load: that one line, then nothing else can be checked.
    let broken = kiosk.root.join("broken.toml");
    std::fs::write(&broken, "[kiosk\n").expect("config");
    let run = doctor(&broken).await;
    assert!(!run.ok, "{}", run.out);
    assert_eq!(level(&run.out, "config"), "FAIL", "{}", run.out);
    assert!(run.out.contains("config check"), "{}", run.out);
    assert!(run.out.ends_with("0 OK, 0 WARN, 1 FAIL\n"), "{}", run.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_printer_is_tried_over_tcp() {
    let kiosk = Kiosk::new("http://127.0.0.1:9");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("address").port();
    let config = kiosk.root.join("tcp.toml");
    let text = std::fs::read_to_string(&kiosk.config)
        .expect("config")
        .replace(
            &format!("path = \"{}\"", kiosk.printer_link.display()),
            &format!("path = \"tcp://127.0.0.1:{port}\""),
        );
    std::fs::write(&config, text).expect("config");
    let run = doctor(&config).await;
    assert_eq!(level(&run.out, "printer"), "OK", "{}", run.out);
    drop(listener);
    let run = doctor(&config).await;
    assert_eq!(level(&run.out, "printer"), "FAIL", "{}", run.out);
    assert!(!run.ok);
}
