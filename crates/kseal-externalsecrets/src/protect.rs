//! Secrets the sync never writes or deletes, whatever an ExternalSecret's `creationPolicy` and
//! `deletionPolicy`: the controller's sealing keys and the Secrets of SealedSecrets.
//!
//! Overwriting a sealing key loses it for good (every SealedSecret sealed to it stops unsealing), and a
//! Secret labelled like one is loaded as a key (whoever writes it chooses the key new SealedSecrets are
//! sealed with). A Secret of a SealedSecret belongs to the unsealer. [`check`] is applied to the target
//! Secret as it exists (read fresh before every write) and to the Secret the sync would write.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;

use kseal_api::names::{
    KEY_LABEL as SEALING_KEY_LABEL, KEY_SECRET_PREFIX as LEGACY_KEY_NAME,
    MANAGED_LABEL as UNSEALER_LABEL, SEALED_DIGEST, UNSEALED_WITH,
};

/// Annotations the unsealer puts on every Secret it writes.
const UNSEALER_ANNOTATIONS: [&str; 2] = [SEALED_DIGEST, UNSEALED_WITH];
/// Kind of the owner that makes a Secret a SealedSecret's.
pub const SEALED_SECRET_KIND: &str = "SealedSecret";
/// API group of SealedSecrets (`bitnami.com/v1alpha1`).
pub const SEALED_SECRET_GROUP: &str = "bitnami.com";

/// Where the controller keeps its sealing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLocation {
    /// The controller's key namespace; `None`: only the label marks key Secrets.
    pub namespace: Option<String>,
    /// Name prefix of the key Secrets there (`sealed-secrets-key`); `None` or empty: only the legacy name.
    pub prefix: Option<String>,
}

impl KeyLocation {
    /// Why a Secret named `name` in `namespace` is a sealing key by its name alone, if it is.
    pub fn by_name(&self, namespace: &str, name: &str) -> Option<String> {
        if self.namespace.as_deref() != Some(namespace) {
            return None;
        }
        if name == LEGACY_KEY_NAME {
            return Some(format!(
                "it is the sealing key's name ({LEGACY_KEY_NAME}) in the controller's key namespace"
            ));
        }
        let prefix = self.prefix.as_deref().filter(|p| !p.is_empty())?;
        name.starts_with(prefix).then(|| {
            format!(
                "its name starts with the sealing keys' prefix {prefix} in the controller's key namespace"
            )
        })
    }
}

/// Why `secret` (in `namespace`) is a sealing key, if it is: labelled as one, or named like one in the
/// key namespace. A PushSecret never sends one anywhere.
pub fn sealing_key(keys: &KeyLocation, namespace: &str, secret: &Secret) -> Option<String> {
    if secret.labels().contains_key(SEALING_KEY_LABEL) {
        return Some(format!(
            "it is labelled {SEALING_KEY_LABEL} (a sealing key)"
        ));
    }
    keys.by_name(namespace, &secret.name_any())
}

/// Why the sync may not write or delete `secret` (in `namespace`), if it may not: it is a sealing key
/// (labelled, or named like one in the key namespace), owned by a SealedSecret, or marked by the
/// unsealer.
pub fn check(keys: &KeyLocation, namespace: &str, secret: &Secret) -> Option<String> {
    if let Some(why) = sealing_key(keys, namespace, secret) {
        return Some(why);
    }
    if let Some(owner) = secret.owner_references().iter().find(|o| {
        o.kind == SEALED_SECRET_KIND
            && o.api_version
                .split_once('/')
                .is_some_and(|(group, _)| group == SEALED_SECRET_GROUP)
    }) {
        return Some(format!("it is owned by SealedSecret {}", owner.name));
    }
    if secret.labels().contains_key(UNSEALER_LABEL) {
        return Some(format!(
            "it is labelled {UNSEALER_LABEL} (written by the unsealer)"
        ));
    }
    let annotations = secret.annotations();
    if let Some(annotation) = UNSEALER_ANNOTATIONS
        .iter()
        .find(|a| annotations.contains_key(**a))
    {
        return Some(format!(
            "it is annotated {annotation} (written by the unsealer)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;

    fn keys() -> KeyLocation {
        KeyLocation {
            namespace: Some("kube-system".into()),
            prefix: Some("sealed-secrets-key".into()),
        }
    }

    fn secret(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Secret {
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: map(labels),
                annotations: map(annotations),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn sealing_keys_are_protected_by_label_anywhere_and_by_name_in_the_key_namespace() {
        let labelled = secret("backup", &[(SEALING_KEY_LABEL, "compromised")], &[]);
        for namespace in ["kube-system", "apps"] {
            let why = check(&keys(), namespace, &labelled).unwrap();
            assert!(why.contains(SEALING_KEY_LABEL), "{why}");
        }
        let generated = secret("sealed-secrets-keyx7k2p", &[], &[]);
        assert!(
            check(&keys(), "kube-system", &generated)
                .unwrap()
                .contains("prefix")
        );
        assert_eq!(check(&keys(), "apps", &generated), None);
        let legacy = secret("sealed-secrets-key", &[], &[]);
        // The legacy name is protected even with another prefix configured.
        let other = KeyLocation {
            prefix: Some("mykeys-".into()),
            ..keys()
        };
        assert!(check(&other, "kube-system", &legacy).is_some());
        assert_eq!(check(&other, "kube-system", &generated), None);
        // An empty prefix protects no name but the legacy one (it would otherwise match every name).
        let empty = KeyLocation {
            prefix: Some(String::new()),
            ..keys()
        };
        assert_eq!(check(&empty, "kube-system", &secret("app", &[], &[])), None);
        assert_eq!(
            check(
                &KeyLocation::default(),
                "kube-system",
                &secret("app", &[], &[])
            ),
            None
        );
    }

    #[test]
    fn secrets_of_sealed_secrets_are_protected() {
        let mut owned = secret("app", &[], &[]);
        owned.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: "app".into(),
            uid: "1".into(),
            ..OwnerReference::default()
        }]);
        assert_eq!(
            check(&keys(), "apps", &owned).as_deref(),
            Some("it is owned by SealedSecret app")
        );
        // Another group's kind of the same name is not a SealedSecret.
        owned.metadata.owner_references.as_mut().unwrap()[0].api_version = "example.com/v1".into();
        assert_eq!(check(&keys(), "apps", &owned), None);

        let labelled = secret("app", &[(UNSEALER_LABEL, "true")], &[]);
        assert!(check(&keys(), "apps", &labelled).is_some());
        for annotation in UNSEALER_ANNOTATIONS {
            let annotated = secret("app", &[], &[(annotation, "x")]);
            assert!(
                check(&keys(), "apps", &annotated)
                    .unwrap()
                    .contains(annotation)
            );
        }
        let plain = secret(
            "app",
            &[("reconcile.external-secrets.io/managed", "true")],
            &[],
        );
        assert_eq!(check(&keys(), "apps", &plain), None);
    }
}
