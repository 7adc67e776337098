//! Pull requests instead of pushes, end to end against a real Gitea (built
//! from `code.gitea.io/gitea`, SQLite, git over its http) and a real
//! registry, through the `tagpilot` binary: a bump opens a pull request from
//! the automation's branch into `main`; a second bump updates the same one;
//! when `main` needs no change any more (the policy went back, or the pull
//! request was merged) it is closed or recorded as merged; a pull request a
//! person closed is not reopened for the same change; a forge that refuses
//! the token is an automation error that names the forge and the HTTP status,
//! never the token, and the next run opens the pull request (nothing lost).

use serde_json::Value;

use crate::harness::gitea::{GITEA_USER, Gitea};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{DEPLOY_FILE, Tagpilot, deployment, http_source, semver_image};

pub const BRANCH: &str = "tagpilot/apps";

/// A tagpilot.dev automation `shop/apps` that proposes its changes to `main`
/// from [`BRANCH`] on `provider`; `extra` goes under `pullRequest`.
pub fn pull_request_automation(provider: &str, extra: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata:\n  name: apps\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n      author:\n        name: Tag Pilot Bot\n        email: bot@tagpilot.example\n    push:\n      branch: {BRANCH}\n      pullRequest:\n        provider: {provider}\n{extra}  update:\n    path: ./apps\n    strategy: Setters\n"
    )
}

/// A registry with `shop/api` at `tags`, a Gitea repository `config` whose
/// `apps/api.yaml` runs 1.0.0, and a config directory proposing changes to it.
struct World {
    registry: Registry,
    gitea: Gitea,
    image: String,
    tagpilot: Tagpilot,
}

impl World {
    fn new(tags: &[&str], source: impl Fn(&Gitea, &str) -> String, extra: &str) -> Self {
        let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
        ImagePusher::new(&registry, "shop/api").push_all(tags.iter().copied());
        let image = format!("{}/shop/api", registry.host);
        let gitea = Gitea::start();
        let url = gitea.create_repo(
            "config",
            &[
                ("README.md", "the shop's config\n"),
                (
                    DEPLOY_FILE,
                    &deployment("api", &format!("{image}:1.0.0"), "api"),
                ),
            ],
        );
        let tagpilot = Tagpilot::new();
        tagpilot.write(
            "images.yaml",
            &semver_image("api", &image, ">=1.0.0 <2.0.0", "1h"),
        );
        tagpilot.write("source.yaml", &source(&gitea, &url));
        tagpilot.write("automation.yaml", &pull_request_automation("gitea", extra));
        Self {
            registry,
            gitea,
            image,
            tagpilot,
        }
    }

    fn push(&self, tag: &str) {
        ImagePusher::new(&self.registry, "shop/api").push(tag);
    }

    fn range(&self, range: &str) {
        self.tagpilot.write(
            "images.yaml",
            &semver_image("api", &self.image, range, "1h"),
        );
    }

    fn run(&self) -> String {
        let output = self.tagpilot.run_once().success();
        format!("{}{}", output.stdout, output.stderr)
    }

    fn pulls(&self) -> Vec<Value> {
        self.gitea.pulls("config")
    }

    fn status_json(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.tagpilot.state_dir().join("status.json")).unwrap(),
        )
        .unwrap()
    }

    fn expected_title(&self, tag: &str) -> String {
        format!("Update image: shop/api → {tag}")
    }

    fn expected_body(&self, old: &str, new: &str) -> String {
        format!(
            "{DEPLOY_FILE}:10 shop:api {0}:{old} → {0}:{new}",
            self.image
        )
    }
}

fn token_source(gitea: &Gitea, url: &str) -> String {
    http_source(url, GITEA_USER, &gitea.token)
}

fn summary(pull: &Value) -> (u64, String, String, String, String, String) {
    (
        pull["number"].as_u64().unwrap(),
        pull["state"].as_str().unwrap().to_string(),
        pull["head"]["ref"].as_str().unwrap().to_string(),
        pull["base"]["ref"].as_str().unwrap().to_string(),
        pull["title"].as_str().unwrap().to_string(),
        pull["body"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_bump_opens_a_pull_request_a_second_updates_it_and_no_need_closes_it() {
    let world = World::new(&["1.0.0", "1.1.0"], token_source, "");
    let main_before = world.gitea.branch_head("config", "main").unwrap();

    // A bump opens a pull request; main is untouched.
    let output = world.run();
    assert_eq!(
        world.gitea.branch_head("config", "main").unwrap(),
        main_before
    );
    assert_eq!(
        world.gitea.file("config", BRANCH, DEPLOY_FILE),
        deployment("api", &format!("{}:1.1.0", world.image), "api")
    );
    let pulls = world.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let (number, state, head, base, title, body) = summary(&pulls[0]);
    assert_eq!(
        (state.as_str(), head.as_str(), base.as_str()),
        ("open", BRANCH, "main")
    );
    assert_eq!(title, world.expected_title("1.1.0"));
    assert_eq!(body, world.expected_body("1.0.0", "1.1.0"));
    let url = pulls[0]["html_url"].as_str().unwrap().to_string();
    let status = world.status_json();
    assert_eq!(
        status["automations"]["shop/apps"]["pullRequest"],
        serde_json::json!({
            "number": number,
            "url": url,
            "state": "open",
            "commit": world.gitea.branch_head("config", BRANCH).unwrap(),
        })
    );
    assert!(
        output.contains(&format!(
            "automation shop/apps: opened pull request #{number} ({url})\n"
        )),
        "{output}"
    );
    let shown = world.tagpilot.status().success().stdout;
    assert!(
        shown.contains(&format!(
            "IMAGEUPDATEAUTOMATION  PULL REQUEST  STATE  URL\nshop/apps              #{number}            open   {url}\n"
        )),
        "{shown}"
    );

    // Nothing new: the pull request is left as it is.
    world.run();
    assert_eq!(world.pulls().len(), 1);

    // A second bump updates the same pull request: new commit, title and body.
    world.push("1.2.0");
    world.run();
    let pulls = world.pulls();
    assert_eq!(pulls.len(), 1, "still one pull request: {pulls:#?}");
    let (same_number, state, _, _, title, body) = summary(&pulls[0]);
    assert_eq!((same_number, state.as_str()), (number, "open"));
    assert_eq!(title, world.expected_title("1.2.0"));
    assert_eq!(body, world.expected_body("1.0.0", "1.2.0"));
    assert_eq!(
        world.gitea.file("config", BRANCH, DEPLOY_FILE),
        deployment("api", &format!("{}:1.2.0", world.image), "api")
    );
    assert_eq!(
        world.gitea.branch_head("config", "main").unwrap(),
        main_before
    );

    // The policy goes back to what main holds: the pull request is closed, saying why.
    world.range(">=1.0.0 <1.1.0");
    world.run();
    let pulls = world.pulls();
    assert_eq!(pulls.len(), 1);
    let (_, state, ..) = summary(&pulls[0]);
    assert_eq!(state, "closed");
    assert_eq!(pulls[0]["merged"], false);
    assert_eq!(
        world.gitea.comments("config", number),
        [tagpilot::forge::CLOSE_COMMENT]
    );
    assert_eq!(
        world.status_json()["automations"]["shop/apps"]["pullRequest"]["state"],
        "closed"
    );
    assert_eq!(
        world.gitea.branch_head("config", "main").unwrap(),
        main_before
    );

    // Needed again: a new pull request (tagpilot closed the old one itself).
    world.range(">=1.0.0 <2.0.0");
    world.run();
    let open: Vec<_> = world
        .pulls()
        .into_iter()
        .filter(|p| p["state"] == "open")
        .collect();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["number"].as_u64().unwrap(), number);
    assert_eq!(
        open[0]["title"].as_str().unwrap(),
        world.expected_title("1.2.0")
    );
}

#[test]
fn a_merged_pull_request_is_recorded_and_one_a_person_closed_is_not_reopened() {
    let world = World::new(&["1.0.0", "1.1.0"], token_source, "");
    world.run();
    let number = world.pulls()[0]["number"].as_u64().unwrap();

    // Merged: main now holds the change, so nothing is proposed; the status says merged.
    world.gitea.merge_pull("config", number);
    world.run();
    assert_eq!(
        world.status_json()["automations"]["shop/apps"]["pullRequest"]["state"],
        "merged"
    );
    assert_eq!(world.pulls().len(), 1, "no new pull request");

    // The next bump opens a new one; a reviewer closes it without merging.
    world.push("1.2.0");
    world.run();
    let second = world
        .pulls()
        .into_iter()
        .find(|p| p["state"] == "open")
        .unwrap()["number"]
        .as_u64()
        .unwrap();
    world.gitea.close_pull("config", second);
    world.run();
    world.run();
    assert!(
        world.pulls().iter().all(|p| p["state"] == "closed"),
        "declined for the same change: not reopened"
    );
    assert_eq!(
        world.status_json()["automations"]["shop/apps"]["pullRequest"]["state"],
        "declined"
    );

    // A different change is proposed afresh.
    world.push("1.3.0");
    world.run();
    let open: Vec<_> = world
        .pulls()
        .into_iter()
        .filter(|p| p["state"] == "open")
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["title"].as_str().unwrap(),
        world.expected_title("1.3.0")
    );
}

#[test]
fn a_refused_token_is_an_automation_error_and_the_next_run_opens_the_pull_request() {
    const BAD_TOKEN: &str = "bad-Forge-T0ken-91c2aa";
    let secret = |token: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: forge-token\n  namespace: shop\nstringData:\n  token: {token}\n"
        )
    };
    let world = World::new(
        &["1.0.0", "1.1.0"],
        token_source,
        "        secretRef:\n          name: forge-token\n",
    );
    world.tagpilot.write("token.yaml", &secret(BAD_TOKEN));

    let output = world.tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{output:?}");
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(
        text.contains(
            "error: automation shop/apps: Gitea API: GET /api/v1/repos/bot/config/pulls answered HTTP 401: invalid username, password or token (the change waits on branch tagpilot/apps; the next run proposes it again)\n"
        ),
        "{text}"
    );
    assert!(!text.contains(BAD_TOKEN), "{text}");
    let status = std::fs::read_to_string(world.tagpilot.state_dir().join("status.json")).unwrap();
    assert!(status.contains("answered HTTP 401") && !status.contains(BAD_TOKEN));
    // The change is on its branch already: nothing is lost.
    assert_eq!(
        world.gitea.file("config", BRANCH, DEPLOY_FILE),
        deployment("api", &format!("{}:1.1.0", world.image), "api")
    );
    assert!(world.pulls().is_empty());

    world
        .tagpilot
        .write("token.yaml", &secret(&world.gitea.token));
    world.run();
    let pulls = world.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0]["state"], "open");
    assert_eq!(
        world.status_json()["automations"]["shop/apps"]["lastError"],
        Value::Null
    );
}

/// Invariant 7 with a forge: the token (here a `bearerToken`, for git over
/// http and for the API) reaches no log line at trace level, no status, no
/// file of the state directory, no commit and nothing on the pull request.
#[test]
fn the_forge_token_reaches_no_output_at_trace_level() {
    use crate::harness::tagpilot::bearer_source;
    use crate::secrets::Secrets;

    let world = World::new(
        &["1.0.0", "1.1.0"],
        |gitea, url| bearer_source(url, &gitea.token),
        "",
    );
    let mut secrets = Secrets(Default::default());
    secrets.add("the Gitea token", &world.gitea.token);
    let mut logs = String::new();
    let mut run = |world: &World| {
        let output = world
            .tagpilot
            .run_once_with(&["--log-level", "trace"])
            .success();
        logs.push_str(&output.stdout);
        logs.push_str(&output.stderr);
    };
    run(&world);
    world.push("1.2.0");
    run(&world);
    world.range(">=1.0.0 <1.1.0");
    run(&world);
    assert!(
        logs.contains("pull request opened") && logs.contains("pull request closed"),
        "{logs}"
    );
    secrets.assert_absent("the trace log", &logs);
    secrets.assert_absent("tagpilot status", &world.tagpilot.status().success().stdout);
    for file in crate::engine::files_under(world.tagpilot.state_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        secrets.assert_absent(&file.display().to_string(), &text);
    }
    for pull in world.pulls() {
        secrets.assert_absent("a pull request", &pull.to_string());
        let number = pull["number"].as_u64().unwrap();
        secrets.assert_absent(
            "a comment",
            &world.gitea.comments("config", number).join("\n"),
        );
    }
}
