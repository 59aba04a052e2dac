//! The secret providers a store can use: [`aws`] (Secrets Manager and Parameter Store: credentials,
//! calls, the coalesced and batched fetcher), [`kubernetes`] (Secrets of a namespace of this or
//! another cluster) and [`fake`] (ESO's `fake` provider, the store's own data).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

pub mod aws;
pub mod fake;
pub mod kubernetes;

/// Secret data as ESO serializes a `map[string]string` of it: one JSON object of its keys and
/// values (as text), keys sorted, as Go's encoder writes it with `SetEscapeHTML(false)`.
pub(crate) fn go_json_text_map(data: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Zeroizing<Vec<u8>> {
    go_json_object(data.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

/// Entries, sorted by key, written as [`go_json_text_map`] writes a map.
pub(crate) fn go_json_object<'a>(
    entries: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
) -> Zeroizing<Vec<u8>> {
    // Sized up front (escapes aside), so no copy of the values is left behind by a reallocation.
    let size: usize = entries.clone().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(size + 2));
    out.push(b'{');
    for (index, (key, value)) in entries.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_go_json_string(&mut out, key.as_bytes());
        out.push(b':');
        push_go_json_string(&mut out, value);
    }
    out.push(b'}');
    out
}

/// `text` as a JSON string the way Go's encoder writes a Go string without HTML escaping: `"`, `\`,
/// `\b`, `\f`, `\n`, `\r`, `\t` escaped short, other control characters as `\u00xx`, U+2028 and
/// U+2029 as `\u2028`/`\u2029`, and each byte that is not part of valid UTF-8 as `\ufffd`.
fn push_go_json_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => {
                    let mut buffer = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_maps_are_written_as_gos_encoder_writes_them() {
        let data: BTreeMap<String, Zeroizing<Vec<u8>>> = [
            ("b", b"<&>\"\\\x08\x0c\n\r\t\x01\x7f".to_vec()),
            ("a", "line\u{2028}é".as_bytes().to_vec()),
            ("c", b"\xde\xad\xbe\xef\x00\xff".to_vec()),
            ("d", b"\xf0\x9f\x98A".to_vec()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Zeroizing::new(v)))
        .collect();
        assert_eq!(
            String::from_utf8(go_json_text_map(&data).to_vec()).unwrap(),
            "{\"a\":\"line\\u2028é\",\"b\":\"<&>\\\"\\\\\\b\\f\\n\\r\\t\\u0001\u{7f}\",\
             \"c\":\"\u{7ad}\\ufffd\\ufffd\\u0000\\ufffd\",\"d\":\"\\ufffd\\ufffd\\ufffdA\"}"
        );
    }
}
