//! What a remoteRef selects (being written).
