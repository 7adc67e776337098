//! Controller mode against a real kube-apiserver: the CRDs (schema validation,
//! printer columns, status subresource), and `tagpilot controller` scanning a
//! real registry and committing to a real git server, with status written back.

use crate::harness::cluster::Cluster;

const POLICY: &str = "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: crds\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0'\n";

#[test]
fn crds_validate_objects_and_kubectl_shows_the_printer_columns() {
    let cluster = Cluster::start();
    cluster.namespace("crds");
    cluster.apply(POLICY);
    // OpenAPI validation: bad enum, bad interval, missing required field.
    for (bad, expected) in [
        (
            POLICY.replace(
                "  policy:\n",
                "  digestReflectionPolicy: Sometimes\n  policy:\n",
            ),
            "digestReflectionPolicy",
        ),
        (
            POLICY.replace("  policy:\n", "  interval: five minutes\n  policy:\n"),
            "spec.interval",
        ),
        (
            POLICY.replace("  policy:\n    semver:\n      range: '>=1.0.0'\n", ""),
            "spec.policy: Required value",
        ),
    ] {
        let bad = bad.replace("name: api\n  namespace", "name: bad\n  namespace");
        let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&bad));
        assert!(!ok, "the API server accepted:\n{bad}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // The status subresource: a status patch is kept, a spec patch does not touch it.
    cluster.kubectl(&[
        "patch",
        "imagepolicy",
        "api",
        "-n",
        "crds",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"observedGeneration":1,"latestRef":{"name":"reg.example/shop/api","tag":"1.2.3"},"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"latest tag 1.2.3","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ]);
    let table = cluster.kubectl(&["get", "imagepolicies", "-n", "crds"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "READY", "STATUS", "LATEST TAG", "AGE"],
        "{table}"
    );
    assert_eq!(
        &lines[1][..4],
        ["api", "True", "latest tag 1.2.3", "1.2.3"],
        "{table}"
    );
    let wide = cluster.kubectl(&["get", "imagepolicies", "-n", "crds", "-o", "wide"]);
    assert!(
        wide.contains("IMAGE") && wide.contains("reg.example/shop/api"),
        "{wide}"
    );
}
