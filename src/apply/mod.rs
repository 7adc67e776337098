//! The slim applier: render a path of the config repository (plain YAML or
//! kustomize), server-side apply it to a cluster, prune what was removed.
