#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/ (committed; rerun only to change them).

Envelopes are sealed for fixtures/fuzz-only-key.pem with the strict label `fuzz-ns/fuzz-name` (the label
the `envelope` target tries first), so mutations reach the AES-GCM step. Needs Python `cryptography`.
"""

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
STRICT_LABEL = b"fuzz-ns/fuzz-name"


def seal(public_key, label: bytes, plaintext: bytes) -> bytes:
    session_key = os.urandom(32)
    rsa_part = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    body = AESGCM(session_key).encrypt(b"\0" * 12, plaintext, None)
    return len(rsa_part).to_bytes(2, "big") + rsa_part + body


def write(target: str, name: str, content: bytes) -> None:
    path = HERE / "seeds" / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def main() -> None:
    pem = (HERE / "fixtures" / "fuzz-only-key.pem").read_bytes()
    public_key = serialization.load_pem_private_key(pem, password=None).public_key()

    hello = seal(public_key, STRICT_LABEL, b"hello")
    write("envelope", "strict-hello.bin", hello)
    write("envelope", "strict-empty.bin", seal(public_key, STRICT_LABEL, b""))
    write("envelope", "strict-binary.bin", seal(public_key, STRICT_LABEL, bytes(range(256))))
    write("envelope", "cluster-wide.bin", seal(public_key, b"", b"cluster value"))
    write("envelope", "strict-hello.b64", base64.b64encode(hello))
    write("envelope", "truncated.bin", hello[:200])
    write("envelope", "header-only.bin", b"\x01\x00")
    write("envelope", "zero-rsa-len.bin", b"\x00\x00" + b"\x00" * 16)

    def sealed_b64(value: bytes, label: bytes = STRICT_LABEL) -> str:
        return base64.b64encode(seal(public_key, label, value)).decode()

    write("manifest", "secret.yaml", b"""\
apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: prod
  labels: {team: a}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{}'
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: admin
  enabled: "yes"
""")
    write("manifest", "secret.json", json.dumps({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "app", "namespace": "prod"},
        "data": {"a": "YQ=="}, "immutable": True,
    }).encode())
    write("manifest", "list-and-multidoc.yaml", b"""\
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Secret, metadata: {name: one}, stringData: {k: v}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}
---
---
apiVersion: v1
kind: Secret
metadata: {name: three, namespace: x, annotations: {sealedsecrets.bitnami.com/cluster-wide: "true"}}
data: {k: "!!bad base64"}
""")
    write("manifest", "sealed-strict.yaml", f"""\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: fuzz-name
  namespace: fuzz-ns
spec:
  encryptedData:
    password: {sealed_b64(b"hunter2")}
    user: {sealed_b64(b"admin")}
  template:
    metadata:
      name: fuzz-name
      labels: {{app: web}}
    type: Opaque
    data:
      url: '{{{{ printf "postgres://%s:%s@db" .user .password | b64enc | b64dec | upper }}}}'
      cfg: '{{{{ index . "user" | quote }}}}{{{{ if eq .user "admin" }}}}x{{{{ end }}}}'
""".encode())
    write("manifest", "sealed-cluster-wide.json", json.dumps({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "n", "namespace": "ns",
                     "annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}},
        "spec": {"encryptedData": {"k": sealed_b64(b"value", b"")},
                 "template": {"data": {"j": "{{ .k | toJson }}"}}},
    }).encode())
    write("manifest", "sealed-legacy-data.yaml", f"""\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {{name: fuzz-name, namespace: fuzz-ns}}
spec:
  data: {sealed_b64(json.dumps({"apiVersion": "v1", "kind": "Secret", "data": {"a": "YQ=="}}).encode())}
""".encode())


if __name__ == "__main__":
    main()
