//! Server-side apply of a Secret whose serialized body is wiped from memory once it is sent.
//!
//! kube's `Api::patch` serializes the object into a plain `Vec<u8>` that is freed, not wiped, and a
//! `k8s_openapi` Secret keeps its values in plain `ByteString`s. Here the body is written once into a
//! buffer of exactly the right size (so no reallocation leaves a copy behind), straight from the caller's
//! zeroizing values, and handed to the HTTP client as shared bytes whose owner wipes them when the
//! client drops its last reference. What this does not cover: the TLS layer's record buffers, and the
//! API server's answer (the applied Secret, values included), which kube's client reads into its own
//! buffers; callers should decode answers into types that skip the values.

use std::collections::BTreeMap;
use std::io::Write as _;

use base64::Engine as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// A Secret to apply: metadata and type in clear, values only as borrowed bytes.
pub struct SecretBody<'a> {
    /// Name, namespace, labels, annotations, ownerReferences.
    pub metadata: &'a ObjectMeta,
    /// `type`; `None` leaves it out of the applied fields.
    pub type_: Option<&'a str>,
    /// `immutable`; `None` leaves it out.
    pub immutable: Option<bool>,
    /// The values, by key.
    pub data: &'a BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for SecretBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBody")
            .field("name", &self.metadata.name)
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The JSON shape of a Secret; `data` values are written by [`Base64`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a ObjectMeta,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    immutable: Option<bool>,
    data: BTreeMap<&'a str, Base64<'a>>,
}

/// A value serialized as base64 through a zeroizing buffer.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0));
        serializer.serialize_str(&encoded)
    }
}

/// Counts bytes written, to size the real buffer before writing into it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SecretBody<'_> {
    /// The JSON body, in a buffer allocated once at its final size and wiped on drop.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        let wire = Wire {
            api_version: "v1",
            kind: "Secret",
            metadata: self.metadata,
            type_: self.type_,
            immutable: self.immutable,
            data: self
                .data
                .iter()
                .map(|(k, v)| (k.as_str(), Base64(v)))
                .collect(),
        };
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, &wire)?;
        let mut body = Zeroizing::new(Vec::with_capacity(counter.0));
        serde_json::to_writer(&mut *body, &wire)?;
        debug_assert_eq!(body.len(), counter.0);
        let _ = body.flush();
        Ok(body)
    }
}

/// Bytes whose memory is wiped when the last reference is dropped.
struct Wiped(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Applies `body` (a Secret's JSON, see [`SecretBody::to_json`]) as Secret `namespace/name` with server-side
/// apply, `force`d, as `field_manager`; decodes the answer as `T` (pick a type that skips the values).
///
/// An error answer becomes `kube::Error::Api`, as kube's own calls return it.
pub async fn apply<T: DeserializeOwned>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    field_manager: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<T, kube::Error> {
    let url = format!(
        "/api/v1/namespaces/{namespace}/secrets/{name}?fieldManager={field_manager}&force=true"
    );
    let body = kube::client::Body::from(bytes::Bytes::from_owner(Wiped(body)));
    let request = http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .map_err(kube::Error::HttpError)?;
    let response = client.send(request).await?;
    let status = response.status();
    let answer = response.into_body().collect_bytes().await?;
    if status.is_client_error() || status.is_server_error() {
        let mut error: kube::core::Status = serde_json::from_slice(&answer).unwrap_or_else(|_| {
            kube::core::Status::failure("the API server's answer is not a Status", "")
        });
        error.code = status.as_u16();
        return Err(kube::Error::Api(Box::new(error)));
    }
    serde_json::from_slice(&answer).map_err(kube::Error::SerdeError)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;

    use super::*;

    #[test]
    fn the_body_is_the_json_of_the_same_secret() {
        let metadata = ObjectMeta {
            name: Some("db".into()),
            namespace: Some("prod".into()),
            labels: Some(BTreeMap::from([("app".into(), "db".into())])),
            ..ObjectMeta::default()
        };
        let data = BTreeMap::from([
            (
                "password".to_owned(),
                Zeroizing::new(b"s3cr3t\"\n".to_vec()),
            ),
            ("binary".to_owned(), Zeroizing::new(vec![0, 255, 1])),
        ]);
        let body = SecretBody {
            metadata: &metadata,
            type_: Some("Opaque"),
            immutable: Some(true),
            data: &data,
        }
        .to_json()
        .unwrap();
        assert_eq!(body.len(), body.capacity(), "the buffer was reallocated");
        let expected = Secret {
            metadata: metadata.clone(),
            type_: Some("Opaque".into()),
            immutable: Some(true),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let parsed: Secret = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn debug_names_keys_but_not_values() {
        let metadata = ObjectMeta::default();
        let data = BTreeMap::from([("k".to_owned(), Zeroizing::new(b"CANARY".to_vec()))]);
        let body = SecretBody {
            metadata: &metadata,
            type_: None,
            immutable: None,
            data: &data,
        };
        let debug = format!("{body:?}");
        assert!(
            debug.contains("\"k\"") && !debug.contains("CANARY"),
            "{debug}"
        );
    }
}
