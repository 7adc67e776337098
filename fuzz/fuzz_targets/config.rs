//! Fuzzes the config loader: YAML text into objects, each object into its
//! kind's hub type (schema check of its apiVersion, defaults, serde), and an
//! ImagePolicy on into a `Policy`.
//!
//! Properties: never panics; every error names the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::api::{
    GitRepositorySpec, ImagePolicySpec, ImageRepositorySpec, ImageUpdateAutomationSpec, SyncSpec,
};
use tagpilot_fuzz::config::load::{LoadError, read_objects};
use tagpilot_fuzz::policy::Policy;

const FILE: &str = "fuzz/config.yaml";

fn names_the_file(error: &LoadError) {
    let message = error.to_string();
    assert!(message.starts_with(FILE), "an error without the file: {message}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (objects, errors) = read_objects(Path::new(FILE), text);
    errors.iter().for_each(names_the_file);
    for object in objects {
        let result = match object.kind.as_str() {
            "ImagePolicy" => object.decode::<ImagePolicySpec>().map(|policy| {
                let _ = Policy::try_from(&policy);
            }),
            "ImageRepository" => object.decode::<ImageRepositorySpec>().map(drop),
            "GitRepository" => object.decode::<GitRepositorySpec>().map(drop),
            "ImageUpdateAutomation" => object.decode::<ImageUpdateAutomationSpec>().map(drop),
            "Sync" => object.decode::<SyncSpec>().map(drop),
            _ => Ok(()),
        };
        if let Err(error) = result {
            names_the_file(&error);
        }
    }
});
