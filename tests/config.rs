//! The shipped example configuration and `Config::load` on real files: the example
//! must stay valid, document every key, and show each key at its default.
//!
//! And what the daemon (the built binary, as its own process) says when the world
//! around its configuration is wrong: a missing file, an unwritable state directory, a
//! missing pinned CA; that it makes its state owner-only outside systemd; and that its
//! control channel answers bad lines and a flood of clients past its descriptors at
//! once, with the refusals in its status.

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
    assert_eq!(keys, 24, "the example shows every key of the configuration");
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

const BIN: &str = env!("CARGO_BIN_EXE_apm-kiosk");
const PATIENCE: Duration = Duration::from_secs(20);

/// A kiosk's config in `dir` with `extra` lines in `[kiosk]` and `[central]` tables
/// given whole; devices that are not there (the daemon starts without them).
fn daemon_config(dir: &Path, kiosk: &str, central: &str) -> PathBuf {
    let path = dir.join("kiosk.toml");
    let text = format!(
        "[kiosk]\n{kiosk}\n[card_reader]\npath = \"/dev/null-reader\"\n[printer]\npath = \"/dev/null-printer\"\n\
         [central]\nurl = \"http://127.0.0.1:9\"\n{central}\n"
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// `apm-kiosk ARGS` to its end: exit success and standard error.
fn run_to_end(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_daemon_says_once_what_is_wrong_with_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::absolute(dir.path()).expect("absolute");

    // No config file: one line, the path, how to make one; the OS error not twice.
    let absent = root.join("absent.toml");
    let (ok, said) = run_to_end(&[
        "run",
        "--headless",
        "--config",
        absent.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("no configuration file there"), "{said}");
    assert!(said.contains("config check"), "{said}");
    assert!(!said.contains("os error"), "{said}");

    // A state directory nobody may write in (not even root): the directory, once.
    let socket = root.join("control.sock");
    let config = daemon_config(
        &root,
        &format!(
            "state_dir = \"/proc/sys\"\ncontrol_socket = \"{}\"",
            socket.display()
        ),
        "",
    );
    let (ok, said) = run_to_end(&[
        "run",
        "--headless",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    let last = said.trim().lines().last().unwrap_or_default().to_owned();
    assert!(last.contains("/proc/sys:"), "{said}");
    assert!(!last.contains(".tmp"), "no temporary file's name: {said}");
    assert_eq!(
        last.matches("os error").count(),
        1,
        "the OS error once: {said}"
    );

    // A pinned CA that is not there: `config check` refuses it on its line.
    let config = daemon_config(
        &root,
        "",
        &format!("ca_file = \"{}/ca.pem\"", root.display()),
    );
    let (ok, said) = run_to_end(&["config", "check", config.to_str().expect("utf-8")]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("kiosk.toml:9:11: central.ca_file: "),
        "{said}"
    );
    assert!(said.contains("cannot be read"), "{said}");
}

/// The daemon as its own process, headless; killed when dropped.
struct Running {
    child: std::process::Child,
    log: PathBuf,
}

impl Running {
    /// With at most `nofile` open file descriptors when given.
    fn spawn(config: &Path, log: PathBuf, nofile: Option<u64>) -> Running {
        use std::os::unix::process::CommandExt as _;
        let out = std::fs::File::create(&log).expect("log");
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["run", "--headless", "--config"])
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        if let Some(n) = nofile {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: setrlimit is async-signal-safe; it only lowers the child's limit.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        Running {
            child: cmd.spawn().expect("the daemon starts"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_systemd_the_state_is_owner_only_and_a_missing_ca_is_said_at_start() {
    use apm_kiosk::control::{Client, Command};
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::absolute(dir.path()).expect("absolute");
    // An enrolled kiosk whose state directory was made by hand, open to all.
    let state = root.join("state");
    apm_kiosk::identity::Enrollment {
        kiosk_id: "KRM-07".into(),
        token: "t".into(),
        office_ids: vec!["KRM".into()],
        nik_hash_key: [7; 32],
    }
    .save(&state)
    .expect("enrollment saved");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ca = root.join("ca.pem");
    let config = daemon_config(
        &root,
        &format!("state_dir = \"{}\"", state.display()),
        &format!("ca_file = \"{}\"", ca.display()),
    );
    let daemon = Running::spawn(&config, root.join("daemon.log"), None);
    let mut client = Client::connect(&state.join("control.sock"), PATIENCE)
        .await
        .expect("the daemon answers");
    // The sync says why it cannot run (and the daemon books on).
    let deadline = std::time::Instant::now() + PATIENCE;
    let error = loop {
        let status = client
            .command(Command::Status, PATIENCE)
            .await
            .expect("status");
        if let Some(e) = status["sync"]["last_error"].as_str() {
            break e.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sync error: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        error.contains("pinned CA") && error.contains("ca.pem"),
        "{error}"
    );
    let log = daemon.log();
    assert!(
        log.contains("central.ca_file") && log.contains("cannot sync until this is fixed"),
        "{log}"
    );
    // Owner-only, as the README says.
    assert_eq!(mode(&state), 0o700);
    for file in ["kiosk.db", "kiosk.key", "enrollment.json", "kiosk.db-wal"] {
        let path = state.join(file);
        if file != "kiosk.db-wal" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_channel_answers_bad_lines_and_a_flood_past_its_descriptors() {
    use apm_kiosk::control::{Client, Command};
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::absolute(dir.path()).expect("absolute");
    let state = root.join("state");
    let config = daemon_config(&root, &format!("state_dir = \"{}\"", state.display()), "");
    // 40 descriptors: the daemon needs about 16, so it runs out before 32 clients.
    let _daemon = Running::spawn(&config, root.join("daemon.log"), Some(40));
    let socket = state.join("control.sock");
    Client::connect(&socket, PATIENCE)
        .await
        .expect("the daemon answers");

    // Bad lines are answered, and the connection goes on.
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let said = error_after(&mut write, &mut lines, b"{\"intent\":\"st\xffart\"}\n").await;
    assert!(said.contains("not UTF-8"), "{said}");
    let said = error_after(
        &mut write,
        &mut lines,
        b"{\"command\":{\"reprint\":{\"registration_id\":5}}}\n",
    )
    .await;
    assert!(
        said.contains("command reprint: registration_id: invalid type"),
        "{said}"
    );

    // A flood: every client gets a first line, the view or a refusal, none waits.
    let mut flood = Vec::new();
    let mut refused = 0u64;
    for _ in 0..60 {
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .expect("connect");
        let mut lines = BufReader::new(stream).lines();
        let first = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("an answer, not a hang")
            .expect("read")
            .expect("a line");
        let msg: serde_json::Value = serde_json::from_str(&first).expect("json");
        if msg["type"] == "error" {
            refused += 1;
        } else {
            assert_eq!(msg["type"], "view", "{msg}");
            flood.push(lines);
        }
    }
    assert!(refused > 0, "the flood went past the descriptors");
    drop(flood);
    // The clients gone (once the daemon has seen them go), it serves again and says
    // what it refused.
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        let asked = async {
            let mut client = Client::connect(&socket, PATIENCE).await?;
            client.command(Command::Status, PATIENCE).await
        };
        match asked.await {
            Ok(status) => break status,
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "never served again: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let counts = &status["control"];
    let total = counts["refused_busy"].as_u64().unwrap_or(0)
        + counts["refused_no_fds"].as_u64().unwrap_or(0);
    // Those the test saw, and any turned away while the flood's descriptors closed.
    assert!(total >= refused, "{status}");
    assert!(
        counts["refused_no_fds"].as_u64().unwrap_or(0) > 0,
        "{status}"
    );
    assert!(
        status["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "control_refused")),
        "{status}"
    );
    eprintln!(
        "60 clients on 40 descriptors: {} served, {refused} refused at once ({counts})",
        60 - refused
    );
}

/// Sends `line` and returns the text of the first error line answered.
async fn error_after(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>>,
    line: &[u8],
) -> String {
    use tokio::io::AsyncWriteExt as _;
    write.write_all(line).await.expect("sent");
    loop {
        let got = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("an answer")
            .expect("read")
            .expect("a line");
        let msg: serde_json::Value = serde_json::from_str(&got).expect("json");
        if msg["type"] == "error" {
            return msg["error"].as_str().unwrap_or_default().to_owned();
        }
    }
}
