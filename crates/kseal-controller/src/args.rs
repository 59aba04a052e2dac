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
    #[arg(long, env = "KSEAL_KEY_RENEW_PERIOD", default_value = "720h", value_parser = parse_duration)]
    pub key_renew_period: Duration,

    /// RSA modulus size of generated keys.
    #[arg(long, env = "KSEAL_KEY_SIZE", default_value_t = kseal_crypto::KeyOptions::default().bits)]
    pub key_size: usize,
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
        }
    }
}

/// Parses a Go-style duration as sealed-secrets' flags take it: `720h`, `1h30m`, `45s`, `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. 720h, 30m or 45s"))?;
        let seconds = match unit {
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            _ => return Err(format!("invalid duration {text:?}: unit must be h, m or s")),
        };
        total += Duration::from_secs(number.saturating_mul(seconds));
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
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
    }
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_ok_and(|d| d.is_zero()));
    }
}
