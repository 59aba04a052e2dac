//! Fetching the controller's certificate from the cluster when `--cert` is not given: through the API
//! server's service proxy as kubeseal does (SPEC §2.5), else from the ConfigMap the controller publishes
//! (SPEC §4 item 5).
//!
//! The CLI is synchronous; only this module starts a (small, current-thread) tokio runtime, and only when
//! it is needed, so sealing with `--cert` stays free of any cluster work.

use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kseal_crypto::Certificate;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::args::SealArgs;

/// Name of the ConfigMap holding the certificate (the controller's `certmap::CERT_CONFIG_MAP`).
pub const CERT_CONFIG_MAP: &str = "kseal-cert";
/// Data key of the certificate in [`CERT_CONFIG_MAP`].
pub const CERT_KEY: &str = "cert.pem";
/// Name of the controller Service's HTTP port.
const SERVICE_PORT_NAME: &str = "http";
/// Time to connect to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one answer of the API server.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Both ways to the certificate failed.
#[derive(Debug)]
pub struct FetchError {
    /// Why the service proxy failed.
    pub proxy: String,
    /// Why the ConfigMap failed.
    pub config_map: String,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot fetch the controller's certificate: through the service proxy: {}; from the ConfigMap: {}",
            self.proxy, self.config_map
        )
    }
}

impl std::error::Error for FetchError {}

/// No client to the cluster could be built (the cause follows in the chain).
#[derive(Debug)]
pub struct NoClient;

impl fmt::Display for NoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot reach the cluster to fetch the controller's certificate")
    }
}

/// Whether `error` is a failure to fetch the certificate, so that `--cert` would have avoided it.
pub fn is_fetch_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<FetchError>().is_some() || error.downcast_ref::<NoClient>().is_some()
}

/// The controller's certificate, fetched with the kubeconfig of `--kubeconfig`/`--context`.
pub fn fetch_certificate(args: &SealArgs) -> Result<Certificate> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime to reach the cluster")?;
    runtime.block_on(fetch(args))
}

async fn fetch(args: &SealArgs) -> Result<Certificate> {
    let client = client(args).await.context(NoClient)?;
    let namespace = &args.controller_namespace;
    let proxy = match via_service_proxy(&client, namespace, &args.controller_name).await {
        Ok(certificate) => return Ok(certificate),
        Err(error) => error,
    };
    match via_config_map(&client, namespace).await {
        Ok(certificate) => Ok(certificate),
        Err(config_map) => Err(FetchError {
            proxy: format!("{proxy:#}"),
            config_map: format!("{config_map:#}"),
        }
        .into()),
    }
}

async fn client(args: &SealArgs) -> Result<Client> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("cannot use kubeconfig {}", path.display()))?
        }
        None => Config::from_kubeconfig(&options)
            .await
            .context("cannot load the kubeconfig (KUBECONFIG or ~/.kube/config)")?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    Client::try_from(config).context("cannot create the Kubernetes client")
}

/// `GET /v1/cert.pem` of the controller through the API server's service proxy, as kubeseal.
async fn via_service_proxy(client: &Client, namespace: &str, service: &str) -> Result<Certificate> {
    let proxy = kube::core::Request::new(format!(
        "/api/v1/namespaces/{namespace}/services/{SERVICE_PORT_NAME}:{service}:{SERVICE_PORT_NAME}/proxy/v1"
    ));
    let request = proxy.get("cert.pem", &Default::default())?;
    let pem = client
        .request_text(request)
        .await
        .with_context(|| format!("service {namespace}/{service}"))?;
    Certificate::from_pem(pem.as_bytes())
        .with_context(|| format!("service {namespace}/{service} answered no certificate"))
}

/// The certificate the controller publishes in ConfigMap [`CERT_CONFIG_MAP`].
async fn via_config_map(client: &Client, namespace: &str) -> Result<Certificate> {
    let what = || format!("ConfigMap {namespace}/{CERT_CONFIG_MAP}");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let config_map = api.get(CERT_CONFIG_MAP).await.with_context(what)?;
    let pem = config_map
        .data
        .as_ref()
        .and_then(|data| data.get(CERT_KEY))
        .with_context(|| format!("{} has no key {CERT_KEY}", what()))?;
    Certificate::from_pem(pem.as_bytes()).with_context(what)
}
