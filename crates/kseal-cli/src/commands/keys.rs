//! `kseal keys`: the controller's sealing keys, which one seals, and how many SealedSecrets each still
//! decrypts, so that old keys can be retired safely.
//!
//! The keys are the controller's key Secrets; the counts come from the
//! `kseal.io/unsealed-with` annotation kseal-controller writes on each Secret it unseals. SealedSecrets and
//! Secrets are listed as metadata only: one malformed object cannot break the listing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::Secret;
use kseal_api::names::{ACTIVE, KEY_LABEL, KEY_SECRET_PREFIX as LEGACY_KEY_SECRET, UNSEALED_WITH};
use kseal_crypto::Certificate;
use kube::api::{ApiResource, DynamicObject, ListParams, ObjectList, PartialObjectMeta};
use kube::{Api, Client};
use serde::Serialize;

use super::Hinted;
use crate::args::KeysArgs;
use crate::io::Format;
use crate::online;

/// Objects per list request.
const PAGE_SIZE: u32 = 500;

/// One key, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReport {
    /// SHA-256 fingerprint of the public key (as in `kseal.io/unsealed-with`).
    pub fingerprint: String,
    /// Name of the key Secret; `None` for a key that unsealed SealedSecrets but is no longer active.
    pub secret_name: Option<String>,
    /// Certificate notBefore (RFC 3339); the newest key seals.
    pub created: Option<String>,
    /// Certificate notAfter (RFC 3339).
    pub expires: Option<String>,
    /// Whether this key seals new SealedSecrets (the newest).
    pub sealing: bool,
    /// SealedSecrets this key opened last.
    pub sealed_secrets: usize,
}

/// What `kseal keys` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Namespace of the key Secrets.
    pub namespace: String,
    /// The keys, newest first, then inactive keys that still open SealedSecrets.
    pub keys: Vec<KeyReport>,
    /// SealedSecrets whose Secret records no key (not unsealed by kseal-controller yet, or failing).
    pub unattributed: usize,
}

/// An active key as read from its Secret.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Name of the key Secret.
    pub secret_name: String,
    /// Public key fingerprint.
    pub fingerprint: String,
    /// Certificate notBefore.
    pub not_before: SystemTime,
    /// Certificate notAfter.
    pub not_after: SystemTime,
}

/// Lists the keys and prints the report.
pub fn run(args: &KeysArgs) -> Result<()> {
    let format = match args.format.as_deref() {
        None => None,
        Some(flag) => Some(Format::choose(Some(flag), None)?),
    };
    let report = online::block_on(collect(args))?;
    let text = match format {
        None => table(&report),
        Some(format) => format.render(&[&report])?,
    };
    crate::io::write_output(None, text.as_bytes())
}

async fn collect(args: &KeysArgs) -> Result<Report> {
    let client = online::client(&args.cluster)
        .await
        .with_context(|| Hinted {
            message: "cannot reach the cluster to list the controller's keys".into(),
            hint: "pass --kubeconfig (and --context) for the controller's cluster",
        })?;
    let namespace = &args.controller_namespace;
    let keys = key_infos(&client, namespace).await?;
    if keys.is_empty() {
        return Err(anyhow::Error::new(Hinted {
            message: format!("no sealing key in namespace {namespace}"),
            hint: "pass the controller's namespace with --controller-namespace",
        }));
    }
    let sealed = sealed_secrets(&client).await?;
    let recorded = recorded_keys(&client).await?;
    Ok(summarize(namespace, keys, &sealed, &recorded))
}

/// The active key Secrets of `namespace` (labelled, plus the legacy unlabelled one). A Secret without a
/// readable certificate is reported on stderr and skipped.
async fn key_infos(client: &Client, namespace: &str) -> Result<Vec<KeyInfo>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let forbidden_hint = "kseal keys needs get and list on Secrets in the controller namespace";
    let mut secrets = api
        .list(&ListParams::default().labels(&format!("{KEY_LABEL}={ACTIVE}")))
        .await
        .with_context(|| Hinted {
            message: format!("cannot list the key Secrets in namespace {namespace}"),
            hint: forbidden_hint,
        })?
        .items;
    let legacy = api
        .get_opt(LEGACY_KEY_SECRET)
        .await
        .with_context(|| Hinted {
            message: format!("cannot read Secret {namespace}/{LEGACY_KEY_SECRET}"),
            hint: forbidden_hint,
        })?;
    if let Some(legacy) = legacy
        && !secrets
            .iter()
            .any(|s| s.metadata.name == legacy.metadata.name)
    {
        secrets.push(legacy);
    }
    let mut keys = Vec::new();
    for secret in &secrets {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let certificate = secret
            .data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .context("no tls.crt")
            .and_then(|pem| Ok(Certificate::from_pem(&pem.0)?));
        match certificate {
            Ok(certificate) => keys.push(KeyInfo {
                secret_name: name,
                fingerprint: certificate.public_key().fingerprint().to_owned(),
                not_before: certificate.not_before(),
                not_after: certificate.not_after(),
            }),
            Err(error) => eprintln!("warning: skipping key Secret {namespace}/{name}: {error:#}"),
        }
    }
    Ok(keys)
}

/// `(namespace, name)` of every SealedSecret, read as metadata only.
async fn sealed_secrets(client: &Client) -> Result<Vec<(String, String)>> {
    let resource = ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        plural: "sealedsecrets".into(),
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let items = list_metadata(&api).await.with_context(|| Hinted {
        message: "cannot list SealedSecrets in all namespaces".into(),
        hint: "kseal keys needs list on sealedsecrets.bitnami.com in all namespaces, and the SealedSecret CRD installed",
    })?;
    Ok(items.iter().filter_map(object_key).collect())
}

/// For every Secret that records one, `(namespace, name)` → the fingerprint of the key that unsealed it.
async fn recorded_keys(client: &Client) -> Result<BTreeMap<(String, String), String>> {
    let api: Api<Secret> = Api::all(client.clone());
    let items = list_metadata(&api).await.with_context(|| Hinted {
        message: "cannot list Secrets in all namespaces".into(),
        hint: "kseal keys reads the metadata of Secrets in all namespaces: it needs list on secrets",
    })?;
    Ok(items
        .iter()
        .filter_map(|secret| {
            let fingerprint = secret.metadata.annotations.as_ref()?.get(UNSEALED_WITH)?;
            Some((object_key(secret)?, fingerprint.clone()))
        })
        .collect())
}

/// Every object's metadata, page by page.
async fn list_metadata<K>(api: &Api<K>) -> Result<Vec<PartialObjectMeta<K>>, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page: ObjectList<PartialObjectMeta<K>> = api.list_metadata(&params).await?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(items),
        }
    }
}

fn object_key<K>(object: &PartialObjectMeta<K>) -> Option<(String, String)> {
    Some((
        object.metadata.namespace.clone()?,
        object.metadata.name.clone()?,
    ))
}

/// The report: `keys` newest first with how many of `sealed` each opened last according to `recorded`
/// (a SealedSecret's Secret has its name and namespace); keys recorded but no longer active are added.
pub fn summarize(
    namespace: &str,
    mut keys: Vec<KeyInfo>,
    sealed: &[(String, String)],
    recorded: &BTreeMap<(String, String), String>,
) -> Report {
    keys.sort_by(|a, b| {
        b.not_before
            .cmp(&a.not_before)
            .then_with(|| a.secret_name.cmp(&b.secret_name))
    });
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unattributed = 0;
    for object in sealed {
        match recorded.get(object) {
            Some(fingerprint) => *counts.entry(fingerprint).or_default() += 1,
            None => unattributed += 1,
        }
    }
    let active: BTreeSet<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
    let mut reports: Vec<KeyReport> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| KeyReport {
            fingerprint: key.fingerprint.clone(),
            secret_name: Some(key.secret_name.clone()),
            created: Some(rfc3339(key.not_before)),
            expires: Some(rfc3339(key.not_after)),
            sealing: index == 0,
            sealed_secrets: counts.get(key.fingerprint.as_str()).copied().unwrap_or(0),
        })
        .collect();
    reports.extend(
        counts
            .iter()
            .filter(|(fingerprint, _)| !active.contains(*fingerprint))
            .map(|(fingerprint, count)| KeyReport {
                fingerprint: (*fingerprint).to_owned(),
                secret_name: None,
                created: None,
                expires: None,
                sealing: false,
                sealed_secrets: *count,
            }),
    );
    Report {
        namespace: namespace.to_owned(),
        keys: reports,
        unattributed,
    }
}

/// The human table, with a note under it for what the table cannot say.
pub fn table(report: &Report) -> String {
    let header = [
        "SECRET",
        "CREATED",
        "EXPIRES",
        "SEALING",
        "SEALEDSECRETS",
        "FINGERPRINT",
    ];
    let rows: Vec<[String; 6]> = report
        .keys
        .iter()
        .map(|key| {
            [
                key.secret_name
                    .clone()
                    .unwrap_or_else(|| "(not active)".into()),
                key.created.clone().unwrap_or_else(|| "-".into()),
                key.expires.clone().unwrap_or_else(|| "-".into()),
                if key.sealing { "yes" } else { "no" }.into(),
                key.sealed_secrets.to_string(),
                key.fingerprint.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    if report.unattributed > 0 {
        out.push_str(&format!(
            "\n{} SealedSecret(s) not unsealed by kseal-controller yet (or failing): their key is unknown.\n",
            report.unattributed
        ));
    }
    out
}

fn rfc3339(time: SystemTime) -> String {
    let time = time::OffsetDateTime::from(time);
    time.replace_nanosecond(0)
        .unwrap_or(time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(name: &str, fingerprint: &str, created: u64) -> KeyInfo {
        let day = 86_400;
        KeyInfo {
            secret_name: name.into(),
            fingerprint: fingerprint.into(),
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(created * day),
            not_after: SystemTime::UNIX_EPOCH + Duration::from_secs((created + 3650) * day),
        }
    }

    fn object(name: &str) -> (String, String) {
        ("ns".into(), name.into())
    }

    #[test]
    fn counts_sealed_secrets_per_key_newest_first() {
        let keys = vec![key("old", "aa", 1), key("new", "bb", 2)];
        let sealed = [object("a"), object("b"), object("c"), object("d")];
        let recorded = BTreeMap::from([
            (object("a"), "aa".to_owned()),
            (object("b"), "bb".to_owned()),
            (object("c"), "gone".to_owned()),
            // A Secret whose SealedSecret no longer exists does not count.
            (object("deleted"), "aa".to_owned()),
        ]);
        let report = summarize("kube-system", keys, &sealed, &recorded);
        let rows: Vec<_> = report
            .keys
            .iter()
            .map(|k| {
                (
                    k.secret_name.as_deref(),
                    k.fingerprint.as_str(),
                    k.sealing,
                    k.sealed_secrets,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (Some("new"), "bb", true, 1),
                (Some("old"), "aa", false, 1),
                (None, "gone", false, 1),
            ]
        );
        assert_eq!(report.unattributed, 1);
        assert_eq!(
            report.keys[0].created.as_deref(),
            Some("1970-01-03T00:00:00Z")
        );

        let table = table(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("SECRET"), "{table}");
        assert!(lines[1].starts_with("new "), "{table}");
        assert!(lines[1].contains(" yes "), "{table}");
        assert!(lines[3].starts_with("(not active)"), "{table}");
        assert!(
            table.contains("\n1 SealedSecret(s) not unsealed"),
            "{table}"
        );
    }
}
