//! Talking to the cluster: the controller's certificate when `--cert` is not given (through the API
//! server's service proxy as kubeseal does, else from the ConfigMap the controller publishes for
//! clusters whose service proxy is blocked), and `/v1/verify` and `/v1/rotate` through the same proxy.
//!
//! The CLI is synchronous; only this module starts a (small, current-thread) tokio runtime, and only when
//! it is needed, so sealing with `--cert` stays free of any cluster work.

use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kseal_crypto::Certificate;
use kube::{Api, Client};

use crate::args::{ClusterArgs, SealArgs};
use crate::kubeconfig;

pub use kseal_api::names::{CERT_CONFIG_MAP, CERT_KEY};
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

/// The controller's certificate as it was served (PEM, byte for byte), fetched with the kubeconfig and
/// kubectl's flags.
pub fn fetch_certificate(args: &SealArgs) -> Result<Vec<u8>> {
    block_on(fetch(args))
}

/// Runs `future` to completion on a current-thread runtime: the CLI's only async work is cluster I/O.
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime to reach the cluster")?
        .block_on(future)
}

async fn fetch(args: &SealArgs) -> Result<Vec<u8>> {
    let client = client(&args.cluster).await.context(NoClient)?;
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

/// A client from the kubeconfig (`--kubeconfig`, else `KUBECONFIG` or `~/.kube/config`), its context
/// (`--context`, else the current one) and kubectl's override flags, with timeouts so an unreachable
/// cluster fails instead of hanging.
pub async fn client(cluster: &ClusterArgs) -> Result<Client> {
    let mut config = kubeconfig::client_config(cluster).await?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    if cluster.request_timeout.is_none_or(|t| t.is_zero()) {
        config.read_timeout = Some(READ_TIMEOUT);
    }
    Client::try_from(config).context("cannot create the Kubernetes client")
}

/// Path of `endpoint` (e.g. `v1/verify`) of the controller's HTTP API through the API server's service
/// proxy: scheme `http`, Service `service` in `namespace`, port named `http`.
pub fn proxy_path(namespace: &str, service: &str, endpoint: &str) -> String {
    format!(
        "/api/v1/namespaces/{namespace}/services/{SERVICE_PORT_NAME}:{service}:{SERVICE_PORT_NAME}/proxy/{endpoint}"
    )
}

/// `GET /v1/cert.pem` of the controller through the API server's service proxy, as kubeseal.
async fn via_service_proxy(client: &Client, namespace: &str, service: &str) -> Result<Vec<u8>> {
    let proxy = kube::core::Request::new(proxy_path(namespace, service, "v1"));
    let request = proxy.get("cert.pem", &Default::default())?;
    let pem = client
        .request_text(request)
        .await
        .with_context(|| format!("service {namespace}/{service}"))?;
    Certificate::from_pem(pem.as_bytes())
        .with_context(|| format!("service {namespace}/{service} answered no certificate"))?;
    Ok(pem.into_bytes())
}

/// The certificate the controller publishes in ConfigMap [`CERT_CONFIG_MAP`].
async fn via_config_map(client: &Client, namespace: &str) -> Result<Vec<u8>> {
    let what = || format!("ConfigMap {namespace}/{CERT_CONFIG_MAP}");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let config_map = api.get(CERT_CONFIG_MAP).await.with_context(what)?;
    let pem = config_map
        .data
        .as_ref()
        .and_then(|data| data.get(CERT_KEY))
        .with_context(|| format!("{} has no key {CERT_KEY}", what()))?;
    Certificate::from_pem(pem.as_bytes()).with_context(what)?;
    Ok(pem.clone().into_bytes())
}

/// The controller's answer to a posted SealedSecret.
#[derive(Debug, PartialEq, Eq)]
pub enum ControllerAnswer {
    /// 2xx: the SealedSecret decrypts; the body (the re-encrypted object for `/v1/rotate`).
    Accepted(String),
    /// 409: the controller's keys do not open it; its message (names keys, never values).
    DoesNotDecrypt(String),
}

/// The controller's HTTP API could not be reached or refused the request for another reason.
#[derive(Debug)]
pub struct ProxyError {
    /// `namespace/name` of the controller's Service.
    pub service: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the controller's service {} did not answer through the API server's service proxy: {}",
            self.service, self.message
        )
    }
}

impl std::error::Error for ProxyError {}

/// `POST` of `body` (a SealedSecret as JSON) to `endpoint` (`v1/verify`, `v1/rotate`) of the controller
/// through the service proxy.
pub async fn post_to_controller(
    client: &Client,
    namespace: &str,
    service: &str,
    endpoint: &str,
    body: Vec<u8>,
) -> Result<ControllerAnswer, ProxyError> {
    // A JSON POST to the proxied path (kube adds an empty query, which the controller ignores).
    let request = kube::core::Request::new(proxy_path(namespace, service, endpoint))
        .create(&Default::default(), body)
        .map_err(kube::Error::BuildRequest);
    let result = match request {
        Ok(request) => client.request_text(request).await,
        Err(error) => Err(error),
    };
    interpret(&format!("{namespace}/{service}"), result)
}

/// Reads the proxied answer: 409 is the controller saying "does not decrypt"; any other failure means the
/// controller was not reached (no such Service, no endpoints, forbidden) or failed.
fn interpret(
    service: &str,
    result: Result<String, kube::Error>,
) -> Result<ControllerAnswer, ProxyError> {
    match result {
        Ok(body) => Ok(ControllerAnswer::Accepted(body)),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(
            ControllerAnswer::DoesNotDecrypt(status.message.trim().to_owned()),
        ),
        Err(kube::Error::Api(status)) => Err(ProxyError {
            service: service.to_owned(),
            message: format!("{} ({})", status.message.trim(), status.code),
        }),
        Err(error) => Err(ProxyError {
            service: service.to_owned(),
            message: error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    #[test]
    fn requests_go_to_the_named_port_of_the_service() {
        assert_eq!(
            proxy_path("kube-system", "kseal", "v1/verify"),
            "/api/v1/namespaces/kube-system/services/http:kseal:http/proxy/v1/verify"
        );
    }

    #[test]
    fn conflict_means_does_not_decrypt_and_other_failures_name_the_service() {
        let api = |code: u16, message: &str| {
            Err(kube::Error::Api(
                Status::failure(message, "Failed to parse error data")
                    .with_code(code)
                    .boxed(),
            ))
        };
        assert_eq!(
            interpret("ns/kseal", Ok("OK\n".into())).unwrap(),
            ControllerAnswer::Accepted("OK\n".into())
        );
        assert_eq!(
            interpret("ns/kseal", api(409, "ns/s: key k: no key opens it\n")).unwrap(),
            ControllerAnswer::DoesNotDecrypt("ns/s: key k: no key opens it".into())
        );
        let error = interpret("ns/kseal", api(404, "services \"kseal\" not found")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the controller's service ns/kseal did not answer through the API server's service proxy: services \"kseal\" not found (404)"
        );
    }
}
