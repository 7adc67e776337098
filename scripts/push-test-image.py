#!/usr/bin/env python3
"""Pushes tiny test images to a local registry over plain HTTP, no Docker needed.

    push-test-image.py 127.0.0.1:PORT REPOSITORY TAG [TAG...]

Loopback only: the demo and benchmarks never talk to anything else.
"""
import sys

from oci_push import Pusher

host, repository, tags = sys.argv[1], sys.argv[2], sys.argv[3:]
if not host.startswith(("127.0.0.1:", "localhost:")):
    sys.exit("push-test-image.py only pushes to a registry on loopback")
pusher = Pusher(host, repository)
for tag in tags:
    pusher.push(tag)
    print(f"pushed {host}/{repository}:{tag}")
