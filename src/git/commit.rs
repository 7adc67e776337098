//! Making the automation's one commit: stage every change in the working tree
//! (additions, edits, deletions; `.gitignore` respected), and commit only if the
//! tree differs from the branch head (invariant 5), with the configured author
//! as author and committer, the rendered message, and optionally a signature.

use git2::{IndexAddOption, Signature};

use super::error::GitError;
use super::message::{MessageData, render_commit_message};
use super::signing::CommitSigner;
use super::spec::{CommitId, CommitSpec};
use super::workcopy::Checkout;

impl Checkout {
    /// Commits the working tree's changes on the checkout branch. Returns
    /// `None`, and makes no commit, when the tree equals the branch head.
    /// The message is [`render_commit_message`] of `spec.message_template`
    /// with `data`, committed as it is (a Flux template's text is not trimmed).
    pub fn commit(
        &mut self,
        spec: &CommitSpec,
        data: &MessageData,
    ) -> Result<Option<CommitId>, GitError> {
        let mut index = self
            .repo
            .index()
            .map_err(|source| self.local_error("reading the index", source))?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .and_then(|()| index.update_all(["*"], None))
            .and_then(|()| index.write())
            .map_err(|source| self.local_error("staging the changes", source))?;
        let tree_id = index
            .write_tree()
            .map_err(|source| self.local_error("writing the tree", source))?;
        let head_ref = format!("refs/heads/{}", self.branch);
        let parent = self
            .repo
            .find_reference(&head_ref)
            .and_then(|reference| reference.peel_to_commit())
            .map_err(|source| self.local_error("reading the branch head", source))?;
        if parent.tree_id() == tree_id {
            return Ok(None);
        }
        let message = render_commit_message(spec.message_template.as_ref(), data)?;
        let signer = spec
            .signing_key
            .as_ref()
            .map(|key| CommitSigner::new(key, self.transport.redacted_url()))
            .transpose()?;
        let signature = Signature::now(&spec.author.name, &spec.author.email).map_err(|_| {
            GitError::InvalidSpec {
                what: "commit author",
                value: format!("{} <{}>", spec.author.name, spec.author.email),
                reason: "a name and an email without <, > or newlines are required".to_string(),
            }
        })?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|source| self.local_error("reading the tree", source))?;
        let oid = match signer {
            None => self
                .repo
                .commit(
                    Some(&head_ref),
                    &signature,
                    &signature,
                    &message,
                    &tree,
                    &[&parent],
                )
                .map_err(|source| self.local_error("committing", source))?,
            Some(signer) => {
                let buffer = self
                    .repo
                    .commit_create_buffer(&signature, &signature, &message, &tree, &[&parent])
                    .map_err(|source| self.local_error("building the commit", source))?;
                let content = std::str::from_utf8(&buffer).map_err(|_| GitError::Signing {
                    url: self.transport.redacted_url().to_string(),
                    reason: "the commit is not UTF-8 text".to_string(),
                })?;
                let armored = signer.sign(content.as_bytes(), self.transport.redacted_url())?;
                let oid = self
                    .repo
                    .commit_signed(content, &armored, Some("gpgsig"))
                    .map_err(|source| self.local_error("writing the signed commit", source))?;
                self.repo
                    .reference(&head_ref, oid, true, "tagpilot: signed commit")
                    .map_err(|source| self.local_error("updating the branch", source))?;
                oid
            }
        };
        tracing::debug!(url = %self.transport.redacted_url(), branch = %self.branch, commit = %oid, "committed");
        Ok(Some(CommitId(oid)))
    }
}
