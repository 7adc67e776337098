#!/usr/bin/env python3
"""Controller-mode benchmark on the real test kube-apiserver (bench/controller.sh runs it).

    controller.py TAGPILOT FLEET_REGISTRY_BINARY

Environment (defaults in brackets):
  OBJECTS [2000]       objects of each kind: ImageRepository, ImagePolicy,
                       GitRepository, ImageUpdateAutomation (tagpilot.dev/v1alpha1)
  NAMESPACES [20]      namespaces they are spread over
  TAGS [100]           tags of each repository (bench/fleet-registry, in memory)
  REST_SECONDS [120]   how long requests at rest are counted (once with the
                       controller stopped, for the API server's own traffic, once
                       with it running and idle)
  READY_TIMEOUT [900]  give up waiting for Ready after this many seconds
  CONTROLLER_ARGS []   extra arguments of `tagpilot controller` (e.g. --leader-elect)
  GIT_SERVER [http]    how the config repository is served: `http`, smart HTTP from
                       the real `git http-backend` behind lighttpd (as users run
                       it), or `file` for a file:// URL (libgit2 then packs every
                       fetch in the controller's own process)
  REPOSITORIES [one]   `one`: every GitRepository a branch of one bare repository
                       (each fetch and push then lists all OBJECTS branches, and
                       the server checks each push against all of them); `each`:
                       a bare repository per GitRepository, branch main

What it does: starts the test kube-apiserver (tests/kube-apiserver), installs
`tagpilot crds`, creates OBJECTS objects of each kind (every GitRepository a
branch of one bare repository, or a repository of its own, whose deploy.yaml
holds one marker for its automation's policy; every interval 1h, so nothing is due again while
requests at rest are counted), then starts `tagpilot controller` and measures:
  ready    seconds from the start until every object of the four kinds has
           condition Ready=True (each automation has committed and pushed);
  RSS      the controller's peak and resident memory once idle;
  at rest  API server requests per minute while the controller is idle, counted
           by the API server itself (`apiserver_request_total` on /metrics),
           minus the same count over the same time without the controller; and
           the requests of that window by verb and resource.
Prints one markdown table row, then the at-rest breakdown. Loopback only; the
work directory is removed at the end (KEEP=1 keeps it).
"""
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fleet import HttpGit, StandIn, load, log, proc_cpu, proc_status, wait_idle  # noqa: E402
import fleet_config  # noqa: E402

GROUP = "tagpilot.dev/v1alpha1"
KINDS = ["imagerepositories", "imagepolicies", "gitrepositories", "imageupdateautomations"]


class Api:
    """The API server, with the admin kubeconfig's token."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()
        self.server = re.search(r"server: (\S+)", text).group(1)
        ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", text).group(1))
        self.token = re.search(r"token: (\S+)", text).group(1)
        self.context = ssl.create_default_context(cadata=ca.decode())

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=120) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from error

    def stream(self, path):
        """The lines of a watch: GET `path`, read as they come."""
        request = urllib.request.Request(self.server + path, headers={
            "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, context=self.context, timeout=600) as response:
            for line in response:
                yield line

    def requests_total(self):
        """apiserver_request_total by (verb, resource, subresource), and their sum."""
        counts = {}
        for line in self.call("GET", "/metrics").decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels, value = line.rsplit(" ", 1)
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            key = (fields.get("verb", ""), fields.get("resource", ""), fields.get("subresource", ""))
            counts[key] = counts.get(key, 0) + float(value)
        return counts


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}


def git_fixture(work, registry, objects, namespaces):
    """One bare repository, a branch per automation, each with one marked file."""
    bare = f"{work}/config.git"
    fleet_config.git("init", "-q", "--bare", "-b", "main", bare)
    stream = []
    for i in range(objects):
        namespace = f"bench-{i % namespaces:02d}"
        content = deploy_yaml(registry, i, namespace)
        stream.append(b"blob\nmark :%d\ndata %d\n%s\n" % (2 * i + 1, len(content), content))
        message = b"Initial config"
        stream.append(b"commit refs/heads/app-%04d\nmark :%d\ncommitter bench <bench@example.com> "
                      b"1700000000 +0000\ndata %d\n%s\nM 100644 :%d deploy.yaml\n\n"
                      % (i, 2 * i + 2, len(message), message, 2 * i + 1))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, input=b"".join(stream), check=True,
                   env=fleet_config.GIT_ENV)
    return bare


def deploy_yaml(registry, i, namespace):
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i:04d}, namespace: {namespace}}}\n"
            f"spec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
            f"          image: {registry}/fleet/app-{i:04d}:1.0.0 "
            f"# {{\"$imagepolicy\": \"{namespace}:app-{i:04d}\"}}\n").encode()


def repositories_fixture(work, registry, objects, namespaces):
    """A bare repository per automation (WORK/repos/app-NNNN.git, branch main), each with one
    commit of one marked file, written directly (three loose objects and a ref each: thousands
    of `git init` and `git fast-import` processes would take longer than the benchmark).
    Returns (root, initial commit of each)."""
    root = f"{work}/repos"
    initial = []

    def put(repo, kind, body):
        data = b"%s %d\0" % (kind, len(body)) + body
        sha = hashlib.sha1(data).hexdigest()
        os.makedirs(f"{repo}/objects/{sha[:2]}", exist_ok=True)
        with open(f"{repo}/objects/{sha[:2]}/{sha[2:]}", "wb") as f:
            f.write(zlib.compress(data))
        return sha

    for i in range(objects):
        repo = f"{root}/app-{i:04d}.git"
        for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
            os.makedirs(f"{repo}/{sub}")
        with open(f"{repo}/HEAD", "w") as f:
            f.write("ref: refs/heads/main\n")
        with open(f"{repo}/config", "w") as f:
            f.write("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n")
        blob = put(repo, b"blob", deploy_yaml(registry, i, f"bench-{i % namespaces:02d}"))
        tree = put(repo, b"tree", b"100644 deploy.yaml\0" + bytes.fromhex(blob))
        who = b"bench <bench@example.com> 1700000000 +0000"
        commit = put(repo, b"commit", b"tree %s\nauthor %s\ncommitter %s\n\nInitial config\n"
                     % (tree.encode(), who, who))
        with open(f"{repo}/refs/heads/main", "w") as f:
            f.write(commit + "\n")
        initial.append(commit)
    return root, initial


def manifests(registry, source, objects, namespaces):
    """`source(i)` is the (url, branch) of the i-th GitRepository."""
    """(plural, namespace, body) of every object, kind by kind."""
    out = []
    for i in range(objects):
        namespace, name = f"bench-{i % namespaces:02d}", f"app-{i:04d}"
        meta = {"name": name, "namespace": namespace}
        out.append(("imagerepositories", namespace, {
            "apiVersion": GROUP, "kind": "ImageRepository", "metadata": meta,
            "spec": {"image": f"{registry}/fleet/{name}", "interval": "1h", "insecure": True}}))
        out.append(("imagepolicies", namespace, {
            "apiVersion": GROUP, "kind": "ImagePolicy", "metadata": meta,
            "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": ">=1.0.0"}}}}))
        out.append(("gitrepositories", namespace, {
            "apiVersion": GROUP, "kind": "GitRepository", "metadata": meta,
            "spec": {"url": source(i)[0], "ref": {"branch": source(i)[1]}, "interval": "1h"}}))
        out.append(("imageupdateautomations", namespace, {
            "apiVersion": GROUP, "kind": "ImageUpdateAutomation", "metadata": meta,
            "spec": {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": name},
                     "git": {"commit": {"author": {"name": "tagpilot", "email": "tagpilot@example.com"}}},
                     "update": {"path": "./", "strategy": "Setters"},
                     # Each automation sees its own policy only.
                     "policySelector": {"matchLabels": {"app": name}}}}))
        out[-3][2]["metadata"] = dict(meta, labels={"app": name})
    return out


def is_ready_object(item):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in item.get("status", {}).get("conditions", []))


class ReadyWatch:
    """The Ready objects of each kind, followed by one watch per kind (as a controller would;
    polling lists of thousands of objects would load the API server that shares the cores)."""

    def __init__(self, api):
        self.lock = threading.Lock()
        self.ready = {plural: set() for plural in KINDS}
        for plural in KINDS:
            threading.Thread(target=self.follow, args=(api, plural), daemon=True).start()

    def follow(self, api, plural):
        path = f"/apis/{GROUP}/{plural}"
        while True:
            try:
                self.follow_once(api, plural, path)
            except (OSError, RuntimeError, ValueError, KeyError):
                time.sleep(1)  # the API server restarting or gone: list again

    def follow_once(self, api, plural, path):
        """One list, then its watch until the stream ends."""
        listed = json.loads(api.call("GET", f"{path}?resourceVersion=0"))
        with self.lock:
            self.ready[plural] = {(i["metadata"]["namespace"], i["metadata"]["name"])
                                  for i in listed["items"] if is_ready_object(i)}
        version = listed["metadata"]["resourceVersion"]
        for line in api.stream(f"{path}?watch=1&resourceVersion={version}"):
            event = json.loads(line)
            item = event["object"]
            if event["type"] == "ERROR":
                return  # e.g. 410 Gone: list again
            key = (item["metadata"].get("namespace"), item["metadata"]["name"])
            with self.lock:
                if event["type"] != "DELETED" and is_ready_object(item):
                    self.ready[plural].add(key)
                else:
                    self.ready[plural].discard(key)

    def counts(self):
        with self.lock:
            return {plural: len(ready) for plural, ready in self.ready.items()}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tagpilot, standin_binary = sys.argv[1], sys.argv[2]
    objects = int(os.environ.get("OBJECTS", 2000))
    namespaces = int(os.environ.get("NAMESPACES", 20))
    tags = int(os.environ.get("TAGS", 100))
    rest = float(os.environ.get("REST_SECONDS", 120))
    ready_timeout = float(os.environ.get("READY_TIMEOUT", 900))
    extra = os.environ.get("CONTROLLER_ARGS", "").split()
    git_server = os.environ.get("GIT_SERVER", "http")
    if git_server not in ("http", "file"):
        sys.exit(f"GIT_SERVER must be http or file, not {git_server!r}")
    layout = os.environ.get("REPOSITORIES", "one")
    if layout not in ("one", "each"):
        sys.exit(f"REPOSITORIES must be one or each, not {layout!r}")
    tools = os.environ.get("TAGPILOT_TOOLS_DIR", os.path.expanduser("~/.cache/tagpilot-tools"))
    apiserver_bin = f"{tools}/bin/kube-apiserver-test"
    if not os.access(apiserver_bin, os.X_OK):
        sys.exit("kube-apiserver-test missing: run scripts/install-test-deps.sh")
    work = tempfile.mkdtemp(prefix="tagpilot-controller-bench-")
    processes = []
    registry = None
    http_git = None
    try:
        kubeconfig = f"{work}/kubeconfig"
        apiserver_log = open(f"{work}/apiserver.log", "w")
        processes.append(subprocess.Popen([apiserver_bin, "-kubeconfig", kubeconfig, "-data-dir", f"{work}/etcd"],
                                          stdout=apiserver_log, stderr=apiserver_log))
        deadline = time.monotonic() + 120
        while not os.path.exists(kubeconfig):
            if time.monotonic() > deadline or processes[0].poll() is not None:
                sys.exit(f"the kube-apiserver did not start; see {work}/apiserver.log")
            time.sleep(0.2)
        api = Api(kubeconfig)
        while True:  # the kubeconfig is written before the API server listens
            try:
                api.call("GET", "/readyz")
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline or processes[0].poll() is not None:
                    sys.exit(f"the kube-apiserver did not become ready; see {work}/apiserver.log")
                time.sleep(0.2)
        env = dict(os.environ, KUBECONFIG=kubeconfig, AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
        crds = subprocess.run([tagpilot, "crds"], capture_output=True, check=True).stdout
        # A discovery cache of this API server's own: ~/.kube/cache is keyed by port only.
        kubectl = ["kubectl", "--cache-dir", os.path.join(work, "kubectl-cache")]
        subprocess.run(kubectl + ["apply", "--server-side", "-f", "-"], input=crds, env=env, check=True,
                       capture_output=True)
        subprocess.run(kubectl + ["wait", "--for=condition=Established", "--timeout=120s"]
                       + [f"crd/{plural}.tagpilot.dev" for plural in KINDS], env=env, check=True,
                       capture_output=True)
        registry = StandIn(standin_binary, work, objects, tags, 1000)
        if layout == "one":
            bare = git_fixture(work, registry.host, objects, namespaces)
        else:
            repos, initial = repositories_fixture(work, registry.host, objects, namespaces)
        if git_server == "http":
            http_git = HttpGit(work)
            url, served = http_git.url, http_git.kind
        else:
            url, served = f"file://{work}/config.git", "file://"
        if layout == "one":
            def source(i):
                return url, f"app-{i:04d}"
        else:
            base = url.removesuffix("/config.git")
            served += ", a repository per GitRepository"

            def source(i):
                return f"{base}/repos/app-{i:04d}.git", "main"
        for n in range(namespaces):
            api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": f"bench-{n:02d}"}})
        log(f"creating {objects} objects of each kind in {namespaces} namespaces")
        created = time.monotonic()

        def create(item):
            plural, namespace, body = item
            api.call("POST", f"/apis/{GROUP}/namespaces/{namespace}/{plural}", body)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, manifests(registry.host, source, objects, namespaces)))
        log(f"created {4 * objects} objects in {time.monotonic() - created:.0f} s")
        # The API server's own traffic, without the controller.
        log(f"counting requests at rest without the controller for {rest:.0f} s")
        before = api.requests_total()
        time.sleep(rest)
        baseline = delta(api.requests_total(), before)
        out = open(f"{work}/controller.log", "w")
        requests_before = api.requests_total()
        started = time.monotonic()
        controller = subprocess.Popen([tagpilot, "controller", "--state-dir", f"{work}/state", *extra],
                                      stdout=out, stderr=out, env=env)
        processes.append(controller)
        counts = {}
        watch = ReadyWatch(api)
        while True:
            if controller.poll() is not None:
                sys.exit(f"the controller exited {controller.returncode}; see {work}/controller.log")
            counts = watch.counts()
            if all(count == objects for count in counts.values()):
                break
            if time.monotonic() - started > ready_timeout:
                log(f"not all Ready after {ready_timeout:.0f} s: {counts}")
                break
            time.sleep(0.5)
        ready = time.monotonic() - started
        ready_text = f"{ready:.1f}" if all(c == objects for c in counts.values()) else f"> {ready_timeout:.0f}"
        to_ready = delta(api.requests_total(), requests_before)
        startup_requests = sum(to_ready.values())
        log(f"ready after {ready:.1f} s ({counts}); waiting until the controller is idle")
        wait_idle(controller.pid, quiet=2.0)
        cpu_ready = proc_cpu(controller.pid)
        log(f"counting requests at rest with the controller for {rest:.0f} s")
        before = api.requests_total()
        cpu_before = proc_cpu(controller.pid)
        time.sleep(rest)
        with_controller = delta(api.requests_total(), before)
        cpu_rest = proc_cpu(controller.pid) - cpu_before
        # The two /metrics reads of each window are in both and cancel out.
        controller_requests = sum(with_controller.values()) - sum(baseline.values())
        per_minute = controller_requests / rest * 60
        if layout == "one":
            pushed = sum(1 for subject in fleet_config.git(
                "for-each-ref", "--format=%(subject)", "refs/heads", cwd=bare).splitlines()
                if subject != "Initial config")
        else:
            pushed = sum(1 for i, commit in enumerate(initial)
                         if fleet_config.git("rev-parse", "main", cwd=f"{repos}/app-{i:04d}.git").strip()
                         != commit)
        print(f"`{os.path.basename(tagpilot)}`, {os.cpu_count()} cores, {objects} objects of each kind "
              f"in {namespaces} namespaces, {tags} tags each, git over {served}")
        print("| objects per kind | all Ready s | CPU to Ready s | requests to Ready | peak RSS MB "
              "| RSS at rest MB | requests/min at rest | CPU at rest s/min | branches pushed | load |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        print(f"| {objects} | {ready_text} | {cpu_ready:.1f} | {startup_requests:.0f} | "
              f"{proc_status(controller.pid, 'VmHWM'):.0f} | {proc_status(controller.pid, 'VmRSS'):.0f} | "
              f"{per_minute:.1f} | {cpu_rest / rest * 60:.2f} | {pushed}/{objects} | {load():.1f} |")
        print(f"\nrequests until all were Ready (the controller's, and this script's list and watch of each kind):")
        for (verb, resource, subresource), count in sorted(to_ready.items(), key=lambda kv: -kv[1])[:12]:
            print(f"  {verb:7} {resource}{'/' + subresource if subresource else ''}: {count:.0f}")
        print(f"\nrequests in {rest:.0f} s at rest (with the controller | API server alone):")
        for key in sorted(set(with_controller) | set(baseline)):
            verb, resource, subresource = key
            a, b = with_controller.get(key, 0), baseline.get(key, 0)
            if a != b:
                print(f"  {verb:7} {resource}{'/' + subresource if subresource else ''}: {a:.0f} | {b:.0f}")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if registry:
            registry.stop()
        if http_git:
            http_git.stop()
        if os.environ.get("KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
