//! Publishes the sealing certificate in a ConfigMap, so `kseal` can fetch it where the API server's service
//! proxy is blocked.
//!
//! [`desired`] is the pure part; [`publish`] applies it whenever the sealing key changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::Result;
use crate::keys::SharedKeys;
use kseal_api::names::{CERT_CONFIG_MAP, CERT_KEY, field_managers::CERTIFICATE as FIELD_MANAGER};

/// Retry delay after a failed apply.
pub const PUBLISH_RETRY: Duration = Duration::from_secs(10);

/// The ConfigMap publishing `certificate_pem` in `namespace`.
pub fn desired(namespace: &str, certificate_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CERT_CONFIG_MAP.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            CERT_KEY.to_owned(),
            certificate_pem.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}

/// Applies [`desired`] (server-side apply, forced; k8s-openapi writes `apiVersion` and `kind`).
pub async fn apply(client: &Client, namespace: &str, certificate_pem: &str) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    api.patch(
        CERT_CONFIG_MAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(desired(namespace, certificate_pem)),
    )
    .await?;
    Ok(())
}

/// Publishes the current sealing certificate now and again after each item of `changes` (a key-ring
/// change), when the sealing key differs from the one last published. A failure is logged and retried after
/// [`PUBLISH_RETRY`]. Runs until `changes` ends.
pub async fn publish(
    client: Client,
    namespace: String,
    keys: Arc<SharedKeys>,
    changes: impl Stream<Item = ()>,
) {
    let mut changes = std::pin::pin!(changes);
    let mut published: Option<String> = None;
    loop {
        let ring = keys.get();
        if let Some(key) = ring.sealing_key()
            && published.as_deref() != Some(key.fingerprint())
        {
            match apply(&client, &namespace, key.certificate.to_pem()).await {
                Ok(()) => {
                    tracing::info!(
                        namespace,
                        name = CERT_CONFIG_MAP,
                        fingerprint = key.fingerprint(),
                        "published the sealing certificate"
                    );
                    published = Some(key.fingerprint().to_owned());
                }
                Err(error) => {
                    tracing::warn!(%error, namespace, name = CERT_CONFIG_MAP, "publishing the sealing certificate");
                    tokio::time::sleep(PUBLISH_RETRY).await;
                    continue;
                }
            }
        }
        if changes.next().await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_config_map_holds_only_the_certificate() {
        let config_map = desired("kube-system", "PEM");
        assert_eq!(config_map.metadata.name.as_deref(), Some("kseal-cert"));
        assert_eq!(
            config_map.metadata.namespace.as_deref(),
            Some("kube-system")
        );
        assert_eq!(
            config_map.data,
            Some(BTreeMap::from([("cert.pem".to_owned(), "PEM".to_owned())]))
        );
    }
}
