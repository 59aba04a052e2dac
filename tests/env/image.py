"""Writes a one-layer container image of host files in `docker save` format, without Docker.

`ctr -n k8s.io images import` reads the archive (tests/env/node imports the sandbox image, the
cluster suite imports the kseal-controller image). Every file is owned by root, its mode given;
nothing else is in the image (no shell, no /etc/passwd): a numeric --user is all runAsNonRoot needs.

Usage: python3 image.py --out FILE --tag NAME:TAG [--user UID:GID] [--port 8080]
                        --entrypoint /PATH --file SRC=/DEST[:MODE]...
"""

import argparse
import hashlib
import io
import json
import tarfile


def add_dirs(tar, seen, path):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d in seen:
            continue
        seen.add(d)
        info = tarfile.TarInfo(d + "/")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)


def layer(files):
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, dest, mode in files:
            add_dirs(tar, seen, dest)
            with open(src, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--user", default="")
    parser.add_argument("--port", action="append", default=[])
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--file", action="append", required=True, help="SRC=/DEST[:MODE]")
    args = parser.parse_args()

    files = []
    for spec in args.file:
        src, dest = spec.split("=", 1)
        mode = 0o644
        if ":" in dest:
            dest, octal = dest.rsplit(":", 1)
            mode = int(octal, 8)
        files.append((src, dest, mode))

    layer_tar = layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": [args.entrypoint],
            "Env": ["PATH=/"],
            **({"User": args.user} if args.user else {}),
            **({"ExposedPorts": {f"{p}/tcp": {} for p in args.port}} if args.port else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/env/image.py"}],
    }
    config_json = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_json).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": [layer_name]}]

    with tarfile.open(args.out, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, data in (
            (layer_name, layer_tar),
            (config_name, config_json),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
