//! `kseal keygen`: a key pair for sealing and recovery without a cluster.

use anyhow::{Result, bail};
use kseal_crypto::{KeyOptions, KeyPair};

use crate::args::KeygenArgs;
use crate::io;

/// Private keys are readable by their owner only.
const KEY_FILE_MODE: u32 = 0o600;

/// Generates the key and certificate and writes both files (atomically; existing files need --force).
pub fn run(args: &KeygenArgs) -> Result<()> {
    if args.validity.is_zero() {
        bail!("--validity must be longer than zero");
    }
    for path in [&args.key_file, &args.cert_file] {
        if path.exists() && !args.force {
            bail!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            );
        }
    }
    let pair = KeyPair::generate(&KeyOptions {
        bits: args.bits,
        validity: args.validity,
        common_name: args.common_name.clone(),
    })?;
    io::write_atomic(
        &args.key_file,
        pair.private_key_pem()?.as_bytes(),
        Some(KEY_FILE_MODE),
    )?;
    io::write_atomic(&args.cert_file, pair.certificate_pem().as_bytes(), None)?;
    eprintln!(
        "wrote private key {} and certificate {} (RSA {} bits, fingerprint {})",
        args.key_file.display(),
        args.cert_file.display(),
        args.bits,
        pair.private_key().fingerprint()
    );
    Ok(())
}
