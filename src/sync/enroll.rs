//! Enrollment: the one request a kiosk makes before it has a token. A technician gives
//! the one-time code from the central office; the answer (kiosk id, token, offices, NIK
//! hash key) is kept beside the kiosk key (`identity`).

use anyhow::Context as _;

use super::client::{CentralApi, HttpCentral};
use crate::config::Config;
use crate::identity::{Enrollment, KioskKey};
use crate::status::VERSION;

/// Enrolls the kiosk with a one-time code from the central office and stores the token
/// and NIK hash key beside the kiosk key. Done once, by a technician.
pub async fn enroll(config: &Config, code: &str) -> anyhow::Result<Enrollment> {
    let api = HttpCentral::from_config(&config.central, None)?;
    enroll_with(&api, &config.kiosk.state_dir, code).await
}

/// [`enroll`] through `api`, keeping the answer in the state directory `dir`.
pub async fn enroll_with(
    api: &impl CentralApi,
    dir: &std::path::Path,
    code: &str,
) -> anyhow::Result<Enrollment> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let key = KioskKey::load_or_create(dir).context("kiosk key")?;
    let request = crate::protocol::central::EnrollRequest {
        code: code.trim().to_owned(),
        public_key: crate::protocol::central::Key32(key.signing_key().verifying_key().to_bytes()),
        software_version: VERSION.to_owned(),
    };
    let answer = api.enroll(&request).await.map_err(|e| match e.code() {
        Some("invalid_code") => anyhow::anyhow!("the enrollment code was refused: it is unknown or already used; ask the central office for a new one"),
        _ => anyhow::Error::new(e).context("enrollment failed"),
    })?;
    let enrollment = Enrollment {
        kiosk_id: answer.kiosk_id,
        token: answer.token,
        office_ids: answer.office_ids,
        nik_hash_key: answer.nik_hash_key.0,
    };
    enrollment
        .save(dir)
        .context("cannot store the enrollment")?;
    tracing::info!(kiosk = %enrollment.kiosk_id, "enrolled");
    Ok(enrollment)
}
