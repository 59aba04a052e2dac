//! The secret providers a store can use: [`aws`] (Secrets Manager: credentials, calls, the coalesced
//! and batched fetcher) and [`fake`] (ESO's `fake` provider, the store's own data).

pub mod aws;
pub mod fake;
