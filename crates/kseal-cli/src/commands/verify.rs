//! `--validate` and `--re-encrypt`: each input SealedSecret posted to the controller's `/v1/verify` or
//! `/v1/rotate` through the API server's service proxy, as kubeseal does.

use anyhow::{Context as _, Result, bail};
use kseal_core::manifest::read_documents;

use super::Hinted;
use super::seal::parse_sealed_secret;
use crate::args::SealArgs;
use crate::io::{self, Format};
use crate::online::{self, ControllerAnswer};

/// Hint for a controller the service proxy does not reach.
const UNREACHABLE_HINT: &str = "check --controller-name and --controller-namespace (the controller's Service and its namespace); \
     without the service proxy, check offline with --recovery-unseal and the private key";

/// Which endpoint of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `/v1/verify`: does it decrypt?
    Validate,
    /// `/v1/rotate`: re-encrypt with the newest key.
    ReEncrypt,
}

impl Action {
    fn endpoint(self) -> &'static str {
        match self {
            Action::Validate => "v1/verify",
            Action::ReEncrypt => "v1/rotate",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Validate => "validate",
            Action::ReEncrypt => "re-encrypt",
        }
    }
}

/// Posts every input SealedSecret; with [`Action::ReEncrypt`], writes the re-encrypted objects.
pub fn run(args: &SealArgs, action: Action) -> Result<()> {
    let format = Format::choose(args.format.as_deref(), args.output.as_deref())?;
    let text = io::read_input(args.input.as_deref())?;
    let documents = read_documents(&text)?;
    if documents.is_empty() {
        bail!("no SealedSecret in the input");
    }
    let mut objects = Vec::new();
    for document in &documents {
        let sealed = parse_sealed_secret(document)?;
        let object = format!(
            "{}/{}",
            sealed.metadata.namespace.as_deref().unwrap_or_default(),
            sealed.metadata.name.as_deref().unwrap_or_default()
        );
        objects.push((object, serde_json::to_vec(&document.value)?));
    }
    let answers = online::block_on(post_all(args, action, objects))?;
    if action == Action::ReEncrypt {
        io::write_output(args.output.as_deref(), format.render(&answers)?.as_bytes())?;
    }
    Ok(())
}

/// Posts each `(namespace/name, body)`; returns the parsed answers.
async fn post_all(
    args: &SealArgs,
    action: Action,
    objects: Vec<(String, Vec<u8>)>,
) -> Result<Vec<serde_json::Value>> {
    let client = online::client(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .with_context(|| Hinted {
            message: format!("cannot reach the cluster to {} SealedSecrets", action.verb()),
            hint: "pass --kubeconfig (and --context) for the controller's cluster; to check a SealedSecret offline, use --recovery-unseal with the private key",
        })?;
    let mut answers = Vec::new();
    for (object, body) in objects {
        let answer = online::post_to_controller(
            &client,
            &args.controller_namespace,
            &args.controller_name,
            action.endpoint(),
            body,
        )
        .await
        .with_context(|| Hinted {
            message: format!("cannot {} SealedSecret {object}", action.verb()),
            hint: UNREACHABLE_HINT,
        })?;
        answers.push(read_answer(action, &object, answer)?);
    }
    Ok(answers)
}

/// The controller's answer for `object`: `Null` when it validates, the re-encrypted object for
/// re-encryption, an error when it does not decrypt.
fn read_answer(
    action: Action,
    object: &str,
    answer: ControllerAnswer,
) -> Result<serde_json::Value> {
    match answer {
        ControllerAnswer::DoesNotDecrypt(message) => Err(anyhow::Error::new(Hinted {
            message: format!(
                "SealedSecret {object} does not decrypt with the controller's keys: {message}"
            ),
            hint: "check that the SealedSecret keeps the name and namespace it was sealed for, and that it was sealed with this controller's certificate",
        })),
        ControllerAnswer::Accepted(_) if action == Action::Validate => Ok(serde_json::Value::Null),
        ControllerAnswer::Accepted(body) => serde_json::from_str(&body).with_context(|| {
            format!("the controller answered no SealedSecret when re-encrypting {object}")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_output_or_errors_naming_the_object() {
        let rotated = r#"{"kind":"SealedSecret","spec":{"encryptedData":{"k":"AgB"}}}"#;
        let value = read_answer(
            Action::ReEncrypt,
            "ns/s",
            ControllerAnswer::Accepted(rotated.into()),
        )
        .unwrap();
        assert_eq!(value["spec"]["encryptedData"]["k"], "AgB");
        assert!(
            read_answer(
                Action::Validate,
                "ns/s",
                ControllerAnswer::Accepted("OK\n".into())
            )
            .is_ok()
        );
        let error = read_answer(
            Action::Validate,
            "ns/s",
            ControllerAnswer::DoesNotDecrypt("key k: no key opens it".into()),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "SealedSecret ns/s does not decrypt with the controller's keys: key k: no key opens it"
        );
        assert!(error.downcast_ref::<Hinted>().is_some());
        let error = read_answer(
            Action::ReEncrypt,
            "ns/s",
            ControllerAnswer::Accepted("<html>".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("ns/s"), "{error}");
    }
}
