//! [`Fetcher`]: coalesced and batched reads shared by all reconciles. Requests for the same (store, key, version) share one fetch;
//! requests for current versions that arrive within [`BATCH_WINDOW`] go out
//! together as BatchGetSecretValue calls of up to 20 ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::client::{MAX_BATCH_IDS, Provider, RemoteSecret, VersionSelector};
use super::error::Error;

/// How long the first request for a current version waits for others to
/// join its BatchGetSecretValue call.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Stores the fetcher remembers; beyond this the least recently used is forgotten.
pub const MAX_STORES: usize = 1024;

/// Identifies a store configuration to the [`Fetcher`]; opaque, chosen by the
/// caller (e.g. a hash of the store's spec and its credentials' resourceVersions).
/// All fetches with one id must pass equivalent providers: a batch is sent
/// through the provider of whichever request started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(pub u64);

/// What one fetch gives all its waiters.
type Outcome = Result<Arc<RemoteSecret>, Error>;

/// The cache key within a store: key and version (`None`: current).
type EntryKey = (String, Option<String>);

/// Coalesces and batches fetches across reconciles. Cheap to clone; all
/// clones share one cache. Needs a tokio runtime (fetches run as tasks, so a
/// cancelled caller never strands the others).
#[derive(Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
}

struct Shared {
    stores: Mutex<HashMap<StoreId, StoreState>>,
    batch_window: Duration,
    next_generation: AtomicU64,
}

struct StoreState {
    entries: HashMap<EntryKey, Entry>,
    /// Current-version requests waiting for the next batch call.
    pending: Vec<Pending>,
    /// Whether a task will send `pending` when the window ends.
    timer_armed: bool,
    last_used: Instant,
}

enum Entry {
    /// A value fetched by a request sent at `fetched_at`.
    Ready {
        fetched_at: Instant,
        value: Arc<RemoteSecret>,
    },
    /// A fetch in progress; `sent_at` is `None` while it waits for its batch.
    InFlight {
        generation: u64,
        sent_at: Option<Instant>,
        outcome: watch::Receiver<Option<Outcome>>,
    },
}

struct Pending {
    key: String,
    generation: u64,
    done: watch::Sender<Option<Outcome>>,
}

/// Where a fetcher reads from: a [`Provider`], or a stand-in in unit tests.
trait Source: Clone + Send + Sync + 'static {
    fn get(&self, key: String, version: String) -> BoxFuture<'static, Result<RemoteSecret, Error>>;
    /// Most keys one batch call reads.
    fn batch_size(&self) -> usize {
        MAX_BATCH_IDS
    }
    /// Whether `version` selects the current value (read in batches).
    fn is_current(&self, version: Option<&str>) -> bool {
        VersionSelector::parse(version).is_current()
    }
    #[allow(clippy::type_complexity)]
    fn batch_get(
        &self,
        keys: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<(String, Result<RemoteSecret, Error>)>, Error>>;
}

impl Source for Provider {
    fn get(&self, key: String, version: String) -> BoxFuture<'static, Result<RemoteSecret, Error>> {
        let provider = self.clone();
        async move { provider.get(&key, Some(&version)).await }.boxed()
    }

    fn batch_size(&self) -> usize {
        Provider::batch_size(self)
    }

    fn is_current(&self, version: Option<&str>) -> bool {
        Provider::is_current(self, version)
    }

    fn batch_get(
        &self,
        keys: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<(String, Result<RemoteSecret, Error>)>, Error>> {
        let provider = self.clone();
        async move { provider.batch_get(&keys).await }.boxed()
    }
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("batch_window", &self.shared.batch_window)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher with an empty cache and [`BATCH_WINDOW`].
    pub fn new() -> Self {
        Self::with_batch_window(BATCH_WINDOW)
    }

    /// A fetcher whose batches wait `batch_window`.
    pub fn with_batch_window(batch_window: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                stores: Mutex::new(HashMap::new()),
                batch_window,
                next_generation: AtomicU64::new(0),
            }),
        }
    }

    /// The value of `key` at `version` in `store`, read through `provider`.
    /// A value fetched by a request sent at or after `fresh_after` is reused
    /// without a call; so is a fetch in progress that was sent then (or is
    /// still waiting for its batch). Errors reach every waiter of that fetch
    /// and are not cached. Callers of one refresh round should pass the same
    /// `fresh_after` (the round's start).
    pub async fn fetch(
        &self,
        store: StoreId,
        provider: &Provider,
        key: &str,
        version: Option<&str>,
        fresh_after: Instant,
    ) -> Result<Arc<RemoteSecret>, Error> {
        self.fetch_from(store, provider, key, version, fresh_after)
            .await
    }

    /// Forgets everything about `store` (e.g. when the store was deleted or changed).
    pub fn forget(&self, store: StoreId) {
        self.shared.lock().remove(&store);
    }

    /// Keeps only the stores for which `keep` returns true.
    pub fn retain(&self, mut keep: impl FnMut(StoreId) -> bool) {
        self.shared.lock().retain(|store, _| keep(*store));
    }

    async fn fetch_from<S: Source>(
        &self,
        store: StoreId,
        source: &S,
        key: &str,
        version: Option<&str>,
        fresh_after: Instant,
    ) -> Result<Arc<RemoteSecret>, Error> {
        let version = match source.is_current(version) {
            true => None,
            false => version.map(str::to_owned),
        };
        let entry_key = (key.to_owned(), version);
        let (generation, mut outcome) =
            match self.join_or_start(store, source, &entry_key, fresh_after) {
                Ok(value) => return Ok(value),
                Err(waiting) => waiting,
            };
        let result = match outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        };
        result.unwrap_or_else(|| {
            // The fetch task ended without an answer: let the next request retry.
            self.shared.finish(store, &entry_key, generation, None);
            Err(Error::Request {
                operation: "fetch",
                key: Some(key.to_owned()),
                message: "the fetch ended without a result".to_owned(),
            })
        })
    }

    /// A fresh cached value, or the generation and receiver of a fetch to
    /// wait for (joined or started).
    #[allow(clippy::type_complexity)]
    fn join_or_start<S: Source>(
        &self,
        store: StoreId,
        source: &S,
        entry_key: &EntryKey,
        fresh_after: Instant,
    ) -> Result<Arc<RemoteSecret>, (u64, watch::Receiver<Option<Outcome>>)> {
        let now = Instant::now();
        let mut stores = self.shared.lock();
        if !stores.contains_key(&store) && stores.len() >= MAX_STORES {
            evict_least_recently_used(&mut stores);
        }
        let state = stores.entry(store).or_insert_with(|| StoreState {
            entries: HashMap::new(),
            pending: Vec::new(),
            timer_armed: false,
            last_used: now,
        });
        state.last_used = now;
        match state.entries.get(entry_key) {
            Some(Entry::Ready { fetched_at, value }) if *fetched_at >= fresh_after => {
                return Ok(value.clone());
            }
            Some(Entry::InFlight {
                generation,
                sent_at,
                outcome,
            }) if sent_at.is_none_or(|sent| sent >= fresh_after) => {
                return Err((*generation, outcome.clone()));
            }
            _ => {}
        }

        let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
        let (done, outcome) = watch::channel(None);
        let (key, version) = entry_key.clone();
        let sent_at = version.is_some().then_some(now);
        state.entries.insert(
            entry_key.clone(),
            Entry::InFlight {
                generation,
                sent_at,
                outcome: outcome.clone(),
            },
        );
        match version {
            Some(version) => {
                let shared = self.shared.clone();
                let read = source.get(key.clone(), version.clone());
                tokio::spawn(async move {
                    let result = read.await.map(Arc::new);
                    let entry_key = (key, Some(version));
                    shared.finish(store, &entry_key, generation, Some((now, result.clone())));
                    done.send_replace(Some(result));
                });
            }
            None => {
                state.pending.push(Pending {
                    key,
                    generation,
                    done,
                });
                if state.pending.len() >= source.batch_size() {
                    // A full call's worth: no reason to wait.
                    let batch = take_pending(state, now);
                    tokio::spawn(
                        self.shared
                            .clone()
                            .send_batch(store, source.clone(), batch, now),
                    );
                } else if !state.timer_armed {
                    state.timer_armed = true;
                    tokio::spawn(self.shared.clone().send_after_window(store, source.clone()));
                }
            }
        }
        Err((generation, outcome))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<StoreId, StoreState>> {
        // A panic while holding the lock leaves consistent maps behind.
        self.stores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends the store's pending requests once the batch window has passed.
    async fn send_after_window<S: Source>(self: Arc<Self>, store: StoreId, source: S) {
        tokio::time::sleep(self.batch_window).await;
        let now = Instant::now();
        let batch = {
            let mut stores = self.lock();
            let Some(state) = stores.get_mut(&store) else {
                return;
            };
            state.timer_armed = false;
            take_pending(state, now)
        };
        self.send_batch(store, source, batch, now).await;
    }

    /// One `batch_get` for `batch` (the provider splits it into calls of 20).
    async fn send_batch<S: Source>(
        self: Arc<Self>,
        store: StoreId,
        source: S,
        batch: Vec<Pending>,
        sent_at: Instant,
    ) {
        if batch.is_empty() {
            return;
        }
        let keys: Vec<String> = batch.iter().map(|pending| pending.key.clone()).collect();
        tracing::debug!(
            store = store.0,
            keys = keys.len(),
            "fetching current secret versions"
        );
        let mut results: HashMap<String, Outcome> = match source.batch_get(keys).await {
            Ok(results) => results
                .into_iter()
                .map(|(key, result)| (key, result.map(Arc::new)))
                .collect(),
            Err(error) => batch
                .iter()
                .map(|pending| (pending.key.clone(), Err(error.clone())))
                .collect(),
        };
        for pending in batch {
            let result = results.remove(&pending.key).unwrap_or_else(|| {
                Err(Error::Request {
                    operation: "BatchGetSecretValue",
                    key: Some(pending.key.clone()),
                    message: "no result for this key".to_owned(),
                })
            });
            let entry_key = (pending.key, None);
            self.finish(
                store,
                &entry_key,
                pending.generation,
                Some((sent_at, result.clone())),
            );
            pending.done.send_replace(Some(result));
        }
    }

    /// Records the end of fetch `generation` (unless a newer one replaced it):
    /// a value is cached as fetched at its send time; an error or no result
    /// (`None`) clears the entry so the next request retries.
    fn finish(
        &self,
        store: StoreId,
        entry_key: &EntryKey,
        generation: u64,
        result: Option<(Instant, Outcome)>,
    ) {
        let mut stores = self.lock();
        let Some(state) = stores.get_mut(&store) else {
            return;
        };
        let current = matches!(
            state.entries.get(entry_key),
            Some(Entry::InFlight { generation: g, .. }) if *g == generation
        );
        if !current {
            return;
        }
        match result {
            Some((fetched_at, Ok(value))) => {
                state
                    .entries
                    .insert(entry_key.clone(), Entry::Ready { fetched_at, value });
            }
            _ => {
                state.entries.remove(entry_key);
            }
        }
    }
}

/// Takes the store's pending requests and marks their entries as sent at `now`.
fn take_pending(state: &mut StoreState, now: Instant) -> Vec<Pending> {
    let batch = std::mem::take(&mut state.pending);
    for pending in &batch {
        if let Some(Entry::InFlight {
            generation,
            sent_at,
            ..
        }) = state.entries.get_mut(&(pending.key.clone(), None))
            && *generation == pending.generation
        {
            *sent_at = Some(now);
        }
    }
    batch
}

fn evict_least_recently_used(stores: &mut HashMap<StoreId, StoreState>) {
    let oldest = stores
        .iter()
        .min_by_key(|(_, state)| state.last_used)
        .map(|(store, _)| *store);
    if let Some(store) = oldest {
        stores.remove(&store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use zeroize::Zeroizing;

    /// Counts calls; answers `value-of-<key>`, or NotFound for keys starting with `missing`.
    #[derive(Clone, Default)]
    struct Stub {
        gets: Arc<AtomicUsize>,
        batches: Arc<Mutex<Vec<usize>>>,
        fail_batches: Arc<std::sync::atomic::AtomicBool>,
    }

    fn value(key: &str) -> Result<RemoteSecret, Error> {
        if key.starts_with("missing") {
            Err(Error::NotFound {
                service: crate::provider::aws::error::SECRETS_MANAGER,
                key: key.to_owned(),
            })
        } else {
            Ok(RemoteSecret::String(Zeroizing::new(format!(
                "value-of-{key}"
            ))))
        }
    }

    impl Source for Stub {
        fn get(
            &self,
            key: String,
            version: String,
        ) -> BoxFuture<'static, Result<RemoteSecret, Error>> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            async move { value(&format!("{key}@{version}")) }.boxed()
        }

        fn batch_get(
            &self,
            keys: Vec<String>,
        ) -> BoxFuture<'static, Result<Vec<(String, Result<RemoteSecret, Error>)>, Error>> {
            self.batches.lock().unwrap().push(keys.len());
            let fail = self.fail_batches.load(Ordering::SeqCst);
            async move {
                if fail {
                    return Err(Error::Throttled {
                        operation: "BatchGetSecretValue",
                        key: None,
                        message: "slow down".to_owned(),
                    });
                }
                Ok(keys
                    .into_iter()
                    .map(|key| {
                        let value = value(&key);
                        (key, value)
                    })
                    .collect())
            }
            .boxed()
        }
    }

    fn text(value: &RemoteSecret) -> String {
        String::from_utf8(value.as_bytes().to_vec()).unwrap()
    }

    async fn fetch_all(
        fetcher: &Fetcher,
        stub: &Stub,
        keys: &[String],
        fresh_after: Instant,
    ) -> Vec<Result<Arc<RemoteSecret>, Error>> {
        futures::future::join_all(
            keys.iter()
                .map(|key| fetcher.fetch_from(StoreId(1), stub, key, None, fresh_after)),
        )
        .await
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_batch() {
        let fetcher = Fetcher::new();
        let stub = Stub::default();
        let keys: Vec<String> = (0..100).map(|i| format!("k{}", i % 10)).collect();
        let round = Instant::now();
        let results = fetch_all(&fetcher, &stub, &keys, round).await;
        for (key, result) in keys.iter().zip(&results) {
            assert_eq!(text(result.as_ref().unwrap()), format!("value-of-{key}"));
        }
        assert_eq!(*stub.batches.lock().unwrap(), [10]);
    }

    #[tokio::test]
    async fn full_batches_go_out_at_once() {
        let fetcher = Fetcher::with_batch_window(Duration::from_secs(3600));
        let stub = Stub::default();
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let results = tokio::time::timeout(
            Duration::from_secs(10),
            fetch_all(&fetcher, &stub, &keys, Instant::now()),
        )
        .await
        .expect("full batches do not wait for the window");
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(*stub.batches.lock().unwrap(), [20, 20]);
    }

    #[tokio::test]
    async fn freshness_decides_reuse() {
        let fetcher = Fetcher::new();
        let stub = Stub::default();
        let keys = vec!["a".to_owned(), "b".to_owned()];
        let first = Instant::now();
        fetch_all(&fetcher, &stub, &keys, first).await;
        // Same round: from the cache.
        fetch_all(&fetcher, &stub, &keys, first).await;
        assert_eq!(stub.batches.lock().unwrap().len(), 1);
        // A later round: fetched again.
        let second = Instant::now();
        fetch_all(&fetcher, &stub, &keys, second).await;
        assert_eq!(*stub.batches.lock().unwrap(), [2, 2]);
    }

    #[tokio::test]
    async fn versions_use_get_and_are_coalesced() {
        let fetcher = Fetcher::new();
        let stub = Stub::default();
        let round = Instant::now();
        let results = futures::future::join_all(
            (0..10).map(|_| fetcher.fetch_from(StoreId(1), &stub, "db", Some("uuid/1"), round)),
        )
        .await;
        for result in results {
            assert_eq!(text(&result.unwrap()), "value-of-db@uuid/1");
        }
        assert_eq!(stub.gets.load(Ordering::SeqCst), 1);
        // AWSCURRENT is the default version: batched, and the same entry as no version.
        fetcher
            .fetch_from(StoreId(1), &stub, "db", Some("AWSCURRENT"), round)
            .await
            .unwrap();
        fetcher
            .fetch_from(StoreId(1), &stub, "db", None, round)
            .await
            .unwrap();
        assert_eq!(stub.gets.load(Ordering::SeqCst), 1);
        assert_eq!(*stub.batches.lock().unwrap(), [1]);
    }

    #[tokio::test]
    async fn errors_are_shared_but_not_cached() {
        let fetcher = Fetcher::new();
        let stub = Stub::default();
        let round = Instant::now();
        let keys = vec!["missing".to_owned(); 5];
        for result in fetch_all(&fetcher, &stub, &keys, round).await {
            assert!(matches!(result, Err(Error::NotFound { .. })));
        }
        assert_eq!(stub.batches.lock().unwrap().len(), 1);

        stub.fail_batches.store(true, Ordering::SeqCst);
        let keys = vec!["x".to_owned(), "y".to_owned()];
        for result in fetch_all(&fetcher, &stub, &keys, round).await {
            assert_eq!(result.unwrap_err().reason(), "throttled");
        }
        stub.fail_batches.store(false, Ordering::SeqCst);
        // Same round, but errors are not cached: retried.
        for result in fetch_all(&fetcher, &stub, &keys, round).await {
            assert!(result.is_ok());
        }
        assert_eq!(stub.batches.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn stores_are_separate_and_forgettable() {
        let fetcher = Fetcher::new();
        let stub = Stub::default();
        let round = Instant::now();
        fetcher
            .fetch_from(StoreId(1), &stub, "a", None, round)
            .await
            .unwrap();
        fetcher
            .fetch_from(StoreId(2), &stub, "a", None, round)
            .await
            .unwrap();
        assert_eq!(stub.batches.lock().unwrap().len(), 2);
        fetcher.forget(StoreId(1));
        fetcher
            .fetch_from(StoreId(1), &stub, "a", None, round)
            .await
            .unwrap();
        fetcher
            .fetch_from(StoreId(2), &stub, "a", None, round)
            .await
            .unwrap();
        assert_eq!(stub.batches.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn store_count_is_bounded() {
        let fetcher = Fetcher::with_batch_window(Duration::ZERO);
        let stub = Stub::default();
        let round = Instant::now();
        for store in 0..(MAX_STORES as u64 + 10) {
            fetcher
                .fetch_from(StoreId(store), &stub, "a", None, round)
                .await
                .unwrap();
        }
        assert_eq!(fetcher.shared.lock().len(), MAX_STORES);
    }
}
