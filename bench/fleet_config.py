#!/usr/bin/env python3
"""Generates the fleet benchmark's inputs (bench/fleet.py uses it; also usable alone).

    fleet_config.py WORK REGISTRY REPOS FILES MARKERS [INTERVAL]

Writes
  WORK/config/   the tagpilot objects: REPOS ImageRepositories fleet/app-NNNN on
                 REGISTRY (insecure: plain http on loopback), one ImagePolicy each
                 (a quarter each: semver `>=1.0.0`; semver again; numerical over
                 `main-SHA-N` build tags; semver over an extracted `filterTags`),
                 one GitRepository (file:// to WORK/config.git) and one
                 ImageUpdateAutomation over the whole repository;
  WORK/config.git a bare repository holding FILES Deployment manifests of ~2,250
                 bytes (the shape of bench/update.sh), MARKERS of them with one
                 `$imagepolicy` marker naming policy fleet:app-NNNN (markers spread
                 evenly: MARKERS <= REPOS, each policy in at most one file).
Prints the initial commit of `main`.
"""
import os
import subprocess
import sys

GIT_ENV = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")

INITIAL = {0: "1.0.0", 1: "1.0.0", 2: "main-00000000-0", 3: "1.0.0"}


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout


def policy(i):
    name = f"app-{i:04d}"
    head = (f"apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\n"
            f"metadata: {{name: {name}, namespace: fleet}}\nspec:\n"
            f"  imageRepositoryRef: {{name: {name}}}\n")
    kind = i % 4
    if kind in (0, 1):
        return head + "  policy: {semver: {range: '>=1.0.0'}}\n"
    if kind == 2:
        return head + ("  filterTags: {pattern: '^main-[a-f0-9]+-(?P<build>[0-9]+)$', extract: '$build'}\n"
                       "  policy: {numerical: {order: asc}}\n")
    return head + ("  filterTags: {pattern: '^(?P<v>[0-9]+\\.[0-9]+\\.[0-9]+)$', extract: '$v'}\n"
                   "  policy: {semver: {range: '>=1.0.0 <3.0.0'}}\n")


def manifest(i, marker):
    env = "".join(f"            - name: SETTING_{k:02d}\n              value: \"value-{i}-{k}\"\n"
                  for k in range(24))
    image = marker if marker else "ghcr.io/bench/other:1.0.0"
    return f"""# Service {i}: generated for the tagpilot fleet benchmark.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: service-{i}
  namespace: team-{i // 100:03d}
  labels:
    app.kubernetes.io/name: service-{i}
    app.kubernetes.io/part-of: bench
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: service-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: service-{i}
    spec:
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
{env}"""


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    work, registry = sys.argv[1], sys.argv[2]
    repos, files, markers = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    interval = sys.argv[6] if len(sys.argv) > 6 else "1h"
    markers = min(markers, repos, files)
    config, bare, seed = f"{work}/config", f"{work}/config.git", f"{work}/seed"
    os.makedirs(config, exist_ok=True)
    with open(f"{config}/repositories.yaml", "w") as f:
        f.write("".join(
            f"---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"
            f"metadata: {{name: app-{i:04d}, namespace: fleet}}\n"
            f"spec: {{image: {registry}/fleet/app-{i:04d}, interval: {interval}, insecure: true}}\n"
            for i in range(repos)))
    with open(f"{config}/policies.yaml", "w") as f:
        f.write("".join("---\n" + policy(i) for i in range(repos)))
    with open(f"{config}/automation.yaml", "w") as f:
        f.write(f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: config, namespace: fleet}}
spec: {{url: "file://{bare}", ref: {{branch: main}}, interval: {interval}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: fleet, namespace: fleet}}
spec:
  interval: {interval}
  sourceRef: {{kind: GitRepository, name: config}}
  git:
    commit:
      author: {{name: tagpilot, email: tagpilot@example.com}}
  update: {{path: ./, strategy: Setters}}
""")
    every = max(1, files // max(1, markers))
    policy_index = 0
    for i in range(files):
        d = os.path.join(seed, f"team-{i // 100:03d}", "apps")
        os.makedirs(d, exist_ok=True)
        marker = None
        if policy_index < markers and i % every == 0:
            # Spread the policies over the markers: policy j lands in marker j * repos // markers.
            j = policy_index * repos // markers
            marker = (f'{registry}/fleet/app-{j:04d}:{INITIAL[j % 4]} '
                      f'# {{"$imagepolicy": "fleet:app-{j:04d}"}}')
            policy_index += 1
        with open(os.path.join(d, f"service-{i:05d}.yaml"), "w") as f:
            f.write(manifest(i, marker))
    git("init", "-q", "--bare", "-b", "main", bare)
    git("init", "-q", "-b", "main", seed)
    git("add", "-A", cwd=seed)
    git("commit", "-qm", "Initial fleet config", cwd=seed)
    git("push", "-q", bare, "main", cwd=seed)
    print(git("rev-parse", "main", cwd=bare).strip())


if __name__ == "__main__":
    main()
