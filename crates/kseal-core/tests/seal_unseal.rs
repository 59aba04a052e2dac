//! Seal a Secret, unseal the SealedSecret: the same bytes come back, in the right scope only.

use std::sync::OnceLock;

use kseal_api::SealedSecret;
use kseal_core::manifest::read_documents;
use kseal_core::{Error, PlainSecret, SealOptions, seal_secret, unseal};
use kseal_crypto::{KeyOptions, KeyPair, Scope};

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..Default::default()
        })
        .unwrap()
    })
}

fn options(scope: Option<Scope>) -> SealOptions<'static> {
    SealOptions {
        key: key().certificate().public_key(),
        scope,
        allow_empty_data: false,
        default_namespace: "default".into(),
        namespace: None,
        name: None,
    }
}

fn secret(yaml: &str) -> PlainSecret {
    PlainSecret::from_document(&read_documents(yaml).unwrap()[0]).unwrap()
}

const SEED: &str = "apiVersion: v1
kind: Secret
metadata:
  name: myapp-secret
  labels: {app: myapp}
  annotations:
    team: payments
    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"JWT_SECRET\":\"c3VwZXItc2VjcmV0LWtleQ==\"}}'
  uid: 0b6f0c6e-1111-2222-3333-444455556666
  resourceVersion: \"42\"
type: Opaque
data:
  DATABASE_URL: cG9zdGdyZXNxbDovL3VzZXI6cGFzc0BkYjozMjQzMi9teWFwcA==
  JWT_SECRET: c3VwZXItc2VjcmV0LWtleQ==
stringData:
  REDIS_PASSWORD: redis-password
";

#[test]
fn seed_secret_round_trips_with_kubeseal_metadata() {
    let sealed = seal_secret(secret(SEED), &options(None)).unwrap();
    assert_eq!(sealed.metadata.name.as_deref(), Some("myapp-secret"));
    assert_eq!(
        sealed.metadata.namespace.as_deref(),
        Some("default"),
        "default namespace"
    );
    let template = sealed.spec.template.as_ref().unwrap();
    let meta = template.metadata.as_ref().unwrap();
    assert_eq!(meta.labels.as_ref().unwrap()["app"], "myapp");
    let annotations = meta.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.len(),
        1,
        "last-applied stripped: {annotations:?}"
    );
    assert!(meta.uid.is_none() && meta.resource_version.is_none());
    assert_eq!(template.type_.as_deref(), Some("Opaque"));
    assert_eq!(sealed.spec.encrypted_data.len(), 3);
    let hint = &sealed.metadata.annotations.as_ref().unwrap()[kseal_api::annotations::KEY_HINT];
    assert_eq!(hint, key().certificate().public_key().fingerprint());

    let unsealed = unseal(&sealed, &[key().private_key()]).unwrap();
    let data = unsealed.to_secret().data.unwrap();
    assert_eq!(
        data["DATABASE_URL"].0,
        b"postgresql://user:pass@db:32432/myapp"
    );
    assert_eq!(data["JWT_SECRET"].0, b"super-secret-key");
    assert_eq!(data["REDIS_PASSWORD"].0, b"redis-password");
    assert_eq!(
        unsealed.to_secret().metadata.labels.unwrap()["app"],
        "myapp"
    );
    assert_eq!(unsealed.keys_used.len(), 1);
}

#[test]
fn scope_flags_set_annotations_and_labels() {
    for scope in Scope::ALL {
        let sealed = seal_secret(secret(SEED), &options(Some(scope))).unwrap();
        let annotations = sealed.metadata.annotations.clone().unwrap();
        for other in Scope::ALL {
            if let Some(a) = other.annotation() {
                assert_eq!(
                    annotations.contains_key(a),
                    other == scope,
                    "{scope}: {annotations:?}"
                );
            }
        }
        // Moving the object to another namespace only works cluster-wide.
        let mut moved: SealedSecret = sealed.clone();
        moved.metadata.namespace = Some("elsewhere".into());
        assert_eq!(
            unseal(&moved, &[key().private_key()]).is_ok(),
            scope == Scope::ClusterWide
        );
        // Renaming works for namespace-wide and cluster-wide.
        let mut renamed = sealed;
        renamed.metadata.name = Some("renamed".into());
        assert_eq!(
            unseal(&renamed, &[key().private_key()]).is_ok(),
            scope != Scope::Strict
        );
    }
}

#[test]
fn scope_comes_from_the_sealed_secret_not_its_template() {
    let mut sealed = seal_secret(secret(SEED), &options(None)).unwrap();
    // Claiming cluster-wide afterwards on the object does not open a strict value.
    sealed.metadata.annotations = Some(
        [(
            kseal_crypto::CLUSTER_WIDE_ANNOTATION.to_owned(),
            "true".to_owned(),
        )]
        .into(),
    );
    let err = unseal(&sealed, &[key().private_key()]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("default/myapp-secret: key DATABASE_URL: no private key"),
        "{text}"
    );
    assert!(
        text.contains("key JWT_SECRET") && text.contains("key REDIS_PASSWORD"),
        "{text}"
    );
    assert!(!text.contains("super-secret"), "never a value: {text}");
}

#[test]
fn namespace_rules() {
    let mut opts = options(None);
    opts.namespace = Some("prod".into());
    let sealed = seal_secret(secret(SEED), &opts).unwrap();
    assert_eq!(sealed.metadata.namespace.as_deref(), Some("prod"));

    let declared = SEED.replace(
        "  name: myapp-secret\n",
        "  name: myapp-secret\n  namespace: staging\n",
    );
    let err = seal_secret(secret(&declared), &opts).unwrap_err();
    assert!(err.to_string().contains("contradicts --namespace"), "{err}");
    let cluster = seal_secret(
        secret(&declared),
        &SealOptions {
            scope: Some(Scope::ClusterWide),
            ..opts
        },
    );
    assert!(cluster.is_ok(), "cluster-wide ignores the mismatch");

    let no_name = "kind: Secret\nmetadata: {namespace: a}\ndata: {k: dg==}\n";
    assert!(matches!(
        seal_secret(secret(no_name), &options(None)),
        Err(Error::MissingName)
    ));
    let empty = "kind: Secret\nmetadata: {name: e}\n";
    let err = seal_secret(secret(empty), &options(None)).unwrap_err();
    assert!(err.to_string().contains("--allow-empty-data"), "{err}");
    let allowed = SealOptions {
        allow_empty_data: true,
        ..options(None)
    };
    assert!(
        seal_secret(secret(empty), &allowed)
            .unwrap()
            .spec
            .encrypted_data
            .is_empty()
    );
}

#[test]
fn template_data_is_rendered_like_sealed_secrets() {
    let mut sealed = seal_secret(secret(SEED), &options(None)).unwrap();
    let template = sealed.spec.template.as_mut().unwrap();
    template.data = Some(
        [
            (
                "url".to_owned(),
                "{{ .DATABASE_URL }}?sslmode={{ .mode }}".to_owned(),
            ),
            ("mode".to_owned(), "require".to_owned()),
            (
                "JWT_SECRET".to_owned(),
                "{{ .JWT_SECRET | upper }}".to_owned(),
            ),
            ("x".to_owned(), "[{{ .missing }}]".to_owned()),
        ]
        .into(),
    );
    let data = unseal(&sealed, &[key().private_key()])
        .unwrap()
        .to_secret()
        .data
        .unwrap();
    // A template may use another template's text (sealed-secrets v0.37 and later).
    assert_eq!(
        data["url"].0,
        b"postgresql://user:pass@db:32432/myapp?sslmode=require"
    );
    assert_eq!(data["mode"].0, b"require");
    // An encrypted value wins over a template of the same key.
    assert_eq!(data["JWT_SECRET"].0, b"super-secret-key");
    // A missing key prints Go's `<no value>`, as sealed-secrets' controller does.
    assert_eq!(data["x"].0, b"[<no value>]");

    let template = sealed.spec.template.as_mut().unwrap();
    template.data = Some([("x".to_owned(), "{{ .missing | upper }}".to_owned())].into());
    let err = unseal(&sealed, &[key().private_key()]).unwrap_err();
    assert!(matches!(err, Error::Template { .. }), "{err}");
}

#[test]
fn owner_reference_unless_skipped_or_offline() {
    let mut sealed = seal_secret(secret(SEED), &options(None)).unwrap();
    assert!(
        unseal(&sealed, &[key().private_key()])
            .unwrap()
            .to_secret()
            .metadata
            .owner_references
            .is_none()
    );
    sealed.metadata.uid = Some("uid-1".into());
    let refs = unseal(&sealed, &[key().private_key()])
        .unwrap()
        .to_secret()
        .metadata
        .owner_references
        .unwrap();
    assert_eq!(
        (
            refs[0].kind.as_str(),
            refs[0].uid.as_str(),
            refs[0].controller
        ),
        ("SealedSecret", "uid-1", Some(true))
    );
    let meta = sealed
        .spec
        .template
        .as_mut()
        .unwrap()
        .metadata
        .as_mut()
        .unwrap();
    meta.annotations.get_or_insert_default().insert(
        kseal_api::annotations::SKIP_SET_OWNER_REFERENCES.into(),
        "true".into(),
    );
    assert!(
        unseal(&sealed, &[key().private_key()])
            .unwrap()
            .to_secret()
            .metadata
            .owner_references
            .is_none()
    );
}
