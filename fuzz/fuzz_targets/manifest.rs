//! Fuzzes the manifest reader and the Secret/SealedSecret readers with arbitrary text: user input
//! (`-f`, stdin) and cluster objects must be refused with an error, never a panic.
//!
//! For every document `read_documents` returns:
//! - `PlainSecret::from_document`, and when it succeeds, `seal_secret` for the fixed test key;
//! - `serde_json::from_value::<SealedSecret>`, and when it succeeds, `unseal` with the test key
//!   (seeds sealed with that key reach the template renderer).
#![no_main]

use std::sync::OnceLock;

use kseal_api::SealedSecret;
use kseal_core::manifest::read_documents;
use kseal_core::{PlainSecret, SealOptions, seal_secret, unseal};
use kseal_crypto::PrivateKey;
use libfuzzer_sys::fuzz_target;

/// A throwaway RSA-2048 key made for fuzzing only; it protects nothing.
fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PrivateKey::from_pem(include_bytes!("../fixtures/fuzz-only-key.pem"))
            .expect("the fuzz fixture key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = read_documents(text) else {
        return;
    };
    let key = key();
    for doc in &documents {
        let _ = doc.describe();
        if let Ok(secret) = PlainSecret::from_document(doc) {
            let options = SealOptions {
                key: key.public_key(),
                scope: None,
                allow_empty_data: true,
                default_namespace: "default".into(),
                namespace: None,
                name: None,
            };
            let _ = seal_secret(secret, &options);
        }
        if let Ok(sealed) = serde_json::from_value::<SealedSecret>(doc.value.clone()) {
            let _ = unseal(&sealed, &[key]);
        }
    }
});
