//! Fuzzes the ciphertext parser and opener with arbitrary bytes: they must fail cleanly, never panic.
//!
//! Checked on every input:
//! - `Envelope::parse` either errors or splits the input exactly (2-byte header, RSA part of the
//!   announced length, AES part holding at least the 16-byte tag);
//! - `open` with a fixed test key and two labels (strict and cluster-wide) returns an error or a value;
//! - `open_base64` on the input as text, when it is UTF-8;
//! - sealing the input for the test key and opening it again gives the input back.
#![no_main]

use std::sync::OnceLock;

use kseal_crypto::{Envelope, PrivateKey, open, open_base64, seal};
use libfuzzer_sys::fuzz_target;

/// Label the seeds in `fuzz/seeds/envelope` were sealed with (strict scope, `fuzz-ns/fuzz-name`).
const STRICT_LABEL: &[u8] = b"fuzz-ns/fuzz-name";
/// The cluster-wide label.
const CLUSTER_LABEL: &[u8] = b"";
const TAG_LEN: usize = 16;

/// A throwaway RSA-2048 key made for fuzzing only; it protects nothing.
fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PrivateKey::from_pem(include_bytes!("../fixtures/fuzz-only-key.pem"))
            .expect("the fuzz fixture key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::parse(data) {
        let announced = usize::from(u16::from_be_bytes([data[0], data[1]]));
        assert_eq!(envelope.rsa.len(), announced);
        assert!(envelope.aes.len() >= TAG_LEN);
        assert_eq!(2 + envelope.rsa.len() + envelope.aes.len(), data.len());
    }

    let key = key();
    for label in [STRICT_LABEL, CLUSTER_LABEL] {
        let _ = open(key, label, data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = open_base64([key], STRICT_LABEL, text);
    }

    let sealed = seal(key.public_key(), STRICT_LABEL, data).expect("sealing never fails");
    let opened = open(key, STRICT_LABEL, &sealed).expect("a fresh envelope opens");
    assert_eq!(opened.as_slice(), data);
    assert!(open(key, CLUSTER_LABEL, &sealed).is_err(), "the wrong label must not open");
});
