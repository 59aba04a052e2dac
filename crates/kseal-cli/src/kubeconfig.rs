//! The namespace of the kubeconfig context, for Secrets that declare none.

use std::path::Path;

use anyhow::{Context as _, Result};
use kube::config::Kubeconfig;

/// Namespace used when neither the input nor `-n` names one and no kubeconfig says otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace of `context` (or the current context) in the kubeconfig, else `default`.
///
/// An explicitly given kubeconfig must be readable; a missing implicit one just means `default`.
pub fn default_namespace(path: Option<&Path>, context: Option<&str>) -> Result<String> {
    let config = match path {
        Some(path) => Some(
            Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?,
        ),
        None => Kubeconfig::read().ok(),
    };
    let Some(config) = config else {
        return Ok(DEFAULT_NAMESPACE.to_owned());
    };
    let wanted = context
        .map(str::to_owned)
        .or(config.current_context.clone());
    let namespace = wanted.and_then(|name| {
        config
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.namespace.clone())
    });
    Ok(namespace
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()))
}
