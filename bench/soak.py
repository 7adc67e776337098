#!/usr/bin/env python3
"""Soak test of the standalone daemon: many images, a steady stream of pushes.

    soak.py TAGPILOT_BINARY [SECONDS] [REPOSITORIES] [PUSH_EVERY]

Starts a CNCF distribution registry (Debian's docker-registry) whose push
notifications go to `tagpilot run --listen` (webhooks on), a bare config
repository with one marked file per image (`apps/app-NNN.yaml`), and the daemon
with one-minute intervals (so the periodic scans run too). Then, for SECONDS,
pushes a new tag every PUSH_EVERY seconds, going round the repositories in a
shuffled order (so two pushes of one repository are far apart and no bump can
hide behind another). Afterwards waits for the daemon to catch up and checks:

  - every pushed tag was committed exactly once (a `+image:` line in exactly
    one commit), and every file names its repository's last tag;
  - the bare repository passes `git fsck` and its history is linear;
  - RSS and open file descriptors of the daemon at start, every 30 s, and at
    the end; ERROR and WARN lines in its log.

Exits 1 if a bump is missing or duplicated. Everything runs on 127.0.0.1 in a
temporary directory (kept with KEEP=1).
"""
import collections
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from oci_push import Pusher  # noqa: E402
from webhook_latency import answers, free_port, git, start_registry, wait_until, TOKEN  # noqa: E402


def proc_stats(pid):
    """(RSS in KiB, open file descriptors) of a live process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def objects(registry, bare, count):
    docs = []
    for index in range(count):
        name = f"app-{index:03}"
        docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: {name}, namespace: soak}}
spec: {{image: {registry}/soak/{name}, interval: 1m, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: {name}, namespace: soak}}
spec:
  imageRepositoryRef: {{name: {name}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
""")
    docs.append(f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: config, namespace: soak}}
spec: {{url: "file://{bare}", ref: {{branch: main}}, interval: 1m}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: soak, namespace: soak}}
spec:
  interval: 1m
  sourceRef: {{kind: GitRepository, name: config}}
  git:
    commit:
      author: {{name: tagpilot, email: tagpilot@example.com}}
  update: {{path: ./apps, strategy: Setters}}
""")
    return "---\n".join(docs)


def committed_tags(bare):
    """({(app, tag): number of commits whose diff adds that image line},
    {(app, tag): commit time in whole seconds of the first such commit})."""
    counts = collections.Counter()
    times = {}
    log = git("log", "-p", "--format=commit %ct", "main", "--", "apps", cwd=bare)
    when = 0
    for line in log.splitlines():
        if line.startswith("commit "):
            when = int(line.split()[1])
            continue
        match = re.match(r"^\+image: \S+/soak/(app-\d+):(\S+) #", line)
        if match:
            key = (match.group(1), match.group(2))
            counts[key] += 1
            times[key] = min(times.get(key, when), when)
    return counts, times


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tagpilot = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 600
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    every = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    work = tempfile.mkdtemp(prefix="tagpilot-soak-")
    processes = []
    failed = False
    try:
        listen_port = free_port()
        process, registry = start_registry(work, listen_port, "2s")
        processes.append(process)

        names = [f"app-{index:03}" for index in range(count)]
        pushers = {name: Pusher(registry, f"soak/{name}") for name in names}
        for pusher in pushers.values():
            pusher.push("1.0.0")

        bare, seed = f"{work}/config.git", f"{work}/seed"
        git("init", "-q", "--bare", "-b", "main", bare)
        git("init", "-q", "-b", "main", seed)
        os.makedirs(f"{seed}/apps")
        for name in names:
            with open(f"{seed}/apps/{name}.yaml", "w") as f:
                f.write(f'image: {registry}/soak/{name}:1.0.0 # {{"$imagepolicy": "soak:{name}"}}\n')
        git("add", "-A", cwd=seed)
        git("commit", "-qm", "Initial config", cwd=seed)
        git("push", "-q", bare, "main", cwd=seed)
        initial_commits = int(git("rev-list", "--count", "main", cwd=bare))

        config = f"{work}/tagpilot"
        os.makedirs(config)
        with open(f"{config}/objects.yaml", "w") as f:
            f.write(objects(registry, bare, count))
        with open(f"{work}/token", "w") as f:
            f.write(TOKEN + "\n")
        daemon_log = f"{work}/tagpilot.log"
        log = open(daemon_log, "w")
        daemon = subprocess.Popen(
            [tagpilot, "--log-level", "info", "run", "--config", config,
             "--state-dir", f"{work}/state", "--listen", f"127.0.0.1:{listen_port}",
             "--webhook-token-file", f"{work}/token"],
            stdout=log, stderr=log, env=dict(os.environ, AWS_EC2_METADATA_DISABLED="true"))
        processes.append(daemon)
        metrics = f"http://127.0.0.1:{listen_port}/metrics"
        wait_until("tagpilot's first cycle", lambda: answers(metrics) and b'tagpilot_scans_total{result="ok"}'
                   in urllib.request.urlopen(metrics).read(), timeout=120)
        start_rss, start_fds = proc_stats(daemon.pid)
        print(f"start: rss {start_rss} KiB, fds {start_fds}", flush=True)

        rng = random.Random(8)
        order = []
        latest = {name: (1, 0, 0) for name in names}
        pushed = []
        samples = [(0, start_rss, start_fds)]
        started = time.monotonic()
        next_push = started
        next_sample = started + 30
        while time.monotonic() - started < seconds:
            if daemon.poll() is not None:
                sys.exit(f"tagpilot exited with {daemon.returncode}; see {daemon_log}")
            if not order:
                order = names[:]
                rng.shuffle(order)
            name = order.pop()
            major, minor, patch = latest[name]
            latest[name] = (major, minor, patch + 1)
            tag = "%d.%d.%d" % latest[name]
            pushers[name].push(tag)
            pushed.append((name, tag, time.time()))
            now = time.monotonic()
            if now >= next_sample:
                rss, fds = proc_stats(daemon.pid)
                samples.append((int(now - started), rss, fds))
                print(f"{int(now - started):4} s: {len(pushed)} pushes, rss {rss} KiB, fds {fds}", flush=True)
                next_sample += 30
            next_push += every
            time.sleep(max(0.0, next_push - time.monotonic()))

        def caught_up():
            for name in names:
                want = "%d.%d.%d" % latest[name]
                text = git("show", f"main:apps/{name}.yaml", cwd=bare)
                if f":{want} #" not in text:
                    return False
            return True
        pushing_ended = time.monotonic()
        wait_until("the last pushes to be committed", caught_up, timeout=180)
        print(f"caught up {time.monotonic() - pushing_ended:.1f} s after the last push", flush=True)
        end_rss, end_fds = proc_stats(daemon.pid)
        samples.append((int(time.monotonic() - started), end_rss, end_fds))

        counts, times = committed_tags(bare)
        missing = [(name, tag) for name, tag, _ in pushed if counts[(name, tag)] == 0]
        # Commit times have whole-second resolution: latencies are rounded up to it.
        by_push = sorted(((max(0.0, times[(name, tag)] + 1 - at), name, tag)
                          for name, tag, at in pushed if (name, tag) in times), reverse=True)
        latencies = sorted(latency for latency, _, _ in by_push)
        slow = [f"{name}:{tag} {latency:.0f} s" for latency, name, tag in by_push if latency > 5]
        duplicated = [(key, n) for key, n in counts.items() if n > 1]
        commits = int(git("rev-list", "--count", "main", cwd=bare)) - initial_commits
        merges = git("rev-list", "--min-parents=2", "main", cwd=bare).split()
        fsck = subprocess.run(["git", "fsck", "--strict"], cwd=bare, capture_output=True, text=True)
        with open(daemon_log, errors="replace") as f:
            lines = f.read().splitlines()
        errors = [line for line in lines if " ERROR " in line]
        warnings = [line for line in lines if " WARN " in line]

        print(f"duration: {seconds:.0f} s, repositories: {count}, pushes: {len(pushed)} (one every {every} s)")
        print(f"bumps committed: {len(pushed) - len(missing)} of {len(pushed)} expected; "
              f"missing: {len(missing)}, committed twice: {len(duplicated)}")
        print(f"commits: {commits} (pushes are batched when they land in one cycle), merges: {len(merges)}, "
              f"git fsck: {'clean' if fsck.returncode == 0 and not fsck.stdout.strip() else fsck.stdout + fsck.stderr}")
        if latencies:
            median = latencies[len(latencies) // 2]
            p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
            print(f"push -> commit (1 s resolution, upper bounds): median {median:.1f} s, "
                  f"p90 {p90:.1f} s, max {latencies[-1]:.1f} s; over 5 s: {len(slow)} {slow[:5]}")
        print(f"rss: start {start_rss} KiB, end {end_rss} KiB, max {max(s[1] for s in samples)} KiB")
        print(f"open fds: start {start_fds}, end {end_fds}, max {max(s[2] for s in samples)}")
        print(f"log lines: ERROR {len(errors)}, WARN {len(warnings)}")
        for line in (errors + warnings)[:10]:
            print(f"  {line}")
        if missing or duplicated or merges or fsck.returncode != 0:
            print(f"FAILED: missing {missing[:5]}, duplicated {duplicated[:5]}; see {work}")
            failed = True
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        if os.environ.get("KEEP") == "1" or failed:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
