//! `--validate` and `--re-encrypt`: each input SealedSecret posted to the controller's `/v1/verify` or
//! `/v1/rotate` through the API server's service proxy, as kubeseal does.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use kseal_core::manifest::read_documents;

use super::Hinted;
use super::seal::parse_sealed_secret;
use crate::args::SealArgs;
use crate::io::{self, Format};
use crate::online::{self, ControllerAnswer, ProxyError};

/// Hint for a controller the service proxy does not reach.
const UNREACHABLE_HINT: &str = "check --controller-name and --controller-namespace (the controller's Service and its namespace); \
     without the service proxy, check offline with --recovery-unseal and the private key";
/// Hint for a SealedSecret over the controller's limits.
const TOO_LARGE_HINT: &str = "the controller reads at most 1 MiB and 256 values per SealedSecret and opens it with \
     at most 512 RSA operations; check it offline with --recovery-unseal and the private key";
/// Hint for a body the controller did not read as a SealedSecret.
const NOT_A_SEALED_SECRET_HINT: &str =
    "the input must be SealedSecrets (bitnami.com/v1alpha1), as kseal writes them";
/// Hint after the controller kept refusing for load.
const BUSY_HINT: &str = "the controller answers 2 requests per second per client (everyone behind the API server's proxy counts as one) \
     and a few at once; retry later";
/// Further tries of a request the controller refused for load (429, or 503 busy); one second apart, the
/// controller's rate refills two requests per second.
const LOAD_RETRIES: u32 = 5;
/// Pause before each of [`LOAD_RETRIES`].
const LOAD_RETRY_PAUSE: Duration = Duration::from_secs(1);

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
    // As kubeseal: with -f and no -w, the re-encrypted objects replace the input file.
    let output = match action {
        Action::ReEncrypt => args.output.as_deref().or(args.input.as_deref()),
        Action::Validate => args.output.as_deref(),
    };
    let format = Format::choose(args.format.as_deref(), output)?;
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
        io::write_output(output, format.render(&answers)?.as_bytes())?;
    }
    Ok(())
}

/// Posts each `(namespace/name, body)`; returns the parsed answers.
async fn post_all(
    args: &SealArgs,
    action: Action,
    objects: Vec<(String, Vec<u8>)>,
) -> Result<Vec<serde_json::Value>> {
    let client = online::client(&args.cluster)
        .await
        .with_context(|| Hinted {
            message: format!("cannot reach the cluster to {} SealedSecrets", action.verb()),
            hint: "pass --kubeconfig (and --context) for the controller's cluster; to check a SealedSecret offline, use --recovery-unseal with the private key",
        })?;
    let mut answers = Vec::new();
    for (object, body) in objects {
        let mut retries = 0;
        let answer = loop {
            let answer = online::post_to_controller(
                &client,
                &args.controller_namespace,
                &args.controller_name,
                action.endpoint(),
                body.clone(),
            )
            .await;
            match answer {
                Err(error) if retries < LOAD_RETRIES && refused_for_load(&error) => {
                    retries += 1;
                    tokio::time::sleep(LOAD_RETRY_PAUSE).await;
                }
                answer => break answer,
            }
        };
        let answer = answer.map_err(|error| refusal(action, &object, error))?;
        answers.push(read_answer(action, &object, answer)?);
    }
    Ok(answers)
}

/// The HTTP status of a failed request and its message, from the API server or the controller: the
/// message of [`ProxyError`] ends with the status in parentheses.
fn status_of(error: &ProxyError) -> Option<(u16, &str)> {
    let (message, status) = error.message.rsplit_once(" (")?;
    Some((status.strip_suffix(')')?.parse().ok()?, message))
}

/// Whether the controller refused for load: rate limited (429) or busy (503 `busy: …`), not for want of
/// an endpoint.
fn refused_for_load(error: &ProxyError) -> bool {
    matches!(status_of(error), Some((429, _)))
        || matches!(status_of(error), Some((503, m)) if m.starts_with("busy"))
}

/// The error for a request that got no answer: what the controller's fixed answers mean, or, for
/// anything else, that the controller was not reached.
fn refusal(action: Action, object: &str, error: ProxyError) -> anyhow::Error {
    let verb = action.verb();
    let hinted = |message: String, hint| anyhow::Error::new(Hinted { message, hint });
    match status_of(&error) {
        Some((413, _)) => hinted(
            format!("cannot {verb} SealedSecret {object}: the controller refused it as too large"),
            TOO_LARGE_HINT,
        ),
        Some((400, _)) => hinted(
            format!(
                "cannot {verb} SealedSecret {object}: the controller did not read it as a SealedSecret"
            ),
            NOT_A_SEALED_SECRET_HINT,
        ),
        _ if refused_for_load(&error) => hinted(
            format!(
                "cannot {verb} SealedSecret {object}: the controller is rate limiting or busy (tried {} times)",
                LOAD_RETRIES + 1
            ),
            BUSY_HINT,
        ),
        _ => anyhow::Error::new(error).context(Hinted {
            message: format!("cannot {verb} SealedSecret {object}"),
            hint: UNREACHABLE_HINT,
        }),
    }
}

/// The controller's answer for `object`: `Null` when it validates, the re-encrypted object for
/// re-encryption, an error when it does not decrypt.
fn read_answer(
    action: Action,
    object: &str,
    answer: ControllerAnswer,
) -> Result<serde_json::Value> {
    match answer {
        // The controller says no more than that (its text is fixed; sealed-secrets sends none).
        ControllerAnswer::DoesNotDecrypt(_) => Err(anyhow::Error::new(Hinted {
            message: format!("SealedSecret {object} does not decrypt with the controller's keys"),
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
            ControllerAnswer::DoesNotDecrypt(
                "the SealedSecret cannot be decrypted with the controller's keys".into(),
            ),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "SealedSecret ns/s does not decrypt with the controller's keys"
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

    #[test]
    fn refusals_say_what_the_controller_meant() {
        let refused = |message: &str| ProxyError {
            service: "ns/kseal".into(),
            message: message.into(),
        };
        let text = |error: anyhow::Error| {
            let hint = error.downcast_ref::<Hinted>().map(|h| h.hint);
            (format!("{error:#}"), hint)
        };

        let (message, hint) = text(refusal(
            Action::Validate,
            "ns/s",
            refused("the body is larger than 1 MiB (413)"),
        ));
        assert_eq!(
            message,
            "cannot validate SealedSecret ns/s: the controller refused it as too large"
        );
        assert_eq!(hint, Some(TOO_LARGE_HINT));
        let (message, hint) = text(refusal(
            Action::ReEncrypt,
            "ns/s",
            refused("the body is not a SealedSecret (400)"),
        ));
        assert_eq!(
            message,
            "cannot re-encrypt SealedSecret ns/s: the controller did not read it as a SealedSecret"
        );
        assert_eq!(hint, Some(NOT_A_SEALED_SECRET_HINT));

        for load in [
            "rate limited (429)",
            "busy: too many requests at once, retry later (503)",
        ] {
            assert!(refused_for_load(&refused(load)), "{load}");
            let (message, hint) = text(refusal(Action::Validate, "ns/s", refused(load)));
            assert_eq!(
                message,
                "cannot validate SealedSecret ns/s: the controller is rate limiting or busy (tried 6 times)"
            );
            assert_eq!(hint, Some(BUSY_HINT));
        }

        // The API server's own refusals: the controller was not reached; not retried.
        for unreachable in [
            "no endpoints available for service \"kseal\" (503)",
            "services \"kseal\" not found (404)",
            "connection refused",
        ] {
            assert!(!refused_for_load(&refused(unreachable)), "{unreachable}");
            let (message, hint) = text(refusal(Action::Validate, "ns/s", refused(unreachable)));
            assert_eq!(
                message,
                format!(
                    "cannot validate SealedSecret ns/s: the controller's service ns/kseal did not answer through the API server's service proxy: {unreachable}"
                )
            );
            assert_eq!(hint, Some(UNREACHABLE_HINT));
        }
    }
}
