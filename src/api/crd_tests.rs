use std::path::Path;

use super::*;

/// Writes (with `TAGPILOT_WRITE_CRDS`) or compares the CRDs in `dir`; returns
/// the stale file names and the expected ones.
fn check_dir(dir: &Path, crds: &[Value]) -> (Vec<String>, Vec<String>) {
    let write = std::env::var_os("TAGPILOT_WRITE_CRDS").is_some();
    let mut stale = Vec::new();
    let mut expected = Vec::new();
    for crd in crds {
        let name = crd_file_name(crd);
        let text = crd_yaml(crd).unwrap();
        let path = dir.join(&name);
        if write {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
        expected.push(name);
    }
    expected.sort();
    (stale, expected)
}

fn yaml_files(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    found.sort();
    found
}

/// `crds/` must be what `tagpilot crds` prints; regenerate with
/// `TAGPILOT_WRITE_CRDS=1 cargo test --lib api::crd`. Flux's groups have no
/// CRDs here: Flux's own are the one truth there (`flux_crds()` is checked
/// against them by the integration test
/// `controller_flux::the_loaders_flux_schema_has_the_fields_of_fluxs_own_crds`).
#[test]
fn crds_directory_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    assert!(
        !root.join("flux").exists(),
        "crds/flux/ is gone: Flux's own CRDs serve Flux's groups"
    );
    let (dir, crds) = (root.clone(), all_crds());
    let (stale, expected) = check_dir(&dir, &crds);
    assert!(
        stale.is_empty(),
        "{} is stale ({stale:?}): run `TAGPILOT_WRITE_CRDS=1 cargo test --lib api::crd` and commit it",
        dir.display()
    );
    assert_eq!(
        yaml_files(&dir),
        expected,
        "{} holds a CRD tagpilot no longer serves",
        dir.display()
    );
    let kustomization = std::fs::read_to_string(root.join("kustomization.yaml")).unwrap();
    for crd in all_crds() {
        assert!(
            kustomization.contains(&crd_file_name(&crd)),
            "crds/kustomization.yaml does not list {}",
            crd_file_name(&crd)
        );
    }
}

fn version<'a>(crd: &'a Value, name: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
}

#[test]
fn schemas_carry_enums_patterns_and_required_fields() {
    let policy = &all_crds()[1];
    let version = version(policy, "v1alpha1");
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["required"], json!(["imageRepositoryRef", "policy"]));
    assert_eq!(
        spec["properties"]["digestReflectionPolicy"]["enum"],
        json!(["Never", "IfNotPresent", "Always"])
    );
    assert_eq!(
        spec["properties"]["interval"]["pattern"],
        json!(super::super::meta::DURATION_PATTERN)
    );
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Ready", "Status", "Latest Tag", "Image", "Age"]);
    let sync = &all_crds()[4];
    let sync_spec =
        &version_of(sync, "v1alpha1")["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(sync_spec["required"], json!(["sourceRef"]));
    let status = &version_of(sync, "v1alpha1")["schema"]["openAPIV3Schema"]["properties"]["status"];
    for field in [
        "lastAppliedRevision",
        "inventory",
        "driftCorrected",
        "conditions",
    ] {
        assert!(
            status["properties"][field].is_object(),
            "{field}: {status:#}"
        );
    }
}

fn version_of<'a>(crd: &'a Value, name: &str) -> &'a Value {
    version(crd, name)
}

#[test]
fn flux_crds_serve_three_versions_with_their_own_fields_and_v1_stored() {
    let crds = flux_crds();
    assert_eq!(crds.len(), 4);
    for crd in &crds {
        let names: Vec<(&str, bool)> = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v["storage"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            names,
            [("v1beta1", false), ("v1beta2", false), ("v1", true)]
        );
        assert!(
            crd["spec"].get("conversion").is_none(),
            "no conversion webhook"
        );
    }
    let automation = &crds[3];
    let signing = |name: &str| {
        version(automation, name)["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["git"]["properties"]["commit"]["properties"]["signingKey"]["properties"]
            .clone()
    };
    assert!(signing("v1")["type"].is_object());
    assert!(
        signing("v1beta2")["type"].is_null(),
        "v1beta2 has no signingKey.type"
    );
    let repository = &crds[0];
    let spec = |name: &str| {
        version(repository, name)["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    };
    assert!(spec("v1beta1")["properties"]["provider"].is_null());
    assert_eq!(
        spec("v1")["properties"]["exclusionList"]["default"],
        json!(["^.*\\.sig$"])
    );
    assert_eq!(spec("v1")["required"], json!(["image", "interval"]));
    assert_eq!(
        crds[2]["metadata"]["name"],
        "gitrepositories.source.toolkit.fluxcd.io"
    );
}
