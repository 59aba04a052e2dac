//! Command-line arguments: kubeseal's flags, each also read from `SEALED_SECRETS_<FLAG>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use kseal_crypto::Scope;

/// Seal Kubernetes Secrets into SealedSecrets that are safe to commit (kubeseal-compatible).
///
/// Reads a Secret (YAML or JSON, several documents allowed) from stdin or --secret-file and writes one
/// SealedSecret per Secret, encrypted with the controller's certificate.
#[derive(Debug, Parser)]
#[command(
    name = "kseal",
    disable_version_flag = true,
    args_override_self = true,
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
    #[arg(long, value_name = "FILE|URL")]
    pub cert: Option<String>,
    /// Name of the controller's Service.
    #[arg(long, default_value = "sealed-secrets-controller")]
    pub controller_name: String,
    /// Namespace of the controller.
    #[arg(long, default_value = "kube-system")]
    pub controller_namespace: String,
    /// Output format: json or yaml (default json; a .yaml/.yml --sealed-secret-file implies yaml).
    #[arg(short = 'o', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Write the output to this file (atomically, only on success) instead of stdout.
    #[arg(short = 'w', long = "sealed-secret-file")]
    pub output: Option<PathBuf>,
    /// Read the input from this file instead of stdin.
    #[arg(short = 'f', long = "secret-file")]
    pub input: Option<PathBuf>,
    /// Print the certificate (from --cert, else from the controller) and exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub fetch_cert: bool,
    /// Seal a Secret that has no data.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub allow_empty_data: bool,
    /// Check with the controller that a SealedSecret decrypts.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub validate: bool,
    /// Re-encrypt a SealedSecret with the controller's newest key.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set, alias = "rotate")]
    pub re_encrypt: bool,
    /// Seal the input and merge its keys into this existing SealedSecret file, in place.
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<PathBuf>,
    /// Seal one value (stdin or --from-file) and print only its ciphertext.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub raw: bool,
    /// Name of the Secret (with --raw).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of the Secret.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// With --raw: the value to seal, as [key=]path.
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    /// Scope: strict (default), namespace-wide or cluster-wide.
    #[arg(long, value_parser = parse_scope)]
    pub scope: Option<Scope>,
    /// Decrypt SealedSecrets offline with private keys (disaster recovery).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub recovery_unseal: bool,
    /// Private keys for --recovery-unseal: PEM files or Secret/List manifests with tls.key.
    #[arg(long, value_delimiter = ',')]
    pub recovery_private_key: Vec<PathBuf>,
    /// How to reach the cluster (kubectl's flags).
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Log verbosity (accepted for kubeseal compatibility; kseal logs nothing more).
    #[arg(short = 'v', long = "v", value_name = "LEVEL", value_parser = clap::value_parser!(i32), hide = true)]
    pub verbosity: Option<i32>,
    /// Print the version and exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub version: bool,
}

/// Subcommands.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a private key and self-signed certificate, to seal and recover without a cluster.
    Keygen(KeygenArgs),
    /// List the controller's keys: which one seals, and how many SealedSecrets each still decrypts.
    #[command(args_override_self = true)]
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
    #[arg(long, default_value = "kube-system")]
    pub controller_namespace: String,
    /// Output format: json or yaml (default: a table).
    #[arg(short = 'o', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// How to reach the API server.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// How to reach the API server: the kubeconfig and kubectl's override flags, as kubeseal has them.
#[derive(Debug, Default, Clone, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Kubeconfig cluster to use.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Kubeconfig user to use.
    #[arg(long)]
    pub user: Option<String>,
    /// Address and port of the API server.
    #[arg(long)]
    pub server: Option<String>,
    /// Bearer token for the API server.
    #[arg(long)]
    pub token: Option<String>,
    /// User name to impersonate.
    #[arg(long = "as", value_name = "USER")]
    pub impersonate: Option<String>,
    /// Group to impersonate (repeatable).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub impersonate_groups: Vec<String>,
    /// UID to impersonate.
    #[arg(long = "as-uid", value_name = "UID")]
    pub impersonate_uid: Option<String>,
    /// Certificate authority file for the API server.
    #[arg(long, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Client certificate file for TLS.
    #[arg(long, value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,
    /// Client key file for TLS.
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Do not check the API server's certificate (insecure).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub insecure_skip_tls_verify: bool,
    /// Server name to check the API server's certificate against.
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Time limit of one request to the API server: 0 (none), seconds, or a duration like 30s or 1m.
    #[arg(long, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<Duration>,
    /// Proxy URL to reach the API server through.
    #[arg(long, value_name = "URL")]
    pub proxy_url: Option<String>,
    /// User name for basic authentication.
    #[arg(long)]
    pub username: Option<String>,
    /// Password for basic authentication.
    #[arg(long)]
    pub password: Option<String>,
    /// Ask the API server for uncompressed answers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", hide_default_value = true, value_name = "BOOL", value_parser = go_bool, action = ArgAction::Set)]
    pub disable_compression: bool,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}

/// A boolean as Go's `strconv.ParseBool` reads it (kubeseal's flags and `SEALED_SECRETS_*` variables).
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("expected a boolean: true, false, 1, 0, t, f, TRUE, FALSE, True or False".into()),
    }
}

/// `--request-timeout`: a number of seconds, or a duration; `0` means no limit.
fn parse_request_timeout(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("invalid timeout {s:?}"));
    }
    kseal_api::duration::parse(s)
}
