//! [`Ready`]: the first full list of a watch cache, awaited by any number of tasks at once.
//!
//! kube's `Store::wait_until_ready` polls one shared oneshot receiver, which keeps the waker of the
//! last task that polled it. When several reconciles wait at once (each a future of its own in the
//! controller's pool), only the last to poll is woken when the list completes; the others wait until
//! something else wakes them, which may be never (an ExternalSecret that is not reconciled at all).
//! [`Ready`] polls that receiver from one shared future, which wakes every waiter.

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use kube::runtime::reflector::Store;

/// Whether a watch cache has listed its objects once; clones share one wait.
#[derive(Clone)]
pub struct Ready(Shared<BoxFuture<'static, bool>>);

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("ready", &self.0.peek().copied())
            .finish()
    }
}

impl Ready {
    /// The readiness of `store`. No other task may await `store.wait_until_ready()` itself while
    /// this is awaited (the controller that owns a store does, so wrap only caches of your own).
    pub fn of<K>(store: &Store<K>) -> Self
    where
        K: kube::Resource + Clone + Send + Sync + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
    {
        let store = store.clone();
        Ready(
            async move { store.wait_until_ready().await.is_ok() }
                .boxed()
                .shared(),
        )
    }

    /// Returns once the cache has listed its objects (`true`), or `false` when its watch ended
    /// before that (the writer was dropped: the controller is stopping).
    pub async fn wait(&self) -> bool {
        self.0.clone().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{reflector, watcher};

    use super::*;

    /// Eight tasks wait at once, each a future of its own as reconciles are; the cache lists its
    /// objects; all eight return.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_concurrent_waiter_is_woken_when_the_cache_is_listed() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let ready = Ready::of(&store);
        let done = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (ready, done) = (ready.clone(), done.clone());
                tokio::spawn(async move {
                    assert!(ready.wait().await);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // Every waiter has polled (and parked) before the list completes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(done.load(Ordering::SeqCst), 0);
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("a waiter was not woken")
                .unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 8);
    }

    /// The cache's writer dropped before any list: waiters learn that the watch ended.
    #[tokio::test]
    async fn a_dropped_writer_ends_the_wait_with_false() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let ready = Ready::of(&store);
        drop(writer);
        assert!(!ready.wait().await);
    }
}
