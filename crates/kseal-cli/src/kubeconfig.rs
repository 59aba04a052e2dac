//! The kubeconfig and kubectl's override flags: the namespace of the chosen context, for Secrets that
//! declare none, and the client configuration to reach the API server.

use anyhow::{Context as _, Result};
use kube::Config;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::args::ClusterArgs;

/// Namespace used when neither the input nor `-n` names one and no kubeconfig says otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The kubeconfig `--kubeconfig` names (it must be readable), else the one of `KUBECONFIG` or
/// `~/.kube/config` if there is one.
pub fn read(cluster: &ClusterArgs) -> Result<Option<Kubeconfig>> {
    match &cluster.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read kubeconfig {}", path.display()))
            .map(Some),
        None => Ok(Kubeconfig::read().ok()),
    }
}

/// The namespace of `--context` (or the current context) in the kubeconfig, else `default`.
pub fn default_namespace(cluster: &ClusterArgs) -> Result<String> {
    let Some(config) = read(cluster)? else {
        return Ok(DEFAULT_NAMESPACE.to_owned());
    };
    Ok(context_namespace(&config, cluster.context.as_deref())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()))
}

/// The namespace the kubeconfig's `context` (else its current context) sets, if any.
pub fn context_namespace(config: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let wanted = context
        .map(str::to_owned)
        .or(config.current_context.clone())?;
    config
        .contexts
        .iter()
        .find(|c| c.name == wanted)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|ns| !ns.is_empty())
}

/// The client configuration: the kubeconfig's chosen context, cluster and user, then every override flag
/// on top, as kubectl applies them. With `--server` no kubeconfig is needed.
pub async fn client_config(cluster: &ClusterArgs) -> Result<Config> {
    let options = KubeConfigOptions {
        context: cluster.context.clone(),
        cluster: cluster.cluster.clone(),
        user: cluster.user.clone(),
    };
    let kubeconfig = match read(cluster)? {
        Some(kubeconfig) => Some(kubeconfig),
        None if cluster.server.is_some() => None,
        None => Some(
            Kubeconfig::read()
                .context("cannot load the kubeconfig (KUBECONFIG or ~/.kube/config)")?,
        ),
    };
    let mut config = match kubeconfig {
        Some(kubeconfig) => match Config::from_custom_kubeconfig(kubeconfig, &options).await {
            Ok(config) => config,
            // A kubeconfig without a usable cluster still lends its user to a --server.
            Err(_) if cluster.server.is_some() => empty_config(cluster)?,
            Err(error) => {
                return Err(error).context(match &cluster.kubeconfig {
                    Some(path) => format!("cannot use kubeconfig {}", path.display()),
                    None => "cannot use the kubeconfig (KUBECONFIG or ~/.kube/config)".to_owned(),
                });
            }
        },
        None => empty_config(cluster)?,
    };
    apply_overrides(&mut config, cluster)?;
    Ok(config)
}

fn empty_config(cluster: &ClusterArgs) -> Result<Config> {
    let server = cluster.server.as_deref().unwrap_or_default();
    Ok(Config::new(parse_uri("--server", server)?))
}

fn parse_uri(flag: &str, value: &str) -> Result<http::Uri> {
    value
        .parse::<http::Uri>()
        .with_context(|| format!("{flag} {value:?} is not a URL"))
}

/// kubectl's override flags on top of the kubeconfig's values.
fn apply_overrides(config: &mut Config, cluster: &ClusterArgs) -> Result<()> {
    if let Some(server) = &cluster.server {
        config.cluster_url = parse_uri("--server", server)?;
    }
    if let Some(path) = &cluster.certificate_authority {
        let pem = fs_err::read(path)?;
        let certs = pem::parse_many(&pem)
            .with_context(|| format!("--certificate-authority {} is not PEM", path.display()))?;
        config.root_cert = Some(certs.into_iter().map(|c| c.into_contents()).collect());
        config.root_cert_file = None;
    }
    if cluster.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    if let Some(name) = &cluster.tls_server_name {
        config.tls_server_name = Some(name.clone());
    }
    if let Some(proxy) = &cluster.proxy_url {
        config.proxy_url = Some(parse_uri("--proxy-url", proxy)?);
    }
    if cluster.disable_compression {
        config.disable_compression = true;
    }
    if let Some(timeout) = cluster.request_timeout.filter(|t| !t.is_zero()) {
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
    }
    let auth = &mut config.auth_info;
    if let Some(token) = &cluster.token {
        auth.token = Some(token.clone().into());
        auth.token_file = None;
    }
    if let Some(username) = &cluster.username {
        auth.username = Some(username.clone());
    }
    if let Some(password) = &cluster.password {
        auth.password = Some(password.clone().into());
    }
    if let Some(path) = &cluster.client_certificate {
        auth.client_certificate = Some(path.display().to_string());
        auth.client_certificate_data = None;
    }
    if let Some(path) = &cluster.client_key {
        auth.client_key = Some(path.display().to_string());
        auth.client_key_data = None;
    }
    if let Some(user) = &cluster.impersonate {
        auth.impersonate = Some(user.clone());
    }
    if let Some(uid) = &cluster.impersonate_uid {
        auth.impersonate_uid = Some(uid.clone());
    }
    if !cluster.impersonate_groups.is_empty() {
        auth.impersonate_groups = Some(cluster.impersonate_groups.clone());
    }
    Ok(())
}
