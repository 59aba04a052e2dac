//! `dataFrom[].sourceRef.generatorRef`: the generator an entry names (a `Password`, `UUID`, `Fake`,
//! `ECRAuthorizationToken` or `STSSessionToken` of the ExternalSecret's namespace, or a
//! `ClusterGenerator` of those kinds), read from the API server at each refresh that is due, and the
//! values it generates. As in ESO, every refresh generates new values; between refreshes (and across
//! restarts of the controller) the Secret keeps the last ones.

use kseal_api::external_secrets::GeneratorRef;
use kseal_api::generators::{
    self, ClusterGeneratorSpec, EcrAuthorizationTokenSpec, FakeSpec, GeneratorKind, PasswordSpec,
    StsSessionTokenSpec, UuidSpec,
};
use kseal_core::external_secrets::desired::Data;
use kseal_core::external_secrets::generate;
use kseal_runtime::meta::name_in;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use zeroize::Zeroizing;

use crate::error::kube;
use crate::provider::aws::tokens;
use crate::{Context, Error};

/// What a `generatorRef` resolves to: the spec of one served kind.
enum Spec {
    Password(PasswordSpec),
    Uuid,
    Fake(FakeSpec),
    Ecr(EcrAuthorizationTokenSpec),
    Sts(StsSessionTokenSpec),
}

/// The values the generator `reference` (of entry `what`, e.g. `spec.dataFrom[0]`) generates for an
/// ExternalSecret of `namespace`.
pub(crate) async fn generate(
    ctx: &Context,
    namespace: &str,
    reference: &GeneratorRef,
    what: &str,
) -> Result<Data, Error> {
    let client = &ctx.client;
    let at = format!("{what}.sourceRef.generatorRef");
    let api_version = reference
        .api_version
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or(generators::DEFAULT_API_VERSION);
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if group != generators::GROUP {
        return Err(Error::Invalid {
            message: format!(
                "{at}: may only reference the generators group ({}), not {api_version:?}",
                generators::GROUP
            ),
        });
    }
    if version != generators::VERSION {
        return Err(Error::Invalid {
            message: format!("{at}: unknown generator version {api_version:?}"),
        });
    }
    let (spec, object) = if reference.kind == "ClusterGenerator" {
        let object = read(client, None, "ClusterGenerator", &reference.name, &at).await?;
        (cluster_spec(&object, &at)?, object)
    } else {
        let kind = served_kind(&reference.kind, &at)?;
        let object = read(client, Some(namespace), kind.name(), &reference.name, &at).await?;
        let spec = &object.data["spec"];
        let spec = match kind {
            GeneratorKind::Password => Spec::Password(parse(spec, &object, "spec")?),
            GeneratorKind::Uuid => {
                parse::<UuidSpec>(spec, &object, "spec")?;
                Spec::Uuid
            }
            GeneratorKind::EcrAuthorizationToken => Spec::Ecr(parse(spec, &object, "spec")?),
            GeneratorKind::StsSessionToken => Spec::Sts(parse(spec, &object, "spec")?),
            _ => Spec::Fake(parse(spec, &object, "spec")?),
        };
        (spec, object)
    };
    let cluster = reference.kind == "ClusterGenerator";
    let name = format!("{} {}", reference.kind, name_in(&object.metadata));
    match spec {
        Spec::Password(spec) => {
            // Not held across an await: the thread's generator stays on its thread.
            generate::password(&spec, &mut rand::rng()).map_err(|error| Error::Invalid {
                message: format!("{at}: {name}: {error}"),
            })
        }
        Spec::Uuid => Ok(generate::uuid(&mut rand::rng())),
        Spec::Fake(spec) => {
            if let Some(wanted) = spec.controller.as_deref().filter(|c| !c.is_empty())
                && Some(wanted) != ctx.config.controller_class.as_deref()
            {
                return Err(Error::Invalid {
                    message: format!(
                        "{at}: {name} is for controller class {wanted:?}, not this controller's"
                    ),
                });
            }
            Ok(generate::fake(&spec))
        }
        Spec::Ecr(spec) => ecr(ctx, spec, namespace, cluster, &format!("{at}: {name}")).await,
        Spec::Sts(spec) => sts(ctx, spec, namespace, cluster, &format!("{at}: {name}")).await,
    }
}

/// An ECR authorization token, as ESO writes it: `username`, `password`, `proxy_endpoint` and
/// `expires_at` (Unix seconds).
async fn ecr(
    ctx: &Context,
    spec: EcrAuthorizationTokenSpec,
    namespace: &str,
    cluster: bool,
    display: &str,
) -> Result<Data, Error> {
    if spec.scope.as_deref() == Some("public") {
        return Err(Error::Unsupported {
            message: format!(
                "{display}: spec.scope public (ECR Public) is not supported by kseal (private registries are); nothing is synced until it is removed; the Secret is left as it is"
            ),
        });
    }
    let config = aws_config(
        ctx,
        display,
        spec.auth.as_ref(),
        spec.role,
        spec.region,
        namespace,
        cluster,
    )
    .await?;
    let token = tokens::ecr_authorization_token(&config, ctx.providers.options())
        .await
        .map_err(provider(display))?;
    Ok(Data::from([
        value("username", token.username.into_bytes()),
        ("password".to_owned(), bytes(&token.password)),
        value("proxy_endpoint", token.proxy_endpoint.into_bytes()),
        value("expires_at", token.expires_at.to_string().into_bytes()),
    ]))
}

/// STS session credentials, as ESO writes them: `access_key_id`, `secret_access_key`,
/// `session_token` and `expiration` (Unix seconds).
async fn sts(
    ctx: &Context,
    spec: StsSessionTokenSpec,
    namespace: &str,
    cluster: bool,
    display: &str,
) -> Result<Data, Error> {
    if spec.auth.as_ref().is_some_and(|auth| auth.jwt.is_some()) {
        // ESO's rule: GetSessionToken needs long-term (IAM user) credentials.
        return Err(Error::Invalid {
            message: format!("{display}: jwt auth cannot be used for STS Session Token generation"),
        });
    }
    let request = spec
        .request_parameters
        .map(|parameters| tokens::SessionRequest {
            duration_seconds: parameters.session_duration,
            serial_number: parameters.serial_number,
            token_code: parameters.token_code,
        })
        .unwrap_or_default();
    let config = aws_config(
        ctx,
        display,
        spec.auth.as_ref(),
        spec.role,
        spec.region,
        namespace,
        cluster,
    )
    .await?;
    let token = tokens::session_token(&config, ctx.providers.options(), &request)
        .await
        .map_err(provider(display))?;
    Ok(Data::from([
        value("access_key_id", token.access_key_id.into_bytes()),
        (
            "secret_access_key".to_owned(),
            bytes(&token.secret_access_key),
        ),
        ("session_token".to_owned(), bytes(&token.session_token)),
        value("expiration", token.expiration.to_string().into_bytes()),
    ]))
}

/// The AWS configuration of a generator of `namespace` (or a ClusterGenerator: `cluster`).
async fn aws_config(
    ctx: &Context,
    display: &str,
    auth: Option<&kseal_api::external_secrets::AwsAuth>,
    role: Option<String>,
    region: String,
    namespace: &str,
    cluster: bool,
) -> Result<crate::provider::aws::StoreConfig, Error> {
    crate::stores::generator_config(
        &ctx.client,
        &ctx.providers,
        display,
        auth,
        role,
        region,
        namespace,
        cluster,
        ctx.config.allow_namespaced_default_credentials,
    )
    .await
}

fn provider(display: &str) -> impl FnOnce(crate::provider::aws::Error) -> Error + '_ {
    move |source| Error::Provider {
        store: display.to_owned(),
        key: String::new(),
        source,
    }
}

fn value(key: &str, value: Vec<u8>) -> (String, Zeroizing<Vec<u8>>) {
    (key.to_owned(), Zeroizing::new(value))
}

fn bytes(secret: &Zeroizing<String>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(secret.as_bytes().to_vec())
}

/// A kind kseal generates, else why not.
fn served_kind(kind: &str, at: &str) -> Result<GeneratorKind, Error> {
    match GeneratorKind::parse(kind) {
        Some(kind) if kind.served() => Ok(kind),
        Some(kind) => Err(unsupported_kind(kind, at)),
        None => Err(Error::Invalid {
            message: format!("{at}: unknown generator kind {kind:?}"),
        }),
    }
}

fn unsupported_kind(kind: GeneratorKind, at: &str) -> Error {
    Error::Unsupported {
        message: format!(
            "{at}: generator kind {} not supported by kseal (kseal generates Password, UUID, Fake, ECRAuthorizationToken and STSSessionToken; nothing is synced until the entry is removed; the Secret is left as it is)",
            kind.name()
        ),
    }
}

/// A ClusterGenerator's spec of its kind: `spec.generator.<kind>Spec`.
fn cluster_spec(object: &DynamicObject, at: &str) -> Result<Spec, Error> {
    let name = format!("ClusterGenerator {}", name_in(&object.metadata));
    let spec = &object.data["spec"];
    let kind = spec["kind"].as_str().unwrap_or_default();
    let kind = GeneratorKind::parse(kind).ok_or_else(|| Error::Invalid {
        message: format!("{at}: {name}: spec.kind {kind:?} is not a generator kind"),
    })?;
    if !kind.served() {
        return Err(unsupported_kind(kind, &format!("{at}: {name}")));
    }
    let field = kind.spec_field();
    let value = &spec["generator"][&field];
    if value.is_null() {
        return Err(Error::Invalid {
            message: format!(
                "{at}: {name}: when kind is {}, spec.generator.{field} must be set",
                kind.name()
            ),
        });
    }
    // Only the kind's own spec is read (ESO ignores the others), checked field by field.
    let only = serde_json::json!({"kind": kind, "generator": {field.as_str(): value}});
    let parsed: ClusterGeneratorSpec = parse(&only, object, "spec")?;
    let specs = parsed.generator;
    Ok(match kind {
        GeneratorKind::Password => Spec::Password(specs.password_spec.unwrap_or_default()),
        GeneratorKind::Uuid => Spec::Uuid,
        GeneratorKind::EcrAuthorizationToken => {
            Spec::Ecr(specs.ecr_authorization_token_spec.unwrap_or_default())
        }
        GeneratorKind::StsSessionToken => {
            Spec::Sts(specs.sts_session_token_spec.unwrap_or_default())
        }
        _ => Spec::Fake(specs.fake_spec.unwrap_or_default()),
    })
}

/// The typed `value` (at `root` of `object`); fields kseal does not know are `Unsupported`.
fn parse<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    object: &DynamicObject,
    root: &str,
) -> Result<T, Error> {
    let value = if value.is_null() {
        serde_json::json!({})
    } else {
        value.clone()
    };
    crate::watched::parse_at(&value, &object.metadata, root)
}

/// The generator `kind`/`name` (in `namespace`, or cluster-scoped).
async fn read(
    client: &Client,
    namespace: Option<&str>,
    kind: &str,
    name: &str,
    at: &str,
) -> Result<DynamicObject, Error> {
    let gvk = GroupVersionKind::gvk(generators::GROUP, generators::VERSION, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &plural(kind));
    let (api, shown): (Api<DynamicObject>, String) = match namespace {
        Some(namespace) => (
            Api::namespaced_with(client.clone(), namespace, &resource),
            format!("{kind} {namespace}/{name}"),
        ),
        None => (
            Api::all_with(client.clone(), &resource),
            format!("{kind} {name}"),
        ),
    };
    api.get_opt(name)
        .await
        .map_err(kube(shown.clone()))?
        .ok_or_else(|| Error::Invalid {
            message: format!("{at}: {shown} does not exist"),
        })
}

/// The resource name of a generator kind (`passwords`, `uuids`, `clustergenerators`).
fn plural(kind: &str) -> String {
    format!("{}s", kind.to_ascii_lowercase())
}
