//! The plumbing every kseal reconciler runs on, with no domain logic:
//!
//! - [`meta`]: trimmed object metadata for watch caches, `namespace/name` display, field-manager reads;
//! - [`objects`]: the per-object state of a reconciler, keyed by object, with its failure count, pruned
//!   when the object is deleted;
//! - [`backoff`]: exponential delays, for per-object retries and for API calls retried until they work;
//! - [`report`]: the status patch and the event of a reconcile, both under the reconciler's field manager;
//! - [`metrics`]: the reconcile counters and histogram, registered with one convention;
//! - [`lease`]: leader election on a Lease (only the leader writes);
//! - [`ready`]: the first list of a watch cache, awaited by many reconciles at once.
//!
//! The reconcilers (`kseal-sealedsecrets`, `kseal-externalsecrets`) depend on this crate; it depends on
//! neither.

pub mod backoff;
pub mod lease;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod ready;
pub mod report;

pub use backoff::Backoff;
pub use objects::ObjectTable;
pub use ready::Ready;
