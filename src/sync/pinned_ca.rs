//! The central office's CA pinned by `central.ca_file`, read and checked in one place:
//! for the client that trusts it, and for the config check that points at the key's
//! line when the file cannot serve.

use std::path::Path;

/// The certificates of the PEM file at `path`; what is wrong with it otherwise, in
/// words that follow the file's name ("cannot be read: ...", "holds no certificate").
pub fn load(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    certificates(&pem)
}

/// The certificates of a PEM bundle; what is wrong with it otherwise.
pub fn certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certs =
        reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate".into());
    }
    Ok(certs)
}
