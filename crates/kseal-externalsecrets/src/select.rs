//! Reads what an ExternalSecret's `data` and `dataFrom` select, through its store.
//!
//! All remote keys of one ExternalSecret are requested at once, so the AWS fetcher can batch them
//! together with those of every other ExternalSecret due in the same cycle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use kseal_api::external_secrets::{
    ConversionStrategy, DeletionPolicy, ExternalSecret, ExternalSecretFind, MetadataPolicy,
    NullBytePolicy, RemoteRef, SecretStoreRef, SourceRef, StoreKind,
};
use kseal_core::external_secrets::desired::Data;
use kseal_core::external_secrets::{remote, rewrite};
use zeroize::Zeroizing;

use crate::provider::aws::{self, RemoteSecret};
use crate::provider::{fake, kubernetes};
use crate::stores::{ResolvedStore, StoreHandle};
use crate::{Context, Error};

/// How fresh the remote data of a refresh must be.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// Data fetched at or after this time is fresh enough.
    pub fresh_after: SystemTime,
    /// `fresh_after` is a refresh-grid point of the store: the first refresh of the cycle reads every
    /// current value the store's ExternalSecrets use, in as few batches as possible.
    pub cycle: bool,
}

/// The stores an ExternalSecret reads from: `spec.secretStoreRef` and every entry's
/// `sourceRef.storeRef`, each resolved once per refresh.
pub struct Stores {
    default: Option<SecretStoreRef>,
    resolved: Vec<((StoreKind, String), ResolvedStore)>,
}

impl Stores {
    /// Resolves (and checks the use of) every store `es` names.
    pub async fn resolve(ctx: &Context, es: &ExternalSecret) -> Result<Stores, Error> {
        let namespace = kube::ResourceExt::namespace(es).unwrap_or_default();
        let mut resolved: Vec<((StoreKind, String), ResolvedStore)> = Vec::new();
        for reference in references(&es.spec) {
            let key = (reference.kind.unwrap_or_default(), reference.name.clone());
            if resolved.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let store = crate::stores::resolve(
                &ctx.client,
                &ctx.providers,
                ctx.store_caches.get(),
                key.0,
                &key.1,
                &namespace,
                &ctx.config,
            )
            .await?;
            // AWS refused these very credentials at the store's last check: wait for a change or
            // the next check instead of calling AWS with them again.
            if let crate::stores::StoreHandle::Aws { id, .. } = &store.handle
                && let Some(why) = ctx.refused(&store.display, *id)
            {
                return Err(Error::Store {
                    message: format!("{} is not ready: {why}", store.display),
                });
            }
            resolved.push((key, store));
        }
        Ok(Stores {
            default: es.spec.secret_store_ref.clone(),
            resolved,
        })
    }

    /// The store `spec.secretStoreRef` names, if any.
    pub fn default_store(&self) -> Option<&ResolvedStore> {
        self.default.as_ref().and_then(|r| self.get(r))
    }

    fn get(&self, reference: &SecretStoreRef) -> Option<&ResolvedStore> {
        let key = (reference.kind.unwrap_or_default(), reference.name.clone());
        self.resolved
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| s)
    }

    /// The store of an entry with `source` (its `sourceRef`), else the ExternalSecret's.
    fn of(&self, source: Option<&SourceRef>, entry: &str) -> Result<&ResolvedStore, Error> {
        let reference = source
            .and_then(|s| s.store_ref.as_ref())
            .or(self.default.as_ref())
            .ok_or_else(|| Error::Invalid {
                message: format!(
                    "{entry}: no store to read from (set spec.secretStoreRef or the entry's sourceRef.storeRef)"
                ),
            })?;
        self.get(reference).ok_or_else(|| Error::Invalid {
            message: format!("{entry}: store {} was not resolved", reference.name),
        })
    }
}

/// Every store `spec` names: `secretStoreRef` first, then each entry's `sourceRef.storeRef`.
pub fn references(
    spec: &kseal_api::external_secrets::ExternalSecretSpec,
) -> impl Iterator<Item = &SecretStoreRef> {
    spec.secret_store_ref.iter().chain(
        spec.data
            .iter()
            .filter_map(|d| d.source_ref.as_ref())
            .chain(spec.data_from.iter().filter_map(|d| d.source_ref.as_ref()))
            .filter_map(|s| s.store_ref.as_ref()),
    )
}

/// Refuses values with NUL bytes under `nullBytePolicy: Fail`; `found` says which (never a value).
fn refuse_null_bytes(policy: Option<NullBytePolicy>, found: String) -> Result<(), Error> {
    if policy == Some(NullBytePolicy::Fail) {
        return Err(Error::Invalid {
            message: format!(
                "{found} (nullBytePolicy Fail; store binary data in a text-safe form such as base64, or leave nullBytePolicy unset)"
            ),
        });
    }
    Ok(())
}

/// Reads every value `es` selects, as Secret keys, with data no older than `freshness` says.
pub async fn fetch_data(
    ctx: &Context,
    es: &ExternalSecret,
    stores: &Stores,
    freshness: Freshness,
) -> Result<Data, Error> {
    let fresh_after = to_instant(freshness.fresh_after);
    if freshness.cycle
        && let Some(store) = stores.default_store()
    {
        prefetch_cycle(ctx, store, freshness.fresh_after, fresh_after).await;
    }
    let data_items = es
        .spec
        .data
        .iter()
        .enumerate()
        .map(|(index, item)| async move {
            let what = format!("spec.data[{index}]");
            let store = stores.of(item.source_ref.as_ref(), &what)?;
            let value = if let StoreHandle::Kubernetes(remote) = &store.handle {
                kubernetes_value(store, remote, &item.remote_ref).await?
            } else {
                let secret = get(ctx, store, &item.remote_ref, fresh_after).await?;
                remote::value(
                    view(&secret),
                    &item.remote_ref.key,
                    item.remote_ref.property.as_deref(),
                    item.remote_ref.decoding_strategy.unwrap_or_default(),
                )?
            };
            if value.contains(&0) {
                refuse_null_bytes(
                    item.remote_ref.null_byte_policy,
                    format!(
                        "{what} (secretKey {:?}): the value holds a NUL byte",
                        item.secret_key
                    ),
                )?;
            }
            Ok::<_, Error>((item.secret_key.clone(), value))
        });
    let from_items = es
        .spec
        .data_from
        .iter()
        .enumerate()
        .map(|(entry, from)| async move {
            let what = format!("spec.dataFrom[{entry}]");
            let rewrites = rewrite::Rewrite::list(&from.rewrite);
            // ESO converts keys only when no rewrite follows; rewrites see the keys as they are.
            let converted = |strategy| {
                if rewrites.is_empty() {
                    conversion(strategy)
                } else {
                    remote::KeyConversion::Keep
                }
            };
            let generator = from
                .source_ref
                .as_ref()
                .and_then(|s| s.generator_ref.as_ref());
            let (map, null_bytes) = if let Some(extract) = &from.extract {
                let store = stores.of(from.source_ref.as_ref(), &what)?;
                let map = if let StoreHandle::Kubernetes(remote) = &store.handle {
                    kubernetes_map(
                        store,
                        remote,
                        extract,
                        converted(extract.conversion_strategy),
                        &what,
                    )
                    .await?
                } else {
                    let secret = get(ctx, store, extract, fresh_after).await?;
                    remote::extract(
                        view(&secret),
                        &extract.key,
                        extract.property.as_deref(),
                        converted(extract.conversion_strategy),
                        extract.decoding_strategy.unwrap_or_default(),
                    )?
                };
                (map, extract.null_byte_policy)
            } else if let Some(find) = &from.find {
                let store = stores.of(from.source_ref.as_ref(), &what)?;
                // The names `find` returns are data: errors name the entry, not a secret.
                let context = format!("dataFrom[{entry}].find");
                let found = find_all(store, find, &context).await?;
                let map =
                    remote::convert_keys(found, converted(find.conversion_strategy), &context)?;
                (map, find.null_byte_policy)
            } else if let Some(generator) = generator {
                // As in ESO: generated keys are rewritten as they are, never converted.
                let namespace = kube::ResourceExt::namespace(es).unwrap_or_default();
                let map = crate::generators::generate(ctx, &namespace, generator, &what).await?;
                (map, None)
            } else {
                return Err(Error::Invalid {
                    message: format!(
                        "{what}: a dataFrom entry needs extract, find or sourceRef.generatorRef"
                    ),
                });
            };
            let map = rewrite::apply_entry(entry, map, &rewrites)?;
            // The keys came from data: the values are counted, not named.
            let with_nul = map.values().filter(|v| v.contains(&0)).count();
            if with_nul > 0 {
                refuse_null_bytes(
                    null_bytes,
                    format!("{what}: {with_nul} of {} values hold a NUL byte", map.len()),
                )?;
            }
            Ok(map)
        });
    let (values, maps) = futures::join!(
        futures::future::join_all(data_items),
        futures::future::join_all(from_items)
    );
    // `dataFrom` first, then `data` over it (ESO's order). Under deletionPolicy Delete or Merge, an
    // entry whose remote secret is gone is left out (ESO's behaviour); under Retain it is an error.
    let skip_missing = es.spec.target.deletion_policy != DeletionPolicy::Retain;
    let mut data = Data::new();
    for map in maps {
        match map {
            Ok(map) => data.extend(map),
            Err(Error::RemoteMissing { .. }) if skip_missing => {}
            Err(error) => return Err(error),
        }
    }
    for value in values {
        match value {
            Ok((key, value)) => {
                data.insert(key, value);
            }
            Err(Error::RemoteMissing { .. }) if skip_missing => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

/// At the first refresh of a cycle, requests at once the current value of every remote key the store's
/// ExternalSecrets read, so the fetcher sends them in ⌈keys / 20⌉ BatchGetSecretValue calls; the
/// other refreshes of the cycle then find them cached. Errors are left to each ExternalSecret's own fetch.
async fn prefetch_cycle(
    ctx: &Context,
    store: &ResolvedStore,
    cycle: SystemTime,
    fresh_after: Instant,
) {
    let StoreHandle::Aws { id, provider } = &store.handle else {
        return;
    };
    if !ctx.start_cycle(*id, cycle) {
        return;
    }
    let keys = ctx.current_keys_of(&store.display);
    tracing::debug!(
        store = store.display,
        keys = keys.len(),
        "reading the store's values for this cycle"
    );
    let reads = keys
        .iter()
        .map(|key| ctx.fetcher.fetch(*id, provider, key, None, fresh_after));
    futures::future::join_all(reads).await;
}

/// One remote secret: AWS through the shared fetcher, or the fake store's data.
async fn get(
    ctx: &Context,
    store: &ResolvedStore,
    reference: &RemoteRef,
    fresh_after: Instant,
) -> Result<Arc<RemoteSecret>, Error> {
    let key = reference.key.as_str();
    match &store.handle {
        // The tags, not the value: read apart (DescribeSecret), once per reference and refresh.
        StoreHandle::Aws { provider, .. }
            if reference.metadata_policy == Some(MetadataPolicy::Fetch) =>
        {
            provider
                .tags(key)
                .await
                .map(Arc::new)
                .map_err(|source| provider_error(store, key, source))
        }
        StoreHandle::Aws { id, provider } => ctx
            .fetcher
            .fetch(
                *id,
                provider,
                key,
                reference.version.as_deref(),
                fresh_after,
            )
            .await
            .map_err(|source| provider_error(store, key, source)),
        StoreHandle::Fake(data) => fake::get(data, key, reference.version.as_deref())
            .map(Arc::new)
            .ok_or_else(|| Error::RemoteMissing {
                key: key.to_owned(),
            }),
        StoreHandle::Kubernetes(_) => Err(Error::Invalid {
            message: format!("{}: remote key {key:?} is read apart", store.display),
        }),
    }
}

/// The Secret `key` of a `kubernetes` store's remote namespace, or [`Error::RemoteMissing`].
async fn kubernetes_secret(
    store: &ResolvedStore,
    remote: &kubernetes::Remote,
    key: &str,
) -> Result<k8s_openapi::api::core::v1::Secret, Error> {
    let what = format!("{}: Secret {}/{key}", store.display, remote.namespace());
    remote
        .get(key)
        .await
        .map_err(crate::error::kube(what))?
        .ok_or_else(|| Error::RemoteMissing {
            key: key.to_owned(),
        })
}

/// What `reference` selects through a `kubernetes` store (ESO's provider semantics: see
/// [`kubernetes`]), then decoded.
async fn kubernetes_value(
    store: &ResolvedStore,
    remote: &kubernetes::Remote,
    reference: &RemoteRef,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if reference.version.as_deref().is_some_and(|v| !v.is_empty()) {
        return Err(Error::Unsupported {
            message: format!(
                "remoteRef.version is not supported by the kubernetes provider (remote key {:?})",
                reference.key
            ),
        });
    }
    let secret = kubernetes_secret(store, remote, &reference.key).await?;
    let fetch = reference.metadata_policy == Some(MetadataPolicy::Fetch);
    let value = kubernetes::value(
        &secret,
        &reference.key,
        reference.property.as_deref(),
        fetch,
    )
    .map_err(|missing| Error::Invalid {
        message: format!("{}: {missing}", store.display),
    })?;
    Ok(remote::decode(
        &value,
        reference.decoding_strategy.unwrap_or_default(),
        &reference.key,
    )?)
}

/// The keys `dataFrom.extract` gives through a `kubernetes` store: the Secret's data (or labels and
/// annotations), keys converted, values decoded.
async fn kubernetes_map(
    store: &ResolvedStore,
    remote: &kubernetes::Remote,
    extract: &RemoteRef,
    conversion: remote::KeyConversion,
    what: &str,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, Error> {
    if extract.property.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::Unsupported {
            message: format!(
                "{what}.extract.property is not supported by kseal with the kubernetes provider (extract the whole Secret, or select one key with spec.data)"
            ),
        });
    }
    if extract.version.as_deref().is_some_and(|v| !v.is_empty()) {
        return Err(Error::Unsupported {
            message: format!("{what}.extract.version is not supported by the kubernetes provider"),
        });
    }
    let secret = kubernetes_secret(store, remote, &extract.key).await?;
    let fetch = extract.metadata_policy == Some(MetadataPolicy::Fetch);
    let map = kubernetes::map(&secret, fetch);
    let context = format!("remote secret {:?}", extract.key);
    let map = remote::convert_keys(map, conversion, &context)?;
    let decoding = extract.decoding_strategy.unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| Ok((k, remote::decode(&v, decoding, &extract.key)?)))
        .collect()
}

/// The secrets `find` selects, by their remote names (keys converted by the caller).
async fn find_all(
    store: &ResolvedStore,
    find: &ExternalSecretFind,
    context_for_errors: &str,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, Error> {
    let name = find
        .name
        .as_ref()
        .and_then(|n| n.regexp.as_deref())
        .map(regex::Regex::new)
        .transpose()
        .map_err(|error| Error::Invalid {
            message: format!("dataFrom.find.name.regexp: {error}"),
        })?;
    let found: Vec<(String, RemoteSecret)> = match &store.handle {
        StoreHandle::Aws { provider, .. } => provider
            .find(name.as_ref(), &find.tags, find.path.as_deref())
            .await
            .map_err(|source| provider_error(store, "dataFrom.find", source))?,
        StoreHandle::Kubernetes(remote) => {
            let find_name = name.as_ref();
            if find.path.as_deref().is_some_and(|p| !p.is_empty()) {
                return Err(Error::Invalid {
                    message: format!(
                        "{context_for_errors}.path: the kubernetes provider has no paths (select by name.regexp or tags)"
                    ),
                });
            }
            if name.is_some() && !find.tags.is_empty() {
                return Err(Error::Invalid {
                    message: format!(
                        "{context_for_errors}: set name or tags, not both, with the kubernetes provider (ESO would use the tags alone)"
                    ),
                });
            }
            let selector = if find.tags.is_empty() {
                None
            } else {
                Some(
                    kubernetes::tag_selector(&find.tags)
                        .map_err(|message| Error::Invalid { message })?,
                )
            };
            let what = format!(
                "{}: Secrets of namespace {}",
                store.display,
                remote.namespace()
            );
            remote
                .list(selector.as_deref())
                .await
                .map_err(crate::error::kube(what))?
                .into_iter()
                .filter_map(|secret| {
                    let name = secret.metadata.name.clone()?;
                    find_name.is_none_or(|re| re.is_match(&name)).then(|| {
                        let json = kubernetes::json_of_data(&kubernetes::data_of(&secret));
                        (name, RemoteSecret::Binary(json))
                    })
                })
                .collect()
        }
        StoreHandle::Fake(data) => {
            if !find.tags.is_empty() {
                return Err(Error::Invalid {
                    message: "dataFrom.find.tags: the fake provider has no tags".into(),
                });
            }
            data.iter()
                .filter(|d| d.version.as_deref().unwrap_or_default().is_empty())
                .filter(|d| name.as_ref().is_none_or(|re| re.is_match(&d.key)))
                .filter(|d| find.path.as_deref().is_none_or(|p| d.key.starts_with(p)))
                .filter_map(|d| {
                    Some((
                        d.key.clone(),
                        fake::get(std::slice::from_ref(d), &d.key, None)?,
                    ))
                })
                .collect()
        }
    };
    let mut map = BTreeMap::new();
    for (name, secret) in found {
        let value = remote::value(
            view(&secret),
            context_for_errors,
            None,
            find.decoding_strategy.unwrap_or_default(),
        )?;
        map.insert(name, value);
    }
    Ok(map)
}

/// The provider's value as the pure selectors take it.
fn view(secret: &RemoteSecret) -> remote::Payload<'_> {
    match secret {
        RemoteSecret::String(text) => remote::Payload::String(text),
        RemoteSecret::Binary(bytes) => remote::Payload::Binary(bytes),
    }
}

fn provider_error(store: &ResolvedStore, key: &str, source: aws::Error) -> Error {
    match source {
        aws::Error::NotFound { .. } => Error::RemoteMissing {
            key: key.to_owned(),
        },
        source => Error::Provider {
            store: store.display.clone(),
            key: key.to_owned(),
            source,
        },
    }
}

fn conversion(strategy: Option<ConversionStrategy>) -> remote::KeyConversion {
    match strategy.unwrap_or_default() {
        ConversionStrategy::Default => remote::KeyConversion::Default,
        ConversionStrategy::Unicode => remote::KeyConversion::Unicode,
    }
}

/// The monotonic instant of a wall-clock time (the fetcher's cache runs on [`Instant`]).
fn to_instant(at: SystemTime) -> Instant {
    let now = Instant::now();
    match SystemTime::now().duration_since(at) {
        Ok(ago) => now.checked_sub(ago).unwrap_or(now),
        Err(ahead) => now + ahead.duration(),
    }
}
