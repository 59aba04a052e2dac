//! The pure half of the external secret sync: what a `remoteRef` or `dataFrom` selects from
//! a remote secret ([`remote`], [`rewrite`]) and the Secret an ExternalSecret describes ([`desired`]).

pub mod desired;
pub mod remote;
pub mod rewrite;
