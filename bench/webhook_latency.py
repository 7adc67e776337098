#!/usr/bin/env python3
"""Push-to-commit latency of `tagpilot run --listen` on loopback.

    webhook_latency.py TAGPILOT_BINARY [PUSHES]

Starts a CNCF distribution registry (Debian's docker-registry) whose
notifications go to tagpilot's webhook, a bare config repository, and
`tagpilot run` with one-hour intervals (so only the webhook can trigger
anything). Then, PUSHES times: pushes a new tag's manifest and waits for the
commit that bumps the marker to it. The latency of one push is from just
before the manifest PUT (the moment the tag appears) until the bare
repository's `main` names the commit. Prints every latency, the median and
the 90th percentile. Everything runs on 127.0.0.1 in a temporary directory.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from oci_push import Pusher  # noqa: E402

TOKEN = "bench-webhook-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    sys.exit(f"timed out waiting for {what}")


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def git(*args, cwd=None):
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


def start_registry(work, listen_port, notify_timeout):
    """Starts distribution 2.8 on a free port with its data under `work`, sending
    push notifications to tagpilot's webhook on `listen_port`; returns the
    process and its `host:port` once it answers."""
    registry_bin = shutil.which("docker-registry")
    if not registry_bin:
        sys.exit("docker-registry is missing: apt-get install docker-registry")
    registry = f"127.0.0.1:{free_port()}"
    with open(f"{work}/registry.yml", "w") as f:
        f.write(f"""version: 0.1
log: {{level: error, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: {work}/registry}}, delete: {{enabled: true}}}}
http: {{addr: {registry}, secret: bench}}
notifications:
  endpoints:
    - name: tagpilot
      url: http://127.0.0.1:{listen_port}/webhook/registry
      headers: {{Authorization: [Bearer {TOKEN}]}}
      timeout: {notify_timeout}
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
""")
    log = open(f"{work}/registry.log", "w")
    process = subprocess.Popen([registry_bin, "serve", f"{work}/registry.yml"],
                               stdout=log, stderr=log)
    wait_until("the registry", lambda: answers(f"http://{registry}/v2/"))
    return process, registry


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tagpilot = os.path.abspath(sys.argv[1])
    pushes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    work = tempfile.mkdtemp(prefix="tagpilot-webhook-bench-")
    processes = []
    try:
        listen_port = free_port()
        process, registry = start_registry(work, listen_port, "1s")
        processes.append(process)

        bare, seed = f"{work}/config.git", f"{work}/seed"
        git("init", "-q", "--bare", "-b", "main", bare)
        git("init", "-q", "-b", "main", seed)
        os.makedirs(f"{seed}/apps")
        with open(f"{seed}/apps/app.yaml", "w") as f:
            f.write(f'image: {registry}/bench/app:1.0.0 # {{"$imagepolicy": "bench:app"}}\n')
        git("add", "-A", cwd=seed)
        git("commit", "-qm", "Initial config", cwd=seed)
        git("push", "-q", bare, "main", cwd=seed)

        config = f"{work}/tagpilot"
        os.makedirs(config)
        with open(f"{config}/objects.yaml", "w") as f:
            f.write(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: bench}}
spec: {{image: {registry}/bench/app, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: bench}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: config, namespace: bench}}
spec: {{url: "file://{bare}", ref: {{branch: main}}, interval: 1h}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: bench, namespace: bench}}
spec:
  interval: 1h
  sourceRef: {{kind: GitRepository, name: config}}
  git:
    commit:
      author: {{name: tagpilot, email: tagpilot@example.com}}
  update: {{path: ./apps, strategy: Setters}}
""")
        with open(f"{work}/token", "w") as f:
            f.write(TOKEN + "\n")
        pusher = Pusher(registry, "bench/app")
        pusher.push("1.0.0")
        log = open(f"{work}/tagpilot.log", "w")
        processes.append(subprocess.Popen(
            [tagpilot, "--log-level", "warn", "run", "--config", config,
             "--state-dir", f"{work}/state", "--listen", f"127.0.0.1:{listen_port}",
             "--webhook-token-file", f"{work}/token"],
            stdout=log, stderr=log, env=dict(os.environ, AWS_EC2_METADATA_DISABLED="true")))
        metrics = f"http://127.0.0.1:{listen_port}/metrics"
        wait_until("tagpilot's first cycle", lambda: answers(metrics) and b'tagpilot_scans_total{result="ok"}'
                   in urllib.request.urlopen(metrics).read())

        ref = f"{bare}/refs/heads/main"

        def head():
            with open(ref) as f:
                return f.read().strip()

        latencies = []
        for index in range(1, pushes + 1):
            tag = f"1.0.{index}"
            before = head()
            started = pusher.push(tag)
            while head() == before:
                if time.monotonic() - started > 30:
                    sys.exit(f"no commit for {tag} after 30 s; see {work}/tagpilot.log")
                time.sleep(0.002)
            latency = time.monotonic() - started
            latencies.append(latency)
            print(f"push {index:3} {tag:8} commit after {latency * 1000:7.1f} ms")
        content = git("show", "main:apps/app.yaml", cwd=bare)
        assert f":1.0.{pushes} #" in content, content
        latencies.sort()
        p90 = latencies[min(len(latencies) - 1, int(round(0.9 * len(latencies))) - 1)]
        print(f"pushes: {pushes}  median: {statistics.median(latencies) * 1000:.1f} ms  "
              f"p90: {p90 * 1000:.1f} ms  max: {latencies[-1] * 1000:.1f} ms")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
