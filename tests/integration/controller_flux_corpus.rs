//! The Flux corpus (`testdata/flux/`) through a real API server with Flux's
//! own CRDs: every object of Flux's `v1` is accepted with every field kept,
//! and `tagpilot controller --flux-compat` judges each object exactly as the
//! standalone loader judges the same file. Flux's CRDs (2.9) no longer serve
//! `v1beta1` and `v1beta2`: the API server refuses those documents (the
//! standalone loader still reads them; `tagpilot migrate` and Flux's own
//! migration turn them into `v1`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tagpilot::config::load::{LoadError, parse_objects};
use tagpilot::engine::objects::ObjectSet;

use crate::controller_flux::install_flux_crds;
use crate::controller_schema::assert_kept;
use crate::harness::cluster::Cluster;
use crate::harness::tagpilot::wait_for;

const VERSIONS: [&str; 1] = ["v1"];

/// The versions Flux's CRDs stopped serving.
const NOT_SERVED: [&str; 2] = ["v1beta1", "v1beta2"];

/// Fields of Flux's beta versions that `v1` dropped: objects are stored as
/// `v1`, so the API server prunes them whatever version they are read in, as
/// with Flux's own CRDs (neither Flux `v1` nor tagpilot acts on them).
const DROPPED_IN_V1: [&str; 2] = ["gitImplementation", "accessFrom"];

fn group(kind: &str) -> &'static str {
    if kind == "GitRepository" {
        "source.toolkit.fluxcd.io"
    } else {
        "image.toolkit.fluxcd.io"
    }
}

fn plural(kind: &str) -> String {
    tagpilot::api::Kind::from_name(kind)
        .unwrap()
        .plural()
        .to_string()
}

/// (kind, namespace, name) → the loader's message for each object it refuses.
type Verdicts = BTreeMap<(String, String, String), String>;

fn loader_verdicts(path: &Path, text: &str) -> Verdicts {
    let raw = parse_objects(path, text).unwrap();
    let (_, errors) = ObjectSet::from_raw(&raw);
    errors
        .into_iter()
        .map(|error| match error {
            LoadError::Invalid {
                kind,
                namespace,
                name,
                message,
                ..
            } => ((kind, namespace, name), message),
            other => panic!("{other}"),
        })
        .collect()
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[test]
fn the_flux_corpus_is_accepted_by_fluxs_crds_and_judged_like_the_loader() {
    let cluster = Cluster::start();
    install_flux_crds(&cluster);
    for version in NOT_SERVED {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/flux")
            .join(format!("{version}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&text));
        assert!(!ok, "Flux's CRDs serve {version} again: update this test");
        assert!(
            stderr.contains(&format!("no matches for kind \"ImagePolicy\" in version \"image.toolkit.fluxcd.io/{version}\"")),
            "{stderr}"
        );
    }
    let mut expected = Verdicts::new();
    let mut objects = Vec::new();
    for version in VERSIONS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/flux")
            .join(format!("{version}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        cluster.namespace(&format!("flux-{version}"));
        // kubectl validates strictly: an unknown field would fail here.
        cluster.apply(&text);
        expected.extend(loader_verdicts(&path, &text));
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        objects.extend(
            documents
                .into_iter()
                .filter(|d| d["kind"] != "Secret" && !d.is_null()),
        );
    }
    // Read back in its own version and as v1: every field kept.
    for object in &objects {
        let kind = object["kind"].as_str().unwrap();
        let namespace = object["metadata"]["namespace"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let version = object["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let resource = format!("{}.{version}.{}", plural(kind), group(kind));
        let mut spec = object["spec"].clone();
        if let Some(fields) = spec.as_object_mut() {
            for field in DROPPED_IN_V1 {
                fields.remove(field);
            }
        }
        let stored = cluster
            .get_json(&resource, namespace, name)
            .unwrap_or_else(|| panic!("{kind} {namespace}/{name} was not stored"));
        assert_kept(&spec, &stored["spec"], &format!("{resource} {name}"));
        let as_v1 = cluster
            .get_json(
                &format!("{}.v1.{}", plural(kind), group(kind)),
                namespace,
                name,
            )
            .unwrap();
        assert_kept(
            &spec,
            &as_v1["spec"],
            &format!("{resource} {name} read as v1"),
        );
    }
    let controller = cluster.spawn_controller("corpus", cluster.kubeconfig(), &["--flux-compat"]);
    let list = |kind: &str| -> Vec<Value> {
        let text = cluster.kubectl(&[
            "get",
            &format!("{}.v1.{}", plural(kind), group(kind)),
            "-A",
            "-o",
            "json",
        ]);
        let list: Value = serde_json::from_str(&text).unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    };
    let judged = |object: &Value| {
        condition(object, "Ready").is_some()
            && object["status"]["observedGeneration"] == object["metadata"]["generation"]
    };
    // Flux's source-controller owns GitRepository status: tagpilot reports
    // its verdict on a GitRepository as an InvalidSpec event instead.
    let kinds = ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"];
    let with_status = objects
        .iter()
        .filter(|o| o["kind"] != "GitRepository")
        .count();
    let stored: BTreeMap<(String, String, String), Value> = wait_for(
        "a status on every corpus object",
        || {
            let mut all = BTreeMap::new();
            for kind in kinds {
                for item in &list(kind) {
                    if !judged(item) {
                        return None;
                    }
                    let id = (
                        kind.to_string(),
                        item["metadata"]["namespace"].as_str().unwrap().to_string(),
                        item["metadata"]["name"].as_str().unwrap().to_string(),
                    );
                    all.insert(id, item.clone());
                }
            }
            (all.len() == with_status).then_some(all)
        },
        || {
            let waiting: Vec<String> = kinds
                .iter()
                .flat_map(|kind| {
                    list(kind).into_iter().filter(|o| !judged(o)).map(move |o| {
                        format!(
                            "{kind} {}/{}",
                            o["metadata"]["namespace"], o["metadata"]["name"]
                        )
                    })
                })
                .collect();
            format!(
                "still without a status: {waiting:?}\n{}",
                controller.log_text()
            )
        },
    );
    let invalid_sources: Vec<(&(String, String, String), &String)> = expected
        .iter()
        .filter(|((kind, _, _), _)| kind == "GitRepository")
        .collect();
    for ((_, namespace, name), message) in invalid_sources {
        wait_for(
            &format!("the InvalidSpec event of GitRepository {namespace}/{name}"),
            || {
                let events = cluster.kubectl(&[
                    "get",
                    "events",
                    "-n",
                    namespace,
                    "--field-selector",
                    &format!("involvedObject.name={name},reason=InvalidSpec"),
                    "-o",
                    "jsonpath={.items[*].message}",
                ]);
                events.contains(message.as_str()).then_some(())
            },
            || controller.log_text(),
        );
    }
    for (id, object) in &stored {
        let stalled = condition(object, "Stalled").filter(|c| c["status"] == "True");
        match expected.get(id) {
            Some(message) => {
                let stalled = stalled.unwrap_or_else(|| {
                    panic!(
                        "{id:?} should be Stalled with {message:?}: {:#}",
                        object["status"]
                    )
                });
                assert_eq!(stalled["message"], message.as_str(), "{id:?}");
            }
            None => assert!(
                stalled.is_none(),
                "{id:?} is valid for the loader but Stalled: {:#}",
                object["status"]
            ),
        }
    }
    // `serviceAccountName`: the ServiceAccount is read (standalone mode only warns);
    // the corpus has none, so the repository waits for it.
    for version in VERSIONS {
        let id = (
            "ImageRepository".to_string(),
            format!("flux-{version}"),
            "workload".to_string(),
        );
        let ready = condition(&stored[&id], "Ready").unwrap();
        assert_eq!(ready["reason"], "DependencyNotReady", "{id:?}");
        assert_eq!(
            ready["message"],
            format!(
                "spec.serviceAccountName: ServiceAccount flux-{version}/image-puller not found"
            ),
            "{id:?}"
        );
    }
    controller.assert_running();
}
