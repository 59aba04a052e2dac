//! Pure functions that compute kseal's desired objects, shared by the CLI and the controller:
//! [`seal`] turns a plain Secret into a SealedSecret, [`unseal`] turns a SealedSecret back into the
//! Secret the controller writes, and [`manifest`] reads multi-document YAML/JSON input.
//!
//! No I/O, no Kubernetes client, no async.

pub mod conditions;
pub mod external_secrets;
pub mod manifest;
pub mod plan;
pub mod seal;
pub mod unseal;

mod error;

pub use error::{Error, Result};
pub use manifest::{Document, PlainSecret};
pub use seal::{SealOptions, seal_secret};
pub use unseal::{Unsealed, unseal};
