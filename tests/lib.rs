//! End-to-end test suites of kseal; see `smoke/` and `env/README.md`. No library code.
