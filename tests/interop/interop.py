#!/usr/bin/env python3
"""Interoperability check: kseal's ciphertexts against an independent implementation of the format.

The format (the envelope and its scope labels) is re-implemented here with Python's `cryptography`:
RSA-OAEP (SHA-256, MGF1-SHA-256, the scope label as OAEP label) wraps a fresh 32-byte AES-256-GCM key;
the value is encrypted under a 12-byte all-zero nonce with no associated data; the envelope is
`u16 BE len(rsa) ‖ rsa ‖ aes-gcm ciphertext+tag`, standard base64 with padding in `encryptedData`.

Part 1: Python owns an RSA-4096 key; kseal seals with its certificate; Python opens.
Part 2: kseal owns the key (`kseal keygen`); Python seals; `kseal --recovery-unseal` opens.

Usage: interop.py --kseal PATH_TO_BINARY [--keep]
Prints one line per check and ends with `N passed, M failed`; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

NAMESPACE = "interop-ns"
NAME = "interop-secret"
NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
SCOPES = ("strict", "namespace-wide", "cluster-wide")
SCOPE_ANNOTATION = {"strict": None, "namespace-wide": NAMESPACE_WIDE, "cluster-wide": CLUSTER_WIDE}
COMMAND_TIMEOUT = 120  # seconds; a debug build seals with RSA-4096 quickly, this only catches hangs

# Values chosen to trip encoders: binary, empty, multi-line, non-ASCII, YAML-looking, long.
VALUES: dict[str, bytes] = {
    "password": b"hunter2",
    "binary": bytes(range(256)),
    "empty": b"",
    "multi-line": b"line one\nline two\n",
    "unicode": "p\u00e4ssw\u00f6rd \u2713".encode(),
    "yaml-ish": b"yes",
    "long": b"x" * 5000,
}
# Also given through `stringData` (kseal folds it into the sealed values).
STRING_DATA = {"username": "admin"}


# --- the format, independently ----------------------------------------------------------------------


def label_for(scope: str, namespace: str, name: str) -> bytes:
    """The OAEP label of a scope."""
    if scope == "strict":
        return f"{namespace}/{name}".encode()
    if scope == "namespace-wide":
        return namespace.encode()
    if scope == "cluster-wide":
        return b""
    raise ValueError(f"unknown scope {scope}")


def oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def seal(public_key: rsa.RSAPublicKey, label: bytes, plaintext: bytes) -> str:
    """Seals one value; returns the `encryptedData` string."""
    session_key = os.urandom(32)
    rsa_part = public_key.encrypt(session_key, oaep(label))
    body = AESGCM(session_key).encrypt(b"\0" * 12, plaintext, None)
    return base64.b64encode(len(rsa_part).to_bytes(2, "big") + rsa_part + body).decode()


def open_sealed(private_key: rsa.RSAPrivateKey, label: bytes, encoded: str) -> bytes:
    """Opens one `encryptedData` string; raises on any deviation from the format."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as e:
        raise AssertionError(f"not standard padded base64: {e}") from None
    if base64.b64encode(raw).decode() != encoded:
        raise AssertionError("base64 is not canonical standard base64 with padding")
    if len(raw) < 2:
        raise AssertionError(f"envelope is {len(raw)} bytes")
    rsa_len = int.from_bytes(raw[:2], "big")
    expected_rsa_len = private_key.key_size // 8
    if rsa_len != expected_rsa_len:
        raise AssertionError(f"length header {rsa_len}, expected {expected_rsa_len}")
    rsa_part, body = raw[2 : 2 + rsa_len], raw[2 + rsa_len :]
    if len(body) < 16:
        raise AssertionError(f"AES-GCM part is {len(body)} bytes, shorter than the tag")
    session_key = private_key.decrypt(rsa_part, oaep(label))
    if len(session_key) != 32:
        raise AssertionError(f"session key is {len(session_key)} bytes, expected 32")
    return AESGCM(session_key).decrypt(b"\0" * 12, body, None)


def opens_with(private_key: rsa.RSAPrivateKey, label: bytes, encoded: str) -> bool:
    try:
        open_sealed(private_key, label, encoded)
        return True
    except Exception:
        return False


def self_signed(bits: int) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate (PEM) for it, like the controller's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kseal-interop")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


# --- harness ----------------------------------------------------------------------------------------


class Checks:
    """Runs named checks, prints one line each, counts the results."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # an unexpected error is a failed check, not a crash of the suite
            self.failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {name}: {detail}", flush=True)
        else:
            self.passed += 1
            print(f"PASS {name}", flush=True)


class Kseal:
    """Runs the kseal binary in the work directory."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ)
        # No cluster: make sure nothing reaches for a real kubeconfig.
        env["KUBECONFIG"] = str(self.workdir / "no-kubeconfig")
        return subprocess.run(
            [str(self.binary), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=self.workdir,
            env=env,
            timeout=COMMAND_TIMEOUT,
        )

    def ok(self, *args: str, stdin: bytes | None = None) -> bytes:
        """Runs and requires exit status 0; returns stdout."""
        result = self.run(*args, stdin=stdin)
        if result.returncode != 0:
            raise AssertionError(describe_failure(args, result))
        return result.stdout


def describe_failure(args: tuple[str, ...], result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr.decode(errors="replace").strip()
    stdout = result.stdout.decode(errors="replace").strip()
    return (f"`kseal {' '.join(args)}` exited {result.returncode}; "
            f"stderr: {stderr[:800]!r}; stdout: {stdout[:300]!r}")


def parse_output(output: bytes, fmt: str) -> dict:
    text = output.decode()
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise AssertionError(f"stdout is not one JSON document: {e}") from None
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) != 1:
        raise AssertionError(f"stdout holds {len(docs)} YAML documents, expected 1")
    return docs[0]


def secret_manifest() -> str:
    data = {key: base64.b64encode(value).decode() for key, value in VALUES.items()}
    return yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": "interop"}},
        "type": "Opaque",
        "data": data,
        "stringData": STRING_DATA,
    }, sort_keys=False)


def expected_values() -> dict[str, bytes]:
    return {**VALUES, **{k: v.encode() for k, v in STRING_DATA.items()}}


# --- part 1: kseal seals, Python opens --------------------------------------------------------------


def check_sealed_secret(sealed: dict, scope: str, private_key: rsa.RSAPrivateKey) -> None:
    if sealed.get("apiVersion") != "bitnami.com/v1alpha1" or sealed.get("kind") != "SealedSecret":
        raise AssertionError(f"apiVersion/kind {sealed.get('apiVersion')}/{sealed.get('kind')}")
    metadata = sealed.get("metadata") or {}
    if metadata.get("name") != NAME or metadata.get("namespace") != NAMESPACE:
        raise AssertionError(f"metadata {metadata.get('namespace')}/{metadata.get('name')}")
    annotations = metadata.get("annotations") or {}
    want = SCOPE_ANNOTATION[scope]
    for annotation in (NAMESPACE_WIDE, CLUSTER_WIDE):
        value = annotations.get(annotation)
        if annotation == want and value != "true":
            raise AssertionError(f"annotation {annotation} is {value!r}, expected the string 'true'")
        if annotation != want and value not in (None, "false"):
            raise AssertionError(f"unexpected annotation {annotation}: {value!r}")
    encrypted = (sealed.get("spec") or {}).get("encryptedData") or {}
    expected = expected_values()
    if set(encrypted) != set(expected):
        raise AssertionError(f"encryptedData keys {sorted(encrypted)}, expected {sorted(expected)}")
    label = label_for(scope, NAMESPACE, NAME)
    for key, value in encrypted.items():
        if not isinstance(value, str):
            raise AssertionError(f"encryptedData.{key} is {type(value).__name__}, not a string")
        if not value.startswith("Ag"):
            raise AssertionError(f"encryptedData.{key} does not start with 'Ag' (RSA-4096 header)")
        try:
            plain = open_sealed(private_key, label, value)
        except Exception as e:
            raise AssertionError(f"encryptedData.{key} does not open with label {label!r}: {e!r}")
        if plain != expected[key]:
            raise AssertionError(f"encryptedData.{key} opens to {plain[:40]!r}, expected "
                                 f"{expected[key][:40]!r}")
    # The label really binds the scope: a wrong label must not open.
    wrong = b"other-ns/" + NAME.encode() if scope != "cluster-wide" else b"x"
    first = next(iter(encrypted.values()))
    if opens_with(private_key, wrong, first):
        raise AssertionError(f"a value also opens with the wrong label {wrong!r}")
    template = (sealed.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if labels.get("app") != "interop":
        raise AssertionError(f"spec.template.metadata.labels lost the Secret's labels: {labels}")


def part1(checks: Checks, kseal: Kseal, work: Path) -> None:
    private_key, cert_pem = self_signed(4096)
    cert = work / "python-cert.pem"
    cert.write_bytes(cert_pem)
    secret = work / "secret.yaml"
    secret.write_text(secret_manifest())

    for scope in SCOPES:
        for fmt in ("yaml", "json"):
            def seal_and_open(scope: str = scope, fmt: str = fmt) -> None:
                out = kseal.ok("--cert", str(cert), "-f", str(secret), "-o", fmt, "--scope", scope)
                check_sealed_secret(parse_output(out, fmt), scope, private_key)
            checks.run(f"kseal seals ({scope}, -o {fmt}), Python opens", seal_and_open)

    def seal_from_stdin() -> None:
        out = kseal.ok("--cert", str(cert), "-o", "json", stdin=secret.read_bytes())
        check_sealed_secret(parse_output(out, "json"), "strict", private_key)
    checks.run("kseal seals a Secret read from stdin (default scope strict)", seal_from_stdin)

    value_file = work / "raw-value.bin"
    value_file.write_bytes(b"raw \x00\xff value\n")
    raw_cases = {
        "strict": ("--namespace", NAMESPACE, "--name", NAME),
        "namespace-wide": ("--namespace", NAMESPACE),
        "cluster-wide": (),
    }
    for scope, scope_args in raw_cases.items():
        def raw(scope: str = scope, scope_args: tuple[str, ...] = scope_args) -> None:
            out = kseal.ok("--raw", "--cert", str(cert), "--scope", scope, *scope_args,
                           "--from-file", str(value_file))
            text = out.decode()
            if text != text.strip():
                raise AssertionError(f"--raw output has surrounding whitespace: {text[-5:]!r}")
            plain = open_sealed(private_key, label_for(scope, NAMESPACE, NAME), text)
            if plain != value_file.read_bytes():
                raise AssertionError(f"--raw value opens to {plain!r}")
        checks.run(f"kseal --raw --scope {scope}, Python opens", raw)


# --- part 2: Python seals, kseal opens --------------------------------------------------------------


def sealed_secret_manifest(public_key: rsa.RSAPublicKey, scope: str, namespace: str, name: str,
                           values: dict[str, bytes], label_name: str | None = None,
                           label_namespace: str | None = None) -> str:
    """A SealedSecret sealed by Python; `label_*` seal under another identity (to test moves)."""
    label = label_for(scope, label_namespace or namespace, label_name or name)
    metadata: dict = {"name": name, "namespace": namespace}
    if SCOPE_ANNOTATION[scope]:
        metadata["annotations"] = {SCOPE_ANNOTATION[scope]: "true"}
    return yaml.safe_dump({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {
            "encryptedData": {k: seal(public_key, label, v) for k, v in values.items()},
            "template": {"metadata": {"name": name, "namespace": namespace}, "type": "Opaque"},
        },
    }, sort_keys=False)


def check_unsealed(out: bytes, namespace: str, name: str, values: dict[str, bytes]) -> None:
    secret = parse_output(out, "json")
    if secret.get("kind") != "Secret":
        raise AssertionError(f"kind {secret.get('kind')!r}, expected Secret")
    metadata = secret.get("metadata") or {}
    if metadata.get("name") != name or metadata.get("namespace") != namespace:
        raise AssertionError(f"metadata {metadata.get('namespace')}/{metadata.get('name')}")
    data = secret.get("data") or {}
    if set(data) != set(values):
        raise AssertionError(f"data keys {sorted(data)}, expected {sorted(values)}")
    for key, value in values.items():
        got = base64.b64decode(data[key], validate=True)
        if got != value:
            raise AssertionError(f"data.{key} is {got[:40]!r}, expected {value[:40]!r}")


def part2(checks: Checks, kseal: Kseal, work: Path) -> None:
    key_file, cert_file = work / "kseal-key.pem", work / "kseal-cert.pem"
    state: dict = {}

    def keygen() -> None:
        kseal.ok("keygen", "--key-file", str(key_file), "--cert-file", str(cert_file),
                 "--bits", "2048")
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != 2048:
            raise AssertionError(f"certificate key is {public_key!r}, expected RSA-2048")
        private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if private_key.public_key().public_numbers() != public_key.public_numbers():
            raise AssertionError("the key file does not match the certificate")
        state["public"], state["private"] = public_key, private_key
    checks.run("kseal keygen --bits 2048 writes a matching key and certificate", keygen)
    if "public" not in state:
        return
    public_key = state["public"]

    def unseal(manifest: str, file_name: str) -> subprocess.CompletedProcess[bytes]:
        path = work / file_name
        path.write_text(manifest)
        return kseal.run("--recovery-unseal", "--recovery-private-key", str(key_file),
                         "-f", str(path), "-o", "json")

    for scope in SCOPES:
        def python_seals(scope: str = scope) -> None:
            manifest = sealed_secret_manifest(public_key, scope, NAMESPACE, NAME, VALUES)
            result = unseal(manifest, f"sealed-{scope}.yaml")
            if result.returncode != 0:
                raise AssertionError(describe_failure(("--recovery-unseal", "..."), result))
            check_unsealed(result.stdout, NAMESPACE, NAME, VALUES)
        checks.run(f"Python seals ({scope}), kseal --recovery-unseal opens", python_seals)

    def round_trip() -> None:
        # kseal seals with its own certificate; Python opens with kseal's private key.
        secret = work / "secret.yaml"
        out = kseal.ok("--cert", str(cert_file), "-f", str(secret), "-o", "json")
        encrypted = parse_output(out, "json")["spec"]["encryptedData"]
        plain = open_sealed(state["private"], label_for("strict", NAMESPACE, NAME),
                            encrypted["password"])
        if plain != VALUES["password"]:
            raise AssertionError(f"opens to {plain!r}")
    checks.run("kseal seals with a keygen certificate, Python opens with the key file", round_trip)

    def must_fail(manifest: str, file_name: str) -> None:
        result = unseal(manifest, file_name)
        stderr = result.stderr.decode(errors="replace")
        if result.returncode != 1:
            raise AssertionError(f"exit status {result.returncode}, expected 1; stderr: "
                                 f"{stderr.strip()[:400]!r}; stdout: {result.stdout[:200]!r}")
        if not any(line.startswith("error: ") for line in stderr.splitlines()):
            raise AssertionError(f"stderr has no line starting with 'error: ': {stderr[:400]!r}")
        secret_bytes = b"hunter2"
        if secret_bytes in result.stdout or secret_bytes in result.stderr:
            raise AssertionError("the plaintext leaked into the output")

    def must_open(manifest: str, file_name: str, namespace: str, name: str) -> None:
        result = unseal(manifest, file_name)
        if result.returncode != 0:
            raise AssertionError(describe_failure(("--recovery-unseal", "..."), result))
        check_unsealed(result.stdout, namespace, name, {"password": b"hunter2"})

    one = {"password": b"hunter2"}
    checks.run("strict SealedSecret renamed: kseal exits 1 with 'error: '", lambda: must_fail(
        sealed_secret_manifest(public_key, "strict", NAMESPACE, "renamed", one, label_name=NAME),
        "renamed-strict.yaml"))
    checks.run("strict SealedSecret moved to another namespace: kseal exits 1", lambda: must_fail(
        sealed_secret_manifest(public_key, "strict", "other-ns", NAME, one,
                               label_namespace=NAMESPACE),
        "moved-strict.yaml"))
    checks.run("namespace-wide SealedSecret renamed still opens", lambda: must_open(
        sealed_secret_manifest(public_key, "namespace-wide", NAMESPACE, "renamed", one,
                               label_name=NAME),
        "renamed-namespace-wide.yaml", NAMESPACE, "renamed"))
    checks.run("namespace-wide SealedSecret moved: kseal exits 1", lambda: must_fail(
        sealed_secret_manifest(public_key, "namespace-wide", "other-ns", NAME, one,
                               label_namespace=NAMESPACE),
        "moved-namespace-wide.yaml"))
    checks.run("cluster-wide SealedSecret moved and renamed still opens", lambda: must_open(
        sealed_secret_manifest(public_key, "cluster-wide", "other-ns", "renamed", one,
                               label_namespace=NAMESPACE, label_name=NAME),
        "moved-cluster-wide.yaml", "other-ns", "renamed"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kseal", required=True, type=Path, help="path to the kseal binary")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    binary = args.kseal.resolve()
    if not os.access(binary, os.X_OK):
        print(f"error: {binary} is not an executable file", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="kseal-interop-"))
    checks = Checks()
    try:
        kseal = Kseal(binary, work)
        part1(checks, kseal, work)
        part2(checks, kseal, work)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
