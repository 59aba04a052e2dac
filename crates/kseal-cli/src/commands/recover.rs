//! `--recovery-unseal`: decrypt SealedSecrets offline with the controller's private keys.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use kseal_core::manifest::read_documents;
use kseal_core::unseal;
use kseal_crypto::PrivateKey;
use serde_json::Value;
use zeroize::Zeroizing;

use super::seal::parse_sealed_secret;
use crate::args::SealArgs;
use crate::io::{self, Format};

/// Prints the Secret each input SealedSecret unseals into, `template.data` rendered as the controller does.
pub fn run(args: &SealArgs) -> Result<()> {
    let format = Format::choose(args.format.as_deref(), args.output.as_deref())?;
    let mut keys = Vec::new();
    for path in &args.recovery_private_key {
        keys.extend(read_keys(path)?);
    }
    let key_refs: Vec<&PrivateKey> = keys.iter().collect();
    let text = io::read_input(args.input.as_deref())?;
    let documents = read_documents(&text)?;
    let mut secrets = Vec::new();
    for document in &documents {
        let sealed = parse_sealed_secret(document)?;
        secrets.push(unseal(&sealed, &key_refs)?.to_secret());
    }
    let rendered = Zeroizing::new(format.render(&secrets)?);
    io::write_output(args.output.as_deref(), rendered.as_bytes())
}

/// Private keys from a PEM file, or from Secret / List manifests holding `tls.key` (as
/// `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` prints them).
fn read_keys(path: &Path) -> Result<Vec<PrivateKey>> {
    let text = Zeroizing::new(fs_err::read_to_string(path)?);
    let context = || format!("cannot read private keys from {}", path.display());
    if text.contains("-----BEGIN") && !looks_like_manifest(&text) {
        return PrivateKey::all_from_pem(text.as_bytes()).with_context(context);
    }
    let documents = read_documents(&text).with_context(context)?;
    let mut keys = Vec::new();
    for document in &documents {
        let encoded = document
            .value
            .pointer("/data/tls.key")
            .and_then(Value::as_str)
            .with_context(|| {
                format!(
                    "{}: {} has no data.tls.key",
                    path.display(),
                    document.describe()
                )
            })?;
        let pem = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .with_context(|| {
                    format!(
                        "{}: {}: data.tls.key is not valid base64",
                        path.display(),
                        document.describe()
                    )
                })?,
        );
        keys.extend(
            PrivateKey::all_from_pem(&pem)
                .with_context(|| format!("{}: {}: tls.key", path.display(), document.describe()))?,
        );
    }
    if keys.is_empty() {
        bail!("{}: no private key found", path.display());
    }
    Ok(keys)
}

fn looks_like_manifest(text: &str) -> bool {
    text.contains("kind:") || text.trim_start().starts_with('{')
}
