//! The diagnostics bundle a technician carries away on a USB stick: a `.tar.gz` with the
//! configuration without its secrets, the versions, the recent log, the upload queue's
//! figures, the rejections, the audit log and the maintenance report. It holds no
//! personal data: every part is built from data the kiosk keeps free of it (the audit,
//! the report, counts), the log is the daemon's, which never logs personal data, and
//! every file is passed through [`scrub`] all the same, which masks anything shaped like
//! a NIK.
//!
//! Logs: the journal of the `apm-kiosk` unit (`journalctl`), which is where the daemon
//! logs under systemd; the daemon's user reads it as a member of the `systemd-journal`
//! group. Where there is no journal (a development machine) or it cannot be read,
//! `log.txt` says so; the daemon keeps no log of its own.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::Report;
use crate::config::Config;
use crate::store::writer::StoreHandle;

/// The systemd unit whose journal goes into the bundle.
pub const UNIT: &str = "apm-kiosk.service";
/// How much of the journal: the last three days, at most this many lines.
pub const LOG_LINES: u32 = 5000;
/// Audit lines in the bundle, newest first.
pub const AUDIT_LINES: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the bundle to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the kiosk's database cannot be read: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the bundle could not be built: {0}")]
    Task(String),
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub files: Vec<String>,
}

/// Masks every run of exactly 16 digits (the shape of a NIK or a KK number) as the
/// kiosk masks a NIK. Longer or shorter runs (timestamps, counts) are left alone.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 16 {
            out.push_str(&crate::domain::nik::mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The configuration file without its secrets: the PIN hash and any key whose name
/// says token, key, secret or password are removed, comments kept. With no file (a
/// configuration built in memory) the checked summary stands in for it.
pub fn redacted_config(config: &Config) -> String {
    let Some(text) = config
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    else {
        return crate::config::summary(config);
    };
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return crate::config::summary(config);
    };
    fn secret(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        ["pin_hash", "token", "key", "secret", "password"]
            .iter()
            .any(|s| k.contains(s))
    }
    fn strip(table: &mut dyn toml_edit::TableLike) {
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
        for k in keys {
            if secret(&k) {
                table.remove(&k);
            } else if let Some(inner) = table.get_mut(&k).and_then(|i| i.as_table_like_mut()) {
                strip(inner);
            }
        }
    }
    strip(doc.as_table_mut());
    format!(
        "# {} with its secrets removed\n{}",
        config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        doc
    )
}

/// The journal of the daemon's unit, or why there is none.
fn journal() -> String {
    let run = std::process::Command::new("journalctl")
        .args([
            "--unit",
            UNIT,
            "--since",
            "-3d",
            "--lines",
            &LOG_LINES.to_string(),
            "--output",
            "short-iso",
            "--no-pager",
            "--quiet",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    match run {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Ok(out) if out.status.success() => format!(
            "# no lines of {UNIT} from the last 3 days could be read: the journal holds none, \
             or the daemon's user is not in the systemd-journal group\n"
        ),
        Ok(out) => format!(
            "# journalctl failed ({}): {}\n",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("# no journal on this machine (journalctl: {e})\n"),
    }
}

fn versions(report: &Report, schema: u32) -> String {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "apm-kiosk        {}\n\
         database schema  {schema}\n\
         kiosk id         {}\n\
         os               {os}\n\
         kernel           {kernel}\n\
         reader           {} {} firmware {} SAM {}\n\
         printer          {}\n",
        report.version,
        report.kiosk_id.as_deref().unwrap_or("(not enrolled)"),
        report.reader.vendor.as_deref().unwrap_or("-"),
        report.reader.model.as_deref().unwrap_or("-"),
        report.reader.firmware.as_deref().unwrap_or("-"),
        report.reader.sam.map_or("-", crate::status::Sam::code),
        report.printer.state,
    )
}

/// Where the bundle goes: into `target` when it is a directory (a USB stick's mount
/// point), named after the kiosk and the time; else `target` itself.
pub fn bundle_path(target: &Path, kiosk_id: Option<&str>, at: chrono::DateTime<Utc>) -> PathBuf {
    if target.is_dir() {
        target.join(format!(
            "apm-kiosk-{}-{}.tar.gz",
            kiosk_id.unwrap_or("unenrolled"),
            at.format("%Y%m%dT%H%M%SZ")
        ))
    } else {
        target.to_owned()
    }
}

/// What the bundle takes from the store, read in one visit.
struct Stored {
    schema: u32,
    stats: crate::store::StoreStats,
    queue: crate::store::sync::QueueState,
    figures: crate::store::maint::QueueFigures,
    rejections: Vec<crate::store::Rejection>,
    audit: Vec<(String, String, String)>,
}

/// Builds the bundle and writes it to `target` (see [`bundle_path`]), through a
/// temporary file and a rename so that a stick pulled out midway leaves no half bundle
/// under the final name.
pub async fn write_bundle(
    store: &StoreHandle,
    config: &Config,
    report: &Report,
    target: &Path,
) -> Result<Written, ExportError> {
    let stored = store
        .run(|s| {
            Ok(Stored {
                schema: s.schema_version()?,
                stats: s.stats()?,
                queue: s.queue_state()?,
                figures: s.queue_figures()?,
                rejections: s.rejections()?,
                audit: s.audit_tail(AUDIT_LINES)?,
            })
        })
        .await?;
    let config = config.clone();
    let report = report.clone();
    let target = target.to_owned();
    let now = report.generated_at;
    tokio::task::spawn_blocking(move || {
        let files = bundle_files(&stored, &config, &report, journal(), now);
        let path = bundle_path(&target, report.kiosk_id.as_deref(), now);
        write_tar(&path, &files, now)
    })
    .await
    .map_err(|e| ExportError::Task(e.to_string()))?
}

/// Each file of the bundle, by name, before [`scrub`].
fn bundle_files(
    stored: &Stored,
    config: &Config,
    report: &Report,
    log: String,
    now: chrono::DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let mut audit_text = String::from("at\tevent\tdetail\n");
    for (at, event, detail) in stored.audit.iter().rev() {
        audit_text.push_str(&format!("{at}\t{event}\t{detail}\n"));
    }
    let queue_json = serde_json::json!({
        "stats": stored.stats,
        "unsynced": stored.queue.unsynced,
        "oldest_unsynced": stored.queue.oldest_unsynced,
        "held_free": stored.queue.held_free,
        "upload_queue": stored.figures,
    });
    vec![
        ("README.txt", readme(report, now)),
        ("report.json", pretty(report)),
        ("config.toml", redacted_config(config)),
        ("versions.txt", versions(report, stored.schema)),
        ("log.txt", log),
        ("queue.json", pretty(&queue_json)),
        ("rejections.json", pretty(&stored.rejections)),
        ("audit.tsv", audit_text),
    ]
}

fn readme(report: &Report, now: chrono::DateTime<Utc>) -> String {
    format!(
        "apm-kiosk diagnostics bundle, made {} on kiosk {}.\n\
     No personal data: no NIK, name, address or phone number is in any file.\n\
     report.json   the maintenance report (what `apm-kiosk maint status` shows)\n\
     config.toml   the configuration, secrets removed\n\
     versions.txt  software, database schema, system, devices\n\
     log.txt       the daemon's journal, last 3 days\n\
     queue.json    upload queue and store figures\n\
     rejections.json  bookings the central service rejected, with reasons\n\
     audit.tsv     the audit log, oldest first\n",
        now.to_rfc3339(),
        report.kiosk_id.as_deref().unwrap_or("(not enrolled)")
    )
}

/// Writes `files`, each scrubbed, as a `.tar.gz` at `path` with one folder named after
/// it, through a temporary file beside it.
fn write_tar(
    path: &Path,
    files: &[(&str, String)],
    now: chrono::DateTime<Utc>,
) -> Result<Written, ExportError> {
    let write_err = |source| ExportError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into())
    ));
    let file = std::fs::File::create(&tmp).map_err(write_err)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let folder = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar.gz").to_owned())
        .unwrap_or_else(|| "apm-kiosk-diagnostics".into());
    let mut names = Vec::new();
    for (name, text) in files {
        let text = scrub(text);
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(now.timestamp().max(0) as u64);
        header.set_entry_type(tar::EntryType::Regular);
        let entry = format!("{folder}/{name}");
        tar.append_data(&mut header, &entry, text.as_bytes())
            .map_err(write_err)?;
        names.push(entry);
    }
    let gz = tar.into_inner().map_err(write_err)?;
    let mut file = gz.finish().map_err(write_err)?;
    file.flush().map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(write_err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(Written {
        path: path.to_owned(),
        bytes,
        files: names,
    })
}

/// Pretty JSON, one file's worth.
fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_sixteen_digit_runs_only() {
        let cases = [
            ("nik 2102015708900003 here", "nik 2102********0003 here"),
            ("2102015708900003", "2102********0003"),
            ("a:3171234567890123,b", "a:3171********0123,b"),
            (
                "17 digits 21020157089000031 stay",
                "17 digits 21020157089000031 stay",
            ),
            (
                "15 digits 210201570890000 stay",
                "15 digits 210201570890000 stay",
            ),
            ("2026-12-01T07:00:00.000Z", "2026-12-01T07:00:00.000Z"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
    }

    #[test]
    fn secrets_leave_the_config_and_comments_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiosk.toml");
        let text = "# the kiosk\n[central]\n# where\nurl = \"https://c.example\"\n\n[maint]\n# the PIN\npin_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n";
        std::fs::write(&path, text).expect("write");
        let config = Config::load(&path).expect("valid");
        let out = redacted_config(&config);
        assert!(!out.contains("argon2"), "{out}");
        assert!(!out.contains("pin_hash"), "{out}");
        assert!(
            out.contains("# where\nurl = \"https://c.example\""),
            "{out}"
        );
        assert!(out.contains("[maint]"), "{out}");
    }

    #[test]
    fn a_directory_gets_a_named_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T07:05:09Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            bundle_path(dir.path(), Some("KSK-0007"), at),
            dir.path()
                .join("apm-kiosk-KSK-0007-20261201T070509Z.tar.gz")
        );
        let file = dir.path().join("diag.tar.gz");
        assert_eq!(bundle_path(&file, None, at), file);
    }
}
