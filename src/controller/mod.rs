//! Controller mode: the objects as custom resources, watches, status conditions,
//! events and leader election. The only module besides `apply` that uses `kube`.
