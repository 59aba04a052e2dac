//! Reading the sealing certificate from a file or URL, byte for byte.

use std::time::Duration;

use anyhow::{Context as _, Result};

const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CERT_BYTES: u64 = 1 << 20;

/// Reads the certificate PEM named by `--cert`: a path, a `file://` URL or an `http(s)://` URL.
pub fn read_pem(location: &str) -> Result<Vec<u8>> {
    if location.starts_with("http://") || location.starts_with("https://") {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .build()
            .into();
        let mut response = agent
            .get(location)
            .call()
            .with_context(|| format!("cannot fetch {location}"))?;
        return response
            .body_mut()
            .with_config()
            .limit(MAX_CERT_BYTES)
            .read_to_vec()
            .with_context(|| format!("cannot read {location}"));
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(fs_err::read(path)?)
}
