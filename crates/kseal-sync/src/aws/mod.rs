//! AWS Secrets Manager provider (being written).
