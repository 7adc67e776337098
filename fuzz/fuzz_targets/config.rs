//! Fuzzes the config loader: YAML text into objects, then into the validated
//! kinds that need no registry or git types (ImagePolicy into a `Policy`,
//! GitRepository, ImageUpdateAutomation).
//!
//! Properties: never panics; every error names the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::config::automation::ImageUpdateAutomationObject;
use tagpilot_fuzz::config::image_policy::ImagePolicyObject;
use tagpilot_fuzz::config::load::{LoadError, parse_objects};
use tagpilot_fuzz::config::source::GitRepositoryObject;
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
    let objects = match parse_objects(Path::new(FILE), text) {
        Ok(objects) => objects,
        Err(errors) => {
            errors.iter().for_each(names_the_file);
            return;
        }
    };
    for object in objects {
        let _ = object.metadata.key();
        match object.kind.as_str() {
            "ImagePolicy" => match object.parse::<ImagePolicyObject>() {
                Ok(policy) => {
                    let _ = Policy::try_from(&policy);
                }
                Err(error) => names_the_file(&error),
            },
            "GitRepository" => {
                if let Err(error) = object.parse::<GitRepositoryObject>() {
                    names_the_file(&error);
                }
            }
            "ImageUpdateAutomation" => {
                if let Err(error) = object.parse::<ImageUpdateAutomationObject>() {
                    names_the_file(&error);
                }
            }
            _ => {}
        }
    }
});
