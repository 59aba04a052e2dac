//! What a reconciler remembers about each object between reconciles, keyed by object and pruned when
//! the object goes: a deleted object leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures::TryStreamExt as _;
use kube::ResourceExt as _;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

/// `(namespace, name)` of an object (the namespace is empty for cluster-scoped objects).
pub type ObjectKey = (String, String);

/// One object's entry: the reconciler's own state `S` and its consecutive failures.
#[derive(Debug, Default)]
struct Entry<S> {
    failures: u32,
    state: S,
}

/// Per-object state of a reconciler. Entries are created on first use and removed by
/// [`ObjectTable::observe`] when the watch reports the object deleted, or missing from a relist.
#[derive(Debug)]
pub struct ObjectTable<S> {
    entries: Mutex<HashMap<ObjectKey, Entry<S>>>,
}

impl<S> Default for ObjectTable<S> {
    fn default() -> Self {
        ObjectTable {
            entries: Mutex::default(),
        }
    }
}

/// The table key of `object`.
pub fn key_of(object: &impl kube::Resource) -> ObjectKey {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl<S: Default> ObjectTable<S> {
    /// Runs `f` on the state of `object` (a default one if it has none yet).
    pub fn with<T>(&self, object: &impl kube::Resource, f: impl FnOnce(&mut S) -> T) -> T {
        let mut entries = self.lock();
        f(&mut entries.entry(key_of(object)).or_default().state)
    }

    /// Counts one more consecutive failure of `object`; returns the count (1 after the first).
    pub fn failed(&self, object: &impl kube::Resource) -> u32 {
        let mut entries = self.lock();
        let entry = entries.entry(key_of(object)).or_default();
        entry.failures = entry.failures.saturating_add(1);
        entry.failures
    }

    /// `object` reconciled: its failure count starts again.
    pub fn succeeded(&self, object: &impl kube::Resource) {
        if let Some(entry) = self.lock().get_mut(&key_of(object)) {
            entry.failures = 0;
        }
    }
}

impl<S> ObjectTable<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Entry<S>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets `object`.
    pub fn remove(&self, object: &impl kube::Resource) {
        self.lock().remove(&key_of(object));
    }

    /// Keeps the entries for which `keep` holds.
    pub fn retain(&self, mut keep: impl FnMut(&ObjectKey, &S) -> bool) {
        self.lock().retain(|key, entry| keep(key, &entry.state));
    }

    /// Collects `f` of every entry.
    pub fn collect<T>(&self, mut f: impl FnMut(&ObjectKey, &S) -> Option<T>) -> Vec<T> {
        self.lock()
            .iter()
            .filter_map(|(key, entry)| f(key, &entry.state))
            .collect()
    }

    /// Number of objects with an entry.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no object has an entry.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Prunes on one event of the watch that fills `store` (after the store has applied it): a deleted
    /// object's entry goes, and a completed relist drops every entry whose object it did not list (one
    /// deleted while the watch was down).
    pub fn observe<K>(&self, event: &watcher::Event<K>, store: &Store<K>)
    where
        K: kube::Resource + Clone + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        match event {
            watcher::Event::Delete(object) => self.remove(object),
            watcher::Event::InitDone => self.retain(|(namespace, name), _| {
                let mut reference = ObjectRef::new(name);
                if !namespace.is_empty() {
                    reference = reference.within(namespace);
                }
                store.get(&reference).is_some()
            }),
            _ => {}
        }
    }
}

/// A controller of the objects of `api`, as `Controller::new` builds it, that also hands every event of
/// its watch to `observe` once the store has applied it: where a reconciler prunes its per-object state
/// ([`ObjectTable::observe`]) and any index of its own.
pub fn controller<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    observe: impl Fn(&watcher::Event<K>, &Store<K>) + Send + 'static,
) -> Controller<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync + Unpin,
{
    let (store, writer) = reflector::store();
    let observed = store.clone();
    let changes = reflector::reflector(writer, watcher(api, config))
        .inspect_ok(move |event| observe(event, &observed))
        .applied_objects();
    Controller::for_stream(changes, store)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector;

    use super::*;

    fn object(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("team".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn failures_count_per_object_and_reset_on_success() {
        let table: ObjectTable<()> = ObjectTable::default();
        assert_eq!(table.failed(&object("a")), 1);
        assert_eq!(table.failed(&object("a")), 2);
        assert_eq!(table.failed(&object("b")), 1);
        table.succeeded(&object("a"));
        assert_eq!(table.failed(&object("a")), 1);
    }

    #[test]
    fn a_deleted_object_and_one_missing_from_a_relist_are_forgotten() {
        let (reader, mut writer) = reflector::store::<ConfigMap>();
        let table: ObjectTable<u32> = ObjectTable::default();
        for name in ["kept", "deleted", "gone-while-away"] {
            table.with(&object(name), |n| *n += 1);
        }
        let delete = watcher::Event::Delete(object("deleted"));
        writer.apply_watcher_event(&delete);
        table.observe(&delete, &reader);
        assert_eq!(table.len(), 2);

        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(object("kept")),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            table.observe(&event, &reader);
        }
        assert_eq!(
            table.collect(|(_, name), n| Some((name.clone(), *n))),
            [("kept".to_owned(), 1)]
        );
    }
}
