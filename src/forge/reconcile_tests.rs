//! The reconciliation rules against an in-memory forge (unit tests of this
//! module only; the forges themselves are tested against a real Gitea and
//! against servers that check GitLab's and GitHub's documented APIs).

use std::sync::Mutex;

use super::*;
use crate::forge::{Forge, ForgeKind};

#[derive(Default)]
struct Memory {
    pulls: Mutex<Vec<(String, String, PullRequest)>>,
    calls: Mutex<Vec<String>>,
    /// Fail this many creates with a 502 after storing the pull request.
    lost_creates: Mutex<u32>,
}

impl Memory {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn pull(&self, number: u64) -> PullRequest {
        self.pulls
            .lock()
            .unwrap()
            .iter()
            .find(|(_, _, p)| p.number == number)
            .map(|(_, _, p)| p.clone())
            .unwrap()
    }

    fn set_state(&self, number: u64, state: PullRequestState) {
        for (_, _, pull) in self.pulls.lock().unwrap().iter_mut() {
            if pull.number == number {
                pull.state = state;
            }
        }
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Forge for Memory {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitea
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        self.log(format!("find {head}->{base}"));
        Ok(self
            .pulls
            .lock()
            .unwrap()
            .iter()
            .find(|(h, b, p)| h == head && b == base && p.state == PullRequestState::Open)
            .map(|(_, _, p)| p.clone()))
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.log(format!("get {number}"));
        Ok(self.pull(number))
    }

    async fn create(&self, proposal: &Proposal) -> Result<PullRequest, ForgeError> {
        self.log(format!("create {}", proposal.title));
        let mut pulls = self.pulls.lock().unwrap();
        let pull = PullRequest {
            number: pulls.len() as u64 + 1,
            url: format!("https://forge/pulls/{}", pulls.len() + 1),
            title: proposal.title.clone(),
            body: proposal.body.clone(),
            state: PullRequestState::Open,
        };
        pulls.push((proposal.head.clone(), proposal.base.clone(), pull.clone()));
        let mut lost = self.lost_creates.lock().unwrap();
        if *lost > 0 {
            *lost -= 1;
            return Err(ForgeError::Status {
                forge: ForgeKind::Gitea,
                method: "POST",
                path: "/pulls".into(),
                status: 502,
                detail: None,
            });
        }
        Ok(pull)
    }

    async fn edit(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ForgeError> {
        self.log(format!("edit {number} {title}"));
        for (_, _, pull) in self.pulls.lock().unwrap().iter_mut() {
            if pull.number == number {
                pull.title = title.into();
                pull.body = body.into();
            }
        }
        Ok(self.pull(number))
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        self.log(format!("comment {number} {}", &text[..9]));
        Ok(())
    }

    async fn close(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.log(format!("close {number}"));
        self.set_state(number, PullRequestState::Closed);
        Ok(self.pull(number))
    }
}

fn proposal(title: &str) -> Proposal {
    Proposal {
        head: "tagpilot/apps".into(),
        base: "main".into(),
        title: title.into(),
        body: "apps/app.yaml: v1 → v2".into(),
    }
}

fn recorded(number: u64, commit: &str, state: RecordedState) -> Recorded {
    Recorded {
        number,
        commit: commit.into(),
        state,
    }
}

#[tokio::test]
async fn a_bump_opens_a_second_updates_and_no_need_closes() {
    let forge = Memory::default();
    let opened = propose(&forge, &proposal("Update app to v2"), "c1", true, None)
        .await
        .unwrap();
    assert_eq!(opened.action, Action::Opened);
    let number = opened.pull_request.unwrap().number;

    let same = propose(&forge, &proposal("Update app to v2"), "c1", false, None)
        .await
        .unwrap();
    assert_eq!(same.action, Action::Unchanged);

    let updated = propose(&forge, &proposal("Update app to v3"), "c2", true, None)
        .await
        .unwrap();
    assert_eq!(updated.action, Action::Updated);
    assert_eq!(updated.pull_request.as_ref().unwrap().number, number);
    assert_eq!(forge.pull(number).title, "Update app to v3");

    let closed = withdraw(&forge, "tagpilot/apps", "main", None)
        .await
        .unwrap();
    assert_eq!(closed.action, Action::Closed);
    assert_eq!(forge.pull(number).state, PullRequestState::Closed);
    assert_eq!(
        forge.calls(),
        [
            "find tagpilot/apps->main",
            "create Update app to v2",
            "find tagpilot/apps->main",
            "find tagpilot/apps->main",
            "edit 1 Update app to v3",
            "find tagpilot/apps->main",
            "comment 1 Closed by",
            "close 1",
        ]
    );
    let nothing = withdraw(&forge, "tagpilot/apps", "main", None)
        .await
        .unwrap();
    assert_eq!(nothing.action, Action::Nothing);
}

#[tokio::test]
async fn a_pull_request_a_person_closed_is_not_reopened_for_the_same_commit() {
    let forge = Memory::default();
    let opened = propose(&forge, &proposal("Update app to v2"), "c1", true, None)
        .await
        .unwrap();
    let number = opened.pull_request.unwrap().number;
    forge.set_state(number, PullRequestState::Closed);
    let open = recorded(number, "c1", RecordedState::Open);
    let declined = propose(
        &forge,
        &proposal("Update app to v2"),
        "c1",
        false,
        Some(&open),
    )
    .await
    .unwrap();
    assert_eq!(declined.action, Action::Declined);
    let again = propose(
        &forge,
        &proposal("Update app to v2"),
        "c1",
        false,
        Some(&recorded(number, "c1", RecordedState::Declined)),
    )
    .await
    .unwrap();
    assert_eq!(again.action, Action::Declined);
    // A different change is proposed afresh.
    let fresh = propose(
        &forge,
        &proposal("Update app to v3"),
        "c2",
        true,
        Some(&recorded(number, "c1", RecordedState::Declined)),
    )
    .await
    .unwrap();
    assert_eq!(fresh.action, Action::Opened);
    assert_ne!(fresh.pull_request.unwrap().number, number);
}

#[tokio::test]
async fn what_tagpilot_closed_itself_is_proposed_again_when_needed_again() {
    let forge = Memory::default();
    let number = propose(&forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap()
        .pull_request
        .unwrap()
        .number;
    withdraw(&forge, "tagpilot/apps", "main", None)
        .await
        .unwrap();
    // The policy goes back and forth: the branch still holds c1, unpushed.
    let again = propose(
        &forge,
        &proposal("v2"),
        "c1",
        false,
        Some(&recorded(number, "c1", RecordedState::Closed)),
    )
    .await
    .unwrap();
    assert_eq!(again.action, Action::Opened);
}

#[tokio::test]
async fn a_merge_is_noticed() {
    let forge = Memory::default();
    let number = propose(&forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap()
        .pull_request
        .unwrap()
        .number;
    forge.set_state(number, PullRequestState::Merged);
    let merged = withdraw(
        &forge,
        "tagpilot/apps",
        "main",
        Some(&recorded(number, "c1", RecordedState::Open)),
    )
    .await
    .unwrap();
    assert_eq!(merged.action, Action::Merged);
}

#[tokio::test]
async fn a_create_lost_in_transit_is_found_not_duplicated() {
    let forge = Memory::default();
    *forge.lost_creates.lock().unwrap() = 1;
    let opened = propose(&forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap();
    assert_eq!(opened.action, Action::Opened);
    assert_eq!(forge.pulls.lock().unwrap().len(), 1, "one pull request");
    assert_eq!(
        forge.calls(),
        [
            "find tagpilot/apps->main",
            "create v2",
            "find tagpilot/apps->main"
        ]
    );
}

#[test]
fn a_message_becomes_a_title_and_a_body() {
    assert_eq!(
        split_message("Update app to v2\n\napps/app.yaml: v1 → v2\n"),
        ("Update app to v2".into(), "apps/app.yaml: v1 → v2".into())
    );
    assert_eq!(
        split_message("one line"),
        ("one line".into(), String::new())
    );
    assert_eq!(
        split_message("\n\n"),
        ("Update images".into(), String::new())
    );
    let long = "x".repeat(300);
    let (title, _) = split_message(&long);
    assert_eq!(title.chars().count(), 250);
    assert!(title.ends_with('…'));
    let (_, body) = split_message(&format!("t\n\n{}", "y".repeat(70_000)));
    assert!(body.chars().count() < 61_000 && body.ends_with("holds the rest)"));
}
