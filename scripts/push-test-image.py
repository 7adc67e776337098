#!/usr/bin/env python3
"""Pushes tiny test images to a local registry over plain HTTP, no Docker needed.

    push-test-image.py 127.0.0.1:PORT REPOSITORY TAG [TAG...]

Each tag gets its own config blob (the tag is a label), so each has its own
digest. Loopback only: the demo and benchmarks never talk to anything else.
"""
import hashlib
import http.client
import json
import sys

host, repository, tags = sys.argv[1], sys.argv[2], sys.argv[3:]
if not host.startswith(("127.0.0.1:", "localhost:")):
    sys.exit("push-test-image.py only pushes to a registry on loopback")
LAYER = b"tagpilot demo layer"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(conn, method, path, body=b"", headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    if response.status >= 300:
        sys.exit(f"{method} {path}: HTTP {response.status}")
    return response


def upload(conn, blob):
    location = call(conn, "POST", f"/v2/{repository}/blobs/uploads/").getheader("Location")
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    separator = "&" if "?" in location else "?"
    call(conn, "PUT", f"{location}{separator}digest={digest(blob)}", blob,
         {"Content-Type": "application/octet-stream"})


conn = http.client.HTTPConnection(host, timeout=30)
upload(conn, LAYER)
for tag in tags:
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Labels": {"tag": tag}},
                         "rootfs": {"type": "layers", "diff_ids": [digest(LAYER)]}}).encode()
    upload(conn, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(LAYER), "size": len(LAYER)}],
    }).encode()
    call(conn, "PUT", f"/v2/{repository}/manifests/{tag}", manifest,
         {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    print(f"pushed {host}/{repository}:{tag}")
