//! Command-line arguments: kubeseal's flags, each also read from `SEALED_SECRETS_<FLAG>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kseal_crypto::Scope;

/// Seal Kubernetes Secrets into SealedSecrets that are safe to commit (kubeseal-compatible).
///
/// Reads a Secret (YAML or JSON, several documents allowed) from stdin or --secret-file and writes one
/// SealedSecret per Secret, encrypted with the controller's certificate.
#[derive(Debug, Parser)]
#[command(
    name = "kseal",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  kseal keygen\n  kseal keys --controller-namespace kube-system\n  kseal --cert kseal-cert.pem -o yaml < secret.yaml > sealed-secret.yaml\n  kseal --recovery-unseal --recovery-private-key kseal-key.pem < sealed-secret.yaml"
)]
pub struct Cli {
    /// Offline helpers.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Sealing flags (kubeseal's).
    #[command(flatten)]
    pub seal: SealArgs,
}

/// kubeseal's flags.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Certificate / public key to seal with: a file, file:// or http(s):// URL (default: fetched from the
    /// controller, through the service proxy or its kseal-cert ConfigMap).
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    pub cert: Option<String>,
    /// Name of the controller's Service.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub controller_name: String,
    /// Namespace of the controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
    /// Output format: json or yaml (default json; a .yaml/.yml --sealed-secret-file implies yaml).
    #[arg(
        short = 'o',
        long = "format",
        env = "SEALED_SECRETS_FORMAT",
        value_name = "FORMAT"
    )]
    pub format: Option<String>,
    /// Write the output to this file (atomically, only on success) instead of stdout.
    #[arg(
        short = 'w',
        long = "sealed-secret-file",
        env = "SEALED_SECRETS_SEALED_SECRET_FILE"
    )]
    pub output: Option<PathBuf>,
    /// Read the input from this file instead of stdin.
    #[arg(short = 'f', long = "secret-file", env = "SEALED_SECRETS_SECRET_FILE")]
    pub input: Option<PathBuf>,
    /// Print the certificate (from --cert, else from the controller) and exit.
    #[arg(long, env = "SEALED_SECRETS_FETCH_CERT")]
    pub fetch_cert: bool,
    /// Seal a Secret that has no data.
    #[arg(long, env = "SEALED_SECRETS_ALLOW_EMPTY_DATA")]
    pub allow_empty_data: bool,
    /// Check with the controller that a SealedSecret decrypts.
    #[arg(long, env = "SEALED_SECRETS_VALIDATE")]
    pub validate: bool,
    /// Re-encrypt a SealedSecret with the controller's newest key.
    #[arg(long, env = "SEALED_SECRETS_RE_ENCRYPT")]
    pub re_encrypt: bool,
    /// Seal the input and merge its keys into this existing SealedSecret file, in place.
    #[arg(long, env = "SEALED_SECRETS_MERGE_INTO", value_name = "FILE")]
    pub merge_into: Option<PathBuf>,
    /// Seal one value (stdin or --from-file) and print only its ciphertext.
    #[arg(long, env = "SEALED_SECRETS_RAW")]
    pub raw: bool,
    /// Name of the Secret (with --raw).
    #[arg(long, env = "SEALED_SECRETS_NAME")]
    pub name: Option<String>,
    /// Namespace of the Secret.
    #[arg(short = 'n', long, env = "SEALED_SECRETS_NAMESPACE")]
    pub namespace: Option<String>,
    /// With --raw: the value to seal, as [key=]path.
    #[arg(long, env = "SEALED_SECRETS_FROM_FILE", value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    /// Scope: strict (default), namespace-wide or cluster-wide.
    #[arg(long, env = "SEALED_SECRETS_SCOPE", value_parser = parse_scope)]
    pub scope: Option<Scope>,
    /// Decrypt SealedSecrets offline with private keys (disaster recovery).
    #[arg(long, env = "SEALED_SECRETS_RECOVERY_UNSEAL")]
    pub recovery_unseal: bool,
    /// Private keys for --recovery-unseal: PEM files or Secret/List manifests with tls.key.
    #[arg(
        long,
        env = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY",
        value_delimiter = ','
    )]
    pub recovery_private_key: Vec<PathBuf>,
    /// Path to the kubeconfig file.
    #[arg(long, env = "SEALED_SECRETS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, env = "SEALED_SECRETS_CONTEXT")]
    pub context: Option<String>,
    /// Print the version and exit.
    #[arg(long)]
    pub version: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a private key and self-signed certificate, to seal and recover without a cluster.
    Keygen(KeygenArgs),
    /// List the controller's keys: which one seals, and how many SealedSecrets each still decrypts.
    Keys(KeysArgs),
    /// Print a shell completion script.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `kseal keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#1 PEM, mode 0600).
    #[arg(long, default_value = "kseal-key.pem")]
    pub key_file: PathBuf,
    /// Where to write the certificate (PEM).
    #[arg(long, default_value = "kseal-cert.pem")]
    pub cert_file: PathBuf,
    /// RSA key size: 2048, 3072, 4096 or 8192.
    #[arg(long, default_value_t = 4096)]
    pub bits: usize,
    /// Certificate validity, e.g. 87600h (10 years) or 720h.
    #[arg(long, default_value = "87600h", value_parser = kseal_api::duration::parse)]
    pub validity: Duration,
    /// Subject common name of the certificate.
    #[arg(long, default_value = "sealed-secret")]
    pub common_name: String,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// `kseal keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Namespace of the controller (where its key Secrets are).
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
    /// Output format: json or yaml (default: a table).
    #[arg(short = 'o', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long, env = "SEALED_SECRETS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, env = "SEALED_SECRETS_CONTEXT")]
    pub context: Option<String>,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}
