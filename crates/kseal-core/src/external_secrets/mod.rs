//! The pure half of the external secret sync: what a `remoteRef` or `dataFrom` selects from
//! a remote secret ([`remote`], [`rewrite`]), the Secret an ExternalSecret describes ([`desired`]) and
//! whether to write it ([`write`]); the values of generators ([`generate`]).

pub mod desired;
pub mod generate;
pub mod remote;
pub mod rewrite;
pub mod write;
