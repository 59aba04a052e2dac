//! AWS provider of the external secret sync: Secrets Manager and Parameter Store.
//!
//! - [`config`]: a store's configuration ([`StoreConfig`], [`Auth`]) and
//!   web identity tokens ([`ServiceAccountTokenSource`]).
//! - `credentials` (private): static keys, the SDK default chain or
//!   AssumeRoleWithWebIdentity, then `additionalRoles` and `role` with
//!   AssumeRole; each link cached until shortly before it expires.
//! - [`client`]: [`Provider`] — GetSecretValue, BatchGetSecretValue, ListSecrets; or, for a
//!   Parameter Store store, what `parameters` (private) reads.
//! - [`fetch`]: [`Fetcher`] — coalesced, batched reads shared by all reconciles.
//! - [`push`]: what PushSecrets write to Secrets Manager (created, written over and deleted only when
//!   tagged as theirs).
//! - [`tokens`]: the short-lived credentials of the ECRAuthorizationToken and STSSessionToken
//!   generators.
//!
//! The endpoint is the standard `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL_ECR`) unless
//! [`ProviderOptions::endpoint_url`] overrides it.

pub mod client;
pub mod config;
mod credentials;
pub mod error;
pub mod fetch;
mod parameters;
pub mod push;
pub mod tokens;

pub use client::{DEFAULT_STAGE, MAX_BATCH_IDS, Provider, RemoteSecret, VersionSelector};
pub use config::{
    AUDIENCE_ANNOTATION, Auth, CallObserver, DEFAULT_AUDIENCE, ProviderOptions, Service,
    ServiceAccountTokenSource, StoreConfig, TokenSource, audiences,
};
pub use credentials::REFRESH_BEFORE_EXPIRY;
pub use error::{Error, Result};
pub use fetch::{BATCH_WINDOW, Fetcher, MAX_STORES, StoreId};
pub use parameters::MAX_NAMES;
