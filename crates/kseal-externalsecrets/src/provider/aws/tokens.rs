//! Short-lived AWS credentials that generators hand out: an ECR authorization token
//! (GetAuthorizationToken) and STS session credentials (GetSessionToken). Each is obtained with the
//! generator's own credential chain (keys, web identity or the default chain, then its role), built
//! afresh for each generation as ESO does.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::client;
use super::config::{Observer, ProviderOptions, StoreConfig};
use super::credentials;
use super::error::Error;

/// ECR's answer, split as `docker login` uses it.
pub struct EcrToken {
    /// The user name (`AWS`).
    pub username: String,
    /// The registry password.
    pub password: Zeroizing<String>,
    /// The registry's address (`https://<account>.dkr.ecr.<region>.amazonaws.com`).
    pub proxy_endpoint: String,
    /// When the token expires, in Unix seconds.
    pub expires_at: i64,
}

/// Temporary credentials from GetSessionToken.
pub struct SessionToken {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token.
    pub session_token: Zeroizing<String>,
    /// When they expire, in Unix seconds.
    pub expiration: i64,
}

/// What GetSessionToken is asked for.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    /// Lifetime in seconds.
    pub duration_seconds: Option<i32>,
    /// MFA device.
    pub serial_number: Option<String>,
    /// MFA code.
    pub token_code: Option<String>,
}

/// The SDK configuration of `config`, its credential chain and the call observer.
async fn signed(
    config: &StoreConfig,
    options: &ProviderOptions,
) -> Result<
    (
        aws_config::SdkConfig,
        aws_credential_types::provider::SharedCredentialsProvider,
        Observer,
    ),
    Error,
> {
    let base = client::sdk_config(config, options).await?;
    let observer = Observer::new(options.observer.clone());
    let chain = credentials::chain(config, &base, &observer)?;
    Ok((base, chain, observer))
}

/// An authorization token of the private ECR registry of the account `config`'s credentials belong
/// to (in its region).
pub async fn ecr_authorization_token(
    config: &StoreConfig,
    options: &ProviderOptions,
) -> Result<EcrToken, Error> {
    const OPERATION: &str = "GetAuthorizationToken";
    let (base, chain, observer) = signed(config, options).await?;
    let ecr = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&base)
            .credentials_provider(chain)
            .build(),
    );
    let result = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|error| Error::from_sdk(OPERATION, None, error));
    let output = observer.record(OPERATION, result)?;
    let malformed = |what: &str| Error::Request {
        operation: OPERATION,
        key: None,
        message: format!("unexpected answer: {what}"),
    };
    let [data] = output
        .authorization_data
        .unwrap_or_default()
        .try_into()
        .map_err(|all: Vec<_>| {
            malformed(&format!(
                "expected 1 authorization token, found {}",
                all.len()
            ))
        })?;
    let token = Zeroizing::new(data.authorization_token.unwrap_or_default());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| malformed("the token is not base64"))?;
    let decoded = std::str::from_utf8(&decoded).map_err(|_| malformed("the token is not text"))?;
    // As ESO: exactly one `:` between user name and password.
    let mut parts = decoded.split(':');
    let (Some(username), Some(password), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("the token is not user:password"));
    };
    Ok(EcrToken {
        username: username.to_owned(),
        password: Zeroizing::new(password.to_owned()),
        proxy_endpoint: data.proxy_endpoint.unwrap_or_default(),
        expires_at: data.expires_at.map_or(0, |t| t.secs()),
    })
}

/// Session credentials for the identity of `config`'s credentials.
pub async fn session_token(
    config: &StoreConfig,
    options: &ProviderOptions,
    request: &SessionRequest,
) -> Result<SessionToken, Error> {
    const OPERATION: &str = "GetSessionToken";
    let (base, chain, observer) = signed(config, options).await?;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .credentials_provider(chain)
            .build(),
    );
    let result = sts
        .get_session_token()
        .set_duration_seconds(request.duration_seconds)
        .set_serial_number(request.serial_number.clone())
        .set_token_code(request.token_code.clone())
        .send()
        .await
        .map_err(|error| Error::from_sdk(OPERATION, None, error));
    let output = observer.record(OPERATION, result)?;
    let credentials = output.credentials.ok_or_else(|| Error::Request {
        operation: OPERATION,
        key: None,
        message: "no credentials found".to_owned(),
    })?;
    Ok(SessionToken {
        access_key_id: credentials.access_key_id,
        secret_access_key: Zeroizing::new(credentials.secret_access_key),
        session_token: Zeroizing::new(credentials.session_token),
        expiration: credentials.expiration.secs(),
    })
}
