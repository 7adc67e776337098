//! The config repository: clone/fetch a working copy, commit the update engine's
//! changes (author, message template, signing) and push with retry, never forcing
//! the checkout branch (invariants 5 and 6). Uses libgit2, off the async runtime.
//!
//! Data flow: [`GitWorkspace::prepare`] opens (or clones) the persistent working
//! copy of a [`RepoSpec`] at a [`CheckoutSpec`] reference (a branch, or a tag,
//! semver range, reference name or commit, whose commits go to a push branch)
//! and hard-resets it to what the reference points at → the caller rewrites
//! files under [`Checkout::path`] →
//! [`Checkout::commit`] makes one commit if the tree changed →
//! [`Checkout::push`] pushes it. [`run_automation`] does all of that, and on a
//! rejected push fetches, re-applies and pushes again with backoff.
//!
//! Transports: `ssh://` (identity and known_hosts from the Secret; no trust on
//! first use), `https://`/`http://` (basic auth or bearer token, optional CA),
//! `file://` and absolute paths; network ones within [`RepoSpec::timeout`]
//! and through [`RepoSpec::proxy`] when set. Commits are signed with OpenPGP
//! or SSH keys ([`SigningKey`]); push options go with every push. Secrets are wrapped in [`Secret`] and never
//! reach errors or logs (invariant 7). The template data is documented in
//! [`message`] (Handlebars, `tagpilot.dev` objects) and [`flux_message`]
//! (Go templates, Flux objects).

mod automation;
mod checkout_ref;
mod commit;
mod error;
mod flux_images;
pub mod flux_message;
mod flux_message_images;
#[cfg(test)]
mod flux_message_tests;
mod known_hosts;
pub mod message;
#[cfg(test)]
mod message_data_tests;
mod message_images;
mod openpgp;
mod origin_guard;
mod push;
mod signing;
mod spec;
mod transport;
mod url;
mod workcopy;

pub use crate::secret::Secret;
pub use automation::{AutomationOutcome, AutomationSpec, run_automation, run_automation_blocking};
pub use error::{ApplyError, GitError};
pub use flux_message::{
    DEFAULT_FLUX_MESSAGE, FluxMessageError, FluxTemplateVersion, render_flux_message,
    validate_flux_template,
};
pub use message::{
    AutomationRef, ChangeLine, ChangeSet, ImageAbout, ImageUpdate, MessageData,
    render_commit_message, render_message, validate_template,
};
pub use push::PushOutcome;
pub use signing::check_signing_key;
pub use spec::{
    Author, CheckoutSpec, CommitId, CommitSpec, Credentials, DEFAULT_TIMEOUT, GitReference,
    MessageTemplate, ProxyScheme, ProxySpec, PushSpec, RepoSpec, RetryPolicy, SigningKey,
};
pub use workcopy::{Checkout, DETACHED_BRANCH, GitWorkspace, MAX_PREPARED_AHEAD};
