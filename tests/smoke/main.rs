//! Smoke suite: proves the test environment (tests/env) is real and usable —
//! the API server, RBAC, TokenRequest, server-side apply, CRDs from kseal-api,
//! moto with exact call counts, a watch that survives an API server restart,
//! and kubeseal as the interoperability peer.

mod aws;
mod kubernetes;
mod restart;
mod tools;

use kseal_testenv::{DEADLINE, eventually};
