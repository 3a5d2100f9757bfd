//! The kiosk's identity: its Ed25519 key pair (made on first start, never leaves the
//! state directory) and its enrollment with the central service (kiosk id, bearer
//! token, offices, NIK hash key). Both files are created owner-only (mode 0600 from the
//! moment they exist) and refused when anyone else could read them.
//!
//! Also the keyed tag under which the store keeps a NIK ([`nik_tag`], its secret derived
//! from the kiosk key), the keyed NIK hash of the central blocklist ([`nik_hash`]) and
//! the officer's `apm-kiosk ticket verify` command ([`run_ticket_verify`]), which checks
//! a ticket QR against a kiosk's public key and the service's NIK hash key. The payload
//! format itself is the pure `protocol::ticket_qr`; this module is its shell with files.
//! Talking to the central service (enrolling, fetching `/v1/kiosk-keys`) belongs to
//! `sync`.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::domain::calendar::Zone;
use crate::protocol::central::Key32;
use crate::protocol::ticket_qr::{self, Claims, KeyLookup, QrError, Version};

/// The private key's file in the state directory: the 32-byte Ed25519 seed, raw.
pub const KEY_FILE: &str = "kiosk.key";
/// The enrollment's file in the state directory (JSON).
pub const ENROLLMENT_FILE: &str = "enrollment.json";

/// Why the identity could not be read or kept. Paths only: never a key or token.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Said once: the OS error is in the message and not also the error's source,
    /// which would print it twice.
    #[error("{}: cannot {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    #[error(
        "{}: open to other users (mode {mode:04o}): the secret in it may have leaked; \
         make it owner-only (chmod 600) and ask the central office whether to re-enroll",
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    /// A damaged key is never replaced silently: a new key would no longer match the
    /// one the central service lists for this kiosk.
    #[error("{}: not a kiosk key ({reason}); restore it from backup or re-enroll", path.display())]
    BadKey { path: PathBuf, reason: &'static str },
    #[error("{}: not an enrollment file ({reason})", path.display())]
    BadEnrollment { path: PathBuf, reason: String },
    #[error("enrollment is incomplete: {0}")]
    IncompleteEnrollment(&'static str),
    #[error("nik_hash_key is not base64 of 32 bytes")]
    BadNikHashKey,
}

/// The kiosk's Ed25519 key pair. It signs every ticket QR; its public half was sent to
/// the central service at enrollment.
pub struct KioskKey {
    signing: SigningKey,
}

impl KioskKey {
    /// Loads `<state_dir>/kiosk.key`, or makes a new key there on first start. Creates
    /// `state_dir` (owner-only) when it is missing.
    pub fn load_or_create(state_dir: &Path) -> Result<KioskKey, IdentityError> {
        ensure_private_dir(state_dir)?;
        let path = state_dir.join(KEY_FILE);
        if let Some(bytes) = read_private(&path)? {
            return Self::from_file_bytes(&path, &bytes);
        }
        let signing = SigningKey::generate(&mut OsRng);
        match write_private(&path, signing.as_bytes(), Replace::No) {
            Ok(()) => Ok(KioskKey { signing }),
            // Another process made one first: that one is the kiosk's key.
            Err(IdentityError::Io { error, .. })
                if error.kind() == io::ErrorKind::AlreadyExists =>
            {
                let bytes = read_private(&path)?.ok_or_else(|| IdentityError::BadKey {
                    path: path.clone(),
                    reason: "vanished while being created",
                })?;
                Self::from_file_bytes(&path, &bytes)
            }
            Err(e) => Err(e),
        }
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<KioskKey, IdentityError> {
        let seed: &[u8; 32] = bytes.try_into().map_err(|_| IdentityError::BadKey {
            path: path.to_path_buf(),
            reason: "not 32 bytes long",
        })?;
        Ok(KioskKey {
            signing: SigningKey::from_bytes(seed),
        })
    }

    /// The public key as the enroll request sends it: standard base64 of 32 bytes.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// For `protocol::ticket_qr::sign`.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl std::fmt::Debug for KioskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskKey")
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

/// What the central service gave this kiosk when a technician enrolled it.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub kiosk_id: String,
    /// Sent as `Authorization: Bearer <token>` on every later request.
    pub token: String,
    /// The offices this kiosk may book for.
    pub office_ids: Vec<String>,
    /// Keys [`nik_hash`], so that the offline blocklist can be checked without the
    /// kiosk ever receiving other people's NIKs, and the NIK check of the tickets' QR.
    pub nik_hash_key: [u8; 32],
}

/// The enrollment file's form. Private, so that nothing else serialises a token.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentFile {
    /// Lets a later version change the form and still read this one.
    version: u32,
    kiosk_id: String,
    token: String,
    office_ids: Vec<String>,
    /// Standard base64, as the enroll response gives it.
    nik_hash_key: String,
}

impl Enrollment {
    /// `Ok(None)` when the kiosk was never enrolled.
    pub fn load(state_dir: &Path) -> Result<Option<Enrollment>, IdentityError> {
        let path = state_dir.join(ENROLLMENT_FILE);
        let Some(bytes) = read_private(&path)? else {
            return Ok(None);
        };
        let bad = |reason: String| IdentityError::BadEnrollment {
            path: path.clone(),
            reason,
        };
        // serde_json's messages may quote the offending value, which could be the
        // token: keep only where it went wrong.
        let file: EnrollmentFile = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "invalid JSON or fields at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if file.version != 1 {
            return Err(bad(format!("unknown version {}", file.version)));
        }
        let enrollment = Enrollment {
            nik_hash_key: decode_nik_hash_key(&file.nik_hash_key)
                .map_err(|_| bad("nik_hash_key is not base64 of 32 bytes".into()))?,
            kiosk_id: file.kiosk_id,
            token: file.token,
            office_ids: file.office_ids,
        };
        enrollment.check().map_err(|e| bad(e.to_string()))?;
        Ok(Some(enrollment))
    }

    /// Writes `<state_dir>/enrollment.json` atomically: a crash leaves the old file or
    /// the new one, never half of one. Replaces an earlier enrollment.
    pub fn save(&self, state_dir: &Path) -> Result<(), IdentityError> {
        self.check()?;
        ensure_private_dir(state_dir)?;
        let file = EnrollmentFile {
            version: 1,
            kiosk_id: self.kiosk_id.clone(),
            token: self.token.clone(),
            office_ids: self.office_ids.clone(),
            nik_hash_key: STANDARD.encode(self.nik_hash_key),
        };
        let mut json =
            serde_json::to_vec_pretty(&file).expect("a struct of strings serialises to JSON");
        json.push(b'\n');
        write_private(&state_dir.join(ENROLLMENT_FILE), &json, Replace::Yes)
    }

    /// An enrollment the service could never have given: refuse it rather than run
    /// a kiosk that fails every request.
    fn check(&self) -> Result<(), IdentityError> {
        if self.kiosk_id.trim().is_empty() {
            return Err(IdentityError::IncompleteEnrollment("no kiosk id"));
        }
        if self.token.trim().is_empty() {
            return Err(IdentityError::IncompleteEnrollment("no token"));
        }
        if self.office_ids.is_empty() {
            return Err(IdentityError::IncompleteEnrollment("no office"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("kiosk_id", &self.kiosk_id)
            .field("token", &"<redacted>")
            .field("office_ids", &self.office_ids)
            .field("nik_hash_key", &"<redacted>")
            .finish()
    }
}

/// The enroll response's `nik_hash_key`: standard base64 of 32 bytes.
pub fn decode_nik_hash_key(base64: &str) -> Result<[u8; 32], IdentityError> {
    STANDARD
        .decode(base64.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or(IdentityError::BadNikHashKey)
}

fn io_err<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> IdentityError + 'a {
    move |error| IdentityError::Io {
        path: path.to_path_buf(),
        action,
        error,
    }
}

/// Makes `dir` the kiosk's owner-only (0700) state directory: created so when missing,
/// and closed to others when it is open (outside systemd, whose `StateDirectoryMode`
/// does this, a directory made by hand or under a loose umask).
pub fn ensure_private_dir(dir: &Path) -> Result<(), IdentityError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir, "create the state directory"))?;
    if let Some(was) = make_owner_only(dir, 0o700)? {
        tracing::warn!(path = %dir.display(), was = format_args!("{was:04o}"), "state directory was open to others: made owner-only");
    }
    Ok(())
}

/// Takes group and other permissions off `path` (sets `mode`) when it has any, and
/// says what its mode was then; a path that does not exist is left alone.
pub fn make_owner_only(path: &Path, mode: u32) -> Result<Option<u32>, IdentityError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "inspect")(e)),
    };
    let was = meta.mode() & 0o7777;
    if was & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(
        path,
        "make it owner-only (it must belong to the kiosk's user)",
    ))?;
    Ok(Some(was))
}

/// Reads an owner-only file; `None` when it does not exist. The mode is checked on the
/// opened file, so it is the file that was read that passed the check.
fn read_private(path: &Path) -> Result<Option<Vec<u8>>, IdentityError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let meta = file.metadata().map_err(io_err(path, "inspect"))?;
    if !meta.is_file() {
        return Err(IdentityError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Both files are small; a huge one is not ours and is not read into memory.
    const LIMIT: u64 = 64 * 1024;
    let mut bytes = Vec::new();
    (&file)
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    if bytes.len() as u64 > LIMIT {
        return Err(IdentityError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(bytes))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Yes,
    /// Fail with `AlreadyExists` rather than overwrite (the key: two processes starting
    /// at once must end up with one key).
    No,
}

/// Writes `bytes` to `path` through a temporary file in the same directory that is
/// created with mode 0600 (never wider, even for a moment), synced, then moved into
/// place; the directory is synced so the new name survives a power cut.
fn write_private(path: &Path, bytes: &[u8], replace: Replace) -> Result<(), IdentityError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        // The temporary name means nothing to a technician: a failure to make it is
        // the directory's.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(
                dir,
                "write a file in it (the state directory must be writable by the kiosk's user)",
            ))?;
        file.write_all(bytes).map_err(io_err(&tmp, "write"))?;
        file.sync_all().map_err(io_err(&tmp, "sync"))?;
        drop(file);
        match replace {
            Replace::Yes => fs::rename(&tmp, path).map_err(io_err(path, "replace")),
            // A hard link never overwrites: it fails if `path` exists.
            Replace::No => fs::hard_link(&tmp, path).map_err(io_err(path, "create")),
        }
    })();
    // After a rename the temporary name is gone already; after a link or a failure it
    // is removed so no copy of a secret stays behind.
    let _ = fs::remove_file(&tmp);
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync the directory"))
}

/// `apm-kiosk ticket verify PAYLOAD --nik NIK (--key BASE64 | --keys FILE)
/// [--nik-hash-key BASE64 | --state-dir DIR] [--zone TZ]`: the officer's offline check
/// of a ticket's QR. An `APM2` ticket needs the service's NIK hash key, which a counter
/// holds from its own enrollment; an `APM1` ticket needs none and is good until its
/// visit date.
#[derive(Debug, clap::Args)]
pub struct TicketVerifyArgs {
    /// The QR text as scanned: APM2.<claims>.<signature> (or an old APM1. one)
    pub payload: String,
    /// The NIK on the KTP in hand; "-" reads it from standard input, which keeps it out
    /// of the shell history and the process list.
    #[arg(long)]
    pub nik: String,
    #[command(flatten)]
    pub key_source: KeySource,
    #[command(flatten)]
    pub nik_hash_key_source: NikHashKeySource,
    /// The time zone of the office where the ticket is checked (Asia/Jakarta,
    /// Asia/Makassar, Asia/Jayapura, or WIB, WITA, WIT): its date decides whether an
    /// APM1 ticket's visit date has passed. WIB, where the day ends last, never
    /// refuses one early.
    #[arg(long, value_name = "TZ", default_value = "Asia/Jakarta", value_parser = parse_zone)]
    pub zone: Zone,
}

/// Where the issuing kiosk's public key comes from: exactly one of the two.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct KeySource {
    /// The issuing kiosk's public key, standard base64 of 32 bytes.
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    /// The kiosk key list: the JSON of the central service's GET /v1/kiosk-keys.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
}

/// Where the service's NIK hash key comes from: at most one of the two. With neither,
/// APM1 tickets are still checked and APM2 tickets are refused for want of the key.
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub struct NikHashKeySource {
    /// The service's NIK hash key, standard base64 of 32 bytes, as an enrollment gives
    /// it (an officer's counter has it from its own enrollment). A secret: on a machine
    /// others use, prefer --state-dir, which keeps it out of the process list.
    #[arg(long, value_name = "BASE64")]
    pub nik_hash_key: Option<String>,
    /// Read the NIK hash key from the enrollment in this state directory (on a kiosk
    /// /var/lib/apm-kiosk, readable only by the daemon's user).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// A `--zone`: an IANA name the central API knows, or its label (`WIB`).
fn parse_zone(text: &str) -> Result<Zone, String> {
    Zone::from_tz_name(text)
        .or_else(|| {
            Zone::ALL
                .into_iter()
                .find(|z| z.label().eq_ignore_ascii_case(text))
        })
        .ok_or_else(|| {
            format!("{text:?} is not Asia/Jakarta, Asia/Makassar, Asia/Jayapura, WIB, WITA or WIT")
        })
}

/// Prints `valid APM2 ticket: ...` (or APM1) and returns `Ok`, or returns the reason the
/// ticket is refused as the error (so the command exits non-zero).
pub fn run_ticket_verify(args: TicketVerifyArgs) -> anyhow::Result<()> {
    let today = chrono::Utc::now()
        .with_timezone(&args.zone.offset())
        .date_naive();
    println!("{}", check_ticket(&args, today)?);
    Ok(())
}

/// The check of `run_ticket_verify` on `today` at the office: the line for a valid
/// ticket, or why it is refused, each naming the version seen.
fn check_ticket(args: &TicketVerifyArgs, today: NaiveDate) -> anyhow::Result<String> {
    let nik = read_nik(&args.nik)?;
    let keys = key_table(&args.key_source)?;
    let nik_hash_key = nik_hash_key(&args.nik_hash_key_source)?;
    let checker = ticket_qr::Checker {
        keys: &|id: &str| keys.lookup(id),
        nik_hash_key: nik_hash_key.as_ref(),
        today,
    };
    let payload = args.payload.trim();
    match ticket_qr::verify(payload, &nik, &checker) {
        Ok(ticket_qr::Verified { version, claims }) => {
            let note = match version {
                Version::Apm2 => String::new(),
                Version::Apm1 => format!(" (the old unkeyed format, good until {})", claims.d),
            };
            Ok(format!(
                "valid {version} ticket{note}: {}",
                describe(&claims)
            ))
        }
        Err(reason) => {
            let seen = ticket_qr::decode(payload)
                .map(|d| format!(" {} ticket", d.version))
                .unwrap_or_default();
            let hint = if reason == QrError::NoNikHashKey {
                "; give --nik-hash-key BASE64, or --state-dir DIR on an enrolled kiosk"
            } else {
                ""
            };
            Err(anyhow::anyhow!("invalid{seen}: {reason}{hint}"))
        }
    }
}

/// The NIK given on the command line, or read from standard input for "-".
fn read_nik(arg: &str) -> anyhow::Result<String> {
    let nik = if arg == "-" {
        let mut line = String::new();
        io::stdin()
            .read_line(&mut line)
            .context("reading the NIK from standard input")?;
        line.trim().to_string()
    } else {
        arg.trim().to_string()
    };
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("the NIK must be 16 digits");
    }
    Ok(nik)
}

fn key_table(source: &KeySource) -> anyhow::Result<KeyTable> {
    match (&source.key, &source.keys) {
        (Some(key), _) => KeyTable::single(key),
        (None, Some(file)) => {
            let text =
                fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            KeyTable::from_kiosk_keys_json(&text)
                .with_context(|| format!("reading {}", file.display()))
        }
        (None, None) => anyhow::bail!("give --key BASE64 or --keys FILE"),
    }
}

/// The service's NIK hash key as given, or from the enrollment in a state directory;
/// `None` when neither was given.
fn nik_hash_key(source: &NikHashKeySource) -> anyhow::Result<Option<Key32>> {
    match (&source.nik_hash_key, &source.state_dir) {
        (Some(base64), _) => Ok(Some(Key32(
            decode_nik_hash_key(base64).context("--nik-hash-key")?,
        ))),
        (None, Some(dir)) => match Enrollment::load(dir)? {
            Some(e) => Ok(Some(Key32(e.nik_hash_key))),
            None => anyhow::bail!(
                "{}: no enrollment there, so no NIK hash key; give --nik-hash-key",
                dir.display()
            ),
        },
        (None, None) => Ok(None),
    }
}

/// One line about a valid ticket, for the officer.
fn describe(c: &Claims) -> String {
    let issued = chrono::DateTime::from_timestamp(c.t, 0)
        .map_or_else(|| format!("at Unix time {}", c.t), |t| t.to_rfc3339());
    format!(
        "queue {} at office {} on {} session {}, registration {}, issued by kiosk {} at {}",
        c.q, c.o, c.d, c.s, c.r, c.k, issued
    )
}

/// The keys a checker trusts.
enum KeyTable {
    /// One key given on the command line: trusted for whichever kiosk id the ticket names.
    Single(VerifyingKey),
    ByKiosk(HashMap<String, KeyLookup>),
}

/// `GET /v1/kiosk-keys`, only the fields the check needs.
#[derive(Deserialize)]
struct KioskKeysJson {
    keys: Vec<KioskKeyJson>,
}

#[derive(Deserialize)]
struct KioskKeyJson {
    kiosk_id: String,
    public_key: String,
    #[serde(default)]
    revoked: bool,
}

impl KeyTable {
    fn single(base64: &str) -> anyhow::Result<KeyTable> {
        Ok(KeyTable::Single(parse_public_key(base64)?))
    }

    /// A kiosk re-enrolled after its old key was revoked appears twice: the key not
    /// revoked counts. Two live keys for one kiosk make the list ambiguous: refused.
    fn from_kiosk_keys_json(text: &str) -> anyhow::Result<KeyTable> {
        let list: KioskKeysJson =
            serde_json::from_str(text).context("not the JSON of GET /v1/kiosk-keys")?;
        let mut table: HashMap<String, KeyLookup> = HashMap::new();
        for entry in list.keys {
            let new = if entry.revoked {
                KeyLookup::Revoked
            } else {
                KeyLookup::Known(
                    parse_public_key(&entry.public_key)
                        .with_context(|| format!("the key of kiosk {:?}", entry.kiosk_id))?,
                )
            };
            let slot = table
                .entry(entry.kiosk_id.clone())
                .or_insert(KeyLookup::Unknown);
            match (&*slot, &new) {
                (KeyLookup::Known(a), KeyLookup::Known(b)) if a != b => {
                    anyhow::bail!(
                        "kiosk {:?} has two keys that are not revoked",
                        entry.kiosk_id
                    )
                }
                (KeyLookup::Known(_), _) => {}
                _ => *slot = new,
            }
        }
        Ok(KeyTable::ByKiosk(table))
    }

    fn lookup(&self, kiosk_id: &str) -> KeyLookup {
        match self {
            KeyTable::Single(key) => KeyLookup::Known(*key),
            KeyTable::ByKiosk(map) => map.get(kiosk_id).cloned().unwrap_or(KeyLookup::Unknown),
        }
    }
}

fn parse_public_key(base64: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = STANDARD
        .decode(base64.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .context("a public key must be standard base64 of 32 bytes")?;
    VerifyingKey::from_bytes(&bytes).context("not an Ed25519 public key")
}

/// The keyed hash under which the store keeps a NIK for its own rule checks: HMAC-SHA256
/// with a key derived from the kiosk's private key, so that the database alone does not
/// give the NIKs back.
pub fn nik_tag(secret: &[u8; 32], nik: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"apm-kiosk nik tag v1:");
    mac.update(nik.as_bytes());
    let out = mac.finalize().into_bytes();
    ticket_qr::hex(&out[..16])
}

/// The secret for [`nik_tag`], derived from the kiosk's private key so that no second
/// secret file has to be kept.
pub fn nik_tag_secret(key: &ed25519_dalek::SigningKey) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key.to_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"apm-kiosk nik tag secret v1");
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    fn enrollment() -> Enrollment {
        Enrollment {
            kiosk_id: "KRM-02".into(),
            token: "tok-3f9a1c77e2".into(),
            office_ids: vec!["KRM".into()],
            nik_hash_key: [9; 32],
        }
    }

    #[test]
    fn a_key_is_made_once_owner_only_and_then_reused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("state");
        let first = KioskKey::load_or_create(&state).expect("created");
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(KEY_FILE)), 0o600);
        assert_eq!(fs::read(state.join(KEY_FILE)).expect("read").len(), 32);
        let again = KioskKey::load_or_create(&state).expect("loaded");
        assert_eq!(first.public_key_base64(), again.public_key_base64());
        assert_eq!(
            STANDARD
                .decode(first.public_key_base64())
                .expect("b64")
                .len(),
            32
        );
        // No temporary copy of the secret is left behind.
        let names: Vec<_> = fs::read_dir(&state)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);
        let shown = format!("{first:?}");
        assert!(shown.contains(&first.public_key_base64()), "{shown}");
    }

    #[test]
    fn keys_and_enrollments_open_to_others_are_refused() {
        for open_mode in [0o640, 0o604, 0o660, 0o602] {
            let tmp = tempfile::tempdir().expect("tempdir");
            KioskKey::load_or_create(tmp.path()).expect("created");
            enrollment().save(tmp.path()).expect("saved");
            for file in [KEY_FILE, ENROLLMENT_FILE] {
                let path = tmp.path().join(file);
                fs::set_permissions(&path, fs::Permissions::from_mode(open_mode)).expect("chmod");
            }
            let err = KioskKey::load_or_create(tmp.path()).expect_err("key refused");
            assert!(
                matches!(&err, IdentityError::TooOpen { mode, .. } if *mode == open_mode),
                "{err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
            let err = Enrollment::load(tmp.path()).expect_err("enrollment refused");
            assert!(matches!(err, IdentityError::TooOpen { .. }), "{err}");
        }
    }

    #[test]
    fn a_damaged_key_is_refused_not_replaced() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join(KEY_FILE);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(&[1; 31]))
            .expect("write short key");
        let err = KioskKey::load_or_create(tmp.path()).expect_err("short key refused");
        assert!(matches!(err, IdentityError::BadKey { .. }), "{err}");
        assert_eq!(fs::read(&path).expect("read").len(), 31, "left as it was");
    }

    #[test]
    fn enrollment_round_trips_atomically_and_owner_only() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert_eq!(Enrollment::load(tmp.path()).expect("no file"), None);
        let e = enrollment();
        e.save(tmp.path()).expect("saved");
        assert_eq!(mode(&tmp.path().join(ENROLLMENT_FILE)), 0o600);
        assert_eq!(
            Enrollment::load(tmp.path()).expect("loads"),
            Some(e.clone())
        );
        let replaced = Enrollment {
            office_ids: vec!["KRM".into(), "BTM".into()],
            token: "tok-new".into(),
            ..e
        };
        replaced.save(tmp.path()).expect("replaced");
        assert_eq!(Enrollment::load(tmp.path()).expect("loads"), Some(replaced));
        assert_eq!(fs::read_dir(tmp.path()).expect("list").count(), 1);
    }

    #[test]
    fn bad_enrollments() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cases: &[(&str, &str)] = &[
            ("not JSON", "kiosk_id=KRM-02"),
            (
                "wrong key type",
                r#"{"version":1,"kiosk_id":"K","token":7,"office_ids":["KRM"],"nik_hash_key":"AA=="}"#,
            ),
            (
                "short hash key",
                r#"{"version":1,"kiosk_id":"K","token":"t","office_ids":["KRM"],"nik_hash_key":"AAAA"}"#,
            ),
            (
                "no office",
                r#"{"version":1,"kiosk_id":"K","token":"t","office_ids":[],"nik_hash_key":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}"#,
            ),
            (
                "future version",
                r#"{"version":2,"kiosk_id":"K","token":"t","office_ids":["KRM"],"nik_hash_key":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}"#,
            ),
        ];
        let path = tmp.path().join(ENROLLMENT_FILE);
        for (name, text) in cases {
            let _ = fs::remove_file(&path);
            write_private(&path, text.as_bytes(), Replace::No).expect("write");
            let err = Enrollment::load(tmp.path()).expect_err(name);
            assert!(
                matches!(err, IdentityError::BadEnrollment { .. }),
                "{name}: {err}"
            );
        }
        // A token the JSON parser trips over never reaches the message.
        let secret = r#"{"version":"s3cr3t-token","kiosk_id":"K","token":"t","office_ids":["KRM"],"nik_hash_key":""}"#;
        let _ = fs::remove_file(&path);
        write_private(&path, secret.as_bytes(), Replace::No).expect("write");
        let err = Enrollment::load(tmp.path()).expect_err("bad token");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn incomplete_enrollments_are_not_saved() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cases = [
            Enrollment {
                kiosk_id: " ".into(),
                ..enrollment()
            },
            Enrollment {
                token: String::new(),
                ..enrollment()
            },
            Enrollment {
                office_ids: vec![],
                ..enrollment()
            },
        ];
        for e in cases {
            let err = e.save(tmp.path()).expect_err("refused");
            assert!(
                matches!(err, IdentityError::IncompleteEnrollment(_)),
                "{err}"
            );
        }
        assert_eq!(Enrollment::load(tmp.path()).expect("nothing saved"), None);
    }

    #[test]
    fn debug_hides_the_token_and_hash_key() {
        let shown = format!("{:?}", enrollment());
        assert!(shown.contains("KRM-02"), "{shown}");
        assert!(!shown.contains("tok-3f9a1c77e2"), "{shown}");
        assert!(!shown.contains("9, 9"), "{shown}");
    }

    #[test]
    fn nik_hash_vectors() {
        // Cross-checked with Python: hmac.new(key, nik, sha256).hexdigest()[:16].
        let counting: [u8; 32] = std::array::from_fn(|i| i as u8);
        let cases = [
            (counting, "2102015708900003", "8d22dc8682bca63e"),
            ([0; 32], "", "b613679a0814d9ec"),
        ];
        for (key, nik, want) in cases {
            assert_eq!(
                crate::protocol::central::nik_hash(&crate::protocol::central::Key32(key), nik),
                want
            );
        }
    }

    #[test]
    fn nik_hash_key_from_the_enroll_response() {
        assert_eq!(
            decode_nik_hash_key("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=").expect("valid"),
            [9; 32]
        );
        for bad in [
            "",
            "AAAA",
            "not base64!",
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ",
        ] {
            assert!(decode_nik_hash_key(bad).is_err(), "{bad}");
        }
    }

    const NIK: &str = "2102015708900003";

    /// The service's NIK hash key in these tests, as the enrollment above holds it.
    const NIK_HASH_KEY: [u8; 32] = [9; 32];

    fn ticket(kiosk: &str, key: &SigningKey) -> String {
        let r = "0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33".to_string();
        let claims = Claims {
            n: ticket_qr::nik_check(&Key32(NIK_HASH_KEY), &r, NIK),
            r,
            k: kiosk.into(),
            o: "KRM".into(),
            d: visit_day(),
            s: "S1".into(),
            q: "R-021".into(),
            t: 1_795_838_043,
        };
        ticket_qr::sign(&claims, key)
    }

    /// A version 1 ticket of the same claims, as kiosks issued them before version 2:
    /// kiosk KRM-02, signed with seed [7; 32] (the known vector of `protocol::ticket_qr`).
    const APM1_TICKET: &str = "APM1.eyJyIjoiMDE5M2E0ZjItNmMxZS03YjRhLTlmMGUtMmQ1YzhlMWE3YjMzIiwiayI6IktSTS0wMiIsIm8iOiJLUk0iLCJkIjoiMjAyNi0xMS0yNCIsInMiOiJTMSIsInEiOiJSLTAyMSIsIm4iOiJmMTA3MzJjMjI5NGY3OWRlIiwidCI6MTc5NTgzODA0M30.ZHonhAitojiPv0LKHY9M6CWaAcBde86psgBisJ2e377SXuwcj4xMo-RNZtPPHPd7jDL_5GU53mdlQK8uSC76Bg";

    fn visit_day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")
    }

    /// The check with `--nik-hash-key`, before the visit day.
    fn args(
        payload: &str,
        nik: &str,
        key: Option<String>,
        keys: Option<PathBuf>,
    ) -> TicketVerifyArgs {
        TicketVerifyArgs {
            payload: payload.into(),
            nik: nik.into(),
            key_source: KeySource { key, keys },
            nik_hash_key_source: NikHashKeySource {
                nik_hash_key: Some(STANDARD.encode(NIK_HASH_KEY)),
                state_dir: None,
            },
            zone: Zone::Wib,
        }
    }

    fn b64(k: &SigningKey) -> String {
        STANDARD.encode(k.verifying_key().as_bytes())
    }

    #[test]
    fn ticket_verify_command() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live = SigningKey::from_bytes(&[7; 32]);
        let old = SigningKey::from_bytes(&[6; 32]);
        let gone = SigningKey::from_bytes(&[5; 32]);
        let list = format!(
            r#"{{"keys": [
                {{"kiosk_id": "KRM-02", "public_key": "{}", "revoked": true}},
                {{"kiosk_id": "KRM-02", "public_key": "{}", "revoked": false}},
                {{"kiosk_id": "KRM-09", "public_key": "{}", "revoked": true}}]}}"#,
            b64(&old),
            b64(&live),
            b64(&gone)
        );
        let file = tmp.path().join("kiosk-keys.json");
        fs::write(&file, list).expect("write keys");
        let keys = || Some(file.clone());
        let today = visit_day();

        let said =
            check_ticket(&args(&ticket("KRM-02", &live), NIK, None, keys()), today).expect("valid");
        assert!(said.starts_with("valid APM2 ticket: queue R-021"), "{said}");
        check_ticket(
            &args(&ticket("KRM-02", &live), NIK, Some(b64(&live)), None),
            today,
        )
        .expect("valid with --key");

        let refused: [(&str, TicketVerifyArgs, &str); 6] = [
            (
                "old key",
                args(&ticket("KRM-02", &old), NIK, None, keys()),
                "invalid APM2 ticket: bad signature",
            ),
            (
                "revoked",
                args(&ticket("KRM-09", &gone), NIK, None, keys()),
                "revoked",
            ),
            (
                "unknown",
                args(&ticket("JKT-01", &live), NIK, None, keys()),
                "unknown kiosk",
            ),
            (
                "wrong NIK",
                args(&ticket("KRM-02", &live), "2102015708900004", None, keys()),
                "another NIK",
            ),
            (
                "other --key",
                args(&ticket("KRM-02", &live), NIK, Some(b64(&old)), None),
                "bad signature",
            ),
            (
                "not a NIK",
                args(&ticket("KRM-02", &live), "12345", None, keys()),
                "16 digits",
            ),
        ];
        for (name, a, want) in refused {
            let err = check_ticket(&a, today).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(!err.contains(NIK), "{name}: {err}");
        }
    }

    #[test]
    fn ticket_verify_needs_the_services_nik_hash_key_for_apm2() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live = SigningKey::from_bytes(&[7; 32]);
        let payload = ticket("KRM-02", &live);
        let with_source = |nik_hash_key: Option<String>, state_dir: Option<PathBuf>| {
            let a = TicketVerifyArgs {
                nik_hash_key_source: NikHashKeySource {
                    nik_hash_key,
                    state_dir,
                },
                ..args(&payload, NIK, Some(b64(&live)), None)
            };
            check_ticket(&a, visit_day())
        };

        // From the enrollment of the kiosk the command runs on.
        enrollment().save(tmp.path()).expect("saved");
        let said = with_source(None, Some(tmp.path().to_owned())).expect("valid");
        assert!(said.starts_with("valid APM2 ticket"), "{said}");

        let err = with_source(Some(STANDARD.encode([8u8; 32])), None)
            .expect_err("another service's key")
            .to_string();
        assert!(
            err.contains("invalid APM2 ticket: the ticket belongs to another NIK"),
            "{err}"
        );
        let err = with_source(None, None).expect_err("no key").to_string();
        assert!(err.contains("--nik-hash-key"), "{err}");
        let err = with_source(Some("AAAA".into()), None)
            .expect_err("not a key")
            .to_string();
        assert!(err.contains("--nik-hash-key"), "{err}");
        let empty = tempfile::tempdir().expect("tempdir");
        let err = with_source(None, Some(empty.path().to_owned()))
            .expect_err("not enrolled")
            .to_string();
        assert!(err.contains("no enrollment"), "{err}");
    }

    #[test]
    fn ticket_verify_takes_apm1_until_its_visit_date() {
        let live = SigningKey::from_bytes(&[7; 32]);
        // No NIK hash key: version 1 needs none.
        let a = TicketVerifyArgs {
            nik_hash_key_source: NikHashKeySource {
                nik_hash_key: None,
                state_dir: None,
            },
            ..args(APM1_TICKET, NIK, Some(b64(&live)), None)
        };
        let said = check_ticket(&a, visit_day()).expect("valid on its day");
        assert!(
            said.starts_with(
                "valid APM1 ticket (the old unkeyed format, good until 2026-11-24): queue R-021"
            ),
            "{said}"
        );
        let day_after = visit_day().succ_opt().expect("a day after");
        let err = check_ticket(&a, day_after)
            .expect_err("refused after its day")
            .to_string();
        assert!(err.contains("invalid APM1 ticket"), "{err}");
        assert!(err.contains("2026-11-24"), "{err}");
    }

    #[test]
    fn ticket_verify_zones() {
        assert_eq!(parse_zone("Asia/Makassar"), Ok(Zone::Wita));
        assert_eq!(parse_zone("WIT"), Ok(Zone::Wit));
        assert_eq!(parse_zone("wib"), Ok(Zone::Wib));
        assert!(parse_zone("Europe/Paris").is_err());
    }

    #[test]
    fn key_lists_with_two_live_keys_for_one_kiosk_are_refused() {
        let a = STANDARD.encode(SigningKey::from_bytes(&[1; 32]).verifying_key().as_bytes());
        let b = STANDARD.encode(SigningKey::from_bytes(&[2; 32]).verifying_key().as_bytes());
        let json = format!(
            r#"{{"keys":[{{"kiosk_id":"K","public_key":"{a}","revoked":false}},{{"kiosk_id":"K","public_key":"{b}","revoked":false}}]}}"#
        );
        assert!(KeyTable::from_kiosk_keys_json(&json).is_err());
        assert!(
            KeyTable::from_kiosk_keys_json(r#"{"keys":[{"kiosk_id":"K","public_key":"AAAA"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn ticket_verify_arguments_need_exactly_one_key_source() {
        use clap::{Args as _, Command, FromArgMatches as _};
        let cmd = TicketVerifyArgs::augment_args(Command::new("verify"));
        cmd.clone().debug_assert();
        let parse = |argv: &[&str]| {
            cmd.clone()
                .try_get_matches_from(argv)
                .and_then(|m| TicketVerifyArgs::from_arg_matches(&m))
        };
        let a = parse(&["verify", "APM2.a.b", "--nik", "-", "--key", "AAAA"]).expect("--key");
        assert_eq!(a.key_source.key.as_deref(), Some("AAAA"));
        assert_eq!(a.nik_hash_key_source.nik_hash_key, None);
        assert_eq!(a.zone, Zone::Wib);
        let a = parse(&["verify", "APM2.a.b", "--nik", "-", "--keys", "k.json"]).expect("--keys");
        assert_eq!(a.key_source.keys, Some(PathBuf::from("k.json")));
        let a = parse(&[
            "verify",
            "APM2.a.b",
            "--nik",
            "-",
            "--keys",
            "k",
            "--nik-hash-key",
            "CQ==",
            "--zone",
            "WITA",
        ])
        .expect("--nik-hash-key");
        assert_eq!(a.nik_hash_key_source.nik_hash_key.as_deref(), Some("CQ=="));
        assert_eq!(a.zone, Zone::Wita);
        let a = parse(&[
            "verify",
            "APM2.a.b",
            "--nik",
            "-",
            "--keys",
            "k",
            "--state-dir",
            "/s",
        ])
        .expect("--state-dir");
        assert_eq!(a.nik_hash_key_source.state_dir, Some(PathBuf::from("/s")));
        let refused: [&[&str]; 5] = [
            &["verify", "APM2.a.b", "--nik", "-"],
            &[
                "verify", "APM2.a.b", "--nik", "-", "--key", "A", "--keys", "k",
            ],
            &["verify", "APM2.a.b", "--key", "A"],
            &[
                "verify",
                "APM2.a.b",
                "--nik",
                "-",
                "--key",
                "A",
                "--nik-hash-key",
                "B",
                "--state-dir",
                "/s",
            ],
            &[
                "verify", "APM2.a.b", "--nik", "-", "--key", "A", "--zone", "UTC",
            ],
        ];
        for argv in refused {
            assert!(parse(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn describe_a_valid_ticket() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let claims = ticket_qr::decode(&ticket("KRM-02", &key))
            .expect("decodes")
            .claims;
        assert_eq!(
            describe(&claims),
            "queue R-021 at office KRM on 2026-11-24 session S1, registration 0193a4f2-6c1e-7b4a-9f0e-2d5c8e1a7b33, issued by kiosk KRM-02 at 2026-11-28T03:54:03+00:00"
        );
    }
}
