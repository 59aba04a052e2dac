//! The SealedSecret reconciler family of `kseal-controller`:
//!
//! - [`keys`]: the sealing keys, `kubernetes.io/tls` Secrets in the controller's namespace in
//!   sealed-secrets' layout (adopt, generate, renew, watch);
//! - [`certmap`]: the sealing certificate published in a ConfigMap;
//! - [`unseal`]: the reconciler that unseals every SealedSecret into its Secret, with [`watched`] (what
//!   its watches keep of each object) and [`conditions`] (the `Synced` status);
//! - [`rotate`]: re-encryption with the newest key (the HTTP API's `/v1/rotate`);
//! - [`metrics`]: the unsealer's metric families.
//!
//! The decisions themselves (digest, up-to-date check, ownership, RSA cost) are pure and live in
//! `kseal_core::plan`; the plumbing (per-object state, backoff, status and events) in `kseal-runtime`.

pub mod certmap;
pub mod compat;
pub mod conditions;
pub mod keys;
pub mod metrics;
pub mod rotate;
pub mod unseal;
pub mod watched;

mod error;

pub use error::{Error, Result};
