//! Command-line flags. Each also reads a `KSEAL_*` environment variable, and, for a drop-in
//! replacement of the sealed-secrets controller, its flags are accepted under their names with its
//! `SEALED_SECRETS_<FLAG>` variables ([`with_env_args`]); booleans read as Go reads them.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kseal_crypto::KeyOptions;
use kseal_sealedsecrets::keys::KeyMetadata;

/// Namespace holding the keys when neither `--namespace` nor `POD_NAMESPACE` is set.
pub const DEFAULT_NAMESPACE: &str = "kube-system";

/// `kseal-controller`: holds the sealing keys and unseals SealedSecrets into Secrets.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "kseal-controller", version, about)]
pub struct Args {
    /// Kubeconfig file; without it, `KUBECONFIG`, `~/.kube/config` or the in-cluster service account.
    #[arg(long, env = "KSEAL_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the key Secrets (the controller's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Watch SealedSecrets in this namespace only (default: all namespaces).
    #[arg(long, env = "KSEAL_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Address of the HTTP API (`/v1/cert.pem`, `/healthz`, `/readyz`, `/metrics`): `host:port`, or
    /// `:port` for every interface as sealed-secrets writes it.
    #[arg(long, env = "KSEAL_LISTEN_ADDR", default_value = crate::http::DEFAULT_LISTEN_ADDR, value_parser = parse_listen_addr)]
    pub listen_addr: std::net::SocketAddr,

    /// Address that serves `/metrics` alone, as sealed-secrets (`:8081`); `""` serves none (the HTTP API
    /// serves `/metrics` too).
    #[arg(long, env = "KSEAL_LISTEN_METRICS_ADDR", default_value = ":8081", value_parser = parse_optional_listen_addr)]
    pub listen_metrics_addr: OptionalAddr,

    /// Watch every namespace (default), or only the controller's own (`false`), as sealed-secrets.
    #[arg(long, env = "KSEAL_ALL_NAMESPACES", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub all_namespaces: bool,

    /// Comma-separated namespaces to watch besides the controller's own (or `--watch-namespace`); when
    /// given, only those and the controller's own are watched, as sealed-secrets does.
    #[arg(long, env = "KSEAL_ADDITIONAL_NAMESPACES", default_value = "")]
    pub additional_namespaces: String,

    /// Unseal only SealedSecrets matching this label selector (e.g. `team=payments,tier!=test`).
    #[arg(long, env = "KSEAL_LABEL_SELECTOR", default_value = "")]
    pub label_selector: String,

    /// Write the `Synced` status condition of each SealedSecret (`false`: leave the status alone).
    #[arg(long, env = "KSEAL_UPDATE_STATUS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub update_status: bool,

    /// Retry a failed SealedSecret this many times, then wait for it or the keys to change (or the hourly
    /// resync). Default: retry for ever, with a backoff of up to 5 minutes (sealed-secrets gives up after
    /// 5 retries).
    #[arg(long, env = "KSEAL_MAX_UNSEAL_RETRIES")]
    pub max_unseal_retries: Option<u32>,

    /// Unseal SealedSecrets in the deprecated `spec.data` format (`false` refuses them).
    #[arg(long, env = "KSEAL_ACCEPT_DEPRECATED_V1_DATA", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub accept_deprecated_v1_data: bool,

    /// Requests per second one client address may send to `/v1/verify` and `/v1/rotate` together.
    #[arg(long, env = "KSEAL_RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,

    /// Requests one client address may send at once before `--rate-limit` applies.
    #[arg(long, env = "KSEAL_RATE_LIMIT_BURST", default_value_t = 2)]
    pub rate_limit_burst: u32,

    /// Common name (subject and issuer) of the certificates of generated keys.
    #[arg(long, env = "KSEAL_MY_CN", default_value = kseal_crypto::DEFAULT_COMMON_NAME)]
    pub my_cn: String,

    /// Log level: `debug`, `info`, `warn` or `error` (any case, as sealed-secrets' `INFO`/`ERROR`);
    /// `RUST_LOG`, when set, filters instead.
    #[arg(long, env = "KSEAL_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: tracing::Level,

    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long, env = "KSEAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Write info and debug lines to stdout and warnings and errors to stderr, as sealed-secrets;
    /// `false` writes everything to stderr.
    #[arg(long, env = "KSEAL_LOG_INFO_STDOUT", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub log_info_stdout: bool,

    /// sealed-secrets' client-side API rate limit. kseal's client has none (the API server's own
    /// priority and fairness applies); the value is accepted for existing chart values and not applied.
    #[arg(long, env = "KSEAL_KUBECLIENT_QPS", default_value_t = 5.0)]
    pub kubeclient_qps: f32,

    /// sealed-secrets' client-side API burst; accepted and not applied, as `--kubeclient-qps`.
    #[arg(long, env = "KSEAL_KUBECLIENT_BURST", default_value_t = 10)]
    pub kubeclient_burst: u32,

    /// Prefix of the key Secrets' names, as sealed-secrets: new keys are named this plus a suffix the API
    /// server picks, and a Secret named exactly this is adopted as a key without the key label. Keys are
    /// found by their label whatever their names.
    #[arg(long, env = "KSEAL_KEY_PREFIX", default_value = kseal_api::names::KEY_SECRET_PREFIX)]
    pub key_prefix: String,

    /// Extra labels (`k=v,k2=v2`) on generated key Secrets, as sealed-secrets (its key label stays).
    #[arg(long, env = "KSEAL_PRIVATEKEY_LABELS", default_value = "")]
    pub privatekey_labels: String,

    /// Extra annotations (`k=v,k2=v2`) on generated key Secrets, as sealed-secrets.
    #[arg(long, env = "KSEAL_PRIVATEKEY_ANNOTATIONS", default_value = "")]
    pub privatekey_annotations: String,

    /// Which key seals, and when the next renewal is due: the one whose certificate starts last
    /// (`CertNotBefore`, the default) or whose Secret was created last (`SecretCreationTimestamp`).
    #[arg(
        long,
        env = "KSEAL_KEY_ORDER_PRIORITY",
        default_value = "CertNotBefore"
    )]
    pub key_order_priority: kseal_sealedsecrets::keys::KeyOrder,

    /// sealed-secrets' switch to delete Secrets itself instead of through their ownerReference; kseal
    /// leaves that to Kubernetes' garbage collector, so `true` is refused at start.
    #[arg(long, env = "KSEAL_OLD_GC_BEHAVIOR", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub old_gc_behavior: bool,

    /// sealed-secrets' switch not to watch the Secrets it wrote; kseal always watches them (a deleted or
    /// edited Secret is written again), so `true` is refused at start.
    #[arg(long, env = "KSEAL_SKIP_RECREATE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub skip_recreate: bool,

    /// sealed-secrets' switch to watch the key Secrets; kseal always does, so both values are accepted.
    #[arg(long, env = "KSEAL_WATCH_FOR_SECRETS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub watch_for_secrets: bool,

    /// Longest time a client may take to send a request's body to the HTTP API (e.g. `2m`), as
    /// sealed-secrets; headers must arrive within 10 s, or this if shorter.
    #[arg(long, env = "KSEAL_READ_TIMEOUT", default_value = "2m", value_parser = parse_timeout)]
    pub read_timeout: Duration,

    /// Longest time the HTTP API takes to answer a request once its headers are read (e.g. `2m`), as
    /// sealed-secrets; 503 after that.
    #[arg(long, env = "KSEAL_WRITE_TIMEOUT", default_value = "2m", value_parser = parse_timeout)]
    pub write_timeout: Duration,

    /// Generate a new sealing key this long after the newest one (e.g. `720h`, `30m`); `0` disables.
    /// `--rotate-period`, sealed-secrets' old name, is accepted too.
    #[arg(long, alias = "rotate-period", env = "KSEAL_KEY_RENEW_PERIOD", default_value = "720h", value_parser = kseal_api::duration::parse)]
    pub key_renew_period: Duration,

    /// RSA modulus size of generated keys.
    #[arg(long, env = "KSEAL_KEY_SIZE", default_value_t = kseal_crypto::KeyOptions::default().bits)]
    pub key_size: usize,

    /// Validity of the certificates of generated keys (e.g. `87600h`, ten years).
    #[arg(long, env = "KSEAL_KEY_TTL", default_value = "87600h", value_parser = parse_key_ttl)]
    pub key_ttl: Duration,

    /// Generate a new key at start when the newest one is older than this time: RFC 3339
    /// (`2026-01-02T15:04:05Z`) or, as sealed-secrets, RFC 1123 with a numeric zone
    /// (`Fri, 02 Jan 2026 15:04:05 +0000`).
    #[arg(long, env = "KSEAL_KEY_CUTOFF_TIME", value_parser = parse_cutoff_time)]
    pub key_cutoff_time: Option<SystemTime>,

    /// Elect a leader among replicas through a Lease; only the leader unseals and writes keys.
    #[arg(long, env = "KSEAL_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set, value_parser = parse_go_bool)]
    pub leader_elect: bool,

    /// Name of the Lease used for leader election, in the controller namespace.
    #[arg(long, env = "KSEAL_LEASE_NAME", default_value = kseal_runtime::lease::DEFAULT_LEASE_NAME)]
    pub lease_name: String,

    /// Run the external secret sync: ExternalSecrets, SecretStores and ClusterSecretStores
    /// (`external-secrets.io` v1 and v1beta1) from AWS Secrets Manager.
    #[arg(long, env = "KSEAL_SYNC", default_value_t = true, action = clap::ArgAction::Set, value_parser = parse_go_bool)]
    pub sync: bool,

    /// Serve only stores whose `spec.controller` is this class; stores without a class are always served.
    #[arg(long, env = "KSEAL_SYNC_CONTROLLER_CLASS")]
    pub sync_controller_class: Option<String>,

    /// Let namespaced SecretStores without `spec.provider.aws.auth` read with the controller's own AWS
    /// credentials (the SDK default chain). Off by default: whoever may create a SecretStore would read
    /// whatever the controller's IAM role can. ClusterSecretStores without `auth` are always allowed.
    #[arg(
        long,
        env = "KSEAL_SYNC_ALLOW_NAMESPACED_DEFAULT_CREDENTIALS",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = parse_go_bool
    )]
    pub sync_allow_namespaced_default_credentials: bool,

    /// Leave out `sealed_secrets_controller_condition_info`, which names every SealedSecret (as
    /// sealed-secrets' flag of the same name): for a `/metrics` that users who must not list SealedSecrets
    /// can reach.
    #[arg(long, env = "KSEAL_METRICS_OMIT_SECRET_LABELS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = parse_go_bool)]
    pub metrics_omit_secret_labels: bool,
}

impl Args {
    /// The controller settings these flags select.
    pub fn config(&self) -> crate::Config {
        crate::Config {
            key_namespace: self.namespace.clone(),
            watch_namespace: self
                .watch_namespace
                .clone()
                .or_else(|| (!self.all_namespaces).then(|| self.namespace.clone())),
            key_options: KeyOptions {
                bits: self.key_size,
                validity: self.key_ttl,
                common_name: self.my_cn.clone(),
            },
            // `check` refuses lists that do not parse.
            key_metadata: kseal_sealedsecrets::keys::KeyMetadata {
                prefix: self.key_prefix.clone(),
                order: self.key_order_priority,
                labels: KeyMetadata::parse_list(&self.privatekey_labels).unwrap_or_default(),
                annotations: KeyMetadata::parse_list(&self.privatekey_annotations)
                    .unwrap_or_default(),
            },
            key_cutoff_time: self.key_cutoff_time,
            http_addr: Some(self.listen_addr),
            metrics_addr: self.listen_metrics_addr.0,
            http_limits: crate::http::Limits {
                header_read_timeout: crate::http::HEADER_READ_TIMEOUT.min(self.read_timeout),
                read_timeout: self.read_timeout,
                write_timeout: self.write_timeout,
                rate_per_second: self.rate_limit,
                burst: self.rate_limit_burst,
            },
            unseal: kseal_sealedsecrets::unseal::Options {
                label_selector: Some(self.label_selector.clone()).filter(|s| !s.is_empty()),
                update_status: self.update_status,
                max_retries: self.max_unseal_retries,
                accept_v1_data: self.accept_deprecated_v1_data,
                additional_namespaces: self
                    .additional_namespaces
                    .split(',')
                    .map(str::trim)
                    .filter(|ns| !ns.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            key_renew_period: (!self.key_renew_period.is_zero()).then_some(self.key_renew_period),
            leader_election: self
                .leader_elect
                .then(|| kseal_runtime::lease::LeaseConfig::new(&self.lease_name)),
            sync: self.sync.then(|| kseal_externalsecrets::Config {
                watch_namespace: self.watch_namespace.clone(),
                controller_class: self.sync_controller_class.clone(),
                aws_endpoint_url: None,
                allow_namespaced_default_credentials: self
                    .sync_allow_namespaced_default_credentials,
                // Set from the key namespace where the sync starts (`crate::run`).
                sealing_keys: kseal_externalsecrets::protect::KeyLocation::default(),
            }),
            metrics_omit_secret_labels: self.metrics_omit_secret_labels,
        }
    }
}

impl Args {
    /// Parses the process arguments, after the `SEALED_SECRETS_<FLAG>` environment variables
    /// sealed-secrets reads (see [`with_env_args`]).
    pub fn parse_with_env() -> Self {
        <Args as clap::Parser>::parse_from(with_env_args(std::env::args_os(), std::env::vars_os()))
    }

    /// The values sealed-secrets does not support in kseal, each named with its flag; `Ok` when none.
    pub fn check(&self) -> Result<(), String> {
        let mut refused = Vec::new();
        if self.old_gc_behavior {
            refused
                .push("--old-gc-behavior=true (Kubernetes' garbage collector deletes the Secrets)");
        }
        if self.skip_recreate {
            refused.push("--skip-recreate=true (kseal always watches the Secrets it wrote)");
        }
        let mut invalid = Vec::new();
        if let Err(error) = KeyMetadata::check_prefix(&self.key_prefix) {
            invalid.push(format!("--key-prefix {error}"));
        }
        for (flag, list) in [
            ("--privatekey-labels", &self.privatekey_labels),
            ("--privatekey-annotations", &self.privatekey_annotations),
        ] {
            if let Err(error) = KeyMetadata::parse_list(list) {
                invalid.push(format!("{flag}: {error}"));
            }
        }
        if !invalid.is_empty() {
            return Err(format!("invalid flag values: {}", invalid.join("; ")));
        }
        match refused.as_slice() {
            [] => Ok(()),
            _ => Err(format!("unsupported flag values: {}", refused.join("; "))),
        }
    }
}

/// Prefix of the environment variables sealed-secrets reads a flag from: `SEALED_SECRETS_KEY_PREFIX`
/// for `--key-prefix`.
pub const SEALED_SECRETS_ENV_PREFIX: &str = "SEALED_SECRETS";

/// `args` with `--flag=value` inserted after the program name for each `SEALED_SECRETS_<FLAG>` of `vars`
/// that names a flag, is not empty, and is not given on the command line: the command line wins over
/// these, and these over the `KSEAL_*` variables (clap reads those only for flags still unset).
pub fn with_env_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let vars: std::collections::BTreeMap<_, _> = vars.into_iter().collect();
    let given = |long: &str| {
        args.iter().skip(1).any(|arg| {
            arg.to_str().is_some_and(|arg| {
                arg.strip_prefix("--")
                    .is_some_and(|rest| rest == long || rest.starts_with(&format!("{long}=")))
            })
        })
    };
    let command = <Args as clap::CommandFactory>::command();
    let mut from_env = Vec::new();
    for arg in command.get_arguments() {
        let names = arg
            .get_long()
            .into_iter()
            .chain(arg.get_all_aliases().into_iter().flatten());
        let names: Vec<&str> = names.collect();
        if names.iter().any(|name| given(name)) {
            continue;
        }
        for name in names {
            let var = format!(
                "{SEALED_SECRETS_ENV_PREFIX}_{}",
                name.to_ascii_uppercase().replace('-', "_")
            );
            if let Some(value) = vars
                .get(std::ffi::OsStr::new(&var))
                .filter(|v| !v.is_empty())
            {
                let mut flag = std::ffi::OsString::from(format!("--{name}="));
                flag.push(value);
                from_env.push(flag);
                break;
            }
        }
    }
    let at = args.len().min(1);
    args.splice(at..at, from_env);
    args
}

/// `host:port`, or Go's `:port` (every interface).
fn parse_listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.parse()
        .map_err(|_| format!("invalid address {text:?}: expected host:port or :port"))
}

/// An address, or none for `""`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<std::net::SocketAddr>);

fn parse_optional_listen_addr(text: &str) -> Result<OptionalAddr, String> {
    match text {
        "" => Ok(OptionalAddr(None)),
        text => parse_listen_addr(text).map(|addr| OptionalAddr(Some(addr))),
    }
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {text:?}: expected true or false")),
    }
}

/// A log level by name, any case.
fn parse_log_level(text: &str) -> Result<tracing::Level, String> {
    text.to_ascii_lowercase()
        .parse()
        .map_err(|_| format!("invalid log level {text:?}: expected debug, info, warn or error"))
}

/// An HTTP timeout: a Go-style duration, not zero.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match kseal_api::duration::parse(text)? {
        timeout if timeout.is_zero() => Err("the timeout must be longer than 0".to_owned()),
        timeout => Ok(timeout),
    }
}

/// A certificate validity: a Go-style duration, not zero.
fn parse_key_ttl(text: &str) -> Result<Duration, String> {
    match kseal_api::duration::parse(text)? {
        ttl if ttl.is_zero() => Err("the key TTL must be longer than 0".to_owned()),
        ttl => Ok(ttl),
    }
}

/// A point in time in RFC 3339 or RFC 1123 with a numeric zone (sealed-secrets' format).
pub fn parse_cutoff_time(text: &str) -> Result<SystemTime, String> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(text, &Rfc2822))
        .map(SystemTime::from)
        .map_err(|_| {
            format!(
                "invalid time {text:?}: expected RFC 3339 (2026-01-02T15:04:05Z) or RFC 1123 with a numeric zone (Fri, 02 Jan 2026 15:04:05 +0000)"
            )
        })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn os(items: &[&str]) -> Vec<std::ffi::OsString> {
        items.iter().map(Into::into).collect()
    }

    fn parse_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Args, clap::Error> {
        let vars = vars.iter().map(|(k, v)| ((*k).into(), (*v).into()));
        Args::try_parse_from(with_env_args(os(args), vars))
    }

    #[test]
    fn sealed_secrets_flags_and_their_environment_variables() {
        let args = parse_env(
            &["kseal-controller"],
            &[
                ("SEALED_SECRETS_UPDATE_STATUS", "0"),
                ("SEALED_SECRETS_LABEL_SELECTOR", "team=payments"),
                ("SEALED_SECRETS_RATE_LIMIT", "7"),
                ("SEALED_SECRETS_MY_CN", "sealer"),
                // sealed-secrets' old name of --key-renew-period.
                ("SEALED_SECRETS_ROTATE_PERIOD", "24h"),
                // Empty is unset, as in Go (a bool cannot parse it).
                ("SEALED_SECRETS_ALL_NAMESPACES", ""),
                ("SEALED_SECRETS_NOT_A_FLAG", "x"),
            ],
        )
        .unwrap();
        let config = args.config();
        assert!(!config.unseal.update_status);
        assert_eq!(
            config.unseal.label_selector.as_deref(),
            Some("team=payments")
        );
        assert_eq!(config.http_limits.rate_per_second, 7);
        assert_eq!(config.key_options.common_name, "sealer");
        assert_eq!(
            config.key_renew_period,
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(config.watch_namespace, None);
        // The command line wins over the environment.
        let args = parse_env(
            &[
                "kseal-controller",
                "--update-status=true",
                "--rate-limit",
                "3",
            ],
            &[
                ("SEALED_SECRETS_UPDATE_STATUS", "false"),
                ("SEALED_SECRETS_RATE_LIMIT", "9"),
            ],
        )
        .unwrap();
        assert!(args.update_status);
        assert_eq!(args.rate_limit, 3);
        // Go's booleans, and a bare boolean flag.
        for (text, expected) in [
            ("1", true),
            ("t", true),
            ("True", true),
            ("F", false),
            ("FALSE", false),
        ] {
            let args = parse_env(
                &["kseal-controller", &format!("--update-status={text}")],
                &[],
            )
            .unwrap();
            assert_eq!(args.update_status, expected, "{text}");
        }
        assert!(parse_env(&["kseal-controller", "--update-status=yes"], &[]).is_err());
        assert!(
            !parse_env(
                &[
                    "kseal-controller",
                    "--all-namespaces=false",
                    "--namespace",
                    "sealing"
                ],
                &[]
            )
            .unwrap()
            .all_namespaces
        );
        let args = parse_env(
            &[
                "kseal-controller",
                "--all-namespaces=false",
                "--namespace",
                "sealing",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(args.config().watch_namespace.as_deref(), Some("sealing"));
    }

    #[test]
    fn listen_addresses_as_go_writes_them() {
        let args = parse_env(&["kseal-controller", "--listen-addr", ":9090"], &[]).unwrap();
        assert_eq!(args.config().http_addr, Some(([0, 0, 0, 0], 9090).into()));
        let args = parse_env(&["kseal-controller"], &[]).unwrap();
        assert_eq!(
            args.config().metrics_addr,
            Some(([0, 0, 0, 0], 8081).into())
        );
        let args = parse_env(&["kseal-controller", "--listen-metrics-addr="], &[]).unwrap();
        assert_eq!(args.config().metrics_addr, None);
        let args = parse_env(
            &["kseal-controller", "--listen-addr", "127.0.0.1:8443"],
            &[],
        )
        .unwrap();
        assert_eq!(args.config().http_addr, Some(([127, 0, 0, 1], 8443).into()));
        assert!(parse_env(&["kseal-controller", "--listen-addr", "8080"], &[]).is_err());
    }

    #[test]
    fn key_prefix_and_order_are_taken_from_flags_and_sealed_secrets_variables() {
        // An order sealed-secrets does not know is refused when the flags are parsed (it would log and
        // fall back to CertNotBefore).
        assert!(parse_env(&["kseal-controller", "--key-order-priority=newest"], &[]).is_err());
        let args = parse_env(
            &["kseal-controller", "--key-prefix=team-a-key"],
            &[(
                "SEALED_SECRETS_KEY_ORDER_PRIORITY",
                "SecretCreationTimestamp",
            )],
        )
        .unwrap();
        assert!(args.check().is_ok());
        let layout = args.config().key_metadata;
        assert_eq!(layout.prefix, "team-a-key");
        assert_eq!(
            layout.order,
            kseal_sealedsecrets::keys::KeyOrder::SecretCreationTimestamp
        );
    }

    #[test]
    fn unsupported_sealed_secrets_values_are_refused_by_name() {
        assert!(
            parse_env(&["kseal-controller"], &[])
                .unwrap()
                .check()
                .is_ok()
        );
        for (flag, named) in [
            ("--key-prefix=Team.Keys", "--key-prefix"),
            ("--privatekey-labels=a", "--privatekey-labels"),
            ("--privatekey-annotations=a=b,c", "--privatekey-annotations"),
            ("--old-gc-behavior", "--old-gc-behavior"),
            ("--skip-recreate=true", "--skip-recreate"),
        ] {
            let error = parse_env(&["kseal-controller", flag], &[])
                .unwrap()
                .check()
                .unwrap_err();
            assert!(error.contains(named), "{flag}: {error}");
        }
        // Accepted: kseal does what they ask anyway.
        let args = parse_env(
            &[
                "kseal-controller",
                "--watch-for-secrets",
                "--kubeclient-qps=50",
                "--kubeclient-burst=100",
                "--log-format=json",
                "--log-level=ERROR",
                "--log-info-stdout=false",
                "--max-unseal-retries=3",
                "--accept-deprecated-v1-data=false",
            ],
            &[],
        )
        .unwrap();
        assert!(args.check().is_ok());
        assert_eq!(args.log_level, tracing::Level::ERROR);
        assert_eq!(args.config().unseal.max_retries, Some(3));
        assert!(!args.config().unseal.accept_v1_data);
        let args = parse_env(
            &[
                "kseal-controller",
                "--privatekey-labels=backup=velero,tier=keys",
            ],
            &[("SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS", "owner=platform")],
        )
        .unwrap();
        assert_eq!(args.check(), Ok(()));
        let metadata = args.config().key_metadata;
        assert_eq!(metadata.labels["tier"], "keys");
        assert_eq!(metadata.annotations["owner"], "platform");
    }

    #[test]
    fn defaults_match_sealed_secrets() {
        let args = Args::try_parse_from(["kseal-controller"]).unwrap();
        let config = args.config();
        assert_eq!(config.key_options.bits, 4096);
        assert_eq!(config.watch_namespace, None);
        assert_eq!(config.http_addr, Some(([0, 0, 0, 0], 8080).into()));
        assert_eq!(
            config.key_renew_period,
            Some(kseal_sealedsecrets::keys::DEFAULT_RENEW_PERIOD)
        );
        let args = Args::try_parse_from(["kseal-controller", "--key-renew-period", "0"]).unwrap();
        assert_eq!(args.config().key_renew_period, None);
        // POD_NAMESPACE may be set where the tests run; the flag default is what matters here.
        let args = Args::try_parse_from(["kseal-controller", "--namespace", "sealing"]).unwrap();
        assert_eq!(args.config().key_namespace, "sealing");
        let args = Args::try_parse_from(["kseal-controller", "--leader-elect", "false"]).unwrap();
        assert!(args.config().leader_election.is_none());
        assert_eq!(config.http_limits, crate::http::Limits::default());
        let args = Args::try_parse_from([
            "kseal-controller",
            "--read-timeout",
            "5s",
            "--write-timeout",
            "30s",
        ])
        .unwrap();
        let limits = args.config().http_limits;
        assert_eq!(limits.read_timeout, Duration::from_secs(5));
        assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(limits.write_timeout, Duration::from_secs(30));
        assert!(Args::try_parse_from(["kseal-controller", "--read-timeout", "0"]).is_err());
    }

    #[test]
    fn namespaced_default_credentials_are_opt_in() {
        let allowed = |args: &[&str]| {
            let args = Args::try_parse_from(args).unwrap();
            args.config()
                .sync
                .unwrap()
                .allow_namespaced_default_credentials
        };
        assert!(!allowed(&["kseal-controller"]));
        assert!(allowed(&[
            "kseal-controller",
            kseal_externalsecrets::ALLOW_DEFAULT_CREDENTIALS_FLAG
        ]));
        assert!(allowed(&[
            "kseal-controller",
            "--sync-allow-namespaced-default-credentials",
            "true"
        ]));
        assert!(!allowed(&[
            "kseal-controller",
            "--sync-allow-namespaced-default-credentials=false"
        ]));
    }

    #[test]
    fn key_ttl_and_cutoff_time() {
        let args = Args::try_parse_from(["kseal-controller"]).unwrap();
        let config = args.config();
        assert_eq!(
            config.key_options.validity,
            Duration::from_secs(87600 * 3600)
        );
        assert_eq!(config.key_cutoff_time, None);

        let args = Args::try_parse_from([
            "kseal-controller",
            "--key-ttl",
            "24h",
            "--key-cutoff-time",
            "2026-01-02T15:04:05Z",
        ])
        .unwrap();
        let config = args.config();
        assert_eq!(config.key_options.validity, Duration::from_secs(24 * 3600));
        let expected = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_366_245);
        assert_eq!(config.key_cutoff_time, Some(expected));
        // sealed-secrets' own format names the same instant.
        assert_eq!(
            parse_cutoff_time("Fri, 02 Jan 2026 16:04:05 +0100"),
            Ok(expected)
        );

        for bad in [
            &["kseal-controller", "--key-cutoff-time", "yesterday"][..],
            &["kseal-controller", "--key-ttl", "0"],
            &["kseal-controller", "--key-ttl", "ten years"],
        ] {
            let error = Args::try_parse_from(bad).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
        }
    }
}
