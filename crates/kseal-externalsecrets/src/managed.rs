//! What the sync keeps of each Secret it manages, from their watch: a few facts per Secret (no data),
//! enough to tell whether a reconcile has anything to do without reading the Secret.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::core::v1::Secret;
use kseal_core::external_secrets::{desired, write};
use kube::ResourceExt as _;
use kube::runtime::watcher;

use crate::protect::KeyLocation;

/// What is known of one managed Secret.
#[derive(Debug, Clone)]
pub struct Managed {
    /// Its data matched its data-hash annotation.
    pub intact: bool,
    /// It is being deleted.
    pub deleting: bool,
    /// The sync may never write it ([`crate::protect::check`]).
    pub protected: bool,
    /// The UID of the ExternalSecret that controls it, if one does.
    pub controller: Option<String>,
    /// Its labels, annotations, finalizers and type ([`write::metadata_facts`]).
    pub facts: Box<[u64]>,
}

impl Managed {
    fn of(secret: &Secret, keys: &KeyLocation) -> Managed {
        let namespace = secret.namespace().unwrap_or_default();
        Managed {
            intact: desired::secret_unchanged(secret),
            deleting: secret.metadata.deletion_timestamp.is_some(),
            protected: crate::protect::check(keys, &namespace, secret).is_some(),
            controller: secret
                .owner_references()
                .iter()
                .find(|o| {
                    o.controller == Some(true)
                        && o.kind == "ExternalSecret"
                        && o.api_version.starts_with("external-secrets.io/")
                })
                .map(|o| o.uid.clone()),
            facts: write::metadata_facts(secret),
        }
    }
}

type Key = (String, String);

/// The index, kept from the watch's events as a reflector keeps its store.
#[derive(Debug, Default)]
pub struct ManagedIndex {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    current: HashMap<Key, Managed>,
    /// While the watch lists again: the objects listed so far, which replace `current` when it is done.
    relisting: Option<HashMap<Key, Managed>>,
}

impl ManagedIndex {
    /// Takes in one event of the managed Secrets' watch.
    pub fn observe(&self, event: &watcher::Event<Secret>, keys: &KeyLocation) {
        let key = |secret: &Secret| (secret.namespace().unwrap_or_default(), secret.name_any());
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(secret) => {
                inner.current.insert(key(secret), Managed::of(secret, keys));
            }
            watcher::Event::Delete(secret) => {
                inner.current.remove(&key(secret));
            }
            watcher::Event::Init => inner.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(secret) => {
                let managed = Managed::of(secret, keys);
                inner
                    .relisting
                    .get_or_insert_default()
                    .insert(key(secret), managed);
            }
            watcher::Event::InitDone => {
                if let Some(listed) = inner.relisting.take() {
                    inner.current = listed;
                }
            }
        }
    }

    /// What is known of Secret `namespace/name`, if the sync manages it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Managed> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .current
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn secret(name: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn the_index_follows_the_watch_and_its_relists() {
        let index = ManagedIndex::default();
        let keys = KeyLocation::default();
        index.observe(&watcher::Event::Apply(secret("a")), &keys);
        index.observe(&watcher::Event::Apply(secret("b")), &keys);
        assert!(index.get("ns", "a").is_some());
        index.observe(&watcher::Event::Delete(secret("a")), &keys);
        assert!(index.get("ns", "a").is_none());
        // A relist that no longer has `b` drops it once it is done, not before.
        index.observe(&watcher::Event::Init, &keys);
        index.observe(&watcher::Event::InitApply(secret("c")), &keys);
        assert!(index.get("ns", "b").is_some());
        index.observe(&watcher::Event::InitDone, &keys);
        assert!(index.get("ns", "b").is_none());
        assert!(index.get("ns", "c").is_some());
        // Without a data-hash annotation nothing says the data is as written.
        assert!(!index.get("ns", "c").unwrap().intact);
    }
}
