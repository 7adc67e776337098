//! `policy eval`: parsing, the why, JSON and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const POLICY: &str = r#"
apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  filterTags:
    pattern: '^app-(?P<version>.*)$'
    extract: '$version'
  policy:
    semver: {range: '>=1.0.0 <3'}
"#;

const TAGS: &str = "app-1.0.0\n\napp-2.1.0\r\napp-2.0.0\napp-v2.1.0\napp-3.0.0\n\
                        app-2.2.0.sig\napp-latest\nother-2.9.9\napp-0.9.0\n";

fn run(format: OutputFormat) -> String {
    let policy = parse_policy(POLICY).unwrap();
    let selection = evaluate(&policy, TAGS, &ExclusionList::default()).unwrap();
    render(&selection, format).unwrap()
}

#[test]
fn text_output_is_the_tag_and_a_newline() {
    assert_eq!(run(OutputFormat::Text), "app-v2.1.0\n");
}

#[test]
fn the_why_names_the_candidates_the_runner_up_and_what_was_dropped() {
    let policy = parse_policy(POLICY).unwrap();
    let selection = evaluate(&policy, TAGS, &ExclusionList::default()).unwrap();
    assert_eq!(
        why(&selection),
        "why: the highest version in \">=1.0.0 <3\" among 4 candidates (of 9 tags)\n  \
             chosen: app-v2.1.0 (value v2.1.0)\n  \
             runner-up: app-2.1.0 (value 2.1.0)\n  \
             filtered out: 1 excluded by the exclusion list, 1 not matching filterTags.pattern, \
             1 not a version, 2 outside the range\n"
    );
    let alphabetical = POLICY
        .replace("semver: {range: '>=1.0.0 <3'}", "alphabetical: {}")
        .replace(
            "  filterTags:\n    pattern: '^app-(?P<version>.*)$'\n    extract: '$version'\n",
            "",
        );
    let policy = parse_policy(&alphabetical).unwrap();
    let selection = evaluate(&policy, "b\n", &ExclusionList::default()).unwrap();
    assert_eq!(
        why(&selection),
        "why: the last in alphabetical order among 1 candidate (of 1 tag)\n  chosen: b\n  \
             runner-up: none (the only candidate)\n  filtered out: nothing\n"
    );
}

#[test]
fn file_errors_say_what_the_file_is() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n";
    let message = |text: &str| format!("{:#}", parse_policy(text).unwrap_err());
    assert_eq!(
        message(deployment),
        "this is a Deployment, not an ImagePolicy"
    );
    assert_eq!(
        message("kind: ImagePolicy\nfoo: [\n"),
        "not valid YAML: line 2 column 6: unclosed bracket '['"
    );
    assert_eq!(
        message(&format!("{deployment}---\n{POLICY}---\n{POLICY}")),
        "it holds 2 ImagePolicies; give a file holding one"
    );
    assert_eq!(
        message(&format!("{deployment}---\nkind: Secret\n")),
        "none of its 2 documents is an ImagePolicy (found Deployment, Secret)"
    );
    assert_eq!(
        message(&POLICY.replace("range:", "rnage:")),
        "not a valid ImagePolicy: spec.policy.semver.rnage: unknown field `rnage` in tagpilot.dev/v1alpha1, expected `range`; spec.policy.semver: missing field `range` (required in tagpilot.dev/v1alpha1)"
    );
    // Beside an ImageRepository, the ImagePolicy is found.
    let repository = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: app}\nspec: {image: x}\n";
    assert!(parse_policy(&format!("{repository}---\n{POLICY}")).is_ok());
}

#[test]
fn json_output_explains_the_choice() {
    insta::assert_snapshot!(run(OutputFormat::Json));
}

#[test]
fn no_match_fails_with_exit_one() {
    let policy = parse_policy(&POLICY.replace("<3", "<0.1")).unwrap();
    let error = evaluate(&policy, TAGS, &ExclusionList::default()).unwrap_err();
    assert_eq!(error.exit_code(), 1);
    let text = error.error().to_string();
    assert!(text.starts_with("no tag matches policy apps/app"), "{text}");
}

#[test]
fn invalid_policy_and_exclusions_exit_two() {
    let error = parse_policy(&POLICY.replace("(?P<version>", "(?<=a)(?P<version>")).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("spec.filterTags.pattern"), "{text}");
    let error = parse_policy("kind: ImagePolicy").unwrap_err();
    assert!(
        format!("{error:#}").starts_with("not a valid ImagePolicy: apiVersion: missing"),
        "{error:#}"
    );
    let error = exclusions(&["(?!x)".to_string()]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(exclusions(&[]).is_ok());
}

#[test]
fn the_why_names_the_requirements_and_each_skipped_tag() {
    let policy = parse_policy(POLICY).unwrap();
    let requirements = Requirements {
        signature: Some("cosign keys in Secret apps/keys (cosign.pub)".into()),
        platforms: vec![crate::policy::Platform::parse("linux/arm64").unwrap()],
        minimum_age: Some(std::time::Duration::from_secs(72 * 3600)),
    };
    let mut walk = policy.walk(
        &["app-2.1.0", "app-2.0.0", "app-1.0.0"],
        &ExclusionList::default(),
        requirements,
    );
    walk.skip(
        Some("sha256:21".into()),
        crate::policy::SkipReason::Unsigned,
    );
    walk.accept(Some("sha256:20".into()));
    let selection = walk.finish().unwrap();
    assert_eq!(
        why(&selection),
        "why: the highest version in \">=1.0.0 <3\" among 3 candidates (of 3 tags)\n  \
             requires: a signature by cosign keys in Secret apps/keys (cosign.pub); platforms linux/arm64/v8; at least 72h since created\n  \
             chosen: app-2.0.0 (value 2.0.0) (sha256:20)\n  \
             skipped: app-2.1.0: not signed (no cosign signature)\n  \
             runner-up: app-1.0.0 (value 1.0.0)\n  \
             filtered out: nothing\n"
    );
}

#[test]
fn a_tag_list_cannot_prove_a_signature() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "{POLICY}  verify: {{provider: cosign, secretRef: {{name: keys}}}}\n  minimumAge: 1h\n"
        ),
    )
    .unwrap();
    let tags = dir.path().join("tags");
    std::fs::write(&tags, TAGS).unwrap();
    let args = EvalArgs {
        policy: policy.clone(),
        tags: Some(tags),
        image: None,
        config: None,
        insecure: false,
        endpoints: Default::default(),
        exclude: vec![],
        output: OutputFormat::Text,
    };
    let error = eval(args).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert_eq!(
        error.error().to_string(),
        format!(
            "{}: spec.verify, spec.minimumAge need the registry (a tag list cannot show signatures, platforms or ages); give --image REF instead of --tags, with --config DIR for Secrets",
            policy.display()
        )
    );
}

#[test]
fn unreadable_files_exit_two() {
    let args = EvalArgs {
        policy: PathBuf::from("/nonexistent/policy.yaml"),
        tags: Some(PathBuf::from("/nonexistent/tags")),
        image: None,
        config: None,
        insecure: false,
        endpoints: Default::default(),
        exclude: vec![],
        output: OutputFormat::Text,
    };
    assert_eq!(eval(args).unwrap_err().exit_code(), 2);
}
