//! The secret providers a store can use: [`aws`] (Secrets Manager and Parameter Store: credentials,
//! calls, the coalesced and batched fetcher), [`kubernetes`] (Secrets of a namespace of this or
//! another cluster) and [`fake`] (ESO's `fake` provider, the store's own data).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

pub mod aws;
pub mod fake;
pub mod kubernetes;

/// Secret data as ESO serializes a `map[string]string` of it: one JSON object of its keys and
/// values (as text), keys sorted, without HTML escaping (Go's encoder with `SetEscapeHTML(false)`).
pub(crate) fn go_json_text_map(data: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Zeroizing<Vec<u8>> {
    // Borrowed where the value is UTF-8 (no copy to wipe); invalid bytes become U+FFFD as in Go.
    let text: BTreeMap<&str, std::borrow::Cow<'_, str>> = data
        .iter()
        .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v)))
        .collect();
    let json = Zeroizing::new(serde_json::to_string(&text).unwrap_or_default());
    // Go escapes these two even without HTML escaping; inside JSON they only occur in strings.
    Zeroizing::new(
        json.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
            .into_bytes(),
    )
}
