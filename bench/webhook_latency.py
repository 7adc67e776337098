#!/usr/bin/env python3
"""Push-to-commit latency of `tagpilot run --listen` on loopback.

    webhook_latency.py TAGPILOT_BINARY [PUSHES] [REPOS]

Starts a CNCF distribution registry (Debian's docker-registry) whose
notifications go to tagpilot's webhook, a bare config repository, and
`tagpilot run` with one-hour intervals (so only the webhook can trigger
anything).

With REPOS 1 (the default), PUSHES times: pushes a new tag's manifest and
waits for the commit that bumps the marker to it. The latency of one push is
from just before the manifest PUT (the moment the tag appears) until the bare
repository's `main` names the commit. Prints every latency, the median and
the 90th percentile.

With REPOS N > 1 (a burst, issue 19): N ImageRepositories and policies, one
marker file each, one automation; then one push of a new tag to each of the N
repositories, spread evenly over one second (one thread per push). The latency
of a push is until the first commit on `main` whose tree holds its new tag.
Prints p50, p99 and max, the commits made, and whether every push was
committed (the exit status is 1 if one was not within 60 s).

Everything runs on 127.0.0.1 in a temporary directory.
"""
import threading
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


def metric(url, line_start):
    """The value of the first metrics line that starts with `line_start` (0 if none)."""
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    return 0


def burst(bare, pushers, work, metrics):
    """One new tag in each repository within one second; returns the exit status."""
    ref = f"{bare}/refs/heads/main"

    def head():
        with open(ref) as f:
            return f.read().strip()

    def committed(tag):
        """The marker files whose tag is `tag` at `main` (one git call)."""
        found = subprocess.run(["git", "-C", bare, "grep", "-l", "-F", f":{tag} #", "main", "--", "apps"],
                               capture_output=True, text=True).stdout
        return {line.split("/")[-1].removesuffix(".yaml") for line in found.splitlines()}

    # Every policy has its first result (1.0.0, which every file holds: no commit).
    wait_until("every policy's first result", lambda: metric(
        metrics, 'tagpilot_policy_evaluations_total{result="ok"}') >= len(pushers), timeout=60)
    base = head()
    tag = "1.0.1"
    names = sorted(pushers)
    step = 1.0 / len(names)
    started = {}
    go = time.monotonic() + 0.2

    def push(index, name):
        delay = go + index * step - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started[name] = pushers[name].push(tag)

    threads = [threading.Thread(target=push, args=(i, n)) for i, n in enumerate(names)]
    for thread in threads:
        thread.start()
    done = {}
    last = base
    deadline = time.monotonic() + 60
    while len(done) < len(names) and time.monotonic() < deadline:
        now_head = head()
        if now_head != last:
            seen = time.monotonic()
            last = now_head
            for name in committed(tag) - done.keys():
                done[name] = seen
        time.sleep(0.002)
    for thread in threads:
        thread.join()
    commits = int(subprocess.run(["git", "-C", bare, "rev-list", "--count", f"{base}..main"],
                                 capture_output=True, text=True, check=True).stdout)
    latencies = sorted(done[name] - started[name] for name in done if name in started)
    spread = max(started.values()) - min(started.values())
    missing = sorted(set(names) - done.keys())
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(round(0.99 * len(latencies))) - 1)]
        print(f"burst: {len(names)} pushes to {len(names)} repositories in {spread:.2f} s  "
              f"p50: {p50 * 1000:.0f} ms  p99: {p99 * 1000:.0f} ms  max: {latencies[-1] * 1000:.0f} ms  "
              f"commits: {commits}  committed: {len(done)}/{len(names)}  "
              f"load: {os.getloadavg()[0]:.2f}")
    if missing:
        print(f"not committed within 60 s: {' '.join(missing)}; see {work}/tagpilot.log", file=sys.stderr)
        return 1
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tagpilot = os.path.abspath(sys.argv[1])
    pushes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    repos = int(sys.argv[3]) if len(sys.argv) > 3 else 1
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
        names = ["app"] if repos == 1 else [f"app-{i:02}" for i in range(repos)]
        for name in names:
            with open(f"{seed}/apps/{name}.yaml", "w") as f:
                f.write(f'image: {registry}/bench/{name}:1.0.0 # {{"$imagepolicy": "bench:{name}"}}\n')
        git("add", "-A", cwd=seed)
        git("commit", "-qm", "Initial config", cwd=seed)
        git("push", "-q", bare, "main", cwd=seed)

        config = f"{work}/tagpilot"
        os.makedirs(config)
        with open(f"{config}/objects.yaml", "w") as f:
            for name in names:
                f.write(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: {name}, namespace: bench}}
spec: {{image: {registry}/bench/{name}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: {name}, namespace: bench}}
spec:
  imageRepositoryRef: {{name: {name}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
---
""")
            f.write(f"""apiVersion: source.toolkit.fluxcd.io/v1
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
        pushers = {name: Pusher(registry, f"bench/{name}") for name in names}
        for pusher in pushers.values():
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
        if repos > 1:
            return burst(bare, pushers, work, metrics)
        pusher = pushers["app"]

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
    sys.exit(main())
