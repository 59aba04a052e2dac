//! ESO's `fake` provider: the values are the store's own `spec.provider.fake.data`.

use kseal_api::external_secrets::FakeProviderData;
use zeroize::Zeroizing;

use super::aws::RemoteSecret;

/// The entry `key` (at `version`, none for the unversioned one) of a fake store; a `valueMap` entry
/// reads as its JSON object.
pub fn get(data: &[FakeProviderData], key: &str, version: Option<&str>) -> Option<RemoteSecret> {
    let version = version.unwrap_or_default();
    let entry = data
        .iter()
        .find(|d| d.key == key && d.version.as_deref().unwrap_or_default() == version)?;
    let value = match &entry.value_map {
        Some(map) if entry.value.is_empty() => serde_json::to_string(map).unwrap_or_default(),
        _ => entry.value.clone(),
    };
    Some(RemoteSecret::String(Zeroizing::new(value)))
}
