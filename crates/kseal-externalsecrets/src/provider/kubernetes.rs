//! ESO's `kubernetes` provider: the Secrets of one namespace (`remoteNamespace`) of this or another
//! cluster, read with the store's own credentials (a bearer token, a service account's short-lived
//! token, a client certificate, or a kubeconfig kept in a Secret), never with the controller's.
//!
//! What a reference selects, as ESO's provider does:
//! - `remoteRef` without `property`: the Secret's data as one JSON object of text values (keys
//!   sorted, as Go's encoder writes a `map[string]string`); with `metadataPolicy: Fetch`, an object
//!   of its `labels` and `annotations`.
//! - with `property`: the data key of that name; else, when it has a dot, the key before the first
//!   dot and the gjson path after it in that key's JSON value. With `metadataPolicy: Fetch`,
//!   `labels` or `annotations` (as JSON), one of their keys, or a gjson path inside one.
//! - `dataFrom.extract`: every data key (or `labels` and `annotations` as JSON with Fetch).
//! - `dataFrom.find`: every Secret of the namespace whose name matches `name.regexp`, or whose
//!   labels match `tags`, each as the JSON object of its data, under its name.
//!
//! A kubeconfig from a Secret may carry only inline data: files, `exec` and `auth-provider` would
//! run commands or read files of the controller (its own service account token among them), so
//! they are refused.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use zeroize::Zeroizing;

/// Secret data: key → value, each wiped when dropped.
pub type Data = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// How long connecting to the remote API server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request to the remote API server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the store authenticates (`auth`).
pub enum Credential {
    /// A bearer token (`auth.token`, or a service account's token from the TokenRequest API).
    Token(Zeroizing<String>),
    /// A client certificate and its key, PEM (`auth.cert`).
    Cert {
        /// The certificate chain.
        cert: Zeroizing<Vec<u8>>,
        /// The private key.
        key: Zeroizing<Vec<u8>>,
    },
}

/// An API server and how to authenticate to it (`server` and `auth`).
pub struct Connection {
    /// `server.url`; without a scheme, `https` when a CA or a client certificate is given, as
    /// client-go chooses.
    pub url: String,
    /// The CA certificate(s), PEM; none: the system's roots.
    pub ca: Option<Vec<u8>>,
    /// The credential.
    pub credential: Credential,
}

/// The Secrets of one namespace of an API server, as the store's credentials see them.
#[derive(Clone)]
pub struct Remote {
    client: kube::Client,
    namespace: String,
}

/// Names the namespace only: the client holds credentials.
impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A client of `connection`, reading the Secrets of `namespace`.
    pub async fn connect(connection: Connection, namespace: &str) -> Result<Remote, String> {
        let url = if connection.url.contains("://") {
            connection.url.clone()
        } else {
            let tls =
                connection.ca.is_some() || matches!(connection.credential, Credential::Cert { .. });
            format!(
                "{}://{}",
                if tls { "https" } else { "http" },
                connection.url
            )
        };
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut user = AuthInfo::default();
        match &connection.credential {
            Credential::Token(token) => {
                user.token = Some(secrecy::SecretString::from(token.as_str()));
            }
            Credential::Cert { cert, key } => {
                user.client_certificate_data = Some(b64(cert));
                user.client_key_data = Some(secrecy::SecretString::from(b64(key)));
            }
        }
        let kubeconfig = Kubeconfig {
            clusters: vec![NamedCluster {
                name: "remote".to_owned(),
                cluster: Some(Cluster {
                    server: Some(url),
                    certificate_authority_data: connection.ca.as_deref().map(b64),
                    ..Cluster::default()
                }),
                ..NamedCluster::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: "store".to_owned(),
                auth_info: Some(user),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: "store".to_owned(),
                context: Some(Context {
                    cluster: "remote".to_owned(),
                    user: Some("store".to_owned()),
                    ..Context::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some("store".to_owned()),
            ..Kubeconfig::default()
        };
        Self::build(kubeconfig, namespace).await
    }

    /// A client of the kubeconfig `yaml` (its current context), reading the Secrets of `namespace`.
    /// Only inline data is taken: see the module docs.
    pub async fn from_kubeconfig(yaml: &[u8], namespace: &str) -> Result<Remote, String> {
        let text =
            std::str::from_utf8(yaml).map_err(|_| "the kubeconfig is not UTF-8".to_owned())?;
        // The parser's message could quote the document: say only that it does not parse.
        let kubeconfig = Kubeconfig::from_yaml(text)
            .map_err(|_| "the kubeconfig is not a valid kubeconfig document".to_owned())?;
        if let Some(field) = refused_field(&kubeconfig) {
            return Err(format!(
                "the kubeconfig sets {field}, which kseal refuses in a kubeconfig read from a Secret (it would read files or run commands of the controller): use inline data (token, client-certificate-data, client-key-data, certificate-authority-data)"
            ));
        }
        Self::build(kubeconfig, namespace).await
    }

    async fn build(kubeconfig: Kubeconfig, namespace: &str) -> Result<Remote, String> {
        // The loader's messages may name the malformed input: say which part failed, not how.
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|_| {
                "the server address, CA certificate or credentials cannot be used (not a valid URL, PEM or base64)"
                    .to_owned()
            })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        config.reset_reader_on_write = true;
        let client = kube::Client::try_from(config).map_err(|_| {
            "the CA certificate or the client certificate and key cannot be used (not valid PEM, or a key that does not fit)"
                .to_owned()
        })?;
        Ok(Remote {
            client,
            namespace: namespace.to_owned(),
        })
    }

    /// The namespace whose Secrets are read.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Secret `name`, or `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Secret>, kube::Error> {
        self.secrets().get_opt(name).await
    }

    /// Every Secret of the namespace, or those whose labels match `selector` (`k=v,...`).
    pub async fn list(&self, selector: Option<&str>) -> Result<Vec<Secret>, kube::Error> {
        let mut params = ListParams::default();
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        Ok(self.secrets().list(&params).await?.items)
    }

    /// Whether the credentials may read Secrets of the namespace, asked as ESO does: the rules a
    /// SelfSubjectRulesReview lists, then a SelfSubjectAccessReview for `get`.
    pub async fn may_read(&self) -> Result<bool, kube::Error> {
        let rules: Api<SelfSubjectRulesReview> = Api::all(self.client.clone());
        let review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec {
                namespace: Some(self.namespace.clone()),
            },
            ..SelfSubjectRulesReview::default()
        };
        let answer = rules.create(&PostParams::default(), &review).await?;
        let listed = answer.status.is_some_and(|status| {
            status.resource_rules.iter().any(|rule| {
                let has =
                    |list: &[String], wanted: &str| list.iter().any(|v| v == wanted || v == "*");
                let groups = rule.api_groups.as_deref().unwrap_or_default();
                has(rule.resources.as_deref().unwrap_or_default(), "secrets")
                    && has(&rule.verbs, "get")
                    && (groups.is_empty() || has(groups, ""))
            })
        });
        if listed {
            return Ok(true);
        }
        let access: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    resource: Some("secrets".to_owned()),
                    namespace: Some(self.namespace.clone()),
                    verb: Some("get".to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = access.create(&PostParams::default(), &review).await?;
        Ok(answer.status.is_some_and(|status| status.allowed))
    }
}

/// The first field of `kubeconfig` that would make the client read a file or run a command.
fn refused_field(kubeconfig: &Kubeconfig) -> Option<&'static str> {
    for cluster in kubeconfig
        .clusters
        .iter()
        .filter_map(|c| c.cluster.as_ref())
    {
        if cluster.certificate_authority.is_some() {
            return Some("clusters[].cluster.certificate-authority (a file)");
        }
    }
    for user in kubeconfig
        .auth_infos
        .iter()
        .filter_map(|a| a.auth_info.as_ref())
    {
        let refused = [
            (user.exec.is_some(), "users[].user.exec"),
            (user.auth_provider.is_some(), "users[].user.auth-provider"),
            (user.token_file.is_some(), "users[].user.tokenFile (a file)"),
            (
                user.client_certificate.is_some(),
                "users[].user.client-certificate (a file)",
            ),
            (
                user.client_key.is_some(),
                "users[].user.client-key (a file)",
            ),
        ];
        if let Some((_, field)) = refused.into_iter().find(|(set, _)| *set) {
            return Some(field);
        }
    }
    None
}

/// Why a reference selects nothing: ESO's messages (the property is manifest text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// `property` is not in the Secret's data.
    #[error("property {property} does not exist in data of secret {key:?}")]
    Data {
        /// The remote key (Secret name).
        key: String,
        /// The property.
        property: String,
    },
    /// `property` is not in the Secret's labels or annotations.
    #[error("property {property} does not exist in metadata of secret {key:?}")]
    Metadata {
        /// The remote key (Secret name).
        key: String,
        /// The property.
        property: String,
    },
}

/// The value `remoteRef` selects from `secret` (see the module docs); `fetch_metadata` is
/// `metadataPolicy: Fetch`. An empty property counts as none.
pub fn value(
    secret: &Secret,
    key: &str,
    property: Option<&str>,
    fetch_metadata: bool,
) -> Result<Zeroizing<Vec<u8>>, Missing> {
    let property = property.filter(|p| !p.is_empty());
    let Some(property) = property else {
        if fetch_metadata {
            let labels = go_json_object(secret.metadata.labels.as_ref());
            let annotations = go_json_object(secret.metadata.annotations.as_ref());
            let mut out = Vec::with_capacity(labels.len() + annotations.len() + 30);
            out.extend_from_slice(b"{\"annotations\":");
            out.extend_from_slice(&annotations);
            out.extend_from_slice(b",\"labels\":");
            out.extend_from_slice(&labels);
            out.push(b'}');
            return Ok(Zeroizing::new(out));
        }
        return Ok(json_of_data(&data_of(secret)));
    };
    if fetch_metadata {
        return from_metadata(secret, property).ok_or_else(|| Missing::Metadata {
            key: key.to_owned(),
            property: property.to_owned(),
        });
    }
    let missing = || Missing::Data {
        key: key.to_owned(),
        property: property.to_owned(),
    };
    let data = secret.data.as_ref();
    if let Some(value) = data.and_then(|d| d.get(property)) {
        return Ok(Zeroizing::new(value.0.clone()));
    }
    let (head, path) = property
        .split_once('.')
        .filter(|(head, path)| !head.is_empty() && !path.is_empty())
        .ok_or_else(missing)?;
    let json = data.and_then(|d| d.get(head)).ok_or_else(missing)?;
    let found = kseal_gjson::get(&json.0, path);
    if !found.exists() {
        return Err(missing());
    }
    Ok(Zeroizing::new(found.text()))
}

/// `labels` or `annotations` as JSON, one of their values, or a gjson path inside one.
fn from_metadata(secret: &Secret, property: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut path = property.split('.');
    let map = match path.next()? {
        "labels" => secret.metadata.labels.as_ref(),
        "annotations" => secret.metadata.annotations.as_ref(),
        _ => return None,
    };
    let Some(member) = path.next() else {
        return Some(Zeroizing::new(go_json_object(map)));
    };
    let value = map?.get(member)?;
    let rest: Vec<&str> = path.collect();
    if rest.is_empty() {
        return Some(Zeroizing::new(value.as_bytes().to_vec()));
    }
    // ESO joins the remaining segments without a separator.
    let found = kseal_gjson::get(value.as_bytes(), &rest.concat());
    found.exists().then(|| Zeroizing::new(found.text()))
}

/// The keys `dataFrom.extract` gives (without `property`): the Secret's data, or with
/// `metadataPolicy: Fetch` its `labels` and `annotations` as JSON.
pub fn map(secret: &Secret, fetch_metadata: bool) -> Data {
    if fetch_metadata {
        return [
            ("labels", secret.metadata.labels.as_ref()),
            ("annotations", secret.metadata.annotations.as_ref()),
        ]
        .into_iter()
        .map(|(key, map)| (key.to_owned(), Zeroizing::new(go_json_object(map))))
        .collect();
    }
    data_of(secret)
}

/// A Secret's data.
pub fn data_of(secret: &Secret) -> Data {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.0.clone())))
        .collect()
}

/// A Secret's data as ESO serializes it: one JSON object of text values (see [`json_of_data`]).
pub fn json_of_data(data: &Data) -> Zeroizing<Vec<u8>> {
    super::go_json_text_map(data)
}

/// A `map[string]string` as Go's encoder writes it (keys sorted, no HTML escaping); none: `null`.
fn go_json_object(map: Option<&BTreeMap<String, String>>) -> Vec<u8> {
    match map {
        Some(map) => {
            super::go_json_object(map.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).to_vec()
        }
        None => b"null".to_vec(),
    }
}

/// A label selector (`k=v,...`) of `find.tags`, or why the tags are not valid label keys or values.
pub fn tag_selector(tags: &BTreeMap<String, String>) -> Result<String, String> {
    for (key, value) in tags {
        if !valid_label_key(key) {
            return Err(format!(
                "dataFrom.find.tags: {key:?} is not a valid label key"
            ));
        }
        if !valid_label_value(value) {
            return Err(format!(
                "dataFrom.find.tags: the value of {key:?} is not a valid label value"
            ));
        }
    }
    Ok(tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
fn valid_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn text(value: Zeroizing<Vec<u8>>) -> String {
        String::from_utf8(value.to_vec()).unwrap()
    }

    #[test]
    fn without_a_property_the_data_is_one_json_object() {
        let s = secret(&[("b", b"2"), ("a", b"<x>")]);
        assert_eq!(
            text(value(&s, "s", None, false).unwrap()),
            r#"{"a":"<x>","b":"2"}"#
        );
        assert_eq!(
            text(value(&s, "s", Some(""), false).unwrap()),
            r#"{"a":"<x>","b":"2"}"#
        );
    }

    #[test]
    fn a_property_is_a_key_then_a_path_inside_the_key_before_the_first_dot() {
        let s = secret(&[
            ("file.png", b"\x89PNG"),
            ("config", br#"{"db":{"host":"h"}}"#),
        ]);
        assert_eq!(
            value(&s, "s", Some("file.png"), false).unwrap().to_vec(),
            b"\x89PNG"
        );
        assert_eq!(
            text(value(&s, "s", Some("config.db.host"), false).unwrap()),
            "h"
        );
        assert_eq!(
            value(&s, "s", Some("config.db.port"), false)
                .unwrap_err()
                .to_string(),
            "property config.db.port does not exist in data of secret \"s\""
        );
        assert!(value(&s, "s", Some("missing"), false).is_err());
        assert!(value(&s, "s", Some("config."), false).is_err());
    }

    #[test]
    fn metadata_is_labels_and_annotations() {
        let mut s = secret(&[]);
        s.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
        s.metadata.annotations =
            Some([("conf".to_owned(), r#"{"x":{"y":"z"}}"#.to_owned())].into());
        assert_eq!(
            text(value(&s, "s", None, true).unwrap()),
            r#"{"annotations":{"conf":"{\"x\":{\"y\":\"z\"}}"},"labels":{"team":"a"}}"#
        );
        assert_eq!(
            text(value(&s, "s", Some("labels"), true).unwrap()),
            r#"{"team":"a"}"#
        );
        assert_eq!(
            text(value(&s, "s", Some("labels.team"), true).unwrap()),
            "a"
        );
        assert_eq!(
            text(value(&s, "s", Some("annotations.conf.x"), true).unwrap()),
            r#"{"y":"z"}"#
        );
        // ESO joins the segments after the key without dots: a deeper path finds nothing.
        assert!(value(&s, "s", Some("annotations.conf.x.y"), true).is_err());
        assert!(value(&s, "s", Some("other"), true).is_err());
        let bare = secret(&[]);
        assert_eq!(
            text(value(&bare, "s", None, true).unwrap()),
            r#"{"annotations":null,"labels":null}"#
        );
        let extracted = map(&s, true);
        assert_eq!(extracted["labels"].to_vec(), br#"{"team":"a"}"#);
    }

    #[test]
    fn tags_become_a_label_selector_when_valid() {
        let tags: BTreeMap<String, String> = [
            ("app".to_owned(), "web".to_owned()),
            ("example.com/tier".to_owned(), "".to_owned()),
        ]
        .into();
        assert_eq!(tag_selector(&tags).unwrap(), "app=web,example.com/tier=");
        let bad: BTreeMap<String, String> = [("a b".to_owned(), "x".to_owned())].into();
        assert!(tag_selector(&bad).is_err());
    }

    #[test]
    fn kubeconfigs_that_read_files_or_run_commands_are_refused() {
        let yaml = r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#;
        let error = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(Remote::from_kubeconfig(yaml.as_bytes(), "default"))
            .unwrap_err();
        assert!(error.contains("users[].user.exec"), "{error}");
    }
}
