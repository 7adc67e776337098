//! Registries: list the tags of an image repository over the OCI distribution API
//! (pagination, anonymous/basic/bearer/ECR auth, retries, rate limits) and keep
//! the last complete list per repository in the tag store (invariant 4).
