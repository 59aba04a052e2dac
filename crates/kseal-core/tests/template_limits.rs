//! The templates of one object share one budget (a SealedSecret's `template.data`; an ExternalSecret's
//! templated labels, annotations, `templateFrom` and `template.data`), and their errors never quote a
//! value.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kseal_api::external_secrets::{
    ExternalSecret, ExternalSecretSpec, ExternalSecretTarget, ExternalSecretTemplate,
    TemplateMetadata, TemplateTarget,
};
use kseal_core::external_secrets::desired::{self, Data, TemplateSource, desired_secret};
use kseal_core::manifest::read_documents;
use kseal_core::{Error, PlainSecret, SealOptions, seal_secret, unseal};
use kseal_crypto::{KeyOptions, KeyPair};
use zeroize::Zeroizing;

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

/// A SealedSecret of `password: hunter22` whose `template.data` is `templates`.
fn sealed_with_templates(templates: BTreeMap<String, String>) -> kseal_api::SealedSecret {
    let secret = PlainSecret::from_document(
        &read_documents(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team}\n\
             stringData: {password: hunter22}\n",
        )
        .unwrap()[0],
    )
    .unwrap();
    let options = SealOptions {
        key: key().certificate().public_key(),
        scope: None,
        allow_empty_data: false,
        default_namespace: "default".into(),
        namespace: None,
        name: None,
    };
    let mut sealed = seal_secret(secret, &options).unwrap();
    sealed.spec.template.get_or_insert_default().data = Some(templates);
    sealed
}

#[test]
fn a_sealed_secret_s_templates_share_one_budget() {
    let templates: BTreeMap<String, String> = (0..200)
        .map(|i| (format!("k{i:03}"), r#"{{ repeat 1048576 "a" }}"#.to_owned()))
        .collect();
    let sealed = sealed_with_templates(templates);
    let Err(Error::Template { source, .. }) = unseal(&sealed, &[key().private_key()]) else {
        panic!("200 templates of 1 MiB each must not unseal");
    };
    assert_eq!(source.reason(), "limit", "{source}");
    assert!(
        source.to_string().contains(&format!(
            "together output more than {} bytes",
            kseal_template::MAX_OBJECT_OUTPUT_BYTES
        )),
        "{source}"
    );
}

#[test]
fn a_sealed_secret_s_template_error_never_quotes_a_value() {
    let sealed =
        sealed_with_templates([("x".to_owned(), "{{ fail .password }}".to_owned())].into());
    let error = unseal(&sealed, &[key().private_key()]).unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("hunter22"), "{text}");
    }
    assert!(
        error.to_string().contains("the template called fail"),
        "{error}"
    );
}

fn external_secret(template: ExternalSecretTemplate) -> ExternalSecret {
    let mut es = ExternalSecret::new(
        "app",
        ExternalSecretSpec {
            target: ExternalSecretTarget {
                template: Some(template),
                ..ExternalSecretTarget::default()
            },
            ..ExternalSecretSpec::default()
        },
    );
    es.metadata.namespace = Some("team".into());
    es
}

fn provider_data() -> Data {
    [("password".to_owned(), Zeroizing::new(b"hunter22".to_vec()))].into()
}

/// 600,000 steps: within the object's limit alone, over it twice.
const HALF_THE_STEPS: &str = "{{ range 600000 }}{{ end }}";

#[test]
fn an_external_secret_s_templates_share_one_budget() {
    let slow = |tail: &str| format!("{HALF_THE_STEPS}{tail}");
    // Each template alone renders.
    for template in [
        ExternalSecretTemplate {
            metadata: Some(TemplateMetadata {
                labels: [("tier".to_owned(), slow("web"))].into(),
                ..TemplateMetadata::default()
            }),
            ..ExternalSecretTemplate::default()
        },
        ExternalSecretTemplate {
            data: [("out".to_owned(), slow("x"))].into(),
            ..ExternalSecretTemplate::default()
        },
    ] {
        desired_secret(&external_secret(template), provider_data(), &[]).unwrap();
    }
    let literal = [TemplateSource::Literal {
        target: TemplateTarget::Data,
        decoding: kseal_api::external_secrets::DecodingStrategy::None,
        template: slow("from: literal"),
    }];
    desired_secret(
        &external_secret(ExternalSecretTemplate::default()),
        provider_data(),
        &literal,
    )
    .unwrap();

    // Two of them in one ExternalSecret: labels + data, annotations + templateFrom, templateFrom + data.
    let cases = [
        (
            ExternalSecretTemplate {
                metadata: Some(TemplateMetadata {
                    labels: [("tier".to_owned(), slow("web"))].into(),
                    ..TemplateMetadata::default()
                }),
                data: [("out".to_owned(), slow("x"))].into(),
                ..ExternalSecretTemplate::default()
            },
            Vec::new(),
        ),
        (
            ExternalSecretTemplate {
                metadata: Some(TemplateMetadata {
                    annotations: [("note".to_owned(), slow("n"))].into(),
                    ..TemplateMetadata::default()
                }),
                ..ExternalSecretTemplate::default()
            },
            literal.to_vec(),
        ),
        (
            ExternalSecretTemplate {
                data: [("out".to_owned(), slow("x"))].into(),
                ..ExternalSecretTemplate::default()
            },
            literal.to_vec(),
        ),
    ];
    for (template, sources) in cases {
        let error = desired_secret(&external_secret(template), provider_data(), &sources)
            .expect_err("two templates of the same ExternalSecret share the steps limit");
        let desired::Error::Template { source, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(source.reason(), "limit", "{error}");
        assert!(
            error.to_string().contains(&format!(
                "{} evaluation steps",
                kseal_template::MAX_OBJECT_STEPS
            )),
            "{error}"
        );
    }
}

#[test]
fn an_external_secret_s_template_error_never_quotes_a_value() {
    let es = external_secret(ExternalSecretTemplate {
        metadata: Some(TemplateMetadata {
            labels: [("tier".to_owned(), "{{ fail .password }}".to_owned())].into(),
            ..TemplateMetadata::default()
        }),
        ..ExternalSecretTemplate::default()
    });
    let error = desired_secret(&es, provider_data(), &[]).unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("hunter22"), "{text}");
    }
    assert!(
        error.to_string().contains("the template called fail"),
        "{error}"
    );
}

#[test]
fn an_external_secret_with_engine_v1_is_refused_with_a_clear_message() {
    let es = external_secret(ExternalSecretTemplate {
        engine_version: Some("v1".to_owned()),
        data: [("x".to_owned(), "{{ .password }}".to_owned())].into(),
        ..ExternalSecretTemplate::default()
    });
    let error = desired_secret(&es, provider_data(), &[]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("engineVersion \"v1\" is not supported"),
        "{error}"
    );
    let es = external_secret(ExternalSecretTemplate {
        engine_version: Some("v2".to_owned()),
        data: [("x".to_owned(), "{{ .password | len }}".to_owned())].into(),
        ..ExternalSecretTemplate::default()
    });
    assert!(desired_secret(&es, provider_data(), &[]).is_ok());
}
