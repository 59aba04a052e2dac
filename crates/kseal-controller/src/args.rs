//! Command-line flags; each also reads an environment variable.

use std::path::PathBuf;
use std::time::Duration;

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

    /// Generate a new sealing key this long after the newest one (e.g. `720h`, `30m`); `0` disables.
    #[arg(long, env = "KSEAL_KEY_RENEW_PERIOD", default_value = "720h", value_parser = kseal_api::duration::parse)]
    pub key_renew_period: Duration,

    /// RSA modulus size of generated keys.
    #[arg(long, env = "KSEAL_KEY_SIZE", default_value_t = kseal_crypto::KeyOptions::default().bits)]
    pub key_size: usize,

    /// Elect a leader among replicas through a Lease; only the leader unseals and writes keys.
    #[arg(long, env = "KSEAL_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the Lease used for leader election, in the controller namespace.
    #[arg(long, env = "KSEAL_LEASE_NAME", default_value = crate::lease::DEFAULT_LEASE_NAME)]
    pub lease_name: String,
}

impl Args {
    /// The controller settings these flags select.
    pub fn config(&self) -> crate::Config {
        crate::Config {
            key_namespace: self.namespace.clone(),
            watch_namespace: self.watch_namespace.clone(),
            key_options: KeyOptions {
                bits: self.key_size,
                ..KeyOptions::default()
            },
            http_addr: Some(self.listen_addr),
            key_renew_period: (!self.key_renew_period.is_zero()).then_some(self.key_renew_period),
            leader_election: self
                .leader_elect
                .then(|| crate::lease::LeaseConfig::new(&self.lease_name)),
        }
    }
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
            Some(crate::keys::DEFAULT_RENEW_PERIOD)
        );
        let args = Args::try_parse_from(["kseal-controller", "--key-renew-period", "0"]).unwrap();
        assert_eq!(args.config().key_renew_period, None);
        // POD_NAMESPACE may be set where the tests run; the flag default is what matters here.
        let args = Args::try_parse_from(["kseal-controller", "--namespace", "sealing"]).unwrap();
        assert_eq!(args.config().key_namespace, "sealing");
        let args = Args::try_parse_from(["kseal-controller", "--leader-elect", "false"]).unwrap();
        assert!(args.config().leader_election.is_none());
    }
}
