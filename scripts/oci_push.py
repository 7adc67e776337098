"""Pushing tiny OCI images to a registry on loopback over plain HTTP, no Docker.

Used by scripts/push-test-image.py (the demo) and bench/webhook_latency.py.
Each tag gets its own config blob (the tag is a label), so each has its own digest.
"""
import hashlib
import http.client
import json
import sys
import time

LAYER = b"tagpilot test layer"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """Pushes tiny OCI images over plain HTTP (no Docker)."""

    def __init__(self, host, repository):
        self.conn = http.client.HTTPConnection(host, timeout=30)
        self.repository = repository
        self.upload(LAYER)

    def call(self, method, path, body=b"", headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: HTTP {response.status}")
        return response

    def upload(self, blob):
        location = self.call("POST", f"/v2/{self.repository}/blobs/uploads/").getheader("Location")
        if location.startswith("http"):
            location = "/" + location.split("/", 3)[3]
        separator = "&" if "?" in location else "?"
        self.call("PUT", f"{location}{separator}digest={digest(blob)}", blob,
                  {"Content-Type": "application/octet-stream"})

    def push(self, tag):
        """Uploads the blobs, then PUTs the manifest; returns the time just before that PUT."""
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Labels": {"tag": tag}},
                             "rootfs": {"type": "layers", "diff_ids": [digest(LAYER)]}}).encode()
        self.upload(config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest(LAYER), "size": len(LAYER)}],
        }).encode()
        started = time.monotonic()
        self.call("PUT", f"/v2/{self.repository}/manifests/{tag}", manifest,
                  {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        return started
