//! The credential chain of a store: base credentials (default chain, static
//! keys or web identity), then the roles assumed on top, each cached until
//! shortly before it expires.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};

use super::config::{Auth, Observer, StoreConfig, TokenSource};
use super::error::Error;

/// Credentials are renewed this long before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Provider name of static credentials (shows up in SDK debug output, never the keys).
const STATIC_PROVIDER: &str = "kseal-static";
/// Provider name of credentials from STS.
const STS_PROVIDER: &str = "kseal-sts";

/// The credentials provider for `config`: base credentials, then
/// `additional_roles` in order, then `role` with `external_id`, the session tags and the transitive
/// tag keys (as ESO does).
/// `base` carries region, endpoint and (for [`Auth::DefaultChain`]) the
/// SDK's default chain.
pub(crate) fn chain(
    config: &StoreConfig,
    base: &SdkConfig,
    observer: &Observer,
) -> Result<SharedCredentialsProvider, Error> {
    let mut current = match &config.auth {
        Auth::DefaultChain => base.credentials_provider().ok_or_else(|| {
            Error::Config("the AWS SDK default credential chain is not available".to_owned())
        })?,
        Auth::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => SharedCredentialsProvider::new(Credentials::new(
            access_key_id.clone(),
            secret_access_key.as_str(),
            session_token.as_ref().map(|token| token.to_string()),
            None,
            STATIC_PROVIDER,
        )),
        Auth::WebIdentity { role_arn, token } => cached(WebIdentity {
            sts: sts_client(base, None),
            role_arn: role_arn.clone(),
            session_name: config.session_name.clone(),
            token: token.clone(),
            observer: observer.clone(),
        }),
    };
    for role in &config.additional_roles {
        current = cached(AssumeRole {
            sts: sts_client(base, Some(current)),
            role_arn: role.clone(),
            external_id: None,
            session_tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            session_name: config.session_name.clone(),
            observer: observer.clone(),
        });
    }
    if let Some(role) = &config.role {
        current = cached(AssumeRole {
            sts: sts_client(base, Some(current)),
            role_arn: role.clone(),
            external_id: config.external_id.clone(),
            session_tags: config.session_tags.clone(),
            transitive_tag_keys: config.transitive_tag_keys.clone(),
            session_name: config.session_name.clone(),
            observer: observer.clone(),
        });
    }
    Ok(current)
}

/// An STS client with `base`'s region and endpoint, signing with `credentials`
/// (`None`: unsigned, for AssumeRoleWithWebIdentity).
fn sts_client(
    base: &SdkConfig,
    credentials: Option<SharedCredentialsProvider>,
) -> aws_sdk_sts::Client {
    let builder = aws_sdk_sts::config::Builder::from(base);
    let builder = match credentials {
        Some(credentials) => builder.credentials_provider(credentials),
        None => {
            let mut builder = builder;
            builder.set_credentials_provider(None);
            builder
        }
    };
    aws_sdk_sts::Client::from_conf(builder.build())
}

fn cached(provider: impl ProvideCredentials + 'static) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Cached {
        inner: provider,
        current: tokio::sync::Mutex::new(None),
    })
}

/// Converts STS credentials into SDK credentials.
fn from_sts(
    credentials: Option<aws_sdk_sts::types::Credentials>,
    operation: &'static str,
) -> Result<Credentials, Error> {
    let credentials =
        credentials.ok_or_else(|| Error::Auth(format!("{operation} returned no credentials")))?;
    let expiry = SystemTime::try_from(credentials.expiration).ok();
    Ok(Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        expiry,
        STS_PROVIDER,
    ))
}

/// STS AssumeRoleWithWebIdentity with a token from a [`TokenSource`].
struct WebIdentity {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_name: String,
    token: Arc<dyn TokenSource>,
    observer: Observer,
}

impl WebIdentity {
    async fn assume(&self) -> Result<Credentials, Error> {
        const OPERATION: &str = "AssumeRoleWithWebIdentity";
        tracing::debug!(role = %self.role_arn, "assuming role with web identity");
        let token = self.token.token().await?;
        let result = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| with_role(Error::from_sdk(OPERATION, None, e), &self.role_arn));
        let output = self.observer.record(OPERATION, result)?;
        from_sts(output.credentials, OPERATION)
    }
}

impl fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebIdentity")
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.assume()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

/// STS AssumeRole with the credentials of the previous link of the chain.
struct AssumeRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    /// Session tags (`key`, `value`), sent when not empty.
    session_tags: Vec<(String, String)>,
    /// Tag keys that pass on to later sessions of a role chain, sent with the session tags.
    transitive_tag_keys: Vec<String>,
    session_name: String,
    observer: Observer,
}

impl AssumeRole {
    async fn assume(&self) -> Result<Credentials, Error> {
        const OPERATION: &str = "AssumeRole";
        tracing::debug!(role = %self.role_arn, "assuming role");
        let mut request = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .set_external_id(self.external_id.clone())
            .role_session_name(&self.session_name);
        if !self.session_tags.is_empty() {
            for (key, value) in &self.session_tags {
                request = request.tags(
                    aws_sdk_sts::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build()
                        .map_err(|e| Error::Config(format!("session tag {key:?}: {e}")))?,
                );
            }
            for key in &self.transitive_tag_keys {
                request = request.transitive_tag_keys(key);
            }
        }
        let result = request
            .send()
            .await
            .map_err(|e| with_role(Error::from_sdk(OPERATION, None, e), &self.role_arn));
        let output = self.observer.record(OPERATION, result)?;
        from_sts(output.credentials, OPERATION)
    }
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.is_some())
            .field("session_tags", &self.session_tags)
            .field("transitive_tag_keys", &self.transitive_tag_keys)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.assume()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

/// Names the role in an STS failure (an error from an earlier link already
/// names its own role, and is passed on as it is).
fn with_role(error: Error, role_arn: &str) -> Error {
    match error {
        Error::Auth(message) if !message.contains(role_arn) => {
            Error::Auth(format!("{message} (role {role_arn})"))
        }
        Error::Request {
            operation,
            key: None,
            message,
        } => Error::Request {
            operation,
            key: None,
            message: format!("{message} (role {role_arn})"),
        },
        other => other,
    }
}

/// Caches another provider's credentials until [`refresh_at`]; concurrent
/// callers wait for one refresh.
struct Cached<P> {
    inner: P,
    current: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl<P: fmt::Debug> fmt::Debug for Cached<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<P: ProvideCredentials> Cached<P> {
    async fn get(&self) -> provider::Result {
        let mut current = self.current.lock().await;
        let now = SystemTime::now();
        if let Some((credentials, refresh)) = current.as_ref()
            && now < *refresh
        {
            return Ok(credentials.clone());
        }
        let credentials = self.inner.provide_credentials().await?;
        let refresh = refresh_at(now, credentials.expiry());
        *current = Some((credentials.clone(), refresh));
        Ok(credentials)
    }
}

impl<P: ProvideCredentials> ProvideCredentials for Cached<P> {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.get())
    }
}

/// When credentials obtained at `now` that expire at `expiry` are renewed:
/// [`REFRESH_BEFORE_EXPIRY`] before they expire, but not before half their
/// lifetime (short-lived credentials would otherwise be fetched every call).
/// Credentials without expiry are kept.
fn refresh_at(now: SystemTime, expiry: Option<SystemTime>) -> SystemTime {
    let Some(expiry) = expiry else {
        return now + Duration::from_secs(100 * 365 * 24 * 3600);
    };
    let lifetime = expiry.duration_since(now).unwrap_or_default();
    let early = expiry.checked_sub(REFRESH_BEFORE_EXPIRY).unwrap_or(now);
    early.max(now + lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn refresh_shortly_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = now + Duration::from_secs(3600);
        assert_eq!(refresh_at(now, Some(hour)), hour - REFRESH_BEFORE_EXPIRY);
        // Short-lived: half the lifetime, not immediately.
        let short = now + Duration::from_secs(240);
        assert_eq!(refresh_at(now, Some(short)), now + Duration::from_secs(120));
        // Already expired: refresh next time.
        assert_eq!(refresh_at(now, Some(now - Duration::from_secs(1))), now);
        assert!(refresh_at(now, None) > now + Duration::from_secs(365 * 24 * 3600));
    }

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                "AKID",
                "secret",
                None,
                Some(SystemTime::now() + self.lifetime),
                "test",
            )))
        }
    }

    #[tokio::test]
    async fn cached_until_near_expiry() {
        let fresh = Cached {
            inner: Counting {
                calls: AtomicUsize::new(0),
                lifetime: Duration::from_secs(3600),
            },
            current: tokio::sync::Mutex::new(None),
        };
        for _ in 0..3 {
            fresh.provide_credentials().await.unwrap();
        }
        assert_eq!(fresh.inner.calls.load(Ordering::SeqCst), 1);

        let expired = Cached {
            inner: Counting {
                calls: AtomicUsize::new(0),
                lifetime: Duration::ZERO,
            },
            current: tokio::sync::Mutex::new(None),
        };
        for _ in 0..3 {
            expired.provide_credentials().await.unwrap();
        }
        assert_eq!(expired.inner.calls.load(Ordering::SeqCst), 3);
    }
}
