//! Writing data to stdout, in one style for every command.
//!
//! `-o json` output is one JSON document, pretty-printed with two-space
//! indentation and a final newline; keys are camelCase (like the CRD status
//! fields) and times are RFC 3339 strings in UTC (`2026-11-22T00:50:00Z`).
//! The README's "JSON output" section lists each command's fields.

use std::io::Write as _;

use anyhow::anyhow;
use serde::Serialize;

use super::{CommandError, CommandResult};

/// The text of `value` as every `-o json` prints it.
pub fn json_text<T: Serialize + ?Sized>(value: &T) -> Result<String, CommandError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CommandError::Failed(anyhow!("cannot encode the output as JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// Prints `value` as JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> CommandResult {
    print_text(&json_text(value)?)
}

/// Prints `text` on stdout as it is; a closed pipe or full disk is a failure.
pub fn print_text(text: &str) -> CommandResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CommandError::Failed(anyhow!("cannot write to stdout: {e}")))
}

/// Replaces every number under a key ending in `Time` (seconds since the
/// epoch, as the state files keep them) with its RFC 3339 text.
pub fn epoch_times_to_rfc3339(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key.ends_with("Time")
                    && let Some(seconds) = value.as_u64()
                {
                    *value = serde_json::Value::String(super::status::rfc3339(seconds));
                } else {
                    epoch_times_to_rfc3339(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(epoch_times_to_rfc3339),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_become_rfc3339_wherever_they_are() {
        let mut value = serde_json::json!({
            "repositories": {"shop/api": {"lastScanTime": 1_795_308_600u64, "tagCount": 3}},
            "syncs": [{"ready": {"lastTransitionTime": 0}}],
            "lastPushTime": null,
        });
        epoch_times_to_rfc3339(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "repositories": {"shop/api": {"lastScanTime": "2026-11-22T00:50:00Z", "tagCount": 3}},
                "syncs": [{"ready": {"lastTransitionTime": "1970-01-01T00:00:00Z"}}],
                "lastPushTime": null,
            })
        );
    }

    #[test]
    fn json_is_pretty_with_a_final_newline() {
        let text = json_text(&serde_json::json!({"a": [1]})).unwrap();
        assert_eq!(text, "{\n  \"a\": [\n    1\n  ]\n}\n");
    }
}
