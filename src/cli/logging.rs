//! Log setup: where log lines go (stderr), in which format, with or without
//! colour, and how text that comes from outside is made safe to print.
//!
//! Colour: `--color auto` (the default) colours log lines only when stderr is
//! a terminal and `NO_COLOR` is unset or empty; `always` and `never` force it
//! (an explicit flag wins over `NO_COLOR`, as no-color.org asks). A log file or
//! a pipe therefore never receives ANSI escapes unless asked for.
//!
//! Escaping: in text format every field value and every message is written
//! through [`escape_controls`], so a value from outside (a webhook's tag, a
//! registry's error text, a git hook's message) cannot end the line, forge
//! another one or drive the terminal: a newline becomes `\n`, ESC `\u{1b}`.
//! The JSON format escapes them as JSON does.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When log lines are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Only when stderr is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always, also into a file or a pipe.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether stderr is a terminal and the value of `NO_COLOR`.
    pub fn resolve(self, stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => stderr_is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// The log level of commands that run until stopped (`run` without `--once`,
/// `controller`): a person watching sees each scan that found new tags, each
/// policy change and each commit pushed.
pub const DAEMON_LEVEL: &str = "info";
/// The log level of one-shot commands: warnings and errors only (their results
/// are on stdout).
pub const COMMAND_LEVEL: &str = "warn";

/// Installs the global subscriber: `filter` (a tracing `EnvFilter`) on stderr,
/// in `format`, coloured as `color` says. An invalid filter is an error.
pub fn init(format: LogFormat, filter: &str, color: ColorChoice) -> Result<(), String> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    // Invariant 7: the AWS SDK's trace events print whole HTTP responses, including
    // ECR authorization tokens; they are dropped whatever the filter asks for.
    let no_sdk_bodies = tracing_subscriber::filter::filter_fn(|metadata| {
        !(*metadata.level() == tracing::Level::TRACE && metadata.target().starts_with("aws_smithy"))
    });
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = color.resolve(std::io::stderr().is_terminal(), no_color.as_deref());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Text => layer
            .fmt_fields(EscapedFields)
            .with_ansi(ansi)
            .with_filter(no_sdk_bodies)
            .boxed(),
        LogFormat::Json => layer
            .json()
            .with_ansi(false)
            .with_filter(no_sdk_bodies)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    Ok(())
}

/// `text` with every control character (C0, DEL, C1), and the Unicode line
/// separators and bidirectional overrides, written as an escape: `\n`, `\r`,
/// `\t`, else `\u{..}`. Printable text, non-ASCII included, is unchanged.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Formats the fields of events and spans like tracing's default text format
/// (`message key=value key="string"`), with every value escaped.
struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            seen: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    seen: bool,
    result: fmt::Result,
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // Metadata of `log` records, already shown as the line's target.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let text = format!("{value:?}");
        let text = escape_controls(&text);
        let separator = if self.seen { " " } else { "" };
        self.seen = true;
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = match (name, self.writer.has_ansi_escapes()) {
            ("message", _) => write!(self.writer, "{separator}{text}"),
            (name, true) => write!(
                self.writer,
                "{separator}\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{text}"
            ),
            (name, false) => write!(self.writer, "{separator}{name}={text}"),
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text_log(ansi: bool, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(EscapedFields)
            .with_ansi(ansi)
            .without_time()
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("v1.2.3"), "v1.2.3");
        assert_eq!(escape_controls("é✓"), "é✓");
        assert_eq!(
            escape_controls("a\nb\r\t\x1b[2J\x07\u{7f}\u{9b}\u{202e}"),
            "a\\nb\\r\\t\\u{1b}[2J\\u{7}\\u{7f}\\u{9b}\\u{202e}"
        );
    }

    #[test]
    fn colour_follows_the_flag_the_terminal_and_no_color() {
        use ColorChoice::*;
        assert!(Auto.resolve(true, None));
        assert!(Auto.resolve(true, Some("")));
        assert!(!Auto.resolve(true, Some("1")));
        assert!(!Auto.resolve(false, None));
        assert!(Always.resolve(false, Some("1")));
        assert!(!Never.resolve(true, None));
    }

    /// Regression (issue 17, finding 6): a webhook tag holding a newline and
    /// ANSI escapes forged a log line and cleared the terminal.
    #[test]
    fn fields_and_messages_from_outside_cannot_forge_a_line() {
        let tag = "1.0.0\n2030-01-01T00:00:00Z  INFO forged: pushed\x1b[2J";
        for ansi in [false, true] {
            let log = text_log(ansi, || {
                tracing::info!(repository = %"shop/api", tag = %tag, "webhook: scanning now");
                tracing::warn!(error = ?tag, "debug-formatted");
                tracing::warn!("message {tag}");
                let span = tracing::info_span!("scan", tag = %tag);
                let _entered = span.enter();
                tracing::info!("inside");
            });
            assert_eq!(log.lines().count(), 4, "{log}");
            let without_our_colours = log
                .replace("\x1b[3m", "")
                .replace("\x1b[2m", "")
                .replace("\x1b[0m", "");
            assert!(
                !without_our_colours.contains("\x1b[2J"),
                "raw escape in {log:?}"
            );
            assert!(
                log.contains("tag=1.0.0\\n2030-01-01T00:00:00Z  INFO forged: pushed\\u{1b}[2J")
                    || ansi,
                "{log}"
            );
        }
        let plain = text_log(false, || {
            tracing::info!(count = 3, "webhook: images pushed")
        });
        assert!(
            plain.ends_with("webhook: images pushed count=3\n"),
            "{plain}"
        );
    }
}
