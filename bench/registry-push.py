#!/usr/bin/env python3
"""Fills a local registry for bench/registry-scan.sh: REPOS repositories x TAGS tags.

Each repository gets the two blobs once (POST, then PUT with the digest), then one manifest
PUT per tag; the manifest carries the tag as an annotation so every tag has its
own digest without extra blobs. Threads with keep-alive connections keep 100,000
PUTs within a few minutes on 2 cores. Loopback only.
"""
import hashlib
import http.client
import json
import sys
from concurrent.futures import ThreadPoolExecutor

HOST, REPOS, TAGS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
WORKERS = int(sys.argv[4]) if len(sys.argv) > 4 else 6
assert HOST.startswith("127.0.0.1:"), "the benchmark only talks to loopback"

LAYER = b"tagpilot bench layer"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(LAYER).hexdigest()]}}).encode()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(conn, method, path, body=b"", headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return response


def push_repository(index):
    name = f"bench/app-{index:04d}"
    conn = http.client.HTTPConnection(HOST, timeout=60)
    for blob in (LAYER, CONFIG):
        location = request(conn, "POST", f"/v2/{name}/blobs/uploads/").getheader("Location")
        path = location.split(HOST, 1)[-1] if "://" in location else location
        separator = "&" if "?" in path else "?"
        request(conn, "PUT", f"{path}{separator}digest={digest(blob)}", blob,
                {"Content-Type": "application/octet-stream"})
    for tag_index in range(TAGS):
        tag = f"1.{tag_index // 50}.{tag_index % 50}"
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(CONFIG), "size": len(CONFIG)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(LAYER), "size": len(LAYER)}],
            "annotations": {"dev.tagpilot.bench.tag": tag},
        }).encode()
        request(conn, "PUT", f"/v2/{name}/manifests/{tag}", manifest,
                {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    conn.close()
    return TAGS


with ThreadPoolExecutor(WORKERS) as pool:
    pushed = 0
    for count in pool.map(push_repository, range(REPOS)):
        pushed += count
        if pushed % (TAGS * 50) == 0:
            print(f"pushed {pushed} tags", file=sys.stderr, flush=True)
print(f"pushed {REPOS} repositories x {TAGS} tags", file=sys.stderr)
