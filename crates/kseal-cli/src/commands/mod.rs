//! The commands: seal (default), raw, merge-into, fetch-cert, validate, re-encrypt, recovery-unseal,
//! keygen, keys, completion.

mod keygen;
mod keys;
mod recover;
mod seal;
mod verify;

use std::fmt;
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use clap::CommandFactory as _;
use kseal_crypto::Certificate;

use crate::args::{Cli, Command, SealArgs};
use crate::{cert, io, online};

/// Runs what the arguments ask for.
pub fn run(cli: Cli) -> Result<()> {
    let args = cli.seal;
    if args.version {
        println!("kseal version: {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    match cli.command {
        Some(Command::Keygen(keygen)) => return keygen::run(&keygen),
        Some(Command::Keys(keys)) => return keys::run(&keys),
        Some(Command::Completion { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "kseal", &mut std::io::stdout());
            return Ok(());
        }
        None => {}
    }
    check_combinations(&args)?;
    if args.recovery_unseal {
        return recover::run(&args);
    }
    if args.validate {
        return verify::run(&args, verify::Action::Validate);
    }
    if args.re_encrypt {
        return verify::run(&args, verify::Action::ReEncrypt);
    }
    let pem = sealing_pem(&args)?;
    if args.fetch_cert {
        // Byte for byte, as it was read or served; a certificate kseal cannot seal with is only reported.
        if let Err(error) = Certificate::from_pem(&pem) {
            eprintln!("warning: the certificate is not one kseal can seal with: {error}");
        }
        return io::write_output(args.output.as_deref(), &pem);
    }
    let certificate = Certificate::from_pem(&pem).with_context(|| match &args.cert {
        Some(location) => format!("cannot use the certificate {location}"),
        None => "cannot use the controller's certificate".to_owned(),
    })?;
    check_validity(&certificate)?;
    if args.raw {
        seal::raw(&args, &certificate)
    } else if let Some(target) = &args.merge_into {
        seal::merge_into(&args, &certificate, target)
    } else {
        seal::manifests(&args, &certificate)
    }
}

fn check_combinations(args: &SealArgs) -> Result<()> {
    if !args.from_file.is_empty() && !args.raw {
        bail!("--from-file requires --raw");
    }
    if args.raw && args.merge_into.is_some() {
        bail!("--raw and --merge-into cannot be used together");
    }
    if args.validate && args.re_encrypt {
        bail!("--validate and --re-encrypt cannot be used together");
    }
    if (args.validate || args.re_encrypt) && (args.raw || args.merge_into.is_some()) {
        bail!(
            "--validate and --re-encrypt read SealedSecrets: they cannot be used with --raw or --merge-into"
        );
    }
    if args.recovery_unseal && args.recovery_private_key.is_empty() {
        bail!("--recovery-unseal requires --recovery-private-key");
    }
    if !args.recovery_unseal && !args.recovery_private_key.is_empty() {
        bail!("--recovery-private-key requires --recovery-unseal");
    }
    io::Format::choose(args.format.as_deref(), args.output.as_deref())?;
    Ok(())
}

fn sealing_pem(args: &SealArgs) -> Result<Vec<u8>> {
    match &args.cert {
        Some(location) => cert::read_pem(location),
        None => online::fetch_certificate(args),
    }
}

/// An expired certificate is refused, as kubeseal does; one not valid yet (the clock of this machine or
/// of the controller is off) seals with a warning, since the controller holds its key already.
fn check_validity(certificate: &Certificate) -> Result<()> {
    match certificate.check_validity(SystemTime::now()) {
        Err(error @ kseal_crypto::Error::CertificateNotYetValid(_)) => {
            eprintln!("warning: {error}: check the clocks of this machine and of the controller");
            Ok(())
        }
        result => Ok(result?),
    }
}

/// An error message that carries its own `hint:` line; used as the outermost context of an error.
#[derive(Debug)]
pub struct Hinted {
    /// The `error:` line.
    pub message: String,
    /// The `hint:` line.
    pub hint: &'static str,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// A `hint:` line for errors a user can fix with a flag.
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    if let Some(hinted) = error.downcast_ref::<Hinted>() {
        return Some(hinted.hint);
    }
    if online::is_fetch_error(error) {
        return Some(
            "pass --cert FILE|URL (the controller's certificate saved with --fetch-cert, or one made by `kseal keygen`)",
        );
    }
    let core = error.downcast_ref::<kseal_core::Error>();
    let crypto = error
        .chain()
        .find_map(|e| e.downcast_ref::<kseal_crypto::Error>());
    match (core, crypto) {
        (Some(kseal_core::Error::EmptyData { .. }), _) => {
            Some("to seal a Secret without values, add --allow-empty-data")
        }
        (Some(kseal_core::Error::MissingName), _) => {
            Some("set metadata.name in the Secret, or use --raw with --name")
        }
        (_, Some(kseal_crypto::Error::ExpiredCertificate(_))) => {
            Some("fetch the controller's current certificate with --fetch-cert")
        }
        (Some(kseal_core::Error::Keys { failures, .. }), _)
            if failures
                .iter()
                .any(|(_, e)| matches!(e, kseal_crypto::Error::NoMatchingKey)) =>
        {
            Some(
                "check that the SealedSecret keeps the name and namespace it was sealed for, and that the key is the controller's",
            )
        }
        (_, Some(kseal_crypto::Error::NoMatchingKey)) => Some(
            "check that the SealedSecret keeps the name and namespace it was sealed for, and that the key is the controller's",
        ),
        _ => None,
    }
}
