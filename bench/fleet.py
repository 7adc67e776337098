#!/usr/bin/env python3
"""Fleet-scale benchmark of the standalone engine (bench/fleet.sh runs it).

    fleet.py TAGPILOT FLEET_REGISTRY_BINARY

Environment (defaults in brackets):
  REPOS [2000] TAGS [1000]   ImageRepositories x tags each (one ImagePolicy each)
  FILES [20000] MARKERS [2000]  the config repository: files, and files with a marker
  RUNS [3]                   runs of each `run --once` scenario (the median is shown)
  REGISTRY [standin]         `standin`: bench/fleet-registry, in memory, with the
                             bearer token flow and Link pagination (PAGE_CAP [1000]
                             tags per page at most); `distribution`: the real
                             distribution v3 of scripts/install-test-deps.sh, filled
                             first (anonymous, so no token flow), for comparison at a
                             smaller size
  GIT_SERVER [http]          how the config repository is served: `http`, smart
                             HTTP from the real `git http-backend` behind lighttpd
                             (scripts/install-test-deps.sh installs it), as a git
                             host serves it; `file`, a file:// URL, which libgit2
                             serves in-process by packing (and delta-compressing)
                             the whole repository on every clone
  SCENARIOS [once,daemon]    which scenarios to run
  DAEMON_INTERVAL [30s]      the intervals of the daemon scenario

Scenarios, each one table row (median of RUNS where it says so):
  once full       `tagpilot run --once` from an empty state directory: every list
                  scanned and stored, every policy evaluated, one commit of every
                  marker, pushed (the bare repository is reset before each run);
  once no-change  `tagpilot run --once` again on that state: same tags, no commit;
  once bump       one new generation of tags in every repository (every policy
                  changes), then `run --once` on that state: one commit;
  daemon full     `tagpilot run` from an empty state: until every marker is
                  committed (commits counted: the daemon may commit in batches);
  daemon round    the same daemon's next no-change round (every repository
                  rescanned at DAEMON_INTERVAL, the automation run again): its CPU
                  time, its requests, and the RSS after it.
Columns: wall (s), CPU user+sys (s), peak RSS (MB), registry requests (counted by
the registry stand-in, or by distribution's access log), commits, load average.
Everything runs on 127.0.0.1 in a temporary directory, removed at the end.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet_config  # noqa: E402

ENV = dict(os.environ, AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[fleet] {message}", file=sys.stderr, flush=True)


def load():
    return os.getloadavg()[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hex_of(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def expected_tag(index, tags, generation):
    """What policy `index` picks from the stand-in's tags of `index` after `generation` bumps."""
    kind = index % 4
    if kind == 2:
        if generation:
            return f"main-{hex_of('gen', str(index), str(generation))[:8]}-{tags + generation}"
        k = max(k for k in range(tags) if k % 10 in (7, 8))
        return f"main-{hex_of(str(index), str(k))[:8]}-{k}"
    if generation:
        return f"2.0.{generation}"
    k = max(k for k in range(tags) if k % 10 <= 5)
    return f"1.{k // 10}.{k % 10}"


def base_tags(index, count):
    """The stand-in's tags of repository `index` (bench/fleet-registry/main.go baseTags)."""
    tags = []
    for k in range(count):
        kind = k % 10
        if kind <= 5:
            tags.append(f"1.{k // 10}.{k % 10}")
        elif kind == 6:
            tags.append(f"1.{k // 10}.{k % 10}-rc.1")
        elif kind in (7, 8):
            tags.append(f"main-{hex_of(str(index), str(k))[:8]}-{k}")
        else:
            tags.append(f"sha256-{hex_of('sig', str(index), str(k))}.sig")
    return tags


class StandIn:
    """bench/fleet-registry: in memory, counts its requests."""

    def __init__(self, binary, work, repos, tags, page_cap):
        port_file = f"{work}/standin.port"
        self.log = open(f"{work}/standin.log", "w")
        self.process = subprocess.Popen(
            [binary, "-repos", str(repos), "-tags", str(tags), "-page-cap", str(page_cap),
             "-port-file", port_file], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.process.poll() is not None:
                sys.exit(f"the registry stand-in did not start; see {work}/standin.log")
            time.sleep(0.05)
        self.host = f"127.0.0.1:{open(port_file).read().strip()}"
        self.kind = f"stand-in (token flow, page cap {page_cap})"

    def requests(self):
        with urllib.request.urlopen(f"http://{self.host}/admin/stats") as r:
            return json.load(r)["total"]

    def bump(self):
        request = urllib.request.Request(f"http://{self.host}/admin/bump", method="POST")
        urllib.request.urlopen(request).read()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Distribution:
    """distribution v3 (scripts/install-test-deps.sh), filled with the stand-in's tags."""

    def __init__(self, work, repos, tags):
        tools = os.environ.get("TAGPILOT_TOOLS_DIR", os.path.expanduser("~/.cache/tagpilot-tools"))
        binary = f"{tools}/bin/registry-v3"
        if not os.access(binary, os.X_OK):
            sys.exit("registry v3 missing: run scripts/install-test-deps.sh")
        self.host = f"127.0.0.1:{free_port()}"
        self.access_log = f"{work}/distribution.log"
        self.storage = f"{work}/distribution"
        with open(f"{work}/distribution.yml", "w") as f:
            f.write(f"""version: 0.1
log: {{level: info, formatter: text}}
storage: {{filesystem: {{rootdirectory: {self.storage}}}}}
http: {{addr: {self.host}, secret: bench}}
""")
        self.log = open(self.access_log, "w")
        self.process = subprocess.Popen(
            [binary, "serve", f"{work}/distribution.yml"], stdout=self.log, stderr=self.log,
            env=dict(ENV, OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="none"))
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit(f"distribution did not start; see {self.access_log}")
                time.sleep(0.1)
        self.kind = "distribution v3 (anonymous)"
        self.tags = tags
        started = time.monotonic()
        self.fill(repos, tags)
        elapsed = time.monotonic() - started
        usage = subprocess.run(["du", "-sk", "--inodes", self.storage], capture_output=True,
                               text=True).stdout.split()[0]
        size_kb = subprocess.run(["du", "-sk", self.storage], capture_output=True,
                                 text=True).stdout.split()[0]
        total = repos * tags
        log(f"distribution: pushed {total} tags in {elapsed:.0f} s ({total / elapsed:.0f} tags/s); "
            f"storage {int(size_kb) / 1024:.0f} MB, {usage} inodes "
            f"({int(usage) / total:.1f} inodes and {int(size_kb) * 1024 / total:.0f} bytes a tag); "
            f"2,000 x 1,000 would take ~{2_000_000 / (total / elapsed) / 60:.0f} min and "
            f"~{int(usage) / total * 2_000_000 / 1e6:.1f} M inodes")

    def fill(self, repos, tags):
        from concurrent.futures import ThreadPoolExecutor

        layer = b"tagpilot fleet layer"
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers",
                                        "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()

        def digest(data):
            return "sha256:" + hashlib.sha256(data).hexdigest()

        def call(conn, method, path, body=b"", headers=None):
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
            return response

        def push(index):
            name = f"fleet/app-{index:04d}"
            conn = http.client.HTTPConnection(self.host, timeout=60)
            for blob in (layer, config):
                location = call(conn, "POST", f"/v2/{name}/blobs/uploads/").getheader("Location")
                path = location.split(self.host, 1)[-1] if "://" in location else location
                separator = "&" if "?" in path else "?"
                call(conn, "PUT", f"{path}{separator}digest={digest(blob)}", blob,
                     {"Content-Type": "application/octet-stream"})
            for tag in base_tags(index, tags):
                manifest = json.dumps({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": digest(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": digest(layer), "size": len(layer)}],
                    "annotations": {"dev.tagpilot.bench.tag": tag},
                }).encode()
                call(conn, "PUT", f"/v2/{name}/manifests/{tag}", manifest,
                     {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            conn.close()

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(push, range(repos)))

    def requests(self):
        # distribution logs one access line per request ("response completed").
        with open(self.access_log, errors="replace") as f:
            return sum(1 for line in f if "response completed" in line and '"GET' not in line[:0]
                       and "http.request.method=GET" in line)

    def bump(self):
        raise NotImplementedError("the bump scenario needs the stand-in")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class HttpGit:
    """lighttpd serving `git http-backend` (fetch and push, anonymous) for WORK/config.git."""

    def __init__(self, work):
        lighttpd = "/usr/sbin/lighttpd"
        if not os.access(lighttpd, os.X_OK):
            sys.exit("lighttpd missing: run scripts/install-test-deps.sh")
        exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        root = f"{work}/lighttpd"
        os.makedirs(root, exist_ok=True)
        port = free_port()
        with open(f"{root}/lighttpd.conf", "w") as f:
            f.write(f"""server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
server.upload-dirs = ("{root}")
alias.url = ("/git" => "{exec_path}/git-http-backend")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "{work}", "GIT_HTTP_EXPORT_ALL" => "1",
                            "GIT_CONFIG_NOSYSTEM" => "1", "REMOTE_USER" => "bench")
}}
""")
        if os.path.isdir(f"{work}/config.git"):  # (REMOTE_USER enables it for the others)
            fleet_config.git("config", "http.receivepack", "true", cwd=f"{work}/config.git")
        self.log = open(f"{root}/lighttpd.log", "w")
        self.process = subprocess.Popen([lighttpd, "-D", "-f", f"{root}/lighttpd.conf"],
                                        stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    sys.exit(f"lighttpd did not start; see {root}")
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}/git/config.git"
        self.kind = "smart HTTP (git http-backend)"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Fleet:
    def __init__(self, tagpilot, registry, work, repos, tags, files, markers, initial):
        self.tagpilot, self.registry, self.work = tagpilot, registry, work
        self.repos, self.tags, self.files, self.markers = repos, tags, files, markers
        self.bare, self.initial = f"{work}/config.git", initial
        self.generation = 0

    def git(self, *args):
        return fleet_config.git(*args, cwd=self.bare)

    def head(self):
        return self.git("rev-parse", "main").strip()

    def reset_remote(self):
        self.git("update-ref", "refs/heads/main", self.initial)

    def marker_values(self):
        """policy index -> tag in the bare repository's `main` (one marker per policy)."""
        values = {}
        out = subprocess.run(["git", "grep", "-h", "$imagepolicy", "main"], cwd=self.bare,
                             capture_output=True, text=True, env=fleet_config.GIT_ENV).stdout
        for line in out.splitlines():
            image = line.split("image:", 1)[1].split("#", 1)[0].strip()
            name, tag = image.rsplit(":", 1)
            values[int(name.rsplit("-", 1)[1])] = tag
        return values

    def stale_markers(self):
        """Markers that do not hold their policy's expected result yet."""
        values = self.marker_values()
        return sum(1 for index, tag in values.items()
                   if tag != expected_tag(index, self.tags, self.generation))

    def commits_since(self, base):
        return int(self.git("rev-list", "--count", f"{base}..main").strip())

    def run_once(self, state, label):
        before_requests = self.registry.requests()
        before_head = self.head()
        timing = f"{self.work}/time.txt"
        log_path = f"{self.work}/{label}.log"
        started_wall = time.time()
        started = time.monotonic()
        with open(log_path, "w") as out:
            code = subprocess.run(
                ["/usr/bin/time", "-f", "%e %M %U %S", "-o", timing, self.tagpilot,
                 "--log-level", PHASE_LOG_LEVEL, "run", "--once",
                 "--config", f"{self.work}/config", "--state-dir", state],
                stdout=out, stderr=out, env=ENV).returncode
        wall = time.monotonic() - started
        if code != 0:
            sys.exit(f"{label}: tagpilot exited {code}; see {log_path}")
        _, rss_kb, user, system = open(timing).read().split()[-4:]
        row = {
            "wall": wall, "cpu": float(user) + float(system), "rss": int(rss_kb) / 1024,
            "requests": self.registry.requests() - before_requests,
            "commits": self.commits_since(before_head), "load": load(),
        }
        row.update(phases(log_path, started_wall, started_wall + wall))
        return row


# Debug lines of the engine and git modules mark the phases of a cycle.
PHASE_LOG_LEVEL = "info,tagpilot::engine::cycle=debug,tagpilot::git=debug"
PHASES = [
    # (column, the log message that ends it); each phase starts where the previous ended.
    ("start", "cycle: scanning"),
    ("scan", "cycle: scanned"),
    ("evaluate", "cycle: evaluated"),
    ("git prepare", "working copy ready"),
    ("update+commit", None),  # ends at "committed", or at the automation's end when nothing changed
    ("push", "pushed url="),
    ("exit", None),
]


def timestamp(line):
    """Seconds since the epoch of a log line's RFC 3339 UTC timestamp, or None."""
    import datetime
    stamp = line.split(" ", 1)[0]
    if not stamp.endswith("Z"):
        return None
    try:
        main, fraction = stamp[:-1].split(".")
        parsed = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
        return parsed.timestamp() + float("0." + fraction)
    except ValueError:
        return None


def phases(log_path, started, ended):
    """Seconds of each phase of a `run --once`, from its log."""
    marks = {}
    for line in open(log_path, errors="replace"):
        at = timestamp(line)
        if at is None:
            continue
        for message in ("cycle: scanning", "cycle: scanned", "cycle: evaluated",
                        "working copy ready", "committed url=", "pushed url=", "cycle: done"):
            if message in line:
                marks[message] = at
    if "cycle: scanning" not in marks:
        return {}
    ends = {
        "start": marks["cycle: scanning"],
        "scan": marks.get("cycle: scanned"),
        "evaluate": marks.get("cycle: evaluated"),
        "git prepare": marks.get("working copy ready"),
        "update+commit": marks.get("committed url=", marks.get("cycle: done")),
        "push": marks.get("pushed url="),
        "exit": ended,
    }
    out, last = {}, started
    for column, _ in PHASES:
        end = ends.get(column)
        if end is None:
            out["phase " + column] = 0.0
            continue
        out["phase " + column] = max(0.0, end - last)
        last = end
    return out


def proc_cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_idle(pid, quiet=1.0, limit=300):
    """Waits until the process uses (almost) no CPU for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last = proc_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = proc_cpu(pid)
        if now - last <= 0.02:
            return
        last = now


def daemon(fleet, interval):
    """The daemon from an empty state: full cycle, then one no-change round."""
    config = f"{fleet.work}/config-daemon"
    shutil.rmtree(config, ignore_errors=True)
    shutil.copytree(f"{fleet.work}/config", config)
    for name in os.listdir(config):
        path = f"{config}/{name}"
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("interval: 1h", f"interval: {interval}"))
    fleet.reset_remote()
    state = f"{fleet.work}/state-daemon"
    shutil.rmtree(state, ignore_errors=True)
    requests_before = fleet.registry.requests()
    out = open(f"{fleet.work}/daemon.log", "w")
    started = time.monotonic()
    process = subprocess.Popen([fleet.tagpilot, "run", "--config", config, "--state-dir", state],
                               stdout=out, stderr=out, env=ENV)
    rows = []
    try:
        head, stale = fleet.initial, fleet.markers
        while stale:
            if process.poll() is not None:
                sys.exit(f"the daemon exited {process.returncode}; see {fleet.work}/daemon.log")
            if time.monotonic() - started > 600:
                sys.exit(f"the daemon's first cycle took over 600 s; see {fleet.work}/daemon.log")
            current = fleet.head()
            if current != head:
                head = current
                stale = fleet.stale_markers()
            else:
                time.sleep(0.02)
        wall = time.monotonic() - started
        rows.append(("daemon full", {
            "wall": wall, "cpu": proc_cpu(process.pid), "rss": proc_status(process.pid, "VmHWM"),
            "requests": fleet.registry.requests() - requests_before,
            "commits": fleet.commits_since(fleet.initial), "load": load()}))
        wait_idle(process.pid)
        cpu_before, requests_before = proc_cpu(process.pid), fleet.registry.requests()
        head_before = fleet.head()
        # The round: every repository rescanned (at least one request each), then idle
        # again after the automation's interval has passed too.
        round_started = None
        seconds = parse_seconds(interval)
        deadline = time.monotonic() + seconds * 3 + 120
        while True:
            if time.monotonic() > deadline:
                sys.exit(f"the daemon's second round did not finish; see {fleet.work}/daemon.log")
            requests = fleet.registry.requests() - requests_before
            if requests and round_started is None:
                round_started = time.monotonic()
            if requests >= fleet.repos and time.monotonic() - started > wall + seconds * 1.15:
                break
            time.sleep(0.1)
        wait_idle(process.pid)
        round_wall = time.monotonic() - (round_started or time.monotonic())
        rows.append(("daemon round", {
            "wall": round_wall, "cpu": proc_cpu(process.pid) - cpu_before,
            "rss": proc_status(process.pid, "VmRSS"),
            "requests": fleet.registry.requests() - requests_before,
            "commits": fleet.commits_since(head_before), "load": load()}))
    finally:
        process.terminate()
        process.wait(timeout=60)
    return rows


def parse_seconds(text):
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def median_row(runs):
    row = {key: statistics.median(run.get(key, 0.0) for run in runs) for key in runs[0]}
    row["spread"] = (min(run["wall"] for run in runs), max(run["wall"] for run in runs))
    return row


def print_phases(scenario, row):
    keys = [k for k in row if k.startswith("phase ")]
    if keys:
        print(f"<!-- {scenario} phases (s): " + ", ".join(f"{k[6:]} {row[k]:.2f}" for k in keys) + " -->",
              flush=True)


def print_row(scenario, fleet, row, runs):
    spread = row.get("spread")
    wall = f"{row['wall']:.2f}"
    if spread and runs > 1:
        wall += f" ({spread[0]:.2f}–{spread[1]:.2f})"
    print(f"| {scenario} | {fleet.registry.kind} | {fleet.repos} × {fleet.tags} | "
          f"{fleet.files} / {fleet.markers} | {runs} | {wall} | {row['cpu']:.2f} | {row['rss']:.0f} | "
          f"{row['requests']:.0f} | {row['commits']:.0f} | {row['load']:.1f} |", flush=True)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tagpilot, standin_binary = sys.argv[1], sys.argv[2]
    repos = int(os.environ.get("REPOS", 2000))
    tags = int(os.environ.get("TAGS", 1000))
    files = int(os.environ.get("FILES", 20000))
    markers = min(int(os.environ.get("MARKERS", 2000)), repos)
    runs = int(os.environ.get("RUNS", 3))
    scenarios = os.environ.get("SCENARIOS", "once,daemon").split(",")
    kind = os.environ.get("REGISTRY", "standin")
    git_kind = os.environ.get("GIT_SERVER", "http")
    if git_kind not in ("http", "file"):
        sys.exit(f"GIT_SERVER={git_kind}: use http or file")
    work = tempfile.mkdtemp(prefix="tagpilot-fleet-")
    registry = git_server = None
    try:
        if kind == "standin":
            registry = StandIn(standin_binary, work, repos, tags, int(os.environ.get("PAGE_CAP", 1000)))
        elif kind == "distribution":
            registry = Distribution(work, repos, tags)
        else:
            sys.exit(f"REGISTRY={kind}: use standin or distribution")
        log(f"registry: {registry.kind} on {registry.host}; generating {repos} objects, "
            f"{files} files ({markers} markers)")
        initial = subprocess.run(
            [sys.executable, f"{HERE}/fleet_config.py", work, registry.host, str(repos), str(files),
             str(markers)], check=True, capture_output=True, text=True).stdout.strip()
        if git_kind == "http":
            git_server = HttpGit(work)
            for name in os.listdir(f"{work}/config"):
                path = f"{work}/config/{name}"
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(text.replace(f"file://{work}/config.git", git_server.url))
        log(f"config repository: {git_server.kind if git_server else 'file://'}")
        fleet = Fleet(tagpilot, registry, work, repos, tags, files, markers, initial)
        subprocess.run(["sh", "-c", f"find {work}/config.git -type f -exec cat {{}} + >/dev/null"])
        print(f"`{os.path.basename(tagpilot)} {subprocess.run([tagpilot, '--version'], capture_output=True, text=True).stdout.strip()}`, "
              f"{os.cpu_count()} cores, load at start {load():.1f}, config repository over "
              f"{git_server.kind if git_server else 'file://'}")
        print("| scenario | registry | repos × tags | files / markers | runs | wall s (median, min–max) "
              "| CPU s | peak RSS MB | requests | commits | load |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
        if "once" in scenarios:
            full, nochange = [], []
            for run in range(runs):
                # A new state directory each run, the old ones removed only at the end:
                # removing 20,000 files right before a run would make its clone pay for
                # that (ext4 without a journal, as here, does not reuse an inode within
                # 5 s of its deletion, 300 s while its table block is dirty, and each
                # new file scans past them). The later scenarios use the last state.
                state = f"{work}/state-{run + 1}"
                fleet.reset_remote()
                log(f"once full, run {run + 1}/{runs}")
                full.append(fleet.run_once(state, "once-full"))
                stale = fleet.stale_markers()
                if stale or full[-1]["commits"] != 1:
                    sys.exit(f"once full: {stale} markers not updated, {full[-1]['commits']} commits")
            print_row("once full", fleet, median_row(full), runs)
            print_phases("once full", median_row(full))
            for run in range(runs):
                log(f"once no-change, run {run + 1}/{runs}")
                nochange.append(fleet.run_once(state, "once-nochange"))
                if nochange[-1]["commits"]:
                    sys.exit("once no-change: it committed")
            print_row("once no-change", fleet, median_row(nochange), runs)
            print_phases("once no-change", median_row(nochange))
            if kind == "standin":
                bumps = []
                for run in range(runs):
                    registry.bump()
                    fleet.generation += 1
                    log(f"once bump, run {run + 1}/{runs}")
                    bumps.append(fleet.run_once(state, "once-bump"))
                    stale = fleet.stale_markers()
                    if stale or bumps[-1]["commits"] != 1:
                        sys.exit(f"once bump: {stale} markers not updated, {bumps[-1]['commits']} commits")
                print_row("once bump", fleet, median_row(bumps), runs)
                print_phases("once bump", median_row(bumps))
        if "daemon" in scenarios:
            log("daemon: full cycle, then one no-change round")
            for scenario, row in daemon(fleet, os.environ.get("DAEMON_INTERVAL", "30s")):
                print_row(scenario, fleet, row, 1)
    finally:
        if registry:
            registry.stop()
        if git_server:
            git_server.stop()
        if os.environ.get("KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
