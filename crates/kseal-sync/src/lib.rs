//! External secret sync (SPEC §3): ExternalSecrets, SecretStores and ClusterSecretStores of
//! `external-secrets.io`, synced from AWS Secrets Manager (or the `fake` provider) into Secrets.
//!
//! Modules: [`aws`] (credentials, Secrets Manager calls, coalesced and batched fetches),
//! [`remote`] (what a `remoteRef` selects: properties, decoding, extract, find and rewrite).

pub mod aws;
pub mod remote;
