//! Command-line flags; each also reads an environment variable.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kseal_crypto::KeyOptions;

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

    /// Address of the HTTP API (`/v1/cert.pem`, `/healthz`, `/readyz`).
    #[arg(long, env = "KSEAL_LISTEN_ADDR", default_value = crate::http::DEFAULT_LISTEN_ADDR)]
    pub listen_addr: std::net::SocketAddr,

    /// Longest time a client may take to send a request's body to the HTTP API (e.g. `2m`), as
    /// sealed-secrets; headers must arrive within 10 s, or this if shorter.
    #[arg(long, env = "KSEAL_READ_TIMEOUT", default_value = "2m", value_parser = parse_timeout)]
    pub read_timeout: Duration,

    /// Longest time the HTTP API takes to answer a request once its headers are read (e.g. `2m`), as
    /// sealed-secrets; 503 after that.
    #[arg(long, env = "KSEAL_WRITE_TIMEOUT", default_value = "2m", value_parser = parse_timeout)]
    pub write_timeout: Duration,

    /// Generate a new sealing key this long after the newest one (e.g. `720h`, `30m`); `0` disables.
    #[arg(long, env = "KSEAL_KEY_RENEW_PERIOD", default_value = "720h", value_parser = kseal_api::duration::parse)]
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
    #[arg(long, env = "KSEAL_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the Lease used for leader election, in the controller namespace.
    #[arg(long, env = "KSEAL_LEASE_NAME", default_value = kseal_runtime::lease::DEFAULT_LEASE_NAME)]
    pub lease_name: String,

    /// Run the external secret sync: ExternalSecrets, SecretStores and ClusterSecretStores
    /// (`external-secrets.io` v1 and v1beta1) from AWS Secrets Manager.
    #[arg(long, env = "KSEAL_SYNC", default_value_t = true, action = clap::ArgAction::Set)]
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
        action = clap::ArgAction::Set
    )]
    pub sync_allow_namespaced_default_credentials: bool,

    /// Leave out `sealed_secrets_controller_condition_info`, which names every SealedSecret (as
    /// sealed-secrets' flag of the same name): for a `/metrics` that users who must not list SealedSecrets
    /// can reach.
    #[arg(long, env = "KSEAL_METRICS_OMIT_SECRET_LABELS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub metrics_omit_secret_labels: bool,
}

impl Args {
    /// The controller settings these flags select.
    pub fn config(&self) -> crate::Config {
        crate::Config {
            key_namespace: self.namespace.clone(),
            watch_namespace: self.watch_namespace.clone(),
            key_options: KeyOptions {
                bits: self.key_size,
                validity: self.key_ttl,
                ..KeyOptions::default()
            },
            key_cutoff_time: self.key_cutoff_time,
            http_addr: Some(self.listen_addr),
            http_limits: crate::http::Limits {
                header_read_timeout: crate::http::HEADER_READ_TIMEOUT.min(self.read_timeout),
                read_timeout: self.read_timeout,
                write_timeout: self.write_timeout,
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
