//! Sealing: whole Secrets, raw values, and merging into an existing SealedSecret.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use kseal_api::SealedSecret;
use kseal_core::manifest::read_documents;
use kseal_core::seal::scope_of;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{Certificate, Scope, label, seal_base64};
use zeroize::Zeroizing;

use crate::args::SealArgs;
use crate::io::{self, Format};
use crate::kubeconfig;

/// Seals every Secret of the input; one SealedSecret out per Secret.
pub fn manifests(args: &SealArgs, certificate: &Certificate) -> Result<()> {
    let format = Format::choose(args.format.as_deref(), args.output.as_deref())?;
    let secrets = read_secrets(args.input.as_deref())?;
    let name = args.name.clone().filter(|name| !name.is_empty());
    let options = options(args, certificate, name, &secrets)?;
    let sealed = secrets
        .into_iter()
        .map(|secret| seal_secret(secret, &options))
        .collect::<Result<Vec<_>, _>>()?;
    io::write_output(args.output.as_deref(), format.render(&sealed)?.as_bytes())
}

/// `--raw`: seals one value and prints its base64 ciphertext without a newline.
pub fn raw(args: &SealArgs, certificate: &Certificate) -> Result<()> {
    let scope = args.scope.unwrap_or_default();
    let name = args.name.clone().unwrap_or_default();
    if scope == Scope::Strict && name.is_empty() {
        bail!("--raw with --scope strict requires --name");
    }
    let namespace = match (&args.namespace, scope) {
        (Some(ns), _) if !ns.is_empty() => ns.clone(),
        (_, Scope::ClusterWide) => String::new(),
        _ => kubeconfig::default_namespace(&args.cluster)?,
    };
    let value = match args.from_file.as_slice() {
        [] => Zeroizing::new(io::read_input(None)?.into_bytes()),
        [one] => Zeroizing::new(fs_err::read(from_file_path(one))?),
        _ => bail!("--raw seals one value: give --from-file once"),
    };
    let sealed = seal_base64(
        certificate.public_key(),
        &label(scope, &namespace, &name),
        &value,
    )?;
    io::write_output(args.output.as_deref(), sealed.as_bytes())
}

/// `--merge-into FILE`: seals the input Secret for the existing SealedSecret (its name, namespace and
/// scope) and merges the keys, labels, annotations and templates into the file in place.
pub fn merge_into(args: &SealArgs, certificate: &Certificate, target: &Path) -> Result<()> {
    let existing_text = fs_err::read_to_string(target)?;
    let mut existing = read_sealed_secret(&existing_text)
        .with_context(|| format!("cannot merge into {}", target.display()))?;
    let mut secrets = read_secrets(args.input.as_deref())?;
    if secrets.len() != 1 {
        bail!(
            "--merge-into takes exactly one input Secret, got {}",
            secrets.len()
        );
    }
    let mut secret = secrets.remove(0);
    let target_namespace = existing.metadata.namespace.clone().unwrap_or_default();
    if let Some(flag) = args.namespace.as_deref().filter(|ns| !ns.is_empty())
        && flag != target_namespace
        && scope_of(&existing.metadata) != Scope::ClusterWide
    {
        bail!(
            "--namespace {flag:?} contradicts the namespace {target_namespace:?} of {}",
            target.display()
        );
    }
    secret.metadata.namespace = existing.metadata.namespace.clone();
    let mut options = options(args, certificate, existing.metadata.name.clone(), &[])?;
    let target_scope = scope_of(&existing.metadata);
    if let Some(scope) = args.scope
        && scope != target_scope
    {
        bail!(
            "--scope {scope} contradicts the scope of {} ({target_scope}): the controller could not open the merged keys; \
             drop --scope, or seal a new SealedSecret",
            target.display()
        );
    }
    options.scope = Some(target_scope);
    options.namespace = None;
    let update = seal_secret(secret, &options)?;

    existing
        .spec
        .encrypted_data
        .extend(update.spec.encrypted_data);
    if let Some(new_template) = update.spec.template {
        let template = existing.spec.template.get_or_insert_default();
        let new_meta = new_template.metadata.unwrap_or_default();
        let meta = template.metadata.get_or_insert_default();
        if let Some(labels) = new_meta.labels {
            meta.labels.get_or_insert_default().extend(labels);
        }
        if let Some(annotations) = new_meta.annotations {
            meta.annotations.get_or_insert_default().extend(annotations);
        }
    }
    if let Some(hint) = update.metadata.annotations {
        existing
            .metadata
            .annotations
            .get_or_insert_default()
            .extend(
                hint.into_iter()
                    .filter(|(k, _)| k == kseal_api::annotations::KEY_HINT),
            );
    }
    let format = match args.format.as_deref() {
        Some(flag) => Format::choose(Some(flag), None)?,
        None => Format::detect(&existing_text),
    };
    io::write_atomic(target, format.render(&[existing])?.as_bytes(), None)
}

/// Sealing options; the kubeconfig is read only if a Secret without namespace needs its default.
fn options<'a>(
    args: &SealArgs,
    certificate: &'a Certificate,
    name: Option<String>,
    secrets: &[PlainSecret],
) -> Result<SealOptions<'a>> {
    let needs_default = args.namespace.as_deref().is_none_or(str::is_empty)
        && secrets
            .iter()
            .any(|s| s.metadata.namespace.as_deref().is_none_or(str::is_empty));
    let default_namespace = if needs_default {
        kubeconfig::default_namespace(&args.cluster)?
    } else {
        kubeconfig::DEFAULT_NAMESPACE.to_owned()
    };
    Ok(SealOptions {
        key: certificate.public_key(),
        scope: args.scope,
        allow_empty_data: args.allow_empty_data,
        default_namespace,
        namespace: args.namespace.clone(),
        name,
    })
}

fn read_secrets(input: Option<&Path>) -> Result<Vec<PlainSecret>> {
    let text = Zeroizing::new(io::read_input(input)?);
    let documents = read_documents(&text)?;
    if documents.is_empty() {
        bail!("no Secret in the input");
    }
    Ok(documents
        .iter()
        .map(PlainSecret::from_document)
        .collect::<Result<_, _>>()?)
}

/// Reads exactly one SealedSecret document.
pub fn read_sealed_secret(text: &str) -> Result<SealedSecret> {
    let documents = read_documents(text)?;
    let [document] = documents.as_slice() else {
        bail!(
            "expected one SealedSecret, found {} documents",
            documents.len()
        );
    };
    parse_sealed_secret(document)
}

/// A document as a SealedSecret, refusing other kinds.
pub fn parse_sealed_secret(document: &kseal_core::Document) -> Result<SealedSecret> {
    if document.kind() != "SealedSecret" {
        bail!(
            "{}: expected kind SealedSecret, found {:?}",
            document.describe(),
            document.kind()
        );
    }
    serde_json::from_value(document.value.clone())
        .with_context(|| format!("{} is not a valid SealedSecret", document.describe()))
}

/// `[key=]path` → path.
fn from_file_path(spec: &str) -> PathBuf {
    PathBuf::from(spec.split_once('=').map_or(spec, |(_, path)| path))
}
